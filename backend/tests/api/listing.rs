//! Listing tasks (SPEC 5): paging, filters combined with AND, sorting and stable ties.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::{TestApp, TestUser, assert_error, titles};

/// Query parameters, as name and value pairs.
type Query<'a> = &'a [(&'a str, &'a str)];

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|task| task["id"].as_i64().unwrap())
        .collect()
}

/// The titles of the page for `query`, sorted, for filters whose order is not the point.
async fn matching(app: &TestApp, user: &TestUser, query: &[(&str, &str)]) -> Vec<String> {
    let page = app.fetch_tasks(user, query).await;
    let mut found = titles(&page);
    assert_eq!(page["total"], found.len(), "total for {query:?}");
    found.sort();
    found
}

fn sorted(titles: &[&str]) -> Vec<String> {
    let mut titles: Vec<String> = titles.iter().map(|t| (*t).to_owned()).collect();
    titles.sort();
    titles
}

/// Every id the list serves for `sort`, one page of `limit` at a time, in order.
async fn page_through(app: &TestApp, user: &TestUser, sort: &str, limit: usize) -> Vec<i64> {
    let limit_text = limit.to_string();
    let first = app
        .fetch_tasks(user, &[("sort", sort), ("limit", &limit_text)])
        .await;
    let pages = first["pages"].as_i64().unwrap();
    let mut seen = Vec::new();
    for page in 1..=pages {
        let page_text = page.to_string();
        let current = app
            .fetch_tasks(
                user,
                &[("sort", sort), ("limit", &limit_text), ("page", &page_text)],
            )
            .await;
        assert_eq!(current["page"], page);
        assert_eq!(current["total"], first["total"]);
        let items = ids(&current);
        assert!(
            !items.is_empty() && items.len() <= limit,
            "page {page} of {sort}"
        );
        seen.extend(items);
    }
    seen
}

/// Four tasks for the filter tests: tags `Work` and `home`, and a mix of priority and status.
async fn seed_filter_tasks(app: &TestApp, user: &TestUser) -> (Value, Value) {
    let work = app.create_tag(user, json!({"name": "Work"})).await;
    let home = app.create_tag(user, json!({"name": "home"})).await;
    let tasks = [
        json!({"title": "work high pending", "priority": "high", "tag_ids": [work["id"]]}),
        json!({"title": "work high done", "priority": "high", "completed": true, "tag_ids": [work["id"]]}),
        json!({"title": "work low pending", "priority": "low", "tag_ids": [work["id"]]}),
        json!({"title": "home high pending", "priority": "high", "tag_ids": [home["id"]]}),
        json!({"title": "untagged medium pending"}),
    ];
    for task in tasks {
        app.create_task(user, task).await;
    }
    (work, home)
}

#[tokio::test]
async fn an_empty_list_has_total_0_and_pages_0() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    assert_eq!(
        app.fetch_tasks(&user, &[]).await,
        json!({"items": [], "total": 0, "page": 1, "limit": 20, "pages": 0})
    );
    assert_eq!(
        app.fetch_tasks(&user, &[("page", "3"), ("limit", "5")])
            .await,
        json!({"items": [], "total": 0, "page": 3, "limit": 5, "pages": 0})
    );
}

#[tokio::test]
async fn the_default_order_is_newest_first() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    for title in ["first", "second", "third"] {
        app.create_task(&user, json!({"title": title})).await;
    }

    let page = app.fetch_tasks(&user, &[]).await;

    assert_eq!(titles(&page), ["third", "second", "first"]);
    assert_eq!((&page["total"], &page["page"]), (&json!(3), &json!(1)));
    assert_eq!((&page["limit"], &page["pages"]), (&json!(20), &json!(1)));
    assert_eq!(page["items"][0]["tags"], json!([]));
}

#[tokio::test]
async fn paging_serves_every_task_once_and_counts_pages() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let mut all = HashSet::new();
    for i in 0..5 {
        let task = app
            .create_task(&user, json!({"title": format!("task {i}")}))
            .await;
        all.insert(task["id"].as_i64().unwrap());
    }

    let seen = page_through(&app, &user, "-created_at", 1).await;
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), all);

    // pages = ceil(total / limit)
    for (limit, pages, last_page_items) in [("1", 5, 1), ("2", 3, 1), ("5", 1, 5), ("20", 1, 5)] {
        let page = app.fetch_tasks(&user, &[("limit", limit)]).await;
        assert_eq!(page["pages"], pages, "limit {limit}");
        let last = app
            .fetch_tasks(&user, &[("limit", limit), ("page", &pages.to_string())])
            .await;
        assert_eq!(last["items"].as_array().unwrap().len(), last_page_items);
    }

    let past_the_end = app
        .fetch_tasks(&user, &[("limit", "2"), ("page", "4")])
        .await;
    assert_eq!(
        past_the_end,
        json!({"items": [], "total": 5, "page": 4, "limit": 2, "pages": 3})
    );
}

#[tokio::test]
async fn a_limit_above_100_is_served_as_100() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    app.insert_bulk_tasks(&user.id, 105).await;

    let page = app.fetch_tasks(&user, &[("limit", "500")]).await;

    assert_eq!(page["limit"], 100);
    assert_eq!(page["items"].as_array().unwrap().len(), 100);
    assert_eq!((&page["total"], &page["pages"]), (&json!(105), &json!(2)));
    let second = app
        .fetch_tasks(&user, &[("limit", "500"), ("page", "2")])
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn bad_paging_is_rejected() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let cases = [
        ("page", "0"),
        ("limit", "0"),
        ("page", "-1"),
        ("limit", "-5"),
        ("page", "abc"),
        ("limit", "ten"),
        ("page", "1.5"),
        ("page", ""),
    ];
    for (name, value) in cases {
        let response = app.list_tasks(&user, &[(name, value)]).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PAGINATION").await;
        assert_eq!(error["field"], name, "{name}={value}");
    }
}

#[tokio::test]
async fn status_filters_by_completion() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    seed_filter_tasks(&app, &user).await;

    let everything = sorted(&[
        "home high pending",
        "untagged medium pending",
        "work high done",
        "work high pending",
        "work low pending",
    ]);
    let cases: [(Query, Vec<String>); 4] = [
        (&[], everything.clone()),
        (&[("status", "all")], everything),
        (&[("status", "completed")], sorted(&["work high done"])),
        (
            &[("status", "pending")],
            sorted(&[
                "home high pending",
                "untagged medium pending",
                "work high pending",
                "work low pending",
            ]),
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(matching(&app, &user, query).await, expected, "{query:?}");
    }

    for bad in ["done", "PENDING", ""] {
        let response = app.list_tasks(&user, &[("status", bad)]).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_STATUS").await;
        assert_eq!(error["field"], "status");
    }
}

#[tokio::test]
async fn priority_filters_by_priority() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    seed_filter_tasks(&app, &user).await;

    let cases = [
        (
            "high",
            sorted(&["home high pending", "work high done", "work high pending"]),
        ),
        ("medium", sorted(&["untagged medium pending"])),
        ("low", sorted(&["work low pending"])),
    ];
    for (priority, expected) in cases {
        assert_eq!(
            matching(&app, &user, &[("priority", priority)]).await,
            expected
        );
    }

    let response = app.list_tasks(&user, &[("priority", "urgent")]).await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PRIORITY").await;
    assert_eq!(error["field"], "priority");
}

#[tokio::test]
async fn tag_filters_by_id_or_by_name_in_any_case() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let (work, home) = seed_filter_tasks(&app, &user).await;

    let work_tasks = sorted(&["work high done", "work high pending", "work low pending"]);
    let work_id = work["id"].to_string();
    for tag in [work_id.as_str(), "Work", "work", "WORK"] {
        assert_eq!(
            matching(&app, &user, &[("tag", tag)]).await,
            work_tasks,
            "tag={tag}"
        );
    }
    // Each item carries its tags.
    let page = app.fetch_tasks(&user, &[("tag", "work")]).await;
    let work_summary = json!([{"id": work["id"], "name": "Work", "color": null}]);
    for item in page["items"].as_array().unwrap() {
        assert_eq!(item["tags"], work_summary, "{item}");
    }
    let home_id = home["id"].to_string();
    assert_eq!(
        matching(&app, &user, &[("tag", &home_id)]).await,
        sorted(&["home high pending"])
    );

    for unknown in ["nope", "999999"] {
        assert_eq!(
            app.fetch_tasks(&user, &[("tag", unknown)]).await,
            json!({"items": [], "total": 0, "page": 1, "limit": 20, "pages": 0}),
            "tag={unknown}"
        );
    }
}

#[tokio::test]
async fn q_matches_title_or_description_and_wildcards_match_literally() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    for title in [
        "100% done",
        "100 percent",
        "a_b",
        "axb",
        "back\\slash",
        "backslash",
    ] {
        app.create_task(&user, json!({"title": title})).await;
    }
    app.create_task(
        &user,
        json!({"title": "Groceries", "description": "Buy MILK and eggs"}),
    )
    .await;

    let cases = [
        ("%", vec!["100% done"]),
        ("0%", vec!["100% done"]),
        ("_", vec!["a_b"]),
        ("a_b", vec!["a_b"]),
        ("\\", vec!["back\\slash"]),
        ("K\\S", vec!["back\\slash"]),
        ("BACKSLASH", vec!["backslash"]),
        ("100", vec!["100 percent", "100% done"]),
        ("milk", vec!["Groceries"]),
        ("gRoC", vec!["Groceries"]),
        ("zzz", vec![]),
    ];
    for (q, expected) in cases {
        assert_eq!(
            matching(&app, &user, &[("q", q)]).await,
            sorted(&expected),
            "q={q:?}"
        );
    }
}

#[tokio::test]
async fn due_bounds_are_inclusive_and_must_carry_an_offset() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    for (title, due) in [
        ("jan 1", "2030-01-01T00:00:00Z"),
        ("jan 2", "2030-01-02T00:00:00Z"),
        ("jan 3", "2030-01-03T00:00:00Z"),
    ] {
        app.create_task(&user, json!({"title": title, "due_date": due}))
            .await;
    }
    app.create_task(&user, json!({"title": "undated"})).await;

    let cases: [(Query, &[&str]); 6] = [
        (
            &[("due_before", "2030-01-02T00:00:00Z")],
            &["jan 1", "jan 2"],
        ),
        (
            &[("due_before", "2030-01-02T01:00:00+01:00")],
            &["jan 1", "jan 2"],
        ),
        (&[("due_before", "2030-01-01T23:59:59Z")], &["jan 1"]),
        (
            &[("due_after", "2030-01-02T00:00:00Z")],
            &["jan 2", "jan 3"],
        ),
        (&[("due_after", "2030-01-02T00:00:00.000001Z")], &["jan 3"]),
        (
            &[
                ("due_after", "2030-01-02T00:00:00Z"),
                ("due_before", "2030-01-02T00:00:00Z"),
            ],
            &["jan 2"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            matching(&app, &user, query).await,
            sorted(expected),
            "{query:?}"
        );
    }

    for name in ["due_before", "due_after"] {
        for bad in ["tomorrow", "2030-01-02T00:00:00", "2030-01-02"] {
            let response = app.list_tasks(&user, &[(name, bad)]).await;
            let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_DUE_DATE").await;
            assert_eq!(error["field"], name, "{name}={bad}");
        }
    }
}

#[tokio::test]
async fn overdue_shows_only_past_due_open_tasks() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tasks = [
        json!({"title": "late", "due_date": "2000-01-01T00:00:00Z"}),
        json!({"title": "late but done", "due_date": "2000-01-01T00:00:00Z", "completed": true}),
        json!({"title": "future", "due_date": "2100-01-01T00:00:00Z"}),
        json!({"title": "undated"}),
    ];
    for task in tasks {
        app.create_task(&user, task).await;
    }

    assert_eq!(
        matching(&app, &user, &[("overdue", "true")]).await,
        ["late"]
    );
    assert_eq!(
        matching(&app, &user, &[("overdue", "false")]).await,
        sorted(&["future", "late", "late but done", "undated"])
    );

    let response = app.list_tasks(&user, &[("overdue", "yes")]).await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
}

#[tokio::test]
async fn filters_combine_with_and() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    seed_filter_tasks(&app, &user).await;
    app.create_task(
        &user,
        json!({"title": "work high pending later", "priority": "high", "due_date": "2030-06-01T00:00:00Z"}),
    )
    .await;

    let cases: [(Query, &[&str]); 5] = [
        (
            &[("status", "pending"), ("priority", "high"), ("tag", "work")],
            &["work high pending"],
        ),
        (
            &[("status", "completed"), ("tag", "work")],
            &["work high done"],
        ),
        (
            &[("priority", "high"), ("q", "home")],
            &["home high pending"],
        ),
        (
            &[
                ("priority", "high"),
                ("q", "pending"),
                ("due_after", "2030-01-01T00:00:00Z"),
            ],
            &["work high pending later"],
        ),
        (&[("priority", "low"), ("tag", "home")], &[]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            matching(&app, &user, query).await,
            sorted(expected),
            "{query:?}"
        );
    }
}

#[tokio::test]
async fn every_sort_field_orders_both_ways() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    // Created in this order, so ids and created_at rise down the list.
    let tasks = [
        json!({"title": "cherry", "priority": "low", "due_date": "2030-01-03T00:00:00Z"}),
        json!({"title": "apple", "priority": "high"}),
        json!({"title": "Banana", "priority": "medium", "due_date": "2030-01-01T00:00:00Z"}),
        json!({"title": "date", "priority": "medium", "due_date": "2030-01-02T00:00:00Z"}),
    ];
    let mut created = Vec::new();
    for task in tasks {
        created.push(app.create_task(&user, task).await);
    }
    // apple becomes the most recently updated.
    let response = app
        .patch_task(&user, &created[1]["id"], &json!({"description": "touched"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let cases: [(&str, [&str; 4]); 5] = [
        ("created_at", ["cherry", "apple", "Banana", "date"]),
        ("updated_at", ["cherry", "Banana", "date", "apple"]),
        ("due_date", ["Banana", "date", "cherry", "apple"]),
        ("priority", ["cherry", "Banana", "date", "apple"]),
        ("title", ["apple", "Banana", "cherry", "date"]),
    ];
    for (field, ascending) in cases {
        let page = app.fetch_tasks(&user, &[("sort", field)]).await;
        assert_eq!(titles(&page), ascending, "sort={field}");

        let descending: Vec<&str> = ascending.iter().rev().copied().collect();
        let page = app
            .fetch_tasks(&user, &[("sort", &format!("-{field}"))])
            .await;
        assert_eq!(titles(&page), descending, "sort=-{field}");
    }
}

#[tokio::test]
async fn ties_break_by_id_so_pages_never_repeat_or_skip() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let specs = [
        ("high", Some("2030-01-01T00:00:00Z"), "same"),
        ("low", None, "same"),
        ("medium", Some("2030-01-01T00:00:00Z"), "Same"),
        ("medium", None, "other"),
        ("high", Some("2030-01-02T00:00:00Z"), "same"),
        ("medium", Some("2030-01-01T00:00:00Z"), "other"),
        ("low", None, "SAME"),
    ];
    let mut tasks = Vec::new();
    for (priority, due, title) in specs {
        let task = app
            .create_task(
                &user,
                json!({"title": title, "priority": priority, "due_date": due}),
            )
            .await;
        let rank = ["low", "medium", "high"]
            .iter()
            .position(|p| *p == priority);
        tasks.push((
            task["id"].as_i64().unwrap(),
            rank.unwrap(),
            due,
            title.to_lowercase(),
        ));
    }

    let mut by_priority = tasks.clone();
    by_priority.sort_by_key(|(id, rank, _, _)| (*rank, *id));
    let mut by_due = tasks.clone();
    by_due.sort_by_key(|(id, _, due, _)| (due.is_none(), *due, *id));
    let mut by_title = tasks.clone();
    by_title.sort_by_key(|(id, _, _, title)| (title.clone(), *id));

    for (field, ascending) in [
        ("priority", by_priority),
        ("due_date", by_due),
        ("title", by_title),
    ] {
        let ascending: Vec<i64> = ascending.iter().map(|task| task.0).collect();
        let descending: Vec<i64> = ascending.iter().rev().copied().collect();
        for limit in [1, 2] {
            assert_eq!(
                page_through(&app, &user, field, limit).await,
                ascending,
                "{field}"
            );
            let sort = format!("-{field}");
            assert_eq!(
                page_through(&app, &user, &sort, limit).await,
                descending,
                "{sort}"
            );
        }
    }
}

#[tokio::test]
async fn an_unknown_sort_field_is_rejected() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    for sort in ["name", "-", "+title", "--title", "Title", "id", ""] {
        let response = app.list_tasks(&user, &[("sort", sort)]).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_SORT_FIELD").await;
        assert_eq!(error["field"], "sort", "sort={sort:?}");
    }
}

/// The document types each list parameter, and every value it allows for an enum or a boolean
/// (and every status and priority name of a new account) is served.
#[tokio::test]
async fn the_document_types_the_list_parameters_and_each_allowed_value_is_served() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let doc = super::helpers::body(app.get("/openapi.json", None).await).await;
    let params = doc["paths"]["/api/v1/users/{user_id}/tasks"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let schema = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["schema"].clone())
            .unwrap_or_else(|| panic!("no parameter {name}"))
    };

    for name in ["page", "limit"] {
        assert_eq!(schema(name)["type"], "integer", "{name}");
        assert_eq!(schema(name)["minimum"], 1, "{name}");
    }
    assert_eq!(schema("overdue")["type"], "boolean");
    for name in ["due_before", "due_after"] {
        assert_eq!(schema(name)["format"], "date-time", "{name}");
    }
    let values = schema("sort")["enum"].as_array().unwrap().clone();
    assert_eq!(values.len(), 14, "sort");
    for value in values {
        let value = value.as_str().unwrap();
        let response = app.list_tasks(&user, &[("sort", value)]).await;
        assert_eq!(response.status(), StatusCode::OK, "sort={value}");
    }
    // `status` and `priority` take the names of the caller's own statuses and priorities: text,
    // not an enum. Each of a new account's is served, and the three completion filters.
    for name in ["status", "priority"] {
        let schema = schema(name);
        assert_eq!(schema["type"], "string", "{name}: {schema}");
        assert_eq!(schema["minLength"], 1, "{name}: {schema}");
        assert!(schema.get("enum").is_none(), "{name}: {schema}");
    }
    let names = |list: Value| -> Vec<String> {
        let list = list.as_array().unwrap().iter();
        list.map(|item| item["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut statuses = vec![
        "all".to_owned(),
        "pending".to_owned(),
        "completed".to_owned(),
    ];
    statuses.extend(names(app.fetch_statuses(&user).await));
    let priorities = names(app.fetch_priorities(&user).await);
    assert_eq!((statuses.len(), priorities.len()), (6, 3));
    for (name, values) in [("status", statuses), ("priority", priorities)] {
        for value in values {
            let response = app.list_tasks(&user, &[(name, value.as_str())]).await;
            assert_eq!(response.status(), StatusCode::OK, "{name}={value}");
        }
    }
    for value in ["true", "false"] {
        let response = app.list_tasks(&user, &[("overdue", value)]).await;
        assert_eq!(response.status(), StatusCode::OK, "overdue={value}");
    }
    let reminders = &doc["paths"]["/api/v1/users/{user_id}/reminders"]["get"]["parameters"];
    let before = reminders
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "before");
    assert_eq!(before.unwrap()["in"], "query");
    assert_eq!(before.unwrap()["schema"]["format"], "date-time");
}
