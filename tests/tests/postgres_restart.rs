//! A restart of WarTawa on PostgreSQL loses nothing: what was written before is there after, and
//! logins survive (same JWT secret).

use tests::http_harness::{code, id};
use tests::postgres_db::app_factory;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn data_written_before_a_restart_is_there_after_it() {
    let Some(factory) = app_factory().await else {
        return;
    };
    let app = factory.app().await;
    let event = app.event_on_sale("Setelah Restart", 100_000, 20).await;
    let event_id = id(&event);
    let (customer_id, token) = app.customer("Sari Dewi").await;
    let paid = app.paid_booking(&token, event_id, &["A1", "A2"]).await;
    let held = app.book(&token, event_id, &["A3"]).await;
    let email = app
        .get(&format!("/api/users/{customer_id}"), Some(&token))
        .await
        .expect(200)["email"]
        .clone();

    let app = app.restart().await;

    let paid_after = app
        .get(&format!("/api/bookings/{}", code(&paid)), Some(&token))
        .await
        .expect(200);
    assert_eq!(
        paid_after["status"], "confirmed",
        "the paid booking survives, and so does the login"
    );
    assert_eq!(paid_after["seat_labels"], serde_json::json!(["A1", "A2"]));
    let held_after = app
        .get(&format!("/api/bookings/{}", code(&held)), Some(&token))
        .await
        .expect(200);
    assert_eq!(held_after["status"], "pending");
    assert_eq!(held_after["expires_at"], held["expires_at"]);

    let statuses = app.seat_statuses(event_id).await;
    assert_eq!(statuses["A1"], "sold");
    assert_eq!(statuses["A2"], "sold");
    assert_eq!(statuses["A3"], "held");
    assert_eq!(
        statuses
            .values()
            .filter(|status| *status != "available")
            .count(),
        3
    );

    let dashboard = app.dashboard().await;
    assert_eq!(dashboard["tickets_sold"], 2);
    assert_eq!(dashboard["total_revenue"], 200_000);
    assert_eq!(dashboard["pending_bookings"], 1);

    let email = email.as_str().expect("an email");
    app.login(email, tests::http_harness::CUSTOMER_PASSWORD)
        .await
        .expect(200);
    // The seats taken before the restart stay taken after it.
    let other = app.customer("Bima Sakti").await.1;
    app.book_ids(&other, event_id, &app.seat_ids(event_id, &["A3"]).await)
        .await
        .expect_error(409);
}
