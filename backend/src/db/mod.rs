//! Storage. [`Store`] is everything the service asks of a database, as whole units of work
//! (each method is one transaction, or one statement). It is written once, for PostgreSQL (for
//! deployments, including many service processes on one database) and SQLite (the embedded
//! default, one file and no server to run); `DATABASE_URL` picks one (`postgres://…` or
//! `sqlite://…`).
//!
//! What differs between the two sits behind one small seam:
//! - [`dialect`]: the SQL fragments that differ (tag aggregation, id lists, row locks) and how
//!   each database reports an error;
//! - [`backend`]: pools and connection set-up, transactions, the availability probe and each
//!   backend's migrations (`migrations/postgres`, `migrations/sqlite`, same versions);
//! - [`sql`]: a query that binds typed values and runs on either connection.
//!
//! Both backends store the same things the same way: times are bound by the service (UTC,
//! whole microseconds), and text compared regardless of case has a `*_key` column holding
//! [`case_key`] of it, compared and sorted by code point.
//!
//! Storage speaks storage: its errors are [`StoreError`]s (not found, a named unique constraint,
//! unavailable, a refused value, anything else), mapped to the API's errors above it.

mod backend;
mod categories;
mod changes;
#[cfg(test)]
mod commit_failures;

pub use backend::{ACQUIRE_TIMEOUT, known_migrations};
pub mod dialect;
mod list;
pub mod migrations;
mod order;
mod rate_limits;
mod series;
mod sessions;
pub mod sql;
mod tags;
mod tasks;
mod users;

use std::sync::Arc;

pub use crate::models::{TaskFields, TaskWrite};

use crate::{
    core::{
        clock::Clock,
        settings::{DatabaseBackend, Settings},
    },
    models::{TaskId, UserId},
};

pub use crate::core::db_health::{DbHealth, StorageFault};
pub use categories::{CategoryEdit, NewCategory, Refusal, Resolved};
pub use changes::{Change, ChangeKind, ChangePage, Changed, ObjectKind, Place};
pub use dialect::{Constraint, is_unavailable};
pub use list::{ListedTasks, SortField, TagRef, TaskFilter, TaskSort};
pub use migrations::MigrationState;
pub use order::Placement;

use backend::{Backend, Open};
use dialect::{Dialect, Sql};
use sql::{Binds, Query, Timestamp};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the operation needs is not the user's (or does not exist).
    #[error("{0:?} not found")]
    NotFound(Missing),
    /// The caller's login session has ended: revoked, or it (or its user) no longer exists.
    #[error("the session has ended ({0:?})")]
    SessionEnded(SessionEnd),
    /// A unique constraint refused the write.
    #[error("unique constraint {} violated", .0.name())]
    Conflict(Constraint),
    /// The store's rules refuse the write (nothing was written).
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The database cannot be reached or is busy; worth a retry. `connection_lost` is false
    /// when the pool only had no free connection in time.
    #[error("the database is unavailable: {source}")]
    Unavailable {
        connection_lost: bool,
        source: sqlx::Error,
    },
    /// The database's storage refused the work: a full disk, a read-only database or file
    /// system, an I/O error, damage. Nothing was written.
    #[error("the database's storage failed ({}): {source}", .fault.name())]
    Storage {
        fault: StorageFault,
        source: sqlx::Error,
    },
    /// The database refused a value as data (such as a NUL character in text).
    #[error("the database refused a value: {0}")]
    Rejected(sqlx::Error),
    #[error(transparent)]
    Other(sqlx::Error),
}

/// How a caller's session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    Revoked,
    /// The session, or its user, no longer exists.
    Gone,
}

/// What a [`StoreError::NotFound`] did not find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    Task,
    Tag,
    /// A tag id in a task's new tag set is not one of the user's tags.
    TagInSet,
    /// The status or priority the operation is about is not the user's.
    Category(crate::models::CategoryKind),
    /// A status a task write names (by id or name) is not one of the user's.
    Status,
    /// A priority a task write names (by id or name) is not one of the user's.
    Priority,
    /// The status is not of the kind the task's `completed` says.
    StatusKind,
    /// A status or priority named to replace a deleted one is not another of the user's (of
    /// the same kind, for a status).
    Replacement,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if dialect::is_unavailable(&error) {
            let connection_lost = !matches!(error, sqlx::Error::PoolTimedOut);
            return Self::Unavailable {
                connection_lost,
                source: error,
            };
        }
        if let Some(fault) = dialect::storage_fault(&error) {
            return Self::Storage {
                fault,
                source: error,
            };
        }
        if let Some(constraint) = dialect::violated_constraint(&error) {
            return Self::Conflict(constraint);
        }
        if dialect::is_data_exception(&error) {
            return Self::Rejected(error);
        }
        Self::Other(error)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A reminder the scheduler has claimed: it is this process's to deliver.
#[derive(Clone, Copy, Debug, sqlx::FromRow)]
pub struct ClaimedReminder {
    pub user_id: UserId,
    #[sqlx(rename = "id")]
    pub task_id: TaskId,
}

/// The store: one implementation over either backend.
pub struct Store {
    backend: Backend,
    dialect: Dialect,
    health: DbHealth,
    /// Every time the store writes comes from here.
    clock: Clock,
}

/// The store `settings.database_url` names. Nothing is connected yet for PostgreSQL (the
/// service starts, and answers 503 until the database answers); the SQLite file and its
/// directory are created when missing.
pub async fn connect(settings: &Settings) -> Result<Arc<Store>, sqlx::Error> {
    let health = DbHealth::default();
    let backend = Backend::connect(settings, &health, Open::CreatingIfMissing).await?;
    Ok(Store::over(backend.expect("opening may create it"), health))
}

/// The store `settings.database_url` names if that database exists, creating nothing: no
/// SQLite file or directory, no PostgreSQL database. `None` when it does not exist. For the
/// commands that only look at a database, or have nothing to do on a missing one.
pub async fn connect_existing(settings: &Settings) -> Result<Option<Arc<Store>>, sqlx::Error> {
    let health = DbHealth::default();
    let backend = Backend::connect(settings, &health, Open::ExistingOnly).await?;
    Ok(backend.map(|backend| Store::over(backend, health)))
}

impl Store {
    fn over(backend: Backend, health: DbHealth) -> Arc<Self> {
        Arc::new(Self {
            dialect: backend.dialect(),
            backend,
            health,
            clock: Clock::system(),
        })
    }

    pub fn backend(&self) -> DatabaseBackend {
        match self.dialect {
            Dialect::Postgres => DatabaseBackend::Postgres,
            Dialect::Sqlite => DatabaseBackend::Sqlite,
        }
    }

    /// The clock the store's times come from; the services share it.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The current time as both backends store it.
    fn now(&self) -> Timestamp {
        Timestamp(self.clock.now())
    }

    /// What the service knows about whether the database can be reached.
    pub fn health(&self) -> &DbHealth {
        &self.health
    }

    /// A statement in this store's dialect with its values bound.
    fn query<'q>(&self, sql: &'static Sql, values: impl Binds<'q>) -> Query<'q> {
        Query::new(self.dialect, sql.get(self.dialect)).binds(values)
    }
}

/// The key text is compared by "regardless of case" (titles in sort and search, tag names):
/// lower-cased one character at a time, as PostgreSQL's `lower()` does, so that both backends
/// agree (no final-sigma rule; `İ` becomes `i`, not `i` and a combining dot).
pub(crate) fn case_key(text: &str) -> String {
    let mut key = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            'İ' => key.push('i'),
            c => key.extend(c.to_lowercase()),
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_keys_fold_one_character_at_a_time() {
        assert_eq!(case_key("École ÉCRIRE"), "école écrire");
        assert_eq!(case_key("ΟΔΟΣ"), "οδοσ");
        assert_eq!(case_key("İzmir"), "izmir");
        assert_eq!(case_key("50%_OFF\\"), "50%_off\\");
    }
}
