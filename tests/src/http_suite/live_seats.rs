//! The live seat map (`GET /api/events/{id}/seats/stream`): a listener sees every change of the
//! map as it happens, in version order, and ends holding exactly the map `GET …/seats` gives;
//! across instances, after a reconnect, and without the server buffering for a stalled client.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration as Wait;

use chrono::Duration;
use futures_util::{Stream, StreamExt};
use poem::web::sse::Event;
use serde_json::{json, Value};

use crate::http_harness::{id, AppFactory, TestApp};

/// How long a listener waits for an event a change must bring; long, as a failing test's bound.
const PATIENCE: Wait = Wait::from_secs(20);

/// One client of the stream, holding the map as the events build it.
pub struct Listener {
    events: Pin<Box<dyn Stream<Item = Event> + Send>>,
    /// Seat id → `{status, is_booked}`.
    seats: BTreeMap<i64, Value>,
    version: u64,
    snapshots: usize,
}

/// `event`, `id`, and `data` as JSON, of one message.
pub struct Received {
    pub kind: String,
    pub id: String,
    pub data: Value,
}

impl Listener {
    pub async fn open(app: &TestApp, event_id: i64, last_event_id: Option<&str>) -> Listener {
        let mut request = app
            .client()
            .get(format!("/api/events/{event_id}/seats/stream"))
            .header("host", crate::http_harness::TEST_HOST);
        if let Some(last) = last_event_id {
            request = request.header("last-event-id", last);
        }
        let response = request.send().await;
        response.assert_status_is_ok();
        Listener {
            events: Box::pin(response.sse_stream()),
            seats: BTreeMap::new(),
            version: 0,
            snapshots: 0,
        }
    }

    /// The next message, applied to the map held.
    pub async fn next(&mut self) -> Received {
        loop {
            let event = tokio::time::timeout(PATIENCE, self.events.next())
                .await
                .unwrap_or_else(|_| panic!("no seat-map event within {PATIENCE:?}"))
                .expect("the stream ended");
            let Event::Message { id, event, data } = event else {
                continue;
            };
            let data: Value = serde_json::from_str(&data).expect("each event's data is JSON");
            let received = Received {
                kind: event,
                id,
                data,
            };
            self.apply(&received);
            return received;
        }
    }

    fn apply(&mut self, received: &Received) {
        let data = &received.data;
        let version = data["version"].as_u64().expect("every event has a version");
        assert_eq!(
            received.id,
            version.to_string(),
            "the SSE id is the version"
        );
        match received.kind.as_str() {
            "snapshot" => {
                self.snapshots += 1;
                self.seats = seats_of(&data["seats"]);
            }
            "seats" => {
                assert_eq!(
                    data["since"].as_u64(),
                    Some(self.version),
                    "changes continue the version held, without a gap: {data}"
                );
                assert!(version > self.version, "versions only go up: {data}");
                for seat in data["seats"].as_array().expect("changed seats") {
                    let held = self
                        .seats
                        .get_mut(&seat["id"].as_i64().expect("a seat id"))
                        .unwrap_or_else(|| panic!("a change of a seat not on the map: {seat}"));
                    *held = json!({ "status": seat["status"], "is_booked": seat["is_booked"] });
                }
            }
            other => panic!("an event of an unknown kind: {other}"),
        }
        self.version = version;
    }

    /// Reads events until the seats named hold `status`.
    pub async fn until(&mut self, app: &TestApp, event_id: i64, labels: &[&str], status: &str) {
        let ids = app.seat_ids(event_id, labels).await;
        while !ids.iter().all(|id| {
            self.seats
                .get(id)
                .is_some_and(|seat| seat["status"] == status)
        }) {
            self.next().await;
        }
    }

    /// The map held equals the one `GET …/seats` answers.
    pub async fn assert_current(&self, app: &TestApp, event_id: i64) {
        let current = app
            .get(&format!("/api/events/{event_id}/seats"), None)
            .await
            .expect(200);
        assert_eq!(
            self.seats,
            seats_of(&current),
            "the listener's map is the server's"
        );
    }
}

fn seats_of(seats: &Value) -> BTreeMap<i64, Value> {
    seats
        .as_array()
        .expect("a seat list")
        .iter()
        .map(|seat| {
            (
                seat["id"].as_i64().expect("a seat id"),
                json!({ "status": seat["status"], "is_booked": seat["is_booked"] }),
            )
        })
        .collect()
}

pub async fn show(app: &TestApp, name: &str) -> i64 {
    id(&app.create_event(&app.event_body(name)).await)
}

pub async fn a_listener_sees_each_change_in_order_and_holds_the_map(factory: AppFactory) {
    let app = factory.app().await;
    let event_id = show(&app, "Peta Kursi Hidup").await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let mut listener = Listener::open(&app, event_id, None).await;
    let first = listener.next().await;
    assert_eq!(first.kind, "snapshot");
    listener.assert_current(&app, event_id).await;

    let paid = app.book(&sari, event_id, &["A1", "A2"]).await;
    listener.until(&app, event_id, &["A1", "A2"], "held").await;
    app.pay(&sari, &paid).await;
    listener.until(&app, event_id, &["A1", "A2"], "sold").await;

    app.book(&budi, event_id, &["B1"]).await;
    listener.until(&app, event_id, &["B1"], "held").await;
    // Nobody books or reads: the hold lapses, and the listener is told.
    app.advance(Duration::minutes(16));
    listener.until(&app, event_id, &["B1"], "available").await;

    let refunded = app.cancel(&sari, &paid).await;
    assert_eq!(refunded.code(), 200, "{}", refunded.body);
    listener
        .until(&app, event_id, &["A1", "A2"], "available")
        .await;
    listener.assert_current(&app, event_id).await;
    assert_eq!(listener.snapshots, 1, "one snapshot, then changes only");
}

pub async fn a_change_of_two_seats_is_a_few_hundred_bytes(factory: AppFactory) {
    let app = factory.app().await;
    let event_id = show(&app, "Peta Kursi Ringkas").await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let mut listener = Listener::open(&app, event_id, None).await;
    listener.next().await;
    app.book(&sari, event_id, &["B3", "B4"]).await;
    let change = listener.next().await;
    assert_eq!(change.kind, "seats");
    assert_eq!(change.data["seats"].as_array().map(Vec::len), Some(2));
    let size = change.data.to_string().len();
    assert!(size < 400, "{size} bytes: {}", change.data);
    assert_eq!(change.data["seats"][0]["label"], "B3");
}

pub async fn a_reconnecting_listener_gets_what_it_missed(factory: AppFactory) {
    let app = factory.app().await;
    let event_id = show(&app, "Sambung Lagi").await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let mut watcher = Listener::open(&app, event_id, None).await;
    watcher.next().await;
    let mut listener = Listener::open(&app, event_id, None).await;
    let snapshot = listener.next().await;
    let seen = snapshot.id.clone();
    drop(listener.events);

    app.book(&sari, event_id, &["A1"]).await;
    watcher.until(&app, event_id, &["A1"], "held").await;
    app.book(&budi, event_id, &["A2", "A3"]).await;
    watcher.until(&app, event_id, &["A2", "A3"], "held").await;

    let mut resumed = Listener::open(&app, event_id, Some(&seen)).await;
    resumed.seats = seats_of(&snapshot.data["seats"]);
    resumed.version = seen.parse().expect("a version");
    while resumed.version < watcher.version {
        let missed = resumed.next().await;
        assert_eq!(missed.kind, "seats", "the missed changes, not a snapshot");
    }
    resumed.assert_current(&app, event_id).await;

    // An id the server never sent: a fresh snapshot.
    let mut stranger = Listener::open(&app, event_id, Some("not-a-version")).await;
    assert_eq!(stranger.next().await.kind, "snapshot");
    stranger.assert_current(&app, event_id).await;
}

pub async fn changes_arrive_by_signal_not_by_polling(factory: AppFactory) {
    // Checked for lapsed holds once an hour: only the store's signal can bring the change.
    let app = factory.app_with(&[("SEAT_MAP_CHECK_SECS", "3600")]).await;
    let event_id = show(&app, "Sinyal Langsung").await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let mut listener = Listener::open(&app, event_id, None).await;
    listener.next().await;
    app.book(&sari, event_id, &["A5"]).await;
    listener.until(&app, event_id, &["A5"], "held").await;
}

pub async fn a_booking_on_one_instance_reaches_a_listener_on_another(factory: AppFactory) {
    let first = factory.app_with(&[("SEAT_MAP_CHECK_SECS", "3600")]).await;
    let second = first.second_instance().await;
    let event_id = show(&first, "Dua Proses").await;
    let (_, sari) = first.customer("Sari Dewi").await;
    let mut listener = Listener::open(&second, event_id, None).await;
    listener.next().await;
    let booking = first.book(&sari, event_id, &["A6", "A7"]).await;
    listener
        .until(&second, event_id, &["A6", "A7"], "held")
        .await;
    first.pay(&sari, &booking).await;
    listener
        .until(&second, event_id, &["A6", "A7"], "sold")
        .await;
    listener.assert_current(&first, event_id).await;
}

pub async fn a_refused_booking_sends_nothing(factory: AppFactory) {
    let app = factory.app_with(&[("SEAT_MAP_CHECK_SECS", "3600")]).await;
    let event_id = show(&app, "Tanpa Jejak").await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let (_, budi) = app.customer("Budi Santoso").await;
    let mut listener = Listener::open(&app, event_id, None).await;
    listener.next().await;
    app.book(&sari, event_id, &["A8"]).await;
    let held = listener.next().await;
    // A8 is taken: Budi's booking of A8 and A9 is refused whole and writes nothing.
    let taken = app.seat_ids(event_id, &["A8", "A9"]).await;
    app.book_ids(&budi, event_id, &taken)
        .await
        .expect_reason(409, "seat_taken");
    app.book(&budi, event_id, &["A10"]).await;
    let next = listener.next().await;
    assert_eq!(next.kind, "seats");
    assert_eq!(
        next.data["since"], held.data["version"],
        "nothing came between"
    );
    let labels: Vec<&str> = next.data["seats"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|seat| seat["label"].as_str())
        .collect();
    assert_eq!(labels, ["A10"], "only A10 moved: {}", next.data);
}

pub async fn a_stalled_listener_is_resynchronised_not_buffered(factory: AppFactory) {
    let app = factory
        .app_with(&[
            ("SEAT_STREAM_BACKLOG", "2"),
            ("SEAT_MAP_CHECK_SECS", "3600"),
        ])
        .await;
    let event_id = show(&app, "Pendengar Lambat").await;
    let mut stalled = Listener::open(&app, event_id, None).await;
    stalled.next().await;
    let mut reader = Listener::open(&app, event_id, None).await;
    reader.next().await;
    // Five changes, each seen through by the reader while the stalled listener reads nothing.
    for (name, label) in [
        ("Sari Dewi", "B1"),
        ("Budi Santoso", "B2"),
        ("Dewi Lestari", "B5"),
        ("Rudi Hartono", "B6"),
        ("Ayu Kusuma", "B7"),
    ] {
        let (_, customer) = app.customer(name).await;
        app.book(&customer, event_id, &[label]).await;
        reader.until(&app, event_id, &[label], "held").await;
    }
    let caught_up = stalled.next().await;
    assert_eq!(
        caught_up.kind, "snapshot",
        "more changes than the backlog holds: a fresh snapshot"
    );
    stalled.assert_current(&app, event_id).await;
}

pub async fn streams_are_capped_and_unknown_events_not_found(factory: AppFactory) {
    let app = factory.app_with(&[("MAX_SEAT_STREAMS", "1")]).await;
    let event_id = show(&app, "Kursi Terbatas").await;
    let mut open = Listener::open(&app, event_id, None).await;
    open.next().await;
    let refused = app
        .get(&format!("/api/events/{event_id}/seats/stream"), None)
        .await;
    assert!(refused.headers.contains_key("retry-after"));
    refused.expect_reason(503, "overloaded");
    drop(open);
    let missing = app.get("/api/events/999999/seats/stream", None).await;
    missing.expect_reason(404, "not_found");
}

pub async fn a_grown_or_cancelled_show_is_told(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let event_id = show(&app, "Panggung Berubah").await;
    let (_, sari) = app.customer("Sari Dewi").await;
    app.book(&sari, event_id, &["A1"]).await;
    let mut listener = Listener::open(&app, event_id, None).await;
    listener.next().await;
    let before = listener.seats.len();

    let path = format!("/api/events/{event_id}");
    app.put(&path, Some(&admin), &json!({ "capacity": before + 5 }))
        .await
        .expect(200);
    let grown = listener.next().await;
    assert_eq!(grown.kind, "snapshot", "new seats: the whole map again");
    assert_eq!(listener.seats.len(), before + 5);
    listener.assert_current(&app, event_id).await;

    app.put(&path, Some(&admin), &json!({ "status": "cancelled" }))
        .await
        .expect(200);
    listener.until(&app, event_id, &["A1"], "available").await;
    listener.assert_current(&app, event_id).await;
}

pub async fn idle_streams_send_heartbeats_and_end_at_shutdown(factory: AppFactory) {
    let app = factory
        .app_with(&[("SEAT_STREAM_HEARTBEAT_SECS", "1")])
        .await;
    let event_id = show(&app, "Detak Jantung").await;
    let response = app
        .client()
        .get(format!("/api/events/{event_id}/seats/stream"))
        .send()
        .await;
    response.assert_status_is_ok();
    let mut body = response.0.into_body().into_bytes_stream();
    let mut received = Vec::new();
    // A comment line (`:`) on its own, after the snapshot, while nothing changes.
    while !received.windows(3).any(|window| window == b"\n:\n") {
        let chunk = tokio::time::timeout(PATIENCE, body.next())
            .await
            .unwrap_or_else(|_| panic!("no heartbeat within {PATIENCE:?}"))
            .expect("the stream ended")
            .expect("a chunk");
        received.extend_from_slice(&chunk);
    }

    app.services.seat_feed.close();
    let ended = tokio::time::timeout(PATIENCE, async {
        while let Some(chunk) = body.next().await {
            chunk.expect("a chunk");
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends when the server shuts down");
    app.get(&format!("/api/events/{event_id}/seats/stream"), None)
        .await
        .expect_reason(503, "overloaded");
}
