//! Rules that are neither HTTP nor SQL: sign-up, sign-in, session rotation, account changes,
//! task and tag writes, reminders, readiness.
//!
//! Each service is a small struct holding only what it uses (the store, the event bus, the
//! token keys, the password hasher, a setting); `app` builds each once and the HTTP layer
//! holds them in its state. Services know nothing of HTTP or of that state.

pub mod accounts;
pub mod auth;
pub mod availability;
pub mod background;
pub mod categories;
pub mod changes;
pub mod health;
pub mod reminders;
pub mod tags;
pub mod tasks;
