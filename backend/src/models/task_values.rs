//! Validated task and tag values; each `parse` returns the spec's error code for its rule.

use chrono::{DateTime, Datelike, Utc};

use crate::core::error::{ApiError, ErrorCode};

const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 1000;
const MAX_TAG_NAME_CHARS: usize = 50;
const MAX_RRULE_CHARS: usize = 500;

/// A task title: trimmed, 1 to 200 characters.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub struct TaskTitle(String);

impl TaskTitle {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        reject_nul(raw, "title")?;
        let title = raw.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(ApiError::new(ErrorCode::InvalidTitle).with_field("title"));
        }
        Ok(Self(title.to_owned()))
    }
}

/// A task description of at most 1000 characters.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub struct TaskDescription(String);

impl TaskDescription {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        reject_nul(raw, "description")?;
        if raw.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ApiError::new(ErrorCode::DescriptionTooLong).with_field("description"));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// A recurrence rule: a valid RFC 5545 RRULE (an `RRULE:` prefix is accepted and dropped).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub struct RecurrenceRule(String);

impl RecurrenceRule {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::new(ErrorCode::InvalidRrule).with_field("recurrence_rule");
        let rule = raw.trim();
        let rule = rule.strip_prefix("RRULE:").unwrap_or(rule);
        if rule.is_empty() || rule.chars().count() > MAX_RRULE_CHARS {
            return Err(invalid());
        }
        let parsed: rrule::RRule<rrule::Unvalidated> = rule.parse().map_err(|_| invalid())?;
        // RFC 5545 3.3.10: COUNT and UNTIL must not both be given (the crate does not check).
        if parsed.get_count().is_some() && parsed.get_until().is_some() {
            return Err(invalid());
        }
        // Validation needs a start; one long past, so that an UNTIL already gone by is still a
        // valid rule (it only ends the series).
        let start = DateTime::<Utc>::from_timestamp(-2_208_988_800, 0) // 1900-01-01
            .unwrap_or_default()
            .with_timezone(&rrule::Tz::UTC);
        parsed.validate(start).map_err(|_| invalid())?;
        Ok(Self(rule.to_owned()))
    }
}

/// Parses an RFC 3339 time that carries an offset or `Z`; a time without one is refused with
/// `code`, since it would be ambiguous.
///
/// The result is in whole microseconds, the precision both databases keep: extra digits are
/// dropped (towards the past) and a leap second (`:60`) becomes the next second, here, so that
/// every backend stores, compares and returns the same instant.
pub fn parse_instant(
    raw: &str,
    code: ErrorCode,
    field: &'static str,
) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .ok()
        .and_then(|time| DateTime::from_timestamp_micros(time.timestamp_micros()))
        // Beyond these years the time could not be written back as RFC 3339.
        .filter(|time| (0..=9999).contains(&time.year()))
        .ok_or_else(|| ApiError::new(code).with_field(field))
}

/// A tag name: trimmed, 1 to 50 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagName(String);

impl TagName {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        reject_nul(raw, "name")?;
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > MAX_TAG_NAME_CHARS {
            return Err(ApiError::new(ErrorCode::InvalidTagName).with_field("name"));
        }
        Ok(Self(name.to_owned()))
    }
}

/// A colour of the form `#RRGGBB`, stored as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagColor(String);

impl TagColor {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let valid = raw.len() == 7
            && raw.starts_with('#')
            && raw[1..].chars().all(|c| c.is_ascii_hexdigit());
        if !valid {
            return Err(ApiError::new(ErrorCode::InvalidColor).with_field("color"));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// Stored text may not contain NUL: PostgreSQL cannot store it and C tools reading a SQLite
/// file would cut the text there, so both backends refuse it the same way, before any write.
pub(crate) fn reject_nul(raw: &str, field: &'static str) -> Result<(), ApiError> {
    if raw.contains('\0') {
        return Err(ApiError::validation(
            field,
            "Text cannot contain NUL characters.",
        ));
    }
    Ok(())
}

text_value!(
    TaskTitle,
    TaskDescription,
    RecurrenceRule,
    TagName,
    TagColor
);

#[cfg(test)]
mod tests {
    use super::*;

    fn instant(raw: &str) -> Result<String, ErrorCode> {
        parse_instant(raw, ErrorCode::InvalidDueDate, "due_date")
            .map(|time| time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
            .map_err(|error| error.code())
    }

    #[test]
    fn instants_keep_whole_microseconds_and_leap_seconds_roll_over() {
        for (raw, stored) in [
            (
                "2030-06-01T12:00:00.1234567+02:00",
                "2030-06-01T10:00:00.123456Z",
            ),
            (
                "1999-12-31T23:59:59.9999999Z",
                "1999-12-31T23:59:59.999999Z",
            ),
            ("2030-01-01T12:00:60Z", "2030-01-01T12:01:00.000000Z"),
        ] {
            assert_eq!(instant(raw).as_deref(), Ok(stored));
        }
        // A leap second at the very end of 9999 would leave the supported years.
        assert!(instant("9999-12-31T23:59:60Z").is_err());
    }

    #[test]
    fn title_is_trimmed_and_bounded() {
        let title = |raw: &str| TaskTitle::parse(raw).map_err(|e| e.code());
        assert_eq!(title("  Buy milk ").unwrap().as_str(), "Buy milk");
        assert!(title(&"t".repeat(200)).is_ok());
        for raw in ["", "   \t", &"t".repeat(201)] {
            assert_eq!(title(raw), Err(ErrorCode::InvalidTitle));
        }
    }

    #[test]
    fn description_is_bounded_at_1000_characters() {
        let description = |n| TaskDescription::parse(&"d".repeat(n)).map_err(|e| e.code());
        assert!(description(1000).is_ok());
        assert_eq!(description(1001), Err(ErrorCode::DescriptionTooLong));
    }

    #[test]
    fn instants_need_an_offset() {
        let utc = instant("2030-01-02T03:04:05+02:00");
        assert_eq!(utc.as_deref(), Ok("2030-01-02T01:04:05.000000Z"));
        for raw in [
            "2030-01-02T03:04:05",
            "2030-01-02",
            "tomorrow",
            "",
            "9999-12-31T23:59:59-23:59",
            "0000-01-01T00:00:00+23:59",
        ] {
            assert_eq!(instant(raw), Err(ErrorCode::InvalidDueDate));
        }
    }

    #[test]
    fn tag_names_and_colors_follow_their_rules() {
        assert_eq!(TagName::parse(" work ").unwrap().as_str(), "work");
        assert!(TagName::parse(&"n".repeat(50)).is_ok());
        assert!(TagName::parse(&"n".repeat(51)).is_err());
        assert!(TagName::parse("  ").is_err());
        assert!(TagColor::parse("#A1b2C3").is_ok());
        for raw in ["A1B2C3", "#A1B2C", "#A1B2C3D", "#GGGGGG", "red"] {
            let code = TagColor::parse(raw).map_err(|e| e.code());
            assert_eq!(code, Err(ErrorCode::InvalidColor));
        }
    }

    #[test]
    fn recurrence_rules_need_a_frequency() {
        let rule = |raw| RecurrenceRule::parse(raw).map(String::from);
        assert!(rule("FREQ=WEEKLY;BYDAY=MO,WE").is_ok());
        assert_eq!(rule("RRULE:FREQ=DAILY").unwrap(), "FREQ=DAILY");
        for bad in [
            "every day",
            "",
            "FREQ=BOGUS",
            "FREQ=",
            "XFREQ=DAILY;FOO=BAR",
            "FREQ=DAILY;INTERVAL=-3",
            "FREQ=WEEKLY;BYDAY=XX",
        ] {
            assert!(rule(bad).is_err(), "{bad:?} should be invalid");
        }
        assert!(rule("FREQ=MONTHLY;BYMONTHDAY=31;COUNT=3").is_ok());
        assert!(rule("FREQ=DAILY;UNTIL=20300101T000000Z").is_ok());
    }
}
