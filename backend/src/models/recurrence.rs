//! What completing a recurring task creates: the rule's next occurrence, computed in the
//! user's time zone, so "every day at 09:00" stays 09:00 local across daylight-saving changes.

use chrono::{DateTime, Datelike, Utc};
use rrule::{RRule, Unvalidated};

use crate::models::{Pick, RecurrenceRule, Task, TaskFields};

/// The next occurrence of a recurring task, as it will be inserted.
#[derive(Clone, Debug, PartialEq)]
pub struct NextOccurrence {
    pub due_date: DateTime<Utc>,
    /// The reminder moved by as much as the due date, so it keeps its distance.
    pub remind_at: Option<DateTime<Utc>>,
    /// The series' start, which the successor inherits.
    pub recurrence_start: Option<DateTime<Utc>>,
}

/// Whether this edit completes a recurring occurrence that has no successor yet: `before` is
/// the row as it was, `after` the fields the edit writes.
pub fn completes_occurrence(before: &Task, after: &TaskFields) -> bool {
    !before.completed
        && after.completed
        && before.recurred_at.is_none()
        && after.recurrence_rule.is_some()
        && after.due_date.is_some()
}

/// The occurrence after `task` under its rule, expanded in `time_zone` (an IANA name; UTC if it
/// is not one) from the series' start (the rule's `DTSTART`: the first occurrence's due date),
/// so `COUNT` counts the whole series and a local time that fell into a daylight-saving gap
/// comes back once the gap is over. `None` when the rule is exhausted (`COUNT`, `UNTIL`) or
/// the next due date or reminder would fall after the year 9999.
pub fn next_occurrence(task: &Task, time_zone: &str) -> Option<NextOccurrence> {
    let rule = task.recurrence_rule.as_ref()?.as_str();
    let due = task.due_date?;
    let series_start = task.recurrence_start.unwrap_or(due);
    let zone: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
    let next = occurrence_after(rule, series_start, due, zone).or_else(|| {
        // A series too long to walk from its start within the expansion's limits (e.g. hourly
        // for decades) continues from the current occurrence instead; not one with a COUNT,
        // which only the walk from the start can honour.
        (series_start != due && !rule.to_ascii_uppercase().contains("COUNT="))
            .then(|| occurrence_after(rule, due, due, zone))
            .flatten()
    })?;
    let remind_at = task.remind_at.map(|remind| remind + (next - due));
    // A successor past the last year a time can be written in (9999) ends the series.
    let writable = |time: DateTime<Utc>| time.year() <= 9999;
    (writable(next) && remind_at.is_none_or(writable)).then_some(NextOccurrence {
        due_date: next,
        remind_at,
        recurrence_start: Some(series_start),
    })
}

/// The first occurrence after `after` of `rule` started at `start`, in `zone`.
fn occurrence_after(
    rule: &str,
    start: DateTime<Utc>,
    after: DateTime<Utc>,
    zone: chrono_tz::Tz,
) -> Option<DateTime<Utc>> {
    let parsed: RRule<Unvalidated> = rule.parse().ok()?;
    let zone = rrule::Tz::from(zone);
    // A rule that cannot start there (e.g. its UNTIL is before the start) has nothing to come.
    let set = parsed.build(start.with_timezone(&zone)).ok()?;
    set.after(after.with_timezone(&zone))
        .all(2)
        .dates
        .into_iter()
        .map(|date| date.with_timezone(&Utc))
        .find(|date| *date > after)
}

/// Up to `limit` occurrences of the task's rule strictly after `after`, expanded in
/// `time_zone` from the series' start as [`next_occurrence`] does; none for a task without a
/// rule or due date.
pub fn occurrences_after(
    task: &Task,
    time_zone: &str,
    after: DateTime<Utc>,
    limit: u16,
) -> Vec<DateTime<Utc>> {
    let (Some(rule), Some(due)) = (task.recurrence_rule.as_ref(), task.due_date) else {
        return Vec::new();
    };
    let rule = rule.as_str();
    let series_start = task.recurrence_start.unwrap_or(due);
    let zone: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
    let expand = |start: DateTime<Utc>| -> Option<Vec<DateTime<Utc>>> {
        let parsed: RRule<Unvalidated> = rule.parse().ok()?;
        let zone = rrule::Tz::from(zone);
        let set = parsed.build(start.with_timezone(&zone)).ok()?;
        let found = set
            .after(after.with_timezone(&zone))
            .all(limit.saturating_add(1));
        let dates: Vec<DateTime<Utc>> = found
            .dates
            .into_iter()
            .map(|date| date.with_timezone(&Utc))
            .filter(|date| *date > after && date.year() <= 9999)
            .take(usize::from(limit))
            .collect();
        // Cut short by the expansion's limits before reaching `after`: try the fallback.
        (!dates.is_empty() || !found.limited).then_some(dates)
    };
    expand(series_start)
        .or_else(|| {
            // As in next_occurrence: a series too long to walk from its start continues from
            // the current occurrence (not one with a COUNT).
            (series_start != due && !rule.to_ascii_uppercase().contains("COUNT="))
                .then(|| expand(due))
                .flatten()
        })
        .unwrap_or_default()
}

/// The rule ended with this occurrence (`UNTIL` at the due date, rounded up to the second, and
/// no `COUNT`): completing the task then creates no successor.
pub fn ending_at(rule: &RecurrenceRule, due: DateTime<Utc>) -> Option<RecurrenceRule> {
    let until = match due.timestamp_subsec_micros() {
        0 => due,
        _ => due + chrono::TimeDelta::seconds(1),
    };
    let mut parts: Vec<String> = rule
        .as_str()
        .split(';')
        .filter(|part| {
            let name = part
                .split('=')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            name != "COUNT" && name != "UNTIL"
        })
        .map(str::to_owned)
        .collect();
    parts.push(format!("UNTIL={}", until.format("%Y%m%dT%H%M%SZ")));
    RecurrenceRule::parse(&parts.join(";")).ok()
}

/// The fields of the successor: the same title, description, priority and rule, not completed.
pub fn successor_fields(task: &Task, next: &NextOccurrence) -> TaskFields {
    TaskFields {
        completed: false,
        status: Pick::Default,
        due_date: Some(next.due_date),
        remind_at: next.remind_at,
        ..TaskFields::from(task)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::types::Json;

    use super::*;
    use crate::models::{PriorityId, RecurrenceRule, StatusId, TaskId, TaskTitle, UserId};

    fn task(rule: &str, due: &str, remind: Option<&str>, start: Option<&str>) -> Task {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Task {
            id: TaskId::from(1),
            user_id: UserId::new(),
            title: TaskTitle::parse("t").unwrap(),
            description: None,
            completed: true,
            completed_at: None,
            status_id: StatusId::from(1),
            status: "completed".to_owned(),
            priority_id: PriorityId::from(2),
            priority: "medium".to_owned(),
            position: 0,
            series_id: None,
            due_date: Some(at(due)),
            remind_at: remind.map(at),
            recurrence_rule: Some(RecurrenceRule::parse(rule).unwrap()),
            tags: Json(Vec::new()),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            reminded_at: None,
            successor_id: None,
            recurred_at: None,
            recurrence_start: start.map(at),
        }
    }

    fn next(rule: &str, due: &str, zone: &str) -> Option<String> {
        next_occurrence(&task(rule, due, None, None), zone)
            .map(|n| n.due_date.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    }

    #[test]
    fn the_next_occurrence_keeps_the_local_time_and_follows_the_rule() {
        // Each row: rule, due date, time zone, next due date.
        for row in [
            // 2030-03-10 is the spring-forward day in New York: 09:00 EST is 14:00Z, 09:00 EDT
            // 13:00Z; 2030-11-03 falls back.
            "FREQ=DAILY 2030-03-09T14:00:00Z America/New_York 2030-03-10T13:00:00Z",
            "FREQ=DAILY 2030-11-02T13:00:00Z America/New_York 2030-11-03T14:00:00Z",
            // Southern changes go the other way: Sydney leaves daylight time on 2030-04-07
            // (09:00 AEDT = 22:00Z the day before, 09:00 AEST = 23:00Z) and enters it on 10-06.
            "FREQ=DAILY 2030-04-05T22:00:00Z Australia/Sydney 2030-04-06T23:00:00Z",
            "FREQ=DAILY 2030-10-04T23:00:00Z Australia/Sydney 2030-10-05T22:00:00Z",
            // Monthly on the 31st skips shorter months.
            "FREQ=MONTHLY;BYMONTHDAY=31 2030-01-31T09:00:00Z UTC 2030-03-31T09:00:00Z",
            // Weekly by day goes to the next listed day (2030-01-07 is a Monday).
            "FREQ=WEEKLY;BYDAY=MO,WE 2030-01-07T09:00:00Z UTC 2030-01-09T09:00:00Z",
            "FREQ=WEEKLY;BYDAY=MO,WE 2030-01-09T09:00:00Z UTC 2030-01-14T09:00:00Z",
        ] {
            let [rule, due, zone, expected] = row.split(' ').collect::<Vec<_>>()[..] else {
                unreachable!("{row}")
            };
            assert_eq!(next(rule, due, zone).as_deref(), Some(expected), "{row}");
        }
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_returns_to_the_series_time_after_it() {
        // 02:30 in New York does not exist on 2030-03-10: that day it is 03:30 EDT (07:30Z);
        // the day after, the series is back at 02:30 EDT (06:30Z).
        let start = "2030-03-09T07:30:00Z";
        let gap_day = task("FREQ=DAILY", "2030-03-10T07:30:00Z", None, Some(start));
        let following = next_occurrence(&gap_day, "America/New_York").unwrap();
        assert_eq!(
            following.due_date.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "2030-03-11T06:30:00Z"
        );
    }

    #[test]
    fn count_and_until_end_the_series() {
        let rule = "FREQ=DAILY;COUNT=2";
        let (first, second) = ("2030-01-01T09:00:00Z", "2030-01-02T09:00:00Z");
        let second_of_two = task(rule, second, None, Some(first));
        assert_eq!(next_occurrence(&second_of_two, "UTC"), None);
        let first_of_two = task(rule, first, None, None);
        let following = next_occurrence(&first_of_two, "UTC").unwrap();
        assert_eq!(following.recurrence_start, first_of_two.due_date);
        let until = "FREQ=DAILY;UNTIL=20300101T235959Z";
        assert_eq!(next(until, first, "UTC"), None);
    }

    #[test]
    fn the_reminder_keeps_its_distance_from_the_due_date() {
        let remind = Some("2030-03-09T13:30:00Z");
        let daily = task("FREQ=DAILY", "2030-03-09T14:00:00Z", remind, None);
        let next = next_occurrence(&daily, "America/New_York").unwrap();
        let remind = next.remind_at.unwrap().format("%H:%M").to_string();
        assert_eq!(remind, "12:30", "30 minutes before 09:00 EDT");
    }
}
