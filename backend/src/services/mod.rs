//! Rules that are neither HTTP nor SQL: sign-up, sign-in, session rotation, account changes.

pub mod accounts;
pub mod auth;
