//! `/api/v1/users/{user_id}/changes`: delta sync from the change log.

use axum::{Json, Router, extract::State, routing::get};

use crate::{
    core::error::{ApiError, ErrorBody},
    routers::{
        extract::{ApiQuery, UserScope},
        state::AppState,
    },
    schemas::changes::{ChangesQuery, ChangesResponse},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/users/{user_id}/changes", get(list_changes))
}

/// The caller's changes since a cursor, for clients that sync.
///
/// Each change is `{"cursor", "type", "id", "data"}`: `type` is one of the event stream's
/// event names, `id` the task's or tag's id, and `data` the object as it is now (null for a
/// deletion). Within one answer a task or tag changed several times appears once, at its last
/// change (a reminder is kept apart: it is news, not state). Apply them in order: `*.created`,
/// `*.updated` and `reminder` put the object they carry in place (by `id`), `*.deleted`
/// removes it (a deletion of something never seen is nothing to do). A deleted tag is also gone from the tasks that carried
/// it, and a renamed one renamed on them: no `task.updated` is sent for those. Then ask again
/// with the answer's `cursor`, straight away while `has_more` is true.
///
/// To start: ask without `since` (the answer is the current cursor and no changes), then list
/// tasks and tags, then sync from that cursor. `since=0` replays every change kept. A cursor is
/// kept for `CHANGE_RETENTION_DAYS` (30 by default); asking with an older one answers 410
/// `CURSOR_EXPIRED`: list again and start over.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/changes", tag = "sync",
    params(ChangesQuery),
    responses(
        (status = 200, description = "The changes after `since`, oldest first.", body = ChangesResponse),
        (status = 400, description = "`INVALID_CURSOR` (`field`: `since`): not a cursor this API gave this user; `INVALID_PAGINATION` (`field`: `limit`).", body = ErrorBody),
        (status = 410, description = "`CURSOR_EXPIRED`: changes after `since` are no longer kept; list again.", body = ErrorBody),
    )
)]
pub async fn list_changes(
    State(state): State<AppState>,
    scope: UserScope,
    ApiQuery(query): ApiQuery<ChangesQuery>,
) -> Result<Json<ChangesResponse>, ApiError> {
    let changes = state
        .changes
        .changes(
            scope.caller(),
            query.since.as_deref(),
            query.limit.as_deref(),
        )
        .await?;
    Ok(Json(changes))
}
