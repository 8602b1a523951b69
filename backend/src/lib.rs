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
//! (`server` and `cli` sit beside `app`, on `core` only.)
//!
//! The guided tour:
//! - [`app`] is the composition root: builds the services and the router from the settings
//!   and the store, starts the background work, and serves on a bound listener. Nothing in
//!   the library imports it.
//! - [`server`] is the HTTP/1.1 server under the router: header-read and idle keep-alive
//!   timeouts, the connection bound, the open-file limit.
//! - [`cli`] is the command line: `serve`, `migrate up|down|status`.
//! - [`routers`] is the HTTP layer: [`routers::state::AppState`] (the services, settings, rate
//!   limits and event bus the handlers use), the request extractors ([`routers::extract`]:
//!   bodies, paths, queries, the authenticated caller), and one module per resource, each
//!   exporting `router()`. Handlers call services; they never import `db`.
//! - [`services`] are the rules that are neither HTTP nor SQL (sign-in, token rotation and the
//!   access-token check, account changes, task and tag writes and their events, reminders,
//!   readiness, the background work). Each is a struct holding what it uses (the store, the
//!   event bus, token keys, the hasher); none knows `AppState` or anything of `routers`.
//! - [`events`] carries changes and reminders to the live event streams.
//! - [`db`] is storage: one [`db::Store`], written once for PostgreSQL and SQLite, with the
//!   differences behind a small seam (`db::dialect`, `db::sql`, the connection set-up).
//! - [`schemas`] are the request and response bodies (serde + OpenAPI).
//! - [`models`] are rows and validated values (`Email`, `Password`, `UserId`, …).
//! - [`core`] is the bottom: settings, the error type, security primitives (JWT, passwords),
//!   rate limits, the request context middleware, telemetry.

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
