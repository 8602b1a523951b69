//! Start-up only: settings, logging, pool, migrations, serve.

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use clap::Parser;
use todo_api::{
    app::{self, AppState},
    cli::{Cli, Command, MigrateCommand},
    core::{settings::Settings, telemetry},
    db::{self, Store},
    server,
    services::availability,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A .env file is honoured in development only; production reads the real environment.
    if !matches!(std::env::var("APP_ENV").as_deref(), Ok("production")) {
        let _ = dotenvy::dotenv();
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("todo-api: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format, &settings.log_filter);

    match run(cli.command.unwrap_or(Command::Serve), settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("todo-api: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let store = db::connect(&settings).await?;
    if !matches!(command, Command::Serve) {
        store.create_database_if_missing().await?;
    }
    let result = match command {
        Command::Serve => serve(settings, store.clone()).await,
        Command::Migrate(MigrateCommand::Up) => {
            store.migrate_up().await?;
            println!("all migrations applied");
            Ok(())
        }
        Command::Migrate(MigrateCommand::Down { steps }) => {
            let reverted = store.migrate_down(steps as usize).await?;
            if reverted.is_empty() {
                println!("nothing to revert");
            }
            for version in reverted {
                println!("reverted {version}");
            }
            Ok(())
        }
        Command::Migrate(MigrateCommand::Status) => {
            for migration in store.migration_status().await? {
                let state = if migration.applied {
                    "applied"
                } else {
                    "pending"
                };
                println!(
                    "{:<8} {} {}",
                    state, migration.version, migration.description
                );
            }
            Ok(())
        }
    };
    // A clean close lets SQLite fold its write-ahead log back into the file.
    store.close().await;
    result
}

async fn serve(settings: Settings, store: Arc<Store>) -> Result<(), Box<dyn std::error::Error>> {
    if settings.jwt_secret.was_generated() {
        tracing::warn!(
            "JWT_SECRET_KEY is not set: using a random key for this process only. Every token \
             dies when it stops. Set JWT_SECRET_KEY (make one with `openssl rand -hex 32`)."
        );
    }
    // Creates the database (development) and migrates it; with PostgreSQL down, serves 503
    // and keeps trying (unless WAIT_FOR_DATABASE=false).
    availability::prepare_or_wait(&store, &settings).await?;
    if !settings.auto_migrate {
        tracing::warn!(
            "AUTO_MIGRATE=false: not applying migrations; /health/ready reports not-ready while \
             any are pending (run `todo-api migrate up`)"
        );
    }
    match server::raise_open_file_limit() {
        Ok(limit) => tracing::info!(
            before = limit.before,
            after = limit.after,
            "open-file limit (soft RLIMIT_NOFILE) raised to the hard limit"
        ),
        Err(error) => tracing::warn!(%error, "could not raise the open-file limit"),
    }
    let address = SocketAddr::new(settings.host, settings.port);
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "todo-api listening");
    let state = AppState::new(settings, store);
    app::serve(listener, state, app::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
