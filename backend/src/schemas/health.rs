//! Bodies of the health routes.

use serde::Serialize;
use utoipa::ToSchema;

/// `{"status": "ok"}`. Not being ready is an error in the usual shape (503).
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}
