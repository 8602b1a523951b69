//! The reminder scheduler: once a second, claims the reminders that have come due (the store
//! makes each claim atomic, so with several processes on one database each reminder is claimed
//! by exactly one); the claim records each as a `reminder` change in the log, which the users'
//! event streams send. A reminder that came due while no process was running is simply due at
//! the next tick after start.

use std::{sync::Arc, time::Duration};

use crate::{
    core::{
        clock::Clock,
        error::{ApiError, ErrorCode},
    },
    db::Store,
    events::EventBus,
    models::{Caller, Task, parse_instant},
    services::tasks::restore_plus,
};

const TICK: Duration = Duration::from_secs(1);
const BATCH: i64 = 100;

/// Runs until the task is aborted.
pub async fn run(store: Arc<Store>, events: EventBus) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        if !store.health().is_available() {
            continue;
        }
        loop {
            let delivered = deliver_due(&store, &events).await;
            // Warned once per outage, not once a second.
            if let Err(error) = &delivered
                && !failing
            {
                tracing::warn!(error = ?error.code(), "reminder scheduler: cannot claim reminders; retrying");
            }
            failing = delivered.is_err();
            // A full batch may have left more that are due.
            if !delivered.is_ok_and(|n| n >= BATCH as usize) {
                break;
            }
        }
    }
}

/// Claims one batch (the claim records a `reminder` change of each task in the log) and wakes
/// their users' streams; returns how many were claimed.
async fn deliver_due(store: &Store, events: &EventBus) -> Result<usize, ApiError> {
    let claimed = store.claim_due_reminders(BATCH).await?;
    for reminder in &claimed {
        tracing::info!(user_id = %reminder.user_id, task_id = %reminder.task_id, "reminder delivered");
        events.changed(reminder.user_id);
    }
    Ok(claimed.len())
}

/// Reads of the reminders that have come due.
pub struct ReminderService {
    store: Arc<Store>,
    clock: Clock,
}

impl ReminderService {
    pub fn new(store: Arc<Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// `GET …/reminders`: the user's open tasks whose reminder time is at or before `before`
    /// (RFC 3339 with an offset; default now).
    pub async fn list_reminders(
        &self,
        caller: Caller,
        before: Option<&str>,
    ) -> Result<Vec<Task>, ApiError> {
        let before = match before {
            Some(raw) => parse_instant(&restore_plus(raw), ErrorCode::InvalidDueDate, "before")?,
            None => self.clock.now(),
        };
        Ok(self.store.list_reminders(&caller, before).await?)
    }
}
