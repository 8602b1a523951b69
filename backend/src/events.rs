//! Wake-ups for the live event stream. What changed is in the change log (see `db::changes`),
//! recorded by the database with each change; this module only tells open streams that a
//! user's log has grown, so that they read it. A wake-up that is lost costs a delay, never a
//! change: every stream also reads its log when the wake-ups may have been interrupted (the
//! PostgreSQL listener reconnected, a stream fell behind on them) and every
//! [`SAFETY_READ`] regardless.
//!
//! On PostgreSQL a writer's wake-up goes out as `NOTIFY todo_events` with the user's id, and
//! every process `LISTEN`s, so a change made through one server process wakes the streams of
//! all of them (this process's own streams included, by the same path). On SQLite the wake-up
//! goes to this process's streams at once, and a poller reads the log's newest entries a few
//! times a second, so that processes sharing one file wake each other's streams too.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::{PgPool, postgres::PgListener};
use tokio::{
    sync::{broadcast, mpsc, watch},
    task::JoinHandle,
};

use crate::{
    db::{DbHealth, Store},
    models::UserId,
};

/// Wake-ups a stream may fall behind by; one that falls further reads its log anyway.
const WAKE_CAPACITY: usize = 1024;
/// Wake-ups waiting to be sent to PostgreSQL.
const OUTBOX_CAPACITY: usize = 4096;
/// The most wake-ups sent to PostgreSQL in one statement.
const NOTIFY_BATCH: usize = 1024;
/// How long the sender gathers wake-ups after the first before it sends them: under a burst of
/// writes, a few NOTIFY transactions a second each naming many users, instead of one for
/// almost every write; a change reaches other processes' streams this much later.
const NOTIFY_LINGER: Duration = Duration::from_millis(5);
/// The NOTIFY channel.
const CHANNEL: &str = "todo_events";
/// How often an open stream reads its log with no wake-up.
pub const SAFETY_READ: Duration = Duration::from_secs(15);
/// How often a process on SQLite looks for other processes' changes.
const SQLITE_POLL: Duration = Duration::from_millis(250);

/// Whose streams should read their log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    User(UserId),
    /// Everyone's: wake-ups may have been missed.
    All,
}

impl Wake {
    /// Whether a stream of `user_id` should read its log.
    pub fn concerns(self, user_id: UserId) -> bool {
        match self {
            Self::User(user) => user == user_id,
            Self::All => true,
        }
    }
}

#[derive(Clone)]
pub struct EventBus {
    wakes: broadcast::Sender<Wake>,
    /// Set on PostgreSQL: wake-ups go out through NOTIFY.
    outbox: Option<mpsc::Sender<UserId>>,
    outbox_rx: Arc<Mutex<Option<mpsc::Receiver<UserId>>>>,
    closing: watch::Sender<bool>,
    /// True while wake-ups from the database reach this process (always, without PostgreSQL).
    listening: watch::Sender<bool>,
}

impl EventBus {
    /// A bus for `store`: NOTIFY-based on PostgreSQL, in-process and polling otherwise.
    /// Nothing runs until [`EventBus::spawn_workers`].
    pub fn new(store: &Store) -> Self {
        let (wakes, _) = broadcast::channel(WAKE_CAPACITY);
        let (outbox, outbox_rx) = store
            .postgres_session_pool()
            .map(|_| mpsc::channel(OUTBOX_CAPACITY))
            .unzip();
        Self {
            listening: watch::channel(outbox.is_none()).0,
            wakes,
            outbox,
            outbox_rx: Arc::new(Mutex::new(outbox_rx)),
            closing: watch::channel(false).0,
        }
    }

    /// Starts the PostgreSQL sender and listener, or the SQLite poller.
    pub fn spawn_workers(&self, store: &Arc<Store>) -> Vec<JoinHandle<()>> {
        let Some(pool) = store.postgres_session_pool() else {
            return vec![tokio::spawn(poll_sqlite(
                store.clone(),
                self.wakes.clone(),
                self.closing.subscribe(),
            ))];
        };
        let Some(outbox) = self.outbox_rx.lock().ok().and_then(|mut rx| rx.take()) else {
            return Vec::new();
        };
        vec![
            tokio::spawn(send_notifications(pool.clone(), outbox, self.wakes.clone())),
            tokio::spawn(listen(
                pool,
                store.health().clone(),
                self.wakes.clone(),
                self.closing.subscribe(),
                self.listening.clone(),
            )),
        ]
    }

    /// Says that `user_id`'s log has grown (after the change has committed). Never waits: on
    /// PostgreSQL the wake-up is queued for the next NOTIFY.
    pub fn changed(&self, user_id: UserId) {
        match &self.outbox {
            Some(outbox) => {
                if outbox.try_send(user_id).is_err() {
                    // This process's streams at least; the others read on their next wake-up.
                    tracing::warn!("wake-up queue full; waking this process's streams only");
                    let _ = self.wakes.send(Wake::User(user_id));
                }
            }
            // No stream open is not an error.
            None => {
                let _ = self.wakes.send(Wake::User(user_id));
            }
        }
    }

    /// A receiver of every wake-up from now on (streams act on their user's).
    pub fn subscribe(&self) -> broadcast::Receiver<Wake> {
        self.wakes.subscribe()
    }

    /// Becomes true when the service is shutting down: streams end then.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Waits up to `limit` until wake-ups from the database reach this process, so that a
    /// server that has just started wakes its first streams at once; gives up quietly (the
    /// listener keeps trying) when the database is not answering.
    pub async fn wait_until_listening(&self, limit: Duration) {
        let mut listening = self.listening.subscribe();
        let _ = tokio::time::timeout(limit, listening.wait_for(|on| *on)).await;
    }

    /// Ends every stream and the listener.
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }
}

/// Sends queued wake-ups to PostgreSQL. Whatever queues up within [`NOTIFY_LINGER`] of the
/// first goes out together, once per user, as one statement and one transaction: under a
/// burst of writes that is one round trip and one commit (PostgreSQL serializes the commits of
/// notifying transactions) for many writes instead of one each.
async fn send_notifications(
    pool: PgPool,
    mut outbox: mpsc::Receiver<UserId>,
    wakes: broadcast::Sender<Wake>,
) {
    let mut batch = Vec::with_capacity(NOTIFY_BATCH);
    while outbox.recv_many(&mut batch, NOTIFY_BATCH).await > 0 {
        tokio::time::sleep(NOTIFY_LINGER).await;
        while batch.len() < NOTIFY_BATCH
            && let Ok(user) = outbox.try_recv()
        {
            batch.push(user);
        }
        let users: HashSet<UserId> = batch.drain(..).collect();
        let payloads: Vec<String> = users.iter().map(ToString::to_string).collect();
        let sent = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(CHANNEL)
            .bind(&payloads)
            .execute(&pool)
            .await;
        if let Err(error) = sent {
            // This process's streams at least; the others read their logs when their listener
            // is back, or at their next safety read.
            tracing::warn!(%error, users = users.len(), "NOTIFY failed; waking this process's streams only");
            for user in users {
                let _ = wakes.send(Wake::User(user));
            }
        }
    }
}

async fn listen(
    pool: PgPool,
    health: DbHealth,
    wakes: broadcast::Sender<Wake>,
    mut closing: watch::Receiver<bool>,
    listening: watch::Sender<bool>,
) {
    while !*closing.borrow() {
        listening.send_replace(false);
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                // During a known outage the availability watcher has said so already.
                if health.is_available() {
                    tracing::warn!(%error, "event listener cannot connect; retrying");
                } else {
                    tracing::debug!(%error, "event listener cannot connect; retrying");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(CHANNEL).await {
            tracing::warn!(%error, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        listening.send_replace(true);
        // Whatever was notified while this process was not listening is in the logs: every
        // stream reads its own now that nothing more can be missed.
        let _ = wakes.send(Wake::All);
        loop {
            tokio::select! {
                () = closed(&mut closing) => return,
                received = listener.try_recv() => match received {
                    // With no stream open in this process there is no one to wake.
                    Ok(Some(_)) if wakes.receiver_count() == 0 => {}
                    Ok(Some(notification)) => match notification.payload().parse::<uuid::Uuid>() {
                        Ok(user) => {
                            let _ = wakes.send(Wake::User(UserId::from(user)));
                        }
                        Err(error) => tracing::warn!(%error, "unreadable wake-up notification"),
                    },
                    // The connection dropped: the listener reconnects (and listens again) on
                    // the next call; until then nothing is heard.
                    Ok(None) => {
                        tracing::warn!("event listener lost its connection; reconnecting");
                        listening.send_replace(false);
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "event listener failed; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                },
            }
        }
    }
}

/// On SQLite: wakes the streams of every user whose log has grown, whichever process wrote,
/// by reading the log's newest entries every [`SQLITE_POLL`] while a stream is open here.
async fn poll_sqlite(
    store: Arc<Store>,
    wakes: broadcast::Sender<Wake>,
    mut closing: watch::Receiver<bool>,
) {
    let mut seen: Option<i64> = None;
    let mut tick = tokio::time::interval(SQLITE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = closed(&mut closing) => return,
            _ = tick.tick() => {}
        }
        if wakes.receiver_count() == 0 {
            // Nothing to wake: a stream that opens reads its log itself.
            seen = None;
            continue;
        }
        let Some(after) = seen else {
            seen = store.log_end().await.ok().map(|end| end.id);
            // A stream that opened since the last look may have read its log just before
            // another process wrote: from here on nothing is missed, so every stream reads.
            if seen.is_some() {
                let _ = wakes.send(Wake::All);
            }
            continue;
        };
        match store.users_changed_since(after).await {
            Ok(Some((users, last))) => {
                for user in users {
                    let _ = wakes.send(Wake::User(user));
                }
                seen = Some(last);
            }
            Ok(None) => {}
            Err(error) => tracing::debug!(%error, "change log poll failed; retrying"),
        }
    }
}

/// Resolves once `closing` is true (or its sender is gone).
pub async fn closed(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}
