//! Clients that go away mid-request must never leave a pooled PostgreSQL connection inside a
//! transaction: hundreds of requests, each dropped at a random moment (many inside `BEGIN`,
//! widened by a proxy that adds latency), against a pool of two connections.

use std::{collections::BTreeSet, net::SocketAddr, time::Duration};

use rand::Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;
use todo_api::core::settings::Settings;

use crate::{
    proxy::Proxy,
    support::{
        App, PgDatabase, pooler_or_skip, server_address, settings, settings_via, skip_postgres,
    },
};

const ROUNDS: usize = 25;
const REQUESTS_PER_ROUND: usize = 16;
const CONCURRENCY: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_dropped_at_any_moment_lose_no_acknowledged_write_and_poison_no_connection() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    dropped_requests_storm(None).await;
}

/// The same storm with the service behind PgBouncer in transaction mode (`DB_POOLER=transaction`),
/// where every unit of work is a transaction: a dropped read must roll back too. Runs when
/// `TEST_POOLER_URL` is set (`scripts/with-pgbouncer`, as `.ci/run` does); says so otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_transaction_pooler_dropped_requests_lose_no_write_and_strand_no_transaction() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let Some(pooler) = pooler_or_skip() else {
        return;
    };
    dropped_requests_storm(Some(pooler)).await;
}

/// Creates (half with a tag, so a transaction) and lists, each dropped at a random moment,
/// through a slow proxy in front of the server or of `pooler`.
async fn dropped_requests_storm(pooler: Option<SocketAddr>) {
    let database = PgDatabase::create().await;
    let (_proxy, settings) = through_slow_proxy(&database, pooler).await;
    let app = App::serve(settings).await;
    let (user_id, token) = app.signed_in_user("storm@example.com").await;
    let tasks = format!("/api/v1/users/{user_id}/tasks");
    let tag_id = app.create_tag(&user_id, &token, "storm").await;

    // How long one create takes here, unhurried: the deadlines below spread over it.
    let started = tokio::time::Instant::now();
    for i in 0..10 {
        let created = app
            .client
            .post(app.url(&tasks))
            .bearer_auth(&token)
            .json(&json!({"title": format!("calibrate {i}"), "tag_ids": [tag_id]}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let typical = started.elapsed() / 10;
    let longest = u64::try_from((typical * 3 / 2).as_micros()).unwrap();

    // Rounds of requests, each with a random deadline: the client drops its connection when it
    // passes. A dropped request's work goes on in the service, so its lane waits about as long
    // before the next one, lest the abandoned work pile up. After each round, once the work has
    // settled, no connection may be stranded inside a transaction and every write answered 201
    // must be visible from a connection of our own.
    let mut observer = database.connect().await;
    let mut acknowledged = BTreeSet::new();
    for round in 0..ROUNDS {
        let first = round * REQUESTS_PER_ROUND;
        let answered = futures_util::future::join_all((0..CONCURRENCY).map(|lane| {
            let (app, tasks, token) = (&app, &tasks, &token);
            async move {
                let mut answered = Vec::new();
                for i in (first + lane..first + REQUESTS_PER_ROUND).step_by(CONCURRENCY) {
                    let title = format!("storm {i}");
                    // Tagged creates run a transaction; untagged ones a single statement.
                    let body = if i % 2 == 0 {
                        json!({"title": title, "tag_ids": [tag_id]})
                    } else {
                        json!({"title": title})
                    };
                    let deadline = Duration::from_micros(rand::rng().random_range(0..longest));
                    let request = app
                        .client
                        .post(app.url(tasks))
                        .bearer_auth(token)
                        .json(&body)
                        .timeout(deadline)
                        .send();
                    match request.await {
                        Ok(response) => {
                            let status = response.status();
                            assert!(
                                status == StatusCode::CREATED,
                                "request {i} answered {status}: {}",
                                response.text().await.unwrap_or_default()
                            );
                            answered.push(title);
                        }
                        Err(_) => tokio::time::sleep(typical * 2).await,
                    }
                    // A list dropped as randomly: a read's work is abandoned with it (behind a
                    // pooler that is a transaction of its own, which must roll back).
                    let deadline = Duration::from_micros(rand::rng().random_range(0..longest));
                    let listed = app
                        .client
                        .get(app.url(tasks))
                        .bearer_auth(token)
                        .timeout(deadline)
                        .send()
                        .await;
                    if let Ok(response) = listed {
                        assert_eq!(response.status(), StatusCode::OK, "list after request {i}");
                    }
                }
                answered
            }
        }))
        .await;
        acknowledged.extend(answered.into_iter().flatten());

        let stranded = settled_connections(&mut observer).await;
        assert!(
            stranded.is_empty(),
            "round {round}: connections of the service left inside a transaction: {stranded:?}"
        );
        let stored: BTreeSet<String> =
            sqlx::query_scalar("SELECT title FROM tasks WHERE title LIKE 'storm %'")
                .fetch_all(&mut observer)
                .await
                .unwrap()
                .into_iter()
                .collect();
        let missing: Vec<&String> = acknowledged.difference(&stored).collect();
        assert!(
            missing.is_empty(),
            "round {round}: answered 201 but not visible to other connections: {missing:?}"
        );
    }
    let total = ROUNDS * REQUESTS_PER_ROUND;
    eprintln!(
        "cancellation storm: {} of {total} creates answered, the rest dropped (a create takes {typical:?})",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() >= total / 40 && acknowledged.len() <= total * 9 / 10,
        "the storm should both finish and drop many requests; {} of {total} finished",
        acknowledged.len()
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(&mut observer)
        .await
        .unwrap();
    let stored = usize::try_from(stored).unwrap();

    // And the service goes on as before: signing in, writing and reading all work.
    let token = app.login("storm@example.com").await;
    for i in 0..40 {
        let created = app
            .client
            .post(app.url(&tasks))
            .bearer_auth(&token)
            .json(&json!({"title": format!("after {i}"), "tag_ids": [tag_id]}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            created.status(),
            StatusCode::CREATED,
            "create {i} after the storm"
        );
        let listed = app
            .client
            .get(app.url(&format!("{tasks}?limit=1")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), StatusCode::OK, "list {i} after the storm");
        let page: Value = listed.json().await.unwrap();
        assert_eq!(page["total"], json!(stored + i + 1));
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE title LIKE 'after %'")
        .fetch_one(&mut observer)
        .await
        .unwrap();
    assert_eq!(
        after, 40,
        "writes after the storm are visible to other connections"
    );
}

/// A change whose client gives up half-way is still made, whole: the client could not tell
/// otherwise whether it happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_client_went_away_is_still_made_whole() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let database = PgDatabase::create().await;
    // 20 ms each way: a tagged create's dozen round trips take about half a second.
    let proxy = Proxy::start(server_address(), Duration::from_millis(20)).await;
    let app = App::serve(settings(&database.url_via(proxy.port()), &[])).await;
    let (user_id, token) = app.signed_in_user("gone@example.com").await;
    let tag_id = app.create_tag(&user_id, &token, "kept").await;

    let sent = app
        .client
        .post(app.url(&format!("/api/v1/users/{user_id}/tasks")))
        .bearer_auth(&token)
        .json(&json!({"title": "left behind", "tag_ids": [tag_id]}))
        .timeout(Duration::from_millis(150))
        .send()
        .await;
    assert!(
        sent.is_err(),
        "the client gave up before the answer: {sent:?}"
    );

    let mut observer = database.connect().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let linked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM tasks t JOIN task_tags l ON l.task_id = t.id \
             WHERE t.title = 'left behind'",
        )
        .fetch_one(&mut observer)
        .await
        .unwrap();
        if linked == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the abandoned create was not made within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The same fault below the HTTP layer, where nothing runs to completion for it: store calls
/// that open a transaction, each dropped after a random time (often inside `BEGIN`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_transactions_dropped_inside_begin_leave_no_connection_in_a_transaction() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    store_units_dropped(None).await;
}

/// The same behind PgBouncer in transaction mode, where reads are transactions too: every other
/// dropped call is a read. Runs when `TEST_POOLER_URL` is set; says so otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_transaction_pooler_dropped_store_reads_and_writes_strand_no_transaction() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let Some(pooler) = pooler_or_skip() else {
        return;
    };
    store_units_dropped(Some(pooler)).await;
}

/// 120 store calls, each dropped after a random time, through a slow proxy in front of the
/// server or of `pooler`: a password change (one transaction) and, behind a pooler, every
/// other one a read of the account (a transaction there, a bare statement elsewhere).
async fn store_units_dropped(pooler: Option<SocketAddr>) {
    let database = PgDatabase::create().await;
    let (_proxy, settings) = through_slow_proxy(&database, pooler).await;
    let store = todo_api::db::connect(&settings).await.unwrap();
    store.migrate_up().await.unwrap();
    let email = todo_api::models::Email::parse("cancel@example.com").unwrap();
    let user = store
        .insert_user(&email, "not a real hash", None)
        .await
        .unwrap();
    let caller = todo_api::models::Caller {
        user_id: user.id,
        session_id: uuid::Uuid::new_v4(),
    };
    let expires = chrono::Utc::now() + chrono::Duration::days(1);
    store
        .create_session(caller.session_id, user.id, uuid::Uuid::new_v4(), expires)
        .await
        .unwrap();
    // A password change is one transaction: BEGIN, the session check, three updates, COMMIT.
    let change = || store.change_password(&caller, "not a real hash");
    let read = || async { store.find_user(&caller).await.map(drop) };
    let started = tokio::time::Instant::now();
    for _ in 0..5 {
        change().await.unwrap();
    }
    let longest = u64::try_from((started.elapsed() / 5).as_micros()).unwrap();
    let started = tokio::time::Instant::now();
    for _ in 0..5 {
        read().await.unwrap();
    }
    let longest_read = u64::try_from((started.elapsed() / 5).as_micros()).unwrap();

    let mut observer = database.connect().await;
    let mut dropped = 0;
    for round in 0..120 {
        let finished = if pooler.is_some() && round % 2 == 1 {
            let deadline = Duration::from_micros(rand::rng().random_range(0..longest_read));
            tokio::time::timeout(deadline, read()).await.is_ok()
        } else {
            let deadline = Duration::from_micros(rand::rng().random_range(0..longest));
            tokio::time::timeout(deadline, change()).await.is_ok()
        };
        if !finished {
            dropped += 1;
        }
        let stranded = settled_connections(&mut observer).await;
        assert!(
            stranded.is_empty(),
            "round {round}: connections left inside a transaction: {stranded:?}"
        );
    }
    assert!(dropped >= 40, "only {dropped} of 120 calls were dropped");
    // And the pool still works.
    change().await.unwrap();
    read().await.unwrap();
    store.close().await;
}

/// A proxy that adds 1 ms each way (every statement's round trip, `BEGIN`'s included, is a
/// window to drop in) in front of the server or of `pooler`, and settings for a pool of two
/// connections through it; behind a pooler with `DB_POOLER=transaction` and the direct URL.
async fn through_slow_proxy(
    database: &PgDatabase,
    pooler: Option<SocketAddr>,
) -> (Proxy, Settings) {
    let proxy = Proxy::start(
        pooler.unwrap_or_else(server_address),
        Duration::from_millis(1),
    )
    .await;
    let settings = settings_via(
        database,
        proxy.port(),
        pooler.is_some(),
        &[("DB_MAX_CONNECTIONS", "2")],
    );
    (proxy, settings)
}

/// Waits (up to 3 s) for the service's connections to go idle, as abandoned work finishes; then
/// returns those that are not, with their state and last statement.
async fn settled_connections(observer: &mut sqlx::PgConnection) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let rows = sqlx::query(
            "SELECT state, query FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND state <> 'idle'",
        )
        .fetch_all(&mut *observer)
        .await
        .unwrap();
        let busy: Vec<String> = rows
            .iter()
            .map(|row| format!("{}: {}", row.get::<String, _>(0), row.get::<String, _>(1)))
            .collect();
        if busy.is_empty() || tokio::time::Instant::now() > deadline {
            return busy;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PATCHes and toggles dropped at a random moment. On PostgreSQL they are two statements with no
/// transaction (the read of the task's version, then the update of that version), a transaction
/// of their own behind a pooler: an edit answered 200 must be stored (and no later than what a
/// later edit of the same task wrote), no connection may be stranded inside a transaction, and
/// the service goes on editing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_dropped_at_any_moment_keep_every_answered_edit() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    dropped_edits_storm(None).await;
}

/// The same behind PgBouncer in transaction mode; runs when `TEST_POOLER_URL` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_transaction_pooler_dropped_edits_keep_every_answered_edit() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let Some(pooler) = pooler_or_skip() else {
        return;
    };
    dropped_edits_storm(Some(pooler)).await;
}

/// Two lanes, each editing its own task in turn (three PATCHes of the title, then a toggle),
/// every request with a random deadline.
async fn dropped_edits_storm(pooler: Option<SocketAddr>) {
    const LANES: usize = 2;
    let database = PgDatabase::create().await;
    let (_proxy, settings) = through_slow_proxy(&database, pooler).await;
    let app = App::serve(settings).await;
    let (user_id, token) = app.signed_in_user("edits@example.com").await;
    let mut tasks = Vec::new();
    for lane in 0..LANES {
        let id = app
            .create_task(&user_id, &token, &format!("lane {lane}"))
            .await;
        tasks.push((id, format!("/api/v1/users/{user_id}/tasks/{id}")));
    }
    let send = |path: &str, title: Option<&str>, deadline: Option<Duration>| {
        let request = match title {
            Some(title) => app
                .client
                .patch(app.url(path))
                .json(&json!({"title": title})),
            None => app.client.patch(app.url(&format!("{path}/complete"))),
        };
        let request = request.bearer_auth(&token);
        match deadline {
            Some(deadline) => request.timeout(deadline).send(),
            None => request.send(),
        }
    };

    // How long one edit takes here, unhurried: the deadlines below spread over it.
    let started = tokio::time::Instant::now();
    for i in 0..10 {
        let title = format!("calibrate {i}");
        let response = send(&tasks[0].1, Some(&title), None).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let typical = started.elapsed() / 10;
    let longest = u64::try_from((typical * 3 / 2).as_micros()).unwrap();

    // Per lane: the titles that may be stored now, the last one answered and every one sent
    // after it (a dropped edit's work may still have been done).
    // (The first task's is its last calibration edit's.)
    let mut possible: Vec<Vec<String>> = (0..LANES)
        .map(|lane| match lane {
            0 => vec!["calibrate 9".to_owned()],
            _ => vec![format!("lane {lane}")],
        })
        .collect();
    let mut observer = database.connect().await;
    let mut dropped = 0;
    for round in 0..12 {
        let lanes = futures_util::future::join_all(tasks.iter().zip(&mut possible).map(
            |((_, path), possible)| {
                let send = &send;
                async move {
                    let mut dropped = 0;
                    for i in 0..4 {
                        let deadline = Duration::from_micros(rand::rng().random_range(0..longest));
                        let title = format!("round {round} edit {i}");
                        let edit = (i < 3).then_some(title.as_str());
                        match send(path, edit, Some(deadline)).await {
                            Ok(response) => {
                                assert_eq!(response.status(), StatusCode::OK);
                                if edit.is_some() {
                                    *possible = vec![title];
                                }
                            }
                            Err(_) => {
                                dropped += 1;
                                if edit.is_some() {
                                    possible.push(title);
                                }
                                tokio::time::sleep(typical * 2).await;
                            }
                        }
                    }
                    dropped
                }
            },
        ))
        .await;
        dropped += lanes.into_iter().sum::<usize>();

        let stranded = settled_connections(&mut observer).await;
        assert!(
            stranded.is_empty(),
            "round {round}: connections of the service left inside a transaction: {stranded:?}"
        );
        for ((id, _), possible) in tasks.iter().zip(&possible) {
            let title: String = sqlx::query_scalar("SELECT title FROM tasks WHERE id = $1")
                .bind(id)
                .fetch_one(&mut observer)
                .await
                .unwrap();
            assert!(
                possible.contains(&title),
                "round {round}, task {id}: stored {title:?}, answered or sent since: {possible:?}"
            );
        }
    }
    assert!(dropped > 0, "the storm should drop some edits");

    // And editing goes on: an edit answered is stored.
    let response = send(&tasks[0].1, Some("after the storm"), None)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let edited: Value = response.json().await.unwrap();
    assert_eq!(edited["title"], json!("after the storm"));
    let stored: String = sqlx::query_scalar("SELECT title FROM tasks WHERE id = $1")
        .bind(tasks[0].0)
        .fetch_one(&mut observer)
        .await
        .unwrap();
    assert_eq!(stored, "after the storm");
}

/// Moves and reorders dropped at a random moment. Each is a transaction (the account's lock,
/// the neighbours' positions, the moved rows, and now and then the account's positions spread
/// out again): a move answered 200 must be in the stored order, a dropped one all there or not
/// at all, positions stay distinct, and no connection is stranded inside a transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_dropped_at_any_moment_are_all_or_nothing() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    dropped_moves_storm(None).await;
}

/// The same behind PgBouncer in transaction mode; runs when `TEST_POOLER_URL` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_transaction_pooler_dropped_moves_are_all_or_nothing() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let Some(pooler) = pooler_or_skip() else {
        return;
    };
    dropped_moves_storm(Some(pooler)).await;
}

/// A move of the storm, and the order it leaves.
enum Move {
    /// `{"to": "top"}`.
    Top(i64),
    /// `{"after": anchor}`: the bottom task right after the top one; 18 in a row halve one gap
    /// until it is used up and the positions are spread out.
    After { moved: i64, anchor: i64 },
    /// `/tasks/reorder` of every task, in a new order.
    Reorder(Vec<i64>),
}

impl Move {
    fn pick(order: &[i64], step: usize) -> Self {
        match step % 20 {
            0..18 => Self::After {
                moved: *order.last().unwrap(),
                anchor: order[0],
            },
            18 => Self::Top(order[rand::rng().random_range(1..order.len())]),
            _ => {
                let mut shuffled = order.to_vec();
                shuffled.rotate_left(rand::rng().random_range(1..order.len()));
                shuffled.swap(0, order.len() - 1);
                Self::Reorder(shuffled)
            }
        }
    }

    fn applied_to(&self, order: &[i64]) -> Vec<i64> {
        match self {
            Self::Top(moved) => std::iter::once(*moved)
                .chain(order.iter().copied().filter(|id| id != moved))
                .collect(),
            Self::After { moved, anchor } => {
                let mut after: Vec<i64> = order.iter().copied().filter(|id| id != moved).collect();
                let at = after.iter().position(|id| id == anchor).unwrap() + 1;
                after.insert(at, *moved);
                after
            }
            Self::Reorder(ids) => ids.clone(),
        }
    }
}

async fn dropped_moves_storm(pooler: Option<SocketAddr>) {
    const TASKS: usize = 6;
    let database = PgDatabase::create().await;
    let (_proxy, settings) = through_slow_proxy(&database, pooler).await;
    let app = App::serve(settings).await;
    let (user_id, token) = app.signed_in_user("moves@example.com").await;
    for i in 0..TASKS {
        app.create_task(&user_id, &token, &format!("task {i}"))
            .await;
    }
    let tasks = format!("/api/v1/users/{user_id}/tasks");
    let send = |step: &Move, deadline: Option<Duration>| {
        let request = match step {
            Move::Top(id) => app
                .client
                .post(app.url(&format!("{tasks}/{id}/move")))
                .json(&json!({"to": "top"})),
            Move::After { moved, anchor } => app
                .client
                .post(app.url(&format!("{tasks}/{moved}/move")))
                .json(&json!({"after": anchor})),
            Move::Reorder(ids) => app
                .client
                .post(app.url(&format!("{tasks}/reorder")))
                .json(&json!({"task_ids": ids})),
        };
        let request = request.bearer_auth(&token);
        match deadline {
            Some(deadline) => request.timeout(deadline).send(),
            None => request.send(),
        }
    };
    let mut observer = database.connect().await;
    let user: uuid::Uuid = user_id.parse().unwrap();
    let (mut order, _) = stored_order(&mut observer, user).await;

    // How long one move takes here, unhurried: the deadlines below spread over it.
    let started = tokio::time::Instant::now();
    for step in 0..9 {
        let step = Move::pick(&order, step);
        let response = send(&step, None).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        order = step.applied_to(&order);
    }
    let typical = started.elapsed() / 9;
    let longest = u64::try_from((typical * 3 / 2).as_micros()).unwrap();
    let (stored, mut positions) = stored_order(&mut observer, user).await;
    assert_eq!(stored, order);

    // Moves of one task that changed other tasks' positions: spreads.
    let (mut answered, mut dropped, mut spreads) = (0, 0, 0);
    for step in 0..90 {
        let step = Move::pick(&order, step);
        let after = step.applied_to(&order);
        let deadline = Duration::from_micros(rand::rng().random_range(0..longest));
        let acknowledged = match send(&step, Some(deadline)).await {
            Ok(response) => {
                assert_eq!(response.status(), StatusCode::OK);
                answered += 1;
                true
            }
            Err(_) => {
                dropped += 1;
                tokio::time::sleep(typical * 2).await;
                false
            }
        };
        let stranded = settled_connections(&mut observer).await;
        assert!(
            stranded.is_empty(),
            "connections of the service left inside a transaction: {stranded:?}"
        );
        let (stored, now) = stored_order(&mut observer, user).await;
        assert!(
            stored == after || (!acknowledged && stored == order),
            "a move answered {acknowledged}: stored {stored:?}, before {order:?}, after {after:?}"
        );
        if let Move::After { moved, .. } = step {
            let others_moved = now
                .iter()
                .any(|(id, position)| *id != moved && positions.get(id) != Some(position));
            spreads += usize::from(others_moved);
        }
        (order, positions) = (stored, now);
    }
    eprintln!("moves storm: {answered} answered, {dropped} dropped, {spreads} spreads");
    assert!(
        answered > 0 && dropped > 0,
        "the storm should both finish and drop moves"
    );
    assert!(spreads > 0, "the storm's moves should have used up a gap");
}

/// The user's tasks in the manual order, and each one's position; fails when two share one.
async fn stored_order(
    observer: &mut sqlx::PgConnection,
    user: uuid::Uuid,
) -> (Vec<i64>, std::collections::BTreeMap<i64, i64>) {
    let rows: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, position FROM tasks WHERE user_id = $1 ORDER BY position, id")
            .bind(user)
            .fetch_all(&mut *observer)
            .await
            .unwrap();
    let positions: std::collections::BTreeMap<i64, i64> = rows.iter().copied().collect();
    let distinct: BTreeSet<i64> = positions.values().copied().collect();
    assert_eq!(
        distinct.len(),
        rows.len(),
        "two tasks share a position: {rows:?}"
    );
    (rows.into_iter().map(|(id, _)| id).collect(), positions)
}
