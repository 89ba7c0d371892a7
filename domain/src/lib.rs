//! WarTawa's core: entities, value objects and the rules of ticketing, as pure functions of data.
//!
//! Nothing here performs I/O or reads the clock: time is always a parameter.

pub mod audit;
pub mod booking;
pub mod event;
pub mod image;
pub mod money;
pub mod notification;
pub mod payment;
pub mod sale;
pub mod seat;
pub mod ticket;
pub mod user;
pub mod validation;

/// A point in time, always in UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
