//! The repository contract: what every store behind `UserRepository`, `EventRepository`,
//! `BookingRepository`, `AuditLog` and `IdempotencyStore` must do, written once and run against
//! each adapter.
//!
//! An adapter's test file provides a [`StoreFactory`] and expands
//! [`store_contract_tests!`](crate::store_contract_tests) with it, which makes one
//! multi-threaded tokio test per contract test. Every test starts from an empty store, uses the
//! fixed [`now`] (passing later times explicitly to see holds lapse) and never sleeps.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use tokio::sync::Barrier;

use application::ports::{
    AuditFilter, BookingCommandError, CodeGenerator, EventDeleteError, EventFilter,
    EventWriteError, Page, PaymentReceipt, PlaceBookingError, UserWriteError,
};
use application::views::{AuditRecord, BookingDetails, EventView};
use domain::audit::{AuditActionKind, AuditStamp};
use domain::booking::{
    BookingCode, BookingPolicy, BookingRejection, BookingRequest, BookingStatus, CancelRejection,
    CheckInRejection, PayRejection, CODE_LENGTH,
};
use domain::event::{
    validate_new_event, EventId, EventInput, EventPatch, EventStatus, EventUpdateError, Phase,
    PhaseId, PhaseInput,
};
use domain::image::{EventImage, ImageDigest, ImageMediaType};

use crate::pictures::{data_url, png};
use domain::money::Money;
use domain::payment::{PaymentInput, PaymentStatus};
use domain::seat::{SeatId, SeatStatus};
use domain::user::{
    Email, NewUser, Nik, PersonName, ProfileChange, Role, User, UserChange, UserId,
};
use domain::Timestamp;

pub use bootstrap::wiring::Stores;

mod audit;
pub use audit::{
    an_action_whose_entry_cannot_be_written_does_not_happen, an_entry_outlives_the_event_it_names,
    every_audited_command_records_who_did_what_and_when, refused_commands_record_nothing,
    the_audit_trail_is_newest_first_paged_and_filtered,
};

mod idempotency;
pub use idempotency::{
    a_dead_attempt_is_taken_over_and_its_late_answer_ignored,
    a_user_holds_a_bounded_number_of_live_idempotency_keys, an_abandoned_key_runs_again,
    an_idempotency_key_is_claimed_once_then_replayed,
    expired_idempotency_keys_are_unused_and_purged, idempotency_keys_are_per_user,
    racing_for_one_idempotency_key_has_one_winner, refusals_are_kept_for_less_time_than_successes,
};

/// Makes an empty store for each contract test.
#[async_trait]
pub trait StoreFactory: Send + Sync {
    async fn fresh(&self) -> Stores;
}

/// The code generator stores under test should use: it hands out every code twice in a row, so
/// that every booking after the first meets a collision and shows that the store retries it.
pub fn contract_codes() -> Arc<dyn CodeGenerator> {
    Arc::new(RepeatingCodes::default())
}

#[derive(Default)]
struct RepeatingCodes {
    calls: AtomicU64,
}

impl CodeGenerator for RepeatingCodes {
    fn generate(&self) -> BookingCode {
        let mut serial = self.calls.fetch_add(1, Ordering::SeqCst) / 2;
        let mut picks = [0_u32; CODE_LENGTH];
        for pick in picks.iter_mut().rev() {
            *pick = (serial % 31) as u32;
            serial /= 31;
        }
        BookingCode::from_random(picks)
    }
}

/// Expands to one `#[tokio::test]` per contract test, each given a store from `$factory`
/// (an expression whose value implements [`StoreFactory`]).
#[macro_export]
macro_rules! store_contract_tests {
    ($factory:expr) => {
        $crate::store_contract_tests!(@each $factory;
            accounts_get_increasing_ids_and_are_found_by_id_and_email,
            emails_are_unique_ignoring_case,
            niks_are_unique,
            the_last_active_admin_can_be_neither_demoted_nor_deactivated,
            token_version_moves_when_old_tokens_must_stop_working,
            a_new_event_gets_its_seats_and_phases_in_order,
            events_are_listed_by_date_filtered_and_paged,
            capacity_grows_at_the_end_and_never_drops_below_seats_in_use,
            phases_change_only_as_their_sales_allow,
            only_an_event_without_bookings_can_be_deleted,
            an_uploaded_picture_is_kept_apart_replaced_and_deleted_with_its_event,
            cancelling_an_event_cancels_its_bookings_and_refunds_payments,
            a_booking_holds_its_seats_at_the_current_phase_price,
            taken_seats_are_named_and_nothing_is_claimed,
            a_booking_gets_the_phase_on_sale_or_is_refused,
            a_customer_holds_at_most_the_limit_per_event,
            paying_confirms_once_and_records_the_change,
            cancelling_releases_a_hold_and_refunds_a_payment,
            a_ticket_is_checked_in_once,
            the_instants_where_a_rule_turns_are_decided_the_same_way,
            a_lapsed_hold_frees_its_seats_on_the_next_read,
            the_seat_map_version_moves_with_every_seat_change,
            expire_lapsed_expires_exactly_the_lapsed_holds,
            a_customers_history_is_newest_first_and_paged,
            the_dashboard_adds_up_confirmed_sales,
            racing_for_the_same_seats_has_exactly_one_winner,
            one_customer_racing_cannot_pass_the_ticket_limit,
            racing_for_a_phase_cannot_pass_its_quota,
            requests_arriving_together_are_each_answered_on_their_own,
            simultaneous_check_ins_let_exactly_one_in,
            a_busy_box_office_keeps_its_books_straight,
            every_audited_command_records_who_did_what_and_when,
            refused_commands_record_nothing,
            the_audit_trail_is_newest_first_paged_and_filtered,
            an_entry_outlives_the_event_it_names,
            an_action_whose_entry_cannot_be_written_does_not_happen,
            an_idempotency_key_is_claimed_once_then_replayed,
            idempotency_keys_are_per_user,
            an_abandoned_key_runs_again,
            a_dead_attempt_is_taken_over_and_its_late_answer_ignored,
            expired_idempotency_keys_are_unused_and_purged,
            racing_for_one_idempotency_key_has_one_winner,
            a_user_holds_a_bounded_number_of_live_idempotency_keys,
            refusals_are_kept_for_less_time_than_successes,
        );
    };
    (@each $factory:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                let factory = $factory;
                $crate::store_contract::$test(&factory).await;
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// The time every test runs at, unless it says otherwise.
pub fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0)
        .single()
        .expect("a valid fixed time")
}

fn minutes(count: i64) -> Duration {
    Duration::minutes(count)
}

fn days(count: i64) -> Duration {
    Duration::days(count)
}

fn email(address: &str) -> Email {
    Email::parse(address).expect("a valid email")
}

fn nik(digits: &str) -> Nik {
    Nik::parse(digits).expect("a valid NIK")
}

fn new_user(name: &str, address: &str, role: Role, nik_digits: Option<&str>) -> NewUser {
    NewUser {
        name: PersonName::parse(name).expect("a valid name"),
        email: email(address),
        password_hash: "$2b$04$not-a-real-hash".into(),
        role,
        nik: nik_digits.map(nik),
        phone_number: None,
        created_at: now(),
    }
}

async fn customer(stores: &Stores, name: &str) -> User {
    let address = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
    stores
        .users
        .insert(new_user(name, &address, Role::Customer, None))
        .await
        .expect("a new customer")
}

async fn customers(stores: &Stores, count: usize) -> Vec<User> {
    let mut made = Vec::with_capacity(count);
    for index in 0..count {
        made.push(customer(stores, &format!("Guest Number {index}")).await);
    }
    made
}

fn profile(change: ProfileChange) -> UserChange {
    UserChange::Profile(change)
}

/// The admin who does the audited commands of the contract (check-ins, changes to events),
/// made on first use.
async fn staff(stores: &Stores) -> User {
    const ADDRESS: &str = "door.staff@example.com";
    if let Some(existing) = stores
        .users
        .find_by_email(&email(ADDRESS))
        .await
        .expect("find the staff")
    {
        return existing;
    }
    stores
        .users
        .insert(new_user("Door Staff", ADDRESS, Role::Admin, None))
        .await
        .expect("the staff")
}

/// An audited command done by [`staff`] at `at`.
async fn by_staff(stores: &Stores, at: Timestamp) -> AuditStamp {
    AuditStamp::new(staff(stores).await.id, at)
}

/// The first hundred entries of the audit trail, newest first, of `action` when given.
async fn audit_trail(stores: &Stores, action: Option<AuditActionKind>) -> Vec<AuditRecord> {
    stores
        .audit
        .list(AuditFilter { action }, Page::new(1, 100))
        .await
        .expect("the audit trail")
        .items
}

fn phase(name: &str, price: i64, quota: i64, start: Timestamp, end: Timestamp) -> PhaseInput {
    PhaseInput {
        id: None,
        name: name.into(),
        price,
        quota,
        start_date: start,
        end_date: end,
    }
}

/// A phase as it stands, to send back in an update.
fn unchanged(phase: &Phase) -> PhaseInput {
    PhaseInput {
        id: Some(phase.id),
        name: phase.name.clone(),
        price: phase.price.amount(),
        quota: i64::from(phase.quota),
        start_date: phase.start_date,
        end_date: phase.end_date,
    }
}

/// A show on `date` with 20 seats: Early Bird (100 000, 5 tickets) then Normal (150 000), both
/// on sale at [`now`].
fn show(name: &str, venue: &str, date: Timestamp) -> EventInput {
    EventInput {
        name: name.into(),
        description: Some("An evening of stand-up".into()),
        date,
        venue: venue.into(),
        image_url: Some("https://cdn.example.com/poster.jpg".into()),
        seats_per_row: Some(10),
        capacity: Some(20),
        phases: vec![
            phase("Early Bird", 100_000, 5, now() - days(1), date - days(2)),
            phase("Normal", 150_000, 45, now() - days(1), date - minutes(60)),
        ],
    }
}

fn standard_show() -> EventInput {
    show("Stand-up Night", "Jakarta Comedy Club", now() + days(30))
}

async fn create_event(stores: &Stores, input: EventInput) -> EventView {
    let new = validate_new_event(&input, now()).expect("a valid event");
    stores.events.create(new).await.expect("a stored event")
}

async fn seat_map(
    stores: &Stores,
    event: EventId,
    at: Timestamp,
) -> Vec<(SeatId, String, SeatStatus)> {
    stores
        .events
        .seats(event, at)
        .await
        .expect("the seat map")
        .expect("a known event")
        .seats
        .into_iter()
        .map(|view| (view.seat.id, view.seat.label(), view.status))
        .collect()
}

async fn seat_ids(stores: &Stores, event: EventId) -> Vec<SeatId> {
    seat_map(stores, event, now())
        .await
        .into_iter()
        .map(|(id, _, _)| id)
        .collect()
}

async fn status_of_seat(
    stores: &Stores,
    event: EventId,
    seat: SeatId,
    at: Timestamp,
) -> SeatStatus {
    seat_map(stores, event, at)
        .await
        .into_iter()
        .find(|(id, _, _)| *id == seat)
        .map(|(_, _, status)| status)
        .expect("a seat of the event")
}

async fn view(stores: &Stores, event: EventId, at: Timestamp) -> EventView {
    stores
        .events
        .find(event, at)
        .await
        .expect("the event")
        .expect("a known event")
}

fn request(customer: &User, event: EventId, seats: &[SeatId]) -> BookingRequest {
    BookingRequest {
        customer_id: customer.id,
        event_id: event,
        seat_ids: seats.to_vec(),
        phase_id: None,
        quantity: None,
    }
}

fn in_phase(mut request: BookingRequest, phase: PhaseId) -> BookingRequest {
    request.phase_id = Some(phase);
    request
}

/// The default limits: 3 tickets per customer and event, 15-minute holds.
fn policy() -> BookingPolicy {
    BookingPolicy::default()
}

/// No limit per customer, for tests about something else.
fn generous() -> BookingPolicy {
    BookingPolicy {
        max_tickets_per_user: 0,
        ..BookingPolicy::default()
    }
}

async fn place(stores: &Stores, request: BookingRequest, at: Timestamp) -> BookingDetails {
    stores
        .bookings
        .place(request, generous(), at)
        .await
        .expect("an accepted booking")
}

async fn attempt(
    stores: &Stores,
    request: BookingRequest,
    policy: BookingPolicy,
) -> Result<BookingDetails, PlaceBookingError> {
    stores.bookings.place(request, policy, now()).await
}

fn payment(amount: i64) -> PaymentInput {
    PaymentInput {
        amount: Money::rupiah(amount),
        method: "BCA Virtual Account".into(),
    }
}

async fn pay_in_full(stores: &Stores, booking: &BookingDetails, at: Timestamp) -> PaymentReceipt {
    let amount = booking.booking.total_price.amount();
    stores
        .bookings
        .pay(&booking.booking.code, payment(amount), at)
        .await
        .expect("an accepted payment")
}

async fn find_booking(stores: &Stores, code: &BookingCode, at: Timestamp) -> BookingDetails {
    stores
        .bookings
        .find_by_code(code, at)
        .await
        .expect("the booking")
        .expect("a known booking")
}

fn labels(booking: &BookingDetails) -> Vec<String> {
    booking.booking.seat_labels()
}

fn rejection(result: Result<BookingDetails, PlaceBookingError>) -> BookingRejection {
    match result {
        Err(PlaceBookingError::Rejected(rejection)) => rejection,
        other => panic!("expected a rejected booking, got {other:?}"),
    }
}

fn update_rejection(result: Result<EventView, EventWriteError>) -> EventUpdateError {
    match result {
        Err(EventWriteError::Rejected(rejection)) => rejection,
        other => panic!("expected a rejected update, got {other:?}"),
    }
}

/// Runs `count` tasks that all start together once every one of them is ready.
async fn race<T, F, Fut>(count: usize, task: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let start = Arc::new(Barrier::new(count));
    let handles: Vec<_> = (0..count)
        .map(|index| {
            let start = Arc::clone(&start);
            let work = task(index);
            tokio::spawn(async move {
                start.wait().await;
                work.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(count);
    for handle in handles {
        results.push(handle.await.expect("a racing task panicked"));
    }
    results
}

/// Every booking of the given customers, read back through `list_for_customer`.
async fn all_bookings(stores: &Stores, customers: &[UserId], at: Timestamp) -> Vec<BookingDetails> {
    let mut bookings = Vec::new();
    for customer in customers {
        let mut page = 1;
        loop {
            let listed = stores
                .bookings
                .list_for_customer(*customer, Page::new(page, 100), at)
                .await
                .expect("a customer's bookings");
            if listed.items.is_empty() {
                break;
            }
            bookings.extend(listed.items);
            page += 1;
        }
    }
    bookings
}

/// Checks that the seat maps, the events' figures, the bookings and the dashboard tell one story:
/// no seat in two open bookings, every held or sold seat in exactly one, and all counts agreeing.
/// `customers` must include everyone who booked.
async fn assert_books_agree(
    stores: &Stores,
    events: &[EventId],
    customers: &[UserId],
    at: Timestamp,
) {
    let bookings = all_bookings(stores, customers, at).await;
    let dashboard = stores.bookings.dashboard(at).await.expect("the dashboard");
    let mut confirmed_everywhere = 0_u64;
    let mut pending_everywhere = 0_u64;
    for event in events {
        let mut holder_of_seat: BTreeMap<SeatId, BookingStatus> = BTreeMap::new();
        let mut open_per_phase: BTreeMap<PhaseId, u32> = BTreeMap::new();
        let (mut pending_tickets, mut confirmed_tickets) = (0_u32, 0_u32);
        let mut revenue = Money::ZERO;
        for details in bookings.iter().filter(|b| b.booking.event_id == *event) {
            let booking = &details.booking;
            let status = booking.status_at(at);
            match status {
                BookingStatus::Pending => {
                    pending_tickets += booking.quantity();
                    pending_everywhere += 1;
                }
                BookingStatus::Confirmed => {
                    confirmed_tickets += booking.quantity();
                    revenue = revenue + booking.total_price;
                }
                _ => continue,
            }
            *open_per_phase.entry(booking.phase_id).or_insert(0) += booking.quantity();
            for seat in &booking.seats {
                let earlier = holder_of_seat.insert(seat.id, status);
                assert!(
                    earlier.is_none(),
                    "seat {} is in two open bookings",
                    seat.label
                );
            }
        }
        confirmed_everywhere += u64::from(confirmed_tickets);

        let map = seat_map(stores, *event, at).await;
        for (id, label, shown) in &map {
            let expected = match holder_of_seat.get(id) {
                Some(BookingStatus::Pending) => SeatStatus::Held,
                Some(_) => SeatStatus::Sold,
                None => SeatStatus::Available,
            };
            assert_eq!(*shown, expected, "seat {label} of event {event}");
        }
        let count = |wanted: SeatStatus| map.iter().filter(|(_, _, s)| *s == wanted).count() as u32;
        assert_eq!(
            count(SeatStatus::Held),
            pending_tickets,
            "held seats of event {event}"
        );
        assert_eq!(
            count(SeatStatus::Sold),
            confirmed_tickets,
            "sold seats of event {event}"
        );

        let figures = view(stores, *event, at).await;
        assert_eq!(figures.seats_taken, pending_tickets + confirmed_tickets);
        assert_eq!(figures.tickets_sold, confirmed_tickets);
        for phase in &figures.event.phases {
            let open = open_per_phase.get(&phase.id).copied().unwrap_or(0);
            assert_eq!(
                figures.sales.sold(phase.id),
                open,
                "sales of {}",
                phase.name
            );
            assert!(open <= phase.quota, "phase {} is oversold", phase.name);
        }

        let on_dashboard = dashboard
            .events
            .iter()
            .find(|figures| figures.id == *event)
            .expect("every event on the dashboard");
        assert_eq!(on_dashboard.tickets_sold, u64::from(confirmed_tickets));
        assert_eq!(on_dashboard.revenue, revenue);
    }
    assert_eq!(dashboard.tickets_sold, confirmed_everywhere);
    assert_eq!(dashboard.pending_bookings, pending_everywhere);
}

// ---------------------------------------------------------------------------------------------
// Users

pub async fn accounts_get_increasing_ids_and_are_found_by_id_and_email(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let ari = stores
        .users
        .insert(new_user(
            "Ari Wibowo",
            "Ari@Example.com",
            Role::Customer,
            Some("3171000000000001"),
        ))
        .await
        .expect("ari");
    let bima = customer(&stores, "Bima Sakti").await;
    let cita = customer(&stores, "Cita Lestari").await;
    assert!(ari.id.0 > 0 && bima.id > ari.id && cita.id > bima.id);
    assert!(ari.active);
    assert_eq!(ari.email.as_str(), "ari@example.com");
    assert_eq!(ari.nik, Some(nik("3171000000000001")));
    assert_eq!(ari.role, Role::Customer);

    let found = stores.users.find(ari.id).await.expect("find");
    assert_eq!(found, Some(ari.clone()));
    let by_email = stores
        .users
        .find_by_email(&email("ARI@example.COM"))
        .await
        .expect("find by email");
    assert_eq!(by_email.map(|user| user.id), Some(ari.id));
    assert_eq!(
        stores.users.find(UserId(999_999)).await.expect("find"),
        None
    );
    let nobody = stores
        .users
        .find_by_email(&email("nobody@example.com"))
        .await
        .expect("find by email");
    assert_eq!(nobody, None);

    let first = stores.users.list(Page::new(1, 2)).await.expect("list");
    assert_eq!(first.total, 3);
    assert_eq!(
        first.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        [ari.id, bima.id]
    );
    let second = stores.users.list(Page::new(2, 2)).await.expect("list");
    assert_eq!(
        second.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        [cita.id]
    );
}

pub async fn emails_are_unique_ignoring_case(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let ari = stores
        .users
        .insert(new_user(
            "Ari Wibowo",
            "ari@example.com",
            Role::Customer,
            None,
        ))
        .await
        .expect("ari");
    let again = stores
        .users
        .insert(new_user(
            "Ari Again",
            "ARI@Example.com",
            Role::Customer,
            None,
        ))
        .await;
    assert_eq!(again, Err(UserWriteError::EmailTaken));

    let bima = customer(&stores, "Bima Sakti").await;
    let stolen = stores
        .users
        .update(
            bima.id,
            profile(ProfileChange {
                email: Some(email("Ari@EXAMPLE.com")),
                ..ProfileChange::default()
            }),
            None,
        )
        .await;
    assert_eq!(stolen, Err(UserWriteError::EmailTaken));
    let bima_now = stores.users.find(bima.id).await.expect("find");
    assert_eq!(bima_now, Some(bima));

    let kept = stores
        .users
        .update(
            ari.id,
            profile(ProfileChange {
                email: Some(email("ari@example.com")),
                ..ProfileChange::default()
            }),
            None,
        )
        .await
        .expect("keeping one's own email");
    assert_eq!(kept.email, ari.email);

    let moved = stores
        .users
        .update(
            ari.id,
            profile(ProfileChange {
                email: Some(email("ari.wibowo@example.com")),
                ..ProfileChange::default()
            }),
            None,
        )
        .await
        .expect("a new email");
    assert_eq!(moved.email.as_str(), "ari.wibowo@example.com");
    let freed = stores
        .users
        .insert(new_user(
            "Another Ari",
            "ari@example.com",
            Role::Customer,
            None,
        ))
        .await;
    assert!(freed.is_ok(), "the old address is free again: {freed:?}");
    assert_eq!(
        stores
            .users
            .list(Page::default())
            .await
            .expect("list")
            .total,
        3
    );
}

pub async fn niks_are_unique(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let shared = "3171000000000001";
    let ari = stores
        .users
        .insert(new_user(
            "Ari Wibowo",
            "ari@example.com",
            Role::Customer,
            Some(shared),
        ))
        .await
        .expect("ari");
    let copy = stores
        .users
        .insert(new_user(
            "Bima Sakti",
            "bima@example.com",
            Role::Customer,
            Some(shared),
        ))
        .await;
    assert_eq!(copy, Err(UserWriteError::NikTaken));

    let bima = customer(&stores, "Bima Sakti").await;
    let cita = customer(&stores, "Cita Lestari").await;
    assert_eq!(
        (bima.nik.clone(), cita.nik.clone()),
        (None, None),
        "many may have no NIK"
    );

    let set_nik = |value: Option<&str>| {
        profile(ProfileChange {
            nik: Some(value.map(nik)),
            ..ProfileChange::default()
        })
    };
    let taken = stores
        .users
        .update(bima.id, set_nik(Some(shared)), None)
        .await;
    assert_eq!(taken, Err(UserWriteError::NikTaken));
    let own = stores
        .users
        .update(bima.id, set_nik(Some("3171000000000002")), None)
        .await
        .expect("an unused NIK");
    assert_eq!(own.nik, Some(nik("3171000000000002")));

    stores
        .users
        .update(ari.id, set_nik(None), None)
        .await
        .expect("clearing a NIK");
    let freed = stores
        .users
        .update(cita.id, set_nik(Some(shared)), None)
        .await
        .expect("a NIK freed by its owner");
    assert_eq!(freed.nik, Some(nik(shared)));
}

pub async fn the_last_active_admin_can_be_neither_demoted_nor_deactivated(
    factory: &dyn StoreFactory,
) {
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
        .expect("root");
    let demote = profile(ProfileChange {
        role: Some(Role::Customer),
        ..ProfileChange::default()
    });
    let promote = profile(ProfileChange {
        role: Some(Role::Admin),
        ..ProfileChange::default()
    });

    let refused = stores.users.update(root.id, demote.clone(), None).await;
    assert_eq!(refused, Err(UserWriteError::LastAdmin));
    let refused = stores
        .users
        .update(root.id, UserChange::Deactivate, None)
        .await;
    assert_eq!(refused, Err(UserWriteError::LastAdmin));
    assert_eq!(
        stores.users.find(root.id).await.expect("find"),
        Some(root.clone())
    );

    let second = stores
        .users
        .insert(new_user(
            "Second Admin",
            "second@example.com",
            Role::Admin,
            None,
        ))
        .await
        .expect("second");
    let demoted = stores
        .users
        .update(root.id, demote.clone(), None)
        .await
        .expect("demoting one of two admins");
    assert_eq!(demoted.role, Role::Customer);
    let refused = stores
        .users
        .update(second.id, UserChange::Deactivate, None)
        .await;
    assert_eq!(refused, Err(UserWriteError::LastAdmin));

    stores
        .users
        .update(root.id, promote, None)
        .await
        .expect("promoting a customer");
    let deactivated = stores
        .users
        .update(second.id, UserChange::Deactivate, None)
        .await
        .expect("deactivating one of two admins");
    assert!(!deactivated.active);
    let refused = stores.users.update(root.id, demote, None).await;
    assert_eq!(
        refused,
        Err(UserWriteError::LastAdmin),
        "a deactivated admin does not count"
    );
}

pub async fn token_version_moves_when_old_tokens_must_stop_working(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    stores
        .users
        .insert(new_user(
            "Root Admin",
            "root@example.com",
            Role::Admin,
            None,
        ))
        .await
        .expect("root");
    let ari = customer(&stores, "Ari Wibowo").await;
    let start = ari.token_version;

    let renamed = stores
        .users
        .update(
            ari.id,
            profile(ProfileChange {
                name: Some(PersonName::parse("Ari W.").expect("a name")),
                ..ProfileChange::default()
            }),
            None,
        )
        .await
        .expect("rename");
    assert_eq!(renamed.name.as_str(), "Ari W.");
    assert_eq!(
        renamed.token_version, start,
        "a new name keeps tokens valid"
    );

    let rehashed = stores
        .users
        .update(
            ari.id,
            UserChange::Password {
                hash: "new-hash".into(),
            },
            None,
        )
        .await
        .expect("new password");
    assert_eq!(rehashed.password_hash, "new-hash");
    assert_eq!(rehashed.token_version, start + 1);

    let promote = profile(ProfileChange {
        role: Some(Role::Admin),
        ..ProfileChange::default()
    });
    let promoted = stores
        .users
        .update(ari.id, promote.clone(), None)
        .await
        .expect("promote");
    assert_eq!(
        (promoted.role, promoted.token_version),
        (Role::Admin, start + 2)
    );
    let same_role = stores
        .users
        .update(ari.id, promote, None)
        .await
        .expect("no change");
    assert_eq!(same_role.token_version, start + 2);

    let deactivated = stores
        .users
        .update(ari.id, UserChange::Deactivate, None)
        .await
        .expect("deactivate");
    assert!(!deactivated.active);
    assert_eq!(deactivated.token_version, start + 3);
    let stored = stores
        .users
        .find_by_email(&ari.email)
        .await
        .expect("find")
        .expect("a deactivated account is kept");
    assert_eq!((stored.active, stored.token_version), (false, start + 3));

    let unknown = stores
        .users
        .update(UserId(999_999), UserChange::Deactivate, None)
        .await;
    assert_eq!(unknown, Err(UserWriteError::NotFound));
}

// ---------------------------------------------------------------------------------------------
// Events

pub async fn a_new_event_gets_its_seats_and_phases_in_order(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let date = now() + days(30);
    let mut input = show("Stand-up Night", "Jakarta Comedy Club", date);
    input.capacity = Some(12);
    input.seats_per_row = Some(5);
    input.phases.push(phase(
        "Last Call",
        200_000,
        10,
        now() + days(20),
        date - minutes(30),
    ));
    let created = create_event(&stores, input).await;
    let event = &created.event;

    assert_eq!(event.name, "Stand-up Night");
    assert_eq!(event.venue, "Jakarta Comedy Club");
    assert_eq!(event.date, date);
    assert_eq!(event.description.as_deref(), Some("An evening of stand-up"));
    assert_eq!(
        event.image,
        Some(EventImage::Link(
            "https://cdn.example.com/poster.jpg".into()
        ))
    );
    assert_eq!((event.capacity, event.seats_per_row), (12, 5));
    assert_eq!(event.status, EventStatus::Published);
    let names: Vec<&str> = event.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Early Bird", "Normal", "Last Call"]);
    let phase_ids: BTreeSet<PhaseId> = event.phases.iter().map(|p| p.id).collect();
    assert_eq!(phase_ids.len(), 3);
    assert_eq!(event.phases[0].price, Money::rupiah(100_000));
    assert_eq!(event.phases[0].quota, 5);
    assert_eq!((created.seats_taken, created.tickets_sold), (0, 0));
    assert_eq!(created.available_seats(), 12);
    assert!(event.phases.iter().all(|p| created.sales.sold(p.id) == 0));

    let map = seat_map(&stores, event.id, now()).await;
    let shown: Vec<&str> = map.iter().map(|(_, label, _)| label.as_str()).collect();
    assert_eq!(
        shown,
        ["A1", "A2", "A3", "A4", "A5", "B1", "B2", "B3", "B4", "B5", "C1", "C2"]
    );
    assert!(map
        .iter()
        .all(|(_, _, status)| *status == SeatStatus::Available));
    let distinct: BTreeSet<SeatId> = map.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(distinct.len(), 12);

    let found = view(&stores, event.id, now()).await;
    assert_eq!(found.event, *event);
    assert_eq!(
        stores
            .events
            .find(EventId(999_999), now())
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        stores
            .events
            .seats(EventId(999_999), now())
            .await
            .expect("seats"),
        None
    );
}

pub async fn events_are_listed_by_date_filtered_and_paged(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let late = create_event(
        &stores,
        show("Late Laughs", "Bandung Hall", now() + days(60)),
    )
    .await;
    let early = create_event(
        &stores,
        show("Early Giggles", "Jakarta Comedy Club", now() + days(10)),
    )
    .await;
    let middle = create_event(
        &stores,
        show("Midnight Roast", "Surabaya Stage", now() + days(30)),
    )
    .await;
    let (late, early, middle) = (late.event.id, early.event.id, middle.event.id);

    let list = |filter: EventFilter, page: Page, at: Timestamp| {
        let events = Arc::clone(&stores.events);
        async move {
            let listed = events.list(filter, page, at).await.expect("list");
            let ids: Vec<EventId> = listed.items.iter().map(|view| view.event.id).collect();
            (ids, listed.total)
        }
    };
    let query = |text: &str| EventFilter {
        query: Some(text.into()),
        ..EventFilter::default()
    };

    assert_eq!(
        list(EventFilter::default(), Page::default(), now()).await,
        (vec![early, middle, late], 3)
    );
    assert_eq!(
        list(query("jakarta"), Page::default(), now()).await,
        (vec![early], 1),
        "venue"
    );
    assert_eq!(
        list(query("ROAST"), Page::default(), now()).await,
        (vec![middle], 1),
        "name"
    );
    assert_eq!(
        list(query("la"), Page::default(), now()).await,
        (vec![late], 1)
    );
    assert_eq!(
        list(query("nothing like it"), Page::default(), now()).await,
        (vec![], 0)
    );

    let upcoming = EventFilter {
        upcoming_only: true,
        ..EventFilter::default()
    };
    assert_eq!(
        list(upcoming.clone(), Page::default(), now()).await,
        (vec![early, middle, late], 3)
    );
    assert_eq!(
        list(upcoming, Page::default(), now() + days(20)).await,
        (vec![middle, late], 2),
        "a past show is not upcoming"
    );

    assert_eq!(
        list(EventFilter::default(), Page::new(2, 2), now()).await,
        (vec![late], 3)
    );
    assert_eq!(
        list(EventFilter::default(), Page::new(3, 2), now()).await,
        (vec![], 3)
    );

    let ari = customer(&stores, "Ari Wibowo").await;
    let bima = customer(&stores, "Bima Sakti").await;
    let holder = |user: &User| EventFilter {
        ticket_holder: Some(user.id),
        ..EventFilter::default()
    };
    let seats = seat_ids(&stores, middle).await;
    let booking = place(&stores, request(&ari, middle, &seats[..1]), now()).await;
    assert_eq!(
        list(holder(&ari), Page::default(), now()).await,
        (vec![middle], 1)
    );
    assert_eq!(
        list(holder(&bima), Page::default(), now()).await,
        (vec![], 0)
    );
    stores
        .bookings
        .cancel(&booking.booking.code, now())
        .await
        .expect("cancel");
    assert_eq!(
        list(holder(&ari), Page::default(), now()).await,
        (vec![], 0),
        "a cancelled booking holds no tickets"
    );
}

pub async fn capacity_grows_at_the_end_and_never_drops_below_seats_in_use(
    factory: &dyn StoreFactory,
) {
    let stores = factory.fresh().await;
    let mut input = standard_show();
    input.capacity = Some(12);
    input.seats_per_row = Some(5);
    let event = create_event(&stores, input).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let booking = place(&stores, request(&ari, event, &[seats[10]]), now()).await;
    assert_eq!(labels(&booking), ["C1"]);

    let resize = |capacity: i64| EventPatch {
        capacity: Some(capacity),
        ..EventPatch::default()
    };
    let refused = stores
        .events
        .update(event, resize(10), now(), by_staff(&stores, now()).await)
        .await;
    assert_eq!(
        update_rejection(refused),
        EventUpdateError::CapacityBelowSeatsInUse {
            requested: 10,
            in_use: 11
        }
    );

    let shrunk = stores
        .events
        .update(event, resize(11), now(), by_staff(&stores, now()).await)
        .await
        .expect("shrink");
    assert_eq!(shrunk.event.capacity, 11);
    assert_eq!(shrunk.available_seats(), 10);
    let map = seat_map(&stores, event, now()).await;
    assert_eq!(map.len(), 11);
    assert_eq!(
        map.last().map(|(id, label, _)| (*id, label.as_str())),
        Some((seats[10], "C1"))
    );

    let grown = stores
        .events
        .update(event, resize(14), now(), by_staff(&stores, now()).await)
        .await
        .expect("grow");
    assert_eq!(grown.event.capacity, 14);
    assert_eq!(grown.available_seats(), 13);
    let map = seat_map(&stores, event, now()).await;
    let shown: Vec<&str> = map
        .iter()
        .skip(10)
        .map(|(_, label, _)| label.as_str())
        .collect();
    assert_eq!(shown, ["C1", "C2", "C3", "C4"]);
    assert_eq!(map[10], (seats[10], "C1".to_string(), SeatStatus::Held));
    let distinct: BTreeSet<SeatId> = map.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(distinct.len(), 14, "appended seats get ids of their own");
    assert!(map[11..]
        .iter()
        .all(|(_, _, status)| *status == SeatStatus::Available));

    stores
        .bookings
        .cancel(&booking.booking.code, now())
        .await
        .expect("cancel");
    let emptied = stores
        .events
        .update(event, resize(1), now(), by_staff(&stores, now()).await)
        .await
        .expect("shrink to one");
    assert_eq!(seat_map(&stores, event, now()).await.len(), 1);
    assert_eq!(emptied.available_seats(), 1);
}

pub async fn phases_change_only_as_their_sales_allow(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let created = create_event(&stores, standard_show()).await;
    let event = created.event.id;
    let (early, normal) = (&created.event.phases[0], &created.event.phases[1]);
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let booking = place(&stores, request(&ari, event, &seats[..2]), now()).await;
    assert_eq!(booking.booking.phase_id, early.id);

    let with_phases = |phases: Vec<PhaseInput>| EventPatch {
        phases: Some(phases),
        ..EventPatch::default()
    };
    let too_small = PhaseInput {
        quota: 1,
        ..unchanged(early)
    };
    let refused = stores
        .events
        .update(
            event,
            with_phases(vec![too_small, unchanged(normal)]),
            now(),
            by_staff(&stores, now()).await,
        )
        .await;
    assert_eq!(
        update_rejection(refused),
        EventUpdateError::QuotaBelowSold {
            name: "Early Bird".into(),
            sold: 2
        }
    );
    let refused = stores
        .events
        .update(
            event,
            with_phases(vec![unchanged(normal)]),
            now(),
            by_staff(&stores, now()).await,
        )
        .await;
    assert_eq!(
        update_rejection(refused),
        EventUpdateError::PhaseHasSales {
            name: "Early Bird".into(),
            sold: 2
        }
    );

    let renamed = PhaseInput {
        name: "Early Bird Special".into(),
        price: 90_000,
        quota: 2,
        ..unchanged(early)
    };
    let added = phase("Last Call", 200_000, 10, now() - days(1), now() + days(29));
    let updated = stores
        .events
        .update(
            event,
            with_phases(vec![renamed, added]),
            now(),
            by_staff(&stores, now()).await,
        )
        .await
        .expect("rename, remove an unsold phase, add one");
    let phases = &updated.event.phases;
    assert_eq!(phases.len(), 2);
    assert_eq!(phases[0].id, early.id);
    assert_eq!(
        (phases[0].name.as_str(), phases[0].quota),
        ("Early Bird Special", 2)
    );
    assert_eq!(phases[0].price, Money::rupiah(90_000));
    assert!(phases[1].id != early.id && phases[1].id != normal.id);
    assert_eq!(phases[1].name, "Last Call");
    assert_eq!(updated.sales.sold(early.id), 2);
    let unchanged_booking = find_booking(&stores, &booking.booking.code, now()).await;
    assert_eq!(
        unchanged_booking.booking.unit_price,
        Money::rupiah(100_000),
        "a sale keeps the price it was made at"
    );

    let next = place(&stores, request(&ari, event, &seats[2..3]), now()).await;
    assert_eq!(
        next.booking.phase_id, phases[1].id,
        "the sold-out phase gives way"
    );

    let removed = stores
        .events
        .update(
            event,
            with_phases(vec![unchanged(normal)]),
            now(),
            by_staff(&stores, now()).await,
        )
        .await;
    assert!(
        matches!(update_rejection(removed), EventUpdateError::Input(_)),
        "a removed phase cannot be named again"
    );
}

pub async fn only_an_event_without_bookings_can_be_deleted(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let empty = create_event(&stores, standard_show()).await.event.id;
    stores
        .events
        .delete(empty, by_staff(&stores, now()).await)
        .await
        .expect("delete");
    assert_eq!(stores.events.find(empty, now()).await.expect("find"), None);
    assert_eq!(
        stores.events.seats(empty, now()).await.expect("seats"),
        None
    );
    assert_eq!(
        stores
            .events
            .delete(empty, by_staff(&stores, now()).await)
            .await,
        Err(EventDeleteError::NotFound)
    );
    let listed = stores
        .events
        .list(EventFilter::default(), Page::default(), now())
        .await
        .expect("list");
    assert_eq!(listed.total, 0);

    let booked = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, booked).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let booking = place(&stores, request(&ari, booked, &seats[..1]), now()).await;
    stores
        .bookings
        .cancel(&booking.booking.code, now())
        .await
        .expect("cancel");
    assert_eq!(
        stores
            .events
            .delete(booked, by_staff(&stores, now()).await)
            .await,
        Err(EventDeleteError::HasBookings),
        "even a cancelled booking keeps its event"
    );
    assert!(stores
        .events
        .find(booked, now())
        .await
        .expect("find")
        .is_some());
    assert_eq!(
        stores
            .events
            .delete(EventId(999_999), by_staff(&stores, now()).await)
            .await,
        Err(EventDeleteError::NotFound)
    );
}

fn uploaded(media_type: ImageMediaType, bytes: &[u8]) -> Option<EventImage> {
    Some(EventImage::Uploaded {
        media_type,
        digest: ImageDigest::of(bytes),
    })
}

async fn change_picture(stores: &Stores, event: EventId, image_url: Option<String>) -> EventView {
    let patch = EventPatch {
        image_url: Some(image_url),
        ..EventPatch::default()
    };
    stores
        .events
        .update(event, patch, now(), by_staff(stores, now()).await)
        .await
        .expect("the picture changes")
}

pub async fn an_uploaded_picture_is_kept_apart_replaced_and_deleted_with_its_event(
    factory: &dyn StoreFactory,
) {
    let stores = factory.fresh().await;
    let image_of = |event: EventId| {
        let stores = stores.clone();
        async move { stores.events.image(event).await.expect("the picture") }
    };
    let mut input = standard_show();
    input.image_url = Some(data_url("image/png", &png(1)));
    let created = create_event(&stores, input).await;
    let first = created.event.id;
    assert_eq!(created.event.image, uploaded(ImageMediaType::Png, &png(1)));
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let mut input = show("Open Mic", "Kafe Komedi", now() + days(20));
    input.image_url = Some(data_url("image/gif", &gif));
    let second = create_event(&stores, input).await.event.id;
    let linked = create_event(&stores, standard_show()).await.event.id;

    let file = image_of(first).await.expect("the first event's picture");
    assert_eq!(
        (file.media_type, &file.digest, &file.bytes),
        (ImageMediaType::Png, &ImageDigest::of(&png(1)), &png(1))
    );
    let file = image_of(second).await.expect("the second event's picture");
    assert_eq!(
        (file.media_type, file.bytes),
        (ImageMediaType::Gif, gif.clone())
    );
    assert_eq!(image_of(linked).await, None, "a link is no upload");
    assert_eq!(image_of(EventId(999_999)).await, None);

    let found = stores.events.find(first, now()).await.expect("find");
    assert_eq!(found.expect("the event").event.image, created.event.image);
    let listed = stores
        .events
        .list(EventFilter::default(), Page::default(), now())
        .await
        .expect("list");
    let shown: Vec<Option<EventImage>> =
        listed.items.iter().map(|v| v.event.image.clone()).collect();
    assert_eq!(
        shown,
        [
            uploaded(ImageMediaType::Gif, &gif),
            uploaded(ImageMediaType::Png, &png(1)),
            Some(EventImage::Link(
                "https://cdn.example.com/poster.jpg".into()
            )),
        ]
    );

    let ari = customer(&stores, "Ari Wibowo").await;
    let seats = seat_ids(&stores, first).await;
    let booking = place(&stores, request(&ari, first, &seats[..1]), now()).await;
    assert_eq!(
        booking.event.image, created.event.image,
        "a booking shows its event's picture"
    );

    let renamed = stores
        .events
        .update(
            first,
            EventPatch {
                name: Some("Stand-up Night II".into()),
                ..EventPatch::default()
            },
            now(),
            by_staff(&stores, now()).await,
        )
        .await
        .expect("rename");
    assert_eq!(
        renamed.event.image, created.event.image,
        "a change that leaves the picture keeps it"
    );
    assert_eq!(image_of(first).await.map(|file| file.bytes), Some(png(1)));

    let replaced = change_picture(&stores, first, Some(data_url("image/png", &png(2)))).await;
    assert_eq!(replaced.event.image, uploaded(ImageMediaType::Png, &png(2)));
    assert_eq!(image_of(first).await.map(|file| file.bytes), Some(png(2)));
    let found = find_booking(&stores, &booking.booking.code, now()).await;
    assert_eq!(found.event.image, uploaded(ImageMediaType::Png, &png(2)));

    let link = "https://cdn.example.com/baru.png".to_string();
    let relinked = change_picture(&stores, first, Some(link.clone())).await;
    assert_eq!(relinked.event.image, Some(EventImage::Link(link)));
    assert_eq!(image_of(first).await, None, "a link replaces the upload");

    change_picture(&stores, first, Some(data_url("image/png", &png(3)))).await;
    let cleared = change_picture(&stores, first, None).await;
    assert_eq!(cleared.event.image, None);
    assert_eq!(image_of(first).await, None, "clearing deletes the upload");
    assert_eq!(
        image_of(second).await.map(|file| file.bytes),
        Some(gif.clone()),
        "other events' pictures are untouched"
    );

    stores
        .events
        .delete(second, by_staff(&stores, now()).await)
        .await
        .expect("delete");
    assert_eq!(
        image_of(second).await,
        None,
        "a deleted event's picture goes with it"
    );
}

pub async fn cancelling_an_event_cancels_its_bookings_and_refunds_payments(
    factory: &dyn StoreFactory,
) {
    let stores = factory.fresh().await;
    let event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let bima = customer(&stores, "Bima Sakti").await;
    let cita = customer(&stores, "Cita Lestari").await;
    let pending = place(&stores, request(&ari, event, &seats[..1]), now()).await;
    let paid = place(&stores, request(&bima, event, &seats[1..3]), now()).await;
    pay_in_full(&stores, &paid, now()).await;
    let withdrawn = place(&stores, request(&cita, event, &seats[3..4]), now()).await;
    stores
        .bookings
        .cancel(&withdrawn.booking.code, now())
        .await
        .expect("cancel");
    let later = now() + minutes(5);

    let cancel = EventPatch {
        status: Some("cancelled".into()),
        ..EventPatch::default()
    };
    let cancelled = stores
        .events
        .update(event, cancel, later, by_staff(&stores, later).await)
        .await
        .expect("cancel the event");
    assert_eq!(cancelled.event.status, EventStatus::Cancelled);
    assert_eq!((cancelled.seats_taken, cancelled.tickets_sold), (0, 0));
    assert!(cancelled
        .event
        .phases
        .iter()
        .all(|p| cancelled.sales.sold(p.id) == 0));

    let released = find_booking(&stores, &pending.booking.code, later).await;
    assert_eq!(released.booking.status, BookingStatus::Cancelled);
    assert_eq!(released.booking.cancelled_at, Some(later));
    assert_eq!(released.payment, None);
    let refunded = find_booking(&stores, &paid.booking.code, later).await;
    assert_eq!(refunded.booking.status, BookingStatus::Cancelled);
    let refund = refunded.payment.expect("the payment is kept");
    assert_eq!(
        (refund.status, refund.refunded_at),
        (PaymentStatus::Refunded, Some(later))
    );
    let untouched = find_booking(&stores, &withdrawn.booking.code, later).await;
    assert_eq!(
        untouched.booking.cancelled_at,
        Some(now()),
        "already cancelled before"
    );

    let map = seat_map(&stores, event, later).await;
    assert!(map
        .iter()
        .all(|(_, _, status)| *status == SeatStatus::Available));
    let dashboard = stores.bookings.dashboard(later).await.expect("dashboard");
    assert_eq!(dashboard.total_revenue, Money::ZERO);
    assert_eq!((dashboard.tickets_sold, dashboard.pending_bookings), (0, 0));
    assert_eq!((dashboard.active_events, dashboard.total_events), (0, 1));

    let too_late = stores
        .bookings
        .place(request(&ari, event, &seats[..1]), policy(), later)
        .await;
    assert_eq!(
        rejection(too_late),
        BookingRejection::EventNotOnSale {
            status: "cancelled"
        }
    );
    let republish = EventPatch {
        status: Some("published".into()),
        ..EventPatch::default()
    };
    let refused = stores
        .events
        .update(event, republish, later, by_staff(&stores, later).await)
        .await;
    assert_eq!(
        update_rejection(refused),
        EventUpdateError::CancelledForGood
    );
    assert_books_agree(&stores, &[event], &[ari.id, bima.id, cita.id], later).await;
}

// ---------------------------------------------------------------------------------------------
// Bookings

pub async fn a_booking_holds_its_seats_at_the_current_phase_price(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let created = create_event(&stores, standard_show()).await;
    let event = created.event.id;
    let early = created.event.phases[0].id;
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;

    let placed = stores
        .bookings
        .place(
            request(&ari, event, &[seats[11], seats[2]]),
            policy(),
            now(),
        )
        .await
        .expect("a booking");
    let booking = &placed.booking;
    assert_eq!(
        BookingCode::parse(booking.code.as_str()),
        Ok(booking.code.clone())
    );
    assert_eq!(booking.status, BookingStatus::Pending);
    assert_eq!((booking.event_id, booking.customer_id), (event, ari.id));
    assert_eq!(
        (booking.phase_id, booking.ticket_type.as_str()),
        (early, "Early Bird")
    );
    assert_eq!(booking.quantity(), 2);
    assert_eq!(booking.unit_price, Money::rupiah(100_000));
    assert_eq!(booking.total_price, Money::rupiah(200_000));
    assert_eq!(labels(&placed), ["A3", "B2"]);
    assert_eq!(
        booking.seats.iter().map(|seat| seat.id).collect::<Vec<_>>(),
        [seats[2], seats[11]]
    );
    assert_eq!(booking.created_at, now());
    assert_eq!(booking.expires_at, now() + minutes(15));
    assert_eq!(
        (booking.paid_at, booking.cancelled_at, booking.checked_in_at),
        (None, None, None)
    );
    assert_eq!(placed.customer_name, "Ari Wibowo");
    assert_eq!(placed.event.id, event);
    assert_eq!(placed.event.name, "Stand-up Night");
    assert_eq!(placed.event.venue, "Jakarta Comedy Club");
    assert_eq!(placed.event.image, created.event.image);
    assert_eq!(placed.payment, None);

    let typed = BookingCode::parse(&booking.code.as_str().to_lowercase()).expect("a code");
    let found = find_booking(&stores, &typed, now()).await;
    assert_eq!(found, placed);
    let unknown = BookingCode::parse("BKG-ZZZZZ").expect("a code");
    assert_eq!(
        stores
            .bookings
            .find_by_code(&unknown, now())
            .await
            .expect("find"),
        None
    );

    for (id, label, status) in seat_map(&stores, event, now()).await {
        let expected = if id == seats[2] || id == seats[11] {
            SeatStatus::Held
        } else {
            SeatStatus::Available
        };
        assert_eq!(status, expected, "seat {label}");
    }
    let figures = view(&stores, event, now()).await;
    assert_eq!(figures.sales.sold(early), 2);
    assert_eq!((figures.seats_taken, figures.tickets_sold), (2, 0));
    assert_eq!(figures.available_seats(), 18);

    let bima = customer(&stores, "Bima Sakti").await;
    let other = place(&stores, request(&bima, event, &seats[..1]), now()).await;
    assert_ne!(other.booking.code, booking.code);
    assert_ne!(other.booking.id, booking.id);
}

pub async fn taken_seats_are_named_and_nothing_is_claimed(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let event = create_event(&stores, standard_show()).await.event.id;
    let other_event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let foreign = seat_ids(&stores, other_event).await[0];
    let ari = customer(&stores, "Ari Wibowo").await;
    let bima = customer(&stores, "Bima Sakti").await;
    let first = place(&stores, request(&ari, event, &seats[..2]), now()).await;

    let clash = attempt(
        &stores,
        request(&bima, event, &[seats[1], seats[2], seats[0]]),
        policy(),
    )
    .await;
    let BookingRejection::SeatsTaken { seats: mut taken } = rejection(clash) else {
        panic!("expected the taken seats to be named");
    };
    taken.sort_by_key(|seat| seat.id);
    let named: Vec<(SeatId, &str)> = taken.iter().map(|s| (s.id, s.label.as_str())).collect();
    assert_eq!(named, [(seats[0], "A1"), (seats[1], "A2")]);
    assert_eq!(
        status_of_seat(&stores, event, seats[2], now()).await,
        SeatStatus::Available,
        "all seats or none"
    );
    assert_eq!(view(&stores, event, now()).await.seats_taken, 2);

    pay_in_full(&stores, &first, now()).await;
    let clash = attempt(&stores, request(&bima, event, &seats[1..2]), policy()).await;
    assert!(
        matches!(rejection(clash), BookingRejection::SeatsTaken { .. }),
        "sold seats too"
    );

    let stray = attempt(
        &stores,
        request(&bima, event, &[seats[3], foreign]),
        policy(),
    )
    .await;
    assert_eq!(
        rejection(stray),
        BookingRejection::UnknownSeats { ids: vec![foreign] }
    );
    let nowhere = attempt(
        &stores,
        request(&bima, EventId(999_999), &seats[3..4]),
        policy(),
    )
    .await;
    assert!(
        matches!(nowhere, Err(PlaceBookingError::EventNotFound)),
        "{nowhere:?}"
    );
    assert_books_agree(&stores, &[event, other_event], &[ari.id, bima.id], now()).await;
}

pub async fn a_booking_gets_the_phase_on_sale_or_is_refused(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let date = now() + days(30);
    let mut input = show("Phased Show", "Jakarta Comedy Club", date);
    input.capacity = Some(40);
    input.phases = vec![
        phase("Early Bird", 100_000, 2, now() - days(1), now() + days(5)),
        phase("Normal", 150_000, 30, now() - days(1), date - minutes(60)),
        phase(
            "Last Call",
            200_000,
            5,
            now() + days(20),
            date - minutes(60),
        ),
    ];
    let created = create_event(&stores, input).await;
    let event = created.event.id;
    let phases: Vec<PhaseId> = created.event.phases.iter().map(|p| p.id).collect();
    let (early, normal, last_call) = (phases[0], phases[1], phases[2]);
    let seats = seat_ids(&stores, event).await;
    let people = customers(&stores, 3).await;
    let (ari, bima, cita) = (&people[0], &people[1], &people[2]);

    let first = place(&stores, request(ari, event, &seats[..2]), now()).await;
    assert_eq!(first.booking.phase_id, early);
    let second = place(&stores, request(bima, event, &seats[2..3]), now()).await;
    assert_eq!(
        (second.booking.phase_id, second.booking.unit_price),
        (normal, Money::rupiah(150_000)),
        "a sold-out phase gives way to the next"
    );

    let sold_out = attempt(
        &stores,
        in_phase(request(cita, event, &seats[3..4]), early),
        generous(),
    )
    .await;
    assert_eq!(
        rejection(sold_out),
        BookingRejection::PhaseNotOnSale {
            name: "Early Bird".into()
        }
    );
    let not_yet = attempt(
        &stores,
        in_phase(request(cita, event, &seats[3..4]), last_call),
        generous(),
    )
    .await;
    assert_eq!(
        rejection(not_yet),
        BookingRejection::PhaseNotOnSale {
            name: "Last Call".into()
        }
    );
    let other = create_event(&stores, standard_show()).await.event.phases[0].id;
    let foreign = attempt(
        &stores,
        in_phase(request(cita, event, &seats[3..4]), other),
        generous(),
    )
    .await;
    assert_eq!(
        rejection(foreign),
        BookingRejection::UnknownPhase { id: other }
    );

    let after_early_window = now() + days(6);
    let third = place(
        &stores,
        request(cita, event, &seats[3..4]),
        after_early_window,
    )
    .await;
    assert_eq!(
        third.booking.phase_id, normal,
        "a closed window gives way too"
    );
    let late = now() + days(21);
    let chosen = place(
        &stores,
        in_phase(request(cita, event, &seats[4..5]), last_call),
        late,
    )
    .await;
    assert_eq!(
        (chosen.booking.phase_id, chosen.booking.total_price),
        (last_call, Money::rupiah(200_000))
    );
    let default = place(&stores, request(cita, event, &seats[5..6]), late).await;
    assert_eq!(
        default.booking.phase_id, normal,
        "the first phase on sale in the event's order"
    );

    let mut small = show("Small Room", "Bandung Hall", date);
    small.capacity = Some(10);
    small.phases = vec![phase(
        "Only Phase",
        50_000,
        3,
        now() - days(1),
        date - minutes(60),
    )];
    let small = create_event(&stores, small).await.event;
    let small_seats = seat_ids(&stores, small.id).await;
    place(&stores, request(ari, small.id, &small_seats[..2]), now()).await;
    let expected = BookingRejection::QuotaExhausted {
        name: "Only Phase".into(),
        remaining: 1,
        requested: 2,
    };
    let too_many = attempt(
        &stores,
        request(bima, small.id, &small_seats[2..4]),
        generous(),
    )
    .await;
    assert_eq!(rejection(too_many), expected);
    let too_many = attempt(
        &stores,
        in_phase(
            request(bima, small.id, &small_seats[2..4]),
            small.phases[0].id,
        ),
        generous(),
    )
    .await;
    assert_eq!(rejection(too_many), expected);
    place(&stores, request(bima, small.id, &small_seats[2..3]), now()).await;
    let none_left = attempt(
        &stores,
        request(cita, small.id, &small_seats[3..4]),
        generous(),
    )
    .await;
    assert_eq!(rejection(none_left), BookingRejection::NoPhaseOnSale);
    assert_books_agree(
        &stores,
        &[event, small.id],
        &[ari.id, bima.id, cita.id],
        late,
    )
    .await;
}

pub async fn a_customer_holds_at_most_the_limit_per_event(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    // One phase with room for everyone: a booking that does not fit what is left of the
    // current phase is refused, which is not what this test is about.
    let mut input = standard_show();
    input.phases[0].quota = 20;
    let event = create_event(&stores, input).await.event.id;
    let other_event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let other_seats = seat_ids(&stores, other_event).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let bima = customer(&stores, "Bima Sakti").await;

    let pair = attempt(&stores, request(&ari, event, &seats[..2]), policy())
        .await
        .expect("two");
    let over = attempt(&stores, request(&ari, event, &seats[2..4]), policy()).await;
    assert_eq!(
        rejection(over),
        BookingRejection::TicketLimit {
            limit: 3,
            held: 2,
            requested: 2
        }
    );
    let single = attempt(&stores, request(&ari, event, &seats[2..3]), policy())
        .await
        .expect("third");
    pay_in_full(&stores, &single, now()).await;
    let over = attempt(&stores, request(&ari, event, &seats[3..4]), policy()).await;
    assert_eq!(
        rejection(over),
        BookingRejection::TicketLimit {
            limit: 3,
            held: 3,
            requested: 1
        },
        "paid tickets count too"
    );

    attempt(
        &stores,
        request(&ari, other_event, &other_seats[..3]),
        policy(),
    )
    .await
    .expect("the limit is per event");
    attempt(&stores, request(&bima, event, &seats[3..6]), policy())
        .await
        .expect("the limit is per customer");

    stores
        .bookings
        .cancel(&pair.booking.code, now())
        .await
        .expect("cancel");
    attempt(&stores, request(&ari, event, &seats[6..8]), policy())
        .await
        .expect("cancelled tickets no longer count");
    assert_books_agree(&stores, &[event, other_event], &[ari.id, bima.id], now()).await;
}

pub async fn paying_confirms_once_and_records_the_change(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let placed = place(&stores, request(&ari, event, &seats[..2]), now()).await;
    let code = &placed.booking.code;

    let short = stores.bookings.pay(code, payment(199_999), now()).await;
    assert_eq!(
        short.map(|receipt| receipt.payment),
        Err(BookingCommandError::Rejected(PayRejection::AmountTooLow {
            required: Money::rupiah(200_000),
            given: Money::rupiah(199_999)
        }))
    );
    let still = find_booking(&stores, code, now()).await;
    assert_eq!(
        (still.booking.status, still.payment),
        (BookingStatus::Pending, None)
    );

    let paid_at = now() + minutes(3);
    let receipt = stores
        .bookings
        .pay(code, payment(250_000), paid_at)
        .await
        .expect("a payment");
    let recorded = &receipt.payment;
    assert_eq!(recorded.booking_id, placed.booking.id);
    assert_eq!(recorded.amount, Money::rupiah(250_000));
    assert_eq!(recorded.change, Money::rupiah(50_000));
    assert_eq!(recorded.method, "BCA Virtual Account");
    assert_eq!(recorded.status, PaymentStatus::Success);
    assert_eq!((recorded.created_at, recorded.refunded_at), (paid_at, None));
    assert_eq!(receipt.booking.booking.status, BookingStatus::Confirmed);
    assert_eq!(receipt.booking.booking.paid_at, Some(paid_at));
    assert_eq!(receipt.booking.payment.as_ref(), Some(recorded));

    let twice = stores.bookings.pay(code, payment(250_000), paid_at).await;
    assert_eq!(
        twice.map(|receipt| receipt.payment),
        Err(BookingCommandError::Rejected(PayRejection::NotPending {
            status: BookingStatus::Confirmed
        }))
    );
    let found = find_booking(&stores, code, paid_at).await;
    assert_eq!(found.payment.as_ref(), Some(recorded), "recorded once");
    assert_eq!(
        status_of_seat(&stores, event, seats[0], paid_at).await,
        SeatStatus::Sold
    );
    let figures = view(&stores, event, paid_at).await;
    assert_eq!((figures.seats_taken, figures.tickets_sold), (2, 2));

    let unknown = BookingCode::parse("BKG-ZZZZZ").expect("a code");
    let missing = stores.bookings.pay(&unknown, payment(1), now()).await;
    assert_eq!(
        missing.map(|receipt| receipt.payment),
        Err(BookingCommandError::NotFound)
    );
}

pub async fn cancelling_releases_a_hold_and_refunds_a_payment(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let created = create_event(&stores, standard_show()).await;
    let (event, date) = (created.event.id, created.event.date);
    let early = created.event.phases[0].id;
    let seats = seat_ids(&stores, event).await;
    let people = customers(&stores, 5).await;

    let held = place(&stores, request(&people[0], event, &seats[..1]), now()).await;
    let released = stores
        .bookings
        .cancel(&held.booking.code, now())
        .await
        .expect("cancel a hold");
    assert_eq!(released.booking.status, BookingStatus::Cancelled);
    assert_eq!(
        (released.booking.cancelled_at, released.payment),
        (Some(now()), None)
    );
    assert_eq!(
        status_of_seat(&stores, event, seats[0], now()).await,
        SeatStatus::Available
    );
    assert_eq!(
        view(&stores, event, now()).await.sales.sold(early),
        0,
        "quota freed"
    );
    let again = stores.bookings.cancel(&held.booking.code, now()).await;
    assert_eq!(
        again,
        Err(BookingCommandError::Rejected(CancelRejection::NotOpen {
            status: BookingStatus::Cancelled
        }))
    );

    let paid = place(&stores, request(&people[1], event, &seats[1..2]), now()).await;
    pay_in_full(&stores, &paid, now()).await;
    let refunded = stores
        .bookings
        .cancel(&paid.booking.code, now() + minutes(1))
        .await
        .expect("cancel a paid booking");
    assert_eq!(refunded.booking.status, BookingStatus::Cancelled);
    let refund = refunded.payment.expect("the payment");
    assert_eq!(refund.status, PaymentStatus::Refunded);
    assert_eq!(refund.refunded_at, Some(now() + minutes(1)));
    assert_eq!(
        status_of_seat(&stores, event, seats[1], now()).await,
        SeatStatus::Available
    );
    let dashboard = stores.bookings.dashboard(now()).await.expect("dashboard");
    assert_eq!(
        (dashboard.total_revenue, dashboard.tickets_sold),
        (Money::ZERO, 0)
    );

    let used = place(&stores, request(&people[2], event, &seats[2..3]), now()).await;
    pay_in_full(&stores, &used, now()).await;
    stores
        .bookings
        .check_in(&used.booking.code, now(), by_staff(&stores, now()).await)
        .await
        .expect("check in");
    let refused = stores.bookings.cancel(&used.booking.code, now()).await;
    assert_eq!(
        refused,
        Err(BookingCommandError::Rejected(CancelRejection::CheckedIn {
            at: now()
        }))
    );

    let started = place(&stores, request(&people[3], event, &seats[3..4]), now()).await;
    pay_in_full(&stores, &started, now()).await;
    let refused = stores.bookings.cancel(&started.booking.code, date).await;
    assert_eq!(
        refused,
        Err(BookingCommandError::Rejected(CancelRejection::EventStarted))
    );

    let lapsed = place(&stores, request(&people[4], event, &seats[4..5]), now()).await;
    let refused = stores
        .bookings
        .cancel(&lapsed.booking.code, lapsed.booking.expires_at)
        .await;
    assert_eq!(
        refused,
        Err(BookingCommandError::Rejected(CancelRejection::NotOpen {
            status: BookingStatus::Expired
        }))
    );
    let unknown = BookingCode::parse("BKG-ZZZZZ").expect("a code");
    assert_eq!(
        stores.bookings.cancel(&unknown, now()).await,
        Err(BookingCommandError::NotFound)
    );
    let everyone: Vec<UserId> = people.iter().map(|p| p.id).collect();
    assert_books_agree(&stores, &[event], &everyone, now() + minutes(20)).await;
}

/// The instants where a rule's answer turns: a phase's first and last instant, the instant after
/// it, a hold's expiry, the show's start. Both stores answer as the domain decides (it sells at a
/// window's both ends), never with a store error.
pub async fn the_instants_where_a_rule_turns_are_decided_the_same_way(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let date = now() + days(30);
    let (start, end) = (now() - days(1), date - minutes(60));
    let input = EventInput {
        phases: vec![phase("Normal", 100_000, 20, start, end)],
        ..show("Batas Waktu", "Gedung Kesenian", date)
    };
    let event = create_event(&stores, input).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let second = Duration::seconds(1);
    let at = |instant: Timestamp, seat: usize| {
        let request = request(&ari, event, &seats[seat..=seat]);
        let bookings = Arc::clone(&stores.bookings);
        async move { bookings.place(request, generous(), instant).await }
    };

    at(start, 0).await.expect("the phase's first instant sells");
    at(end, 1).await.expect("the phase's last instant sells");
    assert!(
        matches!(
            at(end + second, 2).await,
            Err(PlaceBookingError::Rejected(_))
        ),
        "the instant after the phase is refused as the domain says"
    );
    assert!(matches!(
        at(start - second, 2).await,
        Err(PlaceBookingError::Rejected(_))
    ));

    // A hold is paid until the instant before it expires, not at it.
    let held = at(end - minutes(30), 3).await.expect("a hold");
    let expiry = held.booking.expires_at;
    assert_eq!(
        stores
            .bookings
            .pay(&held.booking.code, payment(100_000), expiry)
            .await
            .map(|receipt| receipt.booking.booking.status),
        Err(BookingCommandError::Rejected(PayRejection::NotPending {
            status: BookingStatus::Expired
        }))
    );
    let held = at(end - minutes(30), 4).await.expect("a hold");
    let paid = stores
        .bookings
        .pay(
            &held.booking.code,
            payment(100_000),
            held.booking.expires_at - second,
        )
        .await
        .expect("paid the instant before it expires");

    // A paid booking can be cancelled until the show starts, not at its first instant.
    assert_eq!(
        stores
            .bookings
            .cancel(&paid.booking.booking.code, date)
            .await
            .map(|details| details.booking.status),
        Err(BookingCommandError::Rejected(CancelRejection::EventStarted))
    );
    let cancelled = stores
        .bookings
        .cancel(&paid.booking.booking.code, date - second)
        .await
        .expect("cancelled the instant before the show");
    assert_eq!(cancelled.booking.status, BookingStatus::Cancelled);

    // At the show's start nothing more is sold, whatever its phases say.
    assert!(matches!(
        at(date, 5).await,
        Err(PlaceBookingError::Rejected(_))
    ));
    assert_books_agree(&stores, &[event], &[ari.id], date).await;
}

pub async fn a_ticket_is_checked_in_once(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let booking = place(&stores, request(&ari, event, &seats[..2]), now()).await;
    let code = &booking.booking.code;

    let unpaid = stores
        .bookings
        .check_in(code, now(), by_staff(&stores, now()).await)
        .await;
    assert_eq!(
        unpaid,
        Err(BookingCommandError::Rejected(CheckInRejection::NotPaid {
            status: BookingStatus::Pending
        }))
    );
    pay_in_full(&stores, &booking, now()).await;
    let door = now() + minutes(60);
    let scanner = by_staff(&stores, door).await;
    let admitted = stores
        .bookings
        .check_in(code, door, scanner)
        .await
        .expect("check in");
    assert_eq!(admitted.booking.checked_in_at, Some(door));
    assert_eq!(admitted.booking.checked_in_by, Some(scanner.actor));
    assert_eq!(admitted.booking.status, BookingStatus::Confirmed);
    let again = stores
        .bookings
        .check_in(
            code,
            door + minutes(1),
            by_staff(&stores, door + minutes(1)).await,
        )
        .await;
    assert_eq!(
        again,
        Err(BookingCommandError::Rejected(
            CheckInRejection::AlreadyCheckedIn {
                at: door,
                by: Some(scanner.actor)
            }
        ))
    );
    let dashboard = stores.bookings.dashboard(door).await.expect("dashboard");
    assert_eq!(dashboard.checked_in, 2);

    let withdrawn = place(&stores, request(&ari, event, &seats[2..3]), now()).await;
    stores
        .bookings
        .cancel(&withdrawn.booking.code, now())
        .await
        .expect("cancel");
    let refused = stores
        .bookings
        .check_in(
            &withdrawn.booking.code,
            now(),
            by_staff(&stores, now()).await,
        )
        .await;
    assert_eq!(
        refused,
        Err(BookingCommandError::Rejected(CheckInRejection::NotPaid {
            status: BookingStatus::Cancelled
        }))
    );
    let unknown = BookingCode::parse("BKG-ZZZZZ").expect("a code");
    assert_eq!(
        stores
            .bookings
            .check_in(&unknown, now(), by_staff(&stores, now()).await)
            .await,
        Err(BookingCommandError::NotFound)
    );
}

async fn seat_map_version(stores: &Stores, event: EventId, at: Timestamp) -> u64 {
    stores
        .events
        .seat_map_version(event, at)
        .await
        .expect("the seat map version")
        .expect("a known event")
}

/// A server keeps a copy of a seat map for as long as its version stays: every change of a seat
/// must move it, and the map must say which version it is.
pub async fn the_seat_map_version_moves_with_every_seat_change(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let created = create_event(&stores, standard_show()).await;
    let event = created.event.id;
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let first = seat_map_version(&stores, event, now()).await;
    assert_eq!(
        seat_map_version(&stores, event, now()).await,
        first,
        "reading moves nothing"
    );
    let mut last = first;
    let mut moved = |version: u64, what: &str| {
        assert!(version > last, "{what} must move the seat map version");
        last = version;
    };

    let paid = place(&stores, request(&ari, event, &seats[..1]), now()).await;
    moved(seat_map_version(&stores, event, now()).await, "a hold");
    pay_in_full(&stores, &paid, now()).await;
    moved(seat_map_version(&stores, event, now()).await, "a sale");
    stores
        .bookings
        .cancel(&paid.booking.code, now())
        .await
        .expect("a cancellation");
    moved(
        seat_map_version(&stores, event, now()).await,
        "a cancellation",
    );

    let hold = place(&stores, request(&ari, event, &seats[1..2]), now()).await;
    moved(
        seat_map_version(&stores, event, now()).await,
        "another hold",
    );
    let lapse = hold.booking.expires_at;
    moved(
        seat_map_version(&stores, event, lapse).await,
        "a lapsed hold",
    );

    let grow = EventPatch {
        capacity: Some(i64::from(created.event.capacity) + 5),
        ..EventPatch::default()
    };
    stores
        .events
        .update(event, grow, lapse, by_staff(&stores, lapse).await)
        .await
        .expect("more seats");
    moved(seat_map_version(&stores, event, lapse).await, "new seats");

    let map = stores
        .events
        .seats(event, lapse)
        .await
        .expect("the seat map")
        .expect("a known event");
    assert_eq!(map.version, seat_map_version(&stores, event, lapse).await);
    assert_eq!(map.seats.len(), created.event.capacity as usize + 5);
    assert_eq!(
        stores
            .events
            .seat_map_version(EventId(9_999_999), now())
            .await,
        Ok(None)
    );
}

pub async fn a_lapsed_hold_frees_its_seats_on_the_next_read(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let created = create_event(&stores, standard_show()).await;
    let event = created.event.id;
    let early = created.event.phases[0].id;
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let bima = customer(&stores, "Bima Sakti").await;
    let hold = stores
        .bookings
        .place(request(&ari, event, &seats[..2]), policy(), now())
        .await
        .expect("a hold");
    let lapse = hold.booking.expires_at;

    let just_before = lapse - Duration::seconds(1);
    assert_eq!(
        status_of_seat(&stores, event, seats[0], just_before).await,
        SeatStatus::Held
    );
    assert_eq!(
        status_of_seat(&stores, event, seats[0], lapse).await,
        SeatStatus::Available
    );
    let figures = view(&stores, event, lapse).await;
    assert_eq!((figures.sales.sold(early), figures.seats_taken), (0, 0));
    let expired = find_booking(&stores, &hold.booking.code, lapse).await;
    assert_eq!(expired.booking.status, BookingStatus::Expired);
    let late_payment = stores
        .bookings
        .pay(&hold.booking.code, payment(200_000), lapse)
        .await;
    assert_eq!(
        late_payment.map(|receipt| receipt.payment),
        Err(BookingCommandError::Rejected(PayRejection::NotPending {
            status: BookingStatus::Expired
        }))
    );

    let taken_over = stores
        .bookings
        .place(request(&bima, event, &seats[..2]), policy(), lapse)
        .await
        .expect("the freed seats");
    assert_eq!(taken_over.booking.phase_id, early, "the quota came back");
    stores
        .bookings
        .place(request(&ari, event, &seats[2..5]), policy(), lapse)
        .await
        .expect("the expired tickets no longer count against the limit");
    assert_books_agree(&stores, &[event], &[ari.id, bima.id], lapse).await;
}

pub async fn expire_lapsed_expires_exactly_the_lapsed_holds(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let people = customers(&stores, 3).await;
    let first = place(&stores, request(&people[0], event, &seats[..1]), now()).await;
    let second = place(
        &stores,
        request(&people[1], event, &seats[1..2]),
        now() + minutes(5),
    )
    .await;
    let paid = place(&stores, request(&people[2], event, &seats[2..3]), now()).await;
    pay_in_full(&stores, &paid, now()).await;

    let bookings = &stores.bookings;
    assert_eq!(
        bookings
            .expire_lapsed(now() + minutes(14))
            .await
            .expect("sweep"),
        0
    );
    assert_eq!(
        bookings
            .expire_lapsed(now() + minutes(15))
            .await
            .expect("sweep"),
        1
    );
    assert_eq!(
        bookings
            .expire_lapsed(now() + minutes(15))
            .await
            .expect("sweep"),
        0
    );
    let after_first = now() + minutes(15);
    assert_eq!(
        find_booking(&stores, &first.booking.code, after_first)
            .await
            .booking
            .status,
        BookingStatus::Expired
    );
    assert_eq!(
        find_booking(&stores, &second.booking.code, after_first)
            .await
            .booking
            .status,
        BookingStatus::Pending
    );
    assert_eq!(
        bookings
            .expire_lapsed(now() + minutes(25))
            .await
            .expect("sweep"),
        1
    );

    let later = now() + minutes(25);
    let figures = view(&stores, event, later).await;
    assert_eq!((figures.seats_taken, figures.tickets_sold), (1, 1));
    let map = seat_map(&stores, event, later).await;
    let taken: Vec<(SeatId, SeatStatus)> = map
        .iter()
        .filter(|(_, _, status)| *status != SeatStatus::Available)
        .map(|(id, _, status)| (*id, *status))
        .collect();
    assert_eq!(taken, [(seats[2], SeatStatus::Sold)]);
    let dashboard = bookings.dashboard(later).await.expect("dashboard");
    assert_eq!(dashboard.pending_bookings, 0);
    let everyone: Vec<UserId> = people.iter().map(|p| p.id).collect();
    assert_books_agree(&stores, &[event], &everyone, later).await;
}

pub async fn a_customers_history_is_newest_first_and_paged(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let bima = customer(&stores, "Bima Sakti").await;
    let dina = customer(&stores, "Dina Anggraini").await;
    let oldest = place(&stores, request(&ari, event, &seats[..1]), now()).await;
    let middle = place(
        &stores,
        request(&ari, event, &seats[1..2]),
        now() + minutes(1),
    )
    .await;
    let tied_first = place(
        &stores,
        request(&ari, event, &seats[2..3]),
        now() + minutes(2),
    )
    .await;
    let tied_second = place(
        &stores,
        request(&ari, event, &seats[3..4]),
        now() + minutes(2),
    )
    .await;
    let others = place(&stores, request(&bima, event, &seats[4..5]), now()).await;

    let history = |user: UserId, page: Page, at: Timestamp| {
        let bookings = Arc::clone(&stores.bookings);
        async move {
            let listed = bookings
                .list_for_customer(user, page, at)
                .await
                .expect("history");
            let codes: Vec<BookingCode> = listed
                .items
                .iter()
                .map(|b| b.booking.code.clone())
                .collect();
            (codes, listed.total, listed.items)
        }
    };
    let at = now() + minutes(3);
    let (codes, total, items) = history(ari.id, Page::new(1, 3), at).await;
    assert_eq!(total, 4);
    assert_eq!(
        codes,
        [
            tied_second.booking.code.clone(),
            tied_first.booking.code.clone(),
            middle.booking.code.clone()
        ],
        "newest first, the later of two at the same time first"
    );
    assert_eq!(items[0].customer_name, "Ari Wibowo");
    assert_eq!(items[0].event.name, "Stand-up Night");
    let (codes, total, _) = history(ari.id, Page::new(2, 3), at).await;
    assert_eq!((codes, total), (vec![oldest.booking.code.clone()], 4));
    let (codes, total, _) = history(bima.id, Page::default(), at).await;
    assert_eq!((codes, total), (vec![others.booking.code.clone()], 1));
    let (codes, total, _) = history(dina.id, Page::default(), at).await;
    assert_eq!((codes, total), (vec![], 0));

    let (_, _, items) = history(ari.id, Page::default(), now() + minutes(16)).await;
    let statuses: Vec<BookingStatus> = items.iter().map(|b| b.booking.status).collect();
    assert_eq!(
        statuses,
        [
            BookingStatus::Pending,
            BookingStatus::Pending,
            BookingStatus::Expired,
            BookingStatus::Expired
        ],
        "history shows lapsed holds as expired"
    );
}

pub async fn the_dashboard_adds_up_confirmed_sales(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let first = create_event(
        &stores,
        show("First Show", "Jakarta Comedy Club", now() + days(30)),
    )
    .await
    .event;
    let second = create_event(
        &stores,
        show("Second Show", "Bandung Hall", now() + days(60)),
    )
    .await
    .event;
    let third = create_event(
        &stores,
        show("Third Show", "Surabaya Stage", now() + days(90)),
    )
    .await
    .event;
    let cancel = EventPatch {
        status: Some("cancelled".into()),
        ..EventPatch::default()
    };
    stores
        .events
        .update(third.id, cancel, now(), by_staff(&stores, now()).await)
        .await
        .expect("cancel");
    let first_seats = seat_ids(&stores, first.id).await;
    let second_seats = seat_ids(&stores, second.id).await;
    let people = customers(&stores, 7).await;
    let at = |minute: i64| now() + minutes(minute);

    // Lapses at minute -5, before everything else happens.
    let lapsed = place(
        &stores,
        request(&people[5], first.id, &first_seats[9..10]),
        at(-20),
    )
    .await;
    let confirmed = place(
        &stores,
        request(&people[0], first.id, &first_seats[..2]),
        at(0),
    )
    .await;
    stores
        .bookings
        .pay(&confirmed.booking.code, payment(250_000), at(0))
        .await
        .expect("paid with change");
    let pending = place(
        &stores,
        request(&people[1], first.id, &first_seats[2..3]),
        at(1),
    )
    .await;
    let admitted = place(
        &stores,
        request(&people[2], first.id, &first_seats[3..4]),
        at(2),
    )
    .await;
    pay_in_full(&stores, &admitted, at(2)).await;
    stores
        .bookings
        .check_in(
            &admitted.booking.code,
            at(2),
            by_staff(&stores, at(2)).await,
        )
        .await
        .expect("check in");
    let refunded = place(
        &stores,
        request(&people[3], second.id, &second_seats[..2]),
        at(3),
    )
    .await;
    pay_in_full(&stores, &refunded, at(3)).await;
    stores
        .bookings
        .cancel(&refunded.booking.code, at(3))
        .await
        .expect("cancel");
    let second_sale = place(
        &stores,
        request(&people[4], second.id, &second_seats[2..3]),
        at(4),
    )
    .await;
    pay_in_full(&stores, &second_sale, at(4)).await;
    let mut newest = Vec::new();
    for index in 0..6 {
        let seat = &second_seats[3 + index..4 + index];
        newest.push(
            place(
                &stores,
                request(&people[6], second.id, seat),
                at(5 + index as i64),
            )
            .await,
        );
    }

    let dashboard = stores.bookings.dashboard(at(11)).await.expect("dashboard");
    assert_eq!(
        dashboard.total_revenue,
        Money::rupiah(200_000 + 100_000 + 100_000),
        "confirmed totals, without change or refunds"
    );
    assert_eq!(dashboard.tickets_sold, 4);
    assert_eq!((dashboard.active_events, dashboard.total_events), (2, 3));
    assert_eq!(dashboard.pending_bookings, 7);
    assert_eq!(dashboard.checked_in, 1);

    let recent: Vec<(&str, &str, Money, &str)> = dashboard
        .recent_transactions
        .iter()
        .map(|t| {
            (
                t.booking_code.as_str(),
                t.status.as_str(),
                t.amount,
                t.event_name.as_str(),
            )
        })
        .collect();
    let mut expected: Vec<(&str, &str, Money, &str)> = newest
        .iter()
        .rev()
        .map(|b| {
            (
                b.booking.code.as_str(),
                "pending",
                b.booking.total_price,
                "Second Show",
            )
        })
        .collect();
    expected.extend([
        (
            second_sale.booking.code.as_str(),
            "confirmed",
            Money::rupiah(100_000),
            "Second Show",
        ),
        (
            refunded.booking.code.as_str(),
            "cancelled",
            Money::rupiah(200_000),
            "Second Show",
        ),
        (
            admitted.booking.code.as_str(),
            "confirmed",
            Money::rupiah(100_000),
            "First Show",
        ),
        (
            pending.booking.code.as_str(),
            "pending",
            Money::rupiah(100_000),
            "First Show",
        ),
    ]);
    assert_eq!(recent, expected, "the ten newest bookings, newest first");
    let newest_entry = &dashboard.recent_transactions[0];
    assert_eq!(newest_entry.customer_name, people[6].name.as_str());
    assert_eq!(newest_entry.date, at(10));
    assert!(!dashboard
        .recent_transactions
        .iter()
        .any(|t| t.booking_code == lapsed.booking.code.as_str()));

    let figures: Vec<(EventId, u64, Money, u64)> = dashboard
        .events
        .iter()
        .map(|e| (e.id, e.tickets_sold, e.revenue, e.checked_in))
        .collect();
    assert_eq!(
        figures,
        [
            (first.id, 3, Money::rupiah(300_000), 1),
            (second.id, 1, Money::rupiah(100_000), 0),
            (third.id, 0, Money::ZERO, 0),
        ]
    );
    assert_eq!(dashboard.events[0].capacity, 20);
    assert_eq!(dashboard.events[0].name, "First Show");

    let after_holds = stores.bookings.dashboard(at(30)).await.expect("dashboard");
    assert_eq!(
        after_holds.pending_bookings, 0,
        "lapsed holds are not pending"
    );
    let everyone: Vec<UserId> = people.iter().map(|p| p.id).collect();
    assert_books_agree(&stores, &[first.id, second.id, third.id], &everyone, at(11)).await;
}

// ---------------------------------------------------------------------------------------------
// Concurrency: many requests at once, then the books must still agree.

pub async fn racing_for_the_same_seats_has_exactly_one_winner(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let wanted = vec![seats[4], seats[5]];
    let people = customers(&stores, 64).await;

    let results = race(people.len(), |index| {
        let bookings = Arc::clone(&stores.bookings);
        let request = request(&people[index], event, &wanted);
        async move { bookings.place(request, policy(), now()).await }
    })
    .await;

    let winners = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(winners, 1, "exactly one booking gets the seats");
    for result in results.into_iter().filter(Result::is_err) {
        let BookingRejection::SeatsTaken { seats: mut taken } = rejection(result) else {
            panic!("a loser must be told the seats are taken");
        };
        taken.sort_by_key(|seat| seat.id);
        assert_eq!(taken.iter().map(|s| s.id).collect::<Vec<_>>(), wanted);
    }
    let everyone: Vec<UserId> = people.iter().map(|p| p.id).collect();
    assert_books_agree(&stores, &[event], &everyone, now()).await;
}

pub async fn one_customer_racing_cannot_pass_the_ticket_limit(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let mut input = standard_show();
    input.capacity = Some(60);
    let event = create_event(&stores, input).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;

    let results = race(50, |index| {
        let bookings = Arc::clone(&stores.bookings);
        let request = request(&ari, event, &seats[index..index + 1]);
        async move { bookings.place(request, policy(), now()).await }
    })
    .await;

    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 3);
    for result in results.into_iter().filter(Result::is_err) {
        assert!(
            matches!(
                rejection(result),
                BookingRejection::TicketLimit { limit: 3, .. }
            ),
            "a loser must be told about the limit"
        );
    }
    let held: u32 = all_bookings(&stores, &[ari.id], now())
        .await
        .iter()
        .map(|b| b.booking.quantity())
        .sum();
    assert_eq!(held, 3);
    assert_books_agree(&stores, &[event], &[ari.id], now()).await;
}

/// Bookings and payments of one show arriving together (which the PostgreSQL store writes as
/// batches): each is decided against what the ones before it took and answered on its own: a
/// refused seat refuses nobody else, a refused request takes nothing, a booking paid twice at
/// once is paid once.
pub async fn requests_arriving_together_are_each_answered_on_their_own(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let date = now() + days(30);
    let input = EventInput {
        phases: vec![phase(
            "Normal",
            100_000,
            50,
            now() - days(1),
            date - minutes(60),
        )],
        capacity: Some(50),
        ..show("Ramai Sekali", "Jakarta Comedy Club", date)
    };
    let event = create_event(&stores, input).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let people = customers(&stores, 30).await;
    let customer_ids: Vec<UserId> = people.iter().map(|person| person.id).collect();

    // Two buyers for each of 15 seats, each also asking for a seat nobody else wants.
    let contested = |index: usize| seats[index % 15];
    let own = |index: usize| seats[15 + index];
    let results = race(people.len(), |index| {
        let bookings = Arc::clone(&stores.bookings);
        let request = request(&people[index], event, &[contested(index), own(index)]);
        async move { bookings.place(request, policy(), now()).await }
    })
    .await;
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(booking) => winners.push(booking),
            Err(PlaceBookingError::Rejected(BookingRejection::SeatsTaken { seats: taken })) => {
                assert_eq!(
                    taken.iter().map(|seat| seat.id).collect::<Vec<_>>(),
                    vec![contested(index)],
                    "only the contested seat is named"
                );
                losers.push(index);
            }
            Err(other) => panic!("a booking failed for the wrong reason: {other:?}"),
        }
    }
    assert_eq!((winners.len(), losers.len()), (15, 15));
    // A refused request took nothing: each loser's own seat is still free.
    let second_tries = race(losers.len(), |nth| {
        let bookings = Arc::clone(&stores.bookings);
        let request = request(&people[losers[nth]], event, &[own(losers[nth])]);
        async move { bookings.place(request, policy(), now()).await }
    })
    .await;
    assert!(second_tries.iter().all(Result::is_ok), "{second_tries:?}");

    // Every winner pays at once, the first of them twice: one payment stands.
    let paying: Vec<BookingCode> = std::iter::once(winners[0].booking.code.clone())
        .chain(winners.iter().map(|booking| booking.booking.code.clone()))
        .collect();
    let paid = race(paying.len(), |index| {
        let bookings = Arc::clone(&stores.bookings);
        let code = paying[index].clone();
        async move { bookings.pay(&code, payment(200_000), now()).await }
    })
    .await;
    let refused: Vec<_> = paid.iter().filter(|result| result.is_err()).collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(matches!(
        refused[0],
        Err(BookingCommandError::Rejected(PayRejection::NotPending {
            status: BookingStatus::Confirmed
        }))
    ));
    for receipt in paid.iter().flatten() {
        assert_eq!(receipt.booking.booking.status, BookingStatus::Confirmed);
        assert_eq!(receipt.payment.change, Money::ZERO);
    }
    assert_books_agree(&stores, &[event], &customer_ids, now()).await;
    let dashboard = stores
        .bookings
        .dashboard(now())
        .await
        .expect("the dashboard");
    assert_eq!(dashboard.tickets_sold, 30);
    assert_eq!(dashboard.total_revenue, Money::rupiah(15 * 200_000));
}

pub async fn racing_for_a_phase_cannot_pass_its_quota(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let date = now() + days(30);
    let mut input = show("Flash Sale Night", "Jakarta Comedy Club", date);
    input.capacity = Some(60);
    input.phases = vec![
        phase("Flash Sale", 50_000, 5, now() - days(1), now() + days(10)),
        phase("Normal", 150_000, 100, now() - days(1), date - minutes(60)),
    ];
    let created = create_event(&stores, input).await;
    let (event, flash) = (created.event.id, created.event.phases[0].id);
    let seats = seat_ids(&stores, event).await;
    let people = customers(&stores, 40).await;

    let results = race(people.len(), |index| {
        let bookings = Arc::clone(&stores.bookings);
        let request = in_phase(
            request(&people[index], event, &seats[index..index + 1]),
            flash,
        );
        async move { bookings.place(request, policy(), now()).await }
    })
    .await;

    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 5);
    for result in results.into_iter().filter(Result::is_err) {
        assert!(
            matches!(
                rejection(result),
                BookingRejection::PhaseNotOnSale { .. } | BookingRejection::QuotaExhausted { .. }
            ),
            "a loser must be told the phase is sold out"
        );
    }
    assert_eq!(view(&stores, event, now()).await.sales.sold(flash), 5);
    let everyone: Vec<UserId> = people.iter().map(|p| p.id).collect();
    assert_books_agree(&stores, &[event], &everyone, now()).await;
}

pub async fn simultaneous_check_ins_let_exactly_one_in(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let event = create_event(&stores, standard_show()).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let ari = customer(&stores, "Ari Wibowo").await;
    let booking = place(&stores, request(&ari, event, &seats[..2]), now()).await;
    pay_in_full(&stores, &booking, now()).await;
    let door = now() + minutes(60);
    let scanner = by_staff(&stores, door).await;

    let results = race(32, |_| {
        let bookings = Arc::clone(&stores.bookings);
        let code = booking.booking.code.clone();
        async move { bookings.check_in(&code, door, scanner).await }
    })
    .await;

    let admitted: Vec<&BookingDetails> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(admitted.len(), 1, "exactly one scan lets the guest in");
    let at = admitted[0].booking.checked_in_at.expect("a check-in time");
    for result in results.iter().filter(|result| result.is_err()) {
        assert_eq!(
            result,
            &Err(BookingCommandError::Rejected(
                CheckInRejection::AlreadyCheckedIn {
                    at,
                    by: Some(scanner.actor)
                }
            ))
        );
    }
    let dashboard = stores.bookings.dashboard(door).await.expect("dashboard");
    assert_eq!(dashboard.checked_in, 2);
    assert_books_agree(&stores, &[event], &[ari.id], door).await;
    let trail = audit_trail(&stores, None).await;
    assert_eq!(trail.len(), 1, "one guest let in, one entry: {trail:?}");
}

/// Bookings, payments and cancellations of overlapping seats all at once, under the default
/// per-customer limit.
pub async fn a_busy_box_office_keeps_its_books_straight(factory: &dyn StoreFactory) {
    let stores = factory.fresh().await;
    let mut input = standard_show();
    input.phases[0].quota = 20;
    let event = create_event(&stores, input).await.event.id;
    let seats = seat_ids(&stores, event).await;
    let people = customers(&stores, 8).await;
    let pool = 12;

    let results = race(48, |index| {
        let bookings = Arc::clone(&stores.bookings);
        // Two distinct seats of a small pool, so that requests overlap a lot.
        let wanted = [seats[index % pool], seats[(index * 5 + 3) % pool]];
        let request = request(&people[index % people.len()], event, &wanted);
        async move {
            let placed = bookings.place(request, policy(), now()).await?;
            let code = placed.booking.code;
            match index % 3 {
                0 => {
                    let amount = placed.booking.total_price.amount();
                    let paid = bookings.pay(&code, payment(amount), now()).await;
                    assert!(paid.is_ok(), "paying a fresh hold: {paid:?}");
                    if index % 2 == 0 {
                        let cancelled = bookings.cancel(&code, now()).await;
                        assert!(
                            cancelled.is_ok(),
                            "cancelling a paid booking: {cancelled:?}"
                        );
                    }
                }
                1 => {
                    let cancelled = bookings.cancel(&code, now()).await;
                    assert!(cancelled.is_ok(), "cancelling a hold: {cancelled:?}");
                }
                _ => {}
            }
            Ok::<(), PlaceBookingError>(())
        }
    })
    .await;

    assert!(
        results.iter().any(Result::is_ok),
        "some bookings got through"
    );
    for result in results {
        match result {
            Ok(())
            | Err(PlaceBookingError::Rejected(
                BookingRejection::SeatsTaken { .. } | BookingRejection::TicketLimit { .. },
            )) => {}
            Err(other) => panic!("a booking failed for the wrong reason: {other:?}"),
        }
    }
    let everyone: Vec<UserId> = people.iter().map(|p| p.id).collect();
    for customer in &people {
        let open: u32 = all_bookings(&stores, &[customer.id], now())
            .await
            .iter()
            .filter(|b| b.booking.status.holds_seats())
            .map(|b| b.booking.quantity())
            .sum();
        assert!(open <= 3, "{} holds {open} tickets", customer.name.as_str());
    }
    assert_books_agree(&stores, &[event], &everyone, now()).await;
}
