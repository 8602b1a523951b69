//! The PostgreSQL store: for deployments, including many service processes on one database.
//! Row locks (`FOR UPDATE`) make read-modify-write edits safe across processes.

mod sessions;
mod tags;
mod tasks;
mod users;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    Connection, PgConnection, PgPool, Postgres, Transaction,
    migrate::{MigrateDatabase, MigrateError, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
};
use uuid::Uuid;

use super::{
    ACQUIRE_TIMEOUT, ClaimedReminder, DbHealth, EditedTask, ListedTasks, MigrationState, Store,
    StoreResult, TagEdit, TaskEdit, TaskFilter, TaskSort, TaskWrite, email_taken, migrations,
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

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    /// For the availability probe's connections of its own.
    options: PgConnectOptions,
    health: DbHealth,
    /// The database URL, when the service may create the database (development).
    create_if_missing: Option<String>,
}

impl PgStore {
    /// Builds the pool without connecting: the service starts whether or not PostgreSQL
    /// answers yet. In development, [`Store::create_database_if_missing`] creates the database.
    pub async fn connect(settings: &Settings) -> Result<Self, sqlx::Error> {
        Self::lazy(settings)
    }

    /// Builds the pool without connecting at all.
    pub fn lazy(settings: &Settings) -> Result<Self, sqlx::Error> {
        // Every statement is prepared once per connection and keyed by the user's id, so one
        // generic plan serves all users. Left to itself, PostgreSQL re-plans the list queries
        // on every execution (their custom plans look cheaper), which costs more than running
        // them.
        let options: PgConnectOptions = settings
            .database_url
            .parse::<PgConnectOptions>()?
            .options([("plan_cache_mode", "force_generic_plan")]);
        let health = DbHealth::default();
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
        Ok(Self {
            pool,
            options,
            health,
            create_if_missing: (!settings.is_production()).then(|| settings.database_url.clone()),
        })
    }

    /// Opens a transaction. The `BEGIN` runs in a task of its own, to its end, even when the
    /// caller's future is dropped while it is in flight: sqlx 0.8 (up to 0.9.0) loses track of
    /// a `BEGIN` cancelled between sending it and reading its answer, and would hand the
    /// connection to the next caller inside an open transaction (sqlx issues 4385 and 4393).
    /// A transaction nobody waits for any more is dropped in that task, which rolls it back.
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let pool = self.pool.clone();
        tokio::spawn(async move { pool.begin().await })
            .await
            .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))?
    }

    /// Reads the task as the transaction left it, then commits.
    async fn commit_and_return(
        mut tx: Transaction<'_, Postgres>,
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
        tx: &mut PgConnection,
        user_id: UserId,
        task_id: TaskId,
        tags: &[TagId],
    ) -> StoreResult<()> {
        if tags::lock_user_tags(&mut *tx, user_id, tags).await? != tags.len() {
            return Err(unknown_tag_id());
        }
        tasks::replace_task_tags(tx, user_id, task_id, tags).await?;
        Ok(())
    }

    /// Locks the task and the tag for the rest of the transaction, or answers 404 for
    /// whichever is not the user's (the task first).
    async fn lock_task_and_tag(
        tx: &mut PgConnection,
        user_id: UserId,
        task_id: TaskId,
        tag_id: TagId,
    ) -> StoreResult<()> {
        tasks::find_task_for_update(&mut *tx, user_id, task_id)
            .await?
            .ok_or_else(task_not_found)?;
        if tags::lock_user_tags(&mut *tx, user_id, &[tag_id]).await? != 1 {
            return Err(tag_not_found());
        }
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> DatabaseBackend {
        DatabaseBackend::Postgres
    }

    fn health(&self) -> &DbHealth {
        &self.health
    }

    async fn probe(&self) -> Result<(), sqlx::Error> {
        let mut conn = PgConnection::connect_with(&self.options).await?;
        conn.ping().await?;
        conn.close().await
    }

    async fn create_database_if_missing(&self) -> Result<(), sqlx::Error> {
        if let Some(url) = &self.create_if_missing
            && !Postgres::database_exists(url).await?
        {
            Postgres::create_database(url).await?;
            tracing::info!("created the database named in DATABASE_URL");
        }
        Ok(())
    }

    async fn migrate_up(&self) -> Result<(), MigrateError> {
        migrations::up(&MIGRATOR, &self.pool).await
    }

    async fn migrate_down(&self, steps: usize) -> Result<Vec<i64>, MigrateError> {
        migrations::down(&MIGRATOR, &self.pool, steps).await
    }

    async fn migration_status(&self) -> Result<Vec<MigrationState>, MigrateError> {
        migrations::status(&MIGRATOR, &self.pool).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    async fn insert_user(
        &self,
        email: &Email,
        password_hash: &str,
        name: Option<&DisplayName>,
    ) -> StoreResult<User> {
        users::insert_user(&self.pool, email, password_hash, name)
            .await
            .on_unique_violation(email_taken)
    }

    async fn find_user(&self, id: UserId) -> StoreResult<Option<User>> {
        Ok(users::find_user(&self.pool, id).await?)
    }

    async fn find_user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        Ok(users::find_user_by_email(&self.pool, email).await?)
    }

    async fn update_profile(
        &self,
        id: UserId,
        name: Option<Option<&DisplayName>>,
        timezone: Option<&TimeZoneName>,
    ) -> StoreResult<Option<User>> {
        Ok(users::update_profile(&self.pool, id, name, timezone).await?)
    }

    async fn update_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<()> {
        Ok(users::update_password_hash(&self.pool, id, password_hash).await?)
    }

    async fn change_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: Uuid,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        users::update_password_hash(&mut *tx, id, password_hash).await?;
        sessions::revoke_other_sessions(&mut *tx, id, keep).await?;
        sessions::end_rotation_overlap(&mut *tx, keep).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        Ok(users::delete_user(&self.pool, id).await?)
    }

    async fn create_session(
        &self,
        id: Uuid,
        user_id: UserId,
        jti: Uuid,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        Ok(sessions::create_session(&self.pool, id, user_id, jti, expires_at).await?)
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
            &self.pool, id, user_id, old_jti, new_jti, issued_at, expires_at,
        )
        .await?)
    }

    async fn find_session(&self, id: Uuid, user_id: UserId) -> StoreResult<Option<RefreshSession>> {
        Ok(sessions::find_session(&self.pool, id, user_id).await?)
    }

    async fn revoke_session(&self, id: Uuid, user_id: UserId) -> StoreResult<()> {
        Ok(sessions::revoke_session(&self.pool, id, user_id).await?)
    }

    async fn session_is_live(&self, id: Uuid, user_id: UserId) -> StoreResult<Option<bool>> {
        Ok(sessions::session_is_live(&self.pool, id, user_id).await?)
    }

    async fn create_task(&self, user_id: UserId, task: TaskWrite) -> StoreResult<Task> {
        match task.tags.as_deref() {
            // Nothing to link: the insert alone, one statement and one round trip.
            None | Some([]) => {
                Ok(tasks::insert_task(&self.pool, user_id, &task.fields, None).await?)
            }
            Some(tags) => {
                let mut tx = self.begin().await?;
                let id = tasks::insert_task(&mut *tx, user_id, &task.fields, None)
                    .await?
                    .id;
                Self::set_tags(&mut tx, user_id, id, tags).await?;
                Self::commit_and_return(tx, user_id, id).await
            }
        }
    }

    async fn edit_task(
        &self,
        user_id: UserId,
        id: TaskId,
        edit: TaskEdit,
    ) -> StoreResult<EditedTask> {
        let mut tx = self.begin().await?;
        let before = tasks::find_task_for_update(&mut tx, user_id, id)
            .await?
            .ok_or_else(task_not_found)?;
        let write = edit(&before)?;
        tasks::update_task(&mut *tx, user_id, id, &write.fields).await?;
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
                let next_id = tasks::insert_task(&mut *tx, user_id, &fields, next.recurrence_start)
                    .await?
                    .id;
                tasks::copy_tags(&mut *tx, user_id, id, next_id).await?;
                tasks::set_successor(&mut *tx, user_id, id, next_id).await?;
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
        Ok(tasks::find_task(&self.pool, user_id, id).await?)
    }

    async fn delete_task(&self, user_id: UserId, id: TaskId) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
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
        let mut tx = self.begin().await?;
        Self::lock_task_and_tag(&mut tx, user_id, task_id, tag_id).await?;
        let created = tasks::link_tag(&mut *tx, user_id, task_id, tag_id).await?;
        if created {
            tasks::touch_task(&mut *tx, user_id, task_id).await?;
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
        let mut tx = self.begin().await?;
        Self::lock_task_and_tag(&mut tx, user_id, task_id, tag_id).await?;
        if tasks::unlink_tag(&mut *tx, user_id, task_id, tag_id).await? {
            tasks::touch_task(&mut *tx, user_id, task_id).await?;
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
        let mut conn = self.pool.acquire().await?;
        Ok(tasks::list_tasks(&mut conn, user_id, filter, sort, limit, offset).await?)
    }

    async fn claim_due_reminders(&self, limit: i64) -> StoreResult<Vec<ClaimedReminder>> {
        let claimed = tasks::claim_due_reminders(&self.pool, limit).await?;
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
        Ok(tasks::list_reminders(&self.pool, user_id, before).await?)
    }

    fn postgres_pool(&self) -> Option<PgPool> {
        Some(self.pool.clone())
    }

    async fn insert_tag(
        &self,
        user_id: UserId,
        name: &TagName,
        color: Option<&TagColor>,
    ) -> StoreResult<Tag> {
        tags::insert_tag(&self.pool, user_id, name, color)
            .await
            .on_unique_violation(tag_name_taken)
    }

    async fn list_tags(&self, user_id: UserId) -> StoreResult<Vec<Tag>> {
        Ok(tags::list_tags(&self.pool, user_id).await?)
    }

    async fn find_tag(&self, user_id: UserId, id: TagId) -> StoreResult<Option<Tag>> {
        Ok(tags::find_tag(&self.pool, user_id, id).await?)
    }

    async fn edit_tag(&self, user_id: UserId, id: TagId, edit: TagEdit) -> StoreResult<Tag> {
        let mut tx = self.begin().await?;
        let current = tags::find_tag_for_update(&mut tx, user_id, id)
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
        Ok(tags::delete_tag(&self.pool, user_id, id).await?)
    }
}
