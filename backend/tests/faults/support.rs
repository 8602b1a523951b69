//! What the fault tests share: a fresh PostgreSQL database of their own, an app served
//! in-process on any database URL, and a signed-in user.

use std::{collections::HashMap, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use todo_api::{
    app::{self, AppState},
    core::settings::Settings,
    db,
};
use tokio::sync::oneshot;

pub const SECRET: &str = "5f0c6b1e8a3d47f2b9e1c0a4d6f8e2b3c5a7d9e1f3b5c7a9e2d4f6a8c0b2d4e6";
pub const PASSWORD: &str = "correct horse battery staple";

/// One fault test at a time: each injects load or faults and measures answer times, which
/// would otherwise disturb the others on a small machine. Hold the guard for the whole test.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

/// The PostgreSQL server the tests use (`TEST_DATABASE_URL`, without a database name).
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// The server's host and port, for a proxy in front of it.
pub fn server_address() -> std::net::SocketAddr {
    address_of(&server_url())
}

/// The host and port of `TEST_POOLER_URL`, a transaction-mode pooler (PgBouncer) in front of
/// the server, when it is set (`scripts/with-pgbouncer` sets it).
pub fn pooler_address() -> Option<std::net::SocketAddr> {
    std::env::var("TEST_POOLER_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .map(|url| address_of(url.trim_end_matches('/')))
}

/// The pooler the `behind_a_transaction_pooler_*` tests run behind (`TEST_POOLER_URL`), or
/// `None`, having said that the test is skipped.
pub fn pooler_or_skip() -> Option<std::net::SocketAddr> {
    let pooler = pooler_address();
    if pooler.is_none() {
        eprintln!("*** SKIPPED: TEST_POOLER_URL is not set (run under scripts/with-pgbouncer) ***");
    }
    pooler
}

/// The `host:port` of a `postgres://user@host[:port]` URL without a database name.
fn address_of(url: &str) -> std::net::SocketAddr {
    let authority = url
        .rsplit('@')
        .next()
        .unwrap()
        .trim_start_matches("postgres://");
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:5432")
    };
    let authority = authority.replace("localhost", "127.0.0.1");
    authority
        .parse()
        .expect("a host:port in the PostgreSQL URL")
}

/// True when PostgreSQL tests must be skipped (no server, and `REQUIRE_POSTGRES` not set).
pub async fn skip_postgres() -> bool {
    let connect = PgConnection::connect(&format!("{}/postgres", server_url()));
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            false
        }
        outcome => {
            let reason = match outcome {
                Ok(Err(error)) => error.to_string(),
                _ => "no answer within 5 s".to_owned(),
            };
            assert!(
                std::env::var("REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "REQUIRE_POSTGRES=1, but PostgreSQL is unavailable: {reason}"
            );
            eprintln!(
                "*** SKIPPED: PostgreSQL fault test; PostgreSQL is unavailable: {reason} ***"
            );
            true
        }
    }
}

/// A database of the test's own on the shared server, migrated, dropped with this value.
pub struct PgDatabase {
    pub name: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        let name = format!("todo_fault_{}", uuid::Uuid::new_v4().simple());
        admin()
            .await
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap();
        let database = Self { name };
        let settings = settings(&database.url(), &[]);
        let store = db::connect(&settings).await.unwrap();
        store.migrate_up().await.unwrap();
        store.close().await;
        database
    }

    /// A database with no tables yet, as a first start finds it.
    pub async fn create_empty() -> Self {
        let name = format!("todo_fault_{}", uuid::Uuid::new_v4().simple());
        admin()
            .await
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap();
        Self { name }
    }

    /// The database's URL on the server itself.
    pub fn url(&self) -> String {
        format!("{}/{}", server_url(), self.name)
    }

    /// The database's URL through a proxy on `port`.
    pub fn url_via(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{}", self.name)
    }

    /// A connection of the test's own, straight to the server.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url()).await.unwrap()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Dropped inside a test's runtime: a thread with a runtime of its own does the work.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    let _ = admin().await.execute(sql.as_str()).await;
                });
        })
        .join();
    }
}

async fn admin() -> PgConnection {
    PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .unwrap()
}

/// Settings for the service on `database` through a proxy on `port`, in front of the server, or
/// of a transaction-mode pooler when `pooler` is true: then with `DB_POOLER=transaction` and
/// the direct URL for what needs a session.
pub fn settings_via(
    database: &PgDatabase,
    port: u16,
    pooler: bool,
    overrides: &[(&str, &str)],
) -> Settings {
    let direct_url = database.url();
    let mut all = overrides.to_vec();
    if pooler {
        all.extend([
            ("DB_POOLER", "transaction"),
            ("DATABASE_DIRECT_URL", direct_url.as_str()),
        ]);
    }
    settings(&database.url_via(port), &all)
}

pub fn settings(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", database_url),
        ("JWT_SECRET_KEY", SECRET),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (key, value) in overrides {
        vars.insert((*key).to_owned(), (*value).to_owned());
    }
    Settings::from_vars(&vars).expect("test settings")
}

/// The service, served in-process on a port of its own until dropped.
pub struct App {
    pub address: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
}

impl App {
    /// Starts as `todo-api serve` does: prepares the database (or, when it is unreachable,
    /// waits for it in the background) and serves.
    pub async fn serve(settings: Settings) -> Self {
        let store = db::connect(&settings).await.expect("store");
        todo_api::services::availability::prepare_or_wait(&store, &settings)
            .await
            .expect("the database is prepared, or waited for");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = oneshot::channel::<()>();
        let state = AppState::new(settings, store.clone());
        tokio::spawn(app::serve(listener, state, async {
            let _ = stop.await;
        }));
        Self {
            address,
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Signs up `email` and signs in; returns the user's id and access token.
    pub async fn signed_in_user(&self, email: &str) -> (String, String) {
        let id = sign_up(&self.client, &self.address, email).await;
        (id, self.login(email).await)
    }

    /// Creates a tag named `name` for the user; returns its id.
    pub async fn create_tag(&self, user_id: &str, token: &str, name: &str) -> i64 {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/users/{user_id}/tags")))
            .bearer_auth(token)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "create tag {name}");
        let tag: Value = response.json().await.unwrap();
        assert_eq!(tag["name"], name, "{tag}");
        tag["id"].as_i64().unwrap()
    }

    /// Creates a task titled `title` for the user; returns its id.
    pub async fn create_task(&self, user_id: &str, token: &str, title: &str) -> i64 {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/users/{user_id}/tasks")))
            .bearer_auth(token)
            .json(&json!({"title": title}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "create {title}");
        let task: Value = response.json().await.unwrap();
        assert_eq!(task["title"], title, "{task}");
        task["id"].as_i64().unwrap()
    }

    /// Signs in; returns the access token.
    pub async fn login(&self, email: &str) -> String {
        sign_in(&self.client, &self.address, email).await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Registers `email` with [`PASSWORD`] on the service at `base`; returns the new user's id.
pub async fn sign_up(client: &reqwest::Client, base: &str, email: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "register {email}");
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], email, "{user}");
    user["id"].as_str().unwrap().to_owned()
}

/// Signs `email` in on the service at `base`; returns the access token.
pub async fn sign_in(client: &reqwest::Client, base: &str, email: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "login {email} at {base}");
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The `p`-th percentile (0–100) of `samples`, which must not be empty.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank]
}
