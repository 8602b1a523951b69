//! What the service knows about whether its database can be reached: a flag shared by the
//! store's pool (stale connections), the `/api/v1` gate, readiness and the watcher that keeps
//! it current (`services::availability`).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, Ordering},
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
    /// When the last outage was noticed: connections opened before it are stale.
    outage_noticed: Mutex<Option<Instant>>,
    /// When the current outage (or start-up wait) began, for the log line on recovery.
    down_since: Mutex<Option<Instant>>,
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
