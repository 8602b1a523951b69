//! SQL for `tasks` and `task_tags`.
//!
//! Every statement is scoped by `user_id`: there is no way to load or change a task by its id
//! alone. Tasks are returned with their tags aggregated in the same query, so a page of tasks is
//! one round trip however many tags they carry.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};

use crate::{
    db::{ListedTasks, SortField, TaskFields, TaskFilter, TaskSort},
    models::{TagId, Task, TaskId, UserId},
};

/// A task's own columns. Used with `FROM tasks t` (or `INSERT INTO tasks AS t`).
macro_rules! task_columns {
    () => {
        "t.id, t.user_id, t.title, t.description, t.completed, t.completed_at, \
         t.priority, t.due_date, t.remind_at, t.recurrence_rule, t.created_at, t.updated_at, \
         t.reminded_at, t.successor_id, t.recurred_at, t.recurrence_start"
    };
}

/// Selects a task with its tags as a JSON array ordered by name. Used with `FROM tasks t`.
macro_rules! task_select {
    () => {
        concat!(
            "SELECT ",
            task_columns!(),
            ", COALESCE((SELECT json_agg(json_build_object('id', g.id, 'name', g.name, 'color', g.color) \
                                         ORDER BY lower(g.name) COLLATE \"C\", g.id) \
                         FROM task_tags tt JOIN tags g ON g.id = tt.tag_id \
                         WHERE tt.task_id = t.id), '[]'::json) AS tags"
        )
    };
}

/// Inserts a task and returns it as stored (with no tags yet: a new task has none), so a task
/// created without tags is one statement; `recurrence_start` is its series' start when it
/// continues one.
#[tracing::instrument(skip_all)]
pub async fn insert_task(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    fields: &TaskFields,
    recurrence_start: Option<DateTime<Utc>>,
) -> Result<Task, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO tasks AS t (user_id, title, description, completed, completed_at, priority, \
                                 due_date, remind_at, recurrence_rule, recurrence_start) \
         VALUES ($1, $2, $3, $4, CASE WHEN $4 THEN now() END, $5, $6, $7, $8, $9) \
         RETURNING ",
        task_columns!(),
        ", '[]'::json AS tags"
    ))
    .bind(user_id)
    .bind(&fields.title)
    .bind(&fields.description)
    .bind(fields.completed)
    .bind(fields.priority.rank())
    .bind(fields.due_date)
    .bind(fields.remind_at)
    .bind(&fields.recurrence_rule)
    .bind(recurrence_start)
    .fetch_one(db)
    .await
}

/// Writes every column; `completed_at` is set when the task becomes completed and cleared when
/// it stops being so, and a changed `remind_at` re-arms the reminder. False when the task is
/// not the user's.
#[tracing::instrument(skip_all)]
pub async fn update_task(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    id: TaskId,
    fields: &TaskFields,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE tasks SET title = $3, description = $4, completed = $5, \
             completed_at = CASE WHEN NOT $5 THEN NULL \
                                 WHEN completed THEN completed_at \
                                 ELSE now() END, \
             priority = $6, due_date = $7, remind_at = $8, recurrence_rule = $9, \
             reminded_at = CASE WHEN remind_at IS DISTINCT FROM $8 THEN NULL \
                                ELSE reminded_at END, \
             recurrence_start = CASE WHEN due_date IS DISTINCT FROM $7 \
                                       OR recurrence_rule IS DISTINCT FROM $9 \
                                     THEN NULL ELSE recurrence_start END \
         WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .bind(&fields.title)
    .bind(&fields.description)
    .bind(fields.completed)
    .bind(fields.priority.rank())
    .bind(fields.due_date)
    .bind(fields.remind_at)
    .bind(&fields.recurrence_rule)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Loads one of the user's tasks with its tags.
#[tracing::instrument(skip_all)]
pub async fn find_task(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    id: TaskId,
) -> Result<Option<Task>, sqlx::Error> {
    sqlx::query_as(concat!(
        task_select!(),
        " FROM tasks t WHERE t.id = $1 AND t.user_id = $2"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Loads one of the user's tasks and locks it until the transaction ends, so that concurrent
/// read-modify-write updates of one task apply one after the other.
#[tracing::instrument(skip_all)]
pub async fn find_task_for_update(
    db: &mut PgConnection,
    user_id: UserId,
    id: TaskId,
) -> Result<Option<Task>, sqlx::Error> {
    sqlx::query_as(concat!(
        task_select!(),
        " FROM tasks t WHERE t.id = $1 AND t.user_id = $2 FOR UPDATE OF t"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Deletes the task; its links go by cascade, its tags stay, and a predecessor's link to it is
/// cleared (its `recurred_at` stays, so no new successor is made).
#[tracing::instrument(skip_all)]
pub async fn delete_task(
    db: &mut PgConnection,
    user_id: UserId,
    id: TaskId,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM tasks WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("UPDATE tasks SET successor_id = NULL WHERE successor_id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(true)
}

/// Links `id` to its successor and records that it has one.
#[tracing::instrument(skip_all)]
pub async fn set_successor(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    id: TaskId,
    successor: TaskId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tasks SET successor_id = $3, recurred_at = now() WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .bind(successor)
    .execute(db)
    .await
    .map(drop)
}

/// Gives `to` the same tags as `from`.
#[tracing::instrument(skip_all)]
pub async fn copy_tags(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    from: TaskId,
    to: TaskId,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO task_tags (task_id, tag_id, user_id) \
         SELECT $3, tag_id, user_id FROM task_tags WHERE task_id = $2 AND user_id = $1",
    )
    .bind(user_id)
    .bind(from)
    .bind(to)
    .execute(db)
    .await
    .map(drop)
}

/// Claims up to `limit` due reminders: marks them delivered and returns them. Rows another
/// process is claiming are skipped, and the `reminded_at IS NULL` condition is re-checked under
/// the row lock, so each reminder is claimed exactly once.
#[tracing::instrument(skip_all)]
pub async fn claim_due_reminders(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> Result<Vec<(UserId, TaskId)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE tasks t SET reminded_at = now() \
         FROM (SELECT id FROM tasks \
               WHERE reminded_at IS NULL AND NOT completed AND remind_at <= now() \
               ORDER BY remind_at LIMIT $1 \
               FOR UPDATE SKIP LOCKED) due \
         WHERE t.id = due.id AND t.reminded_at IS NULL \
         RETURNING t.user_id, t.id",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The user's open tasks whose `remind_at` is at or before `before`, soonest first.
#[tracing::instrument(skip_all)]
pub async fn list_reminders(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    before: DateTime<Utc>,
) -> Result<Vec<Task>, sqlx::Error> {
    sqlx::query_as(concat!(
        task_select!(),
        " FROM tasks t WHERE t.user_id = $1 AND NOT t.completed AND t.remind_at <= $2 \
          ORDER BY t.remind_at, t.id"
    ))
    .bind(user_id)
    .bind(before)
    .fetch_all(db)
    .await
}

/// The user's IANA time zone name.
#[tracing::instrument(skip_all)]
pub async fn user_time_zone(
    db: impl PgExecutor<'_>,
    user_id: UserId,
) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT timezone FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(db)
        .await
}

/// Makes `tag_ids` exactly the task's tags. The caller has checked that they are the user's.
#[tracing::instrument(skip_all)]
pub async fn replace_task_tags(
    db: &mut PgConnection,
    user_id: UserId,
    task_id: TaskId,
    tag_ids: &[TagId],
) -> Result<(), sqlx::Error> {
    let ids: Vec<i64> = tag_ids.iter().map(|id| id.get()).collect();
    sqlx::query("DELETE FROM task_tags WHERE task_id = $1 AND user_id = $2 AND tag_id <> ALL($3)")
        .bind(task_id)
        .bind(user_id)
        .bind(&ids)
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "INSERT INTO task_tags (task_id, tag_id, user_id) \
         SELECT $1, id, $2 FROM tags WHERE id = ANY($3) AND user_id = $2 \
         ON CONFLICT DO NOTHING",
    )
    .bind(task_id)
    .bind(user_id)
    .bind(&ids)
    .execute(db)
    .await
    .map(drop)
}

/// Links a tag to a task; false when the link already existed.
#[tracing::instrument(skip_all)]
pub async fn link_tag(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    task_id: TaskId,
    tag_id: TagId,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO task_tags (task_id, tag_id, user_id) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(task_id)
    .bind(tag_id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Removes a link if there is one.
#[tracing::instrument(skip_all)]
pub async fn unlink_tag(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    task_id: TaskId,
    tag_id: TagId,
) -> Result<bool, sqlx::Error> {
    let result =
        sqlx::query("DELETE FROM task_tags WHERE task_id = $1 AND tag_id = $2 AND user_id = $3")
            .bind(task_id)
            .bind(tag_id)
            .bind(user_id)
            .execute(db)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// Marks the task as written now (its tag set changed).
#[tracing::instrument(skip_all)]
pub async fn touch_task(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    id: TaskId,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tasks SET updated_at = now() WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await
        .map(drop)
}

/// The ORDER BY clause: tasks without a due date come last ascending and first descending
/// (PostgreSQL's default null placement, stated explicitly), and ties break by id in the same
/// direction so pages never repeat or skip a task.
fn order_by(sort: TaskSort) -> &'static str {
    use SortField::*;
    match (sort.field, sort.descending) {
        (DueDate, false) => " ORDER BY t.due_date ASC NULLS LAST, t.id ASC",
        (DueDate, true) => " ORDER BY t.due_date DESC NULLS FIRST, t.id DESC",
        (Priority, false) => " ORDER BY t.priority ASC, t.id ASC",
        (Priority, true) => " ORDER BY t.priority DESC, t.id DESC",
        (CreatedAt, false) => " ORDER BY t.created_at ASC, t.id ASC",
        (CreatedAt, true) => " ORDER BY t.created_at DESC, t.id DESC",
        (UpdatedAt, false) => " ORDER BY t.updated_at ASC, t.id ASC",
        (UpdatedAt, true) => " ORDER BY t.updated_at DESC, t.id DESC",
        (Title, false) => " ORDER BY lower(t.title) COLLATE \"C\" ASC, t.id ASC",
        (Title, true) => " ORDER BY lower(t.title) COLLATE \"C\" DESC, t.id DESC",
    }
}

#[derive(sqlx::FromRow)]
struct TaskWithTotal {
    #[sqlx(flatten)]
    task: Task,
    total: i64,
}

/// One page of the user's tasks matching `filter`, and how many match in all.
#[tracing::instrument(skip_all)]
pub async fn list_tasks(
    db: &mut PgConnection,
    user_id: UserId,
    filter: &TaskFilter,
    sort: TaskSort,
    limit: i64,
    offset: i64,
) -> Result<ListedTasks, sqlx::Error> {
    let mut query = QueryBuilder::new(task_select!());
    if filter.search.is_some() {
        // A text search reads every candidate row anyway: count them in the same pass.
        query.push(", count(*) OVER () AS total");
    } else {
        // Otherwise the total is an uncorrelated subquery (run once, from an index), so the
        // page itself stops after LIMIT rows instead of reading and numbering every match as
        // `count(*) OVER ()` would. Inside it, `t` names the subquery's own scan.
        query.push(", (SELECT count(*)");
        push_from_where(&mut query, user_id, filter);
        query.push(") AS total");
    }
    push_from_where(&mut query, user_id, filter);
    query.push(order_by(sort));
    query.push(" LIMIT ").push_bind(limit);
    query.push(" OFFSET ").push_bind(offset);
    let rows: Vec<TaskWithTotal> = query.build_query_as().fetch_all(&mut *db).await?;

    let total = match rows.first() {
        Some(row) => row.total,
        // A page past the end carries no count; ask for it.
        None if offset > 0 => {
            let mut count = QueryBuilder::new("SELECT count(*)");
            push_from_where(&mut count, user_id, filter);
            count.build_query_scalar().fetch_one(&mut *db).await?
        }
        None => 0,
    };
    Ok(ListedTasks {
        tasks: rows.into_iter().map(|row| row.task).collect(),
        total,
    })
}

fn push_from_where(query: &mut QueryBuilder<'_, Postgres>, user_id: UserId, filter: &TaskFilter) {
    query
        .push(" FROM tasks t WHERE t.user_id = ")
        .push_bind(user_id);
    if let Some(completed) = filter.completed {
        query.push(" AND t.completed = ").push_bind(completed);
    }
    if let Some(priority) = filter.priority {
        query.push(" AND t.priority = ").push_bind(priority.rank());
    }
    if let Some(tag) = &filter.tag {
        query
            .push(
                " AND EXISTS (SELECT 1 FROM task_tags ft JOIN tags fg ON fg.id = ft.tag_id \
                 WHERE ft.task_id = t.id AND fg.user_id = ",
            )
            .push_bind(user_id)
            .push(" AND (lower(fg.name) = lower(")
            .push_bind(tag.name.clone())
            .push(")");
        if let Some(id) = tag.id {
            query.push(" OR fg.id = ").push_bind(id);
        }
        query.push("))");
    }
    if let Some(text) = &filter.search {
        let pattern = contains_pattern(text);
        query
            .push(" AND (t.title ILIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR t.description ILIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
    if let Some(before) = filter.due_before {
        query.push(" AND t.due_date <= ").push_bind(before);
    }
    if let Some(after) = filter.due_after {
        query.push(" AND t.due_date >= ").push_bind(after);
    }
    if filter.overdue {
        query.push(" AND t.due_date < now() AND NOT t.completed");
    }
}

/// Escapes `%`, `_` and `\` so that `text` matches literally inside a LIKE pattern, and wraps it
/// for a substring match.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern("plain"), "%plain%");
    }
}
