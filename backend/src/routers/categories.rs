//! `/api/v1/users/{user_id}/statuses`, `…/priorities` and `…/categories`: the caller's own
//! statuses and priorities.

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};

use crate::{
    core::error::{ApiError, ErrorBody},
    models::CategoryKind,
    routers::{
        extract::{ApiJson, ApiQuery, PriorityIdPath, StatusIdPath, UserScope},
        state::AppState,
    },
    schemas::categories::{
        CategoriesResponse, CreatePriorityRequest, CreateStatusRequest, DeleteCategoryQuery,
        PriorityResponse, StatusResponse, UpdateCategoryRequest,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/{user_id}/categories", get(list_categories))
        .route(
            "/users/{user_id}/statuses",
            get(list_statuses).post(create_status),
        )
        .route(
            "/users/{user_id}/statuses/{status_id}",
            get(get_status).patch(update_status).delete(delete_status),
        )
        .route(
            "/users/{user_id}/priorities",
            get(list_priorities).post(create_priority),
        )
        .route(
            "/users/{user_id}/priorities/{priority_id}",
            get(get_priority)
                .patch(update_priority)
                .delete(delete_priority),
        )
}

/// Both lists at once, each in its order: what a client's first screen needs.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/categories", tag = "statuses and priorities",
    responses((status = 200, description = "The statuses and the priorities.", body = CategoriesResponse))
)]
pub async fn list_categories(
    State(state): State<AppState>,
    scope: UserScope,
) -> Result<Json<CategoriesResponse>, ApiError> {
    let (statuses, priorities) = state.categories.list_all(scope.caller()).await?;
    Ok(Json(CategoriesResponse {
        statuses: statuses.into_iter().map(StatusResponse::from).collect(),
        priorities: priorities.into_iter().map(PriorityResponse::from).collect(),
    }))
}

/// The caller's statuses, ordered by position (ties by id).
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/statuses", tag = "statuses and priorities",
    responses((status = 200, description = "The statuses.", body = [StatusResponse]))
)]
pub async fn list_statuses(
    State(state): State<AppState>,
    scope: UserScope,
) -> Result<Json<Vec<StatusResponse>>, ApiError> {
    let found = state
        .categories
        .list(scope.caller(), CategoryKind::Status)
        .await?;
    Ok(Json(found.into_iter().map(StatusResponse::from).collect()))
}

/// Create a status (`open` unless `kind` says `done`).
#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/statuses", tag = "statuses and priorities",
    request_body = CreateStatusRequest,
    responses(
        (status = 201, description = "Created; `Location` names it.", body = StatusResponse),
        (status = 400, description = "`STATUS_ALREADY_EXISTS` (the same name in any case), `INVALID_COLOR`.", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`: a bad name, kind or position.", body = ErrorBody),
    )
)]
pub async fn create_status(
    State(state): State<AppState>,
    scope: UserScope,
    ApiJson(body): ApiJson<CreateStatusRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let created = state.categories.create_status(scope.caller(), body).await?;
    let location = format!("/api/v1/users/{}/statuses/{}", scope.user_id(), created.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(StatusResponse::from(created)),
    ))
}

/// One status.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/statuses/{status_id}", tag = "statuses and priorities",
    responses(
        (status = 200, description = "The status.", body = StatusResponse),
        (status = 404, description = "`STATUS_NOT_FOUND`: no such status, or not the caller's.", body = ErrorBody),
    )
)]
pub async fn get_status(
    State(state): State<AppState>,
    scope: UserScope,
    StatusIdPath(id): StatusIdPath,
) -> Result<Json<StatusResponse>, ApiError> {
    let found = state
        .categories
        .find(scope.caller(), CategoryKind::Status, id)
        .await?;
    Ok(Json(found.into()))
}

/// Change a status's name, colour, position, or make it the default of its kind. A new name
/// shows on every task of the status at once (each is `task.updated` in the change log).
#[utoipa::path(
    patch, path = "/api/v1/users/{user_id}/statuses/{status_id}", tag = "statuses and priorities",
    request_body = UpdateCategoryRequest,
    responses(
        (status = 200, description = "The status.", body = StatusResponse),
        (status = 400, description = "`STATUS_ALREADY_EXISTS`, `INVALID_COLOR`.", body = ErrorBody),
        (status = 404, description = "`STATUS_NOT_FOUND`.", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR` (e.g. `kind`, which cannot change, or `is_default: false`).", body = ErrorBody),
    )
)]
pub async fn update_status(
    State(state): State<AppState>,
    scope: UserScope,
    StatusIdPath(id): StatusIdPath,
    ApiJson(body): ApiJson<UpdateCategoryRequest>,
) -> Result<Json<StatusResponse>, ApiError> {
    let updated = state
        .categories
        .update(scope.caller(), CategoryKind::Status, id, body)
        .await?;
    Ok(Json(updated.into()))
}

/// Delete a status. Tasks that have it move to `replace_with` (another status of the same
/// kind) in the same transaction; without it, a status in use is kept (409).
#[utoipa::path(
    delete, path = "/api/v1/users/{user_id}/statuses/{status_id}", tag = "statuses and priorities",
    params(DeleteCategoryQuery),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`STATUS_NOT_FOUND`.", body = ErrorBody),
        (status = 409, description = "`STATUS_IN_USE`, `CANNOT_DELETE_DEFAULT` (a default, which also keeps the last open and the last done status).", body = ErrorBody),
        (status = 400, description = "`INVALID_REPLACEMENT`: `replace_with` is not another of the caller's statuses of the same kind.", body = ErrorBody),
    )
)]
pub async fn delete_status(
    State(state): State<AppState>,
    scope: UserScope,
    StatusIdPath(id): StatusIdPath,
    ApiQuery(query): ApiQuery<DeleteCategoryQuery>,
) -> Result<StatusCode, ApiError> {
    state
        .categories
        .delete(scope.caller(), CategoryKind::Status, id, query)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's priorities, ordered by position: their rank (ties by id).
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/priorities", tag = "statuses and priorities",
    responses((status = 200, description = "The priorities.", body = [PriorityResponse]))
)]
pub async fn list_priorities(
    State(state): State<AppState>,
    scope: UserScope,
) -> Result<Json<Vec<PriorityResponse>>, ApiError> {
    let found = state
        .categories
        .list(scope.caller(), CategoryKind::Priority)
        .await?;
    Ok(Json(
        found.into_iter().map(PriorityResponse::from).collect(),
    ))
}

/// Create a priority.
#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/priorities", tag = "statuses and priorities",
    request_body = CreatePriorityRequest,
    responses(
        (status = 201, description = "Created; `Location` names it.", body = PriorityResponse),
        (status = 400, description = "`PRIORITY_ALREADY_EXISTS` (the same name in any case), `INVALID_COLOR`.", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`: a bad name or position.", body = ErrorBody),
    )
)]
pub async fn create_priority(
    State(state): State<AppState>,
    scope: UserScope,
    ApiJson(body): ApiJson<CreatePriorityRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let created = state
        .categories
        .create_priority(scope.caller(), body)
        .await?;
    let location = format!(
        "/api/v1/users/{}/priorities/{}",
        scope.user_id(),
        created.id
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(PriorityResponse::from(created)),
    ))
}

/// One priority.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/priorities/{priority_id}", tag = "statuses and priorities",
    responses(
        (status = 200, description = "The priority.", body = PriorityResponse),
        (status = 404, description = "`PRIORITY_NOT_FOUND`: no such priority, or not the caller's.", body = ErrorBody),
    )
)]
pub async fn get_priority(
    State(state): State<AppState>,
    scope: UserScope,
    PriorityIdPath(id): PriorityIdPath,
) -> Result<Json<PriorityResponse>, ApiError> {
    let found = state
        .categories
        .find(scope.caller(), CategoryKind::Priority, id)
        .await?;
    Ok(Json(found.into()))
}

/// Change a priority's name, colour, rank, or make it the default. A new name shows on every
/// task of the priority at once (each is `task.updated` in the change log).
#[utoipa::path(
    patch, path = "/api/v1/users/{user_id}/priorities/{priority_id}", tag = "statuses and priorities",
    request_body = UpdateCategoryRequest,
    responses(
        (status = 200, description = "The priority.", body = PriorityResponse),
        (status = 400, description = "`PRIORITY_ALREADY_EXISTS`, `INVALID_COLOR`.", body = ErrorBody),
        (status = 404, description = "`PRIORITY_NOT_FOUND`.", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`.", body = ErrorBody),
    )
)]
pub async fn update_priority(
    State(state): State<AppState>,
    scope: UserScope,
    PriorityIdPath(id): PriorityIdPath,
    ApiJson(body): ApiJson<UpdateCategoryRequest>,
) -> Result<Json<PriorityResponse>, ApiError> {
    let updated = state
        .categories
        .update(scope.caller(), CategoryKind::Priority, id, body)
        .await?;
    Ok(Json(updated.into()))
}

/// Delete a priority. Tasks that have it move to `replace_with` (another priority) in the same
/// transaction; without it, a priority in use is kept (409).
#[utoipa::path(
    delete, path = "/api/v1/users/{user_id}/priorities/{priority_id}", tag = "statuses and priorities",
    params(DeleteCategoryQuery),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`PRIORITY_NOT_FOUND`.", body = ErrorBody),
        (status = 409, description = "`PRIORITY_IN_USE`, `CANNOT_DELETE_DEFAULT`.", body = ErrorBody),
        (status = 400, description = "`INVALID_REPLACEMENT`: `replace_with` is not another of the caller's priorities.", body = ErrorBody),
    )
)]
pub async fn delete_priority(
    State(state): State<AppState>,
    scope: UserScope,
    PriorityIdPath(id): PriorityIdPath,
    ApiQuery(query): ApiQuery<DeleteCategoryQuery>,
) -> Result<StatusCode, ApiError> {
    state
        .categories
        .delete(scope.caller(), CategoryKind::Priority, id, query)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
