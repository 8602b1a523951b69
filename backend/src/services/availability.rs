//! What the service knows about whether its database can be reached, and the watcher that keeps
//! that knowledge current, so that while PostgreSQL is down requests and readiness get their
//! 503 at once instead of each waiting out the pool's acquire timeout.
//!
//! - A request that fails because the database is unreachable (a broken connection, a refused
//!   connect, a pool that timed out) makes the service *suspect* an outage; the watcher then
//!   probes with a fresh connection of its own (never the pool's), and marks the database down
//!   only when that fails too.
//! - While down, requests that need the database are answered 503 at once
//!   (`core::middleware::database_gate`), readiness says so, and the watcher probes every
//!   [`PROBE_INTERVAL`] until the database answers.
//! - Pooled connections opened before an outage point at a server process that is gone and are
//!   not handed out again ([`DbHealth::connection_is_stale`], asked by the pool).
//!
//! Started while PostgreSQL is down (with `WAIT_FOR_DATABASE`), the service begins *starting*:
//! it serves liveness and answers everything else 503 while the watcher retries creating and
//! migrating the database with backoff, logging each attempt.

use std::{sync::Arc, time::Duration};

use crate::core::{
    db_health::Availability,
    settings::{DatabaseBackend, Settings},
};
use crate::db::Store;

/// How often the watcher probes while the database is down: the service is back within this
/// (plus one connect) of the database accepting connections.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// How long one probe may take before it counts as failed: as long as a request waits for a
/// pooled connection, so that a far or slow-to-connect database is not taken for a dead one.
pub const PROBE_TIMEOUT: Duration = crate::db::ACQUIRE_TIMEOUT;
/// The first and the longest wait between attempts while starting.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LONGEST_RETRY: Duration = Duration::from_secs(1);

/// Makes the database ready to serve: reaches it, creates it when missing (development,
/// PostgreSQL) and applies pending migrations when `AUTO_MIGRATE` is on.
pub async fn prepare(store: &Store, settings: &Settings) -> Result<(), sqlx::Error> {
    store.create_database_if_missing().await?;
    store.probe().await?;
    if settings.auto_migrate {
        store.migrate_up().await.map_err(|error| match error {
            sqlx::migrate::MigrateError::Execute(error) => error,
            other => sqlx::Error::Migrate(Box::new(other)),
        })?;
    }
    Ok(())
}

/// `serve`'s start: [`prepare`], and when PostgreSQL cannot be reached and `WAIT_FOR_DATABASE`
/// is on, mark the store *starting* (the watcher goes on trying) instead of failing. Any other
/// failure (a wrong password, a missing database in production, a migration that fails) is
/// returned: waiting would not mend it.
pub async fn prepare_or_wait(store: &Store, settings: &Settings) -> Result<(), sqlx::Error> {
    match prepare(store, settings).await {
        Err(error)
            if settings.wait_for_database
                && settings.database_backend() == DatabaseBackend::Postgres
                && unreachable(&error) =>
        {
            tracing::warn!(
                attempt = 1,
                retry_in_ms = FIRST_RETRY.as_millis(),
                %error,
                "the database is not reachable at start; serving /health, answering 503 to \
                 everything else, and retrying"
            );
            store.health().mark_starting();
            Ok(())
        }
        result => result,
    }
}

/// Keeps the store's [`DbHealth`] current until aborted: finishes a start-up that could not
/// reach the database, then probes on every suspicion and, while the database is down, every
/// [`PROBE_INTERVAL`].
///
/// Longer than 60 lines on purpose: one loop over the watcher's states (starting, up, down),
/// each arm short, which splitting would scatter.
pub async fn watch(store: Arc<Store>, settings: Arc<Settings>) {
    let health = store.health().clone();
    let mut attempt = 1u32;
    let mut retry_in = FIRST_RETRY;
    while health.availability() == Availability::Starting {
        tokio::time::sleep(retry_in).await;
        attempt += 1;
        match prepare(&store, &settings).await {
            Ok(()) => {
                let waited = health.mark_up();
                tracing::info!(
                    attempt,
                    waited_ms = waited.as_millis(),
                    "the database is reachable and ready; serving"
                );
            }
            Err(error) if unreachable(&error) => {
                retry_in = (retry_in * 2).min(LONGEST_RETRY);
                tracing::warn!(
                    attempt,
                    retry_in_ms = retry_in.as_millis(),
                    %error,
                    "the database is still not reachable; answering 503 until it is"
                );
            }
            Err(error) => {
                // Reached, but refused (a wrong password, a failing migration): an operator
                // has to act; keep trying, slowly, so that the fix needs no restart.
                retry_in = LONGEST_RETRY * 10;
                tracing::error!(
                    attempt,
                    retry_in_ms = retry_in.as_millis(),
                    %error,
                    "the database answers but cannot be prepared; answering 503 until it can"
                );
            }
        }
    }

    loop {
        if health.availability() == Availability::Up {
            health.suspected().await;
        }
        let probed = tokio::time::timeout(PROBE_TIMEOUT, store.probe())
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut));
        match (health.availability(), probed) {
            (Availability::Up, Err(error)) if unreachable(&error) => {
                health.mark_down();
                tracing::error!(
                    %error,
                    "the database is unreachable; answering 503 until it is back"
                );
            }
            (Availability::Up, Ok(()) | Err(_)) => {}
            (_, Err(error)) if unreachable(&error) => {}
            // Answering again (perhaps refusing the probe, e.g. too many clients: that is
            // load, not an outage).
            (_, Ok(()) | Err(_)) => {
                let outage = health.mark_up();
                tracing::info!(
                    outage_ms = outage.as_millis(),
                    "the database is reachable again; serving"
                );
                continue;
            }
        }
        // At most one probe per interval, whatever the number of suspicions.
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Whether `error` means the database cannot be reached at all (as opposed to reached and
/// refusing, or slow to hand out a pooled connection).
fn unreachable(error: &sqlx::Error) -> bool {
    crate::db::is_unavailable(error)
        && error
            .as_database_error()
            .is_none_or(|e| e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_none())
}
