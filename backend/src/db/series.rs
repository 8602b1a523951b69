//! Operations on a whole recurring series: skipping an occurrence, deleting the series, and an
//! edit of an occurrence and every later one. A series is a chain of successors (each created
//! when the one before was completed); every later occurrence records the first task's id in
//! `series_id`.

use super::{Refusal, Store, StoreError, StoreResult, dialect::sql, tasks::task_columns};
use crate::models::{Caller, TagId, Task, TaskFields, TaskId, TaskWrite, recurrence};

impl Store {
    /// Moves an open recurring task to its rule's next occurrence, without completing it: its
    /// due date, and its reminder by the same amount (re-armed). `Refused(NotRecurring)`
    /// without a rule, `Refused(NotOpen)` for a completed task, `Refused(SeriesEnded)` when the
    /// rule has no occurrence after this one.
    pub async fn skip_task(&self, caller: &Caller, id: TaskId) -> StoreResult<Task> {
        let sql = sql!(concat!(
            "UPDATE tasks SET due_date = $3, remind_at = $4, recurrence_start = $5, \
                 reminded_at = CASE WHEN remind_at IS DISTINCT FROM $4 THEN NULL \
                                    ELSE reminded_at END, \
                 updated_at = $6 \
             WHERE id = $1 AND user_id = $2 RETURNING ",
            task_columns!("tasks"),
            ", {tags tasks} AS tags"
        ));
        let (mut tx, task) = self.begin_on_task(caller, id).await?;
        if task.recurrence_rule.is_none() || task.due_date.is_none() {
            return Err(StoreError::Refused(Refusal::NotRecurring));
        }
        if task.completed {
            return Err(StoreError::Refused(Refusal::NotOpen));
        }
        let zone = self.user_time_zone(tx.conn(), caller.user_id).await?;
        let next = recurrence::next_occurrence(&task, &zone)
            .ok_or(StoreError::Refused(Refusal::SeriesEnded))?;
        let values = (
            id,
            caller.user_id,
            super::sql::Timestamp(next.due_date),
            next.remind_at.map(super::sql::Timestamp),
            next.recurrence_start.map(super::sql::Timestamp),
            self.now(),
        );
        let skipped = self.query(sql, values).fetch_one(tx.conn()).await?;
        tx.commit().await?;
        Ok(skipped)
    }

    /// Deletes the task's whole series: every occurrence, completed ones included (a task in
    /// no series goes alone). False when the task is not the caller's.
    pub async fn delete_series(&self, caller: &Caller, id: TaskId) -> StoreResult<bool> {
        let unlink = sql!(
            "UPDATE tasks SET successor_id = NULL, updated_at = $3 \
             WHERE user_id = $1 AND id <> $2 AND (series_id IS NULL OR series_id <> $2) \
               AND successor_id IN (SELECT s.id FROM tasks s \
                                    WHERE s.user_id = $1 AND (s.id = $2 OR s.series_id = $2))"
        );
        let delete = sql!("DELETE FROM tasks WHERE user_id = $1 AND (id = $2 OR series_id = $2)");
        let mut tx = self.backend.begin(&self.health).await?;
        let Some(task) = self.caller_task(tx.conn(), caller, id, true).await? else {
            return Ok(false);
        };
        let series = task.series_id.unwrap_or(task.id);
        self.query(unlink, (caller.user_id, series, self.now()))
            .execute(tx.conn())
            .await?;
        self.query(delete, (caller.user_id, series))
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Applies `edit` to the task, and `later` to each later occurrence of its series (its
    /// successor, that one's, …), in one transaction; `tags` (when given) becomes the tag set
    /// of each. The task as written.
    pub async fn edit_following<E: From<StoreError>>(
        &self,
        caller: &Caller,
        id: TaskId,
        tags: Option<Vec<TagId>>,
        edit: impl Fn(&Task) -> Result<TaskFields, E> + Send + Sync,
        later: impl Fn(&Task) -> Result<TaskFields, E> + Send + Sync,
    ) -> Result<Task, E> {
        let now = self.now();
        let (mut tx, before) = self.begin_on_task(caller, id).await?;
        let write = TaskWrite {
            fields: edit(&before)?,
            tags: tags.clone(),
            completed_given: true,
        };
        let first = self
            .apply_edit(&mut tx, caller, &before, write, now)
            .await?;
        let mut next = first.successor_id;
        // A chain is finite (each successor is newer than its predecessor); the bound guards
        // against a damaged one.
        for _ in 0..100_000 {
            let Some(id) = next else { break };
            let Some(before) = self.caller_task(tx.conn(), caller, id, true).await? else {
                break;
            };
            let write = TaskWrite {
                fields: later(&before)?,
                tags: tags.clone(),
                completed_given: true,
            };
            let after = self
                .apply_edit(&mut tx, caller, &before, write, now)
                .await?;
            next = after.successor_id;
        }
        let task = self.task_in(&mut tx, caller.user_id, first.id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(task)
    }
}
