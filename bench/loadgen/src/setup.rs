//! What the scenarios set up through the API: the admin's login, an event on sale, customers.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{Duration as Days, SecondsFormat, Utc};
use rand::seq::index::sample;
use rand::Rng;
use serde_json::json;

use crate::api::{Api, EventAnswer, LoginAnswer, SeatRef};

/// A customer who can book: a login, and how many more tickets the per-user limit allows.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: i64,
    pub email: String,
    pub token: String,
}

pub const CUSTOMER_PASSWORD: &str = "bench-password-123";

pub async fn login(api: &Api, email: &str, password: &str) -> Result<LoginAnswer, String> {
    let reply = api
        .post(
            "/api/users/login",
            None,
            &json!({"email": email, "password": password}),
        )
        .await;
    if !reply.ok() {
        return Err(format!("login of {email} failed: {}", reply.describe()));
    }
    reply.json()
}

pub async fn admin_token(api: &Api, email: &str, password: &str) -> Result<String, String> {
    login(api, email, password)
        .await
        .map(|answer| answer.token)
        .map_err(|error| {
            format!("{error} (start the server with ADMIN_EMAIL/ADMIN_PASSWORD matching --admin-email/--admin-password)")
        })
}

/// Puts an event on sale now: `seats` seats, one phase selling all of them at `price`, the show
/// 60 days ahead.
pub async fn create_event(
    api: &Api,
    admin: &str,
    name: &str,
    seats: u32,
    seats_per_row: u32,
    price: i64,
) -> Result<EventAnswer, String> {
    let now = Utc::now();
    let at = |offset: Days| (now + offset).to_rfc3339_opts(SecondsFormat::Secs, true);
    let body = json!({
        "name": name,
        "description": "Created by the WarTawa load generator.",
        "date": at(Days::days(60)),
        "venue": "Bench Hall, Jakarta",
        "capacity": seats,
        "seats_per_row": seats_per_row,
        "phases": [{
            "name": "Normal",
            "price": price,
            "quota": seats,
            "start_date": at(Days::days(-1)),
            "end_date": at(Days::days(59)),
        }],
    });
    let reply = api.post("/api/events", Some(admin), &body).await;
    if !reply.ok() {
        return Err(format!("creating the event failed: {}", reply.describe()));
    }
    reply.json()
}

/// `count` events of `seats` seats each, as [`create_event`] puts one on sale (named `name 1`,
/// `name 2`, ...), `concurrency` created at once; in order.
#[allow(clippy::too_many_arguments)]
pub async fn create_events(
    api: &Api,
    admin: &str,
    name: &str,
    count: usize,
    seats: u32,
    seats_per_row: u32,
    price: i64,
    concurrency: usize,
) -> Result<Vec<EventAnswer>, String> {
    let (api, admin, name) = (api.clone(), admin.to_string(), name.to_string());
    in_parallel(count, concurrency, move |index| {
        let (api, admin, name) = (api.clone(), admin.clone(), name.clone());
        async move {
            let name = format!("{name} {}", index + 1);
            create_event(&api, &admin, &name, seats, seats_per_row, price).await
        }
    })
    .await
}

/// Registers and logs in `count` customers, `concurrency` at a time.
pub async fn register_customers(
    api: &Api,
    run_tag: &str,
    count: usize,
    concurrency: usize,
) -> Result<Vec<Customer>, String> {
    register_customers_via(std::slice::from_ref(api), run_tag, count, concurrency).await
}

/// As [`register_customers`], customer `i` signing up and logging in through `apis[i % len]`:
/// from as many client addresses as there are clients, so that the per-address sign-up limit
/// (`REGISTRATIONS_PER_ADDRESS`) sees people signing up from their own homes.
pub async fn register_customers_via(
    apis: &[Api],
    run_tag: &str,
    count: usize,
    concurrency: usize,
) -> Result<Vec<Customer>, String> {
    if apis.is_empty() {
        return Err("no client to register customers through".to_string());
    }
    let (apis, run_tag) = (Arc::new(apis.to_vec()), run_tag.to_string());
    in_parallel(count, concurrency, move |index| {
        let (apis, run_tag) = (Arc::clone(&apis), run_tag.clone());
        async move { register_one(&apis[index % apis.len()], &run_tag, index).await }
    })
    .await
}

/// `job(0)` to `job(count - 1)`, at most `concurrency` at once; their results in index order,
/// or the first error met.
async fn in_parallel<T, F, Fut>(count: usize, concurrency: usize, job: F) -> Result<Vec<T>, String>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<T, String>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1).min(count.max(1)) {
        let (next, job) = (Arc::clone(&next), job.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return Ok::<_, String>(mine);
                }
                mine.push((index, job(index).await?));
            }
        }));
    }
    let mut all = Vec::with_capacity(count);
    for worker in workers {
        all.extend(
            worker
                .await
                .map_err(|error| format!("a set-up task failed: {error}"))??,
        );
    }
    all.sort_by_key(|(index, _)| *index);
    Ok(all.into_iter().map(|(_, item)| item).collect())
}

async fn register_one(api: &Api, run_tag: &str, index: usize) -> Result<Customer, String> {
    let email = format!("buyer-{run_tag}-{index}@bench.example");
    let reply = api
        .post(
            "/api/users",
            None,
            &json!({
                "name": format!("Bench Buyer {index}"),
                "email": email,
                "password": CUSTOMER_PASSWORD,
                "phone_number": format!("08{:010}", index),
            }),
        )
        .await;
    if !reply.ok() {
        return Err(format!("registering {email} failed: {}", reply.describe()));
    }
    let answer = login(api, &email, CUSTOMER_PASSWORD).await?;
    Ok(Customer {
        id: answer.user.id,
        email,
        token: answer.token,
    })
}

/// A tag that keeps this run's accounts apart from earlier runs' on the same server.
pub fn run_tag() -> String {
    let millis = Utc::now().timestamp_millis();
    let salt: u16 = rand::rng().random();
    format!("{millis:x}{salt:04x}")
}

/// Up to `wanted` distinct seats picked at random among the available ones.
pub fn pick_free_seats<R: Rng + ?Sized>(
    seats: &[SeatRef<'_>],
    wanted: usize,
    rng: &mut R,
) -> Vec<i64> {
    let free: Vec<i64> = seats
        .iter()
        .filter(|seat| !seat.is_booked && seat.status == "available")
        .map(|seat| seat.id)
        .collect();
    let take = wanted.min(free.len());
    let mut picked: Vec<i64> = sample(rng, free.len(), take)
        .into_iter()
        .map(|index| free[index])
        .collect();
    picked.sort_unstable();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn seat(id: i64, status: &'static str) -> SeatRef<'static> {
        SeatRef {
            id,
            status,
            is_booked: status != "available",
        }
    }

    #[test]
    fn picks_only_free_seats_and_never_the_same_twice() {
        let seats: Vec<SeatRef> = (1..=50)
            .map(|id| {
                seat(
                    id,
                    if id % 3 == 0 {
                        "sold"
                    } else if id % 5 == 0 {
                        "held"
                    } else {
                        "available"
                    },
                )
            })
            .collect();
        let mut rng = StdRng::seed_from_u64(7);
        for wanted in 1..=3 {
            for _ in 0..200 {
                let picked = pick_free_seats(&seats, wanted, &mut rng);
                assert_eq!(picked.len(), wanted);
                assert_eq!(picked.iter().collect::<HashSet<_>>().len(), wanted);
                assert!(
                    picked.iter().all(|id| id % 3 != 0 && id % 5 != 0),
                    "{picked:?}"
                );
            }
        }
    }

    #[test]
    fn picks_what_is_left_when_fewer_seats_are_free_than_wanted() {
        let seats = vec![seat(1, "sold"), seat(2, "available"), seat(3, "held")];
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(pick_free_seats(&seats, 3, &mut rng), vec![2]);
        let none = vec![seat(1, "sold")];
        assert!(pick_free_seats(&none, 2, &mut rng).is_empty());
    }
}
