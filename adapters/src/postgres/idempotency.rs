//! Idempotency keys in PostgreSQL, so that a retry reaching another process finds its key.
//!
//! `begin` inserts the key if absent (`ON CONFLICT DO NOTHING`: of simultaneous inserts, across
//! processes, one wins and the others wait for it and then find its row); otherwise it locks the
//! existing row and applies `idempotency::decide` to it, taking the key over when it is expired
//! or its attempt died.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use application::idempotency::{decide, Decision, IdempotencyKey, IdempotencyPolicy};
use application::ports::{
    Begin, IdempotencyStore, KeyRecord, KeyState, StoreError, StoredResponse,
};
use domain::user::UserId;
use domain::Timestamp;

use super::{corrupt, store_error, PostgresStore};

const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";

/// How often `begin` looks again when the row it met vanished (purged) before it could lock it.
const BEGIN_ATTEMPTS: usize = 3;

#[derive(sqlx::FromRow)]
struct KeyRow {
    fingerprint: String,
    attempt: i64,
    status: String,
    response_status: Option<i16>,
    response_body: Option<Vec<u8>>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl KeyRow {
    fn into_record(self) -> Result<KeyRecord, StoreError> {
        let state = match (
            self.status.as_str(),
            self.response_status,
            self.response_body,
        ) {
            (IN_PROGRESS, _, _) => KeyState::InProgress,
            (COMPLETED, Some(status), Some(body)) => KeyState::Completed(StoredResponse {
                status: u16::try_from(status)
                    .map_err(|_| corrupt("idempotency response status", status))?,
                body,
            }),
            (other, _, _) => return Err(corrupt("idempotency key status", other)),
        };
        Ok(KeyRecord {
            fingerprint: self.fingerprint,
            attempt: self.attempt,
            state,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

#[async_trait]
impl IdempotencyStore for PostgresStore {
    async fn begin(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        fingerprint: &str,
        policy: IdempotencyPolicy,
        now: Timestamp,
    ) -> Result<Begin, StoreError> {
        // A key the user does not hold yet must fit under the bound on their live keys. Two new
        // keys racing past the count may both be let in: the bound is on storage, not on sales.
        let (live, held): (i64, bool) = sqlx::query_as(
            "SELECT count(*), coalesce(bool_or(key = $3), false) FROM idempotency_keys \
             WHERE user_id = $1 AND expires_at > $2",
        )
        .bind(user.0)
        .bind(now)
        .bind(key.as_str())
        .fetch_one(&mut *self.connection().await?)
        .await
        .map_err(store_error)?;
        if !held && !policy.admits_new_key(live.max(0) as u64) {
            return Ok(Begin::TooManyKeys);
        }
        let expires_at = policy.expiry_of_claim(now);
        for _ in 0..BEGIN_ATTEMPTS {
            let mut session = self.connection().await?;
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (user_id, key, fingerprint, attempt, status, created_at, expires_at) \
                 VALUES ($1, $2, $3, 1, 'in_progress', $4, $5) ON CONFLICT (user_id, key) DO NOTHING",
            )
            .bind(user.0)
            .bind(key.as_str())
            .bind(fingerprint)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *session)
            .await
            .map_err(store_error)?;
            session.finish().await?;
            if inserted.rows_affected() == 1 {
                return Ok(Begin::Started { attempt: 1 });
            }

            let mut tx = self.transaction().await?;
            let row: Option<KeyRow> = sqlx::query_as(
                "SELECT fingerprint, attempt, status, response_status, response_body, created_at, expires_at \
                 FROM idempotency_keys WHERE user_id = $1 AND key = $2 FOR UPDATE",
            )
            .bind(user.0)
            .bind(key.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
            let Some(row) = row else {
                // Purged between the insert and the lock: insert again.
                continue;
            };
            let record = row.into_record()?;
            let begin = match decide(Some(&record), fingerprint, policy, now) {
                Decision::Start => {
                    let attempt = record.attempt + 1;
                    sqlx::query(
                        "UPDATE idempotency_keys SET fingerprint = $3, attempt = $4, \
                         status = 'in_progress', response_status = NULL, response_body = NULL, \
                         created_at = $5, expires_at = $6 WHERE user_id = $1 AND key = $2",
                    )
                    .bind(user.0)
                    .bind(key.as_str())
                    .bind(fingerprint)
                    .bind(attempt)
                    .bind(now)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    Begin::Started { attempt }
                }
                Decision::Replay(response) => Begin::Replay(response),
                Decision::InProgress => Begin::InProgress,
                Decision::Mismatch => Begin::Mismatch,
            };
            tx.commit().await.map_err(store_error)?;
            return Ok(begin);
        }
        Err(StoreError::Busy(
            "an idempotency key kept vanishing while it was claimed".into(),
        ))
    }

    async fn complete(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        attempt: i64,
        response: StoredResponse,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut session = self.connection().await?;
        sqlx::query(
            "UPDATE idempotency_keys SET status = 'completed', response_status = $4, \
             response_body = $5, expires_at = $6 \
             WHERE user_id = $1 AND key = $2 AND attempt = $3 AND status = 'in_progress'",
        )
        .bind(user.0)
        .bind(key.as_str())
        .bind(attempt)
        .bind(i16::try_from(response.status).unwrap_or(i16::MAX))
        .bind(response.body)
        .bind(expires_at)
        .execute(&mut *session)
        .await
        .map_err(store_error)?;
        session.finish().await?;
        Ok(())
    }

    async fn abandon(
        &self,
        user: UserId,
        key: &IdempotencyKey,
        attempt: i64,
    ) -> Result<(), StoreError> {
        let mut session = self.connection().await?;
        sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE user_id = $1 AND key = $2 AND attempt = $3 AND status = 'in_progress'",
        )
        .bind(user.0)
        .bind(key.as_str())
        .bind(attempt)
        .execute(&mut *session)
        .await
        .map_err(store_error)?;
        session.finish().await?;
        Ok(())
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut session = self.connection().await?;
        let purged = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *session)
            .await
            .map_err(store_error)?;
        session.finish().await?;
        Ok(purged.rows_affected())
    }
}
