//! WarTawa on PostgreSQL when the database misbehaves: every connection taken, a row lock held
//! too long, the server restarted under load, the server process killed mid on-sale. A customer
//! gets a prompt 503 (retry later) in the error shape, never a 500 and never a hang; WarTawa
//! recovers by itself once the database does; and nothing is ever half-written.
//!
//! The bounds on time below are bounds on hanging, generous enough for a loaded CI machine, not
//! speed assertions.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};

use adapters::postgres::PostgresSettings;
use bootstrap::wiring::Stores;
use tests::http_harness::{
    assert_error_shape, code, id, Reply, TestApp, TestStores, ADMIN_EMAIL, ADMIN_PASSWORD,
    PAYMENT_METHOD,
};
use tests::pg_cluster::{PrivateCluster, StopMode};
use tests::postgres_db::TestDatabase;

/// Longer than any single request may take while the database is out of reach.
const HANG_BOUND: Duration = Duration::from_secs(5);

/// Runs one request, failing the test if it takes `bound` or longer; returns it and its duration.
async fn within<F: Future<Output = Reply>>(
    bound: Duration,
    what: &str,
    request: F,
) -> (Reply, Duration) {
    let started = Instant::now();
    match tokio::time::timeout(bound, request).await {
        Ok(reply) => (reply, started.elapsed()),
        Err(_) => panic!("{what} hung: no answer within {bound:?}"),
    }
}

/// A 503 in the error shape with a `Retry-After` of at least a second.
#[track_caller]
fn assert_unavailable(what: &str, reply: &Reply) {
    assert_eq!(
        reply.code(),
        503,
        "{what}: expected 503, got {}: {}",
        reply.code(),
        reply.body
    );
    assert_error_shape(reply, 503);
    let retry_after = reply
        .header("retry-after")
        .and_then(|value| value.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|seconds| seconds >= 1),
        "{what}: a 503 without a usable Retry-After ({:?})",
        reply.header("retry-after")
    );
}

/// A fresh database, and settings for an app pool on it.
async fn database_and_settings(pool_size: u32) -> Option<(TestDatabase, PostgresSettings)> {
    let database = TestDatabase::create().await?;
    let settings = PostgresSettings::new(database.url.clone(), pool_size);
    Some((database, settings))
}

/// The app over `pool`, kept alive with `keep_alive`.
async fn app_over(
    pool: &PgPool,
    keep_alive: impl std::any::Any + Send + Sync,
    vars: &[(&str, &str)],
) -> TestApp {
    TestApp::start(
        TestStores::new(Stores::postgres(pool.clone()), keep_alive),
        vars,
    )
    .await
}

fn pay_body(booking: &Value) -> Value {
    json!({ "amount": booking["total_price"], "method": PAYMENT_METHOD })
}

// ---- the books ------------------------------------------------------------------------------

/// Each check lists what disagrees, one line per problem; an empty list is books that agree.
const BOOK_CHECKS: &[(&str, &str)] = &[
    (
        "every booking has all its seats",
        "SELECT format('booking %s (%s) has quantity %s but %s seats', b.code, b.status, b.quantity, count(bs.seat_id)) \
         FROM bookings b LEFT JOIN booking_seats bs ON bs.booking_id = b.id \
         GROUP BY b.id HAVING count(bs.seat_id) <> b.quantity",
    ),
    (
        "a booked seat is given back exactly when its booking no longer holds it, and is of its event",
        "SELECT format('seat %s of booking %s: released %s, booking %s; event %s, booking''s %s, seat''s %s', \
                bs.seat_id, b.code, bs.released, b.status, bs.event_id, b.event_id, s.event_id) \
         FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id JOIN seats s ON s.id = bs.seat_id \
         WHERE bs.released = (b.status IN ('pending', 'confirmed')) OR bs.event_id <> b.event_id \
            OR s.event_id <> b.event_id",
    ),
    (
        "no seat is in two open bookings",
        "SELECT format('seat %s is in %s open bookings', bs.seat_id, count(*)) \
         FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id \
         WHERE b.status IN ('pending', 'confirmed') GROUP BY bs.seat_id HAVING count(*) > 1",
    ),
    (
        "a phase's sold count is the tickets of its pending and confirmed bookings",
        "SELECT format('phase %s: sold %s, but its open bookings hold %s tickets', p.id, p.sold, \
                coalesce(sum(b.quantity) FILTER (WHERE b.status IN ('pending', 'confirmed')), 0)) \
         FROM phases p LEFT JOIN bookings b ON b.phase_id = p.id GROUP BY p.id \
         HAVING p.sold <> coalesce(sum(b.quantity) FILTER (WHERE b.status IN ('pending', 'confirmed')), 0)",
    ),
    (
        "every event has its sixteen figure shards",
        "SELECT format('event %s has %s figure shards', e.id, count(f.shard)) \
         FROM events e LEFT JOIN event_figures f ON f.event_id = e.id GROUP BY e.id HAVING count(f.shard) <> 16",
    ),
    (
        "each figure shard of an event holds what the bookings of that shard imply",
        "WITH implied AS ( \
             SELECT f.event_id, f.shard, \
                 coalesce(sum(b.quantity) FILTER (WHERE b.status IN ('pending', 'confirmed')), 0) AS seats_taken, \
                 coalesce(sum(b.quantity) FILTER (WHERE b.status = 'confirmed'), 0) AS tickets_sold, \
                 count(b.id) FILTER (WHERE b.status = 'pending') AS pending_bookings, \
                 coalesce(sum(b.total_price) FILTER (WHERE b.status = 'confirmed'), 0) AS revenue \
             FROM event_figures f \
             LEFT JOIN bookings b ON b.event_id = f.event_id AND figure_shard(b.id) = f.shard \
             GROUP BY f.event_id, f.shard) \
         SELECT format('event %s shard %s (kept/implied): seats_taken %s/%s, tickets_sold %s/%s, \
                pending_bookings %s/%s, revenue %s/%s', f.event_id, f.shard, f.seats_taken, i.seats_taken, \
                f.tickets_sold, i.tickets_sold, f.pending_bookings, i.pending_bookings, f.revenue, i.revenue) \
         FROM event_figures f JOIN implied i ON i.event_id = f.event_id AND i.shard = f.shard \
         WHERE f.seats_taken <> i.seats_taken OR f.tickets_sold <> i.tickets_sold \
            OR f.pending_bookings <> i.pending_bookings OR f.revenue <> i.revenue",
    ),
    (
        "a confirmed booking has exactly one successful payment; unpaid ones have none",
        "SELECT format('booking %s (%s) has %s payments, %s of them successful', b.code, b.status, \
                count(p.id), count(p.id) FILTER (WHERE p.status = 'success')) \
         FROM bookings b LEFT JOIN payments p ON p.booking_id = b.id GROUP BY b.id \
         HAVING count(p.id) FILTER (WHERE p.status = 'success') <> CASE WHEN b.status = 'confirmed' THEN 1 ELSE 0 END \
             OR (b.status IN ('pending', 'expired') AND count(p.id) > 0)",
    ),
    (
        "a payment covers its booking's total exactly, after change",
        "SELECT format('payment %s of booking %s: %s paid, %s change, %s due', p.id, b.code, p.amount, p.change, b.total_price) \
         FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE p.amount - p.change <> b.total_price",
    ),
];

/// Bookings by status, counted from the rows.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    pending: i64,
    confirmed: i64,
    cancelled: i64,
    expired: i64,
}

impl Counts {
    fn total(&self) -> i64 {
        self.pending + self.confirmed + self.cancelled + self.expired
    }
}

async fn booking_counts(pool: &PgPool) -> Counts {
    let (pending, confirmed, cancelled, expired): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'confirmed'), \
                count(*) FILTER (WHERE status = 'cancelled'), count(*) FILTER (WHERE status = 'expired') \
         FROM bookings",
    )
    .fetch_one(pool)
    .await
    .expect("count the bookings");
    Counts {
        pending,
        confirmed,
        cancelled,
        expired,
    }
}

/// Asserts that the stored rows agree with each other; returns the bookings by status.
async fn assert_books_agree(pool: &PgPool) -> Counts {
    let mut problems = Vec::new();
    for (rule, check) in BOOK_CHECKS {
        let lines: Vec<String> = sqlx::query_scalar(*check)
            .fetch_all(pool)
            .await
            .unwrap_or_else(|error| panic!("check \"{rule}\" failed to run: {error}"));
        problems.extend(lines.into_iter().map(|line| format!("{rule}: {line}")));
    }
    assert!(
        problems.is_empty(),
        "the books disagree:\n{}",
        problems.join("\n")
    );
    booking_counts(pool).await
}

/// Asserts that the seat map and the event's figures the app serves are what the rows say.
async fn assert_app_agrees(app: &TestApp, pool: &PgPool, event_id: i64) {
    let stored: Vec<(i64, String)> = sqlx::query_as(
        "SELECT s.id, CASE b.status WHEN 'pending' THEN 'held' WHEN 'confirmed' THEN 'sold' ELSE 'available' END \
         FROM seats s LEFT JOIN (booking_seats bs JOIN bookings b ON b.id = bs.booking_id \
                                 AND b.status IN ('pending', 'confirmed')) ON bs.seat_id = s.id \
         WHERE s.event_id = $1 AND NOT s.removed ORDER BY s.id",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await
    .expect("read the seats");
    let stored: BTreeMap<i64, String> = stored.into_iter().collect();
    let served: BTreeMap<i64, String> = app
        .seats(event_id)
        .await
        .iter()
        .map(|seat| {
            (
                id(seat),
                seat["status"].as_str().expect("a seat status").to_string(),
            )
        })
        .collect();
    let differences: Vec<String> = stored
        .iter()
        .filter(|(seat, status)| served.get(seat) != Some(status))
        .map(|(seat, status)| {
            format!(
                "seat {seat}: stored {status}, served {:?}",
                served.get(seat)
            )
        })
        .collect();
    assert!(
        differences.is_empty() && served.len() == stored.len(),
        "the seat map disagrees with the bookings ({} seats served, {} stored):\n{}",
        served.len(),
        stored.len(),
        differences.join("\n")
    );

    let (taken, sold): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(quantity) FILTER (WHERE status IN ('pending', 'confirmed')), 0)::bigint, \
                coalesce(sum(quantity) FILTER (WHERE status = 'confirmed'), 0)::bigint \
         FROM bookings WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await
    .expect("sum the bookings");
    let event = app.event(event_id).await;
    assert_eq!(
        event["available_seats"],
        json!(stored.len() as i64 - taken),
        "{event}"
    );
    assert_eq!(event["tickets_sold"], json!(sold), "{event}");
    for phase in event["phases"].as_array().expect("phases") {
        let open: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(quantity), 0)::bigint FROM bookings \
             WHERE phase_id = $1 AND status IN ('pending', 'confirmed')",
        )
        .bind(id(phase))
        .fetch_one(pool)
        .await
        .expect("sum a phase's bookings");
        assert_eq!(phase["sold"], json!(open), "phase of {event}");
    }
}

// ---- 1. every connection taken ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_every_connection_taken_requests_answer_503_promptly_and_recover_after() {
    let Some((database, mut settings)) = database_and_settings(1).await else {
        return;
    };
    settings.acquire_timeout = Duration::from_millis(300);
    let pool = adapters::postgres::pool(&settings).expect("a pool");
    let app = app_over(&pool, database, &[]).await;
    let event = app.event_on_sale("Kolam Penuh", 100_000, 20).await;
    let event_id = id(&event);
    let (_, token) = app.customer("Sari Dewi").await;
    let seat = app.seat_ids(event_id, &["A1"]).await;

    let held = pool.acquire().await.expect("the pool's only connection");
    let requests: Vec<(&str, tokio::task::JoinHandle<(Reply, Duration)>)> = vec![
        ("GET /api/events", {
            let app = app.clone();
            tokio::spawn(async move {
                within(HANG_BOUND, "GET /api/events", app.get("/api/events", None)).await
            })
        }),
        ("GET /api/events/{id}/seats", {
            let app = app.clone();
            let path = format!("/api/events/{event_id}/seats");
            tokio::spawn(
                async move { within(HANG_BOUND, "the seat map", app.get(&path, None)).await },
            )
        }),
        ("POST /api/bookings", {
            let (app, token, seat) = (app.clone(), token.clone(), seat.clone());
            tokio::spawn(async move {
                within(
                    HANG_BOUND,
                    "POST /api/bookings",
                    app.book_ids(&token, event_id, &seat),
                )
                .await
            })
        }),
        ("POST /api/users/login", {
            let app = app.clone();
            tokio::spawn(async move {
                within(
                    HANG_BOUND,
                    "a login",
                    app.login(ADMIN_EMAIL, ADMIN_PASSWORD),
                )
                .await
            })
        }),
    ];
    for (what, request) in requests {
        let (reply, took) = request.await.expect("the request task");
        assert_unavailable(what, &reply);
        eprintln!("{what} with the pool exhausted: 503 after {took:?}");
    }
    let (ready, _) = within(HANG_BOUND, "GET /ready", app.get("/ready", None)).await;
    assert_error_shape(&ready, 503);

    drop(held);
    app.get("/api/events", None).await.expect(200);
    app.get("/ready", None).await.expect(200);
    assert_eq!(
        app.seat_statuses(event_id).await["A1"],
        "available",
        "the booking refused while the pool was exhausted left no hold behind"
    );
    let booking = app.book_ids(&token, event_id, &seat).await.expect(201);
    app.post(
        &format!("/api/bookings/{}/pay", code(&booking)),
        Some(&token),
        &pay_body(&booking),
    )
    .await
    .expect(200);
    let counts = assert_books_agree(&pool).await;
    assert_eq!(
        (counts.confirmed, counts.total()),
        (1, 1),
        "only the booking made after the release is written"
    );
    assert_app_agrees(&app, &pool, event_id).await;
}

// ---- 2. a row lock held too long --------------------------------------------------------------

/// A 503 (retry later) or a 409, in the error shape, never a 500.
#[track_caller]
fn assert_refused_as_busy(what: &str, reply: &Reply) {
    match reply.code() {
        503 => assert_unavailable(what, reply),
        409 => assert_error_shape(reply, 409),
        other => panic!(
            "{what}: expected 503 or 409 while the event is locked, got {other}: {}",
            reply.body
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_held_past_the_lock_timeout_is_refused_as_busy_then_the_booking_goes_through() {
    let Some((database, mut settings)) = database_and_settings(4).await else {
        return;
    };
    settings.lock_timeout = Duration::from_millis(200);
    let url = database.url.clone();
    let pool = adapters::postgres::open(&settings).await.expect("a pool");
    let app = app_over(&pool, database, &[]).await;
    let event = app.event_on_sale("Kunci Lama", 100_000, 20).await;
    let event_id = id(&event);
    let (_, early) = app.customer("Sari Dewi").await;
    let (_, late) = app.customer("Bima Sakti").await;
    let held_before = app.book(&early, event_id, &["A1"]).await;
    let wanted = app.seat_ids(event_id, &["A2"]).await;

    // Another writer (another WarTawa process, a migration, an operator) sits on the event's lock.
    let mut holder = PgConnection::connect(&url)
        .await
        .expect("a connection of our own");
    sqlx::query("BEGIN")
        .execute(&mut holder)
        .await
        .expect("begin");
    sqlx::query("SELECT 1 FROM events WHERE id = $1 FOR UPDATE")
        .bind(event_id)
        .execute(&mut holder)
        .await
        .expect("lock the event's row");

    let (booked, took) = within(
        HANG_BOUND,
        "a booking",
        app.book_ids(&late, event_id, &wanted),
    )
    .await;
    assert_refused_as_busy("a booking of a locked event", &booked);
    eprintln!(
        "booking while the event is locked: {} after {took:?}",
        booked.code()
    );
    let pay_path = format!("/api/bookings/{}/pay", code(&held_before));
    let (paid, took) = within(
        HANG_BOUND,
        "a payment",
        app.post(&pay_path, Some(&early), &pay_body(&held_before)),
    )
    .await;
    assert_refused_as_busy("a payment of a locked event", &paid);
    eprintln!(
        "payment while the event is locked: {} after {took:?}",
        paid.code()
    );
    // Reading takes no lock: the seat map and the event still show while a writer waits.
    let (seats, _) = within(
        HANG_BOUND,
        "the seat map",
        app.get(&format!("/api/events/{event_id}/seats"), None),
    )
    .await;
    seats.expect(200);
    let (shown, _) = within(
        HANG_BOUND,
        "the event",
        app.get(&format!("/api/events/{event_id}"), None),
    )
    .await;
    assert_eq!(shown.expect(200)["available_seats"], 19);

    sqlx::query("COMMIT")
        .execute(&mut holder)
        .await
        .expect("commit");
    let booked = app.book_ids(&late, event_id, &wanted).await.expect(201);
    let receipt = app
        .post(&pay_path, Some(&early), &pay_body(&held_before))
        .await
        .expect(200);
    assert_eq!(receipt["booking"]["status"], "confirmed");

    let counts = assert_books_agree(&pool).await;
    assert_eq!(
        (counts.pending, counts.confirmed, counts.total()),
        (1, 1, 2),
        "the refused attempts wrote nothing"
    );
    assert_app_agrees(&app, &pool, event_id).await;
    let statuses = app.seat_statuses(event_id).await;
    assert_eq!(statuses["A1"], "sold");
    assert_eq!(statuses["A2"], "held");
    assert_eq!(booked["seat_labels"], json!(["A2"]));
}

// ---- 3. the database restarted under load -----------------------------------------------------

/// One request of the load, as its sender saw it.
#[derive(Debug)]
struct Outcome {
    what: &'static str,
    started: Instant,
    took: Duration,
    /// 0 when no answer came within the bound.
    status: u16,
    body: Value,
    retry_after: Option<u64>,
    /// The code of the booking the request made, paid or cancelled, when known.
    booking: Option<String>,
}

impl Outcome {
    fn ended(&self) -> Instant {
        self.started + self.took
    }
}

/// Everything the load sent, in the order answered.
#[derive(Clone, Default)]
struct Log {
    answered: Arc<Mutex<Vec<Outcome>>>,
    /// Each request on an existing booking as it is sent (it may never be answered: its sender
    /// can die first): what, and the booking.
    sent: Arc<Mutex<Vec<(&'static str, String)>>>,
}

impl Log {
    /// Sends `request`, records how it went, and returns the reply (`None` after a hang).
    async fn send<F: Future<Output = Reply>>(
        &self,
        what: &'static str,
        bound: Duration,
        request: F,
    ) -> Option<Reply> {
        self.send_about(what, None, bound, request).await
    }

    /// [`Log::send`] for a request on the booking `about` (a payment, a cancellation).
    async fn send_about<F: Future<Output = Reply>>(
        &self,
        what: &'static str,
        about: Option<&str>,
        bound: Duration,
        request: F,
    ) -> Option<Reply> {
        if let Some(booking) = about {
            let sent = (what, booking.to_string());
            self.sent.lock().expect("the log").push(sent);
        }
        let started = Instant::now();
        let reply = tokio::time::timeout(bound, request).await.ok();
        let outcome = Outcome {
            what,
            started,
            took: started.elapsed(),
            status: reply.as_ref().map_or(0, Reply::code),
            body: reply
                .as_ref()
                .map_or(Value::Null, |reply| reply.body.clone()),
            retry_after: reply
                .as_ref()
                .and_then(|reply| reply.header("retry-after"))
                .and_then(|value| value.parse().ok()),
            booking: about.map(str::to_string).or_else(|| {
                let made = reply.as_ref().filter(|reply| reply.code() == 201)?;
                made.body["booking_code"].as_str().map(str::to_string)
            }),
        };
        self.answered.lock().expect("the log").push(outcome);
        reply
    }

    /// How many recorded outcomes match.
    fn count(&self, matches: impl Fn(&Outcome) -> bool) -> usize {
        self.answered
            .lock()
            .expect("the log")
            .iter()
            .filter(|outcome| matches(outcome))
            .count()
    }

    fn take(&self) -> Vec<Outcome> {
        std::mem::take(&mut *self.answered.lock().expect("the log"))
    }

    fn take_sent(&self) -> Vec<(&'static str, String)> {
        std::mem::take(&mut *self.sent.lock().expect("the log"))
    }
}

/// Asserts that every answer the customers got holds in the stored rows: a booking answered 201
/// exists, a payment answered 200 stands, a cancellation answered 200 stands, and nothing
/// happened to a booking that nobody asked for. Returns the bookings written whose 201 never
/// reached their customer (the answer lost with the connection: the customer sees a 503 and
/// retries, which an `Idempotency-Key` makes safe).
async fn assert_answers_hold(
    pool: &PgPool,
    outcomes: &[Outcome],
    sent: &[(&'static str, String)],
) -> usize {
    #[derive(Default)]
    struct Asked {
        booked: bool,
        pay_tried: bool,
        paid: bool,
        cancel_tried: bool,
        cancelled: bool,
    }
    let mut asked: BTreeMap<&str, Asked> = BTreeMap::new();
    for (what, booking) in sent {
        let entry = asked.entry(booking.as_str()).or_default();
        match *what {
            "pay" => entry.pay_tried = true,
            "cancel" => entry.cancel_tried = true,
            _ => {}
        }
    }
    for outcome in outcomes {
        let Some(booking) = outcome.booking.as_deref() else {
            continue;
        };
        let entry = asked.entry(booking).or_default();
        let succeeded = matches!(outcome.status, 200 | 201);
        match outcome.what {
            "book" => entry.booked |= succeeded,
            "pay" => (entry.pay_tried, entry.paid) = (true, entry.paid || succeeded),
            "cancel" => {
                (entry.cancel_tried, entry.cancelled) = (true, entry.cancelled || succeeded)
            }
            _ => {}
        }
    }
    let stored: Vec<(String, String)> = sqlx::query_as("SELECT code, status FROM bookings")
        .fetch_all(pool)
        .await
        .expect("read the bookings");
    let stored: BTreeMap<String, String> = stored.into_iter().collect();
    let mut problems = Vec::new();
    for (booking, asked) in asked.iter().filter(|(_, asked)| asked.booked) {
        let Some(status) = stored.get(*booking) else {
            problems.push(format!(
                "booking {booking} was answered 201 but is not stored"
            ));
            continue;
        };
        let allowed: Vec<&str> = if asked.cancelled {
            vec!["cancelled"]
        } else if asked.paid {
            let mut allowed = vec!["confirmed"];
            if asked.cancel_tried {
                allowed.push("cancelled");
            }
            allowed
        } else {
            let mut allowed = vec!["pending"];
            if asked.pay_tried {
                allowed.push("confirmed");
            }
            if asked.cancel_tried {
                allowed.push("cancelled");
            }
            allowed
        };
        if !allowed.contains(&status.as_str()) {
            problems.push(format!(
                "booking {booking} is {status}; what its customer was told allows {allowed:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "answers given are not what is stored:\n{}",
        problems.join("\n")
    );
    stored
        .keys()
        .filter(|booking| {
            !asked
                .get(booking.as_str())
                .is_some_and(|asked| asked.booked)
        })
        .count()
}

/// Polls `done` until it holds, failing after `deadline` with `what`.
async fn wait_until(what: &str, deadline: Duration, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < deadline,
            "gave up after {deadline:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_under_load_fails_fast_with_503_and_the_same_app_recovers() {
    let Some(cluster) = PrivateCluster::start_new() else {
        return;
    };
    // The bound a request may wait for a connection: while the server is down, that is how long
    // each request waits before its 503.
    let mut settings = PostgresSettings::new(cluster.url(), 4);
    settings.acquire_timeout = Duration::from_secs(1);
    settings.lock_timeout = Duration::from_secs(1);
    settings.statement_timeout = Duration::from_secs(5);
    let bound = Duration::from_secs(10);
    let pool = adapters::postgres::open(&settings)
        .await
        .expect("open the private cluster");
    let app = app_over(&pool, (), &[("MAX_TICKETS_PER_USER", "0")]).await;
    let mut body = app.event_body("Mati Lampu");
    body["seats_per_row"] = json!(20);
    body["phases"] = json!([app.phase("Regular", 75_000, 400)]);
    let event_id = id(&app.create_event(&body).await);
    let seats: Vec<i64> = app.seats(event_id).await.iter().map(id).collect();
    let mut tokens = Vec::new();
    for name in ["Sari Dewi", "Bima Sakti", "Ayu Lestari", "Joko Susilo"] {
        tokens.push(app.customer(name).await.1);
    }

    let log = Log::default();
    let stop = Arc::new(AtomicBool::new(false));
    let give_up = Instant::now() + Duration::from_secs(180);
    let mut workers = Vec::new();
    let bookers = tokens.len();
    for (booker, token) in tokens.into_iter().enumerate() {
        let (app, log, stop, seats) = (app.clone(), log.clone(), stop.clone(), seats.clone());
        workers.push(tokio::spawn(async move {
            // Each booker takes its own seats in turn, so that they rarely collide.
            let mine = seats.iter().skip(booker).step_by(bookers).cycle();
            for seat in mine {
                if stop.load(Ordering::Relaxed) || Instant::now() > give_up {
                    break;
                }
                let Some(booked) = log
                    .send("book", bound, app.book_ids(&token, event_id, &[*seat]))
                    .await
                else {
                    continue;
                };
                if booked.code() == 201 {
                    let booking = code(&booked.body);
                    let path = format!("/api/bookings/{booking}/pay");
                    let amount = pay_body(&booked.body);
                    let request = app.post(&path, Some(&token), &amount);
                    log.send_about("pay", Some(&booking), bound, request).await;
                }
            }
        }));
    }
    for reader in 0..2 {
        let (app, log, stop) = (app.clone(), log.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let seat_map = format!("/api/events/{event_id}/seats");
            while !stop.load(Ordering::Relaxed) && Instant::now() < give_up {
                if reader == 0 {
                    log.send("list events", bound, app.get("/api/events", None))
                        .await;
                } else {
                    log.send("seat map", bound, app.get(&seat_map, None)).await;
                }
                // Pacing, so that the readers leave the machine to the bookers.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }

    let booked_since = |since: Instant| {
        let log = log.clone();
        move || {
            log.count(|outcome| {
                outcome.what == "book" && outcome.status == 201 && outcome.started >= since
            }) >= 6
        }
    };
    wait_until(
        "the load books seats",
        Duration::from_secs(60),
        booked_since(Instant::now()),
    )
    .await;

    let mut outages = Vec::new();
    for mode in [StopMode::Immediate, StopMode::Fast] {
        cluster.stop(mode);
        let stopped = Instant::now();
        let refused_since = {
            let log = log.clone();
            move || log.count(|outcome| outcome.status == 503 && outcome.started >= stopped) >= 8
        };
        wait_until(
            "requests are refused during the outage",
            Duration::from_secs(60),
            refused_since,
        )
        .await;
        // A request of our own, while the load goes on: each kind answers 503 in the error shape.
        let (listed, took) = within(bound, "GET /api/events", app.get("/api/events", None)).await;
        assert_unavailable(
            &format!("GET /api/events with the database {mode:?}-stopped"),
            &listed,
        );
        eprintln!("GET /api/events with the database down ({mode:?}): 503 after {took:?}");
        let (ready, _) = within(bound, "GET /ready", app.get("/ready", None)).await;
        assert_error_shape(&ready, 503);

        // Requests that ended before the server was told to start again had no database at all.
        let restarting = Instant::now();
        cluster.start();
        let restarted = Instant::now();
        outages.push((mode, stopped, restarting));
        wait_until(
            "bookings go through again after the restart",
            Duration::from_secs(60),
            booked_since(restarted),
        )
        .await;
        app.get("/api/events", None).await.expect(200);
        app.get("/ready", None).await.expect(200);
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(60), worker)
            .await
            .expect("the load stops")
            .expect("a load task");
    }

    let outcomes = log.take();
    let mut summary: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    for outcome in &outcomes {
        *summary.entry((outcome.what, outcome.status)).or_default() += 1;
    }
    eprintln!("the load's answers (request, status) → count: {summary:?}");
    let slowest_refusal = outcomes
        .iter()
        .filter(|outcome| outcome.status == 503)
        .map(|outcome| outcome.took)
        .max();
    eprintln!("the slowest 503: {slowest_refusal:?}");
    for outcome in &outcomes {
        let expected: &[u16] = match outcome.what {
            "book" => &[201, 409, 503],
            "pay" => &[200, 503],
            _ => &[200, 503],
        };
        assert!(
            expected.contains(&outcome.status),
            "{} answered {} after {:?} (0: no answer within {bound:?}): {}",
            outcome.what,
            outcome.status,
            outcome.took,
            outcome.body
        );
        if outcome.status == 503 {
            assert_eq!(
                outcome.body["status"], "error",
                "a 503 not in the error shape: {}",
                outcome.body
            );
            assert_eq!(outcome.body["code"], 503, "{}", outcome.body);
            assert!(
                outcome.retry_after.is_some_and(|seconds| seconds >= 1),
                "a 503 without Retry-After"
            );
        }
    }
    for (mode, stopped, restarting) in &outages {
        let during: Vec<&Outcome> = outcomes
            .iter()
            .filter(|outcome| outcome.started >= *stopped && outcome.ended() <= *restarting)
            .collect();
        assert!(
            !during.is_empty(),
            "no request was sent during the {mode:?} outage"
        );
        let served = during
            .iter()
            .filter(|outcome| outcome.status != 503)
            .count();
        assert_eq!(
            served, 0,
            "with the database down ({mode:?}), every request needing it answers 503"
        );
    }

    let checker = PgPool::connect(&cluster.url())
        .await
        .expect("a pool for the checks");
    let unanswered = assert_answers_hold(&checker, &outcomes, &log.take_sent()).await;
    eprintln!("bookings written whose 201 was lost with the database: {unanswered}");
    let counts = assert_books_agree(&checker).await;
    eprintln!("after two restarts: {counts:?}");
    assert!(counts.confirmed > 0, "some bookings were paid");
    assert_app_agrees(&app, &checker, event_id).await;
    checker.close().await;
    pool.close().await;
}

// ---- 4. killed mid on-sale --------------------------------------------------------------------

/// A small random source for the load's choices (xorshift); no crate for so little.
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Dice {
        Dice(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One customer of the on-sale: books one to three adjacent seats, pays most bookings, cancels
/// some (paid ones too, which refunds them), until `give_up`.
async fn shopper(
    app: TestApp,
    log: Log,
    token: String,
    event_id: i64,
    seats: Vec<i64>,
    mut dice: Dice,
    give_up: Instant,
) {
    let bound = Duration::from_secs(30);
    while Instant::now() < give_up {
        let wanted = 1 + dice.below(3) as usize;
        let first = dice.below((seats.len() - wanted + 1) as u64) as usize;
        let Some(booked) = log
            .send(
                "book",
                bound,
                app.book_ids(&token, event_id, &seats[first..first + wanted]),
            )
            .await
        else {
            continue;
        };
        if booked.code() != 201 {
            continue;
        }
        let booking = code(&booked.body);
        let roll = dice.below(10);
        let mut cancel = roll == 6;
        if roll <= 5 {
            let pay = format!("/api/bookings/{booking}/pay");
            let amount = pay_body(&booked.body);
            let request = app.post(&pay, Some(&token), &amount);
            let paid = log.send_about("pay", Some(&booking), bound, request).await;
            cancel = paid.is_some_and(|paid| paid.code() == 200) && dice.below(8) == 0;
        }
        if cancel {
            let path = format!("/api/bookings/{booking}/cancel");
            let empty = json!({});
            let request = app.post(&path, Some(&token), &empty);
            log.send_about("cancel", Some(&booking), bound, request)
                .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_mid_on_sale_nothing_is_half_written_and_a_new_process_carries_on() {
    let Some((database, settings)) = database_and_settings(8).await else {
        return;
    };
    let vars = [("MAX_TICKETS_PER_USER", "0")];
    let pool = adapters::postgres::open(&settings).await.expect("a pool");
    let app = app_over(&pool, (), &vars).await;
    let mut body = app.event_body("Penjualan Kilat");
    body["seats_per_row"] = json!(20);
    body["phases"] = json!([
        app.phase("Early Bird", 50_000, 100),
        app.phase("Regular", 100_000, 200)
    ]);
    let event_id = id(&app.create_event(&body).await);
    let seats: Vec<i64> = app.seats(event_id).await.iter().map(id).collect();
    let mut tokens = Vec::new();
    for n in 0..16 {
        tokens.push(app.customer(&format!("Pembeli {n}")).await.1);
    }
    drop(app);
    pool.close().await;

    // Watches the sale from outside: the app's connections (the test database's pool among them)
    // are the ones cut.
    let mut observer = PgConnection::connect(&database.url)
        .await
        .expect("a connection of our own");
    let mut caught_mid_flight = BTreeMap::<String, usize>::new();
    let (mut answered, mut sent) = (Vec::new(), Vec::new());
    for round in 0..3u64 {
        // A process starts (or restarts) over whatever the last one left.
        let pool = adapters::postgres::open(&settings).await.expect("a pool");
        let app = app_over(&pool, (), &vars).await;
        let made_before = assert_books_agree(&pool).await.total();
        assert_app_agrees(&app, &pool, event_id).await;

        let log = Log::default();
        let give_up = Instant::now() + Duration::from_secs(120);
        let shoppers: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(n, token)| {
                tokio::spawn(shopper(
                    app.clone(),
                    log.clone(),
                    token.clone(),
                    event_id,
                    seats.clone(),
                    Dice::new(round * 100 + n as u64),
                    give_up,
                ))
            })
            .collect();
        let started = Instant::now();
        loop {
            let made: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings")
                .fetch_one(&mut observer)
                .await
                .expect("count the bookings");
            if made >= made_before + 15 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the on-sale made {made} bookings in a minute"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // The process dies: its connections are cut wherever their transactions were, and
        // nothing it was doing goes on.
        let mut killer = PgConnection::connect(&database.url)
            .await
            .expect("a connection of our own");
        let cut: Vec<(Option<String>, bool)> = sqlx::query_as(
            "SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'wartawa' AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut killer)
        .await
        .expect("cut the app's connections");
        let running = shoppers
            .iter()
            .filter(|shopper| !shopper.is_finished())
            .count();
        for shopper in &shoppers {
            shopper.abort();
        }
        assert_eq!(
            running,
            shoppers.len(),
            "every shopper was still shopping when the process died"
        );
        assert!(!cut.is_empty(), "the app had connections to cut");
        for (state, _) in &cut {
            *caught_mid_flight
                .entry(state.clone().unwrap_or_default())
                .or_default() += 1;
        }
        for shopper in shoppers {
            if let Err(error) = shopper.await {
                assert!(error.is_cancelled(), "a shopper failed: {error}");
            }
        }
        drop(app);
        tokio::time::timeout(Duration::from_secs(30), pool.close())
            .await
            .expect("the dead process's pool closes");
        killer.close().await.expect("close our connection");

        let outcomes = log.take();
        let mut summary: BTreeMap<(&str, u16), usize> = BTreeMap::new();
        for outcome in &outcomes {
            *summary.entry((outcome.what, outcome.status)).or_default() += 1;
        }
        eprintln!("round {round}: the on-sale's answers (request, status) → count: {summary:?}");
        for outcome in &outcomes {
            let expected: &[u16] = match outcome.what {
                "book" => &[201, 409, 503],
                _ => &[200, 503],
            };
            assert!(
                expected.contains(&outcome.status),
                "{} answered {} after {:?} (0: no answer in time): {}",
                outcome.what,
                outcome.status,
                outcome.took,
                outcome.body
            );
        }
        answered.extend(outcomes);
        sent.extend(log.take_sent());
    }
    eprintln!("connections cut, by their state at the cut: {caught_mid_flight:?}");

    // The last restart: everything agrees, and the new process sells the seats left.
    let pool = adapters::postgres::open(&settings).await.expect("a pool");
    let app = app_over(&pool, (), &vars).await;
    let counts = assert_books_agree(&pool).await;
    eprintln!("after three deaths: {counts:?}");
    let unanswered = assert_answers_hold(&pool, &answered, &sent).await;
    eprintln!("bookings written whose 201 died with the process: {unanswered}");
    assert!(
        counts.confirmed > 0 && counts.pending > 0,
        "the on-sale both held and sold seats: {counts:?}"
    );
    assert_app_agrees(&app, &pool, event_id).await;
    let free = app
        .seats(event_id)
        .await
        .into_iter()
        .find(|seat| seat["status"] == "available")
        .map(|seat| id(&seat))
        .expect("a seat left");
    let (_, token) = app.customer("Pembeli Terakhir").await;
    let booking = app.book_ids(&token, event_id, &[free]).await.expect(201);
    app.post(
        &format!("/api/bookings/{}/pay", code(&booking)),
        Some(&token),
        &pay_body(&booking),
    )
    .await
    .expect(200);
    assert_books_agree(&pool).await;
    assert_app_agrees(&app, &pool, event_id).await;
    pool.close().await;
}
