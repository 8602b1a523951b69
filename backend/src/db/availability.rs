//! What the service knows about whether its database can be reached, and the watcher that keeps
//! that knowledge current.
//!
//! Without it, every request made while PostgreSQL is down waits out the pool's acquire timeout
//! before its 503, and a probe asking "ready?" waits as long. With it:
//!
//! - a request that fails because the database is unreachable (a broken connection, a refused
//!   connect, a pool that timed out) makes the service *suspect* an outage;
//! - the watcher then probes with a fresh connection of its own (never the pool's), and marks
//!   the database down only when that fails too;
//! - while down, requests that need the database are answered 503 at once
//!   (`core::middleware::database_gate`), readiness says so at once, and the watcher probes
//!   every [`PROBE_INTERVAL`] until the database answers, then marks it up again;
//! - pooled connections opened before an outage are not handed out again (they point at a
//!   server process that is gone): [`DbHealth::connection_is_stale`], asked by the pool.
//!
//! A service that starts while PostgreSQL is down (and `WAIT_FOR_DATABASE` is on) begins in
//! the *starting* state: it serves liveness and answers everything else 503 while the watcher
//! retries creating and migrating the database with backoff, logging each attempt.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use super::Store;
use crate::core::settings::{DatabaseBackend, Settings};

/// How often the watcher probes while the database is down: the service is back within this
/// (plus one connect) of the database accepting connections.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// How long one probe may take before it counts as failed: as long as a request waits for a
/// pooled connection, so that a far or slow-to-connect database is not taken for a dead one.
pub const PROBE_TIMEOUT: Duration = super::backend::ACQUIRE_TIMEOUT;
/// The first and the longest wait between attempts while starting.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LONGEST_RETRY: Duration = Duration::from_secs(1);

/// Whether the database can be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Not prepared yet (unreachable at start): retrying.
    Starting,
    Up,
    Down,
}

/// Shared knowledge of the database's availability; cheap to clone.
#[derive(Clone, Debug)]
pub struct DbHealth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: AtomicU8,
    suspicion: Notify,
    /// When the last outage was noticed: connections opened before it are stale.
    outage_noticed: Mutex<Option<Instant>>,
    /// When the current outage (or start-up wait) began, for the log line on recovery.
    down_since: Mutex<Option<Instant>>,
}

impl Default for DbHealth {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                state: AtomicU8::new(Availability::Up as u8),
                suspicion: Notify::new(),
                outage_noticed: Mutex::new(None),
                down_since: Mutex::new(None),
            }),
        }
    }
}

impl DbHealth {
    pub fn availability(&self) -> Availability {
        match self.inner.state.load(Ordering::Acquire) {
            s if s == Availability::Starting as u8 => Availability::Starting,
            s if s == Availability::Down as u8 => Availability::Down,
            _ => Availability::Up,
        }
    }

    pub fn is_available(&self) -> bool {
        self.availability() == Availability::Up
    }

    /// A request failed in a way that suggests the database is unreachable: the watcher
    /// probes (at once, at most once per [`PROBE_INTERVAL`]). Cheap; several suspicions before
    /// the probe runs make one probe. When a connection was lost (not merely slow to get),
    /// the pool's other connections are suspect too: each may point at a server process that
    /// is gone (a restart, a failover), so none opened before now is handed out again, even if
    /// the probe finds the database back already.
    pub fn suspect(&self, connection_lost: bool) {
        if connection_lost {
            *self.inner.outage_noticed.lock().unwrap() = Some(Instant::now());
        }
        self.inner.suspicion.notify_one();
    }

    /// True for a pooled connection of this age that was opened before the last outage was
    /// noticed: it is closed instead of used.
    pub fn connection_is_stale(&self, age: Duration) -> bool {
        let noticed = *self.inner.outage_noticed.lock().unwrap();
        noticed.is_some_and(|noticed| {
            Instant::now()
                .checked_sub(age)
                .is_none_or(|opened| opened < noticed)
        })
    }

    fn set(&self, availability: Availability) {
        self.inner
            .state
            .store(availability as u8, Ordering::Release);
    }

    fn mark_down(&self) {
        let now = Instant::now();
        *self.inner.outage_noticed.lock().unwrap() = Some(now);
        self.inner.down_since.lock().unwrap().get_or_insert(now);
        self.set(Availability::Down);
    }

    /// Marks the database up; returns how long it was not.
    fn mark_up(&self) -> Duration {
        let since = self.inner.down_since.lock().unwrap().take();
        self.set(Availability::Up);
        since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// Start-up could not reach the database: serve 503 until the watcher has prepared it.
    pub fn mark_starting(&self) {
        self.inner
            .down_since
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        self.set(Availability::Starting);
    }
}

/// Makes the database ready to serve: reaches it, creates it when missing (development,
/// PostgreSQL) and applies pending migrations when `AUTO_MIGRATE` is on.
pub async fn prepare(store: &Store, settings: &Settings) -> Result<(), sqlx::Error> {
    store.create_database_if_missing().await?;
    store.probe().await?;
    if settings.auto_migrate {
        store.migrate_up().await.map_err(|error| match error {
            sqlx::migrate::MigrateError::Execute(error) => error,
            other => sqlx::Error::Migrate(Box::new(other)),
        })?;
    }
    Ok(())
}

/// `serve`'s start: [`prepare`], and when PostgreSQL cannot be reached and `WAIT_FOR_DATABASE`
/// is on, mark the store *starting* (the watcher goes on trying) instead of failing. Any other
/// failure (a wrong password, a missing database in production, a migration that fails) is
/// returned: waiting would not mend it.
pub async fn prepare_or_wait(store: &Store, settings: &Settings) -> Result<(), sqlx::Error> {
    match prepare(store, settings).await {
        Ok(()) => Ok(()),
        Err(error)
            if settings.wait_for_database
                && settings.database_backend() == DatabaseBackend::Postgres
                && unreachable(&error) =>
        {
            tracing::warn!(
                attempt = 1,
                retry_in_ms = FIRST_RETRY.as_millis(),
                %error,
                "the database is not reachable at start; serving /health, answering 503 to \
                 everything else, and retrying"
            );
            store.health().mark_starting();
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Keeps the store's [`DbHealth`] current until aborted: finishes a start-up that could not
/// reach the database, then probes on every suspicion and, while the database is down, every
/// [`PROBE_INTERVAL`].
pub async fn watch(store: Arc<Store>, settings: Arc<Settings>) {
    let health = store.health().clone();
    let mut attempt = 1u32;
    let mut retry_in = FIRST_RETRY;
    while health.availability() == Availability::Starting {
        tokio::time::sleep(retry_in).await;
        attempt += 1;
        match prepare(&*store, &settings).await {
            Ok(()) => {
                let waited = health.mark_up();
                tracing::info!(
                    attempt,
                    waited_ms = waited.as_millis(),
                    "the database is reachable and ready; serving"
                );
            }
            Err(error) if unreachable(&error) => {
                retry_in = (retry_in * 2).min(LONGEST_RETRY);
                tracing::warn!(
                    attempt,
                    retry_in_ms = retry_in.as_millis(),
                    %error,
                    "the database is still not reachable; answering 503 until it is"
                );
            }
            Err(error) => {
                // Reached, but refused (a wrong password, a failing migration): an operator
                // has to act; keep trying, slowly, so that the fix needs no restart.
                retry_in = LONGEST_RETRY * 10;
                tracing::error!(
                    attempt,
                    retry_in_ms = retry_in.as_millis(),
                    %error,
                    "the database answers but cannot be prepared; answering 503 until it can"
                );
            }
        }
    }

    loop {
        if health.availability() == Availability::Up {
            health.inner.suspicion.notified().await;
        }
        let probed = match tokio::time::timeout(PROBE_TIMEOUT, store.probe()).await {
            Ok(result) => result,
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        };
        match (health.availability(), probed) {
            (Availability::Up, Err(error)) if unreachable(&error) => {
                health.mark_down();
                tracing::error!(
                    %error,
                    "the database is unreachable; answering 503 until it is back"
                );
            }
            (Availability::Up, Ok(()) | Err(_)) => {}
            (_, Err(error)) if unreachable(&error) => {}
            // Answering again (perhaps refusing the probe, e.g. too many clients: that is
            // load, not an outage).
            (_, Ok(()) | Err(_)) => {
                let outage = health.mark_up();
                tracing::info!(
                    outage_ms = outage.as_millis(),
                    "the database is reachable again; serving"
                );
                continue;
            }
        }
        // At most one probe per interval, whatever the number of suspicions.
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Whether `error` means the database cannot be reached at all (as opposed to reached and
/// refusing, or slow to hand out a pooled connection).
fn unreachable(error: &sqlx::Error) -> bool {
    super::is_unavailable(error)
        && error
            .as_database_error()
            .is_none_or(|e| e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_before_an_outage_are_stale_and_later_ones_are_not() {
        let health = DbHealth::default();
        assert!(!health.connection_is_stale(Duration::from_secs(3600)));

        std::thread::sleep(Duration::from_millis(20));
        health.mark_down();
        assert_eq!(health.availability(), Availability::Down);
        // Opened 10 ms before the outage was noticed, and opened just now.
        assert!(health.connection_is_stale(Duration::from_millis(10)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!health.connection_is_stale(Duration::from_millis(1)));

        let outage = health.mark_up();
        assert!(outage >= Duration::from_millis(5));
        assert!(health.is_available());
    }
}
