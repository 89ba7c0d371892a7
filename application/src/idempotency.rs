//! Idempotent retries: a request sent with an `Idempotency-Key` is handled once, and a retry
//! with the same key gets the first answer again instead of doing it twice.
//!
//! The HTTP adapter fingerprints the request and asks [`IdempotencyService::begin`] whether to
//! run it; the store keeps the keys (per user) and decides with [`decide`] under its lock, so that
//! simultaneous retries, even on several processes, run the request at most once.

use std::sync::Arc;

use chrono::Duration;

use domain::user::UserId;
use domain::validation::ValidationErrors;
use domain::Timestamp;

use crate::auth::Actor;
use crate::ports::{
    Begin, Clock, IdempotencyStore, KeyRecord, KeyState, StoreError, StoredResponse,
};

/// The longest key accepted.
pub const MAX_KEY_LENGTH: usize = 255;

/// The header that carries a key, named in validation problems.
pub const KEY_HEADER: &str = "Idempotency-Key";

/// A client's name for one request: 1 to 255 printable ASCII characters (e.g. a UUID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<IdempotencyKey, String> {
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.len() > MAX_KEY_LENGTH {
            return Err(format!("must be at most {MAX_KEY_LENGTH} characters"));
        }
        if !text.bytes().all(|byte| (b' '..=b'~').contains(&byte)) {
            return Err("must be printable ASCII characters only".into());
        }
        Ok(IdempotencyKey(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long keys live, and how many one user may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyPolicy {
    /// How long a success is replayed; an older key is as good as unused.
    pub ttl: Duration,
    /// How long a refusal (a 4xx: a seat taken, an amount too low) is replayed: long enough
    /// for any retry, short enough that refusals do not pile up.
    pub refusal_ttl: Duration,
    /// How long a request may stay in progress before its handler is presumed dead (a crashed
    /// process) and a retry may take the key over. Far longer than any request can run: the
    /// store's statements time out in seconds.
    pub takeover_after: Duration,
    /// Keys one user may hold unexpired; a new key past it is refused (a retry of a held key
    /// never is). 0 means no limit.
    pub max_live_keys_per_user: u32,
}

impl Default for IdempotencyPolicy {
    fn default() -> Self {
        IdempotencyPolicy {
            ttl: Duration::hours(24),
            refusal_ttl: Duration::hours(1),
            takeover_after: Duration::minutes(5),
            max_live_keys_per_user: 100,
        }
    }
}

impl IdempotencyPolicy {
    /// When a key claimed at `at` expires while its request is in progress.
    pub fn expiry_of_claim(&self, at: Timestamp) -> Timestamp {
        at + self.ttl
    }

    /// When a key whose request began at `claimed_at` and was answered with `status` expires.
    pub fn expiry_of_answer(&self, claimed_at: Timestamp, status: u16) -> Timestamp {
        if (400..500).contains(&status) {
            claimed_at + self.refusal_ttl
        } else {
            claimed_at + self.ttl
        }
    }

    /// Whether a user holding `live_keys` unexpired keys may claim another one.
    pub fn admits_new_key(&self, live_keys: u64) -> bool {
        self.max_live_keys_per_user == 0 || live_keys < u64::from(self.max_live_keys_per_user)
    }
}

/// What to do with a key, given what the store holds for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Claim the key for a new attempt: it is unused, expired, or held by a dead attempt.
    Start,
    Replay(StoredResponse),
    InProgress,
    Mismatch,
}

/// The rule both stores apply under their lock: an expired key is unused; a key used for another
/// request is a mismatch, whatever its state; an answered one is replayed; one in progress is
/// busy until it is old enough to be presumed abandoned.
pub fn decide(
    existing: Option<&KeyRecord>,
    fingerprint: &str,
    policy: IdempotencyPolicy,
    now: Timestamp,
) -> Decision {
    let Some(record) = existing else {
        return Decision::Start;
    };
    if is_expired(record, now) {
        return Decision::Start;
    }
    if record.fingerprint != fingerprint {
        return Decision::Mismatch;
    }
    match &record.state {
        KeyState::Completed(response) => Decision::Replay(response.clone()),
        KeyState::InProgress if record.created_at + policy.takeover_after <= now => Decision::Start,
        KeyState::InProgress => Decision::InProgress,
    }
}

/// Whether a key is past its time to live, and may be forgotten.
pub fn is_expired(record: &KeyRecord, now: Timestamp) -> bool {
    record.expires_at <= now
}

/// Whether an answer is final, and so replayed to retries: successes and the client's own
/// errors (a seat taken, an amount too low). A server failure (5xx, e.g. the store busy) is not:
/// the key is released so that a retry runs again.
pub fn is_final(status: u16) -> bool {
    (200..500).contains(&status)
}

/// Why a keyed request may not run now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("a request with this Idempotency-Key is still being processed; retry it in a moment")]
    InProgress,
    #[error(
        "this Idempotency-Key was already used for a different request; use a new key for a new request"
    )]
    Mismatch,
    #[error(
        "you hold {max} Idempotency-Keys from the last day already; retry with one of them, or send the request without a new key"
    )]
    TooManyKeys { max: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key held by one attempt at a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    user: UserId,
    key: IdempotencyKey,
    attempt: i64,
    claimed_at: Timestamp,
}

/// What to do with a keyed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// Handle it, then hand its answer to [`IdempotencyService::finish`].
    Run(Claim),
    /// It was answered before: send this again.
    Replay(StoredResponse),
}

/// The idempotency use case.
pub struct IdempotencyService {
    store: Arc<dyn IdempotencyStore>,
    clock: Arc<dyn Clock>,
    policy: IdempotencyPolicy,
}

impl IdempotencyService {
    pub fn new(
        store: Arc<dyn IdempotencyStore>,
        clock: Arc<dyn Clock>,
        policy: IdempotencyPolicy,
    ) -> Self {
        IdempotencyService {
            store,
            clock,
            policy,
        }
    }

    /// Claims the actor's `key` for a request with this fingerprint, or says to replay.
    pub async fn begin(
        &self,
        actor: &Actor,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claimed, IdempotencyError> {
        let key = IdempotencyKey::parse(key).map_err(|problem| {
            IdempotencyError::Invalid(ValidationErrors::single(KEY_HEADER, problem))
        })?;
        let now = self.clock.now();
        let begin = self
            .store
            .begin(actor.id, &key, fingerprint, self.policy, now)
            .await?;
        match begin {
            Begin::Started { attempt } => Ok(Claimed::Run(Claim {
                user: actor.id,
                key,
                attempt,
                claimed_at: now,
            })),
            Begin::Replay(response) => Ok(Claimed::Replay(response)),
            Begin::InProgress => Err(IdempotencyError::InProgress),
            Begin::Mismatch => Err(IdempotencyError::Mismatch),
            Begin::TooManyKeys => Err(IdempotencyError::TooManyKeys {
                max: self.policy.max_live_keys_per_user,
            }),
        }
    }

    /// Records a final answer for replays, or releases the key after a server failure.
    pub async fn finish(&self, claim: Claim, response: StoredResponse) -> Result<(), StoreError> {
        if is_final(response.status) {
            let expires_at = self
                .policy
                .expiry_of_answer(claim.claimed_at, response.status);
            self.store
                .complete(claim.user, &claim.key, claim.attempt, response, expires_at)
                .await
        } else {
            self.abandon(claim).await
        }
    }

    /// Releases the key without an answer, so that a retry runs the request again.
    pub async fn abandon(&self, claim: Claim) -> Result<(), StoreError> {
        self.store
            .abandon(claim.user, &claim.key, claim.attempt)
            .await
    }

    /// Forgets expired keys; returns how many.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.store.purge_expired(self.clock.now()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockIdempotencyStore};
    use chrono::{TimeZone, Utc};
    use domain::user::Role;
    use futures_executor::block_on;
    use mockall::predicate::eq;

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
    }

    fn answer(status: u16) -> StoredResponse {
        StoredResponse {
            status,
            body: br#"{"booking_code":"BKG-ABCDE"}"#.to_vec(),
        }
    }

    /// A key claimed `age` ago, expiring as the default policy says for its state.
    fn record(fingerprint: &str, state: KeyState, age: Duration) -> KeyRecord {
        let policy = IdempotencyPolicy::default();
        let created_at = now() - age;
        let expires_at = match &state {
            KeyState::InProgress => policy.expiry_of_claim(created_at),
            KeyState::Completed(response) => policy.expiry_of_answer(created_at, response.status),
        };
        KeyRecord {
            fingerprint: fingerprint.into(),
            attempt: 1,
            state,
            created_at,
            expires_at,
        }
    }

    #[test]
    fn keys_are_one_to_255_printable_ascii_characters() {
        for good in [
            "a",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "with spaces ~!@#$%^&*()",
            &"k".repeat(255),
        ] {
            assert_eq!(IdempotencyKey::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            &"k".repeat(256),
            "tab\there",
            "new\nline",
            "kunci-é",
            "\u{7f}",
        ] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_rule_for_an_existing_key() {
        let policy = IdempotencyPolicy::default();
        let hour = Duration::hours(1);
        let cases = [
            ("unused", None, "f1", Decision::Start),
            (
                "answered, same request",
                Some(record("f1", KeyState::Completed(answer(201)), hour)),
                "f1",
                Decision::Replay(answer(201)),
            ),
            (
                "answered, another request",
                Some(record("f1", KeyState::Completed(answer(201)), hour)),
                "f2",
                Decision::Mismatch,
            ),
            (
                "answered a day ago",
                Some(record(
                    "f1",
                    KeyState::Completed(answer(201)),
                    Duration::hours(24),
                )),
                "f2",
                Decision::Start,
            ),
            (
                "refused an hour ago",
                Some(record("f1", KeyState::Completed(answer(409)), hour)),
                "f2",
                Decision::Start,
            ),
            (
                "refused just short of an hour ago",
                Some(record(
                    "f1",
                    KeyState::Completed(answer(409)),
                    Duration::minutes(59),
                )),
                "f1",
                Decision::Replay(answer(409)),
            ),
            (
                "in progress",
                Some(record("f1", KeyState::InProgress, Duration::seconds(10))),
                "f1",
                Decision::InProgress,
            ),
            (
                "in progress, another request",
                Some(record("f1", KeyState::InProgress, Duration::seconds(10))),
                "f2",
                Decision::Mismatch,
            ),
            (
                "in progress long enough to be presumed dead",
                Some(record("f1", KeyState::InProgress, Duration::minutes(5))),
                "f1",
                Decision::Start,
            ),
            (
                "in progress just short of that",
                Some(record("f1", KeyState::InProgress, Duration::seconds(299))),
                "f1",
                Decision::InProgress,
            ),
        ];
        for (case, existing, fingerprint, expected) in cases {
            assert_eq!(
                decide(existing.as_ref(), fingerprint, policy, now()),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn a_user_holds_a_bounded_number_of_keys() {
        let policy = IdempotencyPolicy {
            max_live_keys_per_user: 2,
            ..IdempotencyPolicy::default()
        };
        assert!(policy.admits_new_key(0));
        assert!(policy.admits_new_key(1));
        assert!(!policy.admits_new_key(2));
        let unbounded = IdempotencyPolicy {
            max_live_keys_per_user: 0,
            ..policy
        };
        assert!(unbounded.admits_new_key(1_000_000));
    }

    #[test]
    fn successes_and_client_errors_are_final_server_errors_are_not() {
        for status in [200, 201, 400, 403, 404, 409] {
            assert!(is_final(status), "{status}");
        }
        for status in [500, 503] {
            assert!(!is_final(status), "{status}");
        }
    }

    fn service(store: MockIdempotencyStore) -> IdempotencyService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        IdempotencyService::new(
            Arc::new(store),
            Arc::new(clock),
            IdempotencyPolicy::default(),
        )
    }

    fn actor() -> Actor {
        Actor {
            id: UserId(7),
            role: Role::Customer,
        }
    }

    #[test]
    fn an_invalid_key_is_refused_before_the_store_is_asked() {
        let service = service(MockIdempotencyStore::new());
        let error = block_on(service.begin(&actor(), "", "f1")).unwrap_err();
        assert!(
            matches!(&error, IdempotencyError::Invalid(errors) if errors.errors()[0].field == KEY_HEADER),
            "{error:?}"
        );
    }

    #[test]
    fn the_store_answer_becomes_what_the_caller_does() {
        let key = IdempotencyKey::parse("key-1").unwrap();
        let outcomes = [
            (
                Begin::Started { attempt: 3 },
                Ok(Claimed::Run(Claim {
                    user: UserId(7),
                    key: key.clone(),
                    attempt: 3,
                    claimed_at: now(),
                })),
            ),
            (Begin::Replay(answer(201)), Ok(Claimed::Replay(answer(201)))),
            (Begin::InProgress, Err(IdempotencyError::InProgress)),
            (Begin::Mismatch, Err(IdempotencyError::Mismatch)),
            (
                Begin::TooManyKeys,
                Err(IdempotencyError::TooManyKeys { max: 100 }),
            ),
        ];
        for (begin, expected) in outcomes {
            let mut store = MockIdempotencyStore::new();
            store
                .expect_begin()
                .with(
                    eq(UserId(7)),
                    eq(key.clone()),
                    eq("f1"),
                    eq(IdempotencyPolicy::default()),
                    eq(now()),
                )
                .return_once(move |_, _, _, _, _| Ok(begin));
            assert_eq!(
                block_on(service(store).begin(&actor(), "key-1", "f1")),
                expected
            );
        }
    }

    #[test]
    fn final_answers_are_kept_and_server_failures_release_the_key() {
        let claim = Claim {
            user: UserId(7),
            key: IdempotencyKey::parse("key-1").unwrap(),
            attempt: 2,
            claimed_at: now(),
        };
        let mut store = MockIdempotencyStore::new();
        store
            .expect_complete()
            .withf(|user, key, attempt, response, expires_at| {
                *user == UserId(7)
                    && key.as_str() == "key-1"
                    && *attempt == 2
                    && response.status == 409
                    && *expires_at == now() + Duration::hours(1)
            })
            .times(1)
            .returning(|_, _, _, _, _| Ok(()));
        store
            .expect_abandon()
            .withf(|user, key, attempt| {
                *user == UserId(7) && key.as_str() == "key-1" && *attempt == 2
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let service = service(store);
        block_on(service.finish(claim.clone(), answer(409))).unwrap();
        block_on(service.finish(claim, answer(503))).unwrap();
    }
}
