//! Sync: the change log as clients see it. Cursors, `GET …/changes`, where an event stream
//! starts and what it sends next, and retention.
//!
//! A cursor is the text `{xid}.{id}-{tag}`: a [`Place`] in the log and eight hex digits of the
//! user's id (`0` is the start of the log). Clients treat it as opaque; the tag lets a cursor of
//! another user's be refused instead of silently syncing from the wrong place (as is one past
//! the log's end).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use serde_json::json;

use crate::{
    core::error::{ApiError, ErrorCode},
    db::{Change, ChangeKind, ChangePage, Changed, ObjectKind, Place, Store, StoreResult},
    models::{Caller, UserId},
    schemas::{
        categories::category_json,
        changes::{ChangeItem, ChangesResponse},
        tags::TagResponse,
        tasks::TaskResponse,
    },
    services::tasks::parse_positive,
};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
/// Entries an event stream reads at a time.
const STREAM_PAGE: i64 = 500;
/// Entries retention deletes in one transaction, and the pause between two.
const PRUNE_BATCH: i64 = 1000;
const PRUNE_PAUSE: Duration = Duration::from_millis(50);
/// How often retention looks for entries to delete.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// How soon a stream reads again when changes are written but wait for an older transaction.
const SETTLE_WAIT: Duration = Duration::from_millis(20);

/// A place in a user's log as clients see it.
pub fn format_cursor(user_id: UserId, place: Place) -> String {
    if place == Place::START {
        return "0".to_owned();
    }
    format!("{}.{}-{}", place.xid, place.id, user_tag(user_id))
}

fn user_tag(user_id: UserId) -> String {
    user_id.as_uuid().simple().to_string()[..8].to_owned()
}

/// The place in one of the user's cursors (`0`: the start); refuses text that is not a cursor
/// of theirs, or one past `end` (the log's end: not handed out yet).
pub fn parse_cursor(
    user_id: UserId,
    raw: &str,
    end: Place,
    field: &str,
) -> Result<Place, ApiError> {
    let invalid = || ApiError::new(ErrorCode::InvalidCursor).with_field(field.to_owned());
    let raw = raw.trim();
    if raw == "0" {
        return Ok(Place::START);
    }
    let (place, tag) = raw.split_once('-').ok_or_else(invalid)?;
    let (xid, id) = place.split_once('.').ok_or_else(invalid)?;
    // One spelling per cursor: digits only, no leading zeros.
    let number = |text: &str| {
        text.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0 && n.to_string() == text)
    };
    let place = match (number(xid), number(id)) {
        (Some(xid), Some(id)) => Place { xid, id },
        _ => return Err(invalid()),
    };
    if tag != user_tag(user_id) || place == Place::START || place > end {
        return Err(invalid());
    }
    Ok(place)
}

/// What a stream opened with a cursor starts with.
pub enum StreamStart {
    /// Everything after this place.
    After(Place),
    /// The cursor is older than the log kept: tell the client to list again, then go on from
    /// this place (the log's end).
    Resync(Place),
}

/// The entries an event stream sends next.
pub enum StreamStep {
    /// Events, and the place read up to; `again`: read again after this long.
    Events {
        events: Vec<StreamEvent>,
        place: Place,
        again: Option<Duration>,
    },
    /// The stream fell further behind than the log kept: a `resync` event, then on from this
    /// place (the log's end).
    Resync(Place),
}

/// One event as the stream writes it.
pub struct StreamEvent {
    pub id: String,
    pub name: &'static str,
    pub data: serde_json::Value,
}

/// The client's view of the change log.
pub struct ChangeService {
    store: Arc<Store>,
}

impl ChangeService {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// `GET …/changes`: up to `limit` changes after `since`, each object once.
    pub async fn changes(
        &self,
        caller: Caller,
        since: Option<&str>,
        limit: Option<&str>,
    ) -> Result<ChangesResponse, ApiError> {
        let limit = parse_positive(limit, DEFAULT_LIMIT, "limit")?.min(MAX_LIMIT);
        let end = self.store.caller_log_end(&caller).await?;
        let user_id = caller.user_id;
        let Some(since) = since else {
            return Ok(ChangesResponse {
                changes: Vec::new(),
                cursor: format_cursor(user_id, end),
                has_more: false,
            });
        };
        let since = parse_cursor(user_id, since, end, "since")?;
        let page = self.store.changes_after(user_id, since, limit).await?;
        if page.expired {
            return Err(ErrorCode::CursorExpired.into());
        }
        // Nothing kept from the start: sync from the end (everything before it is gone).
        let place = match page.changes.is_empty() && page.place == Place::START {
            true => end,
            false => page.place,
        };
        Ok(ChangesResponse {
            cursor: format_cursor(user_id, place),
            has_more: page.has_more,
            changes: compact(page)
                .into_iter()
                .map(|(kind, change)| ChangeItem {
                    cursor: format_cursor(user_id, change.place),
                    kind: kind.name(),
                    id: change.id,
                    data: object_json(change.object),
                })
                .collect(),
        })
    }

    /// Where a stream that a client opens with `resume` (its `Last-Event-ID`) starts; without
    /// one, at the log's end. Checks the session.
    pub async fn stream_start(
        &self,
        caller: Caller,
        resume: Option<&str>,
    ) -> Result<StreamStart, ApiError> {
        let end = self.store.caller_log_end(&caller).await?;
        let Some(resume) = resume else {
            return Ok(StreamStart::After(end));
        };
        if uuid::Uuid::parse_str(resume.trim()).is_ok() {
            // An event id of a version before the change log (they were UUIDs): what came
            // after it cannot be told, so the client lists again, and does not get a 400 that
            // would stop its `EventSource` for good.
            return Ok(StreamStart::Resync(end));
        }
        let after = parse_cursor(caller.user_id, resume, end, "last_event_id")?;
        let page = self.store.changes_after(caller.user_id, after, 0).await?;
        Ok(match page.expired {
            true => StreamStart::Resync(end),
            false => StreamStart::After(after),
        })
    }

    /// What a stream of `user_id` sends after `after`.
    pub async fn stream_step(&self, user_id: UserId, after: Place) -> StoreResult<StreamStep> {
        let page = self
            .store
            .changes_after(user_id, after, STREAM_PAGE)
            .await?;
        if page.expired {
            return Ok(StreamStep::Resync(self.store.log_end().await?));
        }
        let again = if page.has_more {
            Some(Duration::ZERO)
        } else if page.pending {
            // Written, and waiting for an older transaction to end.
            Some(SETTLE_WAIT)
        } else {
            None
        };
        // An object updated twice in what this read found is sent once (the data is the same,
        // the object as it is now), at its first update, so that the order of the different
        // objects stays that of their first changes. (Completing a recurring task writes the
        // task twice in one transaction, around its successor's creation.)
        let mut updated = HashSet::new();
        let events = page
            .changes
            .into_iter()
            .filter(|change| !change.kind.is_updated() || updated.insert((change.kind, change.id)))
            .map(|change| StreamEvent {
                id: format_cursor(user_id, change.place),
                name: change.kind.name(),
                data: object_json(change.object).unwrap_or_else(|| json!({"id": change.id})),
            })
            .collect();
        Ok(StreamStep::Events {
            events,
            place: page.place,
            again,
        })
    }

    /// Deletes the entries older than `retention`, a batch at a time, every [`PRUNE_EVERY`];
    /// runs until its task is aborted.
    pub async fn prune(store: Arc<Store>, retention: Duration) {
        let mut tick = tokio::time::interval(PRUNE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let before = store.clock().now().timestamp() - retention.as_secs() as i64;
            let mut deleted = 0;
            loop {
                let batch = match store.prune_changes(before, PRUNE_BATCH).await {
                    Ok(n) => n,
                    Err(error) => {
                        tracing::debug!(%error, "change log retention: cannot delete; retrying later");
                        break;
                    }
                };
                deleted += batch;
                // A short batch was the last; between full ones, others get the writer.
                if batch < PRUNE_BATCH as u64 {
                    break;
                }
                tokio::time::sleep(PRUNE_PAUSE).await;
            }
            if deleted > 0 {
                tracing::info!(deleted, "change log retention: old entries deleted");
            }
        }
    }
}

/// A page's changes with each object once, at its last change, in cursor order. A reminder is
/// kept apart from the task's edits (it is news, not state); a task created within the page
/// keeps `task.created` (the client has not seen it), whatever came after, unless deleted.
fn compact(page: ChangePage) -> Vec<(ChangeKind, Change)> {
    /// An object, or a task's reminders (kept apart from its edits).
    #[derive(PartialEq, Eq, Hash)]
    enum Object {
        Of(ObjectKind, i64),
        Reminder(i64),
    }
    let key = |change: &Change| match change.kind {
        ChangeKind::Reminder => Object::Reminder(change.id),
        kind => Object::Of(kind.object(), change.id),
    };
    let mut last: HashMap<Object, (usize, ChangeKind)> = HashMap::new();
    for (index, change) in page.changes.iter().enumerate() {
        let created = last
            .get(&key(change))
            .is_some_and(|(_, kind)| kind.is_created());
        let kind = match change.kind {
            kind if kind.is_updated() && created => kind.object().created_updated().0,
            kind => kind,
        };
        last.insert(key(change), (index, kind));
    }
    let mut kept: Vec<(usize, ChangeKind)> = last.into_values().collect();
    kept.sort_unstable_by_key(|(index, _)| *index);
    let mut changes: Vec<Option<Change>> = page.changes.into_iter().map(Some).collect();
    kept.into_iter()
        .filter_map(|(index, kind)| changes[index].take().map(|change| (kind, change)))
        .collect()
}

/// The object as the other routes answer it; `None` for a deletion.
fn object_json(object: Changed) -> Option<serde_json::Value> {
    match object {
        Changed::Task(task) => serde_json::to_value(TaskResponse::from(*task)).ok(),
        Changed::Tag(tag) => serde_json::to_value(TagResponse::from(tag)).ok(),
        Changed::Category(category) => serde_json::to_value(category_json(category)).ok(),
        Changed::Deleted => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: i64) -> Place {
        Place { xid: 7, id }
    }

    /// A change whose object does not matter (compaction looks only at kinds and ids).
    fn change(id: i64, kind: ChangeKind, object: i64) -> Change {
        Change {
            place: place(id),
            kind,
            id: object,
            object: Changed::Deleted,
        }
    }

    #[test]
    fn a_page_is_compacted_to_each_object_once_at_its_last_change() {
        use ChangeKind::*;
        let page = ChangePage {
            changes: vec![
                change(1, TaskCreated, 10),
                change(2, TagCreated, 5),
                change(3, TaskUpdated, 11),
                change(4, TaskUpdated, 10),
                change(5, Reminder, 10),
                change(6, TaskUpdated, 10),
                change(7, TagUpdated, 5),
                change(8, TaskDeleted, 11),
                change(9, Reminder, 10),
            ],
            place: place(9),
            ..ChangePage::default()
        };
        let kept: Vec<(i64, ChangeKind, i64)> = compact(page)
            .into_iter()
            .map(|(kind, change)| (change.place.id, kind, change.id))
            .collect();
        assert_eq!(
            kept,
            [
                // Created in this page: still `task.created`, at its last change.
                (6, TaskCreated, 10),
                (7, TagCreated, 5),
                (8, TaskDeleted, 11),
                // Reminders are kept apart from the task's edits.
                (9, Reminder, 10),
            ]
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let user = UserId::new();
        let end = Place { xid: 900, id: 0 };
        let at = Place { xid: 812, id: 42 };
        let cursor = format_cursor(user, at);
        assert_eq!(parse_cursor(user, &cursor, end, "since").unwrap(), at);
        assert_eq!(
            parse_cursor(user, &format_cursor(user, end), end, "since").unwrap(),
            end
        );
        assert_eq!(parse_cursor(user, "0", end, "since").unwrap(), Place::START);
        assert_eq!(format_cursor(user, Place::START), "0");
        let other = format_cursor(UserId::new(), at);
        let tag = user_tag(user);
        for bad in [
            other.as_str(),
            &format_cursor(user, Place { xid: 900, id: 1 }),
            "812.42",
            "42",
            "",
            "-1",
            &format!("0.0-{tag}"),
            &format!("812-{tag}"),
            &format!("-812.42-{tag}"),
            &format!("+812.42-{tag}"),
            &format!("0812.42-{tag}"),
            &format!("812.042-{tag}"),
            &format!("812.42-{tag}x"),
            "nonsense",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
        ] {
            let error = parse_cursor(user, bad, end, "since").unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidCursor, "{bad:?}");
        }
    }
}
