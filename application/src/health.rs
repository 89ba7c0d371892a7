//! Readiness: whether this process should be sent requests: its store answers, and it is not
//! draining before it stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::ports::{BookingRepository, StoreError};

pub struct Readiness {
    store: Arc<dyn BookingRepository>,
    draining: AtomicBool,
}

/// Why the process should not be sent requests now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// Shutting down: requests in flight finish, new ones should go elsewhere.
    #[error("the process is shutting down")]
    Draining,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Readiness {
    pub fn new(store: Arc<dyn BookingRepository>) -> Self {
        Readiness {
            store,
            draining: AtomicBool::new(false),
        }
    }

    /// From now on the process is not ready: it is about to stop.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub async fn check(&self) -> Result<(), NotReady> {
        if self.draining.load(Ordering::SeqCst) {
            return Err(NotReady::Draining);
        }
        Ok(self.store.ping().await?)
    }
}
