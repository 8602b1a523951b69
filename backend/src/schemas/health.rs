//! Bodies of the health routes.

use serde::Serialize;
use utoipa::ToSchema;

use crate::core::error::ErrorCode;

/// `{"status": "ok"}`. Not being ready is an error in the usual shape (503).
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Readiness not given: the error shape (`code` is `SERVICE_UNAVAILABLE`) and the state of each
/// check.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotReadyResponse {
    /// Why, for a person.
    #[schema(
        example = "Not ready: the disk holding the database is full: writes are refused (507) until space is freed."
    )]
    pub detail: String,
    pub code: ErrorCode,
    pub request_id: String,
    pub checks: ReadinessChecks,
}

/// Each check readiness makes: `"ok"`, or a word for what is wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// `ok`, `starting` (not reached yet at start), `unreachable`, or `slow` (no answer within
    /// the readiness deadline).
    #[schema(example = "ok")]
    pub database: &'static str,
    /// `ok`, `pending` (run `todo-api migrate up`), or `unknown` (the database did not say).
    #[schema(example = "ok")]
    pub migrations: &'static str,
    /// `ok`, or why writes are being refused: `full` (answered 507), `read_only`, `io_error`,
    /// `corrupt` (answered 503). Reported while writes fail for it: until one succeeds, or
    /// for 10 seconds after the last one refused.
    #[schema(example = "full")]
    pub storage: &'static str,
}
