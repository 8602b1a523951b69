//! Listing tasks: filters, sort orders and pages.

use chrono::{DateTime, Utc};

use super::{
    Missing, Store, StoreError, StoreResult, case_key,
    dialect::{Dialect, sql},
    sql::{Query, Timestamp},
    tasks::task_own_columns,
};
use crate::models::{Caller, CategoryKind, Task, UserId};

/// Which tasks a list shows.
#[derive(Clone, Debug, Default)]
pub struct TaskFilter {
    pub completed: Option<bool>,
    /// One of the user's statuses, by its exact name.
    pub status: Option<String>,
    /// One of the user's priorities, by its exact name.
    pub priority: Option<String>,
    /// A tag id or name; either matches.
    pub tag: Option<TagRef>,
    /// Text that must occur in the title or description, regardless of case; `%`, `_` and `\`
    /// are literal.
    pub search: Option<String>,
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
    pub overdue: bool,
}

/// A tag named in a filter: by name (regardless of case), and by id when the text is a number.
#[derive(Clone, Debug)]
pub struct TagRef {
    pub id: Option<i64>,
    pub name: String,
}

/// The columns a list can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortField {
    DueDate,
    /// The priorities' position (their rank).
    Priority,
    /// The statuses' position.
    Status,
    /// The manual order.
    Position,
    CreatedAt,
    UpdatedAt,
    Title,
}

/// A sort order. Tasks without a due date come last ascending and first descending, titles
/// sort by their case key in code-point order, and ties break by id in the same direction, so
/// pages never repeat or skip a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskSort {
    pub field: SortField,
    pub descending: bool,
}

impl TaskSort {
    fn order_by(self) -> String {
        let column = match self.field {
            SortField::DueDate => "t.due_date",
            SortField::Priority => {
                "(SELECT sp.position FROM priorities sp WHERE sp.id = t.priority_id)"
            }
            SortField::Status => "(SELECT ss.position FROM statuses ss WHERE ss.id = t.status_id)",
            SortField::Position => "t.position",
            SortField::CreatedAt => "t.created_at",
            SortField::UpdatedAt => "t.updated_at",
            SortField::Title => "t.title_key",
        };
        let (direction, nulls) = match (self.descending, self.field == SortField::DueDate) {
            (false, true) => ("ASC", " NULLS LAST"),
            (true, true) => ("DESC", " NULLS FIRST"),
            (false, false) => ("ASC", ""),
            (true, false) => ("DESC", ""),
        };
        format!(" ORDER BY {column} {direction}{nulls}, t.id {direction}")
    }
}

/// One page of a list and how many tasks match in all.
pub struct ListedTasks {
    pub tasks: Vec<Task>,
    pub total: i64,
}

#[derive(sqlx::FromRow)]
struct TaskWithTotal {
    #[sqlx(flatten)]
    task: Task,
    total: i64,
}

impl Store {
    /// One page of the user's tasks matching `filter`, and how many match in all.
    pub async fn list_tasks(
        &self,
        caller: &Caller,
        filter: &TaskFilter,
        sort: TaskSort,
        limit: i64,
        offset: i64,
    ) -> StoreResult<ListedTasks> {
        let (user_id, now) = (caller.user_id, self.now());
        let mut query = self.page_select(user_id);
        if filter.search.is_some() || self.dialect.counts_in_window() {
            // A text search reads every candidate row anyway: count them in the same pass.
            query.push(", count(*) OVER () AS total");
        } else {
            // Otherwise the total is an uncorrelated subquery (run once, from an index), so the
            // page itself stops after LIMIT rows instead of reading and numbering every match
            // as `count(*) OVER ()` would. Inside it, `t` names the subquery's own scan.
            query.push(", (SELECT count(*)");
            push_from_where(&mut query, user_id, filter, now);
            query.push(") AS total");
        }
        push_from_where(&mut query, user_id, filter, now);
        // The session check, folded into the page's statement: uncorrelated, so both databases
        // evaluate it once per statement, not once per row.
        query.push(" AND EXISTS (SELECT 1 FROM refresh_sessions s WHERE s.id = ");
        query.push_bind(caller.session_id).push(" AND s.user_id = ");
        query.push_bind(user_id).push(" AND s.revoked_at IS NULL)");
        query.push(&sort.order_by());
        query.push(" LIMIT ").push_bind(limit);
        query.push(" OFFSET ").push_bind(offset);

        let mut conn = self.backend.read(&self.health).await?;
        let rows: Vec<TaskWithTotal> = query.fetch_all(conn.conn()).await?;
        if rows.is_empty() {
            self.session_is_live(conn.conn(), caller).await?;
            // A name that is none of the user's is an error, not an empty list.
            let named = [
                (CategoryKind::Status, &filter.status),
                (CategoryKind::Priority, &filter.priority),
            ];
            for (kind, name) in named {
                if let Some(name) = name
                    && !self
                        .category_exists(conn.conn(), user_id, kind, name)
                        .await?
                {
                    return Err(StoreError::NotFound(match kind {
                        CategoryKind::Status => Missing::Status,
                        CategoryKind::Priority => Missing::Priority,
                    }));
                }
            }
        }
        let total = match rows.first() {
            Some(row) => row.total,
            // A page past the end carries no count; ask for it.
            None if offset > 0 => {
                let mut count = Query::new(self.dialect, "SELECT count(*)");
                push_from_where(&mut count, user_id, filter, now);
                let (total,): (i64,) = count.fetch_one(conn.conn()).await?;
                total
            }
            None => 0,
        };
        Ok(ListedTasks {
            tasks: rows.into_iter().map(|row| row.task).collect(),
            total,
        })
    }
}

impl Store {
    /// The select list of a page of tasks. On PostgreSQL the names of the tasks' statuses and
    /// priorities come from one map of the user's each, built once per statement (an
    /// uncorrelated subquery) and looked up per row, instead of two index lookups per row; on
    /// SQLite, whose lookups are calls within the process, from the lookups.
    fn page_select(&self, user_id: UserId) -> Query<'static> {
        let own = sql!(concat!("SELECT ", task_own_columns!(), ", {tags} AS tags"));
        let mut query = Query::new(self.dialect, own.get(self.dialect).to_owned());
        match self.dialect {
            Dialect::Postgres => {
                query
                    .push(
                        ", (SELECT jsonb_object_agg(ms.id, ms.name) FROM statuses ms \
                         WHERE ms.user_id = ",
                    )
                    .push_bind(user_id)
                    .push(
                        ") ->> t.status_id::text AS status, \
                         (SELECT jsonb_object_agg(mp.id, mp.name) FROM priorities mp \
                         WHERE mp.user_id = ",
                    )
                    .push_bind(user_id)
                    .push(") ->> t.priority_id::text AS priority");
            }
            Dialect::Sqlite => {
                query.push(
                    ", (SELECT cs.name FROM statuses cs WHERE cs.id = t.status_id) AS status, \
                     (SELECT cp.name FROM priorities cp WHERE cp.id = t.priority_id) AS priority",
                );
            }
        }
        query
    }
}

fn push_from_where(query: &mut Query<'_>, user_id: UserId, filter: &TaskFilter, now: Timestamp) {
    query
        .push(" FROM tasks t WHERE t.user_id = ")
        .push_bind(user_id);
    if let Some(completed) = filter.completed {
        query.push(" AND t.completed = ").push_bind(completed);
    }
    if let Some(status) = &filter.status {
        query
            .push(" AND t.status_id = (SELECT fs.id FROM statuses fs WHERE fs.user_id = ")
            .push_bind(user_id)
            .push(" AND fs.name = ")
            .push_bind(status.clone())
            .push(")");
    }
    if let Some(priority) = &filter.priority {
        query
            .push(" AND t.priority_id = (SELECT fp.id FROM priorities fp WHERE fp.user_id = ")
            .push_bind(user_id)
            .push(" AND fp.name = ")
            .push_bind(priority.clone())
            .push(")");
    }
    if let Some(tag) = &filter.tag {
        query
            .push(
                " AND EXISTS (SELECT 1 FROM task_tags ft \
                 JOIN tags fg ON fg.id = ft.tag_id AND fg.user_id = ft.user_id \
                 WHERE ft.task_id = t.id AND ft.user_id = t.user_id AND fg.user_id = ",
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
        let pattern = contains_pattern(&case_key(text));
        query
            .push(" AND (t.title_key LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR t.description_key LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
    if let Some(before) = filter.due_before {
        query
            .push(" AND t.due_date <= ")
            .push_bind(Timestamp(before));
    }
    if let Some(after) = filter.due_after {
        query
            .push(" AND t.due_date >= ")
            .push_bind(Timestamp(after));
    }
    if filter.overdue {
        query
            .push(" AND t.due_date < ")
            .push_bind(now)
            .push(" AND NOT t.completed");
    }
}

/// Escapes `%`, `_` and `\` so that `text` matches literally inside a LIKE pattern, and wraps
/// it for a substring match.
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

    #[test]
    fn sort_orders_put_tasks_without_a_due_date_last_ascending() {
        let sort = TaskSort {
            field: SortField::DueDate,
            descending: false,
        };
        assert_eq!(
            sort.order_by(),
            " ORDER BY t.due_date ASC NULLS LAST, t.id ASC"
        );
        let sort = TaskSort {
            field: SortField::Title,
            descending: true,
        };
        assert_eq!(sort.order_by(), " ORDER BY t.title_key DESC, t.id DESC");
    }
}
