//! `/api/events`: creating, listing, changing, cancelling and deleting shows; seat maps and
//! price phases.

use chrono::{Duration, FixedOffset};
use serde_json::{json, Value};

use crate::http_harness::{assert_field_error, id, naive_at, utc_time, AppFactory, TestApp};

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
    assert_eq!(utc_time(&event["date"]), app.now() + Duration::days(30));
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
            utc_time(&phase["start_date"]),
            app.now() - Duration::days(1)
        );
    }
    assert_eq!(
        utc_time(&phases[0]["end_date"]),
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
    // e.g. "2026-12-01 19:30:00" at +07:00 is "2026-12-01T12:30:00Z".
    assert_eq!(utc_time(&event["date"]), date);
    let start_read = utc_time(&event["phases"][0]["start_date"]);
    assert_eq!(naive_at(start_read, wib), format!("{start_minute}:00"));
    assert!(start - start_read < Duration::minutes(1));
    assert_eq!(utc_time(&event["phases"][0]["end_date"]), end);

    let jayapura = factory.app_with(&[("APP_TZ_OFFSET", "+09:00")]).await;
    let wit = FixedOffset::east_opt(9 * 3600).expect("an offset");
    let date = jayapura.now() + Duration::days(60);
    let mut body = jayapura.event_body("Waktu Timur");
    body["date"] = json!(naive_at(date, wit));
    let event = jayapura.create_event(&body).await;
    assert_eq!(
        utc_time(&event["date"]),
        date,
        "naive times follow APP_TZ_OFFSET"
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

pub async fn image_data_urls_are_kept_up_to_two_megabytes(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let prefix = "data:image/png;base64,";
    let fits = format!("{prefix}{}", "QUFB".repeat(1_500_000 / 4));
    let mut body = app.event_body("Poster Unggahan");
    body["image_url"] = json!(fits);
    let event = app
        .post("/api/events", Some(&admin), &body)
        .await
        .expect(201);
    assert_eq!(
        event["image_url"].as_str(),
        Some(fits.as_str()),
        "the uploaded picture is kept"
    );

    let at_limit = format!("{prefix}{}", "A".repeat(2 * 1024 * 1024 - prefix.len()));
    body["image_url"] = json!(at_limit);
    app.post("/api/events", Some(&admin), &body)
        .await
        .expect(201);

    let too_large = format!("{prefix}{}", "A".repeat(2 * 1024 * 1024 + 4 - prefix.len()));
    body["image_url"] = json!(too_large);
    app.post("/api/events", Some(&admin), &body)
        .await
        .expect_error(413);
    let path = format!("/api/events/{}", id(&event));
    app.put(&path, Some(&admin), &json!({ "image_url": too_large }))
        .await
        .expect_error(413);
    let error = app
        .put(
            &path,
            Some(&admin),
            &json!({ "image_url": "javascript:alert(1)" }),
        )
        .await
        .expect_error(400);
    assert_field_error(&error, "image_url");

    let changed = app
        .put(
            &path,
            Some(&admin),
            &json!({ "image_url": "https://example.com/baru.jpg" }),
        )
        .await
        .expect(200);
    assert_eq!(changed["image_url"], "https://example.com/baru.jpg");
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
    assert_eq!(utc_time(&moved["date"]), date);

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
