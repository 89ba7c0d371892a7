//! Prometheus metrics: what WarTawa counts and measures, recorded through the `metrics` facade
//! and rendered in the text exposition format by `metrics-exporter-prometheus`.
//!
//! The recorder is the process's: installed once, shared by every app the process serves.
//! Every name WarTawa records is here, so that the README's list and the code agree.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// HTTP requests answered, by `method`, `route` (the path template) and `status`.
pub const HTTP_REQUESTS: &str = "wartawa_http_requests_total";
/// How long answering took, in seconds, by `method`, `route` and `status`.
pub const HTTP_DURATION: &str = "wartawa_http_request_duration_seconds";
/// Requests answered 503 (shed at the server's bound, or the store unreachable), by `route`.
pub const REQUESTS_SHED: &str = "wartawa_http_requests_shed_total";
/// Requests refused with 429 by a throttle, by `route`.
pub const REQUESTS_THROTTLED: &str = "wartawa_http_requests_throttled_total";
/// Bookings placed (seats held), by `event_id`.
pub const BOOKINGS_PLACED: &str = "wartawa_bookings_placed_total";
/// Bookings paid, by `event_id`.
pub const BOOKINGS_PAID: &str = "wartawa_bookings_paid_total";
/// Seats sold (of bookings paid), by `event_id`.
pub const SEATS_SOLD: &str = "wartawa_seats_sold_total";
/// Bookings cancelled (holds released and paid bookings refunded), by `event_id`.
pub const BOOKINGS_CANCELLED: &str = "wartawa_bookings_cancelled_total";
/// Guests let in at the door, by `event_id`.
pub const BOOKINGS_CHECKED_IN: &str = "wartawa_bookings_checked_in_total";
/// Holds that lapsed unpaid and were freed by this process's sweep.
pub const HOLDS_EXPIRED: &str = "wartawa_holds_expired_total";
/// Unpaid holds now, across shows (sampled).
pub const HOLDS_PENDING: &str = "wartawa_holds_pending";
/// Booking and payment requests answered from their `Idempotency-Key`'s first answer.
pub const IDEMPOTENT_REPLAYS: &str = "wartawa_idempotent_replays_total";
/// Database connections open, and idle among them (sampled).
pub const DATABASE_CONNECTIONS: &str = "wartawa_database_connections";
pub const DATABASE_CONNECTIONS_IDLE: &str = "wartawa_database_connections_idle";
/// How long a request waited for a database connection, in seconds.
pub const DATABASE_ACQUIRE: &str = "wartawa_database_acquire_seconds";
/// The connections the pool may open.
pub const DATABASE_CONNECTIONS_MAX: &str = "wartawa_database_connections_max";
/// Bookings and payments one sale batch of a show wrote together (PostgreSQL).
pub const SALE_BATCH_SIZE: &str = "wartawa_sale_batch_requests";
/// Webhook deliveries a receiver acknowledged (2xx).
pub const WEBHOOKS_DELIVERED: &str = "wartawa_webhooks_delivered_total";
/// Webhook attempts that failed (non-2xx, no answer, not reached); retried or parked.
pub const WEBHOOK_ATTEMPTS_FAILED: &str = "wartawa_webhook_attempts_failed_total";
/// E-mails to buyers the SMTP server accepted.
pub const EMAILS_SENT: &str = "wartawa_emails_sent_total";
/// E-mail attempts that failed (refused, or the SMTP server not reached); retried or parked.
pub const EMAIL_ATTEMPTS_FAILED: &str = "wartawa_email_attempts_failed_total";
/// How old the read replica's data may be at most, at its last check.
pub const READ_REPLICA_LAG: &str = "wartawa_read_replica_lag_seconds";
/// Event lists, event details and seat maps read, by where they were served (`served_by`:
/// `replica` or `primary`).
pub const BROWSING_READS: &str = "wartawa_browsing_reads_total";
/// Password hashes and checks running or waiting for a core.
pub const PASSWORD_CHECKS_IN_FLIGHT: &str = "wartawa_password_checks_in_flight";

/// Latency buckets, in seconds: from a cached seat map to a slow password check.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Requests in a sale batch: one alone, up to the bound of a batch.
const SALE_BATCH_BUCKETS: [f64; 7] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_string()), &DURATION_BUCKETS)
            .expect("the buckets are not empty")
            .set_buckets_for_metric(
                Matcher::Full(DATABASE_ACQUIRE.to_string()),
                &DURATION_BUCKETS,
            )
            .expect("the buckets are not empty")
            .set_buckets_for_metric(
                Matcher::Full(SALE_BATCH_SIZE.to_string()),
                &SALE_BATCH_BUCKETS,
            )
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder already installed (a test harness's) keeps its place; this handle
        // then renders nothing, which only a test could notice.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        let upkeep = handle.clone();
        // Histograms are drained into their buckets on upkeep; rendering does it too, this
        // keeps memory flat between scrapes.
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .expect("a thread for the metrics' upkeep");
        handle
    })
}

/// The metrics now, in Prometheus' text exposition format.
pub fn render() -> String {
    handle().render()
}

/// One answered HTTP request.
pub fn record_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
    match status {
        503 => metrics::counter!(REQUESTS_SHED, "route" => route.to_string()).increment(1),
        429 => metrics::counter!(REQUESTS_THROTTLED, "route" => route.to_string()).increment(1),
        _ => {}
    }
}

/// A sale event of a show: `name` is one of the booking counters above.
pub fn count_for_event(name: &'static str, event_id: i64, by: u64) {
    metrics::counter!(name, "event_id" => event_id.to_string()).increment(by);
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "How long answering a request took"
    );
    describe_counter!(
        REQUESTS_SHED,
        "Requests refused with 503 at the server's bound"
    );
    describe_counter!(
        REQUESTS_THROTTLED,
        "Requests refused with 429 by a throttle"
    );
    describe_counter!(BOOKINGS_PLACED, "Bookings placed (seats held)");
    describe_counter!(BOOKINGS_PAID, "Bookings paid");
    describe_counter!(SEATS_SOLD, "Seats of bookings paid");
    describe_counter!(BOOKINGS_CANCELLED, "Bookings cancelled or refunded");
    describe_counter!(BOOKINGS_CHECKED_IN, "Bookings checked in at the door");
    describe_counter!(HOLDS_EXPIRED, "Unpaid holds freed by this process's sweep");
    describe_gauge!(HOLDS_PENDING, "Unpaid holds now, across shows");
    describe_counter!(
        IDEMPOTENT_REPLAYS,
        "Requests answered from their Idempotency-Key"
    );
    describe_gauge!(DATABASE_CONNECTIONS, "Database connections open");
    describe_gauge!(
        DATABASE_CONNECTIONS_IDLE,
        "Database connections open and idle"
    );
    describe_gauge!(
        DATABASE_CONNECTIONS_MAX,
        "Database connections the pool may open"
    );
    describe_histogram!(
        SALE_BATCH_SIZE,
        "Bookings and payments of one show written in one transaction"
    );
    describe_gauge!(
        PASSWORD_CHECKS_IN_FLIGHT,
        "Password hashes and checks running or waiting"
    );
    describe_counter!(
        WEBHOOKS_DELIVERED,
        "Webhook deliveries a receiver acknowledged with a 2xx"
    );
    describe_counter!(EMAILS_SENT, "E-mails to buyers the SMTP server accepted");
    describe_counter!(
        EMAIL_ATTEMPTS_FAILED,
        "E-mail attempts that failed: refused or the SMTP server not reached"
    );
    describe_gauge!(
        READ_REPLICA_LAG,
        "How old the read replica's data may be at most, at its last check"
    );
    describe_counter!(
        BROWSING_READS,
        "Event lists, event details and seat maps read, by where they were served"
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS_FAILED,
        "Webhook attempts that failed: non-2xx, no answer or not reached"
    );
}
