//! Tasks and tags as the database holds them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use utoipa::ToSchema;

use crate::{
    core::error::{ApiError, ErrorCode},
    models::{RecurrenceRule, TaskDescription, TaskTitle, UserId},
};

id!(
    /// A task's id.
    TaskId(i64),
    get
);
id!(
    /// A tag's id.
    TagId(i64),
    get
);

/// How important a task is. Stored as 0, 1, 2 so that the column sorts in importance order; a
/// stored number that is none of these is an error when read, never a default.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type,
)]
#[serde(rename_all = "lowercase")]
#[repr(i16)]
pub enum Priority {
    Low = 0,
    #[default]
    Medium = 1,
    High = 2,
}

impl Priority {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        match raw {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            _ => Err(ApiError::new(ErrorCode::InvalidPriority).with_field("priority")),
        }
    }
}

/// A tag as shown inside a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TagSummary {
    pub id: TagId,
    pub name: String,
    #[schema(example = "#FF8800", required = true)]
    pub color: Option<String>,
}

/// A row of `tasks` with its tags (aggregated by the query that loads it).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Task {
    pub id: TaskId,
    pub user_id: UserId,
    pub title: TaskTitle,
    pub description: Option<TaskDescription>,
    pub completed: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub priority: Priority,
    pub due_date: Option<DateTime<Utc>>,
    pub remind_at: Option<DateTime<Utc>>,
    pub recurrence_rule: Option<RecurrenceRule>,
    pub tags: Json<Vec<TagSummary>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the reminder was delivered; `None` while it is armed (or there is none).
    pub reminded_at: Option<DateTime<Utc>>,
    /// The next occurrence, once this recurring task has been completed.
    pub successor_id: Option<TaskId>,
    /// When the successor was created; set once, so there is never a second one.
    pub recurred_at: Option<DateTime<Utc>>,
    /// The due date of the recurring series' first occurrence (the rule's `DTSTART`); `None`
    /// when this task starts its series.
    pub recurrence_start: Option<DateTime<Utc>>,
}

/// Every writable column of a task, as it will be stored.
#[derive(Clone, Debug)]
pub struct TaskFields {
    pub title: TaskTitle,
    pub description: Option<TaskDescription>,
    pub completed: bool,
    pub priority: Priority,
    pub due_date: Option<DateTime<Utc>>,
    pub remind_at: Option<DateTime<Utc>>,
    pub recurrence_rule: Option<RecurrenceRule>,
}

impl From<&Task> for TaskFields {
    fn from(task: &Task) -> Self {
        Self {
            title: task.title.clone(),
            description: task.description.clone(),
            completed: task.completed,
            priority: task.priority,
            due_date: task.due_date,
            remind_at: task.remind_at,
            recurrence_rule: task.recurrence_rule.clone(),
        }
    }
}

/// A task's writable columns, and optionally its complete new tag set.
#[derive(Clone, Debug)]
pub struct TaskWrite {
    pub fields: TaskFields,
    pub tags: Option<Vec<TagId>>,
}

/// A row of `tags`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Tag {
    pub id: TagId,
    pub name: String,
    pub color: Option<String>,
    pub created_at: DateTime<Utc>,
}
