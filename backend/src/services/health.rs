//! Whether the service can do its work: the database's availability and its migrations.

use std::{sync::Arc, time::Duration};

use crate::{
    core::db_health::{Availability, DbHealth, StorageFault},
    core::error::ApiError,
    db::Store,
};

/// The longest readiness takes to answer (orchestrators' probes commonly give up after 1 s).
const READY_WITHIN: Duration = Duration::from_millis(800);

/// The answer of a readiness check.
pub enum Readiness {
    Ready,
    /// Not ready: why (a phrase, e.g. "the database is unreachable"), and each check's state.
    NotReady {
        reason: String,
        checks: Checks,
    },
}

/// The state of each thing readiness checks: `"ok"`, or a word for what is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checks {
    /// `ok`, `starting` (not reached yet at start), `unreachable`, `slow` (no answer in time).
    pub database: &'static str,
    /// `ok`, `pending` (migrations to apply), `unknown` (the database did not say).
    pub migrations: &'static str,
    /// `ok`, or the fault for which writes are being refused: `full`, `read_only`,
    /// `io_error`, `corrupt`.
    pub storage: &'static str,
}

/// The database's availability and migrations, as the health routes and the database gate
/// need them.
pub struct HealthService {
    store: Arc<Store>,
}

impl HealthService {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// What the service knows about whether the database can be reached.
    pub fn db_health(&self) -> &DbHealth {
        self.store.health()
    }

    /// Ready when the database answers, every migration is applied and writes are not being
    /// refused for the storage (a write refused for it in the last
    /// [`crate::core::db_health::STORAGE_FAULT_REPORTED_FOR`], and none succeeded since). Answers within
    /// `READY_WITHIN`, and only reads.
    pub async fn readiness(&self) -> Result<Readiness, ApiError> {
        let health = self.store.health().clone();
        let mut checks = Checks {
            database: "ok",
            migrations: "unknown",
            storage: health.storage_fault().map_or("ok", StorageFault::name),
        };
        let mut reasons = Vec::new();
        match health.availability() {
            Availability::Starting => {
                checks.database = "starting";
                reasons.push("waiting for the database to be reachable at start".to_owned());
            }
            Availability::Down => {
                checks.database = "unreachable";
                reasons.push("the database is unreachable".to_owned());
            }
            Availability::Up => {
                // Its own task, so that the check finishes cleanly when the answer has gone.
                let store = self.store.clone();
                let check = tokio::spawn(async move { store.migration_status().await });
                match tokio::time::timeout(READY_WITHIN, check).await {
                    Ok(Ok(Ok(status))) => match status.iter().filter(|m| !m.applied).count() {
                        0 => checks.migrations = "ok",
                        n => {
                            checks.migrations = "pending";
                            reasons.push(format!(
                                "{n} database migration(s) pending; run `todo-api migrate up`"
                            ));
                        }
                    },
                    Ok(Ok(Err(error))) => {
                        tracing::warn!(%error, "readiness check failed");
                        if let sqlx::migrate::MigrateError::Execute(error) = &error
                            && crate::db::is_unavailable(error)
                        {
                            health.suspect(!matches!(error, sqlx::Error::PoolTimedOut));
                        }
                        checks.database = "unreachable";
                        reasons.push("the database is unreachable".to_owned());
                    }
                    Ok(Err(error)) => return Err(ApiError::internal(error)),
                    Err(_) => {
                        health.suspect(false);
                        checks.database = "slow";
                        reasons.push(format!(
                            "the database did not answer within {READY_WITHIN:?}"
                        ));
                    }
                }
            }
        }
        if let Some(fault) = health.storage_fault() {
            reasons.push(storage_reason(fault).to_owned());
        }
        if reasons.is_empty() {
            return Ok(Readiness::Ready);
        }
        Ok(Readiness::NotReady {
            reason: reasons.join("; "),
            checks,
        })
    }
}

/// What readiness says of a storage fault.
fn storage_reason(fault: StorageFault) -> &'static str {
    match fault {
        StorageFault::Full => {
            "the disk holding the database is full: writes are refused (507) until space is freed"
        }
        StorageFault::ReadOnly => {
            "the database accepts no writes (read-only): writes are refused (503)"
        }
        StorageFault::Io => {
            "the database's storage fails with I/O errors: writes are refused (503)"
        }
        StorageFault::Corrupt => "the database reports damage: writes are refused (503)",
    }
}
