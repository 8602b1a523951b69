//! The fault suite: what the service does when the world misbehaves. Clients that vanish
//! mid-request, a database that goes away and comes back, files that other programs open, slow
//! and idle clients. Each test injects its fault for real (a proxy the test owns in front of
//! PostgreSQL, the real `todo-api` binary run as child processes and killed with SIGKILL,
//! half-sent requests) and checks that every acknowledged write is kept and that the service
//! keeps answering. (Racing refreshes are in the behaviour suite, `tests/api/tokens.rs`.)

mod pg_cancel;
mod pg_outage;
mod pg_races;
mod pg_stream;
mod proxy;
mod slow_clients;
mod sqlite_file;
mod support;
