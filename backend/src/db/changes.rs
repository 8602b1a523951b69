//! The change log: what the database's triggers recorded of each user's task and tag changes
//! (see the `change_log` migration), read back with the objects as they are now.
//!
//! A change's [`Place`] in the log is (the writing transaction's id, the write's id): ordered,
//! and on PostgreSQL read only below the oldest transaction still running, so that a reader
//! that has read up to a place has seen everything before it and nothing that commits later can
//! land before it. On SQLite (one writer) the transaction id is always 0. Retention deletes the
//! oldest entries and records, per user, the place it deleted up to ([`ChangePage::expired`]).

use std::collections::HashMap;

use super::{
    Store, StoreResult,
    dialect::sql,
    sessions::live_session,
    sql::{IdList, Tx},
    tasks::task_select,
};
use crate::models::{Caller, Category, CategoryKind, Tag, Task, UserId};

/// A place in the change log: after every change at or before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, sqlx::FromRow)]
pub struct Place {
    pub xid: i64,
    pub id: i64,
}

impl Place {
    /// Before every change.
    pub const START: Self = Self { xid: 0, id: 0 };
}

/// What a change did, as the log numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    TaskCreated = 1,
    TaskUpdated = 2,
    TaskDeleted = 3,
    TagCreated = 4,
    TagUpdated = 5,
    TagDeleted = 6,
    Reminder = 7,
    StatusCreated = 8,
    StatusUpdated = 9,
    StatusDeleted = 10,
    PriorityCreated = 11,
    PriorityUpdated = 12,
    PriorityDeleted = 13,
}

impl ChangeKind {
    fn from_stored(kind: i16) -> Option<Self> {
        Some(match kind {
            1 => Self::TaskCreated,
            2 => Self::TaskUpdated,
            3 => Self::TaskDeleted,
            4 => Self::TagCreated,
            5 => Self::TagUpdated,
            6 => Self::TagDeleted,
            7 => Self::Reminder,
            8 => Self::StatusCreated,
            9 => Self::StatusUpdated,
            10 => Self::StatusDeleted,
            11 => Self::PriorityCreated,
            12 => Self::PriorityUpdated,
            13 => Self::PriorityDeleted,
            _ => return None,
        })
    }

    /// The event's name on the stream and in `/changes`.
    pub fn name(self) -> &'static str {
        match self {
            Self::TaskCreated => "task.created",
            Self::TaskUpdated => "task.updated",
            Self::TaskDeleted => "task.deleted",
            Self::TagCreated => "tag.created",
            Self::TagUpdated => "tag.updated",
            Self::TagDeleted => "tag.deleted",
            Self::Reminder => "reminder",
            Self::StatusCreated => "status.created",
            Self::StatusUpdated => "status.updated",
            Self::StatusDeleted => "status.deleted",
            Self::PriorityCreated => "priority.created",
            Self::PriorityUpdated => "priority.updated",
            Self::PriorityDeleted => "priority.deleted",
        }
    }

    /// What kind of object the change is about.
    pub fn object(self) -> ObjectKind {
        match self {
            Self::TaskCreated | Self::TaskUpdated | Self::TaskDeleted | Self::Reminder => {
                ObjectKind::Task
            }
            Self::TagCreated | Self::TagUpdated | Self::TagDeleted => ObjectKind::Tag,
            Self::StatusCreated | Self::StatusUpdated | Self::StatusDeleted => ObjectKind::Status,
            Self::PriorityCreated | Self::PriorityUpdated | Self::PriorityDeleted => {
                ObjectKind::Priority
            }
        }
    }

    pub fn is_created(self) -> bool {
        matches!(
            self,
            Self::TaskCreated | Self::TagCreated | Self::StatusCreated | Self::PriorityCreated
        )
    }

    pub fn is_updated(self) -> bool {
        matches!(
            self,
            Self::TaskUpdated | Self::TagUpdated | Self::StatusUpdated | Self::PriorityUpdated
        )
    }

    pub fn is_deletion(self) -> bool {
        matches!(
            self,
            Self::TaskDeleted | Self::TagDeleted | Self::StatusDeleted | Self::PriorityDeleted
        )
    }
}

/// The kinds of object the log records changes of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Task,
    Tag,
    Status,
    Priority,
}

impl ObjectKind {
    /// The kind a creation of such an object is logged as, and an update.
    pub fn created_updated(self) -> (ChangeKind, ChangeKind) {
        match self {
            Self::Task => (ChangeKind::TaskCreated, ChangeKind::TaskUpdated),
            Self::Tag => (ChangeKind::TagCreated, ChangeKind::TagUpdated),
            Self::Status => (ChangeKind::StatusCreated, ChangeKind::StatusUpdated),
            Self::Priority => (ChangeKind::PriorityCreated, ChangeKind::PriorityUpdated),
        }
    }
}

/// The object a change is about, as it is now.
#[derive(Clone, Debug)]
pub enum Changed {
    /// Boxed: a task is several times larger than the other objects.
    Task(Box<Task>),
    Tag(Tag),
    /// A status or a priority.
    Category(Category),
    /// A deletion: only the id.
    Deleted,
}

/// One entry of the log, with its object as it is now.
#[derive(Clone, Debug)]
pub struct Change {
    pub place: Place,
    pub kind: ChangeKind,
    pub id: i64,
    pub object: Changed,
}

/// Entries after a place, in order.
#[derive(Debug, Default)]
pub struct ChangePage {
    /// Entries whose object still exists, and deletions. An entry for a task or tag deleted
    /// since is left out: its deletion is a later entry.
    pub changes: Vec<Change>,
    /// The last place read (the one to ask "after" next); the asked-for place when none.
    pub place: Place,
    /// More settled entries follow `place`.
    pub has_more: bool,
    /// Entries after `place` are written but not settled yet (an older transaction is still
    /// running): read again shortly.
    pub pending: bool,
    /// Retention has deleted entries after the asked-for place: the reader has missed changes
    /// and must list again. Nothing else is set then.
    pub expired: bool,
}

/// A log row, and whether it is settled.
#[derive(sqlx::FromRow)]
struct Entry {
    xid: i64,
    id: i64,
    kind: i16,
    object_id: i64,
    settled: bool,
}

impl Store {
    /// The log's settled end: after every change a reader can see now, and before every
    /// change still to come. The caller's session is checked in the same statement.
    pub async fn caller_log_end(&self, caller: &Caller) -> StoreResult<Place> {
        let sql = sql!(concat!(
            "SELECT {log_end} FROM users WHERE id = $1 AND ",
            live_session!("$2", "$1")
        ));
        let mut conn = self.backend.read(&self.health).await?;
        let found: Option<Place> = self
            .query(sql, (caller.user_id, caller.session_id))
            .fetch_optional(conn.conn())
            .await?;
        self.found_unless_ended(conn.conn(), caller, found).await
    }

    /// The log's settled end (see [`Store::caller_log_end`]), without a session check.
    pub async fn log_end(&self) -> StoreResult<Place> {
        let sql = sql!("SELECT {log_end}");
        let mut conn = self.backend.read(&self.health).await?;
        Ok(self.query(sql, ()).fetch_one(conn.conn()).await?)
    }

    /// Up to `limit` settled entries of the user's log after `after` ([`Place::START`]: from
    /// the oldest kept), with their objects as they are now.
    pub async fn changes_after(
        &self,
        user_id: UserId,
        after: Place,
        limit: i64,
    ) -> StoreResult<ChangePage> {
        let sql = sql!(
            "SELECT xid, id, kind, object_id, xid < {log_horizon} AS settled FROM changes \
             WHERE user_id = $1 AND (xid > $2 OR (xid = $2 AND id > $3)) \
             ORDER BY xid, id LIMIT $4"
        );
        let floor = sql!("SELECT xid, id FROM change_floors WHERE user_id = $1");
        let mut conn = self.backend.read(&self.health).await?;
        let mut entries: Vec<Entry> = self
            .query(sql, (user_id, after.xid, after.id, limit + 1))
            .fetch_all(conn.conn())
            .await?;
        // After the read: retention deletes entries and raises the floor in one transaction,
        // so entries it deleted before the read show here.
        let floor: Option<Place> = self
            .query(floor, (user_id,))
            .fetch_optional(conn.conn())
            .await?;
        if after != Place::START && floor.is_some_and(|floor| floor > after) {
            return Ok(ChangePage {
                place: after,
                expired: true,
                ..ChangePage::default()
            });
        }
        // Entries of a transaction older than one still running come after every settled
        // entry (their transaction ids are larger): the settled ones are a prefix.
        let settled = entries.iter().take_while(|entry| entry.settled).count();
        let pending = settled < entries.len();
        entries.truncate(settled);
        let has_more = entries.len() as i64 > limit;
        entries.truncate(limit as usize);
        let kinds: Vec<(Entry, ChangeKind)> = entries
            .into_iter()
            .filter_map(|entry| ChangeKind::from_stored(entry.kind).map(|kind| (entry, kind)))
            .collect();
        let place = kinds.last().map_or(after, |(entry, _)| Place {
            xid: entry.xid,
            id: entry.id,
        });
        let wanted = |object: ObjectKind| -> Vec<i64> {
            let mut ids: Vec<i64> = kinds
                .iter()
                .filter(|(_, kind)| kind.object() == object && !kind.is_deletion())
                .map(|(entry, _)| entry.object_id)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let (task_ids, tag_ids) = (wanted(ObjectKind::Task), wanted(ObjectKind::Tag));
        let mut tasks: HashMap<i64, Task> = HashMap::new();
        if !task_ids.is_empty() {
            let sql = sql!(concat!(
                task_select!(),
                " FROM tasks t WHERE user_id = $1 AND id {any $2}"
            ));
            let found: Vec<Task> = self
                .query(sql, (user_id, IdList::from(task_ids)))
                .fetch_all(conn.conn())
                .await?;
            tasks.extend(found.into_iter().map(|task| (task.id.get(), task)));
        }
        let mut tags: HashMap<i64, Tag> = HashMap::new();
        if !tag_ids.is_empty() {
            let sql = sql!(
                "SELECT id, name, color, created_at FROM tags WHERE user_id = $1 AND id {any $2}"
            );
            let found: Vec<Tag> = self
                .query(sql, (user_id, IdList::from(tag_ids)))
                .fetch_all(conn.conn())
                .await?;
            tags.extend(found.into_iter().map(|tag| (tag.id.get(), tag)));
        }
        let mut categories: HashMap<(ObjectKind, i64), Category> = HashMap::new();
        for (object, kind) in [
            (ObjectKind::Status, CategoryKind::Status),
            (ObjectKind::Priority, CategoryKind::Priority),
        ] {
            let ids = wanted(object);
            if !ids.is_empty() {
                let found = self
                    .categories_by_id(conn.conn(), user_id, kind, ids)
                    .await?;
                categories.extend(found.into_iter().map(|c| ((object, c.id), c)));
            }
        }
        let changes = kinds
            .into_iter()
            .filter_map(|(entry, kind)| {
                let id = entry.object_id;
                let object = match kind.object() {
                    _ if kind.is_deletion() => Changed::Deleted,
                    ObjectKind::Tag => Changed::Tag(tags.get(&id)?.clone()),
                    ObjectKind::Task => Changed::Task(Box::new(tasks.get(&id)?.clone())),
                    object => Changed::Category(categories.get(&(object, id))?.clone()),
                };
                Some(Change {
                    place: Place {
                        xid: entry.xid,
                        id: entry.id,
                    },
                    kind,
                    id: entry.object_id,
                    object,
                })
            })
            .collect();
        Ok(ChangePage {
            changes,
            place,
            has_more,
            pending,
            expired: false,
        })
    }

    /// Deletes up to `limit` of the oldest entries recorded before `before` (Unix seconds), of
    /// any user, raising each user's floor to the last place deleted, in one transaction;
    /// returns how many went.
    pub async fn prune_changes(&self, before: i64, limit: i64) -> StoreResult<u64> {
        let oldest = sql!(
            "SELECT user_id, xid, id FROM changes WHERE at < $1 ORDER BY at, xid, id LIMIT $2"
        );
        let mut tx = self.backend.begin(&self.health).await?;
        let rows: Vec<(UserId, i64, i64)> = self
            .query(oldest, (before, limit))
            .fetch_all(tx.conn())
            .await?;
        let mut floors: HashMap<UserId, Place> = HashMap::new();
        for (user, xid, id) in rows {
            let floor = floors.entry(user).or_default();
            *floor = (*floor).max(Place { xid, id });
        }
        let mut deleted = 0;
        for (user, floor) in floors {
            deleted += self.raise_floor(&mut tx, user, floor).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// Deletes the user's entries up to `floor` and records that it did.
    async fn raise_floor(&self, tx: &mut Tx, user: UserId, floor: Place) -> StoreResult<u64> {
        let delete = sql!(
            "DELETE FROM changes WHERE user_id = $1 AND (xid < $2 OR (xid = $2 AND id <= $3))"
        );
        let record = sql!(
            "INSERT INTO change_floors (user_id, xid, id) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET xid = excluded.xid, id = excluded.id \
             WHERE excluded.xid > change_floors.xid \
                OR (excluded.xid = change_floors.xid AND excluded.id > change_floors.id)"
        );
        let values = (user, floor.xid, floor.id);
        let deleted = self.query(delete, values).execute(tx.conn()).await?;
        self.query(record, values).execute(tx.conn()).await?;
        Ok(deleted)
    }

    /// SQLite only: the users with entries after `rowid` (`changes.id`: the log's commit order
    /// across every process on the file) and the last one; `None` when there are none.
    pub async fn users_changed_since(&self, rowid: i64) -> StoreResult<Option<(Vec<UserId>, i64)>> {
        let sql = sql!("SELECT user_id, max(id) FROM changes WHERE id > $1 GROUP BY user_id");
        let mut conn = self.backend.read(&self.health).await?;
        let rows: Vec<(UserId, i64)> = self.query(sql, (rowid,)).fetch_all(conn.conn()).await?;
        let Some(last) = rows.iter().map(|(_, last)| *last).max() else {
            return Ok(None);
        };
        Ok(Some((
            rows.into_iter().map(|(user, _)| user).collect(),
            last,
        )))
    }
}
