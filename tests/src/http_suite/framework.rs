//! What the framework answers by itself — bad JSON, unknown paths, wrong methods, large bodies,
//! missing tokens, CORS — in the one error shape; health probes and the API documents.

use chrono::Duration;
use poem::http::Method;
use serde_json::{json, Value};

use crate::http_harness::{detail_lines, AppFactory, Reply, CUSTOMER_PASSWORD};

const JSON: (&str, &str) = ("content-type", "application/json");
const WEB_APP: &str = "http://localhost:5173";

fn header_lists(reply: &Reply, name: &str, wanted: &str) -> bool {
    reply
        .headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| {
            value
                .split(',')
                .any(|item| item.trim().eq_ignore_ascii_case(wanted) || item.trim() == "*")
        })
}

pub async fn malformed_json_is_a_bad_request(factory: AppFactory) {
    let app = factory.app().await;
    let (_, token) = app.customer("Sari Dewi").await;
    let reply = app
        .raw(
            Method::POST,
            "/api/users",
            &[JSON],
            br#"{"name": "Sari", "email": "#.to_vec(),
        )
        .await;
    reply.expect_reason(400, "malformed_json");
    let auth = format!("Bearer {token}");
    let reply = app
        .raw(
            Method::POST,
            "/api/bookings",
            &[JSON, ("authorization", auth.as_str())],
            b"event_id=1&seat_ids=2".to_vec(),
        )
        .await;
    reply.expect_reason(400, "malformed_json");
    let empty = app
        .raw(Method::POST, "/api/users/login", &[JSON], Vec::new())
        .await
        .expect_reason(400, "validation_failed");
    assert_eq!(
        detail_lines(&empty),
        ["body: is required: send a JSON object"]
    );
}

pub async fn missing_and_mistyped_fields_are_bad_requests(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.customer("Sari Dewi").await;
    let expect_problems = |reply: Reply, problems: &[&str]| {
        let body = reply.expect_reason(400, "validation_failed");
        assert_eq!(detail_lines(&body), problems, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        if let [only] = problems {
            assert!(
                message.contains(only),
                "the message names the problem: {message}"
            );
        }
        for internal in [
            "RegisterRequest",
            "optional_",
            "parse",
            "integer(",
            "Expected input",
        ] {
            assert!(!message.contains(internal), "framework words in {message}");
        }
    };

    let missing = json!({ "name": "Sari Dewi", "email": "sari@example.com" });
    expect_problems(
        app.post("/api/users", None, &missing).await,
        &["password: is required"],
    );
    let nulled = json!({ "name": null, "email": "sari@example.com", "password": null });
    expect_problems(
        app.post("/api/users", None, &nulled).await,
        &["name: is required", "password: is required"],
    );
    let mistyped = json!({ "name": 5, "email": "sari@example.com", "password": CUSTOMER_PASSWORD });
    expect_problems(
        app.post("/api/users", None, &mistyped).await,
        &["name: must be text"],
    );
    let not_an_object = json!(["Sari Dewi"]);
    expect_problems(
        app.post("/api/users", None, &not_an_object).await,
        &["body: must be an object"],
    );

    // Every problem of a nested body at once.
    let mut event = app.event_body("Malam Salah Ketik");
    event.as_object_mut().map(|body| body.remove("name"));
    event["capacity"] = json!("banyak");
    event["phases"] = json!([app.phase("Early Bird", 1, 5), app.phase("Normal", 1, 5)]);
    event["phases"][1]["price"] = json!(150000.5);
    event["phases"][0]["quota"] = json!(null);
    expect_problems(
        app.post("/api/events", Some(&admin), &event).await,
        &[
            "name: is required",
            "capacity: must be a whole number",
            "phases[0].quota: is required",
            "phases[1].price: must be a whole number",
        ],
    );

    let seat_ids_text = json!({ "event_id": 1, "seat_ids": "A1" });
    expect_problems(
        app.post("/api/bookings", Some(&token), &seat_ids_text)
            .await,
        &["seat_ids: must be a list"],
    );
    let seat_id_text = json!({ "event_id": 1, "seat_ids": [1, "A2"] });
    expect_problems(
        app.post("/api/bookings", Some(&token), &seat_id_text).await,
        &["seat_ids[1]: must be a whole number"],
    );
    let amount_text = json!({ "amount": "banyak", "method": "Tunai" });
    expect_problems(
        app.post("/api/bookings/BKG-AAAAA/pay", Some(&token), &amount_text)
            .await,
        &["amount: must be a whole number"],
    );
    expect_problems(
        app.get("/api/events?page=satu", None).await,
        &["page: must be a whole number"],
    );
    expect_problems(
        app.get("/api/events?upcoming=kadang", None).await,
        &["upcoming: must be true or false"],
    );
    expect_problems(
        app.get("/api/events/satu", None).await,
        &["id: must be a whole number"],
    );
}

pub async fn numbers_and_booleans_are_not_text(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.customer("Sari Dewi").await;
    // Each would pass its field's rules as text ("081234567890", "false"), yet none is a string.
    let phone_number = json!({
        "name": "Dewi Lestari", "email": "dewi@example.com", "password": CUSTOMER_PASSWORD,
        "phone_number": 81234567890u64,
    });
    let error = app
        .post("/api/users", None, &phone_number)
        .await
        .expect_error(400);
    assert_eq!(error["error"], "validation_failed");
    assert_eq!(detail_lines(&error), ["phone_number: must be text"]);
    app.login("dewi@example.com", CUSTOMER_PASSWORD)
        .await
        .expect_error(401);
    let email = json!({ "email": true, "password": CUSTOMER_PASSWORD });
    app.post("/api/users/login", None, &email)
        .await
        .expect_error(400);
    let mut venue = app.event_body("Malam Tawa");
    venue["venue"] = json!(false);
    app.post("/api/events", Some(&admin), &venue)
        .await
        .expect_error(400);
    let listed = app.get("/api/events", None).await.expect(200);
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(0),
        "no event was made"
    );
    let method = json!({ "amount": 100000, "method": 42 });
    app.post("/api/bookings/BKG-AAAAA/pay", Some(&token), &method)
        .await
        .expect_error(400);
}

pub async fn unknown_paths_are_not_found(factory: AppFactory) {
    let app = factory.app().await;
    for path in [
        "/api/nothing",
        "/nothing",
        "/api/events/1/nothing",
        "/api/users/1/nothing/else",
    ] {
        app.get(path, None).await.expect_error(404);
    }
    app.post("/api/nothing", None, &json!({}))
        .await
        .expect_error(404);
}

pub async fn wrong_methods_are_not_allowed(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    // Each refusal names the methods the path does take, as the document lists them.
    for (method, path, allowed) in [
        (Method::PATCH, "/api/events", "GET, POST"),
        (Method::DELETE, "/api/dashboard", "GET"),
        (Method::PUT, "/api/users/login", "POST"),
        (Method::GET, "/api/users/login", "POST"),
        (Method::POST, "/api/users/7", "GET, PUT, DELETE"),
        (Method::GET, "/api/bookings/BKG-AAAAA/pay", "POST"),
    ] {
        let reply = app
            .request(method.clone(), path, Some(&admin), Some(&json!({})))
            .await;
        assert_eq!(reply.header("allow"), Some(allowed), "{method} {path}");
        reply.expect_error(405);
    }
}

pub async fn oversized_bodies_are_refused(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let auth = format!("Bearer {admin}");
    let limit = 3 * 1024 * 1024;
    let body = format!(r#"{{"name":"{}"}}"#, "a".repeat(limit + 16)).into_bytes();
    let length = body.len().to_string();

    let declared = [
        JSON,
        ("authorization", auth.as_str()),
        ("content-length", length.as_str()),
    ];
    app.raw(Method::POST, "/api/events", &declared, body.clone())
        .await
        .expect_error(413);
    // Without Content-Length the body is counted as it arrives.
    app.raw(
        Method::POST,
        "/api/events",
        &[JSON, ("authorization", auth.as_str())],
        body.clone(),
    )
    .await
    .expect_error(413);
    app.raw(Method::POST, "/api/users", &[JSON], body.clone())
        .await
        .expect_error(413);
    app.raw(
        Method::POST,
        "/api/users/login",
        &[JSON, ("content-length", length.as_str())],
        body,
    )
    .await
    .expect_error(413);
}

pub async fn missing_or_bad_tokens_are_unauthorized(factory: AppFactory) {
    let app = factory.app().await;
    let (id, token) = app.customer("Sari Dewi").await;
    let own = format!("/api/users/{id}");
    app.get(&own, None).await.expect_error(401);
    app.get(&own, Some("not-a-token")).await.expect_error(401);
    let mut tampered = token.clone();
    let last = tampered.pop().expect("a token");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    app.get(&own, Some(&tampered)).await.expect_error(401);
    let basic = app
        .raw(
            Method::GET,
            &own,
            &[JSON, ("authorization", "Basic c2FyaTpzYXJp")],
            Vec::new(),
        )
        .await;
    basic.expect_error(401);
    let other_secret = factory
        .app_with(&[("JWT_SECRET", "a-completely-different-secret-of-40-bytes")])
        .await;
    let (foreign_id, foreign_token) = other_secret.customer("Sari Dewi").await;
    app.get(&format!("/api/users/{foreign_id}"), Some(&foreign_token))
        .await
        .expect_error(401);
    app.post(
        "/api/bookings",
        None,
        &json!({ "event_id": 1, "seat_ids": [1] }),
    )
    .await
    .expect_error(401);

    app.get(&own, Some(&token)).await.expect(200);
    app.advance(app.config.jwt_ttl - Duration::seconds(1));
    app.get(&own, Some(&token)).await.expect(200);
    app.advance(Duration::seconds(1));
    app.get(&own, Some(&token)).await.expect_error(401);
}

pub async fn cors_preflight_allows_the_web_app(factory: AppFactory) {
    let app = factory.app().await;
    for (path, method) in [
        ("/api/events", "POST"),
        ("/api/users/login", "POST"),
        ("/api/events/1", "PUT"),
        ("/api/events/1", "DELETE"),
        ("/api/dashboard", "GET"),
    ] {
        let preflight = app
            .raw(
                Method::OPTIONS,
                path,
                &[
                    ("origin", WEB_APP),
                    ("access-control-request-method", method),
                    (
                        "access-control-request-headers",
                        "authorization,content-type",
                    ),
                ],
                Vec::new(),
            )
            .await;
        assert!(
            preflight.status.is_success(),
            "preflight of {method} {path}: {preflight:?}"
        );
        let origin = preflight.header("access-control-allow-origin");
        assert!(
            matches!(origin, Some(WEB_APP | "*")),
            "preflight of {path} allows origin {origin:?}"
        );
        assert!(
            header_lists(&preflight, "access-control-allow-methods", method),
            "{preflight:?}"
        );
        for header in ["authorization", "content-type"] {
            assert!(
                header_lists(&preflight, "access-control-allow-headers", header),
                "{header} not allowed: {preflight:?}"
            );
        }
    }

    let reply = app
        .raw(
            Method::GET,
            "/api/events",
            &[JSON, ("origin", WEB_APP)],
            Vec::new(),
        )
        .await;
    assert_eq!(reply.code(), 200);
    assert!(
        matches!(
            reply.header("access-control-allow-origin"),
            Some(WEB_APP | "*")
        ),
        "{reply:?}"
    );
    assert!(
        header_lists(&reply, "access-control-expose-headers", "x-total-count"),
        "the browser can only read X-Total-Count when it is exposed: {reply:?}"
    );
    let error = app
        .raw(
            Method::GET,
            "/api/dashboard",
            &[JSON, ("origin", WEB_APP)],
            Vec::new(),
        )
        .await;
    assert!(
        matches!(
            error.header("access-control-allow-origin"),
            Some(WEB_APP | "*")
        ),
        "the web app must be able to read error messages: {error:?}"
    );
    error.expect_error(401);
    for (method, path) in [
        (Method::GET, "/api/nothing"),
        (Method::PATCH, "/api/events"),
    ] {
        let reply = app
            .raw(method, path, &[JSON, ("origin", WEB_APP)], Vec::new())
            .await;
        let origin = reply.header("access-control-allow-origin");
        assert!(
            matches!(origin, Some(WEB_APP | "*")),
            "framework errors reach the web app too: {reply:?}"
        );
    }
}

pub async fn cors_origins_can_be_restricted(factory: AppFactory) {
    let app = factory
        .app_with(&[(
            "CORS_ORIGINS",
            "https://wartawa.id,https://admin.wartawa.id",
        )])
        .await;
    let preflight = |origin: &'static str| {
        let app = app.clone();
        async move {
            let headers = [
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
            ];
            app.raw(Method::OPTIONS, "/api/bookings", &headers, Vec::new())
                .await
        }
    };
    let allowed = preflight("https://admin.wartawa.id").await;
    assert!(allowed.status.is_success(), "{allowed:?}");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://admin.wartawa.id")
    );

    let refused = preflight("https://evil.example").await;
    let origin = refused.header("access-control-allow-origin");
    assert!(
        !matches!(origin, Some("https://evil.example" | "*")),
        "an unlisted origin was allowed: {refused:?}"
    );
    if !refused.status.is_success() {
        let status = refused.code();
        refused.expect_error(status);
    }
}

pub async fn health_and_readiness_answer(factory: AppFactory) {
    let app = factory.app().await;
    assert_eq!(
        app.get("/health", None).await.expect(200),
        json!({ "status": "ok" })
    );
    assert_eq!(
        app.get("/ready", None).await.expect(200),
        json!({ "status": "ok" })
    );
}

/// A caller's own `X-Request-Id` is kept and echoed, so that its logs and WarTawa's tell of the
/// same request; one that could forge a log line or header is replaced by a fresh one.
pub async fn a_callers_request_id_is_kept_when_sane(factory: AppFactory) {
    let app = factory.app().await;
    let id_of = |value: &'static str| {
        let app = &app;
        async move {
            let reply = app
                .raw(
                    Method::GET,
                    "/health",
                    &[("x-request-id", value)],
                    Vec::new(),
                )
                .await;
            reply.header("x-request-id").expect("an id").to_string()
        }
    };
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7";
    assert_eq!(id_of(trace).await, trace);
    assert_eq!(id_of("req-42.retry_1").await, "req-42.retry_1");
    for forged in ["two words", "x\"}{\"level\":\"ERROR", "é"] {
        let made = id_of(forged).await;
        assert_ne!(made, forged);
        assert!(
            made.len() == 32 && made.bytes().all(|byte| byte.is_ascii_hexdigit()),
            "{made}"
        );
    }
    let long: &'static str = Box::leak("a".repeat(129).into_boxed_str());
    assert_ne!(id_of(long).await, long);
}

/// The value of the Prometheus sample `name` whose labels include `labels`; 0 when there is
/// none yet.
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            series == &name
                || series.strip_prefix(name).is_some_and(|rest| {
                    rest.starts_with('{')
                        && labels
                            .iter()
                            .all(|(key, value)| rest.contains(&format!("{key}=\"{value}\"")))
                })
        })
        .map(|(_, value)| value.parse::<f64>().expect("a number"))
        .sum()
}

/// `/metrics` shows a sale happening: the counters of a booking and its payment move, and the
/// request latency is a histogram by route. (Other tests share the process's recorder, so the
/// counters are compared as at least what this test did.)
pub async fn metrics_show_the_sale_happening(factory: AppFactory) {
    let app = factory.app().await;
    let scrape = || async {
        let reply = app.get("/metrics", None).await;
        assert_eq!(reply.code(), 200);
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        String::from_utf8(reply.bytes).expect("text")
    };
    let before = scrape().await;
    let event = app.event_on_sale("Malam Metrik", 100_000, 20).await;
    let event_id = event["id"].to_string();
    let (_, token) = app.customer("Sari Dewi").await;
    let booking = app
        .book(&token, event["id"].as_i64().unwrap(), &["A1", "A2"])
        .await;
    app.pay(&token, &booking).await;
    let after = scrape().await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let this_show = [("event_id", event_id.as_str())];
    assert!(
        moved("wartawa_bookings_placed_total", &this_show) >= 1.0,
        "{after}"
    );
    assert!(
        moved("wartawa_bookings_paid_total", &this_show) >= 1.0,
        "{after}"
    );
    assert!(
        moved("wartawa_seats_sold_total", &this_show) >= 2.0,
        "{after}"
    );
    let booked = [
        ("method", "POST"),
        ("route", "/api/bookings"),
        ("status", "201"),
    ];
    assert!(
        moved("wartawa_http_requests_total", &booked) >= 1.0,
        "{after}"
    );
    assert!(
        moved("wartawa_http_request_duration_seconds_count", &booked) >= 1.0,
        "{after}"
    );
    assert!(
        after.lines().any(
            |line| line.starts_with("wartawa_http_request_duration_seconds_bucket{")
                && line.contains("route=\"/api/bookings/{code}/pay\"")
                && line.contains("le=\"0.05\"")
        ),
        "latency is a histogram with buckets: {after}"
    );
}

/// A large answer goes compressed to a client that takes it, and as it is to one that does not;
/// small answers, pictures and event streams are never compressed.
pub async fn large_answers_are_compressed_for_clients_that_take_it(factory: AppFactory) {
    use std::io::Read;
    let app = factory.app().await;
    let event = app.event_on_sale("Gedung Besar", 100_000, 400).await;
    let seats = format!("/api/events/{}/seats", event["id"]);
    let get = |path: String, accept: &'static str| {
        let app = &app;
        async move {
            app.raw(
                Method::GET,
                &path,
                &[("accept-encoding", accept)],
                Vec::new(),
            )
            .await
        }
    };
    let plain = get(seats.clone(), "identity").await;
    assert_eq!(plain.code(), 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("accept-encoding"));
    let gzipped = get(seats.clone(), "gzip, deflate").await;
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gzipped.bytes[..])
        .read_to_end(&mut unzipped)
        .expect("gzip");
    assert_eq!(unzipped, plain.bytes, "the same answer, compressed");
    assert!(
        gzipped.bytes.len() * 4 < plain.bytes.len(),
        "a seat map compresses well: {} of {} bytes",
        gzipped.bytes.len(),
        plain.bytes.len()
    );
    let browser = get(seats.clone(), "gzip, deflate, br, zstd").await;
    assert_eq!(
        browser.header("content-encoding"),
        Some("gzip"),
        "gzip first"
    );
    let brotli = get(seats.clone(), "br").await;
    assert_eq!(brotli.header("content-encoding"), Some("br"));
    let refused = get(seats, "br;q=0, gzip;q=0").await;
    assert_eq!(refused.header("content-encoding"), None);
    let small = get("/health".to_string(), "gzip").await;
    assert_eq!(
        small.header("content-encoding"),
        None,
        "too small to be worth it"
    );
    let picture = get(format!("/api/events/{}/image", event["id"]), "gzip").await;
    assert_eq!(picture.header("content-encoding"), None);
    let stream = app
        .client()
        .get(format!("/api/events/{}/seats/stream", event["id"]))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .0;
    assert_eq!(stream.status().as_u16(), 200);
    assert!(
        stream.headers().get("content-encoding").is_none(),
        "an event stream goes as it is, event by event"
    );
}

/// Every operation of the contract, as `(method, path)` in OpenAPI's notation.
pub const CONTRACT_OPERATIONS: &[(&str, &str)] = &[
    ("post", "/api/users"),
    ("post", "/api/users/login"),
    ("get", "/api/users"),
    ("get", "/api/users/{id}"),
    ("put", "/api/users/{id}"),
    ("delete", "/api/users/{id}"),
    ("post", "/api/users/{id}/password"),
    ("get", "/api/users/{id}/events"),
    ("get", "/api/users/{id}/bookings"),
    ("get", "/api/events"),
    ("post", "/api/events"),
    ("get", "/api/events/{id}"),
    ("put", "/api/events/{id}"),
    ("delete", "/api/events/{id}"),
    ("get", "/api/events/{id}/seats"),
    ("get", "/api/events/{id}/image"),
    ("post", "/api/bookings"),
    ("get", "/api/bookings/{code}"),
    ("post", "/api/bookings/{code}/pay"),
    ("post", "/api/bookings/{code}/cancel"),
    ("post", "/api/bookings/{code}/checkin"),
    ("get", "/api/dashboard"),
    ("get", "/api/audit"),
    ("get", "/health"),
    ("get", "/ready"),
];

pub async fn openapi_document_lists_every_contract_path(factory: AppFactory) {
    let app = factory.app().await;
    let reply = app.get("/openapi.json", None).await;
    assert_eq!(reply.code(), 200, "{:?}", reply.body);
    let document = reply.body;
    assert!(
        document.is_object(),
        "/openapi.json is not a JSON object: {document}"
    );
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with('3')),
        "not OpenAPI 3"
    );
    let paths = document["paths"].as_object().expect("paths");
    // "/api/users/" and "/api/users" name the same route.
    let find = |path: &str| -> Option<&Value> {
        paths
            .iter()
            .find(|(key, _)| key.trim_end_matches('/') == path)
            .map(|(_, item)| item)
    };
    let mut missing = Vec::new();
    for (method, path) in CONTRACT_OPERATIONS {
        if find(path).and_then(|item| item.get(*method)).is_none() {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(
        missing.is_empty(),
        "not in /openapi.json: {missing:?}; paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    let secured = find("/api/dashboard")
        .and_then(|item| item.get("get"))
        .and_then(|op| op.get("security"));
    assert!(
        secured.is_some(),
        "protected operations declare the bearer scheme"
    );
}

pub async fn swagger_ui_is_served(factory: AppFactory) {
    let app = factory.app().await;
    let mut reply = app.raw(Method::GET, "/docs", &[], Vec::new()).await;
    if reply.status.is_redirection() {
        let location = reply
            .header("location")
            .expect("a redirect has a location")
            .to_string();
        reply = app.raw(Method::GET, &location, &[], Vec::new()).await;
    }
    assert_eq!(reply.code(), 200, "{reply:?}");
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "/docs is {content_type}"
    );
    let page = reply.body.as_str().unwrap_or_default().to_lowercase();
    assert!(
        page.contains("<html") && page.contains("swagger"),
        "/docs is not the Swagger UI"
    );
}

/// Odd but possible requests: none may cause a 500, and every refusal has the error shape.
pub async fn hostile_input_never_causes_a_server_error(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (customer, token) = app.customer("Sari Dewi").await;
    let event = app.event_on_sale("Uji Ketahanan", 100_000, 20).await;
    let event_id = event["id"].as_i64().expect("an id");
    let seat = app.seat_ids(event_id, &["A1"]).await[0];
    let booking = app.book(&token, event_id, &["A2"]).await;
    let code = booking["booking_code"]
        .as_str()
        .expect("a code")
        .to_string();
    let huge_price = {
        let mut body = app.event_body("Harga Raksasa");
        body["phases"] = json!([app.phase("Regular", i64::MAX, 20)]);
        app.create_event(&body).await["id"].as_i64().expect("an id")
    };
    let huge_seats = app.seat_ids(huge_price, &["A1", "A2"]).await;

    let requests: Vec<(Method, String, Option<&str>, Option<Value>)> = vec![
        (Method::GET, "/api/events/0".into(), None, None),
        (Method::GET, "/api/events/-1".into(), None, None),
        (Method::GET, format!("/api/events/{}", i64::MAX), None, None),
        (
            Method::GET,
            "/api/events/99999999999999999999".into(),
            None,
            None,
        ),
        (Method::GET, "/api/events?page=0".into(), None, None),
        (Method::GET, "/api/events?per_page=0".into(), None, None),
        (
            Method::GET,
            "/api/events?page=4294967296".into(),
            None,
            None,
        ),
        (
            Method::GET,
            "/api/events?page=1000000&per_page=100".into(),
            None,
            None,
        ),
        (
            Method::GET,
            format!("/api/events?q={}", "a".repeat(300)),
            None,
            None,
        ),
        (
            Method::GET,
            "/api/events?q=%25%27%22%3B--".into(),
            None,
            None,
        ),
        (Method::GET, "/api/users/-1".into(), Some(&admin), None),
        (
            Method::GET,
            format!("/api/users/{}", i64::MAX),
            Some(&admin),
            None,
        ),
        (
            Method::GET,
            "/api/bookings/%F0%9F%98%80".into(),
            Some(&token),
            None,
        ),
        (
            Method::GET,
            format!("/api/bookings/{}", "B".repeat(5000)),
            Some(&token),
            None,
        ),
        (
            Method::POST,
            "/api/bookings".into(),
            Some(&token),
            Some(json!({ "event_id": event_id, "seat_ids": [i64::MAX] })),
        ),
        (
            Method::POST,
            "/api/bookings".into(),
            Some(&token),
            Some(json!({ "event_id": event_id, "seat_ids": [-1, 0] })),
        ),
        (
            Method::POST,
            "/api/bookings".into(),
            Some(&token),
            Some(json!({ "event_id": event_id, "seat_ids": [seat], "quantity": -1 })),
        ),
        (
            Method::POST,
            "/api/bookings".into(),
            Some(&token),
            Some(json!({ "event_id": event_id, "seat_ids": [seat], "phase_id": -5 })),
        ),
        (
            Method::POST,
            "/api/bookings".into(),
            Some(&token),
            Some(json!({ "event_id": huge_price, "seat_ids": huge_seats })),
        ),
        (
            Method::POST,
            "/api/bookings".into(),
            Some(&token),
            Some(json!({ "event_id": event_id, "seat_ids": vec![seat; 10_000] })),
        ),
        (
            Method::POST,
            format!("/api/bookings/{code}/pay"),
            Some(&token),
            Some(json!({ "amount": i64::MAX, "method": "Tunai" })),
        ),
        (
            Method::POST,
            format!("/api/bookings/{code}/pay"),
            Some(&token),
            Some(json!({ "amount": 100_000, "method": "m".repeat(10_000) })),
        ),
        (
            Method::POST,
            format!("/api/bookings/{code}/pay"),
            Some(&token),
            Some(json!({ "amount": 1.5, "method": "Tunai" })),
        ),
        (
            Method::POST,
            "/api/events".into(),
            Some(&admin),
            Some(
                json!({ "name": "Kapasitas", "date": app.at(chrono::Duration::days(30)), "venue": "Gedung", "capacity": i64::MAX, "phases": [app.phase("Regular", 1, 1)] }),
            ),
        ),
        (
            Method::POST,
            "/api/events".into(),
            Some(&admin),
            Some(
                json!({ "name": "Kuota", "date": app.at(chrono::Duration::days(30)), "venue": "Gedung", "phases": [app.phase("Regular", 1, i64::MAX)] }),
            ),
        ),
        (
            Method::POST,
            "/api/events".into(),
            Some(&admin),
            Some(
                json!({ "name": "Kuota", "date": app.at(chrono::Duration::days(30)), "venue": "Gedung", "phases": [app.phase("Satu", 1, 60_000), app.phase("Dua", 1, 60_000)] }),
            ),
        ),
        (
            Method::POST,
            "/api/events".into(),
            Some(&admin),
            Some(
                json!({ "name": "Tahun", "date": "99999-01-01 00:00:00", "venue": "Gedung", "phases": [app.phase("Regular", 1, 1)] }),
            ),
        ),
        (
            Method::POST,
            "/api/events".into(),
            Some(&admin),
            Some(
                json!({ "name": "Tahun", "date": "9999-12-31T23:59:59+14:00", "venue": "Gedung", "seats_per_row": i64::MIN, "phases": [app.phase("Regular", 1, 1)] }),
            ),
        ),
        (
            Method::PUT,
            format!("/api/events/{event_id}"),
            Some(&admin),
            Some(json!({ "capacity": -5 })),
        ),
        (
            Method::PUT,
            format!("/api/events/{event_id}"),
            Some(&admin),
            Some(
                json!({ "phases": [{ "id": i64::MAX, "name": "Hantu", "price": 1, "quota": 1, "start_date": app.at(chrono::Duration::days(1)), "end_date": app.at(chrono::Duration::days(2)) }] }),
            ),
        ),
        (
            Method::PUT,
            format!("/api/users/{customer}"),
            Some(&token),
            Some(json!({ "name": "\u{0}\u{0}\u{0}", "phone_number": "+" })),
        ),
        (
            Method::POST,
            "/api/users".into(),
            None,
            Some(
                json!({ "name": "   ", "email": "a@b", "password": "\u{0}".repeat(8), "nik": "\u{0661}".repeat(16) }),
            ),
        ),
        (
            Method::POST,
            "/api/users/login".into(),
            None,
            Some(json!({ "email": "x".repeat(100_000), "password": "y".repeat(100_000) })),
        ),
        (
            Method::GET,
            "/api/dashboard".into(),
            Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwicm9sZSI6ImFkbWluIn0."),
            None,
        ),
        (Method::GET, "/api/dashboard".into(), Some(""), None),
    ];
    let mut failures = Vec::new();
    for (method, path, token, body) in requests {
        let reply = app
            .request(method.clone(), &path, token, body.as_ref())
            .await;
        let shown = format!("{method} {}", &path[..path.len().min(80)]);
        if reply.status.is_server_error() {
            failures.push(format!("{shown}: {} {}", reply.code(), reply.body));
        } else if reply.code() >= 400 {
            let body = &reply.body;
            let shaped = body["status"] == "error"
                && body["code"] == reply.code()
                && body["message"]
                    .as_str()
                    .is_some_and(|message| !message.is_empty());
            if !shaped {
                failures.push(format!(
                    "{shown}: {} not in the error shape: {body}",
                    reply.code()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "server errors or unshaped errors:\n{}",
        failures.join("\n")
    );
    app.get("/ready", None).await.expect(200);
}

/// The document is what a client is built from: its `servers` say where the API is, every object
/// it describes has an example, its examples of changes work when sent as they are (a new show
/// is on sale whenever it is tried), and `Retry-After` is
/// documented only on the answers that send it (429, 503, and the 409 of a keyed request still
/// running).
pub async fn the_document_can_be_taken_at_its_word(factory: AppFactory) {
    let app = factory.app().await;
    let document = app.get("/openapi.json", None).await.expect(200);
    assert!(
        document["servers"]
            .as_array()
            .is_some_and(|servers| !servers.is_empty()),
        "no servers: {}",
        document["servers"]
    );
    let schemas = &document["components"]["schemas"];
    for (name, schema) in schemas.as_object().into_iter().flatten() {
        if schema["type"] == "object" {
            assert!(schema.get("example").is_some(), "{name} has no example");
        }
    }
    let example = |name: &str| schemas[name]["example"].clone();
    let admin = app.admin_token().await;
    let created = app
        .post("/api/events", Some(&admin), &example("CreateEventRequest"))
        .await
        .expect(201);
    assert!(
        !created["current_phase"].is_null(),
        "the example's show is on sale: {created}"
    );
    let path = format!("/api/events/{}", created["id"]);
    app.put(&path, Some(&admin), &example("UpdateEventRequest"))
        .await
        .expect(200);
    app.post("/api/users", None, &example("RegisterRequest"))
        .await
        .expect(201);
    let login = app
        .post("/api/users/login", None, &example("LoginRequest"))
        .await
        .expect(200);
    let customer = login["token"].as_str().unwrap_or_default().to_string();
    let user_path = format!("/api/users/{}", login["user"]["id"]);
    app.put(&user_path, Some(&customer), &example("UpdateUserRequest"))
        .await
        .expect(200);
    app.post(
        &format!("{user_path}/password"),
        Some(&customer),
        &example("PasswordChangeRequest"),
    )
    .await
    .expect(200);

    for (path, operations) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in operations.as_object().into_iter().flatten() {
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                let sends_retry_after = response["headers"].as_object().is_some_and(|headers| {
                    headers
                        .keys()
                        .any(|name| name.eq_ignore_ascii_case("retry-after"))
                });
                let may = matches!(status.as_str(), "429" | "503")
                    || (status == "409"
                        && matches!(
                            operation["operationId"].as_str(),
                            Some("createBooking" | "payBooking")
                        ));
                assert!(
                    !sends_retry_after || may,
                    "{method} {path} documents Retry-After on {status}"
                );
                if matches!(status.as_str(), "429" | "503") {
                    assert!(
                        sends_retry_after,
                        "{method} {path} {status} lacks Retry-After"
                    );
                }
            }
        }
    }
}
