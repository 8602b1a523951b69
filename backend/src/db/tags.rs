//! Tags. Every statement is scoped by the owner's id.

use super::{
    Missing, Store, StoreError, StoreResult, case_key,
    dialect::sql,
    now,
    sql::{Conn, IdList, Timestamp},
};
use crate::models::{Tag, TagColor, TagId, TagName, UserId};

impl Store {
    /// `Conflict(TagName)` when the user has a tag of that name in any case.
    pub async fn insert_tag(
        &self,
        user_id: UserId,
        name: &TagName,
        color: Option<&TagColor>,
    ) -> StoreResult<Tag> {
        let sql = sql!(
            self.dialect,
            "INSERT INTO tags (user_id, name, name_key, color, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id, name, color, created_at"
        );
        let mut conn = self.backend.write().await?;
        Ok(self
            .query(sql)
            .bind(user_id)
            .bind(name.as_str())
            .bind(case_key(name.as_str()))
            .bind(color.map(TagColor::as_str))
            .bind(Timestamp(now()))
            .fetch_one(conn.conn())
            .await?)
    }

    /// The user's tags by name regardless of case.
    pub async fn list_tags(&self, user_id: UserId) -> StoreResult<Vec<Tag>> {
        let sql = sql!(
            self.dialect,
            "SELECT id, name, color, created_at FROM tags WHERE user_id = $1 \
             ORDER BY name_key, id"
        );
        let mut conn = self.backend.read().await?;
        Ok(self.query(sql).bind(user_id).fetch_all(conn.conn()).await?)
    }

    pub async fn find_tag(&self, user_id: UserId, id: TagId) -> StoreResult<Option<Tag>> {
        let mut conn = self.backend.read().await?;
        Ok(self.select_tag(conn.conn(), user_id, id, false).await?)
    }

    /// The tag, locked until the transaction ends when `lock` is set.
    async fn select_tag(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        id: TagId,
        lock: bool,
    ) -> Result<Option<Tag>, sqlx::Error> {
        let sql = if lock {
            sql!(
                self.dialect,
                "SELECT id, name, color, created_at FROM tags WHERE id = $1 AND user_id = $2\
                 {for_update}"
            )
        } else {
            sql!(
                self.dialect,
                "SELECT id, name, color, created_at FROM tags WHERE id = $1 AND user_id = $2"
            )
        };
        self.query(sql)
            .bind(id)
            .bind(user_id)
            .fetch_optional(conn)
            .await
    }

    /// Locks the tag, applies `edit` and writes its new name and colour: `NotFound(Tag)`,
    /// `Conflict(TagName)`. Concurrent edits of one tag apply one after the other.
    pub async fn edit_tag<E: From<StoreError>>(
        &self,
        user_id: UserId,
        id: TagId,
        edit: impl FnOnce(&Tag) -> Result<(TagName, Option<TagColor>), E> + Send,
    ) -> Result<Tag, E> {
        let sql = sql!(
            self.dialect,
            "UPDATE tags SET name = $3, name_key = $4, color = $5 \
             WHERE id = $1 AND user_id = $2 RETURNING id, name, color, created_at"
        );
        let mut tx = self.backend.begin().await.map_err(StoreError::from)?;
        let current = self
            .select_tag(tx.conn(), user_id, id, true)
            .await
            .map_err(StoreError::from)?
            .ok_or(StoreError::NotFound(Missing::Tag))?;
        let (name, color) = edit(&current)?;
        let tag: Tag = self
            .query(sql)
            .bind(id)
            .bind(user_id)
            .bind(name.as_str())
            .bind(case_key(name.as_str()))
            .bind(color.as_ref().map(TagColor::as_str))
            .fetch_one(tx.conn())
            .await
            .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(tag)
    }

    /// Deletes the tag; its links go by cascade, the tasks stay.
    pub async fn delete_tag(&self, user_id: UserId, id: TagId) -> StoreResult<bool> {
        let sql = sql!(
            self.dialect,
            "DELETE FROM tags WHERE id = $1 AND user_id = $2"
        );
        let mut conn = self.backend.write().await?;
        let deleted = self
            .query(sql)
            .bind(id)
            .bind(user_id)
            .execute(conn.conn())
            .await?;
        Ok(deleted == 1)
    }

    /// How many of `ids` are the user's tags, locking them against deletion until the
    /// transaction ends (on SQLite the single writer does that), so that links written next
    /// cannot point at a vanished tag.
    pub(super) async fn lock_user_tags(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        ids: &[TagId],
    ) -> Result<usize, sqlx::Error> {
        let sql = sql!(
            self.dialect,
            "SELECT id FROM tags WHERE user_id = $1 AND id {any $2}{for_key_share}"
        );
        let found: Vec<(TagId,)> = self
            .query(sql)
            .bind(user_id)
            .bind(IdList::from(ids))
            .fetch_all(conn)
            .await?;
        Ok(found.len())
    }
}
