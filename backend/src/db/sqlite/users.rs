//! SQL for `users` (SQLite).

use chrono::{DateTime, Utc};
use sqlx::SqliteExecutor;

use super::text_time;
use crate::models::{DisplayName, Email, TimeZoneName, User, UserId};

const USER_COLUMNS: &str = "id, email, password_hash, name, timezone, created_at, updated_at";

#[tracing::instrument(skip_all)]
pub async fn insert_user(
    db: impl SqliteExecutor<'_>,
    email: &Email,
    password_hash: &str,
    name: Option<&DisplayName>,
    now: DateTime<Utc>,
) -> Result<User, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, email, password_hash, name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING {USER_COLUMNS}"
    ))
    .bind(UserId::new())
    .bind(email.as_str())
    .bind(password_hash)
    .bind(name.map(DisplayName::as_str))
    .bind(text_time(now))
    .fetch_one(db)
    .await
}

/// `email` is already lower-cased, as stored.
#[tracing::instrument(skip_all)]
pub async fn find_user_by_email(
    db: impl SqliteExecutor<'_>,
    email: &Email,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email.as_str())
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn find_user(
    db: impl SqliteExecutor<'_>,
    id: UserId,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Changes the fields given; `name: Some(None)` clears the name.
#[tracing::instrument(skip_all)]
pub async fn update_profile(
    db: impl SqliteExecutor<'_>,
    id: UserId,
    name: Option<Option<&DisplayName>>,
    timezone: Option<&TimeZoneName>,
    now: DateTime<Utc>,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE users SET \
             name = CASE WHEN $2 THEN $3 ELSE name END, \
             timezone = COALESCE($4, timezone), \
             updated_at = $5 \
         WHERE id = $1 RETURNING {USER_COLUMNS}"
    ))
    .bind(id)
    .bind(name.is_some())
    .bind(name.flatten().map(DisplayName::as_str))
    .bind(timezone.map(TimeZoneName::as_str))
    .bind(text_time(now))
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn update_password_hash(
    db: impl SqliteExecutor<'_>,
    id: UserId,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .bind(text_time(now))
        .execute(db)
        .await
        .map(drop)
}

/// Deletes the user; their sessions, tasks and tags go by cascade.
#[tracing::instrument(skip_all)]
pub async fn delete_user(db: impl SqliteExecutor<'_>, id: UserId) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}
