//! `/api/users`: registration, login, profiles, roles, deactivation, passwords and what a user
//! holds.

use chrono::Duration;
use serde_json::{json, Value};

use crate::http_harness::{
    assert_field_error, jwt_part, venue_time, AppFactory, ADMIN_EMAIL, ADMIN_PASSWORD,
    CUSTOMER_PASSWORD,
};

fn registration(name: &str, email: &str) -> Value {
    json!({ "name": name, "email": email, "password": CUSTOMER_PASSWORD })
}

pub async fn register_returns_the_new_customer(factory: AppFactory) {
    let app = factory.app().await;
    let body = json!({
        "name": "Sari Dewi",
        "email": "sari@example.com",
        "password": "rahasia-sekali",
        "nik": "3171234567890001",
        "phone_number": "+6281234567890",
        // A client cannot make itself an admin by asking.
        "role": "admin",
    });
    let before = app.now();
    let reply = app.post("/api/users", None, &body).await;
    let user = reply.expect(201);
    assert!(user["id"].as_i64().is_some_and(|id| id > 0), "{user}");
    assert_eq!(user["name"], "Sari Dewi");
    assert_eq!(user["email"], "sari@example.com");
    assert_eq!(user["role"], "customer");
    assert_eq!(user["nik"], "3171234567890001");
    assert_eq!(user["phone_number"], "+6281234567890");
    assert_eq!(venue_time(&user["created_at"]), before);
    let text = user.to_string().to_lowercase();
    assert!(
        !text.contains("hash") && !text.contains("password") && !text.contains("$2"),
        "leaks a password: {user}"
    );

    let minimal = app
        .post(
            "/api/users",
            None,
            &registration("Budi Santoso", "budi@example.com"),
        )
        .await
        .expect(201);
    assert_eq!(minimal["nik"], Value::Null);
    assert_eq!(minimal["phone_number"], Value::Null);
    assert_ne!(minimal["id"], user["id"]);

    // A form's blank optional fields arrive as empty strings and mean "not given".
    for email in ["blank.one@example.com", "blank.two@example.com"] {
        let blank = json!({ "name": "Tanpa Data", "email": email, "password": CUSTOMER_PASSWORD, "nik": "", "phone_number": "" });
        let created = app.post("/api/users", None, &blank).await.expect(201);
        assert_eq!(
            (&created["nik"], &created["phone_number"]),
            (&Value::Null, &Value::Null)
        );
    }
}

pub async fn register_reports_every_invalid_field(factory: AppFactory) {
    let app = factory.app().await;
    let body = json!({
        "name": "Al",
        "email": "not-an-email",
        "password": "short",
        "nik": "12345",
        "phone_number": "12ab",
    });
    let error = app.post("/api/users", None, &body).await.expect_error(400);
    for field in ["name", "email", "password", "nik", "phone_number"] {
        assert_field_error(&error, field);
    }

    let too_long =
        json!({ "name": "Sari Dewi", "email": "sari@example.com", "password": "x".repeat(73) });
    let error = app
        .post("/api/users", None, &too_long)
        .await
        .expect_error(400);
    assert_field_error(&error, "password");
    let long_name = json!({ "name": "n".repeat(101), "email": "sari@example.com", "password": CUSTOMER_PASSWORD });
    assert_field_error(
        &app.post("/api/users", None, &long_name)
            .await
            .expect_error(400),
        "name",
    );
    // 19 characters but 76 bytes: bcrypt would ignore the last four.
    let wide = json!({ "name": "Sari Dewi", "email": "sari@example.com", "password": "\u{1F600}".repeat(19) });
    assert_field_error(
        &app.post("/api/users", None, &wide).await.expect_error(400),
        "password",
    );
    let phone = json!({ "name": "Sari Dewi", "email": "sari@example.com", "password": CUSTOMER_PASSWORD, "phone_number": "123456789" });
    assert_field_error(
        &app.post("/api/users", None, &phone).await.expect_error(400),
        "phone_number",
    );

    // Nothing was created: the address is still free.
    app.post(
        "/api/users",
        None,
        &registration("Sari Dewi", "sari@example.com"),
    )
    .await
    .expect(201);
}

pub async fn register_refuses_a_taken_email_whatever_its_case(factory: AppFactory) {
    let app = factory.app().await;
    app.post(
        "/api/users",
        None,
        &registration("Sari Dewi", "sari@example.com"),
    )
    .await
    .expect(201);
    app.post(
        "/api/users",
        None,
        &registration("Sari Lain", "SARI@Example.COM"),
    )
    .await
    .expect_error(409);
    app.post(
        "/api/users",
        None,
        &registration("Admin Palsu", &ADMIN_EMAIL.to_uppercase()),
    )
    .await
    .expect_error(409);

    // Whatever case it was registered in, the address logs in in any case.
    let mixed = registration("Budi Santoso", "Budi.Santoso@Example.COM");
    app.post("/api/users", None, &mixed).await.expect(201);
    app.login("budi.santoso@example.com", CUSTOMER_PASSWORD)
        .await
        .expect(200);
    app.login("BUDI.SANTOSO@EXAMPLE.COM", CUSTOMER_PASSWORD)
        .await
        .expect(200);
}

pub async fn register_refuses_a_taken_nik(factory: AppFactory) {
    let app = factory.app().await;
    let mut first = registration("Sari Dewi", "sari@example.com");
    first["nik"] = json!("3171234567890001");
    app.post("/api/users", None, &first).await.expect(201);
    let mut second = registration("Budi Santoso", "budi@example.com");
    second["nik"] = json!("3171234567890001");
    app.post("/api/users", None, &second)
        .await
        .expect_error(409);
    second["nik"] = json!("3171234567890002");
    app.post("/api/users", None, &second).await.expect(201);
}

pub async fn login_returns_a_bearer_token_and_the_user(factory: AppFactory) {
    let app = factory.app().await;
    let mut body = registration("Sari Dewi", "sari@example.com");
    body["nik"] = json!("3171234567890001");
    body["phone_number"] = json!("081234567890");
    let user = app.post("/api/users", None, &body).await.expect(201);

    let login = app
        .login("Sari@Example.com", CUSTOMER_PASSWORD)
        .await
        .expect(200);
    assert!(
        login["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{login}"
    );
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["expires_in"], json!(app.config.jwt_ttl.num_seconds()));
    let token = login["token"].as_str().expect("a token");
    assert!(!token.is_empty());
    let shown = &login["user"];
    assert_eq!(shown["id"], user["id"]);
    assert_eq!(shown["name"], "Sari Dewi");
    assert_eq!(shown["email"], "sari@example.com");
    assert_eq!(shown["role"], "customer");
    assert_eq!(shown["nik"], "3171234567890001");
    assert_eq!(shown["phone_number"], "081234567890");
    assert!(!shown.to_string().to_lowercase().contains("password"));

    let id = user["id"].as_i64().expect("an id");
    // HS256, `sub` = the user id, `role`, `exp`.
    assert_eq!(jwt_part(token, 0)["alg"], "HS256");
    let claims = jwt_part(token, 1);
    let sub = match &claims["sub"] {
        Value::String(text) => text.parse::<i64>().ok(),
        other => other.as_i64(),
    };
    assert_eq!(sub, Some(id), "sub is the user id: {claims}");
    assert_eq!(claims["role"], "customer");
    assert_eq!(
        claims["exp"],
        json!((app.now() + app.config.jwt_ttl).timestamp())
    );
    let profile = app
        .get(&format!("/api/users/{id}"), Some(token))
        .await
        .expect(200);
    assert_eq!(profile["email"], "sari@example.com");

    let admin = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect(200);
    assert_eq!(
        admin["user"]["role"], "admin",
        "the web app opens admin pages only for exactly \"admin\""
    );
}

pub async fn login_failures_are_indistinguishable(factory: AppFactory) {
    let app = factory.app().await;
    app.post(
        "/api/users",
        None,
        &registration("Sari Dewi", "sari@example.com"),
    )
    .await
    .expect(201);
    let wrong_password = app
        .login("sari@example.com", "not-the-password")
        .await
        .expect_error(401);
    let unknown_email = app
        .login("nobody@example.com", CUSTOMER_PASSWORD)
        .await
        .expect_error(401);
    let malformed_email = app
        .login("nobody", CUSTOMER_PASSWORD)
        .await
        .expect_error(401);
    assert_eq!(
        wrong_password, unknown_email,
        "a wrong password and an unknown email must look the same"
    );
    assert_eq!(wrong_password, malformed_email);
}

pub async fn listing_users_is_for_admins_and_paged(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (_, customer) = app.customer("Sari Dewi").await;
    app.customer("Budi Santoso").await;

    let reply = app.get("/api/users", Some(&admin)).await;
    assert_eq!(reply.total_count(), 3);
    let users = reply.expect(200);
    let users = users.as_array().expect("a list");
    assert_eq!(users.len(), 3);
    assert!(users
        .iter()
        .any(|user| user["email"] == ADMIN_EMAIL && user["role"] == "admin"));
    assert!(users
        .iter()
        .all(|user| !user.to_string().to_lowercase().contains("password")));

    let reply = app.get("/api/users?page=2&per_page=2", Some(&admin)).await;
    assert_eq!(reply.total_count(), 3);
    assert_eq!(reply.expect(200).as_array().map(Vec::len), Some(1));

    let error = app
        .get("/api/users?per_page=101", Some(&admin))
        .await
        .expect_error(400);
    assert_field_error(&error, "per_page");
    app.get("/api/users?per_page=100", Some(&admin))
        .await
        .expect(200);

    app.get("/api/users", Some(&customer))
        .await
        .expect_error(403);
    app.get("/api/users", None).await.expect_error(401);
}

pub async fn profiles_are_for_their_owner_and_admins(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (sari, sari_token) = app.customer("Sari Dewi").await;
    let (budi, budi_token) = app.customer("Budi Santoso").await;

    let own = app
        .get(&format!("/api/users/{sari}"), Some(&sari_token))
        .await
        .expect(200);
    assert_eq!(own["id"], json!(sari));
    app.get(&format!("/api/users/{budi}"), Some(&sari_token))
        .await
        .expect_error(403);
    let seen = app
        .get(&format!("/api/users/{budi}"), Some(&admin))
        .await
        .expect(200);
    assert_eq!(seen["name"], "Budi Santoso");
    app.get("/api/users/999999", Some(&admin))
        .await
        .expect_error(404);

    // The web app's profile page sends name and phone number.
    let edit = json!({ "name": "Sari Dewi Lestari", "phone_number": "081298765432" });
    let updated = app
        .put(&format!("/api/users/{sari}"), Some(&sari_token), &edit)
        .await
        .expect(200);
    assert_eq!(updated["name"], "Sari Dewi Lestari");
    assert_eq!(updated["phone_number"], "081298765432");
    let reread = app
        .get(&format!("/api/users/{sari}"), Some(&sari_token))
        .await
        .expect(200);
    assert_eq!(reread["name"], "Sari Dewi Lestari");
    assert_eq!(reread["phone_number"], "081298765432");

    app.put(
        &format!("/api/users/{budi}"),
        Some(&sari_token),
        &json!({ "name": "Budi Diubah" }),
    )
    .await
    .expect_error(403);
    let by_admin = app
        .put(
            &format!("/api/users/{budi}"),
            Some(&admin),
            &json!({ "name": "Budi Baru" }),
        )
        .await
        .expect(200);
    assert_eq!(by_admin["name"], "Budi Baru");
    app.put(
        "/api/users/999999",
        Some(&admin),
        &json!({ "name": "Siapa Saja" }),
    )
    .await
    .expect_error(404);
    let error = app
        .put(
            &format!("/api/users/{sari}"),
            Some(&sari_token),
            &json!({ "name": "S" }),
        )
        .await
        .expect_error(400);
    assert_field_error(&error, "name");
    let budi_email = seen["email"].as_str().expect("an email").to_uppercase();
    let taken = json!({ "email": budi_email });
    app.put(&format!("/api/users/{sari}"), Some(&sari_token), &taken)
        .await
        .expect_error(409);
    let with_nik = json!({ "nik": "3171234567890001" });
    app.put(&format!("/api/users/{budi}"), Some(&budi_token), &with_nik)
        .await
        .expect(200);
    app.put(&format!("/api/users/{sari}"), Some(&sari_token), &with_nik)
        .await
        .expect_error(409);
    let cleared = app
        .put(
            &format!("/api/users/{budi}"),
            Some(&budi_token),
            &json!({ "nik": null }),
        )
        .await
        .expect(200);
    assert_eq!(cleared["nik"], Value::Null, "null clears the NIK");
    app.put(&format!("/api/users/{sari}"), Some(&sari_token), &with_nik)
        .await
        .expect(200);

    // Budi's token still works: editing a name revokes nothing.
    app.get(&format!("/api/users/{budi}"), Some(&budi_token))
        .await
        .expect(200);
}

pub async fn customers_cannot_change_their_role(factory: AppFactory) {
    let app = factory.app().await;
    let (id, token) = app.customer("Sari Dewi").await;
    app.put(
        &format!("/api/users/{id}"),
        Some(&token),
        &json!({ "role": "admin" }),
    )
    .await
    .expect_error(403);
    let profile = app
        .get(&format!("/api/users/{id}"), Some(&token))
        .await
        .expect(200);
    assert_eq!(profile["role"], "customer");
    app.get("/api/dashboard", Some(&token))
        .await
        .expect_error(403);
}

pub async fn promotion_makes_an_admin_and_revokes_old_tokens(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let sari = app.account("Sari Dewi").await;

    let promoted = app
        .put(
            &format!("/api/users/{}", sari.id),
            Some(&admin),
            &json!({ "role": "admin" }),
        )
        .await
        .expect(200);
    assert_eq!(promoted["role"], "admin");
    app.get(&format!("/api/users/{}", sari.id), Some(&sari.token))
        .await
        .expect_error(401);

    let login = app.login(&sari.email, &sari.password).await.expect(200);
    assert_eq!(login["user"]["role"], "admin");
    let token = login["token"].as_str().expect("a token");
    app.get("/api/dashboard", Some(token)).await.expect(200);
    app.get("/api/users", Some(token)).await.expect(200);

    let bad_role = app
        .put(
            &format!("/api/users/{}", sari.id),
            Some(&admin),
            &json!({ "role": "superuser" }),
        )
        .await;
    assert_field_error(&bad_role.expect_error(400), "role");
}

pub async fn the_last_admin_stays_an_admin(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let admin_id = app.admin_id().await;

    app.put(
        &format!("/api/users/{admin_id}"),
        Some(&admin),
        &json!({ "role": "customer" }),
    )
    .await
    .expect_error(409);
    app.delete(&format!("/api/users/{admin_id}"), Some(&admin))
        .await
        .expect_error(409);
    app.get("/api/dashboard", Some(&admin)).await.expect(200);

    // With a second admin, the first may step down.
    let sari = app.account("Sari Dewi").await;
    app.put(
        &format!("/api/users/{}", sari.id),
        Some(&admin),
        &json!({ "role": "admin" }),
    )
    .await
    .expect(200);
    let demoted = app
        .put(
            &format!("/api/users/{admin_id}"),
            Some(&admin),
            &json!({ "role": "customer" }),
        )
        .await
        .expect(200);
    assert_eq!(demoted["role"], "customer");
    let sari_admin = app.login(&sari.email, &sari.password).await.expect(200)["token"]
        .as_str()
        .expect("a token")
        .to_string();
    app.delete(&format!("/api/users/{}", sari.id), Some(&sari_admin))
        .await
        .expect_error(409);
}

pub async fn deactivation_ends_access_but_keeps_bookings(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let sari = app.account("Sari Dewi").await;
    let event = app.event_on_sale("Stand-up Night", 100_000, 20).await;
    let booking = app
        .paid_booking(&sari.token, event["id"].as_i64().expect("an id"), &["A1"])
        .await;

    let reply = app
        .delete(&format!("/api/users/{}", sari.id), Some(&admin))
        .await;
    assert_eq!(reply.code(), 204, "{}", reply.body);
    assert_eq!(reply.body, Value::Null, "a 204 has no body");

    app.get(&format!("/api/users/{}", sari.id), Some(&sari.token))
        .await
        .expect_error(401);
    // The right password answers exactly as a wrong one does, so that it cannot be confirmed.
    let right = app
        .login(&sari.email, &sari.password)
        .await
        .expect_error(401);
    let wrong = app
        .login(&sari.email, "not-her-password")
        .await
        .expect_error(401);
    assert_eq!(
        right, wrong,
        "a deactivated account's password was confirmed"
    );

    let code = booking["booking_code"].as_str().expect("a code");
    let kept = app
        .get(&format!("/api/bookings/{code}"), Some(&admin))
        .await
        .expect(200);
    assert_eq!(kept["status"], "confirmed");
    app.delete("/api/users/999999", Some(&admin))
        .await
        .expect_error(404);
}

pub async fn password_change_checks_the_old_one_and_revokes_tokens(factory: AppFactory) {
    let app = factory.app().await;
    let sari = app.account("Sari Dewi").await;
    let path = format!("/api/users/{}/password", sari.id);

    let wrong = json!({ "old_password": "not-the-password", "new_password": "a-new-password" });
    let error = app
        .post(&path, Some(&sari.token), &wrong)
        .await
        .expect_error(400);
    assert_field_error(&error, "old_password");
    let short = json!({ "old_password": sari.password, "new_password": "short" });
    assert_field_error(
        &app.post(&path, Some(&sari.token), &short)
            .await
            .expect_error(400),
        "new_password",
    );
    let without_old = json!({ "new_password": "a-new-password" });
    app.post(&path, Some(&sari.token), &without_old)
        .await
        .expect_error(400);
    // None of that logged the web app out.
    app.get(&format!("/api/users/{}", sari.id), Some(&sari.token))
        .await
        .expect(200);

    let change = json!({ "old_password": sari.password, "new_password": "a-new-password" });
    let done = app
        .post(&path, Some(&sari.token), &change)
        .await
        .expect(200);
    assert!(
        done["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{done}"
    );

    app.get(&format!("/api/users/{}", sari.id), Some(&sari.token))
        .await
        .expect_error(401);
    app.login(&sari.email, &sari.password)
        .await
        .expect_error(401);
    let login = app.login(&sari.email, "a-new-password").await.expect(200);
    let token = login["token"].as_str().expect("a token");
    app.get(&format!("/api/users/{}", sari.id), Some(token))
        .await
        .expect(200);
}

pub async fn admins_reset_passwords_without_the_old_one(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let sari = app.account("Sari Dewi").await;
    let budi = app.account("Budi Santoso").await;

    let reset = json!({ "new_password": "reset-by-admin" });
    app.post(
        &format!("/api/users/{}/password", budi.id),
        Some(&sari.token),
        &reset,
    )
    .await
    .expect_error(403);
    app.post(
        &format!("/api/users/{}/password", sari.id),
        Some(&admin),
        &reset,
    )
    .await
    .expect(200);
    app.get(&format!("/api/users/{}", sari.id), Some(&sari.token))
        .await
        .expect_error(401);
    app.login(&sari.email, "reset-by-admin").await.expect(200);
    app.login(&budi.email, &budi.password).await.expect(200);
    app.post("/api/users/999999/password", Some(&admin), &reset)
        .await
        .expect_error(404);
}

pub async fn user_events_are_those_with_tickets_not_organised(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let admin_id = app.admin_id().await;
    let (sari, token) = app.customer("Sari Dewi").await;
    let (_, budi_token) = app.customer("Budi Santoso").await;

    let mut ids = Vec::new();
    for (name, days) in [("Show Satu", 40), ("Show Dua", 20), ("Show Tiga", 30)] {
        let mut body = app.event_body(name);
        body["date"] = json!(app.at(Duration::days(days)));
        body["phases"][0]["end_date"] = json!(app.at(Duration::days(days - 1)));
        ids.push(app.create_event(&body).await["id"].as_i64().expect("an id"));
    }
    let pending = app.book(&token, ids[0], &["A1"]).await;
    app.paid_booking(&token, ids[1], &["A1", "A2"]).await;
    app.book(&budi_token, ids[2], &["A1"]).await;

    let path = format!("/api/users/{sari}/events");
    let reply = app.get(&path, Some(&token)).await;
    assert_eq!(reply.total_count(), 2);
    let events = reply.expect(200);
    let names: Vec<&str> = events
        .as_array()
        .expect("a list")
        .iter()
        .map(|event| event["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        ["Show Dua", "Show Satu"],
        "the events Sari holds tickets for, by date"
    );
    let seen_by_admin = app.get(&path, Some(&admin)).await.expect(200);
    assert_eq!(seen_by_admin, events);

    let organiser = app
        .get(&format!("/api/users/{admin_id}/events"), Some(&admin))
        .await
        .expect(200);
    assert_eq!(
        organiser,
        json!([]),
        "the admin organised every show but holds no tickets"
    );
    app.get(&path, Some(&budi_token)).await.expect_error(403);

    let code = pending["booking_code"].as_str().expect("a code");
    app.post(
        &format!("/api/bookings/{code}/cancel"),
        Some(&token),
        &json!({}),
    )
    .await
    .expect(200);
    let after = app.get(&path, Some(&token)).await.expect(200);
    let names: Vec<&str> = after
        .as_array()
        .expect("a list")
        .iter()
        .map(|event| event["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["Show Dua"], "a cancelled booking holds no tickets");
}

pub async fn booking_history_is_newest_first_with_its_event(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let (sari, token) = app.customer("Sari Dewi").await;
    let (_, budi_token) = app.customer("Budi Santoso").await;
    let first = app.event_on_sale("Show Pertama", 100_000, 20).await;
    let mut body = app.event_body("Show Kedua");
    body["venue"] = json!("Gedung Kesenian");
    body["image_url"] = json!("https://example.com/kedua.png");
    let second = app.create_event(&body).await;
    let first_id = first["id"].as_i64().expect("an id");
    let second_id = second["id"].as_i64().expect("an id");

    let oldest = app.book(&token, first_id, &["A1"]).await;
    app.advance(Duration::minutes(1));
    let middle = app.paid_booking(&token, second_id, &["B1", "B2"]).await;
    app.advance(Duration::minutes(1));
    let newest = app.book(&token, first_id, &["A2"]).await;
    app.book(&budi_token, first_id, &["A3"]).await;

    let path = format!("/api/users/{sari}/bookings");
    let reply = app.get(&path, Some(&token)).await;
    assert_eq!(reply.total_count(), 3);
    let history = reply.expect(200);
    let history = history.as_array().expect("a list");
    let codes: Vec<&Value> = history
        .iter()
        .map(|booking| &booking["booking_code"])
        .collect();
    assert_eq!(
        codes,
        [
            &newest["booking_code"],
            &middle["booking_code"],
            &oldest["booking_code"]
        ]
    );

    let shown = &history[1];
    assert_eq!(shown["status"], "confirmed");
    assert_eq!(shown["total_price"], json!(200_000));
    assert_eq!(
        venue_time(&shown["created_at"]),
        venue_time(&middle["created_at"])
    );
    assert_eq!(shown["event"]["name"], "Show Kedua");
    assert_eq!(shown["event"]["venue"], "Gedung Kesenian");
    assert_eq!(shown["event"]["image_url"], "https://example.com/kedua.png");
    assert_eq!(
        venue_time(&shown["event"]["date"]),
        venue_time(&second["date"])
    );
    assert_eq!(shown["seat_labels"], json!(["B1", "B2"]));

    let paged = app
        .get(&format!("{path}?per_page=1&page=3"), Some(&token))
        .await;
    assert_eq!(paged.total_count(), 3);
    let paged = paged.expect(200);
    assert_eq!(paged.as_array().map(Vec::len), Some(1));
    assert_eq!(paged[0]["booking_code"], oldest["booking_code"]);

    app.get(&path, Some(&admin)).await.expect(200);
    app.get(&path, Some(&budi_token)).await.expect_error(403);
}
