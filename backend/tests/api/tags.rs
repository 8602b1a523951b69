//! Tags (SPEC 5): create, list, read, replace, partial update, delete, name uniqueness.

use futures_util::future::join;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::helpers::{
    TestApp, assert_error, assert_validation_error, body, tag_path, tags_path, utc_time,
};

fn names(tags: &Value) -> Vec<&str> {
    tags.as_array()
        .expect("a JSON array")
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn create_tag_answers_201_with_location_and_the_tag() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app
        .post_tag(&user, &json!({"name": "  Errands  ", "color": "#A1B2C3"}))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let tag = body(response).await;
    let id = tag["id"].as_i64().expect("a numeric id");
    assert_eq!(location, format!("/api/v1/users/{}/tags/{id}", user.id));
    utc_time(&tag["created_at"]);
    assert_eq!(
        tag,
        json!({"id": id, "name": "Errands", "color": "#A1B2C3", "created_at": tag["created_at"]})
    );

    let fetched = app.get(&location, Some(&user.access)).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(body(fetched).await, tag);

    let plain = app.create_tag(&user, json!({"name": "plain"})).await;
    assert_eq!(plain["color"], Value::Null);
}

#[tokio::test]
async fn tag_name_must_be_1_to_50_characters_after_trimming() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let longest = "n".repeat(50);
    let tag = app
        .create_tag(&user, json!({"name": format!(" {longest} ")}))
        .await;
    assert_eq!(tag["name"], longest.as_str());

    for name in ["n".repeat(51), String::new(), " \t ".to_owned()] {
        let response = app.post_tag(&user, &json!({"name": name})).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_TAG_NAME").await;
        assert_eq!(error["field"], "name");
    }
    assert_eq!(names(&app.fetch_tags(&user).await), [longest.as_str()]);
}

#[tokio::test]
async fn tag_color_must_be_a_hash_and_six_hex_digits() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    for (i, color) in ["#A1B2C3", "#a1b2c3", "#000000"].into_iter().enumerate() {
        let tag = app
            .create_tag(&user, json!({"name": format!("ok{i}"), "color": color}))
            .await;
        assert_eq!(tag["color"], color);
    }
    for color in ["red", "#12345", "123456", "#1234567", "#GGGGGG", ""] {
        let response = app
            .post_tag(&user, &json!({"name": "bad", "color": color}))
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_COLOR").await;
        assert_eq!(error["field"], "color", "color {color:?}");
    }
    assert_eq!(app.fetch_tags(&user).await.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn duplicate_tag_name_in_another_case_is_rejected() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    app.create_tag(&user, json!({"name": "Work"})).await;

    for name in ["Work", "work", "  WORK "] {
        let response = app.post_tag(&user, &json!({"name": name})).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "TAG_ALREADY_EXISTS").await;
        assert_eq!(error["field"], "name");
    }
    assert_eq!(names(&app.fetch_tags(&user).await), ["Work"]);

    // Names are unique per user only.
    let other = app.signed_in_user().await;
    app.create_tag(&other, json!({"name": "work"})).await;
}

#[tokio::test]
async fn tags_are_listed_by_name_case_insensitively_and_not_paginated() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    assert_eq!(app.fetch_tags(&user).await, json!([]));

    let mut created = Vec::new();
    for name in ["beta", "Alpha", "gamma"] {
        created.push(app.create_tag(&user, json!({"name": name})).await);
    }
    let tags = app.fetch_tags(&user).await;
    assert_eq!(tags, json!([created[1], created[0], created[2]]));

    for i in 0..25 {
        app.create_tag(&user, json!({"name": format!("extra {i:02}")}))
            .await;
    }
    let tags = app.fetch_tags(&user).await;
    assert_eq!(tags.as_array().unwrap().len(), 28);
}

#[tokio::test]
async fn get_unknown_tag_is_404_and_a_malformed_id_is_422() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app.get_tag(&user, "999999").await;
    assert_error(response, StatusCode::NOT_FOUND, "TAG_NOT_FOUND").await;

    let response = app.get_tag(&user, "abc").await;
    assert_validation_error(response, "tag_id").await;
}

#[tokio::test]
async fn put_replaces_name_and_color_and_an_omitted_color_becomes_null() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app
        .create_tag(&user, json!({"name": "old", "color": "#111111"}))
        .await;

    let response = app
        .put_tag(
            &user,
            &tag["id"],
            &json!({"name": " new ", "color": "#222222"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let replaced = body(response).await;
    assert_eq!(
        replaced,
        json!({"id": tag["id"], "name": "new", "color": "#222222", "created_at": tag["created_at"]})
    );

    let response = app
        .put_tag(&user, &tag["id"], &json!({"name": "new"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["color"], Value::Null);
    assert_eq!(app.fetch_tag(&user, &tag["id"]).await["color"], Value::Null);

    let response = app
        .put_tag(&user, &tag["id"], &json!({"color": "#333333"}))
        .await;
    assert_validation_error(response, "name").await;

    let cases = [
        (json!({"name": " "}), "INVALID_TAG_NAME"),
        (json!({"name": "n".repeat(51)}), "INVALID_TAG_NAME"),
        (json!({"name": "new", "color": "blue"}), "INVALID_COLOR"),
    ];
    for (request, code) in cases {
        let response = app.put_tag(&user, &tag["id"], &request).await;
        assert_error(response, StatusCode::BAD_REQUEST, code).await;
    }
    assert_eq!(app.fetch_tag(&user, &tag["id"]).await["name"], "new");

    let response = app.put_tag(&user, 999999, &json!({"name": "x"})).await;
    assert_error(response, StatusCode::NOT_FOUND, "TAG_NOT_FOUND").await;
}

#[tokio::test]
async fn patch_changes_only_the_fields_present() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app
        .create_tag(&user, json!({"name": "home", "color": "#00FF00"}))
        .await;

    let response = app
        .patch_tag(&user, &tag["id"], &json!({"name": "House"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body(response).await,
        json!({"id": tag["id"], "name": "House", "color": "#00FF00", "created_at": tag["created_at"]})
    );

    let response = app
        .patch_tag(&user, &tag["id"], &json!({"color": "#0000FF"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let patched = body(response).await;
    assert_eq!(
        (&patched["name"], &patched["color"]),
        (&json!("House"), &json!("#0000FF"))
    );

    let response = app
        .patch_tag(&user, &tag["id"], &json!({"color": null}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cleared = body(response).await;
    assert_eq!(
        (&cleared["name"], &cleared["color"]),
        (&json!("House"), &Value::Null)
    );
    assert_eq!(app.fetch_tag(&user, &tag["id"]).await, cleared);

    let response = app
        .patch_tag(&user, &tag["id"], &json!({"name": null}))
        .await;
    assert_validation_error(response, "name").await;
    let cases = [
        (json!({"name": ""}), "INVALID_TAG_NAME"),
        (json!({"color": "#12345"}), "INVALID_COLOR"),
    ];
    for (request, code) in cases {
        let response = app.patch_tag(&user, &tag["id"], &request).await;
        assert_error(response, StatusCode::BAD_REQUEST, code).await;
    }
    assert_eq!(app.fetch_tag(&user, &tag["id"]).await, cleared);
}

#[tokio::test]
async fn renaming_to_a_taken_name_is_rejected_but_to_its_own_name_in_another_case_works() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let work = app.create_tag(&user, json!({"name": "Work"})).await;
    let home = app
        .create_tag(&user, json!({"name": "home", "color": "#ABCDEF"}))
        .await;

    for method in [Method::PATCH, Method::PUT] {
        let response = app
            .send_json(
                method,
                &tag_path(&user, &home),
                Some(&user.access),
                &json!({"name": "WORK"}),
            )
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "TAG_ALREADY_EXISTS").await;
        assert_eq!(error["field"], "name");
    }
    assert_eq!(app.fetch_tag(&user, &home["id"]).await, home);

    let response = app
        .patch_tag(&user, &work["id"], &json!({"name": "WORK"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["name"], "WORK");

    let response = app
        .put_tag(&user, &work["id"], &json!({"name": "work"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["name"], "work");
    assert_eq!(names(&app.fetch_tags(&user).await), ["home", "work"]);
}

#[tokio::test]
async fn a_renamed_tag_shows_its_new_name_on_its_tasks() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "before"})).await;
    let task = app
        .create_task(&user, json!({"title": "t", "tag_ids": [tag["id"]]}))
        .await;

    let response = app
        .patch_tag(
            &user,
            &tag["id"],
            &json!({"name": "after", "color": "#123456"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = app.get_task(&user, &task["id"]).await;
    assert_eq!(
        body(response).await["tags"],
        json!([{"id": tag["id"], "name": "after", "color": "#123456"}])
    );
}

#[tokio::test]
async fn delete_tag_is_204_and_its_tasks_stay_without_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "doomed"})).await;
    let task = app
        .create_task(&user, json!({"title": "Survivor", "tag_ids": [tag["id"]]}))
        .await;

    let response = app.delete_tag(&user, &tag["id"]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response = app.get_tag(&user, &tag["id"]).await;
    assert_error(response, StatusCode::NOT_FOUND, "TAG_NOT_FOUND").await;
    assert_eq!(app.fetch_tags(&user).await, json!([]));

    let response = app.get_task(&user, &task["id"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let survivor = body(response).await;
    assert_eq!(survivor["title"], "Survivor");
    assert_eq!(survivor["tags"], json!([]));

    let response = app.delete_tag(&user, &tag["id"]).await;
    assert_error(response, StatusCode::NOT_FOUND, "TAG_NOT_FOUND").await;
}

#[tokio::test]
async fn concurrent_rename_and_create_of_one_name_let_exactly_one_win() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    for round in 0..5 {
        let tag = app
            .create_tag(&user, json!({"name": format!("original {round}")}))
            .await;
        let rename_body = json!({"name": format!("Shared {round}")});
        let create_body = json!({"name": format!("shared {round}")});
        let rename = app.patch_tag(&user, &tag["id"], &rename_body);
        let create = app.post_tag(&user, &create_body);
        let (renamed, created) = join(rename, create).await;

        let outcome = (renamed.status(), created.status());
        let loser = match outcome {
            (StatusCode::OK, StatusCode::BAD_REQUEST) => created,
            (StatusCode::BAD_REQUEST, StatusCode::CREATED) => renamed,
            _ => panic!(
                "round {round}: rename {} and create {}",
                outcome.0, outcome.1
            ),
        };
        assert_error(loser, StatusCode::BAD_REQUEST, "TAG_ALREADY_EXISTS").await;

        let tags = app.fetch_tags(&user).await;
        let shared: Vec<&str> = names(&tags)
            .into_iter()
            .filter(|name| name.eq_ignore_ascii_case(&format!("shared {round}")))
            .collect();
        assert_eq!(shared.len(), 1, "round {round}: {tags}");
    }
}

#[tokio::test]
async fn concurrent_patches_of_different_fields_both_apply() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    for round in 0..10 {
        let tag = app
            .create_tag(
                &user,
                json!({"name": format!("before {round}"), "color": "#000000"}),
            )
            .await;
        let rename_body = json!({"name": format!("after {round}")});
        let recolor_body = json!({"color": "#FFFFFF"});
        let rename = app.patch_tag(&user, &tag["id"], &rename_body);
        let recolor = app.patch_tag(&user, &tag["id"], &recolor_body);
        let (renamed, recolored) = join(rename, recolor).await;
        assert_eq!(renamed.status(), StatusCode::OK);
        assert_eq!(recolored.status(), StatusCode::OK);

        let current = app.fetch_tag(&user, &tag["id"]).await;
        assert_eq!(
            (&current["name"], &current["color"]),
            (&json!(format!("after {round}")), &json!("#FFFFFF")),
            "round {round}: one PATCH undid the other"
        );
    }
}

#[tokio::test]
async fn a_tag_name_with_a_nul_character_is_a_client_error_not_a_500() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let tag = app.create_tag(&user, json!({"name": "untouched"})).await;
    let request = json!({"name": "a\u{0}b"});

    for (method, path) in [
        (Method::POST, tags_path(&user)),
        (Method::PUT, tag_path(&user, &tag)),
        (Method::PATCH, tag_path(&user, &tag)),
    ] {
        let response = app
            .send_json(method, &path, Some(&user.access), &request)
            .await;
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
    }
    assert_eq!(app.fetch_tags(&user).await, json!([tag]));
}

/// The examples the document gives (what Swagger UI's "Try it out" sends) succeed as they stand.
#[tokio::test]
async fn the_documented_tag_examples_succeed_as_they_stand() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let examples = app.documented_examples().await;
    let example = |schema: &str| examples[schema]["example"].clone();

    let response = app.post_tag(&user, &example("TagRequest")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let tag = body(response).await;
    assert_eq!(
        (&tag["name"], &tag["color"]),
        (&json!("work"), &json!("#3366FF"))
    );
    let response = app
        .patch_tag(&user, &tag["id"], &example("UpdateTagRequest"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["color"], "#FF8800");
}
