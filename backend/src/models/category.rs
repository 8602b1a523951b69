//! A user's own statuses and priorities: what a task refers to by id, and shows by name.

use chrono::{DateTime, Utc};

use crate::{
    core::error::{ApiError, ErrorCode},
    models::task_values::reject_nul,
};

const MAX_NAME_CHARS: usize = 50;

id!(
    /// A status's id.
    StatusId(i64),
    get
);
id!(
    /// A priority's id.
    PriorityId(i64),
    get
);

/// Which of the two lists a status or priority belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CategoryKind {
    Status,
    Priority,
}

impl CategoryKind {
    /// The error code of a name that is not one of the user's.
    pub fn invalid(self, field: &'static str) -> ApiError {
        let code = match self {
            Self::Status => ErrorCode::InvalidStatus,
            Self::Priority => ErrorCode::InvalidPriority,
        };
        ApiError::new(code)
            .with_detail(match self {
                Self::Status => "There is no status of this name; see GET …/statuses.",
                Self::Priority => "There is no priority of this name; see GET …/priorities.",
            })
            .with_field(field)
    }
}

/// A row of `statuses` or `priorities` (`done` is `None` for a priority).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub color: Option<String>,
    pub position: i32,
    pub done: Option<bool>,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A status or priority name: trimmed, 1 to 50 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryName(String);

impl CategoryName {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        reject_nul(raw, "name")?;
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::validation(
                "name",
                "The name must be 1 to 50 characters long and not only whitespace.",
            ));
        }
        Ok(Self(name.to_owned()))
    }
}

text_value!(CategoryName);

/// Which status or priority a task write gives a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick<I> {
    /// This one (the user's; checked in the write's transaction).
    Id(I),
    /// The one of this name, exactly (creates only: resolved in the insert itself).
    Named(String),
    /// The default one: for a status, the default of the kind the task's `completed` says.
    Default,
}

impl<I: Copy> Pick<I> {
    pub fn id(&self) -> Option<I> {
        match self {
            Self::Id(id) => Some(*id),
            _ => None,
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Named(name) => Some(name),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(CategoryName::parse(" urgent ").unwrap().as_str(), "urgent");
        assert!(CategoryName::parse(&"n".repeat(50)).is_ok());
        for bad in ["", "   ", &"n".repeat(51), "a\0b"] {
            assert!(CategoryName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
