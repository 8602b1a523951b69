//! Tags. Every statement is scoped by the owner's id.

use super::{
    Missing, Store, StoreError, StoreResult, case_key,
    dialect::{locking_sql, sql},
    sessions::live_session,
    sql::{Conn, IdList},
};
use crate::models::{Caller, Tag, TagColor, TagId, TagName, UserId};

impl Store {
    /// `Conflict(TagName)` when the caller has a tag of that name in any case.
    pub async fn insert_tag(
        &self,
        caller: &Caller,
        name: &TagName,
        color: Option<&TagColor>,
    ) -> StoreResult<Tag> {
        let sql = sql!(concat!(
            "INSERT INTO tags (user_id, name, name_key, color, created_at) \
             SELECT $1, $2, $3, $4, $5 WHERE ",
            live_session!("$6", "$1"),
            " RETURNING id, name, color, created_at"
        ));
        let (name, color) = (name.as_str(), color.map(TagColor::as_str));
        let values = (
            caller.user_id,
            name,
            case_key(name),
            color,
            self.now(),
            caller.session_id,
        );
        let mut conn = self.backend.write(&self.health).await?;
        let tag = self.query(sql, values).fetch_optional(conn.conn()).await?;
        let tag = self.found_unless_ended(conn.conn(), caller, tag).await?;
        conn.finish().await?;
        Ok(tag)
    }

    /// The caller's tags by name regardless of case.
    pub async fn list_tags(&self, caller: &Caller) -> StoreResult<Vec<Tag>> {
        let sql = sql!(concat!(
            "SELECT id, name, color, created_at FROM tags WHERE user_id = $1 AND ",
            live_session!("$2", "$1"),
            " ORDER BY name_key, id"
        ));
        let mut conn = self.backend.read(&self.health).await?;
        let tags: Vec<Tag> = self
            .query(sql, (caller.user_id, caller.session_id))
            .fetch_all(conn.conn())
            .await?;
        if tags.is_empty() {
            self.session_is_live(conn.conn(), caller).await?;
        }
        Ok(tags)
    }

    pub async fn find_tag(&self, caller: &Caller, id: TagId) -> StoreResult<Option<Tag>> {
        let mut conn = self.backend.read(&self.health).await?;
        self.caller_tag(conn.conn(), caller, id, false).await
    }

    /// One of the caller's tags, with the session check folded in; locked until the
    /// transaction ends when `lock` is set.
    async fn caller_tag(
        &self,
        mut conn: Conn<'_>,
        caller: &Caller,
        id: TagId,
        lock: bool,
    ) -> StoreResult<Option<Tag>> {
        let sql = locking_sql!(
            lock,
            concat!(
                "SELECT id, name, color, created_at FROM tags WHERE id = $1 AND user_id = $2 AND ",
                live_session!("$3", "$2")
            )
        );
        let tag = self
            .query(sql, (id, caller.user_id, caller.session_id))
            .fetch_optional(conn.reborrow())
            .await?;
        self.unless_ended(conn, caller, tag).await
    }

    /// Locks the tag, applies `edit` and writes its new name and colour: `NotFound(Tag)`,
    /// `Conflict(TagName)`. Concurrent edits of one tag apply one after the other.
    pub async fn edit_tag<E: From<StoreError>>(
        &self,
        caller: &Caller,
        id: TagId,
        edit: impl FnOnce(&Tag) -> Result<(TagName, Option<TagColor>), E> + Send,
    ) -> Result<Tag, E> {
        let sql = sql!(
            "UPDATE tags SET name = $3, name_key = $4, color = $5 \
             WHERE id = $1 AND user_id = $2 RETURNING id, name, color, created_at"
        );
        let mut tx = self
            .backend
            .begin(&self.health)
            .await
            .map_err(StoreError::from)?;
        let current = self
            .caller_tag(tx.conn(), caller, id, true)
            .await?
            .ok_or(StoreError::NotFound(Missing::Tag))?;
        let (name, color) = edit(&current)?;
        let (name, color) = (name.as_str(), color.as_ref().map(TagColor::as_str));
        let values = (id, caller.user_id, name, case_key(name), color);
        let written = self.query(sql, values).fetch_one(tx.conn()).await;
        let tag: Tag = written.map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(tag)
    }

    /// Deletes one of the caller's tags; its links go by cascade, the tasks stay.
    pub async fn delete_tag(&self, caller: &Caller, id: TagId) -> StoreResult<bool> {
        let sql = sql!(concat!(
            "DELETE FROM tags WHERE id = $1 AND user_id = $2 AND ",
            live_session!("$3", "$2")
        ));
        let mut conn = self.backend.write(&self.health).await?;
        let deleted = self
            .query(sql, (id, caller.user_id, caller.session_id))
            .execute(conn.conn())
            .await?;
        let deleted = self
            .unless_ended(conn.conn(), caller, (deleted == 1).then_some(()))
            .await?;
        conn.finish().await?;
        Ok(deleted.is_some())
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
        let sql = sql!("SELECT id FROM tags WHERE user_id = $1 AND id {any $2}{for_key_share}");
        let found: Vec<(TagId,)> = self
            .query(sql, (user_id, IdList::from(ids)))
            .fetch_all(conn)
            .await?;
        Ok(found.len())
    }
}
