//! The change log (issue #15): delta sync with `GET …/changes`, event streams resumed with
//! `Last-Event-ID`, cursors, retention, several processes, and a client that rebuilds its
//! copy of the data from the changes alone.

use std::{collections::BTreeMap, time::Duration};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode, header::HeaderValue};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use todo_api::core::settings::DatabaseBackend;

use super::helpers::{
    EventStream, Place, SIGN_UP_ENTRIES, SseEvent, TestApp, TestUser, assert_error, assert_status,
    cursor_place, server_url, unix_now,
};

/// Asserts that `user`'s `/changes` without `since` answers no changes and returns the
/// current cursor, once every entry of their log is settled (see
/// [`TestApp::settled_log_end`]): at or after their last entry.
async fn current_cursor(app: &TestApp, user: &TestUser) -> String {
    let end = app.settled_log_end(user).await;
    let answer = app.fetch_changes(user, &[]).await;
    assert_eq!(answer["changes"], json!([]), "{answer}");
    assert_eq!(answer["has_more"], false, "{answer}");
    let cursor = answer["cursor"].as_str().expect("a cursor").to_owned();
    assert!(
        cursor_place(user, &cursor) >= cursor_place(user, &end),
        "the log's end went back from {end} to {cursor}"
    );
    cursor
}

/// Asserts that `cursor` is the log's end for `user` as `/changes` answers it: at or after
/// their last entry (`last`), and at or before the end answered now; nothing follows it.
async fn assert_log_end(app: &TestApp, user: &TestUser, cursor: &str, last: &str) {
    let place = cursor_place(user, cursor);
    assert!(
        place >= cursor_place(user, last),
        "the end {cursor} is before the last entry {last}"
    );
    let now = current_cursor(app, user).await;
    assert!(
        place <= cursor_place(user, &now),
        "the end {cursor} is past the end now {now}"
    );
    assert_eq!(
        app.fetch_changes(user, &[("since", cursor)]).await,
        json!({"changes": [], "cursor": cursor, "has_more": false}),
        "after the end {cursor}"
    );
}

/// The SQL condition of the log entries at or before `place`.
fn up_to((xid, id): Place) -> String {
    format!("(xid < {xid} OR (xid = {xid} AND id <= {id}))")
}

/// The SQL condition of the log entries at one of `places`.
fn at_any(places: &[Place]) -> String {
    let each: Vec<String> = places
        .iter()
        .map(|(xid, id)| format!("(xid = {xid} AND id = {id})"))
        .collect();
    format!("({})", each.join(" OR "))
}

/// Makes `user`'s log entries matching `condition` 40 days old, and lets retention (30 days)
/// delete them; asserts that `expected` went, all of them `user`'s.
async fn expire(app: &TestApp, user: &TestUser, condition: &str, expected: u64) {
    let sql = format!("UPDATE changes SET at = at - 40 * 86400 WHERE user_id = $1 AND {condition}");
    assert_eq!(app.execute_sql(&sql, Some(&user.id)).await, expected);
    let deleted = app
        .store
        .prune_changes(unix_now() - 30 * 86_400, 1000)
        .await
        .unwrap();
    assert_eq!(deleted, expected, "entries retention deleted");
}

/// Every change after `since`, one entry of the log per request (`limit=1`: nothing merged),
/// and the cursor reached. An entry whose object has been deleted since answers an empty page
/// that still moves the cursor on.
async fn walk_changes(app: &TestApp, user: &TestUser, since: &str) -> (Vec<Value>, String) {
    app.settled_log_end(user).await;
    let mut since = since.to_owned();
    let mut changes = Vec::new();
    loop {
        let page = app
            .fetch_changes(user, &[("since", &since), ("limit", "1")])
            .await;
        let items = page["changes"].as_array().expect("changes").clone();
        assert!(items.len() <= 1, "{page}");
        changes.extend(items);
        since = page["cursor"].as_str().unwrap().to_owned();
        if page["has_more"] == false {
            return (changes, since);
        }
    }
}

/// The next `count` events of `stream`.
async fn events(stream: &mut EventStream, count: usize) -> Vec<SseEvent> {
    let mut events = Vec::with_capacity(count);
    while events.len() < count {
        events.push(stream.next_event().await);
    }
    events
}

/// Asserts that nothing more arrives on `stream` for a second.
async fn assert_no_more_events(stream: &mut EventStream) {
    let more = stream.events_for(Duration::from_secs(1)).await;
    assert!(more.is_empty(), "unexpected further events: {more:?}");
}

/// (cursor, type, id) of events, as `/changes` items name them.
fn event_keys(events: &[SseEvent]) -> Vec<(String, String, Value)> {
    events
        .iter()
        .map(|event| {
            (
                event.id.clone().unwrap(),
                event.name().to_owned(),
                event.json()["id"].clone(),
            )
        })
        .collect()
}

/// (cursor, type, id) of `/changes` items.
fn change_keys(changes: &[Value]) -> Vec<(String, String, Value)> {
    changes
        .iter()
        .map(|change| {
            (
                change["cursor"].as_str().unwrap().to_owned(),
                change["type"].as_str().unwrap().to_owned(),
                change["id"].clone(),
            )
        })
        .collect()
}

/// One `/changes` item as the API should answer it.
fn change(cursor: String, kind: &str, id: &Value, data: Value) -> Value {
    json!({"cursor": cursor, "type": kind, "id": id, "data": data})
}

/// The entries sign-up put first in `user`'s log (`log`: the cursors of their log from its
/// start), as (cursor, type, data): the default statuses, then the default priorities, each
/// as GET answers it now.
async fn sign_up_entries(
    app: &TestApp,
    user: &TestUser,
    log: &[String],
) -> Vec<(String, &'static str, Value)> {
    let statuses = app.fetch_statuses(user).await;
    let priorities = app.fetch_priorities(user).await;
    let names = |list: &Value| -> Vec<Value> {
        let list = list.as_array().unwrap().iter();
        list.map(|item| item["name"].clone()).collect()
    };
    assert_eq!(
        names(&statuses),
        ["not_started", "in_progress", "completed"]
    );
    assert_eq!(names(&priorities), ["low", "medium", "high"]);
    let created = (statuses.as_array().unwrap().iter())
        .map(|status| ("status.created", status))
        .chain(
            (priorities.as_array().unwrap().iter()).map(|priority| ("priority.created", priority)),
        );
    let entries: Vec<(String, &'static str, Value)> = created
        .zip(log)
        .map(|((kind, data), cursor)| (cursor.clone(), kind, data.clone()))
        .collect();
    assert_eq!(entries.len(), SIGN_UP_ENTRIES, "{log:?}");
    entries
}

/// `entries` (cursor, type, data) as `/changes` items.
fn as_changes(entries: &[(String, &str, Value)]) -> Vec<Value> {
    entries
        .iter()
        .map(|(cursor, kind, data)| change(cursor.clone(), kind, &data["id"], data.clone()))
        .collect()
}

/// (cursor, type, id) of `entries` (cursor, type, data).
fn entry_keys(entries: &[(String, &str, Value)]) -> Vec<(String, String, Value)> {
    entries
        .iter()
        .map(|(cursor, kind, data)| (cursor.clone(), (*kind).to_owned(), data["id"].clone()))
        .collect()
}

/// Asserts that the next events on `stream` are `expected` (cursor, name, data), then nothing
/// for a second.
async fn assert_events(stream: &mut EventStream, expected: &[(String, &str, Value)]) {
    for (index, (cursor, name, data)) in expected.iter().enumerate() {
        let event = stream.next_event().await;
        assert_eq!(event.id.as_ref(), Some(cursor), "event {index}: {event:?}");
        assert_eq!(event.name(), *name, "event {index}: {event:?}");
        assert_eq!(event.json(), *data, "event {index}: {event:?}");
    }
    assert_no_more_events(stream).await;
}

#[tokio::test]
async fn changes_since_a_cursor_come_in_order_each_object_once_as_it_is_now() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    // Without `since`: no changes and the current cursor (the log's end), before the first
    // change as after it: a cursor that answers nothing until the next change.
    let before = current_cursor(&app, &user).await;
    assert_eq!(
        app.fetch_changes(&user, &[("since", &before)]).await,
        json!({"changes": [], "cursor": before, "has_more": false})
    );
    let one = app.create_task(&user, json!({"title": "one"})).await; // 1
    let start = current_cursor(&app, &user).await;
    let first = app.log_cursor(&user, SIGN_UP_ENTRIES as i64 + 1).await;
    assert_log_end(&app, &user, &start, &first).await;

    let tag = app.create_tag(&user, json!({"name": "home"})).await; // 2
    let two = app
        .create_task(&user, json!({"title": "two", "tag_ids": [tag["id"]]}))
        .await; // 3
    for patch in [
        json!({"title": "one, renamed"}),
        json!({"priority": "high"}),
    ] {
        let response = app.patch_task(&user, &one["id"], &patch).await; // 4, 5
        assert_status(response, StatusCode::OK).await;
    }
    let three = app.create_task(&user, json!({"title": "three"})).await; // 6
    let response = app.delete_task(&user, &three["id"]).await; // 7
    assert_status(response, StatusCode::NO_CONTENT).await;
    let response = app
        .patch_task(&user, &two["id"], &json!({"description": "more"}))
        .await; // 8
    assert_status(response, StatusCode::OK).await;
    let one = app.fetch_task(&user, &one["id"]).await;
    let two = app.fetch_task(&user, &two["id"]).await;
    let tag = app.fetch_tag(&user, &tag["id"]).await;
    let all = app.log_cursors(&user).await;
    assert_eq!(all.len(), SIGN_UP_ENTRIES + 8, "{all:?}");
    let sign_up = as_changes(&sign_up_entries(&app, &user, &all).await);
    // The entries after sign-up's: the `n`-th at `c(n)`.
    let log = &all[SIGN_UP_ENTRIES..];
    let c = |n: usize| log[n - 1].clone();
    app.settled_log_end(&user).await;

    // Each object once, at its last change, as GET answers it now; a deletion without data.
    // `two` was created after `start`: it stays `task.created` though edited since. The
    // first entry's cursor answers the same as the end answered after it.
    let since_start = json!({
        "changes": [
            change(c(2), "tag.created", &tag["id"], tag.clone()),
            change(c(5), "task.updated", &one["id"], one.clone()),
            change(c(7), "task.deleted", &three["id"], Value::Null),
            change(c(8), "task.created", &two["id"], two.clone()),
        ],
        "cursor": c(8),
        "has_more": false,
    });
    assert_eq!(
        app.fetch_changes(&user, &[("since", &start)]).await,
        since_start
    );
    assert_eq!(
        app.fetch_changes(&user, &[("since", &c(1))]).await,
        since_start
    );
    // From the start of the log: sign-up's statuses and priorities first, and `one` is new
    // too.
    let mut from_zero = sign_up.clone();
    from_zero.extend([
        change(c(2), "tag.created", &tag["id"], tag.clone()),
        change(c(5), "task.created", &one["id"], one.clone()),
        change(c(7), "task.deleted", &three["id"], Value::Null),
        change(c(8), "task.created", &two["id"], two.clone()),
    ]);
    assert_eq!(
        app.fetch_changes(&user, &[("since", "0")]).await,
        json!({"changes": from_zero, "cursor": c(8), "has_more": false})
    );
    // Up to date: nothing, the same cursor; the current one is at or after it.
    assert_eq!(
        app.fetch_changes(&user, &[("since", &c(8))]).await,
        json!({"changes": [], "cursor": c(8), "has_more": false})
    );
    let end = current_cursor(&app, &user).await;
    assert_log_end(&app, &user, &end, &c(8)).await;

    // Page by page: `limit` entries of the log at a time, merged within the page only.
    let pages = [
        json!({
            "changes": [
                change(c(2), "tag.created", &tag["id"], tag.clone()),
                change(c(3), "task.created", &two["id"], two.clone()),
            ],
            "cursor": c(3),
            "has_more": true,
        }),
        json!({
            "changes": [change(c(5), "task.updated", &one["id"], one.clone())],
            "cursor": c(5),
            "has_more": true,
        }),
        // The creation of a task deleted since is left out; its deletion is sent.
        json!({
            "changes": [change(c(7), "task.deleted", &three["id"], Value::Null)],
            "cursor": c(7),
            "has_more": true,
        }),
        json!({
            "changes": [change(c(8), "task.updated", &two["id"], two.clone())],
            "cursor": c(8),
            "has_more": false,
        }),
    ];
    let mut since = start.clone();
    for (index, expected) in pages.iter().enumerate() {
        let page = app
            .fetch_changes(&user, &[("since", &since), ("limit", "2")])
            .await;
        assert_eq!(page, *expected, "page {index}");
        since = page["cursor"].as_str().unwrap().to_owned();
    }
    // A page whose only entry was left out is empty, and still moves the cursor on.
    assert_eq!(
        app.fetch_changes(&user, &[("since", &c(5)), ("limit", "1")])
            .await,
        json!({"changes": [], "cursor": c(6), "has_more": true})
    );

    for bad in ["0", "-1", "abc", "1.5", ""] {
        let response = app
            .get_changes(&user, &[("since", &start), ("limit", bad)])
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PAGINATION").await;
        assert_eq!(error["field"], "limit", "limit={bad:?}: {error}");
    }

    // 100 by default, at most 1000.
    app.insert_bulk_tasks(&user.id, 1100).await; // 9 ..= 1108
    let all = app.log_cursors(&user).await;
    assert_eq!(all.len(), SIGN_UP_ENTRIES + 1108);
    let log = &all[SIGN_UP_ENTRIES..];
    let c = |n: usize| log[n - 1].clone();
    app.settled_log_end(&user).await;
    let bulk_page = |page: &Value, first: usize, count: usize, has_more: bool| {
        let items = page["changes"].as_array().unwrap();
        let cursors: Vec<&str> = items
            .iter()
            .map(|item| item["cursor"].as_str().unwrap())
            .collect();
        assert_eq!(cursors, log[first - 1..first - 1 + count]);
        assert!(items.iter().all(|item| item["type"] == "task.created"));
        assert_eq!(page["cursor"], c(first + count - 1));
        assert_eq!(page["has_more"], has_more);
    };
    let page = app.fetch_changes(&user, &[("since", &c(8))]).await;
    bulk_page(&page, 9, 100, true);
    let page = app
        .fetch_changes(&user, &[("since", &c(8)), ("limit", "5000")])
        .await;
    bulk_page(&page, 9, 1000, true);
    let page = app
        .fetch_changes(&user, &[("since", &c(1008)), ("limit", "1000")])
        .await;
    bulk_page(&page, 1009, 100, false);
    let last = &page["changes"][99];
    assert_eq!(last["data"], app.fetch_task(&user, &last["id"]).await);
}

#[tokio::test]
async fn cursors_that_are_not_the_caller_s_are_refused_on_changes_and_on_the_stream() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    for n in 0..3 {
        app.create_task(&user, json!({"title": format!("mine {n}")}))
            .await;
    }
    for n in 0..5 {
        app.create_task(&other, json!({"title": format!("theirs {n}")}))
            .await;
    }
    let mine = app.log_cursors(&user).await;
    let all_theirs = app.log_cursors(&other).await;
    assert_eq!(
        (mine.len(), all_theirs.len()),
        (SIGN_UP_ENTRIES + 3, SIGN_UP_ENTRIES + 5)
    );
    // The entries of their tasks, after sign-up's.
    let mine = &mine[SIGN_UP_ENTRIES..];
    let theirs = &all_theirs[SIGN_UP_ENTRIES..];
    let end = current_cursor(&app, &user).await;
    assert_log_end(&app, &user, &end, &mine[2]).await;
    let tag = &user.id[..8];
    let (xid, id) = cursor_place(&user, &mine[1]);
    let (end_xid, _) = cursor_place(&user, &end);
    let mut bad = vec![
        // Another user's: at their first entry (sign-up's), their second task's, and their last.
        all_theirs[0].clone(),
        theirs[1].clone(),
        theirs[4].clone(),
        // Past the log's end.
        format!("{}.{}-{tag}", end_xid + 1_000_000, 1),
        // Cursors as they were before (a number per user): no longer cursors.
        format!("2-{tag}"),
        format!("3-{tag}"),
        format!("-1-{tag}"),
        format!("-1.{id}-{tag}"),
        format!("{xid}.-1-{tag}"),
        "-1".to_owned(),
        "1".to_owned(),
        "garbage".to_owned(),
        format!("{xid}.{id}"),
        format!("0-{tag}"),
        format!("0.0-{tag}"),
        format!("0{xid}.{id}-{tag}"),
        format!("{xid}.0{id}-{tag}"),
        format!("+{xid}.{id}-{tag}"),
        format!("{xid}.+{id}-{tag}"),
        format!("{xid}.{id}.1-{tag}"),
        format!("{xid}.{id}-{tag}0"),
        format!("{xid}.{id}-{tag}-2"),
    ];
    // The tag in capitals (unless it is all digits).
    if tag.to_uppercase() != tag {
        bad.push(format!("{xid}.{id}-{}", tag.to_uppercase()));
    }
    for bad in &bad {
        let response = app.get_changes(&user, &[("since", bad)]).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_CURSOR").await;
        assert_eq!(error["field"], "since", "since={bad:?}: {error}");

        let response = app.get_events_after(&user, Some(bad), &[]).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_CURSOR").await;
        assert_eq!(
            error["field"], "last_event_id",
            "Last-Event-ID {bad:?}: {error}"
        );

        let response = app
            .get_events_after(&user, None, &[("last_event_id", bad)])
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_CURSOR").await;
        assert_eq!(
            error["field"], "last_event_id",
            "last_event_id={bad:?}: {error}"
        );
    }
    // An event id as the stream sent them before the change log (a UUID): not a cursor for
    // `/changes`; a stream resumed from one is told to list again (a 400 would stop an
    // `EventSource` for good), from the log's end, then goes on live.
    let old_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let response = app.get_changes(&user, &[("since", old_id)]).await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_CURSOR").await;
    assert_eq!(error["field"], "since");
    let mut by_header = EventStream::resume(&app, &user, old_id).await;
    let mut by_query = EventStream::new(
        app.get_events_after(&user, None, &[("last_event_id", old_id)])
            .await,
    );
    for stream in [&mut by_header, &mut by_query] {
        let event = stream.next_event().await;
        assert_eq!(event.name(), "resync", "{event:?}");
        assert_eq!(event.json(), json!({"cursor": event.cursor()}));
        assert_log_end(&app, &user, event.cursor(), &mine[2]).await;
    }
    let task = app.create_task(&user, json!({"title": "mine 3"})).await;
    let fourth = app.log_cursor(&user, SIGN_UP_ENTRIES as i64 + 4).await;
    for stream in [&mut by_header, &mut by_query] {
        assert_events(stream, &[(fourth.clone(), "task.created", task.clone())]).await;
    }

    // A header that is not text.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/users/{}/events", user.id)))
        .bearer_auth(&user.access)
        .header("last-event-id", HeaderValue::from_bytes(b"2-\xe9").unwrap())
        .send()
        .await
        .unwrap();
    let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_CURSOR").await;
    assert_eq!(error["field"], "last_event_id");

    // Their own cursors, 0 and the current one are fine; the header wins over the query.
    let end = current_cursor(&app, &user).await;
    for good in ["0".to_owned(), mine[0].clone(), fourth, end] {
        assert_status(
            app.get_changes(&user, &[("since", &good)]).await,
            StatusCode::OK,
        )
        .await;
        EventStream::resume(&app, &user, &good).await;
        EventStream::new(
            app.get_events_after(&user, None, &[("last_event_id", &good)])
                .await,
        );
        EventStream::new(
            app.get_events_after(&user, Some(&good), &[("last_event_id", "garbage")])
                .await,
        );
    }
    assert_status(
        app.get_changes(&other, &[("since", &theirs[4])]).await,
        StatusCode::OK,
    )
    .await;

    // Another user's path: refused as on every other route, whatever the cursor.
    let their_cursor = &theirs[4];
    let theirs = user.with_token(Some(&other.access));
    assert_error(
        app.get_changes(theirs, &[]).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;
    assert_error(
        app.get_changes(theirs, &[("since", their_cursor)]).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;
    assert_error(
        app.get_events_after(theirs, Some(their_cursor), &[]).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;
    assert_error(
        app.get_changes(user.with_token(None), &[]).await,
        StatusCode::UNAUTHORIZED,
        "MISSING_TOKEN",
    )
    .await;
}

/// What a user's log should hold, in order: (type, id) of each write's entries.
type Expected = Vec<(&'static str, Value)>;

/// Reads the next event of `user`'s `stream`, asserts that it is the entry `(kind, id)` their
/// log gets next, and adds that to `log`.
async fn next_entry(
    app: &TestApp,
    (stream, user): (&mut EventStream, &TestUser),
    log: &mut Expected,
    kind: &'static str,
    id: &Value,
) {
    let event = stream.next_event().await;
    assert_eq!((event.name(), &event.json()["id"]), (kind, id), "{event:?}");
    let rank = app.log_rank(user, event.cursor()).await;
    assert_eq!(rank, log.len() as i64 + 1, "{event:?}");
    log.push((kind, id.clone()));
}

/// The entries of `expected` that a reader gets now: their ranks in the log from 1, the
/// creations and updates of objects deleted since left out (their deletions are sent).
fn kept(expected: &Expected) -> Vec<(usize, &'static str, Value)> {
    let deleted = |kind: &str, id: &Value| {
        let (object, _) = kind.split_once('.').expect("a type object.what");
        let gone = format!("{object}.deleted");
        expected
            .iter()
            .any(|(other, other_id)| *other == gone && other_id == id)
    };
    expected
        .iter()
        .enumerate()
        .filter(|(_, (kind, id))| kind.ends_with(".deleted") || !deleted(kind, id))
        .map(|(index, (kind, id))| (index + 1, *kind, id.clone()))
        .collect()
}

#[tokio::test]
async fn a_user_never_gets_another_user_s_changes_on_changes_the_stream_or_a_resumed_stream() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let users = [app.signed_in_user().await, app.signed_in_user().await];
    let mut live = Vec::new();
    for user in &users {
        live.push(EventStream::open(&app, user).await);
    }
    // Each log starts with sign-up's entries.
    let mut expected: [Expected; 2] = [Vec::new(), Vec::new()];
    for (user, expected) in users.iter().zip(&mut expected) {
        let log = app.log_cursors(user).await;
        let sign_up = sign_up_entries(&app, user, &log).await;
        assert_eq!(log.len(), SIGN_UP_ENTRIES);
        expected.extend(
            sign_up
                .iter()
                .map(|(_, kind, data)| (*kind, data["id"].clone())),
        );
    }
    let mut kept_objects: [Vec<Value>; 2] = [Vec::new(), Vec::new()];

    // The same writes by both, interleaved; each write's event is read on its user's stream
    // before the next write.
    for round in 0..3 {
        for (n, user) in users.iter().enumerate() {
            let (stream, log) = (&mut live[n], &mut expected[n]);
            let mut next = async |kind, id: &Value| {
                next_entry(&app, (&mut *stream, user), &mut *log, kind, id).await;
            };
            let task = app
                .create_task(user, json!({"title": format!("task {round}")}))
                .await;
            next("task.created", &task["id"]).await;
            let tag = app
                .create_tag(user, json!({"name": format!("tag {round}")}))
                .await;
            next("tag.created", &tag["id"]).await;
            let linked = app.link_tag(user, &task["id"], &tag["id"]).await;
            assert_status(linked, StatusCode::CREATED).await;
            next("task.updated", &task["id"]).await;
            if round == 1 {
                let deleted = app.delete_task(user, &task["id"]).await;
                assert_status(deleted, StatusCode::NO_CONTENT).await;
                next("task.deleted", &task["id"]).await;
            } else {
                kept_objects[n].push(task["id"].clone());
            }
            if round == 2 {
                let deleted = app.delete_tag(user, &tag["id"]).await;
                assert_status(deleted, StatusCode::NO_CONTENT).await;
                next("tag.deleted", &tag["id"]).await;
            }
        }
    }

    for (n, user) in users.iter().enumerate() {
        assert_no_more_events(&mut live[n]).await;
        let log = app.log_cursors(user).await;
        assert_eq!(log.len(), expected[n].len(), "user {n}");
        let kept: Vec<(String, String, Value)> = kept(&expected[n])
            .into_iter()
            .map(|(rank, kind, id)| (log[rank - 1].clone(), kind.to_owned(), id))
            .collect();
        // `/changes`, entry by entry, and in one page (each object once).
        let (changes, reached) = walk_changes(&app, user, "0").await;
        assert_eq!(change_keys(&changes), kept, "user {n}");
        assert_eq!(Some(&reached), log.last());
        let page = app.fetch_changes(user, &[("since", "0")]).await;
        for item in page["changes"].as_array().unwrap() {
            let data = &item["data"];
            assert!(
                data.is_null() || data["user_id"].is_null() || data["user_id"] == user.id,
                "user {n}: {item}"
            );
            assert!(
                kept.iter().any(|(_, _, id)| *id == item["id"]),
                "user {n}: {item}"
            );
        }
        // A stream resumed from the start of the log.
        let mut resumed = EventStream::resume(&app, user, "0").await;
        let replayed = events(&mut resumed, kept.len()).await;
        assert_eq!(event_keys(&replayed), kept, "user {n}");
        for event in &replayed {
            let data = event.json();
            assert!(
                data["user_id"].is_null() || data["user_id"] == user.id,
                "user {n}: {event:?}"
            );
        }
        assert_no_more_events(&mut resumed).await;
        // The tasks kept are theirs alone.
        for id in &kept_objects[n] {
            assert_eq!(app.fetch_task(user, id).await["user_id"], user.id);
        }
    }
}

#[tokio::test]
async fn a_cursor_older_than_the_log_kept_is_gone_and_a_stream_resumed_from_it_resyncs() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    let t1 = app.create_task(&user, json!({"title": "t1"})).await; // 1
    app.create_task(&user, json!({"title": "t2"})).await; // 2
    let response = app
        .patch_task(&user, &t1["id"], &json!({"priority": "low"}))
        .await; // 3
    assert_status(response, StatusCode::OK).await;
    let tag = app.create_tag(&user, json!({"name": "kept"})).await; // 4
    let response = app
        .patch_tag(&user, &tag["id"], &json!({"color": "#123456"}))
        .await; // 5
    let tag = assert_status(response, StatusCode::OK).await;
    let t3 = app.create_task(&user, json!({"title": "t3"})).await; // 6
    app.create_task(&other, json!({"title": "theirs"})).await;
    // The cursors of the user's entries, taken before retention deletes any: sign-up's, then
    // the ones numbered above (`log`).
    let all = app.log_cursors(&user).await;
    assert_eq!(all.len(), SIGN_UP_ENTRIES + 6);
    let mut log = all[SIGN_UP_ENTRIES..].to_vec();
    let c = |log: &[String], n: usize| log[n - 1].clone();

    // Retention has deleted the user's oldest entries: sign-up's, then three.
    let third = cursor_place(&user, &c(&log, 3));
    expire(&app, &user, &up_to(third), SIGN_UP_ENTRIES as u64 + 3).await;
    assert_eq!(app.log_places(&user).await.len(), 3);

    for gone in [all[0].clone(), c(&log, 1), c(&log, 2)] {
        let response = app.get_changes(&user, &[("since", &gone)]).await;
        assert_error(response, StatusCode::GONE, "CURSOR_EXPIRED").await;
    }
    // Right before the oldest entry kept: nothing missed.
    let after_three = json!({
        "changes": [
            change(c(&log, 5), "tag.created", &tag["id"], tag.clone()),
            change(c(&log, 6), "task.created", &t3["id"], t3.clone()),
        ],
        "cursor": c(&log, 6),
        "has_more": false,
    });
    assert_eq!(
        app.fetch_changes(&user, &[("since", &c(&log, 3))]).await,
        after_three
    );
    // 0 is the start of the log kept.
    assert_eq!(
        app.fetch_changes(&user, &[("since", "0")]).await,
        after_three
    );
    // The other user's log is untouched.
    let (theirs, _) = walk_changes(&app, &other, "0").await;
    assert_eq!(theirs.len(), SIGN_UP_ENTRIES + 1);

    // A stream resumed from a cursor no longer kept: `resync` first (its id the log's end),
    // then live changes.
    let mut by_header = EventStream::resume(&app, &user, &c(&log, 2)).await;
    let mut by_query = EventStream::new(
        app.get_events_after(&user, None, &[("last_event_id", &c(&log, 1))])
            .await,
    );
    for stream in [&mut by_header, &mut by_query] {
        let event = stream.next_event().await;
        assert_eq!(event.name(), "resync", "{event:?}");
        assert_eq!(event.json(), json!({"cursor": event.cursor()}));
        assert_log_end(&app, &user, event.cursor(), &c(&log, 6)).await;
    }
    let t4 = app.create_task(&user, json!({"title": "t4"})).await; // 7
    log.push(app.last_log_cursor(&user).await);
    for stream in [&mut by_header, &mut by_query] {
        assert_events(stream, &[(c(&log, 7), "task.created", t4.clone())]).await;
    }
    // Resumed from the entry before the oldest kept, or from 0: no resync.
    let tag_now = tag.clone();
    for from in [c(&log, 3), "0".to_owned()] {
        let mut stream = EventStream::resume(&app, &user, &from).await;
        assert_events(
            &mut stream,
            &[
                (c(&log, 4), "tag.created", tag_now.clone()),
                (c(&log, 5), "tag.updated", tag_now.clone()),
                (c(&log, 6), "task.created", t3.clone()),
                (c(&log, 7), "task.created", t4.clone()),
            ],
        )
        .await;
    }

    // Retention has deleted all of them. The last cursor is still up to date.
    expire(&app, &user, "true", 4).await;
    assert_eq!(
        app.fetch_changes(&user, &[("since", &c(&log, 7))]).await,
        json!({"changes": [], "cursor": c(&log, 7), "has_more": false})
    );
    let response = app.get_changes(&user, &[("since", &c(&log, 6))]).await;
    assert_error(response, StatusCode::GONE, "CURSOR_EXPIRED").await;
    let from_start = app.fetch_changes(&user, &[("since", "0")]).await;
    assert_eq!(from_start["changes"], json!([]));
    assert_eq!(from_start["has_more"], false);
    let end = from_start["cursor"].as_str().unwrap();
    assert_log_end(&app, &user, end, &c(&log, 7)).await;
    let mut stream = EventStream::resume(&app, &user, &c(&log, 6)).await;
    let event = stream.next_event().await;
    assert_eq!(event.name(), "resync", "{event:?}");
    assert_eq!(event.json(), json!({"cursor": event.cursor()}));
    assert_log_end(&app, &user, event.cursor(), &c(&log, 7)).await;
    let mut stream = EventStream::resume(&app, &user, &c(&log, 7)).await;
    let t5 = app.create_task(&user, json!({"title": "t5"})).await; // 8
    let eighth = app.last_log_cursor(&user).await;
    assert!(cursor_place(&user, &eighth) > cursor_place(&user, &c(&log, 7)));
    assert_events(&mut stream, &[(eighth, "task.created", t5)]).await;
}

#[tokio::test]
async fn retention_deletes_only_entries_older_than_the_cutoff_a_batch_at_a_time() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    for n in 0..10 {
        app.create_task(&user, json!({"title": format!("task {n}")}))
            .await;
    }
    for n in 0..3 {
        app.create_task(&other, json!({"title": format!("theirs {n}")}))
            .await;
    }
    let all = app.log_cursors(&user).await;
    assert_eq!(all.len(), SIGN_UP_ENTRIES + 10);
    // The entries of the tasks, after sign-up's.
    let log = &all[SIGN_UP_ENTRIES..];
    let c = |n: usize| log[n - 1].clone();
    let place = |n: usize| cursor_place(&user, &log[n - 1]);
    // Sign-up's entries and the next six 40 days old (twelve), two 29 days old, the rest (and
    // the other user's) new.
    let sql = format!(
        "UPDATE changes SET at = at - 40 * 86400 WHERE user_id = $1 AND {}",
        up_to(place(6))
    );
    assert_eq!(
        app.execute_sql(&sql, Some(&user.id)).await,
        SIGN_UP_ENTRIES as u64 + 6
    );
    let sql = format!(
        "UPDATE changes SET at = at - 29 * 86400 WHERE user_id = $1 AND {}",
        at_any(&[place(7), place(8)])
    );
    assert_eq!(app.execute_sql(&sql, Some(&user.id)).await, 2);
    let mine = || app.count_rows_with("changes", "user_id", &user.id);

    // Retention of 30 days, 5 entries per statement.
    let before = unix_now() - 30 * 86_400;
    assert_eq!(mine().await, 16);
    assert_eq!(app.store.prune_changes(before, 5).await.unwrap(), 5);
    assert_eq!(mine().await, 11);
    assert_eq!(app.store.prune_changes(before, 5).await.unwrap(), 5);
    assert_eq!(mine().await, 6);
    assert_eq!(app.store.prune_changes(before, 5).await.unwrap(), 2);
    assert_eq!(mine().await, 4);
    assert_eq!(app.store.prune_changes(before, 5).await.unwrap(), 0);
    assert_eq!(mine().await, 4);
    assert_eq!(
        app.count_rows_with("changes", "user_id", &other.id).await,
        SIGN_UP_ENTRIES as i64 + 3
    );

    // What is left is the user's newest four, in full.
    let (kept, reached) = walk_changes(&app, &user, &c(6)).await;
    let cursors: Vec<&str> = kept
        .iter()
        .map(|item| item["cursor"].as_str().unwrap())
        .collect();
    assert_eq!(cursors, [c(7), c(8), c(9), c(10)]);
    assert_eq!(reached, c(10));
    assert_eq!(
        app.fetch_changes(&user, &[("since", "0")]).await,
        app.fetch_changes(&user, &[("since", &c(6))]).await
    );
    let response = app.get_changes(&user, &[("since", &c(5))]).await;
    assert_error(response, StatusCode::GONE, "CURSOR_EXPIRED").await;
}

#[tokio::test]
async fn a_stream_resumed_after_a_disconnect_sends_exactly_the_missed_changes_then_live_ones() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let mut first = EventStream::open(&app, &user).await;
    let a = app.create_task(&user, json!({"title": "a"})).await; // 1
    let tag = app.create_tag(&user, json!({"name": "soon gone"})).await; // 2
    let response = app
        .patch_task(&user, &a["id"], &json!({"title": "a, edited"}))
        .await; // 3
    assert_status(response, StatusCode::OK).await;
    let read = events(&mut first, 2).await;
    // The `n`-th entry after sign-up's at `c(n)`.
    let log = app.log_cursors(&user).await;
    assert_eq!(log.len(), SIGN_UP_ENTRIES + 3);
    let c = |n: usize| log[SIGN_UP_ENTRIES + n - 1].clone();
    assert_eq!(
        event_keys(&read),
        [
            (c(1), "task.created".to_owned(), a["id"].clone()),
            (c(2), "tag.created".to_owned(), tag["id"].clone()),
        ]
    );
    let last_read = read[1].id.clone().unwrap();
    // The client goes away; changes go on.
    drop(first);
    let b = app.create_task(&user, json!({"title": "b"})).await; // 4
    let response = app.delete_tag(&user, &tag["id"]).await; // 5
    assert_status(response, StatusCode::NO_CONTENT).await;
    let response = app
        .patch_task(&user, &b["id"], &json!({"priority": "high"}))
        .await; // 6
    assert_status(response, StatusCode::OK).await;
    let a = app.fetch_task(&user, &a["id"]).await;
    let b = app.fetch_task(&user, &b["id"]).await;
    let log = app.log_cursors(&user).await;
    assert_eq!(log.len(), SIGN_UP_ENTRIES + 6);
    let c = |n: usize| log[SIGN_UP_ENTRIES + n - 1].clone();
    let missed = vec![
        (c(3), "task.updated", a.clone()),
        (c(4), "task.created", b.clone()),
        (c(5), "tag.deleted", json!({"id": tag["id"]})),
        (c(6), "task.updated", b.clone()),
    ];

    // Reconnecting with the last id read: what was missed, in order, then live changes.
    let mut by_header = EventStream::resume(&app, &user, &last_read).await;
    let got = events(&mut by_header, missed.len()).await;
    let got: Vec<(String, &str, Value)> = got
        .iter()
        .map(|event| (event.id.clone().unwrap(), event.name(), event.json()))
        .collect();
    assert_eq!(got, missed);
    let c_task = app.create_task(&user, json!({"title": "c"})).await; // 7
    let log = app.log_cursors(&user).await;
    assert_eq!(log.len(), SIGN_UP_ENTRIES + 7);
    let c = |n: usize| log[SIGN_UP_ENTRIES + n - 1].clone();
    assert_events(&mut by_header, &[(c(7), "task.created", c_task.clone())]).await;

    // The same with the id in the query (for clients that cannot set the header).
    let mut by_query = EventStream::new(
        app.get_events_after(&user, None, &[("last_event_id", &last_read)])
            .await,
    );
    let mut all_missed = missed.clone();
    all_missed.push((c(7), "task.created", c_task.clone()));
    assert_events(&mut by_query, &all_missed).await;

    // From 0: the whole log kept (sign-up's entries first), less the creation of the tag
    // deleted since.
    let mut replay = EventStream::resume(&app, &user, "0").await;
    let mut everything = sign_up_entries(&app, &user, &log).await;
    everything.push((c(1), "task.created", a.clone()));
    everything.extend(all_missed.clone());
    assert_events(&mut replay, &everything).await;

    // From the current cursor: nothing until the next change, which the others get too.
    let mut up_to_date = EventStream::resume(&app, &user, &c(7)).await;
    assert_no_more_events(&mut up_to_date).await;
    let d = app.create_task(&user, json!({"title": "d"})).await; // 8
    let log = app.log_cursors(&user).await;
    assert_eq!(log.len(), SIGN_UP_ENTRIES + 8);
    let c = |n: usize| log[SIGN_UP_ENTRIES + n - 1].clone();
    for stream in [&mut up_to_date, &mut by_header, &mut by_query, &mut replay] {
        assert_events(stream, &[(c(8), "task.created", d.clone())]).await;
    }
}

/// Two server processes on one database writing for the same user at once.
#[tokio::test]
async fn two_processes_writing_at_once_give_each_change_once_in_one_order() {
    let Some(a) = TestApp::spawn().await else {
        return;
    };
    let user = a.signed_in_user().await;
    let b = a.spawn_sharing().await;
    let mut on_a = EventStream::open(&a, &user).await;
    let mut on_b = EventStream::open(&b, &user).await;

    const TASKS_EACH: usize = 20;
    let written = join_all((0..2 * TASKS_EACH).map(|n| {
        let (app, user) = (if n % 2 == 0 { &a } else { &b }, &user);
        async move {
            let task = app
                .create_task(user, json!({"title": format!("task {n}")}))
                .await;
            let response = app
                .patch_task(
                    user,
                    &task["id"],
                    &json!({"title": format!("task {n} (edited)")}),
                )
                .await;
            let patched = assert_status(response, StatusCode::OK).await;
            (task, patched)
        }
    }))
    .await;
    let total = 2 * written.len();
    let all = a.log_cursors(&user).await;
    assert_eq!(all.len(), SIGN_UP_ENTRIES + total, "entries in the log");
    let sign_up = sign_up_entries(&a, &user, &all).await;
    // The entries of the writes, after sign-up's.
    let all = all[SIGN_UP_ENTRIES..].to_vec();

    let mut orders = Vec::new();
    for (stream, name) in [(&mut on_a, "A"), (&mut on_b, "B")] {
        let got = events(stream, total).await;
        assert_no_more_events(stream).await;
        let ids: Vec<String> = got.iter().map(|event| event.id.clone().unwrap()).collect();
        assert_eq!(ids, all, "on {name}: every change once, in cursor order");
        for (task, patched) in &written {
            let of_task: Vec<&SseEvent> = got
                .iter()
                .filter(|event| event.json()["id"] == task["id"])
                .collect();
            let names: Vec<&str> = of_task.iter().map(|event| event.name()).collect();
            assert_eq!(names, ["task.created", "task.updated"], "on {name}: {task}");
            assert_eq!(of_task[1].json(), *patched, "on {name}");
        }
        orders.push(event_keys(&got));
    }
    assert_eq!(orders[0], orders[1], "one order for both processes");

    // `/changes` entry by entry (through A) is the same log, after sign-up's entries; in one
    // page (through B), sign-up's statuses and priorities, then each task once, as it is now.
    let (changes, reached) = walk_changes(&a, &user, "0").await;
    let mut whole_log = entry_keys(&sign_up);
    whole_log.extend(orders[0].iter().cloned());
    assert_eq!(change_keys(&changes), whole_log);
    assert_eq!(reached, all[total - 1]);
    let page = b
        .fetch_changes(&user, &[("since", "0"), ("limit", "1000")])
        .await;
    assert_eq!(page["cursor"], all[total - 1]);
    assert_eq!(page["has_more"], false);
    let items = page["changes"].as_array().unwrap();
    assert_eq!(items.len(), SIGN_UP_ENTRIES + written.len());
    assert_eq!(items[..SIGN_UP_ENTRIES], as_changes(&sign_up));
    let tasks = &items[SIGN_UP_ENTRIES..];
    for (task, patched) in &written {
        let found: Vec<&Value> = tasks
            .iter()
            .filter(|item| item["id"] == task["id"])
            .collect();
        assert_eq!(found.len(), 1, "{task}");
        assert_eq!(found[0]["type"], "task.created");
        assert_eq!(found[0]["data"], *patched);
    }

    // A change made through one process alone reaches the other's stream (on SQLite, by its
    // poll of the log: nothing else wakes it).
    let only_a = a
        .create_task(&user, json!({"title": "through A alone"}))
        .await;
    let next = a
        .log_cursor(&user, (SIGN_UP_ENTRIES + total) as i64 + 1)
        .await;
    let event = on_b.next_event().await;
    assert_eq!(
        (event.name(), event.id.clone(), event.json()),
        ("task.created", Some(next.clone()), only_a)
    );
    assert_eq!(on_a.next_event().await.id, Some(next));
    let only_b = b
        .create_task(&user, json!({"title": "through B alone"}))
        .await;
    let next = a
        .log_cursor(&user, (SIGN_UP_ENTRIES + total) as i64 + 2)
        .await;
    let event = on_a.next_event().await;
    assert_eq!(
        (event.name(), event.id.clone(), event.json()),
        ("task.created", Some(next.clone()), only_b)
    );
    assert_eq!(on_b.next_event().await.id, Some(next));
}

/// Allows or refuses new connections to `app`'s PostgreSQL database (connections already open
/// stay), from the server's `postgres` database (a database cannot refuse itself); when
/// refusing, also ends every connection to it except those named `spare`, and returns how
/// many it ended.
async fn allow_connections(app: &TestApp, allow: bool, spare: &str) -> i64 {
    let name = app.database_url().rsplit('/').next().unwrap();
    let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .expect("PostgreSQL");
    let sql = format!(r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allow}"#);
    admin.execute(sql.as_str()).await.expect("ALTER DATABASE");
    if allow {
        return 0;
    }
    sqlx::query_scalar(
        // OFFSET 0: the filter runs first, not pg_terminate_backend on every connection.
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM \
         (SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name <> $2 \
          AND pid <> pg_backend_pid() OFFSET 0) AS cut",
    )
    .bind(name)
    .bind(spare)
    .fetch_one(&mut admin)
    .await
    .expect("pg_terminate_backend")
}

#[tokio::test]
async fn a_stream_misses_nothing_while_its_postgres_listener_is_cut_off_and_reconnects() {
    if !matches!(super::BACKEND, DatabaseBackend::Postgres) {
        return;
    }
    let Some(a) = TestApp::spawn().await else {
        return;
    };
    let user = a.signed_in_user().await;
    // B's connections carry a name, so that A's can be cut alone.
    let b_url = format!("{}?application_name=todo_api_b", a.database_url());
    let b = a.spawn_sharing_with(&[("DATABASE_URL", &b_url)]).await;
    let mut stream = EventStream::open(&a, &user).await;
    // B writes, several at once, so that its pool holds a few connections when new ones are
    // refused.
    let first = join_all((0..4).map(|n| {
        let (b, user) = (&b, &user);
        async move {
            b.create_task(user, json!({"title": format!("before {n}")}))
                .await
        }
    }))
    .await;
    for _ in &first {
        assert_eq!(stream.next_event().await.name(), "task.created");
    }

    // A loses every connection, its LISTEN one included, and cannot open new ones (as in a
    // network cut or a database restart seen from A) while B writes.
    let killed = allow_connections(&a, false, "todo_api_b").await;
    let written = async {
        let mut written = Vec::new();
        for n in 0..5 {
            written.push(
                b.create_task(&user, json!({"title": format!("meanwhile {n}")}))
                    .await,
            );
        }
        written
    };
    let written = written.await;
    // Nothing reaches A's stream meanwhile.
    let early = stream.events_for(Duration::from_millis(1500)).await;
    allow_connections(&a, true, "").await;
    assert!(killed >= 1, "no connection of A's found");
    assert!(early.is_empty(), "while A was cut off: {early:?}");

    // Once A's listener is back (it retries every second), the stream reads its log: well
    // before its safety read (15 s), every change made meanwhile, in order.
    let within = Duration::from_secs(5);
    for (n, task) in written.iter().enumerate() {
        let event = stream
            .next_event_within(within)
            .await
            .unwrap_or_else(|| panic!("change {n} of B's not on A's stream within {within:?}"));
        assert_eq!(event.name(), "task.created");
        assert_eq!(event.json(), *task);
        let rank = (SIGN_UP_ENTRIES + n) as i64 + 5;
        assert_eq!(a.log_rank(&user, event.cursor()).await, rank);
    }
    // And live again.
    let after = b.create_task(&user, json!({"title": "after"})).await;
    let event = stream
        .next_event_within(within)
        .await
        .expect("a change after the reconnect");
    assert_eq!((event.name(), event.json()), ("task.created", after));
    assert_no_more_events(&mut stream).await;
}

/// A client's copy of a user's tasks, tags, statuses and priorities, kept from changes alone,
/// as the docs tell client authors to.
#[derive(Default)]
struct Replica {
    tasks: BTreeMap<i64, Value>,
    tags: BTreeMap<i64, Value>,
    statuses: BTreeMap<i64, Value>,
    priorities: BTreeMap<i64, Value>,
}

impl Replica {
    /// Applies one change. A renamed or recoloured tag is renamed on the tasks that carry it,
    /// a deleted one is gone from them (no `task.updated` is sent for those); a task lists its
    /// tags by name, case-insensitively, then by id. A status or priority is kept as it is
    /// sent: the tasks that show a new name of one, or move off a deleted one, come with their
    /// own `task.updated`.
    fn apply(&mut self, kind: &str, id: &Value, data: &Value) {
        let key = id.as_i64().expect("an id");
        match kind {
            "task.created" | "task.updated" | "reminder" => {
                assert_eq!(data["id"], *id);
                self.tasks.insert(key, data.clone());
            }
            "task.deleted" => {
                self.tasks.remove(&key);
            }
            "tag.created" | "tag.updated" => {
                assert_eq!(data["id"], *id);
                self.tags.insert(key, data.clone());
                let summary = json!({"id": id, "name": data["name"], "color": data["color"]});
                for task in self.tasks.values_mut() {
                    let tags = task["tags"].as_array_mut().unwrap();
                    for tag in tags.iter_mut().filter(|tag| tag["id"] == *id) {
                        *tag = summary.clone();
                    }
                    tags.sort_by_key(|tag| {
                        let name = tag["name"].as_str().unwrap().to_lowercase();
                        (name, tag["id"].as_i64().unwrap())
                    });
                }
            }
            "tag.deleted" => {
                self.tags.remove(&key);
                for task in self.tasks.values_mut() {
                    let tags = task["tags"].as_array_mut().unwrap();
                    tags.retain(|tag| tag["id"] != *id);
                }
            }
            "status.created" | "status.updated" => {
                assert_eq!(data["id"], *id);
                self.statuses.insert(key, data.clone());
            }
            "status.deleted" => {
                self.statuses.remove(&key);
            }
            "priority.created" | "priority.updated" => {
                assert_eq!(data["id"], *id);
                self.priorities.insert(key, data.clone());
            }
            "priority.deleted" => {
                self.priorities.remove(&key);
            }
            other => panic!("unknown change type {other}"),
        }
    }

    /// Applies `/changes` pages of `limit` from `since` until `has_more` is false; returns the
    /// cursor reached.
    async fn sync(&mut self, app: &TestApp, user: &TestUser, since: &str, limit: &str) -> String {
        app.settled_log_end(user).await;
        let mut since = since.to_owned();
        loop {
            let page = app
                .fetch_changes(user, &[("since", &since), ("limit", limit)])
                .await;
            for item in page["changes"].as_array().unwrap() {
                let kind = item["type"].as_str().unwrap();
                if kind.ends_with(".deleted") {
                    assert_eq!(item["data"], Value::Null, "{item}");
                }
                self.apply(kind, &item["id"], &item["data"]);
            }
            since = page["cursor"].as_str().unwrap().to_owned();
            if page["has_more"] == false {
                return since;
            }
        }
    }

    /// Applies events from `stream` up to and including the one with the id `until`.
    async fn follow(&mut self, stream: &mut EventStream, until: &str) {
        loop {
            let event = stream.next_event().await;
            let data = event.json();
            let id = data["id"].clone();
            if event.name().ends_with(".deleted") {
                assert_eq!(data, json!({"id": id}), "{event:?}");
            }
            self.apply(event.name(), &id, &data);
            if event.id.as_deref() == Some(until) {
                return;
            }
        }
    }

    /// Asserts that the copy is what listing answers now.
    async fn assert_matches(&self, app: &TestApp, user: &TestUser, what: &str) {
        let mut listed = Vec::new();
        for page in 1.. {
            let answer = app
                .fetch_tasks(user, &[("limit", "100"), ("page", &page.to_string())])
                .await;
            listed.extend(answer["items"].as_array().unwrap().iter().cloned());
            if page >= answer["pages"].as_i64().unwrap() {
                break;
            }
        }
        listed.sort_by_key(|task| task["id"].as_i64().unwrap());
        let copied: Vec<Value> = self.tasks.values().cloned().collect();
        assert_eq!(copied.len(), listed.len(), "{what}: how many tasks");
        for (copy, task) in copied.iter().zip(&listed) {
            assert_eq!(copy, task, "{what}: task {}", task["id"]);
        }
        let by_id = |list: Value| {
            let mut list = list.as_array().unwrap().clone();
            list.sort_by_key(|item| item["id"].as_i64().unwrap());
            list
        };
        let tags = by_id(app.fetch_tags(user).await);
        let copied: Vec<Value> = self.tags.values().cloned().collect();
        assert_eq!(copied, tags, "{what}: tags");
        let statuses = by_id(app.fetch_statuses(user).await);
        let copied: Vec<Value> = self.statuses.values().cloned().collect();
        assert_eq!(copied, statuses, "{what}: statuses");
        let priorities = by_id(app.fetch_priorities(user).await);
        let copied: Vec<Value> = self.priorities.values().cloned().collect();
        assert_eq!(copied, priorities, "{what}: priorities");
    }
}

/// Sends `method` to `path` under `user`'s `/api/v1/users/{user_id}` (with `body` as JSON, if
/// any); asserts `status` and returns the body.
async fn user_request(
    app: &TestApp,
    user: &TestUser,
    (method, path): (Method, &str),
    body: Option<Value>,
    status: StatusCode,
) -> Value {
    let path = format!("/api/v1/users/{}{path}", user.id);
    let response = app.send(method, &path, Some(&user.access), body.as_ref());
    assert_status(response.await, status).await
}

#[tokio::test]
async fn replaying_the_changes_from_zero_rebuilds_exactly_what_listing_returns() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let ok = |response| assert_status(response, StatusCode::OK);
    let gone = |response| assert_status(response, StatusCode::NO_CONTENT);

    // The first part of the script.
    let home = app
        .create_tag(&user, json!({"name": "home", "color": "#00AA55"}))
        .await;
    let work = app.create_tag(&user, json!({"name": "work"})).await;
    let errands = app.create_tag(&user, json!({"name": "Errands"})).await;
    let milk = app
        .create_task(
            &user,
            json!({"title": "Buy milk", "tag_ids": [home["id"], errands["id"]]}),
        )
        .await;
    let report = app
        .create_task(
            &user,
            json!({"title": "Report", "due_date": "2030-06-01T17:00:00Z", "tag_ids": [work["id"]]}),
        )
        .await;
    let standup = app
        .create_task(
            &user,
            json!({
                "title": "Stand-up", "due_date": "2030-05-01T09:00:00Z",
                "recurrence_rule": "FREQ=DAILY", "tag_ids": [work["id"]],
            }),
        )
        .await;
    let call = app
        .create_task(
            &user,
            json!({"title": "Call", "remind_at": "2020-01-01T09:00:00Z"}),
        )
        .await;
    let temp = app
        .create_task(&user, json!({"title": "Temp", "tag_ids": [home["id"]]}))
        .await;
    ok(app
        .patch_task(&user, &milk["id"], &json!({"priority": "high"}))
        .await)
    .await;
    ok(app
        .put_task(
            &user,
            &report["id"],
            &json!({"title": "Report v2", "priority": "low", "completed": false, "tag_ids": [work["id"]]}),
        )
        .await)
    .await;
    // Completing a recurring task makes its next occurrence; completing that, the one after.
    let done = app.toggled_task(&user, &standup["id"]).await;
    let next = app.toggled_task(&user, &done["successor_id"]).await;
    let after_next = next["successor_id"].clone();
    assert!(after_next.is_i64(), "{next}");
    app.toggled_task(&user, &standup["id"]).await;
    assert_status(
        app.link_tag(&user, &milk["id"], &work["id"]).await,
        StatusCode::CREATED,
    )
    .await;
    gone(app.unlink_tag(&user, &milk["id"], &home["id"]).await).await;
    // A status and a priority of the user's own, a task moved to each.
    let waiting = user_request(
        &app,
        &user,
        (Method::POST, "/statuses"),
        Some(json!({"name": "waiting", "color": "#FFAA00"})),
        StatusCode::CREATED,
    )
    .await;
    let urgent = user_request(
        &app,
        &user,
        (Method::POST, "/priorities"),
        Some(json!({"name": "urgent"})),
        StatusCode::CREATED,
    )
    .await;
    ok(app
        .patch_task(&user, &call["id"], &json!({"status": "waiting"}))
        .await)
    .await;
    ok(app
        .patch_task(&user, &temp["id"], &json!({"priority": "urgent"}))
        .await)
    .await;
    // The reminder (long due) is delivered.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.fetch_task(&user, &call["id"]).await["reminded_at"].is_null() {
        assert!(
            std::time::Instant::now() < deadline,
            "reminder not delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Synced from zero, page by page; and from a stream resumed from zero.
    let mut synced = Replica::default();
    let reached = synced.sync(&app, &user, "0", "7").await;
    assert_eq!(reached, app.last_log_cursor(&user).await);
    let end = current_cursor(&app, &user).await;
    assert_log_end(&app, &user, &end, &reached).await;
    synced.assert_matches(&app, &user, "synced").await;
    let mut streamed = Replica::default();
    let mut stream = EventStream::resume(&app, &user, "0").await;
    streamed.follow(&mut stream, &reached).await;
    streamed.assert_matches(&app, &user, "streamed").await;

    // The rest: tag changes that the copies apply to the tasks carrying the tag ("Errands"
    // renamed moves after "work" on Buy milk), deletions.
    ok(app
        .patch_tag(&user, &errands["id"], &json!({"name": "zz errands"}))
        .await)
    .await;
    ok(app
        .patch_tag(&user, &work["id"], &json!({"color": "#112233"}))
        .await)
    .await;
    gone(app.delete_tag(&user, &home["id"]).await).await;
    // A priority renamed on the tasks that carry it (Buy milk: "high"), a status recoloured,
    // statuses deleted: one unused, one whose task moves to another.
    let high = app.fetch_priorities(&user).await[2].clone();
    assert_eq!(high["name"], "high");
    let path = format!("/priorities/{}", high["id"]);
    user_request(
        &app,
        &user,
        (Method::PATCH, &path),
        Some(json!({"name": "top"})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.fetch_task(&user, &milk["id"]).await["priority"], "top");
    let path = format!("/statuses/{}", waiting["id"]);
    user_request(
        &app,
        &user,
        (Method::PATCH, &path),
        Some(json!({"color": "#0055FF"})),
        StatusCode::OK,
    )
    .await;
    let in_progress = app.fetch_statuses(&user).await[1].clone();
    assert_eq!(in_progress["name"], "in_progress");
    let path = format!("/statuses/{}", in_progress["id"]);
    user_request(
        &app,
        &user,
        (Method::DELETE, &path),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let not_started = app.fetch_statuses(&user).await[0].clone();
    assert_eq!(not_started["name"], "not_started");
    let path = format!(
        "/statuses/{}?replace_with={}",
        waiting["id"], not_started["id"]
    );
    user_request(
        &app,
        &user,
        (Method::DELETE, &path),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        app.fetch_task(&user, &call["id"]).await["status"],
        "not_started"
    );
    gone(app.delete_task(&user, &report["id"]).await).await;
    // Deleting an occurrence unlinks it from the one before.
    gone(app.delete_task(&user, &after_next).await).await;
    gone(app.delete_task(&user, &temp["id"]).await).await;
    // Unused once Temp is gone.
    let path = format!("/priorities/{}", urgent["id"]);
    user_request(
        &app,
        &user,
        (Method::DELETE, &path),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    app.create_task(
        &user,
        json!({"title": "Later", "tag_ids": [errands["id"], work["id"]]}),
    )
    .await;
    let latest = app.last_log_cursor(&user).await;

    let reached = synced.sync(&app, &user, &reached, "7").await;
    assert_eq!(reached, latest);
    synced.assert_matches(&app, &user, "synced on").await;
    streamed.follow(&mut stream, &latest).await;
    streamed.assert_matches(&app, &user, "streamed on").await;
    assert_no_more_events(&mut stream).await;
    // And a newcomer replaying everything from zero in one go.
    let mut fresh = Replica::default();
    fresh.sync(&app, &user, "0", "1000").await;
    fresh.assert_matches(&app, &user, "from zero").await;
}

#[tokio::test]
async fn a_stream_10_000_changes_behind_catches_up_with_all_of_them_in_order() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    const BEHIND: i64 = 10_000;
    app.insert_bulk_tasks(&user.id, BEHIND).await;
    let all = app.log_cursors(&user).await;
    assert_eq!(all.len() as i64, SIGN_UP_ENTRIES as i64 + BEHIND);
    let sign_up = sign_up_entries(&app, &user, &all).await;
    // The entries of the tasks, after sign-up's.
    let log = &all[SIGN_UP_ENTRIES..];
    let end = current_cursor(&app, &user).await;
    assert_log_end(&app, &user, &end, &log[log.len() - 1]).await;

    let started = std::time::Instant::now();
    let mut stream = EventStream::resume(&app, &user, "0").await;
    for (index, (cursor, name, data)) in sign_up.iter().enumerate() {
        let event = stream.next_event().await;
        assert_eq!(
            (event.cursor(), event.name(), event.json()),
            (cursor.as_str(), *name, data.clone()),
            "sign-up's entry {index}"
        );
    }
    let mut titles = std::collections::HashSet::new();
    let mut last_id = 0;
    for n in 1..=BEHIND {
        let event = stream.next_event().await;
        assert_eq!(event.name(), "task.created");
        assert_eq!(event.cursor(), log[n as usize - 1], "entry {n}");
        let task = event.json();
        let id = task["id"].as_i64().unwrap();
        assert!(id > last_id, "task {id} after task {last_id}");
        last_id = id;
        titles.insert(task["title"].as_str().unwrap().to_owned());
    }
    let took = started.elapsed();
    eprintln!(
        "{:?}: a stream {BEHIND} changes behind caught up in {took:?}",
        super::BACKEND
    );
    assert_eq!(titles.len() as i64, BEHIND);
    assert!(titles.contains("bulk 1") && titles.contains("bulk 10000"));
    // Then live.
    let task = app.create_task(&user, json!({"title": "live"})).await;
    let event = stream.next_event().await;
    assert_eq!((event.name(), event.json()), ("task.created", task));
    let rank = SIGN_UP_ENTRIES as i64 + BEHIND + 1;
    assert_eq!(app.log_rank(&user, event.cursor()).await, rank);
}
