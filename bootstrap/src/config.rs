//! The settings, checked once at start-up: clap reads them (flags, environment variables and
//! `.env`, see `settings`); this module holds what is WarTawa's own: the parsers of offsets,
//! origins, URLs and secrets, the rules across settings (a database needs secrets; the admin's
//! email and password come together), and the warning about variables that look like settings
//! but are not.
//!
//! [`Config::from_lookup`] takes the variables from a function instead of the process, so that
//! every rule is tested without touching the environment.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use chrono::{Duration, FixedOffset};
use clap::{Args, FromArgMatches};

use adapters::http::language::Language;
use domain::booking::BookingPolicy;
use domain::user::{Email, Password};

use crate::settings::{Secret, Settings};

/// HS256 needs a key at least as long as its 32-byte digest to be as strong as it can be.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Variables WarTawa reads that are not settings of `serve`.
const OTHER_VARIABLES: [&str; 4] = [
    // The old name of DATABASE_URL, read when it is unset.
    "DB_URL",
    // The log filter (tracing's EnvFilter).
    "RUST_LOG",
    "LOG_FORMAT",
    // Read by the test suite: fail, rather than skip, the tests that need PostgreSQL.
    "WARTAWA_REQUIRE_POSTGRES",
];

/// Prefixes of WarTawa's variables: an unknown variable that starts with one is most likely a
/// misspelled setting.
const SETTING_PREFIXES: [&str; 11] = [
    "WARTAWA_",
    "APP_",
    "DATABASE_",
    "DB_",
    "JWT_",
    "TICKET_",
    "ADMIN_",
    "BCRYPT_",
    "SEAT_",
    "HTTP2_",
    "LOGIN_",
];

/// Everything the server reads from its environment.
#[derive(Clone, PartialEq)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// Where `/metrics` has a listener of its own; `None`: it is served with the API.
    pub metrics_address: Option<String>,
    /// `None` runs on the embedded in-memory store.
    pub database_url: Option<String>,
    pub database_pool_size: u32,
    /// How long a request waits for a free database connection before answering 503.
    pub database_acquire_timeout: std::time::Duration,
    /// What lends the connections of `database_url`.
    pub database_pool_mode: adapters::postgres::PoolMode,
    /// The database not through a pooler, for migrations and LISTEN; `None`: `database_url`.
    pub database_direct_url: Option<String>,
    /// A streaming replica for event lists, event details and seat maps.
    pub database_read_url: Option<String>,
    /// How old the replica's data may be for reads to go to it.
    pub read_replica_max_lag: std::time::Duration,
    /// `None` only without a database: the server then makes a random one for this process.
    pub jwt_secret: Option<Vec<u8>>,
    /// The seed of the Ed25519 key tickets are signed with; `None` only without a database:
    /// the server then makes a random one for this process.
    pub ticket_signing_key: Option<TicketSigningKey>,
    pub jwt_ttl: Duration,
    /// The admin that start-up makes sure exists.
    pub admin: Option<AdminCredentials>,
    pub booking_hold: Duration,
    pub max_seats_per_booking: u32,
    /// 0 means no limit.
    pub max_tickets_per_user: u32,
    /// Holds of one event a customer may give up within the window before waiting; 0: no limit.
    pub abandoned_holds_per_customer: u32,
    pub abandoned_hold_window: Duration,
    /// The venue's offset, for request times written without one.
    pub venue_offset: FixedOffset,
    /// The language of messages when a request's `Accept-Language` names none spoken here.
    pub default_language: Language,
    pub cors_origins: CorsOrigins,
    /// Where the API is reached from outside (`https://api.wartawa.id`, maybe with a path), with
    /// no trailing slash: links to uploaded pictures start here. `None`: each request's own
    /// scheme and `Host`.
    pub public_base_url: Option<String>,
    /// Whether webhook endpoints may point at loopback and private addresses.
    pub webhook_allow_private: bool,
    /// Where and as whom buyers are e-mailed; `None`: they are not.
    pub mail: Option<MailSettings>,
    pub bcrypt_cost: u32,
    /// Logins and password changes per client address per minute; 0 means no limit.
    pub login_attempts_per_address: u32,
    /// Failed logins of one account from one address per 15 minutes; 0 means no limit.
    pub login_failures_per_account_and_address: u32,
    /// Failed logins of one account from anywhere per 15 minutes, past which only addresses
    /// that have not failed on it may try; 0 means no limit.
    pub login_failures_per_account: u32,
    /// Password changes and resets by one account per hour; 0 means no limit.
    pub password_changes_per_account: u32,
    /// Sign-ups per client address per hour; 0 means no limit.
    pub registrations_per_address: u32,
    /// Profile changes per customer per hour; 0 means no limit.
    pub profile_changes_per_customer: u32,
    /// Failed booking look-ups (unknown or not yours) per caller per minute; 0 means no limit.
    pub booking_lookup_failures_per_caller: u32,
    /// Unexpired `Idempotency-Key`s one user may hold; 0 means no limit.
    pub idempotency_keys_per_user: u32,
    /// Booking attempts per customer per minute; 0 means no limit.
    pub bookings_per_customer: u32,
    /// Live seat-map streams open at once in this process; past it, 503 with `Retry-After`.
    pub max_seat_streams: u32,
    /// Changes a live seat-map stream may fall behind by before it gets a fresh snapshot instead.
    pub seat_stream_backlog: u32,
    /// Seconds between comments on an idle live seat-map stream.
    pub seat_stream_heartbeat_secs: u32,
    /// Seconds between checks of a watched seat map for lapsed holds when nothing signals it.
    pub seat_map_check_secs: u32,
    /// The least milliseconds between two reads of a watched seat map: changes within go together.
    pub seat_stream_batch_ms: u32,
    /// Minutes before a show that its doors open, as its e-ticket says; 0 leaves doors unsaid.
    pub doors_open_minutes: u32,
    /// Requests handled at once; past it, 503 with `Retry-After`.
    pub max_in_flight_requests: u32,
    /// Password checks (logins, sign-ups, password changes) running or waiting at once; past
    /// it, 503 with `Retry-After`.
    pub max_password_checks_in_flight: u32,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// How long a request's headers may take to arrive.
    pub header_read_timeout: std::time::Duration,
    /// How long a request's body may take to arrive, before the time its bytes earn.
    pub body_read_timeout: std::time::Duration,
    /// Each this many bytes of a body earn it one more second; 0: none.
    pub body_min_bytes_per_second: u32,
    /// How long after the stop signal the server keeps serving while not ready.
    pub drain: std::time::Duration,
    /// Whether HTTP/2 is spoken over cleartext to clients that open with its preface.
    pub http2_cleartext: bool,
    /// Requests one HTTP/2 connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// How long an HTTP/2 connection may carry nothing either way before it is closed.
    pub http2_idle_timeout: std::time::Duration,
    /// Connections one client address may hold at once; 0 means no limit.
    pub max_connections_per_address: u32,
}

/// The first admin's login, from `ADMIN_EMAIL` and `ADMIN_PASSWORD`.
#[derive(Clone, PartialEq)]
pub struct AdminCredentials {
    pub email: Email,
    pub password: Password,
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin: safe here because credentials travel in a header, never in a cookie.
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<String>),
}

/// E-mail to buyers: the SMTP server (its URL may hold a password: never logged) and the sender.
#[derive(Clone, PartialEq, Eq)]
pub struct MailSettings {
    pub smtp_url: String,
    pub from: String,
}

/// A setting that is unusable, told in one line an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value clap or WarTawa's own parser refused (the line names the flag, its variable
    /// and what was expected).
    #[error("{0}")]
    Invalid(String),
    #[error("{missing} must be set when {present} is ({reason})")]
    Missing {
        missing: &'static str,
        present: &'static str,
        reason: &'static str,
    },
    #[error("the .env file could not be read: {0}")]
    DotEnv(String),
}

impl From<clap::Error> for ConfigError {
    fn from(error: clap::Error) -> Self {
        ConfigError::Invalid(one_line(&error))
    }
}

/// clap's message in one line, naming the variable beside the flag, and with a secret's value
/// left out: `invalid value '0' for DATABASE_POOL_SIZE (--database-pool-size): 0 is not in
/// 1..=1000`.
pub fn one_line(error: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
    let Some(ContextValue::String(argument)) = error.get(ContextKind::InvalidArg) else {
        return line;
    };
    // `--app-port <APP_PORT>`
    let Some((flag, value_name)) = argument.split_once(' ') else {
        return line;
    };
    let variable = value_name.trim_matches(['<', '>']);
    line = line.replace(&format!("'{argument}'"), &format!("{variable} ({flag})"));
    if let Some(ContextValue::String(value)) = error.get(ContextKind::InvalidValue) {
        let secret = setting_variables()
            .iter()
            .any(|setting| setting.secret && setting.variable == variable);
        if secret {
            line = line.replace(&format!("'{value}'"), "(not shown)");
        }
    }
    line
}

/// A setting as the environment names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingVariable {
    /// `APP_PORT`.
    pub variable: String,
    /// `app-port`.
    pub flag: String,
    /// Its value is never shown (the settings that hide their values in `--help`): taken as
    /// written, and left out of error lines.
    pub secret: bool,
}

/// Every setting's environment variable and flag, in help order.
pub fn setting_variables() -> Vec<SettingVariable> {
    Settings::augment_args(clap::Command::new("wartawa"))
        .get_arguments()
        .filter_map(|arg| {
            Some(SettingVariable {
                variable: arg.get_env()?.to_string_lossy().into_owned(),
                flag: arg.get_long()?.to_string(),
                secret: arg.is_hide_env_values_set(),
            })
        })
        .collect()
}

/// A setting's value as WarTawa reads it from `lookup`: blank is unset, blanks around a value do
/// not count (a secret is taken as written), and `DB_URL` stands in for an unset `DATABASE_URL`.
fn read_setting(
    setting: &SettingVariable,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let value = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
    let given = match setting.variable.as_str() {
        "DATABASE_URL" => value("DATABASE_URL").or_else(|| value("DB_URL")),
        variable => value(variable),
    }?;
    Some(if setting.secret {
        given
    } else {
        given.trim().to_string()
    })
}

/// Makes the process environment what the settings are read from: loads `.env` (what is set
/// already wins), drops settings set to nothing but blanks (they take their default), trims
/// the blanks around the others (secrets excepted: a secret is what the operator wrote), and
/// reads `DB_URL` as `DATABASE_URL` when that is unset. Runs before any thread starts.
/// Returns a warning line for each variable that looks like a setting but is none.
pub fn prepare_environment() -> Result<Vec<String>, ConfigError> {
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(error) if error.not_found() => {}
        Err(error) => return Err(ConfigError::DotEnv(error.to_string())),
    }
    // Lossy, so that a value that is not UTF-8 is reported as bad rather than ignored.
    let environment =
        |name: &str| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned());
    for setting in setting_variables() {
        let read = read_setting(&setting, &environment);
        if read == environment(&setting.variable) {
            continue;
        }
        match read {
            Some(value) => std::env::set_var(&setting.variable, value),
            None => std::env::remove_var(&setting.variable),
        }
    }
    let names: Vec<String> = std::env::vars_os()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect();
    Ok(unrecognised_variables(&names))
}

/// A warning for each of `names` that is not a variable WarTawa reads but starts like one
/// (`APP_PROT`) or is one or two letters away from one (`DATABSE_URL`).
pub fn unrecognised_variables(names: &[String]) -> Vec<String> {
    let known: BTreeSet<String> = setting_variables()
        .into_iter()
        .map(|setting| setting.variable)
        .chain(OTHER_VARIABLES.map(String::from))
        .collect();
    names
        .iter()
        .filter(|name| !known.contains(name.as_str()))
        .filter_map(|name| {
            let nearest = known
                .iter()
                .map(|candidate| (strsim::levenshtein(name, candidate), candidate))
                .min()?;
            let looks_like_ours = SETTING_PREFIXES.iter().any(|prefix| name.starts_with(prefix));
            let near_miss = nearest.0 <= 2 && name.len() >= 6;
            (looks_like_ours || near_miss).then(|| {
                if nearest.0 <= 3 {
                    format!("{name} is not a WarTawa setting and is ignored; did you mean {}?", nearest.1)
                } else {
                    format!("{name} is not a WarTawa setting and is ignored (`wartawa serve --help` lists them)")
                }
            })
        })
        .collect()
}

impl Config {
    /// The settings `lookup` gives by variable name, read as the process's environment would
    /// be (blank is unset, blanks around a value do not count, `DB_URL` stands in for an unset
    /// `DATABASE_URL`), with the same parsers and rules.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut arguments = vec!["wartawa".to_string()];
        for setting in setting_variables() {
            if let Some(given) = read_setting(&setting, &lookup) {
                arguments.push(format!("--{}={given}", setting.flag));
            }
        }
        // Only what `lookup` gives: the process's own variables are not read here.
        let command = Settings::augment_args(clap::Command::new("wartawa"))
            .mut_args(|arg| arg.env(None::<&str>));
        let matches = command.try_get_matches_from(arguments)?;
        Config::from_settings(Settings::from_arg_matches(&matches)?)
    }

    /// The configuration of `settings`, once the rules across them hold.
    pub fn from_settings(settings: Settings) -> Result<Config, ConfigError> {
        let database = settings.database_url.is_some();
        if database && settings.jwt_secret.is_none() {
            return Err(ConfigError::Missing {
                missing: "JWT_SECRET",
                present: "DATABASE_URL",
                reason: "tokens must stay valid across restarts and processes",
            });
        }
        if database && settings.ticket_signing_key.is_none() {
            return Err(ConfigError::Missing {
                missing: "TICKET_SIGNING_KEY",
                present: "DATABASE_URL",
                reason: "tickets must stay valid across restarts and processes; make one with `openssl rand -base64 32`",
            });
        }
        let needs_database = [
            (
                "DATABASE_DIRECT_URL",
                settings.database_direct_url.is_some(),
            ),
            ("DATABASE_READ_URL", settings.database_read_url.is_some()),
        ];
        if let Some((setting, _)) = needs_database.iter().find(|(_, set)| *set && !database) {
            return Err(ConfigError::Missing {
                missing: "DATABASE_URL",
                present: setting,
                reason: "it names a second way to the same database",
            });
        }
        if settings.database_pool_mode == adapters::postgres::PoolMode::Transaction
            && settings.database_direct_url.is_none()
        {
            return Err(ConfigError::Missing {
                missing: "DATABASE_DIRECT_URL",
                present: "DATABASE_POOL_MODE=transaction",
                reason: "the migrations and the live seat map's LISTEN need a session of their own, which a transaction pooler does not keep",
            });
        }
        let mail = match (settings.smtp_url, settings.mail_from) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    missing: "MAIL_FROM",
                    present: "SMTP_URL",
                    reason: "buyers must see who writes to them",
                })
            }
            (Some(smtp_url), Some(from)) => Some(MailSettings { smtp_url, from }),
        };
        const BOTH_OR_NEITHER: &str = "set both or neither";
        let admin = match (settings.admin_email, settings.admin_password) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    missing: "ADMIN_PASSWORD",
                    present: "ADMIN_EMAIL",
                    reason: BOTH_OR_NEITHER,
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    missing: "ADMIN_EMAIL",
                    present: "ADMIN_PASSWORD",
                    reason: BOTH_OR_NEITHER,
                })
            }
            (Some(email), Some(password)) => Some(AdminCredentials { email, password }),
        };
        let minutes = |count: u32| Duration::minutes(i64::from(count));
        Ok(Config {
            host: settings.app_host.trim().to_string(),
            port: settings.app_port,
            metrics_address: settings
                .metrics_addr
                .map(|address| address.trim().to_string()),
            database_url: settings.database_url,
            database_pool_size: settings.database_pool_size,
            database_acquire_timeout: std::time::Duration::from_millis(u64::from(
                settings.database_acquire_timeout_ms,
            )),
            database_pool_mode: settings.database_pool_mode,
            database_direct_url: settings.database_direct_url,
            database_read_url: settings.database_read_url,
            read_replica_max_lag: std::time::Duration::from_millis(u64::from(
                settings.read_replica_max_lag_ms,
            )),
            jwt_secret: settings.jwt_secret.map(|secret| secret.0),
            ticket_signing_key: settings.ticket_signing_key,
            jwt_ttl: Duration::hours(i64::from(settings.jwt_ttl_hours)),
            admin,
            booking_hold: minutes(settings.booking_hold_minutes),
            max_seats_per_booking: settings.max_seats_per_booking,
            max_tickets_per_user: settings.max_tickets_per_user,
            abandoned_holds_per_customer: settings.abandoned_holds_per_customer,
            abandoned_hold_window: minutes(settings.abandoned_hold_window_minutes),
            venue_offset: settings.app_tz_offset,
            default_language: settings.default_language,
            cors_origins: settings.cors_origins,
            public_base_url: settings.public_base_url,
            webhook_allow_private: settings.webhook_allow_private,
            mail,
            bcrypt_cost: settings.bcrypt_cost,
            login_attempts_per_address: settings.login_attempts_per_address,
            login_failures_per_account_and_address: settings.login_failures_per_account_and_address,
            login_failures_per_account: settings.login_failures_per_account,
            password_changes_per_account: settings.password_changes_per_account,
            registrations_per_address: settings.registrations_per_address,
            profile_changes_per_customer: settings.profile_changes_per_customer,
            booking_lookup_failures_per_caller: settings.booking_lookup_failures_per_caller,
            idempotency_keys_per_user: settings.idempotency_keys_per_user,
            bookings_per_customer: settings.bookings_per_customer,
            max_seat_streams: settings.max_seat_streams,
            seat_stream_backlog: settings.seat_stream_backlog,
            seat_stream_heartbeat_secs: settings.seat_stream_heartbeat_secs,
            seat_map_check_secs: settings.seat_map_check_secs,
            seat_stream_batch_ms: settings.seat_stream_batch_ms,
            doors_open_minutes: settings.doors_open_minutes,
            max_in_flight_requests: settings.max_in_flight_requests,
            max_password_checks_in_flight: settings.max_password_checks_in_flight,
            trusted_proxies: settings.trusted_proxies,
            header_read_timeout: seconds(settings.header_read_timeout_secs),
            body_read_timeout: seconds(settings.body_read_timeout_secs),
            body_min_bytes_per_second: settings.body_min_bytes_per_second,
            drain: seconds(settings.drain_secs),
            http2_cleartext: settings.http2_cleartext,
            http2_max_concurrent_streams: settings.http2_max_concurrent_streams,
            http2_idle_timeout: seconds(settings.http2_idle_timeout_secs),
            max_connections_per_address: settings.max_connections_per_address,
        })
    }

    /// The booking limits the operator chose.
    pub fn booking_policy(&self) -> BookingPolicy {
        BookingPolicy {
            max_seats_per_booking: self.max_seats_per_booking,
            max_tickets_per_user: self.max_tickets_per_user,
            hold: self.booking_hold,
            max_abandoned_holds: self.abandoned_holds_per_customer,
            abandoned_hold_window: self.abandoned_hold_window,
        }
    }

    /// `host:port` to bind, with an IPv6 host in brackets.
    pub fn listen_address(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn seconds(value: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(value))
}

// ---- WarTawa's own parsers, for clap ----

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
pub(crate) fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("true or false".to_string()),
    }
}

/// One IP address (`10.0.0.1`, `::1`), blanks around it ignored.
pub(crate) fn ip_address(value: &str) -> Result<IpAddr, String> {
    value
        .trim()
        .parse::<IpAddr>()
        .map_err(|_| "comma-separated IP addresses such as 10.0.0.1".to_string())
}

/// `en` or `id`.
pub(crate) fn language(value: &str) -> Result<Language, String> {
    Language::parse(value).ok_or_else(|| "en or id".to_string())
}

/// What lends the database connections: `session` or `transaction`.
pub(crate) fn pool_mode(value: &str) -> Result<adapters::postgres::PoolMode, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "session" => Ok(adapters::postgres::PoolMode::Session),
        "transaction" => Ok(adapters::postgres::PoolMode::Transaction),
        _ => Err("session or transaction".to_string()),
    }
}

/// A PostgreSQL connection URL: `postgres://` or `postgresql://`.
pub(crate) fn postgres_url(value: &str) -> Result<String, String> {
    let url = value.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url.to_string())
    } else {
        Err("a PostgreSQL URL starting with postgres:// or postgresql://".to_string())
    }
}

/// A JWT secret: taken byte for byte, untrimmed, at least 32 bytes; never repeated.
pub(crate) fn jwt_secret(value: &str) -> Result<Secret, String> {
    if value.len() < MIN_JWT_SECRET_BYTES {
        return Err(format!(
            "at least {MIN_JWT_SECRET_BYTES} bytes long (this one is {} bytes)",
            value.len()
        ));
    }
    Ok(Secret(value.as_bytes().to_vec()))
}

pub(crate) fn admin_email(value: &str) -> Result<Email, String> {
    Email::parse(value).map_err(|_| "a valid email address".to_string())
}

pub(crate) fn admin_password(value: &str) -> Result<Password, String> {
    Password::new(value)
        .map_err(|_| format!("8 to 72 bytes long (this one is {} bytes)", value.len()))
}

/// The 32 bytes of an Ed25519 key's seed; never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct TicketSigningKey(pub [u8; 32]);

impl std::fmt::Debug for TicketSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketSigningKey(..)")
    }
}

/// Base64 (standard or URL-safe, padded or not) of exactly 32 bytes.
pub(crate) fn ticket_signing_key(value: &str) -> Result<TicketSigningKey, String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let expected = "32 bytes in base64 (`openssl rand -base64 32`)";
    let text = value.trim().trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| format!("{expected}; this is not base64"))?;
    let length = bytes.len();
    bytes
        .try_into()
        .map(TicketSigningKey)
        .map_err(|_| format!("{expected}; this is {length} bytes"))
}

/// `+HH:MM`, `-HH:MM` or `Z`.
pub(crate) fn utc_offset(value: &str) -> Result<FixedOffset, String> {
    let expected = || "a UTC offset like +07:00, -05:30 or Z".to_string();
    if value.eq_ignore_ascii_case("z") {
        return Ok(FixedOffset::east_opt(0).expect("zero is a valid offset"));
    }
    let (sign, rest) = match value.split_at_checked(1) {
        Some(("+", rest)) => (1, rest),
        Some(("-", rest)) => (-1, rest),
        _ => return Err(expected()),
    };
    let (hours, minutes) = rest.split_once(':').ok_or_else(expected)?;
    let two_digits = |part: &str| {
        (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<i32>().ok())
            .flatten()
    };
    match (two_digits(hours), two_digits(minutes)) {
        (Some(hours @ 0..=23), Some(minutes @ 0..=59)) => {
            FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or_else(expected)
        }
        _ => Err(expected()),
    }
}

/// `*`, or origins separated by commas, each `http(s)://host[:port]` as a browser sends it.
pub(crate) fn cors_origins(value: &str) -> Result<CorsOrigins, String> {
    let expected = || {
        "\"*\" or comma-separated origins like https://wartawa.id \
         (scheme and host, optional port, no path)"
            .to_string()
    };
    if value == "*" {
        return Ok(CorsOrigins::Any);
    }
    let origins: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| is_origin(origin).then(|| origin.to_string()))
        .collect::<Option<_>>()
        .ok_or_else(expected)?;
    if origins.is_empty() {
        return Err(expected());
    }
    Ok(CorsOrigins::List(origins))
}

/// An SMTP URL lettre can send through.
pub(crate) fn smtp_url(value: &str) -> Result<String, String> {
    adapters::http::buyer_mail::check_smtp_url(value).map(|()| value.to_string())
}

/// A mailbox, `Name <address>` or a bare address.
pub(crate) fn mail_from(value: &str) -> Result<String, String> {
    adapters::http::buyer_mail::check_mail_from(value).map(|_| value.to_string())
}

/// `http(s)://host[:port]` with an optional path, as a browser would reach the API: no query,
/// fragment, credentials, spaces or characters that could break out of a link. Trailing slashes
/// are dropped, so that a path can be appended.
pub(crate) fn public_base_url(value: &str) -> Result<String, String> {
    let expected = || {
        "an http(s) URL such as https://api.wartawa.id or https://wartawa.id/backend \
         (scheme, host, optional port and path; no query, fragment or credentials)"
            .to_string()
    };
    let base = value.trim_end_matches('/');
    let (scheme, rest) = base.split_once("://").ok_or_else(expected)?;
    let (authority, path) = rest
        .find('/')
        .map_or((rest, ""), |index| (&rest[..index], &rest[index..]));
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or_else(expected)?;
        (&authority[..=end], &authority[end + 1..])
    } else {
        authority.find(':').map_or((authority, ""), |index| {
            (&authority[..index], &authority[index..])
        })
    };
    let host_is_valid = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(ipv6) => {
            !ipv6.is_empty()
                && ipv6
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'))
        }
        None => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        }
    };
    let port_is_valid = port.is_empty()
        || port.strip_prefix(':').is_some_and(|digits| {
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u16>().is_ok_and(|port| port > 0)
        });
    let path_is_valid = !path.contains("//")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '.' | '_' | '~' | '%'));
    if matches!(scheme, "http" | "https") && host_is_valid && port_is_valid && path_is_valid {
        Ok(base.to_string())
    } else {
        Err(expected())
    }
}

/// What a browser puts in `Origin`: a scheme, a host and maybe a port; never a path, so a
/// trailing slash would never match.
fn is_origin(candidate: &str) -> bool {
    let Some((scheme, authority)) = candidate.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !authority.is_empty()
        && !authority
            .chars()
            .any(|c| matches!(c, '/' | '?' | '#' | '@' | '*') || c.is_whitespace())
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "database_url",
                &self.database_url.as_deref().map(without_password),
            )
            .field("database_pool_size", &self.database_pool_size)
            .field("database_pool_mode", &self.database_pool_mode)
            .field(
                "database_direct_url",
                &self.database_direct_url.as_deref().map(without_password),
            )
            .field(
                "database_read_url",
                &self.database_read_url.as_deref().map(without_password),
            )
            .field("read_replica_max_lag", &self.read_replica_max_lag)
            .field("database_acquire_timeout", &self.database_acquire_timeout)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("jwt_ttl", &self.jwt_ttl)
            .field("admin", &self.admin)
            .field("booking_hold", &self.booking_hold)
            .field("max_seats_per_booking", &self.max_seats_per_booking)
            .field("max_tickets_per_user", &self.max_tickets_per_user)
            .field("venue_offset", &self.venue_offset)
            .field("cors_origins", &self.cors_origins)
            .field("public_base_url", &self.public_base_url)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .field("mail_from", &self.mail.as_ref().map(|mail| &mail.from))
            .field("bcrypt_cost", &self.bcrypt_cost)
            .finish()
    }
}

impl fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("email", &self.email.as_str())
            .field("password", &"***")
            .finish()
    }
}

/// A connection URL with any password masked: `postgres://app:***@db/wartawa`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    /// 32 bytes in base64.
    const TICKET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn error(vars: &[(&str, &str)]) -> String {
        config(vars).unwrap_err().to_string()
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = config(&[]).unwrap();
        assert_eq!(config.host, "0.0.0.0");
        assert_eq!(config.port, 6543);
        assert_eq!(config.listen_address(), "0.0.0.0:6543");
        assert_eq!(config.database_url, None);
        assert_eq!(config.database_pool_size, 10);
        assert_eq!(config.jwt_secret, None);
        assert_eq!(config.jwt_ttl, Duration::hours(24));
        assert_eq!(config.admin, None);
        assert_eq!(config.venue_offset.local_minus_utc(), 7 * 3600);
        assert_eq!(config.cors_origins, CorsOrigins::Any);
        assert_eq!(config.bcrypt_cost, 12);
        assert_eq!(
            config.booking_policy(),
            BookingPolicy {
                max_seats_per_booking: 10,
                max_tickets_per_user: 3,
                hold: Duration::minutes(15),
                max_abandoned_holds: 3,
                abandoned_hold_window: Duration::hours(6),
            }
        );
    }

    #[test]
    fn empty_values_take_the_default() {
        let config = config(&[
            ("APP_PORT", ""),
            ("DATABASE_URL", " "),
            ("JWT_SECRET", ""),
            ("CORS_ORIGINS", ""),
        ])
        .unwrap();
        assert_eq!(config.port, 6543);
        assert_eq!(config.database_url, None);
        assert_eq!(config.jwt_secret, None);
        assert_eq!(config.cors_origins, CorsOrigins::Any);
    }

    #[test]
    fn set_values_are_read() {
        let config = config(&[
            ("APP_HOST", "127.0.0.1"),
            ("APP_PORT", " 8080 "),
            ("DATABASE_URL", "postgres://app:pw@db/wartawa"),
            ("DATABASE_POOL_SIZE", "25"),
            ("JWT_SECRET", SECRET),
            ("TICKET_SIGNING_KEY", TICKET_KEY),
            ("JWT_TTL_HOURS", "2"),
            ("ADMIN_EMAIL", "Boss@WarTawa.id"),
            ("ADMIN_PASSWORD", "correct horse"),
            ("BOOKING_HOLD_MINUTES", "5"),
            ("MAX_SEATS_PER_BOOKING", "4"),
            ("MAX_TICKETS_PER_USER", "0"),
            ("APP_TZ_OFFSET", "-05:30"),
            ("BCRYPT_COST", "4"),
        ])
        .unwrap();
        assert_eq!(config.listen_address(), "127.0.0.1:8080");
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://app:pw@db/wartawa")
        );
        assert_eq!(config.database_pool_size, 25);
        assert_eq!(config.jwt_secret.as_deref(), Some(SECRET.as_bytes()));
        assert_eq!(config.jwt_ttl, Duration::hours(2));
        let admin = config.admin.as_ref().unwrap();
        assert_eq!(admin.email.as_str(), "boss@wartawa.id");
        assert_eq!(admin.password.expose(), "correct horse");
        assert_eq!(config.venue_offset.local_minus_utc(), -(5 * 3600 + 30 * 60));
        assert_eq!(config.bcrypt_cost, 4);
        assert_eq!(
            config.booking_policy(),
            BookingPolicy {
                max_seats_per_booking: 4,
                max_tickets_per_user: 0,
                hold: Duration::minutes(5),
                ..BookingPolicy::default()
            }
        );
    }

    #[test]
    fn db_url_is_a_synonym_and_database_url_wins() {
        let with = |vars: &[(&str, &str)]| {
            let mut vars = vars.to_vec();
            vars.push(("JWT_SECRET", SECRET));
            vars.push(("TICKET_SIGNING_KEY", TICKET_KEY));
            config(&vars).unwrap().database_url
        };
        assert_eq!(
            with(&[("DB_URL", "postgres://b")]).as_deref(),
            Some("postgres://b")
        );
        assert_eq!(
            with(&[("DATABASE_URL", "postgres://a"), ("DB_URL", "postgres://b")]).as_deref(),
            Some("postgres://a")
        );
        assert_eq!(
            with(&[("DATABASE_URL", ""), ("DB_URL", "postgres://b")]).as_deref(),
            Some("postgres://b")
        );
    }

    #[test]
    fn bad_numbers_name_the_variable_the_flag_the_value_and_the_range() {
        let cases: &[(&str, &str, &str)] = &[
            ("APP_PORT", "abc", "invalid digit found in string"),
            ("APP_PORT", "0", "0 is not in 1..=65535"),
            ("APP_PORT", "65536", "65536 is not in 1..=65535"),
            ("DATABASE_POOL_SIZE", "0", "0 is not in 1..=1000"),
            ("DATABASE_POOL_SIZE", "1001", "1001 is not in 1..=1000"),
            ("JWT_TTL_HOURS", "0", "0 is not in 1..=8760"),
            ("JWT_TTL_HOURS", "8761", "8761 is not in 1..=8760"),
            ("BOOKING_HOLD_MINUTES", "1441", "1441 is not in 1..=1440"),
            (
                "BOOKING_HOLD_MINUTES",
                "1.5",
                "invalid digit found in string",
            ),
            ("MAX_SEATS_PER_BOOKING", "0", "0 is not in 1..=100"),
            ("MAX_SEATS_PER_BOOKING", "101", "101 is not in 1..=100"),
            ("MAX_TICKETS_PER_USER", "-1", "-1 is not in 0..=1000"),
            ("MAX_TICKETS_PER_USER", "1001", "1001 is not in 0..=1000"),
            ("BCRYPT_COST", "3", "3 is not in 4..=31"),
            ("BCRYPT_COST", "32", "32 is not in 4..=31"),
            ("HTTP2_CLEARTEXT", "maybe", "true or false"),
        ];
        for (variable, value, reason) in cases {
            let flag = variable.to_ascii_lowercase().replace('_', "-");
            assert_eq!(
                error(&[(variable, value)]),
                format!("invalid value '{value}' for {variable} (--{flag}): {reason}")
            );
        }
    }

    #[test]
    fn a_database_url_is_a_postgres_one_and_never_repeated() {
        let message = error(&[("DATABASE_URL", "mysql://app:s3cret@db/wartawa")]);
        assert_eq!(
            message,
            "invalid value (not shown) for DATABASE_URL (--database-url): a PostgreSQL URL \
             starting with postgres:// or postgresql://"
        );
        for url in ["postgres://db/wartawa", "postgresql://db/wartawa"] {
            let vars = [
                ("DATABASE_URL", url),
                ("JWT_SECRET", SECRET),
                ("TICKET_SIGNING_KEY", TICKET_KEY),
            ];
            assert_eq!(config(&vars).unwrap().database_url.as_deref(), Some(url));
        }
    }

    #[test]
    fn a_fleet_names_its_replica_pooler_and_direct_connection_beside_a_database() {
        let database = [
            ("DATABASE_URL", "postgres://pgbouncer:6432/wartawa"),
            ("JWT_SECRET", SECRET),
            ("TICKET_SIGNING_KEY", TICKET_KEY),
        ];
        let fleet = config(
            &[
                &database[..],
                &[
                    ("DATABASE_POOL_MODE", "transaction"),
                    ("DATABASE_DIRECT_URL", "postgres://primary/wartawa"),
                    ("DATABASE_READ_URL", "postgres://replica/wartawa"),
                    ("READ_REPLICA_MAX_LAG_MS", "250"),
                ],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(
            fleet.database_pool_mode,
            adapters::postgres::PoolMode::Transaction
        );
        assert_eq!(
            fleet.database_direct_url.as_deref(),
            Some("postgres://primary/wartawa")
        );
        assert_eq!(
            fleet.database_read_url.as_deref(),
            Some("postgres://replica/wartawa")
        );
        assert_eq!(
            fleet.read_replica_max_lag,
            std::time::Duration::from_millis(250)
        );
        let one = config(&database).unwrap();
        assert_eq!(
            one.database_pool_mode,
            adapters::postgres::PoolMode::Session
        );
        assert_eq!(one.read_replica_max_lag, std::time::Duration::from_secs(1));

        assert_eq!(
            error(&[&database[..], &[("DATABASE_POOL_MODE", "transaction")]].concat()),
            "DATABASE_DIRECT_URL must be set when DATABASE_POOL_MODE=transaction is (the \
             migrations and the live seat map's LISTEN need a session of their own, which a \
             transaction pooler does not keep)"
        );
        assert_eq!(
            error(&[("DATABASE_READ_URL", "postgres://replica/wartawa")]),
            "DATABASE_URL must be set when DATABASE_READ_URL is (it names a second way to the \
             same database)"
        );
        assert!(
            error(&[&database[..], &[("DATABASE_POOL_MODE", "statement")]].concat())
                .contains("session or transaction")
        );
    }

    #[test]
    fn variables_that_look_like_settings_are_reported() {
        let names = |names: &[&str]| {
            unrecognised_variables(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            names(&["APP_PROT"]),
            ["APP_PROT is not a WarTawa setting and is ignored; did you mean APP_PORT?"]
        );
        assert_eq!(
            names(&["DATABSE_URL"]),
            ["DATABSE_URL is not a WarTawa setting and is ignored; did you mean DATABASE_URL?"]
        );
        assert_eq!(
            names(&["WARTAWA_MODE"]),
            ["WARTAWA_MODE is not a WarTawa setting and is ignored (`wartawa serve --help` lists them)"]
        );
        assert!(names(&[
            "APP_PORT",
            "DB_URL",
            "RUST_LOG",
            "PATH",
            "HOME",
            "TERM",
            "LANG",
            "USER",
            "CARGO_HOME"
        ])
        .is_empty());
    }

    #[test]
    fn the_readme_lists_every_setting() {
        let readme = include_str!("../../README.md");
        let rows: Vec<&str> = readme
            .lines()
            .filter(|line| line.starts_with("| `"))
            .collect();
        for SettingVariable { variable, .. } in setting_variables() {
            assert!(
                rows.iter().any(|row| row
                    .split('|')
                    .nth(1)
                    .is_some_and(|cell| cell.contains(&format!("`{variable}`")))),
                "README.md's settings table does not list {variable}"
            );
        }
    }

    #[test]
    fn a_short_jwt_secret_is_refused_without_repeating_it() {
        let message = error(&[("JWT_SECRET", "hunter2")]);
        assert_eq!(
            message,
            "invalid value (not shown) for JWT_SECRET (--jwt-secret): at least 32 bytes long \
             (this one is 7 bytes)"
        );
        assert!(config(&[("JWT_SECRET", &SECRET[1..])]).is_err());
        assert!(config(&[("JWT_SECRET", SECRET)]).is_ok());
    }

    #[test]
    fn a_database_needs_a_jwt_secret() {
        assert_eq!(
            error(&[("DATABASE_URL", "postgres://db/wartawa")]),
            "JWT_SECRET must be set when DATABASE_URL is \
             (tokens must stay valid across restarts and processes)"
        );
    }

    #[test]
    fn a_database_needs_a_ticket_signing_key_of_32_bytes() {
        let with = |key: Option<&str>| {
            let mut vars = vec![
                ("DATABASE_URL", "postgres://db/wartawa"),
                ("JWT_SECRET", SECRET),
            ];
            vars.extend(key.map(|key| ("TICKET_SIGNING_KEY", key)));
            config(&vars)
        };
        assert!(with(None)
            .unwrap_err()
            .to_string()
            .starts_with("TICKET_SIGNING_KEY must be set when DATABASE_URL is"));
        let expected: [u8; 32] = std::array::from_fn(|index| index as u8);
        for written in [
            TICKET_KEY,
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            " AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= ",
        ] {
            let key = with(Some(written)).unwrap().ticket_signing_key;
            assert_eq!(key, Some(TicketSigningKey(expected)), "{written}");
        }
        assert_eq!(
            with(Some("c2hvcnQ=")).unwrap_err().to_string(),
            "invalid value (not shown) for TICKET_SIGNING_KEY (--ticket-signing-key): 32 bytes \
             in base64 (`openssl rand -base64 32`); this is 5 bytes"
        );
        assert!(with(Some("not base64 at all!")).is_err());
    }

    #[test]
    fn admin_email_and_password_come_together_and_valid() {
        assert_eq!(
            error(&[("ADMIN_EMAIL", "boss@wartawa.id")]),
            "ADMIN_PASSWORD must be set when ADMIN_EMAIL is (set both or neither)"
        );
        assert_eq!(
            error(&[("ADMIN_PASSWORD", "correct horse")]),
            "ADMIN_EMAIL must be set when ADMIN_PASSWORD is (set both or neither)"
        );
        assert_eq!(
            error(&[("ADMIN_EMAIL", "boss"), ("ADMIN_PASSWORD", "correct horse")]),
            "invalid value 'boss' for ADMIN_EMAIL (--admin-email): a valid email address"
        );
        assert_eq!(
            error(&[
                ("ADMIN_EMAIL", "boss@wartawa.id"),
                ("ADMIN_PASSWORD", "pw123")
            ]),
            "invalid value (not shown) for ADMIN_PASSWORD (--admin-password): 8 to 72 bytes long \
             (this one is 5 bytes)"
        );
    }

    #[test]
    fn offsets() {
        let offset = |value: &str| {
            config(&[("APP_TZ_OFFSET", value)]).map(|config| config.venue_offset.local_minus_utc())
        };
        assert_eq!(offset("+07:00"), Ok(7 * 3600));
        assert_eq!(offset("-05:30"), Ok(-(5 * 3600 + 30 * 60)));
        assert_eq!(offset("+05:45"), Ok(5 * 3600 + 45 * 60));
        assert_eq!(offset("Z"), Ok(0));
        assert_eq!(offset("+00:00"), Ok(0));
        for bad in [
            "07:00",
            "+7:00",
            "+0700",
            "+24:00",
            "+07:60",
            "WIB",
            "+07:00:00",
            "+٠٧:٠٠",
        ] {
            assert_eq!(
                error(&[("APP_TZ_OFFSET", bad)]),
                format!(
                    "invalid value '{bad}' for APP_TZ_OFFSET (--app-tz-offset): a UTC offset like \
                     +07:00, -05:30 or Z"
                )
            );
        }
    }

    #[test]
    fn cors_origins_are_any_or_a_trimmed_list() {
        let origins = |value: &str| config(&[("CORS_ORIGINS", value)]).map(|c| c.cors_origins);
        assert_eq!(origins("*"), Ok(CorsOrigins::Any));
        assert_eq!(
            origins(" https://wartawa.id , http://localhost:5173,"),
            Ok(CorsOrigins::List(vec![
                "https://wartawa.id".to_string(),
                "http://localhost:5173".to_string(),
            ]))
        );
        for bad in [
            ",",
            "wartawa.id",
            "https://wartawa.id/",
            "ftp://wartawa.id",
            "*, https://a.id",
        ] {
            let message = error(&[("CORS_ORIGINS", bad)]);
            assert!(
                message.starts_with(&format!(
                    "invalid value '{bad}' for CORS_ORIGINS (--cors-origins): \"*\" or"
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn the_public_base_url_is_an_http_origin_with_an_optional_path() {
        let base = |value: &str| config(&[("PUBLIC_BASE_URL", value)]).map(|c| c.public_base_url);
        assert_eq!(config(&[]).unwrap().public_base_url, None);
        assert_eq!(base(" ").unwrap(), None, "blank takes the default");
        for (value, expected) in [
            ("https://api.wartawa.id", "https://api.wartawa.id"),
            ("https://api.wartawa.id/", "https://api.wartawa.id"),
            (" https://api.wartawa.id ", "https://api.wartawa.id"),
            ("http://localhost:6543", "http://localhost:6543"),
            ("https://wartawa.id/backend/", "https://wartawa.id/backend"),
            ("http://[::1]:6543", "http://[::1]:6543"),
            ("http://10.0.0.5:8080/api-gw", "http://10.0.0.5:8080/api-gw"),
        ] {
            assert_eq!(base(value).unwrap().as_deref(), Some(expected), "{value}");
        }
        for value in [
            "api.wartawa.id",
            "ftp://api.wartawa.id",
            "javascript://alert(1)",
            "https://",
            "https:///path",
            "https://api.wartawa.id?x=1",
            "https://api.wartawa.id/#top",
            "https://user:pw@api.wartawa.id",
            "https://api.wartawa.id:0",
            "https://api.wartawa.id:99999",
            "https://api.wartawa.id:+80",
            "https://api.wartawa.id:",
            "https://api wartawa.id",
            "https://api.wartawa.id/a b",
            "https://api.wartawa.id/\"><script>",
            "https://api.wartawa.id//evil.com",
            "https://[::1",
            "https://[]",
        ] {
            let error = base(value).unwrap_err().to_string();
            assert!(
                error.contains("for PUBLIC_BASE_URL (--public-base-url): an http(s) URL"),
                "{value}: {error}"
            );
        }
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let config = config(&[("APP_HOST", "::")]).unwrap();
        assert_eq!(config.listen_address(), "[::]:6543");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = config(&[
            ("DATABASE_URL", "postgres://app:db-password@db/wartawa"),
            ("JWT_SECRET", SECRET),
            ("TICKET_SIGNING_KEY", TICKET_KEY),
            ("ADMIN_EMAIL", "boss@wartawa.id"),
            ("ADMIN_PASSWORD", "admin-password"),
        ])
        .unwrap();
        let shown = format!("{config:?}");
        for secret in [SECRET, "db-password", "admin-password", TICKET_KEY] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("boss@wartawa.id"));
        assert!(shown.contains("postgres://app:***@db/wartawa"));
    }
}
