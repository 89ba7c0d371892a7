//! WarTawa's configuration and wiring, shared by the `wartawa` binary and the test suites.

pub mod config;
pub mod settings;
pub mod wiring;
