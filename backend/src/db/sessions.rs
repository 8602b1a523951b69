//! Login sessions: creation, rotation, revocation.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    SessionEnd, Store, StoreError, StoreResult,
    dialect::sql,
    sql::{Conn, Timestamp},
};
use crate::models::{Caller, RefreshSession, UserId};

/// The condition "the caller's session is live", for folding the session check into a
/// statement: `$s` binds the session id and `$u` the user id.
macro_rules! live_session {
    ($s:literal, $u:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM refresh_sessions s WHERE s.id = ",
            $s,
            " AND s.user_id = ",
            $u,
            " AND s.revoked_at IS NULL)"
        )
    };
}
pub(super) use live_session;

impl Store {
    pub async fn create_session(
        &self,
        id: Uuid,
        user_id: UserId,
        jti: Uuid,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sql = sql!(
            "INSERT INTO refresh_sessions (id, user_id, current_jti, created_at, last_used_at, \
                                           expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5)"
        );
        let values = (id, user_id, jti, self.now(), Timestamp(expires_at));
        let mut conn = self.backend.write(&self.health).await?;
        self.query(sql, values).execute(conn.conn()).await?;
        Ok(conn.finish().await?)
    }

    /// Swaps `old_jti` for `new_jti` (issued at `issued_at`) if and only if `old_jti` is the
    /// live session's current token, and keeps `old_jti` as the session's `previous_jti`. One
    /// statement, so of two concurrent uses of one token exactly one rotates.
    pub async fn rotate_session(
        &self,
        id: Uuid,
        user_id: UserId,
        old_jti: Uuid,
        new_jti: Uuid,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let sql = sql!(
            "UPDATE refresh_sessions \
             SET previous_jti = current_jti, current_jti = $4, rotated_at = $5, expires_at = $6, \
                 last_used_at = $7 \
             WHERE id = $1 AND user_id = $2 AND current_jti = $3 \
               AND revoked_at IS NULL AND expires_at > $7"
        );
        let (issued_at, expires_at) = (Timestamp(issued_at), Timestamp(expires_at));
        let values = (
            id,
            user_id,
            old_jti,
            new_jti,
            issued_at,
            expires_at,
            self.now(),
        );
        let mut conn = self.backend.write(&self.health).await?;
        let rotated = self.query(sql, values).execute(conn.conn()).await? == 1;
        conn.finish().await?;
        Ok(rotated)
    }

    pub async fn find_session(
        &self,
        id: Uuid,
        user_id: UserId,
    ) -> StoreResult<Option<RefreshSession>> {
        let sql = sql!(
            "SELECT id, user_id, current_jti, expires_at, revoked_at, previous_jti, rotated_at \
             FROM refresh_sessions WHERE id = $1 AND user_id = $2"
        );
        let mut conn = self.backend.read(&self.health).await?;
        Ok(self
            .query(sql, (id, user_id))
            .fetch_optional(conn.conn())
            .await?)
    }

    pub async fn revoke_session(&self, id: Uuid, user_id: UserId) -> StoreResult<()> {
        let sql = sql!(
            "UPDATE refresh_sessions SET revoked_at = $3 \
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL"
        );
        let mut conn = self.backend.write(&self.health).await?;
        self.query(sql, (id, user_id, self.now()))
            .execute(conn.conn())
            .await?;
        Ok(conn.finish().await?)
    }

    /// Refuses a caller whose session has ended; for requests whose work needs no connection
    /// of its own (the event stream).
    pub async fn check_session(&self, caller: &Caller) -> StoreResult<()> {
        let mut conn = self.backend.read(&self.health).await?;
        self.session_is_live(conn.conn(), caller).await
    }

    /// After a statement with the session check folded in found nothing: the check alone
    /// tells "the session has ended" from "there is nothing there".
    pub(super) async fn unless_ended<T>(
        &self,
        conn: Conn<'_>,
        caller: &Caller,
        found: Option<T>,
    ) -> StoreResult<Option<T>> {
        if found.is_none() {
            self.session_is_live(conn, caller).await?;
        }
        Ok(found)
    }

    /// What a statement with the session check folded in found, which must be there unless
    /// the session has ended (an insert gated by the check, or the caller's own account).
    pub(super) async fn found_unless_ended<T>(
        &self,
        conn: Conn<'_>,
        caller: &Caller,
        found: Option<T>,
    ) -> StoreResult<T> {
        let found = self.unless_ended(conn, caller, found).await?;
        found.ok_or(StoreError::SessionEnded(SessionEnd::Gone))
    }

    /// Refuses a caller whose session has ended, on the connection the request's work uses.
    pub(super) async fn session_is_live(&self, conn: Conn<'_>, caller: &Caller) -> StoreResult<()> {
        let sql =
            sql!("SELECT revoked_at IS NULL FROM refresh_sessions WHERE id = $1 AND user_id = $2");
        let live: Option<(bool,)> = self
            .query(sql, (caller.session_id, caller.user_id))
            .fetch_optional(conn)
            .await?;
        match live {
            Some((true,)) => Ok(()),
            Some((false,)) => Err(StoreError::SessionEnded(SessionEnd::Revoked)),
            None => Err(StoreError::SessionEnded(SessionEnd::Gone)),
        }
    }
}
