//! The manual order of a user's tasks: each task's `position`, smallest first (ties by id).
//!
//! Positions are spaced ([`GAP`] apart when made), so that placing a task writes that task's
//! row alone: between two neighbours it takes the middle of their gap, at the top the next
//! value of a descending sequence (PostgreSQL; see the migration statuses_priorities_order) or
//! the smallest position less [`GAP`] (SQLite), at the bottom the largest plus [`GAP`]. Only
//! when a gap is used up are the user's positions spread out again, in one statement that keeps
//! the order (and the smallest position, so that the top stays below it).
//!
//! Moves of one user's tasks are serialised: each takes the user's row lock (`FOR NO KEY
//! UPDATE`, which task inserts and their foreign-key checks do not wait for) on PostgreSQL, and
//! SQLite's single writer serialises them anyway. Creates go to the top without that lock: the
//! sequence hands each a position of its own.

use super::{
    Missing, Store, StoreError, StoreResult,
    dialect::sql,
    sessions::live_session,
    sql::{Timestamp, Tx},
    tasks::task_columns,
};
use crate::models::{Caller, Task, TaskId, UserId};

/// The space left between positions when they are made.
pub const GAP: i64 = 65_536;

/// Where a move puts a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Top,
    Bottom,
    Before(TaskId),
    After(TaskId),
}

impl Store {
    /// Places one of the caller's tasks; `NotFound(Task)` when it, or the task it is placed
    /// next to, is not the caller's.
    pub async fn move_task(
        &self,
        caller: &Caller,
        id: TaskId,
        placement: Placement,
    ) -> StoreResult<Task> {
        let mut tx = self.backend.begin(&self.health).await?;
        self.lock_order(&mut tx, caller).await?;
        let moved = self.order_of(&mut tx, caller.user_id, &[id]).await?;
        let Some(&(_, current)) = moved.first() else {
            return Err(StoreError::NotFound(Missing::Task));
        };
        let position = match placement {
            Placement::Top => self.top(&mut tx, caller.user_id).await?,
            Placement::Bottom => self.bottom(&mut tx, caller.user_id, &[id]).await?,
            Placement::Before(next) | Placement::After(next) => {
                let found = self.order_of(&mut tx, caller.user_id, &[next]).await?;
                let Some(&(_, anchor)) = found.first() else {
                    return Err(StoreError::NotFound(Missing::Task));
                };
                let before = matches!(placement, Placement::Before(_));
                match self
                    .beside(&mut tx, caller.user_id, id, anchor, before)
                    .await?
                {
                    Some(position) => position,
                    None => {
                        self.spread(&mut tx, caller.user_id).await?;
                        let found = self.order_of(&mut tx, caller.user_id, &[next]).await?;
                        let anchor = found.first().map_or(anchor, |&(_, at)| at);
                        self.beside(&mut tx, caller.user_id, id, anchor, before)
                            .await?
                            .unwrap_or(current)
                    }
                }
            }
        };
        let task = self
            .set_position(&mut tx, caller.user_id, id, position, self.now())
            .await?;
        tx.commit().await?;
        Ok(task)
    }

    /// Places `ids` (the caller's tasks, each once) in that order, starting at the position the
    /// topmost of them held, right before the next task that is not one of them; the others
    /// stay where they are. The tasks in their new order; `NotFound(Task)` when one is not
    /// the caller's (nothing is written).
    pub async fn reorder_tasks(&self, caller: &Caller, ids: &[TaskId]) -> StoreResult<Vec<Task>> {
        let mut tx = self.backend.begin(&self.health).await?;
        self.lock_order(&mut tx, caller).await?;
        let mut found = self.order_of(&mut tx, caller.user_id, ids).await?;
        if found.len() != ids.len() {
            return Err(StoreError::NotFound(Missing::Task));
        }
        let mut positions = self.block(&mut tx, caller.user_id, &found, ids).await?;
        if positions.is_none() {
            self.spread(&mut tx, caller.user_id).await?;
            found = self.order_of(&mut tx, caller.user_id, ids).await?;
            positions = self.block(&mut tx, caller.user_id, &found, ids).await?;
        }
        let positions = positions.ok_or(StoreError::NotFound(Missing::Task))?;
        let now = self.now();
        let mut tasks = Vec::with_capacity(ids.len());
        for (&id, position) in ids.iter().zip(positions) {
            tasks.push(
                self.set_position(&mut tx, caller.user_id, id, position, now)
                    .await?,
            );
        }
        tx.commit().await?;
        Ok(tasks)
    }

    /// Serialises the moves of the caller's tasks (see the module), checking the session.
    async fn lock_order(&self, tx: &mut Tx, caller: &Caller) -> StoreResult<()> {
        let sql = sql!(concat!(
            "SELECT id FROM users WHERE id = $1 AND ",
            live_session!("$2", "$1"),
            "{for_no_key_update}"
        ));
        let found: Option<(UserId,)> = self
            .query(sql, (caller.user_id, caller.session_id))
            .fetch_optional(tx.conn())
            .await?;
        self.found_unless_ended(tx.conn(), caller, found).await?;
        Ok(())
    }

    /// The positions of those of `ids` that are the user's tasks, locked.
    async fn order_of(
        &self,
        tx: &mut Tx,
        user_id: UserId,
        ids: &[TaskId],
    ) -> StoreResult<Vec<(TaskId, i64)>> {
        let sql =
            sql!("SELECT id, position FROM tasks WHERE user_id = $1 AND id {any $2}{for_update}");
        let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
        Ok(self
            .query(sql, (user_id, super::sql::IdList::from(ids)))
            .fetch_all(tx.conn())
            .await?)
    }

    /// A position above every task of the user's.
    async fn top(&self, tx: &mut Tx, user_id: UserId) -> StoreResult<i64> {
        let sql = sql!("SELECT {top_position $1}");
        let (position,): (i64,) = self.query(sql, (user_id,)).fetch_one(tx.conn()).await?;
        Ok(position)
    }

    /// A position below every task of the user's but `except`.
    async fn bottom(&self, tx: &mut Tx, user_id: UserId, except: &[TaskId]) -> StoreResult<i64> {
        let sql = sql!("SELECT max(position) FROM tasks WHERE user_id = $1 AND id {not_any $2}");
        let except: Vec<i64> = except.iter().map(|id| id.get()).collect();
        let (largest,): (Option<i64>,) = self
            .query(sql, (user_id, super::sql::IdList::from(except)))
            .fetch_one(tx.conn())
            .await?;
        match largest {
            Some(largest) => Ok(largest.saturating_add(GAP)),
            None => self.top(tx, user_id).await,
        }
    }

    /// A free position right before (or after) `anchor`, skipping the task `moved`; `None`
    /// when the gap there is used up.
    async fn beside(
        &self,
        tx: &mut Tx,
        user_id: UserId,
        moved: TaskId,
        anchor: i64,
        before: bool,
    ) -> StoreResult<Option<i64>> {
        let previous = sql!(
            "SELECT max(position) FROM tasks WHERE user_id = $1 AND position < $2 AND id <> $3"
        );
        let next = sql!(
            "SELECT min(position) FROM tasks WHERE user_id = $1 AND position > $2 AND id <> $3"
        );
        let sql = if before { previous } else { next };
        let (neighbour,): (Option<i64>,) = self
            .query(sql, (user_id, anchor, moved))
            .fetch_one(tx.conn())
            .await?;
        Ok(match (neighbour, before) {
            (None, true) => Some(self.top(tx, user_id).await?),
            (None, false) => Some(anchor.saturating_add(GAP)),
            (Some(neighbour), _) => middle(neighbour, anchor),
        })
    }

    /// The positions a reordered block takes (see [`Store::reorder_tasks`]); `None` when the
    /// gap is too small for it.
    async fn block(
        &self,
        tx: &mut Tx,
        user_id: UserId,
        found: &[(TaskId, i64)],
        ids: &[TaskId],
    ) -> StoreResult<Option<Vec<i64>>> {
        let sql = sql!(
            "SELECT min(position) FROM tasks WHERE user_id = $1 AND position > $2 \
             AND id {not_any $3}"
        );
        let start = found.iter().map(|&(_, at)| at).min().unwrap_or_default();
        let moved: Vec<i64> = ids.iter().map(|id| id.get()).collect();
        let (end,): (Option<i64>,) = self
            .query(sql, (user_id, start, super::sql::IdList::from(moved)))
            .fetch_one(tx.conn())
            .await?;
        let count = ids.len() as i64;
        let step = match end {
            None => GAP,
            Some(end) => (end - start) / count,
        };
        if step < 1 {
            return Ok(None);
        }
        Ok(Some((0..count).map(|i| start + i * step).collect()))
    }

    /// Spreads the user's positions [`GAP`] apart again, keeping their order and the smallest
    /// one; one statement.
    async fn spread(&self, tx: &mut Tx, user_id: UserId) -> StoreResult<()> {
        let sql = sql!(
            "UPDATE tasks SET position = r.base + (r.rank - 1) * 65536 \
             FROM (SELECT id, row_number() OVER (ORDER BY position, id) AS rank, \
                          min(position) OVER () AS base \
                   FROM tasks WHERE user_id = $1) AS r \
             WHERE tasks.id = r.id AND tasks.user_id = $1 \
               AND tasks.position <> r.base + (r.rank - 1) * 65536"
        );
        self.query(sql, (user_id,)).execute(tx.conn()).await?;
        Ok(())
    }

    async fn set_position(
        &self,
        tx: &mut Tx,
        user_id: UserId,
        id: TaskId,
        position: i64,
        now: Timestamp,
    ) -> StoreResult<Task> {
        let sql = sql!(concat!(
            "UPDATE tasks SET position = $3, updated_at = $4 WHERE id = $1 AND user_id = $2 \
             RETURNING ",
            task_columns!("tasks"),
            ", {tags tasks} AS tags"
        ));
        self.query(sql, (id, user_id, position, now))
            .fetch_optional(tx.conn())
            .await?
            .ok_or(StoreError::NotFound(Missing::Task))
    }
}

/// A position strictly between two, if there is one.
fn middle(a: i64, b: i64) -> Option<i64> {
    let (low, high) = (a.min(b), a.max(b));
    (high - low >= 2).then(|| low + (high - low) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_middle_is_strictly_between_or_there_is_none() {
        assert_eq!(middle(0, GAP), Some(GAP / 2));
        assert_eq!(middle(GAP, 0), Some(GAP / 2));
        assert_eq!(middle(-3, 1), Some(-1));
        assert_eq!(middle(4, 6), Some(5));
        assert_eq!(middle(4, 5), None);
        assert_eq!(middle(i64::MIN, i64::MIN + 1), None);
    }
}
