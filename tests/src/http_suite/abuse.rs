//! Abuse limits: login attempts per address and failures per account, booking attempts per
//! customer, and shedding of load past what the server handles at once.

use std::time::Duration;

use serde_json::json;

use crate::http_harness::{assert_error_shape, id, AppFactory, Reply, ADMIN_EMAIL, ADMIN_PASSWORD};

fn assert_throttled(reply: &Reply) {
    assert_error_shape(reply, 429);
    let retry_after: u64 = reply
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "429 without a Retry-After in seconds: {:?}",
                reply.header("retry-after")
            )
        });
    assert!(
        (1..=15 * 60).contains(&retry_after),
        "Retry-After {retry_after}"
    );
}

pub async fn logins_from_one_address_are_throttled_whatever_forwarded_for_says(
    factory: AppFactory,
) {
    let app = factory
        .app_with(&[("LOGIN_ATTEMPTS_PER_ADDRESS", "3")])
        .await;
    let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    for attempt in 0..3 {
        let forwarded = format!("198.51.100.{attempt}");
        let reply = app
            .raw(
                poem::http::Method::POST,
                "/api/users/login",
                &[
                    ("content-type", "application/json"),
                    ("x-forwarded-for", &forwarded),
                ],
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(reply.code(), 200, "attempt {attempt}");
    }
    let spoofed = app
        .raw(
            poem::http::Method::POST,
            "/api/users/login",
            &[
                ("content-type", "application/json"),
                ("x-forwarded-for", "203.0.113.77"),
            ],
            body.to_string().into_bytes(),
        )
        .await;
    assert_throttled(&spoofed);
}

pub async fn repeated_failures_lock_an_account_but_not_others(factory: AppFactory) {
    // In-process requests all come from one address; two addresses are tried in `attacks.rs`.
    let app = factory
        .app_with(&[("LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", "2")])
        .await;
    let account = app.account("Sari Dewi").await;
    let other = app.account("Bima Sakti").await;
    for _ in 0..2 {
        app.login(&account.email, "wrong-password-1")
            .await
            .expect_error(401);
    }
    let right_password_too_late = app.login(&account.email, &account.password).await;
    assert_throttled(&right_password_too_late);
    let upper_case = app
        .login(&account.email.to_uppercase(), &account.password)
        .await;
    assert_throttled(&upper_case);
    app.login(&other.email, &other.password).await.expect(200);
}

pub async fn successful_logins_do_not_count_as_failures(factory: AppFactory) {
    let app = factory
        .app_with(&[
            ("LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", "2"),
            ("LOGIN_FAILURES_PER_ACCOUNT", "2"),
        ])
        .await;
    let account = app.account("Sari Dewi").await;
    for _ in 0..5 {
        app.login(&account.email, &account.password)
            .await
            .expect(200);
    }
}

pub async fn booking_attempts_are_throttled_per_customer(factory: AppFactory) {
    let app = factory
        .app_with(&[
            ("BOOKINGS_PER_CUSTOMER", "2"),
            ("MAX_TICKETS_PER_USER", "0"),
        ])
        .await;
    let event = app.event_on_sale("Kuota Klik", 100_000, 50).await;
    let event_id = id(&event);
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, bima) = app.customer("Bima Sakti").await;
    app.book(&sari, event_id, &["A1"]).await;
    // A refused attempt counts too: the limit is on attempts, not on successes.
    app.book_ids(&sari, event_id, &[999_999])
        .await
        .expect_error(400);
    let third = app
        .book_ids(&sari, event_id, &app.seat_ids(event_id, &["A3"]).await)
        .await;
    assert_throttled(&third);
    app.book(&bima, event_id, &["A3"]).await;
}

pub async fn past_the_in_flight_bound_requests_are_shed_and_probes_still_answer(
    factory: AppFactory,
) {
    // bcrypt at cost 14 keeps one login in flight long enough to see the bound from outside.
    let app = factory
        .app_with(&[("MAX_IN_FLIGHT_REQUESTS", "1"), ("BCRYPT_COST", "14")])
        .await;
    // The slow login tries until it is admitted (a probe may hold the only place when it
    // arrives); once in, it holds the place for about a second, and probes sent meanwhile must
    // be refused. Probes leave the place free most of the time, so the login gets in soon.
    let slow = {
        let app = app.clone();
        tokio::spawn(async move {
            for _ in 0..2_000 {
                let reply = app.login("nobody@example.com", "whatever-it-is").await;
                if reply.code() != 503 {
                    return reply;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            panic!("the slow login was never admitted");
        })
    };
    let mut shed = None;
    // Bounded by the slow login, which ends within seconds.
    while !slow.is_finished() {
        let reply = app.get("/api/events", None).await;
        if reply.code() == 503 {
            shed = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shed = shed.expect("a request sent while the login held the only place was refused");
    assert_error_shape(&shed, 503);
    assert!(shed.header("retry-after").is_some());
    app.get("/health", None).await.expect(200);
    slow.await.expect("the slow login").expect_error(401);
    app.get("/api/events", None).await.expect(200);
}

pub async fn a_login_burst_is_refused_without_crowding_out_browsing(factory: AppFactory) {
    // bcrypt at cost 14 takes about a second: four logins sent together overlap for sure.
    let app = factory
        .app_with(&[
            ("MAX_PASSWORD_CHECKS_IN_FLIGHT", "1"),
            ("BCRYPT_COST", "14"),
        ])
        .await;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(4));
    let logins: Vec<_> = (0..4)
        .map(|_| {
            let (app, start) = (app.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                app.login("nobody@example.com", "whatever-it-is").await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for login in logins {
        replies.push(login.await.expect("a login"));
    }
    let refused: Vec<&Reply> = replies.iter().filter(|reply| reply.code() == 503).collect();
    assert!(
        replies.iter().any(|reply| reply.code() == 401),
        "one login is checked"
    );
    assert!(
        !refused.is_empty(),
        "logins past the bound are refused at once"
    );
    for reply in refused {
        assert_error_shape(reply, 503);
        assert!(reply.header("retry-after").is_some());
    }
    app.get("/api/events", None).await.expect(200);
}
