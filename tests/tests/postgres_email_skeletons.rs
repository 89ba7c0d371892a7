//! Accounts made before WarTawa kept what their emails look like get it filled in at start-up,
//! so that a look-alike of an old account is refused like one of a new account.

use adapters::postgres::PostgresSettings;
use adapters::system::RandomCodeGenerator;
use application::ports::{UserRepository, UserWriteError};
use domain::user::{Email, NewUser, PersonName, Role};
use std::sync::Arc;
use tests::postgres_db::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_older_than_skeletons_is_still_protected_from_look_alikes() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    // As a release before skeletons would have stored it.
    sqlx::query(
        "INSERT INTO users (name, email, password_hash, role, created_at) \
         VALUES ('Old Admin', 'admin@example.com', 'x', 'admin', now())",
    )
    .execute(&database.pool)
    .await
    .expect("an account of the previous release");

    // Start-up migrates, which fills in what is missing.
    let pool = adapters::postgres::open(&PostgresSettings::new(database.url.clone(), 2))
        .await
        .expect("start-up");
    let skeleton: Option<String> =
        sqlx::query_scalar("SELECT email_skeleton FROM users WHERE email = 'admin@example.com'")
            .fetch_one(&pool)
            .await
            .expect("read it back");
    assert_eq!(
        skeleton,
        Some(Email::parse("admin@example.com").unwrap().skeleton())
    );

    let store = adapters::postgres::PostgresStore::new(pool, Arc::new(RandomCodeGenerator));
    let look_alike = NewUser {
        name: PersonName::parse("Peniru").unwrap(),
        email: Email::parse("\u{430}dmin@example.com").unwrap(),
        password_hash: "x".into(),
        role: Role::Customer,
        nik: None,
        phone_number: None,
        created_at: chrono::Utc::now(),
    };
    assert_eq!(
        store.insert(look_alike).await.unwrap_err(),
        UserWriteError::EmailLooksLikeAnother
    );
}
