//! SPEC section 3, protected routes: how `GET /api/v1/auth/me` treats missing, malformed,
//! forged, expired, mistyped and orphaned bearer tokens. Every refusal is a 401 with
//! `WWW-Authenticate: Bearer` (checked by `assert_error`).

use base64::Engine;
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::{
    PASSWORD, TEST_SECRET, TestApp, TestUser, assert_error, body, claims_of, forge_token, unix_now,
};

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signed-in user whose access token is first shown to work, so that every refusal below is
/// about the change the test makes and nothing else.
async fn user_with_working_token(app: &TestApp) -> TestUser {
    let user = app.signed_in_user().await;
    let response = app.me(Some(&user.access)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["id"], user.id.as_str());
    user
}

async fn assert_invalid_token(app: &TestApp, token: &str) {
    let response = app.me(Some(token)).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
}

#[tokio::test]
async fn a_request_without_authorization_is_missing_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app.me(None).await;

    assert_error(response, StatusCode::UNAUTHORIZED, "MISSING_TOKEN").await;
}

#[tokio::test]
async fn a_basic_authorization_header_is_invalid_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_with_working_token(&app).await;

    let basic = app
        .me_with_authorization("Basic dXNlcjpwYXNzd29yZA==")
        .await;
    assert_error(basic, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;

    let basic_with_real_token = app
        .me_with_authorization(&format!("Basic {}", user.access))
        .await;
    assert_error(
        basic_with_real_token,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_bearer_token_is_invalid_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    for authorization in ["Bearer", "Bearer ", "Bearer not-a-jwt", "Bearer a.b.c"] {
        let response = app.me_with_authorization(authorization).await;
        let body = assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
        assert!(
            !body.to_string().contains("not-a-jwt"),
            "the token is not echoed: {body}"
        );
    }
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_invalid_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_with_working_token(&app).await;
    let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64url(claims_of(&user.access).to_string().as_bytes());

    assert_invalid_token(&app, &format!("{header}.{payload}.")).await;
    // The real signature under an `alg: none` header does not help either.
    let signature = user.access.split('.').nth(2).unwrap();
    assert_invalid_token(&app, &format!("{header}.{payload}.{signature}")).await;
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_invalid_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_with_working_token(&app).await;
    let other_key = "0123456789abcdef".repeat(4);
    assert_ne!(other_key, TEST_SECRET);

    let forged = forge_token(&claims_of(&user.access), Algorithm::HS256, &other_key);

    assert_invalid_token(&app, &forged).await;
}

#[tokio::test]
async fn a_token_with_a_tampered_payload_is_invalid_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let victim = app.signed_in_user().await;
    let attacker = user_with_working_token(&app).await;
    let mut claims = claims_of(&attacker.access);
    claims["sub"] = json!(victim.id);
    claims["sid"] = claims_of(&victim.access)["sid"].clone();
    let parts: Vec<&str> = attacker.access.split('.').collect();

    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        base64url(claims.to_string().as_bytes()),
        parts[2]
    );

    assert_invalid_token(&app, &tampered).await;
}

#[tokio::test]
async fn a_token_signed_with_hs512_is_invalid_token_even_with_the_right_key() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_with_working_token(&app).await;

    let hs512 = forge_token(&claims_of(&user.access), Algorithm::HS512, TEST_SECRET);

    assert_invalid_token(&app, &hs512).await;
}

#[tokio::test]
async fn a_correctly_signed_token_missing_jti_or_type_is_invalid_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_with_working_token(&app).await;
    let claims = claims_of(&user.access);
    // The forging itself is sound: the unmodified claims, re-signed, are accepted.
    let resigned = forge_token(&claims, Algorithm::HS256, TEST_SECRET);
    assert_eq!(app.me(Some(&resigned)).await.status(), StatusCode::OK);

    for missing in ["jti", "type", "sid", "sub", "exp"] {
        let mut partial = claims.clone();
        partial.as_object_mut().unwrap().remove(missing);
        let token = forge_token(&partial, Algorithm::HS256, TEST_SECRET);
        let response = app.me(Some(&token)).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    }
}

#[tokio::test]
async fn an_expired_access_token_is_token_expired() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_with_working_token(&app).await;
    let real = claims_of(&user.access);
    let now = unix_now();
    let expired = json!({
        "sub": real["sub"],
        "email": real["email"],
        "iat": now - 3600,
        "exp": now - 60,
        "jti": uuid::Uuid::new_v4().to_string(),
        "type": "access",
        "sid": real["sid"],
    });

    let token = forge_token(&expired, Algorithm::HS256, TEST_SECRET);
    let response = app.me(Some(&token)).await;

    assert_error(response, StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED").await;
}

#[tokio::test]
async fn an_access_token_issued_in_the_future_is_invalid_token_beyond_a_small_leeway() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_with_working_token(&app).await;
    let mut claims = claims_of(&user.access);
    let now = unix_now();

    claims["iat"] = json!(now + 3600);
    claims["exp"] = json!(now + 3600 + 900);
    let from_the_future = forge_token(&claims, Algorithm::HS256, TEST_SECRET);
    assert_invalid_token(&app, &from_the_future).await;

    claims["iat"] = json!(now + 5);
    claims["exp"] = json!(now + 5 + 900);
    let skewed = forge_token(&claims, Algorithm::HS256, TEST_SECRET);
    let response = app.me(Some(&skewed)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["id"], user.id.as_str());
}

#[tokio::test]
async fn a_refresh_token_used_as_bearer_is_invalid_token_type() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_with_working_token(&app).await;

    let response = app.me(Some(&user.refresh)).await;

    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN_TYPE").await;
}

#[tokio::test]
async fn the_token_of_a_deleted_account_is_invalid_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = user_with_working_token(&app).await;

    let deleted = app.delete_user(&user, PASSWORD).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let response = app.me(Some(&user.access)).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
}

#[tokio::test]
async fn a_validly_signed_token_for_an_unknown_user_and_session_is_invalid_token() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let now = unix_now();
    let claims: Value = json!({
        "sub": uuid::Uuid::new_v4().to_string(),
        "email": "nobody@example.com",
        "iat": now,
        "exp": now + 600,
        "jti": uuid::Uuid::new_v4().to_string(),
        "type": "access",
        "sid": uuid::Uuid::new_v4().to_string(),
    });

    let token = forge_token(&claims, Algorithm::HS256, TEST_SECRET);

    assert_invalid_token(&app, &token).await;
}
