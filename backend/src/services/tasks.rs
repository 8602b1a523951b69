//! Task rules: turning requests into validated fields, writing a task and its tags in one
//! transaction, completion, links, and list parameters.

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use crate::db::ListedTasks as TaskList;
use crate::{
    core::error::{ApiError, ErrorCode},
    db::{
        Placement, Resolved, SortField, Store, TagRef, TaskFields, TaskFilter, TaskSort, TaskWrite,
    },
    events::EventBus,
    models::{
        Caller, Pick, RecurrenceRule, TagId, Task, TaskDescription, TaskId, TaskTitle,
        parse_instant, recurrence,
    },
    schemas::{
        Patch,
        tasks::{
            CreateTaskRequest, DeleteScopeQuery, ListTasksQuery, MoveTaskRequest, MoveTo,
            OccurrencesQuery, PatchScopeQuery, ReorderTasksRequest, ReplaceTaskRequest,
            UpdateTaskRequest,
        },
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

/// A status named with a `completed` that its kind contradicts (400 `INVALID_STATUS`).
pub(crate) fn status_contradicts_completed() -> ApiError {
    ApiError::new(ErrorCode::InvalidStatus)
        .with_detail(
            "The status's kind contradicts completed (a done status is completed, an open one \
             is not): leave one of them out.",
        )
        .with_field("status")
}

/// The most tasks one reorder places.
const MAX_REORDER: usize = 1000;

fn bad_scope(allowed: &str) -> ApiError {
    ApiError::validation(
        "scope",
        format!("scope must be {allowed}, or absent for the task alone."),
    )
}

/// A status or priority a create names (exactly, as tasks show it), or the default.
fn named<I>(name: Option<String>) -> Pick<I> {
    name.map_or(Pick::Default, Pick::Named)
}

/// Gives `fields` the status, priority and completion a write asks for: a named status decides
/// `completed` (a `completed` given as well must agree); `completed` alone moves the task to
/// the default status of that kind when it changes, and keeps the status otherwise.
fn choose(
    current: &Task,
    fields: &mut TaskFields,
    resolved: Resolved,
    completed: Option<bool>,
) -> Result<(), ApiError> {
    if let Some(priority) = resolved.priority {
        fields.priority = Pick::Id(priority);
    }
    match (resolved.status, completed) {
        (Some((_, done)), Some(completed)) if done != completed => {
            return Err(status_contradicts_completed());
        }
        (Some((status, done)), _) => {
            fields.status = Pick::Id(status);
            fields.completed = done;
        }
        (None, Some(completed)) if completed != current.completed => {
            fields.status = Pick::Default;
            fields.completed = completed;
        }
        (None, _) => {}
    }
    Ok(())
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
            status: named(body.status),
            priority: named(body.priority),
            due_date: body.due_date.map(due_date).transpose()?,
            remind_at: body.remind_at.map(remind_at).transpose()?,
            recurrence_rule: body.recurrence_rule.map(recurrence).transpose()?,
        };
        check_recurrence(&fields)?;
        let write = TaskWrite {
            fields,
            tags: body.tag_ids.map(tag_ids),
            completed_given: body.completed.is_some(),
        };
        let task = self.store.create_task(&caller, write).await?;
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
        let title = TaskTitle::parse(&body.title)?;
        let description = body.description.map(description).transpose()?;
        let due_date = body.due_date.map(due_date).transpose()?;
        let remind_at = body.remind_at.map(remind_at).transpose()?;
        let recurrence_rule = body.recurrence_rule.map(recurrence).transpose()?;
        let resolved = self
            .resolve(caller, body.status.as_deref(), Some(&body.priority))
            .await?;
        let tags = Some(tag_ids(body.tag_ids.unwrap_or_default()));
        self.edit(caller, id, tags, move |current| {
            let mut fields = TaskFields {
                title: title.clone(),
                description: description.clone(),
                due_date,
                remind_at,
                recurrence_rule: recurrence_rule.clone(),
                ..TaskFields::from(current)
            };
            choose(current, &mut fields, resolved, Some(body.completed))?;
            check_recurrence(&fields)?;
            Ok(fields)
        })
        .await
    }

    /// Changes only the fields present; `null` clears a nullable field.
    pub async fn update_task(
        &self,
        caller: Caller,
        id: TaskId,
        body: UpdateTaskRequest,
        scope: PatchScopeQuery,
    ) -> Result<Task, ApiError> {
        // Validated in full before the database is touched, but for the names of a status
        // and a priority, which are the user's.
        let names = (body.status.clone(), body.priority.clone());
        let resolved = self
            .resolve(caller, names.0.as_deref(), names.1.as_deref())
            .await?;
        match scope.scope.as_deref() {
            None => {
                let (tags, edit) = patch_edit(body, resolved)?;
                self.edit(caller, id, tags, edit).await
            }
            Some("following") => {
                // Later occurrences take what belongs to the whole series; the due date,
                // reminder, completion and status stay each occurrence's own.
                let series_wide = UpdateTaskRequest {
                    due_date: Patch::Absent,
                    remind_at: Patch::Absent,
                    completed: None,
                    status: None,
                    ..body.clone()
                };
                let later_resolved = Resolved {
                    status: None,
                    ..resolved
                };
                let (tags, edit) = patch_edit(body, resolved)?;
                let (_, later) = patch_edit(series_wide, later_resolved)?;
                let task = self
                    .store
                    .edit_following(&caller, id, tags, edit, later)
                    .await?;
                self.events.changed(caller.user_id);
                Ok(task)
            }
            Some(_) => Err(bad_scope("following")),
        }
    }

    /// Flips completion and returns the task.
    pub async fn toggle_task(&self, caller: Caller, id: TaskId) -> Result<Task, ApiError> {
        self.edit(caller, id, None, |current| {
            let mut fields = TaskFields::from(current);
            fields.completed = !fields.completed;
            // The default status of the other kind.
            fields.status = Pick::Default;
            Ok(fields)
        })
        .await
    }

    /// The status and priority that names in a write stand for (nothing to read without one).
    async fn resolve(
        &self,
        caller: Caller,
        status: Option<&str>,
        priority: Option<&str>,
    ) -> Result<Resolved, ApiError> {
        if status.is_none() && priority.is_none() {
            return Ok(Resolved::default());
        }
        Ok(self
            .store
            .resolve_names(caller.user_id, status, priority)
            .await?)
    }

    pub async fn find_task(&self, caller: Caller, id: TaskId) -> Result<Task, ApiError> {
        self.store
            .find_task(&caller, id)
            .await?
            .ok_or_else(|| ErrorCode::TaskNotFound.into())
    }

    /// Deletes the task, or (`scope=series`) its whole series.
    pub async fn delete_task(
        &self,
        caller: Caller,
        id: TaskId,
        scope: DeleteScopeQuery,
    ) -> Result<(), ApiError> {
        let deleted = match scope.scope.as_deref() {
            None => self.store.delete_task(&caller, id).await?,
            Some("series") => self.store.delete_series(&caller, id).await?,
            Some(_) => return Err(bad_scope("series")),
        };
        if !deleted {
            return Err(ErrorCode::TaskNotFound.into());
        }
        self.events.changed(caller.user_id);
        Ok(())
    }

    /// Places one task in the manual order.
    pub async fn move_task(
        &self,
        caller: Caller,
        id: TaskId,
        body: MoveTaskRequest,
    ) -> Result<Task, ApiError> {
        let placement = match (body.before, body.after, body.to) {
            (Some(next), None, None) => Placement::Before(TaskId::from(next.0)),
            (None, Some(previous), None) => Placement::After(TaskId::from(previous.0)),
            (None, None, Some(MoveTo::Top)) => Placement::Top,
            (None, None, Some(MoveTo::Bottom)) => Placement::Bottom,
            _ => {
                return Err(ApiError::new(ErrorCode::InvalidTaskOrder).with_detail(
                    "Give exactly one of before, after (a task id) or to (top or bottom).",
                ));
            }
        };
        if matches!(placement, Placement::Before(other) | Placement::After(other) if other == id) {
            return Err(ApiError::new(ErrorCode::InvalidTaskOrder)
                .with_detail("A task cannot be placed next to itself.")
                .with_field(if body.before.is_some() {
                    "before"
                } else {
                    "after"
                }));
        }
        let task = self.store.move_task(&caller, id, placement).await?;
        self.events.changed(caller.user_id);
        Ok(task)
    }

    /// Places these tasks in this order, where the topmost of them was.
    pub async fn reorder_tasks(
        &self,
        caller: Caller,
        body: ReorderTasksRequest,
    ) -> Result<Vec<Task>, ApiError> {
        let ids: Vec<TaskId> = body
            .task_ids
            .unwrap_or_default()
            .into_iter()
            .map(TaskId::from)
            .collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        if ids.is_empty() || ids.len() > MAX_REORDER || unique.len() != ids.len() {
            return Err(ApiError::new(ErrorCode::InvalidTaskOrder).with_field("task_ids"));
        }
        let tasks = self.store.reorder_tasks(&caller, &ids).await?;
        self.events.changed(caller.user_id);
        Ok(tasks)
    }

    /// The next occurrences of the task's rule, in the user's time zone; nothing is written.
    pub async fn occurrences(
        &self,
        caller: Caller,
        id: TaskId,
        query: OccurrencesQuery,
    ) -> Result<Vec<DateTime<Utc>>, ApiError> {
        let limit = parse_positive(query.limit.as_deref(), 10, "limit")?.min(100);
        let after = match query.after {
            Some(raw) => parse_instant(&restore_plus(&raw), ErrorCode::ValidationError, "after")
                .map_err(|_| {
                    ApiError::validation("after", "after must be an RFC 3339 time with an offset.")
                })?,
            None => self.store.clock().now(),
        };
        let task = self.find_task(caller, id).await?;
        if task.recurrence_rule.is_none() {
            return Err(ErrorCode::TaskNotRecurring.into());
        }
        let zone = self.store.find_user(&caller).await?.timezone;
        Ok(recurrence::occurrences_after(
            &task,
            zone.as_str(),
            after,
            limit as u16,
        ))
    }

    /// Moves an open recurring task to its next occurrence without completing it.
    pub async fn skip_task(&self, caller: Caller, id: TaskId) -> Result<Task, ApiError> {
        let task = self.store.skip_task(&caller, id).await?;
        self.events.changed(caller.user_id);
        Ok(task)
    }

    /// Ends the task's series with this occurrence: its rule gets an `UNTIL` at its due date.
    pub async fn stop_recurring(&self, caller: Caller, id: TaskId) -> Result<Task, ApiError> {
        self.edit(caller, id, None, |current| {
            let (Some(rule), Some(due)) = (&current.recurrence_rule, current.due_date) else {
                return Err(ErrorCode::TaskNotRecurring.into());
            };
            if let Some(next) = current.successor_id {
                return Err(
                    ApiError::new(ErrorCode::NotLatestOccurrence).with_detail(format!(
                        "This occurrence already has a next one: stop the series from its latest \
                     occurrence (task {next} or one after it)."
                    )),
                );
            }
            let mut fields = TaskFields::from(current);
            fields.recurrence_rule = Some(
                recurrence::ending_at(rule, due)
                    .ok_or_else(|| ApiError::from(ErrorCode::TaskNotRecurring))?,
            );
            Ok(fields)
        })
        .await
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
        let (completed, status) = match query.status.as_deref() {
            None | Some("all") => (None, None),
            Some("pending") => (Some(false), None),
            Some("completed") => (Some(true), None),
            Some("") => return Err(ApiError::new(ErrorCode::InvalidStatus).with_field("status")),
            Some(name) => (None, Some(name.to_owned())),
        };
        let priority = match query.priority.as_deref() {
            Some("") => {
                return Err(ApiError::new(ErrorCode::InvalidPriority).with_field("priority"));
            }
            name => name.map(str::to_owned),
        };
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
                status,
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
        "status" => SortField::Status,
        "position" => SortField::Position,
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
    resolved: Resolved,
) -> Result<
    (
        Option<Vec<TagId>>,
        impl Fn(&Task) -> Result<TaskFields, ApiError> + Send + Sync,
    ),
    ApiError,
> {
    // A `null` for these was refused with the body (see `schemas::not_null`).
    let title = body.title.as_deref().map(TaskTitle::parse).transpose()?;
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
        choose(current, &mut fields, resolved, completed)?;
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
            ("priority=", ErrorCode::InvalidPriority),
            ("status=", ErrorCode::InvalidStatus),
            ("sort=-name", ErrorCode::InvalidSortField),
            ("due_before=soon", ErrorCode::InvalidDueDate),
        ] {
            assert_eq!(parse(query).unwrap_err(), code);
        }
    }
}
