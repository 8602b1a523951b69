//! Operations (SPEC 7): health, readiness, migrations, request ids, shutdown, docs.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, body};

#[tokio::test]
async fn health_answers_ok() {
    let app = TestApp::spawn().await;
    let response = app.get("/health", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, json!({"status": "ok"}));
}
