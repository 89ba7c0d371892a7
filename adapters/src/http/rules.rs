//! What the document states of each field: lengths, ranges, patterns, formats, the values a
//! text takes, how many items a list holds. Each rule is read from the domain's constants, so
//! that the number the document states is the number the domain checks; the domain stays the
//! one place that decides.

use poem_openapi::registry::MetaSchema;
use serde_json::Value;

use application::notifications::DeliveryState;
use application::ports::{MAX_PAGE, MAX_PER_PAGE};
use domain::audit::AuditActionKind;
use domain::booking::{BookingStatus, MOST_SEATS_PER_BOOKING};
use domain::event::{
    EventStatus, ShownStatus, DESCRIPTION_LENGTH, EVENT_NAME_LENGTH, MAX_CAPACITY, MAX_PHASES,
    MAX_SEATS_PER_ROW, PHASE_NAME_LENGTH, VENUE_LENGTH,
};
use domain::notification::NoticeKind;
use domain::payment::{PaymentStatus, MAX_PAYMENT, METHOD_LENGTH};
use domain::seat::SeatStatus;
use domain::user::{
    Role, MAX_EMAIL_CHARS, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, NIK_DIGITS, PERSON_NAME_LENGTH,
    PHONE_DIGITS,
};
use domain::validation::TextLength;

/// A rule a field's schema states.
pub trait SchemaRule: 'static {
    fn state(schema: &mut MetaSchema);
}

fn length(schema: &mut MetaSchema, length: TextLength) {
    // A least of 0 says nothing; the document leaves it out.
    schema.min_length = (length.min > 0).then_some(length.min);
    schema.max_length = Some(length.max);
}

fn range(schema: &mut MetaSchema, minimum: i64, maximum: Option<i64>) {
    schema.minimum = Some(minimum as f64);
    schema.maximum = maximum.map(|maximum| maximum as f64);
}

fn one_of(schema: &mut MetaSchema, values: impl IntoIterator<Item = &'static str>) {
    schema.enum_items = values.into_iter().map(Value::from).collect();
}

/// A pattern of text that is `pattern`, or blank, with any spaces around.
fn blank_or(pattern: &str) -> String {
    format!("^\\s*({pattern})?\\s*$")
}

/// Declares rules: `Name => |schema| what it states;`.
macro_rules! rules {
    ($($(#[doc = $doc:literal])* $name:ident => |$schema:ident| $state:expr;)*) => {
        $(
            $(#[doc = $doc])*
            pub enum $name {}

            impl SchemaRule for $name {
                fn state($schema: &mut MetaSchema) {
                    $state
                }
            }
        )*
    };
}

rules! {
    /// Any text.
    AnyText => |_schema| ();
    /// A person's name.
    PersonName => |schema| length(schema, PERSON_NAME_LENGTH);
    /// An email address.
    EmailAddress => |schema| {
        schema.format = Some("email");
        schema.max_length = Some(MAX_EMAIL_CHARS);
    };
    /// A new password: bcrypt reads 72 bytes, so at most 72 characters (fewer beyond ASCII).
    NewPassword => |schema| {
        schema.min_length = Some(MIN_PASSWORD_CHARS);
        schema.max_length = Some(MAX_PASSWORD_BYTES);
    };
    /// An Indonesian national identity number; blank for none, spaces around ignored.
    NikNumber => |schema| schema.pattern = Some(blank_or(&format!("[0-9]{{{NIK_DIGITS}}}")));
    /// A phone number; blank for none, spaces around ignored.
    PhoneNumber => |schema| {
        let digits = format!("\\+?[0-9]{{{},{}}}", PHONE_DIGITS.start(), PHONE_DIGITS.end());
        schema.pattern = Some(blank_or(&digits));
    };
    /// A role.
    RoleName => |schema| one_of(schema, Role::ALL.map(Role::as_str));
    /// A show's name.
    EventName => |schema| length(schema, EVENT_NAME_LENGTH);
    /// Where a show takes place.
    VenueName => |schema| length(schema, VENUE_LENGTH);
    /// A show's description.
    Description => |schema| length(schema, DESCRIPTION_LENGTH);
    /// A price phase's name.
    PhaseName => |schema| length(schema, PHASE_NAME_LENGTH);
    /// How a payment was made.
    PaymentMethod => |schema| length(schema, METHOD_LENGTH);
    /// The status an organiser sets.
    EventStatusChange => |schema| one_of(schema, EventStatus::ALL.map(EventStatus::as_str));
    /// A show's status as people see it.
    ShownEventStatus => |schema| one_of(schema, ShownStatus::ALL.map(ShownStatus::as_str));
    /// A seat's state.
    SeatStatusName => |schema| one_of(schema, SeatStatus::ALL.map(SeatStatus::as_str));
    /// A booking's status.
    BookingStatusName => |schema| one_of(schema, BookingStatus::ALL.map(BookingStatus::as_str));
    /// Whether a booking's guest is in.
    CheckInStatus => |schema| one_of(schema, [CHECKED_IN, NOT_CHECKED_IN]);
    /// A payment's status.
    PaymentStatusName => |schema| one_of(schema, PaymentStatus::ALL.map(PaymentStatus::as_str));
    /// A kind of audit entry.
    AuditAction => |schema| one_of(schema, AuditActionKind::ALL.map(AuditActionKind::as_str));
    /// Where a notification's delivery stands.
    DeliveryStatusName => |schema| one_of(schema, DeliveryState::ALL.map(DeliveryState::as_str));
    /// A kind of booking change told to webhooks.
    NotificationKind => |schema| one_of(schema, NoticeKind::ALL.map(NoticeKind::as_str));
    /// A time a client sends: RFC 3339 with an offset, or `YYYY-MM-DD HH:MM[:SS]` (a `T` or a
    /// space between) read at the venue's offset.
    TimeText => |schema| {
        schema.pattern = Some(format!("^\\s*{DAY}[Tt ]{MINUTE}(:[0-9]{{2}}|:[0-9]{{2}}(\\.[0-9]+)?([Zz]|[+-][0-9]{{2}}:[0-9]{{2}}))?\\s*$"));
    };
    /// A ticket token as its QR code carries it: base64url claims, a dot, a base64url signature.
    TicketToken => |schema| {
        schema.max_length = Some(MAX_TICKET_CHARS);
        schema.pattern = Some("^\\s*[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\s*$".into());
    };
    /// Words to look for in shows' names and venues.
    SearchText => |schema| schema.max_length = Some(MAX_SEARCH_CHARS);
    /// The id of something stored.
    Id => |schema| range(schema, 1, None);
    /// A number of seats of a show.
    Capacity => |schema| range(schema, 1, Some(i64::from(MAX_CAPACITY)));
    /// Seats to a row.
    SeatsPerRow => |schema| range(schema, 1, Some(i64::from(MAX_SEATS_PER_ROW)));
    /// A price in rupiah.
    Price => |schema| range(schema, 0, None);
    /// Tickets a phase may sell.
    Quota => |schema| range(schema, 1, Some(i64::from(MAX_CAPACITY)));
    /// Rupiah handed over.
    Amount => |schema| range(schema, 0, Some(MAX_PAYMENT));
    /// How many seats a booking is for.
    SeatCount => |schema| range(schema, 1, Some(i64::from(MOST_SEATS_PER_BOOKING)));
    /// The seats of a booking: each once.
    SeatList => |schema| {
        schema.min_items = Some(1);
        schema.max_items = Some(MOST_SEATS_PER_BOOKING as usize);
        schema.unique_items = Some(true);
    };
    /// A show's price phases.
    PhaseList => |schema| {
        schema.min_items = Some(1);
        schema.max_items = Some(MAX_PHASES);
    };
    /// A page of a list.
    PageNumber => |schema| range(schema, 1, Some(i64::from(MAX_PAGE)));
    /// Items on a page.
    PageSize => |schema| range(schema, 1, Some(i64::from(MAX_PER_PAGE)));
}

/// Rule `R` of a field that may also be sent as `null`: its values include `null`, as OpenAPI
/// 3.0 asks of a nullable field with values.
pub struct OrNull<R>(std::marker::PhantomData<R>);

impl<R: SchemaRule> SchemaRule for OrNull<R> {
    fn state(schema: &mut MetaSchema) {
        R::state(schema);
        if !schema.enum_items.is_empty() {
            schema.enum_items.push(Value::Null);
        }
    }
}

/// `YYYY-MM-DD`, as a pattern.
const DAY: &str = "[0-9]{4}-[0-9]{2}-[0-9]{2}";
/// `HH:MM`, as a pattern.
const MINUTE: &str = "[0-9]{2}:[0-9]{2}";

/// `check_in_status` of a booking whose guest is in.
pub const CHECKED_IN: &str = "checked in";
/// `check_in_status` of a booking whose guest is not (yet) in.
pub const NOT_CHECKED_IN: &str = "not checked in";
/// The longest ticket token taken, in characters: a booking of 100 seats stays well below it.
pub const MAX_TICKET_CHARS: usize = 2000;
/// The longest search for shows, in characters.
pub const MAX_SEARCH_CHARS: usize = 255;
