//! Whether the service can do its work: the database's availability and its migrations.

use std::{sync::Arc, time::Duration};

use crate::{
    core::db_health::{Availability, DbHealth},
    core::error::ApiError,
    db::Store,
};

/// The longest readiness takes to answer (orchestrators' probes commonly give up after 1 s).
const READY_WITHIN: Duration = Duration::from_millis(800);

/// The answer of a readiness check.
pub enum Readiness {
    Ready,
    /// Not ready, and why (a phrase, e.g. "the database is unreachable").
    NotReady(String),
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

    /// Ready when the database answers and every migration is applied. Answers within
    /// `READY_WITHIN`, and only reads.
    pub async fn readiness(&self) -> Result<Readiness, ApiError> {
        let health = self.store.health().clone();
        let reason = match health.availability() {
            Availability::Starting => {
                "waiting for the database to be reachable at start".to_owned()
            }
            Availability::Down => "the database is unreachable".to_owned(),
            Availability::Up => {
                // Its own task, so that the check finishes cleanly when the answer has gone.
                let store = self.store.clone();
                let check = tokio::spawn(async move { store.migration_status().await });
                match tokio::time::timeout(READY_WITHIN, check).await {
                    Ok(Ok(Ok(status))) => match status.iter().filter(|m| !m.applied).count() {
                        0 => return Ok(Readiness::Ready),
                        n => {
                            format!("{n} database migration(s) pending; run `todo-api migrate up`")
                        }
                    },
                    Ok(Ok(Err(error))) => {
                        tracing::warn!(%error, "readiness check failed");
                        if let sqlx::migrate::MigrateError::Execute(error) = &error
                            && crate::db::is_unavailable(error)
                        {
                            health.suspect(!matches!(error, sqlx::Error::PoolTimedOut));
                        }
                        "the database is unreachable".to_owned()
                    }
                    Ok(Err(error)) => return Err(ApiError::internal(error)),
                    Err(_) => {
                        health.suspect(false);
                        format!("the database did not answer within {READY_WITHIN:?}")
                    }
                }
            }
        };
        Ok(Readiness::NotReady(reason))
    }
}
