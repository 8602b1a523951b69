//! What differs between the two SQL dialects, and nothing else: a handful of SQL fragments and
//! how each database reports an error. Statements are written once with `{markers}` where a
//! fragment goes, and rendered for each dialect the first time they run ([`sql!`]).

use crate::core::db_health::StorageFault;

/// The SQL dialect of the store's database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Postgres = 0,
    Sqlite = 1,
}

/// A statement written once for both dialects and rendered for each ([`Dialect::render`]).
pub struct Sql([String; 2]);

impl Sql {
    pub fn render(text: &str) -> Self {
        Self(Dialect::ALL.map(|dialect| dialect.render(text)))
    }

    pub fn get(&self, dialect: Dialect) -> &str {
        &self.0[dialect as usize]
    }
}

/// A `&'static Sql` for `$text`, rendered on first use and kept.
macro_rules! sql {
    ($text:expr) => {{
        static RENDERED: std::sync::LazyLock<$crate::db::dialect::Sql> =
            std::sync::LazyLock::new(|| $crate::db::dialect::Sql::render($text));
        &*RENDERED
    }};
}
pub(crate) use sql;

/// A read written once and rendered twice: as it stands, and with the dialect's row lock
/// (`{for_update}`) appended when `$lock` is set, for a read inside a write transaction.
macro_rules! locking_sql {
    ($lock:expr, $text:expr) => {
        if $lock {
            $crate::db::dialect::sql!(concat!($text, "{for_update}"))
        } else {
            $crate::db::dialect::sql!($text)
        }
    };
}
pub(crate) use locking_sql;

impl Dialect {
    pub const ALL: [Dialect; 2] = [Dialect::Postgres, Dialect::Sqlite];

    /// Replaces each marker with this dialect's fragment:
    ///
    /// | marker | PostgreSQL | SQLite |
    /// |---|---|---|
    /// | `{tags}`, `{tags tasks}` | `json_agg` of the tags of the task `t` (or `tasks`) | `json_group_array` of them |
    /// | `{no_tags}` | `'[]'::json` | `'[]'` |
    /// | `{top_position $n}` | `nextval('task_positions')` | the user `$n`'s smallest position less 65536 |
    /// | `{time $n}` | `CAST($n AS timestamptz)` | `$n` |
    /// | `{for_update}` | ` FOR UPDATE` | nothing: one writer, `BEGIN IMMEDIATE` |
    /// | `{for_key_share}` | ` FOR KEY SHARE` | nothing |
    /// | `{for_no_key_update}` | ` FOR NO KEY UPDATE` | nothing |
    /// | `{skip_locked}` | ` FOR UPDATE SKIP LOCKED` | nothing |
    /// | `{any $n}` | `= ANY($n)` (an `int8[]`) | `IN (SELECT value FROM json_each($n))` |
    /// | `{not_any $n}` | `<> ALL($n)` | `NOT IN (SELECT value FROM json_each($n))` |
    /// | `{log_horizon}` | the oldest transaction still running (`pg_snapshot_xmin`) | `1`: SQLite's one writer commits in order |
    /// | `{log_end}` | `{log_horizon}, 0`: the change log's settled end | `0`, the last `id` handed out |
    pub fn render(self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 200);
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = start + rest[start..].find('}').expect("an unclosed SQL marker");
            out.push_str(&self.fragment(&rest[start + 1..end]));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn fragment(self, marker: &str) -> String {
        let pg = self == Self::Postgres;
        let (name, param) = marker.split_once(' ').unwrap_or((marker, ""));
        let fragment = match name {
            "tags" => {
                // The tags of the task named `param` (an alias, or `tasks` in a RETURNING).
                let task = if param.is_empty() { "t" } else { param };
                let (aggregate, object, empty) = if pg {
                    ("json_agg", "json_build_object", "'[]'::json")
                } else {
                    ("json_group_array", "json_object", "'[]'")
                };
                return format!(
                    "COALESCE((SELECT {aggregate}({object}('id', g.id, 'name', g.name, \
                     'color', g.color) ORDER BY g.name_key, g.id) \
                     FROM task_tags tt \
                     JOIN tags g ON g.id = tt.tag_id AND g.user_id = tt.user_id \
                     WHERE tt.task_id = {task}.id AND tt.user_id = {task}.user_id), {empty})"
                );
            }
            // Where a new task goes in the user's manual order: above every task (see the
            // migration statuses_priorities_order), for the user `param`.
            "top_position" if pg => "nextval('task_positions')",
            "top_position" => {
                return format!(
                    "(SELECT coalesce(min(x.position), 0) - 65536 FROM tasks x \
                     WHERE x.user_id = {param})"
                );
            }
            "no_tags" if pg => "'[]'::json",
            "no_tags" => "'[]'",
            // A time inside an expression whose type PostgreSQL cannot take from a column (a
            // `CASE` in a `SELECT` list), for tools that replay statements with literals.
            "time" if pg => return format!("CAST({param} AS timestamptz)"),
            "time" => return param.to_owned(),
            "for_update" if pg => " FOR UPDATE",
            "for_key_share" if pg => " FOR KEY SHARE",
            "for_no_key_update" if pg => " FOR NO KEY UPDATE",
            "skip_locked" if pg => " FOR UPDATE SKIP LOCKED",
            "for_update" | "for_key_share" | "for_no_key_update" | "skip_locked" => "",
            "any" if pg => return format!("= ANY({param})"),
            "any" => return format!("IN (SELECT value FROM json_each({param}))"),
            "not_any" if pg => return format!("<> ALL({param})"),
            "not_any" => return format!("NOT IN (SELECT value FROM json_each({param}))"),
            // Change log rows of transactions below it are settled (see db::changes).
            "log_horizon" if pg => "pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            "log_horizon" => "1",
            "log_end" if pg => {
                "pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xid, 0::bigint AS id"
            }
            // The AUTOINCREMENT counter, which retention emptying the table does not move
            // back (max(id) would).
            "log_end" => {
                "0 AS xid, \
                 coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0) AS id"
            }
            other => panic!("unknown SQL marker {{{other}}}"),
        };
        fragment.to_owned()
    }

    /// Whether a page of tasks counts its matches with `count(*) OVER ()` (SQLite, whose plans
    /// gain nothing from the alternative) rather than an uncorrelated subquery that PostgreSQL
    /// answers from an index while the page itself stops after its last row.
    pub fn counts_in_window(self) -> bool {
        self == Self::Sqlite
    }
}

/// The unique constraints a client can run into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// `users_email_key`: an email is taken.
    UserEmail,
    /// `tags_user_name_key`: the user has a tag of that name in any case.
    TagName,
    /// `statuses_user_name_key`: the user has a status of that name in any case.
    StatusName,
    /// `priorities_user_name_key`: the user has a priority of that name in any case.
    PriorityName,
    /// A task's status or priority was deleted while the write that refers to it ran (a
    /// foreign key: PostgreSQL only); nothing was written, and a retry resolves it again.
    Reference,
}

impl Constraint {
    pub fn name(self) -> &'static str {
        match self {
            Self::UserEmail => "users_email_key",
            Self::TagName => "tags_user_name_key",
            Self::StatusName => "statuses_user_name_key",
            Self::PriorityName => "priorities_user_name_key",
            Self::Reference => "tasks_status_fkey or tasks_priority_fkey",
        }
    }
}

/// Which unique constraint the error violated, when it is one this service knows. PostgreSQL
/// names the constraint; SQLite names the table and columns in its message.
pub fn violated_constraint(error: &sqlx::Error) -> Option<Constraint> {
    let error = error.as_database_error()?;
    if error.kind() == sqlx::error::ErrorKind::ForeignKeyViolation
        && matches!(
            error.constraint(),
            Some("tasks_status_fkey" | "tasks_priority_fkey")
        )
    {
        return Some(Constraint::Reference);
    }
    if error.kind() != sqlx::error::ErrorKind::UniqueViolation {
        return None;
    }
    let named = |constraint: Constraint| {
        error.constraint() == Some(constraint.name())
            || (error.constraint().is_none()
                && match constraint {
                    Constraint::UserEmail => error.message().contains("users.email"),
                    Constraint::TagName => error.message().contains(" tags.name_key"),
                    Constraint::StatusName => error.message().contains("statuses.name_key"),
                    Constraint::PriorityName => error.message().contains("priorities.name_key"),
                    Constraint::Reference => false,
                })
    };
    [
        Constraint::UserEmail,
        Constraint::TagName,
        Constraint::StatusName,
        Constraint::PriorityName,
    ]
    .into_iter()
    .find(|&constraint| named(constraint))
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
    // starting; 53200, 53300: out of memory, too many connections.
    code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53200" | "53300")
}

/// The storage fault behind `error`, when the database refused the statement because of its
/// storage rather than the statement or the connection: a full disk, a read-only database or
/// file system, an I/O error, damage.
pub fn storage_fault(error: &sqlx::Error) -> Option<StorageFault> {
    let database_error = error.as_database_error()?;
    let code = database_error.code()?;
    if database_error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // The primary result code is the low byte of the extended one.
        return match code.parse::<i32>().ok()? & 0xff {
            13 => Some(StorageFault::Full),         // SQLITE_FULL
            8 => Some(StorageFault::ReadOnly),      // SQLITE_READONLY
            10 => Some(StorageFault::Io),           // SQLITE_IOERR
            11 | 26 => Some(StorageFault::Corrupt), // SQLITE_CORRUPT, SQLITE_NOTADB
            _ => None,
        };
    }
    match &*code {
        // insufficient_resources, disk_full
        "53000" | "53100" => Some(StorageFault::Full),
        // read_only_sql_transaction: a standby, or default_transaction_read_only
        "25006" => Some(StorageFault::ReadOnly),
        // io_error
        "58030" => Some(StorageFault::Io),
        // data_corrupted, index_corrupted
        "XX001" | "XX002" => Some(StorageFault::Corrupt),
        _ => None,
    }
}

/// True when the database refused a value as data (PostgreSQL class 22, such as a NUL
/// character in text): only client input can carry one.
pub fn is_data_exception(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code.starts_with("22"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_render_per_dialect() {
        let text = "SELECT 1 FROM tags WHERE id {any $2}{for_key_share}";
        assert_eq!(
            Dialect::Postgres.render(text),
            "SELECT 1 FROM tags WHERE id = ANY($2) FOR KEY SHARE"
        );
        assert_eq!(
            Dialect::Sqlite.render(text),
            "SELECT 1 FROM tags WHERE id IN (SELECT value FROM json_each($2))"
        );
    }
}
