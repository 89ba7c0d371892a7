//! Putting WarTawa together: the stores, the adapters and the use cases behind the HTTP API.

use std::sync::Arc;

use adapters::auth::{BcryptHasher, JwtTokenService};
use adapters::http::buyer_mail::Mailer;
use adapters::http::limits::{Limits, RateLimit};
use adapters::http::middleware::BodyReading;
use adapters::http::notification_delivery::{BuyerMail, NotificationDelivery, Receivers};
use adapters::http::seat_feed::{SeatFeed, SeatFeedSettings};
use adapters::http::server::ServerSettings;
use adapters::http::{HttpSettings, Services};
use adapters::memory::{InProcessRateCounter, MemoryStore};
use adapters::postgres::{
    OpenError, PostgresSeatSignals, PostgresSettings, PostgresStore, ReadReplica,
};
use adapters::seat_signals::SeatMapSignals;
use adapters::system::{RandomCodeGenerator, SystemClock};
use adapters::tickets::Ed25519Tickets;
use application::audit::AuditService;
use application::auth::Authenticate;
use application::bookings::BookingService;
use application::dashboard::DashboardService;
use application::door::DoorService;
use application::events::EventService;
use application::health::Readiness;
use application::idempotency::{IdempotencyPolicy, IdempotencyService};
use application::notifications::NotificationService;
use application::ports::{
    AuditLog, BookingRepository, Clock, EventRepository, HashError, IdempotencyStore,
    NotificationRepository, PasswordHasher, RateCounter, ReadReplicaStatus, TicketSigner,
    TokenService, UserRepository,
};
use application::users::{AdminSetUp, EnsureAdminError, ExistingAccount, UserService};
use domain::notification::RetryPolicy;

use crate::config::{Config, CorsOrigins};

/// The three repositories of one store, its audit log and its idempotency keys.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserRepository>,
    pub events: Arc<dyn EventRepository>,
    pub bookings: Arc<dyn BookingRepository>,
    /// The trail the repositories' commands write, for reading.
    pub audit: Arc<dyn AuditLog>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Where this process hears that seat maps moved.
    pub seat_signals: Arc<dyn SeatMapSignals>,
    /// The PostgreSQL pool, for the metrics of its connections; `None` on the memory store.
    pub database: Option<sqlx::PgPool>,
    /// Where the throttles count: the database's table on PostgreSQL, so that every process
    /// shares one budget; this process's memory otherwise.
    pub rate_counter: Arc<dyn RateCounter>,
    /// Webhook endpoints, and the outbox's deliveries to them.
    pub notifications: Arc<dyn NotificationRepository>,
    /// The read replica's freshness, when reads go to one.
    pub read_replica: Option<Arc<dyn ReadReplicaStatus>>,
}

impl Stores {
    /// The repositories of a store that implements all of them on one value, and its signals.
    pub fn sharing<S>(store: Arc<S>, seat_signals: Arc<dyn SeatMapSignals>) -> Stores
    where
        S: UserRepository
            + EventRepository
            + BookingRepository
            + AuditLog
            + IdempotencyStore
            + NotificationRepository
            + 'static,
    {
        Stores {
            users: store.clone(),
            events: store.clone(),
            bookings: store.clone(),
            audit: store.clone(),
            notifications: store.clone(),
            idempotency: store,
            seat_signals,
            database: None,
            rate_counter: Arc::new(InProcessRateCounter::new()),
            read_replica: None,
        }
    }

    /// A memory store's repositories, and the signals it sends under its lock.
    pub fn of_memory(store: Arc<MemoryStore>) -> Stores {
        let seat_signals = Arc::new(store.seat_signals());
        Stores::sharing(store, seat_signals)
    }

    /// A PostgreSQL store's repositories, and the database's notifications.
    pub fn of_postgres(store: Arc<PostgresStore>) -> Stores {
        let listening = store.pool().clone();
        Stores::of_postgres_listening(store, listening)
    }

    /// A PostgreSQL store's repositories, and the database's notifications heard over
    /// `listening` (a pool that keeps sessions: `LISTEN` outlives a transaction).
    pub fn of_postgres_listening(store: Arc<PostgresStore>, listening: sqlx::PgPool) -> Stores {
        let seat_signals = Arc::new(PostgresSeatSignals::new(listening));
        let database = Some(store.pool().clone());
        Stores {
            database,
            rate_counter: store.clone(),
            read_replica: store
                .read_replica()
                .map(|replica| replica as Arc<dyn ReadReplicaStatus>),
            ..Stores::sharing(store, seat_signals)
        }
    }

    /// The embedded in-memory store: everything lives as long as the process.
    pub fn in_memory() -> Stores {
        Stores::of_memory(Arc::new(MemoryStore::new(Arc::new(RandomCodeGenerator))))
    }

    /// The PostgreSQL store over an open pool.
    pub fn postgres(pool: sqlx::PgPool) -> Stores {
        Stores::of_postgres(Arc::new(PostgresStore::new(
            pool,
            Arc::new(RandomCodeGenerator),
        )))
    }

    /// The store the configuration asks for: PostgreSQL (connected and migrated) when
    /// `DATABASE_URL` is set, the embedded store otherwise. Behind a transaction pooler, the
    /// migrations and the seat-map `LISTEN` go over `DATABASE_DIRECT_URL`; with
    /// `DATABASE_READ_URL`, the replica's freshness is checked for as long as the process runs.
    pub async fn from_config(config: &Config) -> Result<Stores, OpenError> {
        let Some(url) = &config.database_url else {
            return Ok(Stores::in_memory());
        };
        let settings = postgres_settings(config, url);
        let (pool, listening) = match &config.database_direct_url {
            None => {
                let pool = adapters::postgres::open(&settings).await?;
                (pool.clone(), pool)
            }
            Some(direct_url) => {
                let direct = adapters::postgres::open(&direct_settings(config, direct_url)).await?;
                (adapters::postgres::connect(&settings).await?, direct)
            }
        };
        let mut store = PostgresStore::new(pool, Arc::new(RandomCodeGenerator)).lent_as(&settings);
        if let Some(read_url) = &config.database_read_url {
            // Opened lazily: a replica that is down at start-up is bypassed, not fatal.
            let replica_pool = adapters::postgres::pool(&replica_settings(config, read_url))?;
            store = store.reading_from(ReadReplica::new(replica_pool, config.read_replica_max_lag));
        }
        let store = Arc::new(store);
        store.watch_replica();
        Ok(Stores::of_postgres_listening(store, listening))
    }
}

/// How the process reaches `DATABASE_URL`.
pub fn postgres_settings(config: &Config, url: &str) -> PostgresSettings {
    PostgresSettings {
        acquire_timeout: config.database_acquire_timeout,
        pool_mode: config.database_pool_mode,
        ..PostgresSettings::new(url, config.database_pool_size)
    }
}

/// The connections that need a session of their own: the migrations, and one `LISTEN`.
pub fn direct_settings(config: &Config, direct_url: &str) -> PostgresSettings {
    PostgresSettings {
        acquire_timeout: config.database_acquire_timeout,
        ..PostgresSettings::new(direct_url, 2)
    }
}

/// The read replica, reached directly, with as many connections as the primary's pool.
fn replica_settings(config: &Config, read_url: &str) -> PostgresSettings {
    PostgresSettings {
        acquire_timeout: config.database_acquire_timeout,
        ..PostgresSettings::new(read_url, config.database_pool_size)
    }
}

/// The outside-world adapters the use cases need besides the store.
#[derive(Clone)]
pub struct Adapters {
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenService>,
    pub clock: Arc<dyn Clock>,
    pub tickets: Arc<dyn TicketSigner>,
}

impl Adapters {
    /// bcrypt at the configured cost, JWT with the configured secret (or a random one), the system clock.
    pub fn from_config(config: &Config) -> Result<Adapters, String> {
        let hasher = password_hasher(config).map_err(|error| error.to_string())?;
        let secret = match &config.jwt_secret {
            Some(secret) => secret.clone(),
            None => {
                tracing::warn!(
                    "JWT_SECRET is not set: using a random secret, so tokens stop working when the server restarts"
                );
                JwtTokenService::random_secret()
            }
        };
        Ok(Adapters {
            hasher: Arc::new(hasher),
            tokens: Arc::new(JwtTokenService::new(&secret, config.jwt_ttl)),
            clock: Arc::new(SystemClock),
            tickets: ticket_signer(config),
        })
    }
}

/// Tickets signed with `TICKET_SIGNING_KEY`, or with a key of this process's own.
pub fn ticket_signer(config: &Config) -> Arc<dyn TicketSigner> {
    match &config.ticket_signing_key {
        Some(key) => Arc::new(Ed25519Tickets::new(&key.0)),
        None => {
            tracing::warn!(
                "TICKET_SIGNING_KEY is not set: tickets are signed with a random key, so they stop verifying when the server restarts"
            );
            Arc::new(Ed25519Tickets::random())
        }
    }
}

/// bcrypt at the configured cost, letting in `MAX_PASSWORD_CHECKS_IN_FLIGHT` checks at once.
pub fn password_hasher(config: &Config) -> Result<BcryptHasher, HashError> {
    BcryptHasher::with_limits(
        config.bcrypt_cost,
        adapters::auth::default_max_concurrent(),
        config.max_password_checks_in_flight as usize,
    )
}

/// The use cases over the given store and adapters.
pub fn services(config: &Config, stores: &Stores, adapters: &Adapters) -> Arc<Services> {
    let clock = adapters.clock.clone();
    Arc::new(Services {
        authenticate: Authenticate::new(
            stores.users.clone(),
            adapters.tokens.clone(),
            clock.clone(),
        ),
        users: UserService::new(
            stores.users.clone(),
            adapters.hasher.clone(),
            adapters.tokens.clone(),
            clock.clone(),
        ),
        events: EventService::new(stores.events.clone(), clock.clone()),
        bookings: BookingService::new(
            stores.bookings.clone(),
            clock.clone(),
            config.booking_policy(),
        ),
        dashboard: DashboardService::new(stores.bookings.clone(), clock.clone()),
        audit: AuditService::new(stores.audit.clone()),
        readiness: Readiness::new(stores.bookings.clone())
            .with_replica(stores.read_replica.clone()),
        idempotency: IdempotencyService::new(
            stores.idempotency.clone(),
            clock,
            IdempotencyPolicy {
                max_live_keys_per_user: config.idempotency_keys_per_user,
                ..IdempotencyPolicy::default()
            },
        ),
        venue_offset: config.venue_offset,
        doors_open_before: chrono::Duration::minutes(i64::from(config.doors_open_minutes)),
        tickets: adapters.tickets.clone(),
        door: DoorService::new(
            stores.bookings.clone(),
            stores.users.clone(),
            adapters.tickets.clone(),
            adapters.clock.clone(),
        ),
        rate_counter: stores.rate_counter.clone(),
        notifications: notification_service(config, stores, &adapters.clock),
        webhook_receivers: webhook_receivers(config),
        seat_feed: Arc::new(SeatFeed::new(
            EventService::new(stores.events.clone(), adapters.clock.clone()),
            stores.seat_signals.clone(),
            SeatFeedSettings {
                max_streams: config.max_seat_streams as usize,
                backlog: config.seat_stream_backlog as usize,
                heartbeat: seconds(config.seat_stream_heartbeat_secs),
                expiry_check: seconds(config.seat_map_check_secs),
                batch: std::time::Duration::from_millis(u64::from(config.seat_stream_batch_ms)),
                ..SeatFeedSettings::default()
            },
        )),
    })
}

fn notification_service(
    config: &Config,
    stores: &Stores,
    clock: &Arc<dyn Clock>,
) -> Arc<NotificationService> {
    let buyer_emails = config.mail.is_some();
    if buyer_emails {
        stores.notifications.email_buyers();
    }
    Arc::new(NotificationService::new(
        stores.notifications.clone(),
        clock.clone(),
        RetryPolicy::default(),
        buyer_emails,
    ))
}

fn webhook_receivers(config: &Config) -> Receivers {
    if config.webhook_allow_private {
        Receivers::AnyAddress
    } else {
        Receivers::PublicOnly
    }
}

/// This process's sender of notifications: webhooks, and e-mail to buyers when `SMTP_URL` is
/// set (run it with `NotificationDelivery::run`).
pub fn notification_delivery(
    config: &Config,
    stores: &Stores,
    adapters: &Adapters,
    services: &Services,
) -> Result<Arc<NotificationDelivery>, String> {
    Ok(Arc::new(NotificationDelivery::new(
        services.notifications.clone(),
        stores.bookings.clone(),
        stores.events.clone(),
        adapters.clock.clone(),
        adapters.tickets.clone(),
        config.venue_offset,
        config.public_base_url.as_deref(),
        services.webhook_receivers,
        buyer_mail(config, stores, adapters)?,
    )))
}

/// What e-mailing buyers needs, when `SMTP_URL` is set.
fn buyer_mail(
    config: &Config,
    stores: &Stores,
    adapters: &Adapters,
) -> Result<Option<BuyerMail>, String> {
    let Some(mail) = &config.mail else {
        return Ok(None);
    };
    let mailer = Mailer::new(
        &mail.smtp_url,
        &mail.from,
        config.default_language,
        config.venue_offset,
        chrono::Duration::minutes(i64::from(config.doors_open_minutes)),
        adapters.tickets.clone(),
    )?;
    Ok(Some(BuyerMail {
        mailer,
        users: stores.users.clone(),
    }))
}

fn seconds(count: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(count))
}

pub fn http_settings(config: &Config) -> HttpSettings {
    let minutes = |count: u64| std::time::Duration::from_secs(count * 60);
    let per = |max: u32, window: std::time::Duration| RateLimit { max, per: window };
    HttpSettings {
        cors_origins: match &config.cors_origins {
            CorsOrigins::Any => None,
            CorsOrigins::List(origins) => Some(origins.clone()),
        },
        default_language: config.default_language,
        limits: Limits {
            password_attempts_per_address: per(config.login_attempts_per_address, minutes(1)),
            login_failures_per_account_and_address: per(
                config.login_failures_per_account_and_address,
                minutes(15),
            ),
            login_failures_per_account: per(config.login_failures_per_account, minutes(15)),
            password_changes_per_account: per(config.password_changes_per_account, minutes(60)),
            registrations_per_address: per(config.registrations_per_address, minutes(60)),
            profile_changes_per_customer: per(config.profile_changes_per_customer, minutes(60)),
            bookings_per_customer: per(config.bookings_per_customer, minutes(1)),
            booking_lookup_failures_per_caller: per(
                config.booking_lookup_failures_per_caller,
                minutes(1),
            ),
            max_in_flight_requests: config.max_in_flight_requests as usize,
            trusted_proxies: config.trusted_proxies.clone(),
        },
        body: BodyReading {
            timeout: config.body_read_timeout,
            min_bytes_per_second: config.body_min_bytes_per_second,
            ..BodyReading::default()
        },
        public_base_url: config.public_base_url.clone(),
        metrics_with_api: config.metrics_address.is_none(),
    }
}

/// How the listener treats connections.
pub fn server_settings(config: &Config) -> ServerSettings {
    ServerSettings {
        header_read_timeout: config.header_read_timeout,
        http2_cleartext: config.http2_cleartext,
        http2_max_concurrent_streams: config.http2_max_concurrent_streams,
        http2_idle_timeout: config.http2_idle_timeout,
        max_connections_per_address: config.max_connections_per_address as usize,
        trusted_proxies: config.trusted_proxies.clone(),
        ..ServerSettings::default()
    }
}

/// Makes sure the admin of `ADMIN_EMAIL`/`ADMIN_PASSWORD` exists, when both are set: creates
/// it, or confirms an active admin. An account of that email that is not an active admin is
/// refused (anyone may have registered it first), with a message naming the command that takes
/// it over explicitly.
pub async fn ensure_configured_admin(
    config: &Config,
    services: &Services,
) -> Result<(), EnsureAdminError> {
    if let Some(credentials) = &config.admin {
        let outcome = services
            .users
            .ensure_admin(
                "Administrator",
                credentials.email.as_str(),
                credentials.password.expose(),
                ExistingAccount::Refuse,
            )
            .await?;
        match outcome {
            AdminSetUp::AlreadyAdmin(_) => tracing::info!("ADMIN_EMAIL: {outcome}"),
            AdminSetUp::Created(_) | AdminSetUp::TakenOver(_) => {
                tracing::warn!("ADMIN_EMAIL: {outcome}")
            }
        }
    }
    Ok(())
}
