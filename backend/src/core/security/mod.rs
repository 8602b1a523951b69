//! Tokens and passwords: the only places the service touches credentials.

pub mod jwt;
pub mod password;
