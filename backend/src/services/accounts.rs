//! Account changes that need the password: changing it and deleting the account.

use crate::{
    app::AppState,
    core::{
        error::{ApiError, ErrorCode},
        extract::AuthUser,
    },
    db,
    models::{Password, User},
    services::auth::verify_password,
};

/// Checks `password` against the caller's own account.
async fn confirm_password(
    state: &AppState,
    caller: &AuthUser,
    password: &str,
) -> Result<User, ApiError> {
    let user = db::users::find_user(&state.db, caller.id)
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
    let mut tx = state.db.begin().await?;
    db::users::update_password_hash(&mut *tx, caller.id, &hash).await?;
    db::sessions::revoke_other_sessions(&mut *tx, caller.id, caller.session_id).await?;
    tx.commit().await?;
    Ok(())
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
    db::users::delete_user(&state.db, caller.id).await?;
    Ok(())
}
