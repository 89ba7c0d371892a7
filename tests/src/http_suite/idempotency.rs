//! `Idempotency-Key` on booking and paying: a retry with the same key gets the first answer
//! again, byte for byte, and never books or pays twice; the key is refused for another request,
//! busy while the first runs, each customer's own, and forgotten after a day.

use std::sync::Arc;

use chrono::Duration;
use poem::http::header::HeaderValue;
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::http_harness::{
    assert_error_shape, code, id, AppFactory, Reply, TestApp, PAYMENT_METHOD,
};

/// An answer, with the exact bytes of its body.
struct Answer {
    reply: Reply,
    raw: Vec<u8>,
}

impl Answer {
    fn code(&self) -> u16 {
        self.reply.code()
    }

    fn replayed(&self) -> bool {
        self.reply.header("idempotent-replayed") == Some("true")
    }

    #[track_caller]
    fn expect(self, status: u16) -> Value {
        self.reply.expect(status)
    }

    #[track_caller]
    fn expect_error(self, status: u16) -> Value {
        self.reply.expect_error(status)
    }
}

/// `POST path` as the web app sends it, with an `Idempotency-Key` of these bytes.
async fn post_keyed(app: &TestApp, path: &str, token: &str, key: &[u8], body: &Value) -> Answer {
    let key = HeaderValue::from_bytes(key).expect("a header value");
    let response = app
        .client()
        .post(path)
        .content_type("application/json")
        .header("authorization", format!("Bearer {token}"))
        .header("idempotency-key", key)
        .body(body.to_string())
        .send()
        .await
        .0;
    let status = response.status();
    let headers = response.headers().clone();
    let raw = response
        .into_body()
        .into_vec()
        .await
        .expect("a readable body");
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Answer {
        reply: Reply {
            status,
            headers,
            body,
            bytes: raw.clone(),
        },
        raw,
    }
}

fn checkout(event_id: i64, seat_ids: &[i64]) -> Value {
    json!({ "event_id": event_id, "seat_ids": seat_ids, "quantity": seat_ids.len() })
}

async fn book_keyed(app: &TestApp, token: &str, key: &str, body: &Value) -> Answer {
    post_keyed(app, "/api/bookings", token, key.as_bytes(), body).await
}

async fn pay_keyed(app: &TestApp, token: &str, key: &str, code: &str, amount: i64) -> Answer {
    let path = format!("/api/bookings/{code}/pay");
    let body = json!({ "amount": amount, "method": PAYMENT_METHOD });
    post_keyed(app, &path, token, key.as_bytes(), &body).await
}

/// How many bookings a customer has, by their history.
async fn bookings_of(app: &TestApp, customer: i64, token: &str) -> u64 {
    app.get(&format!("/api/users/{customer}/bookings"), Some(token))
        .await
        .total_count()
}

fn seats_in_use(statuses: &std::collections::BTreeMap<String, String>) -> Vec<&str> {
    statuses
        .iter()
        .filter(|(_, status)| *status != "available")
        .map(|(label, _)| label.as_str())
        .collect()
}

pub async fn a_retried_booking_is_replayed_not_repeated(factory: AppFactory) {
    let app = factory.app().await;
    let event_id = id(&app.event_on_sale("Coba Lagi", 100_000, 20).await);
    let (customer, token) = app.customer("Sari Dewi").await;
    let body = checkout(event_id, &app.seat_ids(event_id, &["A1", "A2"]).await);

    let first = book_keyed(&app, &token, "3f1c9a1e-booking", &body).await;
    assert_eq!(first.code(), 201, "{}", first.reply.body);
    assert!(!first.replayed(), "the first answer is no replay");
    app.advance(Duration::minutes(3));
    let retry = book_keyed(&app, &token, "3f1c9a1e-booking", &body).await;
    assert_eq!(retry.code(), 201);
    assert!(retry.replayed(), "a replay says so");
    assert_eq!(
        retry.raw, first.raw,
        "the replay is the first answer, byte for byte"
    );

    assert_eq!(bookings_of(&app, customer, &token).await, 1, "one booking");
    let statuses = app.seat_statuses(event_id).await;
    assert_eq!(seats_in_use(&statuses), ["A1", "A2"]);
    assert_eq!(app.dashboard().await["pending_bookings"], 1);

    // Without a key, the same request is a new one, and meets the seats already held.
    app.book_ids(
        &token,
        event_id,
        &app.seat_ids(event_id, &["A1", "A2"]).await,
    )
    .await
    .expect_error(409);
}

pub async fn a_retried_payment_is_replayed_not_repeated(factory: AppFactory) {
    let app = factory.app().await;
    let event_id = id(&app.event_on_sale("Bayar Sekali", 100_000, 20).await);
    let (_, token) = app.customer("Sari Dewi").await;
    let booking = app.book(&token, event_id, &["A1", "A2"]).await;
    let code = code(&booking);

    let first = pay_keyed(&app, &token, "pay-once", &code, 250_000).await;
    assert_eq!(first.code(), 200, "{}", first.reply.body);
    let retry = pay_keyed(&app, &token, "pay-once", &code, 250_000).await;
    assert_eq!(retry.code(), 200, "the retry gets the payment, not a 409");
    assert!(retry.replayed());
    assert_eq!(retry.raw, first.raw);
    let payment = first.expect(200);
    assert_eq!(payment["change"], 50_000);

    // The code is read ignoring case, so this is the same request.
    let lower = pay_keyed(&app, &token, "pay-once", &code.to_lowercase(), 250_000).await;
    assert_eq!(lower.code(), 200);
    assert_eq!(lower.raw, retry.raw);

    let dashboard = app.dashboard().await;
    assert_eq!(dashboard["total_revenue"], 200_000, "one payment");
    assert_eq!(dashboard["tickets_sold"], 2);
    assert_eq!(app.booking(&code).await["status"], "confirmed");

    // Without a key, paying again is refused as before.
    let again = json!({ "amount": 250_000, "method": PAYMENT_METHOD });
    app.post(&format!("/api/bookings/{code}/pay"), Some(&token), &again)
        .await
        .expect_error(409);
}

pub async fn a_key_reused_for_another_request_is_unprocessable(factory: AppFactory) {
    let app = factory.app().await;
    let event_id = id(&app.event_on_sale("Kunci Lain", 100_000, 20).await);
    let (_, token) = app.customer("Sari Dewi").await;
    let a1 = app.seat_ids(event_id, &["A1"]).await;
    let a2 = app.seat_ids(event_id, &["A2"]).await;

    book_keyed(&app, &token, "key-1", &checkout(event_id, &a1))
        .await
        .expect(201);
    let other = book_keyed(&app, &token, "key-1", &checkout(event_id, &a2)).await;
    assert!(!other.replayed());
    let error = other.expect_error(422);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|message| message.contains("Idempotency-Key")),
        "the message names the header: {error}"
    );
    assert_eq!(app.seat_statuses(event_id).await["A2"], "available");

    // The same JSON spelled differently is the same request.
    let respelled =
        json!({ "quantity": 1, "seat_ids": a1, "event_id": event_id, "phase_id": null });
    assert_eq!(
        book_keyed(&app, &token, "key-1", &respelled).await.code(),
        201
    );

    // Paying another booking, or paying at all, with a key used before is another request.
    let first = app.book(&token, event_id, &["B1"]).await;
    let second = app.book(&token, event_id, &["B2"]).await;
    pay_keyed(&app, &token, "pay-key", &code(&first), 100_000)
        .await
        .expect(200);
    pay_keyed(&app, &token, "pay-key", &code(&second), 100_000)
        .await
        .expect_error(422);
    pay_keyed(&app, &token, "key-1", &code(&second), 100_000)
        .await
        .expect_error(422);
    assert_eq!(app.booking(&code(&second)).await["status"], "pending");
}

pub async fn malformed_keys_are_bad_requests(factory: AppFactory) {
    let app = factory.app().await;
    let event_id = id(&app.event_on_sale("Kunci Rusak", 100_000, 20).await);
    let (customer, token) = app.customer("Sari Dewi").await;
    let body = checkout(event_id, &app.seat_ids(event_id, &["A1"]).await);

    let too_long = "k".repeat(256);
    for key in [
        &b""[..],
        too_long.as_bytes(),
        b"tab\there",
        "kunci-\u{e9}".as_bytes(),
    ] {
        let answer = post_keyed(&app, "/api/bookings", &token, key, &body).await;
        let reply = answer.reply;
        assert_error_shape(&reply, 400);
        assert!(
            reply.body["details"]
                .as_array()
                .is_some_and(|details| details.iter().any(|line| line
                    .as_str()
                    .is_some_and(|line| line.starts_with("Idempotency-Key: ")))),
            "the details name the header: {}",
            reply.body
        );
    }
    let twice = app
        .raw(
            poem::http::Method::POST,
            "/api/bookings",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {token}")),
                ("idempotency-key", "one"),
                ("idempotency-key", "two"),
            ],
            body.to_string().into_bytes(),
        )
        .await;
    assert_error_shape(&twice, 400);
    assert_eq!(bookings_of(&app, customer, &token).await, 0);

    // The longest key, of every printable character, is fine.
    let printable: String = (b' '..=b'~').map(char::from).collect();
    let longest = format!("{printable}{}", "k".repeat(255 - printable.len()));
    book_keyed(&app, &token, &longest, &body).await.expect(201);
    let replay = book_keyed(&app, &token, &longest, &body).await;
    assert!(replay.replayed());
}

pub async fn simultaneous_requests_with_one_key_book_once(factory: AppFactory) {
    let app = factory.app().await;
    let event_id = id(&app
        .event_on_sale("Tombol Ditekan Sepuluh Kali", 100_000, 20)
        .await);
    let (customer, token) = app.customer("Sari Dewi").await;
    let body = checkout(event_id, &app.seat_ids(event_id, &["B5", "B6"]).await);

    // A client retrying ten times at once, without waiting for an answer.
    let barrier = Arc::new(Barrier::new(10));
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let (app, token, body, barrier) =
                (app.clone(), token.clone(), body.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                book_keyed(&app, &token, "nervous-click", &body).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for handle in handles {
        answers.push(handle.await.expect("a request task panicked"));
    }

    let created: Vec<&Answer> = answers
        .iter()
        .filter(|answer| answer.code() == 201)
        .collect();
    assert!(!created.is_empty(), "the request was handled");
    assert!(
        created.iter().all(|answer| answer.raw == created[0].raw),
        "every 201 is the same booking"
    );
    for answer in answers.iter().filter(|answer| answer.code() != 201) {
        assert_error_shape(&answer.reply, 409);
        assert!(
            answer.reply.body["message"]
                .as_str()
                .is_some_and(|message| message.contains("still being processed")),
            "a busy key, not a taken seat: {}",
            answer.reply.body
        );
    }
    assert_eq!(bookings_of(&app, customer, &token).await, 1, "one booking");
    assert_eq!(
        seats_in_use(&app.seat_statuses(event_id).await),
        ["B5", "B6"]
    );
    // Once the dust settles, a retry gets that booking.
    let settled = book_keyed(&app, &token, "nervous-click", &body).await;
    assert!(settled.replayed());
    assert_eq!(settled.raw, created[0].raw);
}

pub async fn each_customer_has_keys_of_their_own(factory: AppFactory) {
    let app = factory.app().await;
    let event_id = id(&app.event_on_sale("Kunci Sendiri", 100_000, 20).await);
    let (sari, sari_token) = app.customer("Sari Dewi").await;
    let (bima, bima_token) = app.customer("Bima Sakti").await;

    let saris = book_keyed(
        &app,
        &sari_token,
        "order-1",
        &checkout(event_id, &app.seat_ids(event_id, &["A1"]).await),
    )
    .await
    .expect(201);
    // The same key, for another customer and other seats, is that customer's own request.
    let bimas = book_keyed(
        &app,
        &bima_token,
        "order-1",
        &checkout(event_id, &app.seat_ids(event_id, &["A2"]).await),
    )
    .await;
    assert!(!bimas.replayed());
    let bimas = bimas.expect(201);
    assert_ne!(code(&saris), code(&bimas));
    assert_eq!(bimas["customer_id"], bima);
    assert_eq!(saris["customer_id"], sari);
    assert_eq!(
        seats_in_use(&app.seat_statuses(event_id).await),
        ["A1", "A2"]
    );
}

pub async fn refusals_are_replayed_until_the_key_expires(factory: AppFactory) {
    let app = factory.app().await;
    let event_id = id(&app.event_on_sale("Sehari Kemudian", 100_000, 20).await);
    let sari_account = app.account("Sari Dewi").await;
    let sari = sari_account.token.clone();
    let (_, bima) = app.customer("Bima Sakti").await;
    let seats = app.seat_ids(event_id, &["A1"]).await;
    let body = checkout(event_id, &seats);

    // Bima holds A1; Sari's keyed attempt at it is refused.
    app.book_ids(&bima, event_id, &seats).await.expect(201);
    let refused = book_keyed(&app, &sari, "want-a1", &body).await;
    assert_eq!(refused.code(), 409);

    // Bima's hold lapses and A1 is free again, but a retry is the same attempt: the same answer.
    app.advance(Duration::minutes(20));
    assert_eq!(app.seat_statuses(event_id).await["A1"], "available");
    let retry = book_keyed(&app, &sari, "want-a1", &body).await;
    assert!(retry.replayed());
    assert_eq!(retry.code(), 409);
    assert_eq!(retry.raw, refused.raw);

    // A day after the first attempt the key is forgotten: the request runs again.
    app.advance(Duration::hours(24));
    let sari = app
        .login(&sari_account.email, &sari_account.password)
        .await
        .expect(200)["token"]
        .as_str()
        .expect("a token")
        .to_string();
    let later = book_keyed(&app, &sari, "want-a1", &body).await;
    assert!(!later.replayed());
    later.expect(201);
}

pub async fn one_key_on_two_instances_books_once(factory: AppFactory) {
    let first = factory.app().await;
    let second = first.second_instance().await;
    let event_id = id(&first.event_on_sale("Dua Proses", 100_000, 20).await);
    let (customer, token) = first.customer("Sari Dewi").await;
    let body = checkout(event_id, &first.seat_ids(event_id, &["B9"]).await);

    // The client's request times out on one process; its retry lands on the other.
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = [first.clone(), second.clone()]
        .into_iter()
        .map(|app| {
            let (token, body, barrier) = (token.clone(), body.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                book_keyed(&app, &token, "across-processes", &body).await
            })
        })
        .collect();
    let mut codes = Vec::new();
    for handle in handles {
        let answer = handle.await.expect("a request task panicked");
        match answer.code() {
            201 => codes.push(code(&answer.expect(201))),
            _ => {
                answer.expect_error(409);
            }
        }
    }
    assert!(!codes.is_empty());
    codes.dedup();
    assert_eq!(codes.len(), 1, "both 201s are the same booking");

    for app in [&first, &second] {
        let replay = book_keyed(app, &token, "across-processes", &body).await;
        assert!(replay.replayed());
        assert_eq!(code(&replay.expect(201)), codes[0]);
        assert_eq!(bookings_of(app, customer, &token).await, 1);
    }
}

pub async fn the_openapi_document_declares_idempotency_keys(factory: AppFactory) {
    let app = factory.app().await;
    let document = app.get("/openapi.json", None).await.expect(200);
    for path in ["/api/bookings", "/api/bookings/{code}/pay"] {
        let operation = &document["paths"][path]["post"];
        let parameter = operation["parameters"]
            .as_array()
            .and_then(|parameters| {
                parameters
                    .iter()
                    .find(|parameter| parameter["name"] == "Idempotency-Key")
            })
            .unwrap_or_else(|| panic!("POST {path} declares no Idempotency-Key: {operation}"));
        assert_eq!(parameter["in"], "header");
        assert_eq!(parameter["required"], false);
        assert_eq!(parameter["schema"]["maxLength"], 255);
        for status in ["400", "409", "422"] {
            let description = operation["responses"][status]["description"]
                .as_str()
                .unwrap_or_default();
            assert!(
                description.contains("Idempotency-Key"),
                "POST {path} {status} does not mention the key: {description:?}"
            );
        }
    }
}
