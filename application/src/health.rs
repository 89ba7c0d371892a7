//! Readiness: whether the store answers.

use std::sync::Arc;

use crate::ports::{BookingRepository, StoreError};

pub struct Readiness {
    store: Arc<dyn BookingRepository>,
}

impl Readiness {
    pub fn new(store: Arc<dyn BookingRepository>) -> Self {
        Readiness { store }
    }

    pub async fn check(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}
