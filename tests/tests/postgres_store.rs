//! The repository contract, run against the PostgreSQL store: the same tests as the memory store's.

use tests::postgres_db::PostgresStores;

tests::store_contract_tests!(match PostgresStores::new().await {
    Some(stores) => stores,
    None => return,
});
