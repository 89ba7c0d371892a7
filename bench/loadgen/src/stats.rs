//! Latency histograms and answer counts per endpoint, tables for people, JSON for the runner.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::api::Reply;

/// What one endpoint saw: every answer's latency, and the answers by kind.
#[derive(Clone)]
pub struct Endpoint {
    /// Microseconds, 1 µs to 10 min, 3 significant figures.
    pub latency: Histogram<u64>,
    pub ok: u64,
    pub conflict: u64,
    pub client_error: u64,
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

    /// Answers (2xx, and the 409s a race expects) under `name`; failures (other 4xx, 5xx, no
    /// answer) under `name [failed]`, so that a fast refusal never flatters a percentile.
    pub fn record(&mut self, name: &str, reply: &Reply) {
        if reply.ok() || reply.status == 409 {
            self.endpoint(name).record(reply);
        } else {
            self.endpoint(&format!("{name} [failed]")).record(reply);
        }
    }

    /// The failures of `name`, if any.
    pub fn failed(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.get(&format!("{name} [failed]"))
    }

    pub fn merge(&mut self, other: &Stats) {
        for (name, endpoint) in &other.endpoints {
            self.endpoint(name).merge(endpoint);
        }
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
            "  {:<20} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6} {:>5} {:>5}\n",
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
            "5xx+"
        );
        for (name, e) in &self.endpoints {
            out.push_str(&format!(
                "  {:<20} {:>8} {:>10.1} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6} {:>5} {:>5}\n",
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
