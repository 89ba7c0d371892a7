//! The HTTP API: poem-openapi operations for every endpoint of the contract, the Swagger UI at
//! `/docs`, the document at `/openapi.json`, and the middleware around them.

mod audit;
mod bookings;
pub mod buyer_mail;
mod connection_io;
mod dashboard;
mod door;
mod emails;
pub mod error;
mod events;
mod fields;
mod health;
pub mod idempotency;
pub mod language;
pub mod limits;
pub mod middleware;
pub mod notification_delivery;
mod pictures;
mod protocol_errors;
mod refusals;
mod request_shape;
mod rules;
pub mod seat_feed;
mod seat_map_cache;
mod seat_stream;
pub mod server;
mod shared_checks;
mod ticket_page;
mod tickets;
pub mod time;
mod users;
mod webhooks;

use std::sync::Arc;

use chrono::FixedOffset;
use poem::middleware::Cors;
use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::auth::Bearer;
use poem_openapi::{OpenApiService, SecurityScheme};

use application::audit::AuditService;
use application::auth::{Actor, AuthError, Authenticate};
use application::bookings::BookingService;
use application::dashboard::DashboardService;
use application::events::EventService;
use application::health::Readiness;
use application::idempotency::IdempotencyService;
use application::users::UserService;
use application::Page;

use self::error::BadRequest;

/// The use cases the HTTP API calls.
pub struct Services {
    pub authenticate: Authenticate,
    pub users: UserService,
    pub events: EventService,
    pub bookings: BookingService,
    pub dashboard: DashboardService,
    /// The audit trail, for admins.
    pub audit: AuditService,
    pub readiness: Readiness,
    /// Replays of booking and payment requests retried with the same `Idempotency-Key`.
    pub idempotency: IdempotencyService,
    /// The offset at which naive times in requests are read (`APP_TZ_OFFSET`).
    pub venue_offset: FixedOffset,
    /// How long before a show its doors open, as its e-ticket says (`DOORS_OPEN_MINUTES`).
    pub doors_open_before: chrono::Duration,
    /// The live seat maps of this process.
    pub seat_feed: Arc<seat_feed::SeatFeed>,
    /// Signs the tickets of paid bookings.
    pub tickets: Arc<dyn application::ports::TicketSigner>,
    /// Checking guests in by their signed tickets.
    pub door: application::door::DoorService,
    /// Where the throttles count: shared by every process on PostgreSQL.
    pub rate_counter: Arc<dyn application::ports::RateCounter>,
    /// Organisers' webhook endpoints and their deliveries.
    pub notifications: Arc<application::notifications::NotificationService>,
    /// Which addresses webhook endpoints may point at (`WEBHOOK_ALLOW_PRIVATE`).
    pub webhook_receivers: notification_delivery::Receivers,
}

/// How the HTTP layer is set up.
#[derive(Debug, Clone, Default)]
pub struct HttpSettings {
    /// Origins allowed by CORS; `None` allows any origin.
    pub cors_origins: Option<Vec<String>>,
    /// How request bodies are read: their size, and how slowly they may arrive.
    pub body: middleware::BodyReading,
    /// The language of messages when a request's `Accept-Language` names none WarTawa speaks.
    pub default_language: language::Language,
    pub limits: limits::Limits,
    /// Whether `/metrics` is served with the API; `false` when it has a listener of its own
    /// (`METRICS_ADDR`).
    pub metrics_with_api: bool,
    /// Where links to uploaded pictures start (`PUBLIC_BASE_URL`, checked by the configuration:
    /// `http(s)://host[:port][/path]`); `None` builds them on each request's scheme and `Host`.
    pub public_base_url: Option<String>,
}

/// How an answer is written for the request it answers: as of when, with its times at the
/// venue's offset, and its pictures' addresses starting where the client reaches the API.
pub struct Presentation {
    pub now: domain::Timestamp,
    pub venue_offset: FixedOffset,
    pub links: pictures::LinkBase,
    /// Signs the tickets of the paid bookings shown.
    pub tickets: Arc<dyn application::ports::TicketSigner>,
}

impl Presentation {
    /// The answer to `request`, as of now.
    pub fn of(
        services: &Services,
        links: &pictures::PictureLinks,
        request: &poem::Request,
    ) -> Self {
        Presentation {
            now: services.events.now(),
            venue_offset: services.venue_offset,
            links: links.base_for(request),
            tickets: services.tickets.clone(),
        }
    }

    /// `at` as the venue's wall time with its offset.
    pub fn time(&self, at: domain::Timestamp) -> time::VenueTime {
        time::VenueTime::new(at, self.venue_offset)
    }
}

/// A JSON Web Token from `POST /api/users/login`, sent as `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT")]
pub struct BearerToken(Bearer);

impl Services {
    /// The user behind a bearer token, or a 401.
    /// The caller of a request; the request's log line names them.
    pub async fn actor(&self, token: &BearerToken) -> Result<Actor, AuthError> {
        let actor = self.authenticate.execute(&token.0.token).await?;
        tracing::Span::current().record("user_id", actor.id.0);
        Ok(actor)
    }
}

/// `?page=` of a list.
pub type PageParam = poem_openapi::param::Query<Option<fields::Whole<rules::PageNumber>>>;
/// `?per_page=` of a list.
pub type PerPageParam = poem_openapi::param::Query<Option<fields::Whole<rules::PageSize>>>;

/// `?page=1&per_page=20`; `per_page` is at most 100.
pub fn page_of(page: PageParam, per_page: PerPageParam) -> Result<Page, BadRequest> {
    use application::ports::{MAX_PAGE, MAX_PER_PAGE};
    let mut errors = domain::validation::ValidationErrors::new();
    let mut within = |field: &str, value: Option<i64>, default: u32, most: u32| {
        let value = value.unwrap_or(i64::from(default));
        if (1..=i64::from(most)).contains(&value) {
            value as u32
        } else {
            errors.add(field, format!("must be between 1 and {most}"));
            default
        }
    };
    let page = within("page", page.0.map(|page| page.get()), 1, MAX_PAGE);
    let per_page = within(
        "per_page",
        per_page.0.map(|size| size.get()),
        20,
        MAX_PER_PAGE,
    );
    if errors.is_empty() {
        Ok(Page::new(page, per_page))
    } else {
        Err(BadRequest::invalid(&errors))
    }
}

/// As [`page_of`], but without either parameter the whole list: for the lists the web app reads
/// whole (the event list, a customer's booking history).
pub fn page_or_everything(page: PageParam, per_page: PerPageParam) -> Result<Page, BadRequest> {
    if page.0.is_none() && per_page.0.is_none() {
        Ok(Page::everything())
    } else {
        page_of(page, per_page)
    }
}

/// A field of a partial update: left out keeps the value, `null` clears it, a value sets it.
fn patch_field<R>(
    value: poem_openapi::types::MaybeUndefined<fields::Text<R>>,
) -> Option<Option<String>> {
    use poem_openapi::types::MaybeUndefined;
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(text) => Some(Some(text.into())),
    }
}

type Apis = (
    users::UsersApi,
    events::EventsApi,
    seat_stream::SeatStreamApi,
    bookings::BookingsApi,
    tickets::TicketsApi,
    door::DoorApi,
    door::DoorListApi,
    dashboard::DashboardApi,
    audit::AuditApi,
    webhooks::WebhooksApi,
    emails::EmailsApi,
    health::HealthApi,
);

/// The OpenAPI service: every operation of the contract.
pub fn api_service(services: Arc<Services>, settings: &HttpSettings) -> OpenApiService<Apis, ()> {
    let throttles = Arc::new(limits::Throttles::new(
        settings.limits.clone(),
        services.rate_counter.clone(),
    ));
    let links = pictures::PictureLinks::new(settings.public_base_url.as_deref());
    let apis = (
        users::UsersApi::new(services.clone(), throttles.clone(), links.clone()),
        events::EventsApi::new(services.clone(), links.clone()),
        seat_stream::SeatStreamApi::new(&services),
        bookings::BookingsApi::new(services.clone(), throttles, links),
        tickets::TicketsApi::new(&services),
        door::DoorApi::new(services.clone()),
        door::DoorListApi::new(services.clone()),
        dashboard::DashboardApi::new(services.clone()),
        audit::AuditApi::new(services.clone()),
        webhooks::WebhooksApi::new(services.clone()),
        emails::EmailsApi::new(services.clone()),
        health::HealthApi::new(services),
    );
    OpenApiService::new(apis, "WarTawa", env!("CARGO_PKG_VERSION")).description(
        "Ticketing for stand-up comedy shows: events with seat maps and price phases, bookings of exact seats, \
         payment, cancellation and check-in at the door. Every error has the shape \
         `{\"status\":\"error\",\"code\":<status>,\"error\":<reason>,\"message\":…,\"details\":…}`, where `error` \
         is one of the closed list `ErrorReason` (branch on it, never on the message) and `message` is a plain sentence \
         for a person. A request whose body, query or path does not have the shape this document gives is refused \
         with `validation_failed`, every problem listed in `details` as `\"field: problem\"`. Times in responses are RFC 3339 \
         at the venue's offset (`2026-12-01T19:30:00+07:00`), so that printed as they are they show the venue's \
         wall time; times in requests are RFC 3339 (any offset) or a naive `YYYY-MM-DD HH:MM[:SS]` read at the \
         venue's offset. Messages come in Indonesian or English by `Accept-Language`.",
    )
    // Where the API is reached: the configured public address, or wherever this document was read.
    .server(settings.public_base_url.clone().unwrap_or_else(|| "/".to_string()))
}

/// The OpenAPI document as JSON, for `wartawa openapi` and frontend code generation.
pub fn openapi_document(services: Arc<Services>) -> String {
    api_service(services, &HttpSettings::default()).spec()
}

/// The whole HTTP application: API, docs, and middleware.
pub fn app(services: Arc<Services>, settings: &HttpSettings) -> impl Endpoint {
    let api = api_service(services, settings);
    let docs = api.swagger_ui();
    let document = Arc::new(request_shape::DocumentIndex::from_document(&api.spec()));
    let spec = api.spec_endpoint();
    let cors = match &settings.cors_origins {
        None => Cors::new(),
        Some(origins) => Cors::new().allow_origins(origins.iter().map(String::as_str)),
    }
    .allow_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
    .allow_headers(["authorization", "content-type", "idempotency-key"])
    .expose_headers([
        "x-total-count",
        "retry-after",
        "x-request-id",
        "idempotent-replayed",
    ])
    .max_age(600);
    let mut routes = Route::new()
        .nest("/", api)
        .nest("/docs", docs)
        .at("/openapi.json", spec);
    if settings.metrics_with_api {
        routes = routes.at("/metrics", poem::endpoint::make_sync(|_| metrics_page()));
    }
    routes
        // Inside the bound on requests in flight: checking a body is handler work.
        .with(request_shape::RequestShape::new(document.clone()))
        .with(middleware::LoadShedder::new(
            settings.limits.max_in_flight_requests,
        ))
        // Outside the bound on requests in flight: a body still arriving holds no place.
        .with(middleware::BodyReader::new(settings.body.clone()))
        .catch_all_error(error::framework_error)
        .with(middleware::AllowHeader::new(document.clone()))
        .with(cors)
        // CORS refuses a preflight from an unknown origin with an error of its own.
        .catch_all_error(error::framework_error)
        .with(middleware::security_headers())
        // Every answer as made, compressed when it is large text and the client takes it.
        .with(middleware::CompressLarge)
        // Outside every answer's making, so that each is told in the request's language.
        .with(language::Negotiate::new(settings.default_language))
        .with(middleware::RequestLog::new(document))
}

/// The Prometheus metrics, in the text exposition format.
fn metrics_page() -> poem::Response {
    poem::Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render())
}

/// `/metrics` alone, for a listener of its own (`METRICS_ADDR`), away from the public port.
pub fn metrics_app() -> impl Endpoint {
    Route::new().at("/metrics", poem::endpoint::make_sync(|_| metrics_page()))
}

/// The groups of operations in the docs.
#[derive(poem_openapi::Tags)]
enum Tag {
    /// Accounts, login, profiles and booking history.
    Users,
    /// Shows, their price phases and seat maps.
    Events,
    /// Booking seats, paying, cancelling and checking in at the door.
    Bookings,
    /// The organiser's figures.
    Dashboard,
    /// Who did what to whom, and when: check-ins, role changes, deactivations, password resets,
    /// cancelled and deleted events.
    Audit,
    /// Telling the world: organisers' webhook endpoints (signed, at least once) and the e-mails
    /// to buyers.
    Webhooks,
    /// Liveness and readiness probes.
    Health,
}
