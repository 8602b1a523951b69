//! Validated account values: each `parse` returns the spec's error code for its rule.

use std::fmt;

use crate::core::error::{ApiError, ErrorCode};

const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_CHARS: usize = 128;
const MAX_NAME_CHARS: usize = 100;
const MAX_EMAIL_CHARS: usize = 254;

/// An email address, trimmed and lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` with no whitespace, one `@`, and a dotted domain.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let email = raw.trim().to_lowercase();
        let invalid = || ApiError::new(ErrorCode::InvalidEmail).with_field("email");
        if email.chars().count() > MAX_EMAIL_CHARS
            || email.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }
}

/// A password of 8 to 128 characters. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, ApiError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(ApiError::new(ErrorCode::PasswordTooShort).with_field(field));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(ApiError::new(ErrorCode::PasswordTooLong).with_field(field));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A display name of at most 100 characters; blank means no name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// `None` for a blank name.
    pub fn parse(raw: &str) -> Result<Option<Self>, ApiError> {
        crate::models::task_values::reject_nul(raw, "name")?;
        let name = raw.trim();
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::validation(
                "name",
                "The name must be at most 100 characters long.",
            ));
        }
        Ok((!name.is_empty()).then(|| Self(name.to_owned())))
    }
}

/// An IANA time zone name such as `Europe/Paris`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        raw.trim()
            .parse::<chrono_tz::Tz>()
            .map(|tz| Self(tz.name().to_owned()))
            .map_err(|_| ApiError::new(ErrorCode::InvalidTimezone).with_field("timezone"))
    }
}

text_value!(Email, DisplayName, TimeZoneName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        let email = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
    }

    #[test]
    fn malformed_emails_are_invalid_email() {
        for raw in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "alice@@example.com",
            "alice@example..com",
            "alice@-example.com",
        ] {
            let err = Email::parse(raw).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidEmail, "{raw:?}");
        }
    }

    #[test]
    fn password_length_is_counted_in_characters() {
        let password = |raw: &str| Password::parse(raw, "password").map_err(|e| e.code());
        assert_eq!(password("1234567"), Err(ErrorCode::PasswordTooShort));
        assert!(password("12345678").is_ok());
        assert!(password(&"é".repeat(128)).is_ok());
        assert_eq!(password(&"x".repeat(129)), Err(ErrorCode::PasswordTooLong));
    }

    #[test]
    fn password_is_never_printed() {
        let password = Password::parse("hunter2hunter2", "password").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn name_is_trimmed_blank_is_none_and_long_is_refused() {
        let name = |raw: &str| DisplayName::parse(raw).map_err(|e| e.code());
        assert_eq!(name("  Ada ").unwrap().unwrap().as_str(), "Ada");
        assert_eq!(name("   "), Ok(None));
        assert!(name(&"n".repeat(100)).is_ok());
        assert_eq!(name(&"n".repeat(101)), Err(ErrorCode::ValidationError));
    }

    #[test]
    fn timezones_must_be_iana_names() {
        let zone = |raw| {
            TimeZoneName::parse(raw)
                .map(String::from)
                .map_err(|e| e.code())
        };
        assert_eq!(zone("America/New_York").as_deref(), Ok("America/New_York"));
        assert_eq!(zone("UTC").as_deref(), Ok("UTC"));
        for raw in ["Mars/Olympus", "", "EST5EDT6"] {
            assert_eq!(zone(raw), Err(ErrorCode::InvalidTimezone));
        }
    }
}
