//! todo-api: a multi-user task service with a JSON REST API.
//!
//! The layers; a module imports only from the rows below its own:
//!
//! ```text
//! app              the composition root: builds everything, starts the background work, serves
//! routers          the HTTP layer: AppState, the extractors, one module per resource
//! services         the rules, one small struct per concern holding only what it uses
//! events, schemas  the live event bus; the request and response bodies
//! db               storage: one Store, written once for PostgreSQL and SQLite
//! models, core     rows and validated values; settings, errors, security, middleware
//! ```
//!
//! [`server`] (the HTTP/1.1 server under the router: connection timeouts and bound) and [`cli`]
//! (`serve`, `migrate up|down|status`) sit beside [`app`], on [`core`] only; nothing in the
//! library imports `app`. Handlers call services and never import `db`; a service holds what it
//! uses (the store, the event bus, token keys, the hasher) and knows nothing of `routers`. The
//! PostgreSQL and SQLite differences sit behind a small seam (`db::dialect`, `db::sql`, the
//! connection set-up).

pub mod app;
pub mod cli;
pub mod core;
pub mod db;
pub mod events;
pub mod models;
pub mod routers;
pub mod schemas;
pub mod server;
pub mod services;
