//! Rows as the database returns them, and their conversion into the domain's types.

use application::ports::StoreError;
use application::views::{BookingDetails, EventSummary, EventView};
use domain::booking::{BookedSeat, Booking, BookingCode, BookingId, BookingStatus};
use domain::event::{Event, EventId, EventStatus, Phase, PhaseId, PhaseSales};
use domain::image::{EventImage, ImageDigest, ImageMediaType};
use domain::money::Money;
use domain::payment::{Payment, PaymentId, PaymentStatus};
use domain::seat::{Seat, SeatId, SeatPosition, SeatStatus};
use domain::user::{Email, Nik, PersonName, PhoneNumber, Role, User, UserId};
use domain::Timestamp;

use super::corrupt;

pub(super) fn count(value: i32, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(what, format!("negative count {value}")))
}

/// The picture an event shows: its uploaded one (whose media type and digest are read from
/// `event_images`, never its bytes), else the link in `events.image_url`.
fn event_image(
    link: Option<String>,
    media_type: Option<String>,
    digest: Option<String>,
) -> Result<Option<EventImage>, StoreError> {
    match (media_type, digest) {
        (Some(media_type), Some(digest)) => Ok(Some(EventImage::Uploaded {
            media_type: ImageMediaType::parse(&media_type)
                .ok_or_else(|| corrupt("picture media type", &media_type))?,
            digest: ImageDigest::parse(&digest).map_err(|e| corrupt("picture digest", e))?,
        })),
        _ => Ok(link.map(EventImage::Link)),
    }
}

/// The columns of an event's uploaded picture that a view shows, for the event aliased `e`:
/// two probes of `event_images`' primary key, which read neither the bytes nor other events'.
macro_rules! event_image_columns {
    ($prefix:literal) => {
        concat!(
            "(SELECT i.media_type FROM event_images i WHERE i.event_id = e.id) AS ",
            $prefix,
            "image_media_type, (SELECT i.digest FROM event_images i WHERE i.event_id = e.id) AS ",
            $prefix,
            "image_digest"
        )
    };
}
pub(super) use event_image_columns;

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub nik: Option<String>,
    pub phone_number: Option<String>,
    pub created_at: Timestamp,
    pub active: bool,
    pub token_version: i64,
}

/// The columns of a `UserRow`, for `concat!` into queries (sqlx wants `&'static str` SQL).
macro_rules! user_columns {
    () => {
        "id, name, email, password_hash, role, nik, phone_number, created_at, active, token_version"
    };
}
pub(super) use user_columns;

impl UserRow {
    pub fn into_user(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId(self.id),
            name: PersonName::parse(&self.name).map_err(|e| corrupt("user name", e))?,
            email: Email::parse(&self.email).map_err(|e| corrupt("email", e))?,
            password_hash: self.password_hash,
            role: Role::parse(&self.role).map_err(|e| corrupt("role", e))?,
            nik: self
                .nik
                .as_deref()
                .map(Nik::parse)
                .transpose()
                .map_err(|e| corrupt("NIK", e))?,
            phone_number: self
                .phone_number
                .as_deref()
                .map(PhoneNumber::parse)
                .transpose()
                .map_err(|e| corrupt("phone number", e))?,
            created_at: self.created_at,
            active: self.active,
            token_version: self.token_version,
        })
    }
}

#[derive(Clone, sqlx::FromRow)]
pub(super) struct EventRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub date: Timestamp,
    pub venue: String,
    /// A link to a picture elsewhere; never a picture itself.
    pub image_url: Option<String>,
    pub image_media_type: Option<String>,
    pub image_digest: Option<String>,
    pub capacity: i32,
    pub seats_per_row: i32,
    pub status: String,
    pub created_at: Timestamp,
    pub seats_taken: i32,
    pub tickets_sold: i32,
}

/// The columns of an `EventRow`, from `events` aliased `e`: its figures are the sums over its
/// shards in `event_figures` (see the migration that made them).
macro_rules! event_columns {
    () => {
        concat!(
            "e.id, e.name, e.description, e.date, e.venue, e.image_url, ",
            $crate::postgres::rows::event_image_columns!(""),
            ", e.capacity, e.seats_per_row, e.status, e.created_at, \
             (SELECT coalesce(sum(f.seats_taken), 0) FROM event_figures f WHERE f.event_id = e.id)::int AS seats_taken, \
             (SELECT coalesce(sum(f.tickets_sold), 0) FROM event_figures f WHERE f.event_id = e.id)::int AS tickets_sold"
        )
    };
}
pub(super) use event_columns;

#[derive(sqlx::FromRow)]
pub(super) struct PhaseRow {
    pub id: i64,
    pub event_id: i64,
    pub name: String,
    pub price: i64,
    pub quota: i32,
    pub sold: i32,
    pub start_date: Timestamp,
    pub end_date: Timestamp,
}

macro_rules! phase_columns {
    () => {
        "id, event_id, name, price, quota, sold, start_date, end_date"
    };
}
pub(super) use phase_columns;

impl EventRow {
    /// The event with its phases (already in order) and its figures.
    pub fn into_view(self, phases: Vec<PhaseRow>) -> Result<EventView, StoreError> {
        let mut sales = PhaseSales::new();
        let mut event_phases = Vec::with_capacity(phases.len());
        for phase in phases {
            sales.add(PhaseId(phase.id), count(phase.sold, "phase sales")?);
            event_phases.push(Phase {
                id: PhaseId(phase.id),
                name: phase.name,
                price: Money::rupiah(phase.price),
                quota: count(phase.quota, "phase quota")?,
                start_date: phase.start_date,
                end_date: phase.end_date,
            });
        }
        let status = EventStatus::parse(&self.status).map_err(|e| corrupt("event status", e))?;
        Ok(EventView {
            event: Event {
                id: EventId(self.id),
                name: self.name,
                description: self.description,
                date: self.date,
                venue: self.venue,
                image: event_image(self.image_url, self.image_media_type, self.image_digest)?,
                capacity: count(self.capacity, "capacity")?,
                seats_per_row: count(self.seats_per_row, "seats per row")?,
                status,
                phases: event_phases,
                created_at: self.created_at,
            },
            sales,
            seats_taken: count(self.seats_taken, "seats taken")?,
            tickets_sold: count(self.tickets_sold, "tickets sold")?,
        })
    }
}

/// Groups phases by event, keeping their order.
pub(super) fn phases_of(event_id: i64, phases: &mut Vec<PhaseRow>) -> Vec<PhaseRow> {
    let (mine, others): (Vec<PhaseRow>, Vec<PhaseRow>) = std::mem::take(phases)
        .into_iter()
        .partition(|phase| phase.event_id == event_id);
    *phases = others;
    mine
}

#[derive(sqlx::FromRow)]
pub(super) struct SeatRow {
    pub id: i64,
    pub row_index: i32,
    pub number: i32,
    /// The status of the open booking holding the seat, if any.
    pub held_by: Option<String>,
}

impl SeatRow {
    pub fn seat(&self) -> Result<Seat, StoreError> {
        Ok(Seat {
            id: SeatId(self.id),
            position: SeatPosition {
                row_index: count(self.row_index, "seat row")?,
                number: count(self.number, "seat number")?,
            },
        })
    }

    /// How the seat shows: as its holder's status says; a seat whose holder does not read as
    /// holding it is still taken, so it shows held.
    pub fn status(&self) -> SeatStatus {
        match self.held_by.as_deref() {
            None => SeatStatus::Available,
            Some(holder) => BookingStatus::parse(holder)
                .filter(|status| status.holds_seats())
                .map_or(SeatStatus::Held, BookingStatus::seats_shown_as),
        }
    }
}

/// A booking with the event and customer it shows.
#[derive(sqlx::FromRow)]
pub(super) struct BookingRow {
    pub id: i64,
    pub code: String,
    pub event_id: i64,
    pub phase_id: i64,
    pub ticket_type: String,
    pub customer_id: i64,
    pub unit_price: i64,
    pub total_price: i64,
    pub status: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub checked_in_at: Option<Timestamp>,
    pub checked_in_by: Option<i64>,
    pub event_name: String,
    pub event_date: Timestamp,
    pub event_venue: String,
    pub event_image_url: Option<String>,
    pub event_image_media_type: Option<String>,
    pub event_image_digest: Option<String>,
    pub customer_name: String,
}

/// The columns of a `BookingRow`, for `bookings b JOIN events e JOIN users u`.
macro_rules! booking_columns {
    () => {
        concat!(
            "b.id, b.code, b.event_id, b.phase_id, b.ticket_type, b.customer_id, \
             b.unit_price, b.total_price, b.status, b.created_at, b.expires_at, b.paid_at, b.cancelled_at, \
             b.checked_in_at, b.checked_in_by, e.name AS event_name, e.date AS event_date, e.venue AS event_venue, \
             e.image_url AS event_image_url, ",
            $crate::postgres::rows::event_image_columns!("event_"),
            ", u.name AS customer_name "
        )
    };
}

macro_rules! booking_joins {
    () => {
        "FROM bookings b JOIN events e ON e.id = b.event_id JOIN users u ON u.id = b.customer_id "
    };
}

/// Booking rows with their joins; a query adds its own `WHERE`.
macro_rules! booking_select {
    () => {
        concat!(
            "SELECT ",
            $crate::postgres::rows::booking_columns!(),
            $crate::postgres::rows::booking_joins!()
        )
    };
}

/// A `BookingWithSeatsRow`: the booking and its seats in seat order, in one row. Every table is
/// reached within the booking's show (`event_id`), so that a schema distributed by show finds
/// them on the booking's shard.
macro_rules! booking_with_seats_select {
    () => {
        concat!(
            "SELECT ",
            $crate::postgres::rows::booking_columns!(),
            ", ARRAY(SELECT bs.seat_id FROM booking_seats bs \
                     JOIN seats s ON s.id = bs.seat_id AND s.event_id = bs.event_id \
                     WHERE bs.booking_id = b.id AND bs.event_id = b.event_id ORDER BY s.position) AS seat_ids, \
               ARRAY(SELECT bs.label FROM booking_seats bs \
                     JOIN seats s ON s.id = bs.seat_id AND s.event_id = bs.event_id \
                     WHERE bs.booking_id = b.id AND bs.event_id = b.event_id ORDER BY s.position) AS seat_labels ",
            $crate::postgres::rows::booking_joins!()
        )
    };
}
pub(super) use {booking_columns, booking_joins, booking_select, booking_with_seats_select};

#[derive(sqlx::FromRow)]
pub(super) struct BookedSeatRow {
    pub booking_id: i64,
    pub seat_id: i64,
    pub label: String,
}

#[derive(sqlx::FromRow)]
pub(super) struct PaymentRow {
    pub id: i64,
    pub booking_id: i64,
    pub amount: i64,
    pub method: String,
    pub change: i64,
    pub status: String,
    pub created_at: Timestamp,
    pub refunded_at: Option<Timestamp>,
}

macro_rules! payment_columns {
    () => {
        "id, booking_id, amount, method, change, status, created_at, refunded_at"
    };
}
pub(super) use payment_columns;

impl PaymentRow {
    pub fn into_payment(self) -> Result<Payment, StoreError> {
        let status = match self.status.as_str() {
            "success" => PaymentStatus::Success,
            "refunded" => PaymentStatus::Refunded,
            other => return Err(corrupt("payment status", other)),
        };
        Ok(Payment {
            id: PaymentId(self.id),
            booking_id: BookingId(self.booking_id),
            amount: Money::rupiah(self.amount),
            method: self.method,
            change: Money::rupiah(self.change),
            status,
            created_at: self.created_at,
            refunded_at: self.refunded_at,
        })
    }
}

impl BookingRow {
    pub fn into_details(
        self,
        seats: Vec<BookedSeat>,
        payment: Option<Payment>,
    ) -> Result<BookingDetails, StoreError> {
        let status = BookingStatus::parse(&self.status)
            .ok_or_else(|| corrupt("booking status", &self.status))?;
        Ok(BookingDetails {
            booking: Booking {
                id: BookingId(self.id),
                code: BookingCode::parse(&self.code).map_err(|e| corrupt("booking code", e))?,
                event_id: EventId(self.event_id),
                phase_id: PhaseId(self.phase_id),
                ticket_type: self.ticket_type,
                customer_id: UserId(self.customer_id),
                seats,
                unit_price: Money::rupiah(self.unit_price),
                total_price: Money::rupiah(self.total_price),
                status,
                created_at: self.created_at,
                expires_at: self.expires_at,
                paid_at: self.paid_at,
                cancelled_at: self.cancelled_at,
                checked_in_at: self.checked_in_at,
                checked_in_by: self.checked_in_by.map(UserId),
            },
            event: EventSummary {
                id: EventId(self.event_id),
                name: self.event_name,
                date: self.event_date,
                venue: self.event_venue,
                image: event_image(
                    self.event_image_url,
                    self.event_image_media_type,
                    self.event_image_digest,
                )?,
            },
            customer_name: self.customer_name,
            payment,
        })
    }
}

/// The seats of each booking, in the order read (seat order), grouped by booking once.
pub(super) fn seats_by_booking(
    seats: Vec<BookedSeatRow>,
) -> std::collections::HashMap<i64, Vec<BookedSeat>> {
    let mut grouped: std::collections::HashMap<i64, Vec<BookedSeat>> =
        std::collections::HashMap::new();
    for seat in seats {
        grouped
            .entry(seat.booking_id)
            .or_default()
            .push(BookedSeat {
                id: SeatId(seat.seat_id),
                label: seat.label,
            });
    }
    grouped
}

/// A booking and its seats, read in one statement.
#[derive(sqlx::FromRow)]
pub(super) struct BookingWithSeatsRow {
    #[sqlx(flatten)]
    pub booking: BookingRow,
    pub seat_ids: Vec<i64>,
    pub seat_labels: Vec<String>,
}

impl BookingWithSeatsRow {
    /// The booking's details; its payment is not read.
    pub fn into_details(self) -> Result<BookingDetails, StoreError> {
        let seats = self
            .seat_ids
            .into_iter()
            .zip(self.seat_labels)
            .map(|(id, label)| BookedSeat {
                id: SeatId(id),
                label,
            })
            .collect();
        self.booking.into_details(seats, None)
    }
}

/// An audit entry with its actor as the account is now.
#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    pub id: i64,
    pub occurred_at: Timestamp,
    pub actor_id: i64,
    pub actor_name: String,
    pub actor_email: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// The `details` object as JSON text.
    pub details: String,
}
