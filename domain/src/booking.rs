//! Bookings: how one is decided, priced and moved through its life.
//!
//! pending → confirmed (paid) → checked in (`checked_in_at` set, status stays confirmed);
//! pending → expired when its hold runs out; pending or confirmed → cancelled.

use std::collections::BTreeSet;
use std::fmt;

use chrono::Duration;

use crate::event::{current_phase, Event, EventId, EventStatus, PhaseId, PhaseSales, ShownStatus};
use crate::money::Money;
use crate::payment::PaymentInput;
use crate::seat::{Seat, SeatId, SeatStatus};
use crate::user::UserId;
use crate::validation::ValidationErrors;
use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BookingId(pub i64);

impl fmt::Display for BookingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The characters of a booking code: no 0/O and no 1/I/L, which people mix up at the door.
pub const CODE_ALPHABET: &[u8; 31] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_PREFIX: &str = "BKG-";
pub const CODE_LENGTH: usize = 5;

/// `BKG-` and five characters of [`CODE_ALPHABET`]; parsed case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BookingCode(String);

impl BookingCode {
    pub fn parse(value: &str) -> Result<BookingCode, String> {
        let code = value.trim().to_ascii_uppercase();
        let valid = code.len() == CODE_PREFIX.len() + CODE_LENGTH
            && code.starts_with(CODE_PREFIX)
            && code[CODE_PREFIX.len()..]
                .bytes()
                .all(|b| CODE_ALPHABET.contains(&b));
        if valid {
            Ok(BookingCode(code))
        } else {
            Err("is not a booking code like BKG-7XK2P".to_string())
        }
    }

    /// Builds a code from five random numbers (any value; each is taken modulo the alphabet's size).
    pub fn from_random(picks: [u32; CODE_LENGTH]) -> BookingCode {
        let suffix: String = picks
            .iter()
            .map(|pick| char::from(CODE_ALPHABET[*pick as usize % CODE_ALPHABET.len()]))
            .collect();
        BookingCode(format!("{CODE_PREFIX}{suffix}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BookingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookingStatus {
    Pending,
    Confirmed,
    Expired,
    Cancelled,
}

impl BookingStatus {
    pub const ALL: [BookingStatus; 4] = [
        BookingStatus::Pending,
        BookingStatus::Confirmed,
        BookingStatus::Expired,
        BookingStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Pending => "pending",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Expired => "expired",
            BookingStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<BookingStatus> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }

    /// Pending and confirmed bookings hold their seats and count against quotas and limits.
    pub fn holds_seats(self) -> bool {
        matches!(self, BookingStatus::Pending | BookingStatus::Confirmed)
    }

    /// How the seats of a booking in this status show on the seat map.
    pub fn seats_shown_as(self) -> SeatStatus {
        match self {
            BookingStatus::Pending => SeatStatus::Held,
            BookingStatus::Confirmed => SeatStatus::Sold,
            BookingStatus::Expired | BookingStatus::Cancelled => SeatStatus::Available,
        }
    }
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A seat as a booking names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedSeat {
    pub id: SeatId,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub id: BookingId,
    pub code: BookingCode,
    pub event_id: EventId,
    pub phase_id: PhaseId,
    /// The phase's name when the booking was made.
    pub ticket_type: String,
    pub customer_id: UserId,
    pub seats: Vec<BookedSeat>,
    pub unit_price: Money,
    pub total_price: Money,
    pub status: BookingStatus,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub checked_in_at: Option<Timestamp>,
    /// Who let the guest in; unknown for check-ins recorded before it was kept.
    pub checked_in_by: Option<UserId>,
}

impl Booking {
    pub fn quantity(&self) -> u32 {
        self.seats.len() as u32
    }

    /// When the door list last saw this booking change (paid, checked in, cancelled or
    /// refunded); `None` for a booking never paid, which no door list shows.
    pub fn door_change(&self) -> Option<Timestamp> {
        let paid = self.paid_at?;
        Some(
            [self.checked_in_at, self.cancelled_at]
                .into_iter()
                .flatten()
                .fold(paid, Timestamp::max),
        )
    }

    pub fn seat_labels(&self) -> Vec<String> {
        self.seats.iter().map(|seat| seat.label.clone()).collect()
    }

    /// Whether this booking is a pending hold whose time has run out.
    pub fn hold_has_lapsed(&self, now: Timestamp) -> bool {
        self.status == BookingStatus::Pending && hold_runs_out_by(self.expires_at, now)
    }

    /// The status as of `now`: a lapsed hold reads as expired even before the store records it.
    pub fn status_at(&self, now: Timestamp) -> BookingStatus {
        if self.hold_has_lapsed(now) {
            BookingStatus::Expired
        } else {
            self.status
        }
    }

    /// Ends a lapsed hold. Returns whether anything changed.
    pub fn expire(&mut self, now: Timestamp) -> bool {
        if self.hold_has_lapsed(now) {
            self.status = BookingStatus::Expired;
            true
        } else {
            false
        }
    }

    /// Confirms a pending booking paid with `payment`; returns the change to hand back.
    pub fn pay(&mut self, payment: &PaymentInput, now: Timestamp) -> Result<Money, PayRejection> {
        match self.status_at(now) {
            BookingStatus::Pending => {}
            BookingStatus::Expired => {
                return Err(PayRejection::NotPending {
                    status: BookingStatus::Expired,
                })
            }
            status => return Err(PayRejection::NotPending { status }),
        }
        if payment.amount < self.total_price {
            return Err(PayRejection::AmountTooLow {
                required: self.total_price,
                given: payment.amount,
            });
        }
        self.status = BookingStatus::Confirmed;
        self.paid_at = Some(now);
        Ok(payment.amount - self.total_price)
    }

    /// Cancels a pending or confirmed booking. Returns whether a payment must be refunded.
    pub fn cancel(
        &mut self,
        event_date: Timestamp,
        now: Timestamp,
    ) -> Result<CancelOutcome, CancelRejection> {
        let outcome = match self.status_at(now) {
            BookingStatus::Pending => CancelOutcome::Released,
            BookingStatus::Confirmed => {
                if let Some(at) = self.checked_in_at {
                    return Err(CancelRejection::CheckedIn { at });
                }
                if event_date <= now {
                    return Err(CancelRejection::EventStarted);
                }
                CancelOutcome::Refund
            }
            status => return Err(CancelRejection::NotOpen { status }),
        };
        self.status = BookingStatus::Cancelled;
        self.cancelled_at = Some(now);
        Ok(outcome)
    }

    /// Cancels an open booking because its event was cancelled: confirmed ones are always refunded.
    pub fn cancel_with_event(&mut self, now: Timestamp) -> Option<CancelOutcome> {
        let outcome = outcome_of_event_cancellation(self.status_at(now))?;
        self.status = BookingStatus::Cancelled;
        self.cancelled_at = Some(now);
        Some(outcome)
    }

    /// Lets a paid guest in, once; `by` is the member of the door staff who scanned the ticket.
    pub fn check_in(&mut self, now: Timestamp, by: UserId) -> Result<(), CheckInRejection> {
        match self.status_at(now) {
            BookingStatus::Confirmed => {}
            status => return Err(CheckInRejection::NotPaid { status }),
        }
        if let Some(at) = self.checked_in_at {
            return Err(CheckInRejection::AlreadyCheckedIn {
                at,
                by: self.checked_in_by,
            });
        }
        self.checked_in_at = Some(now);
        self.checked_in_by = Some(by);
        Ok(())
    }
}

/// What cancelling its event does to a booking of this status: a paid booking is refunded, even
/// after check-in (the show is not happening); a hold is released; others are left as they are.
pub fn outcome_of_event_cancellation(status: BookingStatus) -> Option<CancelOutcome> {
    match status {
        BookingStatus::Pending => Some(CancelOutcome::Released),
        BookingStatus::Confirmed => Some(CancelOutcome::Refund),
        BookingStatus::Expired | BookingStatus::Cancelled => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// A pending hold let go: nothing was paid.
    Released,
    /// A paid booking: its payment is refunded.
    Refund,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayRejection {
    #[error("booking is {status}, only a pending booking can be paid")]
    NotPending { status: BookingStatus },
    #[error("amount {given} is less than the {required} due")]
    AmountTooLow { required: Money, given: Money },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelRejection {
    #[error("booking is {status} and can no longer be cancelled")]
    NotOpen { status: BookingStatus },
    #[error("booking was checked in at {at} and can no longer be cancelled")]
    CheckedIn { at: Timestamp },
    #[error("the event has started, so a paid booking can no longer be cancelled")]
    EventStarted,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckInRejection {
    #[error("Ticket already used at {at}")]
    AlreadyCheckedIn {
        at: Timestamp,
        /// Who let the guest in, when known.
        by: Option<UserId>,
    },
    #[error("booking is {status}, only a paid booking can be checked in")]
    NotPaid { status: BookingStatus },
}

/// The most seats one booking may ever hold, whatever the operator configures.
pub const MOST_SEATS_PER_BOOKING: u32 = 100;

/// The limits an operator configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingPolicy {
    pub max_seats_per_booking: u32,
    /// Pending or confirmed tickets one customer may hold per event; 0 means no limit.
    pub max_tickets_per_user: u32,
    pub hold: Duration,
    /// Holds of one event a customer may give up (let lapse, or cancel unpaid) within
    /// `abandoned_hold_window` before they may not hold its seats again until the oldest of
    /// them is that old: holding seats to keep others from them is a way to grief a show. 0
    /// means no limit.
    pub max_abandoned_holds: u32,
    pub abandoned_hold_window: Duration,
}

impl Default for BookingPolicy {
    fn default() -> Self {
        BookingPolicy {
            max_seats_per_booking: 10,
            max_tickets_per_user: 3,
            hold: Duration::minutes(15),
            max_abandoned_holds: 3,
            abandoned_hold_window: Duration::hours(6),
        }
    }
}

impl BookingPolicy {
    /// The earliest creation time of a booking whose hold could count as abandoned now: the
    /// store reads the customer's unpaid bookings of the event made since then.
    pub fn unpaid_bookings_read_since(&self, now: Timestamp) -> Timestamp {
        now - self.abandoned_hold_window - self.hold
    }
}

/// Whether a hold that expires at `expires_at` has run out at `now`: at its expiry instant it has.
fn hold_runs_out_by(expires_at: Timestamp, now: Timestamp) -> bool {
    now >= expires_at
}

/// The latest expiry of a hold that has run out at `now`: a store looks for lapsed holds among
/// the pending ones expiring at or before it, and lets [`Booking::expire`] decide each.
pub fn latest_lapsed_expiry(now: Timestamp) -> Timestamp {
    now
}

/// One of the customer's bookings of the event that was never paid, as the abandoned-hold rule
/// reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpaidBooking {
    pub status: BookingStatus,
    pub expires_at: Timestamp,
    pub cancelled_at: Option<Timestamp>,
}

impl UnpaidBooking {
    /// When its hold was given up: cancelled while pending, or run out unpaid (a lapsed hold
    /// not yet marked expired counts too); `None` for a hold still running.
    pub fn abandoned_at(&self, now: Timestamp) -> Option<Timestamp> {
        match self.status {
            BookingStatus::Cancelled => self.cancelled_at,
            BookingStatus::Expired => Some(self.expires_at),
            BookingStatus::Pending if hold_runs_out_by(self.expires_at, now) => {
                Some(self.expires_at)
            }
            BookingStatus::Pending | BookingStatus::Confirmed => None,
        }
    }
}

/// A customer's request for seats, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    pub customer_id: UserId,
    pub event_id: EventId,
    pub seat_ids: Vec<SeatId>,
    pub phase_id: Option<PhaseId>,
    pub quantity: Option<i64>,
}

impl BookingRequest {
    /// The checks that need nothing but the request: how many seats, each once, quantity agreeing.
    pub fn check_shape(&self, policy: &BookingPolicy) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let count = self.seat_ids.len();
        if count == 0 || count > policy.max_seats_per_booking as usize {
            errors.add(
                "seat_ids",
                format!("must list 1 to {} seats", policy.max_seats_per_booking),
            );
        }
        let distinct: BTreeSet<SeatId> = self.seat_ids.iter().copied().collect();
        if distinct.len() != count {
            errors.add("seat_ids", "must not list a seat twice");
        }
        if let Some(quantity) = self.quantity {
            if quantity != count as i64 {
                errors.add(
                    "quantity",
                    format!("is {quantity} but {count} seats were chosen"),
                );
            }
        }
        errors.into_result(|| ())
    }
}

/// One requested seat of the event and its current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatState {
    pub seat: Seat,
    pub status: SeatStatus,
}

/// What the store has read, under its lock, for deciding one booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingSnapshot {
    pub event: Event,
    pub sales: PhaseSales,
    /// The requested seats that belong to the event, with their state.
    pub seats: Vec<SeatState>,
    /// Tickets of this customer's pending and confirmed bookings for this event.
    pub tickets_held_by_customer: u32,
    /// This customer's bookings of this event never paid, made since
    /// `BookingPolicy::unpaid_bookings_read_since`.
    pub unpaid_bookings_of_customer: Vec<UnpaidBooking>,
}

/// The store's instructions for writing an accepted booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingDecision {
    pub phase_id: PhaseId,
    pub ticket_type: String,
    pub unit_price: Money,
    pub total_price: Money,
    pub seats: Vec<BookedSeat>,
    pub expires_at: Timestamp,
}

impl BookingDecision {
    /// The booking to store once the store has an id and a code for it.
    pub fn into_booking(
        self,
        id: BookingId,
        code: BookingCode,
        request: &BookingRequest,
        now: Timestamp,
    ) -> Booking {
        Booking {
            id,
            code,
            event_id: request.event_id,
            phase_id: self.phase_id,
            ticket_type: self.ticket_type,
            customer_id: request.customer_id,
            seats: self.seats,
            unit_price: self.unit_price,
            total_price: self.total_price,
            status: BookingStatus::Pending,
            created_at: now,
            expires_at: self.expires_at,
            paid_at: None,
            cancelled_at: None,
            checked_in_at: None,
            checked_in_by: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingRejection {
    /// The request itself is malformed (no seats, too many, a seat twice, a wrong quantity).
    #[error("{0}")]
    Malformed(ValidationErrors),
    #[error("the event is {status} and no longer sells tickets")]
    EventNotOnSale { status: &'static str },
    #[error("seats {} are not part of this event", join_ids(.ids))]
    UnknownSeats { ids: Vec<SeatId> },
    #[error("{} already taken", describe_taken(.seats))]
    SeatsTaken { seats: Vec<BookedSeat> },
    #[error("phase {id} is not a price phase of this event")]
    UnknownPhase { id: PhaseId },
    #[error("no price phase is on sale right now")]
    NoPhaseOnSale,
    #[error("the \"{name}\" phase is not on sale right now")]
    PhaseNotOnSale { name: String },
    #[error(
        "only {remaining} tickets are left in the \"{name}\" phase, {requested} were requested"
    )]
    QuotaExhausted {
        name: String,
        remaining: u32,
        requested: u32,
    },
    #[error("a customer may hold at most {limit} tickets for this event; you hold {held} and asked for {requested}")]
    TicketLimit {
        limit: u32,
        held: u32,
        requested: u32,
    },
    #[error("the total price is too large")]
    PriceOverflow,
    #[error(
        "you have given up {abandoned} holds of this show lately (let them run out or cancelled them unpaid); you may hold its seats again in {} minutes",
        wait.num_minutes().max(1)
    )]
    TooManyAbandonedHolds { abandoned: u32, wait: Duration },
}

fn join_ids(ids: &[SeatId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_taken(seats: &[BookedSeat]) -> String {
    let labels = seats
        .iter()
        .map(|seat| seat.label.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if seats.len() == 1 {
        format!("seat {labels} is")
    } else {
        format!("seats {labels} are")
    }
}

/// Refuses a customer who has given up too many holds of the event lately, until the oldest of
/// them is old enough.
fn check_abandoned_holds(
    snapshot: &BookingSnapshot,
    policy: &BookingPolicy,
    now: Timestamp,
) -> Result<(), BookingRejection> {
    if policy.max_abandoned_holds == 0 {
        return Ok(());
    }
    let since = now - policy.abandoned_hold_window;
    let abandoned: Vec<Timestamp> = snapshot
        .unpaid_bookings_of_customer
        .iter()
        .filter_map(|booking| booking.abandoned_at(now))
        .filter(|at| *at > since)
        .collect();
    match abandoned.iter().min() {
        Some(oldest) if abandoned.len() as u32 >= policy.max_abandoned_holds => {
            Err(BookingRejection::TooManyAbandonedHolds {
                abandoned: abandoned.len() as u32,
                wait: *oldest - since,
            })
        }
        _ => Ok(()),
    }
}

/// Decides a booking on a consistent snapshot: the one place where seats, phase, quota and the
/// per-customer limit are weighed. The store calls it under its lock and writes what it returns.
pub fn decide(
    snapshot: &BookingSnapshot,
    request: &BookingRequest,
    policy: &BookingPolicy,
    now: Timestamp,
) -> Result<BookingDecision, BookingRejection> {
    request
        .check_shape(policy)
        .map_err(BookingRejection::Malformed)?;
    let event = &snapshot.event;
    match event.shown_status(now) {
        ShownStatus::Published if event.status == EventStatus::Published => {}
        status => {
            return Err(BookingRejection::EventNotOnSale {
                status: status.as_str(),
            })
        }
    }

    check_abandoned_holds(snapshot, policy, now)?;

    let unknown: Vec<SeatId> = request
        .seat_ids
        .iter()
        .filter(|id| !snapshot.seats.iter().any(|state| state.seat.id == **id))
        .copied()
        .collect();
    if !unknown.is_empty() {
        return Err(BookingRejection::UnknownSeats { ids: unknown });
    }
    let taken: Vec<BookedSeat> = snapshot
        .seats
        .iter()
        .filter(|state| state.status != SeatStatus::Available)
        .map(|state| BookedSeat {
            id: state.seat.id,
            label: state.seat.label(),
        })
        .collect();
    if !taken.is_empty() {
        return Err(BookingRejection::SeatsTaken { seats: taken });
    }

    let quantity = request.seat_ids.len() as u32;
    let phase = match request.phase_id {
        Some(id) => {
            let phase = event
                .phase(id)
                .ok_or(BookingRejection::UnknownPhase { id })?;
            if !snapshot.sales.is_on_sale(phase, now) {
                return Err(BookingRejection::PhaseNotOnSale {
                    name: phase.name.clone(),
                });
            }
            phase
        }
        None => current_phase(&event.phases, &snapshot.sales, now)
            .ok_or(BookingRejection::NoPhaseOnSale)?,
    };
    let remaining = snapshot.sales.remaining(phase);
    if remaining < quantity {
        return Err(BookingRejection::QuotaExhausted {
            name: phase.name.clone(),
            remaining,
            requested: quantity,
        });
    }

    let limit = policy.max_tickets_per_user;
    let held = snapshot.tickets_held_by_customer;
    if limit > 0 && held.saturating_add(quantity) > limit {
        return Err(BookingRejection::TicketLimit {
            limit,
            held,
            requested: quantity,
        });
    }

    let total_price = phase
        .price
        .times(quantity)
        .ok_or(BookingRejection::PriceOverflow)?;
    let mut seats: Vec<&SeatState> = snapshot.seats.iter().collect();
    seats.sort_by_key(|state| (state.seat.position.row_index, state.seat.position.number));
    Ok(BookingDecision {
        phase_id: phase.id,
        ticket_type: phase.name.clone(),
        unit_price: phase.price,
        total_price,
        seats: seats
            .into_iter()
            .map(|state| BookedSeat {
                id: state.seat.id,
                label: state.seat.label(),
            })
            .collect(),
        expires_at: now + policy.hold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Phase;
    use crate::seat::SeatPosition;
    use chrono::{TimeZone, Utc};

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
    }

    fn event() -> Event {
        let phase = |id: i64, name: &str, price: i64, quota: u32, end_days: i64| Phase {
            id: PhaseId(id),
            name: name.into(),
            price: Money::rupiah(price),
            quota,
            start_date: now() - Duration::days(1),
            end_date: now() + Duration::days(end_days),
        };
        Event {
            id: EventId(7),
            name: "Show".into(),
            description: None,
            date: now() + Duration::days(30),
            venue: "Hall".into(),
            image: None,
            capacity: 20,
            seats_per_row: 10,
            status: EventStatus::Published,
            phases: vec![
                phase(1, "Early Bird", 100_000, 2, 5),
                phase(2, "Normal", 150_000, 18, 29),
            ],
            created_at: now(),
        }
    }

    fn seat(id: i64, index: u32, status: SeatStatus) -> SeatState {
        SeatState {
            seat: Seat {
                id: SeatId(id),
                position: SeatPosition {
                    row_index: index / 10,
                    number: index % 10 + 1,
                },
            },
            status,
        }
    }

    fn snapshot(seats: Vec<SeatState>) -> BookingSnapshot {
        BookingSnapshot {
            event: event(),
            sales: PhaseSales::new(),
            seats,
            tickets_held_by_customer: 0,
            unpaid_bookings_of_customer: Vec::new(),
        }
    }

    fn request(seat_ids: &[i64], phase_id: Option<i64>) -> BookingRequest {
        BookingRequest {
            customer_id: UserId(3),
            event_id: EventId(7),
            seat_ids: seat_ids.iter().map(|id| SeatId(*id)).collect(),
            phase_id: phase_id.map(PhaseId),
            quantity: None,
        }
    }

    #[test]
    fn a_booking_gets_the_current_phase_and_its_price() {
        let snap = snapshot(vec![
            seat(12, 11, SeatStatus::Available),
            seat(11, 10, SeatStatus::Available),
        ]);
        let decision = decide(
            &snap,
            &request(&[12, 11], None),
            &BookingPolicy::default(),
            now(),
        )
        .unwrap();
        assert_eq!(decision.phase_id, PhaseId(1));
        assert_eq!(decision.ticket_type, "Early Bird");
        assert_eq!(decision.total_price, Money::rupiah(200_000));
        assert_eq!(
            decision
                .seats
                .iter()
                .map(|s| s.label.as_str())
                .collect::<Vec<_>>(),
            ["B1", "B2"]
        );
        assert_eq!(decision.expires_at, now() + Duration::minutes(15));
    }

    #[test]
    fn a_sold_out_phase_gives_way_or_refuses() {
        let mut snap = snapshot(vec![seat(1, 0, SeatStatus::Available)]);
        snap.sales.add(PhaseId(1), 2);
        let decision = decide(
            &snap,
            &request(&[1], None),
            &BookingPolicy::default(),
            now(),
        )
        .unwrap();
        assert_eq!(decision.phase_id, PhaseId(2));
        assert_eq!(
            decide(
                &snap,
                &request(&[1], Some(1)),
                &BookingPolicy::default(),
                now()
            ),
            Err(BookingRejection::PhaseNotOnSale {
                name: "Early Bird".into()
            })
        );
    }

    #[test]
    fn quota_must_cover_the_whole_booking() {
        let mut snap = snapshot(vec![
            seat(1, 0, SeatStatus::Available),
            seat(2, 1, SeatStatus::Available),
        ]);
        snap.sales.add(PhaseId(1), 1);
        assert_eq!(
            decide(
                &snap,
                &request(&[1, 2], Some(1)),
                &BookingPolicy::default(),
                now()
            ),
            Err(BookingRejection::QuotaExhausted {
                name: "Early Bird".into(),
                remaining: 1,
                requested: 2
            })
        );
    }

    #[test]
    fn taken_and_foreign_seats_are_named() {
        let snap = snapshot(vec![
            seat(1, 0, SeatStatus::Held),
            seat(2, 1, SeatStatus::Sold),
            seat(3, 2, SeatStatus::Available),
        ]);
        let rejection = decide(
            &snap,
            &request(&[1, 2, 3], None),
            &BookingPolicy::default(),
            now(),
        )
        .unwrap_err();
        assert_eq!(rejection.to_string(), "seats A1, A2 are already taken");
        let rejection = decide(
            &snap,
            &request(&[3, 99], None),
            &BookingPolicy::default(),
            now(),
        )
        .unwrap_err();
        assert_eq!(
            rejection,
            BookingRejection::UnknownSeats {
                ids: vec![SeatId(99)]
            }
        );
    }

    #[test]
    fn per_customer_limit_counts_tickets_already_held() {
        let mut snap = snapshot(vec![
            seat(1, 0, SeatStatus::Available),
            seat(2, 1, SeatStatus::Available),
        ]);
        snap.tickets_held_by_customer = 2;
        let policy = BookingPolicy::default();
        assert_eq!(
            decide(&snap, &request(&[1, 2], None), &policy, now()),
            Err(BookingRejection::TicketLimit {
                limit: 3,
                held: 2,
                requested: 2
            })
        );
        assert!(decide(&snap, &request(&[1], None), &policy, now()).is_ok());
        let unlimited = BookingPolicy {
            max_tickets_per_user: 0,
            ..policy
        };
        snap.tickets_held_by_customer = 1_000;
        assert!(decide(&snap, &request(&[1, 2], None), &unlimited, now()).is_ok());
    }

    #[test]
    fn only_published_future_events_sell() {
        let mut snap = snapshot(vec![seat(1, 0, SeatStatus::Available)]);
        snap.event.status = EventStatus::Cancelled;
        assert_eq!(
            decide(
                &snap,
                &request(&[1], None),
                &BookingPolicy::default(),
                now()
            ),
            Err(BookingRejection::EventNotOnSale {
                status: "cancelled"
            })
        );
        snap.event.status = EventStatus::Published;
        let after_show = snap.event.date + Duration::minutes(1);
        assert_eq!(
            decide(
                &snap,
                &request(&[1], None),
                &BookingPolicy::default(),
                after_show
            ),
            Err(BookingRejection::EventNotOnSale { status: "ended" })
        );
    }

    #[test]
    fn a_malformed_request_is_never_decided() {
        let snap = snapshot(vec![seat(1, 0, SeatStatus::Available)]);
        let twice = request(&[1, 1], None);
        assert!(matches!(
            decide(&snap, &twice, &BookingPolicy::default(), now()),
            Err(BookingRejection::Malformed(_))
        ));
    }

    #[test]
    fn request_shape_is_checked_before_any_lookup() {
        let policy = BookingPolicy {
            max_seats_per_booking: 2,
            ..BookingPolicy::default()
        };
        assert!(request(&[], None).check_shape(&policy).is_err());
        assert!(request(&[1, 2, 3], None).check_shape(&policy).is_err());
        assert!(request(&[1, 1], None).check_shape(&policy).is_err());
        let mut with_quantity = request(&[1, 2], None);
        with_quantity.quantity = Some(3);
        assert!(with_quantity.check_shape(&policy).is_err());
        with_quantity.quantity = Some(2);
        assert!(with_quantity.check_shape(&policy).is_ok());
    }

    fn booking() -> Booking {
        let snap = snapshot(vec![seat(1, 0, SeatStatus::Available)]);
        let req = request(&[1], None);
        decide(&snap, &req, &BookingPolicy::default(), now())
            .unwrap()
            .into_booking(
                BookingId(1),
                BookingCode::from_random([0, 1, 2, 3, 4]),
                &req,
                now(),
            )
    }

    fn payment(amount: i64) -> PaymentInput {
        PaymentInput {
            amount: Money::rupiah(amount),
            method: "Cash".into(),
        }
    }

    #[test]
    fn the_lapsed_holds_a_store_selects_are_those_expire_ends() {
        let hold = booking();
        let at = |instant: Timestamp| {
            let mut booking = hold.clone();
            (
                booking.expire(instant),
                booking.expires_at <= latest_lapsed_expiry(instant),
            )
        };
        let expiry = hold.expires_at;
        assert_eq!(at(expiry - Duration::microseconds(1)), (false, false));
        assert_eq!(at(expiry), (true, true), "a hold has run out at its expiry");
        assert_eq!(at(expiry + Duration::microseconds(1)), (true, true));
    }

    #[test]
    fn only_a_paid_booking_has_a_ticket() {
        use crate::ticket::TicketClaims;
        let mut b = booking();
        assert_eq!(TicketClaims::of(&b), None, "pending: no ticket yet");
        b.pay(&payment(100_000), now()).unwrap();
        let ticket = TicketClaims::of(&b).expect("a paid booking's ticket");
        assert_eq!(ticket.code, b.code);
        assert_eq!(ticket.event, b.event_id);
        assert_eq!(ticket.seats, b.seat_labels());
        assert_eq!(ticket.issued_at, now());
        b.cancel(now() + Duration::days(30), now()).unwrap();
        assert_eq!(TicketClaims::of(&b), None, "cancelled: no ticket any more");
    }

    #[test]
    fn paying_confirms_once_and_gives_change() {
        let mut b = booking();
        assert_eq!(
            b.pay(&payment(99_999), now()),
            Err(PayRejection::AmountTooLow {
                required: Money::rupiah(100_000),
                given: Money::rupiah(99_999)
            })
        );
        assert_eq!(b.pay(&payment(120_000), now()), Ok(Money::rupiah(20_000)));
        assert_eq!(b.status, BookingStatus::Confirmed);
        assert_eq!(
            b.pay(&payment(120_000), now()),
            Err(PayRejection::NotPending {
                status: BookingStatus::Confirmed
            })
        );
    }

    #[test]
    fn a_lapsed_hold_expires_and_cannot_be_paid() {
        let mut b = booking();
        let late = b.expires_at;
        assert_eq!(b.status_at(late), BookingStatus::Expired);
        assert_eq!(
            b.pay(&payment(100_000), late),
            Err(PayRejection::NotPending {
                status: BookingStatus::Expired
            })
        );
        assert!(!b.expire(late - Duration::seconds(1)));
        assert!(b.expire(late));
        assert_eq!(b.status, BookingStatus::Expired);
        assert!(!b.expire(late), "expiring twice changes nothing");
    }

    #[test]
    fn check_in_happens_once_and_only_when_paid() {
        let mut b = booking();
        assert_eq!(
            b.check_in(now(), UserId(5)),
            Err(CheckInRejection::NotPaid {
                status: BookingStatus::Pending
            })
        );
        b.pay(&payment(100_000), now()).unwrap();
        assert_eq!(b.check_in(now(), UserId(5)), Ok(()));
        let later = now() + Duration::minutes(1);
        assert_eq!(
            b.check_in(later, UserId(6)),
            Err(CheckInRejection::AlreadyCheckedIn {
                at: now(),
                by: Some(UserId(5))
            })
        );
    }

    #[test]
    fn cancelling_follows_the_status() {
        let event_date = now() + Duration::days(30);
        let mut pending = booking();
        assert_eq!(
            pending.cancel(event_date, now()),
            Ok(CancelOutcome::Released)
        );
        assert_eq!(
            pending.cancel(event_date, now()),
            Err(CancelRejection::NotOpen {
                status: BookingStatus::Cancelled
            })
        );

        let mut paid = booking();
        paid.pay(&payment(100_000), now()).unwrap();
        assert_eq!(
            paid.clone().cancel(now(), now()),
            Err(CancelRejection::EventStarted)
        );
        assert_eq!(
            paid.clone().cancel(event_date, now()),
            Ok(CancelOutcome::Refund)
        );
        paid.check_in(now(), UserId(5)).unwrap();
        assert_eq!(
            paid.cancel(event_date, now()),
            Err(CancelRejection::CheckedIn { at: now() })
        );

        let mut lapsed = booking();
        let late = lapsed.expires_at;
        assert_eq!(
            lapsed.cancel(event_date, late),
            Err(CancelRejection::NotOpen {
                status: BookingStatus::Expired
            })
        );
    }

    #[test]
    fn booking_codes_avoid_look_alikes_and_ignore_case() {
        for forbidden in b"01OIL" {
            assert!(!CODE_ALPHABET.contains(forbidden));
        }
        assert_eq!(
            BookingCode::parse("bkg-7xk2p").unwrap().as_str(),
            "BKG-7XK2P"
        );
        for bad in [
            "BKG-7XK2",
            "BKG-7XK2PP",
            "BKG-0XK2P",
            "XYZ-7XK2P",
            "BKG7XK2P",
            "",
        ] {
            assert!(BookingCode::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            BookingCode::from_random([0, 30, 31, 62, 4]).as_str(),
            "BKG-A9AAE"
        );
    }

    #[test]
    fn a_customer_who_keeps_giving_up_holds_waits_until_the_oldest_is_old_enough() {
        let policy = BookingPolicy::default();
        let window = policy.abandoned_hold_window;
        let lapsed = |minutes_ago: i64| UnpaidBooking {
            status: BookingStatus::Expired,
            expires_at: now() - Duration::minutes(minutes_ago),
            cancelled_at: None,
        };
        let cancelled = |minutes_ago: i64| UnpaidBooking {
            status: BookingStatus::Cancelled,
            expires_at: now() + Duration::minutes(10),
            cancelled_at: Some(now() - Duration::minutes(minutes_ago)),
        };
        let lapsed_unmarked = UnpaidBooking {
            status: BookingStatus::Pending,
            expires_at: now(),
            cancelled_at: None,
        };
        let running = UnpaidBooking {
            status: BookingStatus::Pending,
            expires_at: now() + Duration::minutes(1),
            cancelled_at: None,
        };
        let decide_with = |unpaid: Vec<UnpaidBooking>, policy: &BookingPolicy| {
            let mut snap = snapshot(vec![seat(11, 10, SeatStatus::Available)]);
            snap.unpaid_bookings_of_customer = unpaid;
            decide(&snap, &request(&[11], None), policy, now())
        };
        assert!(decide_with(vec![lapsed(30), cancelled(5), running], &policy).is_ok());
        assert_eq!(
            decide_with(vec![lapsed(90), cancelled(5), lapsed_unmarked], &policy),
            Err(BookingRejection::TooManyAbandonedHolds {
                abandoned: 3,
                wait: window - Duration::minutes(90),
            })
        );
        assert!(
            decide_with(
                vec![lapsed(window.num_minutes()), cancelled(5), lapsed(1)],
                &policy
            )
            .is_ok(),
            "a hold given up a whole window ago no longer counts"
        );
        let unlimited = BookingPolicy {
            max_abandoned_holds: 0,
            ..policy
        };
        assert!(decide_with(vec![lapsed(1); 10], &unlimited).is_ok());
    }
}
