//! Isolation (SPEC 2, 4): a user reaches only their own tasks and tags, through every route.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::helpers::{PASSWORD, TestApp, TestUser, assert_error, body};

/// Every task and tag route: name, method, path under `/api/v1/users/{uid}` and JSON body,
/// with `{task}` and `{tag}` standing for ids.
const ROUTES: [(&str, Method, &str, Option<&str>); 15] = [
    (
        "create task",
        Method::POST,
        "/tasks",
        Some(r#"{"title": "hijack"}"#),
    ),
    ("list tasks", Method::GET, "/tasks", None),
    ("get task", Method::GET, "/tasks/{task}", None),
    (
        "replace task",
        Method::PUT,
        "/tasks/{task}",
        Some(r#"{"title": "hijack", "priority": "low", "completed": true}"#),
    ),
    (
        "update task",
        Method::PATCH,
        "/tasks/{task}",
        Some(r#"{"title": "hijack"}"#),
    ),
    ("toggle task", Method::PATCH, "/tasks/{task}/complete", None),
    ("delete task", Method::DELETE, "/tasks/{task}", None),
    ("link tag", Method::POST, "/tasks/{task}/tags/{tag}", None),
    (
        "unlink tag",
        Method::DELETE,
        "/tasks/{task}/tags/{tag}",
        None,
    ),
    (
        "create tag",
        Method::POST,
        "/tags",
        Some(r#"{"name": "hijack"}"#),
    ),
    ("list tags", Method::GET, "/tags", None),
    ("get tag", Method::GET, "/tags/{tag}", None),
    (
        "replace tag",
        Method::PUT,
        "/tags/{tag}",
        Some(r#"{"name": "hijack"}"#),
    ),
    (
        "update tag",
        Method::PATCH,
        "/tags/{tag}",
        Some(r##"{"color": "#000000"}"##),
    ),
    ("delete tag", Method::DELETE, "/tags/{tag}", None),
];

/// Requests that name someone else's task or tag from the caller's own path, and the 404 they
/// get. `{task}`/`{tag}` are the foreign ids; `{my_task}`/`{my_tag}` the caller's own.
const FOREIGN_ID_CASES: [(&str, Method, &str, Option<&str>, &str); 18] = [
    (
        "create task with tag",
        Method::POST,
        "/tasks",
        Some(r#"{"title": "t", "tag_ids": [{tag}]}"#),
        "TAG_NOT_FOUND",
    ),
    (
        "get task",
        Method::GET,
        "/tasks/{task}",
        None,
        "TASK_NOT_FOUND",
    ),
    (
        "replace task",
        Method::PUT,
        "/tasks/{task}",
        Some(r#"{"title": "hijack", "priority": "low", "completed": true}"#),
        "TASK_NOT_FOUND",
    ),
    (
        "replace own task with tag",
        Method::PUT,
        "/tasks/{my_task}",
        Some(r#"{"title": "t", "priority": "low", "completed": false, "tag_ids": [{tag}]}"#),
        "TAG_NOT_FOUND",
    ),
    (
        "update task",
        Method::PATCH,
        "/tasks/{task}",
        Some(r#"{"title": "hijack"}"#),
        "TASK_NOT_FOUND",
    ),
    (
        "update own task with tag",
        Method::PATCH,
        "/tasks/{my_task}",
        Some(r#"{"tag_ids": [{tag}]}"#),
        "TAG_NOT_FOUND",
    ),
    (
        "toggle task",
        Method::PATCH,
        "/tasks/{task}/complete",
        None,
        "TASK_NOT_FOUND",
    ),
    (
        "delete task",
        Method::DELETE,
        "/tasks/{task}",
        None,
        "TASK_NOT_FOUND",
    ),
    (
        "link tag to own task",
        Method::POST,
        "/tasks/{my_task}/tags/{tag}",
        None,
        "TAG_NOT_FOUND",
    ),
    (
        "link own tag to task",
        Method::POST,
        "/tasks/{task}/tags/{my_tag}",
        None,
        "TASK_NOT_FOUND",
    ),
    (
        "link tag to task",
        Method::POST,
        "/tasks/{task}/tags/{tag}",
        None,
        "TASK_NOT_FOUND",
    ),
    (
        "unlink tag from own task",
        Method::DELETE,
        "/tasks/{my_task}/tags/{tag}",
        None,
        "TAG_NOT_FOUND",
    ),
    (
        "unlink own tag from task",
        Method::DELETE,
        "/tasks/{task}/tags/{my_tag}",
        None,
        "TASK_NOT_FOUND",
    ),
    (
        "unlink tag from task",
        Method::DELETE,
        "/tasks/{task}/tags/{tag}",
        None,
        "TASK_NOT_FOUND",
    ),
    ("get tag", Method::GET, "/tags/{tag}", None, "TAG_NOT_FOUND"),
    (
        "replace tag",
        Method::PUT,
        "/tags/{tag}",
        Some(r#"{"name": "hijack"}"#),
        "TAG_NOT_FOUND",
    ),
    (
        "update tag",
        Method::PATCH,
        "/tags/{tag}",
        Some(r##"{"color": "#000000"}"##),
        "TAG_NOT_FOUND",
    ),
    (
        "delete tag",
        Method::DELETE,
        "/tags/{tag}",
        None,
        "TAG_NOT_FOUND",
    ),
];

/// A user with one task carrying one tag.
struct Owner {
    user: TestUser,
    task: Value,
    tag: Value,
}

async fn owner(app: &TestApp, tag_name: &str) -> Owner {
    let user = app.signed_in_user().await;
    let tag = app
        .create_tag(&user, json!({"name": tag_name, "color": "#123ABC"}))
        .await;
    let task = app
        .create_task(
            &user,
            json!({"title": format!("{tag_name} task"), "description": "private", "tag_ids": [tag["id"]]}),
        )
        .await;
    Owner { user, task, tag }
}

/// Fills in a template: `{uid}`, `{task}`, `{tag}`, `{my_task}`, `{my_tag}`.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (key, value)| {
            text.replace(&format!("{{{key}}}"), value)
        })
}

/// A route from [`ROUTES`] on `uid`'s path with the given ids.
async fn call_route(
    app: &TestApp,
    route: &(&str, Method, &str, Option<&str>),
    uid: &str,
    ids: (&Value, &Value),
    token: Option<&str>,
) -> Response {
    let (_, method, path, template) = route;
    let values = [
        ("task", ids.0["id"].to_string()),
        ("tag", ids.1["id"].to_string()),
    ];
    let path = format!("/api/v1/users/{uid}{}", fill(path, &values));
    let json_body = template.map(|t| serde_json::from_str(&fill(t, &values)).unwrap());
    app.send(method.clone(), &path, token, json_body.as_ref())
        .await
}

/// B's task, tag and lists as B sees them.
async fn snapshot(app: &TestApp, owner: &Owner) -> Value {
    let user = &owner.user;
    let task = app.get_task(user, &owner.task["id"]).await;
    assert_eq!(task.status(), StatusCode::OK);
    let tag = app.get_tag(user, &owner.tag["id"]).await;
    assert_eq!(tag.status(), StatusCode::OK);
    let tasks = app.list_tasks(user, &[]).await;
    let tags = app.list_tags(user).await;
    json!({
        "task": body(task).await,
        "tag": body(tag).await,
        "tasks": body(tasks).await,
        "tags": body(tags).await,
    })
}

fn without_request_id(mut error: Value) -> Value {
    error.as_object_mut().unwrap().remove("request_id");
    error
}

#[tokio::test]
async fn another_users_task_or_tag_is_indistinguishable_from_a_missing_one() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let a = owner(&app, "alpha").await;
    let b = owner(&app, "beta").await;
    let before = snapshot(&app, &b).await;
    let missing = json!({"id": 999_999});

    for (name, method, path, template, code) in FOREIGN_ID_CASES {
        let mut errors = Vec::new();
        for (task, tag) in [(&b.task, &b.tag), (&missing, &missing)] {
            let values = [
                ("task", task["id"].to_string()),
                ("tag", tag["id"].to_string()),
                ("my_task", a.task["id"].to_string()),
                ("my_tag", a.tag["id"].to_string()),
            ];
            let path = format!("/api/v1/users/{}{}", a.user.id, fill(path, &values));
            let json_body = template.map(|t| serde_json::from_str(&fill(t, &values)).unwrap());
            let response = app
                .send(
                    method.clone(),
                    &path,
                    Some(&a.user.access),
                    json_body.as_ref(),
                )
                .await;
            let error = assert_error(response, StatusCode::NOT_FOUND, code).await;
            errors.push(without_request_id(error));
        }
        assert_eq!(
            errors[0], errors[1],
            "{name}: foreign and missing ids answer alike"
        );
    }

    // Lists show only the caller's own items; B's tag, by id or name, matches nothing.
    let page = app.list_tasks(&a.user, &[]).await;
    let page = body(page).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"], json!([fetch_own(&app, &a).await]));
    let b_tag_id = b.tag["id"].to_string();
    for tag in [b_tag_id.as_str(), "beta"] {
        let page = app.list_tasks(&a.user, &[("tag", tag)]).await;
        let page = body(page).await;
        assert_eq!(
            (&page["total"], &page["items"]),
            (&json!(0), &json!([])),
            "tag={tag}"
        );
    }
    let page = app.list_tasks(&a.user, &[("q", "beta")]).await;
    assert_eq!(body(page).await["total"], 0);
    let tags = body(app.list_tags(&a.user).await).await;
    assert_eq!(tags, json!([a.tag]));

    // Tag names are per user: A may use B's tag name, and it still finds none of B's tasks.
    app.create_tag(&a.user, json!({"name": "beta"})).await;
    let page = app.list_tasks(&a.user, &[("tag", "beta")]).await;
    assert_eq!(body(page).await["total"], 0);

    assert_eq!(snapshot(&app, &b).await, before);
    assert_eq!(before["task"]["tags"][0]["id"], b.tag["id"]);
}

#[tokio::test]
async fn every_route_on_another_users_path_is_403_and_changes_nothing() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let a = owner(&app, "alpha").await;
    let b = owner(&app, "beta").await;
    let before = snapshot(&app, &b).await;

    for route in &ROUTES {
        let response = call_route(
            &app,
            route,
            &b.user.id,
            (&b.task, &b.tag),
            Some(&a.user.access),
        )
        .await;
        let error = assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        assert!(error.get("field").is_none(), "{}: {error}", route.0);

        // A's own ids on B's path are refused the same way.
        let response = call_route(
            &app,
            route,
            &b.user.id,
            (&a.task, &a.tag),
            Some(&a.user.access),
        )
        .await;
        assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }

    let after = snapshot(&app, &b).await;
    assert_eq!(after, before);
    assert_eq!(
        after["task"]["tags"],
        json!([{"id": b.tag["id"], "name": "beta", "color": "#123ABC"}])
    );
    assert_eq!(after["tasks"]["total"], 1);
}

/// The session check is part of each route's own unit of work (folded into its first statement
/// where it can be): a token whose session has been signed out is refused on every route that
/// needs a live session, whatever the route reads or writes, and nothing changes.
#[tokio::test]
async fn every_route_refuses_a_signed_out_session_and_changes_nothing() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let b = owner(&app, "beta").await;
    let before = snapshot(&app, &b).await;
    let (stale, refresh) = app.sign_in(&b.user.email, PASSWORD).await;
    assert_eq!(app.logout(Some(&refresh)).await.status(), StatusCode::OK);

    for route in &ROUTES {
        let response = call_route(&app, route, &b.user.id, (&b.task, &b.tag), Some(&stale)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{}", route.0);
        assert_error(response, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
    }
    let me = format!("/api/v1/users/{}", b.user.id);
    let others = [
        (Method::GET, me.clone(), None),
        (Method::PATCH, me.clone(), Some(json!({"name": "hijack"}))),
        (
            Method::DELETE,
            me.clone(),
            Some(json!({"password": PASSWORD})),
        ),
        (
            Method::POST,
            format!("{me}/password"),
            Some(json!({"current_password": PASSWORD, "new_password": "hijacked-password"})),
        ),
        (Method::GET, format!("{me}/reminders"), None),
        (Method::GET, format!("{me}/events"), None),
        (Method::GET, "/api/v1/auth/me".to_owned(), None),
    ];
    for (method, path, json_body) in others {
        let response = app
            .send(method.clone(), &path, Some(&stale), json_body.as_ref())
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_error(response, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
    }

    let after = snapshot(&app, &b).await;
    assert_eq!(after, before);
    assert_ne!(app.fetch_user(&b.user).await["name"], "hijack");
    // The password is unchanged and the account still there.
    app.sign_in(&b.user.email, PASSWORD).await;
}

#[tokio::test]
async fn every_route_refuses_a_malformed_user_id_and_a_missing_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let a = owner(&app, "alpha").await;
    let before = snapshot(&app, &a).await;

    for route in &ROUTES {
        let response = call_route(
            &app,
            route,
            "not-a-uuid",
            (&a.task, &a.tag),
            Some(&a.user.access),
        )
        .await;
        let error = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["field"], "user_id", "{}", route.0);

        let response = call_route(&app, route, &a.user.id, (&a.task, &a.tag), None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "MISSING_TOKEN").await;
    }

    assert_eq!(snapshot(&app, &a).await, before);
}

#[tokio::test]
async fn deleting_a_user_removes_their_tasks_and_tags_only() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let a = owner(&app, "alpha").await;
    let b = owner(&app, "beta").await;
    app.create_task(
        &a.user,
        json!({"title": "another", "tag_ids": [a.tag["id"]]}),
    )
    .await;

    let response = app.delete_user(&a.user, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    for (user, expected) in [(&a.user, 0), (&b.user, 1)] {
        for table in ["tasks", "tags", "task_tags"] {
            let count = app.count_rows_with(table, "user_id", &user.id).await;
            assert_eq!(count, expected, "{table} rows of {}", user.email);
        }
    }
}

/// A's own task as A fetches it.
async fn fetch_own(app: &TestApp, owner: &Owner) -> Value {
    body(app.get_task(&owner.user, &owner.task["id"]).await).await
}
