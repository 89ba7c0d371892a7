//! `/api/bookings`: booking exact seats, paying, expiry of unpaid holds, cancelling and
//! checking in at the door.

use chrono::Duration;
use serde_json::{json, Value};

use crate::http_harness::{
    assert_field_error, code, id, is_booking_code, venue_offset, venue_time, AppFactory,
    PAYMENT_METHOD,
};

pub async fn booking_has_every_contract_field(factory: AppFactory) {
    let app = factory.app().await;
    let (sari, token) = app.customer("Sari Dewi").await;
    let event = app.event_on_sale("Malam Lucu", 125_000, 20).await;
    let phase = event["phases"][0].clone();
    let seats = app.seat_ids(id(&event), &["A1", "A2"]).await;

    // What the web app's checkout sends.
    let checkout = json!({ "event_id": id(&event), "phase_id": phase["id"], "quantity": 2, "seat_ids": seats });
    let booking = app
        .post("/api/bookings", Some(&token), &checkout)
        .await
        .expect(201);

    assert!(id(&booking) > 0);
    assert!(
        is_booking_code(&code(&booking)),
        "booking code {} does not match ^BKG-[A-HJKMNP-Z2-9]{{5}}$",
        code(&booking)
    );
    assert_eq!(booking["event_id"], event["id"]);
    assert_eq!(booking["event_name"], "Malam Lucu");
    assert_eq!(booking["phase_id"], phase["id"]);
    assert_eq!(booking["ticket_type"], "Regular");
    assert_eq!(booking["customer_id"], sari);
    assert_eq!(booking["quantity"], 2);
    assert_eq!(booking["unit_price"], 125_000);
    assert_eq!(booking["total_price"], 250_000);
    assert_eq!(booking["status"], "pending");
    assert_eq!(
        booking["seats"],
        json!([{ "id": seats[0], "label": "A1" }, { "id": seats[1], "label": "A2" }])
    );
    assert_eq!(booking["seat_labels"], json!(["A1", "A2"]));
    assert_eq!(venue_time(&booking["created_at"]), app.now());
    assert_eq!(
        venue_time(&booking["expires_at"]),
        app.now() + app.config.booking_hold
    );
    for unset in ["paid_at", "cancelled_at", "checked_in_at"] {
        assert_eq!(booking[unset], Value::Null, "{unset}: {booking}");
    }
    assert_eq!(booking["check_in_status"], "not checked in");

    let read = app
        .get(&format!("/api/bookings/{}", code(&booking)), Some(&token))
        .await
        .expect(200);
    assert_eq!(
        read, booking,
        "the e-ticket shows what the booking returned"
    );

    let other = app.book(&token, id(&event), &["A3"]).await;
    assert_ne!(code(&other), code(&booking));
    assert_eq!(
        other["phase_id"], phase["id"],
        "without phase_id the current phase is used"
    );
}

pub async fn malformed_checkouts_are_bad_requests(factory: AppFactory) {
    let app = factory.app().await;
    let (_, token) = app.customer("Sari Dewi").await;
    let event = app.event_on_sale("Salah Isi", 100_000, 20).await;
    let other_event = app.event_on_sale("Acara Lain", 100_000, 20).await;
    let seats = app.seat_ids(id(&event), &["A1", "A2", "A3"]).await;
    let foreign = app.seat_ids(id(&other_event), &["A1"]).await;
    let eleven: Vec<i64> = app
        .seats(id(&event))
        .await
        .iter()
        .take(11)
        .map(id)
        .collect();

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "quantity disagrees",
            json!({ "event_id": id(&event), "seat_ids": &seats[..2], "quantity": 3 }),
            "quantity",
        ),
        (
            "a seat twice",
            json!({ "event_id": id(&event), "seat_ids": [seats[0], seats[0]] }),
            "seat_ids",
        ),
        (
            "no seats",
            json!({ "event_id": id(&event), "seat_ids": [] }),
            "seat_ids",
        ),
        (
            "more than MAX_SEATS_PER_BOOKING",
            json!({ "event_id": id(&event), "seat_ids": eleven }),
            "seat_ids",
        ),
        (
            "a seat of another event",
            json!({ "event_id": id(&event), "seat_ids": [seats[0], foreign[0]] }),
            "seat_ids",
        ),
    ];
    for (case, body, field) in cases {
        let reply = app.post("/api/bookings", Some(&token), &body).await;
        assert_eq!(reply.code(), 400, "{case}: {}", reply.body);
        assert_field_error(&reply.expect_error(400), field);
    }
    let unknown_event = json!({ "event_id": 999_999, "seat_ids": [seats[0]] });
    app.post("/api/bookings", Some(&token), &unknown_event)
        .await
        .expect_error(404);

    let statuses = app.seat_statuses(id(&event)).await;
    assert!(
        statuses.values().all(|status| status == "available"),
        "a refused booking held seats: {statuses:?}"
    );
    assert_eq!(app.seat_statuses(id(&other_event)).await["A1"], "available");
}

pub async fn taken_seats_are_named_and_nothing_is_held(factory: AppFactory) {
    let app = factory.app().await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let event = app.event_on_sale("Kursi Rebutan", 100_000, 20).await;
    app.book(&sari, id(&event), &["A1", "A2"]).await;

    let wanted = app.seat_ids(id(&event), &["A2", "A3"]).await;
    let error = app
        .book_ids(&budi, id(&event), &wanted)
        .await
        .expect_error(409);
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("A2"),
        "the message should name the taken seat: {error}"
    );
    assert!(!message.contains("A3"), "A3 is free: {error}");
    assert_eq!(
        error["details"],
        json!([wanted[0]]),
        "details lists the taken seats' ids"
    );
    assert_eq!(
        app.seat_statuses(id(&event)).await["A3"],
        "available",
        "all seats or none"
    );

    // Sold seats are taken too.
    let sold = app.paid_booking(&budi, id(&event), &["A3"]).await;
    assert_eq!(sold["status"], "confirmed");
    let again = app.seat_ids(id(&event), &["A3"]).await;
    let error = app
        .book_ids(&sari, id(&event), &again)
        .await
        .expect_error(409);
    assert!(
        error["message"].as_str().unwrap_or_default().contains("A3"),
        "{error}"
    );
}

pub async fn a_phase_off_sale_is_a_conflict(factory: AppFactory) {
    let app = factory.app().await;
    let (_, token) = app.customer("Sari Dewi").await;
    let mut body = app.event_body("Belum Dibuka");
    let mut later = app.phase("Normal", 150_000, 10);
    later["start_date"] = json!(app.at(Duration::days(5)));
    body["phases"] = json!([app.phase("Presale", 100_000, 10), later]);
    let event = app.create_event(&body).await;
    assert_eq!(event["phases"][1]["is_active"], false);
    let seats = app.seat_ids(id(&event), &["A1"]).await;

    let checkout = json!({ "event_id": id(&event), "seat_ids": seats, "phase_id": event["phases"][1]["id"], "quantity": 1 });
    app.post("/api/bookings", Some(&token), &checkout)
        .await
        .expect_error(409);
    assert_eq!(app.seat_statuses(id(&event)).await["A1"], "available");

    let mut not_yet = app.event_body("Semua Belum Dibuka");
    not_yet["phases"][0]["start_date"] = json!(app.at(Duration::days(5)));
    let closed = app.create_event(&not_yet).await;
    assert_eq!(closed["current_phase"], Value::Null);
    let seats = app.seat_ids(id(&closed), &["A1"]).await;
    app.book_ids(&token, id(&closed), &seats)
        .await
        .expect_error(409);
}

pub async fn tickets_per_user_are_limited(factory: AppFactory) {
    let app = factory.app().await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let event = app.event_on_sale("Batas Tiket", 100_000, 20).await;
    let other = app.event_on_sale("Acara Lain", 100_000, 20).await;

    let first = app.paid_booking(&sari, id(&event), &["A1", "A2"]).await;
    let seats = app.seat_ids(id(&event), &["A3", "A4"]).await;
    app.book_ids(&sari, id(&event), &seats)
        .await
        .expect_error(409);
    let third = app.book(&sari, id(&event), &["A3"]).await;
    let fourth = app.seat_ids(id(&event), &["A4"]).await;
    app.book_ids(&sari, id(&event), &fourth)
        .await
        .expect_error(409);

    // The limit is per user and per event.
    app.book(&budi, id(&event), &["A4", "A5", "A6"]).await;
    app.book(&sari, id(&other), &["A1", "A2", "A3"]).await;

    // Cancelled tickets no longer count.
    app.cancel(&sari, &third).await.expect(200);
    app.book(&sari, id(&event), &["A7"]).await;
    assert_eq!(first["quantity"], 2);
}

pub async fn ticket_limit_can_be_lifted(factory: AppFactory) {
    let app = factory.app_with(&[("MAX_TICKETS_PER_USER", "0")]).await;
    let (_, token) = app.customer("Sari Dewi").await;
    let event = app.event_on_sale("Tanpa Batas", 100_000, 20).await;
    app.book(&token, id(&event), &["A1", "A2", "A3", "A4", "A5"])
        .await;
    let ten = app
        .book(
            &token,
            id(&event),
            &["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10"],
        )
        .await;
    assert_eq!(
        ten["quantity"], 10,
        "MAX_SEATS_PER_BOOKING (10) seats in one booking"
    );

    let strict = factory
        .app_with(&[
            ("MAX_TICKETS_PER_USER", "1"),
            ("MAX_SEATS_PER_BOOKING", "2"),
        ])
        .await;
    let (_, token) = strict.customer("Budi Santoso").await;
    let event = strict.event_on_sale("Ketat", 100_000, 20).await;
    let three = strict.seat_ids(id(&event), &["A1", "A2", "A3"]).await;
    assert_field_error(
        &strict
            .book_ids(&token, id(&event), &three)
            .await
            .expect_error(400),
        "seat_ids",
    );
    strict
        .book_ids(&token, id(&event), &three[..2])
        .await
        .expect_error(409);
    strict
        .book_ids(&token, id(&event), &three[..1])
        .await
        .expect(201);
}

pub async fn events_not_on_sale_refuse_bookings(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let cancelled = app.event_on_sale("Dibatalkan", 100_000, 20).await;
    app.put(
        &format!("/api/events/{}", id(&cancelled)),
        Some(&admin),
        &json!({ "status": "cancelled" }),
    )
    .await
    .expect(200);
    let mut soon = app.event_body("Sudah Lewat");
    soon["date"] = json!(app.at(Duration::hours(3)));
    soon["phases"][0]["end_date"] = json!(app.at(Duration::hours(3)));
    let ended = app.create_event(&soon).await;
    let (_, token) = app.customer("Sari Dewi").await;

    let seats = app.seat_ids(id(&cancelled), &["A1"]).await;
    app.book_ids(&token, id(&cancelled), &seats)
        .await
        .expect_error(409);

    app.advance(Duration::hours(4));
    let seats = app.seat_ids(id(&ended), &["A1"]).await;
    app.book_ids(&token, id(&ended), &seats)
        .await
        .expect_error(409);
    assert_eq!(app.event(id(&ended)).await["status"], "ended");
}

pub async fn bookings_are_read_by_owner_and_admin_by_any_case(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let event = app.event_on_sale("Cari Tiket", 100_000, 20).await;
    let booking = app.book(&sari, id(&event), &["A1"]).await;
    let code = code(&booking);

    let lower = app
        .get(
            &format!("/api/bookings/{}", code.to_lowercase()),
            Some(&sari),
        )
        .await
        .expect(200);
    assert_eq!(
        lower["booking_code"],
        code.as_str(),
        "codes are looked up ignoring case"
    );
    assert_eq!(lower["event_name"], "Cari Tiket");
    assert_eq!(lower["seat_labels"], json!(["A1"]));
    // Someone else's booking answers exactly as an unknown code does.
    let not_yours = app
        .get(&format!("/api/bookings/{code}"), Some(&budi))
        .await
        .expect_error(404);
    let unknown = app
        .get("/api/bookings/BKG-ZZZZZ", Some(&budi))
        .await
        .expect_error(404);
    assert_eq!(
        not_yours["message"]
            .as_str()
            .map(|m| m.replace(code.as_str(), "CODE")),
        unknown["message"]
            .as_str()
            .map(|m| m.replace("BKG-ZZZZZ", "CODE"))
    );
    app.get(&format!("/api/bookings/{code}"), Some(&admin))
        .await
        .expect(200);
    app.get(&format!("/api/bookings/{code}"), None)
        .await
        .expect_error(401);

    let unknown = if code == "BKG-ZZZZZ" {
        "BKG-YYYYY"
    } else {
        "BKG-ZZZZZ"
    };
    app.get(&format!("/api/bookings/{unknown}"), Some(&admin))
        .await
        .expect_error(404);
    app.get("/api/bookings/not-a-code", Some(&admin))
        .await
        .expect_error(404);
    let payment = json!({ "amount": 100_000, "method": PAYMENT_METHOD });
    app.post(
        &format!("/api/bookings/{unknown}/pay"),
        Some(&sari),
        &payment,
    )
    .await
    .expect_error(404);
    app.post(
        &format!("/api/bookings/{unknown}/cancel"),
        Some(&sari),
        &json!({}),
    )
    .await
    .expect_error(404);
    app.post(
        &format!("/api/bookings/{unknown}/checkin"),
        Some(&admin),
        &json!({}),
    )
    .await
    .expect_error(404);
}

pub async fn payment_confirms_once_and_checks_the_amount(factory: AppFactory) {
    let app = factory.app().await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let event = app.event_on_sale("Bayar Dulu", 150_000, 20).await;
    let booking = app.book(&sari, id(&event), &["A1", "A2"]).await;
    let path = format!("/api/bookings/{}/pay", code(&booking));

    let short = json!({ "amount": 299_999, "method": PAYMENT_METHOD });
    let error = app.post(&path, Some(&sari), &short).await.expect_error(400);
    assert_eq!(
        error["details"],
        json!({ "required": 300_000, "given": 299_999 })
    );
    assert_eq!(app.booking(&code(&booking)).await["status"], "pending");
    let full = json!({ "amount": 350_000, "method": PAYMENT_METHOD });
    app.post(&path, Some(&budi), &full).await.expect_error(404);
    app.post(&path, None, &full).await.expect_error(401);

    let paid_at = app.now();
    let payment = app
        .post(&path.to_lowercase(), Some(&sari), &full)
        .await
        .expect(200);
    assert!(payment["id"].as_i64().is_some(), "{payment}");
    assert_eq!(payment["booking_id"], booking["id"]);
    assert_eq!(payment["booking_code"], booking["booking_code"]);
    assert_eq!(payment["amount"], 350_000);
    assert_eq!(payment["method"], PAYMENT_METHOD);
    assert_eq!(payment["status"], "success");
    assert_eq!(payment["change"], 50_000);
    assert_eq!(venue_time(&payment["created_at"]), paid_at);
    assert_eq!(payment["booking"]["status"], "confirmed");
    assert_eq!(venue_time(&payment["booking"]["paid_at"]), paid_at);

    let error = app.post(&path, Some(&sari), &full).await.expect_error(409);
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("confirmed"),
        "the 409 names the status: {error}"
    );
    assert_eq!(
        app.dashboard().await["total_revenue"],
        300_000,
        "one payment, counted at the booking's price"
    );

    let by_admin = app.book(&budi, id(&event), &["B1"]).await;
    let admin = app.admin_token().await;
    let exact = json!({ "amount": 150_000, "method": "Tunai" });
    let paid = app
        .post(
            &format!("/api/bookings/{}/pay", code(&by_admin)),
            Some(&admin),
            &exact,
        )
        .await
        .expect(200);
    assert_eq!(paid["change"], 0);
    assert_eq!(app.dashboard().await["tickets_sold"], 3);
}

pub async fn unpaid_holds_expire_and_free_their_seats(factory: AppFactory) {
    let app = factory.app().await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let event = app.event_on_sale("Lupa Bayar", 100_000, 20).await;
    let booking = app.book(&sari, id(&event), &["A1", "A2"]).await;
    let hold = app.config.booking_hold;

    app.advance(hold - Duration::seconds(1));
    assert_eq!(app.booking(&code(&booking)).await["status"], "pending");
    assert_eq!(app.seat_statuses(id(&event)).await["A1"], "held");
    assert_eq!(app.dashboard().await["pending_bookings"], 1);

    app.advance(Duration::seconds(2));
    let expired = app.booking(&code(&booking)).await;
    assert_eq!(expired["status"], "expired", "{expired}");
    let statuses = app.seat_statuses(id(&event)).await;
    assert_eq!(
        (statuses["A1"].as_str(), statuses["A2"].as_str()),
        ("available", "available")
    );
    let figures = app.event(id(&event)).await;
    assert_eq!(figures["available_seats"], 20);
    assert_eq!(
        figures["phases"][0]["sold"], 0,
        "an expired hold frees its quota"
    );
    assert_eq!(app.dashboard().await["pending_bookings"], 0);

    let payment = json!({ "amount": 200_000, "method": PAYMENT_METHOD });
    let error = app
        .post(
            &format!("/api/bookings/{}/pay", code(&booking)),
            Some(&sari),
            &payment,
        )
        .await
        .expect_error(409);
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "the 409 names the status: {error}"
    );
    app.cancel(&sari, &booking).await.expect_error(409);

    let admin = app.admin_token().await;
    app.check_in(&admin, &booking).await.expect_error(409);
    let sari_id = expired["customer_id"].as_i64().expect("a customer id");
    let history = app
        .get(&format!("/api/users/{sari_id}/bookings"), Some(&sari))
        .await
        .expect(200);
    assert_eq!(
        history[0]["status"], "expired",
        "the history shows the lapsed hold as expired"
    );
    let held = app
        .get(&format!("/api/users/{sari_id}/events"), Some(&sari))
        .await;
    assert_eq!(held.total_count(), 0, "a lapsed hold holds no tickets");

    let rebooked = app.book(&budi, id(&event), &["A1", "A2"]).await;
    let short_hold = factory.app_with(&[("BOOKING_HOLD_MINUTES", "5")]).await;
    let (_, token) = short_hold.customer("Citra Lestari").await;
    let show = short_hold
        .event_on_sale("Tahan Sebentar", 100_000, 20)
        .await;
    let quick = short_hold.book(&token, id(&show), &["A1"]).await;
    assert_eq!(
        venue_time(&quick["expires_at"]),
        short_hold.now() + Duration::minutes(5)
    );
    short_hold.advance(Duration::minutes(5) + Duration::seconds(1));
    assert_eq!(
        short_hold.booking(&code(&quick)).await["status"],
        "expired",
        "BOOKING_HOLD_MINUTES is honoured"
    );

    assert_eq!(rebooked["status"], "pending");
    // The expired hold no longer counts towards Sari's limit either.
    app.book(&sari, id(&event), &["B1", "B2", "B3"]).await;
}

pub async fn cancellation_frees_seats_and_refunds(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let event = app.event_on_sale("Tidak Jadi", 100_000, 20).await;

    let pending = app.book(&sari, id(&event), &["A1"]).await;
    let path = format!("/api/bookings/{}/cancel", code(&pending));
    app.post(&path, Some(&budi), &json!({}))
        .await
        .expect_error(404);
    let cancelled = app.post(&path, Some(&sari), &json!({})).await.expect(200);
    assert!(
        cancelled["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{cancelled}"
    );
    assert_eq!(cancelled["booking"]["status"], "cancelled");
    assert_eq!(venue_time(&cancelled["booking"]["cancelled_at"]), app.now());
    assert_eq!(app.seat_statuses(id(&event)).await["A1"], "available");
    app.post(&path, Some(&sari), &json!({}))
        .await
        .expect_error(409);

    let confirmed = app.paid_booking(&sari, id(&event), &["A2", "A3"]).await;
    assert_eq!(app.dashboard().await["total_revenue"], 200_000);
    let refunded = app.cancel(&admin, &confirmed).await.expect(200);
    assert_eq!(refunded["booking"]["status"], "cancelled");
    let figures = app.dashboard().await;
    assert_eq!(
        figures["total_revenue"], 0,
        "a cancelled paid booking is refunded"
    );
    assert_eq!(figures["tickets_sold"], 0);
    let statuses = app.seat_statuses(id(&event)).await;
    assert_eq!(
        (statuses["A2"].as_str(), statuses["A3"].as_str()),
        ("available", "available")
    );

    let checked_in = app.paid_booking(&sari, id(&event), &["A4"]).await;
    app.check_in(&admin, &checked_in).await.expect(200);
    app.cancel(&sari, &checked_in).await.expect_error(409);
    assert_eq!(app.booking(&code(&checked_in)).await["status"], "confirmed");
}

pub async fn paid_bookings_cannot_be_cancelled_once_the_show_started(factory: AppFactory) {
    let app = factory.app().await;
    let mut body = app.event_body("Sudah Mulai");
    body["date"] = json!(app.at(Duration::hours(20)));
    body["phases"][0]["end_date"] = json!(app.at(Duration::hours(19)));
    let event = app.create_event(&body).await;
    let sari = app.account("Sari Dewi").await;
    let paid = app.paid_booking(&sari.token, id(&event), &["A1"]).await;

    app.advance(Duration::hours(21));
    app.cancel(&sari.token, &paid).await.expect_error(409);
    assert_eq!(app.booking(&code(&paid)).await["status"], "confirmed");
    // The door still lets the guest in.
    let admin = app.admin_token().await;
    app.check_in(&admin, &paid).await.expect(200);
}

pub async fn check_in_lets_a_paid_guest_in_once(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let event = app.event_on_sale("Pintu Masuk", 100_000, 20).await;

    let unpaid = app.book(&sari, id(&event), &["A1"]).await;
    let path = format!("/api/bookings/{}/checkin", code(&unpaid));
    app.post(&path, Some(&sari), &json!({}))
        .await
        .expect_error(403);
    app.post(&path, Some(&admin), &json!({}))
        .await
        .expect_error(409);
    app.cancel(&sari, &unpaid).await.expect(200);
    app.post(&path, Some(&admin), &json!({}))
        .await
        .expect_error(409);

    let paid = app.paid_booking(&sari, id(&event), &["B1", "B2"]).await;
    let path = format!("/api/bookings/{}/checkin", code(&paid).to_lowercase());
    app.post(&path, Some(&sari), &json!({}))
        .await
        .expect_error(403);
    let welcome = app.post(&path, Some(&admin), &json!({})).await.expect(200);
    assert!(
        welcome["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{welcome}"
    );
    assert_eq!(welcome["guest"], "Sari Dewi");
    assert_eq!(welcome["booking_code"], paid["booking_code"]);
    assert_eq!(welcome["seat_labels"], json!(["B1", "B2"]));
    assert_eq!(venue_time(&welcome["checked_in_at"]), app.now());

    let ticket = app.booking(&code(&paid)).await;
    assert_eq!(
        ticket["status"], "confirmed",
        "checking in keeps the booking confirmed"
    );
    assert_eq!(ticket["check_in_status"], "checked in");
    assert_eq!(ticket["checked_in_at"], welcome["checked_in_at"]);
    assert_eq!(app.dashboard().await["checked_in"], 2);

    app.advance(Duration::minutes(5));
    let error = app
        .post(&path, Some(&admin), &json!({}))
        .await
        .expect_error(409);
    let message = error["message"].as_str().unwrap_or_default();
    // The door staff read the first scan's time as the venue's wall clock shows it.
    let first_scan = venue_time(&welcome["checked_in_at"]).with_timezone(&venue_offset());
    assert_eq!(
        message,
        format!(
            "Ticket already used at {}",
            first_scan.format("%H:%M, %a %-d %b %Y")
        ),
        "{error}"
    );
    assert_eq!(
        error["details"]["checked_in_at"], welcome["checked_in_at"],
        "the first scan's time: {error}"
    );
    assert_eq!(
        error["details"]["checked_in_by"],
        json!({ "id": app.admin_id().await, "name": "Administrator" }),
        "who let the guest in: {error}"
    );
}

pub async fn free_shows_are_confirmed_with_a_zero_payment(factory: AppFactory) {
    let app = factory.app().await;
    let (_, token) = app.customer("Sari Dewi").await;
    let event = app.event_on_sale("Open Mic Gratis", 0, 20).await;
    let booking = app.book(&token, id(&event), &["A1", "A2"]).await;
    assert_eq!(booking["unit_price"], 0);
    assert_eq!(booking["total_price"], 0);
    let path = format!("/api/bookings/{}/pay", code(&booking));

    let negative = json!({ "amount": -1, "method": "Gratis" });
    assert_field_error(
        &app.post(&path, Some(&token), &negative)
            .await
            .expect_error(400),
        "amount",
    );
    let no_method = json!({ "amount": 0, "method": "" });
    assert_field_error(
        &app.post(&path, Some(&token), &no_method)
            .await
            .expect_error(400),
        "method",
    );

    // Nothing is below a total of 0, so paying 0 confirms the booking.
    let free = json!({ "amount": 0, "method": "Gratis" });
    let payment = app.post(&path, Some(&token), &free).await.expect(200);
    assert_eq!(payment["change"], 0);
    assert_eq!(payment["booking"]["status"], "confirmed");
}
