//! The one typed settings struct, read from the environment once at start and validated there.
//!
//! A bad value stops the process with a one-line message naming the variable; nothing later in the
//! program parses an environment variable.

use std::{collections::HashMap, fmt, net::IpAddr, time::Duration};

use rand::RngCore;

/// The minimum length of `JWT_SECRET_KEY` in hex characters (256 bits).
const MIN_SECRET_HEX_CHARS: usize = 64;

/// The embedded default: a SQLite file in the working directory.
const DEFAULT_DATABASE_URL: &str = "sqlite://todo.db";
const DEFAULT_CORS_ORIGINS: &str =
    "http://localhost:3000,http://localhost:5173,http://localhost:8080,http://localhost:8000";

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

/// Every setting of the service (SPEC section 1).
#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: String,
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
}

/// A setting that could not be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(String);

impl Settings {
    /// Reads the process environment (after `.env` in development).
    pub fn from_env() -> Result<Self, SettingsError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_vars(&vars)
    }

    /// Builds settings from a map of variables, so tests need not touch the process environment.
    ///
    /// Longer than 60 lines on purpose: one short statement per setting, every setting read and
    /// checked in one place, in the order of the settings table.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let invalid = |name: &str, expected: &str| {
            SettingsError(format!("invalid {name}: expected {expected}"))
        };

        let app_env = match get("APP_ENV").map(str::to_ascii_lowercase).as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(_) => return Err(invalid("APP_ENV", "`development` or `production`")),
        };
        let production = app_env == AppEnv::Production;

        let jwt_secret = match get("JWT_SECRET_KEY") {
            Some(value) => JwtSecret::parse(value).map_err(SettingsError)?,
            None if production => {
                return Err(SettingsError(
                    "JWT_SECRET_KEY is required in production; make one with `openssl rand -hex 32`"
                        .into(),
                ));
            }
            None => JwtSecret::generate(),
        };

        let database_url = get("DATABASE_URL")
            .unwrap_or(DEFAULT_DATABASE_URL)
            .to_owned();
        if DatabaseBackend::of_url(&database_url).is_none() {
            return Err(invalid(
                "DATABASE_URL",
                "a sqlite:// or postgres:// URL (unset means sqlite://todo.db)",
            ));
        }

        let host = match get("HOST") {
            Some("localhost") => IpAddr::from([127, 0, 0, 1]),
            Some(value) => value
                .parse()
                .map_err(|_| invalid("HOST", "an IP address such as 127.0.0.1 or 0.0.0.0"))?,
            None => IpAddr::from([127, 0, 0, 1]),
        };
        let port = parse_or(get("PORT"), 8000u16, || invalid("PORT", "a port number"))?;

        let cors_origins = parse_cors(get("CORS_ORIGINS").unwrap_or(DEFAULT_CORS_ORIGINS))
            .map_err(|expected| invalid("CORS_ORIGINS", expected))?;
        if production && cors_origins == CorsOrigins::Any {
            return Err(SettingsError(
                "invalid CORS_ORIGINS: `*` is not allowed in production; list the origins".into(),
            ));
        }

        let auth_rate_limit_per_minute = parse_or(get("AUTH_RATE_LIMIT_PER_MINUTE"), 5u32, || {
            invalid("AUTH_RATE_LIMIT_PER_MINUTE", "a whole number (0 disables)")
        })?;
        let trust_proxy_headers = parse_bool(get("TRUST_PROXY_HEADERS"), false)
            .ok_or_else(|| invalid("TRUST_PROXY_HEADERS", "true or false"))?;
        let auto_migrate = parse_bool(get("AUTO_MIGRATE"), true)
            .ok_or_else(|| invalid("AUTO_MIGRATE", "true or false"))?;
        let wait_for_database = parse_bool(get("WAIT_FOR_DATABASE"), true)
            .ok_or_else(|| invalid("WAIT_FOR_DATABASE", "true or false"))?;
        let db_max_connections = parse_or(get("DB_MAX_CONNECTIONS"), default_pool_size(), || {
            invalid("DB_MAX_CONNECTIONS", "a whole number of at least 1")
        })?;
        if db_max_connections == 0 {
            return Err(invalid(
                "DB_MAX_CONNECTIONS",
                "a whole number of at least 1",
            ));
        }

        let log_format = match get("LOG_FORMAT").map(str::to_ascii_lowercase).as_deref() {
            None if production => LogFormat::Json,
            None => LogFormat::Pretty,
            Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(invalid("LOG_FORMAT", "`pretty` or `json`")),
        };
        let log_filter = get("RUST_LOG").unwrap_or("info").to_owned();
        tracing_subscriber::EnvFilter::try_new(&log_filter)
            .map_err(|_| invalid("RUST_LOG", "a tracing filter such as `info`"))?;

        let timeout_secs = parse_or(get("REQUEST_TIMEOUT_SECS"), 30u64, || {
            invalid(
                "REQUEST_TIMEOUT_SECS",
                "a whole number of seconds, at least 1",
            )
        })?;
        if timeout_secs == 0 {
            return Err(invalid(
                "REQUEST_TIMEOUT_SECS",
                "a whole number of seconds, at least 1",
            ));
        }

        let cookie_secure = production
            || parse_bool(get("COOKIE_SECURE"), false)
                .ok_or_else(|| invalid("COOKIE_SECURE", "true or false"))?;

        let refresh_reuse_grace = parse_refresh_reuse_grace(get("REFRESH_REUSE_GRACE_SECS"))?;
        let client_limits = ClientLimits::parse(&get)?;

        Ok(Self {
            database_url,
            jwt_secret,
            app_env,
            host,
            port,
            cors_origins,
            auth_rate_limit_per_minute,
            trust_proxy_headers,
            auto_migrate,
            wait_for_database,
            db_max_connections,
            log_format,
            log_filter,
            request_timeout: Duration::from_secs(timeout_secs),
            cookie_secure,
            refresh_reuse_grace,
            client_limits,
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

fn parse_or<T: std::str::FromStr>(
    value: Option<&str>,
    default: T,
    error: impl FnOnce() -> SettingsError,
) -> Result<T, SettingsError> {
    match value {
        None => Ok(default),
        Some(value) => value.parse().map_err(|_| error()),
    }
}

fn parse_refresh_reuse_grace(value: Option<&str>) -> Result<Duration, SettingsError> {
    let error = || {
        SettingsError(format!(
            "invalid REFRESH_REUSE_GRACE_SECS: expected a whole number of seconds from 0 \
             (disables the overlap) to {MAX_REFRESH_REUSE_GRACE_SECS}"
        ))
    };
    let secs = parse_or(value, DEFAULT_REFRESH_REUSE_GRACE_SECS, error)?;
    if secs > MAX_REFRESH_REUSE_GRACE_SECS {
        return Err(error());
    }
    Ok(Duration::from_secs(secs))
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
    /// From accepting a connection, or from the first byte of a later request on it, until the
    /// request head is complete.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in progress and no byte of the next one is
    /// closed after this long.
    pub keep_alive_timeout: Duration,
    /// `MAX_CONNECTIONS`; unset means the open-file limit minus headroom, computed at start.
    pub max_connections: Option<u32>,
}

impl ClientLimits {
    fn parse<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<Self, SettingsError> {
        let seconds = |name: &str, default: u64| {
            let error = || {
                SettingsError(format!(
                    "invalid {name}: expected a whole number of seconds from 1 to \
                     {MAX_CONNECTION_TIMEOUT_SECS}"
                ))
            };
            let secs = parse_or(get(name), default, error)?;
            if !(1..=MAX_CONNECTION_TIMEOUT_SECS).contains(&secs) {
                return Err(error());
            }
            Ok(Duration::from_secs(secs))
        };
        let header_read_timeout =
            seconds("HEADER_READ_TIMEOUT_SECS", DEFAULT_HEADER_READ_TIMEOUT_SECS)?;
        let keep_alive_timeout =
            seconds("KEEP_ALIVE_TIMEOUT_SECS", DEFAULT_KEEP_ALIVE_TIMEOUT_SECS)?;
        let max_connections = match get("MAX_CONNECTIONS") {
            None => None,
            Some(value) => match value.parse::<u32>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    return Err(SettingsError(
                        "invalid MAX_CONNECTIONS: expected a whole number of at least 1 (unset: \
                         the open-file limit minus room for the pool and files)"
                            .into(),
                    ));
                }
            },
        };
        Ok(Self {
            header_read_timeout,
            keep_alive_timeout,
            max_connections,
        })
    }
}

fn parse_bool(value: Option<&str>, default: bool) -> Option<bool> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Some(default),
        Some("true" | "1" | "yes" | "on") => Some(true),
        Some("false" | "0" | "no" | "off") => Some(false),
        Some(_) => None,
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
    fn short_secret_is_refused_with_a_recipe() {
        let err = Settings::from_vars(&vars(&[("JWT_SECRET_KEY", "abc123")])).unwrap_err();
        assert!(err.to_string().contains("JWT_SECRET_KEY"));
        assert!(err.to_string().contains("openssl rand -hex 32"));
    }

    #[test]
    fn non_hex_secret_is_refused() {
        let key = "z".repeat(64);
        assert!(Settings::from_vars(&vars(&[("JWT_SECRET_KEY", &key)])).is_err());
    }

    #[test]
    fn production_requires_a_secret() {
        let err = Settings::from_vars(&vars(&[("APP_ENV", "production")])).unwrap_err();
        assert!(err.to_string().contains("JWT_SECRET_KEY"));
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
        ] {
            let err = Settings::from_vars(&vars(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn refresh_reuse_grace_defaults_to_30_seconds_allows_0_and_caps_at_60() {
        let grace = |value: &str| {
            Settings::from_vars(&vars(&[("REFRESH_REUSE_GRACE_SECS", value)]))
                .map(|settings| settings.refresh_reuse_grace)
        };
        let default = Settings::from_vars(&vars(&[])).unwrap();
        assert_eq!(default.refresh_reuse_grace, Duration::from_secs(30));
        assert_eq!(grace("0").unwrap(), Duration::ZERO);
        assert_eq!(grace(" 60 ").unwrap(), Duration::from_secs(60));
        for bad in ["61", "-1", "1.5", "soon"] {
            let err = grace(bad).unwrap_err().to_string();
            assert!(err.contains("REFRESH_REUSE_GRACE_SECS"), "{bad}: {err}");
        }
    }

    #[test]
    fn client_limits_have_distinct_defaults_and_refuse_zero() {
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

        for (name, bad) in [
            ("HEADER_READ_TIMEOUT_SECS", "0"),
            ("HEADER_READ_TIMEOUT_SECS", "3601"),
            ("HEADER_READ_TIMEOUT_SECS", "1.5"),
            ("KEEP_ALIVE_TIMEOUT_SECS", "0"),
            ("KEEP_ALIVE_TIMEOUT_SECS", "-1"),
            ("MAX_CONNECTIONS", "0"),
            ("MAX_CONNECTIONS", "many"),
        ] {
            let err = limits(&[(name, bad)]).unwrap_err().to_string();
            assert!(err.contains(name), "{name}={bad}: {err}");
        }
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
}
