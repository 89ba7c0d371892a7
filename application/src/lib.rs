//! WarTawa's use cases and the ports they need. Knows the domain; knows no adapter.

pub mod audit;
pub mod auth;
pub mod bookings;
pub mod dashboard;
pub mod door;
pub mod events;
pub mod health;
pub mod idempotency;
pub mod notifications;
pub mod ports;
pub mod users;
pub mod views;

pub use ports::{Page, Paged, StoreError};
