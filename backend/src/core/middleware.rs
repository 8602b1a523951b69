//! The request context every request runs in: its id, its span and log line, its time limit,
//! and the JSON answers for routes and methods that do not exist.

use std::{
    any::Any,
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tracing::Instrument;

use crate::core::{
    error::{ApiError, ErrorCode},
    request_id,
};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Gives the request an id (the caller's if sane), runs it inside a span carrying the id, the
/// matched route and later the user id, bounds it by the request timeout, echoes the id in
/// `X-Request-Id`, and writes one log line when it ends. The raw URI is never logged, so query
/// strings (which may carry an access token) stay out of the logs.
pub async fn request_context(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let id = request_id::from_header(request.headers().get(&X_REQUEST_ID));
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        route = %route,
        user_id = tracing::field::Empty,
    );
    let started = Instant::now();

    let work = async move {
        match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::new(ErrorCode::ServiceUnavailable)
                .with_detail("The request took too long and was cancelled.")
                .into_response(),
        }
    };
    let mut response = request_id::scope(id.clone(), work.instrument(span.clone())).await;

    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms, "request finished"));
    response
}

/// Turns a panic in a handler into our 500 body; the panic message is logged, never sent.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}

/// 404 for any path no route matches.
pub async fn route_not_found() -> ApiError {
    ErrorCode::NotFound.into()
}

/// 405 for a known path with a method it does not accept.
pub async fn method_not_allowed() -> ApiError {
    ErrorCode::MethodNotAllowed.into()
}
