//! Rows as the database holds them, and newtypes for ids and validated values.
//!
//! A value of one of these types has passed its rule: code that holds an `Email` or a
//! `Password` never needs to check it again.

/// An id newtype over `$inner`, read back with `$get`; it serializes, binds and prints as the
/// inner value.
macro_rules! id {
    ($(#[$doc:meta])* $name:ident($inner:ident), $get:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize,
            serde::Deserialize, sqlx::Type, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        #[schema(value_type = $inner)]
        pub struct $name($inner);

        impl $name {
            pub fn $get(self) -> $inner {
                self.0
            }
        }

        impl From<$inner> for $name {
            fn from(id: $inner) -> Self {
                Self(id)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

/// `as_str`, and the stored text as a `String`, for newtypes over validated text.
macro_rules! text_value {
    ($($name:ident),*) => {$(
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    )*};
}

pub mod account;
pub mod category;
pub mod recurrence;
pub mod session;
pub mod task;
pub mod task_values;
pub mod user;

pub use account::{DisplayName, Email, Password, TimeZoneName};
pub use category::{Category, CategoryKind, CategoryName, Pick, PriorityId, StatusId};
pub use session::{Caller, RefreshSession};
pub use task::{Tag, TagId, TagSummary, Task, TaskFields, TaskId, TaskWrite};
pub use task_values::{
    RecurrenceRule, TagColor, TagName, TaskDescription, TaskTitle, parse_instant,
};
pub use user::{User, UserId};
