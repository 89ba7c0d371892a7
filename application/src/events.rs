//! Events: listing, creating, changing, deleting, and their seat maps.

use std::sync::Arc;

use domain::audit::AuditStamp;
use domain::event::{
    validate_new_event, EventId, EventInput, EventInputError, EventPatch, EventUpdateError,
};
use domain::user::UserId;
use domain::validation::ValidationErrors;

use crate::auth::{require_admin, require_self_or_admin, Actor, Denied};
use crate::ports::{
    Clock, EventDeleteError, EventFilter, EventRepository, EventWriteError, Page, Paged, StoreError,
};
use crate::views::{EventView, ImageFile, SeatMap};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetEventError {
    #[error("event {0} does not exist")]
    NotFound(EventId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetImageError {
    /// An unknown event has none either.
    #[error("event {0} has no uploaded picture")]
    NotFound(EventId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateEventError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("the picture is larger than the {limit_bytes} bytes allowed")]
    ImageTooLarge { limit_bytes: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateEventError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("event {0} does not exist")]
    NotFound(EventId),
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("the picture is larger than the {limit_bytes} bytes allowed")]
    ImageTooLarge { limit_bytes: usize },
    /// The change contradicts the event's sales so far.
    #[error("{0}")]
    Conflict(EventUpdateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteEventError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("event {0} does not exist")]
    NotFound(EventId),
    #[error("the event has bookings and cannot be deleted; set its status to \"cancelled\" instead, which cancels and refunds its bookings")]
    HasBookings,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketHolderEventsError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<EventInputError> for CreateEventError {
    fn from(error: EventInputError) -> Self {
        match error {
            EventInputError::Invalid(errors) => CreateEventError::Invalid(errors),
            EventInputError::ImageTooLarge { limit_bytes } => {
                CreateEventError::ImageTooLarge { limit_bytes }
            }
        }
    }
}

/// The event use cases.
pub struct EventService {
    events: Arc<dyn EventRepository>,
    clock: Arc<dyn Clock>,
}

impl EventService {
    pub fn new(events: Arc<dyn EventRepository>, clock: Arc<dyn Clock>) -> Self {
        EventService { events, clock }
    }

    pub fn now(&self) -> domain::Timestamp {
        self.clock.now()
    }

    pub async fn list(
        &self,
        filter: EventFilter,
        page: Page,
    ) -> Result<Paged<EventView>, StoreError> {
        self.events.list(filter, page, self.clock.now()).await
    }

    pub async fn get(&self, id: EventId) -> Result<EventView, GetEventError> {
        self.events
            .find(id, self.clock.now())
            .await?
            .ok_or(GetEventError::NotFound(id))
    }

    pub async fn create(
        &self,
        actor: &Actor,
        input: EventInput,
    ) -> Result<EventView, CreateEventError> {
        require_admin(actor)?;
        let event = validate_new_event(&input, self.clock.now())?;
        Ok(self.events.create(event).await?)
    }

    pub async fn update(
        &self,
        actor: &Actor,
        id: EventId,
        patch: EventPatch,
    ) -> Result<EventView, UpdateEventError> {
        require_admin(actor)?;
        let now = self.clock.now();
        self.events
            .update(id, patch, now, AuditStamp::new(actor.id, now))
            .await
            .map_err(|error| match error {
                EventWriteError::NotFound => UpdateEventError::NotFound(id),
                EventWriteError::Rejected(EventUpdateError::Input(EventInputError::Invalid(
                    errors,
                ))) => UpdateEventError::Invalid(errors),
                EventWriteError::Rejected(EventUpdateError::Input(
                    EventInputError::ImageTooLarge { limit_bytes },
                )) => UpdateEventError::ImageTooLarge { limit_bytes },
                EventWriteError::Rejected(conflict) => UpdateEventError::Conflict(conflict),
                EventWriteError::Store(store) => UpdateEventError::Store(store),
            })
    }

    pub async fn delete(&self, actor: &Actor, id: EventId) -> Result<(), DeleteEventError> {
        require_admin(actor)?;
        self.events
            .delete(id, AuditStamp::new(actor.id, self.clock.now()))
            .await
            .map_err(|error| match error {
                EventDeleteError::NotFound => DeleteEventError::NotFound(id),
                EventDeleteError::HasBookings => DeleteEventError::HasBookings,
                EventDeleteError::Store(store) => DeleteEventError::Store(store),
            })
    }

    /// The event's uploaded picture, for anyone to read.
    pub async fn image(&self, id: EventId) -> Result<ImageFile, GetImageError> {
        self.events
            .image(id)
            .await?
            .ok_or(GetImageError::NotFound(id))
    }

    pub async fn seats(&self, id: EventId) -> Result<SeatMap, GetEventError> {
        self.events
            .seats(id, self.clock.now())
            .await?
            .ok_or(GetEventError::NotFound(id))
    }

    /// The seat map's current version, so that a copy of that version can be served as is.
    pub async fn seat_map_version(&self, id: EventId) -> Result<u64, GetEventError> {
        self.events
            .seat_map_version(id, self.clock.now())
            .await?
            .ok_or(GetEventError::NotFound(id))
    }

    /// The events a customer holds pending or confirmed tickets for.
    pub async fn events_of_ticket_holder(
        &self,
        actor: &Actor,
        user: UserId,
        page: Page,
    ) -> Result<Paged<EventView>, TicketHolderEventsError> {
        require_self_or_admin(actor, user)?;
        let filter = EventFilter {
            ticket_holder: Some(user),
            ..EventFilter::default()
        };
        Ok(self.events.list(filter, page, self.clock.now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockEventRepository};
    use chrono::{Duration, TimeZone, Utc};
    use domain::event::PhaseInput;
    use domain::user::Role;
    use futures_executor::block_on;

    fn now() -> domain::Timestamp {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    fn service(events: MockEventRepository) -> EventService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        EventService::new(Arc::new(events), Arc::new(clock))
    }

    fn customer() -> Actor {
        Actor {
            id: UserId(2),
            role: Role::Customer,
        }
    }

    fn admin() -> Actor {
        Actor {
            id: UserId(1),
            role: Role::Admin,
        }
    }

    #[test]
    fn only_admins_manage_events() {
        let mut events = MockEventRepository::new();
        events.expect_create().never();
        events.expect_update().never();
        events.expect_delete().never();
        let svc = service(events);
        let input = EventInput {
            name: "Show".into(),
            description: None,
            date: Utc::now(),
            venue: "Hall".into(),
            image_url: None,
            seats_per_row: None,
            capacity: None,
            phases: vec![],
        };
        assert_eq!(
            block_on(svc.create(&customer(), input)).unwrap_err(),
            CreateEventError::Denied(Denied::AdminOnly)
        );
        assert_eq!(
            block_on(svc.update(&customer(), EventId(1), EventPatch::default())).unwrap_err(),
            UpdateEventError::Denied(Denied::AdminOnly)
        );
        assert_eq!(
            block_on(svc.delete(&customer(), EventId(1))).unwrap_err(),
            DeleteEventError::Denied(Denied::AdminOnly)
        );
    }

    #[test]
    fn invalid_events_never_reach_the_store() {
        let mut events = MockEventRepository::new();
        events.expect_create().never();
        let date = Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap();
        let input = EventInput {
            name: "Show".into(),
            description: None,
            date,
            venue: "Hall".into(),
            image_url: Some("data:image/svg+xml;base64,PHN2Zy8+".into()),
            seats_per_row: None,
            capacity: None,
            phases: vec![PhaseInput {
                id: None,
                name: "Early".into(),
                price: 1,
                quota: 1,
                start_date: date - Duration::days(2),
                end_date: date,
            }],
        };
        assert!(matches!(
            block_on(service(events).create(&admin(), input)),
            Err(CreateEventError::Invalid(_))
        ));
    }

    #[test]
    fn store_conflicts_are_told_apart_from_bad_input() {
        let mut events = MockEventRepository::new();
        events.expect_update().returning(|_, _, _, _| {
            Err(EventWriteError::Rejected(
                EventUpdateError::CancelledForGood,
            ))
        });
        events
            .expect_delete()
            .returning(|_, _| Err(EventDeleteError::HasBookings));
        let svc = service(events);
        assert_eq!(
            block_on(svc.update(&admin(), EventId(1), EventPatch::default())).unwrap_err(),
            UpdateEventError::Conflict(EventUpdateError::CancelledForGood)
        );
        assert_eq!(
            block_on(svc.delete(&admin(), EventId(1))).unwrap_err(),
            DeleteEventError::HasBookings
        );
    }

    #[test]
    fn an_event_without_an_uploaded_picture_has_none_to_serve() {
        let mut events = MockEventRepository::new();
        events
            .expect_image()
            .withf(|id| *id == EventId(4))
            .times(1)
            .returning(|_| Ok(None));
        assert_eq!(
            block_on(service(events).image(EventId(4))).unwrap_err(),
            GetImageError::NotFound(EventId(4))
        );
    }

    #[test]
    fn ticket_holder_events_are_private() {
        let svc = service(MockEventRepository::new());
        assert!(matches!(
            block_on(svc.events_of_ticket_holder(&customer(), UserId(3), Page::default())),
            Err(TicketHolderEventsError::Denied(Denied::NotYours))
        ));
    }

    #[test]
    fn changes_and_deletions_are_recorded_against_the_admin_at_the_time() {
        let stamp = AuditStamp::new(admin().id, now());
        let mut events = MockEventRepository::new();
        events
            .expect_update()
            .withf(move |id, _, at, audit| *id == EventId(1) && *at == now() && *audit == stamp)
            .times(1)
            .returning(|_, _, _, _| Err(EventWriteError::NotFound));
        events
            .expect_delete()
            .withf(move |id, audit| *id == EventId(2) && *audit == stamp)
            .times(1)
            .returning(|_, _| Ok(()));
        let svc = service(events);
        assert_eq!(
            block_on(svc.update(&admin(), EventId(1), EventPatch::default())).unwrap_err(),
            UpdateEventError::NotFound(EventId(1))
        );
        assert_eq!(block_on(svc.delete(&admin(), EventId(2))), Ok(()));
    }
}
