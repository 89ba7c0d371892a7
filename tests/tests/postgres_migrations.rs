//! Migrations fix the data of databases that already exist: a database made by an earlier WarTawa
//! is brought up to date at start-up, and what it held is served as the current code serves it.

use std::sync::Arc;

use adapters::postgres::MIGRATOR;
use adapters::system::RandomCodeGenerator;
use application::ports::BookingRepository;
use bootstrap::wiring::Stores;
use domain::booking::BookingCode;
use domain::image::ImageDigest;
use domain::money::Money;
use poem::http::Method;
use serde_json::Value;

use tests::http_harness::{TestApp, TestStores, TEST_HOST};
use tests::pictures::{data_url, tiny_png, TINY_PNG_BASE64};
use tests::postgres_db::TestDatabase;

/// The migration that moved uploaded pictures out of `events.image_url`.
const EVENT_IMAGES: i64 = 20261204100000;

/// The migration that gave each payment its show.
const PAYMENTS_NAME_THEIR_SHOW: i64 = 20261205600000;

/// Brings the database of `pool` to the migration just before `version`.
async fn migrate_to_before(pool: &sqlx::PgPool, version: i64) {
    let previous = MIGRATOR
        .iter()
        .map(|migration| migration.version)
        .filter(|earlier| *earlier < version)
        .max()
        .expect("migrations before it");
    MIGRATOR
        .run_to(previous, pool)
        .await
        .expect("the schema as it was before");
}

/// An event as an earlier WarTawa stored it, with `image_url` as it was then; returns its id.
async fn legacy_event(pool: &sqlx::PgPool, name: &str, image_url: Option<&str>) -> i64 {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO events (name, description, date, venue, image_url, capacity, seats_per_row, status, created_at) \
         VALUES ($1, NULL, now() + interval '30 days', 'Teater Kecil', $2, 10, 10, 'published', now()) RETURNING id",
    )
    .bind(name)
    .bind(image_url)
    .fetch_one(pool)
    .await
    .expect("an event of the earlier schema");
    sqlx::query(
        "INSERT INTO phases (event_id, position, name, price, quota, start_date, end_date) \
         VALUES ($1, 0, 'Regular', 100000, 10, now() - interval '1 day', now() + interval '29 days')",
    )
    .bind(id)
    .execute(pool)
    .await
    .expect("its phase");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pictures_kept_in_events_before_the_upgrade_are_served_after_it() {
    let Some(database) = TestDatabase::create_unmigrated().await else {
        return;
    };
    migrate_to_before(&database.pool, EVENT_IMAGES).await;
    let pool = database.pool.clone();
    let png_url = data_url("image/png", &tiny_png());
    let uploaded = legacy_event(&pool, "Poster Lama", Some(&png_url)).await;
    let svg = legacy_event(
        &pool,
        "Poster SVG",
        Some(&data_url("image/svg+xml", b"<svg onload=\"alert(1)\"/>")),
    )
    .await;
    let broken = legacy_event(
        &pool,
        "Poster Rusak",
        Some("data:image/png;base64,iVBORw0K=A=="),
    )
    .await;
    let unpadded = format!(
        "data:image/png;base64,{}",
        TINY_PNG_BASE64.trim_end_matches('=')
    );
    let unpadded = legacy_event(&pool, "Poster Tanpa Padding", Some(&unpadded)).await;
    let linked = legacy_event(
        &pool,
        "Poster Tautan",
        Some("https://example.com/poster.jpg"),
    )
    .await;
    let bare = legacy_event(&pool, "Tanpa Poster", None).await;

    // Start-up brings the schema up to date.
    adapters::postgres::migrate(&pool)
        .await
        .expect("the pictures' migration applies to existing data");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE image_url LIKE 'data:%'")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(left, 0, "no picture is left in an event's row");

    let app = TestApp::start(TestStores::new(Stores::postgres(pool), database), &[]).await;
    let event = app.event(uploaded).await;
    let url = event["image_url"].as_str().expect("an address").to_string();
    let path = url
        .strip_prefix(&format!("http://{TEST_HOST}"))
        .expect("an absolute address");
    assert!(
        path.starts_with(&format!("/api/events/{uploaded}/image?v=")),
        "{url}"
    );
    let listed = app.get("/api/events", None).await.expect(200);
    let in_list = listed
        .as_array()
        .expect("a list")
        .iter()
        .find(|event| event["id"] == uploaded)
        .expect("listed");
    assert_eq!(in_list["image_url"], event["image_url"]);

    let served = app.raw(Method::GET, path, &[], Vec::new()).await;
    assert_eq!(served.code(), 200);
    assert_eq!(
        served.bytes,
        tiny_png(),
        "the picture is served as it was uploaded"
    );
    assert_eq!(served.header("content-type"), Some("image/png"));
    let digest = ImageDigest::of(&tiny_png()).to_string();
    assert_eq!(
        served.header("etag"),
        Some(format!("\"{digest}\"").as_str()),
        "the digest computed in SQL is the one the server computes"
    );
    assert!(path.ends_with(&digest[..16]));

    let served = app
        .raw(
            Method::GET,
            &format!("/api/events/{unpadded}/image"),
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(
        served.bytes,
        tiny_png(),
        "base64 without its padding, as some encoders write it, is read too"
    );

    for dropped in [svg, broken, bare] {
        assert_eq!(app.event(dropped).await["image_url"], Value::Null);
        app.get(&format!("/api/events/{dropped}/image"), None)
            .await
            .expect_error(404);
    }
    assert_eq!(
        app.event(linked).await["image_url"],
        "https://example.com/poster.jpg",
        "a link stays a link"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payments_made_before_the_upgrade_are_shown_with_their_bookings_after_it() {
    let Some(database) = TestDatabase::create_unmigrated().await else {
        return;
    };
    migrate_to_before(&database.pool, PAYMENTS_NAME_THEIR_SHOW).await;
    let pool = database.pool.clone();
    // Two shows, so that a payment given the wrong one would be missed.
    legacy_event(&pool, "Lawak Sebelah", None).await;
    let event = legacy_event(&pool, "Lawak Lama", None).await;
    let code = "BKG-PAYD2";
    let booking: i64 = sqlx::query_scalar(
        "WITH buyer AS ( \
             INSERT INTO users (name, email, password_hash, role, created_at) \
             VALUES ('Pembeli Lama', 'lama@example.com', 'x', 'customer', now()) RETURNING id \
         ), seat AS ( \
             INSERT INTO seats (event_id, position, row_index, number) VALUES ($1, 0, 0, 1) RETURNING id \
         ), booked AS ( \
             INSERT INTO bookings (code, event_id, phase_id, ticket_type, customer_id, quantity, \
                                   unit_price, total_price, status, created_at, expires_at, paid_at) \
             SELECT $2, $1, (SELECT id FROM phases WHERE event_id = $1), 'Regular', buyer.id, 1, \
                    100000, 100000, 'confirmed', now(), now() + interval '15 minutes', now() \
             FROM buyer RETURNING id \
         ), seated AS ( \
             INSERT INTO booking_seats (booking_id, seat_id, event_id, label) \
             SELECT booked.id, seat.id, $1, 'A1' FROM booked, seat \
         ), paid AS ( \
             INSERT INTO payments (booking_id, amount, method, change, status, created_at) \
             SELECT id, 150000, 'Tunai', 50000, 'success', now() FROM booked \
         ) SELECT id FROM booked",
    )
    .bind(event)
    .bind(code)
    .fetch_one(&pool)
    .await
    .expect("a paid booking of the earlier schema");

    adapters::postgres::migrate(&pool)
        .await
        .expect("the payments' migration applies to existing data");
    let named: i64 = sqlx::query_scalar("SELECT event_id FROM payments WHERE booking_id = $1")
        .bind(booking)
        .fetch_one(&pool)
        .await
        .expect("the payment");
    assert_eq!(named, event, "the payment names its booking's show");

    let store = database.store(Arc::new(RandomCodeGenerator));
    let found = store
        .find_by_code(
            &BookingCode::parse(code).expect("a code"),
            chrono::Utc::now(),
        )
        .await
        .expect("read")
        .expect("the booking");
    let payment = found.payment.expect("shown with its payment");
    assert_eq!(payment.amount, Money::rupiah(150000));
    assert_eq!(payment.change, Money::rupiah(50000));
    assert_eq!(found.booking.seats.len(), 1, "and its seat");
}
