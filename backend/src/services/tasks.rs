//! Task rules: turning requests into validated fields, writing a task and its tags in one
//! transaction, completion, links, and list parameters.

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use crate::db::ListedTasks as TaskList;
use crate::{
    core::error::{ApiError, ErrorCode},
    db::{SortField, Store, TagRef, TaskFields, TaskFilter, TaskSort, TaskWrite},
    events::EventBus,
    models::{
        Caller, Priority, RecurrenceRule, TagId, Task, TaskDescription, TaskId, TaskTitle,
        parse_instant,
    },
    schemas::{
        Patch,
        tasks::{CreateTaskRequest, ListTasksQuery, ReplaceTaskRequest, UpdateTaskRequest},
    },
};

const DEFAULT_PAGE_SIZE: i64 = 20;
const MAX_PAGE_SIZE: i64 = 100;

fn description(raw: String) -> Result<TaskDescription, ApiError> {
    TaskDescription::parse(&raw)
}

fn due_date(raw: String) -> Result<DateTime<Utc>, ApiError> {
    parse_instant(&raw, ErrorCode::InvalidDueDate, "due_date")
}

fn remind_at(raw: String) -> Result<DateTime<Utc>, ApiError> {
    parse_instant(&raw, ErrorCode::InvalidRemindAt, "remind_at")
}

fn recurrence(raw: String) -> Result<RecurrenceRule, ApiError> {
    RecurrenceRule::parse(&raw)
}

/// A recurrence rule is expanded from the due date, so it needs one.
fn check_recurrence(fields: &TaskFields) -> Result<(), ApiError> {
    if fields.recurrence_rule.is_some() && fields.due_date.is_none() {
        return Err(ApiError::new(ErrorCode::RecurrenceRequiresDueDate).with_field("due_date"));
    }
    Ok(())
}

fn tag_ids(raw: Vec<i64>) -> Vec<TagId> {
    let mut ids: Vec<TagId> = raw.into_iter().map(TagId::from).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Task writes and reads; each write wakes the user's event streams.
pub struct TaskService {
    store: Arc<Store>,
    events: EventBus,
}

impl TaskService {
    pub fn new(store: Arc<Store>, events: EventBus) -> Self {
        Self { store, events }
    }

    /// Applies `edit` to the task as it is, and makes `tags` (when given) its tag set (the log
    /// records `task.updated`, and `task.created` for the next occurrence the edit created).
    /// `edit` may run more than once, each time on the task as another write left it.
    async fn edit(
        &self,
        caller: Caller,
        id: TaskId,
        tags: Option<Vec<TagId>>,
        edit: impl Fn(&Task) -> Result<TaskFields, ApiError> + Send + Sync,
    ) -> Result<Task, ApiError> {
        let task = self.store.edit_task(&caller, id, tags, edit).await?;
        self.events.changed(caller.user_id);
        Ok(task)
    }

    /// Creates a task (and its tag links) in one transaction; returns it with its tags.
    pub async fn create_task(
        &self,
        caller: Caller,
        body: CreateTaskRequest,
    ) -> Result<Task, ApiError> {
        let fields = TaskFields {
            title: TaskTitle::parse(&body.title)?,
            description: body.description.map(description).transpose()?,
            completed: body.completed.unwrap_or(false),
            priority: body
                .priority
                .as_deref()
                .map(Priority::parse)
                .transpose()?
                .unwrap_or_default(),
            due_date: body.due_date.map(due_date).transpose()?,
            remind_at: body.remind_at.map(remind_at).transpose()?,
            recurrence_rule: body.recurrence_rule.map(recurrence).transpose()?,
        };
        check_recurrence(&fields)?;
        let tags = body.tag_ids.map(tag_ids);
        let task = self
            .store
            .create_task(&caller, TaskWrite { fields, tags })
            .await?;
        self.events.changed(caller.user_id);
        Ok(task)
    }

    /// Replaces every field of a task; omitted optional fields become null and omitted `tag_ids`
    /// removes the tags.
    pub async fn replace_task(
        &self,
        caller: Caller,
        id: TaskId,
        body: ReplaceTaskRequest,
    ) -> Result<Task, ApiError> {
        let fields = TaskFields {
            title: TaskTitle::parse(&body.title)?,
            description: body.description.map(description).transpose()?,
            completed: body.completed,
            priority: Priority::parse(&body.priority)?,
            due_date: body.due_date.map(due_date).transpose()?,
            remind_at: body.remind_at.map(remind_at).transpose()?,
            recurrence_rule: body.recurrence_rule.map(recurrence).transpose()?,
        };
        check_recurrence(&fields)?;
        let tags = Some(tag_ids(body.tag_ids.unwrap_or_default()));
        self.edit(caller, id, tags, move |_| Ok(fields.clone()))
            .await
    }

    /// Changes only the fields present; `null` clears a nullable field.
    pub async fn update_task(
        &self,
        caller: Caller,
        id: TaskId,
        body: UpdateTaskRequest,
    ) -> Result<Task, ApiError> {
        // Validated in full before the database is touched.
        let (tags, edit) = patch_edit(body)?;
        self.edit(caller, id, tags, edit).await
    }

    /// Flips completion and returns the task.
    pub async fn toggle_task(&self, caller: Caller, id: TaskId) -> Result<Task, ApiError> {
        self.edit(caller, id, None, |current| {
            let mut fields = TaskFields::from(current);
            fields.completed = !fields.completed;
            Ok(fields)
        })
        .await
    }

    pub async fn find_task(&self, caller: Caller, id: TaskId) -> Result<Task, ApiError> {
        self.store
            .find_task(&caller, id)
            .await?
            .ok_or_else(|| ErrorCode::TaskNotFound.into())
    }

    pub async fn delete_task(&self, caller: Caller, id: TaskId) -> Result<(), ApiError> {
        if !self.store.delete_task(&caller, id).await? {
            return Err(ErrorCode::TaskNotFound.into());
        }
        self.events.changed(caller.user_id);
        Ok(())
    }

    /// Links a tag; true when the link is new. Either id not being the user's is a 404.
    pub async fn link_tag(
        &self,
        caller: Caller,
        task_id: TaskId,
        tag_id: TagId,
    ) -> Result<(Task, bool), ApiError> {
        let (task, created) = self.store.link_tag(&caller, task_id, tag_id).await?;
        if created {
            self.events.changed(caller.user_id);
        }
        Ok((task, created))
    }

    /// Removes a link; succeeds also when there was none.
    pub async fn unlink_tag(
        &self,
        caller: Caller,
        task_id: TaskId,
        tag_id: TagId,
    ) -> Result<(), ApiError> {
        self.store.unlink_tag(&caller, task_id, tag_id).await?;
        self.events.changed(caller.user_id);
        Ok(())
    }

    /// A page of tasks and the number of pages.
    pub async fn list_tasks(
        &self,
        caller: Caller,
        params: &ListParams,
    ) -> Result<TaskList, ApiError> {
        let offset = (params.page - 1).saturating_mul(params.limit);
        Ok(self
            .store
            .list_tasks(&caller, &params.filter, params.sort, params.limit, offset)
            .await?)
    }
}

/// Validated list parameters.
#[derive(Debug)]
pub struct ListParams {
    pub page: i64,
    pub limit: i64,
    pub filter: TaskFilter,
    pub sort: TaskSort,
}

impl ListParams {
    pub fn parse(query: ListTasksQuery) -> Result<Self, ApiError> {
        let page = parse_positive(query.page.as_deref(), 1, "page")?;
        let limit =
            parse_positive(query.limit.as_deref(), DEFAULT_PAGE_SIZE, "limit")?.min(MAX_PAGE_SIZE);
        let completed = match query.status.as_deref() {
            None | Some("all") => None,
            Some("pending") => Some(false),
            Some("completed") => Some(true),
            Some(_) => return Err(ApiError::new(ErrorCode::InvalidStatus).with_field("status")),
        };
        let priority = query.priority.as_deref().map(Priority::parse).transpose()?;
        for (field, value) in [("q", &query.q), ("tag", &query.tag)] {
            if value.as_deref().is_some_and(|v| v.contains('\0')) {
                return Err(ApiError::validation(
                    field,
                    "NUL characters cannot be searched for.",
                ));
            }
        }
        let due = |raw: Option<String>, field| {
            raw.map(|t| parse_instant(&restore_plus(&t), ErrorCode::InvalidDueDate, field))
                .transpose()
        };
        Ok(Self {
            page,
            limit,
            filter: TaskFilter {
                completed,
                priority,
                tag: query.tag.map(|raw| {
                    let name = raw.trim().to_owned();
                    TagRef {
                        id: name.parse().ok(),
                        name,
                    }
                }),
                search: query.q.filter(|q| !q.is_empty()),
                due_before: due(query.due_before, "due_before")?,
                due_after: due(query.due_after, "due_after")?,
                overdue: match query.overdue.as_deref() {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(_) => {
                        return Err(ApiError::validation(
                            "overdue",
                            "overdue must be true or false.",
                        ));
                    }
                },
            },
            sort: parse_sort(query.sort.as_deref())?,
        })
    }
}

/// In a query string an unencoded `+` arrives as a space; a time like
/// `2030-01-01T09:00:00 02:00` had a `+02:00` offset before it was decoded.
pub(crate) fn restore_plus(time: &str) -> String {
    let time = time.trim_start();
    match time.rfind(' ') {
        Some(at) if time.len() - at == 6 && time.ends_with(|c: char| c.is_ascii_digit()) => {
            format!("{}+{}", &time[..at], &time[at + 1..])
        }
        _ => time.to_owned(),
    }
}

/// A whole number of at least 1 (`default` when absent); else `INVALID_PAGINATION` on `field`.
pub(crate) fn parse_positive(
    raw: Option<&str>,
    default: i64,
    field: &'static str,
) -> Result<i64, ApiError> {
    raw.map_or(Ok(default), |raw| {
        raw.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidPagination).with_field(field))
    })
}

/// `-created_at` when not given.
fn parse_sort(raw: Option<&str>) -> Result<TaskSort, ApiError> {
    let raw = raw.unwrap_or("-created_at");
    let (descending, name) = raw
        .strip_prefix('-')
        .map_or((false, raw), |name| (true, name));
    let field = match name {
        "due_date" => SortField::DueDate,
        "priority" => SortField::Priority,
        "created_at" => SortField::CreatedAt,
        "updated_at" => SortField::UpdatedAt,
        "title" => SortField::Title,
        _ => return Err(ApiError::new(ErrorCode::InvalidSortField).with_field("sort")),
    };
    Ok(TaskSort { field, descending })
}

/// Validates a PATCH body in full and returns the new tag set (when the body has one) and the
/// edit it makes to a task's fields, which may be applied more than once (see
/// [`TaskService::edit`]).
#[allow(
    clippy::type_complexity,
    reason = "a pair of the tags and the edit closure"
)]
fn patch_edit(
    body: UpdateTaskRequest,
) -> Result<
    (
        Option<Vec<TagId>>,
        impl Fn(&Task) -> Result<TaskFields, ApiError> + Send + Sync,
    ),
    ApiError,
> {
    // A `null` for these was refused with the body (see `schemas::not_null`).
    let title = body.title.as_deref().map(TaskTitle::parse).transpose()?;
    let priority = body.priority.as_deref().map(Priority::parse).transpose()?;
    let completed = body.completed;
    let description = body.description.try_map(description)?;
    let due = body.due_date.try_map(due_date)?;
    let remind = body.remind_at.try_map(remind_at)?;
    let rule = body.recurrence_rule.try_map(recurrence)?;
    let tags = match body.tag_ids {
        Patch::Absent => None,
        Patch::Null => Some(Vec::new()),
        Patch::Value(ids) => Some(tag_ids(ids)),
    };
    let edit = move |current: &Task| {
        let mut fields = TaskFields::from(current);
        fields.title = title.clone().unwrap_or(fields.title);
        fields.priority = priority.unwrap_or(fields.priority);
        fields.completed = completed.unwrap_or(fields.completed);
        fields.description = description.clone().apply_to(fields.description);
        fields.due_date = due.clone().apply_to(fields.due_date);
        fields.remind_at = remind.clone().apply_to(fields.remind_at);
        fields.recurrence_rule = rule.clone().apply_to(fields.recurrence_rule);
        check_recurrence(&fields)?;
        Ok(fields)
    };
    Ok((tags, edit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<ListParams, ErrorCode> {
        ListParams::parse(serde_urlencoded::from_str(query).unwrap()).map_err(|e| e.code())
    }

    #[test]
    fn defaults_are_page_1_limit_20_newest_first() {
        let params = parse("").unwrap();
        assert_eq!((params.page, params.limit), (1, 20));
        assert_eq!(params.sort.field, SortField::CreatedAt);
        assert!(params.sort.descending);
    }

    #[test]
    fn limit_is_capped_at_100_and_bad_paging_is_refused() {
        assert_eq!(parse("limit=500").unwrap().limit, 100);
        for bad in ["page=0", "limit=0", "page=-1", "limit=ten"] {
            assert_eq!(parse(bad).unwrap_err(), ErrorCode::InvalidPagination);
        }
    }

    #[test]
    fn an_unencoded_plus_in_a_time_offset_is_restored() {
        let params = parse("due_before=2030-01-01T09:00:00+02:00").unwrap();
        assert_eq!(
            params.filter.due_before.unwrap().to_rfc3339(),
            "2030-01-01T07:00:00+00:00"
        );
    }

    #[test]
    fn bad_filters_get_their_codes() {
        for (query, code) in [
            ("status=done", ErrorCode::InvalidStatus),
            ("priority=urgent", ErrorCode::InvalidPriority),
            ("sort=-name", ErrorCode::InvalidSortField),
            ("due_before=soon", ErrorCode::InvalidDueDate),
        ] {
            assert_eq!(parse(query).unwrap_err(), code);
        }
    }
}
