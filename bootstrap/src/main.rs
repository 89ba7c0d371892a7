//! `wartawa`: the ticketing server and its administrative commands.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use application::users::ExistingAccount;
use bootstrap::config::{one_line, Config};
use bootstrap::settings::{Cli, Command, Settings};
use bootstrap::wiring::{
    ensure_configured_admin, http_settings, notification_delivery, server_settings, services,
    Adapters, Stores,
};
use clap::error::ErrorKind;
use clap::Parser;

/// How often lapsed holds are given back, show by show. Reads of one show give back its own
/// lapsed holds first; lists (and the replica's reads) wait for this sweep, so it runs often:
/// one indexed probe when nothing lapsed.
const EXPIRY_SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Every how many sweeps the gauges are sampled and expired idempotency keys forgotten.
const SAMPLE_EVERY_SWEEPS: u64 = 15;
/// Every how many sweeps ended throttle windows and old deliveries are forgotten.
const FORGET_EVERY_SWEEPS: u64 = 300;

fn main() -> ExitCode {
    // Before any thread starts: `.env`, blanks, `DB_URL`.
    let unrecognised = match bootstrap::config::prepare_environment() {
        Ok(warnings) => warnings,
        Err(error) => {
            eprintln!("wartawa: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    let command = match command_line() {
        Ok(command) => command,
        Err(exit) => return exit,
    };
    if let Err(error) = init_logging() {
        eprintln!("wartawa: configuration error: {error}");
        return ExitCode::from(2);
    }
    for warning in unrecognised {
        tracing::warn!("{warning}");
    }
    let config = |settings: Settings| {
        Config::from_settings(settings).map_err(|error| format!("configuration error: {error}"))
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wartawa: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match command {
        Command::Serve(settings) => {
            config(settings).and_then(|config| runtime.block_on(serve(config)))
        }
        Command::Migrate(settings) => {
            config(settings).and_then(|config| runtime.block_on(migrate(config)))
        }
        Command::CreateAdmin(create) => {
            let account = AdminAccount {
                email: create.email,
                password: create.password,
                name: create.name,
                promote_existing: create.promote_existing,
            };
            config(create.settings)
                .and_then(|config| runtime.block_on(create_admin(config, account)))
        }
        Command::Openapi => runtime.block_on(print_openapi()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wartawa: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The command to run; without one, `serve`. `--help`, `--version` and a bad flag end here,
/// with clap's own words; a bad value in one line that names its variable and never repeats a
/// secret.
fn command_line() -> Result<Command, ExitCode> {
    let parsed = Cli::try_parse().and_then(|cli| match cli.command {
        Some(command) => Ok(command),
        None => Cli::try_parse_from(["wartawa", "serve"])
            .map(|cli| cli.command.expect("`serve` was given")),
    });
    parsed.map_err(|error| {
        if matches!(
            error.kind(),
            ErrorKind::InvalidValue | ErrorKind::ValueValidation
        ) {
            eprintln!("wartawa: configuration error: {}", one_line(&error));
            ExitCode::from(2)
        } else {
            error.exit()
        }
    })
}

/// Logs to standard output: JSON lines, or text for a person at a terminal. `LOG_FORMAT`
/// (`json` or `text`) chooses; unset, JSON unless standard output is a terminal. Colours only
/// on a terminal. `RUST_LOG` filters (default `info`).
fn init_logging() -> Result<(), String> {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stdout().is_terminal();
    let json = match std::env::var("LOG_FORMAT").ok().as_deref().map(str::trim) {
        None | Some("") => !terminal,
        Some("json") => true,
        Some("text") => false,
        Some(other) => return Err(format!("LOG_FORMAT must be json or text, not \"{other}\"")),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(terminal);
    if json {
        logs.json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.init();
    }
    Ok(())
}

/// The store the configuration asks for, as a start-up error line when it cannot be opened.
async fn stores(config: &Config) -> Result<Stores, String> {
    Stores::from_config(config)
        .await
        .map_err(|error| error.to_string())
}

fn store_name(config: &Config) -> &'static str {
    if config.database_url.is_some() {
        "PostgreSQL"
    } else {
        "embedded (in memory)"
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let stores = stores(&config).await?;
    let adapters = Adapters::from_config(&config)?;
    let services = services(&config, &stores, &adapters);
    ensure_configured_admin(&config, &services)
        .await
        .map_err(|error| format!("cannot set up the admin of ADMIN_EMAIL: {error}"))?;

    let address = config.listen_address();
    let listener = adapters::http::server::bind(&address)
        .await
        .map_err(|error| format!("cannot listen on {address}: {error}"))?;
    let metrics_listener = match &config.metrics_address {
        Some(metrics_address) => Some(
            adapters::http::server::bind(metrics_address)
                .await
                .map_err(|error| {
                    format!("cannot listen on {metrics_address} (METRICS_ADDR): {error}")
                })?,
        ),
        None => None,
    };
    adapters::metrics::handle();
    let notifications = notification_delivery(&config, &stores, &adapters, &services)?;
    if config.mail.is_none() {
        tracing::info!("buyers are not e-mailed: SMTP_URL is not set");
    }
    let notifier = tokio::spawn(notifications.run());
    let sweeper = tokio::spawn(sweep_lapsed_holds(
        Arc::clone(&services),
        stores.database.clone(),
    ));
    if let Some(metrics_listener) = metrics_listener {
        let metrics_address = config.metrics_address.clone().unwrap_or_default();
        tracing::info!(address = %metrics_address, "metrics at /metrics");
        tokio::spawn(async move {
            let settings = adapters::http::server::ServerSettings::default();
            let served = adapters::http::server::serve(
                metrics_listener,
                adapters::http::metrics_app(),
                settings,
                std::future::pending(),
            )
            .await;
            if let Err(error) = served {
                tracing::error!(%error, "the metrics listener stopped");
            }
        });
    }
    let app = adapters::http::app(Arc::clone(&services), &http_settings(&config));
    tracing::info!(%address, store = store_name(&config), "WarTawa listening; API docs at /docs");
    let draining = Arc::clone(&services);
    let drain = config.drain;
    let shutdown = async move {
        adapters::http::server::drain_then_stop(
            shutdown_signal(),
            &draining.readiness,
            drain,
            shutdown_signal(),
        )
        .await;
        // Live seat maps never end by themselves: end them, so that shutdown need not wait.
        draining.seat_feed.close();
    };
    let result = adapters::http::server::serve(listener, app, server_settings(&config), shutdown)
        .await
        .map_err(|error| format!("cannot serve on {address}: {error}"));
    sweeper.abort();
    notifier.abort();
    tracing::info!("WarTawa stopped");
    result
}

/// Frees the seats of lapsed holds even when nobody reads the event, and forgets idempotency
/// keys past their 24 hours (which are ignored anyway, so this only keeps the store small).
/// Samples the metrics that are states rather than events: holds pending, the database pool.
async fn sweep_lapsed_holds(
    services: Arc<adapters::http::Services>,
    database: Option<sqlx::PgPool>,
) {
    use adapters::metrics as names;
    let mut ticks = tokio::time::interval(EXPIRY_SWEEP_EVERY);
    for tick in 0u64.. {
        ticks.tick().await;
        // The throttles' longest window is an hour: windows that started two hours ago have
        // ended, and are forgotten every few minutes.
        if tick % FORGET_EVERY_SWEEPS == 0 {
            if let Err(error) = services
                .rate_counter
                .forget_ended(Duration::from_secs(2 * 3600))
                .await
            {
                tracing::warn!(error = %error, "forgetting ended throttle windows failed");
            }
            if let Err(error) = services.notifications.forget_delivered().await {
                tracing::warn!(error = %error, "forgetting old delivered notifications failed");
            }
        }
        match services.bookings.expire_lapsed().await {
            Ok(0) => {}
            Ok(expired) => {
                metrics::counter!(names::HOLDS_EXPIRED).increment(expired);
                tracing::info!(expired, "lapsed holds expired")
            }
            Err(error) => tracing::warn!(error = %error, "expiring lapsed holds failed"),
        }
        if tick % SAMPLE_EVERY_SWEEPS != 0 {
            continue;
        }
        match services.dashboard.pending_holds().await {
            Ok(pending) => metrics::gauge!(names::HOLDS_PENDING).set(pending as f64),
            Err(error) => tracing::warn!(error = %error, "counting pending holds failed"),
        }
        if let Some(pool) = &database {
            metrics::gauge!(names::DATABASE_CONNECTIONS).set(f64::from(pool.size()));
            metrics::gauge!(names::DATABASE_CONNECTIONS_IDLE).set(pool.num_idle() as f64);
            metrics::gauge!(names::DATABASE_CONNECTIONS_MAX)
                .set(f64::from(pool.options().get_max_connections()));
        }
        if let Err(error) = services.idempotency.purge_expired().await {
            tracing::warn!(error = %error, "forgetting expired idempotency keys failed");
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("stop signal received");
}

async fn migrate(config: Config) -> Result<(), String> {
    let url = config
        .database_url
        .as_deref()
        .ok_or("migrate needs DATABASE_URL (or DB_URL)")?;
    // Not through a transaction pooler: the migrations hold a session's advisory lock.
    let direct_url = config.database_direct_url.as_deref().unwrap_or(url);
    adapters::postgres::open(&bootstrap::wiring::direct_settings(&config, direct_url))
        .await
        .map_err(|error| error.to_string())?;
    println!("the database schema is up to date");
    Ok(())
}

async fn print_openapi() -> Result<(), String> {
    // The document depends on no setting: the defaults, and placeholders for the secrets so
    // that nothing warns of them.
    let config = Config::from_lookup(|_| None).map_err(|error| error.to_string())?;
    let stores = Stores::in_memory();
    let adapters = Adapters::from_config(&Config {
        jwt_secret: Some(vec![0; 32]),
        ticket_signing_key: Some(bootstrap::config::TicketSigningKey([0; 32])),
        ..config.clone()
    })?;
    println!(
        "{}",
        adapters::http::openapi_document(services(&config, &stores, &adapters))
    );
    Ok(())
}

/// The account `create-admin` is asked for; email and password default to the settings'.
struct AdminAccount {
    email: Option<String>,
    password: Option<String>,
    name: String,
    promote_existing: bool,
}

async fn create_admin(config: Config, account: AdminAccount) -> Result<(), String> {
    let configured = config.admin.as_ref();
    let email = account
        .email
        .or_else(|| configured.map(|admin| admin.email.as_str().to_string()))
        .ok_or("create-admin needs --email (or ADMIN_EMAIL)")?;
    let password = account
        .password
        .or_else(|| configured.map(|admin| admin.password.expose().to_string()))
        .ok_or("create-admin needs --password (or ADMIN_PASSWORD)")?;
    let existing = if account.promote_existing {
        ExistingAccount::TakeOver
    } else {
        ExistingAccount::Refuse
    };
    if config.database_url.is_none() {
        return Err(
            "the embedded store keeps nothing after this command ends; set DATABASE_URL, or start \
                    the server with ADMIN_EMAIL and ADMIN_PASSWORD instead"
                .to_string(),
        );
    }
    let stores = stores(&config).await?;
    let adapters = Adapters::from_config(&config)?;
    let services = services(&config, &stores, &adapters);
    let outcome = services
        .users
        .ensure_admin(&account.name, &email, &password, existing)
        .await
        .map_err(|error| error.to_string())?;
    println!("{outcome}");
    Ok(())
}
