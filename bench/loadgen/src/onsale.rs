//! `onsale`: the rush when a show goes on sale. C buyers read the seat map, pick 1–3 free seats,
//! book and pay, and start over with a fresh map on a 409, until the show is sold out. Then the
//! books are checked against what the buyers were told. A request the server sheds (the documented
//! 503 with `Retry-After`) is counted and sent again after a short pause, as a client would; any
//! other 5xx fails the run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::api::{Api, Booking, CpuWindow, PaymentAnswer, SeatRef};
use crate::books::{dashboard, is_seat_race, verify, Paid};
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
        });
        let buyers: Vec<_> = (0..args.clients)
            .map(|_| tokio::spawn(buyer(Arc::clone(&shared))))
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
        let (loadgen_cpu, server_cpu) = cpu.end();
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

async fn buyer(shared: Arc<Shared>) -> BuyerOutcome {
    let mut out = BuyerOutcome::default();
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut customer: Option<(usize, u32)> = None; // (index, tickets left under the limit)
    let seats_path = format!("/api/events/{}/seats", shared.event_id);
    let mut only_held_since: Option<Instant> = None;
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

        let reply = until_admitted(&mut out.stats, "seat_map", shared.deadline, || {
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
        let seats: Vec<SeatRef> = match crate::api::parse_seat_map(&reply.body) {
            Ok(seats) => seats,
            Err(error) => {
                out.errors.push(format!("seat map: {error}"));
                continue;
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

        let pay_path = format!("/api/bookings/{}/pay", booking.booking_code);
        let pay_body = json!({"amount": booking.total_price, "method": "BCA Virtual Account"});
        // A placed booking is paid, time cap or not, as long as the server sheds the payment for
        // less than PAY_PATIENCE.
        let give_up = Instant::now() + PAY_PATIENCE;
        let reply = until_admitted(&mut out.stats, "pay", give_up, || {
            shared.api.post(&pay_path, Some(token), &pay_body)
        })
        .await;
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
