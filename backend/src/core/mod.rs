//! What sits below every layer: settings, errors, security primitives (JWT, passwords), rate
//! limits, the request context middleware, telemetry and the welcome `serve` prints.

pub mod clock;
pub mod db_health;
pub mod error;
pub mod middleware;
pub mod rate_limit;
pub mod request_id;
pub mod security;
pub mod settings;
pub mod telemetry;
pub mod welcome;
