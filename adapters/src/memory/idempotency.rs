//! Idempotency keys, in a map of their own behind a lock of their own: they never take part in
//! a booking's decision, so they need not wait for the store's state lock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use application::idempotency::{decide, is_expired, Decision, IdempotencyKey, IdempotencyPolicy};
use application::ports::{
    Begin, IdempotencyStore, KeyRecord, KeyState, StoreError, StoredResponse,
};
use domain::user::UserId;
use domain::Timestamp;

use super::MemoryStore;

type KeyMap = HashMap<(UserId, IdempotencyKey), KeyRecord>;

/// Every user's keys.
#[derive(Default)]
pub(super) struct Keys(Mutex<KeyMap>);

impl Keys {
    fn locked(&self) -> Result<MutexGuard<'_, KeyMap>, StoreError> {
        self.0.lock().map_err(|_| {
            StoreError::Unexpected(
                "the idempotency keys are unusable after a command panicked while holding them"
                    .into(),
            )
        })
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn begin(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        fingerprint: &str,
        policy: IdempotencyPolicy,
        now: Timestamp,
    ) -> Result<Begin, StoreError> {
        let mut keys = self.keys.locked()?;
        let slot = (user, key.clone());
        let existing = keys.get(&slot);
        Ok(match decide(existing, fingerprint, policy, now) {
            Decision::Start => {
                let attempt = existing.map_or(1, |record| record.attempt + 1);
                keys.insert(
                    slot,
                    KeyRecord {
                        fingerprint: fingerprint.to_string(),
                        attempt,
                        state: KeyState::InProgress,
                        created_at: now,
                    },
                );
                Begin::Started { attempt }
            }
            Decision::Replay(response) => Begin::Replay(response),
            Decision::InProgress => Begin::InProgress,
            Decision::Mismatch => Begin::Mismatch,
        })
    }

    async fn complete(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        attempt: i64,
        response: StoredResponse,
    ) -> Result<(), StoreError> {
        let mut keys = self.keys.locked()?;
        if let Some(record) = keys.get_mut(&(user, key.clone())) {
            if record.attempt == attempt && record.state == KeyState::InProgress {
                record.state = KeyState::Completed(response);
            }
        }
        Ok(())
    }

    async fn abandon(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        attempt: i64,
    ) -> Result<(), StoreError> {
        let mut keys = self.keys.locked()?;
        let slot = (user, key.clone());
        if keys
            .get(&slot)
            .is_some_and(|record| record.attempt == attempt && record.state == KeyState::InProgress)
        {
            keys.remove(&slot);
        }
        Ok(())
    }

    async fn purge_expired(
        &self,
        policy: IdempotencyPolicy,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut keys = self.keys.locked()?;
        let before = keys.len();
        keys.retain(|_, record| !is_expired(record, policy, now));
        Ok((before - keys.len()) as u64)
    }
}
