//! Accounts.

use super::{Store, StoreResult, dialect::sql, sessions::live_session, sql::Query};
use crate::models::{Caller, DisplayName, Email, TimeZoneName, User, UserId};

macro_rules! user_columns {
    () => {
        "id, email, password_hash, name, timezone, created_at, updated_at"
    };
}

impl Store {
    /// `Conflict(UserEmail)` when the (lower-cased) email is taken, however concurrently. The
    /// account comes with its default statuses and priorities, in the same transaction.
    pub async fn insert_user(
        &self,
        email: &Email,
        password_hash: &str,
        name: Option<&DisplayName>,
    ) -> StoreResult<User> {
        let sql = sql!(concat!(
            "INSERT INTO users (id, email, password_hash, name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
            user_columns!()
        ));
        let name = name.map(DisplayName::as_str);
        let (id, now) = (UserId::new(), self.now());
        let values = (id, email.as_str(), password_hash, name, now);
        let mut tx = self.backend.begin(&self.health).await?;
        let user = self.query(sql, values).fetch_one(tx.conn()).await?;
        self.insert_default_categories(&mut tx, id, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// The caller's account.
    pub async fn find_user(&self, caller: &Caller) -> StoreResult<User> {
        let sql = sql!(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1 AND ",
            live_session!("$2", "$1")
        ));
        let mut conn = self.backend.read(&self.health).await?;
        let user = self
            .query(sql, (caller.user_id, caller.session_id))
            .fetch_optional(conn.conn())
            .await?;
        self.found_unless_ended(conn.conn(), caller, user).await
    }

    /// `email` is lower-cased, as stored.
    pub async fn find_user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let sql = sql!(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = $1"
        ));
        let mut conn = self.backend.read(&self.health).await?;
        Ok(self
            .query(sql, (email.as_str(),))
            .fetch_optional(conn.conn())
            .await?)
    }

    /// Changes the fields given; `name: Some(None)` clears the name.
    pub async fn update_profile(
        &self,
        caller: &Caller,
        name: Option<Option<&DisplayName>>,
        timezone: Option<&TimeZoneName>,
    ) -> StoreResult<User> {
        let sql = sql!(concat!(
            "UPDATE users SET name = CASE WHEN $2 THEN $3 ELSE name END, \
                 timezone = COALESCE($4, timezone), updated_at = $5 \
             WHERE id = $1 AND ",
            live_session!("$6", "$1"),
            " RETURNING ",
            user_columns!()
        ));
        let (set_name, name) = (name.is_some(), name.flatten().map(DisplayName::as_str));
        let timezone = timezone.map(TimeZoneName::as_str);
        let values = (
            caller.user_id,
            set_name,
            name,
            timezone,
            self.now(),
            caller.session_id,
        );
        let mut conn = self.backend.write(&self.health).await?;
        let user = self.query(sql, values).fetch_optional(conn.conn()).await?;
        let user = self.found_unless_ended(conn.conn(), caller, user).await?;
        conn.finish().await?;
        Ok(user)
    }

    pub async fn update_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<()> {
        let mut conn = self.backend.write(&self.health).await?;
        self.set_password_hash(id, password_hash)
            .execute(conn.conn())
            .await?;
        Ok(conn.finish().await?)
    }

    fn set_password_hash<'q>(&self, id: UserId, password_hash: &'q str) -> Query<'q> {
        let sql = sql!("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1");
        self.query(sql, (id, password_hash, self.now()))
    }

    /// Sets the hash, revokes every session but the caller's and ends the caller's rotation
    /// overlap, in one transaction.
    pub async fn change_password(&self, caller: &Caller, password_hash: &str) -> StoreResult<()> {
        let (id, keep) = (caller.user_id, caller.session_id);
        let revoke_others = sql!(
            "UPDATE refresh_sessions SET revoked_at = $3 \
             WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL"
        );
        let end_overlap =
            sql!("UPDATE refresh_sessions SET previous_jti = NULL WHERE id = $1 AND user_id = $2");
        let mut tx = self.backend.begin(&self.health).await?;
        self.session_is_live(tx.conn(), caller).await?;
        self.set_password_hash(id, password_hash)
            .execute(tx.conn())
            .await?;
        self.query(revoke_others, (id, keep, self.now()))
            .execute(tx.conn())
            .await?;
        self.query(end_overlap, (keep, id))
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the caller's account and, by cascade, their sessions, tasks and tags.
    pub async fn delete_user(&self, caller: &Caller) -> StoreResult<()> {
        let sql = sql!(concat!(
            "DELETE FROM users WHERE id = $1 AND ",
            live_session!("$2", "$1")
        ));
        let mut conn = self.backend.write(&self.health).await?;
        let deleted = self
            .query(sql, (caller.user_id, caller.session_id))
            .execute(conn.conn())
            .await?;
        let deleted = (deleted == 1).then_some(());
        self.found_unless_ended(conn.conn(), caller, deleted)
            .await?;
        Ok(conn.finish().await?)
    }
}
