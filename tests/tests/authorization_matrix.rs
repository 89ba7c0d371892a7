//! The authorization matrix: every operation of the OpenAPI document, called by every kind of
//! caller (anonymous, the owner, another customer, door staff, an admin) and with every kind of bad token
//! (expired, signed with another secret, unsigned `alg: none`, a role it does not have, of a
//! deactivated account, issued before a password change, not a token at all), answers the status
//! the contract gives: on a protected operation every bad token is a 401, however much the token
//! claims; a public operation answers as it does to anybody, whatever token comes along (the web
//! app sends its token on every call, and a stale one must not break the event list).
//!
//! The operations are read from the served OpenAPI document, and any operation the matrix does
//! not know fails the test: a new route cannot ship without saying who may call it.
//!
//! Tokens are made here by hand (HS256 with the suite's known secret, SHA-256 and HMAC written
//! out below), not by the server's own code, so that a mistake in that code cannot hide here.

use chrono::Duration;
use poem::http::Method;
use serde_json::{json, Map, Value};

use tests::http_harness::{
    assert_error_shape, code, id, jwt_part, Account, AppFactory, TestApp, CUSTOMER_PASSWORD,
    PAYMENT_METHOD,
};
use tests::pictures::{data_url, tiny_png};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_operation_answers_every_kind_of_caller_on_the_memory_store() {
    every_operation_answers_every_kind_of_caller(AppFactory::memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_operation_answers_every_kind_of_caller_on_postgres() {
    let Some(factory) = tests::postgres_db::app_factory().await else {
        return;
    };
    every_operation_answers_every_kind_of_caller(factory).await;
}

async fn every_operation_answers_every_kind_of_caller(factory: AppFactory) {
    let app = factory.app().await;
    let document = app.get("/openapi.json", None).await.expect(200);
    let rows = matrix();
    check_the_matrix_against_the_document(&rows, &document);

    let admin_token = app.admin_token().await;
    let checker_token = app.door_staff("Petugas Pintu").await.token;
    let mut wrong = Vec::new();
    for row in &rows {
        for caller in Caller::ALL {
            // Fresh resources for every call, so that each starts from the same state (a
            // deactivation or a payment by one caller must not change what the next one meets).
            let fixture = Fixture::new(&app, &admin_token, &checker_token).await;
            let token = caller.token(&app, &fixture).await;
            let path = row.path(&fixture);
            let body = (row.body)(&fixture);
            let expected = row.expected(caller);
            if row.template.ends_with("/stream") {
                // A stream never ends: its status is all there is to check here.
                let mut request = app.client().get(&path);
                if let Some(token) = &token {
                    request = request.header("authorization", format!("Bearer {token}"));
                }
                let status = request.send().await.0.status().as_u16();
                if status != expected {
                    wrong.push(format!(
                        "{} {path} with {}: expected {expected}, got {status}",
                        row.method,
                        caller.describe(),
                    ));
                }
                continue;
            }
            let reply = app
                .request(row.method.clone(), &path, token.as_deref(), body.as_ref())
                .await;
            if reply.code() != expected {
                wrong.push(format!(
                    "{} {path} with {}: expected {expected}, got {} {}",
                    row.method,
                    caller.describe(),
                    reply.code(),
                    reply.body
                ));
            } else if expected >= 400 {
                assert_error_shape(&reply, expected);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the authorization matrix is broken:\n{}",
        wrong.join("\n")
    );
}

// ---- who calls ----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    /// The customer who owns the user account or booking of the path.
    Owner,
    OtherCustomer,
    /// Door staff: an account an admin gave the role `checker`.
    Checker,
    Admin,
    /// The admin's claims, signed here with the server's secret: must be taken as the admin's,
    /// which proves that the hand-made tokens below fail for what is wrong with them alone.
    HandSignedAdmin,
    /// The admin's claims with an `exp` of the server's now: a token is good until the second
    /// of its `exp`, not at it.
    Expired,
    /// The admin's claims signed with a secret that is not the server's.
    OtherSecret,
    /// The admin's claims under `{"alg":"none"}`, with no signature.
    AlgNone,
    /// The owner's claims, signed with the server's secret, but saying `"role":"admin"`.
    ForgedRole,
    /// A genuine token of an admin who was deactivated after it was issued.
    Deactivated,
    /// A genuine token of an admin who changed their password after it was issued.
    PasswordChanged,
    NotAJwt,
}

impl Caller {
    const ALL: [Caller; 13] = [
        Caller::Anonymous,
        Caller::Owner,
        Caller::OtherCustomer,
        Caller::Checker,
        Caller::Admin,
        Caller::HandSignedAdmin,
        Caller::Expired,
        Caller::OtherSecret,
        Caller::AlgNone,
        Caller::ForgedRole,
        Caller::Deactivated,
        Caller::PasswordChanged,
        Caller::NotAJwt,
    ];

    fn describe(self) -> &'static str {
        match self {
            Caller::Anonymous => "no token",
            Caller::Owner => "the owner's token",
            Caller::OtherCustomer => "another customer's token",
            Caller::Checker => "door staff's token",
            Caller::Admin => "the admin's token",
            Caller::HandSignedAdmin => "a hand-signed admin token",
            Caller::Expired => "an expired admin token",
            Caller::OtherSecret => "an admin token signed with another secret",
            Caller::AlgNone => "an unsigned `alg: none` admin token",
            Caller::ForgedRole => "the owner's claims saying role admin",
            Caller::Deactivated => "the token of a since deactivated admin",
            Caller::PasswordChanged => "an admin's token from before their password change",
            Caller::NotAJwt => "a bearer value that is not a JWT",
        }
    }

    /// The bearer token this caller sends, making whatever it needs first.
    async fn token(self, app: &TestApp, fixture: &Fixture) -> Option<String> {
        let secret = app
            .config
            .jwt_secret
            .clone()
            .expect("the suite always sets JWT_SECRET");
        let now = app.now().timestamp();
        let admin_claims = |exp: i64| {
            let mut claims = claims_of(&fixture.admin_token);
            claims.insert("iat".into(), json!(now - 60));
            claims.insert("exp".into(), json!(exp));
            Value::Object(claims)
        };
        let token = match self {
            Caller::Anonymous => return None,
            Caller::Owner => fixture.owner.token.clone(),
            Caller::OtherCustomer => fixture.other.token.clone(),
            Caller::Checker => fixture.checker_token.clone(),
            Caller::Admin => fixture.admin_token.clone(),
            Caller::HandSignedAdmin => hs256(&admin_claims(now + 3600), &secret),
            Caller::Expired => hs256(&admin_claims(now), &secret),
            Caller::OtherSecret => hs256(
                &admin_claims(now + 3600),
                b"not-the-server-secret-but-as-long-as-one",
            ),
            Caller::AlgNone => format!(
                "{}.{}.",
                base64url(br#"{"alg":"none","typ":"JWT"}"#),
                base64url(admin_claims(now + 3600).to_string().as_bytes())
            ),
            Caller::ForgedRole => {
                let mut claims = claims_of(&fixture.owner.token);
                claims.insert("role".into(), json!("admin"));
                hs256(&Value::Object(claims), &secret)
            }
            Caller::Deactivated => {
                let deputy = deputy_admin(app, fixture).await;
                app.delete(
                    &format!("/api/users/{}", deputy.id),
                    Some(&fixture.admin_token),
                )
                .await
                .expect(204);
                deputy.token
            }
            Caller::PasswordChanged => {
                let deputy = deputy_admin(app, fixture).await;
                let change = json!({ "old_password": deputy.password, "new_password": "a-brand-new-pass-1" });
                app.post(
                    &format!("/api/users/{}/password", deputy.id),
                    Some(&deputy.token),
                    &change,
                )
                .await
                .expect(200);
                deputy.token
            }
            Caller::NotAJwt => "not-a-token".to_string(),
        };
        Some(token)
    }
}

/// The claims of a token as a JSON object.
fn claims_of(token: &str) -> Map<String, Value> {
    match jwt_part(token, 1) {
        Value::Object(claims) => claims,
        other => panic!("the claims of {token} are not an object: {other}"),
    }
}

/// A second admin, with a token that is shown to work as an admin's before anything is done to
/// the account: so that its 401 afterwards is the revocation's doing. An admin rather than a
/// customer, so that a revocation that did not happen would show on every operation.
async fn deputy_admin(app: &TestApp, fixture: &Fixture) -> Account {
    let deputy = app.account("Wakil Admin").await;
    app.put(
        &format!("/api/users/{}", deputy.id),
        Some(&fixture.admin_token),
        &json!({ "role": "admin" }),
    )
    .await
    .expect(200);
    let login = app.login(&deputy.email, &deputy.password).await.expect(200);
    let token = login["token"].as_str().expect("a token").to_string();
    app.get("/api/dashboard", Some(&token)).await.expect(200);
    Account { token, ..deputy }
}

// ---- what they call -------------------------------------------------------------------------

/// Resources for one call.
struct Fixture {
    admin_token: String,
    checker_token: String,
    owner: Account,
    other: Account,
    /// On sale, with the owner's pending booking (A1) and paid booking (A2).
    event: i64,
    /// On sale, without bookings (so that it may be deleted).
    empty_event: i64,
    free_seat: i64,
    pending_code: String,
    paid_code: String,
    new_event: Value,
    fresh_email: String,
    /// A webhook endpoint (at a public address nothing is sent to here).
    webhook: i64,
}

impl Fixture {
    async fn new(app: &TestApp, admin_token: &str, checker_token: &str) -> Fixture {
        let owner = app.account("Sari Dewi").await;
        let other = app.account("Budi Santoso").await;
        let create = |name: &str| {
            let body = app.event_body(name);
            async move {
                id(&app
                    .post("/api/events", Some(admin_token), &body)
                    .await
                    .expect(201))
            }
        };
        let event = create("Acara Matriks").await;
        app.put(
            &format!("/api/events/{event}"),
            Some(admin_token),
            &json!({ "image_url": data_url("image/png", &tiny_png()) }),
        )
        .await
        .expect(200);
        let empty_event = create("Acara Kosong").await;
        let pending = app.book(&owner.token, event, &["A1"]).await;
        let paid = app.paid_booking(&owner.token, event, &["A2"]).await;
        let webhook = id(&app
            .post(
                "/api/webhooks",
                Some(admin_token),
                &json!({ "url": "https://hooks.example.com/matrix" }),
            )
            .await
            .expect(201));
        Fixture {
            webhook,
            admin_token: admin_token.to_string(),
            checker_token: checker_token.to_string(),
            free_seat: app.seat_ids(event, &["A5"]).await[0],
            pending_code: code(&pending),
            paid_code: code(&paid),
            new_event: app.event_body("Acara Baru"),
            fresh_email: app.fresh_email("Pendatang Baru"),
            owner,
            other,
            event,
            empty_event,
        }
    }
}

/// Who may call an operation, as the statuses each kind of caller gets.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anybody, with any token or none, gets this status.
    Public(u16),
    /// A bearer token is needed: without a good one, 401; with one, these.
    Protected {
        owner: u16,
        other: u16,
        checker: u16,
        admin: u16,
    },
}

/// For operations on one's own account or booking.
const SELF_OR_ADMIN: Access = Access::Protected {
    owner: 200,
    other: 403,
    checker: 403,
    admin: 200,
};
/// For operations on one's own booking: someone else's is "not found", exactly as an unknown
/// code is, so that codes cannot be probed.
const OWN_BOOKING_OR_ADMIN: Access = Access::Protected {
    owner: 200,
    other: 404,
    checker: 404,
    admin: 200,
};
/// For a pending booking's ticket: the owner and an admin learn it is not paid yet, anyone else
/// that it does not exist.
const NOT_PAID_YET: Access = Access::Protected {
    owner: 409,
    other: 404,
    checker: 404,
    admin: 409,
};
/// For operations only an admin may call; the owner is a customer like any other here.
const fn admin_only(success: u16) -> Access {
    Access::Protected {
        owner: 403,
        other: 403,
        checker: 403,
        admin: success,
    }
}
/// For the door: admins and door staff.
const fn door_staff_or_admin(success: u16) -> Access {
    Access::Protected {
        owner: 403,
        other: 403,
        checker: success,
        admin: success,
    }
}

/// One operation of the document, and the request made to it.
struct Row {
    method: Method,
    /// The path as the document writes it, e.g. `/api/users/{id}`.
    template: &'static str,
    /// The value of each `{name}` of the template.
    params: fn(&Fixture) -> Vec<(&'static str, String)>,
    body: fn(&Fixture) -> Option<Value>,
    access: Access,
}

impl Row {
    fn path(&self, fixture: &Fixture) -> String {
        let mut path = self.template.to_string();
        for (name, value) in (self.params)(fixture) {
            let placeholder = format!("{{{name}}}");
            assert!(
                path.contains(&placeholder),
                "{} has no {placeholder}",
                self.template
            );
            path = path.replace(&placeholder, &value);
        }
        assert!(
            !path.contains('{'),
            "{} {}: a path parameter has no value in the matrix",
            self.method,
            self.template
        );
        path
    }

    fn expected(&self, caller: Caller) -> u16 {
        match self.access {
            Access::Public(status) => status,
            Access::Protected {
                owner,
                other,
                checker,
                admin,
            } => match caller {
                Caller::Owner => owner,
                Caller::OtherCustomer => other,
                Caller::Checker => checker,
                Caller::Admin | Caller::HandSignedAdmin => admin,
                _ => 401,
            },
        }
    }

    /// Every status some caller is expected to get.
    fn statuses(&self) -> Vec<u16> {
        match self.access {
            Access::Public(status) => vec![status],
            Access::Protected {
                owner,
                other,
                checker,
                admin,
            } => vec![401, owner, other, checker, admin],
        }
    }
}

fn no_params(_: &Fixture) -> Vec<(&'static str, String)> {
    Vec::new()
}

fn owner_id(fixture: &Fixture) -> Vec<(&'static str, String)> {
    vec![("id", fixture.owner.id.to_string())]
}

fn event_id(fixture: &Fixture) -> Vec<(&'static str, String)> {
    vec![("id", fixture.event.to_string())]
}

fn pending_code(fixture: &Fixture) -> Vec<(&'static str, String)> {
    vec![("code", fixture.pending_code.clone())]
}

fn no_body(_: &Fixture) -> Option<Value> {
    None
}

fn row(
    method: Method,
    template: &'static str,
    params: fn(&Fixture) -> Vec<(&'static str, String)>,
    body: fn(&Fixture) -> Option<Value>,
    access: Access,
) -> Row {
    Row {
        method,
        template,
        params,
        body,
        access,
    }
}

fn matrix() -> Vec<Row> {
    vec![
        row(
            Method::GET,
            "/health",
            no_params,
            no_body,
            Access::Public(200),
        ),
        row(
            Method::GET,
            "/ready",
            no_params,
            no_body,
            Access::Public(200),
        ),
        row(
            Method::POST,
            "/api/users",
            no_params,
            |f| {
                Some(
                    json!({ "name": "Pendatang Baru", "email": f.fresh_email, "password": CUSTOMER_PASSWORD }),
                )
            },
            Access::Public(201),
        ),
        row(
            Method::POST,
            "/api/users/login",
            no_params,
            |f| Some(json!({ "email": f.owner.email, "password": f.owner.password })),
            Access::Public(200),
        ),
        row(
            Method::GET,
            "/api/users",
            no_params,
            no_body,
            admin_only(200),
        ),
        row(
            Method::GET,
            "/api/users/{id}",
            owner_id,
            no_body,
            SELF_OR_ADMIN,
        ),
        row(
            Method::PUT,
            "/api/users/{id}",
            owner_id,
            |_| Some(json!({ "name": "Nama Baru" })),
            SELF_OR_ADMIN,
        ),
        row(
            Method::DELETE,
            "/api/users/{id}",
            owner_id,
            no_body,
            admin_only(204),
        ),
        row(
            Method::POST,
            "/api/users/{id}/password",
            owner_id,
            |f| Some(json!({ "old_password": f.owner.password, "new_password": "another-pass-1" })),
            SELF_OR_ADMIN,
        ),
        row(
            Method::GET,
            "/api/users/{id}/events",
            owner_id,
            no_body,
            SELF_OR_ADMIN,
        ),
        row(
            Method::GET,
            "/api/users/{id}/bookings",
            owner_id,
            no_body,
            SELF_OR_ADMIN,
        ),
        row(
            Method::GET,
            "/api/events",
            no_params,
            no_body,
            Access::Public(200),
        ),
        row(
            Method::POST,
            "/api/events",
            no_params,
            |f| Some(f.new_event.clone()),
            admin_only(201),
        ),
        row(
            Method::GET,
            "/api/events/{id}",
            event_id,
            no_body,
            Access::Public(200),
        ),
        row(
            Method::PUT,
            "/api/events/{id}",
            event_id,
            |_| Some(json!({ "name": "Nama Baru" })),
            admin_only(200),
        ),
        row(
            Method::DELETE,
            "/api/events/{id}",
            |f| vec![("id", f.empty_event.to_string())],
            no_body,
            admin_only(204),
        ),
        row(
            Method::GET,
            "/api/events/{id}/seats",
            event_id,
            no_body,
            Access::Public(200),
        ),
        row(
            Method::GET,
            "/api/events/{id}/seats/stream",
            event_id,
            no_body,
            Access::Public(200),
        ),
        // Not a real ticket: the door is told so, anyone else that they may not scan.
        row(
            Method::POST,
            "/api/checkin",
            no_params,
            |_| Some(serde_json::json!({ "ticket": "bm90.YS10aWNrZXQ" })),
            door_staff_or_admin(422),
        ),
        row(
            Method::GET,
            "/api/events/{id}/attendees",
            event_id,
            no_body,
            door_staff_or_admin(200),
        ),
        row(
            Method::GET,
            "/api/events/{id}/checkins",
            event_id,
            no_body,
            door_staff_or_admin(200),
        ),
        row(
            Method::GET,
            "/api/tickets/public-key",
            no_params,
            no_body,
            Access::Public(200),
        ),
        row(
            Method::GET,
            "/api/events/{id}/image",
            event_id,
            no_body,
            Access::Public(200),
        ),
        row(
            Method::POST,
            "/api/bookings",
            no_params,
            |f| Some(json!({ "event_id": f.event, "seat_ids": [f.free_seat], "quantity": 1 })),
            // Door staff accounts are for the door only.
            Access::Protected {
                owner: 201,
                other: 201,
                checker: 403,
                admin: 201,
            },
        ),
        row(
            Method::GET,
            "/api/bookings/{code}",
            pending_code,
            no_body,
            OWN_BOOKING_OR_ADMIN,
        ),
        // The fixture's booking is pending: whoever may see it is told it has no ticket yet.
        row(
            Method::GET,
            "/api/bookings/{code}/ticket.png",
            pending_code,
            no_body,
            NOT_PAID_YET,
        ),
        row(
            Method::GET,
            "/api/bookings/{code}/ticket.svg",
            pending_code,
            no_body,
            NOT_PAID_YET,
        ),
        row(
            Method::GET,
            "/api/bookings/{code}/ticket.pdf",
            pending_code,
            no_body,
            NOT_PAID_YET,
        ),
        row(
            Method::POST,
            "/api/bookings/{code}/pay",
            pending_code,
            |_| Some(json!({ "amount": 100_000, "method": PAYMENT_METHOD })),
            OWN_BOOKING_OR_ADMIN,
        ),
        row(
            Method::POST,
            "/api/bookings/{code}/cancel",
            pending_code,
            no_body,
            OWN_BOOKING_OR_ADMIN,
        ),
        row(
            Method::POST,
            "/api/bookings/{code}/checkin",
            |f| vec![("code", f.paid_code.clone())],
            no_body,
            door_staff_or_admin(200),
        ),
        row(
            Method::GET,
            "/api/dashboard",
            no_params,
            no_body,
            admin_only(200),
        ),
        row(
            Method::GET,
            "/api/audit",
            no_params,
            no_body,
            admin_only(200),
        ),
        row(
            Method::POST,
            "/api/webhooks",
            no_params,
            |_| {
                Some(
                    json!({ "url": "https://hooks.example.com/new", "event_types": ["booking.paid"] }),
                )
            },
            admin_only(201),
        ),
        row(
            Method::GET,
            "/api/webhooks",
            no_params,
            no_body,
            admin_only(200),
        ),
        row(
            Method::GET,
            "/api/emails",
            no_params,
            no_body,
            admin_only(200),
        ),
        row(
            Method::DELETE,
            "/api/webhooks/{id}",
            |f| vec![("id", f.webhook.to_string())],
            no_body,
            admin_only(204),
        ),
        row(
            Method::GET,
            "/api/webhooks/{id}/deliveries",
            |f| vec![("id", f.webhook.to_string())],
            no_body,
            admin_only(200),
        ),
    ]
}

// ---- the matrix and the document agree ------------------------------------------------------

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation of the document has a row and every row an operation; protected rows are the
/// operations the document marks as needing the bearer token; every status a row expects is one
/// the document declares for its operation.
fn check_the_matrix_against_the_document(rows: &[Row], document: &Value) {
    let paths = document["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("the OpenAPI document has no paths: {document}"));
    let mut problems = Vec::new();
    let mut documented = Vec::new();
    for (path, item) in paths {
        let item = item
            .as_object()
            .unwrap_or_else(|| panic!("path {path} is not an object"));
        for (method, operation) in item {
            if !HTTP_METHODS.contains(&method.as_str()) {
                continue;
            }
            let method = method.to_uppercase();
            documented.push((method.clone(), path.clone()));
            let Some(row) = rows
                .iter()
                .find(|row| row.method.as_str() == method && row.template == path)
            else {
                problems.push(format!(
                    "{method} {path} is in the OpenAPI document but not in the authorization \
                     matrix: add a row saying what each kind of caller gets"
                ));
                continue;
            };
            let secured = operation["security"]
                .as_array()
                .is_some_and(|schemes| !schemes.is_empty());
            match (row.access, secured) {
                (Access::Public(_), true) => problems.push(format!(
                    "{method} {path}: the matrix says anybody may call it, the document asks for a token"
                )),
                (Access::Protected { .. }, false) => problems.push(format!(
                    "{method} {path}: the matrix says it needs a token, the document does not"
                )),
                _ => {}
            }
            for status in row.statuses() {
                if operation["responses"].get(status.to_string()).is_none() {
                    problems.push(format!(
                        "{method} {path}: answers {status}, which the document does not declare"
                    ));
                }
            }
        }
    }
    for row in rows {
        let method = row.method.as_str().to_string();
        if !documented.contains(&(method.clone(), row.template.to_string())) {
            problems.push(format!(
                "{method} {}: in the matrix but not in the OpenAPI document",
                row.template
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the authorization matrix and the OpenAPI document disagree:\n{}",
        problems.join("\n")
    );
}

// ---- tokens made by hand --------------------------------------------------------------------

/// A compact JWT of `claims` under `{"alg":"HS256","typ":"JWT"}`, signed with `secret`.
fn hs256(claims: &Value, secret: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        base64url(br#"{"alg":"HS256","typ":"JWT"}"#),
        base64url(claims.to_string().as_bytes())
    );
    let signature = hmac_sha256(secret, signing_input.as_bytes());
    format!("{signing_input}.{}", base64url(&signature))
}

/// Unpadded base64url.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |group, (index, byte)| {
            group | u32::from(*byte) << (16 - 8 * index)
        });
        for sextet in 0..=chunk.len() {
            text.push(char::from(
                ALPHABET[(group >> (18 - 6 * sextet) & 63) as usize],
            ));
        }
    }
    text
}

/// HMAC (RFC 2104) over SHA-256.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block
        .iter()
        .map(|byte| byte ^ 0x36)
        .chain(message.iter().copied())
        .collect();
    let outer: Vec<u8> = block
        .iter()
        .map(|byte| byte ^ 0x5c)
        .chain(sha256(&inner))
        .collect();
    sha256(&outer)
}

/// The SHA-256 round constants (FIPS 180-4, 4.2.2).
const ROUND_CONSTANTS: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 (FIPS 180-4).
fn sha256(data: &[u8]) -> [u8; 32] {
    let mut state: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut schedule = [0u32; 64];
        for (word, bytes) in schedule.iter_mut().zip(block.chunks(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for t in 16..64 {
            let (w15, w2) = (schedule[t - 15], schedule[t - 2]);
            let s0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
            let s1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
            schedule[t] = schedule[t - 16]
                .wrapping_add(s0)
                .wrapping_add(schedule[t - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state;
        for (constant, word) in ROUND_CONSTANTS.iter().zip(schedule) {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let choice = (e & f) ^ (!e & g);
            let t1 = h
                .wrapping_add(s1)
                .wrapping_add(choice)
                .wrapping_add(*constant)
                .wrapping_add(word);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let majority = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(majority);
            h = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (word, add) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *word = word.wrapping_add(add);
        }
    }
    let mut digest = [0u8; 32];
    for (bytes, word) in digest.chunks_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn the_hand_made_signing_matches_published_test_vectors() {
    assert_eq!(
        hex(&sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(&sha256(&[b'a'; 1000])),
        "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
    );
    // RFC 4231, test cases 2 (a short key) and 6 (a key longer than a block).
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hex(&hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
    assert_eq!(base64url(b""), "");
    assert_eq!(base64url(b"f"), "Zg");
    assert_eq!(base64url(b"fo"), "Zm8");
    assert_eq!(base64url(b"foo"), "Zm9v");
    assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
}

/// The hand-made signature of a server-issued token's header and claims is the server's own:
/// the matrix's forged tokens differ from genuine ones only where they mean to.
#[tokio::test]
async fn hand_made_signatures_are_the_servers() {
    let app = TestApp::memory().await;
    let token = app.admin_token().await;
    let secret = app.config.jwt_secret.clone().expect("a secret");
    let (signing_input, signature) = token.rsplit_once('.').expect("a JWT");
    assert_eq!(
        base64url(&hmac_sha256(&secret, signing_input.as_bytes())),
        signature
    );
    // And a token made here from scratch is taken: a fresh expiry, so not a replay of that one.
    let mut claims = claims_of(&token);
    claims.insert(
        "exp".into(),
        json!((app.now() + Duration::hours(2)).timestamp()),
    );
    let made = hs256(&Value::Object(claims), &secret);
    assert_ne!(made, token);
    app.get("/api/dashboard", Some(&made)).await.expect(200);
}
