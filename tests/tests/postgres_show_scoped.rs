//! Every statement of a show's sale touches that show's rows only: while another connection holds
//! a row lock on every row of show B, in every table that keeps rows per show, the whole sale of
//! show A (booking, paying, cancelling, a lapsed hold expired by the sale, check-in, the seat
//! map, the details) completes without waiting; and a write on B does wait, so that the test
//! cannot pass with locks that lock nothing.
//!
//! This is what lets the schema later be distributed by `event_id` (see `docs/citus.md`): a
//! statement that read-locked or wrote another show's row would become a cross-shard one.
//!
//! The store gets a short `lock_timeout`, so that a statement that waits for one of B's rows fails
//! as busy instead of hanging, and each step runs under a tokio timeout as a second guard. A
//! second connection watches the database for sessions waiting on a lock, so that a failure names
//! the statement that waited and the row it waited for.

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use sqlx::{Connection, PgConnection};

use adapters::postgres::{PostgresSettings, PostgresStore};
use application::notifications::NewWebhookEndpoint;
use application::ports::{BookingCommandError, CodeGenerator, Page, PlaceBookingError, StoreError};
use application::views::BookingDetails;
use bootstrap::wiring::Stores;
use domain::audit::AuditStamp;
use domain::booking::{
    BookingCode, BookingPolicy, BookingRequest, BookingStatus, CODE_ALPHABET, CODE_LENGTH,
};
use domain::event::{validate_new_event, EventId, EventInput, PhaseInput};
use domain::money::Money;
use domain::notification::NoticeKind;
use domain::payment::{PaymentInput, PaymentStatus};
use domain::seat::{SeatId, SeatStatus};
use domain::user::{Email, NewUser, PersonName, Role, User};
use domain::Timestamp;
use tests::pictures::{data_url, png};
use tests::postgres_db::TestDatabase;

/// How long the store's statements wait for a row lock before failing as busy.
const LOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest a step may take: a bound on hanging, not a speed assertion.
const STEP_BOUND: Duration = Duration::from_secs(10);

/// How often the watcher looks for sessions waiting on a lock.
const WATCH_EVERY: Duration = Duration::from_millis(10);

/// Each table that keeps rows of one show, with the statement that locks (and returns) the rows
/// of show `$1` in it. A table added to the schema must be listed here or in [`CROSS_SHOW`].
const PER_SHOW: &[(&str, &str)] = &[
    ("events", "SELECT to_jsonb(x)::text FROM events x WHERE x.id = $1 FOR UPDATE"),
    (
        "event_figures",
        "SELECT to_jsonb(x)::text FROM event_figures x WHERE x.event_id = $1 ORDER BY x.shard FOR UPDATE",
    ),
    (
        "event_images",
        "SELECT to_jsonb(x)::text FROM event_images x WHERE x.event_id = $1 FOR UPDATE",
    ),
    (
        "phases",
        "SELECT to_jsonb(x)::text FROM phases x WHERE x.event_id = $1 ORDER BY x.id FOR UPDATE",
    ),
    (
        "seats",
        "SELECT to_jsonb(x)::text FROM seats x WHERE x.event_id = $1 ORDER BY x.id FOR UPDATE",
    ),
    (
        "bookings",
        "SELECT to_jsonb(x)::text FROM bookings x WHERE x.event_id = $1 ORDER BY x.id FOR UPDATE",
    ),
    (
        "booking_seats",
        "SELECT to_jsonb(x)::text FROM booking_seats x WHERE x.event_id = $1 \
         ORDER BY x.booking_id, x.seat_id FOR UPDATE",
    ),
    (
        "payments",
        "SELECT to_jsonb(x)::text FROM payments x JOIN bookings b ON b.id = x.booking_id \
         WHERE b.event_id = $1 ORDER BY x.id FOR UPDATE OF x",
    ),
    (
        "notifications",
        "SELECT to_jsonb(x)::text FROM notifications x WHERE x.event_id = $1 ORDER BY x.id FOR UPDATE",
    ),
    (
        "deliveries",
        "SELECT to_jsonb(x)::text FROM deliveries x JOIN notifications n ON n.id = x.notification_id \
         WHERE n.event_id = $1 ORDER BY x.id FOR UPDATE OF x",
    ),
    (
        "audit_log",
        "SELECT to_jsonb(x)::text FROM audit_log x \
         WHERE (x.target_type = 'event' AND x.target_id = $1::text) \
            OR (x.target_type = 'booking' AND x.target_id IN (SELECT code FROM bookings WHERE event_id = $1)) \
         ORDER BY x.id FOR UPDATE OF x",
    ),
];

/// The tables whose rows belong to no one show: accounts, each user's idempotency keys, the
/// throttles' windows, webhook endpoints, the database's identity, the migrations' own
/// bookkeeping.
const CROSS_SHOW: &[&str] = &[
    "users",
    "idempotency_keys",
    "rate_windows",
    "webhook_endpoints",
    "database_identity",
    "_sqlx_migrations",
];

// ---- fixtures --------------------------------------------------------------------------------

/// The time the sale starts at; later steps pass later times explicitly.
fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0)
        .single()
        .expect("a valid fixed time")
}

fn at_minute(minutes: i64) -> Timestamp {
    t0() + chrono::Duration::minutes(minutes)
}

/// Booking codes handed out in order, unique, except those queued with [`ScriptedCodes::next_is`]
/// first: a code already taken makes the store retry with a fresh one.
#[derive(Default)]
struct ScriptedCodes {
    queued: Mutex<VecDeque<BookingCode>>,
    serial: AtomicU64,
}

impl ScriptedCodes {
    fn next_is(&self, code: BookingCode) {
        self.queued.lock().expect("codes").push_back(code);
    }
}

impl CodeGenerator for ScriptedCodes {
    fn generate(&self) -> BookingCode {
        if let Some(code) = self.queued.lock().expect("codes").pop_front() {
            return code;
        }
        let mut serial = self.serial.fetch_add(1, Ordering::SeqCst);
        let mut picks = [0_u32; CODE_LENGTH];
        for pick in picks.iter_mut().rev() {
            *pick = (serial % CODE_ALPHABET.len() as u64) as u32;
            serial /= CODE_ALPHABET.len() as u64;
        }
        BookingCode::from_random(picks)
    }
}

async fn user(stores: &Stores, name: &str, role: Role) -> User {
    let address = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
    stores
        .users
        .insert(NewUser {
            name: PersonName::parse(name).expect("a valid name"),
            email: Email::parse(&address).expect("a valid email"),
            password_hash: "$2b$04$not-a-real-hash".into(),
            role,
            nik: None,
            phone_number: None,
            created_at: t0(),
        })
        .await
        .expect("a new user")
}

/// A show a month away, 20 seats, one phase on sale from a day before [`t0`].
async fn show(stores: &Stores, name: &str, image_url: String) -> EventId {
    let date = t0() + chrono::Duration::days(30);
    let input = EventInput {
        name: name.into(),
        description: Some("An evening of stand-up".into()),
        date,
        venue: "Jakarta Comedy Club".into(),
        image_url: Some(image_url),
        seats_per_row: Some(10),
        capacity: Some(20),
        phases: vec![PhaseInput {
            id: None,
            name: "Reguler".into(),
            price: 100_000,
            quota: 20,
            start_date: t0() - chrono::Duration::days(1),
            end_date: date - chrono::Duration::hours(1),
        }],
    };
    let new = validate_new_event(&input, t0()).expect("a valid event");
    stores
        .events
        .create(new)
        .await
        .expect("a stored event")
        .event
        .id
}

async fn seats(stores: &Stores, event: EventId) -> Vec<SeatId> {
    stores
        .events
        .seats(event, t0())
        .await
        .expect("the seat map")
        .expect("a known event")
        .seats
        .into_iter()
        .map(|view| view.seat.id)
        .collect()
}

fn request(customer: &User, event: EventId, seat: SeatId) -> BookingRequest {
    BookingRequest {
        customer_id: customer.id,
        event_id: event,
        seat_ids: vec![seat],
        phase_id: None,
        quantity: None,
    }
}

fn payment_of(booking: &BookingDetails) -> PaymentInput {
    PaymentInput {
        amount: Money::rupiah(booking.booking.total_price.amount()),
        method: "BCA Virtual Account".into(),
    }
}

async fn place(
    stores: &Stores,
    customer: &User,
    event: EventId,
    seat: SeatId,
    at: Timestamp,
) -> BookingDetails {
    stores
        .bookings
        .place(request(customer, event, seat), BookingPolicy::default(), at)
        .await
        .expect("an accepted booking")
}

async fn pay(stores: &Stores, booking: &BookingDetails, at: Timestamp) {
    stores
        .bookings
        .pay(&booking.booking.code, payment_of(booking), at)
        .await
        .expect("an accepted payment");
}

async fn status_of(stores: &Stores, booking: &BookingDetails, at: Timestamp) -> BookingDetails {
    stores
        .bookings
        .find_by_code(&booking.booking.code, at)
        .await
        .expect("the booking")
        .expect("a known booking")
}

// ---- the watcher -----------------------------------------------------------------------------

/// Watches the test's database, on a connection of its own, for sessions waiting on a lock, and
/// keeps what each waited on: its statement, the locks it waits for and the row of any tuple lock
/// it holds while waiting (the row it wants).
struct Watcher {
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(sqlx::FromRow)]
struct Waiting {
    pid: i32,
    query: Option<String>,
    blocked_by: Vec<i32>,
    locks: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TupleLock {
    relation: String,
    page: i32,
    tuple: i16,
}

impl Watcher {
    async fn start(url: &str) -> Watcher {
        let mut conn = PgConnection::connect(url)
            .await
            .expect("a connection for the watcher");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen_by_task, stop_task) = (Arc::clone(&seen), Arc::clone(&stop));
        let task = tokio::spawn(async move {
            while !stop_task.load(Ordering::Relaxed) {
                for line in waits(&mut conn).await {
                    let mut seen = seen_by_task.lock().expect("seen");
                    if !seen.contains(&line) {
                        seen.push(line);
                    }
                }
                tokio::time::sleep(WATCH_EVERY).await;
            }
        });
        Watcher { seen, stop, task }
    }

    /// What was seen since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().expect("seen"))
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
    }
}

/// One line per session of this database now waiting on a lock.
async fn waits(conn: &mut PgConnection) -> Vec<String> {
    let waiting: Vec<Waiting> = match sqlx::query_as(
        "SELECT a.pid, a.query, pg_blocking_pids(a.pid) AS blocked_by, \
                (SELECT string_agg(format('%s %s on %s%s', l.locktype, l.mode, \
                        coalesce(l.relation::regclass::text, l.transactionid::text, ''), \
                        CASE WHEN l.granted THEN '' ELSE ' (waiting)' END), '; ') \
                 FROM pg_locks l WHERE l.pid = a.pid AND (NOT l.granted OR l.locktype = 'tuple')) AS locks \
         FROM pg_stat_activity a \
         WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()",
    )
    .fetch_all(&mut *conn)
    .await
    {
        Ok(waiting) => waiting,
        Err(error) => return vec![format!("(the watcher failed: {error})")],
    };
    let mut lines = Vec::new();
    for session in waiting {
        let tuples: Vec<TupleLock> = sqlx::query_as(
            "SELECT l.relation::regclass::text AS relation, l.page, l.tuple::int2 AS tuple \
             FROM pg_locks l WHERE l.pid = $1 AND l.locktype = 'tuple'",
        )
        .bind(session.pid)
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
        let mut rows = Vec::new();
        for tuple in tuples {
            let row: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT to_jsonb(t)::text FROM {} t WHERE ctid = '({},{})'::tid",
                tuple.relation, tuple.page, tuple.tuple
            )))
            .fetch_optional(&mut *conn)
            .await
            .ok()
            .flatten();
            rows.push(format!(
                "row ({},{}) of {}: {}",
                tuple.page,
                tuple.tuple,
                tuple.relation,
                row.unwrap_or_else(|| "(gone)".into())
            ));
        }
        lines.push(format!(
            "session {} blocked by {:?} waits [{}] in statement: {}{}",
            session.pid,
            session.blocked_by,
            session.locks.unwrap_or_default(),
            session
                .query
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            rows.iter()
                .map(|row| format!("\n    wants {row}"))
                .collect::<String>()
        ));
    }
    lines
}

// ---- steps -----------------------------------------------------------------------------------

/// Runs a step of show A's sale while B is locked: it must succeed, within [`STEP_BOUND`], and
/// no session may have waited on a lock meanwhile.
async fn unhindered<T, E: Debug>(
    watcher: &Watcher,
    step: &str,
    run: impl Future<Output = Result<T, E>>,
) -> T {
    watcher.take();
    let outcome = tokio::time::timeout(STEP_BOUND, run).await;
    // Long enough for the watcher to have looked again after the step's last statement.
    tokio::time::sleep(WATCH_EVERY * 3).await;
    let waits = watcher.take().join("\n  ");
    match outcome {
        Err(_) => panic!(
            "show A's step \"{step}\" hung past {STEP_BOUND:?} while show B's rows were locked; \
             lock waits seen:\n  {waits}"
        ),
        Ok(Err(error)) => panic!(
            "show A's step \"{step}\" failed while show B's rows were locked: {error:?}; \
             lock waits seen:\n  {waits}"
        ),
        Ok(Ok(value)) => {
            assert!(
                waits.is_empty(),
                "show A's step \"{step}\" succeeded, but waited on a lock while show B's rows \
                 were locked:\n  {waits}"
            );
            value
        }
    }
}

/// Runs a write on show B while B is locked: it must wait for B's lock and be refused as busy
/// (the store's `lock_timeout`), within [`STEP_BOUND`]. Returns the waits seen.
async fn held_off<T: Debug, E: Debug>(
    watcher: &Watcher,
    step: &str,
    is_busy: impl FnOnce(&E) -> bool,
    run: impl Future<Output = Result<T, E>>,
) -> Vec<String> {
    watcher.take();
    let outcome = tokio::time::timeout(STEP_BOUND, run).await;
    tokio::time::sleep(WATCH_EVERY * 3).await;
    let waits = watcher.take();
    match outcome {
        Err(_) => {
            panic!("show B's write \"{step}\" hung past {STEP_BOUND:?} despite the lock timeout")
        }
        Ok(Ok(value)) => panic!(
            "show B's write \"{step}\" went through while B's rows were locked ({value:?}): \
             the locks lock nothing, and the test of show A proves nothing"
        ),
        Ok(Err(error)) => assert!(
            is_busy(&error),
            "show B's write \"{step}\" failed otherwise than busy: {error:?}"
        ),
    }
    assert!(
        !waits.is_empty(),
        "show B's write \"{step}\" was refused as busy, yet no session was seen waiting on a lock"
    );
    waits
}

/// Every row of show B, table by table, as locked by `PER_SHOW` (on the locking connection, in
/// its transaction) or as read (on any other).
async fn rows_of_show(conn: &mut PgConnection, show: EventId) -> Vec<(&'static str, Vec<String>)> {
    let mut all = Vec::new();
    for (table, lock) in PER_SHOW {
        let rows: Vec<String> = sqlx::query_scalar(*lock)
            .bind(show.0)
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_else(|error| panic!("lock show B's rows of {table}: {error}"));
        all.push((*table, rows));
    }
    all
}

// ---- the test --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sale_of_one_show_never_waits_for_another_shows_rows() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let settings = PostgresSettings {
        lock_timeout: LOCK_TIMEOUT,
        ..PostgresSettings::new(database.url.clone(), 8)
    };
    let codes = Arc::new(ScriptedCodes::default());
    let pool = adapters::postgres::pool(&settings).expect("a pool on the test database");
    let stores = Stores::of_postgres(Arc::new(PostgresStore::new(pool, codes.clone())));
    // Every change is recorded in the outbox, as when buyers are e-mailed.
    stores.notifications.email_buyers();

    let mut admin_conn = PgConnection::connect(&database.url)
        .await
        .expect("a connection of the test's own");
    let tables: BTreeSet<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&mut admin_conn)
            .await
            .expect("the schema's tables")
            .into_iter()
            .collect();
    let classified: BTreeSet<String> = PER_SHOW
        .iter()
        .map(|(table, _)| *table)
        .chain(CROSS_SHOW.iter().copied())
        .map(String::from)
        .collect();
    assert_eq!(
        tables, classified,
        "every table is either locked per show here or known to be cross-show"
    );

    let staff = user(&stores, "Door Staff", Role::Admin).await;
    let names = [
        "Alice Putri",
        "Erin Lestari",
        "Dave Santoso",
        "Kim Wijaya",
        "Carol Halim",
        "Ivan Gunawan",
        "Jane Kusuma",
        "Bob Hartono",
        "Frank Siregar",
        "Gina Rahma",
        "Hank Pratama",
        "Lina Marpaung",
    ];
    let mut people = Vec::new();
    for name in names {
        people.push(user(&stores, name, Role::Customer).await);
    }
    let [alice, erin, dave, kim, carol, ivan, jane, bob, frank, gina, hank, lina] = &people[..]
    else {
        unreachable!("twelve customers")
    };
    let a = show(
        &stores,
        "Show A Tertawa",
        "https://cdn.example.com/a.jpg".into(),
    )
    .await;
    let b = show(&stores, "Show B Terbahak", data_url("image/png", &png(7))).await;
    let (seats_a, seats_b) = (seats(&stores, a).await, seats(&stores, b).await);
    stores
        .notifications
        .create_endpoint(NewWebhookEndpoint {
            url: "https://hooks.example.com/wartawa".into(),
            kinds: vec![
                NoticeKind::BookingPaid,
                NoticeKind::BookingCancelled,
                NoticeKind::BookingRefunded,
                NoticeKind::BookingExpired,
                NoticeKind::BookingCheckedIn,
            ],
            secret: "whsec_test".into(),
            created_at: t0(),
            created_by: staff.id,
        })
        .await
        .expect("a webhook endpoint");

    // Show B: a paid booking, a hold that lapses at minute 15 (as A's do: an expiry of "every
    // show" would reach it), a guest let in, a refunded cancellation.
    let bob_b = place(&stores, bob, b, seats_b[0], t0()).await;
    pay(&stores, &bob_b, t0()).await;
    let _frank_b = place(&stores, frank, b, seats_b[1], t0()).await;
    let gina_b = place(&stores, gina, b, seats_b[2], t0()).await;
    pay(&stores, &gina_b, t0()).await;
    stores
        .bookings
        .check_in(&gina_b.booking.code, t0(), AuditStamp::new(staff.id, t0()))
        .await
        .expect("gina let in");
    let hank_b = place(&stores, hank, b, seats_b[3], t0()).await;
    pay(&stores, &hank_b, t0()).await;
    stores
        .bookings
        .cancel(&hank_b.booking.code, t0())
        .await
        .expect("hank's cancellation");

    // Show A: a paid booking to check in, a paid one to cancel, a hold lapsing at minute 15 and
    // one at minute 20.
    let alice_a = place(&stores, alice, a, seats_a[0], t0()).await;
    pay(&stores, &alice_a, t0()).await;
    let erin_a = place(&stores, erin, a, seats_a[1], t0()).await;
    pay(&stores, &erin_a, t0()).await;
    let dave_a = place(&stores, dave, a, seats_a[2], t0()).await;
    let kim_a = place(&stores, kim, a, seats_a[3], at_minute(5)).await;
    // The outbox's notifications so far become deliveries (B's among them).
    stores
        .notifications
        .fan_out(
            1000,
            t0(),
            vec![NoticeKind::BookingPaid, NoticeKind::BookingRefunded],
        )
        .await
        .expect("fan out");

    // ---- B locked --------------------------------------------------------------------------
    let watcher = Watcher::start(&database.url).await;
    let mut locker = PgConnection::connect(&database.url)
        .await
        .expect("the locking connection");
    sqlx::query("BEGIN")
        .execute(&mut locker)
        .await
        .expect("begin");
    let locked = rows_of_show(&mut locker, b).await;
    for (table, rows) in &locked {
        assert!(!rows.is_empty(), "show B has no rows in {table} to lock");
        eprintln!("locked {} row(s) of show B in {table}", rows.len());
    }

    // Sanity: a booking on B waits for B's lock.
    let waits = held_off(
        &watcher,
        "a booking on show B",
        |error| matches!(error, PlaceBookingError::Store(StoreError::Busy(_))),
        stores.bookings.place(
            request(lina, b, seats_b[5]),
            BookingPolicy::default(),
            at_minute(1),
        ),
    )
    .await;
    eprintln!(
        "a booking on show B waited, as it must:\n  {}",
        waits.join("\n  ")
    );

    // A's first new booking is handed the code of a booking of B first: the unique index on
    // codes meets B's locked row, and the store must try another code without waiting for it.
    codes.next_is(bob_b.booking.code.clone());
    let carol_a = unhindered(
        &watcher,
        "place a booking (its first code taken by show B)",
        stores.bookings.place(
            request(carol, a, seats_a[4]),
            BookingPolicy::default(),
            at_minute(1),
        ),
    )
    .await;
    assert_ne!(carol_a.booking.code, bob_b.booking.code);
    unhindered(
        &watcher,
        "pay a booking",
        stores
            .bookings
            .pay(&carol_a.booking.code, payment_of(&carol_a), at_minute(2)),
    )
    .await;
    let ivan_a = unhindered(
        &watcher,
        "place a hold",
        stores.bookings.place(
            request(ivan, a, seats_a[5]),
            BookingPolicy::default(),
            at_minute(2),
        ),
    )
    .await;
    unhindered(
        &watcher,
        "cancel a hold",
        stores.bookings.cancel(&ivan_a.booking.code, at_minute(3)),
    )
    .await;
    unhindered(
        &watcher,
        "cancel a paid booking (refund)",
        stores.bookings.cancel(&erin_a.booking.code, at_minute(3)),
    )
    .await;
    // Minute 16: dave's hold (and B's frank's) has lapsed; jane wants dave's seat, which the sale
    // gives back first.
    let jane_a = unhindered(
        &watcher,
        "place a booking on a lapsed hold's seat (the sale expires the hold first)",
        stores.bookings.place(
            request(jane, a, seats_a[2]),
            BookingPolicy::default(),
            at_minute(16),
        ),
    )
    .await;
    // Minute 21: kim's hold has lapsed too; the command expires A's lapsed holds first.
    unhindered(
        &watcher,
        "check in a paid booking (expiring the show's lapsed holds first)",
        stores.bookings.check_in(
            &alice_a.booking.code,
            at_minute(21),
            AuditStamp::new(staff.id, at_minute(21)),
        ),
    )
    .await;
    let map = unhindered(
        &watcher,
        "read the seat map",
        stores.events.seats(a, at_minute(21)),
    )
    .await
    .expect("show A's seat map");
    unhindered(
        &watcher,
        "read the seat map's version",
        stores.events.seat_map_version(a, at_minute(21)),
    )
    .await
    .expect("show A's seat map version");
    let details = unhindered(
        &watcher,
        "read the show's details",
        stores.events.find(a, at_minute(21)),
    )
    .await
    .expect("show A");
    let booking = unhindered(
        &watcher,
        "read a booking",
        stores
            .bookings
            .find_by_code(&kim_a.booking.code, at_minute(21)),
    )
    .await
    .expect("kim's booking");
    let door = unhindered(
        &watcher,
        "read the door list",
        stores
            .bookings
            .door_list(a, None, Page::new(1, 50), at_minute(21)),
    )
    .await
    .expect("show A's door list");

    // Sanity again, at the end: B is still locked, and a command on B's booking waits for it.
    let waits = held_off(
        &watcher,
        "a cancellation on show B",
        |error| matches!(error, BookingCommandError::Store(StoreError::Busy(_))),
        stores.bookings.cancel(&bob_b.booking.code, at_minute(22)),
    )
    .await;
    eprintln!(
        "a cancellation on show B waited, as it must:\n  {}",
        waits.join("\n  ")
    );

    // Nothing of B moved: its rows read as they were locked.
    let mut reader = PgConnection::connect(&database.url)
        .await
        .expect("a reading connection");
    let after = rows_of_show_unlocked(&mut reader, b).await;
    assert_eq!(after, locked, "show A's sale changed rows of show B");
    sqlx::query("ROLLBACK")
        .execute(&mut locker)
        .await
        .expect("release B");
    watcher.stop().await;

    // ---- what A's sale did -----------------------------------------------------------------
    let status = |seat: SeatId| {
        map.seats
            .iter()
            .find(|view| view.seat.id == seat)
            .map(|view| view.status)
            .expect("a seat of show A")
    };
    assert_eq!(status(seats_a[0]), SeatStatus::Sold, "alice's seat");
    assert_eq!(
        status(seats_a[1]),
        SeatStatus::Available,
        "erin's cancelled seat"
    );
    assert_eq!(
        status(seats_a[2]),
        SeatStatus::Held,
        "dave's lapsed seat, now jane's"
    );
    assert_eq!(
        status(seats_a[3]),
        SeatStatus::Available,
        "kim's lapsed seat"
    );
    assert_eq!(status(seats_a[4]), SeatStatus::Sold, "carol's seat");
    assert_eq!(
        status(seats_a[5]),
        SeatStatus::Available,
        "ivan's cancelled seat"
    );
    assert_eq!((details.seats_taken, details.tickets_sold), (3, 2));
    assert_eq!(booking.booking.status, BookingStatus::Expired, "kim's hold");
    assert_eq!(
        status_of(&stores, &dave_a, at_minute(21))
            .await
            .booking
            .status,
        BookingStatus::Expired
    );
    assert_eq!(jane_a.booking.status, BookingStatus::Pending);
    let erin_after = status_of(&stores, &erin_a, at_minute(21)).await;
    assert_eq!(erin_after.booking.status, BookingStatus::Cancelled);
    assert_eq!(
        erin_after.payment.map(|payment| payment.status),
        Some(PaymentStatus::Refunded)
    );
    let checked_in: Vec<&str> = door
        .items
        .iter()
        .filter(|listed| listed.booking.checked_in_at.is_some())
        .map(|listed| listed.booking.code.as_str())
        .collect();
    assert_eq!(checked_in, [alice_a.booking.code.as_str()]);

    // B, released, takes writes again.
    let cancelled = stores
        .bookings
        .cancel(&bob_b.booking.code, at_minute(22))
        .await
        .expect("a cancellation on show B once released");
    assert_eq!(cancelled.booking.status, BookingStatus::Cancelled);
}

/// Show B's rows read as `rows_of_show` locks them, without locking.
async fn rows_of_show_unlocked(
    conn: &mut PgConnection,
    show: EventId,
) -> Vec<(&'static str, Vec<String>)> {
    let mut all = Vec::new();
    for (table, lock) in PER_SHOW {
        let read = lock
            .trim_end_matches(" FOR UPDATE OF x")
            .trim_end_matches(" FOR UPDATE");
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(read.to_string()))
            .bind(show.0)
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_else(|error| panic!("read show B's rows of {table}: {error}"));
        all.push((*table, rows));
    }
    all
}
