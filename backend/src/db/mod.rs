//! Storage. [`Store`] is everything the service asks of a database, as whole units of work
//! (each method is one transaction). Two backends implement it, each with its own native SQL
//! and its own migrations:
//!
//! - [`postgres`]: for deployments, including many service processes on one database;
//! - [`sqlite`]: the embedded default, one file and no server to run.
//!
//! `DATABASE_URL` picks one (`postgres://…` or `sqlite://…`); handlers and services only ever
//! see `Arc<dyn Store>`. Rules that are not SQL (what a patch changes, which errors a client
//! gets) live in the services and in the shared types below, so both backends apply them
//! identically.

pub mod availability;
pub mod migrations;
pub mod postgres;
pub mod sqlite;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use crate::{
    core::{
        error::{ApiError, ErrorCode},
        settings::{DatabaseBackend, Settings},
    },
    models::{
        DisplayName, Email, Priority, RefreshSession, Tag, TagColor, TagId, TagName, Task, TaskId,
        TimeZoneName, User, UserId,
    },
};

pub use availability::DbHealth;
pub use migrations::MigrationState;

/// How long a request waits for a connection before it is answered 503.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The result of every store method: client-facing errors (a taken email, a missing task) are
/// decided by the store, where the database detects them; anything else is a 500 or a 503.
pub type StoreResult<T> = Result<T, ApiError>;

/// Computes a task's new fields and tag set from its current row; runs inside the store's
/// transaction with the row locked, so concurrent edits of one task apply one after another.
pub type TaskEdit = Box<dyn FnOnce(&Task) -> StoreResult<TaskWrite> + Send>;

/// Computes a tag's new name and colour from its current row, inside the transaction.
pub type TagEdit = Box<dyn FnOnce(&Tag) -> StoreResult<(TagName, Option<TagColor>)> + Send>;

/// A task's writable columns, and optionally its complete new tag set.
#[derive(Clone, Debug)]
pub struct TaskWrite {
    pub fields: TaskFields,
    pub tags: Option<Vec<TagId>>,
}

/// Every writable column of a task, as it will be stored.
#[derive(Clone, Debug)]
pub struct TaskFields {
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    pub priority: Priority,
    pub due_date: Option<DateTime<Utc>>,
    pub remind_at: Option<DateTime<Utc>>,
    pub recurrence_rule: Option<String>,
}

impl From<&Task> for TaskFields {
    fn from(task: &Task) -> Self {
        Self {
            title: task.title.clone(),
            description: task.description.clone(),
            completed: task.completed,
            priority: Priority::from_rank(task.priority),
            due_date: task.due_date,
            remind_at: task.remind_at,
            recurrence_rule: task.recurrence_rule.clone(),
        }
    }
}

/// Which tasks a list shows.
#[derive(Clone, Debug, Default)]
pub struct TaskFilter {
    pub completed: Option<bool>,
    pub priority: Option<Priority>,
    /// A tag id or name; either matches.
    pub tag: Option<TagRef>,
    /// Text that must occur in the title or description, regardless of case; `%`, `_` and `\`
    /// are literal.
    pub search: Option<String>,
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
    pub overdue: bool,
}

/// A tag named in a filter: by name (regardless of case), and by id when the text is a number.
#[derive(Clone, Debug)]
pub struct TagRef {
    pub id: Option<i64>,
    pub name: String,
}

/// The columns a list can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortField {
    DueDate,
    Priority,
    CreatedAt,
    UpdatedAt,
    Title,
}

/// A sort order. Both backends order tasks without a due date last ascending and first
/// descending, titles by their lower-cased text in code-point order, and break ties by id in
/// the same direction, so pages never repeat or skip a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskSort {
    pub field: SortField,
    pub descending: bool,
}

/// A task as an edit left it, and the next occurrence the edit created (when it completed a
/// recurring task).
pub struct EditedTask {
    pub task: Task,
    pub successor: Option<Task>,
}

/// A reminder the scheduler has claimed: it is this process's to deliver.
#[derive(Clone, Copy, Debug)]
pub struct ClaimedReminder {
    pub user_id: UserId,
    pub task_id: TaskId,
}

/// One page of a list and how many tasks match in all.
pub struct ListedTasks {
    pub tasks: Vec<Task>,
    pub total: i64,
}

/// Everything the service stores. Every task and tag method is scoped by the owner's id.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> DatabaseBackend;

    /// What the service knows about whether the database can be reached.
    fn health(&self) -> &DbHealth;
    /// Asks the database for an answer on a connection of the probe's own (not the pool's).
    async fn probe(&self) -> Result<(), sqlx::Error>;
    /// Creates the database when it is missing and the service may do so (PostgreSQL in
    /// development); nothing otherwise.
    async fn create_database_if_missing(&self) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// Applies every pending migration.
    async fn migrate_up(&self) -> Result<(), sqlx::migrate::MigrateError>;
    /// Reverts the newest `steps` applied migrations; returns their versions, newest first.
    async fn migrate_down(&self, steps: usize) -> Result<Vec<i64>, sqlx::migrate::MigrateError>;
    /// Every known migration and whether it is applied. Only reads.
    async fn migration_status(&self) -> Result<Vec<MigrationState>, sqlx::migrate::MigrateError>;
    /// Closes the connections; in-flight work finishes first.
    async fn close(&self);
    fn is_closed(&self) -> bool;

    // Accounts.
    /// `EMAIL_ALREADY_EXISTS` when the (lower-cased) email is taken, however concurrently.
    async fn insert_user(
        &self,
        email: &Email,
        password_hash: &str,
        name: Option<&DisplayName>,
    ) -> StoreResult<User>;
    async fn find_user(&self, id: UserId) -> StoreResult<Option<User>>;
    async fn find_user_by_email(&self, email: &Email) -> StoreResult<Option<User>>;
    /// Changes the fields given; `name: Some(None)` clears the name.
    async fn update_profile(
        &self,
        id: UserId,
        name: Option<Option<&DisplayName>>,
        timezone: Option<&TimeZoneName>,
    ) -> StoreResult<Option<User>>;
    async fn update_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<()>;
    /// Sets the hash, revokes every session but `keep` and ends `keep`'s rotation overlap, in
    /// one transaction.
    async fn change_password(&self, id: UserId, password_hash: &str, keep: Uuid)
    -> StoreResult<()>;
    /// Deletes the user and, by cascade, their sessions, tasks and tags.
    async fn delete_user(&self, id: UserId) -> StoreResult<bool>;

    // Sessions.
    async fn create_session(
        &self,
        id: Uuid,
        user_id: UserId,
        jti: Uuid,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Swaps `old_jti` for `new_jti` (issued at `issued_at`) if and only if `old_jti` is the
    /// live session's current token, and keeps `old_jti` as the session's `previous_jti`.
    /// Atomic: of two concurrent uses of one token, exactly one rotates.
    async fn rotate_session(
        &self,
        id: Uuid,
        user_id: UserId,
        old_jti: Uuid,
        new_jti: Uuid,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn find_session(&self, id: Uuid, user_id: UserId) -> StoreResult<Option<RefreshSession>>;
    async fn revoke_session(&self, id: Uuid, user_id: UserId) -> StoreResult<()>;
    /// `Some(true)` while the session is live, `Some(false)` once revoked, `None` when it (or
    /// its user) no longer exists.
    async fn session_is_live(&self, id: Uuid, user_id: UserId) -> StoreResult<Option<bool>>;

    // Tasks.
    /// Inserts a task and its links; `TAG_NOT_FOUND` (nothing written) when a tag id is not
    /// one of the user's.
    async fn create_task(&self, user_id: UserId, task: TaskWrite) -> StoreResult<Task>;
    /// Locks the task, applies `edit` to it and writes the result; `TASK_NOT_FOUND` when the
    /// task is not the user's, `TAG_NOT_FOUND` when a new tag id is not. When the edit completes
    /// a recurring task that has no successor yet, the next occurrence (with the same tags) is
    /// created in the same transaction.
    async fn edit_task(
        &self,
        user_id: UserId,
        id: TaskId,
        edit: TaskEdit,
    ) -> StoreResult<EditedTask>;
    async fn find_task(&self, user_id: UserId, id: TaskId) -> StoreResult<Option<Task>>;
    async fn delete_task(&self, user_id: UserId, id: TaskId) -> StoreResult<bool>;
    /// Links a tag to a task; the flag is true when the link is new.
    async fn link_tag(
        &self,
        user_id: UserId,
        task_id: TaskId,
        tag_id: TagId,
    ) -> StoreResult<(Task, bool)>;
    /// Removes a link if there is one; 404s as for `link_tag`. Returns the task as it is now.
    async fn unlink_tag(
        &self,
        user_id: UserId,
        task_id: TaskId,
        tag_id: TagId,
    ) -> StoreResult<Task>;
    async fn list_tasks(
        &self,
        user_id: UserId,
        filter: &TaskFilter,
        sort: TaskSort,
        limit: i64,
        offset: i64,
    ) -> StoreResult<ListedTasks>;

    // Reminders.
    /// Marks up to `limit` due reminders (open tasks whose `remind_at` has come and whose
    /// reminder is armed) as delivered now and returns them. Atomic: of several processes
    /// claiming at once, each reminder goes to exactly one.
    async fn claim_due_reminders(&self, limit: i64) -> StoreResult<Vec<ClaimedReminder>>;
    /// The user's open tasks whose `remind_at` is at or before `before`, soonest first.
    async fn list_reminders(
        &self,
        user_id: UserId,
        before: DateTime<Utc>,
    ) -> StoreResult<Vec<Task>>;

    /// The PostgreSQL pool, for the event stream's LISTEN/NOTIFY; `None` on SQLite.
    fn postgres_pool(&self) -> Option<sqlx::PgPool> {
        None
    }

    // Tags.
    /// `TAG_ALREADY_EXISTS` when the user has a tag of that name in any case.
    async fn insert_tag(
        &self,
        user_id: UserId,
        name: &TagName,
        color: Option<&TagColor>,
    ) -> StoreResult<Tag>;
    /// The user's tags by name regardless of case.
    async fn list_tags(&self, user_id: UserId) -> StoreResult<Vec<Tag>>;
    async fn find_tag(&self, user_id: UserId, id: TagId) -> StoreResult<Option<Tag>>;
    /// Locks the tag, applies `edit` and writes it; `TAG_NOT_FOUND`, `TAG_ALREADY_EXISTS`.
    async fn edit_tag(&self, user_id: UserId, id: TagId, edit: TagEdit) -> StoreResult<Tag>;
    async fn delete_tag(&self, user_id: UserId, id: TagId) -> StoreResult<bool>;
}

/// The store `settings.database_url` names. Nothing is connected yet for PostgreSQL (the
/// service starts, and answers 503 until the database answers); the SQLite file and its
/// directory are created when missing.
pub async fn connect(settings: &Settings) -> Result<Arc<dyn Store>, sqlx::Error> {
    Ok(match settings.database_backend() {
        DatabaseBackend::Postgres => Arc::new(postgres::PgStore::connect(settings).await?),
        DatabaseBackend::Sqlite => Arc::new(sqlite::SqliteStore::connect(settings).await?),
    })
}

/// True when the error means the database cannot be reached or is busy (a 503, worth a retry),
/// as opposed to a bad query.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    if matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_)
    ) {
        return true;
    }
    let Some(database_error) = error.as_database_error() else {
        return false;
    };
    let Some(code) = database_error.code() else {
        return false;
    };
    if database_error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // SQLITE_BUSY (5), SQLITE_LOCKED (6) and SQLITE_CANTOPEN (14), with their extended
        // codes (the primary code is the low byte).
        return code
            .parse::<i32>()
            .is_ok_and(|code| matches!(code & 0xff, 5 | 6 | 14));
    }
    // PostgreSQL class 08: connection exception; 57P01-03: the server is shutting down or
    // starting.
    code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
}

/// True when the error is a unique-constraint violation, on either backend.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.kind() == sqlx::error::ErrorKind::UniqueViolation)
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

/// The current time as both backends store it: UTC, whole microseconds.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(crate) fn email_taken() -> ApiError {
    ApiError::new(ErrorCode::EmailAlreadyExists).with_field("email")
}

pub(crate) fn tag_name_taken() -> ApiError {
    ApiError::new(ErrorCode::TagAlreadyExists).with_field("name")
}

pub fn task_not_found() -> ApiError {
    ErrorCode::TaskNotFound.into()
}

pub fn tag_not_found() -> ApiError {
    ErrorCode::TagNotFound.into()
}

/// A tag id in a task body that is not one of the user's.
pub(crate) fn unknown_tag_id() -> ApiError {
    ApiError::new(ErrorCode::TagNotFound).with_field("tag_ids")
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
