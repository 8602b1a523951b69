//! Rate-limit budgets shared by every service process on one PostgreSQL database (see the
//! `shared_rate_limits` migration). On SQLite each process keeps its own in memory
//! (`core::rate_limit`); these methods are PostgreSQL's.
//!
//! A budget is a generic cell rate algorithm: one row per route and client address holding the
//! budget's theoretical arrival time (`tat`, Unix microseconds by the database's clock, so that
//! processes whose clocks differ still share one budget). A request is allowed when
//! `max(tat, now) <= now + tolerance`, and then moves `tat` to `max(tat, now) + interval`: with
//! `tolerance = (burst - 1) * interval`, `burst` requests may come at once, then one per
//! interval. Taking from a budget is one statement (an upsert that changes the row only when
//! the request is allowed), so concurrent requests through any process each see the others'.

use std::time::Duration;

use super::{Store, StoreResult, dialect::sql};

/// The database's clock in Unix microseconds.
macro_rules! now_us {
    () => {
        "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
    };
}

/// What taking from a budget found.
#[derive(sqlx::FromRow)]
struct Taken {
    allowed: bool,
    /// When refused: how long until a request would be allowed, in microseconds.
    wait_us: Option<i64>,
}

impl Store {
    /// Takes one request from the budget of `address` on `route` (`burst` at once, then one per
    /// `interval`); `None` when allowed, else how long to wait. PostgreSQL only.
    pub async fn take_rate_budget(
        &self,
        route: &str,
        address: &str,
        interval: Duration,
        burst: u32,
    ) -> StoreResult<Option<Duration>> {
        let sql = sql!(concat!(
            "WITH now AS (SELECT ",
            now_us!(),
            " AS t), \
             taken AS ( \
                 INSERT INTO rate_limits AS r (route, address, tat) \
                 SELECT $1, $2, t + $3 FROM now \
                 ON CONFLICT (route, address) DO UPDATE \
                     SET tat = greatest(r.tat, excluded.tat - $3) + $3 \
                     WHERE greatest(r.tat, excluded.tat - $3) <= excluded.tat - $3 + $4 \
                 RETURNING tat) \
             SELECT allowed, \
                    CASE WHEN NOT allowed THEN \
                        (SELECT r.tat - $4 - now.t FROM rate_limits r, now \
                         WHERE r.route = $1 AND r.address = $2) END AS wait_us \
             FROM (SELECT EXISTS (SELECT 1 FROM taken) AS allowed) AS outcome"
        ));
        // Whole microseconds, rounded up and at least one: with a zero interval, two attempts
        // whose statements read the clock out of their commit order could refuse each other.
        let interval_us =
            i64::try_from(interval.as_nanos().div_ceil(1000).max(1)).unwrap_or(i64::MAX / 4);
        let tolerance_us = interval_us.saturating_mul(i64::from(burst.saturating_sub(1)));
        let mut conn = self.backend.write(&self.health).await?;
        let taken: Taken = self
            .query(sql, (route, address, interval_us, tolerance_us))
            .fetch_one(conn.conn())
            .await?;
        conn.finish().await?;
        if taken.allowed {
            return Ok(None);
        }
        // The wait comes from the statement's snapshot: at least a moment when another request
        // took the budget's row meanwhile.
        let wait_us = taken.wait_us.unwrap_or(0).max(1);
        Ok(Some(Duration::from_micros(wait_us.unsigned_abs())))
    }

    /// Deletes the budgets that are whole again (their `tat` has passed), at most `limit` of
    /// them; returns how many went. PostgreSQL only.
    pub async fn prune_rate_budgets(&self, limit: i64) -> StoreResult<u64> {
        let sql = sql!(concat!(
            "DELETE FROM rate_limits WHERE (route, address) IN ( \
                 SELECT route, address FROM rate_limits WHERE tat < ",
            now_us!(),
            " LIMIT $1 FOR UPDATE SKIP LOCKED)"
        ));
        let mut conn = self.backend.write(&self.health).await?;
        let pruned = self.query(sql, (limit,)).execute(conn.conn()).await?;
        conn.finish().await?;
        Ok(pruned)
    }
}
