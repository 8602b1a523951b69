//! `/api/v1/users/{user_id}/tags`: the caller's tags.

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};

use crate::{
    core::error::{ApiError, ErrorBody},
    routers::{
        extract::{ApiJson, TagIdPath, UserScope},
        state::AppState,
    },
    schemas::tags::{TagRequest, TagResponse, UpdateTagRequest},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/{user_id}/tags", get(list_tags).post(create_tag))
        .route(
            "/users/{user_id}/tags/{tag_id}",
            get(get_tag)
                .put(replace_tag)
                .patch(update_tag)
                .delete(delete_tag),
        )
}

/// Create a tag.
#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/tags", tag = "tags",
    request_body = TagRequest,
    responses(
        (status = 201, description = "Created; `Location` names the new tag.", body = TagResponse),
        (status = 400, description = "`INVALID_TAG_NAME`, `INVALID_COLOR`, `TAG_ALREADY_EXISTS`.", body = ErrorBody),
    )
)]
pub async fn create_tag(
    State(state): State<AppState>,
    scope: UserScope,
    ApiJson(body): ApiJson<TagRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let tag = state.tags.create_tag(scope.caller(), body).await?;
    let location = format!("/api/v1/users/{}/tags/{}", scope.user_id(), tag.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(TagResponse::from(tag)),
    ))
}

/// All of the caller's tags, ordered by name regardless of case (not paginated).
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/tags", tag = "tags",
    responses((status = 200, description = "The tags.", body = [TagResponse]))
)]
pub async fn list_tags(
    State(state): State<AppState>,
    scope: UserScope,
) -> Result<Json<Vec<TagResponse>>, ApiError> {
    let tags = state.tags.list_tags(scope.caller()).await?;
    Ok(Json(tags.into_iter().map(TagResponse::from).collect()))
}

/// One tag.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/tags/{tag_id}", tag = "tags",
    responses(
        (status = 200, description = "The tag.", body = TagResponse),
        (status = 404, description = "`TAG_NOT_FOUND`.", body = ErrorBody),
    )
)]
pub async fn get_tag(
    State(state): State<AppState>,
    scope: UserScope,
    TagIdPath(id): TagIdPath,
) -> Result<Json<TagResponse>, ApiError> {
    Ok(Json(state.tags.find_tag(scope.caller(), id).await?.into()))
}

/// Replace a tag (an omitted colour becomes null).
#[utoipa::path(
    put, path = "/api/v1/users/{user_id}/tags/{tag_id}", tag = "tags",
    request_body = TagRequest,
    responses(
        (status = 200, description = "The tag.", body = TagResponse),
        (status = 400, description = "`INVALID_TAG_NAME`, `INVALID_COLOR`, `TAG_ALREADY_EXISTS`.", body = ErrorBody),
        (status = 404, description = "`TAG_NOT_FOUND`.", body = ErrorBody),
    )
)]
pub async fn replace_tag(
    State(state): State<AppState>,
    scope: UserScope,
    TagIdPath(id): TagIdPath,
    ApiJson(body): ApiJson<TagRequest>,
) -> Result<Json<TagResponse>, ApiError> {
    let tag = state.tags.replace_tag(scope.caller(), id, body).await?;
    Ok(Json(tag.into()))
}

/// Change only the fields present; `"color": null` clears the colour.
#[utoipa::path(
    patch, path = "/api/v1/users/{user_id}/tags/{tag_id}", tag = "tags",
    request_body = UpdateTagRequest,
    responses(
        (status = 200, description = "The tag.", body = TagResponse),
        (status = 400, description = "`INVALID_TAG_NAME`, `INVALID_COLOR`, `TAG_ALREADY_EXISTS`.", body = ErrorBody),
        (status = 404, description = "`TAG_NOT_FOUND`.", body = ErrorBody),
    )
)]
pub async fn update_tag(
    State(state): State<AppState>,
    scope: UserScope,
    TagIdPath(id): TagIdPath,
    ApiJson(body): ApiJson<UpdateTagRequest>,
) -> Result<Json<TagResponse>, ApiError> {
    let tag = state.tags.update_tag(scope.caller(), id, body).await?;
    Ok(Json(tag.into()))
}

/// Delete a tag; its links go, the tasks stay.
#[utoipa::path(
    delete, path = "/api/v1/users/{user_id}/tags/{tag_id}", tag = "tags",
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`TAG_NOT_FOUND`.", body = ErrorBody),
    )
)]
pub async fn delete_tag(
    State(state): State<AppState>,
    scope: UserScope,
    TagIdPath(id): TagIdPath,
) -> Result<StatusCode, ApiError> {
    state.tags.delete_tag(scope.caller(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
