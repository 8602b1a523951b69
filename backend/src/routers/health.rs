//! `/health` (the process runs) and `/health/ready` (the database answers and no migration is
//! pending).

use axum::{Json, Router, extract::State, routing::get};

use crate::{
    app::AppState,
    core::error::{ApiError, ErrorBody, ErrorCode},
    schemas::health::HealthResponse,
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
/// reason.
#[utoipa::path(
    get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready.", body = HealthResponse),
        (status = 503, description = "`SERVICE_UNAVAILABLE`; `detail` says why (database unreachable or migrations pending).", body = ErrorBody),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Result<Json<HealthResponse>, ApiError> {
    let reason = match pending_migrations(&state).await {
        Ok(0) => {
            return Ok(Json(HealthResponse { status: "ok" }));
        }
        Ok(n) => format!("{n} database migration(s) pending; run `todo-api migrate up`"),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            "the database is unreachable".to_owned()
        }
    };
    Err(ApiError::new(ErrorCode::ServiceUnavailable).with_detail(format!("Not ready: {reason}.")))
}

async fn pending_migrations(state: &AppState) -> Result<usize, sqlx::migrate::MigrateError> {
    let status = state.store.migration_status().await?;
    Ok(status.iter().filter(|m| !m.applied).count())
}
