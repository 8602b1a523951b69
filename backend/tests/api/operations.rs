//! Operations (SPEC 7): health, readiness, migrations, request ids, shutdown, docs.

use std::{collections::HashMap, time::Duration};

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use todo_api::{
    app::{AppState, serve},
    core::settings::{DatabaseBackend, Settings},
};

use super::{
    BACKEND,
    helpers::{PASSWORD, TEST_SECRET, TestApp, assert_error, body, server_url},
};

/// Generous bound for answers that must come "quickly" rather than hang.
const NO_HANG: Duration = Duration::from_secs(10);

#[tokio::test]
async fn health_answers_ok() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let response = app.health().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, json!({"status": "ok"}));
}

// --- readiness and migrations ----------------------------------------------------------------

/// The case keys that migration 6 adds on PostgreSQL are filled by the database's `lower()`,
/// which folds only ASCII in a database whose locale is `C`; right after that migration the
/// service writes every key again its own way, so rows from before it compare like new ones.
#[tokio::test]
async fn keys_of_rows_from_before_the_case_key_migration_are_folded_as_the_service_folds() {
    use sqlx::{Connection, Executor};
    if !matches!(BACKEND, DatabaseBackend::Postgres) || TestApp::spawn().await.is_none() {
        return;
    }
    let name = format!("todo_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .unwrap();
    let create = format!(
        r#"CREATE DATABASE "{name}" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"#
    );
    admin.execute(create.as_str()).await.unwrap();
    let url = format!("{}/{name}", server_url());
    let vars: HashMap<String, String> = [
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET_KEY", TEST_SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let store = todo_api::db::connect(&Settings::from_vars(&vars).unwrap())
        .await
        .unwrap();
    store.migrate_up().await.unwrap();
    assert_eq!(
        store.migrate_down(6).await.unwrap(),
        [
            20261208000011,
            20261130000010,
            20261130000009,
            20261130000008,
            20261130000007,
            20261130000006
        ]
    );

    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let folded: String = sqlx::query_scalar("SELECT lower('ÉTÉ')")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(folded, "ÉtÉ", "a C locale folds ASCII only");
    db.execute(
        "INSERT INTO users (id, email, password_hash) \
         VALUES ('00000000-0000-0000-0000-000000000001', 'old@example.com', 'x'); \
         INSERT INTO tags (user_id, name) \
         VALUES ('00000000-0000-0000-0000-000000000001', 'Été'); \
         INSERT INTO tasks (user_id, title, description) \
         VALUES ('00000000-0000-0000-0000-000000000001', 'ÉTÉ', 'Ça VA')",
    )
    .await
    .unwrap();
    store.migrate_up().await.unwrap();

    let tag_key: String = sqlx::query_scalar("SELECT name_key FROM tags")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let task_keys: (String, String) =
        sqlx::query_as("SELECT title_key, description_key FROM tasks")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(tag_key, "été");
    assert_eq!(task_keys, ("été".to_owned(), "ça va".to_owned()));

    store.close().await;
    db.close().await.unwrap();
    let drop = format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#);
    admin.execute(drop.as_str()).await.unwrap();
}

/// The column rules hold in the database itself, whoever writes (on PostgreSQL they are domains
/// since migration 10, and 11 for the statuses and priorities; on SQLite CHECK constraints): a
/// value that breaks one is refused as a check violation and nothing is written.
#[tokio::test]
async fn the_database_refuses_values_that_break_the_column_rules() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    // A time as both backends store it (SQLite: this text; PostgreSQL: parsed).
    const AT: &str = "'2026-01-01T00:00:00.000000Z'";
    let user = app.signed_in_user().await;
    let long = |n: usize| "x".repeat(n);
    // A task of the user's `not_started` status and `medium` priority.
    let task = |title: &str, description: Option<&str>, position: i64| {
        let description = description.map_or("NULL".to_owned(), |d| format!("'{d}'"));
        format!(
            "INSERT INTO tasks (user_id, title, title_key, description, description_key, \
                                status_id, priority_id, position, created_at, updated_at) \
             VALUES ($1, '{title}', lower('{title}'), {description}, lower({description}), \
                     (SELECT id FROM statuses WHERE user_id = $1 AND name = 'not_started'), \
                     (SELECT id FROM priorities WHERE user_id = $1 AND name = 'medium'), \
                     {position}, {AT}, {AT})"
        )
    };
    let tag = |name: &str, color: &str| {
        format!(
            "INSERT INTO tags (user_id, name, name_key, color, created_at) \
             VALUES ($1, '{name}', lower('{name}'), '{color}', {AT})"
        )
    };
    // A status (or, without a kind, a priority) at position 10.
    let category = |table: &str, name: &str, color: &str| {
        let (kind, done) = match table {
            "statuses" => (", done", ", false"),
            _ => ("", ""),
        };
        format!(
            "INSERT INTO {table} (user_id, name, name_key, color, position{kind}, \
                                  created_at, updated_at) \
             VALUES ($1, '{name}', '{name}', '{color}', 10{done}, {AT}, {AT})"
        )
    };
    let broken = [
        task("", None, -65536),
        task(&long(201), None, -65536),
        task("ok", Some(&long(1001)), -65536),
        tag("", "#00ff00"),
        tag(&long(51), "#00ff00"),
        tag("ok", "green"),
        tag("ok", "#00ff0"),
        category("statuses", "", "#00ff00"),
        category("statuses", &long(51), "#00ff00"),
        category("statuses", "ok", "green"),
        category("priorities", "", "#00ff00"),
        category("priorities", &long(51), "#00ff00"),
        category("priorities", "ok", "#00ff0"),
    ];
    for sql in &broken {
        let error = app.try_sql(sql, Some(&user.id)).await.unwrap_err();
        let kind = error.as_database_error().map(|e| e.kind());
        assert!(
            matches!(kind, Some(sqlx::error::ErrorKind::CheckViolation)),
            "{sql}: {error}"
        );
    }
    assert_eq!(app.count_rows_with("tasks", "user_id", &user.id).await, 0);
    assert_eq!(app.count_rows_with("tags", "user_id", &user.id).await, 0);
    // Only the defaults sign-up created.
    assert_eq!(
        app.count_rows_with("statuses", "user_id", &user.id).await,
        3
    );
    assert_eq!(
        app.count_rows_with("priorities", "user_id", &user.id).await,
        3
    );

    // At the limits, the same statements are accepted.
    let fine = [
        task(&long(200), Some(&long(1000)), -65536),
        task("x", None, -131072),
        tag(&long(50), "#00FF00"),
        category("statuses", &long(50), "#00FF00"),
        category("priorities", "x", "#00ff00"),
    ];
    for sql in &fine {
        assert_eq!(app.execute_sql(sql, Some(&user.id)).await, 1);
    }
    assert_eq!(app.count_rows_with("tasks", "user_id", &user.id).await, 2);
    assert_eq!(app.count_rows_with("tags", "user_id", &user.id).await, 1);
    assert_eq!(
        app.count_rows_with("statuses", "user_id", &user.id).await,
        4
    );
    assert_eq!(
        app.count_rows_with("priorities", "user_id", &user.id).await,
        4
    );
}

#[tokio::test]
async fn ready_answers_ok_when_the_database_is_migrated() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let response = app.ready().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, json!({"status": "ok"}));
}

#[tokio::test]
async fn a_pending_migration_makes_ready_unavailable_until_it_is_applied() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let reverted = app.store.migrate_down(1).await.unwrap();
    assert_eq!(reverted.len(), 1);

    let response = app.ready().await;
    let error = assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    assert!(
        error["detail"].as_str().unwrap().contains("migration"),
        "{error}"
    );
    // Liveness does not depend on it.
    assert_eq!(app.health().await.status(), StatusCode::OK);

    app.store.migrate_up().await.unwrap();
    let response = app.ready().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, json!({"status": "ok"}));
}

#[tokio::test]
async fn migrating_all_the_way_down_and_up_again_restores_a_working_service() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    // Use the tables first, so that the server's connections have seen them.
    let user = app.signed_in_user().await;
    let total = app.store.migration_status().await.unwrap().len();
    assert!(total >= 2);

    let reverted = app.store.migrate_down(100).await.unwrap();
    assert_eq!(reverted.len(), total);
    assert!(
        reverted.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first: {reverted:?}"
    );
    assert!(!app.table_exists("users").await);
    assert!(!app.table_exists("refresh_sessions").await);
    let status = app.store.migration_status().await.unwrap();
    assert_eq!(status.len(), total);
    assert!(status.iter().all(|m| !m.applied), "{status:?}");
    assert_eq!(status.iter().filter(|m| !m.applied).count(), total);
    let response = app.ready().await;
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;

    app.store.migrate_up().await.unwrap();
    assert!(app.table_exists("users").await);
    assert!(app.table_exists("refresh_sessions").await);
    let status = app.store.migration_status().await.unwrap();
    assert!(status.iter().all(|m| m.applied), "{status:?}");
    assert_eq!(app.ready().await.status(), StatusCode::OK);

    // The data went with the tables; the same email can register again and sign in.
    let response = app.register(&user.email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let (access, _) = app.sign_in(&user.email, PASSWORD).await;
    let response = app.me(Some(&access)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["email"], user.email.as_str());
}

// --- database unreachable --------------------------------------------------------------------

/// A server whose database is a closed port. Returns its address and a shutdown handle.
async fn spawn_without_database() -> (String, tokio::sync::oneshot::Sender<()>) {
    let vars: HashMap<String, String> = [
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere"),
        ("JWT_SECRET_KEY", TEST_SECRET),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "0"),
        ("DB_MAX_CONNECTIONS", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Settings::from_vars(&vars).expect("settings");
    let store = todo_api::db::connect(&settings)
        .await
        .expect("a lazy pool needs no database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, AppState::new(settings, store), async {
        let _ = stopped.await;
    }));
    (address, stop)
}

#[tokio::test]
async fn with_the_database_unreachable_liveness_is_ok_and_everything_else_is_503_quickly() {
    // Only a database server can be unreachable; an embedded file is opened at start.
    if BACKEND != DatabaseBackend::Postgres {
        return;
    }
    let (address, _stop) = spawn_without_database().await;
    let client = reqwest::Client::new();

    let response = tokio::time::timeout(NO_HANG, client.get(format!("{address}/health")).send())
        .await
        .expect("/health does not hang")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, json!({"status": "ok"}));

    let response = tokio::time::timeout(
        NO_HANG,
        client.get(format!("{address}/health/ready")).send(),
    )
    .await
    .expect("/health/ready does not hang")
    .unwrap();
    let error = assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    assert!(
        error["detail"].as_str().unwrap().contains("database"),
        "{error}"
    );

    let login = client
        .post(format!("{address}/api/v1/auth/login"))
        .json(&json!({"email": "someone@example.com", "password": PASSWORD}))
        .send();
    let response = tokio::time::timeout(NO_HANG, login)
        .await
        .expect("login does not hang")
        .unwrap();
    let error = assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    let text = error.to_string();
    for leak in ["sqlx", "127.0.0.1:1", "Connection refused", "postgres"] {
        assert!(!text.contains(leak), "{leak:?} leaked in {text}");
    }

    let register = client
        .post(format!("{address}/api/v1/auth/register"))
        .json(&json!({"email": "someone@example.com", "password": PASSWORD}))
        .send();
    let response = tokio::time::timeout(NO_HANG, register)
        .await
        .expect("register does not hang")
        .unwrap();
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
}

// --- CORS ------------------------------------------------------------------------------------

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_allowed_with_credentials() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app.preflight_login("http://localhost:3000").await;
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://localhost:3000"
    );
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    let methods = headers[header::ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    assert!(methods.contains("POST"), "{methods}");

    // A real request from that origin is answered with the same permission.
    let response = app
        .client
        .get(app.url("/health"))
        .header(header::ORIGIN, "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://localhost:3000"
    );
    assert_eq!(
        response.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
}

/// The service announces itself as `http://127.0.0.1:8000`; a front end's development server
/// opened the same way (`http://127.0.0.1:5173`) must be let in by default, like its
/// `localhost` twin.
#[tokio::test]
async fn by_default_local_front_ends_are_allowed_under_127_0_0_1_as_under_localhost() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    for origin in [
        "http://127.0.0.1:5173",
        "http://localhost:5173",
        "http://127.0.0.1:3000",
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8000",
    ] {
        let response = app.preflight_login(origin).await;
        assert!(
            response.status().is_success(),
            "{origin}: {}",
            response.status()
        );
        let headers = response.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    }
}

#[tokio::test]
async fn a_preflight_from_an_unknown_origin_gets_no_permission() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app.preflight_login("https://evil.example").await;
    assert!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none(),
        "{:?}",
        response.headers()
    );

    let response = app
        .client
        .get(app.url("/health"))
        .header(header::ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}

// --- shutdown --------------------------------------------------------------------------------

#[tokio::test]
async fn graceful_shutdown_returns_ok_stops_accepting_and_closes_the_pool() {
    let Some(mut app) = TestApp::spawn().await else {
        return;
    };
    assert_eq!(app.health().await.status(), StatusCode::OK);

    tokio::time::timeout(NO_HANG, app.stop())
        .await
        .expect("shutdown does not hang")
        .expect("shutdown is clean");

    let socket = app.address.trim_start_matches("http://");
    assert!(
        tokio::net::TcpStream::connect(socket).await.is_err(),
        "the listener is closed"
    );
    let fresh_client = reqwest::Client::new();
    assert!(fresh_client.get(app.url("/health")).send().await.is_err());
    assert!(app.store.is_closed());
}

// --- documentation ---------------------------------------------------------------------------

#[tokio::test]
async fn openapi_lists_every_route_the_security_schemes_and_the_error_shape() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc = body(response).await;

    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/users/{user_id}",
        "/api/v1/users/{user_id}/password",
        "/health",
        "/health/ready",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from {:?}",
            paths.keys()
        );
    }
    let account = &paths["/api/v1/users/{user_id}"];
    for method in ["get", "patch", "delete"] {
        assert!(account.get(method).is_some(), "{method} /users/{{user_id}}");
    }

    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");
    assert!(
        schemes.values().any(|s| s["type"] == "http"
            && s["scheme"].as_str().map(str::to_ascii_lowercase).as_deref() == Some("bearer")),
        "{schemes:?}"
    );
    assert!(
        schemes
            .values()
            .any(|s| s["type"] == "oauth2"
                && s["flows"]["password"]["tokenUrl"] == "/api/v1/auth/login"),
        "{schemes:?}"
    );

    let schemas = &doc["components"]["schemas"];
    let error_body = &schemas["ErrorBody"];
    assert!(error_body.is_object(), "ErrorBody schema missing");
    for property in ["detail", "code", "field", "request_id"] {
        assert!(
            error_body["properties"].get(property).is_some(),
            "ErrorBody.{property}"
        );
    }
    // Every code the service answers with is documented.
    let documented = serde_json::to_string(&doc).unwrap();
    for code in [
        "EMAIL_ALREADY_EXISTS",
        "PASSWORD_TOO_SHORT",
        "PASSWORD_TOO_LONG",
        "INVALID_EMAIL",
        "INVALID_TIMEZONE",
        "INVALID_CREDENTIALS",
        "MISSING_TOKEN",
        "INVALID_TOKEN",
        "TOKEN_EXPIRED",
        "INVALID_TOKEN_TYPE",
        "MISSING_REFRESH_TOKEN",
        "REFRESH_TOKEN_EXPIRED",
        "TOKEN_REVOKED",
        "FORBIDDEN",
        "NOT_FOUND",
        "METHOD_NOT_ALLOWED",
        "PAYLOAD_TOO_LARGE",
        "UNSUPPORTED_MEDIA_TYPE",
        "VALIDATION_ERROR",
        "RATE_LIMIT_EXCEEDED",
        "INTERNAL_ERROR",
        "SERVICE_UNAVAILABLE",
    ] {
        assert!(documented.contains(code), "{code} is not documented");
    }
}

/// The `src` attributes of the `<script>` tags in `html`.
fn script_sources(html: &str) -> Vec<String> {
    html.split("<script")
        .skip(1)
        .filter_map(|tag| {
            let tag = tag.split('>').next()?;
            let start = tag.find("src=")? + 4;
            let quote = tag[start..].chars().next()?;
            let rest = &tag[start + 1..];
            Some(rest[..rest.find(quote)?].to_owned())
        })
        .collect()
}

fn assert_no_cdn(html: &str) {
    for cdn in ["unpkg", "jsdelivr", "cdnjs", "googleapis"] {
        assert!(!html.contains(cdn), "{cdn} referenced");
    }
    for src in script_sources(html) {
        assert!(!src.starts_with("http") && !src.starts_with("//"), "{src}");
    }
}

fn is_html(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app.get("/docs", None).await;
    let page = if response.status().is_redirection() {
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.ends_with("/docs/"), "{location}");
        app.get("/docs/", None).await
    } else {
        response
    };
    assert_eq!(page.status(), StatusCode::OK);
    assert!(is_html(&page), "{:?}", page.headers());
    let html = page.text().await.unwrap();
    assert!(html.to_ascii_lowercase().contains("swagger"), "{html}");
    assert_no_cdn(&html);

    // Every script the page loads is served here, and the configuration points at our document.
    let sources = script_sources(&html);
    assert!(!sources.is_empty(), "{html}");
    let mut scripts = String::new();
    for src in sources {
        let path = match src.strip_prefix("./") {
            Some(relative) => format!("/docs/{relative}"),
            None if src.starts_with('/') => src.clone(),
            None => format!("/docs/{src}"),
        };
        let response = app.get(&path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        scripts.push_str(&response.text().await.unwrap());
    }
    assert!(
        scripts.contains("/openapi.json"),
        "the UI loads /openapi.json"
    );
}

#[tokio::test]
async fn redoc_is_served_from_the_binary() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app.get("/redoc", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(is_html(&response), "{:?}", response.headers());
    let html = response.text().await.unwrap();
    assert!(html.contains("/redoc/redoc.standalone.js"), "{html}");
    assert!(html.contains("/openapi.json"), "{html}");
    assert_no_cdn(&html);

    let response = app.get("/redoc/redoc.standalone.js", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/javascript")
            || content_type.starts_with("text/javascript"),
        "{content_type}"
    );
    let script = response.text().await.unwrap();
    assert!(script.len() > 100_000, "the full bundle, not a stub");
}

#[tokio::test]
async fn swagger_ui_fills_in_the_signed_in_users_id_after_authorize() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    // Served in place of the stock start-up script; the browser check
    // (scripts/browser/check.mjs) shows it at work.
    let response = app.get("/docs/swagger-initializer.js", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let script = response.text().await.unwrap();
    for expected in [
        r#""url":"/openapi.json""#,
        r#""validatorUrl":"none""#,
        "FillUserId",
        "fetch('/api/v1/auth/me'",
        "changeParam([path, method], 'user_id', 'path', id)",
    ] {
        assert!(
            script.contains(expected),
            "{expected} missing from {script}"
        );
    }
    assert!(!script.contains("{{config}}"), "{script}");
}

#[tokio::test]
async fn the_docs_pages_ask_no_other_host_for_anything() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    // The pages and the start-up script name no address outside the service.
    for path in ["/docs/", "/docs/swagger-initializer.js", "/redoc"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let text = response.text().await.unwrap();
        for scheme in ["http:", "https:", "\"//", "'//"] {
            assert!(!text.contains(scheme), "{path} names another host: {text}");
        }
    }

    // The ReDoc bundle's footer no longer fetches Redocly's logo; its credit stays.
    let script = app
        .get("/redoc/redoc.standalone.js", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !script.contains("cdn.redoc.ly"),
        "the footer logo is fetched"
    );
    assert!(script.contains("API docs by Redocly"));
}

#[tokio::test]
async fn the_openapi_document_is_valid_json_with_a_version_and_title() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let doc: Value = body(app.get("/openapi.json", None).await).await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "todo-api");
}

// --- the binary: its welcome, its help, `migrate` on a database that does not exist ---------

/// A database for `todo-api` child processes that does not exist yet, and the working
/// directory they run in: a SQLite file in a directory still to be made, or a PostgreSQL
/// database (its URL carrying a password, which trust authentication ignores and nothing may
/// print).
struct Scratch {
    dir: std::path::PathBuf,
    url: String,
    /// The SQLite file, or the PostgreSQL database's name.
    database: String,
}

/// The password [`Scratch`] puts in PostgreSQL URLs.
const URL_PASSWORD: &str = "pw-never-printed";

impl Scratch {
    /// `None` when the PostgreSQL half is skipped.
    async fn new() -> Option<Self> {
        if BACKEND == DatabaseBackend::Postgres && TestApp::spawn().await.is_none() {
            return None;
        }
        let id = uuid::Uuid::new_v4().simple();
        let dir = std::env::temp_dir().join(format!("todo-api-bin-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (url, database) = match BACKEND {
            DatabaseBackend::Sqlite => {
                let file = dir.join("data").join("todo.db");
                (
                    format!("sqlite://{}", file.display()),
                    file.display().to_string(),
                )
            }
            DatabaseBackend::Postgres => {
                let name = format!("todo_test_{id}");
                let server = server_url().replacen(
                    "postgres://postgres@",
                    &format!("postgres://postgres:{URL_PASSWORD}@"),
                    1,
                );
                (format!("{server}/{name}"), name)
            }
        };
        Some(Self { dir, url, database })
    }

    /// `todo-api <args>` on this database, with nothing inherited from the test's environment
    /// (and no `.env` file in its working directory).
    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_todo-api"));
        command
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &self.url)
            .env("RUST_LOG", "info")
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null());
        command
    }

    /// Runs `todo-api <args>` to its end; its exit status, standard output and error.
    fn run(&self, args: &[&str]) -> (std::process::ExitStatus, String, String) {
        let output = self.command(args).output().expect("run todo-api");
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
        (output.status, text(output.stdout), text(output.stderr))
    }

    async fn exists(&self) -> bool {
        match BACKEND {
            DatabaseBackend::Sqlite => std::path::Path::new(&self.database).exists(),
            DatabaseBackend::Postgres => {
                use sqlx::Connection;
                let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", server_url()))
                    .await
                    .unwrap();
                let found: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                        .bind(&self.database)
                        .fetch_optional(&mut admin)
                        .await
                        .unwrap();
                admin.close().await.unwrap();
                found.is_some()
            }
        }
    }

    async fn remove(self) {
        if BACKEND == DatabaseBackend::Postgres {
            use sqlx::{Connection, Executor};
            let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", server_url()))
                .await
                .unwrap();
            let drop = format!(
                r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
                self.database
            );
            admin.execute(drop.as_str()).await.unwrap();
            admin.close().await.unwrap();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads what a starting service writes until its welcome block has ended (its second rule
/// of `=`), or the output ends.
fn read_welcome(output: impl std::io::Read) -> String {
    use std::io::BufRead;
    let mut printed = String::new();
    let mut rules = 0;
    for line in std::io::BufReader::new(output).lines() {
        let Ok(line) = line else { break };
        printed.push_str(&line);
        printed.push('\n');
        if line.len() >= 40 && line.chars().all(|c| c == '=') {
            rules += 1;
            if rules == 2 {
                break;
            }
        }
    }
    printed
}

#[tokio::test]
async fn started_into_a_pipe_the_service_welcomes_with_its_address_docs_and_database_uncoloured() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    // No JWT_SECRET_KEY: the throw-away key's warning is part of the welcome. PORT=0: the
    // welcome shows the port the service got.
    let mut child = scratch
        .command(&["serve"])
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "pretty")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start todo-api serve");
    let stdout = child.stdout.take().unwrap();
    let printed = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || read_welcome(stdout)),
    )
    .await;
    let url = match &printed {
        Ok(Ok(printed)) => printed
            .lines()
            .find_map(|line| line.strip_prefix("  Open      "))
            .map(str::to_owned),
        _ => None,
    };
    let answers = match &url {
        Some(url) => {
            let client = reqwest::Client::new();
            let health = client.get(format!("{url}/health")).send().await.unwrap();
            let docs = client.get(format!("{url}/docs")).send().await.unwrap();
            Some((
                body(health).await,
                docs.status(),
                docs.text().await.unwrap(),
            ))
        }
        None => None,
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let mut errors = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut errors).unwrap();
    let exists = scratch.exists().await;
    let database = scratch.database.clone();
    scratch.remove().await;

    let printed = printed.expect("a welcome within a minute").unwrap();
    let url = url.unwrap_or_else(|| panic!("no `Open` line in\n{printed}\n{errors}"));
    let (health, docs_status, docs) = answers.unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    assert_eq!(
        health,
        json!({"status": "ok"}),
        "the service answers at {url}"
    );
    assert_eq!(docs_status, StatusCode::OK);
    assert!(docs.to_ascii_lowercase().contains("swagger"), "{docs}");

    let described = match BACKEND {
        DatabaseBackend::Sqlite => format!("  Database  SQLite, file {database}\n"),
        DatabaseBackend::Postgres => format!("  Database  PostgreSQL, database {database} on "),
    };
    for expected in [
        "is running (development)".to_owned(),
        format!("  API docs  {url}/docs"),
        described,
        "  WARNING   JWT_SECRET_KEY is not set".to_owned(),
        "`openssl rand -hex 32`".to_owned(),
    ] {
        assert!(printed.contains(&expected), "{expected:?} in\n{printed}");
    }
    assert!(exists, "serving created the database");
    let everything = format!("{printed}{errors}");
    assert!(!everything.contains(URL_PASSWORD), "{everything}");
    assert!(
        !everything.contains('\x1b'),
        "colour codes written into a pipe:\n{everything:?}"
    );
}

#[tokio::test]
async fn migrate_status_and_down_on_a_database_that_does_not_exist_say_so_and_create_nothing() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let known = todo_api::db::known_migrations(BACKEND);
    assert!(known.len() >= 6, "{known:?}");

    let (status, listed, said) = scratch.run(&["migrate", "status"]);
    assert!(status.success(), "{status}: {said}");
    let expected: Vec<String> = known
        .iter()
        .map(|m| format!("pending  {} {}", m.version, m.description))
        .collect();
    assert_eq!(listed.lines().collect::<Vec<_>>(), expected);
    assert!(said.contains("the database does not exist yet"), "{said}");
    assert!(said.contains("todo-api migrate up"), "{said}");
    assert!(!said.contains(URL_PASSWORD), "{said}");

    let (status, reverted, said) = scratch.run(&["migrate", "down"]);
    assert!(status.success(), "{status}: {said}");
    assert_eq!(reverted, "nothing to revert\n");

    let created = scratch.exists().await;
    let directory = scratch.dir.join("data").exists();
    // `up` is the one that creates it; `status` then reads without changing anything.
    let (up, _, up_said) = scratch.run(&["migrate", "up"]);
    let (status_after, listed_after, _) = scratch.run(&["migrate", "status"]);
    let exists_after = scratch.exists().await;
    scratch.remove().await;

    assert!(!created, "`migrate status` or `down` created the database");
    assert!(
        !directory,
        "`migrate status` or `down` created the directory"
    );
    assert!(up.success(), "{up}: {up_said}");
    assert!(exists_after);
    assert!(status_after.success());
    let applied: Vec<String> = known
        .iter()
        .map(|m| format!("applied  {} {}", m.version, m.description))
        .collect();
    assert_eq!(listed_after.lines().collect::<Vec<_>>(), applied);
}

/// The help of the binary itself (the same on either backend: checked in the SQLite half).
#[test]
fn help_lists_every_setting_with_its_default_and_short_and_long_help_agree() {
    if BACKEND != DatabaseBackend::Sqlite {
        return;
    }
    let help = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_todo-api"))
            .args(args)
            .env_clear()
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let long = help(&["--help"]);
    for setting in todo_api::core::settings::SETTINGS {
        let line = format!("  {}  [default: {}]\n", setting.name, setting.default);
        assert!(long.contains(&line), "{line:?} in\n{long}");
    }
    assert!(long.contains("  PORT  [default: 8000]\n"), "{long}");
    assert!(!long.contains("README"), "{long}");
    for args in [&[][..], &["serve"], &["migrate"], &["migrate", "status"]] {
        let short = help(&[args, &["-h"]].concat());
        let long = help(&[args, &["--help"]].concat());
        assert_eq!(short.lines().next(), long.lines().next(), "{args:?}");
    }
    assert!(
        help(&["serve", "--help"]).contains("HOST:PORT (default 127.0.0.1:8000)"),
        "serve --help names the default address"
    );
    let migrate = help(&["migrate", "--help"]);
    assert!(
        migrate.contains("DATABASE_URL") && migrate.contains("sqlite://todo.db"),
        "{migrate}"
    );
}
