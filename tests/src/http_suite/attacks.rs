//! Attacks a stranger on the internet can make, each performed and shown to do no harm: taking
//! the operator's admin email first, using password checks as a weapon, locking others out,
//! griefing holds, probing booking codes, poisoning text, hoarding idempotency keys, bloating
//! event lists and registering look-alike emails.

use poem::http::Method;
use serde_json::{json, Value};

use application::users::{AdminSetUp, EnsureAdminError, ExistingAccount};
use bootstrap::config::{AdminCredentials, Config};
use bootstrap::wiring::ensure_configured_admin;
use domain::user::{Email, Password};

use crate::http_harness::{assert_field_error, code, id, AppFactory};
use crate::live_server::{LiveServer, SECOND_ADDRESS};

const OPERATOR_EMAIL: &str = "boss@example.com";
const OPERATOR_PASSWORD: &str = "operator-password-1";
const SQUATTER_PASSWORD: &str = "squatter-password-1";

fn with_admin(config: &Config, email: &str, password: &str) -> Config {
    Config {
        admin: Some(AdminCredentials {
            email: Email::parse(email).expect("an email"),
            password: Password::new(password).expect("a password"),
        }),
        ..config.clone()
    }
}

/// Someone registers the email the operator will configure as `ADMIN_EMAIL`, or moves their
/// profile to it. Start-up refuses to make that account an admin, says how to take it over, and
/// the explicit take-over replaces the squatter's password and ends their sessions.
pub async fn admin_email_never_promotes_an_account_someone_registered(factory: AppFactory) {
    let app = factory.app().await;
    let squatter = app
        .post(
            "/api/users",
            None,
            &json!({"name": "Not The Boss", "email": OPERATOR_EMAIL, "password": SQUATTER_PASSWORD}),
        )
        .await
        .expect(201);
    let squatter_id = squatter["id"].as_i64().expect("an id");
    let squatter_token = app
        .login(OPERATOR_EMAIL, SQUATTER_PASSWORD)
        .await
        .expect(200)["token"]
        .as_str()
        .expect("a token")
        .to_string();
    // Another one moves their profile onto a second address the operator might choose.
    let mover = app.account("Pindah Alamat").await;
    app.put(
        &format!("/api/users/{}", mover.id),
        Some(&mover.token),
        &json!({"email": "owner@example.com"}),
    )
    .await
    .expect(200);

    for (email, account_id) in [
        (OPERATOR_EMAIL, squatter_id),
        ("owner@example.com", mover.id),
    ] {
        let config = with_admin(&app.config, email, OPERATOR_PASSWORD);
        let refused = ensure_configured_admin(&config, &app.services)
            .await
            .expect_err("start-up refuses an account someone else may have registered");
        assert!(
            matches!(&refused, EnsureAdminError::NotAnAdmin { id, .. } if id.0 == account_id),
            "{refused:?}"
        );
        let message = refused.to_string();
        assert!(
            message.contains(email) && message.contains("--promote-existing"),
            "the refusal names the account and the explicit way: {message}"
        );
    }
    let still_customer = app
        .login(OPERATOR_EMAIL, SQUATTER_PASSWORD)
        .await
        .expect(200);
    assert_eq!(still_customer["user"]["role"], "customer");
    app.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        .await
        .expect_error(401);

    let outcome = app
        .services
        .users
        .ensure_admin(
            "Administrator",
            OPERATOR_EMAIL,
            OPERATOR_PASSWORD,
            ExistingAccount::TakeOver,
        )
        .await
        .expect("the explicit take-over");
    assert!(matches!(outcome, AdminSetUp::TakenOver(_)), "{outcome:?}");
    app.login(OPERATOR_EMAIL, SQUATTER_PASSWORD)
        .await
        .expect_error(401);
    app.get(&format!("/api/users/{squatter_id}"), Some(&squatter_token))
        .await
        .expect_error(401);
    let operator = app
        .login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        .await
        .expect(200);
    assert_eq!(operator["user"]["role"], "admin");

    // Started again with the same settings, the admin is confirmed and left as it is.
    let config = with_admin(&app.config, OPERATOR_EMAIL, "another-password-9");
    ensure_configured_admin(&config, &app.services)
        .await
        .expect("an existing admin is confirmed");
    app.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        .await
        .expect(200);
}

/// A login through the real listener from a given source address: `(status, body)`.
async fn login_from(
    server: &LiveServer,
    source: &str,
    email: &str,
    password: &str,
) -> (u16, Value) {
    let response = LiveServer::client_from(source)
        .post(server.url("/api/users/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Failed logins lock out the address that failed, not the account: the owner, from another
/// address, still gets in; once the account has failed from many addresses, each of those may
/// try no more, while an address that never failed still may.
pub async fn failed_logins_lock_out_the_guessing_address_not_the_owner(factory: AppFactory) {
    let app = factory
        .app_with(&[
            ("LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", "3"),
            ("LOGIN_FAILURES_PER_ACCOUNT", "5"),
        ])
        .await;
    let owner = app.account("Sari Dewi").await;
    let server = LiveServer::start(&app).await;
    const OWNER_AT_HOME: &str = "127.0.0.1";
    const GUESSER: &str = "127.0.0.2";

    for guess in 0..3 {
        let (status, body) =
            login_from(&server, GUESSER, &owner.email, &format!("guess-{guess}-x")).await;
        assert_eq!(status, 401, "guess {guess}: {body}");
    }
    let (status, body) = login_from(&server, GUESSER, &owner.email, &owner.password).await;
    assert_eq!(
        status, 429,
        "the guessing address is locked out, right password or not: {body}"
    );
    assert_eq!(body["code"], 429);
    let (status, body) = login_from(&server, OWNER_AT_HOME, &owner.email, &owner.password).await;
    assert_eq!(
        status, 200,
        "the owner still gets in from elsewhere: {body}"
    );

    // Two more addresses fail once each: the account has now failed five times in all.
    for other in ["127.0.0.3", "127.0.0.4"] {
        let (status, _) = login_from(&server, other, &owner.email, "another-guess-1").await;
        assert_eq!(status, 401);
    }
    let (status, _) = login_from(&server, "127.0.0.3", &owner.email, &owner.password).await;
    assert_eq!(
        status, 429,
        "an address that failed may not try again once the account is under attack"
    );
    let (status, body) = login_from(&server, OWNER_AT_HOME, &owner.email, &owner.password).await;
    assert_eq!(
        status, 200,
        "an address that never failed still may: {body}"
    );
    server.stop().await;
}

/// A flood of sign-ups with a taken email, and of password changes with a wrong old password,
/// while three password checks may run at once, each taking a quarter of a second: the sign-ups
/// are refused before any hashing (409, never 503), the password changes past the per-account
/// bound before any checking (429), and another customer's login, sent meanwhile, finds a place.
pub async fn password_work_cannot_be_used_to_crowd_out_logins(factory: AppFactory) {
    let app = factory
        .app_with(&[
            ("BCRYPT_COST", "12"),
            ("MAX_PASSWORD_CHECKS_IN_FLIGHT", "3"),
            ("PASSWORD_CHANGES_PER_ACCOUNT", "2"),
        ])
        .await;
    let taken = app.account("Sudah Ada").await;
    let attacker = app.account("Penyerang").await;
    let victim_of_nothing = app.account("Bima Sakti").await;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(21));
    let mut flood = Vec::new();
    for attempt in 0..10 {
        let (app, start, email) = (app.clone(), start.clone(), taken.email.clone());
        flood.push(tokio::spawn(async move {
            start.wait().await;
            app.post(
                "/api/users",
                None,
                &json!({"name": format!("Banjir {attempt}"), "email": email, "password": "whatever-123"}),
            )
            .await
            .code()
        }));
    }
    for _ in 0..10 {
        let (app, start, attacker) = (app.clone(), start.clone(), attacker.clone());
        flood.push(tokio::spawn(async move {
            start.wait().await;
            app.post(
                &format!("/api/users/{}/password", attacker.id),
                Some(&attacker.token),
                &json!({"old_password": "not-the-password", "new_password": "new-password-1"}),
            )
            .await
            .code()
        }));
    }
    start.wait().await;
    let login = app
        .login(&victim_of_nothing.email, &victim_of_nothing.password)
        .await;
    let mut statuses = Vec::new();
    for request in flood {
        statuses.push(request.await.expect("a request"));
    }
    let (sign_ups, changes) = statuses.split_at(10);
    assert!(
        sign_ups.iter().all(|status| *status == 409),
        "sign-ups: {sign_ups:?}"
    );
    assert_eq!(
        changes.iter().filter(|status| **status == 429).count(),
        8,
        "password changes past the bound are refused unchecked: {changes:?}"
    );
    assert!(
        changes.iter().all(|status| matches!(status, 400 | 429)),
        "{changes:?}"
    );
    login.expect(200);
}

/// One address may sign up only so many accounts an hour; another address may still.
pub async fn sign_ups_are_bounded_per_address(factory: AppFactory) {
    let app = factory
        .app_with(&[("REGISTRATIONS_PER_ADDRESS", "3")])
        .await;
    let server = LiveServer::start(&app).await;
    let sign_up = |source: &'static str, n: u32| {
        let url = server.url("/api/users");
        async move {
            let response = LiveServer::client_from(source)
                .post(url)
                .json(&json!({"name": "Akun Buangan", "email": format!("throwaway{n}@example.com"), "password": "throwaway-123"}))
                .send()
                .await
                .expect("an answer");
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").is_some();
            (status, retry_after)
        }
    };
    for n in 0..3 {
        assert_eq!(sign_up("127.0.0.1", n).await.0, 201);
    }
    assert_eq!(sign_up("127.0.0.1", 3).await, (429, true));
    assert_eq!(sign_up(SECOND_ADDRESS, 4).await.0, 201);
    server.stop().await;
}

/// Someone else's booking code answers exactly as an unknown one, and a caller who keeps
/// missing is refused for a while, whichever code of someone else's (or nobody's) they try next;
/// their own bookings stay theirs to see, and others are not held back.
pub async fn booking_codes_cannot_be_probed(factory: AppFactory) {
    let app = factory
        .app_with(&[("BOOKING_LOOKUP_FAILURES_PER_CALLER", "5")])
        .await;
    let event = app.event_on_sale("Kode Rahasia", 100_000, 20).await;
    let (_, owner) = app.customer("Sari Dewi").await;
    let (_, prober) = app.customer("Pencari Kode").await;
    let booking = app.book(&owner, id(&event), &["A1"]).await;
    let own = app.book(&prober, id(&event), &["A2"]).await;
    let theirs = code(&booking);

    let not_yours = app
        .get(&format!("/api/bookings/{theirs}"), Some(&prober))
        .await
        .expect_error(404);
    assert!(!not_yours.to_string().contains("Sari"), "{not_yours}");
    for guess in ["BKG-AAAAA", "BKG-BBBBB", "BKG-CCCCC"] {
        app.get(&format!("/api/bookings/{guess}"), Some(&prober))
            .await
            .expect_error(404);
    }
    app.post(
        &format!("/api/bookings/{theirs}/cancel"),
        Some(&prober),
        &json!({}),
    )
    .await
    .expect_error(404);
    for guess in ["BKG-DDDDD", theirs.as_str()] {
        let refused = app
            .get(&format!("/api/bookings/{guess}"), Some(&prober))
            .await;
        assert_eq!(refused.code(), 429, "{:?}", refused.body);
        assert!(refused.header("retry-after").is_some());
        refused.expect_error(429);
    }
    app.get(&format!("/api/bookings/{}", code(&own)), Some(&prober))
        .await
        .expect(200);
    app.get(&format!("/api/bookings/{theirs}"), Some(&owner))
        .await
        .expect(200);
    assert_eq!(
        app.booking(&theirs).await["status"],
        "pending",
        "nothing was cancelled"
    );
}

/// A customer changing their profile learns from each 409 whether an email or NIK is taken:
/// those changes are bounded per customer. Admins, who may list accounts anyway, are not.
pub async fn profile_changes_cannot_enumerate_accounts(factory: AppFactory) {
    let app = factory
        .app_with(&[("PROFILE_CHANGES_PER_CUSTOMER", "3")])
        .await;
    let known = app.account("Sudah Terdaftar").await;
    let prober = app.account("Pencari Akun").await;
    let path = format!("/api/users/{}", prober.id);
    app.put(&path, Some(&prober.token), &json!({"email": known.email}))
        .await
        .expect_error(409);
    app.put(
        &path,
        Some(&prober.token),
        &json!({"email": "nobody.here@example.com"}),
    )
    .await
    .expect(200);
    app.put(&path, Some(&prober.token), &json!({"name": "Pencari Lagi"}))
        .await
        .expect(200);
    let refused = app
        .put(
            &path,
            Some(&prober.token),
            &json!({"email": "another.one@example.com"}),
        )
        .await;
    assert!(refused.header("retry-after").is_some());
    refused.expect_error(429);
    let admin = app.admin_token().await;
    for n in 0..5 {
        app.put(
            &path,
            Some(&admin),
            &json!({"name": format!("Diubah Admin {n}")}),
        )
        .await
        .expect(200);
    }
}

/// A NUL byte or another control character in any text a client sends is a 400 naming the
/// field, on every store (PostgreSQL cannot store a NUL at all), and nothing is kept.
pub async fn control_characters_are_refused_wherever_text_is_kept(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let customer = app.account("Sari Dewi").await;
    let event = app.event_on_sale("Teks Bersih", 100_000, 20).await;
    let booking = app.book(&customer.token, id(&event), &["A1"]).await;
    let with_nul = |field: &str, text: &str| {
        let mut body = app.event_body("Acara Baru");
        match field {
            "phases[0].name" => body["phases"][0]["name"] = json!(text),
            field => body[field] = json!(text),
        }
        body
    };
    let cases: Vec<(Method, String, Option<&str>, Value, &str)> = vec![
        (
            Method::POST,
            "/api/users".into(),
            None,
            json!({"name": "Nul\u{0}Byte", "email": "nul@example.com", "password": "password-123"}),
            "name",
        ),
        (
            Method::POST,
            "/api/users".into(),
            None,
            json!({"name": "Nul Byte", "email": "nul@example.com", "password": "pass\u{0}word-123"}),
            "password",
        ),
        (
            Method::PUT,
            format!("/api/users/{}", customer.id),
            Some(&customer.token),
            json!({"name": "Sari\u{1b}[2J"}),
            "name",
        ),
        (
            Method::POST,
            "/api/events".into(),
            Some(&admin),
            with_nul("name", "Malam\u{0}Lawak"),
            "name",
        ),
        (
            Method::POST,
            "/api/events".into(),
            Some(&admin),
            with_nul("venue", "Gedung\u{0}"),
            "venue",
        ),
        (
            Method::POST,
            "/api/events".into(),
            Some(&admin),
            with_nul("description", "Lucu\u{0}sekali"),
            "description",
        ),
        (
            Method::POST,
            "/api/events".into(),
            Some(&admin),
            with_nul("phases[0].name", "Early\u{0}Bird"),
            "phases[0].name",
        ),
        (
            Method::PUT,
            format!("/api/events/{}", id(&event)),
            Some(&admin),
            json!({"venue": "Gedung\u{7}Baru"}),
            "venue",
        ),
        (
            Method::POST,
            format!("/api/bookings/{}/pay", code(&booking)),
            Some(&customer.token),
            json!({"amount": 100_000, "method": "BCA\u{0}Virtual Account"}),
            "method",
        ),
    ];
    for (method, path, token, body, field) in cases {
        let reply = app.request(method.clone(), &path, token, Some(&body)).await;
        let error = reply.expect_error(400);
        assert_field_error(&error, field);
    }
    let search = app.get("/api/events?q=%00", None).await.expect_error(400);
    assert_field_error(&search, "q");
    // Nothing was kept: one event, unchanged, and its booking still unpaid.
    let events = app.get("/api/events", None).await.expect(200);
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
    assert_eq!(app.booking(&code(&booking)).await["status"], "pending");
    app.login("nul@example.com", "password-123")
        .await
        .expect_error(401);
    // A description keeps its line breaks.
    let mut body = app.event_body("Beberapa Baris");
    body["description"] = json!("Baris satu.\nBaris dua.");
    let created = app.create_event(&body).await;
    assert_eq!(created["description"], "Baris satu.\nBaris dua.");
}

/// One customer storing keys as fast as they can: past the bound on their unexpired keys, a
/// new key is refused with 429 (a retry of a held key still replays, and a request without a
/// key still runs); other customers are untouched.
pub async fn idempotency_keys_cannot_be_hoarded(factory: AppFactory) {
    let app = factory
        .app_with(&[
            ("IDEMPOTENCY_KEYS_PER_USER", "3"),
            ("MAX_TICKETS_PER_USER", "0"),
        ])
        .await;
    let event = app.event_on_sale("Kunci Banyak", 100_000, 20).await;
    let (_, hoarder) = app.customer("Penimbun Kunci").await;
    let (_, other) = app.customer("Bima Sakti").await;
    let seats = app
        .seat_ids(id(&event), &["A1", "A2", "A3", "A4", "A5"])
        .await;
    let keyed = |token: &str, key: &str, seat: i64| {
        let body = json!({"event_id": id(&event), "seat_ids": [seat]});
        let (authorization, key) = (format!("Bearer {token}"), key.to_string());
        let app = app.clone();
        async move {
            let headers = [
                ("content-type", "application/json"),
                ("authorization", authorization.as_str()),
                ("idempotency-key", key.as_str()),
            ];
            app.raw(
                Method::POST,
                "/api/bookings",
                &headers,
                body.to_string().into_bytes(),
            )
            .await
        }
    };
    for (n, seat) in seats[..3].iter().enumerate() {
        keyed(&hoarder, &format!("key-{n}"), *seat)
            .await
            .expect(201);
    }
    let refused = keyed(&hoarder, "key-3", seats[3]).await;
    assert!(refused.header("retry-after").is_some());
    refused.expect_error(429);
    let replay = keyed(&hoarder, "key-0", seats[0]).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    replay.expect(201);
    app.book_ids(&hoarder, id(&event), &[seats[3]])
        .await
        .expect(201);
    keyed(&other, "key-3", seats[4]).await.expect(201);
}

/// Holding seats to keep others from them: a customer who books and cancels (or lets the hold
/// run out) again and again is refused that show for a while, with 429 and `Retry-After`;
/// other customers and other shows are not affected.
pub async fn a_customer_who_keeps_giving_up_holds_is_refused_for_that_show(factory: AppFactory) {
    let app = factory
        .app_with(&[
            ("ABANDONED_HOLDS_PER_CUSTOMER", "3"),
            ("ABANDONED_HOLD_WINDOW_MINUTES", "360"),
        ])
        .await;
    let show = id(&app.event_on_sale("Kursi Ditahan", 100_000, 20).await);
    let other_show = id(&app.event_on_sale("Acara Lain", 100_000, 20).await);
    let (_, griefer) = app.customer("Penahan Kursi").await;
    let (_, fan) = app.customer("Penggemar Setia").await;

    // Cancel-then-rebook twice, then a hold left to run out.
    let started = app.now();
    for _ in 0..2 {
        let held = app.book(&griefer, show, &["A1", "A2", "A3"]).await;
        app.cancel(&griefer, &held).await.expect(200);
    }
    app.book(&griefer, show, &["A1", "A2", "A3"]).await;
    app.advance(chrono::Duration::minutes(16));

    let seats = app.seat_ids(show, &["A1"]).await;
    let refused = app.book_ids(&griefer, show, &seats).await;
    let retry_after: i64 = refused
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=6 * 3600).contains(&retry_after), "{retry_after}");
    refused.expect_error(429);
    app.book(&fan, show, &["A1"]).await;
    app.book(&griefer, other_show, &["A1"]).await;

    // Once the cancellations are six hours old, only the lapsed hold still counts.
    app.advance(started + chrono::Duration::hours(6) + chrono::Duration::minutes(1) - app.now());
    app.book(&griefer, show, &["B1"]).await;
}

/// Addresses made to look like an existing account's: fullwidth forms are the plain address
/// (taken), invisible and text-direction characters are refused, and an address with look-alike
/// letters (Cyrillic а for Latin a) is refused as a look-alike, at sign-up and on a profile
/// change alike. Two different plain-ASCII addresses both remain possible.
pub async fn look_alike_emails_do_not_make_new_accounts(factory: AppFactory) {
    let app = factory.app().await;
    let sign_up = |email: &str| {
        let body = json!({"name": "Peniru Akun", "email": email, "password": "look-alike-123"});
        let app = app.clone();
        async move { app.post("/api/users", None, &body).await }
    };
    sign_up("boss@example.com").await.expect(201);
    sign_up("ＢＯＳＳ@example.com").await.expect_error(409);
    for hidden in [
        "bo\u{200b}ss@example.com",
        "boss\u{200d}@example.com",
        "\u{202e}ssob@example.com",
        "boss\u{feff}@example.com",
    ] {
        let refused = sign_up(hidden).await.expect_error(400);
        assert_field_error(&refused, "email");
    }
    for look_alike in ["b\u{43e}ss@example.com", "boss@ex\u{430}mple.com"] {
        let refused = sign_up(look_alike).await.expect_error(409);
        assert!(
            refused["message"]
                .as_str()
                .is_some_and(|m| m.contains("looks the same")),
            "{refused}"
        );
    }
    let someone = app.account("Orang Lain").await;
    app.put(
        &format!("/api/users/{}", someone.id),
        Some(&someone.token),
        &json!({"email": "b\u{43e}ss@example.com"}),
    )
    .await
    .expect_error(409);
    sign_up("martin@example.com").await.expect(201);
    sign_up("rnartin@example.com").await.expect(201);
    app.login("ＢＯＳＳ@EXAMPLE.COM", "look-alike-123")
        .await
        .expect(200);
}

/// Look-alikes of one address signed up at once, on two instances: exactly one account is made.
pub async fn look_alikes_racing_make_one_account(factory: AppFactory) {
    let first = factory.app().await;
    let second = first.second_instance().await;
    let variants = [
        "kasir@example.com",
        "k\u{430}sir@example.com",
        "kas\u{456}r@example.com",
        "k\u{430}s\u{456}r@example.com",
        "kasir@ex\u{430}mple.com",
        "k\u{430}sir@ex\u{430}mple.com",
        "kas\u{456}r@ex\u{430}mple.com",
        "k\u{430}s\u{456}r@ex\u{430}mple.com",
    ];
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(variants.len()));
    let sign_ups: Vec<_> = variants
        .iter()
        .enumerate()
        .map(|(n, email)| {
            let app = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let (start, email) = (start.clone(), email.to_string());
            tokio::spawn(async move {
                start.wait().await;
                app.post(
                    "/api/users",
                    None,
                    &json!({"name": "Kasir Palsu", "email": email, "password": "look-alike-123"}),
                )
                .await
                .code()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for sign_up in sign_ups {
        statuses.push(sign_up.await.expect("a sign-up"));
    }
    statuses.sort_unstable();
    let mut expected = vec![409; variants.len() - 1];
    expected.insert(0, 201);
    assert_eq!(statuses, expected);
}

/// Every answer, the API's, the docs' and the framework's own errors alike, tells the browser
/// not to sniff content types, not to send a referrer elsewhere, and not to frame the page.
pub async fn every_answer_carries_the_security_headers(factory: AppFactory) {
    let app = factory.app().await;
    for path in [
        "/api/events",
        "/docs",
        "/openapi.json",
        "/api/nowhere",
        "/health",
    ] {
        let reply = app.get(path, None).await;
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
            ("content-security-policy", "frame-ancestors 'none'"),
        ] {
            assert_eq!(reply.header(name), Some(value), "{name} of {path}");
        }
    }
}

/// Many addresses guessing passwords, each within its own limits, cannot take every place for
/// password checks: once an address has failed, its checks share half the places, and a login
/// from an address that never failed still finds one.
pub async fn guessing_from_many_addresses_leaves_room_for_other_logins(factory: AppFactory) {
    // Cost 12 keeps each check running long enough for the guesses to overlap.
    let app = factory
        .app_with(&[
            ("BCRYPT_COST", "12"),
            ("MAX_PASSWORD_CHECKS_IN_FLIGHT", "2"),
        ])
        .await;
    let owner = app.account("Sari Dewi").await;
    let server = LiveServer::start(&app).await;
    let guessers: Vec<String> = (2..=9).map(|n| format!("127.0.0.{n}")).collect();
    for guesser in &guessers {
        let (status, _) = login_from(&server, guesser, &owner.email, "first-guess-1").await;
        assert_eq!(status, 401);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = guessers
        .iter()
        .map(|guesser| {
            let (url, guesser, email, stop) = (
                server.url("/api/users/login"),
                guesser.clone(),
                owner.email.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let client = LiveServer::client_from(&guesser);
                let mut statuses = Vec::new();
                // Bounded: a few seconds of guessing at most.
                for guess in 0..40 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let response = client
                        .post(url.clone())
                        .json(&json!({"email": email, "password": format!("guess-{guess}-x")}))
                        .send()
                        .await
                        .expect("an answer");
                    statuses.push(response.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    // Once the guesses hold the places they may, three logins from home all get in.
    let mut logins = Vec::new();
    for _ in 0..3 {
        logins.push(login_from(&server, "127.0.0.1", &owner.email, &owner.password).await);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut guesses = Vec::new();
    for guesser in flood {
        guesses.extend(guesser.await.expect("a guesser"));
    }
    for (status, body) in logins {
        assert_eq!(
            status, 200,
            "a login from an address that never failed: {body}"
        );
    }
    assert!(
        guesses.contains(&503),
        "the guesses filled their share of the places: {guesses:?}"
    );
    server.stop().await;
}
