//! SQL for `tags` (SQLite). Every statement is scoped by `user_id`.

use chrono::{DateTime, Utc};
use sqlx::SqliteExecutor;

use super::{id_list, text_time};
use crate::db::case_key;
use crate::models::{Tag, TagColor, TagId, TagName, UserId};

#[tracing::instrument(skip_all)]
pub async fn insert_tag(
    db: impl SqliteExecutor<'_>,
    user_id: UserId,
    name: &TagName,
    color: Option<&TagColor>,
    now: DateTime<Utc>,
) -> Result<Tag, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO tags (user_id, name, name_key, color, created_at) \
         VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, name, color, created_at",
    )
    .bind(user_id)
    .bind(name.as_str())
    .bind(case_key(name.as_str()))
    .bind(color.map(TagColor::as_str))
    .bind(text_time(now))
    .fetch_one(db)
    .await
}

/// All of the user's tags, by name regardless of case.
#[tracing::instrument(skip_all)]
pub async fn list_tags(
    db: impl SqliteExecutor<'_>,
    user_id: UserId,
) -> Result<Vec<Tag>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, color, created_at FROM tags WHERE user_id = $1 ORDER BY name_key, id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn find_tag(
    db: impl SqliteExecutor<'_>,
    user_id: UserId,
    id: TagId,
) -> Result<Option<Tag>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, color, created_at FROM tags WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .fetch_optional(db)
        .await
}

/// Writes name and colour; `None` when the tag is not the user's.
#[tracing::instrument(skip_all)]
pub async fn update_tag(
    db: impl SqliteExecutor<'_>,
    user_id: UserId,
    id: TagId,
    name: &TagName,
    color: Option<&TagColor>,
) -> Result<Option<Tag>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE tags SET name = $3, name_key = $4, color = $5 WHERE id = $1 AND user_id = $2 \
         RETURNING id, name, color, created_at",
    )
    .bind(id)
    .bind(user_id)
    .bind(name.as_str())
    .bind(case_key(name.as_str()))
    .bind(color.map(TagColor::as_str))
    .fetch_optional(db)
    .await
}

/// Deletes the tag; its links go by cascade, the tasks stay.
#[tracing::instrument(skip_all)]
pub async fn delete_tag(
    db: impl SqliteExecutor<'_>,
    user_id: UserId,
    id: TagId,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM tags WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// How many of `ids` are the user's tags. Called inside the single writer's transaction, so no
/// tag can vanish before the links written next.
#[tracing::instrument(skip_all)]
pub async fn count_user_tags(
    db: impl SqliteExecutor<'_>,
    user_id: UserId,
    ids: &[TagId],
) -> Result<usize, sqlx::Error> {
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tags WHERE user_id = $1 AND id IN (SELECT value FROM json_each($2))",
    )
    .bind(user_id)
    .bind(id_list(ids))
    .fetch_one(db)
    .await?;
    Ok(usize::try_from(found).unwrap_or(0))
}
