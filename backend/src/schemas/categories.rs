//! Bodies of the status and priority routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Patch, WholeNumber, not_null, rfc3339_utc, rules};
use crate::models::Category;

/// A status's kind: tasks of a `done` status are completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    Open,
    Done,
}

/// One of the user's statuses.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    pub id: i64,
    #[schema(example = "in_progress")]
    pub name: String,
    #[schema(example = "#3366FF", required = true)]
    pub color: Option<String>,
    /// Display order, smallest first (ties by id); `sort=status` lists tasks in it.
    pub position: i32,
    pub kind: StatusKind,
    /// The default of its kind: where a new task (open) or a completed one (done) goes when no
    /// status is named.
    pub is_default: bool,
    #[serde(serialize_with = "rfc3339_utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_utc")]
    pub updated_at: DateTime<Utc>,
}

/// One of the user's priorities.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriorityResponse {
    pub id: i64,
    #[schema(example = "high")]
    pub name: String,
    #[schema(example = "#FF3300", required = true)]
    pub color: Option<String>,
    /// Rank, lowest first (ties by id); `sort=priority` lists tasks in it.
    pub position: i32,
    /// The priority a new task gets when none is named.
    pub is_default: bool,
    #[serde(serialize_with = "rfc3339_utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_utc")]
    pub updated_at: DateTime<Utc>,
}

impl From<Category> for StatusResponse {
    fn from(status: Category) -> Self {
        Self {
            id: status.id,
            name: status.name,
            color: status.color,
            position: status.position,
            kind: match status.done {
                Some(true) => StatusKind::Done,
                _ => StatusKind::Open,
            },
            is_default: status.is_default,
            created_at: status.created_at,
            updated_at: status.updated_at,
        }
    }
}

impl From<Category> for PriorityResponse {
    fn from(priority: Category) -> Self {
        Self {
            id: priority.id,
            name: priority.name,
            color: priority.color,
            position: priority.position,
            is_default: priority.is_default,
            created_at: priority.created_at,
            updated_at: priority.updated_at,
        }
    }
}

/// A status (it has a kind) or a priority as its routes answer it.
pub fn category_json(category: Category) -> serde_json::Value {
    let json = match category.done {
        Some(_) => serde_json::to_value(StatusResponse::from(category)),
        None => serde_json::to_value(PriorityResponse::from(category)),
    };
    json.unwrap_or_default()
}

/// `GET …/categories`: both lists, for a client's first screen.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoriesResponse {
    pub statuses: Vec<StatusResponse>,
    pub priorities: Vec<PriorityResponse>,
}

/// `POST …/statuses`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "waiting", "kind": "open", "color": "#FFAA00"}))]
pub struct CreateStatusRequest {
    #[schema(schema_with = rules::category_name)]
    pub name: String,
    #[schema(schema_with = rules::color)]
    pub color: Option<String>,
    /// `open` (the default) or `done`; it cannot change later.
    pub kind: Option<StatusKind>,
    /// Display order (0 to 10000); after the last one when absent.
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 10000)]
    pub position: Option<WholeNumber>,
    /// Make it the default of its kind (the previous default stops being it).
    pub is_default: Option<bool>,
}

/// `POST …/priorities`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "urgent", "position": 3, "color": "#FF0000"}))]
pub struct CreatePriorityRequest {
    #[schema(schema_with = rules::category_name)]
    pub name: String,
    #[schema(schema_with = rules::color)]
    pub color: Option<String>,
    /// Rank (0 to 10000); above the highest when absent.
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 10000)]
    pub position: Option<WholeNumber>,
    /// Make it the default for new tasks (the previous default stops being it).
    pub is_default: Option<bool>,
}

/// `PATCH …/statuses/{status_id}` and `…/priorities/{priority_id}`: only the fields present
/// change; `"color": null` clears it. A status's kind cannot change. `is_default` can only be
/// set (`true`): a default stops being one when another is made the default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "doing", "position": 1}))]
pub struct UpdateCategoryRequest {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(schema_with = rules::category_name)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = rules::color)]
    pub color: Patch<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = i32, minimum = 0, maximum = 10000)]
    pub position: Option<WholeNumber>,
    /// Only `true`: makes it the default.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(schema_with = rules::only_true)]
    pub is_default: Option<bool>,
}

/// `DELETE …/statuses/{status_id}` and `…/priorities/{priority_id}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteCategoryQuery {
    /// The id of another of the caller's statuses (of the same kind) or priorities, which the
    /// tasks that use this one move to, in the same transaction.
    #[param(value_type = Option<i64>)]
    pub replace_with: Option<String>,
}
