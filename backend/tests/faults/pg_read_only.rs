//! A PostgreSQL database that accepts no writes, as a standby or a database set
//! `default_transaction_read_only` does: every write is refused with `read_only_sql_transaction`
//! (25006).
//!
//! What it proves: such a write answers 503 `DATABASE_READ_ONLY` in the error shape (never 500,
//! never a 2xx), sign-in included; reads go on; readiness answers 503 with `checks.storage`
//! "read_only"; nothing refused was stored; and once the database allows writes again, writes
//! succeed without a restart (each refusal retires the pooled sessions opened before it, so at
//! most one more write meets a read-only session) and readiness is 200 again.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{App, PgDatabase, admin, settings, skip_postgres};

#[tokio::test]
async fn writes_to_a_read_only_postgres_database_answer_503_database_read_only() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let database = PgDatabase::create().await;
    let writable = App::serve(settings(&database.url(), &[])).await;
    let (user_id, token) = writable.signed_in_user("reader@example.com").await;
    let kept = writable.create_task(&user_id, &token, "kept").await;
    drop(writable);

    // New sessions of the database start read-only; the service starting now gets only those.
    alter(&database, "SET default_transaction_read_only = on").await;
    let app = App::serve(settings(&database.url(), &[("AUTO_MIGRATE", "false")])).await;
    let tasks = app.url(&format!("/api/v1/users/{user_id}/tasks"));

    let refusals = [
        app.client
            .post(&tasks)
            .bearer_auth(&token)
            .json(&json!({"title": "refused"})),
        app.client
            .patch(format!("{tasks}/{kept}"))
            .bearer_auth(&token)
            .json(&json!({"title": "renamed"})),
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "reader@example.com", "password": crate::support::PASSWORD})),
        app.client
            .post(app.url("/api/v1/auth/register"))
            .json(&json!({"email": "newcomer@example.com", "password": crate::support::PASSWORD})),
    ];
    for request in refusals {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], "DATABASE_READ_ONLY", "{body}");
        assert!(body["request_id"].is_string(), "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            !detail.contains("read-only transaction"),
            "internal text: {detail}"
        );
    }

    let listed: Value = app
        .client
        .get(&tasks)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let titles: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["kept"],
        "reads go on, and nothing refused was stored"
    );

    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{body}");
    assert_eq!(body["checks"]["storage"], "read_only", "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // Writable again, for new sessions. A pooled session opened while the database was
    // read-only (by a read) may refuse one more write; that refusal retires every session
    // opened before it, and the writes after it succeed.
    alter(&database, "RESET default_transaction_read_only").await;
    let mut statuses = Vec::new();
    for attempt in 0..4 {
        let response = app
            .client
            .post(&tasks)
            .bearer_auth(&token)
            .json(&json!({"title": format!("after {attempt}")}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let refused = statuses.iter().filter(|status| **status != 201).count();
    assert!(
        refused <= 1 && statuses[2..].iter().all(|status| *status == 201),
        "writes resume once the database allows them: {statuses:?}"
    );
    // Readiness recovers once a write has succeeded with no refusal in the second before it
    // (a refusal may have come just now).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let ready = app
            .client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap();
        if ready.status() == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "readiness recovers: {}",
            ready.text().await.unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `ALTER DATABASE` of the test's database, with `change` (for the sessions that start after).
async fn alter(database: &PgDatabase, change: &str) {
    let sql = format!(r#"ALTER DATABASE "{}" {change}"#, database.name);
    sqlx::Executor::execute(&mut admin().await, sql.as_str())
        .await
        .unwrap();
}
