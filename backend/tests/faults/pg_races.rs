//! Races an edit without a lock can lose, made to happen every time: the test's own transaction
//! changes the task after the service read it and holds the row until the service's update waits
//! for it, then commits. The service must apply its edit again to the task as that transaction
//! left it, or, when that transaction also ended the caller's session, write nothing.
//!
//! And a status deleted while a write that names it is under way (the test's transaction
//! deletes it and holds the deletion until the service's statement waits for the row): the
//! write stores nothing that refers to it. A create, which read the status before the deletion
//! committed, is stopped by the foreign key and answers 503 with `Retry-After`; an edit, which
//! checks the status with a locking read, finds it gone and answers 400 `INVALID_STATUS`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::support::{App, PgDatabase, settings, skip_postgres};

/// A toggle whose read went stale flips the task as the other write left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toggle_that_lost_its_race_flips_the_task_as_the_winner_left_it() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let race = Race::start().await;
    let toggled = race
        .lose(
            "UPDATE tasks SET completed = true, completed_at = now() WHERE id = $1",
            None,
        )
        .await;
    assert_eq!(toggled.0, StatusCode::OK, "{}", toggled.1);
    // The other write completed the task after the toggle read it open: flipped again, open.
    assert_eq!(toggled.1["completed"], json!(false), "{}", toggled.1);
    assert!(!race.stored_completed().await);
    // The creation, the other write, and the toggle: one change each.
    assert_eq!(race.changes().await, 3);
}

/// An edit that lost its race to a write that also ended its session writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_whose_session_ended_during_its_race_writes_nothing() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let race = Race::start().await;
    let answer = race
        .lose(
            "UPDATE tasks SET completed = true, completed_at = now() WHERE id = $1",
            Some("UPDATE refresh_sessions SET revoked_at = now() WHERE user_id = $1"),
        )
        .await;
    assert_eq!(answer.0, StatusCode::UNAUTHORIZED, "{}", answer.1);
    assert_eq!(answer.1["code"], json!("TOKEN_REVOKED"), "{}", answer.1);
    assert!(race.stored_completed().await);
    // The creation and the other write; nothing from the refused toggle.
    assert_eq!(race.changes().await, 2);
}

/// A create naming a status that a concurrent deletion removes after the create read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_naming_a_status_deleted_meanwhile_answers_503_and_stores_nothing() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let race = Race::start().await;
    race.create_status("blocked").await;
    let tasks = race
        .app
        .url(&format!("/api/v1/users/{}/tasks", race.user_id));
    let create = || {
        race.app
            .client
            .post(&tasks)
            .bearer_auth(&race.token)
            .json(&json!({"title": "Doomed", "status": "blocked"}))
            .send()
    };

    let response = race
        .while_deleting("blocked", "INSERT INTO tasks%", create())
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], json!("SERVICE_UNAVAILABLE"), "{body}");
    assert_eq!(race.tasks_titled("Doomed").await, 0);

    // Sent again, the name is resolved afresh: there is no such status any more.
    let again = create().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["code"], json!("INVALID_STATUS"), "{body}");
    assert_eq!(race.tasks_titled("Doomed").await, 0);
}

/// An edit moving a task to a status that a concurrent deletion removes: its locking read of
/// the status waits for the deletion, then finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_to_a_status_deleted_meanwhile_answers_400_and_changes_nothing() {
    let _turn = crate::support::one_at_a_time().await;
    if skip_postgres().await {
        return;
    }
    let race = Race::start().await;
    race.create_status("blocked").await;
    let path = format!("/api/v1/users/{}/tasks/{}", race.user_id, race.task_id);
    let edit = race
        .app
        .client
        .patch(race.app.url(&path))
        .bearer_auth(&race.token)
        .json(&json!({"title": "Edited", "status": "blocked"}))
        .send();

    let response = race
        .while_deleting("blocked", "SELECT done FROM statuses%", edit)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], json!("INVALID_STATUS"), "{body}");
    assert_eq!(race.tasks_titled("Edited").await, 0);
    assert_eq!(race.tasks_titled("Raced").await, 1);
    // The creation only.
    assert_eq!(race.changes().await, 1);
}

/// A served app with one signed-in user and one open task, on a database of its own.
struct Race {
    database: PgDatabase,
    app: App,
    user_id: String,
    token: String,
    task_id: i64,
}

impl Race {
    async fn start() -> Self {
        let database = PgDatabase::create().await;
        let app = App::serve(settings(&database.url(), &[])).await;
        let (user_id, token) = app.signed_in_user("race@example.com").await;
        let task_id = app.create_task(&user_id, &token, "Raced").await;
        Self {
            database,
            app,
            user_id,
            token,
            task_id,
        }
    }

    /// Toggles the task while a transaction of the test's own holds it: that transaction runs
    /// `write` (`$1` the task) before the toggle is sent, and `also` (`$1` the user) once the
    /// toggle's update waits for the row, then commits. The toggle's status and body.
    async fn lose(&self, write: &str, also: Option<&str>) -> (StatusCode, Value) {
        let mut other = self.database.connect().await;
        let mut tx = other.begin().await.unwrap();
        sqlx::query(write)
            .bind(self.task_id)
            .execute(&mut *tx)
            .await
            .unwrap();
        let path = format!(
            "/api/v1/users/{}/tasks/{}/complete",
            self.user_id, self.task_id
        );
        let toggle = self
            .app
            .client
            .patch(self.app.url(&path))
            .bearer_auth(&self.token)
            .send();
        let toggle = tokio::spawn(toggle);
        self.wait_for_an_update_to_wait().await;
        if let Some(also) = also {
            let user_id: uuid::Uuid = self.user_id.parse().unwrap();
            sqlx::query(also)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let response = tokio::time::timeout(Duration::from_secs(10), toggle)
            .await
            .expect("the toggle did not answer after the other write committed")
            .unwrap()
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    /// Until the service's update of a task waits for the row lock the test holds: the
    /// service has read the task as it was before the test's write.
    async fn wait_for_an_update_to_wait(&self) {
        self.wait_for_a_statement_to_wait("UPDATE tasks%").await;
    }

    /// Until a statement of the service's matching `pattern` (`LIKE`) waits for a lock.
    async fn wait_for_a_statement_to_wait(&self, pattern: &str) {
        let mut observer = self.database.connect().await;
        for _ in 0..500 {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock' \
                   AND query LIKE $1",
            )
            .bind(pattern)
            .fetch_one(&mut observer)
            .await
            .unwrap();
            if waiting > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no statement like {pattern} ever waited for the row the test holds");
    }

    /// A status of the user's own, of the open kind, made through the API.
    async fn create_status(&self, name: &str) {
        let path = format!("/api/v1/users/{}/statuses", self.user_id);
        let response = self
            .app
            .client
            .post(self.app.url(&path))
            .bearer_auth(&self.token)
            .json(&json!({"name": name, "kind": "open"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    /// Deletes the status `name` in a transaction of the test's own, then sends `request` and
    /// lets it run until its statement like `waits` waits for the deleted row, then commits;
    /// the answer.
    async fn while_deleting(
        &self,
        name: &str,
        waits: &str,
        request: impl Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
    ) -> reqwest::Response {
        let mut other = self.database.connect().await;
        let mut tx = other.begin().await.unwrap();
        let deleted = sqlx::query("DELETE FROM statuses WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(deleted.rows_affected(), 1);
        let request = tokio::spawn(request);
        self.wait_for_a_statement_to_wait(waits).await;
        tx.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), request)
            .await
            .expect("the request did not answer after the deletion committed")
            .unwrap()
            .unwrap()
    }

    async fn tasks_titled(&self, title: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM tasks WHERE title = $1")
            .bind(title)
            .fetch_one(&mut self.observer().await)
            .await
            .unwrap()
    }

    async fn observer(&self) -> PgConnection {
        self.database.connect().await
    }

    async fn stored_completed(&self) -> bool {
        sqlx::query_scalar("SELECT completed FROM tasks WHERE id = $1")
            .bind(self.task_id)
            .fetch_one(&mut self.observer().await)
            .await
            .unwrap()
    }

    async fn changes(&self) -> i64 {
        // The task's kinds (1 to 3, and 7: a reminder); a status or priority may share its id.
        sqlx::query_scalar(
            "SELECT count(*) FROM changes WHERE object_id = $1 AND kind IN (1, 2, 3, 7)",
        )
        .bind(self.task_id)
        .fetch_one(&mut self.observer().await)
        .await
        .unwrap()
    }
}
