//! What the fault tests share: a fresh PostgreSQL database of their own, an app served
//! in-process on any database URL, the real `todo-api` binary run as a child process on a
//! SQLite file, and a signed-in user.

use std::{
    collections::HashMap,
    fs::File,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, SqliteConnection, sqlite::SqliteConnectOptions};
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
        Self::create_in(None).await
    }

    /// A migrated database created in `tablespace` (`CREATE DATABASE … TABLESPACE`): its
    /// tables and indexes are stored there.
    pub async fn create_in_tablespace(tablespace: &str) -> Self {
        Self::create_in(Some(tablespace)).await
    }

    async fn create_in(tablespace: Option<&str>) -> Self {
        let database = Self::create_empty_in(tablespace).await;
        let settings = settings(&database.url(), &[]);
        let store = db::connect(&settings).await.unwrap();
        store.migrate_up().await.unwrap();
        store.close().await;
        database
    }

    /// A database with no tables yet, as a first start finds it.
    pub async fn create_empty() -> Self {
        Self::create_empty_in(None).await
    }

    async fn create_empty_in(tablespace: Option<&str>) -> Self {
        let name = format!("todo_fault_{}", uuid::Uuid::new_v4().simple());
        let mut sql = format!(r#"CREATE DATABASE "{name}""#);
        if let Some(tablespace) = tablespace {
            sql.push_str(&format!(r#" TABLESPACE "{tablespace}""#));
        }
        admin().await.execute(sql.as_str()).await.unwrap();
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
        let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        let _ = admin_in_drop(sql);
    }
}

/// A superuser connection to the server's `postgres` database.
pub async fn admin() -> PgConnection {
    PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .unwrap()
}

/// Runs `sql` as the superuser from a `Drop`, which runs inside a test's runtime: a thread with
/// a runtime of its own does the work. The error, if any, as text.
pub fn admin_in_drop(sql: String) -> Result<(), String> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
                    .await
                    .map_err(|error| error.to_string())?;
                admin
                    .execute(sql.as_str())
                    .await
                    .map(drop)
                    .map_err(|error| error.to_string())
            })
    })
    .join()
    .unwrap_or_else(|_| Err("the thread running it panicked".to_owned()))
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

    pub fn target(&self) -> Target {
        Target {
            base: self.address.clone(),
            http: self.client.clone(),
        }
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

/// Where requests go: a service's base URL and the client that sends them.
#[derive(Clone)]
pub struct Target {
    pub base: String,
    pub http: reqwest::Client,
}

/// An answer as received: its status (`None`: no answer at all, then `text` says why), its body
/// as JSON (`Null` when it is not JSON) and as text.
pub struct Answer {
    pub status: Option<StatusCode>,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// The answer in one line, for a failure message.
    pub fn describe(&self) -> String {
        let text: String = self.text.chars().take(400).collect();
        match self.status {
            Some(status) => format!("{} {text}", status.as_u16()),
            None => format!("no answer: {text}"),
        }
    }
}

impl Target {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request, as `token`'s bearer when given, with `body` as JSON when given, and
    /// waits at most `timeout` for the answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Answer {
        let mut request = self.http.request(method, self.url(path)).timeout(timeout);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return Answer {
                    status: None,
                    body: Value::Null,
                    text: error.to_string(),
                };
            }
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Answer {
            status: Some(status),
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }
}

/// The longest any one wait on a child process may take (readiness, its exit, a request).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A temporary directory, removed when dropped (kept, with a note, when the test failed so the
/// service logs in it can be read).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("todo-api-faults-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for the service logs", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `todo-api <args>` on the SQLite file `database`, started in `dir` with its output in
/// `dir/<log>`; the environment every child process gets: nothing inherited but these.
pub fn child_command(dir: &Path, database: &Path, args: &[&str], log: &str) -> Command {
    let log = File::create(dir.join(log)).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_todo-api"));
    command
        .args(args)
        .env_clear()
        .env("DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("JWT_SECRET_KEY", SECRET)
        .env("AUTH_RATE_LIMIT_PER_MINUTE", "0")
        .env("HOST", "127.0.0.1")
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        // No `.env` file to pick up in the temporary directory.
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    command
}

/// Waits for `child` to exit, at most [`DEADLINE`].
pub async fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not exit within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `todo-api serve` child process; killed (SIGKILL) when dropped if still running.
pub struct Service {
    pub name: &'static str,
    child: Child,
    pub base: String,
    log: PathBuf,
    pub http: reqwest::Client,
}

impl Service {
    /// Starts `todo-api serve` on the SQLite file `database` on a free loopback port, its log
    /// in `dir`, and waits until it is ready.
    pub async fn start(name: &'static str, dir: &Path, database: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log_name = format!("{name}.log");
        let child = child_command(dir, database, &["serve"], &log_name)
            .env("PORT", port.to_string())
            .spawn()
            .expect("start todo-api serve");
        let mut service = Self {
            name,
            child,
            base: format!("http://127.0.0.1:{port}"),
            log: dir.join(log_name),
            http: reqwest::Client::builder()
                .timeout(DEADLINE)
                .build()
                .unwrap(),
        };
        service.wait_ready().await;
        service
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `/health/ready` until it answers 200 `{"status":"ok"}`, at most [`DEADLINE`]. The
    /// listener is not bound yet while the service migrates, hence the polling.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.log()
                );
            }
            if let Ok(response) = self.http.get(self.url("/health/ready")).send().await
                && response.status() == StatusCode::OK
            {
                assert_eq!(
                    response.json::<Value>().await.unwrap(),
                    json!({"status": "ok"})
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready within {DEADLINE:?}:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn target(&self) -> Target {
        Target {
            base: self.base.clone(),
            http: self.http.clone(),
        }
    }

    /// Stops the service cleanly (SIGTERM) and returns its exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {}", self.name);
        wait_exit(&mut self.child, self.name).await
    }

    /// Kills the service (SIGKILL): no shutdown, no checkpoint.
    pub async fn kill(&mut self) {
        self.child.kill().unwrap();
        wait_exit(&mut self.child, self.name).await;
    }

    /// Signs in and returns the access token.
    pub async fn sign_in(&self, email: &str) -> String {
        sign_in(&self.http, &self.url(""), email).await
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A signed-in user.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub access: String,
}

impl User {
    /// Signs up a new user on the service at `base` and signs in.
    pub async fn sign_up(http: &reqwest::Client, base: &str) -> Self {
        let email = format!("faults-{}@example.com", uuid::Uuid::new_v4().simple());
        let id = sign_up(http, base, &email).await;
        let access = sign_in(http, base, &email).await;
        Self { id, email, access }
    }

    pub fn tasks_path(&self) -> String {
        format!("/api/v1/users/{}/tasks", self.id)
    }
}

/// Opens a SQLite file the way any other client would (never creating it).
pub async fn open_sqlite(file: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(
        &SqliteConnectOptions::new()
            .filename(file)
            .busy_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap_or_else(|e| panic!("open {}: {e}", file.display()))
}

/// `PRAGMA integrity_check` of a SQLite file: "ok" when it is intact.
pub async fn integrity_check(file: &Path) -> String {
    let mut conn = open_sqlite(file).await;
    let result: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    result
}
