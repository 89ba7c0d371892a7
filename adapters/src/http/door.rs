//! The door: `POST /api/checkin` scans a ticket's QR code; the door list and who is in.

use std::sync::Arc;

use chrono::FixedOffset;
use poem::{IntoResponse, Response};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object, OpenApi};

use application::views::BookingDetails;
use domain::event::EventId;

use super::bookings::CheckInResponse;
use super::error::{error_responses, BadRequest};
use super::fields::{Text, Whole};
use super::refusals::AtVenue;
use super::rules::{BookingStatusName, Id, TicketToken, TimeText, MAX_TICKET_CHARS};
use super::time::{parse_time, VenueTime};
use super::{page_or_everything, BearerToken, PageParam, PerPageParam, Services, Tag};

/// A scanned ticket, and the show at the door.
#[derive(Object)]
#[oai(example)]
struct ScanRequest {
    /// The text of the ticket's QR code: the booking's `ticket`.
    ticket: Text<TicketToken>,
    /// The show this door admits to; a ticket for another show is refused. Left out: any show.
    #[oai(nullable, skip_serializing_if_is_none)]
    event_id: Option<Whole<Id>>,
}

impl poem_openapi::types::Example for ScanRequest {
    fn example() -> Self {
        ScanRequest {
            ticket: super::tickets::example_ticket().into(),
            event_id: Some(4.into()),
        }
    }
}

error_responses!(ScanErrors {
    /// The body is not `{"ticket": …}`.
    BadRequest = 400 [ValidationFailed, MalformedJson, MalformedRequest],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only admins and door staff (`checker`) check guests in.
    Forbidden = 403 [Forbidden],
    /// The ticket's booking does not exist.
    NotFound = 404 [NotFound],
    /// Already used (`"Ticket already used at <time>"`, `details {checked_in_at,
    /// checked_in_by}`), not paid
    /// (cancelled or refunded since the ticket was issued), or for another show than `event_id`.
    Conflict = 409 [AlreadyCheckedIn, BookingNotPaid, TicketForAnotherEvent],
    /// The request body is larger than the server accepts.
    PayloadTooLarge = 413 [PayloadTooLarge],
    /// Not a WarTawa ticket, or one altered since it was signed.
    UnprocessableEntity = 422 [TicketInvalid],
});

pub struct DoorApi {
    services: Arc<Services>,
}

impl DoorApi {
    pub fn new(services: Arc<Services>) -> Self {
        DoorApi { services }
    }
}

#[OpenApi(prefix_path = "/api", tag = "Tag::Bookings")]
impl DoorApi {
    /// Check a guest in by the ticket's QR code.
    ///
    /// Admins and door staff (`checker`). The ticket's signature is checked, then, if the door names its
    /// show (`event_id`), that the ticket is for it; then the rules of a check-in by code: the
    /// booking must still be paid, and of simultaneous scans of one ticket exactly one succeeds
    /// (a second is a 409 `already_checked_in` saying when, in the venue's time, and by whom).
    #[oai(path = "/checkin", method = "post", operation_id = "checkInTicket")]
    async fn scan(
        &self,
        auth: BearerToken,
        body: Json<ScanRequest>,
    ) -> Result<Json<CheckInResponse>, ScanErrors> {
        let actor = self.services.actor(&auth).await?;
        if body.ticket.chars().count() > MAX_TICKET_CHARS {
            return Err(BadRequest::invalid_field(
                "ticket",
                &format!("must be at most {MAX_TICKET_CHARS} characters"),
            )
            .into());
        }
        let door_event = body.event_id.as_ref().map(|id| EventId(id.get()));
        let details = self
            .services
            .door
            .scan(&actor, &body.ticket, door_event)
            .await
            .map_err(|refusal| AtVenue::new(refusal, self.services.venue_offset))?;
        crate::metrics::count_for_event(
            crate::metrics::BOOKINGS_CHECKED_IN,
            details.booking.event_id.0,
            1,
        );
        Ok(Json(CheckInResponse::new(&details, &self.services)))
    }
}

/// One booking of the door list.
#[derive(Object)]
#[oai(example)]
struct AttendeeResponse {
    booking_code: String,
    /// The customer's name.
    guest: String,
    seat_labels: Vec<String>,
    /// The price phase's name when the booking was made.
    phase: String,
    /// `confirmed`; with `since`, also `cancelled` (cancelled or refunded after it was paid).
    status: Text<BookingStatusName>,
    paid_at: VenueTime,
    #[oai(nullable)]
    checked_in_at: Option<VenueTime>,
    #[oai(nullable)]
    cancelled_at: Option<VenueTime>,
}

impl AttendeeResponse {
    fn new(details: &BookingDetails, venue_offset: FixedOffset) -> Self {
        let booking = &details.booking;
        let at = |time| VenueTime::new(time, venue_offset);
        AttendeeResponse {
            booking_code: booking.code.to_string(),
            guest: details.customer_name.clone(),
            seat_labels: booking.seat_labels(),
            phase: booking.ticket_type.clone(),
            status: booking.status.as_str().into(),
            paid_at: at(booking.paid_at.unwrap_or(booking.created_at)),
            checked_in_at: booking.checked_in_at.map(at),
            cancelled_at: booking.cancelled_at.map(at),
        }
    }

    /// The CSV record of the booking, in [`CSV_HEADER`]'s order.
    fn record(&self) -> [String; 8] {
        let time =
            |at: &Option<VenueTime>| at.as_ref().map(VenueTime::to_rfc3339).unwrap_or_default();
        [
            self.booking_code.clone(),
            self.guest.clone(),
            self.seat_labels.join(" "),
            self.phase.clone(),
            self.status.to_string(),
            self.paid_at.to_rfc3339(),
            time(&self.checked_in_at),
            time(&self.cancelled_at),
        ]
    }
}

const CSV_HEADER: [&str; 8] = [
    "booking_code",
    "guest",
    "seats",
    "phase",
    "status",
    "paid_at",
    "checked_in_at",
    "cancelled_at",
];

impl poem_openapi::types::Example for AttendeeResponse {
    fn example() -> Self {
        let at = |text: &str| {
            VenueTime::new(
                chrono::DateTime::parse_from_rfc3339(text)
                    .expect("an example time")
                    .to_utc(),
                FixedOffset::east_opt(7 * 3600).expect("+07:00"),
            )
        };
        AttendeeResponse {
            booking_code: "BKG-7K2QX".into(),
            guest: "Sari Dewi".into(),
            seat_labels: vec!["C4".into(), "C5".into()],
            phase: "Normal".into(),
            status: "confirmed".into(),
            paid_at: at("2026-12-20T14:11:00+07:00"),
            checked_in_at: Some(at("2027-01-03T18:42:00+07:00")),
            cancelled_at: None,
        }
    }
}

/// The door list: JSON, or CSV when the client asks for it (`Accept: text/csv`).
enum DoorListAnswer {
    Json(Vec<AttendeeResponse>, u64),
    Csv(Vec<AttendeeResponse>, u64),
}

impl IntoResponse for DoorListAnswer {
    fn into_response(self) -> Response {
        let (mut response, total) = match self {
            DoorListAnswer::Json(attendees, total) => (
                poem_openapi::payload::Json(attendees).into_response(),
                total,
            ),
            DoorListAnswer::Csv(attendees, total) => {
                let mut writer = csv::Writer::from_writer(Vec::new());
                let written = std::iter::once(CSV_HEADER.map(String::from))
                    .chain(attendees.iter().map(AttendeeResponse::record))
                    .try_for_each(|record| writer.write_record(&record));
                let body = written
                    .ok()
                    .and_then(|()| writer.into_inner().ok())
                    .unwrap_or_default();
                let response = Response::builder()
                    .content_type("text/csv; charset=utf-8")
                    .header(
                        "content-disposition",
                        "attachment; filename=\"door-list.csv\"",
                    )
                    .body(body);
                (response, total)
            }
        };
        response.headers_mut().insert("x-total-count", total.into());
        response
    }
}

impl ApiResponse for DoorListAnswer {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description:
                    "The door list, oldest first (with `since`, oldest change first); the \
                              total is in `X-Total-Count`. CSV (`Accept: text/csv`) has a header \
                              row: booking_code, guest, seats (space-separated), phase, status, \
                              paid_at, checked_in_at, cancelled_at.",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: <Vec<AttendeeResponse> as Type>::schema_ref(),
                    },
                    MetaMediaType {
                        content_type: "text/csv; charset=utf-8",
                        schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
                    },
                ],
                headers: vec![MetaHeader {
                    name: "X-Total-Count".into(),
                    description: Some("Bookings on the list, over every page.".into()),
                    required: true,
                    deprecated: false,
                    schema: <u64 as Type>::schema_ref(),
                }],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        <AttendeeResponse as Type>::register(registry);
    }
}

/// One price phase's check-ins.
#[derive(Object)]
#[oai(example)]
struct PhaseTallyResponse {
    phase_id: i64,
    phase: String,
    expected: u32,
    checked_in: u32,
}

/// Who is in, in all and by price phase.
#[derive(Object)]
#[oai(example)]
struct CheckInTallyResponse {
    expected: u32,
    checked_in: u32,
    phases: Vec<PhaseTallyResponse>,
}

impl poem_openapi::types::Example for PhaseTallyResponse {
    fn example() -> Self {
        PhaseTallyResponse {
            phase_id: 8,
            phase: "Normal".into(),
            expected: 38,
            checked_in: 20,
        }
    }
}

impl poem_openapi::types::Example for CheckInTallyResponse {
    fn example() -> Self {
        CheckInTallyResponse {
            expected: 68,
            checked_in: 41,
            phases: vec![
                PhaseTallyResponse {
                    phase_id: 7,
                    phase: "Early Bird".into(),
                    expected: 30,
                    checked_in: 21,
                },
                PhaseTallyResponse::example(),
            ],
        }
    }
}

error_responses!(DoorListErrors {
    /// Bad paging parameters or `since`.
    BadRequest = 400 [ValidationFailed],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only admins and door staff (`checker`) read the door list.
    Forbidden = 403 [Forbidden],
    /// No such event.
    NotFound = 404 [NotFound],
});

pub struct DoorListApi {
    services: Arc<Services>,
}

impl DoorListApi {
    pub fn new(services: Arc<Services>) -> Self {
        DoorListApi { services }
    }
}

#[OpenApi(prefix_path = "/api/events", tag = "Tag::Bookings")]
impl DoorListApi {
    /// The door list of a show.
    ///
    /// Admins and door staff (`checker`). Every paid booking, oldest first: its code, guest, seats, phase, and when it
    /// was paid and checked in. With `since`, only what changed after it (paid, checked in,
    /// cancelled or refunded), oldest change first, cancelled bookings included: what a scanner
    /// keeping a copy offline needs to stay in step. Without `page` and `per_page`, the whole
    /// list. `Accept: text/csv` gives it as CSV, for a spreadsheet.
    #[oai(
        path = "/:id/attendees",
        method = "get",
        operation_id = "listAttendees"
    )]
    async fn attendees(
        &self,
        auth: BearerToken,
        id: Path<i64>,
        /// Only what changed after this time: RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` at the
        /// venue's offset.
        since: Query<Option<Text<TimeText>>>,
        page: PageParam,
        per_page: PerPageParam,
        #[oai(name = "Accept")] accept: Header<Option<String>>,
    ) -> Result<DoorListAnswer, DoorListErrors> {
        let actor = self.services.actor(&auth).await?;
        let page = page_or_everything(page, per_page)?;
        let venue_offset = self.services.venue_offset;
        let since = match &since.0 {
            Some(text) => Some(
                parse_time(text, venue_offset)
                    .map_err(|problem| BadRequest::invalid_field("since", &problem))?,
            ),
            None => None,
        };
        let list = self
            .services
            .door
            .door_list(&actor, EventId(id.0), since, page)
            .await?;
        let attendees = list
            .items
            .iter()
            .map(|details| AttendeeResponse::new(details, venue_offset))
            .collect();
        let wants_csv = accept
            .0
            .as_deref()
            .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/csv"));
        Ok(if wants_csv {
            DoorListAnswer::Csv(attendees, list.total)
        } else {
            DoorListAnswer::Json(attendees, list.total)
        })
    }

    /// Who is in: tickets checked in against tickets expected.
    ///
    /// Admins and door staff (`checker`). In all, and by price phase, over the show's paid bookings.
    #[oai(path = "/:id/checkins", method = "get", operation_id = "checkInTally")]
    async fn checkins(
        &self,
        auth: BearerToken,
        id: Path<i64>,
    ) -> Result<Json<CheckInTallyResponse>, DoorListErrors> {
        let actor = self.services.actor(&auth).await?;
        let tally = self
            .services
            .door
            .check_in_tally(&actor, EventId(id.0))
            .await?;
        Ok(Json(CheckInTallyResponse {
            expected: tally.total.expected,
            checked_in: tally.total.checked_in,
            phases: tally
                .phases
                .into_iter()
                .map(|(phase_id, phase, count)| PhaseTallyResponse {
                    phase_id: phase_id.0,
                    phase,
                    expected: count.expected,
                    checked_in: count.checked_in,
                })
                .collect(),
        }))
    }
}
