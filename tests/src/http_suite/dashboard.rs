//! `/api/dashboard`: the organiser's figures agree with what was booked, paid, cancelled and
//! checked in.

use chrono::Duration;
use serde_json::{json, Value};

use crate::http_harness::{code, id, venue_time, AppFactory};

pub async fn dashboard_figures_follow_bookings_payments_and_cancellations(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let first = app.event_on_sale("Show Pertama", 100_000, 20).await;
    let second = app.event_on_sale("Show Kedua", 80_000, 20).await;
    let mut soon = app.event_body("Show Sebentar Lagi");
    soon["date"] = json!(app.at(Duration::hours(2)));
    soon["phases"][0]["end_date"] = json!(app.at(Duration::hours(1)));
    app.create_event(&soon).await;
    let (_, ani) = app.customer("Ani Wijaya").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let (_, citra) = app.customer("Citra Lestari").await;
    let (_, dodi) = app.customer("Dodi Pratama").await;

    let paid = app.paid_booking(&ani, id(&first), &["A1", "A2"]).await;
    app.advance(Duration::minutes(1));
    let pending = app.book(&budi, id(&first), &["A3"]).await;
    app.advance(Duration::minutes(1));
    let refunded = app
        .paid_booking(&citra, id(&second), &["A1", "A2", "A3"])
        .await;
    app.cancel(&citra, &refunded).await.expect(200);
    app.advance(Duration::minutes(1));
    let guest = app.paid_booking(&dodi, id(&second), &["B1"]).await;
    app.check_in(&admin, &guest).await.expect(200);

    let dashboard = app.get("/api/dashboard", Some(&admin)).await.expect(200);
    assert_eq!(
        dashboard["total_revenue"], 280_000,
        "payments of confirmed bookings, refunds excluded: {dashboard}"
    );
    assert_eq!(dashboard["tickets_sold"], 3, "seats of confirmed bookings");
    assert_eq!(dashboard["active_events"], 3);
    assert_eq!(dashboard["total_events"], 3);
    assert_eq!(dashboard["pending_bookings"], 1);
    assert_eq!(dashboard["checked_in"], 1);

    let recent = dashboard["recent_transactions"]
        .as_array()
        .expect("recent_transactions");
    let expected = [
        (&guest, "Dodi Pratama", "Show Kedua", 80_000, "confirmed"),
        (
            &refunded,
            "Citra Lestari",
            "Show Kedua",
            240_000,
            "cancelled",
        ),
        (&pending, "Budi Santoso", "Show Pertama", 100_000, "pending"),
        (&paid, "Ani Wijaya", "Show Pertama", 200_000, "confirmed"),
    ];
    assert_eq!(recent.len(), expected.len(), "{dashboard}");
    for (row, (booking, user, event_name, amount, status)) in recent.iter().zip(expected) {
        assert_eq!(
            row["booking_code"], booking["booking_code"],
            "newest first: {row}"
        );
        assert_eq!(row["user"], user);
        assert_eq!(row["event_name"], event_name);
        assert!(
            row["amount"].is_number(),
            "the web app reads amount as a number: {row}"
        );
        assert_eq!(row["amount"], amount);
        assert_eq!(row["status"], status);
        assert_eq!(venue_time(&row["date"]), venue_time(&booking["created_at"]));
    }

    let figures = |event: &Value| {
        dashboard["events"]
            .as_array()
            .expect("events")
            .iter()
            .find(|row| row["id"] == event["id"])
            .unwrap_or_else(|| panic!("no figures for event {}: {dashboard}", event["id"]))
            .clone()
    };
    let row = figures(&first);
    assert_eq!(row["name"], "Show Pertama");
    assert_eq!(venue_time(&row["date"]), venue_time(&first["date"]));
    assert_eq!(row["capacity"], 20);
    assert_eq!(row["tickets_sold"], 2);
    assert_eq!(row["revenue"], 200_000);
    assert_eq!(row["occupancy_pct"].as_f64(), Some(10.0));
    assert_eq!(row["checked_in"], 0);
    let row = figures(&second);
    assert_eq!(row["tickets_sold"], 1);
    assert_eq!(row["revenue"], 80_000);
    assert_eq!(row["occupancy_pct"].as_f64(), Some(5.0));
    assert_eq!(row["checked_in"], 1);

    // Three hours on: the third show has ended and Budi's hold has lapsed.
    app.advance(Duration::hours(3));
    let later = app.dashboard().await;
    assert_eq!(
        later["active_events"], 2,
        "an ended show is no longer active"
    );
    assert_eq!(later["total_events"], 3);
    assert_eq!(later["pending_bookings"], 0, "a lapsed hold is not pending");
    assert_eq!(later["total_revenue"], 280_000);
    assert_eq!(later["tickets_sold"], 3);
    assert_eq!(later["recent_transactions"][2]["status"], "expired");
}

pub async fn recent_transactions_are_the_ten_newest(factory: AppFactory) {
    let app = factory.app_with(&[("MAX_TICKETS_PER_USER", "0")]).await;
    let (_, token) = app.customer("Sari Dewi").await;
    let event = app.event_on_sale("Banyak Pesanan", 100_000, 20).await;
    let mut codes = Vec::new();
    for label in [
        "A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "A9", "A10", "B1", "B2",
    ] {
        codes.push(code(&app.book(&token, id(&event), &[label]).await));
        app.advance(Duration::seconds(30));
    }
    let dashboard = app.dashboard().await;
    let shown: Vec<String> = dashboard["recent_transactions"]
        .as_array()
        .expect("recent_transactions")
        .iter()
        .map(|row| row["booking_code"].as_str().expect("a code").to_string())
        .collect();
    let newest: Vec<String> = codes.iter().rev().take(10).cloned().collect();
    assert_eq!(shown, newest);
    assert_eq!(dashboard["pending_bookings"], 12);
}

pub async fn dashboard_is_for_admins(factory: AppFactory) {
    let app = factory.app().await;
    let (_, token) = app.customer("Sari Dewi").await;
    app.get("/api/dashboard", Some(&token))
        .await
        .expect_error(403);
    app.get("/api/dashboard", None).await.expect_error(401);

    let empty = app.dashboard().await;
    for figure in [
        "total_revenue",
        "tickets_sold",
        "active_events",
        "total_events",
        "pending_bookings",
        "checked_in",
    ] {
        assert_eq!(empty[figure], 0, "{figure}: {empty}");
    }
    assert_eq!(empty["recent_transactions"], json!([]));
    assert_eq!(empty["events"], json!([]));
}
