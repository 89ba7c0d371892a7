//! Latency histograms and answer counts per endpoint, tables for people, JSON for the runner.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::api::{Reply, RETRY_PAUSE};

/// What one endpoint saw: every answer's latency, and the answers by kind.
#[derive(Clone)]
pub struct Endpoint {
    /// Microseconds, 1 µs to 10 min, 3 significant figures.
    pub latency: Histogram<u64>,
    pub ok: u64,
    pub conflict: u64,
    pub client_error: u64,
    /// The documented 503 of a server shedding load ([`Reply::is_shed`]): not an error.
    pub shed: u64,
    /// Any other 5xx, and a 503 without `Retry-After` or the error shape.
    pub server_error: u64,
    pub transport_error: u64,
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint {
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"),
            ok: 0,
            conflict: 0,
            client_error: 0,
            shed: 0,
            server_error: 0,
            transport_error: 0,
        }
    }
}

impl Endpoint {
    pub fn record(&mut self, reply: &Reply) {
        self.record_latency(reply.elapsed);
        match reply.status {
            0 => self.transport_error += 1,
            200..=299 => self.ok += 1,
            409 => self.conflict += 1,
            400..=499 => self.client_error += 1,
            503 if reply.is_shed() => self.shed += 1,
            _ => self.server_error += 1,
        }
    }

    pub fn record_latency(&mut self, elapsed: Duration) {
        let micros = (elapsed.as_micros() as u64).clamp(1, 600_000_000);
        self.latency.saturating_record(micros);
    }

    pub fn count(&self) -> u64 {
        self.latency.len()
    }

    pub fn merge(&mut self, other: &Endpoint) {
        self.latency
            .add(&other.latency)
            .expect("same histogram bounds");
        self.ok += other.ok;
        self.conflict += other.conflict;
        self.client_error += other.client_error;
        self.shed += other.shed;
        self.server_error += other.server_error;
        self.transport_error += other.transport_error;
    }

    /// A latency quantile in milliseconds.
    pub fn ms(&self, quantile: f64) -> f64 {
        if self.count() == 0 {
            return 0.0;
        }
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        if self.count() == 0 {
            return 0.0;
        }
        self.latency.max() as f64 / 1000.0
    }

    pub fn to_json(&self, seconds: f64) -> Value {
        json!({
            "count": self.count(),
            "ok": self.ok,
            "conflict_409": self.conflict,
            "client_error_4xx": self.client_error,
            "shed_503": self.shed,
            "server_error_5xx": self.server_error,
            "transport_error": self.transport_error,
            "rps": rate(self.count(), seconds),
            "p50_ms": round3(self.ms(0.50)),
            "p95_ms": round3(self.ms(0.95)),
            "p99_ms": round3(self.ms(0.99)),
            "max_ms": round3(self.max_ms()),
        })
    }
}

/// Endpoints by name, kept in name order for stable output.
#[derive(Clone, Default)]
pub struct Stats {
    pub endpoints: BTreeMap<String, Endpoint>,
}

impl Stats {
    pub fn endpoint(&mut self, name: &str) -> &mut Endpoint {
        self.endpoints.entry(name.to_string()).or_default()
    }

    /// Answers (2xx, and the 409s a race expects) under `name`; the documented 503s of a server
    /// shedding load under `name [shed]`; failures (other 4xx, 5xx, no answer) under
    /// `name [failed]`: a fast refusal never flatters a percentile.
    pub fn record(&mut self, name: &str, reply: &Reply) {
        if reply.ok() || reply.status == 409 {
            self.endpoint(name).record(reply);
        } else if reply.is_shed() {
            self.endpoint(&format!("{name} [shed]")).record(reply);
        } else {
            self.endpoint(&format!("{name} [failed]")).record(reply);
        }
    }

    /// The failures of `name`, if any.
    pub fn failed(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.get(&format!("{name} [failed]"))
    }

    /// The shed requests of `name` (documented 503s), if any.
    pub fn shed(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.get(&format!("{name} [shed]"))
    }

    /// Documented 503s, all endpoints.
    pub fn shed_total(&self) -> u64 {
        self.endpoints.values().map(|e| e.shed).sum()
    }

    pub fn merge(&mut self, other: &Stats) {
        for (name, endpoint) in &other.endpoints {
            self.endpoint(name).merge(endpoint);
        }
    }

    /// The figures of tasks that each measured on their own, merged (a task that failed adds
    /// nothing).
    pub async fn gather(tasks: Vec<tokio::task::JoinHandle<Stats>>) -> Stats {
        let mut all = Stats::default();
        for task in tasks {
            if let Ok(one) = task.await {
                all.merge(&one);
            }
        }
        all
    }

    pub fn get(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.get(name)
    }

    pub fn server_errors(&self) -> u64 {
        self.endpoints.values().map(|e| e.server_error).sum()
    }

    pub fn transport_errors(&self) -> u64 {
        self.endpoints.values().map(|e| e.transport_error).sum()
    }

    pub fn client_errors(&self) -> u64 {
        self.endpoints.values().map(|e| e.client_error).sum()
    }

    pub fn total(&self) -> u64 {
        self.endpoints.values().map(Endpoint::count).sum()
    }

    /// The table people read: one row per endpoint.
    pub fn table(&self, seconds: f64) -> String {
        let mut out = format!(
            "  {:<20} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6} {:>5} {:>5} {:>5}\n",
            "endpoint",
            "count",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "2xx",
            "409",
            "4xx",
            "shed",
            "5xx+"
        );
        for (name, e) in &self.endpoints {
            out.push_str(&format!(
                "  {:<20} {:>8} {:>10.1} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6} {:>5} {:>5} {:>5}\n",
                name,
                e.count(),
                rate(e.count(), seconds),
                fmt_ms(e.ms(0.50)),
                fmt_ms(e.ms(0.95)),
                fmt_ms(e.ms(0.99)),
                fmt_ms(e.max_ms()),
                e.ok,
                e.conflict,
                e.client_error,
                e.shed,
                e.server_error + e.transport_error,
            ));
        }
        out
    }

    pub fn to_json(&self, seconds: f64) -> Value {
        Value::Object(
            self.endpoints
                .iter()
                .map(|(name, e)| (name.clone(), e.to_json(seconds)))
                .collect(),
        )
    }
}

/// One request as a client that honours shedding sends it: sent again after [`RETRY_PAUSE`] while
/// the server sheds it (a documented 503), until `give_up`; every answer recorded under `name`.
/// The last answer is returned (still a 503 when the server shed it past `give_up`).
pub async fn until_admitted<F, Fut>(
    stats: &mut Stats,
    name: &str,
    give_up: Instant,
    mut send: F,
) -> Reply
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Reply>,
{
    loop {
        let reply = send().await;
        stats.record(name, &reply);
        if !reply.is_shed() || Instant::now() >= give_up {
            return reply;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

pub fn rate(count: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        0.0
    } else {
        round3(count as f64 / seconds)
    }
}

pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Milliseconds with as many decimals as their size deserves: `0.123`, `4.56`, `78.9`, `1234`.
pub fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 1000.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, ms: u64) -> Reply {
        Reply {
            status,
            body: Vec::new(),
            elapsed: Duration::from_millis(ms),
            transport_error: None,
            retry_after: None,
        }
    }

    #[test]
    fn milliseconds_keep_sensible_precision() {
        assert_eq!(fmt_ms(0.1234), "0.123");
        assert_eq!(fmt_ms(4.567), "4.57");
        assert_eq!(fmt_ms(78.94), "78.9");
        assert_eq!(fmt_ms(1234.4), "1234");
    }

    #[test]
    fn answers_are_counted_by_kind_and_quantiles_follow_the_latencies() {
        let mut stats = Stats::default();
        for ms in 1..=100 {
            stats.record("book", &reply(201, ms));
        }
        stats.record("book", &reply(409, 1));
        stats.record("book", &reply(503, 1));
        stats.record("book", &reply(400, 1));
        let book = stats.get("book").unwrap();
        assert_eq!((book.ok, book.conflict), (100, 1));
        assert_eq!(book.count(), 101);
        let failed = stats.failed("book").unwrap();
        assert_eq!(
            (failed.server_error, failed.client_error, failed.count()),
            (1, 1, 2)
        );
        assert!((book.ms(0.99) - 99.0).abs() < 0.5, "{}", book.ms(0.99));
        assert!((book.max_ms() - 100.0).abs() < 0.5);
        assert_eq!(stats.server_errors(), 1);
    }

    #[test]
    fn a_documented_503_is_shed_and_any_other_5xx_an_error() {
        use crate::api::tests::reply as answer;
        let busy = r#"{"status":"error","code":503,"message":"Busy."}"#;
        let mut stats = Stats::default();
        stats.record("login", &answer(503, Some("1"), busy));
        stats.record("login", &answer(503, None, busy));
        stats.record("login", &answer(500, Some("1"), busy));
        stats.record("login", &answer(200, None, "{}"));
        assert_eq!(
            stats.shed("login").map(|e| (e.shed, e.count())),
            Some((1, 1))
        );
        assert_eq!(stats.failed("login").map(|e| e.server_error), Some(2));
        assert_eq!((stats.shed_total(), stats.server_errors()), (1, 2));
        assert!(stats.table(1.0).contains("login [shed]"));
    }

    #[tokio::test]
    async fn a_shed_request_is_sent_again_until_admitted_or_given_up() {
        use crate::api::tests::reply as answer;
        let busy = r#"{"status":"error","code":503,"message":"Busy."}"#;
        let mut stats = Stats::default();
        let mut sent = 0;
        let far = Instant::now() + Duration::from_secs(60);
        let reply = until_admitted(&mut stats, "pay", far, || {
            sent += 1;
            let status = if sent < 3 { 503 } else { 200 };
            async move { answer(status, Some("1"), busy) }
        })
        .await;
        assert_eq!((reply.status, sent), (200, 3));
        assert_eq!(stats.shed_total(), 2);
        let now = Instant::now();
        let reply = until_admitted(&mut stats, "pay", now, || async {
            answer(503, Some("1"), busy)
        })
        .await;
        assert!(reply.is_shed());
        assert_eq!(stats.shed_total(), 3);
        // A 500 is not tried again.
        let reply =
            until_admitted(&mut stats, "pay", far, || async { answer(500, None, "{}") }).await;
        assert_eq!((reply.status, stats.server_errors()), (500, 1));
    }

    #[test]
    fn merging_adds_counts_and_latencies() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.record("seats", &reply(200, 2));
        b.record("seats", &reply(200, 4));
        b.record("health", &reply(200, 1));
        a.merge(&b);
        assert_eq!(a.get("seats").unwrap().count(), 2);
        assert_eq!(a.total(), 3);
        assert_eq!(rate(10, 4.0), 2.5);
    }
}
