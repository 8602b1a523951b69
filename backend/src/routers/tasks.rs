//! `/api/v1/users/{user_id}/tasks`: the caller's tasks, their completion and their tags.

use chrono::SecondsFormat;

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::{get, patch, post},
};

use crate::{
    core::error::{ApiError, ErrorBody},
    routers::{
        extract::{ApiJson, ApiQuery, TagIdPath, TaskIdPath, UserScope},
        state::AppState,
    },
    schemas::tasks::{
        CreateTaskRequest, DeleteScopeQuery, ListTasksQuery, MoveTaskRequest, OccurrencesQuery,
        OccurrencesResponse, PatchScopeQuery, ReorderTasksRequest, ReplaceTaskRequest, TaskPage,
        TaskResponse, UpdateTaskRequest,
    },
    services::tasks::{ListParams, TaskList},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/{user_id}/tasks", get(list_tasks).post(create_task))
        .route(
            "/users/{user_id}/tasks/{task_id}",
            get(get_task)
                .put(replace_task)
                .patch(update_task)
                .delete(delete_task),
        )
        .route(
            "/users/{user_id}/tasks/{task_id}/complete",
            patch(toggle_task),
        )
        .route("/users/{user_id}/tasks/reorder", post(reorder_tasks))
        .route("/users/{user_id}/tasks/{task_id}/move", post(move_task))
        .route(
            "/users/{user_id}/tasks/{task_id}/occurrences",
            get(list_occurrences),
        )
        .route("/users/{user_id}/tasks/{task_id}/skip", post(skip_task))
        .route(
            "/users/{user_id}/tasks/{task_id}/stop-recurring",
            post(stop_recurring),
        )
        .route(
            "/users/{user_id}/tasks/{task_id}/tags/{tag_id}",
            post(link_tag).delete(unlink_tag),
        )
}

/// Create a task, optionally with tags.
#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/tasks", tag = "tasks",
    request_body = CreateTaskRequest,
    responses(
        (status = 201, description = "Created; `Location` names the new task.", body = TaskResponse),
        (status = 400, description = "`INVALID_TITLE`, `DESCRIPTION_TOO_LONG`, `INVALID_STATUS` (not the name of one of the caller's, or its kind contradicts `completed`), `INVALID_PRIORITY` (not the name of one of the caller's), `INVALID_DUE_DATE`, `INVALID_REMIND_AT`, `INVALID_RRULE`.", body = ErrorBody),
        (status = 404, description = "`TAG_NOT_FOUND`: a `tag_ids` entry is not one of the caller's tags; nothing is written.", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`: a body that is not the document's.", body = ErrorBody),
    )
)]
pub async fn create_task(
    State(state): State<AppState>,
    scope: UserScope,
    ApiJson(body): ApiJson<CreateTaskRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let task = state.tasks.create_task(scope.caller(), body).await?;
    let location = format!("/api/v1/users/{}/tasks/{}", scope.user_id(), task.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(TaskResponse::from(task)),
    ))
}

/// List tasks: filters combine with AND; pages never repeat or skip a task.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/tasks", tag = "tasks",
    params(ListTasksQuery),
    responses(
        (status = 200, description = "One page: `{items, total, page, limit, pages}`.", body = TaskPage),
        (status = 400, description = "`INVALID_PAGINATION`, `INVALID_STATUS`, `INVALID_PRIORITY` (a name that is none of the caller's), `INVALID_SORT_FIELD`, `INVALID_DUE_DATE` (a bad `due_before`/`due_after`).", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR` (e.g. `overdue` not true/false).", body = ErrorBody),
    )
)]
pub async fn list_tasks(
    State(state): State<AppState>,
    scope: UserScope,
    ApiQuery(query): ApiQuery<ListTasksQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    let params = ListParams::parse(query)?;
    let TaskList { tasks, total } = state.tasks.list_tasks(scope.caller(), &params).await?;
    Ok(Json(TaskPage {
        items: tasks.into_iter().map(TaskResponse::from).collect(),
        total,
        page: params.page,
        limit: params.limit,
        pages: (total + params.limit - 1) / params.limit,
    }))
}

/// One task with its tags.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/tasks/{task_id}", tag = "tasks",
    responses(
        (status = 200, description = "The task.", body = TaskResponse),
        (status = 404, description = "`TASK_NOT_FOUND`: no such task, or not the caller's.", body = ErrorBody),
    )
)]
pub async fn get_task(
    State(state): State<AppState>,
    scope: UserScope,
    TaskIdPath(id): TaskIdPath,
) -> Result<Json<TaskResponse>, ApiError> {
    let task = state.tasks.find_task(scope.caller(), id).await?;
    Ok(Json(task.into()))
}

/// Replace a task: `title`, `priority` and `completed` are required; omitted optional fields
/// become null and omitted `tag_ids` removes every tag.
#[utoipa::path(
    put, path = "/api/v1/users/{user_id}/tasks/{task_id}", tag = "tasks",
    request_body = ReplaceTaskRequest,
    responses(
        (status = 200, description = "The replaced task.", body = TaskResponse),
        (status = 400, description = "A validation code, as for create.", body = ErrorBody),
        (status = 404, description = "`TASK_NOT_FOUND`, `TAG_NOT_FOUND`.", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`: a required field is missing.", body = ErrorBody),
    )
)]
pub async fn replace_task(
    State(state): State<AppState>,
    scope: UserScope,
    TaskIdPath(id): TaskIdPath,
    ApiJson(body): ApiJson<ReplaceTaskRequest>,
) -> Result<Json<TaskResponse>, ApiError> {
    let task = state.tasks.replace_task(scope.caller(), id, body).await?;
    Ok(Json(task.into()))
}

/// Change only the fields present; an explicit `null` clears a nullable field. With
/// `scope=following`, a recurring task's later occurrences take the change too (all but the due
/// date, reminder, completion and status, which stay each occurrence's own).
#[utoipa::path(
    patch, path = "/api/v1/users/{user_id}/tasks/{task_id}", tag = "tasks",
    params(PatchScopeQuery),
    request_body = UpdateTaskRequest,
    responses(
        (status = 200, description = "The updated task.", body = TaskResponse),
        (status = 400, description = "A validation code, as for create.", body = ErrorBody),
        (status = 404, description = "`TASK_NOT_FOUND`, `TAG_NOT_FOUND`.", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`: `null` for a field that cannot be cleared, an unknown `scope`.", body = ErrorBody),
    )
)]
pub async fn update_task(
    State(state): State<AppState>,
    scope: UserScope,
    TaskIdPath(id): TaskIdPath,
    ApiQuery(query): ApiQuery<PatchScopeQuery>,
    ApiJson(body): ApiJson<UpdateTaskRequest>,
) -> Result<Json<TaskResponse>, ApiError> {
    let task = state
        .tasks
        .update_task(scope.caller(), id, body, query)
        .await?;
    Ok(Json(task.into()))
}

/// Toggle completion (`completed_at` follows).
#[utoipa::path(
    patch, path = "/api/v1/users/{user_id}/tasks/{task_id}/complete", tag = "tasks",
    responses(
        (status = 200, description = "The task after the toggle.", body = TaskResponse),
        (status = 404, description = "`TASK_NOT_FOUND`.", body = ErrorBody),
    )
)]
pub async fn toggle_task(
    State(state): State<AppState>,
    scope: UserScope,
    TaskIdPath(id): TaskIdPath,
) -> Result<Json<TaskResponse>, ApiError> {
    let task = state.tasks.toggle_task(scope.caller(), id).await?;
    Ok(Json(task.into()))
}

/// Delete a task (its tag links go, its tags stay); with `scope=series`, every task of its
/// recurring series, completed ones included.
#[utoipa::path(
    delete, path = "/api/v1/users/{user_id}/tasks/{task_id}", tag = "tasks",
    params(DeleteScopeQuery),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`TASK_NOT_FOUND`.", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`: an unknown `scope`.", body = ErrorBody),
    )
)]
pub async fn delete_task(
    State(state): State<AppState>,
    scope: UserScope,
    TaskIdPath(id): TaskIdPath,
    ApiQuery(query): ApiQuery<DeleteScopeQuery>,
) -> Result<StatusCode, ApiError> {
    state.tasks.delete_task(scope.caller(), id, query).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Place one task in the manual order: right above `before`, right below `after`, or at the
/// `top` or `bottom`. Only this task's row is written.
#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/tasks/{task_id}/move", tag = "tasks",
    request_body = MoveTaskRequest,
    responses(
        (status = 200, description = "The task in its new place (see `position`).", body = TaskResponse),
        (status = 400, description = "`INVALID_TASK_ORDER`: not exactly one of `before`, `after`, `to`, or placed next to itself.", body = ErrorBody),
        (status = 404, description = "`TASK_NOT_FOUND`: the task, or the one named, is not the caller's.", body = ErrorBody),
    )
)]
pub async fn move_task(
    State(state): State<AppState>,
    scope: UserScope,
    TaskIdPath(id): TaskIdPath,
    ApiJson(body): ApiJson<MoveTaskRequest>,
) -> Result<Json<TaskResponse>, ApiError> {
    let task = state.tasks.move_task(scope.caller(), id, body).await?;
    Ok(Json(task.into()))
}

/// Place these tasks in this order, starting where the topmost of them was; the others stay
/// where they are. Nothing changes unless every id is one of the caller's tasks, once.
#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/tasks/reorder", tag = "tasks",
    request_body = ReorderTasksRequest,
    responses(
        (status = 200, description = "The tasks in their new order.", body = [TaskResponse]),
        (status = 400, description = "`INVALID_TASK_ORDER`: empty, more than 1000, or an id repeated.", body = ErrorBody),
        (status = 404, description = "`TASK_NOT_FOUND`: an id is not one of the caller's tasks.", body = ErrorBody),
    )
)]
pub async fn reorder_tasks(
    State(state): State<AppState>,
    scope: UserScope,
    ApiJson(body): ApiJson<ReorderTasksRequest>,
) -> Result<Json<Vec<TaskResponse>>, ApiError> {
    let tasks = state.tasks.reorder_tasks(scope.caller(), body).await?;
    Ok(Json(tasks.into_iter().map(TaskResponse::from).collect()))
}

/// The next occurrences of a recurring task's rule, in the caller's time zone, computed and
/// nothing written.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/tasks/{task_id}/occurrences", tag = "tasks",
    params(OccurrencesQuery),
    responses(
        (status = 200, description = "Up to `limit` occurrences after `after`.", body = OccurrencesResponse),
        (status = 400, description = "`TASK_NOT_RECURRING`, `INVALID_PAGINATION` (a bad `limit`).", body = ErrorBody),
        (status = 404, description = "`TASK_NOT_FOUND`.", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`: a bad `after`.", body = ErrorBody),
    )
)]
pub async fn list_occurrences(
    State(state): State<AppState>,
    scope: UserScope,
    TaskIdPath(id): TaskIdPath,
    ApiQuery(query): ApiQuery<OccurrencesQuery>,
) -> Result<Json<OccurrencesResponse>, ApiError> {
    let found = state.tasks.occurrences(scope.caller(), id, query).await?;
    Ok(Json(OccurrencesResponse {
        occurrences: found
            .into_iter()
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Micros, true))
            .collect(),
    }))
}

/// Skip this occurrence: an open recurring task moves to its rule's next occurrence (its
/// reminder by the same amount) without being completed.
#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/tasks/{task_id}/skip", tag = "tasks",
    responses(
        (status = 200, description = "The task at its next occurrence.", body = TaskResponse),
        (status = 400, description = "`TASK_NOT_RECURRING` (also when the series has no later occurrence), `TASK_NOT_OPEN` (completed).", body = ErrorBody),
        (status = 404, description = "`TASK_NOT_FOUND`.", body = ErrorBody),
    )
)]
pub async fn skip_task(
    State(state): State<AppState>,
    scope: UserScope,
    TaskIdPath(id): TaskIdPath,
) -> Result<Json<TaskResponse>, ApiError> {
    let task = state.tasks.skip_task(scope.caller(), id).await?;
    Ok(Json(task.into()))
}

/// End the series after this occurrence: the rule gets an `UNTIL` at this task's due date, so
/// completing it creates no next one.
#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/tasks/{task_id}/stop-recurring", tag = "tasks",
    responses(
        (status = 200, description = "The task with its ended rule.", body = TaskResponse),
        (status = 400, description = "`TASK_NOT_RECURRING`, `NOT_LATEST_OCCURRENCE` (a later occurrence exists: stop from that one).", body = ErrorBody),
        (status = 404, description = "`TASK_NOT_FOUND`.", body = ErrorBody),
    )
)]
pub async fn stop_recurring(
    State(state): State<AppState>,
    scope: UserScope,
    TaskIdPath(id): TaskIdPath,
) -> Result<Json<TaskResponse>, ApiError> {
    let task = state.tasks.stop_recurring(scope.caller(), id).await?;
    Ok(Json(task.into()))
}

/// Attach a tag: 201 with the task when the link is new, 200 when it already existed.
#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/tasks/{task_id}/tags/{tag_id}", tag = "tasks",
    responses(
        (status = 201, description = "Linked; the task with its tags.", body = TaskResponse),
        (status = 200, description = "Already linked; the task with its tags.", body = TaskResponse),
        (status = 404, description = "`TASK_NOT_FOUND`, `TAG_NOT_FOUND`.", body = ErrorBody),
    )
)]
pub async fn link_tag(
    State(state): State<AppState>,
    scope: UserScope,
    TaskIdPath(task_id): TaskIdPath,
    TagIdPath(tag_id): TagIdPath,
) -> Result<impl IntoResponse, ApiError> {
    let (task, created) = state
        .tasks
        .link_tag(scope.caller(), task_id, tag_id)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(TaskResponse::from(task))))
}

/// Detach a tag; 204 also when it was not attached.
#[utoipa::path(
    delete, path = "/api/v1/users/{user_id}/tasks/{task_id}/tags/{tag_id}", tag = "tasks",
    responses(
        (status = 204, description = "Not linked (any more)."),
        (status = 404, description = "`TASK_NOT_FOUND`, `TAG_NOT_FOUND`.", body = ErrorBody),
    )
)]
pub async fn unlink_tag(
    State(state): State<AppState>,
    scope: UserScope,
    TaskIdPath(task_id): TaskIdPath,
    TagIdPath(tag_id): TagIdPath,
) -> Result<StatusCode, ApiError> {
    state
        .tasks
        .unlink_tag(scope.caller(), task_id, tag_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
