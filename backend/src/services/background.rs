//! The work that runs beside the requests for as long as the service serves (the event bus's
//! PostgreSQL sender and listener or SQLite poller, the reminder scheduler, change log
//! retention, the database availability watcher),
//! and closing the database at the end. The composition root starts and stops it.

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::{
    core::settings::Settings,
    db::Store,
    events::EventBus,
    services::{availability, changes::ChangeService, reminders},
};

/// The store's and the event bus's background work.
pub struct Background {
    store: Arc<Store>,
    events: EventBus,
    settings: Arc<Settings>,
}

impl Background {
    pub fn new(store: Arc<Store>, events: EventBus, settings: Arc<Settings>) -> Self {
        Self {
            store,
            events,
            settings,
        }
    }

    /// Starts every worker; each runs until its task is aborted.
    pub fn spawn_workers(&self) -> Vec<JoinHandle<()>> {
        let mut workers = self.events.spawn_workers(&self.store);
        workers.push(tokio::spawn(reminders::run(
            self.store.clone(),
            self.events.clone(),
        )));
        workers.push(tokio::spawn(ChangeService::prune(
            self.store.clone(),
            self.settings.change_retention,
        )));
        workers.push(tokio::spawn(availability::watch(
            self.store.clone(),
            self.settings.clone(),
        )));
        workers
    }

    /// Whether the database is thought reachable now.
    pub fn database_available(&self) -> bool {
        self.store.health().is_available()
    }

    /// Closes the database's connections; in-flight work finishes first.
    pub async fn close(&self) {
        self.store.close().await;
    }
}
