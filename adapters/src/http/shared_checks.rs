//! Checks of the store shared by the readers that ask for them at the same time.
//!
//! Every read of a seat map asks the store for the map's current version, so that no reader is
//! served a map older than a change it could have seen. When many buyers read one event at once,
//! one query can answer every reader that arrived before it was sent: a reader that arrives while
//! a query is under way waits for the next one, sent after it arrived, so it still sees every
//! change committed before it asked. The store then answers one query per round instead of one
//! per reader.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// The readers of one key waiting for the next check, and whether a check is under way.
struct Round<V> {
    running: bool,
    waiting: Vec<oneshot::Sender<V>>,
}

impl<V> Default for Round<V> {
    fn default() -> Self {
        Round {
            running: false,
            waiting: Vec::new(),
        }
    }
}

pub struct SharedChecks<K, V> {
    rounds: Mutex<HashMap<K, Round<V>>>,
}

impl<K, V> Default for SharedChecks<K, V> {
    fn default() -> Self {
        SharedChecks {
            rounds: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, V> SharedChecks<K, V>
where
    K: Hash + Eq + Copy + Send + 'static,
    V: Clone + Send + 'static,
{
    /// The answer of a `check` of `key` sent after this call began, shared with every other
    /// caller waiting for the same round.
    pub async fn check<F, Fut>(self: &Arc<Self>, key: K, check: F) -> V
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut rounds = self.lock();
            let round = rounds.entry(key).or_default();
            round.waiting.push(answer);
            !std::mem::replace(&mut round.running, true)
        };
        let check = Arc::new(check);
        if start {
            let checks = self.clone();
            let rounds_check = check.clone();
            tokio::spawn(async move { checks.run_rounds(key, rounds_check).await });
        }
        match answered.await {
            Ok(value) => value,
            // The rounds ended without an answer (their task failed): ask on our own.
            Err(_) => (*check)().await,
        }
    }

    /// Runs rounds of `key` until nobody waits: each takes the readers waiting when it starts.
    async fn run_rounds<F, Fut>(&self, key: K, check: Arc<F>)
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: Future<Output = V> + Send,
    {
        // Should this task end early (a panic in `check`), the readers it holds learn it from
        // their dropped channels, and the next reader starts the rounds afresh.
        let _forget_on_exit = ForgetOnExit { checks: self, key };
        loop {
            let waiting = {
                let mut rounds = self.lock();
                match rounds.get_mut(&key) {
                    Some(round) if !round.waiting.is_empty() => std::mem::take(&mut round.waiting),
                    _ => return,
                }
            };
            let value = (*check)().await;
            for reader in waiting {
                let _ = reader.send(value.clone());
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Round<V>>> {
        // A poisoned map only lost a round's bookkeeping; its readers fall back to asking alone.
        self.rounds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct ForgetOnExit<'a, K: Hash + Eq + Copy, V> {
    checks: &'a SharedChecks<K, V>,
    key: K,
}

impl<K: Hash + Eq + Copy, V> Drop for ForgetOnExit<'_, K, V> {
    fn drop(&mut self) {
        let mut rounds = self
            .checks
            .rounds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        rounds.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_at_once_share_a_check_that_began_after_they_asked() {
        let checks = Arc::new(SharedChecks::<u8, u64>::default());
        let version = Arc::new(AtomicU64::new(0));
        let queries = Arc::new(AtomicU64::new(0));
        let check = {
            let (version, queries) = (version.clone(), queries.clone());
            move || {
                let (version, queries) = (version.clone(), queries.clone());
                async move {
                    queries.fetch_add(1, Ordering::SeqCst);
                    let seen = version.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    seen
                }
            }
        };
        let readers: Vec<_> = (0..50)
            .map(|_| {
                let (checks, check) = (checks.clone(), check.clone());
                tokio::spawn(async move { checks.check(1, check).await })
            })
            .collect();
        for reader in readers {
            assert_eq!(reader.await.unwrap(), 0);
        }
        assert!(
            queries.load(Ordering::SeqCst) <= 3,
            "fifty readers at once need a round or two, not fifty queries"
        );

        // A change made before a reader asks is seen by it, even while a round is under way.
        let under_way = {
            let (checks, check) = (checks.clone(), check.clone());
            tokio::spawn(async move { checks.check(1, check).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        version.store(7, Ordering::SeqCst);
        assert_eq!(checks.check(1, check.clone()).await, 7);
        assert!(under_way.await.unwrap() <= 7);
    }

    #[tokio::test]
    async fn a_failed_round_leaves_its_readers_to_ask_alone() {
        let checks = Arc::new(SharedChecks::<u8, u64>::default());
        let calls = Arc::new(AtomicU64::new(0));
        let check = {
            let calls = calls.clone();
            move || {
                let calls = calls.clone();
                async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        panic!("the store's first answer fails");
                    }
                    5
                }
            }
        };
        assert_eq!(checks.check(1, check.clone()).await, 5);
        assert_eq!(checks.check(1, check).await, 5, "later rounds run again");
    }
}
