//! Organising tasks (issue 28): each user's statuses and priorities, the manual order of tasks,
//! and operations on a recurring series.
//!
//! Statuses and priorities are the user's own rows, referred to by tasks and shown by name: a
//! rename shows on every task at once (and is in the change log for each of them), a deletion
//! never strands a task, and a status's kind decides `completed`. The manual order is each
//! task's `position`; moves and reorders keep positions unique however they race. A series can
//! be previewed, skipped, stopped, deleted whole and edited from one occurrence on.

use futures_util::future::join_all;
use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};

use super::helpers::{
    TestApp, TestUser, assert_error, assert_status, assert_validation_error, body, utc_time,
};

// --- helpers ------------------------------------------------------------------------------------

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

/// `GET …/statuses` or `…/priorities` (`which`); asserts 200.
async fn list(app: &TestApp, user: &TestUser, which: &str) -> Value {
    let response = call(app, user, Method::GET, &format!("/{which}"), None).await;
    assert_status(response, StatusCode::OK).await
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

/// `POST …/{which}` with `request`; asserts 201 and returns what was created.
async fn create(app: &TestApp, user: &TestUser, which: &str, request: Value) -> Value {
    let response = call(
        app,
        user,
        Method::POST,
        &format!("/{which}"),
        Some(&request),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED, "creating {request}");
    body(response).await
}

/// `PATCH …/{which}/{id}` with `request`.
async fn patch(app: &TestApp, user: &TestUser, which: &str, id: i64, request: Value) -> Response {
    let path = format!("/{which}/{id}");
    call(app, user, Method::PATCH, &path, Some(&request)).await
}

/// `DELETE …/{which}/{id}`, with `?replace_with=` if given.
async fn delete(
    app: &TestApp,
    user: &TestUser,
    which: &str,
    id: i64,
    replace_with: Option<&str>,
) -> Response {
    let path = match replace_with {
        Some(other) => format!("/{which}/{id}?replace_with={other}"),
        None => format!("/{which}/{id}"),
    };
    call(app, user, Method::DELETE, &path, None).await
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

/// `PATCH …/tasks/{id}` with `request`; asserts 200 and returns the task.
async fn patched(app: &TestApp, user: &TestUser, id: &Value, request: Value) -> Value {
    let response = app.patch_task(user, id, &request).await;
    assert_status(response, StatusCode::OK).await
}

/// Creates tasks titled `{prefix}0`, `{prefix}1`, … in that order (the last one on top).
async fn tasks_titled(app: &TestApp, user: &TestUser, prefix: &str, count: usize) -> Vec<Value> {
    let mut tasks = Vec::new();
    for i in 0..count {
        tasks.push(
            app.create_task(user, json!({"title": format!("{prefix}{i}")}))
                .await,
        );
    }
    tasks
}

fn id(task: &Value) -> i64 {
    task["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id in {task}"))
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

/// Moves `task` with `request`; asserts 200 and that the answer is the task at its new place.
async fn moved(app: &TestApp, user: &TestUser, task: i64, request: Value) -> Value {
    let answer = assert_status(move_task(app, user, task, request).await, StatusCode::OK).await;
    assert_eq!(id(&answer), task);
    assert_eq!(app.fetch_task(user, task).await, answer);
    answer
}

/// `POST …/tasks/reorder` with `task_ids`.
async fn reorder(app: &TestApp, user: &TestUser, task_ids: &[i64]) -> Response {
    let request = json!({"task_ids": task_ids});
    call(app, user, Method::POST, "/tasks/reorder", Some(&request)).await
}

/// `POST …/tasks/{task}/{action}` without a body (`skip`, `stop-recurring`).
async fn task_action(app: &TestApp, user: &TestUser, task: &Value, action: &str) -> Response {
    let path = format!("/tasks/{}/{action}", task["id"]);
    call(app, user, Method::POST, &path, None).await
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
    let path = format!("/statuses/{}", first["id"]);
    let fetched = call(&app, &user, Method::GET, &path, None).await;
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
    let response = call(&app, &user, Method::POST, "/statuses", Some(&request)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let waiting = body(response).await;
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
    let archived = create(
        &app,
        &user,
        "statuses",
        json!({"name": "archived", "kind": "done", "position": 1}),
    )
    .await;
    assert_eq!(archived["kind"], "done");
    assert_eq!(archived["position"], 1);
    assert_eq!(archived["is_default"], false);
    assert_eq!(
        names_of(&list(&app, &user, "statuses").await, "name"),
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
    let response = call(&app, &user, Method::POST, "/priorities", Some(&request)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let urgent = body(response).await;
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
    let response = call(
        &app,
        &user,
        Method::POST,
        "/priorities",
        Some(&json!({"name": "odd", "kind": "done"})),
    )
    .await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(
        names_of(&list(&app, &user, "priorities").await, "name"),
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
        let request = json!({"name": name});
        let response = call(&app, &user, Method::POST, "/statuses", Some(&request)).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "STATUS_ALREADY_EXISTS").await;
        assert_eq!(error["field"], "name");
    }
    for name in ["HIGH", "Low"] {
        let request = json!({"name": name});
        let response = call(&app, &user, Method::POST, "/priorities", Some(&request)).await;
        let error =
            assert_error(response, StatusCode::BAD_REQUEST, "PRIORITY_ALREADY_EXISTS").await;
        assert_eq!(error["field"], "name");
    }

    // A rename into another's name, in any case, too; its own name in another case is fine.
    let in_progress = id_of(&app, &user, "statuses", "in_progress").await;
    let response = patch(
        &app,
        &user,
        "statuses",
        in_progress,
        json!({"name": "Not_Started"}),
    )
    .await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "STATUS_ALREADY_EXISTS").await;
    assert_eq!(error["field"], "name");
    let high = id_of(&app, &user, "priorities", "high").await;
    let response = patch(&app, &user, "priorities", high, json!({"name": "MEDIUM"})).await;
    assert_error(response, StatusCode::BAD_REQUEST, "PRIORITY_ALREADY_EXISTS").await;
    let response = patch(&app, &user, "priorities", high, json!({"name": "High"})).await;
    assert_eq!(
        assert_status(response, StatusCode::OK).await["name"],
        "High"
    );

    assert_eq!(
        names_of(&list(&app, &user, "statuses").await, "name"),
        ["not_started", "in_progress", "completed"]
    );
    assert_eq!(
        names_of(&list(&app, &user, "priorities").await, "name"),
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
            let request = json!({"name": name});
            let response = call(
                &app,
                &user,
                Method::POST,
                &format!("/{which}"),
                Some(&request),
            )
            .await;
            assert_validation_error(response, "name").await;
        }
        let response = call(
            &app,
            &user,
            Method::POST,
            &format!("/{which}"),
            Some(&json!({})),
        )
        .await;
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        for position in [-1, 10001] {
            let request = json!({"name": "bad", "position": position});
            let response = call(
                &app,
                &user,
                Method::POST,
                &format!("/{which}"),
                Some(&request),
            )
            .await;
            assert_validation_error(response, "position").await;
        }
        for color in ["red", "#12345", "123456", "#GGGGGG", ""] {
            let request = json!({"name": "bad", "color": color});
            let response = call(
                &app,
                &user,
                Method::POST,
                &format!("/{which}"),
                Some(&request),
            )
            .await;
            let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_COLOR").await;
            assert_eq!(error["field"], "color", "{color:?}");
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
    let response = call(&app, &user, Method::POST, "/statuses", Some(&request)).await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(
        list(&app, &user, "statuses")
            .await
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn patch_changes_name_color_and_position_but_never_the_kind() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let status = named(&app, &user, "statuses", "in_progress").await;
    let status_id = id(&status);

    let response = patch(
        &app,
        &user,
        "statuses",
        status_id,
        json!({"name": " doing ", "color": "#123ABC", "position": 7}),
    )
    .await;
    let changed = assert_status(response, StatusCode::OK).await;
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
        names_of(&list(&app, &user, "statuses").await, "name"),
        ["not_started", "completed", "doing"]
    );

    // `null` clears the colour; an empty body changes nothing.
    let response = patch(&app, &user, "statuses", status_id, json!({"color": null})).await;
    let cleared = assert_status(response, StatusCode::OK).await;
    assert_eq!(cleared["color"], Value::Null);
    assert_eq!(cleared["name"], "doing");
    let response = patch(&app, &user, "statuses", status_id, json!({})).await;
    let same = assert_status(response, StatusCode::OK).await;
    assert_eq!(same["name"], "doing");
    assert_eq!(same["position"], 7);

    // The kind cannot change, and a default is not unset directly.
    for request in [json!({"kind": "done"}), json!({"kind": "open"})] {
        let response = patch(&app, &user, "statuses", status_id, request).await;
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
    }
    let default = id_of(&app, &user, "statuses", "not_started").await;
    let response = patch(
        &app,
        &user,
        "statuses",
        default,
        json!({"is_default": false}),
    )
    .await;
    assert_validation_error(response, "is_default").await;
    let response = patch(
        &app,
        &user,
        "statuses",
        status_id,
        json!({"is_default": false}),
    )
    .await;
    assert_validation_error(response, "is_default").await;
    let medium = id_of(&app, &user, "priorities", "medium").await;
    let response = patch(
        &app,
        &user,
        "priorities",
        medium,
        json!({"is_default": false}),
    )
    .await;
    assert_validation_error(response, "is_default").await;
    let response = patch(&app, &user, "priorities", medium, json!({"kind": "done"})).await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;

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
    let archived = create(
        &app,
        &user,
        "statuses",
        json!({"name": "archived", "kind": "done", "is_default": true}),
    )
    .await;
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
    let response = patch(
        &app,
        &user,
        "statuses",
        in_progress,
        json!({"is_default": true}),
    )
    .await;
    assert_eq!(
        assert_status(response, StatusCode::OK).await["is_default"],
        true
    );
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
    let response = patch(
        &app,
        &user,
        "statuses",
        in_progress,
        json!({"is_default": true}),
    )
    .await;
    assert_eq!(
        assert_status(response, StatusCode::OK).await["is_default"],
        true
    );

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

    let urgent = create(
        &app,
        &user,
        "priorities",
        json!({"name": "urgent", "is_default": true}),
    )
    .await;
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
    let response = delete(&app, &user, "statuses", completed, None).await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    let medium = id_of(&app, &user, "priorities", "medium").await;
    let response = delete(&app, &user, "priorities", medium, None).await;
    assert_error(response, StatusCode::CONFLICT, "PRIORITY_IN_USE").await;
    let replacement = id(&urgent).to_string();
    let response = delete(&app, &user, "priorities", medium, Some(&replacement)).await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(
        app.fetch_task(&user, &done["id"]).await["priority"],
        "urgent"
    );
    assert_eq!(
        app.fetch_tasks(&user, &[("priority", "urgent")]).await["total"],
        3
    );
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
        let response = delete(&app, &user, which, target, None).await;
        assert_error(response, StatusCode::CONFLICT, "CANNOT_DELETE_DEFAULT").await;
        // Not with a replacement either.
        let all = list(&app, &user, which).await;
        let other = all
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .find(|&other| other != target)
            .unwrap();
        let response = delete(&app, &user, which, target, Some(&other.to_string())).await;
        assert_error(response, StatusCode::CONFLICT, "CANNOT_DELETE_DEFAULT").await;
        named(&app, &user, which, name).await;
    }

    for (which, name, code) in [
        ("statuses", "in_progress", "STATUS_NOT_FOUND"),
        ("priorities", "high", "PRIORITY_NOT_FOUND"),
    ] {
        let target = id_of(&app, &user, which, name).await;
        let response = delete(&app, &user, which, target, None).await;
        assert_status(response, StatusCode::NO_CONTENT).await;
        let path = format!("/{which}/{target}");
        let response = call(&app, &user, Method::GET, &path, None).await;
        assert_error(response, StatusCode::NOT_FOUND, code).await;
        let response = delete(&app, &user, which, target, None).await;
        assert_error(response, StatusCode::NOT_FOUND, code).await;
        assert_eq!(list(&app, &user, which).await.as_array().unwrap().len(), 2);
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

    let response = delete(&app, &user, "statuses", in_progress, None).await;
    assert_error(response, StatusCode::CONFLICT, "STATUS_IN_USE").await;
    for replacement in [
        completed.to_string(),
        in_progress.to_string(),
        foreign.to_string(),
        "999999999".to_owned(),
    ] {
        let response = delete(&app, &user, "statuses", in_progress, Some(&replacement)).await;
        assert_bad_replacement(response).await;
    }
    let response = delete(&app, &user, "statuses", in_progress, Some("abc")).await;
    assert_validation_error(response, "replace_with").await;
    assert_eq!(list(&app, &user, "statuses").await, statuses);
    assert_eq!(app.fetch_task(&user, &busy["id"]).await, busy);
    assert_eq!(
        list(&app, &other, "statuses")
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // With a replacement of the same kind the tasks move, in the same transaction.
    let waiting = create(&app, &user, "statuses", json!({"name": "waiting"})).await;
    let cursor = app.settled_log_end(&user).await;
    let response = delete(
        &app,
        &user,
        "statuses",
        in_progress,
        Some(&id(&waiting).to_string()),
    )
    .await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    let now = app.fetch_task(&user, &busy["id"]).await;
    assert_eq!(now["status"], "waiting");
    assert_eq!(now["completed"], false);
    // The log has the deletion and the moved task as it is now, and nothing else.
    app.settled_log_end(&user).await;
    let changes = app.fetch_changes(&user, &[("since", &cursor)]).await;
    let mut items: Vec<(String, Value, Value)> = changes["changes"]
        .as_array()
        .unwrap()
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
        names_of(&list(&app, &user, "statuses").await, "name"),
        ["not_started", "completed", "waiting"]
    );

    // A done status in use moves to another done one; the default open one is a replacement
    // for an open one.
    let archived = create(
        &app,
        &user,
        "statuses",
        json!({"name": "archived", "kind": "done"}),
    )
    .await;
    let shelved = patched(&app, &user, &idle["id"], json!({"status": "archived"})).await;
    assert_eq!(shelved["completed"], true);
    let response = delete(
        &app,
        &user,
        "statuses",
        id(&archived),
        Some(&not_started.to_string()),
    )
    .await;
    assert_bad_replacement(response).await;
    let response = delete(
        &app,
        &user,
        "statuses",
        id(&archived),
        Some(&completed.to_string()),
    )
    .await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    let moved = app.fetch_task(&user, &idle["id"]).await;
    assert_eq!(moved["status"], "completed");
    assert_eq!(moved["completed"], true);
    assert_eq!(moved["completed_at"], shelved["completed_at"]);
    let response = delete(
        &app,
        &user,
        "statuses",
        id(&waiting),
        Some(&not_started.to_string()),
    )
    .await;
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
    let mut high = Vec::new();
    for i in 0..3 {
        high.push(
            app.create_task(&user, json!({"title": format!("h{i}"), "priority": "high"}))
                .await,
        );
    }
    let low_task = app
        .create_task(&user, json!({"title": "l", "priority": "low"}))
        .await;
    let high_id = id_of(&app, &user, "priorities", "high").await;
    let low_id = id_of(&app, &user, "priorities", "low").await;
    let foreign = id_of(&app, &other, "priorities", "low").await;
    let before = list(&app, &user, "priorities").await;

    let response = delete(&app, &user, "priorities", high_id, None).await;
    assert_error(response, StatusCode::CONFLICT, "PRIORITY_IN_USE").await;
    for replacement in [high_id.to_string(), foreign.to_string(), "-1".to_owned()] {
        let response = delete(&app, &user, "priorities", high_id, Some(&replacement)).await;
        assert_bad_replacement(response).await;
    }
    assert_eq!(list(&app, &user, "priorities").await, before);
    for task in &high {
        assert_eq!(&app.fetch_task(&user, &task["id"]).await, task);
    }

    let response = delete(
        &app,
        &user,
        "priorities",
        high_id,
        Some(&low_id.to_string()),
    )
    .await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    for task in high.iter().chain([&low_task]) {
        assert_eq!(app.fetch_task(&user, &task["id"]).await["priority"], "low");
    }
    assert_eq!(
        names_of(&list(&app, &user, "priorities").await, "name"),
        ["low", "medium"]
    );
    assert_eq!(
        app.fetch_tasks(&user, &[("priority", "low")]).await["total"],
        4
    );
}

#[tokio::test]
async fn unknown_and_foreign_ids_are_404_and_another_users_path_is_403() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    let their_status = create(&app, &other, "statuses", json!({"name": "theirs"})).await;
    let their_priority = create(&app, &other, "priorities", json!({"name": "theirs"})).await;

    for (which, code, theirs) in [
        ("statuses", "STATUS_NOT_FOUND", id(&their_status)),
        ("priorities", "PRIORITY_NOT_FOUND", id(&their_priority)),
    ] {
        for target in [theirs, 999_999_999] {
            let path = format!("/{which}/{target}");
            let response = call(&app, &user, Method::GET, &path, None).await;
            assert_error(response, StatusCode::NOT_FOUND, code).await;
            let response = delete(&app, &user, which, target, None).await;
            assert_error(response, StatusCode::NOT_FOUND, code).await;
        }
        // Their path with my token.
        let path = format!("/api/v1/users/{}/{which}", other.id);
        let response = app.get(&path, Some(&user.access)).await;
        assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        let response = app
            .post_json(&path, Some(&user.access), &json!({"name": "intruder"}))
            .await;
        assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        let item = format!("{path}/{theirs}");
        let response = app
            .send_json(
                Method::PATCH,
                &item,
                Some(&user.access),
                &json!({"name": "x"}),
            )
            .await;
        assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        let response = app
            .send(Method::DELETE, &item, Some(&user.access), None)
            .await;
        assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }
    let path = format!("/api/v1/users/{}/categories", other.id);
    let response = app.get(&path, Some(&user.access)).await;
    assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    // Their statuses and priorities are untouched, and none of theirs is a name of mine.
    assert_eq!(
        named(&app, &other, "statuses", "theirs").await,
        their_status
    );
    assert_eq!(
        named(&app, &other, "priorities", "theirs").await,
        their_priority
    );
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
    let their_status = create(&app, &other, "statuses", json!({"name": "theirs"})).await;
    let their_priority = create(&app, &other, "priorities", json!({"name": "theirs"})).await;

    for (which, code, theirs) in [
        ("statuses", "STATUS_NOT_FOUND", id(&their_status)),
        ("priorities", "PRIORITY_NOT_FOUND", id(&their_priority)),
    ] {
        for target in [theirs, 999_999_999] {
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
                    (StatusCode::NOT_FOUND, Some(code)),
                    "PATCH {which}/{target} {request}: {error}"
                );
            }
        }
    }
    assert_eq!(
        named(&app, &other, "statuses", "theirs").await,
        their_status
    );
    assert_eq!(
        named(&app, &other, "priorities", "theirs").await,
        their_priority
    );
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
    let response = app
        .put_task(
            &user,
            &named_task["id"],
            &json!({"title": "put", "priority": "low", "completed": false}),
        )
        .await;
    let put = assert_status(response, StatusCode::OK).await;
    assert_eq!(put["status"], "in_progress");
    assert_eq!(put["priority"], "low");
    let response = app
        .put_task(
            &user,
            &named_task["id"],
            &json!({"title": "put", "priority": "low", "completed": true}),
        )
        .await;
    let put = assert_status(response, StatusCode::OK).await;
    assert_eq!(put["status"], "completed");
    let response = app
        .put_task(
            &user,
            &named_task["id"],
            &json!({"title": "put", "priority": "low", "completed": false, "status": "in_progress"}),
        )
        .await;
    let put = assert_status(response, StatusCode::OK).await;
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
            let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_STATUS").await;
            assert_eq!(error["field"], "status");
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
        let response = app
            .post_task(&user, &json!({"title": "x", "status": status}))
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_STATUS").await;
        assert_eq!(error["field"], "status", "{status:?}");
        let response = app
            .patch_task(
                &user,
                &task["id"],
                &json!({"status": status, "title": "changed"}),
            )
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_STATUS").await;
        assert_eq!(error["field"], "status");
    }
    for priority in ["High", "urgent", "high ", ""] {
        let response = app
            .post_task(&user, &json!({"title": "x", "priority": priority}))
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PRIORITY").await;
        assert_eq!(error["field"], "priority", "{priority:?}");
        let response = app
            .patch_task(
                &user,
                &task["id"],
                &json!({"priority": priority, "completed": true}),
            )
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PRIORITY").await;
        assert_eq!(error["field"], "priority");
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
    create(
        &app,
        &user,
        "statuses",
        json!({"name": "archived", "kind": "done"}),
    )
    .await;

    let plain = app.create_task(&user, json!({"title": "plain"})).await;
    let archived = patched(&app, &user, &plain["id"], json!({"status": "archived"})).await;
    assert_eq!(archived["completed"], true);
    assert_eq!(archived["status"], "archived");
    utc_time(&archived["completed_at"]);
    assert_eq!(
        app.fetch_tasks(&user, &[("status", "completed")]).await["total"],
        1,
        "any done status is completed"
    );
    assert_eq!(
        app.fetch_tasks(&user, &[("status", "archived")]).await["total"],
        1
    );
    // Completing an archived task again keeps its status.
    let same = patched(&app, &user, &plain["id"], json!({"completed": true})).await;
    assert_eq!(same["status"], "archived");

    let task = recurring(
        &app,
        &user,
        "daily",
        "FREQ=DAILY",
        "2030-05-01T09:00:00Z",
        Some("2030-05-01T08:30:00Z"),
    )
    .await;
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
    let mut busy = Vec::new();
    for i in 0..3 {
        busy.push(
            app.create_task(
                &user,
                json!({"title": format!("busy {i}"), "status": "in_progress"}),
            )
            .await,
        );
    }
    let idle = app.create_task(&user, json!({"title": "idle"})).await;
    let status_id = id_of(&app, &user, "statuses", "in_progress").await;
    let before = app.settled_log_end(&user).await;

    let response = patch(&app, &user, "statuses", status_id, json!({"name": "doing"})).await;
    let renamed = assert_status(response, StatusCode::OK).await;
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
        titles_of(&app.fetch_tasks(&user, &[("status", "doing")]).await),
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
    app.settled_log_end(&user).await;
    let changes = app.fetch_changes(&user, &[("since", &before)]).await;
    let items = changes["changes"].as_array().unwrap();
    let status_change = items
        .iter()
        .find(|c| c["type"] == "status.updated")
        .unwrap_or_else(|| panic!("a status.updated in {changes}"));
    assert_eq!(status_change["id"], status_id);
    assert_eq!(status_change["data"], renamed);
    for task in &busy {
        let change = items
            .iter()
            .find(|c| c["type"] == "task.updated" && c["id"] == task["id"])
            .unwrap_or_else(|| panic!("task.updated for {} in {changes}", task["id"]));
        assert_eq!(change["data"]["status"], "doing");
        assert_eq!(change["data"], app.fetch_task(&user, &task["id"]).await);
    }
    assert!(
        !items
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

    let response = patch(&app, &user, "priorities", high, json!({"name": "urgent!"})).await;
    let renamed = assert_status(response, StatusCode::OK).await;

    for task in [&urgent, &done_urgent] {
        assert_eq!(
            app.fetch_task(&user, &task["id"]).await["priority"],
            "urgent!"
        );
    }
    assert_eq!(
        app.fetch_tasks(&user, &[("priority", "urgent!")]).await["total"],
        2
    );
    let response = app.list_tasks(&user, &[("priority", "high")]).await;
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PRIORITY").await;

    app.settled_log_end(&user).await;
    let changes = app.fetch_changes(&user, &[("since", &before)]).await;
    let items = changes["changes"].as_array().unwrap();
    let change = items
        .iter()
        .find(|c| c["type"] == "priority.updated")
        .unwrap_or_else(|| panic!("a priority.updated in {changes}"));
    assert_eq!(change["id"], high);
    assert_eq!(change["data"], renamed);
    let tasks: Vec<&Value> = items
        .iter()
        .filter(|c| c["type"] == "task.updated")
        .collect();
    assert_eq!(tasks.len(), 2, "{changes}");
    for task in [&urgent, &done_urgent] {
        let change = tasks
            .iter()
            .find(|c| c["id"] == task["id"])
            .unwrap_or_else(|| panic!("task.updated for {} in {changes}", task["id"]));
        assert_eq!(change["data"], app.fetch_task(&user, &task["id"]).await);
    }
    assert!(!tasks.iter().any(|c| c["id"] == other["id"]));

    // A colour change alone is the priority's change only.
    let before = app.settled_log_end(&user).await;
    let response = patch(&app, &user, "priorities", high, json!({"color": "#FF0000"})).await;
    assert_status(response, StatusCode::OK).await;
    app.settled_log_end(&user).await;
    let changes = app.fetch_changes(&user, &[("since", &before)]).await;
    let kinds: Vec<&str> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["priority.updated"], "{changes}");
}

fn titles_of(page: &Value) -> Vec<String> {
    names_of(&page["items"], "title")
}

#[tokio::test]
async fn tasks_filter_by_status_kind_or_name_and_by_priority() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    create(
        &app,
        &user,
        "statuses",
        json!({"name": "archived", "kind": "done"}),
    )
    .await;
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
    let sorted = |query: &[(&'static str, &'static str)]| {
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
        let page = app.fetch_tasks(&user, &sorted(&query)).await;
        assert_eq!(titles_of(&page), expected, "{query:?}");
        assert_eq!(page["total"], expected.len(), "{query:?}");
    }
    for (query, code, field) in [
        (("status", "In_Progress"), "INVALID_STATUS", "status"),
        (("status", "nonsense"), "INVALID_STATUS", "status"),
        (("priority", "HIGH"), "INVALID_PRIORITY", "priority"),
        (("priority", "urgent"), "INVALID_PRIORITY", "priority"),
    ] {
        let response = app.list_tasks(&user, &[query]).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(error["field"], field);
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
    let order = async |sort: &str| titles_of(&app.fetch_tasks(&user, &[("sort", sort)]).await);

    assert_eq!(order("priority").await, ["l", "m", "h"]);
    assert_eq!(order("-priority").await, ["h", "m", "l"]);
    assert_eq!(order("status").await, ["h", "m", "l"]);
    assert_eq!(order("-status").await, ["l", "m", "h"]);

    let low = id_of(&app, &user, "priorities", "low").await;
    let response = patch(&app, &user, "priorities", low, json!({"position": 5})).await;
    assert_eq!(assert_status(response, StatusCode::OK).await["position"], 5);
    assert_eq!(
        names_of(&list(&app, &user, "priorities").await, "name"),
        ["medium", "high", "low"]
    );
    assert_eq!(order("priority").await, ["m", "h", "l"]);

    let not_started = id_of(&app, &user, "statuses", "not_started").await;
    let response = patch(&app, &user, "statuses", not_started, json!({"position": 9})).await;
    assert_status(response, StatusCode::OK).await;
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
    let tasks = tasks_titled(&app, &user, "t", 4).await;

    let order = order_ids(&app, &user).await;
    let newest_first: Vec<i64> = tasks.iter().rev().map(id).collect();
    assert_eq!(order, newest_first);
    assert_eq!(
        titles_of(&app.fetch_tasks(&user, &[("sort", "-position")]).await),
        ["t0", "t1", "t2", "t3"]
    );

    // After a move to the bottom, a new task still goes to the top.
    moved(&app, &user, id(&tasks[3]), json!({"to": "bottom"})).await;
    let fresh = app.create_task(&user, json!({"title": "fresh"})).await;
    assert_eq!(
        order_ids(&app, &user).await,
        [
            id(&fresh),
            id(&tasks[2]),
            id(&tasks[1]),
            id(&tasks[0]),
            id(&tasks[3])
        ]
    );
    moved(&app, &user, id(&tasks[0]), json!({"to": "top"})).await;
    let newer = app.create_task(&user, json!({"title": "newer"})).await;
    assert_eq!(
        order_ids(&app, &user).await[..3],
        [id(&newer), id(&tasks[0]), id(&fresh)]
    );
    // Each user's order is their own.
    let other = app.signed_in_user().await;
    let theirs = app.create_task(&other, json!({"title": "theirs"})).await;
    assert_eq!(order_ids(&app, &other).await, [id(&theirs)]);
}

#[tokio::test]
async fn move_places_a_task_before_after_at_the_top_or_bottom() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    // Top to bottom: e d c b a.
    let t = tasks_titled(&app, &user, "", 5).await;
    let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| id(&t[i]));
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
    let [a, b, c] = [0, 1, 2].map(|i| id(&t[i]));
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
        let response = move_task(&app, &user, a, request).await;
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
    }
    for (request, field) in [
        (json!({"before": a}), "before"),
        (json!({"after": a}), "after"),
    ] {
        let response = move_task(&app, &user, a, request).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_TASK_ORDER").await;
        assert_eq!(error["field"], field);
    }
    assert_eq!(manual_order(&app, &user).await, before);
    for task in &t {
        assert_eq!(&app.fetch_task(&user, &task["id"]).await, task);
    }
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
    let [a, b] = [id(&t[0]), id(&t[1])];
    let [x, y] = [id(&theirs[0]), id(&theirs[1])];
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
    assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    assert_eq!(manual_order(&app, &user).await, mine);
    assert_eq!(manual_order(&app, &other).await, their_order);
    for task in &theirs {
        assert_eq!(&app.fetch_task(&other, &task["id"]).await, task);
    }
}

#[tokio::test]
async fn reorder_places_the_tasks_where_the_topmost_of_them_was() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let t = tasks_titled(&app, &user, "t", 6).await;
    let ids: Vec<i64> = t.iter().map(id).collect();
    // Top to bottom: t5 t4 t3 t2 t1 t0.
    let [t0, t1, t2, t3, t4, t5] = [0, 1, 2, 3, 4, 5].map(|i| ids[i]);
    assert_eq!(order_ids(&app, &user).await, [t5, t4, t3, t2, t1, t0]);

    // The topmost of them is t4: they go there, in this order; t5 above and t3, t2, t0 below
    // stay as they were.
    let response = reorder(&app, &user, &[t1, t4, t2]).await;
    let answer = assert_status(response, StatusCode::OK).await;
    let answered: Vec<i64> = answer.as_array().unwrap().iter().map(id).collect();
    assert_eq!(answered, [t1, t4, t2]);
    for task in answer.as_array().unwrap() {
        assert_eq!(task, &app.fetch_task(&user, id(task)).await);
    }
    assert_eq!(order_ids(&app, &user).await, [t5, t1, t4, t2, t3, t0]);

    // All of them, bottom up.
    let all_reversed = [t0, t3, t2, t4, t1, t5];
    let answer = assert_status(reorder(&app, &user, &all_reversed).await, StatusCode::OK).await;
    assert_eq!(
        answer
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect::<Vec<_>>(),
        all_reversed
    );
    assert_eq!(order_ids(&app, &user).await, all_reversed);

    // One task alone stays where it is.
    let before = manual_order(&app, &user).await;
    assert_status(reorder(&app, &user, &[t2]).await, StatusCode::OK).await;
    assert_eq!(order_ids(&app, &user).await, all_reversed);
    assert_eq!(manual_order(&app, &user).await.len(), before.len());

    // The bottom two swapped.
    assert_status(reorder(&app, &user, &[t5, t1]).await, StatusCode::OK).await;
    assert_eq!(order_ids(&app, &user).await, [t0, t3, t2, t4, t5, t1]);
}

#[tokio::test]
async fn bad_reorders_are_refused_and_change_nothing() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let t = tasks_titled(&app, &user, "t", 3).await;
    let [a, b, c] = [0, 1, 2].map(|i| id(&t[i]));
    let before = manual_order(&app, &user).await;

    let too_many: Vec<i64> = (1..=1001).collect();
    for ids in [vec![], vec![a, b, a], vec![c, c], too_many] {
        let response = reorder(&app, &user, &ids).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_TASK_ORDER").await;
        assert_eq!(error["field"], "task_ids", "{} ids", ids.len());
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
    for task in &t {
        assert_eq!(&app.fetch_task(&user, &task["id"]).await, task);
    }
}

#[tokio::test]
async fn moving_into_the_same_gap_again_and_again_keeps_the_order() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    // Top to bottom: top q p x bottom.
    let bottom = id(&app.create_task(&user, json!({"title": "bottom"})).await);
    let x = id(&app.create_task(&user, json!({"title": "x"})).await);
    let p = id(&app.create_task(&user, json!({"title": "p"})).await);
    let q = id(&app.create_task(&user, json!({"title": "q"})).await);
    let top = id(&app.create_task(&user, json!({"title": "top"})).await);
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
        assert_status(reorder(&app, &user, &ids).await, StatusCode::OK).await;
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
    let tasks = tasks_titled(&app, &user, "t", 40).await;
    let ids: Vec<i64> = tasks.iter().map(id).collect();
    // Tasks 0..20 move, each next to an anchor of its own among 20..40 (anchors do not move):
    // whatever order the moves land in, each ends right next to its anchor.
    let moves = (0..20).map(|i| {
        let (task, anchor) = (ids[i], ids[20 + (i * 7) % 20]);
        let request = if i % 2 == 0 {
            json!({"before": anchor})
        } else {
            json!({"after": anchor})
        };
        let app = &app;
        let user = &user;
        async move {
            let response = move_task(app, user, task, request).await;
            assert_status(response, StatusCode::OK).await
        }
    });
    let answers = join_all(moves).await;
    assert_eq!(answers.len(), 20);

    let order = order_ids(&app, &user).await;
    assert_eq!(order.len(), 40);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    let mut all = ids.clone();
    all.sort_unstable();
    assert_eq!(sorted, all, "every task once");
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
    let tasks = tasks_titled(&app, &user, "t", 20).await;
    let ids: Vec<i64> = tasks.iter().map(id).collect();

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
    let bottom = id(&app.create_task(&user, json!({"title": "bottom"})).await);
    let x = id(&app.create_task(&user, json!({"title": "x"})).await);
    let tasks = tasks_titled(&app, &user, "t", 24).await;
    let ids: Vec<i64> = tasks.iter().map(id).collect();
    let top = id(&app.create_task(&user, json!({"title": "top"})).await);

    // Every move is right above x: each halves the gap there, so the positions are spread
    // again while other moves wait for their turn. Some tasks move twice.
    let movers: Vec<i64> = ids[..20].iter().chain(&ids[..4]).copied().collect();
    let moves = movers.iter().map(|&task| {
        let (app, user) = (&app, &user);
        async move {
            let response = move_task(app, user, task, json!({"before": x})).await;
            assert_status(response, StatusCode::OK).await
        }
    });
    join_all(moves).await;

    let order = order_ids(&app, &user).await;
    assert_eq!(order.len(), 27);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    let mut all: Vec<i64> = ids.iter().copied().chain([bottom, x, top]).collect();
    all.sort_unstable();
    assert_eq!(sorted, all, "every task once");
    // Top to bottom: top, the four that did not move (newest first), the twenty moved ones in
    // some order, x, bottom.
    let unmoved: Vec<i64> = ids[20..].iter().rev().copied().collect();
    assert_eq!(order[0], top);
    assert_eq!(order[1..5], unmoved[..]);
    let mut block = order[5..25].to_vec();
    block.sort_unstable();
    let mut expected: Vec<i64> = ids[..20].to_vec();
    expected.sort_unstable();
    assert_eq!(block, expected);
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
        let response = move_task(app_ref, user_ref, id(task), json!({"to": "top"})).await;
        assert_status(response, StatusCode::OK).await
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
    let task = recurring(
        &app,
        &user,
        "daily",
        "FREQ=DAILY",
        "2030-05-01T09:00:00Z",
        None,
    )
    .await;

    let query = [("after", "2030-05-01T09:00:00Z"), ("limit", "3")];
    let answer = assert_status(
        occurrences(&app, &user, &task, &query).await,
        StatusCode::OK,
    )
    .await;
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
    let answer = assert_status(
        occurrences(&app, &user, &task, &query).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        answer["occurrences"],
        json!(["2030-05-03T09:00:00.000000Z"])
    );

    // Default: ten, from now (the first is the due date itself, in the future).
    let answer = assert_status(occurrences(&app, &user, &task, &[]).await, StatusCode::OK).await;
    let all = answer["occurrences"].as_array().unwrap();
    assert_eq!(all.len(), 10, "{answer}");
    assert_eq!(all[0], "2030-05-01T09:00:00.000000Z");
    assert_eq!(all[9], "2030-05-10T09:00:00.000000Z");

    let query = [("after", "2030-05-01T00:00:00Z"), ("limit", "500")];
    let answer = assert_status(
        occurrences(&app, &user, &task, &query).await,
        StatusCode::OK,
    )
    .await;
    let all = answer["occurrences"].as_array().unwrap();
    assert_eq!(all.len(), 100);
    assert_eq!(all[99], "2030-08-08T09:00:00.000000Z");

    // A series that ends: fewer than asked.
    let counted = recurring(
        &app,
        &user,
        "twice",
        "FREQ=WEEKLY;COUNT=2",
        "2030-05-01T09:00:00Z",
        None,
    )
    .await;
    let query = [("after", "2030-04-01T00:00:00Z")];
    let answer = assert_status(
        occurrences(&app, &user, &counted, &query).await,
        StatusCode::OK,
    )
    .await;
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
    let answer = assert_status(
        occurrences(&app, &user, &task, &query).await,
        StatusCode::OK,
    )
    .await;
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
    let answer = assert_status(
        occurrences(&app, &user, &task, &query).await,
        StatusCode::OK,
    )
    .await;
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
    let task = recurring(
        &app,
        &user,
        "daily",
        "FREQ=DAILY",
        "2030-05-01T09:00:00Z",
        Some("2030-05-01T08:30:00Z"),
    )
    .await;

    let response = task_action(&app, &user, &task, "skip").await;
    let skipped = assert_status(response, StatusCode::OK).await;
    let mut expected = task.clone();
    expected["due_date"] = json!("2030-05-02T09:00:00.000000Z");
    expected["remind_at"] = json!("2030-05-02T08:30:00.000000Z");
    expected["updated_at"] = skipped["updated_at"].clone();
    assert_eq!(skipped, expected);
    assert_eq!(app.fetch_task(&user, &task["id"]).await, skipped);
    assert_eq!(app.total_tasks(&user).await, 1, "no task is created");

    let skipped = assert_status(
        task_action(&app, &user, &task, "skip").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(skipped["due_date"], "2030-05-03T09:00:00.000000Z");
    let query = [("after", "2030-05-03T09:00:00Z"), ("limit", "1")];
    let answer = assert_status(
        occurrences(&app, &user, &task, &query).await,
        StatusCode::OK,
    )
    .await;
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
    let response = task_action(&app, &user, &done, "skip").await;
    assert_error(response, StatusCode::BAD_REQUEST, "TASK_NOT_OPEN").await;
    assert_eq!(app.fetch_task(&user, &task["id"]).await, done);

    let plain = app
        .create_task(
            &user,
            json!({"title": "plain", "due_date": "2030-05-01T09:00:00Z"}),
        )
        .await;
    let response = task_action(&app, &user, &plain, "skip").await;
    assert_error(response, StatusCode::BAD_REQUEST, "TASK_NOT_RECURRING").await;
    assert_eq!(app.fetch_task(&user, &plain["id"]).await, plain);
    let response = task_action(&app, &user, &json!({"id": 999_999_999}), "skip").await;
    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;

    // The last occurrence of a COUNT rule has nothing to skip to.
    let twice = recurring(
        &app,
        &user,
        "twice",
        "FREQ=DAILY;COUNT=2",
        "2030-05-01T09:00:00Z",
        None,
    )
    .await;
    let second = assert_status(
        task_action(&app, &user, &twice, "skip").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["due_date"], "2030-05-02T09:00:00.000000Z");
    let response = task_action(&app, &user, &twice, "skip").await;
    assert_error(response, StatusCode::BAD_REQUEST, "TASK_NOT_RECURRING").await;
    assert_eq!(app.fetch_task(&user, &twice["id"]).await, second);
}

#[tokio::test]
async fn stop_recurring_ends_the_series_at_this_occurrence() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = recurring(
        &app,
        &user,
        "daily",
        "FREQ=DAILY",
        "2030-05-01T09:00:00Z",
        None,
    )
    .await;

    let response = task_action(&app, &user, &task, "stop-recurring").await;
    let stopped = assert_status(response, StatusCode::OK).await;
    assert_eq!(
        stopped["recurrence_rule"],
        "FREQ=DAILY;UNTIL=20300501T090000Z"
    );
    assert_eq!(stopped["due_date"], task["due_date"]);
    assert_eq!(stopped["completed"], false);
    let query = [("after", "2030-04-30T00:00:00Z")];
    let answer = assert_status(
        occurrences(&app, &user, &stopped, &query).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        answer["occurrences"],
        json!(["2030-05-01T09:00:00.000000Z"])
    );
    // Nothing to skip to either.
    let response = task_action(&app, &user, &stopped, "skip").await;
    assert_error(response, StatusCode::BAD_REQUEST, "TASK_NOT_RECURRING").await;
    assert_eq!(app.fetch_task(&user, &task["id"]).await, stopped);

    let done = patched(&app, &user, &task["id"], json!({"completed": true})).await;
    assert_eq!(done["completed"], true);
    assert_eq!(done["successor_id"], Value::Null);
    assert_eq!(app.total_tasks(&user).await, 1);

    // An occurrence that already has a successor: stop from the latest one.
    let weekly = recurring(
        &app,
        &user,
        "weekly",
        "FREQ=WEEKLY;COUNT=5",
        "2030-05-01T09:00:00Z",
        None,
    )
    .await;
    let next = complete_to_successor(&app, &user, &weekly).await;
    let first = app.fetch_task(&user, &weekly["id"]).await;
    let response = task_action(&app, &user, &first, "stop-recurring").await;
    assert_error(response, StatusCode::BAD_REQUEST, "NOT_LATEST_OCCURRENCE").await;
    assert_eq!(app.fetch_task(&user, &weekly["id"]).await, first);
    let stopped = assert_status(
        task_action(&app, &user, &next, "stop-recurring").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        stopped["recurrence_rule"],
        "FREQ=WEEKLY;UNTIL=20300508T090000Z"
    );
    let done = patched(&app, &user, &next["id"], json!({"completed": true})).await;
    assert_eq!(done["successor_id"], Value::Null);

    let plain = app.create_task(&user, json!({"title": "plain"})).await;
    let response = task_action(&app, &user, &plain, "stop-recurring").await;
    assert_error(response, StatusCode::BAD_REQUEST, "TASK_NOT_RECURRING").await;
    assert_eq!(app.fetch_task(&user, &plain["id"]).await, plain);
}

#[tokio::test]
async fn series_id_is_the_first_tasks_id_on_every_occurrence() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let plain = app.create_task(&user, json!({"title": "plain"})).await;
    assert_eq!(plain["series_id"], Value::Null);

    let first = recurring(
        &app,
        &user,
        "daily",
        "FREQ=DAILY",
        "2030-05-01T09:00:00Z",
        None,
    )
    .await;
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
    let first = recurring(&app, &user, "a", "FREQ=DAILY", "2030-05-01T09:00:00Z", None).await;
    let second = complete_to_successor(&app, &user, &first).await;
    let third = complete_to_successor(&app, &user, &second).await;
    let other_first = recurring(
        &app,
        &user,
        "b",
        "FREQ=WEEKLY",
        "2030-05-01T09:00:00Z",
        None,
    )
    .await;
    let other_second = complete_to_successor(&app, &user, &other_first).await;
    let plain = app.create_task(&user, json!({"title": "plain"})).await;

    let response = app
        .send(
            Method::DELETE,
            &format!("{}?scope=bogus", super::helpers::task_path(&user, &second)),
            Some(&user.access),
            None,
        )
        .await;
    assert_validation_error(response, "scope").await;
    let response = app
        .send_json(
            Method::PATCH,
            &format!("{}?scope=bogus", super::helpers::task_path(&user, &second)),
            Some(&user.access),
            &json!({"title": "x"}),
        )
        .await;
    assert_validation_error(response, "scope").await;
    assert_eq!(app.total_tasks(&user).await, 6);

    // From a middle occurrence, completed ones included.
    let response = app
        .send(
            Method::DELETE,
            &format!("{}?scope=series", super::helpers::task_path(&user, &second)),
            Some(&user.access),
            None,
        )
        .await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    for task in [&first, &second, &third] {
        let response = app.get_task(&user, &task["id"]).await;
        assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
    }
    let left = app.fetch_tasks(&user, &[("sort", "created_at")]).await;
    assert_eq!(titles_of(&left), ["b", "b", "plain"]);
    assert_eq!(
        app.fetch_task(&user, &other_first["id"]).await["successor_id"],
        other_second["id"]
    );

    // From the first occurrence; and a task in no series goes alone.
    let response = app
        .send(
            Method::DELETE,
            &format!(
                "{}?scope=series",
                super::helpers::task_path(&user, &other_first)
            ),
            Some(&user.access),
            None,
        )
        .await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(titles_of(&app.fetch_tasks(&user, &[]).await), ["plain"]);
    let response = app
        .send(
            Method::DELETE,
            &format!("{}?scope=series", super::helpers::task_path(&user, &plain)),
            Some(&user.access),
            None,
        )
        .await;
    assert_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(app.total_tasks(&user).await, 0);

    let response = app
        .send(
            Method::DELETE,
            &format!("{}?scope=series", super::helpers::task_path(&user, &plain)),
            Some(&user.access),
            None,
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
}

#[tokio::test]
async fn patch_following_changes_this_and_every_later_occurrence() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let first = recurring(
        &app,
        &user,
        "walk",
        "FREQ=DAILY",
        "2030-05-01T09:00:00Z",
        None,
    )
    .await;
    let second = complete_to_successor(&app, &user, &first).await;
    let third = complete_to_successor(&app, &user, &second).await;
    let first = app.fetch_task(&user, &first["id"]).await;
    let second = app.fetch_task(&user, &second["id"]).await;
    assert_eq!(second["completed"], true);
    assert_eq!(third["completed"], false);

    let path = format!(
        "{}?scope=following",
        super::helpers::task_path(&user, &second)
    );
    let response = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&user.access),
            &json!({"title": "run", "description": "faster", "priority": "high"}),
        )
        .await;
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
    let path = format!(
        "{}?scope=following",
        super::helpers::task_path(&user, &first)
    );
    let response = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&user.access),
            &json!({"title": "stroll", "due_date": "2030-04-30T09:00:00Z"}),
        )
        .await;
    let changed = assert_status(response, StatusCode::OK).await;
    assert_eq!(changed["due_date"], "2030-04-30T09:00:00.000000Z");
    let titles = titles_of(&app.fetch_tasks(&user, &[]).await);
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
    let response = delete(
        &app,
        &user,
        "statuses",
        in_progress,
        Some(&id(&their_open).to_string()),
    )
    .await;
    assert_bad_replacement(response).await;
    let high = id_of(&app, &user, "priorities", "high").await;
    let response = delete(
        &app,
        &user,
        "priorities",
        high,
        Some(&their_priority.to_string()),
    )
    .await;
    assert_bad_replacement(response).await;

    // Their unused status is not mine to delete, even naming one of mine.
    let response = delete(
        &app,
        &user,
        "statuses",
        id(&their_open),
        Some(&in_progress.to_string()),
    )
    .await;
    assert_error(response, StatusCode::NOT_FOUND, "STATUS_NOT_FOUND").await;

    assert_eq!(
        app.fetch_tasks(&user, &[("status", "in_progress")]).await["total"],
        1
    );
    assert_eq!(
        app.fetch_tasks(&user, &[("priority", "high")]).await["total"],
        1
    );
    assert_eq!(named(&app, &other, "statuses", "theirs").await, their_open);
    assert_eq!(
        list(&app, &user, "statuses")
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// A `replace_with` that is not another of the user's of the same kind: 400, on that field.
async fn assert_bad_replacement(response: reqwest::Response) {
    let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_REPLACEMENT").await;
    assert_eq!(error["field"], "replace_with");
}
