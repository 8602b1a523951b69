//! Statuses and priorities racing the task writes that use them: a deletion with a replacement
//! while tasks are created with the status, and renames while the tasks are edited. Nothing a
//! race can do leaves a task with a status that is gone, loses an acknowledged write, or answers
//! 500; and the change log, replayed, still gives exactly what listing gives.

use std::collections::{BTreeMap, HashMap};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::helpers::*;

const WRITERS: usize = 24;

async fn status_ids(app: &TestApp, user: &TestUser) -> HashMap<String, i64> {
    let statuses = app.fetch_statuses(user).await;
    statuses
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn deleting_a_status_while_tasks_are_created_with_it_strands_no_task() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let base = format!("/api/v1/users/{}", user.id);
    let response = app
        .post_json(
            &format!("{base}/statuses"),
            Some(&user.access),
            &json!({"name": "waiting"}),
        )
        .await;
    let waiting = body(response).await["id"].as_i64().unwrap();
    let replacement = status_ids(&app, &user).await["in_progress"];

    let creates = (0..WRITERS).map(|n| {
        let (app, user, base) = (&app, &user, &base);
        async move {
            let body = json!({"title": format!("task {n}"), "status": "waiting"});
            let response = app
                .post_json(&format!("{base}/tasks"), Some(&user.access), &body)
                .await;
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    });
    let delete = async {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let path = format!("{base}/statuses/{waiting}?replace_with={replacement}");
        app.send(Method::DELETE, &path, Some(&user.access), None)
            .await
            .status()
    };
    let (answers, deleted) = tokio::join!(join_all(creates), delete);
    assert_eq!(deleted, StatusCode::NO_CONTENT);

    let mut created = Vec::new();
    for (status, answer) in answers {
        match status {
            StatusCode::CREATED => created.push(answer["id"].as_i64().unwrap()),
            // After the deletion the name is unknown; on PostgreSQL a create whose status went
            // between its statement's start and its foreign-key check is refused whole.
            StatusCode::BAD_REQUEST => assert_eq!(answer["code"], "INVALID_STATUS"),
            StatusCode::SERVICE_UNAVAILABLE => assert_eq!(answer["code"], "SERVICE_UNAVAILABLE"),
            other => panic!("a create answered {other}: {answer}"),
        }
    }
    let listed = app.fetch_tasks(&user, &[("limit", "100")]).await;
    let mut listed_ids: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| {
            // Every task has a status that exists: the replacement, for those created before.
            assert_eq!(task["status"], "in_progress", "{task}");
            assert_eq!(task["completed"], false);
            task["id"].as_i64().unwrap()
        })
        .collect();
    listed_ids.sort_unstable();
    created.sort_unstable();
    assert_eq!(
        listed_ids, created,
        "every acknowledged create is kept, nothing else"
    );
    assert!(!status_ids(&app, &user).await.contains_key("waiting"));
}

#[tokio::test]
async fn renames_racing_task_edits_lose_no_edit_and_the_log_replays_to_the_list() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let base = format!("/api/v1/users/{}", user.id);
    let cursor = app.settled_log_end(&user).await;
    let mut ids = Vec::new();
    for n in 0..8 {
        let task = app
            .create_task(&user, json!({"title": format!("t{n}"), "priority": "high"}))
            .await;
        ids.push(task["id"].as_i64().unwrap());
    }
    let high = {
        let priorities = app.fetch_priorities(&user).await;
        priorities
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "high")
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };

    let edits = ids.iter().flat_map(|&id| {
        let (app, user, base) = (&app, &user, &base);
        (0..3).map(move |round| async move {
            let body = json!({"title": format!("t{id} edit {round}")});
            let path = format!("{base}/tasks/{id}");
            let response = app
                .send(Method::PATCH, &path, Some(&user.access), Some(&body))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
        })
    });
    let renames = async {
        for round in 0..6 {
            let path = format!("{base}/priorities/{high}");
            let body = json!({"name": format!("urgent {round}")});
            let response = app
                .send(Method::PATCH, &path, Some(&user.access), Some(&body))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    };
    tokio::join!(join_all(edits), renames);

    // Every task shows the last name, and each its last title (every edit was applied).
    let listed = app.fetch_tasks(&user, &[("limit", "100")]).await;
    let mut shown: BTreeMap<i64, Value> = BTreeMap::new();
    for task in listed["items"].as_array().unwrap() {
        assert_eq!(task["priority"], "urgent 5", "{task}");
        assert!(task["title"].as_str().unwrap().contains("edit"), "{task}");
        shown.insert(task["id"].as_i64().unwrap(), task.clone());
    }
    assert_eq!(shown.len(), ids.len());

    // Replaying the log from before the tasks gives the same tasks, as listed.
    app.settled_log_end(&user).await;
    let mut replayed: BTreeMap<i64, Value> = BTreeMap::new();
    let mut since = cursor;
    loop {
        let page = app
            .fetch_changes(&user, &[("since", since.as_str()), ("limit", "1000")])
            .await;
        for change in page["changes"].as_array().unwrap() {
            let id = change["id"].as_i64().unwrap();
            match change["type"].as_str().unwrap() {
                "task.created" | "task.updated" => {
                    replayed.insert(id, change["data"].clone());
                }
                "task.deleted" => {
                    replayed.remove(&id);
                }
                _ => {}
            }
        }
        since = page["cursor"].as_str().unwrap().to_owned();
        if page["has_more"] != true {
            break;
        }
    }
    assert_eq!(replayed, shown);

    // A rename is in the log for every task that shows it: a client up to date before it
    // learns each task's new name from the changes after it.
    let before = app.settled_log_end(&user).await;
    let path = format!("{base}/priorities/{high}");
    let response = app
        .send(
            Method::PATCH,
            &path,
            Some(&user.access),
            Some(&json!({"name": "final"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    app.settled_log_end(&user).await;
    let page = app
        .fetch_changes(&user, &[("since", before.as_str()), ("limit", "1000")])
        .await;
    let mut updated: Vec<i64> = Vec::new();
    let mut renamed = false;
    for change in page["changes"].as_array().unwrap() {
        match change["type"].as_str().unwrap() {
            "task.updated" => {
                assert_eq!(change["data"]["priority"], "final");
                updated.push(change["id"].as_i64().unwrap());
            }
            "priority.updated" => {
                assert_eq!(change["data"]["name"], "final");
                renamed = true;
            }
            other => panic!("unexpected change {other}"),
        }
    }
    updated.sort_unstable();
    assert!(renamed);
    assert_eq!(updated, ids);
}
