//! SQL for `tasks` and `task_tags` (SQLite).
//!
//! Every statement is scoped by `user_id`. Tasks come with their tags aggregated as JSON in the
//! same query, as on PostgreSQL.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqliteExecutor};

use super::{id_list, text_time};
use crate::db::case_key;
use crate::{
    db::{ListedTasks, SortField, TaskFields, TaskFilter, TaskSort},
    models::{TagId, Task, TaskId, UserId},
};

/// Selects a task with its tags as a JSON array ordered by name. Used with `FROM tasks t`.
macro_rules! task_select {
    () => {
        "SELECT t.id, t.user_id, t.title, t.description, t.completed, t.completed_at, \
                t.priority, t.due_date, t.remind_at, t.recurrence_rule, t.created_at, t.updated_at, \
                t.reminded_at, t.successor_id, t.recurred_at, t.recurrence_start, \
                (SELECT json_group_array(json_object('id', g.id, 'name', g.name, 'color', g.color) \
                                         ORDER BY g.name_key, g.id) \
                 FROM task_tags tt JOIN tags g ON g.id = tt.tag_id \
                 WHERE tt.task_id = t.id) AS tags"
    };
}

/// Inserts a task; `recurrence_start` is its series' start when it continues one.
#[tracing::instrument(skip_all)]
pub async fn insert_task(
    db: impl SqliteExecutor<'_>,
    user_id: UserId,
    fields: &TaskFields,
    recurrence_start: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<TaskId, sqlx::Error> {
    let now = text_time(now);
    sqlx::query_scalar(
        "INSERT INTO tasks (user_id, title, title_key, description, description_key, completed, \
                            completed_at, priority, due_date, remind_at, recurrence_rule, \
                            created_at, updated_at, recurrence_start) \
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 THEN $11 END, $7, $8, $9, $10, $11, $11, \
                 $12) \
         RETURNING id",
    )
    .bind(user_id)
    .bind(&fields.title)
    .bind(case_key(&fields.title))
    .bind(&fields.description)
    .bind(fields.description.as_deref().map(case_key))
    .bind(fields.completed)
    .bind(fields.priority.rank())
    .bind(fields.due_date.map(text_time))
    .bind(fields.remind_at.map(text_time))
    .bind(&fields.recurrence_rule)
    .bind(now)
    .bind(recurrence_start.map(text_time))
    .fetch_one(db)
    .await
}

/// Writes every column; `completed_at` is set when the task becomes completed and cleared when
/// it stops being so, and a changed `remind_at` re-arms the reminder.
#[tracing::instrument(skip_all)]
pub async fn update_task(
    db: impl SqliteExecutor<'_>,
    user_id: UserId,
    id: TaskId,
    fields: &TaskFields,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE tasks SET title = $3, title_key = $4, description = $5, description_key = $6, \
             completed = $7, \
             completed_at = CASE WHEN NOT $7 THEN NULL \
                                 WHEN completed THEN completed_at \
                                 ELSE $12 END, \
             priority = $8, due_date = $9, remind_at = $10, recurrence_rule = $11, \
             updated_at = $12, \
             reminded_at = CASE WHEN remind_at IS NOT $10 THEN NULL ELSE reminded_at END, \
             recurrence_start = CASE WHEN due_date IS NOT $9 OR recurrence_rule IS NOT $11 \
                                     THEN NULL ELSE recurrence_start END \
         WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .bind(&fields.title)
    .bind(case_key(&fields.title))
    .bind(&fields.description)
    .bind(fields.description.as_deref().map(case_key))
    .bind(fields.completed)
    .bind(fields.priority.rank())
    .bind(fields.due_date.map(text_time))
    .bind(fields.remind_at.map(text_time))
    .bind(&fields.recurrence_rule)
    .bind(text_time(now))
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

#[tracing::instrument(skip_all)]
pub async fn find_task(
    db: impl SqliteExecutor<'_>,
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

/// Deletes the task; its links go by cascade, its tags stay, and a predecessor's link to it is
/// cleared (its `recurred_at` stays, so no new successor is made).
#[tracing::instrument(skip_all)]
pub async fn delete_task(
    db: &mut SqliteConnection,
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

/// Links `id` to its successor and records that it has one; `updated_at` moves, as the
/// PostgreSQL trigger does for this write.
#[tracing::instrument(skip_all)]
pub async fn set_successor(
    db: impl SqliteExecutor<'_>,
    user_id: UserId,
    id: TaskId,
    successor: TaskId,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tasks SET successor_id = $3, recurred_at = $4, updated_at = $4 \
         WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .bind(successor)
    .bind(text_time(now))
    .execute(db)
    .await
    .map(drop)
}

/// Gives `to` the same tags as `from`.
#[tracing::instrument(skip_all)]
pub async fn copy_tags(
    db: impl SqliteExecutor<'_>,
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

/// Claims up to `limit` due reminders: marks them delivered and returns them. Runs on the
/// single writer, so no two claims overlap in this process; another process's claim waits
/// for the write lock and then finds them taken.
#[tracing::instrument(skip_all)]
pub async fn claim_due_reminders(
    db: impl SqliteExecutor<'_>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<(UserId, TaskId)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE tasks SET reminded_at = $2 \
         WHERE id IN (SELECT id FROM tasks \
                      WHERE reminded_at IS NULL AND NOT completed AND remind_at <= $2 \
                      ORDER BY remind_at LIMIT $1) \
           AND reminded_at IS NULL \
         RETURNING user_id, id",
    )
    .bind(limit)
    .bind(text_time(now))
    .fetch_all(db)
    .await
}

/// The user's open tasks whose `remind_at` is at or before `before`, soonest first.
#[tracing::instrument(skip_all)]
pub async fn list_reminders(
    db: impl SqliteExecutor<'_>,
    user_id: UserId,
    before: DateTime<Utc>,
) -> Result<Vec<Task>, sqlx::Error> {
    sqlx::query_as(concat!(
        task_select!(),
        " FROM tasks t WHERE t.user_id = $1 AND NOT t.completed AND t.remind_at <= $2 \
          ORDER BY t.remind_at, t.id"
    ))
    .bind(user_id)
    .bind(text_time(before))
    .fetch_all(db)
    .await
}

/// The user's IANA time zone name.
#[tracing::instrument(skip_all)]
pub async fn user_time_zone(
    db: impl SqliteExecutor<'_>,
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
    db: &mut SqliteConnection,
    user_id: UserId,
    task_id: TaskId,
    tag_ids: &[TagId],
) -> Result<(), sqlx::Error> {
    let ids = id_list(tag_ids);
    sqlx::query(
        "DELETE FROM task_tags WHERE task_id = $1 AND user_id = $2 \
           AND tag_id NOT IN (SELECT value FROM json_each($3))",
    )
    .bind(task_id)
    .bind(user_id)
    .bind(&ids)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "INSERT INTO task_tags (task_id, tag_id, user_id) \
         SELECT $1, id, $2 FROM tags WHERE user_id = $2 AND id IN (SELECT value FROM json_each($3)) \
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
    db: impl SqliteExecutor<'_>,
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
    db: impl SqliteExecutor<'_>,
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
    db: impl SqliteExecutor<'_>,
    user_id: UserId,
    id: TaskId,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tasks SET updated_at = $3 WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .bind(text_time(now))
        .execute(db)
        .await
        .map(drop)
}

/// The ORDER BY clause, the same order as on PostgreSQL: no due date last ascending and first
/// descending, titles by their lower-cased text, ties by id in the same direction.
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
        (Title, false) => " ORDER BY t.title_key ASC, t.id ASC",
        (Title, true) => " ORDER BY t.title_key DESC, t.id DESC",
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
    db: &mut SqliteConnection,
    user_id: UserId,
    filter: &TaskFilter,
    sort: TaskSort,
    limit: i64,
    offset: i64,
    now: DateTime<Utc>,
) -> Result<ListedTasks, sqlx::Error> {
    let mut query = QueryBuilder::new(concat!(task_select!(), ", count(*) OVER () AS total"));
    push_from_where(&mut query, user_id, filter, now);
    query.push(order_by(sort));
    query.push(" LIMIT ").push_bind(limit);
    query.push(" OFFSET ").push_bind(offset);
    let rows: Vec<TaskWithTotal> = query.build_query_as().fetch_all(&mut *db).await?;

    let total = match rows.first() {
        Some(row) => row.total,
        // A page past the end carries no count; ask for it.
        None if offset > 0 => {
            let mut count = QueryBuilder::new("SELECT count(*)");
            push_from_where(&mut count, user_id, filter, now);
            count.build_query_scalar().fetch_one(&mut *db).await?
        }
        None => 0,
    };
    Ok(ListedTasks {
        tasks: rows.into_iter().map(|row| row.task).collect(),
        total,
    })
}

fn push_from_where(
    query: &mut QueryBuilder<'_, Sqlite>,
    user_id: UserId,
    filter: &TaskFilter,
    now: DateTime<Utc>,
) {
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
            .push(" AND (fg.name_key = ")
            .push_bind(case_key(&tag.name));
        if let Some(id) = tag.id {
            query.push(" OR fg.id = ").push_bind(id);
        }
        query.push("))");
    }
    if let Some(text) = &filter.search {
        // instr() matches the text literally: no character of it is a wildcard.
        let needle = case_key(text);
        query
            .push(" AND (instr(t.title_key, ")
            .push_bind(needle.clone())
            .push(") > 0 OR instr(t.description_key, ")
            .push_bind(needle)
            .push(") > 0)");
    }
    if let Some(before) = filter.due_before {
        query
            .push(" AND t.due_date <= ")
            .push_bind(text_time(before));
    }
    if let Some(after) = filter.due_after {
        query
            .push(" AND t.due_date >= ")
            .push_bind(text_time(after));
    }
    if filter.overdue {
        query
            .push(" AND t.due_date < ")
            .push_bind(text_time(now))
            .push(" AND NOT t.completed");
    }
}
