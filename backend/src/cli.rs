//! The command line: `todo-api [serve]`, `todo-api migrate up|down|status`.
//!
//! Every command has one one-line description, the same under `-h` and `--help`; `--help` adds
//! every setting with its default, printed from [`SETTINGS`], the list the settings are read by.

use std::fmt::Write;

use clap::{Parser, Subcommand};

use crate::core::settings::{DEFAULT_DATABASE_URL, DEFAULT_HOST, DEFAULT_PORT, SETTINGS};

// No doc comments on the types below: clap would take them for a second, longer description.
#[derive(Debug, Parser)]
#[command(
    name = "todo-api",
    version,
    about,
    long_about = None,
    after_help = SEE_LONG_HELP,
    after_long_help = settings_help(),
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(
        about = serve_about(),
        long_about = None,
        after_help = SEE_LONG_HELP,
        after_long_help = settings_help(),
    )]
    Serve,
    #[command(
        subcommand,
        about = "Inspect or change the schema of the database DATABASE_URL names",
        long_about = None,
        after_help = migrate_help(),
    )]
    Migrate(MigrateCommand),
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    #[command(
        about = "Apply every pending migration (creates the database when missing)",
        long_about = None,
        after_help = migrate_help(),
    )]
    Up,
    #[command(
        about = "Revert the newest applied migrations (one by default)",
        long_about = None,
        after_help = migrate_help(),
    )]
    Down {
        #[arg(
            long,
            default_value_t = 1,
            value_parser = clap::value_parser!(u32).range(1..),
            help = "How many migrations to revert"
        )]
        steps: u32,
    },
    #[command(
        about = "List every migration and whether it is applied (changes nothing)",
        long_about = None,
        after_help = migrate_help(),
    )]
    Status,
}

/// Under `-h`: where the settings are.
const SEE_LONG_HELP: &str =
    "Settings are environment variables; `--help` lists each with its default.";

/// `serve`'s one line, with the address it listens on by default.
fn serve_about() -> String {
    format!(
        "Run the HTTP server on HOST:PORT (default {DEFAULT_HOST}:{DEFAULT_PORT}), after \
         applying pending migrations unless AUTO_MIGRATE=false; the default command"
    )
}

/// What every `migrate` command's help says about the database it works on.
fn migrate_help() -> String {
    format!(
        "The database is the one DATABASE_URL names (default: {DEFAULT_DATABASE_URL}), a \
         sqlite:// or postgres:// URL; RUST_LOG and LOG_FORMAT apply too. `status` and `down` \
         never create a database; `up` does (a SQLite file and its directory, or, in \
         development, the PostgreSQL database)."
    )
}

/// Every setting with its default and meaning, as `--help` prints them after the commands.
fn settings_help() -> String {
    let mut help = String::from(
        "Settings (environment variables, read and checked once at start; in development a .env \
         file in the working directory is honoured):\n",
    );
    for setting in SETTINGS {
        let _ = write!(
            help,
            "\n  {}  [default: {}]\n          {}\n",
            setting.name, setting.default, setting.meaning
        );
    }
    help
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::core::settings::SettingDefault;

    /// The help of `todo-api <path>`, short (`-h`) and long (`--help`).
    fn helps(path: &[&str]) -> (String, String) {
        let mut command = Cli::command();
        command.build();
        let mut command = &mut command;
        for name in path {
            command = command.find_subcommand_mut(name).unwrap();
        }
        (
            command.render_help().to_string(),
            command.render_long_help().to_string(),
        )
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn long_help_lists_every_setting_with_its_default() {
        for path in [&[][..], &["serve"]] {
            let (_, long) = helps(path);
            for setting in SETTINGS {
                let line = format!("  {}  [default: {}]", setting.name, setting.default);
                assert!(long.contains(&line), "{path:?}: no {line:?} in\n{long}");
                assert!(long.contains(setting.meaning), "{path:?}: {}", setting.name);
            }
            assert!(!long.contains("README"), "{long}");
        }
        let (_, long) = helps(&[]);
        assert!(long.contains("JWT_SECRET_KEY  [default: none]"), "{long}");
        assert!(long.contains("PORT  [default: 8000]"), "{long}");
        assert!(
            SETTINGS
                .iter()
                .any(|s| s.default == SettingDefault::Value("sqlite://todo.db"))
        );
    }

    #[test]
    fn short_and_long_help_open_with_the_same_one_line_description() {
        let paths: [&[&str]; 6] = [
            &[],
            &["serve"],
            &["migrate"],
            &["migrate", "up"],
            &["migrate", "down"],
            &["migrate", "status"],
        ];
        for path in paths {
            let (short, long) = helps(path);
            let first = |help: &str| help.lines().next().unwrap_or_default().to_owned();
            assert_eq!(first(&short), first(&long), "{path:?}");
            assert!(!first(&short).is_empty(), "{path:?}");
        }
        let (short, _) = helps(&[]);
        assert!(
            short.starts_with("A multi-user task service: JSON REST API"),
            "{short}"
        );
        for path in [&[][..], &["serve"]] {
            let (short, _) = helps(path);
            assert!(short.contains("`--help` lists each"), "{short}");
        }
    }

    #[test]
    fn serve_help_names_the_default_address() {
        let (short, long) = helps(&["serve"]);
        for help in [short, long] {
            assert!(help.contains("default 127.0.0.1:8000"), "{help}");
        }
    }

    #[test]
    fn every_migrate_help_names_database_url_and_its_default() {
        for path in [
            &["migrate"][..],
            &["migrate", "up"],
            &["migrate", "down"],
            &["migrate", "status"],
        ] {
            let (short, long) = helps(path);
            for help in [short, long] {
                assert!(help.contains("DATABASE_URL"), "{path:?}: {help}");
                assert!(help.contains("sqlite://todo.db"), "{path:?}: {help}");
            }
        }
    }
}
