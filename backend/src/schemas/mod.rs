//! Request and response bodies (serde + OpenAPI), nothing else.

pub mod auth;
pub mod health;
pub mod tags;
pub mod tasks;
pub mod users;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// A field of a partial update: absent (leave it), `null` (clear it) or a value (set it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    /// Applies the patch to a current nullable value.
    pub fn apply_to(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Absent => current,
            Self::Null => None,
            Self::Value(value) => Some(value),
        }
    }

    /// Converts the value, keeping absent and null as they are.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Patch<U>, E> {
        Ok(match self {
            Self::Absent => Patch::Absent,
            Self::Null => Patch::Null,
            Self::Value(value) => Patch::Value(f(value)?),
        })
    }
}

/// Used with `#[serde(default)]`: a missing field stays `Absent`.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(|value| value.map_or(Self::Null, Self::Value))
    }
}

/// Writes a time as RFC 3339 in UTC with `Z` and microsecond precision.
pub fn rfc3339_utc<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// [`rfc3339_utc`] for nullable times.
pub fn rfc3339_utc_opt<S: Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => rfc3339_utc(time, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        name: Patch<String>,
    }

    #[test]
    fn patch_tells_absent_from_null_from_value() {
        let parse = |json: &str| serde_json::from_str::<Body>(json).unwrap().name;
        assert_eq!(parse("{}"), Patch::Absent);
        assert_eq!(parse(r#"{"name": null}"#), Patch::Null);
        assert_eq!(parse(r#"{"name": "x"}"#), Patch::Value("x".to_owned()));
        assert_eq!(Patch::Absent.apply_to(Some(1)), Some(1));
        assert_eq!(Patch::<i32>::Null.apply_to(Some(1)), None);
        assert_eq!(Patch::Value(2).apply_to(Some(1)), Some(2));
    }
}
