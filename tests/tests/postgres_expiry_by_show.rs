//! Lapsed holds are given back in the background, show by show, by every WarTawa process at
//! once: each hold exactly once, and a show whose lock another transaction holds (its sale's
//! writer, a command on one of its bookings) is left to it rather than waited for.

use std::time::Duration;

use sqlx::Connection;

use adapters::postgres::PostgresSettings;
use bootstrap::wiring::Stores;
use tests::http_harness::{id, TestApp};
use tests::postgres_db::TestDatabase;

/// A bound on hanging, not a speed assertion.
const HANG_BOUND: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_give_back_lapsed_holds_show_by_show_each_exactly_once() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let app = TestApp::start(
        Stores::postgres(database.pool.clone()),
        &[
            ("MAX_TICKETS_PER_USER", "0"),
            ("BOOKING_HOLD_MINUTES", "15"),
        ],
    )
    .await;
    // A second process: its own pool on the same database.
    let other = Stores::postgres(
        adapters::postgres::pool(&PostgresSettings::new(database.url.clone(), 4))
            .expect("a second pool"),
    );
    let (_, buyer) = app.customer("Sari Lapsed").await;
    let mut shows = Vec::new();
    for name in ["Satu", "Dua", "Tiga", "Empat"] {
        let show = id(&app
            .event_on_sale(&format!("Malam {name}"), 50_000, 20)
            .await);
        for label in ["A1", "A2", "A3"] {
            let seat = app.seat_ids(show, &[label]).await;
            app.book_ids(&buyer, show, &seat).await.expect(201);
        }
        shows.push(show);
    }
    app.advance(chrono::Duration::minutes(16));
    let now = app.now();

    // The first show's lock is held, as its sale's writer would hold it.
    let mut writer = sqlx::PgConnection::connect(&database.url)
        .await
        .expect("a connection");
    let mut held = writer.begin().await.expect("a transaction");
    sqlx::query("SELECT id FROM events WHERE id = $1 FOR UPDATE")
        .bind(shows[0])
        .execute(&mut *held)
        .await
        .expect("lock the first show");

    let (mine, theirs) = tokio::time::timeout(HANG_BOUND, async {
        tokio::join!(
            app.stores().bookings.expire_lapsed(now),
            other.bookings.expire_lapsed(now)
        )
    })
    .await
    .expect("a sweep waited for a show another transaction holds");
    let swept = mine.expect("the first process's sweep") + theirs.expect("the second's");
    assert_eq!(swept, 9, "three shows' three holds each, once each");
    held.rollback().await.expect("release the first show");

    for show in &shows[1..] {
        let statuses = app.seat_statuses(*show).await;
        assert_eq!(statuses["A1"], "available", "show {show}: {statuses:?}");
    }
    // The show left to its lock holder is given back by the next sweep, once.
    let (mine, theirs) = tokio::join!(
        app.stores().bookings.expire_lapsed(now),
        other.bookings.expire_lapsed(now)
    );
    assert_eq!(mine.expect("sweep") + theirs.expect("sweep"), 3);
    let lapsed_left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM bookings WHERE status = 'pending'")
            .fetch_one(&database.pool)
            .await
            .expect("count pending holds");
    assert_eq!(lapsed_left, 0);
    let figures_pending: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(pending_bookings), 0)::bigint FROM event_figures")
            .fetch_one(&database.pool)
            .await
            .expect("the shows' figures");
    assert_eq!(
        figures_pending, 0,
        "the shows' figures count each hold given back once"
    );
}
