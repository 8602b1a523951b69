//! The state every handler and extractor receives.

use std::{ops::Deref, sync::Arc};

use crate::{
    core::{rate_limit::AuthRateLimits, settings::Settings},
    events::EventBus,
    services::{
        accounts::AccountService, auth::AuthService, background::Background,
        categories::CategoryService, changes::ChangeService, health::HealthService,
        reminders::ReminderService, tags::TagService, tasks::TaskService,
    },
};

/// Everything a handler may need: the [`Services`], behind one `Arc`. axum clones the state
/// for every request (and for each middleware that takes it), so a clone is one reference
/// count, not one per service. Built once, at start-up, by the composition root (`app.rs`,
/// which also defines `AppState::new`).
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Services>);

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services and settings handlers use, each built with only what it needs.
pub struct Services {
    pub settings: Arc<Settings>,
    pub auth_limits: AuthRateLimits,
    /// The live event streams subscribe here.
    pub events: EventBus,
    pub auth: Arc<AuthService>,
    pub accounts: Arc<AccountService>,
    pub tasks: Arc<TaskService>,
    pub tags: Arc<TagService>,
    pub categories: Arc<CategoryService>,
    pub reminders: Arc<ReminderService>,
    pub changes: Arc<ChangeService>,
    pub health: Arc<HealthService>,
    /// Started and stopped by the composition root.
    pub background: Arc<Background>,
}
