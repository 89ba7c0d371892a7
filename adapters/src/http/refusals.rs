//! The one place where use cases' errors become HTTP answers: each variant its status, its
//! reason and its message in both languages. Each conversion is bounded by the statuses its
//! variants map to, so that `?` on a use case's error compiles only in an operation that
//! declares every one of them (see `error::IntoAnswer`).

use chrono::FixedOffset;
use serde_json::json;

use application::audit::ListAuditError;
use application::auth::{AuthError, Denied};
use application::bookings::{BookingError, CancelError, HistoryError, Never, PayError, PlaceError};
use application::dashboard::DashboardError;
use application::door::{CheckInError, DoorListError, DoorStaff, ScanError};
use application::events::{
    CreateEventError, DeleteEventError, GetEventError, GetImageError, TicketHolderEventsError,
    UpdateEventError,
};
use application::idempotency::IdempotencyError;
use application::notifications::{ManageWebhooksError, WebhookError};
use application::users::{
    ChangePasswordError, DeactivateUserError, GetUserError, ListUsersError, LoginError,
    PasswordChecksBusy, RegisterError, UpdateUserError,
};
use application::StoreError;
use domain::booking::{
    BookedSeat, BookingCode, BookingRejection, BookingStatus, CancelRejection, CheckInRejection,
    PayRejection,
};
use domain::event::{EventId, EventUpdateError};
use domain::user::UserId;
use domain::validation::ValidationErrors;

use super::error::{
    Answers, BadRequest, Conflict, ErrorReason, Forbidden, Internal, IntoAnswer, NotFound,
    OperationErrors, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable, Unprocessable,
};
use super::language::Localized;
use super::seat_feed::OpenError;
use super::time::VenueTime;

impl<R: OperationErrors> IntoAnswer<R> for StoreError {
    fn into_answer(self) -> R {
        match self {
            StoreError::Unavailable(_) | StoreError::Busy(_) => {
                tracing::warn!(error = %self, "store unavailable");
                Unavailable::of(ErrorReason::StoreUnavailable)
                    .retry_after(1)
                    .into_answer()
            }
            StoreError::Unexpected(_) => Internal::cause(&self).into_answer(),
        }
    }
}

impl<R: Answers<403>> IntoAnswer<R> for Denied {
    fn into_answer(self) -> R {
        Forbidden::new(
            ErrorReason::Forbidden,
            match self {
                Denied::AdminOnly => Localized::new(
                    "Only an admin may do this",
                    "Hanya admin yang boleh melakukan ini",
                ),
                Denied::NotYours => Localized::new(
                    "You may only do this for your own account",
                    "Anda hanya boleh melakukan ini untuk akun Anda sendiri",
                ),
                Denied::DoorStaffOnly => Localized::new(
                    "Only door staff or an admin may do this",
                    "Hanya petugas pintu masuk atau admin yang boleh melakukan ini",
                ),
                Denied::DoorStaffCannotBook => Localized::new(
                    "A door staff account cannot book tickets; use a customer account",
                    "Akun petugas pintu masuk tidak dapat memesan tiket; gunakan akun pelanggan",
                ),
            },
        )
        .into_answer()
    }
}

impl<R: OperationErrors + Answers<401>> IntoAnswer<R> for AuthError {
    fn into_answer(self) -> R {
        let message = match self {
            AuthError::Store(store) => return store.into_answer(),
            AuthError::Expired => Localized::new(
                "Your session has expired; please log in again",
                "Sesi Anda telah berakhir; silakan masuk lagi",
            ),
            AuthError::InvalidToken => Localized::new(
                "The access token is not valid; please log in again",
                "Token akses tidak valid; silakan masuk lagi",
            ),
            AuthError::Revoked => Localized::new(
                "This session is no longer valid; please log in again",
                "Sesi ini tidak berlaku lagi; silakan masuk lagi",
            ),
        };
        Unauthorized::new(ErrorReason::Unauthenticated, message).into_answer()
    }
}

impl<R: Answers<503>> IntoAnswer<R> for PasswordChecksBusy {
    fn into_answer(self) -> R {
        Unavailable::of(ErrorReason::PasswordChecksBusy)
            .retry_after(1)
            .into_answer()
    }
}

fn user_not_found(id: UserId) -> NotFound {
    NotFound::new(
        ErrorReason::NotFound,
        Localized::new(
            format!("User {id} does not exist"),
            format!("Pengguna {id} tidak ada"),
        ),
    )
}

fn event_not_found(id: EventId) -> NotFound {
    NotFound::new(
        ErrorReason::NotFound,
        Localized::new(
            format!("Event {id} does not exist"),
            format!("Acara {id} tidak ada"),
        ),
    )
}

fn last_admin(english: &str, indonesian: &str) -> Conflict {
    Conflict::new(ErrorReason::LastAdmin, Localized::new(english, indonesian))
}

impl<R> IntoAnswer<R> for RegisterError
where
    R: OperationErrors + Answers<400> + Answers<409>,
{
    fn into_answer(self) -> R {
        match self {
            RegisterError::Invalid(errors) => BadRequest::invalid(&errors).into_answer(),
            RegisterError::EmailTaken => Conflict::of(ErrorReason::EmailTaken).into_answer(),
            RegisterError::EmailLooksLikeAnother => {
                Conflict::of(ErrorReason::EmailLooksTaken).into_answer()
            }
            RegisterError::NikTaken => Conflict::of(ErrorReason::NikTaken).into_answer(),
            RegisterError::PasswordChecksBusy(busy) => busy.into_answer(),
            RegisterError::Unexpected(cause) => Internal::cause(&cause).into_answer(),
            RegisterError::Store(store) => store.into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<401>> IntoAnswer<R> for LoginError {
    fn into_answer(self) -> R {
        match self {
            LoginError::InvalidCredentials => Unauthorized::new(
                ErrorReason::Unauthenticated,
                Localized::new("Invalid email or password", "Email atau kata sandi salah"),
            )
            .into_answer(),
            LoginError::PasswordChecksBusy(busy) => busy.into_answer(),
            LoginError::Unexpected(cause) => Internal::cause(&cause).into_answer(),
            LoginError::Store(store) => store.into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<403>> IntoAnswer<R> for ListUsersError {
    fn into_answer(self) -> R {
        match self {
            ListUsersError::Denied(denied) => denied.into_answer(),
            ListUsersError::Store(store) => store.into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<403> + Answers<404>> IntoAnswer<R> for GetUserError {
    fn into_answer(self) -> R {
        match self {
            GetUserError::Denied(denied) => denied.into_answer(),
            GetUserError::NotFound(id) => user_not_found(id).into_answer(),
            GetUserError::Store(store) => store.into_answer(),
        }
    }
}

impl<R> IntoAnswer<R> for UpdateUserError
where
    R: OperationErrors + Answers<400> + Answers<403> + Answers<404> + Answers<409>,
{
    fn into_answer(self) -> R {
        match self {
            UpdateUserError::Invalid(errors) => BadRequest::invalid(&errors).into_answer(),
            UpdateUserError::Denied(denied) => denied.into_answer(),
            UpdateUserError::RoleChangeDenied => Forbidden::new(
                ErrorReason::Forbidden,
                Localized::new(
                    "Only an admin may change a role",
                    "Hanya admin yang boleh mengubah peran",
                ),
            )
            .into_answer(),
            UpdateUserError::NotFound(id) => user_not_found(id).into_answer(),
            UpdateUserError::EmailTaken => Conflict::of(ErrorReason::EmailTaken).into_answer(),
            UpdateUserError::EmailLooksLikeAnother => {
                Conflict::of(ErrorReason::EmailLooksTaken).into_answer()
            }
            UpdateUserError::NikTaken => Conflict::of(ErrorReason::NikTaken).into_answer(),
            UpdateUserError::LastAdmin => last_admin(
                "The last active admin cannot be demoted; promote another admin first",
                "Admin aktif terakhir tidak dapat diturunkan; angkat admin lain terlebih dahulu",
            )
            .into_answer(),
            UpdateUserError::Store(store) => store.into_answer(),
        }
    }
}

impl<R> IntoAnswer<R> for DeactivateUserError
where
    R: OperationErrors + Answers<403> + Answers<404> + Answers<409>,
{
    fn into_answer(self) -> R {
        match self {
            DeactivateUserError::Denied(denied) => denied.into_answer(),
            DeactivateUserError::NotFound(id) => user_not_found(id).into_answer(),
            DeactivateUserError::LastAdmin => last_admin(
                "The last active admin cannot be deactivated; promote another admin first",
                "Admin aktif terakhir tidak dapat dinonaktifkan; angkat admin lain terlebih dahulu",
            )
            .into_answer(),
            DeactivateUserError::Store(store) => store.into_answer(),
        }
    }
}

impl<R> IntoAnswer<R> for ChangePasswordError
where
    R: OperationErrors + Answers<400> + Answers<403> + Answers<404>,
{
    fn into_answer(self) -> R {
        match self {
            ChangePasswordError::Invalid(errors) => BadRequest::invalid(&errors).into_answer(),
            // A 400, never a 401: a 401 would log the web app out.
            ChangePasswordError::WrongOldPassword => {
                BadRequest::invalid_field("old_password", "is not correct").into_answer()
            }
            ChangePasswordError::Denied(denied) => denied.into_answer(),
            ChangePasswordError::NotFound(id) => user_not_found(id).into_answer(),
            ChangePasswordError::PasswordChecksBusy(busy) => busy.into_answer(),
            ChangePasswordError::Unexpected(cause) => Internal::cause(&cause).into_answer(),
            ChangePasswordError::Store(store) => store.into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<404>> IntoAnswer<R> for GetEventError {
    fn into_answer(self) -> R {
        match self {
            GetEventError::NotFound(id) => event_not_found(id).into_answer(),
            GetEventError::Store(store) => store.into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<404>> IntoAnswer<R> for GetImageError {
    fn into_answer(self) -> R {
        match self {
            GetImageError::NotFound(id) => NotFound::new(
                ErrorReason::NotFound,
                Localized::new(
                    format!("Event {id} has no uploaded picture"),
                    format!("Acara {id} tidak memiliki gambar yang diunggah"),
                ),
            )
            .into_answer(),
            GetImageError::Store(store) => store.into_answer(),
        }
    }
}

fn image_too_large(limit_bytes: usize) -> PayloadTooLarge {
    let megabytes = limit_bytes / (1024 * 1024);
    PayloadTooLarge::new(
        ErrorReason::PayloadTooLarge,
        Localized::new(
            format!("The picture is too large: a data URL may be at most {megabytes} MB"),
            format!("Gambar terlalu besar: data URL paling besar {megabytes} MB"),
        ),
    )
    .with_details(json!([format!(
        "image_url: is larger than the {megabytes} MB allowed for a picture"
    )]))
}

impl<R> IntoAnswer<R> for CreateEventError
where
    R: OperationErrors + Answers<400> + Answers<403> + Answers<413>,
{
    fn into_answer(self) -> R {
        match self {
            CreateEventError::Denied(denied) => denied.into_answer(),
            CreateEventError::Invalid(errors) => BadRequest::invalid(&errors).into_answer(),
            CreateEventError::ImageTooLarge { limit_bytes } => {
                image_too_large(limit_bytes).into_answer()
            }
            CreateEventError::Store(store) => store.into_answer(),
        }
    }
}

impl<R> IntoAnswer<R> for UpdateEventError
where
    R: OperationErrors + Answers<400> + Answers<403> + Answers<404> + Answers<409> + Answers<413>,
{
    fn into_answer(self) -> R {
        match self {
            UpdateEventError::Denied(denied) => denied.into_answer(),
            UpdateEventError::NotFound(id) => event_not_found(id).into_answer(),
            UpdateEventError::Invalid(errors) => BadRequest::invalid(&errors).into_answer(),
            UpdateEventError::ImageTooLarge { limit_bytes } => {
                image_too_large(limit_bytes).into_answer()
            }
            UpdateEventError::Conflict(conflict) => update_conflict(conflict),
            UpdateEventError::Store(store) => store.into_answer(),
        }
    }
}

fn update_conflict<R: Answers<409> + Answers<500>>(conflict: EventUpdateError) -> R {
    let (reason, indonesian) = match &conflict {
        EventUpdateError::CapacityBelowSeatsInUse { requested, in_use } => (
            ErrorReason::CapacityInUse,
            format!(
                "Kapasitas tidak dapat diturunkan menjadi {requested}: kursi sampai nomor {in_use} menurut urutan kursi sudah dipesan atau terjual"
            ),
        ),
        EventUpdateError::PhaseHasSales { name, sold } => (
            ErrorReason::PhaseHasSales,
            format!(
                "Fase \"{name}\" sudah memiliki {sold} tiket terjual atau dipesan dan tidak dapat dihapus"
            ),
        ),
        EventUpdateError::QuotaBelowSold { name, sold } => (
            ErrorReason::PhaseHasSales,
            format!(
                "Kuota fase \"{name}\" tidak dapat dikurangi di bawah {sold} tiket yang sudah terjual atau dipesan"
            ),
        ),
        EventUpdateError::CancelledForGood => (
            ErrorReason::EventCancelled,
            ErrorReason::EventCancelled.headline().indonesian,
        ),
        EventUpdateError::Input(_) => {
            return Internal::cause(&"an invalid update reached the store").into_answer()
        }
    };
    Conflict::new(reason, Localized::new(conflict.to_string(), indonesian)).into_answer()
}

impl<R> IntoAnswer<R> for DeleteEventError
where
    R: OperationErrors + Answers<403> + Answers<404> + Answers<409>,
{
    fn into_answer(self) -> R {
        match self {
            DeleteEventError::Denied(denied) => denied.into_answer(),
            DeleteEventError::NotFound(id) => event_not_found(id).into_answer(),
            DeleteEventError::HasBookings => {
                Conflict::of(ErrorReason::EventHasBookings).into_answer()
            }
            DeleteEventError::Store(store) => store.into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<403>> IntoAnswer<R> for TicketHolderEventsError {
    fn into_answer(self) -> R {
        match self {
            TicketHolderEventsError::Denied(denied) => denied.into_answer(),
            TicketHolderEventsError::Store(store) => store.into_answer(),
        }
    }
}

impl<R> IntoAnswer<R> for PlaceError
where
    R: OperationErrors + Answers<400> + Answers<403> + Answers<404> + Answers<409> + Answers<429>,
{
    fn into_answer(self) -> R {
        match self {
            PlaceError::Denied(denied) => denied.into_answer(),
            PlaceError::Invalid(errors) => BadRequest::invalid(&errors).into_answer(),
            PlaceError::EventNotFound(id) => event_not_found(id).into_answer(),
            PlaceError::Rejected(rejection) => rejection.into_answer(),
            PlaceError::Store(store) => store.into_answer(),
        }
    }
}

/// `"A1"`, or `"A1, A2"`.
fn labels(seats: &[BookedSeat]) -> String {
    seats
        .iter()
        .map(|seat| seat.label.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl<R: Answers<400> + Answers<409> + Answers<429>> IntoAnswer<R> for BookingRejection {
    fn into_answer(self) -> R {
        let english = self.to_string();
        let conflict = |reason, indonesian: String| {
            Conflict::new(reason, Localized::new(english.clone(), indonesian)).into_answer()
        };
        match &self {
            BookingRejection::Malformed(errors) => BadRequest::invalid(errors).into_answer(),
            BookingRejection::UnknownSeats { ids } => {
                let mut errors = ValidationErrors::new();
                for id in ids {
                    errors.add("seat_ids", format!("seat {id} is not a seat of this event"));
                }
                BadRequest::invalid(&errors).into_answer()
            }
            BookingRejection::UnknownPhase { id } => BadRequest::invalid_field(
                "phase_id",
                &format!("phase {id} is not a price phase of this event"),
            )
            .into_answer(),
            BookingRejection::SeatsTaken { seats } => {
                let ids: Vec<i64> = seats.iter().map(|seat| seat.id.0).collect();
                let indonesian =
                    format!("Kursi {} sudah diambil; silakan pilih kursi lain", labels(seats));
                Conflict::new(
                    ErrorReason::SeatTaken,
                    Localized::new(format!("{english}; please choose other seats"), indonesian),
                )
                .with_details(json!(ids))
                .into_answer()
            }
            BookingRejection::PriceOverflow => {
                BadRequest::invalid_field("seat_ids", &english).into_answer()
            }
            BookingRejection::EventNotOnSale { status } => conflict(
                ErrorReason::EventNotOnSale,
                format!("Acara ini berstatus {status} dan tidak lagi menjual tiket"),
            ),
            BookingRejection::NoPhaseOnSale => {
                Conflict::of(ErrorReason::NoPhaseOnSale).into_answer()
            }
            BookingRejection::PhaseNotOnSale { name } => conflict(
                ErrorReason::PhaseNotOnSale,
                format!("Fase \"{name}\" sedang tidak dijual"),
            ),
            BookingRejection::QuotaExhausted {
                name,
                remaining,
                requested,
            } => conflict(
                ErrorReason::PhaseSoldOut,
                format!(
                    "Hanya tersisa {remaining} tiket di fase \"{name}\", Anda meminta {requested}"
                ),
            ),
            BookingRejection::TicketLimit {
                limit,
                held,
                requested,
            } => conflict(
                ErrorReason::TicketLimitReached,
                format!(
                    "Satu pelanggan boleh memegang paling banyak {limit} tiket untuk acara ini; Anda memegang {held} dan meminta {requested}"
                ),
            ),
            BookingRejection::TooManyAbandonedHolds { abandoned, wait } => {
                let minutes = wait.num_minutes().max(1);
                TooManyRequests::new(
                    ErrorReason::TooManyAbandonedHolds,
                    Localized::new(
                        english.clone(),
                        format!(
                            "Anda sudah melepas {abandoned} pemesanan untuk acara ini belakangan ini (dibiarkan habis waktunya atau dibatalkan sebelum dibayar); Anda dapat memesan kursinya lagi dalam {minutes} menit"
                        ),
                    ),
                )
                .retry_after(wait.num_seconds().max(1) as u64)
                .into_answer()
            }
        }
    }
}

/// What every command on a booking named by its code may fail with, and the command's own
/// refusal `X`.
impl<R, X> IntoAnswer<R> for BookingError<X>
where
    R: OperationErrors + Answers<404>,
    X: IntoAnswer<R>,
{
    fn into_answer(self) -> R {
        match self {
            BookingError::NotFound(code) => NotFound::new(
                ErrorReason::NotFound,
                Localized::new(
                    format!("Booking {code} does not exist"),
                    format!("Pemesanan {code} tidak ada"),
                ),
            )
            .into_answer(),
            BookingError::Rejected(refusal) => refusal.into_answer(),
            BookingError::Store(store) => store.into_answer(),
        }
    }
}

impl<R> IntoAnswer<R> for Never {
    fn into_answer(self) -> R {
        match self {}
    }
}

impl<R> IntoAnswer<R> for PayError
where
    R: OperationErrors + Answers<400> + Answers<404> + Answers<409>,
{
    fn into_answer(self) -> R {
        match self {
            PayError::Invalid(errors) => BadRequest::invalid(&errors).into_answer(),
            PayError::Booking(error) => error.into_answer(),
        }
    }
}

impl<R: Answers<400> + Answers<409>> IntoAnswer<R> for PayRejection {
    fn into_answer(self) -> R {
        match self {
            PayRejection::NotPending { status } => Conflict::new(
                ErrorReason::BookingNotPending,
                Localized::new(
                    self.to_string(),
                    format!(
                        "Pemesanan ini berstatus {status}; hanya pemesanan yang menunggu pembayaran yang dapat dibayar"
                    ),
                ),
            )
            .into_answer(),
            PayRejection::AmountTooLow { required, given } => BadRequest::new(
                ErrorReason::AmountTooLow,
                Localized::new(
                    format!(
                        "The amount {} is less than the {} due",
                        given.amount(),
                        required.amount()
                    ),
                    format!(
                        "Jumlah {} kurang dari {} yang harus dibayar",
                        given.amount(),
                        required.amount()
                    ),
                ),
            )
            .with_details(json!({ "required": required.amount(), "given": given.amount() }))
            .into_answer(),
        }
    }
}

/// A refusal that names a time, told with it as the venue's wall time.
pub struct AtVenue<E> {
    pub refusal: E,
    pub venue_offset: FixedOffset,
}

impl<E> AtVenue<E> {
    pub fn new(refusal: E, venue_offset: FixedOffset) -> Self {
        AtVenue {
            refusal,
            venue_offset,
        }
    }
}

impl<R: OperationErrors + Answers<404> + Answers<409>> IntoAnswer<R> for AtVenue<CancelError> {
    fn into_answer(self) -> R {
        let venue_offset = self.venue_offset;
        self.refusal
            .map_rejected(|rejection| AtVenue::new(rejection, venue_offset))
            .into_answer()
    }
}

/// A refused cancellation; one of a checked-in booking names when.
impl<R: Answers<409>> IntoAnswer<R> for AtVenue<CancelRejection> {
    fn into_answer(self) -> R {
        let message = match &self.refusal {
            CancelRejection::CheckedIn { at } => {
                let at = VenueTime::new(*at, self.venue_offset).to_wall_clock();
                Localized::new(
                    format!("The booking was checked in at {at} and can no longer be cancelled"),
                    format!(
                        "Pemesanan ini sudah check-in pukul {at} dan tidak dapat dibatalkan lagi"
                    ),
                )
            }
            CancelRejection::NotOpen { status } => Localized::new(
                format!("The booking is {status} and can no longer be cancelled"),
                format!("Pemesanan ini berstatus {status} dan tidak dapat dibatalkan lagi"),
            ),
            CancelRejection::EventStarted => Localized::new(
                "The show has started, so a paid booking can no longer be cancelled",
                "Acara sudah dimulai, jadi pemesanan yang sudah dibayar tidak dapat dibatalkan lagi",
            ),
        };
        Conflict::new(ErrorReason::BookingNotCancellable, message).into_answer()
    }
}

impl<R> IntoAnswer<R> for AtVenue<CheckInError>
where
    R: OperationErrors + Answers<403> + Answers<404> + Answers<409>,
{
    fn into_answer(self) -> R {
        let venue_offset = self.venue_offset;
        match self.refusal {
            CheckInError::Denied(denied) => denied.into_answer(),
            CheckInError::AlreadyUsed { at, by } => {
                already_used(VenueTime::new(at, venue_offset), by.as_ref()).into_answer()
            }
            CheckInError::Booking(error) => error
                .map_rejected(|rejection| AtVenue::new(rejection, venue_offset))
                .into_answer(),
        }
    }
}

/// A second scan, told as the door staff read it: the contract's sentence says when the ticket
/// was used; `details` say when and by whom.
fn already_used(at: VenueTime, by: Option<&DoorStaff>) -> Conflict {
    let wall_clock = at.to_wall_clock();
    let checked_in_by = by.map(|staff| json!({ "id": staff.id.0, "name": staff.name }));
    Conflict::new(
        ErrorReason::AlreadyCheckedIn,
        Localized::new(
            format!("Ticket already used at {wall_clock}"),
            format!("Tiket sudah dipakai pukul {wall_clock}"),
        ),
    )
    .with_details(json!({ "checked_in_at": at.to_rfc3339(), "checked_in_by": checked_in_by }))
    // The door staff read this sentence as it is.
    .without_full_stop()
}

/// A refused check-in. The door service names who used a ticket already (`AlreadyUsed`); a
/// rejection that reaches here unnamed says when only.
impl<R: Answers<409>> IntoAnswer<R> for AtVenue<CheckInRejection> {
    fn into_answer(self) -> R {
        match self.refusal {
            CheckInRejection::AlreadyCheckedIn { at, .. } => {
                already_used(VenueTime::new(at, self.venue_offset), None).into_answer()
            }
            CheckInRejection::NotPaid { status } => Conflict::new(
                ErrorReason::BookingNotPaid,
                Localized::new(
                    format!("The booking is {status}; only a paid booking can be checked in"),
                    format!(
                        "Pemesanan ini berstatus {status}; hanya pemesanan yang sudah dibayar yang dapat check-in"
                    ),
                ),
            )
            .into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<403>> IntoAnswer<R> for HistoryError {
    fn into_answer(self) -> R {
        match self {
            HistoryError::Denied(denied) => denied.into_answer(),
            HistoryError::Store(store) => store.into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<403>> IntoAnswer<R> for DashboardError {
    fn into_answer(self) -> R {
        match self {
            DashboardError::Denied(denied) => denied.into_answer(),
            DashboardError::Store(store) => store.into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<400> + Answers<403>> IntoAnswer<R> for ListAuditError {
    fn into_answer(self) -> R {
        match self {
            ListAuditError::Denied(denied) => denied.into_answer(),
            ListAuditError::Invalid(errors) => BadRequest::invalid(&errors).into_answer(),
            ListAuditError::Store(store) => store.into_answer(),
        }
    }
}

impl<R> IntoAnswer<R> for IdempotencyError
where
    R: OperationErrors + Answers<400> + Answers<409> + Answers<422> + Answers<429>,
{
    fn into_answer(self) -> R {
        match self {
            IdempotencyError::Invalid(errors) => BadRequest::invalid(&errors).into_answer(),
            IdempotencyError::InProgress => Conflict::of(ErrorReason::IdempotencyInProgress)
                .retry_after(1)
                .into_answer(),
            IdempotencyError::Mismatch => {
                Unprocessable::of(ErrorReason::IdempotencyKeyReused).into_answer()
            }
            // Keys free up as they expire (refusals within the hour); a minute is a fair wait.
            IdempotencyError::TooManyKeys { max } => TooManyRequests::new(
                ErrorReason::TooManyIdempotencyKeys,
                Localized::new(
                    self.to_string(),
                    format!(
                        "Anda sudah memegang {max} Idempotency-Key dari sehari terakhir; ulangi dengan salah satunya, atau kirim permintaan tanpa kunci baru"
                    ),
                ),
            )
            .retry_after(60)
            .into_answer(),
            IdempotencyError::Store(store) => store.into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<404>> IntoAnswer<R> for OpenError {
    fn into_answer(self) -> R {
        let message = match self {
            OpenError::Event(error) => return error.into_answer(),
            OpenError::Full => Localized::new(
                "Too many live seat maps are open right now; read the seat map instead, or retry in a moment",
                "Terlalu banyak peta kursi langsung yang terbuka; baca peta kursinya saja, atau coba sebentar lagi",
            ),
            OpenError::Closing => Localized::new(
                "This WarTawa server is shutting down; reconnect in a moment",
                "Server WarTawa ini sedang berhenti; sambungkan lagi sebentar lagi",
            ),
        };
        Unavailable::new(ErrorReason::Overloaded, message)
            .retry_after(5)
            .into_answer()
    }
}

/// A booking asked for its ticket that has none: it is not paid (any more).
pub struct NoTicket {
    pub code: BookingCode,
    pub status: BookingStatus,
}

impl<R: Answers<409>> IntoAnswer<R> for NoTicket {
    fn into_answer(self) -> R {
        let NoTicket { code, status } = self;
        Conflict::new(
            ErrorReason::BookingNotPaid,
            Localized::new(
                format!("Booking {code} is {status}; only a paid booking has a ticket"),
                format!("Pemesanan {code} berstatus {status}; hanya pemesanan yang sudah dibayar yang memiliki tiket"),
            ),
        )
        .into_answer()
    }
}

impl<R> IntoAnswer<R> for AtVenue<ScanError>
where
    R: OperationErrors + Answers<403> + Answers<404> + Answers<409> + Answers<422>,
{
    fn into_answer(self) -> R {
        let venue_offset = self.venue_offset;
        match self.refusal {
            ScanError::Forged(_) => Unprocessable::of(ErrorReason::TicketInvalid).into_answer(),
            ScanError::OtherEvent { ticket, door } => Conflict::new(
                ErrorReason::TicketForAnotherEvent,
                Localized::new(
                    format!("This ticket is for event {ticket}, not for event {door}"),
                    format!("Tiket ini untuk acara {ticket}, bukan untuk acara {door}"),
                ),
            )
            .with_details(json!({ "ticket_event_id": ticket.0 }))
            .into_answer(),
            ScanError::CheckIn(refusal) => AtVenue::new(refusal, venue_offset).into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<403> + Answers<404>> IntoAnswer<R> for DoorListError {
    fn into_answer(self) -> R {
        match self {
            DoorListError::Denied(denied) => denied.into_answer(),
            DoorListError::NotFound(id) => event_not_found(id).into_answer(),
            DoorListError::Store(store) => store.into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<403>> IntoAnswer<R> for ManageWebhooksError {
    fn into_answer(self) -> R {
        match self {
            ManageWebhooksError::Denied(denied) => denied.into_answer(),
            ManageWebhooksError::Store(store) => store.into_answer(),
        }
    }
}

impl<R: OperationErrors + Answers<403> + Answers<404>> IntoAnswer<R> for WebhookError {
    fn into_answer(self) -> R {
        match self {
            WebhookError::Denied(denied) => denied.into_answer(),
            WebhookError::NotFound(id) => NotFound::new(
                ErrorReason::NotFound,
                Localized::new(
                    format!("Webhook endpoint {id} does not exist"),
                    format!("Endpoint webhook {id} tidak ada"),
                ),
            )
            .into_answer(),
            WebhookError::Store(store) => store.into_answer(),
        }
    }
}
