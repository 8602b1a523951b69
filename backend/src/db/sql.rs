//! The executor seam: one query, written once, runs on either backend.
//!
//! A [`Query`] is SQL text (rendered for the store's [`Dialect`]) and its bound values. Values
//! are bound with their own types ([`Value`]: anything both drivers can encode), so a title
//! stays a title until the driver encodes it; the few types whose storage differs between the
//! backends ([`Timestamp`], [`IdList`]) encode themselves per backend. Rows come back as any
//! [`Record`] (a type both drivers can decode, which `#[derive(sqlx::FromRow)]` gives).
//!
//! The cost of the seam is one `match` per statement; the SQL, the binds and the decoding are
//! sqlx's own.

use std::{
    borrow::Cow,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::{
    Arguments, Connection, Encode, Postgres, Sqlite, Type,
    encode::IsNull,
    error::BoxDynError,
    pool::PoolConnection,
    postgres::{PgArgumentBuffer, PgArguments, PgConnection, PgRow, PgTypeInfo},
    sqlite::{
        SqliteArgumentValue, SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteRow,
        SqliteTypeInfo,
    },
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::dialect::{Dialect, storage_fault};
use crate::{core::db_health::DbHealth, models::TagId};

/// A value both drivers can bind.
pub trait Value<'q>:
    'q + Send + Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite>
{
}

impl<'q, T> Value<'q> for T where
    T: 'q + Send + Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite>
{
}

/// A row type both drivers can decode.
pub trait Record:
    Send + Unpin + for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow>
{
}

impl<T> Record for T where
    T: Send + Unpin + for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow>
{
}

/// Values bound in order: a tuple of [`Value`]s.
pub trait Binds<'q> {
    fn bind_to(self, query: Query<'q>) -> Query<'q>;
}

macro_rules! tuple_binds {
    ($($value:ident)*) => {
        impl<'q, $($value: Value<'q>),*> Binds<'q> for ($($value,)*) {
            #[allow(non_snake_case, reason = "the type parameters name the values")]
            fn bind_to(self, query: Query<'q>) -> Query<'q> {
                let ($($value,)*) = self;
                query$(.bind($value))*
            }
        }
    };
}

tuple_binds!();
tuple_binds!(A);
tuple_binds!(A B);
tuple_binds!(A B C);
tuple_binds!(A B C D);
tuple_binds!(A B C D E);
tuple_binds!(A B C D E F);
tuple_binds!(A B C D E F G);
tuple_binds!(A B C D E F G H);

/// Whether a PostgreSQL statement stays prepared on its connection for the next run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepared {
    /// Kept (by name, in sqlx's per-connection cache): parsed and planned once per connection.
    Kept,
    /// Parsed anew for each run, as an unnamed statement: behind a transaction-mode pooler the
    /// next transaction may run on another server session, which never saw the statement.
    Once,
}

/// A connection of either backend, borrowed for some statements, and the health its storage
/// failures are reported to.
pub struct Conn<'c> {
    link: Link<'c>,
    health: &'c DbHealth,
}

enum Link<'c> {
    Postgres(&'c mut PgConnection, Prepared),
    Sqlite(&'c mut SqliteConnection),
}

impl Conn<'_> {
    /// The same connection for one more statement.
    pub fn reborrow(&mut self) -> Conn<'_> {
        let link = match &mut self.link {
            Link::Postgres(conn, prepared) => Link::Postgres(conn, *prepared),
            Link::Sqlite(conn) => Link::Sqlite(conn),
        };
        Conn {
            link,
            health: self.health,
        }
    }
}

/// A pooled connection of either backend, for a unit of work of a few statements. A unit that
/// writes ends with [`Pooled::finish`].
pub struct Pooled {
    unit: Unit,
    health: DbHealth,
}

enum Unit {
    Postgres(PoolConnection<Postgres>),
    /// Behind a transaction-mode pooler, a unit is a transaction of its own: the extended
    /// protocol sends each statement in two halves (parse, then bind and execute), and only an
    /// open transaction keeps both halves on one server session. Dropped without
    /// [`Pooled::finish`] (a read, or a request abandoned by its client), it rolls back.
    PostgresPooler(sqlx::Transaction<'static, Postgres>),
    /// A reader.
    Sqlite(PoolConnection<Sqlite>),
    SqliteWriter(SqliteWriterConn),
}

impl Pooled {
    pub(super) fn postgres(conn: PoolConnection<Postgres>, health: &DbHealth) -> Self {
        Self::of(Unit::Postgres(conn), health)
    }

    pub(super) fn postgres_pooler(
        tx: sqlx::Transaction<'static, Postgres>,
        health: &DbHealth,
    ) -> Self {
        Self::of(Unit::PostgresPooler(tx), health)
    }

    pub(super) fn sqlite(conn: PoolConnection<Sqlite>, health: &DbHealth) -> Self {
        Self::of(Unit::Sqlite(conn), health)
    }

    pub(super) fn sqlite_writer(conn: SqliteWriterConn, health: &DbHealth) -> Self {
        Self::of(Unit::SqliteWriter(conn), health)
    }

    fn of(unit: Unit, health: &DbHealth) -> Self {
        Self {
            unit,
            health: health.clone(),
        }
    }

    pub fn conn(&mut self) -> Conn<'_> {
        let link = match &mut self.unit {
            Unit::Postgres(conn) => Link::Postgres(conn, Prepared::Kept),
            Unit::PostgresPooler(tx) => Link::Postgres(tx, Prepared::Once),
            Unit::Sqlite(conn) => Link::Sqlite(conn),
            Unit::SqliteWriter(conn) => Link::Sqlite(conn.connection()),
        };
        Conn {
            link,
            health: &self.health,
        }
    }

    /// Ends a unit that wrote: commits it behind a pooler (where each statement ran in the
    /// unit's transaction); elsewhere each statement committed as it ran to its end, and this
    /// only records that the unit's writes succeeded.
    pub async fn finish(self) -> Result<(), sqlx::Error> {
        let committed = match self.unit {
            Unit::PostgresPooler(tx) => tx.commit().await,
            Unit::Postgres(_) | Unit::Sqlite(_) | Unit::SqliteWriter(_) => Ok(()),
        };
        reported(&self.health, committed)?;
        self.health.write_succeeded();
        Ok(())
    }
}

/// An open transaction of either backend; dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    unit: TxUnit,
    health: DbHealth,
}

enum TxUnit {
    Postgres(sqlx::Transaction<'static, Postgres>, Prepared),
    Sqlite(SqliteTx),
}

impl Tx {
    pub(super) fn postgres(
        tx: sqlx::Transaction<'static, Postgres>,
        prepared: Prepared,
        health: &DbHealth,
    ) -> Self {
        Self {
            unit: TxUnit::Postgres(tx, prepared),
            health: health.clone(),
        }
    }

    /// `BEGIN IMMEDIATE` on SQLite's writer connection.
    pub(super) async fn sqlite(
        writer: SqliteWriterConn,
        health: &DbHealth,
    ) -> Result<Self, sqlx::Error> {
        Ok(Self {
            unit: TxUnit::Sqlite(SqliteTx::begin(writer).await?),
            health: health.clone(),
        })
    }

    pub fn conn(&mut self) -> Conn<'_> {
        let link = match &mut self.unit {
            TxUnit::Postgres(tx, prepared) => Link::Postgres(tx, *prepared),
            TxUnit::Sqlite(tx) => Link::Sqlite(tx.connection()),
        };
        Conn {
            link,
            health: &self.health,
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let committed = match self.unit {
            TxUnit::Postgres(tx, _) => tx.commit().await,
            TxUnit::Sqlite(tx) => tx.commit().await,
        };
        reported(&self.health, committed)?;
        self.health.write_succeeded();
        Ok(())
    }
}

/// A write transaction on SQLite's one writer connection, begun and ended with statements of
/// the store's own rather than by sqlx's `Transaction`. sqlx (0.8) counts a SQLite
/// transaction's depth itself and lowers it only when its `COMMIT` or `ROLLBACK` succeeds; but
/// SQLite rolls a transaction back by itself when its `COMMIT` fails for a full disk or an I/O
/// error, so the `ROLLBACK` that follows fails too ("no transaction is active"), the count
/// stays raised, and every later `BEGIN IMMEDIATE` on the writer would be refused until the
/// process restarts. Here a transaction that is not committed is rolled back before its
/// connection goes back to the pool, and a connection whose `ROLLBACK` fails is closed (the pool
/// opens a fresh writer), so writes resume by themselves when the storage does.
pub struct SqliteTx {
    /// `None` only while being dropped or committed.
    conn: Option<SqliteWriterConn>,
    /// Whether a transaction may be open on `conn`.
    open: bool,
}

impl SqliteTx {
    async fn begin(writer: SqliteWriterConn) -> Result<Self, sqlx::Error> {
        // Open from before the `BEGIN` is sent: if this future is dropped while the `BEGIN`
        // is in flight, the `ROLLBACK` queued behind it on the connection ends it.
        let mut tx = Self {
            conn: Some(writer),
            open: true,
        };
        let begun = sqlx::query("BEGIN IMMEDIATE")
            .execute(tx.connection())
            .await;
        if begun.is_err() {
            // Refused (another process holds the write lock past the busy timeout): nothing
            // is open.
            tx.open = false;
        }
        begun.map(|_| tx)
    }

    fn connection(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("a transaction holds its connection")
            .connection()
    }

    async fn commit(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("COMMIT").execute(self.connection()).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.open {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let rollback = sqlx::query("ROLLBACK").execute(conn.connection());
                    if rollback.await.is_err() {
                        // Already rolled back by SQLite (after a failed COMMIT or a statement
                        // that failed for the storage), or not sure: a fresh connection is.
                        conn.close().await;
                    }
                });
            }
            // No runtime to roll back on: closing the connection rolls back.
            Err(_) => conn.close_on_drop(),
        }
    }
}

/// SQLite's writer connection, for one unit of work.
pub enum SqliteWriterConn {
    /// The one the store holds for a database file ([`SqliteWriter`]).
    Held(OwnedMutexGuard<Option<SqliteConnection>>),
    /// The writer pool's (in memory, where the database lives in that one connection).
    Pooled(PoolConnection<Sqlite>),
}

impl SqliteWriterConn {
    fn connection(&mut self) -> &mut SqliteConnection {
        match self {
            Self::Held(slot) => slot.as_mut().expect("a held writer is open"),
            Self::Pooled(conn) => conn,
        }
    }

    /// Closes the connection; the next write opens a fresh one.
    async fn close(self) {
        match self {
            Self::Held(mut slot) => {
                if let Some(conn) = slot.take() {
                    let _ = conn.close().await;
                }
            }
            Self::Pooled(conn) => {
                let _ = conn.close().await;
            }
        }
    }

    /// Closes the connection without waiting: the guard's slot is emptied now, the pool's
    /// connection closed when dropped.
    fn close_on_drop(self) {
        match self {
            Self::Held(mut slot) => drop(slot.take()),
            Self::Pooled(mut conn) => conn.close_on_drop(),
        }
    }
}

/// SQLite's one writer connection to a database file, held by the store rather than by a pool.
/// Every write queues for it, so how fast it passes from one write to the next bounds how
/// many writes a second the service makes: here that is one lock's hand-off, where a pool's
/// release spawns a task that pings the connection before the next write may have it (about a
/// tenth of a create's throughput once each write waits for its statement's end). Opened at
/// start, and again after it was closed (see [`SqliteTx`]).
#[derive(Clone)]
pub struct SqliteWriter {
    slot: Arc<Mutex<Option<SqliteConnection>>>,
    options: Arc<SqliteConnectOptions>,
    closed: Arc<AtomicBool>,
}

impl SqliteWriter {
    pub async fn open(options: SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let conn = SqliteConnection::connect_with(&options).await?;
        Ok(Self {
            slot: Arc::new(Mutex::new(Some(conn))),
            options: Arc::new(options),
            closed: Arc::default(),
        })
    }

    /// The writer, once the writes before this one are done with it; `PoolTimedOut` after
    /// `wait`, as a pool would answer.
    pub async fn acquire(&self, wait: Duration) -> Result<SqliteWriterConn, sqlx::Error> {
        let locked = tokio::time::timeout(wait, self.slot.clone().lock_owned());
        let mut slot = locked.await.map_err(|_| sqlx::Error::PoolTimedOut)?;
        if self.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        if slot.is_none() {
            *slot = Some(SqliteConnection::connect_with(&self.options).await?);
        }
        Ok(SqliteWriterConn::Held(slot))
    }

    /// Closes the connection once the write holding it is done; no write may have it again.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(conn) = self.slot.lock().await.take() {
            let _ = conn.close().await;
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// `result`, having told `health` when it failed because of the storage.
fn reported<T>(health: &DbHealth, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
    if let Err(error) = &result
        && let Some(fault) = storage_fault(error)
    {
        health.storage_failed(fault, error);
    }
    result
}

enum Args<'q> {
    Postgres(PgArguments),
    Sqlite(SqliteArguments<'q>),
}

/// A statement and its values. Placeholders are `$1`, `$2`, … on both backends.
pub struct Query<'q> {
    sql: Cow<'static, str>,
    args: Args<'q>,
    /// The first value that failed to encode; reported when the query runs, as sqlx does.
    error: Option<BoxDynError>,
}

impl<'q> Query<'q> {
    pub fn new(dialect: Dialect, sql: impl Into<Cow<'static, str>>) -> Self {
        let args = match dialect {
            Dialect::Postgres => Args::Postgres(PgArguments::default()),
            Dialect::Sqlite => Args::Sqlite(SqliteArguments::default()),
        };
        Self {
            sql: sql.into(),
            args,
            error: None,
        }
    }

    pub fn bind(mut self, value: impl Value<'q>) -> Self {
        self.add(value);
        self
    }

    /// Binds each value of a tuple in turn.
    pub fn binds(self, values: impl Binds<'q>) -> Self {
        values.bind_to(self)
    }

    fn add(&mut self, value: impl Value<'q>) {
        let added = match &mut self.args {
            Args::Postgres(args) => args.add(value),
            Args::Sqlite(args) => args.add(value),
        };
        if let Err(error) = added {
            self.error.get_or_insert(error);
        }
    }

    /// Appends SQL text (for statements built piece by piece).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Appends the next placeholder and binds `value` to it.
    pub fn push_bind(&mut self, value: impl Value<'q>) -> &mut Self {
        let next = match &self.args {
            Args::Postgres(args) => args.len(),
            Args::Sqlite(args) => args.len(),
        } + 1;
        self.sql.to_mut().push_str(&format!("${next}"));
        self.add(value);
        self
    }

    /// The SQL and arguments, or the first value that failed to encode.
    fn parts(self) -> Result<(Cow<'static, str>, Args<'q>), sqlx::Error> {
        match self.error {
            Some(error) => Err(sqlx::Error::Encode(error)),
            None => Ok((self.sql, self.args)),
        }
    }

    // Every way to run a statement steps it to its end before its outcome is used: a row
    // handed back before then may belong to a write that SQLite has not committed yet, and
    // whose commit (its full disk, its I/O error, its deferred constraint) would fail unseen.

    /// Runs the statement; the number of rows it changed.
    pub async fn execute(self, conn: Conn<'_>) -> Result<u64, sqlx::Error> {
        let health = conn.health;
        let result = on_either!(self, conn.link => conn, sqlx::query_with, |query| query
            .execute(conn)
            .await
            .map(|done| done.rows_affected()));
        reported(health, result)
    }

    pub async fn fetch_all<T: Record>(self, conn: Conn<'_>) -> Result<Vec<T>, sqlx::Error> {
        let health = conn.health;
        let result = on_either!(self, conn.link => conn, sqlx::query_as_with, |query| query
            .fetch_all(conn)
            .await);
        reported(health, result)
    }

    /// The first row, once the statement has run to its end.
    pub async fn fetch_optional<T: Record>(self, conn: Conn<'_>) -> Result<Option<T>, sqlx::Error> {
        let health = conn.health;
        let (sql, args) = self.parts()?;
        let result = match (conn.link, args) {
            (Link::Postgres(conn, prepared), Args::Postgres(args)) => {
                let query = sqlx::query_as_with(&sql, args).persistent(prepared == Prepared::Kept);
                #[allow(
                    clippy::disallowed_methods,
                    reason = "sqlx-postgres reads every message of the statement before it \
                              answers, errors after the row included (db::commit_failures \
                              holds it to that)"
                )]
                query.fetch_optional(conn).await
            }
            (Link::Sqlite(conn), Args::Sqlite(args)) => {
                #[allow(
                    clippy::disallowed_methods,
                    reason = "the one place that reads rows one at a time, and it reads them all"
                )]
                let rows = sqlx::query_as_with(&sql, args).fetch(conn);
                first_of_all(rows).await
            }
            _ => Err(mismatch()),
        };
        reported(health, result)
    }

    pub async fn fetch_one<T: Record>(self, conn: Conn<'_>) -> Result<T, sqlx::Error> {
        self.fetch_optional(conn)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
}

/// The first of `rows`, read to their end: the statement has finished (and, outside a
/// transaction, committed or failed) when this returns.
async fn first_of_all<T>(
    mut rows: impl futures_util::Stream<Item = Result<T, sqlx::Error>> + Unpin,
) -> Result<Option<T>, sqlx::Error> {
    let first = rows.try_next().await?;
    while rows.try_next().await?.is_some() {}
    Ok(first)
}

/// Builds the sqlx query (`$make`: `sqlx::query_with` or `sqlx::query_as_with`) for the
/// connection's backend and runs `$run` with it, `$conn` bound to the concrete connection.
macro_rules! on_either {
    ($query:ident, $link:expr => $conn:ident, $make:path, |$built:ident| $run:expr) => {{
        let (sql, args) = $query.parts()?;
        match ($link, args) {
            (Link::Postgres($conn, prepared), Args::Postgres(args)) => {
                let $built = $make(&sql, args).persistent(prepared == Prepared::Kept);
                $run
            }
            (Link::Sqlite($conn), Args::Sqlite(args)) => {
                let $built = $make(&sql, args);
                $run
            }
            _ => Err(mismatch()),
        }
    }};
}
use on_either;

fn mismatch() -> sqlx::Error {
    sqlx::Error::Protocol("a query was built for the other database backend".into())
}

/// A point in time as each backend stores it: `timestamptz` on PostgreSQL; on SQLite, UTC text
/// of fixed width with microseconds (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), so that comparing the text
/// compares the times. Both decode back into `DateTime<Utc>`.
#[derive(Clone, Copy, Debug)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    pub fn text(self) -> String {
        self.0.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

stored_as!(Timestamp, DateTime<Utc>, |at| at.0, at.text());

/// A list of ids, for `{any $n}`: an `int8[]` on PostgreSQL, a JSON array on SQLite.
#[derive(Clone, Debug)]
pub struct IdList(Vec<i64>);

impl From<&[TagId]> for IdList {
    fn from(ids: &[TagId]) -> Self {
        Self(ids.iter().map(|id| id.get()).collect())
    }
}

impl From<Vec<i64>> for IdList {
    fn from(ids: Vec<i64>) -> Self {
        Self(ids)
    }
}

stored_as!(
    IdList,
    Vec<i64>,
    |ids| ids.0,
    serde_json::Value::from(ids.0.clone()).to_string()
);

/// How a type whose storage differs is bound: as `$pg` (from `$pg_value`) on PostgreSQL, as text
/// (`$text`) on SQLite. `$value` names the value in both expressions.
macro_rules! stored_as {
    ($name:ty, $pg:ty, |$value:ident| $pg_value:expr, $text:expr) => {
        impl Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <$pg as Type<Postgres>>::type_info()
            }
        }

        impl Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                let $value = self;
                <$pg as Encode<Postgres>>::encode_by_ref(&$pg_value, buf)
            }
        }

        impl Type<Sqlite> for $name {
            fn type_info() -> SqliteTypeInfo {
                <String as Type<Sqlite>>::type_info()
            }
        }

        impl<'q> Encode<'q, Sqlite> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut Vec<SqliteArgumentValue<'q>>,
            ) -> Result<IsNull, BoxDynError> {
                let $value = self;
                <String as Encode<Sqlite>>::encode($text, buf)
            }
        }
    };
}
use stored_as;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_times_are_fixed_width_utc_with_microseconds() {
        let at = DateTime::parse_from_rfc3339("0042-03-04T05:06:07.5+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(Timestamp(at).text(), "0042-03-04T04:06:07.500000Z");
    }

    #[test]
    fn pushed_binds_are_numbered_in_order() {
        let mut query = Query::new(Dialect::Sqlite, "SELECT 1 WHERE a = ");
        query.push_bind(1_i64).push(" AND b = ").push_bind("x");
        assert_eq!(query.sql, "SELECT 1 WHERE a = $1 AND b = $2");
    }
}
