//! PostgreSQL going away and coming back, under load and at start. "The database" is a proxy
//! the test owns in front of the shared server: stopping it cuts every connection and refuses
//! new ones, as a database restart does, without touching the server other tests use.

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    proxy::Proxy,
    support::{
        App, PgDatabase, percentile, pooler_or_skip, server_address, settings, settings_via,
        skip_postgres,
    },
};

/// What the load saw: titles answered 201, and every other status.
#[derive(Default)]
struct Outcomes {
    acknowledged: BTreeSet<String>,
    other: Vec<(StatusCode, String)>,
}

/// Keeps `lanes` clients creating tasks until `stop` is set.
fn spawn_writers(
    app: &App,
    tasks: &str,
    token: &str,
    lanes: usize,
    stop: &Arc<AtomicBool>,
    outcomes: &Arc<Mutex<Outcomes>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..lanes)
        .map(|lane| {
            let (client, url, token) = (app.client.clone(), app.url(tasks), token.to_owned());
            let (stop, outcomes) = (stop.clone(), outcomes.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let title = format!("load {lane}-{i}");
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"title": title}))
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await
                        .expect("the service answers");
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    let mut outcomes = outcomes.lock().unwrap();
                    if status == StatusCode::CREATED {
                        outcomes.acknowledged.insert(title);
                    } else {
                        outcomes.other.push((status, text));
                    }
                }
            })
        })
        .collect()
}

/// Sends `GET path` and returns the status, the body and how long the answer took.
async fn timed_get(app: &App, path: &str, token: Option<&str>) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let mut request = app
        .client
        .get(app.url(path))
        .timeout(Duration::from_secs(10));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the service answers");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_under_load_answers_503_fast_and_resumes_within_a_second_losing_nothing()
 {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    outage_under_load(None).await;
}

/// The same with the service behind PgBouncer in transaction mode, and the pooler the part
/// that goes away (the direct connections, the event listener's, stay up). Runs when
/// `TEST_POOLER_URL` is set; says so otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_transaction_pooler_the_pooler_going_away_answers_503_fast_and_loses_nothing() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let Some(pooler) = pooler_or_skip() else {
        return;
    };
    outage_under_load(Some(pooler)).await;
}

/// Six writers; what the requests go through (the server, or `pooler`) goes away for a while:
/// readiness notices within a second, requests get a fast 503, the service answers again
/// within a second of its return, and every acknowledged create is stored.
async fn outage_under_load(pooler: Option<SocketAddr>) {
    let database = PgDatabase::create().await;
    let mut proxy = Proxy::start(pooler.unwrap_or_else(server_address), Duration::ZERO).await;
    let app = App::serve(settings_via(
        &database,
        proxy.port(),
        pooler.is_some(),
        &[("DB_MAX_CONNECTIONS", "4")],
    ))
    .await;
    let (user_id, token) = app.signed_in_user("outage@example.com").await;
    let tasks = format!("/api/v1/users/{user_id}/tasks");

    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let writers = spawn_writers(&app, &tasks, &token, 6, &stop, &outcomes);
    tokio::time::sleep(Duration::from_millis(700)).await;

    // The database goes away.
    proxy.stop().await;

    // Readiness answers within a second, every time, and soon says the database is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body, took) = timed_get(&app, "/health/ready", None).await;
        assert!(took < Duration::from_secs(1), "readiness took {took:?}");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(body["code"], "SERVICE_UNAVAILABLE");
            // First perhaps "did not answer within …", then, once probed, "unreachable".
            if body["detail"].as_str().unwrap().contains("unreachable") {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "readiness never noticed the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Known to be down: 16 clients at once get their 503 fast, liveness stays up.
    let list = format!("{tasks}?limit=5");
    let mut latencies = Vec::new();
    for _ in 0..8 {
        let answers =
            futures_util::future::join_all((0..16).map(|_| timed_get(&app, &list, Some(&token))))
                .await;
        for (status, body, took) in answers {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(body["code"], "SERVICE_UNAVAILABLE");
            latencies.push(took);
        }
    }
    let p99 = percentile(&mut latencies, 99.0);
    eprintln!(
        "while down: 503 p99 {p99:?} over {} requests",
        latencies.len()
    );
    assert!(p99 <= Duration::from_millis(100), "503 p99 {p99:?}");
    let (status, body, _) = timed_get(&app, "/health", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));

    // The database comes back: the service answers again within a second.
    proxy.restart();
    let back = Instant::now();
    loop {
        let (status, body, _) = timed_get(&app, &list, Some(&token)).await;
        if status == StatusCode::OK {
            assert!(body["total"].as_i64().unwrap() >= 1, "{body}");
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            back.elapsed() < Duration::from_secs(1),
            "still {status} {}s after the database came back",
            back.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recovered = back.elapsed();
    eprintln!("resumed {recovered:?} after the database came back");
    let (status, _, _) = timed_get(&app, "/health/ready", None).await;
    assert_eq!(status, StatusCode::OK);

    // More load after the outage, then: nothing acknowledged is lost, nothing answered 500.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let unexpected: Vec<_> = outcomes
        .other
        .iter()
        .filter(|(status, _)| *status != StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let mut observer = database.connect().await;
    let stored: BTreeSet<String> = sqlx::query_scalar("SELECT title FROM tasks")
        .fetch_all(&mut observer)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let missing: Vec<_> = outcomes.acknowledged.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    eprintln!(
        "load: {} creates acknowledged, {} answered 503",
        outcomes.acknowledged.len(),
        outcomes.other.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_with_postgres_down_serves_liveness_and_503_then_migrates_and_serves_once_it_is_up()
 {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let database = PgDatabase::create_empty().await;
    let mut proxy = Proxy::start(server_address(), Duration::ZERO).await;
    proxy.stop().await;
    let url = database.url_via(proxy.port());

    // A database that answers but refuses (here: no such role) is not waited for: the start
    // fails with the reason, as waiting would not mend it.
    let refused = format!(
        "postgres://no_such_role@{}/{}",
        server_address(),
        database.name
    );
    let refused = settings(&refused, &[]);
    let store = todo_api::db::connect(&refused).await.unwrap();
    let error = todo_api::services::availability::prepare_or_wait(&store, &refused)
        .await
        .expect_err("a refusing database fails the start");
    assert!(error.to_string().contains("no_such_role"), "{error}");

    // Told not to wait, start-up fails at once, as before.
    let refusing = settings(&url, &[("WAIT_FOR_DATABASE", "false")]);
    let store = todo_api::db::connect(&refusing).await.unwrap();
    let started = Instant::now();
    let error = todo_api::services::availability::prepare_or_wait(&store, &refusing).await;
    assert!(error.is_err(), "WAIT_FOR_DATABASE=false fails the start");
    assert!(started.elapsed() < Duration::from_secs(10));

    // By default it serves: liveness up, readiness and the API 503, each at once.
    let app = App::serve(settings(&url, &[])).await;
    let (status, body, _) = timed_get(&app, "/health", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body, took) = timed_get(&app, "/health/ready", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["detail"].as_str().unwrap().contains("waiting"),
        "{body}"
    );
    assert!(took < Duration::from_secs(1), "readiness took {took:?}");
    let started = Instant::now();
    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"email": "early@example.com", "password": crate::support::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE");

    // A while later the database comes up: it is migrated and served without a restart.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.restart();
    let back = Instant::now();
    loop {
        let (status, _, _) = timed_get(&app, "/health/ready", None).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "not ready 5 s after the database came up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("ready {:?} after the database came up", back.elapsed());
    let (user_id, token) = app.signed_in_user("late@example.com").await;
    app.create_task(&user_id, &token, "after the wait").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_too_quick_to_notice_only_one_request_meets_a_dead_connection() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let database = PgDatabase::create().await;
    // Latency makes the requests below overlap, so that the pool opens all its connections.
    let mut proxy = Proxy::start(server_address(), Duration::from_millis(2)).await;
    let app = App::serve(settings(
        &database.url_via(proxy.port()),
        &[("DB_MAX_CONNECTIONS", "8")],
    ))
    .await;
    let (user_id, token) = app.signed_in_user("restart@example.com").await;
    let list = format!("/api/v1/users/{user_id}/tasks?limit=5");
    // Sixteen at once, a few times: the pool opens all eight of its connections.
    for _ in 0..5 {
        let answers =
            futures_util::future::join_all((0..16).map(|_| timed_get(&app, &list, Some(&token))))
                .await;
        assert!(answers.iter().all(|(status, ..)| *status == StatusCode::OK));
    }

    // The database restarts between two requests: every pooled connection is dead, and no
    // outage was ever seen.
    proxy.stop().await;
    proxy.restart();
    let mut unavailable = 0;
    for _ in 0..12 {
        let (status, body, _) = timed_get(&app, &list, Some(&token)).await;
        match status {
            StatusCode::OK => assert_eq!(body["total"], 0, "{body}"),
            StatusCode::SERVICE_UNAVAILABLE => unavailable += 1,
            other => panic!("{other}: {body}"),
        }
    }
    eprintln!("{unavailable} of 12 requests after the restart answered 503");
    assert!(
        unavailable <= 1,
        "{unavailable} requests met a connection opened before the restart"
    );
}
