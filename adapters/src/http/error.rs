//! The one error shape of every failure, and the single place where use-case errors become
//! HTTP statuses.

use chrono::FixedOffset;
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::Object;
use serde_json::{json, Value};

use application::audit::ListAuditError;
use application::auth::{AuthError, Denied};
use application::bookings::{
    BookingError, CancelError, CheckInError, HistoryError, Never, PlaceError,
};
use application::dashboard::DashboardError;
use application::events::{
    CreateEventError, DeleteEventError, GetEventError, GetImageError, TicketHolderEventsError,
    UpdateEventError,
};
use application::idempotency::IdempotencyError;
use application::users::{
    ChangePasswordError, DeactivateUserError, GetUserError, ListUsersError, LoginError,
    PasswordChecksBusy, RegisterError, UpdateUserError,
};
use application::StoreError;
use domain::booking::{BookingRejection, CancelRejection, CheckInRejection, PayRejection};
use domain::event::EventUpdateError;
use domain::validation::ValidationErrors;

use super::time::VenueTime;

/// Why a request failed, for a program to branch on: the same in every language, one closed
/// list. Each reason's `details` has one shape, said here; a reason not described has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum ErrorReason {
    /// 400: the input breaks a rule; `details` lists every problem as `"field: problem"`.
    ValidationFailed,
    /// 400: the body is not JSON at all.
    MalformedJson,
    /// 400: the request itself cannot be read (its request line, a header, the body's encoding).
    MalformedRequest,
    /// 400: `amount` is below the total price; `details` is `{required, given}`.
    AmountTooLow,
    /// 401: no token, or one that is not valid, expired or revoked; or a wrong email or password.
    Unauthenticated,
    /// 403: the caller may not do this.
    Forbidden,
    /// 404: no such resource (someone else's booking included).
    NotFound,
    /// 405: the path does not take this method; `Allow` lists those it takes.
    MethodNotAllowed,
    /// 408: the body arrived too slowly.
    RequestTimeout,
    /// 409: a seat is held or sold already; `details` lists the taken seats' ids.
    SeatTaken,
    /// 409: the phase has fewer tickets left than asked for.
    PhaseSoldOut,
    /// 409: the phase asked for is not on sale now.
    PhaseNotOnSale,
    /// 409: no price phase is on sale now.
    NoPhaseOnSale,
    /// 409: the event is cancelled or over.
    EventNotOnSale,
    /// 409: the customer would hold more tickets of the event than allowed.
    TicketLimitReached,
    /// 409: only a pending booking can be paid.
    BookingNotPending,
    /// 409: the booking can no longer be cancelled (not open, checked in, or the show started).
    BookingNotCancellable,
    /// 409: the ticket was used already; `details` is `{checked_in_at}`.
    AlreadyCheckedIn,
    /// 409: only a paid booking can be checked in.
    BookingNotPaid,
    /// 409: an account with this email exists.
    EmailTaken,
    /// 409: an account with an email that looks the same exists.
    EmailLooksTaken,
    /// 409: an account with this NIK exists.
    NikTaken,
    /// 409: the last active admin would be demoted or deactivated.
    LastAdmin,
    /// 409: the event's capacity cannot drop below seats held or sold.
    CapacityInUse,
    /// 409: a phase with sales cannot be removed or its quota dropped below them.
    PhaseHasSales,
    /// 409: a cancelled event stays cancelled.
    EventCancelled,
    /// 409: an event with bookings cannot be deleted (cancel it instead).
    EventHasBookings,
    /// 409: a request with this `Idempotency-Key` is still running; see `Retry-After`.
    IdempotencyInProgress,
    /// 413: the body is larger than accepted here.
    PayloadTooLarge,
    /// 422: this `Idempotency-Key` was used for another request.
    IdempotencyKeyReused,
    /// 429: too many attempts of this kind; see `Retry-After`.
    RateLimited,
    /// 429: too many holds of this show given up lately; see `Retry-After`.
    TooManyAbandonedHolds,
    /// 429: too many `Idempotency-Key`s held; see `Retry-After`.
    TooManyIdempotencyKeys,
    /// 429: too many connections from one address.
    TooManyConnections,
    /// 503: more requests at once than the server handles; see `Retry-After`.
    Overloaded,
    /// 503: too many password checks at once; see `Retry-After`.
    PasswordChecksBusy,
    /// 503: the store is unreachable or busy; see `Retry-After`.
    StoreUnavailable,
    /// 500: something went wrong on the server.
    InternalError,
}

/// `{"status":"error","code":…,"error":…,"message":…,"details":…}`: every failure, from every
/// route and from the framework, has this shape. The web app shows `message` as it is.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ErrorBody {
    /// Always `"error"`.
    pub status: String,
    /// The HTTP status code, repeated.
    pub code: u16,
    /// Why, for a program: one of a closed list, the same in every language.
    pub error: ErrorReason,
    /// One sentence a person can act on, in plain text.
    pub message: String,
    /// Field problems as `["field: problem", …]` (every 400 `validation_failed`), or the facts
    /// its reason names.
    #[oai(skip_serializing_if_is_none)]
    pub details: Option<Box<Value>>,
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        ErrorBody {
            status: "error".into(),
            code: 409,
            error: ErrorReason::SeatTaken,
            message: "Seat A3 is already taken; please choose other seats.".into(),
            details: Some(Box::new(json!([3]))),
        }
    }
}

/// A failure on its way to becoming a response: a status and the body to send with it.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds after which a retry may succeed (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiFailure {
    pub fn new(status: StatusCode, reason: ErrorReason, message: impl Into<String>) -> Self {
        let message = sentence(message.into());
        ApiFailure {
            status,
            body: ErrorBody {
                status: "error".into(),
                code: status.as_u16(),
                error: reason,
                message,
                details: None,
            },
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.body.details = Some(Box::new(details));
        self
    }

    pub fn bad_request(errors: &ValidationErrors) -> Self {
        let details: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
        // Every problem named, so that a person who reads only the message can act on all of them.
        let message = format!("Invalid input: {}", details.join("; "));
        ApiFailure::new(
            StatusCode::BAD_REQUEST,
            ErrorReason::ValidationFailed,
            message,
        )
        .with_details(json!(details))
    }

    pub fn invalid_field(field: &str, problem: &str) -> Self {
        ApiFailure::bad_request(&ValidationErrors::single(field, problem))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiFailure::new(StatusCode::NOT_FOUND, ErrorReason::NotFound, message)
    }

    pub fn conflict(reason: ErrorReason, message: impl Into<String>) -> Self {
        ApiFailure::new(StatusCode::CONFLICT, reason, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiFailure::new(
            StatusCode::UNAUTHORIZED,
            ErrorReason::Unauthenticated,
            message,
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiFailure::new(StatusCode::FORBIDDEN, ErrorReason::Forbidden, message)
    }

    /// 503 with `Retry-After`, for a reason that passes by itself.
    pub fn unavailable(reason: ErrorReason, message: impl Into<String>, retry_after: u64) -> Self {
        ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, reason, message).retry_after(retry_after)
    }

    /// 429 with `Retry-After`.
    pub fn too_many(reason: ErrorReason, message: impl Into<String>, retry_after: u64) -> Self {
        ApiFailure::new(StatusCode::TOO_MANY_REQUESTS, reason, message).retry_after(retry_after)
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// An error nobody outside can act on: logged with its cause, answered opaquely.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed unexpectedly");
        ApiFailure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorReason::InternalError,
            "Something went wrong on our side; please try again",
        )
    }
}

/// Capitalises the first letter and ends with a full stop, so that every message reads as a sentence.
fn sentence(message: String) -> String {
    let mut chars = message.chars();
    let Some(first) = chars.next() else {
        return message;
    };
    let mut text: String = first.to_uppercase().chain(chars).collect();
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let body = poem_openapi::types::ToJSON::to_json(&self.body).unwrap_or_default();
        let mut response = poem::web::Json(body)
            .with_status(self.status)
            .into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert("retry-after", seconds.into());
        }
        response
    }
}

/// Declares an operation's error responses: the statuses it really returns (each documented in
/// the OpenAPI document), plus 503 and 500, which any operation touching the store can give.
macro_rules! error_responses {
    ($(#[$meta:meta])* $name:ident { $($(#[doc = $doc:literal])* $variant:ident = $status:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(poem_openapi::ApiResponse, Debug)]
        pub enum $name {
            $(
                $(#[doc = $doc])*
                #[oai(status = $status)]
                $variant(
                    poem_openapi::payload::Json<$crate::http::error::ErrorBody>,
                    /// Seconds after which a retry may succeed (sent with 429).
                    #[oai(header = "Retry-After")] Option<u64>,
                ),
            )*
            /// The store is unavailable or busy; retry after the `Retry-After` seconds.
            #[oai(status = 503)]
            Unavailable(
                poem_openapi::payload::Json<$crate::http::error::ErrorBody>,
                #[oai(header = "Retry-After")] Option<u64>,
            ),
            /// An unexpected failure on the server.
            #[oai(status = 500)]
            Internal(poem_openapi::payload::Json<$crate::http::error::ErrorBody>),
        }

        impl From<$crate::http::error::ApiFailure> for $name {
            fn from(failure: $crate::http::error::ApiFailure) -> Self {
                use poem_openapi::payload::Json;
                match failure.status.as_u16() {
                    $($status => $name::$variant(Json(failure.body), failure.retry_after),)*
                    503 => $name::Unavailable(Json(failure.body), failure.retry_after),
                    500 => $name::Internal(Json(failure.body)),
                    other => {
                        tracing::error!(status = other, message = %failure.body.message, "undeclared error status");
                        $name::Internal(Json($crate::http::error::ApiFailure::internal(&"undeclared error status").body))
                    }
                }
            }
        }
    };
}
pub(crate) use error_responses;

impl From<StoreError> for ApiFailure {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) | StoreError::Busy(_) => {
                tracing::warn!(error = %error, "store unavailable");
                ApiFailure::unavailable(
                    ErrorReason::StoreUnavailable,
                    "The service is busy right now; please try again in a moment",
                    1,
                )
            }
            StoreError::Unexpected(_) => ApiFailure::internal(&error),
        }
    }
}

impl From<Denied> for ApiFailure {
    fn from(denied: Denied) -> Self {
        ApiFailure::forbidden(denied.to_string())
    }
}

impl From<AuthError> for ApiFailure {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Store(store) => store.into(),
            other => ApiFailure::unauthorized(other.to_string()),
        }
    }
}

impl From<PasswordChecksBusy> for ApiFailure {
    fn from(busy: PasswordChecksBusy) -> Self {
        ApiFailure::unavailable(ErrorReason::PasswordChecksBusy, busy.to_string(), 1)
    }
}

impl From<RegisterError> for ApiFailure {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Invalid(errors) => ApiFailure::bad_request(&errors),
            RegisterError::EmailTaken => {
                ApiFailure::conflict(ErrorReason::EmailTaken, error.to_string())
            }
            RegisterError::EmailLooksLikeAnother => {
                ApiFailure::conflict(ErrorReason::EmailLooksTaken, error.to_string())
            }
            RegisterError::NikTaken => {
                ApiFailure::conflict(ErrorReason::NikTaken, error.to_string())
            }
            RegisterError::PasswordChecksBusy(busy) => busy.into(),
            RegisterError::Unexpected(cause) => ApiFailure::internal(&cause),
            RegisterError::Store(store) => store.into(),
        }
    }
}

impl From<LoginError> for ApiFailure {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => ApiFailure::unauthorized(error.to_string()),
            LoginError::PasswordChecksBusy(busy) => busy.into(),
            LoginError::Unexpected(cause) => ApiFailure::internal(&cause),
            LoginError::Store(store) => store.into(),
        }
    }
}

impl From<ListUsersError> for ApiFailure {
    fn from(error: ListUsersError) -> Self {
        match error {
            ListUsersError::Denied(denied) => denied.into(),
            ListUsersError::Store(store) => store.into(),
        }
    }
}

impl From<GetUserError> for ApiFailure {
    fn from(error: GetUserError) -> Self {
        match error {
            GetUserError::Denied(denied) => denied.into(),
            GetUserError::NotFound(_) => ApiFailure::not_found(error.to_string()),
            GetUserError::Store(store) => store.into(),
        }
    }
}

impl From<UpdateUserError> for ApiFailure {
    fn from(error: UpdateUserError) -> Self {
        match error {
            UpdateUserError::Invalid(errors) => ApiFailure::bad_request(&errors),
            UpdateUserError::Denied(denied) => denied.into(),
            UpdateUserError::RoleChangeDenied => ApiFailure::forbidden(error.to_string()),
            UpdateUserError::NotFound(_) => ApiFailure::not_found(error.to_string()),
            UpdateUserError::EmailTaken => {
                ApiFailure::conflict(ErrorReason::EmailTaken, error.to_string())
            }
            UpdateUserError::EmailLooksLikeAnother => {
                ApiFailure::conflict(ErrorReason::EmailLooksTaken, error.to_string())
            }
            UpdateUserError::NikTaken => {
                ApiFailure::conflict(ErrorReason::NikTaken, error.to_string())
            }
            UpdateUserError::LastAdmin => {
                ApiFailure::conflict(ErrorReason::LastAdmin, error.to_string())
            }
            UpdateUserError::Store(store) => store.into(),
        }
    }
}

impl From<DeactivateUserError> for ApiFailure {
    fn from(error: DeactivateUserError) -> Self {
        match error {
            DeactivateUserError::Denied(denied) => denied.into(),
            DeactivateUserError::NotFound(_) => ApiFailure::not_found(error.to_string()),
            DeactivateUserError::LastAdmin => {
                ApiFailure::conflict(ErrorReason::LastAdmin, error.to_string())
            }
            DeactivateUserError::Store(store) => store.into(),
        }
    }
}

impl From<ChangePasswordError> for ApiFailure {
    fn from(error: ChangePasswordError) -> Self {
        match error {
            ChangePasswordError::Invalid(errors) => ApiFailure::bad_request(&errors),
            // A 400, never a 401: a 401 would log the web app out.
            ChangePasswordError::WrongOldPassword => {
                ApiFailure::invalid_field("old_password", "is not correct")
            }
            ChangePasswordError::Denied(denied) => denied.into(),
            ChangePasswordError::NotFound(_) => ApiFailure::not_found(error.to_string()),
            ChangePasswordError::PasswordChecksBusy(busy) => busy.into(),
            ChangePasswordError::Unexpected(cause) => ApiFailure::internal(&cause),
            ChangePasswordError::Store(store) => store.into(),
        }
    }
}

impl From<GetEventError> for ApiFailure {
    fn from(error: GetEventError) -> Self {
        match error {
            GetEventError::NotFound(_) => ApiFailure::not_found(error.to_string()),
            GetEventError::Store(store) => store.into(),
        }
    }
}

impl From<GetImageError> for ApiFailure {
    fn from(error: GetImageError) -> Self {
        match error {
            GetImageError::NotFound(_) => ApiFailure::not_found(error.to_string()),
            GetImageError::Store(store) => store.into(),
        }
    }
}

fn image_too_large(limit_bytes: usize) -> ApiFailure {
    ApiFailure::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorReason::PayloadTooLarge,
        format!(
            "The picture is too large: a data URL may be at most {} MB",
            limit_bytes / (1024 * 1024)
        ),
    )
    .with_details(json!([
        "image_url: is larger than the 2 MB allowed for a picture"
    ]))
}

impl From<CreateEventError> for ApiFailure {
    fn from(error: CreateEventError) -> Self {
        match error {
            CreateEventError::Denied(denied) => denied.into(),
            CreateEventError::Invalid(errors) => ApiFailure::bad_request(&errors),
            CreateEventError::ImageTooLarge { limit_bytes } => image_too_large(limit_bytes),
            CreateEventError::Store(store) => store.into(),
        }
    }
}

impl From<UpdateEventError> for ApiFailure {
    fn from(error: UpdateEventError) -> Self {
        match error {
            UpdateEventError::Denied(denied) => denied.into(),
            UpdateEventError::NotFound(_) => ApiFailure::not_found(error.to_string()),
            UpdateEventError::Invalid(errors) => ApiFailure::bad_request(&errors),
            UpdateEventError::ImageTooLarge { limit_bytes } => image_too_large(limit_bytes),
            UpdateEventError::Conflict(conflict) => {
                let reason = match &conflict {
                    EventUpdateError::CapacityBelowSeatsInUse { .. } => ErrorReason::CapacityInUse,
                    EventUpdateError::PhaseHasSales { .. }
                    | EventUpdateError::QuotaBelowSold { .. } => ErrorReason::PhaseHasSales,
                    EventUpdateError::CancelledForGood => ErrorReason::EventCancelled,
                    EventUpdateError::Input(_) => {
                        return ApiFailure::internal(&"an invalid update reached the store")
                    }
                };
                ApiFailure::conflict(reason, conflict.to_string())
            }
            UpdateEventError::Store(store) => store.into(),
        }
    }
}

impl From<DeleteEventError> for ApiFailure {
    fn from(error: DeleteEventError) -> Self {
        match error {
            DeleteEventError::Denied(denied) => denied.into(),
            DeleteEventError::NotFound(_) => ApiFailure::not_found(error.to_string()),
            DeleteEventError::HasBookings => {
                ApiFailure::conflict(ErrorReason::EventHasBookings, error.to_string())
            }
            DeleteEventError::Store(store) => store.into(),
        }
    }
}

impl From<TicketHolderEventsError> for ApiFailure {
    fn from(error: TicketHolderEventsError) -> Self {
        match error {
            TicketHolderEventsError::Denied(denied) => denied.into(),
            TicketHolderEventsError::Store(store) => store.into(),
        }
    }
}

impl From<PlaceError> for ApiFailure {
    fn from(error: PlaceError) -> Self {
        match error {
            PlaceError::Invalid(errors) => ApiFailure::bad_request(&errors),
            PlaceError::EventNotFound(_) => ApiFailure::not_found(error.to_string()),
            PlaceError::Rejected(rejection) => rejection.into(),
            PlaceError::Store(store) => store.into(),
        }
    }
}

impl From<BookingRejection> for ApiFailure {
    fn from(rejection: BookingRejection) -> Self {
        match &rejection {
            BookingRejection::Malformed(errors) => ApiFailure::bad_request(errors),
            BookingRejection::UnknownSeats { ids } => {
                let details: Vec<String> = ids
                    .iter()
                    .map(|id| format!("seat_ids: seat {id} is not a seat of this event"))
                    .collect();
                ApiFailure::new(
                    StatusCode::BAD_REQUEST,
                    ErrorReason::ValidationFailed,
                    rejection.to_string(),
                )
                .with_details(json!(details))
            }
            BookingRejection::UnknownPhase { id } => ApiFailure::invalid_field(
                "phase_id",
                &format!("phase {id} is not a price phase of this event"),
            ),
            BookingRejection::SeatsTaken { seats } => {
                let ids: Vec<i64> = seats.iter().map(|seat| seat.id.0).collect();
                ApiFailure::conflict(
                    ErrorReason::SeatTaken,
                    format!("{rejection}; please choose other seats"),
                )
                .with_details(json!(ids))
            }
            BookingRejection::PriceOverflow => {
                ApiFailure::invalid_field("seat_ids", &rejection.to_string())
            }
            BookingRejection::EventNotOnSale { .. } => {
                ApiFailure::conflict(ErrorReason::EventNotOnSale, rejection.to_string())
            }
            BookingRejection::NoPhaseOnSale => {
                ApiFailure::conflict(ErrorReason::NoPhaseOnSale, rejection.to_string())
            }
            BookingRejection::PhaseNotOnSale { .. } => {
                ApiFailure::conflict(ErrorReason::PhaseNotOnSale, rejection.to_string())
            }
            BookingRejection::QuotaExhausted { .. } => {
                ApiFailure::conflict(ErrorReason::PhaseSoldOut, rejection.to_string())
            }
            BookingRejection::TicketLimit { .. } => {
                ApiFailure::conflict(ErrorReason::TicketLimitReached, rejection.to_string())
            }
            BookingRejection::TooManyAbandonedHolds { wait, .. } => ApiFailure::too_many(
                ErrorReason::TooManyAbandonedHolds,
                rejection.to_string(),
                wait.num_seconds().max(1) as u64,
            ),
        }
    }
}

impl<R: Into<ApiFailure>> From<BookingError<R>> for ApiFailure {
    fn from(error: BookingError<R>) -> Self {
        match error {
            BookingError::Rejected(reason) => reason.into(),
            other => booking_command_failure(other),
        }
    }
}

impl From<Never> for ApiFailure {
    fn from(never: Never) -> Self {
        match never {}
    }
}

impl From<PayRejection> for ApiFailure {
    fn from(rejection: PayRejection) -> Self {
        match rejection {
            PayRejection::NotPending { .. } => {
                ApiFailure::conflict(ErrorReason::BookingNotPending, rejection.to_string())
            }
            PayRejection::AmountTooLow { required, given } => ApiFailure::new(
                StatusCode::BAD_REQUEST,
                ErrorReason::AmountTooLow,
                format!(
                    "The amount {} is less than the {} due",
                    given.amount(),
                    required.amount()
                ),
            )
            .with_details(json!({ "required": required.amount(), "given": given.amount() })),
        }
    }
}

/// A refused cancellation; one of a checked-in booking names when, as the venue's wall time.
pub fn cancel_failure(error: CancelError, venue_offset: FixedOffset) -> ApiFailure {
    match error {
        BookingError::Rejected(CancelRejection::CheckedIn { at }) => ApiFailure::conflict(
            ErrorReason::BookingNotCancellable,
            format!(
                "The booking was checked in at {} and can no longer be cancelled",
                VenueTime::new(at, venue_offset).to_wall_clock()
            ),
        ),
        BookingError::Rejected(rejection) => {
            ApiFailure::conflict(ErrorReason::BookingNotCancellable, rejection.to_string())
        }
        other => booking_command_failure(other),
    }
}

/// A refused check-in, told as the door staff read it: a second scan names when the ticket was
/// used, as the venue's wall time.
pub fn check_in_failure(error: CheckInError, venue_offset: FixedOffset) -> ApiFailure {
    match error {
        BookingError::Rejected(CheckInRejection::AlreadyCheckedIn { at }) => {
            let at = VenueTime::new(at, venue_offset);
            let mut failure = ApiFailure::conflict(ErrorReason::AlreadyCheckedIn, "");
            failure.body.message = format!("Ticket already used at {}", at.to_wall_clock());
            failure.with_details(json!({ "checked_in_at": at.to_rfc3339() }))
        }
        BookingError::Rejected(rejection @ CheckInRejection::NotPaid { .. }) => {
            ApiFailure::conflict(ErrorReason::BookingNotPaid, rejection.to_string())
        }
        other => booking_command_failure(other),
    }
}

/// What every command on a booking named by its code may fail with, whatever the command.
fn booking_command_failure<R>(error: BookingError<R>) -> ApiFailure {
    match error {
        BookingError::NotFound(code) => {
            ApiFailure::not_found(format!("Booking {code} does not exist"))
        }
        BookingError::Denied(denied) => denied.into(),
        BookingError::Invalid(errors) => ApiFailure::bad_request(&errors),
        BookingError::Store(store) => store.into(),
        BookingError::Rejected(_) => {
            ApiFailure::internal(&"a booking command's refusal reached the generic mapping")
        }
    }
}

impl From<HistoryError> for ApiFailure {
    fn from(error: HistoryError) -> Self {
        match error {
            HistoryError::Denied(denied) => denied.into(),
            HistoryError::Store(store) => store.into(),
        }
    }
}

impl From<DashboardError> for ApiFailure {
    fn from(error: DashboardError) -> Self {
        match error {
            DashboardError::Denied(denied) => denied.into(),
            DashboardError::Store(store) => store.into(),
        }
    }
}

impl From<ListAuditError> for ApiFailure {
    fn from(error: ListAuditError) -> Self {
        match error {
            ListAuditError::Denied(denied) => denied.into(),
            ListAuditError::Invalid(errors) => ApiFailure::bad_request(&errors),
            ListAuditError::Store(store) => store.into(),
        }
    }
}

impl From<IdempotencyError> for ApiFailure {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::Invalid(errors) => ApiFailure::bad_request(&errors),
            IdempotencyError::InProgress => {
                ApiFailure::conflict(ErrorReason::IdempotencyInProgress, error.to_string())
                    .retry_after(1)
            }
            IdempotencyError::Mismatch => ApiFailure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorReason::IdempotencyKeyReused,
                error.to_string(),
            ),
            // Keys free up as they expire (refusals within the hour); a minute is a fair wait.
            IdempotencyError::TooManyKeys { .. } => {
                ApiFailure::too_many(ErrorReason::TooManyIdempotencyKeys, error.to_string(), 60)
            }
            IdempotencyError::Store(store) => store.into(),
        }
    }
}

/// Turns errors raised by the framework itself (unknown path, wrong method, a request the
/// operations cannot read) into the same error shape, in words of the API's, never the
/// framework's.
pub async fn framework_error(error: poem::Error) -> Response {
    // An operation's own error response, already in the error shape, travels as such an error.
    if error.is_from_response() {
        return error.into_response();
    }
    let (status, reason, message) = match error.status() {
        StatusCode::NOT_FOUND => (
            StatusCode::NOT_FOUND,
            ErrorReason::NotFound,
            "No such endpoint; see /docs for the API",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorReason::MethodNotAllowed,
            "This endpoint does not accept that HTTP method; see /docs",
        ),
        StatusCode::UNAUTHORIZED => (
            StatusCode::UNAUTHORIZED,
            ErrorReason::Unauthenticated,
            "Please log in: this endpoint needs an Authorization header with a bearer token",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorReason::PayloadTooLarge,
            "The request body is too large",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            StatusCode::BAD_REQUEST,
            ErrorReason::MalformedRequest,
            "Please send the body as JSON, with the Content-Type application/json",
        ),
        status if status.is_server_error() => return ApiFailure::internal(&error).into_response(),
        _ => {
            // What the request shape check lets through and an operation still cannot read.
            tracing::info!(error = %error, "request refused by the framework");
            (
                StatusCode::BAD_REQUEST,
                ErrorReason::MalformedRequest,
                "The request could not be read; see /docs for what this endpoint takes",
            )
        }
    };
    ApiFailure::new(status, reason, message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(
            sentence("seat A1 is already taken".into()),
            "Seat A1 is already taken."
        );
        assert_eq!(sentence("Done!".into()), "Done!");
        assert_eq!(sentence(String::new()), "");
    }

    #[test]
    fn validation_problems_become_details() {
        let mut errors = ValidationErrors::new();
        errors.add("name", "must not be empty");
        errors.add("email", "is not a valid email address");
        let failure = ApiFailure::bad_request(&errors);
        assert_eq!(failure.body.code, 400);
        assert_eq!(
            failure.body.details,
            Some(Box::new(json!([
                "name: must not be empty",
                "email: is not a valid email address"
            ])))
        );
    }
}
