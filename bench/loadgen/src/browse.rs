//! `browse`, `login-burst` and `health`: closed-loop readers for a fixed time. A request the
//! server sheds (the documented 503 with `Retry-After`, see [`crate::api::check_shed`]) is
//! counted as shed, not as an error (a reader sends it again after a short pause); any other 5xx
//! is an error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Semaphore;

use crate::api::{Api, CpuWindow};
use crate::setup;
use crate::stats::{fmt_ms, rate, round3, until_admitted, Stats};
use crate::Common;

#[derive(Debug, Clone, clap::Args)]
pub struct BrowseArgs {
    /// Concurrent readers.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub clients: usize,
    /// Seconds of reading.
    #[arg(long, short = 'd', default_value_t = 15)]
    pub duration: u64,
    /// Seats of the event created for reading (when no --event-id).
    #[arg(long, short = 's', default_value_t = 1000)]
    pub seats: u32,
    #[arg(long, default_value_t = 50)]
    pub seats_per_row: u32,
    /// Read this event instead of creating one.
    #[arg(long)]
    pub event_id: Option<i64>,
    /// Share of requests that read the seat map; the rest read the event list.
    #[arg(long, default_value_t = 0.5)]
    pub seat_share: f64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct LoginBurstArgs {
    #[command(flatten)]
    pub browse: BrowseArgs,
    /// Logins started per second during the second browse.
    #[arg(long, default_value_t = 20.0)]
    pub login_rate: f64,
    /// Accounts the logins rotate over (registered first).
    #[arg(long, default_value_t = 8)]
    pub login_users: usize,
    /// Logins in flight at most; a login due while this many wait is skipped and counted.
    #[arg(long, default_value_t = 256)]
    pub max_inflight_logins: usize,
}

#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    #[arg(long, short = 'c', default_value_t = 64)]
    pub clients: usize,
    #[arg(long, short = 'd', default_value_t = 10)]
    pub duration: u64,
}

/// The event to read: the one asked for, or a new one of `seats` seats.
async fn event_to_read(common: &Common, api: &Api, args: &BrowseArgs) -> Result<i64, String> {
    if let Some(id) = args.event_id {
        return Ok(id);
    }
    let admin = setup::admin_token(api, &common.admin_email, &common.admin_password).await?;
    let event = setup::create_event(
        api,
        &admin,
        &format!("Browse bench {}", setup::run_tag()),
        args.seats,
        args.seats_per_row,
        150_000,
    )
    .await?;
    Ok(event.id)
}

/// C readers for `duration`: each alternates the event list and the seat map in the given share,
/// sending a shed read again after a short pause.
async fn read_for(
    api: &Api,
    event_id: i64,
    clients: usize,
    duration: Duration,
    seat_share: f64,
) -> (Stats, f64) {
    let start = Instant::now();
    let deadline = start + duration;
    let seats_path = Arc::new(format!("/api/events/{event_id}/seats"));
    let readers: Vec<_> = (0..clients)
        .map(|client| {
            let api = api.clone();
            let seats_path = Arc::clone(&seats_path);
            tokio::spawn(async move {
                let mut stats = Stats::default();
                // A fixed pattern per reader, offset so that readers start on different endpoints:
                // request n reads seats when floor((n+1)·share) moves.
                let mut n = client as u64;
                let cap = 10_000_000u64;
                while Instant::now() < deadline && n < cap + client as u64 {
                    let seats_now =
                        ((n + 1) as f64 * seat_share).floor() > (n as f64 * seat_share).floor();
                    n += 1;
                    let (name, path) = if seats_now {
                        ("seat_map", seats_path.as_str())
                    } else {
                        ("event_list", "/api/events")
                    };
                    until_admitted(&mut stats, name, deadline, || api.get(path, None)).await;
                }
                stats
            })
        })
        .collect();
    (Stats::gather(readers).await, start.elapsed().as_secs_f64())
}

pub async fn browse(common: &Common, args: &BrowseArgs) -> Result<bool, String> {
    let api = common.api(args.clients + 4)?;
    let event_id = event_to_read(common, &api, args).await?;
    println!(
        "browse [{}]: {} readers for {} s, event {event_id} ({} seats unless given), seat-map share {}",
        common.label, args.clients, args.duration, args.seats, args.seat_share
    );
    let cpu = CpuWindow::start(common.server_pid.as_deref());
    let (stats, seconds) = read_for(
        &api,
        event_id,
        args.clients,
        Duration::from_secs(args.duration),
        args.seat_share,
    )
    .await;
    let (loadgen_cpu, server_cpu) = cpu.end();
    print!("{}", stats.table(seconds));
    println!("  {}", crate::cpu_line(loadgen_cpu, server_cpu, seconds));
    let ok =
        stats.server_errors() == 0 && stats.transport_errors() == 0 && stats.client_errors() == 0;
    println!(
        "  total {:.1} req/s, {} shed with 503 and sent again{}",
        rate(stats.total(), seconds),
        stats.shed_total(),
        if ok { "" } else { "  *** ERRORS" }
    );
    let seat_map = stats.get("seat_map").cloned().unwrap_or_default();
    common.write_json(json!({
        "scenario": "browse",
        "label": common.label,
        "seat_share": args.seat_share,
        "base_url": api.base(),
        "clients": args.clients,
        "seats": args.seats,
        "event_id": event_id,
        "elapsed_s": round3(seconds),
        "total_rps": rate(stats.total(), seconds),
        "seat_map_rps": rate(seat_map.count(), seconds),
        "seat_map_p99_ms": round3(seat_map.ms(0.99)),
        "shed_503": stats.shed_total(),
        "server_errors_5xx": stats.server_errors(),
        "errors": stats.transport_errors() + stats.client_errors(),
        "endpoints": stats.to_json(seconds),
        "loadgen_cpu_s": loadgen_cpu.map(round3),
        "server_cpu_s": server_cpu.map(round3),
        "ok": ok,
    }))?;
    Ok(ok)
}

pub async fn login_burst(common: &Common, args: &LoginBurstArgs) -> Result<bool, String> {
    let browse = &args.browse;
    let api = common.api(browse.clients + args.max_inflight_logins + 4)?;
    let event_id = event_to_read(common, &api, browse).await?;
    let tag = setup::run_tag();
    let registered = Instant::now();
    let users = setup::register_customers(&api, &tag, args.login_users.max(1), 2).await?;
    println!(
        "login-burst [{}]: {} readers, {} s alone then {} s with {}/s logins over {} accounts (registered in {:.1} s)",
        common.label,
        browse.clients,
        browse.duration,
        browse.duration,
        args.login_rate,
        users.len(),
        registered.elapsed().as_secs_f64()
    );
    let duration = Duration::from_secs(browse.duration);

    let (alone, alone_s) =
        read_for(&api, event_id, browse.clients, duration, browse.seat_share).await;
    println!("  browse alone:");
    print!("{}", alone.table(alone_s));

    // The login stream: an open loop, one login every 1/rate seconds, for the browse's time.
    let emails: Arc<Vec<String>> = Arc::new(users.iter().map(|user| user.email.clone()).collect());
    let skipped = Arc::new(AtomicU64::new(0));
    let inflight = Arc::new(Semaphore::new(args.max_inflight_logins.max(1)));
    let cpu = CpuWindow::start(common.server_pid.as_deref());
    let stream = {
        let (api, emails, skipped, inflight) = (
            api.clone(),
            Arc::clone(&emails),
            Arc::clone(&skipped),
            Arc::clone(&inflight),
        );
        let every = Duration::from_secs_f64(1.0 / args.login_rate.max(0.01));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let end = Instant::now() + duration;
            let mut logins = Vec::new();
            let mut n = 0usize;
            while Instant::now() < end {
                tick.tick().await;
                let Ok(permit) = Arc::clone(&inflight).try_acquire_owned() else {
                    skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let (api, email) = (api.clone(), emails[n % emails.len()].clone());
                n += 1;
                logins.push(tokio::spawn(async move {
                    let _permit = permit;
                    api.post(
                        "/api/users/login",
                        None,
                        &json!({"email": email, "password": setup::CUSTOMER_PASSWORD}),
                    )
                    .await
                }));
            }
            let mut stats = Stats::default();
            for login in logins {
                if let Ok(reply) = login.await {
                    stats.record("login", &reply);
                }
            }
            stats
        })
    };
    let stream_started = Instant::now();
    let (burst, burst_s) =
        read_for(&api, event_id, browse.clients, duration, browse.seat_share).await;
    let (loadgen_cpu, server_cpu) = cpu.end();
    // Logins still queued at the server finish (or time out) before the figures are taken.
    let logins = stream
        .await
        .map_err(|error| format!("the login stream failed: {error}"))?;
    let logins_done_s = stream_started.elapsed().as_secs_f64();
    let skipped = skipped.load(Ordering::Relaxed);
    println!("  browse with the login stream:");
    let mut shown = burst.clone();
    shown.merge(&logins);
    print!("{}", shown.table(burst_s));
    println!("  {}", crate::cpu_line(loadgen_cpu, server_cpu, burst_s));

    let p99 = |stats: &Stats, name: &str| stats.get(name).map_or(0.0, |e| e.ms(0.99));
    let all_p99 = |stats: &Stats| {
        let mut all = crate::stats::Endpoint::default();
        for endpoint in stats.endpoints.values() {
            all.merge(endpoint);
        }
        all.ms(0.99)
    };
    let (without, with) = (all_p99(&alone), all_p99(&burst));
    let ratio = if without > 0.0 { with / without } else { 0.0 };
    let login = logins.get("login").cloned().unwrap_or_default();
    let login_failed = logins.failed("login").cloned().unwrap_or_default();
    // Logins past MAX_PASSWORD_CHECKS_IN_FLIGHT are refused at once with the documented 503: the
    // server protecting the browsing, not an error. Not sent again: the stream is open-loop.
    let login_shed = logins.shed("login").cloned().unwrap_or_default();
    let started = login.count() + login_failed.count() + login_shed.count();
    println!(
        "  browse p99 {} ms alone, {} ms with logins: {:.2}×",
        fmt_ms(without),
        fmt_ms(with),
        ratio,
    );
    println!(
        "  logins: {} ok of {} started in {:.1} s ({:.1} ok/s until the last answered; {} shed with 503 and Retry-After in p99 {} ms; {} timed out after {} s, {} other 5xx; {} not started: {} in flight), login p50 {} p99 {} ms (answered ones)",
        login.ok,
        started,
        burst_s,
        rate(login.ok, logins_done_s),
        login_shed.shed,
        fmt_ms(login_shed.ms(0.99)),
        login_failed.transport_error,
        common.timeout_secs,
        login_failed.server_error,
        skipped,
        args.max_inflight_logins,
        fmt_ms(login.ms(0.5)),
        fmt_ms(login.ms(0.99)),
    );
    // A login that waits past the client's timeout is a finding (logins arrive faster than
    // bcrypt can serve them), not a broken server, and so is the documented 503 of a login shed;
    // any other 5xx or a wrong answer is.
    let errors = alone.transport_errors()
        + alone.client_errors()
        + burst.transport_errors()
        + burst.client_errors()
        + login_failed.client_error;
    let server_errors = alone.server_errors() + burst.server_errors() + login_failed.server_error;
    let ok = errors == 0 && server_errors == 0;
    common.write_json(json!({
        "scenario": "login-burst",
        "label": common.label,
        "base_url": api.base(),
        "clients": browse.clients,
        "login_rate": args.login_rate,
        "event_id": event_id,
        "browse_p99_ms_without": round3(without),
        "browse_p99_ms_with": round3(with),
        "seat_map_p99_ms_without": round3(p99(&alone, "seat_map")),
        "seat_map_p99_ms_with": round3(p99(&burst, "seat_map")),
        "browse_rps_without": rate(alone.total(), alone_s),
        "browse_rps_with": rate(burst.total(), burst_s),
        "p99_ratio": round3(ratio),
        "logins_started": started,
        "logins_ok": login.ok,
        "logins_shed_503": login_shed.shed,
        "login_shed_p99_ms": round3(login_shed.ms(0.99)),
        "browse_shed_503": alone.shed_total() + burst.shed_total(),
        "logins_skipped": skipped,
        "logins_timed_out": login_failed.transport_error,
        "logins_5xx": login_failed.server_error,
        "logins_ok_per_s": rate(login.ok, logins_done_s),
        "login_p50_ms": round3(login.ms(0.5)),
        "login_p99_ms": round3(login.ms(0.99)),
        "server_errors_5xx": server_errors,
        "errors": errors,
        "without": alone.to_json(alone_s),
        "with": shown.to_json(burst_s),
        "loadgen_cpu_s_with": loadgen_cpu.map(round3),
        "server_cpu_s_with": server_cpu.map(round3),
        "ok": ok,
    }))?;
    Ok(ok)
}

pub async fn health(common: &Common, args: &HealthArgs) -> Result<bool, String> {
    let api = common.api(args.clients + 4)?;
    println!(
        "health [{}]: {} clients for {} s on GET /health",
        common.label, args.clients, args.duration
    );
    let cpu = CpuWindow::start(common.server_pid.as_deref());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.duration);
    let clients: Vec<_> = (0..args.clients)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move {
                let mut stats = Stats::default();
                let mut left = 100_000_000u64;
                while Instant::now() < deadline && left > 0 {
                    left -= 1;
                    let reply = api.get("/health", None).await;
                    stats.record("health", &reply);
                }
                stats
            })
        })
        .collect();
    let stats = Stats::gather(clients).await;
    let seconds = start.elapsed().as_secs_f64();
    let (loadgen_cpu, server_cpu) = cpu.end();
    print!("{}", stats.table(seconds));
    println!("  {}", crate::cpu_line(loadgen_cpu, server_cpu, seconds));
    let health = stats.get("health").cloned().unwrap_or_default();
    let ok =
        stats.server_errors() == 0 && stats.transport_errors() == 0 && stats.client_errors() == 0;
    common.write_json(json!({
        "scenario": "health",
        "label": common.label,
        "base_url": api.base(),
        "clients": args.clients,
        "elapsed_s": round3(seconds),
        "rps": rate(health.count(), seconds),
        "p99_ms": round3(health.ms(0.99)),
        "server_errors_5xx": stats.server_errors(),
        "errors": stats.transport_errors() + stats.client_errors(),
        "endpoints": stats.to_json(seconds),
        "loadgen_cpu_s": loadgen_cpu.map(round3),
        "server_cpu_s": server_cpu.map(round3),
        "ok": ok,
    }))?;
    Ok(ok)
}
