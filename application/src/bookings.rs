//! (use cases)
