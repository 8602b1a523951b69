//! `/api/v1/users/{user_id}/events`: the caller's live event stream (Server-Sent Events), read
//! from the change log.

use std::{collections::VecDeque, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::State,
    http::HeaderMap,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
    routing::get,
};
use futures_util::{Stream, stream};
use serde::Deserialize;
use tokio::{
    sync::{broadcast, broadcast::error::RecvError, watch},
    time::Instant,
};
use utoipa::IntoParams;

use crate::{
    core::error::{ApiError, ErrorBody},
    db::Place,
    events::{SAFETY_READ, Wake, closed},
    models::UserId,
    routers::{
        extract::{ApiQuery, StreamScope},
        state::AppState,
    },
    schemas::events::StreamEvent,
    services::changes::{ChangeService, StreamStart, StreamStep, format_cursor},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/users/{user_id}/events", get(events))
}

/// After a failed read of the log, the stream tries again this much later.
const RETRY_READ: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The access token, when it cannot be sent in the `Authorization` header (browser
    /// `EventSource`).
    pub access_token: Option<String>,
    /// Resume after this event's `id:` (for clients that cannot send the `Last-Event-ID`
    /// header; the header wins when both are sent).
    #[param(example = "8123.4567-1b4e28ba")]
    pub last_event_id: Option<String>,
}

/// The caller's changes and reminders, live and resumable.
///
/// A `text/event-stream` of the caller's changes: `task.created`, `task.updated` (the task
/// object), `task.deleted` (`{"id": …}`), `tag.created`, `tag.updated` (the tag object),
/// `tag.deleted` (`{"id": …}`), `status.*` and `priority.*` (the status or priority, or
/// `{"id": …}` when deleted) and `reminder` (the task whose `remind_at` has come, once), in
/// the order they happened, each with the object as it is when sent. Each event's `id:` is its
/// cursor. Changes made through any server process sharing the database arrive.
///
/// Reconnecting with `Last-Event-ID` (which `EventSource` sends by itself) or `?last_event_id=`
/// first sends every change after that event, then live ones: nothing is missed or sent twice,
/// whatever happened to the connection, the server or the database meanwhile. When that cursor
/// is older than the log keeps (`CHANGE_RETENTION_DAYS`), the stream starts with a `resync`
/// event: list tasks and tags again, then carry on with the stream (an event id from before the
/// change log, a UUID, is answered the same way). Without either, the stream starts with the
/// changes made from now on.
///
/// The access token goes in the `Authorization` header or, for `EventSource`, in the
/// `access_token` query parameter. The stream ends when that token expires (15 minutes):
/// reconnect with a fresh one (and the last `id:`). A comment line every 15 seconds keeps idle
/// connections open.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/events", tag = "events",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event's `id:`; `0` replays the whole log kept."),
    ),
    responses(
        (status = 200, description = "The event stream (`text/event-stream`): a comment line `: connected`, then one event as described for each change, and a comment line every 15 seconds.", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "`INVALID_CURSOR`: the `Last-Event-ID` is not an event id of this user's (`field`: `last_event_id`).", body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    StreamScope(scope): StreamScope,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let user_id = scope.user_id();
    // Subscribed before the log is first read, so that no change after that read goes
    // unnoticed.
    let wakes = state.events.subscribe();
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(value.to_str().map_err(|_| invalid_resume())?.to_owned()),
        None => query.last_event_id,
    }
    // An empty id is no id (the SSE rule: an empty `id:` resets it).
    .filter(|id| !id.trim().is_empty());
    // Checks the session too.
    let start = state
        .changes
        .stream_start(scope.caller(), resume.as_deref())
        .await?;
    // The stream lives as long as the token that opened it: a client reconnects with a fresh
    // one, so a signed-out or expired session does not keep receiving events for long.
    let lifetime = (scope.0.token_expires_at - chrono::Utc::now().timestamp()).max(0);
    let expiry = Instant::now() + Duration::from_secs(lifetime.unsigned_abs());
    let mut feed = Feed {
        changes: state.changes.clone(),
        user_id,
        place: Place::START,
        pending: VecDeque::new(),
        read_at: Some(Instant::now()),
        wakes,
        closing: state.events.closing(),
        expiry,
    };
    match start {
        StreamStart::After(place) => feed.place = place,
        StreamStart::Resync(end) => feed.resync(end),
    }
    let hello = stream::once(async { Ok(SseEvent::default().comment("connected")) });
    let events = stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event), feed))
    });
    Ok(Sse::new(stream::StreamExt::chain(hello, events))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn invalid_resume() -> ApiError {
    ApiError::new(crate::core::error::ErrorCode::InvalidCursor).with_field("last_event_id")
}

/// One stream's place in its user's log.
struct Feed {
    changes: Arc<ChangeService>,
    user_id: UserId,
    /// The place in the log read up to.
    place: Place,
    /// Events read and not yet sent.
    pending: VecDeque<SseEvent>,
    /// When to read the log next; `None`: when woken.
    read_at: Option<Instant>,
    wakes: broadcast::Receiver<Wake>,
    closing: watch::Receiver<bool>,
    expiry: Instant,
}

impl Feed {
    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let read_at = self.read_at.unwrap_or_else(|| Instant::now() + SAFETY_READ);
            tokio::select! {
                () = closed(&mut self.closing) => return None,
                () = tokio::time::sleep_until(self.expiry) => return None,
                () = tokio::time::sleep_until(read_at) => self.read().await,
                wake = self.wakes.recv() => match wake {
                    Ok(wake) if wake.concerns(self.user_id) => self.read().await,
                    Ok(_) => {}
                    // Wake-ups were dropped: one of them may have been ours.
                    Err(RecvError::Lagged(_)) => self.read().await,
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }

    /// Reads the log after the stream's cursor into `pending`.
    async fn read(&mut self) {
        self.read_at = None;
        match self.changes.stream_step(self.user_id, self.place).await {
            Ok(StreamStep::Events {
                events,
                place,
                again,
            }) => {
                self.pending.extend(events.into_iter().map(|event| {
                    SseEvent::default()
                        .id(event.id)
                        .event(event.name)
                        .data(event.data.to_string())
                }));
                self.place = place;
                self.read_at = again.map(|wait| Instant::now() + wait);
            }
            Ok(StreamStep::Resync(current)) => self.resync(current),
            Err(error) => {
                tracing::debug!(%error, user_id = %self.user_id, "event stream cannot read the change log; retrying");
                self.read_at = Some(Instant::now() + RETRY_READ);
            }
        }
    }

    /// The changes after the stream's place are no longer kept: a `resync` event, then on
    /// from `end` (the log's end).
    fn resync(&mut self, end: Place) {
        tracing::info!(user_id = %self.user_id, "event stream resumed from a cursor no longer kept; resync sent");
        let cursor = format_cursor(self.user_id, end);
        let data = serde_json::json!({ "cursor": cursor }).to_string();
        self.pending
            .push_back(SseEvent::default().id(cursor).event("resync").data(data));
        self.place = end;
    }
}
