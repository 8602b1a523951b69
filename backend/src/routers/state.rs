//! The state every handler and extractor receives.

use std::sync::Arc;

use crate::{
    core::{rate_limit::AuthRateLimits, settings::Settings},
    events::EventBus,
    services::{
        accounts::AccountService, auth::AuthService, background::Background,
        changes::ChangeService, health::HealthService, reminders::ReminderService,
        tags::TagService, tasks::TaskService,
    },
};

/// Everything a handler may need; cheap to clone. The services are built once, at start-up,
/// by the composition root (`app.rs`, which also defines `AppState::new`).
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub auth_limits: AuthRateLimits,
    /// The live event streams subscribe here.
    pub events: EventBus,
    pub auth: Arc<AuthService>,
    pub accounts: Arc<AccountService>,
    pub tasks: Arc<TaskService>,
    pub tags: Arc<TagService>,
    pub reminders: Arc<ReminderService>,
    pub changes: Arc<ChangeService>,
    pub health: Arc<HealthService>,
    /// Started and stopped by the composition root.
    pub background: Arc<Background>,
}
