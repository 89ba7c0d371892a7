//! `wartawa`: the ticketing server and its administrative commands.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use application::users::ExistingAccount;
use bootstrap::config::Config;
use bootstrap::wiring::{
    ensure_configured_admin, http_settings, server_settings, services, Adapters, Stores,
};

const USAGE: &str = "\
usage: wartawa [COMMAND]

commands:
  serve                 run the HTTP API (the default)
  create-admin          create an admin: --email E --password P [--name N]
                        (or ADMIN_EMAIL / ADMIN_PASSWORD); needs DATABASE_URL. An account of
                        that email that is not an admin is refused, unless --promote-existing
                        is given: it then becomes an admin with the password P, and its
                        earlier sessions end
  migrate               apply the database migrations to DATABASE_URL, then exit
  openapi               print the OpenAPI document (for generating frontend clients)
  help                  show this text

Configuration comes from the environment and from a .env file; see README.md.";

/// How often lapsed holds are swept, on top of the expiry done on every read.
const EXPIRY_SWEEP_EVERY: Duration = Duration::from_secs(15);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str).unwrap_or("serve");
    if matches!(command, "help" | "--help" | "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    init_logging();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("wartawa: configuration error: {error}");
            return ExitCode::from(2);
        }
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
        "serve" => runtime.block_on(serve(config)),
        "openapi" => runtime.block_on(print_openapi(config)),
        "create-admin" => runtime.block_on(create_admin(config, &args[1..])),
        "migrate" => runtime.block_on(migrate(config)),
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wartawa: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
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
    let sweeper = tokio::spawn(sweep_lapsed_holds(Arc::clone(&services)));
    let app = adapters::http::app(Arc::clone(&services), &http_settings(&config));
    tracing::info!(%address, store = store_name(&config), "WarTawa listening; API docs at /docs");
    let seat_feed = Arc::clone(&services.seat_feed);
    let shutdown = async move {
        shutdown_signal().await;
        // Live seat maps never end by themselves: end them, so that shutdown need not wait.
        seat_feed.close();
    };
    let result = adapters::http::server::serve(listener, app, server_settings(&config), shutdown)
        .await
        .map_err(|error| format!("cannot serve on {address}: {error}"));
    sweeper.abort();
    tracing::info!("WarTawa stopped");
    result
}

/// Frees the seats of lapsed holds even when nobody reads the event, and forgets idempotency
/// keys past their 24 hours (which are ignored anyway, so this only keeps the store small).
async fn sweep_lapsed_holds(services: Arc<adapters::http::Services>) {
    let mut ticks = tokio::time::interval(EXPIRY_SWEEP_EVERY);
    loop {
        ticks.tick().await;
        match services.bookings.expire_lapsed().await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "lapsed holds expired"),
            Err(error) => tracing::warn!(error = %error, "expiring lapsed holds failed"),
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
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn migrate(config: Config) -> Result<(), String> {
    let url = config
        .database_url
        .as_deref()
        .ok_or("migrate needs DATABASE_URL (or DB_URL)")?;
    adapters::postgres::open(&bootstrap::wiring::postgres_settings(&config, url))
        .await
        .map_err(|error| error.to_string())?;
    println!("the database schema is up to date");
    Ok(())
}

async fn print_openapi(config: Config) -> Result<(), String> {
    let stores = Stores::in_memory();
    // The document depends on no secret: placeholders keep start-up from warning of them.
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

async fn create_admin(config: Config, args: &[String]) -> Result<(), String> {
    let flag = |name: &str| {
        args.iter()
            .position(|arg| arg == name)
            .and_then(|index| args.get(index + 1))
            .cloned()
    };
    let configured = config.admin.as_ref();
    let email = flag("--email")
        .or_else(|| configured.map(|admin| admin.email.as_str().to_string()))
        .ok_or("create-admin needs --email (or ADMIN_EMAIL)")?;
    let password = flag("--password")
        .or_else(|| configured.map(|admin| admin.password.expose().to_string()))
        .ok_or("create-admin needs --password (or ADMIN_PASSWORD)")?;
    let name = flag("--name").unwrap_or_else(|| "Administrator".to_string());
    let existing = if args.iter().any(|arg| arg == "--promote-existing") {
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
        .ensure_admin(&name, &email, &password, existing)
        .await
        .map_err(|error| error.to_string())?;
    println!("{outcome}");
    Ok(())
}
