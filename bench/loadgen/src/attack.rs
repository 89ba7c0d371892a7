//! `attack`: the same genuine traffic measured twice, unloaded and then while an attack runs
//! (issue "security, round two": slow or greedy clients must not take the API down).
//!
//! Genuine traffic, from 127.0.0.1 (the base URL's own address): B browsers (the event list, then
//! the seat map of one of the events on sale, and again) and B buyers (as `overload`'s: an event
//! not sold out, its seat map, 1–2 free seats booked, paid), closed-loop with a pause of
//! `--think-ms` between steps, so that the server is busy but not saturated; and an open-loop
//! trickle of logins (`--login-rate` a second) of accounts made during set-up. Each class's
//! p50/p95/p99, its answers, its 503s; the genuine p99 under attack against the unloaded one.
//! Then every event's books are verified as after an on-sale ([`books::verify_events`]).
//!
//! The attacks (`--kind`), started `--lead-in` seconds before the measured window and stopped at
//! its end:
//! - `slow-clients`: `--slow-bodies` connections that send the headers of `POST
//!   /api/users/login` with `Content-Length: 100` and one byte of body, then nothing (any the
//!   server closes is opened again); one HTTP/2 connection with prior knowledge (the server needs
//!   `HTTP2_CLEARTEXT=true`) opening `--h2-streams` streams that each send their headers and one
//!   byte of body, then stall (a stream the server ends is opened again); and
//!   `--header-tricklers` connections that send a request's headers at one byte a second. All
//!   from the first attack address. Counted: how many the server cut off, how (408, or closed
//!   without an answer), and after how long.
//! - `password-flood`: `--attackers` requests in flight from `--addresses` source addresses
//!   (127.0.1.1, 127.0.1.2, … : Linux answers from all of 127.0.0.0/8 without set-up), each as
//!   fast as it can (or `--address-rate` a second per address): password changes with a wrong
//!   `old_password` (each attacker logged in as an account of its own, made in set-up), logins
//!   with wrong passwords of the genuine users' accounts, and logins of addresses nobody
//!   registered. The server should run at the production `BCRYPT_COST=12`.
//! - `signup-flood`: the same attackers signing up with emails already taken (the genuine
//!   users') and, counted apart, with fresh ones.
//!
//! The per-address throttles (`LOGIN_ATTEMPTS_PER_ADDRESS`, `REGISTRATIONS_PER_ADDRESS`, the
//! connections per address) let attackers through in proportion to the addresses they use: that
//! is the attack measured, with the number of addresses reported. Set-up signs the genuine users
//! up from addresses of their own (127.0.3.x, at most 15 each) so that it fits the sign-up
//! limit; the buyers book far faster than people (`BOOKINGS_PER_CUSTOMER=0`) and buy thousands
//! of seats (`MAX_TICKETS_PER_USER=0`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::api::{shed_reason, Api, CpuWindow, Reply, RETRY_PAUSE};
use crate::books;
use crate::overload::{self, Sale, Tally};
use crate::setup::{self, Customer};
use crate::stats::{fmt_ms, rate, round3, Endpoint, Stats};
use crate::Common;

/// What the attackers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AttackKind {
    /// Connections that hold a request open: bodies that never finish, stalled HTTP/2 streams,
    /// headers trickled in.
    SlowClients,
    /// Password changes with a wrong old password and logins with wrong passwords, from many
    /// addresses.
    PasswordFlood,
    /// Sign-ups with taken and with fresh emails, from many addresses.
    SignupFlood,
}

impl AttackKind {
    fn name(self) -> &'static str {
        match self {
            AttackKind::SlowClients => "slow-clients",
            AttackKind::PasswordFlood => "password-flood",
            AttackKind::SignupFlood => "signup-flood",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct AttackArgs {
    /// The attack.
    #[arg(long, value_enum)]
    pub kind: AttackKind,
    /// Genuine browsers (event list, then a seat map), closed-loop, from 127.0.0.1.
    #[arg(long, default_value_t = 16)]
    pub browsers: usize,
    /// Genuine buyers (seat map, book 1–2 free seats, pay), closed-loop, from 127.0.0.1.
    #[arg(long, default_value_t = 16)]
    pub buyers: usize,
    /// Milliseconds a genuine browser or buyer pauses between steps: busy, not saturated.
    #[arg(long, default_value_t = 100)]
    pub think_ms: u64,
    /// Seconds of genuine traffic unloaded, and again under attack.
    #[arg(long, short = 'd', default_value_t = 10)]
    pub duration: u64,
    /// Seconds the attack runs before the genuine traffic is measured under it.
    #[arg(long, default_value_t = 2)]
    pub lead_in: u64,
    /// Genuine logins started a second (open loop), from 127.0.0.1; 0 for none.
    #[arg(long, default_value_t = 2.0)]
    pub login_rate: f64,
    /// Genuine accounts the logins rotate over (made in set-up; also the accounts the password
    /// flood guesses at and whose emails the sign-up flood reuses).
    #[arg(long, default_value_t = 8)]
    pub login_users: usize,
    /// Events on sale (the buyers move to another when one sells out).
    #[arg(long, short = 'k', default_value_t = 20)]
    pub events: usize,
    /// Seats of each event.
    #[arg(long, short = 's', default_value_t = 1000)]
    pub seats: u32,
    #[arg(long, default_value_t = 50)]
    pub seats_per_row: u32,
    /// Source addresses of the floods: `--first-address` and the ones after it.
    #[arg(long, default_value_t = 32)]
    pub addresses: usize,
    /// The first attack address (a loopback address, for a server on loopback).
    #[arg(long, default_value = "127.0.1.1")]
    pub first_address: Ipv4Addr,
    /// The first of the addresses the genuine users sign up from in set-up.
    #[arg(long, default_value = "127.0.3.1")]
    pub setup_first_address: Ipv4Addr,
    /// Flood requests in flight at once, spread over the addresses.
    #[arg(long, default_value_t = 64)]
    pub attackers: usize,
    /// Flood attempts a second from each address at most; 0: as fast as the server answers.
    #[arg(long, default_value_t = 0.0)]
    pub address_rate: f64,
    /// Accounts the password flood's attackers log in as (each changes passwords of its own).
    #[arg(long, default_value_t = 16)]
    pub attacker_accounts: usize,
    /// slow-clients: connections holding a request body after its first byte.
    #[arg(long, default_value_t = 64)]
    pub slow_bodies: usize,
    /// slow-clients: streams of the one HTTP/2 connection, each stalled after one byte of body.
    #[arg(long, default_value_t = 64)]
    pub h2_streams: usize,
    /// slow-clients: connections sending a request's headers at one byte a second.
    #[arg(long, default_value_t = 8)]
    pub header_tricklers: usize,
    /// The target: genuine p99 under attack at most this many times the unloaded one.
    #[arg(long, default_value_t = 2.0)]
    pub max_p99_ratio: f64,
    /// Sign-ups (and logins) in flight at once during set-up.
    #[arg(long, default_value_t = 4)]
    pub register_concurrency: usize,
}

/// Most loop turns of one client, connection or stream in one phase (each is also bounded by
/// the phase's deadline).
const STEP_CAP: u64 = 10_000_000;
/// Most connections one slow client opens again in one attack.
const REOPEN_CAP: u64 = 10_000;
/// Genuine accounts signed up from one set-up address: under `REGISTRATIONS_PER_ADDRESS` (20).
const SIGNUPS_PER_SETUP_ADDRESS: usize = 15;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `index`th address from `first` on.
fn nth_address(first: Ipv4Addr, index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(first).wrapping_add(index as u32)))
}

/// 503s by the bound that refused them ([`shed_reason`]).
type Reasons = BTreeMap<&'static str, u64>;

fn add_reasons(into: &mut Reasons, from: &Reasons) {
    for (reason, count) in from {
        *into.entry(reason).or_default() += count;
    }
}

/// `in-flight bound ×3, password checks ×40`.
fn reasons_text(reasons: &Reasons) -> String {
    reasons
        .iter()
        .map(|(reason, count)| format!("{reason} ×{count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Answers by status (0: no answer), with their latencies.
#[derive(Default, Clone)]
struct Answers {
    by_status: BTreeMap<u16, u64>,
    /// The 503s by the bound that refused them.
    shed_reasons: Reasons,
    all: Endpoint,
    /// The 2xx answers' latencies.
    ok: Endpoint,
}

impl Answers {
    fn record(&mut self, reply: &Reply) {
        *self.by_status.entry(reply.status).or_default() += 1;
        if reply.status == 503 {
            *self.shed_reasons.entry(shed_reason(reply)).or_default() += 1;
        }
        self.all.record_latency(reply.elapsed);
        if reply.ok() {
            self.ok.record_latency(reply.elapsed);
        }
    }

    fn merge(&mut self, other: &Answers) {
        for (status, count) in &other.by_status {
            *self.by_status.entry(*status).or_default() += count;
        }
        add_reasons(&mut self.shed_reasons, &other.shed_reasons);
        self.all.merge(&other.all);
        self.ok.merge(&other.ok);
    }

    fn with(&self, accept: impl Fn(u16) -> bool) -> u64 {
        self.by_status
            .iter()
            .filter(|(status, _)| accept(**status))
            .map(|(_, count)| count)
            .sum()
    }

    fn total(&self) -> u64 {
        self.with(|_| true)
    }

    fn ok_count(&self) -> u64 {
        self.with(|status| (200..300).contains(&status))
    }

    /// `200 ×12, 503 ×40`; no answer is `none`.
    fn statuses(&self) -> String {
        if self.by_status.is_empty() {
            return "nothing sent".to_string();
        }
        self.by_status
            .iter()
            .map(|(status, count)| match status {
                0 => format!("no answer ×{count}"),
                503 => format!("503 ×{count} ({})", reasons_text(&self.shed_reasons)),
                status => format!("{status} ×{count}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn to_json(&self) -> Value {
        let statuses: serde_json::Map<String, Value> = self
            .by_status
            .iter()
            .map(|(status, count)| (status.to_string(), json!(count)))
            .collect();
        json!({
            "count": self.total(),
            "ok": self.ok_count(),
            "shed_503": self.with(|status| status == 503),
            "throttled_429": self.with(|status| status == 429),
            "no_answer": self.with(|status| status == 0),
            "shed_reasons": self.shed_reasons,
            "by_status": statuses,
            "p50_ms": round3(self.all.ms(0.50)),
            "p99_ms": round3(self.all.ms(0.99)),
            "ok_p50_ms": round3(self.ok.ms(0.50)),
            "ok_p99_ms": round3(self.ok.ms(0.99)),
            "ok_max_ms": round3(self.ok.max_ms()),
        })
    }
}

/// One class of genuine traffic, summed up: its answered requests' latency (a 503 or a failure
/// never flatters it), and its answers by kind.
struct Class {
    answered: Endpoint,
    ok: u64,
    /// The 409s of seat races (buyers racing each other for a seat: normal).
    conflicts: u64,
    /// The documented 503 of a server shedding load.
    shed: u64,
    /// 4xx other than a seat race's 409.
    client_errors: u64,
    /// 5xx other than 503, a 503 out of shape, no answer.
    failures: u64,
}

impl Class {
    fn of_browsing(stats: &Stats) -> Class {
        let mut answered = Endpoint::default();
        for (name, endpoint) in &stats.endpoints {
            if !name.contains(" [") {
                answered.merge(endpoint);
            }
        }
        Class {
            answered,
            ok: stats.endpoints.values().map(|e| e.ok).sum(),
            conflicts: stats.endpoints.values().map(|e| e.conflict).sum(),
            shed: stats.shed_total(),
            client_errors: stats.client_errors(),
            failures: stats.server_errors() + stats.transport_errors(),
        }
    }

    fn of_buying(tally: &Tally) -> Class {
        Class {
            answered: tally.admitted_all(),
            ok: tally.admitted.endpoints.values().map(|e| e.ok).sum(),
            conflicts: tally.seat_conflicts + tally.other_conflicts,
            shed: tally.shed_count(),
            client_errors: tally.admitted.client_errors(),
            failures: tally.failures(),
        }
    }

    fn p99(&self) -> f64 {
        self.answered.ms(0.99)
    }

    fn line(&self, name: &str, seconds: f64) -> String {
        format!(
            "{name}: {} answered ({:.1}/s), p50 {} p95 {} p99 {} max {} ms; {} 2xx, {} 409 seat races, {} 503, {} other 4xx, {} failures (5xx other than 503, no answer)",
            self.answered.count(),
            rate(self.answered.count(), seconds),
            fmt_ms(self.answered.ms(0.50)),
            fmt_ms(self.answered.ms(0.95)),
            fmt_ms(self.answered.ms(0.99)),
            fmt_ms(self.answered.max_ms()),
            self.ok,
            self.conflicts,
            self.shed,
            self.client_errors,
            self.failures,
        )
    }

    fn to_json(&self, seconds: f64) -> Value {
        json!({
            "count": self.answered.count(),
            "rps": rate(self.answered.count(), seconds),
            "p50_ms": round3(self.answered.ms(0.50)),
            "p95_ms": round3(self.answered.ms(0.95)),
            "p99_ms": round3(self.answered.ms(0.99)),
            "max_ms": round3(self.answered.max_ms()),
            "ok": self.ok,
            "conflicts_409": self.conflicts,
            "shed_503": self.shed,
            "client_errors_4xx": self.client_errors,
            "failures": self.failures,
        })
    }
}

/// CPU seconds the whole machine spent busy (all cores: not idle, not waiting for I/O), from
/// `/proc/stat`.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0.0);
    Some((total - idle) / 100.0)
}

/// What one phase of genuine traffic saw.
struct Phase {
    browse: Stats,
    /// The browsers' 503s by the bound that refused them (the buyers' are in `buy`).
    browse_shed_reasons: Reasons,
    buy: Tally,
    logins: Answers,
    seconds: f64,
    /// CPU seconds: load generator, server, the whole machine.
    cpu: (Option<f64>, Option<f64>, Option<f64>),
}

impl Phase {
    fn browsing(&self) -> Class {
        Class::of_browsing(&self.browse)
    }

    fn buying(&self) -> Class {
        Class::of_buying(&self.buy)
    }

    /// The 503s to browsing and buying, by the bound that refused them.
    fn shed_reasons(&self) -> Reasons {
        let mut reasons = self.browse_shed_reasons.clone();
        add_reasons(&mut reasons, &self.buy.shed_reasons);
        reasons
    }

    fn print(&self, name: &str) {
        let seconds = self.seconds;
        println!("  {name} ({seconds:.1} s):");
        println!("    {}", self.browsing().line("browse", seconds));
        print!("{}", indent(&self.browse.table(seconds)));
        println!("    {}", self.buying().line("buy", seconds));
        print!("{}", indent(&self.buy.admitted.table(seconds)));
        let reasons = self.shed_reasons();
        if !reasons.is_empty() {
            println!(
                "    503s to browsing and buying, by the bound that refused them: {}",
                reasons_text(&reasons)
            );
        }
        println!("    {}", logins_line(&self.logins));
        let (loadgen, server, machine) = self.cpu;
        println!(
            "    {}; the machine {}",
            crate::cpu_line(loadgen, server, seconds),
            machine.map_or("unknown".to_string(), |busy| format!(
                "{busy:.1} s busy ({:.2} of {} cores)",
                busy / seconds,
                cores()
            ))
        );
        for line in self.buy.error_lines.iter().take(5) {
            println!("    error: {line}");
        }
    }

    fn to_json(&self) -> Value {
        let seconds = self.seconds;
        let (loadgen, server, machine) = self.cpu;
        json!({
            "seconds": round3(seconds),
            "browse": self.browsing().to_json(seconds),
            "buy": self.buying().to_json(seconds),
            "logins": self.logins.to_json(),
            "shed_reasons": self.shed_reasons(),
            "browse_endpoints": self.browse.to_json(seconds),
            "buy_endpoints": self.buy.admitted.to_json(seconds),
            "loadgen_cpu_s": loadgen.map(round3),
            "server_cpu_s": server.map(round3),
            "machine_busy_s": machine.map(round3),
        })
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

fn indent(table: &str) -> String {
    table.lines().map(|line| format!("  {line}\n")).collect()
}

fn logins_line(logins: &Answers) -> String {
    format!(
        "logins: {} started, {} succeeded (p50 {} p99 {} max {} ms), refused {} with 503 and {} with 429; all answers: {}",
        logins.total(),
        logins.ok_count(),
        fmt_ms(logins.ok.ms(0.50)),
        fmt_ms(logins.ok.ms(0.99)),
        fmt_ms(logins.ok.max_ms()),
        logins.with(|status| status == 503),
        logins.with(|status| status == 429),
        logins.statuses()
    )
}

/// The genuine side: the sale, the readers' paths, the accounts that log in.
struct Genuine {
    api: Api,
    sale: Arc<Sale>,
    seat_paths: Arc<Vec<String>>,
    login_emails: Arc<Vec<String>>,
}

/// B browsers until `deadline`: the event list, then the seat map of an event at random, a
/// pause of `think` after each; a shed read is sent again after a short pause.
fn browsers(
    genuine: &Genuine,
    count: usize,
    deadline: Instant,
    think: Duration,
) -> Vec<tokio::task::JoinHandle<(Stats, Reasons)>> {
    (0..count)
        .map(|client| {
            let api = genuine.api.clone();
            let paths = Arc::clone(&genuine.seat_paths);
            tokio::spawn(async move {
                let mut stats = Stats::default();
                let mut reasons = Reasons::new();
                let mut rng = StdRng::from_rng(&mut rand::rng());
                let mut step = client as u64;
                while Instant::now() < deadline && step < STEP_CAP + client as u64 {
                    let (name, path) = if step.is_multiple_of(2) {
                        ("event_list", "/api/events")
                    } else {
                        ("seat_map", paths[rng.random_range(0..paths.len())].as_str())
                    };
                    step += 1;
                    // A shed read is sent again after a short pause, as people click again.
                    loop {
                        let reply = api.get(path, None).await;
                        stats.record(name, &reply);
                        if !reply.is_shed() {
                            break;
                        }
                        *reasons.entry(shed_reason(&reply)).or_default() += 1;
                        if Instant::now() >= deadline {
                            break;
                        }
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::sleep(think.min(left)).await;
                }
                (stats, reasons)
            })
        })
        .collect()
}

/// Logins of the genuine accounts, one every 1/`per_second` s until `deadline` (open loop: each
/// at its time, whatever the earlier ones are doing); every answer awaited.
async fn login_trickle(
    api: Api,
    emails: Arc<Vec<String>>,
    per_second: f64,
    deadline: Instant,
) -> Answers {
    let mut answers = Answers::default();
    if per_second <= 0.0 || emails.is_empty() {
        return answers;
    }
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut logins = Vec::new();
    let mut n = 0usize;
    while n < STEP_CAP as usize {
        tick.tick().await;
        if Instant::now() >= deadline {
            break;
        }
        let (api, email) = (api.clone(), emails[n % emails.len()].clone());
        n += 1;
        logins.push(tokio::spawn(async move {
            api.post(
                "/api/users/login",
                None,
                &json!({"email": email, "password": setup::CUSTOMER_PASSWORD}),
            )
            .await
        }));
    }
    for login in logins {
        if let Ok(reply) = login.await {
            answers.record(&reply);
        }
    }
    answers
}

/// The genuine traffic for `duration`: browsers, buyers and the login trickle at once.
async fn measure(genuine: &Genuine, args: &AttackArgs, server_pid: Option<&str>) -> Phase {
    let duration = Duration::from_secs(args.duration.max(1));
    let think = Duration::from_millis(args.think_ms);
    let cpu = CpuWindow::start(server_pid);
    let machine = machine_busy_seconds();
    let started = Instant::now();
    let deadline = started + duration;
    let readers = browsers(genuine, args.browsers, deadline, think);
    let logins = tokio::spawn(login_trickle(
        genuine.api.clone(),
        Arc::clone(&genuine.login_emails),
        args.login_rate,
        deadline,
    ));
    let (buy, _) = overload::closed_loop(&genuine.sale, args.buyers, duration, None, think).await;
    let (mut browse, mut browse_shed_reasons) = (Stats::default(), Reasons::new());
    for reader in readers {
        if let Ok((stats, reasons)) = reader.await {
            browse.merge(&stats);
            add_reasons(&mut browse_shed_reasons, &reasons);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (loadgen_cpu, server_cpu) = cpu.end();
    let machine = machine_busy_seconds().zip(machine).map(|(b, a)| b - a);
    // Logins still waiting are awaited, outside the CPU window.
    let logins = logins.await.unwrap_or_default();
    Phase {
        browse,
        browse_shed_reasons,
        buy,
        logins,
        seconds,
        cpu: (loadgen_cpu, server_cpu, machine),
    }
}

/// What an attack did and what the server did to it.
struct Outcome {
    /// For the table: what the attackers got, in a line.
    summary: String,
    lines: Vec<String>,
    json: Value,
    /// Answers to the attackers that are server errors (5xx other than 503).
    server_errors: u64,
}

// ---------------------------------------------------------------------------------------------
// Slow clients.

/// What the server did to one group of slow connections (or streams).
#[derive(Default)]
struct CutOffs {
    /// Connections (or streams) opened.
    opened: AtomicU64,
    /// Could not connect (refused, or the handshake failed).
    failed_to_open: AtomicU64,
    /// Ended by the server without an answer (closed or reset).
    closed_silently: AtomicU64,
    /// Still held when the attack ended.
    held_at_end: AtomicU64,
    /// Answered, by status.
    answered: Mutex<BTreeMap<u16, u64>>,
    /// From opening to the server's answer or close.
    cut_after: Mutex<Endpoint>,
    /// HTTP/2 connections opened (the streams are `opened`).
    connections: AtomicU64,
    /// Why streams ended without an answer (HTTP/2: the reset's reason).
    reasons: Mutex<BTreeMap<String, u64>>,
}

impl CutOffs {
    fn answered(&self, status: u16, after: Duration) {
        *lock(&self.answered).entry(status).or_default() += 1;
        lock(&self.cut_after).record_latency(after);
    }

    fn closed(&self, after: Duration) {
        self.closed_silently.fetch_add(1, Ordering::Relaxed);
        lock(&self.cut_after).record_latency(after);
    }

    /// Counts how one connection ended; false when it was still held at the attack's end, so
    /// that there is nothing to open again.
    fn record(&self, ended: Ended, after: Duration) -> bool {
        match ended {
            Ended::Answered(status) => self.answered(status, after),
            Ended::Closed => self.closed(after),
            Ended::HeldToEnd => {
                self.held_at_end.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
        true
    }

    fn closed_because(&self, after: Duration, reason: String) {
        self.closed(after);
        *lock(&self.reasons).entry(reason).or_default() += 1;
    }

    fn cut_count(&self) -> u64 {
        lock(&self.answered).values().sum::<u64>() + self.closed_silently.load(Ordering::Relaxed)
    }

    fn describe(&self, what: &str) -> String {
        let cut_count = self.cut_count();
        let reasons = lock(&self.reasons)
            .iter()
            .map(|(reason, count)| format!(": {reason} ×{count}"))
            .collect::<String>();
        let answered = lock(&self.answered);
        let cut = lock(&self.cut_after);
        format!(
            "{what}: {} opened, {} held at the end; cut off by the server {} times ({}{} ended without an answer{reasons}), after p50 {} s max {} s; {} could not connect",
            self.opened.load(Ordering::Relaxed),
            self.held_at_end.load(Ordering::Relaxed),
            cut_count,
            answered
                .iter()
                .map(|(status, count)| format!("{count} answered {status}, "))
                .collect::<String>(),
            self.closed_silently.load(Ordering::Relaxed),
            seconds(cut.ms(0.50)),
            seconds(cut.max_ms()),
            self.failed_to_open.load(Ordering::Relaxed),
        )
    }

    fn to_json(&self) -> Value {
        let answered: serde_json::Map<String, Value> = lock(&self.answered)
            .iter()
            .map(|(status, count)| (status.to_string(), json!(count)))
            .collect();
        let cut_count = self.cut_count();
        let cut = lock(&self.cut_after);
        json!({
            "opened": self.opened.load(Ordering::Relaxed),
            "connections": self.connections.load(Ordering::Relaxed),
            "failed_to_open": self.failed_to_open.load(Ordering::Relaxed),
            "held_at_end": self.held_at_end.load(Ordering::Relaxed),
            "cut_off": cut_count,
            "answered": answered,
            "closed_silently": self.closed_silently.load(Ordering::Relaxed),
            "reasons": lock(&self.reasons).clone(),
            "cut_after_p50_s": round3(cut.ms(0.50) / 1000.0),
            "cut_after_max_s": round3(cut.max_ms() / 1000.0),
        })
    }
}

fn seconds(ms: f64) -> String {
    format!("{:.1}", ms / 1000.0)
}

/// A connection to `server` from `local`.
async fn connect_from(local: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match local {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(local, 0))?;
    let stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(server))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The status of an HTTP/1 answer's first bytes.
fn status_of(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(&head[..head.len().min(16)]).ok()?;
    let rest = text.strip_prefix("HTTP/1.")?;
    rest.get(2..5)?.parse().ok()
}

/// How a held connection ended.
enum Ended {
    Answered(u16),
    Closed,
    HeldToEnd,
}

/// Reads until the server closes the connection (or `deadline`): its answer's status, if any.
async fn until_closed(stream: &mut TcpStream, head: &mut Vec<u8>, deadline: Instant) -> Ended {
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buffer)).await {
            Err(_) => return status_of(head).map_or(Ended::HeldToEnd, Ended::Answered),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return status_of(head).map_or(Ended::Closed, Ended::Answered)
            }
            Ok(Ok(read)) => {
                if head.len() < 64 {
                    head.extend_from_slice(&buffer[..read]);
                }
            }
        }
    }
}

/// One connection at a time that sends a login's headers and the first byte of its 100-byte
/// body, then nothing; opened again whenever the server ends it, until `deadline`.
async fn slow_body(
    server: SocketAddr,
    local: IpAddr,
    host: String,
    deadline: Instant,
    cut: Arc<CutOffs>,
) {
    let request = format!(
        "POST /api/users/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    for _ in 0..REOPEN_CAP {
        if Instant::now() >= deadline {
            return;
        }
        let Ok(mut stream) = connect_from(local, server).await else {
            cut.failed_to_open.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        cut.opened.fetch_add(1, Ordering::Relaxed);
        let opened = Instant::now();
        if stream.write_all(request.as_bytes()).await.is_err() {
            cut.closed(opened.elapsed());
            continue;
        }
        let mut head = Vec::new();
        let ended = until_closed(&mut stream, &mut head, deadline).await;
        if !cut.record(ended, opened.elapsed()) {
            return;
        }
    }
}

/// One connection at a time that sends a login's headers one byte a second; opened again
/// whenever the server ends it, until `deadline`.
async fn header_trickle(
    server: SocketAddr,
    local: IpAddr,
    host: String,
    deadline: Instant,
    cut: Arc<CutOffs>,
) {
    let request = format!(
        "POST /api/users/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    )
    .into_bytes();
    for _ in 0..REOPEN_CAP {
        if Instant::now() >= deadline {
            return;
        }
        let Ok(mut stream) = connect_from(local, server).await else {
            cut.failed_to_open.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        cut.opened.fetch_add(1, Ordering::Relaxed);
        let opened = Instant::now();
        let mut head = Vec::new();
        let mut buffer = [0u8; 4096];
        let mut sent = 0;
        let ended = loop {
            if sent < request.len() {
                if stream.write_all(&request[sent..=sent]).await.is_err() {
                    break status_of(&head).map_or(Ended::Closed, Ended::Answered);
                }
                sent += 1;
            }
            let tick = (Instant::now() + Duration::from_secs(1)).min(deadline);
            match tokio::time::timeout_at(tick.into(), stream.read(&mut buffer)).await {
                Err(_) if Instant::now() >= deadline => break Ended::HeldToEnd,
                Err(_) => {}
                Ok(Ok(0)) | Ok(Err(_)) => {
                    break status_of(&head).map_or(Ended::Closed, Ended::Answered)
                }
                Ok(Ok(read)) => {
                    if head.len() < 64 {
                        head.extend_from_slice(&buffer[..read]);
                    }
                }
            }
        };
        if !cut.record(ended, opened.elapsed()) {
            return;
        }
    }
}

/// One HTTP/2 connection (prior knowledge) with `streams` streams, each sending a login's
/// headers and one byte of its 100-byte body, then stalling; a stream the server ends is opened
/// again, and the connection too, until `deadline`.
async fn h2_stalls(
    server: SocketAddr,
    local: IpAddr,
    authority: String,
    streams: usize,
    deadline: Instant,
    cut: Arc<CutOffs>,
) {
    let uri = format!("http://{authority}/api/users/login");
    for _ in 0..REOPEN_CAP {
        if Instant::now() >= deadline {
            return;
        }
        let Ok(tcp) = connect_from(local, server).await else {
            cut.failed_to_open.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let handshake = tokio::time::timeout_at(deadline.into(), h2::client::handshake(tcp)).await;
        let (send, connection) = match handshake {
            Ok(Ok(pair)) => pair,
            Ok(Err(_)) => {
                cut.failed_to_open.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(_) => return,
        };
        cut.connections.fetch_add(1, Ordering::Relaxed);
        let driver = tokio::spawn(connection);
        let stalls: Vec<_> = (0..streams)
            .map(|_| {
                tokio::spawn(h2_stream(
                    send.clone(),
                    uri.clone(),
                    deadline,
                    Arc::clone(&cut),
                ))
            })
            .collect();
        for stall in stalls {
            let _ = stall.await;
        }
        driver.abort();
    }
}

/// One stream after another on an HTTP/2 connection, each stalled after a byte of body until the
/// server ends it; returns when the connection is gone or at `deadline`.
async fn h2_stream(
    send: h2::client::SendRequest<Bytes>,
    uri: String,
    deadline: Instant,
    cut: Arc<CutOffs>,
) {
    let mut send = send;
    for _ in 0..STEP_CAP {
        if Instant::now() >= deadline {
            return;
        }
        send = match tokio::time::timeout_at(deadline.into(), send.ready()).await {
            Ok(Ok(ready)) => ready,
            Ok(Err(_)) | Err(_) => return,
        };
        let request = http::Request::post(uri.as_str())
            .header("content-type", "application/json")
            .header("content-length", "100")
            .body(())
            .expect("a well-formed request");
        let Ok((response, mut body)) = send.send_request(request, false) else {
            return;
        };
        cut.opened.fetch_add(1, Ordering::Relaxed);
        let opened = Instant::now();
        let _ = body.send_data(Bytes::from_static(b"{"), false);
        match tokio::time::timeout_at(deadline.into(), response).await {
            Ok(Ok(answer)) => cut.answered(answer.status().as_u16(), opened.elapsed()),
            Ok(Err(error)) => {
                let reason = match error.reason() {
                    Some(reason) if error.is_go_away() => format!("connection ended ({reason:?})"),
                    Some(reason) => format!("stream reset ({reason:?})"),
                    None if error.is_io() => "connection lost".to_string(),
                    None => error.to_string(),
                };
                cut.closed_because(opened.elapsed(), reason);
                if error.is_io() || error.is_go_away() {
                    return;
                }
            }
            Err(_) => {
                cut.held_at_end.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// The server's socket address and its `host:port`, from the base URL.
async fn server_address(base: &str) -> Result<(SocketAddr, String), String> {
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("the slow clients speak plain http only, not {base}"))?
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let address = tokio::net::lookup_host(authority.as_str())
        .await
        .map_err(|error| format!("cannot resolve {authority}: {error}"))?
        .next()
        .ok_or_else(|| format!("{authority} resolves to no address"))?;
    Ok((address, authority))
}

async fn slow_clients(args: &AttackArgs, base: &str, deadline: Instant) -> Result<Outcome, String> {
    let (server, authority) = server_address(base).await?;
    let local = nth_address(args.first_address, 0);
    let bodies = Arc::new(CutOffs::default());
    let streams = Arc::new(CutOffs::default());
    let trickles = Arc::new(CutOffs::default());
    let mut tasks = Vec::new();
    for _ in 0..args.slow_bodies {
        tasks.push(tokio::spawn(slow_body(
            server,
            local,
            authority.clone(),
            deadline,
            Arc::clone(&bodies),
        )));
    }
    if args.h2_streams > 0 {
        tasks.push(tokio::spawn(h2_stalls(
            server,
            local,
            authority.clone(),
            args.h2_streams,
            deadline,
            Arc::clone(&streams),
        )));
    }
    for _ in 0..args.header_tricklers {
        tasks.push(tokio::spawn(header_trickle(
            server,
            local,
            authority.clone(),
            deadline,
            Arc::clone(&trickles),
        )));
    }
    for task in tasks {
        let _ = task.await;
    }
    let lines = vec![
        bodies.describe(&format!("{} slow bodies (HTTP/1.1)", args.slow_bodies)),
        streams.describe(&format!(
            "{} stalled HTTP/2 streams on {} connection(s)",
            args.h2_streams,
            streams.connections.load(Ordering::Relaxed)
        )),
        trickles.describe(&format!(
            "{} header tricklers (1 byte/s)",
            args.header_tricklers
        )),
    ];
    let answered =
        |cut: &CutOffs, status: u16| lock(&cut.answered).get(&status).copied().unwrap_or(0);
    let server_errors = [&bodies, &streams, &trickles]
        .iter()
        .map(|cut| {
            lock(&cut.answered)
                .iter()
                .filter(|(status, _)| (500..600).contains(*status) && **status != 503)
                .map(|(_, count)| count)
                .sum::<u64>()
        })
        .sum();
    let stream_resets = lock(&streams.reasons)
        .iter()
        .map(|(reason, count)| format!(", {count} {reason}"))
        .collect::<String>();
    let summary = format!(
        "slow bodies: {} cut off ({} with 408), {} held at the end; h2: {} streams sent, {} cut off ({} with 408{stream_resets}), {} held at the end; header trickles: {} cut off ({} closed without an answer), {} held at the end; all from {local}",
        bodies.cut_count(),
        answered(&bodies, 408),
        bodies.held_at_end.load(Ordering::Relaxed),
        streams.opened.load(Ordering::Relaxed),
        streams.cut_count(),
        answered(&streams, 408),
        streams.held_at_end.load(Ordering::Relaxed),
        trickles.cut_count(),
        trickles.closed_silently.load(Ordering::Relaxed),
        trickles.held_at_end.load(Ordering::Relaxed),
    );
    Ok(Outcome {
        summary,
        lines,
        json: json!({
            "address": local.to_string(),
            "slow_bodies": bodies.to_json(),
            "h2_streams": streams.to_json(),
            "header_trickles": trickles.to_json(),
        }),
        server_errors,
    })
}

// ---------------------------------------------------------------------------------------------
// Floods.

/// One flood request.
struct Attempt {
    kind: &'static str,
    path: String,
    token: Option<String>,
    body: Value,
}

/// The attackers: one client per source address, and what each kind of request got.
struct Flood {
    apis: Vec<Api>,
    /// The earliest time of each address's next attempt, when paced.
    next_slot: Vec<Mutex<Instant>>,
    every: Option<Duration>,
    answers: Mutex<BTreeMap<&'static str, Answers>>,
    /// Requests still unanswered when the attack ended.
    unanswered: AtomicU64,
}

impl Flood {
    async fn pace(&self, address: usize) {
        let Some(every) = self.every else { return };
        let slot = {
            let mut next = lock(&self.next_slot[address]);
            let slot = (*next).max(Instant::now());
            *next = slot + every;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// `workers` attackers until `deadline`, worker w sending from address w mod N what
/// `attempt(w, step)` says, one request after another.
async fn flood(
    flood: Arc<Flood>,
    workers: usize,
    deadline: Instant,
    attempt: Arc<dyn Fn(usize, u64) -> Attempt + Send + Sync>,
) {
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let (flood, attempt) = (Arc::clone(&flood), Arc::clone(&attempt));
            tokio::spawn(async move {
                let address = worker % flood.apis.len();
                let api = &flood.apis[address];
                let mut mine: BTreeMap<&'static str, Answers> = BTreeMap::new();
                for step in 0..STEP_CAP {
                    flood.pace(address).await;
                    if Instant::now() >= deadline {
                        break;
                    }
                    let Attempt {
                        kind,
                        path,
                        token,
                        body,
                    } = attempt(worker, step);
                    let sent = api.post(&path, token.as_deref(), &body);
                    match tokio::time::timeout_at(deadline.into(), sent).await {
                        Ok(reply) => mine.entry(kind).or_default().record(&reply),
                        Err(_) => {
                            flood.unanswered.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
                let mut all = lock(&flood.answers);
                for (kind, answers) in mine {
                    all.entry(kind).or_default().merge(&answers);
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

fn flood_outcome(flood: &Flood, args: &AttackArgs, notes: &str) -> Outcome {
    let answers = lock(&flood.answers);
    let mut lines = vec![format!(
        "{} attackers from {} addresses ({} … {}), {}; {}",
        args.attackers,
        flood.apis.len(),
        nth_address(args.first_address, 0),
        nth_address(args.first_address, flood.apis.len().saturating_sub(1)),
        match flood.every {
            Some(every) => format!(
                "each address paced to one attempt every {} ms",
                every.as_millis()
            ),
            None => "as fast as the server answers".to_string(),
        },
        notes
    )];
    for (kind, kind_answers) in answers.iter() {
        lines.push(format!(
            "{kind}: {} sent ({:.1}/s), answered p50 {} p99 {} ms: {}",
            kind_answers.total(),
            kind_answers.total() as f64 / (args.lead_in + args.duration).max(1) as f64,
            fmt_ms(kind_answers.all.ms(0.50)),
            fmt_ms(kind_answers.all.ms(0.99)),
            kind_answers.statuses()
        ));
    }
    let unanswered = flood.unanswered.load(Ordering::Relaxed);
    lines.push(format!(
        "{unanswered} attack requests were in flight, unanswered, when the attack ended"
    ));
    let summary = format!(
        "{} addresses: {}",
        flood.apis.len(),
        answers
            .iter()
            .map(|(kind, answers)| format!("{kind} {}", answers.statuses()))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let server_errors = answers
        .values()
        .map(|answers| answers.with(|status| (500..600).contains(&status) && status != 503))
        .sum();
    let kinds: serde_json::Map<String, Value> = answers
        .iter()
        .map(|(kind, answers)| (kind.to_string(), answers.to_json()))
        .collect();
    Outcome {
        summary,
        lines,
        json: json!({
            "addresses": flood.apis.len(),
            "attackers": args.attackers,
            "address_rate": args.address_rate,
            "kinds": kinds,
            "unanswered_at_end": unanswered,
        }),
        server_errors,
    }
}

fn flood_of(common: &Common, args: &AttackArgs) -> Result<Flood, String> {
    let count = args.addresses.max(1);
    let per_address = args.attackers.div_ceil(count).max(1);
    let apis = (0..count)
        .map(|index| {
            Api::from_address(
                &common.base_url,
                Duration::from_secs(common.timeout_secs),
                per_address,
                Some(nth_address(args.first_address, index)),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let every = (args.address_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / args.address_rate));
    let now = Instant::now();
    Ok(Flood {
        next_slot: (0..count).map(|_| Mutex::new(now)).collect(),
        apis,
        every,
        answers: Mutex::new(BTreeMap::new()),
        unanswered: AtomicU64::new(0),
    })
}

/// Password changes with a wrong old password (each attacker account its own), logins with wrong
/// passwords of the genuine accounts, and logins of addresses nobody registered, in turn.
fn password_attempts(
    accounts: Arc<Vec<Customer>>,
    victims: Arc<Vec<String>>,
    tag: String,
) -> Arc<dyn Fn(usize, u64) -> Attempt + Send + Sync> {
    Arc::new(move |worker, step| match (worker as u64 + step) % 3 {
        0 => {
            let account = &accounts[(worker + step as usize / 3) % accounts.len()];
            Attempt {
                kind: "password_change",
                path: format!("/api/users/{}/password", account.id),
                token: Some(account.token.clone()),
                body: json!({"old_password": format!("not-my-password-{step}"), "new_password": "a-new-password-123"}),
            }
        }
        1 => Attempt {
            kind: "login_victim",
            path: "/api/users/login".to_string(),
            token: None,
            body: json!({
                "email": victims[(worker + step as usize) % victims.len()],
                "password": format!("guess-{worker}-{step}"),
            }),
        },
        _ => Attempt {
            kind: "login_unknown",
            path: "/api/users/login".to_string(),
            token: None,
            body: json!({
                "email": format!("nobody-{tag}-{worker}-{step}@bench.example"),
                "password": format!("guess-{worker}-{step}"),
            }),
        },
    })
}

/// Sign-ups with a genuine user's email, and with a fresh one, in turn.
fn signup_attempts(
    taken: Arc<Vec<String>>,
    tag: String,
) -> Arc<dyn Fn(usize, u64) -> Attempt + Send + Sync> {
    Arc::new(move |worker, step| {
        let (kind, email) = if (worker as u64 + step).is_multiple_of(2) {
            (
                "signup_taken",
                taken[(worker + step as usize) % taken.len()].clone(),
            )
        } else {
            (
                "signup_fresh",
                format!("flood-{tag}-{worker}-{step}@bench.example"),
            )
        };
        Attempt {
            kind,
            path: "/api/users".to_string(),
            token: None,
            body: json!({"name": "Flood Account", "email": email, "password": "flood-password-123"}),
        }
    })
}

/// The attack, ready to start.
enum Attack {
    SlowClients,
    Flood(
        Arc<Flood>,
        Arc<dyn Fn(usize, u64) -> Attempt + Send + Sync>,
        &'static str,
    ),
}

pub async fn run(common: &Common, args: &AttackArgs) -> Result<bool, String> {
    let api = common.api(args.browsers + args.buyers + 16)?;
    let admin = setup::admin_token(&api, &common.admin_email, &common.admin_password).await?;
    let tag = setup::run_tag();
    let kind = args.kind;
    println!(
        "attack {} [{}]: {} browsers and {} buyers (pause {} ms) and {} logins/s from 127.0.0.1, {} s unloaded, then {} s under attack (started {} s before), against {}",
        kind.name(),
        common.label,
        args.browsers,
        args.buyers,
        args.think_ms,
        args.login_rate,
        args.duration,
        args.duration,
        args.lead_in,
        api.base()
    );

    // Set-up: the genuine users sign up from addresses of their own; the events go on sale.
    let setup_started = Instant::now();
    let genuine_count = args.buyers.max(1) + args.login_users.max(1);
    let setup_apis = (0..genuine_count.div_ceil(SIGNUPS_PER_SETUP_ADDRESS))
        .map(|index| {
            Api::from_address(
                &common.base_url,
                Duration::from_secs(common.timeout_secs),
                args.register_concurrency,
                Some(nth_address(args.setup_first_address, index)),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut people =
        setup::register_customers_via(&setup_apis, &tag, genuine_count, args.register_concurrency)
            .await?;
    let login_users = people.split_off(args.buyers.max(1));
    let buyers = people;
    let events = setup::create_events(
        &api,
        &admin,
        &format!("Attack bench {tag}"),
        args.events.max(1),
        args.seats,
        args.seats_per_row,
        150_000,
        8,
    )
    .await?;
    let login_emails: Arc<Vec<String>> =
        Arc::new(login_users.iter().map(|user| user.email.clone()).collect());
    let attack = match kind {
        AttackKind::SlowClients => Attack::SlowClients,
        AttackKind::PasswordFlood => {
            let flood = flood_of(common, args)?;
            // Each attacker account signs up and logs in from an attack address.
            let accounts = setup::register_customers_via(
                &flood.apis,
                &format!("{tag}-attacker"),
                args.attacker_accounts.max(1),
                args.register_concurrency,
            )
            .await?;
            let attempts =
                password_attempts(Arc::new(accounts), Arc::clone(&login_emails), tag.clone());
            Attack::Flood(Arc::new(flood), attempts, "password changes with a wrong old password (own accounts), logins with wrong passwords of the genuine accounts and of unknown emails, in turn")
        }
        AttackKind::SignupFlood => {
            let flood = flood_of(common, args)?;
            let taken: Vec<String> = buyers
                .iter()
                .chain(&login_users)
                .map(|user| user.email.clone())
                .collect();
            let attempts = signup_attempts(Arc::new(taken), tag.clone());
            Attack::Flood(
                Arc::new(flood),
                attempts,
                "sign-ups with a genuine user's email and with fresh emails, in turn",
            )
        }
    };
    let dashboard_before = books::dashboard(&api, &admin).await?;
    let sale = Arc::new(Sale::new(api.clone(), &events, buyers, 2)?);
    let genuine = Genuine {
        api: api.clone(),
        seat_paths: Arc::new(sale.seat_map_paths()),
        sale,
        login_emails,
    };
    println!(
        "  set-up: {} buyers and {} login accounts signed up from {} addresses, {} events of {} seats, in {:.1} s",
        args.buyers.max(1),
        args.login_users.max(1),
        setup_apis.len(),
        events.len(),
        args.seats,
        setup_started.elapsed().as_secs_f64()
    );

    // 1. Unloaded.
    let unloaded = measure(&genuine, args, common.server_pid.as_deref()).await;
    unloaded.print("unloaded");

    // 2. Under attack.
    let attack_started = Instant::now();
    let deadline = attack_started + Duration::from_secs(args.lead_in + args.duration.max(1));
    let running = match &attack {
        Attack::SlowClients => {
            let (args, base) = (args.clone(), common.base_url.clone());
            tokio::spawn(async move { slow_clients(&args, &base, deadline).await })
        }
        Attack::Flood(flood_state, attempts, notes) => {
            let (flood_state, attempts, args, notes) = (
                Arc::clone(flood_state),
                Arc::clone(attempts),
                args.clone(),
                *notes,
            );
            tokio::spawn(async move {
                flood(
                    Arc::clone(&flood_state),
                    args.attackers.max(1),
                    deadline,
                    attempts,
                )
                .await;
                Ok(flood_outcome(&flood_state, &args, notes))
            })
        }
    };
    tokio::time::sleep(Duration::from_secs(args.lead_in)).await;
    let attacked = measure(&genuine, args, common.server_pid.as_deref()).await;
    let outcome = running
        .await
        .map_err(|error| format!("the attack failed: {error}"))??;
    attacked.print("under attack");
    println!(
        "  the attack ({:.1} s):",
        attack_started.elapsed().as_secs_f64()
    );
    for line in &outcome.lines {
        println!("    {line}");
    }

    // 3. The books.
    let (settle_tally, settled, paid, violations) = overload::settle_and_verify(
        &genuine.sale,
        &admin,
        &events,
        args.seats,
        &dashboard_before,
    )
    .await?;
    let seats_sold: i64 = paid.iter().map(|(_, booking)| booking.quantity).sum();
    println!(
        "  books: {} paid bookings ({settled} paid at the end), {seats_sold} seats; verification {}",
        paid.len(),
        if violations.is_empty() { "OK" } else { "FAILED" }
    );
    for violation in &violations {
        eprintln!("  *** VIOLATION: {violation}");
    }

    // 4. Genuine p99 under attack against unloaded.
    let (browse_before, browse_after) = (unloaded.browsing(), attacked.browsing());
    let (buy_before, buy_after) = (unloaded.buying(), attacked.buying());
    let ratio = |before: &Class, after: &Class| {
        if before.p99() > 0.0 {
            after.p99() / before.p99()
        } else {
            0.0
        }
    };
    let (browse_ratio, buy_ratio) = (
        ratio(&browse_before, &browse_after),
        ratio(&buy_before, &buy_after),
    );
    let ratio_met = browse_ratio > 0.0
        && buy_ratio > 0.0
        && browse_ratio <= args.max_p99_ratio
        && buy_ratio <= args.max_p99_ratio;
    let genuine_503 = |phase: &Phase| phase.browsing().shed + phase.buying().shed;
    let no_503 = genuine_503(&attacked) == 0;
    let failures = [&browse_before, &browse_after, &buy_before, &buy_after]
        .iter()
        .map(|class| class.failures + class.client_errors)
        .sum::<u64>()
        + settle_tally.failures();
    let login_server_errors = [&unloaded.logins, &attacked.logins]
        .iter()
        .map(|logins| logins.with(|status| (500..600).contains(&status) && status != 503))
        .sum::<u64>();
    let other_conflicts = unloaded.buy.other_conflicts + attacked.buy.other_conflicts;
    let passed = violations.is_empty()
        && failures == 0
        && login_server_errors == 0
        && outcome.server_errors == 0
        && other_conflicts == 0;
    if failures > 0 || login_server_errors > 0 || other_conflicts > 0 {
        eprintln!(
            "  *** genuine traffic: {failures} failures or unexpected 4xx, {login_server_errors} logins answered with a 5xx other than 503, {other_conflicts} 409s that are not seat races (is the server's MAX_TICKETS_PER_USER=0?)"
        );
    }
    if outcome.server_errors > 0 {
        eprintln!(
            "  *** the attackers got {} answers with a 5xx other than 503",
            outcome.server_errors
        );
    }
    let login_line = |logins: &Answers| {
        format!(
            "{} of {} ok (p99 {} ms), {} refused with 503, {} with 429",
            logins.ok_count(),
            logins.total(),
            fmt_ms(logins.ok.ms(0.99)),
            logins.with(|status| status == 503),
            logins.with(|status| status == 429)
        )
    };
    println!(
        "  headline: {} — browse p99 {} → {} ms ({:.2}×), buy p99 {} → {} ms ({:.2}×) (target ≤ {}×: {}); 503s to browsing and buying {} → {} ({}); genuine logins {} → {}; {}",
        kind.name(),
        fmt_ms(browse_before.p99()),
        fmt_ms(browse_after.p99()),
        browse_ratio,
        fmt_ms(buy_before.p99()),
        fmt_ms(buy_after.p99()),
        buy_ratio,
        args.max_p99_ratio,
        if ratio_met { "met" } else { "MISSED" },
        genuine_503(&unloaded),
        genuine_503(&attacked),
        if no_503 {
            "none under attack".to_string()
        } else {
            format!("SOME under attack: {}", reasons_text(&attacked.shed_reasons()))
        },
        login_line(&unloaded.logins),
        login_line(&attacked.logins),
        if passed { "books verified, no failures" } else { "FAILED" }
    );

    let mut line = json!({
        "scenario": "attack",
        "kind": kind.name(),
        "label": common.label,
        "base_url": api.base(),
        "browsers": args.browsers,
        "buyers": args.buyers,
        "think_ms": args.think_ms,
        "duration_s": args.duration,
        "lead_in_s": args.lead_in,
        "login_rate": args.login_rate,
        "events": events.len(),
        "seats": args.seats,
        "browse_p99_ms_unloaded": round3(browse_before.p99()),
        "browse_p99_ms_attack": round3(browse_after.p99()),
        "browse_p99_ratio": round3(browse_ratio),
        "buy_p99_ms_unloaded": round3(buy_before.p99()),
        "buy_p99_ms_attack": round3(buy_after.p99()),
        "buy_p99_ratio": round3(buy_ratio),
        "max_p99_ratio": args.max_p99_ratio,
        "p99_ratio_met": ratio_met,
        "genuine_503_unloaded": genuine_503(&unloaded),
        "genuine_503_attack": genuine_503(&attacked),
        "genuine_503_reasons_attack": attacked.shed_reasons(),
        "addresses": match kind {
            AttackKind::SlowClients => 1,
            _ => args.addresses.max(1),
        },
        "address_rate": args.address_rate,
    });
    // Two halves: one json! of every field passes the macro's recursion limit.
    let rest = json!({
        "no_503_under_attack": no_503,
        "logins_unloaded": unloaded.logins.to_json(),
        "logins_attack": attacked.logins.to_json(),
        "unloaded": unloaded.to_json(),
        "attack": attacked.to_json(),
        "attackers": outcome.json,
        "attackers_summary": outcome.summary,
        "bookings": paid.len(),
        "settled_at_end": settled,
        "seats_sold": seats_sold,
        "violations": violations,
        "server_errors_5xx": login_server_errors + outcome.server_errors + [&browse_before, &browse_after, &buy_before, &buy_after].iter().map(|class| class.failures).sum::<u64>(),
        "errors": failures + other_conflicts,
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
    fn an_answer_status_is_read_from_its_first_line() {
        assert_eq!(status_of(b"HTTP/1.1 408 Request Timeout\r\n"), Some(408));
        assert_eq!(status_of(b"HTTP/1.0 429 Too Many"), Some(429));
        assert_eq!(status_of(b"HTTP/1.1 4"), None);
        assert_eq!(status_of(b""), None);
        assert_eq!(status_of(b"garbage"), None);
    }

    #[test]
    fn attack_addresses_count_up_from_the_first() {
        let first: Ipv4Addr = "127.0.1.1".parse().unwrap();
        assert_eq!(nth_address(first, 0).to_string(), "127.0.1.1");
        assert_eq!(nth_address(first, 254).to_string(), "127.0.1.255");
        assert_eq!(nth_address(first, 255).to_string(), "127.0.2.0");
    }

    #[test]
    fn answers_are_counted_by_status_and_only_2xx_make_the_ok_latency() {
        let mut answers = Answers::default();
        answers.record(&reply(200, None, "{}"));
        answers.record(&reply(503, Some("1"), "{}"));
        answers.record(&reply(503, Some("1"), "{}"));
        answers.record(&reply(0, None, ""));
        assert_eq!(answers.total(), 4);
        assert_eq!(answers.ok_count(), 1);
        assert_eq!(answers.ok.count(), 1);
        assert_eq!(answers.with(|status| status == 503), 2);
        assert_eq!(
            answers.statuses(),
            "no answer ×1, 200 ×1, 503 ×2 (other ×2)"
        );
    }

    #[test]
    fn a_class_of_browsing_keeps_refusals_out_of_its_latency() {
        let mut stats = Stats::default();
        stats.record("seat_map", &reply(200, None, "[]"));
        stats.record(
            "seat_map",
            &reply(
                503,
                Some("1"),
                r#"{"status":"error","code":503,"message":"Busy."}"#,
            ),
        );
        stats.record("event_list", &reply(500, None, "{}"));
        let class = Class::of_browsing(&stats);
        assert_eq!(class.answered.count(), 1);
        assert_eq!((class.ok, class.shed, class.failures), (1, 1, 1));
    }
}
