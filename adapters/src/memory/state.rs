//! The store's state and the bookkeeping that keeps its derived figures in step with its bookings.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use application::views::{BookingDetails, EventSummary, EventView};
use domain::booking::{latest_lapsed_expiry, Booking, BookingCode, BookingId, BookingStatus};
use domain::event::{Event, EventId, PhaseSales};
use domain::image::ImageUpload;
use domain::money::Money;
use domain::notification::Notice;
use domain::payment::{Payment, PaymentStatus};
use domain::sale::FigureShare;
use domain::seat::{Seat, SeatId, SeatStatus};
use domain::user::UserId;
use domain::Timestamp;

use super::audit::AuditTrail;
use super::notifications::Outbox;
use super::users::Users;

/// Everything the store holds. Only ever touched under the store's lock.
#[derive(Default)]
pub(super) struct State {
    pub users: Users,
    pub events: HashMap<EventId, EventRecord>,
    /// Every event, in list order.
    pub events_by_date: BTreeSet<(Timestamp, EventId)>,
    pub bookings: HashMap<BookingId, BookingRecord>,
    pub booking_ids_by_code: HashMap<BookingCode, BookingId>,
    /// The pending or confirmed booking that holds each seat.
    pub seat_holders: HashMap<SeatId, BookingId>,
    /// Pending bookings by the time their hold runs out, so expiry touches only lapsed ones.
    pub pending_by_expiry: BTreeSet<(Timestamp, BookingId)>,
    /// Every booking, oldest first.
    pub bookings_by_creation: BTreeSet<(Timestamp, BookingId)>,
    /// Each customer's bookings, oldest first.
    pub bookings_by_customer: HashMap<UserId, BTreeSet<(Timestamp, BookingId)>>,
    /// The dashboard's figures over all events.
    pub totals: Figures,
    pub ids: Sequences,
    /// Written by the commands it records, under the same lock.
    pub audit: AuditTrail,
    /// Events whose seat map moved in the command under way; told when the lock is let go.
    pub moved_seat_maps: Vec<EventId>,
    /// The outbox: notifications recorded with the changes they tell, and their deliveries.
    pub outbox: Outbox,
}

/// The last id handed out of each kind; ids start at 1.
#[derive(Default)]
pub(super) struct Sequences {
    user: i64,
    event: i64,
    phase: i64,
    seat: i64,
    booking: i64,
    payment: i64,
}

fn advance(last: &mut i64) -> i64 {
    *last += 1;
    *last
}

impl Sequences {
    pub fn next_user(&mut self) -> i64 {
        advance(&mut self.user)
    }
    pub fn next_event(&mut self) -> i64 {
        advance(&mut self.event)
    }
    pub fn next_phase(&mut self) -> i64 {
        advance(&mut self.phase)
    }
    pub fn next_seat(&mut self) -> i64 {
        advance(&mut self.seat)
    }
    pub fn next_booking(&mut self) -> i64 {
        advance(&mut self.booking)
    }
    pub fn next_payment(&mut self) -> i64 {
        advance(&mut self.payment)
    }
}

/// What the dashboard counts, kept per event and in total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Figures {
    /// Tickets of confirmed bookings.
    pub tickets_sold: u64,
    /// Totals of confirmed bookings: a confirmed booking's payment is never refunded, since a
    /// refund always comes with cancelling.
    pub revenue: Money,
    /// Tickets of bookings that were checked in.
    pub checked_in: u64,
}

impl Figures {
    /// The booking's share of them, as the domain counts it.
    fn of(booking: &Booking) -> Figures {
        let share = FigureShare::of(booking);
        let count = |tickets: i64| u64::try_from(tickets).unwrap_or(0);
        Figures {
            tickets_sold: count(share.tickets_sold),
            revenue: share.revenue,
            checked_in: count(share.tickets_checked_in),
        }
    }

    fn add(&mut self, other: Figures) {
        self.tickets_sold += other.tickets_sold;
        self.revenue = self.revenue + other.revenue;
        self.checked_in += other.checked_in;
    }

    fn subtract(&mut self, other: Figures) {
        self.tickets_sold = self.tickets_sold.saturating_sub(other.tickets_sold);
        self.revenue = self.revenue - other.revenue;
        self.checked_in = self.checked_in.saturating_sub(other.checked_in);
    }
}

/// An event, its seats and the figures derived from its bookings.
pub(super) struct EventRecord {
    /// Shared so that views can be assembled after the lock is released.
    pub event: Arc<Event>,
    /// The uploaded picture the event shows, if it shows one: kept apart from the event, so that
    /// lists and bookings never copy it, and shared, so that it is copied out after the lock is
    /// released.
    pub image_upload: Option<Arc<ImageUpload>>,
    /// In seat order, which is row, number order.
    pub seats: Vec<Seat>,
    /// Each seat's index in `seats`.
    pub seat_order: HashMap<SeatId, usize>,
    /// Tickets of pending and confirmed bookings per phase.
    pub sales: PhaseSales,
    /// Seats in pending or confirmed bookings.
    pub seats_taken: u32,
    pub figures: Figures,
    /// Tickets of each customer's pending and confirmed bookings; customers holding none are absent.
    pub tickets_by_customer: HashMap<UserId, u32>,
    /// Pending and confirmed bookings.
    pub open_bookings: BTreeSet<BookingId>,
    /// Bookings of any status ever made for the event.
    pub booking_count: u64,
    /// Moves whenever a seat is taken, freed, sold, added or removed.
    pub seat_map_version: u64,
}

impl EventRecord {
    pub fn new(event: Event) -> EventRecord {
        EventRecord {
            event: Arc::new(event),
            image_upload: None,
            seats: Vec::new(),
            seat_order: HashMap::new(),
            sales: PhaseSales::new(),
            seats_taken: 0,
            figures: Figures::default(),
            tickets_by_customer: HashMap::new(),
            open_bookings: BTreeSet::new(),
            booking_count: 0,
            seat_map_version: 0,
        }
    }

    pub fn seat(&self, id: SeatId) -> Option<&Seat> {
        self.seat_order
            .get(&id)
            .and_then(|index| self.seats.get(*index))
    }

    pub fn view_parts(&self) -> EventViewParts {
        EventViewParts {
            event: Arc::clone(&self.event),
            sales: self.sales.clone(),
            seats_taken: self.seats_taken,
            tickets_sold: u32::try_from(self.figures.tickets_sold).unwrap_or(u32::MAX),
        }
    }
}

/// An [`EventView`] whose event is still shared, to be copied out once the lock is released.
pub(super) struct EventViewParts {
    event: Arc<Event>,
    sales: PhaseSales,
    seats_taken: u32,
    tickets_sold: u32,
}

impl EventViewParts {
    pub fn assemble(self) -> EventView {
        EventView {
            event: Event::clone(&self.event),
            sales: self.sales,
            seats_taken: self.seats_taken,
            tickets_sold: self.tickets_sold,
        }
    }
}

/// A booking and its payment, once paid.
pub(super) struct BookingRecord {
    pub booking: Booking,
    pub payment: Option<Payment>,
}

/// A [`BookingDetails`] whose event is still shared, to be copied out once the lock is released.
pub(super) struct BookingDetailsParts {
    booking: Booking,
    event: Arc<Event>,
    customer_name: String,
    payment: Option<Payment>,
}

impl BookingDetailsParts {
    pub fn assemble(self) -> BookingDetails {
        BookingDetails {
            booking: self.booking,
            event: EventSummary::from(self.event.as_ref()),
            customer_name: self.customer_name,
            payment: self.payment,
        }
    }
}

impl State {
    /// How a seat shows on the seat map.
    pub fn seat_status(&self, seat: SeatId) -> SeatStatus {
        let holder = self
            .seat_holders
            .get(&seat)
            .and_then(|id| self.bookings.get(id));
        holder.map_or(SeatStatus::Available, |record| {
            record.booking.status.seats_shown_as()
        })
    }

    /// Stores a new booking and counts it in every derived figure.
    pub fn insert_booking(&mut self, booking: Booking) {
        let key = (booking.created_at, booking.id);
        self.booking_ids_by_code
            .insert(booking.code.clone(), booking.id);
        self.bookings_by_creation.insert(key);
        self.bookings_by_customer
            .entry(booking.customer_id)
            .or_default()
            .insert(key);
        if let Some(record) = self.events.get_mut(&booking.event_id) {
            record.booking_count += 1;
        }
        self.count_in(&booking);
        self.bookings.insert(
            booking.id,
            BookingRecord {
                booking,
                payment: None,
            },
        );
    }

    /// Applies `change` to a copy of a booking and, only if it succeeds, stores the copy and moves
    /// every derived figure along with it. `None` for an unknown booking.
    pub fn transition<T, E>(
        &mut self,
        id: BookingId,
        now: Timestamp,
        change: impl FnOnce(&mut Booking) -> Result<T, E>,
    ) -> Option<Result<T, E>> {
        let before = self.bookings.get(&id)?.booking.clone();
        let mut after = before.clone();
        let outcome = change(&mut after);
        if outcome.is_ok() {
            self.count_out(&before);
            self.count_in(&after);
            if let Some(notice) = Notice::of_change(&before, &after) {
                self.outbox.record(notice, Some(after.code.clone()), now);
            }
            if let Some(record) = self.bookings.get_mut(&id) {
                record.booking = after;
            }
        }
        Some(outcome)
    }

    /// Expires every hold that has lapsed by `now`, freeing its seats and quota.
    pub fn expire_lapsed(&mut self, now: Timestamp) -> u64 {
        let lapsed: Vec<BookingId> = self
            .pending_by_expiry
            .range(..=(latest_lapsed_expiry(now), BookingId(i64::MAX)))
            .map(|(_, id)| *id)
            .collect();
        let mut expired = 0;
        for id in lapsed {
            let outcome =
                self.transition(
                    id,
                    now,
                    |booking| {
                        if booking.expire(now) {
                            Ok(())
                        } else {
                            Err(())
                        }
                    },
                );
            if matches!(outcome, Some(Ok(()))) {
                expired += 1;
            }
        }
        expired
    }

    /// Marks a booking's payment refunded.
    pub fn refund(&mut self, id: BookingId, now: Timestamp) {
        let payment = self
            .bookings
            .get_mut(&id)
            .and_then(|record| record.payment.as_mut());
        if let Some(payment) = payment {
            payment.status = PaymentStatus::Refunded;
            payment.refunded_at = Some(now);
        }
    }

    /// A booking with what its details show, or `None` for an unknown booking.
    pub fn details_parts(&self, id: BookingId) -> Option<BookingDetailsParts> {
        let record = self.bookings.get(&id)?;
        let event = self.events.get(&record.booking.event_id)?;
        Some(BookingDetailsParts {
            booking: record.booking.clone(),
            event: Arc::clone(&event.event),
            customer_name: self.users.name_of(record.booking.customer_id),
            payment: record.payment.clone(),
        })
    }

    /// Adds a booking's share to the figures that depend on its status.
    fn count_in(&mut self, booking: &Booking) {
        let quantity = booking.quantity();
        if booking.status == BookingStatus::Pending {
            self.pending_by_expiry
                .insert((booking.expires_at, booking.id));
        }
        if booking.status.holds_seats() {
            for seat in &booking.seats {
                self.seat_holders.insert(seat.id, booking.id);
            }
        }
        let figures = Figures::of(booking);
        self.totals.add(figures);
        let Some(record) = self.events.get_mut(&booking.event_id) else {
            return;
        };
        record.figures.add(figures);
        if booking.status.holds_seats() {
            record.seat_map_version += 1;
            self.moved_seat_maps.push(booking.event_id);
            record.sales.add(booking.phase_id, quantity);
            record.seats_taken += quantity;
            *record
                .tickets_by_customer
                .entry(booking.customer_id)
                .or_insert(0) += quantity;
            record.open_bookings.insert(booking.id);
        }
    }

    /// Takes back exactly what [`State::count_in`] added for the same booking.
    fn count_out(&mut self, booking: &Booking) {
        let quantity = booking.quantity();
        if booking.status == BookingStatus::Pending {
            self.pending_by_expiry
                .remove(&(booking.expires_at, booking.id));
        }
        if booking.status.holds_seats() {
            for seat in &booking.seats {
                if self.seat_holders.get(&seat.id) == Some(&booking.id) {
                    self.seat_holders.remove(&seat.id);
                }
            }
        }
        let figures = Figures::of(booking);
        self.totals.subtract(figures);
        let Some(record) = self.events.get_mut(&booking.event_id) else {
            return;
        };
        record.figures.subtract(figures);
        if booking.status.holds_seats() {
            record.seat_map_version += 1;
            self.moved_seat_maps.push(booking.event_id);
            record.sales.remove(booking.phase_id, quantity);
            record.seats_taken = record.seats_taken.saturating_sub(quantity);
            if let Some(held) = record.tickets_by_customer.get_mut(&booking.customer_id) {
                *held = held.saturating_sub(quantity);
                if *held == 0 {
                    record.tickets_by_customer.remove(&booking.customer_id);
                }
            }
            record.open_bookings.remove(&booking.id);
        }
    }
}
