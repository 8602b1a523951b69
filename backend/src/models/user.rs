//! The account row and its id.

use chrono::{DateTime, Utc};
use uuid::Uuid;

id!(
    /// A user's id. Distinct from other UUIDs so that a session id cannot be passed where a
    /// user id is meant.
    UserId(Uuid),
    as_uuid
);

impl UserId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

/// A row of `users`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub name: Option<String>,
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
