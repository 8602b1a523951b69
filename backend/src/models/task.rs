//! Tasks and tags as the database holds them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use utoipa::ToSchema;

use crate::models::{
    Pick, PriorityId, RecurrenceRule, StatusId, TaskDescription, TaskTitle, UserId,
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
    pub status_id: StatusId,
    /// The status's name (read with the task).
    pub status: String,
    pub priority_id: PriorityId,
    /// The priority's name (read with the task).
    pub priority: String,
    /// The task's place in the manual order: smaller first.
    pub position: i64,
    /// The recurring series' first task: this task's own id when it starts one, `None` when it
    /// is in no series.
    pub series_id: Option<TaskId>,
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

/// Every writable column of a task, as it will be stored. `completed` is the kind of the
/// status: with [`Pick::Default`] the status is the user's default of that kind, and a status
/// picked by id or name must be of that kind (a name given on create decides it; see
/// [`crate::db::NewTask`]).
#[derive(Clone, Debug)]
pub struct TaskFields {
    pub title: TaskTitle,
    pub description: Option<TaskDescription>,
    pub completed: bool,
    pub status: Pick<StatusId>,
    pub priority: Pick<PriorityId>,
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
            status: Pick::Id(task.status_id),
            priority: Pick::Id(task.priority_id),
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
    /// On create: whether `completed` was given. When it was not and a status is named, the
    /// status's kind decides it; when it was, the two must agree.
    pub completed_given: bool,
}

/// A row of `tags`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Tag {
    pub id: TagId,
    pub name: String,
    pub color: Option<String>,
    pub created_at: DateTime<Utc>,
}
