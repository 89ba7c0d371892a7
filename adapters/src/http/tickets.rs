//! `/api/tickets`: what a scanner needs to check tickets with no connection.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use application::ports::TicketSigner;
use domain::booking::BookingCode;
use domain::event::EventId;
use domain::ticket::TicketClaims;

use crate::tickets::Ed25519Tickets;

use super::error::error_responses;
use super::{Services, Tag};

/// The key tickets are signed with, and how a ticket is read.
#[derive(Object)]
#[oai(example)]
struct TicketKeyResponse {
    /// Always `"Ed25519"`.
    algorithm: String,
    /// The 32-byte public key, base64url without padding.
    public_key: String,
    /// How a ticket token is made, for a scanner that checks it.
    format: String,
}

const ALGORITHM: &str = "Ed25519";
const FORMAT: &str = "<claims>.<signature>, both base64url without padding; the signature is Ed25519 over the ASCII of <claims>; the claims are JSON: {\"v\":1,\"c\":booking code,\"e\":event id,\"s\":[seat labels],\"t\":issued at, Unix seconds}";

/// The key the document's examples are signed with (32 zero bytes), not the server's.
fn example_signer() -> Ed25519Tickets {
    Ed25519Tickets::new(&[0; 32])
}

/// The ticket of the example booking (BKG-7K2QX, seats C4 and C5 of event 4), signed with the
/// examples' key: it verifies with `TicketKeyResponse`'s example.
pub(super) fn example_ticket() -> String {
    let claims = TicketClaims {
        code: BookingCode::parse("BKG-7K2QX").expect("a booking code"),
        event: EventId(4),
        seats: vec!["C4".into(), "C5".into()],
        issued_at: chrono::DateTime::parse_from_rfc3339("2026-12-20T14:11:00+07:00")
            .expect("an example time")
            .to_utc(),
    };
    example_signer().sign(&claims)
}

impl poem_openapi::types::Example for TicketKeyResponse {
    fn example() -> Self {
        TicketKeyResponse {
            algorithm: ALGORITHM.into(),
            public_key: URL_SAFE_NO_PAD.encode(example_signer().public_key()),
            format: FORMAT.into(),
        }
    }
}

#[derive(ApiResponse)]
enum TicketKeyAnswer {
    /// The public key.
    #[oai(status = 200)]
    Ok(Json<TicketKeyResponse>),
}

error_responses!(TicketKeyErrors {});

pub struct TicketsApi {
    tickets: Arc<dyn TicketSigner>,
}

impl TicketsApi {
    pub fn new(services: &Services) -> Self {
        TicketsApi {
            tickets: services.tickets.clone(),
        }
    }
}

#[OpenApi(prefix_path = "/api/tickets", tag = "Tag::Bookings")]
impl TicketsApi {
    /// The public key tickets are signed with.
    ///
    /// Anyone may read it. A paid booking's `ticket` (its QR code) verifies with this key alone,
    /// so a scanner can tell a real ticket, its show and its seats with no connection. What it
    /// cannot know offline: whether the booking was cancelled or refunded since, or already
    /// checked in; the booking itself says so.
    #[oai(path = "/public-key", method = "get", operation_id = "ticketPublicKey")]
    async fn public_key(&self) -> Result<TicketKeyAnswer, TicketKeyErrors> {
        Ok(TicketKeyAnswer::Ok(Json(TicketKeyResponse {
            algorithm: ALGORITHM.into(),
            public_key: URL_SAFE_NO_PAD.encode(self.tickets.public_key()),
            format: FORMAT.into(),
        })))
    }
}
