//! The HTTP layer: the handlers' [`state::AppState`], the request [`extract`]ors, and one
//! module per resource, each exporting `router()`; merged here. Handlers turn requests into
//! calls of the services and their results into responses; they never touch the store.

pub mod auth;
pub mod categories;
pub mod changes;
pub mod docs;
pub mod events;
pub mod extract;
pub mod health;
pub mod reminders;
pub mod state;
mod store_errors;
pub mod tags;
pub mod tasks;
pub mod users;

use axum::{Router, middleware};

use crate::{core::middleware::database_gate, routers::state::AppState};

/// Every route of the service: the API under `/api/v1` (behind the database gate, which
/// answers 503 at once while the database is unreachable), plus health and documentation.
pub fn routes(state: &AppState) -> Router<AppState> {
    let api = Router::new()
        .merge(auth::router(state))
        .merge(users::router())
        .merge(tasks::router())
        .merge(tags::router())
        .merge(categories::router())
        .merge(reminders::router())
        .merge(events::router())
        .merge(changes::router())
        .layer(middleware::from_fn_with_state(
            state.health.db_health().clone(),
            database_gate,
        ));
    Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        .merge(docs::router())
}
