//! The throttles hold for the fleet: two WarTawa processes over one PostgreSQL database count
//! into one budget, not one each (three processes behind a load balancer must not allow three
//! times the guesses).

use serde_json::json;

use tests::http_harness::{id, Reply, TestApp, CUSTOMER_PASSWORD};

async fn sign_up(server: &TestApp, name: &str) -> Reply {
    let body =
        json!({ "name": name, "email": server.fresh_email(name), "password": CUSTOMER_PASSWORD });
    server.post("/api/users", None, &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_budget() {
    let Some(factory) = tests::postgres_db::app_factory().await else {
        return;
    };
    let first = factory
        .app_with(&[
            ("REGISTRATIONS_PER_ADDRESS", "4"),
            ("BOOKINGS_PER_CUSTOMER", "3"),
        ])
        .await;
    let second = first.second_instance().await;
    // The customer who books below signs up first, in the budget: three sign-ups are left.
    let event = first.event_on_sale("Satu Anggaran", 100_000, 20).await;
    let (_, token) = first.customer("Budi Santoso").await;
    let seats = first.seat_ids(id(&event), &["A1", "A2", "A3", "A4"]).await;
    // Sign-ups from one address, alternating between the processes: four in all, not eight.
    for (round, server) in [&second, &first, &second].into_iter().enumerate() {
        sign_up(server, &format!("Pendaftar {round}"))
            .await
            .expect(201);
    }
    for server in [&first, &second] {
        sign_up(server, "Pendaftar Lagi")
            .await
            .expect_reason(429, "rate_limited");
    }

    // Booking attempts of one customer, alternating: three in all.
    for (server, seat) in [&first, &second, &first].into_iter().zip(&seats) {
        server
            .book_ids(&token, id(&event), &[*seat])
            .await
            .expect(201);
    }
    second
        .book_ids(&token, id(&event), &[seats[3]])
        .await
        .expect_reason(429, "rate_limited");
}
