//! Bodies of the task routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Patch, rfc3339_utc, rfc3339_utc_opt};
use crate::models::{Priority, TagSummary, Task, TaskId, UserId};

/// A task with its tags.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskResponse {
    pub id: TaskId,
    pub user_id: UserId,
    pub title: String,
    #[schema(required = true)]
    pub description: Option<String>,
    pub completed: bool,
    #[serde(serialize_with = "rfc3339_utc_opt")]
    #[schema(required = true)]
    pub completed_at: Option<DateTime<Utc>>,
    pub priority: Priority,
    #[serde(serialize_with = "rfc3339_utc_opt")]
    #[schema(required = true)]
    pub due_date: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339_utc_opt")]
    #[schema(required = true)]
    pub remind_at: Option<DateTime<Utc>>,
    #[schema(example = "FREQ=WEEKLY;BYDAY=MO,WE", required = true)]
    pub recurrence_rule: Option<String>,
    /// The task's tags, ordered by name.
    pub tags: Vec<TagSummary>,
    #[serde(serialize_with = "rfc3339_utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_utc")]
    pub updated_at: DateTime<Utc>,
    /// When the reminder at `remind_at` was delivered on the event stream; null while it is
    /// pending (changing `remind_at` re-arms it).
    #[serde(serialize_with = "rfc3339_utc_opt")]
    #[schema(required = true)]
    pub reminded_at: Option<DateTime<Utc>>,
    /// The id of the next occurrence, created when this recurring task was completed; null
    /// otherwise (and after that task is deleted).
    #[schema(value_type = Option<i64>, required = true)]
    pub successor_id: Option<TaskId>,
}

impl From<Task> for TaskResponse {
    fn from(task: Task) -> Self {
        Self {
            id: task.id,
            user_id: task.user_id,
            title: task.title.into(),
            description: task.description.map(String::from),
            completed: task.completed,
            completed_at: task.completed_at,
            priority: task.priority,
            due_date: task.due_date,
            remind_at: task.remind_at,
            recurrence_rule: task.recurrence_rule.map(String::from),
            tags: task.tags.0,
            created_at: task.created_at,
            updated_at: task.updated_at,
            reminded_at: task.reminded_at,
            successor_id: task.successor_id,
        }
    }
}

/// `POST …/tasks`. Times are RFC 3339 with an offset or `Z`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskRequest {
    /// 1–200 characters after trimming.
    #[schema(example = "Water the plants")]
    pub title: String,
    /// At most 1000 characters.
    pub description: Option<String>,
    /// `low`, `medium` (default) or `high`.
    #[schema(value_type = Option<Priority>, example = "high")]
    pub priority: Option<String>,
    #[schema(format = DateTime, example = "2030-05-01T09:00:00Z")]
    pub due_date: Option<String>,
    #[schema(format = DateTime)]
    pub remind_at: Option<String>,
    /// An RFC 5545 RRULE such as `FREQ=WEEKLY;BYDAY=MO,WE`.
    pub recurrence_rule: Option<String>,
    pub completed: Option<bool>,
    /// Ids of the caller's tags to attach.
    pub tag_ids: Option<Vec<i64>>,
}

/// `PUT …/tasks/{task_id}`: replaces the task. `title`, `priority` and `completed` are
/// required; omitted optional fields become null, and omitted `tag_ids` removes every tag.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceTaskRequest {
    pub title: String,
    #[schema(value_type = Priority)]
    pub priority: String,
    pub completed: bool,
    pub description: Option<String>,
    #[schema(format = DateTime)]
    pub due_date: Option<String>,
    #[schema(format = DateTime)]
    pub remind_at: Option<String>,
    pub recurrence_rule: Option<String>,
    pub tag_ids: Option<Vec<i64>>,
}

/// `PATCH …/tasks/{task_id}`: only the fields present change; `null` clears a nullable field
/// (`tag_ids: null` removes every tag).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub title: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub priority: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub due_date: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub remind_at: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub recurrence_rule: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub completed: Patch<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<i64>>)]
    pub tag_ids: Patch<Vec<i64>>,
}

/// Query parameters of `GET …/tasks`, combined with AND. Values are checked by the service so
/// that each bad value gets its own error code.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTasksQuery {
    /// Page number, from 1 (default 1).
    pub page: Option<String>,
    /// Page size, at least 1 (default 20); values above 100 are served as 100.
    pub limit: Option<String>,
    /// `all` (default), `pending` or `completed`.
    pub status: Option<String>,
    /// `low`, `medium` or `high`.
    pub priority: Option<String>,
    /// A tag id or a tag name of the caller's; an unknown tag gives an empty page.
    pub tag: Option<String>,
    /// Case-insensitive substring of title or description; `%`, `_` and `\` match literally.
    pub q: Option<String>,
    /// RFC 3339; tasks due at or before this time.
    pub due_before: Option<String>,
    /// RFC 3339; tasks due at or after this time.
    pub due_after: Option<String>,
    /// `true`: due in the past and not completed.
    pub overdue: Option<String>,
    /// `due_date`, `priority`, `created_at` (default `-created_at`), `updated_at` or `title`;
    /// prefix `-` for descending.
    pub sort: Option<String>,
}

/// One page of tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<TaskResponse>,
    pub total: i64,
    pub page: i64,
    pub limit: i64,
    /// 0 when `total` is 0.
    pub pages: i64,
}
