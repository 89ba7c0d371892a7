//! What the store reads back for the use cases: entities joined with the figures people see.

use domain::audit::{AuditActionKind, AuditDetails, AuditTargetType};
use domain::booking::Booking;
use domain::event::{current_phase, Event, EventId, Phase, PhaseSales, ShownStatus};
use domain::image::{EventImage, ImageDigest, ImageMediaType};
use domain::money::Money;
use domain::payment::Payment;
use domain::seat::{Seat, SeatStatus};
use domain::user::UserId;
use domain::Timestamp;

/// An event with its sales so far.
#[derive(Debug, Clone, PartialEq)]
pub struct EventView {
    pub event: Event,
    /// Tickets of pending and confirmed bookings per phase (what quotas count).
    pub sales: PhaseSales,
    /// Seats in pending or confirmed bookings.
    pub seats_taken: u32,
    /// Tickets of confirmed bookings.
    pub tickets_sold: u32,
}

impl EventView {
    pub fn available_seats(&self) -> u32 {
        self.event.capacity.saturating_sub(self.seats_taken)
    }

    pub fn status(&self, now: Timestamp) -> ShownStatus {
        self.event.shown_status(now)
    }

    /// The phase a booking made now would get.
    pub fn current_phase(&self, now: Timestamp) -> Option<&Phase> {
        match self.status(now) {
            ShownStatus::Published => current_phase(&self.event.phases, &self.sales, now),
            _ => None,
        }
    }

    pub fn phase_is_active(&self, phase: &Phase, now: Timestamp) -> bool {
        self.status(now) == ShownStatus::Published && self.sales.is_on_sale(phase, now)
    }
}

/// The parts of an event a booking shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    pub id: EventId,
    pub name: String,
    pub date: Timestamp,
    pub venue: String,
    pub image: Option<EventImage>,
}

impl From<&Event> for EventSummary {
    fn from(event: &Event) -> Self {
        EventSummary {
            id: event.id,
            name: event.name.clone(),
            date: event.date,
            venue: event.venue.clone(),
            image: event.image.clone(),
        }
    }
}

/// An event's uploaded picture as stored, read on its own: never with the event, never in a list.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageFile {
    pub media_type: ImageMediaType,
    /// Names this version of the picture.
    pub digest: ImageDigest,
    pub bytes: Vec<u8>,
}

/// Megabytes of bytes are never printed.
impl std::fmt::Debug for ImageFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageFile")
            .field("media_type", &self.media_type)
            .field("digest", &self.digest)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A booking with its event, its customer's name and its payment.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingDetails {
    pub booking: Booking,
    pub event: EventSummary,
    pub customer_name: String,
    pub payment: Option<Payment>,
}

/// An event's seat map and its version: the version moves whenever any seat's status or the
/// set of seats changes, so that a reader may keep a copy until it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatMap {
    pub version: u64,
    pub seats: Vec<SeatView>,
}

/// One seat of a seat map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatView {
    pub seat: Seat,
    pub status: SeatStatus,
}

/// The organiser's overview.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    /// Payments of confirmed bookings, refunds excluded.
    pub total_revenue: Money,
    /// Tickets of confirmed bookings.
    pub tickets_sold: u64,
    /// Published events still to come.
    pub active_events: u64,
    pub total_events: u64,
    pub pending_bookings: u64,
    /// Tickets of checked-in bookings.
    pub checked_in: u64,
    /// The ten newest bookings.
    pub recent_transactions: Vec<RecentTransaction>,
    pub events: Vec<EventFigures>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecentTransaction {
    pub booking_code: String,
    pub customer_name: String,
    pub event_name: String,
    pub amount: Money,
    pub status: String,
    pub date: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventFigures {
    pub id: EventId,
    pub name: String,
    pub date: Timestamp,
    pub capacity: u32,
    pub tickets_sold: u64,
    pub revenue: Money,
    pub checked_in: u64,
}

impl EventFigures {
    /// Sold tickets as a percentage of seats, to one decimal.
    pub fn occupancy_pct(&self) -> f64 {
        if self.capacity == 0 {
            return 0.0;
        }
        (self.tickets_sold as f64 * 1000.0 / f64::from(self.capacity)).round() / 10.0
    }
}

/// Who did an audited action, as they are known now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditActor {
    pub id: UserId,
    pub name: String,
    pub email: String,
}

/// An entry of the audit trail as the store reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Increases with every entry written.
    pub id: i64,
    pub occurred_at: Timestamp,
    pub actor: AuditActor,
    pub action: AuditActionKind,
    pub target_type: AuditTargetType,
    pub target_id: String,
    pub details: AuditDetails,
}
