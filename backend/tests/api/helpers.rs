//! `TestApp`: one running service on its own fresh database, and helpers that sign users up so
//! each test states only what it is about.
//!
//! Every route has a `TestApp` method that sends its request and returns the response
//! (`app.post_task(&user, &body)`, `app.patch_tag(&user, id, &body)`, `app.refresh(cookie)`, …);
//! routes under `/api/v1/users/{user_id}` take a [`Caller`]: a `&TestUser` for their own path and
//! token, or another pairing for the access tests. A few methods do what many tests need and
//! assert that it worked (`signed_in_user`, `create_task`, `fetch_task`, …). For requests no
//! route method sends (malformed, or with a method a test chooses) there are raw ones: `get`,
//! `send`, `send_json`, `post_json` and `post_raw`.
//!
//! This file is compiled once per backend (see `main.rs`): `super::BACKEND` says which.
//! PostgreSQL apps get a database of their own on `TEST_DATABASE_URL`; SQLite apps a file in a
//! temporary directory of their own. Both are removed when the app is dropped.

use std::{
    collections::HashMap,
    fmt::Display,
    io::Write,
    path::PathBuf,
    sync::{Arc, Once, OnceLock},
    time::{SystemTime, UNIX_EPOCH},
};

use reqwest::{Method, RequestBuilder, Response, StatusCode, header};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool, SqlitePool};
use todo_api::{
    app::{self, AppState},
    core::settings::{DatabaseBackend, Settings},
    db::{self, Store},
};
use tokio::sync::oneshot;

use super::BACKEND;

/// The secret every test app signs with, so tests can forge tokens on purpose.
pub const TEST_SECRET: &str = "5f0c6b1e8a3d47f2b9e1c0a4d6f8e2b3c5a7d9e1f3b5c7a9e2d4f6a8c0b2d4e6";
pub const PASSWORD: &str = "correct horse battery staple";

/// How many entries sign-up puts in a new user's change log, before anything else: the default
/// statuses (`status.created`: `not_started`, `in_progress`, `completed`), then the default
/// priorities (`priority.created`: `low`, `medium`, `high`).
pub const SIGN_UP_ENTRIES: usize = 6;

/// The server URL tests create their databases on (`TEST_DATABASE_URL`, without a database
/// name), defaulting to the local PostgreSQL.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// `TEST_POOLER_URL` (without a database name; `scripts/with-pgbouncer` sets it): a
/// transaction-mode pooler in front of the `TEST_DATABASE_URL` server. When set, PostgreSQL apps
/// connect through it (`DB_POOLER=transaction`), with the direct URL for what needs a session.
fn pooler_url() -> Option<String> {
    std::env::var("TEST_POOLER_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .map(|url| url.trim_end_matches('/').to_owned())
}

/// Why PostgreSQL cannot be used, or `None` when it answers. Asked once per test binary.
fn postgres_unavailable() -> Option<&'static str> {
    static CHECK: OnceLock<Option<String>> = OnceLock::new();
    CHECK
        .get_or_init(|| {
            // Each test has its own runtime; a thread with a runtime of its own asks once.
            std::thread::spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let connect = PgConnection::connect(&format!("{}/postgres", server_url()));
                    match tokio::time::timeout(std::time::Duration::from_secs(5), connect).await {
                        Ok(Ok(conn)) => {
                            let _ = conn.close().await;
                            None
                        }
                        Ok(Err(error)) => Some(error.to_string()),
                        Err(_) => Some("no answer within 5 seconds".to_owned()),
                    }
                })
            })
            .join()
            .unwrap_or_else(|_| Some("the availability check panicked".to_owned()))
        })
        .as_deref()
}

/// Decides what a PostgreSQL test does when the server is unavailable: fail under
/// `REQUIRE_POSTGRES=1` (as CI runs), otherwise skip, saying so once on the terminal.
fn skip_postgres_test() -> bool {
    let Some(reason) = postgres_unavailable() else {
        return false;
    };
    let url = server_url();
    if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!("REQUIRE_POSTGRES=1, but PostgreSQL at {url} is unavailable: {reason}");
    }
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        // Written to the process's stderr directly, past the test harness's output capture.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: the PostgreSQL half of the integration tests (postgres::*). \
             PostgreSQL at {url} (TEST_DATABASE_URL) is unavailable: {reason}. \
             These tests pass without checking anything; set REQUIRE_POSTGRES=1 to make this \
             a failure. ***\n"
        );
    });
    true
}

/// Runs `$body` with `$pool` bound to the test database's pool, whichever backend it is: for
/// the tests' own SQL that is the same text on both.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            TestDb::Postgres { pool: $pool, .. } => $body,
            TestDb::Sqlite { pool: $pool, .. } => $body,
        }
    };
}

/// Where a test app's data lives, for cleaning up and for the tests' own SQL.
enum TestDb {
    Postgres { pool: PgPool, name: String },
    Sqlite { pool: SqlitePool, dir: PathBuf },
}

/// The five routes tasks and tags both have, as [`TestApp`] methods: `POST` to the collection
/// `/users/{user_id}/{collection}`, and `GET`, `DELETE`, `PUT` and `PATCH` of one item in it
/// (the last two with a JSON body).
macro_rules! item_routes {
    (
        $collection:literal: $post:ident;
        $($bare_method:ident $bare:ident),+;
        $($body_method:ident $with_body:ident),+
    ) => {
        #[doc = concat!("`POST …/", $collection, "` with `body`.")]
        pub async fn $post<'a>(&self, caller: impl Into<Caller<'a>>, body: &Value) -> Response {
            let path = concat!("/", $collection);
            self.user_route(Method::POST, caller.into(), path, Some(body))
                .await
        }

        $(
            #[doc = concat!("`", stringify!($bare_method), " …/", $collection, "/{id}`.")]
            pub async fn $bare<'a>(
                &self,
                caller: impl Into<Caller<'a>>,
                id: impl Display,
            ) -> Response {
                self.item_route(Method::$bare_method, caller.into(), $collection, id, None)
                    .await
            }
        )+

        $(
            #[doc = concat!(
                "`", stringify!($body_method), " …/", $collection, "/{id}` with `body`."
            )]
            pub async fn $with_body<'a>(
                &self,
                caller: impl Into<Caller<'a>>,
                id: impl Display,
                body: &Value,
            ) -> Response {
                self.item_route(Method::$body_method, caller.into(), $collection, id, Some(body))
                    .await
            }
        )+
    };
}

/// Linking a tag to a task and unlinking it, as [`TestApp`] methods: `POST` and `DELETE` of
/// `/users/{user_id}/tasks/{task_id}/tags/{tag_id}`, without a body.
macro_rules! link_routes {
    ($($method:ident $name:ident),+) => {
        $(
            #[doc = concat!("`", stringify!($method), " …/tasks/{task_id}/tags/{tag_id}`.")]
            pub async fn $name<'a>(
                &self,
                caller: impl Into<Caller<'a>>,
                task_id: impl Display,
                tag_id: impl Display,
            ) -> Response {
                let path = format!("/tasks/{task_id}/tags/{tag_id}");
                self.user_route(Method::$method, caller.into(), &path, None)
                    .await
            }
        )+
    };
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub store: Arc<Store>,
    db: TestDb,
    /// The settings the app was started with (environment-variable names and values).
    vars: HashMap<String, String>,
    /// Whether dropping this app removes its database (false for [`TestApp::spawn_sharing`]).
    owns_database: bool,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A signed-up and signed-in user.
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub access: String,
    pub refresh: String,
}

impl TestUser {
    /// This user's path with `token` instead of their own: another user's, a forged one or none.
    pub fn with_token<'a>(&'a self, token: Option<&'a str>) -> Caller<'a> {
        Caller::from(self).with_token(token)
    }
}

/// Whose `/api/v1/users/{user_id}/…` path a route method's request goes to, and the bearer
/// token it carries. A `&TestUser` is their own path with their own token; the access tests make
/// other pairs with [`TestUser::with_token`] or by naming the fields (a malformed user id).
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    pub user_id: &'a str,
    pub token: Option<&'a str>,
}

impl<'a> Caller<'a> {
    /// The same path with `token` instead.
    pub fn with_token(self, token: Option<&'a str>) -> Self {
        Self { token, ..self }
    }
}

impl<'a> From<&'a TestUser> for Caller<'a> {
    fn from(user: &'a TestUser) -> Self {
        Self {
            user_id: &user.id,
            token: Some(&user.access),
        }
    }
}

impl TestApp {
    /// A running app with rate limits off; `None` when the test should be skipped (see
    /// [`skip_postgres_test`]).
    pub async fn spawn() -> Option<Self> {
        Self::spawn_with(&[]).await
    }

    /// A running app with extra settings (environment-variable names and values).
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Option<Self> {
        let mut pooler = None;
        let (database_url, db) = match BACKEND {
            DatabaseBackend::Postgres => {
                if skip_postgres_test() {
                    return None;
                }
                let name = format!("todo_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
                    .await
                    .expect("PostgreSQL at TEST_DATABASE_URL");
                admin
                    .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
                    .await
                    .expect("create test database");
                let url = format!("{}/{name}", server_url());
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect_lazy(&url)
                    .unwrap();
                pooler = pooler_url().map(|pooler| {
                    [
                        ("DATABASE_URL", format!("{pooler}/{name}")),
                        ("DB_POOLER", "transaction".to_owned()),
                        ("DATABASE_DIRECT_URL", url.clone()),
                    ]
                });
                (url, TestDb::Postgres { pool, name })
            }
            DatabaseBackend::Sqlite => {
                let dir = std::env::temp_dir()
                    .join(format!("todo-api-test-{}", uuid::Uuid::new_v4().simple()));
                // The store creates the directory and the file.
                let url = format!("sqlite://{}", dir.join("todo.db").display());
                let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_lazy_with(options.busy_timeout(std::time::Duration::from_secs(5)));
                (url, TestDb::Sqlite { pool, dir })
            }
        };

        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", database_url.as_str()),
            ("JWT_SECRET_KEY", TEST_SECRET),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "0"),
            ("DB_MAX_CONNECTIONS", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (key, value) in pooler.into_iter().flatten() {
            vars.insert(key.to_owned(), value);
        }
        for (key, value) in overrides {
            vars.insert((*key).to_owned(), (*value).to_owned());
        }
        Some(Self::start(vars, db, true).await)
    }

    /// A second running app on this app's database, as a second server process would be: its
    /// own store (connection pool), state, event bus, reminder scheduler and port, with the same
    /// settings. Dropping it leaves the database alone; dropping the app it shares with removes
    /// the database.
    pub async fn spawn_sharing(&self) -> Self {
        self.spawn_sharing_with(&[]).await
    }

    /// [`TestApp::spawn_sharing`] with settings changed (environment-variable names and values),
    /// such as a `DATABASE_URL` naming the same database with other connection options.
    pub async fn spawn_sharing_with(&self, overrides: &[(&str, &str)]) -> Self {
        let database_url = &self.vars["DATABASE_URL"];
        let db = match &self.db {
            TestDb::Postgres { name, .. } => TestDb::Postgres {
                pool: sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect_lazy(database_url)
                    .unwrap(),
                name: name.clone(),
            },
            TestDb::Sqlite { dir, .. } => {
                let options: sqlx::sqlite::SqliteConnectOptions = database_url.parse().unwrap();
                TestDb::Sqlite {
                    pool: sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_lazy_with(options.busy_timeout(std::time::Duration::from_secs(5))),
                    dir: dir.clone(),
                }
            }
        };
        let mut vars = self.vars.clone();
        for (key, value) in overrides {
            vars.insert((*key).to_owned(), (*value).to_owned());
        }
        Self::start(vars, db, false).await
    }

    /// The `DATABASE_URL` the app was started with.
    pub fn database_url(&self) -> &str {
        &self.vars["DATABASE_URL"]
    }

    /// Connects a store for `vars`, migrates it (when this app owns the database) and serves it
    /// on a port of its own.
    async fn start(vars: HashMap<String, String>, db: TestDb, owns_database: bool) -> Self {
        let settings = Settings::from_vars(&vars).expect("test settings");
        let store = db::connect(&settings).await.expect("test store");
        if owns_database {
            store.migrate_up().await.expect("migrate test database");
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = oneshot::channel::<()>();
        let state = AppState::new(settings, store.clone());
        let server = tokio::spawn(app::serve(listener, state, async {
            let _ = stop.await;
        }));

        Self {
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            store,
            db,
            vars,
            owns_database,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// How many rows `table` has.
    pub async fn count_rows(&self, table: &str) -> i64 {
        self.count_where(table, None).await
    }

    /// How many rows of `table` have the UUID `id` in `column`.
    pub async fn count_rows_with(&self, table: &str, column: &str, id: &str) -> i64 {
        self.count_where(table, Some((column, id))).await
    }

    async fn count_where(&self, table: &str, filter: Option<(&str, &str)>) -> i64 {
        let (condition, user_id) = match filter {
            Some((column, id)) => (
                format!(" WHERE {column} = $1"),
                Some(uuid::Uuid::parse_str(id).unwrap()),
            ),
            None => (String::new(), None),
        };
        let sql = format!("SELECT count(*) FROM {table}{condition}");
        on_pool!(&self.db, pool => {
            let mut query = sqlx::query_scalar(&sql);
            if let Some(id) = user_id {
                query = query.bind(id);
            }
            query.fetch_one(pool).await.unwrap()
        })
    }

    /// Runs one statement of the test's own on the test database (the same SQL text on both
    /// backends), with `user_id`, if given, bound as `$1` (a UUID); returns the rows it
    /// affected (for a `SELECT` on PostgreSQL, the rows it returned).
    pub async fn execute_sql(&self, sql: &str, user_id: Option<&str>) -> u64 {
        self.try_sql(sql, user_id)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }

    /// [`TestApp::execute_sql`], with the database's error returned instead of a panic.
    pub async fn try_sql(&self, sql: &str, user_id: Option<&str>) -> Result<u64, sqlx::Error> {
        let user_id = user_id.map(|id| uuid::Uuid::parse_str(id).unwrap());
        on_pool!(&self.db, pool => {
            let mut query = sqlx::query(sql);
            if let Some(id) = user_id {
                query = query.bind(id);
            }
            Ok(query.execute(pool).await?.rows_affected())
        })
    }

    // --- the change log ------------------------------------------------------------------------

    /// The places of `user`'s log entries kept, in log order (`(xid, id)`), read from the
    /// database (committed or not).
    pub async fn log_places(&self, user: &TestUser) -> Vec<Place> {
        let sql = "SELECT xid, id FROM changes WHERE user_id = $1 ORDER BY xid, id";
        let user_id = uuid::Uuid::parse_str(&user.id).unwrap();
        on_pool!(&self.db, pool => {
            sqlx::query_as(sql).bind(user_id).fetch_all(pool).await.unwrap()
        })
    }

    /// The cursors of `user`'s log entries kept, in log order: the `n`-th entry's at `n - 1`;
    /// once they are settled, as the service hands them out (see
    /// [`TestApp::settled_log_end`]).
    pub async fn log_cursors(&self, user: &TestUser) -> Vec<String> {
        self.settled_log_end(user).await;
        let places = self.log_places(user).await;
        places
            .into_iter()
            .map(|place| cursor_at(user, place))
            .collect()
    }

    /// The cursor of `user`'s `n`-th log entry kept (`1`: the oldest; `"0"` for `n = 0`), once
    /// settled.
    pub async fn log_cursor(&self, user: &TestUser, n: i64) -> String {
        if n == 0 {
            return "0".to_owned();
        }
        self.settled_log_end(user).await;
        let sql = "SELECT xid, id FROM changes WHERE user_id = $1 ORDER BY xid, id \
                   LIMIT 1 OFFSET $2";
        let user_id = uuid::Uuid::parse_str(&user.id).unwrap();
        let place: Option<Place> = on_pool!(&self.db, pool => {
            sqlx::query_as(sql).bind(user_id).bind(n - 1).fetch_optional(pool).await.unwrap()
        });
        let place = place.unwrap_or_else(|| panic!("the log of {} has no entry {n}", user.id));
        cursor_at(user, place)
    }

    /// The cursor of `user`'s newest log entry, once settled.
    pub async fn last_log_cursor(&self, user: &TestUser) -> String {
        let cursors = self.log_cursors(user).await;
        cursors.last().expect("a log entry").clone()
    }

    /// The rank in `user`'s log kept of the place `cursor` names: how many of their entries
    /// are at or before it (`n` for their `n`-th entry).
    pub async fn log_rank(&self, user: &TestUser, cursor: &str) -> i64 {
        let (xid, id) = cursor_place(user, cursor);
        let sql = "SELECT count(*) FROM changes WHERE user_id = $1 \
                   AND (xid < $2 OR (xid = $2 AND id <= $3))";
        let user_id = uuid::Uuid::parse_str(&user.id).unwrap();
        on_pool!(&self.db, pool => {
            sqlx::query_scalar(sql).bind(user_id).bind(xid).bind(id).fetch_one(pool).await.unwrap()
        })
    }

    /// Waits until every entry of `user`'s log is settled (readable: on PostgreSQL, no older
    /// transaction is still running, in this database or another on the server), so that
    /// `/changes` answers all of them; returns the log's end as `/changes` then answers it.
    pub async fn settled_log_end(&self, user: &TestUser) -> String {
        let deadline = tokio::time::Instant::now() + ARRIVES_WITHIN;
        loop {
            let answer = self.fetch_changes(user, &[]).await;
            let end = answer["cursor"].as_str().expect("a cursor").to_owned();
            let last = self.log_places(user).await.last().copied();
            if last.is_none_or(|last| cursor_place(user, &end) >= last) {
                return end;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the log's end {end} stays before {}'s last entry {last:?}",
                user.id
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// How many accounts have `email` (as stored, lower-cased).
    pub async fn count_users_with_email(&self, email: &str) -> i64 {
        let sql = "SELECT count(*) FROM users WHERE email = $1";
        on_pool!(&self.db, pool => sqlx::query_scalar(sql).bind(email).fetch_one(pool).await.unwrap())
    }

    /// The password hash stored for `email`.
    pub async fn stored_hash(&self, email: &str) -> String {
        let sql = "SELECT password_hash FROM users WHERE email = $1";
        on_pool!(&self.db, pool => sqlx::query_scalar(sql).bind(email).fetch_one(pool).await.unwrap())
    }

    /// Overwrites the password hash stored for `email` (to plant a legacy hash).
    pub async fn set_stored_hash(&self, email: &str, hash: &str) {
        let sql = "UPDATE users SET password_hash = $1 WHERE email = $2";
        let affected = on_pool!(&self.db, pool => {
            let result = sqlx::query(sql).bind(hash).bind(email).execute(pool).await;
            result.unwrap().rows_affected()
        });
        assert_eq!(affected, 1);
    }

    /// Inserts `count` tasks titled `bulk 1`… for the user directly, bypassing the API: open,
    /// of the user's `not_started` status and `medium` priority, each new one above the others
    /// in the manual order, as the service would create them.
    pub async fn insert_bulk_tasks(&self, user_id: &str, count: i64) {
        let user_id = uuid::Uuid::parse_str(user_id).unwrap();
        match &self.db {
            TestDb::Postgres { pool, .. } => {
                sqlx::query(
                    "INSERT INTO tasks (user_id, title, title_key, status_id, priority_id) \
                     SELECT $1, 'bulk ' || g, 'bulk ' || g, \
                            (SELECT id FROM statuses WHERE user_id = $1 AND name = 'not_started'), \
                            (SELECT id FROM priorities WHERE user_id = $1 AND name = 'medium') \
                     FROM generate_series(1, $2) AS g",
                )
                .bind(user_id)
                .bind(count)
                .execute(pool)
                .await
                .unwrap();
            }
            TestDb::Sqlite { pool, .. } => {
                sqlx::query(
                    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $2) \
                     INSERT INTO tasks (user_id, title, title_key, status_id, priority_id, \
                                        position, created_at, updated_at) \
                     SELECT $1, 'bulk ' || n, 'bulk ' || n, \
                            (SELECT id FROM statuses WHERE user_id = $1 AND name = 'not_started'), \
                            (SELECT id FROM priorities WHERE user_id = $1 AND name = 'medium'), \
                            (SELECT coalesce(min(position), 0) FROM tasks WHERE user_id = $1) \
                                - 65536 * n, \
                            strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'), \
                            strftime('%Y-%m-%dT%H:%M:%f000Z', 'now') FROM g",
                )
                .bind(user_id)
                .bind(count)
                .execute(pool)
                .await
                .unwrap();
            }
        }
    }

    /// Sets when the session's latest refresh-token rotation happened, as if time had passed
    /// since (to test the end of the rotation overlap without waiting it out).
    pub async fn set_session_rotated_at(
        &self,
        session_id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let id = uuid::Uuid::parse_str(session_id).unwrap();
        let sql = "UPDATE refresh_sessions SET rotated_at = $1 WHERE id = $2";
        let affected = match &self.db {
            TestDb::Postgres { pool, .. } => {
                let result = sqlx::query(sql).bind(at).bind(id).execute(pool).await;
                result.unwrap().rows_affected()
            }
            TestDb::Sqlite { pool, .. } => {
                let text = at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
                let result = sqlx::query(sql).bind(text).bind(id).execute(pool).await;
                result.unwrap().rows_affected()
            }
        };
        assert_eq!(affected, 1);
    }

    /// Whether the session `session_id` of user `user_id` is live (`None`: no such session).
    pub async fn session_is_live(&self, session_id: &str, user_id: &str) -> Option<bool> {
        let session_id = uuid::Uuid::parse_str(session_id).unwrap();
        let user_id = todo_api::models::UserId::from(uuid::Uuid::parse_str(user_id).unwrap());
        let session = self.store.find_session(session_id, user_id).await;
        let session = session.expect("read the session");
        session.map(|session| session.revoked_at.is_none())
    }

    /// Whether `table` exists, asked on a connection other than the app's.
    pub async fn table_exists(&self, table: &str) -> bool {
        match &self.db {
            TestDb::Postgres { pool, .. } => {
                sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                    .bind(format!("public.{table}"))
                    .fetch_one(pool)
                    .await
                    .unwrap()
            }
            TestDb::Sqlite { pool, .. } => sqlx::query_scalar(
                "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = $1",
            )
            .bind(table)
            .fetch_one(pool)
            .await
            .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.server.take() {
            Some(server) => server.await.expect("server task"),
            None => Ok(()),
        }
    }

    // --- raw requests: any path, for what the route methods below do not send ---------------

    /// A request for `path` with an optional bearer token.
    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.send(Method::GET, path, token, None).await
    }

    /// Sends a request with `method`, an optional bearer token and an optional JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let request = self.request(method, path, token);
        send_request(match body {
            Some(body) => request.json(body),
            None => request,
        })
        .await
    }

    /// Sends `body` as JSON with `method`, with an optional bearer token.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Response {
        self.send(method, path, token, Some(body)).await
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.send_json(Method::POST, path, token, body).await
    }

    /// Posts `raw` to `path` as it is, with `content_type`.
    pub async fn post_raw(&self, path: &str, content_type: &str, raw: String) -> Response {
        let request = self.request(Method::POST, path, None);
        send_request(request.header(header::CONTENT_TYPE, content_type).body(raw)).await
    }

    // --- authentication ------------------------------------------------------------------------

    /// `POST /auth/register` with `body` as it is.
    pub async fn register_with(&self, body: &Value) -> Response {
        self.post_json("/api/v1/auth/register", None, body).await
    }

    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.register_with(&json!({"email": email, "password": password}))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.login_from(None, email, password).await
    }

    /// `POST /auth/login` with JSON, through a proxy that says the client is `forwarded_for`.
    pub async fn login_from(
        &self,
        forwarded_for: Option<&str>,
        email: &str,
        password: &str,
    ) -> Response {
        let mut request = self.request(Method::POST, "/api/v1/auth/login", None);
        if let Some(address) = forwarded_for {
            request = request.header("x-forwarded-for", address);
        }
        send_request(request.json(&json!({"email": email, "password": password}))).await
    }

    /// `POST /auth/login` with the OAuth2 password form.
    pub async fn login_form(&self, username: &str, password: &str) -> Response {
        let request = self.request(Method::POST, "/api/v1/auth/login", None);
        send_request(request.form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ]))
        .await
    }

    /// Posts to the refresh route with `refresh` as the cookie (or no cookie).
    pub async fn refresh(&self, refresh: Option<&str>) -> Response {
        self.post_with_refresh_cookie("/api/v1/auth/refresh", refresh)
            .await
    }

    /// Posts to the logout route with `refresh` as the cookie (or no cookie).
    pub async fn logout(&self, refresh: Option<&str>) -> Response {
        self.post_with_refresh_cookie("/api/v1/auth/logout", refresh)
            .await
    }

    async fn post_with_refresh_cookie(&self, path: &str, refresh: Option<&str>) -> Response {
        let mut request = self.request(Method::POST, path, None);
        if let Some(token) = refresh {
            request = request.header(header::COOKIE, format!("refresh_token={token}"));
        }
        send_request(request).await
    }

    /// A CORS preflight from `origin` for a JSON `POST` to the login route.
    pub async fn preflight_login(&self, origin: &str) -> Response {
        let request = self.request(Method::OPTIONS, "/api/v1/auth/login", None);
        send_request(
            request
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type"),
        )
        .await
    }

    /// `GET /auth/me` with an optional bearer token.
    pub async fn me(&self, token: Option<&str>) -> Response {
        self.get("/api/v1/auth/me", token).await
    }

    /// `GET /auth/me` with `authorization` as the raw `Authorization` header.
    pub async fn me_with_authorization(&self, authorization: &str) -> Response {
        let request = self.request(Method::GET, "/api/v1/auth/me", None);
        send_request(request.header(header::AUTHORIZATION, authorization)).await
    }

    // --- a user's routes: /api/v1/users/{user_id}… ------------------------------------------

    /// A request for `path` under `caller`'s `/api/v1/users/{user_id}`, with `caller`'s token.
    fn user_request(&self, method: Method, caller: Caller<'_>, path: &str) -> RequestBuilder {
        let path = format!("/api/v1/users/{}{path}", caller.user_id);
        self.request(method, &path, caller.token)
    }

    /// Sends `method` to `path` under `caller`'s `/api/v1/users/{user_id}`, with an optional
    /// JSON body.
    async fn user_route(
        &self,
        method: Method,
        caller: Caller<'_>,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let path = format!("/api/v1/users/{}{path}", caller.user_id);
        self.send(method, &path, caller.token, body).await
    }

    /// Sends `method` to item `id` of `caller`'s `collection` (`tasks` or `tags`).
    async fn item_route(
        &self,
        method: Method,
        caller: Caller<'_>,
        collection: &str,
        id: impl Display,
        body: Option<&Value>,
    ) -> Response {
        let path = format!("/{collection}/{id}");
        self.user_route(method, caller, &path, body).await
    }

    pub async fn get_user<'a>(&self, caller: impl Into<Caller<'a>>) -> Response {
        self.user_route(Method::GET, caller.into(), "", None).await
    }

    pub async fn patch_user<'a>(&self, caller: impl Into<Caller<'a>>, patch: &Value) -> Response {
        self.user_route(Method::PATCH, caller.into(), "", Some(patch))
            .await
    }

    /// `DELETE /users/{user_id}` with `password` to confirm.
    pub async fn delete_user<'a>(&self, caller: impl Into<Caller<'a>>, password: &str) -> Response {
        let body = json!({"password": password});
        self.user_route(Method::DELETE, caller.into(), "", Some(&body))
            .await
    }

    /// `POST /users/{user_id}/password`.
    pub async fn change_password<'a>(
        &self,
        caller: impl Into<Caller<'a>>,
        current: &str,
        new: &str,
    ) -> Response {
        let body = json!({"current_password": current, "new_password": new});
        self.user_route(Method::POST, caller.into(), "/password", Some(&body))
            .await
    }

    // --- tasks and tags: /api/v1/users/{user_id}/tasks… and …/tags… -------------------------

    item_routes!(
        "tasks": post_task;
        GET get_task, DELETE delete_task;
        PUT put_task, PATCH patch_task
    );

    item_routes!(
        "tags": post_tag;
        GET get_tag, DELETE delete_tag;
        PUT put_tag, PATCH patch_tag
    );

    /// The schemas of the OpenAPI document the service serves, with their examples.
    pub async fn documented_examples(&self) -> Value {
        let document = body(self.get("/openapi.json", None).await).await;
        document["components"]["schemas"].clone()
    }

    /// `GET …/tasks` with query parameters (encoded by the client).
    pub async fn list_tasks<'a>(
        &self,
        caller: impl Into<Caller<'a>>,
        query: &[(&str, &str)],
    ) -> Response {
        let request = self.user_request(Method::GET, caller.into(), "/tasks");
        send_request(request.query(query)).await
    }

    /// `POST …/tasks` with `raw` as the JSON body, as it is (for bodies a `Value` cannot be).
    pub async fn post_task_raw<'a>(&self, caller: impl Into<Caller<'a>>, raw: &str) -> Response {
        let request = self.user_request(Method::POST, caller.into(), "/tasks");
        let request = request.header(header::CONTENT_TYPE, "application/json");
        send_request(request.body(raw.to_owned())).await
    }

    /// `PATCH …/tasks/{task_id}/complete` (no body).
    pub async fn toggle_task<'a>(
        &self,
        caller: impl Into<Caller<'a>>,
        id: impl Display,
    ) -> Response {
        let path = format!("/tasks/{id}/complete");
        self.user_route(Method::PATCH, caller.into(), &path, None)
            .await
    }

    link_routes!(POST link_tag, DELETE unlink_tag);

    pub async fn list_tags<'a>(&self, caller: impl Into<Caller<'a>>) -> Response {
        self.user_route(Method::GET, caller.into(), "/tags", None)
            .await
    }

    /// `GET …/reminders`, with `before` as its query parameter if given.
    pub async fn list_reminders<'a>(
        &self,
        caller: impl Into<Caller<'a>>,
        before: Option<&str>,
    ) -> Response {
        let request = self.user_request(Method::GET, caller.into(), "/reminders");
        send_request(match before {
            Some(before) => request.query(&[("before", before)]),
            None => request,
        })
        .await
    }

    /// `GET …/events` with the token in the `Authorization` header.
    pub async fn get_events<'a>(&self, caller: impl Into<Caller<'a>>) -> Response {
        self.user_route(Method::GET, caller.into(), "/events", None)
            .await
    }

    /// `GET …/events` with the token, if any, in the `access_token` query parameter instead of
    /// the header (as a browser's `EventSource` sends it).
    pub async fn get_events_by_query<'a>(&self, caller: impl Into<Caller<'a>>) -> Response {
        let caller = caller.into();
        let request = self.user_request(Method::GET, caller.with_token(None), "/events");
        send_request(match caller.token {
            Some(token) => request.query(&[("access_token", token)]),
            None => request,
        })
        .await
    }

    /// `GET …/events` resuming after `last_event_id`, sent as the `Last-Event-ID` header (as
    /// `EventSource` does when it reconnects), with `query` as query parameters besides.
    pub async fn get_events_after<'a>(
        &self,
        caller: impl Into<Caller<'a>>,
        last_event_id: Option<&str>,
        query: &[(&str, &str)],
    ) -> Response {
        let request = self.user_request(Method::GET, caller.into(), "/events");
        let request = match last_event_id {
            Some(id) => request.header("last-event-id", id),
            None => request,
        };
        send_request(request.query(query)).await
    }

    /// `GET …/changes` with query parameters (encoded by the client).
    pub async fn get_changes<'a>(
        &self,
        caller: impl Into<Caller<'a>>,
        query: &[(&str, &str)],
    ) -> Response {
        let request = self.user_request(Method::GET, caller.into(), "/changes");
        send_request(request.query(query)).await
    }

    // --- operations ---------------------------------------------------------------------------

    pub async fn health(&self) -> Response {
        self.get("/health", None).await
    }

    pub async fn ready(&self) -> Response {
        self.get("/health/ready", None).await
    }

    // --- what many tests need: users, tasks and tags that exist, reads that must succeed ------

    /// Signs up and signs in a fresh user, and waits until sign-up's entries in their change log
    /// (see [`SIGN_UP_ENTRIES`]) are settled: a stream opened without `Last-Event-ID` starts at
    /// the log's settled end, which on PostgreSQL can lag behind entries already committed
    /// while an older transaction runs anywhere on the server, so one opened before that would
    /// also send them.
    pub async fn signed_in_user(&self) -> TestUser {
        let email = unique_email();
        let response = self.register(&email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let id = body(response).await["id"].as_str().unwrap().to_owned();
        let (access, refresh) = self.sign_in(&email, PASSWORD).await;
        let user = TestUser {
            id,
            email,
            access,
            refresh,
        };
        self.settled_log_end(&user).await;
        user
    }

    /// Signs in and returns (access token, refresh token).
    pub async fn sign_in(&self, email: &str, password: &str) -> (String, String) {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK);
        let refresh = refresh_cookie(&response).expect("login sets the refresh cookie");
        let access = body(response).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        (access, refresh)
    }

    /// `user`'s profile; asserts 200.
    pub async fn fetch_user(&self, user: &TestUser) -> Value {
        assert_status(self.get_user(user).await, StatusCode::OK).await
    }

    /// Creates a task for `user` from `task` (a request body); asserts 201 and returns the task.
    pub async fn create_task(&self, user: &TestUser, task: Value) -> Value {
        created(self.post_task(user, &task).await, &task).await
    }

    /// `user`'s task `id`; asserts 200.
    pub async fn fetch_task(&self, user: &TestUser, id: impl Display) -> Value {
        assert_status(self.get_task(user, id).await, StatusCode::OK).await
    }

    /// One page of `user`'s tasks for `query`; asserts 200.
    pub async fn fetch_tasks(&self, user: &TestUser, query: &[(&str, &str)]) -> Value {
        assert_status(self.list_tasks(user, query).await, StatusCode::OK).await
    }

    /// How many tasks `user` has, as the list counts them.
    pub async fn total_tasks(&self, user: &TestUser) -> i64 {
        self.fetch_tasks(user, &[]).await["total"].as_i64().unwrap()
    }

    /// Toggles the completion of `user`'s task `id`; asserts 200 and returns the task.
    pub async fn toggled_task(&self, user: &TestUser, id: impl Display) -> Value {
        assert_status(self.toggle_task(user, id).await, StatusCode::OK).await
    }

    /// Creates a tag for `user` from `tag` (a request body); asserts 201 and returns the tag.
    pub async fn create_tag(&self, user: &TestUser, tag: Value) -> Value {
        created(self.post_tag(user, &tag).await, &tag).await
    }

    /// `user`'s tag `id`; asserts 200.
    pub async fn fetch_tag(&self, user: &TestUser, id: impl Display) -> Value {
        assert_status(self.get_tag(user, id).await, StatusCode::OK).await
    }

    /// `user`'s changes for `query` (`since`, `limit`); asserts 200.
    pub async fn fetch_changes(&self, user: &TestUser, query: &[(&str, &str)]) -> Value {
        assert_status(self.get_changes(user, query).await, StatusCode::OK).await
    }

    /// All of `user`'s tags; asserts 200.
    pub async fn fetch_tags(&self, user: &TestUser) -> Value {
        assert_status(self.list_tags(user).await, StatusCode::OK).await
    }

    /// All of `user`'s statuses (`GET …/statuses`, in their order); asserts 200.
    pub async fn fetch_statuses(&self, user: &TestUser) -> Value {
        let response = self.user_route(Method::GET, user.into(), "/statuses", None);
        assert_status(response.await, StatusCode::OK).await
    }

    /// All of `user`'s priorities (`GET …/priorities`, in their order); asserts 200.
    pub async fn fetch_priorities(&self, user: &TestUser) -> Value {
        let response = self.user_route(Method::GET, user.into(), "/priorities", None);
        assert_status(response.await, StatusCode::OK).await
    }

    /// `user`'s reminders due by `before` (default: now); asserts 200 and returns the array.
    pub async fn fetch_reminders(&self, user: &TestUser, before: Option<&str>) -> Vec<Value> {
        match assert_status(self.list_reminders(user, before).await, StatusCode::OK).await {
            Value::Array(items) => items,
            other => panic!("reminders is not an array: {other}"),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if !self.owns_database {
            return;
        }
        match &self.db {
            TestDb::Postgres { name, .. } => {
                let name = name.clone();
                // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived
                // thread with its own runtime drops the database. FORCE ends the connections
                // the app's pool still holds (that pool lives on the test's runtime, so it
                // cannot be closed from here).
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async move {
                        if let Ok(mut admin) =
                            PgConnection::connect(&format!("{}/postgres", server_url())).await
                        {
                            let _ = admin
                                .execute(
                                    format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)
                                        .as_str(),
                                )
                                .await;
                        }
                    });
                })
                .join()
                .ok();
            }
            TestDb::Sqlite { dir, .. } => {
                // Open connections do not keep a deleted file from going on Unix.
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// The response body as JSON.
pub async fn body(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// The value of the `refresh_token` cookie set by the response, if any.
pub fn refresh_cookie(response: &Response) -> Option<String> {
    set_cookie_header(response).and_then(|cookie| {
        cookie
            .split(';')
            .next()
            .and_then(|pair| pair.strip_prefix("refresh_token="))
            .map(str::to_owned)
    })
}

/// The raw `Set-Cookie` header for `refresh_token`.
pub fn set_cookie_header(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("refresh_token="))
        .map(str::to_owned)
}

/// Asserts the error shape: status, code, a detail sentence and a request id that matches the
/// `X-Request-Id` header. Returns the body for further checks.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for {code}");
    let header_id = response
        .headers()
        .get("x-request-id")
        .expect("X-Request-Id on every response")
        .to_str()
        .unwrap()
        .to_owned();
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer"
        );
    }
    let body = body(response).await;
    assert_eq!(body["code"], code, "body: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail in {body}"
    );
    assert_eq!(body["request_id"], header_id.as_str());
    body
}

/// Signs a token with the test secret and any claims and algorithm, for forging tests.
pub fn forge_token(claims: &Value, algorithm: jsonwebtoken::Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The claims of a token, read without verification (tests only).
pub fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Sends a request built by [`TestApp`]; a request that gets no response fails the test.
async fn send_request(request: RequestBuilder) -> Response {
    request.send().await.unwrap()
}

/// The path of a user's task collection.
pub fn tasks_path(user: &TestUser) -> String {
    format!("/api/v1/users/{}/tasks", user.id)
}

/// The path of one of a user's tasks (for requests whose method a test chooses).
pub fn task_path(user: &TestUser, task: &Value) -> String {
    format!("{}/{}", tasks_path(user), task["id"])
}

/// The path of a user's tag collection.
pub fn tags_path(user: &TestUser) -> String {
    format!("/api/v1/users/{}/tags", user.id)
}

/// The path of one of a user's tags (for requests whose method a test chooses).
pub fn tag_path(user: &TestUser, tag: &Value) -> String {
    format!("{}/{}", tags_path(user), tag["id"])
}

/// Asserts a 422 `VALIDATION_ERROR` naming `field`; returns the error body.
pub async fn assert_validation_error(response: Response, field: impl Display) -> Value {
    let error = assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(error["field"], field.to_string(), "{error}");
    error
}

/// Asserts the status (saying which request it answers otherwise) and returns the JSON body
/// (`Value::Null` for 204 No Content).
pub async fn assert_status(response: Response, status: StatusCode) -> Value {
    let url = response.url();
    let request = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    assert_eq!(response.status(), status, "{request}");
    if status == StatusCode::NO_CONTENT {
        return Value::Null;
    }
    body(response).await
}

/// Asserts 201 for the creation asked for by `request` and returns what was created.
async fn created(response: Response, request: &Value) -> Value {
    assert_eq!(response.status(), StatusCode::CREATED, "creating {request}");
    body(response).await
}

/// `{id, name, color}`: a tag as a task shows it.
pub fn tag_summary(tag: &Value) -> Value {
    json!({"id": tag["id"], "name": tag["name"], "color": tag["color"]})
}

/// The titles of a page of tasks, in order.
pub fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|task| task["title"].as_str().unwrap().to_owned())
        .collect()
}

/// An email address nobody has used yet.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Seconds since the Unix epoch, as tokens count time.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Asserts that `value` is a time written as RFC 3339 in UTC with microseconds and `Z`
/// (`2030-05-01T09:00:00.000000Z`), and returns it parsed.
pub fn utc_time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a time, got {value}"));
    assert!(
        text.len() == 27 && text.ends_with('Z') && text.as_bytes()[19] == b'.',
        "{text} is not RFC 3339 UTC with microseconds and Z"
    );
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text}: {error}"))
        .to_utc()
}

/// A place in the change log: `(xid, id)`, in log order.
pub type Place = (i64, i64);

/// The place one of `user`'s cursors names (`0`: the start, `(0, 0)`); asserts that it is a
/// cursor of theirs (`{xid}.{id}-{the first 8 hex digits of their id}`).
pub fn cursor_place(user: &TestUser, cursor: &str) -> Place {
    if cursor == "0" {
        return (0, 0);
    }
    let parsed = cursor.split_once('-').and_then(|(place, tag)| {
        let (xid, id) = place.split_once('.')?;
        Some((tag, xid.parse().ok()?, id.parse().ok()?))
    });
    let (tag, xid, id) = parsed.unwrap_or_else(|| panic!("not a cursor: {cursor:?}"));
    assert_eq!(tag, &user.id[..8], "a cursor of {}'s: {cursor:?}", user.id);
    (xid, id)
}

/// `user`'s cursor for `place` (`0` for the start).
pub fn cursor_at(user: &TestUser, (xid, id): Place) -> String {
    match (xid, id) {
        (0, 0) => "0".to_owned(),
        _ => format!("{xid}.{id}-{}", &user.id[..8]),
    }
}

/// The path of a user's event stream.
pub fn events_path(user: &TestUser) -> String {
    format!("/api/v1/users/{}/events", user.id)
}

/// One event of a Server-Sent Events stream: its `id:`, `event:` and (joined) `data:` lines.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    /// The event's name (`message` when it has no `event:` line, as `EventSource` has it).
    pub fn name(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }

    /// The event's `id:`, its cursor.
    pub fn cursor(&self) -> &str {
        self.id.as_deref().expect("every event has an id")
    }

    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|error| {
            panic!("{} data is not JSON ({error}): {}", self.name(), self.data)
        })
    }
}

/// What a stream carries: comments (`: …` lines, such as keep-alives) and events.
#[derive(Clone, Debug, PartialEq)]
pub enum SseItem {
    Comment(String),
    Event(SseEvent),
}

/// A client reading a `text/event-stream` response, as an `EventSource` would.
pub struct EventStream {
    response: Response,
    buffer: Vec<u8>,
    ended: bool,
}

/// How long tests wait for something that should arrive.
pub const ARRIVES_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

impl EventStream {
    /// Opens `user`'s event stream on `app` with the token in the `Authorization` header, and
    /// asserts it is one. The stream is subscribed once this returns.
    pub async fn open(app: &TestApp, user: &TestUser) -> Self {
        Self::new(app.get_events(user).await)
    }

    /// Opens `user`'s event stream on `app` resuming after `last_event_id` (the
    /// `Last-Event-ID` header), and asserts it is one.
    pub async fn resume(app: &TestApp, user: &TestUser, last_event_id: &str) -> Self {
        Self::new(app.get_events_after(user, Some(last_event_id), &[]).await)
    }

    /// Wraps a response, asserting 200 and `text/event-stream`.
    pub fn new(response: Response) -> Self {
        assert_eq!(response.status(), StatusCode::OK, "event stream status");
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "event stream content type: {content_type:?}"
        );
        Self {
            response,
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// Whether the server ended the stream.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The next comment or event within `wait`; `None` when nothing complete arrived in time
    /// or the stream ended (see [`EventStream::ended`]).
    pub async fn next_item_within(&mut self, wait: std::time::Duration) -> Option<SseItem> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(item) = self.parse_one() {
                return Some(item);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(chunk))) => {
                    // SSE allows CRLF line ends; the data (JSON) never holds a raw CR.
                    self.buffer
                        .extend(chunk.iter().copied().filter(|&b| b != b'\r'));
                }
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(error)) => panic!("reading the event stream: {error}"),
            }
        }
    }

    /// The next event within `wait`, skipping comments.
    pub async fn next_event_within(&mut self, wait: std::time::Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_item_within(left).await? {
                SseItem::Event(event) => return Some(event),
                SseItem::Comment(_) => {}
            }
        }
    }

    /// The next event; fails the test when none arrives within [`ARRIVES_WITHIN`].
    pub async fn next_event(&mut self) -> SseEvent {
        match self.next_event_within(ARRIVES_WITHIN).await {
            Some(event) => event,
            None => panic!(
                "no event within {ARRIVES_WITHIN:?} (stream ended: {})",
                self.ended
            ),
        }
    }

    /// Every event that arrives within `wait` (it waits all of `wait`).
    pub async fn events_for(&mut self, wait: std::time::Duration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut events = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event_within(left).await {
                Some(event) => events.push(event),
                None => return events,
            }
        }
    }

    /// Takes one complete item (up to a blank line) off the buffer, if there is one.
    fn parse_one(&mut self) -> Option<SseItem> {
        loop {
            let end = self.buffer.windows(2).position(|w| w == b"\n\n")?;
            let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let block = String::from_utf8(block).expect("the event stream is UTF-8");
            let mut comments = Vec::new();
            let mut event = SseEvent {
                id: None,
                event: None,
                data: String::new(),
            };
            let mut data_lines = Vec::new();
            let mut has_field = false;
            for line in block.lines().filter(|line| !line.is_empty()) {
                if let Some(comment) = line.strip_prefix(':') {
                    comments.push(comment.strip_prefix(' ').unwrap_or(comment).to_owned());
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                has_field = true;
                match field {
                    "id" => event.id = Some(value),
                    "event" => event.event = Some(value),
                    "data" => data_lines.push(value),
                    _ => {}
                }
            }
            if has_field {
                event.data = data_lines.join("\n");
                return Some(SseItem::Event(event));
            }
            if !comments.is_empty() {
                return Some(SseItem::Comment(comments.join("\n")));
            }
        }
    }
}
