//! Rules that are neither HTTP nor SQL: sign-up, sign-in, session rotation, account changes,
//! task and tag writes.

pub mod accounts;
pub mod auth;
pub mod reminders;
pub mod tags;
pub mod tasks;
