//! What `todo-api serve` says once it listens: the address to open, the API docs, the database
//! it uses and what needs attention, as a block a person sees among the log lines (pretty logs)
//! or as log lines with fields (JSON logs, read by machines).

use std::{fmt::Write as _, io::Write as _, net::SocketAddr, path::Path, str::FromStr};

use sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};

use super::settings::{DatabaseBackend, LogFormat, Settings};

/// How wide the block's rules and wrapped warnings are.
const WIDTH: usize = 78;
/// Where a row's value starts.
const LABEL: usize = 12;

/// What the service tells whoever started it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Welcome {
    /// The address to open in a browser or to send requests to.
    pub url: String,
    /// Set when the service listens on every interface (0.0.0.0 or ::).
    pub every_interface: bool,
    /// Which database, without any password.
    pub database: String,
    pub production: bool,
    /// What the operator should fix or know, one sentence or two each.
    pub warnings: Vec<String>,
}

impl Welcome {
    /// The welcome of a service with `settings` listening on `bound` (the address the listener
    /// got, so a `PORT` of 0 shows the real port).
    pub fn new(settings: &Settings, bound: SocketAddr) -> Self {
        let every_interface = bound.ip().is_unspecified();
        let mut shown = bound;
        if every_interface {
            shown.set_ip(match bound {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let mut warnings = Vec::new();
        if settings.jwt_secret.was_generated() {
            warnings.push(
                "JWT_SECRET_KEY is not set: tokens are signed with a random key made for this \
                 process only, so every token, and every sign-in, ends when it stops. Set \
                 JWT_SECRET_KEY (make one with `openssl rand -hex 32`)."
                    .to_owned(),
            );
        }
        if is_in_memory(&settings.database_url) {
            warnings.push(
                "The database is in memory: everything in it is lost when the process stops."
                    .to_owned(),
            );
        }
        if !settings.auto_migrate {
            warnings.push(
                "AUTO_MIGRATE=false: pending migrations are not applied, and /health/ready \
                 answers 503 until they are (`todo-api migrate up`)."
                    .to_owned(),
            );
        }
        Self {
            url: format!("http://{shown}"),
            every_interface,
            database: describe_database(settings.database_backend(), &settings.database_url),
            production: settings.is_production(),
            warnings,
        }
    }

    /// The block for people, with the warnings in bold yellow when `colour`.
    pub fn render(&self, colour: bool) -> String {
        let rule = "=".repeat(WIDTH);
        let env = if self.production {
            "production"
        } else {
            "development"
        };
        let mut block = format!(
            "\n{rule}\n  todo-api {} is running ({env})\n\n",
            env!("CARGO_PKG_VERSION")
        );
        let mut row = |label: &str, value: &str| {
            let _ = writeln!(block, "  {label:<width$}{value}", width = LABEL - 2);
        };
        let open = if self.every_interface {
            format!("{}   (listening on every interface)", self.url)
        } else {
            self.url.clone()
        };
        row("Open", &open);
        row("API docs", &format!("{}/docs   (or /redoc)", self.url));
        row("Database", &self.database);
        row("Stop", "Ctrl-C");
        for warning in &self.warnings {
            block.push('\n');
            let label = if colour {
                "\x1b[1;33mWARNING\x1b[0m   "
            } else {
                "WARNING   "
            };
            for (i, line) in wrap(warning, WIDTH - LABEL).iter().enumerate() {
                let lead = if i == 0 { label } else { "          " };
                let _ = writeln!(block, "  {lead}{line}");
            }
        }
        let _ = writeln!(block, "{rule}");
        block
    }

    /// Says it: the block on standard output with pretty logs (coloured on a terminal only);
    /// with JSON logs, whose every line is read by a machine, the warnings as log lines (the
    /// rest is in the "listening" line's fields).
    pub fn announce(&self, format: LogFormat) {
        match format {
            LogFormat::Pretty => {
                let block = self.render(super::telemetry::colour_stdout());
                let mut stdout = std::io::stdout().lock();
                let _ = stdout
                    .write_all(block.as_bytes())
                    .and_then(|()| stdout.flush());
            }
            LogFormat::Json => {
                for warning in &self.warnings {
                    tracing::warn!("{warning}");
                }
            }
        }
    }
}

/// Which database `url` names, for people: the SQLite file's full path, or PostgreSQL's
/// database, host, port and user. Never the password.
pub fn describe_database(backend: DatabaseBackend, url: &str) -> String {
    match backend {
        DatabaseBackend::Sqlite => {
            if is_in_memory(url) {
                return "SQLite, in memory".to_owned();
            }
            match SqliteConnectOptions::from_str(url) {
                Ok(options) => format!("SQLite, file {}", absolute(options.get_filename())),
                Err(_) => "SQLite".to_owned(),
            }
        }
        DatabaseBackend::Postgres => match PgConnectOptions::from_str(url) {
            Ok(options) => {
                let host = options.get_host();
                let host = if host.contains(':') && !host.starts_with('/') {
                    format!("[{host}]")
                } else {
                    host.to_owned()
                };
                let user = options.get_username();
                format!(
                    "PostgreSQL, database {} on {host}:{} as user {user}",
                    options.get_database().unwrap_or(user),
                    options.get_port(),
                )
            }
            Err(_) => "PostgreSQL".to_owned(),
        },
    }
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// `text` in lines of at most `width` characters, broken between words but never inside
/// `a command` in backticks (it is copied whole), unless it is longer than a line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match words.last_mut() {
            Some(open) if open.matches('`').count() % 2 == 1 => {
                open.push(' ');
                open.push_str(word);
            }
            _ => words.push(word.to_owned()),
        }
    }
    let mut lines: Vec<String> = Vec::new();
    for word in &words {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.clone()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars(&vars).unwrap()
    }

    fn local(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn the_welcome_names_the_url_the_docs_the_database_file_and_the_throw_away_key() {
        let welcome = Welcome::new(&settings(&[]), local(8000));
        let block = welcome.render(false);
        let cwd = std::env::current_dir().unwrap();
        for expected in [
            "todo-api 0.1.0 is running (development)".to_owned(),
            "Open      http://127.0.0.1:8000\n".to_owned(),
            "API docs  http://127.0.0.1:8000/docs".to_owned(),
            format!("Database  SQLite, file {}\n", cwd.join("todo.db").display()),
            "WARNING   JWT_SECRET_KEY is not set".to_owned(),
            "openssl rand -hex 32".to_owned(),
        ] {
            assert!(block.contains(&expected), "{expected:?} in\n{block}");
        }
        assert!(!block.contains('\x1b'), "no colour asked for:\n{block}");
        assert!(
            block.lines().all(|line| line.chars().count() <= WIDTH),
            "{block}"
        );
    }

    #[test]
    fn warnings_are_coloured_only_when_asked() {
        let welcome = Welcome::new(&settings(&[]), local(8000));
        assert!(welcome.render(true).contains("\x1b[1;33mWARNING\x1b[0m"));
        let quiet = Welcome::new(&settings(&[("JWT_SECRET_KEY", SECRET)]), local(8000));
        assert_eq!(quiet.warnings, Vec::<String>::new());
        assert!(!quiet.render(true).contains("WARNING"));
    }

    #[test]
    fn postgres_is_named_by_database_host_port_and_user_never_the_password() {
        let welcome = Welcome::new(
            &settings(&[
                ("JWT_SECRET_KEY", SECRET),
                (
                    "DATABASE_URL",
                    "postgres://app:s3cr3t-pw@db.internal:6543/todo?sslmode=prefer",
                ),
            ]),
            local(8000),
        );
        assert_eq!(
            welcome.database,
            "PostgreSQL, database todo on db.internal:6543 as user app"
        );
        assert!(!welcome.render(false).contains("s3cr3t"));
    }

    #[test]
    fn every_interface_is_opened_on_loopback_and_said() {
        let welcome = Welcome::new(
            &settings(&[("JWT_SECRET_KEY", SECRET)]),
            SocketAddr::from(([0, 0, 0, 0], 8080)),
        );
        assert_eq!(welcome.url, "http://127.0.0.1:8080");
        assert!(
            welcome
                .render(false)
                .contains("http://127.0.0.1:8080   (listening on every interface)")
        );
        let welcome = Welcome::new(
            &settings(&[("JWT_SECRET_KEY", SECRET)]),
            "[::]:8000".parse().unwrap(),
        );
        assert_eq!(welcome.url, "http://[::1]:8000");
    }

    #[test]
    fn an_in_memory_database_and_auto_migrate_off_are_warned_about() {
        let welcome = Welcome::new(
            &settings(&[
                ("JWT_SECRET_KEY", SECRET),
                ("DATABASE_URL", "sqlite::memory:"),
                ("AUTO_MIGRATE", "false"),
            ]),
            local(8000),
        );
        assert_eq!(welcome.database, "SQLite, in memory");
        assert_eq!(welcome.warnings.len(), 2, "{:?}", welcome.warnings);
        assert!(welcome.warnings[0].contains("lost when the process stops"));
        assert!(welcome.warnings[1].contains("AUTO_MIGRATE=false"));
    }

    #[test]
    fn long_warnings_wrap_between_words() {
        assert_eq!(
            wrap("one two three four", 9),
            ["one two", "three", "four"].map(String::from)
        );
        assert_eq!(
            wrap("run `a b c` now", 8),
            ["run", "`a b c`", "now"].map(String::from)
        );
    }
}
