//! todo-api: a multi-user task service with a JSON REST API.
//!
//! The guided tour:
//! - [`app`] builds the router from state and serves it on a bound listener.
//! - [`server`] is the HTTP/1.1 server under the router: header-read and idle keep-alive
//!   timeouts, the connection bound, the open-file limit.
//! - [`cli`] is the command line: `serve`, `migrate up|down|status`.
//! - [`core`] holds settings, the error type, security (JWT, passwords), extractors, rate limits
//!   and the request context middleware.
//! - [`routers`] has one module per resource, each exporting `router()`.
//! - [`schemas`] are the request and response bodies (serde + OpenAPI).
//! - [`models`] are rows and validated values (`Email`, `Password`, `UserId`, …).
//! - [`services`] are the rules that are neither HTTP nor SQL (sign-in, token rotation, task
//!   writes and their events, the reminder scheduler).
//! - [`events`] carries changes and reminders to the live event streams.
//! - [`db`] is storage: one [`db::Store`], written once for PostgreSQL and SQLite, with the
//!   differences behind a small seam (`db::dialect`, `db::sql`, the connection set-up).

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
