//! The capabilities the use cases need from the outside world, one trait each.
//!
//! Every command that must be atomic (place a booking, pay, cancel, check in, expire, change an
//! event) is one call: the adapter takes its lock or opens its transaction, reads a consistent
//! snapshot, asks the domain for the decision, and writes the result.

use async_trait::async_trait;

use domain::audit::{AuditActionKind, AuditStamp};
use domain::booking::{
    BookingCode, BookingPolicy, BookingRejection, BookingRequest, CancelRejection,
    CheckInRejection, PayRejection,
};
use domain::event::{EventId, EventPatch, EventUpdateError, NewEvent};
use domain::notification::NoticeKind;
use domain::payment::{Payment, PaymentInput};
use domain::ticket::TicketClaims;
use domain::user::{Email, NewUser, Nik, Password, Role, User, UserChange, UserId};
use domain::Timestamp;

use crate::idempotency::{IdempotencyKey, IdempotencyPolicy};
use crate::notifications::{
    AttemptRecord, Delivery, DeliveryId, DeliveryState, DueDelivery, NewWebhookEndpoint,
    WebhookEndpoint, WebhookId,
};
use crate::views::{AuditRecord, BookingDetails, Dashboard, EventView, ImageFile, SeatMap};

/// The store could not do what was asked, for a reason of its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Not reachable, or no connection free in time: worth retrying shortly.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Waiting for a lock took too long: worth retrying shortly.
    #[error("the store is busy: {0}")]
    Busy(String),
    #[error("the store failed: {0}")]
    Unexpected(String),
}

/// What is known of a read replica's freshness (see the PostgreSQL store's `ReadReplica`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReplicaState {
    pub health: ReplicaHealth,
    /// How old its data may be at most now; `None` until a check has shown it caught up.
    pub lag: Option<std::time::Duration>,
    /// The most its data may lag for reads to go to it.
    pub max_lag: std::time::Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaHealth {
    /// Reads that may be a little old go to it.
    Fresh,
    /// Its data may be older than the bound: it is bypassed until it catches up.
    Lagging,
    /// It does not answer, or it is not a standby of this database (why): it is bypassed until
    /// a check finds it usable.
    Unusable(String),
}

/// A read replica's freshness, as readiness reports it.
pub trait ReadReplicaStatus: Send + Sync {
    fn state(&self) -> ReadReplicaState;
}

pub const MAX_PER_PAGE: u32 = 100;
/// The highest page number a list is read at.
pub const MAX_PAGE: u32 = 1_000_000;

/// A 1-based page of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    pub fn new(page: u32, per_page: u32) -> Page {
        Page {
            page: page.max(1),
            per_page: per_page.clamp(1, MAX_PER_PAGE),
        }
    }

    /// The whole list, for the lists a client reads whole unless it asks for pages (the event
    /// list and a customer's booking history, whose lengths people bound).
    pub fn everything() -> Page {
        Page {
            page: 1,
            per_page: u32::MAX,
        }
    }

    pub fn offset(&self) -> usize {
        (self.page as usize - 1) * self.per_page as usize
    }

    /// This page of an already ordered list.
    pub fn slice<T: Clone>(&self, items: &[T]) -> Vec<T> {
        items
            .iter()
            .skip(self.offset())
            .take(self.per_page as usize)
            .cloned()
            .collect()
    }
}

impl Default for Page {
    fn default() -> Self {
        Page::new(1, 20)
    }
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
}

impl<T> Paged<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserWriteError {
    #[error("no such user")]
    NotFound,
    #[error("email address already registered")]
    EmailTaken,
    #[error("an email address that looks the same is already registered")]
    EmailLooksLikeAnother,
    #[error("NIK already registered")]
    NikTaken,
    #[error("the last active admin cannot be demoted or deactivated")]
    LastAdmin,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new account; email (case-insensitively) and NIK must be unused, and no other
    /// account's email may look like it (`Email::looks_like`): checked atomically with the write,
    /// as `update` does for a changed email.
    async fn insert(&self, user: NewUser) -> Result<User, UserWriteError>;
    async fn find(&self, id: UserId) -> Result<Option<User>, StoreError>;
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;
    /// Whether another account already uses this email (or one that looks like it) or this
    /// NIK: a cheap check before a sign-up's password is hashed. `insert` still refuses two
    /// sign-ups that race past it.
    async fn identifiers_in_use(
        &self,
        email: &Email,
        nik: Option<Nik>,
    ) -> Result<IdentifiersInUse, StoreError>;
    /// All accounts, oldest first.
    async fn list(&self, page: Page) -> Result<Paged<User>, StoreError>;
    /// Applies `domain::user::apply_change` atomically, refusing a change that would leave no
    /// active admin (`domain::user::removes_last_admin`) or reuse another account's email or NIK.
    /// With the same atomicity it records `domain::audit::entries_for_user_change` of `audit`:
    /// who made the change and when. `None` is for a change no user made (the admin of the
    /// server's configuration, ensured at start-up), which records nothing.
    async fn update(
        &self,
        id: UserId,
        change: UserChange,
        audit: Option<AuditStamp>,
    ) -> Result<User, UserWriteError>;
}

/// Which identifiers of a sign-up another account already has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentifiersInUse {
    pub email: bool,
    /// Another account's email looks like this one (`Email::looks_like`).
    pub email_look_alike: bool,
    pub nik: bool,
}

/// Which events a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Name or venue contains this, ignoring case.
    pub query: Option<String>,
    /// Only events whose date is still to come.
    pub upcoming_only: bool,
    /// Only events this customer holds pending or confirmed tickets for.
    pub ticket_holder: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventWriteError {
    #[error("no such event")]
    NotFound,
    #[error(transparent)]
    Rejected(#[from] EventUpdateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventDeleteError {
    #[error("no such event")]
    NotFound,
    #[error("the event has bookings")]
    HasBookings,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait EventRepository: Send + Sync {
    /// Stores the event, its phases in order, and `capacity` seats laid out by `domain::seat::layout`;
    /// an uploaded picture's bytes are stored once, apart from the event's fields.
    async fn create(&self, event: NewEvent) -> Result<EventView, StoreError>;
    async fn find(&self, id: EventId, now: Timestamp) -> Result<Option<EventView>, StoreError>;
    /// Events ordered by date (then id). Never reads a picture's bytes.
    async fn list(
        &self,
        filter: EventFilter,
        page: Page,
        now: Timestamp,
    ) -> Result<Paged<EventView>, StoreError>;
    /// Applies `domain::event::plan_event_update` atomically: phases added, changed and removed,
    /// seats appended or removed from the end, and, when the event is cancelled, its open
    /// bookings cancelled and their payments refunded, and the cancellation recorded in the
    /// audit trail as `audit`'s actor's. The picture follows the plan's `ImageChange`: an uploaded
    /// picture that is replaced or removed is deleted.
    async fn update(
        &self,
        id: EventId,
        patch: EventPatch,
        now: Timestamp,
        audit: AuditStamp,
    ) -> Result<EventView, EventWriteError>;
    /// Deletes an event that has no bookings at all, with its uploaded picture, and records the
    /// deletion, with the event's name, in the audit trail as `audit`'s actor's.
    async fn delete(&self, id: EventId, audit: AuditStamp) -> Result<(), EventDeleteError>;
    /// The event's uploaded picture, reading no other event's; `None` for an unknown event or one
    /// without an uploaded picture.
    async fn image(&self, id: EventId) -> Result<Option<ImageFile>, StoreError>;
    /// The seat map in row, number order, with its version; `None` for an unknown event.
    async fn seats(&self, id: EventId, now: Timestamp) -> Result<Option<SeatMap>, StoreError>;
    /// The version the seat map has now (lapsed holds expired first); `None` for an unknown event.
    /// Cheaper than the map itself: a reader holding the map of this version may serve it as is.
    async fn seat_map_version(
        &self,
        id: EventId,
        now: Timestamp,
    ) -> Result<Option<u64>, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceBookingError {
    #[error("no such event")]
    EventNotFound,
    #[error(transparent)]
    Rejected(#[from] BookingRejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a command on an existing booking did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingCommandError<R> {
    #[error("no such booking")]
    NotFound,
    #[error("{0}")]
    Rejected(R),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of a payment: the payment recorded and the booking it confirmed.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentReceipt {
    pub payment: Payment,
    pub booking: BookingDetails,
}

#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait BookingRepository: Send + Sync {
    /// Decides and stores a booking as one indivisible step (`domain::booking::decide` on a
    /// snapshot taken under the store's lock or transaction), with a fresh unique code.
    async fn place(
        &self,
        request: BookingRequest,
        policy: BookingPolicy,
        now: Timestamp,
    ) -> Result<BookingDetails, PlaceBookingError>;
    async fn find_by_code(
        &self,
        code: &BookingCode,
        now: Timestamp,
    ) -> Result<Option<BookingDetails>, StoreError>;
    /// The customer the booking of `code` belongs to (`None` for an unknown code): who may act
    /// on it, known without reading the whole booking.
    async fn customer_of(&self, code: &BookingCode) -> Result<Option<UserId>, StoreError>;
    /// Confirms a pending booking and records its payment, once.
    async fn pay(
        &self,
        code: &BookingCode,
        payment: PaymentInput,
        now: Timestamp,
    ) -> Result<PaymentReceipt, BookingCommandError<PayRejection>>;
    /// Cancels a booking, refunding its payment when it was paid.
    async fn cancel(
        &self,
        code: &BookingCode,
        now: Timestamp,
    ) -> Result<BookingDetails, BookingCommandError<CancelRejection>>;
    /// Checks a paid booking in, and records who let the guest in in the audit trail
    /// (`domain::audit::entry_for_check_in`); of simultaneous calls exactly one succeeds.
    async fn check_in(
        &self,
        code: &BookingCode,
        now: Timestamp,
        audit: AuditStamp,
    ) -> Result<BookingDetails, BookingCommandError<CheckInRejection>>;
    /// Expires every lapsed hold, freeing its seats and quota; returns how many it expired.
    async fn expire_lapsed(&self, now: Timestamp) -> Result<u64, StoreError>;
    /// A customer's bookings, newest first.
    async fn list_for_customer(
        &self,
        customer: UserId,
        page: Page,
        now: Timestamp,
    ) -> Result<Paged<BookingDetails>, StoreError>;
    /// The door list of an event (`None` for an unknown event): its confirmed bookings, oldest
    /// first; with `since`, every booking ever paid whose `Booking::door_change` is after
    /// `since`, oldest change first, cancelled ones included so that a copy kept offline can
    /// drop them.
    async fn door_list(
        &self,
        event: EventId,
        since: Option<Timestamp>,
        page: Page,
        now: Timestamp,
    ) -> Result<Option<Paged<BookingDetails>>, StoreError>;
    async fn dashboard(&self, now: Timestamp) -> Result<Dashboard, StoreError>;
    /// Whether the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Which entries of the audit trail a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries of this action.
    pub action: Option<AuditActionKind>,
}

/// Reading the audit trail, which the repositories' commands write.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// The entries, newest first (by time, then by id), with their actors.
    async fn list(&self, filter: AuditFilter, page: Page)
        -> Result<Paged<AuditRecord>, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// As many password checks as allowed are already running or waiting; refused at once,
    /// so that a flood of them cannot hold everything else up. Worth retrying in a moment.
    #[error("too many password checks at once")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// How much of the password-checking capacity a piece of work may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckPriority {
    /// A login or password change of someone with no recent failures, and the admin of start-up.
    Normal,
    /// Sign-ups, and logins and password changes from an address that failed a check lately:
    /// together never more than a share of the places, so that a flood of them leaves room for
    /// everyone else.
    Low,
}

/// Password hashing and checking: slow on purpose, so every call is bounded (see
/// [`HashError::Busy`]), and every path that hashes or checks a password goes through it.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password, priority: CheckPriority)
        -> Result<String, HashError>;
    async fn verify(
        &self,
        password: &str,
        hash: &str,
        priority: CheckPriority,
    ) -> Result<bool, HashError>;
    /// Spends as long as a `verify` does, for a login whose account does not exist, so that a
    /// wrong email and a wrong password cannot be told apart by their timing (or by a `Busy`).
    async fn verify_nothing(
        &self,
        password: &str,
        priority: CheckPriority,
    ) -> Result<(), HashError>;
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub user_id: UserId,
    pub role: Role,
    pub token_version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
    #[error("a token could not be issued: {0}")]
    Issue(String),
}

#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait TokenService: Send + Sync {
    fn issue(&self, user: &User, now: Timestamp) -> Result<IssuedToken, TokenError>;
    /// Checks signature and expiry (no leeway) against `now`.
    fn verify(&self, token: &str, now: Timestamp) -> Result<TokenClaims, TokenError>;
}

/// Why a ticket token is not honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketTokenError {
    #[error("the text is not a WarTawa ticket")]
    Malformed,
    #[error(
        "the ticket's signature does not match it: it was altered, or signed with another key"
    )]
    BadSignature,
}

/// Signs tickets so that a scanner can check them with the public key alone.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait TicketSigner: Send + Sync {
    /// The ticket's token: compact, URL-safe, signed; the same claims give the same token.
    fn sign(&self, claims: &TicketClaims) -> String;
    /// The claims of a token signed with this signer's key, unaltered.
    fn verify(&self, token: &str) -> Result<TicketClaims, TicketTokenError>;
    /// The Ed25519 public key a scanner verifies tokens with.
    fn public_key(&self) -> [u8; 32];
}

#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait CodeGenerator: Send + Sync {
    /// A random booking code; the store retries on a collision.
    fn generate(&self) -> BookingCode;
}

/// An answer recorded for an `Idempotency-Key`, replayed as it was to a retry of its request:
/// the status code and the body's exact bytes (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What an idempotency key stands for in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// A request with this key is being handled (or its handler died; see
    /// `IdempotencyPolicy::takeover_after`).
    InProgress,
    /// The request was handled; this was its answer.
    Completed(StoredResponse),
}

/// One user's idempotency key as stored; both stores feed it to `idempotency::decide`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// What the first request was (method, path and body), hashed by the HTTP adapter.
    pub fingerprint: String,
    /// Which attempt owns the key: moves on every takeover, so that a late `complete` or
    /// `abandon` from an attempt that was taken over touches nothing.
    pub attempt: i64,
    pub state: KeyState,
    /// When the current attempt began.
    pub created_at: Timestamp,
    /// When the key is forgotten (`IdempotencyPolicy::expiry_of_claim`, `expiry_of_answer`).
    pub expires_at: Timestamp,
}

/// What `IdempotencyStore::begin` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is now this attempt's: handle the request, then `complete` or `abandon`.
    Started { attempt: i64 },
    /// The same request was answered before: send this answer again.
    Replay(StoredResponse),
    /// The same request is being handled right now.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
    /// The key is new and the user already holds as many unexpired keys as the policy admits.
    TooManyKeys,
}

#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` of `user` for a request with `fingerprint`, or says why not, as one atomic
    /// step (`idempotency::decide` on the record read under the store's lock or row lock): of
    /// any number of simultaneous calls, across processes, at most one is `Started`. A key the
    /// user does not hold yet is `TooManyKeys` unless `policy.admits_new_key` of the user's
    /// unexpired keys; a claimed key expires at `policy.expiry_of_claim(now)`.
    async fn begin(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        fingerprint: &str,
        policy: IdempotencyPolicy,
        now: Timestamp,
    ) -> Result<Begin, StoreError>;
    /// Records the answer of the attempt that holds the key, for replays until `expires_at`.
    async fn complete(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        attempt: i64,
        response: StoredResponse,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Releases the key held by `attempt` without an answer, so that a retry runs again.
    async fn abandon(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        attempt: i64,
    ) -> Result<(), StoreError>;
    /// Forgets the keys expired at `now`; returns how many.
    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError>;
}

/// Where a key's events are counted in fixed windows: the throttles' memory. With PostgreSQL
/// every process shares it, so that three processes behind a load balancer allow one budget, not
/// three.
#[async_trait]
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait RateCounter: Send + Sync {
    /// Counts one event of `key` in its window of `window` (a new window opens when the last
    /// one is over), and gives the window's count with this event.
    async fn hit(&self, key: &str, window: std::time::Duration) -> Result<WindowCount, StoreError>;
    /// The count of `key`'s window now, counting nothing.
    async fn peek(&self, key: &str, window: std::time::Duration)
        -> Result<WindowCount, StoreError>;
    /// Forgets ended windows: at least those that started `older_than` ago or more, which must
    /// be longer than any window (only keeps the store small; a store may forget every ended
    /// window).
    async fn forget_ended(&self, older_than: std::time::Duration) -> Result<u64, StoreError>;
}

/// A key's events in its current window, and when that window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    pub count: u32,
    pub ends_in: std::time::Duration,
}

impl WindowCount {
    /// No event in an open window.
    pub const NONE: WindowCount = WindowCount {
        count: 0,
        ends_in: std::time::Duration::ZERO,
    };
}

/// Webhook endpoints, and the outbox's deliveries to them and to buyers' e-mail addresses.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait NotificationRepository: Send + Sync {
    async fn create_endpoint(
        &self,
        endpoint: NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError>;
    async fn endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError>;
    /// Removes an endpoint and its deliveries; `false` if there was none.
    async fn delete_endpoint(&self, id: WebhookId) -> Result<bool, StoreError>;
    /// An endpoint's deliveries, newest first; `None` for an unknown endpoint.
    async fn deliveries(
        &self,
        id: WebhookId,
        page: Page,
    ) -> Result<Option<Paged<Delivery>>, StoreError>;
    /// Forgets the deliveries that arrived before `before`, and the notifications left with no
    /// delivery; returns how many deliveries it forgot.
    async fn forget_delivered(&self, before: Timestamp) -> Result<u64, StoreError>;
    /// E-mails to buyers, newest first, only those in `state` when given.
    async fn email_deliveries(
        &self,
        state: Option<DeliveryState>,
        page: Page,
    ) -> Result<Paged<Delivery>, StoreError>;
    /// Turns up to `limit` recorded notifications into deliveries due at `now`: one for each
    /// endpoint (not disabled) that wants its kind, and one e-mail to the buyer when its kind is
    /// among `emailed`; returns how many notifications it took.
    async fn fan_out(
        &self,
        limit: usize,
        now: Timestamp,
        emailed: Vec<NoticeKind>,
    ) -> Result<usize, StoreError>;
    /// Claims up to `limit` pending deliveries due by `now`: none is claimed again before
    /// `lease_until` (by this process or another), unless its attempt is recorded first.
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    async fn record_attempt(
        &self,
        id: DeliveryId,
        attempt: AttemptRecord,
    ) -> Result<(), StoreError>;
    /// From now on, every change's notification is recorded for the buyer's e-mail, whether or
    /// not an endpoint listens (otherwise only while one does).
    fn email_buyers(&self);
    /// When a delivery last reached the endpoint, if one ever did.
    async fn last_delivered_at(&self, id: WebhookId) -> Result<Option<Timestamp>, StoreError>;
    /// Stops sending to the endpoint, saying why; its pending deliveries are parked.
    async fn disable_endpoint(
        &self,
        id: WebhookId,
        at: Timestamp,
        reason: String,
    ) -> Result<(), StoreError>;
}
