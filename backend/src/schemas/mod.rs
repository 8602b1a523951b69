//! Request and response bodies (serde + OpenAPI), nothing else.

pub mod auth;
pub mod categories;
pub mod changes;
pub mod events;
pub mod health;
pub mod rules;
pub mod tags;
pub mod tasks;
pub mod users;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

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

/// For a field a partial update may set or leave out but not clear (used with
/// `#[serde(default, deserialize_with = "not_null")]`): absent is `None`, and an explicit `null`
/// is refused like any other value of the wrong type, with a 422 `VALIDATION_ERROR` naming the
/// field.
pub fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(deserializer)?
        .map(Some)
        .ok_or_else(|| {
            D::Error::custom("null is not allowed here; leave the field out to keep its value")
        })
}

/// A whole number as JSON may write it: `7` or `7.0` (JSON Schema counts both as integers, and
/// so do the generators of clients that read the document), within 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WholeNumber(pub i64);

impl<'de> Deserialize<'de> for WholeNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // 2^63 is exact as a float; the range of i64 is [-2^63, 2^63).
        const BOUND: f64 = 9_223_372_036_854_775_808.0;
        let number = serde_json::Number::deserialize(deserializer)?;
        number
            .as_i64()
            .or_else(|| {
                let float = number.as_f64()?;
                #[allow(clippy::cast_possible_truncation, reason = "whole and in range")]
                (float.fract() == 0.0 && (-BOUND..BOUND).contains(&float)).then_some(float as i64)
            })
            .map(Self)
            .ok_or_else(|| D::Error::custom("expected a whole number within 64 bits"))
    }
}

fn whole(numbers: Vec<WholeNumber>) -> Vec<i64> {
    numbers.into_iter().map(|number| number.0).collect()
}

/// A nullable list of ids, each a [`WholeNumber`] (with `#[serde(default, deserialize_with)]`).
pub fn whole_numbers<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<i64>>, D::Error> {
    Ok(Option::<Vec<WholeNumber>>::deserialize(deserializer)?.map(whole))
}

/// [`whole_numbers`] for a partial update.
pub fn whole_numbers_patch<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Patch<Vec<i64>>, D::Error> {
    Patch::<Vec<WholeNumber>>::deserialize(deserializer)?
        .try_map(|numbers| Ok::<_, D::Error>(whole(numbers)))
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
    fn whole_numbers_may_be_written_with_a_fraction_of_zero() {
        let parse = |json: &str| serde_json::from_str::<WholeNumber>(json).map(|n| n.0).ok();
        assert_eq!(parse("7"), Some(7));
        assert_eq!(parse("-45914.0"), Some(-45914));
        assert_eq!(parse("1e3"), Some(1000));
        assert_eq!(parse("-9223372036854775808"), Some(i64::MIN));
        for refused in ["7.5", "9223372036854775808", "9.3e18", "\"7\"", "null"] {
            assert_eq!(parse(refused), None, "{refused}");
        }
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
