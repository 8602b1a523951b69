//! The service's SQLite file shared with other SQLite clients: an external reader, an online
//! backup, `todo-api migrate status` and a second `todo-api serve` come and go beside a running
//! service, which is then killed with SIGKILL. Every acknowledged write must survive, the file
//! must stay intact, and the backup must hold everything acknowledged before it began.
//!
//! The fault this catches: a process that opens and closes its own database file outside
//! SQLite silently drops SQLite's POSIX locks, so the next client to close the file believes it
//! is the last one and deletes the write-ahead log the service is still writing to.

use std::{
    collections::BTreeMap,
    fs::File,
    path::Path,
    process::{Command, Stdio},
};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Row};

use crate::support::{
    Service, TempDir, User, child_command, integrity_check, open_sqlite as open, wait_exit,
};

/// Runs `todo-api <args>` on the database to completion (at most [`DEADLINE`]), asserts it
/// succeeded and returns what it printed.
///
/// [`DEADLINE`]: crate::support::DEADLINE
async fn run_cli(dir: &Path, database: &Path, args: &[&str]) -> String {
    let log = format!("{}.log", args.join("-"));
    let mut child = child_command(dir, database, args, &log)
        .spawn()
        .expect("run todo-api");
    let what = format!("todo-api {}", args.join(" "));
    let exit = wait_exit(&mut child, &what).await;
    let output = std::fs::read_to_string(dir.join(log)).unwrap();
    assert!(exit.success(), "{what}: {exit}\n{output}");
    output
}

impl Service {
    /// Creates a task titled `title`; returns its id once the service acknowledged it (201).
    async fn create_task(&self, user: &User, title: &str) -> i64 {
        let response = self
            .http
            .post(self.url(&user.tasks_path()))
            .bearer_auth(&user.access)
            .json(&json!({"title": title}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{} creating {title}: {body}",
            self.name
        );
        assert_eq!(body["title"], title, "{body}");
        body["id"].as_i64().unwrap()
    }

    /// One page of the user's tasks: (status, body).
    async fn list_page(&self, user: &User, page: u32) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(&user.tasks_path()))
            .bearer_auth(&user.access)
            .query(&[("page", page.to_string()), ("limit", "100".to_owned())])
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    /// Every task of the user, id → title, through the API.
    async fn all_tasks(&self, user: &User) -> BTreeMap<i64, String> {
        let mut tasks = BTreeMap::new();
        for page in 1..=100 {
            let (status, body) = self.list_page(user, page).await;
            assert_eq!(status, StatusCode::OK, "{} listing: {body}", self.name);
            let items = body["items"].as_array().unwrap();
            for item in items {
                tasks.insert(
                    item["id"].as_i64().unwrap(),
                    item["title"].as_str().unwrap().to_owned(),
                );
            }
            if page >= body["pages"].as_u64().unwrap() as u32 {
                assert_eq!(
                    body["total"].as_u64().unwrap() as usize,
                    tasks.len(),
                    "{body}"
                );
                return tasks;
            }
        }
        panic!("more than 100 pages of tasks");
    }
}

impl Service {
    /// Every change in the user's log, from the start, through `GET …/changes`: the ids of the
    /// tasks created (each created task appears once, at its last change), after sign-up's
    /// statuses and priorities.
    async fn created_in_log(&self, user: &User) -> BTreeMap<i64, String> {
        let mut created = BTreeMap::new();
        let mut since = "0".to_owned();
        loop {
            let response = self
                .http
                .get(self.url(&format!("/api/v1/users/{}/changes", user.id)))
                .bearer_auth(&user.access)
                .query(&[("since", since.as_str()), ("limit", "1000")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{}", self.name);
            let body: Value = response.json().await.unwrap();
            for change in body["changes"].as_array().unwrap() {
                // Sign-up's: the account's statuses and priorities.
                let kind = change["type"].as_str().unwrap();
                if kind == "status.created" || kind == "priority.created" {
                    continue;
                }
                assert_eq!(kind, "task.created", "{change}");
                let title = change["data"]["title"].as_str().unwrap().to_owned();
                created.insert(change["id"].as_i64().unwrap(), title);
            }
            since = body["cursor"].as_str().unwrap().to_owned();
            if !body["has_more"].as_bool().unwrap() {
                return created;
            }
        }
    }
}

/// Every task in a SQLite file, id → title, read directly.
async fn tasks_in_file(file: &Path) -> BTreeMap<i64, String> {
    let mut conn = open(file).await;
    let rows = sqlx::query("SELECT id, title FROM tasks")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    rows.iter()
        .map(|row| (row.get::<i64, _>(0), row.get::<String, _>(1)))
        .collect()
}

/// An online backup of `database` into `backup` while the service runs: docs/operations.md's
/// `sqlite3 … ".backup …"` when the CLI is installed, else `VACUUM INTO` through sqlx.
async fn online_backup(dir: &Path, database: &Path, backup: &Path) {
    let cli = Path::new("/usr/bin/sqlite3");
    if cli.exists() {
        let mut child = Command::new(cli)
            .arg(database)
            .arg(format!(".backup '{}'", backup.display()))
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("backup.log")).unwrap())
            .stderr(File::create(dir.join("backup.err")).unwrap())
            .spawn()
            .expect("run sqlite3");
        let status = wait_exit(&mut child, "sqlite3 .backup").await;
        let errors = std::fs::read_to_string(dir.join("backup.err")).unwrap();
        assert!(
            status.success() && errors.is_empty(),
            "sqlite3 .backup: {status} {errors}"
        );
    } else {
        let mut conn = open(database).await;
        sqlx::query("VACUUM INTO ?")
            .bind(backup.to_str().unwrap())
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
}

/// Records an acknowledged task; the same id acknowledged twice means two writers lost sight of
/// each other.
fn acknowledge(acknowledged: &mut BTreeMap<i64, String>, id: i64, title: String) {
    if let Some(earlier) = acknowledged.insert(id, title.clone()) {
        panic!("task id {id} acknowledged twice: {earlier:?} and then {title:?}");
    }
}

/// Asserts every acknowledged task is in `found` under its title.
fn assert_all_present(
    acknowledged: &BTreeMap<i64, String>,
    found: &BTreeMap<i64, String>,
    what: &str,
) {
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|(id, title)| found.get(id) != Some(title))
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: {} of {} acknowledged tasks missing or changed: {missing:?}",
        missing.len(),
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_readers_backups_migrate_a_second_process_and_sigkill() {
    let _turn = crate::support::one_at_a_time().await;
    let dir = TempDir::new();
    let database = dir.0.join("todo.db");
    let backup = dir.0.join("backup.db");
    let mut acknowledged = BTreeMap::new();

    // The service migrates the new file at start (the old lock opened and closed it here).
    let mut first = Service::start("first", &dir.0, &database).await;
    let user = User::sign_up(&first.http, &first.base).await;
    for n in 1..=5 {
        let title = format!("before the reader {n}");
        let id = first.create_task(&user, &title).await;
        acknowledge(&mut acknowledged, id, title);
    }

    // An external reader opens the file, reads and closes it.
    let mut reader = open(&database).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert_eq!(count, 5);
    reader.close().await.unwrap();

    for n in 1..=5 {
        let title = format!("after the reader {n}");
        let id = first.create_task(&user, &title).await;
        acknowledge(&mut acknowledged, id, title);
    }

    // An online backup; everything acknowledged so far must be in it.
    let before_backup = acknowledged.clone();
    online_backup(&dir.0, &database, &backup).await;

    // `todo-api migrate status` and `migrate up` against the same file.
    let status = run_cli(&dir.0, &database, &["migrate", "status"]).await;
    let applied = status.lines().filter(|l| l.starts_with("applied ")).count();
    let pending = status.lines().filter(|l| l.starts_with("pending ")).count();
    assert!(applied > 0 && pending == 0, "migrate status:\n{status}");
    let up = run_cli(&dir.0, &database, &["migrate", "up"]).await;
    assert!(up.contains("all migrations applied"), "migrate up:\n{up}");

    // A second process serves a few writes on the same file, then stops cleanly.
    let mut second = Service::start("second", &dir.0, &database).await;
    let second_user = User {
        id: user.id.clone(),
        email: user.email.clone(),
        access: second.sign_in(&user.email).await,
    };
    for n in 1..=3 {
        let title = format!("through the second process {n}");
        let id = second.create_task(&second_user, &title).await;
        acknowledge(&mut acknowledged, id, title);
    }
    let seen = second.all_tasks(&second_user).await;
    assert_all_present(&acknowledged, &seen, "the second process's view");
    let exit = second.terminate().await;
    assert!(exit.success(), "second process: {exit}\n{}", second.log());

    // More writes on the first service, many at once, with lists alongside.
    for n in 1..=3 {
        let title = format!("after the second process {n}");
        let id = first.create_task(&user, &title).await;
        acknowledge(&mut acknowledged, id, title);
    }
    let titles: Vec<String> = (1..=50).map(|n| format!("concurrent {n}")).collect();
    let creates = join_all(titles.iter().map(|title| first.create_task(&user, title)));
    let lists = join_all((0..50).map(|_| first.list_page(&user, 1)));
    let (ids, pages) = tokio::join!(creates, lists);
    for (status, body) in pages {
        assert_eq!(status, StatusCode::OK, "a concurrent list: {body}");
        assert!(
            body["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty()),
            "{body}"
        );
    }
    for (id, title) in ids.into_iter().zip(titles) {
        acknowledge(&mut acknowledged, id, title);
    }
    for n in 1..=5 {
        let title = format!("just before the kill {n}");
        let id = first.create_task(&user, &title).await;
        acknowledge(&mut acknowledged, id, title);
    }

    // SIGKILL: no clean shutdown, no checkpoint. The write-ahead log must carry every commit.
    first.kill().await;
    drop(first);

    let mut restarted = Service::start("restarted", &dir.0, &database).await;
    let user = User {
        access: restarted.sign_in(&user.email).await,
        ..user
    };
    let found = restarted.all_tasks(&user).await;
    assert_all_present(&acknowledged, &found, "after SIGKILL and restart");
    assert_eq!(
        found.len(),
        acknowledged.len(),
        "no task appears that was not created"
    );
    assert_eq!(integrity_check(&database).await, "ok");
    // The change log was written with each task: it holds exactly the tasks that are there.
    assert_eq!(
        restarted.created_in_log(&user).await,
        found,
        "the change log after SIGKILL and restart"
    );

    // A clean stop still folds the write-ahead log into the file.
    let exit = restarted.terminate().await;
    assert!(exit.success(), "restarted: {exit}\n{}", restarted.log());
    assert!(
        !dir.0.join("todo.db-wal").exists(),
        "todo.db-wal left after a clean stop"
    );

    assert_eq!(integrity_check(&backup).await, "ok");
    assert_all_present(&before_backup, &tasks_in_file(&backup).await, "the backup");
}
