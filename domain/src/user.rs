//! Users, their roles, and the value objects of a profile.

use std::fmt;

use crate::validation::{text_of_length, TextLength};
use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Customer,
    Admin,
    /// Door staff: checks guests in and reads door lists, nothing else.
    Checker,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Customer, Role::Admin, Role::Checker];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
            Role::Checker => "checker",
        }
    }

    pub fn parse(value: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == value)
            .ok_or_else(|| {
                format!("must be \"customer\", \"admin\" or \"checker\", not \"{value}\"")
            })
    }

    /// Admins and door staff let guests in and read the door lists.
    pub fn works_the_door(self) -> bool {
        matches!(self, Role::Admin | Role::Checker)
    }
}

/// A person's display name: 3 to 100 characters.
pub const PERSON_NAME_LENGTH: TextLength = TextLength::new(3, 100);
/// An email address is at most 254 characters (RFC 5321).
pub const MAX_EMAIL_CHARS: usize = 254;
/// A password is at least 8 characters...
pub const MIN_PASSWORD_CHARS: usize = 8;
/// ...and at most 72 bytes, because bcrypt reads no further.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// A NIK is exactly 16 digits.
pub const NIK_DIGITS: usize = 16;
/// A phone number is 10 to 15 digits, optionally after a leading `+`.
pub const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 10..=15;

/// A person's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(value: &str) -> Result<Self, String> {
        text_of_length(value, PERSON_NAME_LENGTH).map(PersonName)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, NFKC-normalised (so fullwidth and other compatibility forms become the
/// plain ones) and in lower case, so that uniqueness ignores case and form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// The problem with invisible characters: an address that differs from another only by them
/// would look the same.
pub const INVISIBLE_CHARACTERS: &str =
    "must not contain invisible or text-direction characters (such as zero-width spaces)";

/// Characters that are not shown (zero-width spaces and joiners, soft hyphens, byte-order
/// marks) or that reorder text (bidirectional controls): Unicode's default-ignorable ones.
fn is_invisible(c: char) -> bool {
    use unicode_security::general_security_profile::{GeneralSecurityProfile, IdentifierType};
    c.identifier_type() == Some(IdentifierType::Default_Ignorable)
}

impl Email {
    pub fn parse(value: &str) -> Result<Self, String> {
        use unicode_normalization::UnicodeNormalization;
        if value.chars().count() > MAX_EMAIL_CHARS {
            return Err(format!("must be at most {MAX_EMAIL_CHARS} characters"));
        }
        let typed = value.trim();
        if typed.chars().any(is_invisible) {
            return Err(INVISIBLE_CHARACTERS.to_string());
        }
        let email = typed.nfkc().collect::<String>().to_lowercase();
        let invalid = || "is not a valid email address".to_string();
        if email.len() > MAX_EMAIL_CHARS {
            return Err(format!("must be at most {MAX_EMAIL_CHARS} characters"));
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.chars().any(|c| {
                c.is_whitespace()
                    || c.is_control()
                    || matches!(c, '@' | '<' | '>' | ',' | ';' | '"')
            });
        if domain_ok && local_ok {
            Ok(Email(email))
        } else {
            Err(invalid())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the address looks like, as Unicode's confusable skeleton (UTS #39): two addresses
    /// with the same skeleton look alike (`аdmin` with a Cyrillic а, and `admin`).
    pub fn skeleton(&self) -> String {
        unicode_security::skeleton(&self.0).collect()
    }

    /// Whether this address would be mistaken for `other`: another address that looks the
    /// same, one of the two using letters beyond ASCII. Two plain-ASCII addresses are each
    /// what they say, however alike (`rn` and `m`).
    pub fn looks_like(&self, other: &Email) -> bool {
        self != other
            && !(self.0.is_ascii() && other.0.is_ascii())
            && self.skeleton() == other.skeleton()
    }
}

/// A password as typed: at least 8 characters and at most 72 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(value: &str) -> Result<Self, String> {
        crate::validation::without_control_characters(value, false)?;
        if value.chars().count() < MIN_PASSWORD_CHARS {
            Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"))
        } else if value.len() > MAX_PASSWORD_BYTES {
            Err(format!("must be at most {MAX_PASSWORD_BYTES} bytes"))
        } else {
            Ok(Password(value.to_string()))
        }
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The Indonesian national identity number: exactly 16 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nik(String);

impl Nik {
    pub fn parse(value: &str) -> Result<Self, String> {
        let nik = value.trim();
        if nik.len() == NIK_DIGITS && nik.chars().all(|c| c.is_ascii_digit()) {
            Ok(Nik(nik.to_string()))
        } else {
            Err("must be exactly 16 digits".to_string())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number: 10 to 15 digits, optionally after a leading `+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(value: &str) -> Result<Self, String> {
        let phone = value.trim();
        let digits = phone.strip_prefix('+').unwrap_or(phone);
        if PHONE_DIGITS.contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
            Ok(PhoneNumber(phone.to_string()))
        } else {
            Err("must be 10 to 15 digits, optionally after a leading +".to_string())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A registered account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub name: PersonName,
    pub email: Email,
    pub password_hash: String,
    pub role: Role,
    pub nik: Option<Nik>,
    pub phone_number: Option<PhoneNumber>,
    pub created_at: Timestamp,
    pub active: bool,
    /// Bumped whenever tokens issued before must stop working (password, role, deactivation).
    pub token_version: i64,
}

impl User {
    pub fn is_active_admin(&self) -> bool {
        self.active && self.role == Role::Admin
    }
}

/// A user about to be stored; the store assigns the id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub name: PersonName,
    pub email: Email,
    pub password_hash: String,
    pub role: Role,
    pub nik: Option<Nik>,
    pub phone_number: Option<PhoneNumber>,
    pub created_at: Timestamp,
}

/// What a profile update may change. `None` leaves a field as it is; `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChange {
    pub name: Option<PersonName>,
    pub email: Option<Email>,
    pub nik: Option<Option<Nik>>,
    pub phone_number: Option<Option<PhoneNumber>>,
    pub role: Option<Role>,
}

/// Applies a profile change, bumping the token version when the role changes.
pub fn apply_profile_change(user: &User, change: &ProfileChange) -> User {
    let mut updated = user.clone();
    if let Some(name) = &change.name {
        updated.name = name.clone();
    }
    if let Some(email) = &change.email {
        updated.email = email.clone();
    }
    if let Some(nik) = &change.nik {
        updated.nik = nik.clone();
    }
    if let Some(phone) = &change.phone_number {
        updated.phone_number = phone.clone();
    }
    if let Some(role) = change.role {
        if role != user.role {
            updated.role = role;
            updated.token_version += 1;
        }
    }
    updated
}

/// A change to a stored account, applied by the store under its lock.
#[derive(Debug, Clone, PartialEq)]
pub enum UserChange {
    Profile(ProfileChange),
    /// A new password hash; tokens issued before stop working.
    Password {
        hash: String,
    },
    /// Deactivation: the account can no longer log in, its tokens stop working, its bookings stay.
    Deactivate,
    /// The operator's explicit take-over of an existing account as an admin: active, an admin,
    /// this password hash, and every token issued before stops working (whoever held them).
    MakeAdmin {
        hash: String,
    },
}

/// The account after `change`.
pub fn apply_change(user: &User, change: &UserChange) -> User {
    match change {
        UserChange::Profile(profile) => apply_profile_change(user, profile),
        UserChange::Password { hash } => User {
            password_hash: hash.clone(),
            token_version: user.token_version + 1,
            ..user.clone()
        },
        UserChange::Deactivate => User {
            active: false,
            token_version: user.token_version + if user.active { 1 } else { 0 },
            ..user.clone()
        },
        UserChange::MakeAdmin { hash } => User {
            role: Role::Admin,
            active: true,
            password_hash: hash.clone(),
            token_version: user.token_version + 1,
            ..user.clone()
        },
    }
}

/// Whether replacing `before` by `after` would leave no active admin, given how many *other*
/// active admins exist. The last active admin may be neither demoted nor deactivated.
pub fn removes_last_admin(before: &User, after: &User, other_active_admins: usize) -> bool {
    before.is_active_admin() && !after.is_active_admin() && other_active_admins == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn email_is_case_insensitive_and_validated() {
        assert_eq!(
            Email::parse(" Ari@Example.COM ").unwrap().as_str(),
            "ari@example.com"
        );
        for bad in [
            "",
            "ari",
            "ari@",
            "@example.com",
            "ari@example",
            "a b@example.com",
            "ari@exa..mple.com",
            "ari@.example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn emails_are_normalised_and_refuse_invisible_characters() {
        assert_eq!(
            Email::parse("ＡＤＭＩＮ＠example.com").unwrap().as_str(),
            "admin@example.com",
            "fullwidth forms are the plain letters"
        );
        for hidden in [
            "ad\u{200b}min@example.com",
            "admin\u{200d}@example.com",
            "\u{202e}nimda@example.com",
            "ad\u{2066}min@example.com",
            "ad\u{ad}min@example.com",
            "\u{feff}admin@example.com",
        ] {
            assert_eq!(
                Email::parse(hidden),
                Err(INVISIBLE_CHARACTERS.to_string()),
                "{hidden:?}"
            );
        }
    }

    #[test]
    fn look_alike_emails_are_told_apart_from_different_ones() {
        let email = |text: &str| Email::parse(text).unwrap();
        let admin = email("admin@example.com");
        assert!(
            email("\u{430}dmin@example.com").looks_like(&admin),
            "Cyrillic а"
        );
        assert!(admin.looks_like(&email("\u{430}dmin@example.com")));
        assert!(email("admin@ex\u{430}mple.com").looks_like(&admin));
        assert!(
            !admin.looks_like(&admin),
            "the same address is not a look-alike"
        );
        assert!(
            !email("rnartin@example.com").looks_like(&email("martin@example.com")),
            "plain ASCII addresses are each what they say"
        );
        assert!(!email("budi@example.com").looks_like(&admin));
    }

    #[test]
    fn password_is_8_to_72_bytes() {
        assert!(Password::new("1234567").is_err());
        assert!(Password::new("12345678").is_ok());
        assert!(Password::new(&"x".repeat(72)).is_ok());
        assert!(Password::new(&"x".repeat(73)).is_err());
        // 24 three-byte characters are 72 bytes; 25 are too many for bcrypt.
        assert!(Password::new(&"€".repeat(24)).is_ok());
        assert!(Password::new(&"€".repeat(25)).is_err());
        assert_eq!(
            format!("{:?}", Password::new("secret-pass").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn nik_and_phone_formats() {
        assert!(Nik::parse("3171234567890001").is_ok());
        assert!(Nik::parse("317123456789000").is_err());
        assert!(Nik::parse("317123456789000a").is_err());
        assert!(PhoneNumber::parse("081234567890").is_ok());
        assert!(PhoneNumber::parse("+6281234567890").is_ok());
        assert!(PhoneNumber::parse("08123").is_err());
        assert!(PhoneNumber::parse("0812-3456-7890").is_err());
        assert!(PhoneNumber::parse("+1234567890123456").is_err());
    }

    #[test]
    fn names_and_roles() {
        assert!(PersonName::parse("Al").is_err());
        assert_eq!(PersonName::parse("  Ali ").unwrap().as_str(), "Ali");
        assert!(PersonName::parse(&"a".repeat(101)).is_err());
        assert_eq!(Role::parse("admin"), Ok(Role::Admin));
        assert!(Role::parse("Admin").is_err());
    }

    fn admin() -> User {
        User {
            id: UserId(1),
            name: PersonName::parse("Admin").unwrap(),
            email: Email::parse("admin@example.com").unwrap(),
            password_hash: String::new(),
            role: Role::Admin,
            nik: None,
            phone_number: None,
            created_at: chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            active: true,
            token_version: 0,
        }
    }

    #[test]
    fn role_change_revokes_tokens_and_last_admin_is_protected() {
        let before = admin();
        let demoted = apply_profile_change(
            &before,
            &ProfileChange {
                role: Some(Role::Customer),
                ..Default::default()
            },
        );
        assert_eq!(demoted.role, Role::Customer);
        assert_eq!(demoted.token_version, 1);
        assert!(removes_last_admin(&before, &demoted, 0));
        assert!(!removes_last_admin(&before, &demoted, 1));

        let renamed = apply_profile_change(
            &before,
            &ProfileChange {
                name: Some(PersonName::parse("Boss").unwrap()),
                ..Default::default()
            },
        );
        assert_eq!(renamed.token_version, 0);
        assert!(!removes_last_admin(&before, &renamed, 0));

        let deactivated = apply_change(&before, &UserChange::Deactivate);
        assert!(!deactivated.active);
        assert_eq!(deactivated.token_version, 1);
        assert!(removes_last_admin(&before, &deactivated, 0));

        let new_password = apply_change(&before, &UserChange::Password { hash: "h2".into() });
        assert_eq!(
            (
                new_password.password_hash.as_str(),
                new_password.token_version
            ),
            ("h2", 1)
        );
    }
}
