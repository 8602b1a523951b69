//! Reminders and the live event stream (SPEC 5).

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{SecondsFormat, Utc};
use futures_util::future::join_all;
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::{
    ARRIVES_WITHIN, EventStream, SIGN_UP_ENTRIES, SseEvent, SseItem, TEST_SECRET, TestApp,
    TestUser, assert_error, assert_status, body, claims_of, events_path, forge_token, utc_time,
};

/// How long a test keeps listening after an event that must arrive once, to see that it does
/// not arrive again.
const ONCE_WINDOW: Duration = Duration::from_secs(3);

/// Now plus `seconds`, as RFC 3339 UTC.
fn in_seconds(seconds: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn ids(tasks: &[Value]) -> Vec<Value> {
    tasks.iter().map(|task| task["id"].clone()).collect()
}

/// Asserts that nothing more arrives on `stream` for a second.
async fn assert_no_more_events(stream: &mut EventStream) {
    let more = stream.events_for(Duration::from_secs(1)).await;
    assert!(more.is_empty(), "unexpected further events: {more:?}");
}

/// One user's stream read change by change: each event must be the next entry of their log.
struct LogStream<'a> {
    stream: EventStream,
    app: &'a TestApp,
    user: &'a TestUser,
    /// The rank in the user's log (see [`TestApp::log_rank`]) of the last event read.
    last: i64,
}

impl<'a> LogStream<'a> {
    /// Opens the stream of `user`, whose log holds only sign-up's entries yet.
    async fn open(app: &'a TestApp, user: &'a TestUser) -> Self {
        assert_eq!(app.log_cursors(user).await.len(), SIGN_UP_ENTRIES);
        Self {
            stream: EventStream::open(app, user).await,
            app,
            user,
            last: SIGN_UP_ENTRIES as i64,
        }
    }

    /// Asserts that the next event is `name` carrying `data`, at the next entry of the log (or,
    /// after a second update of one object read at once, which is not sent, the one after).
    async fn next_is(&mut self, name: &str, data: &Value) {
        let event = self.stream.next_event().await;
        assert_eq!(event.name(), name, "{event:?}");
        assert_eq!(event.json(), *data, "data of {name}: {event:?}");
        let n = self.app.log_rank(self.user, event.cursor()).await;
        assert!(
            n == self.last + 1 || n == self.last + 2,
            "the next entry after {}: {event:?} is entry {n}",
            self.last
        );
        self.last = n;
    }
}

/// The `reminder` events among `events`.
fn reminder_events(events: &[SseEvent]) -> Vec<&SseEvent> {
    events.iter().filter(|e| e.name() == "reminder").collect()
}

/// Asserts that the next event on `stream` is the `reminder` of `task` (any other event fails
/// the test), then listens for [`ONCE_WINDOW`] more and asserts that nothing else arrives (no
/// second delivery, no other reminder). Returns the event.
async fn reminder_once(stream: &mut EventStream, task: &Value) -> SseEvent {
    let event = stream.next_event().await;
    assert_eq!(event.name(), "reminder", "expected the reminder: {event:?}");
    assert_eq!(event.json()["id"], task["id"], "reminder for another task");
    let later = stream.events_for(ONCE_WINDOW).await;
    assert!(
        later.is_empty(),
        "after the reminder of task {}, the stream carried {later:?}",
        task["id"]
    );
    event
}

#[tokio::test]
async fn the_stream_needs_the_callers_own_token_in_the_header_or_the_query() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    let path = events_path(&user);

    assert_error(
        app.get_events(user.with_token(None)).await,
        StatusCode::UNAUTHORIZED,
        "MISSING_TOKEN",
    )
    .await;
    assert_error(
        app.get_events_by_query(user.with_token(Some("not-a-token")))
            .await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    assert_error(
        app.get_events(user.with_token(Some("not-a-token"))).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    // A header, when present, wins over the query parameter.
    let response = app
        .client
        .get(app.url(&path))
        .query(&[("access_token", user.access.as_str())])
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    // Another user's stream, whichever way the token comes.
    assert_error(
        app.get_events(user.with_token(Some(&other.access))).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;
    assert_error(
        app.get_events_by_query(user.with_token(Some(&other.access)))
            .await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;

    // With the header: a stream that starts with the `connected` comment.
    let mut by_header = EventStream::open(&app, &user).await;
    assert_eq!(
        by_header.next_item_within(ARRIVES_WITHIN).await,
        Some(SseItem::Comment("connected".to_owned()))
    );
    // With the query parameter (as a browser's EventSource): the same.
    let mut by_query = EventStream::new(app.get_events_by_query(&user).await);
    assert_eq!(
        by_query.next_item_within(ARRIVES_WITHIN).await,
        Some(SseItem::Comment("connected".to_owned()))
    );

    // Both carry the user's events.
    let task = app
        .create_task(&user, json!({"title": "Seen by both"}))
        .await;
    for stream in [&mut by_header, &mut by_query] {
        let event = stream.next_event().await;
        assert_eq!(event.name(), "task.created");
        assert_eq!(event.json(), task);
    }
}

/// Everything the service logs while a test runs: a `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_stream_s_query_string_and_its_token_are_never_logged() {
    // The test's runtime has one thread, which the service under test runs on too: a
    // subscriber set for this thread sees every line the service logs, at every level.
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish(),
    );
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let opened = app.get_events_by_query(&user).await;
    assert_eq!(opened.status(), StatusCode::OK);
    drop(opened);
    let refused = "a.refused.token-in-the-query";
    assert_error(
        app.get_events_by_query(user.with_token(Some(refused)))
            .await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    // The stream's request finishes (and is logged) once the client has gone.
    let deadline = Instant::now() + ARRIVES_WITHIN;
    while logs.text().matches("request finished").count() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let text = logs.text();
    assert!(
        text.contains("/api/v1/users/{user_id}/events"),
        "the requests are logged, by route: {text}"
    );
    assert!(
        text.matches("request finished").count() >= 2,
        "both requests are logged: {text}"
    );
    for secret in [user.access.as_str(), refused, "access_token="] {
        assert!(!text.contains(secret), "{secret:?} is in the log: {text}");
    }
}

/// Each write's events are read before the next write: the objects they carry are then as the
/// write answered them (the stream sends each object as it is when it reads the log).
#[tokio::test]
async fn task_and_tag_changes_arrive_in_order_as_the_api_returns_them_and_only_to_their_owner() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    let mut mine = LogStream::open(&app, &user).await;
    let mut theirs = LogStream::open(&app, &other).await;

    let tag = app
        .create_tag(&user, json!({"name": "home", "color": "#00AA55"}))
        .await;
    mine.next_is("tag.created", &tag).await;
    // The other user's changes, interleaved, go to the other user's stream only.
    let foreign_tag = app.create_tag(&other, json!({"name": "home"})).await;
    theirs.next_is("tag.created", &foreign_tag).await;

    let renamed = assert_status(
        app.patch_tag(&user, &tag["id"], &json!({"name": "house"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["name"], "house");
    mine.next_is("tag.updated", &renamed).await;
    let replaced_tag = assert_status(
        app.put_tag(
            &user,
            &tag["id"],
            &json!({"name": "House", "color": "#112233"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    mine.next_is("tag.updated", &replaced_tag).await;

    let task = app
        .create_task(
            &user,
            json!({"title": "Water the plants", "tag_ids": [tag["id"]], "remind_at": "2031-01-01T09:00:00Z"}),
        )
        .await;
    mine.next_is("task.created", &task).await;
    let foreign_task = app.create_task(&other, json!({"title": "Not yours"})).await;
    theirs.next_is("task.created", &foreign_task).await;

    let patched = assert_status(
        app.patch_task(
            &user,
            &task["id"],
            &json!({"priority": "high", "description": "The ferns first."}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["priority"], "high");
    mine.next_is("task.updated", &patched).await;
    let replaced = assert_status(
        app.put_task(
            &user,
            &task["id"],
            &json!({"title": "Water the ferns", "priority": "low", "completed": false, "tag_ids": [tag["id"]]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced["title"], "Water the ferns");
    mine.next_is("task.updated", &replaced).await;
    let completed = app.toggled_task(&user, &task["id"]).await;
    assert_eq!(completed["completed"], true);
    mine.next_is("task.updated", &completed).await;

    let work = app.create_tag(&user, json!({"name": "work"})).await;
    mine.next_is("tag.created", &work).await;
    let linked = assert_status(
        app.link_tag(&user, &task["id"], &work["id"]).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(linked["tags"].as_array().unwrap().len(), 2);
    mine.next_is("task.updated", &linked).await;
    assert_status(
        app.unlink_tag(&user, &task["id"], &work["id"]).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let unlinked = app.fetch_task(&user, &task["id"]).await;
    assert_eq!(unlinked["tags"].as_array().unwrap().len(), 1);
    mine.next_is("task.updated", &unlinked).await;

    // Completing a recurring task: the task, then its next occurrence.
    let recurring = app
        .create_task(
            &user,
            json!({"title": "Stand-up", "due_date": "2030-05-01T09:00:00Z", "recurrence_rule": "FREQ=DAILY"}),
        )
        .await;
    mine.next_is("task.created", &recurring).await;
    let done = app.toggled_task(&user, &recurring["id"]).await;
    let successor_id = done["successor_id"].clone();
    assert!(successor_id.is_i64(), "a successor: {done}");
    let successor = app.fetch_task(&user, &successor_id).await;
    mine.next_is("task.updated", &done).await;
    mine.next_is("task.created", &successor).await;

    assert_status(
        app.delete_tag(&user, &tag["id"]).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    // The log records that completion as the task's update, its successor's creation and a
    // second update of the task (the link to its successor), read together: the stream sends
    // the task once, and the entry after its second update comes next.
    mine.next_is("tag.deleted", &json!({"id": tag["id"]})).await;
    assert_status(
        app.delete_task(&user, &task["id"]).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    mine.next_is("task.deleted", &json!({"id": task["id"]}))
        .await;

    assert_status(
        app.delete_task(&other, &foreign_task["id"]).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    theirs
        .next_is("task.deleted", &json!({"id": foreign_task["id"]}))
        .await;

    // Failed writes publish nothing.
    assert_status(
        app.post_task(&user, &json!({"title": ""})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_status(
        app.delete_task(&user, &task["id"]).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    assert_no_more_events(&mut mine.stream).await;
    assert_no_more_events(&mut theirs.stream).await;
}

#[tokio::test]
async fn a_due_reminder_is_delivered_once_recorded_and_rearmed_when_remind_at_changes() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let mut stream = EventStream::open(&app, &user).await;

    // Completed tasks whose reminders come due (before the end of the first reminder's
    // listening window): neither may fire.
    let completed = app
        .create_task(
            &user,
            json!({"title": "Already done", "completed": true, "remind_at": in_seconds(1)}),
        )
        .await;
    let completed_later = app
        .create_task(
            &user,
            json!({"title": "Done in time", "remind_at": in_seconds(4)}),
        )
        .await;
    let completed_later = app.toggled_task(&user, &completed_later["id"]).await;
    assert_eq!(completed_later["completed"], true);
    let task = app
        .create_task(
            &user,
            json!({"title": "Call mum", "remind_at": in_seconds(2)}),
        )
        .await;
    assert_eq!(task["reminded_at"], Value::Null);
    let remind_at = utc_time(&task["remind_at"]);
    for name in [
        "task.created",
        "task.created",
        "task.updated",
        "task.created",
    ] {
        assert_eq!(stream.next_event().await.name(), name);
    }

    // Delivered once, as the task with `reminded_at` set, not before it is due.
    let reminder = reminder_once(&mut stream, &task).await;
    let delivered = reminder.json();
    let reminded_at = utc_time(&delivered["reminded_at"]);
    assert!(
        reminded_at >= remind_at,
        "reminded at {reminded_at}, due {remind_at}"
    );
    assert!(Utc::now() >= remind_at);
    let stored = app.fetch_task(&user, &task["id"]).await;
    assert_eq!(
        delivered, stored,
        "the reminder carries the task as GET shows it"
    );
    let mut expected = task.clone();
    expected["reminded_at"] = delivered["reminded_at"].clone();
    assert_eq!(
        stored, expected,
        "delivering changes reminded_at only (not updated_at)"
    );
    assert_eq!(
        app.fetch_task(&user, &completed["id"]).await["reminded_at"],
        Value::Null
    );
    assert_eq!(
        app.fetch_task(&user, &completed_later["id"]).await["reminded_at"],
        Value::Null
    );

    // The polling list shows it, delivered; the completed ones are not in it.
    let listed = app.fetch_reminders(&user, None).await;
    assert_eq!(listed, vec![stored.clone()]);

    // An edit that leaves remind_at alone does not re-arm it.
    let renamed = assert_status(
        app.patch_task(
            &user,
            &task["id"],
            &json!({"title": "Call mum today", "remind_at": task["remind_at"]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["reminded_at"], delivered["reminded_at"]);
    let event = stream.next_event().await;
    assert_eq!(event.name(), "task.updated");
    assert_eq!(event.json(), renamed);

    // A new remind_at re-arms it: delivered again, once, when due.
    let rearmed = assert_status(
        app.patch_task(&user, &task["id"], &json!({"remind_at": in_seconds(2)}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rearmed["reminded_at"], Value::Null);
    let new_remind_at = utc_time(&rearmed["remind_at"]);
    let event = stream.next_event().await;
    assert_eq!(event.name(), "task.updated");
    assert_eq!(event.json(), rearmed);
    let second = reminder_once(&mut stream, &task).await;
    assert_ne!(second.id, reminder.id, "a new event, not a replay");
    let again = second.json();
    assert_eq!(again["title"], "Call mum today");
    let reminded_again = utc_time(&again["reminded_at"]);
    assert!(reminded_again >= new_remind_at && reminded_again > reminded_at);
    assert_eq!(again, app.fetch_task(&user, &task["id"]).await);
    assert_eq!(app.fetch_reminders(&user, None).await, vec![again]);
}

#[tokio::test]
async fn the_reminders_list_holds_open_tasks_due_by_before_soonest_first() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;

    let later = app
        .create_task(
            &user,
            json!({"title": "later", "remind_at": "2020-01-01T10:00:00Z"}),
        )
        .await;
    // 09:00 UTC, given with an offset.
    let sooner = app
        .create_task(
            &user,
            json!({"title": "sooner", "remind_at": "2020-01-01T11:00:00+02:00"}),
        )
        .await;
    let tie = app
        .create_task(
            &user,
            json!({"title": "tie", "remind_at": "2020-01-01T10:00:00Z"}),
        )
        .await;
    let future = app
        .create_task(
            &user,
            json!({"title": "future", "remind_at": "2035-06-01T08:00:00Z"}),
        )
        .await;
    app.create_task(
        &user,
        json!({"title": "done", "completed": true, "remind_at": "2019-06-01T08:00:00Z"}),
    )
    .await;
    let reopened_later = app
        .create_task(
            &user,
            json!({"title": "completed later", "remind_at": "2035-01-01T08:00:00Z"}),
        )
        .await;
    app.toggled_task(&user, &reopened_later["id"]).await;
    app.create_task(&user, json!({"title": "no reminder"}))
        .await;
    app.create_task(
        &other,
        json!({"title": "someone else's", "remind_at": "2019-01-01T08:00:00Z"}),
    )
    .await;

    // Default: now.
    assert_eq!(
        ids(&app.fetch_reminders(&user, None).await),
        ids(&[sooner.clone(), later.clone(), tie.clone()])
    );
    // Bounds are inclusive; ties go by id.
    for (before, expected) in [
        ("2019-12-31T23:59:59Z", vec![]),
        ("2020-01-01T09:00:00Z", vec![sooner.clone()]),
        ("2020-01-01T09:59:59.999999Z", vec![sooner.clone()]),
        (
            "2020-01-01T10:00:00Z",
            vec![sooner.clone(), later.clone(), tie.clone()],
        ),
        // 08:00 UTC.
        (
            "2035-06-01T10:00:00+02:00",
            vec![sooner.clone(), later.clone(), tie.clone(), future.clone()],
        ),
        (
            "2035-06-01T07:59:59Z",
            vec![sooner.clone(), later.clone(), tie.clone()],
        ),
    ] {
        assert_eq!(
            ids(&app.fetch_reminders(&user, Some(before)).await),
            ids(&expected),
            "before={before}"
        );
    }
    // An unencoded `+` in the offset (read as a space) is understood too.
    let response = app
        .get(
            &format!(
                "/api/v1/users/{}/reminders?before=2035-06-01T10:00:00+02:00",
                user.id
            ),
            Some(&user.access),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        ids(&body(response).await.as_array().unwrap().clone()).len(),
        4
    );

    // Items are whole task objects (the future one is not delivered yet, so it is stable).
    let listed = app
        .fetch_reminders(&user, Some("2040-01-01T00:00:00Z"))
        .await;
    assert_eq!(
        listed.last(),
        Some(&app.fetch_task(&user, &future["id"]).await)
    );
    assert_eq!(listed.last().unwrap()["reminded_at"], Value::Null);
    // The past ones are delivered by the scheduler meanwhile.
    let deadline = Instant::now() + ARRIVES_WITHIN;
    loop {
        let listed = app.fetch_reminders(&user, None).await;
        if listed.iter().all(|task| !task["reminded_at"].is_null()) {
            for task in &listed {
                utc_time(&task["reminded_at"]);
            }
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {listed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The other user sees only their own.
    let theirs = app.fetch_reminders(&other, None).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["title"], "someone else's");

    for bad in [
        "tomorrow",
        "2030-01-01T10:00:00",
        "2030-01-01",
        "",
        "2030-13-01T10:00:00Z",
    ] {
        let response = app.list_reminders(&user, Some(bad)).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_DUE_DATE").await;
        assert_eq!(error["field"], "before", "{bad:?}: {error}");
    }
    assert_error(
        app.list_reminders(user.with_token(None), None).await,
        StatusCode::UNAUTHORIZED,
        "MISSING_TOKEN",
    )
    .await;
    assert_error(
        app.list_reminders(user.with_token(Some(&other.access)), None)
            .await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;
}

/// Two server processes on one database, as `spawn_sharing` makes them (on SQLite, two
/// processes on one file: each hears the other's changes by polling the log).
#[tokio::test]
async fn two_instances_on_one_database_share_events_and_deliver_each_reminder_once() {
    let Some(a) = TestApp::spawn().await else {
        return;
    };
    let user = a.signed_in_user().await;
    let b = a.spawn_sharing().await;
    // B's stream opens right after B starts.
    let mut on_b = EventStream::open(&b, &user).await;
    let mut on_a = EventStream::open(&a, &user).await;

    // A change made through one instance reaches the streams of both.
    let through_a = a.create_task(&user, json!({"title": "through A"})).await;
    let through_b = b.create_task(&user, json!({"title": "through B"})).await;
    for (stream, name) in [(&mut on_a, "A"), (&mut on_b, "B")] {
        for task in [&through_a, &through_b] {
            let event = stream.next_event().await;
            assert_eq!(event.name(), "task.created", "on {name}");
            assert_eq!(event.json(), *task, "on {name}");
        }
    }
    let tag = b.create_tag(&user, json!({"name": "shared"})).await;
    let event = on_a.next_event().await;
    assert_eq!((event.name(), event.json()), ("tag.created", tag));
    assert_eq!(on_b.next_event().await.name(), "tag.created");

    // Reminders due at once, with both schedulers running: each is claimed by one instance, so
    // each stream (one per instance) carries each reminder exactly once, as one event.
    let due = in_seconds(2);
    let mut tasks = Vec::new();
    for n in 0..10 {
        let through = if n % 2 == 0 { &a } else { &b };
        tasks.push(
            through
                .create_task(
                    &user,
                    json!({"title": format!("reminder {n}"), "remind_at": due}),
                )
                .await,
        );
    }
    let mut delivered = Vec::new();
    for (stream, name) in [(&mut on_a, "A"), (&mut on_b, "B")] {
        for task in &tasks {
            let event = stream.next_event().await;
            assert_eq!(event.name(), "task.created", "on {name}");
            // As the stream read it: before its reminder, unless this machine is very slow.
            let mut carried = event.json();
            assert_eq!(carried["id"], task["id"], "on {name}");
            carried["reminded_at"] = Value::Null;
            assert_eq!(carried, *task, "on {name}");
        }
        let mut reminders = Vec::new();
        while reminders.len() < tasks.len() {
            let event = stream.next_event().await;
            assert_eq!(event.name(), "reminder", "on {name}: {event:?}");
            reminders.push(event);
        }
        let later = stream.events_for(ONCE_WINDOW).await;
        assert!(
            later.is_empty(),
            "on {name}, after the reminders: {later:?}"
        );
        let mut task_ids: Vec<i64> = reminders
            .iter()
            .map(|event| event.json()["id"].as_i64().unwrap())
            .collect();
        task_ids.sort_unstable();
        let mut expected: Vec<i64> = tasks.iter().map(|t| t["id"].as_i64().unwrap()).collect();
        expected.sort_unstable();
        assert_eq!(task_ids, expected, "on {name}: each reminder once");
        delivered.push(reminders);
    }
    // 20 events in all (10 per stream, not 20 per stream), and the same 10 events on both.
    let total: usize = delivered.iter().map(|d| reminder_events(d).len()).sum();
    assert_eq!(total, 2 * tasks.len());
    let ids_on = |n: usize| -> HashSet<Option<String>> {
        delivered[n].iter().map(|event| event.id.clone()).collect()
    };
    assert_eq!(ids_on(0), ids_on(1), "one publication per reminder");
    assert_eq!(ids_on(0).len(), tasks.len());

    // One reminded_at each, as the events carried it.
    let listed = b.fetch_reminders(&user, None).await;
    assert_eq!(listed.len(), tasks.len());
    for task in &listed {
        let event = delivered[0]
            .iter()
            .find(|event| event.json()["id"] == task["id"])
            .unwrap();
        assert_eq!(event.json(), *task);
        utc_time(&task["reminded_at"]);
    }
}

/// Opens `user`'s event stream on a raw connection with a tiny receive buffer, reads the
/// response head, and then never reads again: the server's writes to it block at once.
async fn stalled_stream(app: &TestApp, user: &TestUser) -> tokio::net::TcpStream {
    let address: SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(1024).unwrap();
    let stream = socket.connect(address).await.unwrap();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Accept: text/event-stream\r\n\r\n",
        events_path(user),
        user.access
    );
    let mut written = 0;
    while written < request.len() {
        stream.writable().await.unwrap();
        match stream.try_write(&request.as_bytes()[written..]) {
            Ok(n) => written += n,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => panic!("writing the request: {error}"),
        }
    }
    let mut head = Vec::new();
    let deadline = Instant::now() + ARRIVES_WITHIN;
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        assert!(Instant::now() < deadline, "no response head");
        let mut byte = [0u8; 1];
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.readable()).await;
        match stream.try_read(&mut byte) {
            Ok(0) => panic!("connection closed before the response head"),
            Ok(_) => head.push(byte[0]),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => panic!("reading the response head: {error}"),
        }
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );
    stream
}

#[tokio::test]
async fn a_stream_that_stops_reading_does_not_hold_up_writers_or_other_streams() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let stalled = stalled_stream(&app, &user).await;
    let mut reading = EventStream::open(&app, &user).await;

    // A reader alongside, collecting everything.
    const WRITES: usize = 300;
    let reader = tokio::spawn(async move {
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        while events.len() < WRITES && Instant::now() < deadline {
            if let Some(event) = reading.next_event_within(ARRIVES_WITHIN).await {
                events.push(event);
            } else {
                break;
            }
        }
        (reading, events)
    });

    // Large events: ~1000 two-byte characters of description each.
    let description = "é".repeat(1000);
    const BOUND: Duration = Duration::from_secs(60);
    let started = Instant::now();
    let writes = async {
        let mut written = Vec::new();
        for n in 0..WRITES / 2 {
            let task = app
                .create_task(
                    &user,
                    json!({"title": format!("task {n}"), "description": description}),
                )
                .await;
            let patched = assert_status(
                app.patch_task(
                    &user,
                    &task["id"],
                    &json!({"title": format!("task {n} (edited)")}),
                )
                .await,
                StatusCode::OK,
            )
            .await;
            written.push(("task.created", task));
            written.push(("task.updated", patched));
        }
        written
    };
    let written = tokio::time::timeout(BOUND, writes)
        .await
        .unwrap_or_else(|_| panic!("{WRITES} writes did not finish within {BOUND:?}"));
    let took = started.elapsed();
    assert!(took < BOUND, "{WRITES} writes took {took:?}");

    // The reading stream got every one of them, in order, each with the task as it was when
    // the stream read the log: a creation read after its task's edit carries the edit.
    let (mut reading, events) = reader.await.unwrap();
    assert_eq!(events.len(), WRITES, "events on the reading stream");
    // Each at the next entry of the log, after sign-up's.
    let log = app.log_cursors(&user).await;
    assert_eq!(log.len(), SIGN_UP_ENTRIES + WRITES, "entries in the log");
    for (index, (event, (name, data))) in events.iter().zip(&written).enumerate() {
        assert_eq!(event.name(), *name, "event {index}");
        assert_eq!(
            event.cursor(),
            log[SIGN_UP_ENTRIES + index],
            "event {index}"
        );
        let carried = event.json();
        if *name == "task.created" {
            let edited = &written[index + 1].1;
            assert!(
                carried == *data || carried == *edited,
                "event {index}: {carried}"
            );
        } else {
            assert_eq!(carried, *data, "event {index}");
        }
    }

    // The service still answers, and streams old and new still carry new events.
    let mut fresh = EventStream::open(&app, &user).await;
    let last = app
        .create_task(&user, json!({"title": "after the burst"}))
        .await;
    for stream in [&mut reading, &mut fresh] {
        let event = stream.next_event().await;
        assert_eq!((event.name(), event.json()), ("task.created", last.clone()));
    }
    drop(stalled);
}

#[tokio::test]
async fn an_idle_stream_outlives_the_request_timeout_and_gets_keep_alive_comments() {
    let Some(app) = TestApp::spawn_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await else {
        return;
    };
    let user = app.signed_in_user().await;
    let mut stream = EventStream::open(&app, &user).await;
    assert_eq!(
        stream.next_item_within(ARRIVES_WITHIN).await,
        Some(SseItem::Comment("connected".to_owned()))
    );
    // Keep-alives every 15 seconds.
    let started = Instant::now();
    let item = stream.next_item_within(Duration::from_secs(20)).await;
    assert!(
        matches!(item, Some(SseItem::Comment(_))),
        "a keep-alive comment, got {item:?} (ended: {})",
        stream.ended()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Still open, long after the request timeout.
    let task = app
        .create_task(&user, json!({"title": "still there"}))
        .await;
    let event = stream.next_event().await;
    assert_eq!((event.name(), event.json()), ("task.created", task));
}

#[tokio::test]
async fn concurrent_writes_each_arrive_once_with_each_task_s_events_in_order() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let mut stream = EventStream::open(&app, &user).await;

    // Many writers at once: on PostgreSQL their events queue up and go out in shared NOTIFYs.
    const WRITERS: usize = 48;
    let written = join_all((0..WRITERS).map(|n| {
        let (app, user) = (&app, &user);
        async move {
            let task = app
                .create_task(user, json!({"title": format!("task {n}")}))
                .await;
            let patched = assert_status(
                app.patch_task(
                    user,
                    &task["id"],
                    &json!({"title": format!("task {n} (edited)")}),
                )
                .await,
                StatusCode::OK,
            )
            .await;
            (task, patched)
        }
    }))
    .await;

    let mut events = Vec::new();
    while events.len() < 2 * WRITERS {
        events.push(stream.next_event().await);
    }
    assert_no_more_events(&mut stream).await;
    // Every entry of the log after sign-up's once, in log order, none left out.
    let cursors: Vec<&str> = events.iter().map(SseEvent::cursor).collect();
    let all = app.log_cursors(&user).await;
    assert_eq!(
        all.len(),
        SIGN_UP_ENTRIES + 2 * WRITERS,
        "entries in the log"
    );
    assert_eq!(cursors, all[SIGN_UP_ENTRIES..], "the events' cursors");
    for (task, patched) in &written {
        let of_task: Vec<&SseEvent> = events
            .iter()
            .filter(|event| event.json()["id"] == task["id"])
            .collect();
        let names: Vec<&str> = of_task.iter().map(|event| event.name()).collect();
        assert_eq!(
            names,
            ["task.created", "task.updated"],
            "the events of task {}",
            task["id"]
        );
        // Each carries the task as it was when the stream read the log: the creation either
        // state, the last event the task as it is now.
        let created = of_task[0].json();
        assert!(
            created == *task || created == *patched,
            "task.created of task {}: {created}",
            task["id"]
        );
        assert_eq!(of_task[1].json(), *patched, "task {}", task["id"]);
        assert_eq!(*patched, app.fetch_task(&user, &task["id"]).await);
    }
}

/// The log carries no copy of the object, only its id: an event larger than a PostgreSQL
/// `NOTIFY` payload (8000 bytes) arrives whole on both backends.
#[tokio::test]
async fn an_event_larger_than_a_postgres_notify_payload_arrives_whole() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let mut stream = EventStream::open(&app, &user).await;
    // Control characters are six bytes each in JSON (`\u0001`): well over 7.9 kB in all.
    let mut tag_ids = Vec::new();
    for n in 0..10 {
        let name = format!("{n}{}", "\u{1}".repeat(49));
        tag_ids.push(app.create_tag(&user, json!({"name": name})).await["id"].clone());
    }
    let task = app
        .create_task(
            &user,
            json!({"title": "\u{1}".repeat(200), "description": "\u{1}".repeat(1000), "tag_ids": tag_ids}),
        )
        .await;
    assert!(task.to_string().len() > 8000, "{}", task.to_string().len());
    let small = app.create_task(&user, json!({"title": "small"})).await;

    for _ in 0..10 {
        assert_eq!(stream.next_event().await.name(), "tag.created");
    }
    let event = stream.next_event().await;
    assert_eq!(event.name(), "task.created");
    assert!(event.data.len() > 8000, "{}", event.data.len());
    assert_eq!(event.json(), task);
    let event = stream.next_event().await;
    assert_eq!((event.name(), event.json()), ("task.created", small));
}

#[tokio::test]
async fn a_stream_ends_when_the_token_that_opened_it_expires() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    // The user's own token, re-signed to expire in 3 seconds.
    let mut claims = claims_of(&user.access);
    claims["exp"] = json!(Utc::now().timestamp() + 3);
    let short_lived = forge_token(&claims, Algorithm::HS256, TEST_SECRET);
    let opened = Instant::now();
    let mut stream = EventStream::new(
        app.get_events_by_query(user.with_token(Some(&short_lived)))
            .await,
    );
    let mut long_lived = EventStream::open(&app, &user).await;

    // Live until then.
    let task = app
        .create_task(&user, json!({"title": "before expiry"}))
        .await;
    let event = stream.next_event().await;
    assert_eq!((event.name(), event.json()), ("task.created", task));
    assert_eq!(long_lived.next_event().await.name(), "task.created");

    // Then ended by the server, with nothing more.
    let after = stream.events_for(ARRIVES_WITHIN).await;
    assert!(after.is_empty(), "{after:?}");
    assert!(
        stream.ended(),
        "the stream is still open after the token expired"
    );
    assert!(
        opened.elapsed() >= Duration::from_secs(1),
        "ended after {:?}",
        opened.elapsed()
    );
    // The stream of a token still valid goes on.
    let task = app
        .create_task(&user, json!({"title": "after expiry"}))
        .await;
    let event = long_lived.next_event().await;
    assert_eq!((event.name(), event.json()), ("task.created", task));
}
