//! Settings from the environment (and `.env`), parsed and checked once at start-up.
//!
//! [`Config::from_lookup`] is a pure function of the variables it is given, so that every rule
//! here is tested without touching the process environment.

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use chrono::{Duration, FixedOffset};

use adapters::auth::BCRYPT_COSTS;
use adapters::http::language::Language;
use domain::booking::BookingPolicy;
use domain::user::{Email, Password};

/// HS256 needs a key at least as long as its 32-byte digest to be as strong as it can be.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

const DEFAULT_HOST: &str = "0.0.0.0";
const DEFAULT_PORT: u16 = 6543;
const DEFAULT_POOL_SIZE: u32 = 10;
const DEFAULT_DATABASE_ACQUIRE_TIMEOUT_MS: u32 = 2000;
const DEFAULT_JWT_TTL_HOURS: u32 = 24;
const DEFAULT_HOLD_MINUTES: u32 = 15;
const DEFAULT_MAX_SEATS_PER_BOOKING: u32 = 10;
const DEFAULT_MAX_TICKETS_PER_USER: u32 = 3;
/// Western Indonesian Time (WIB).
const DEFAULT_TZ_OFFSET_SECONDS: i32 = 7 * 3600;
const DEFAULT_BCRYPT_COST: u32 = 12;
const DEFAULT_LOGIN_ATTEMPTS_PER_ADDRESS: u32 = 120;
const DEFAULT_LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS: u32 = 10;
const DEFAULT_LOGIN_FAILURES_PER_ACCOUNT: u32 = 100;
const DEFAULT_PASSWORD_CHANGES_PER_ACCOUNT: u32 = 10;
const DEFAULT_REGISTRATIONS_PER_ADDRESS: u32 = 20;
const DEFAULT_PROFILE_CHANGES_PER_CUSTOMER: u32 = 20;
const DEFAULT_BOOKING_LOOKUP_FAILURES_PER_CALLER: u32 = 30;
const DEFAULT_IDEMPOTENCY_KEYS_PER_USER: u32 = 100;
const DEFAULT_ABANDONED_HOLDS_PER_CUSTOMER: u32 = 3;
const DEFAULT_ABANDONED_HOLD_WINDOW_MINUTES: u32 = 360;
const DEFAULT_BOOKINGS_PER_CUSTOMER: u32 = 30;
const DEFAULT_MAX_IN_FLIGHT_REQUESTS: u32 = 64;
const DEFAULT_MAX_SEAT_STREAMS: u32 = 10_000;
const DEFAULT_SEAT_STREAM_BACKLOG: u32 = 64;
const DEFAULT_SEAT_STREAM_HEARTBEAT_SECS: u32 = 15;
const DEFAULT_SEAT_MAP_CHECK_SECS: u32 = 1;
const DEFAULT_SEAT_STREAM_BATCH_MS: u32 = 25;
const DEFAULT_DOORS_OPEN_MINUTES: u32 = 30;
const DEFAULT_MAX_PASSWORD_CHECKS_IN_FLIGHT: u32 = 16;
const DEFAULT_HEADER_READ_TIMEOUT_SECS: u32 = 10;
const DEFAULT_BODY_READ_TIMEOUT_SECS: u32 = 10;
const DEFAULT_BODY_MIN_BYTES_PER_SECOND: u32 = 1024;
const DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS: u32 = 32;
const DEFAULT_HTTP2_IDLE_TIMEOUT_SECS: u32 = 60;
const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: u32 = 256;

/// Everything the server reads from its environment.
#[derive(Clone, PartialEq)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// `None` runs on the embedded in-memory store.
    pub database_url: Option<String>,
    pub database_pool_size: u32,
    /// How long a request waits for a free database connection before answering 503.
    pub database_acquire_timeout: std::time::Duration,
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

/// A variable that is set but unusable, told in one line an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable} must be {expected}, got \"{value}\"")]
    Invalid {
        variable: &'static str,
        value: String,
        expected: String,
    },
    /// A secret's value is never repeated, only its length.
    #[error("{variable} must be {expected}, got {actual} bytes")]
    SecretLength {
        variable: &'static str,
        expected: String,
        actual: usize,
    },
    #[error("{missing} must be set when {present} is ({reason})")]
    Missing {
        missing: &'static str,
        present: &'static str,
        reason: &'static str,
    },
    #[error("the .env file could not be read: {0}")]
    DotEnv(String),
}

impl Config {
    /// Reads the process environment, after loading `.env` when there is one. Variables
    /// already set in the environment win over the file.
    pub fn from_env() -> Result<Config, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(error) if error.not_found() => {}
            Err(error) => return Err(ConfigError::DotEnv(error.to_string())),
        }
        // Lossy, so that a value that is not UTF-8 is reported as bad rather than ignored.
        Config::from_lookup(|name| {
            std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
        })
    }

    /// Parses and checks the settings that `lookup` gives by variable name. A variable that
    /// is unset, empty or only blanks takes its default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let count = |name: &'static str, default: u32| {
            parse_or(name, var(name), default, whole_number_in(0..=1_000_000))
        };

        let database_url = var("DATABASE_URL")
            .or_else(|| var("DB_URL"))
            .map(|url| url.trim().to_string());
        let jwt_secret = var("JWT_SECRET").map(jwt_secret).transpose()?;
        if database_url.is_some() && jwt_secret.is_none() {
            return Err(ConfigError::Missing {
                missing: "JWT_SECRET",
                present: "DATABASE_URL",
                reason: "tokens must stay valid across restarts and processes",
            });
        }
        let ticket_signing_key = var("TICKET_SIGNING_KEY")
            .map(ticket_signing_key)
            .transpose()?;
        if database_url.is_some() && ticket_signing_key.is_none() {
            return Err(ConfigError::Missing {
                missing: "TICKET_SIGNING_KEY",
                present: "DATABASE_URL",
                reason: "tickets must stay valid across restarts and processes; make one with `openssl rand -base64 32`",
            });
        }
        Ok(Config {
            ticket_signing_key,
            host: var("APP_HOST")
                .map_or_else(|| DEFAULT_HOST.to_string(), |host| host.trim().to_string()),
            port: parse_or("APP_PORT", var("APP_PORT"), DEFAULT_PORT, port)?,
            database_url,
            database_pool_size: parse_or(
                "DATABASE_POOL_SIZE",
                var("DATABASE_POOL_SIZE"),
                DEFAULT_POOL_SIZE,
                whole_number_in(1..=1000),
            )?,
            database_acquire_timeout: std::time::Duration::from_millis(u64::from(parse_or(
                "DATABASE_ACQUIRE_TIMEOUT_MS",
                var("DATABASE_ACQUIRE_TIMEOUT_MS"),
                DEFAULT_DATABASE_ACQUIRE_TIMEOUT_MS,
                whole_number_in(10..=60_000),
            )?)),
            jwt_secret,
            jwt_ttl: Duration::hours(i64::from(parse_or(
                "JWT_TTL_HOURS",
                var("JWT_TTL_HOURS"),
                DEFAULT_JWT_TTL_HOURS,
                whole_number_in(1..=8760),
            )?)),
            admin: admin_credentials(var("ADMIN_EMAIL"), var("ADMIN_PASSWORD"))?,
            booking_hold: Duration::minutes(i64::from(parse_or(
                "BOOKING_HOLD_MINUTES",
                var("BOOKING_HOLD_MINUTES"),
                DEFAULT_HOLD_MINUTES,
                whole_number_in(1..=1440),
            )?)),
            max_seats_per_booking: parse_or(
                "MAX_SEATS_PER_BOOKING",
                var("MAX_SEATS_PER_BOOKING"),
                DEFAULT_MAX_SEATS_PER_BOOKING,
                whole_number_in(1..=domain::booking::MOST_SEATS_PER_BOOKING),
            )?,
            max_tickets_per_user: parse_or(
                "MAX_TICKETS_PER_USER",
                var("MAX_TICKETS_PER_USER"),
                DEFAULT_MAX_TICKETS_PER_USER,
                whole_number_in(0..=1000),
            )?,
            abandoned_holds_per_customer: count(
                "ABANDONED_HOLDS_PER_CUSTOMER",
                DEFAULT_ABANDONED_HOLDS_PER_CUSTOMER,
            )?,
            abandoned_hold_window: Duration::minutes(i64::from(parse_or(
                "ABANDONED_HOLD_WINDOW_MINUTES",
                var("ABANDONED_HOLD_WINDOW_MINUTES"),
                DEFAULT_ABANDONED_HOLD_WINDOW_MINUTES,
                whole_number_in(1..=10_080),
            )?)),
            default_language: parse_or(
                "DEFAULT_LANGUAGE",
                var("DEFAULT_LANGUAGE"),
                Language::English,
                |value| Language::parse(value).ok_or_else(|| "en or id".to_string()),
            )?,
            venue_offset: match var("APP_TZ_OFFSET") {
                Some(value) => {
                    utc_offset(value.trim()).map_err(|expected| ConfigError::Invalid {
                        variable: "APP_TZ_OFFSET",
                        value,
                        expected,
                    })?
                }
                None => default_venue_offset(),
            },
            cors_origins: parse_or(
                "CORS_ORIGINS",
                var("CORS_ORIGINS"),
                CorsOrigins::Any,
                cors_origins,
            )?,
            public_base_url: parse_or("PUBLIC_BASE_URL", var("PUBLIC_BASE_URL"), None, |value| {
                public_base_url(value).map(Some)
            })?,
            bcrypt_cost: parse_or(
                "BCRYPT_COST",
                var("BCRYPT_COST"),
                DEFAULT_BCRYPT_COST,
                whole_number_in(BCRYPT_COSTS),
            )?,
            login_attempts_per_address: parse_or(
                "LOGIN_ATTEMPTS_PER_ADDRESS",
                var("LOGIN_ATTEMPTS_PER_ADDRESS"),
                DEFAULT_LOGIN_ATTEMPTS_PER_ADDRESS,
                whole_number_in(0..=1_000_000),
            )?,
            login_failures_per_account_and_address: count(
                "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS",
                DEFAULT_LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS,
            )?,
            login_failures_per_account: count(
                "LOGIN_FAILURES_PER_ACCOUNT",
                DEFAULT_LOGIN_FAILURES_PER_ACCOUNT,
            )?,
            password_changes_per_account: count(
                "PASSWORD_CHANGES_PER_ACCOUNT",
                DEFAULT_PASSWORD_CHANGES_PER_ACCOUNT,
            )?,
            registrations_per_address: count(
                "REGISTRATIONS_PER_ADDRESS",
                DEFAULT_REGISTRATIONS_PER_ADDRESS,
            )?,
            profile_changes_per_customer: count(
                "PROFILE_CHANGES_PER_CUSTOMER",
                DEFAULT_PROFILE_CHANGES_PER_CUSTOMER,
            )?,
            booking_lookup_failures_per_caller: count(
                "BOOKING_LOOKUP_FAILURES_PER_CALLER",
                DEFAULT_BOOKING_LOOKUP_FAILURES_PER_CALLER,
            )?,
            idempotency_keys_per_user: count(
                "IDEMPOTENCY_KEYS_PER_USER",
                DEFAULT_IDEMPOTENCY_KEYS_PER_USER,
            )?,
            bookings_per_customer: parse_or(
                "BOOKINGS_PER_CUSTOMER",
                var("BOOKINGS_PER_CUSTOMER"),
                DEFAULT_BOOKINGS_PER_CUSTOMER,
                whole_number_in(0..=1_000_000),
            )?,
            max_seat_streams: parse_or(
                "MAX_SEAT_STREAMS",
                var("MAX_SEAT_STREAMS"),
                DEFAULT_MAX_SEAT_STREAMS,
                whole_number_in(1..=1_000_000),
            )?,
            seat_stream_backlog: parse_or(
                "SEAT_STREAM_BACKLOG",
                var("SEAT_STREAM_BACKLOG"),
                DEFAULT_SEAT_STREAM_BACKLOG,
                whole_number_in(1..=100_000),
            )?,
            seat_stream_heartbeat_secs: parse_or(
                "SEAT_STREAM_HEARTBEAT_SECS",
                var("SEAT_STREAM_HEARTBEAT_SECS"),
                DEFAULT_SEAT_STREAM_HEARTBEAT_SECS,
                whole_number_in(1..=3600),
            )?,
            seat_map_check_secs: parse_or(
                "SEAT_MAP_CHECK_SECS",
                var("SEAT_MAP_CHECK_SECS"),
                DEFAULT_SEAT_MAP_CHECK_SECS,
                whole_number_in(1..=86_400),
            )?,
            doors_open_minutes: parse_or(
                "DOORS_OPEN_MINUTES",
                var("DOORS_OPEN_MINUTES"),
                DEFAULT_DOORS_OPEN_MINUTES,
                whole_number_in(0..=720),
            )?,
            seat_stream_batch_ms: parse_or(
                "SEAT_STREAM_BATCH_MS",
                var("SEAT_STREAM_BATCH_MS"),
                DEFAULT_SEAT_STREAM_BATCH_MS,
                whole_number_in(0..=10_000),
            )?,
            max_in_flight_requests: parse_or(
                "MAX_IN_FLIGHT_REQUESTS",
                var("MAX_IN_FLIGHT_REQUESTS"),
                DEFAULT_MAX_IN_FLIGHT_REQUESTS,
                whole_number_in(1..=1_000_000),
            )?,
            max_password_checks_in_flight: parse_or(
                "MAX_PASSWORD_CHECKS_IN_FLIGHT",
                var("MAX_PASSWORD_CHECKS_IN_FLIGHT"),
                DEFAULT_MAX_PASSWORD_CHECKS_IN_FLIGHT,
                whole_number_in(1..=100_000),
            )?,
            trusted_proxies: parse_or(
                "TRUSTED_PROXIES",
                var("TRUSTED_PROXIES"),
                Vec::new(),
                ip_addresses,
            )?,
            header_read_timeout: seconds(parse_or(
                "HEADER_READ_TIMEOUT_SECS",
                var("HEADER_READ_TIMEOUT_SECS"),
                DEFAULT_HEADER_READ_TIMEOUT_SECS,
                whole_number_in(1..=3600),
            )?),
            body_read_timeout: seconds(parse_or(
                "BODY_READ_TIMEOUT_SECS",
                var("BODY_READ_TIMEOUT_SECS"),
                DEFAULT_BODY_READ_TIMEOUT_SECS,
                whole_number_in(1..=3600),
            )?),
            body_min_bytes_per_second: parse_or(
                "BODY_MIN_BYTES_PER_SECOND",
                var("BODY_MIN_BYTES_PER_SECOND"),
                DEFAULT_BODY_MIN_BYTES_PER_SECOND,
                whole_number_in(0..=1_000_000_000),
            )?,
            http2_cleartext: parse_or("HTTP2_CLEARTEXT", var("HTTP2_CLEARTEXT"), false, boolean)?,
            http2_max_concurrent_streams: parse_or(
                "HTTP2_MAX_CONCURRENT_STREAMS",
                var("HTTP2_MAX_CONCURRENT_STREAMS"),
                DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS,
                whole_number_in(1..=10_000),
            )?,
            http2_idle_timeout: seconds(parse_or(
                "HTTP2_IDLE_TIMEOUT_SECS",
                var("HTTP2_IDLE_TIMEOUT_SECS"),
                DEFAULT_HTTP2_IDLE_TIMEOUT_SECS,
                whole_number_in(1..=86_400),
            )?),
            max_connections_per_address: parse_or(
                "MAX_CONNECTIONS_PER_ADDRESS",
                var("MAX_CONNECTIONS_PER_ADDRESS"),
                DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
                whole_number_in(0..=1_000_000),
            )?,
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

/// `+07:00`.
fn default_venue_offset() -> FixedOffset {
    FixedOffset::east_opt(DEFAULT_TZ_OFFSET_SECONDS).expect("+07:00 is a valid offset")
}

/// Parses a set variable with `parse` (which says what it expected on failure), or gives
/// `default` when the variable is unset.
fn parse_or<T>(
    variable: &'static str,
    value: Option<String>,
    default: T,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(value) => parse(value.trim()).map_err(|expected| ConfigError::Invalid {
            variable,
            value,
            expected,
        }),
    }
}

/// Comma-separated IP addresses (`10.0.0.1, ::1`).
fn ip_addresses(value: &str) -> Result<Vec<IpAddr>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|address| !address.is_empty())
        .map(|address| {
            address
                .parse::<IpAddr>()
                .map_err(|_| "comma-separated IP addresses such as 10.0.0.1".to_string())
        })
        .collect()
}

fn seconds(value: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(value))
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("true or false".to_string()),
    }
}

fn port(value: &str) -> Result<u16, String> {
    value
        .parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| "a port number between 1 and 65535".to_string())
}

fn whole_number_in(range: RangeInclusive<u32>) -> impl Fn(&str) -> Result<u32, String> {
    move |value| {
        value
            .parse::<u32>()
            .ok()
            .filter(|number| range.contains(number))
            .ok_or_else(|| {
                format!(
                    "a whole number between {} and {}",
                    range.start(),
                    range.end()
                )
            })
    }
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
fn ticket_signing_key(value: String) -> Result<TicketSigningKey, ConfigError> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let text = value.trim().trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| ConfigError::SecretLength {
            variable: "TICKET_SIGNING_KEY",
            expected: "32 bytes in base64 (`openssl rand -base64 32`)".into(),
            actual: 0,
        })?;
    let actual = bytes.len();
    bytes
        .try_into()
        .map(TicketSigningKey)
        .map_err(|_| ConfigError::SecretLength {
            variable: "TICKET_SIGNING_KEY",
            expected: "32 bytes in base64 (`openssl rand -base64 32`)".into(),
            actual,
        })
}

fn jwt_secret(value: String) -> Result<Vec<u8>, ConfigError> {
    // Taken byte for byte, untrimmed: a secret is whatever the operator wrote.
    let secret = value.into_bytes();
    if secret.len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError::SecretLength {
            variable: "JWT_SECRET",
            expected: format!("at least {MIN_JWT_SECRET_BYTES} bytes long"),
            actual: secret.len(),
        });
    }
    Ok(secret)
}

fn admin_credentials(
    email: Option<String>,
    password: Option<String>,
) -> Result<Option<AdminCredentials>, ConfigError> {
    const BOTH_OR_NEITHER: &str = "set both or neither";
    match (email, password) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::Missing {
            missing: "ADMIN_PASSWORD",
            present: "ADMIN_EMAIL",
            reason: BOTH_OR_NEITHER,
        }),
        (None, Some(_)) => Err(ConfigError::Missing {
            missing: "ADMIN_EMAIL",
            present: "ADMIN_PASSWORD",
            reason: BOTH_OR_NEITHER,
        }),
        (Some(email), Some(password)) => {
            let email = Email::parse(&email).map_err(|_| ConfigError::Invalid {
                variable: "ADMIN_EMAIL",
                value: email.clone(),
                expected: "a valid email address".to_string(),
            })?;
            let password = Password::new(&password).map_err(|_| ConfigError::SecretLength {
                variable: "ADMIN_PASSWORD",
                expected: "8 to 72 bytes long".to_string(),
                actual: password.len(),
            })?;
            Ok(Some(AdminCredentials { email, password }))
        }
    }
}

/// `+HH:MM`, `-HH:MM` or `Z`.
fn utc_offset(value: &str) -> Result<FixedOffset, String> {
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
fn cors_origins(value: &str) -> Result<CorsOrigins, String> {
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

/// `http(s)://host[:port]` with an optional path, as a browser would reach the API: no query,
/// fragment, credentials, spaces or characters that could break out of a link. Trailing slashes
/// are dropped, so that a path can be appended.
fn public_base_url(value: &str) -> Result<String, String> {
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
    fn bad_numbers_name_the_variable_the_value_and_the_range() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "APP_PORT",
                "abc",
                "APP_PORT must be a port number between 1 and 65535, got \"abc\"",
            ),
            (
                "APP_PORT",
                "0",
                "APP_PORT must be a port number between 1 and 65535, got \"0\"",
            ),
            (
                "APP_PORT",
                "65536",
                "APP_PORT must be a port number between 1 and 65535, got \"65536\"",
            ),
            (
                "DATABASE_POOL_SIZE",
                "0",
                "DATABASE_POOL_SIZE must be a whole number between 1 and 1000, got \"0\"",
            ),
            (
                "DATABASE_POOL_SIZE",
                "1001",
                "DATABASE_POOL_SIZE must be a whole number between 1 and 1000, got \"1001\"",
            ),
            (
                "JWT_TTL_HOURS",
                "0",
                "JWT_TTL_HOURS must be a whole number between 1 and 8760, got \"0\"",
            ),
            (
                "JWT_TTL_HOURS",
                "8761",
                "JWT_TTL_HOURS must be a whole number between 1 and 8760, got \"8761\"",
            ),
            (
                "BOOKING_HOLD_MINUTES",
                "1441",
                "BOOKING_HOLD_MINUTES must be a whole number between 1 and 1440, got \"1441\"",
            ),
            (
                "BOOKING_HOLD_MINUTES",
                "1.5",
                "BOOKING_HOLD_MINUTES must be a whole number between 1 and 1440, got \"1.5\"",
            ),
            (
                "MAX_SEATS_PER_BOOKING",
                "0",
                "MAX_SEATS_PER_BOOKING must be a whole number between 1 and 100, got \"0\"",
            ),
            (
                "MAX_SEATS_PER_BOOKING",
                "101",
                "MAX_SEATS_PER_BOOKING must be a whole number between 1 and 100, got \"101\"",
            ),
            (
                "MAX_TICKETS_PER_USER",
                "-1",
                "MAX_TICKETS_PER_USER must be a whole number between 0 and 1000, got \"-1\"",
            ),
            (
                "MAX_TICKETS_PER_USER",
                "1001",
                "MAX_TICKETS_PER_USER must be a whole number between 0 and 1000, got \"1001\"",
            ),
            (
                "BCRYPT_COST",
                "3",
                "BCRYPT_COST must be a whole number between 4 and 31, got \"3\"",
            ),
            (
                "BCRYPT_COST",
                "32",
                "BCRYPT_COST must be a whole number between 4 and 31, got \"32\"",
            ),
        ];
        for (variable, value, message) in cases {
            assert_eq!(error(&[(variable, value)]), *message);
        }
    }

    #[test]
    fn a_short_jwt_secret_is_refused_without_repeating_it() {
        let message = error(&[("JWT_SECRET", "hunter2")]);
        assert_eq!(
            message,
            "JWT_SECRET must be at least 32 bytes long, got 7 bytes"
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
            "TICKET_SIGNING_KEY must be 32 bytes in base64 (`openssl rand -base64 32`), got 5 bytes"
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
            "ADMIN_EMAIL must be a valid email address, got \"boss\""
        );
        assert_eq!(
            error(&[
                ("ADMIN_EMAIL", "boss@wartawa.id"),
                ("ADMIN_PASSWORD", "pw123")
            ]),
            "ADMIN_PASSWORD must be 8 to 72 bytes long, got 5 bytes"
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
                    "APP_TZ_OFFSET must be a UTC offset like +07:00, -05:30 or Z, got \"{bad}\""
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
                message.starts_with("CORS_ORIGINS must be \"*\" or"),
                "{message}"
            );
            assert!(message.ends_with(&format!("got \"{bad}\"")), "{message}");
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
                error.starts_with("PUBLIC_BASE_URL must be an http(s) URL"),
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
