//! WarTawa's shared test suites, run from `tests/tests/` against each adapter.

pub mod store_contract;
