//! `onsale`: the rush when a show goes on sale. C buyers read the seat map, pick 1–3 free seats,
//! book and pay, and start over with a fresh map on a 409, until the show is sold out. Then the
//! books are checked against what the buyers were told. A request the server sheds (the documented
//! 503 with `Retry-After`) is counted and sent again after a short pause, as a client would; any
//! other 5xx fails the run.
//!
//! With `--listeners N`, N live seat-map streams (`GET …/seats/stream`) are opened on each sale's
//! event before it starts, each waited for until it has its snapshot; every seat change they
//! receive is set beside the buyer's answer that made it (the booking's 201: held; the payment's
//! 200: sold), and after the sale each stream's map must equal `GET …/seats`, its versions
//! chained. With `--pick-from-stream`, each buyer keeps a stream of its own and picks from the
//! map it holds, never reading `GET …/seats`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::{watch, Notify};

use crate::api::{Api, Booking, CpuWindow, PaymentAnswer, SeatRef};
use crate::books::{dashboard, is_seat_race, verify, Paid};
use crate::live::{self, Answers, Delivery, Listener, LiveMap, SeatIndex};
use crate::setup::{self, Customer};
use crate::stats::{fmt_ms, rate, round3, until_admitted, Stats};
use crate::Common;

#[derive(Debug, Clone, clap::Args)]
pub struct OnsaleArgs {
    /// Concurrent buyers.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub clients: usize,
    /// Seats of the event put on sale.
    #[arg(long, short = 's', default_value_t = 1000)]
    pub seats: u32,
    #[arg(long, default_value_t = 50)]
    pub seats_per_row: u32,
    /// Customers to register; default: enough for the per-user limit (seats / limit + clients).
    #[arg(long)]
    pub customers: Option<usize>,
    /// The server's MAX_TICKETS_PER_USER (0 = no limit); the buyers keep within it.
    #[arg(long, default_value_t = 3)]
    pub max_tickets_per_user: u32,
    /// Most seats one booking takes (1 to this many, at random).
    #[arg(long, default_value_t = 3)]
    pub max_seats_per_booking: usize,
    /// Ticket price in rupiah.
    #[arg(long, default_value_t = 150_000)]
    pub price: i64,
    /// Sales in a row, each of a fresh event (the same customers buy again): one sale of 1000
    /// seats is over in a fraction of a second on the memory store, too short to measure alone.
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// Stop buying after this many seconds even if seats are left.
    #[arg(long, default_value_t = 180)]
    pub time_cap: u64,
    /// Registrations (and logins) in flight at once during set-up.
    #[arg(long, default_value_t = 8)]
    pub register_concurrency: usize,
    /// Live seat-map streams opened on each sale's event before it starts (each with its
    /// snapshot), read until every one holds the final map: delivery latency, changes delivered,
    /// the server's memory per stream.
    #[arg(long, default_value_t = 0)]
    pub listeners: usize,
    /// Each buyer keeps a live stream of the map open and picks from it, never reading
    /// `GET …/seats`; a 409's taken seats are left alone after it.
    #[arg(long)]
    pub pick_from_stream: bool,
    /// Streams being opened at once.
    #[arg(long, default_value_t = 32)]
    pub open_concurrency: usize,
    /// Seconds every stream is given, after the last buyer stopped, to hold the final map.
    #[arg(long, default_value_t = 30)]
    pub catch_up_secs: u64,
}

struct Shared {
    api: Api,
    event_id: i64,
    phase_id: i64,
    customers: Arc<Vec<Customer>>,
    next_customer: AtomicUsize,
    limit: u32,
    max_per_booking: usize,
    deadline: Instant,
    attempts_left: AtomicU64,
    sold_out: AtomicBool,
    start: Instant,
    /// Microseconds after `start` of the last successful payment.
    last_paid_us: AtomicU64,
    /// When each booking's and payment's answer arrived, per seat (live streams only).
    answers: Option<Arc<Answers>>,
}

/// A buyer's own live map (`--pick-from-stream`).
struct BuyerStream {
    map: Arc<Mutex<LiveMap>>,
    changed: Arc<Notify>,
    index: Arc<SeatIndex>,
}

#[derive(Default)]
struct BuyerOutcome {
    stats: Stats,
    paid: Vec<Paid>,
    /// Failures that are not a 409 race: a line each.
    errors: Vec<String>,
    /// Bookings made (201) but whose payment failed.
    unpaid: Vec<String>,
    seat_conflicts: u64,
    other_conflicts: u64,
    stopped_by: &'static str,
}

pub async fn run(common: &Common, args: &OnsaleArgs) -> Result<bool, String> {
    let api = common.api(args.clients + 8)?;
    let admin = setup::admin_token(&api, &common.admin_email, &common.admin_password).await?;
    let limit = args.max_tickets_per_user;
    let customers_needed = args.customers.unwrap_or(if limit == 0 {
        args.clients
    } else {
        (args.seats as usize).div_ceil(limit as usize) + args.clients
    });
    let tag = setup::run_tag();
    println!(
        "onsale [{}]: {} seats, {} buyers, {} customers (per-user limit {}), against {}",
        common.label,
        args.seats,
        args.clients,
        customers_needed,
        if limit == 0 {
            "none".to_string()
        } else {
            limit.to_string()
        },
        api.base()
    );
    let setup_started = Instant::now();
    let customers = Arc::new(
        setup::register_customers(&api, &tag, customers_needed, args.register_concurrency).await?,
    );
    println!(
        "  set-up: {} customers in {:.1} s",
        customers.len(),
        setup_started.elapsed().as_secs_f64()
    );

    let mut total = BuyerOutcome::default();
    let mut all_violations: Vec<String> = Vec::new();
    let (mut total_window, mut total_elapsed) = (0.0, 0.0);
    let (mut loadgen_cpu_sum, mut server_cpu_sum) = (Some(0.0), Some(0.0));
    let mut rounds = Vec::new();
    let live_mode = args.listeners > 0 || args.pick_from_stream;
    let mut delivery_total = Delivery::default();
    let mut buyer_delivery_total = Delivery::default();
    let mut rss_per_listener: Vec<f64> = Vec::new();
    let mut rss_kib_after_close: Vec<u64> = Vec::new();
    let mut open_seconds: Vec<f64> = Vec::new();
    let mut catch_up_seconds: Vec<f64> = Vec::new();
    if args.listeners > 0 {
        println!(
            "  {} live listeners on each sale's event{}",
            args.listeners,
            if args.pick_from_stream {
                ", and buyers picking from streams of their own"
            } else {
                ""
            }
        );
    } else if args.pick_from_stream {
        println!("  buyers pick from live streams of their own (no GET …/seats)");
    }
    for round in 1..=args.rounds.max(1) {
        let event = setup::create_event(
            &api,
            &admin,
            &format!("On-sale bench {tag} round {round}"),
            args.seats,
            args.seats_per_row,
            args.price,
        )
        .await?;
        let phase_id = event
            .phases
            .first()
            .map(|phase| phase.id)
            .ok_or("the new event has no phase")?;
        let dashboard_before = dashboard(&api, &admin).await?;

        // The live streams, opened before the sale, each with its snapshot.
        let (stop_streams, _) = watch::channel(false);
        let mut listeners: Vec<Listener> = Vec::new();
        let mut buyer_streams: Vec<Listener> = Vec::new();
        let mut answers = None;
        let (mut rss_before, mut rss_open) = (None, None);
        if live_mode {
            let reply = api
                .get(&format!("/api/events/{}/seats", event.id), None)
                .await;
            if !reply.ok() {
                return Err(format!("seat map before the sale: {}", reply.describe()));
            }
            let ids: Vec<i64> = crate::api::parse_seat_map(&reply.body)?
                .iter()
                .map(|seat| seat.id)
                .collect();
            let index = Arc::new(SeatIndex::new(ids));
            let epoch = Instant::now();
            rss_before = common.server_pid.as_deref().and_then(live::rss_kib);
            let opening = Instant::now();
            listeners = live::open_many(
                api.base(),
                event.id,
                args.listeners,
                args.open_concurrency,
                Arc::clone(&index),
                epoch,
                &stop_streams,
            )
            .await?;
            rss_open = common.server_pid.as_deref().and_then(live::rss_kib);
            if args.listeners > 0 {
                open_seconds.push(opening.elapsed().as_secs_f64());
                println!(
                    "  round {round}: {} streams open, each with its snapshot, in {:.2} s; server RSS {} → {} KiB",
                    listeners.len(),
                    opening.elapsed().as_secs_f64(),
                    rss_before.map_or("?".to_string(), |kib| kib.to_string()),
                    rss_open.map_or("?".to_string(), |kib| kib.to_string()),
                );
            }
            if args.pick_from_stream {
                buyer_streams = live::open_many(
                    api.base(),
                    event.id,
                    args.clients,
                    args.open_concurrency,
                    Arc::clone(&index),
                    epoch,
                    &stop_streams,
                )
                .await?;
            }
            answers = Some(Arc::new(Answers::new(index, epoch)));
        }

        let cpu = CpuWindow::start(common.server_pid.as_deref());
        let start = Instant::now();
        let shared = Arc::new(Shared {
            api: api.clone(),
            event_id: event.id,
            phase_id,
            customers: Arc::clone(&customers),
            next_customer: AtomicUsize::new(0),
            limit,
            max_per_booking: args.max_seats_per_booking.max(1),
            deadline: start + Duration::from_secs(args.time_cap),
            attempts_left: AtomicU64::new(u64::from(args.seats) * 50 + 1000),
            sold_out: AtomicBool::new(false),
            start,
            last_paid_us: AtomicU64::new(0),
            answers: answers.clone(),
        });
        let buyers: Vec<_> = (0..args.clients)
            .map(|i| {
                let stream = buyer_streams
                    .get(i)
                    .zip(answers.as_ref())
                    .map(|(stream, answers)| BuyerStream {
                        map: Arc::clone(&stream.map),
                        changed: Arc::clone(&stream.changed),
                        index: Arc::clone(&answers.index),
                    });
                tokio::spawn(buyer(Arc::clone(&shared), stream))
            })
            .collect();
        let mut outcome = BuyerOutcome::default();
        let mut stop_reasons: HashMap<&'static str, usize> = HashMap::new();
        for buyer in buyers {
            let one = buyer
                .await
                .map_err(|error| format!("a buyer task failed: {error}"))?;
            outcome.absorb(one, &mut stop_reasons);
        }
        let elapsed = start.elapsed().as_secs_f64();

        // Every stream must come to hold the map as it is now.
        let mut live_violations = Vec::new();
        let mut round_live = serde_json::Value::Null;
        let mut caught_up_s = 0.0;
        let mut final_statuses = None;
        if let Some(answers) = &answers {
            let statuses = live::current_statuses(&api, event.id, &answers.index).await?;
            let waiting = Instant::now();
            let all: Vec<&Listener> = listeners.iter().chain(&buyer_streams).collect();
            let mut behind = 0;
            let deadline = waiting + Duration::from_secs(args.catch_up_secs);
            for listener in &all {
                behind += live::wait_caught_up(
                    std::slice::from_ref(*listener),
                    &statuses,
                    deadline.saturating_duration_since(Instant::now()),
                )
                .await;
            }
            caught_up_s = waiting.elapsed().as_secs_f64();
            if behind > 0 {
                live_violations.push(format!(
                    "{behind} of {} live streams did not hold the final seat map {} s after the sale",
                    all.len(),
                    args.catch_up_secs
                ));
            }
            final_statuses = Some(statuses);
        }
        let (loadgen_cpu, server_cpu) = cpu.end();
        if let (Some(answers), Some(statuses)) = (&answers, &final_statuses) {
            let rss_after_sale = common.server_pid.as_deref().and_then(live::rss_kib);
            let versions: Vec<u64> = listeners
                .iter()
                .chain(&buyer_streams)
                .map(|listener| listener.map.lock().map_or(0, |map| map.version))
                .collect();
            let (low, high) = (
                versions.iter().min().copied().unwrap_or(0),
                versions.iter().max().copied().unwrap_or(0),
            );
            if low != high {
                live_violations.push(format!(
                    "the live streams ended at different versions ({low} to {high})"
                ));
            }
            stop_streams.send_replace(true);
            let mut delivery = Delivery::default();
            for listener in listeners.drain(..) {
                delivery.add(&listener.finish().await, answers);
            }
            let mut buyer_delivery = Delivery::default();
            for listener in buyer_streams.drain(..) {
                buyer_delivery.add(&listener.finish().await, answers);
            }
            for (what, d) in [("listener", &delivery), ("buyer", &buyer_delivery)] {
                if d.chain_breaks > 0 {
                    live_violations.push(format!(
                        "{} {what} streams' versions did not chain (e.g. {})",
                        d.chain_breaks,
                        d.problems.first().map_or("?", String::as_str)
                    ));
                }
                if d.streams_with_problems > 0 {
                    live_violations.push(format!(
                        "{} {what} streams went wrong: {}",
                        d.streams_with_problems,
                        d.problems.join("; ")
                    ));
                }
                if d.unknown_seats > 0 {
                    live_violations.push(format!(
                        "{what} streams were told of {} seats the event does not have",
                        d.unknown_seats
                    ));
                }
            }
            let sold_final = statuses.iter().filter(|s| **s == live::SOLD).count();
            // Let the server drop what the closed streams held before reading its memory.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let rss_closed = common.server_pid.as_deref().and_then(live::rss_kib);
            let per_listener = rss_before
                .zip(rss_open)
                .filter(|_| args.listeners > 0)
                .map(|(before, open)| (open as f64 - before as f64) / args.listeners as f64);
            if let Some(per) = per_listener {
                rss_per_listener.push(per);
            }
            if let Some(closed) = rss_closed {
                rss_kib_after_close.push(closed);
            }
            if args.listeners > 0 {
                catch_up_seconds.push(caught_up_s);
                println!(
                    "  round {round}: {} listeners: delivery p50 {} p99 {} max {} ms ({} arrived before the answer, counted as 0), {} of {} seat changes delivered ({} holds seen only as sold), {} resnapshots, caught up {:.2} s after the last buyer; server RSS open {} / after the sale {} / streams closed {} KiB ({} KiB per listener)",
                    delivery.streams,
                    fmt_ms(delivery.latency.ms(0.5)),
                    fmt_ms(delivery.latency.ms(0.99)),
                    fmt_ms(delivery.latency.max_ms()),
                    delivery.early,
                    delivery.delivered,
                    delivery.expected,
                    delivery.held_coalesced,
                    delivery.resnapshots,
                    caught_up_s,
                    rss_open.map_or("?".to_string(), |kib| kib.to_string()),
                    rss_after_sale.map_or("?".to_string(), |kib| kib.to_string()),
                    rss_closed.map_or("?".to_string(), |kib| kib.to_string()),
                    per_listener.map_or("?".to_string(), |per| format!("{per:.1}")),
                );
            }
            if args.pick_from_stream {
                println!(
                    "  round {round}: buyers' own streams: delivery p50 {} p99 {} ms, {} of {} seat changes delivered, {} resnapshots",
                    fmt_ms(buyer_delivery.latency.ms(0.5)),
                    fmt_ms(buyer_delivery.latency.ms(0.99)),
                    buyer_delivery.delivered,
                    buyer_delivery.expected,
                    buyer_delivery.resnapshots,
                );
            }
            round_live = json!({
                "rss_kib_before": rss_before,
                "rss_kib_open": rss_open,
                "rss_kib_after_sale": rss_after_sale,
                "rss_kib_closed": rss_closed,
                "rss_kib_per_listener": per_listener.map(round3),
                "catch_up_s": round3(caught_up_s),
                "final_version": high,
                "seats_sold_final": sold_final,
                "delivery": delivery.to_json(),
                "buyer_streams": buyer_delivery.to_json(),
            });
            delivery_total.merge(&delivery);
            buyer_delivery_total.merge(&buyer_delivery);
        }
        loadgen_cpu_sum = loadgen_cpu_sum.zip(loadgen_cpu).map(|(a, b)| a + b);
        server_cpu_sum = server_cpu_sum.zip(server_cpu).map(|(a, b)| a + b);
        let sold_out = shared.sold_out.load(Ordering::Relaxed);
        let sell_out_s = shared.last_paid_us.load(Ordering::Relaxed) as f64 / 1e6;
        let window = if sold_out && sell_out_s > 0.0 {
            sell_out_s
        } else {
            elapsed
        };
        let bookings = outcome.paid.len() as u64;
        let seats_sold: i64 = outcome.paid.iter().map(|paid| paid.quantity).sum();
        let book = outcome.stats.get("book").cloned().unwrap_or_default();

        let mut violations = verify(
            &api,
            &admin,
            &event,
            args.seats,
            &outcome.paid,
            &dashboard_before,
        )
        .await?;
        if !outcome.unpaid.is_empty() {
            violations.push(format!(
                "{} bookings were made but could not be paid: {}",
                outcome.unpaid.len(),
                outcome
                    .unpaid
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !sold_out {
            violations.push(format!(
                "event {} did not sell out within {} s ({} of {} seats sold)",
                event.id, args.time_cap, seats_sold, args.seats
            ));
        }
        violations.extend(live_violations);
        if outcome.other_conflicts > 0 {
            violations.push(format!(
                "{} 409s were not seat races (per-user limit or phase quota refused a booking the buyers kept within)",
                outcome.other_conflicts
            ));
        }
        println!(
            "  round {round}: event {}, {} in {:.2} s, {} bookings, {:.1} bookings/s, book p99 {} ms, 409s {}, errors {}, {}; {} (stopped: {})",
            event.id,
            if sold_out { "sold out" } else { "NOT sold out" },
            window,
            bookings,
            rate(bookings, window),
            fmt_ms(book.ms(0.99)),
            outcome.seat_conflicts + outcome.other_conflicts,
            outcome.errors.len(),
            if violations.is_empty() { "verified" } else { "VERIFICATION FAILED" },
            crate::cpu_line(loadgen_cpu, server_cpu, elapsed),
            stop_reasons
                .iter()
                .map(|(reason, count)| format!("{count} {reason}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        rounds.push(json!({
            "event_id": event.id,
            "sold_out": sold_out,
            "sell_out_s": round3(sell_out_s),
            "bookings": bookings,
            "bookings_per_s": rate(bookings, window),
            "book_p99_ms": round3(book.ms(0.99)),
            "conflicts_409": outcome.seat_conflicts + outcome.other_conflicts,
            "loadgen_cpu_s": loadgen_cpu.map(round3),
            "server_cpu_s": server_cpu.map(round3),
            "live": round_live,
        }));
        all_violations.extend(violations);
        total_window += window;
        total_elapsed += elapsed;
        let mut reasons = HashMap::new();
        total.absorb(outcome, &mut reasons);
    }

    let bookings = total.paid.len() as u64;
    let seats_sold: i64 = total.paid.iter().map(|paid| paid.quantity).sum();
    let booked_ok = total.stats.get("book").map_or(0, |e| e.ok);
    println!("  all rounds ({:.2} s of selling):", total_window);
    print!("{}", total.stats.table(total_window));
    let shed = total.stats.shed_total();
    println!(
        "  bookings/s {:.1} ({} paid bookings, {} created), seats/s {:.1} ({} seats), 409s {} (seat races {}, other {}), {} shed with 503 and sent again, errors {}",
        rate(bookings, total_window),
        bookings,
        booked_ok,
        rate(seats_sold as u64, total_window),
        seats_sold,
        total.seat_conflicts + total.other_conflicts,
        total.seat_conflicts,
        total.other_conflicts,
        shed,
        total.errors.len()
    );
    let per_booking = |cpu: Option<f64>| {
        cpu.filter(|_| bookings > 0)
            .map(|cpu| cpu * 1000.0 / bookings as f64)
    };
    println!(
        "  {}; per paid booking: load generator {} ms, server {} ms of CPU",
        crate::cpu_line(loadgen_cpu_sum, server_cpu_sum, total_elapsed),
        per_booking(loadgen_cpu_sum).map_or("?".to_string(), |ms| format!("{ms:.3}")),
        per_booking(server_cpu_sum).map_or("?".to_string(), |ms| format!("{ms:.3}")),
    );
    for error in total.errors.iter().take(10) {
        println!("  error: {error}");
    }
    let server_errors = total.stats.server_errors();
    let passed = all_violations.is_empty() && total.errors.is_empty() && server_errors == 0;
    println!(
        "  verification: {} ({} bookings read back)",
        if all_violations.is_empty() {
            "OK"
        } else {
            "FAILED"
        },
        total.paid.len(),
    );
    for violation in &all_violations {
        eprintln!("  *** VIOLATION: {violation}");
    }
    if server_errors > 0 {
        eprintln!("  *** {server_errors} answers were 5xx");
    }
    if !total.errors.is_empty() {
        eprintln!("  *** {} unexpected failures", total.errors.len());
    }

    let book = total.stats.get("book").cloned().unwrap_or_default();
    let conflicts = total.seat_conflicts + total.other_conflicts;
    let mean = |values: &[f64]| {
        (!values.is_empty()).then(|| round3(values.iter().sum::<f64>() / values.len() as f64))
    };
    if live_mode {
        println!(
            "  live: {} listeners{}; 409s per paid booking {:.3}; seat-map reads {}",
            args.listeners,
            if args.pick_from_stream {
                " + a stream per buyer"
            } else {
                ""
            },
            if bookings > 0 {
                conflicts as f64 / bookings as f64
            } else {
                0.0
            },
            total.stats.get("seat_map").map_or(0, |e| e.count()),
        );
        if args.listeners > 0 {
            let d = &delivery_total;
            println!(
                "  listeners, all rounds: delivery p50 {} p99 {} max {} ms over {} changes ({} before the answer, by p50 {} max {} ms, counted as 0); delivered {} of {} ({} holds seen only as sold, {} via a resnapshot), {} resnapshots, {} repeats, {} seats freed, {} chain breaks; server RSS per listener {} KiB",
                fmt_ms(d.latency.ms(0.5)),
                fmt_ms(d.latency.ms(0.99)),
                fmt_ms(d.latency.max_ms()),
                d.latency.count(),
                d.early,
                fmt_ms(d.early_by.ms(0.5)),
                fmt_ms(d.early_by.max_ms()),
                d.delivered,
                d.expected,
                d.held_coalesced,
                d.via_snapshot,
                d.resnapshots,
                d.repeats,
                d.freed,
                d.chain_breaks,
                mean(&rss_per_listener).map_or("?".to_string(), |kib| format!("{kib:.1}")),
            );
        }
    }
    common.write_json(json!({
        "scenario": "onsale",
        "label": common.label,
        "base_url": api.base(),
        "clients": args.clients,
        "seats": args.seats,
        "rounds": rounds,
        "customers": customers_needed,
        "elapsed_s": round3(total_elapsed),
        "sell_out_s": round3(total_window),
        "bookings": bookings,
        "bookings_per_s": rate(bookings, total_window),
        "seats_sold": seats_sold,
        "seats_per_s": rate(seats_sold as u64, total_window),
        "book_p99_ms": round3(book.ms(0.99)),
        "conflicts_409": total.seat_conflicts + total.other_conflicts,
        "shed_503": shed,
        "errors": total.errors.len(),
        "server_errors_5xx": server_errors,
        "violations": all_violations,
        "endpoints": total.stats.to_json(total_window),
        "loadgen_cpu_s": loadgen_cpu_sum.map(round3),
        "server_cpu_s": server_cpu_sum.map(round3),
        "loadgen_cpu_ms_per_booking": per_booking(loadgen_cpu_sum).map(round3),
        "server_cpu_ms_per_booking": per_booking(server_cpu_sum).map(round3),
        "listeners": args.listeners,
        "pick_from_stream": args.pick_from_stream,
        "conflicts_per_paid_booking": if bookings > 0 { round3(conflicts as f64 / bookings as f64) } else { 0.0 },
        "seat_map_reads": total.stats.get("seat_map").map_or(0, |e| e.count()),
        "delivery": if args.listeners > 0 { delivery_total.to_json() } else { serde_json::Value::Null },
        "buyer_streams": if args.pick_from_stream { buyer_delivery_total.to_json() } else { serde_json::Value::Null },
        "rss_kib_per_listener": mean(&rss_per_listener),
        "rss_kib_per_listener_rounds": rss_per_listener.iter().map(|v| round3(*v)).collect::<Vec<_>>(),
        "rss_kib_after_close": rss_kib_after_close,
        "open_s": mean(&open_seconds),
        "catch_up_s": mean(&catch_up_seconds),
        "ok": passed,
    }))?;
    println!(
        "  headline: {:.1} bookings/s, book p99 {} ms, {}",
        rate(bookings, total_window),
        fmt_ms(book.ms(0.99)),
        if passed { "no violations" } else { "FAILED" }
    );
    Ok(passed)
}

impl BuyerOutcome {
    fn absorb(&mut self, one: BuyerOutcome, reasons: &mut HashMap<&'static str, usize>) {
        self.stats.merge(&one.stats);
        self.paid.extend(one.paid);
        self.errors.extend(one.errors);
        self.unpaid.extend(one.unpaid);
        self.seat_conflicts += one.seat_conflicts;
        self.other_conflicts += one.other_conflicts;
        *reasons.entry(one.stopped_by).or_default() += 1;
    }
}

/// How long a buyer tries again to pay a placed booking while the server sheds the payment.
const PAY_PATIENCE: Duration = Duration::from_secs(30);

async fn buyer(shared: Arc<Shared>, stream: Option<BuyerStream>) -> BuyerOutcome {
    let mut out = BuyerOutcome::default();
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut customer: Option<(usize, u32)> = None; // (index, tickets left under the limit)
    let seats_path = format!("/api/events/{}/seats", shared.event_id);
    let mut only_held_since: Option<Instant> = None;
    // Seats this buyer booked, or was told (409) someone else holds: not picked again.
    let mut avoid: std::collections::HashSet<i64> = std::collections::HashSet::new();
    out.stopped_by = loop {
        if Instant::now() >= shared.deadline {
            break "time cap";
        }
        if shared.sold_out.load(Ordering::Relaxed) {
            break "sold out";
        }
        if shared
            .attempts_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_err()
        {
            break "attempt cap";
        }
        if customer.is_none_or(|(_, left)| left == 0) {
            let index = shared.next_customer.fetch_add(1, Ordering::Relaxed);
            if index >= shared.customers.len() {
                break "customers used up";
            }
            let left = if shared.limit == 0 {
                u32::MAX
            } else {
                shared.limit
            };
            customer = Some((index, left));
        }
        let (index, left) = customer.expect("set above");
        let token = shared.customers[index].token.as_str();

        let reply;
        let seats: Vec<SeatRef> = if let Some(stream) = &stream {
            // The map this buyer's stream holds.
            let statuses = stream
                .map
                .lock()
                .map(|map| map.statuses.clone())
                .unwrap_or_default();
            stream
                .index
                .ids
                .iter()
                .zip(statuses)
                .map(|(id, status)| {
                    let status = if avoid.contains(id) && status == live::AVAILABLE {
                        live::HELD
                    } else {
                        status
                    };
                    SeatRef {
                        id: *id,
                        status: live::status_name(status),
                        is_booked: status != live::AVAILABLE,
                    }
                })
                .collect()
        } else {
            reply = until_admitted(&mut out.stats, "seat_map", shared.deadline, || {
                shared.api.get(&seats_path, Some(token))
            })
            .await;
            if reply.is_shed() {
                continue; // past the time cap: the loop stops
            }
            if !reply.ok() {
                out.errors.push(format!("seat map: {}", reply.describe()));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            match crate::api::parse_seat_map(&reply.body) {
                Ok(seats) => seats,
                Err(error) => {
                    out.errors.push(format!("seat map: {error}"));
                    continue;
                }
            }
        };
        let wanted = rng
            .random_range(1..=shared.max_per_booking)
            .min(left.min(u32::MAX - 1) as usize);
        let picked = setup::pick_free_seats(&seats, wanted, &mut rng);
        if picked.is_empty() {
            if seats.iter().all(|seat| seat.status == "sold") {
                shared.sold_out.store(true, Ordering::Relaxed);
                break "sold out";
            }
            if let Some(stream) = &stream {
                // Wait for the stream to tell of a change rather than polling.
                let since = *only_held_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(5) {
                    break "only unpaid holds left";
                }
                let _ = tokio::time::timeout(Duration::from_millis(200), stream.changed.notified())
                    .await;
                continue;
            }
            // Only holds are left: other buyers are paying. Wait for them, but not for ever
            // (a hold whose payment failed stays until it expires).
            let since = *only_held_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(5) {
                break "only unpaid holds left";
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        only_held_since = None;
        let body = json!({
            "event_id": shared.event_id,
            "seat_ids": picked,
            "phase_id": shared.phase_id,
            "quantity": picked.len(),
        });
        let reply = until_admitted(&mut out.stats, "book", shared.deadline, || {
            shared.api.post("/api/bookings", Some(token), &body)
        })
        .await;
        if reply.is_shed() {
            continue;
        }
        match reply.status {
            201 => {}
            409 => {
                if is_seat_race(&reply.body) {
                    out.seat_conflicts += 1;
                    if stream.is_some() {
                        avoid.extend(taken_seats(&reply.body));
                    }
                } else {
                    out.other_conflicts += 1;
                    if out.other_conflicts <= 3 {
                        out.errors
                            .push(format!("book (not a seat race): {}", reply.describe()));
                    }
                }
                continue;
            }
            _ => {
                out.errors
                    .push(format!("book {picked:?}: {}", reply.describe()));
                continue;
            }
        }
        let booked_at = Instant::now();
        let booking: Booking = match reply.json() {
            Ok(booking) => booking,
            Err(error) => {
                out.errors.push(format!("book: {error}"));
                continue;
            }
        };
        let mut got: Vec<i64> = booking.seats.iter().map(|seat| seat.id).collect();
        got.sort_unstable();
        if got != picked || booking.quantity != picked.len() as i64 {
            out.errors.push(format!(
                "booking {} holds seats {got:?} (quantity {}) but {picked:?} were asked for",
                booking.booking_code, booking.quantity
            ));
        }
        customer = Some((index, left.saturating_sub(picked.len() as u32)));
        if let Some(answers) = &shared.answers {
            answers.mark(&got, live::HELD, booked_at);
        }
        if stream.is_some() {
            avoid.extend(got.iter().copied());
        }

        let pay_path = format!("/api/bookings/{}/pay", booking.booking_code);
        let pay_body = json!({"amount": booking.total_price, "method": "BCA Virtual Account"});
        // A placed booking is paid, time cap or not, as long as the server sheds the payment for
        // less than PAY_PATIENCE.
        let give_up = Instant::now() + PAY_PATIENCE;
        let reply = until_admitted(&mut out.stats, "pay", give_up, || {
            shared.api.post(&pay_path, Some(token), &pay_body)
        })
        .await;
        let paid_at = Instant::now();
        if !reply.ok() {
            out.errors.push(format!(
                "pay {}: {}",
                booking.booking_code,
                reply.describe()
            ));
            out.unpaid.push(booking.booking_code);
            continue;
        }
        match reply.json::<PaymentAnswer>() {
            Ok(payment) if payment.status == "success" && payment.booking.status == "confirmed" => {
                if let Some(answers) = &shared.answers {
                    answers.mark(&got, live::SOLD, paid_at);
                }
                shared
                    .last_paid_us
                    .fetch_max(shared.start.elapsed().as_micros() as u64, Ordering::Relaxed);
                out.paid.push(Paid {
                    code: booking.booking_code,
                    seats: got,
                    total: payment.amount,
                    quantity: booking.quantity,
                });
            }
            Ok(payment) => {
                out.errors.push(format!(
                    "pay {}: payment {} and booking {} after paying",
                    booking.booking_code, payment.status, payment.booking.status
                ));
                out.unpaid.push(booking.booking_code);
            }
            Err(error) => {
                out.errors
                    .push(format!("pay {}: {error}", booking.booking_code));
                out.unpaid.push(booking.booking_code);
            }
        }
    };
    out
}

/// The seat ids a seat race's 409 names (`details`).
fn taken_seats(body: &[u8]) -> Vec<i64> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            value["details"]
                .as_array()
                .map(|ids| ids.iter().filter_map(serde_json::Value::as_i64).collect())
        })
        .unwrap_or_default()
}
