//! A full disk under PostgreSQL's tables. The test's database is created in a tablespace on a
//! small tmpfs the test mounts (handed to the server's `postgres` user), and served in-process;
//! a filler file takes all but a little of the tmpfs's space, and the same burst as on SQLite
//! (`write_burst`) runs into the end of it. PostgreSQL refuses what no longer fits with
//! `53100 disk_full` ("could not extend file … No space left on device"); its write-ahead log,
//! in the server's data directory, keeps working. Then the filler is deleted, and later the
//! service restarted (a new in-process app on the same database).
//!
//! What it proves: a write the full disk refuses answers 507 `INSUFFICIENT_STORAGE` in the
//! error shape, never 500, and no 2xx for a write that was not stored; reads keep answering;
//! readiness answers 503 with `checks.storage` "full" while the disk is full; once space is
//! back, writes succeed and readiness is 200 again without a restart; every acknowledged write
//! is there, also after a restart.
//!
//! The server must run on this machine (the default `TEST_DATABASE_URL`), as the `postgres` OS
//! user: the tablespace is a directory of this machine.

use std::path::Path;

use sqlx::Executor;

use crate::{
    mounts::{Filler, Mount, turn_as_root},
    support::{
        App, PgDatabase, TempDir, admin, admin_in_drop, server_address, settings, skip_postgres,
    },
    write_burst::{Fault, Fixture, disk_full_then_freed},
};

/// The tmpfs's size (a database created in it copies its template, about 7.5 MB), and the
/// space the filler leaves on it.
const DISK: &str = "32m";
const HEADROOM: u64 = 256 * 1024;

/// A tablespace on a tmpfs of its own; when dropped, the tablespace is dropped (drop the
/// databases in it first), then the tmpfs unmounted.
struct Tablespace {
    name: String,
    disk: Mount,
}

impl Tablespace {
    async fn create(dir: &Path) -> Self {
        let disk = Mount::tmpfs(dir, DISK);
        disk.give_to("postgres");
        let name = format!("todo_fault_{}", uuid::Uuid::new_v4().simple());
        let sql = format!(r#"CREATE TABLESPACE "{name}" LOCATION '{}'"#, dir.display());
        let tablespace = Self { name, disk };
        admin().await.execute(sql.as_str()).await.unwrap();
        tablespace
    }
}

impl Drop for Tablespace {
    fn drop(&mut self) {
        let sql = format!(r#"DROP TABLESPACE IF EXISTS "{}""#, self.name);
        if let Err(error) = admin_in_drop(sql) {
            eprintln!("DROP TABLESPACE {}: {error}", self.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_answers_507_and_every_acknowledged_write_is_kept_on_postgres() {
    let Some(_turn) = turn_as_root("the PostgreSQL disk-full fault test").await else {
        return;
    };
    if skip_postgres().await {
        return;
    }
    if !server_address().ip().is_loopback() {
        eprintln!(
            "*** SKIPPED: the PostgreSQL disk-full fault test needs the server on this machine \
             (TEST_DATABASE_URL names {}) ***",
            server_address()
        );
        return;
    }
    let dir = TempDir::new();
    // Dropped in reverse: the app, the database, the tablespace, the tmpfs.
    let tablespace = Tablespace::create(&dir.0.join("tablespace")).await;
    let database = PgDatabase::create_in_tablespace(&tablespace.name).await;
    let app = App::serve(settings(&database.url(), &[])).await;
    let target = app.target();
    let fixture = Fixture::prepare(&target).await;

    let filler = Filler::fill(tablespace.disk.dir.join("filler"), HEADROOM);
    let mut ledger = disk_full_then_freed(&target, fixture, &filler).await;

    // The service restarted: everything acknowledged is still there.
    drop(app);
    let restarted = App::serve(settings(&database.url(), &[])).await;
    ledger
        .verify_via_api(&restarted.target(), Fault::DiskFull, "after a restart")
        .await;

    ledger.findings.assert_none("a full disk under PostgreSQL");
}
