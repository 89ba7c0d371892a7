//! The one error shape of every failure, and error contracts the compiler checks: an operation
//! answers only the statuses it declares (`error_responses!`, `Answers`). Use cases' errors
//! become answers in `refusals.rs`.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::Object;
use serde_json::{json, Value};

use domain::validation::ValidationErrors;

use super::language::Localized;

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
    /// 409: the ticket was used already; `details` is `{checked_in_at, checked_in_by}`,
    /// `checked_in_by` being `{id, name}` of who let the guest in (`null` when not known).
    AlreadyCheckedIn,
    /// 409: only a paid booking can be checked in, or has a ticket.
    BookingNotPaid,
    /// 409: the scanned ticket is for another show than the door's; `details` is
    /// `{ticket_event_id}`.
    TicketForAnotherEvent,
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
    /// 422: the scanned text is not a WarTawa ticket, or was altered.
    TicketInvalid,
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
    /// 503 from `/ready`: the process is shutting down; its last requests finish, new ones
    /// belong elsewhere.
    ShuttingDown,
    /// 500: something went wrong on the server.
    InternalError,
}

impl ErrorReason {
    /// Every reason, for the test that each has both texts.
    pub const ALL: [ErrorReason; 41] = [
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
        ErrorReason::TicketForAnotherEvent,
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
        ErrorReason::TicketInvalid,
        ErrorReason::RateLimited,
        ErrorReason::TooManyAbandonedHolds,
        ErrorReason::TooManyIdempotencyKeys,
        ErrorReason::TooManyConnections,
        ErrorReason::Overloaded,
        ErrorReason::PasswordChecksBusy,
        ErrorReason::StoreUnavailable,
        ErrorReason::ShuttingDown,
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
            ErrorReason::TicketForAnotherEvent => (
                "This ticket is for another show",
                "Tiket ini untuk acara lain",
            ),
            ErrorReason::TicketInvalid => (
                "This is not a valid WarTawa ticket",
                "Ini bukan tiket WarTawa yang sah",
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
            ErrorReason::ShuttingDown => (
                "This server is shutting down; please try again in a moment",
                "Server ini sedang berhenti; silakan coba sebentar lagi",
            ),
            ErrorReason::InternalError => (
                "Something went wrong on our side; please try again",
                "Terjadi kesalahan di pihak kami; silakan coba lagi",
            ),
        };
        Localized::new(english, indonesian)
    }

    /// An answer of this reason as the document shows it: its headline, and `details` of the
    /// shape the reason has.
    pub fn example(self, status: u16) -> ErrorBody {
        let (message, details) = match self {
            ErrorReason::ValidationFailed => (
                "Invalid input: name: is required; capacity: must be a whole number".to_string(),
                Some(json!([
                    "name: is required",
                    "capacity: must be a whole number"
                ])),
            ),
            ErrorReason::AmountTooLow => (
                "The amount 150000 is less than the 300000 due".to_string(),
                Some(json!({ "required": 300_000, "given": 150_000 })),
            ),
            ErrorReason::SeatTaken => (
                "Seat A3 is already taken; please choose other seats".to_string(),
                Some(json!([3])),
            ),
            ErrorReason::AlreadyCheckedIn => (
                "Ticket already used at 18:42, Sun 3 Jan 2027".to_string(),
                Some(json!({
                    "checked_in_at": "2027-01-03T18:42:00+07:00",
                    "checked_in_by": { "id": 12, "name": "Budi Santoso" }
                })),
            ),
            other => (other.headline().english, None),
        };
        ErrorBody {
            status: "error".into(),
            code: status,
            error: self,
            message: sentence(message),
            details: details.map(Box::new),
        }
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
        ErrorReason::SeatTaken.example(409)
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

/// A refusal whose status is part of its type. `Refusal<409>` becomes the answer of an
/// operation only through [`Answers<409>`], which only an operation that declares 409 has: an
/// operation cannot answer a status it does not declare, and the compiler says so.
#[derive(Debug, Clone)]
pub struct Refusal<const STATUS: u16>(ApiFailure);

pub type BadRequest = Refusal<400>;
pub type Unauthorized = Refusal<401>;
pub type Forbidden = Refusal<403>;
pub type NotFound = Refusal<404>;
pub type Conflict = Refusal<409>;
pub type PayloadTooLarge = Refusal<413>;
pub type Unprocessable = Refusal<422>;
pub type TooManyRequests = Refusal<429>;
pub type Internal = Refusal<500>;
pub type Unavailable = Refusal<503>;

impl<const STATUS: u16> Refusal<STATUS> {
    /// A refusal whose message is written in the language of the request being handled.
    pub fn new(reason: ErrorReason, message: Localized) -> Self {
        let status = StatusCode::from_u16(STATUS).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Refusal(ApiFailure::new(status, reason, message))
    }

    /// A refusal whose message is its reason's headline.
    pub fn of(reason: ErrorReason) -> Self {
        Refusal::new(reason, reason.headline())
    }

    pub fn with_details(self, details: Value) -> Self {
        Refusal(self.0.with_details(details))
    }

    /// Sends `Retry-After`: seconds after which a retry may succeed.
    pub fn retry_after(self, seconds: u64) -> Self {
        Refusal(self.0.retry_after(seconds))
    }

    pub fn body(&self) -> &ErrorBody {
        &self.0.body
    }

    /// The message without its closing full stop: a line read as it is, at the door.
    pub fn without_full_stop(mut self) -> Self {
        let message = &mut self.0.body.message;
        message.truncate(message.trim_end_matches('.').len());
        self
    }
}

impl BadRequest {
    /// Every problem of the input, as `"field: problem"` details.
    pub fn invalid(errors: &ValidationErrors) -> Self {
        Refusal(ApiFailure::bad_request(errors))
    }

    pub fn invalid_field(field: &str, problem: &str) -> Self {
        Refusal(ApiFailure::invalid_field(field, problem))
    }
}

impl Internal {
    /// An error nobody outside can act on: logged with its cause, answered opaquely.
    pub fn cause(cause: &dyn std::fmt::Display) -> Self {
        Refusal(ApiFailure::internal(cause))
    }
}

impl<const STATUS: u16> From<Refusal<STATUS>> for ApiFailure {
    fn from(refusal: Refusal<STATUS>) -> Self {
        refusal.0
    }
}

impl<const STATUS: u16> IntoResponse for Refusal<STATUS> {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

/// An operation's error responses that include `STATUS`; `error_responses!` implements it for
/// each status it declares.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not declare the error status {STATUS}",
    label = "this can answer {STATUS}",
    note = "declare {STATUS} in the operation's `error_responses!`, with a line saying when it is answered"
)]
pub trait Answers<const STATUS: u16>: Sized {
    fn answer(refusal: Refusal<STATUS>) -> Self;
}

/// What every operation may answer: 503 when it is overloaded or its store is unavailable or
/// busy, and 500 when something unexpected failed.
pub trait OperationErrors: Answers<503> + Answers<500> {}

/// A failure that becomes one of the answers `R` of an operation. Each use case's error has one
/// (in `refusals.rs`), bounded by the statuses its variants map to: `?` on it compiles only in an
/// operation that declares every one of them.
pub trait IntoAnswer<R> {
    fn into_answer(self) -> R;
}

impl<R: Answers<STATUS>, const STATUS: u16> IntoAnswer<R> for Refusal<STATUS> {
    fn into_answer(self) -> R {
        R::answer(self)
    }
}

/// The `Retry-After` header of a response that sends one: seconds after which a retry may succeed.
pub type RetryAfter = Option<u64>;

/// The reasons an operation declares for one of its error statuses: the only ones it answers
/// with that status. The document narrows `error` to them and gives the first as the example.
pub trait DeclaredReasons<const STATUS: u16> {
    const REASONS: &'static [ErrorReason];
}

/// The error body of one of operation `Op`'s error responses: an [`ErrorBody`] whose `error`
/// the document narrows to the reasons `Op` declares for `STATUS`.
pub struct Refused<Op, const STATUS: u16> {
    body: ErrorBody,
    operation: std::marker::PhantomData<fn() -> Op>,
}

impl<Op: DeclaredReasons<STATUS>, const STATUS: u16> Refused<Op, STATUS> {
    /// `body`, whose reason must be one `Op` declares for `STATUS`: a reason that is not is a
    /// mistake in this code, loud in every test run (debug builds) and logged.
    pub fn new(body: ErrorBody) -> Self {
        let reason = body.error;
        if !Op::REASONS.contains(&reason) {
            tracing::error!(
                status = STATUS,
                ?reason,
                operation = std::any::type_name::<Op>(),
                "an operation answered a reason it does not declare"
            );
            debug_assert!(
                false,
                "{} answers {STATUS} {reason:?}, which it does not declare",
                std::any::type_name::<Op>()
            );
        }
        Refused {
            body,
            operation: std::marker::PhantomData,
        }
    }
}

impl<Op: DeclaredReasons<STATUS>, const STATUS: u16> poem_openapi::payload::Payload
    for Refused<Op, STATUS>
{
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    /// `ErrorBody` with `error` narrowed to the declared reasons, and an example of the first.
    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
        use poem_openapi::types::ToJSON;
        let mut reasons = MetaSchema::new("string");
        reasons.enum_items = Op::REASONS.iter().filter_map(ToJSON::to_json).collect();
        let mut narrowed = MetaSchema::new("object");
        narrowed.properties = vec![("error", MetaSchemaRef::Inline(Box::new(reasons)))];
        narrowed.required = vec!["error"];
        let mut schema = MetaSchema::ANY;
        schema.all_of = vec![
            <ErrorBody as poem_openapi::types::Type>::schema_ref(),
            MetaSchemaRef::Inline(Box::new(narrowed)),
        ];
        schema.example = Op::REASONS
            .first()
            .and_then(|reason| reason.example(STATUS).to_json());
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        <ErrorBody as poem_openapi::types::Type>::register(registry);
    }
}

impl<Op, const STATUS: u16> std::fmt::Debug for Refused<Op, STATUS> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Refused")
            .field(&STATUS)
            .field(&self.body)
            .finish()
    }
}

impl<Op: Send, const STATUS: u16> IntoResponse for Refused<Op, STATUS> {
    fn into_response(self) -> Response {
        poem_openapi::payload::Json(self.body).into_response()
    }
}

/// Declares an operation's error responses: the statuses it answers with, each with the reasons
/// it may carry (documented in the OpenAPI document), plus 503 and 500, which any operation can
/// give (503 `overloaded` or `store_unavailable`, more when listed after `unavailable`). A status
/// followed by `(RetryAfter)` also documents and sends the `Retry-After` header (429, and a 409
/// that may be retried); the others have none. A failure of a status not declared here does not
/// convert into these responses: `?` on it does not compile. A reason not declared for its
/// status is a mistake caught at run time ([`Refused::new`]).
///
/// ```
/// use adapters::error_responses;
/// use adapters::http::error::{Conflict, ErrorReason};
///
/// error_responses!(BookSeatErrors {
///     /// No such seat.
///     NotFound = 404 [NotFound],
///     /// The seat is taken.
///     Conflict = 409 [SeatTaken],
/// });
///
/// fn book_seat() -> Result<(), BookSeatErrors> {
///     Err(Conflict::of(ErrorReason::SeatTaken))?
/// }
/// # assert!(matches!(book_seat(), Err(BookSeatErrors::Conflict(_))));
/// ```
///
/// The same operation without 409 does not compile (the compiler: "`BookSeatErrors: Answers<409>`
/// is not satisfied"):
///
/// ```compile_fail
/// use adapters::error_responses;
/// use adapters::http::error::{Conflict, ErrorReason};
///
/// error_responses!(BookSeatErrors {
///     /// No such seat.
///     NotFound = 404 [NotFound],
/// });
///
/// fn book_seat() -> Result<(), BookSeatErrors> {
///     Err(Conflict::of(ErrorReason::SeatTaken))?
/// }
/// ```
#[macro_export]
macro_rules! error_responses {
    ($(#[$meta:meta])* $name:ident { $($body:tt)* }) => {
        $crate::error_responses!($(#[$meta])* $name { $($body)* } unavailable [Overloaded, StoreUnavailable]);
    };
    ($(#[$meta:meta])* $name:ident {
        $($(#[doc = $doc:literal])* $variant:ident = $status:literal [$($reason:ident),+ $(,)?] $(($retry:ty))?),* $(,)?
    } unavailable [$($unavailable:ident),+]) => {
        $(#[$meta])*
        #[derive(poem_openapi::ApiResponse, Debug)]
        pub enum $name {
            $(
                $(#[doc = $doc])*
                #[oai(status = $status)]
                $variant(
                    $crate::http::error::Refused<$name, $status>
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
                $crate::http::error::Refused<$name, 503>,
                /// Seconds after which a retry may succeed.
                #[oai(header = "Retry-After")] Option<u64>,
            ),
            /// An unexpected failure on the server.
            #[oai(status = 500)]
            Internal($crate::http::error::Refused<$name, 500>),
        }

        $(
            impl $crate::http::error::DeclaredReasons<$status> for $name {
                const REASONS: &'static [$crate::http::error::ErrorReason] =
                    &[$($crate::http::error::ErrorReason::$reason),+];
            }

            impl $crate::http::error::Answers<$status> for $name {
                fn answer(refusal: $crate::http::error::Refusal<$status>) -> Self {
                    let failure = $crate::http::error::ApiFailure::from(refusal);
                    $name::$variant(
                        $crate::http::error::Refused::new(failure.body)
                        $(, <$retry>::from(failure.retry_after))?
                    )
                }
            }
        )*

        impl $crate::http::error::DeclaredReasons<503> for $name {
            const REASONS: &'static [$crate::http::error::ErrorReason] =
                &[$($crate::http::error::ErrorReason::$unavailable),+];
        }

        impl $crate::http::error::DeclaredReasons<500> for $name {
            const REASONS: &'static [$crate::http::error::ErrorReason] =
                &[$crate::http::error::ErrorReason::InternalError];
        }

        impl $crate::http::error::Answers<503> for $name {
            fn answer(refusal: $crate::http::error::Refusal<503>) -> Self {
                let failure = $crate::http::error::ApiFailure::from(refusal);
                $name::Unavailable($crate::http::error::Refused::new(failure.body), failure.retry_after)
            }
        }

        impl $crate::http::error::Answers<500> for $name {
            fn answer(refusal: $crate::http::error::Refusal<500>) -> Self {
                let failure = $crate::http::error::ApiFailure::from(refusal);
                $name::Internal($crate::http::error::Refused::new(failure.body))
            }
        }

        impl $crate::http::error::OperationErrors for $name {}

        impl<E: $crate::http::error::IntoAnswer<$name>> From<E> for $name {
            fn from(failure: E) -> Self {
                failure.into_answer()
            }
        }
    };
}
pub use crate::error_responses;

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

    crate::error_responses!(SeatErrors {
        /// The seat is taken.
        Conflict = 409 [SeatTaken],
    });

    #[test]
    fn a_declared_reason_is_answered() {
        let answer = SeatErrors::from(Conflict::of(ErrorReason::SeatTaken));
        assert!(matches!(answer, SeatErrors::Conflict(_)));
    }

    #[test]
    #[should_panic(expected = "which it does not declare")]
    fn an_undeclared_reason_fails_every_test_that_meets_it() {
        let _ = SeatErrors::from(Conflict::of(ErrorReason::PhaseSoldOut));
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
