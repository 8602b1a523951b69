//! Each user's statuses and priorities ("categories": the two lists work alike; a status also
//! has a kind, `done`). Every statement is scoped by the owner's id. Tasks refer to them by id,
//! so a rename is one row's update, and the change log records every task that shows the new
//! name in the same transaction (one statement, however many tasks).

use super::{
    Missing, Store, StoreError, StoreResult, case_key,
    dialect::sql,
    sessions::live_session,
    sql::{Conn, IdList, Timestamp, Tx},
};
use crate::models::{Caller, Category, CategoryKind, CategoryName, PriorityId, StatusId, UserId};

/// A statement over either list: `@table` is the list's table, `@done` its kind column (null
/// for priorities), `@ref` the tasks' column that refers to it, and `@kind`/`@value` the kind
/// column and its value (`$8`) in an insert (nothing for priorities).
macro_rules! category_sql {
    ($kind:expr, $text:expr) => {
        match $kind {
            CategoryKind::Status => sql!(
                &$text
                    .replace("@table", "statuses")
                    .replace("@done", "done")
                    .replace("@ref", "status_id")
                    .replace("@kind", "done,")
                    .replace("@value", "$8,")
            ),
            CategoryKind::Priority => sql!(
                &$text
                    .replace("@table", "priorities")
                    .replace("@done", "CAST(NULL AS boolean)")
                    .replace("@ref", "priority_id")
                    .replace("@kind", "")
                    .replace("@value", "")
            ),
        }
    };
}

/// A status's or priority's columns, as [`Category`] reads them.
macro_rules! columns {
    () => {
        "id, name, color, position, @done AS done, is_default, created_at, updated_at"
    };
}

/// Why a write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A default status or priority (which also keeps the last open and last done status).
    Default,
    /// Tasks use it and no replacement was named.
    InUse(CategoryKind),
    /// A series operation on a task without a recurrence rule.
    NotRecurring,
    /// Skipping a completed occurrence.
    NotOpen,
    /// Skipping the last occurrence of a series.
    SeriesEnded,
}

/// A new status or priority.
#[derive(Clone, Debug)]
pub struct NewCategory {
    pub name: CategoryName,
    pub color: Option<String>,
    /// `None`: after the last one.
    pub position: Option<i32>,
    /// A status's kind; ignored for a priority.
    pub done: bool,
    pub is_default: bool,
}

/// What an edit writes.
#[derive(Clone, Debug)]
pub struct CategoryEdit {
    /// Validated ([`CategoryName`]), or the current one.
    pub name: String,
    pub color: Option<String>,
    pub position: i32,
    /// Make it the default (of its kind); a default stays one until another is made it.
    pub make_default: bool,
}

/// The statuses and priorities names in a task write stand for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The status and its kind (`done`).
    pub status: Option<(StatusId, bool)>,
    pub priority: Option<PriorityId>,
}

impl Store {
    /// The caller's statuses or priorities, in their order.
    pub async fn list_categories(
        &self,
        caller: &Caller,
        kind: CategoryKind,
    ) -> StoreResult<Vec<Category>> {
        let mut conn = self.backend.read(&self.health).await?;
        let found = self.categories_of(conn.conn(), caller, kind).await?;
        if found.is_empty() {
            self.session_is_live(conn.conn(), caller).await?;
        }
        Ok(found)
    }

    /// Both lists, read on one connection.
    pub async fn list_all_categories(
        &self,
        caller: &Caller,
    ) -> StoreResult<(Vec<Category>, Vec<Category>)> {
        let mut conn = self.backend.read(&self.health).await?;
        let statuses = self
            .categories_of(conn.conn(), caller, CategoryKind::Status)
            .await?;
        let priorities = self
            .categories_of(conn.conn(), caller, CategoryKind::Priority)
            .await?;
        if statuses.is_empty() {
            self.session_is_live(conn.conn(), caller).await?;
        }
        Ok((statuses, priorities))
    }

    async fn categories_of(
        &self,
        conn: Conn<'_>,
        caller: &Caller,
        kind: CategoryKind,
    ) -> StoreResult<Vec<Category>> {
        let sql = category_sql!(
            kind,
            concat!(
                "SELECT ",
                columns!(),
                " FROM @table WHERE user_id = $1 AND ",
                live_session!("$2", "$1"),
                " ORDER BY position, id"
            )
        );
        Ok(self
            .query(sql, (caller.user_id, caller.session_id))
            .fetch_all(conn)
            .await?)
    }

    pub async fn find_category(
        &self,
        caller: &Caller,
        kind: CategoryKind,
        id: i64,
    ) -> StoreResult<Option<Category>> {
        let mut conn = self.backend.read(&self.health).await?;
        self.caller_category(conn.conn(), caller, kind, id, false)
            .await
    }

    /// One of the caller's statuses or priorities, with the session check folded in; locked
    /// until the transaction ends when `lock` is set.
    async fn caller_category(
        &self,
        mut conn: Conn<'_>,
        caller: &Caller,
        kind: CategoryKind,
        id: i64,
        lock: bool,
    ) -> StoreResult<Option<Category>> {
        macro_rules! select {
            () => {
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM @table WHERE id = $1 AND user_id = $2 AND ",
                    live_session!("$3", "$2")
                )
            };
        }
        let sql = match lock {
            true => category_sql!(kind, concat!(select!(), "{for_update}")),
            false => category_sql!(kind, select!()),
        };
        let found = self
            .query(sql, (id, caller.user_id, caller.session_id))
            .fetch_optional(conn.reborrow())
            .await?;
        self.unless_ended(conn, caller, found).await
    }

    /// Adds a status or priority: `Conflict(StatusName | PriorityName)` when the caller has one
    /// of that name in any case. Made the default (of its kind), the one before stops being it.
    pub async fn insert_category(
        &self,
        caller: &Caller,
        kind: CategoryKind,
        new: &NewCategory,
    ) -> StoreResult<Category> {
        // A status's kind is a column of its own: `$8`, and `@kind` for the column.
        let sql = category_sql!(
            kind,
            concat!(
                "INSERT INTO @table (user_id, name, name_key, color, position, is_default, \
                                     @kind created_at, updated_at) \
                 SELECT $1, $2, $3, $4, \
                        COALESCE($5, (SELECT coalesce(max(position), -1) + 1 FROM @table \
                                      WHERE user_id = $1)), \
                        false, @value $6, $6 WHERE ",
                live_session!("$7", "$1"),
                " RETURNING ",
                columns!()
            )
        );
        let name = new.name.as_str();
        let values = (
            caller.user_id,
            name,
            case_key(name),
            new.color.as_deref(),
            new.position,
            self.now(),
        );
        let mut tx = self.backend.begin(&self.health).await?;
        let mut query = self.query(sql, values).bind(caller.session_id);
        if kind == CategoryKind::Status {
            query = query.bind(new.done);
        }
        let found = query.fetch_optional(tx.conn()).await?;
        let mut created: Category = self.found_unless_ended(tx.conn(), caller, found).await?;
        if new.is_default {
            created = self
                .make_default(&mut tx, caller.user_id, kind, &created)
                .await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Locks the status or priority, applies `edit` and writes the result. A new name is in
    /// the change log for every task that carries it (`task.updated`), in the same
    /// transaction; the tasks' rows are not written.
    pub async fn edit_category<E: From<StoreError>>(
        &self,
        caller: &Caller,
        kind: CategoryKind,
        id: i64,
        edit: impl FnOnce(&Category) -> Result<CategoryEdit, E> + Send,
    ) -> Result<Category, E> {
        let update = category_sql!(
            kind,
            concat!(
                "UPDATE @table SET name = $3, name_key = $4, color = $5, position = $6, \
                 updated_at = $7 WHERE id = $1 AND user_id = $2 RETURNING ",
                columns!()
            )
        );
        let log = category_sql!(
            kind,
            "INSERT INTO changes (user_id, kind, object_id) \
             SELECT user_id, 2, id FROM tasks WHERE user_id = $1 AND @ref = $2"
        );
        let mut tx = self
            .backend
            .begin(&self.health)
            .await
            .map_err(StoreError::from)?;
        let current = self
            .caller_category(tx.conn(), caller, kind, id, true)
            .await?
            .ok_or(StoreError::NotFound(Missing::Category(kind)))?;
        let change = edit(&current)?;
        let name = change.name.as_str();
        let values = (
            id,
            caller.user_id,
            name,
            case_key(name),
            change.color.as_deref(),
            change.position,
        );
        let written = self
            .query(update, values)
            .bind(self.now())
            .fetch_one(tx.conn())
            .await;
        let mut written: Category = written.map_err(StoreError::from)?;
        if written.name != current.name {
            self.query(log, (caller.user_id, id))
                .execute(tx.conn())
                .await
                .map_err(StoreError::from)?;
        }
        if change.make_default && !written.is_default {
            written = self
                .make_default(&mut tx, caller.user_id, kind, &written)
                .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(written)
    }

    /// Makes `category` the caller's default (of its kind, for a status): the default before
    /// it stops being one first, so that there is one at every moment another reader looks.
    async fn make_default(
        &self,
        tx: &mut Tx,
        user_id: UserId,
        kind: CategoryKind,
        category: &Category,
    ) -> StoreResult<Category> {
        let clear = category_sql!(
            kind,
            "UPDATE @table SET is_default = false, updated_at = $3 \
             WHERE user_id = $1 AND is_default AND id <> $2 \
               AND (@done IS NULL OR @done = $4)"
        );
        let set = category_sql!(
            kind,
            concat!(
                "UPDATE @table SET is_default = true, updated_at = $3 \
                 WHERE user_id = $1 AND id = $2 RETURNING ",
                columns!()
            )
        );
        let now = self.now();
        let done = category.done.unwrap_or(false);
        self.query(clear, (user_id, category.id, now, done))
            .execute(tx.conn())
            .await?;
        Ok(self
            .query(set, (user_id, category.id, now))
            .fetch_one(tx.conn())
            .await?)
    }

    /// Deletes one of the caller's statuses or priorities. Tasks that use it move to
    /// `replace_with` (another of the caller's, of the same kind for a status) in the same
    /// transaction; without one they keep it from being deleted (`Refused(InUse)`). A default
    /// is never deleted (`Refused(Default)`). False when it is not the caller's.
    pub async fn delete_category(
        &self,
        caller: &Caller,
        kind: CategoryKind,
        id: i64,
        replace_with: Option<i64>,
    ) -> StoreResult<bool> {
        let in_use = category_sql!(
            kind,
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE user_id = $1 AND @ref = $2)"
        );
        let replacement = category_sql!(
            kind,
            "SELECT @done AS done FROM @table WHERE user_id = $1 AND id = $2{for_key_share}"
        );
        let move_tasks = category_sql!(
            kind,
            "UPDATE tasks SET @ref = $3, updated_at = $4 WHERE user_id = $1 AND @ref = $2"
        );
        let delete = category_sql!(kind, "DELETE FROM @table WHERE user_id = $1 AND id = $2");
        let mut tx = self.backend.begin(&self.health).await?;
        let Some(current) = self
            .caller_category(tx.conn(), caller, kind, id, true)
            .await?
        else {
            return Ok(false);
        };
        if current.is_default {
            return Err(StoreError::Refused(Refusal::Default));
        }
        if let Some(replace_with) = replace_with {
            let found: Option<(Option<bool>,)> = self
                .query(replacement, (caller.user_id, replace_with))
                .fetch_optional(tx.conn())
                .await?;
            match found {
                Some((done,)) if replace_with != id && done == current.done => {}
                _ => return Err(StoreError::NotFound(Missing::Replacement)),
            }
        }
        let (used,): (bool,) = self
            .query(in_use, (caller.user_id, id))
            .fetch_one(tx.conn())
            .await?;
        match (used, replace_with) {
            (true, None) => return Err(StoreError::Refused(Refusal::InUse(kind))),
            (true, Some(replace_with)) => {
                self.query(move_tasks, (caller.user_id, id, replace_with, self.now()))
                    .execute(tx.conn())
                    .await?;
            }
            (false, _) => {}
        }
        self.query(delete, (caller.user_id, id))
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The statuses and priority that names in a task write stand for (exactly, as the task
    /// shows them);
    /// `NotFound(Status | Priority)` when one is none of the user's. Read outside the write:
    /// the write checks again, in its transaction, that they are still the user's.
    pub async fn resolve_names(
        &self,
        user_id: UserId,
        status: Option<&str>,
        priority: Option<&str>,
    ) -> StoreResult<Resolved> {
        let sql = sql!(
            "SELECT (SELECT s.id FROM statuses s WHERE s.user_id = $1 AND s.name = $2), \
                    (SELECT s.done FROM statuses s WHERE s.user_id = $1 AND s.name = $2), \
                    (SELECT p.id FROM priorities p WHERE p.user_id = $1 AND p.name = $3)"
        );
        let mut conn = self.backend.read(&self.health).await?;
        let (status_id, done, priority_id): (Option<StatusId>, Option<bool>, Option<PriorityId>) =
            self.query(sql, (user_id, status, priority))
                .fetch_one(conn.conn())
                .await?;
        if status.is_some() && status_id.is_none() {
            return Err(StoreError::NotFound(Missing::Status));
        }
        if priority.is_some() && priority_id.is_none() {
            return Err(StoreError::NotFound(Missing::Priority));
        }
        Ok(Resolved {
            status: status_id.zip(done),
            priority: priority_id,
        })
    }

    /// The user's statuses or priorities of these ids (those that still exist).
    pub(super) async fn categories_by_id(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        kind: CategoryKind,
        ids: Vec<i64>,
    ) -> Result<Vec<Category>, sqlx::Error> {
        let sql = category_sql!(
            kind,
            concat!(
                "SELECT ",
                columns!(),
                " FROM @table WHERE user_id = $1 AND id {any $2}"
            )
        );
        self.query(sql, (user_id, IdList::from(ids)))
            .fetch_all(conn)
            .await
    }

    /// Whether the user has a status or priority of exactly this name.
    pub(super) async fn category_exists(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        kind: CategoryKind,
        name: &str,
    ) -> Result<bool, sqlx::Error> {
        let sql = category_sql!(
            kind,
            "SELECT EXISTS (SELECT 1 FROM @table WHERE user_id = $1 AND name = $2)"
        );
        let (found,): (bool,) = self.query(sql, (user_id, name)).fetch_one(conn).await?;
        Ok(found)
    }

    /// A new account's statuses and priorities (the same as the migration that introduced
    /// them gave every account then).
    pub(super) async fn insert_default_categories(
        &self,
        tx: &mut Tx,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<(), sqlx::Error> {
        let statuses = sql!(
            "INSERT INTO statuses (user_id, name, name_key, position, done, is_default, \
                                   created_at, updated_at) \
             VALUES ($1, 'not_started', 'not_started', 0, false, true, $2, $2), \
                    ($1, 'in_progress', 'in_progress', 1, false, false, $2, $2), \
                    ($1, 'completed', 'completed', 2, true, true, $2, $2)"
        );
        let priorities = sql!(
            "INSERT INTO priorities (user_id, name, name_key, position, is_default, \
                                     created_at, updated_at) \
             VALUES ($1, 'low', 'low', 0, false, $2, $2), \
                    ($1, 'medium', 'medium', 1, true, $2, $2), \
                    ($1, 'high', 'high', 2, false, $2, $2)"
        );
        for sql in [statuses, priorities] {
            self.query(sql, (user_id, now)).execute(tx.conn()).await?;
        }
        Ok(())
    }
}
