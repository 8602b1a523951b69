//! The time, as the service reads it.

use std::{fmt, sync::Arc};

use chrono::{DateTime, SubsecRound, Utc};

/// Where the store and the services read the current time: the system clock when serving, one
/// a test sets when it needs to. Cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(Utc::now))
    }

    /// A clock that asks `now` for the time.
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// The current time as both backends store it: UTC, whole microseconds.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)().trunc_subsecs(6)
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_answers_its_time_in_whole_microseconds() {
        let at = DateTime::parse_from_rfc3339("2030-01-02T03:04:05.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::from_fn(move || at);
        assert_eq!(clock.now().to_rfc3339(), "2030-01-02T03:04:05.123456+00:00");
    }
}
