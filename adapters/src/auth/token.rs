//! Bearer tokens: HS256 JSON Web Tokens checked against a caller-supplied time.

use std::fmt;

use chrono::Duration;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use application::ports::{IssuedToken, TokenClaims, TokenError, TokenService};
use domain::user::{Role, User, UserId};
use domain::Timestamp;

/// Bytes in a secret made by [`JwtTokenService::random_secret`]: the output size of SHA-256,
/// which is what HS256 needs for full strength.
pub const RANDOM_SECRET_BYTES: usize = 32;

/// What a WarTawa token carries.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id; a string, as RFC 7519 wants for `sub`.
    sub: String,
    role: String,
    /// The user's token version when issued; a newer version on the account revokes the token.
    ver: i64,
    iat: i64,
    exp: i64,
}

/// Issues and verifies HS256 tokens with one shared secret.
pub struct JwtTokenService {
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl JwtTokenService {
    /// A service signing with `secret` (at least 32 bytes is sensible; the configuration
    /// enforces it) whose tokens live for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> JwtTokenService {
        JwtTokenService {
            encoding_key: EncodingKey::from_secret(secret),
            decoding_key: DecodingKey::from_secret(secret),
            validation: hs256_signature_only(),
            ttl,
        }
    }

    /// A fresh secret for running without a configured one. Tokens signed with it die with
    /// the process, so this only suits a single process with the embedded store.
    pub fn random_secret() -> Vec<u8> {
        let mut secret = vec![0u8; RANDOM_SECRET_BYTES];
        // `rand::rng()` is a cryptographically secure generator seeded from the OS.
        rand::rng().fill_bytes(&mut secret);
        secret
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// Only HS256 is accepted (so `alg: none` and algorithm swaps fail) and the signature is
/// checked; expiry is left to [`expiry_check`] so that it uses the caller's `now`, not the
/// library's clock.
fn hs256_signature_only() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation
}

/// A token is good until the second of its `exp`, not at it (no leeway).
fn expiry_check(exp: i64, now: Timestamp) -> Result<(), TokenError> {
    if exp <= now.timestamp() {
        Err(TokenError::Expired)
    } else {
        Ok(())
    }
}

fn claims_for(user: &User, now: Timestamp, ttl: Duration) -> Claims {
    Claims {
        sub: user.id.0.to_string(),
        role: user.role.as_str().to_string(),
        ver: user.token_version,
        iat: now.timestamp(),
        exp: (now + ttl).timestamp(),
    }
}

fn token_claims(claims: &Claims) -> Result<TokenClaims, TokenError> {
    let user_id = claims.sub.parse::<i64>().map_err(|_| TokenError::Invalid)?;
    let role = Role::parse(&claims.role).map_err(|_| TokenError::Invalid)?;
    Ok(TokenClaims {
        user_id: UserId(user_id),
        role,
        token_version: claims.ver,
    })
}

impl TokenService for JwtTokenService {
    fn issue(&self, user: &User, now: Timestamp) -> Result<IssuedToken, TokenError> {
        let claims = claims_for(user, now, self.ttl);
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding_key)
                .map_err(|error| TokenError::Issue(error.to_string()))?;
        Ok(IssuedToken {
            token,
            expires_in_seconds: self.ttl.num_seconds(),
        })
    }

    fn verify(&self, token: &str, now: Timestamp) -> Result<TokenClaims, TokenError> {
        // Any decoding failure (shape, algorithm, signature, claims) is simply "not valid":
        // a client can do nothing more useful with the detail.
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding_key, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        expiry_check(data.claims.exp, now)?;
        token_claims(&data.claims)
    }
}

impl fmt::Debug for JwtTokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtTokenService")
            .field("secret", &"***")
            .field("ttl", &self.ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use domain::user::{Email, PersonName};

    const SECRET: &[u8] = b"a-test-secret-that-is-32-bytes-long!";

    fn noon() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    fn service() -> JwtTokenService {
        JwtTokenService::new(SECRET, Duration::hours(24))
    }

    fn user(id: i64, role: Role, token_version: i64) -> User {
        User {
            id: UserId(id),
            name: PersonName::parse("Raditya").unwrap(),
            email: Email::parse("raditya@example.com").unwrap(),
            password_hash: String::new(),
            role,
            nik: None,
            phone_number: None,
            created_at: noon(),
            active: true,
            token_version,
        }
    }

    fn issued_for(user: &User) -> String {
        service().issue(user, noon()).unwrap().token
    }

    /// The header, payload and signature of a compact JWT.
    fn segments(token: &str) -> (&str, &str, &str) {
        let mut parts = token.split('.');
        let segments = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        assert!(parts.next().is_none(), "{token} has more than 3 segments");
        segments
    }

    #[test]
    fn an_issued_token_verifies_to_its_users_claims() {
        let service = service();
        let issued = service.issue(&user(42, Role::Admin, 7), noon()).unwrap();
        assert_eq!(issued.expires_in_seconds, 24 * 3600);
        assert_eq!(
            service.verify(&issued.token, noon() + Duration::hours(23)),
            Ok(TokenClaims {
                user_id: UserId(42),
                role: Role::Admin,
                token_version: 7,
            })
        );
    }

    #[test]
    fn the_subject_is_the_user_id_as_a_string() {
        let token = issued_for(&user(42, Role::Customer, 0));
        let claims: serde_json::Value =
            jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
        assert_eq!(claims["sub"], "42");
        assert_eq!(claims["role"], "customer");
        assert_eq!(claims["exp"], (noon() + Duration::hours(24)).timestamp());
        assert_eq!(claims["iat"], noon().timestamp());
    }

    #[test]
    fn a_token_expires_at_its_exp_second_with_no_leeway() {
        let service = service();
        let token = issued_for(&user(1, Role::Customer, 0));
        let exp = noon() + Duration::hours(24);
        assert!(service.verify(&token, exp - Duration::seconds(1)).is_ok());
        assert_eq!(service.verify(&token, exp), Err(TokenError::Expired));
        assert_eq!(
            service.verify(&token, exp + Duration::days(3)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let other =
            JwtTokenService::new(b"another-secret-also-32-bytes-long!!", Duration::hours(1));
        let token = other.issue(&user(1, Role::Admin, 0), noon()).unwrap().token;
        assert_eq!(service().verify(&token, noon()), Err(TokenError::Invalid));
    }

    #[test]
    fn an_unsigned_alg_none_token_is_invalid() {
        // base64url of {"alg":"none","typ":"JWT"}, put before genuine claims, with no signature.
        const ALG_NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let token = issued_for(&user(1, Role::Admin, 0));
        let (_, payload, _) = segments(&token);
        for forged in [
            format!("{ALG_NONE_HEADER}.{payload}."),
            format!("{ALG_NONE_HEADER}.{payload}"),
        ] {
            assert_eq!(service().verify(&forged, noon()), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn a_token_with_another_algorithm_is_invalid_even_with_the_right_secret() {
        let claims = claims_for(&user(1, Role::Admin, 0), noon(), Duration::hours(1));
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(service().verify(&token, noon()), Err(TokenError::Invalid));
    }

    #[test]
    fn a_tampered_payload_is_invalid() {
        // A customer's signature under an admin's claims: the classic privilege escalation.
        let customer = issued_for(&user(1, Role::Customer, 0));
        let admin = issued_for(&user(1, Role::Admin, 0));
        let (header, _, signature) = segments(&customer);
        let (_, admin_payload, _) = segments(&admin);
        let tampered = format!("{header}.{admin_payload}.{signature}");
        assert_eq!(
            service().verify(&tampered, noon()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn garbage_is_invalid() {
        for garbage in [
            "",
            "Bearer",
            "a.b.c",
            "...",
            "eyJhbGciOiJIUzI1NiJ9..",
            "😀.😀.😀",
        ] {
            assert_eq!(
                service().verify(garbage, noon()),
                Err(TokenError::Invalid),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn random_secrets_are_long_and_differ() {
        let (first, second) = (
            JwtTokenService::random_secret(),
            JwtTokenService::random_secret(),
        );
        assert!(first.len() >= 32);
        assert_ne!(first, second);
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let shown = format!(
            "{:?}",
            JwtTokenService::new(b"top-secret-value", Duration::hours(1))
        );
        assert!(!shown.contains("top-secret"), "{shown}");
    }
}
