//! The public HTTP API as the web app speaks it: JSON bodies, `Content-Type: application/json` on
//! every request (GETs included), `Authorization: Bearer` where a login is needed. Every call is
//! timed; nothing here retries.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, Method};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// One answered (or failed) request.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status; 0 when no answer came (connection refused or reset, timeout).
    pub status: u16,
    pub body: Vec<u8>,
    pub elapsed: Duration,
    /// Why no answer came, when `status` is 0.
    pub transport_error: Option<String>,
    /// The `Retry-After` header, when the answer had one.
    pub retry_after: Option<String>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|error| {
            format!(
                "unreadable JSON answer ({error}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }

    /// The documented 503 of a server shedding load (see [`check_shed`]): the request was not
    /// handled and may be sent again after a pause.
    pub fn is_shed(&self) -> bool {
        self.status == 503 && check_shed(self).is_ok()
    }

    /// A one-line description of a failed call, for messages.
    pub fn describe(&self) -> String {
        match &self.transport_error {
            Some(error) => format!("no answer: {error}"),
            None => format!(
                "HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            ),
        }
    }
}

/// The pause of a client whose request was shed before it tries again: shorter than
/// `Retry-After`'s second (people click again sooner, and a whole second would hide when the
/// server recovered).
pub const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// The documented 503: `Retry-After` in whole seconds (at least one) and the error shape
/// `{"status":"error","code":503,"message":...}`. `Err` says what is missing.
pub fn check_shed(reply: &Reply) -> Result<(), String> {
    let retry_after = reply
        .retry_after
        .as_deref()
        .and_then(|value| value.trim().parse::<u64>().ok());
    if retry_after.is_none_or(|seconds| seconds < 1) {
        return Err(format!(
            "without a Retry-After of whole seconds ({:?})",
            reply.retry_after
        ));
    }
    let body: Value = serde_json::from_slice(&reply.body).map_err(|_| {
        format!(
            "whose body is not JSON: {}",
            String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)])
        )
    })?;
    let shaped = body["status"] == "error"
        && body["code"] == 503
        && body["message"]
            .as_str()
            .is_some_and(|text| !text.is_empty());
    if shaped {
        Ok(())
    } else {
        Err(format!("not in the error shape: {body}"))
    }
}

/// Which of the server's bounds a 503 came from, read from its message: the requests in flight
/// (`MAX_IN_FLIGHT_REQUESTS`), the password checks (`MAX_PASSWORD_CHECKS_IN_FLIGHT`), or the
/// database (no pooled connection within `DATABASE_ACQUIRE_TIMEOUT_MS`); `other` when the
/// message says none of these.
pub fn shed_reason(reply: &Reply) -> &'static str {
    let message = serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .and_then(|body| body["message"].as_str().map(str::to_lowercase))
        .unwrap_or_default();
    if message.contains("more requests than it can") {
        "in-flight bound"
    } else if message.contains("logging in or signing up") {
        "password checks"
    } else if message.contains("busy right now") {
        "database"
    } else {
        "other"
    }
}

/// A client of one WarTawa server.
#[derive(Clone)]
pub struct Api {
    client: Client,
    base: String,
}

static JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Api {
    /// `max_idle` bounds the kept-alive connections (one per concurrent client is what a load
    /// test wants: no connection churn, no more sockets than callers).
    pub fn new(base_url: &str, timeout: Duration, max_idle: usize) -> Result<Api, String> {
        Api::from_address(base_url, timeout, max_idle, None)
    }

    /// As [`Api::new`], its connections opened from `local` (e.g. one of the loopback addresses
    /// 127.0.0.0/8, which Linux answers from without set-up): the server then sees another
    /// client address, as it would another person or another attacker.
    pub fn from_address(
        base_url: &str,
        timeout: Duration,
        max_idle: usize,
        local: Option<IpAddr>,
    ) -> Result<Api, String> {
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(max_idle.max(1))
            // Let idle connections go before the server does (after HEADER_READ_TIMEOUT_SECS,
            // 10 s by default), so that no request is sent on one the server is closing.
            .pool_idle_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .local_address(local)
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        Ok(Api {
            client,
            base: base_url.trim_end_matches('/').to_string(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .header(CONTENT_TYPE, JSON.clone());
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.body(serde_json::to_vec(body).unwrap_or_default());
        }
        let started = Instant::now();
        let outcome = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes, retry_after))
        }
        .await;
        let elapsed = started.elapsed();
        match outcome {
            Ok((status, bytes, retry_after)) => Reply {
                status,
                body: bytes.to_vec(),
                elapsed,
                transport_error: None,
                retry_after,
            },
            Err(error) => Reply {
                status: 0,
                body: Vec::new(),
                elapsed,
                transport_error: Some(error_chain(&error)),
                retry_after: None,
            },
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A seat of `GET /api/events/{id}/seats`, as much of it as the buyers read.
#[derive(Debug, Clone, Deserialize)]
pub struct Seat {
    pub id: i64,
    #[serde(default)]
    pub label: String,
    pub status: String,
    pub is_booked: bool,
}

#[derive(Debug, Deserialize)]
pub struct LoginAnswer {
    pub token: String,
    pub user: LoginUser,
}

#[derive(Debug, Deserialize)]
pub struct LoginUser {
    pub id: i64,
}

#[derive(Debug, Deserialize)]
pub struct BookedSeat {
    pub id: i64,
}

#[derive(Debug, Deserialize)]
pub struct Booking {
    pub booking_code: String,
    pub event_id: i64,
    pub total_price: i64,
    pub quantity: i64,
    pub status: String,
    pub seats: Vec<BookedSeat>,
    pub paid_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PaymentAnswer {
    pub amount: i64,
    pub status: String,
    pub booking: Booking,
}

#[derive(Debug, Deserialize)]
pub struct PhaseAnswer {
    pub id: i64,
    #[serde(default)]
    pub sold: i64,
}

#[derive(Debug, Deserialize)]
pub struct EventAnswer {
    pub id: i64,
    #[serde(default)]
    pub capacity: i64,
    #[serde(default)]
    pub available_seats: i64,
    #[serde(default)]
    pub tickets_sold: i64,
    pub phases: Vec<PhaseAnswer>,
}

#[derive(Debug, Deserialize)]
pub struct DashboardEvent {
    pub id: i64,
    pub tickets_sold: i64,
    pub revenue: i64,
}

#[derive(Debug, Deserialize)]
pub struct DashboardAnswer {
    pub total_revenue: i64,
    pub tickets_sold: i64,
    pub events: Vec<DashboardEvent>,
}

/// A seat as the buyers read it, borrowing from the answer: they parse a whole map per try.
#[derive(Debug, Deserialize)]
pub struct SeatRef<'a> {
    pub id: i64,
    #[serde(borrow)]
    pub status: &'a str,
    pub is_booked: bool,
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU used by this process and (when its pid is known) the server over a measured window.
pub struct CpuWindow {
    server_pid: Option<String>,
    own: Option<f64>,
    server: Option<f64>,
}

impl CpuWindow {
    pub fn start(server_pid: Option<&str>) -> CpuWindow {
        CpuWindow {
            server_pid: server_pid.map(str::to_string),
            own: cpu_seconds("self"),
            server: server_pid.and_then(cpu_seconds),
        }
    }

    /// (load generator, server) CPU seconds since `start`.
    pub fn end(&self) -> (Option<f64>, Option<f64>) {
        let own = cpu_seconds("self").zip(self.own).map(|(b, a)| b - a);
        let server = self
            .server_pid
            .as_deref()
            .and_then(cpu_seconds)
            .zip(self.server)
            .map(|(b, a)| b - a);
        (own, server)
    }
}

/// Reads a seat map's ids and statuses fast: the buyers read a whole map per try, and a full
/// JSON parse of 1000 seats costs the load generator more CPU than the server spends sending it.
/// Each seat object is flat (no nested braces); anything unexpected falls back to a full parse.
pub fn parse_seat_map(body: &[u8]) -> Result<Vec<SeatRef<'_>>, String> {
    fast_seat_map(body).map_or_else(
        || serde_json::from_slice(body).map_err(|error| format!("unreadable seat map ({error})")),
        Ok,
    )
}

fn fast_seat_map(body: &[u8]) -> Option<Vec<SeatRef<'_>>> {
    let text = std::str::from_utf8(body).ok()?;
    let bytes = text.as_bytes();
    let mut i = 0;
    while bytes.get(i)?.is_ascii_whitespace() {
        i += 1;
    }
    if bytes[i] != b'[' {
        return None;
    }
    i += 1;
    let mut seats = Vec::with_capacity(bytes.len() / 80 + 1);
    let (mut inside, mut id, mut status) = (false, None, None);
    while i < bytes.len() {
        match bytes[i] {
            b'{' if !inside => {
                (inside, id, status) = (true, None, None);
                i += 1;
            }
            b'}' if inside => {
                let status: &str = status?;
                seats.push(SeatRef {
                    id: id?,
                    status,
                    is_booked: status != "available",
                });
                inside = false;
                i += 1;
            }
            b'{' | b'}' => return None,
            b'"' => {
                let rest = &bytes[i + 1..];
                if inside && rest.starts_with(b"id\":") {
                    i += 5;
                    while bytes.get(i)?.is_ascii_whitespace() {
                        i += 1;
                    }
                    let start = i;
                    while bytes.get(i)?.is_ascii_digit() {
                        i += 1;
                    }
                    id = Some(text[start..i].parse().ok()?);
                } else if inside && rest.starts_with(b"status\":\"") {
                    i += 10;
                    let start = i;
                    while *bytes.get(i)? != b'"' {
                        i += 1;
                    }
                    status = Some(&text[start..i]);
                    i += 1;
                } else {
                    // Any other string, key or value: skipped whole, escapes included.
                    i += 1;
                    while *bytes.get(i)? != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    (!inside).then_some(seats)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    #[test]
    fn the_fast_seat_map_reader_agrees_with_a_full_parse() {
        let body = br#"[{"id":1201,"label":"A1","row":"A","number":1,"status":"available","is_booked":false},{"id":1202,"label":"A2","row":"A","number":2,"status":"held","is_booked":true},
            {"status":"sold","id":7,"label":"B1","is_booked":true}]"#;
        let fast = fast_seat_map(body).expect("the fast reader reads it");
        let full: Vec<SeatRef> = serde_json::from_slice(body).unwrap();
        let pairs = |seats: &[SeatRef]| -> Vec<(i64, String, bool)> {
            seats
                .iter()
                .map(|s| (s.id, s.status.to_string(), s.is_booked))
                .collect()
        };
        assert_eq!(pairs(&fast), pairs(&full));
        assert_eq!(fast.len(), 3);
        assert!(fast_seat_map(b"[]").unwrap().is_empty());
    }

    #[test]
    fn an_unexpected_shape_falls_back_to_the_full_parse() {
        assert!(fast_seat_map(br#"{"error":1}"#).is_none());
        assert!(parse_seat_map(br#"{"error":1}"#).is_err());
        assert!(fast_seat_map(br#"[{"id":1,"status":"sold","x":{"y":1}}]"#).is_none());
    }

    pub fn reply(status: u16, retry_after: Option<&str>, body: &str) -> Reply {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            elapsed: Duration::from_millis(1),
            transport_error: None,
            retry_after: retry_after.map(str::to_string),
        }
    }

    #[test]
    fn a_503_says_which_bound_refused_it() {
        let said = |message: &str| {
            shed_reason(&reply(
                503,
                Some("1"),
                &format!(r#"{{"status":"error","code":503,"message":"{message}"}}"#),
            ))
        };
        assert_eq!(
            said(
                "WarTawa is handling more requests than it can right now; please retry in a moment"
            ),
            "in-flight bound"
        );
        assert_eq!(
            said(
                "many people are logging in or signing up right now; please try again in a moment"
            ),
            "password checks"
        );
        assert_eq!(
            said("The service is busy right now; please try again in a moment"),
            "database"
        );
        assert_eq!(said("?"), "other");
        assert_eq!(shed_reason(&reply(503, None, "busy")), "other");
    }

    #[test]
    fn the_documented_503_has_retry_after_and_the_error_shape() {
        let body = r#"{"status":"error","code":503,"message":"Busy; retry in a moment."}"#;
        assert!(check_shed(&reply(503, Some("1"), body)).is_ok());
        assert!(reply(503, Some("1"), body).is_shed());
        assert!(!reply(500, Some("1"), body).is_shed());
        assert!(check_shed(&reply(503, None, body)).is_err());
        assert!(!reply(503, None, body).is_shed());
        assert!(check_shed(&reply(503, Some("0"), body)).is_err());
        assert!(check_shed(&reply(503, Some("soon"), body)).is_err());
        assert!(check_shed(&reply(503, Some("1"), "busy")).is_err());
        assert!(check_shed(&reply(
            503,
            Some("1"),
            r#"{"status":"error","code":500,"message":"x"}"#
        ))
        .is_err());
    }
}

#[cfg(test)]
mod speed {
    /// `cargo test --release -p wartawa-loadgen -- --ignored --nocapture seat_map_reading_speed`
    #[test]
    #[ignore = "a measurement, not a check"]
    fn seat_map_reading_speed() {
        let body: String = format!(
            "[{}]",
            (1..=1000)
                .map(|i| format!(r#"{{"id":{i},"label":"A{i}","row":"A","number":{i},"status":"{}","is_booked":false}}"#, if i % 3 == 0 { "sold" } else { "available" }))
                .collect::<Vec<_>>()
                .join(",")
        );
        let started = std::time::Instant::now();
        let mut n = 0;
        for _ in 0..2000 {
            n += super::parse_seat_map(body.as_bytes()).unwrap().len();
        }
        println!(
            "fast: {:?} per map of {} bytes ({n})",
            started.elapsed() / 2000,
            body.len()
        );
        let started = std::time::Instant::now();
        for _ in 0..2000 {
            n += serde_json::from_slice::<Vec<super::SeatRef>>(body.as_bytes())
                .unwrap()
                .len();
        }
        println!("serde: {:?} per map ({n})", started.elapsed() / 2000);
    }
}
