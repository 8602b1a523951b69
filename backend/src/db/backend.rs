//! Connections, per backend: pools and their set-up, transactions, the availability probe and
//! migrations. Everything above this module is written once for both.
//!
//! - **PostgreSQL** (deployments, many processes on one database): one pool; row locks make
//!   read-modify-write edits safe across processes. Behind a transaction-mode pooler
//!   (`DB_POOLER=transaction`, e.g. PgBouncer) every unit of work is a transaction and no
//!   statement stays prepared (see [`Pooled::PostgresPooler`]); what needs a session of its own
//!   (migrations with their advisory lock, `LISTEN`) goes to `DATABASE_DIRECT_URL` on a small
//!   pool of its own.
//! - **SQLite** (the embedded default, one file): SQLite allows one writer at a time. Rather
//!   than let concurrent requests race for the write lock (and fail with "database is
//!   locked"), there is a single writer connection that writes queue for (held by the store
//!   behind a fair lock: [`SqliteWriter`]), and a pool of readers that run beside it (WAL lets readers see the last commit while a write is in
//!   progress). Every write transaction starts with `BEGIN IMMEDIATE`, so a second process on
//!   the same file (such as `todo-api migrate`) waits out the busy timeout instead of failing
//!   half-way.

use std::{
    ffi::OsString,
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use sqlx::{
    Connection, Executor, PgConnection, PgPool, Postgres, SqliteConnection, SqlitePool,
    migrate::{MigrateDatabase, MigrateError, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    DbHealth, MigrationState, Store,
    dialect::Dialect,
    migrations,
    sql::{Pooled, Prepared, SqliteWriter, SqliteWriterConn, Tx},
};
use crate::core::settings::{DatabaseBackend, DbPooler, Settings};

pub static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");
pub static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a request waits for a connection before it is answered 503.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a SQLite statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a SQLite write waits for the writer connection; writes queue here under load.
const WRITER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Behind a pooler, the direct connections: the event listener's, the wake-up sender's and a
/// migration's.
const DIRECT_CONNECTIONS: u32 = 4;

pub enum Backend {
    Postgres {
        /// Every request's connections (through the pooler, when there is one).
        pool: PgPool,
        /// Connections that hold a session: `LISTEN`, migrations. `pool` itself unless the
        /// service is behind a transaction-mode pooler, then a pool on the direct URL.
        session: PgPool,
        /// Whether `pool` goes through a transaction-mode pooler.
        pooler: bool,
        /// For the availability probe's connections of its own (the way requests go).
        options: PgConnectOptions,
        /// The (direct) database URL, when the service may create the database (development).
        create_if_missing: Option<String>,
    },
    Sqlite {
        /// The only connection that writes, for a database file: held, not pooled.
        held_writer: Option<SqliteWriter>,
        /// The writer pool: migrations, and in memory every write (and read) too.
        writer: SqlitePool,
        /// Connections for reads outside a write transaction.
        readers: SqlitePool,
        /// The database file (`None` in memory).
        file: Option<PathBuf>,
        /// How the probe opens a connection of its own (`None` in memory).
        probe_options: Option<SqliteConnectOptions>,
    },
}

/// Whether opening a database may create it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// Create the SQLite file (and its directory) when missing; the PostgreSQL database may be
    /// created later, in development ([`Store::create_database_if_missing`]).
    CreatingIfMissing,
    /// Never create anything: for commands that only look, or that have nothing to do on a
    /// database that does not exist (`migrate status`, `migrate down`).
    ExistingOnly,
}

impl Backend {
    /// The backend `settings.database_url` names; `None` only when `open` is
    /// [`Open::ExistingOnly`] and the database does not exist.
    pub async fn connect(
        settings: &Settings,
        health: &DbHealth,
        open: Open,
    ) -> Result<Option<Self>, sqlx::Error> {
        match settings.database_backend() {
            DatabaseBackend::Postgres => {
                let backend = Self::postgres(settings, health, open)?;
                if open == Open::ExistingOnly
                    && let Self::Postgres { session, .. } = &backend
                {
                    match session.acquire().await {
                        Ok(_) => {}
                        // invalid_catalog_name: the database named does not exist.
                        Err(error)
                            if error.as_database_error().and_then(|e| e.code()).as_deref()
                                == Some("3D000") =>
                        {
                            return Ok(None);
                        }
                        Err(error) => return Err(error),
                    }
                }
                Ok(Some(backend))
            }
            DatabaseBackend::Sqlite => Self::sqlite(settings, open).await,
        }
    }

    /// Builds the pool without connecting: the service starts whether or not PostgreSQL
    /// answers yet.
    fn postgres(settings: &Settings, health: &DbHealth, open: Open) -> Result<Self, sqlx::Error> {
        // Every statement is prepared once per connection and keyed by the user's id, so one
        // generic plan serves all users. Left to itself, PostgreSQL re-plans the list queries
        // on every execution (their custom plans look cheaper), which costs more than running
        // them.
        let session_options = |url: &str| {
            Ok::<_, sqlx::Error>(
                url.parse::<PgConnectOptions>()?
                    .options([("plan_cache_mode", "force_generic_plan")]),
            )
        };
        let (options, direct_url) = match &settings.pooler {
            DbPooler::None => (session_options(&settings.database_url)?, None),
            // A transaction pooler keeps no session state: no statement stays prepared (so no
            // plan is reused either), and no startup parameter it does not know is sent
            // (PgBouncer refuses a connection that sets `extra_float_digits` or `options`).
            DbPooler::Transaction { direct_url } => (
                settings
                    .database_url
                    .parse::<PgConnectOptions>()?
                    .statement_cache_capacity(0)
                    .extra_float_digits(None),
                Some(direct_url),
            ),
        };
        let staleness = health.clone();
        let pool = PgPoolOptions::new()
            .max_connections(settings.db_max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A dead connection fails its query and is dropped; pinging before every use
            // would cost a round trip per request.
            .test_before_acquire(false)
            // But one opened before an outage is known to be dead: close it unused.
            .before_acquire(move |_, meta| {
                let fresh = !staleness.connection_is_stale(meta.age);
                Box::pin(async move { Ok(fresh) })
            })
            .connect_lazy_with(options.clone());
        let session = match direct_url {
            None => pool.clone(),
            Some(url) => PgPoolOptions::new()
                .max_connections(DIRECT_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_lazy_with(session_options(url)?),
        };
        Ok(Self::Postgres {
            pool,
            session,
            pooler: direct_url.is_some(),
            options,
            create_if_missing: (open == Open::CreatingIfMissing && !settings.is_production())
                .then(|| direct_url.unwrap_or(&settings.database_url).clone()),
        })
    }

    /// Opens the database file, creating it and its directory when missing if `open` says so;
    /// `None` when it is missing and may not be created.
    async fn sqlite(settings: &Settings, open: Open) -> Result<Option<Self>, sqlx::Error> {
        let create = open == Open::CreatingIfMissing;
        let options = SqliteConnectOptions::from_str(&settings.database_url)?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            // Safe against corruption in WAL mode; a power cut (not a crash of the process) can
            // lose the last commits before a checkpoint. The usual trade for WAL.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let in_memory = settings.database_url.contains(":memory:")
            || settings.database_url.contains("mode=memory");
        if !in_memory && !create && !options.get_filename().exists() {
            return Ok(None);
        }
        if !in_memory
            && create
            && let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        let file = (!in_memory).then(|| options.get_filename().to_path_buf());
        let probe_options = (!in_memory).then(|| options.clone());
        let writer_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(WRITER_ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None);
        if in_memory {
            // The database lives as long as its one connection: keep it open, for everything.
            let writer = writer_pool.min_connections(1).connect_with(options).await?;
            return Ok(Some(Self::Sqlite {
                held_writer: None,
                readers: writer.clone(),
                writer,
                file,
                probe_options,
            }));
        }
        Ok(Some(Self::Sqlite {
            held_writer: Some(SqliteWriter::open(options.clone()).await?),
            writer: writer_pool.connect_lazy_with(options.clone()),
            readers: SqlitePoolOptions::new()
                .max_connections(settings.db_max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .connect_lazy_with(options),
            file,
            probe_options,
        }))
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Postgres { .. } => Dialect::Postgres,
            Self::Sqlite { .. } => Dialect::Sqlite,
        }
    }

    /// A connection for reads.
    pub async fn read(&self, health: &DbHealth) -> Result<Pooled, sqlx::Error> {
        Ok(match self {
            Self::Postgres { pool, pooler, .. } => postgres_unit(pool, *pooler, health).await?,
            Self::Sqlite { readers, .. } => Pooled::sqlite(readers.acquire().await?, health),
        })
    }

    /// A connection for a write of one statement (no transaction needed), or of several that
    /// need not be atomic. The unit ends with [`Pooled::finish`].
    pub async fn write(&self, health: &DbHealth) -> Result<Pooled, sqlx::Error> {
        Ok(match self {
            Self::Postgres { pool, pooler, .. } => postgres_unit(pool, *pooler, health).await?,
            Self::Sqlite { .. } => Pooled::sqlite_writer(self.sqlite_writer().await?, health),
        })
    }

    /// SQLite's writer: the held one for a file, the pool's in memory.
    async fn sqlite_writer(&self) -> Result<SqliteWriterConn, sqlx::Error> {
        match self {
            Self::Sqlite {
                held_writer: Some(held),
                ..
            } => held.acquire(WRITER_ACQUIRE_TIMEOUT).await,
            Self::Sqlite { writer, .. } => Ok(SqliteWriterConn::Pooled(writer.acquire().await?)),
            Self::Postgres { .. } => unreachable!("SQLite's writer asked of PostgreSQL"),
        }
    }

    /// Opens a write transaction; its storage failures and its commit are reported to
    /// `health`.
    ///
    /// On PostgreSQL the `BEGIN` runs in a task of its own, to its end, even when the caller's
    /// future is dropped while it is in flight: sqlx 0.8 (up to 0.9.0) loses track of a `BEGIN`
    /// cancelled between sending it and reading its answer, and would hand the connection to
    /// the next caller inside an open transaction (sqlx issues 4385 and 4393). A transaction
    /// nobody waits for any more is dropped in that task, which rolls it back.
    ///
    /// On SQLite it is `BEGIN IMMEDIATE` on the single writer, managed by the store
    /// ([`super::sql::SqliteTx`]).
    pub async fn begin(&self, health: &DbHealth) -> Result<Tx, sqlx::Error> {
        match self {
            Self::Postgres { pool, pooler, .. } => {
                let prepared = if *pooler {
                    Prepared::Once
                } else {
                    Prepared::Kept
                };
                Ok(Tx::postgres(begin_postgres(pool).await?, prepared, health))
            }
            Self::Sqlite { .. } => Tx::sqlite(self.sqlite_writer().await?, health).await,
        }
    }
}

/// A unit of work on PostgreSQL: a pooled connection, or behind a pooler a transaction.
async fn postgres_unit(
    pool: &PgPool,
    pooler: bool,
    health: &DbHealth,
) -> Result<Pooled, sqlx::Error> {
    Ok(if pooler {
        Pooled::postgres_pooler(begin_postgres(pool).await?, health)
    } else {
        Pooled::postgres(pool.acquire().await?, health)
    })
}

/// `BEGIN` in a task of its own (see [`Backend::begin`]).
async fn begin_postgres(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin().await })
        .await
        .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))?
}

impl Store {
    /// Asks the database for an answer on a connection of the probe's own (not the pool's,
    /// which may all be busy); in memory, on the one connection there is.
    pub async fn probe(&self) -> Result<(), sqlx::Error> {
        match &self.backend {
            Backend::Postgres { options, .. } => {
                let mut conn = PgConnection::connect_with(options).await?;
                // A query, not a ping: a pooler answers a ping without asking the database. A
                // bare string goes as a simple query: one message, which any pooler passes on.
                conn.execute("SELECT 1").await?;
                conn.close().await
            }
            Backend::Sqlite {
                probe_options: Some(options),
                ..
            } => {
                let mut conn = SqliteConnection::connect_with(options).await?;
                sqlx::query("SELECT 1").execute(&mut conn).await?;
                conn.close().await
            }
            Backend::Sqlite { writer, .. } => {
                sqlx::query("SELECT 1").execute(writer).await.map(drop)
            }
        }
    }

    /// Creates the PostgreSQL database when it is missing and the service may (development).
    pub async fn create_database_if_missing(&self) -> Result<(), sqlx::Error> {
        if let Backend::Postgres {
            create_if_missing: Some(url),
            ..
        } = &self.backend
            && !Postgres::database_exists(url).await?
        {
            Postgres::create_database(url).await?;
            tracing::info!("created the database named in DATABASE_URL");
        }
        Ok(())
    }

    /// Applies every pending migration.
    pub async fn migrate_up(&self) -> Result<(), MigrateError> {
        match &self.backend {
            Backend::Postgres { session: pool, .. } => {
                let keyed = migrations::status(&POSTGRES_MIGRATOR, pool)
                    .await?
                    .iter()
                    .any(|migration| migration.version == CASE_KEYS_VERSION && migration.applied);
                migrations::up(&POSTGRES_MIGRATOR, pool).await?;
                if !keyed {
                    rekey(pool).await.map_err(MigrateError::Execute)?;
                }
                Ok(())
            }
            Backend::Sqlite { writer, file, .. } => {
                let _lock = migration_lock(file.as_deref()).await?;
                migrations::up(&SQLITE_MIGRATOR, writer).await
            }
        }
    }

    /// Reverts the newest `steps` applied migrations; returns their versions, newest first.
    pub async fn migrate_down(&self, steps: usize) -> Result<Vec<i64>, MigrateError> {
        match &self.backend {
            Backend::Postgres { session, .. } => {
                migrations::down(&POSTGRES_MIGRATOR, session, steps).await
            }
            Backend::Sqlite { writer, file, .. } => {
                let _lock = migration_lock(file.as_deref()).await?;
                migrations::down(&SQLITE_MIGRATOR, writer, steps).await
            }
        }
    }

    /// Every known migration and whether it is applied. Only reads.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>, MigrateError> {
        match &self.backend {
            Backend::Postgres { session, .. } => {
                migrations::status(&POSTGRES_MIGRATOR, session).await
            }
            Backend::Sqlite { readers, .. } => migrations::status(&SQLITE_MIGRATOR, readers).await,
        }
    }

    /// Closes the connections; in-flight work finishes first.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Postgres { pool, session, .. } => {
                pool.close().await;
                session.close().await;
            }
            Backend::Sqlite {
                held_writer,
                writer,
                readers,
                ..
            } => {
                readers.close().await;
                if let Some(held) = held_writer {
                    held.close().await;
                }
                writer.close().await;
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        match &self.backend {
            Backend::Postgres { pool, .. } => pool.is_closed(),
            Backend::Sqlite {
                held_writer,
                writer,
                readers,
                ..
            } => {
                writer.is_closed()
                    && readers.is_closed()
                    && held_writer.as_ref().is_none_or(SqliteWriter::is_closed)
            }
        }
    }

    /// The PostgreSQL pool whose connections hold a session (direct, not through a pooler),
    /// for the event stream's LISTEN/NOTIFY.
    pub fn postgres_session_pool(&self) -> Option<PgPool> {
        match &self.backend {
            Backend::Postgres { session, .. } => Some(session.clone()),
            Backend::Sqlite { .. } => None,
        }
    }
}

/// Every migration `backend` knows, as pending: the status of a database that does not exist.
pub fn known_migrations(backend: DatabaseBackend) -> Vec<MigrationState> {
    let migrator = match backend {
        DatabaseBackend::Postgres => &POSTGRES_MIGRATOR,
        DatabaseBackend::Sqlite => &SQLITE_MIGRATOR,
    };
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| MigrationState {
            version: m.version,
            description: m.description.to_string(),
            applied: false,
        })
        .collect()
}

/// The migration that added PostgreSQL's case-key columns.
const CASE_KEYS_VERSION: i64 = 20261130000006;

/// Right after [`CASE_KEYS_VERSION`] is applied: that migration could fill the new key columns
/// only with the database's `lower()`, whose folding depends on the database's locale (ASCII
/// only under `C`); the service folds one character at a time ([`super::case_key`]). Every key
/// that differs is written again, in batches, so that old and new rows compare alike. A tag
/// whose new key collides with another tag of its user's (two names a `C` locale told apart)
/// keeps its old key, with a warning.
///
/// Its statements are not kept prepared (`persistent(false)`): they run once, right after a
/// migration, and a statement kept on a pooled connection would be refused ("cached plan must
/// not change result type") after a later migration changed the types it returns.
async fn rekey(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut after = 0_i64;
    loop {
        let tags: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, name, name_key FROM tags WHERE id > $1 ORDER BY id LIMIT 1000",
        )
        .persistent(false)
        .bind(after)
        .fetch_all(pool)
        .await?;
        let Some(&(last, _, _)) = tags.last() else {
            break;
        };
        for (id, name, key) in tags {
            let folded = super::case_key(&name);
            if folded == key {
                continue;
            }
            let written = sqlx::query("UPDATE tags SET name_key = $2 WHERE id = $1")
                .persistent(false)
                .bind(id)
                .bind(&folded)
                .execute(pool)
                .await;
            if let Err(error) = written {
                if super::dialect::violated_constraint(&error).is_none() {
                    return Err(error);
                }
                tracing::warn!(
                    tag_id = id,
                    "tag name collides with another under case folding; its old key is kept"
                );
            }
        }
        after = last;
    }
    let mut after = 0_i64;
    loop {
        type Row = (i64, String, String, Option<String>, Option<String>);
        let tasks: Vec<Row> = sqlx::query_as(
            "SELECT id, title, title_key, description, description_key FROM tasks \
             WHERE id > $1 ORDER BY id LIMIT 1000",
        )
        .persistent(false)
        .bind(after)
        .fetch_all(pool)
        .await?;
        let Some(&(last, ..)) = tasks.last() else {
            break;
        };
        for (id, title, title_key, description, description_key) in tasks {
            let keys = (
                super::case_key(&title),
                description.as_deref().map(super::case_key),
            );
            if keys == (title_key, description_key) {
                continue;
            }
            sqlx::query("UPDATE tasks SET title_key = $2, description_key = $3 WHERE id = $1")
                .persistent(false)
                .bind(id)
                .bind(keys.0)
                .bind(keys.1)
                .execute(pool)
                .await?;
        }
        after = last;
    }
    Ok(())
}

/// An exclusive lock for as long as the returned handle lives, held on a lock file beside the
/// SQLite database (`todo.db.lock` for `todo.db`; created when missing and left behind, which
/// is harmless). sqlx takes no migration lock on SQLite (it does on PostgreSQL), so without
/// this two processes starting on a new file could both try to create the tables.
///
/// The lock must never be taken on the database file itself: closing *any* descriptor of a
/// file drops every POSIX (`fcntl`) lock the process holds on it, including the shared lock of
/// SQLite's own connections. The next SQLite client to close the file (a backup, a reader, a
/// second process) would then believe it was the last user and delete the write-ahead log this
/// process is still writing to. The service opens its database file only through SQLite.
async fn migration_lock(database: Option<&Path>) -> Result<Option<File>, MigrateError> {
    let Some(path) = database.map(lock_file_path) else {
        return Ok(None);
    };
    let locked = tokio::task::spawn_blocking(move || {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| MigrateError::Execute(sqlx::Error::Io(std::io::Error::other(e))))?
    .map_err(|e| MigrateError::Execute(sqlx::Error::Io(e)))?;
    Ok(Some(locked))
}

/// The migration lock file beside a database file: `todo.db` → `todo.db.lock`.
fn lock_file_path(database: &Path) -> PathBuf {
    let mut name = OsString::from(database.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_lock_is_a_file_beside_the_database_never_the_database() {
        assert_eq!(
            lock_file_path(Path::new("data/todo.db")),
            Path::new("data/todo.db.lock")
        );
    }
}
