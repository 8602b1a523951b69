//! The request context every request runs in: its id, its span and log line, its time limit,
//! and the JSON answers for routes and methods that do not exist.

use std::{
    any::Any,
    convert::Infallible,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures_util::future::{BoxFuture, Either};
use tower::{Layer, Service};
use tracing::Instrument;

use crate::{
    core::db_health::{Availability, DbHealth},
    core::{
        error::{ApiError, DatabaseUnreachable, ErrorCode},
        request_id,
    },
};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request target served (path and query, in bytes); longer is 414 `URI_TOO_LONG`.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header fields served; more is 431 `HEADERS_TOO_LARGE`.
pub const MAX_HEADER_FIELDS: usize = 100;
/// The most bytes of header names and values served; more is 431 `HEADERS_TOO_LARGE`.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How many header fields hyper parses: above [`MAX_HEADER_FIELDS`], so that a request with a
/// few too many gets [`request_context`]'s answer in the error shape. Beyond its own bounds (this
/// many fields, a target over 65,534 bytes, a head over about 400 KB) hyper answers 431 or 414
/// itself, with an empty body, before any of our code sees the request.
pub const MAX_HEADER_FIELDS_PARSED: usize = 256;
/// The refusal of a request head over the bounds above: 414 or 431.
fn head_refusal(request: &Request) -> Option<ErrorCode> {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if target > MAX_URI_BYTES {
        Some(ErrorCode::UriTooLong)
    } else if headers.len() > MAX_HEADER_FIELDS || bytes > MAX_HEADER_BYTES {
        Some(ErrorCode::HeadersTooLarge)
    } else {
        None
    }
}

/// Gives the request an id (the caller's if sane), runs it inside a span carrying the id, the
/// matched route and later the user id, echoes the id in `X-Request-Id`, and writes one log
/// line when it ends. The raw URI is never logged, so query strings (which may carry an access
/// token) stay out of the logs. A request head over the bounds ([`MAX_URI_BYTES`],
/// [`MAX_HEADER_FIELDS`], [`MAX_HEADER_BYTES`]) is answered 414 or 431 in the error shape.
pub async fn request_context(request: Request, next: Next) -> Response {
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

    let refusal = head_refusal(&request);
    let handled = next.run(request).instrument(span.clone());
    let mut response = request_id::scope(id.clone(), async {
        match refusal {
            Some(code) => ApiError::new(code).into_response(),
            None => handled.await,
        }
    })
    .await;

    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms, "request finished"));
    response
}

/// Answers 503 when the request runs longer than the limit. A change is not dropped: it runs
/// on to its end in its own task ([`RunToCompletionLayer`]), so it may still be made; a read is
/// dropped. It sits inside the CORS layer, so a browser can read the answer.
pub async fn request_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(ErrorCode::ServiceUnavailable)
            .with_detail(
                "The request took too long to answer. Its work may still complete: read the \
                 current state before retrying a change.",
            )
            .into_response(),
    }
}

/// Runs the rest of a request that changes something (any method but `GET`, `HEAD` and
/// `OPTIONS`: extractors, handler and all their database work) as a task of its own, so that
/// once it has started it runs to its end whatever happens to the caller.
///
/// axum drops a request's future when its client disconnects, and [`request_timeout`] and
/// shutdown drop it too. A change dropped half-way would be rolled back, but the client could
/// not tell whether it happened; here only the wait for the answer is dropped, and the change
/// is made whole. (The store itself makes a `BEGIN` cancelled in flight safe, whoever cancels
/// it.) Reads open no transaction (behind a transaction pooler, one that is rolled back) and
/// are simply dropped: their connection goes back to the pool clean; they pass straight
/// through, at no cost. Panics are caught inside the task, by the panic layer under this one.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunToCompletionLayer;

impl<S> Layer<S> for RunToCompletionLayer {
    type Service = RunToCompletion<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RunToCompletion { inner }
    }
}

/// See [`RunToCompletionLayer`].
#[derive(Clone, Debug)]
pub struct RunToCompletion<S> {
    inner: S,
}

impl<S> Service<Request> for RunToCompletion<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        ) {
            return Either::Left(self.inner.call(request));
        }
        // The service that was made ready serves this request; a clone stays for the next.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let id = request_id::current();
        let work = request_id::scope(id, inner.call(request)).instrument(tracing::Span::current());
        Either::Right(Box::pin(async move {
            Ok(match tokio::spawn(work).await {
                Ok(Ok(response)) => response,
                Ok(Err(infallible)) => match infallible {},
                Err(error) if error.is_panic() => panic_response(error.into_panic()),
                Err(error) => ApiError::internal(error).into_response(),
            })
        }))
    }
}

/// In front of every route that needs the database: while the database is known to be
/// unreachable (or not yet prepared at start), answers 503 at once instead of letting the
/// request wait out the pool; and when an answer says the database could not be reached,
/// asks the availability watcher to probe it.
pub async fn database_gate(
    State(health): State<DbHealth>,
    request: Request,
    next: Next,
) -> Response {
    let detail = match health.availability() {
        Availability::Up => {
            let response = next.run(request).await;
            if let Some(unreachable) = response.extensions().get::<DatabaseUnreachable>() {
                health.suspect(unreachable.connection_lost);
            }
            return response;
        }
        Availability::Down => "The database is unreachable; try again shortly.",
        Availability::Starting => "The service is waiting for its database; try again shortly.",
    };
    ApiError::new(ErrorCode::ServiceUnavailable)
        .with_detail(detail)
        .with_retry_after(1)
        .into_response()
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

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, http::StatusCode, routing::get};
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;

    use super::*;

    fn app(timeout: Duration) -> Router {
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "done"
                }),
            )
            .route(
                "/panic",
                get(|| async {
                    if true {
                        panic!("secret internal detail");
                    }
                    "unreachable"
                }),
            )
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(axum::middleware::from_fn_with_state(
                timeout,
                request_timeout,
            ))
            .layer(axum::middleware::from_fn(request_context))
    }

    async fn send(app: Router, path: &str) -> (StatusCode, HeaderValue, serde_json::Value) {
        let request = Request::builder()
            .uri(path)
            .header("x-request-id", "test-id-1")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let id = response.headers()[&X_REQUEST_ID].clone();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        (status, id, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_request_over_the_time_limit_is_answered_503() {
        let (status, id, body) = send(app(Duration::from_millis(50)), "/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(id, "test-id-1");
        assert_eq!(body["code"], "SERVICE_UNAVAILABLE");
        assert_eq!(body["request_id"], "test-id-1");
    }

    #[tokio::test]
    async fn a_panic_is_answered_500_without_its_message() {
        let (status, _, body) = send(app(Duration::from_secs(5)), "/panic").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "INTERNAL_ERROR");
        assert_eq!(body["request_id"], "test-id-1");
        assert!(!body.to_string().contains("secret internal detail"));
    }
}
