//! Errors (SPEC 6): one JSON shape for every failure, bodies that say which field is wrong and
//! never how the service is built, and request ids on every response.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::helpers::{PASSWORD, TestApp, assert_error, body};

const REGISTER: &str = "/api/v1/auth/register";

/// Words that would betray the implementation if they reached a client.
const INTERNAL_WORDS: &[&str] = &[
    "RegisterRequest",
    "LoginRequest",
    "struct",
    "enum ",
    "sqlx",
    "serde",
    "panicked",
    "::",
    "at line",
    "column",
];

/// Asserts a 422 on `field` whose body leaks nothing internal; returns the body.
async fn assert_validation(response: reqwest::Response, field: &str) -> Value {
    let error = assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(error["field"], field, "{error}");
    assert_no_internals(&error);
    error
}

fn assert_no_internals(error: &Value) {
    let text = error.to_string();
    for word in INTERNAL_WORDS {
        assert!(!text.contains(word), "{word:?} leaked in {text}");
    }
}

fn request_id_header(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .expect("X-Request-Id on every response")
        .to_str()
        .unwrap()
        .to_owned()
}

// --- routing ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_route_is_not_found_in_our_shape() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    for path in ["/nowhere", "/api/v1/nothing-here", "/api/v2/auth/login"] {
        let response = app.get(path, None).await;
        let error = assert_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
        assert!(error.get("field").is_none(), "{error}");
    }
    let response = app
        .post_json("/api/v1/auth/nothing", None, &json!({}))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[tokio::test]
async fn a_wrong_method_is_method_not_allowed_in_our_shape() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app.client.delete(app.url("/health")).send().await.unwrap();
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;

    let response = app.get("/api/v1/auth/login", None).await;
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;

    let response = app
        .send_json(Method::PUT, "/api/v1/auth/register", None, &json!({}))
        .await;
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
}

// --- bodies ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_body_over_64_kib_is_payload_too_large() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let email = "big@example.com";
    let raw = json!({
        "email": email,
        "password": PASSWORD,
        "name": "n".repeat(65 * 1024),
    })
    .to_string();
    assert!(raw.len() > 64 * 1024);

    let response = app.post_raw(REGISTER, "application/json", raw).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;

    // Nobody was registered.
    let registered = app.count_rows("users").await;
    assert_eq!(registered, 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_unsupported_media_type() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let raw = json!({"email": "plain@example.com", "password": PASSWORD}).to_string();

    let response = app.post_raw(REGISTER, "text/plain", raw.clone()).await;
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;

    // No content type at all is the same.
    let response = app
        .client
        .post(app.url(REGISTER))
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
}

#[tokio::test]
async fn malformed_json_is_a_validation_error_on_the_body() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    for raw in [
        r#"{"email": "a@example.com", "password": "#,
        "{not json}",
        "",
    ] {
        let response = app
            .post_raw(REGISTER, "application/json", raw.to_owned())
            .await;
        let error = assert_validation(response, "body").await;
        assert!(
            !error["detail"].as_str().unwrap().contains("line"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_a_validation_error_naming_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app
        .register_with(&json!({"email": 5, "password": PASSWORD}))
        .await;
    assert_validation(response, "email").await;

    let response = app
        .register_with(&json!({"email": "t@example.com", "password": ["a", "b"]}))
        .await;
    assert_validation(response, "password").await;

    let response = app
        .register_with(
            &json!({"email": "t@example.com", "password": PASSWORD, "name": {"first": "Ada"}}),
        )
        .await;
    assert_validation(response, "name").await;
}

#[tokio::test]
async fn a_missing_field_is_a_validation_error_naming_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app.register_with(&json!({"email": "m@example.com"})).await;
    let error = assert_validation(response, "password").await;
    assert!(
        error["detail"].as_str().unwrap().contains("password"),
        "{error}"
    );

    let response = app.register_with(&json!({"password": PASSWORD})).await;
    assert_validation(response, "email").await;
}

#[tokio::test]
async fn an_unknown_field_is_a_validation_error_naming_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app
        .register_with(&json!({"email": "u@example.com", "password": PASSWORD, "is_admin": true}))
        .await;
    let error = assert_validation(response, "is_admin").await;
    assert!(
        error["detail"].as_str().unwrap().contains("is_admin"),
        "{error}"
    );
    // And nothing was created on the way.
    let registered = app.count_rows("users").await;
    assert_eq!(registered, 0);
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_a_validation_error() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    for body in [
        json!(["a@example.com", PASSWORD]),
        // Every field of the request in order: still not an object.
        json!(["array@example.com", PASSWORD, "Ada"]),
        json!("a@example.com"),
        json!(42),
        json!(null),
    ] {
        let response = app.register_with(&body).await;
        let error = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["field"], "body", "{body}: {error}");
        assert_no_internals(&error);
    }
    let registered = app.count_rows("users").await;
    assert_eq!(registered, 0);
}

#[tokio::test]
async fn validation_errors_never_name_internal_types() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let bodies = [
        r#"[1, 2, 3]"#,
        r#"{"email": 5, "password": 6}"#,
        r#"{"email": "x@example.com", "password": true}"#,
        r#"{"email": "x@example.com", "password": "p", "name": 1.5}"#,
        r#"{"email": "x@example.com", "password": "p", "name": []}"#,
        r#"{"email": "x@example.com", "password": "p", "what": 1}"#,
        r#"{"email": "x@example.com"}"#,
        r#"{"email": "x@example.com", "#,
        r#"{"email": "x@example.com", "email": "y@example.com", "password": "p"}"#,
    ];
    for raw in bodies {
        for path in [REGISTER, "/api/v1/auth/login"] {
            let response = app.post_raw(path, "application/json", raw.to_owned()).await;
            let error = assert_error(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "VALIDATION_ERROR",
            )
            .await;
            assert_no_internals(&error);
            assert!(error["field"].is_string(), "{raw} to {path}: {error}");
        }
    }
}

// --- request ids -----------------------------------------------------------------------------

#[tokio::test]
async fn a_sane_request_id_is_echoed_in_the_header_and_the_error_body() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let response = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(request_id_header(&response), "req-123");
    let error = assert_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert_eq!(error["request_id"], "req-123");

    // A success echoes it too.
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "trace:abc.DEF_9-0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(request_id_header(&response), "trace:abc.DEF_9-0");

    // Exactly 128 characters is still sane.
    let long = "a".repeat(128);
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", long.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(request_id_header(&response), long);
}

#[tokio::test]
async fn an_insane_request_id_is_replaced_by_a_uuid() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    for insane in [
        "has spaces in it".to_owned(),
        "a".repeat(129),
        "<script>".to_owned(),
        "semi;colon".to_owned(),
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("x-request-id", insane.as_str())
            .json(&json!({"email": "nobody@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let id = request_id_header(&response);
        assert_ne!(id, insane);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id:?} for {insane:?}");
        let error = assert_error(response, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
        assert_eq!(error["request_id"], id.as_str());
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_each_is_new() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;

    let mut ids = Vec::new();
    let responses = vec![
        app.health().await,
        app.ready().await,
        app.me(Some(&user.access)).await,
        app.get_user(&user).await,
        app.register("fresh@example.com", PASSWORD).await,
        app.login("fresh@example.com", PASSWORD).await,
        app.get("/openapi.json", None).await,
        app.get("/nowhere", None).await,
        app.post_json("/api/v1/auth/logout", None, &json!({})).await,
    ];
    for response in responses {
        assert!(
            response.status().is_success() || response.status() == StatusCode::NOT_FOUND,
            "{}",
            response.status()
        );
        let id = request_id_header(&response);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id:?}");
        ids.push(id);
    }
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "request ids repeat: {ids:?}");
}

#[tokio::test]
async fn an_error_body_has_exactly_the_documented_keys() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };

    let error = assert_error(
        app.get("/nowhere", None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let mut keys: Vec<&str> = error
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "detail", "request_id"]);

    let response = app.register_with(&json!({"email": "k@example.com"})).await;
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let error = body(response).await;
    let mut keys: Vec<&str> = error
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "detail", "field", "request_id"]);
}

#[tokio::test]
async fn a_nul_character_in_stored_text_is_a_validation_error_not_a_500() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let response = app
        .patch_user(&user, &serde_json::json!({"name": "nul\u{0}name"}))
        .await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;

    let profile = body(app.get_user(&user).await).await;
    assert_eq!(profile["name"], serde_json::Value::Null);
}

#[tokio::test]
async fn trailing_data_after_the_json_document_is_malformed_json() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    for raw in [r#"{"title":"x"} trailing"#, r#"{"title":"x"}{"title":"y"}"#] {
        let user = app.signed_in_user().await;
        let response = app.post_task_raw(&user, raw).await;
        let body = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(body["field"], "body", "{raw}");
    }
}

#[tokio::test]
async fn a_duplicated_key_is_a_validation_error_naming_it() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let response = app
        .post_task_raw(&user, r#"{"title":"a","title":"b"}"#)
        .await;
    let body = assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(body["field"], "title");
}

#[tokio::test]
async fn number_type_errors_do_not_name_rust_types() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    for raw in [
        r#"{"title":"x","tag_ids":[1.5]}"#,
        r#"{"title":"x","tag_ids":[99999999999999999999]}"#,
        r#"{"title":"x","tag_ids":[null]}"#,
    ] {
        let user = app.signed_in_user().await;
        let response = app.post_task_raw(&user, raw).await;
        let body = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        )
        .await;
        let detail = body["detail"].as_str().unwrap();
        assert!(
            body["field"].as_str().unwrap().starts_with("tag_ids"),
            "{body}"
        );
        for word in ["i64", "u64", "f64"] {
            assert!(!detail.contains(word), "{detail}");
        }
    }
}

// --- request heads ---------------------------------------------------------------------------

#[tokio::test]
async fn a_url_over_8_kib_is_uri_too_long_in_our_shape() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let user = app.signed_in_user().await;
    let path = format!("/api/v1/users/{}/tasks?q={}", user.id, "a".repeat(8 * 1024));

    let error = assert_error(
        app.get(&path, Some(&user.access)).await,
        StatusCode::URI_TOO_LONG,
        "URI_TOO_LONG",
    )
    .await;
    assert_eq!(error["detail"], "The URL is longer than 8 KiB.");
    // Just under the bound is served.
    let path = format!("/api/v1/users/{}/tasks?q={}", user.id, "a".repeat(7 * 1024));
    assert_eq!(
        app.get(&path, Some(&user.access)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_431_in_our_shape() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let many = (0..120).fold(app.client.get(app.url("/health")), |request, n| {
        request.header(format!("x-filler-{n}"), "1")
    });
    let large = app
        .client
        .get(app.url("/health"))
        .header("x-filler", "a".repeat(20 * 1024));

    for request in [many, large] {
        let response = request.send().await.unwrap();
        let error = assert_error(
            response,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HEADERS_TOO_LARGE",
        )
        .await;
        assert_no_internals(&error);
    }
    let fine = (0..50).fold(app.client.get(app.url("/health")), |request, n| {
        request.header(format!("x-filler-{n}"), "1")
    });
    assert_eq!(fine.send().await.unwrap().status(), StatusCode::OK);
}
