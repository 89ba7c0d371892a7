//! The one error shape of every failure, and the single place where use-case errors become
//! HTTP statuses.

use chrono::FixedOffset;
use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::Object;
use serde_json::{json, Value};

use application::audit::ListAuditError;
use application::auth::{AuthError, Denied};
use application::bookings::{BookingError, CheckInError, HistoryError, Never, PlaceError};
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
use domain::validation::ValidationErrors;

use super::time::VenueTime;

/// `{"status":"error","code":…,"message":…,"details":…}`: every failure, from every route and
/// from the framework, has this shape. The web app shows `message` as it is.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ErrorBody {
    /// Always `"error"`.
    pub status: String,
    /// The HTTP status code, repeated.
    pub code: u16,
    /// One sentence a person can act on.
    pub message: String,
    /// Field problems as `["field: problem", …]`, or facts about the conflict.
    #[oai(skip_serializing_if_is_none)]
    pub details: Option<Value>,
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        ErrorBody {
            status: "error".into(),
            code: 409,
            message: "Seat A3 is already taken.".into(),
            details: Some(json!([3])),
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
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let message = sentence(message.into());
        ApiFailure {
            status,
            body: ErrorBody {
                status: "error".into(),
                code: status.as_u16(),
                message,
                details: None,
            },
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.body.details = Some(details);
        self
    }

    pub fn bad_request(errors: &ValidationErrors) -> Self {
        let details: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
        let message = match errors.errors() {
            [only] => format!("Invalid input: {only}"),
            _ => format!(
                "Invalid input: {} problems, see details",
                errors.errors().len()
            ),
        };
        ApiFailure::new(StatusCode::BAD_REQUEST, message).with_details(json!(details))
    }

    pub fn invalid_field(field: &str, problem: &str) -> Self {
        ApiFailure::bad_request(&ValidationErrors::single(field, problem))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiFailure::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiFailure::new(StatusCode::CONFLICT, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiFailure::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn unavailable(message: impl Into<String>, retry_after: u64) -> Self {
        let mut failure = ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, message);
        failure.retry_after = Some(retry_after);
        failure
    }

    /// An error nobody outside can act on: logged with its cause, answered opaquely.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed unexpectedly");
        ApiFailure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
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
        ApiFailure::new(StatusCode::FORBIDDEN, denied.to_string())
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
        ApiFailure::unavailable(busy.to_string(), 1)
    }
}

impl From<RegisterError> for ApiFailure {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Invalid(errors) => ApiFailure::bad_request(&errors),
            RegisterError::EmailTaken
            | RegisterError::EmailLooksLikeAnother
            | RegisterError::NikTaken => ApiFailure::conflict(error.to_string()),
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
            UpdateUserError::RoleChangeDenied => {
                ApiFailure::new(StatusCode::FORBIDDEN, error.to_string())
            }
            UpdateUserError::NotFound(_) => ApiFailure::not_found(error.to_string()),
            UpdateUserError::EmailTaken
            | UpdateUserError::EmailLooksLikeAnother
            | UpdateUserError::NikTaken
            | UpdateUserError::LastAdmin => ApiFailure::conflict(error.to_string()),
            UpdateUserError::Store(store) => store.into(),
        }
    }
}

impl From<DeactivateUserError> for ApiFailure {
    fn from(error: DeactivateUserError) -> Self {
        match error {
            DeactivateUserError::Denied(denied) => denied.into(),
            DeactivateUserError::NotFound(_) => ApiFailure::not_found(error.to_string()),
            DeactivateUserError::LastAdmin => ApiFailure::conflict(error.to_string()),
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
            UpdateEventError::Conflict(conflict) => ApiFailure::conflict(conflict.to_string()),
            UpdateEventError::Store(store) => store.into(),
        }
    }
}

impl From<DeleteEventError> for ApiFailure {
    fn from(error: DeleteEventError) -> Self {
        match error {
            DeleteEventError::Denied(denied) => denied.into(),
            DeleteEventError::NotFound(_) => ApiFailure::not_found(error.to_string()),
            DeleteEventError::HasBookings => ApiFailure::conflict(error.to_string()),
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
                ApiFailure::new(StatusCode::BAD_REQUEST, rejection.to_string())
                    .with_details(json!(details))
            }
            BookingRejection::UnknownPhase { id } => ApiFailure::invalid_field(
                "phase_id",
                &format!("phase {id} is not a price phase of this event"),
            ),
            BookingRejection::SeatsTaken { seats } => {
                let ids: Vec<i64> = seats.iter().map(|seat| seat.id.0).collect();
                ApiFailure::conflict(format!("{rejection}; please choose other seats"))
                    .with_details(json!(ids))
            }
            BookingRejection::PriceOverflow => {
                ApiFailure::new(StatusCode::BAD_REQUEST, rejection.to_string())
            }
            BookingRejection::EventNotOnSale { .. }
            | BookingRejection::NoPhaseOnSale
            | BookingRejection::PhaseNotOnSale { .. }
            | BookingRejection::QuotaExhausted { .. }
            | BookingRejection::TicketLimit { .. } => ApiFailure::conflict(rejection.to_string()),
            BookingRejection::TooManyAbandonedHolds { wait, .. } => {
                let mut failure =
                    ApiFailure::new(StatusCode::TOO_MANY_REQUESTS, rejection.to_string());
                failure.retry_after = Some(wait.num_seconds().max(1) as u64);
                failure
            }
        }
    }
}

impl<R: Into<ApiFailure>> From<BookingError<R>> for ApiFailure {
    fn from(error: BookingError<R>) -> Self {
        match error {
            BookingError::NotFound(code) => {
                ApiFailure::not_found(format!("Booking {code} does not exist"))
            }
            BookingError::Denied(denied) => denied.into(),
            BookingError::Invalid(errors) => ApiFailure::bad_request(&errors),
            BookingError::Rejected(reason) => reason.into(),
            BookingError::Store(store) => store.into(),
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
            PayRejection::NotPending { .. } => ApiFailure::conflict(rejection.to_string()),
            PayRejection::AmountTooLow { required, given } => ApiFailure::new(
                StatusCode::BAD_REQUEST,
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

impl From<CancelRejection> for ApiFailure {
    fn from(rejection: CancelRejection) -> Self {
        ApiFailure::conflict(rejection.to_string())
    }
}

/// A refused check-in, told as the door staff read it: a second scan names when the ticket was
/// used, as the venue's wall time.
pub fn check_in_failure(error: CheckInError, venue_offset: FixedOffset) -> ApiFailure {
    match error {
        BookingError::Rejected(CheckInRejection::AlreadyCheckedIn { at }) => {
            let at = VenueTime::new(at, venue_offset);
            let mut failure = ApiFailure::conflict("");
            failure.body.message = format!("Ticket already used at {}", at.to_wall_clock());
            failure.with_details(json!({ "checked_in_at": at.to_rfc3339() }))
        }
        BookingError::Rejected(rejection @ CheckInRejection::NotPaid { .. }) => {
            ApiFailure::conflict(rejection.to_string())
        }
        BookingError::NotFound(code) => {
            ApiFailure::not_found(format!("Booking {code} does not exist"))
        }
        BookingError::Denied(denied) => denied.into(),
        BookingError::Invalid(errors) => ApiFailure::bad_request(&errors),
        BookingError::Store(store) => store.into(),
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
                let mut failure = ApiFailure::conflict(error.to_string());
                failure.retry_after = Some(1);
                failure
            }
            IdempotencyError::Mismatch => {
                ApiFailure::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
            }
            IdempotencyError::TooManyKeys { .. } => {
                let mut failure = ApiFailure::new(StatusCode::TOO_MANY_REQUESTS, error.to_string());
                // Keys free up as they expire (refusals within the hour); a minute is a fair wait.
                failure.retry_after = Some(60);
                failure
            }
            IdempotencyError::Store(store) => store.into(),
        }
    }
}

/// Turns errors raised by the framework itself (malformed JSON, missing token, unknown path,
/// wrong method, body too large) into the same error shape.
pub async fn framework_error(error: poem::Error) -> Response {
    // An operation's own error response, already in the error shape, travels as such an error.
    if error.is_from_response() {
        return error.into_response();
    }
    let status = error.status();
    let message = match status {
        StatusCode::NOT_FOUND => "No such endpoint; see /docs for the API".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => {
            "This endpoint does not accept that HTTP method; see /docs".to_string()
        }
        StatusCode::UNAUTHORIZED => {
            "Please log in: this endpoint needs an `Authorization: Bearer <token>` header"
                .to_string()
        }
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large".to_string(),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            format!("The request is malformed: {error}")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "Please send the body as JSON with `Content-Type: application/json`".to_string()
        }
        status if status.is_server_error() => return ApiFailure::internal(&error).into_response(),
        _ => error.to_string(),
    };
    let status = match status {
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            StatusCode::BAD_REQUEST
        }
        other => other,
    };
    ApiFailure::new(status, message).into_response()
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
            Some(json!([
                "name: must not be empty",
                "email: is not a valid email address"
            ]))
        );
    }
}
