//! Password hashing with bcrypt, kept off the async workers.

use std::ops::RangeInclusive;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use application::ports::{CheckPriority, HashError, PasswordHasher};
use domain::user::Password;

/// The work factors bcrypt accepts; 12 suits production, 4 keeps tests fast.
pub const BCRYPT_COSTS: RangeInclusive<u32> = 4..=31;

/// The salt and digest of a real bcrypt hash, in bcrypt's base64. Put behind any cost field it
/// is a well-formed hash that makes bcrypt do the full work of that cost before saying "no",
/// so the dummy for `verify_nothing` costs nothing to make yet a full verify to check.
const DUMMY_SALT_AND_DIGEST: &str = "mCVxOW.M7msDOSPPD2sK6ug9PDeaBrO/ZlZTf4X4BV.8l/rdr.8j6";

/// Password checks let in at once (running or waiting for a core) by default.
pub const DEFAULT_MAX_ADMITTED: usize = 16;

/// bcrypt with a fixed cost, run on the blocking pool, at most `max_concurrent` at a time, and
/// at most `max_admitted` running or waiting: past that a check is refused at once
/// ([`HashError::Busy`]). Low-priority work (sign-ups, and checks for addresses that failed one
/// lately) may take only half of those places, so that a flood of it always leaves room for
/// everyone else's logins. Every path that hashes or checks a password (login, sign-up, password
/// change and reset, the admin of start-up) shares one hasher, so a flood on any of them leaves
/// everything that hashes nothing unharmed.
#[derive(Debug, Clone)]
pub struct BcryptHasher {
    cost: u32,
    /// Bounds the CPU that hashing may take, so that a burst of logins queues here instead
    /// of occupying every core while other requests wait.
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    /// Bounds the checks waiting for those permits, so that they cannot pile up.
    admitted: Arc<Semaphore>,
    /// The share of `admitted` that low-priority work may hold.
    admitted_low: Arc<Semaphore>,
    dummy_hash: String,
}

impl BcryptHasher {
    /// A hasher of this cost allowed [`default_max_concurrent`] hashes at once and
    /// [`DEFAULT_MAX_ADMITTED`] let in.
    pub fn new(cost: u32) -> Result<BcryptHasher, HashError> {
        BcryptHasher::with_limits(cost, default_max_concurrent(), DEFAULT_MAX_ADMITTED)
    }

    /// A hasher of this cost allowed `max_concurrent` hashes at once (at least 1), and
    /// `max_admitted` running or waiting (at least as many).
    pub fn with_limits(
        cost: u32,
        max_concurrent: usize,
        max_admitted: usize,
    ) -> Result<BcryptHasher, HashError> {
        if !BCRYPT_COSTS.contains(&cost) {
            return Err(HashError::Failed(format!(
                "bcrypt cost must be between {} and {}, got {cost}",
                BCRYPT_COSTS.start(),
                BCRYPT_COSTS.end()
            )));
        }
        let max_concurrent = max_concurrent.max(1);
        let max_admitted = max_admitted.max(max_concurrent);
        Ok(BcryptHasher {
            cost,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            admitted: Arc::new(Semaphore::new(max_admitted)),
            admitted_low: Arc::new(Semaphore::new((max_admitted / 2).max(1))),
            dummy_hash: dummy_hash(cost),
        })
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// Runs CPU-heavy work on the blocking pool once a permit is free, if it is let in.
    async fn run_limited<T, F>(&self, priority: CheckPriority, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let low = match priority {
            CheckPriority::Normal => None,
            CheckPriority::Low => Some(
                Arc::clone(&self.admitted_low)
                    .try_acquire_owned()
                    .map_err(|_| HashError::Busy)?,
            ),
        };
        let admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        let counted = CountedCheck::new();
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError::Failed("the hashing permits were closed".to_string()))?;
        tokio::task::spawn_blocking(move || {
            // The permits move into the task so that they are held until the work ends, even
            // when the caller stops waiting for it.
            let _permits = (low, admitted, permit, counted);
            work()
        })
        .await
        .map_err(|error| HashError::Failed(format!("the hashing task failed: {error}")))
    }
}

/// A check admitted and not yet over, counted in the metrics' gauge while it lives.
struct CountedCheck(metrics::Gauge);

impl CountedCheck {
    fn new() -> Self {
        let gauge = metrics::gauge!(crate::metrics::PASSWORD_CHECKS_IN_FLIGHT);
        gauge.increment(1.0);
        CountedCheck(gauge)
    }
}

impl Drop for CountedCheck {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// One core fewer than the machine has, so that hashing always leaves one for the rest; at
/// least one.
pub fn default_max_concurrent() -> usize {
    std::thread::available_parallelism()
        .map(|cores| cores.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

fn dummy_hash(cost: u32) -> String {
    format!("$2b${cost:02}${DUMMY_SALT_AND_DIGEST}")
}

#[async_trait]
impl PasswordHasher for BcryptHasher {
    async fn hash(
        &self,
        password: &Password,
        priority: CheckPriority,
    ) -> Result<String, HashError> {
        let password = password.expose().to_owned();
        let cost = self.cost;
        self.run_limited(priority, move || bcrypt::hash(password, cost))
            .await?
            .map_err(|error| HashError::Failed(error.to_string()))
    }

    async fn verify(
        &self,
        password: &str,
        hash: &str,
        priority: CheckPriority,
    ) -> Result<bool, HashError> {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        match self
            .run_limited(priority, move || bcrypt::verify(password, &hash))
            .await?
        {
            Ok(matches) => Ok(matches),
            Err(error) => {
                // A stored hash bcrypt cannot read (corrupt, or a placeholder that locks the
                // account) matches no password; the operator hears about it, the client sees a
                // failed login rather than a server error.
                tracing::warn!(%error, "stored password hash is not a bcrypt hash");
                Ok(false)
            }
        }
    }

    async fn verify_nothing(
        &self,
        password: &str,
        priority: CheckPriority,
    ) -> Result<(), HashError> {
        let (password, hash) = (password.to_owned(), self.dummy_hash.clone());
        // Only the time spent matters; the answer is always "no".
        self.run_limited(priority, move || bcrypt::verify(password, &hash))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_COST: u32 = 4;

    fn hasher() -> BcryptHasher {
        BcryptHasher::new(TEST_COST).unwrap()
    }

    fn password(value: &str) -> Password {
        Password::new(value).unwrap()
    }

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let hasher = hasher();
        let hash = hasher
            .hash(&password("open sesame 123"), CheckPriority::Normal)
            .await
            .unwrap();
        assert!(hash.starts_with("$2b$04$"), "{hash}");
        assert!(!hash.contains("open sesame"));
        assert_eq!(
            hasher
                .verify("open sesame 123", &hash, CheckPriority::Normal)
                .await,
            Ok(true)
        );
        assert_eq!(
            hasher
                .verify("open sesame 124", &hash, CheckPriority::Normal)
                .await,
            Ok(false)
        );
        assert_eq!(
            hasher.verify("", &hash, CheckPriority::Normal).await,
            Ok(false)
        );
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let hasher = hasher();
        let first = hasher
            .hash(&password("same password"), CheckPriority::Normal)
            .await
            .unwrap();
        let second = hasher
            .hash(&password("same password"), CheckPriority::Normal)
            .await
            .unwrap();
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_matches_nothing_and_does_not_panic() {
        let hasher = hasher();
        let almost = "$2b$99$mCVxOW.M7msDOSPPD2sK6ug9PDeaBrO/ZlZTf4X4BV.8l/rdr.8j6";
        for stored in [
            "",
            "!",
            "plaintext-password",
            "$2b$04$short",
            almost,
            "€".repeat(20).as_str(),
        ] {
            assert_eq!(
                hasher
                    .verify("plaintext-password", stored, CheckPriority::Normal)
                    .await,
                Ok(false),
                "{stored:?}"
            );
        }
    }

    #[test]
    fn the_dummy_hash_is_well_formed_at_every_cost() {
        // Were it malformed, bcrypt would reject it at once and `verify_nothing` would be
        // quick, telling an unknown email apart from a wrong password.
        for cost in [4, 12, 31] {
            let dummy = dummy_hash(cost);
            assert_eq!(dummy.len(), 60);
            assert_eq!(
                dummy[4..6].parse::<u32>().unwrap(),
                cost,
                "cost field of {dummy}"
            );
        }
        assert!(!bcrypt::verify("anything", &dummy_hash(TEST_COST)).unwrap());
        assert!(
            bcrypt::verify("never-a-real-password", &dummy_hash(TEST_COST)).unwrap(),
            "the dummy digest should be a real one"
        );
    }

    #[tokio::test]
    async fn verify_nothing_completes() {
        assert_eq!(
            hasher()
                .verify_nothing("whatever the client typed", CheckPriority::Normal)
                .await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn low_priority_work_takes_at_most_half_the_places() {
        let hasher = BcryptHasher::with_limits(TEST_COST, 1, 4).unwrap();
        let low_places: Vec<_> = (0..2)
            .map(|_| {
                Arc::clone(&hasher.admitted_low)
                    .try_acquire_owned()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            hasher.verify_nothing("a sign-up", CheckPriority::Low).await,
            Err(HashError::Busy),
            "the low-priority share is taken"
        );
        assert_eq!(
            hasher
                .verify_nothing("someone's login", CheckPriority::Normal)
                .await,
            Ok(()),
            "everyone else still gets in"
        );
        drop(low_places);
        assert_eq!(
            hasher.verify_nothing("a sign-up", CheckPriority::Low).await,
            Ok(())
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_past_the_admitted_bound_are_refused_at_once() {
        // Cost 12 keeps the first check running while the second arrives.
        let hasher = BcryptHasher::with_limits(12, 1, 1).unwrap();
        let first = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.verify_nothing("first", CheckPriority::Normal).await })
        };
        let mut refused = false;
        while !first.is_finished() {
            if hasher.admitted.available_permits() == 0 {
                refused = hasher.verify_nothing("second", CheckPriority::Normal).await
                    == Err(HashError::Busy);
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(first.await.unwrap(), Ok(()));
        assert!(
            refused,
            "a second check while the only place was taken was refused"
        );
        assert_eq!(
            hasher.verify_nothing("third", CheckPriority::Normal).await,
            Ok(()),
            "the place came back"
        );
    }

    #[test]
    fn costs_outside_bcrypts_range_are_refused() {
        assert!(BcryptHasher::new(3).is_err());
        assert!(BcryptHasher::new(32).is_err());
        assert_eq!(BcryptHasher::new(4).unwrap().cost(), 4);
    }

    #[test]
    fn concurrency_defaults_to_one_core_fewer_and_never_zero() {
        assert!(default_max_concurrent() >= 1);
        assert_eq!(
            BcryptHasher::with_limits(TEST_COST, 0, 0)
                .unwrap()
                .max_concurrent(),
            1
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_permit_still_serves_a_burst_of_concurrent_verifies() {
        let hasher = BcryptHasher::with_limits(TEST_COST, 1, 8).unwrap();
        let hash = hasher
            .hash(&password("burst password"), CheckPriority::Normal)
            .await
            .unwrap();
        let verifies = (0..8).map(|attempt| {
            let (hasher, hash) = (hasher.clone(), hash.clone());
            tokio::spawn(async move {
                let guess = if attempt % 2 == 0 {
                    "burst password"
                } else {
                    "wrong password"
                };
                hasher.verify(guess, &hash, CheckPriority::Normal).await
            })
        });
        let mut results = Vec::new();
        for verify in verifies.collect::<Vec<_>>() {
            results.push(verify.await.unwrap().unwrap());
        }
        assert_eq!(
            results,
            [true, false, true, false, true, false, true, false]
        );
        assert_eq!(
            hasher.permits.available_permits(),
            1,
            "every permit came back"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_permitted_hashes_run_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let hasher = BcryptHasher::with_limits(TEST_COST, 2, 8).unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..8)
            .map(|_| {
                let (hasher, running, most_at_once) =
                    (hasher.clone(), running.clone(), most_at_once.clone());
                tokio::spawn(async move {
                    hasher
                        .run_limited(CheckPriority::Normal, move || {
                            let now_running = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most_at_once.fetch_max(now_running, Ordering::SeqCst);
                            // Long enough for unbounded jobs to overlap on the blocking pool.
                            bcrypt::hash("keep the core busy", 6).unwrap();
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        let most = most_at_once.load(Ordering::SeqCst);
        assert!((1..=2).contains(&most), "{most} ran at once");
    }
}
