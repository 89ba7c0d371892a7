//! The command line: `wartawa [COMMAND]`, and every setting as a flag that also reads its
//! environment variable, so that `wartawa serve --help` documents them all. clap parses and
//! bounds them; what is WarTawa's own (offsets, origins, secrets, URLs) is checked by the
//! parsers in `config`, and the rules across settings by `Config::from_settings`.

use clap::{Args, Parser, Subcommand};

use crate::config::{
    admin_email, admin_password, boolean, cors_origins, ip_address, jwt_secret, language,
    mail_from, pool_mode, postgres_url, public_base_url, smtp_url, ticket_signing_key, utc_offset,
    CorsOrigins,
};

/// WarTawa: ticketing for stand-up comedy shows with reserved seating.
///
/// Every setting is a flag of `serve` (and of the commands that need it) and an environment
/// variable of the same name; a `.env` file in the working directory is read too, and what is
/// already in the environment wins over it. Without a command, `serve`.
#[derive(Debug, Parser)]
#[command(name = "wartawa", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (the default command).
    Serve(Settings),
    /// Apply the database migrations to DATABASE_URL, then exit.
    Migrate(Settings),
    /// Create an admin account in the database of DATABASE_URL, or confirm one.
    ///
    /// An account of that email that is not an admin is refused, unless --promote-existing is
    /// given: it then becomes an admin with the password given, and its earlier sessions end.
    CreateAdmin(CreateAdmin),
    /// Print the OpenAPI document (for generating clients); needs no configuration.
    Openapi,
}

/// `create-admin`'s own flags, then every setting.
#[derive(Debug, Args)]
pub struct CreateAdmin {
    /// The admin's email; ADMIN_EMAIL when left out.
    #[arg(long)]
    pub email: Option<String>,
    /// The admin's password (8 to 72 bytes); ADMIN_PASSWORD when left out.
    #[arg(long)]
    pub password: Option<String>,
    /// The admin's display name, for a new account.
    #[arg(long, default_value = "Administrator")]
    pub name: String,
    /// Make an existing account of that email an admin, with this password.
    #[arg(long)]
    pub promote_existing: bool,
    #[command(flatten)]
    pub settings: Settings,
}

/// Every setting. Each flag reads the environment variable named in its help when it is not
/// given; a variable set to nothing but blanks counts as unset.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    // ---- the server ----
    /// Address to listen on.
    #[arg(
        long,
        env = "APP_HOST",
        value_name = "APP_HOST",
        default_value = "0.0.0.0",
        help_heading = "Server"
    )]
    pub app_host: String,
    /// Port to listen on.
    #[arg(long, env = "APP_PORT", value_name = "APP_PORT", default_value_t = 6543,
          value_parser = clap::value_parser!(u16).range(1..), help_heading = "Server")]
    pub app_port: u16,
    /// Where clients reach the API, e.g. https://api.wartawa.id (an http(s) URL, optional path,
    /// no query): uploaded pictures' addresses start here. Unset: each request's own scheme and
    /// Host.
    #[arg(long, env = "PUBLIC_BASE_URL", value_name = "PUBLIC_BASE_URL",
          value_parser = public_base_url, help_heading = "Server")]
    pub public_base_url: Option<String>,
    /// Where e-mail to buyers is handed over: smtp://host:port for a plain relay,
    /// smtp://user:password@host:587?tls=required for STARTTLS, smtps://user:password@host for
    /// TLS. Unset: buyers are not e-mailed (and nothing is queued for them).
    #[arg(long, env = "SMTP_URL", value_name = "SMTP_URL", value_parser = smtp_url,
          help_heading = "E-mail")]
    pub smtp_url: Option<String>,
    /// Who e-mail to buyers comes from, e.g. "WarTawa <tickets@example.com>"; needed with
    /// SMTP_URL.
    #[arg(long, env = "MAIL_FROM", value_name = "MAIL_FROM", value_parser = mail_from,
          help_heading = "E-mail")]
    pub mail_from: Option<String>,
    /// Let webhook endpoints point at loopback and private addresses (receivers inside the
    /// operator's own network, or tests); off, such URLs are refused and never reached.
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE", value_name = "WEBHOOK_ALLOW_PRIVATE",
          default_value = "false", value_parser = boolean, action = clap::ArgAction::Set,
          help_heading = "Server")]
    pub webhook_allow_private: bool,
    /// Where to serve /metrics (Prometheus) on a listener of its own, e.g. 127.0.0.1:9090, so
    /// that it stays off the public port. Unset: /metrics is served with the API.
    #[arg(
        long,
        env = "METRICS_ADDR",
        value_name = "METRICS_ADDR",
        help_heading = "Server"
    )]
    pub metrics_addr: Option<String>,
    /// Comma-separated browser origins allowed to call the API, or * (safe: auth travels in a
    /// header, never a cookie).
    #[arg(long, env = "CORS_ORIGINS", value_name = "CORS_ORIGINS", default_value = "*",
          value_parser = cors_origins, help_heading = "Server")]
    pub cors_origins: CorsOrigins,
    /// Comma-separated proxy addresses whose X-Forwarded-For names the client; nobody else's
    /// is believed.
    #[arg(long, env = "TRUSTED_PROXIES", value_name = "TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = ip_address, help_heading = "Server")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The language of messages when a request's Accept-Language names neither: en or id.
    #[arg(long, env = "DEFAULT_LANGUAGE", value_name = "DEFAULT_LANGUAGE", default_value = "en",
          value_parser = language, help_heading = "Server")]
    pub default_language: adapters::http::language::Language,
    /// The venue's UTC offset: answers' times are written at it, request times written without
    /// one are read at it.
    #[arg(long, env = "APP_TZ_OFFSET", value_name = "APP_TZ_OFFSET", default_value = "+07:00",
          value_parser = utc_offset, help_heading = "Server")]
    pub app_tz_offset: chrono::FixedOffset,

    // ---- the store and secrets ----
    /// A PostgreSQL URL (postgres:// or postgresql://); unset: the embedded in-memory store,
    /// which keeps nothing after the process ends. DB_URL is read when this is unset.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", hide_env_values = true,
          value_parser = postgres_url, help_heading = "Store and secrets")]
    pub database_url: Option<String>,
    /// Database connections per process.
    #[arg(long, env = "DATABASE_POOL_SIZE", value_name = "DATABASE_POOL_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000), help_heading = "Store and secrets")]
    pub database_pool_size: u32,
    /// How long a request waits for a free connection (or a database that is down) before
    /// answering 503, in milliseconds.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_MS", value_name = "DATABASE_ACQUIRE_TIMEOUT_MS",
          default_value_t = 2000, value_parser = clap::value_parser!(u32).range(10..=60_000),
          help_heading = "Store and secrets")]
    pub database_acquire_timeout_ms: u32,
    /// What lends the connections of DATABASE_URL: session (PostgreSQL itself, or a pooler in
    /// session mode) or transaction (a pooler such as pgbouncer in transaction mode: every
    /// statement in a transaction, no kept prepared statements, the timeouts set per
    /// transaction; needs DATABASE_DIRECT_URL).
    #[arg(long, env = "DATABASE_POOL_MODE", value_name = "DATABASE_POOL_MODE", default_value = "session",
          value_parser = pool_mode, help_heading = "Store and secrets")]
    pub database_pool_mode: adapters::postgres::PoolMode,
    /// The database itself, not through a pooler, for what needs a session of its own: the
    /// migrations and the live seat map's LISTEN. Unset: DATABASE_URL.
    #[arg(long, env = "DATABASE_DIRECT_URL", value_name = "DATABASE_DIRECT_URL", hide_env_values = true,
          value_parser = postgres_url, help_heading = "Store and secrets")]
    pub database_direct_url: Option<String>,
    /// A streaming replica of DATABASE_URL's database: event lists, event details and seat
    /// maps are read from it while its data is at most READ_REPLICA_MAX_LAG_MS old; everything
    /// else stays on the primary.
    #[arg(long, env = "DATABASE_READ_URL", value_name = "DATABASE_READ_URL", hide_env_values = true,
          value_parser = postgres_url, help_heading = "Store and secrets")]
    pub database_read_url: Option<String>,
    /// How old, in milliseconds, the read replica's data may be for reads to go to it; an older
    /// (or unreachable) replica is bypassed until it catches up.
    #[arg(long, env = "READ_REPLICA_MAX_LAG_MS", value_name = "READ_REPLICA_MAX_LAG_MS",
          default_value_t = 1000, value_parser = clap::value_parser!(u32).range(10..=600_000),
          help_heading = "Store and secrets")]
    pub read_replica_max_lag_ms: u32,
    /// The key login tokens are signed with, at least 32 bytes; required with a database.
    /// Unset: random for this process (tokens die with it).
    #[arg(long, env = "JWT_SECRET", value_name = "JWT_SECRET", hide_env_values = true,
          value_parser = jwt_secret, help_heading = "Store and secrets")]
    pub jwt_secret: Option<Secret>,
    /// The Ed25519 key tickets are signed with: 32 bytes in base64 (openssl rand -base64 32);
    /// required with a database. Unset: random for this process.
    #[arg(long, env = "TICKET_SIGNING_KEY", value_name = "TICKET_SIGNING_KEY", hide_env_values = true,
          value_parser = ticket_signing_key, help_heading = "Store and secrets")]
    pub ticket_signing_key: Option<crate::config::TicketSigningKey>,
    /// How long a login lasts, in hours.
    #[arg(long, env = "JWT_TTL_HOURS", value_name = "JWT_TTL_HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(u32).range(1..=8760), help_heading = "Store and secrets")]
    pub jwt_ttl_hours: u32,
    /// The admin made sure of at start-up; with ADMIN_PASSWORD, or not at all.
    #[arg(long, env = "ADMIN_EMAIL", value_name = "ADMIN_EMAIL", value_parser = admin_email,
          help_heading = "Store and secrets")]
    pub admin_email: Option<domain::user::Email>,
    /// That admin's password when the account is new (8 to 72 bytes).
    #[arg(long, env = "ADMIN_PASSWORD", value_name = "ADMIN_PASSWORD", hide_env_values = true,
          value_parser = admin_password, help_heading = "Store and secrets")]
    pub admin_password: Option<domain::user::Password>,
    /// The bcrypt work factor (4 to 31).
    #[arg(long, env = "BCRYPT_COST", value_name = "BCRYPT_COST", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(4..=31), help_heading = "Store and secrets")]
    pub bcrypt_cost: u32,

    // ---- the sale ----
    /// How long an unpaid booking holds its seats, in minutes.
    #[arg(long, env = "BOOKING_HOLD_MINUTES", value_name = "BOOKING_HOLD_MINUTES", default_value_t = 15,
          value_parser = clap::value_parser!(u32).range(1..=1440), help_heading = "Sale")]
    pub booking_hold_minutes: u32,
    /// Seats in one booking (at most 100).
    #[arg(long, env = "MAX_SEATS_PER_BOOKING", value_name = "MAX_SEATS_PER_BOOKING", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(domain::booking::MOST_SEATS_PER_BOOKING)),
          help_heading = "Sale")]
    pub max_seats_per_booking: u32,
    /// Pending or confirmed tickets per customer per event; 0: no limit.
    #[arg(long, env = "MAX_TICKETS_PER_USER", value_name = "MAX_TICKETS_PER_USER", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=1000), help_heading = "Sale")]
    pub max_tickets_per_user: u32,
    /// Holds of one show a customer may cancel unpaid or let run out within the window below
    /// before waiting; 0: no limit.
    #[arg(long, env = "ABANDONED_HOLDS_PER_CUSTOMER", value_name = "ABANDONED_HOLDS_PER_CUSTOMER",
          default_value_t = 3, value_parser = count(), help_heading = "Sale")]
    pub abandoned_holds_per_customer: u32,
    /// That window, in minutes.
    #[arg(long, env = "ABANDONED_HOLD_WINDOW_MINUTES", value_name = "ABANDONED_HOLD_WINDOW_MINUTES",
          default_value_t = 360, value_parser = clap::value_parser!(u32).range(1..=10_080),
          help_heading = "Sale")]
    pub abandoned_hold_window_minutes: u32,
    /// How long before a show its doors open, in minutes, as its printable e-ticket says; 0
    /// leaves doors unsaid.
    #[arg(long, env = "DOORS_OPEN_MINUTES", value_name = "DOORS_OPEN_MINUTES", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(0..=720), help_heading = "Sale")]
    pub doors_open_minutes: u32,

    // ---- limits per caller ----
    /// Logins and password changes per client address per minute; 0: no limit.
    #[arg(long, env = "LOGIN_ATTEMPTS_PER_ADDRESS", value_name = "LOGIN_ATTEMPTS_PER_ADDRESS",
          default_value_t = 120, value_parser = count(), help_heading = "Limits per caller")]
    pub login_attempts_per_address: u32,
    /// Failed logins of one account from one address per 15 minutes before that address must
    /// wait; 0: no limit.
    #[arg(long, env = "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS",
          value_name = "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", default_value_t = 10,
          value_parser = count(), help_heading = "Limits per caller")]
    pub login_failures_per_account_and_address: u32,
    /// Failed logins of one account from anywhere per 15 minutes, past which only addresses
    /// that never failed on it may try; 0: no limit.
    #[arg(long, env = "LOGIN_FAILURES_PER_ACCOUNT", value_name = "LOGIN_FAILURES_PER_ACCOUNT",
          default_value_t = 100, value_parser = count(), help_heading = "Limits per caller")]
    pub login_failures_per_account: u32,
    /// Password changes and resets one account may make per hour; 0: no limit.
    #[arg(long, env = "PASSWORD_CHANGES_PER_ACCOUNT", value_name = "PASSWORD_CHANGES_PER_ACCOUNT",
          default_value_t = 10, value_parser = count(), help_heading = "Limits per caller")]
    pub password_changes_per_account: u32,
    /// Sign-ups per client address per hour; 0: no limit.
    #[arg(long, env = "REGISTRATIONS_PER_ADDRESS", value_name = "REGISTRATIONS_PER_ADDRESS",
          default_value_t = 20, value_parser = count(), help_heading = "Limits per caller")]
    pub registrations_per_address: u32,
    /// Profile changes one customer may make per hour (admins are not bounded); 0: no limit.
    #[arg(long, env = "PROFILE_CHANGES_PER_CUSTOMER", value_name = "PROFILE_CHANGES_PER_CUSTOMER",
          default_value_t = 20, value_parser = count(), help_heading = "Limits per caller")]
    pub profile_changes_per_customer: u32,
    /// Booking attempts per customer per minute; 0: no limit.
    #[arg(long, env = "BOOKINGS_PER_CUSTOMER", value_name = "BOOKINGS_PER_CUSTOMER",
          default_value_t = 30, value_parser = count(), help_heading = "Limits per caller")]
    pub bookings_per_customer: u32,
    /// Booking codes a caller may look up per minute that are not found (or not theirs) before
    /// further such codes wait (their own bookings never do); 0: no limit.
    #[arg(long, env = "BOOKING_LOOKUP_FAILURES_PER_CALLER",
          value_name = "BOOKING_LOOKUP_FAILURES_PER_CALLER", default_value_t = 30,
          value_parser = count(), help_heading = "Limits per caller")]
    pub booking_lookup_failures_per_caller: u32,
    /// Unexpired Idempotency-Keys one user may hold; 0: no limit.
    #[arg(long, env = "IDEMPOTENCY_KEYS_PER_USER", value_name = "IDEMPOTENCY_KEYS_PER_USER",
          default_value_t = 100, value_parser = count(), help_heading = "Limits per caller")]
    pub idempotency_keys_per_user: u32,
    /// Connections one client address may hold at once (429 and closed past it); trusted
    /// proxies are not bounded; 0: no limit.
    #[arg(long, env = "MAX_CONNECTIONS_PER_ADDRESS", value_name = "MAX_CONNECTIONS_PER_ADDRESS",
          default_value_t = 256, value_parser = count(), help_heading = "Limits per caller")]
    pub max_connections_per_address: u32,

    // ---- load ----
    /// Requests handled at once; past it, 503 with Retry-After at once (probes excepted). A
    /// request takes its place once its body has arrived.
    #[arg(long, env = "MAX_IN_FLIGHT_REQUESTS", value_name = "MAX_IN_FLIGHT_REQUESTS",
          default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000),
          help_heading = "Load")]
    pub max_in_flight_requests: u32,
    /// Password hashes and checks running or waiting at once; past it, 503 with Retry-After.
    /// Sign-ups, and checks from an address that failed one in the last 15 minutes, may hold
    /// only half of them.
    #[arg(long, env = "MAX_PASSWORD_CHECKS_IN_FLIGHT", value_name = "MAX_PASSWORD_CHECKS_IN_FLIGHT",
          default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000),
          help_heading = "Load")]
    pub max_password_checks_in_flight: u32,
    /// How long a request's headers may take to arrive, in seconds, and so how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", value_name = "HEADER_READ_TIMEOUT_SECS",
          default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600),
          help_heading = "Load")]
    pub header_read_timeout_secs: u32,
    /// How long a request's body may take to arrive, in seconds, plus the time its bytes earn;
    /// 408 past it.
    #[arg(long, env = "BODY_READ_TIMEOUT_SECS", value_name = "BODY_READ_TIMEOUT_SECS",
          default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600),
          help_heading = "Load")]
    pub body_read_timeout_secs: u32,
    /// Each this many bytes of a body earn it one more second; 0: none.
    #[arg(long, env = "BODY_MIN_BYTES_PER_SECOND", value_name = "BODY_MIN_BYTES_PER_SECOND",
          default_value_t = 1024, value_parser = clap::value_parser!(u32).range(0..=1_000_000_000),
          help_heading = "Load")]
    pub body_min_bytes_per_second: u32,
    /// After SIGTERM or SIGINT, how long the server keeps serving while /ready answers 503, in
    /// seconds, so that a load balancer takes it out of rotation first; then it stops accepting
    /// and finishes the requests in flight. A second signal ends the wait.
    #[arg(long, env = "DRAIN_SECS", value_name = "DRAIN_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=600), help_heading = "Load")]
    pub drain_secs: u32,
    /// Speak HTTP/2 over cleartext (prior knowledge) to clients that open with it, e.g. a
    /// proxy; HTTP/1.1 is always spoken.
    #[arg(long, env = "HTTP2_CLEARTEXT", value_name = "HTTP2_CLEARTEXT", default_value = "false",
          value_parser = boolean, action = clap::ArgAction::Set, help_heading = "Load")]
    pub http2_cleartext: bool,
    /// Requests one HTTP/2 connection may have open at once.
    #[arg(long, env = "HTTP2_MAX_CONCURRENT_STREAMS", value_name = "HTTP2_MAX_CONCURRENT_STREAMS",
          default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000),
          help_heading = "Load")]
    pub http2_max_concurrent_streams: u32,
    /// How long an HTTP/2 connection may carry nothing either way before it is closed, in
    /// seconds.
    #[arg(long, env = "HTTP2_IDLE_TIMEOUT_SECS", value_name = "HTTP2_IDLE_TIMEOUT_SECS",
          default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86_400),
          help_heading = "Load")]
    pub http2_idle_timeout_secs: u32,

    // ---- the live seat map ----
    /// Live seat-map streams open at once in one process; past it, 503 with Retry-After.
    #[arg(long, env = "MAX_SEAT_STREAMS", value_name = "MAX_SEAT_STREAMS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000), help_heading = "Live seat map")]
    pub max_seat_streams: u32,
    /// Changes a stream may fall behind by (a client not reading) before it is sent a fresh
    /// snapshot instead.
    #[arg(long, env = "SEAT_STREAM_BACKLOG", value_name = "SEAT_STREAM_BACKLOG", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=100_000), help_heading = "Live seat map")]
    pub seat_stream_backlog: u32,
    /// Seconds between comment lines on an idle stream.
    #[arg(long, env = "SEAT_STREAM_HEARTBEAT_SECS", value_name = "SEAT_STREAM_HEARTBEAT_SECS",
          default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=3600),
          help_heading = "Live seat map")]
    pub seat_stream_heartbeat_secs: u32,
    /// How often a watched seat map is read even when no change was signalled, in seconds, so
    /// that holds that lapse while nobody books are freed and told.
    #[arg(long, env = "SEAT_MAP_CHECK_SECS", value_name = "SEAT_MAP_CHECK_SECS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=86_400), help_heading = "Live seat map")]
    pub seat_map_check_secs: u32,
    /// The least time between two reads of a watched seat map, in milliseconds: changes made
    /// within it reach the streams as one event.
    #[arg(long, env = "SEAT_STREAM_BATCH_MS", value_name = "SEAT_STREAM_BATCH_MS", default_value_t = 25,
          value_parser = clap::value_parser!(u32).range(0..=10_000), help_heading = "Live seat map")]
    pub seat_stream_batch_ms: u32,
}

/// A count a limit allows; 0 means no limit.
fn count() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(0..=1_000_000)
}

/// A secret's bytes; never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}
