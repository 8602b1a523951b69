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

/// Who is asking, as an access token says: the user and the login session the token belongs
/// to. The store checks that the session is still live in the same unit of work that serves
/// the request (one connection; folded into the first statement where it can be), so a
/// request costs one checkout and a revoked token is refused however it got here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub session_id: Uuid,
}
