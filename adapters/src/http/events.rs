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
use domain::validation::ValidationErrors;
use domain::Timestamp;

use super::error::{error_responses, BadRequest};
use super::pictures::{names_own_picture, PictureLinks, PictureResponse};
use super::seat_map_cache::{SeatMapCache, SerializedJson};
use super::shared_checks::SharedChecks;
use super::text::Text;
use super::time::{parse_time, VenueTime};
use super::{page_or_everything, patch_field, BearerToken, Presentation, Services, Tag};

/// A price phase as the organiser sends it.
#[derive(Object, Clone)]
struct PhaseRequest {
    /// An existing phase's id when updating it; leave out to add a phase.
    #[oai(nullable)]
    id: Option<i64>,
    /// 3 to 50 characters, e.g. "Early Bird".
    name: Text,
    /// Rupiah per ticket, 0 or more.
    price: i64,
    /// Tickets this phase may sell, more than 0.
    quota: i64,
    /// When sales open: RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` at the venue's offset.
    start_date: Text,
    /// When sales close; after `start_date` and not after the event's date.
    end_date: Text,
}

#[derive(Object)]
#[oai(example)]
struct CreateEventRequest {
    /// 3 to 255 characters.
    name: Text,
    #[oai(nullable)]
    description: Option<Text>,
    /// When the show starts; in the future. RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` at the venue's offset.
    date: Text,
    /// 1 to 255 characters.
    venue: Text,
    /// An http(s) link, kept as it is (no quotes, angle brackets, backslashes, spaces or control
    /// characters; at most 2048 bytes); or a picture uploaded as a
    /// `data:image/png|jpeg|gif|webp;base64,…` URL of up to 2 MB whose bytes are that format,
    /// stored once and served at `GET /api/events/{id}/image`.
    #[oai(nullable)]
    image_url: Option<Text>,
    /// 1 to 100 seats to a row; 10 when left out.
    #[oai(nullable)]
    seats_per_row: Option<i64>,
    /// 1 to 100 000 seats; the sum of the phases' quotas when left out.
    #[oai(nullable)]
    capacity: Option<i64>,
    /// 1 to 10 price phases, in the order they are offered.
    phases: Vec<PhaseRequest>,
}

impl poem_openapi::types::Example for CreateEventRequest {
    /// A show that can be created, and is on sale, whenever the example is tried: its dates
    /// are counted from the day the document was made (a show in 90 days, its phases on sale
    /// since yesterday), written as the venue's wall time.
    fn example() -> Self {
        let today = chrono::Utc::now().date_naive();
        let day =
            |days: i64, time: &str| format!("{} {time}", today + chrono::Duration::days(days));
        let phase = |name: &str, price: i64, quota: i64, start: String, end: String| PhaseRequest {
            id: None,
            name: name.into(),
            price,
            quota,
            start_date: start.as_str().into(),
            end_date: end.as_str().into(),
        };
        CreateEventRequest {
            name: "Stand-up Night Jakarta".into(),
            description: Some("An evening of stand-up comedy.".into()),
            date: day(90, "19:30:00").as_str().into(),
            venue: "Teater Kecil, Jakarta".into(),
            image_url: Some("https://example.com/poster.jpg".into()),
            seats_per_row: Some(10),
            capacity: Some(100),
            phases: vec![
                phase(
                    "Early Bird",
                    100_000,
                    30,
                    day(-1, "00:00:00"),
                    day(30, "00:00:00"),
                ),
                phase(
                    "Normal",
                    150_000,
                    70,
                    day(-1, "00:00:00"),
                    day(90, "18:00:00"),
                ),
            ],
        }
    }
}

/// Any of the fields; those left out stay as they are. `phases`, when sent, is the new list.
#[derive(Object)]
struct UpdateEventRequest {
    #[oai(nullable)]
    name: Option<Text>,
    /// Left out: kept; `null`: cleared.
    #[oai(nullable)]
    description: MaybeUndefined<Text>,
    #[oai(nullable)]
    date: Option<Text>,
    #[oai(nullable)]
    venue: Option<Text>,
    /// As on creation. Left out, or the `image_url` the event shows: kept; `null`: cleared (an
    /// uploaded picture is deleted); a new link or upload replaces the picture.
    #[oai(nullable)]
    image_url: MaybeUndefined<Text>,
    /// `"published"` or `"cancelled"`; cancelling cancels and refunds the open bookings.
    #[oai(nullable)]
    status: Option<Text>,
    /// May grow (seats are appended) but not drop below the seats held or sold.
    #[oai(nullable)]
    capacity: Option<i64>,
    /// Entries with an `id` update that phase, entries without add one, phases left out are
    /// removed (unless they have sales).
    #[oai(nullable)]
    phases: Option<Vec<PhaseRequest>>,
}

/// A price phase with its sales.
#[derive(Object)]
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

/// A show.
#[derive(Object)]
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
    /// `published`, `ended` once the date has passed, or `cancelled`.
    status: String,
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
            status: view.status(now).as_str().to_string(),
            phases: event.phases.iter().map(phase).collect(),
            current_phase: view.current_phase(now).map(phase),
        }
    }
}

/// One seat of the map. Rendered by `SeatMapCache::render`, which must give exactly this shape.
#[derive(Object)]
#[cfg_attr(test, derive(serde::Serialize))]
struct SeatResponse {
    id: i64,
    /// Row letters and number, e.g. `AB12`.
    label: String,
    row: String,
    number: i64,
    /// `available`, `held` (in an unpaid booking) or `sold`.
    status: String,
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
            status: view.status.as_str().to_string(),
            is_booked: view.status != domain::seat::SeatStatus::Available,
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
    BadRequest = 400,
});

error_responses!(GetEventErrors {
    /// The id is not a number.
    BadRequest = 400,
    /// No such event.
    NotFound = 404,
});

error_responses!(GetImageErrors {
    /// The id is not a number.
    BadRequest = 400,
    /// No such event, or it has no uploaded picture.
    NotFound = 404,
});

error_responses!(CreateEventErrors {
    /// Invalid input; `details` lists each problem.
    BadRequest = 400,
    /// Missing, invalid or expired token.
    Unauthorized = 401,
    /// Only an admin may create events.
    Forbidden = 403,
    /// The body, or the picture in it, is too large.
    PayloadTooLarge = 413,
});

error_responses!(UpdateEventErrors {
    /// Invalid input; `details` lists each problem.
    BadRequest = 400,
    /// Missing, invalid or expired token.
    Unauthorized = 401,
    /// Only an admin may change events.
    Forbidden = 403,
    /// No such event.
    NotFound = 404,
    /// The change contradicts the sales so far (capacity, phases, quota, re-publishing).
    Conflict = 409,
    /// The body, or the picture in it, is too large.
    PayloadTooLarge = 413,
});

error_responses!(DeleteEventErrors {
    /// The id is not a number.
    BadRequest = 400,
    /// Missing, invalid or expired token.
    Unauthorized = 401,
    /// Only an admin may delete events.
    Forbidden = 403,
    /// No such event.
    NotFound = 404,
    /// The event has bookings: cancel it instead.
    Conflict = 409,
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
                id: phase.id.map(PhaseId),
                name: phase.name.clone().into(),
                price: phase.price,
                quota: phase.quota,
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
    /// List events by date. `q` matches name or venue, ignoring case; `upcoming=true` keeps
    /// events still to come. Without `page` and `per_page` every matching event is listed;
    /// with either, one page (`per_page` 20 by default, at most 100). The total is always in
    /// `X-Total-Count`.
    #[oai(path = "/", method = "get", operation_id = "listEvents")]
    async fn list(
        &self,
        request: &Request,
        q: Query<Option<String>>,
        upcoming: Query<Option<bool>>,
        page: Query<Option<u32>>,
        per_page: Query<Option<u32>>,
    ) -> Result<EventListResponse, ListEventErrors> {
        let page = page_or_everything(page.0, per_page.0)?;
        let query =
            q.0.map(|text| text.trim().to_string())
                .filter(|text| !text.is_empty());
        if let Some(text) = &query {
            if text.chars().count() > 255 {
                return Err(
                    BadRequest::invalid_field("q", "must be at most 255 characters").into(),
                );
            }
            domain::validation::without_control_characters(text, false)
                .map_err(|problem| BadRequest::invalid_field("q", &problem))?;
        }
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

    /// Create an event with its price phases and seats (admin).
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
            seats_per_row: body.seats_per_row,
            capacity: body.capacity,
            phases,
        };
        let view = self.services.events.create(&actor, input).await?;
        Ok(CreatedEventResponse::Created(Json(EventResponse::new(
            &view,
            &Presentation::of(&self.services, &self.links, request),
        ))))
    }

    /// An event with its phases and figures.
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

    /// Change an event (admin). Setting `status` to `cancelled` cancels and refunds its bookings.
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
            capacity: body.capacity,
            phases,
        };
        let view = self.services.events.update(&actor, event, patch).await?;
        Ok(Json(EventResponse::new(
            &view,
            &Presentation::of(&self.services, &self.links, request),
        )))
    }

    /// Delete an event that has no bookings (admin); one with bookings must be cancelled instead.
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
