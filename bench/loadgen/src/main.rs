//! `loadgen`: load for WarTawa through its public HTTP API only, pointed anywhere with
//! `--base-url`. Each scenario prints a table for people and, with `--json-out FILE`, appends one
//! JSON line for scripts. The exit status is non-zero when a run saw a violation, a 5xx or an
//! unexpected failure; the documented 503 of a server shedding load (`Retry-After`, the error
//! shape) is counted as shed, not as a failure.

mod api;
mod attack;
mod books;
mod browse;
mod live;
mod onsale;
mod overload;
mod probe;
mod report;
mod setup;
mod stats;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::Value;

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Load generator for the WarTawa HTTP API")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    scenario: Scenario,
}

/// What every scenario shares.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The server to load (plain http).
    #[arg(long, global = true, default_value = "http://127.0.0.1:6543")]
    pub base_url: String,
    /// Append one JSON line per scenario to this file.
    #[arg(long, global = true)]
    pub json_out: Option<String>,
    /// A name for this run in the JSON (e.g. memory, postgres).
    #[arg(long, global = true, default_value = "run")]
    pub label: String,
    /// The admin the server ensured at start-up (ADMIN_EMAIL).
    #[arg(long, global = true, default_value = "admin@bench.example")]
    pub admin_email: String,
    /// ADMIN_PASSWORD.
    #[arg(long, global = true, default_value = "bench-admin-password")]
    pub admin_password: String,
    /// Seconds before one request counts as failed.
    #[arg(long, global = true, default_value_t = 30)]
    pub timeout_secs: u64,
    /// The server's process id, to report the CPU it used during each measured window.
    #[arg(long, global = true)]
    pub server_pid: Option<String>,
    /// Worker threads of the load generator's runtime (default: one per core).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
}

impl Common {
    pub fn api(&self, max_idle: usize) -> Result<api::Api, String> {
        api::Api::new(
            &self.base_url,
            Duration::from_secs(self.timeout_secs),
            max_idle,
        )
    }

    pub fn write_json(&self, line: Value) -> Result<(), String> {
        let Some(path) = &self.json_out else {
            return Ok(());
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|error| format!("cannot open {path}: {error}"))?;
        writeln!(file, "{line}").map_err(|error| format!("cannot write {path}: {error}"))
    }
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// The on-sale rush: C buyers book and pay until the event is sold out, then the books are verified.
    Onsale(onsale::OnsaleArgs),
    /// An on-sale rush of 10× the sustainable rate R over K events of S seats. The baseline is the
    /// on-sale load (64 buyers) at its sustainable rate R; then an open-loop rush of 10 × R, then
    /// recovery; admitted p99 against the baseline's, the 503s shed, every event's books verified.
    Overload(overload::OverloadArgs),
    /// Browsing, buying and logins measured unloaded, then while an attack runs (slow clients,
    /// a password flood or a sign-up flood): their p99 against the unloaded one, their 503s, what
    /// the attackers got; the books verified.
    Attack(attack::AttackArgs),
    /// C readers of the event list and a seat map for a while.
    Browse(browse::BrowseArgs),
    /// Browse alone, then browse again while logins arrive at a steady rate; compares p99.
    LoginBurst(browse::LoginBurstArgs),
    /// C clients on GET /health: the HTTP stack's ceiling.
    Health(browse::HealthArgs),
    /// K requests to one path, sequential by default: p50/p95/p99 for growth curves.
    Probe(probe::ProbeArgs),
    /// K sequential bookings, each cancelled right after: booking latency for growth curves.
    BookProbe(probe::BookProbeArgs),
    /// Creates an event on sale and prints its id.
    CreateEvent(probe::CreateEventArgs),
    /// Reads the JSON lines and prints each figure beside its reference and target.
    Report(report::ReportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Scenario::Report(args) = &cli.scenario {
        return finish(report::run(args));
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.common.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("loadgen: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let common = &cli.common;
    let outcome = runtime.block_on(async {
        match &cli.scenario {
            Scenario::Onsale(args) => onsale::run(common, args).await,
            Scenario::Overload(args) => overload::run(common, args).await,
            Scenario::Attack(args) => attack::run(common, args).await,
            Scenario::Browse(args) => browse::browse(common, args).await,
            Scenario::LoginBurst(args) => browse::login_burst(common, args).await,
            Scenario::Health(args) => browse::health(common, args).await,
            Scenario::Probe(args) => probe::probe(common, args).await,
            Scenario::BookProbe(args) => probe::book_probe(common, args).await,
            Scenario::CreateEvent(args) => probe::create_event(common, args).await,
            Scenario::Report(_) => unreachable!("handled above"),
        }
    });
    finish(outcome)
}

/// Who used the CPU during a window: the load generator shares the machine with the server.
pub fn cpu_line(loadgen: Option<f64>, server: Option<f64>, seconds: f64) -> String {
    let share = |cpu: Option<f64>| match cpu {
        Some(cpu) if seconds > 0.0 => format!("{cpu:.1} s ({:.2} cores)", cpu / seconds),
        _ => "unknown".to_string(),
    };
    format!(
        "CPU: load generator {}, server {}",
        share(loadgen),
        share(server)
    )
}

fn finish(outcome: Result<bool, String>) -> ExitCode {
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("loadgen: FAILED (see above)");
            ExitCode::from(1)
        }
        Err(message) => {
            eprintln!("loadgen: {message}");
            ExitCode::from(2)
        }
    }
}
