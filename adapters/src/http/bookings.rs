//! `/api/bookings`: booking seats, paying, cancelling and checking in at the door.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};

use application::auth::Actor;
use application::bookings::{BookingError, Checkout, PayError};
use application::door::CheckInError;
use application::views::BookingDetails;
use domain::ticket::TicketClaims;

use super::error::{error_responses, Internal, RetryAfter, TooManyRequests};
use super::events::example_time;
use super::fields::{List, Text, Whole};
use super::idempotency::{self, IdempotencyKeyHeader, Idempotent};
use super::language::{Language, Localized};
use super::limits::Throttles;
use super::pictures::PictureLinks;
use super::refusals::{AtVenue, NoTicket};
use super::rules::{
    Amount, BookingStatusName, CheckInStatus, Id, PaymentMethod, PaymentStatusName, SeatCount,
    SeatList, CHECKED_IN, NOT_CHECKED_IN,
};
use super::ticket_page::ticket_page;
use super::time::VenueTime;
use super::{BearerToken, Presentation, Services, Tag};
use crate::metrics;

#[derive(Object)]
#[oai(example)]
struct CreateBookingRequest {
    event_id: Whole<Id>,
    /// Distinct seats of the event, taken together or not at all: at most
    /// `MAX_SEATS_PER_BOOKING` of them (10 unless the operator set another number, 100 at most).
    seat_ids: List<Whole<Id>, SeatList>,
    /// A phase that must be on sale now; without it the booking gets the current phase.
    #[oai(nullable)]
    phase_id: Option<Whole<Id>>,
    /// When sent, must equal the number of seats.
    #[oai(nullable)]
    quantity: Option<Whole<SeatCount>>,
}

impl poem_openapi::types::Example for CreateBookingRequest {
    fn example() -> Self {
        CreateBookingRequest {
            event_id: 1.into(),
            seat_ids: vec![1.into(), 2.into()].into(),
            phase_id: Some(1.into()),
            quantity: Some(2.into()),
        }
    }
}

#[derive(Object)]
#[oai(example)]
struct PayRequest {
    /// Rupiah handed over; at least the booking's `total_price`.
    amount: Whole<Amount>,
    /// How it was paid, e.g. "BCA Virtual Account".
    method: Text<PaymentMethod>,
}

impl poem_openapi::types::Example for PayRequest {
    fn example() -> Self {
        PayRequest {
            amount: 300_000.into(),
            method: "BCA Virtual Account".into(),
        }
    }
}

#[derive(Object)]
#[oai(example)]
struct BookedSeatResponse {
    id: i64,
    label: String,
}

impl poem_openapi::types::Example for BookedSeatResponse {
    fn example() -> Self {
        BookedSeatResponse {
            id: 224,
            label: "C4".into(),
        }
    }
}

/// The event a booking is for.
#[derive(Object)]
#[oai(example)]
struct BookingEventResponse {
    id: i64,
    name: String,
    date: VenueTime,
    venue: String,
    /// As the event's `image_url`: a link, or the absolute address of the uploaded picture.
    #[oai(nullable)]
    image_url: Option<String>,
}

impl poem_openapi::types::Example for BookingEventResponse {
    fn example() -> Self {
        BookingEventResponse {
            id: 4,
            name: "Tawa Awal Tahun: Stand-up Comedy Special".into(),
            date: example_time("2027-01-03T19:00:00+07:00"),
            venue: "Teater Salihara, Jakarta".into(),
            image_url: Some("https://example.com/poster.jpg".into()),
        }
    }
}

/// A booking.
#[derive(Object)]
#[oai(example)]
pub struct BookingResponse {
    id: i64,
    /// `BKG-` and five characters; looked up ignoring case.
    booking_code: String,
    event_id: i64,
    event_name: String,
    event: BookingEventResponse,
    phase_id: i64,
    /// The price phase's name when booked.
    ticket_type: String,
    customer_id: i64,
    quantity: i64,
    unit_price: i64,
    total_price: i64,
    status: Text<BookingStatusName>,
    seats: Vec<BookedSeatResponse>,
    seat_labels: Vec<String>,
    created_at: VenueTime,
    /// When an unpaid hold lapses.
    expires_at: VenueTime,
    #[oai(nullable)]
    paid_at: Option<VenueTime>,
    #[oai(nullable)]
    cancelled_at: Option<VenueTime>,
    #[oai(nullable)]
    checked_in_at: Option<VenueTime>,
    check_in_status: Text<CheckInStatus>,
    /// The signed ticket of a paid booking (`null` otherwise): what its QR code carries. A
    /// scanner can check it with `GET /api/tickets/public-key` alone; only the booking itself
    /// says whether it was cancelled since.
    #[oai(nullable)]
    ticket: Option<String>,
}

impl BookingResponse {
    /// The booking as `shown` in an answer.
    pub fn new(details: &BookingDetails, shown: &Presentation) -> Self {
        let (now, links) = (shown.now, &shown.links);
        let booking = &details.booking;
        BookingResponse {
            id: booking.id.0,
            booking_code: booking.code.to_string(),
            event_id: booking.event_id.0,
            event_name: details.event.name.clone(),
            event: BookingEventResponse {
                id: details.event.id.0,
                name: details.event.name.clone(),
                date: shown.time(details.event.date),
                venue: details.event.venue.clone(),
                image_url: details
                    .event
                    .image
                    .as_ref()
                    .map(|image| links.image_url(details.event.id, image)),
            },
            phase_id: booking.phase_id.0,
            ticket_type: booking.ticket_type.clone(),
            customer_id: booking.customer_id.0,
            quantity: i64::from(booking.quantity()),
            unit_price: booking.unit_price.amount(),
            total_price: booking.total_price.amount(),
            status: booking.status_at(now).as_str().into(),
            seats: booking
                .seats
                .iter()
                .map(|seat| BookedSeatResponse {
                    id: seat.id.0,
                    label: seat.label.clone(),
                })
                .collect(),
            seat_labels: booking.seat_labels(),
            created_at: shown.time(booking.created_at),
            expires_at: shown.time(booking.expires_at),
            paid_at: booking.paid_at.map(|at| shown.time(at)),
            cancelled_at: booking.cancelled_at.map(|at| shown.time(at)),
            checked_in_at: booking.checked_in_at.map(|at| shown.time(at)),
            check_in_status: if booking.checked_in_at.is_some() {
                CHECKED_IN
            } else {
                NOT_CHECKED_IN
            }
            .into(),
            ticket: TicketClaims::of(booking).map(|claims| shown.tickets.sign(&claims)),
        }
    }
}

impl poem_openapi::types::Example for BookingResponse {
    /// Two Normal tickets, booked at 14:05 and paid at 14:11, before the 15-minute hold ran out.
    fn example() -> Self {
        BookingResponse {
            id: 58,
            booking_code: "BKG-7K2QX".into(),
            event_id: 4,
            event_name: "Tawa Awal Tahun: Stand-up Comedy Special".into(),
            event: BookingEventResponse::example(),
            phase_id: 8,
            ticket_type: "Normal".into(),
            customer_id: 7,
            quantity: 2,
            unit_price: 150_000,
            total_price: 300_000,
            status: "confirmed".into(),
            seats: vec![
                BookedSeatResponse::example(),
                BookedSeatResponse {
                    id: 225,
                    label: "C5".into(),
                },
            ],
            seat_labels: vec!["C4".into(), "C5".into()],
            created_at: example_time("2026-12-20T14:05:00+07:00"),
            expires_at: example_time("2026-12-20T14:20:00+07:00"),
            paid_at: Some(example_time("2026-12-20T14:11:00+07:00")),
            cancelled_at: None,
            checked_in_at: None,
            check_in_status: NOT_CHECKED_IN.into(),
            ticket: Some(super::tickets::example_ticket()),
        }
    }
}

#[derive(Object)]
#[oai(example)]
struct PaymentResponse {
    id: i64,
    booking_id: i64,
    booking_code: String,
    amount: i64,
    method: String,
    /// `refunded` after a cancellation.
    status: Text<PaymentStatusName>,
    /// `amount` minus the total price.
    change: i64,
    created_at: VenueTime,
    booking: BookingResponse,
}

impl poem_openapi::types::Example for PaymentResponse {
    /// The exact total, paid by virtual account: no change.
    fn example() -> Self {
        PaymentResponse {
            id: 41,
            booking_id: 58,
            booking_code: "BKG-7K2QX".into(),
            amount: 300_000,
            method: "BCA Virtual Account".into(),
            status: "success".into(),
            change: 0,
            created_at: example_time("2026-12-20T14:11:00+07:00"),
            booking: BookingResponse::example(),
        }
    }
}

#[derive(Object)]
#[oai(example)]
struct CancelResponse {
    message: String,
    booking: BookingResponse,
}

impl poem_openapi::types::Example for CancelResponse {
    /// The paid example booking, cancelled two days later.
    fn example() -> Self {
        CancelResponse {
            message: "Booking cancelled and payment refunded".into(),
            booking: BookingResponse {
                status: "cancelled".into(),
                cancelled_at: Some(example_time("2026-12-22T09:30:00+07:00")),
                ..BookingResponse::example()
            },
        }
    }
}

#[derive(Object)]
#[oai(example)]
pub(super) struct CheckInResponse {
    message: String,
    /// The customer's name.
    guest: String,
    booking_code: String,
    seat_labels: Vec<String>,
    checked_in_at: VenueTime,
}

impl poem_openapi::types::Example for CheckInResponse {
    /// The example booking's guest, at the door before the show.
    fn example() -> Self {
        CheckInResponse {
            message: "Welcome, Sari Dewi! Seats C4, C5".into(),
            guest: "Sari Dewi".into(),
            booking_code: "BKG-7K2QX".into(),
            seat_labels: vec!["C4".into(), "C5".into()],
            checked_in_at: example_time("2027-01-03T18:42:00+07:00"),
        }
    }
}

#[derive(ApiResponse)]
enum CreatedBookingResponse {
    /// The seats are held until `expires_at`; pay before then.
    #[oai(status = 201)]
    Created(Json<BookingResponse>),
}

error_responses!(CreateBookingErrors {
    /// Invalid input: no seats, too many, repeated, a quantity that disagrees, seats or phase not
    /// of this event; or an `Idempotency-Key` that is not 1 to 255 printable ASCII characters.
    BadRequest = 400 [ValidationFailed, MalformedJson, MalformedRequest],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// A door staff account (`checker`) cannot book.
    Forbidden = 403 [Forbidden],
    /// No such event.
    NotFound = 404 [NotFound],
    /// Seats taken (named in `message`, ids in `details`), phase not on sale, quota used up,
    /// ticket limit reached, or the event is not on sale; or a request with this
    /// `Idempotency-Key` is still being processed (retry after `Retry-After` seconds).
    Conflict = 409 [SeatTaken, PhaseSoldOut, PhaseNotOnSale, NoPhaseOnSale, EventNotOnSale, TicketLimitReached, IdempotencyInProgress] (RetryAfter),
    /// The request body is larger than the server accepts.
    PayloadTooLarge = 413 [PayloadTooLarge],
    /// This `Idempotency-Key` was already used for a different request; use a new key.
    UnprocessableEntity = 422 [IdempotencyKeyReused],
    /// Too many booking attempts by this customer, too many holds of this show given up lately
    /// (let run out or cancelled unpaid), or too many `Idempotency-Key`s held; see `Retry-After`.
    TooManyRequests = 429 [RateLimited, TooManyAbandonedHolds, TooManyIdempotencyKeys] (RetryAfter),
});

error_responses!(GetBookingErrors {
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// No such booking, or not yours (the same answer, so that codes cannot be probed).
    NotFound = 404 [NotFound],
    /// Too many codes looked up that were not found; see `Retry-After`.
    TooManyRequests = 429 [RateLimited] (RetryAfter),
});

error_responses!(PayErrors {
    /// Invalid input, an amount below the total (`details {required, given}`), or an
    /// `Idempotency-Key` that is not 1 to 255 printable ASCII characters.
    BadRequest = 400 [ValidationFailed, AmountTooLow, MalformedJson, MalformedRequest],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// No such booking, or not yours (the same answer, so that codes cannot be probed).
    NotFound = 404 [NotFound],
    /// The booking is not pending (already paid, expired or cancelled), or a request with this
    /// `Idempotency-Key` is still being processed (retry after `Retry-After` seconds).
    Conflict = 409 [BookingNotPending, IdempotencyInProgress] (RetryAfter),
    /// The request body is larger than the server accepts.
    PayloadTooLarge = 413 [PayloadTooLarge],
    /// This `Idempotency-Key` was already used for a different request (another body, or another
    /// booking); use a new key.
    UnprocessableEntity = 422 [IdempotencyKeyReused],
    /// Too many codes looked up that were not found; see `Retry-After`.
    TooManyRequests = 429 [RateLimited, TooManyIdempotencyKeys] (RetryAfter),
});

error_responses!(CancelErrors {
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// No such booking, or not yours (the same answer, so that codes cannot be probed).
    NotFound = 404 [NotFound],
    /// Already cancelled or expired, checked in, or the event has started.
    Conflict = 409 [BookingNotCancellable],
    /// Too many codes looked up that were not found; see `Retry-After`.
    TooManyRequests = 429 [RateLimited] (RetryAfter),
});

error_responses!(CheckInErrors {
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only admins and door staff (`checker`) check guests in.
    Forbidden = 403 [Forbidden],
    /// No such booking.
    NotFound = 404 [NotFound],
    /// Already used (`"Ticket already used at <time>"`, `details {checked_in_at,
    /// checked_in_by}`), or not paid.
    Conflict = 409 [AlreadyCheckedIn, BookingNotPaid],
    /// Too many codes looked up that were not found; see `Retry-After`.
    TooManyRequests = 429 [RateLimited] (RetryAfter),
});

#[derive(ApiResponse)]
enum TicketPng {
    /// The QR code of the booking's signed ticket.
    #[oai(status = 200, content_type = "image/png")]
    Ok(Binary<Vec<u8>>),
}

#[derive(ApiResponse)]
enum TicketSvg {
    /// The QR code of the booking's signed ticket.
    #[oai(status = 200, content_type = "image/svg+xml")]
    Ok(Binary<Vec<u8>>),
}

#[derive(ApiResponse)]
enum TicketPdf {
    /// The printable e-ticket: one A4 page.
    #[oai(status = 200, content_type = "application/pdf")]
    Ok(
        Binary<Vec<u8>>,
        /// `inline; filename="<code>.pdf"`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

error_responses!(TicketFileErrors {
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// No such booking, or not yours (the same answer, so that codes cannot be probed).
    NotFound = 404 [NotFound],
    /// The booking is not paid (pending, expired, cancelled or refunded): it has no ticket.
    Conflict = 409 [BookingNotPaid],
    /// Too many codes looked up that were not found; see `Retry-After`.
    TooManyRequests = 429 [RateLimited] (RetryAfter),
});

pub struct BookingsApi {
    services: Arc<Services>,
    throttles: Arc<Throttles>,
    links: PictureLinks,
}

/// Runs a command on a booking named by its code and returns its outcome as it is, unless it
/// found no booking of the caller's with that code: that miss is counted against the caller, and
/// once they missed too many codes lately it is answered 429, not 404, so codes cannot be guessed
/// at speed. Only misses are counted and held back: a caller's own bookings are never in the
/// way of a guess, and finding them asks the throttle nothing.
async fn by_code<T, E: NamesUnknownBooking>(
    throttles: &Throttles,
    actor: &Actor,
    command: impl std::future::Future<Output = Result<T, E>>,
) -> Result<Result<T, E>, TooManyRequests> {
    let outcome = command.await;
    if matches!(&outcome, Err(error) if error.names_unknown_booking()) {
        let caller = actor.id.to_string();
        let misses = &throttles.booking_lookup_failures_per_caller;
        // A caller already past the limit waits, and is counted no further.
        misses.check(&caller).await.map_err(|throttled| {
            throttled.into_failure(Localized::new(
                "booking codes that were not found",
                "kode pemesanan yang tidak ditemukan",
            ))
        })?;
        let _ = misses.hit(&caller).await;
    }
    Ok(outcome)
}

/// A refusal of a command on a booking that may say no booking has the code (for the caller).
trait NamesUnknownBooking {
    fn names_unknown_booking(&self) -> bool;
}

impl<R> NamesUnknownBooking for BookingError<R> {
    fn names_unknown_booking(&self) -> bool {
        matches!(self, BookingError::NotFound(_))
    }
}

impl NamesUnknownBooking for PayError {
    fn names_unknown_booking(&self) -> bool {
        matches!(self, PayError::Booking(error) if error.names_unknown_booking())
    }
}

impl NamesUnknownBooking for CheckInError {
    fn names_unknown_booking(&self) -> bool {
        matches!(self, CheckInError::Booking(error) if error.names_unknown_booking())
    }
}

impl BookingsApi {
    pub fn new(services: Arc<Services>, throttles: Arc<Throttles>, links: PictureLinks) -> Self {
        BookingsApi {
            services,
            throttles,
            links,
        }
    }

    /// The QR code of the signed ticket of the caller's (or, for an admin, any) paid booking,
    /// drawn by `draw`.
    /// A paid booking its owner or an admin may see, and its signed ticket.
    async fn paid_ticket(
        &self,
        auth: &BearerToken,
        code: &str,
    ) -> Result<(BookingDetails, String), TicketFileErrors> {
        let actor = self.services.actor(auth).await?;
        let details = by_code(
            &self.throttles,
            &actor,
            self.services.bookings.get(&actor, code),
        )
        .await??;
        let claims = TicketClaims::of(&details.booking).ok_or_else(|| NoTicket {
            code: details.booking.code.clone(),
            status: details.booking.status_at(self.services.events.now()),
        })?;
        let token = self.services.tickets.sign(&claims);
        Ok((details, token))
    }

    /// The QR code of a paid booking's ticket, drawn by `draw`.
    async fn ticket_qr(
        &self,
        auth: &BearerToken,
        code: &str,
        draw: fn(&str) -> Option<Vec<u8>>,
    ) -> Result<Vec<u8>, TicketFileErrors> {
        let (_, token) = self.paid_ticket(auth, code).await?;
        Ok(draw(&token).ok_or_else(|| Internal::cause(&"a ticket too long for a QR code"))?)
    }
}

#[OpenApi(prefix_path = "/api/bookings", tag = "Tag::Bookings")]
impl BookingsApi {
    /// Book exact seats.
    ///
    /// A logged-in customer or admin, for themself. All the seats or none, at the price of the
    /// phase on sale now; the booking is pending, holding its seats until `expires_at`, and is
    /// confirmed by paying. Each refusal says why in `error` (a taken seat, a sold-out or closed
    /// phase, the ticket limit). Send an `Idempotency-Key` to retry safely.
    #[oai(path = "/", method = "post", operation_id = "createBooking")]
    async fn create(
        &self,
        request: &Request,
        auth: BearerToken,
        /// Makes retries safe: a retry with the same key gets the first answer again (for 24
        /// hours) instead of booking twice. 1 to 255 printable ASCII characters, e.g. a UUID;
        /// each user has keys of their own.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: IdempotencyKeyHeader,
        body: Json<CreateBookingRequest>,
    ) -> Result<Idempotent<CreatedBookingResponse>, CreateBookingErrors> {
        let actor = self.services.actor(&auth).await?;
        self.throttles
            .bookings_per_customer
            .hit(&actor.id.to_string())
            .await
            .map_err(|throttled| {
                throttled.into_failure(Localized::new("booking attempts", "percobaan pemesanan"))
            })?;
        let keyed = idempotency_key.for_request("POST", "/api/bookings", &body.0);
        let services = self.services.clone();
        let shown = Presentation::of(&self.services, &self.links, request);
        idempotency::run(&self.services, &actor, keyed, async move {
            place_booking(&services, &actor, body.0, shown).await
        })
        .await
    }

    /// A booking; the e-ticket.
    ///
    /// Its owner or an admin; to anyone else a booking code that exists and one that does not
    /// get the same 404, and failed look-ups are limited (429).
    #[oai(path = "/:code", method = "get", operation_id = "getBooking")]
    async fn get(
        &self,
        request: &Request,
        auth: BearerToken,
        code: Path<String>,
    ) -> Result<Json<BookingResponse>, GetBookingErrors> {
        let actor = self.services.actor(&auth).await?;
        let details = by_code(
            &self.throttles,
            &actor,
            self.services.bookings.get(&actor, &code.0),
        )
        .await??;
        Ok(Json(BookingResponse::new(
            &details,
            &Presentation::of(&self.services, &self.links, request),
        )))
    }

    /// The ticket's QR code, as PNG.
    ///
    /// Its owner or an admin, for a paid booking (409 `booking_not_paid` otherwise). The code
    /// carries the booking's signed `ticket`, with error correction that survives a quarter of
    /// it being unreadable; nothing about the ticket leaves WarTawa to draw it.
    #[oai(
        path = "/:code/ticket.png",
        method = "get",
        operation_id = "getTicketPng"
    )]
    async fn ticket_png(
        &self,
        auth: BearerToken,
        code: Path<String>,
    ) -> Result<TicketPng, TicketFileErrors> {
        let png = self
            .ticket_qr(&auth, &code.0, crate::tickets::qr_png)
            .await?;
        Ok(TicketPng::Ok(Binary(png)))
    }

    /// The ticket's QR code, as SVG.
    ///
    /// As `ticket.png`, drawn as vectors: sharp at any size, on paper or a screen.
    #[oai(
        path = "/:code/ticket.svg",
        method = "get",
        operation_id = "getTicketSvg"
    )]
    async fn ticket_svg(
        &self,
        auth: BearerToken,
        code: Path<String>,
    ) -> Result<TicketSvg, TicketFileErrors> {
        let svg = self
            .ticket_qr(&auth, &code.0, crate::tickets::qr_svg)
            .await?;
        Ok(TicketSvg::Ok(Binary(svg)))
    }

    /// The printable e-ticket, as PDF.
    ///
    /// Its owner or an admin, for a paid booking (409 `booking_not_paid` otherwise). One A4
    /// page: the show, the venue, the date and doors in the venue's time, the seats, the guest,
    /// the price phase, the booking code and the QR code of the signed `ticket`, in the
    /// caller's language (`Accept-Language`). The font is embedded: the page looks the same in
    /// every reader and printer.
    #[oai(
        path = "/:code/ticket.pdf",
        method = "get",
        operation_id = "getTicketPdf"
    )]
    async fn ticket_pdf(
        &self,
        auth: BearerToken,
        code: Path<String>,
    ) -> Result<TicketPdf, TicketFileErrors> {
        let (details, token) = self.paid_ticket(&auth, &code.0).await?;
        let page = ticket_page(
            &details,
            token,
            self.services.venue_offset,
            self.services.doors_open_before,
            Language::current(),
        );
        let pdf = crate::ticket_pdf::ticket_pdf(&page).map_err(|error| Internal::cause(&error))?;
        let disposition = format!("inline; filename=\"{}.pdf\"", details.booking.code);
        Ok(TicketPdf::Ok(Binary(pdf), disposition))
    }

    /// Pay a pending booking; it becomes confirmed.
    ///
    /// Its owner or an admin. `amount` must cover the total (any change is given back in
    /// `change`). A payment is recorded once: send an `Idempotency-Key` to retry safely.
    #[oai(path = "/:code/pay", method = "post", operation_id = "payBooking")]
    async fn pay(
        &self,
        request: &Request,
        auth: BearerToken,
        code: Path<String>,
        /// Makes retries safe: a retry with the same key gets the first answer again (for 24
        /// hours) instead of paying twice. 1 to 255 printable ASCII characters, e.g. a UUID;
        /// each user has keys of their own.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: IdempotencyKeyHeader,
        body: Json<PayRequest>,
    ) -> Result<Idempotent<Json<PaymentResponse>>, PayErrors> {
        let actor = self.services.actor(&auth).await?;
        // Codes are read ignoring case: `bkg-abcde` pays the same booking as `BKG-ABCDE`.
        let path = format!("/api/bookings/{}/pay", code.0.to_ascii_uppercase());
        let keyed = idempotency_key.for_request("POST", &path, &body.0);
        let (services, throttles) = (self.services.clone(), self.throttles.clone());
        let shown = Presentation::of(&self.services, &self.links, request);
        idempotency::run(&self.services, &actor, keyed, async move {
            pay_booking(&services, &throttles, &actor, &code.0, body.0, shown).await
        })
        .await
    }

    /// Cancel a booking.
    ///
    /// Its owner or an admin. A pending one frees its seats; a paid one is refunded and frees
    /// them, unless it was checked in or the show has started (409 `booking_not_cancellable`).
    #[oai(
        path = "/:code/cancel",
        method = "post",
        operation_id = "cancelBooking"
    )]
    async fn cancel(
        &self,
        request: &Request,
        auth: BearerToken,
        code: Path<String>,
    ) -> Result<Json<CancelResponse>, CancelErrors> {
        let actor = self.services.actor(&auth).await?;
        let venue_offset = self.services.venue_offset;
        let details = by_code(
            &self.throttles,
            &actor,
            self.services.bookings.cancel(&actor, &code.0),
        )
        .await?
        .map_err(|refusal| AtVenue::new(refusal, venue_offset))?;
        metrics::count_for_event(metrics::BOOKINGS_CANCELLED, details.booking.event_id.0, 1);
        let refunded = details.payment.is_some();
        let message = if refunded {
            Localized::new(
                "Booking cancelled and payment refunded",
                "Pemesanan dibatalkan dan pembayaran dikembalikan",
            )
        } else {
            Localized::new("Booking cancelled", "Pemesanan dibatalkan")
        };
        Ok(Json(CancelResponse {
            message: message.for_request(),
            booking: BookingResponse::new(
                &details,
                &Presentation::of(&self.services, &self.links, request),
            ),
        }))
    }

    /// Check a paid booking in at the door.
    ///
    /// Admins and door staff (`checker`), for a guest whose QR code will not scan. Of
    /// simultaneous check-ins of one booking exactly one succeeds; a second is a 409
    /// `already_checked_in` saying when, in the venue's time, and by whom.
    #[oai(
        path = "/:code/checkin",
        method = "post",
        operation_id = "checkInBooking"
    )]
    async fn check_in(
        &self,
        auth: BearerToken,
        code: Path<String>,
    ) -> Result<Json<CheckInResponse>, CheckInErrors> {
        let actor = self.services.actor(&auth).await?;
        let venue_offset = self.services.venue_offset;
        let details = by_code(
            &self.throttles,
            &actor,
            self.services.door.check_in(&actor, &code.0),
        )
        .await?
        .map_err(|refusal| AtVenue::new(refusal, venue_offset))?;
        metrics::count_for_event(metrics::BOOKINGS_CHECKED_IN, details.booking.event_id.0, 1);
        Ok(Json(CheckInResponse::new(&details, &self.services)))
    }
}

impl CheckInResponse {
    /// The welcome of a guest just checked in, as the door reads it.
    pub(super) fn new(details: &BookingDetails, services: &Services) -> Self {
        let booking = &details.booking;
        let checked_in_at = booking
            .checked_in_at
            .unwrap_or_else(|| services.events.now());
        CheckInResponse {
            message: Localized::new(
                format!(
                    "Welcome, {}! Seats {}",
                    details.customer_name,
                    booking.seat_labels().join(", ")
                ),
                format!(
                    "Selamat datang, {}! Kursi {}",
                    details.customer_name,
                    booking.seat_labels().join(", ")
                ),
            )
            .for_request(),
            guest: details.customer_name.clone(),
            booking_code: booking.code.to_string(),
            seat_labels: booking.seat_labels(),
            checked_in_at: VenueTime::new(checked_in_at, services.venue_offset),
        }
    }
}

async fn place_booking(
    services: &Services,
    actor: &Actor,
    request: CreateBookingRequest,
    shown: Presentation,
) -> Result<CreatedBookingResponse, CreateBookingErrors> {
    let checkout = Checkout {
        event_id: request.event_id.get(),
        seat_ids: request.seat_ids.iter().map(|seat| seat.get()).collect(),
        phase_id: request.phase_id.map(|phase| phase.get()),
        quantity: request.quantity.map(|quantity| quantity.get()),
    };
    let details = services.bookings.place(actor, checkout).await?;
    metrics::count_for_event(metrics::BOOKINGS_PLACED, details.booking.event_id.0, 1);
    let shown = Presentation {
        now: services.events.now(),
        ..shown
    };
    Ok(CreatedBookingResponse::Created(Json(BookingResponse::new(
        &details, &shown,
    ))))
}

async fn pay_booking(
    services: &Services,
    throttles: &Throttles,
    actor: &Actor,
    code: &str,
    request: PayRequest,
    shown: Presentation,
) -> Result<Json<PaymentResponse>, PayErrors> {
    let receipt = by_code(
        throttles,
        actor,
        services
            .bookings
            .pay(actor, code, request.amount.get(), &request.method),
    )
    .await??;
    let paid = &receipt.booking.booking;
    metrics::count_for_event(metrics::BOOKINGS_PAID, paid.event_id.0, 1);
    metrics::count_for_event(
        metrics::SEATS_SOLD,
        paid.event_id.0,
        u64::from(paid.quantity()),
    );
    let payment = &receipt.payment;
    let shown = Presentation {
        now: services.events.now(),
        ..shown
    };
    let booking = BookingResponse::new(&receipt.booking, &shown);
    Ok(Json(PaymentResponse {
        id: payment.id.0,
        booking_id: payment.booking_id.0,
        booking_code: booking.booking_code.clone(),
        amount: payment.amount.amount(),
        method: payment.method.clone(),
        status: payment.status.as_str().into(),
        change: payment.change.amount(),
        created_at: shown.time(payment.created_at),
        booking,
    }))
}
