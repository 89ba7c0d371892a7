//! Bookings: placing, paying, cancelling, history and expiry of holds.

use std::sync::Arc;

use domain::booking::{
    BookingCode, BookingPolicy, BookingRejection, BookingRequest, CancelRejection, PayRejection,
};
use domain::event::{EventId, PhaseId};
use domain::money::Money;
use domain::payment::PaymentInput;
use domain::seat::SeatId;
use domain::user::UserId;
use domain::validation::ValidationErrors;

use crate::auth::{require_may_book, require_self_or_admin, Actor, Denied};
use crate::ports::{
    BookingCommandError, BookingRepository, Clock, Page, Paged, PaymentReceipt, PlaceBookingError,
    StoreError,
};
use crate::views::BookingDetails;

/// A customer's checkout, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub event_id: i64,
    pub seat_ids: Vec<i64>,
    pub phase_id: Option<i64>,
    pub quantity: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("event {0} does not exist")]
    EventNotFound(EventId),
    #[error("{0}")]
    Rejected(BookingRejection),
    #[error(transparent)]
    Store(StoreError),
}

/// Why a command on an existing booking was refused; `R` is the domain's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingError<R> {
    #[error("booking {0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Rejected(R),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reading a booking refuses for no reason of the domain's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Never {}

pub type GetBookingError = BookingError<Never>;
pub type CancelError = BookingError<CancelRejection>;

/// A payment refused for its amount or method, or by its booking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Booking(#[from] BookingError<PayRejection>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<R> BookingError<R> {
    /// The same failure, its domain reason turned by `turn`.
    pub fn map_rejected<S>(self, turn: impl FnOnce(R) -> S) -> BookingError<S> {
        match self {
            BookingError::NotFound(code) => BookingError::NotFound(code),
            BookingError::Rejected(reason) => BookingError::Rejected(turn(reason)),
            BookingError::Store(store) => BookingError::Store(store),
        }
    }

    pub(crate) fn from_command(code: &BookingCode, error: BookingCommandError<R>) -> Self {
        match error {
            BookingCommandError::NotFound => BookingError::NotFound(code.to_string()),
            BookingCommandError::Rejected(reason) => BookingError::Rejected(reason),
            BookingCommandError::Store(store) => BookingError::Store(store),
        }
    }
}

/// The booking use cases.
pub struct BookingService {
    bookings: Arc<dyn BookingRepository>,
    clock: Arc<dyn Clock>,
    policy: BookingPolicy,
}

impl BookingService {
    pub fn new(
        bookings: Arc<dyn BookingRepository>,
        clock: Arc<dyn Clock>,
        policy: BookingPolicy,
    ) -> Self {
        BookingService {
            bookings,
            clock,
            policy,
        }
    }

    pub fn policy(&self) -> &BookingPolicy {
        &self.policy
    }

    /// Holds the chosen seats for the actor, all or none, at the price of the phase on sale now.
    pub async fn place(
        &self,
        actor: &Actor,
        checkout: Checkout,
    ) -> Result<BookingDetails, PlaceError> {
        require_may_book(actor)?;
        let request = BookingRequest {
            customer_id: actor.id,
            event_id: EventId(checkout.event_id),
            seat_ids: checkout.seat_ids.iter().copied().map(SeatId).collect(),
            phase_id: checkout.phase_id.map(PhaseId),
            quantity: checkout.quantity,
        };
        request
            .check_shape(&self.policy)
            .map_err(PlaceError::Invalid)?;
        self.bookings
            .place(request, self.policy, self.clock.now())
            .await
            .map_err(|error| match error {
                PlaceBookingError::EventNotFound => {
                    PlaceError::EventNotFound(EventId(checkout.event_id))
                }
                PlaceBookingError::Rejected(rejection) => PlaceError::Rejected(rejection),
                PlaceBookingError::Store(store) => PlaceError::Store(store),
            })
    }

    /// A booking its owner or an admin may see. An unknown or malformed code is not found.
    pub async fn get(&self, actor: &Actor, code: &str) -> Result<BookingDetails, GetBookingError> {
        let code = parse_code(code)?;
        self.find_for(actor, &code).await
    }

    pub async fn pay(
        &self,
        actor: &Actor,
        code: &str,
        amount: i64,
        method: &str,
    ) -> Result<PaymentReceipt, PayError> {
        let code = parse_code::<PayRejection>(code)?;
        let payment = PaymentInput::parse(amount, method).map_err(PayError::Invalid)?;
        self.require_may_act_on(actor, &code)
            .await
            .map_err(retype::<PayRejection>)?;
        Ok(self
            .bookings
            .pay(&code, payment, self.clock.now())
            .await
            .map_err(|error| BookingError::from_command(&code, error))?)
    }

    pub async fn cancel(&self, actor: &Actor, code: &str) -> Result<BookingDetails, CancelError> {
        let code = parse_code(code)?;
        self.require_may_act_on(actor, &code)
            .await
            .map_err(retype)?;
        self.bookings
            .cancel(&code, self.clock.now())
            .await
            .map_err(|error| BookingError::from_command(&code, error))
    }

    /// A customer's bookings, newest first.
    pub async fn history(
        &self,
        actor: &Actor,
        customer: UserId,
        page: Page,
    ) -> Result<Paged<BookingDetails>, HistoryError> {
        require_self_or_admin(actor, customer)?;
        Ok(self
            .bookings
            .list_for_customer(customer, page, self.clock.now())
            .await?)
    }

    /// Ends every lapsed hold; run periodically so that seats come back even when nobody reads.
    pub async fn expire_lapsed(&self) -> Result<u64, StoreError> {
        self.bookings.expire_lapsed(self.clock.now()).await
    }

    /// The booking of `code` if `actor` may see it. Someone else's booking is "not found",
    /// exactly as an unknown code is, so that codes cannot be probed.
    async fn find_for(
        &self,
        actor: &Actor,
        code: &BookingCode,
    ) -> Result<BookingDetails, GetBookingError> {
        self.bookings
            .find_by_code(code, self.clock.now())
            .await?
            .filter(|details| require_self_or_admin(actor, details.booking.customer_id).is_ok())
            .ok_or_else(|| BookingError::NotFound(code.to_string()))
    }

    /// Refuses a command on a booking that is not `actor`'s (an admin may act on any) as not
    /// found, exactly as an unknown code, without reading the whole booking.
    async fn require_may_act_on(
        &self,
        actor: &Actor,
        code: &BookingCode,
    ) -> Result<(), GetBookingError> {
        self.bookings
            .customer_of(code)
            .await?
            .filter(|customer| require_self_or_admin(actor, *customer).is_ok())
            .map(|_| ())
            .ok_or_else(|| BookingError::NotFound(code.to_string()))
    }
}

pub(crate) fn parse_code<R>(code: &str) -> Result<BookingCode, BookingError<R>> {
    BookingCode::parse(code).map_err(|_| BookingError::NotFound(code.chars().take(40).collect()))
}

fn retype<R>(error: GetBookingError) -> BookingError<R> {
    error.map_rejected(|never| match never {})
}

/// The details a too-low payment reports: what is due and what was given.
pub fn amount_shortfall(rejection: &PayRejection) -> Option<(Money, Money)> {
    match rejection {
        PayRejection::AmountTooLow { required, given } => Some((*required, *given)),
        PayRejection::NotPending { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockBookingRepository, MockClock};
    use crate::views::EventSummary;
    use chrono::{Duration, TimeZone, Utc};
    use domain::booking::{BookedSeat, Booking, BookingId, BookingStatus};
    use domain::user::Role;
    use futures_executor::block_on;

    fn now() -> domain::Timestamp {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    fn service(bookings: MockBookingRepository) -> BookingService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        BookingService::new(
            Arc::new(bookings),
            Arc::new(clock),
            BookingPolicy::default(),
        )
    }

    fn details(owner: i64) -> BookingDetails {
        BookingDetails {
            booking: Booking {
                id: BookingId(1),
                code: BookingCode::parse("BKG-ABCDE").unwrap(),
                event_id: EventId(1),
                phase_id: PhaseId(1),
                ticket_type: "Normal".into(),
                customer_id: UserId(owner),
                seats: vec![BookedSeat {
                    id: SeatId(1),
                    label: "A1".into(),
                }],
                unit_price: Money::rupiah(10),
                total_price: Money::rupiah(10),
                status: BookingStatus::Pending,
                created_at: now(),
                expires_at: now() + Duration::minutes(15),
                paid_at: None,
                cancelled_at: None,
                checked_in_at: None,
                checked_in_by: None,
            },
            event: EventSummary {
                id: EventId(1),
                name: "Show".into(),
                date: now(),
                venue: "Hall".into(),
                image: None,
            },
            customer_name: "Sari".into(),
            payment: None,
        }
    }

    fn actor(id: i64, role: Role) -> Actor {
        Actor {
            id: UserId(id),
            role,
        }
    }

    #[test]
    fn a_bad_checkout_is_refused_before_the_store() {
        let mut bookings = MockBookingRepository::new();
        bookings.expect_place().never();
        let checkout = Checkout {
            event_id: 1,
            seat_ids: vec![1, 1],
            phase_id: None,
            quantity: Some(3),
        };
        let Err(PlaceError::Invalid(errors)) =
            block_on(service(bookings).place(&actor(2, Role::Customer), checkout))
        else {
            panic!("expected validation errors");
        };
        assert_eq!(errors.errors().len(), 2);
    }

    #[test]
    fn someone_elses_booking_is_not_found_and_never_paid() {
        let mut bookings = MockBookingRepository::new();
        bookings
            .expect_find_by_code()
            .returning(|_, _| Ok(Some(details(7))));
        bookings
            .expect_customer_of()
            .returning(|_| Ok(Some(UserId(7))));
        bookings.expect_pay().never();
        bookings.expect_cancel().never();
        let svc = service(bookings);
        let stranger = actor(8, Role::Customer);
        assert_eq!(
            block_on(svc.get(&stranger, "BKG-ABCDE")).unwrap_err(),
            BookingError::NotFound("BKG-ABCDE".into())
        );
        assert_eq!(
            block_on(svc.pay(&stranger, "BKG-ABCDE", 10, "Cash")).unwrap_err(),
            PayError::Booking(BookingError::NotFound("BKG-ABCDE".into()))
        );
        assert_eq!(
            block_on(svc.cancel(&stranger, "bkg-abcde")).unwrap_err(),
            BookingError::NotFound("BKG-ABCDE".into())
        );
        assert!(block_on(svc.get(&actor(7, Role::Customer), "bkg-abcde")).is_ok());
        assert!(block_on(svc.get(&actor(1, Role::Admin), "BKG-ABCDE")).is_ok());
    }

    #[test]
    fn malformed_codes_are_not_found_and_door_staff_cannot_book() {
        let mut bookings = MockBookingRepository::new();
        bookings.expect_find_by_code().never();
        bookings.expect_place().never();
        let svc = service(bookings);
        assert!(matches!(
            block_on(svc.get(&actor(1, Role::Admin), "BKG-00000")),
            Err(BookingError::NotFound(_))
        ));
        let checkout = Checkout {
            event_id: 1,
            seat_ids: vec![1],
            phase_id: None,
            quantity: None,
        };
        assert_eq!(
            block_on(svc.place(&actor(3, Role::Checker), checkout)).unwrap_err(),
            PlaceError::Denied(Denied::DoorStaffCannotBook)
        );
    }

    #[test]
    fn history_is_private() {
        let svc = service(MockBookingRepository::new());
        assert_eq!(
            block_on(svc.history(&actor(2, Role::Customer), UserId(3), Page::default()))
                .unwrap_err(),
            HistoryError::Denied(Denied::NotYours)
        );
    }
}
