//! A streaming replica for the reads that may be a little old: event lists, event details and
//! seat maps. Every decision, every write and every read that must see the caller's own write
//! stays on the primary.
//!
//! How old the replica's data is, is measured, not guessed: each check reads the primary's
//! write-ahead-log position, then the position the replica has replayed. Once the replica has
//! replayed a position read at instant `t`, it holds everything committed before `t`; its data is
//! then at most `now - t` old. A replica whose data may be older than the bound (it lags, or no
//! check has reached it) serves nothing until a check shows it caught up; nothing is read from it
//! on the strength of a guess.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use application::ports::{ReadReplicaState, ReadReplicaStatus, ReplicaHealth};

use super::{store_error, PostgresStore};

/// What `/ready` says of a replica that a connection or a statement could not reach.
const DOES_NOT_ANSWER: &str = "it does not answer";

/// The checks of the primary's positions kept while the replica has not reached them.
const SAMPLES_KEPT: usize = 64;

/// A read replica and what is known of its freshness.
pub struct ReadReplica {
    pool: PgPool,
    max_lag: Duration,
    known: Mutex<Freshness>,
}

#[derive(Default)]
struct Freshness {
    /// The latest instant before which everything committed on the primary is on the replica.
    caught_up_to: Option<Instant>,
    /// Primary positions read at these instants that the replica had not replayed yet.
    waiting: VecDeque<(Instant, u64)>,
    /// Why the last check failed, if it did.
    problem: Option<String>,
}

impl ReadReplica {
    /// A replica over `pool`, used while its data is at most `max_lag` old.
    pub fn new(pool: PgPool, max_lag: Duration) -> Arc<Self> {
        Arc::new(ReadReplica {
            pool,
            max_lag,
            known: Mutex::default(),
        })
    }

    /// How often the freshness is checked: well inside the bound, so that a replica that keeps
    /// up is never taken for one that lags.
    pub fn check_every(&self) -> Duration {
        (self.max_lag / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    fn known(&self) -> MutexGuard<'_, Freshness> {
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How old the replica's data may be at most, now; `None` when no check has shown it
    /// caught up to anything.
    pub fn lag(&self) -> Option<Duration> {
        self.known().caught_up_to.map(|instant| instant.elapsed())
    }

    /// Whether reads may go to the replica now.
    pub fn is_fresh(&self) -> bool {
        self.lag().is_some_and(|lag| lag <= self.max_lag)
    }

    /// A connection to the replica while it is fresh; `None` sends the read to the primary.
    pub(super) async fn connection(&self) -> Option<PoolConnection<Postgres>> {
        if !self.is_fresh() {
            return None;
        }
        match self.pool.acquire().await {
            Ok(connection) => Some(connection),
            Err(error) => {
                self.failed(DOES_NOT_ANSWER, &error);
                None
            }
        }
    }

    /// The replica failed a read or a check: reads go to the primary until a check finds it
    /// usable again. `problem` is WarTawa's own words, shown by `/ready` to anyone; `cause` (a
    /// driver's message may name hosts or roles) goes to the log only, once, when the replica
    /// starts failing, not at every check.
    pub(super) fn failed(&self, problem: &str, cause: &dyn std::fmt::Display) {
        let mut known = self.known();
        if known.problem.is_none() {
            tracing::warn!(
                problem,
                %cause,
                "the read replica is unusable; reading from the primary until a check finds it usable"
            );
        }
        known.problem = Some(problem.to_string());
        known.caught_up_to = None;
        known.waiting.clear();
    }

    /// Records that the primary was at `position` at `instant`, and that the replica has
    /// replayed up to `replayed`.
    fn observed(&self, instant: Instant, position: u64, replayed: u64) {
        let mut known = self.known();
        if known.problem.take().is_some() {
            tracing::info!("the read replica answers again");
        }
        known.waiting.push_back((instant, position));
        while known.waiting.len() > SAMPLES_KEPT {
            known.waiting.pop_front();
        }
        let reached = known
            .waiting
            .iter()
            .filter(|(_, position)| *position <= replayed)
            .map(|(instant, _)| *instant)
            .max();
        if let Some(reached) = reached {
            known.caught_up_to = Some(known.caught_up_to.map_or(reached, |old| old.max(reached)));
            known.waiting.retain(|(instant, _)| *instant > reached);
        }
    }
}

impl ReadReplicaStatus for ReadReplica {
    fn state(&self) -> ReadReplicaState {
        let lag = self.lag();
        let problem = self.known().problem.clone();
        let health = match (problem, lag) {
            (Some(problem), _) => ReplicaHealth::Unusable(problem),
            (None, Some(lag)) if lag <= self.max_lag => ReplicaHealth::Fresh,
            (None, _) => ReplicaHealth::Lagging,
        };
        ReadReplicaState {
            health,
            lag,
            max_lag: self.max_lag,
        }
    }
}

/// A write-ahead-log position as PostgreSQL writes it (`16/B374D848`), as one number.
fn parse_position(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

impl PostgresStore {
    /// One freshness check of the read replica, if there is one. A replica is used only while
    /// it is a standby replaying this very database: its identity (drawn once per database and
    /// replicated, `database_identity`) is the primary's.
    pub async fn check_replica(&self) {
        let Some(replica) = &self.replica else {
            return;
        };
        let instant = Instant::now();
        let primary = async {
            let mut session = self.connection().await?;
            let read: (String, String) = sqlx::query_as(
                "SELECT pg_current_wal_lsn()::text, (SELECT id::text FROM database_identity)",
            )
            .fetch_one(&mut *session)
            .await
            .map_err(store_error)?;
            Ok::<_, application::ports::StoreError>(read)
        };
        let (position, identity) = match primary.await {
            Ok(read) => read,
            // The primary's trouble is the primary's to report; the replica is not judged.
            Err(error) => {
                tracing::debug!(%error, "the primary's position could not be read");
                return;
            }
        };
        let replayed: Result<(bool, Option<String>, Option<String>), sqlx::Error> = sqlx::query_as(
            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, \
                 (SELECT id::text FROM database_identity)",
        )
        .fetch_one(&replica.pool)
        .await;
        let (in_recovery, replayed, replica_identity) = match replayed {
            Ok(read) => read,
            Err(error) => return replica.failed(DOES_NOT_ANSWER, &error),
        };
        if !in_recovery {
            let problem = "not a standby: it replays no primary's log";
            return replica.failed(problem, &problem);
        }
        if replica_identity.as_deref() != Some(identity.as_str()) {
            let problem = "a standby of another database than DATABASE_URL's";
            return replica.failed(problem, &problem);
        }
        match (
            parse_position(&position),
            replayed.as_deref().map(parse_position),
        ) {
            (Some(position), Some(Some(replayed))) => replica.observed(instant, position, replayed),
            (_, None) => {
                let problem = "the standby has replayed nothing yet";
                replica.failed(problem, &problem)
            }
            _ => replica.failed(
                "its log positions do not read as positions",
                &format!("{position}, {replayed:?}"),
            ),
        }
        if let Some(lag) = replica.lag() {
            metrics::gauge!(crate::metrics::READ_REPLICA_LAG).set(lag.as_secs_f64());
        }
    }

    /// Checks the read replica's freshness for as long as the process runs.
    pub fn watch_replica(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let every = self.replica.as_ref()?.check_every();
        let store = self.clone();
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                store.check_replica().await;
            }
        }))
    }

    /// A connection to the read replica while it is fresh; `None` when there is none or it is
    /// not fresh: the read goes to the primary.
    pub(super) async fn replica_connection(&self) -> Option<PoolConnection<Postgres>> {
        self.replica.as_ref()?.connection().await
    }

    /// A read on the replica failed: it is bypassed until a check finds it usable again.
    pub(super) fn replica_failed(&self, error: &dyn std::fmt::Display) {
        if let Some(replica) = &self.replica {
            replica.failed("a read failed", error);
        }
    }
}

/// Counts a read that could have gone to the replica, by where it was served.
pub(super) fn count_browsing_read(from_replica: bool) {
    let served_by = if from_replica { "replica" } else { "primary" };
    metrics::counter!(crate::metrics::BROWSING_READS, "served_by" => served_by).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica() -> Arc<ReadReplica> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("a lazy pool");
        ReadReplica::new(pool, Duration::from_millis(100))
    }

    #[test]
    fn positions_read_as_postgresql_writes_them() {
        assert_eq!(parse_position("0/0"), Some(0));
        assert_eq!(
            parse_position("16/B374D848"),
            Some((0x16 << 32) | 0xB374_D848)
        );
        assert_eq!(parse_position("16"), None);
        assert_eq!(parse_position("x/1"), None);
    }

    #[tokio::test]
    async fn a_replica_is_fresh_only_once_it_has_replayed_a_position_read_from_the_primary() {
        let replica = replica();
        assert!(!replica.is_fresh(), "nothing known yet");
        let first = Instant::now();
        replica.observed(first, 100, 99);
        assert!(!replica.is_fresh(), "behind the primary's position");
        let second = Instant::now();
        replica.observed(second, 120, 100);
        assert!(replica.is_fresh(), "it reached the first position");
        assert_eq!(replica.known().caught_up_to, Some(first));
        replica.observed(Instant::now(), 130, 130);
        assert!(replica.known().caught_up_to > Some(second));
    }

    #[tokio::test]
    async fn a_replica_that_stops_catching_up_ages_out_and_a_failure_bypasses_it_at_once() {
        let replica = replica();
        replica.observed(Instant::now() - Duration::from_millis(150), 10, 10);
        assert!(!replica.is_fresh(), "its data is older than the bound");
        assert_eq!(replica.state().health, ReplicaHealth::Lagging);
        replica.observed(Instant::now(), 20, 20);
        assert_eq!(replica.state().health, ReplicaHealth::Fresh);
        replica.failed(DOES_NOT_ANSWER, &"connection refused");
        assert!(!replica.is_fresh());
        assert_eq!(
            replica.state().health,
            ReplicaHealth::Unusable(DOES_NOT_ANSWER.into())
        );
    }
}
