//! `/api/events`: creating, listing, changing, cancelling and deleting shows; seat maps and
//! price phases.

use chrono::{Duration, FixedOffset};
use poem::http::Method;
use serde_json::{json, Value};

use crate::http_harness::{
    assert_field_error, detail_lines, id, naive_at, time_at, venue_time, AppFactory, Reply,
    TestApp, TEST_HOST,
};
use crate::pictures::{data_url, jpeg, png, poster, tiny_png};

/// Row names as the contract letters them: A…Z, AA, AB, …
fn row_name(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        n -= 1;
        letters.push(char::from(b'A' + (n % 26) as u8));
        n /= 26;
    }
    letters.iter().rev().collect()
}

/// The labels of `capacity` seats laid out `per_row` to a row, in seat-map order.
fn expected_labels(capacity: usize, per_row: usize) -> Vec<String> {
    (0..capacity)
        .map(|seat| format!("{}{}", row_name(seat / per_row), seat % per_row + 1))
        .collect()
}

fn labels(seats: &[Value]) -> Vec<String> {
    seats
        .iter()
        .map(|seat| seat["label"].as_str().expect("a label").to_string())
        .collect()
}

fn names(events: &Value) -> Vec<String> {
    events
        .as_array()
        .expect("a list")
        .iter()
        .map(|event| event["name"].as_str().expect("a name").to_string())
        .collect()
}

/// Two phases: "Early Bird" (50 000, `early_quota`, ends in `early_days`), then "Presale"
/// (75 000, 10 tickets, until a day before the show).
fn two_phase_event(app: &TestApp, name: &str, early_quota: i64, early_days: i64) -> Value {
    let mut body = app.event_body(name);
    let mut early = app.phase("Early Bird", 50_000, early_quota);
    early["end_date"] = json!(app.at(Duration::days(early_days)));
    body["phases"] = json!([early, app.phase("Presale", 75_000, 10)]);
    body
}

pub async fn create_event_returns_it_with_phases_and_seats(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let mut body = two_phase_event(&app, "Stand-up Night Jakarta", 30, 10);
    body["phases"][1]["quota"] = json!(20);
    body.as_object_mut()
        .expect("an object")
        .remove("seats_per_row");
    let event = app
        .post("/api/events", Some(&admin), &body)
        .await
        .expect(201);

    assert!(id(&event) > 0);
    assert_eq!(event["name"], "Stand-up Night Jakarta");
    assert_eq!(event["description"], "An evening of stand-up comedy.");
    assert_eq!(event["venue"], "Teater Kecil, Jakarta");
    assert_eq!(event["image_url"], "https://example.com/poster.jpg");
    assert_eq!(venue_time(&event["date"]), app.now() + Duration::days(30));
    assert_eq!(
        event["capacity"], 50,
        "capacity defaults to the sum of the quotas"
    );
    assert_eq!(event["total_capacity"], 50);
    assert_eq!(event["seats_per_row"], 10);
    assert_eq!(event["available_seats"], 50);
    assert_eq!(event["tickets_sold"], 0);
    assert_eq!(event["status"], "published");

    let phases = event["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 2);
    for (phase, (name, price, quota)) in phases
        .iter()
        .zip([("Early Bird", 50_000, 30), ("Presale", 75_000, 20)])
    {
        assert!(phase["id"].as_i64().is_some(), "{phase}");
        assert_eq!(phase["name"], name);
        assert_eq!(phase["price"], price);
        assert_eq!(phase["quota"], quota);
        assert_eq!(phase["sold"], 0);
        assert_eq!(phase["remaining"], quota);
        assert_eq!(phase["is_active"], true);
        assert_eq!(
            venue_time(&phase["start_date"]),
            app.now() - Duration::days(1)
        );
    }
    assert_eq!(
        venue_time(&phases[0]["end_date"]),
        app.now() + Duration::days(10)
    );
    assert_ne!(phases[0]["id"], phases[1]["id"]);
    assert_eq!(event["current_phase"]["id"], phases[0]["id"]);
    assert_eq!(event["current_phase"]["name"], "Early Bird");

    assert_eq!(
        app.event(id(&event)).await,
        event,
        "the detail is what creation returned"
    );
    let list = app.get("/api/events", None).await.expect(200);
    assert_eq!(
        list,
        json!([event]),
        "list items carry every field of the detail"
    );

    let seats = app.seats(id(&event)).await;
    assert_eq!(labels(&seats), expected_labels(50, 10));
    let first = &seats[0];
    assert!(first["id"].as_i64().is_some());
    assert_eq!(first["label"], "A1");
    assert_eq!(first["row"], "A");
    assert_eq!(first["number"], 1);
    assert_eq!(first["status"], "available");
    assert_eq!(first["is_booked"], false);
    assert_eq!(seats[49]["label"], "E10");
    assert_eq!(seats[49]["row"], "E");
    assert_eq!(seats[49]["number"], 10);
    let mut ids: Vec<i64> = seats
        .iter()
        .map(|seat| seat["id"].as_i64().expect("a seat id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50, "seat ids are distinct");

    let mut explicit = app.event_body("Kapasitas Sendiri");
    explicit["capacity"] = json!(7);
    explicit["seats_per_row"] = json!(3);
    let small = app.create_event(&explicit).await;
    assert_eq!(small["capacity"], 7);
    assert_eq!(
        labels(&app.seats(id(&small)).await),
        ["A1", "A2", "A3", "B1", "B2", "B3", "C1"]
    );
}

pub async fn rows_past_z_are_lettered_aa_ab(factory: AppFactory) {
    let app = factory.app().await;
    let mut body = app.event_body("Gedung Besar");
    body["capacity"] = json!(300);
    body["seats_per_row"] = json!(10);
    body["phases"] = json!([app.phase("Regular", 100_000, 300)]);
    let event = app.create_event(&body).await;
    let seats = app.seats(id(&event)).await;
    let labels = labels(&seats);
    assert_eq!(labels, expected_labels(300, 10));
    assert!(
        labels.iter().all(|label| !label.contains('[')),
        "row past Z lettered with '['"
    );
    for (label, row) in [("Z10", "Z"), ("AA1", "AA"), ("AD10", "AD")] {
        let seat = seats
            .iter()
            .find(|seat| seat["label"] == label)
            .unwrap_or_else(|| panic!("no seat {label}"));
        assert_eq!(seat["row"], row);
    }
    assert_eq!(labels.last().map(String::as_str), Some("AD10"));
}

pub async fn naive_times_are_read_at_the_venue_offset(factory: AppFactory) {
    let app = factory.app().await;
    let wib = FixedOffset::east_opt(7 * 3600).expect("an offset");
    let date = app.now() + Duration::days(60);
    let start = app.now() - Duration::hours(2);
    let end = app.now() + Duration::days(59);
    let mut body = app.event_body("Waktu Lokal");
    body["date"] = json!(naive_at(date, wib));
    body["phases"][0]["end_date"] = json!(naive_at(end, wib).replacen(' ', "T", 1));
    // Seconds may be left out: "YYYY-MM-DD HH:MM".
    let start_minute = naive_at(start, wib)[..16].to_string();
    body["phases"][0]["start_date"] = json!(start_minute);
    let event = app.create_event(&body).await;
    // e.g. "2026-12-01 19:30:00" is read at +07:00 and answered as "2026-12-01T19:30:00+07:00".
    assert_eq!(venue_time(&event["date"]), date);
    assert_eq!(
        event["date"]
            .as_str()
            .map(|text| text[..19].replace('T', " ")),
        Some(naive_at(date, wib)),
        "the answer shows the venue's wall time as it was written"
    );
    let start_read = venue_time(&event["phases"][0]["start_date"]);
    assert_eq!(naive_at(start_read, wib), format!("{start_minute}:00"));
    assert!(start - start_read < Duration::minutes(1));
    assert_eq!(venue_time(&event["phases"][0]["end_date"]), end);

    let jayapura = factory.app_with(&[("APP_TZ_OFFSET", "+09:00")]).await;
    let wit = FixedOffset::east_opt(9 * 3600).expect("an offset");
    let date = jayapura.now() + Duration::days(60);
    let mut body = jayapura.event_body("Waktu Timur");
    body["date"] = json!(naive_at(date, wit));
    let event = jayapura.create_event(&body).await;
    assert_eq!(
        time_at(&event["date"], wit),
        date,
        "naive times are read, and answers written, at APP_TZ_OFFSET"
    );
}

pub async fn create_event_reports_invalid_input(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let past_phase = json!({
        "name": "Regular", "price": 100_000, "quota": 20,
        "start_date": app.at(-Duration::days(2)), "end_date": app.at(-Duration::hours(2)),
    });
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "date in the past",
            json!({ "date": app.at(-Duration::hours(1)), "phases": [past_phase] }),
            "date",
        ),
        (
            "date not a time",
            json!({ "date": "tomorrow evening" }),
            "date",
        ),
        (
            "phase ends after the show",
            json!({ "phases": [{ "name": "Regular", "price": 1, "quota": 5, "start_date": app.at(-Duration::days(1)), "end_date": app.at(Duration::days(31)) }] }),
            "phases[0].end_date",
        ),
        (
            "phase ends before it starts",
            json!({ "phases": [{ "name": "Regular", "price": 1, "quota": 5, "start_date": app.at(Duration::days(3)), "end_date": app.at(Duration::days(2)) }] }),
            "phases[0].end_date",
        ),
        ("no phases", json!({ "phases": [] }), "phases"),
        (
            "eleven phases",
            json!({ "phases": vec![app.phase("Regular", 1, 1); 11] }),
            "phases",
        ),
        (
            "image of another scheme",
            json!({ "image_url": "ftp://example.com/poster.png" }),
            "image_url",
        ),
        (
            "data URL that is no image",
            json!({ "image_url": "data:text/plain;base64,SGFsbw==" }),
            "image_url",
        ),
        ("name too short", json!({ "name": "ab" }), "name"),
        ("name too long", json!({ "name": "n".repeat(256) }), "name"),
        ("venue empty", json!({ "venue": "" }), "venue"),
        (
            "no seats to a row",
            json!({ "seats_per_row": 0 }),
            "seats_per_row",
        ),
        (
            "too many seats to a row",
            json!({ "seats_per_row": 101 }),
            "seats_per_row",
        ),
        ("no capacity", json!({ "capacity": 0 }), "capacity"),
        (
            "capacity too large",
            json!({ "capacity": 100_001 }),
            "capacity",
        ),
        (
            "negative price",
            json!({ "phases": [app.phase("Regular", -1, 5)] }),
            "phases[0].price",
        ),
        (
            "no quota",
            json!({ "phases": [app.phase("Regular", 1, 0)] }),
            "phases[0].quota",
        ),
        (
            "phase name too short",
            json!({ "phases": [app.phase("ab", 1, 5)] }),
            "phases[0].name",
        ),
        (
            "phase time not a time",
            json!({ "phases": [{ "name": "Regular", "price": 1, "quota": 5, "start_date": "soon", "end_date": app.at(Duration::days(2)) }] }),
            "phases[0].start_date",
        ),
    ];
    for (case, changes, field) in cases {
        let mut body = app.event_body("Acara Salah");
        for (key, value) in changes.as_object().expect("an object") {
            body[key] = value.clone();
        }
        let reply = app.post("/api/events", Some(&admin), &body).await;
        assert_eq!(reply.code(), 400, "{case}: {}", reply.body);
        assert_field_error(&reply.expect_error(400), field);
    }
    let reply = app.get("/api/events", None).await;
    assert_eq!(reply.total_count(), 0, "no invalid event was created");
}

/// The address in an `image_url` without its scheme and host, to request it in-process; asserts
/// that it is absolute on `base` and names `event`'s picture with a version.
#[track_caller]
fn picture_path(image_url: &Value, base: &str, event: i64) -> String {
    let url = image_url
        .as_str()
        .unwrap_or_else(|| panic!("image_url is not a string: {image_url}"));
    assert!(
        !url.contains("data:"),
        "a picture itself in image_url: {url:.80}"
    );
    let path = url
        .strip_prefix(base)
        .unwrap_or_else(|| panic!("image_url {url} does not start with {base}"));
    let version = path
        .strip_prefix(&format!("/api/events/{event}/image?v="))
        .unwrap_or_else(|| panic!("image_url {url} is not event {event}'s picture"));
    assert!(
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_hexdigit()),
        "image_url {url} carries no version"
    );
    path.to_string()
}

/// `GET` of a picture's address, with headers.
async fn get_picture(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Reply {
    app.raw(Method::GET, path, headers, Vec::new()).await
}

fn base() -> String {
    format!("http://{TEST_HOST}")
}

pub async fn uploaded_pictures_are_served_from_their_own_address(factory: AppFactory) {
    let app = factory.app().await;
    let mut body = app.event_body("Poster Unggahan");
    body["image_url"] = json!(data_url("image/png", &tiny_png()));
    let event = app.create_event(&body).await;
    let event_id = id(&event);
    let path = picture_path(&event["image_url"], &base(), event_id);

    let detail = app.event(event_id).await;
    assert_eq!(detail["image_url"], event["image_url"]);
    let list = app.get("/api/events", None).await.expect(200);
    assert_eq!(list[0]["image_url"], event["image_url"]);

    let served = get_picture(&app, &path, &[]).await;
    assert_eq!(served.code(), 200, "{:?}", served.body);
    assert_eq!(
        served.bytes,
        tiny_png(),
        "the picture is served as uploaded"
    );
    assert_eq!(served.header("content-type"), Some("image/png"));
    assert_eq!(served.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        served.header("cache-control"),
        Some("public, max-age=31536000, immutable"),
        "the current version may be kept for a year"
    );
    let etag = served.header("etag").expect("an ETag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let again = get_picture(&app, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(again.code(), 304);
    assert!(again.bytes.is_empty(), "a 304 has no body");
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let stale = get_picture(&app, &path, &[("if-none-match", "\"something-else\"")]).await;
    assert_eq!((stale.code(), stale.bytes), (200, tiny_png()));

    let unversioned = get_picture(&app, &format!("/api/events/{event_id}/image"), &[]).await;
    assert_eq!(unversioned.code(), 200);
    assert_eq!(unversioned.bytes, tiny_png());
    let cache = unversioned.header("cache-control").unwrap_or_default();
    assert!(
        cache.starts_with("public, max-age=")
            && !cache.contains("immutable")
            && cache != "public, max-age=31536000",
        "an address without the current version is kept briefly, not {cache:?}"
    );
    let old_version = get_picture(
        &app,
        &format!("/api/events/{event_id}/image?v=0000000000000000"),
        &[],
    )
    .await;
    assert!(!old_version
        .header("cache-control")
        .unwrap_or_default()
        .contains("immutable"));

    // Everywhere an event is shown.
    let (customer, token) = app.customer("Sari Dewi").await;
    let booking = app.book(&token, event_id, &["A1"]).await;
    assert_eq!(booking["event"]["image_url"], event["image_url"]);
    let code = booking["booking_code"]
        .as_str()
        .expect("a code")
        .to_string();
    let shown = app
        .get(&format!("/api/bookings/{code}"), Some(&token))
        .await
        .expect(200);
    assert_eq!(shown["event"]["image_url"], event["image_url"]);
    let history = app
        .get(&format!("/api/users/{customer}/bookings"), Some(&token))
        .await
        .expect(200);
    assert_eq!(history[0]["event"]["image_url"], event["image_url"]);
    let held = app
        .get(&format!("/api/users/{customer}/events"), Some(&token))
        .await
        .expect(200);
    assert_eq!(held[0]["image_url"], event["image_url"]);
    let paid = app.pay(&token, &booking).await;
    assert_eq!(paid["booking"]["event"]["image_url"], event["image_url"]);
}

pub async fn a_list_of_posters_stays_small(factory: AppFactory) {
    let app = factory.app().await;
    // Each about 1.9 MB as a data URL, close to the 2 MB allowed.
    let posters: Vec<Vec<u8>> = (0..5u8).map(|mark| poster(1_400_000, mark + 1)).collect();
    let mut ids = Vec::new();
    for (index, picture) in posters.iter().enumerate() {
        let mut body = app.event_body(&format!("Malam Poster {index}"));
        let url = data_url("image/png", picture);
        assert!(url.len() > 1_800_000 && url.len() < 2 * 1024 * 1024);
        body["image_url"] = json!(url);
        ids.push(id(&app.create_event(&body).await));
    }

    let list = app.get("/api/events", None).await;
    assert_eq!(list.code(), 200);
    assert!(
        list.bytes.len() < 64 * 1024,
        "five posters make a list of {} bytes",
        list.bytes.len()
    );
    let events = list.body.as_array().expect("a list").clone();
    assert_eq!(events.len(), 5);
    for (event_id, picture) in ids.iter().zip(&posters) {
        let event = events
            .iter()
            .find(|event| id(event) == *event_id)
            .expect("listed");
        let path = picture_path(&event["image_url"], &base(), *event_id);
        let detail = app.get(&format!("/api/events/{event_id}"), None).await;
        assert!(
            detail.bytes.len() < 16 * 1024,
            "a detail of {} bytes",
            detail.bytes.len()
        );
        let served = get_picture(&app, &path, &[]).await;
        assert_eq!(served.code(), 200);
        assert!(
            served.bytes == *picture,
            "event {event_id} serves its own poster"
        );
    }
}

pub async fn pictures_are_replaced_cleared_and_deleted_with_their_event(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let mut body = app.event_body("Ganti Poster");
    body["image_url"] = json!(data_url("image/png", &png(1)));
    let event = app.create_event(&body).await;
    let event_id = id(&event);
    let path = format!("/api/events/{event_id}");
    let first = picture_path(&event["image_url"], &base(), event_id);

    let replaced = app
        .put(
            &path,
            Some(&admin),
            &json!({ "image_url": data_url("image/png", &png(2)) }),
        )
        .await
        .expect(200);
    let second = picture_path(&replaced["image_url"], &base(), event_id);
    assert_ne!(
        second, first,
        "a new picture gets a new version in its address"
    );
    assert_eq!(get_picture(&app, &second, &[]).await.bytes, png(2));
    let old = get_picture(&app, &first, &[]).await;
    assert_eq!(
        old.bytes,
        png(2),
        "the old address serves the current picture"
    );
    assert!(!old
        .header("cache-control")
        .unwrap_or_default()
        .contains("immutable"));

    let renamed = app
        .put(&path, Some(&admin), &json!({ "name": "Ganti Nama" }))
        .await
        .expect(200);
    assert_eq!(
        renamed["image_url"], replaced["image_url"],
        "left out, the picture stays"
    );
    let sent_back = app
        .put(
            &path,
            Some(&admin),
            &json!({ "name": "Ganti Nama Lagi", "image_url": replaced["image_url"] }),
        )
        .await
        .expect(200);
    assert_eq!(
        sent_back["image_url"], replaced["image_url"],
        "a form that sends back the address it read keeps the picture"
    );
    assert_eq!(get_picture(&app, &second, &[]).await.bytes, png(2));

    let linked = app
        .put(
            &path,
            Some(&admin),
            &json!({ "image_url": "https://example.com/baru.jpg" }),
        )
        .await
        .expect(200);
    assert_eq!(
        linked["image_url"], "https://example.com/baru.jpg",
        "a link stays a link"
    );
    assert_eq!(
        app.event(event_id).await["image_url"],
        "https://example.com/baru.jpg"
    );
    get_picture(&app, &second, &[]).await.expect_error(404);

    let uploaded = app
        .put(
            &path,
            Some(&admin),
            &json!({ "image_url": data_url("image/png", &png(3)) }),
        )
        .await
        .expect(200);
    let third = picture_path(&uploaded["image_url"], &base(), event_id);
    assert_eq!(get_picture(&app, &third, &[]).await.bytes, png(3));
    let cleared = app
        .put(&path, Some(&admin), &json!({ "image_url": null }))
        .await
        .expect(200);
    assert_eq!(cleared["image_url"], Value::Null);
    assert_eq!(app.event(event_id).await["image_url"], Value::Null);
    get_picture(&app, &third, &[]).await.expect_error(404);

    let mut body = app.event_body("Hapus Poster");
    body["image_url"] = json!(data_url("image/png", &png(4)));
    let doomed = app.create_event(&body).await;
    let doomed_id = id(&doomed);
    let doomed_path = picture_path(&doomed["image_url"], &base(), doomed_id);
    assert_eq!(get_picture(&app, &doomed_path, &[]).await.code(), 200);
    app.delete(&format!("/api/events/{doomed_id}"), Some(&admin))
        .await
        .expect(204);
    get_picture(&app, &doomed_path, &[]).await.expect_error(404);
}

pub async fn events_without_an_uploaded_picture_have_none_to_serve(factory: AppFactory) {
    let app = factory.app().await;
    let linked = app.create_event(&app.event_body("Poster Tautan")).await;
    assert_eq!(linked["image_url"], "https://example.com/poster.jpg");
    let error = app
        .get(&format!("/api/events/{}/image", id(&linked)), None)
        .await
        .expect_error(404);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("picture")),
        "{error}"
    );
    let mut body = app.event_body("Tanpa Poster");
    body.as_object_mut().expect("an object").remove("image_url");
    let bare = app.create_event(&body).await;
    assert_eq!(bare["image_url"], Value::Null);
    app.get(&format!("/api/events/{}/image", id(&bare)), None)
        .await
        .expect_error(404);
    app.get("/api/events/999999/image", None)
        .await
        .expect_error(404);
    app.get("/api/events/satu/image", None)
        .await
        .expect_error(400);
}

pub async fn picture_addresses_follow_the_public_base_url_or_the_host(factory: AppFactory) {
    let configured = factory
        .app_with(&[("PUBLIC_BASE_URL", "https://api.wartawa.id/backend/")])
        .await;
    let mut body = configured.event_body("Poster Publik");
    body["image_url"] = json!(data_url("image/png", &tiny_png()));
    let event = configured.create_event(&body).await;
    let event_id = id(&event);
    let path = picture_path(
        &event["image_url"],
        "https://api.wartawa.id/backend",
        event_id,
    );
    let listed = configured.get("/api/events", None).await.expect(200);
    assert_eq!(listed[0]["image_url"], event["image_url"]);
    let hostless = configured
        .raw(
            Method::GET,
            &format!("/api/events/{event_id}"),
            &[],
            Vec::new(),
        )
        .await
        .expect(200);
    assert_eq!(
        hostless["image_url"], event["image_url"],
        "whatever the request's Host"
    );
    assert_eq!(get_picture(&configured, &path, &[]).await.bytes, tiny_png());

    let app = factory.app().await;
    let event = app.create_event(&body).await;
    let event_id = id(&event);
    picture_path(&event["image_url"], &base(), event_id);
    let on_port = app
        .raw(
            Method::GET,
            &format!("/api/events/{event_id}"),
            &[("host", "LOCALHOST:6543")],
            Vec::new(),
        )
        .await
        .expect(200);
    picture_path(&on_port["image_url"], "http://localhost:6543", event_id);
    for host in [
        None,
        Some("evil.example/x"),
        Some("evil.example\"><b>"),
        Some("a b"),
    ] {
        let headers: Vec<(&str, &str)> = host.iter().map(|host| ("host", *host)).collect();
        let reply = app
            .raw(
                Method::GET,
                &format!("/api/events/{event_id}"),
                &headers,
                Vec::new(),
            )
            .await;
        if let Some(host) = host {
            if reply.code() == 400 {
                continue; // refused before it reached the API: nothing to link
            }
            assert_eq!(reply.code(), 200, "Host {host:?}: {:?}", reply.body);
        }
        let relative = &reply.body["image_url"];
        picture_path(relative, "", event_id);
    }
}

pub async fn image_url_accepts_only_links_and_raster_uploads(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>";
    let refused = [
        data_url("image/svg+xml", svg),
        data_url("image/png", &jpeg()),
        data_url("image/png", b"not a picture at all"),
        data_url("text/html", b"<script>alert(1)</script>"),
        "data:image/png;base64,not base64!".to_string(),
        "https://example.com/a.png\" onerror=\"alert(1)".to_string(),
        "https://example.com/<script>.png".to_string(),
        "https://example.com\\evil.png".to_string(),
        "https://example.com/a b.png".to_string(),
        "javascript:alert(1)".to_string(),
        "ftp://example.com/poster.png".to_string(),
    ];
    let existing = app.create_event(&app.event_body("Poster Lama")).await;
    let path = format!("/api/events/{}", id(&existing));
    for image_url in &refused {
        let mut body = app.event_body("Poster Salah");
        body["image_url"] = json!(image_url);
        for reply in [
            app.post("/api/events", Some(&admin), &body).await,
            app.put(&path, Some(&admin), &json!({ "image_url": image_url }))
                .await,
        ] {
            assert_eq!(reply.code(), 400, "{image_url:.60}: {}", reply.body);
            let error = reply.expect_error(400);
            assert_eq!(detail_lines(&error).len(), 1, "{error}");
            assert_field_error(&error, "image_url");
        }
    }
    assert_eq!(
        app.event(id(&existing)).await["image_url"],
        "https://example.com/poster.jpg",
        "a refused change changes nothing"
    );

    let prefix = "data:image/png;base64,";
    let too_large = format!("{prefix}{}", "A".repeat(2 * 1024 * 1024 + 4 - prefix.len()));
    let mut body = app.event_body("Poster Besar");
    body["image_url"] = json!(too_large);
    app.post("/api/events", Some(&admin), &body)
        .await
        .expect_error(413);
    app.put(&path, Some(&admin), &json!({ "image_url": too_large }))
        .await
        .expect_error(413);
    assert_eq!(app.get("/api/events", None).await.total_count(), 1);
}

pub async fn events_are_listed_by_date_filtered_and_paged(factory: AppFactory) {
    let app = factory.app().await;
    for (name, venue, days) in [
        ("Komedi Malam", "Teater Kecil", 40),
        ("Tawa Pagi", "Gedung Kesenian Jakarta", 10),
        ("Open Mic", "Kafe Komedi", 20),
        ("Segera Tampil", "Balai Kota", 2),
    ] {
        let mut body = app.event_body(name);
        body["venue"] = json!(venue);
        body["date"] = json!(app.at(Duration::days(days)));
        body["phases"][0]["end_date"] = json!(app.at(Duration::days(days) - Duration::hours(1)));
        app.create_event(&body).await;
    }

    let reply = app.get("/api/events", None).await;
    assert_eq!(reply.total_count(), 4);
    let all = reply.expect(200);
    assert_eq!(
        names(&all),
        ["Segera Tampil", "Tawa Pagi", "Open Mic", "Komedi Malam"]
    );
    for event in all.as_array().expect("a list") {
        assert_eq!(&app.event(id(event)).await, event, "list and detail alike");
    }

    let reply = app.get("/api/events?q=KOMEDI", None).await;
    assert_eq!(reply.total_count(), 2);
    assert_eq!(
        names(&reply.expect(200)),
        ["Open Mic", "Komedi Malam"],
        "q matches name or venue, ignoring case"
    );
    assert_eq!(
        names(&app.get("/api/events?q=jakarta", None).await.expect(200)),
        ["Tawa Pagi"]
    );
    let nothing = app.get("/api/events?q=tidak%20ada", None).await;
    assert_eq!(nothing.total_count(), 0);
    assert_eq!(nothing.expect(200), json!([]));

    let page = app.get("/api/events?page=2&per_page=2", None).await;
    assert_eq!(page.total_count(), 4);
    assert_eq!(names(&page.expect(200)), ["Open Mic", "Komedi Malam"]);
    let beyond = app.get("/api/events?page=3&per_page=2", None).await;
    assert_eq!(beyond.total_count(), 4);
    assert_eq!(beyond.expect(200), json!([]));
    assert_field_error(
        &app.get("/api/events?per_page=101", None)
            .await
            .expect_error(400),
        "per_page",
    );

    app.advance(Duration::days(3));
    let all = app.get("/api/events", None).await.expect(200);
    assert_eq!(all[0]["name"], "Segera Tampil");
    assert_eq!(
        all[0]["status"], "ended",
        "a show whose date has passed has ended"
    );
    assert_eq!(all[0]["current_phase"], Value::Null);
    assert_eq!(all[1]["status"], "published");
    let upcoming = app.get("/api/events?upcoming=true", None).await;
    assert_eq!(upcoming.total_count(), 3);
    assert_eq!(
        names(&upcoming.expect(200)),
        ["Tawa Pagi", "Open Mic", "Komedi Malam"]
    );
}

pub async fn unknown_events_are_not_found(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    app.get("/api/events/999999", None).await.expect_error(404);
    app.get("/api/events/999999/seats", None)
        .await
        .expect_error(404);
    app.put(
        "/api/events/999999",
        Some(&admin),
        &json!({ "name": "Nama Baru" }),
    )
    .await
    .expect_error(404);
    app.delete("/api/events/999999", Some(&admin))
        .await
        .expect_error(404);
}

pub async fn update_event_changes_fields_and_appends_seats(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let event = app.event_on_sale("Nama Lama", 100_000, 20).await;
    let path = format!("/api/events/{}", id(&event));
    let before = app.seats(id(&event)).await;

    let changes =
        json!({ "name": "Nama Baru", "venue": "Gedung Baru", "description": "Lebih lucu." });
    let changed = app.put(&path, Some(&admin), &changes).await.expect(200);
    assert_eq!(changed["name"], "Nama Baru");
    assert_eq!(changed["venue"], "Gedung Baru");
    assert_eq!(changed["description"], "Lebih lucu.");
    assert_eq!(changed["capacity"], 20, "fields left out stay as they are");
    assert_eq!(changed["image_url"], event["image_url"]);
    assert_eq!(app.event(id(&event)).await, changed);

    let grown = app
        .put(&path, Some(&admin), &json!({ "capacity": 25 }))
        .await
        .expect(200);
    assert_eq!(grown["capacity"], 25);
    assert_eq!(grown["total_capacity"], 25);
    assert_eq!(grown["available_seats"], 25);
    let after = app.seats(id(&event)).await;
    assert_eq!(
        labels(&after),
        expected_labels(25, 10),
        "new seats are appended: C1…C5"
    );
    assert_eq!(after[..20], before[..], "existing seats keep their ids");

    let date = app.now() + Duration::days(45);
    let moved = app
        .put(
            &path,
            Some(&admin),
            &json!({ "date": naive_at(date, app.config.venue_offset) }),
        )
        .await
        .expect(200);
    assert_eq!(venue_time(&moved["date"]), date);

    assert_field_error(
        &app.put(&path, Some(&admin), &json!({ "name": "ab" }))
            .await
            .expect_error(400),
        "name",
    );
    let past = json!({ "date": app.at(-Duration::days(1)) });
    assert_field_error(
        &app.put(&path, Some(&admin), &past).await.expect_error(400),
        "date",
    );
    // The phase sells until 29 days from now, so the show cannot move before that.
    let early = json!({ "date": app.at(Duration::days(5)) });
    assert_field_error(
        &app.put(&path, Some(&admin), &early).await.expect_error(400),
        "phases[0].end_date",
    );
    let huge = json!({ "capacity": 100_001 });
    assert_field_error(
        &app.put(&path, Some(&admin), &huge).await.expect_error(400),
        "capacity",
    );
    assert_field_error(
        &app.put(&path, Some(&admin), &json!({ "status": "postponed" }))
            .await
            .expect_error(400),
        "status",
    );
    assert_eq!(
        app.event(id(&event)).await["name"],
        "Nama Baru",
        "a refused change changes nothing"
    );
}

pub async fn capacity_cannot_drop_below_held_seats(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.customer("Sari Dewi").await;
    let event = app.event_on_sale("Kursi Terpakai", 100_000, 20).await;
    let path = format!("/api/events/{}", id(&event));
    app.book(&token, id(&event), &["B5"]).await;

    app.put(&path, Some(&admin), &json!({ "capacity": 10 }))
        .await
        .expect_error(409);
    assert_eq!(
        app.seats(id(&event)).await.len(),
        20,
        "the refused shrink removed nothing"
    );

    let shrunk = app
        .put(&path, Some(&admin), &json!({ "capacity": 15 }))
        .await
        .expect(200);
    assert_eq!(shrunk["capacity"], 15);
    let statuses = app.seat_statuses(id(&event)).await;
    assert_eq!(statuses.len(), 15);
    assert_eq!(statuses["B5"], "held");
    assert!(!statuses.contains_key("B6"));
}

pub async fn phases_are_updated_added_and_removed_unless_sold(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.customer("Sari Dewi").await;
    let mut body = two_phase_event(&app, "Fase Berubah", 10, 10);
    body["capacity"] = json!(30);
    let event = app.create_event(&body).await;
    let path = format!("/api/events/{}", id(&event));
    let early = event["phases"][0].clone();
    let booking = app.book(&token, id(&event), &["A1", "A2"]).await;
    assert_eq!(booking["phase_id"], early["id"]);

    let mut early_update = early.clone();
    early_update["price"] = json!(60_000);
    let normal = app.phase("Normal", 90_000, 10);
    let changed = app
        .put(
            &path,
            Some(&admin),
            &json!({ "phases": [early_update, normal] }),
        )
        .await
        .expect(200);
    let phases = changed["phases"].as_array().expect("phases");
    assert_eq!(
        phases.len(),
        2,
        "Presale was left out and removed: {changed}"
    );
    assert_eq!(phases[0]["id"], early["id"]);
    assert_eq!(phases[0]["price"], 60_000);
    assert_eq!(phases[0]["sold"], 2);
    assert_eq!(phases[1]["name"], "Normal");
    assert!(phases[1]["id"].as_i64().is_some());
    let normal = phases[1].clone();

    let code = booking["booking_code"].as_str().expect("a code");
    let kept = app.booking(code).await;
    assert_eq!(
        kept["unit_price"], 50_000,
        "a sale keeps the price it was made at"
    );
    assert_eq!(kept["total_price"], 100_000);

    app.put(&path, Some(&admin), &json!({ "phases": [normal] }))
        .await
        .expect_error(409);
    let mut below_sold = phases[0].clone();
    below_sold["quota"] = json!(1);
    app.put(
        &path,
        Some(&admin),
        &json!({ "phases": [below_sold, normal] }),
    )
    .await
    .expect_error(409);
    assert_field_error(
        &app.put(&path, Some(&admin), &json!({ "phases": [] }))
            .await
            .expect_error(400),
        "phases",
    );
    assert_eq!(
        app.event(id(&event)).await["phases"],
        changed["phases"],
        "refused changes changed nothing"
    );

    let mut at_sold = phases[0].clone();
    at_sold["quota"] = json!(2);
    let changed = app
        .put(&path, Some(&admin), &json!({ "phases": [at_sold, normal] }))
        .await
        .expect(200);
    assert_eq!(changed["phases"][0]["quota"], 2);
    assert_eq!(changed["phases"][0]["remaining"], 0);
    assert_eq!(changed["current_phase"]["name"], "Normal");
}

pub async fn cancelling_an_event_refunds_and_frees_everything(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let doomed = app.event_on_sale("Batal Tampil", 100_000, 20).await;
    let other = app.event_on_sale("Tetap Tampil", 80_000, 20).await;
    let paid = app.paid_booking(&sari, id(&doomed), &["A1", "A2"]).await;
    let pending = app.book(&budi, id(&doomed), &["A3"]).await;
    app.paid_booking(&budi, id(&other), &["B1"]).await;

    let before = app.dashboard().await;
    assert_eq!(before["total_revenue"], 280_000);
    assert_eq!(before["tickets_sold"], 3);
    assert_eq!(before["active_events"], 2);
    assert_eq!(before["pending_bookings"], 1);

    let path = format!("/api/events/{}", id(&doomed));
    let cancelled = app
        .put(&path, Some(&admin), &json!({ "status": "cancelled" }))
        .await
        .expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["current_phase"], Value::Null);
    assert_eq!(cancelled["available_seats"], 20);
    assert_eq!(cancelled["tickets_sold"], 0);

    for booking in [&paid, &pending] {
        let code = booking["booking_code"].as_str().expect("a code");
        let now = app.booking(code).await;
        assert_eq!(now["status"], "cancelled", "{now}");
        assert!(now["cancelled_at"].is_string(), "{now}");
    }
    let statuses = app.seat_statuses(id(&doomed)).await;
    assert!(
        statuses.values().all(|status| status == "available"),
        "{statuses:?}"
    );

    let after = app.dashboard().await;
    assert_eq!(
        after["total_revenue"], 80_000,
        "the cancelled show's payments were refunded"
    );
    assert_eq!(after["tickets_sold"], 1);
    assert_eq!(after["active_events"], 1);
    assert_eq!(after["pending_bookings"], 0);

    let seat = app.seat_ids(id(&doomed), &["A5"]).await;
    app.book_ids(&sari, id(&doomed), &seat)
        .await
        .expect_error(409);
    let code = pending["booking_code"].as_str().expect("a code");
    let payment = json!({ "amount": 100_000, "method": "BCA Virtual Account" });
    app.post(&format!("/api/bookings/{code}/pay"), Some(&budi), &payment)
        .await
        .expect_error(409);
    app.put(&path, Some(&admin), &json!({ "status": "published" }))
        .await
        .expect_error(409);
}

pub async fn delete_is_only_for_events_without_bookings(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.customer("Sari Dewi").await;
    let empty = app.event_on_sale("Tanpa Penonton", 100_000, 20).await;
    let booked = app.event_on_sale("Ada Penonton", 100_000, 20).await;
    app.book(&token, id(&booked), &["A1"]).await;

    let reply = app
        .delete(&format!("/api/events/{}", id(&empty)), Some(&admin))
        .await;
    assert_eq!(reply.code(), 204, "{}", reply.body);
    assert_eq!(reply.body, Value::Null);
    app.get(&format!("/api/events/{}", id(&empty)), None)
        .await
        .expect_error(404);
    app.get(&format!("/api/events/{}/seats", id(&empty)), None)
        .await
        .expect_error(404);
    assert_eq!(app.get("/api/events", None).await.total_count(), 1);

    let error = app
        .delete(&format!("/api/events/{}", id(&booked)), Some(&admin))
        .await
        .expect_error(409);
    let message = error["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        message.contains("cancel"),
        "the 409 should tell the admin to cancel instead: {error}"
    );
    app.event(id(&booked)).await;
}

pub async fn seat_map_tells_held_from_sold(factory: AppFactory) {
    let app = factory.app().await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let event = app.event_on_sale("Peta Kursi", 100_000, 20).await;
    app.book(&sari, id(&event), &["A1", "A2"]).await;
    app.paid_booking(&budi, id(&event), &["B1"]).await;

    let seats = app.seats(id(&event)).await;
    for seat in &seats {
        let fields: Vec<&String> = seat.as_object().expect("an object").keys().collect();
        for field in ["id", "label", "row", "number", "status", "is_booked"] {
            assert!(
                fields.iter().any(|key| *key == field),
                "seat without {field}: {seat}"
            );
        }
        let (status, booked) = match seat["label"].as_str() {
            Some("A1" | "A2") => ("held", true),
            Some("B1") => ("sold", true),
            _ => ("available", false),
        };
        assert_eq!(seat["status"], status, "{seat}");
        assert_eq!(seat["is_booked"], booked, "{seat}");
    }
    let event = app.event(id(&event)).await;
    assert_eq!(event["available_seats"], 17);
    assert_eq!(event["tickets_sold"], 1, "only paid tickets are sold");
    assert_eq!(
        event["phases"][0]["sold"], 3,
        "quota counts pending and confirmed tickets"
    );
    assert_eq!(event["phases"][0]["remaining"], 17);
}

pub async fn current_phase_gives_way_when_sold_out(factory: AppFactory) {
    let app = factory.app().await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let event = app
        .create_event(&two_phase_event(&app, "Habis Terjual", 2, 10))
        .await;
    let (early, presale) = (event["phases"][0].clone(), event["phases"][1].clone());
    assert_eq!(event["current_phase"]["id"], early["id"]);

    let first = app.book(&sari, id(&event), &["A1", "A2"]).await;
    assert_eq!(first["unit_price"], 50_000);
    assert_eq!(first["ticket_type"], "Early Bird");
    let now = app.event(id(&event)).await;
    assert_eq!(now["phases"][0]["remaining"], 0);
    assert_eq!(now["phases"][0]["is_active"], false);
    assert_eq!(
        now["current_phase"]["id"], presale["id"],
        "a sold-out Early Bird gives way to Presale"
    );

    let second = app.book(&budi, id(&event), &["A3"]).await;
    assert_eq!(second["phase_id"], presale["id"]);
    assert_eq!(second["unit_price"], 75_000);
    assert_eq!(second["ticket_type"], "Presale");
    let seat = app.seat_ids(id(&event), &["A4"]).await;
    let with_early =
        json!({ "event_id": id(&event), "seat_ids": seat, "phase_id": early["id"], "quantity": 1 });
    app.post("/api/bookings", Some(&budi), &with_early)
        .await
        .expect_error(409);

    let code = first["booking_code"].as_str().expect("a code");
    app.post(
        &format!("/api/bookings/{code}/cancel"),
        Some(&sari),
        &json!({}),
    )
    .await
    .expect(200);
    assert_eq!(
        app.event(id(&event)).await["current_phase"]["id"],
        early["id"],
        "freed tickets return to Early Bird"
    );
}

pub async fn current_phase_gives_way_when_its_window_closes(factory: AppFactory) {
    let app = factory.app().await;
    let event = app
        .create_event(&two_phase_event(&app, "Waktu Habis", 10, 2))
        .await;
    let (early, presale) = (event["phases"][0].clone(), event["phases"][1].clone());
    assert_eq!(event["current_phase"]["id"], early["id"]);

    app.advance(Duration::days(2) + Duration::seconds(1));
    let now = app.event(id(&event)).await;
    assert_eq!(
        now["current_phase"]["id"], presale["id"],
        "Early Bird's window has closed"
    );
    assert_eq!(now["phases"][0]["is_active"], false);
    assert_eq!(now["phases"][1]["is_active"], true);

    let (_, token) = app.customer("Sari Dewi").await;
    let booking = app.book(&token, id(&event), &["A1"]).await;
    assert_eq!(booking["phase_id"], presale["id"]);
    assert_eq!(booking["unit_price"], 75_000);
    let seat = app.seat_ids(id(&event), &["A2"]).await;
    let with_early =
        json!({ "event_id": id(&event), "seat_ids": seat, "phase_id": early["id"], "quantity": 1 });
    app.post("/api/bookings", Some(&token), &with_early)
        .await
        .expect_error(409);
}

/// The web app never pages: with more shows than a page holds, the event list and a customer's
/// booking history without paging parameters answer every item; with them, one page.
pub async fn lists_the_web_app_reads_are_whole_without_paging(factory: AppFactory) {
    let app = factory.app_with(&[("MAX_TICKETS_PER_USER", "0")]).await;
    let token = app.admin_token().await;
    let (customer_id, customer) = app.customer("Sari Dewi").await;
    for n in 0..22 {
        let body = app.event_body(&format!("Malam Lawak {n:02}"));
        let event = app
            .post("/api/events", Some(&token), &body)
            .await
            .expect(201);
        app.book(&customer, id(&event), &["A1"]).await;
    }
    let all = app.get("/api/events", None).await;
    assert_eq!(all.total_count(), 22);
    assert_eq!(all.expect(200).as_array().map(Vec::len), Some(22));
    let first_page = app.get("/api/events?page=1", None).await.expect(200);
    assert_eq!(first_page.as_array().map(Vec::len), Some(20));

    let history = app
        .get(
            &format!("/api/users/{customer_id}/bookings"),
            Some(&customer),
        )
        .await;
    assert_eq!(history.total_count(), 22);
    assert_eq!(history.expect(200).as_array().map(Vec::len), Some(22));
}
