//! Request and response bodies (serde + OpenAPI), nothing else.

pub mod auth;
pub mod health;
pub mod users;

use serde::{Deserialize, Deserializer};

/// Deserializes a present field into `Some`, so that with `#[serde(default)]` an absent field
/// is `None`, an explicit `null` is `Some(None)` and a value is `Some(Some(v))`.
pub fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
