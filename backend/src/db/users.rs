//! Accounts.

use uuid::Uuid;

use super::{Store, StoreResult, dialect::sql, now, sql::Timestamp};
use crate::models::{DisplayName, Email, TimeZoneName, User, UserId};

macro_rules! user_columns {
    () => {
        "id, email, password_hash, name, timezone, created_at, updated_at"
    };
}

impl Store {
    /// `Conflict(UserEmail)` when the (lower-cased) email is taken, however concurrently.
    pub async fn insert_user(
        &self,
        email: &Email,
        password_hash: &str,
        name: Option<&DisplayName>,
    ) -> StoreResult<User> {
        let sql = sql!(
            self.dialect,
            concat!(
                "INSERT INTO users (id, email, password_hash, name, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
                user_columns!()
            )
        );
        let mut conn = self.backend.write().await?;
        Ok(self
            .query(sql)
            .bind(UserId::new())
            .bind(email.as_str())
            .bind(password_hash)
            .bind(name.map(DisplayName::as_str))
            .bind(Timestamp(now()))
            .fetch_one(conn.conn())
            .await?)
    }

    pub async fn find_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let sql = sql!(
            self.dialect,
            concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1")
        );
        let mut conn = self.backend.read().await?;
        Ok(self.query(sql).bind(id).fetch_optional(conn.conn()).await?)
    }

    /// `email` is lower-cased, as stored.
    pub async fn find_user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let sql = sql!(
            self.dialect,
            concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1")
        );
        let mut conn = self.backend.read().await?;
        Ok(self
            .query(sql)
            .bind(email.as_str())
            .fetch_optional(conn.conn())
            .await?)
    }

    /// Changes the fields given; `name: Some(None)` clears the name.
    pub async fn update_profile(
        &self,
        id: UserId,
        name: Option<Option<&DisplayName>>,
        timezone: Option<&TimeZoneName>,
    ) -> StoreResult<Option<User>> {
        let sql = sql!(
            self.dialect,
            concat!(
                "UPDATE users SET name = CASE WHEN $2 THEN $3 ELSE name END, \
                     timezone = COALESCE($4, timezone), updated_at = $5 \
                 WHERE id = $1 RETURNING ",
                user_columns!()
            )
        );
        let mut conn = self.backend.write().await?;
        Ok(self
            .query(sql)
            .bind(id)
            .bind(name.is_some())
            .bind(name.flatten().map(DisplayName::as_str))
            .bind(timezone.map(TimeZoneName::as_str))
            .bind(Timestamp(now()))
            .fetch_optional(conn.conn())
            .await?)
    }

    pub async fn update_password_hash(&self, id: UserId, password_hash: &str) -> StoreResult<()> {
        let mut conn = self.backend.write().await?;
        self.set_password_hash(id, password_hash)
            .execute(conn.conn())
            .await?;
        Ok(())
    }

    fn set_password_hash<'q>(&self, id: UserId, password_hash: &'q str) -> super::sql::Query<'q> {
        let sql = sql!(
            self.dialect,
            "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1"
        );
        self.query(sql)
            .bind(id)
            .bind(password_hash)
            .bind(Timestamp(now()))
    }

    /// Sets the hash, revokes every session but `keep` and ends `keep`'s rotation overlap, in
    /// one transaction.
    pub async fn change_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: Uuid,
    ) -> StoreResult<()> {
        let revoke_others = sql!(
            self.dialect,
            "UPDATE refresh_sessions SET revoked_at = $3 \
             WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL"
        );
        let end_overlap = sql!(
            self.dialect,
            "UPDATE refresh_sessions SET previous_jti = NULL WHERE id = $1"
        );
        let mut tx = self.backend.begin().await?;
        self.set_password_hash(id, password_hash)
            .execute(tx.conn())
            .await?;
        self.query(revoke_others)
            .bind(id)
            .bind(keep)
            .bind(Timestamp(now()))
            .execute(tx.conn())
            .await?;
        self.query(end_overlap)
            .bind(keep)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the user and, by cascade, their sessions, tasks and tags.
    pub async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        let sql = sql!(self.dialect, "DELETE FROM users WHERE id = $1");
        let mut conn = self.backend.write().await?;
        let deleted = self.query(sql).bind(id).execute(conn.conn()).await?;
        Ok(deleted == 1)
    }
}
