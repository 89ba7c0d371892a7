//! Accounts: registration, login, profiles, passwords, roles and deactivation.

use std::sync::Arc;

use domain::audit::AuditStamp;
use domain::user::{
    Email, NewUser, Nik, Password, PersonName, PhoneNumber, ProfileChange, Role, User, UserChange,
    UserId,
};
use domain::validation::ValidationErrors;

use crate::auth::{require_admin, require_self_or_admin, Actor, Denied};
use crate::ports::{
    CheckPriority, Clock, HashError, IssuedToken, Page, Paged, PasswordHasher, StoreError,
    TokenService, UserRepository, UserWriteError,
};

/// A customer's sign-up form.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub name: String,
    pub email: String,
    pub password: String,
    pub nik: Option<String>,
    pub phone_number: Option<String>,
}

/// A profile edit; `None` leaves a field as it is, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub email: Option<String>,
    pub nik: Option<Option<String>>,
    pub phone_number: Option<Option<String>>,
    pub role: Option<String>,
}

/// A password change; an admin resetting someone else's password sends no old password.
#[derive(Debug, Clone, Default)]
pub struct PasswordChange {
    pub old_password: Option<String>,
    pub new_password: String,
}

#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub token: IssuedToken,
    pub user: User,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error("an account with an email address that looks the same already exists; please use another address")]
    EmailLooksLikeAnother,
    #[error("an account with this NIK already exists")]
    NikTaken,
    #[error(transparent)]
    PasswordChecksBusy(PasswordChecksBusy),
    #[error("{0}")]
    Unexpected(String),
    #[error(transparent)]
    Store(StoreError),
}

/// Every place for password checks is taken (see `HashError::Busy`): retry in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("many people are logging in or signing up right now; please try again in a moment")]
pub struct PasswordChecksBusy;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// A wrong password, an unknown email, or a deactivated account: one answer for all, so
    /// that a deactivated account's password cannot be confirmed by guessing.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error(transparent)]
    PasswordChecksBusy(PasswordChecksBusy),
    #[error("{0}")]
    Unexpected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListUsersError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetUserError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("user {0} does not exist")]
    NotFound(UserId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateUserError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("only an admin may change a role")]
    RoleChangeDenied,
    #[error("user {0} does not exist")]
    NotFound(UserId),
    #[error("an account with this email address already exists")]
    EmailTaken,
    #[error("an account with an email address that looks the same already exists; please use another address")]
    EmailLooksLikeAnother,
    #[error("an account with this NIK already exists")]
    NikTaken,
    #[error("the last active admin cannot be demoted; promote another admin first")]
    LastAdmin,
    #[error(transparent)]
    Store(StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeactivateUserError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("user {0} does not exist")]
    NotFound(UserId),
    #[error("the last active admin cannot be deactivated; promote another admin first")]
    LastAdmin,
    #[error(transparent)]
    Store(StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("the current password is not correct")]
    WrongOldPassword,
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("user {0} does not exist")]
    NotFound(UserId),
    #[error(transparent)]
    PasswordChecksBusy(PasswordChecksBusy),
    #[error("{0}")]
    Unexpected(String),
    #[error(transparent)]
    Store(StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnsureAdminError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// The email belongs to an account that is not an active admin, which is never made one
    /// silently: anyone may have registered it before the operator chose it.
    #[error(
        "{email} belongs to an existing account (id {id}) that is not an active admin, and it is \
         not made one silently: anyone may have registered that email first. If the account is \
         yours, run `wartawa create-admin --email {email} --password <new password> \
         --promote-existing`, which makes it an admin, replaces its password and ends its \
         sessions; otherwise choose another email"
    )]
    NotAnAdmin { id: UserId, email: String },
    #[error("{0}")]
    Unexpected(String),
    #[error(transparent)]
    Store(StoreError),
}

/// What to do when the admin's email already belongs to an account that is not an active admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingAccount {
    /// Refuse ([`EnsureAdminError::NotAnAdmin`]): start-up, and `create-admin` by default.
    Refuse,
    /// Make it an admin with the given password, ending its sessions: the operator asked for it.
    TakeOver,
}

/// What ensuring an admin did.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminSetUp {
    /// A new admin account was made with the given password.
    Created(User),
    /// The account was already an active admin; it is left as it was, password included.
    AlreadyAdmin(User),
    /// An existing account was made an admin with the given password (only when asked).
    TakenOver(User),
}

impl std::fmt::Display for AdminSetUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = self.user();
        let (email, id) = (user.email.as_str(), user.id);
        match self {
            AdminSetUp::Created(_) => write!(f, "created the admin account {email} (id {id})"),
            AdminSetUp::AlreadyAdmin(_) => write!(
                f,
                "{email} (id {id}) is already an admin; its password was left as it is"
            ),
            AdminSetUp::TakenOver(_) => write!(
                f,
                "made the existing account {email} (id {id}) an admin with the new password; \
                 its earlier sessions have ended"
            ),
        }
    }
}

impl AdminSetUp {
    pub fn user(&self) -> &User {
        match self {
            AdminSetUp::Created(user)
            | AdminSetUp::AlreadyAdmin(user)
            | AdminSetUp::TakenOver(user) => user,
        }
    }
}

/// The account use cases.
pub struct UserService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenService>,
    clock: Arc<dyn Clock>,
}

impl UserService {
    pub fn new(
        users: Arc<dyn UserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        UserService {
            users,
            hasher,
            tokens,
            clock,
        }
    }

    /// Who is acting now, for the audit trail of what they change.
    fn stamp(&self, actor: &Actor) -> AuditStamp {
        AuditStamp::new(actor.id, self.clock.now())
    }

    /// Signs a customer up.
    pub async fn register(&self, form: Registration) -> Result<User, RegisterError> {
        let mut errors = ValidationErrors::new();
        let name = errors.check("name", PersonName::parse(&form.name));
        let email = errors.check("email", Email::parse(&form.email));
        let password = errors.check("password", Password::new(&form.password));
        let nik = optional(&mut errors, "nik", form.nik.as_deref(), Nik::parse);
        let phone_number = optional(
            &mut errors,
            "phone_number",
            form.phone_number.as_deref(),
            PhoneNumber::parse,
        );
        let (Some(name), Some(email), Some(password), Some(nik), Some(phone_number)) =
            (name, email, password, nik, phone_number)
        else {
            return Err(RegisterError::Invalid(errors));
        };
        // The cheap refusals before the costly hash; `insert` still refuses two sign-ups racing.
        let in_use = self
            .users
            .identifiers_in_use(&email, nik.clone())
            .await
            .map_err(RegisterError::Store)?;
        if in_use.email {
            return Err(RegisterError::EmailTaken);
        }
        if in_use.email_look_alike {
            return Err(RegisterError::EmailLooksLikeAnother);
        }
        if in_use.nik {
            return Err(RegisterError::NikTaken);
        }
        let password_hash = self
            .hasher
            .hash(&password, CheckPriority::Low)
            .await
            .map_err(|error| match error {
                HashError::Busy => RegisterError::PasswordChecksBusy(PasswordChecksBusy),
                HashError::Failed(cause) => RegisterError::Unexpected(cause),
            })?;
        let new_user = NewUser {
            name,
            email,
            password_hash,
            role: Role::Customer,
            nik,
            phone_number,
            created_at: self.clock.now(),
        };
        self.users
            .insert(new_user)
            .await
            .map_err(|error| match error {
                UserWriteError::EmailTaken => RegisterError::EmailTaken,
                UserWriteError::EmailLooksLikeAnother => RegisterError::EmailLooksLikeAnother,
                UserWriteError::NikTaken => RegisterError::NikTaken,
                UserWriteError::Store(store) => RegisterError::Store(store),
                other => RegisterError::Unexpected(other.to_string()),
            })
    }

    /// Checks a password and issues a token. An unknown email and a wrong password give the same
    /// answer in the same time. `priority` is the caller's standing (see [`CheckPriority`]).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        priority: CheckPriority,
    ) -> Result<LoggedIn, LoginError> {
        let user = match Email::parse(email) {
            Ok(email) => self.users.find_by_email(&email).await?,
            Err(_) => None,
        };
        let busy_or_failed = |error| match error {
            HashError::Busy => LoginError::PasswordChecksBusy(PasswordChecksBusy),
            HashError::Failed(cause) => LoginError::Unexpected(cause),
        };
        let Some(user) = user else {
            self.hasher
                .verify_nothing(password, priority)
                .await
                .map_err(busy_or_failed)?;
            return Err(LoginError::InvalidCredentials);
        };
        let matches = self
            .hasher
            .verify(password, &user.password_hash, priority)
            .await
            .map_err(busy_or_failed)?;
        if !matches {
            return Err(LoginError::InvalidCredentials);
        }
        if !user.active {
            return Err(LoginError::InvalidCredentials);
        }
        let token = self
            .tokens
            .issue(&user, self.clock.now())
            .map_err(|e| LoginError::Unexpected(e.to_string()))?;
        Ok(LoggedIn { token, user })
    }

    pub async fn list(&self, actor: &Actor, page: Page) -> Result<Paged<User>, ListUsersError> {
        require_admin(actor)?;
        Ok(self.users.list(page).await?)
    }

    pub async fn get(&self, actor: &Actor, id: UserId) -> Result<User, GetUserError> {
        require_self_or_admin(actor, id)?;
        self.users.find(id).await?.ok_or(GetUserError::NotFound(id))
    }

    /// Edits a profile. Only an admin may change a role; the last active admin stays an admin.
    pub async fn update(
        &self,
        actor: &Actor,
        id: UserId,
        update: ProfileUpdate,
    ) -> Result<User, UpdateUserError> {
        require_self_or_admin(actor, id)?;
        let mut errors = ValidationErrors::new();
        let name = update
            .name
            .as_deref()
            .map(|name| errors.check("name", PersonName::parse(name)));
        let email = update
            .email
            .as_deref()
            .map(|email| errors.check("email", Email::parse(email)));
        let nik = update
            .nik
            .as_ref()
            .map(|nik| optional(&mut errors, "nik", nik.as_deref(), Nik::parse));
        let phone_number = update.phone_number.as_ref().map(|phone| {
            optional(
                &mut errors,
                "phone_number",
                phone.as_deref(),
                PhoneNumber::parse,
            )
        });
        let role = update
            .role
            .as_deref()
            .map(|role| errors.check("role", Role::parse(role)));
        if !errors.is_empty() {
            return Err(UpdateUserError::Invalid(errors));
        }
        let change = ProfileChange {
            name: name.flatten(),
            email: email.flatten(),
            nik: nik.flatten(),
            phone_number: phone_number.flatten(),
            role: role.flatten(),
        };
        if change.role.is_some() && !actor.is_admin() {
            let current = self.users.find(id).await.map_err(UpdateUserError::Store)?;
            if current.map(|user| user.role) != change.role {
                return Err(UpdateUserError::RoleChangeDenied);
            }
        }
        self.users
            .update(id, UserChange::Profile(change), Some(self.stamp(actor)))
            .await
            .map_err(|error| match error {
                UserWriteError::NotFound => UpdateUserError::NotFound(id),
                UserWriteError::EmailTaken => UpdateUserError::EmailTaken,
                UserWriteError::EmailLooksLikeAnother => UpdateUserError::EmailLooksLikeAnother,
                UserWriteError::NikTaken => UpdateUserError::NikTaken,
                UserWriteError::LastAdmin => UpdateUserError::LastAdmin,
                UserWriteError::Store(store) => UpdateUserError::Store(store),
            })
    }

    /// Deactivates an account: it can no longer log in, its tokens stop working, its bookings stay.
    pub async fn deactivate(&self, actor: &Actor, id: UserId) -> Result<User, DeactivateUserError> {
        require_admin(actor)?;
        self.users
            .update(id, UserChange::Deactivate, Some(self.stamp(actor)))
            .await
            .map_err(|error| match error {
                UserWriteError::NotFound => DeactivateUserError::NotFound(id),
                UserWriteError::LastAdmin => DeactivateUserError::LastAdmin,
                UserWriteError::Store(store) => DeactivateUserError::Store(store),
                UserWriteError::EmailTaken
                | UserWriteError::EmailLooksLikeAnother
                | UserWriteError::NikTaken => {
                    DeactivateUserError::Store(StoreError::Unexpected(error.to_string()))
                }
            })
    }

    /// Changes a password; the user's own change needs the current password, an admin's reset of
    /// someone else's does not. Tokens issued before stop working. `priority` is the caller's
    /// standing (see [`CheckPriority`]).
    pub async fn change_password(
        &self,
        actor: &Actor,
        id: UserId,
        change: PasswordChange,
        priority: CheckPriority,
    ) -> Result<(), ChangePasswordError> {
        require_self_or_admin(actor, id)?;
        let new_password = Password::new(&change.new_password)
            .map_err(|problem| invalid("new_password", problem))?;
        let user = self
            .users
            .find(id)
            .await
            .map_err(ChangePasswordError::Store)?
            .ok_or(ChangePasswordError::NotFound(id))?;
        let resetting_another = actor.is_admin() && actor.id != id;
        let busy_or_failed = |error| match error {
            HashError::Busy => ChangePasswordError::PasswordChecksBusy(PasswordChecksBusy),
            HashError::Failed(cause) => ChangePasswordError::Unexpected(cause),
        };
        if !resetting_another {
            let old = change.old_password.as_deref().unwrap_or_default();
            if old.is_empty() {
                return Err(invalid(
                    "old_password",
                    "is required to change your own password".to_string(),
                ));
            }
            let matches = self
                .hasher
                .verify(old, &user.password_hash, priority)
                .await
                .map_err(busy_or_failed)?;
            if !matches {
                return Err(ChangePasswordError::WrongOldPassword);
            }
        }
        let hash = self
            .hasher
            .hash(&new_password, priority)
            .await
            .map_err(busy_or_failed)?;
        self.users
            .update(id, UserChange::Password { hash }, Some(self.stamp(actor)))
            .await
            .map_err(|error| match error {
                UserWriteError::NotFound => ChangePasswordError::NotFound(id),
                UserWriteError::Store(store) => ChangePasswordError::Store(store),
                other => ChangePasswordError::Unexpected(other.to_string()),
            })?;
        Ok(())
    }

    /// Makes sure an admin with this email exists, for start-up (`ADMIN_EMAIL`) and the
    /// `create-admin` command: creates it, or confirms an active admin (whose password is left as
    /// it is). An account of that email that is not an active admin is refused, unless
    /// `existing` is [`ExistingAccount::TakeOver`].
    pub async fn ensure_admin(
        &self,
        name: &str,
        email: &str,
        password: &str,
        existing: ExistingAccount,
    ) -> Result<AdminSetUp, EnsureAdminError> {
        let mut errors = ValidationErrors::new();
        let name = errors.check("name", PersonName::parse(name));
        let email = errors.check("email", Email::parse(email));
        let password = errors.check("password", Password::new(password));
        let (Some(name), Some(email), Some(password)) = (name, email, password) else {
            return Err(EnsureAdminError::Invalid(errors));
        };
        let found = self
            .users
            .find_by_email(&email)
            .await
            .map_err(EnsureAdminError::Store)?;
        let store_failure = |error: UserWriteError| match error {
            UserWriteError::Store(store) => EnsureAdminError::Store(store),
            other => EnsureAdminError::Unexpected(other.to_string()),
        };
        match (found, existing) {
            (Some(account), ExistingAccount::Refuse) if account.is_active_admin() => {
                Ok(AdminSetUp::AlreadyAdmin(account))
            }
            (Some(account), ExistingAccount::Refuse) => Err(EnsureAdminError::NotAnAdmin {
                id: account.id,
                email: account.email.as_str().to_string(),
            }),
            (Some(account), ExistingAccount::TakeOver) => {
                let hash = self.hash_for_admin(&password).await?;
                // Done by the operator's command, not by a user: nobody to record it against.
                self.users
                    .update(account.id, UserChange::MakeAdmin { hash }, None)
                    .await
                    .map(AdminSetUp::TakenOver)
                    .map_err(store_failure)
            }
            (None, _) => {
                let admin = NewUser {
                    name,
                    email,
                    password_hash: self.hash_for_admin(&password).await?,
                    role: Role::Admin,
                    nik: None,
                    phone_number: None,
                    created_at: self.clock.now(),
                };
                self.users
                    .insert(admin)
                    .await
                    .map(AdminSetUp::Created)
                    .map_err(store_failure)
            }
        }
    }

    async fn hash_for_admin(&self, password: &Password) -> Result<String, EnsureAdminError> {
        self.hasher
            .hash(password, CheckPriority::Normal)
            .await
            .map_err(|e| EnsureAdminError::Unexpected(e.to_string()))
    }
}

fn invalid(field: &str, problem: String) -> ChangePasswordError {
    ChangePasswordError::Invalid(ValidationErrors::single(field, problem))
}

/// Parses an optional field: absent or blank is `Some(None)`, a bad value records a problem
/// and gives `None`.
fn optional<T>(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Option<T>> {
    match value.map(str::trim) {
        None | Some("") => Some(None),
        Some(text) => errors.check(field, parse(text)).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{
        CheckPriority, IdentifiersInUse, MockClock, MockPasswordHasher, MockTokenService,
        MockUserRepository,
    };
    use chrono::{TimeZone, Utc};
    use futures_executor::block_on;

    fn user(id: i64, role: Role) -> User {
        User {
            id: UserId(id),
            name: PersonName::parse("Sari Dewi").unwrap(),
            email: Email::parse("sari@example.com").unwrap(),
            password_hash: "stored-hash".into(),
            role,
            nik: None,
            phone_number: None,
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            active: true,
            token_version: 0,
        }
    }

    fn now() -> domain::Timestamp {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
    }

    fn clock() -> MockClock {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        clock
    }

    fn service(users: MockUserRepository, hasher: MockPasswordHasher) -> UserService {
        UserService::new(
            Arc::new(users),
            Arc::new(hasher),
            Arc::new(MockTokenService::new()),
            Arc::new(clock()),
        )
    }

    fn customer(id: i64) -> Actor {
        Actor {
            id: UserId(id),
            role: Role::Customer,
        }
    }

    fn admin(id: i64) -> Actor {
        Actor {
            id: UserId(id),
            role: Role::Admin,
        }
    }

    #[test]
    fn registration_reports_every_bad_field_without_touching_the_store() {
        let form = Registration {
            name: "Al".into(),
            email: "nope".into(),
            password: "short".into(),
            nik: Some("123".into()),
            phone_number: Some("abc".into()),
        };
        let Err(RegisterError::Invalid(errors)) =
            block_on(service(MockUserRepository::new(), MockPasswordHasher::new()).register(form))
        else {
            panic!("expected validation errors");
        };
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "email", "password", "nik", "phone_number"]);
    }

    /// A customer's sign-up with a NIK.
    fn sari_with_nik() -> Registration {
        Registration {
            name: "Sari Dewi".into(),
            email: "sari@example.com".into(),
            password: "rahasia123".into(),
            nik: Some("3171234567890001".into()),
            phone_number: None,
        }
    }

    #[test]
    fn a_nik_taken_by_a_racing_sign_up_is_a_conflict() {
        let mut users = MockUserRepository::new();
        users
            .expect_identifiers_in_use()
            .returning(|_, _| Ok(IdentifiersInUse::default()));
        users
            .expect_insert()
            .returning(|_| Err(UserWriteError::NikTaken));
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_hash().returning(|_, _| Ok("hash".into()));
        let form = sari_with_nik();
        assert_eq!(
            block_on(service(users, hasher).register(form)).unwrap_err(),
            RegisterError::NikTaken
        );
    }

    #[test]
    fn a_taken_email_or_nik_is_refused_before_any_hashing() {
        for (in_use, refusal) in [
            (
                IdentifiersInUse {
                    email: true,
                    ..IdentifiersInUse::default()
                },
                RegisterError::EmailTaken,
            ),
            (
                IdentifiersInUse {
                    email_look_alike: true,
                    ..IdentifiersInUse::default()
                },
                RegisterError::EmailLooksLikeAnother,
            ),
            (
                IdentifiersInUse {
                    nik: true,
                    ..IdentifiersInUse::default()
                },
                RegisterError::NikTaken,
            ),
        ] {
            let mut users = MockUserRepository::new();
            users
                .expect_identifiers_in_use()
                .returning(move |_, _| Ok(in_use));
            users.expect_insert().never();
            let mut hasher = MockPasswordHasher::new();
            hasher.expect_hash().never();
            let form = sari_with_nik();
            assert_eq!(
                block_on(service(users, hasher).register(form)).unwrap_err(),
                refusal
            );
        }
    }

    #[test]
    fn unknown_email_spends_a_verify_and_says_the_same_as_a_wrong_password() {
        let mut users = MockUserRepository::new();
        users.expect_find_by_email().returning(|_| Ok(None));
        let mut hasher = MockPasswordHasher::new();
        hasher
            .expect_verify_nothing()
            .times(1)
            .returning(|_, _| Ok(()));
        let unknown = block_on(service(users, hasher).login(
            "who@example.com",
            "whatever1",
            CheckPriority::Normal,
        ))
        .unwrap_err();

        let mut users = MockUserRepository::new();
        users
            .expect_find_by_email()
            .returning(|_| Ok(Some(user(1, Role::Customer))));
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|_, _, _| Ok(false));
        let wrong = block_on(service(users, hasher).login(
            "sari@example.com",
            "whatever1",
            CheckPriority::Normal,
        ))
        .unwrap_err();
        assert_eq!(unknown, LoginError::InvalidCredentials);
        assert_eq!(wrong.to_string(), unknown.to_string());
    }

    #[test]
    fn a_deactivated_account_cannot_log_in_and_its_password_is_not_confirmed() {
        let mut users = MockUserRepository::new();
        users.expect_find_by_email().returning(|_| {
            Ok(Some(User {
                active: false,
                ..user(1, Role::Customer)
            }))
        });
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|_, _, _| Ok(true));
        assert_eq!(
            block_on(service(users, hasher).login(
                "sari@example.com",
                "rahasia123",
                CheckPriority::Normal
            ))
            .unwrap_err(),
            LoginError::InvalidCredentials
        );
    }

    #[test]
    fn profiles_are_private_to_their_owner_and_admins() {
        let svc = service(MockUserRepository::new(), MockPasswordHasher::new());
        assert_eq!(
            block_on(svc.get(&customer(1), UserId(2))).unwrap_err(),
            GetUserError::Denied(Denied::NotYours)
        );
        assert_eq!(
            block_on(svc.list(&customer(1), Page::default())).unwrap_err(),
            ListUsersError::Denied(Denied::AdminOnly)
        );
        assert_eq!(
            block_on(svc.deactivate(&customer(1), UserId(1))).unwrap_err(),
            DeactivateUserError::Denied(Denied::AdminOnly)
        );
    }

    #[test]
    fn a_customer_cannot_promote_themself() {
        let mut users = MockUserRepository::new();
        users
            .expect_find()
            .returning(|_| Ok(Some(user(1, Role::Customer))));
        users.expect_update().never();
        let update = ProfileUpdate {
            role: Some("admin".into()),
            ..ProfileUpdate::default()
        };
        assert_eq!(
            block_on(service(users, MockPasswordHasher::new()).update(
                &customer(1),
                UserId(1),
                update
            ))
            .unwrap_err(),
            UpdateUserError::RoleChangeDenied
        );
    }

    #[test]
    fn the_last_admin_stays() {
        let mut users = MockUserRepository::new();
        users
            .expect_update()
            .returning(|_, _, _| Err(UserWriteError::LastAdmin));
        let update = ProfileUpdate {
            role: Some("customer".into()),
            ..ProfileUpdate::default()
        };
        let svc = service(users, MockPasswordHasher::new());
        assert_eq!(
            block_on(svc.update(&admin(1), UserId(1), update)).unwrap_err(),
            UpdateUserError::LastAdmin
        );
        assert_eq!(
            block_on(svc.deactivate(&admin(1), UserId(1))).unwrap_err(),
            DeactivateUserError::LastAdmin
        );
    }

    #[test]
    fn own_password_change_needs_the_old_one_but_an_admin_reset_does_not() {
        let mut users = MockUserRepository::new();
        users
            .expect_find()
            .returning(|id| Ok(Some(user(id.0, Role::Customer))));
        users
            .expect_update()
            .times(1)
            .returning(|id, _, _| Ok(user(id.0, Role::Customer)));
        let mut hasher = MockPasswordHasher::new();
        hasher
            .expect_verify()
            .returning(|password, _, _| Ok(password == "right-old"));
        hasher
            .expect_hash()
            .times(1)
            .returning(|_, _| Ok("new-hash".into()));
        let svc = service(users, hasher);
        let change = |old: Option<&str>| PasswordChange {
            old_password: old.map(Into::into),
            new_password: "brand-new-pass".into(),
        };
        assert_eq!(
            block_on(svc.change_password(
                &customer(1),
                UserId(1),
                change(Some("wrong-old")),
                CheckPriority::Normal
            )),
            Err(ChangePasswordError::WrongOldPassword)
        );
        assert!(matches!(
            block_on(svc.change_password(
                &customer(1),
                UserId(1),
                change(None),
                CheckPriority::Normal
            )),
            Err(ChangePasswordError::Invalid(_))
        ));
        assert!(matches!(
            block_on(svc.change_password(
                &customer(1),
                UserId(2),
                change(None),
                CheckPriority::Normal
            )),
            Err(ChangePasswordError::Denied(_))
        ));
        assert_eq!(
            block_on(svc.change_password(
                &admin(9),
                UserId(1),
                change(None),
                CheckPriority::Normal
            )),
            Ok(())
        );
    }

    #[test]
    fn changes_are_recorded_against_the_acting_user_at_the_time_they_are_made() {
        let mut users = MockUserRepository::new();
        users
            .expect_update()
            .withf(|id, change, audit| {
                *id == UserId(3)
                    && *change == UserChange::Deactivate
                    && *audit == Some(AuditStamp::new(UserId(9), now()))
            })
            .times(1)
            .returning(|id, _, _| Ok(user(id.0, Role::Customer)));
        users
            .expect_update()
            .withf(|id, change, audit| {
                *id == UserId(4)
                    && matches!(change, UserChange::Profile(profile) if profile.role == Some(Role::Admin))
                    && *audit == Some(AuditStamp::new(UserId(9), now()))
            })
            .times(1)
            .returning(|id, _, _| Ok(user(id.0, Role::Admin)));
        let svc = service(users, MockPasswordHasher::new());
        block_on(svc.deactivate(&admin(9), UserId(3))).expect("deactivated");
        let promote = ProfileUpdate {
            role: Some("admin".into()),
            ..ProfileUpdate::default()
        };
        block_on(svc.update(&admin(9), UserId(4), promote)).expect("promoted");
    }

    /// Ensures Sari is an admin, her account being `found` as `role`, writing nothing.
    fn ensure_sari_without_writes(
        role: Role,
        existing: ExistingAccount,
    ) -> Result<AdminSetUp, EnsureAdminError> {
        let mut users = MockUserRepository::new();
        users
            .expect_find_by_email()
            .returning(move |_| Ok(Some(user(2, role))));
        users.expect_update().never();
        users.expect_insert().never();
        let svc = service(users, MockPasswordHasher::new());
        block_on(svc.ensure_admin("Sari Dewi", "sari@example.com", "rahasia123", existing))
    }

    #[test]
    fn an_existing_customer_is_never_made_admin_silently() {
        let refused =
            ensure_sari_without_writes(Role::Customer, ExistingAccount::Refuse).unwrap_err();
        assert_eq!(
            refused,
            EnsureAdminError::NotAnAdmin {
                id: UserId(2),
                email: "sari@example.com".into()
            }
        );
        assert!(refused.to_string().contains("--promote-existing"));
    }

    #[test]
    fn an_active_admin_is_confirmed_with_its_password_untouched() {
        let confirmed =
            ensure_sari_without_writes(Role::Admin, ExistingAccount::Refuse).expect("confirmed");
        assert!(matches!(confirmed, AdminSetUp::AlreadyAdmin(admin) if admin.id == UserId(2)));
    }

    #[test]
    fn a_take_over_makes_the_account_admin_with_the_new_password_on_nobodys_behalf() {
        let mut users = MockUserRepository::new();
        users
            .expect_find_by_email()
            .returning(|_| Ok(Some(user(2, Role::Customer))));
        users
            .expect_update()
            .withf(|id, change, audit| {
                *id == UserId(2)
                    && *change
                        == UserChange::MakeAdmin {
                            hash: "new-hash".into(),
                        }
                    && audit.is_none()
            })
            .times(1)
            .returning(|id, _, _| Ok(user(id.0, Role::Admin)));
        let mut hasher = MockPasswordHasher::new();
        hasher
            .expect_hash()
            .returning(|_, _| Ok("new-hash".to_string()));
        let svc = service(users, hasher);
        let taken_over = block_on(svc.ensure_admin(
            "Sari Dewi",
            "sari@example.com",
            "rahasia123",
            ExistingAccount::TakeOver,
        ))
        .expect("taken over");
        assert!(matches!(taken_over, AdminSetUp::TakenOver(admin) if admin.role == Role::Admin));
    }
}
