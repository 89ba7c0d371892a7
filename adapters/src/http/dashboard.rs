//! `/api/dashboard`: the organiser's figures.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use application::views::Dashboard;

use super::error::error_responses;
use super::events::example_time;
use super::time::VenueTime;
use super::{BearerToken, Services, Tag};

#[derive(Object)]
#[oai(example)]
struct RecentTransactionResponse {
    booking_code: String,
    /// The customer's name.
    user: String,
    event_name: String,
    /// The booking's total price in rupiah.
    amount: i64,
    status: String,
    /// When the booking was made.
    date: VenueTime,
}

impl poem_openapi::types::Example for RecentTransactionResponse {
    /// `BookingResponse`'s example.
    fn example() -> Self {
        RecentTransactionResponse {
            booking_code: "BKG-7K2QX".into(),
            user: "Sari Dewi".into(),
            event_name: "Tawa Awal Tahun: Stand-up Comedy Special".into(),
            amount: 300_000,
            status: "confirmed".into(),
            date: example_time("2026-12-20T14:05:00+07:00"),
        }
    }
}

#[derive(Object)]
#[oai(example)]
struct EventFiguresResponse {
    id: i64,
    name: String,
    date: VenueTime,
    capacity: i64,
    tickets_sold: i64,
    revenue: i64,
    /// Sold tickets as a percentage of seats, to one decimal.
    occupancy_pct: f64,
    /// Tickets checked in at the door.
    checked_in: i64,
}

impl poem_openapi::types::Example for EventFiguresResponse {
    /// `EventResponse`'s example: 30 Early Bird tickets at 100,000 and 38 paid Normal ones at
    /// 150,000.
    fn example() -> Self {
        EventFiguresResponse {
            id: 4,
            name: "Tawa Awal Tahun: Stand-up Comedy Special".into(),
            date: example_time("2027-01-03T19:00:00+07:00"),
            capacity: 100,
            tickets_sold: 68,
            revenue: 8_700_000,
            occupancy_pct: 68.0,
            checked_in: 0,
        }
    }
}

#[derive(Object)]
#[oai(example)]
struct DashboardResponse {
    /// Payments of confirmed bookings, refunds excluded, in rupiah.
    total_revenue: i64,
    /// Tickets of confirmed bookings.
    tickets_sold: i64,
    /// Published events still to come.
    active_events: i64,
    total_events: i64,
    /// Unpaid holds that have not lapsed.
    pending_bookings: i64,
    /// Tickets checked in at the door.
    checked_in: i64,
    /// The ten newest bookings.
    recent_transactions: Vec<RecentTransactionResponse>,
    events: Vec<EventFiguresResponse>,
}

impl poem_openapi::types::Example for DashboardResponse {
    /// On 20 December 2026 at 14:40 (+07:00), with one show on sale: a new hold of two seats
    /// beside `BookingResponse`'s example, paid earlier that afternoon.
    fn example() -> Self {
        DashboardResponse {
            total_revenue: 8_700_000,
            tickets_sold: 68,
            active_events: 1,
            total_events: 1,
            pending_bookings: 2,
            checked_in: 0,
            recent_transactions: vec![
                RecentTransactionResponse {
                    booking_code: "BKG-M4T9R".into(),
                    user: "Budi Santoso".into(),
                    event_name: "Tawa Awal Tahun: Stand-up Comedy Special".into(),
                    amount: 300_000,
                    status: "pending".into(),
                    date: example_time("2026-12-20T14:32:00+07:00"),
                },
                RecentTransactionResponse::example(),
            ],
            events: vec![EventFiguresResponse::example()],
        }
    }
}

fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl DashboardResponse {
    /// The figures, their times at the venue's offset.
    fn new(dashboard: &Dashboard, venue_offset: chrono::FixedOffset) -> Self {
        DashboardResponse {
            total_revenue: dashboard.total_revenue.amount(),
            tickets_sold: count(dashboard.tickets_sold),
            active_events: count(dashboard.active_events),
            total_events: count(dashboard.total_events),
            pending_bookings: count(dashboard.pending_bookings),
            checked_in: count(dashboard.checked_in),
            recent_transactions: dashboard
                .recent_transactions
                .iter()
                .map(|tx| RecentTransactionResponse {
                    booking_code: tx.booking_code.clone(),
                    user: tx.customer_name.clone(),
                    event_name: tx.event_name.clone(),
                    amount: tx.amount.amount(),
                    status: tx.status.clone(),
                    date: VenueTime::new(tx.date, venue_offset),
                })
                .collect(),
            events: dashboard
                .events
                .iter()
                .map(|figures| EventFiguresResponse {
                    id: figures.id.0,
                    name: figures.name.clone(),
                    date: VenueTime::new(figures.date, venue_offset),
                    capacity: i64::from(figures.capacity),
                    tickets_sold: count(figures.tickets_sold),
                    revenue: figures.revenue.amount(),
                    occupancy_pct: figures.occupancy_pct(),
                    checked_in: count(figures.checked_in),
                })
                .collect(),
        }
    }
}

error_responses!(DashboardErrors {
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin sees the dashboard.
    Forbidden = 403 [Forbidden],
});

pub struct DashboardApi {
    services: Arc<Services>,
}

impl DashboardApi {
    pub fn new(services: Arc<Services>) -> Self {
        DashboardApi { services }
    }
}

#[OpenApi(prefix_path = "/api/dashboard", tag = "Tag::Dashboard")]
impl DashboardApi {
    /// Revenue, tickets, events and the newest bookings.
    ///
    /// Admins only.
    #[oai(path = "/", method = "get", operation_id = "getDashboard")]
    async fn get(&self, auth: BearerToken) -> Result<Json<DashboardResponse>, DashboardErrors> {
        let actor = self.services.actor(&auth).await?;
        let dashboard = self.services.dashboard.get(&actor).await?;
        Ok(Json(DashboardResponse::new(
            &dashboard,
            self.services.venue_offset,
        )))
    }
}
