//! Password hashing and tokens.

mod password;
mod token;

pub use password::{default_max_concurrent, BcryptHasher, BCRYPT_COSTS};
pub use token::{JwtTokenService, RANDOM_SECRET_BYTES};
