//! The books after a sale, shared by the scenarios that sell: what a buyer was told (a paid
//! booking), the 409 of a seat race, and every check of the books against what the buyers were told.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::api::{Api, Booking, DashboardAnswer, EventAnswer, Seat};

/// A booking that was made and paid, as the buyer was told.
#[derive(Debug, Clone)]
pub struct Paid {
    pub code: String,
    pub seats: Vec<i64>,
    pub total: i64,
    pub quantity: i64,
}

/// A 409 naming taken seats (`details` lists their ids), as opposed to a limit or quota refusal.
pub fn is_seat_race(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| value.get("details").cloned())
        .is_some_and(|details| {
            details
                .as_array()
                .is_some_and(|ids| !ids.is_empty() && ids.iter().all(Value::is_i64))
        })
}

pub async fn dashboard(api: &Api, admin: &str) -> Result<DashboardAnswer, String> {
    let reply = api.get("/api/dashboard", Some(admin)).await;
    if !reply.ok() {
        return Err(format!("dashboard: {}", reply.describe()));
    }
    reply.json()
}

/// Every check of the books after the rush of one event. Returns the violations found.
pub async fn verify(
    api: &Api,
    admin: &str,
    event: &EventAnswer,
    capacity: u32,
    paid: &[Paid],
    dashboard_before: &DashboardAnswer,
) -> Result<Vec<String>, String> {
    verify_events(api, admin, &[(event, paid)], capacity, dashboard_before).await
}

/// Every check of the books after a sale of several events at once (each of `capacity` seats,
/// with the paid bookings of each): each event's own books, its dashboard row, then the
/// dashboard's totals against all of them. Returns the violations found.
pub async fn verify_events(
    api: &Api,
    admin: &str,
    sales: &[(&EventAnswer, &[Paid])],
    capacity: u32,
    dashboard_before: &DashboardAnswer,
) -> Result<Vec<String>, String> {
    let mut violations = Vec::new();
    for (event, paid) in sales {
        violations.extend(verify_event(api, admin, event, capacity, paid).await?);
    }
    let all: Vec<&Paid> = sales.iter().flat_map(|(_, paid)| paid.iter()).collect();
    let codes: HashSet<&str> = all.iter().map(|booking| booking.code.as_str()).collect();
    if codes.len() != all.len() {
        violations.push("a booking code was given to two bookings".to_string());
    }

    // The dashboard: each event's row, and the totals' growth.
    let board = dashboard(api, admin).await?;
    for (event, paid) in sales {
        let tickets: i64 = paid.iter().map(|booking| booking.quantity).sum();
        let revenue: i64 = paid.iter().map(|booking| booking.total).sum();
        match board.events.iter().find(|row| row.id == event.id) {
            Some(row) if row.tickets_sold == tickets && row.revenue == revenue => {}
            Some(row) => violations.push(format!(
                "dashboard row of event {}: tickets_sold {} revenue {}; the paid bookings: {tickets} tickets, {revenue} rupiah",
                event.id, row.tickets_sold, row.revenue
            )),
            None => violations.push(format!("the dashboard has no row for event {}", event.id)),
        }
    }
    let tickets: i64 = all.iter().map(|booking| booking.quantity).sum();
    let revenue: i64 = all.iter().map(|booking| booking.total).sum();
    let sold_growth = board.tickets_sold - dashboard_before.tickets_sold;
    let revenue_growth = board.total_revenue - dashboard_before.total_revenue;
    if sold_growth != tickets || revenue_growth != revenue {
        violations.push(format!(
            "dashboard totals grew by {sold_growth} tickets and {revenue_growth} rupiah during the sale; the paid bookings: {tickets} and {revenue} (was anything else selling on this server?)"
        ));
    }
    let row_sum: i64 = board.events.iter().map(|row| row.revenue).sum();
    if row_sum != board.total_revenue {
        violations.push(format!(
            "dashboard total_revenue {} is not the sum of its event rows ({row_sum})",
            board.total_revenue
        ));
    }
    Ok(violations)
}

/// The checks of one event's books: its seats, its paid bookings read back, its own figures.
async fn verify_event(
    api: &Api,
    admin: &str,
    event: &EventAnswer,
    capacity: u32,
    paid: &[Paid],
) -> Result<Vec<String>, String> {
    let mut violations = Vec::new();

    // 1. No seat in two successful bookings.
    let mut owner: HashMap<i64, &str> = HashMap::new();
    for booking in paid {
        for seat in &booking.seats {
            if let Some(other) = owner.insert(*seat, &booking.code) {
                violations.push(format!(
                    "seat {seat} is in two paid bookings: {other} and {}",
                    booking.code
                ));
            }
        }
    }

    // 2. The seat map: every seat of a paid booking sold, every other seat available.
    let reply = api
        .get(&format!("/api/events/{}/seats", event.id), Some(admin))
        .await;
    if !reply.ok() {
        return Err(format!("final seat map: {}", reply.describe()));
    }
    let seats: Vec<Seat> = reply.json()?;
    if seats.len() != capacity as usize {
        violations.push(format!(
            "the seat map has {} seats, not {capacity}",
            seats.len()
        ));
    }
    let mut wrong = Vec::new();
    for seat in &seats {
        let expected = if owner.contains_key(&seat.id) {
            "sold"
        } else {
            "available"
        };
        if seat.status != expected || seat.is_booked != (expected == "sold") {
            wrong.push(format!(
                "{} ({}) is {} but should be {expected}",
                seat.label, seat.id, seat.status
            ));
        }
    }
    if !wrong.is_empty() {
        violations.push(format!(
            "{} seats of the map disagree with the paid bookings, e.g. {}",
            wrong.len(),
            wrong.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        ));
    }
    let map_ids: HashSet<i64> = seats.iter().map(|seat| seat.id).collect();
    if let Some(stray) = owner.keys().find(|id| !map_ids.contains(id)) {
        violations.push(format!(
            "seat {stray} of a paid booking is not on the event's map"
        ));
    }

    // 3. Every paid booking, read back: confirmed, paid, with exactly its seats and total.
    let next = Arc::new(AtomicUsize::new(0));
    let paid_all: Arc<Vec<Paid>> = Arc::new(paid.to_vec());
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (api, admin, next, paid_all) = (
            api.clone(),
            admin.to_string(),
            Arc::clone(&next),
            Arc::clone(&paid_all),
        );
        let event_id = event.id;
        readers.push(tokio::spawn(async move {
            let mut found = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(expected) = paid_all.get(index) else { return found };
                let reply = api.get(&format!("/api/bookings/{}", expected.code), Some(&admin)).await;
                if !reply.ok() {
                    found.push(format!("booking {}: {}", expected.code, reply.describe()));
                    continue;
                }
                match reply.json::<Booking>() {
                    Ok(booking) => {
                        let mut seats: Vec<i64> = booking.seats.iter().map(|seat| seat.id).collect();
                        seats.sort_unstable();
                        if booking.status != "confirmed"
                            || booking.event_id != event_id
                            || booking.paid_at.is_none()
                            || seats != expected.seats
                            || booking.total_price != expected.total
                        {
                            found.push(format!(
                                "booking {} reads {} paid_at {:?} seats {seats:?} total {}, expected confirmed with {:?} total {}",
                                expected.code, booking.status, booking.paid_at, booking.total_price, expected.seats, expected.total
                            ));
                        }
                    }
                    Err(error) => found.push(format!("booking {}: {error}", expected.code)),
                }
            }
        }));
    }
    let mut booking_problems = Vec::new();
    for reader in readers {
        booking_problems.extend(
            reader
                .await
                .map_err(|error| format!("a reader failed: {error}"))?,
        );
    }
    if !booking_problems.is_empty() {
        violations.push(format!(
            "{} bookings read back wrong, e.g. {}",
            booking_problems.len(),
            booking_problems
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }

    // 4. The event's own figures (its dashboard row: in `verify_events`).
    let tickets: i64 = paid.iter().map(|booking| booking.quantity).sum();
    let reply = api.get(&format!("/api/events/{}", event.id), None).await;
    if !reply.ok() {
        return Err(format!("event {}: {}", event.id, reply.describe()));
    }
    let after: EventAnswer = reply.json()?;
    let phase_sold: i64 = after.phases.iter().map(|phase| phase.sold).sum();
    if after.tickets_sold != tickets
        || after.available_seats != after.capacity - tickets
        || phase_sold != tickets
    {
        violations.push(format!(
            "event {} shows tickets_sold {}, available_seats {} of {}, phases sold {phase_sold}; the paid bookings hold {tickets} tickets",
            event.id, after.tickets_sold, after.available_seats, after.capacity
        ));
    }
    Ok(violations)
}

#[cfg(test)]
mod tests {
    use super::is_seat_race;

    #[test]
    fn a_409_listing_seat_ids_is_a_seat_race() {
        assert!(is_seat_race(
            br#"{"status":"error","code":409,"message":"Seat A2 is already taken","details":[2]}"#
        ));
        assert!(!is_seat_race(
            br#"{"status":"error","code":409,"message":"You may hold at most 3 tickets"}"#
        ));
        assert!(!is_seat_race(b"not json"));
    }
}
