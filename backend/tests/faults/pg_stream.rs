//! An event stream held open through a PostgreSQL restart: the stream's process loses every
//! database connection (its listener's too) while another process keeps writing. Nothing
//! written meanwhile, or right after, may be missed, and nothing sent twice.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::time::Instant;

use crate::{
    proxy::Proxy,
    support::{App, PgDatabase, server_address, settings, skip_postgres},
};

/// How long a change may take to reach a stream after the database is back: the listener
/// reconnects within about a second and then every stream reads its log. (Without that, a
/// stream would find the change only at its next 15-second safety read.)
const AFTER_RESTART: Duration = Duration::from_secs(5);

/// One `text/event-stream` response, read event by event.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(app: &App, user_id: &str, token: &str, resume: Option<&str>) -> Self {
        let mut request = app
            .client
            .get(app.url(&format!("/api/v1/users/{user_id}/events")))
            .bearer_auth(token);
        if let Some(id) = resume {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status(), StatusCode::OK);
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (`id`, `event`, data as JSON) before `deadline`, skipping comments.
    async fn next(&mut self, deadline: Instant) -> Option<(String, String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|line| line.strip_prefix(name))
                        .map(|value| value.trim_start().to_owned())
                };
                if let (Some(id), Some(event), Some(data)) =
                    (field("id:"), field("event:"), field("data:"))
                {
                    return Some((id, event, serde_json::from_str(&data).unwrap()));
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&chunk).replace('\r', "")),
                Ok(Ok(None)) => panic!("the stream ended"),
                Ok(Err(error)) => panic!("the stream failed: {error}"),
                Err(_) => return None,
            }
        }
    }

    /// The next `count` events, which must all arrive within `wait`.
    async fn take(&mut self, count: usize, wait: Duration) -> Vec<(String, String, Value)> {
        let deadline = Instant::now() + wait;
        let mut events = Vec::new();
        while events.len() < count {
            match self.next(deadline).await {
                Some(event) => events.push(event),
                None => panic!(
                    "{} of {count} events within {wait:?}: {events:?}",
                    events.len()
                ),
            }
        }
        events
    }
}

/// The place in the log an event id (`{xid}.{id}-{tag}`) names, as ordered numbers.
fn place(id: &str) -> (u64, u64) {
    let (place, _) = id.split_once('-').expect("a cursor");
    let (xid, id) = place.split_once('.').expect("a cursor");
    (xid.parse().unwrap(), id.parse().unwrap())
}

/// The created tasks' ids, asserting that every event is a `task.created` and that the places
/// keep growing from `after`.
fn created(events: &[(String, String, Value)], after: &mut (u64, u64)) -> Vec<i64> {
    events
        .iter()
        .map(|(id, name, data)| {
            assert_eq!(name, "task.created", "{data}");
            let at = place(id);
            assert!(
                at > *after,
                "cursor {id} after {after:?}: sent twice or out of order"
            );
            *after = at;
            data["id"].as_i64().unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_open_through_a_database_restart_misses_nothing_written_meanwhile_or_after() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let database = PgDatabase::create().await;
    let mut proxy = Proxy::start(server_address(), Duration::ZERO).await;
    // A's every connection goes through the proxy; B writes directly.
    let a = App::serve(settings(&database.url_via(proxy.port()), &[])).await;
    let b = App::serve(settings(&database.url(), &[])).await;
    let (user_id, token) = a.signed_in_user("stream-restart@example.com").await;
    let mut stream = Events::open(&a, &user_id, &token, None).await;
    let mut cursor = (0, 0);

    let before = b.create_task(&user_id, &token, "before").await;
    let events = stream.take(1, Duration::from_secs(5)).await;
    assert_eq!(created(&events, &mut cursor), [before]);
    let resume_from = events[0].0.clone();

    // The database restarts, as A sees it: every connection of A's is cut, and none can be
    // opened. B goes on writing.
    proxy.stop().await;
    let mut written = Vec::new();
    for n in 0..3 {
        written.push(
            b.create_task(&user_id, &token, &format!("during {n}"))
                .await,
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restart();
    // The first change after the restart, straight away.
    written.push(b.create_task(&user_id, &token, "right after").await);

    let events = stream.take(written.len(), AFTER_RESTART).await;
    assert_eq!(created(&events, &mut cursor), written);
    // And live again.
    let later = b.create_task(&user_id, &token, "later").await;
    let events = stream.take(1, Duration::from_secs(5)).await;
    assert_eq!(created(&events, &mut cursor), [later]);
    let quiet = stream.next(Instant::now() + Duration::from_secs(1)).await;
    assert!(quiet.is_none(), "sent again: {quiet:?}");

    // A stream resumed on A from before the outage gets exactly what came after.
    let mut resumed = Events::open(&a, &user_id, &token, Some(&resume_from)).await;
    let mut cursor = place(&resume_from);
    let events = resumed
        .take(written.len() + 1, Duration::from_secs(5))
        .await;
    let mut expected = written.clone();
    expected.push(later);
    assert_eq!(created(&events, &mut cursor), expected);
}
