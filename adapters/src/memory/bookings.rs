//! Bookings: placed, paid, cancelled and checked in as the domain decides, each under the lock.

use async_trait::async_trait;

use application::ports::{
    BookingCommandError, BookingRepository, Page, Paged, PaymentReceipt, PlaceBookingError,
    StoreError,
};
use application::views::{BookingDetails, Dashboard, EventFigures, RecentTransaction};
use domain::audit::{entry_for_check_in, AuditStamp};
use domain::booking::{
    decide, BookingCode, BookingId, BookingPolicy, BookingRequest, BookingSnapshot, CancelOutcome,
    CancelRejection, CheckInRejection, PayRejection, SeatState, UnpaidBooking,
};
use domain::event::{Event, EventId, ShownStatus};
use domain::payment::{Payment, PaymentId, PaymentInput};
use domain::user::UserId;
use domain::Timestamp;

use super::state::{BookingDetailsParts, State};
use super::MemoryStore;

/// How many fresh codes to try before giving up: with 31^5 codes a second collision in a row
/// already means the code space is nearly full or the generator is broken.
const CODE_ATTEMPTS: usize = 32;

/// How many bookings the dashboard lists.
const RECENT_TRANSACTIONS: usize = 10;

/// The event as `decide` needs it. The description and picture are left out: `decide` reads
/// neither, and a description can be long, copied for every booking.
fn event_for_decision(event: &Event) -> Event {
    Event {
        id: event.id,
        name: event.name.clone(),
        description: None,
        date: event.date,
        venue: event.venue.clone(),
        image: None,
        capacity: event.capacity,
        seats_per_row: event.seats_per_row,
        status: event.status,
        phases: event.phases.clone(),
        created_at: event.created_at,
    }
}

impl MemoryStore {
    fn unused_code(&self, state: &State) -> Result<BookingCode, StoreError> {
        (0..CODE_ATTEMPTS)
            .map(|_| self.codes.generate())
            .find(|code| !state.booking_ids_by_code.contains_key(code))
            .ok_or_else(|| {
                StoreError::Unexpected(format!(
                    "no unused booking code found in {CODE_ATTEMPTS} attempts"
                ))
            })
    }

    /// Runs a command on the booking with `code`, as of `now`, by the user of `audit` when it
    /// is audited, and returns what the booking shows after.
    fn command<T, R>(
        &self,
        code: &BookingCode,
        now: Timestamp,
        audit: Option<&AuditStamp>,
        command: impl FnOnce(&mut State, BookingId) -> Option<Result<T, R>>,
    ) -> Result<(T, BookingDetailsParts), BookingCommandError<R>> {
        let mut state = self.locked_at(now)?;
        if let Some(stamp) = audit {
            state.check_actor(stamp)?;
        }
        let id = *state
            .booking_ids_by_code
            .get(code)
            .ok_or(BookingCommandError::NotFound)?;
        let outcome = command(&mut state, id)
            .ok_or(BookingCommandError::NotFound)?
            .map_err(BookingCommandError::Rejected)?;
        let parts = state
            .details_parts(id)
            .ok_or(BookingCommandError::NotFound)?;
        Ok((outcome, parts))
    }
}

impl State {
    /// What deciding `request` reads; unpaid bookings of the customer since `unpaid_since`.
    fn snapshot_for(
        &self,
        request: &BookingRequest,
        unpaid_since: Timestamp,
    ) -> Result<BookingSnapshot, PlaceBookingError> {
        let record = self
            .events
            .get(&request.event_id)
            .ok_or(PlaceBookingError::EventNotFound)?;
        let seats = request
            .seat_ids
            .iter()
            .filter_map(|id| record.seat(*id))
            .map(|seat| SeatState {
                seat: seat.clone(),
                status: self.seat_status(seat.id),
            })
            .collect();
        Ok(BookingSnapshot {
            event: event_for_decision(&record.event),
            sales: record.sales.clone(),
            seats,
            tickets_held_by_customer: record
                .tickets_by_customer
                .get(&request.customer_id)
                .copied()
                .unwrap_or(0),
            unpaid_bookings_of_customer: self
                .bookings_by_customer
                .get(&request.customer_id)
                .into_iter()
                .flat_map(|bookings| bookings.range((unpaid_since, BookingId(i64::MIN))..))
                .filter_map(|(_, id)| self.bookings.get(id))
                .map(|record| &record.booking)
                .filter(|booking| booking.event_id == request.event_id && booking.paid_at.is_none())
                .map(|booking| UnpaidBooking {
                    status: booking.status,
                    expires_at: booking.expires_at,
                    cancelled_at: booking.cancelled_at,
                })
                .collect(),
        })
    }

    fn dashboard(&self, now: Timestamp) -> Dashboard {
        let recent_transactions = self
            .bookings_by_creation
            .iter()
            .rev()
            .take(RECENT_TRANSACTIONS)
            .filter_map(|(_, id)| self.bookings.get(id))
            .map(|record| {
                let booking = &record.booking;
                RecentTransaction {
                    booking_code: booking.code.to_string(),
                    customer_name: self.users.name_of(booking.customer_id),
                    event_name: self
                        .events
                        .get(&booking.event_id)
                        .map(|event| event.event.name.clone())
                        .unwrap_or_default(),
                    amount: booking.total_price,
                    status: booking.status_at(now).as_str().to_string(),
                    date: booking.created_at,
                }
            })
            .collect();
        let events: Vec<EventFigures> = self
            .events_by_date
            .iter()
            .filter_map(|(_, id)| self.events.get(id))
            .map(|record| EventFigures {
                id: record.event.id,
                name: record.event.name.clone(),
                date: record.event.date,
                capacity: record.event.capacity,
                tickets_sold: record.figures.tickets_sold,
                revenue: record.figures.revenue,
                checked_in: record.figures.checked_in,
            })
            .collect();
        let active_events = self
            .events
            .values()
            .filter(|record| record.event.shown_status(now) == ShownStatus::Published)
            .count();
        Dashboard {
            total_revenue: self.totals.revenue,
            tickets_sold: self.totals.tickets_sold,
            active_events: active_events as u64,
            total_events: self.events.len() as u64,
            // Lapsed holds were expired when the lock was taken, so every pending one is live.
            pending_bookings: self.pending_by_expiry.len() as u64,
            checked_in: self.totals.checked_in,
            recent_transactions,
            events,
        }
    }
}

#[async_trait]
impl BookingRepository for MemoryStore {
    async fn place(
        &self,
        request: BookingRequest,
        policy: BookingPolicy,
        now: Timestamp,
    ) -> Result<BookingDetails, PlaceBookingError> {
        let parts = {
            let mut state = self.locked_at(now)?;
            let snapshot = state.snapshot_for(&request, policy.unpaid_bookings_read_since(now))?;
            if !state.users.exists(request.customer_id) {
                return Err(StoreError::Unexpected(format!(
                    "customer {} does not exist",
                    request.customer_id
                ))
                .into());
            }
            let decision = decide(&snapshot, &request, &policy, now)?;
            let code = self.unused_code(&state)?;
            let id = BookingId(state.ids.next_booking());
            state.insert_booking(decision.into_booking(id, code, &request, now));
            state
                .details_parts(id)
                .ok_or_else(|| StoreError::Unexpected(format!("booking {id} vanished")))?
        };
        Ok(parts.assemble())
    }

    async fn find_by_code(
        &self,
        code: &BookingCode,
        now: Timestamp,
    ) -> Result<Option<BookingDetails>, StoreError> {
        let parts = {
            let state = self.locked_at(now)?;
            state
                .booking_ids_by_code
                .get(code)
                .and_then(|id| state.details_parts(*id))
        };
        Ok(parts.map(BookingDetailsParts::assemble))
    }

    async fn customer_of(&self, code: &BookingCode) -> Result<Option<UserId>, StoreError> {
        let state = self.locked()?;
        Ok(state
            .booking_ids_by_code
            .get(code)
            .and_then(|id| state.bookings.get(id))
            .map(|record| record.booking.customer_id))
    }

    async fn pay(
        &self,
        code: &BookingCode,
        payment: PaymentInput,
        now: Timestamp,
    ) -> Result<PaymentReceipt, BookingCommandError<PayRejection>> {
        let (recorded, parts) = self.command(code, now, None, |state, id| {
            let change = match state.transition(id, now, |booking| booking.pay(&payment, now))? {
                Ok(change) => change,
                Err(rejection) => return Some(Err(rejection)),
            };
            let recorded = Payment::accepted(
                PaymentId(state.ids.next_payment()),
                id,
                &payment,
                change,
                now,
            );
            state.bookings.get_mut(&id)?.payment = Some(recorded.clone());
            Some(Ok(recorded))
        })?;
        Ok(PaymentReceipt {
            payment: recorded,
            booking: parts.assemble(),
        })
    }

    async fn cancel(
        &self,
        code: &BookingCode,
        now: Timestamp,
    ) -> Result<BookingDetails, BookingCommandError<CancelRejection>> {
        let ((), parts) = self.command(code, now, None, |state, id| {
            let event_date = {
                let event_id = state.bookings.get(&id)?.booking.event_id;
                state.events.get(&event_id)?.event.date
            };
            let outcome = state.transition(id, now, |booking| booking.cancel(event_date, now))?;
            match outcome {
                Ok(CancelOutcome::Refund) => state.refund(id, now),
                Ok(CancelOutcome::Released) => {}
                Err(rejection) => return Some(Err(rejection)),
            }
            Some(Ok(()))
        })?;
        Ok(parts.assemble())
    }

    async fn check_in(
        &self,
        code: &BookingCode,
        now: Timestamp,
        audit: AuditStamp,
    ) -> Result<BookingDetails, BookingCommandError<CheckInRejection>> {
        let ((), parts) = self.command(code, now, Some(&audit), |state, id| {
            if let Err(rejection) =
                state.transition(id, now, |booking| booking.check_in(now, audit.actor))?
            {
                return Some(Err(rejection));
            }
            let entry = entry_for_check_in(audit, &state.bookings.get(&id)?.booking);
            state.audit.record([entry]);
            Some(Ok(()))
        })?;
        Ok(parts.assemble())
    }

    async fn expire_lapsed(&self, now: Timestamp) -> Result<u64, StoreError> {
        Ok(self.locked()?.expire_lapsed(now))
    }

    async fn door_list(
        &self,
        event: EventId,
        since: Option<Timestamp>,
        page: Page,
        now: Timestamp,
    ) -> Result<Option<Paged<BookingDetails>>, StoreError> {
        let (parts, total) = {
            let state = self.locked_at(now)?;
            if !state.events.contains_key(&event) {
                return Ok(None);
            }
            // (when it changed, id) of each booking on the list, in list order.
            let mut listed: Vec<(Timestamp, BookingId)> = state
                .bookings
                .values()
                .map(|record| &record.booking)
                .filter(|booking| booking.event_id == event)
                .filter_map(|booking| {
                    let changed = booking.door_change()?;
                    let listed = match since {
                        None => booking.status == domain::booking::BookingStatus::Confirmed,
                        Some(since) => changed > since,
                    };
                    listed.then_some((
                        if since.is_some() {
                            changed
                        } else {
                            booking.created_at
                        },
                        booking.id,
                    ))
                })
                .collect();
            listed.sort_unstable();
            let parts: Vec<BookingDetailsParts> = listed
                .iter()
                .skip(page.offset())
                .take(page.per_page as usize)
                .filter_map(|(_, id)| state.details_parts(*id))
                .collect();
            (parts, listed.len() as u64)
        };
        Ok(Some(Paged {
            items: parts
                .into_iter()
                .map(BookingDetailsParts::assemble)
                .collect(),
            total,
        }))
    }

    async fn list_for_customer(
        &self,
        customer: UserId,
        page: Page,
        now: Timestamp,
    ) -> Result<Paged<BookingDetails>, StoreError> {
        let (parts, total) = {
            let state = self.locked_at(now)?;
            match state.bookings_by_customer.get(&customer) {
                None => (Vec::new(), 0),
                Some(bookings) => {
                    let parts: Vec<BookingDetailsParts> = bookings
                        .iter()
                        .rev()
                        .skip(page.offset())
                        .take(page.per_page as usize)
                        .filter_map(|(_, id)| state.details_parts(*id))
                        .collect();
                    (parts, bookings.len() as u64)
                }
            }
        };
        Ok(Paged {
            items: parts
                .into_iter()
                .map(BookingDetailsParts::assemble)
                .collect(),
            total,
        })
    }

    async fn dashboard(&self, now: Timestamp) -> Result<Dashboard, StoreError> {
        Ok(self.locked_at(now)?.dashboard(now))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.locked().map(drop)
    }
}
