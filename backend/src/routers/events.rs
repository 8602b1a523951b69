//! `/api/v1/users/{user_id}/events`: the caller's live event stream (Server-Sent Events).

use std::{convert::Infallible, time::Duration};

use axum::{
    Router,
    extract::State,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
    routing::get,
};
use futures_util::{Stream, stream};
use tokio::sync::broadcast::error::RecvError;

use crate::{
    core::error::ApiError,
    events::closed,
    routers::{extract::StreamScope, state::AppState},
    schemas::events::StreamEvent,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/users/{user_id}/events", get(events))
}

/// The caller's changes and reminders, live.
///
/// A `text/event-stream` of the caller's events: `task.created`, `task.updated` (the task
/// object), `task.deleted` (`{"id": …}`), `tag.created`, `tag.updated` (the tag object),
/// `tag.deleted` (`{"id": …}`) and `reminder` (the task whose `remind_at` has come, once). Each
/// has an `id:`; a comment line every 15 seconds keeps idle connections open. Changes made
/// through any server process sharing the database arrive. A client that falls more than 1024
/// events behind is disconnected (an `EventSource` reconnects by itself; re-read the lists
/// then). The access token goes in the `Authorization` header or, for `EventSource`, in the
/// `access_token` query parameter. The stream ends when that token expires (15 minutes):
/// reconnect with a fresh one.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}/events", tag = "events",
    params(
        ("access_token" = Option<String>, Query, description = "The access token, when it cannot be sent in the `Authorization` header (browser `EventSource`)."),
    ),
    responses(
        (status = 200, description = "The event stream (`text/event-stream`): a comment line `: connected`, then one event as described for each change, and a comment line every 15 seconds.", content_type = "text/event-stream", body = StreamEvent),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    StreamScope(scope): StreamScope,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    // The stream's own work needs no connection: check the session alone.
    state.auth.check_session(&scope.caller()).await?;
    let user_id = scope.user_id();
    // The stream lives as long as the token that opened it: a client reconnects with a fresh
    // one, so a signed-out or expired session does not keep receiving events for long.
    let lifetime = (scope.0.token_expires_at - chrono::Utc::now().timestamp()).max(0);
    let expiry = tokio::time::Instant::now() + Duration::from_secs(lifetime.unsigned_abs());
    // Subscribed before the response starts, so nothing written after the client sees the
    // headers is missed.
    let receiver = state.events.subscribe();
    let closing = state.events.closing();
    let hello = stream::once(async { Ok(SseEvent::default().comment("connected")) });
    let events = stream::unfold(
        (receiver, closing),
        move |(mut receiver, mut closing)| async move {
            loop {
                let received = tokio::select! {
                    () = closed(&mut closing) => return None,
                    () = tokio::time::sleep_until(expiry) => return None,
                    received = receiver.recv() => received,
                };
                match received {
                    Ok(event) if event.user_id == user_id => {
                        let sse = SseEvent::default()
                            .id(event.id.as_str())
                            .event(event.name.as_str())
                            .data(event.data.to_string());
                        return Some((Ok(sse), (receiver, closing)));
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        tracing::info!(%user_id, missed, "event stream fell behind; closing it");
                        return None;
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream::StreamExt::chain(hello, events))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
