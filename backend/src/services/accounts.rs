//! The caller's own account: its profile, and the changes that need the password (changing
//! it and deleting the account).

use std::sync::Arc;

use uuid::Uuid;

use crate::{
    core::{
        error::{ApiError, ErrorCode},
        security::password::PasswordHasherPool,
    },
    db::Store,
    models::{DisplayName, Password, TimeZoneName, User, UserId},
    services::auth::verify_password,
};

/// Reads and changes of an account by its owner.
pub struct AccountService {
    store: Arc<Store>,
    hasher: PasswordHasherPool,
}

impl AccountService {
    pub fn new(store: Arc<Store>, hasher: PasswordHasherPool) -> Self {
        Self { store, hasher }
    }

    /// The account; `INVALID_TOKEN` when it no longer exists.
    pub async fn profile(&self, user_id: UserId) -> Result<User, ApiError> {
        self.store
            .find_user(user_id)
            .await?
            .ok_or(ErrorCode::InvalidToken.into())
    }

    /// Changes the fields given; `name: Some(None)` clears the name.
    pub async fn update_profile(
        &self,
        user_id: UserId,
        name: Option<Option<&DisplayName>>,
        timezone: Option<&TimeZoneName>,
    ) -> Result<User, ApiError> {
        self.store
            .update_profile(user_id, name, timezone)
            .await?
            .ok_or(ErrorCode::InvalidToken.into())
    }

    /// Checks `password` against the caller's own account.
    async fn confirm_password(&self, user_id: UserId, password: &str) -> Result<User, ApiError> {
        let user = self.profile(user_id).await?;
        verify_password(&*self.store, &self.hasher, Some(user), password).await
    }

    /// Sets a new password and revokes every session but the caller's (`session_id`).
    pub async fn change_password(
        &self,
        user_id: UserId,
        session_id: Uuid,
        current_password: &str,
        new_password: Password,
    ) -> Result<(), ApiError> {
        self.confirm_password(user_id, current_password)
            .await
            .map_err(|e| e.with_field("current_password"))?;
        let hash = self.hasher.hash(new_password.expose()).await?;
        Ok(self.store.change_password(user_id, &hash, session_id).await?)
    }

    /// Deletes the caller's account and, by cascade, everything that belongs to it.
    pub async fn delete_account(&self, user_id: UserId, password: &str) -> Result<(), ApiError> {
        self.confirm_password(user_id, password)
            .await
            .map_err(|e| e.with_field("password"))?;
        self.store.delete_user(user_id).await?;
        Ok(())
    }
}
