//! Account changes that need the password: changing it and deleting the account.

use crate::{
    app::AppState,
    core::{
        error::{ApiError, ErrorCode},
        extract::AuthUser,
    },
    models::{Password, User},
    services::auth::verify_password,
};

/// Checks `password` against the caller's own account.
async fn confirm_password(
    state: &AppState,
    caller: &AuthUser,
    password: &str,
) -> Result<User, ApiError> {
    let user = state
        .store
        .find_user(caller.id)
        .await?
        .ok_or(ErrorCode::InvalidToken)?;
    verify_password(state, Some(user), password).await
}

/// Sets a new password and revokes every session but the caller's.
pub async fn change_password(
    state: &AppState,
    caller: &AuthUser,
    current_password: &str,
    new_password: Password,
) -> Result<(), ApiError> {
    confirm_password(state, caller, current_password)
        .await
        .map_err(|e| e.with_field("current_password"))?;
    let hash = state.hasher.hash(new_password.expose()).await?;
    Ok(state
        .store
        .change_password(caller.id, &hash, caller.session_id)
        .await?)
}

/// Deletes the caller's account and, by cascade, everything that belongs to it.
pub async fn delete_account(
    state: &AppState,
    caller: &AuthUser,
    password: &str,
) -> Result<(), ApiError> {
    confirm_password(state, caller, password)
        .await
        .map_err(|e| e.with_field("password"))?;
    state.store.delete_user(caller.id).await?;
    Ok(())
}
