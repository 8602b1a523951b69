//! Tasks (SPEC 5): create, read, replace, partial update, completion, deletion and tag links.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::helpers::{
    SIGN_UP_ENTRIES, TestApp, assert_error, assert_status, assert_validation_error, body,
    tag_summary, task_path, tasks_path, utc_time,
};

#[tokio::test]
async fn create_task_answers_201_with_location_and_the_full_task() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app
        .create_tag(&user, json!({"name": "home", "color": "#00AA55"}))
        .await;

    let response = app
        .post_task(
            &user,
            &json!({
                "title": "  Water the plants  ",
                "description": "The ferns first.",
                "due_date": "2030-05-01T11:00:00+02:00",
                "remind_at": "2030-05-01T08:30:00Z",
                "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,WE",
                "tag_ids": [tag["id"]],
            }),
        )
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let task = body(response).await;
    let id = task["id"].as_i64().expect("a numeric id");
    assert_eq!(location, format!("/api/v1/users/{}/tasks/{id}", user.id));
    let created_at = utc_time(&task["created_at"]);
    assert_eq!(utc_time(&task["updated_at"]), created_at);
    assert!(task["position"].is_i64(), "{task}");
    assert_eq!(
        task,
        json!({
            "id": id,
            "user_id": user.id,
            "title": "Water the plants",
            "description": "The ferns first.",
            "completed": false,
            "completed_at": null,
            "status": "not_started",
            "priority": "medium",
            "position": task["position"],
            // A recurring task starts its series.
            "series_id": id,
            "due_date": "2030-05-01T09:00:00.000000Z",
            "remind_at": "2030-05-01T08:30:00.000000Z",
            "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,WE",
            "tags": [{"id": tag["id"], "name": "home", "color": "#00AA55"}],
            "created_at": task["created_at"],
            "updated_at": task["updated_at"],
            "reminded_at": null,
            "successor_id": null,
        })
    );

    // The Location names the task as GET serves it.
    let fetched = app.get(&location, Some(&user.access)).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(body(fetched).await, task);
}

#[tokio::test]
async fn create_task_with_only_a_title_fills_in_the_defaults() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let task = app.create_task(&user, json!({"title": "Buy milk"})).await;

    for field in [
        "description",
        "completed_at",
        "due_date",
        "remind_at",
        "recurrence_rule",
    ] {
        assert_eq!(task[field], Value::Null, "{field} in {task}");
    }
    assert_eq!(task["completed"], false);
    assert_eq!(task["priority"], "medium");
    assert_eq!(task["tags"], json!([]));
    assert_eq!(task["user_id"], user.id.as_str());
}

#[tokio::test]
async fn task_title_must_be_1_to_200_characters_after_trimming() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let longest = "t".repeat(200);
    let task = app
        .create_task(&user, json!({"title": format!("  {longest}  ")}))
        .await;
    assert_eq!(task["title"], longest.as_str());

    for title in ["t".repeat(201), String::new(), "   \t\n ".to_owned()] {
        let response = app.post_task(&user, &json!({"title": title})).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_TITLE").await;
        assert_eq!(error["field"], "title");
    }
    assert_eq!(app.total_tasks(&user).await, 1);
}

#[tokio::test]
async fn description_may_be_up_to_1000_characters() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let longest = "d".repeat(1000);
    let task = app
        .create_task(&user, json!({"title": "t", "description": longest}))
        .await;
    assert_eq!(task["description"], longest.as_str());

    let response = app
        .post_task(
            &user,
            &json!({"title": "t", "description": "d".repeat(1001)}),
        )
        .await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "DESCRIPTION_TOO_LONG").await;
    assert_eq!(error["field"], "description");
}

#[tokio::test]
async fn create_task_with_an_unknown_priority_is_rejected() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    for priority in ["urgent", "HIGH", ""] {
        let response = app
            .post_task(&user, &json!({"title": "t", "priority": priority}))
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_PRIORITY").await;
        assert_eq!(error["field"], "priority");
    }
    for priority in ["low", "medium", "high"] {
        let task = app
            .create_task(&user, json!({"title": "t", "priority": priority}))
            .await;
        assert_eq!(task["priority"], priority);
    }
}

#[tokio::test]
async fn times_without_an_offset_are_rejected() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let cases = [
        ("due_date", "2030-01-01T10:00:00", "INVALID_DUE_DATE"),
        ("due_date", "2030-01-01", "INVALID_DUE_DATE"),
        ("due_date", "tomorrow", "INVALID_DUE_DATE"),
        ("remind_at", "2030-01-01T10:00:00", "INVALID_REMIND_AT"),
        ("remind_at", "soon", "INVALID_REMIND_AT"),
    ];
    for (field, value, code) in cases {
        let response = app
            .post_task(&user, &json!({"title": "t", field: value}))
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(error["field"], field, "{field} = {value}");
    }
    assert_eq!(app.total_tasks(&user).await, 0);
}

#[tokio::test]
async fn recurrence_rule_must_be_an_rrule() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app
        .post_task(
            &user,
            &json!({
                "title": "t",
                "due_date": "2030-01-01T10:00:00Z",
                "recurrence_rule": "every day",
            }),
        )
        .await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_RRULE").await;
    assert_eq!(error["field"], "recurrence_rule");
}

#[tokio::test]
async fn create_completed_task_sets_completed_at() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let task = app
        .create_task(&user, json!({"title": "Done already", "completed": true}))
        .await;

    assert_eq!(task["completed"], true);
    assert!(utc_time(&task["completed_at"]) >= utc_time(&task["created_at"]));
}

#[tokio::test]
async fn create_task_with_tag_ids_attaches_them_ordered_by_name() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let zeta = app.create_tag(&user, json!({"name": "zeta"})).await;
    let alpha = app
        .create_tag(&user, json!({"name": "Alpha", "color": "#112233"}))
        .await;
    let mid = app.create_tag(&user, json!({"name": "mid"})).await;

    let task = app
        .create_task(
            &user,
            json!({"title": "t", "tag_ids": [zeta["id"], alpha["id"], mid["id"], zeta["id"]]}),
        )
        .await;

    let expected = json!([tag_summary(&alpha), tag_summary(&mid), tag_summary(&zeta)]);
    assert_eq!(task["tags"], expected);
    assert_eq!(app.fetch_task(&user, &task["id"]).await["tags"], expected);
}

#[tokio::test]
async fn create_task_with_an_unknown_tag_is_404_and_writes_nothing() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "real"})).await;

    for tag_ids in [json!([999_999]), json!([tag["id"], 999_999])] {
        let response = app
            .post_task(
                &user,
                &json!({"title": "Never written", "tag_ids": tag_ids}),
            )
            .await;
        let error = assert_error(response, StatusCode::NOT_FOUND, "TAG_NOT_FOUND").await;
        assert_eq!(error["field"], "tag_ids");
    }

    assert_eq!(app.total_tasks(&user).await, 0);
    let links = app.count_rows("task_tags").await;
    assert_eq!(links, 0);
}

#[tokio::test]
async fn get_task_returns_it_with_its_tags() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "work"})).await;
    let task = app
        .create_task(&user, json!({"title": "t", "tag_ids": [tag["id"]]}))
        .await;

    let fetched = app.fetch_task(&user, &task["id"]).await;

    assert_eq!(fetched, task);
    assert_eq!(fetched["tags"], json!([tag_summary(&tag)]));
}

#[tokio::test]
async fn get_unknown_task_is_404_and_a_malformed_id_is_422() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app.get_task(&user, 999999).await;
    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;

    for id in ["abc", "1.5", "99999999999999999999"] {
        let response = app.get_task(&user, id).await;
        let error = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["field"], "task_id", "task id {id}");
    }
}

#[tokio::test]
async fn put_replaces_the_task_and_omitted_fields_become_null() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let old_tag = app.create_tag(&user, json!({"name": "old"})).await;
    let new_tag = app.create_tag(&user, json!({"name": "new"})).await;
    let task = app
        .create_task(
            &user,
            json!({
                "title": "Before",
                "description": "will go",
                "priority": "low",
                "due_date": "2030-01-01T00:00:00Z",
                "remind_at": "2029-12-31T23:00:00Z",
                "recurrence_rule": "FREQ=DAILY",
                "tag_ids": [old_tag["id"]],
            }),
        )
        .await;

    let response = app
        .put_task(
            &user,
            &task["id"],
            &json!({"title": " After ", "priority": "high", "completed": false, "tag_ids": [new_tag["id"]]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let replaced = body(response).await;
    assert_eq!(
        replaced,
        json!({
            "id": task["id"],
            "user_id": user.id,
            "title": "After",
            "description": null,
            "completed": false,
            "completed_at": null,
            "status": "not_started",
            "priority": "high",
            // A replacement leaves the task where it was in the manual order.
            "position": task["position"],
            // Without its recurrence rule it starts no series.
            "series_id": null,
            "due_date": null,
            "remind_at": null,
            "recurrence_rule": null,
            "tags": [tag_summary(&new_tag)],
            "created_at": task["created_at"],
            "updated_at": replaced["updated_at"],
            "reminded_at": null,
            "successor_id": null,
        })
    );
    assert_eq!(app.fetch_task(&user, &task["id"]).await, replaced);

    // Without tag_ids, PUT removes every tag.
    let response = app
        .put_task(
            &user,
            &task["id"],
            &json!({"title": "After", "priority": "high", "completed": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let replaced = body(response).await;
    assert_eq!(replaced["tags"], json!([]));
    assert_eq!(replaced["completed"], true);
    assert_eq!(replaced["status"], "completed");
    utc_time(&replaced["completed_at"]);
}

#[tokio::test]
async fn put_without_a_required_field_is_422_naming_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = app.create_task(&user, json!({"title": "Keep me"})).await;

    let full = json!({"title": "New", "priority": "high", "completed": false});
    for field in ["title", "priority", "completed"] {
        let mut partial = full.clone();
        partial.as_object_mut().unwrap().remove(field);
        let response = app.put_task(&user, &task["id"], &partial).await;
        assert_validation_error(response, field).await;
    }
    assert_eq!(app.fetch_task(&user, &task["id"]).await, task);
}

#[tokio::test]
async fn put_validates_like_create() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = app.create_task(&user, json!({"title": "Keep me"})).await;

    let base = json!({"title": "New", "priority": "high", "completed": false});
    let cases = [
        ("title", json!("   "), "INVALID_TITLE"),
        ("priority", json!("urgent"), "INVALID_PRIORITY"),
        (
            "description",
            json!("d".repeat(1001)),
            "DESCRIPTION_TOO_LONG",
        ),
        ("due_date", json!("2030-01-01T10:00:00"), "INVALID_DUE_DATE"),
        (
            "remind_at",
            json!("2030-01-01T10:00:00"),
            "INVALID_REMIND_AT",
        ),
        ("recurrence_rule", json!("every day"), "INVALID_RRULE"),
    ];
    for (field, value, code) in cases {
        let mut request = base.clone();
        request[field] = value;
        let response = app.put_task(&user, &task["id"], &request).await;
        assert_error(response, StatusCode::BAD_REQUEST, code).await;
    }
    assert_eq!(app.fetch_task(&user, &task["id"]).await, task);
}

#[tokio::test]
async fn patch_changes_only_the_fields_present() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "keep"})).await;
    let task = app
        .create_task(
            &user,
            json!({
                "title": "Original",
                "description": "stays",
                "priority": "low",
                "due_date": "2030-01-01T00:00:00Z",
                "remind_at": "2029-12-31T12:00:00Z",
                "recurrence_rule": "FREQ=DAILY",
                "tag_ids": [tag["id"]],
            }),
        )
        .await;

    let response = app
        .patch_task(
            &user,
            &task["id"],
            &json!({"title": "  Renamed ", "priority": "high"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let patched = body(response).await;

    let mut expected = task.clone();
    expected["title"] = json!("Renamed");
    expected["priority"] = json!("high");
    expected["updated_at"] = patched["updated_at"].clone();
    assert_eq!(patched, expected);
    assert_eq!(app.fetch_task(&user, &task["id"]).await, patched);
}

#[tokio::test]
async fn patch_with_explicit_null_clears_nullable_fields() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "gone"})).await;
    let task = app
        .create_task(
            &user,
            json!({
                "title": "Clear me",
                "description": "goes",
                "due_date": "2030-01-01T00:00:00Z",
                "remind_at": "2029-12-31T12:00:00Z",
                "recurrence_rule": "FREQ=DAILY",
                "tag_ids": [tag["id"]],
            }),
        )
        .await;

    // One field at a time: the named one clears, the others stay.
    let response = app
        .patch_task(&user, &task["id"], &json!({"description": null}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let patched = body(response).await;
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["due_date"], task["due_date"]);
    assert_eq!(patched["tags"], task["tags"]);

    let response = app
        .patch_task(
            &user,
            &task["id"],
            &json!({"due_date": null, "remind_at": null, "recurrence_rule": null, "tag_ids": null}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let patched = body(response).await;
    for field in ["description", "due_date", "remind_at", "recurrence_rule"] {
        assert_eq!(patched[field], Value::Null, "{field}");
    }
    assert_eq!(patched["tags"], json!([]));
    assert_eq!(patched["title"], "Clear me");
    assert_eq!(app.fetch_task(&user, &task["id"]).await, patched);
}

#[tokio::test]
async fn patch_refuses_null_for_a_field_that_cannot_be_cleared_with_a_validation_error_naming_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = app.create_task(&user, json!({"title": "Required"})).await;

    for field in ["title", "priority", "completed"] {
        let response = app
            .patch_task(&user, &task["id"], &json!({field: null}))
            .await;
        let error = assert_validation_error(response, field).await;
        assert!(
            error["detail"].as_str().unwrap().contains("null"),
            "{error}"
        );
    }
    assert_eq!(app.fetch_task(&user, &task["id"]).await, task);
}

/// JSON Schema counts `7.0` as an integer, and so do clients generated from the document.
#[tokio::test]
async fn a_tag_id_written_with_a_zero_fraction_is_that_tag() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "float"})).await;
    let id = tag["id"].as_i64().unwrap() as f64;

    let task = app
        .create_task(&user, json!({"title": "Tagged", "tag_ids": [id]}))
        .await;
    assert_eq!(task["tags"], json!([tag_summary(&tag)]));
    let response = app
        .patch_task(&user, &task["id"], &json!({"tag_ids": [id + 0.5]}))
        .await;
    assert_validation_error(response, "tag_ids[0]").await;
}

/// The examples the document gives (what Swagger UI's "Try it out" sends) succeed as they stand.
#[tokio::test]
async fn the_documented_task_examples_succeed_as_they_stand() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let examples = app.documented_examples().await;
    let example = |schema: &str| examples[schema]["example"].clone();

    let response = app.post_task(&user, &example("CreateTaskRequest")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created = body(response).await;
    assert_eq!(created["recurrence_rule"], "FREQ=WEEKLY;BYDAY=MO,WE");
    assert_eq!(created["priority"], "high");

    let response = app
        .put_task(&user, &created["id"], &example("ReplaceTaskRequest"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .patch_task(&user, &created["id"], &example("UpdateTaskRequest"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["priority"], "low");
}

#[tokio::test]
async fn write_with_an_unknown_tag_is_404_and_leaves_the_task_unchanged() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "kept"})).await;
    let task = app
        .create_task(&user, json!({"title": "Unchanged", "tag_ids": [tag["id"]]}))
        .await;

    let cases = [
        (Method::PATCH, json!({"tag_ids": [999_999]})),
        (
            Method::PATCH,
            json!({"title": "Changed", "tag_ids": [tag["id"], 999_999]}),
        ),
        (
            Method::PUT,
            json!({"title": "Changed", "priority": "high", "completed": true, "tag_ids": [999_999]}),
        ),
    ];
    for (method, request) in cases {
        let response = app
            .send_json(
                method,
                &task_path(&user, &task),
                Some(&user.access),
                &request,
            )
            .await;
        let error = assert_error(response, StatusCode::NOT_FOUND, "TAG_NOT_FOUND").await;
        assert_eq!(error["field"], "tag_ids");
        assert_eq!(
            app.fetch_task(&user, &task["id"]).await,
            task,
            "after {request}"
        );
    }
}

#[tokio::test]
async fn every_write_moves_updated_at_and_keeps_created_at() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "t"})).await;
    let task = app.create_task(&user, json!({"title": "Busy"})).await;
    let mut last = utc_time(&task["updated_at"]);

    let mut after = Vec::new();
    let response = app
        .put_task(
            &user,
            &task["id"],
            &json!({"title": "Busy", "priority": "low", "completed": false}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    after.push(("PUT", body(response).await));

    let response = app
        .patch_task(&user, &task["id"], &json!({"description": "x"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    after.push(("PATCH", body(response).await));

    let response = app.toggle_task(&user, &task["id"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    after.push(("toggle", body(response).await));

    let response = app.link_tag(&user, &task["id"], &tag["id"]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    after.push(("link", body(response).await));

    let response = app.unlink_tag(&user, &task["id"], &tag["id"]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    after.push(("unlink", app.fetch_task(&user, &task["id"]).await));

    for (write, current) in after {
        assert_eq!(
            current["created_at"], task["created_at"],
            "created_at after {write}"
        );
        let updated = utc_time(&current["updated_at"]);
        assert!(
            updated > last,
            "updated_at after {write}: {updated} <= {last}"
        );
        last = updated;
    }
}

#[tokio::test]
async fn toggle_completes_and_reopens_a_task() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = app.create_task(&user, json!({"title": "Toggle me"})).await;

    let response = app.toggle_task(&user, &task["id"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let completed = body(response).await;
    assert_eq!(completed["completed"], true);
    let completed_at = utc_time(&completed["completed_at"]);
    assert!(completed_at > utc_time(&task["created_at"]));
    assert_eq!(completed["title"], "Toggle me");

    let response = app.toggle_task(&user, &task["id"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let reopened = body(response).await;
    assert_eq!(reopened["completed"], false);
    assert_eq!(reopened["completed_at"], Value::Null);
    assert_eq!(app.fetch_task(&user, &task["id"]).await, reopened);

    let response = app.toggle_task(&user, 999999).await;
    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
}

#[tokio::test]
async fn patch_completed_maintains_completed_at() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = app.create_task(&user, json!({"title": "Finish"})).await;

    let response = app
        .patch_task(&user, &task["id"], &json!({"completed": true}))
        .await;
    let completed = body(response).await;
    assert_eq!(completed["completed"], true);
    utc_time(&completed["completed_at"]);

    // Completing a completed task keeps the moment it was first completed.
    let response = app
        .patch_task(
            &user,
            &task["id"],
            &json!({"completed": true, "title": "Finished"}),
        )
        .await;
    let again = body(response).await;
    assert_eq!(again["completed_at"], completed["completed_at"]);
    assert_eq!(again["title"], "Finished");

    let response = app
        .patch_task(&user, &task["id"], &json!({"completed": false}))
        .await;
    let reopened = body(response).await;
    assert_eq!(reopened["completed"], false);
    assert_eq!(reopened["completed_at"], Value::Null);
}

#[tokio::test]
async fn delete_task_is_204_then_404_and_its_tags_stay() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "survivor"})).await;
    let task = app
        .create_task(&user, json!({"title": "Doomed", "tag_ids": [tag["id"]]}))
        .await;

    let response = app.delete_task(&user, &task["id"]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response = app.get_task(&user, &task["id"]).await;
    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;

    let response = app.get_tag(&user, &tag["id"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, tag);

    let response = app.delete_task(&user, &task["id"]).await;
    assert_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
}

#[tokio::test]
async fn linking_a_tag_is_201_then_200_and_never_duplicates_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app
        .create_tag(&user, json!({"name": "urgent", "color": "#FF0000"}))
        .await;
    let task = app.create_task(&user, json!({"title": "Link me"})).await;

    let response = app.link_tag(&user, &task["id"], &tag["id"]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let linked = body(response).await;
    assert_eq!(linked["id"], task["id"]);
    assert_eq!(linked["tags"], json!([tag_summary(&tag)]));

    let response = app.link_tag(&user, &task["id"], &tag["id"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let again = body(response).await;
    assert_eq!(again["tags"], json!([tag_summary(&tag)]));
    assert_eq!(
        app.fetch_task(&user, &task["id"]).await["tags"],
        json!([tag_summary(&tag)])
    );
}

#[tokio::test]
async fn unlinking_is_204_also_when_not_linked() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "loose"})).await;
    let other = app.create_tag(&user, json!({"name": "other"})).await;
    let task = app
        .create_task(
            &user,
            json!({"title": "Unlink me", "tag_ids": [tag["id"], other["id"]]}),
        )
        .await;

    for _ in 0..2 {
        let response = app.unlink_tag(&user, &task["id"], &tag["id"]).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(response.text().await.unwrap(), "");
        assert_eq!(
            app.fetch_task(&user, &task["id"]).await["tags"],
            json!([tag_summary(&other)])
        );
    }
}

#[tokio::test]
async fn linking_or_unlinking_an_unknown_task_or_tag_is_404() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "real"})).await;
    let task = app.create_task(&user, json!({"title": "Real"})).await;
    let missing = json!({"id": 999_999});

    let cases = [
        (&task, &missing, "TAG_NOT_FOUND"),
        (&missing, &tag, "TASK_NOT_FOUND"),
        (&missing, &missing, "TASK_NOT_FOUND"),
    ];
    for (on_task, on_tag, code) in cases {
        let response = app.link_tag(&user, &on_task["id"], &on_tag["id"]).await;
        assert_error(response, StatusCode::NOT_FOUND, code).await;
        let response = app.unlink_tag(&user, &on_task["id"], &on_tag["id"]).await;
        assert_error(response, StatusCode::NOT_FOUND, code).await;
    }
    assert_eq!(app.fetch_task(&user, &task["id"]).await, task);

    let response = app.link_tag(&user, &task["id"], "abc").await;
    assert_validation_error(response, "tag_id").await;
}

#[tokio::test]
async fn parallel_links_of_one_tag_create_exactly_one_link() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "race"})).await;
    let task = app.create_task(&user, json!({"title": "Contended"})).await;

    let responses = join_all((0..8).map(|_| app.link_tag(&user, &task["id"], &tag["id"]))).await;

    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 201]);
    for response in responses {
        assert_eq!(body(response).await["tags"], json!([tag_summary(&tag)]));
    }
    assert_eq!(
        app.fetch_task(&user, &task["id"]).await["tags"],
        json!([tag_summary(&tag)])
    );
    let links = app.count_rows("task_tags").await;
    assert_eq!(links, 1);
}

#[tokio::test]
async fn concurrent_patches_of_different_fields_both_apply() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    for round in 0..10 {
        let task = app
            .create_task(&user, json!({"title": format!("before {round}")}))
            .await;
        let retitle_body = json!({"title": format!("after {round}")});
        let reprioritize_body = json!({"priority": "high"});
        let (retitled, reprioritized) = futures_util::future::join(
            app.patch_task(&user, &task["id"], &retitle_body),
            app.patch_task(&user, &task["id"], &reprioritize_body),
        )
        .await;
        assert_eq!(retitled.status(), StatusCode::OK);
        assert_eq!(reprioritized.status(), StatusCode::OK);

        let current = app.fetch_task(&user, &task["id"]).await;
        assert_eq!(
            (&current["title"], &current["priority"]),
            (&json!(format!("after {round}")), &json!("high")),
            "round {round}: one PATCH undid the other"
        );
    }
}

#[tokio::test]
async fn concurrent_toggles_each_flip_the_task_as_the_one_before_left_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = app.create_task(&user, json!({"title": "Contended"})).await;

    // On PostgreSQL most of these run without a lock and race each other: a toggle whose read
    // went stale must flip the task again as the winner left it, never write its stale flip.
    // Some lose three races and take the locked path (a panic put there fired in every run).
    let toggles = 21;
    let responses = join_all((0..toggles).map(|_| app.toggle_task(&user, &task["id"]))).await;
    let mut completed = 0;
    for response in responses {
        let toggled = assert_status(response, StatusCode::OK).await;
        assert_eq!(toggled["id"], task["id"]);
        if toggled["completed"] == json!(true) {
            completed += 1;
        }
    }
    // In the order they were applied the toggles answer true, false, true, …
    assert_eq!(
        completed,
        toggles / 2 + 1,
        "a toggle was lost or applied twice"
    );
    assert_eq!(
        app.fetch_task(&user, &task["id"]).await["completed"],
        json!(true)
    );
    // Sign-up's entries, the creation and one change per toggle: a toggle that lost a race
    // recorded nothing.
    assert_eq!(
        app.count_rows("changes").await,
        SIGN_UP_ENTRIES as i64 + 1 + toggles
    );
}

#[tokio::test]
async fn text_with_a_nul_character_is_a_client_error_not_a_500() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = app.create_task(&user, json!({"title": "Untouched"})).await;
    let nul = "a\u{0}b";

    let writes = [
        (Method::POST, tasks_path(&user), json!({"title": nul})),
        (
            Method::POST,
            tasks_path(&user),
            json!({"title": "t", "description": nul}),
        ),
        (
            Method::PATCH,
            task_path(&user, &task),
            json!({"title": nul}),
        ),
        (
            Method::PATCH,
            task_path(&user, &task),
            json!({"description": nul}),
        ),
    ];
    for (method, path, request) in writes {
        let response = app
            .send_json(method.clone(), &path, Some(&user.access), &request)
            .await;
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
    }
    // A NUL inside a recurrence rule already fails the RRULE grammar.
    let response = app
        .post_task(
            &user,
            &json!({"title": "t", "due_date": "2030-01-01T00:00:00Z", "recurrence_rule": "FREQ=DAILY\u{0}"}),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "INVALID_RRULE").await;
    for filter in ["q", "tag"] {
        let response = app.list_tasks(&user, &[(filter, nul)]).await;
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
    }

    assert_eq!(app.total_tasks(&user).await, 1);
    assert_eq!(app.fetch_task(&user, &task["id"]).await, task);
}

#[tokio::test]
async fn recurrence_rules_must_be_valid_rrules() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    for rule in [
        "FREQ=BOGUS",
        "FREQ=",
        "XFREQ=DAILY;FOO=BAR",
        "FREQ=DAILY;INTERVAL=-3",
        "FREQ=WEEKLY;BYDAY=XX",
    ] {
        let response = app
            .post_task(&user, &json!({"title": "x", "recurrence_rule": rule}))
            .await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_RRULE").await;
        assert_eq!(body["field"], "recurrence_rule", "{rule}");
    }
    let task = app
        .create_task(
            &user,
            json!({"title": "x", "due_date": "2030-01-06T09:00:00Z", "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,WE"}),
        )
        .await;
    assert_eq!(task["recurrence_rule"], "FREQ=WEEKLY;BYDAY=MO,WE");
}

#[tokio::test]
async fn times_that_cannot_be_written_back_as_rfc3339_are_refused() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    for (field, code) in [
        ("due_date", "INVALID_DUE_DATE"),
        ("remind_at", "INVALID_REMIND_AT"),
    ] {
        for time in ["9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+23:59"] {
            let response = app
                .post_task(&user, &json!({"title": "x", field: time}))
                .await;
            assert_error(response, StatusCode::BAD_REQUEST, code).await;
        }
    }
}
