//! PostgreSQL for tests: a fresh, migrated database per test, dropped afterwards.
//!
//! The server comes from `TEST_DATABASE_URL` or `DATABASE_URL`; without either, from a
//! throw-away container when a Docker engine answers (testcontainers). With neither, PostgreSQL
//! tests say loudly that they were skipped, or fail when `WARTAWA_REQUIRE_POSTGRES=1` (as in CI).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sqlx::{Connection, PgConnection, PgPool};
use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::ContainerAsync;
use tokio::sync::OnceCell;

use adapters::postgres::{PostgresSettings, PostgresStore};
use application::ports::CodeGenerator;

use crate::http_harness::{AppFactory, TestStores};
use crate::store_contract::{contract_codes, StoreFactory, Stores};

/// Connections per test database: enough for the races, few enough for many tests at once.
const POOL_SIZE: u32 = 16;

/// A server to create test databases on, found once per test binary.
struct Server {
    url: String,
    /// Kept alive for the whole test binary when the server is a container.
    _container: Option<ContainerAsync<Postgres>>,
}

static SERVER: OnceCell<Option<Server>> = OnceCell::const_new();

async fn find_server() -> Option<Server> {
    let configured = ["TEST_DATABASE_URL", "DATABASE_URL"]
        .iter()
        .find_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|url| !url.trim().is_empty())
        });
    if let Some(url) = configured {
        return Some(Server {
            url,
            _container: None,
        });
    }
    match Postgres::default().start().await {
        Ok(container) => {
            let port = container.get_host_port_ipv4(5432).await.ok()?;
            let url = format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres");
            Some(Server {
                url,
                _container: Some(container),
            })
        }
        Err(error) => {
            eprintln!("no Docker engine for a PostgreSQL container: {error}");
            None
        }
    }
}

/// The server's URL, or `None` after announcing the skip (or failing, when PostgreSQL is required).
pub async fn server_url() -> Option<String> {
    let server = SERVER.get_or_init(find_server).await;
    match server {
        Some(server) => Some(server.url.clone()),
        None => {
            let reason =
                "neither DATABASE_URL nor TEST_DATABASE_URL is set and no Docker engine answers";
            if std::env::var("WARTAWA_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL is required (WARTAWA_REQUIRE_POSTGRES=1) but {reason}");
            }
            // Written to the stream itself, past the test harness's capture, so that a skip is seen.
            let _ = writeln!(
                std::io::stderr(),
                "*** SKIPPED: a PostgreSQL test did not run: {reason}; set DATABASE_URL to run it ***"
            );
            None
        }
    }
}

/// The URL of database `name` on the server of `server_url`.
fn database_url(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |index| authority_start + index);
    format!("{}/{name}{query}", &base[..path_start])
}

static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// A database made for one test; dropping it drops the database.
pub struct TestDatabase {
    pub url: String,
    pub pool: PgPool,
    name: String,
    server_url: String,
}

impl TestDatabase {
    /// Creates and migrates a database, or `None` when PostgreSQL tests are skipped.
    pub async fn create() -> Option<TestDatabase> {
        let database = TestDatabase::create_unmigrated().await?;
        adapters::postgres::migrate(&database.pool)
            .await
            .expect("migrate the test database");
        Some(database)
    }

    /// Creates an empty database, for a test to migrate as it needs (e.g. up to a version, to
    /// show what a later migration does to the data of an existing database), or `None` when
    /// PostgreSQL tests are skipped.
    pub async fn create_unmigrated() -> Option<TestDatabase> {
        let server_url = server_url().await?;
        let name = format!(
            "wartawa_test_{}_{}",
            std::process::id(),
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&server_url)
            .await
            .expect("connect to the PostgreSQL server");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .execute(&mut admin)
        .await
        .expect("drop a stale test database");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let url = database_url(&server_url, &name);
        let pool = adapters::postgres::pool(&PostgresSettings::new(url.clone(), POOL_SIZE))
            .expect("a pool on the test database");
        Some(TestDatabase {
            url,
            pool,
            name,
            server_url,
        })
    }

    /// The database's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn store(&self, codes: Arc<dyn CodeGenerator>) -> Arc<PostgresStore> {
        Arc::new(PostgresStore::new(self.pool.clone(), codes))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server_url, name, pool) = (
            self.server_url.clone(),
            self.name.clone(),
            self.pool.clone(),
        );
        // Drop runs outside any runtime guarantee, so the clean-up gets a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                pool.close().await;
                let mut admin = PgConnection::connect(&server_url).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// Apps for the HTTP suite: each over a new database; a second instance gets its own pool.
/// `None` when PostgreSQL tests are skipped.
pub async fn app_factory() -> Option<AppFactory> {
    server_url().await?;
    Some(AppFactory::new(|| async {
        let database = TestDatabase::create()
            .await
            .expect("a PostgreSQL server was found before");
        let (pool, url) = (database.pool.clone(), database.url.clone());
        TestStores::new(Stores::postgres(pool), database).reopened_by(move || {
            let url = url.clone();
            async move {
                let pool = adapters::postgres::open(&PostgresSettings::new(url, POOL_SIZE))
                    .await
                    .expect("another pool on the test database");
                Stores::postgres(pool)
            }
        })
    }))
}

/// Stores for the repository contract: each `fresh()` is a new database.
pub struct PostgresStores {
    databases: Mutex<Vec<TestDatabase>>,
}

impl PostgresStores {
    /// `None` when PostgreSQL tests are skipped.
    pub async fn new() -> Option<PostgresStores> {
        server_url().await?;
        Some(PostgresStores {
            databases: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl StoreFactory for PostgresStores {
    async fn fresh(&self) -> Stores {
        let database = TestDatabase::create()
            .await
            .expect("a PostgreSQL server was found before");
        let stores = Stores::of_postgres(database.store(contract_codes()));
        self.databases
            .lock()
            .expect("databases lock")
            .push(database);
        stores
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn test_databases_live_on_the_configured_server() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u:p@db:5432/app?sslmode=disable", "t1"),
            "postgres://u:p@db:5432/t1?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://localhost", "t1"),
            "postgres://localhost/t1"
        );
    }
}
