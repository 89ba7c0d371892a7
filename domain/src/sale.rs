//! A show's sale as a store keeps it: the figures each booking counts for, and the state several
//! booking decisions are taken against in turn.
//!
//! A store that writes many bookings of one show at once (one transaction for a batch of buyers)
//! reads the show once, under its lock, into a [`ShowSale`], lets it decide each request against
//! what the requests before it took, and writes what it returns. A store that keeps running totals
//! (the dashboard's, the phases' sold tickets) moves them by [`FigureShare::change_to`]: the one
//! place that says what a booking's status counts for.

use std::collections::BTreeMap;

use crate::booking::{
    decide, Booking, BookingDecision, BookingPolicy, BookingRejection, BookingRequest,
    BookingSnapshot, BookingStatus, SeatState, UnpaidBooking,
};
use crate::event::{Event, PhaseSales};
use crate::money::Money;
use crate::seat::{SeatId, SeatStatus};
use crate::user::UserId;
use crate::Timestamp;

/// What one booking counts for in its show's figures, by its status. A show's figures are the
/// sums of its bookings' shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FigureShare {
    /// Tickets whose seats it holds (pending or confirmed): the show's seats taken, and its
    /// phase's tickets counted against the quota.
    pub seats_held: i64,
    /// 1 while it is a pending hold.
    pub pending_bookings: i64,
    /// Tickets paid for and not cancelled.
    pub tickets_sold: i64,
    /// What was paid for it, while it stands.
    pub revenue: Money,
    /// Tickets let in at the door.
    pub tickets_checked_in: i64,
    /// How its seats show on the seat map.
    pub seats_shown_as: SeatStatus,
}

impl FigureShare {
    /// A booking's share as its status stands.
    pub fn of(booking: &Booking) -> FigureShare {
        let tickets = i64::from(booking.quantity());
        let when = |counts: bool, value: i64| if counts { value } else { 0 };
        let confirmed = booking.status == BookingStatus::Confirmed;
        FigureShare {
            seats_held: when(booking.status.holds_seats(), tickets),
            pending_bookings: when(booking.status == BookingStatus::Pending, 1),
            tickets_sold: when(confirmed, tickets),
            revenue: if confirmed {
                booking.total_price
            } else {
                Money::ZERO
            },
            tickets_checked_in: when(booking.checked_in_at.is_some(), tickets),
            seats_shown_as: booking.status.seats_shown_as(),
        }
    }

    /// The share of a booking that does not exist yet.
    pub const NONE: FigureShare = FigureShare {
        seats_held: 0,
        pending_bookings: 0,
        tickets_sold: 0,
        revenue: Money::ZERO,
        tickets_checked_in: 0,
        seats_shown_as: SeatStatus::Available,
    };

    /// What a show's figures move by when one booking's share goes from this to `after`.
    pub fn change_to(self, after: FigureShare) -> FiguresChange {
        FiguresChange {
            seats_held: after.seats_held - self.seats_held,
            pending_bookings: after.pending_bookings - self.pending_bookings,
            tickets_sold: after.tickets_sold - self.tickets_sold,
            revenue: Money::rupiah(after.revenue.amount() - self.revenue.amount()),
            tickets_checked_in: after.tickets_checked_in - self.tickets_checked_in,
            seat_map_moved: after.seats_shown_as != self.seats_shown_as,
        }
    }
}

/// How a show's figures move with one booking's change: each a difference to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiguresChange {
    pub seats_held: i64,
    pub pending_bookings: i64,
    pub tickets_sold: i64,
    pub revenue: Money,
    pub tickets_checked_in: i64,
    /// Whether its seats show differently on the seat map: the map's version moves.
    pub seat_map_moved: bool,
}

impl FiguresChange {
    /// What a booking's change moves: from its share before to its share after.
    pub fn of(before: Option<&Booking>, after: &Booking) -> FiguresChange {
        before
            .map_or(FigureShare::NONE, FigureShare::of)
            .change_to(FigureShare::of(after))
    }

    pub fn is_none(&self) -> bool {
        *self == FigureShare::NONE.change_to(FigureShare::NONE)
    }
}

/// A customer's standing in one show, as the booking rules weigh it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerTickets {
    /// Tickets of their pending and confirmed bookings.
    pub held: u32,
    /// Their bookings never paid, made since `BookingPolicy::unpaid_bookings_read_since`.
    pub unpaid: Vec<UnpaidBooking>,
}

/// One of a customer's bookings of a show, as the rules on their tickets weigh it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerBooking {
    pub status: BookingStatus,
    pub tickets: u32,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
}

impl CustomerTickets {
    /// A customer's standing from their bookings of the show, as of `now`.
    pub fn of(
        bookings: impl IntoIterator<Item = CustomerBooking>,
        policy: &BookingPolicy,
        now: Timestamp,
    ) -> CustomerTickets {
        let unpaid_since = policy.unpaid_bookings_read_since(now);
        let mut standing = CustomerTickets::default();
        for booking in bookings {
            if booking.status.holds_seats() {
                standing.held += booking.tickets;
            }
            if booking.paid_at.is_none() && booking.created_at >= unpaid_since {
                standing.unpaid.push(UnpaidBooking {
                    status: booking.status,
                    expires_at: booking.expires_at,
                    cancelled_at: booking.cancelled_at,
                });
            }
        }
        standing
    }
}

/// A show's sale as a store read it under its lock, for deciding several bookings in turn.
#[derive(Debug, Clone)]
pub struct ShowSale {
    event: Event,
    sales: PhaseSales,
    /// The seats the requests name that belong to the show, with their state.
    seats: BTreeMap<SeatId, SeatState>,
    /// The customers who ask; one not read counts as holding nothing.
    customers: BTreeMap<UserId, CustomerTickets>,
}

impl ShowSale {
    pub fn new(
        event: Event,
        sales: PhaseSales,
        seats: impl IntoIterator<Item = SeatState>,
        customers: BTreeMap<UserId, CustomerTickets>,
    ) -> ShowSale {
        ShowSale {
            event,
            sales,
            seats: seats
                .into_iter()
                .map(|state| (state.seat.id, state))
                .collect(),
            customers,
        }
    }

    pub fn event(&self) -> &Event {
        &self.event
    }

    pub fn sales(&self) -> &PhaseSales {
        &self.sales
    }

    /// Decides `request` against the sale as it stands (`booking::decide`) and, when it is
    /// accepted, takes what it books: its seats, its phase's quota, the customer's tickets.
    pub fn place(
        &mut self,
        request: &BookingRequest,
        policy: &BookingPolicy,
        now: Timestamp,
    ) -> Result<BookingDecision, BookingRejection> {
        let customer = self.customers.entry(request.customer_id).or_default();
        let snapshot = BookingSnapshot {
            event: self.event.clone(),
            sales: self.sales.clone(),
            seats: request
                .seat_ids
                .iter()
                .filter_map(|id| self.seats.get(id).cloned())
                .collect(),
            tickets_held_by_customer: customer.held,
            unpaid_bookings_of_customer: customer.unpaid.clone(),
        };
        let decision = decide(&snapshot, request, policy, now)?;
        let tickets = decision.seats.len() as u32;
        for booked in &decision.seats {
            if let Some(state) = self.seats.get_mut(&booked.id) {
                state.status = SeatStatus::Held;
            }
        }
        self.sales.add(decision.phase_id, tickets);
        customer.held += tickets;
        customer.unpaid.push(UnpaidBooking {
            status: BookingStatus::Pending,
            expires_at: decision.expires_at,
            cancelled_at: None,
        });
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{BookedSeat, BookingCode, BookingId};
    use crate::event::{EventId, EventStatus, Phase, PhaseId};
    use crate::seat::{Seat, SeatPosition};
    use chrono::{Duration, TimeZone, Utc};

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
    }

    fn show(quota: u32) -> Event {
        Event {
            id: EventId(1),
            name: "Show".into(),
            description: None,
            date: now() + Duration::days(30),
            venue: "Hall".into(),
            image: None,
            capacity: 10,
            seats_per_row: 10,
            status: EventStatus::Published,
            phases: vec![Phase {
                id: PhaseId(1),
                name: "Normal".into(),
                price: Money::rupiah(100_000),
                quota,
                start_date: now() - Duration::days(1),
                end_date: now() + Duration::days(29),
            }],
            created_at: now(),
        }
    }

    fn seat(id: i64) -> SeatState {
        SeatState {
            seat: Seat {
                id: SeatId(id),
                position: SeatPosition {
                    row_index: 0,
                    number: id as u32,
                },
            },
            status: SeatStatus::Available,
        }
    }

    fn request(customer: i64, seats: &[i64]) -> BookingRequest {
        BookingRequest {
            customer_id: UserId(customer),
            event_id: EventId(1),
            seat_ids: seats.iter().map(|id| SeatId(*id)).collect(),
            phase_id: None,
            quantity: None,
        }
    }

    fn sale(quota: u32) -> ShowSale {
        ShowSale::new(
            show(quota),
            PhaseSales::new(),
            (1..=10).map(seat),
            BTreeMap::new(),
        )
    }

    #[test]
    fn each_request_is_decided_against_what_the_ones_before_it_took() {
        let mut sale = sale(10);
        let policy = BookingPolicy::default();
        assert!(sale.place(&request(1, &[1, 2]), &policy, now()).is_ok());
        assert!(matches!(
            sale.place(&request(2, &[2, 3]), &policy, now()),
            Err(BookingRejection::SeatsTaken { .. })
        ));
        // A refused request takes nothing: its free neighbour is still free.
        assert!(sale.place(&request(2, &[3]), &policy, now()).is_ok());
        // The customer's tickets count across the batch (3 at most by default).
        assert!(matches!(
            sale.place(&request(1, &[4, 5]), &policy, now()),
            Err(BookingRejection::TicketLimit { held: 2, .. })
        ));
        assert_eq!(sale.sales().sold(PhaseId(1)), 3);
    }

    #[test]
    fn the_quota_left_by_earlier_requests_bounds_later_ones() {
        let mut sale = sale(3);
        let policy = BookingPolicy::default();
        assert!(sale.place(&request(1, &[1, 2]), &policy, now()).is_ok());
        assert!(matches!(
            sale.place(&request(2, &[3, 4]), &policy, now()),
            Err(BookingRejection::NoPhaseOnSale | BookingRejection::QuotaExhausted { .. })
        ));
        assert!(sale.place(&request(2, &[3]), &policy, now()).is_ok());
    }

    fn booking(status: BookingStatus) -> Booking {
        Booking {
            id: BookingId(1),
            code: BookingCode::parse("BKG-ABCDE").unwrap(),
            event_id: EventId(1),
            phase_id: PhaseId(1),
            ticket_type: "Normal".into(),
            customer_id: UserId(1),
            seats: vec![
                BookedSeat {
                    id: SeatId(1),
                    label: "A1".into(),
                },
                BookedSeat {
                    id: SeatId(2),
                    label: "A2".into(),
                },
            ],
            unit_price: Money::rupiah(100_000),
            total_price: Money::rupiah(200_000),
            status,
            created_at: now(),
            expires_at: now() + Duration::minutes(15),
            paid_at: None,
            cancelled_at: None,
            checked_in_at: None,
            checked_in_by: None,
        }
    }

    #[test]
    fn figures_move_by_what_a_status_counts_for() {
        let pending = booking(BookingStatus::Pending);
        let placed = FiguresChange::of(None, &pending);
        assert_eq!(
            (
                placed.seats_held,
                placed.pending_bookings,
                placed.tickets_sold
            ),
            (2, 1, 0)
        );
        assert!(placed.seat_map_moved);

        let mut paid = pending.clone();
        paid.status = BookingStatus::Confirmed;
        paid.paid_at = Some(now());
        let payment = FiguresChange::of(Some(&pending), &paid);
        assert_eq!(
            (
                payment.seats_held,
                payment.pending_bookings,
                payment.tickets_sold,
                payment.revenue
            ),
            (0, -1, 2, Money::rupiah(200_000))
        );
        assert!(payment.seat_map_moved, "held seats now show as sold");

        let mut checked_in = paid.clone();
        checked_in.checked_in_at = Some(now());
        let door = FiguresChange::of(Some(&paid), &checked_in);
        assert_eq!(door.tickets_checked_in, 2);
        assert!(!door.seat_map_moved);

        let mut refunded = paid.clone();
        refunded.status = BookingStatus::Cancelled;
        refunded.cancelled_at = Some(now());
        let refund = FiguresChange::of(Some(&paid), &refunded);
        assert_eq!(
            (refund.seats_held, refund.tickets_sold, refund.revenue),
            (-2, -2, Money::rupiah(-200_000))
        );

        let mut expired = pending.clone();
        expired.status = BookingStatus::Expired;
        let expiry = FiguresChange::of(Some(&pending), &expired);
        assert_eq!((expiry.seats_held, expiry.pending_bookings), (-2, -1));
        assert!(FiguresChange::of(Some(&pending), &pending).is_none());
    }
}
