//! The door: letting guests in, by booking code or by the signed ticket they carry, the door
//! list, and who is in. Admins and door staff (`checker`) work the door.

use std::sync::Arc;

use domain::audit::AuditStamp;
use domain::booking::{BookingCode, CheckInRejection};
use domain::event::{EventId, PhaseId};
use domain::user::UserId;
use domain::Timestamp;

use crate::auth::{require_door_staff, Actor, Denied};
use crate::bookings::{parse_code, BookingError};
use crate::ports::{
    BookingRepository, Clock, Page, Paged, StoreError, TicketSigner, TicketTokenError,
    UserRepository,
};
use crate::views::BookingDetails;

/// Who let a guest in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorStaff {
    pub id: UserId,
    pub name: String,
}

/// Why a guest is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckInError {
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The ticket was used already: when, and by whom (unknown for check-ins recorded before
    /// WarTawa kept it).
    #[error("ticket already used at {at}")]
    AlreadyUsed {
        at: Timestamp,
        by: Option<DoorStaff>,
    },
    /// No such booking, one not paid, or the store failed.
    #[error(transparent)]
    Booking(#[from] BookingError<CheckInRejection>),
}

/// Why a scanned ticket does not let its guest in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// Not a ticket WarTawa signed, or one altered since.
    #[error(transparent)]
    Forged(#[from] TicketTokenError),
    /// A real ticket, for another show than the one at this door.
    #[error("the ticket is for event {ticket}, not for event {door}")]
    OtherEvent { ticket: EventId, door: EventId },
    #[error(transparent)]
    CheckIn(#[from] CheckInError),
}

/// Why a door list cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DoorListError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("event {0} does not exist")]
    NotFound(EventId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tickets checked in against tickets expected (those of paid bookings), of a show or a phase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub expected: u32,
    pub checked_in: u32,
}

/// Who is in, by price phase (in the order phases first sold), and in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckInTally {
    pub total: Tally,
    pub phases: Vec<(PhaseId, String, Tally)>,
}

impl CheckInTally {
    /// The tally of a door list's paid bookings.
    pub fn of(bookings: &[BookingDetails]) -> CheckInTally {
        let mut tally = CheckInTally::default();
        for details in bookings {
            let booking = &details.booking;
            let position = match tally
                .phases
                .iter()
                .position(|(id, _, _)| *id == booking.phase_id)
            {
                Some(position) => position,
                None => {
                    let phase = (
                        booking.phase_id,
                        booking.ticket_type.clone(),
                        Tally::default(),
                    );
                    tally.phases.push(phase);
                    tally.phases.len() - 1
                }
            };
            let tickets = booking.quantity();
            let checked_in = if booking.checked_in_at.is_some() {
                tickets
            } else {
                0
            };
            for count in [&mut tally.total, &mut tally.phases[position].2] {
                count.expected += tickets;
                count.checked_in += checked_in;
            }
        }
        tally
    }
}

/// The door's use cases.
pub struct DoorService {
    bookings: Arc<dyn BookingRepository>,
    users: Arc<dyn UserRepository>,
    tickets: Arc<dyn TicketSigner>,
    clock: Arc<dyn Clock>,
}

impl DoorService {
    pub fn new(
        bookings: Arc<dyn BookingRepository>,
        users: Arc<dyn UserRepository>,
        tickets: Arc<dyn TicketSigner>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        DoorService {
            bookings,
            users,
            tickets,
            clock,
        }
    }

    /// Lets the guest of a paid booking in, by its code (read out or typed when a QR code will
    /// not scan).
    pub async fn check_in(
        &self,
        actor: &Actor,
        code: &str,
    ) -> Result<BookingDetails, CheckInError> {
        require_door_staff(actor)?;
        let code = parse_code::<CheckInRejection>(code)?;
        self.admit(actor, &code).await
    }

    /// Checks in the booking of a scanned ticket: the signature must be WarTawa's and, when the
    /// door names its show, the ticket that show's; then the rules of a check-in by code apply
    /// (paid, once: of simultaneous scans exactly one succeeds).
    pub async fn scan(
        &self,
        actor: &Actor,
        token: &str,
        door_event: Option<EventId>,
    ) -> Result<BookingDetails, ScanError> {
        require_door_staff(actor).map_err(CheckInError::from)?;
        let claims = self.tickets.verify(token)?;
        if let Some(door) = door_event.filter(|door| *door != claims.event) {
            return Err(ScanError::OtherEvent {
                ticket: claims.event,
                door,
            });
        }
        Ok(self.admit(actor, &claims.code).await?)
    }

    /// The check-in itself; a ticket used already is answered with who used it.
    async fn admit(
        &self,
        actor: &Actor,
        code: &BookingCode,
    ) -> Result<BookingDetails, CheckInError> {
        let now = self.clock.now();
        let refusal = match self
            .bookings
            .check_in(code, now, AuditStamp::new(actor.id, now))
            .await
        {
            Ok(details) => return Ok(details),
            Err(error) => BookingError::from_command(code, error),
        };
        let BookingError::Rejected(CheckInRejection::AlreadyCheckedIn { at, by }) = refusal else {
            return Err(refusal.into());
        };
        let by = match by {
            Some(id) => self
                .users
                .find(id)
                .await
                .map_err(BookingError::from)?
                .map(|user| DoorStaff {
                    id,
                    name: user.name.as_str().to_owned(),
                }),
            None => None,
        };
        Err(CheckInError::AlreadyUsed { at, by })
    }

    /// The door list of an event: its paid bookings; with `since`, what changed after it (see
    /// `BookingRepository::door_list`).
    pub async fn door_list(
        &self,
        actor: &Actor,
        event: EventId,
        since: Option<Timestamp>,
        page: Page,
    ) -> Result<Paged<BookingDetails>, DoorListError> {
        require_door_staff(actor)?;
        self.bookings
            .door_list(event, since, page, self.clock.now())
            .await?
            .ok_or(DoorListError::NotFound(event))
    }

    /// Tickets checked in against tickets expected, by phase.
    pub async fn check_in_tally(
        &self,
        actor: &Actor,
        event: EventId,
    ) -> Result<CheckInTally, DoorListError> {
        let list = self
            .door_list(actor, event, None, Page::everything())
            .await?;
        Ok(CheckInTally::of(&list.items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{
        BookingCommandError, MockBookingRepository, MockClock, MockTicketSigner, MockUserRepository,
    };
    use chrono::{TimeZone, Utc};
    use domain::user::{Email, PersonName, Role, User};
    use futures_executor::block_on;

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    fn door(bookings: MockBookingRepository, users: MockUserRepository) -> DoorService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        DoorService::new(
            Arc::new(bookings),
            Arc::new(users),
            Arc::new(MockTicketSigner::new()),
            Arc::new(clock),
        )
    }

    fn actor(id: i64, role: Role) -> Actor {
        Actor {
            id: UserId(id),
            role,
        }
    }

    fn staff(id: i64, name: &str) -> User {
        User {
            id: UserId(id),
            name: PersonName::parse(name).unwrap(),
            email: Email::parse("door@example.com").unwrap(),
            password_hash: String::new(),
            role: Role::Checker,
            nik: None,
            phone_number: None,
            created_at: now(),
            active: true,
            token_version: 0,
        }
    }

    #[test]
    fn customers_cannot_work_the_door() {
        let mut bookings = MockBookingRepository::new();
        bookings.expect_check_in().never();
        bookings.expect_door_list().never();
        let door = door(bookings, MockUserRepository::new());
        let customer = actor(2, Role::Customer);
        assert_eq!(
            block_on(door.check_in(&customer, "BKG-ABCDE")).unwrap_err(),
            CheckInError::Denied(Denied::DoorStaffOnly)
        );
        assert_eq!(
            block_on(door.scan(&customer, "anything", None)).unwrap_err(),
            ScanError::CheckIn(CheckInError::Denied(Denied::DoorStaffOnly))
        );
        assert_eq!(
            block_on(door.door_list(&customer, EventId(1), None, Page::default())).unwrap_err(),
            DoorListError::Denied(Denied::DoorStaffOnly)
        );
    }

    #[test]
    fn a_ticket_used_already_names_who_let_the_guest_in() {
        let mut bookings = MockBookingRepository::new();
        bookings
            .expect_check_in()
            .withf(|code, at, audit| {
                code.as_str() == "BKG-ABCDE"
                    && *at == now()
                    && *audit == AuditStamp::new(UserId(3), now())
            })
            .returning(|_, _, _| {
                Err(BookingCommandError::Rejected(
                    CheckInRejection::AlreadyCheckedIn {
                        at: now(),
                        by: Some(UserId(9)),
                    },
                ))
            });
        let mut users = MockUserRepository::new();
        users
            .expect_find()
            .withf(|id| *id == UserId(9))
            .returning(|id| Ok(Some(staff(id.0, "Budi Santoso"))));
        let error = block_on(door(bookings, users).check_in(&actor(3, Role::Checker), "BKG-ABCDE"))
            .unwrap_err();
        assert_eq!(
            error,
            CheckInError::AlreadyUsed {
                at: now(),
                by: Some(DoorStaff {
                    id: UserId(9),
                    name: "Budi Santoso".into()
                })
            }
        );
    }
}
