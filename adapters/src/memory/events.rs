//! Events: their phases and seats, changed only as `domain::event::plan_event_update` allows.

use std::sync::Arc;

use async_trait::async_trait;

use application::ports::{
    EventDeleteError, EventFilter, EventRepository, EventWriteError, Page, Paged, StoreError,
};
use application::views::{EventView, ImageFile, SeatMap, SeatView};
use domain::audit::{AuditAction, AuditStamp};
use domain::booking::{BookingId, CancelOutcome};
use domain::event::{
    plan_event_update, Event, EventId, EventPatch, EventSnapshot, EventStatus, EventUpdatePlan,
    NewEvent, Phase, PhaseId, PhasePlan,
};
use domain::image::{ImageChange, NewImage};
use domain::notification::Notice;
use domain::seat::{layout, Seat, SeatId, SeatPosition};
use domain::user::UserId;
use domain::Timestamp;

use super::state::{EventRecord, EventViewParts, Sequences, State};
use super::MemoryStore;

fn phase_from_plan(plan: PhasePlan, ids: &mut Sequences) -> Phase {
    Phase {
        id: plan.id.unwrap_or_else(|| PhaseId(ids.next_phase())),
        name: plan.name,
        price: plan.price,
        quota: plan.quota,
        start_date: plan.start_date,
        end_date: plan.end_date,
    }
}

impl EventRecord {
    /// Appends seats at the given positions, in order.
    fn append_seats(&mut self, positions: Vec<SeatPosition>, ids: &mut Sequences) {
        self.seats.reserve(positions.len());
        for position in positions {
            let seat = Seat {
                id: SeatId(ids.next_seat()),
                position,
            };
            self.seat_order.insert(seat.id, self.seats.len());
            self.seats.push(seat);
        }
        self.seat_map_version += 1;
    }

    /// Drops the seats past `capacity`; the plan has already made sure none of them is taken.
    fn truncate_seats(&mut self, capacity: usize) {
        for seat in self.seats.drain(capacity.min(self.seats.len())..) {
            self.seat_order.remove(&seat.id);
        }
        self.seat_map_version += 1;
    }

    fn matches(&self, filter: &EventFilter, lowercase_query: Option<&str>, now: Timestamp) -> bool {
        let event = &self.event;
        if filter.upcoming_only && event.date <= now {
            return false;
        }
        if let Some(customer) = filter.ticket_holder {
            if !self.holds_tickets(customer) {
                return false;
            }
        }
        match lowercase_query {
            Some(query) => {
                event.name.to_lowercase().contains(query)
                    || event.venue.to_lowercase().contains(query)
            }
            None => true,
        }
    }

    fn holds_tickets(&self, customer: UserId) -> bool {
        self.tickets_by_customer
            .get(&customer)
            .is_some_and(|tickets| *tickets > 0)
    }
}

impl State {
    fn create_event(&mut self, new: NewEvent) -> EventViewParts {
        let id = EventId(self.ids.next_event());
        let phases = new
            .phases
            .into_iter()
            // A new event's phases are all new, whatever the plan says.
            .map(|plan| phase_from_plan(PhasePlan { id: None, ..plan }, &mut self.ids))
            .collect();
        let event = Event {
            id,
            name: new.name,
            description: new.description,
            date: new.date,
            venue: new.venue,
            image: new.image.as_ref().map(NewImage::shown),
            capacity: new.capacity,
            seats_per_row: new.seats_per_row,
            status: EventStatus::Published,
            phases,
            created_at: new.created_at,
        };
        let mut record = EventRecord::new(event);
        if let Some(NewImage::Upload(upload)) = new.image {
            record.image_upload = Some(Arc::new(upload));
        }
        record.append_seats(layout(0, new.capacity, new.seats_per_row), &mut self.ids);
        let parts = record.view_parts();
        self.events_by_date.insert((new.date, id));
        self.events.insert(id, record);
        parts
    }

    /// One past the seat-order index of the last seat in a pending or confirmed booking.
    fn seats_in_use_up_to(&self, record: &EventRecord) -> u32 {
        record
            .open_bookings
            .iter()
            .filter_map(|id| self.bookings.get(id))
            .flat_map(|booking| &booking.booking.seats)
            .filter_map(|seat| record.seat_order.get(&seat.id))
            .map(|index| *index as u32 + 1)
            .max()
            .unwrap_or(0)
    }

    fn update_event(
        &mut self,
        id: EventId,
        patch: &EventPatch,
        now: Timestamp,
        audit: AuditStamp,
    ) -> Result<EventViewParts, EventWriteError> {
        self.check_actor(&audit)?;
        let record = self.events.get(&id).ok_or(EventWriteError::NotFound)?;
        let snapshot = EventSnapshot {
            event: Event::clone(&record.event),
            sales: record.sales.clone(),
            seats_in_use_up_to: self.seats_in_use_up_to(record),
        };
        let plan = plan_event_update(&snapshot, patch, now)?;
        let cancels_event = plan.cancels_event;
        let before = snapshot.event.clone();
        self.apply_plan(snapshot.event, plan);
        if let Some(record) = self.events.get(&id) {
            if let Some(notice) = Notice::of_show_update(&before, &record.event, now) {
                self.outbox.record(notice, None, now);
            }
        }
        if cancels_event {
            let (bookings_cancelled, bookings_refunded) = self.cancel_open_bookings(id, now);
            self.audit.record([audit.entry(AuditAction::EventCancelled {
                event: id,
                bookings_cancelled,
                bookings_refunded,
            })]);
        }
        let record = self.events.get(&id).ok_or(EventWriteError::NotFound)?;
        Ok(record.view_parts())
    }

    fn apply_plan(&mut self, before: Event, plan: EventUpdatePlan) {
        let phases = plan
            .phases
            .into_iter()
            .map(|phase| phase_from_plan(phase, &mut self.ids))
            .collect();
        let after = Event {
            name: plan.name,
            description: plan.description,
            date: plan.date,
            venue: plan.venue,
            image: plan.image.shown_after(before.image.as_ref()),
            status: plan.status,
            capacity: plan.capacity,
            phases,
            ..before
        };
        let Some(record) = self.events.get_mut(&after.id) else {
            return;
        };
        match plan.image {
            ImageChange::Keep => {}
            ImageChange::Remove | ImageChange::Set(NewImage::Link(_)) => record.image_upload = None,
            ImageChange::Set(NewImage::Upload(upload)) => {
                record.image_upload = Some(Arc::new(upload));
            }
        }
        let old_capacity = record.seats.len() as u32;
        if plan.capacity > old_capacity {
            let added = layout(
                old_capacity,
                plan.capacity - old_capacity,
                after.seats_per_row,
            );
            record.append_seats(added, &mut self.ids);
        } else {
            record.truncate_seats(plan.capacity as usize);
        }
        self.moved_seat_maps.push(after.id);
        self.events_by_date.remove(&(record.event.date, after.id));
        self.events_by_date.insert((after.date, after.id));
        record.event = Arc::new(after);
    }

    /// Cancels every open booking of a cancelled event, refunding the paid ones; returns how
    /// many it cancelled, and how many of those it refunded.
    fn cancel_open_bookings(&mut self, id: EventId, now: Timestamp) -> (u64, u64) {
        let open: Vec<BookingId> = self
            .events
            .get(&id)
            .map(|record| record.open_bookings.iter().copied().collect())
            .unwrap_or_default();
        let (mut cancelled, mut refunded) = (0, 0);
        for booking_id in open {
            let outcome = self.transition(booking_id, now, |booking| {
                booking.cancel_with_event(now).ok_or(())
            });
            match outcome {
                Some(Ok(CancelOutcome::Refund)) => {
                    self.refund(booking_id, now);
                    cancelled += 1;
                    refunded += 1;
                }
                Some(Ok(CancelOutcome::Released)) => cancelled += 1,
                Some(Err(())) | None => {}
            }
        }
        (cancelled, refunded)
    }
}

#[async_trait]
impl EventRepository for MemoryStore {
    async fn create(&self, event: NewEvent) -> Result<EventView, StoreError> {
        let parts = self.locked()?.create_event(event);
        Ok(parts.assemble())
    }

    async fn find(&self, id: EventId, now: Timestamp) -> Result<Option<EventView>, StoreError> {
        let parts = self
            .locked_at(now)?
            .events
            .get(&id)
            .map(EventRecord::view_parts);
        Ok(parts.map(EventViewParts::assemble))
    }

    async fn list(
        &self,
        filter: EventFilter,
        page: Page,
        now: Timestamp,
    ) -> Result<Paged<EventView>, StoreError> {
        let query = filter.query.as_deref().map(str::to_lowercase);
        let (parts, total) = {
            let state = self.locked_at(now)?;
            let matching: Vec<&EventRecord> = state
                .events_by_date
                .iter()
                .filter_map(|(_, id)| state.events.get(id))
                .filter(|record| record.matches(&filter, query.as_deref(), now))
                .collect();
            let parts: Vec<EventViewParts> = matching
                .iter()
                .skip(page.offset())
                .take(page.per_page as usize)
                .map(|record| record.view_parts())
                .collect();
            (parts, matching.len() as u64)
        };
        Ok(Paged {
            items: parts.into_iter().map(EventViewParts::assemble).collect(),
            total,
        })
    }

    async fn update(
        &self,
        id: EventId,
        patch: EventPatch,
        now: Timestamp,
        audit: AuditStamp,
    ) -> Result<EventView, EventWriteError> {
        let parts = self.locked_at(now)?.update_event(id, &patch, now, audit)?;
        Ok(parts.assemble())
    }

    async fn delete(&self, id: EventId, audit: AuditStamp) -> Result<(), EventDeleteError> {
        let mut state = self.locked()?;
        state.check_actor(&audit)?;
        let record = state.events.get(&id).ok_or(EventDeleteError::NotFound)?;
        if record.booking_count > 0 {
            return Err(EventDeleteError::HasBookings);
        }
        let date = record.event.date;
        let name = record.event.name.clone();
        state.events.remove(&id);
        state.events_by_date.remove(&(date, id));
        state
            .audit
            .record([audit.entry(AuditAction::EventDeleted { event: id, name })]);
        Ok(())
    }

    async fn image(&self, id: EventId) -> Result<Option<ImageFile>, StoreError> {
        let upload = self
            .locked()?
            .events
            .get(&id)
            .and_then(|record| record.image_upload.clone());
        Ok(upload.map(|upload| ImageFile {
            media_type: upload.media_type(),
            digest: upload.digest().clone(),
            bytes: upload.bytes().to_vec(),
        }))
    }

    async fn seats(&self, id: EventId, now: Timestamp) -> Result<Option<SeatMap>, StoreError> {
        let state = self.locked_at(now)?;
        let Some(record) = state.events.get(&id) else {
            return Ok(None);
        };
        let seats = record
            .seats
            .iter()
            .map(|seat| SeatView {
                seat: seat.clone(),
                status: state.seat_status(seat.id),
            })
            .collect();
        Ok(Some(SeatMap {
            version: record.seat_map_version,
            seats,
        }))
    }

    async fn seat_map_version(
        &self,
        id: EventId,
        now: Timestamp,
    ) -> Result<Option<u64>, StoreError> {
        let state = self.locked_at(now)?;
        Ok(state.events.get(&id).map(|record| record.seat_map_version))
    }
}
