//! Organising tasks (issue 28): each user's statuses and priorities, the manual order of tasks,
//! and operations on a recurring series.
//!
//! Statuses and priorities are the user's own rows, referred to by tasks and shown by name: a
//! rename shows on every task at once (and is in the change log for each of them), a deletion
//! never strands a task, and a status's kind decides `completed`. The manual order is each
//! task's `position`; moves and reorders keep positions unique however they race. A series can
//! be previewed, skipped, stopped, deleted whole and edited from one occurrence on.

use std::fmt::Display;

use futures_util::future::join_all;
use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};

use super::helpers::{
    TestApp, TestUser, assert_error, assert_status, assert_validation_error, body, titles, utc_time,
};

// --- helpers: requests --------------------------------------------------------------------------

/// `/api/v1/users/{user_id}{rest}`.
fn user_path(user: &TestUser, rest: &str) -> String {
    format!("/api/v1/users/{}{rest}", user.id)
}

/// Sends `method` to `rest` under `user`'s path with their token.
async fn call(
    app: &TestApp,
    user: &TestUser,
    method: Method,
    rest: &str,
    body: Option<&Value>,
) -> Response {
    app.send(method, &user_path(user, rest), Some(&user.access), body)
        .await
}

// --- helpers: statuses and priorities (`which`: `statuses` or `priorities`) ----------------------

/// `GET …/{which}`; asserts 200.
async fn list(app: &TestApp, user: &TestUser, which: &str) -> Value {
    let response = call(app, user, Method::GET, &format!("/{which}"), None).await;
    assert_status(response, StatusCode::OK).await
}

/// How many statuses or priorities (`which`) `user` has.
async fn count(app: &TestApp, user: &TestUser, which: &str) -> usize {
    list(app, user, which).await.as_array().unwrap().len()
}

/// The names of `user`'s statuses or priorities (`which`), in their order.
async fn names(app: &TestApp, user: &TestUser, which: &str) -> Vec<String> {
    names_of(&list(app, user, which).await, "name")
}

/// The status or priority (`which`) of `user` named `name`, as the list shows it.
async fn named(app: &TestApp, user: &TestUser, which: &str, name: &str) -> Value {
    let all = list(app, user, which).await;
    all.as_array()
        .unwrap()
        .iter()
        .find(|item| item["name"] == name)
        .unwrap_or_else(|| panic!("no {which} named {name} in {all}"))
        .clone()
}

/// The id of `user`'s status or priority named `name`.
async fn id_of(app: &TestApp, user: &TestUser, which: &str, name: &str) -> i64 {
    named(app, user, which, name).await["id"].as_i64().unwrap()
}

/// `GET …/{which}/{id}`.
async fn get(app: &TestApp, user: &TestUser, which: &str, id: i64) -> Response {
    call(app, user, Method::GET, &format!("/{which}/{id}"), None).await
}

/// `POST …/{which}` with `request`.
async fn post(app: &TestApp, user: &TestUser, which: &str, request: Value) -> Response {
    let path = format!("/{which}");
    call(app, user, Method::POST, &path, Some(&request)).await
}

/// `POST …/{which}` with `request`; asserts 201 and returns the `Location` header and what was
/// created.
async fn create_located(
    app: &TestApp,
    user: &TestUser,
    which: &str,
    request: Value,
) -> (String, Value) {
    let response = post(app, user, which, request.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED, "creating {request}");
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    (location, body(response).await)
}

/// `POST …/{which}` with `request`; asserts 201 and returns what was created.
async fn create(app: &TestApp, user: &TestUser, which: &str, request: Value) -> Value {
    create_located(app, user, which, request).await.1
}

/// Creates a done status named `archived` for `user`; returns it.
async fn archived_status(app: &TestApp, user: &TestUser) -> Value {
    let request = json!({"name": "archived", "kind": "done"});
    create(app, user, "statuses", request).await
}

/// `PATCH …/{which}/{id}` with `request`.
async fn patch(app: &TestApp, user: &TestUser, which: &str, id: i64, request: Value) -> Response {
    let path = format!("/{which}/{id}");
    call(app, user, Method::PATCH, &path, Some(&request)).await
}

/// `PATCH …/{which}/{id}` with `request`; asserts 200 and returns the status or priority.
async fn patched_category(
    app: &TestApp,
    user: &TestUser,
    which: &str,
    id: i64,
    request: Value,
) -> Value {
    assert_status(patch(app, user, which, id, request).await, StatusCode::OK).await
}

/// `DELETE …/{which}/{id}`.
async fn delete(app: &TestApp, user: &TestUser, which: &str, id: i64) -> Response {
    call(app, user, Method::DELETE, &format!("/{which}/{id}"), None).await
}

/// `DELETE …/{which}/{id}?replace_with={replacement}`: its tasks move to `replacement`.
async fn delete_replacing(
    app: &TestApp,
    user: &TestUser,
    which: &str,
    id: i64,
    replacement: impl Display,
) -> Response {
    let path = format!("/{which}/{id}?replace_with={replacement}");
    call(app, user, Method::DELETE, &path, None).await
}

/// Creates a status and a priority named `theirs` for `other`; returns each as `(which, the
/// code for not finding it, it)`.
async fn create_theirs(
    app: &TestApp,
    other: &TestUser,
) -> [(&'static str, &'static str, Value); 2] {
    let request = || json!({"name": "theirs"});
    let status = create(app, other, "statuses", request()).await;
    let priority = create(app, other, "priorities", request()).await;
    [
        ("statuses", "STATUS_NOT_FOUND", status),
        ("priorities", "PRIORITY_NOT_FOUND", priority),
    ]
}

/// Asserts that `other`'s status and priority made by [`create_theirs`] are as they were.
async fn assert_theirs_unchanged(app: &TestApp, other: &TestUser, theirs: &[(&str, &str, Value)]) {
    for (which, _, item) in theirs {
        assert_eq!(&named(app, other, which, "theirs").await, item);
    }
}

// --- helpers: values and errors -----------------------------------------------------------------

/// The id of a task, status or priority.
fn id(item: &Value) -> i64 {
    item["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id in {item}"))
}

/// The ids of tasks, statuses or priorities, in their order.
fn ids_of<'a>(items: impl IntoIterator<Item = &'a Value>) -> Vec<i64> {
    items.into_iter().map(id).collect()
}

/// The ids of the first `N` of `tasks`, to name them one by one.
fn first_ids<const N: usize>(tasks: &[Value]) -> [i64; N] {
    std::array::from_fn(|i| id(&tasks[i]))
}

/// The ids in ascending order, to compare which tasks two lists hold.
fn sorted(ids: &[i64]) -> Vec<i64> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids
}

/// The names of a list of statuses, priorities or tasks (`title`).
fn names_of(items: &Value, field: &str) -> Vec<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts a 422 `VALIDATION_ERROR`, whichever field it names.
async fn assert_invalid_request(response: Response) {
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
}

/// Asserts a 403 `FORBIDDEN`.
async fn assert_forbidden(response: Response) {
    assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
}

/// Asserts a 400 with `code` naming `field`; returns the error body.
async fn assert_bad_request_on(response: Response, code: &str, field: &str) -> Value {
    let error = assert_error(response, StatusCode::BAD_REQUEST, code).await;
    assert_eq!(error["field"], field, "{error}");
    error
}

/// A `replace_with` that is not another of the user's of the same kind: 400, on that field.
async fn assert_bad_replacement(response: Response) {
    assert_bad_request_on(response, "INVALID_REPLACEMENT", "replace_with").await;
}

/// `user`'s change log after `cursor`, once every entry of it is settled.
async fn changes_since(app: &TestApp, user: &TestUser, cursor: &str) -> Value {
    app.settled_log_end(user).await;
    app.fetch_changes(user, &[("since", cursor)]).await
}

/// The entries of a `/changes` answer.
fn entries(changes: &Value) -> &[Value] {
    changes["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no changes in {changes}"))
}

/// The first entry of `kind` in a `/changes` answer, for the item `id` if given; fails the test
/// when there is none.
fn change_of<'a>(changes: &'a Value, kind: &str, id: Option<&Value>) -> &'a Value {
    entries(changes)
        .iter()
        .find(|change| change["type"] == kind && id.is_none_or(|id| change["id"] == *id))
        .unwrap_or_else(|| panic!("a {kind} for {id:?} in {changes}"))
}

// --- helpers: tasks ---------------------------------------------------------------------------

/// `PATCH …/tasks/{id}` with `request`; asserts 200 and returns the task.
async fn patched(app: &TestApp, user: &TestUser, id: &Value, request: Value) -> Value {
    let response = app.patch_task(user, id, &request).await;
    assert_status(response, StatusCode::OK).await
}

/// `PUT …/tasks/{id}` with `request`; asserts 200 and returns the task.
async fn replaced(app: &TestApp, user: &TestUser, id: &Value, request: Value) -> Value {
    let response = app.put_task(user, id, &request).await;
    assert_status(response, StatusCode::OK).await
}

/// How many of `user`'s tasks the list counts with the filter `(name, value)`.
async fn count_tasks(app: &TestApp, user: &TestUser, filter: (&str, &str)) -> i64 {
    let page = app.fetch_tasks(user, &[filter]).await;
    page["total"]
        .as_i64()
        .unwrap_or_else(|| panic!("no total in {page}"))
}

/// Asserts that each of `user`'s `tasks` is still as it was.
async fn assert_unchanged(app: &TestApp, user: &TestUser, tasks: &[Value]) {
    for task in tasks {
        assert_eq!(&app.fetch_task(user, &task["id"]).await, task);
    }
}

// --- helpers: the manual order ------------------------------------------------------------------

/// Creates tasks titled `{prefix}0`, `{prefix}1`, … in that order (the last one on top).
async fn tasks_titled(app: &TestApp, user: &TestUser, prefix: &str, count: usize) -> Vec<Value> {
    tasks_titled_with(app, user, prefix, count, json!({})).await
}

/// [`tasks_titled`], each task with the fields of `fields` besides its title.
async fn tasks_titled_with(
    app: &TestApp,
    user: &TestUser,
    prefix: &str,
    count: usize,
    fields: Value,
) -> Vec<Value> {
    let mut tasks = Vec::new();
    for i in 0..count {
        let mut request = fields.clone();
        request["title"] = json!(format!("{prefix}{i}"));
        tasks.push(app.create_task(user, request).await);
    }
    tasks
}

/// Creates a task titled `title`; returns its id.
async fn task_id(app: &TestApp, user: &TestUser, title: &str) -> i64 {
    id(&app.create_task(user, json!({"title": title})).await)
}

/// `user`'s tasks in the manual order as `(id, position)`, asserting that the positions are
/// strictly increasing (no two tasks share one) and that every task is listed once.
async fn manual_order(app: &TestApp, user: &TestUser) -> Vec<(i64, i64)> {
    let page = app
        .fetch_tasks(user, &[("sort", "position"), ("limit", "100")])
        .await;
    let order: Vec<(i64, i64)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| (id(task), task["position"].as_i64().expect("a position")))
        .collect();
    assert_eq!(
        order.len() as i64,
        page["total"].as_i64().unwrap(),
        "{page}"
    );
    for pair in order.windows(2) {
        assert!(
            pair[0].1 < pair[1].1,
            "positions not strictly increasing: {order:?}"
        );
    }
    order
}

/// The ids of `user`'s tasks in the manual order.
async fn order_ids(app: &TestApp, user: &TestUser) -> Vec<i64> {
    manual_order(app, user)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// `POST …/tasks/{task}/move` with `request`.
async fn move_task(app: &TestApp, user: &TestUser, task: i64, request: Value) -> Response {
    let path = format!("/tasks/{task}/move");
    call(app, user, Method::POST, &path, Some(&request)).await
}

/// Moves `task` with `request`; asserts 200 and returns the answer (not compared with the task
/// as it is now: a concurrent move may have spread the positions since).
async fn move_succeeds(app: &TestApp, user: &TestUser, task: i64, request: Value) -> Value {
    assert_status(move_task(app, user, task, request).await, StatusCode::OK).await
}

/// Moves `task` with `request`; asserts 200 and that the answer is the task at its new place.
async fn moved(app: &TestApp, user: &TestUser, task: i64, request: Value) -> Value {
    let answer = move_succeeds(app, user, task, request).await;
    assert_eq!(id(&answer), task);
    assert_eq!(app.fetch_task(user, task).await, answer);
    answer
}

/// `POST …/tasks/reorder` with `task_ids`.
async fn reorder(app: &TestApp, user: &TestUser, task_ids: &[i64]) -> Response {
    let request = json!({"task_ids": task_ids});
    call(app, user, Method::POST, "/tasks/reorder", Some(&request)).await
}

/// Reorders `task_ids`; asserts 200 and returns the answer (the tasks reordered).
async fn reordered(app: &TestApp, user: &TestUser, task_ids: &[i64]) -> Value {
    assert_status(reorder(app, user, task_ids).await, StatusCode::OK).await
}

// --- helpers: series ----------------------------------------------------------------------------

/// `POST …/tasks/{task}/{action}` without a body (`skip`, `stop-recurring`).
async fn task_action(app: &TestApp, user: &TestUser, task: &Value, action: &str) -> Response {
    let path = format!("/tasks/{}/{action}", task["id"]);
    call(app, user, Method::POST, &path, None).await
}

/// Sends a [`task_action`]; asserts 200 and returns the task.
async fn performed(app: &TestApp, user: &TestUser, task: &Value, action: &str) -> Value {
    assert_status(task_action(app, user, task, action).await, StatusCode::OK).await
}

/// Asserts that the [`task_action`] on `task` is refused with a 400 `code` and leaves the task
/// as `task` has it.
async fn assert_action_refused(
    app: &TestApp,
    user: &TestUser,
    task: &Value,
    action: &str,
    code: &str,
) {
    let response = task_action(app, user, task, action).await;
    assert_error(response, StatusCode::BAD_REQUEST, code).await;
    assert_eq!(&app.fetch_task(user, &task["id"]).await, task);
}

/// `DELETE …/tasks/{task}?scope={scope}`.
async fn delete_in_scope(app: &TestApp, user: &TestUser, task: &Value, scope: &str) -> Response {
    let path = format!("/tasks/{}?scope={scope}", task["id"]);
    call(app, user, Method::DELETE, &path, None).await
}

/// `PATCH …/tasks/{task}?scope={scope}` with `request`.
async fn patch_in_scope(
    app: &TestApp,
    user: &TestUser,
    task: &Value,
    scope: &str,
    request: Value,
) -> Response {
    let path = format!("/tasks/{}?scope={scope}", task["id"]);
    call(app, user, Method::PATCH, &path, Some(&request)).await
}

/// `GET …/tasks/{task}/occurrences` with `query`.
async fn occurrences(
    app: &TestApp,
    user: &TestUser,
    task: &Value,
    query: &[(&str, &str)],
) -> Response {
    let path = user_path(user, &format!("/tasks/{}/occurrences", task["id"]));
    let request = app
        .client
        .get(app.url(&path))
        .bearer_auth(&user.access)
        .query(query);
    request.send().await.unwrap()
}

/// `GET …/tasks/{task}/occurrences` with `query`; asserts 200 and returns the answer.
async fn listed_occurrences(
    app: &TestApp,
    user: &TestUser,
    task: &Value,
    query: &[(&str, &str)],
) -> Value {
    assert_status(occurrences(app, user, task, query).await, StatusCode::OK).await
}

/// A recurring task due at `due` with `rule`, and a reminder if given.
async fn recurring(
    app: &TestApp,
    user: &TestUser,
    title: &str,
    rule: &str,
    due: &str,
    remind: Option<&str>,
) -> Value {
    let request =
        json!({"title": title, "due_date": due, "remind_at": remind, "recurrence_rule": rule});
    app.create_task(user, request).await
}

/// A recurring task titled `title` with `rule`, first due on 2030-05-01 at 09:00 UTC, without a
/// reminder.
async fn series(app: &TestApp, user: &TestUser, title: &str, rule: &str) -> Value {
    recurring(app, user, title, rule, "2030-05-01T09:00:00Z", None).await
}

/// A task titled `daily` recurring daily, first due on 2030-05-01 at 09:00 UTC, with a reminder
/// half an hour before.
async fn daily_with_reminder(app: &TestApp, user: &TestUser) -> Value {
    let (due, remind) = ("2030-05-01T09:00:00Z", Some("2030-05-01T08:30:00Z"));
    recurring(app, user, "daily", "FREQ=DAILY", due, remind).await
}

/// Completes `task` by PATCH; returns its successor, fetched.
async fn complete_to_successor(app: &TestApp, user: &TestUser, task: &Value) -> Value {
    let completed = patched(app, user, &task["id"], json!({"completed": true})).await;
    assert_eq!(completed["completed"], true);
    assert!(completed["successor_id"].is_i64(), "{completed}");
    app.fetch_task(user, &completed["successor_id"]).await
}

// --- statuses and priorities ------------------------------------------------------------------

#[tokio::test]
async fn new_accounts_get_three_statuses_and_three_priorities() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let statuses = list(&app, &user, "statuses").await;
    let expected = [
        ("not_started", 0, "open", true),
        ("in_progress", 1, "open", false),
        ("completed", 2, "done", true),
    ];
    let items = statuses.as_array().unwrap();
    assert_eq!(items.len(), 3, "{statuses}");
    for (status, (name, position, kind, is_default)) in items.iter().zip(expected) {
        utc_time(&status["created_at"]);
        utc_time(&status["updated_at"]);
        assert!(status["id"].is_i64(), "{status}");
        assert_eq!(
            status,
            &json!({
                "id": status["id"], "name": name, "color": null, "position": position,
                "kind": kind, "is_default": is_default,
                "created_at": status["created_at"], "updated_at": status["updated_at"],
            })
        );
    }

    let priorities = list(&app, &user, "priorities").await;
    let expected = [("low", 0, false), ("medium", 1, true), ("high", 2, false)];
    let items = priorities.as_array().unwrap();
    assert_eq!(items.len(), 3, "{priorities}");
    for (priority, (name, position, is_default)) in items.iter().zip(expected) {
        assert_eq!(
            priority,
            &json!({
                "id": priority["id"], "name": name, "color": null, "position": position,
                "is_default": is_default,
                "created_at": priority["created_at"], "updated_at": priority["updated_at"],
            })
        );
    }

    let both = call(&app, &user, Method::GET, "/categories", None).await;
    let both = assert_status(both, StatusCode::OK).await;
    assert_eq!(
        both,
        json!({"statuses": statuses, "priorities": priorities})
    );

    // One status by id; each account has its own.
    let first = &statuses[0];
    let fetched = get(&app, &user, "statuses", id(first)).await;
    assert_eq!(assert_status(fetched, StatusCode::OK).await, *first);
    let other = app.signed_in_user().await;
    let theirs = list(&app, &other, "statuses").await;
    assert_eq!(names_of(&theirs, "name"), names_of(&statuses, "name"));
    assert_ne!(theirs[0]["id"], statuses[0]["id"]);
}

#[tokio::test]
async fn create_status_and_priority_answer_201_with_location() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let request = json!({"name": "  waiting  ", "color": "#FFAA00"});
    let (location, waiting) = create_located(&app, &user, "statuses", request).await;
    let status_id = id(&waiting);
    assert_eq!(
        location,
        format!("/api/v1/users/{}/statuses/{status_id}", user.id)
    );
    utc_time(&waiting["created_at"]);
    assert_eq!(
        waiting,
        json!({
            "id": status_id, "name": "waiting", "color": "#FFAA00", "position": 3,
            "kind": "open", "is_default": false,
            "created_at": waiting["created_at"], "updated_at": waiting["updated_at"],
        })
    );
    let fetched = app.get(&location, Some(&user.access)).await;
    assert_eq!(assert_status(fetched, StatusCode::OK).await, waiting);

    // A done status at a position of its own; the list is ordered by position, then id.
    let request = json!({"name": "archived", "kind": "done", "position": 1});
    let archived = create(&app, &user, "statuses", request).await;
    assert_eq!(archived["kind"], "done");
    assert_eq!(archived["position"], 1);
    assert_eq!(archived["is_default"], false);
    assert_eq!(
        names(&app, &user, "statuses").await,
        [
            "not_started",
            "in_progress",
            "archived",
            "completed",
            "waiting"
        ]
    );
    let last = create(&app, &user, "statuses", json!({"name": "later"})).await;
    assert_eq!(last["position"], 4, "after the largest position");

    let request = json!({"name": "urgent", "color": "#ff0000", "position": 10000});
    let (location, urgent) = create_located(&app, &user, "priorities", request).await;
    assert_eq!(
        location,
        format!("/api/v1/users/{}/priorities/{}", user.id, id(&urgent))
    );
    assert_eq!(
        urgent,
        json!({
            "id": urgent["id"], "name": "urgent", "color": "#ff0000", "position": 10000,
            "is_default": false,
            "created_at": urgent["created_at"], "updated_at": urgent["updated_at"],
        })
    );
    let trivial = create(&app, &user, "priorities", json!({"name": "trivial"})).await;
    assert_eq!(trivial["position"], 10001, "max + 1");
    // A priority has no kind.
    let request = json!({"name": "odd", "kind": "done"});
    assert_invalid_request(post(&app, &user, "priorities", request).await).await;
    assert_eq!(
        names(&app, &user, "priorities").await,
        ["low", "medium", "high", "urgent", "trivial"]
    );
}

#[tokio::test]
async fn status_and_priority_names_are_unique_per_user_in_any_case() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    for name in ["Completed", " IN_PROGRESS ", "not_started"] {
        let response = post(&app, &user, "statuses", json!({"name": name})).await;
        assert_bad_request_on(response, "STATUS_ALREADY_EXISTS", "name").await;
    }
    for name in ["HIGH", "Low"] {
        let response = post(&app, &user, "priorities", json!({"name": name})).await;
        assert_bad_request_on(response, "PRIORITY_ALREADY_EXISTS", "name").await;
    }

    // A rename into another's name, in any case, too; its own name in another case is fine.
    let in_progress = id_of(&app, &user, "statuses", "in_progress").await;
    let request = json!({"name": "Not_Started"});
    let response = patch(&app, &user, "statuses", in_progress, request).await;
    assert_bad_request_on(response, "STATUS_ALREADY_EXISTS", "name").await;
    let high = id_of(&app, &user, "priorities", "high").await;
    let response = patch(&app, &user, "priorities", high, json!({"name": "MEDIUM"})).await;
    assert_error(response, StatusCode::BAD_REQUEST, "PRIORITY_ALREADY_EXISTS").await;
    let renamed = patched_category(&app, &user, "priorities", high, json!({"name": "High"})).await;
    assert_eq!(renamed["name"], "High");

    assert_eq!(
        names(&app, &user, "statuses").await,
        ["not_started", "in_progress", "completed"]
    );
    assert_eq!(
        names(&app, &user, "priorities").await,
        ["low", "medium", "High"]
    );

    // Per user only.
    let other = app.signed_in_user().await;
    create(&app, &other, "statuses", json!({"name": "Waiting"})).await;
    create(&app, &user, "statuses", json!({"name": "waiting"})).await;
}

#[tokio::test]
async fn bad_names_positions_kinds_and_colors_create_nothing() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    for which in ["statuses", "priorities"] {
        let longest = "n".repeat(50);
        let created = create(&app, &user, which, json!({"name": format!(" {longest} ")})).await;
        assert_eq!(created["name"], longest.as_str());
        let created = create(&app, &user, which, json!({"name": "p0", "position": 0})).await;
        assert_eq!(created["position"], 0);

        let before = list(&app, &user, which).await;
        for name in [json!(""), json!("   "), json!("n".repeat(51)), json!(5)] {
            let response = post(&app, &user, which, json!({"name": name})).await;
            assert_validation_error(response, "name").await;
        }
        assert_invalid_request(post(&app, &user, which, json!({})).await).await;
        for position in [-1, 10001] {
            let request = json!({"name": "bad", "position": position});
            let response = post(&app, &user, which, request).await;
            assert_validation_error(response, "position").await;
        }
        for color in ["red", "#12345", "123456", "#GGGGGG", ""] {
            let request = json!({"name": "bad", "color": color});
            let response = post(&app, &user, which, request).await;
            assert_bad_request_on(response, "INVALID_COLOR", "color").await;
        }
        // The same rules for a PATCH.
        let target = id(&before[0]);
        for (request, field) in [
            (json!({"name": " "}), "name"),
            (json!({"name": null}), "name"),
            (json!({"position": 10001}), "position"),
            (json!({"position": null}), "position"),
        ] {
            let response = patch(&app, &user, which, target, request).await;
            assert_validation_error(response, field).await;
        }
        let response = patch(&app, &user, which, target, json!({"color": "blue"})).await;
        assert_error(response, StatusCode::BAD_REQUEST, "INVALID_COLOR").await;
        assert_eq!(list(&app, &user, which).await, before);
    }

    let request = json!({"name": "bad", "kind": "closed"});
    assert_invalid_request(post(&app, &user, "statuses", request).await).await;
    assert_eq!(count(&app, &user, "statuses").await, 5);
}

#[tokio::test]
async fn patch_changes_name_color_and_position_but_never_the_kind() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let status = named(&app, &user, "statuses", "in_progress").await;
    let status_id = id(&status);

    let request = json!({"name": " doing ", "color": "#123ABC", "position": 7});
    let changed = patched_category(&app, &user, "statuses", status_id, request).await;
    assert_eq!(
        changed,
        json!({
            "id": status_id, "name": "doing", "color": "#123ABC", "position": 7, "kind": "open",
            "is_default": false, "created_at": status["created_at"],
            "updated_at": changed["updated_at"],
        })
    );
    assert!(utc_time(&changed["updated_at"]) >= utc_time(&status["updated_at"]));
    assert_eq!(
        names(&app, &user, "statuses").await,
        ["not_started", "completed", "doing"]
    );

    // `null` clears the colour; an empty body changes nothing.
    let request = json!({"color": null});
    let cleared = patched_category(&app, &user, "statuses", status_id, request).await;
    assert_eq!(cleared["color"], Value::Null);
    assert_eq!(cleared["name"], "doing");
    let same = patched_category(&app, &user, "statuses", status_id, json!({})).await;
    assert_eq!(same["name"], "doing");
    assert_eq!(same["position"], 7);

    // The kind cannot change, and a default is not unset directly.
    for request in [json!({"kind": "done"}), json!({"kind": "open"})] {
        assert_invalid_request(patch(&app, &user, "statuses", status_id, request).await).await;
    }
    let default = id_of(&app, &user, "statuses", "not_started").await;
    let medium = id_of(&app, &user, "priorities", "medium").await;
    for (which, target) in [
        ("statuses", default),
        ("statuses", status_id),
        ("priorities", medium),
    ] {
        let response = patch(&app, &user, which, target, json!({"is_default": false})).await;
        assert_validation_error(response, "is_default").await;
    }
    let response = patch(&app, &user, "priorities", medium, json!({"kind": "done"})).await;
    assert_invalid_request(response).await;

    let statuses = list(&app, &user, "statuses").await;
    assert_eq!(statuses[0]["is_default"], true);
    assert_eq!(statuses[2]["kind"], "open");
    assert_eq!(
        named(&app, &user, "priorities", "medium").await["is_default"],
        true
    );
}

#[tokio::test]
async fn making_one_the_default_undefaults_the_previous_one_of_its_kind() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    // A new default done status: `completed` stops being one, the open default stays.
    let request = json!({"name": "archived", "kind": "done", "is_default": true});
    let archived = create(&app, &user, "statuses", request).await;
    assert_eq!(archived["is_default"], true);
    let defaults = |statuses: Value| -> Vec<(String, bool)> {
        statuses
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["is_default"] == true,
                )
            })
            .collect()
    };
    let expect = |pairs: &[(&str, bool)]| -> Vec<(String, bool)> {
        pairs.iter().map(|(n, d)| ((*n).to_owned(), *d)).collect()
    };
    assert_eq!(
        defaults(list(&app, &user, "statuses").await),
        expect(&[
            ("not_started", true),
            ("in_progress", false),
            ("completed", false),
            ("archived", true),
        ])
    );

    // An existing open status made the default.
    let in_progress = id_of(&app, &user, "statuses", "in_progress").await;
    let make_default = || json!({"is_default": true});
    let changed = patched_category(&app, &user, "statuses", in_progress, make_default()).await;
    assert_eq!(changed["is_default"], true);
    assert_eq!(
        defaults(list(&app, &user, "statuses").await),
        expect(&[
            ("not_started", false),
            ("in_progress", true),
            ("completed", false),
            ("archived", true),
        ])
    );
    // Making the default the default again changes nothing.
    let same = patched_category(&app, &user, "statuses", in_progress, make_default()).await;
    assert_eq!(same["is_default"], true);

    // New and completed tasks get the defaults.
    let task = app.create_task(&user, json!({"title": "t"})).await;
    assert_eq!(task["status"], "in_progress");
    assert_eq!(task["completed"], false);
    let done = app.toggled_task(&user, &task["id"]).await;
    assert_eq!(done["status"], "archived");
    assert_eq!(done["completed"], true);
    let done = app
        .create_task(&user, json!({"title": "done", "completed": true}))
        .await;
    assert_eq!(done["status"], "archived");

    let request = json!({"name": "urgent", "is_default": true});
    let urgent = create(&app, &user, "priorities", request).await;
    assert_eq!(urgent["is_default"], true);
    assert_eq!(
        named(&app, &user, "priorities", "medium").await["is_default"],
        false
    );
    let task = app.create_task(&user, json!({"title": "p"})).await;
    assert_eq!(task["priority"], "urgent");
    // The old defaults can be deleted now that they are not: `completed` is unused, `medium`
    // still has the first tasks.
    let completed = id_of(&app, &user, "statuses", "completed").await;
    let response = delete(&app, &user, "statuses", completed).await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    let medium = id_of(&app, &user, "priorities", "medium").await;
    let response = delete(&app, &user, "priorities", medium).await;
    assert_error(response, StatusCode::CONFLICT, "PRIORITY_IN_USE").await;
    let response = delete_replacing(&app, &user, "priorities", medium, id(&urgent)).await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(
        app.fetch_task(&user, &done["id"]).await["priority"],
        "urgent"
    );
    assert_eq!(count_tasks(&app, &user, ("priority", "urgent")).await, 3);
}

#[tokio::test]
async fn defaults_cannot_be_deleted_and_unused_ones_go() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    for (which, name) in [
        ("statuses", "not_started"),
        ("statuses", "completed"),
        ("priorities", "medium"),
    ] {
        let target = id_of(&app, &user, which, name).await;
        let response = delete(&app, &user, which, target).await;
        assert_error(response, StatusCode::CONFLICT, "CANNOT_DELETE_DEFAULT").await;
        // Not with a replacement either.
        let all = list(&app, &user, which).await;
        let other = ids_of(all.as_array().unwrap())
            .into_iter()
            .find(|&other| other != target)
            .unwrap();
        let response = delete_replacing(&app, &user, which, target, other).await;
        assert_error(response, StatusCode::CONFLICT, "CANNOT_DELETE_DEFAULT").await;
        named(&app, &user, which, name).await;
    }

    for (which, name, code) in [
        ("statuses", "in_progress", "STATUS_NOT_FOUND"),
        ("priorities", "high", "PRIORITY_NOT_FOUND"),
    ] {
        let target = id_of(&app, &user, which, name).await;
        let response = delete(&app, &user, which, target).await;
        assert_status(response, StatusCode::NO_CONTENT).await;
        let response = get(&app, &user, which, target).await;
        assert_error(response, StatusCode::NOT_FOUND, code).await;
        let response = delete(&app, &user, which, target).await;
        assert_error(response, StatusCode::NOT_FOUND, code).await;
        assert_eq!(count(&app, &user, which).await, 2);
    }
}

#[tokio::test]
async fn a_status_in_use_is_deleted_only_with_a_replacement_of_its_kind() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    let busy = app
        .create_task(&user, json!({"title": "busy", "status": "in_progress"}))
        .await;
    let idle = app.create_task(&user, json!({"title": "idle"})).await;
    let in_progress = id_of(&app, &user, "statuses", "in_progress").await;
    let not_started = id_of(&app, &user, "statuses", "not_started").await;
    let completed = id_of(&app, &user, "statuses", "completed").await;
    let foreign = id_of(&app, &other, "statuses", "not_started").await;
    let statuses = list(&app, &user, "statuses").await;

    let response = delete(&app, &user, "statuses", in_progress).await;
    assert_error(response, StatusCode::CONFLICT, "STATUS_IN_USE").await;
    for replacement in [completed, in_progress, foreign, 999_999_999] {
        let response = delete_replacing(&app, &user, "statuses", in_progress, replacement).await;
        assert_bad_replacement(response).await;
    }
    let response = delete_replacing(&app, &user, "statuses", in_progress, "abc").await;
    assert_validation_error(response, "replace_with").await;
    assert_eq!(list(&app, &user, "statuses").await, statuses);
    assert_eq!(app.fetch_task(&user, &busy["id"]).await, busy);
    assert_eq!(count(&app, &other, "statuses").await, 3);

    // With a replacement of the same kind the tasks move, in the same transaction.
    let waiting = create(&app, &user, "statuses", json!({"name": "waiting"})).await;
    let cursor = app.settled_log_end(&user).await;
    let response = delete_replacing(&app, &user, "statuses", in_progress, id(&waiting)).await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    let now = app.fetch_task(&user, &busy["id"]).await;
    assert_eq!(now["status"], "waiting");
    assert_eq!(now["completed"], false);
    // The log has the deletion and the moved task as it is now, and nothing else.
    let changes = changes_since(&app, &user, &cursor).await;
    let mut items: Vec<(String, Value, Value)> = entries(&changes)
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().to_owned(),
                c["id"].clone(),
                c["data"].clone(),
            )
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        items,
        [
            ("status.deleted".to_owned(), json!(in_progress), Value::Null),
            ("task.updated".to_owned(), busy["id"].clone(), now.clone()),
        ],
        "{changes}"
    );
    assert_eq!(
        app.fetch_task(&user, &idle["id"]).await["status"],
        "not_started"
    );
    assert_eq!(
        names(&app, &user, "statuses").await,
        ["not_started", "completed", "waiting"]
    );

    // A done status in use moves to another done one; the default open one is a replacement
    // for an open one.
    let archived = id(&archived_status(&app, &user).await);
    let shelved = patched(&app, &user, &idle["id"], json!({"status": "archived"})).await;
    assert_eq!(shelved["completed"], true);
    let response = delete_replacing(&app, &user, "statuses", archived, not_started).await;
    assert_bad_replacement(response).await;
    let response = delete_replacing(&app, &user, "statuses", archived, completed).await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    let moved = app.fetch_task(&user, &idle["id"]).await;
    assert_eq!(moved["status"], "completed");
    assert_eq!(moved["completed"], true);
    assert_eq!(moved["completed_at"], shelved["completed_at"]);
    let response = delete_replacing(&app, &user, "statuses", id(&waiting), not_started).await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(
        app.fetch_task(&user, &busy["id"]).await["status"],
        "not_started"
    );
}

#[tokio::test]
async fn a_priority_in_use_is_deleted_only_with_a_replacement() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    let high = tasks_titled_with(&app, &user, "h", 3, json!({"priority": "high"})).await;
    let low_task = app
        .create_task(&user, json!({"title": "l", "priority": "low"}))
        .await;
    let high_id = id_of(&app, &user, "priorities", "high").await;
    let low_id = id_of(&app, &user, "priorities", "low").await;
    let foreign = id_of(&app, &other, "priorities", "low").await;
    let before = list(&app, &user, "priorities").await;

    let response = delete(&app, &user, "priorities", high_id).await;
    assert_error(response, StatusCode::CONFLICT, "PRIORITY_IN_USE").await;
    for replacement in [high_id, foreign, -1] {
        let response = delete_replacing(&app, &user, "priorities", high_id, replacement).await;
        assert_bad_replacement(response).await;
    }
    assert_eq!(list(&app, &user, "priorities").await, before);
    assert_unchanged(&app, &user, &high).await;

    let response = delete_replacing(&app, &user, "priorities", high_id, low_id).await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    for task in high.iter().chain([&low_task]) {
        assert_eq!(app.fetch_task(&user, &task["id"]).await["priority"], "low");
    }
    assert_eq!(names(&app, &user, "priorities").await, ["low", "medium"]);
    assert_eq!(count_tasks(&app, &user, ("priority", "low")).await, 4);
}

#[tokio::test]
async fn unknown_and_foreign_ids_are_404_and_another_users_path_is_403() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    let theirs = create_theirs(&app, &other).await;

    let token = Some(user.access.as_str());
    for (which, code, item) in &theirs {
        for target in [id(item), 999_999_999] {
            let response = get(&app, &user, which, target).await;
            assert_error(response, StatusCode::NOT_FOUND, code).await;
            let response = delete(&app, &user, which, target).await;
            assert_error(response, StatusCode::NOT_FOUND, code).await;
        }
        // Their path with my token.
        let path = format!("/api/v1/users/{}/{which}", other.id);
        assert_forbidden(app.get(&path, token).await).await;
        let intruder = json!({"name": "intruder"});
        assert_forbidden(app.post_json(&path, token, &intruder).await).await;
        let path = format!("{path}/{}", id(item));
        let rename = json!({"name": "x"});
        assert_forbidden(app.send_json(Method::PATCH, &path, token, &rename).await).await;
        assert_forbidden(app.send(Method::DELETE, &path, token, None).await).await;
    }
    let path = format!("/api/v1/users/{}/categories", other.id);
    assert_forbidden(app.get(&path, token).await).await;

    // Their statuses and priorities are untouched, and none of theirs is a name of mine.
    assert_theirs_unchanged(&app, &other, &theirs).await;
    let response = app
        .post_task(&user, &json!({"title": "t", "status": "theirs"}))
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_STATUS").await;
    let response = app
        .post_task(&user, &json!({"title": "t", "priority": "theirs"}))
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PRIORITY").await;
}

#[tokio::test]
async fn patching_an_unknown_or_foreign_status_or_priority_is_404() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    let theirs = create_theirs(&app, &other).await;

    for (which, code, item) in &theirs {
        for target in [id(item), 999_999_999] {
            for request in [
                json!({"name": "mine"}),
                json!({"is_default": true}),
                json!({"color": "#000000"}),
                json!({}),
            ] {
                let response = patch(&app, &user, which, target, request.clone()).await;
                let status = response.status();
                let error = body(response).await;
                assert_eq!(
                    (status, error["code"].as_str()),
                    (StatusCode::NOT_FOUND, Some(*code)),
                    "PATCH {which}/{target} {request}: {error}"
                );
            }
        }
    }
    assert_theirs_unchanged(&app, &other, &theirs).await;
}

// --- tasks' status, priority and completion ---------------------------------------------------

#[tokio::test]
async fn tasks_show_their_status_priority_position_and_series() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let plain = app.create_task(&user, json!({"title": "plain"})).await;
    assert_eq!(plain["status"], "not_started");
    assert_eq!(plain["priority"], "medium");
    assert_eq!(plain["completed"], false);
    assert_eq!(plain["completed_at"], Value::Null);
    assert_eq!(plain["series_id"], Value::Null);
    assert!(plain["position"].is_i64(), "{plain}");

    let named_task = app
        .create_task(
            &user,
            json!({"title": "named", "status": "in_progress", "priority": "high"}),
        )
        .await;
    assert_eq!(named_task["status"], "in_progress");
    assert_eq!(named_task["priority"], "high");
    assert_eq!(named_task["completed"], false);

    let done = app
        .create_task(&user, json!({"title": "done", "status": "completed"}))
        .await;
    assert_eq!(done["completed"], true);
    utc_time(&done["completed_at"]);
    let done = app
        .create_task(&user, json!({"title": "done too", "completed": true}))
        .await;
    assert_eq!(done["status"], "completed");
    let agreeing = app
        .create_task(
            &user,
            json!({"title": "agreeing", "status": "in_progress", "completed": false}),
        )
        .await;
    assert_eq!(agreeing["status"], "in_progress");

    // PUT takes a status too, and keeps the task's own status when `completed` agrees.
    let task_id = &named_task["id"];
    let request = json!({"title": "put", "priority": "low", "completed": false});
    let put = replaced(&app, &user, task_id, request).await;
    assert_eq!(put["status"], "in_progress");
    assert_eq!(put["priority"], "low");
    let request = json!({"title": "put", "priority": "low", "completed": true});
    let put = replaced(&app, &user, task_id, request).await;
    assert_eq!(put["status"], "completed");
    let request =
        json!({"title": "put", "priority": "low", "completed": false, "status": "in_progress"});
    let put = replaced(&app, &user, task_id, request).await;
    assert_eq!(put["status"], "in_progress");
    assert_eq!(put["completed"], false);
    assert_eq!(put["completed_at"], Value::Null);
    assert_eq!(
        put["position"], named_task["position"],
        "a write keeps the place"
    );
}

#[tokio::test]
async fn the_status_and_completed_move_together() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = app.create_task(&user, json!({"title": "t"})).await;
    let task_id = &task["id"];

    let done = patched(&app, &user, task_id, json!({"status": "completed"})).await;
    assert_eq!(done["completed"], true);
    assert_eq!(done["status"], "completed");
    let completed_at = utc_time(&done["completed_at"]);

    let reopened = patched(&app, &user, task_id, json!({"status": "in_progress"})).await;
    assert_eq!(reopened["completed"], false);
    assert_eq!(reopened["completed_at"], Value::Null);

    // `completed` unchanged keeps the status.
    let same = patched(&app, &user, task_id, json!({"completed": false})).await;
    assert_eq!(same["status"], "in_progress");
    assert_eq!(same["completed"], false);

    let done = patched(&app, &user, task_id, json!({"completed": true})).await;
    assert_eq!(done["status"], "completed");
    assert!(utc_time(&done["completed_at"]) >= completed_at);
    let same = patched(&app, &user, task_id, json!({"completed": true})).await;
    assert_eq!(same["status"], "completed");
    assert_eq!(same["completed_at"], done["completed_at"]);

    let open = patched(&app, &user, task_id, json!({"completed": false})).await;
    assert_eq!(open["status"], "not_started");
    assert_eq!(open["completed_at"], Value::Null);

    // The toggle goes to the default of the other kind each way.
    patched(&app, &user, task_id, json!({"status": "in_progress"})).await;
    let toggled = app.toggled_task(&user, task_id).await;
    assert_eq!(toggled["status"], "completed");
    assert_eq!(toggled["completed"], true);
    utc_time(&toggled["completed_at"]);
    let toggled = app.toggled_task(&user, task_id).await;
    assert_eq!(toggled["status"], "not_started");
    assert_eq!(toggled["completed"], false);
    assert_eq!(app.fetch_task(&user, task_id).await, toggled);
}

#[tokio::test]
async fn a_status_contradicting_completed_is_400_and_nothing_changes() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = app
        .create_task(&user, json!({"title": "t", "status": "in_progress"}))
        .await;

    for request in [
        json!({"status": "completed", "completed": false}),
        json!({"status": "not_started", "completed": true}),
    ] {
        let contradicts = |response| async {
            let error = assert_bad_request_on(response, "INVALID_STATUS", "status").await;
            assert!(error["detail"].as_str().unwrap().contains("contradicts"));
        };
        let response = app.patch_task(&user, &task["id"], &request).await;
        contradicts(response).await;
        let mut create = request.clone();
        create["title"] = json!("new");
        let response = app.post_task(&user, &create).await;
        contradicts(response).await;
        let mut put = request.clone();
        put["title"] = json!("put");
        put["priority"] = json!("high");
        let response = app.put_task(&user, &task["id"], &put).await;
        contradicts(response).await;
    }
    assert_eq!(app.fetch_task(&user, &task["id"]).await, task);
    assert_eq!(app.total_tasks(&user).await, 1);
}

#[tokio::test]
async fn unknown_names_are_400_and_names_match_exactly() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = app.create_task(&user, json!({"title": "t"})).await;

    for status in ["Completed", "done", " completed", "COMPLETED", ""] {
        let request = json!({"title": "x", "status": status});
        let response = app.post_task(&user, &request).await;
        assert_bad_request_on(response, "INVALID_STATUS", "status").await;
        let request = json!({"status": status, "title": "changed"});
        let response = app.patch_task(&user, &task["id"], &request).await;
        assert_bad_request_on(response, "INVALID_STATUS", "status").await;
    }
    for priority in ["High", "urgent", "high ", ""] {
        let request = json!({"title": "x", "priority": priority});
        let response = app.post_task(&user, &request).await;
        assert_bad_request_on(response, "INVALID_PRIORITY", "priority").await;
        let request = json!({"priority": priority, "completed": true});
        let response = app.patch_task(&user, &task["id"], &request).await;
        assert_bad_request_on(response, "INVALID_PRIORITY", "priority").await;
        let put = json!({"title": "x", "priority": priority, "completed": false});
        let response = app.put_task(&user, &task["id"], &put).await;
        assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PRIORITY").await;
    }
    let response = app
        .patch_task(&user, &task["id"], &json!({"status": null}))
        .await;
    assert_validation_error(response, "status").await;
    let response = app
        .patch_task(&user, &task["id"], &json!({"priority": null}))
        .await;
    assert_validation_error(response, "priority").await;

    assert_eq!(app.fetch_task(&user, &task["id"]).await, task);
    assert_eq!(app.total_tasks(&user).await, 1);
}

#[tokio::test]
async fn a_custom_done_status_completes_the_task_and_continues_its_series() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    archived_status(&app, &user).await;

    let plain = app.create_task(&user, json!({"title": "plain"})).await;
    let archived = patched(&app, &user, &plain["id"], json!({"status": "archived"})).await;
    assert_eq!(archived["completed"], true);
    assert_eq!(archived["status"], "archived");
    utc_time(&archived["completed_at"]);
    assert_eq!(
        count_tasks(&app, &user, ("status", "completed")).await,
        1,
        "any done status is completed"
    );
    assert_eq!(count_tasks(&app, &user, ("status", "archived")).await, 1);
    // Completing an archived task again keeps its status.
    let same = patched(&app, &user, &plain["id"], json!({"completed": true})).await;
    assert_eq!(same["status"], "archived");

    let task = daily_with_reminder(&app, &user).await;
    let done = patched(&app, &user, &task["id"], json!({"status": "archived"})).await;
    assert_eq!(done["completed"], true);
    assert!(done["successor_id"].is_i64(), "a successor: {done}");
    let next = app.fetch_task(&user, &done["successor_id"]).await;
    assert_eq!(next["due_date"], "2030-05-02T09:00:00.000000Z");
    assert_eq!(next["remind_at"], "2030-05-02T08:30:00.000000Z");
    assert_eq!(next["status"], "not_started");
    assert_eq!(next["completed"], false);
    assert_eq!(next["series_id"], task["id"]);

    // Created in a done status, a recurring task is completed at once, like `completed: true`.
    let born_done = app
        .create_task(
            &user,
            json!({"title": "born done", "status": "archived", "due_date": "2030-06-01T09:00:00Z", "recurrence_rule": "FREQ=WEEKLY"}),
        )
        .await;
    assert_eq!(born_done["completed"], true);
    assert_eq!(born_done["status"], "archived");
}

#[tokio::test]
async fn renaming_a_status_renames_it_on_every_task_and_logs_each_one() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let busy = tasks_titled_with(&app, &user, "busy ", 3, json!({"status": "in_progress"})).await;
    let idle = app.create_task(&user, json!({"title": "idle"})).await;
    let status_id = id_of(&app, &user, "statuses", "in_progress").await;
    let before = app.settled_log_end(&user).await;

    let request = json!({"name": "doing"});
    let renamed = patched_category(&app, &user, "statuses", status_id, request).await;
    assert_eq!(renamed["name"], "doing");

    for task in &busy {
        let now = app.fetch_task(&user, &task["id"]).await;
        assert_eq!(now["status"], "doing");
        let mut expected = task.clone();
        expected["status"] = json!("doing");
        expected["updated_at"] = now["updated_at"].clone();
        assert_eq!(now, expected);
    }
    assert_eq!(app.fetch_task(&user, &idle["id"]).await, idle);
    assert_eq!(
        titles(&app.fetch_tasks(&user, &[("status", "doing")]).await),
        ["busy 2", "busy 1", "busy 0"]
    );
    let response = app.list_tasks(&user, &[("status", "in_progress")]).await;
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_STATUS").await;
    let response = app
        .post_task(&user, &json!({"title": "x", "status": "in_progress"}))
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_STATUS").await;
    let created = app
        .create_task(&user, json!({"title": "x", "status": "doing"}))
        .await;
    assert_eq!(created["status"], "doing");

    // The log has the status and each of its tasks as they are now; replaying it gives what
    // GET gives.
    let changes = changes_since(&app, &user, &before).await;
    let status_change = change_of(&changes, "status.updated", None);
    assert_eq!(status_change["id"], status_id);
    assert_eq!(status_change["data"], renamed);
    for task in &busy {
        let change = change_of(&changes, "task.updated", Some(&task["id"]));
        assert_eq!(change["data"]["status"], "doing");
        assert_eq!(change["data"], app.fetch_task(&user, &task["id"]).await);
    }
    assert!(
        !entries(&changes)
            .iter()
            .any(|c| c["id"] == idle["id"] && c["type"] != "status.updated"),
        "the task of another status is not in the log: {changes}"
    );
}

#[tokio::test]
async fn renaming_a_priority_renames_it_on_every_task_and_logs_each_one() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let urgent = app
        .create_task(&user, json!({"title": "urgent", "priority": "high"}))
        .await;
    let done_urgent = app
        .create_task(
            &user,
            json!({"title": "done urgent", "priority": "high", "completed": true}),
        )
        .await;
    let other = app.create_task(&user, json!({"title": "other"})).await;
    let high = id_of(&app, &user, "priorities", "high").await;
    let before = app.settled_log_end(&user).await;

    let request = json!({"name": "urgent!"});
    let renamed = patched_category(&app, &user, "priorities", high, request).await;

    for task in [&urgent, &done_urgent] {
        assert_eq!(
            app.fetch_task(&user, &task["id"]).await["priority"],
            "urgent!"
        );
    }
    assert_eq!(count_tasks(&app, &user, ("priority", "urgent!")).await, 2);
    let response = app.list_tasks(&user, &[("priority", "high")]).await;
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PRIORITY").await;

    let changes = changes_since(&app, &user, &before).await;
    let change = change_of(&changes, "priority.updated", None);
    assert_eq!(change["id"], high);
    assert_eq!(change["data"], renamed);
    let tasks: Vec<&Value> = entries(&changes)
        .iter()
        .filter(|c| c["type"] == "task.updated")
        .collect();
    assert_eq!(tasks.len(), 2, "{changes}");
    for task in [&urgent, &done_urgent] {
        let change = change_of(&changes, "task.updated", Some(&task["id"]));
        assert_eq!(change["data"], app.fetch_task(&user, &task["id"]).await);
    }
    assert!(!tasks.iter().any(|c| c["id"] == other["id"]));

    // A colour change alone is the priority's change only.
    let before = app.settled_log_end(&user).await;
    patched_category(&app, &user, "priorities", high, json!({"color": "#FF0000"})).await;
    let changes = changes_since(&app, &user, &before).await;
    let kinds: Vec<&str> = entries(&changes)
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["priority.updated"], "{changes}");
}

#[tokio::test]
async fn tasks_filter_by_status_kind_or_name_and_by_priority() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    archived_status(&app, &user).await;
    for (title, status, priority) in [
        ("a", "not_started", "low"),
        ("b", "in_progress", "high"),
        ("c", "completed", "high"),
        ("d", "archived", "medium"),
        ("e", "in_progress", "low"),
    ] {
        app.create_task(
            &user,
            json!({"title": title, "status": status, "priority": priority}),
        )
        .await;
    }
    let by_title = |query: &[(&'static str, &'static str)]| {
        let mut query = query.to_vec();
        query.push(("sort", "title"));
        query
    };
    for (query, expected) in [
        (vec![("status", "all")], vec!["a", "b", "c", "d", "e"]),
        (vec![("status", "pending")], vec!["a", "b", "e"]),
        (vec![("status", "completed")], vec!["c", "d"]),
        (vec![("status", "in_progress")], vec!["b", "e"]),
        (vec![("status", "archived")], vec!["d"]),
        (vec![("status", "not_started")], vec!["a"]),
        (vec![("priority", "high")], vec!["b", "c"]),
        (
            vec![("priority", "low"), ("status", "pending")],
            vec!["a", "e"],
        ),
        (
            vec![("priority", "high"), ("status", "in_progress")],
            vec!["b"],
        ),
        (vec![("priority", "medium"), ("status", "pending")], vec![]),
    ] {
        let page = app.fetch_tasks(&user, &by_title(&query)).await;
        assert_eq!(titles(&page), expected, "{query:?}");
        assert_eq!(page["total"], expected.len(), "{query:?}");
    }
    for (query, code, field) in [
        (("status", "In_Progress"), "INVALID_STATUS", "status"),
        (("status", "nonsense"), "INVALID_STATUS", "status"),
        (("priority", "HIGH"), "INVALID_PRIORITY", "priority"),
        (("priority", "urgent"), "INVALID_PRIORITY", "priority"),
    ] {
        let response = app.list_tasks(&user, &[query]).await;
        assert_bad_request_on(response, code, field).await;
    }
}

#[tokio::test]
async fn sorting_by_priority_and_status_follows_their_positions() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    for (title, priority, status) in [
        ("h", "high", "not_started"),
        ("l", "low", "completed"),
        ("m", "medium", "in_progress"),
    ] {
        app.create_task(
            &user,
            json!({"title": title, "priority": priority, "status": status}),
        )
        .await;
    }
    let order = async |sort: &str| titles(&app.fetch_tasks(&user, &[("sort", sort)]).await);

    assert_eq!(order("priority").await, ["l", "m", "h"]);
    assert_eq!(order("-priority").await, ["h", "m", "l"]);
    assert_eq!(order("status").await, ["h", "m", "l"]);
    assert_eq!(order("-status").await, ["l", "m", "h"]);

    let low = id_of(&app, &user, "priorities", "low").await;
    let moved = patched_category(&app, &user, "priorities", low, json!({"position": 5})).await;
    assert_eq!(moved["position"], 5);
    assert_eq!(
        names(&app, &user, "priorities").await,
        ["medium", "high", "low"]
    );
    assert_eq!(order("priority").await, ["m", "h", "l"]);

    let not_started = id_of(&app, &user, "statuses", "not_started").await;
    let request = json!({"position": 9});
    patched_category(&app, &user, "statuses", not_started, request).await;
    assert_eq!(order("status").await, ["m", "l", "h"]);

    // Ties break by id.
    app.create_task(&user, json!({"title": "m2", "priority": "medium"}))
        .await;
    assert_eq!(order("priority").await, ["m", "m2", "h", "l"]);
}

// --- the manual order -------------------------------------------------------------------------

#[tokio::test]
async fn new_tasks_go_to_the_top_of_the_manual_order() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let [t0, t1, t2, t3] = first_ids(&tasks_titled(&app, &user, "t", 4).await);

    assert_eq!(order_ids(&app, &user).await, [t3, t2, t1, t0]);
    assert_eq!(
        titles(&app.fetch_tasks(&user, &[("sort", "-position")]).await),
        ["t0", "t1", "t2", "t3"]
    );

    // After a move to the bottom, a new task still goes to the top.
    moved(&app, &user, t3, json!({"to": "bottom"})).await;
    let fresh = task_id(&app, &user, "fresh").await;
    assert_eq!(order_ids(&app, &user).await, [fresh, t2, t1, t0, t3]);
    moved(&app, &user, t0, json!({"to": "top"})).await;
    let newer = task_id(&app, &user, "newer").await;
    assert_eq!(order_ids(&app, &user).await[..3], [newer, t0, fresh]);
    // Each user's order is their own.
    let other = app.signed_in_user().await;
    let theirs = task_id(&app, &other, "theirs").await;
    assert_eq!(order_ids(&app, &other).await, [theirs]);
}

#[tokio::test]
async fn move_places_a_task_before_after_at_the_top_or_bottom() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    // Top to bottom: e d c b a.
    let t = tasks_titled(&app, &user, "", 5).await;
    let [a, b, c, d, e] = first_ids(&t);
    assert_eq!(order_ids(&app, &user).await, [e, d, c, b, a]);

    let answer = moved(&app, &user, a, json!({"before": d})).await;
    assert_eq!(answer["title"], "0");
    assert_eq!(order_ids(&app, &user).await, [e, a, d, c, b]);

    moved(&app, &user, e, json!({"after": c})).await;
    assert_eq!(order_ids(&app, &user).await, [a, d, c, e, b]);

    moved(&app, &user, b, json!({"to": "top"})).await;
    assert_eq!(order_ids(&app, &user).await, [b, a, d, c, e]);

    moved(&app, &user, a, json!({"to": "bottom"})).await;
    assert_eq!(order_ids(&app, &user).await, [b, d, c, e, a]);

    // Already there: the order stays.
    moved(&app, &user, b, json!({"to": "top"})).await;
    moved(&app, &user, a, json!({"to": "bottom"})).await;
    moved(&app, &user, c, json!({"after": d})).await;
    moved(&app, &user, c, json!({"before": e})).await;
    assert_eq!(order_ids(&app, &user).await, [b, d, c, e, a]);

    // Before the top one and after the bottom one.
    moved(&app, &user, c, json!({"before": b})).await;
    assert_eq!(order_ids(&app, &user).await, [c, b, d, e, a]);
    moved(&app, &user, b, json!({"after": a})).await;
    assert_eq!(order_ids(&app, &user).await, [c, d, e, a, b]);

    // A move changes nothing but the place.
    let task = app.fetch_task(&user, d).await;
    let answer = moved(&app, &user, d, json!({"to": "top"})).await;
    let mut expected = task.clone();
    expected["position"] = answer["position"].clone();
    expected["updated_at"] = answer["updated_at"].clone();
    assert_eq!(answer, expected);
    assert!(answer["position"].as_i64() < task["position"].as_i64());
}

#[tokio::test]
async fn a_move_needs_exactly_one_place_and_never_next_to_itself() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let t = tasks_titled(&app, &user, "t", 3).await;
    let [a, b, c] = first_ids(&t);
    let before = manual_order(&app, &user).await;

    for request in [
        json!({}),
        json!({"before": b, "after": c}),
        json!({"before": b, "to": "top"}),
        json!({"after": b, "to": "bottom"}),
        json!({"before": b, "after": c, "to": "top"}),
        json!({"before": null}),
    ] {
        let response = move_task(&app, &user, a, request.clone()).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_TASK_ORDER").await;
        assert!(error["detail"].is_string(), "{request}");
    }
    for request in [
        json!({"to": "middle"}),
        json!({"before": "b"}),
        json!({"after": b, "extra": 1}),
    ] {
        assert_invalid_request(move_task(&app, &user, a, request).await).await;
    }
    for (request, field) in [
        (json!({"before": a}), "before"),
        (json!({"after": a}), "after"),
    ] {
        let response = move_task(&app, &user, a, request).await;
        assert_bad_request_on(response, "INVALID_TASK_ORDER", field).await;
    }
    assert_eq!(manual_order(&app, &user).await, before);
    assert_unchanged(&app, &user, &t).await;
}

#[tokio::test]
async fn moving_next_to_unknown_or_foreign_tasks_is_404_and_changes_nothing() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    let t = tasks_titled(&app, &user, "t", 3).await;
    let theirs = tasks_titled(&app, &other, "theirs", 2).await;
    let [a, b] = first_ids(&t);
    let [x, y] = first_ids(&theirs);
    let mine = manual_order(&app, &user).await;
    let their_order = manual_order(&app, &other).await;

    for (task, request) in [
        (a, json!({"before": 999_999_999})),
        (a, json!({"after": 999_999_999})),
        (999_999_999, json!({"to": "top"})),
        (999_999_999, json!({"before": b})),
        (a, json!({"before": x})),
        (a, json!({"after": y})),
        (x, json!({"to": "top"})),
        (x, json!({"before": a})),
        (x, json!({"after": y})),
    ] {
        let response = move_task(&app, &user, task, request.clone()).await;
        let error = assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
        assert!(error["detail"].is_string(), "{task} {request}");
    }
    for (ids, what) in [
        (vec![a, 999_999_999], "unknown"),
        (vec![a, x], "foreign"),
        (vec![x, y], "all foreign"),
    ] {
        let response = reorder(&app, &user, &ids).await;
        let error = assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
        assert!(error["detail"].is_string(), "{what}");
    }
    // Their path with my token.
    let path = format!("/api/v1/users/{}/tasks/{x}/move", other.id);
    let response = app
        .post_json(&path, Some(&user.access), &json!({"to": "bottom"}))
        .await;
    assert_forbidden(response).await;

    assert_eq!(manual_order(&app, &user).await, mine);
    assert_eq!(manual_order(&app, &other).await, their_order);
    assert_unchanged(&app, &other, &theirs).await;
}

#[tokio::test]
async fn reorder_places_the_tasks_where_the_topmost_of_them_was() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    // Top to bottom: t5 t4 t3 t2 t1 t0.
    let [t0, t1, t2, t3, t4, t5] = first_ids(&tasks_titled(&app, &user, "t", 6).await);
    assert_eq!(order_ids(&app, &user).await, [t5, t4, t3, t2, t1, t0]);

    // The topmost of them is t4: they go there, in this order; t5 above and t3, t2, t0 below
    // stay as they were.
    let answer = reordered(&app, &user, &[t1, t4, t2]).await;
    let answered = answer.as_array().unwrap();
    assert_eq!(ids_of(answered), [t1, t4, t2]);
    for task in answered {
        assert_eq!(task, &app.fetch_task(&user, id(task)).await);
    }
    assert_eq!(order_ids(&app, &user).await, [t5, t1, t4, t2, t3, t0]);

    // All of them, bottom up.
    let all_reversed = [t0, t3, t2, t4, t1, t5];
    let answer = reordered(&app, &user, &all_reversed).await;
    assert_eq!(ids_of(answer.as_array().unwrap()), all_reversed);
    assert_eq!(order_ids(&app, &user).await, all_reversed);

    // One task alone stays where it is.
    let before = manual_order(&app, &user).await;
    reordered(&app, &user, &[t2]).await;
    assert_eq!(order_ids(&app, &user).await, all_reversed);
    assert_eq!(manual_order(&app, &user).await.len(), before.len());

    // The bottom two swapped.
    reordered(&app, &user, &[t5, t1]).await;
    assert_eq!(order_ids(&app, &user).await, [t0, t3, t2, t4, t5, t1]);
}

#[tokio::test]
async fn bad_reorders_are_refused_and_change_nothing() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let t = tasks_titled(&app, &user, "t", 3).await;
    let [a, b, c] = first_ids(&t);
    let before = manual_order(&app, &user).await;

    let too_many: Vec<i64> = (1..=1001).collect();
    for ids in [vec![], vec![a, b, a], vec![c, c], too_many] {
        let response = reorder(&app, &user, &ids).await;
        assert_bad_request_on(response, "INVALID_TASK_ORDER", "task_ids").await;
    }
    for request in [
        json!({}),
        json!({"task_ids": null}),
        json!({"task_ids": ["a"]}),
        json!({"task_ids": [a], "extra": true}),
    ] {
        let path = "/tasks/reorder";
        let response = call(&app, &user, Method::POST, path, Some(&request)).await;
        let status = response.status();
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{request}: {status}"
        );
        let error = body(response).await;
        assert!(
            error["code"] == "VALIDATION_ERROR" || error["code"] == "INVALID_TASK_ORDER",
            "{request}: {error}"
        );
    }
    // An unknown id among known ones: nothing moves.
    let response = reorder(&app, &user, &[c, b, 999_999_999, a]).await;
    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
    assert_eq!(manual_order(&app, &user).await, before);
    assert_unchanged(&app, &user, &t).await;
}

#[tokio::test]
async fn moving_into_the_same_gap_again_and_again_keeps_the_order() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    // Top to bottom: top q p x bottom.
    let bottom = task_id(&app, &user, "bottom").await;
    let x = task_id(&app, &user, "x").await;
    let p = task_id(&app, &user, "p").await;
    let q = task_id(&app, &user, "q").await;
    let top = task_id(&app, &user, "top").await;
    assert_eq!(order_ids(&app, &user).await, [top, q, p, x, bottom]);

    // Each move puts one of p and q between the other and x: the gap halves every time, so
    // the positions run out and are spread again, more than once.
    let mut gaps = Vec::new();
    for round in 0..40 {
        let (mover, other) = if round % 2 == 0 { (p, q) } else { (q, p) };
        let answer = moved(&app, &user, mover, json!({"before": x})).await;
        let order = manual_order(&app, &user).await;
        let ids: Vec<i64> = order.iter().map(|&(id, _)| id).collect();
        assert_eq!(ids, [top, other, mover, x, bottom], "round {round}");
        assert_eq!(order[2].1, answer["position"].as_i64().unwrap());
        gaps.push(order[3].1 - order[2].1);
    }
    assert!(
        gaps.windows(2).any(|pair| pair[1] > pair[0]),
        "the positions were spread again at least once: {gaps:?}"
    );

    // Alternating after x as well.
    for round in 0..40 {
        let (mover, other) = if round % 2 == 0 { (p, q) } else { (q, p) };
        moved(&app, &user, mover, json!({"after": x})).await;
        // In the first round the other one is still above x.
        let expected = match round {
            0 => [top, other, x, mover, bottom],
            _ => [top, x, mover, other, bottom],
        };
        assert_eq!(order_ids(&app, &user).await, expected, "round {round}");
    }

    // A reorder into a used-up gap.
    for round in 0..20 {
        let ids = if round % 2 == 0 { [q, p] } else { [p, q] };
        reordered(&app, &user, &ids).await;
        assert_eq!(
            order_ids(&app, &user).await,
            [top, x, ids[0], ids[1], bottom],
            "round {round}"
        );
    }
}

#[tokio::test]
async fn concurrent_moves_keep_every_task_once_in_a_place_of_its_own() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let ids = ids_of(&tasks_titled(&app, &user, "t", 40).await);
    // Tasks 0..20 move, each next to an anchor of its own among 20..40 (anchors do not move):
    // whatever order the moves land in, each ends right next to its anchor.
    let moves = (0..20).map(|i| {
        let (task, anchor) = (ids[i], ids[20 + (i * 7) % 20]);
        let request = if i % 2 == 0 {
            json!({"before": anchor})
        } else {
            json!({"after": anchor})
        };
        let (app, user) = (&app, &user);
        async move { move_succeeds(app, user, task, request).await }
    });
    let answers = join_all(moves).await;
    assert_eq!(answers.len(), 20);

    let order = order_ids(&app, &user).await;
    assert_eq!(order.len(), 40);
    assert_eq!(sorted(&order), sorted(&ids), "every task once");
    let place = |task: i64| order.iter().position(|&id| id == task).unwrap();
    for i in 0..20 {
        let (task, anchor) = (ids[i], ids[20 + (i * 7) % 20]);
        if i % 2 == 0 {
            assert_eq!(
                place(task) + 1,
                place(anchor),
                "task {i} right before its anchor"
            );
        } else {
            assert_eq!(
                place(task),
                place(anchor) + 1,
                "task {i} right after its anchor"
            );
        }
    }
    // The anchors keep their order among themselves.
    let anchors: Vec<i64> = order
        .iter()
        .copied()
        .filter(|task| ids[20..].contains(task))
        .collect();
    let expected: Vec<i64> = ids[20..].iter().rev().copied().collect();
    assert_eq!(anchors, expected);
}

#[tokio::test]
async fn moves_racing_patches_of_the_same_tasks_lose_neither() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let ids = ids_of(&tasks_titled(&app, &user, "t", 20).await);

    let mut requests = Vec::new();
    for i in 0..10 {
        let (task, anchor) = (ids[i], ids[10 + i]);
        requests.push((task, Some(anchor), json!({"after": anchor})));
        requests.push((
            task,
            None,
            json!({"title": format!("renamed {i}"), "priority": "high", "status": "in_progress"}),
        ));
    }
    let app_ref = &app;
    let user_ref = &user;
    let sent = requests.iter().map(|(task, anchor, request)| async move {
        let response = match anchor {
            Some(_) => move_task(app_ref, user_ref, *task, request.clone()).await,
            None => app_ref.patch_task(user_ref, task, request).await,
        };
        assert_status(response, StatusCode::OK).await
    });
    join_all(sent).await;

    let order = order_ids(&app, &user).await;
    assert_eq!(order.len(), 20);
    let place = |task: i64| order.iter().position(|&id| id == task).unwrap();
    for i in 0..10 {
        let (task, anchor) = (ids[i], ids[10 + i]);
        let now = app.fetch_task(&user, task).await;
        assert_eq!(now["title"], format!("renamed {i}"), "{now}");
        assert_eq!(now["priority"], "high");
        assert_eq!(now["status"], "in_progress");
        assert_eq!(
            place(task),
            place(anchor) + 1,
            "task {i} right after its anchor"
        );
    }
}

#[tokio::test]
async fn concurrent_moves_into_one_gap_stay_one_block_above_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let bottom = task_id(&app, &user, "bottom").await;
    let x = task_id(&app, &user, "x").await;
    let ids = ids_of(&tasks_titled(&app, &user, "t", 24).await);
    let top = task_id(&app, &user, "top").await;

    // Every move is right above x: each halves the gap there, so the positions are spread
    // again while other moves wait for their turn. Some tasks move twice.
    let movers: Vec<i64> = ids[..20].iter().chain(&ids[..4]).copied().collect();
    let moves = movers.iter().map(|&task| {
        let (app, user) = (&app, &user);
        async move { move_succeeds(app, user, task, json!({"before": x})).await }
    });
    join_all(moves).await;

    let order = order_ids(&app, &user).await;
    assert_eq!(order.len(), 27);
    let all: Vec<i64> = ids.iter().copied().chain([bottom, x, top]).collect();
    assert_eq!(sorted(&order), sorted(&all), "every task once");
    // Top to bottom: top, the four that did not move (newest first), the twenty moved ones in
    // some order, x, bottom.
    let unmoved: Vec<i64> = ids[20..].iter().rev().copied().collect();
    assert_eq!(order[0], top);
    assert_eq!(order[1..5], unmoved[..]);
    assert_eq!(sorted(&order[5..25]), sorted(&ids[..20]));
    assert_eq!(order[25..], [x, bottom]);
}

#[tokio::test]
async fn concurrent_creates_and_moves_to_the_top_never_share_a_place() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tasks = tasks_titled(&app, &user, "old", 10).await;
    let (app_ref, user_ref) = (&app, &user);
    let moves = tasks.iter().map(|task| async move {
        move_succeeds(app_ref, user_ref, id(task), json!({"to": "top"})).await
    });
    let creates = (0..10).map(|i| async move {
        app_ref
            .create_task(user_ref, json!({"title": format!("new{i}")}))
            .await
    });
    let (moved, created) = futures_util::future::join(join_all(moves), join_all(creates)).await;
    assert_eq!((moved.len(), created.len()), (10, 10));

    // manual_order asserts that the positions are distinct.
    let order = manual_order(&app, &user).await;
    assert_eq!(order.len(), 20);
    for task in moved.iter().chain(&created) {
        let listed = order.iter().find(|&&(listed, _)| listed == id(task));
        assert_eq!(
            listed.map(|&(_, position)| position),
            app.fetch_task(&user, id(task)).await["position"].as_i64()
        );
    }
}

// --- series ---------------------------------------------------------------------------------

#[tokio::test]
async fn occurrences_are_the_rules_next_times_after_a_time() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = series(&app, &user, "daily", "FREQ=DAILY").await;

    let query = [("after", "2030-05-01T09:00:00Z"), ("limit", "3")];
    let answer = listed_occurrences(&app, &user, &task, &query).await;
    assert_eq!(
        answer,
        json!({"occurrences": [
            "2030-05-02T09:00:00.000000Z",
            "2030-05-03T09:00:00.000000Z",
            "2030-05-04T09:00:00.000000Z",
        ]})
    );
    // An offset other than Z, strictly after.
    let query = [("after", "2030-05-02T11:00:00+02:00"), ("limit", "1")];
    let answer = listed_occurrences(&app, &user, &task, &query).await;
    assert_eq!(
        answer["occurrences"],
        json!(["2030-05-03T09:00:00.000000Z"])
    );

    // Default: ten, from now (the first is the due date itself, in the future).
    let answer = listed_occurrences(&app, &user, &task, &[]).await;
    let all = answer["occurrences"].as_array().unwrap();
    assert_eq!(all.len(), 10, "{answer}");
    assert_eq!(all[0], "2030-05-01T09:00:00.000000Z");
    assert_eq!(all[9], "2030-05-10T09:00:00.000000Z");

    let query = [("after", "2030-05-01T00:00:00Z"), ("limit", "500")];
    let answer = listed_occurrences(&app, &user, &task, &query).await;
    let all = answer["occurrences"].as_array().unwrap();
    assert_eq!(all.len(), 100);
    assert_eq!(all[99], "2030-08-08T09:00:00.000000Z");

    // A series that ends: fewer than asked.
    let counted = series(&app, &user, "twice", "FREQ=WEEKLY;COUNT=2").await;
    let query = [("after", "2030-04-01T00:00:00Z")];
    let answer = listed_occurrences(&app, &user, &counted, &query).await;
    assert_eq!(
        answer["occurrences"],
        json!(["2030-05-01T09:00:00.000000Z", "2030-05-08T09:00:00.000000Z"])
    );

    for limit in ["0", "-1", "x"] {
        let response = occurrences(&app, &user, &task, &[("limit", limit)]).await;
        assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PAGINATION").await;
    }
    let response = occurrences(&app, &user, &task, &[("after", "tomorrow")]).await;
    assert_validation_error(response, "after").await;

    let plain = app.create_task(&user, json!({"title": "plain"})).await;
    let response = occurrences(&app, &user, &plain, &[]).await;
    assert_error(response, StatusCode::BAD_REQUEST, "TASK_NOT_RECURRING").await;
    let response = occurrences(&app, &user, &json!({"id": 999_999_999}), &[]).await;
    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
    let other = app.signed_in_user().await;
    let response = occurrences(&app, &other, &json!({"id": task["id"]}), &[]).await;
    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;

    // Nothing was written.
    assert_eq!(app.fetch_task(&user, &task["id"]).await, task);
    assert_eq!(app.total_tasks(&user).await, 3);
}

#[tokio::test]
async fn occurrences_keep_the_local_time_in_the_users_zone() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let response = app
        .patch_user(&user, &json!({"timezone": "Europe/Paris"}))
        .await;
    assert_status(response, StatusCode::OK).await;
    // 09:00 in Paris: 08:00Z in winter time, 07:00Z from 2030-03-31 (summer time).
    let task = recurring(
        &app,
        &user,
        "paris",
        "FREQ=DAILY",
        "2030-03-29T08:00:00Z",
        None,
    )
    .await;

    let query = [("after", "2030-03-29T08:00:00Z"), ("limit", "4")];
    let answer = listed_occurrences(&app, &user, &task, &query).await;
    assert_eq!(
        answer["occurrences"],
        json!([
            "2030-03-30T08:00:00.000000Z",
            "2030-03-31T07:00:00.000000Z",
            "2030-04-01T07:00:00.000000Z",
            "2030-04-02T07:00:00.000000Z",
        ])
    );
    // And back on 2030-10-27.
    let query = [("after", "2030-10-25T12:00:00Z"), ("limit", "3")];
    let answer = listed_occurrences(&app, &user, &task, &query).await;
    assert_eq!(
        answer["occurrences"],
        json!([
            "2030-10-26T07:00:00.000000Z",
            "2030-10-27T08:00:00.000000Z",
            "2030-10-28T08:00:00.000000Z",
        ])
    );
}

#[tokio::test]
async fn skip_moves_an_open_occurrence_to_the_next_one() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = daily_with_reminder(&app, &user).await;

    let skipped = performed(&app, &user, &task, "skip").await;
    let mut expected = task.clone();
    expected["due_date"] = json!("2030-05-02T09:00:00.000000Z");
    expected["remind_at"] = json!("2030-05-02T08:30:00.000000Z");
    expected["updated_at"] = skipped["updated_at"].clone();
    assert_eq!(skipped, expected);
    assert_eq!(app.fetch_task(&user, &task["id"]).await, skipped);
    assert_eq!(app.total_tasks(&user).await, 1, "no task is created");

    let skipped = performed(&app, &user, &task, "skip").await;
    assert_eq!(skipped["due_date"], "2030-05-03T09:00:00.000000Z");
    let query = [("after", "2030-05-03T09:00:00Z"), ("limit", "1")];
    let answer = listed_occurrences(&app, &user, &task, &query).await;
    assert_eq!(
        answer["occurrences"],
        json!(["2030-05-04T09:00:00.000000Z"])
    );
    // Completing it then continues from the skipped-to date.
    let next = complete_to_successor(&app, &user, &skipped).await;
    assert_eq!(next["due_date"], "2030-05-04T09:00:00.000000Z");
    assert_eq!(next["remind_at"], "2030-05-04T08:30:00.000000Z");

    // A completed occurrence is not skipped.
    let done = app.fetch_task(&user, &task["id"]).await;
    assert_action_refused(&app, &user, &done, "skip", "TASK_NOT_OPEN").await;

    let plain = app
        .create_task(
            &user,
            json!({"title": "plain", "due_date": "2030-05-01T09:00:00Z"}),
        )
        .await;
    assert_action_refused(&app, &user, &plain, "skip", "TASK_NOT_RECURRING").await;
    let response = task_action(&app, &user, &json!({"id": 999_999_999}), "skip").await;
    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;

    // The last occurrence of a COUNT rule has nothing to skip to.
    let twice = series(&app, &user, "twice", "FREQ=DAILY;COUNT=2").await;
    let second = performed(&app, &user, &twice, "skip").await;
    assert_eq!(second["due_date"], "2030-05-02T09:00:00.000000Z");
    assert_action_refused(&app, &user, &second, "skip", "TASK_NOT_RECURRING").await;
}

#[tokio::test]
async fn stop_recurring_ends_the_series_at_this_occurrence() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = series(&app, &user, "daily", "FREQ=DAILY").await;

    let stopped = performed(&app, &user, &task, "stop-recurring").await;
    assert_eq!(
        stopped["recurrence_rule"],
        "FREQ=DAILY;UNTIL=20300501T090000Z"
    );
    assert_eq!(stopped["due_date"], task["due_date"]);
    assert_eq!(stopped["completed"], false);
    let query = [("after", "2030-04-30T00:00:00Z")];
    let answer = listed_occurrences(&app, &user, &stopped, &query).await;
    assert_eq!(
        answer["occurrences"],
        json!(["2030-05-01T09:00:00.000000Z"])
    );
    // Nothing to skip to either.
    assert_action_refused(&app, &user, &stopped, "skip", "TASK_NOT_RECURRING").await;

    let done = patched(&app, &user, &task["id"], json!({"completed": true})).await;
    assert_eq!(done["completed"], true);
    assert_eq!(done["successor_id"], Value::Null);
    assert_eq!(app.total_tasks(&user).await, 1);

    // An occurrence that already has a successor: stop from the latest one.
    let weekly = series(&app, &user, "weekly", "FREQ=WEEKLY;COUNT=5").await;
    let next = complete_to_successor(&app, &user, &weekly).await;
    let first = app.fetch_task(&user, &weekly["id"]).await;
    assert_action_refused(
        &app,
        &user,
        &first,
        "stop-recurring",
        "NOT_LATEST_OCCURRENCE",
    )
    .await;
    let stopped = performed(&app, &user, &next, "stop-recurring").await;
    assert_eq!(
        stopped["recurrence_rule"],
        "FREQ=WEEKLY;UNTIL=20300508T090000Z"
    );
    let done = patched(&app, &user, &next["id"], json!({"completed": true})).await;
    assert_eq!(done["successor_id"], Value::Null);

    let plain = app.create_task(&user, json!({"title": "plain"})).await;
    assert_action_refused(&app, &user, &plain, "stop-recurring", "TASK_NOT_RECURRING").await;
}

#[tokio::test]
async fn series_id_is_the_first_tasks_id_on_every_occurrence() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let plain = app.create_task(&user, json!({"title": "plain"})).await;
    assert_eq!(plain["series_id"], Value::Null);

    let first = series(&app, &user, "daily", "FREQ=DAILY").await;
    assert_eq!(first["series_id"], first["id"]);
    let second = complete_to_successor(&app, &user, &first).await;
    assert_eq!(second["series_id"], first["id"]);
    let third = complete_to_successor(&app, &user, &second).await;
    assert_eq!(third["series_id"], first["id"]);
    assert_eq!(
        app.fetch_task(&user, &first["id"]).await["series_id"],
        first["id"]
    );

    // In the list as well.
    let page = app.fetch_tasks(&user, &[("sort", "created_at")]).await;
    let series: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| &task["series_id"])
        .collect();
    assert_eq!(
        series,
        [&Value::Null, &first["id"], &first["id"], &first["id"]]
    );
}

#[tokio::test]
async fn deleting_a_series_deletes_every_occurrence_and_nothing_else() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let first = series(&app, &user, "a", "FREQ=DAILY").await;
    let second = complete_to_successor(&app, &user, &first).await;
    let third = complete_to_successor(&app, &user, &second).await;
    let other_first = series(&app, &user, "b", "FREQ=WEEKLY").await;
    let other_second = complete_to_successor(&app, &user, &other_first).await;
    let plain = app.create_task(&user, json!({"title": "plain"})).await;

    let response = delete_in_scope(&app, &user, &second, "bogus").await;
    assert_validation_error(response, "scope").await;
    let response = patch_in_scope(&app, &user, &second, "bogus", json!({"title": "x"})).await;
    assert_validation_error(response, "scope").await;
    assert_eq!(app.total_tasks(&user).await, 6);

    // From a middle occurrence, completed ones included.
    let response = delete_in_scope(&app, &user, &second, "series").await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    for task in [&first, &second, &third] {
        let response = app.get_task(&user, &task["id"]).await;
        assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
    }
    let left = app.fetch_tasks(&user, &[("sort", "created_at")]).await;
    assert_eq!(titles(&left), ["b", "b", "plain"]);
    assert_eq!(
        app.fetch_task(&user, &other_first["id"]).await["successor_id"],
        other_second["id"]
    );

    // From the first occurrence; and a task in no series goes alone.
    let response = delete_in_scope(&app, &user, &other_first, "series").await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(titles(&app.fetch_tasks(&user, &[]).await), ["plain"]);
    let response = delete_in_scope(&app, &user, &plain, "series").await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(app.total_tasks(&user).await, 0);

    let response = delete_in_scope(&app, &user, &plain, "series").await;
    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
}

#[tokio::test]
async fn patch_following_changes_this_and_every_later_occurrence() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let first = series(&app, &user, "walk", "FREQ=DAILY").await;
    let second = complete_to_successor(&app, &user, &first).await;
    let third = complete_to_successor(&app, &user, &second).await;
    let first = app.fetch_task(&user, &first["id"]).await;
    let second = app.fetch_task(&user, &second["id"]).await;
    assert_eq!(second["completed"], true);
    assert_eq!(third["completed"], false);

    let request = json!({"title": "run", "description": "faster", "priority": "high"});
    let response = patch_in_scope(&app, &user, &second, "following", request).await;
    let changed = assert_status(response, StatusCode::OK).await;
    assert_eq!(changed["id"], second["id"]);
    assert_eq!(changed["title"], "run");

    assert_eq!(app.fetch_task(&user, &first["id"]).await, first);
    for (before, due) in [
        (&second, "2030-05-02T09:00:00.000000Z"),
        (&third, "2030-05-03T09:00:00.000000Z"),
    ] {
        let now = app.fetch_task(&user, &before["id"]).await;
        assert_eq!(now["title"], "run");
        assert_eq!(now["description"], "faster");
        assert_eq!(now["priority"], "high");
        assert_eq!(now["due_date"], due);
        assert_eq!(now["completed"], before["completed"]);
        assert_eq!(now["status"], before["status"]);
        assert_eq!(now["completed_at"], before["completed_at"]);
        assert_eq!(now["successor_id"], before["successor_id"]);
    }
    assert_eq!(app.fetch_task(&user, &second["id"]).await, changed);
    assert_eq!(app.total_tasks(&user).await, 3, "no occurrence is created");

    // A due date given moves this occurrence only.
    let request = json!({"title": "stroll", "due_date": "2030-04-30T09:00:00Z"});
    let response = patch_in_scope(&app, &user, &first, "following", request).await;
    let changed = assert_status(response, StatusCode::OK).await;
    assert_eq!(changed["due_date"], "2030-04-30T09:00:00.000000Z");
    let titles = titles(&app.fetch_tasks(&user, &[]).await);
    assert_eq!(titles, ["stroll", "stroll", "stroll"]);
    assert_eq!(
        app.fetch_task(&user, &third["id"]).await["due_date"],
        "2030-05-03T09:00:00.000000Z"
    );
}

// --- isolation --------------------------------------------------------------------------------

#[tokio::test]
async fn another_users_statuses_and_priorities_are_no_replacement() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    app.create_task(
        &user,
        json!({"title": "t", "status": "in_progress", "priority": "high"}),
    )
    .await;
    let their_open = create(&app, &other, "statuses", json!({"name": "theirs"})).await;
    let their_priority = id_of(&app, &other, "priorities", "low").await;

    let in_progress = id_of(&app, &user, "statuses", "in_progress").await;
    let response = delete_replacing(&app, &user, "statuses", in_progress, id(&their_open)).await;
    assert_bad_replacement(response).await;
    let high = id_of(&app, &user, "priorities", "high").await;
    let response = delete_replacing(&app, &user, "priorities", high, their_priority).await;
    assert_bad_replacement(response).await;

    // Their unused status is not mine to delete, even naming one of mine.
    let response = delete_replacing(&app, &user, "statuses", id(&their_open), in_progress).await;
    assert_error(response, StatusCode::NOT_FOUND, "STATUS_NOT_FOUND").await;

    assert_eq!(count_tasks(&app, &user, ("status", "in_progress")).await, 1);
    assert_eq!(count_tasks(&app, &user, ("priority", "high")).await, 1);
    assert_eq!(named(&app, &other, "statuses", "theirs").await, their_open);
    assert_eq!(count(&app, &user, "statuses").await, 3);
}
