//! SQL for `refresh_sessions`: creation, rotation, revocation.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::models::{RefreshSession, UserId};

#[tracing::instrument(skip_all)]
pub async fn create_session(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: UserId,
    jti: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_sessions (id, user_id, current_jti, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(user_id)
    .bind(jti)
    .bind(expires_at)
    .execute(db)
    .await
    .map(drop)
}

/// Swaps `old_jti` for `new_jti` (issued at `issued_at`) if and only if `old_jti` is the
/// session's current token and the session is live, keeping `old_jti` as `previous_jti`.
/// Atomic: of two concurrent uses of one token, exactly one rotates.
#[tracing::instrument(skip_all)]
pub async fn rotate_session(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: UserId,
    old_jti: Uuid,
    new_jti: Uuid,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE refresh_sessions \
         SET previous_jti = current_jti, current_jti = $4, rotated_at = $5, expires_at = $6, \
             last_used_at = now() \
         WHERE id = $1 AND user_id = $2 AND current_jti = $3 \
           AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(id)
    .bind(user_id)
    .bind(old_jti)
    .bind(new_jti)
    .bind(issued_at)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

#[tracing::instrument(skip_all)]
pub async fn find_session(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: UserId,
) -> Result<Option<RefreshSession>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, current_jti, expires_at, revoked_at, previous_jti, rotated_at \
         FROM refresh_sessions WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn revoke_session(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_sessions SET revoked_at = now() \
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(user_id)
    .execute(db)
    .await
    .map(drop)
}

/// Revokes every live session of the user except `keep`.
#[tracing::instrument(skip_all)]
pub async fn revoke_other_sessions(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    keep: Uuid,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE refresh_sessions SET revoked_at = now() \
         WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(keep)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// Ends the session's rotation overlap: the token its last rotation superseded is reuse from
/// now on, even within the grace window (a password change suspects theft).
#[tracing::instrument(skip_all)]
pub async fn end_rotation_overlap(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_sessions SET previous_jti = NULL WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether the session of an access token is still live: its user exists and it has not been
/// revoked. `None` when the session (or its user) no longer exists.
#[tracing::instrument(skip_all)]
pub async fn session_is_live(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: UserId,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT revoked_at IS NULL FROM refresh_sessions WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}
