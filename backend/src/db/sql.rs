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

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::{
    Arguments, Encode, Postgres, Sqlite, Type,
    encode::IsNull,
    error::BoxDynError,
    pool::PoolConnection,
    postgres::{PgArgumentBuffer, PgArguments, PgConnection, PgRow, PgTypeInfo},
    sqlite::{SqliteArgumentValue, SqliteArguments, SqliteConnection, SqliteRow, SqliteTypeInfo},
};

use super::dialect::Dialect;
use crate::models::TagId;

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

/// A connection of either backend, borrowed for some statements.
pub enum Conn<'c> {
    Postgres(&'c mut PgConnection, Prepared),
    Sqlite(&'c mut SqliteConnection),
}

impl Conn<'_> {
    /// The same connection for one more statement.
    pub fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Self::Postgres(conn, prepared) => Conn::Postgres(conn, *prepared),
            Self::Sqlite(conn) => Conn::Sqlite(conn),
        }
    }
}

/// A pooled connection of either backend, for a unit of work of a few statements. A unit that
/// writes ends with [`Pooled::finish`].
pub enum Pooled {
    Postgres(PoolConnection<Postgres>),
    /// Behind a transaction-mode pooler, a unit is a transaction of its own: the extended
    /// protocol sends each statement in two halves (parse, then bind and execute), and only an
    /// open transaction keeps both halves on one server session. Dropped without
    /// [`Pooled::finish`] (a read, or a request abandoned by its client), it rolls back.
    PostgresPooler(sqlx::Transaction<'static, Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

impl Pooled {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Postgres(conn) => Conn::Postgres(conn, Prepared::Kept),
            Self::PostgresPooler(tx) => Conn::Postgres(tx, Prepared::Once),
            Self::Sqlite(conn) => Conn::Sqlite(conn),
        }
    }

    /// Ends a unit that wrote: commits it behind a pooler (where each statement ran in the
    /// unit's transaction); elsewhere each statement committed as it ran and this does nothing.
    pub async fn finish(self) -> Result<(), sqlx::Error> {
        match self {
            Self::PostgresPooler(tx) => tx.commit().await,
            Self::Postgres(_) | Self::Sqlite(_) => Ok(()),
        }
    }
}

/// An open transaction of either backend; dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    Postgres(sqlx::Transaction<'static, Postgres>, Prepared),
    Sqlite(sqlx::Transaction<'static, Sqlite>),
}

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Postgres(tx, prepared) => Conn::Postgres(tx, *prepared),
            Self::Sqlite(tx) => Conn::Sqlite(tx),
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(tx, _) => tx.commit().await,
            Self::Sqlite(tx) => tx.commit().await,
        }
    }
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

    /// Runs the statement; the number of rows it changed.
    pub async fn execute(self, conn: Conn<'_>) -> Result<u64, sqlx::Error> {
        on_either!(self, conn, sqlx::query_with, |query| {
            Ok(query.execute(conn).await?.rows_affected())
        })
    }

    pub async fn fetch_all<T: Record>(self, conn: Conn<'_>) -> Result<Vec<T>, sqlx::Error> {
        on_either!(self, conn, sqlx::query_as_with, |query| query
            .fetch_all(conn)
            .await)
    }

    pub async fn fetch_optional<T: Record>(self, conn: Conn<'_>) -> Result<Option<T>, sqlx::Error> {
        on_either!(self, conn, sqlx::query_as_with, |query| query
            .fetch_optional(conn)
            .await)
    }

    pub async fn fetch_one<T: Record>(self, conn: Conn<'_>) -> Result<T, sqlx::Error> {
        self.fetch_optional(conn)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
}

/// Builds the sqlx query (`$make`: `sqlx::query_with` or `sqlx::query_as_with`) for the
/// connection's backend and runs `$run` with it, `$conn` rebound to the concrete connection.
macro_rules! on_either {
    ($query:ident, $conn:ident, $make:path, |$built:ident| $run:expr) => {{
        let (sql, args) = $query.parts()?;
        match ($conn, args) {
            (Conn::Postgres($conn, prepared), Args::Postgres(args)) => {
                let $built = $make(&sql, args).persistent(prepared == Prepared::Kept);
                $run
            }
            (Conn::Sqlite($conn), Args::Sqlite(args)) => {
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
