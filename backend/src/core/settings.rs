//! The one typed settings struct, read from the environment once at start and validated there.
//!
//! A bad value stops the process with a one-line message naming the variable; nothing later in the
//! program parses an environment variable.

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, Ipv4Addr},
    ops::RangeBounds,
    str::FromStr,
    time::Duration,
};

use rand::RngCore;

/// The minimum length of `JWT_SECRET_KEY` in hex characters (256 bits).
const MIN_SECRET_HEX_CHARS: usize = 64;

/// The embedded default: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://todo.db";
/// The usual local development servers' origins, each under both names of the loopback host:
/// the service announces itself as `127.0.0.1`, and a browser tab opened there sends that origin.
const DEFAULT_CORS_ORIGINS: &str = "http://localhost:3000,http://127.0.0.1:3000,\
     http://localhost:5173,http://127.0.0.1:5173,\
     http://localhost:8080,http://127.0.0.1:8080,\
     http://localhost:8000,http://127.0.0.1:8000";
/// The listen address when `HOST` and `PORT` are unset: loopback only.
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const DEFAULT_PORT: u16 = 8000;

/// `REFRESH_REUSE_GRACE_SECS` unset: long enough for two tabs refreshing at once (well under a
/// second apart) and for a client retrying after its response was lost on a slow link (which
/// gives up on the lost one after a timeout of seconds to tens of seconds, like our own
/// `REQUEST_TIMEOUT_SECS` of 30); short enough that a copied token replayed later still trips
/// theft detection.
const DEFAULT_REFRESH_REUSE_GRACE_SECS: u64 = 30;
/// The longest rotation overlap accepted: every second of it is a second in which a stolen,
/// just-superseded refresh token is exchanged instead of revoking the session.
const MAX_REFRESH_REUSE_GRACE_SECS: u64 = 60;

/// Where the service runs: development is forgiving and chatty, production is strict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Which origins may call the API from a browser, with credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: any origin (development only); the request's origin is mirrored so that
    /// credentials still work.
    Any,
    List(Vec<String>),
}

/// The HMAC key for HS256 tokens. Its `Debug` never prints the key.
#[derive(Clone)]
pub struct JwtSecret {
    key: String,
    generated: bool,
}

impl JwtSecret {
    pub fn as_bytes(&self) -> &[u8] {
        self.key.as_bytes()
    }

    /// True when no key was configured and one was made up at start.
    pub fn was_generated(&self) -> bool {
        self.generated
    }

    /// A fresh random 256-bit key, hex-encoded.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            key,
            generated: true,
        }
    }

    fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.len() < MIN_SECRET_HEX_CHARS || !value.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "JWT_SECRET_KEY must be at least {MIN_SECRET_HEX_CHARS} hex characters (256 bits); \
                 make one with `openssl rand -hex 32`"
            ));
        }
        Ok(Self {
            key: value.to_owned(),
            generated: false,
        })
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(..)")
    }
}

/// Which database `DATABASE_URL` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseBackend {
    Postgres,
    Sqlite,
}

impl DatabaseBackend {
    pub fn of_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Self::Postgres),
            "sqlite" => Some(Self::Sqlite),
            _ => None,
        }
    }
}

/// What stands between the service and PostgreSQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbPooler {
    /// Nothing, or a pooler in session mode: each connection is a session of its own.
    None,
    /// A pooler in transaction mode (PgBouncer's `pool_mode = transaction`) at `DATABASE_URL`:
    /// consecutive transactions of one connection may run on different server sessions, so
    /// nothing may outlive a transaction (prepared statements, `LISTEN`, session settings,
    /// advisory locks). What needs a session connects to `direct_url` instead.
    Transaction { direct_url: String },
}

impl DbPooler {
    fn parse(vars: &Vars, database_url: &str) -> Result<Self, SettingsError> {
        let pooler = vars.word("DB_POOLER");
        let direct_url = vars.get("DATABASE_DIRECT_URL");
        let postgres = |url: &str| DatabaseBackend::of_url(url) == Some(DatabaseBackend::Postgres);
        match pooler.as_deref() {
            None | Some("none") if direct_url.is_some() => Err(SettingsError(
                "DATABASE_DIRECT_URL is only read behind a pooler: set DB_POOLER=transaction, \
                 or unset it"
                    .into(),
            )),
            None | Some("none") => Ok(Self::None),
            Some("transaction") if !postgres(database_url) => Err(SettingsError(
                "DB_POOLER=transaction needs a postgres:// DATABASE_URL (the pooler's address)"
                    .into(),
            )),
            Some("transaction") => match direct_url {
                Some(url) if postgres(url) => Ok(Self::Transaction {
                    direct_url: url.to_owned(),
                }),
                _ => Err(invalid(
                    "DATABASE_DIRECT_URL",
                    "with DB_POOLER=transaction, a postgres:// URL of the same database that \
                     bypasses the pooler",
                )),
            },
            Some(_) => Err(invalid("DB_POOLER", "`none` or `transaction`")),
        }
    }
}

/// Every setting of the service (SPEC section 1).
#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: String,
    /// Whether `database_url` is a transaction-mode pooler, and how to bypass it.
    pub pooler: DbPooler,
    pub jwt_secret: JwtSecret,
    pub app_env: AppEnv,
    pub host: IpAddr,
    pub port: u16,
    pub cors_origins: CorsOrigins,
    /// Register and login requests per client IP per minute; refresh gets twice this. 0 disables.
    pub auth_rate_limit_per_minute: u32,
    pub trust_proxy_headers: bool,
    pub auto_migrate: bool,
    /// When PostgreSQL cannot be reached at start: serve (liveness up, 503 otherwise) and keep
    /// trying, instead of exiting.
    pub wait_for_database: bool,
    pub db_max_connections: u32,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub request_timeout: Duration,
    /// Whether the refresh cookie carries `Secure`; always true in production.
    pub cookie_secure: bool,
    /// The rotation overlap: for this long after a refresh, the refresh token it superseded
    /// is answered with the session's current one instead of counting as reuse. Zero disables.
    pub refresh_reuse_grace: Duration,
    /// How long slow and idle clients may hold a connection, and how many connections at once.
    pub client_limits: ClientLimits,
    /// How long the change log keeps an entry.
    pub change_retention: Duration,
}

/// A setting's default, as `todo-api --help` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingDefault {
    /// Unset means exactly this value (a unit test holds [`Settings::from_vars`] to it).
    Value(&'static str),
    /// Unset means something worked out at start, described in words.
    Computed(&'static str),
    /// No default.
    None,
}

impl fmt::Display for SettingDefault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(value) | Self::Computed(value) => f.write_str(value),
            Self::None => f.write_str("none"),
        }
    }
}

/// One environment variable the service reads: its name, its default and what it means.
#[derive(Clone, Copy, Debug)]
pub struct SettingDoc {
    pub name: &'static str,
    pub default: SettingDefault,
    pub meaning: &'static str,
}

const fn setting(name: &'static str, default: SettingDefault, meaning: &'static str) -> SettingDoc {
    SettingDoc {
        name,
        default,
        meaning,
    }
}

/// Every setting, in the order [`Settings::from_vars`] reads them: the one list `--help` prints.
/// Unit tests hold it to `from_vars`: it names every variable that is read, and each
/// [`SettingDefault::Value`] is what an unset variable means.
pub const SETTINGS: &[SettingDoc] = {
    use SettingDefault::{Computed, None, Value};
    &[
        setting(
            "APP_ENV",
            Value("development"),
            "development or production (JSON logs, required secret, Secure cookies, no * in \
             CORS_ORIGINS)",
        ),
        setting(
            "JWT_SECRET_KEY",
            None,
            "at least 64 hex characters (`openssl rand -hex 32`); unset: a random key for this \
             process in development (tokens die with it), refused in production",
        ),
        setting(
            "DATABASE_URL",
            Value(DEFAULT_DATABASE_URL),
            "sqlite://path/file.db or postgres://user@host:5432/db; the scheme picks the backend",
        ),
        setting(
            "DB_POOLER",
            Value("none"),
            "transaction: DATABASE_URL is a transaction-mode pooler such as PgBouncer (every \
             statement runs in a transaction, none stays prepared); PostgreSQL only",
        ),
        setting(
            "DATABASE_DIRECT_URL",
            None,
            "with DB_POOLER=transaction, required: the same database without the pooler, for \
             what needs a session of its own (migrations, the event listener)",
        ),
        setting(
            "HOST",
            Value("127.0.0.1"),
            "listen address: an IP address (0.0.0.0 for every interface), or localhost",
        ),
        setting("PORT", Value("8000"), "listen port"),
        setting(
            "CORS_ORIGINS",
            Value(DEFAULT_CORS_ORIGINS),
            "comma list of origins allowed with credentials; * (development only) mirrors any \
             origin",
        ),
        setting("RUST_LOG", Value("info"), "log filter, e.g. info,sqlx=warn"),
        setting(
            "AUTH_RATE_LIMIT_PER_MINUTE",
            Value("5"),
            "per client IP, for register and login each; refresh gets twice as many; 0 disables",
        ),
        setting(
            "TRUST_PROXY_HEADERS",
            Value("false"),
            "when true, the client IP is the last address in X-Forwarded-For",
        ),
        setting(
            "AUTO_MIGRATE",
            Value("true"),
            "apply pending migrations at start; when false, start anyway, warn, and report \
             not-ready",
        ),
        setting(
            "WAIT_FOR_DATABASE",
            Value("true"),
            "PostgreSQL unreachable at start: serve 503s and keep trying; false: exit with an \
             error",
        ),
        setting(
            "DB_MAX_CONNECTIONS",
            Computed("4 × cores, within 4–32"),
            "pool size (SQLite: reader connections; writes share one writer connection)",
        ),
        setting(
            "LOG_FORMAT",
            Computed("pretty in development, json in production"),
            "log line format: pretty or json",
        ),
        setting(
            "REQUEST_TIMEOUT_SECS",
            Value("30"),
            "a longer request is answered 503; a change still runs on to its end, a read is \
             dropped",
        ),
        setting(
            "COOKIE_SECURE",
            Value("false"),
            "add Secure to the refresh cookie in development too (always on in production)",
        ),
        setting(
            "REFRESH_REUSE_GRACE_SECS",
            Value("30"),
            "rotation overlap: the token just replaced gets the current one back for this long; \
             0–60, 0 disables",
        ),
        setting(
            "HEADER_READ_TIMEOUT_SECS",
            Value("10"),
            "a request head must be complete this long after accept (or its first byte), else \
             the connection closes; 1–3600",
        ),
        setting(
            "KEEP_ALIVE_TIMEOUT_SECS",
            Value("75"),
            "an idle keep-alive connection is closed after this long; 1–3600",
        ),
        setting(
            "MAX_CONNECTIONS",
            Computed("open-file limit − pool − 128"),
            "most client connections open at once; at the bound new clients wait in the listen \
             queue",
        ),
        setting(
            "CHANGE_RETENTION_DAYS",
            Value("30"),
            "how long the change log keeps a change for sync and stream resume; 1–3650",
        ),
    ]
};

/// A setting that could not be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(String);

impl Settings {
    /// Reads the process environment (after `.env` in development).
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Builds settings from a map of variables, so tests need not touch the process environment.
    ///
    /// Longer than 60 lines on purpose: one short statement per setting, every setting read and
    /// checked in one place, in the order of the settings table.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let vars = Vars(vars);
        let app_env = match vars.word("APP_ENV").as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(_) => return Err(invalid("APP_ENV", "`development` or `production`")),
        };
        let production = app_env == AppEnv::Production;

        let jwt_secret = match vars.get("JWT_SECRET_KEY") {
            Some(value) => JwtSecret::parse(value).map_err(SettingsError)?,
            None if production => {
                return Err(SettingsError(
                    "JWT_SECRET_KEY is required in production; make one with `openssl rand -hex 32`"
                        .into(),
                ));
            }
            None => JwtSecret::generate(),
        };

        let database_url = vars
            .get("DATABASE_URL")
            .unwrap_or(DEFAULT_DATABASE_URL)
            .to_owned();
        if DatabaseBackend::of_url(&database_url).is_none() {
            return Err(invalid(
                "DATABASE_URL",
                "a sqlite:// or postgres:// URL (unset means sqlite://todo.db)",
            ));
        }
        let pooler = DbPooler::parse(&vars, &database_url)?;

        let host = match vars.get("HOST") {
            None | Some("localhost") => DEFAULT_HOST,
            Some(value) => value
                .parse()
                .map_err(|_| invalid("HOST", "an IP address such as 127.0.0.1 or 0.0.0.0"))?,
        };
        let port = vars
            .number("PORT", .., "a port number")?
            .unwrap_or(DEFAULT_PORT);

        let cors_origins = parse_cors(vars.get("CORS_ORIGINS").unwrap_or(DEFAULT_CORS_ORIGINS))
            .map_err(|expected| invalid("CORS_ORIGINS", expected))?;
        if production && cors_origins == CorsOrigins::Any {
            return Err(SettingsError(
                "invalid CORS_ORIGINS: `*` is not allowed in production; list the origins".into(),
            ));
        }

        let log_filter = vars.get("RUST_LOG").unwrap_or("info");
        let grace_expected = format!(
            "a whole number of seconds from 0 (disables the overlap) to \
             {MAX_REFRESH_REUSE_GRACE_SECS}"
        );
        Ok(Self {
            database_url,
            pooler,
            jwt_secret,
            app_env,
            host,
            port,
            cors_origins,
            auth_rate_limit_per_minute: vars
                .number(
                    "AUTH_RATE_LIMIT_PER_MINUTE",
                    ..,
                    "a whole number (0 disables)",
                )?
                .unwrap_or(5),
            trust_proxy_headers: vars.flag("TRUST_PROXY_HEADERS", false)?,
            auto_migrate: vars.flag("AUTO_MIGRATE", true)?,
            wait_for_database: vars.flag("WAIT_FOR_DATABASE", true)?,
            db_max_connections: vars
                .number("DB_MAX_CONNECTIONS", 1.., "a whole number of at least 1")?
                .unwrap_or_else(default_pool_size),
            log_format: match vars.word("LOG_FORMAT").as_deref() {
                None if production => LogFormat::Json,
                None | Some("pretty") => LogFormat::Pretty,
                Some("json") => LogFormat::Json,
                Some(_) => return Err(invalid("LOG_FORMAT", "`pretty` or `json`")),
            },
            log_filter: tracing_subscriber::EnvFilter::try_new(log_filter)
                .map(|_| log_filter.to_owned())
                .map_err(|_| invalid("RUST_LOG", "a tracing filter such as `info`"))?,
            request_timeout: Duration::from_secs(
                vars.number(
                    "REQUEST_TIMEOUT_SECS",
                    1..,
                    "a whole number of seconds, at least 1",
                )?
                .unwrap_or(30),
            ),
            cookie_secure: production || vars.flag("COOKIE_SECURE", false)?,
            refresh_reuse_grace: Duration::from_secs(
                vars.number(
                    "REFRESH_REUSE_GRACE_SECS",
                    ..=MAX_REFRESH_REUSE_GRACE_SECS,
                    &grace_expected,
                )?
                .unwrap_or(DEFAULT_REFRESH_REUSE_GRACE_SECS),
            ),
            client_limits: ClientLimits::parse(&vars)?,
            change_retention: Duration::from_secs(
                86_400
                    * vars
                        .number(
                            "CHANGE_RETENTION_DAYS",
                            1..=3650,
                            "a whole number of days from 1 to 3650",
                        )?
                        .unwrap_or(30),
            ),
        })
    }

    pub fn is_production(&self) -> bool {
        self.app_env == AppEnv::Production
    }

    pub fn database_backend(&self) -> DatabaseBackend {
        // Checked when the settings were read.
        DatabaseBackend::of_url(&self.database_url).unwrap_or(DatabaseBackend::Sqlite)
    }
}

/// The variables settings are read from; a blank value counts as unset.
struct Vars<'a>(&'a HashMap<String, String>);

impl<'a> Vars<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        #[cfg(test)]
        tests::READ.with_borrow_mut(|read| read.push(name.to_owned()));
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A setting that is one of a few words, in any case.
    fn word(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_ascii_lowercase)
    }

    /// A number within `range`, or `None` when unset.
    fn number<T: FromStr + PartialOrd>(
        &self,
        name: &str,
        range: impl RangeBounds<T>,
        expected: &str,
    ) -> Result<Option<T>, SettingsError> {
        self.get(name)
            .map(|value| {
                value
                    .parse()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| invalid(name, expected))
            })
            .transpose()
    }

    fn flag(&self, name: &str, default: bool) -> Result<bool, SettingsError> {
        match self.word(name).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(_) => Err(invalid(name, "true or false")),
        }
    }
}

fn invalid(name: &str, expected: &str) -> SettingsError {
    SettingsError(format!("invalid {name}: expected {expected}"))
}

/// `HEADER_READ_TIMEOUT_SECS` unset: a real client sends a request head in one packet within
/// milliseconds; ten seconds still covers a bad mobile link, and bounds how long a half-sent
/// request (slowloris) holds a connection.
const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// `KEEP_ALIVE_TIMEOUT_SECS` unset: longer than the 60 s idle timeout of common load balancers
/// and reverse proxies, so the proxy, not this service, closes a pooled connection (the other
/// way round, a proxy may send a request on a connection just closed under it).
const DEFAULT_KEEP_ALIVE_TIMEOUT_SECS: u64 = 75;
/// The longest either connection timeout may be set to.
const MAX_CONNECTION_TIMEOUT_SECS: u64 = 3600;

/// How long slow and idle clients may hold a connection, and how many may be open at once
/// (see `crate::server` for the three connection states and their clocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientLimits {
    /// The clock of a connection reading a request head.
    pub header_read_timeout: Duration,
    /// The clock of an idle keep-alive connection.
    pub keep_alive_timeout: Duration,
    /// `MAX_CONNECTIONS`; unset means the open-file limit minus headroom, computed at start.
    pub max_connections: Option<u32>,
}

impl ClientLimits {
    fn parse(vars: &Vars) -> Result<Self, SettingsError> {
        let expected = format!("a whole number of seconds from 1 to {MAX_CONNECTION_TIMEOUT_SECS}");
        let seconds = |name: &str, default: u64| -> Result<Duration, SettingsError> {
            let secs = vars.number(name, 1..=MAX_CONNECTION_TIMEOUT_SECS, &expected)?;
            Ok(Duration::from_secs(secs.unwrap_or(default)))
        };
        Ok(Self {
            header_read_timeout: seconds(
                "HEADER_READ_TIMEOUT_SECS",
                DEFAULT_HEADER_READ_TIMEOUT_SECS,
            )?,
            keep_alive_timeout: seconds(
                "KEEP_ALIVE_TIMEOUT_SECS",
                DEFAULT_KEEP_ALIVE_TIMEOUT_SECS,
            )?,
            max_connections: vars.number(
                "MAX_CONNECTIONS",
                1..,
                "a whole number of at least 1 (unset: the open-file limit minus room for the \
                 pool and files)",
            )?,
        })
    }
}

fn parse_cors(value: &str) -> Result<CorsOrigins, &'static str> {
    if value == "*" {
        return Ok(CorsOrigins::Any);
    }
    let origins: Vec<String> = value
        .split(',')
        .map(|origin| origin.trim().trim_end_matches('/').to_owned())
        .filter(|origin| !origin.is_empty())
        .collect();
    let well_formed = |origin: &String| {
        (origin.starts_with("http://") || origin.starts_with("https://"))
            && axum::http::HeaderValue::from_str(origin).is_ok()
    };
    if origins.is_empty() || !origins.iter().all(well_formed) {
        return Err("a comma-separated list of origins such as http://localhost:3000, or `*`");
    }
    Ok(CorsOrigins::List(origins))
}

/// A pool a little larger than the cores: PostgreSQL work is mostly waiting on I/O.
fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    (cores * 4).clamp(4, 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    thread_local! {
        /// The variables `from_vars` asked for on this thread, in order.
        pub(super) static READ: std::cell::RefCell<Vec<String>> = const {
            std::cell::RefCell::new(Vec::new())
        };
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let settings = Settings::from_vars(&vars(&[])).unwrap();
        assert_eq!(settings.app_env, AppEnv::Development);
        assert_eq!(settings.port, 8000);
        assert_eq!(settings.auth_rate_limit_per_minute, 5);
        assert!(settings.auto_migrate);
        assert!(settings.wait_for_database);
        assert!(settings.jwt_secret.was_generated());
        assert_eq!(settings.jwt_secret.as_bytes().len(), 64);
        assert_eq!(settings.log_format, LogFormat::Pretty);
        assert!(!settings.cookie_secure);
        assert_eq!(settings.database_url, "sqlite://todo.db");
        assert_eq!(settings.database_backend(), DatabaseBackend::Sqlite);
    }

    #[test]
    fn the_url_scheme_picks_the_backend() {
        for (url, backend) in [
            ("postgres://u@h/db", DatabaseBackend::Postgres),
            ("postgresql://u@h/db", DatabaseBackend::Postgres),
            ("sqlite://data/todo.db", DatabaseBackend::Sqlite),
            ("sqlite::memory:", DatabaseBackend::Sqlite),
        ] {
            let settings = Settings::from_vars(&vars(&[("DATABASE_URL", url)])).unwrap();
            assert_eq!(settings.database_backend(), backend, "{url}");
        }
    }

    #[test]
    fn a_bad_or_missing_secret_is_refused_with_a_recipe() {
        let non_hex = "z".repeat(64);
        for pairs in [
            [("JWT_SECRET_KEY", "abc123")],
            [("JWT_SECRET_KEY", non_hex.as_str())],
            [("APP_ENV", "production")],
        ] {
            let err = Settings::from_vars(&vars(&pairs)).unwrap_err().to_string();
            assert!(err.contains("JWT_SECRET_KEY"), "{err}");
            assert!(err.contains("openssl rand -hex 32"), "{err}");
        }
    }

    #[test]
    fn production_refuses_wildcard_cors_and_forces_secure_cookies() {
        let err = Settings::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET_KEY", SECRET),
            ("CORS_ORIGINS", "*"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("CORS_ORIGINS"));

        let settings = Settings::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET_KEY", SECRET),
        ]))
        .unwrap();
        assert!(settings.cookie_secure);
        assert_eq!(settings.log_format, LogFormat::Json);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("PORT", "eighty"),
            ("APP_ENV", "staging"),
            ("AUTO_MIGRATE", "maybe"),
            ("WAIT_FOR_DATABASE", "sometimes"),
            ("DB_MAX_CONNECTIONS", "0"),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "-1"),
            ("HOST", "not a host"),
            ("DATABASE_URL", "mysql://localhost/todo"),
            ("CORS_ORIGINS", "localhost:3000"),
            ("LOG_FORMAT", "xml"),
            ("REQUEST_TIMEOUT_SECS", "0"),
            ("REFRESH_REUSE_GRACE_SECS", "61"),
            ("REFRESH_REUSE_GRACE_SECS", "-1"),
            ("REFRESH_REUSE_GRACE_SECS", "1.5"),
            ("REFRESH_REUSE_GRACE_SECS", "soon"),
            ("HEADER_READ_TIMEOUT_SECS", "0"),
            ("HEADER_READ_TIMEOUT_SECS", "3601"),
            ("HEADER_READ_TIMEOUT_SECS", "1.5"),
            ("KEEP_ALIVE_TIMEOUT_SECS", "0"),
            ("KEEP_ALIVE_TIMEOUT_SECS", "-1"),
            ("MAX_CONNECTIONS", "0"),
            ("MAX_CONNECTIONS", "many"),
            ("DB_POOLER", "statement"),
            ("DB_POOLER", "transaction"),
            ("DATABASE_DIRECT_URL", "postgres://db/todo"),
        ] {
            let err = Settings::from_vars(&vars(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn a_transaction_pooler_needs_postgres_and_a_direct_url_to_bypass_it() {
        let pooler = |pairs: &[(&str, &str)]| {
            Settings::from_vars(&vars(pairs)).map(|settings| settings.pooler)
        };
        let (pooled, direct) = ("postgres://pgbouncer:6432/todo", "postgres://db:5432/todo");
        assert_eq!(
            pooler(&[
                ("DATABASE_URL", pooled),
                ("DB_POOLER", "Transaction"),
                ("DATABASE_DIRECT_URL", direct)
            ])
            .unwrap(),
            DbPooler::Transaction {
                direct_url: direct.to_owned()
            }
        );
        assert_eq!(pooler(&[("DATABASE_URL", pooled)]).unwrap(), DbPooler::None);
        for refused in [
            &[("DATABASE_URL", pooled), ("DB_POOLER", "transaction")][..],
            &[
                ("DATABASE_URL", pooled),
                ("DB_POOLER", "transaction"),
                ("DATABASE_DIRECT_URL", "sqlite://todo.db"),
            ],
            &[
                ("DATABASE_URL", "sqlite://todo.db"),
                ("DB_POOLER", "transaction"),
                ("DATABASE_DIRECT_URL", direct),
            ],
            &[("DATABASE_URL", pooled), ("DATABASE_DIRECT_URL", direct)],
        ] {
            let error = pooler(refused).unwrap_err().to_string();
            assert!(
                error.contains("DB_POOLER") || error.contains("DATABASE_DIRECT_URL"),
                "{error}"
            );
        }
    }

    #[test]
    fn refresh_reuse_grace_defaults_to_30_seconds_and_allows_0_to_60() {
        let grace = |value: &str| {
            Settings::from_vars(&vars(&[("REFRESH_REUSE_GRACE_SECS", value)]))
                .map(|settings| settings.refresh_reuse_grace)
        };
        let default = Settings::from_vars(&vars(&[])).unwrap();
        assert_eq!(default.refresh_reuse_grace, Duration::from_secs(30));
        assert_eq!(grace("0").unwrap(), Duration::ZERO);
        assert_eq!(grace(" 60 ").unwrap(), Duration::from_secs(60));
    }

    #[test]
    fn client_limits_have_distinct_defaults_and_can_be_set() {
        let limits = |pairs: &[(&str, &str)]| {
            Settings::from_vars(&vars(pairs)).map(|settings| settings.client_limits)
        };
        let default = limits(&[]).unwrap();
        assert_eq!(default.header_read_timeout, Duration::from_secs(10));
        assert_eq!(default.keep_alive_timeout, Duration::from_secs(75));
        assert_eq!(default.max_connections, None);

        let set = limits(&[
            ("HEADER_READ_TIMEOUT_SECS", "2"),
            ("KEEP_ALIVE_TIMEOUT_SECS", " 3600 "),
            ("MAX_CONNECTIONS", "500"),
        ])
        .unwrap();
        assert_eq!(set.header_read_timeout, Duration::from_secs(2));
        assert_eq!(set.keep_alive_timeout, Duration::from_secs(3600));
        assert_eq!(set.max_connections, Some(500));
    }

    #[test]
    fn cors_list_is_parsed_and_wildcard_allowed_in_development() {
        let settings = Settings::from_vars(&vars(&[(
            "CORS_ORIGINS",
            "https://app.example.com/, http://localhost:3000",
        )]))
        .unwrap();
        assert_eq!(
            settings.cors_origins,
            CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "http://localhost:3000".into()
            ])
        );
        let settings = Settings::from_vars(&vars(&[("CORS_ORIGINS", "*")])).unwrap();
        assert_eq!(settings.cors_origins, CorsOrigins::Any);
    }

    #[test]
    fn the_settings_table_names_every_variable_read_in_the_order_they_are_read() {
        READ.with_borrow_mut(Vec::clear);
        Settings::from_vars(&vars(&[])).unwrap();
        let mut read = READ.take();
        read.dedup();
        let listed: Vec<&str> = SETTINGS.iter().map(|setting| setting.name).collect();
        assert_eq!(read, listed);
    }

    #[test]
    fn every_default_the_settings_table_states_is_what_an_unset_variable_means() {
        let base = [("JWT_SECRET_KEY", SECRET)];
        let unset = format!("{:?}", Settings::from_vars(&vars(&base)).unwrap());
        for setting in SETTINGS {
            let SettingDefault::Value(default) = setting.default else {
                continue;
            };
            let set = Settings::from_vars(&vars(&[base[0], (setting.name, default)]))
                .unwrap_or_else(|error| panic!("{}={default}: {error}", setting.name));
            assert_eq!(format!("{set:?}"), unset, "{}={default}", setting.name);
        }
    }

    #[test]
    fn the_default_cors_origins_allow_every_local_origin_under_both_loopback_names() {
        let settings = Settings::from_vars(&vars(&[])).unwrap();
        let CorsOrigins::List(origins) = settings.cors_origins else {
            panic!("a list by default");
        };
        for port in [3000, 5173, 8080, 8000] {
            for host in ["localhost", "127.0.0.1"] {
                let origin = format!("http://{host}:{port}");
                assert!(origins.contains(&origin), "{origin} in {origins:?}");
            }
        }
        assert_eq!(origins.len(), 8, "{origins:?}");
    }
}
