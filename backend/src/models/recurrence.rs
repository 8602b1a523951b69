//! What completing a recurring task creates: the rule's next occurrence, computed in the
//! user's time zone, so "every day at 09:00" stays 09:00 local across daylight-saving changes.

use chrono::{DateTime, Utc};
use rrule::{RRule, Unvalidated};

use crate::models::{Priority, Task};

/// The next occurrence of a recurring task, as it will be inserted.
#[derive(Clone, Debug, PartialEq)]
pub struct NextOccurrence {
    pub due_date: DateTime<Utc>,
    /// The reminder moved by as much as the due date, so it keeps its distance.
    pub remind_at: Option<DateTime<Utc>>,
    pub recurrence_index: i32,
}

/// Whether this edit completes a recurring occurrence that has no successor yet: `before` is
/// the row as it was, `after` as the edit left it.
pub fn completes_occurrence(before: &Task, after: &Task) -> bool {
    !before.completed
        && after.completed
        && before.recurred_at.is_none()
        && after.recurrence_rule.is_some()
        && after.due_date.is_some()
}

/// The occurrence after `task` under its rule, expanded in `time_zone` (an IANA name; UTC if it
/// is not one). `None` when the rule is exhausted (`COUNT`, `UNTIL`) or cannot be expanded.
pub fn next_occurrence(task: &Task, time_zone: &str) -> Option<NextOccurrence> {
    let rule = task.recurrence_rule.as_deref()?;
    let due = task.due_date?;
    let parsed: RRule<Unvalidated> = rule.parse().ok()?;
    // The series is expanded from the current occurrence, so COUNT is checked against the
    // task's position in the series rather than by the expansion.
    if let Some(count) = parsed.get_count()
        && i64::from(task.recurrence_index) >= i64::from(count)
    {
        return None;
    }
    let zone: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
    let start = due.with_timezone(&rrule::Tz::from(zone));
    let set = match parsed.build(start) {
        Ok(set) => set,
        Err(error) => {
            tracing::warn!(task_id = %task.id, %error, "recurrence rule cannot be expanded");
            return None;
        }
    };
    let next = set
        .all(3)
        .dates
        .into_iter()
        .map(|date| date.with_timezone(&Utc))
        .find(|date| *date > due)?;
    Some(NextOccurrence {
        due_date: next,
        remind_at: task.remind_at.map(|remind| remind + (next - due)),
        recurrence_index: task.recurrence_index.saturating_add(1),
    })
}

/// The fields of the successor: the same title, description, priority and rule, not completed.
pub fn successor_fields(task: &Task, next: &NextOccurrence) -> crate::db::TaskFields {
    crate::db::TaskFields {
        title: task.title.clone(),
        description: task.description.clone(),
        completed: false,
        priority: Priority::from_rank(task.priority),
        due_date: Some(next.due_date),
        remind_at: next.remind_at,
        recurrence_rule: task.recurrence_rule.clone(),
    }
}

#[cfg(test)]
mod tests {
    use sqlx::types::Json;

    use super::*;
    use crate::models::{TaskId, UserId};

    fn task(rule: &str, due: &str, remind: Option<&str>, index: i32) -> Task {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Task {
            id: TaskId::from(1),
            user_id: UserId::new(),
            title: "t".into(),
            description: None,
            completed: true,
            completed_at: None,
            priority: 1,
            due_date: Some(at(due)),
            remind_at: remind.map(at),
            recurrence_rule: Some(rule.into()),
            tags: Json(Vec::new()),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            reminded_at: None,
            successor_id: None,
            recurred_at: None,
            recurrence_index: index,
        }
    }

    fn next(rule: &str, due: &str, zone: &str) -> Option<String> {
        next_occurrence(&task(rule, due, None, 1), zone)
            .map(|n| n.due_date.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    }

    #[test]
    fn daily_at_nine_in_new_york_stays_nine_local_across_both_changes() {
        // 2030-03-10 is the spring-forward day in New York: 09:00 EST is 14:00Z, 09:00 EDT 13:00Z.
        assert_eq!(
            next("FREQ=DAILY", "2030-03-09T14:00:00Z", "America/New_York").as_deref(),
            Some("2030-03-10T13:00:00Z")
        );
        // 2030-11-03 falls back: 09:00 EDT is 13:00Z, 09:00 EST 14:00Z.
        assert_eq!(
            next("FREQ=DAILY", "2030-11-02T13:00:00Z", "America/New_York").as_deref(),
            Some("2030-11-03T14:00:00Z")
        );
    }

    #[test]
    fn southern_hemisphere_changes_go_the_other_way() {
        // Sydney leaves daylight time on 2030-04-07 (09:00 AEDT = 22:00Z the day before,
        // 09:00 AEST = 23:00Z the day before) and enters it again on 2030-10-06.
        assert_eq!(
            next("FREQ=DAILY", "2030-04-05T22:00:00Z", "Australia/Sydney").as_deref(),
            Some("2030-04-06T23:00:00Z")
        );
        assert_eq!(
            next("FREQ=DAILY", "2030-10-04T23:00:00Z", "Australia/Sydney").as_deref(),
            Some("2030-10-05T22:00:00Z")
        );
    }

    #[test]
    fn monthly_on_the_31st_skips_shorter_months() {
        assert_eq!(
            next("FREQ=MONTHLY;BYMONTHDAY=31", "2030-01-31T09:00:00Z", "UTC").as_deref(),
            Some("2030-03-31T09:00:00Z")
        );
    }

    #[test]
    fn weekly_by_day_goes_to_the_next_listed_day() {
        // 2030-01-07 is a Monday.
        assert_eq!(
            next("FREQ=WEEKLY;BYDAY=MO,WE", "2030-01-07T09:00:00Z", "UTC").as_deref(),
            Some("2030-01-09T09:00:00Z")
        );
        assert_eq!(
            next("FREQ=WEEKLY;BYDAY=MO,WE", "2030-01-09T09:00:00Z", "UTC").as_deref(),
            Some("2030-01-14T09:00:00Z")
        );
    }

    #[test]
    fn count_and_until_end_the_series() {
        let second_of_two = task("FREQ=DAILY;COUNT=2", "2030-01-02T09:00:00Z", None, 2);
        assert_eq!(next_occurrence(&second_of_two, "UTC"), None);
        let first_of_two = task("FREQ=DAILY;COUNT=2", "2030-01-01T09:00:00Z", None, 1);
        assert_eq!(
            next_occurrence(&first_of_two, "UTC")
                .unwrap()
                .recurrence_index,
            2
        );
        assert_eq!(
            next(
                "FREQ=DAILY;UNTIL=20300101T235959Z",
                "2030-01-01T09:00:00Z",
                "UTC"
            ),
            None
        );
    }

    #[test]
    fn the_reminder_keeps_its_distance_from_the_due_date() {
        let daily = task(
            "FREQ=DAILY",
            "2030-03-09T14:00:00Z",
            Some("2030-03-09T13:30:00Z"),
            1,
        );
        let next = next_occurrence(&daily, "America/New_York").unwrap();
        assert_eq!(
            next.remind_at.unwrap().format("%H:%M").to_string(),
            "12:30",
            "30 minutes before 09:00 EDT"
        );
    }
}
