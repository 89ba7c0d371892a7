//! WarTawa over a primary and a real streaming replica of it (`pg_basebackup -R`, both private
//! clusters): event lists, event details and seat maps are read from the replica while it is
//! fresh; what must see the caller's own write is read from the primary; a replica that lags
//! (its replay paused) or is down is bypassed, and `/ready` says so.
//!
//! Which server answered is told by what it answers: with the replica's replay paused, a change
//! made on the primary is visible only there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::{Connection, PgPool};

use adapters::postgres::{PostgresSettings, PostgresStore, ReadReplica};
use adapters::system::RandomCodeGenerator;
use application::ports::{ReadReplicaStatus, ReplicaHealth};
use bootstrap::wiring::Stores;
use tests::http_harness::{code, id, TestApp, TestStores};
use tests::pg_cluster::{PrivateCluster, StopMode};

/// How long a replica that keeps up takes to be seen caught up, at most (a bound on waiting,
/// not a speed assertion).
const CATCH_UP_BOUND: Duration = Duration::from_secs(30);

struct Fleet {
    primary: PrivateCluster,
    replica: PrivateCluster,
    replica_pool: PgPool,
}

async fn fleet() -> Option<Fleet> {
    let primary = PrivateCluster::start_new()?;
    adapters::postgres::open(&PostgresSettings::new(primary.url(), 4))
        .await
        .expect("migrate the primary");
    let replica = primary.start_replica();
    let replica_pool = adapters::postgres::pool(&PostgresSettings::new(replica.url(), 4))
        .expect("a pool on the replica");
    Some(Fleet {
        primary,
        replica,
        replica_pool,
    })
}

/// An app whose store reads from the replica while its data is at most `max_lag` old.
async fn app(fleet: &Fleet, max_lag: Duration) -> (TestApp, Arc<PostgresStore>) {
    let pool = adapters::postgres::pool(&PostgresSettings::new(fleet.primary.url(), 4))
        .expect("a pool on the primary");
    let replica = ReadReplica::new(fleet.replica_pool.clone(), max_lag);
    let store =
        Arc::new(PostgresStore::new(pool, Arc::new(RandomCodeGenerator)).reading_from(replica));
    let stores = Stores::of_postgres(store.clone());
    let app = TestApp::start(
        TestStores::new(stores, ()),
        &[("MAX_TICKETS_PER_USER", "0")],
    )
    .await;
    (app, store)
}

/// Checks the replica until `health` is what it reports, within the bound.
async fn until_replica(store: &PostgresStore, health: ReplicaHealth) {
    let replica = store.read_replica().expect("a replica");
    let give_up = Instant::now() + CATCH_UP_BOUND;
    loop {
        store.check_replica().await;
        let state = replica.state();
        if std::mem::discriminant(&state.health) == std::mem::discriminant(&health) {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "the replica never became {health:?}: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks the replica until its data is at most `within` old.
async fn until_caught_up_within(store: &PostgresStore, within: Duration) {
    let replica = store.read_replica().expect("a replica");
    let give_up = Instant::now() + CATCH_UP_BOUND;
    loop {
        store.check_replica().await;
        if replica.lag().is_some_and(|lag| lag <= within) {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "the replica never caught up: {:?}",
            replica.state()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn pause_replay(fleet: &Fleet) {
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&fleet.replica_pool)
        .await
        .expect("pause the replica's replay");
}

async fn resume_replay(fleet: &Fleet) {
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&fleet.replica_pool)
        .await
        .expect("resume the replica's replay");
}

async fn rename(app: &TestApp, admin: &str, event_id: i64, name: &str) {
    app.put(
        &format!("/api/events/{event_id}"),
        Some(admin),
        &json!({ "name": name }),
    )
    .await
    .expect(200);
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list of events")
        .iter()
        .map(|event| event["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsing_reads_go_to_a_fresh_replica_and_the_callers_own_writes_to_the_primary() {
    let Some(fleet) = fleet().await else {
        return;
    };
    // A bound far above the test's length: the replica stays "fresh" while its replay is paused,
    // so that what it serves can be told apart from what the primary would.
    let (app, store) = app(&fleet, Duration::from_secs(600)).await;
    let admin = app.admin_token().await;
    let event = app.event_on_sale("Malam Replika", 100_000, 50).await;
    let event_id = id(&event);
    let (buyer_id, buyer) = app.customer("Sari Replika").await;
    until_replica(&store, ReplicaHealth::Fresh).await;
    let seat = app.seat_ids(event_id, &["A1"]).await;

    pause_replay(&fleet).await;
    rename(&app, &admin, event_id, "Malam Primer").await;

    // Event details and lists: from the replica, which has not replayed the rename.
    let details = app
        .get(&format!("/api/events/{event_id}"), None)
        .await
        .expect(200);
    assert_eq!(
        details["name"], "Malam Replika",
        "details read from the replica"
    );
    let listed = app.get("/api/events", None).await.expect(200);
    assert_eq!(
        names(&listed),
        ["Malam Replika"],
        "the list read from the replica"
    );

    // A booking right after it was made, and the buyer's history: the primary.
    let booking = app.book_ids(&buyer, event_id, &seat).await.expect(201);
    let found = app
        .get(&format!("/api/bookings/{}", code(&booking)), Some(&buyer))
        .await
        .expect(200);
    assert_eq!(found["status"], "pending");
    let history = app
        .get(&format!("/api/users/{buyer_id}/bookings"), Some(&buyer))
        .await
        .expect(200);
    assert_eq!(history.as_array().map(Vec::len), Some(1));

    // The seat map: its version is read on the primary, and the replica's older map is not
    // served: the buyer sees the seat they hold.
    let statuses = app.seat_statuses(event_id).await;
    assert_eq!(
        statuses["A1"], "held",
        "a seat map older than the primary's was served"
    );

    // An event made a moment ago is not on the replica yet: its details come from the primary.
    let newer = app.event_on_sale("Malam Baru", 50_000, 10).await;
    let fetched = app
        .get(&format!("/api/events/{}", id(&newer)), None)
        .await
        .expect(200);
    assert_eq!(fetched["name"], "Malam Baru");

    resume_replay(&fleet).await;
    until_replica(&store, ReplicaHealth::Fresh).await;
    let details = app
        .get(&format!("/api/events/{event_id}"), None)
        .await
        .expect(200);
    assert_eq!(
        details["name"], "Malam Primer",
        "the replica replayed the rename"
    );
    let ready = app.get("/ready", None).await.expect(200);
    assert_eq!(ready["read_replica"]["status"], "fresh", "{ready}");
    assert_eq!(ready["read_replica"]["max_lag_ms"], 600_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_and_a_replica_that_is_down_are_bypassed_and_ready_says_so() {
    let Some(fleet) = fleet().await else {
        return;
    };
    let (app, store) = app(&fleet, Duration::from_secs(2)).await;
    let admin = app.admin_token().await;
    let event_id = id(&app.event_on_sale("Malam Lambat", 100_000, 50).await);
    until_replica(&store, ReplicaHealth::Fresh).await;

    // The replica stops replaying: once its data may be older than the bound, it is bypassed.
    pause_replay(&fleet).await;
    rename(&app, &admin, event_id, "Malam Cepat").await;
    until_replica(&store, ReplicaHealth::Lagging).await;
    let details = app
        .get(&format!("/api/events/{event_id}"), None)
        .await
        .expect(200);
    assert_eq!(details["name"], "Malam Cepat", "a lagging replica answered");
    assert_eq!(
        names(&app.get("/api/events", None).await.expect(200)),
        ["Malam Cepat"]
    );
    let ready = app.get("/ready", None).await.expect(200);
    assert_eq!(
        ready["status"], "ok",
        "a lagging replica never makes the process unready"
    );
    assert_eq!(ready["read_replica"]["status"], "lagging", "{ready}");
    assert!(
        ready["read_replica"]["lag_ms"]
            .as_u64()
            .is_some_and(|lag| lag > 2000),
        "{ready}"
    );

    // Caught up again: used again (shown by pausing once more: the old name comes back).
    resume_replay(&fleet).await;
    until_caught_up_within(&store, Duration::from_millis(200)).await;
    pause_replay(&fleet).await;
    rename(&app, &admin, event_id, "Malam Ketiga").await;
    let details = app
        .get(&format!("/api/events/{event_id}"), None)
        .await
        .expect(200);
    assert_eq!(
        details["name"], "Malam Cepat",
        "the replica, fresh again, was not read"
    );
    resume_replay(&fleet).await;

    // Down: the read that finds it down is answered by the primary, and it stays bypassed.
    fleet.replica.stop(StopMode::Fast);
    let details = app
        .get(&format!("/api/events/{event_id}"), None)
        .await
        .expect(200);
    assert_eq!(details["name"], "Malam Ketiga");
    assert!(!app.seats(event_id).await.is_empty());
    store.check_replica().await;
    let ready = app.get("/ready", None).await.expect(200);
    assert_eq!(ready["read_replica"]["status"], "unusable", "{ready}");
    // WarTawa's own words: the driver's message (hosts, roles) stays in the log.
    assert_eq!(
        ready["read_replica"]["problem"], "it does not answer",
        "{ready}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_url_that_is_not_a_standby_of_this_database_is_never_read() {
    let Some(fleet) = fleet().await else {
        return;
    };
    // Another database of the primary's server: writable, not replaying anything.
    let mut admin = sqlx::PgConnection::connect(&fleet.primary.url())
        .await
        .expect("connect to the primary");
    sqlx::query("CREATE DATABASE elsewhere")
        .execute(&mut admin)
        .await
        .expect("create another database");
    let primary_url = fleet.primary.url();
    let (server, _) = primary_url.rsplit_once('/').expect("a URL with a database");
    let elsewhere = format!("{server}/elsewhere");
    adapters::postgres::open(&PostgresSettings::new(elsewhere.clone(), 2))
        .await
        .expect("migrate it: the same schema, other data");
    let pool = adapters::postgres::pool(&PostgresSettings::new(fleet.primary.url(), 4))
        .expect("a pool on the primary");
    let wrong = adapters::postgres::pool(&PostgresSettings::new(elsewhere, 2)).expect("a pool");
    let store = Arc::new(
        PostgresStore::new(pool, Arc::new(RandomCodeGenerator))
            .reading_from(ReadReplica::new(wrong, Duration::from_secs(600))),
    );
    let app = TestApp::start(TestStores::new(Stores::of_postgres(store.clone()), ()), &[]).await;
    let event_id = id(&app.event_on_sale("Malam Salah Alamat", 100_000, 10).await);
    store.check_replica().await;
    let replica = store.read_replica().expect("a replica");
    assert!(
        !replica.is_fresh(),
        "another database was taken for a replica"
    );
    let details = app
        .get(&format!("/api/events/{event_id}"), None)
        .await
        .expect(200);
    assert_eq!(details["name"], "Malam Salah Alamat");
    let listed = app.get("/api/events", None).await.expect(200);
    assert_eq!(
        names(&listed),
        ["Malam Salah Alamat"],
        "the list was read elsewhere"
    );
    let ready = app.get("/ready", None).await.expect(200);
    assert_eq!(ready["read_replica"]["status"], "unusable", "{ready}");
    assert!(
        ready["read_replica"]["problem"]
            .as_str()
            .is_some_and(|problem| problem.contains("not a standby")),
        "{ready}"
    );
}
