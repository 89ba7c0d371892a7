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

/// Each user's keys apart, so that counting one user's keys reads only theirs.
type KeyMap = HashMap<UserId, HashMap<IdempotencyKey, KeyRecord>>;

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
        let held = keys.entry(user).or_default();
        let existing = held.get(key).filter(|record| !is_expired(record, now));
        if existing.is_none() {
            let live = held
                .values()
                .filter(|record| !is_expired(record, now))
                .count();
            if !policy.admits_new_key(live as u64) {
                return Ok(Begin::TooManyKeys);
            }
        }
        let existing = held.get(key);
        Ok(match decide(existing, fingerprint, policy, now) {
            Decision::Start => {
                let attempt = existing.map_or(1, |record| record.attempt + 1);
                held.insert(
                    key.clone(),
                    KeyRecord {
                        fingerprint: fingerprint.to_string(),
                        attempt,
                        state: KeyState::InProgress,
                        created_at: now,
                        expires_at: policy.expiry_of_claim(now),
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
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut keys = self.keys.locked()?;
        let record = keys.get_mut(&user).and_then(|held| held.get_mut(key));
        if let Some(record) = record {
            if record.attempt == attempt && record.state == KeyState::InProgress {
                record.state = KeyState::Completed(response);
                record.expires_at = expires_at;
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
        if let Some(held) = keys.get_mut(&user) {
            if held.get(key).is_some_and(|record| {
                record.attempt == attempt && record.state == KeyState::InProgress
            }) {
                held.remove(key);
            }
        }
        Ok(())
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut keys = self.keys.locked()?;
        let mut purged = 0;
        keys.retain(|_, held| {
            let before = held.len();
            held.retain(|_, record| !is_expired(record, now));
            purged += before - held.len();
            !held.is_empty()
        });
        Ok(purged as u64)
    }
}
