//! `/health` (the process runs) and `/health/ready` (the database answers and no migration is
//! pending).

use axum::{Json, Router, extract::State, routing::get};

use std::time::Duration;

use crate::{
    app::AppState,
    core::error::{ApiError, ErrorBody, ErrorCode},
    db::availability::Availability,
    schemas::health::HealthResponse,
};

/// The longest readiness takes to answer (orchestrators' probes commonly give up after 1 s).
const READY_WITHIN: Duration = Duration::from_millis(800);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
}

/// Liveness: 200 whenever the process serves requests.
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = HealthResponse))
)]
pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok" })
}

/// Readiness: 200 when the database answers and every migration is applied, else 503 with the
/// reason. Always answers within a second, and only reads.
#[utoipa::path(
    get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready.", body = HealthResponse),
        (status = 503, description = "`SERVICE_UNAVAILABLE`; `detail` says why (waiting for the database at start, database unreachable, or migrations pending). Answered within a second.", body = ErrorBody),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Result<Json<HealthResponse>, ApiError> {
    let health = state.store.health().clone();
    let reason = match health.availability() {
        Availability::Starting => "waiting for the database to be reachable at start".to_owned(),
        Availability::Down => "the database is unreachable".to_owned(),
        Availability::Up => {
            // Its own task, so that the check finishes cleanly when the answer has gone.
            let store = state.store.clone();
            let check = tokio::spawn(async move { store.migration_status().await });
            match tokio::time::timeout(READY_WITHIN, check).await {
                Ok(Ok(Ok(status))) => match status.iter().filter(|m| !m.applied).count() {
                    0 => return Ok(Json(HealthResponse { status: "ok" })),
                    n => format!("{n} database migration(s) pending; run `todo-api migrate up`"),
                },
                Ok(Ok(Err(error))) => {
                    tracing::warn!(%error, "readiness check failed");
                    if let sqlx::migrate::MigrateError::Execute(error) = &error
                        && crate::db::is_unavailable(error)
                    {
                        health.suspect(!matches!(error, sqlx::Error::PoolTimedOut));
                    }
                    "the database is unreachable".to_owned()
                }
                Ok(Err(error)) => return Err(ApiError::internal(error)),
                Err(_) => {
                    health.suspect(false);
                    format!("the database did not answer within {READY_WITHIN:?}")
                }
            }
        }
    };
    Err(ApiError::new(ErrorCode::ServiceUnavailable).with_detail(format!("Not ready: {reason}.")))
}
