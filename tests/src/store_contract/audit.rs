//! The contract of the audit trail: every audited command records who did what to whom and
//! when, in the same step as the command itself; a refused command, or one that changed nothing
//! worth recording, records nothing; the trail reads newest first, paged and filtered.

use application::ports::{AuditFilter, EventDeleteError, Page, UserWriteError};
use application::views::AuditRecord;
use domain::audit::{AuditActionKind, AuditDetails, AuditStamp, AuditTargetType, AuditValue};
use domain::booking::BookingCode;
use domain::event::EventPatch;
use domain::user::{PersonName, ProfileChange, Role, UserChange};
use domain::Timestamp;

use super::{
    audit_trail, by_staff, create_event, customer, customers, minutes, new_user, now, pay_in_full,
    place, profile, race, request, seat_ids, staff, standard_show, StoreFactory,
};

fn role(role: Role) -> UserChange {
    profile(ProfileChange {
        role: Some(role),
        ..ProfileChange::default()
    })
}

fn cancel() -> EventPatch {
    EventPatch {
        status: Some("cancelled".into()),
        ..EventPatch::default()
    }
}

fn details(facts: &[(&str, AuditValue)]) -> AuditDetails {
    facts
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect()
}

fn number(value: i64) -> AuditValue {
    AuditValue::Number(value)
}

fn text(value: &str) -> AuditValue {
    AuditValue::Text(value.into())
}

/// What an entry says, without its id and actor's name: `(when, actor id, action, target type,
/// target id, details)`.
fn said(
    record: &AuditRecord,
) -> (
    Timestamp,
    i64,
    AuditActionKind,
    AuditTargetType,
    String,
    AuditDetails,
) {
    (
        record.occurred_at,
        record.actor.id.0,
        record.action,
        record.target_type,
        record.target_id.clone(),
        record.details.clone(),
    )
}

pub async fn every_audited_command_records_who_did_what_and_when(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let admin = staff(&stores).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let bima = customer(&stores, "Bima Sakti").await;
    let at = |minute: i64| now() + minutes(minute);
    let by_admin = |minute: i64| AuditStamp::new(admin.id, at(minute));

    stores
        .users
        .update(ari.id, role(Role::Admin), Some(by_admin(1)))
        .await
        .expect("promote");
    stores
        .users
        .update(
            bima.id,
            UserChange::Password {
                hash: "reset-hash".into(),
            },
            Some(by_admin(2)),
        )
        .await
        .expect("reset a password");
    stores
        .users
        .update(bima.id, UserChange::Deactivate, Some(by_admin(3)))
        .await
        .expect("deactivate");

    let event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let cita = customer(&stores, "Cita Lestari").await;
    let guest = place(&stores, request(&cita, event, &seats[..2]), now()).await;
    pay_in_full(&stores, &guest, now()).await;
    stores
        .bookings
        .check_in(&guest.booking.code, at(4), by_admin(4))
        .await
        .expect("check in");
    let dewi = customer(&stores, "Dewi Anggraini").await;
    let paid = place(&stores, request(&dewi, event, &seats[2..3]), now()).await;
    pay_in_full(&stores, &paid, now()).await;
    place(&stores, request(&dewi, event, &seats[3..4]), now()).await;
    stores
        .events
        .update(event, cancel(), at(5), by_admin(5))
        .await
        .expect("cancel the event");

    let doomed = create_event(&stores, standard_show()).await.event.id;
    stores
        .events
        .delete(doomed, by_admin(6))
        .await
        .expect("delete the event");

    let trail = audit_trail(&stores, None).await;
    let said: Vec<_> = trail.iter().map(said).collect();
    let user_target = |id: domain::user::UserId| id.0.to_string();
    assert_eq!(
        said,
        vec![
            (
                at(6),
                admin.id.0,
                AuditActionKind::EventDeleted,
                AuditTargetType::Event,
                doomed.0.to_string(),
                details(&[("name", text("Stand-up Night"))]),
            ),
            (
                at(5),
                admin.id.0,
                AuditActionKind::EventCancelled,
                AuditTargetType::Event,
                event.0.to_string(),
                // Cita's checked-in booking and Dewi's paid one refunded, Dewi's hold released.
                details(&[
                    ("bookings_cancelled", number(3)),
                    ("bookings_refunded", number(2)),
                ]),
            ),
            (
                at(4),
                admin.id.0,
                AuditActionKind::BookingCheckedIn,
                AuditTargetType::Booking,
                guest.booking.code.to_string(),
                details(&[("event_id", number(event.0)), ("tickets", number(2))]),
            ),
            (
                at(3),
                admin.id.0,
                AuditActionKind::UserDeactivated,
                AuditTargetType::User,
                user_target(bima.id),
                details(&[]),
            ),
            (
                at(2),
                admin.id.0,
                AuditActionKind::UserPasswordReset,
                AuditTargetType::User,
                user_target(bima.id),
                details(&[]),
            ),
            (
                at(1),
                admin.id.0,
                AuditActionKind::UserRoleChanged,
                AuditTargetType::User,
                user_target(ari.id),
                details(&[("from", text("customer")), ("to", text("admin"))]),
            ),
        ]
    );
    let first = &trail[0];
    assert_eq!(
        (first.actor.name.as_str(), first.actor.email.as_str()),
        (admin.name.as_str(), admin.email.as_str())
    );
    let ids: Vec<i64> = trail.iter().map(|record| record.id).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] > pair[1]),
        "later entries have larger ids: {ids:?}"
    );
}

pub async fn refused_commands_record_nothing(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let root = stores
        .users
        .insert(new_user(
            "Root Admin",
            "root@example.com",
            Role::Admin,
            None,
        ))
        .await
        .expect("the only admin");
    let by_root = AuditStamp::new(root.id, now());

    // The last active admin stays.
    let refused = stores
        .users
        .update(root.id, role(Role::Customer), Some(by_root))
        .await;
    assert_eq!(refused, Err(UserWriteError::LastAdmin));
    let refused = stores
        .users
        .update(root.id, UserChange::Deactivate, Some(by_root))
        .await;
    assert_eq!(refused, Err(UserWriteError::LastAdmin));
    // Changes that change nothing worth recording: the same role, a new name, one's own password,
    // an account already deactivated.
    let ari = customer(&stores, "Ari Wibowo").await;
    let by_ari = AuditStamp::new(ari.id, now());
    for change in [
        role(Role::Customer),
        profile(ProfileChange {
            name: Some(PersonName::parse("Ari W.").expect("a name")),
            ..ProfileChange::default()
        }),
    ] {
        stores
            .users
            .update(ari.id, change, Some(by_root))
            .await
            .expect("a change");
    }
    stores
        .users
        .update(
            ari.id,
            UserChange::Password {
                hash: "own-new-hash".into(),
            },
            Some(by_ari),
        )
        .await
        .expect("a new password of one's own");
    let gone = customer(&stores, "Gone Away").await;
    stores
        .users
        .update(gone.id, UserChange::Deactivate, Some(by_root))
        .await
        .expect("deactivate");
    let before = audit_trail(&stores, None).await.len();
    stores
        .users
        .update(gone.id, UserChange::Deactivate, Some(by_root))
        .await
        .expect("deactivate again");
    assert_eq!(
        audit_trail(&stores, None).await.len(),
        before,
        "deactivating the deactivated changes nothing"
    );
    assert_eq!(
        stores
            .users
            .update(
                domain::user::UserId(999_999),
                UserChange::Deactivate,
                Some(by_root)
            )
            .await,
        Err(UserWriteError::NotFound)
    );
    let trail = audit_trail(&stores, None).await;
    assert_eq!(
        trail.iter().map(|record| record.action).collect::<Vec<_>>(),
        [AuditActionKind::UserDeactivated],
        "only the first deactivation was recorded: {trail:?}"
    );

    // Check-ins of bookings not paid, already used, or unknown.
    let event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let held = place(&stores, request(&ari, event, &seats[..1]), now()).await;
    assert!(stores
        .bookings
        .check_in(&held.booking.code, now(), by_root)
        .await
        .is_err());
    pay_in_full(&stores, &held, now()).await;
    stores
        .bookings
        .check_in(&held.booking.code, now(), by_root)
        .await
        .expect("check in");
    assert!(stores
        .bookings
        .check_in(&held.booking.code, now() + minutes(1), by_root)
        .await
        .is_err());
    let unknown = BookingCode::parse("BKG-ZZZZZ").expect("a code");
    assert!(stores
        .bookings
        .check_in(&unknown, now(), by_root)
        .await
        .is_err());
    assert_eq!(
        audit_trail(&stores, Some(AuditActionKind::BookingCheckedIn))
            .await
            .len(),
        1,
        "only the check-in that let the guest in"
    );

    // Event changes that are not a cancellation, refused deletions, a second cancellation.
    let renamed = EventPatch {
        name: Some("Stand-up Night Deluxe".into()),
        ..EventPatch::default()
    };
    stores
        .events
        .update(event, renamed, now(), by_root)
        .await
        .expect("rename");
    let too_small = EventPatch {
        capacity: Some(0),
        status: Some("cancelled".into()),
        ..EventPatch::default()
    };
    assert!(stores
        .events
        .update(event, too_small, now(), by_root)
        .await
        .is_err());
    assert_eq!(
        stores.events.delete(event, by_root).await,
        Err(EventDeleteError::HasBookings)
    );
    assert_eq!(
        stores
            .events
            .delete(domain::event::EventId(999_999), by_root)
            .await,
        Err(EventDeleteError::NotFound)
    );
    stores
        .events
        .update(event, cancel(), now(), by_root)
        .await
        .expect("cancel");
    stores
        .events
        .update(event, cancel(), now() + minutes(1), by_root)
        .await
        .expect("cancel again, which changes nothing");
    let event_entries: Vec<AuditActionKind> = audit_trail(&stores, None)
        .await
        .iter()
        .map(|record| record.action)
        .filter(|action| {
            matches!(
                action,
                AuditActionKind::EventCancelled | AuditActionKind::EventDeleted
            )
        })
        .collect();
    assert_eq!(event_entries, [AuditActionKind::EventCancelled]);
}

pub async fn the_audit_trail_is_newest_first_paged_and_filtered(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let people = customers(&stores, 5).await;
    let admin = staff(&stores).await;
    let at = |minute: i64| now() + minutes(minute);
    // Written in one order, stamped in another: the trail goes by time, then by id.
    for (person, minute) in people.iter().zip([30, 10, 20, 10, 40]) {
        stores
            .users
            .update(
                person.id,
                UserChange::Deactivate,
                Some(AuditStamp::new(admin.id, at(minute))),
            )
            .await
            .expect("deactivate");
    }
    stores
        .users
        .update(
            people[0].id,
            role(Role::Admin),
            Some(AuditStamp::new(admin.id, at(25))),
        )
        .await
        .expect("promote");

    let whole = audit_trail(&stores, None).await;
    let order: Vec<(Timestamp, String)> = whole
        .iter()
        .map(|record| (record.occurred_at, record.target_id.clone()))
        .collect();
    let target = |index: usize| people[index].id.0.to_string();
    assert_eq!(
        order,
        vec![
            (at(40), target(4)),
            (at(30), target(0)),
            (at(25), target(0)),
            (at(20), target(2)),
            // The same time: the later entry first.
            (at(10), target(3)),
            (at(10), target(1)),
        ]
    );

    let page = |number: u32, action: Option<AuditActionKind>| {
        let stores = stores.clone();
        async move {
            stores
                .audit
                .list(AuditFilter { action }, Page::new(number, 4))
                .await
                .expect("a page of the trail")
        }
    };
    let first = page(1, None).await;
    let second = page(2, None).await;
    assert_eq!((first.total, second.total), (6, 6));
    assert_eq!((first.items.len(), second.items.len()), (4, 2));
    let paged: Vec<AuditRecord> = first.items.into_iter().chain(second.items).collect();
    assert_eq!(paged, whole);
    assert!(page(3, None).await.items.is_empty());

    let deactivations = page(1, Some(AuditActionKind::UserDeactivated)).await;
    assert_eq!(deactivations.total, 5);
    assert!(deactivations
        .items
        .iter()
        .all(|record| record.action == AuditActionKind::UserDeactivated));
    let promotions = page(1, Some(AuditActionKind::UserRoleChanged)).await;
    assert_eq!(promotions.total, 1);
    assert_eq!(promotions.items[0].occurred_at, at(25));
    let none = page(1, Some(AuditActionKind::EventDeleted)).await;
    assert_eq!((none.total, none.items.len()), (0, 0));
}

pub async fn an_entry_outlives_the_event_it_names(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let input = super::show("Malam Terakhir", "Teater Kecil", now() + super::days(10));
    let event = create_event(&stores, input).await.event.id;
    let stamp = by_staff(&stores, now()).await;
    stores
        .events
        .delete(event, stamp)
        .await
        .expect("delete the event");
    assert_eq!(stores.events.find(event, now()).await.expect("find"), None);
    // Entries keep coming after it, and it stays readable among them.
    let racers = customers(&stores, 4).await;
    race(racers.len(), |index| {
        let stores = stores.clone();
        let person = racers[index].id;
        async move {
            stores
                .users
                .update(person, UserChange::Deactivate, Some(stamp))
                .await
        }
    })
    .await
    .into_iter()
    .for_each(|result| {
        result.expect("deactivate");
    });
    let deleted = audit_trail(&stores, Some(AuditActionKind::EventDeleted)).await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].target_id, event.0.to_string());
    assert_eq!(
        deleted[0].details,
        details(&[("name", text("Malam Terakhir"))])
    );
    assert_eq!(audit_trail(&stores, None).await.len(), 5);
}

/// An action and its entry are one step: when the entry cannot be written (here, because it
/// names an account that does not exist), the action does not happen either.
pub async fn an_action_whose_entry_cannot_be_written_does_not_happen(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let nobody = AuditStamp::new(domain::user::UserId(999_999), now());
    let ari = customer(&stores, "Ari Wibowo").await;
    let event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let booking = place(&stores, request(&ari, event, &seats[..1]), now()).await;
    pay_in_full(&stores, &booking, now()).await;
    let empty = create_event(&stores, standard_show()).await.event.id;

    assert!(matches!(
        stores
            .users
            .update(ari.id, UserChange::Deactivate, Some(nobody))
            .await,
        Err(UserWriteError::Store(_))
    ));
    assert!(stores
        .bookings
        .check_in(&booking.booking.code, now(), nobody)
        .await
        .is_err());
    assert!(stores
        .events
        .update(event, cancel(), now(), nobody)
        .await
        .is_err());
    assert!(matches!(
        stores.events.delete(empty, nobody).await,
        Err(EventDeleteError::Store(_))
    ));

    let stored = stores.users.find(ari.id).await.expect("find").expect("Ari");
    assert!(stored.active, "still active");
    let found = stores
        .bookings
        .find_by_code(&booking.booking.code, now())
        .await
        .expect("find")
        .expect("the booking");
    assert_eq!(found.booking.checked_in_at, None, "not checked in");
    let shown = stores
        .events
        .find(event, now())
        .await
        .expect("find")
        .expect("the event");
    assert_eq!(shown.event.status, domain::event::EventStatus::Published);
    assert_eq!(shown.tickets_sold, 1, "its sale stands");
    assert!(stores
        .events
        .find(empty, now())
        .await
        .expect("find")
        .is_some());
    assert!(audit_trail(&stores, None).await.is_empty());
}
