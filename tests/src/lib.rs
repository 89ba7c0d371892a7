//! WarTawa's shared test suites, run from `tests/tests/` against each adapter.

pub mod http_harness;
pub mod http_suite;
pub mod live_server;
pub mod pg_cluster;
pub mod pgbouncer;
pub mod pictures;
pub mod postgres_db;
pub mod smtp_receiver;
pub mod store_contract;
pub mod webhook_receiver;
