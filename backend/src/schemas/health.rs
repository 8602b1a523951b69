//! Bodies of the health routes.

use serde::Serialize;
use utoipa::ToSchema;

/// `{"status": "ok"}`, or `{"status": "unavailable", "reason": …}` from readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
