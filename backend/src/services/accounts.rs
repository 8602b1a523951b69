//! The caller's own account: its profile, and the changes that need the password (changing
//! it and deleting the account).

use std::sync::Arc;

use crate::{
    core::{error::ApiError, security::password::PasswordHasherPool},
    db::Store,
    models::{Caller, DisplayName, Password, TimeZoneName, User},
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

    /// The caller's account; `INVALID_TOKEN` when it no longer exists.
    pub async fn profile(&self, caller: Caller) -> Result<User, ApiError> {
        Ok(self.store.find_user(&caller).await?)
    }

    /// Changes the fields given; `name: Some(None)` clears the name.
    pub async fn update_profile(
        &self,
        caller: Caller,
        name: Option<Option<&DisplayName>>,
        timezone: Option<&TimeZoneName>,
    ) -> Result<User, ApiError> {
        Ok(self.store.update_profile(&caller, name, timezone).await?)
    }

    /// Checks `password` against the caller's own account.
    async fn confirm_password(&self, caller: Caller, password: &str) -> Result<User, ApiError> {
        let user = self.profile(caller).await?;
        verify_password(&self.store, &self.hasher, Some(user), password).await
    }

    /// Sets a new password and revokes every session but the caller's.
    pub async fn change_password(
        &self,
        caller: Caller,
        current_password: &str,
        new_password: Password,
    ) -> Result<(), ApiError> {
        self.confirm_password(caller, current_password)
            .await
            .map_err(|e| e.with_field("current_password"))?;
        let hash = self.hasher.hash(new_password.expose()).await?;
        Ok(self.store.change_password(&caller, &hash).await?)
    }

    /// Deletes the caller's account and, by cascade, everything that belongs to it.
    pub async fn delete_account(&self, caller: Caller, password: &str) -> Result<(), ApiError> {
        self.confirm_password(caller, password)
            .await
            .map_err(|e| e.with_field("password"))?;
        Ok(self.store.delete_user(&caller).await?)
    }
}
