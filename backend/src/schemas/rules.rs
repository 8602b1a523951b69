//! The input rules of the request bodies and query parameters, stated as JSON Schema for the
//! OpenAPI document where the derive cannot state them: text counted after trimming, text
//! without NUL, patterns, enums of query values, and nullability. Each function is the schema of
//! one kind of field (`#[schema(schema_with = …)]`, `#[param(schema_with = …)]`); the checks
//! themselves stay in the models and services.

use serde_json::json;
use utoipa::openapi::{
    Array, ArrayBuilder, Object, ObjectBuilder, Type,
    schema::{KnownFormat, SchemaFormat, SchemaType},
};

/// The characters `str::trim` removes (Unicode `White_Space`), as the body of a regex class.
const WHITESPACE: &str =
    r"\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// Text of 1 to `max` characters once whitespace is trimmed from both ends, without NUL (the
/// rule of titles and tag names). A pattern rather than `maxLength`, because the length is
/// counted after trimming: a 50-character tag name with a space on each side is accepted.
pub fn trimmed_pattern(max: usize) -> String {
    format!(r"^[{WHITESPACE}]*{}[{WHITESPACE}]*$", trimmed_text(max))
}

/// Like [`trimmed_pattern`], but blank text (which means "none") is allowed too.
pub fn trimmed_or_blank_pattern(max: usize) -> String {
    format!(
        r"^[{WHITESPACE}]*(?:{}[{WHITESPACE}]*)?$",
        trimmed_text(max)
    )
}

/// 1 to `max` characters without NUL that neither start nor end with whitespace.
fn trimmed_text(max: usize) -> String {
    let (ws, middle) = (WHITESPACE, max.saturating_sub(2));
    format!(r"[^{ws}\u0000](?:[^\u0000]{{0,{middle}}}[^{ws}\u0000])?")
}

/// Any text without NUL (which neither database stores).
const NO_NUL: &str = r"^[^\u0000]*$";

/// A colour `#RRGGBB`.
const COLOR: &str = "^#[0-9A-Fa-f]{6}$";

/// The recurrence rules the document promises: a frequency with an optional interval, count and
/// week days, e.g. `FREQ=WEEKLY;BYDAY=MO,WE`. (The service accepts any rule that is valid under
/// RFC 5545, up to 500 characters; the grammar of all of them is beyond a pattern.)
const RRULE: &str = "^(?:RRULE:)?FREQ=(?:DAILY|WEEKLY|MONTHLY|YEARLY)(?:;INTERVAL=[1-9][0-9]?)?\
                     (?:;COUNT=[1-9][0-9]?)?\
                     (?:;BYDAY=(?:MO|TU|WE|TH|FR|SA|SU)(?:,(?:MO|TU|WE|TH|FR|SA|SU)){0,6})?$";

fn string(nullable: bool) -> ObjectBuilder {
    let schema_type = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new().schema_type(schema_type)
}

fn date_time(nullable: bool, example: &str) -> Object {
    string(nullable)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(
            "RFC 3339 with an offset or `Z`, e.g. `2030-05-01T09:00:00Z`; as a time in UTC it \
             must fall within the years 0000 to 9999.",
        ))
        .examples([json!(example)])
        .build()
}

/// A task title: 1–200 characters after trimming.
pub fn title() -> Object {
    trimmed(200, "", "Water the plants")
}

/// A task description: at most 1000 characters, nullable.
pub fn description() -> Object {
    string(true)
        .max_length(Some(1000))
        .pattern(Some(NO_NUL))
        .description(Some("At most 1000 characters; no NUL. `null`: none."))
        .examples([json!("The ones on the balcony too.")])
        .build()
}

pub fn due_date() -> Object {
    date_time(true, "2030-05-01T09:00:00Z")
}

pub fn remind_at() -> Object {
    date_time(true, "2030-05-01T08:30:00Z")
}

/// A recurrence rule; nullable.
pub fn recurrence_rule() -> Object {
    string(true)
        .max_length(Some(500))
        .pattern(Some(RRULE))
        .description(Some(
            "An RFC 5545 RRULE (an `RRULE:` prefix is dropped), expanded from the due date: a \
             task with a rule needs a `due_date`. The pattern shows the usual form; any valid \
             RFC 5545 rule of up to 500 characters is accepted. `null`: not recurring.",
        ))
        .examples([json!("FREQ=WEEKLY;BYDAY=MO,WE")])
        .build()
}

/// A tag name: 1–50 characters after trimming.
pub fn category_name() -> Object {
    trimmed(
        50,
        "; unique per user regardless of case among the statuses (or the priorities)",
        "in_progress",
    )
}

pub fn tag_name() -> Object {
    trimmed(50, "; unique per user regardless of case", "work")
}

/// Text of 1 to `max` characters after trimming, stored trimmed; `more` ends the description.
fn trimmed(max: usize, more: &str, example: &str) -> Object {
    string(false)
        .min_length(Some(1))
        .pattern(Some(trimmed_pattern(max)))
        .description(Some(format!(
            "1–{max} characters once whitespace is trimmed from both ends (it is stored \
             trimmed); no NUL{more}."
        )))
        .examples([json!(example)])
        .build()
}

/// A tag colour; nullable.
pub fn color() -> Object {
    string(true)
        .pattern(Some(COLOR))
        .description(Some("`#RRGGBB`. `null`: no colour."))
        .examples([json!("#3366FF")])
        .build()
}

/// A display name: at most 100 characters after trimming; blank or null means none.
pub fn display_name() -> Object {
    string(true)
        .pattern(Some(trimmed_or_blank_pattern(100)))
        .description(Some(
            "At most 100 characters once whitespace is trimmed from both ends; no NUL. Blank or \
             `null`: no name.",
        ))
        .examples([json!("Ada Lovelace")])
        .build()
}

/// An IANA time zone name, one of those the service knows; nullable (`null` leaves it).
pub fn timezone() -> Object {
    string(true)
        .enum_values(Some(
            chrono_tz::TZ_VARIANTS
                .iter()
                .map(|zone| json!(zone.name()))
                .chain([serde_json::Value::Null]),
        ))
        .description(Some(
            "An IANA time zone name such as `America/New_York`. `null` or absent: unchanged.",
        ))
        .examples([json!("America/New_York")])
        .build()
}

/// A new password: 8 to 128 characters.
pub fn new_password() -> Object {
    string(false)
        .min_length(Some(8))
        .max_length(Some(128))
        .description(Some("8 to 128 characters."))
        .examples([json!("a longer horse battery staple")])
        .build()
}

/// The ids of tags to attach; nullable.
pub fn tag_ids() -> Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(id())
        .description(Some(
            "Ids of the caller's tags (one that is not is a 404 `TAG_NOT_FOUND`); `null`: no \
             tags.",
        ))
        .examples([json!([])])
        .build()
}

/// A text query parameter (a search or a tag): anything but NUL.
pub fn query_text() -> Object {
    string(false).pattern(Some(NO_NUL)).build()
}

/// `page` and `limit`: whole numbers from 1.
pub fn positive_integer() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(i64::MAX))
        .build()
}

/// An id in a path or a list: any 64-bit integer (one that is not the caller's is a 404).
pub fn id() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(i64::MIN))
        .maximum(Some(i64::MAX))
        .build()
}

/// `all`, `pending`, `completed` or one of the user's status names.
pub fn task_status() -> Object {
    string(false)
        .min_length(Some(1))
        .examples(["pending", "in_progress"])
        .build()
}

/// One of the user's priority names.
pub fn priority_filter() -> Object {
    string(false).min_length(Some(1)).examples(["high"]).build()
}

pub fn task_sort() -> Object {
    let fields = [
        "due_date",
        "priority",
        "status",
        "position",
        "created_at",
        "updated_at",
        "title",
    ];
    let values = fields
        .iter()
        .flat_map(|field| [(*field).to_owned(), format!("-{field}")]);
    string(false).enum_values(Some(values)).build()
}

pub fn boolean() -> Object {
    ObjectBuilder::new().schema_type(Type::Boolean).build()
}

pub fn query_date_time() -> Object {
    date_time(false, "2030-05-01T00:00:00Z")
}

/// A boolean that may only be `true` (`is_default` in a PATCH: a default stops being one when
/// another is made it).
pub fn only_true() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// `scope` of a task's `DELETE`: `series` only.
pub fn delete_scope() -> Object {
    string(false).enum_values(Some(["series"])).build()
}

/// `scope` of a task's `PATCH`: `following` only.
pub fn patch_scope() -> Object {
    string(false).enum_values(Some(["following"])).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whitespace_class_is_exactly_what_rust_trims() {
        let listed = |c: char| {
            matches!(
                c as u32,
                0x09..=0x0d
                    | 0x20
                    | 0x85
                    | 0xa0
                    | 0x1680
                    | 0x2000..=0x200a
                    | 0x2028
                    | 0x2029
                    | 0x202f
                    | 0x205f
                    | 0x3000
            )
        };
        let all = (0..=0x10ffff_u32).filter_map(char::from_u32);
        assert!(all.into_iter().all(|c| listed(c) == c.is_whitespace()));
    }

    #[test]
    fn trimmed_patterns_count_the_inner_characters() {
        assert!(trimmed_pattern(50).contains(r"[^\u0000]{0,48}"));
        assert!(trimmed_or_blank_pattern(100).contains(r"{0,98}"));
    }
}
