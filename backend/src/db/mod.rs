//! All SQL lives here, one module per table group. Functions take a pool, connection or
//! transaction (`impl PgExecutor`) so that callers decide what runs in one transaction.

pub mod migrations;
pub mod sessions;
pub mod tags;
pub mod tasks;
pub mod users;

use std::time::Duration;

use sqlx::{
    PgPool,
    migrate::MigrateDatabase,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::core::settings::Settings;

pub use migrations::MIGRATOR;

/// How long a request waits for a connection before it is answered 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds the pool without connecting: the service starts, and answers 503 until the database
/// answers.
pub fn pool(settings: &Settings) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = settings.database_url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.db_max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A dead connection fails its query and is dropped; pinging before every use would
        // cost a round trip per request.
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

/// Creates the database named in `url` when it does not exist yet (development convenience).
pub async fn create_database_if_missing(url: &str) -> Result<bool, sqlx::Error> {
    if sqlx::Postgres::database_exists(url).await? {
        return Ok(false);
    }
    sqlx::Postgres::create_database(url).await?;
    Ok(true)
}

/// True when the error means the database cannot be reached (as opposed to a bad query).
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_)
    ) || error
        .as_database_error()
        .and_then(|e| e.code())
        // Class 08: connection exception; 57P01-03: the server is shutting down or starting.
        .is_some_and(|code| code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03"))
}

/// Answers whether the database responds at all.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(drop)
}
