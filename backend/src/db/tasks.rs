//! Tasks and their tag links. Every statement is scoped by the owner's id: there is no way to
//! load or change a task by its id alone. Tasks come with their tags aggregated as JSON in the
//! same statement, so a page of tasks is one round trip however many tags they carry.

use chrono::{DateTime, Utc};

use super::{
    EditedTask, Missing, Store, StoreError, StoreResult, TaskFields, TaskWrite, case_key,
    dialect::sql,
    now,
    sql::{Conn, IdList, Timestamp, Tx},
};
use crate::models::{TagId, Task, TaskId, UserId, recurrence};

/// A task's own columns, for `SELECT … FROM tasks t` and for `RETURNING`.
macro_rules! task_columns {
    () => {
        "id, user_id, title, description, completed, completed_at, priority, due_date, \
         remind_at, recurrence_rule, created_at, updated_at, reminded_at, successor_id, \
         recurred_at, recurrence_start"
    };
}
pub(super) use task_columns;

/// A task with its tags as a JSON array ordered by name. Followed by `FROM tasks t`.
macro_rules! task_select {
    () => {
        concat!(
            "SELECT ",
            $crate::db::tasks::task_columns!(),
            ", {tags} AS tags"
        )
    };
}
pub(super) use task_select;

impl Store {
    /// Inserts a task and its links; `NotFound(TagInSet)` (nothing written) when a tag id is
    /// not one of the user's.
    pub async fn create_task(&self, user_id: UserId, task: TaskWrite) -> StoreResult<Task> {
        let now = now();
        match task.tags.as_deref() {
            // Nothing to link: the insert alone, one statement and one round trip.
            None | Some([]) => {
                let mut conn = self.backend.write().await?;
                Ok(self
                    .insert_task(conn.conn(), user_id, &task.fields, None, now)
                    .await?)
            }
            Some(tags) => {
                let mut tx = self.backend.begin().await?;
                let id = self
                    .insert_task(tx.conn(), user_id, &task.fields, None, now)
                    .await?
                    .id;
                self.set_tags(&mut tx, user_id, id, tags).await?;
                self.commit_and_return(tx, user_id, id).await
            }
        }
    }

    /// Locks the task, applies `edit` to it and writes the result; `NotFound(Task)` when the
    /// task is not the user's, `NotFound(TagInSet)` when a new tag id is not. When the edit
    /// completes a recurring task that has no successor yet, the next occurrence (with the same
    /// tags) is created in the same transaction.
    pub async fn edit_task<E: From<StoreError>>(
        &self,
        user_id: UserId,
        id: TaskId,
        edit: impl FnOnce(&Task) -> Result<TaskWrite, E> + Send,
    ) -> Result<EditedTask, E> {
        let now = now();
        let mut tx = self.backend.begin().await.map_err(StoreError::from)?;
        let before = self
            .select_task(tx.conn(), user_id, id, true)
            .await
            .map_err(StoreError::from)?
            .ok_or(StoreError::NotFound(Missing::Task))?;
        let write = edit(&before)?;
        Ok(self.write_edit(tx, user_id, &before, write, now).await?)
    }

    /// The rest of [`Store::edit_task`], once the edit is known.
    async fn write_edit(
        &self,
        mut tx: Tx,
        user_id: UserId,
        before: &Task,
        write: TaskWrite,
        now: DateTime<Utc>,
    ) -> StoreResult<EditedTask> {
        let id = before.id;
        self.update_task(tx.conn(), user_id, id, &write.fields, now)
            .await?;
        if let Some(tags) = &write.tags {
            self.set_tags(&mut tx, user_id, id, tags).await?;
        }
        let after = self.task_in(&mut tx, user_id, id).await?;
        if !recurrence::completes_occurrence(before, &after) {
            tx.commit().await?;
            return Ok(EditedTask {
                task: after,
                successor: None,
            });
        }
        let zone = self.user_time_zone(tx.conn(), user_id).await?;
        let Some(next) = recurrence::next_occurrence(&after, &zone) else {
            tx.commit().await?;
            return Ok(EditedTask {
                task: after,
                successor: None,
            });
        };
        let fields = recurrence::successor_fields(&after, &next);
        let next_id = self
            .insert_task(tx.conn(), user_id, &fields, next.recurrence_start, now)
            .await?
            .id;
        self.copy_tags(tx.conn(), user_id, id, next_id).await?;
        self.set_successor(tx.conn(), user_id, id, next_id, now)
            .await?;
        let successor = self.task_in(&mut tx, user_id, next_id).await?;
        let task = self.task_in(&mut tx, user_id, id).await?;
        tx.commit().await?;
        Ok(EditedTask {
            task,
            successor: Some(successor),
        })
    }

    pub async fn find_task(&self, user_id: UserId, id: TaskId) -> StoreResult<Option<Task>> {
        let mut conn = self.backend.read().await?;
        Ok(self.select_task(conn.conn(), user_id, id, false).await?)
    }

    /// Deletes the task; its links go by cascade, its tags stay, and a predecessor's link to
    /// it is cleared (its `recurred_at` stays, so no new successor is made).
    pub async fn delete_task(&self, user_id: UserId, id: TaskId) -> StoreResult<bool> {
        let delete = sql!(
            self.dialect,
            "DELETE FROM tasks WHERE id = $1 AND user_id = $2"
        );
        let unlink = sql!(
            self.dialect,
            "UPDATE tasks SET successor_id = NULL WHERE successor_id = $1 AND user_id = $2"
        );
        let mut tx = self.backend.begin().await?;
        let deleted = self
            .query(delete)
            .bind(id)
            .bind(user_id)
            .execute(tx.conn())
            .await?;
        if deleted == 0 {
            return Ok(false);
        }
        self.query(unlink)
            .bind(id)
            .bind(user_id)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Links a tag to a task; the flag is true when the link is new. `NotFound(Task)` or
    /// `NotFound(Tag)` for whichever is not the user's (the task first).
    pub async fn link_tag(
        &self,
        user_id: UserId,
        task_id: TaskId,
        tag_id: TagId,
    ) -> StoreResult<(Task, bool)> {
        let link = sql!(
            self.dialect,
            "INSERT INTO task_tags (task_id, tag_id, user_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING"
        );
        let mut tx = self.backend.begin().await?;
        self.lock_task_and_tag(&mut tx, user_id, task_id, tag_id)
            .await?;
        let created = self
            .query(link)
            .bind(task_id)
            .bind(tag_id)
            .bind(user_id)
            .execute(tx.conn())
            .await?
            == 1;
        if created {
            self.touch_task(tx.conn(), user_id, task_id).await?;
        }
        Ok((self.commit_and_return(tx, user_id, task_id).await?, created))
    }

    /// Removes a link if there is one; not-found answers as for [`Store::link_tag`]. Returns
    /// the task as it is now.
    pub async fn unlink_tag(
        &self,
        user_id: UserId,
        task_id: TaskId,
        tag_id: TagId,
    ) -> StoreResult<Task> {
        let unlink = sql!(
            self.dialect,
            "DELETE FROM task_tags WHERE task_id = $1 AND tag_id = $2 AND user_id = $3"
        );
        let mut tx = self.backend.begin().await?;
        self.lock_task_and_tag(&mut tx, user_id, task_id, tag_id)
            .await?;
        let removed = self
            .query(unlink)
            .bind(task_id)
            .bind(tag_id)
            .bind(user_id)
            .execute(tx.conn())
            .await?;
        if removed == 1 {
            self.touch_task(tx.conn(), user_id, task_id).await?;
        }
        self.commit_and_return(tx, user_id, task_id).await
    }

    /// The user's open tasks whose `remind_at` is at or before `before`, soonest first.
    pub async fn list_reminders(
        &self,
        user_id: UserId,
        before: DateTime<Utc>,
    ) -> StoreResult<Vec<Task>> {
        let sql = sql!(
            self.dialect,
            concat!(
                task_select!(),
                " FROM tasks t WHERE user_id = $1 AND NOT completed AND remind_at <= $2 \
                 ORDER BY remind_at, id"
            )
        );
        let mut conn = self.backend.read().await?;
        Ok(self
            .query(sql)
            .bind(user_id)
            .bind(Timestamp(before))
            .fetch_all(conn.conn())
            .await?)
    }

    /// Marks up to `limit` due reminders (open tasks whose `remind_at` has come and whose
    /// reminder is armed) as delivered now and returns them. Atomic: of several processes
    /// claiming at once, each reminder goes to exactly one. On PostgreSQL rows another process
    /// is claiming are skipped and `reminded_at IS NULL` is checked again under the row lock;
    /// on SQLite the claim is one write, and another process's claim waits for the write lock
    /// and then finds them taken.
    pub async fn claim_due_reminders(
        &self,
        limit: i64,
    ) -> StoreResult<Vec<super::ClaimedReminder>> {
        let sql = sql!(
            self.dialect,
            "UPDATE tasks SET reminded_at = $2 \
             WHERE id IN (SELECT id FROM tasks \
                          WHERE reminded_at IS NULL AND NOT completed AND remind_at <= $2 \
                          ORDER BY remind_at LIMIT $1{skip_locked}) \
               AND reminded_at IS NULL \
             RETURNING user_id, id"
        );
        let mut conn = self.backend.write().await?;
        Ok(self
            .query(sql)
            .bind(limit)
            .bind(Timestamp(now()))
            .fetch_all(conn.conn())
            .await?)
    }

    /// One of the user's tasks with its tags; locked until the transaction ends when `lock`
    /// is set (on SQLite the single writer serialises edits anyway).
    async fn select_task(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        id: TaskId,
        lock: bool,
    ) -> Result<Option<Task>, sqlx::Error> {
        let sql = if lock {
            sql!(
                self.dialect,
                concat!(
                    task_select!(),
                    " FROM tasks t WHERE id = $1 AND user_id = $2{for_update}"
                )
            )
        } else {
            sql!(
                self.dialect,
                concat!(
                    task_select!(),
                    " FROM tasks t WHERE id = $1 AND user_id = $2"
                )
            )
        };
        self.query(sql)
            .bind(id)
            .bind(user_id)
            .fetch_optional(conn)
            .await
    }

    /// The task as the transaction sees it; it must exist.
    async fn task_in(&self, tx: &mut Tx, user_id: UserId, id: TaskId) -> StoreResult<Task> {
        self.select_task(tx.conn(), user_id, id, false)
            .await?
            .ok_or(StoreError::NotFound(Missing::Task))
    }

    /// Reads the task as the transaction left it, then commits.
    async fn commit_and_return(
        &self,
        mut tx: Tx,
        user_id: UserId,
        id: TaskId,
    ) -> StoreResult<Task> {
        let task = self.task_in(&mut tx, user_id, id).await?;
        tx.commit().await?;
        Ok(task)
    }

    /// Inserts a task and returns it as stored (with no tags yet: a new task has none);
    /// `recurrence_start` is its series' start when it continues one.
    async fn insert_task(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        fields: &TaskFields,
        recurrence_start: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Task, sqlx::Error> {
        let sql = sql!(
            self.dialect,
            concat!(
                "INSERT INTO tasks (user_id, title, title_key, description, description_key, \
                                    completed, completed_at, priority, due_date, remind_at, \
                                    recurrence_rule, created_at, updated_at, recurrence_start) \
                 VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 THEN $11 END, $7, $8, $9, $10, \
                         $11, $11, $12) \
                 RETURNING ",
                task_columns!(),
                ", {no_tags} AS tags"
            )
        );
        self.query(sql)
            .bind(user_id)
            .bind(&fields.title)
            .bind(case_key(fields.title.as_str()))
            .bind(&fields.description)
            .bind(fields.description.as_ref().map(|d| case_key(d.as_str())))
            .bind(fields.completed)
            .bind(fields.priority)
            .bind(fields.due_date.map(Timestamp))
            .bind(fields.remind_at.map(Timestamp))
            .bind(&fields.recurrence_rule)
            .bind(Timestamp(now))
            .bind(recurrence_start.map(Timestamp))
            .fetch_one(conn)
            .await
    }

    /// Writes every column; `completed_at` is set when the task becomes completed and cleared
    /// when it stops being so, a changed `remind_at` re-arms the reminder, and a changed due
    /// date or rule starts a new series.
    async fn update_task(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        id: TaskId,
        fields: &TaskFields,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let sql = sql!(
            self.dialect,
            "UPDATE tasks SET title = $3, title_key = $4, description = $5, \
                 description_key = $6, completed = $7, \
                 completed_at = CASE WHEN NOT $7 THEN NULL \
                                     WHEN completed THEN completed_at \
                                     ELSE $12 END, \
                 priority = $8, due_date = $9, remind_at = $10, recurrence_rule = $11, \
                 updated_at = $12, \
                 reminded_at = CASE WHEN remind_at IS DISTINCT FROM $10 THEN NULL \
                                    ELSE reminded_at END, \
                 recurrence_start = CASE WHEN due_date IS DISTINCT FROM $9 \
                                           OR recurrence_rule IS DISTINCT FROM $11 \
                                         THEN NULL ELSE recurrence_start END \
             WHERE id = $1 AND user_id = $2"
        );
        self.query(sql)
            .bind(id)
            .bind(user_id)
            .bind(&fields.title)
            .bind(case_key(fields.title.as_str()))
            .bind(&fields.description)
            .bind(fields.description.as_ref().map(|d| case_key(d.as_str())))
            .bind(fields.completed)
            .bind(fields.priority)
            .bind(fields.due_date.map(Timestamp))
            .bind(fields.remind_at.map(Timestamp))
            .bind(&fields.recurrence_rule)
            .bind(Timestamp(now))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Makes `tags` exactly the task's tags; every id must be one of the user's tags, else
    /// nothing is written (the caller's transaction is dropped).
    async fn set_tags(
        &self,
        tx: &mut Tx,
        user_id: UserId,
        task_id: TaskId,
        tags: &[TagId],
    ) -> StoreResult<()> {
        let unlink = sql!(
            self.dialect,
            "DELETE FROM task_tags WHERE task_id = $1 AND user_id = $2 AND tag_id {not_any $3}"
        );
        let link = sql!(
            self.dialect,
            "INSERT INTO task_tags (task_id, tag_id, user_id) \
             SELECT $1, id, $2 FROM tags WHERE user_id = $2 AND id {any $3} \
             ON CONFLICT DO NOTHING"
        );
        if self.lock_user_tags(tx.conn(), user_id, tags).await? != tags.len() {
            return Err(StoreError::NotFound(Missing::TagInSet));
        }
        for sql in [unlink, link] {
            self.query(sql)
                .bind(task_id)
                .bind(user_id)
                .bind(IdList::from(tags))
                .execute(tx.conn())
                .await?;
        }
        Ok(())
    }

    /// Locks the task and the tag for the rest of the transaction, or answers not-found for
    /// whichever is not the user's (the task first).
    async fn lock_task_and_tag(
        &self,
        tx: &mut Tx,
        user_id: UserId,
        task_id: TaskId,
        tag_id: TagId,
    ) -> StoreResult<()> {
        self.select_task(tx.conn(), user_id, task_id, true)
            .await?
            .ok_or(StoreError::NotFound(Missing::Task))?;
        if self.lock_user_tags(tx.conn(), user_id, &[tag_id]).await? != 1 {
            return Err(StoreError::NotFound(Missing::Tag));
        }
        Ok(())
    }

    /// Links `id` to its successor and records that it has one.
    async fn set_successor(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        id: TaskId,
        successor: TaskId,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let sql = sql!(
            self.dialect,
            "UPDATE tasks SET successor_id = $3, recurred_at = $4, updated_at = $4 \
             WHERE id = $1 AND user_id = $2"
        );
        self.query(sql)
            .bind(id)
            .bind(user_id)
            .bind(successor)
            .bind(Timestamp(now))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Gives `to` the same tags as `from`.
    async fn copy_tags(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        from: TaskId,
        to: TaskId,
    ) -> Result<(), sqlx::Error> {
        let sql = sql!(
            self.dialect,
            "INSERT INTO task_tags (task_id, tag_id, user_id) \
             SELECT $3, tag_id, user_id FROM task_tags WHERE task_id = $2 AND user_id = $1"
        );
        self.query(sql)
            .bind(user_id)
            .bind(from)
            .bind(to)
            .execute(conn)
            .await
            .map(drop)
    }

    /// Marks the task as written now (its tag set changed).
    async fn touch_task(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        id: TaskId,
    ) -> Result<(), sqlx::Error> {
        let sql = sql!(
            self.dialect,
            "UPDATE tasks SET updated_at = $3 WHERE id = $1 AND user_id = $2"
        );
        self.query(sql)
            .bind(id)
            .bind(user_id)
            .bind(Timestamp(now()))
            .execute(conn)
            .await
            .map(drop)
    }

    /// The user's IANA time zone name.
    async fn user_time_zone(&self, conn: Conn<'_>, user_id: UserId) -> Result<String, sqlx::Error> {
        let sql = sql!(self.dialect, "SELECT timezone FROM users WHERE id = $1");
        let (zone,): (String,) = self.query(sql).bind(user_id).fetch_one(conn).await?;
        Ok(zone)
    }
}
