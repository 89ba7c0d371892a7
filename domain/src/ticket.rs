//! The ticket a guest carries to the door: what it says, and which bookings have one.

use crate::booking::{Booking, BookingCode, BookingStatus};
use crate::event::EventId;
use crate::Timestamp;

/// What a signed ticket says: enough for a scanner with no connection to tell the show and the
/// seats, and for the door to find the booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClaims {
    pub code: BookingCode,
    pub event: EventId,
    /// The seats' labels, in the booking's order.
    pub seats: Vec<String>,
    /// When the booking was paid: its ticket exists from then on, and is the same each time it
    /// is asked for.
    pub issued_at: Timestamp,
}

impl TicketClaims {
    /// The ticket of `booking`: only a confirmed (paid) booking has one. A cancelled or refunded
    /// booking has none any more, though a copy of its token may still be around: only the
    /// booking itself, looked up at the door, says so.
    pub fn of(booking: &Booking) -> Option<TicketClaims> {
        if booking.status != BookingStatus::Confirmed {
            return None;
        }
        Some(TicketClaims {
            code: booking.code.clone(),
            event: booking.event_id,
            seats: booking.seat_labels(),
            issued_at: booking.paid_at?,
        })
    }
}
