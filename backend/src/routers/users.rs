//! `/api/v1/users/{user_id}`: the caller's own account.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};

use crate::{
    core::error::{ApiError, ErrorBody},
    models::{DisplayName, Password, TimeZoneName},
    routers::{
        extract::{ApiJson, UserScope},
        state::AppState,
    },
    schemas::Patch,
    schemas::users::{
        ChangePasswordRequest, DeleteAccountRequest, UpdateProfileRequest, UserResponse,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/users/{user_id}",
            get(get_profile)
                .patch(update_profile)
                .delete(delete_account),
        )
        .route("/users/{user_id}/password", post(change_password))
}

/// The account's profile.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}", tag = "users",
    responses((status = 200, description = "The account.", body = UserResponse))
)]
pub async fn get_profile(
    State(state): State<AppState>,
    scope: UserScope,
) -> Result<Json<UserResponse>, ApiError> {
    let user = state.accounts.profile(scope.caller()).await?;
    Ok(Json(user.into()))
}

/// Change the display name and/or time zone. Absent fields stay; `"name": null` clears the name.
#[utoipa::path(
    patch, path = "/api/v1/users/{user_id}", tag = "users",
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, description = "The updated account.", body = UserResponse),
        (status = 400, description = "`INVALID_TIMEZONE`.", body = ErrorBody),
    )
)]
pub async fn update_profile(
    State(state): State<AppState>,
    scope: UserScope,
    ApiJson(body): ApiJson<UpdateProfileRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let name = match body.name {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(name) => Some(DisplayName::parse(&name)?),
    };
    let timezone = body
        .timezone
        .as_deref()
        .map(TimeZoneName::parse)
        .transpose()?;
    let user = state
        .accounts
        .update_profile(
            scope.caller(),
            name.as_ref().map(Option::as_ref),
            timezone.as_ref(),
        )
        .await?;
    Ok(Json(user.into()))
}

/// Change the password. Every other session of the account is revoked; this one stays.
#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/password", tag = "users",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed."),
        (status = 400, description = "`PASSWORD_TOO_SHORT`, `PASSWORD_TOO_LONG` (new password).", body = ErrorBody),
        (status = 401, description = "`INVALID_CREDENTIALS`: the current password is wrong; or not signed in.", body = ErrorBody),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    scope: UserScope,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let new_password = Password::parse(&body.new_password, "new_password")?;
    state
        .accounts
        .change_password(scope.caller(), &body.current_password, new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete the account, confirmed with the password. Its sessions (and all its data) go with it.
#[utoipa::path(
    delete, path = "/api/v1/users/{user_id}", tag = "users",
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "`INVALID_CREDENTIALS`: wrong password; or not signed in.", body = ErrorBody),
    )
)]
pub async fn delete_account(
    State(state): State<AppState>,
    scope: UserScope,
    ApiJson(body): ApiJson<DeleteAccountRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .delete_account(scope.caller(), &body.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
