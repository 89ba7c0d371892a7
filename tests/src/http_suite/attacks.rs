//! Attacks a stranger on the internet can make, each performed and shown to do no harm: taking
//! the operator's admin email first, using password checks as a weapon, locking others out,
//! griefing holds, probing booking codes, poisoning text, hoarding idempotency keys, bloating
//! event lists and registering look-alike emails.

use serde_json::json;

use application::users::{AdminSetUp, EnsureAdminError, ExistingAccount};
use bootstrap::config::{AdminCredentials, Config};
use bootstrap::wiring::ensure_configured_admin;
use domain::user::{Email, Password};

use crate::http_harness::AppFactory;

const OPERATOR_EMAIL: &str = "boss@example.com";
const OPERATOR_PASSWORD: &str = "operator-password-1";
const SQUATTER_PASSWORD: &str = "squatter-password-1";

fn with_admin(config: &Config, email: &str, password: &str) -> Config {
    Config {
        admin: Some(AdminCredentials {
            email: Email::parse(email).expect("an email"),
            password: Password::new(password).expect("a password"),
        }),
        ..config.clone()
    }
}

/// Someone registers the email the operator will configure as `ADMIN_EMAIL`, or moves their
/// profile to it. Start-up refuses to make that account an admin, says how to take it over, and
/// the explicit take-over replaces the squatter's password and ends their sessions.
pub async fn admin_email_never_promotes_an_account_someone_registered(factory: AppFactory) {
    let app = factory.app().await;
    let squatter = app
        .post(
            "/api/users",
            None,
            &json!({"name": "Not The Boss", "email": OPERATOR_EMAIL, "password": SQUATTER_PASSWORD}),
        )
        .await
        .expect(201);
    let squatter_id = squatter["id"].as_i64().expect("an id");
    let squatter_token = app
        .login(OPERATOR_EMAIL, SQUATTER_PASSWORD)
        .await
        .expect(200)["token"]
        .as_str()
        .expect("a token")
        .to_string();
    // Another one moves their profile onto a second address the operator might choose.
    let mover = app.account("Pindah Alamat").await;
    app.put(
        &format!("/api/users/{}", mover.id),
        Some(&mover.token),
        &json!({"email": "owner@example.com"}),
    )
    .await
    .expect(200);

    for (email, account_id) in [
        (OPERATOR_EMAIL, squatter_id),
        ("owner@example.com", mover.id),
    ] {
        let config = with_admin(&app.config, email, OPERATOR_PASSWORD);
        let refused = ensure_configured_admin(&config, &app.services)
            .await
            .expect_err("start-up refuses an account someone else may have registered");
        assert!(
            matches!(&refused, EnsureAdminError::NotAnAdmin { id, .. } if id.0 == account_id),
            "{refused:?}"
        );
        let message = refused.to_string();
        assert!(
            message.contains(email) && message.contains("--promote-existing"),
            "the refusal names the account and the explicit way: {message}"
        );
    }
    let still_customer = app
        .login(OPERATOR_EMAIL, SQUATTER_PASSWORD)
        .await
        .expect(200);
    assert_eq!(still_customer["user"]["role"], "customer");
    app.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        .await
        .expect_error(401);

    let outcome = app
        .services
        .users
        .ensure_admin(
            "Administrator",
            OPERATOR_EMAIL,
            OPERATOR_PASSWORD,
            ExistingAccount::TakeOver,
        )
        .await
        .expect("the explicit take-over");
    assert!(matches!(outcome, AdminSetUp::TakenOver(_)), "{outcome:?}");
    app.login(OPERATOR_EMAIL, SQUATTER_PASSWORD)
        .await
        .expect_error(401);
    app.get(&format!("/api/users/{squatter_id}"), Some(&squatter_token))
        .await
        .expect_error(401);
    let operator = app
        .login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        .await
        .expect(200);
    assert_eq!(operator["user"]["role"], "admin");

    // Started again with the same settings, the admin is confirmed and left as it is.
    let config = with_admin(&app.config, OPERATOR_EMAIL, "another-password-9");
    ensure_configured_admin(&config, &app.services)
        .await
        .expect("an existing admin is confirmed");
    app.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
        .await
        .expect(200);
}
