//! Start-up only: settings, logging, pool, migrations, serve.

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use clap::Parser;
use todo_api::{
    app::{self, AppState},
    cli::{Cli, Command, MigrateCommand},
    core::{
        settings::Settings,
        telemetry,
        welcome::{Welcome, describe_database},
    },
    db::{self, MigrationState, Store},
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
    let migrate = match command {
        Command::Serve => {
            let store = db::connect(&settings).await?;
            let result = serve(settings, store.clone()).await;
            // A clean close lets SQLite fold its write-ahead log back into the file.
            store.close().await;
            return result;
        }
        Command::Migrate(migrate) => migrate,
    };
    // Only `up` may create the database; `status` looks, and `down` has nothing to undo on a
    // database that does not exist.
    let store = if matches!(migrate, MigrateCommand::Up) {
        let store = db::connect(&settings).await?;
        store.create_database_if_missing().await?;
        store
    } else if let Some(store) = db::connect_existing(&settings).await? {
        store
    } else {
        let database = describe_database(settings.database_backend(), &settings.database_url);
        eprintln!(
            "todo-api: the database does not exist yet ({database}); `todo-api migrate up` or \
             starting the service creates it"
        );
        match migrate {
            MigrateCommand::Status => {
                print_status(&db::known_migrations(settings.database_backend()))
            }
            _ => println!("nothing to revert"),
        }
        return Ok(());
    };
    let result = migrate_command(migrate, &store).await;
    store.close().await;
    result
}

async fn migrate_command(
    command: MigrateCommand,
    store: &Store,
) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        MigrateCommand::Up => {
            store.migrate_up().await?;
            println!("all migrations applied");
        }
        MigrateCommand::Down { steps } => {
            let reverted = store.migrate_down(steps as usize).await?;
            if reverted.is_empty() {
                println!("nothing to revert");
            }
            for version in reverted {
                println!("reverted {version}");
            }
        }
        MigrateCommand::Status => print_status(&store.migration_status().await?),
    }
    Ok(())
}

fn print_status(migrations: &[MigrationState]) {
    for migration in migrations {
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
}

async fn serve(settings: Settings, store: Arc<Store>) -> Result<(), Box<dyn std::error::Error>> {
    // Creates the database (development) and migrates it; with PostgreSQL down, serves 503
    // and keeps trying (unless WAIT_FOR_DATABASE=false).
    availability::prepare_or_wait(&store, &settings).await?;
    match server::raise_open_file_limit() {
        Ok(limit) => tracing::info!(
            before = limit.before,
            after = limit.after,
            "open-file limit (soft RLIMIT_NOFILE) raised to the hard limit"
        ),
        Err(error) => tracing::warn!(%error, "could not raise the open-file limit"),
    }
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::new(settings.host, settings.port)).await?;
    let address = listener.local_addr()?;
    let mut welcome = Welcome::new(&settings, address);
    if !store.health().is_available() {
        welcome.warnings.push(
            "The database cannot be reached yet: every request but /health is answered 503 \
             while the service keeps trying (see the log)."
                .to_owned(),
        );
    }
    tracing::info!(
        %address,
        url = %welcome.url,
        database = %welcome.database,
        "todo-api listening"
    );
    welcome.announce(settings.log_format);
    let state = AppState::new(settings, store);
    app::serve(listener, state, app::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
