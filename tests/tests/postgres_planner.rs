//! PostgreSQL plans WarTawa's queries from fresh statistics where the app changes a table in bulk:
//! an event adds all its seats at once, and its first buyers arrive before autovacuum would have
//! looked at the table (with the old statistics, a booking on a new 50 000-seat event read every
//! seat of it: 14 ms instead of 1.6).

use bootstrap::wiring::Stores;
use tests::http_harness::{id, TestApp, TestStores};
use tests::postgres_db::TestDatabase;

/// The planner's count of the seats table's rows: exact right after `ANALYZE` of a small table,
/// -1 before the table was ever analysed.
async fn planner_seat_count(database: &TestDatabase) -> f32 {
    sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = 'seats'::regclass")
        .fetch_one(&database.pool)
        .await
        .expect("read the planner's statistics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seats_of_a_new_or_grown_event_are_in_the_planners_statistics_at_once() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let app = TestApp::start(
        TestStores::new(Stores::postgres(database.pool.clone()), ()),
        &[],
    )
    .await;
    assert!(
        planner_seat_count(&database).await < 0.0,
        "a new database has no statistics of its seats yet"
    );

    let event = app.event_on_sale("Statistik Segar", 100_000, 20).await;
    assert_eq!(
        planner_seat_count(&database).await,
        20.0,
        "creating the event refreshed the statistics"
    );

    let grown = app
        .put(
            &format!("/api/events/{}", id(&event)),
            Some(&app.admin_token().await),
            &serde_json::json!({ "capacity": 50 }),
        )
        .await
        .expect(200);
    assert_eq!(grown["capacity"], 50);
    assert_eq!(
        planner_seat_count(&database).await,
        50.0,
        "adding seats to the event refreshed them again"
    );
}
