//! Cross-cutting pieces: settings, errors, security, extractors, rate limits, request context.

pub mod error;
pub mod extract;
pub mod middleware;
pub mod rate_limit;
pub mod request_id;
pub mod security;
pub mod settings;
pub mod telemetry;
