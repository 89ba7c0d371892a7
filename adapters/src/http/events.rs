//! `/api/events`: the shows, their price phases and seat maps.

use std::sync::Arc;

use bytes::Bytes;
use chrono::FixedOffset;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use application::events::GetEventError;
use application::ports::EventFilter;
use application::views::EventView;
#[cfg(test)]
use application::views::SeatView;
use domain::event::{EventId, EventInput, EventPatch, Phase, PhaseId, PhaseInput};
use domain::validation::{text_of_length, TextLength, ValidationErrors};
use domain::Timestamp;

use super::error::{error_responses, BadRequest};
use super::fields::{List, Text, Whole};
use super::pictures::{names_own_picture, PictureLinks, PictureResponse};
use super::rules::{
    Capacity, Description, EventName, EventStatusChange, Id, OrNull, PhaseList, PhaseName, Price,
    Quota, SearchText, SeatStatusName, SeatsPerRow, ShownEventStatus, TimeText, VenueName,
    MAX_SEARCH_CHARS,
};
use super::seat_map_cache::{SeatMapCache, SerializedJson};
use super::shared_checks::SharedChecks;
use super::time::{parse_time, VenueTime};
use super::{
    page_or_everything, patch_field, BearerToken, PageParam, PerPageParam, Presentation, Services,
    Tag,
};

/// A price phase as the organiser sends it.
#[derive(Object, Clone)]
#[oai(example)]
struct PhaseRequest {
    /// An existing phase's id when updating it; leave out to add a phase.
    #[oai(nullable, skip_serializing_if_is_none)]
    id: Option<Whole<Id>>,
    /// 3 to 50 characters, e.g. "Early Bird".
    name: Text<PhaseName>,
    /// Rupiah per ticket.
    price: Whole<Price>,
    /// Tickets this phase may sell.
    quota: Whole<Quota>,
    /// When sales open: RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` at the venue's offset.
    start_date: Text<TimeText>,
    /// When sales close; after `start_date` and not after the event's date.
    end_date: Text<TimeText>,
}

impl PhaseRequest {
    /// A new phase of the examples.
    fn example_of(name: &str, price: i64, quota: i64, start: String, end: String) -> Self {
        PhaseRequest {
            id: None,
            name: name.into(),
            price: price.into(),
            quota: quota.into(),
            start_date: start.as_str().into(),
            end_date: end.as_str().into(),
        }
    }
}

impl poem_openapi::types::Example for PhaseRequest {
    /// The Early Bird phase of `CreateEventRequest`'s example, on sale whenever it is tried.
    fn example() -> Self {
        PhaseRequest::example_of(
            "Early Bird",
            100_000,
            30,
            example_day(-1, "00:00:00"),
            example_day(30, "00:00:00"),
        )
    }
}

/// A day of the request examples, counted from the day the document was made, at `time` on the
/// venue's wall clock: `YYYY-MM-DD HH:MM:SS`.
fn example_day(days: i64, time: &str) -> String {
    let today = chrono::Utc::now().date_naive();
    format!("{} {time}", today + chrono::Duration::days(days))
}

/// A moment of the response examples, written as RFC 3339 at the venue's offset
/// (`2027-01-03T19:00:00+07:00`) and shown as written.
pub(super) fn example_time(rfc3339: &str) -> VenueTime {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap_or_default();
    VenueTime::new(at.with_timezone(&chrono::Utc), *at.offset())
}

#[derive(Object)]
#[oai(example)]
struct CreateEventRequest {
    /// 3 to 255 characters (at least 3 without the spaces around).
    name: Text<EventName>,
    #[oai(nullable)]
    description: Option<Text<Description>>,
    /// When the show starts; in the future. RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` at the venue's offset.
    date: Text<TimeText>,
    /// 1 to 255 characters (at least 1 without the spaces around).
    venue: Text<VenueName>,
    /// An http(s) link, kept as it is (no quotes, angle brackets, backslashes, spaces or control
    /// characters; at most 2048 bytes); or a picture uploaded as a
    /// `data:image/png|jpeg|gif|webp;base64,…` URL of up to 2 MB whose bytes are that format,
    /// stored once and served at `GET /api/events/{id}/image`.
    #[oai(nullable)]
    image_url: Option<Text>,
    /// Seats to a row; 10 when left out.
    #[oai(nullable)]
    seats_per_row: Option<Whole<SeatsPerRow>>,
    /// Seats; the sum of the phases' quotas when left out.
    #[oai(nullable)]
    capacity: Option<Whole<Capacity>>,
    /// The price phases, in the order they are offered.
    phases: List<PhaseRequest, PhaseList>,
}

impl poem_openapi::types::Example for CreateEventRequest {
    /// A show that can be created, and is on sale, whenever the example is tried: its dates
    /// are counted from the day the document was made (a show in 90 days, its phases on sale
    /// since yesterday), written as the venue's wall time.
    fn example() -> Self {
        CreateEventRequest {
            name: "Stand-up Night Jakarta".into(),
            description: Some("An evening of stand-up comedy.".into()),
            date: example_day(90, "19:30:00").as_str().into(),
            venue: "Teater Kecil, Jakarta".into(),
            image_url: Some("https://example.com/poster.jpg".into()),
            seats_per_row: Some(10.into()),
            capacity: Some(100.into()),
            phases: vec![
                PhaseRequest::example(),
                PhaseRequest::example_of(
                    "Normal",
                    150_000,
                    70,
                    example_day(-1, "00:00:00"),
                    example_day(90, "18:00:00"),
                ),
            ]
            .into(),
        }
    }
}

/// Any of the fields; those left out stay as they are. `phases`, when sent, is the new list.
#[derive(Object)]
#[oai(example)]
struct UpdateEventRequest {
    #[oai(nullable, skip_serializing_if_is_none)]
    name: Option<Text<EventName>>,
    /// Left out: kept; `null`: cleared.
    #[oai(nullable)]
    description: MaybeUndefined<Text<Description>>,
    #[oai(nullable, skip_serializing_if_is_none)]
    date: Option<Text<TimeText>>,
    #[oai(nullable, skip_serializing_if_is_none)]
    venue: Option<Text<VenueName>>,
    /// As on creation. Left out, or the `image_url` the event shows: kept; `null`: cleared (an
    /// uploaded picture is deleted); a new link or upload replaces the picture.
    #[oai(nullable)]
    image_url: MaybeUndefined<Text>,
    /// Cancelling cancels and refunds the open bookings.
    #[oai(nullable, skip_serializing_if_is_none)]
    status: Option<Text<OrNull<EventStatusChange>>>,
    /// May grow (seats are appended) but not drop below the seats held or sold.
    #[oai(nullable, skip_serializing_if_is_none)]
    capacity: Option<Whole<Capacity>>,
    /// Entries with an `id` update that phase, entries without add one, phases left out are
    /// removed (unless they have sales).
    #[oai(nullable, skip_serializing_if_is_none)]
    phases: Option<List<PhaseRequest, PhaseList>>,
}

impl poem_openapi::types::Example for UpdateEventRequest {
    /// A change any show accepts, whatever its state and sales: its description and venue.
    fn example() -> Self {
        UpdateEventRequest {
            name: None,
            description: MaybeUndefined::Value(EXAMPLE_DESCRIPTION.into()),
            date: None,
            venue: Some(EXAMPLE_VENUE.into()),
            image_url: MaybeUndefined::Undefined,
            status: None,
            capacity: None,
            phases: None,
        }
    }
}

/// The venue of the response examples' show.
const EXAMPLE_VENUE: &str = "Teater Salihara, Jakarta";
/// The description of the response examples' show, as `UpdateEventRequest`'s example sets it.
const EXAMPLE_DESCRIPTION: &str =
    "Stand-up comedy in Indonesian by Jakarta's sharpest comics. Doors open at 18:30.";

/// A price phase with its sales.
#[derive(Object)]
#[oai(example)]
pub struct PhaseResponse {
    id: i64,
    name: String,
    price: i64,
    quota: i64,
    /// Tickets of pending and confirmed bookings.
    sold: i64,
    remaining: i64,
    start_date: VenueTime,
    end_date: VenueTime,
    /// On sale now: inside its window and not sold out.
    is_active: bool,
}

impl poem_openapi::types::Example for PhaseResponse {
    /// The phase on sale: Early Bird closed on 1 December.
    fn example() -> Self {
        PhaseResponse {
            id: 8,
            name: "Normal".into(),
            price: 150_000,
            quota: 70,
            sold: 42,
            remaining: 28,
            start_date: example_time("2026-11-01T00:00:00+07:00"),
            end_date: example_time("2027-01-03T18:00:00+07:00"),
            is_active: true,
        }
    }
}

/// A show.
#[derive(Object)]
#[oai(example)]
pub struct EventResponse {
    id: i64,
    name: String,
    #[oai(nullable)]
    description: Option<String>,
    date: VenueTime,
    venue: String,
    /// An http(s) link as the organiser gave it, or the absolute address of the uploaded picture
    /// (`…/api/events/{id}/image?v=<version>`); never the picture itself.
    #[oai(nullable)]
    image_url: Option<String>,
    /// Seats in the hall.
    capacity: i64,
    /// Seats in the hall (the same as `capacity`, kept for the web app).
    total_capacity: i64,
    seats_per_row: i64,
    /// Seats neither held nor sold.
    available_seats: i64,
    /// Tickets of confirmed bookings.
    tickets_sold: i64,
    /// `ended` once the date has passed.
    status: Text<ShownEventStatus>,
    phases: Vec<PhaseResponse>,
    /// The phase a booking made now would get, or null.
    #[oai(nullable)]
    current_phase: Option<PhaseResponse>,
}

impl EventResponse {
    /// The event as `shown` in an answer.
    pub fn new(view: &EventView, shown: &Presentation) -> Self {
        let (now, links) = (shown.now, &shown.links);
        let event = &view.event;
        let phase = |phase: &Phase| PhaseResponse {
            id: phase.id.0,
            name: phase.name.clone(),
            price: phase.price.amount(),
            quota: i64::from(phase.quota),
            sold: i64::from(view.sales.sold(phase.id)),
            remaining: i64::from(view.sales.remaining(phase)),
            start_date: shown.time(phase.start_date),
            end_date: shown.time(phase.end_date),
            is_active: view.phase_is_active(phase, now),
        };
        EventResponse {
            id: event.id.0,
            name: event.name.clone(),
            description: event.description.clone(),
            date: shown.time(event.date),
            venue: event.venue.clone(),
            image_url: event
                .image
                .as_ref()
                .map(|image| links.image_url(event.id, image)),
            capacity: i64::from(event.capacity),
            total_capacity: i64::from(event.capacity),
            seats_per_row: i64::from(event.seats_per_row),
            available_seats: i64::from(view.available_seats()),
            tickets_sold: i64::from(view.tickets_sold),
            status: view.status(now).as_str().into(),
            phases: event.phases.iter().map(phase).collect(),
            current_phase: view.current_phase(now).map(phase),
        }
    }
}

impl poem_openapi::types::Example for EventResponse {
    /// On 20 December 2026: Early Bird sold out, 42 Normal tickets taken (4 of them still held
    /// unpaid), so 68 tickets sold and 28 seats free.
    fn example() -> Self {
        EventResponse {
            id: 4,
            name: "Tawa Awal Tahun: Stand-up Comedy Special".into(),
            description: Some(EXAMPLE_DESCRIPTION.into()),
            date: example_time("2027-01-03T19:00:00+07:00"),
            venue: EXAMPLE_VENUE.into(),
            image_url: Some("https://example.com/poster.jpg".into()),
            capacity: 100,
            total_capacity: 100,
            seats_per_row: 10,
            available_seats: 28,
            tickets_sold: 68,
            status: "published".into(),
            phases: vec![
                PhaseResponse {
                    id: 7,
                    name: "Early Bird".into(),
                    price: 100_000,
                    quota: 30,
                    sold: 30,
                    remaining: 0,
                    start_date: example_time("2026-11-01T00:00:00+07:00"),
                    end_date: example_time("2026-12-01T00:00:00+07:00"),
                    is_active: false,
                },
                PhaseResponse::example(),
            ],
            current_phase: Some(PhaseResponse::example()),
        }
    }
}

/// One seat of the map. Rendered by `SeatMapCache::render`, which must give exactly this shape.
#[derive(Object)]
#[oai(example)]
#[cfg_attr(test, derive(serde::Serialize))]
pub(super) struct SeatResponse {
    id: i64,
    /// Row letters and number, e.g. `AB12`.
    label: String,
    row: String,
    number: i64,
    /// `held`: in an unpaid booking.
    status: Text<SeatStatusName>,
    /// True unless available.
    is_booked: bool,
}

#[cfg(test)]
impl From<&SeatView> for SeatResponse {
    fn from(view: &SeatView) -> Self {
        SeatResponse {
            id: view.seat.id.0,
            label: view.seat.label(),
            row: view.seat.position.row(),
            number: i64::from(view.seat.position.number),
            status: view.status.as_str().into(),
            is_booked: view.status != domain::seat::SeatStatus::Available,
        }
    }
}

impl poem_openapi::types::Example for SeatResponse {
    /// The first seat of the example booking.
    fn example() -> Self {
        SeatResponse {
            id: 224,
            label: "C4".into(),
            row: "C".into(),
            number: 4,
            status: "sold".into(),
            is_booked: true,
        }
    }
}

#[derive(ApiResponse)]
enum SeatMapResponse {
    /// The seats in row and number order.
    #[oai(status = 200)]
    Ok(SerializedJson<Vec<SeatResponse>>),
}

#[derive(ApiResponse)]
enum EventListResponse {
    /// One page of events by date; the total is in `X-Total-Count`.
    #[oai(status = 200)]
    Ok(
        Json<Vec<EventResponse>>,
        #[oai(header = "X-Total-Count")] u64,
    ),
}

#[derive(ApiResponse)]
enum CreatedEventResponse {
    /// The event, its phases and its seats were created.
    #[oai(status = 201)]
    Created(Json<EventResponse>),
}

#[derive(ApiResponse)]
enum DeletedResponse {
    /// The event was deleted.
    #[oai(status = 204)]
    Deleted,
}

error_responses!(ListEventErrors {
    /// Bad filter or paging parameters.
    BadRequest = 400 [ValidationFailed],
});

error_responses!(GetEventErrors {
    /// The id is not a number.
    BadRequest = 400 [ValidationFailed],
    /// No such event.
    NotFound = 404 [NotFound],
});

error_responses!(GetImageErrors {
    /// The id is not a number.
    BadRequest = 400 [ValidationFailed],
    /// No such event, or it has no uploaded picture.
    NotFound = 404 [NotFound],
});

error_responses!(CreateEventErrors {
    /// Invalid input; `details` lists each problem.
    BadRequest = 400 [ValidationFailed, MalformedJson, MalformedRequest],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin may create events.
    Forbidden = 403 [Forbidden],
    /// The body, or the picture in it, is too large.
    PayloadTooLarge = 413 [PayloadTooLarge],
});

error_responses!(UpdateEventErrors {
    /// Invalid input; `details` lists each problem.
    BadRequest = 400 [ValidationFailed, MalformedJson, MalformedRequest],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin may change events.
    Forbidden = 403 [Forbidden],
    /// No such event.
    NotFound = 404 [NotFound],
    /// The change contradicts the sales so far (capacity, phases, quota, re-publishing).
    Conflict = 409 [CapacityInUse, PhaseHasSales, EventCancelled],
    /// The body, or the picture in it, is too large.
    PayloadTooLarge = 413 [PayloadTooLarge],
});

error_responses!(DeleteEventErrors {
    /// The id is not a number.
    BadRequest = 400 [ValidationFailed],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin may delete events.
    Forbidden = 403 [Forbidden],
    /// No such event.
    NotFound = 404 [NotFound],
    /// The event has bookings: cancel it instead.
    Conflict = 409 [EventHasBookings],
});

/// Reads a time field, recording a problem under its name.
fn time_field(
    errors: &mut ValidationErrors,
    field: &str,
    text: &str,
    offset: FixedOffset,
) -> Option<Timestamp> {
    errors.check(field, parse_time(text, offset))
}

fn phase_inputs(
    errors: &mut ValidationErrors,
    phases: &[PhaseRequest],
    offset: FixedOffset,
) -> Vec<PhaseInput> {
    phases
        .iter()
        .enumerate()
        .filter_map(|(index, phase)| {
            let start = time_field(
                errors,
                &format!("phases[{index}].start_date"),
                &phase.start_date,
                offset,
            );
            let end = time_field(
                errors,
                &format!("phases[{index}].end_date"),
                &phase.end_date,
                offset,
            );
            Some(PhaseInput {
                id: phase.id.map(|id| PhaseId(id.get())),
                name: phase.name.clone().into(),
                price: phase.price.get(),
                quota: phase.quota.get(),
                start_date: start?,
                end_date: end?,
            })
        })
        .collect()
}

/// The event's seat map as it is now: the copy kept when its version is still current, otherwise
/// read from the store and kept.
async fn current_seat_map(
    services: &Services,
    seat_maps: &SeatMapCache,
    event: EventId,
) -> Result<Bytes, GetEventError> {
    let version = services.events.seat_map_version(event).await?;
    if let Some(body) = seat_maps.get(event, version) {
        return Ok(body);
    }
    let map = services.events.seats(event).await?;
    let body = seat_maps.render(event, &map.seats);
    seat_maps.put(event, map.version, body.clone());
    Ok(body)
}

pub struct EventsApi {
    services: Arc<Services>,
    links: PictureLinks,
    seat_maps: Arc<SeatMapCache>,
    /// Seat-map reads: one version check (and, when the map moved, one load) for all the
    /// readers of an event asking at once.
    seat_map_reads: Arc<SharedChecks<EventId, Result<Bytes, GetEventError>>>,
}

impl EventsApi {
    pub fn new(services: Arc<Services>, links: PictureLinks) -> Self {
        EventsApi {
            services,
            links,
            seat_maps: Arc::default(),
            seat_map_reads: Arc::default(),
        }
    }
}

#[OpenApi(prefix_path = "/api/events", tag = "Tag::Events")]
impl EventsApi {
    /// List events by date.
    ///
    /// Anyone may call it. `q` matches name or venue, ignoring case; `upcoming=true` keeps events
    /// still to come. Without `page` and `per_page` every matching event is listed; with either,
    /// one page (`per_page` 20 by default, at most 100). The total is always in `X-Total-Count`.
    #[oai(path = "/", method = "get", operation_id = "listEvents")]
    async fn list(
        &self,
        request: &Request,
        q: Query<Option<Text<SearchText>>>,
        upcoming: Query<Option<bool>>,
        page: PageParam,
        per_page: PerPageParam,
    ) -> Result<EventListResponse, ListEventErrors> {
        let page = page_or_everything(page, per_page)?;
        let query = match q.0 {
            None => None,
            Some(text) => {
                let searched = TextLength::new(0, MAX_SEARCH_CHARS);
                let text = text_of_length(&text, searched)
                    .map_err(|problem| BadRequest::invalid_field("q", &problem))?;
                (!text.is_empty()).then_some(text)
            }
        };
        let filter = EventFilter {
            query,
            upcoming_only: upcoming.0.unwrap_or(false),
            ticket_holder: None,
        };
        let events = self.services.events.list(filter, page).await?;
        let shown = Presentation::of(&self.services, &self.links, request);
        Ok(EventListResponse::Ok(
            Json(
                events
                    .items
                    .iter()
                    .map(|view| EventResponse::new(view, &shown))
                    .collect(),
            ),
            events.total,
        ))
    }

    /// Create an event with its price phases and seats.
    ///
    /// Admins only. The seats are made from `capacity` and `seats_per_row` (rows A, B, …); each
    /// phase closes after it opens and no later than the show's date. A picture is a link or a
    /// data URL of PNG, JPEG, GIF or WebP (413 when too large).
    #[oai(path = "/", method = "post", operation_id = "createEvent")]
    async fn create(
        &self,
        request: &Request,
        auth: BearerToken,
        body: Json<CreateEventRequest>,
    ) -> Result<CreatedEventResponse, CreateEventErrors> {
        let actor = self.services.actor(&auth).await?;
        let offset = self.services.venue_offset;
        let body = body.0;
        let mut errors = ValidationErrors::new();
        let date = time_field(&mut errors, "date", &body.date, offset);
        let phases = phase_inputs(&mut errors, &body.phases, offset);
        let Some(date) = date.filter(|_| errors.is_empty()) else {
            return Err(BadRequest::invalid(&errors).into());
        };
        let input = EventInput {
            name: body.name.into(),
            description: body.description.map(String::from),
            date,
            venue: body.venue.into(),
            image_url: body.image_url.map(String::from),
            seats_per_row: body.seats_per_row.map(|seats| seats.get()),
            capacity: body.capacity.map(|seats| seats.get()),
            phases,
        };
        let view = self.services.events.create(&actor, input).await?;
        Ok(CreatedEventResponse::Created(Json(EventResponse::new(
            &view,
            &Presentation::of(&self.services, &self.links, request),
        ))))
    }

    /// An event with its phases and figures.
    ///
    /// Anyone may call it. `current_phase` is the phase on sale now, if any.
    #[oai(path = "/:id", method = "get", operation_id = "getEvent")]
    async fn get(
        &self,
        request: &Request,
        id: Path<i64>,
    ) -> Result<Json<EventResponse>, GetEventErrors> {
        let view = self.services.events.get(EventId(id.0)).await?;
        Ok(Json(EventResponse::new(
            &view,
            &Presentation::of(&self.services, &self.links, request),
        )))
    }

    /// Change an event.
    ///
    /// Admins only. Fields left out stay as they are. Setting `status` to `cancelled` cancels
    /// and refunds its bookings, for good. A change that contradicts the sales so far (capacity
    /// below the seats in use, a phase with sales removed) is a 409 naming it.
    #[oai(path = "/:id", method = "put", operation_id = "updateEvent")]
    async fn update(
        &self,
        request: &Request,
        auth: BearerToken,
        id: Path<i64>,
        body: Json<UpdateEventRequest>,
    ) -> Result<Json<EventResponse>, UpdateEventErrors> {
        let actor = self.services.actor(&auth).await?;
        let offset = self.services.venue_offset;
        let body = body.0;
        let mut errors = ValidationErrors::new();
        let date = body
            .date
            .as_deref()
            .map(|text| time_field(&mut errors, "date", text, offset));
        let phases = body
            .phases
            .as_deref()
            .map(|phases| phase_inputs(&mut errors, phases, offset));
        if !errors.is_empty() {
            return Err(BadRequest::invalid(&errors).into());
        }
        let event = EventId(id.0);
        let image_url = match patch_field(body.image_url) {
            // The form sent back the address it read: the picture stays.
            Some(Some(url)) if names_own_picture(&url, event) => None,
            other => other,
        };
        let patch = EventPatch {
            name: body.name.map(String::from),
            description: patch_field(body.description),
            date: date.flatten(),
            venue: body.venue.map(String::from),
            image_url,
            status: body.status.map(String::from),
            capacity: body.capacity.map(|seats| seats.get()),
            phases,
        };
        let view = self.services.events.update(&actor, event, patch).await?;
        Ok(Json(EventResponse::new(
            &view,
            &Presentation::of(&self.services, &self.links, request),
        )))
    }

    /// Delete an event that has no bookings.
    ///
    /// Admins only. An event with bookings is kept for the books: cancel it instead (409
    /// `event_has_bookings`).
    #[oai(path = "/:id", method = "delete", operation_id = "deleteEvent")]
    async fn delete(
        &self,
        auth: BearerToken,
        id: Path<i64>,
    ) -> Result<DeletedResponse, DeleteEventErrors> {
        let actor = self.services.actor(&auth).await?;
        self.services.events.delete(&actor, EventId(id.0)).await?;
        Ok(DeletedResponse::Deleted)
    }

    /// An event's uploaded picture.
    ///
    /// For anyone, as it was uploaded (PNG, JPEG, GIF or WebP). Its address, as `image_url`
    /// gives it, carries the picture's version (`?v=`): the answer for the current version may be
    /// kept for a year, any other briefly. `If-None-Match` with the `ETag` of the current picture
    /// answers 304.
    #[oai(path = "/:id/image", method = "get", operation_id = "getEventImage")]
    async fn image(
        &self,
        id: Path<i64>,
        /// The picture's version, as `image_url` gives it.
        v: Query<Option<String>>,
        /// ETags of copies the client holds.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<PictureResponse, GetImageErrors> {
        let file = self.services.events.image(EventId(id.0)).await?;
        Ok(PictureResponse::of(
            file,
            v.0.as_deref(),
            if_none_match.0.as_deref(),
        ))
    }

    /// The seat map, in row and number order.
    ///
    /// Anyone may call it. Each seat is `available`, `held` (by a pending booking) or `sold`.
    #[oai(path = "/:id/seats", method = "get", operation_id = "listSeats")]
    async fn seats(&self, id: Path<i64>) -> Result<SeatMapResponse, GetEventErrors> {
        let event = EventId(id.0);
        let (services, seat_maps) = (self.services.clone(), self.seat_maps.clone());
        let body = self
            .seat_map_reads
            .check(event, move || {
                let (services, seat_maps) = (services.clone(), seat_maps.clone());
                async move { current_seat_map(&services, &seat_maps, event).await }
            })
            .await?;
        Ok(SeatMapResponse::Ok(SerializedJson::new(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::seat::{Seat, SeatId, SeatPosition, SeatStatus};

    #[test]
    fn the_rendered_seat_map_has_the_documented_shape() {
        let seat = |id: i64, row_index: u32, number: u32, status: SeatStatus| SeatView {
            seat: Seat {
                id: SeatId(id),
                position: SeatPosition { row_index, number },
            },
            status,
        };
        let seats = vec![
            seat(1, 0, 1, SeatStatus::Available),
            seat(2, 0, 2, SeatStatus::Held),
            seat(3, 27, 10, SeatStatus::Sold),
        ];
        let cache = SeatMapCache::default();
        let rendered: serde_json::Value =
            serde_json::from_slice(&cache.render(EventId(1), &seats)).unwrap();
        let documented =
            serde_json::to_value(seats.iter().map(SeatResponse::from).collect::<Vec<_>>()).unwrap();
        assert_eq!(rendered, documented);
        assert_eq!(rendered[2]["label"], "AB10");

        let changed = vec![
            seats[0].clone(),
            seat(2, 0, 2, SeatStatus::Sold),
            seats[2].clone(),
        ];
        let rendered: serde_json::Value =
            serde_json::from_slice(&cache.render(EventId(1), &changed)).unwrap();
        assert_eq!(
            rendered[1]["status"], "sold",
            "a kept layout takes the new statuses"
        );
        let grown = vec![
            seats[0].clone(),
            seats[1].clone(),
            seats[2].clone(),
            seat(4, 28, 1, SeatStatus::Available),
        ];
        let rendered: serde_json::Value =
            serde_json::from_slice(&cache.render(EventId(1), &grown)).unwrap();
        assert_eq!(
            rendered.as_array().map(Vec::len),
            Some(4),
            "new seats make a new layout"
        );
    }
}
