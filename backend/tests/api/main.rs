//! Integration tests: the real router on a real listener against a real PostgreSQL, each test
//! in its own freshly created and migrated database that is dropped afterwards.

mod helpers;

mod account;
mod auth;
mod errors;
mod isolation;
mod listing;
mod operations;
mod tags;
mod tasks;
mod tokens;
