//! Every refusal says why in a reason a program can branch on (`error`), from one closed list
//! the OpenAPI document publishes; the five 409s of a booking are told apart without reading
//! English.

use chrono::Duration;
use serde_json::{json, Value};

use crate::http_harness::{code, id, AppFactory, PAYMENT_METHOD};

/// The reasons the document publishes.
async fn published_reasons(app: &crate::http_harness::TestApp) -> Vec<String> {
    let document = app.get("/openapi.json", None).await.expect(200);
    let reasons = &document["components"]["schemas"]["ErrorReason"]["enum"];
    reasons
        .as_array()
        .unwrap_or_else(|| panic!("the document publishes no ErrorReason enum"))
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

pub async fn the_document_publishes_the_reasons_and_every_error_carries_one(factory: AppFactory) {
    let app = factory.app().await;
    let reasons = published_reasons(&app).await;
    for expected in [
        "validation_failed",
        "malformed_json",
        "unauthenticated",
        "forbidden",
        "not_found",
        "method_not_allowed",
        "payload_too_large",
        "seat_taken",
        "phase_sold_out",
        "phase_not_on_sale",
        "event_not_on_sale",
        "ticket_limit_reached",
        "booking_not_pending",
        "booking_not_cancellable",
        "already_checked_in",
        "email_taken",
        "last_admin",
        "rate_limited",
        "overloaded",
        "idempotency_key_reused",
        "idempotency_in_progress",
    ] {
        assert!(
            reasons.iter().any(|reason| reason == expected),
            "{expected} is not published"
        );
    }
    let document = app.get("/openapi.json", None).await.expect(200);
    let error_body = &document["components"]["schemas"]["ErrorBody"];
    assert!(
        error_body["required"]
            .as_array()
            .is_some_and(|required| required.contains(&json!("error"))),
        "every error body carries its reason: {error_body}"
    );
    // The framework's own answers carry one too.
    for (reply, reason) in [
        (app.get("/api/nowhere", None).await, "not_found"),
        (app.get("/api/dashboard", None).await, "unauthenticated"),
        (app.delete("/api/events", None).await, "method_not_allowed"),
    ] {
        let body = reply.body.clone();
        assert!(
            reasons.iter().any(|known| *known == body["error"]),
            "{body}"
        );
        assert_eq!(body["error"], reason, "{body}");
    }
}

/// Each error response of each operation names the reasons it may carry (a subset of the
/// published list) and shows an example answer of one of them, with that status.
pub async fn each_error_response_names_its_reasons_and_shows_one(factory: AppFactory) {
    let app = factory.app().await;
    let published = published_reasons(&app).await;
    let document = app.get("/openapi.json", None).await.expect(200);
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in operations.as_object().into_iter().flatten() {
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                if !status.starts_with(['4', '5']) || path.as_str() == "/ready" {
                    continue;
                }
                let schema = &response["content"]["application/json; charset=utf-8"]["schema"];
                let declared: Vec<&str> = schema["allOf"][1]["properties"]["error"]["enum"]
                    .as_array()
                    .unwrap_or_else(|| {
                        panic!("{method} {path} {status} names no reasons: {schema}")
                    })
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert!(!declared.is_empty(), "{method} {path} {status}");
                for reason in &declared {
                    assert!(
                        published.iter().any(|known| known == reason),
                        "{method} {path} {status}: {reason} is not published"
                    );
                }
                let example = &schema["example"];
                assert_eq!(
                    example["code"].to_string(),
                    *status,
                    "{method} {path}: {example}"
                );
                assert!(
                    declared.iter().any(|reason| example["error"] == *reason),
                    "{method} {path} {status}: the example's reason is not declared: {example}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} error responses found");
    let conflicts = &document["paths"]["/api/bookings"]["post"]["responses"]["409"]["content"]
        ["application/json; charset=utf-8"]["schema"]["allOf"][1]["properties"]["error"]["enum"];
    for reason in [
        "seat_taken",
        "phase_sold_out",
        "phase_not_on_sale",
        "event_not_on_sale",
        "ticket_limit_reached",
        "idempotency_in_progress",
    ] {
        assert!(
            conflicts
                .as_array()
                .is_some_and(|listed| listed.contains(&json!(reason))),
            "createBooking's 409 does not list {reason}: {conflicts}"
        );
    }
}

pub async fn each_refused_booking_says_why(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;

    let mut body = app.event_body("Alasan Jelas");
    let mut later = app.phase("Normal", 150_000, 10);
    later["start_date"] = json!(app.at(Duration::days(5)));
    body["phases"] = json!([app.phase("Early Bird", 100_000, 3), later]);
    let event = app.create_event(&body).await;
    let event_id = id(&event);
    let (_, dewi) = app.customer("Dewi Lestari").await;

    let first = app.book(&sari, event_id, &["A1"]).await;
    let pending = app.book(&budi, event_id, &["B1"]).await;
    app.book_ids(
        &budi,
        event_id,
        &app.seat_ids(event_id, &["A1", "A2"]).await,
    )
    .await
    .expect_reason(409, "seat_taken");
    let later_phase = json!({
        "event_id": event_id, "seat_ids": app.seat_ids(event_id, &["A3"]).await,
        "phase_id": event["phases"][1]["id"],
    });
    app.post("/api/bookings", Some(&budi), &later_phase)
        .await
        .expect_reason(409, "phase_not_on_sale");
    app.book_ids(
        &dewi,
        event_id,
        &app.seat_ids(event_id, &["A4", "A5"]).await,
    )
    .await
    .expect_reason(409, "phase_sold_out");
    app.book(&sari, event_id, &["A6"]).await;
    app.book_ids(&dewi, event_id, &app.seat_ids(event_id, &["A7"]).await)
        .await
        .expect_reason(409, "no_phase_on_sale");

    let paid = app.pay(&sari, &first).await["booking"].clone();
    let pay_again = json!({"amount": paid["total_price"], "method": PAYMENT_METHOD});
    app.post(
        &format!("/api/bookings/{}/pay", code(&paid)),
        Some(&sari),
        &pay_again,
    )
    .await
    .expect_reason(409, "booking_not_pending");
    let too_little = json!({"amount": 1, "method": PAYMENT_METHOD});
    let short = app
        .post(
            &format!("/api/bookings/{}/pay", code(&pending)),
            Some(&budi),
            &too_little,
        )
        .await
        .expect_reason(400, "amount_too_low");
    assert!(short["details"]["required"].is_number(), "{short}");
    let checkin = format!("/api/bookings/{}/checkin", code(&pending));
    app.post(&checkin, Some(&admin), &json!({}))
        .await
        .expect_reason(409, "booking_not_paid");
    let door = format!("/api/bookings/{}/checkin", code(&paid));
    app.post(&door, Some(&admin), &json!({})).await.expect(200);
    app.post(&door, Some(&admin), &json!({}))
        .await
        .expect_reason(409, "already_checked_in");
    app.cancel(&sari, &paid)
        .await
        .expect_reason(409, "booking_not_cancellable");
    app.get("/api/bookings/BKG-ZZZZZ", Some(&sari))
        .await
        .expect_reason(404, "not_found");

    let cancel_show = json!({"status": "cancelled"});
    app.put(
        &format!("/api/events/{event_id}"),
        Some(&admin),
        &cancel_show,
    )
    .await
    .expect(200);
    app.book_ids(&dewi, event_id, &app.seat_ids(event_id, &["B2"]).await)
        .await
        .expect_reason(409, "event_not_on_sale");
    app.delete(&format!("/api/events/{event_id}"), Some(&admin))
        .await
        .expect_reason(409, "event_has_bookings");
}

pub async fn each_refused_account_change_says_why(factory: AppFactory) {
    let app = factory.app_with(&[("MAX_TICKETS_PER_USER", "1")]).await;
    let admin = app.admin_token().await;
    let sari = app.account("Sari Dewi").await;
    let taken = json!({"name": "Sari Lain", "email": sari.email, "password": "password-123"});
    app.post("/api/users", None, &taken)
        .await
        .expect_reason(409, "email_taken");
    app.get("/api/users", Some(&sari.token))
        .await
        .expect_reason(403, "forbidden");
    app.login(&sari.email, "not-her-password")
        .await
        .expect_reason(401, "unauthenticated");
    let admin_id = app.admin_id().await;
    app.put(
        &format!("/api/users/{admin_id}"),
        Some(&admin),
        &json!({"role": "customer"}),
    )
    .await
    .expect_reason(409, "last_admin");

    let event = app.event_on_sale("Satu Saja", 100_000, 10).await;
    app.book(&sari.token, id(&event), &["A1"]).await;
    app.book_ids(
        &sari.token,
        id(&event),
        &app.seat_ids(id(&event), &["A2"]).await,
    )
    .await
    .expect_reason(409, "ticket_limit_reached");
}

/// Messages come in the caller's language by `Accept-Language` (a browser in Indonesia sends
/// `id-ID`), in the configured default otherwise; the reasons are the same in both.
pub async fn messages_are_in_the_callers_language(factory: AppFactory) {
    let app = factory.app().await;
    let (_, token) = app.customer("Sari Dewi").await;
    let event = app.event_on_sale("Bahasa Kita", 100_000, 20).await;
    let first = app.book(&token, id(&event), &["A1"]).await;
    let seats = app.seat_ids(id(&event), &["A1"]).await;
    let booking = json!({"event_id": id(&event), "seat_ids": seats}).to_string();
    let bearer = format!("Bearer {token}");
    let ask = |language: &'static str| {
        let (app, booking, bearer) = (app.clone(), booking.clone(), bearer.clone());
        async move {
            app.raw(
                poem::http::Method::POST,
                "/api/bookings",
                &[
                    ("content-type", "application/json"),
                    ("authorization", bearer.as_str()),
                    ("accept-language", language),
                ],
                booking.into_bytes(),
            )
            .await
        }
    };
    let indonesian = ask("id-ID,id;q=0.9,en-US;q=0.8").await;
    assert_eq!(indonesian.header("content-language"), Some("id"));
    let indonesian = indonesian.expect_reason(409, "seat_taken");
    let english = ask("en-GB").await;
    assert_eq!(english.header("content-language"), Some("en"));
    let english = english.expect_reason(409, "seat_taken");
    assert_eq!(
        english["message"],
        "Seat A1 is already taken; please choose other seats."
    );
    assert_eq!(
        indonesian["message"],
        "Kursi A1 sudah diambil; silakan pilih kursi lain."
    );
    assert_eq!(indonesian["details"], english["details"]);

    // The framework's own answers, and successes, speak it too.
    let nowhere = app
        .raw(
            poem::http::Method::GET,
            "/api/nowhere",
            &[("accept-language", "id")],
            Vec::new(),
        )
        .await
        .expect_reason(404, "not_found");
    assert_eq!(
        nowhere["message"],
        "Endpoint ini tidak ada; lihat /docs untuk API-nya."
    );
    let cancelled = app
        .raw(
            poem::http::Method::POST,
            &format!("/api/bookings/{}/cancel", code(&first)),
            &[
                ("content-type", "application/json"),
                ("authorization", bearer.as_str()),
                ("accept-language", "id"),
            ],
            b"{}".to_vec(),
        )
        .await
        .expect(200);
    assert_eq!(cancelled["message"], "Pemesanan dibatalkan");

    // Without a language named, the configured default.
    let in_indonesia = factory
        .app_with(&[("DEFAULT_LANGUAGE", "id")])
        .await
        .login("nobody@example.com", "whatever-it-is")
        .await
        .expect_reason(401, "unauthenticated");
    assert_eq!(in_indonesia["message"], "Email atau kata sandi salah.");
}
