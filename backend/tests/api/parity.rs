//! Backend parity: behaviour where PostgreSQL and SQLite differ underneath (locking, Unicode case
//! folding, time storage, NULL ordering, cascades) must look the same through the API.
//!
//! Filters, sorting and wildcards in general are in `listing.rs`; these tests add what an
//! engine's own rules could change: many writers at once, letters outside ASCII, extreme and
//! sub-microsecond times, and due dates equal as instants but written differently.

use std::collections::{BTreeMap, HashSet};

use futures_util::future::join_all;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use super::helpers::{
    PASSWORD, TestApp, assert_error, body, tags_path, task_path, tasks_path, titles,
};

/// Query parameters, as name and value pairs.
type Query<'a> = &'a [(&'a str, &'a str)];

/// Asserts `text` matches `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`.
fn assert_utc_micros(text: &str) {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
    let fits = text.len() == SHAPE.len()
        && text.bytes().zip(SHAPE).all(|(c, &shape)| match shape {
            b'd' => c.is_ascii_digit(),
            _ => c == shape,
        });
    assert!(fits, "{text:?} is not YYYY-MM-DDTHH:MM:SS.ffffffZ");
}

/// Checks every time field anywhere in `value`; returns how many non-null ones it saw.
fn check_times(value: &Value) -> usize {
    const TIME_FIELDS: [&str; 5] = [
        "created_at",
        "updated_at",
        "completed_at",
        "due_date",
        "remind_at",
    ];
    match value {
        Value::Object(fields) => fields
            .iter()
            .map(|(key, field)| match field {
                Value::String(text) if TIME_FIELDS.contains(&key.as_str()) => {
                    assert_utc_micros(text);
                    1
                }
                _ => check_times(field),
            })
            .sum(),
        Value::Array(items) => items.iter().map(check_times).sum(),
        _ => 0,
    }
}

/// Sends every request at once; answers (label, status, JSON body or null) in the same order.
async fn send_all(calls: Vec<(String, RequestBuilder)>) -> Vec<(String, StatusCode, Value)> {
    join_all(calls.into_iter().map(|(label, request)| async move {
        let response = request.send().await.expect("a response");
        let status = response.status();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (label, status, json)
    }))
    .await
}

/// 82 requests at once on one app: task creates for four users, toggles and PATCHes of one task
/// each, tag creates, links, deletes and reads. Every one succeeds (SQLite's single writer must
/// queue, never answer "database is locked"; PostgreSQL's pool must not time out), and the state
/// afterwards is exactly what the writes add up to: no lost update, no missing row.
#[tokio::test]
async fn a_burst_of_concurrent_writes_all_succeed_and_add_up() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let users = join_all((0..4).map(|_| app.signed_in_user())).await;
    let owner = &users[0];
    let toggled = app.create_task(owner, json!({"title": "toggled"})).await;
    let patched = app.create_task(owner, json!({"title": "patch me"})).await;
    let linked = app.create_task(owner, json!({"title": "linked"})).await;
    let mut link_tags = Vec::new();
    for i in 0..8 {
        link_tags.push(
            app.create_tag(owner, json!({"name": format!("link {i}")}))
                .await,
        );
    }
    let mut doomed = Vec::new();
    for i in 0..4 {
        doomed.push(
            app.create_task(owner, json!({"title": format!("doomed {i}")}))
                .await,
        );
    }

    let client = &app.client;
    let mut calls: Vec<(String, RequestBuilder)> = Vec::new();
    for (u, user) in users.iter().enumerate() {
        for j in 0..10 {
            let title = format!("user {u} task {j}");
            let request = client
                .post(app.url(&tasks_path(user)))
                .json(&json!({"title": title}));
            calls.push((format!("create {title}"), request.bearer_auth(&user.access)));
        }
        for j in 0..2 {
            let name = format!("new {u}.{j}");
            let request = client
                .post(app.url(&tags_path(user)))
                .json(&json!({"name": name}));
            calls.push((format!("tag {name}"), request.bearer_auth(&user.access)));
        }
        for _ in 0..2 {
            let request = client.get(app.url(&tasks_path(user)));
            calls.push(("list".to_owned(), request.bearer_auth(&user.access)));
        }
    }
    for i in 0..9 {
        let request = client.patch(app.url(&format!("{}/complete", task_path(owner, &toggled))));
        calls.push((format!("toggle {i}"), request.bearer_auth(&owner.access)));
    }
    let patches = [
        json!({"title": "patched"}),
        json!({"description": "described"}),
        json!({"priority": "high"}),
        json!({"due_date": "2030-01-01T00:00:00Z"}),
        json!({"remind_at": "2029-12-31T00:00:00Z"}),
    ];
    for patch in patches {
        let request = client
            .patch(app.url(&task_path(owner, &patched)))
            .json(&patch);
        calls.push((format!("patch {patch}"), request.bearer_auth(&owner.access)));
    }
    for tag in &link_tags {
        let path = format!("{}/tags/{}", task_path(owner, &linked), tag["id"]);
        let request = client.post(app.url(&path));
        let label = format!("link {}", tag["name"].as_str().unwrap());
        calls.push((label, request.bearer_auth(&owner.access)));
    }
    for task in &doomed {
        let request = client.delete(app.url(&task_path(owner, task)));
        calls.push((
            format!("delete {}", task["title"]),
            request.bearer_auth(&owner.access),
        ));
    }
    assert_eq!(calls.len(), 82);

    let results = send_all(calls).await;

    let expected_status = |label: &str| match label.split(' ').next().unwrap() {
        "create" | "tag" | "link" => StatusCode::CREATED,
        "delete" => StatusCode::NO_CONTENT,
        _ => StatusCode::OK,
    };
    let failures: Vec<_> = results
        .iter()
        .filter(|(label, status, _)| *status != expected_status(label))
        .collect();
    assert!(
        failures.is_empty(),
        "failed under concurrency: {failures:#?}"
    );

    // Each user lists exactly the tasks created for them (the owner also the three set up
    // before, less the deleted ones).
    let mut created: BTreeMap<String, HashSet<i64>> = BTreeMap::new();
    for (label, _, task) in &results {
        if let Some(title) = label.strip_prefix("create ") {
            assert_eq!(task["title"], title, "{task}");
            let user_id = task["user_id"].as_str().unwrap().to_owned();
            created
                .entry(user_id)
                .or_default()
                .insert(task["id"].as_i64().unwrap());
        }
    }
    created
        .get_mut(&owner.id)
        .unwrap()
        .extend([&toggled, &patched, &linked].map(|task| task["id"].as_i64().unwrap()));
    for user in &users {
        let page = app.fetch_tasks(user, &[("limit", "100")]).await;
        let listed: HashSet<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|task| task["id"].as_i64().unwrap())
            .collect();
        assert_eq!(page["total"], listed.len(), "{}", user.email);
        assert_eq!(&listed, &created[&user.id], "tasks of {}", user.email);
    }

    // Nine toggles run one after another: each saw the previous one's result.
    let mut seen: Vec<bool> = results
        .iter()
        .filter(|(label, ..)| label.starts_with("toggle"))
        .map(|(_, _, task)| task["completed"].as_bool().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [false, false, false, false, true, true, true, true, true]
    );
    let after_toggles = app.fetch_task(owner, &toggled["id"]).await;
    assert_eq!(
        after_toggles["completed"], true,
        "9 toggles is odd: {after_toggles}"
    );
    assert!(after_toggles["completed_at"].is_string(), "{after_toggles}");

    // Five PATCHes of different fields: each one kept.
    let after_patches = app.fetch_task(owner, &patched["id"]).await;
    assert_eq!(
        [
            &after_patches["title"],
            &after_patches["description"],
            &after_patches["priority"],
            &after_patches["due_date"],
            &after_patches["remind_at"],
        ],
        [
            "patched",
            "described",
            "high",
            "2030-01-01T00:00:00.000000Z",
            "2029-12-31T00:00:00.000000Z",
        ]
    );

    // Eight links of different tags: each answer shows its own tag, and all are kept, in name
    // order.
    for (label, _, task) in results
        .iter()
        .filter(|(label, ..)| label.starts_with("link"))
    {
        let name = label.strip_prefix("link ").unwrap();
        let shown = task["tags"].as_array().unwrap();
        assert!(
            shown.iter().any(|tag| tag["name"] == name),
            "{label}: {task}"
        );
    }
    let summaries: Vec<Value> = link_tags
        .iter()
        .map(|tag| json!({"id": tag["id"], "name": tag["name"], "color": null}))
        .collect();
    assert_eq!(
        app.fetch_task(owner, &linked["id"]).await["tags"],
        json!(summaries)
    );

    for task in &doomed {
        let response = app.get(&task_path(owner, task), Some(&owner.access)).await;
        assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
    }

    for (u, user) in users.iter().enumerate() {
        let response = app.get(&tags_path(user), Some(&user.access)).await;
        let tags = body(response).await;
        let names: Vec<&str> = tags
            .as_array()
            .unwrap()
            .iter()
            .map(|tag| tag["name"].as_str().unwrap())
            .collect();
        let mut expected: Vec<String> = (0..2).map(|j| format!("new {u}.{j}")).collect();
        if u == 0 {
            expected.extend((0..8).map(|i| format!("link {i}")));
            expected.sort();
        }
        assert_eq!(names, expected, "tags of user {u}");
    }
    assert_eq!(app.count_rows("task_tags").await, 8);
}

/// Sixteen sign-ups at once, each with its own email: all succeed, and each account then signs
/// in as itself.
#[tokio::test]
async fn many_concurrent_sign_ups_all_succeed() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let emails: Vec<String> = (0..16)
        .map(|i| format!("signup-{i}-{}@example.com", uuid::Uuid::new_v4().simple()))
        .collect();

    let responses = join_all(emails.iter().map(|email| app.register(email, PASSWORD))).await;

    let mut ids = HashSet::new();
    for (email, response) in emails.iter().zip(responses) {
        assert_eq!(response.status(), StatusCode::CREATED, "{email}");
        let user = body(response).await;
        assert_eq!(user["email"], email.as_str());
        ids.insert(user["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 16);
    assert_eq!(app.count_rows("users").await, 16);

    let logins = join_all(emails.iter().map(|email| app.login(email, PASSWORD))).await;
    for (email, response) in emails.iter().zip(logins) {
        assert_eq!(response.status(), StatusCode::OK, "{email}");
        let token = body(response).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let me = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_eq!(body(me).await["email"], email.as_str());
    }
}

/// Case-insensitive rules fold letters outside ASCII the same way on both backends (SQLite's own
/// `lower()` folds only ASCII): tag names, the tag filter, search, title and tag order (by the
/// lower-cased text in code-point order, ties by id) and email addresses.
#[tokio::test]
async fn case_rules_fold_non_ascii_letters_on_both_backends() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let ecole = app.create_tag(&user, json!({"name": "école"})).await;
    for name in ["École", " ÉCOLE "] {
        let response = app
            .post_json(
                &tags_path(&user),
                Some(&user.access),
                &json!({"name": name}),
            )
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "TAG_ALREADY_EXISTS").await;
        assert_eq!(error["field"], "name", "{name}");
    }

    app.create_task(
        &user,
        json!({"title": "homework", "tag_ids": [ecole["id"]]}),
    )
    .await;
    app.create_task(&user, json!({"title": "écrire le rapport"}))
        .await;
    app.create_task(&user, json!({"title": "ecrire sans accent"}))
        .await;
    app.create_task(
        &user,
        json!({"title": "draft", "description": "Relire l'ÉBAUCHE"}),
    )
    .await;
    for tag in ["ÉCOLE", "École", "école"] {
        let page = app.fetch_tasks(&user, &[("tag", tag)]).await;
        assert_eq!(titles(&page), ["homework"], "tag={tag}");
    }
    for (q, expected) in [
        ("ÉCRIRE", "écrire le rapport"),
        ("Écrire LE", "écrire le rapport"),
        ("ébauche", "draft"),
    ] {
        let page = app.fetch_tasks(&user, &[("q", q)]).await;
        assert_eq!(titles(&page), [expected], "q={q}");
    }

    // Titles and tag names sort by their lower-cased text in code-point order:
    // '_' (U+5F) < 'a' < 'b' < 'z' < 'é' (U+E9); "É" and "é" tie and go by id.
    let sorter = app.signed_in_user().await;
    for title in ["b", "É", "A", "é", "Z", "_x"] {
        app.create_task(&sorter, json!({"title": title})).await;
    }
    let ascending = ["_x", "A", "b", "Z", "É", "é"];
    let page = app.fetch_tasks(&sorter, &[("sort", "title")]).await;
    assert_eq!(titles(&page), ascending);
    let page = app.fetch_tasks(&sorter, &[("sort", "-title")]).await;
    let descending: Vec<&str> = ascending.iter().rev().copied().collect();
    assert_eq!(titles(&page), descending);

    for name in ["Zèbre", "éclair", "Abc", "Éa", "_z"] {
        app.create_tag(&sorter, json!({"name": name})).await;
    }
    let tags = body(app.get(&tags_path(&sorter), Some(&sorter.access)).await).await;
    let names: Vec<&str> = tags
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["_z", "Abc", "Zèbre", "Éa", "éclair"]);

    let response = app.register("Ünïcode@Example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(body(response).await["email"], "ünïcode@example.com");
    for spelling in ["ünïcode@example.com", "  ÜNÏCODE@EXAMPLE.COM "] {
        let response = app.login(spelling, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "{spelling}");
        let token = body(response).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let me = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_eq!(body(me).await["email"], "ünïcode@example.com");
    }
    let response = app.register("üNÏcode@example.COM", PASSWORD).await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "EMAIL_ALREADY_EXISTS").await;
    assert_eq!(error["field"], "email");
}

/// Every time the API answers is UTC with exactly six fraction digits and `Z`, whatever offset
/// and precision it was sent with; digits past the microsecond are dropped; years 0001 and 9999
/// come back as sent.
#[tokio::test]
async fn times_are_utc_with_six_fraction_digits_and_extreme_years_round_trip() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app
        .create_tag(&user, json!({"name": "t", "color": "#000000"}))
        .await;
    let task = app
        .create_task(
            &user,
            json!({
                "title": "precise",
                "due_date": "2030-06-01T12:00:00.1234567+02:00",
                "remind_at": "2030-06-01T09:00:00-01:00",
                "completed": true,
                "tag_ids": [tag["id"]],
            }),
        )
        .await;
    assert_eq!(task["due_date"], "2030-06-01T10:00:00.123456Z");
    assert_eq!(task["remind_at"], "2030-06-01T10:00:00.000000Z");

    let path = task_path(&user, &task);
    let mut answers = vec![tag, task.clone(), app.fetch_task(&user, &task["id"]).await];
    answers.push(app.fetch_tasks(&user, &[]).await);
    let response = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&user.access),
            &json!({"title": "p"}),
        )
        .await;
    answers.push(body(response).await);
    for _ in 0..2 {
        let response = app
            .client
            .patch(app.url(&format!("{path}/complete")))
            .bearer_auth(&user.access)
            .send()
            .await
            .unwrap();
        answers.push(body(response).await);
    }
    answers.push(body(app.get(&tags_path(&user), Some(&user.access)).await).await);
    answers.push(body(app.get("/api/v1/auth/me", Some(&user.access)).await).await);
    let seen: usize = answers.iter().map(check_times).sum();
    // The tag; five times on each of six task answers, less the reopened one's completed_at;
    // the tag list; the user.
    assert_eq!(seen, 1 + 5 * 6 - 1 + 1 + 1);

    let cases = [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
        ("0001-01-01T00:30:00+00:30", "0001-01-01T00:00:00.000000Z"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
        (
            "9999-12-31T23:59:59.9999999Z",
            "9999-12-31T23:59:59.999999Z",
        ),
        ("9999-12-31T22:59:59.5-01:00", "9999-12-31T23:59:59.500000Z"),
    ];
    for (sent, stored) in cases {
        let created = app
            .create_task(&user, json!({"title": "far", "due_date": sent}))
            .await;
        assert_eq!(created["due_date"], stored, "created with {sent}");
        assert_eq!(
            app.fetch_task(&user, &created["id"]).await["due_date"],
            stored
        );
        let response = app
            .send_json(
                Method::PATCH,
                &path,
                Some(&user.access),
                &json!({"due_date": sent}),
            )
            .await;
        assert_eq!(
            body(response).await["due_date"],
            stored,
            "patched to {sent}"
        );
    }
}

/// Digits past the microsecond are dropped before either database sees the time, towards the
/// past whatever the year (left to the drivers, PostgreSQL's would cut towards 2000-01-01 and
/// move times before 2000 up), and a leap second becomes the next second.
#[tokio::test]
async fn sub_microsecond_digits_are_dropped_towards_the_past_on_both_backends() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let cases = [
        (
            "2000-01-01T00:00:00.0000001Z",
            "2000-01-01T00:00:00.000000Z",
        ),
        (
            "1999-12-31T23:59:59.9999999Z",
            "1999-12-31T23:59:59.999999Z",
        ),
        (
            "1970-01-01T00:00:00.0000005Z",
            "1970-01-01T00:00:00.000000Z",
        ),
        (
            "0001-01-01T00:00:00.0000009Z",
            "0001-01-01T00:00:00.000000Z",
        ),
        ("2030-01-01T12:00:60Z", "2030-01-01T12:01:00.000000Z"),
    ];
    let mut answered = Vec::new();
    for (sent, _) in cases {
        let task = app
            .create_task(&user, json!({"title": sent, "due_date": sent}))
            .await;
        answered.push((sent, task["due_date"].as_str().unwrap().to_owned()));
    }
    let expected: Vec<(&str, String)> = cases
        .iter()
        .map(|(sent, stored)| (*sent, (*stored).to_owned()))
        .collect();
    assert_eq!(answered, expected);
}

/// Due dates sort by instant, not by how they were written: offsets are normalised, years 0001
/// and 9999 sort as years, tasks without a due date come last ascending and first descending,
/// and equal instants (written in different offsets) break ties by id in the sort's direction.
#[tokio::test]
async fn due_dates_sort_by_instant_with_undated_tasks_at_the_end() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tasks = [
        ("last", Some("9999-12-31T23:59:59.999999Z")),
        ("undated 1", None),
        ("first", Some("0001-01-01T00:00:00Z")),
        ("noon Z", Some("2030-01-01T12:00:00Z")),
        ("noon +01", Some("2030-01-01T13:00:00+01:00")),
        ("undated 2", None),
        ("noon -05", Some("2030-01-01T07:00:00-05:00")),
        ("after noon", Some("2030-01-01T12:00:00.000001Z")),
        ("01:00 written as 2029", Some("2029-12-31T23:00:00-02:00")),
        ("00:30", Some("2030-01-01T00:30:00Z")),
    ];
    for (title, due) in tasks {
        app.create_task(&user, json!({"title": title, "due_date": due}))
            .await;
    }

    let ascending = [
        "first",
        "00:30",
        "01:00 written as 2029",
        "noon Z",
        "noon +01",
        "noon -05",
        "after noon",
        "last",
        "undated 1",
        "undated 2",
    ];
    let page = app.fetch_tasks(&user, &[("sort", "due_date")]).await;
    assert_eq!(titles(&page), ascending);
    let descending: Vec<&str> = ascending.iter().rev().copied().collect();
    let page = app.fetch_tasks(&user, &[("sort", "-due_date")]).await;
    assert_eq!(titles(&page), descending);

    let ranges: [(Query, &[&str]); 3] = [
        (&[("due_before", "0001-01-01T00:00:00Z")], &["first"]),
        (&[("due_after", "9999-12-31T23:59:59.999999Z")], &["last"]),
        (
            &[
                ("due_after", "2030-01-01T11:00:00-01:00"),
                ("due_before", "2030-01-01T12:00:00Z"),
            ],
            &["noon Z", "noon +01", "noon -05"],
        ),
    ];
    for (query, expected) in ranges {
        let mut query = query.to_vec();
        query.push(("sort", "due_date"));
        let page = app.fetch_tasks(&user, &query).await;
        assert_eq!(titles(&page), expected, "{query:?}");
    }
}

/// Deleting an account removes its tasks, tags, links and sessions and nothing of anyone else's.
#[tokio::test]
async fn deleting_a_user_cascades_to_their_rows_only() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let mut users = Vec::new();
    for name in ["gone", "kept"] {
        let user = app.signed_in_user().await;
        let tag = app.create_tag(&user, json!({"name": name})).await;
        let task = app
            .create_task(&user, json!({"title": name, "tag_ids": [tag["id"]]}))
            .await;
        let (_, second_refresh) = app.sign_in(&user.email, PASSWORD).await;
        users.push((user, task, second_refresh));
    }
    let tables = ["tasks", "tags", "task_tags", "refresh_sessions"];
    for (user, ..) in &users {
        for (table, rows) in tables.iter().zip([1, 1, 1, 2]) {
            let count = app.count_rows_with(table, "user_id", &user.id).await;
            assert_eq!(count, rows, "{table} of {} before", user.email);
        }
    }
    let (gone, kept) = (&users[0].0, &users[1]);

    let response = app
        .send_json(
            Method::DELETE,
            &format!("/api/v1/users/{}", gone.id),
            Some(&gone.access),
            &json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    for table in tables {
        let count = app.count_rows_with(table, "user_id", &gone.id).await;
        assert_eq!(count, 0, "{table} rows of the deleted user");
    }
    assert_eq!(app.count_rows_with("users", "id", &gone.id).await, 0);
    for (table, rows) in tables.iter().zip([1, 1, 1, 2]) {
        let count = app.count_rows_with(table, "user_id", &kept.0.id).await;
        assert_eq!(count, rows, "{table} rows of the other user");
    }
    assert_eq!(app.fetch_task(&kept.0, &kept.1["id"]).await, kept.1);
    let response = app.refresh(Some(&kept.2)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["token_type"], "bearer");
}

/// Case folding is one character at a time on both backends, as PostgreSQL's `lower()` does:
/// a final capital sigma folds to `σ` (not `ς`) and a dotted capital I to a plain `i`, in tag
/// uniqueness, the tag filter and search alike.
#[tokio::test]
async fn case_folding_is_per_character_for_sigma_and_dotted_i() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    for (first, second) in [("ΟΔΟΣ", "οδοσ"), ("İzmir", "izmir")] {
        app.create_tag(&user, json!({"name": first})).await;
        let response = app
            .post_json(
                &tags_path(&user),
                Some(&user.access),
                &json!({"name": second}),
            )
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "TAG_ALREADY_EXISTS").await;
    }
    app.create_task(&user, json!({"title": "ΟΔΟΣ"})).await;
    app.create_task(&user, json!({"title": "İstanbul trip"}))
        .await;
    app.create_task(&user, json!({"title": "unrelated"})).await;

    let found = app.fetch_tasks(&user, &[("q", "οδοσ")]).await;
    assert_eq!(titles(&found), ["ΟΔΟΣ"]);
    let found = app.fetch_tasks(&user, &[("q", "istanbul")]).await;
    assert_eq!(titles(&found), ["İstanbul trip"]);
    let found = app.fetch_tasks(&user, &[("q", "İSTANBUL")]).await;
    assert_eq!(titles(&found), ["İstanbul trip"]);
}
