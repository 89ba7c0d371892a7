//! The audit trail: who checked a guest in, changed a role, deactivated an account, reset a
//! password, cancelled or deleted an event, and when.
//!
//! A use case knows who is acting and when ([`AuditStamp`]); what a command actually changed is
//! only known where it is decided, under the store's lock or transaction. The rules here turn the
//! two into the entries to record, so that both stores record the same things, and only what
//! really changed.

use std::collections::BTreeMap;
use std::fmt;

use crate::booking::{Booking, BookingCode};
use crate::event::EventId;
use crate::user::{Role, User, UserId};
use crate::Timestamp;

/// Who did a command, and when: what the use case knows of the entries the command may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditStamp {
    pub actor: UserId,
    pub at: Timestamp,
}

impl AuditStamp {
    pub fn new(actor: UserId, at: Timestamp) -> AuditStamp {
        AuditStamp { actor, at }
    }

    /// The entry saying that this actor did `action` at this time.
    pub fn entry(self, action: AuditAction) -> AuditEntry {
        AuditEntry {
            actor: self.actor,
            action,
            at: self.at,
        }
    }
}

/// What happened, and to what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditAction {
    /// A guest was let in at the door.
    BookingCheckedIn {
        booking: BookingCode,
        event: EventId,
        tickets: u32,
    },
    UserRoleChanged {
        user: UserId,
        from: Role,
        to: Role,
    },
    UserDeactivated {
        user: UserId,
    },
    /// Someone other than the account holder set the account's password.
    UserPasswordReset {
        user: UserId,
    },
    /// The event was cancelled, and with it its open bookings, the paid ones refunded.
    EventCancelled {
        event: EventId,
        bookings_cancelled: u64,
        bookings_refunded: u64,
    },
    /// The event is gone; its name is kept here, since nothing else keeps it.
    EventDeleted {
        event: EventId,
        name: String,
    },
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub actor: UserId,
    pub action: AuditAction,
    pub at: Timestamp,
}

/// The kinds of [`AuditAction`], by which the trail is stored and filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuditActionKind {
    BookingCheckedIn,
    UserRoleChanged,
    UserDeactivated,
    UserPasswordReset,
    EventCancelled,
    EventDeleted,
}

impl AuditActionKind {
    pub const ALL: [AuditActionKind; 6] = [
        AuditActionKind::BookingCheckedIn,
        AuditActionKind::UserRoleChanged,
        AuditActionKind::UserDeactivated,
        AuditActionKind::UserPasswordReset,
        AuditActionKind::EventCancelled,
        AuditActionKind::EventDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditActionKind::BookingCheckedIn => "booking_checked_in",
            AuditActionKind::UserRoleChanged => "user_role_changed",
            AuditActionKind::UserDeactivated => "user_deactivated",
            AuditActionKind::UserPasswordReset => "user_password_reset",
            AuditActionKind::EventCancelled => "event_cancelled",
            AuditActionKind::EventDeleted => "event_deleted",
        }
    }

    pub fn parse(value: &str) -> Result<AuditActionKind, String> {
        AuditActionKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| {
                let known: Vec<&str> = AuditActionKind::ALL
                    .iter()
                    .map(|kind| kind.as_str())
                    .collect();
                format!("must be one of {}", known.join(", "))
            })
    }
}

impl fmt::Display for AuditActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of thing an action was done to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditTargetType {
    Booking,
    User,
    Event,
}

impl AuditTargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditTargetType::Booking => "booking",
            AuditTargetType::User => "user",
            AuditTargetType::Event => "event",
        }
    }

    pub fn parse(value: &str) -> Option<AuditTargetType> {
        [
            AuditTargetType::Booking,
            AuditTargetType::User,
            AuditTargetType::Event,
        ]
        .into_iter()
        .find(|target| target.as_str() == value)
    }
}

/// A fact recorded with an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditValue {
    Text(String),
    Number(i64),
}

/// The facts recorded with an action, by name.
pub type AuditDetails = BTreeMap<String, AuditValue>;

fn count(value: u64) -> AuditValue {
    AuditValue::Number(i64::try_from(value).unwrap_or(i64::MAX))
}

fn text(value: &str) -> AuditValue {
    AuditValue::Text(value.to_string())
}

impl AuditAction {
    pub fn kind(&self) -> AuditActionKind {
        match self {
            AuditAction::BookingCheckedIn { .. } => AuditActionKind::BookingCheckedIn,
            AuditAction::UserRoleChanged { .. } => AuditActionKind::UserRoleChanged,
            AuditAction::UserDeactivated { .. } => AuditActionKind::UserDeactivated,
            AuditAction::UserPasswordReset { .. } => AuditActionKind::UserPasswordReset,
            AuditAction::EventCancelled { .. } => AuditActionKind::EventCancelled,
            AuditAction::EventDeleted { .. } => AuditActionKind::EventDeleted,
        }
    }

    pub fn target_type(&self) -> AuditTargetType {
        match self {
            AuditAction::BookingCheckedIn { .. } => AuditTargetType::Booking,
            AuditAction::UserRoleChanged { .. }
            | AuditAction::UserDeactivated { .. }
            | AuditAction::UserPasswordReset { .. } => AuditTargetType::User,
            AuditAction::EventCancelled { .. } | AuditAction::EventDeleted { .. } => {
                AuditTargetType::Event
            }
        }
    }

    /// The target's identity as people look it up: a booking's code, a user's or event's id.
    pub fn target_id(&self) -> String {
        match self {
            AuditAction::BookingCheckedIn { booking, .. } => booking.to_string(),
            AuditAction::UserRoleChanged { user, .. }
            | AuditAction::UserDeactivated { user }
            | AuditAction::UserPasswordReset { user } => user.to_string(),
            AuditAction::EventCancelled { event, .. } | AuditAction::EventDeleted { event, .. } => {
                event.to_string()
            }
        }
    }

    /// What else is worth knowing about the action, beyond its target.
    pub fn details(&self) -> AuditDetails {
        let facts: Vec<(&str, AuditValue)> = match self {
            AuditAction::BookingCheckedIn { event, tickets, .. } => vec![
                ("event_id", AuditValue::Number(event.0)),
                ("tickets", count(u64::from(*tickets))),
            ],
            AuditAction::UserRoleChanged { from, to, .. } => {
                vec![("from", text(from.as_str())), ("to", text(to.as_str()))]
            }
            AuditAction::UserDeactivated { .. } | AuditAction::UserPasswordReset { .. } => {
                Vec::new()
            }
            AuditAction::EventCancelled {
                bookings_cancelled,
                bookings_refunded,
                ..
            } => vec![
                ("bookings_cancelled", count(*bookings_cancelled)),
                ("bookings_refunded", count(*bookings_refunded)),
            ],
            AuditAction::EventDeleted { name, .. } => vec![("name", text(name))],
        };
        facts
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect()
    }
}

/// The entries a change to an account makes, given the account before and after it: a role that
/// changed, an account that went from active to deactivated, and a password set by someone
/// other than its holder (an admin's reset; people changing their own are not recorded).
pub fn entries_for_user_change(stamp: AuditStamp, before: &User, after: &User) -> Vec<AuditEntry> {
    let user = before.id;
    let mut entries = Vec::new();
    if before.role != after.role {
        entries.push(stamp.entry(AuditAction::UserRoleChanged {
            user,
            from: before.role,
            to: after.role,
        }));
    }
    if before.active && !after.active {
        entries.push(stamp.entry(AuditAction::UserDeactivated { user }));
    }
    if before.password_hash != after.password_hash && stamp.actor != user {
        entries.push(stamp.entry(AuditAction::UserPasswordReset { user }));
    }
    entries
}

/// The entry of a booking just checked in.
pub fn entry_for_check_in(stamp: AuditStamp, booking: &Booking) -> AuditEntry {
    stamp.entry(AuditAction::BookingCheckedIn {
        booking: booking.code.clone(),
        event: booking.event_id,
        tickets: booking.quantity(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::{apply_change, Email, PersonName, ProfileChange, UserChange};
    use chrono::{TimeZone, Utc};

    fn at() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 6, 1, 19, 30, 0).unwrap()
    }

    fn user(id: i64, role: Role) -> User {
        User {
            id: UserId(id),
            name: PersonName::parse("Sari Dewi").unwrap(),
            email: Email::parse("sari@example.com").unwrap(),
            password_hash: "old-hash".into(),
            role,
            nik: None,
            phone_number: None,
            created_at: at(),
            active: true,
            token_version: 0,
        }
    }

    fn by_admin() -> AuditStamp {
        AuditStamp::new(UserId(1), at())
    }

    fn kinds(entries: &[AuditEntry]) -> Vec<AuditActionKind> {
        entries.iter().map(|entry| entry.action.kind()).collect()
    }

    fn role(role: Role) -> UserChange {
        UserChange::Profile(ProfileChange {
            role: Some(role),
            ..ProfileChange::default()
        })
    }

    #[test]
    fn only_what_a_user_change_really_changed_is_recorded() {
        let customer = user(7, Role::Customer);
        let password = UserChange::Password {
            hash: "new-hash".into(),
        };
        let renamed = UserChange::Profile(ProfileChange {
            name: Some(PersonName::parse("Sari Lestari").unwrap()),
            ..ProfileChange::default()
        });
        let inactive = User {
            active: false,
            ..customer.clone()
        };
        let cases: Vec<(&str, &User, UserChange, AuditStamp, Vec<AuditActionKind>)> = vec![
            (
                "promotion",
                &customer,
                role(Role::Admin),
                by_admin(),
                vec![AuditActionKind::UserRoleChanged],
            ),
            (
                "the same role again",
                &customer,
                role(Role::Customer),
                by_admin(),
                vec![],
            ),
            ("a new name", &customer, renamed, by_admin(), vec![]),
            (
                "deactivation",
                &customer,
                UserChange::Deactivate,
                by_admin(),
                vec![AuditActionKind::UserDeactivated],
            ),
            (
                "deactivating the deactivated",
                &inactive,
                UserChange::Deactivate,
                by_admin(),
                vec![],
            ),
            (
                "an admin's reset",
                &customer,
                password.clone(),
                by_admin(),
                vec![AuditActionKind::UserPasswordReset],
            ),
            (
                "one's own new password",
                &customer,
                password,
                AuditStamp::new(UserId(7), at()),
                vec![],
            ),
        ];
        for (case, before, change, stamp, expected) in cases {
            let after = apply_change(before, &change);
            let entries = entries_for_user_change(stamp, before, &after);
            assert_eq!(kinds(&entries), expected, "{case}");
            assert!(
                entries
                    .iter()
                    .all(|entry| entry.actor == stamp.actor && entry.at == at()),
                "{case}"
            );
        }
    }

    #[test]
    fn a_role_change_names_its_user_and_both_roles() {
        let before = user(7, Role::Admin);
        let after = apply_change(&before, &role(Role::Customer));
        let entries = entries_for_user_change(by_admin(), &before, &after);
        let [entry] = entries.as_slice() else {
            panic!("one entry expected: {entries:?}");
        };
        assert_eq!(entry.action.target_type(), AuditTargetType::User);
        assert_eq!(entry.action.target_id(), "7");
        assert_eq!(
            entry.action.details(),
            AuditDetails::from([
                ("from".to_string(), AuditValue::Text("admin".into())),
                ("to".to_string(), AuditValue::Text("customer".into())),
            ])
        );
    }

    #[test]
    fn event_actions_keep_what_outlives_the_event() {
        let deleted = AuditAction::EventDeleted {
            event: EventId(4),
            name: "Stand-up Night".into(),
        };
        assert_eq!(
            (deleted.kind(), deleted.target_type(), deleted.target_id()),
            (
                AuditActionKind::EventDeleted,
                AuditTargetType::Event,
                "4".to_string()
            )
        );
        assert_eq!(
            deleted.details().get("name"),
            Some(&AuditValue::Text("Stand-up Night".into()))
        );
        let cancelled = AuditAction::EventCancelled {
            event: EventId(4),
            bookings_cancelled: 3,
            bookings_refunded: 2,
        };
        assert_eq!(
            cancelled.details().get("bookings_refunded"),
            Some(&AuditValue::Number(2))
        );
    }

    #[test]
    fn action_names_round_trip_and_unknown_ones_say_what_is_allowed() {
        for kind in AuditActionKind::ALL {
            assert_eq!(AuditActionKind::parse(kind.as_str()), Ok(kind));
        }
        let problem = AuditActionKind::parse("Booking_Checked_In").unwrap_err();
        assert!(problem.contains("booking_checked_in"), "{problem}");
        assert!(problem.contains("event_deleted"), "{problem}");
        for target in [
            AuditTargetType::Booking,
            AuditTargetType::User,
            AuditTargetType::Event,
        ] {
            assert_eq!(AuditTargetType::parse(target.as_str()), Some(target));
        }
    }
}
