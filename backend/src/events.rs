//! The live event stream's plumbing: every change to a user's tasks and tags, and every
//! delivered reminder, is published here and fanned out to that user's open streams
//! (`GET /api/v1/users/{user_id}/events`).
//!
//! In one process a broadcast channel carries events to the streams. On PostgreSQL, events go
//! through `NOTIFY todo_events` instead and every process `LISTEN`s, so a change made through
//! one server process reaches the streams of all of them (this process's own streams included,
//! by the same path). On SQLite (one process) the broadcast channel is all there is.
//!
//! A writer waits for its event only until it has gone out (on PostgreSQL, the NOTIFY of the
//! batch it is in; at most [`SEND_WAIT`]), so that the events of writes a client makes one after
//! another, through any process, reach every stream in that order. Nothing else here can slow a
//! writer down: a full queue drops the event with a warning, the channel is bounded, and a
//! stream that falls behind by more than its capacity is ended (the browser's `EventSource`
//! reconnects by itself).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, postgres::PgListener};
use tokio::{
    sync::{broadcast, mpsc, oneshot, watch},
    task::JoinHandle,
};
use uuid::Uuid;

use crate::{
    db::{DbHealth, Store},
    models::UserId,
};

/// Events a stream may fall behind by before it is ended.
const STREAM_CAPACITY: usize = 1024;
/// Events waiting to be sent to PostgreSQL.
const OUTBOX_CAPACITY: usize = 4096;
/// The most events sent to PostgreSQL in one statement.
const NOTIFY_BATCH: usize = 128;
/// The NOTIFY channel.
const CHANNEL: &str = "todo_events";
/// The longest a writer waits for its event to go out before answering anyway.
pub const SEND_WAIT: Duration = Duration::from_secs(1);
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const MAX_PAYLOAD_BYTES: usize = 7900;

/// One event: its id (the SSE `id:`), whose it is, its name (`task.created`, …) and its data.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    pub data: serde_json::Value,
}

/// An event on its way to NOTIFY, and who to tell once it has gone out.
type Outgoing = (Arc<Event>, oneshot::Sender<()>);

#[derive(Clone)]
pub struct EventBus {
    streams: broadcast::Sender<Arc<Event>>,
    /// Set on PostgreSQL: events go out through NOTIFY.
    outbox: Option<mpsc::Sender<Outgoing>>,
    outbox_rx: Arc<Mutex<Option<mpsc::Receiver<Outgoing>>>>,
    closing: watch::Sender<bool>,
    /// True while events from the database reach this process (always, without PostgreSQL).
    listening: watch::Sender<bool>,
}

impl EventBus {
    /// A bus for `store`: NOTIFY-based on PostgreSQL, in-process otherwise. Nothing runs until
    /// [`EventBus::spawn_workers`].
    pub fn new(store: &Store) -> Self {
        let (streams, _) = broadcast::channel(STREAM_CAPACITY);
        let (outbox, outbox_rx) = store
            .postgres_pool()
            .map(|_| mpsc::channel(OUTBOX_CAPACITY))
            .unzip();
        Self {
            listening: watch::channel(outbox.is_none()).0,
            streams,
            outbox,
            outbox_rx: Arc::new(Mutex::new(outbox_rx)),
            closing: watch::channel(false).0,
        }
    }

    /// Starts the PostgreSQL sender and listener (nothing on SQLite).
    pub fn spawn_workers(&self, store: &Store) -> Vec<JoinHandle<()>> {
        let Some(pool) = store.postgres_pool() else {
            return Vec::new();
        };
        let Some(outbox) = self.outbox_rx.lock().ok().and_then(|mut rx| rx.take()) else {
            return Vec::new();
        };
        vec![
            tokio::spawn(send_notifications(
                pool.clone(),
                outbox,
                self.streams.clone(),
            )),
            tokio::spawn(listen(
                pool,
                store.health().clone(),
                self.streams.clone(),
                self.closing.subscribe(),
                self.listening.clone(),
            )),
        ]
    }

    /// Publishes an event for `user_id`'s streams; on PostgreSQL, returns once it has gone out
    /// (at most [`SEND_WAIT`]).
    pub async fn publish(&self, user_id: UserId, name: &str, data: impl Serialize) {
        if let Some(gone_out) = self.queue(user_id, name, data) {
            let _ = tokio::time::timeout(SEND_WAIT, gone_out).await;
        }
    }

    /// Queues an event without waiting for it to go out (for the reminder scheduler, which has
    /// no client waiting and delivers a batch at once); on PostgreSQL, the receiver hears when
    /// it has.
    pub fn queue(
        &self,
        user_id: UserId,
        name: &str,
        data: impl Serialize,
    ) -> Option<oneshot::Receiver<()>> {
        let data = serde_json::to_value(data)
            .inspect_err(
                |error| tracing::error!(%error, name, "event data could not be serialized"),
            )
            .ok()?;
        let event = Arc::new(Event {
            id: Uuid::new_v4().to_string(),
            user_id,
            name: name.to_owned(),
            data,
        });
        match &self.outbox {
            Some(outbox) => {
                let (sent, gone_out) = oneshot::channel();
                if outbox.try_send((event, sent)).is_err() {
                    tracing::warn!(name, "event queue full; event dropped");
                    return None;
                }
                Some(gone_out)
            }
            None => {
                // No stream open is not an error.
                let _ = self.streams.send(event);
                None
            }
        }
    }

    /// A receiver of every event from now on (streams keep only their user's).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.streams.subscribe()
    }

    /// Becomes true when the service is shutting down: streams end then.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Waits up to `limit` until events from the database reach this process, so that a server
    /// that has just started does not miss the first ones; gives up quietly (the listener keeps
    /// trying) when the database is not answering.
    pub async fn wait_until_listening(&self, limit: Duration) {
        let mut listening = self.listening.subscribe();
        let _ = tokio::time::timeout(limit, listening.wait_for(|on| *on)).await;
    }

    /// Ends every stream and the listener.
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }
}

/// The NOTIFY payload: the event as JSON, with its data cut down to the object's id when the
/// whole would exceed PostgreSQL's limit (the client then fetches the object).
fn payload(event: &Event) -> String {
    let full = serde_json::to_string(event).unwrap_or_default();
    if full.len() <= MAX_PAYLOAD_BYTES {
        return full;
    }
    let slim = Event {
        data: serde_json::json!({"id": event.data.get("id"), "truncated": true}),
        ..event.clone()
    };
    serde_json::to_string(&slim).unwrap_or_default()
}

/// Sends queued events to PostgreSQL. Whatever has queued up while the last batch was being
/// sent goes out together, as one statement and one transaction: under a burst of writes that is
/// one round trip and one commit (PostgreSQL serializes the commits of notifying transactions)
/// for many events instead of one each. Within a transaction PostgreSQL delivers notifications
/// in the order they were sent, and `unnest` keeps the array's order.
async fn send_notifications(
    pool: PgPool,
    mut outbox: mpsc::Receiver<Outgoing>,
    streams: broadcast::Sender<Arc<Event>>,
) {
    let mut batch = Vec::with_capacity(NOTIFY_BATCH);
    while outbox.recv_many(&mut batch, NOTIFY_BATCH).await > 0 {
        let payloads: Vec<String> = batch.iter().map(|(event, _)| payload(event)).collect();
        let sent = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(CHANNEL)
            .bind(&payloads)
            .execute(&pool)
            .await;
        if let Err(error) = sent {
            // At least this process's streams get them.
            tracing::warn!(%error, events = batch.len(), "NOTIFY failed; events delivered to this process only");
            for (event, _) in &batch {
                let _ = streams.send(event.clone());
            }
        }
        for (_, sent) in batch.drain(..) {
            let _ = sent.send(());
        }
    }
}

async fn listen(
    pool: PgPool,
    health: DbHealth,
    streams: broadcast::Sender<Arc<Event>>,
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
        loop {
            tokio::select! {
                () = closed(&mut closing) => return,
                received = listener.try_recv() => match received {
                    // With no stream open in this process there is no one to hand it to:
                    // skip decoding it (every write of every instance arrives here).
                    Ok(Some(_)) if streams.receiver_count() == 0 => {}
                    Ok(Some(notification)) => {
                        match serde_json::from_str::<Event>(notification.payload()) {
                            Ok(event) => {
                                let _ = streams.send(Arc::new(event));
                            }
                            Err(error) => tracing::warn!(%error, "unreadable event notification"),
                        }
                    }
                    // The connection dropped; the listener reconnects on the next call.
                    Ok(None) => tracing::warn!("event listener lost its connection; reconnecting"),
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

/// Resolves once `closing` is true (or its sender is gone).
pub async fn closed(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_payloads_carry_only_the_id() {
        let event = Event {
            id: "e".into(),
            user_id: UserId::new(),
            name: "task.updated".into(),
            data: serde_json::json!({"id": 7, "description": "x".repeat(9000)}),
        };
        let sent: Event = serde_json::from_str(&payload(&event)).unwrap();
        assert_eq!(sent.data, serde_json::json!({"id": 7, "truncated": true}));
        let small = Event {
            data: serde_json::json!({"id": 7}),
            ..event
        };
        let sent: Event = serde_json::from_str(&payload(&small)).unwrap();
        assert_eq!(sent.data, serde_json::json!({"id": 7}));
    }
}
