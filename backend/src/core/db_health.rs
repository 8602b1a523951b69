//! What the service knows about whether its database can be reached: a flag shared by the
//! store's pool (stale connections), the `/api/v1` gate, readiness and the watcher that keeps
//! it current (`services::availability`); and whether its storage is refusing writes (a full
//! disk, a read-only file system, I/O errors), which the store reports as its statements fail
//! and succeed.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Notify;

/// Whether the database can be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Zero, so that a new [`DbHealth`] starts out up.
    Up,
    /// Not prepared yet (unreachable at start): retrying.
    Starting,
    Down,
}

/// Shared knowledge of the database's availability; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct DbHealth {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// An [`Availability`].
    state: AtomicU8,
    suspicion: Notify,
    /// When the last outage was noticed, or writes were last refused as read-only:
    /// connections opened before it are stale.
    outage_noticed: Mutex<Option<Instant>>,
    /// When the current outage (or start-up wait) began, for the log line on recovery.
    down_since: Mutex<Option<Instant>>,
    /// Set while a storage episode is open: checked on every write that succeeds, so that the
    /// common case costs one atomic load.
    storage_failing: AtomicBool,
    storage: Mutex<Option<StorageEpisode>>,
}

/// Why the database's storage refused a statement. `Full` is answered 507, the others 503.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageFault {
    /// The disk (or the database's own size limit) is full.
    Full,
    /// The database or its file system accepts no writes (a read-only file, directory or
    /// mount; a PostgreSQL replica, or a database set read-only).
    ReadOnly,
    /// Reading or writing the storage failed (an I/O error).
    Io,
    /// The database file or an index is damaged.
    Corrupt,
}

impl StorageFault {
    /// The word readiness reports it with.
    pub fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::ReadOnly => "read_only",
            Self::Io => "io_error",
            Self::Corrupt => "corrupt",
        }
    }
}

/// Writes failing for a storage fault, from the first failure to a write that succeeds with no
/// failure in the [`STORAGE_RECOVERY_SETTLES`] before it.
#[derive(Debug)]
struct StorageEpisode {
    /// The latest failure's kind.
    fault: StorageFault,
    began: Instant,
    last_failure: Instant,
    /// Whether a write has succeeded since `last_failure`.
    succeeded_since: bool,
    failures: u64,
}

impl StorageEpisode {
    /// Over: a write succeeded after the last failure, and that failure is settled.
    fn is_over(&self) -> bool {
        self.succeeded_since && self.last_failure.elapsed() >= STORAGE_RECOVERY_SETTLES
    }
}

/// How long after the last write refused for a storage fault readiness still reports it, when
/// no write has succeeded since. Past it readiness recovers on its own, so that a balancer
/// that stopped sending requests for the fault sends some again, and a write can show whether
/// the fault is over (it is failing again at once if not).
pub const STORAGE_FAULT_REPORTED_FOR: Duration = Duration::from_secs(10);

/// How long after the last refused write a write that succeeds still does not end the episode.
/// A full disk lets through the writes that fit in pages already allocated (an update in place,
/// a row where one was deleted) while refusing those that need more: under a mix of writes,
/// successes and refusals interleave, and readiness should keep saying "full" rather than
/// flip with every request. One success with no refusal for this long ends the episode.
pub const STORAGE_RECOVERY_SETTLES: Duration = Duration::from_secs(1);

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

    /// The watcher found the database unreachable.
    pub fn mark_down(&self) {
        let now = Instant::now();
        *self.inner.outage_noticed.lock().unwrap() = Some(now);
        self.inner.down_since.lock().unwrap().get_or_insert(now);
        self.set(Availability::Down);
    }

    /// Waits until a request suspects an outage.
    pub async fn suspected(&self) {
        self.inner.suspicion.notified().await;
    }

    /// Marks the database up; returns how long it was not.
    pub fn mark_up(&self) -> Duration {
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

impl DbHealth {
    /// A statement failed because of the storage. Logged once per episode: at its first
    /// failure, not at every request that meets it.
    ///
    /// A database that refuses writes as read-only (a standby, `default_transaction_read_only`)
    /// may have said so for the session only: every pooled connection opened before now is
    /// replaced before it is used again, so that once writes are allowed the next ones reach a
    /// session that allows them.
    pub fn storage_failed(&self, fault: StorageFault, cause: &dyn std::fmt::Display) {
        let now = Instant::now();
        if fault == StorageFault::ReadOnly {
            *self.inner.outage_noticed.lock().unwrap() = Some(now);
        }
        let mut episode = self.inner.storage.lock().unwrap();
        match episode.as_mut() {
            Some(episode) => {
                episode.fault = fault;
                episode.last_failure = now;
                episode.succeeded_since = false;
                episode.failures += 1;
            }
            None => {
                tracing::error!(
                    fault = fault.name(),
                    error = %cause,
                    "the database's storage refuses writes; answering {} to writes (reads go \
                     on) until a write succeeds again",
                    if fault == StorageFault::Full { 507 } else { 503 }
                );
                *episode = Some(StorageEpisode {
                    fault,
                    began: now,
                    last_failure: now,
                    succeeded_since: false,
                    failures: 1,
                });
                self.inner.storage_failing.store(true, Ordering::Release);
            }
        }
    }

    /// A write committed: a storage episode whose last failure is settled is over; a younger
    /// one is over once that failure is (unless another comes first).
    pub fn write_succeeded(&self) {
        if !self.inner.storage_failing.load(Ordering::Acquire) {
            return;
        }
        let ended = {
            let mut episode = self.inner.storage.lock().unwrap();
            let Some(current) = episode.as_mut() else {
                return;
            };
            current.succeeded_since = true;
            if !current.is_over() {
                return;
            }
            self.inner.storage_failing.store(false, Ordering::Release);
            episode.take()
        };
        if let Some(episode) = ended {
            tracing::info!(
                fault = episode.fault.name(),
                lasted_ms = episode.began.elapsed().as_millis(),
                refused = episode.failures,
                "the database's storage accepts writes again"
            );
        }
    }

    /// The storage fault readiness reports: the latest one of an episode that is not over and
    /// whose last failure is less than [`STORAGE_FAULT_REPORTED_FOR`] old.
    pub fn storage_fault(&self) -> Option<StorageFault> {
        if !self.inner.storage_failing.load(Ordering::Acquire) {
            return None;
        }
        let episode = self.inner.storage.lock().unwrap();
        episode
            .as_ref()
            .filter(|episode| {
                !episode.is_over() && episode.last_failure.elapsed() < STORAGE_FAULT_REPORTED_FOR
            })
            .map(|episode| episode.fault)
    }
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

    fn backdate_last_failure(health: &DbHealth, by: Duration) {
        let mut episode = health.inner.storage.lock().unwrap();
        let episode = episode.as_mut().unwrap();
        episode.last_failure = Instant::now().checked_sub(by).unwrap();
    }

    #[test]
    fn a_storage_episode_lasts_from_the_first_refused_write_to_a_good_one_after_it_settled() {
        let health = DbHealth::default();
        assert_eq!(health.storage_fault(), None);
        health.storage_failed(StorageFault::Full, &"disk full");
        health.storage_failed(StorageFault::Full, &"disk full");
        assert_eq!(health.storage_fault(), Some(StorageFault::Full));
        assert_eq!(
            health
                .inner
                .storage
                .lock()
                .unwrap()
                .as_ref()
                .unwrap()
                .failures,
            2
        );
        // A write that fitted, just after a refusal: still full.
        health.write_succeeded();
        assert_eq!(health.storage_fault(), Some(StorageFault::Full));
        // Once that refusal is settled, the success already seen ends what readiness reports…
        backdate_last_failure(&health, STORAGE_RECOVERY_SETTLES);
        assert_eq!(health.storage_fault(), None);
        // …and the next good write ends the episode.
        health.write_succeeded();
        assert!(health.inner.storage.lock().unwrap().is_none());
        assert!(!health.inner.storage_failing.load(Ordering::Acquire));
    }

    #[test]
    fn a_refusal_after_a_good_write_keeps_the_episode_reported() {
        let health = DbHealth::default();
        health.storage_failed(StorageFault::Full, &"disk full");
        health.write_succeeded();
        backdate_last_failure(&health, STORAGE_RECOVERY_SETTLES);
        health.storage_failed(StorageFault::Full, &"disk full");
        assert_eq!(health.storage_fault(), Some(StorageFault::Full));
        health.write_succeeded();
        assert_eq!(health.storage_fault(), Some(StorageFault::Full));
    }

    #[test]
    fn readiness_stops_reporting_a_storage_fault_no_write_has_met_for_a_while() {
        let health = DbHealth::default();
        health.storage_failed(StorageFault::ReadOnly, &"read-only");
        backdate_last_failure(&health, STORAGE_FAULT_REPORTED_FOR);
        assert_eq!(health.storage_fault(), None);
        // The episode is still open: its end is logged by the next good write.
        assert!(health.inner.storage_failing.load(Ordering::Acquire));
    }
}
