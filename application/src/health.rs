//! Readiness: whether this process should be sent requests: its store answers, and it is not
//! draining before it stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::ports::{BookingRepository, ReadReplicaState, ReadReplicaStatus, StoreError};

pub struct Readiness {
    store: Arc<dyn BookingRepository>,
    draining: AtomicBool,
    replica: Option<Arc<dyn ReadReplicaStatus>>,
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
            replica: None,
        }
    }

    /// Readiness that also reports the read replica's freshness (which never makes the process
    /// unready: the primary serves what the replica cannot).
    pub fn with_replica(mut self, replica: Option<Arc<dyn ReadReplicaStatus>>) -> Self {
        self.replica = replica;
        self
    }

    /// The read replica's freshness, when there is one.
    pub fn replica(&self) -> Option<ReadReplicaState> {
        self.replica.as_ref().map(|replica| replica.state())
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
