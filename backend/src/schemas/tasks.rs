//! Bodies of the task routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{
    IntoParams, ToSchema,
    openapi::{
        Object, Required,
        path::{Parameter, ParameterBuilder, ParameterIn},
    },
};

use super::{
    Patch, WholeNumber, not_null, rfc3339_utc, rfc3339_utc_opt, rules, whole_numbers,
    whole_numbers_patch,
};
use crate::models::{TagSummary, Task, TaskId, UserId};

/// A task with its tags.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskResponse {
    pub id: TaskId,
    pub user_id: UserId,
    pub title: String,
    #[schema(required = true)]
    pub description: Option<String>,
    /// True exactly when the task's status is of kind `done`.
    pub completed: bool,
    #[serde(serialize_with = "rfc3339_utc_opt")]
    #[schema(required = true)]
    pub completed_at: Option<DateTime<Utc>>,
    /// The name of one of the user's statuses (see `GET …/statuses`).
    #[schema(example = "in_progress")]
    pub status: String,
    /// The name of one of the user's priorities (see `GET …/priorities`).
    #[schema(example = "high")]
    pub priority: String,
    /// The task's place in the manual order (`sort=position`): smaller comes first. An opaque
    /// number: compare it, do not compute with it (new tasks go to the top).
    pub position: i64,
    /// The recurring series the task belongs to: the id of its first task; null for a task
    /// that never recurred.
    #[schema(value_type = Option<i64>, required = true)]
    pub series_id: Option<TaskId>,
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
            status: task.status,
            priority: task.priority,
            position: task.position,
            series_id: task.series_id,
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
#[schema(example = json!({
    "title": "Water the plants",
    "description": "The ones on the balcony too.",
    "priority": "high",
    "due_date": "2030-05-01T09:00:00Z",
    "remind_at": "2030-05-01T08:30:00Z",
    "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,WE",
    "completed": false,
    "tag_ids": []
}))]
pub struct CreateTaskRequest {
    #[schema(schema_with = rules::title)]
    pub title: String,
    #[schema(schema_with = rules::description)]
    pub description: Option<String>,
    /// The name of one of the user's priorities (exactly); the default one
    /// (`medium` for a new account) when absent or `null`.
    #[schema(example = "high")]
    pub priority: Option<String>,
    /// The name of one of the user's statuses (exactly); it decides `completed`.
    /// Absent or `null`: the default status of the kind `completed` says.
    #[schema(example = "in_progress")]
    pub status: Option<String>,
    #[schema(schema_with = rules::due_date)]
    pub due_date: Option<String>,
    #[schema(schema_with = rules::remind_at)]
    pub remind_at: Option<String>,
    #[schema(schema_with = rules::recurrence_rule)]
    pub recurrence_rule: Option<String>,
    /// `null`: false.
    pub completed: Option<bool>,
    #[serde(default, deserialize_with = "whole_numbers")]
    #[schema(schema_with = rules::tag_ids)]
    pub tag_ids: Option<Vec<i64>>,
}

/// `PUT …/tasks/{task_id}`: replaces the task. `title`, `priority` and `completed` are
/// required; omitted optional fields become null, and omitted `tag_ids` removes every tag.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Water the plants",
    "priority": "medium",
    "completed": false,
    "description": null,
    "due_date": "2030-05-02T09:00:00Z",
    "remind_at": null,
    "recurrence_rule": null,
    "tag_ids": []
}))]
pub struct ReplaceTaskRequest {
    #[schema(schema_with = rules::title)]
    pub title: String,
    /// The name of one of the user's priorities.
    #[schema(example = "medium")]
    pub priority: String,
    pub completed: bool,
    /// The name of one of the user's statuses (it must be of the kind `completed` says).
    /// Absent or `null`: the task keeps its status if that is of the right kind, else it gets
    /// the default one of that kind.
    #[schema(example = "not_started")]
    pub status: Option<String>,
    #[schema(schema_with = rules::description)]
    pub description: Option<String>,
    #[schema(schema_with = rules::due_date)]
    pub due_date: Option<String>,
    #[schema(schema_with = rules::remind_at)]
    pub remind_at: Option<String>,
    #[schema(schema_with = rules::recurrence_rule)]
    pub recurrence_rule: Option<String>,
    #[serde(default, deserialize_with = "whole_numbers")]
    #[schema(schema_with = rules::tag_ids)]
    pub tag_ids: Option<Vec<i64>>,
}

/// `PATCH …/tasks/{task_id}`: only the fields present change; `null` clears a nullable field
/// (`tag_ids: null` removes every tag). `title`, `priority`, `status` and `completed` cannot be
/// cleared:
/// `null` there is a 422 `VALIDATION_ERROR` naming the field.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"priority": "low", "due_date": "2030-05-03T09:00:00Z"}))]
pub struct UpdateTaskRequest {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(schema_with = rules::title)]
    pub title: Option<String>,
    #[serde(default)]
    #[schema(schema_with = rules::description)]
    pub description: Patch<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = String, example = "low")]
    pub priority: Option<String>,
    /// A status's name; moves `completed` with it.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = String, example = "in_progress")]
    pub status: Option<String>,
    #[serde(default)]
    #[schema(schema_with = rules::due_date)]
    pub due_date: Patch<String>,
    #[serde(default)]
    #[schema(schema_with = rules::remind_at)]
    pub remind_at: Patch<String>,
    #[serde(default)]
    #[schema(schema_with = rules::recurrence_rule)]
    pub recurrence_rule: Patch<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = bool)]
    pub completed: Option<bool>,
    #[serde(default, deserialize_with = "whole_numbers_patch")]
    #[schema(schema_with = rules::tag_ids)]
    pub tag_ids: Patch<Vec<i64>>,
}

/// Query parameters of `GET …/tasks`, combined with AND. Read as text and checked by the
/// service, so that each bad value gets its own error code; typed in the document (below).
#[derive(Debug, Default, Deserialize)]
pub struct ListTasksQuery {
    pub page: Option<String>,
    pub limit: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub tag: Option<String>,
    pub q: Option<String>,
    pub due_before: Option<String>,
    pub due_after: Option<String>,
    pub overdue: Option<String>,
    pub sort: Option<String>,
}

/// Written by hand: the derive drops a parameter's description when its schema is given.
impl IntoParams for ListTasksQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let params: [(&str, &str, Object); 10] = [
            (
                "page",
                "Page number, from 1 (default 1).",
                rules::positive_integer(),
            ),
            (
                "limit",
                "Page size, at least 1 (default 20); values above 100 are served as 100.",
                rules::positive_integer(),
            ),
            (
                "status",
                "`all` (default), `pending` (any open status), `completed` (any done status) or \
                 the name of one of the caller's statuses (exactly).",
                rules::task_status(),
            ),
            (
                "priority",
                "The name of one of the caller's priorities (exactly).",
                rules::priority_filter(),
            ),
            (
                "tag",
                "A tag id or a tag name of the caller's; an unknown tag gives an empty page.",
                rules::query_text(),
            ),
            (
                "q",
                "Case-insensitive substring of title or description; `%`, `_` and `\\` match \
                 literally.",
                rules::query_text(),
            ),
            (
                "due_before",
                "Tasks due at or before this time.",
                rules::query_date_time(),
            ),
            (
                "due_after",
                "Tasks due at or after this time.",
                rules::query_date_time(),
            ),
            (
                "overdue",
                "`true`: due in the past and not completed.",
                rules::boolean(),
            ),
            (
                "sort",
                "`due_date`, `priority` (the priorities' rank), `status` (the statuses' order), \
                 `position` (the manual order), `created_at`, `updated_at` or `title`; prefix `-` \
                 for descending (default `-created_at`). Ties break by id.",
                rules::task_sort(),
            ),
        ];
        params
            .into_iter()
            .map(|(name, description, schema)| {
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Query)
                    .description(Some(description))
                    .required(Required::False)
                    .schema(Some(schema))
                    .build()
            })
            .collect()
    }
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

/// Where `POST …/tasks/{task_id}/move` puts the task: exactly one of `before`, `after` (another
/// of the caller's tasks) or `to`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"before": 42}))]
pub struct MoveTaskRequest {
    /// Right above this task.
    #[schema(value_type = Option<i64>)]
    pub before: Option<WholeNumber>,
    /// Right below this task.
    #[schema(value_type = Option<i64>)]
    pub after: Option<WholeNumber>,
    /// `top` or `bottom` of the whole list.
    pub to: Option<MoveTo>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MoveTo {
    Top,
    Bottom,
}

/// `POST …/tasks/reorder`: these tasks, in this order (each once, 1 to 1000 of them).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"task_ids": [42, 17, 23]}))]
pub struct ReorderTasksRequest {
    #[serde(deserialize_with = "whole_numbers")]
    #[schema(value_type = Vec<i64>, min_items = 1, max_items = 1000)]
    pub task_ids: Option<Vec<i64>>,
}

/// `GET …/tasks/{task_id}/occurrences`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OccurrencesQuery {
    /// Occurrences strictly after this RFC 3339 time (default: now).
    #[param(value_type = Option<String>, format = DateTime)]
    pub after: Option<String>,
    /// How many, at least 1 (default 10); values above 100 are served as 100.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub limit: Option<String>,
}

/// The next occurrences of a task's rule, computed (nothing is written).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"occurrences": ["2030-05-06T09:00:00.000000Z", "2030-05-08T09:00:00.000000Z"]}))]
pub struct OccurrencesResponse {
    /// RFC 3339 times in UTC, soonest first.
    pub occurrences: Vec<String>,
}

/// `?scope=` of `DELETE …/tasks/{task_id}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteScopeQuery {
    /// `series` deletes every task of the task's series, completed ones included. Absent: the
    /// task alone.
    #[param(schema_with = rules::delete_scope)]
    pub scope: Option<String>,
}

/// `?scope=` of `PATCH …/tasks/{task_id}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatchScopeQuery {
    /// `following` changes this occurrence and every later one of its series. Absent: the task
    /// alone.
    #[param(schema_with = rules::patch_scope)]
    pub scope: Option<String>,
}
