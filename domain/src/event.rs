//! Events, their price phases, and the rules for creating and changing them.

use std::collections::BTreeMap;
use std::fmt;

use crate::image::{
    parse_image_url, EventImage, ImageChange, ImageUrlError, NewImage, MAX_IMAGE_DATA_URL_BYTES,
};
use crate::money::Money;
use crate::validation::{multiline_text_of_length, text_of_length, TextLength, ValidationErrors};
use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub i64);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhaseId(pub i64);

impl fmt::Display for PhaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

pub const MAX_CAPACITY: u32 = 100_000;
pub const MAX_SEATS_PER_ROW: u32 = 100;
pub const DEFAULT_SEATS_PER_ROW: u32 = 10;
pub const MAX_PHASES: usize = 10;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
pub const EVENT_NAME_LENGTH: TextLength = TextLength::new(3, 255);
pub const VENUE_LENGTH: TextLength = TextLength::new(1, 255);
pub const DESCRIPTION_LENGTH: TextLength = TextLength::new(0, MAX_DESCRIPTION_CHARS);
pub const PHASE_NAME_LENGTH: TextLength = TextLength::new(3, 50);
/// The status an organiser sets. `ended` is not stored: it follows from the date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Published,
    Cancelled,
}

impl EventStatus {
    pub const ALL: [EventStatus; 2] = [EventStatus::Published, EventStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Published => "published",
            EventStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "published" => Ok(EventStatus::Published),
            "cancelled" => Ok(EventStatus::Cancelled),
            "ended" => {
                Err("cannot be set to \"ended\": an event ends when its date passes".to_string())
            }
            other => Err(format!(
                "must be \"published\" or \"cancelled\", not \"{other}\""
            )),
        }
    }
}

/// The status people see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownStatus {
    Published,
    Ended,
    Cancelled,
}

impl ShownStatus {
    pub const ALL: [ShownStatus; 3] = [
        ShownStatus::Published,
        ShownStatus::Ended,
        ShownStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShownStatus::Published => "published",
            ShownStatus::Ended => "ended",
            ShownStatus::Cancelled => "cancelled",
        }
    }
}

/// A price phase (Early Bird, Presale, Normal): a price, a quota of tickets and a sales window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub id: PhaseId,
    pub name: String,
    pub price: Money,
    pub quota: u32,
    pub start_date: Timestamp,
    pub end_date: Timestamp,
}

impl Phase {
    /// Whether `now` falls inside the sales window, both ends included.
    pub fn window_holds(&self, now: Timestamp) -> bool {
        self.start_date <= now && now <= self.end_date
    }
}

/// Tickets counted against each phase's quota: those of pending and confirmed bookings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhaseSales(BTreeMap<PhaseId, u32>);

impl PhaseSales {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn sold(&self, phase: PhaseId) -> u32 {
        self.0.get(&phase).copied().unwrap_or(0)
    }
    pub fn add(&mut self, phase: PhaseId, tickets: u32) {
        *self.0.entry(phase).or_insert(0) += tickets;
    }
    pub fn remove(&mut self, phase: PhaseId, tickets: u32) {
        let entry = self.0.entry(phase).or_insert(0);
        *entry = entry.saturating_sub(tickets);
    }
    pub fn remaining(&self, phase: &Phase) -> u32 {
        phase.quota.saturating_sub(self.sold(phase.id))
    }
    /// On sale now: inside its window and not sold out.
    pub fn is_on_sale(&self, phase: &Phase, now: Timestamp) -> bool {
        phase.window_holds(now) && self.remaining(phase) > 0
    }
}

/// The phase a booking made now gets: the first, in the event's order, whose window holds now
/// and whose quota is not used up. Early Bird gives way to Presale when its date passes or it sells out.
pub fn current_phase<'a>(
    phases: &'a [Phase],
    sales: &PhaseSales,
    now: Timestamp,
) -> Option<&'a Phase> {
    phases.iter().find(|phase| sales.is_on_sale(phase, now))
}

/// A comedy show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub name: String,
    pub description: Option<String>,
    pub date: Timestamp,
    pub venue: String,
    pub image: Option<EventImage>,
    pub capacity: u32,
    pub seats_per_row: u32,
    pub status: EventStatus,
    pub phases: Vec<Phase>,
    pub created_at: Timestamp,
}

impl Event {
    pub fn shown_status(&self, now: Timestamp) -> ShownStatus {
        match self.status {
            EventStatus::Cancelled => ShownStatus::Cancelled,
            EventStatus::Published if self.date <= now => ShownStatus::Ended,
            EventStatus::Published => ShownStatus::Published,
        }
    }

    pub fn has_started(&self, now: Timestamp) -> bool {
        self.date <= now
    }

    pub fn phase(&self, id: PhaseId) -> Option<&Phase> {
        self.phases.iter().find(|phase| phase.id == id)
    }
}

/// A phase as an organiser sends it; `id` names an existing phase on update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseInput {
    pub id: Option<PhaseId>,
    pub name: String,
    pub price: i64,
    pub quota: i64,
    pub start_date: Timestamp,
    pub end_date: Timestamp,
}

/// An event as an organiser sends it on creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInput {
    pub name: String,
    pub description: Option<String>,
    pub date: Timestamp,
    pub venue: String,
    pub image_url: Option<String>,
    pub seats_per_row: Option<i64>,
    pub capacity: Option<i64>,
    pub phases: Vec<PhaseInput>,
}

/// A validated phase, not yet stored when `id` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhasePlan {
    pub id: Option<PhaseId>,
    pub name: String,
    pub price: Money,
    pub quota: u32,
    pub start_date: Timestamp,
    pub end_date: Timestamp,
}

/// A validated new event; the store assigns ids and lays out `capacity` seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub name: String,
    pub description: Option<String>,
    pub date: Timestamp,
    pub venue: String,
    /// The picture, with an upload's bytes, which the store keeps apart from the event.
    pub image: Option<NewImage>,
    pub capacity: u32,
    pub seats_per_row: u32,
    pub phases: Vec<PhasePlan>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventInputError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("the picture is larger than the {limit_bytes} bytes allowed")]
    ImageTooLarge { limit_bytes: usize },
}

/// Field checks shared by creation and update.
struct EventChecks {
    errors: ValidationErrors,
    image_too_large: bool,
}

impl EventChecks {
    fn new() -> Self {
        EventChecks {
            errors: ValidationErrors::new(),
            image_too_large: false,
        }
    }

    fn name(&mut self, name: &str) -> Option<String> {
        self.errors
            .check("name", text_of_length(name, EVENT_NAME_LENGTH))
    }

    fn venue(&mut self, venue: &str) -> Option<String> {
        self.errors
            .check("venue", text_of_length(venue, VENUE_LENGTH))
    }

    fn description(&mut self, description: Option<&str>) -> Option<Option<String>> {
        let Some(text) = description else {
            return Some(None);
        };
        self.errors
            .check(
                "description",
                multiline_text_of_length(text, DESCRIPTION_LENGTH),
            )
            .map(|trimmed| (!trimmed.is_empty()).then_some(trimmed))
    }

    fn date(&mut self, date: Timestamp, now: Timestamp) {
        if date <= now {
            self.errors.add("date", "must be in the future");
        }
    }

    fn image_url(&mut self, image_url: Option<&str>) -> Option<Option<NewImage>> {
        match image_url.map(str::trim) {
            None | Some("") => Some(None),
            Some(url) => match parse_image_url(url) {
                Ok(image) => Some(Some(image)),
                Err(ImageUrlError::TooLarge) => {
                    self.image_too_large = true;
                    None
                }
                Err(problem) => {
                    self.errors.add("image_url", problem.to_string());
                    None
                }
            },
        }
    }

    fn capacity(&mut self, capacity: i64) -> Option<u32> {
        if (1..=i64::from(MAX_CAPACITY)).contains(&capacity) {
            Some(capacity as u32)
        } else {
            self.errors
                .add("capacity", format!("must be between 1 and {MAX_CAPACITY}"));
            None
        }
    }

    fn phases(&mut self, phases: &[PhaseInput], event_date: Timestamp) -> Vec<PhasePlan> {
        if phases.is_empty() || phases.len() > MAX_PHASES {
            self.errors.add(
                "phases",
                format!("must list 1 to {MAX_PHASES} price phases"),
            );
        }
        let mut plans = Vec::with_capacity(phases.len());
        for (index, phase) in phases.iter().enumerate() {
            let field = |name: &str| format!("phases[{index}].{name}");
            let name = self.errors.check(
                &field("name"),
                text_of_length(&phase.name, PHASE_NAME_LENGTH),
            );
            if phase.price < 0 {
                self.errors.add(field("price"), "must not be negative");
            }
            if phase.quota <= 0 || phase.quota > i64::from(MAX_CAPACITY) {
                self.errors.add(
                    field("quota"),
                    format!("must be between 1 and {MAX_CAPACITY}"),
                );
            }
            if phase.end_date <= phase.start_date {
                self.errors
                    .add(field("end_date"), "must be after start_date");
            }
            if phase.end_date > event_date {
                self.errors
                    .add(field("end_date"), "must not be after the event's date");
            }
            if let Some(existing) = phase.id {
                if phases[..index]
                    .iter()
                    .any(|earlier| earlier.id == Some(existing))
                {
                    self.errors
                        .add(field("id"), format!("phase {existing} is listed twice"));
                }
            }
            if let Some(name) = name {
                plans.push(PhasePlan {
                    id: phase.id,
                    name,
                    price: Money::rupiah(phase.price.max(0)),
                    quota: phase.quota.clamp(0, i64::from(MAX_CAPACITY)) as u32,
                    start_date: phase.start_date,
                    end_date: phase.end_date,
                });
            }
        }
        plans
    }

    fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, EventInputError> {
        if !self.errors.is_empty() {
            Err(EventInputError::Invalid(self.errors))
        } else if self.image_too_large {
            Err(EventInputError::ImageTooLarge {
                limit_bytes: MAX_IMAGE_DATA_URL_BYTES,
            })
        } else {
            Ok(value())
        }
    }
}

/// Validates an event an organiser creates.
pub fn validate_new_event(input: &EventInput, now: Timestamp) -> Result<NewEvent, EventInputError> {
    let mut checks = EventChecks::new();
    let name = checks.name(&input.name);
    let venue = checks.venue(&input.venue);
    let description = checks.description(input.description.as_deref());
    checks.date(input.date, now);
    let image = checks.image_url(input.image_url.as_deref());
    let seats_per_row = match input.seats_per_row {
        None => Some(DEFAULT_SEATS_PER_ROW),
        Some(n) if (1..=i64::from(MAX_SEATS_PER_ROW)).contains(&n) => Some(n as u32),
        Some(_) => {
            checks.errors.add(
                "seats_per_row",
                format!("must be between 1 and {MAX_SEATS_PER_ROW}"),
            );
            None
        }
    };
    if input.phases.iter().any(|phase| phase.id.is_some()) {
        checks
            .errors
            .add("phases", "a new event's phases must not carry an id");
    }
    let phases = checks.phases(&input.phases, input.date);
    let capacity = match input.capacity {
        Some(capacity) => checks.capacity(capacity),
        None => {
            let quotas: i64 = input.phases.iter().map(|phase| phase.quota.max(0)).sum();
            if (1..=i64::from(MAX_CAPACITY)).contains(&quotas) {
                Some(quotas as u32)
            } else {
                checks.errors.add(
                    "capacity",
                    format!(
                        "is needed when the phases' quotas do not add up to 1…{MAX_CAPACITY} seats"
                    ),
                );
                None
            }
        }
    };
    checks.finish(|| NewEvent {
        name: name.unwrap_or_default(),
        description: description.unwrap_or_default(),
        date: input.date,
        venue: venue.unwrap_or_default(),
        image: image.unwrap_or_default(),
        capacity: capacity.unwrap_or_default(),
        seats_per_row: seats_per_row.unwrap_or_default(),
        phases,
        created_at: now,
    })
}

/// What an organiser may change on an existing event; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub date: Option<Timestamp>,
    pub venue: Option<String>,
    pub image_url: Option<Option<String>>,
    pub status: Option<String>,
    pub capacity: Option<i64>,
    pub phases: Option<Vec<PhaseInput>>,
}

/// What the store knows about an event's sales when it is about to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSnapshot {
    pub event: Event,
    pub sales: PhaseSales,
    /// One past the seat-order index of the last held or sold seat; 0 when none is taken.
    pub seats_in_use_up_to: u32,
}

/// A validated change, for the store to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventUpdatePlan {
    pub name: String,
    pub description: Option<String>,
    pub date: Timestamp,
    pub venue: String,
    pub image: ImageChange,
    pub status: EventStatus,
    pub capacity: u32,
    /// The phases in their new order; those without an id are to be created.
    pub phases: Vec<PhasePlan>,
    pub removed_phases: Vec<PhaseId>,
    /// Whether this change cancels the event: its open bookings are cancelled and refunded.
    pub cancels_event: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventUpdateError {
    #[error("{0}")]
    Input(#[from] EventInputError),
    #[error("capacity cannot drop to {requested}: seats up to number {in_use} in seat order are held or sold")]
    CapacityBelowSeatsInUse { requested: u32, in_use: u32 },
    #[error("phase \"{name}\" has {sold} tickets sold or held and cannot be removed")]
    PhaseHasSales { name: String, sold: u32 },
    #[error(
        "the quota of phase \"{name}\" cannot drop below the {sold} tickets already sold or held"
    )]
    QuotaBelowSold { name: String, sold: u32 },
    #[error("a cancelled event cannot be published again")]
    CancelledForGood,
}

/// Checks an organiser's change against the event as it is and its sales so far.
pub fn plan_event_update(
    snapshot: &EventSnapshot,
    patch: &EventPatch,
    now: Timestamp,
) -> Result<EventUpdatePlan, EventUpdateError> {
    let event = &snapshot.event;
    let mut checks = EventChecks::new();
    let name = patch.name.as_deref().map(|name| checks.name(name));
    let venue = patch.venue.as_deref().map(|venue| checks.venue(venue));
    let description = patch
        .description
        .as_ref()
        .map(|text| checks.description(text.as_deref()));
    if let Some(date) = patch.date {
        checks.date(date, now);
    }
    let date = patch.date.unwrap_or(event.date);
    let image = patch
        .image_url
        .as_ref()
        .map(|url| checks.image_url(url.as_deref()));
    let status = match patch.status.as_deref() {
        None => Some(event.status),
        Some(text) => checks.errors.check("status", EventStatus::parse(text)),
    };
    let capacity = patch.capacity.map(|capacity| checks.capacity(capacity));
    let phase_inputs: Vec<PhaseInput> = match &patch.phases {
        Some(phases) => phases.clone(),
        None => event
            .phases
            .iter()
            .map(|phase| PhaseInput {
                id: Some(phase.id),
                name: phase.name.clone(),
                price: phase.price.amount(),
                quota: i64::from(phase.quota),
                start_date: phase.start_date,
                end_date: phase.end_date,
            })
            .collect(),
    };
    for (index, phase) in phase_inputs.iter().enumerate() {
        if let Some(id) = phase.id {
            if event.phase(id).is_none() {
                checks.errors.add(
                    format!("phases[{index}].id"),
                    format!("phase {id} is not a phase of this event"),
                );
            }
        }
    }
    let phases = checks.phases(&phase_inputs, date);
    checks.finish(|| ())?;

    let status = status.unwrap_or(event.status);
    if event.status == EventStatus::Cancelled
        && status == EventStatus::Published
        && patch.status.is_some()
    {
        return Err(EventUpdateError::CancelledForGood);
    }
    let capacity = capacity.flatten().unwrap_or(event.capacity);
    if capacity < snapshot.seats_in_use_up_to {
        return Err(EventUpdateError::CapacityBelowSeatsInUse {
            requested: capacity,
            in_use: snapshot.seats_in_use_up_to,
        });
    }
    for plan in &phases {
        if let Some(id) = plan.id {
            let sold = snapshot.sales.sold(id);
            if plan.quota < sold {
                return Err(EventUpdateError::QuotaBelowSold {
                    name: plan.name.clone(),
                    sold,
                });
            }
        }
    }
    let mut removed_phases = Vec::new();
    for phase in &event.phases {
        if !phases.iter().any(|plan| plan.id == Some(phase.id)) {
            let sold = snapshot.sales.sold(phase.id);
            if sold > 0 {
                return Err(EventUpdateError::PhaseHasSales {
                    name: phase.name.clone(),
                    sold,
                });
            }
            removed_phases.push(phase.id);
        }
    }
    Ok(EventUpdatePlan {
        name: name.flatten().unwrap_or_else(|| event.name.clone()),
        description: description
            .flatten()
            .unwrap_or_else(|| event.description.clone()),
        date,
        venue: venue.flatten().unwrap_or_else(|| event.venue.clone()),
        image: match image.flatten() {
            None => ImageChange::Keep,
            Some(None) => ImageChange::Remove,
            Some(Some(image)) => ImageChange::Set(image),
        },
        status,
        capacity,
        phases,
        removed_phases,
        cancels_event: event.status == EventStatus::Published && status == EventStatus::Cancelled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageMediaType;
    use chrono::{Duration, TimeZone, Utc};

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
    }

    fn phase(id: i64, quota: u32, start_days: i64, end_days: i64) -> Phase {
        Phase {
            id: PhaseId(id),
            name: format!("Phase {id}"),
            price: Money::rupiah(100_000 * id),
            quota,
            start_date: now() + Duration::days(start_days),
            end_date: now() + Duration::days(end_days),
        }
    }

    #[test]
    fn current_phase_follows_dates_and_quotas_in_order() {
        let phases = vec![phase(1, 2, -5, 5), phase(2, 5, -5, 20), phase(3, 5, 10, 20)];
        let mut sales = PhaseSales::new();
        assert_eq!(
            current_phase(&phases, &sales, now()).map(|p| p.id),
            Some(PhaseId(1))
        );
        sales.add(PhaseId(1), 2);
        assert_eq!(
            current_phase(&phases, &sales, now()).map(|p| p.id),
            Some(PhaseId(2)),
            "sold out gives way"
        );
        sales.remove(PhaseId(1), 1);
        assert_eq!(
            current_phase(&phases, &sales, now()).map(|p| p.id),
            Some(PhaseId(1)),
            "a freed ticket returns"
        );
        let later = now() + Duration::days(6);
        assert_eq!(
            current_phase(&phases, &sales, later).map(|p| p.id),
            Some(PhaseId(2)),
            "date passed gives way"
        );
        sales.add(PhaseId(2), 5);
        assert_eq!(
            current_phase(&phases, &sales, later),
            None,
            "nothing on sale between windows"
        );
        let much_later = now() + Duration::days(11);
        assert_eq!(
            current_phase(&phases, &sales, much_later).map(|p| p.id),
            Some(PhaseId(3))
        );
    }

    #[test]
    fn phase_window_includes_both_ends() {
        let p = phase(1, 1, 0, 1);
        assert!(p.window_holds(p.start_date));
        assert!(p.window_holds(p.end_date));
        assert!(!p.window_holds(p.start_date - Duration::seconds(1)));
        assert!(!p.window_holds(p.end_date + Duration::seconds(1)));
    }

    fn input() -> EventInput {
        EventInput {
            name: "Stand-up Night".into(),
            description: Some("Jokes".into()),
            date: now() + Duration::days(30),
            venue: "Jakarta".into(),
            image_url: None,
            seats_per_row: None,
            capacity: None,
            phases: vec![
                PhaseInput {
                    id: None,
                    name: "Early Bird".into(),
                    price: 100_000,
                    quota: 20,
                    start_date: now(),
                    end_date: now() + Duration::days(10),
                },
                PhaseInput {
                    id: None,
                    name: "Normal".into(),
                    price: 150_000,
                    quota: 30,
                    start_date: now(),
                    end_date: now() + Duration::days(29),
                },
            ],
        }
    }

    #[test]
    fn new_event_defaults_capacity_to_the_quotas_and_ten_seats_a_row() {
        let event = validate_new_event(&input(), now()).unwrap();
        assert_eq!(event.capacity, 50);
        assert_eq!(event.seats_per_row, 10);
        assert_eq!(event.phases.len(), 2);
        assert_eq!(event.phases[1].name, "Normal");
    }

    #[test]
    fn new_event_reports_every_problem() {
        let mut bad = input();
        bad.name = "ab".into();
        bad.date = now() - Duration::days(1);
        bad.venue = " ".into();
        bad.seats_per_row = Some(0);
        bad.capacity = Some(100_001);
        bad.phases[0].price = -1;
        bad.phases[1].end_date = bad.phases[1].start_date;
        let Err(EventInputError::Invalid(errors)) = validate_new_event(&bad, now()) else {
            panic!("expected validation errors");
        };
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        for field in [
            "name",
            "venue",
            "date",
            "seats_per_row",
            "capacity",
            "phases[0].price",
            "phases[1].end_date",
        ] {
            assert!(fields.contains(&field), "{field} missing from {fields:?}");
        }
    }

    #[test]
    fn phases_must_end_by_the_show_and_number_one_to_ten() {
        let mut late = input();
        late.phases[0].end_date = late.date + Duration::hours(1);
        assert!(validate_new_event(&late, now()).is_err());
        let mut none = input();
        none.phases.clear();
        none.capacity = Some(10);
        assert!(validate_new_event(&none, now()).is_err());
        let mut many = input();
        many.phases = (0..11).map(|_| input().phases[0].clone()).collect();
        assert!(validate_new_event(&many, now()).is_err());
    }

    /// A real 1×1 PNG as a data URL.
    const PNG_DATA_URL: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

    #[test]
    fn pictures_are_links_or_raster_uploads_up_to_two_megabytes() {
        let mut with_link = input();
        with_link.image_url = Some("https://cdn.example.com/a.jpg".into());
        assert_eq!(
            validate_new_event(&with_link, now()).unwrap().image,
            Some(NewImage::Link("https://cdn.example.com/a.jpg".into()))
        );
        let mut with_upload = input();
        with_upload.image_url = Some(PNG_DATA_URL.into());
        let image = validate_new_event(&with_upload, now()).unwrap().image;
        assert!(
            matches!(&image, Some(NewImage::Upload(upload)) if upload.media_type() == ImageMediaType::Png),
            "{image:?}"
        );
        let mut without = input();
        without.image_url = Some("  ".into());
        assert_eq!(validate_new_event(&without, now()).unwrap().image, None);

        for refused in [
            "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+",
            "data:image/png;base64,SGFsbw==",
            "javascript:alert(1)",
            "https://example.com/a.png\"onerror=\"alert(1)",
        ] {
            let mut bad = input();
            bad.image_url = Some(refused.into());
            let Err(EventInputError::Invalid(errors)) = validate_new_event(&bad, now()) else {
                panic!("{refused} was not refused");
            };
            assert_eq!(errors.errors()[0].field, "image_url", "{refused}");
        }

        let big = format!(
            "data:image/png;base64,{}",
            "A".repeat(MAX_IMAGE_DATA_URL_BYTES)
        );
        assert_eq!(parse_image_url(&big), Err(ImageUrlError::TooLarge));
        let mut with_big = input();
        with_big.image_url = Some(big);
        assert!(matches!(
            validate_new_event(&with_big, now()),
            Err(EventInputError::ImageTooLarge { .. })
        ));
    }

    #[test]
    fn an_update_keeps_clears_or_replaces_the_picture() {
        let plan = |image_url: Option<Option<&str>>| {
            let patch = EventPatch {
                image_url: image_url.map(|url| url.map(String::from)),
                ..Default::default()
            };
            plan_event_update(&snapshot(), &patch, now()).map(|plan| plan.image)
        };
        assert_eq!(plan(None), Ok(ImageChange::Keep));
        assert_eq!(plan(Some(None)), Ok(ImageChange::Remove));
        assert_eq!(plan(Some(Some(""))), Ok(ImageChange::Remove));
        assert_eq!(
            plan(Some(Some("https://example.com/b.png"))),
            Ok(ImageChange::Set(NewImage::Link(
                "https://example.com/b.png".into()
            )))
        );
        assert!(matches!(
            plan(Some(Some(PNG_DATA_URL))),
            Ok(ImageChange::Set(NewImage::Upload(_)))
        ));
        assert!(matches!(
            plan(Some(Some("data:image/svg+xml;base64,PHN2Zy8+"))),
            Err(EventUpdateError::Input(EventInputError::Invalid(_)))
        ));
    }

    fn snapshot() -> EventSnapshot {
        let event = Event {
            id: EventId(1),
            name: "Show".into(),
            description: None,
            date: now() + Duration::days(30),
            venue: "Hall".into(),
            image: None,
            capacity: 50,
            seats_per_row: 10,
            status: EventStatus::Published,
            phases: vec![phase(1, 20, -1, 10), phase(2, 30, -1, 29)],
            created_at: now(),
        };
        let mut sales = PhaseSales::new();
        sales.add(PhaseId(1), 5);
        EventSnapshot {
            event,
            sales,
            seats_in_use_up_to: 12,
        }
    }

    #[test]
    fn update_keeps_what_is_not_sent() {
        let patch = EventPatch {
            name: Some("New Name".into()),
            ..Default::default()
        };
        let plan = plan_event_update(&snapshot(), &patch, now()).unwrap();
        assert_eq!(plan.name, "New Name");
        assert_eq!(plan.capacity, 50);
        assert_eq!(plan.phases.len(), 2);
        assert!(plan.removed_phases.is_empty());
        assert!(!plan.cancels_event);
    }

    #[test]
    fn update_protects_sales() {
        let shrink = EventPatch {
            capacity: Some(11),
            ..Default::default()
        };
        assert!(matches!(
            plan_event_update(&snapshot(), &shrink, now()),
            Err(EventUpdateError::CapacityBelowSeatsInUse { .. })
        ));
        let shrink_ok = EventPatch {
            capacity: Some(12),
            ..Default::default()
        };
        assert_eq!(
            plan_event_update(&snapshot(), &shrink_ok, now())
                .unwrap()
                .capacity,
            12
        );

        let mut phases: Vec<PhaseInput> = vec![PhaseInput {
            id: Some(PhaseId(2)),
            name: "Normal".into(),
            price: 1,
            quota: 10,
            start_date: now(),
            end_date: now() + Duration::days(2),
        }];
        let drop_sold = EventPatch {
            phases: Some(phases.clone()),
            ..Default::default()
        };
        assert!(matches!(
            plan_event_update(&snapshot(), &drop_sold, now()),
            Err(EventUpdateError::PhaseHasSales { sold: 5, .. })
        ));

        phases.insert(
            0,
            PhaseInput {
                id: Some(PhaseId(1)),
                name: "Early".into(),
                price: 1,
                quota: 4,
                start_date: now(),
                end_date: now() + Duration::days(1),
            },
        );
        let low_quota = EventPatch {
            phases: Some(phases.clone()),
            ..Default::default()
        };
        assert!(matches!(
            plan_event_update(&snapshot(), &low_quota, now()),
            Err(EventUpdateError::QuotaBelowSold { sold: 5, .. })
        ));

        phases[0].quota = 5;
        phases.push(PhaseInput {
            id: None,
            name: "Late".into(),
            price: 2,
            quota: 3,
            start_date: now(),
            end_date: now() + Duration::days(3),
        });
        let plan = plan_event_update(
            &snapshot(),
            &EventPatch {
                phases: Some(phases),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
        assert_eq!(
            plan.phases.iter().map(|p| p.id).collect::<Vec<_>>(),
            [Some(PhaseId(1)), Some(PhaseId(2)), None]
        );
    }

    #[test]
    fn update_rejects_foreign_phases_and_status_changes() {
        let foreign = EventPatch {
            phases: Some(vec![PhaseInput {
                id: Some(PhaseId(99)),
                name: "Other".into(),
                price: 1,
                quota: 1,
                start_date: now(),
                end_date: now() + Duration::days(1),
            }]),
            ..Default::default()
        };
        assert!(matches!(
            plan_event_update(&snapshot(), &foreign, now()),
            Err(EventUpdateError::Input(_))
        ));

        let cancel = EventPatch {
            status: Some("cancelled".into()),
            ..Default::default()
        };
        let plan = plan_event_update(&snapshot(), &cancel, now()).unwrap();
        assert!(plan.cancels_event);

        let mut cancelled = snapshot();
        cancelled.event.status = EventStatus::Cancelled;
        let republish = EventPatch {
            status: Some("published".into()),
            ..Default::default()
        };
        assert_eq!(
            plan_event_update(&cancelled, &republish, now()),
            Err(EventUpdateError::CancelledForGood)
        );
        let ended = EventPatch {
            status: Some("ended".into()),
            ..Default::default()
        };
        assert!(matches!(
            plan_event_update(&snapshot(), &ended, now()),
            Err(EventUpdateError::Input(_))
        ));
    }

    #[test]
    fn shown_status_follows_the_date() {
        let mut event = snapshot().event;
        assert_eq!(event.shown_status(now()), ShownStatus::Published);
        assert_eq!(event.shown_status(event.date), ShownStatus::Ended);
        event.status = EventStatus::Cancelled;
        assert_eq!(event.shown_status(now()), ShownStatus::Cancelled);
    }
}
