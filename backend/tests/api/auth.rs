//! SPEC section 3: register, login, refresh rotation with reuse detection, logout, me, legacy
//! bcrypt hashes and the per-IP rate limits of the authentication routes.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};
use todo_api::core::settings::DatabaseBackend;

use super::helpers::{
    PASSWORD, TEST_SECRET, TestApp, assert_error, body, claims_of, forge_token, refresh_cookie,
    set_cookie_header, unique_email, unix_now,
};

/// `legacy-password` hashed with bcrypt (cost 4), as the Python stack stored it.
const LEGACY_PASSWORD: &str = "legacy-password";
const LEGACY_BCRYPT_HASH: &str = "$2b$04$z94YCrB.xnBF4EaaEsvtkecpT2mtlacKrGHP1OZK2kChI/wIgF/gq";

/// The keys of a JSON object, sorted.
fn keys_of(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// The attributes of a `Set-Cookie` header after the name=value pair, as a set.
fn cookie_attributes(set_cookie: &str) -> BTreeSet<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|attribute| attribute.trim().to_owned())
        .filter(|attribute| !attribute.is_empty())
        .collect()
}

fn set_of(attributes: &[&str]) -> BTreeSet<String> {
    attributes.iter().map(|a| (*a).to_owned()).collect()
}

/// Checks a login or refresh success body: exactly `{access_token, token_type, expires_in}`.
async fn assert_token_body(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let body = body(response).await;
    assert_eq!(
        keys_of(&body),
        ["access_token", "expires_in", "token_type"],
        "{body}"
    );
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&token)["type"], "access");
    token
}

/// Asserts a 429 with a whole number of seconds in `Retry-After`, at least 1.
async fn assert_rate_limited(response: Response) {
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .expect("Retry-After on a 429")
        .to_str()
        .unwrap()
        .to_owned();
    let seconds: u64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is whole seconds, got {retry_after:?}"));
    assert!(seconds >= 1, "Retry-After {seconds}");
    assert_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMIT_EXCEEDED",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Register

#[tokio::test]
async fn register_answers_201_with_exactly_the_user_object() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app
        .register_with(
            &json!({"email": "  Ada.Lovelace@Example.COM ", "password": PASSWORD, "name": "Ada"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user = body(response).await;
    assert_eq!(
        keys_of(&user),
        ["created_at", "email", "id", "name", "timezone"],
        "no password or hash field: {user}"
    );
    uuid::Uuid::parse_str(user["id"].as_str().unwrap()).expect("id is a UUID");
    assert_eq!(user["email"], "ada.lovelace@example.com");
    assert_eq!(user["name"], "Ada");
    assert_eq!(user["timezone"], "UTC");
    let created_at = user["created_at"].as_str().unwrap();
    assert_rfc3339_utc(created_at);
}

#[tokio::test]
async fn register_without_a_name_stores_no_name() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app.register(&unique_email(), PASSWORD).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user = body(response).await;
    assert_eq!(
        keys_of(&user),
        ["created_at", "email", "id", "name", "timezone"]
    );
    assert_eq!(user["name"], Value::Null);
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
fn assert_rfc3339_utc(text: &str) {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    let ok = bytes.len() >= 20
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && text.ends_with('Z')
        && (bytes.len() == 20
            || (bytes[19] == b'.' && bytes.len() > 21 && digits(20..bytes.len() - 1)));
    assert!(ok, "not RFC 3339 UTC with Z: {text:?}");
}

#[tokio::test]
async fn registering_an_email_again_in_another_case_is_email_already_exists() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let first = app.register("grace@example.com", PASSWORD).await;
    assert_eq!(first.status(), StatusCode::CREATED);

    let again = app.register("  GRACE@Example.com", PASSWORD).await;

    let body = assert_error(again, StatusCode::BAD_REQUEST, "EMAIL_ALREADY_EXISTS").await;
    assert_eq!(body["field"], "email");
}

#[tokio::test]
async fn password_length_must_be_between_8_and_128_characters() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let seven = app.register(&unique_email(), &"x".repeat(7)).await;
    let body = assert_error(seven, StatusCode::BAD_REQUEST, "PASSWORD_TOO_SHORT").await;
    assert_eq!(body["field"], "password");

    let eight = app.register(&unique_email(), &"x".repeat(8)).await;
    assert_eq!(eight.status(), StatusCode::CREATED);

    let long_email = unique_email();
    let max = app.register(&long_email, &"x".repeat(128)).await;
    assert_eq!(max.status(), StatusCode::CREATED);
    app.sign_in(&long_email, &"x".repeat(128)).await;

    let too_long = app.register(&unique_email(), &"x".repeat(129)).await;
    let body = assert_error(too_long, StatusCode::BAD_REQUEST, "PASSWORD_TOO_LONG").await;
    assert_eq!(body["field"], "password");
}

#[tokio::test]
async fn a_malformed_email_is_invalid_email() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    for email in [
        "not-an-email",
        "ada@",
        "@example.com",
        "ada@example",
        "a b@example.com",
    ] {
        let response = app.register(email, PASSWORD).await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, "INVALID_EMAIL").await;
        assert_eq!(body["field"], "email", "{email}");
    }
}

#[tokio::test]
async fn missing_unknown_and_mistyped_fields_are_validation_errors_naming_the_field() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let cases = [
        (json!({"email": unique_email()}), "password"),
        (json!({"password": PASSWORD}), "email"),
        (
            json!({"email": unique_email(), "password": PASSWORD, "role": "admin"}),
            "role",
        ),
        (json!({"email": 42, "password": PASSWORD}), "email"),
        (
            json!({"email": unique_email(), "password": ["x"]}),
            "password",
        ),
        (
            json!({"email": unique_email(), "password": PASSWORD, "name": 7}),
            "name",
        ),
    ];

    for (request, field) in cases {
        let response = app.register_with(&request).await;
        let body = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(body["field"], field, "for {request}: {body}");
    }
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_create_exactly_one_account() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let email = unique_email();

    let responses = join_all((0..8).map(|_| app.register(&email, PASSWORD))).await;

    let mut created = 0;
    for response in responses {
        if response.status() == StatusCode::CREATED {
            created += 1;
            assert_eq!(body(response).await["email"], email.as_str());
        } else {
            assert_error(response, StatusCode::BAD_REQUEST, "EMAIL_ALREADY_EXISTS").await;
        }
    }
    assert_eq!(created, 1);
    let accounts = app.count_users_with_email(&email).await;
    assert_eq!(accounts, 1);
}

// ---------------------------------------------------------------------------------------------
// Login

#[tokio::test]
async fn login_with_json_answers_a_bearer_token_for_900_seconds() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    let response = app.login(&email, PASSWORD).await;

    assert!(refresh_cookie(&response).is_some(), "refresh cookie set");
    let token = assert_token_body(response).await;
    let me = app.me(Some(&token)).await;
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_with_the_oauth2_password_form_answers_the_same() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    let response = app.login_form(&email, PASSWORD).await;

    assert!(refresh_cookie(&response).is_some(), "refresh cookie set");
    let token = assert_token_body(response).await;
    let me = app.me(Some(&token)).await;
    assert_eq!(body(me).await["email"], email.as_str());
}

#[tokio::test]
async fn login_email_is_matched_regardless_of_case_and_spaces() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    app.register("hopper@example.com", PASSWORD).await;

    let response = app.login(" Hopper@EXAMPLE.com ", PASSWORD).await;

    assert_token_body(response).await;
}

#[tokio::test]
async fn refresh_cookie_is_httponly_strict_scoped_to_auth_and_lasts_seven_days() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    let response = app.login(&email, PASSWORD).await;

    let cookie = set_cookie_header(&response).expect("Set-Cookie refresh_token");
    assert!(!refresh_cookie(&response).unwrap().is_empty());
    assert_eq!(
        cookie_attributes(&cookie),
        set_of(&[
            "HttpOnly",
            "SameSite=Strict",
            "Path=/api/v1/auth",
            "Max-Age=604800"
        ]),
        "no Secure in development: {cookie}"
    );
    let refresh = refresh_cookie(&response).unwrap();
    assert_eq!(claims_of(&refresh)["type"], "refresh");
}

#[tokio::test]
async fn refresh_cookie_is_secure_in_production() {
    let Some(app) = TestApp::spawn_with(&[
        ("APP_ENV", "production"),
        ("CORS_ORIGINS", "https://app.example.com"),
    ])
    .await
    else {
        return;
    };
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    let response = app.login(&email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);

    let cookie = set_cookie_header(&response).expect("Set-Cookie refresh_token");
    assert_eq!(
        cookie_attributes(&cookie),
        set_of(&[
            "HttpOnly",
            "SameSite=Strict",
            "Path=/api/v1/auth",
            "Max-Age=604800",
            "Secure"
        ]),
        "{cookie}"
    );
}

#[tokio::test]
async fn login_with_wrong_password_and_unknown_email_answer_the_same() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    let wrong_password = app.login(&email, "not the password").await;
    assert!(set_cookie_header(&wrong_password).is_none());
    let wrong_password = assert_error(
        wrong_password,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;

    let unknown_email = app.login(&unique_email(), "not the password").await;
    assert!(set_cookie_header(&unknown_email).is_none());
    let unknown_email = assert_error(
        unknown_email,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;

    assert_eq!(wrong_password["detail"], unknown_email["detail"]);
    assert_eq!(wrong_password.get("field"), unknown_email.get("field"));

    let form = app.login_form(&email, "not the password").await;
    let form = assert_error(form, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    assert_eq!(form["detail"], wrong_password["detail"]);
}

#[tokio::test]
async fn me_returns_the_signed_in_user() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let email = unique_email();
    let registered = body(
        app.register_with(&json!({"email": email, "password": PASSWORD, "name": "Grace"}))
            .await,
    )
    .await;
    let (access, _) = app.sign_in(&email, PASSWORD).await;

    let response = app.me(Some(&access)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, registered);
}

// ---------------------------------------------------------------------------------------------
// Refresh

#[tokio::test]
async fn refresh_rotates_the_cookie_and_returns_a_working_access_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app.refresh(Some(&user.refresh)).await;

    let cookie = set_cookie_header(&response).expect("a rotated cookie");
    assert_eq!(
        cookie_attributes(&cookie),
        set_of(&[
            "HttpOnly",
            "SameSite=Strict",
            "Path=/api/v1/auth",
            "Max-Age=604800"
        ])
    );
    let rotated = refresh_cookie(&response).unwrap();
    assert_ne!(rotated, user.refresh);
    assert_eq!(
        claims_of(&rotated)["sid"],
        claims_of(&user.refresh)["sid"],
        "same session"
    );
    let access = assert_token_body(response).await;
    let me = app.me(Some(&access)).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(body(me).await["id"], user.id.as_str());

    let again = app.refresh(Some(&rotated)).await;
    assert_token_body(again).await;
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_session() {
    // With no rotation overlap even the token just superseded is reuse, at once.
    let Some(app) = TestApp::spawn_with(&[("REFRESH_REUSE_GRACE_SECS", "0")]).await else {
        return;
    };
    let user = app.signed_in_user().await;
    let first = app.refresh(Some(&user.refresh)).await;
    let rotated = refresh_cookie(&first).unwrap();
    let access = assert_token_body(first).await;

    let reuse = app.refresh(Some(&user.refresh)).await;
    assert!(set_cookie_header(&reuse).is_none());
    assert_error(reuse, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;

    let rotated_after_reuse = app.refresh(Some(&rotated)).await;
    assert_error(
        rotated_after_reuse,
        StatusCode::UNAUTHORIZED,
        "TOKEN_REVOKED",
    )
    .await;
    for token in [&access, &user.access] {
        let me = app.me(Some(token)).await;
        assert_error(me, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
    }
}

#[tokio::test]
async fn revoking_one_session_leaves_the_users_other_sessions_alone() {
    let Some(app) = TestApp::spawn_with(&[("REFRESH_REUSE_GRACE_SECS", "0")]).await else {
        return;
    };
    let user = app.signed_in_user().await;
    let (other_access, other_refresh) = app.sign_in(&user.email, PASSWORD).await;
    assert_token_body(app.refresh(Some(&user.refresh)).await).await;

    let reuse = app.refresh(Some(&user.refresh)).await;
    assert_error(reuse, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;

    let me = app.me(Some(&other_access)).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_token_body(app.refresh(Some(&other_refresh)).await).await;
}

/// Checks a refresh that succeeded and returns (refresh cookie, access token); on failure the
/// message carries the error body.
async fn refreshed(response: Response) -> (String, String) {
    if response.status() != StatusCode::OK {
        let status = response.status();
        panic!("refresh answered {status}: {}", body(response).await);
    }
    let cookie = refresh_cookie(&response).expect("a rotated cookie");
    (cookie, assert_token_body(response).await)
}

/// Asserts that `access` works on `/auth/me` as `user_id`.
async fn assert_signed_in(app: &TestApp, access: &str, user_id: &str) {
    let me = app.me(Some(access)).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(body(me).await["id"], user_id);
}

fn session_of(token: &str) -> String {
    claims_of(token)["sid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_refreshes_with_one_cookie_both_succeed_and_keep_the_session() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let session = session_of(&user.refresh);
    let mut cookie = user.refresh.clone();

    for round in 0..5 {
        let (first, second) = tokio::join!(app.refresh(Some(&cookie)), app.refresh(Some(&cookie)));
        let (first_cookie, first_access) = refreshed(first).await;
        let (second_cookie, second_access) = refreshed(second).await;

        // The loser was handed the winner's token, so neither tab holds an orphaned cookie.
        assert_eq!(first_cookie, second_cookie, "round {round}");
        assert_ne!(first_cookie, cookie, "round {round}: rotated");
        assert_ne!(
            first_access, second_access,
            "round {round}: two access tokens"
        );
        assert_signed_in(&app, &first_access, &user.id).await;
        assert_signed_in(&app, &second_access, &user.id).await;
        // Each tab's cookie refreshes on its own afterwards.
        let (next, _) = refreshed(app.refresh(Some(&first_cookie)).await).await;
        let (next_again, _) = refreshed(app.refresh(Some(&second_cookie)).await).await;
        assert_eq!(next, next_again, "round {round}");
        assert_eq!(app.session_is_live(&session, &user.id).await, Some(true));
        cookie = next;
    }
    assert_eq!(app.count_rows("refresh_sessions").await, 1);
}

#[tokio::test]
async fn the_token_just_superseded_is_answered_with_the_current_one_within_the_window() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let (current, access) = refreshed(app.refresh(Some(&user.refresh)).await).await;

    let (again, again_access) = refreshed(app.refresh(Some(&user.refresh)).await).await;

    assert_eq!(again, current, "the current refresh token, not a new one");
    assert_eq!(claims_of(&again)["sid"], claims_of(&user.refresh)["sid"]);
    assert_ne!(again_access, access);
    assert_signed_in(&app, &again_access, &user.id).await;
    assert_signed_in(&app, &access, &user.id).await;
    let (next, next_access) = refreshed(app.refresh(Some(&current)).await).await;
    assert_ne!(next, current);
    assert_signed_in(&app, &next_access, &user.id).await;
    let live = app.session_is_live(&session_of(&current), &user.id).await;
    assert_eq!(live, Some(true));
}

#[tokio::test]
async fn a_password_change_ends_the_rotation_overlap_of_the_session_it_keeps() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let (current, access) = refreshed(app.refresh(Some(&user.refresh)).await).await;
    let response = app
        .change_password(
            user.with_token(Some(&access)),
            PASSWORD,
            "a fresh passphrase",
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // Whoever holds the token the last rotation superseded is now taken for a thief, even
    // within the window: the session ends.
    let reuse = app.refresh(Some(&user.refresh)).await;
    assert!(set_cookie_header(&reuse).is_none());
    assert_error(reuse, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
    let response = app.refresh(Some(&current)).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
}

#[tokio::test]
async fn the_token_just_superseded_revokes_the_session_once_the_window_is_over() {
    let Some(app) = TestApp::spawn_with(&[("REFRESH_REUSE_GRACE_SECS", "1")]).await else {
        return;
    };
    let user = app.signed_in_user().await;
    let (current, access) = refreshed(app.refresh(Some(&user.refresh)).await).await;
    let session = session_of(&current);
    app.set_session_rotated_at(&session, chrono::Utc::now() - chrono::Duration::seconds(2))
        .await;

    let reuse = app.refresh(Some(&user.refresh)).await;
    assert!(set_cookie_header(&reuse).is_none());
    assert_error(reuse, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;

    let response = app.refresh(Some(&current)).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
    let me = app.me(Some(&access)).await;
    assert_error(me, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
    assert_eq!(app.session_is_live(&session, &user.id).await, Some(false));
}

#[tokio::test]
async fn a_token_two_rotations_back_is_reuse_even_within_the_window() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let (second, _) = refreshed(app.refresh(Some(&user.refresh)).await).await;
    let (third, access) = refreshed(app.refresh(Some(&second)).await).await;

    let reuse = app.refresh(Some(&user.refresh)).await;
    assert!(set_cookie_header(&reuse).is_none());
    assert_error(reuse, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;

    let response = app.refresh(Some(&third)).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
    // Revoked, the just-superseded token no longer gets the overlap either.
    let response = app.refresh(Some(&second)).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
    let me = app.me(Some(&access)).await;
    assert_error(me, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
}

#[tokio::test]
async fn refresh_with_a_token_issued_in_the_future_is_invalid_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let mut claims = claims_of(&user.refresh);
    let now = unix_now();
    // Otherwise the session's current token: same jti, sid and expiry.
    claims["iat"] = json!(now + 3600);
    let from_the_future = forge_token(&claims, jsonwebtoken::Algorithm::HS256, TEST_SECRET);

    let response = app.refresh(Some(&from_the_future)).await;
    assert!(set_cookie_header(&response).is_none());
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;

    // A few seconds of clock skew is within the leeway.
    claims["iat"] = json!(now + 5);
    let skewed = forge_token(&claims, jsonwebtoken::Algorithm::HS256, TEST_SECRET);
    let (rotated, access) = refreshed(app.refresh(Some(&skewed)).await).await;
    assert_ne!(rotated, user.refresh);
    assert_signed_in(&app, &access, &user.id).await;
}

#[tokio::test]
async fn refresh_without_a_cookie_is_missing_refresh_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app.refresh(None).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "MISSING_REFRESH_TOKEN").await;

    let response = app.refresh(Some("")).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "MISSING_REFRESH_TOKEN").await;
}

#[tokio::test]
async fn refresh_with_a_garbage_cookie_is_invalid_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    for garbage in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30."] {
        let response = app.refresh(Some(garbage)).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    }
}

#[tokio::test]
async fn refresh_with_an_access_token_in_the_cookie_is_invalid_token_type() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app.refresh(Some(&user.access)).await;

    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN_TYPE").await;
}

#[tokio::test]
async fn refresh_with_an_expired_refresh_token_is_refresh_token_expired() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let real = claims_of(&user.refresh);
    let now = unix_now();
    let expired = forge_token(
        &json!({
            "sub": real["sub"],
            "email": real["email"],
            "iat": now - 8 * 24 * 3600,
            "exp": now - 24 * 3600,
            "jti": uuid::Uuid::new_v4().to_string(),
            "type": "refresh",
            "sid": real["sid"],
        }),
        jsonwebtoken::Algorithm::HS256,
        TEST_SECRET,
    );

    let response = app.refresh(Some(&expired)).await;

    assert_error(response, StatusCode::UNAUTHORIZED, "REFRESH_TOKEN_EXPIRED").await;
}

#[tokio::test]
async fn refresh_with_a_token_signed_by_another_key_is_invalid_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let other_key = "a".repeat(64);
    let forged = forge_token(
        &claims_of(&user.refresh),
        jsonwebtoken::Algorithm::HS256,
        &other_key,
    );

    let response = app.refresh(Some(&forged)).await;

    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
}

// ---------------------------------------------------------------------------------------------
// Logout

#[tokio::test]
async fn logout_clears_the_cookie_and_revokes_the_session() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let response = app.logout(Some(&user.refresh)).await;

    assert_eq!(response.status(), StatusCode::OK);
    let cookie = set_cookie_header(&response).expect("logout clears the cookie");
    assert_eq!(refresh_cookie(&response).unwrap(), "");
    let attributes = cookie_attributes(&cookie);
    assert!(attributes.contains("Max-Age=0"), "{cookie}");
    assert!(attributes.contains("Path=/api/v1/auth"), "{cookie}");
    let body = body(response).await;
    assert_eq!(keys_of(&body), ["message"]);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));

    let refresh = app.refresh(Some(&user.refresh)).await;
    assert_error(refresh, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
    let me = app.me(Some(&user.access)).await;
    assert_error(me, StatusCode::UNAUTHORIZED, "TOKEN_REVOKED").await;
}

#[tokio::test]
async fn logout_without_a_cookie_still_succeeds() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app.logout(None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let cookie = set_cookie_header(&response).expect("the cookie is cleared anyway");
    assert!(cookie_attributes(&cookie).contains("Max-Age=0"), "{cookie}");
    assert!(body(response).await["message"].is_string());

    let garbage = app.logout(Some("garbage")).await;
    assert_eq!(garbage.status(), StatusCode::OK);
}

#[tokio::test]
async fn logging_out_twice_is_harmless() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    assert_eq!(
        app.logout(Some(&user.refresh)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.logout(Some(&user.refresh)).await.status(),
        StatusCode::OK
    );
}

// ---------------------------------------------------------------------------------------------
// Legacy bcrypt hashes

#[tokio::test]
async fn bcrypt_hashes_log_in_and_are_upgraded_to_argon2id() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    for prefix in ["$2a$", "$2b$", "$2y$"] {
        let email = unique_email();
        assert_eq!(
            app.register(&email, PASSWORD).await.status(),
            StatusCode::CREATED
        );
        let legacy = format!("{prefix}{}", &LEGACY_BCRYPT_HASH[4..]);
        app.set_stored_hash(&email, &legacy).await;

        let response = app.login(&email, LEGACY_PASSWORD).await;

        assert_token_body(response).await;
        let upgraded = app.stored_hash(&email).await;
        assert!(
            upgraded.starts_with("$argon2id$"),
            "{prefix}: stored hash is now {}",
            &upgraded[..upgraded.len().min(10)]
        );
        app.sign_in(&email, LEGACY_PASSWORD).await;
    }
}

#[tokio::test]
async fn a_wrong_password_against_a_bcrypt_hash_is_refused_and_keeps_the_hash() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    app.set_stored_hash(&email, LEGACY_BCRYPT_HASH).await;

    let response = app.login(&email, "not-the-legacy-password").await;

    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    assert_eq!(app.stored_hash(&email).await, LEGACY_BCRYPT_HASH);
}

// ---------------------------------------------------------------------------------------------
// Rate limits

#[tokio::test]
async fn the_sixth_login_within_a_minute_is_rate_limited_with_retry_after() {
    let Some(app) = TestApp::spawn_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "5")]).await else {
        return;
    };
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    for attempt in 1..=5 {
        let response = app.login(&email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "login {attempt}");
    }
    let sixth = app.login(&email, PASSWORD).await;

    assert!(set_cookie_header(&sixth).is_none());
    assert_rate_limited(sixth).await;
}

#[tokio::test]
async fn register_and_login_have_separate_budgets() {
    let Some(app) = TestApp::spawn_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "5")]).await else {
        return;
    };
    for _ in 0..5 {
        let response = app.login(&unique_email(), PASSWORD).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_rate_limited(app.login(&unique_email(), PASSWORD).await).await;

    for attempt in 1..=5 {
        let response = app.register(&unique_email(), PASSWORD).await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {attempt}");
    }
    assert_rate_limited(app.register(&unique_email(), PASSWORD).await).await;
}

#[tokio::test]
async fn refresh_gets_twice_the_budget() {
    let Some(app) = TestApp::spawn_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "5")]).await else {
        return;
    };

    for _ in 0..10 {
        let response = app.refresh(None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "MISSING_REFRESH_TOKEN").await;
    }

    assert_rate_limited(app.refresh(None).await).await;
}

#[tokio::test]
async fn a_limit_of_zero_never_limits() {
    let Some(app) = TestApp::spawn_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "0")]).await else {
        return;
    };
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    for attempt in 1..=20 {
        let response = app.login(&email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "login {attempt}");
    }
}

#[tokio::test]
async fn with_trusted_proxy_headers_each_forwarded_address_has_its_own_budget() {
    let Some(app) = TestApp::spawn_with(&[
        ("AUTH_RATE_LIMIT_PER_MINUTE", "5"),
        ("TRUST_PROXY_HEADERS", "true"),
    ])
    .await
    else {
        return;
    };
    let email = unique_email();

    for _ in 0..5 {
        let response = app.login_from(Some("203.0.113.7"), &email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_rate_limited(app.login_from(Some("203.0.113.7"), &email, PASSWORD).await).await;

    let other = app.login_from(Some("203.0.113.8"), &email, PASSWORD).await;
    assert_error(other, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
}

#[tokio::test]
async fn without_trusted_proxy_headers_forwarded_addresses_share_one_budget() {
    let Some(app) = TestApp::spawn_with(&[
        ("AUTH_RATE_LIMIT_PER_MINUTE", "5"),
        ("TRUST_PROXY_HEADERS", "false"),
    ])
    .await
    else {
        return;
    };
    let email = unique_email();

    for n in 1..=5 {
        let response = app
            .login_from(Some(&format!("203.0.113.{n}")), &email, PASSWORD)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    assert_rate_limited(app.login_from(Some("203.0.113.99"), &email, PASSWORD).await).await;
}

/// On PostgreSQL every process on the database takes from one budget per address, so that
/// copies behind a load balancer allow the configured budget in total; on SQLite each process
/// keeps its own.
#[tokio::test]
async fn the_login_budget_is_shared_by_every_process_on_postgresql() {
    let Some(first) = TestApp::spawn_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "5")]).await else {
        return;
    };
    let second = first.spawn_sharing().await;
    let email = unique_email();
    first.register(&email, PASSWORD).await;

    for attempt in 1..=5 {
        let app = if attempt % 2 == 1 { &first } else { &second };
        let response = app.login(&email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "login {attempt}");
    }
    let sixth = second.login(&email, PASSWORD).await;

    if super::BACKEND == DatabaseBackend::Postgres {
        let retry_after: u64 = sixth.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // Five at once, then one every 12 seconds.
        assert!((1..=12).contains(&retry_after), "Retry-After {retry_after}");
        assert_rate_limited(sixth).await;
        // A process started now (a restart) finds the budget spent too.
        let third = first.spawn_sharing().await;
        assert_rate_limited(third.login(&email, PASSWORD).await).await;
    } else {
        // The second process has seen two of the five.
        assert_eq!(sixth.status(), StatusCode::OK);
    }
}

/// Concurrent attempts through two processes: exactly the budget gets through, never more.
#[tokio::test]
async fn concurrent_attempts_through_two_processes_get_exactly_the_shared_budget() {
    if super::BACKEND != DatabaseBackend::Postgres {
        return;
    }
    let Some(first) = TestApp::spawn_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "5")]).await else {
        return;
    };
    let second = first.spawn_sharing().await;

    let attempts = (0..24).map(|n| {
        let app = if n % 2 == 0 { &first } else { &second };
        app.refresh(None)
    });
    let statuses: Vec<StatusCode> = join_all(attempts)
        .await
        .iter()
        .map(Response::status)
        .collect();

    let through = statuses
        .iter()
        .filter(|status| **status == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|status| **status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    // Refresh's budget is twice the setting.
    assert_eq!((through, limited), (10, 14), "{statuses:?}");
}

/// Budgets whole again are deleted; a deleted budget is a whole one.
#[tokio::test]
async fn expired_shared_budgets_are_pruned() {
    if super::BACKEND != DatabaseBackend::Postgres {
        return;
    }
    let Some(app) = TestApp::spawn_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "5")]).await else {
        return;
    };
    for _ in 0..5 {
        app.login(&unique_email(), PASSWORD).await;
    }
    app.register(&unique_email(), PASSWORD).await;
    assert_rate_limited(app.login(&unique_email(), PASSWORD).await).await;
    assert_eq!(app.count_rows("rate_limits").await, 2);

    // Nothing is whole yet: nothing goes.
    assert_eq!(app.store.prune_rate_budgets(1000).await.unwrap(), 0);
    // The login budget's time passes.
    app.execute_sql("UPDATE rate_limits SET tat = 0 WHERE route = 'login'", None)
        .await;
    assert_eq!(app.store.prune_rate_budgets(1000).await.unwrap(), 1);
    assert_eq!(app.count_rows("rate_limits").await, 1);

    let response = app.login(&unique_email(), PASSWORD).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
}

/// When the shared budget cannot be asked (here its table is gone), each process falls back
/// to a budget of its own: attempts are still limited, and none is refused for the error.
#[tokio::test]
async fn without_the_shared_budget_each_process_limits_on_its_own() {
    if super::BACKEND != DatabaseBackend::Postgres {
        return;
    }
    let Some(app) = TestApp::spawn_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "5")]).await else {
        return;
    };
    app.execute_sql("DROP TABLE rate_limits", None).await;

    for attempt in 1..=5 {
        let response = app.login(&unique_email(), PASSWORD).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "login {attempt}"
        );
    }
    assert_rate_limited(app.login(&unique_email(), PASSWORD).await).await;
}
