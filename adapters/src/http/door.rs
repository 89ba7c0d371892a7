//! `POST /api/checkin`: the door scans a ticket's QR code.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use domain::event::EventId;

use super::bookings::CheckInResponse;
use super::error::{error_responses, BadRequest};
use super::fields::{Text, Whole};
use super::refusals::AtVenue;
use super::rules::{Id, TicketToken, MAX_TICKET_CHARS};
use super::{BearerToken, Services, Tag};

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
            ticket: "eyJ2IjoxLCJjIjoiQktHLTdLMlFYIiwiZSI6NCwicyI6WyJDNCIsIkM1Il0sInQiOjE3OTc3NTA2NjB9.MuuuieIAj-Sx-MFfvqLRN1PoAmb1chSMttzjkLUqw4HaLFciBPwWGC3J7Mizxe1BYeGlTzxcBpLtgK0usyzYDw".into(),
            event_id: Some(4.into()),
        }
    }
}

error_responses!(ScanErrors {
    /// The body is not `{"ticket": …}`.
    BadRequest = 400 [ValidationFailed, MalformedJson, MalformedRequest],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin may check guests in.
    Forbidden = 403 [Forbidden],
    /// The ticket's booking does not exist.
    NotFound = 404 [NotFound],
    /// Already used (`"Ticket already used at <time>"`, `details {checked_in_at}`), not paid
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
    /// Admins only (door staff). The ticket's signature is checked, then, if the door names its
    /// show (`event_id`), that the ticket is for it; then the rules of a check-in by code: the
    /// booking must still be paid, and of simultaneous scans of one ticket exactly one succeeds
    /// (a second is a 409 `already_checked_in` saying when, in the venue's time).
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
        Ok(Json(CheckInResponse::new(&details, &self.services)))
    }
}
