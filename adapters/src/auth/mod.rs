//! Password hashing and tokens.
