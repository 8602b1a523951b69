//! Logging set-up: pretty lines in development, JSON in production, filtered by `RUST_LOG`.
//! Pretty lines are coloured only on a terminal: a file or a pipe gets plain text.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::core::settings::LogFormat;

/// Installs the global subscriber, writing to standard output. Call once, at start.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Pretty => registry
            .with(fmt::layer().compact().with_ansi(colour_stdout()))
            .init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .init(),
    }
}

/// Whether what the service writes to standard output may carry colours.
pub fn colour_stdout() -> bool {
    colour(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// Colours for a terminal only, and not even there when `NO_COLOR` is set to anything (the
/// common `NO_COLOR` convention).
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_is_for_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".as_ref())));
        assert!(!colour(true, Some("1".as_ref())));
        assert!(!colour(false, None), "a file or a pipe gets no colour");
    }
}
