//! The system clock and random booking codes.
