//! Who may call what: every route of the contract against an anonymous caller, the customer
//! who owns the resource, another customer, and an admin.

use poem::http::Method;
use serde_json::{json, Value};

use crate::http_harness::{
    assert_error_shape, Account, AppFactory, TestApp, CUSTOMER_PASSWORD, PAYMENT_METHOD,
};
use crate::pictures::{data_url, tiny_png};

/// Fresh resources for one call, so that every call of the matrix starts from the same state.
struct Fixture {
    owner: Account,
    other: Account,
    event: i64,
    empty_event: i64,
    free_seat: i64,
    pending_code: String,
    paid_code: String,
    new_event: Value,
    fresh_email: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let owner = app.account("Sari Dewi").await;
    let other = app.account("Budi Santoso").await;
    let mut body = app.event_body("Acara Matriks");
    body["image_url"] = json!(data_url("image/png", &tiny_png()));
    let event = app.create_event(&body).await;
    let event = event["id"].as_i64().expect("an id");
    let empty_event = app.event_on_sale("Acara Kosong", 100_000, 20).await["id"]
        .as_i64()
        .expect("an id");
    let pending = app.book(&owner.token, event, &["A1"]).await;
    let paid = app.paid_booking(&owner.token, event, &["A2"]).await;
    Fixture {
        free_seat: app.seat_ids(event, &["A5"]).await[0],
        pending_code: pending["booking_code"]
            .as_str()
            .expect("a code")
            .to_string(),
        paid_code: paid["booking_code"].as_str().expect("a code").to_string(),
        new_event: app.event_body("Acara Baru"),
        fresh_email: app.fresh_email("Pendatang Baru"),
        owner,
        other,
        event,
        empty_event,
    }
}

/// A route, the request made to it, and the status expected from
/// `[anonymous, owner, other customer, admin]`.
struct Row {
    method: Method,
    path: fn(&Fixture) -> String,
    body: fn(&Fixture) -> Option<Value>,
    expected: [u16; 4],
}

const CALLERS: [&str; 4] = ["anonymous", "owner", "other customer", "admin"];

fn row(
    method: Method,
    path: fn(&Fixture) -> String,
    body: fn(&Fixture) -> Option<Value>,
    expected: [u16; 4],
) -> Row {
    Row {
        method,
        path,
        body,
        expected,
    }
}

fn no_body(_: &Fixture) -> Option<Value> {
    None
}

fn matrix() -> Vec<Row> {
    const ANYONE: [u16; 4] = [200, 200, 200, 200];
    const SELF_OR_ADMIN: [u16; 4] = [401, 200, 403, 200];
    const ADMIN: [u16; 4] = [401, 403, 403, 200];
    // Someone else's booking is "not found", exactly as an unknown code is.
    const OWN_BOOKING_OR_ADMIN: [u16; 4] = [401, 200, 404, 200];
    vec![
        row(
            Method::POST,
            |_| "/api/users".into(),
            |f| {
                Some(
                    json!({ "name": "Pendatang Baru", "email": f.fresh_email, "password": CUSTOMER_PASSWORD }),
                )
            },
            [201, 201, 201, 201],
        ),
        row(
            Method::POST,
            |_| "/api/users/login".into(),
            |f| Some(json!({ "email": f.owner.email, "password": f.owner.password })),
            ANYONE,
        ),
        row(Method::GET, |_| "/api/users".into(), no_body, ADMIN),
        row(
            Method::GET,
            |f| format!("/api/users/{}", f.owner.id),
            no_body,
            SELF_OR_ADMIN,
        ),
        row(
            Method::PUT,
            |f| format!("/api/users/{}", f.owner.id),
            |_| Some(json!({ "name": "Nama Baru" })),
            SELF_OR_ADMIN,
        ),
        row(
            Method::DELETE,
            |f| format!("/api/users/{}", f.owner.id),
            no_body,
            [401, 403, 403, 204],
        ),
        row(
            Method::POST,
            |f| format!("/api/users/{}/password", f.owner.id),
            |f| Some(json!({ "old_password": f.owner.password, "new_password": "another-pass-1" })),
            SELF_OR_ADMIN,
        ),
        row(
            Method::GET,
            |f| format!("/api/users/{}/events", f.owner.id),
            no_body,
            SELF_OR_ADMIN,
        ),
        row(
            Method::GET,
            |f| format!("/api/users/{}/bookings", f.owner.id),
            no_body,
            SELF_OR_ADMIN,
        ),
        row(Method::GET, |_| "/api/events".into(), no_body, ANYONE),
        row(
            Method::POST,
            |_| "/api/events".into(),
            |f| Some(f.new_event.clone()),
            [401, 403, 403, 201],
        ),
        row(
            Method::GET,
            |f| format!("/api/events/{}", f.event),
            no_body,
            ANYONE,
        ),
        row(
            Method::PUT,
            |f| format!("/api/events/{}", f.event),
            |_| Some(json!({ "name": "Nama Baru" })),
            ADMIN,
        ),
        row(
            Method::DELETE,
            |f| format!("/api/events/{}", f.empty_event),
            no_body,
            [401, 403, 403, 204],
        ),
        row(
            Method::GET,
            |f| format!("/api/events/{}/seats", f.event),
            no_body,
            ANYONE,
        ),
        row(
            Method::GET,
            |f| format!("/api/events/{}/image", f.event),
            no_body,
            ANYONE,
        ),
        row(
            Method::POST,
            |_| "/api/bookings".into(),
            |f| Some(json!({ "event_id": f.event, "seat_ids": [f.free_seat], "quantity": 1 })),
            [401, 201, 201, 201],
        ),
        row(
            Method::GET,
            |f| format!("/api/bookings/{}", f.pending_code),
            no_body,
            OWN_BOOKING_OR_ADMIN,
        ),
        row(
            Method::POST,
            |f| format!("/api/bookings/{}/pay", f.pending_code),
            |_| Some(json!({ "amount": 100_000, "method": PAYMENT_METHOD })),
            OWN_BOOKING_OR_ADMIN,
        ),
        row(
            Method::POST,
            |f| format!("/api/bookings/{}/cancel", f.pending_code),
            |_| Some(json!({})),
            OWN_BOOKING_OR_ADMIN,
        ),
        row(
            Method::POST,
            |f| format!("/api/bookings/{}/checkin", f.paid_code),
            |_| Some(json!({})),
            ADMIN,
        ),
        row(Method::GET, |_| "/api/dashboard".into(), no_body, ADMIN),
        row(Method::GET, |_| "/api/audit".into(), no_body, ADMIN),
        row(Method::GET, |_| "/health".into(), no_body, ANYONE),
        row(Method::GET, |_| "/ready".into(), no_body, ANYONE),
        row(Method::GET, |_| "/openapi.json".into(), no_body, ANYONE),
    ]
}

pub async fn every_route_answers_each_kind_of_caller_as_the_contract_says(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let mut wrong = Vec::new();
    for row in matrix() {
        for (caller, expected) in CALLERS.iter().zip(row.expected) {
            let fixture = fixture(&app).await;
            let token = match *caller {
                "anonymous" => None,
                "owner" => Some(fixture.owner.token.as_str()),
                "other customer" => Some(fixture.other.token.as_str()),
                _ => Some(admin.as_str()),
            };
            let path = (row.path)(&fixture);
            let body = (row.body)(&fixture);
            let reply = app
                .request(row.method.clone(), &path, token, body.as_ref())
                .await;
            if reply.code() != expected {
                wrong.push(format!(
                    "{} {path} as {caller}: expected {expected}, got {} {}",
                    row.method,
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
