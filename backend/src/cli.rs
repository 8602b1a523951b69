//! The command line: `todo-api [serve]`, `todo-api migrate up|down|status`.

use clap::{Parser, Subcommand};

/// todo-api: a multi-user task service (JSON REST API).
///
/// Settings come from environment variables (and a `.env` file in development); see the README
/// for the full list. The most important: DATABASE_URL, JWT_SECRET_KEY, APP_ENV, HOST, PORT.
#[derive(Debug, Parser)]
#[command(name = "todo-api", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default when no subcommand is given). Applies pending
    /// migrations first unless AUTO_MIGRATE=false.
    Serve,
    /// Inspect or change the database schema.
    #[command(subcommand)]
    Migrate(MigrateCommand),
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply every pending migration.
    Up,
    /// Revert the newest applied migrations (one by default).
    Down {
        /// How many migrations to revert.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
    },
    /// List every migration and whether it is applied.
    Status,
}
