//! SQL for `users`.

use sqlx::PgExecutor;

use crate::models::{DisplayName, Email, TimeZoneName, User, UserId};

const USER_COLUMNS: &str = "id, email, password_hash, name, timezone, created_at, updated_at";

#[tracing::instrument(skip_all)]
pub async fn insert_user(
    db: impl PgExecutor<'_>,
    email: &Email,
    password_hash: &str,
    name: Option<&DisplayName>,
) -> Result<User, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, email, password_hash, name) VALUES ($1, $2, $3, $4) \
         RETURNING {USER_COLUMNS}"
    ))
    .bind(UserId::new())
    .bind(email.as_str())
    .bind(password_hash)
    .bind(name.map(DisplayName::as_str))
    .fetch_one(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn find_user_by_email(
    db: impl PgExecutor<'_>,
    email: &Email,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = $1"
    ))
    .bind(email.as_str())
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn find_user(db: impl PgExecutor<'_>, id: UserId) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Changes the fields given; `name: Some(None)` clears the name.
#[tracing::instrument(skip_all)]
pub async fn update_profile(
    db: impl PgExecutor<'_>,
    id: UserId,
    name: Option<Option<&DisplayName>>,
    timezone: Option<&TimeZoneName>,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE users SET \
             name = CASE WHEN $2 THEN $3 ELSE name END, \
             timezone = COALESCE($4, timezone) \
         WHERE id = $1 RETURNING {USER_COLUMNS}"
    ))
    .bind(id)
    .bind(name.is_some())
    .bind(name.flatten().map(DisplayName::as_str))
    .bind(timezone.map(TimeZoneName::as_str))
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn update_password_hash(
    db: impl PgExecutor<'_>,
    id: UserId,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(db)
        .await
        .map(drop)
}

/// Deletes the user; their sessions (and later their tasks and tags) go by cascade.
#[tracing::instrument(skip_all)]
pub async fn delete_user(db: impl PgExecutor<'_>, id: UserId) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}
