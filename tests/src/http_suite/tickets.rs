//! Signed tickets: a paid booking carries a token that a scanner verifies with the public key
//! alone; an altered token or another key does not verify; a cancelled booking has none.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use serde_json::{json, Value};

use crate::http_harness::{code, id, AppFactory, TestApp, TEST_HOST, TICKET_SIGNING_KEY};

/// The claims of `token` if `key` signed it, read as a scanner with no connection would.
fn verify(key: &VerifyingKey, token: &str) -> Option<Value> {
    let (claims, signature) = token.split_once('.')?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD.decode(signature).ok()?.try_into().ok()?;
    key.verify(claims.as_bytes(), &Signature::from_bytes(&signature))
        .ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

pub async fn a_paid_bookings_ticket_verifies_with_the_public_key_alone(factory: AppFactory) {
    let app = factory.app().await;
    let event = app
        .event_on_sale("Tiket Bertanda Tangan", 100_000, 20)
        .await;
    let event_id = id(&event);
    let (_, sari) = app.customer("Sari Dewi").await;
    let booking = app.book(&sari, event_id, &["A1", "A2"]).await;
    assert_eq!(
        booking["ticket"],
        Value::Null,
        "a pending booking has no ticket yet"
    );

    let paid = app.pay(&sari, &booking).await["booking"].clone();
    let token = paid["ticket"]
        .as_str()
        .expect("a paid booking's ticket")
        .to_string();
    assert!(token.len() < 300, "{} characters", token.len());
    let path = format!("/api/bookings/{}", code(&booking));
    let read = app.get(&path, Some(&sari)).await.expect(200);
    assert_eq!(read["ticket"], json!(token), "the same ticket each time");

    let published = app.get("/api/tickets/public-key", None).await.expect(200);
    assert_eq!(published["algorithm"], "Ed25519");
    let key_bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(published["public_key"].as_str().expect("a key"))
        .expect("base64url")
        .try_into()
        .expect("32 bytes");
    let configured: [u8; 32] = STANDARD
        .decode(TICKET_SIGNING_KEY)
        .expect("the suite's key")
        .try_into()
        .expect("32 bytes");
    assert_eq!(
        key_bytes,
        SigningKey::from_bytes(&configured)
            .verifying_key()
            .to_bytes(),
        "the key of TICKET_SIGNING_KEY"
    );
    let key = VerifyingKey::from_bytes(&key_bytes).expect("an Ed25519 key");

    let claims = verify(&key, &token).expect("the ticket verifies with the public key");
    assert_eq!(claims["c"], booking["booking_code"]);
    assert_eq!(claims["e"], json!(event_id));
    assert_eq!(claims["s"], json!(["A1", "A2"]));
    let paid_at = chrono::DateTime::parse_from_rfc3339(paid["paid_at"].as_str().expect("paid"))
        .expect("a time");
    assert_eq!(claims["t"], json!(paid_at.timestamp()));

    // One bit changed anywhere, or another key: not a ticket.
    for index in [0, token.len() / 2, token.len() - 2] {
        let mut altered = token.clone().into_bytes();
        altered[index] = if altered[index] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).expect("ASCII");
        assert!(verify(&key, &altered).is_none(), "altered at {index}");
    }
    let other = SigningKey::from_bytes(&[9; 32]).verifying_key();
    assert!(verify(&other, &token).is_none(), "another key");

    let cancelled = app
        .post(&format!("{path}/cancel"), Some(&sari), &json!({}))
        .await
        .expect(200);
    assert_eq!(cancelled["booking"]["ticket"], Value::Null, "{cancelled}");
    let read = app.get(&path, Some(&sari)).await.expect(200);
    assert_eq!(
        read["ticket"],
        Value::Null,
        "a refunded booking has no ticket"
    );
}

/// The text of the QR code in a PNG, read as a phone's camera app would.
fn read_qr(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(png_bytes);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("its pixels");
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    let (width, height) = (frame.width as usize, frame.height as usize);
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    grids[0].decode().expect("a readable QR code").1
}

pub async fn the_ticket_files_carry_the_signed_ticket(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let event = app.event_on_sale("Tiket di Ponsel", 100_000, 20).await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let booking = app.book(&sari, id(&event), &["B1", "B2"]).await;
    let path = format!("/api/bookings/{}", code(&booking));

    app.get(&format!("{path}/ticket.png"), Some(&sari))
        .await
        .expect_reason(409, "booking_not_paid");
    let paid = app.pay(&sari, &booking).await["booking"].clone();
    let token = paid["ticket"].as_str().expect("a ticket").to_string();

    for caller in [&sari, &admin] {
        let png = app.get(&format!("{path}/ticket.png"), Some(caller)).await;
        assert_eq!(png.code(), 200);
        assert_eq!(png.headers["content-type"], "image/png");
        assert_eq!(
            read_qr(&png.bytes),
            token,
            "the QR code is the signed ticket"
        );
    }
    let svg = app.get(&format!("{path}/ticket.svg"), Some(&sari)).await;
    assert_eq!(svg.code(), 200);
    assert_eq!(svg.headers["content-type"], "image/svg+xml");
    let svg = String::from_utf8(svg.bytes).expect("SVG is text");
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");

    app.get(&format!("{path}/ticket.png"), Some(&budi))
        .await
        .expect_reason(404, "not_found");
    app.post(&format!("{path}/cancel"), Some(&sari), &json!({}))
        .await
        .expect(200);
    app.get(&format!("{path}/ticket.svg"), Some(&sari))
        .await
        .expect_reason(409, "booking_not_paid");
}

pub async fn the_printable_ticket_says_what_the_door_needs(factory: AppFactory) {
    let app = factory.app().await;
    let event = app.event_on_sale("Malam Tawa Nusantara", 150_000, 20).await;
    let (_, guest) = app.customer("Cut Nyak Dhien Ratnasari").await;
    let (_, stranger) = app.customer("Budi Santoso").await;
    let booking = app.book(&guest, id(&event), &["B4", "B5"]).await;
    let path = format!("/api/bookings/{}/ticket.pdf", code(&booking));
    app.get(&path, Some(&guest))
        .await
        .expect_reason(409, "booking_not_paid");
    let paid = app.pay(&guest, &booking).await["booking"].clone();
    let token = paid["ticket"].as_str().expect("a ticket");

    let pdf_in = |language: &'static str| {
        let app = &app;
        let (path, guest) = (&path, &guest);
        async move {
            let reply = app
                .raw(
                    poem::http::Method::GET,
                    path,
                    &[
                        ("host", TEST_HOST),
                        ("authorization", &format!("Bearer {guest}")),
                        ("accept-language", language),
                    ],
                    Vec::new(),
                )
                .await;
            assert_eq!(
                reply.code(),
                200,
                "{}",
                String::from_utf8_lossy(&reply.bytes)
            );
            assert_eq!(reply.headers["content-type"], "application/pdf");
            reply
        }
    };
    let english = pdf_in("en").await;
    assert_eq!(
        english.headers["content-disposition"],
        format!("inline; filename=\"{}.pdf\"", code(&booking))
    );
    let text = pdf_text(&english.bytes);
    for expected in [
        code(&booking).as_str(),
        "Malam Tawa Nusantara",
        "B4, B5",
        "Cut Nyak Dhien Ratnasari",
        "Rp 300.000",
        "SEATS",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} is not on the page:\n{text}"
        );
    }
    assert_eq!(
        read_qr_in_pdf(&english.bytes),
        token,
        "the QR code on the page is the signed ticket"
    );
    let indonesian = pdf_text(&pdf_in("id-ID").await.bytes);
    for expected in ["KURSI", "TAMU", "B4, B5", code(&booking).as_str()] {
        assert!(
            indonesian.contains(expected),
            "{expected:?} is not on the page:\n{indonesian}"
        );
    }

    app.get(&path, Some(&stranger))
        .await
        .expect_reason(404, "not_found");
}

/// The text of a PDF's pages, as a reader extracts it (through the fonts' Unicode maps).
fn pdf_text(pdf: &[u8]) -> String {
    let text = pdf_extract::extract_text_from_mem(pdf).expect("a readable PDF");
    // Lines may be broken and spaced as the layout put them; compare on single spaces.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The QR code drawn on a PDF's only page, read back as a camera would: the page's largest
/// filled path is the code, each of its rectangles a run of dark modules; they are laid on the
/// grid of the smallest module and the picture is decoded.
fn read_qr_in_pdf(pdf: &[u8]) -> String {
    use pdf_extract::Object;
    let document = pdf_extract::Document::load_mem(pdf).expect("a PDF");
    let pages = document.get_pages();
    assert_eq!(pages.len(), 1, "one page");
    let page = *pages.values().next().expect("a page");
    let content = document
        .get_and_decode_page_content(page)
        .expect("the page's drawing");
    let number = |object: &Object| match object {
        Object::Integer(value) => *value as f32,
        Object::Real(value) => *value,
        other => panic!("not a number: {other:?}"),
    };
    let mut filled: Vec<[f32; 4]> = Vec::new();
    let mut path: Vec<[f32; 4]> = Vec::new();
    let mut corners: Vec<(f32, f32)> = Vec::new();
    let close = |corners: &mut Vec<(f32, f32)>, path: &mut Vec<[f32; 4]>| {
        if corners.len() == 4 {
            let xs = corners.iter().map(|corner| corner.0);
            let ys = corners.iter().map(|corner| corner.1);
            let (left, right) = (
                xs.clone().fold(f32::MAX, f32::min),
                xs.fold(f32::MIN, f32::max),
            );
            let (top, bottom) = (
                ys.clone().fold(f32::MAX, f32::min),
                ys.fold(f32::MIN, f32::max),
            );
            path.push([left, top, right, bottom]);
        }
        corners.clear();
    };
    for operation in &content.operations {
        let operands = &operation.operands;
        match operation.operator.as_str() {
            "m" | "l" => corners.push((number(&operands[0]), number(&operands[1]))),
            "h" => close(&mut corners, &mut path),
            "f" | "f*" => {
                close(&mut corners, &mut path);
                if path.len() > filled.len() {
                    filled = std::mem::take(&mut path);
                }
                path.clear();
            }
            "S" | "n" => {
                corners.clear();
                path.clear();
            }
            _ => {}
        }
    }
    assert!(filled.len() > 20, "a QR code's many rectangles: {filled:?}");
    let module = filled
        .iter()
        .map(|[_, top, _, bottom]| bottom - top)
        .fold(f32::MAX, f32::min);
    let left = filled.iter().map(|rect| rect[0]).fold(f32::MAX, f32::min);
    let top = filled.iter().map(|rect| rect[1]).fold(f32::MAX, f32::min);
    let right = filled.iter().map(|rect| rect[2]).fold(f32::MIN, f32::max);
    let modules = ((right - left) / module).round() as usize;
    const PIXELS: usize = 4;
    const QUIET: usize = 4;
    let side = (modules + 2 * QUIET) * PIXELS;
    let mut pixels = vec![255u8; side * side];
    for [x0, y0, x1, _] in &filled {
        let column = ((x0 - left) / module).round() as usize;
        let row = ((y0 - top) / module).round() as usize;
        let run = ((x1 - x0) / module).round() as usize;
        for y in (row + QUIET) * PIXELS..(row + QUIET + 1) * PIXELS {
            let start = y * side + (column + QUIET) * PIXELS;
            pixels[start..start + run * PIXELS].fill(0);
        }
    }
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| pixels[y * side + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    grids[0].decode().expect("a readable QR code").1
}

pub async fn a_scanned_ticket_lets_its_guest_in_once(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let event = app.event_on_sale("Pintu Masuk", 100_000, 20).await;
    let other_show = app.event_on_sale("Acara Lain", 100_000, 20).await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let door = app.door_staff("Wayan Petugas").await;
    let ticket_of = |booking: &Value| booking["ticket"].as_str().expect("a ticket").to_string();
    let scan = |ticket: &str, event_id: Option<i64>| {
        let mut body = json!({ "ticket": ticket });
        if let Some(event_id) = event_id {
            body["event_id"] = json!(event_id);
        }
        body
    };

    let booking = app.book(&sari, id(&event), &["A3", "A4"]).await;
    let ticket = ticket_of(&app.pay(&sari, &booking).await["booking"]);
    app.post("/api/checkin", Some(&sari), &scan(&ticket, None))
        .await
        .expect_reason(403, "forbidden");
    app.post(
        "/api/checkin",
        Some(&admin),
        &scan(&ticket, Some(id(&other_show))),
    )
    .await
    .expect_reason(409, "ticket_for_another_event");
    let mut altered = ticket.clone().into_bytes();
    altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ASCII");
    for forged in [altered.as_str(), "bm90.YS10aWNrZXQ", "not a ticket"] {
        let refused = app
            .post("/api/checkin", Some(&admin), &scan(forged, None))
            .await;
        assert!(
            matches!(refused.code(), 400 | 422),
            "{forged}: {} {}",
            refused.code(),
            refused.body
        );
    }
    app.post("/api/checkin", Some(&admin), &scan(&altered, None))
        .await
        .expect_reason(422, "ticket_invalid");

    // Door staff scan it: the guest is in; a second scan says when and by whom.
    let welcome = app
        .post(
            "/api/checkin",
            Some(&door.token),
            &scan(&ticket, Some(id(&event))),
        )
        .await
        .expect(200);
    assert_eq!(welcome["booking_code"], booking["booking_code"]);
    assert_eq!(welcome["seat_labels"], json!(["A3", "A4"]));
    assert_eq!(welcome["guest"], "Sari Dewi");
    let again = app
        .post("/api/checkin", Some(&admin), &scan(&ticket, None))
        .await
        .expect_reason(409, "already_checked_in");
    let message = again["message"].as_str().expect("a message");
    assert!(message.starts_with("Ticket already used at"), "{again}");
    assert_eq!(again["details"]["checked_in_at"], welcome["checked_in_at"]);
    assert_eq!(
        again["details"]["checked_in_by"],
        json!({ "id": door.id, "name": "Wayan Petugas" })
    );
    // Checking in by code follows the same rules, and says the same.
    let by_code = app
        .check_in(&door.token, &booking)
        .await
        .expect_reason(409, "already_checked_in");
    assert_eq!(by_code["details"], again["details"]);
    // Door staff work the door and nothing else.
    app.post(
        "/api/bookings",
        Some(&door.token),
        &json!({ "event_id": id(&event), "seat_ids": app.seat_ids(id(&event), &["B1"]).await }),
    )
    .await
    .expect_reason(403, "forbidden");
    app.get("/api/dashboard", Some(&door.token))
        .await
        .expect_reason(403, "forbidden");

    // Eight doors scan one ticket at once: one lets the guest in, the others are told who did.
    let booking = app.book(&budi, id(&event), &["A5"]).await;
    let ticket = ticket_of(&app.pay(&budi, &booking).await["booking"]);
    let body = scan(&ticket, Some(id(&event)));
    let scans = (0..8).map(|_| app.post("/api/checkin", Some(&door.token), &body));
    let replies = futures_util::future::join_all(scans).await;
    let statuses: Vec<u16> = replies.iter().map(|reply| reply.code()).collect();
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|status| **status == 409).count(),
        7,
        "{statuses:?}"
    );
    for refused in replies.iter().filter(|reply| reply.code() == 409) {
        assert_eq!(refused.body["error"], "already_checked_in");
        assert_eq!(refused.body["details"]["checked_in_by"]["id"], door.id);
    }

    // A ticket kept after its booking was cancelled lets nobody in.
    let booking = app.book(&budi, id(&event), &["A6"]).await;
    let ticket = ticket_of(&app.pay(&budi, &booking).await["booking"]);
    app.cancel(&budi, &booking).await.expect(200);
    app.post("/api/checkin", Some(&admin), &scan(&ticket, None))
        .await
        .expect_reason(409, "booking_not_paid");
}

/// The door list as CSV, parsed as a spreadsheet would: the header row, then each record.
async fn door_list_csv(app: &TestApp, token: &str, path: &str) -> Vec<Vec<String>> {
    let response = app
        .client()
        .get(path)
        .header("host", TEST_HOST)
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "text/csv")
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_header("content-type", "text/csv; charset=utf-8");
    let body = response.0.into_body().into_bytes().await.expect("a body");
    csv::Reader::from_reader(body.as_ref())
        .records()
        .map(|record| {
            record
                .expect("a CSV record")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect()
}

pub async fn the_door_list_shows_who_is_expected_and_who_is_in(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let event = app.event_on_sale("Daftar Pintu", 100_000, 20).await;
    let event_id = id(&event);
    let (_, sari) = app.customer("Sari Dewi").await;
    let awkward = "Dewi, \"Ayu\" Lestari 🎤";
    let (_, dewi) = app.customer(awkward).await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let sari_booking = app.book(&sari, event_id, &["A1", "A2"]).await;
    app.pay(&sari, &sari_booking).await;
    let dewi_booking = app.book(&dewi, event_id, &["A3"]).await;
    app.pay(&dewi, &dewi_booking).await;
    app.book(&budi, event_id, &["A4"]).await;
    app.check_in(&admin, &sari_booking).await.expect(200);

    let path = format!("/api/events/{event_id}/attendees");
    let list = app.get(&path, Some(&admin)).await;
    assert_eq!(list.headers["x-total-count"], "2", "paid bookings only");
    let list = list.expect(200);
    assert_eq!(list[0]["booking_code"], sari_booking["booking_code"]);
    assert_eq!(list[0]["guest"], "Sari Dewi");
    assert_eq!(list[0]["seat_labels"], json!(["A1", "A2"]));
    assert!(!list[0]["checked_in_at"].is_null());
    assert_eq!(list[1]["guest"], awkward);
    assert!(list[1]["checked_in_at"].is_null());
    let second_page = app
        .get(&format!("{path}?page=2&per_page=1"), Some(&admin))
        .await;
    assert_eq!(second_page.headers["x-total-count"], "2");
    let second_page = second_page.expect(200);
    assert_eq!(second_page.as_array().map(Vec::len), Some(1));
    assert_eq!(second_page[0]["guest"], awkward);
    app.get(&path, Some(&sari))
        .await
        .expect_reason(403, "forbidden");
    app.get("/api/events/999999/attendees", Some(&admin))
        .await
        .expect_reason(404, "not_found");

    let rows = door_list_csv(&app, &admin, &path).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][0], dewi_booking["booking_code"].as_str().unwrap());
    assert_eq!(rows[1][1], awkward, "commas, quotes and emoji survive");
    assert_eq!(rows[0][2], "A1 A2");

    let tally = app
        .get(&format!("/api/events/{event_id}/checkins"), Some(&admin))
        .await
        .expect(200);
    assert_eq!(tally["expected"], 3);
    assert_eq!(tally["checked_in"], 2);
    assert_eq!(tally["phases"][0]["expected"], 3);

    // A scanner that synced at `mark` learns only of what changed since: the refund.
    let mark = app.at(chrono::Duration::zero());
    app.advance(chrono::Duration::minutes(1));
    app.cancel(&dewi, &dewi_booking).await.expect(200);
    let changed = app
        .get(
            &format!("{path}?since={}", mark.replace('+', "%2B")),
            Some(&admin),
        )
        .await
        .expect(200);
    assert_eq!(changed.as_array().map(Vec::len), Some(1), "{changed}");
    assert_eq!(changed[0]["booking_code"], dewi_booking["booking_code"]);
    assert_eq!(changed[0]["status"], "cancelled");
    app.get(&format!("{path}?since=yesterday"), Some(&admin))
        .await
        .expect_reason(400, "validation_failed");
}
