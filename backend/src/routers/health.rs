//! `/health` (the process runs) and `/health/ready` (the database answers and no migration is
//! pending).

use axum::{Json, Router, extract::State, routing::get};

use crate::{
    core::error::{ApiError, ErrorBody, ErrorCode},
    routers::state::AppState,
    schemas::health::HealthResponse,
    services::health::Readiness,
};

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
    match state.health.readiness().await? {
        Readiness::Ready => Ok(Json(HealthResponse { status: "ok" })),
        Readiness::NotReady(reason) => Err(ApiError::new(ErrorCode::ServiceUnavailable)
            .with_detail(format!("Not ready: {reason}."))),
    }
}
