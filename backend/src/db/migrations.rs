//! The embedded migrations and the operations behind `todo-api migrate …` and readiness.

use std::collections::HashSet;

use sqlx::{PgPool, migrate::Migrate, migrate::Migrator};

/// Migrations from `backend/migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// One migration and whether it has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

/// Applies every pending migration.
#[tracing::instrument(skip_all)]
pub async fn up(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Reverts the newest `steps` applied migrations; returns the versions reverted.
#[tracing::instrument(skip_all, fields(steps))]
pub async fn down(pool: &PgPool, steps: usize) -> Result<Vec<i64>, sqlx::migrate::MigrateError> {
    let mut applied = applied_versions(pool).await?;
    applied.sort_unstable_by(|a, b| b.cmp(a));
    let reverted: Vec<i64> = applied.iter().take(steps).copied().collect();
    // Undo reverts every applied migration newer than the target.
    let target = applied.get(steps).copied().unwrap_or(0);
    MIGRATOR.undo(pool, target).await?;
    Ok(reverted)
}

/// Every known migration with its state, oldest first.
#[tracing::instrument(skip_all)]
pub async fn status(pool: &PgPool) -> Result<Vec<MigrationState>, sqlx::migrate::MigrateError> {
    let applied: HashSet<i64> = applied_versions(pool).await?.into_iter().collect();
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| MigrationState {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.contains(&m.version),
        })
        .collect())
}

/// How many known migrations are not applied yet.
#[tracing::instrument(skip_all)]
pub async fn pending_count(pool: &PgPool) -> Result<usize, sqlx::migrate::MigrateError> {
    Ok(status(pool).await?.iter().filter(|m| !m.applied).count())
}

async fn applied_versions(pool: &PgPool) -> Result<Vec<i64>, sqlx::migrate::MigrateError> {
    let mut conn = pool.acquire().await?;
    conn.ensure_migrations_table().await?;
    Ok(conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect())
}
