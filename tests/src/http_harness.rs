//! The whole WarTawa application in-process, driven through `poem::test::TestClient`.
//!
//! A [`TestApp`] is the real HTTP app (`adapters::http::app`) assembled the way the server
//! assembles it, over a store the caller chooses (the memory store by default; PostgreSQL plugs
//! in through [`AppFactory::new`]), with bcrypt at cost 4 and a [`ManualClock`] so that hold
//! expiry and phase windows are tested by moving time, never by sleeping.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, TimeZone, Utc};
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::test::TestClient;
use poem::{EndpointExt, Response};
use serde_json::{json, Value};

use adapters::auth::JwtTokenService;
use adapters::http::Services;
use application::ports::Clock;
use bootstrap::config::Config;
use bootstrap::wiring::{
    ensure_configured_admin, http_settings, notification_delivery, password_hasher, services,
    ticket_signer, Adapters, Stores,
};
use domain::Timestamp;

/// The admin that start-up makes sure exists (`ADMIN_EMAIL` / `ADMIN_PASSWORD`).
pub const ADMIN_EMAIL: &str = "admin@wartawa.test";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The password every customer made by [`TestApp::account`] gets.
pub const CUSTOMER_PASSWORD: &str = "customer-pass-1";
/// 32 bytes or more, as the configuration demands.
const JWT_SECRET: &str = "wartawa-http-suite-jwt-secret-0123456789";
/// The suite's ticket key: 32 bytes in base64, public so that tests can verify tickets with it.
pub const TICKET_SIGNING_KEY: &str = "d2FydGF3YS1odHRwLXN1aXRlLXRpY2tldC1rZXkhISE=";
/// What the web app sends as a payment method.
pub const PAYMENT_METHOD: &str = "BCA Virtual Account";
/// The `Host` every request of [`TestApp::request`] names, as every HTTP/1.1 client sends one.
pub const TEST_HOST: &str = "api.wartawa.test";

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// Starts at the real time now, to the whole second (responses carry whole seconds).
    pub fn starting_now() -> ManualClock {
        let now = Utc::now();
        ManualClock::at(
            Utc.timestamp_opt(now.timestamp(), 0)
                .single()
                .unwrap_or(now),
        )
    }

    pub fn at(time: Timestamp) -> ManualClock {
        ManualClock {
            now: Mutex::new(time),
        }
    }

    pub fn now(&self) -> Timestamp {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn advance(&self, by: Duration) {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        ManualClock::now(self)
    }
}

/// Opens another handle on the same stored data, as another server process would.
type Reopen = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Stores> + Send>> + Send + Sync>;

/// A store for one test, and whatever must live as long as it (a temporary database, a container).
#[derive(Clone)]
pub struct TestStores {
    pub stores: Stores,
    /// Held, never read: dropping it (the last app over the store) releases the store.
    _keep_alive: Option<Arc<dyn Any + Send + Sync>>,
    /// How a second instance or a restarted one gets its own handle (e.g. its own connection
    /// pool); without it, they share this one (the embedded store lives in one process).
    reopen: Option<Reopen>,
}

impl TestStores {
    pub fn new(stores: Stores, keep_alive: impl Any + Send + Sync) -> TestStores {
        TestStores {
            stores,
            _keep_alive: Some(Arc::new(keep_alive)),
            reopen: None,
        }
    }

    /// Lets other instances open their own handle on the same data with `reopen`.
    pub fn reopened_by<F, Fut>(mut self, reopen: F) -> TestStores
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Stores> + Send + 'static,
    {
        self.reopen = Some(Arc::new(move || Box::pin(reopen())));
        self
    }

    /// A handle on the same data for another instance.
    async fn for_another_instance(&self) -> TestStores {
        match &self.reopen {
            Some(reopen) => TestStores {
                stores: reopen().await,
                ..self.clone()
            },
            None => self.clone(),
        }
    }
}

impl From<Stores> for TestStores {
    fn from(stores: Stores) -> Self {
        TestStores {
            stores,
            _keep_alive: None,
            reopen: None,
        }
    }
}

type StoresFuture = Pin<Box<dyn Future<Output = TestStores> + Send>>;

/// Makes a fresh, empty store for each test, and the app over it.
#[derive(Clone)]
pub struct AppFactory {
    make_stores: Arc<dyn Fn() -> StoresFuture + Send + Sync>,
}

impl AppFactory {
    /// Each app gets its own embedded memory store.
    pub fn memory() -> AppFactory {
        AppFactory::new(|| async { Stores::in_memory() })
    }

    /// Each app gets the store `make` gives (e.g. a freshly created and migrated database).
    pub fn new<F, Fut, S>(make: F) -> AppFactory
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = S> + Send + 'static,
        S: Into<TestStores>,
    {
        AppFactory {
            make_stores: Arc::new(move || {
                let stores = make();
                Box::pin(async move { stores.await.into() })
            }),
        }
    }

    /// An app with the suite's default settings.
    pub async fn app(&self) -> TestApp {
        self.app_with(&[]).await
    }

    /// An app with some environment variables set on top of the defaults,
    /// e.g. `[("MAX_TICKETS_PER_USER", "0")]`.
    pub async fn app_with(&self, vars: &[(&str, &str)]) -> TestApp {
        let stores = (self.make_stores)().await;
        TestApp::start(stores, vars).await
    }
}

/// The HTTP app as a test client sees it.
pub type AppClient = TestClient<BoxEndpoint<'static, Response>>;

/// One answer of the app: status, headers and the body as JSON (`Null` when empty, a string
/// when the body is not JSON), and as it came.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn code(&self) -> u16 {
        self.status.as_u16()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The `X-Total-Count` header of a list.
    #[track_caller]
    pub fn total_count(&self) -> u64 {
        let header = self
            .header("x-total-count")
            .unwrap_or_else(|| panic!("no X-Total-Count header: {self:?}"));
        header
            .parse()
            .unwrap_or_else(|_| panic!("X-Total-Count is not a number: {header}"))
    }

    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.code(),
            status,
            "expected {status}, got {}: {}",
            self.code(),
            self.body
        );
        self.body
    }

    /// Asserts the status and the error shape `{"status":"error","code":N,"error":…,"message":…}`,
    /// and returns the body.
    #[track_caller]
    pub fn expect_error(self, status: u16) -> Value {
        assert_error_shape(&self, status);
        self.body
    }

    /// Asserts the status, the error shape and its machine-readable reason; returns the body.
    #[track_caller]
    pub fn expect_reason(self, status: u16, reason: &str) -> Value {
        assert_error_shape(&self, status);
        assert_eq!(self.body["error"], reason, "the reason of {}", self.body);
        self.body
    }
}

/// Every failure has one shape: `{"status":"error","code":<status>,"message":<non-empty>,…}`,
/// sent as JSON.
#[track_caller]
pub fn assert_error_shape(reply: &Reply, status: u16) {
    assert_eq!(
        reply.code(),
        status,
        "expected {status}, got {}: {}",
        reply.code(),
        reply.body
    );
    let body = &reply.body;
    assert_eq!(body["status"], "error", "not the error shape: {body}");
    assert_eq!(
        body["code"],
        json!(status),
        "`code` does not repeat the status: {body}"
    );
    let reason = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("`error` is not a string: {body}"));
    assert!(
        !reason.is_empty() && reason.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "`error` is not a reason in snake_case: {body}"
    );
    let message = body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("`message` is not a string: {body}"));
    assert!(!message.trim().is_empty(), "`message` is empty: {body}");
    // The web app shows the message as it is: plain text, no markup.
    assert!(
        !message.contains('`') && !message.contains("**") && !message.contains('<'),
        "`message` is not plain text: {body}"
    );
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "error sent as {content_type:?}, not JSON: {body}"
    );
}

/// The `details` of a 400 as its list of `"field: problem"` lines.
#[track_caller]
pub fn detail_lines(error: &Value) -> Vec<String> {
    let details = error["details"]
        .as_array()
        .unwrap_or_else(|| panic!("`details` is not a list: {error}"));
    details
        .iter()
        .map(|line| {
            line.as_str()
                .unwrap_or_else(|| panic!("a detail is not a string: {error}"))
                .to_string()
        })
        .collect()
}

/// Asserts that a 400's `details` name a problem with `field` (`"field: problem"`).
#[track_caller]
pub fn assert_field_error(error: &Value, field: &str) {
    let lines = detail_lines(error);
    let prefix = format!("{field}: ");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with(&prefix) && line.len() > prefix.len()),
        "no \"{field}: problem\" in details {lines:?}"
    );
}

/// The `id` of a resource in a response.
pub fn id(value: &Value) -> i64 {
    value["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id in {value}"))
}

/// The `booking_code` of a booking in a response.
pub fn code(booking: &Value) -> String {
    booking["booking_code"]
        .as_str()
        .unwrap_or_else(|| panic!("no booking_code in {booking}"))
        .to_string()
}

/// `BKG-` and five characters of the alphabet without look-alikes (no 0/O, 1/I/L).
pub fn is_booking_code(code: &str) -> bool {
    const ALPHABET: &str = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    code.strip_prefix("BKG-")
        .is_some_and(|rest| rest.chars().count() == 5 && rest.chars().all(|c| ALPHABET.contains(c)))
}

/// The offset the suite's apps run at (`APP_TZ_OFFSET`'s default, WIB).
pub fn venue_offset() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("+07:00 is an offset")
}

/// Reads an RFC 3339 time of a response, insisting that it is written at `offset` (the venue's:
/// a client that prints it as it is shows the venue's wall time).
#[track_caller]
pub fn time_at(value: &Value, offset: FixedOffset) -> Timestamp {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time string: {value}"));
    let time = DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("time {text} is not RFC 3339: {error}"));
    assert_eq!(
        time.offset().local_minus_utc(),
        offset.local_minus_utc(),
        "time {text} is not written at the venue's offset {offset}"
    );
    time.with_timezone(&Utc)
}

/// Reads an RFC 3339 time of a response of an app at the suite's venue offset (+07:00).
#[track_caller]
pub fn venue_time(value: &Value) -> Timestamp {
    time_at(value, venue_offset())
}

/// RFC 3339 in UTC, as a client may send it.
pub fn rfc3339(time: Timestamp) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `YYYY-MM-DD HH:MM:SS` at the venue's offset, as the web app sends times.
pub fn naive_at(time: Timestamp, offset: FixedOffset) -> String {
    time.with_timezone(&offset)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The JSON of one part of a JWT (`0` the header, `1` the claims); the signature is not checked.
#[track_caller]
pub fn jwt_part(token: &str, index: usize) -> Value {
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("{token} is not a JWT"));
    let bytes = base64url_decode(part).unwrap_or_else(|| panic!("{part} is not base64url"));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|error| panic!("JWT part {index} is not JSON: {error}"))
}

/// Unpadded base64url, as JWTs use it.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut held = 0u32;
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    for byte in text.trim_end_matches('=').bytes() {
        let value = ALPHABET.iter().position(|candidate| *candidate == byte)? as u32;
        bits = (bits << 6) | value;
        held += 6;
        if held >= 8 {
            held -= 8;
            bytes.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    Some(bytes)
}

/// A logged-in account.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

/// The app under test, with handles on its clock and store. Cheap to clone; clones share
/// everything (for spawning concurrent requests).
#[derive(Clone)]
pub struct TestApp {
    client: Arc<AppClient>,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    pub services: Arc<Services>,
    stores: TestStores,
    accounts_made: Arc<AtomicU64>,
    /// This app's sender of webhook deliveries, run one round at a time by the tests.
    notifications: Arc<adapters::http::notification_delivery::NotificationDelivery>,
}

fn default_vars() -> BTreeMap<String, String> {
    [
        ("BCRYPT_COST", "4"),
        ("JWT_SECRET", JWT_SECRET),
        ("TICKET_SIGNING_KEY", TICKET_SIGNING_KEY),
        ("ADMIN_EMAIL", ADMIN_EMAIL),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        // The suite signs up, logs in and books far faster than a person, from one address;
        // the abuse limits have tests of their own that set them.
        ("LOGIN_ATTEMPTS_PER_ADDRESS", "0"),
        ("REGISTRATIONS_PER_ADDRESS", "0"),
        ("PROFILE_CHANGES_PER_CUSTOMER", "0"),
        ("PASSWORD_CHANGES_PER_ACCOUNT", "0"),
        ("BOOKING_LOOKUP_FAILURES_PER_CALLER", "0"),
        ("BOOKINGS_PER_CUSTOMER", "0"),
        ("MAX_PASSWORD_CHECKS_IN_FLIGHT", "100000"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect()
}

impl TestApp {
    /// An app over a fresh memory store with the default settings.
    pub async fn memory() -> TestApp {
        TestApp::start(Stores::in_memory(), &[]).await
    }

    /// An app over `stores`, configured by the suite's defaults plus `vars`.
    pub async fn start(stores: impl Into<TestStores>, vars: &[(&str, &str)]) -> TestApp {
        let mut env = default_vars();
        for (name, value) in vars {
            env.insert((*name).to_string(), (*value).to_string());
        }
        let config = Config::from_lookup(|name| env.get(name).cloned())
            .unwrap_or_else(|error| panic!("the test configuration is invalid: {error}"));
        TestApp::assemble(stores.into(), config, Arc::new(ManualClock::starting_now())).await
    }

    /// A second app over the same stored data, settings and clock, as a second server process
    /// behind a load balancer would be (with its own connection pool where the store has one).
    /// Tokens of one work on the other.
    pub async fn second_instance(&self) -> TestApp {
        let stores = self.stores.for_another_instance().await;
        let mut other = TestApp::assemble(stores, self.config.clone(), self.clock.clone()).await;
        other.accounts_made = self.accounts_made.clone();
        other
    }

    /// The server stopped and started again over the same stored data, settings and clock: only
    /// what the store kept survives. Meaningful for stores that outlive a process.
    pub async fn restart(self) -> TestApp {
        let stores = self.stores.for_another_instance().await;
        let (config, clock, accounts_made) = (
            self.config.clone(),
            self.clock.clone(),
            self.accounts_made.clone(),
        );
        drop(self);
        let mut restarted = TestApp::assemble(stores, config, clock).await;
        restarted.accounts_made = accounts_made;
        restarted
    }

    async fn assemble(stores: TestStores, config: Config, clock: Arc<ManualClock>) -> TestApp {
        let secret = config
            .jwt_secret
            .clone()
            .expect("the suite always sets JWT_SECRET");
        let outside = Adapters {
            hasher: Arc::new(password_hasher(&config).expect("a valid bcrypt cost")),
            tokens: Arc::new(JwtTokenService::new(&secret, config.jwt_ttl)),
            clock: clock.clone(),
            tickets: ticket_signer(&config),
        };
        let services = services(&config, &stores.stores, &outside);
        ensure_configured_admin(&config, &services)
            .await
            .unwrap_or_else(|error| panic!("the configured admin could not be set up: {error}"));
        let notifications = notification_delivery(&config, &stores.stores, &outside, &services)
            .unwrap_or_else(|error| panic!("the notifications cannot be sent: {error}"));
        let endpoint = adapters::http::app(services.clone(), &http_settings(&config))
            .map_to_response()
            .boxed();
        TestApp {
            client: Arc::new(TestClient::new(endpoint)),
            clock,
            config,
            services,
            stores,
            accounts_made: Arc::new(AtomicU64::new(0)),
            notifications,
        }
    }

    /// One round of this app's notification deliveries (webhooks, e-mail), as its background
    /// task runs them: sends what is due now; returns how many it sent.
    pub async fn deliver_notifications(&self) -> usize {
        self.notifications
            .deliver_due()
            .await
            .unwrap_or_else(|error| panic!("delivering notifications failed: {error}"))
    }

    /// The store this app runs on.
    pub fn stores(&self) -> &Stores {
        &self.stores.stores
    }

    /// The test client, for requests the helpers do not cover.
    pub fn client(&self) -> &AppClient {
        &self.client
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the app's time forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    // ---- requests -------------------------------------------------------------------------

    /// A JSON request as the web app sends it: `Content-Type: application/json` on every call,
    /// GETs included, the bearer token when there is one, and the `Host` [`TEST_HOST`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, path)
            .header("host", TEST_HOST)
            .content_type("application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        into_reply(request.send().await.0).await
    }

    /// Any request: raw headers and body bytes, no defaults added.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self.client.request(method, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        into_reply(request.body(body).send().await.0).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::DELETE, path, token, None).await
    }

    // ---- accounts -------------------------------------------------------------------------

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/users/login",
            None,
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// A fresh token of the configured admin.
    pub async fn admin_token(&self) -> String {
        let body = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect(200);
        body["token"]
            .as_str()
            .expect("login returns a token")
            .to_string()
    }

    /// The configured admin's id.
    pub async fn admin_id(&self) -> i64 {
        let body = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect(200);
        body["user"]["id"]
            .as_i64()
            .expect("login returns the user's id")
    }

    /// A unique email address for a person called `name`.
    pub fn fresh_email(&self, name: &str) -> String {
        let n = self.accounts_made.fetch_add(1, Ordering::Relaxed);
        let slug: String = name
            .chars()
            .filter_map(|c| {
                if c.is_ascii_alphanumeric() {
                    Some(c.to_ascii_lowercase())
                } else {
                    (c == ' ').then_some('.')
                }
            })
            .collect();
        format!("{slug}.{n}@example.com")
    }

    /// Registers and logs in a new customer called `name`.
    pub async fn account(&self, name: &str) -> Account {
        let email = self.fresh_email(name);
        let registration = json!({ "name": name, "email": email, "password": CUSTOMER_PASSWORD });
        let user = self
            .post("/api/users", None, &registration)
            .await
            .expect(201);
        let login = self.login(&email, CUSTOMER_PASSWORD).await.expect(200);
        Account {
            id: user["id"].as_i64().expect("a user id"),
            name: name.to_string(),
            email,
            password: CUSTOMER_PASSWORD.to_string(),
            token: login["token"].as_str().expect("a token").to_string(),
        }
    }

    /// A new door staff account called `name`: registered, made a `checker` by the admin, then
    /// logged in (a role change ends the sessions before it).
    pub async fn door_staff(&self, name: &str) -> Account {
        let staff = self.account(name).await;
        let admin = self.admin_token().await;
        self.put(
            &format!("/api/users/{}", staff.id),
            Some(&admin),
            &json!({ "role": "checker" }),
        )
        .await
        .expect(200);
        let login = self.login(&staff.email, &staff.password).await.expect(200);
        assert_eq!(login["user"]["role"], "checker");
        Account {
            token: login["token"].as_str().expect("a token").to_string(),
            ..staff
        }
    }

    /// Registers and logs in a new customer: `(id, token)`.
    pub async fn customer(&self, name: &str) -> (i64, String) {
        let account = self.account(name).await;
        (account.id, account.token)
    }

    // ---- events ---------------------------------------------------------------------------

    /// RFC 3339 of the app's now plus `offset`.
    pub fn at(&self, offset: Duration) -> String {
        rfc3339(self.now() + offset)
    }

    /// A price phase on sale from a day ago until 29 days from now.
    pub fn phase(&self, name: &str, price: i64, quota: i64) -> Value {
        json!({
            "name": name,
            "price": price,
            "quota": quota,
            "start_date": self.at(-Duration::days(1)),
            "end_date": self.at(Duration::days(29)),
        })
    }

    /// A show 30 days from now, ten seats a row, with one phase "Regular" of 100 000 rupiah
    /// and 20 tickets (so 20 seats, A1…B10).
    pub fn event_body(&self, name: &str) -> Value {
        json!({
            "name": name,
            "description": "An evening of stand-up comedy.",
            "date": self.at(Duration::days(30)),
            "venue": "Teater Kecil, Jakarta",
            "image_url": "https://example.com/poster.jpg",
            "seats_per_row": 10,
            "phases": [self.phase("Regular", 100_000, 20)],
        })
    }

    /// Creates an event as the admin; asserts 201 and returns it.
    pub async fn create_event(&self, body: &Value) -> Value {
        let token = self.admin_token().await;
        self.post("/api/events", Some(&token), body)
            .await
            .expect(201)
    }

    /// A show of [`TestApp::event_body`] with one phase at `price` and `quota` seats.
    pub async fn event_on_sale(&self, name: &str, price: i64, quota: i64) -> Value {
        let mut body = self.event_body(name);
        body["phases"] = json!([self.phase("Regular", price, quota)]);
        self.create_event(&body).await
    }

    pub async fn event(&self, event_id: i64) -> Value {
        self.get(&format!("/api/events/{event_id}"), None)
            .await
            .expect(200)
    }

    /// The seat map.
    pub async fn seats(&self, event_id: i64) -> Vec<Value> {
        let body = self
            .get(&format!("/api/events/{event_id}/seats"), None)
            .await
            .expect(200);
        body.as_array().expect("the seat map is a list").clone()
    }

    /// The ids of the seats with these labels.
    pub async fn seat_ids(&self, event_id: i64, labels: &[&str]) -> Vec<i64> {
        let seats = self.seats(event_id).await;
        labels
            .iter()
            .map(|label| {
                seats
                    .iter()
                    .find(|seat| seat["label"] == *label)
                    .and_then(|seat| seat["id"].as_i64())
                    .unwrap_or_else(|| panic!("event {event_id} has no seat {label}"))
            })
            .collect()
    }

    /// The status of each seat by label.
    pub async fn seat_statuses(&self, event_id: i64) -> BTreeMap<String, String> {
        self.seats(event_id)
            .await
            .iter()
            .map(|seat| {
                (
                    seat["label"].as_str().expect("a label").to_string(),
                    seat["status"].as_str().expect("a status").to_string(),
                )
            })
            .collect()
    }

    // ---- bookings -------------------------------------------------------------------------

    /// `POST /api/bookings` with these seats and their `quantity`.
    pub async fn book_ids(&self, token: &str, event_id: i64, seat_ids: &[i64]) -> Reply {
        let body =
            json!({ "event_id": event_id, "seat_ids": seat_ids, "quantity": seat_ids.len() });
        self.post("/api/bookings", Some(token), &body).await
    }

    /// Books the seats with these labels; asserts 201 and returns the booking.
    pub async fn book(&self, token: &str, event_id: i64, labels: &[&str]) -> Value {
        let ids = self.seat_ids(event_id, labels).await;
        self.book_ids(token, event_id, &ids).await.expect(201)
    }

    /// Pays the booking's total exactly; asserts 200 and returns the payment.
    pub async fn pay(&self, token: &str, booking: &Value) -> Value {
        let code = booking["booking_code"].as_str().expect("a booking code");
        let body = json!({ "amount": booking["total_price"], "method": PAYMENT_METHOD });
        self.post(&format!("/api/bookings/{code}/pay"), Some(token), &body)
            .await
            .expect(200)
    }

    /// Books and pays; returns the confirmed booking.
    pub async fn paid_booking(&self, token: &str, event_id: i64, labels: &[&str]) -> Value {
        let booking = self.book(token, event_id, labels).await;
        self.pay(token, &booking).await["booking"].clone()
    }

    /// `POST /api/bookings/{code}/cancel` of `booking` as the holder of `token`.
    pub async fn cancel(&self, token: &str, booking: &Value) -> Reply {
        let path = format!("/api/bookings/{}/cancel", code(booking));
        self.post(&path, Some(token), &json!({})).await
    }

    /// `POST /api/bookings/{code}/checkin` of `booking` as the holder of `token`.
    pub async fn check_in(&self, token: &str, booking: &Value) -> Reply {
        let path = format!("/api/bookings/{}/checkin", code(booking));
        self.post(&path, Some(token), &json!({})).await
    }

    /// A booking as the admin reads it.
    pub async fn booking(&self, code: &str) -> Value {
        let token = self.admin_token().await;
        self.get(&format!("/api/bookings/{code}"), Some(&token))
            .await
            .expect(200)
    }

    pub async fn dashboard(&self) -> Value {
        let token = self.admin_token().await;
        self.get("/api/dashboard", Some(&token)).await.expect(200)
    }
}

async fn into_reply(response: Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().into_vec().await.unwrap_or_default();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
        bytes,
    }
}
