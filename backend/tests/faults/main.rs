//! The fault suite: what the service does when the world misbehaves. Clients that vanish
//! mid-request, a database that goes away and comes back, files that other programs open, disks
//! that fill up or turn read-only, slow and idle clients. Each test injects its fault for real
//! (a proxy the test owns in front of PostgreSQL, the real `todo-api` binary run as child
//! processes and killed with SIGKILL, half-sent requests, filesystems the tests mount and fill
//! up or turn read-only) and checks that every acknowledged write is kept and that the service
//! keeps answering. (Racing refreshes are in the behaviour suite, `tests/api/tokens.rs`.)

#![allow(
    clippy::disallowed_methods,
    reason = "tests read the database directly to see what the service stored; the rule that every
              statement runs to its end is for the service's own statements"
)]

mod ledger;
mod mounts;
mod pg_cancel;
mod pg_outage;
mod pg_races;
mod pg_read_only;
mod pg_stream;
mod postgres_disk_full;
mod proxy;
mod slow_clients;
mod sqlite_disk_full;
mod sqlite_disk_goes_read_only;
mod sqlite_file;
mod support;
mod write_burst;
