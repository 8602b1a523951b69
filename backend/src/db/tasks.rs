//! Tasks and their tag links. Every statement is scoped by the owner's id: there is no way to
//! load or change a task by its id alone. Tasks come with their tags aggregated as JSON in the
//! same statement, so a page of tasks is one round trip however many tags they carry.

use chrono::{DateTime, Utc};

use super::{
    Missing, Store, StoreError, StoreResult, TaskFields, TaskWrite, case_key,
    dialect::{Dialect, Sql, sql},
    sessions::live_session,
    sql::{Conn, IdList, Query, Record, Timestamp, Tx},
};
use crate::models::{Caller, Pick, PriorityId, TagId, Task, TaskId, UserId, recurrence};

/// A task's own columns (unqualified), and its series: the first task's id on later
/// occurrences; a recurring task that starts its series is its own.
macro_rules! task_own_columns {
    () => {
        "id, user_id, title, description, completed, completed_at, status_id, priority_id, \
         position, due_date, remind_at, recurrence_rule, created_at, updated_at, reminded_at, \
         successor_id, recurred_at, recurrence_start, \
         COALESCE(series_id, CASE WHEN recurrence_rule IS NOT NULL \
                                    OR recurred_at IS NOT NULL THEN id END) AS series_id"
    };
}
pub(super) use task_own_columns;

/// A task's columns, for `SELECT … FROM tasks t` (`$alias` `"t"`) and for `RETURNING`
/// (`"tasks"`): its own, and its status's and priority's names (primary-key lookups).
macro_rules! task_columns {
    ($alias:literal) => {
        concat!(
            $crate::db::tasks::task_own_columns!(),
            ", (SELECT cs.name FROM statuses cs WHERE cs.id = ",
            $alias,
            ".status_id) AS status, \
             (SELECT cp.name FROM priorities cp WHERE cp.id = ",
            $alias,
            ".priority_id) AS priority"
        )
    };
}
pub(super) use task_columns;

/// A task with its tags as a JSON array ordered by name. Followed by `FROM tasks t`.
macro_rules! task_select {
    () => {
        concat!(
            "SELECT ",
            $crate::db::tasks::task_columns!("t"),
            ", {tags} AS tags"
        )
    };
}
pub(super) use task_select;

/// The update of every writable column of one of the user's tasks, `$1` the owner and `$2` to
/// `$12` as [`Store::bind_fields`] binds them, `$13` the task; for [`Store::update_task`]. A
/// status or priority left to the default is the user's default (of the kind `completed` says).
macro_rules! task_update {
    () => {
        "UPDATE tasks SET title = $2, title_key = $3, description = $4, \
                 description_key = $5, completed = $6, \
                 completed_at = CASE WHEN NOT $6 THEN NULL \
                                     WHEN completed THEN completed_at \
                                     ELSE $11 END, \
                 status_id = COALESCE($12, (SELECT ds.id FROM statuses ds \
                                           WHERE ds.user_id = $1 AND ds.is_default \
                                             AND ds.done = $6)), \
                 priority_id = COALESCE($7, (SELECT dp.id FROM priorities dp \
                                            WHERE dp.user_id = $1 AND dp.is_default)), \
                 due_date = $8, remind_at = $9, recurrence_rule = $10, \
                 updated_at = $11, \
                 reminded_at = CASE WHEN remind_at IS DISTINCT FROM $9 THEN NULL \
                                    ELSE reminded_at END, \
                 recurrence_start = CASE WHEN due_date IS DISTINCT FROM $8 \
                                           OR recurrence_rule IS DISTINCT FROM $10 \
                                         THEN NULL ELSE recurrence_start END \
             WHERE user_id = $1 AND id = $13"
    };
}

/// How many times [`Store::edit_unlocked`] applies an edit to a task that another write keeps
/// changing before it leaves the edit to a transaction that locks the row.
const UNLOCKED_TRIES: usize = 3;

/// A task as read, and the version of its row that the read saw.
#[derive(sqlx::FromRow)]
struct Versioned {
    #[sqlx(flatten)]
    task: Task,
    version: String,
}

impl Store {
    /// Inserts one of the caller's tasks and its links; `NotFound(TagInSet)` (nothing written)
    /// when a tag id is not one of the user's.
    pub async fn create_task(&self, caller: &Caller, task: TaskWrite) -> StoreResult<Task> {
        let Some(tags) = task.tags.filter(|tags| !tags.is_empty()) else {
            // Nothing to link: the insert alone, one statement and one round trip.
            let mut conn = self.backend.write(&self.health).await?;
            let free = !task.completed_given;
            let task = self
                .insert_task(
                    conn.conn(),
                    caller,
                    &task.fields,
                    free,
                    None,
                    None,
                    self.now(),
                )
                .await?;
            conn.finish().await?;
            return Ok(task);
        };
        let mut tx = self.backend.begin(&self.health).await?;
        let free = !task.completed_given;
        let task = self.insert_task(
            tx.conn(),
            caller,
            &task.fields,
            free,
            None,
            None,
            self.now(),
        );
        let id = task.await?.id;
        self.set_tags(&mut tx, caller.user_id, id, &tags).await?;
        let task = self.task_in(&mut tx, caller.user_id, id).await?;
        tx.commit().await?;
        Ok(task)
    }

    /// Applies `edit` to the task as it is (its fields: the tags it is given may be left out)
    /// and writes the fields it returns, and `tags` (when given) as the task's complete new tag
    /// set; `NotFound(Task)` when the task is not the caller's, `NotFound(TagInSet)` when a
    /// new tag id is not (nothing written). When the edit completes a recurring task that has
    /// no successor yet, the next occurrence (with the same tags) is created in the same
    /// transaction.
    ///
    /// On PostgreSQL an edit that writes no tags is first tried without a transaction (see
    /// [`Store::edit_unlocked`]): two statements, where a transaction takes four round trips
    /// (`BEGIN`, the locked read, the update, `COMMIT`). Every other edit, and one that lost
    /// [`UNLOCKED_TRIES`] races or completes an occurrence, locks the row before it reads it.
    pub async fn edit_task<E: From<StoreError>>(
        &self,
        caller: &Caller,
        id: TaskId,
        tags: Option<Vec<TagId>>,
        edit: impl Fn(&Task) -> Result<TaskFields, E> + Send + Sync,
    ) -> Result<Task, E> {
        if tags.is_none()
            && self.dialect == Dialect::Postgres
            && let Some(task) = self.edit_unlocked(caller, id, &edit).await?
        {
            return Ok(task);
        }
        let now = self.now();
        let (tx, before) = self.begin_on_task(caller, id).await?;
        let write = TaskWrite {
            fields: edit(&before)?,
            tags,
            completed_given: true,
        };
        Ok(self.write_edit(tx, caller, &before, write, now).await?)
    }

    /// An edit of a task's fields with no lock held between its read and its write: the task is
    /// read with its row version (PostgreSQL's `xmin`, which every committed update of the row
    /// changes), and the update applies only where the row is still that version and the
    /// caller's session is still live. When another write came between, the edit is applied
    /// again to the task as that write left it. The task as written; `None` when the edit
    /// completes an occurrence (whose successor needs the transaction) or lost
    /// [`UNLOCKED_TRIES`] races: nothing was written, and the caller locks the row instead.
    ///
    /// Each statement commits on its own, so a request abandoned between them leaves the task
    /// as it was or as edited, never half of it. Two writes of a task are still ordered in the
    /// change log as they were applied: the update takes the row lock before the trigger
    /// records it, as the locked read does in a transaction.
    async fn edit_unlocked<E: From<StoreError>>(
        &self,
        caller: &Caller,
        id: TaskId,
        edit: &(impl Fn(&Task) -> Result<TaskFields, E> + Sync),
    ) -> Result<Option<Task>, E> {
        let mut conn = self
            .backend
            .write(&self.health)
            .await
            .map_err(StoreError::from)?;
        for _ in 0..UNLOCKED_TRIES {
            let Versioned {
                task: before,
                version,
            } = self
                .versioned_task(conn.conn(), caller, id)
                .await?
                .ok_or(StoreError::NotFound(Missing::Task))?;
            let fields = edit(&before)?;
            // A new status or priority is checked under a lock, in a transaction.
            let picks_kept = fields.status.id().is_none_or(|id| id == before.status_id)
                && fields
                    .priority
                    .id()
                    .is_none_or(|id| id == before.priority_id);
            if recurrence::completes_occurrence(&before, &fields) || !picks_kept {
                return Ok(None);
            }
            let after = self
                .update_version(conn.conn(), caller, id, &version, &fields)
                .await?;
            if let Some(after) = after {
                conn.finish().await.map_err(StoreError::from)?;
                return Ok(Some(after));
            }
        }
        Ok(None)
    }

    /// The rest of [`Store::edit_task`], once the edit is known: [`Store::apply_edit`], then
    /// the commit.
    async fn write_edit(
        &self,
        mut tx: Tx,
        caller: &Caller,
        before: &Task,
        write: TaskWrite,
        now: Timestamp,
    ) -> StoreResult<Task> {
        let task = self.apply_edit(&mut tx, caller, before, write, now).await?;
        tx.commit().await?;
        Ok(task)
    }

    /// Writes an edit of a task locked in `tx`: the new tag set first, so that the update's
    /// `RETURNING` answers the task as it now is; and, when the edit completes an occurrence,
    /// its successor.
    pub(super) async fn apply_edit(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        before: &Task,
        write: TaskWrite,
        now: Timestamp,
    ) -> StoreResult<Task> {
        let (id, user_id) = (before.id, caller.user_id);
        self.check_picks(tx, user_id, before, &write.fields).await?;
        if let Some(tags) = &write.tags {
            self.set_tags(tx, user_id, id, tags).await?;
        }
        let after = self
            .update_task(tx.conn(), user_id, id, &write.fields, now)
            .await?;
        let zone = if recurrence::completes_occurrence(before, &write.fields) {
            Some(self.user_time_zone(tx.conn(), user_id).await?)
        } else {
            None
        };
        let Some(next) = zone.and_then(|zone| recurrence::next_occurrence(&after, &zone)) else {
            return Ok(after);
        };
        let fields = recurrence::successor_fields(&after, &next);
        let series = Some(after.series_id.unwrap_or(id));
        let next = self.insert_task(
            tx.conn(),
            caller,
            &fields,
            false,
            next.recurrence_start,
            series,
            now,
        );
        let next_id = next.await?.id;
        self.copy_tags(tx.conn(), user_id, id, next_id).await?;
        self.set_successor(tx.conn(), user_id, id, next_id, now)
            .await?;
        self.task_in(tx, user_id, id).await
    }

    /// One of the caller's tasks: the session check and the read are one statement.
    pub async fn find_task(&self, caller: &Caller, id: TaskId) -> StoreResult<Option<Task>> {
        let mut conn = self.backend.read(&self.health).await?;
        self.caller_task(conn.conn(), caller, id, false).await
    }

    /// Deletes one of the caller's tasks; its links go by cascade, its tags stay, and a
    /// predecessor's link to it is cleared (its `recurred_at` stays, so no new successor is
    /// made; its `updated_at` moves). False when it is not the caller's.
    pub async fn delete_task(&self, caller: &Caller, id: TaskId) -> StoreResult<bool> {
        let delete = sql!(concat!(
            "DELETE FROM tasks WHERE id = $1 AND user_id = $2 AND ",
            live_session!("$3", "$2")
        ));
        let unlink = sql!(
            "UPDATE tasks SET successor_id = NULL, updated_at = $3 \
             WHERE successor_id = $1 AND user_id = $2"
        );
        let mut tx = self.backend.begin(&self.health).await?;
        let deleted = self
            .query(delete, (id, caller.user_id, caller.session_id))
            .execute(tx.conn())
            .await?;
        if deleted == 0 {
            self.session_is_live(tx.conn(), caller).await?;
            return Ok(false);
        }
        // The predecessor's successor link changes: it was written now.
        self.query(unlink, (id, caller.user_id, self.now()))
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Links a tag to a task; the flag is true when the link is new. `NotFound(Task)` or
    /// `NotFound(Tag)` for whichever is not the caller's (the task first).
    pub async fn link_tag(
        &self,
        caller: &Caller,
        task_id: TaskId,
        tag_id: TagId,
    ) -> StoreResult<(Task, bool)> {
        let link = sql!(
            "INSERT INTO task_tags (task_id, tag_id, user_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING"
        );
        self.change_link(caller, task_id, tag_id, link).await
    }

    /// Removes a link if there is one; not-found answers as for [`Store::link_tag`]. Returns
    /// the task as it is now.
    pub async fn unlink_tag(
        &self,
        caller: &Caller,
        task_id: TaskId,
        tag_id: TagId,
    ) -> StoreResult<Task> {
        let unlink =
            sql!("DELETE FROM task_tags WHERE task_id = $1 AND tag_id = $2 AND user_id = $3");
        Ok(self.change_link(caller, task_id, tag_id, unlink).await?.0)
    }

    /// Locks the task and the tag, runs `sql` (a link's insert or delete) and answers the task
    /// as it now is, and whether the statement changed a link (then the task was written now).
    async fn change_link(
        &self,
        caller: &Caller,
        task_id: TaskId,
        tag_id: TagId,
        sql: &'static Sql,
    ) -> StoreResult<(Task, bool)> {
        let mut tx = self.backend.begin(&self.health).await?;
        self.caller_task(tx.conn(), caller, task_id, true)
            .await?
            .ok_or(StoreError::NotFound(Missing::Task))?;
        if self
            .lock_user_tags(tx.conn(), caller.user_id, &[tag_id])
            .await?
            != 1
        {
            return Err(StoreError::NotFound(Missing::Tag));
        }
        let changed = self
            .query(sql, (task_id, tag_id, caller.user_id))
            .execute(tx.conn())
            .await?
            == 1;
        // Read after the change: a row lock that waited for another transaction does not see
        // that transaction's links in the statement that took it.
        let task = match changed {
            true => self.touch_task(tx.conn(), caller.user_id, task_id).await?,
            false => self.task_in(&mut tx, caller.user_id, task_id).await?,
        };
        tx.commit().await?;
        Ok((task, changed))
    }

    /// The caller's open tasks whose `remind_at` is at or before `before`, soonest first.
    pub async fn list_reminders(
        &self,
        caller: &Caller,
        before: DateTime<Utc>,
    ) -> StoreResult<Vec<Task>> {
        let sql = sql!(concat!(
            task_select!(),
            " FROM tasks t WHERE user_id = $1 AND NOT completed AND remind_at <= $2 \
                 ORDER BY remind_at, id"
        ));
        let mut conn = self.backend.read(&self.health).await?;
        self.session_is_live(conn.conn(), caller).await?;
        Ok(self
            .query(sql, (caller.user_id, Timestamp(before)))
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
            "UPDATE tasks SET reminded_at = $2 \
             WHERE id IN (SELECT id FROM tasks \
                          WHERE reminded_at IS NULL AND NOT completed AND remind_at <= $2 \
                          ORDER BY remind_at LIMIT $1{skip_locked}) \
               AND reminded_at IS NULL \
             RETURNING user_id, id"
        );
        let mut conn = self.backend.write(&self.health).await?;
        let reminded = self
            .query(sql, (limit, self.now()))
            .fetch_all(conn.conn())
            .await?;
        conn.finish().await?;
        Ok(reminded)
    }

    /// Begins a transaction and reads the caller's task `id` in it, locked until the
    /// transaction ends (see [`Store::caller_task`]); `NotFound(Task)` when there is none.
    pub(super) async fn begin_on_task(
        &self,
        caller: &Caller,
        id: TaskId,
    ) -> StoreResult<(Tx, Task)> {
        let mut tx = self.backend.begin(&self.health).await?;
        let task = self
            .caller_task(tx.conn(), caller, id, true)
            .await?
            .ok_or(StoreError::NotFound(Missing::Task))?;
        Ok((tx, task))
    }

    /// One of the caller's tasks, with the session check folded into the same statement;
    /// locked until the transaction ends when `lock` is set (on SQLite the single writer
    /// serialises edits anyway), and then without its tags and the names of its status and
    /// priority (empty).
    pub(super) async fn caller_task(
        &self,
        conn: Conn<'_>,
        caller: &Caller,
        id: TaskId,
        lock: bool,
    ) -> StoreResult<Option<Task>> {
        // A locked read is the start of a write, which uses the task's own columns only (its
        // tags, status and priority by id): the names and the tags are not read.
        let sql = if lock {
            sql!(concat!(
                "SELECT ",
                task_own_columns!(),
                ", '' AS status, '' AS priority, {no_tags} AS tags \
                 FROM tasks t WHERE id = $1 AND user_id = $2 AND ",
                live_session!("$3", "$2"),
                "{for_update}"
            ))
        } else {
            sql!(concat!(
                task_select!(),
                " FROM tasks t WHERE id = $1 AND user_id = $2 AND ",
                live_session!("$3", "$2")
            ))
        };
        self.caller_row(conn, caller, id, sql).await
    }

    /// What `sql` (with `$1` the task, `$2` the caller's id and `$3` their session, checked in
    /// the statement) finds; `SessionEnded` when it finds nothing because the session ended.
    async fn caller_row<T: Record>(
        &self,
        mut conn: Conn<'_>,
        caller: &Caller,
        id: TaskId,
        sql: &'static Sql,
    ) -> StoreResult<Option<T>> {
        let row = self
            .query(sql, (id, caller.user_id, caller.session_id))
            .fetch_optional(conn.reborrow())
            .await?;
        self.unless_ended(conn, caller, row).await
    }

    /// One of the user's tasks with its tags.
    pub(super) async fn select_task(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        id: TaskId,
    ) -> Result<Option<Task>, sqlx::Error> {
        let sql = sql!(concat!(
            task_select!(),
            " FROM tasks t WHERE id = $1 AND user_id = $2"
        ));
        self.query(sql, (id, user_id)).fetch_optional(conn).await
    }

    /// The task as the transaction sees it; it must exist.
    pub(super) async fn task_in(
        &self,
        tx: &mut Tx,
        user_id: UserId,
        id: TaskId,
    ) -> StoreResult<Task> {
        self.select_task(tx.conn(), user_id, id)
            .await?
            .ok_or(StoreError::NotFound(Missing::Task))
    }

    /// Inserts one of the caller's tasks and returns it as stored (with no tags yet: a new
    /// task has none), in one statement with the session check and the choice of its status
    /// and priority (by id, by name, or the defaults), at the top of the manual order.
    /// `recurrence_start` and `series` are its series' start and first task when it continues
    /// one. With a status named and `completed_free`, the status decides `completed`; otherwise
    /// they must agree. `NotFound(Status | Priority | StatusKind)` when they do not resolve.
    #[allow(
        clippy::too_many_arguments,
        reason = "the columns a new task takes from outside"
    )]
    async fn insert_task(
        &self,
        mut conn: Conn<'_>,
        caller: &Caller,
        fields: &TaskFields,
        completed_free: bool,
        recurrence_start: Option<DateTime<Utc>>,
        series: Option<TaskId>,
        now: Timestamp,
    ) -> StoreResult<Task> {
        let sql = sql!(concat!(
            "INSERT INTO tasks (user_id, title, title_key, description, description_key, \
                                completed, completed_at, status_id, priority_id, position, \
                                due_date, remind_at, recurrence_rule, created_at, updated_at, \
                                recurrence_start, series_id) \
             SELECT $1, $2, $3, $4, $5, s.done, CASE WHEN s.done THEN {time $11} END, s.id, p.id, \
                    {top_position $1}, $8, $9, $10, $11, $11, $13, $16 \
             FROM statuses s, priorities p \
             WHERE s.user_id = $1 \
               AND CASE WHEN $12 IS NOT NULL THEN s.id = $12 \
                        WHEN $14 IS NOT NULL THEN s.name = $14 AND ($17 OR s.done = $6) \
                        ELSE s.is_default AND s.done = $6 END \
               AND p.user_id = $1 \
               AND CASE WHEN $7 IS NOT NULL THEN p.id = $7 \
                        WHEN $15 IS NOT NULL THEN p.name = $15 \
                        ELSE p.is_default END \
               AND ",
            live_session!("$18", "$1"),
            " RETURNING ",
            task_columns!("tasks"),
            ", {no_tags} AS tags"
        ));
        let names = (
            recurrence_start.map(Timestamp),
            fields.status.name(),
            fields.priority.name(),
            series,
            completed_free,
            caller.session_id,
        );
        let task = self
            .bind_fields(sql, caller.user_id, fields, now)
            .binds(names)
            .fetch_optional(conn.reborrow())
            .await?;
        if task.is_none() {
            self.session_is_live(conn.reborrow(), caller).await?;
            return Err(self.unresolved(conn, caller.user_id, fields).await?);
        }
        Ok(task.expect("checked above"))
    }

    /// Why a task's status or priority did not resolve (see [`Store::insert_task`]).
    async fn unresolved(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        fields: &TaskFields,
    ) -> StoreResult<StoreError> {
        let sql = sql!(
            "SELECT (SELECT s.done FROM statuses s WHERE s.user_id = $1 \
                       AND (s.id = $2 OR s.name = $3)) AS done, \
                    EXISTS (SELECT 1 FROM priorities p WHERE p.user_id = $1 \
                       AND (p.id = $4 OR p.name = $5)) AS priority"
        );
        let values = (
            user_id,
            fields.status.id(),
            fields.status.name(),
            fields.priority.id(),
            fields.priority.name(),
        );
        let (done, priority): (Option<bool>, bool) =
            self.query(sql, values).fetch_one(conn).await?;
        let status_picked = !matches!(fields.status, Pick::Default);
        let priority_picked = !matches!(fields.priority, Pick::Default);
        Ok(StoreError::NotFound(match done {
            None if status_picked => Missing::Status,
            _ if priority_picked && !priority => Missing::Priority,
            Some(_) => Missing::StatusKind,
            // Only the defaults were asked for and one is missing: the session check above
            // passed, so the account is being deleted.
            None => Missing::Status,
        }))
    }

    /// Checks, in the write's transaction, that a status or priority the edit gives the task
    /// (other than the ones it has) is the user's, and the status of the kind `completed` says;
    /// on PostgreSQL it stays so until the transaction ends (`FOR KEY SHARE`: its deletion
    /// waits). `NotFound(Status | Priority | StatusKind)` otherwise.
    async fn check_picks(
        &self,
        tx: &mut Tx,
        user_id: UserId,
        before: &Task,
        fields: &TaskFields,
    ) -> StoreResult<()> {
        if let Pick::Id(status) = fields.status
            && status != before.status_id
        {
            let sql =
                sql!("SELECT done FROM statuses WHERE user_id = $1 AND id = $2{for_key_share}");
            let done: Option<(bool,)> = self
                .query(sql, (user_id, status))
                .fetch_optional(tx.conn())
                .await?;
            match done {
                None => return Err(StoreError::NotFound(Missing::Status)),
                Some((done,)) if done != fields.completed => {
                    return Err(StoreError::NotFound(Missing::StatusKind));
                }
                Some(_) => {}
            }
        }
        if let Pick::Id(priority) = fields.priority
            && priority != before.priority_id
        {
            let sql =
                sql!("SELECT id FROM priorities WHERE user_id = $1 AND id = $2{for_key_share}");
            let found: Option<(PriorityId,)> = self
                .query(sql, (user_id, priority))
                .fetch_optional(tx.conn())
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound(Missing::Priority));
            }
        }
        Ok(())
    }

    /// `sql` with `$1` to `$12` of an insert or update bound: the owner, the fields, the time
    /// and the status (`$7` the priority's id, `$12` the status's; null for a default or a name).
    fn bind_fields<'q>(
        &self,
        sql: &'static Sql,
        user_id: UserId,
        fields: &'q TaskFields,
        now: Timestamp,
    ) -> Query<'q> {
        let TaskFields {
            title, description, ..
        } = fields;
        let keys = (
            case_key(title.as_str()),
            description.as_ref().map(|d| case_key(d.as_str())),
        );
        let times = (
            fields.due_date.map(Timestamp),
            fields.remind_at.map(Timestamp),
        );
        self.query(
            sql,
            (
                user_id,
                title,
                keys.0,
                description,
                keys.1,
                fields.completed,
            ),
        )
        .binds((
            fields.priority.id(),
            times.0,
            times.1,
            &fields.recurrence_rule,
            now,
            fields.status.id(),
        ))
    }

    /// Writes every column and returns the task as it now is; `completed_at` is set when the
    /// task becomes completed and cleared when it stops being so, a changed `remind_at` re-arms
    /// the reminder, and a changed due date or rule starts a new series.
    async fn update_task(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
        id: TaskId,
        fields: &TaskFields,
        now: Timestamp,
    ) -> StoreResult<Task> {
        let sql = sql!(concat!(
            task_update!(),
            " RETURNING ",
            task_columns!("tasks"),
            ", {tags tasks} AS tags"
        ));
        self.bind_fields(sql, user_id, fields, now)
            .bind(id)
            .fetch_optional(conn)
            .await?
            .ok_or(StoreError::NotFound(Missing::Task))
    }

    /// One of the caller's tasks with its row version, for [`Store::edit_unlocked`]
    /// (PostgreSQL only). Without its tags and the names of its status and priority: an edit of
    /// the fields does not read them, and the update answers them.
    async fn versioned_task(
        &self,
        conn: Conn<'_>,
        caller: &Caller,
        id: TaskId,
    ) -> StoreResult<Option<Versioned>> {
        let sql = sql!(concat!(
            "SELECT ",
            task_own_columns!(),
            ", '' AS status, '' AS priority, {no_tags} AS tags, t.xmin::text AS version \
             FROM tasks t \
             WHERE id = $1 AND user_id = $2 AND ",
            live_session!("$3", "$2")
        ));
        self.caller_row(conn, caller, id, sql).await
    }

    /// [`Store::update_task`] where the row is still `version` and the caller's session is
    /// live; `None` (nothing written) otherwise. PostgreSQL only.
    async fn update_version(
        &self,
        conn: Conn<'_>,
        caller: &Caller,
        id: TaskId,
        version: &str,
        fields: &TaskFields,
    ) -> StoreResult<Option<Task>> {
        let sql = sql!(concat!(
            task_update!(),
            " AND xmin::text = $14 AND ",
            live_session!("$15", "$1"),
            " RETURNING ",
            task_columns!("tasks"),
            ", {tags tasks} AS tags"
        ));
        Ok(self
            .bind_fields(sql, caller.user_id, fields, self.now())
            .binds((id, version, caller.session_id))
            .fetch_optional(conn)
            .await?)
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
            "DELETE FROM task_tags WHERE task_id = $1 AND user_id = $2 AND tag_id {not_any $3}"
        );
        let link = sql!(
            "INSERT INTO task_tags (task_id, tag_id, user_id) \
             SELECT $1, id, $2 FROM tags WHERE user_id = $2 AND id {any $3} \
             ON CONFLICT DO NOTHING"
        );
        if self.lock_user_tags(tx.conn(), user_id, tags).await? != tags.len() {
            return Err(StoreError::NotFound(Missing::TagInSet));
        }
        for sql in [unlink, link] {
            self.query(sql, (task_id, user_id, IdList::from(tags)))
                .execute(tx.conn())
                .await?;
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
        now: Timestamp,
    ) -> Result<(), sqlx::Error> {
        let sql = sql!(
            "UPDATE tasks SET successor_id = $3, recurred_at = $4, updated_at = $4 \
             WHERE id = $1 AND user_id = $2"
        );
        let values = (id, user_id, successor, now);
        self.query(sql, values).execute(conn).await.map(drop)
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
            "INSERT INTO task_tags (task_id, tag_id, user_id) \
             SELECT $3, tag_id, user_id FROM task_tags WHERE task_id = $2 AND user_id = $1"
        );
        self.query(sql, (user_id, from, to))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Marks the task as written now (its tag set changed) and returns it as it now is.
    async fn touch_task(&self, conn: Conn<'_>, user_id: UserId, id: TaskId) -> StoreResult<Task> {
        let sql = sql!(concat!(
            "UPDATE tasks SET updated_at = $3 WHERE id = $1 AND user_id = $2 RETURNING ",
            task_columns!("tasks"),
            ", {tags tasks} AS tags"
        ));
        self.query(sql, (id, user_id, self.now()))
            .fetch_optional(conn)
            .await?
            .ok_or(StoreError::NotFound(Missing::Task))
    }

    /// The user's IANA time zone name.
    pub(super) async fn user_time_zone(
        &self,
        conn: Conn<'_>,
        user_id: UserId,
    ) -> Result<String, sqlx::Error> {
        let sql = sql!("SELECT timezone FROM users WHERE id = $1");
        let (zone,): (String,) = self.query(sql, (user_id,)).fetch_one(conn).await?;
        Ok(zone)
    }
}
