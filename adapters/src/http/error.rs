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
use domain::booking::{
    BookedSeat, BookingRejection, CancelRejection, CheckInRejection, PayRejection,
};
use domain::event::EventId;
use domain::event::EventUpdateError;
use domain::user::UserId;
use domain::validation::ValidationErrors;

use super::language::Localized;
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

impl ErrorReason {
    /// Every reason, for the test that each has both texts.
    pub const ALL: [ErrorReason; 38] = [
        ErrorReason::ValidationFailed,
        ErrorReason::MalformedJson,
        ErrorReason::MalformedRequest,
        ErrorReason::AmountTooLow,
        ErrorReason::Unauthenticated,
        ErrorReason::Forbidden,
        ErrorReason::NotFound,
        ErrorReason::MethodNotAllowed,
        ErrorReason::RequestTimeout,
        ErrorReason::SeatTaken,
        ErrorReason::PhaseSoldOut,
        ErrorReason::PhaseNotOnSale,
        ErrorReason::NoPhaseOnSale,
        ErrorReason::EventNotOnSale,
        ErrorReason::TicketLimitReached,
        ErrorReason::BookingNotPending,
        ErrorReason::BookingNotCancellable,
        ErrorReason::AlreadyCheckedIn,
        ErrorReason::BookingNotPaid,
        ErrorReason::EmailTaken,
        ErrorReason::EmailLooksTaken,
        ErrorReason::NikTaken,
        ErrorReason::LastAdmin,
        ErrorReason::CapacityInUse,
        ErrorReason::PhaseHasSales,
        ErrorReason::EventCancelled,
        ErrorReason::EventHasBookings,
        ErrorReason::IdempotencyInProgress,
        ErrorReason::PayloadTooLarge,
        ErrorReason::IdempotencyKeyReused,
        ErrorReason::RateLimited,
        ErrorReason::TooManyAbandonedHolds,
        ErrorReason::TooManyIdempotencyKeys,
        ErrorReason::TooManyConnections,
        ErrorReason::Overloaded,
        ErrorReason::PasswordChecksBusy,
        ErrorReason::StoreUnavailable,
        ErrorReason::InternalError,
    ];

    /// The reason in a sentence, in both languages: the message when nothing more is known,
    /// and what a person reads first.
    pub fn headline(self) -> Localized {
        let (english, indonesian) = match self {
            ErrorReason::ValidationFailed => ("Some input is not valid", "Ada isian yang tidak valid"),
            ErrorReason::MalformedJson => (
                "The request body is not valid JSON",
                "Isi permintaan bukan JSON yang valid",
            ),
            ErrorReason::MalformedRequest => (
                "The request could not be read; see /docs for what this endpoint takes",
                "Permintaan tidak dapat dibaca; lihat /docs untuk apa yang diterima endpoint ini",
            ),
            ErrorReason::AmountTooLow => (
                "The amount paid is less than the total price",
                "Jumlah yang dibayar kurang dari total harga",
            ),
            ErrorReason::Unauthenticated => (
                "Please log in to continue",
                "Silakan masuk untuk melanjutkan",
            ),
            ErrorReason::Forbidden => (
                "You may not do this",
                "Anda tidak boleh melakukan ini",
            ),
            ErrorReason::NotFound => ("Not found", "Tidak ditemukan"),
            ErrorReason::MethodNotAllowed => (
                "This endpoint does not accept that HTTP method; see /docs",
                "Endpoint ini tidak menerima metode HTTP itu; lihat /docs",
            ),
            ErrorReason::RequestTimeout => (
                "The request body arrived too slowly",
                "Isi permintaan datang terlalu lambat",
            ),
            ErrorReason::SeatTaken => (
                "A seat you chose is already taken; please choose other seats",
                "Kursi yang Anda pilih sudah diambil; silakan pilih kursi lain",
            ),
            ErrorReason::PhaseSoldOut => (
                "Not enough tickets are left in this price phase",
                "Tiket yang tersisa di fase harga ini tidak cukup",
            ),
            ErrorReason::PhaseNotOnSale => (
                "This price phase is not on sale right now",
                "Fase harga ini sedang tidak dijual",
            ),
            ErrorReason::NoPhaseOnSale => (
                "No price phase is on sale right now",
                "Tidak ada fase harga yang sedang dijual",
            ),
            ErrorReason::EventNotOnSale => (
                "This show no longer sells tickets",
                "Acara ini tidak lagi menjual tiket",
            ),
            ErrorReason::TicketLimitReached => (
                "You hold as many tickets for this show as one customer may",
                "Anda sudah memegang tiket sebanyak yang boleh dimiliki satu pelanggan untuk acara ini",
            ),
            ErrorReason::BookingNotPending => (
                "Only a pending booking can be paid",
                "Hanya pemesanan yang menunggu pembayaran yang dapat dibayar",
            ),
            ErrorReason::BookingNotCancellable => (
                "This booking can no longer be cancelled",
                "Pemesanan ini tidak dapat dibatalkan lagi",
            ),
            ErrorReason::AlreadyCheckedIn => ("This ticket was already used", "Tiket ini sudah dipakai"),
            ErrorReason::BookingNotPaid => (
                "Only a paid booking can be checked in",
                "Hanya pemesanan yang sudah dibayar yang dapat check-in",
            ),
            ErrorReason::EmailTaken => (
                "An account with this email address already exists",
                "Sudah ada akun dengan alamat email ini",
            ),
            ErrorReason::EmailLooksTaken => (
                "An account with an email address that looks the same already exists; please use another address",
                "Sudah ada akun dengan alamat email yang tampak sama; silakan gunakan alamat lain",
            ),
            ErrorReason::NikTaken => (
                "An account with this NIK already exists",
                "Sudah ada akun dengan NIK ini",
            ),
            ErrorReason::LastAdmin => (
                "The last active admin must stay an admin; promote another admin first",
                "Admin aktif terakhir harus tetap admin; angkat admin lain terlebih dahulu",
            ),
            ErrorReason::CapacityInUse => (
                "The capacity cannot drop below the seats already held or sold",
                "Kapasitas tidak dapat dikurangi di bawah kursi yang sudah dipesan atau terjual",
            ),
            ErrorReason::PhaseHasSales => (
                "A price phase with sales cannot be removed or given a quota below them",
                "Fase harga yang sudah ada penjualan tidak dapat dihapus atau kuotanya dikurangi di bawah penjualan itu",
            ),
            ErrorReason::EventCancelled => (
                "A cancelled show cannot be published again",
                "Acara yang dibatalkan tidak dapat diterbitkan lagi",
            ),
            ErrorReason::EventHasBookings => (
                "The show has bookings and cannot be deleted; set its status to \"cancelled\" instead, which cancels and refunds its bookings",
                "Acara ini sudah memiliki pemesanan dan tidak dapat dihapus; ubah statusnya menjadi \"cancelled\", yang membatalkan dan mengembalikan dana pemesanannya",
            ),
            ErrorReason::IdempotencyInProgress => (
                "A request with this Idempotency-Key is still being processed; retry it in a moment",
                "Permintaan dengan Idempotency-Key ini masih diproses; ulangi sebentar lagi",
            ),
            ErrorReason::PayloadTooLarge => (
                "The request body is too large",
                "Isi permintaan terlalu besar",
            ),
            ErrorReason::IdempotencyKeyReused => (
                "This Idempotency-Key was already used for a different request; use a new key for a new request",
                "Idempotency-Key ini sudah dipakai untuk permintaan lain; gunakan kunci baru untuk permintaan baru",
            ),
            ErrorReason::RateLimited => (
                "Too many attempts; please try again later",
                "Terlalu banyak percobaan; silakan coba lagi nanti",
            ),
            ErrorReason::TooManyAbandonedHolds => (
                "You have given up too many holds of this show lately; please try again later",
                "Anda terlalu sering melepas pemesanan untuk acara ini; silakan coba lagi nanti",
            ),
            ErrorReason::TooManyIdempotencyKeys => (
                "You hold too many Idempotency-Keys; retry with one of them, or send the request without a new key",
                "Anda memegang terlalu banyak Idempotency-Key; ulangi dengan salah satunya, atau kirim permintaan tanpa kunci baru",
            ),
            ErrorReason::TooManyConnections => (
                "Too many connections from your address; close some and try again",
                "Terlalu banyak koneksi dari alamat Anda; tutup sebagian lalu coba lagi",
            ),
            ErrorReason::Overloaded => (
                "WarTawa is handling more requests than it can right now; please retry in a moment",
                "WarTawa sedang menangani lebih banyak permintaan daripada kemampuannya; silakan coba sebentar lagi",
            ),
            ErrorReason::PasswordChecksBusy => (
                "Many people are logging in or signing up right now; please try again in a moment",
                "Banyak orang sedang masuk atau mendaftar; silakan coba sebentar lagi",
            ),
            ErrorReason::StoreUnavailable => (
                "The service is busy right now; please try again in a moment",
                "Layanan sedang sibuk; silakan coba sebentar lagi",
            ),
            ErrorReason::InternalError => (
                "Something went wrong on our side; please try again",
                "Terjadi kesalahan di pihak kami; silakan coba lagi",
            ),
        };
        Localized::new(english, indonesian)
    }
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
    /// A failure whose message is written in the language of the request being handled.
    pub fn new(status: StatusCode, reason: ErrorReason, message: Localized) -> Self {
        let message = sentence(message.for_request());
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
        let fields: Vec<&str> = errors
            .errors()
            .iter()
            .map(|error| error.field.as_str())
            .collect();
        let message = Localized::new(
            format!("Invalid input: {}", details.join("; ")),
            format!("Isian tidak valid: {} (lihat details)", fields.join(", ")),
        );
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

    pub fn not_found(message: Localized) -> Self {
        ApiFailure::new(StatusCode::NOT_FOUND, ErrorReason::NotFound, message)
    }

    pub fn conflict(reason: ErrorReason, message: Localized) -> Self {
        ApiFailure::new(StatusCode::CONFLICT, reason, message)
    }

    pub fn unauthorized(message: Localized) -> Self {
        ApiFailure::new(
            StatusCode::UNAUTHORIZED,
            ErrorReason::Unauthenticated,
            message,
        )
    }

    pub fn forbidden(message: Localized) -> Self {
        ApiFailure::new(StatusCode::FORBIDDEN, ErrorReason::Forbidden, message)
    }

    /// A failure whose message is its reason's headline.
    pub fn of(status: StatusCode, reason: ErrorReason) -> Self {
        ApiFailure::new(status, reason, reason.headline())
    }

    /// 503 with `Retry-After`, for a reason that passes by itself.
    pub fn unavailable(reason: ErrorReason, retry_after: u64) -> Self {
        ApiFailure::of(StatusCode::SERVICE_UNAVAILABLE, reason).retry_after(retry_after)
    }

    /// 429 with `Retry-After`.
    pub fn too_many(reason: ErrorReason, message: Localized, retry_after: u64) -> Self {
        ApiFailure::new(StatusCode::TOO_MANY_REQUESTS, reason, message).retry_after(retry_after)
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// An error nobody outside can act on: logged with its cause, answered opaquely.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed unexpectedly");
        ApiFailure::of(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorReason::InternalError,
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

/// The `Retry-After` header of a response that sends one: seconds after which a retry may succeed.
pub type RetryAfter = Option<u64>;

/// Declares an operation's error responses: the statuses it really returns (each documented in
/// the OpenAPI document), plus 503 and 500, which any operation touching the store can give.
/// A status followed by `(RetryAfter)` also documents and sends the `Retry-After` header (429,
/// and a 409 that may be retried); the others have none.
macro_rules! error_responses {
    ($(#[$meta:meta])* $name:ident { $($(#[doc = $doc:literal])* $variant:ident = $status:literal $(($retry:ty))?),* $(,)? }) => {
        $(#[$meta])*
        #[derive(poem_openapi::ApiResponse, Debug)]
        pub enum $name {
            $(
                $(#[doc = $doc])*
                #[oai(status = $status)]
                $variant(
                    poem_openapi::payload::Json<$crate::http::error::ErrorBody>
                    $(,
                        /// Seconds after which a retry may succeed.
                        #[oai(header = "Retry-After")] $retry
                    )?
                ),
            )*
            /// The service is overloaded or the store unavailable or busy; retry after the
            /// `Retry-After` seconds.
            #[oai(status = 503)]
            Unavailable(
                poem_openapi::payload::Json<$crate::http::error::ErrorBody>,
                /// Seconds after which a retry may succeed.
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
                    $($status => $name::$variant(Json(failure.body) $(, <$retry>::from(failure.retry_after))?),)*
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
                ApiFailure::unavailable(ErrorReason::StoreUnavailable, 1)
            }
            StoreError::Unexpected(_) => ApiFailure::internal(&error),
        }
    }
}

impl From<Denied> for ApiFailure {
    fn from(denied: Denied) -> Self {
        ApiFailure::forbidden(match denied {
            Denied::AdminOnly => Localized::new(
                "Only an admin may do this",
                "Hanya admin yang boleh melakukan ini",
            ),
            Denied::NotYours => Localized::new(
                "You may only do this for your own account",
                "Anda hanya boleh melakukan ini untuk akun Anda sendiri",
            ),
        })
    }
}

impl From<AuthError> for ApiFailure {
    fn from(error: AuthError) -> Self {
        ApiFailure::unauthorized(match error {
            AuthError::Store(store) => return store.into(),
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
        })
    }
}

impl From<PasswordChecksBusy> for ApiFailure {
    fn from(_: PasswordChecksBusy) -> Self {
        ApiFailure::unavailable(ErrorReason::PasswordChecksBusy, 1)
    }
}

fn user_not_found(id: UserId) -> ApiFailure {
    ApiFailure::not_found(Localized::new(
        format!("User {id} does not exist"),
        format!("Pengguna {id} tidak ada"),
    ))
}

fn event_not_found(id: EventId) -> ApiFailure {
    ApiFailure::not_found(Localized::new(
        format!("Event {id} does not exist"),
        format!("Acara {id} tidak ada"),
    ))
}

impl From<RegisterError> for ApiFailure {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Invalid(errors) => ApiFailure::bad_request(&errors),
            RegisterError::EmailTaken => {
                ApiFailure::of(StatusCode::CONFLICT, ErrorReason::EmailTaken)
            }
            RegisterError::EmailLooksLikeAnother => {
                ApiFailure::of(StatusCode::CONFLICT, ErrorReason::EmailLooksTaken)
            }
            RegisterError::NikTaken => ApiFailure::of(StatusCode::CONFLICT, ErrorReason::NikTaken),
            RegisterError::PasswordChecksBusy(busy) => busy.into(),
            RegisterError::Unexpected(cause) => ApiFailure::internal(&cause),
            RegisterError::Store(store) => store.into(),
        }
    }
}

impl From<LoginError> for ApiFailure {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => ApiFailure::unauthorized(Localized::new(
                "Invalid email or password",
                "Email atau kata sandi salah",
            )),
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
            GetUserError::NotFound(id) => user_not_found(id),
            GetUserError::Store(store) => store.into(),
        }
    }
}

impl From<UpdateUserError> for ApiFailure {
    fn from(error: UpdateUserError) -> Self {
        match error {
            UpdateUserError::Invalid(errors) => ApiFailure::bad_request(&errors),
            UpdateUserError::Denied(denied) => denied.into(),
            UpdateUserError::RoleChangeDenied => ApiFailure::forbidden(Localized::new(
                "Only an admin may change a role",
                "Hanya admin yang boleh mengubah peran",
            )),
            UpdateUserError::NotFound(id) => user_not_found(id),
            UpdateUserError::EmailTaken => ApiFailure::of(StatusCode::CONFLICT, ErrorReason::EmailTaken),
            UpdateUserError::EmailLooksLikeAnother => {
                ApiFailure::of(StatusCode::CONFLICT, ErrorReason::EmailLooksTaken)
            }
            UpdateUserError::NikTaken => ApiFailure::of(StatusCode::CONFLICT, ErrorReason::NikTaken),
            UpdateUserError::LastAdmin => ApiFailure::conflict(
                ErrorReason::LastAdmin,
                Localized::new(
                    "The last active admin cannot be demoted; promote another admin first",
                    "Admin aktif terakhir tidak dapat diturunkan; angkat admin lain terlebih dahulu",
                ),
            ),
            UpdateUserError::Store(store) => store.into(),
        }
    }
}

impl From<DeactivateUserError> for ApiFailure {
    fn from(error: DeactivateUserError) -> Self {
        match error {
            DeactivateUserError::Denied(denied) => denied.into(),
            DeactivateUserError::NotFound(id) => user_not_found(id),
            DeactivateUserError::LastAdmin => ApiFailure::conflict(
                ErrorReason::LastAdmin,
                Localized::new(
                    "The last active admin cannot be deactivated; promote another admin first",
                    "Admin aktif terakhir tidak dapat dinonaktifkan; angkat admin lain terlebih dahulu",
                ),
            ),
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
            ChangePasswordError::NotFound(id) => user_not_found(id),
            ChangePasswordError::PasswordChecksBusy(busy) => busy.into(),
            ChangePasswordError::Unexpected(cause) => ApiFailure::internal(&cause),
            ChangePasswordError::Store(store) => store.into(),
        }
    }
}

impl From<GetEventError> for ApiFailure {
    fn from(error: GetEventError) -> Self {
        match error {
            GetEventError::NotFound(id) => event_not_found(id),
            GetEventError::Store(store) => store.into(),
        }
    }
}

impl From<GetImageError> for ApiFailure {
    fn from(error: GetImageError) -> Self {
        match error {
            GetImageError::NotFound(id) => ApiFailure::not_found(Localized::new(
                format!("Event {id} has no uploaded picture"),
                format!("Acara {id} tidak memiliki gambar yang diunggah"),
            )),
            GetImageError::Store(store) => store.into(),
        }
    }
}

fn image_too_large(limit_bytes: usize) -> ApiFailure {
    let megabytes = limit_bytes / (1024 * 1024);
    ApiFailure::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorReason::PayloadTooLarge,
        Localized::new(
            format!("The picture is too large: a data URL may be at most {megabytes} MB"),
            format!("Gambar terlalu besar: data URL paling besar {megabytes} MB"),
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
            UpdateEventError::NotFound(id) => event_not_found(id),
            UpdateEventError::Invalid(errors) => ApiFailure::bad_request(&errors),
            UpdateEventError::ImageTooLarge { limit_bytes } => image_too_large(limit_bytes),
            UpdateEventError::Conflict(conflict) => {
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
                        return ApiFailure::internal(&"an invalid update reached the store")
                    }
                };
                ApiFailure::conflict(reason, Localized::new(conflict.to_string(), indonesian))
            }
            UpdateEventError::Store(store) => store.into(),
        }
    }
}

impl From<DeleteEventError> for ApiFailure {
    fn from(error: DeleteEventError) -> Self {
        match error {
            DeleteEventError::Denied(denied) => denied.into(),
            DeleteEventError::NotFound(id) => event_not_found(id),
            DeleteEventError::HasBookings => {
                ApiFailure::of(StatusCode::CONFLICT, ErrorReason::EventHasBookings)
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
            PlaceError::EventNotFound(id) => event_not_found(id),
            PlaceError::Rejected(rejection) => rejection.into(),
            PlaceError::Store(store) => store.into(),
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

impl From<BookingRejection> for ApiFailure {
    fn from(rejection: BookingRejection) -> Self {
        let english = rejection.to_string();
        match &rejection {
            BookingRejection::Malformed(errors) => ApiFailure::bad_request(errors),
            BookingRejection::UnknownSeats { ids } => {
                let mut errors = ValidationErrors::new();
                for id in ids {
                    errors.add("seat_ids", format!("seat {id} is not a seat of this event"));
                }
                ApiFailure::bad_request(&errors)
            }
            BookingRejection::UnknownPhase { id } => ApiFailure::invalid_field(
                "phase_id",
                &format!("phase {id} is not a price phase of this event"),
            ),
            BookingRejection::SeatsTaken { seats } => {
                let ids: Vec<i64> = seats.iter().map(|seat| seat.id.0).collect();
                let indonesian =
                    format!("Kursi {} sudah diambil; silakan pilih kursi lain", labels(seats));
                ApiFailure::conflict(
                    ErrorReason::SeatTaken,
                    Localized::new(format!("{english}; please choose other seats"), indonesian),
                )
                .with_details(json!(ids))
            }
            BookingRejection::PriceOverflow => ApiFailure::invalid_field("seat_ids", &english),
            BookingRejection::EventNotOnSale { status } => ApiFailure::conflict(
                ErrorReason::EventNotOnSale,
                Localized::new(
                    english.clone(),
                    format!("Acara ini berstatus {status} dan tidak lagi menjual tiket"),
                ),
            ),
            BookingRejection::NoPhaseOnSale => {
                ApiFailure::of(StatusCode::CONFLICT, ErrorReason::NoPhaseOnSale)
            }
            BookingRejection::PhaseNotOnSale { name } => ApiFailure::conflict(
                ErrorReason::PhaseNotOnSale,
                Localized::new(
                    english.clone(),
                    format!("Fase \"{name}\" sedang tidak dijual"),
                ),
            ),
            BookingRejection::QuotaExhausted {
                name,
                remaining,
                requested,
            } => ApiFailure::conflict(
                ErrorReason::PhaseSoldOut,
                Localized::new(
                    english.clone(),
                    format!(
                        "Hanya tersisa {remaining} tiket di fase \"{name}\", Anda meminta {requested}"
                    ),
                ),
            ),
            BookingRejection::TicketLimit {
                limit,
                held,
                requested,
            } => ApiFailure::conflict(
                ErrorReason::TicketLimitReached,
                Localized::new(
                    english.clone(),
                    format!(
                        "Satu pelanggan boleh memegang paling banyak {limit} tiket untuk acara ini; Anda memegang {held} dan meminta {requested}"
                    ),
                ),
            ),
            BookingRejection::TooManyAbandonedHolds { abandoned, wait } => {
                let minutes = wait.num_minutes().max(1);
                ApiFailure::too_many(
                    ErrorReason::TooManyAbandonedHolds,
                    Localized::new(
                        english.clone(),
                        format!(
                            "Anda sudah melepas {abandoned} pemesanan untuk acara ini belakangan ini (dibiarkan habis waktunya atau dibatalkan sebelum dibayar); Anda dapat memesan kursinya lagi dalam {minutes} menit"
                        ),
                    ),
                    wait.num_seconds().max(1) as u64,
                )
            }
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
            PayRejection::NotPending { status } => ApiFailure::conflict(
                ErrorReason::BookingNotPending,
                Localized::new(
                    rejection.to_string(),
                    format!(
                        "Pemesanan ini berstatus {status}; hanya pemesanan yang menunggu pembayaran yang dapat dibayar"
                    ),
                ),
            ),
            PayRejection::AmountTooLow { required, given } => ApiFailure::new(
                StatusCode::BAD_REQUEST,
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
            .with_details(json!({ "required": required.amount(), "given": given.amount() })),
        }
    }
}

/// A refused cancellation; one of a checked-in booking names when, as the venue's wall time.
pub fn cancel_failure(error: CancelError, venue_offset: FixedOffset) -> ApiFailure {
    let message = match &error {
        BookingError::Rejected(CancelRejection::CheckedIn { at }) => {
            let at = VenueTime::new(*at, venue_offset).to_wall_clock();
            Localized::new(
                format!("The booking was checked in at {at} and can no longer be cancelled"),
                format!("Pemesanan ini sudah check-in pukul {at} dan tidak dapat dibatalkan lagi"),
            )
        }
        BookingError::Rejected(CancelRejection::NotOpen { status }) => Localized::new(
            format!("The booking is {status} and can no longer be cancelled"),
            format!("Pemesanan ini berstatus {status} dan tidak dapat dibatalkan lagi"),
        ),
        BookingError::Rejected(CancelRejection::EventStarted) => Localized::new(
            "The show has started, so a paid booking can no longer be cancelled",
            "Acara sudah dimulai, jadi pemesanan yang sudah dibayar tidak dapat dibatalkan lagi",
        ),
        _ => return booking_command_failure(error),
    };
    ApiFailure::conflict(ErrorReason::BookingNotCancellable, message)
}

/// A refused check-in, told as the door staff read it: a second scan names when the ticket was
/// used, as the venue's wall time.
pub fn check_in_failure(error: CheckInError, venue_offset: FixedOffset) -> ApiFailure {
    match error {
        BookingError::Rejected(CheckInRejection::AlreadyCheckedIn { at }) => {
            let at = VenueTime::new(at, venue_offset);
            let wall_clock = at.to_wall_clock();
            let mut failure = ApiFailure::conflict(
                ErrorReason::AlreadyCheckedIn,
                Localized::new(
                    format!("Ticket already used at {wall_clock}"),
                    format!("Tiket sudah dipakai pukul {wall_clock}"),
                ),
            );
            // The door staff read this sentence as it is.
            failure.body.message = failure.body.message.trim_end_matches('.').to_string();
            failure.with_details(json!({ "checked_in_at": at.to_rfc3339() }))
        }
        BookingError::Rejected(CheckInRejection::NotPaid { status }) => ApiFailure::conflict(
            ErrorReason::BookingNotPaid,
            Localized::new(
                format!("The booking is {status}; only a paid booking can be checked in"),
                format!(
                    "Pemesanan ini berstatus {status}; hanya pemesanan yang sudah dibayar yang dapat check-in"
                ),
            ),
        ),
        other => booking_command_failure(other),
    }
}

/// What every command on a booking named by its code may fail with, whatever the command.
fn booking_command_failure<R>(error: BookingError<R>) -> ApiFailure {
    match error {
        BookingError::NotFound(code) => ApiFailure::not_found(Localized::new(
            format!("Booking {code} does not exist"),
            format!("Pemesanan {code} tidak ada"),
        )),
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
                ApiFailure::of(StatusCode::CONFLICT, ErrorReason::IdempotencyInProgress)
                    .retry_after(1)
            }
            IdempotencyError::Mismatch => {
                ApiFailure::of(StatusCode::UNPROCESSABLE_ENTITY, ErrorReason::IdempotencyKeyReused)
            }
            // Keys free up as they expire (refusals within the hour); a minute is a fair wait.
            IdempotencyError::TooManyKeys { max } => ApiFailure::too_many(
                ErrorReason::TooManyIdempotencyKeys,
                Localized::new(
                    error.to_string(),
                    format!(
                        "Anda sudah memegang {max} Idempotency-Key dari sehari terakhir; ulangi dengan salah satunya, atau kirim permintaan tanpa kunci baru"
                    ),
                ),
                60,
            ),
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
    let (status, reason) = match error.status() {
        StatusCode::NOT_FOUND => (StatusCode::NOT_FOUND, ErrorReason::NotFound),
        StatusCode::METHOD_NOT_ALLOWED => (
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorReason::MethodNotAllowed,
        ),
        StatusCode::UNAUTHORIZED => (StatusCode::UNAUTHORIZED, ErrorReason::Unauthenticated),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (StatusCode::PAYLOAD_TOO_LARGE, ErrorReason::PayloadTooLarge)
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            return ApiFailure::new(
                StatusCode::BAD_REQUEST,
                ErrorReason::MalformedRequest,
                Localized::new(
                    "Please send the body as JSON, with the Content-Type application/json",
                    "Kirim isi permintaan sebagai JSON, dengan Content-Type application/json",
                ),
            )
            .into_response()
        }
        status if status.is_server_error() => return ApiFailure::internal(&error).into_response(),
        _ => {
            // What the request shape check lets through and an operation still cannot read.
            tracing::info!(error = %error, "request refused by the framework");
            (StatusCode::BAD_REQUEST, ErrorReason::MalformedRequest)
        }
    };
    let message = match reason {
        ErrorReason::NotFound => Localized::new(
            "No such endpoint; see /docs for the API",
            "Endpoint ini tidak ada; lihat /docs untuk API-nya",
        ),
        ErrorReason::Unauthenticated => Localized::new(
            "Please log in: this endpoint needs an Authorization header with a bearer token",
            "Silakan masuk: endpoint ini memerlukan header Authorization dengan token bearer",
        ),
        other => other.headline(),
    };
    ApiFailure::new(status, reason, message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_and_has_a_headline_in_both_languages() {
        let mut registry = poem_openapi::registry::Registry::new();
        <ErrorReason as poem_openapi::types::Type>::register(&mut registry);
        let published = registry
            .schemas
            .get("ErrorReason")
            .map(|schema| schema.enum_items.len())
            .unwrap_or_default();
        assert_eq!(
            ErrorReason::ALL.len(),
            published,
            "ErrorReason::ALL misses a reason"
        );
        for reason in ErrorReason::ALL {
            let headline = reason.headline();
            assert!(!headline.english.is_empty(), "{reason:?}");
            assert!(!headline.indonesian.is_empty(), "{reason:?}");
            assert_ne!(
                headline.english, headline.indonesian,
                "{reason:?} is not translated"
            );
        }
    }

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
