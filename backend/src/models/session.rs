//! A login session, the server-side state behind refresh-token rotation and revocation.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::models::UserId;

/// A row of `refresh_sessions`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshSession {
    pub id: Uuid,
    pub user_id: UserId,
    pub current_jti: Uuid,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The jti the latest rotation replaced; `None` before the first rotation.
    pub previous_jti: Option<Uuid>,
    /// When the latest rotation issued `current_jti` (its whole seconds are that token's `iat`).
    pub rotated_at: Option<DateTime<Utc>>,
}
