//! The repository contract, run against the PostgreSQL store through a real pgbouncer in
//! transaction pooling mode (`DATABASE_POOL_MODE=transaction`): every command, every read, the
//! races of the concurrency section, with server connections lent one transaction at a time.
//! pgbouncer 1.18 keeps no prepared statement across transactions and refuses start-up options:
//! a store that relied on either fails here.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use adapters::postgres::{PoolMode, PostgresSettings, PostgresStore};
use bootstrap::wiring::Stores;
use tests::pgbouncer::Pgbouncer;
use tests::postgres_db::{server_url, TestDatabase};
use tests::store_contract::{contract_codes, StoreFactory};

/// Stores through one pgbouncer: each `fresh()` is a new database, migrated directly (the
/// migrations hold a session's lock), its store lent connections per transaction by the pooler,
/// its seat-map `LISTEN` on a direct connection.
struct PooledStores {
    bouncer: Pgbouncer,
    databases: Mutex<Vec<TestDatabase>>,
}

impl PooledStores {
    async fn new() -> Option<PooledStores> {
        let server = server_url().await?;
        Some(PooledStores {
            bouncer: Pgbouncer::start_in_front_of(&server)?,
            databases: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl StoreFactory for PooledStores {
    async fn fresh(&self) -> Stores {
        let database = TestDatabase::create()
            .await
            .expect("a PostgreSQL server was found before");
        let settings = PostgresSettings {
            pool_mode: PoolMode::Transaction,
            ..PostgresSettings::new(self.bouncer.url_of(database.name()), 8)
        };
        let pool = adapters::postgres::pool(&settings).expect("a pool through pgbouncer");
        let store = PostgresStore::new(pool, contract_codes()).lent_as(&settings);
        let stores = Stores::of_postgres_listening(Arc::new(store), database.pool.clone());
        self.databases
            .lock()
            .expect("databases lock")
            .push(database);
        stores
    }
}

tests::store_contract_tests!(match PooledStores::new().await {
    Some(stores) => stores,
    None => return,
});
