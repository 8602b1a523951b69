//! Upgrading a database written by the release before own statuses and priorities: every task
//! keeps its completion and its priority (and so its order by priority), recurring chains
//! become series, the manual order starts as the default list's, and the upgrade goes back down
//! as cleanly.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;

/// The migration that introduced statuses, priorities, the manual order and series.
const VERSION: i64 = 20261208000011;

#[tokio::test]
async fn tasks_written_before_statuses_keep_completion_and_priority_order_after_the_upgrade() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    // A task written through the API goes down with its priority and completion as levels.
    let done = app
        .create_task(&user, json!({"title": "Written new", "priority": "high"}))
        .await;
    app.toggled_task(&user, done["id"].as_i64().unwrap()).await;
    assert_eq!(app.store.migrate_down(1).await.unwrap(), [VERSION]);
    let level_kept = "UPDATE tasks SET title = title \
                      WHERE title = 'Written new' AND priority = 2 AND completed = true";
    assert_eq!(app.execute_sql(level_kept, None).await, 1);

    // Tasks as the release before wrote them: levels 0–2 and a completion flag, created in this
    // order (the oldest first), and a recurring chain of two occurrences.
    let old = [
        ("a: high, open", 2, false, "2026-01-01T00:00:01.000000Z"),
        ("b: low, done", 0, true, "2026-01-01T00:00:02.000000Z"),
        ("c: medium, open", 1, false, "2026-01-01T00:00:03.000000Z"),
        ("d: low, open", 0, false, "2026-01-01T00:00:04.000000Z"),
        ("e: high, done", 2, true, "2026-01-01T00:00:05.000000Z"),
    ];
    for (title, priority, completed, at) in old {
        let completed_at = if completed {
            format!("'{at}'")
        } else {
            "NULL".to_owned()
        };
        let sql = format!(
            "INSERT INTO tasks (user_id, title, title_key, completed, completed_at, priority, \
                                created_at, updated_at) \
             VALUES ($1, '{title}', '{title}', {completed}, {completed_at}, {priority}, \
                     '{at}', '{at}')"
        );
        app.execute_sql(&sql, Some(&user.id)).await;
    }
    for (n, completed) in [(1, true), (2, false)] {
        let sql = format!(
            "INSERT INTO tasks (user_id, title, title_key, completed, priority, due_date, \
                                recurrence_rule, created_at, updated_at) \
             VALUES ($1, 'daily {n}', 'daily {n}', {completed}, 1, \
                     '2030-01-0{n}T09:00:00.000000Z', 'FREQ=DAILY', \
                     '2026-01-02T00:00:0{n}.000000Z', '2026-01-02T00:00:0{n}.000000Z')"
        );
        app.execute_sql(&sql, Some(&user.id)).await;
    }
    app.execute_sql(
        "UPDATE tasks SET successor_id = (SELECT id FROM tasks WHERE title = 'daily 2'), \
                          recurred_at = updated_at \
         WHERE title = 'daily 1'",
        None,
    )
    .await;

    app.store.migrate_up().await.unwrap();

    let by_title = |page: &Value| -> Vec<(String, bool, String, String)> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|task| {
                (
                    task["title"].as_str().unwrap().to_owned(),
                    task["completed"].as_bool().unwrap(),
                    task["status"].as_str().unwrap().to_owned(),
                    task["priority"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let row = |title: &str, completed: bool, priority: &str| {
        let status = if completed {
            "completed"
        } else {
            "not_started"
        };
        (
            title.to_owned(),
            completed,
            status.to_owned(),
            priority.to_owned(),
        )
    };
    // By priority (low first), ties by id: the order the release before gave.
    let sorted = app
        .fetch_tasks(&user, &[("sort", "priority"), ("limit", "100")])
        .await;
    assert_eq!(
        by_title(&sorted),
        [
            row("b: low, done", true, "low"),
            row("d: low, open", false, "low"),
            row("c: medium, open", false, "medium"),
            row("daily 1", true, "medium"),
            row("daily 2", false, "medium"),
            row("Written new", true, "high"),
            row("a: high, open", false, "high"),
            row("e: high, done", true, "high"),
        ]
    );
    assert_eq!(sorted["total"], 8);
    let pending = app.fetch_tasks(&user, &[("status", "pending")]).await;
    assert_eq!(pending["total"], 4);

    // The manual order starts as the default list: newest first.
    let newest = app.fetch_tasks(&user, &[("limit", "100")]).await;
    let manual = app
        .fetch_tasks(&user, &[("sort", "position"), ("limit", "100")])
        .await;
    assert_eq!(by_title(&manual), by_title(&newest));
    // A new task goes above all of them.
    let fresh = app.create_task(&user, json!({"title": "After"})).await;
    let top = app
        .fetch_tasks(&user, &[("sort", "position"), ("limit", "1")])
        .await;
    assert_eq!(top["items"][0]["id"], fresh["id"]);

    // The chain is one series, named by its first task.
    let find = |title: &str| {
        manual["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|task| task["title"] == title)
            .unwrap()
            .clone()
    };
    let (first, second) = (find("daily 1"), find("daily 2"));
    assert_eq!(first["series_id"], first["id"]);
    assert_eq!(second["series_id"], first["id"]);
    assert_eq!(find("a: high, open")["series_id"], Value::Null);

    // The account has the defaults a new one gets.
    let statuses = app.fetch_statuses(&user).await;
    let names: Vec<(&str, &str, bool)> = statuses
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["kind"].as_str().unwrap(),
                s["is_default"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("not_started", "open", true),
            ("in_progress", "open", false),
            ("completed", "done", true)
        ]
    );
    // Completing goes on working on a migrated task: the recurring one makes its successor.
    let second_id = second["id"].as_i64().unwrap();
    let completed = app.toggled_task(&user, second_id).await;
    assert_eq!(completed["status"], "completed");
    let next = app
        .fetch_task(&user, completed["successor_id"].as_i64().unwrap())
        .await;
    assert_eq!(next["series_id"], first["id"]);
    assert_eq!(next["status"], "not_started");

    // And down again: the levels come back from the priorities' names.
    assert_eq!(app.store.migrate_down(1).await.unwrap(), [VERSION]);
    let levels = "UPDATE tasks SET title = title WHERE \
                  (title LIKE '%low%' AND priority = 0) OR (title LIKE '%medium%' AND priority = 1) \
                  OR (title LIKE '%high%' AND priority = 2)";
    assert_eq!(app.execute_sql(levels, None).await, 5);
    app.store.migrate_up().await.unwrap();
    let response = app.list_tasks(&user, &[("sort", "priority")]).await;
    assert_eq!(response.status(), StatusCode::OK);
}
