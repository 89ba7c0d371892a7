//! What only the memory store does; the behaviour it shares with every store is checked by the
//! repository contract suite in the `tests` crate.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{Duration, TimeZone, Utc};

use application::ports::{
    BookingRepository, CodeGenerator, EventRepository, PlaceBookingError, StoreError,
    UserRepository,
};
use domain::booking::{BookingCode, BookingPolicy, BookingRejection, BookingRequest};
use domain::event::{EventId, NewEvent, PhasePlan};
use domain::money::Money;
use domain::seat::{SeatId, SeatStatus};
use domain::user::{Email, NewUser, PersonName, Role, UserId};
use domain::Timestamp;

use super::MemoryStore;

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

/// Hands out the listed codes in order, then repeats the last one.
struct ScriptedCodes(Mutex<VecDeque<&'static str>>);

impl ScriptedCodes {
    fn new(codes: &[&'static str]) -> Arc<ScriptedCodes> {
        Arc::new(ScriptedCodes(Mutex::new(codes.iter().copied().collect())))
    }
}

impl CodeGenerator for ScriptedCodes {
    fn generate(&self) -> BookingCode {
        let mut codes = self.0.lock().unwrap();
        let code = if codes.len() > 1 {
            codes.pop_front().unwrap()
        } else {
            codes[0]
        };
        BookingCode::parse(code).unwrap()
    }
}

async fn store_with_event(codes: Arc<ScriptedCodes>) -> (MemoryStore, UserId, EventId) {
    let store = MemoryStore::new(codes);
    let customer = UserRepository::insert(
        &store,
        NewUser {
            name: PersonName::parse("Ari Wibowo").unwrap(),
            email: Email::parse("ari@example.com").unwrap(),
            password_hash: "hash".into(),
            role: Role::Customer,
            nik: None,
            phone_number: None,
            created_at: now(),
        },
    )
    .await
    .unwrap();
    let event = EventRepository::create(
        &store,
        NewEvent {
            name: "Stand-up Night".into(),
            description: None,
            date: now() + Duration::days(30),
            venue: "Jakarta".into(),
            image: None,
            capacity: 10,
            seats_per_row: 10,
            phases: vec![PhasePlan {
                id: None,
                name: "Normal".into(),
                price: Money::rupiah(100_000),
                quota: 10,
                start_date: now() - Duration::days(1),
                end_date: now() + Duration::days(29),
            }],
            created_at: now(),
        },
    )
    .await
    .unwrap();
    (store, customer.id, event.event.id)
}

fn request(customer: UserId, event: EventId, seats: &[i64]) -> BookingRequest {
    BookingRequest {
        customer_id: customer,
        event_id: event,
        seat_ids: seats.iter().copied().map(SeatId).collect(),
        phase_id: None,
        quantity: None,
    }
}

#[tokio::test]
async fn a_colliding_code_is_replaced_by_a_fresh_one() {
    let (store, customer, event) =
        store_with_event(ScriptedCodes::new(&["BKG-AAAAA", "BKG-AAAAA", "BKG-BBBBB"])).await;
    let policy = BookingPolicy::default();
    let first = store
        .place(request(customer, event, &[1]), policy, now())
        .await
        .unwrap();
    let second = store
        .place(request(customer, event, &[2]), policy, now())
        .await
        .unwrap();
    assert_eq!(first.booking.code.as_str(), "BKG-AAAAA");
    assert_eq!(second.booking.code.as_str(), "BKG-BBBBB");
}

#[tokio::test]
async fn a_generator_stuck_on_one_code_fails_the_booking_without_claiming_seats() {
    let (store, customer, event) = store_with_event(ScriptedCodes::new(&["BKG-AAAAA"])).await;
    let policy = BookingPolicy::default();
    store
        .place(request(customer, event, &[1]), policy, now())
        .await
        .unwrap();
    let stuck = store
        .place(request(customer, event, &[2]), policy, now())
        .await;
    assert!(matches!(
        stuck,
        Err(PlaceBookingError::Store(StoreError::Unexpected(_)))
    ));
    let seats = store.seats(event, now()).await.unwrap().unwrap();
    assert_eq!(seats.seats[1].status, SeatStatus::Available);
}

#[tokio::test]
async fn malformed_or_foreign_requests_never_reach_the_books() {
    let (store, customer, event) = store_with_event(ScriptedCodes::new(&["BKG-AAAAA"])).await;
    let policy = BookingPolicy::default();
    let seat_twice = store
        .place(request(customer, event, &[1, 1]), policy, now())
        .await;
    assert!(matches!(
        seat_twice,
        Err(PlaceBookingError::Rejected(BookingRejection::Malformed(_)))
    ));
    let stranger = store
        .place(request(UserId(999), event, &[1]), policy, now())
        .await;
    assert!(matches!(
        stranger,
        Err(PlaceBookingError::Store(StoreError::Unexpected(_)))
    ));
    let view = EventRepository::find(&store, event, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.seats_taken, 0);
}
