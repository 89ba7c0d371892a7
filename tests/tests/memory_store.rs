//! The repository contract, run against the embedded memory store.

use std::sync::Arc;

use adapters::memory::MemoryStore;
use async_trait::async_trait;
use tests::store_contract::{contract_codes, StoreFactory, Stores};

struct MemoryStores;

#[async_trait]
impl StoreFactory for MemoryStores {
    async fn fresh(&self) -> Stores {
        Stores::of_memory(Arc::new(MemoryStore::new(contract_codes())))
    }
}

tests::store_contract_tests!(MemoryStores);
