//! A full disk under the SQLite file. The real `todo-api` binary serves a SQLite file on a
//! small tmpfs the test mounts; a filler file takes all but a little of its space, and a burst
//! from six clients runs into the end of it: creates with 1,000-character descriptions, creates
//! with tags, edits, completion toggles, tag creates and renames, sign-ups and sign-ins, with
//! reads and liveness beside them. Then the filler is deleted, and later the service restarted.
//!
//! What it proves: a write the full disk refuses answers 507 `INSUFFICIENT_STORAGE` in the
//! error shape (never 500, never a 2xx for a write that was not stored, never one id for two
//! creates); reads keep answering 200; readiness answers 503 with `checks.storage` "full" while
//! the disk is full; once space is back, writes succeed and readiness is 200 again without a
//! restart; every acknowledged write is in the file, which passes `PRAGMA integrity_check`,
//! and is still there after a restart.
//!
//! The fault this catches (issue 27): a single `INSERT … RETURNING` outside a transaction, read
//! with `fetch_one`, handed back its row before SQLite had finished the statement, and the
//! commit's failure (SQLITE_FULL) was never seen.

use crate::{
    mounts::{Filler, Mount, turn_as_root},
    support::{Service, TempDir, integrity_check},
    write_burst::{Fault, disk_full_then_freed, sqlite_service_on},
};

/// The tmpfs's size, and the space the filler leaves on it.
const DISK: &str = "8m";
const HEADROOM: u64 = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_answers_507_and_every_acknowledged_write_is_kept_on_sqlite() {
    let Some(_turn) = turn_as_root("the SQLite disk-full fault test").await else {
        return;
    };
    let dir = TempDir::new();
    let disk = Mount::tmpfs(&dir.0.join("disk"), DISK);
    let (mut service, database, fixture) = sqlite_service_on(&dir.0, &disk.dir).await;
    let target = service.target();

    let filler = Filler::fill(disk.dir.join("filler"), HEADROOM);
    let mut ledger = disk_full_then_freed(&target, fixture, &filler).await;

    // The file itself, read beside the running service: intact, holding every acknowledged
    // write and nothing refused.
    let integrity = integrity_check(&database).await;
    if integrity != "ok" {
        ledger
            .findings
            .add("PRAGMA integrity_check is not ok", integrity);
    }
    ledger.verify_sqlite_file(&database, "in the file").await;

    // A clean stop and a new start: everything acknowledged is still there.
    let exit = service.terminate().await;
    ledger.expect_logged_once_per_episode(&service.log());
    eprintln!("the first service stopped: {exit}");
    drop(service);
    let restarted = Service::start("restarted", &dir.0, &database).await;
    ledger
        .verify_via_api(&restarted.target(), Fault::DiskFull, "after a restart")
        .await;
    ledger
        .verify_sqlite_file(&database, "in the file after a restart")
        .await;

    ledger.findings.assert_none("a full disk under SQLite");
}
