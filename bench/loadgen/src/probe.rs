//! `probe`, `book-probe` and `create-event`: low-concurrency measurements for growth curves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::api::{Booking, Seat};
use crate::setup;
use crate::stats::{fmt_ms, round3, Stats};
use crate::Common;

#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    /// The path to request, e.g. /api/events/1/seats.
    #[arg(long)]
    pub path: String,
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// A JSON body to send.
    #[arg(long)]
    pub body: Option<String>,
    /// A bearer token to send.
    #[arg(long)]
    pub token: Option<String>,
    /// Log in as the admin (--admin-email/--admin-password) and send that token.
    #[arg(long)]
    pub as_admin: bool,
    /// Measured requests.
    #[arg(long, short = 'n', default_value_t = 200)]
    pub iterations: u64,
    /// Unmeasured requests first.
    #[arg(long, default_value_t = 10)]
    pub warmup: u64,
    /// Requests in flight at once.
    #[arg(long, short = 'c', default_value_t = 1)]
    pub concurrency: usize,
    /// Stop measuring after this many seconds whatever the count.
    #[arg(long, default_value_t = 120)]
    pub max_seconds: u64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BookProbeArgs {
    /// Book seats of this event; without it an event of --seats seats is created.
    #[arg(long)]
    pub event_id: Option<i64>,
    #[arg(long, default_value_t = 1000)]
    pub seats: u32,
    /// Sequential bookings, each cancelled right after (so the seat and the limit come back).
    #[arg(long, short = 'n', default_value_t = 300)]
    pub iterations: u64,
    /// Seats per booking.
    #[arg(long, default_value_t = 1)]
    pub seats_per_booking: usize,
    #[arg(long, default_value_t = 120)]
    pub max_seconds: u64,
    /// Read the seat map right after each booking: its cost when the map has just changed
    /// (every booking moves the map's version, so no stored copy of it can be served).
    #[arg(long)]
    pub read_map: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CreateEventArgs {
    #[arg(long, short = 's', default_value_t = 1000)]
    pub seats: u32,
    #[arg(long, default_value_t = 100)]
    pub seats_per_row: u32,
    #[arg(long, default_value_t = 150_000)]
    pub price: i64,
}

pub async fn probe(common: &Common, args: &ProbeArgs) -> Result<bool, String> {
    let api = common.api(args.concurrency + 2)?;
    let token = if args.as_admin {
        Some(setup::admin_token(&api, &common.admin_email, &common.admin_password).await?)
    } else {
        args.token.clone()
    };
    let method = Method::from_bytes(args.method.to_uppercase().as_bytes())
        .map_err(|_| format!("unknown method {}", args.method))?;
    let body: Option<Value> = match &args.body {
        Some(text) => Some(
            serde_json::from_str(text).map_err(|error| format!("--body is not JSON: {error}"))?,
        ),
        None => None,
    };
    for _ in 0..args.warmup {
        api.call(method.clone(), &args.path, token.as_deref(), body.as_ref())
            .await;
    }
    let left = Arc::new(AtomicU64::new(args.iterations));
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (api, method, token, body, left, path) = (
                api.clone(),
                method.clone(),
                token.clone(),
                body.clone(),
                Arc::clone(&left),
                args.path.clone(),
            );
            tokio::spawn(async move {
                let mut stats = Stats::default();
                let mut bytes = 0usize;
                while Instant::now() < deadline
                    && left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                {
                    let reply = api
                        .call(method.clone(), &path, token.as_deref(), body.as_ref())
                        .await;
                    bytes = reply.body.len();
                    stats.record("probe", &reply);
                }
                (stats, bytes)
            })
        })
        .collect();
    let mut stats = Stats::default();
    let mut body_bytes = 0;
    for worker in workers {
        if let Ok((one, bytes)) = worker.await {
            stats.merge(&one);
            body_bytes = body_bytes.max(bytes);
        }
    }
    let e = stats.get("probe").cloned().unwrap_or_default();
    let failed = stats.failed("probe").map_or(0, |f| f.count());
    println!(
        "probe [{}] {} {}: n={} c={} p50 {} p95 {} p99 {} max {} ms, {} 2xx, answer {} bytes",
        common.label,
        method,
        args.path,
        e.count(),
        args.concurrency,
        fmt_ms(e.ms(0.5)),
        fmt_ms(e.ms(0.95)),
        fmt_ms(e.ms(0.99)),
        fmt_ms(e.max_ms()),
        e.ok,
        body_bytes
    );
    let ok = failed == 0 && e.ok == e.count() && e.count() > 0;
    if !ok {
        eprintln!(
            "  *** {} of {} answers were not 2xx",
            failed + e.count() - e.ok,
            failed + e.count()
        );
    }
    common.write_json(json!({
        "scenario": "probe",
        "label": common.label,
        "base_url": api.base(),
        "method": method.as_str(),
        "path": args.path,
        "concurrency": args.concurrency,
        "answer_bytes": body_bytes,
        "count": e.count(),
        "p50_ms": round3(e.ms(0.5)),
        "p95_ms": round3(e.ms(0.95)),
        "p99_ms": round3(e.ms(0.99)),
        "max_ms": round3(e.max_ms()),
        "server_errors_5xx": stats.server_errors(),
        "errors": failed + e.count() - e.ok,
        "ok": ok,
    }))?;
    Ok(ok)
}

pub async fn book_probe(common: &Common, args: &BookProbeArgs) -> Result<bool, String> {
    let api = common.api(2)?;
    let event_id = match args.event_id {
        Some(id) => id,
        None => {
            let admin =
                setup::admin_token(&api, &common.admin_email, &common.admin_password).await?;
            setup::create_event(
                &api,
                &admin,
                &format!("Book probe {}", setup::run_tag()),
                args.seats,
                100,
                150_000,
            )
            .await?
            .id
        }
    };
    let customer = setup::register_customers(&api, &setup::run_tag(), 1, 1)
        .await?
        .pop()
        .ok_or("no customer")?;
    let reply = api
        .get(&format!("/api/events/{event_id}/seats"), None)
        .await;
    if !reply.ok() {
        return Err(format!(
            "seat map of event {event_id}: {}",
            reply.describe()
        ));
    }
    let free: Vec<i64> = reply
        .json::<Vec<Seat>>()?
        .into_iter()
        .filter(|seat| seat.status == "available")
        .map(|seat| seat.id)
        .collect();
    let per = args.seats_per_booking.max(1);
    if free.len() < per {
        return Err(format!(
            "event {event_id} has {} free seats, fewer than {per}",
            free.len()
        ));
    }
    let mut stats = Stats::default();
    let mut errors = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let start = Instant::now();
    let groups = free.len() / per;
    for i in 0..args.iterations {
        if Instant::now() >= deadline {
            break;
        }
        let first = (i as usize % groups) * per;
        let seat_ids = &free[first..first + per];
        let reply = api
            .post(
                "/api/bookings",
                Some(&customer.token),
                &json!({"event_id": event_id, "seat_ids": seat_ids, "quantity": per}),
            )
            .await;
        stats.record("book", &reply);
        if reply.status != 201 {
            errors.push(format!("book {seat_ids:?}: {}", reply.describe()));
            continue;
        }
        let booking: Booking = reply.json()?;
        if args.read_map {
            let reply = api
                .get(&format!("/api/events/{event_id}/seats"), None)
                .await;
            stats.record("seat_map_changed", &reply);
            if !reply.ok() {
                errors.push(format!("seat map: {}", reply.describe()));
            }
        }
        let reply = api
            .post(
                &format!("/api/bookings/{}/cancel", booking.booking_code),
                Some(&customer.token),
                &json!({}),
            )
            .await;
        stats.record("cancel", &reply);
        if !reply.ok() {
            errors.push(format!(
                "cancel {}: {}",
                booking.booking_code,
                reply.describe()
            ));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "book-probe [{}]: event {event_id}, sequential book + cancel of {per} seat(s)",
        common.label
    );
    print!("{}", stats.table(seconds));
    for error in errors.iter().take(5) {
        eprintln!("  error: {error}");
    }
    let book = stats.get("book").cloned().unwrap_or_default();
    let cancel = stats.get("cancel").cloned().unwrap_or_default();
    let ok = errors.is_empty();
    common.write_json(json!({
        "scenario": "book-probe",
        "label": common.label,
        "base_url": api.base(),
        "event_id": event_id,
        "count": book.count(),
        "book_p50_ms": round3(book.ms(0.5)),
        "book_p95_ms": round3(book.ms(0.95)),
        "book_p99_ms": round3(book.ms(0.99)),
        "book_max_ms": round3(book.max_ms()),
        "cancel_p50_ms": round3(cancel.ms(0.5)),
        "cancel_p99_ms": round3(cancel.ms(0.99)),
        "read_map": args.read_map,
        "server_errors_5xx": stats.server_errors(),
        "errors": errors.len(),
        "endpoints": stats.to_json(seconds),
        "ok": ok,
    }))?;
    Ok(ok)
}

/// Creates an event and prints its id alone on stdout (for scripts).
pub async fn create_event(common: &Common, args: &CreateEventArgs) -> Result<bool, String> {
    let api = common.api(1)?;
    let admin = setup::admin_token(&api, &common.admin_email, &common.admin_password).await?;
    let started = Instant::now();
    let event = setup::create_event(
        &api,
        &admin,
        &format!("Growth {} seats {}", args.seats, setup::run_tag()),
        args.seats,
        args.seats_per_row,
        args.price,
    )
    .await?;
    eprintln!(
        "created event {} with {} seats in {} ms",
        event.id,
        args.seats,
        fmt_ms(started.elapsed().as_secs_f64() * 1000.0)
    );
    println!("{}", event.id);
    Ok(true)
}
