//! The account (SPEC 4 and 5 "Account"): reading and changing one's own profile, changing the
//! password, deleting the account, and never touching anybody else's.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::{Caller, PASSWORD, TestApp, assert_error, assert_validation_error, body};

const NEW_PASSWORD: &str = "a much better passphrase";

// --- reading ---------------------------------------------------------------------------------

#[tokio::test]
async fn own_profile_is_the_user_object() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app.get_user(&user).await;
    assert_eq!(response.status(), StatusCode::OK);
    let profile = body(response).await;

    let mut keys: Vec<&str> = profile
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "email", "id", "name", "timezone"]);
    assert_eq!(profile["id"], user.id.as_str());
    assert_eq!(profile["email"], user.email.as_str());
    assert_eq!(profile["name"], Value::Null);
    assert_eq!(profile["timezone"], "UTC");
    assert!(
        profile["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{profile}"
    );
}

#[tokio::test]
async fn another_users_profile_is_forbidden_and_reveals_nothing_about_them() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let me = app.signed_in_user().await;
    let other = app.signed_in_user().await;

    let response = app.get_user(other.with_token(Some(&me.access))).await;
    let error = assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    let text = error.to_string();
    assert!(!text.contains(&other.email), "{text}");
    assert!(!text.contains(&other.id), "{text}");
    assert!(error.get("field").is_none(), "{text}");
}

#[tokio::test]
async fn a_user_id_that_is_not_a_uuid_is_a_validation_error_on_user_id() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    for path in [
        "/api/v1/users/not-a-uuid",
        "/api/v1/users/42",
        "/api/v1/users/not-a-uuid/password",
    ] {
        let response = if path.ends_with("/password") {
            app.post_json(
                path,
                Some(&user.access),
                &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
            )
            .await
        } else {
            app.get(path, Some(&user.access)).await
        };
        let error = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["field"], "user_id", "{path}: {error}");
    }
}

#[tokio::test]
async fn without_a_token_the_answer_is_missing_token_before_the_path_is_looked_at() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    for user_id in [user.id.as_str(), "not-a-uuid"] {
        let response = app
            .get_user(Caller {
                user_id,
                token: None,
            })
            .await;
        assert_error(response, StatusCode::UNAUTHORIZED, "MISSING_TOKEN").await;
    }
    let no_token = user.with_token(None);
    let response = app.patch_user(no_token, &json!({"name": "X"})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "MISSING_TOKEN").await;
    let response = app.change_password(no_token, PASSWORD, NEW_PASSWORD).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "MISSING_TOKEN").await;
    let response = app.delete_user(no_token, PASSWORD).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "MISSING_TOKEN").await;

    // Nothing happened to the account.
    assert_eq!(app.fetch_user(&user).await["name"], Value::Null);
}

// --- changing the profile --------------------------------------------------------------------

#[tokio::test]
async fn patching_name_and_timezone_returns_and_persists_the_new_values() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app
        .patch_user(
            &user,
            &json!({"name": "Ada Lovelace", "timezone": "America/New_York"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated = body(response).await;
    assert_eq!(updated["name"], "Ada Lovelace");
    assert_eq!(updated["timezone"], "America/New_York");
    assert_eq!(updated["id"], user.id.as_str());
    assert_eq!(updated["email"], user.email.as_str());

    let stored = app.fetch_user(&user).await;
    assert_eq!(stored, updated);
    // The signed-in user's own view agrees.
    let me = body(app.me(Some(&user.access)).await).await;
    assert_eq!(me, updated);
}

#[tokio::test]
async fn a_null_name_clears_it_while_an_absent_name_keeps_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let response = app.patch_user(&user, &json!({"name": "Ada"})).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Absent: only the time zone changes.
    let response = app
        .patch_user(&user, &json!({"timezone": "Europe/Paris"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let kept = body(response).await;
    assert_eq!(kept["name"], "Ada");
    assert_eq!(kept["timezone"], "Europe/Paris");

    // An empty object changes nothing.
    let response = app.patch_user(&user, &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, kept);

    // Null: the name is gone, the time zone stays.
    let response = app.patch_user(&user, &json!({"name": null})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cleared = body(response).await;
    assert_eq!(cleared["name"], Value::Null);
    assert_eq!(cleared["timezone"], "Europe/Paris");
    assert_eq!(app.fetch_user(&user).await, cleared);
}

#[tokio::test]
async fn an_invalid_timezone_is_rejected_and_nothing_changes() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let before = app.fetch_user(&user).await;

    for timezone in ["Mars/Olympus_Mons", "", "EST5EDT but not really"] {
        let response = app
            .patch_user(&user, &json!({"name": "Changed", "timezone": timezone}))
            .await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_TIMEZONE").await;
        assert_eq!(error["field"], "timezone", "{timezone:?}: {error}");
    }

    assert_eq!(app.fetch_user(&user).await, before);
}

#[tokio::test]
async fn a_name_of_101_characters_is_a_validation_error_on_name() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app
        .patch_user(&user, &json!({"name": "n".repeat(101)}))
        .await;
    assert_validation_error(response, "name").await;
    assert_eq!(app.fetch_user(&user).await["name"], Value::Null);

    // 100 characters is fine.
    let response = app
        .patch_user(&user, &json!({"name": "n".repeat(100)}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["name"], "n".repeat(100));
}

#[tokio::test]
async fn an_unknown_field_in_a_patch_is_a_validation_error_naming_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let before = app.fetch_user(&user).await;

    let response = app
        .patch_user(
            &user,
            &json!({"name": "Ada", "email": "someone-else@example.com"}),
        )
        .await;
    assert_validation_error(response, "email").await;

    assert_eq!(app.fetch_user(&user).await, before);
}

#[tokio::test]
async fn patching_another_user_is_forbidden_and_leaves_them_unchanged() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let me = app.signed_in_user().await;
    let other = app.signed_in_user().await;
    let before = app.fetch_user(&other).await;

    let response = app
        .patch_user(
            other.with_token(Some(&me.access)),
            &json!({"name": "Mallory", "timezone": "Asia/Tokyo"}),
        )
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    assert_eq!(app.fetch_user(&other).await, before);
    // And the caller's own profile did not take the change either.
    assert_eq!(app.fetch_user(&me).await["name"], Value::Null);
}

// --- changing the password -------------------------------------------------------------------

#[tokio::test]
async fn a_wrong_current_password_is_invalid_credentials_and_the_password_stays() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app
        .change_password(&user, "not my password", NEW_PASSWORD)
        .await;
    let error = assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    assert_eq!(error["field"], "current_password");

    assert_eq!(
        app.login(&user.email, PASSWORD).await.status(),
        StatusCode::OK
    );
    let response = app.login(&user.email, NEW_PASSWORD).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    // The session that tried is still fine.
    let response = app.me(Some(&user.access)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_new_password_of_7_characters_is_too_short() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app.change_password(&user, PASSWORD, "1234567").await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "PASSWORD_TOO_SHORT").await;
    assert_eq!(error["field"], "new_password");
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_new_password_of_129_characters_is_too_long() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app.change_password(&user, PASSWORD, &"p".repeat(129)).await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "PASSWORD_TOO_LONG").await;
    assert_eq!(error["field"], "new_password");
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn changing_the_password_answers_204_and_only_the_new_password_signs_in() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app.change_password(&user, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers().contains_key("x-request-id"));
    assert!(response.bytes().await.unwrap().is_empty());

    let response = app.login(&user.email, PASSWORD).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    let response = app.login(&user.email, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["token_type"], "bearer");
}

#[tokio::test]
async fn changing_password_revokes_other_sessions_but_keeps_this_one() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let (other_access, other_refresh) = app.sign_in(&user.email, PASSWORD).await;
    // Both sessions work before the change.
    let response = app.me(Some(&other_access)).await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = app.change_password(&user, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // The other session is dead: its refresh token and its access token alike.
    let response = app.refresh(Some(&other_refresh)).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
    let response = app.me(Some(&other_access)).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
    let response = app.get_user(user.with_token(Some(&other_access))).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;

    // The session that made the change carries on.
    let response = app.me(Some(&user.access)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["id"], user.id.as_str());
    let response = app.refresh(Some(&user.refresh)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let fresh = body(response).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app.me(Some(&fresh)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn changing_another_users_password_is_forbidden() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let me = app.signed_in_user().await;
    let other = app.signed_in_user().await;

    let response = app
        .change_password(other.with_token(Some(&me.access)), PASSWORD, NEW_PASSWORD)
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    assert_eq!(
        app.login(&other.email, PASSWORD).await.status(),
        StatusCode::OK
    );
    let response = app.me(Some(&other.access)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

// --- deleting the account --------------------------------------------------------------------

#[tokio::test]
async fn deleting_with_a_wrong_password_is_invalid_credentials_and_the_account_stays() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app.delete_user(&user, "not my password").await;
    let error = assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    assert_eq!(error["field"], "password");

    assert_eq!(app.fetch_user(&user).await["id"], user.id.as_str());
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.count_rows_with("users", "id", &user.id).await, 1);
}

#[tokio::test]
async fn deleting_the_account_removes_the_user_and_every_session() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let (_, second_refresh) = app.sign_in(&user.email, PASSWORD).await;
    assert_eq!(
        app.count_rows_with("refresh_sessions", "user_id", &user.id)
            .await,
        2
    );

    let response = app.delete_user(&user, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());

    let response = app.login(&user.email, PASSWORD).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    let response = app.me(Some(&user.access)).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    let response = app.get_user(&user).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    for refresh in [&user.refresh, &second_refresh] {
        let response = app.refresh(Some(refresh)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let error = body(response).await;
        assert!(
            ["TOKEN_REVOKED", "INVALID_TOKEN"].contains(&error["code"].as_str().unwrap()),
            "{error}"
        );
    }

    assert_eq!(
        app.count_rows_with("refresh_sessions", "user_id", &user.id)
            .await,
        0
    );
    assert_eq!(app.count_rows_with("users", "id", &user.id).await, 0);

    // The email is free again.
    assert_eq!(
        app.register(&user.email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn deleting_another_user_is_forbidden_and_they_still_exist() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let me = app.signed_in_user().await;
    let other = app.signed_in_user().await;

    let response = app
        .delete_user(other.with_token(Some(&me.access)), PASSWORD)
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    assert_eq!(app.count_rows_with("users", "id", &other.id).await, 1);
    assert_eq!(app.fetch_user(&other).await["id"], other.id.as_str());
    assert_eq!(
        app.login(&other.email, PASSWORD).await.status(),
        StatusCode::OK
    );
    // Nor was the caller's own account touched.
    assert_eq!(app.fetch_user(&me).await["id"], me.id.as_str());
}
