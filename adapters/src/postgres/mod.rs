//! The PostgreSQL store: the production store behind the same ports as the embedded one.
//!
//! Every atomic command is one transaction. Writers of an event take its row lock first
//! (`SELECT … FOR UPDATE` on `events`), so that the seats, the phase quotas and each customer's
//! tickets of that event are read and written as one consistent snapshot; the decision itself
//! comes from the domain, as in the embedded store, and the writes state no rule: they store
//! what the domain decided and move the counters by what it computed, compared-and-set on the
//! facts it read. The two commands of an on-sale rush, booking and paying, go through their
//! show's writer (`sale`), which takes the requests that arrive together as one batch: one
//! transaction, one lock, one commit. The schema refuses what must never happen even if a bug
//! slipped past: a seat in two open bookings, a phase sold past its quota.

mod audit;
mod bookings;
mod events;
mod idempotency;
mod notifications;
mod rate_counter;
mod replica;
mod rows;
mod sale;
mod seat_signals;
mod users;

pub use replica::ReadReplica;
pub use seat_signals::PostgresSeatSignals;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;

use application::ports::{CodeGenerator, StoreError};

/// The schema, embedded at build time from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How a connection to the database is made.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    pub url: String,
    pub pool_size: u32,
    /// How long a request waits for a free connection before answering 503.
    pub acquire_timeout: Duration,
    /// How long a statement waits for a row lock before giving up (`lock_timeout`).
    pub lock_timeout: Duration,
    /// The longest any statement may run (`statement_timeout`).
    pub statement_timeout: Duration,
    /// What lends the connections: PostgreSQL itself, or a pooler per transaction.
    pub pool_mode: PoolMode,
}

/// What is between WarTawa and PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolMode {
    /// Each connection is a session of its own: directly, or through a pooler in session mode.
    /// Statements are prepared once per connection and kept; the timeouts are set when the
    /// connection opens.
    #[default]
    Session,
    /// A pooler lends a server connection for one transaction at a time (pgbouncer's
    /// `pool_mode = transaction`): nothing may outlive a transaction. Every statement runs inside
    /// an explicit transaction (a statement's parse and its execution are two round trips, which
    /// the pooler could otherwise send to two different servers); no prepared statement is kept
    /// (the ones a transaction made are dropped when the next one begins on that server); the
    /// timeouts are set at the start of each transaction, since the pooler refuses them as
    /// start-up parameters. Migrations and the live seat map's `LISTEN` need a session of their
    /// own: they connect directly (`DATABASE_DIRECT_URL`).
    Transaction,
}

impl PostgresSettings {
    pub fn new(url: impl Into<String>, pool_size: u32) -> Self {
        PostgresSettings {
            url: url.into(),
            pool_size,
            acquire_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(15),
            pool_mode: PoolMode::Session,
        }
    }

    /// The statement that opens each transaction behind a transaction pooler: the transaction,
    /// the server's prepared statements of earlier transactions dropped, and the timeouts for
    /// this transaction only. One round trip, as a plain `BEGIN` is.
    fn pinned_begin(&self) -> Option<String> {
        (self.pool_mode == PoolMode::Transaction).then(|| {
            format!(
                "BEGIN; DEALLOCATE ALL; SET LOCAL lock_timeout = '{}ms'; \
                 SET LOCAL statement_timeout = '{}ms'; SET LOCAL random_page_cost = {RANDOM_PAGE_COST}",
                self.lock_timeout.as_millis(),
                self.statement_timeout.as_millis()
            )
        })
    }
}

/// Why the store could not be opened, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    BadUrl(String),
    #[error("cannot connect to the database: {0}")]
    Unreachable(String),
    #[error("cannot apply the database migrations: {0}")]
    Migration(String),
}

/// The planner's cost of reading a page out of order, against 1.0 in order. WarTawa's working set
/// (the seats and bookings of the shows on sale) stays in memory, where an out-of-order read costs
/// about what an in-order one does; at PostgreSQL's default of 4 the planner preferred reading every
/// seat of a small database to a few index probes (a booking's seats by booking, the requested
/// seats of a booking).
const RANDOM_PAGE_COST: &str = "1.1";

/// How each connection is made: the URL, the lock and statement timeouts, the planner's page cost.
/// Behind a transaction pooler, with no start-up options (pgbouncer refuses them) and no kept
/// statements (see [`PoolMode::Transaction`]).
fn connect_options(settings: &PostgresSettings) -> Result<PgConnectOptions, OpenError> {
    let millis = |duration: Duration| format!("{}ms", duration.as_millis());
    let options = PgConnectOptions::from_str(&settings.url)
        .map_err(|error| OpenError::BadUrl(error.to_string()))?
        .application_name("wartawa");
    Ok(match settings.pool_mode {
        PoolMode::Session => options.options([
            ("lock_timeout", millis(settings.lock_timeout)),
            ("statement_timeout", millis(settings.statement_timeout)),
            ("random_page_cost", RANDOM_PAGE_COST.to_string()),
        ]),
        PoolMode::Transaction => options.statement_cache_capacity(0),
    })
}

/// A pooled connection that has waited longer than this is pinged before it is handed out; one
/// used more recently is taken as alive. Pinging on every hand-out cost a round trip per query (a
/// booking makes several): 7 % of the on-sale's bookings/s. A connection that died within that
/// second (the database restarted) fails its next query as unavailable, which answers 503 with
/// `Retry-After`, and is replaced.
const PING_CONNECTIONS_IDLE_FOR: Duration = Duration::from_secs(1);

/// Opens a pool of connections; nothing is connected until the first use.
pub fn pool(settings: &PostgresSettings) -> Result<PgPool, OpenError> {
    Ok(PgPoolOptions::new()
        .max_connections(settings.pool_size)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_CONNECTIONS_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(connect_options(settings)?))
}

/// Connects once to tell an unreachable or misnamed database apart from a working one, then
/// opens the pool.
pub async fn connect(settings: &PostgresSettings) -> Result<PgPool, OpenError> {
    let mut probe = PgConnection::connect_with(&connect_options(settings)?)
        .await
        .map_err(|error| OpenError::Unreachable(error.to_string()))?;
    probe
        .ping()
        .await
        .map_err(|error| OpenError::Unreachable(error.to_string()))?;
    let _ = probe.close().await;
    pool(settings)
}

/// [`connect`], then brings the schema up to date over the same pool (a session of its own:
/// not behind a transaction pooler, see [`PoolMode::Transaction`]).
pub async fn open(settings: &PostgresSettings) -> Result<PgPool, OpenError> {
    let pool = connect(settings).await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Applies the migrations not yet applied; safe to run from several processes at once.
pub async fn migrate(pool: &PgPool) -> Result<(), OpenError> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|error| OpenError::Migration(error.to_string()))?;
    // Data that only WarTawa can compute, for rows made before it was kept.
    users::fill_in_email_skeletons(pool)
        .await
        .map_err(|error| OpenError::Migration(error.to_string()))?;
    Ok(())
}

/// The store; implements the user, event and booking repositories, the audit log and the
/// idempotency keys.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Behind a transaction pooler: the statement each transaction begins with.
    pinned_begin: Option<Arc<str>>,
    /// Where event lists, event details and seat maps are read while it is fresh.
    replica: Option<Arc<ReadReplica>>,
    codes: Arc<dyn CodeGenerator>,
    /// Each show's bookings and payments waiting for its writer (see `sale`).
    sales: Arc<sale::SaleQueues>,
    /// Whether buyers are e-mailed: every change's notification is then recorded, whether or
    /// not a webhook endpoint listens.
    buyer_emails: Arc<std::sync::atomic::AtomicBool>,
}

impl PostgresStore {
    pub fn new(pool: PgPool, codes: Arc<dyn CodeGenerator>) -> Self {
        PostgresStore {
            pool,
            pinned_begin: None,
            replica: None,
            codes,
            sales: Arc::default(),
            buyer_emails: Arc::default(),
        }
    }

    /// The store as `settings` say its pool is lent (see [`PoolMode`]).
    pub fn lent_as(mut self, settings: &PostgresSettings) -> Self {
        self.pinned_begin = settings.pinned_begin().map(Arc::from);
        self
    }

    /// Reads event lists, event details and seat maps from `replica` while it is fresh.
    pub fn reading_from(mut self, replica: Arc<ReadReplica>) -> Self {
        self.replica = Some(replica);
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The read replica, when reads go to one.
    pub fn read_replica(&self) -> Option<Arc<ReadReplica>> {
        self.replica.clone()
    }

    /// A connection for statements outside a transaction of the caller's; how long it took to
    /// get one is the pool's wait, measured. Behind a transaction pooler it is a transaction: a
    /// caller that writes calls [`Session::finish`].
    async fn connection(&self) -> Result<Session, StoreError> {
        match &self.pinned_begin {
            None => self.pooled().await.map(Session::Connection),
            Some(_) => self.transaction().await.map(Session::Transaction),
        }
    }

    /// A connection of the pool as it is, for a caller that runs nothing on it but the
    /// transactions it opens with [`PostgresStore::begin_on`] (the sale's writer).
    async fn pooled(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, StoreError> {
        let asked = std::time::Instant::now();
        let connection = self.pool.acquire().await.map_err(store_error);
        record_pool_wait(asked);
        connection
    }

    /// A transaction on a connection from the pool, its wait measured as `connection`'s.
    async fn transaction(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        let asked = std::time::Instant::now();
        let transaction = match &self.pinned_begin {
            None => self.pool.begin().await,
            Some(begin) => {
                self.pool
                    .begin_with(sqlx::AssertSqlSafe(begin.to_string()))
                    .await
            }
        }
        .map_err(store_error);
        record_pool_wait(asked);
        transaction
    }

    /// A transaction on a connection the caller holds (the sale's writer keeps one).
    async fn begin_on<'c>(
        &self,
        connection: &'c mut PgConnection,
    ) -> Result<sqlx::Transaction<'c, sqlx::Postgres>, StoreError> {
        match &self.pinned_begin {
            None => connection.begin().await,
            Some(begin) => {
                connection
                    .begin_with(sqlx::AssertSqlSafe(begin.to_string()))
                    .await
            }
        }
        .map_err(store_error)
    }
}

/// A connection for statements outside a caller's transaction: the pool's connection itself,
/// or, behind a transaction pooler, a transaction that keeps one server connection for them.
pub(super) enum Session {
    Connection(sqlx::pool::PoolConnection<sqlx::Postgres>),
    Transaction(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Session {
    /// Makes what was written durable: behind a transaction pooler the session's transaction
    /// commits (dropped unfinished, it rolls back: enough for reads).
    async fn finish(self) -> Result<(), StoreError> {
        match self {
            Session::Connection(_) => Ok(()),
            Session::Transaction(transaction) => transaction.commit().await.map_err(store_error),
        }
    }
}

impl std::ops::Deref for Session {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match self {
            Session::Connection(connection) => connection,
            Session::Transaction(transaction) => transaction,
        }
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Session::Connection(connection) => connection,
            Session::Transaction(transaction) => transaction,
        }
    }
}

fn record_pool_wait(asked: std::time::Instant) {
    metrics::histogram!(crate::metrics::DATABASE_ACQUIRE).record(asked.elapsed().as_secs_f64());
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool_size", &self.pool.size())
            .finish()
    }
}

/// SQLSTATE codes the store tells apart.
mod sqlstate {
    pub const UNIQUE_VIOLATION: &str = "23505";
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
    pub const QUERY_CANCELED: &str = "57014";
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const DEADLOCK_DETECTED: &str = "40P01";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const CANNOT_CONNECT_NOW: &str = "57P03";
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
}

/// The name of the unique constraint a write broke, if that is what failed.
fn violated_unique(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(sqlstate::UNIQUE_VIOLATION) => {
            db.constraint()
        }
        _ => None,
    }
}

/// Database errors never cross the adapter: each becomes the store error a caller can act on.
fn store_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => StoreError::Unavailable(error.to_string()),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some(
                sqlstate::LOCK_NOT_AVAILABLE
                | sqlstate::QUERY_CANCELED
                | sqlstate::SERIALIZATION_FAILURE
                | sqlstate::DEADLOCK_DETECTED,
            ) => StoreError::Busy(error.to_string()),
            Some(
                sqlstate::ADMIN_SHUTDOWN
                | sqlstate::CANNOT_CONNECT_NOW
                | sqlstate::TOO_MANY_CONNECTIONS,
            ) => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Unexpected(error.to_string()),
        },
        _ => StoreError::Unexpected(error.to_string()),
    }
}

/// A stored value that does not parse: the data is corrupt, which no client can fix.
fn corrupt(what: &str, problem: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(format!("stored {what} is invalid: {problem}"))
}
