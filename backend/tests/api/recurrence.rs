//! Recurring tasks (SPEC 5): successors on completion, in the user's time zone.
//!
//! Completing a recurring task (PUT, PATCH or the toggle) creates its next occurrence in the
//! same transaction; these tests walk series through HTTP only and check the exact times, the
//! copied fields and tags, that an occurrence gets at most one successor, that COUNT and UNTIL
//! end a series, and that invalid rules or rules without a due date write nothing.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::{TestApp, TestUser, assert_error, body, tag_summary};

/// Completes the task with `PATCH {"completed": true}`; asserts 200 and returns the task.
async fn complete(app: &TestApp, user: &TestUser, task: &Value) -> Value {
    let response = app
        .patch_task(user, &task["id"], &json!({"completed": true}))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "completing {task}");
    body(response).await
}

/// Sets the user's time zone (`PATCH /api/v1/users/{id}`).
async fn set_timezone(app: &TestApp, user: &TestUser, zone: &str) {
    let response = app.patch_user(user, &json!({"timezone": zone})).await;
    assert_eq!(response.status(), StatusCode::OK, "setting timezone {zone}");
    assert_eq!(body(response).await["timezone"], zone);
}

/// A user signed in with `zone` as their time zone.
async fn user_in(app: &TestApp, zone: &str) -> TestUser {
    let user = app.signed_in_user().await;
    set_timezone(app, &user, zone).await;
    user
}

/// The successor named by a completed task's `successor_id`, fetched; asserts there is one and
/// that the completed task is stored as the response showed it.
async fn successor_of(app: &TestApp, user: &TestUser, completed: &Value) -> Value {
    assert_eq!(completed["completed"], true, "{completed}");
    assert!(
        completed["successor_id"].is_i64(),
        "a successor_id in {completed}"
    );
    assert_eq!(&app.fetch_task(user, &completed["id"]).await, completed);
    let successor = app.fetch_task(user, &completed["successor_id"]).await;
    assert_eq!(successor["id"], completed["successor_id"]);
    assert_ne!(successor["id"], completed["id"]);
    successor
}

/// Completes `task` by PATCH and returns its new successor.
async fn next_occurrence(app: &TestApp, user: &TestUser, task: &Value) -> Value {
    let completed = complete(app, user, task).await;
    successor_of(app, user, &completed).await
}

/// Walks a series: completes `first`, then each successor, `steps` times; returns the due
/// dates of the successors in order.
async fn walk(app: &TestApp, user: &TestUser, first: &Value, steps: usize) -> Vec<String> {
    let mut current = first.clone();
    let mut dues = Vec::new();
    for _ in 0..steps {
        current = next_occurrence(app, user, &current).await;
        dues.push(current["due_date"].as_str().unwrap().to_owned());
    }
    dues
}

/// A recurring task due at `due` (with an optional reminder).
async fn recurring(
    app: &TestApp,
    user: &TestUser,
    rule: &str,
    due: &str,
    remind: Option<&str>,
) -> Value {
    app.create_task(
        user,
        json!({"title": format!("every {rule}"), "due_date": due, "remind_at": remind, "recurrence_rule": rule}),
    )
    .await
}

// --- daylight-saving changes in the user's zone -------------------------------------------------

#[tokio::test]
async fn daily_at_nine_in_new_york_stays_nine_local_across_both_changes() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_in(&app, "America/New_York").await;

    // Spring forward on 2030-03-10: 09:00 EST is 14:00Z, 09:00 EDT is 13:00Z. The reminder,
    // 30 minutes before, stays 08:30 local.
    let spring = recurring(
        &app,
        &user,
        "FREQ=DAILY",
        "2030-03-09T14:00:00Z",
        Some("2030-03-09T13:30:00Z"),
    )
    .await;
    let next = next_occurrence(&app, &user, &spring).await;
    assert_eq!(next["due_date"], "2030-03-10T13:00:00.000000Z");
    assert_eq!(next["remind_at"], "2030-03-10T12:30:00.000000Z");
    let after = next_occurrence(&app, &user, &next).await;
    assert_eq!(after["due_date"], "2030-03-11T13:00:00.000000Z");
    assert_eq!(after["remind_at"], "2030-03-11T12:30:00.000000Z");

    // Fall back on 2030-11-03: 09:00 EDT is 13:00Z, 09:00 EST is 14:00Z.
    let fall = recurring(
        &app,
        &user,
        "FREQ=DAILY",
        "2030-11-02T13:00:00Z",
        Some("2030-11-02T12:30:00Z"),
    )
    .await;
    let next = next_occurrence(&app, &user, &fall).await;
    assert_eq!(next["due_date"], "2030-11-03T14:00:00.000000Z");
    assert_eq!(next["remind_at"], "2030-11-03T13:30:00.000000Z");
    let after = next_occurrence(&app, &user, &next).await;
    assert_eq!(after["due_date"], "2030-11-04T14:00:00.000000Z");
    assert_eq!(after["remind_at"], "2030-11-04T13:30:00.000000Z");
}

#[tokio::test]
async fn the_series_is_expanded_in_the_users_zone_not_in_utc() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    // The default zone is UTC: 14:00Z stays 14:00Z across New York's change.
    let utc_user = app.signed_in_user().await;
    let task = recurring(&app, &utc_user, "FREQ=DAILY", "2030-03-09T14:00:00Z", None).await;
    let next = next_occurrence(&app, &utc_user, &task).await;
    assert_eq!(next["due_date"], "2030-03-10T14:00:00.000000Z");
    assert_eq!(next["remind_at"], Value::Null);

    // The zone counts as it is when the task is completed, not when it was created.
    let user = app.signed_in_user().await;
    let task = recurring(&app, &user, "FREQ=DAILY", "2030-03-09T14:00:00Z", None).await;
    set_timezone(&app, &user, "America/New_York").await;
    let next = next_occurrence(&app, &user, &task).await;
    assert_eq!(next["due_date"], "2030-03-10T13:00:00.000000Z");
}

#[tokio::test]
async fn daily_at_nine_in_sydney_stays_nine_local_across_both_changes() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_in(&app, "Australia/Sydney").await;

    // Sydney leaves daylight time on 2030-04-07: 09:00 AEDT is 22:00Z the day before, 09:00 AEST
    // 23:00Z the day before.
    let autumn = recurring(
        &app,
        &user,
        "FREQ=DAILY",
        "2030-04-05T22:00:00Z",
        Some("2030-04-05T21:30:00Z"),
    )
    .await;
    let next = next_occurrence(&app, &user, &autumn).await;
    assert_eq!(next["due_date"], "2030-04-06T23:00:00.000000Z");
    assert_eq!(next["remind_at"], "2030-04-06T22:30:00.000000Z");
    assert_eq!(
        walk(&app, &user, &next, 1).await,
        ["2030-04-07T23:00:00.000000Z"]
    );

    // It enters daylight time again on 2030-10-06.
    let spring = recurring(
        &app,
        &user,
        "FREQ=DAILY",
        "2030-10-04T23:00:00Z",
        Some("2030-10-04T22:30:00Z"),
    )
    .await;
    let next = next_occurrence(&app, &user, &spring).await;
    assert_eq!(next["due_date"], "2030-10-05T22:00:00.000000Z");
    assert_eq!(next["remind_at"], "2030-10-05T21:30:00.000000Z");
    assert_eq!(
        walk(&app, &user, &next, 1).await,
        ["2030-10-06T22:00:00.000000Z"]
    );
}

#[tokio::test]
async fn a_local_time_in_the_spring_forward_gap_keeps_its_series_time() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_in(&app, "America/New_York").await;

    // Daily at 02:30 New York time. 02:30 does not exist on 2030-03-10: RFC 5545 (3.3.10 and
    // 3.3.5) reads that one instance with the offset before the gap, 02:30 EST = 07:30Z (03:30
    // EDT). The series stays at 02:30: the day after is 02:30 EDT = 06:30Z, not 03:30.
    let gap = recurring(&app, &user, "FREQ=DAILY", "2030-03-09T07:30:00Z", None).await;
    assert_eq!(
        walk(&app, &user, &gap, 3).await,
        [
            "2030-03-10T07:30:00.000000Z",
            "2030-03-11T06:30:00.000000Z",
            "2030-03-12T06:30:00.000000Z",
        ]
    );
}

#[tokio::test]
async fn a_local_time_in_the_fall_back_overlap_is_its_first_occurrence() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_in(&app, "America/New_York").await;

    // Daily at 01:30 New York time. 01:30 happens twice on 2030-11-03: RFC 5545 (3.3.5) takes
    // the first, 01:30 EDT = 05:30Z; the day after is 01:30 EST = 06:30Z.
    let overlap = recurring(&app, &user, "FREQ=DAILY", "2030-11-02T05:30:00Z", None).await;
    assert_eq!(
        walk(&app, &user, &overlap, 2).await,
        ["2030-11-03T05:30:00.000000Z", "2030-11-04T06:30:00.000000Z"]
    );
}

// --- rules ------------------------------------------------------------------------------------

#[tokio::test]
async fn monthly_on_the_31st_skips_months_without_one() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = recurring(
        &app,
        &user,
        "FREQ=MONTHLY;BYMONTHDAY=31",
        "2030-01-31T09:00:00Z",
        None,
    )
    .await;

    assert_eq!(
        walk(&app, &user, &task, 3).await,
        [
            "2030-03-31T09:00:00.000000Z",
            "2030-05-31T09:00:00.000000Z",
            "2030-07-31T09:00:00.000000Z",
        ]
    );
}

#[tokio::test]
async fn weekly_by_day_goes_monday_wednesday_monday() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    // 2030-01-07 is a Monday.
    let task = recurring(
        &app,
        &user,
        "FREQ=WEEKLY;BYDAY=MO,WE",
        "2030-01-07T09:00:00Z",
        Some("2030-01-07T08:00:00Z"),
    )
    .await;

    let wednesday = next_occurrence(&app, &user, &task).await;
    assert_eq!(wednesday["due_date"], "2030-01-09T09:00:00.000000Z");
    assert_eq!(wednesday["remind_at"], "2030-01-09T08:00:00.000000Z");
    let monday = next_occurrence(&app, &user, &wednesday).await;
    assert_eq!(monday["due_date"], "2030-01-14T09:00:00.000000Z");
    assert_eq!(monday["remind_at"], "2030-01-14T08:00:00.000000Z");
    let wednesday = next_occurrence(&app, &user, &monday).await;
    assert_eq!(wednesday["due_date"], "2030-01-16T09:00:00.000000Z");
    assert_eq!(app.total_tasks(&user).await, 4);
}

#[tokio::test]
async fn an_rrule_prefix_is_accepted_and_dropped() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = recurring(
        &app,
        &user,
        "RRULE:FREQ=DAILY;INTERVAL=2",
        "2030-01-01T09:00:00Z",
        None,
    )
    .await;
    assert_eq!(task["recurrence_rule"], "FREQ=DAILY;INTERVAL=2");

    let next = next_occurrence(&app, &user, &task).await;
    assert_eq!(next["due_date"], "2030-01-03T09:00:00.000000Z");
    assert_eq!(next["recurrence_rule"], "FREQ=DAILY;INTERVAL=2");
}

// --- the end of a series -------------------------------------------------------------------

#[tokio::test]
async fn count_is_counted_along_the_series() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let first = recurring(
        &app,
        &user,
        "FREQ=DAILY;COUNT=3",
        "2030-01-01T09:00:00Z",
        None,
    )
    .await;

    let second = next_occurrence(&app, &user, &first).await;
    assert_eq!(second["due_date"], "2030-01-02T09:00:00.000000Z");
    assert_eq!(second["recurrence_rule"], "FREQ=DAILY;COUNT=3");
    let third = next_occurrence(&app, &user, &second).await;
    assert_eq!(third["due_date"], "2030-01-03T09:00:00.000000Z");
    assert_eq!(app.total_tasks(&user).await, 3);

    // The third occurrence is the last: completing it (by any route, any number of times)
    // creates nothing.
    let done = complete(&app, &user, &third).await;
    assert_eq!(done["completed"], true);
    assert_eq!(done["successor_id"], Value::Null);
    assert_eq!(
        app.toggled_task(&user, &third["id"]).await["completed"],
        false
    );
    let done = app.toggled_task(&user, &third["id"]).await;
    assert_eq!(done["completed"], true);
    assert_eq!(done["successor_id"], Value::Null);
    assert_eq!(app.fetch_task(&user, &third["id"]).await, done);
    assert_eq!(app.total_tasks(&user).await, 3);
}

#[tokio::test]
async fn a_single_occurrence_rule_has_no_successor() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let only = recurring(
        &app,
        &user,
        "FREQ=WEEKLY;COUNT=1",
        "2030-01-01T09:00:00Z",
        None,
    )
    .await;

    let done = complete(&app, &user, &only).await;
    assert_eq!(done["successor_id"], Value::Null);
    assert_eq!(app.total_tasks(&user).await, 1);
}

#[tokio::test]
async fn a_series_ends_rather_than_continue_past_the_year_9999() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let yearly = recurring(&app, &user, "FREQ=YEARLY", "9999-06-01T12:00:00Z", None).await;
    let done = complete(&app, &user, &yearly).await;
    assert_eq!(done["successor_id"], Value::Null, "{done}");
    // A reminder that would move past 9999 ends it too, though the due date would fit.
    let daily = recurring(
        &app,
        &user,
        "FREQ=DAILY",
        "9999-12-30T12:00:00Z",
        Some("9999-12-31T18:00:00Z"),
    )
    .await;
    let done = complete(&app, &user, &daily).await;
    assert_eq!(done["successor_id"], Value::Null, "{done}");
    assert_eq!(app.total_tasks(&user).await, 2);
    // Nothing stored lies outside the years a filter can name.
    let response = app
        .list_tasks(&user, &[("due_after", "9999-12-31T00:00:00Z")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["total"], 0);
    let response = app
        .list_tasks(&user, &[("due_before", "0000-01-01T00:00:00Z")])
        .await;
    assert_eq!(body(response).await["total"], 0);
}

#[tokio::test]
async fn until_ends_the_series_and_is_inclusive() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let first = recurring(
        &app,
        &user,
        "FREQ=DAILY;UNTIL=20300103T090000Z",
        "2030-01-01T09:00:00Z",
        None,
    )
    .await;

    // UNTIL is the last occurrence itself when it falls on one.
    assert_eq!(
        walk(&app, &user, &first, 2).await,
        ["2030-01-02T09:00:00.000000Z", "2030-01-03T09:00:00.000000Z"]
    );
    let page = body(app.list_tasks(&user, &[("status", "pending")]).await).await;
    let last = &page["items"][0];
    assert_eq!(page["total"], 1);
    assert_eq!(last["due_date"], "2030-01-03T09:00:00.000000Z");

    let done = app.toggled_task(&user, &last["id"]).await;
    assert_eq!(done["completed"], true);
    assert_eq!(done["successor_id"], Value::Null);
    assert_eq!(app.total_tasks(&user).await, 3);
}

#[tokio::test]
async fn until_in_a_users_zone_ends_the_series_in_utc() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_in(&app, "America/New_York").await;
    // 09:00 EST daily until 2030-01-02T20:00Z: the 2nd (14:00Z) is in, the 3rd is not.
    let first = recurring(
        &app,
        &user,
        "FREQ=DAILY;UNTIL=20300102T200000Z",
        "2030-01-01T14:00:00Z",
        None,
    )
    .await;

    let second = next_occurrence(&app, &user, &first).await;
    assert_eq!(second["due_date"], "2030-01-02T14:00:00.000000Z");
    let done = complete(&app, &user, &second).await;
    assert_eq!(done["successor_id"], Value::Null);
    assert_eq!(app.total_tasks(&user).await, 2);
}

// --- one successor per occurrence -----------------------------------------------------------

#[tokio::test]
async fn toggling_again_and_again_creates_one_successor() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = recurring(&app, &user, "FREQ=DAILY", "2030-01-01T09:00:00Z", None).await;

    let first = app.toggled_task(&user, &task["id"]).await;
    let successor = successor_of(&app, &user, &first).await;
    assert_eq!(successor["due_date"], "2030-01-02T09:00:00.000000Z");
    for round in 2..=5 {
        let again = app.toggled_task(&user, &task["id"]).await;
        assert_eq!(again["completed"], round % 2 == 1, "toggle {round}");
        assert_eq!(
            again["successor_id"], successor["id"],
            "toggle {round}: {again}"
        );
    }
    assert_eq!(app.total_tasks(&user).await, 2);
    // The successor was not touched by the later toggles.
    assert_eq!(app.fetch_task(&user, &successor["id"]).await, successor);

    // Un-completing and completing it by PATCH creates nothing either.
    let uncompleted = app
        .patch_task(&user, &task["id"], &json!({"completed": false}))
        .await;
    assert_eq!(uncompleted.status(), StatusCode::OK);
    let again = complete(&app, &user, &task).await;
    assert_eq!(again["successor_id"], successor["id"]);
    assert_eq!(app.total_tasks(&user).await, 2);
}

#[tokio::test]
async fn a_deleted_successor_is_not_made_again() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = recurring(&app, &user, "FREQ=DAILY", "2030-01-01T09:00:00Z", None).await;
    let successor = next_occurrence(&app, &user, &task).await;
    let linked = app.fetch_task(&user, &task["id"]).await;

    let response = app.delete_task(&user, &successor["id"]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let predecessor = app.fetch_task(&user, &task["id"]).await;
    assert_eq!(predecessor["completed"], true);
    assert_eq!(predecessor["successor_id"], Value::Null);
    // Losing its successor is a change of the predecessor: a client syncing by updated_at sees it.
    assert!(
        predecessor["updated_at"].as_str() > linked["updated_at"].as_str(),
        "{predecessor} after {linked}"
    );

    assert_eq!(
        app.toggled_task(&user, &task["id"]).await["completed"],
        false
    );
    let again = app.toggled_task(&user, &task["id"]).await;
    assert_eq!(again["completed"], true);
    assert_eq!(again["successor_id"], Value::Null);
    assert_eq!(app.total_tasks(&user).await, 1);
}

#[tokio::test]
async fn concurrent_toggles_create_one_successor() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = recurring(&app, &user, "FREQ=DAILY", "2030-01-01T09:00:00Z", None).await;

    let responses = join_all((0..8).map(|_| app.toggle_task(&user, &task["id"]))).await;

    let mut completed = 0;
    let mut successor_ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), StatusCode::OK);
        let toggled = body(response).await;
        if toggled["completed"] == true {
            completed += 1;
        }
        successor_ids.push(toggled["successor_id"].clone());
    }
    // Eight toggles of one task: they apply one after another, four of them complete it.
    assert_eq!(completed, 4);
    assert!(successor_ids[0].is_i64(), "{successor_ids:?}");
    assert!(
        successor_ids.iter().all(|id| *id == successor_ids[0]),
        "one successor for all: {successor_ids:?}"
    );
    assert_eq!(app.total_tasks(&user).await, 2);
    let successor = app.fetch_task(&user, &successor_ids[0]).await;
    assert_eq!(successor["due_date"], "2030-01-02T09:00:00.000000Z");
    assert_eq!(successor["completed"], false);
    assert_eq!(app.fetch_task(&user, &task["id"]).await["completed"], false);
}

#[tokio::test]
async fn concurrent_completions_create_one_successor() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let task = recurring(&app, &user, "FREQ=DAILY", "2030-01-01T09:00:00Z", None).await;

    let completion = json!({"completed": true});
    let responses = join_all((0..8).map(|_| app.patch_task(&user, &task["id"], &completion))).await;

    let mut successor_ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), StatusCode::OK);
        let completed = body(response).await;
        assert_eq!(completed["completed"], true);
        successor_ids.push(completed["successor_id"].clone());
    }
    assert!(successor_ids[0].is_i64(), "{successor_ids:?}");
    assert!(
        successor_ids.iter().all(|id| *id == successor_ids[0]),
        "one successor for all: {successor_ids:?}"
    );
    assert_eq!(app.total_tasks(&user).await, 2);
}

// --- what the successor is ------------------------------------------------------------------

#[tokio::test]
async fn completing_by_patch_copies_the_task_and_its_tags() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let home = app
        .create_tag(&user, json!({"name": "home", "color": "#00AA55"}))
        .await;
    let chores = app.create_tag(&user, json!({"name": "chores"})).await;
    let task = app
        .create_task(
            &user,
            json!({
                "title": "Water the plants",
                "description": "The ferns first.",
                "priority": "high",
                "due_date": "2030-05-01T09:00:00Z",
                "remind_at": "2030-05-01T08:45:00Z",
                "recurrence_rule": "FREQ=WEEKLY",
                "tag_ids": [home["id"], chores["id"]],
            }),
        )
        .await;
    let tags = json!([tag_summary(&chores), tag_summary(&home)]);
    assert_eq!(task["tags"], tags);

    let completed = complete(&app, &user, &task).await;
    assert_eq!(completed["completed"], true);
    assert!(completed["completed_at"].is_string(), "{completed}");
    let successor = successor_of(&app, &user, &completed).await;
    assert_eq!(
        successor,
        json!({
            "id": successor["id"],
            "user_id": user.id,
            "title": "Water the plants",
            "description": "The ferns first.",
            "completed": false,
            "completed_at": null,
            "status": "not_started",
            "priority": "high",
            "position": successor["position"],
            "series_id": task["id"],
            "due_date": "2030-05-08T09:00:00.000000Z",
            "remind_at": "2030-05-08T08:45:00.000000Z",
            "recurrence_rule": "FREQ=WEEKLY",
            "tags": tags,
            "created_at": successor["created_at"],
            "updated_at": successor["updated_at"],
            "reminded_at": null,
            "successor_id": null,
        })
    );
    // The completed occurrence keeps its own fields and tags.
    assert_eq!(completed["due_date"], "2030-05-01T09:00:00.000000Z");
    assert_eq!(completed["tags"], tags);

    // The successor is an ordinary task in the list.
    let page = body(app.list_tasks(&user, &[]).await).await;
    assert_eq!(page["total"], 2);
    let listed = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == successor["id"])
        .expect("the successor in the list");
    assert_eq!(listed, &successor);
    let pending = body(app.list_tasks(&user, &[("status", "pending")]).await).await;
    assert_eq!(pending["total"], 1);
    assert_eq!(pending["items"][0]["id"], successor["id"]);
    let by_tag = body(
        app.list_tasks(&user, &[("tag", "home"), ("status", "pending")])
            .await,
    )
    .await;
    assert_eq!(by_tag["total"], 1);
    assert_eq!(by_tag["items"][0]["id"], successor["id"]);
}

#[tokio::test]
async fn completing_by_put_creates_the_successor_from_the_new_values() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let home = app
        .create_tag(&user, json!({"name": "home", "color": "#00AA55"}))
        .await;
    let chores = app
        .create_tag(&user, json!({"name": "chores", "color": "#123456"}))
        .await;
    let task = app
        .create_task(
            &user,
            json!({
                "title": "Old title",
                "due_date": "2030-05-01T09:00:00Z",
                "recurrence_rule": "FREQ=DAILY",
                "tag_ids": [home["id"]],
            }),
        )
        .await;

    // One PUT completes it and changes what the series is: the successor follows the PUT.
    let response = app
        .put_task(
            &user,
            &task["id"],
            &json!({
                "title": "Mop the floor",
                "description": "Kitchen and hall.",
                "priority": "low",
                "completed": true,
                "due_date": "2030-05-02T18:00:00Z",
                "remind_at": "2030-05-02T17:00:00Z",
                "recurrence_rule": "FREQ=WEEKLY",
                "tag_ids": [home["id"], chores["id"]],
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let completed = body(response).await;
    let successor = successor_of(&app, &user, &completed).await;
    let tags = json!([tag_summary(&chores), tag_summary(&home)]);
    assert_eq!(completed["tags"], tags);
    assert_eq!(
        successor,
        json!({
            "id": successor["id"],
            "user_id": user.id,
            "title": "Mop the floor",
            "description": "Kitchen and hall.",
            "completed": false,
            "completed_at": null,
            "status": "not_started",
            "priority": "low",
            "position": successor["position"],
            "series_id": task["id"],
            "due_date": "2030-05-09T18:00:00.000000Z",
            "remind_at": "2030-05-09T17:00:00.000000Z",
            "recurrence_rule": "FREQ=WEEKLY",
            "tags": tags,
            "created_at": successor["created_at"],
            "updated_at": successor["updated_at"],
            "reminded_at": null,
            "successor_id": null,
        })
    );

    // A second PUT that keeps it completed creates nothing more.
    let response = app
        .put_task(
            &user,
            &task["id"],
            &json!({
                "title": "Mop the floor",
                "priority": "low",
                "completed": true,
                "due_date": "2030-05-02T18:00:00Z",
                "recurrence_rule": "FREQ=WEEKLY",
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["successor_id"], successor["id"]);
    assert_eq!(app.total_tasks(&user).await, 2);
}

#[tokio::test]
async fn completing_a_task_without_a_rule_creates_nothing() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let plain = app
        .create_task(
            &user,
            json!({"title": "once", "due_date": "2030-01-01T09:00:00Z"}),
        )
        .await;
    assert_eq!(plain["successor_id"], Value::Null);
    let done = app.toggled_task(&user, &plain["id"]).await;
    assert_eq!(done["completed"], true);
    assert_eq!(done["successor_id"], Value::Null);

    // A rule cleared before completion no longer recurs.
    let cleared = recurring(&app, &user, "FREQ=DAILY", "2030-01-01T09:00:00Z", None).await;
    let response = app
        .patch_task(
            &user,
            &cleared["id"],
            &json!({"recurrence_rule": null, "completed": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let done = body(response).await;
    assert_eq!(done["completed"], true);
    assert_eq!(done["recurrence_rule"], Value::Null);
    assert_eq!(done["successor_id"], Value::Null);
    assert_eq!(app.total_tasks(&user).await, 2);
}

// --- validation: nothing is written -----------------------------------------------------------

#[tokio::test]
async fn creating_a_recurring_task_needs_a_due_date_and_a_valid_rule() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app
        .post_task(
            &user,
            &json!({"title": "no date", "recurrence_rule": "FREQ=DAILY"}),
        )
        .await;
    let error = assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "RECURRENCE_REQUIRES_DUE_DATE",
    )
    .await;
    assert_eq!(error["field"], "due_date");

    let response = app
        .post_task(
            &user,
            &json!({"title": "null date", "due_date": null, "recurrence_rule": "RRULE:FREQ=WEEKLY"}),
        )
        .await;
    let error = assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "RECURRENCE_REQUIRES_DUE_DATE",
    )
    .await;
    assert_eq!(error["field"], "due_date");

    for rule in [
        "every day",
        "FREQ=DAILY;BYHOUR=25",
        "RRULE:",
        "FREQ=MONTHLY;BYMONTHDAY=32",
    ] {
        let response = app
            .post_task(
                &user,
                &json!({"title": "bad rule", "due_date": "2030-01-01T09:00:00Z", "recurrence_rule": rule}),
            )
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_RRULE").await;
        assert_eq!(error["field"], "recurrence_rule", "{rule}");
    }

    assert_eq!(app.total_tasks(&user).await, 0);
    assert_eq!(app.count_rows("tasks").await, 0);
}

#[tokio::test]
async fn replacing_needs_a_due_date_for_a_rule_and_writes_nothing_otherwise() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "kept"})).await;
    let task = app
        .create_task(
            &user,
            json!({
                "title": "Recurring",
                "due_date": "2030-01-01T09:00:00Z",
                "recurrence_rule": "FREQ=DAILY",
                "tag_ids": [tag["id"]],
            }),
        )
        .await;

    // Completing while dropping the due date: refused, so no completion and no successor.
    let response = app
        .put_task(
            &user,
            &task["id"],
            &json!({"title": "Changed", "priority": "high", "completed": true, "recurrence_rule": "FREQ=DAILY"}),
        )
        .await;
    let error = assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "RECURRENCE_REQUIRES_DUE_DATE",
    )
    .await;
    assert_eq!(error["field"], "due_date");

    let response = app
        .put_task(
            &user,
            &task["id"],
            &json!({
                "title": "Changed",
                "priority": "high",
                "completed": true,
                "due_date": "2030-01-01T09:00:00Z",
                "recurrence_rule": "FREQ=SOMETIMES",
            }),
        )
        .await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_RRULE").await;
    assert_eq!(error["field"], "recurrence_rule");

    assert_eq!(app.fetch_task(&user, &task["id"]).await, task);
    assert_eq!(app.total_tasks(&user).await, 1);
}

#[tokio::test]
async fn patching_needs_a_due_date_for_a_rule_and_writes_nothing_otherwise() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let recurring_task = recurring(
        &app,
        &user,
        "FREQ=DAILY",
        "2030-01-01T09:00:00Z",
        Some("2030-01-01T08:00:00Z"),
    )
    .await;
    let undated = app.create_task(&user, json!({"title": "Someday"})).await;

    let refusals = [
        // Clearing the due date of a recurring task.
        (&recurring_task, json!({"due_date": null})),
        // ...even while completing it: no completion, no successor.
        (
            &recurring_task,
            json!({"due_date": null, "completed": true}),
        ),
        // Adding a rule to a task without a due date.
        (&undated, json!({"recurrence_rule": "FREQ=DAILY"})),
        (
            &undated,
            json!({"recurrence_rule": "FREQ=WEEKLY;BYDAY=MO", "title": "Changed"}),
        ),
        // A rule with a due date that is removed in the same request.
        (
            &undated,
            json!({"recurrence_rule": "FREQ=DAILY", "due_date": null, "completed": true}),
        ),
    ];
    for (task, change) in refusals {
        let response = app.patch_task(&user, &task["id"], &change).await;
        let error = assert_error(
            response,
            StatusCode::BAD_REQUEST,
            "RECURRENCE_REQUIRES_DUE_DATE",
        )
        .await;
        assert_eq!(error["field"], "due_date", "{change}");
    }
    for (task, change) in [
        (
            &recurring_task,
            json!({"recurrence_rule": "FREQ=NEVER", "completed": true}),
        ),
        (
            &undated,
            json!({"recurrence_rule": "daily", "due_date": "2030-01-01T09:00:00Z"}),
        ),
    ] {
        let response = app.patch_task(&user, &task["id"], &change).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_RRULE").await;
        assert_eq!(error["field"], "recurrence_rule", "{change}");
    }

    assert_eq!(
        app.fetch_task(&user, &recurring_task["id"]).await,
        recurring_task
    );
    assert_eq!(app.fetch_task(&user, &undated["id"]).await, undated);
    assert_eq!(app.total_tasks(&user).await, 2);

    // Clearing the rule and the due date together is fine, and so is adding both.
    let response = app
        .patch_task(
            &user,
            &recurring_task["id"],
            &json!({"recurrence_rule": null, "due_date": null}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .patch_task(
            &user,
            &undated["id"],
            &json!({"recurrence_rule": "FREQ=DAILY", "due_date": "2030-01-01T09:00:00Z"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let dated = body(response).await;
    assert_eq!(dated["recurrence_rule"], "FREQ=DAILY");
    let next = next_occurrence(&app, &user, &dated).await;
    assert_eq!(next["due_date"], "2030-01-02T09:00:00.000000Z");
}

// --- RFC 5545 validity does not depend on the clock ------------------------------------------

#[tokio::test]
async fn a_rule_whose_until_has_passed_is_still_a_valid_rule() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    // An overdue series from 2020: its UNTIL lies in the past, but the rule is a valid RRULE
    // and the task may be created and walked like any other.
    let response = app
        .post_task(
            &user,
            &json!({
                "title": "old series",
                "due_date": "2020-01-01T09:00:00Z",
                "recurrence_rule": "FREQ=DAILY;UNTIL=20200102T090000Z",
            }),
        )
        .await;
    let status = response.status();
    let first = body(response).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a past UNTIL is refused: {first}"
    );
    let second = next_occurrence(&app, &user, &first).await;
    assert_eq!(second["due_date"], "2020-01-02T09:00:00.000000Z");
    let done = complete(&app, &user, &second).await;
    assert_eq!(done["successor_id"], Value::Null);
}

#[tokio::test]
async fn a_rule_with_both_count_and_until_is_not_a_valid_rrule() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    // RFC 5545 3.3.10: "The UNTIL or COUNT rule parts are OPTIONAL, but they MUST NOT occur in
    // the same 'recur'."
    let response = app
        .post_task(
            &user,
            &json!({
                "title": "both",
                "due_date": "2030-01-01T09:00:00Z",
                "recurrence_rule": "FREQ=DAILY;COUNT=5;UNTIL=20300110T090000Z",
            }),
        )
        .await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_RRULE").await;
    assert_eq!(error["field"], "recurrence_rule");
    assert_eq!(app.total_tasks(&user).await, 0);
}
