//! One module per resource, each exporting `router()`; merged here.

pub mod auth;
pub mod docs;
pub mod events;
pub mod health;
pub mod reminders;
pub mod tags;
pub mod tasks;
pub mod users;

use axum::{Router, middleware};

use crate::{app::AppState, core::middleware::database_gate};

/// Every route of the service: the API under `/api/v1` (behind the database gate, which
/// answers 503 at once while the database is unreachable), plus health and documentation.
pub fn routes(state: &AppState) -> Router<AppState> {
    let api = Router::new()
        .merge(auth::router(state))
        .merge(users::router())
        .merge(tasks::router())
        .merge(tags::router())
        .merge(reminders::router())
        .merge(events::router())
        .layer(middleware::from_fn_with_state(
            state.health.db_health().clone(),
            database_gate,
        ));
    Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        .merge(docs::router())
}
