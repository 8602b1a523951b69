//! One module per resource, each exporting `router()`; merged here.

pub mod auth;
pub mod docs;
pub mod events;
pub mod health;
pub mod reminders;
pub mod tags;
pub mod tasks;
pub mod users;

use axum::Router;

use crate::app::AppState;

/// Every route of the service: the API under `/api/v1`, plus health and documentation.
pub fn routes(state: &AppState) -> Router<AppState> {
    let api = Router::new()
        .merge(auth::router(state))
        .merge(users::router())
        .merge(tasks::router())
        .merge(tags::router())
        .merge(reminders::router())
        .merge(events::router());
    Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        .merge(docs::router())
}
