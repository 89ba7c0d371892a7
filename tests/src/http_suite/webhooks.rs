//! Webhooks: endpoints registered by admins, told of every booking change they want, signed, at
//! least once, through the outbox; delivered to a real HTTP receiver on loopback.

use chrono::Duration;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::http_harness::{code, id, AppFactory, TestApp};
use crate::webhook_receiver::{Received, WebhookReceiver};

const ALLOW_PRIVATE: (&str, &str) = ("WEBHOOK_ALLOW_PRIVATE", "1");

/// Whether `received` carries a valid signature under `secret`: `t=<unix>,v1=<hex>` over
/// `"<t>.<body>"`, recomputed here with HMAC-SHA256.
fn signed_by(received: &Received, body: &str, secret: &str) -> bool {
    let header = &received.headers["wartawa-signature"];
    let mut parts = header.split(',');
    let (Some(t), Some(v1)) = (
        parts.next().and_then(|part| part.strip_prefix("t=")),
        parts.next().and_then(|part| part.strip_prefix("v1=")),
    ) else {
        panic!("a signature header of the documented shape: {header}");
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    expected == v1
}

async fn register(app: &TestApp, url: &str, types: &[&str]) -> Value {
    let admin = app.admin_token().await;
    app.post(
        "/api/webhooks",
        Some(&admin),
        &json!({"url": url, "event_types": types}),
    )
    .await
    .expect(201)
}

async fn deliveries(app: &TestApp, endpoint: &Value) -> Vec<Value> {
    let admin = app.admin_token().await;
    let list = app
        .get(
            &format!("/api/webhooks/{}/deliveries", id(endpoint)),
            Some(&admin),
        )
        .await
        .expect(200);
    list.as_array().expect("a list").clone()
}

fn body_of(received: &Received) -> Value {
    serde_json::from_str(&received.body).expect("a JSON body")
}

/// A paid booking is told once it commits, signed; a receiver that fails twice gets it on the
/// third attempt, the same body each time; a refused payment tells nothing; a refund is told.
pub async fn booking_changes_reach_a_receiver_signed_and_at_least_once(factory: AppFactory) {
    let app = factory.app_with(&[ALLOW_PRIVATE]).await;
    let receiver = WebhookReceiver::start(&[500, 503]).await;
    let endpoint = register(&app, &receiver.url("/hooks"), &[]).await;
    let secret = endpoint["secret"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    assert!(secret.len() >= 32, "{secret}");
    assert_eq!(endpoint["active"], true);
    assert_eq!(
        endpoint["event_types"].as_array().map(Vec::len),
        Some(7),
        "every kind when none is named: {endpoint}"
    );

    let event = app.event_on_sale("Malam Tawa", 150_000, 20).await;
    let (_, buyer) = app.customer("Sari Dewi").await;
    let booking = app.book(&buyer, id(&event), &["A1", "A2"]).await;
    assert_eq!(app.deliver_notifications().await, 0, "a hold tells nothing");
    // A payment refused (too little) changes nothing and tells nothing.
    app.post(
        &format!("/api/bookings/{}/pay", code(&booking)),
        Some(&buyer),
        &json!({"amount": 1000, "method": "Cash"}),
    )
    .await
    .expect_error(400);
    assert_eq!(app.deliver_notifications().await, 0);
    assert!(receiver.received().is_empty());

    app.pay(&buyer, &booking).await;
    assert_eq!(app.deliver_notifications().await, 1);
    let listed = deliveries(&app, &endpoint).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["status"], "pending");
    assert_eq!(listed[0]["attempts"], 1);
    assert_eq!(listed[0]["last_outcome"], "HTTP 500");
    assert_eq!(listed[0]["event_type"], "booking.paid");
    assert_eq!(listed[0]["booking_code"], code(&booking));
    assert!(listed[0]["next_attempt_at"].is_string(), "{listed:?}");

    // Not due again before its backoff; then once more (503), then delivered.
    assert_eq!(app.deliver_notifications().await, 0);
    app.advance(Duration::seconds(11));
    assert_eq!(app.deliver_notifications().await, 1);
    app.advance(Duration::seconds(21));
    assert_eq!(app.deliver_notifications().await, 1);
    let listed = deliveries(&app, &endpoint).await;
    assert_eq!(listed[0]["status"], "delivered", "{listed:?}");
    assert_eq!(listed[0]["attempts"], 3);
    assert_eq!(listed[0]["last_outcome"], "HTTP 200");
    assert!(listed[0]["next_attempt_at"].is_null());
    assert_eq!(app.deliver_notifications().await, 0, "delivered is done");

    let attempts = receiver.received();
    assert_eq!(
        attempts.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 503, 200]
    );
    for attempt in &attempts {
        assert_eq!(attempt.path, "/hooks");
        assert_eq!(
            attempt.body, attempts[0].body,
            "every retry sends the same body"
        );
        assert_eq!(attempt.headers["content-type"], "application/json");
        assert!(signed_by(attempt, &attempt.body, &secret), "{attempt:?}");
        assert!(!signed_by(
            attempt,
            &attempt.body.replace("A1", "A9"),
            &secret
        ));
        assert!(!signed_by(attempt, &attempt.body, "whsec_not-the-secret"));
    }
    let told = body_of(&attempts[0]);
    assert_eq!(told["type"], "booking.paid");
    assert_eq!(told["id"], listed[0]["notification_id"]);
    assert_eq!(told["booking"]["booking_code"], code(&booking));
    assert_eq!(told["booking"]["status"], "confirmed");
    assert_eq!(told["booking"]["seat_labels"], json!(["A1", "A2"]));
    assert!(
        told["occurred_at"]
            .as_str()
            .is_some_and(|at| at.ends_with("+07:00")),
        "{told}"
    );

    // Cancelling the paid booking refunds it, and says so.
    app.cancel(&buyer, &booking).await.expect(200);
    assert_eq!(app.deliver_notifications().await, 1);
    let received = receiver.received();
    assert_eq!(received.len(), 4);
    let refund = body_of(&received[3]);
    assert_eq!(refund["type"], "booking.refunded");
    assert_ne!(refund["id"], told["id"]);
    assert_eq!(refund["booking"]["status"], "cancelled");

    // What arrived is listed for 30 days, then forgotten.
    app.advance(Duration::days(29));
    assert_eq!(app.services.notifications.forget_delivered().await, Ok(0));
    app.advance(Duration::days(2));
    assert_eq!(app.services.notifications.forget_delivered().await, Ok(2));
    assert!(deliveries(&app, &endpoint).await.is_empty());
}

/// An endpoint gets only the kinds it asked for; a removed one gets nothing more.
pub async fn endpoints_get_only_what_they_asked_for(factory: AppFactory) {
    let app = factory.app_with(&[ALLOW_PRIVATE]).await;
    let refunds = WebhookReceiver::start(&[]).await;
    let everything = WebhookReceiver::start(&[]).await;
    register(&app, &refunds.url("/refunds"), &["booking.refunded"]).await;
    let all = register(&app, &everything.url("/all"), &[]).await;
    let event = app.event_on_sale("Komedi Putar", 100_000, 20).await;
    let (_, buyer) = app.customer("Budi Santoso").await;
    let hold = app.book(&buyer, id(&event), &["A1"]).await;
    app.cancel(&buyer, &hold).await.expect(200);
    app.deliver_notifications().await;
    assert!(refunds.received().is_empty());
    let told: Vec<Value> = everything.received().iter().map(body_of).collect();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["type"], "booking.cancelled");

    let admin = app.admin_token().await;
    app.delete(&format!("/api/webhooks/{}", id(&all)), Some(&admin))
        .await
        .expect(204);
    app.delete(&format!("/api/webhooks/{}", id(&all)), Some(&admin))
        .await
        .expect_error(404);
    app.get(
        &format!("/api/webhooks/{}/deliveries", id(&all)),
        Some(&admin),
    )
    .await
    .expect_error(404);
    app.paid_booking(&buyer, id(&event), &["A2"]).await;
    app.deliver_notifications().await;
    assert_eq!(everything.received().len(), 1, "nothing after removal");
    assert!(refunds.received().is_empty(), "a payment is not a refund");
}

/// Only admins manage endpoints; secrets are shown once; URLs are checked, and loopback or
/// private ones refused unless the server allows them.
pub async fn webhook_endpoints_are_for_admins_and_checked(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, customer) = app.customer("Pelanggan Biasa").await;
    let body = json!({"url": "https://hooks.example.com/wartawa"});
    app.post("/api/webhooks", Some(&customer), &body)
        .await
        .expect_error(403);
    app.get("/api/webhooks", Some(&customer))
        .await
        .expect_error(403);
    app.post("/api/webhooks", None, &body)
        .await
        .expect_error(401);
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.8/hook",
        "http://[::1]/hook",
        "ftp://hooks.example.com/x",
        "not a url",
    ] {
        let refused = app
            .post("/api/webhooks", Some(&admin), &json!({"url": url}))
            .await
            .expect_error(400);
        assert!(refused.to_string().contains("url"), "{url}: {refused}");
    }
    app.post(
        "/api/webhooks",
        Some(&admin),
        &json!({"url": "https://hooks.example.com/x", "event_types": ["booking.placed"]}),
    )
    .await
    .expect_error(400);
    let made = app
        .post("/api/webhooks", Some(&admin), &body)
        .await
        .expect(201);
    assert!(made["secret"].is_string());
    let listed = app.get("/api/webhooks", Some(&admin)).await.expect(200);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(listed[0]["secret"].is_null(), "shown once: {listed}");
    assert_eq!(listed[0]["url"], "https://hooks.example.com/wartawa");
}

/// Two processes over one store send each notification once, however their rounds interleave.
pub async fn two_instances_deliver_each_notification_once(factory: AppFactory) {
    let app = factory.app_with(&[ALLOW_PRIVATE]).await;
    let other = app.second_instance().await;
    let receiver = WebhookReceiver::start(&[]).await;
    register(&app, &receiver.url("/hooks"), &["booking.paid"]).await;
    let event = app.event_on_sale("Dua Panggung", 100_000, 40).await;
    let mut codes = Vec::new();
    for n in 0..6 {
        let (_, buyer) = app.customer(&format!("Pembeli {n}")).await;
        let label = format!("A{}", n + 1);
        let booking = app
            .paid_booking(&buyer, id(&event), &[label.as_str()])
            .await;
        codes.push(code(&booking));
    }
    let (one, two) = tokio::join!(app.deliver_notifications(), other.deliver_notifications());
    assert_eq!(one + two, 6, "each claimed by one of them");
    assert_eq!(
        app.deliver_notifications().await + other.deliver_notifications().await,
        0
    );
    let mut told: Vec<String> = receiver
        .received()
        .iter()
        .map(|received| {
            body_of(received)["booking"]["booking_code"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    told.sort();
    codes.sort();
    assert_eq!(told, codes);
}

/// A receiver that keeps failing: its delivery is parked after a day of retries, and the
/// endpoint, reached by nothing for that long, is disabled and says why.
pub async fn an_endpoint_failing_for_a_day_is_parked_then_disabled(factory: AppFactory) {
    let app = factory.app_with(&[ALLOW_PRIVATE]).await;
    let receiver = WebhookReceiver::start(&[500; 64]).await;
    let endpoint = register(&app, &receiver.url("/down"), &[]).await;
    let event = app.event_on_sale("Sepi Penonton", 100_000, 20).await;
    let (_, buyer) = app.customer("Dewi Lestari").await;
    app.paid_booking(&buyer, id(&event), &["A1"]).await;
    assert_eq!(app.deliver_notifications().await, 1);
    app.advance(Duration::hours(2));
    assert_eq!(
        app.deliver_notifications().await,
        1,
        "retried within the day"
    );
    app.advance(Duration::hours(23));
    // A day after the first: another payment, told in the same round as the last attempt.
    let (_, second) = app.customer("Rudi Hartono").await;
    app.paid_booking(&second, id(&event), &["A2"]).await;
    assert_eq!(
        app.deliver_notifications().await,
        2,
        "the last attempt, and a first"
    );
    app.advance(Duration::hours(2));
    assert_eq!(
        app.deliver_notifications().await,
        0,
        "parked: tried no more"
    );
    let listed = deliveries(&app, &endpoint).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1]["status"], "parked", "{listed:?}");
    assert_eq!(listed[1]["attempts"], 3);
    assert!(listed[1]["next_attempt_at"].is_null());
    assert_eq!(
        listed[0]["status"], "parked",
        "the disabled endpoint's pending delivery is parked with it: {listed:?}"
    );
    assert_eq!(listed[0]["attempts"], 1);

    let admin = app.admin_token().await;
    let endpoints = app.get("/api/webhooks", Some(&admin)).await.expect(200);
    assert_eq!(endpoints[0]["active"], false, "{endpoints}");
    assert!(endpoints[0]["disabled_at"].is_string());
    let reason = endpoints[0]["disabled_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("HTTP 500"), "{reason}");
    app.paid_booking(&second, id(&event), &["A3"]).await;
    assert_eq!(
        app.deliver_notifications().await,
        0,
        "nothing more is sent to it"
    );
    assert_eq!(receiver.received().len(), 4);
    app.advance(Duration::days(60));
    assert_eq!(app.services.notifications.forget_delivered().await, Ok(0));
    assert_eq!(
        deliveries(&app, &endpoint).await.len(),
        2,
        "what was parked stays for admins to see"
    );
}

/// A show's own changes are told: a new date (its name, date and venue are what its audience
/// relies on; its description is not), then its cancellation, beside each booking it refunded.
pub async fn a_shows_changes_and_cancellation_are_told(factory: AppFactory) {
    let app = factory.app_with(&[ALLOW_PRIVATE]).await;
    let receiver = WebhookReceiver::start(&[]).await;
    let endpoint = register(
        &app,
        &receiver.url("/shows"),
        &["show.changed", "show.cancelled", "booking.refunded"],
    )
    .await;
    let event = app.event_on_sale("Pindah Tanggal", 100_000, 20).await;
    let (_, buyer) = app.customer("Sari Dewi").await;
    let paid = app.paid_booking(&buyer, id(&event), &["A1"]).await;
    let admin = app.admin_token().await;
    let path = format!("/api/events/{}", id(&event));
    app.put(
        &path,
        Some(&admin),
        &json!({"description": "Lebih lucu lagi."}),
    )
    .await
    .expect(200);
    assert_eq!(
        app.deliver_notifications().await,
        0,
        "a description tells nothing"
    );
    let later = app.at(Duration::days(40));
    app.put(&path, Some(&admin), &json!({"date": later}))
        .await
        .expect(200);
    assert_eq!(app.deliver_notifications().await, 1);
    let changed = body_of(&receiver.received()[0]);
    assert_eq!(changed["type"], "show.changed");
    assert_eq!(changed["show"]["id"], id(&event));
    assert!(changed["booking"].is_null());
    assert_ne!(
        changed["show"]["date"], event["date"],
        "the show as it is now: {changed}"
    );
    assert_eq!(changed["show"]["name"], "Pindah Tanggal");

    app.put(&path, Some(&admin), &json!({"status": "cancelled"}))
        .await
        .expect(200);
    assert_eq!(app.deliver_notifications().await, 2);
    let mut told: Vec<String> = receiver.received()[1..]
        .iter()
        .map(|received| {
            body_of(received)["type"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    told.sort();
    assert_eq!(told, ["booking.refunded", "show.cancelled"]);
    let refunded = receiver.received()[1..]
        .iter()
        .map(body_of)
        .find(|body| body["type"] == "booking.refunded")
        .expect("the refund");
    assert_eq!(refunded["booking"]["booking_code"], code(&paid));
    let listed = deliveries(&app, &endpoint).await;
    assert_eq!(listed.len(), 3);
    assert!(listed
        .iter()
        .any(|d| d["booking_code"].is_null() && d["event_id"] == id(&event)));
}

/// A booking's life, told step by step: nothing for the hold, then paid and checked in; another
/// hold that runs out is told as expired.
pub async fn a_bookings_life_is_told_step_by_step(factory: AppFactory) {
    let app = factory.app_with(&[ALLOW_PRIVATE]).await;
    let receiver = WebhookReceiver::start(&[]).await;
    register(&app, &receiver.url("/life"), &[]).await;
    let event = app.event_on_sale("Sepanjang Umur", 100_000, 20).await;
    let (_, buyer) = app.customer("Sari Dewi").await;
    let booking = app.book(&buyer, id(&event), &["A1"]).await;
    assert_eq!(app.deliver_notifications().await, 0, "a hold tells nothing");
    app.pay(&buyer, &booking).await;
    assert_eq!(app.deliver_notifications().await, 1);
    let admin = app.admin_token().await;
    app.check_in(&admin, &booking).await.expect(200);
    assert_eq!(app.deliver_notifications().await, 1);
    let lapsing = app.book(&buyer, id(&event), &["A2"]).await;
    app.advance(Duration::minutes(16));
    app.services
        .bookings
        .expire_lapsed()
        .await
        .expect("the sweep runs");
    assert_eq!(app.deliver_notifications().await, 1);
    let told: Vec<(String, String)> = receiver
        .received()
        .iter()
        .map(body_of)
        .map(|body| {
            (
                body["type"].as_str().unwrap_or_default().to_string(),
                body["booking"]["booking_code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        told,
        [
            ("booking.paid".to_string(), code(&booking)),
            ("booking.checked_in".to_string(), code(&booking)),
            ("booking.expired".to_string(), code(&lapsing)),
        ]
    );
}
