//! `/health` (the process runs) and `/health/ready` (the database answers and no migration is
//! pending).

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{
    core::{
        error::{ApiError, ErrorCode},
        request_id,
    },
    routers::state::AppState,
    schemas::health::{HealthResponse, NotReadyResponse, ReadinessChecks},
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

/// Readiness: 200 when the database answers, every migration is applied and writes are not
/// being refused for the storage; else 503 with the reason and each check's state. Always
/// answers within a second, and only reads.
#[utoipa::path(
    get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready.", body = HealthResponse),
        (status = 503, description = "`SERVICE_UNAVAILABLE`; `detail` says why and `checks` which check failed: waiting for the database at start, database unreachable or slow, migrations pending, or writes refused for the storage (a full disk, a read-only database, I/O errors, damage). Answered within a second.", body = NotReadyResponse),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (reason, checks) = match state.health.readiness().await? {
        Readiness::Ready => return Ok(Json(HealthResponse { status: "ok" }).into_response()),
        Readiness::NotReady { reason, checks } => (reason, checks),
    };
    let body = NotReadyResponse {
        detail: format!("Not ready: {reason}."),
        code: ErrorCode::ServiceUnavailable,
        request_id: request_id::current(),
        checks: ReadinessChecks {
            database: checks.database,
            migrations: checks.migrations,
            storage: checks.storage,
        },
    };
    Ok((ErrorCode::ServiceUnavailable.status(), Json(body)).into_response())
}
