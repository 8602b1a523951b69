//! SQL for `tags`. Every statement is scoped by `user_id`.

use sqlx::{PgConnection, PgExecutor};

use crate::models::{Tag, TagColor, TagId, TagName, UserId};

#[tracing::instrument(skip_all)]
pub async fn insert_tag(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    name: &TagName,
    color: Option<&TagColor>,
) -> Result<Tag, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO tags (user_id, name, color) VALUES ($1, $2, $3) \
         RETURNING id, name, color, created_at",
    )
    .bind(user_id)
    .bind(name.as_str())
    .bind(color.map(TagColor::as_str))
    .fetch_one(db)
    .await
}

/// All of the user's tags, by name regardless of case.
#[tracing::instrument(skip_all)]
pub async fn list_tags(db: impl PgExecutor<'_>, user_id: UserId) -> Result<Vec<Tag>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, color, created_at FROM tags WHERE user_id = $1 ORDER BY lower(name) COLLATE \"C\", id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn find_tag(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    id: TagId,
) -> Result<Option<Tag>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, color, created_at FROM tags WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .fetch_optional(db)
        .await
}

/// Loads one of the user's tags and locks it until the transaction ends, so that concurrent
/// partial updates apply one after the other.
#[tracing::instrument(skip_all)]
pub async fn find_tag_for_update(
    db: &mut PgConnection,
    user_id: UserId,
    id: TagId,
) -> Result<Option<Tag>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, color, created_at FROM tags WHERE id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Writes name and colour; `None` when the tag is not the user's.
#[tracing::instrument(skip_all)]
pub async fn update_tag(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    id: TagId,
    name: &TagName,
    color: Option<&TagColor>,
) -> Result<Option<Tag>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE tags SET name = $3, color = $4 WHERE id = $1 AND user_id = $2 \
         RETURNING id, name, color, created_at",
    )
    .bind(id)
    .bind(user_id)
    .bind(name.as_str())
    .bind(color.map(TagColor::as_str))
    .fetch_optional(db)
    .await
}

/// Deletes the tag; its links go by cascade, the tasks stay.
#[tracing::instrument(skip_all)]
pub async fn delete_tag(
    db: impl PgExecutor<'_>,
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

/// How many of `ids` are the user's tags, locking them against deletion until the transaction
/// ends so that links written next cannot point at a vanished tag.
#[tracing::instrument(skip_all)]
pub async fn lock_user_tags(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    ids: &[TagId],
) -> Result<usize, sqlx::Error> {
    let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    let found: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM tags WHERE user_id = $1 AND id = ANY($2) FOR KEY SHARE")
            .bind(user_id)
            .bind(&ids)
            .fetch_all(db)
            .await?;
    Ok(found.len())
}
