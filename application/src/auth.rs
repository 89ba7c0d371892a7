//! Who is asking: turning a bearer token into an actor, and the rules of who may do what.

use std::sync::Arc;

use domain::user::{Role, UserId};

use crate::ports::{Clock, StoreError, TokenService, UserRepository};

/// The authenticated user behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub id: UserId,
    pub role: Role,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The user themself or an admin.
    pub fn may_act_for(&self, user: UserId) -> bool {
        self.is_admin() || self.id == user
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("your session has expired, please log in again")]
    Expired,
    #[error("the access token is not valid, please log in again")]
    InvalidToken,
    /// Issued before a password change, a role change or deactivation.
    #[error("this session is no longer valid, please log in again")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a bearer token: signature and expiry, then that it was issued after the account's last
/// password change, role change or deactivation.
pub struct Authenticate {
    users: Arc<dyn UserRepository>,
    tokens: Arc<dyn TokenService>,
    clock: Arc<dyn Clock>,
}

impl Authenticate {
    pub fn new(
        users: Arc<dyn UserRepository>,
        tokens: Arc<dyn TokenService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Authenticate {
            users,
            tokens,
            clock,
        }
    }

    pub async fn execute(&self, token: &str) -> Result<Actor, AuthError> {
        let claims = self
            .tokens
            .verify(token, self.clock.now())
            .map_err(|error| match error {
                crate::ports::TokenError::Expired => AuthError::Expired,
                _ => AuthError::InvalidToken,
            })?;
        let user = self
            .users
            .find(claims.user_id)
            .await?
            .ok_or(AuthError::Revoked)?;
        if !user.active || user.token_version != claims.token_version || user.role != claims.role {
            return Err(AuthError::Revoked);
        }
        Ok(Actor {
            id: user.id,
            role: user.role,
        })
    }
}

/// A use case's refusal to let this actor do this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("only an admin may do this")]
    AdminOnly,
    #[error("you may only do this for your own account")]
    NotYours,
    #[error("only door staff or an admin may do this")]
    DoorStaffOnly,
    /// Door staff accounts let guests in; they do not buy tickets.
    #[error("a door staff account cannot book tickets")]
    DoorStaffCannotBook,
}

pub fn require_admin(actor: &Actor) -> Result<(), Denied> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(Denied::AdminOnly)
    }
}

/// Admins and door staff (`checker`): checking guests in, reading door lists.
pub fn require_door_staff(actor: &Actor) -> Result<(), Denied> {
    if actor.role.works_the_door() {
        Ok(())
    } else {
        Err(Denied::DoorStaffOnly)
    }
}

/// Customers and admins book seats; a door staff account is for the door only.
pub fn require_may_book(actor: &Actor) -> Result<(), Denied> {
    if actor.role == Role::Checker {
        Err(Denied::DoorStaffCannotBook)
    } else {
        Ok(())
    }
}

pub fn require_self_or_admin(actor: &Actor, user: UserId) -> Result<(), Denied> {
    if actor.may_act_for(user) {
        Ok(())
    } else {
        Err(Denied::NotYours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockTokenService, MockUserRepository, TokenClaims, TokenError};
    use chrono::{TimeZone, Utc};
    use domain::user::{Email, PersonName, User};
    use futures_executor::block_on;

    fn user(version: i64, active: bool) -> User {
        User {
            id: UserId(5),
            name: PersonName::parse("Sari").unwrap(),
            email: Email::parse("sari@example.com").unwrap(),
            password_hash: "hash".into(),
            role: Role::Customer,
            nik: None,
            phone_number: None,
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            active,
            token_version: version,
        }
    }

    fn authenticate(
        stored: Option<User>,
        verified: Result<TokenClaims, TokenError>,
    ) -> Result<Actor, AuthError> {
        let mut users = MockUserRepository::new();
        users.expect_find().returning(move |_| Ok(stored.clone()));
        let mut tokens = MockTokenService::new();
        tokens.expect_verify().return_once(move |_, _| verified);
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap());
        block_on(Authenticate::new(Arc::new(users), Arc::new(tokens), Arc::new(clock)).execute("t"))
    }

    fn claims(version: i64) -> TokenClaims {
        TokenClaims {
            user_id: UserId(5),
            role: Role::Customer,
            token_version: version,
        }
    }

    #[test]
    fn a_current_token_of_an_active_user_authenticates() {
        assert_eq!(
            authenticate(Some(user(2, true)), Ok(claims(2))),
            Ok(Actor {
                id: UserId(5),
                role: Role::Customer
            })
        );
    }

    #[test]
    fn stale_tokens_are_revoked() {
        assert_eq!(
            authenticate(Some(user(3, true)), Ok(claims(2))),
            Err(AuthError::Revoked)
        );
        assert_eq!(
            authenticate(Some(user(2, false)), Ok(claims(2))),
            Err(AuthError::Revoked)
        );
        assert_eq!(authenticate(None, Ok(claims(2))), Err(AuthError::Revoked));
    }

    #[test]
    fn bad_tokens_are_refused() {
        assert_eq!(
            authenticate(Some(user(2, true)), Err(TokenError::Expired)),
            Err(AuthError::Expired)
        );
        assert_eq!(
            authenticate(Some(user(2, true)), Err(TokenError::Invalid)),
            Err(AuthError::InvalidToken)
        );
    }
}
