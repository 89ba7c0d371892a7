//! `GET /api/events/{id}/seats/stream`: the live seat map as Server-Sent Events.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use poem::{Body, IntoResponse, Response};
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object, OpenApi};

use domain::event::EventId;

use super::error::error_responses;
use super::events::SeatResponse;
use super::fields::Text;
use super::rules::SeatStatusName;
use super::seat_feed::{Message, SeatFeed};
use super::{Services, Tag};

/// The `data` of a `snapshot` event: the whole seat map at a version.
#[derive(Object)]
#[oai(example)]
struct SeatMapSnapshot {
    /// The map's version; also the event's `id`.
    version: u64,
    /// Every seat, as `GET /api/events/{id}/seats` gives them.
    seats: Vec<SeatResponse>,
}

impl poem_openapi::types::Example for SeatMapSnapshot {
    fn example() -> Self {
        SeatMapSnapshot {
            version: 41,
            seats: vec![SeatResponse::example()],
        }
    }
}

/// The `data` of a `seats` event: the seats whose status changed since version `since`, the
/// version the client holds (each event continues the one before).
#[derive(Object)]
#[oai(example)]
struct SeatMapChanges {
    /// The map's version after these changes; also the event's `id`.
    version: u64,
    /// The version these changes apply to.
    since: u64,
    seats: Vec<ChangedSeat>,
}

/// A seat whose status changed.
#[derive(Object)]
#[oai(example)]
struct ChangedSeat {
    id: i64,
    label: String,
    status: Text<SeatStatusName>,
    /// True unless available.
    is_booked: bool,
}

impl poem_openapi::types::Example for ChangedSeat {
    fn example() -> Self {
        ChangedSeat {
            id: 225,
            label: "C5".into(),
            status: "held".into(),
            is_booked: true,
        }
    }
}

impl poem_openapi::types::Example for SeatMapChanges {
    fn example() -> Self {
        SeatMapChanges {
            version: 42,
            since: 41,
            seats: vec![ChangedSeat::example()],
        }
    }
}

/// A stream of seat-map events.
pub struct SeatEvents {
    messages: Pin<Box<dyn Stream<Item = Message> + Send>>,
    heartbeat: Duration,
}

impl Payload for SeatEvents {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    /// Each event's `data` is one of these, by its `event` name.
    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("object");
        schema.one_of = vec![
            <SeatMapSnapshot as Type>::schema_ref(),
            <SeatMapChanges as Type>::schema_ref(),
        ];
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn register(registry: &mut Registry) {
        <SeatMapSnapshot as Type>::register(registry);
        <SeatMapChanges as Type>::register(registry);
    }
}

impl IntoResponse for SeatEvents {
    /// The events as they were rendered, shared with every other stream that sends them, and a
    /// comment line whenever nothing was sent for a heartbeat.
    fn into_response(self) -> Response {
        let mut messages = self.messages.map(Message::into_frame);
        let heartbeat = self.heartbeat;
        let mut idle = Box::pin(tokio::time::sleep(heartbeat));
        let frames = futures_util::stream::poll_fn(move |cx| {
            if let Poll::Ready(frame) = messages.poll_next_unpin(cx) {
                idle.as_mut().reset(tokio::time::Instant::now() + heartbeat);
                return Poll::Ready(frame.map(Ok::<_, std::io::Error>));
            }
            ready!(idle.as_mut().poll(cx));
            idle.as_mut().reset(tokio::time::Instant::now() + heartbeat);
            Poll::Ready(Some(Ok(Bytes::from_static(b":\n\n"))))
        });
        Response::builder()
            .content_type("text/event-stream")
            .header("cache-control", "no-cache")
            // Proxies that buffer answers (nginx) would hold the events back.
            .header("x-accel-buffering", "no")
            .body(Body::from_bytes_stream(frames))
    }
}

#[derive(ApiResponse)]
enum SeatStreamResponse {
    /// `text/event-stream`: a `snapshot` event (the whole map), then a `seats` event for each
    /// change, each with the map's version as its `id`; a comment every 15 s while nothing
    /// changes.
    #[oai(status = 200)]
    Ok(SeatEvents),
}

error_responses!(SeatStreamErrors {
    /// The id is not a number.
    BadRequest = 400 [ValidationFailed],
    /// No such event.
    NotFound = 404 [NotFound],
});

pub struct SeatStreamApi {
    feed: Arc<SeatFeed>,
}

impl SeatStreamApi {
    pub fn new(services: &Services) -> Self {
        SeatStreamApi {
            feed: services.seat_feed.clone(),
        }
    }
}

#[OpenApi(prefix_path = "/api/events", tag = "Tag::Events")]
impl SeatStreamApi {
    /// The live seat map.
    ///
    /// Anyone may listen. First a `snapshot` event (the seat map with its version), then a
    /// `seats` event each time seats change status (held, sold, freed by an expiry, a
    /// cancellation or a refund), carrying only those seats, with the new version as its `id`;
    /// applying them in order keeps exactly the map `GET /api/events/{id}/seats` gives. Changes
    /// made through any WarTawa process over the same database arrive. A client that reconnects
    /// with `Last-Event-ID` (browsers' `EventSource` does) gets the changes it missed while they
    /// are still known, otherwise a fresh snapshot; a new `snapshot` may also come at any time
    /// (seats added or removed, or a client too slow to keep up), and replaces the map.
    #[oai(
        path = "/:id/seats/stream",
        method = "get",
        operation_id = "streamSeats"
    )]
    async fn stream(
        &self,
        id: Path<i64>,
        /// The `id` of the last event received, sent by a reconnecting `EventSource`.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> Result<SeatStreamResponse, SeatStreamErrors> {
        // An id this server did not send is treated as none: the client gets a snapshot.
        let last_seen = last_event_id
            .0
            .and_then(|seen| seen.trim().parse::<u64>().ok());
        let messages = self.feed.open(EventId(id.0), last_seen).await?;
        Ok(SeatStreamResponse::Ok(SeatEvents {
            messages: Box::pin(messages),
            heartbeat: self.feed.heartbeat(),
        }))
    }
}
