//! `/api/v1/users/{user_id}/reminders`: due reminders, for clients that poll.

use axum::{Json, Router, extract::State, routing::get};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    core::error::{ApiError, ErrorBody},
    routers::{
        extract::{ApiQuery, UserScope},
        state::AppState,
    },
    schemas::tasks::TaskResponse,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/users/{user_id}/reminders", get(list_reminders))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemindersQuery {
    /// RFC 3339 time (with an offset or `Z`); default now.
    #[param(value_type = Option<String>, format = DateTime, example = "2030-05-01T09:00:00Z")]
    pub before: Option<String>,
}

/// The caller's open tasks whose reminder time has come.
///
/// Not-completed tasks whose `remind_at` is at or before `before` (default: now), soonest
/// first, as a JSON array of tasks. `reminded_at` says whether (and when) the reminder was
/// delivered on the event stream.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/reminders", tag = "tasks",
    params(RemindersQuery),
    responses(
        (status = 200, description = "The tasks, soonest reminder first.", body = Vec<TaskResponse>),
        (status = 400, description = "`INVALID_DUE_DATE` (`field`: `before`).", body = ErrorBody),
    )
)]
pub async fn list_reminders(
    State(state): State<AppState>,
    scope: UserScope,
    ApiQuery(query): ApiQuery<RemindersQuery>,
) -> Result<Json<Vec<TaskResponse>>, ApiError> {
    let tasks = state
        .reminders
        .list_reminders(scope.caller(), query.before.as_deref())
        .await?;
    Ok(Json(tasks.into_iter().map(TaskResponse::from).collect()))
}
