//! Migrations, one reversible set per backend (`migrations/postgres`, `migrations/sqlite`), with
//! the same versions and the same schema meaning. `todo-api migrate up|down|status` and
//! `AUTO_MIGRATE` use these; `/health/ready` reports pending ones.

use std::collections::HashSet;

use sqlx::{
    Database, Pool,
    migrate::{Migrate, MigrateError, Migrator},
};

/// One migration and whether it has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

#[tracing::instrument(skip_all)]
pub async fn up<DB>(migrator: &Migrator, pool: &Pool<DB>) -> Result<(), MigrateError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    migrator.run(pool).await
}

/// Reverts the newest `steps` applied migrations; returns their versions, newest first.
#[tracing::instrument(skip_all, fields(steps))]
pub async fn down<DB>(
    migrator: &Migrator,
    pool: &Pool<DB>,
    steps: usize,
) -> Result<Vec<i64>, MigrateError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    let mut applied = applied_versions(pool).await?;
    applied.sort_unstable_by(|a, b| b.cmp(a));
    let reverted: Vec<i64> = applied.iter().take(steps).copied().collect();
    // `undo` reverts everything newer than the target version.
    let target = applied.get(steps).copied().unwrap_or(0);
    migrator.undo(pool, target).await?;
    Ok(reverted)
}

#[tracing::instrument(skip_all)]
pub async fn status<DB>(
    migrator: &Migrator,
    pool: &Pool<DB>,
) -> Result<Vec<MigrationState>, MigrateError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    let applied: HashSet<i64> = applied_versions(pool).await?.into_iter().collect();
    Ok(migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| MigrationState {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.contains(&m.version),
        })
        .collect())
}

/// The applied versions, read without writing anything: a database with no migration table
/// yet has none applied. (sqlx's `ensure_migrations_table` would create the table, and
/// readiness probes and `migrate status` only read.)
async fn applied_versions<DB>(pool: &Pool<DB>) -> Result<Vec<i64>, MigrateError>
where
    DB: Database,
    DB::Connection: Migrate,
{
    let mut conn = pool.acquire().await?;
    match conn.list_applied_migrations().await {
        Ok(applied) => Ok(applied.into_iter().map(|m| m.version).collect()),
        Err(MigrateError::Execute(error)) if is_missing_table(&error) => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}

/// PostgreSQL's `undefined_table`, or SQLite's "no such table".
fn is_missing_table(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|e| {
        e.code().as_deref() == Some("42P01") || e.message().starts_with("no such table")
    })
}
