//! The disk under the SQLite file turning read-only mid-burst, as a failing disk does. The real
//! `todo-api` binary serves a SQLite file on a small ext4 filesystem in an image file on a loop
//! device, mounted `errors=remount-ro` as system disks are. While six clients send the burst of
//! `write_burst` (creates, creates with tags, edits, toggles, tag writes, sign-ups and
//! sign-ins, reads), the test makes the kernel record a filesystem error
//! (`/sys/fs/ext4/<loop>/trigger_fs_error`): the filesystem turns read-only at once
//! (`emergency_ro`) and every write to it fails with EROFS, which SQLite reports as a read-only
//! database or as an I/O error.
//!
//! What it proves: every answer is 2xx or 503 `DATABASE_READ_ONLY` / `STORAGE_ERROR` in the
//! error shape, never 500 and never a 2xx for a write that did not happen; no id is answered
//! twice; every acknowledged write is listed afterwards by the still-running service; readiness
//! answers 503 with `checks.storage` "read_only" or "io_error" once writes have failed, while
//! liveness stays 200.

use std::time::Duration;

use crate::{
    mounts::{Mount, turn_as_root},
    support::TempDir,
    write_burst::{Fault, burst, sqlite_service_on},
};

/// The image's size; how long the burst lasts, and when in it the disk fails.
const IMAGE: &str = "64M";
const BURST: Duration = Duration::from_secs(4);
const FAILS_AFTER: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disk_going_read_only_answers_503_and_every_acknowledged_write_stays_listed_on_sqlite() {
    let Some(_turn) = turn_as_root("the SQLite read-only disk fault test").await else {
        return;
    };
    let dir = TempDir::new();
    let disk = Mount::ext4_image(&dir.0.join("disk.img"), &dir.0.join("disk"), IMAGE);
    let (service, _, fixture) = sqlite_service_on(&dir.0, &disk.dir).await;
    let target = service.target();

    let failure = async {
        tokio::time::sleep(FAILS_AFTER).await;
        disk.trigger_fs_error();
    };
    let (mut ledger, ()) = tokio::join!(burst(&target, Fault::ReadOnly, fixture, BURST), failure);
    // The kernel shows the filesystem as `emergency_ro` (still `rw` at the mount's level).
    let options = disk.options();
    assert!(
        options
            .split(',')
            .any(|option| option == "ro" || option == "emergency_ro"),
        "the filesystem did not turn read-only: {options}"
    );

    ledger
        .expect_not_ready(&target, Fault::ReadOnly, "once writes have failed")
        .await;
    ledger.expect_alive(&target, "on the read-only disk").await;
    ledger
        .verify_via_api(&target, Fault::ReadOnly, "by the running service")
        .await;

    ledger
        .findings
        .assert_none("a disk turning read-only under SQLite");
}
