//! `overload`: an on-sale rush of ten times what the server can serve (issue "Hardening", item 6).
//!
//! K events of S seats each (S = 1000 as for `onsale`, K enough not to sell out), N customers.
//! Every buyer step (and every rush arrival) picks one of the events not sold out yet at random
//! and works on it. Then, each phase D seconds:
//!   1. baseline: the on-sale load, C = 64 closed-loop buyers (as `onsale`) reading the seat map,
//!      booking 1–2 free seats and paying; the request rate they reach is R, the sustainable rate,
//!      and their p99 the unloaded p99;
//!   2. rush: open-loop arrivals at `--factor` × R a second, each one request started at its time
//!      whatever the earlier ones are doing (seat-map reads, bookings of seats from a recently read
//!      map of the event, payments of placed bookings, in the baseline's proportions). The load
//!      generator keeps at most `--max-outstanding` requests waiting and counts the arrivals it
//!      drops on its side;
//!   3. recovery: the baseline again, right after the last arrival (while what the rush left
//!      outstanding drains): its p99, its 503s, and the time from the end of the rush to the first
//!      `--quiet-window` seconds of answers without a 503 (and to the first such window whose p99
//!      is also within `--max-p99-ratio` × the baseline's: "fast again").
//!
//! Every answer is classified: a 503 is shed (and must carry `Retry-After` and the error shape),
//! anything else answered is admitted (a 409 is a seat race, normal), a 5xx other than 503 or no
//! answer is a failure. Bookings still unpaid at the end are paid, then every event's books are
//! checked as after an on-sale ([`books::verify_events`]). The server must run with
//! `MAX_TICKETS_PER_USER=0`.
//!
//! The rush runs on a tokio runtime of its own and spreads its requests over 64 HTTP clients, so
//! that neither its thousands of tasks nor one connection pool's bookkeeping delay the recovery's
//! buyers inside the load generator; the arrival lag (due time to request sent) is reported.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::api::{
    check_shed, Api, Booking, CpuWindow, DashboardAnswer, EventAnswer, PaymentAnswer, Reply,
    RETRY_PAUSE,
};
use crate::books::{self, Paid};
use crate::setup::{self, Customer};
use crate::stats::{fmt_ms, rate, round3, Endpoint, Stats};
use crate::Common;

#[derive(Debug, Clone, clap::Args)]
pub struct OverloadArgs {
    /// Closed-loop buyers of the baseline and of the recovery: the on-sale load (as `onsale`, and
    /// the issue's target load: 2 cores, C = 64, S = 1000). The rate they reach is R.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub clients: usize,
    /// Seconds of the baseline, of the rush and of the recovery, each.
    #[arg(long, short = 'd', default_value_t = 10)]
    pub duration: u64,
    /// Seconds of the rush, when not --duration.
    #[arg(long)]
    pub rush_duration: Option<u64>,
    /// The rush's arrivals a second, as a multiple of the baseline's requests a second (R).
    #[arg(long, default_value_t = 10.0)]
    pub factor: f64,
    /// Seats of each event (one phase, quota to match), as `onsale`: a comedy show, not a stadium
    /// (the map is 86 bytes a seat, read by every buyer step).
    #[arg(long, short = 's', default_value_t = 1000)]
    pub seats: u32,
    /// Events on sale at once (K): enough not to sell out during the run (a memory-store run of
    /// 3 × 5 s on 2 cores sold 70 000 seats; 250 are made on PostgreSQL in under 2 s).
    #[arg(long, short = 'k', default_value_t = EVENTS)]
    pub events: usize,
    #[arg(long, default_value_t = 50)]
    pub seats_per_row: u32,
    /// Customers to register; the requests use them in turn. A few customers buy thousands of
    /// seats: the server must run with MAX_TICKETS_PER_USER=0.
    #[arg(long, default_value_t = 64)]
    pub customers: usize,
    /// Most seats one booking takes (1 to this many, at random).
    #[arg(long, default_value_t = 2)]
    pub max_seats_per_booking: usize,
    /// Ticket price in rupiah.
    #[arg(long, default_value_t = 150_000)]
    pub price: i64,
    /// Rush requests waiting for their answer at most (each may hold a socket: lowered to fit
    /// the soft limit on open files); an arrival due while this many wait is dropped and counted.
    #[arg(long, default_value_t = 20_000)]
    pub max_outstanding: usize,
    /// Recovery: the first window of this many seconds whose answers hold no 503.
    #[arg(long, default_value_t = 2.0)]
    pub quiet_window: f64,
    /// The target: the rush's admitted p99 at most this many times the baseline's.
    #[arg(long, default_value_t = 2.0)]
    pub max_p99_ratio: f64,
    /// Registrations (and logins), and event creations, in flight at once during set-up.
    #[arg(long, default_value_t = 8)]
    pub register_concurrency: usize,
}

/// The events on sale by default: 250 000 seats.
const EVENTS: usize = 250;

/// The requests of a buyer, by the name their figures go under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SeatMap,
    Book,
    Pay,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::SeatMap => "seat_map",
            Kind::Book => "book",
            Kind::Pay => "pay",
        }
    }
}

/// How an answer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Answered, anything but 503 (2xx, the 409 of a race, an unexpected 4xx).
    Admitted,
    /// 503.
    Shed,
    /// A 5xx other than 503, or no answer (refused, reset, timed out).
    Failed,
}

/// Most error lines kept per phase (all are counted).
const ERROR_LINES: usize = 20;
/// Most answers kept with their times per phase (the recovery's: 64 buyers for 10 s answer far
/// fewer, even on the memory store).
const ANSWER_TIMES: usize = 1_000_000;

/// What one phase saw, answer by answer.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) admitted: Stats,
    shed: Stats,
    failed: Stats,
    /// 503s without a usable `Retry-After` or the error shape: not the documented 503.
    bad_shed: u64,
    pub(crate) seat_conflicts: u64,
    /// 409s that are not seat races (the per-user limit or the quota).
    pub(crate) other_conflicts: u64,
    /// Unexpected answers: failures, 4xx other than 409, wrong bodies.
    errors: u64,
    pub(crate) error_lines: Vec<String>,
    /// 503s by the bound that refused them ([`crate::api::shed_reason`]).
    pub(crate) shed_reasons: BTreeMap<&'static str, u64>,
    /// Every answer with when it came, when the phase has a clock (the recovery's: the end of the
    /// rush).
    answers: Vec<Answer>,
}

/// One answer of a clocked phase.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Answer {
    /// Seconds after the clock's start.
    at: f64,
    ms: f64,
    class: Class,
}

impl Tally {
    fn note(&mut self, kind: Kind, reply: &Reply, clock: Option<Instant>) -> Class {
        let name = kind.name();
        let class = self.classify(name, reply);
        if let Some(clock) = clock {
            if self.answers.len() < ANSWER_TIMES {
                self.answers.push(Answer {
                    at: clock.elapsed().as_secs_f64(),
                    ms: reply.elapsed.as_secs_f64() * 1000.0,
                    class,
                });
            }
        }
        class
    }

    fn classify(&mut self, name: &str, reply: &Reply) -> Class {
        match reply.status {
            503 => {
                self.shed.endpoint(name).record(reply);
                *self
                    .shed_reasons
                    .entry(crate::api::shed_reason(reply))
                    .or_default() += 1;
                if let Err(why) = check_shed(reply) {
                    self.bad_shed += 1;
                    self.error(format!("{name}: a 503 {why}"));
                }
                Class::Shed
            }
            0 | 500..=599 => {
                self.failed.endpoint(name).record(reply);
                self.error(format!("{name}: {}", reply.describe()));
                Class::Failed
            }
            status => {
                self.admitted.endpoint(name).record(reply);
                if !reply.ok() && status != 409 {
                    self.error(format!("{name}: {}", reply.describe()));
                }
                Class::Admitted
            }
        }
    }

    fn error(&mut self, line: String) {
        self.errors += 1;
        if self.error_lines.len() < ERROR_LINES {
            self.error_lines.push(line);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.admitted.merge(&other.admitted);
        self.shed.merge(&other.shed);
        self.failed.merge(&other.failed);
        self.bad_shed += other.bad_shed;
        self.seat_conflicts += other.seat_conflicts;
        self.other_conflicts += other.other_conflicts;
        self.errors += other.errors;
        for (reason, count) in other.shed_reasons {
            *self.shed_reasons.entry(reason).or_default() += count;
        }
        for line in other.error_lines {
            if self.error_lines.len() < ERROR_LINES {
                self.error_lines.push(line);
            }
        }
        self.answers.extend(other.answers);
    }

    /// Every admitted answer in one histogram.
    pub(crate) fn admitted_all(&self) -> Endpoint {
        merged(&self.admitted)
    }

    fn shed_all(&self) -> Endpoint {
        merged(&self.shed)
    }

    fn admitted_count(&self) -> u64 {
        self.admitted.total()
    }

    pub(crate) fn shed_count(&self) -> u64 {
        self.shed.total()
    }

    /// 5xx other than 503, no answer, and 503s out of shape.
    pub(crate) fn failures(&self) -> u64 {
        self.failed.total() + self.bad_shed
    }

    fn kind_count(&self, kind: Kind) -> u64 {
        [&self.admitted, &self.shed, &self.failed]
            .iter()
            .map(|stats| stats.get(kind.name()).map_or(0, Endpoint::count))
            .sum()
    }

    fn to_json(&self, seconds: f64) -> Value {
        let admitted = self.admitted_all();
        let shed = self.shed_all();
        json!({
            "seconds": round3(seconds),
            "requests": self.admitted_count() + self.shed_count() + self.failed.total(),
            "admitted": self.admitted_count(),
            "admitted_rps": rate(self.admitted_count(), seconds),
            "shed_503": self.shed_count(),
            "bad_503": self.bad_shed,
            "conflicts_409": self.seat_conflicts + self.other_conflicts,
            "failures": self.failures(),
            "server_errors_5xx": self.failed.server_errors(),
            "errors": self.errors,
            "admitted_p50_ms": round3(admitted.ms(0.50)),
            "admitted_p99_ms": round3(admitted.ms(0.99)),
            "shed_p99_ms": round3(shed.ms(0.99)),
            "endpoints": self.admitted.to_json(seconds),
            "shed": self.shed.to_json(seconds),
            "failed": self.failed.to_json(seconds),
        })
    }
}

fn merged(stats: &Stats) -> Endpoint {
    let mut all = Endpoint::default();
    for endpoint in stats.endpoints.values() {
        all.merge(endpoint);
    }
    all
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Steps of the recovery's sliding window, in seconds.
const WINDOW_STEP: f64 = 0.05;

/// When the server had recovered, in seconds after the clock's start: the start (on a 50 ms grid)
/// of the first `window` seconds, ending before `horizon`, in which answers came, all admitted (no
/// 503, no failure) and, with `p99_limit`, their p99 within it. `answers` sorted by time.
fn recovered_after(
    answers: &[Answer],
    window: f64,
    horizon: f64,
    p99_limit: Option<f64>,
) -> Option<f64> {
    let (mut first, mut end) = (0, 0);
    let steps = ((horizon - window) / WINDOW_STEP + 1e-9).floor();
    if steps < 0.0 {
        return None;
    }
    for step in 0..=steps as usize {
        let from = step as f64 * WINDOW_STEP;
        while first < answers.len() && answers[first].at < from {
            first += 1;
        }
        end = end.max(first);
        while end < answers.len() && answers[end].at < from + window {
            end += 1;
        }
        let inside = &answers[first..end];
        if inside.is_empty() || inside.iter().any(|answer| answer.class != Class::Admitted) {
            continue;
        }
        let fast = p99_limit.is_none_or(|limit| {
            let mut ms: Vec<f64> = inside.iter().map(|answer| answer.ms).collect();
            let rank = ((ms.len() as f64 * 0.99).ceil() as usize).clamp(1, ms.len()) - 1;
            *ms.select_nth_unstable_by(rank, f64::total_cmp).1 <= limit
        });
        if fast {
            return Some(from);
        }
    }
    None
}

/// A booking placed (201) and not paid yet.
#[derive(Debug, Clone)]
struct Pending {
    /// The event's index in [`Sale::events`].
    event: usize,
    code: String,
    customer: usize,
    total: i64,
    seats: Vec<i64>,
    quantity: i64,
}

enum Placed {
    Booking(Pending),
    /// Not placed: a 409, a 503, a failure.
    Not(Class),
}

enum Payment {
    Paid,
    /// 503: the booking is still to be paid.
    Shed(Pending),
    /// Anything else: the booking, to be set aside for the settling at the end.
    Failed(Pending),
}

/// One event on sale.
struct OnSale {
    id: i64,
    phase_id: i64,
    seats_path: String,
    /// A seat map of it showed no free seat.
    sold_out: AtomicBool,
}

/// An event to work on: one of those not sold out, at random (any, once all are sold out). Its
/// index in `events`.
fn pick_open<R: Rng + ?Sized>(events: &[OnSale], rng: &mut R) -> usize {
    let open = |event: &&OnSale| !event.sold_out.load(Ordering::Relaxed);
    let count = events.iter().filter(open).count();
    if count == 0 {
        return rng.random_range(0..events.len());
    }
    let nth = rng.random_range(0..count);
    events
        .iter()
        .enumerate()
        .filter(|(_, event)| open(event))
        .nth(nth)
        .map_or(0, |(index, _)| index)
}

/// The sale every phase sells from, and what the buyers were told.
pub(crate) struct Sale {
    api: Api,
    events: Vec<OnSale>,
    customers: Vec<Customer>,
    max_per_booking: usize,
    /// Placed bookings no request is paying right now.
    unpaid: Mutex<VecDeque<Pending>>,
    /// Placed bookings whose payment went wrong: settled (or found paid) at the end.
    troubled: Mutex<Vec<Pending>>,
    /// Paid bookings, with their event's index.
    paid: Mutex<Vec<(usize, Paid)>>,
}

impl Sale {
    /// A sale of `events` (in the order given) to `customers`, 1 to `max_per_booking` seats a
    /// booking.
    pub(crate) fn new(
        api: Api,
        events: &[EventAnswer],
        customers: Vec<Customer>,
        max_per_booking: usize,
    ) -> Result<Sale, String> {
        let events = events
            .iter()
            .map(|event| {
                let phase = event.phases.first().ok_or("a new event has no phase")?;
                Ok(OnSale {
                    id: event.id,
                    phase_id: phase.id,
                    seats_path: format!("/api/events/{}/seats", event.id),
                    sold_out: AtomicBool::new(false),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Sale {
            api,
            events,
            customers,
            max_per_booking: max_per_booking.max(1),
            unpaid: Mutex::new(VecDeque::new()),
            troubled: Mutex::new(Vec::new()),
            paid: Mutex::new(Vec::new()),
        })
    }

    /// The seat-map path of each event on sale.
    pub(crate) fn seat_map_paths(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|event| event.seats_path.clone())
            .collect()
    }

    fn token(&self, customer: usize) -> &str {
        &self.customers[customer % self.customers.len()].token
    }

    fn pick_event<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        pick_open(&self.events, rng)
    }

    fn events_sold_out(&self) -> usize {
        self.events
            .iter()
            .filter(|event| event.sold_out.load(Ordering::Relaxed))
            .count()
    }

    /// The seat map of `event`, when it was answered with 200.
    async fn read_map(
        &self,
        api: &Api,
        event: usize,
        customer: usize,
        tally: &Mutex<Tally>,
        clock: Option<Instant>,
    ) -> Option<Reply> {
        let path = &self.events[event].seats_path;
        let reply = api.get(path, Some(self.token(customer))).await;
        lock(tally).note(Kind::SeatMap, &reply, clock);
        reply.ok().then_some(reply)
    }

    async fn book(
        &self,
        api: &Api,
        event: usize,
        customer: usize,
        picked: Vec<i64>,
        tally: &Mutex<Tally>,
        clock: Option<Instant>,
    ) -> Placed {
        let on_sale = &self.events[event];
        let body = json!({
            "event_id": on_sale.id,
            "seat_ids": picked,
            "phase_id": on_sale.phase_id,
            "quantity": picked.len(),
        });
        let reply = api
            .post("/api/bookings", Some(self.token(customer)), &body)
            .await;
        let mut tally = lock(tally);
        let class = tally.note(Kind::Book, &reply, clock);
        match reply.status {
            201 => {}
            409 => {
                if books::is_seat_race(&reply.body) {
                    tally.seat_conflicts += 1;
                } else {
                    tally.other_conflicts += 1;
                    tally.error(format!(
                        "book (a 409 that is not a seat race: is the server's MAX_TICKETS_PER_USER=0?): {}",
                        reply.describe()
                    ));
                }
                return Placed::Not(class);
            }
            _ => return Placed::Not(class),
        }
        let booking: Booking = match reply.json() {
            Ok(booking) => booking,
            Err(error) => {
                tally.error(format!("book: {error}"));
                return Placed::Not(Class::Admitted);
            }
        };
        let mut got: Vec<i64> = booking.seats.iter().map(|seat| seat.id).collect();
        got.sort_unstable();
        if got != picked || booking.quantity != picked.len() as i64 {
            tally.error(format!(
                "booking {} holds seats {got:?} (quantity {}) but {picked:?} were asked for",
                booking.booking_code, booking.quantity
            ));
        }
        Placed::Booking(Pending {
            event,
            code: booking.booking_code,
            customer,
            total: booking.total_price,
            seats: got,
            quantity: booking.quantity,
        })
    }

    async fn pay(
        &self,
        api: &Api,
        pending: Pending,
        tally: &Mutex<Tally>,
        clock: Option<Instant>,
    ) -> Payment {
        let path = format!("/api/bookings/{}/pay", pending.code);
        let body = json!({"amount": pending.total, "method": "BCA Virtual Account"});
        let reply = api
            .post(&path, Some(self.token(pending.customer)), &body)
            .await;
        let class = lock(tally).note(Kind::Pay, &reply, clock);
        if class == Class::Shed {
            return Payment::Shed(pending);
        }
        if reply.ok() {
            match reply.json::<PaymentAnswer>() {
                Ok(payment)
                    if payment.status == "success" && payment.booking.status == "confirmed" =>
                {
                    self.paid_for(pending, payment.amount);
                    return Payment::Paid;
                }
                Ok(payment) => lock(tally).error(format!(
                    "pay {}: payment {} and booking {} after paying",
                    pending.code, payment.status, payment.booking.status
                )),
                Err(error) => lock(tally).error(format!("pay {}: {error}", pending.code)),
            }
        }
        Payment::Failed(pending)
    }

    fn paid_for(&self, pending: Pending, amount: i64) {
        let paid = Paid {
            code: pending.code,
            seats: pending.seats,
            total: amount,
            quantity: pending.quantity,
        };
        lock(&self.paid).push((pending.event, paid));
    }
}

/// A pause after a 503 or a failure before trying again.
const PAUSE: Duration = RETRY_PAUSE;
/// Most buyer steps of one closed-loop client in one phase.
const STEP_CAP: u64 = 10_000_000;

/// C closed-loop buyers for `duration`: an event not sold out, its seat map, 1–2 free seats
/// booked, paid (a shed payment is tried again until the phase ends), `think` between one step
/// and the next (zero: at once, as fast as the server answers). The 503s are timed against
/// `clock` when given.
pub(crate) async fn closed_loop(
    sale: &Arc<Sale>,
    clients: usize,
    duration: Duration,
    clock: Option<Instant>,
    think: Duration,
) -> (Tally, f64) {
    let start = Instant::now();
    let deadline = start + duration;
    let buyers: Vec<_> = (0..clients.max(1))
        .map(|client| {
            let sale = Arc::clone(sale);
            tokio::spawn(async move {
                let tally = Mutex::new(Tally::default());
                let mut rng = StdRng::from_rng(&mut rand::rng());
                let customer = client % sale.customers.len();
                let mut steps = 0u64;
                while Instant::now() < deadline && steps < STEP_CAP {
                    if steps > 0 && !think.is_zero() {
                        tokio::time::sleep(think.min(deadline - Instant::now())).await;
                    }
                    steps += 1;
                    let event = sale.pick_event(&mut rng);
                    let Some(map) = sale
                        .read_map(&sale.api, event, customer, &tally, clock)
                        .await
                    else {
                        tokio::time::sleep(PAUSE).await;
                        continue;
                    };
                    let wanted = rng.random_range(1..=sale.max_per_booking);
                    let picked = match crate::api::parse_seat_map(&map.body) {
                        Ok(seats) => setup::pick_free_seats(&seats, wanted, &mut rng),
                        Err(error) => {
                            lock(&tally).error(format!("seat map: {error}"));
                            continue;
                        }
                    };
                    if picked.is_empty() {
                        let was = sale.events[event].sold_out.swap(true, Ordering::Relaxed);
                        if was || sale.events_sold_out() == sale.events.len() {
                            tokio::time::sleep(PAUSE).await;
                        }
                        continue;
                    }
                    let mut pending = match sale
                        .book(&sale.api, event, customer, picked, &tally, clock)
                        .await
                    {
                        Placed::Booking(pending) => pending,
                        Placed::Not(Class::Admitted) => continue,
                        Placed::Not(_) => {
                            tokio::time::sleep(PAUSE).await;
                            continue;
                        }
                    };
                    loop {
                        match sale.pay(&sale.api, pending, &tally, clock).await {
                            Payment::Paid => break,
                            Payment::Failed(pending) => {
                                lock(&sale.troubled).push(pending);
                                break;
                            }
                            Payment::Shed(again) if Instant::now() < deadline => {
                                pending = again;
                                tokio::time::sleep(PAUSE).await;
                            }
                            Payment::Shed(again) => {
                                lock(&sale.unpaid).push_back(again);
                                break;
                            }
                        }
                    }
                }
                tally
                    .into_inner()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            })
        })
        .collect();
    let mut total = Tally::default();
    for buyer in buyers {
        match buyer.await {
            Ok(tally) => total.merge(tally),
            Err(error) => total.error(format!("a buyer task failed: {error}")),
        }
    }
    (total, start.elapsed().as_secs_f64())
}

/// Free seats of the latest seat map of one event the rush read, shuffled: bookings take from the
/// end.
#[derive(Default)]
struct SeatPool {
    seats: Vec<i64>,
    read_at: Option<Instant>,
}

impl SeatPool {
    fn read(body: &[u8]) -> Result<SeatPool, String> {
        let mut seats: Vec<i64> = crate::api::parse_seat_map(body)?
            .iter()
            .filter(|seat| !seat.is_booked && seat.status == "available")
            .map(|seat| seat.id)
            .collect();
        seats.shuffle(&mut rand::rng());
        Ok(SeatPool {
            seats,
            read_at: Some(Instant::now()),
        })
    }
}

/// HTTP clients the rush's requests take in turn.
const RUSH_CLIENTS: usize = 64;

/// An event's map older than this is read again when a rush seat-map answer of it comes (the
/// others are not parsed: the load generator shares the machine and must not spend it on maps).
const POOL_REFRESH: Duration = Duration::from_millis(100);

/// What the rush knows of one event's seats.
#[derive(Default)]
struct RushEvent {
    pool: Mutex<SeatPool>,
    /// A map of it is being parsed.
    parsing: AtomicBool,
}

struct Rush {
    sale: Arc<Sale>,
    /// The rush's own clients, apart from the closed-loop buyers', each with its own connection
    /// pool: one pool's bookkeeping grows with the requests waiting on it (a pool of thousands
    /// of waiting requests stalled the load generator for seconds).
    apis: Vec<Api>,
    tally: Mutex<Tally>,
    /// By the event's index in [`Sale::events`].
    events: Vec<RushEvent>,
    /// From an arrival's due time to its request being sent: the load generator's own lag.
    lag: Mutex<Endpoint>,
    start: Instant,
    /// Microseconds after `start` of the latest answer.
    last_answer_us: AtomicU64,
}

impl Rush {
    /// One arrival: a payment of a placed booking (of any event), a booking of seats from the
    /// latest map of `event`, or a seat-map read of it, falling back in that order when there is
    /// nothing to pay or no seat of the event known.
    async fn arrive(&self, kind: Kind, arrival: Arrival, due: Instant, n: u64) {
        let Arrival {
            event,
            customer,
            wanted,
        } = arrival;
        lock(&self.lag).record_latency(due.elapsed());
        let api = &self.apis[n as usize % self.apis.len()];
        let mut kind = kind;
        if kind == Kind::Pay {
            let next = lock(&self.sale.unpaid).pop_front();
            match next {
                Some(pending) => {
                    match self.sale.pay(api, pending, &self.tally, None).await {
                        Payment::Paid => {}
                        Payment::Shed(pending) => lock(&self.sale.unpaid).push_back(pending),
                        Payment::Failed(pending) => lock(&self.sale.troubled).push(pending),
                    }
                    self.answered();
                    return;
                }
                None => kind = Kind::Book,
            }
        }
        if kind == Kind::Book {
            let picked = {
                let mut pool = lock(&self.events[event].pool);
                let keep = pool.seats.len().saturating_sub(wanted);
                let mut picked = pool.seats.split_off(keep);
                picked.sort_unstable();
                picked
            };
            if !picked.is_empty() {
                if let Placed::Booking(pending) = self
                    .sale
                    .book(api, event, customer, picked, &self.tally, None)
                    .await
                {
                    lock(&self.sale.unpaid).push_back(pending);
                }
                self.answered();
                return;
            }
        }
        if let Some(map) = self
            .sale
            .read_map(api, event, customer, &self.tally, None)
            .await
        {
            self.refill(event, &map.body);
        }
        self.answered();
    }

    fn answered(&self) {
        self.last_answer_us
            .fetch_max(self.start.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    /// Refills the event's pool from a seat map of it when the pool is stale or empty (one parse
    /// at a time per event).
    fn refill(&self, event: usize, body: &[u8]) {
        let known = &self.events[event];
        {
            let pool = lock(&known.pool);
            let fresh = pool.read_at.is_some_and(|at| at.elapsed() < POOL_REFRESH);
            if fresh && !pool.seats.is_empty() {
                return;
            }
        }
        if known
            .parsing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        match SeatPool::read(body) {
            Ok(pool) => {
                if pool.seats.is_empty() {
                    self.sale.events[event]
                        .sold_out
                        .store(true, Ordering::Relaxed);
                }
                *lock(&known.pool) = pool;
            }
            Err(error) => lock(&self.tally).error(format!("seat map: {error}")),
        }
        known.parsing.store(false, Ordering::Release);
    }
}

/// The most files this process may open (the soft limit), if known.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// What one arrival works on.
struct Arrival {
    /// The event's index in [`Sale::events`].
    event: usize,
    customer: usize,
    /// Seats a booking takes.
    wanted: usize,
}

/// The rush's arrivals as they were scheduled and sent.
struct Arrivals {
    due: u64,
    dropped: u64,
    peak_outstanding: usize,
    seconds: f64,
}

/// Open-loop arrivals at `target` a second for `duration`: each one spawned at its time, none
/// waiting for another; at most `max_outstanding` waiting at once, the rest dropped and counted.
async fn arrivals(
    rush: &Arc<Rush>,
    permits: &Arc<Semaphore>,
    max_outstanding: usize,
    target: f64,
    duration: Duration,
    weights: [u64; 3],
) -> Arrivals {
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let start = rush.start;
    let end = start + duration;
    let most = (target * duration.as_secs_f64()).ceil() as u64;
    let weight_sum = weights.iter().sum::<u64>().max(1);
    let (mut due, mut dropped, mut peak) = (0u64, 0u64, 0usize);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let until = (now.min(end) - start).as_secs_f64();
        let due_now = ((until * target) as u64).min(most);
        while due < due_now {
            let at = start + Duration::from_secs_f64(due as f64 / target);
            due += 1;
            let Ok(permit) = Arc::clone(permits).try_acquire_owned() else {
                dropped += 1;
                continue;
            };
            let pick = rng.random_range(0..weight_sum);
            let kind = if pick < weights[0] {
                Kind::SeatMap
            } else if pick < weights[0] + weights[1] {
                Kind::Book
            } else {
                Kind::Pay
            };
            let arrival = Arrival {
                event: rush.sale.pick_event(&mut rng),
                customer: rng.random_range(0..rush.sale.customers.len()),
                wanted: rng.random_range(1..=rush.sale.max_per_booking),
            };
            let rush = Arc::clone(rush);
            tokio::spawn(async move {
                let _permit = permit;
                rush.arrive(kind, arrival, at, due).await;
            });
        }
        peak = peak.max(max_outstanding - permits.available_permits());
        if now >= end {
            break;
        }
    }
    Arrivals {
        due,
        dropped,
        peak_outstanding: peak,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Pays what is still unpaid at the end (a 503 is tried again). A payment that fails is read
/// back: a booking found confirmed was paid (its answer was lost); anything else is reported.
async fn settle(sale: &Sale, admin: &str, tally: &Mutex<Tally>) -> (u64, Vec<String>) {
    let mut left: Vec<Pending> = lock(&sale.unpaid).drain(..).collect();
    left.append(&mut lock(&sale.troubled));
    let (mut settled, mut problems) = (0u64, Vec::new());
    for pending in left {
        let mut pending = pending;
        let mut tries = 0;
        let outcome = loop {
            tries += 1;
            match sale.pay(&sale.api, pending, tally, None).await {
                Payment::Paid => break None,
                Payment::Shed(again) if tries < 50 => {
                    pending = again;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Payment::Shed(again) | Payment::Failed(again) => break Some(again),
            }
        };
        let Some(pending) = outcome else {
            settled += 1;
            continue;
        };
        let reply = sale
            .api
            .get(&format!("/api/bookings/{}", pending.code), Some(admin))
            .await;
        match reply.json::<Booking>() {
            Ok(booking) if reply.ok() && booking.status == "confirmed" => {
                settled += 1;
                let total = booking.total_price;
                sale.paid_for(pending, total);
            }
            Ok(booking) if reply.ok() => problems.push(format!(
                "booking {} was placed but could not be paid: it reads {}",
                pending.code, booking.status
            )),
            _ => problems.push(format!(
                "booking {} was placed but could not be paid or read back: {}",
                pending.code,
                reply.describe()
            )),
        }
    }
    (settled, problems)
}

/// The books after a sale: what is still unpaid is paid ([`settle`]), then every event's books are
/// checked against the paid bookings ([`books::verify_events`]). The settling's answers, how many
/// bookings were paid at the end, every paid booking (with its event's index in `events`), and
/// the violations found.
pub(crate) async fn settle_and_verify(
    sale: &Sale,
    admin: &str,
    events: &[EventAnswer],
    seats: u32,
    dashboard_before: &DashboardAnswer,
) -> Result<(Tally, u64, Vec<(usize, Paid)>, Vec<String>), String> {
    let settle_tally = Mutex::new(Tally::default());
    let (settled, mut violations) = settle(sale, admin, &settle_tally).await;
    let settle_tally = settle_tally
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let paid = std::mem::take(&mut *lock(&sale.paid));
    let mut by_event: Vec<Vec<Paid>> = vec![Vec::new(); events.len()];
    for (event, booking) in &paid {
        by_event[*event].push(booking.clone());
    }
    let sales: Vec<(&EventAnswer, &[Paid])> = events
        .iter()
        .zip(&by_event)
        .map(|(event, paid)| (event, paid.as_slice()))
        .collect();
    violations
        .extend(books::verify_events(&sale.api, admin, &sales, seats, dashboard_before).await?);
    Ok((settle_tally, settled, paid, violations))
}

fn phase_line(name: &str, tally: &Tally, seconds: f64) -> String {
    let admitted = tally.admitted_all();
    format!(
        "{name}: {:.1} s, {} requests ({:.1}/s admitted), p50 {} p99 {} ms admitted; {} shed with 503 (p99 {} ms), {} 409s, {} failures",
        seconds,
        tally.admitted_count() + tally.shed_count() + tally.failed.total(),
        rate(tally.admitted_count(), seconds),
        fmt_ms(admitted.ms(0.50)),
        fmt_ms(admitted.ms(0.99)),
        tally.shed_count(),
        fmt_ms(tally.shed_all().ms(0.99)),
        tally.seat_conflicts + tally.other_conflicts,
        tally.failures(),
    )
}

fn print_tables(tally: &Tally, seconds: f64) {
    print!("{}", tally.admitted.table(seconds));
    if tally.shed_count() > 0 {
        println!("    shed with 503:");
        print!("{}", tally.shed.table(seconds));
    }
    if tally.failed.total() > 0 {
        println!("    failed (5xx other than 503, no answer):");
        print!("{}", tally.failed.table(seconds));
    }
}

fn cpu_json(cpu: (Option<f64>, Option<f64>)) -> Value {
    json!({"loadgen_cpu_s": cpu.0.map(round3), "server_cpu_s": cpu.1.map(round3)})
}

pub async fn run(common: &Common, args: &OverloadArgs) -> Result<bool, String> {
    // A socket per outstanding request, and as many kept idle in the pools at most.
    let (max_outstanding, lowered) = match open_files_limit() {
        Some(limit) if limit < 2 * args.max_outstanding + 1024 => {
            let lowered = (limit.saturating_sub(1024) / 2).max(64);
            (lowered, Some(limit))
        }
        _ => (args.max_outstanding.max(1), None),
    };
    let api = common.api(args.clients + 4)?;
    let admin = setup::admin_token(&api, &common.admin_email, &common.admin_password).await?;
    let duration = Duration::from_secs(args.duration.max(1));
    let rush_duration = Duration::from_secs(args.rush_duration.unwrap_or(args.duration).max(1));
    let tag = setup::run_tag();
    println!(
        "overload [{}]: {} events of {} seats, {} customers; the on-sale load ({} buyers) for {} s: its request rate is the sustainable rate R; then a rush of {}× R for {} s, then {} buyers again for {} s, against {}",
        common.label,
        args.events.max(1),
        args.seats,
        args.customers,
        args.clients,
        duration.as_secs(),
        args.factor,
        rush_duration.as_secs(),
        args.clients,
        duration.as_secs(),
        api.base()
    );
    if let Some(limit) = lowered {
        println!(
            "  note: --max-outstanding {} lowered to {max_outstanding}: a socket each, and as many idle, within the limit of {limit} open files",
            args.max_outstanding
        );
    }
    let setup_started = Instant::now();
    let customers =
        setup::register_customers(&api, &tag, args.customers.max(1), args.register_concurrency)
            .await?;
    let events = setup::create_events(
        &api,
        &admin,
        &format!("Overload bench {tag}"),
        args.events.max(1),
        args.seats,
        args.seats_per_row,
        args.price,
        args.register_concurrency,
    )
    .await?;
    let dashboard_before = books::dashboard(&api, &admin).await?;
    let ids = events.iter().map(|event| event.id);
    let event_ids = format!(
        "{}–{}",
        ids.clone().min().unwrap_or(0),
        ids.max().unwrap_or(0)
    );
    println!(
        "  set-up: {} customers, events {event_ids} in {:.1} s",
        customers.len(),
        setup_started.elapsed().as_secs_f64()
    );
    let sale = Arc::new(Sale::new(
        api.clone(),
        &events,
        customers,
        args.max_seats_per_booking,
    )?);

    // 1. Baseline.
    let cpu = CpuWindow::start(common.server_pid.as_deref());
    let (baseline, baseline_s) =
        closed_loop(&sale, args.clients, duration, None, Duration::ZERO).await;
    let baseline_cpu = cpu.end();
    let requests = baseline.admitted_count() + baseline.shed_count() + baseline.failed.total();
    let sustainable = rate(baseline.admitted_count(), baseline_s);
    let baseline_p99 = baseline.admitted_all().ms(0.99);
    println!("  {}", phase_line("baseline", &baseline, baseline_s));
    print_tables(&baseline, baseline_s);
    println!(
        "  {}",
        crate::cpu_line(baseline_cpu.0, baseline_cpu.1, baseline_s)
    );
    if sustainable <= 0.0 {
        return Err(format!(
            "the baseline served no request ({requests} sent): nothing to rush against"
        ));
    }

    // 2. The rush.
    let target = args.factor * sustainable;
    let weights = [
        baseline.kind_count(Kind::SeatMap).max(1),
        baseline.kind_count(Kind::Book),
        baseline.kind_count(Kind::Pay),
    ];
    // The first map of every event, unmeasured, so that the first bookings have seats to take.
    let mut known = Vec::with_capacity(sale.events.len());
    for event in &sale.events {
        let first = api.get(&event.seats_path, Some(sale.token(0))).await;
        let pool = if first.ok() {
            SeatPool::read(&first.body)?
        } else {
            SeatPool::default()
        };
        known.push(RushEvent {
            pool: Mutex::new(pool),
            parsing: AtomicBool::new(false),
        });
    }
    let apis = (0..RUSH_CLIENTS)
        .map(|_| common.api(max_outstanding.div_ceil(RUSH_CLIENTS)))
        .collect::<Result<Vec<_>, _>>()?;
    let rush = Arc::new(Rush {
        sale: Arc::clone(&sale),
        apis,
        tally: Mutex::new(Tally::default()),
        events: known,
        lag: Mutex::new(Endpoint::default()),
        start: Instant::now(),
        last_answer_us: AtomicU64::new(0),
    });
    println!(
        "  rush: {:.0} arrivals/s ({}× {:.1} req/s) for {} s, mix seat map / book / pay {} / {} / {}, at most {} outstanding",
        target,
        args.factor,
        sustainable,
        rush_duration.as_secs(),
        weights[0],
        weights[1],
        weights[2],
        max_outstanding
    );
    let permits = Arc::new(Semaphore::new(max_outstanding));
    // The rush runs on a runtime of its own, so that its thousands of tasks never delay the
    // recovery's buyers (nor their clocks) in the load generator.
    let rush_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(common.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        }))
        .thread_name("rush")
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the rush's runtime: {error}"))?;
    let cpu = CpuWindow::start(common.server_pid.as_deref());
    let sent = rush_runtime
        .spawn({
            let (rush, permits) = (Arc::clone(&rush), Arc::clone(&permits));
            async move {
                arrivals(
                    &rush,
                    &permits,
                    max_outstanding,
                    target,
                    rush_duration,
                    weights,
                )
                .await
            }
        })
        .await
        .map_err(|error| format!("the rush failed: {error}"))?;
    let rush_cpu = cpu.end();
    let rush_end = Instant::now();

    // 3. Recovery, while what the rush left outstanding drains.
    let cpu = CpuWindow::start(common.server_pid.as_deref());
    let (recovery, recovery_s) = closed_loop(
        &sale,
        args.clients,
        duration,
        Some(rush_end),
        Duration::ZERO,
    )
    .await;
    let recovery_cpu = cpu.end();
    let horizon = rush_end.elapsed().as_secs_f64();
    let drained = tokio::time::timeout(
        Duration::from_secs(common.timeout_secs + 10),
        permits.acquire_many(max_outstanding as u32),
    )
    .await;
    rush_runtime.shutdown_background();
    if !matches!(drained, Ok(Ok(_))) {
        return Err(format!(
            "{} rush requests were still outstanding {} s after the recovery",
            max_outstanding - permits.available_permits(),
            common.timeout_secs + 10
        ));
    }
    let drain_s =
        (rush.last_answer_us.load(Ordering::Relaxed) as f64 / 1e6 - sent.seconds).max(0.0);
    let rush_tally = std::mem::take(&mut *lock(&rush.tally));
    let lag = lock(&rush.lag).clone();

    let rush_s = sent.seconds;
    let arrival_rps = rate(sent.due, rush_s);
    let sent_rps = rate(sent.due - sent.dropped, rush_s);
    let admitted_p99 = rush_tally.admitted_all().ms(0.99);
    let shed_p99 = rush_tally.shed_all().ms(0.99);
    let ratio = if baseline_p99 > 0.0 {
        admitted_p99 / baseline_p99
    } else {
        0.0
    };
    let ratio_met = baseline_p99 > 0.0 && ratio <= args.max_p99_ratio;
    println!(
        "  rush: {:.1} s, {} arrivals ({:.0}/s of {:.0}/s targeted), {} sent, {} dropped by the load generator (outstanding peak {} of {}), arrival lag p99 {} ms; answers drained {:.2} s after the last arrival",
        rush_s,
        sent.due,
        arrival_rps,
        target,
        sent.due - sent.dropped,
        sent.dropped,
        sent.peak_outstanding,
        max_outstanding,
        fmt_ms(lag.ms(0.99)),
        drain_s
    );
    println!("  {}", phase_line("rush", &rush_tally, rush_s));
    print_tables(&rush_tally, rush_s);
    println!("  {}", crate::cpu_line(rush_cpu.0, rush_cpu.1, rush_s));

    let mut answers = recovery.answers.clone();
    answers.sort_by(|a, b| a.at.total_cmp(&b.at));
    let recovered = recovered_after(&answers, args.quiet_window, horizon, None);
    let fast_limit = args.max_p99_ratio * baseline_p99;
    let fast_again = recovered_after(&answers, args.quiet_window, horizon, Some(fast_limit));
    let recovery_p99 = recovery.admitted_all().ms(0.99);
    println!("  {}", phase_line("recovery", &recovery, recovery_s));
    print_tables(&recovery, recovery_s);
    println!(
        "  {}",
        crate::cpu_line(recovery_cpu.0, recovery_cpu.1, recovery_s)
    );
    println!(
        "  recovery: {}; {}; p99 {} ms ({:.2}× the baseline's), {} 503s",
        match recovered {
            Some(seconds) => format!(
                "the first {} s without a 503 began {seconds:.2} s after the rush",
                args.quiet_window
            ),
            None => format!(
                "NO {} s without a 503 within {horizon:.1} s of the rush",
                args.quiet_window
            ),
        },
        match fast_again {
            Some(seconds) => format!(
                "fast again (no 503 and p99 ≤ {} ms for {} s) {seconds:.2} s after it",
                fmt_ms(fast_limit),
                args.quiet_window
            ),
            None => format!(
                "NOT fast again (no 503 and p99 ≤ {} ms for {} s) before the recovery ended",
                fmt_ms(fast_limit),
                args.quiet_window
            ),
        },
        fmt_ms(recovery_p99),
        if baseline_p99 > 0.0 {
            recovery_p99 / baseline_p99
        } else {
            0.0
        },
        recovery.shed_count()
    );

    // 4. Whatever is still unpaid is paid; then the books.
    let (settle_tally, settled, paid, mut violations) =
        settle_and_verify(&sale, &admin, &events, args.seats, &dashboard_before).await?;
    let mut all = Tally::default();
    for tally in [&baseline, &rush_tally, &recovery, &settle_tally] {
        all.bad_shed += tally.bad_shed;
        all.other_conflicts += tally.other_conflicts;
        all.errors += tally.errors;
        all.failed.merge(&tally.failed);
        for line in &tally.error_lines {
            if all.error_lines.len() < ERROR_LINES {
                all.error_lines.push(line.clone());
            }
        }
    }
    if all.other_conflicts > 0 {
        violations.push(format!(
            "{} 409s were not seat races (start the server with MAX_TICKETS_PER_USER=0)",
            all.other_conflicts
        ));
    }
    let seats_sold: i64 = paid.iter().map(|(_, booking)| booking.quantity).sum();
    let seats_on_sale = u64::from(args.seats) * events.len() as u64;
    let events_sold_out = sale.events_sold_out();
    let sold_out = events_sold_out == events.len();
    let failures = all.failures();
    let server_errors = all.failed.server_errors();
    println!(
        "  books: {} paid bookings ({} paid at the end), {} of {} seats sold, {} of {} events sold out{}; verification {} ({} events)",
        paid.len(),
        settled,
        seats_sold,
        seats_on_sale,
        events_sold_out,
        events.len(),
        if sold_out {
            " — ALL SOLD OUT during the run: the figures after it read seat maps only (use more --events)"
        } else {
            ""
        },
        if violations.is_empty() {
            "OK"
        } else {
            "FAILED"
        },
        events.len()
    );
    for line in &all.error_lines {
        println!("  error: {line}");
    }
    for violation in &violations {
        eprintln!("  *** VIOLATION: {violation}");
    }
    if failures > 0 {
        eprintln!(
            "  *** {failures} failures: {server_errors} 5xx other than 503, {} without an answer, {} 503s out of shape",
            all.failed.transport_errors(),
            all.bad_shed
        );
    }
    if all.errors > failures {
        eprintln!(
            "  *** {} unexpected answers (see the errors above)",
            all.errors - failures
        );
    }
    let passed = violations.is_empty() && all.errors == 0;
    println!(
        "  headline: R {:.1} req/s (the on-sale load: {} buyers, {} events of {} seats); baseline p99 {} ms; rush admitted p99 {} ms = {:.2}× (target ≤ {}×: {}), {} shed (p99 {} ms), {} failures, {} dropped by the load generator; recovery p99 {} ms, {}; {}",
        sustainable,
        args.clients,
        events.len(),
        args.seats,
        fmt_ms(baseline_p99),
        fmt_ms(admitted_p99),
        ratio,
        args.max_p99_ratio,
        if ratio_met { "met" } else { "MISSED" },
        rush_tally.shed_count(),
        fmt_ms(shed_p99),
        rush_tally.failures(),
        sent.dropped,
        fmt_ms(recovery_p99),
        recovered.map_or("not recovered".to_string(), |s| format!("no 503 from {s:.2} s after the rush")),
        if passed { "no failures, no violations" } else { "FAILED" }
    );

    let mut line = json!({
        "scenario": "overload",
        "label": common.label,
        "base_url": api.base(),
        "clients": args.clients,
        "customers": args.customers,
        "seats": args.seats,
        "events": events.len(),
        "event_ids": event_ids,
        "duration_s": duration.as_secs(),
        "factor": args.factor,
        "sustainable_rps": sustainable,
        "rush_target_rps": round3(target),
        "rush_arrival_rps": arrival_rps,
        "rush_sent_rps": sent_rps,
        "rush_arrivals": sent.due,
        "generator_dropped": sent.dropped,
        "max_outstanding": max_outstanding,
        "peak_outstanding": sent.peak_outstanding,
        "arrival_lag_p99_ms": round3(lag.ms(0.99)),
        "rush_drain_s": round3(drain_s),
        "admitted": rush_tally.admitted_count(),
        "shed_503": rush_tally.shed_count(),
        "conflicts_409": rush_tally.seat_conflicts + rush_tally.other_conflicts,
        "failures": failures,
        "rush_failures": rush_tally.failures(),
        "baseline_p99_ms": round3(baseline_p99),
        "rush_admitted_p99_ms": round3(admitted_p99),
        "rush_admitted_rps": rate(rush_tally.admitted_count(), rush_s),
        "rush_shed_p99_ms": round3(shed_p99),
        "recovery_p99_ms": round3(recovery_p99),
    });
    // Two halves: one json! of every field passes the macro's recursion limit.
    let rest = json!({
        "recovery_503": recovery.shed_count(),
        "recovery_s": recovered.map(round3),
        "recovery_fast_s": fast_again.map(round3),
        "p99_ratio": round3(ratio),
        "max_p99_ratio": args.max_p99_ratio,
        "p99_ratio_met": ratio_met,
        "bookings": paid.len(),
        "settled_at_end": settled,
        "seats_sold": seats_sold,
        "seats_on_sale": seats_on_sale,
        "events_sold_out": events_sold_out,
        "sold_out": sold_out,
        "server_errors_5xx": server_errors,
        "errors": all.errors,
        "violations": violations,
        "baseline": baseline.to_json(baseline_s),
        "rush": rush_tally.to_json(rush_s),
        "recovery": recovery.to_json(recovery_s),
        "cpu": {
            "baseline": cpu_json(baseline_cpu),
            "rush": cpu_json(rush_cpu),
            "recovery": cpu_json(recovery_cpu),
        },
        "ok": passed,
    });
    if let (Some(line), Value::Object(rest)) = (line.as_object_mut(), rest) {
        line.extend(rest);
    }
    common.write_json(line)?;
    Ok(passed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::reply;

    #[test]
    fn answers_are_admitted_shed_or_failed() {
        let mut tally = Tally::default();
        let shed = r#"{"status":"error","code":503,"message":"Busy."}"#;
        assert_eq!(
            tally.note(Kind::Book, &reply(201, None, "{}"), None),
            Class::Admitted
        );
        assert_eq!(
            tally.note(Kind::Book, &reply(409, None, "{}"), None),
            Class::Admitted
        );
        assert_eq!(
            tally.note(Kind::Pay, &reply(503, Some("1"), shed), None),
            Class::Shed
        );
        assert_eq!(
            tally.note(Kind::Pay, &reply(503, None, shed), None),
            Class::Shed
        );
        assert_eq!(
            tally.note(Kind::Pay, &reply(500, None, "{}"), None),
            Class::Failed
        );
        assert_eq!(
            tally.note(Kind::SeatMap, &reply(0, None, ""), None),
            Class::Failed
        );
        assert_eq!(tally.admitted_count(), 2);
        assert_eq!(tally.shed_count(), 2);
        assert_eq!(tally.bad_shed, 1);
        assert_eq!(tally.failures(), 3);
        assert_eq!(tally.failed.server_errors(), 1);
        assert_eq!(tally.kind_count(Kind::Pay), 3);
        assert_eq!(tally.errors, 3);
    }

    #[test]
    fn buyers_pick_events_not_sold_out() {
        let events: Vec<OnSale> = (0..10)
            .map(|id| OnSale {
                id,
                phase_id: id,
                seats_path: String::new(),
                sold_out: AtomicBool::new(id % 3 != 0),
            })
            .collect();
        let mut rng = StdRng::seed_from_u64(3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let index = pick_open(&events, &mut rng);
            assert_eq!(index % 3, 0, "{index} is sold out");
            seen.insert(index);
        }
        assert_eq!(seen.len(), 4, "every open event gets buyers: {seen:?}");
        for event in &events {
            event.sold_out.store(true, Ordering::Relaxed);
        }
        assert!(pick_open(&events, &mut rng) < events.len());
    }

    fn answers(list: &[(f64, f64, Class)]) -> Vec<Answer> {
        list.iter()
            .map(|&(at, ms, class)| Answer { at, ms, class })
            .collect()
    }

    #[test]
    fn recovery_is_the_start_of_the_first_quiet_window() {
        use Class::{Admitted as A, Shed as S};
        let every_100ms = |until: f64, shed_until: f64| {
            answers(
                &(0..(until * 10.0) as usize)
                    .map(|i| {
                        let at = i as f64 / 10.0;
                        (at, 5.0, if at < shed_until { S } else { A })
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let calm = every_100ms(10.0, 0.0);
        assert_eq!(recovered_after(&calm, 2.0, 10.0, None), Some(0.0));
        let shed = every_100ms(10.0, 3.0);
        // The last 503 came at 2.9 s: the window starts on the grid step right after it.
        let at = recovered_after(&shed, 2.0, 10.0, None).unwrap();
        assert!(at > 2.85 && at < 2.96, "{at}");
        assert_eq!(
            recovered_after(&every_100ms(10.0, 8.5), 2.0, 10.0, None),
            None
        );
        // No answers at all is no recovery.
        assert_eq!(recovered_after(&[], 2.0, 10.0, None), None);
        // Slow answers: recovered from 503s, not fast again until they are fast.
        let slow = answers(&[
            (0.5, 900.0, A),
            (1.5, 800.0, A),
            (3.0, 5.0, A),
            (4.0, 5.0, A),
        ]);
        assert_eq!(recovered_after(&slow, 2.0, 10.0, None), Some(0.0));
        let fast = recovered_after(&slow, 2.0, 10.0, Some(10.0)).unwrap();
        assert!((fast - 1.55).abs() < 1e-9, "{fast}");
        // A failure is no better than a 503; a window needs answers.
        let failed = answers(&[(0.5, 1.0, Class::Failed), (3.0, 1.0, A)]);
        let at = recovered_after(&failed, 2.0, 10.0, None).unwrap();
        assert!((at - 1.05).abs() < 1e-9, "{at}");
    }
}
