//! Rows as the database holds them, and newtypes for ids and validated values.
//!
//! A value of one of these types has passed its rule: code that holds an `Email` or a
//! `Password` never needs to check it again.

pub mod account;
pub mod session;
pub mod user;

pub use account::{DisplayName, Email, Password, TimeZoneName};
pub use session::RefreshSession;
pub use user::{User, UserId};
