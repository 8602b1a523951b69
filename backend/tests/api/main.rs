//! Integration tests: the real router on a real listener, each test on its own fresh database.
//!
//! One behaviour suite, two backends: every test file below is compiled twice, once in
//! `postgres` and once in `sqlite`, and `helpers::TestApp` starts the app on the backend of the
//! module it is compiled in. `cargo test postgres::` or `cargo test sqlite::` runs one half.
//! Without a PostgreSQL server the `postgres` half is skipped with a message, unless
//! `REQUIRE_POSTGRES=1` (as `.ci/run` sets) makes that a failure.

#![allow(
    clippy::disallowed_methods,
    reason = "tests read the database directly to see what the service stored; the rule that every
              statement runs to its end is for the service's own statements"
)]
#![allow(
    clippy::duplicate_mod,
    reason = "each test file is compiled once per backend on purpose: one suite, two backends"
)]

macro_rules! behaviour_suite {
    ($backend:ident) => {
        pub const BACKEND: todo_api::core::settings::DatabaseBackend =
            todo_api::core::settings::DatabaseBackend::$backend;

        #[path = "helpers.rs"]
        pub mod helpers;

        #[path = "account.rs"]
        mod account;
        #[path = "auth.rs"]
        mod auth;
        #[path = "category_races.rs"]
        mod category_races;
        #[path = "changes.rs"]
        mod changes;
        #[path = "errors.rs"]
        mod errors;
        #[path = "events.rs"]
        mod events;
        #[path = "isolation.rs"]
        mod isolation;
        #[path = "listing.rs"]
        mod listing;
        #[path = "operations.rs"]
        mod operations;
        #[path = "organising.rs"]
        mod organising;
        #[path = "parity.rs"]
        mod parity;
        #[path = "recurrence.rs"]
        mod recurrence;
        #[path = "tags.rs"]
        mod tags;
        #[path = "tasks.rs"]
        mod tasks;
        #[path = "tokens.rs"]
        mod tokens;
        #[path = "upgrade.rs"]
        mod upgrade;
    };
}

mod postgres;
mod sqlite;
