//! `/api/audit`: who checked a guest in, changed a role, deactivated an account, reset a
//! password, cancelled or deleted an event, and when; newest first, paged, filtered, for admins.

use chrono::Duration;
use serde_json::{json, Value};

use crate::http_harness::{
    assert_field_error, code, id, venue_time, AppFactory, TestApp, ADMIN_EMAIL,
};

const ACTIONS: [&str; 6] = [
    "booking_checked_in",
    "user_role_changed",
    "user_deactivated",
    "user_password_reset",
    "event_cancelled",
    "event_deleted",
];

/// The whole trail as the admin reads it, newest first, with its `X-Total-Count`.
async fn trail(app: &TestApp, query: &str) -> (Vec<Value>, u64) {
    let admin = app.admin_token().await;
    let reply = app.get(&format!("/api/audit{query}"), Some(&admin)).await;
    let total = reply.total_count();
    let entries = reply.expect(200);
    let entries = entries
        .as_array()
        .unwrap_or_else(|| panic!("the trail is not a list: {entries}"))
        .clone();
    (entries, total)
}

/// What an entry says, minus its id and the actor's name and email:
/// `[occurred_at, actor id, action, target_type, target_id, details]`.
fn said(entry: &Value) -> Value {
    json!([
        venue_time(&entry["occurred_at"]).timestamp(),
        entry["actor"]["id"],
        entry["action"],
        entry["target_type"],
        entry["target_id"],
        entry["details"],
    ])
}

/// Promotes a customer to admin and logs them in again (the promotion ends their old session).
async fn promote(app: &TestApp, admin: &str, name: &str) -> (i64, String, String) {
    let deputy = app.account(name).await;
    app.put(
        &format!("/api/users/{}", deputy.id),
        Some(admin),
        &json!({ "role": "admin" }),
    )
    .await
    .expect(200);
    let login = app.login(&deputy.email, &deputy.password).await.expect(200);
    let token = login["token"].as_str().expect("a token").to_string();
    (deputy.id, deputy.email, token)
}

pub async fn every_audited_action_appears_with_its_actor_target_and_time(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let admin_id = app.admin_id().await;
    let minute = || app.advance(Duration::minutes(1));
    let mut expected = Vec::new();

    let promoted_at = app.now();
    let (deputy_id, deputy_email, deputy) = promote(&app, &admin, "Wakil Admin").await;
    expected.push(json!([promoted_at.timestamp(), admin_id, "user_role_changed", "user", deputy_id.to_string(), { "from": "customer", "to": "admin" }]));

    minute();
    let sari = app.account("Sari Dewi").await;
    app.post(
        &format!("/api/users/{}/password", sari.id),
        Some(&admin),
        &json!({ "new_password": "set-by-the-admin-1" }),
    )
    .await
    .expect(200);
    expected.push(json!([
        app.now().timestamp(),
        admin_id,
        "user_password_reset",
        "user",
        sari.id.to_string(),
        {}
    ]));
    // Sari then picks her own: nobody else's doing, so not recorded.
    minute();
    let login = app
        .login(&sari.email, "set-by-the-admin-1")
        .await
        .expect(200);
    let sari_token = login["token"].as_str().expect("a token").to_string();
    app.post(
        &format!("/api/users/{}/password", sari.id),
        Some(&sari_token),
        &json!({ "old_password": "set-by-the-admin-1", "new_password": "her-very-own-1" }),
    )
    .await
    .expect(200);
    // Nor is a profile edit, or a "change" to the role someone already has.
    app.put(
        &format!("/api/users/{}", sari.id),
        Some(&admin),
        &json!({ "name": "Sari Dewi Lestari", "role": "customer" }),
    )
    .await
    .expect(200);

    minute();
    let event = app.event_on_sale("Malam Tertawa", 100_000, 20).await;
    let (budi_id, budi) = app.customer("Budi Santoso").await;
    let guest = app.paid_booking(&budi, id(&event), &["A1", "A2"]).await;
    app.check_in(&deputy, &guest).await.expect(200);
    expected.push(json!([app.now().timestamp(), deputy_id, "booking_checked_in", "booking", code(&guest), { "event_id": id(&event), "tickets": 2 }]));

    minute();
    app.delete(&format!("/api/users/{budi_id}"), Some(&admin))
        .await
        .expect(204);
    expected.push(json!([
        app.now().timestamp(),
        admin_id,
        "user_deactivated",
        "user",
        budi_id.to_string(),
        {}
    ]));

    minute();
    let (_, citra) = app.customer("Citra Lestari").await;
    app.paid_booking(&citra, id(&event), &["B1"]).await;
    app.book(&citra, id(&event), &["B2"]).await;
    // A change that does not cancel the event is not recorded.
    app.put(
        &format!("/api/events/{}", id(&event)),
        Some(&admin),
        &json!({ "name": "Malam Tertawa Lagi" }),
    )
    .await
    .expect(200);
    app.put(
        &format!("/api/events/{}", id(&event)),
        Some(&admin),
        &json!({ "status": "cancelled" }),
    )
    .await
    .expect(200);
    expected.push(json!([app.now().timestamp(), admin_id, "event_cancelled", "event", id(&event).to_string(), { "bookings_cancelled": 3, "bookings_refunded": 2 }]));

    minute();
    let doomed = app.event_on_sale("Acara Batal", 50_000, 10).await;
    app.delete(&format!("/api/events/{}", id(&doomed)), Some(&deputy))
        .await
        .expect(204);
    expected.push(json!([app.now().timestamp(), deputy_id, "event_deleted", "event", id(&doomed).to_string(), { "name": "Acara Batal" }]));

    let (entries, total) = trail(&app, "").await;
    expected.reverse();
    let shown: Vec<Value> = entries.iter().map(said).collect();
    assert_eq!(shown, expected, "newest first, each as it happened");
    assert_eq!(total, expected.len() as u64);

    let deletion = &entries[0];
    assert_eq!(
        deletion["actor"],
        json!({ "id": deputy_id, "name": "Wakil Admin", "email": deputy_email })
    );
    let promotion = entries.last().expect("the promotion");
    assert_eq!(promotion["actor"]["email"], ADMIN_EMAIL);
    let ids: Vec<i64> = entries.iter().map(id).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] > pair[1]),
        "newer entries have larger ids: {ids:?}"
    );
    for entry in &entries {
        assert!(
            ACTIONS.contains(&entry["action"].as_str().unwrap_or_default()),
            "{entry}"
        );
        assert!(entry["details"].is_object(), "{entry}");
    }
}

pub async fn refused_actions_leave_no_entry(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let admin_id = app.admin_id().await;

    // The only admin can be neither demoted nor deactivated.
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

    // A ticket is let in once; an unpaid one not at all.
    let event = app.event_on_sale("Malam Tertawa", 100_000, 20).await;
    let (_, sari) = app.customer("Sari Dewi").await;
    let unpaid = app.book(&sari, id(&event), &["A1"]).await;
    let checkin = |booking: &Value| format!("/api/bookings/{}/checkin", code(booking));
    app.post(&checkin(&unpaid), Some(&admin), &json!({}))
        .await
        .expect_error(409);
    let paid = app.paid_booking(&sari, id(&event), &["A2"]).await;
    app.post(&checkin(&paid), Some(&admin), &json!({}))
        .await
        .expect(200);
    app.advance(Duration::minutes(1));
    app.post(&checkin(&paid), Some(&admin), &json!({}))
        .await
        .expect_error(409);

    // An event with bookings is not deleted; a bad change does not cancel it.
    app.delete(&format!("/api/events/{}", id(&event)), Some(&admin))
        .await
        .expect_error(409);
    app.put(
        &format!("/api/events/{}", id(&event)),
        Some(&admin),
        &json!({ "status": "cancelled", "capacity": 1 }),
    )
    .await
    .expect_error(409);

    let (entries, total) = trail(&app, "").await;
    assert_eq!(
        total, 1,
        "only the check-in that let the guest in: {entries:?}"
    );
    assert_eq!(entries[0]["action"], "booking_checked_in");
    assert_eq!(entries[0]["target_id"], code(&paid));
}

pub async fn the_audit_trail_is_newest_first_paged_and_filtered(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let mut deactivated = Vec::new();
    for name in [
        "Ani Wijaya",
        "Budi Santoso",
        "Citra Lestari",
        "Dodi Pratama",
        "Eka Putri",
    ] {
        let (customer, _) = app.customer(name).await;
        app.delete(&format!("/api/users/{customer}"), Some(&admin))
            .await
            .expect(204);
        deactivated.push(customer.to_string());
        app.advance(Duration::minutes(1));
    }
    promote(&app, &admin, "Wakil Admin").await;
    deactivated.reverse();

    let targets = |entries: &[Value]| -> Vec<String> {
        entries
            .iter()
            .map(|entry| entry["target_id"].as_str().expect("a target").to_string())
            .collect()
    };
    let (first, total) = trail(&app, "?page=1&per_page=2").await;
    assert_eq!(total, 6);
    assert_eq!(first.len(), 2);
    assert_eq!(first[0]["action"], "user_role_changed", "the newest first");
    assert_eq!(targets(&first[1..]), deactivated[..1]);
    let (third, total) = trail(&app, "?page=3&per_page=2").await;
    assert_eq!((targets(&third), total), (deactivated[3..].to_vec(), 6));
    let (beyond, total) = trail(&app, "?page=4&per_page=2").await;
    assert_eq!((beyond.len(), total), (0, 6));

    let (only, total) = trail(&app, "?action=user_deactivated").await;
    assert_eq!((targets(&only), total), (deactivated.clone(), 5));
    let (paged, total) = trail(&app, "?action=user_deactivated&page=2&per_page=3").await;
    assert_eq!((targets(&paged), total), (deactivated[3..].to_vec(), 5));
    let (none, total) = trail(&app, "?action=event_deleted").await;
    assert_eq!((none.len(), total), (0, 0));

    for (query, field) in [
        ("?per_page=101", "per_page"),
        ("?per_page=0", "per_page"),
        ("?page=0", "page"),
        ("?action=everything", "action"),
        ("?action=USER_DEACTIVATED", "action"),
        ("?action=", "action"),
    ] {
        let error = app
            .get(&format!("/api/audit{query}"), Some(&admin))
            .await
            .expect_error(400);
        assert_field_error(&error, field);
    }
    let error = app
        .get("/api/audit?action=everything", Some(&admin))
        .await
        .expect_error(400);
    let message = error["message"].as_str().expect("a message");
    assert!(
        ACTIONS.iter().all(|action| message.contains(action)),
        "the message names the actions there are: {message}"
    );
    app.get("/api/audit?page=abc", Some(&admin))
        .await
        .expect_error(400);
    app.get("/api/audit?per_page=100", Some(&admin))
        .await
        .expect(200);
}

pub async fn the_audit_trail_is_for_admins(factory: AppFactory) {
    let app = factory.app().await;
    let (_, customer) = app.customer("Sari Dewi").await;
    app.get("/api/audit", Some(&customer))
        .await
        .expect_error(403);
    app.get("/api/audit?action=user_deactivated", Some(&customer))
        .await
        .expect_error(403);
    app.get("/api/audit", None).await.expect_error(401);
    app.get("/api/audit", Some("not-a-token"))
        .await
        .expect_error(401);

    let document = app.get("/openapi.json", None).await.expect(200);
    let operation = &document["paths"]["/api/audit"]["get"];
    assert!(
        operation["security"]
            .as_array()
            .is_some_and(|schemes| !schemes.is_empty()),
        "the trail asks for the bearer token: {operation}"
    );
    for status in ["200", "400", "401", "403"] {
        assert!(
            operation["responses"].get(status).is_some(),
            "{status} is not declared: {operation}"
        );
    }
    assert!(
        operation["responses"]["200"]["headers"]
            .as_object()
            .is_some_and(|headers| headers
                .keys()
                .any(|name| name.eq_ignore_ascii_case("x-total-count"))),
        "the total is declared: {operation}"
    );
    let action = operation["parameters"]
        .as_array()
        .and_then(|parameters| {
            parameters
                .iter()
                .find(|parameter| parameter["name"] == "action")
        })
        .unwrap_or_else(|| panic!("no action parameter: {operation}"));
    let values: Vec<&str> = action["schema"]["enum"]
        .as_array()
        .map(|values| values.iter().filter_map(|value| value.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        values, ACTIONS,
        "the action parameter lists every action as its values: {action}"
    );
}
