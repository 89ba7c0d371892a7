//! The live seat map over PostgreSQL: a listener whose database connection drops misses
//! nothing, and a change that is rolled back tells nobody.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;

use bootstrap::wiring::Stores;
use tests::http_harness::{AppFactory, TestStores};
use tests::http_suite::live_seats::{show, Listener};
use tests::postgres_db::TestDatabase;

/// An app factory over one database the test can also reach, checking watched maps only once an
/// hour: every change must come by the database's notifications.
async fn apps_over(database: &TestDatabase) -> AppFactory {
    let pool = database.pool.clone();
    AppFactory::new(move || {
        let stores = Stores::postgres(pool.clone());
        async move { TestStores::new(stores, ()) }
    })
}

async fn listener_connections(pool: &PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(pool)
    .await
    .expect("the server's activity")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_whose_connection_drops_misses_nothing() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let app = apps_over(&database)
        .await
        .app_with(&[("SEAT_MAP_CHECK_SECS", "3600")])
        .await;
    let event_id = show(&app, "Koneksi Putus").await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let mut listener = Listener::open(&app, event_id, None).await;
    listener.next().await;
    app.book(&sari, event_id, &["A1"]).await;
    listener.until(&app, event_id, &["A1"], "held").await;

    let listening = listener_connections(&database.pool).await;
    assert_eq!(
        listening.len(),
        1,
        "one listener connection for the process"
    );
    for pid in listening {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&database.pool)
            .await
            .expect("the listener's connection ended");
    }
    // Booked while the process may not be listening: found when it listens again.
    app.book(&budi, event_id, &["A2"]).await;
    listener.until(&app, event_id, &["A2"], "held").await;
    listener.assert_current(&app, event_id).await;
    assert_eq!(listener_connections(&database.pool).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolled_back_change_notifies_nobody() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let app = apps_over(&database).await.app().await;
    let rolled_back = show(&app, "Dibatalkan Transaksi").await;
    let committed = show(&app, "Tersimpan").await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let mut notifications = PgListener::connect_with(&database.pool)
        .await
        .expect("a listener");
    notifications.listen("seat_maps").await.expect("listening");

    let mut tx = database.pool.begin().await.expect("a transaction");
    sqlx::query(
        "UPDATE event_figures SET seat_map_changes = seat_map_changes + 1 \
         WHERE event_id = $1 AND shard = 0",
    )
    .bind(rolled_back)
    .execute(&mut *tx)
    .await
    .expect("the map moved, in the transaction");
    tx.rollback().await.expect("rolled back");
    app.book(&sari, committed, &["A1"]).await;

    let first = tokio::time::timeout(Duration::from_secs(20), notifications.recv())
        .await
        .expect("a notification within 20 s")
        .expect("a notification");
    assert_eq!(
        first.payload(),
        committed.to_string(),
        "the committed booking's show, not the rolled-back one's"
    );
}
