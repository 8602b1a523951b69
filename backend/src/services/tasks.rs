//! Task rules: turning requests into validated fields, writing a task and its tags in one
//! transaction, completion, links, and list parameters.

use std::sync::Arc;

use crate::{
    core::error::{ApiError, ErrorCode},
    db::{
        EditedTask, ListedTasks, SortField, Store, TagRef, TaskFields, TaskFilter, TaskSort,
        TaskWrite,
    },
    events::EventBus,
    models::{
        Caller, Priority, RecurrenceRule, TagId, Task, TaskDescription, TaskId, TaskTitle, UserId,
        parse_instant,
    },
    schemas::{
        Patch,
        tasks::{
            CreateTaskRequest, ListTasksQuery, ReplaceTaskRequest, TaskResponse, UpdateTaskRequest,
        },
    },
};

const DEFAULT_PAGE_SIZE: i64 = 20;
const MAX_PAGE_SIZE: i64 = 100;

fn description(raw: Option<String>) -> Result<Option<TaskDescription>, ApiError> {
    raw.map(|d| TaskDescription::parse(&d)).transpose()
}

fn due_date(raw: Option<String>) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    raw.map(|t| parse_instant(&t, ErrorCode::InvalidDueDate, "due_date"))
        .transpose()
}

fn remind_at(raw: Option<String>) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    raw.map(|t| parse_instant(&t, ErrorCode::InvalidRemindAt, "remind_at"))
        .transpose()
}

fn recurrence(raw: Option<String>) -> Result<Option<RecurrenceRule>, ApiError> {
    raw.map(|r| RecurrenceRule::parse(&r)).transpose()
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

/// Task writes and reads, and the events they publish.
pub struct TaskService {
    store: Arc<Store>,
    events: EventBus,
}

/// One page of tasks, and how many tasks match in all.
pub struct TaskList {
    pub tasks: Vec<Task>,
    pub total: i64,
}

impl TaskService {
    pub fn new(store: Arc<Store>, events: EventBus) -> Self {
        Self { store, events }
    }

    /// Publishes `task.updated` for an edited task, and `task.created` for the next occurrence
    /// the edit created; returns the task.
    async fn edited(&self, user_id: UserId, edited: EditedTask) -> Task {
        self.events
            .publish(
                user_id,
                "task.updated",
                TaskResponse::from(edited.task.clone()),
            )
            .await;
        if let Some(successor) = edited.successor {
            self.events
                .publish(user_id, "task.created", TaskResponse::from(successor))
                .await;
        }
        edited.task
    }

    /// Creates a task (and its tag links) in one transaction; returns it with its tags.
    pub async fn create_task(
        &self,
        caller: Caller,
        body: CreateTaskRequest,
    ) -> Result<Task, ApiError> {
        let fields = TaskFields {
            title: TaskTitle::parse(&body.title)?,
            description: description(body.description)?,
            completed: body.completed.unwrap_or(false),
            priority: body
                .priority
                .as_deref()
                .map(Priority::parse)
                .transpose()?
                .unwrap_or_default(),
            due_date: due_date(body.due_date)?,
            remind_at: remind_at(body.remind_at)?,
            recurrence_rule: recurrence(body.recurrence_rule)?,
        };
        check_recurrence(&fields)?;
        let tags = body.tag_ids.map(tag_ids);
        let task = self
            .store
            .create_task(&caller, TaskWrite { fields, tags })
            .await?;
        self.events
            .publish(
                caller.user_id,
                "task.created",
                TaskResponse::from(task.clone()),
            )
            .await;
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
            description: description(body.description)?,
            completed: body.completed,
            priority: Priority::parse(&body.priority)?,
            due_date: due_date(body.due_date)?,
            remind_at: remind_at(body.remind_at)?,
            recurrence_rule: recurrence(body.recurrence_rule)?,
        };
        check_recurrence(&fields)?;
        let tags = tag_ids(body.tag_ids.unwrap_or_default());
        let write = TaskWrite {
            fields,
            tags: Some(tags),
        };
        let task = self
            .store
            .edit_task(&caller, id, move |_| Ok::<_, ApiError>(write))
            .await?;
        Ok(self.edited(caller.user_id, task).await)
    }

    /// Changes only the fields present; `null` clears a nullable field.
    pub async fn update_task(
        &self,
        caller: Caller,
        id: TaskId,
        body: UpdateTaskRequest,
    ) -> Result<Task, ApiError> {
        // Validate everything before touching the database.
        let edit = patch_edit(body)?;
        let task = self.store.edit_task(&caller, id, edit).await?;
        Ok(self.edited(caller.user_id, task).await)
    }

    /// Flips completion and returns the task.
    pub async fn toggle_task(&self, caller: Caller, id: TaskId) -> Result<Task, ApiError> {
        let edit = |current: &Task| {
            let mut fields = TaskFields::from(current);
            fields.completed = !fields.completed;
            Ok::<_, ApiError>(TaskWrite { fields, tags: None })
        };
        let task = self.store.edit_task(&caller, id, edit).await?;
        Ok(self.edited(caller.user_id, task).await)
    }

    pub async fn find_task(&self, caller: Caller, id: TaskId) -> Result<Task, ApiError> {
        self.store
            .find_task(&caller, id)
            .await?
            .ok_or_else(|| ErrorCode::TaskNotFound.into())
    }

    pub async fn delete_task(&self, caller: Caller, id: TaskId) -> Result<(), ApiError> {
        if self.store.delete_task(&caller, id).await? {
            self.events
                .publish(
                    caller.user_id,
                    "task.deleted",
                    serde_json::json!({"id": id}),
                )
                .await;
            Ok(())
        } else {
            Err(ErrorCode::TaskNotFound.into())
        }
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
            self.events
                .publish(
                    caller.user_id,
                    "task.updated",
                    TaskResponse::from(task.clone()),
                )
                .await;
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
        let task = self.store.unlink_tag(&caller, task_id, tag_id).await?;
        self.events
            .publish(caller.user_id, "task.updated", TaskResponse::from(task))
            .await;
        Ok(())
    }

    /// A page of tasks and the number of pages.
    pub async fn list_tasks(
        &self,
        caller: Caller,
        params: &ListParams,
    ) -> Result<TaskList, ApiError> {
        let offset = (params.page - 1).saturating_mul(params.limit);
        let ListedTasks { tasks, total } = self
            .store
            .list_tasks(&caller, &params.filter, params.sort, params.limit, offset)
            .await?;
        Ok(TaskList { tasks, total })
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
        let tag = query.tag.map(|raw| {
            let name = raw.trim().to_owned();
            TagRef {
                id: name.parse().ok(),
                name,
            }
        });
        let search = query.q.filter(|q| !q.is_empty());
        let due_before = query
            .due_before
            .map(|t| parse_instant(&restore_plus(&t), ErrorCode::InvalidDueDate, "due_before"))
            .transpose()?;
        let due_after = query
            .due_after
            .map(|t| parse_instant(&restore_plus(&t), ErrorCode::InvalidDueDate, "due_after"))
            .transpose()?;
        let overdue = match query.overdue.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ApiError::validation(
                    "overdue",
                    "overdue must be true or false.",
                ));
            }
        };
        Ok(Self {
            page,
            limit,
            filter: TaskFilter {
                completed,
                priority,
                tag,
                search,
                due_before,
                due_after,
                overdue,
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

fn parse_positive(raw: Option<&str>, default: i64, field: &'static str) -> Result<i64, ApiError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidPagination).with_field(field)),
    }
}

fn parse_sort(raw: Option<&str>) -> Result<TaskSort, ApiError> {
    let Some(raw) = raw else {
        return Ok(TaskSort {
            field: SortField::CreatedAt,
            descending: true,
        });
    };
    let (descending, name) = match raw.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, raw),
    };
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

/// A field a patch may set or leave out but not clear: `null` is refused with `null_error`.
fn present<T, U>(
    patch: Patch<T>,
    null_error: ApiError,
    parse: impl FnOnce(T) -> Result<U, ApiError>,
) -> Result<Option<U>, ApiError> {
    match patch {
        Patch::Absent => Ok(None),
        Patch::Null => Err(null_error),
        Patch::Value(value) => parse(value).map(Some),
    }
}

/// Validates a PATCH body and returns the edit it makes to a task as it is when locked.
fn patch_edit(
    body: UpdateTaskRequest,
) -> Result<impl FnOnce(&Task) -> Result<TaskWrite, ApiError> + Send, ApiError> {
    let title = present(
        body.title,
        ApiError::new(ErrorCode::InvalidTitle).with_field("title"),
        |title| TaskTitle::parse(&title),
    )?;
    let priority = present(
        body.priority,
        ApiError::new(ErrorCode::InvalidPriority).with_field("priority"),
        |priority| Priority::parse(&priority),
    )?;
    let completed = present(
        body.completed,
        ApiError::validation("completed", "completed must be true or false."),
        Ok,
    )?;
    let description = body.description.try_map(|d| TaskDescription::parse(&d))?;
    let due = body
        .due_date
        .try_map(|t| parse_instant(&t, ErrorCode::InvalidDueDate, "due_date"))?;
    let remind = body
        .remind_at
        .try_map(|t| parse_instant(&t, ErrorCode::InvalidRemindAt, "remind_at"))?;
    let rule = body
        .recurrence_rule
        .try_map(|r| RecurrenceRule::parse(&r))?;
    let tags = match body.tag_ids {
        Patch::Absent => None,
        Patch::Null => Some(Vec::new()),
        Patch::Value(ids) => Some(tag_ids(ids)),
    };
    Ok(move |current: &Task| {
        let mut fields = TaskFields::from(current);
        fields.title = title.unwrap_or(fields.title);
        fields.priority = priority.unwrap_or(fields.priority);
        fields.completed = completed.unwrap_or(fields.completed);
        fields.description = description.apply_to(fields.description);
        fields.due_date = due.apply_to(fields.due_date);
        fields.remind_at = remind.apply_to(fields.remind_at);
        fields.recurrence_rule = rule.apply_to(fields.recurrence_rule);
        check_recurrence(&fields)?;
        Ok(TaskWrite { fields, tags })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> ListTasksQuery {
        let encoded = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        serde_urlencoded::from_str(&encoded).unwrap()
    }

    fn code(pairs: &[(&str, &str)]) -> ErrorCode {
        ListParams::parse(query(pairs)).unwrap_err().code()
    }

    #[test]
    fn defaults_are_page_1_limit_20_newest_first() {
        let params = ListParams::parse(query(&[])).unwrap();
        assert_eq!((params.page, params.limit), (1, 20));
        assert_eq!(params.sort.field, SortField::CreatedAt);
        assert!(params.sort.descending);
    }

    #[test]
    fn limit_is_capped_at_100_and_bad_paging_is_refused() {
        assert_eq!(
            ListParams::parse(query(&[("limit", "500")])).unwrap().limit,
            100
        );
        for bad in [
            ("page", "0"),
            ("limit", "0"),
            ("page", "-1"),
            ("limit", "ten"),
        ] {
            assert_eq!(code(&[bad]), ErrorCode::InvalidPagination);
        }
    }

    #[test]
    fn an_unencoded_plus_in_a_time_offset_is_restored() {
        let params =
            ListParams::parse(query(&[("due_before", "2030-01-01T09:00:00+02:00")])).unwrap();
        assert_eq!(
            params.filter.due_before.unwrap().to_rfc3339(),
            "2030-01-01T07:00:00+00:00"
        );
    }

    #[test]
    fn bad_filters_get_their_codes() {
        assert_eq!(code(&[("status", "done")]), ErrorCode::InvalidStatus);
        assert_eq!(code(&[("priority", "urgent")]), ErrorCode::InvalidPriority);
        assert_eq!(code(&[("sort", "-name")]), ErrorCode::InvalidSortField);
        assert_eq!(code(&[("due_before", "soon")]), ErrorCode::InvalidDueDate);
    }
}
