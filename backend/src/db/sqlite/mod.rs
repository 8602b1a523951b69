//! The SQLite store: the embedded default, one file and no server to run.
//!
//! SQLite allows one writer at a time. Rather than let concurrent requests race for the write
//! lock (and fail with "database is locked"), the store has a single writer connection that
//! requests queue for, and a pool of reader connections that run alongside it (WAL mode lets
//! readers see the last commit while a write is in progress). Every write transaction starts
//! with `BEGIN IMMEDIATE`, so a second process on the same file (such as `todo-api migrate`)
//! waits out the busy timeout instead of failing half-way.

mod sessions;
mod tags;
mod tasks;
mod users;

use std::{
    ffi::OsString,
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    Connection, Sqlite, SqliteConnection, SqlitePool, Transaction,
    migrate::{MigrateError, Migrator},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use uuid::Uuid;

use super::{
    ACQUIRE_TIMEOUT, ClaimedReminder, DbHealth, EditedTask, ListedTasks, MigrationState, Store,
    StoreResult, TagEdit, TaskEdit, TaskFilter, TaskSort, TaskWrite, email_taken, migrations, now,
    tag_name_taken, tag_not_found, task_not_found, unknown_tag_id,
};
use crate::{
    core::{
        error::ResultExt,
        settings::{DatabaseBackend, Settings},
    },
    models::{
        DisplayName, Email, RefreshSession, Tag, TagColor, TagId, TagName, Task, TaskId,
        TimeZoneName, User, UserId, recurrence,
    },
};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write waits for the writer connection; writes queue here under load.
const WRITER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SqliteStore {
    /// The only connection that writes.
    writer: SqlitePool,
    /// Connections for reads outside a write transaction.
    readers: SqlitePool,
    /// The database file (`None` in memory).
    file: Option<PathBuf>,
    /// A file is there or not: it is only ever "down" while a probe fails.
    health: DbHealth,
    /// How the availability probe opens a connection of its own (`None` in memory).
    probe_options: Option<SqliteConnectOptions>,
}

/// A time as the SQLite schema stores it: UTC, fixed-width text with microseconds, so that
/// comparing the text compares the times.
pub(crate) fn text_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The migration lock file beside a database file: `todo.db` → `todo.db.lock`.
fn lock_file_path(database: &Path) -> PathBuf {
    let mut name = OsString::from(database.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

/// Ids as a JSON array, for `IN (SELECT value FROM json_each(…))`.
fn id_list(ids: &[TagId]) -> String {
    let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    serde_json::Value::from(ids).to_string()
}

impl SqliteStore {
    /// Opens (creating when missing) the database file and its directory.
    pub async fn connect(settings: &Settings) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(&settings.database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Safe against corruption in WAL mode; a power cut (not a crash of the process) can
            // lose the last commits before a checkpoint. The usual trade for WAL.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let in_memory = settings.database_url.contains(":memory:")
            || settings.database_url.contains("mode=memory");
        if !in_memory
            && let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }

        let file = (!in_memory).then(|| options.get_filename().to_path_buf());
        let probe_options = (!in_memory).then(|| options.clone());
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // An in-memory database lives as long as its connection: keep it open.
            .min_connections(1)
            .acquire_timeout(WRITER_ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        let readers = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(settings.db_max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .connect_lazy_with(options)
        };
        Ok(Self {
            writer,
            readers,
            file,
            health: DbHealth::default(),
            probe_options,
        })
    }

    /// An exclusive lock for as long as the returned handle lives, held on a lock file beside
    /// the database (`todo.db.lock` for `todo.db`; created when missing and left behind, which
    /// is harmless). sqlx takes no migration lock on SQLite (it does on PostgreSQL), so without
    /// this two processes starting on a new file could both try to create the tables.
    ///
    /// The lock must never be taken on the database file itself: closing *any* descriptor of a
    /// file drops every POSIX (`fcntl`) lock the process holds on it, including the shared lock
    /// of SQLite's own connections. The next SQLite client to close the file (a backup, a
    /// reader, a second process) would then believe it was the last user and delete the
    /// write-ahead log this process is still writing to. The service opens its database file
    /// only through SQLite.
    async fn migration_lock(&self) -> Result<Option<File>, MigrateError> {
        let Some(path) = self.file.as_deref().map(lock_file_path) else {
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

    /// A write transaction on the single writer connection.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    /// Reads the task as the transaction left it, then commits.
    async fn commit_and_return(
        mut tx: Transaction<'_, Sqlite>,
        user_id: UserId,
        id: TaskId,
    ) -> StoreResult<Task> {
        let task = tasks::find_task(&mut *tx, user_id, id)
            .await?
            .ok_or_else(task_not_found)?;
        tx.commit().await?;
        Ok(task)
    }

    /// Makes `tags` the task's tags; every id must be one of the user's tags, else nothing is
    /// written (the caller's transaction is dropped).
    async fn set_tags(
        tx: &mut SqliteConnection,
        user_id: UserId,
        task_id: TaskId,
        tags: &[TagId],
    ) -> StoreResult<()> {
        if tags::count_user_tags(&mut *tx, user_id, tags).await? != tags.len() {
            return Err(unknown_tag_id());
        }
        tasks::replace_task_tags(tx, user_id, task_id, tags).await?;
        Ok(())
    }

    /// Answers 404 for whichever of the task and the tag is not the user's (the task first).
    async fn check_task_and_tag(
        tx: &mut SqliteConnection,
        user_id: UserId,
        task_id: TaskId,
        tag_id: TagId,
    ) -> StoreResult<()> {
        tasks::find_task(&mut *tx, user_id, task_id)
            .await?
            .ok_or_else(task_not_found)?;
        if tags::count_user_tags(&mut *tx, user_id, &[tag_id]).await? != 1 {
            return Err(tag_not_found());
        }
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> DatabaseBackend {
        DatabaseBackend::Sqlite
    }

    fn health(&self) -> &DbHealth {
        &self.health
    }

    async fn probe(&self) -> Result<(), sqlx::Error> {
        // A connection of its own (the readers may all be busy); in memory, the one there is.
        match &self.probe_options {
            Some(options) => {
                let mut conn = SqliteConnection::connect_with(options).await?;
                sqlx::query("SELECT 1").execute(&mut conn).await?;
                conn.close().await
            }
            None => sqlx::query("SELECT 1")
                .execute(&self.writer)
                .await
                .map(|_| ()),
        }
    }

    async fn migrate_up(&self) -> Result<(), MigrateError> {
        let _lock = self.migration_lock().await?;
        migrations::up(&MIGRATOR, &self.writer).await
    }

    async fn migrate_down(&self, steps: usize) -> Result<Vec<i64>, MigrateError> {
        let _lock = self.migration_lock().await?;
        migrations::down(&MIGRATOR, &self.writer, steps).await
    }

    async fn migration_status(&self) -> Result<Vec<MigrationState>, MigrateError> {
        migrations::status(&MIGRATOR, &self.readers).await
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    fn is_closed(&self) -> bool {
        self.writer.is_closed() && self.readers.is_closed()
    }

    async fn insert_user(
        &self,
        email: &Email,
        password_hash: &str,
        name: Option<&DisplayName>,
    ) -> StoreResult<User> {
        users::insert_user(&self.writer, email, password_hash, name, now())
            .await
            .on_unique_violation(email_taken)
    }

    async fn find_user(&self, id: UserId) -> StoreResult<Option<User>> {
        Ok(users::find_user(&self.readers, id).await?)
    }

    async fn find_user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        Ok(users::find_user_by_email(&self.readers, email).await?)
    }

    async fn update_profile(
        &self,
        id: UserId,
        name: Option<Option<&DisplayName>>,
        timezone: Option<&TimeZoneName>,
    ) -> StoreResult<Option<User>> {
        Ok(users::update_profile(&self.writer, id, name, timezone, now()).await?)
    }

    async fn update_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<()> {
        Ok(users::update_password_hash(&self.writer, id, password_hash, now()).await?)
    }

    async fn change_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: Uuid,
    ) -> StoreResult<()> {
        let now = now();
        let mut tx = self.write().await?;
        users::update_password_hash(&mut *tx, id, password_hash, now).await?;
        sessions::revoke_other_sessions(&mut *tx, id, keep, now).await?;
        sessions::end_rotation_overlap(&mut *tx, keep).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        Ok(users::delete_user(&self.writer, id).await?)
    }

    async fn create_session(
        &self,
        id: Uuid,
        user_id: UserId,
        jti: Uuid,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        Ok(sessions::create_session(&self.writer, id, user_id, jti, expires_at, now()).await?)
    }

    async fn rotate_session(
        &self,
        id: Uuid,
        user_id: UserId,
        old_jti: Uuid,
        new_jti: Uuid,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        Ok(sessions::rotate_session(
            &self.writer,
            id,
            user_id,
            old_jti,
            new_jti,
            issued_at,
            expires_at,
            now(),
        )
        .await?)
    }

    async fn find_session(&self, id: Uuid, user_id: UserId) -> StoreResult<Option<RefreshSession>> {
        Ok(sessions::find_session(&self.readers, id, user_id).await?)
    }

    async fn revoke_session(&self, id: Uuid, user_id: UserId) -> StoreResult<()> {
        Ok(sessions::revoke_session(&self.writer, id, user_id, now()).await?)
    }

    async fn session_is_live(&self, id: Uuid, user_id: UserId) -> StoreResult<Option<bool>> {
        Ok(sessions::session_is_live(&self.readers, id, user_id).await?)
    }

    async fn create_task(&self, user_id: UserId, task: TaskWrite) -> StoreResult<Task> {
        let mut tx = self.write().await?;
        let id = tasks::insert_task(&mut *tx, user_id, &task.fields, None, now()).await?;
        if let Some(tags) = &task.tags {
            Self::set_tags(&mut tx, user_id, id, tags).await?;
        }
        Self::commit_and_return(tx, user_id, id).await
    }

    async fn edit_task(
        &self,
        user_id: UserId,
        id: TaskId,
        edit: TaskEdit,
    ) -> StoreResult<EditedTask> {
        let now = now();
        let mut tx = self.write().await?;
        let before = tasks::find_task(&mut *tx, user_id, id)
            .await?
            .ok_or_else(task_not_found)?;
        let write = edit(&before)?;
        tasks::update_task(&mut *tx, user_id, id, &write.fields, now).await?;
        if let Some(tags) = &write.tags {
            Self::set_tags(&mut tx, user_id, id, tags).await?;
        }
        let mut successor = None;
        let after = tasks::find_task(&mut *tx, user_id, id)
            .await?
            .ok_or_else(task_not_found)?;
        if recurrence::completes_occurrence(&before, &after) {
            let zone = tasks::user_time_zone(&mut *tx, user_id).await?;
            if let Some(next) = recurrence::next_occurrence(&after, &zone) {
                let fields = recurrence::successor_fields(&after, &next);
                let next_id =
                    tasks::insert_task(&mut *tx, user_id, &fields, next.recurrence_start, now)
                        .await?;
                tasks::copy_tags(&mut *tx, user_id, id, next_id).await?;
                tasks::set_successor(&mut *tx, user_id, id, next_id, now).await?;
                successor = tasks::find_task(&mut *tx, user_id, next_id).await?;
            }
        }
        let task = if successor.is_some() {
            tasks::find_task(&mut *tx, user_id, id)
                .await?
                .ok_or_else(task_not_found)?
        } else {
            after
        };
        tx.commit().await?;
        Ok(EditedTask { task, successor })
    }

    async fn find_task(&self, user_id: UserId, id: TaskId) -> StoreResult<Option<Task>> {
        Ok(tasks::find_task(&self.readers, user_id, id).await?)
    }

    async fn delete_task(&self, user_id: UserId, id: TaskId) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let deleted = tasks::delete_task(&mut tx, user_id, id).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn link_tag(
        &self,
        user_id: UserId,
        task_id: TaskId,
        tag_id: TagId,
    ) -> StoreResult<(Task, bool)> {
        let mut tx = self.write().await?;
        Self::check_task_and_tag(&mut tx, user_id, task_id, tag_id).await?;
        let created = tasks::link_tag(&mut *tx, user_id, task_id, tag_id).await?;
        if created {
            tasks::touch_task(&mut *tx, user_id, task_id, now()).await?;
        }
        Ok((
            Self::commit_and_return(tx, user_id, task_id).await?,
            created,
        ))
    }

    async fn unlink_tag(
        &self,
        user_id: UserId,
        task_id: TaskId,
        tag_id: TagId,
    ) -> StoreResult<Task> {
        let mut tx = self.write().await?;
        Self::check_task_and_tag(&mut tx, user_id, task_id, tag_id).await?;
        if tasks::unlink_tag(&mut *tx, user_id, task_id, tag_id).await? {
            tasks::touch_task(&mut *tx, user_id, task_id, now()).await?;
        }
        Self::commit_and_return(tx, user_id, task_id).await
    }

    async fn list_tasks(
        &self,
        user_id: UserId,
        filter: &TaskFilter,
        sort: TaskSort,
        limit: i64,
        offset: i64,
    ) -> StoreResult<ListedTasks> {
        let mut conn = self.readers.acquire().await?;
        Ok(tasks::list_tasks(&mut conn, user_id, filter, sort, limit, offset, now()).await?)
    }

    async fn claim_due_reminders(&self, limit: i64) -> StoreResult<Vec<ClaimedReminder>> {
        let claimed = tasks::claim_due_reminders(&self.writer, limit, now()).await?;
        Ok(claimed
            .into_iter()
            .map(|(user_id, task_id)| ClaimedReminder { user_id, task_id })
            .collect())
    }

    async fn list_reminders(
        &self,
        user_id: UserId,
        before: DateTime<Utc>,
    ) -> StoreResult<Vec<Task>> {
        Ok(tasks::list_reminders(&self.readers, user_id, before).await?)
    }

    async fn insert_tag(
        &self,
        user_id: UserId,
        name: &TagName,
        color: Option<&TagColor>,
    ) -> StoreResult<Tag> {
        tags::insert_tag(&self.writer, user_id, name, color, now())
            .await
            .on_unique_violation(tag_name_taken)
    }

    async fn list_tags(&self, user_id: UserId) -> StoreResult<Vec<Tag>> {
        Ok(tags::list_tags(&self.readers, user_id).await?)
    }

    async fn find_tag(&self, user_id: UserId, id: TagId) -> StoreResult<Option<Tag>> {
        Ok(tags::find_tag(&self.readers, user_id, id).await?)
    }

    async fn edit_tag(&self, user_id: UserId, id: TagId, edit: TagEdit) -> StoreResult<Tag> {
        let mut tx = self.write().await?;
        let current = tags::find_tag(&mut *tx, user_id, id)
            .await?
            .ok_or_else(tag_not_found)?;
        let (name, color) = edit(&current)?;
        let tag = tags::update_tag(&mut *tx, user_id, id, &name, color.as_ref())
            .await
            .on_unique_violation(tag_name_taken)?
            .ok_or_else(tag_not_found)?;
        tx.commit().await?;
        Ok(tag)
    }

    async fn delete_tag(&self, user_id: UserId, id: TagId) -> StoreResult<bool> {
        Ok(tags::delete_tag(&self.writer, user_id, id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_are_fixed_width_utc_with_microseconds() {
        let at = DateTime::parse_from_rfc3339("0042-03-04T05:06:07.5+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(text_time(at), "0042-03-04T04:06:07.500000Z");
    }

    #[test]
    fn the_migration_lock_is_a_file_beside_the_database_never_the_database() {
        assert_eq!(
            lock_file_path(Path::new("data/todo.db")),
            Path::new("data/todo.db.lock")
        );
    }

    #[test]
    fn id_lists_are_json_arrays() {
        assert_eq!(id_list(&[TagId::from(3), TagId::from(14)]), "[3,14]");
        assert_eq!(id_list(&[]), "[]");
    }
}
