//! Rows as the database holds them, and newtypes for ids and validated values.
//!
//! A value of one of these types has passed its rule: code that holds an `Email` or a
//! `Password` never needs to check it again.

pub mod account;
pub mod recurrence;
pub mod session;
pub mod task;
pub mod task_values;
pub mod user;

pub use account::{DisplayName, Email, Password, TimeZoneName};
pub use session::{Caller, RefreshSession};
pub use task::{Priority, Tag, TagId, TagSummary, Task, TaskFields, TaskId, TaskWrite};
pub use task_values::{
    RecurrenceRule, TagColor, TagName, TaskDescription, TaskTitle, parse_instant,
};
pub use user::{User, UserId};
