//! The document states the rules the server keeps: every length, range, pattern, format, set of
//! values and list size a request body's or parameter's schema gives is refused just past it
//! (400 naming the field), and a text exactly at its length limits is not refused for its length.
//! The rules are read from the document itself, so that a rule added there is checked here.

use serde_json::{json, Value};

use crate::http_harness::{detail_lines, id, AppFactory, Reply, TestApp};

/// The schema a `$ref` names, or the schema itself.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &document["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Values that break one rule of `schema` each, with what they break; `valid` is a value that
/// keeps every rule (lists are broken from it).
fn breaking(schema: &Value, valid: &Value) -> Vec<(String, Value)> {
    let mut broken = Vec::new();
    let number = |keyword: &str| schema[keyword].as_f64().map(|bound| bound as i64);
    if let Some(most) = schema["maxLength"].as_u64() {
        broken.push(("maxLength".into(), json!("a".repeat(most as usize + 1))));
    }
    if let Some(least) = schema["minLength"].as_u64().filter(|least| *least > 0) {
        broken.push(("minLength".into(), json!("a".repeat(least as usize - 1))));
    }
    if schema["pattern"].is_string() {
        broken.push(("pattern".into(), json!("x")));
    }
    if schema["format"] == "email" {
        broken.push(("format".into(), json!("not-an-email")));
    }
    if schema["enum"].is_array() {
        broken.push(("enum".into(), json!("none-of-these")));
    }
    if let Some(most) = number("maximum") {
        broken.push(("maximum".into(), json!(most + 1)));
    }
    if let Some(least) = number("minimum") {
        broken.push(("minimum".into(), json!(least - 1)));
    }
    let first = valid.get(0).cloned().unwrap_or(json!(1));
    if let Some(most) = schema["maxItems"].as_u64() {
        let items: Vec<Value> = (0..=most as i64)
            .map(|n| match first.as_i64() {
                // Distinct numbers, so that only the count is wrong.
                Some(start) => json!(start + n),
                None => first.clone(),
            })
            .collect();
        broken.push(("maxItems".into(), json!(items)));
    }
    if schema["minItems"].as_u64().is_some_and(|least| least > 0) {
        broken.push(("minItems".into(), json!([])));
    }
    if schema["uniqueItems"] == true {
        broken.push(("uniqueItems".into(), json!([first.clone(), first])));
    }
    broken
}

/// Texts exactly at the limits of `schema`'s length, where no other rule shapes the text.
fn at_the_limits(schema: &Value) -> Vec<(String, Value)> {
    if schema["type"] != "string" || schema["pattern"].is_string() || schema["format"].is_string() {
        return Vec::new();
    }
    let mut limits = Vec::new();
    if let Some(most) = schema["maxLength"].as_u64() {
        limits.push(("maxLength".into(), json!("a".repeat(most as usize))));
    }
    if let Some(least) = schema["minLength"].as_u64().filter(|least| *least > 0) {
        limits.push(("minLength".into(), json!("a".repeat(least as usize))));
    }
    limits
}

fn names(reply: &Reply, field: &str) -> bool {
    reply.code() == 400
        && detail_lines(&reply.body)
            .iter()
            .any(|line| line.starts_with(field))
}

/// One operation with a body that keeps every rule.
struct Sent {
    method: poem::http::Method,
    path: String,
    token: Option<String>,
    schema: &'static str,
    body: Value,
}

impl Sent {
    async fn send(&self, app: &TestApp, body: &Value) -> Reply {
        let token = self.token.as_ref().map(|token| format!("Bearer {token}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(token) = &token {
            headers.push(("authorization", token.as_str()));
        }
        app.raw(
            self.method.clone(),
            &self.path,
            &headers,
            serde_json::to_vec(body).unwrap_or_default(),
        )
        .await
    }
}

pub async fn the_document_states_the_limits_the_server_keeps(factory: AppFactory) {
    let app = factory
        .app_with(&[
            ("REGISTRATIONS_PER_ADDRESS", "0"),
            ("PROFILE_CHANGES_PER_CUSTOMER", "0"),
            ("PASSWORD_CHANGES_PER_ACCOUNT", "0"),
            ("BOOKINGS_PER_CUSTOMER", "0"),
        ])
        .await;
    let document = app.get("/openapi.json", None).await.expect(200);
    let schemas = &document["components"]["schemas"];
    let admin = app.admin_token().await;
    let show = app.event_on_sale("Malam Komedi", 100_000, 20).await;
    let seat = app.seat_ids(id(&show), &["A1"]).await[0];
    let (customer_id, customer) = app.customer("Sari Dewi").await;
    let booking = app.book(&customer, id(&show), &["A2"]).await;
    let code = booking["booking_code"].as_str().unwrap_or_default();
    let post = poem::http::Method::POST;
    let put = poem::http::Method::PUT;
    let operations = [
        Sent {
            method: post.clone(),
            path: "/api/users".into(),
            token: None,
            schema: "RegisterRequest",
            body: schemas["RegisterRequest"]["example"].clone(),
        },
        Sent {
            method: put.clone(),
            path: format!("/api/users/{customer_id}"),
            token: Some(admin.clone()),
            schema: "UpdateUserRequest",
            body: json!({ "name": "Sari Dewi" }),
        },
        Sent {
            method: post.clone(),
            path: format!("/api/users/{customer_id}/password"),
            token: Some(customer.clone()),
            schema: "PasswordChangeRequest",
            body: json!({ "old_password": "wrong-but-unchecked", "new_password": "rahasia-baru" }),
        },
        Sent {
            method: post.clone(),
            path: "/api/events".into(),
            token: Some(admin.clone()),
            schema: "CreateEventRequest",
            body: schemas["CreateEventRequest"]["example"].clone(),
        },
        Sent {
            method: put,
            path: format!("/api/events/{}", id(&show)),
            token: Some(admin.clone()),
            schema: "UpdateEventRequest",
            body: json!({ "venue": "Teater Kecil, Jakarta", "phases": show["phases"] }),
        },
        Sent {
            method: post.clone(),
            path: "/api/bookings".into(),
            token: Some(customer.clone()),
            schema: "CreateBookingRequest",
            body: json!({ "event_id": id(&show), "seat_ids": [seat], "quantity": 1 }),
        },
        Sent {
            method: post,
            path: format!("/api/bookings/{code}/pay"),
            token: Some(customer.clone()),
            schema: "PayRequest",
            body: json!({ "amount": booking["total_price"], "method": "Tunai" }),
        },
    ];
    let mut checked = 0;
    for operation in &operations {
        let schema = &schemas[operation.schema];
        assert!(schema.is_object(), "no schema {}", operation.schema);
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            let property = resolve(&document, property);
            let valid = &operation.body[field.as_str()];
            for (rule, value) in breaking(property, valid) {
                let mut body = operation.body.clone();
                body[field.as_str()] = value.clone();
                let reply = operation.send(&app, &body).await;
                // An id of nothing is not found, as the contract says.
                let not_found_id = reply.code() == 404 && field.ends_with("id");
                assert!(
                    names(&reply, field) || not_found_id,
                    "{} {}: {field} = {value} breaks {rule} of the document, and was answered {} {}",
                    operation.method,
                    operation.path,
                    reply.code(),
                    reply.body
                );
                checked += 1;
            }
            for (rule, value) in at_the_limits(property) {
                let mut body = operation.body.clone();
                body[field.as_str()] = value.clone();
                let reply = operation.send(&app, &body).await;
                assert!(
                    !names(&reply, field),
                    "{} {}: {field} = {value} keeps {rule} of the document, and was refused: {}",
                    operation.method,
                    operation.path,
                    reply.body
                );
                checked += 1;
            }
            // The rules of each item of a list of objects (a show's phases).
            let items = resolve(&document, &property["items"]);
            if items["type"] == "object" {
                for (inner, inner_property) in items["properties"].as_object().into_iter().flatten()
                {
                    let path = format!("{field}[0].{inner}");
                    let inner_valid = &valid[0][inner.as_str()];
                    for (rule, value) in breaking(resolve(&document, inner_property), inner_valid) {
                        let mut body = operation.body.clone();
                        body[field.as_str()][0][inner.as_str()] = value.clone();
                        let reply = operation.send(&app, &body).await;
                        // Named by the item's field, or by the list (a new show's phase
                        // carries no id at all).
                        assert!(
                            names(&reply, field),
                            "{} {}: {path} = {value} breaks {rule} of the document, and was answered {} {}",
                            operation.method,
                            operation.path,
                            reply.code(),
                            reply.body
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} rules were found to check");

    let refused = |path: String, field: &'static str, token: Option<String>| {
        let app = &app;
        async move {
            let reply = app.get(&path, token.as_deref()).await;
            assert!(
                names(&reply, field),
                "GET {path} breaks a rule of {field}, and was answered {} {}",
                reply.code(),
                reply.body
            );
        }
    };
    refused("/api/events?page=0".into(), "page", None).await;
    refused("/api/events?per_page=101".into(), "per_page", None).await;
    refused(format!("/api/events?q={}", "a".repeat(256)), "q", None).await;
    refused(
        "/api/audit?action=event_renamed".into(),
        "action",
        Some(admin.clone()),
    )
    .await;
    let at_most = app
        .get(&format!("/api/events?q={}", "a".repeat(255)), None)
        .await;
    assert_eq!(at_most.code(), 200, "{}", at_most.body);
}
