//! Race safety through the whole stack: many simultaneous requests for the same seats, quota,
//! ticket limit or door scan; exactly the allowed number win, and afterwards the seat map, the
//! bookings and the dashboard agree.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

use poem::http::Method;

use crate::http_harness::{code, id, Account, AppFactory, Reply, TestApp, PAYMENT_METHOD};

/// Runs every task at once: each waits at a common barrier before it starts.
async fn all_at_once<T, F, Fut>(count: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(count));
    let handles: Vec<JoinHandle<T>> = (0..count)
        .map(|index| {
            let barrier = barrier.clone();
            let work = task(index);
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(count);
    for handle in handles {
        results.push(handle.await.expect("a task panicked"));
    }
    results
}

/// `count` customers, registered concurrently.
async fn customers(app: &TestApp, count: usize) -> Vec<Account> {
    all_at_once(count, |index| {
        let app = app.clone();
        async move { app.account(&format!("Penonton {index}")).await }
    })
    .await
}

/// Splits replies into the successes (with `ok` status) and asserts that every other reply is a
/// 409 in the error shape.
#[track_caller]
fn winners(replies: Vec<Reply>, ok: u16) -> Vec<Value> {
    let mut won = Vec::new();
    for reply in replies {
        if reply.code() == ok {
            won.push(reply.body);
        } else {
            reply.expect_error(409);
        }
    }
    won
}

pub async fn sixty_four_customers_racing_for_two_seats_one_wins(factory: AppFactory) {
    let app = factory.app().await;
    let event = app.event_on_sale("Kursi Terakhir", 100_000, 20).await;
    let event_id = id(&event);
    let seats = app.seat_ids(event_id, &["A1", "A2"]).await;
    let accounts = customers(&app, 64).await;

    let replies = all_at_once(accounts.len(), |index| {
        let (app, token, seats) = (app.clone(), accounts[index].token.clone(), seats.clone());
        async move { app.book_ids(&token, event_id, &seats).await }
    })
    .await;
    let won = winners(replies, 201);
    assert_eq!(
        won.len(),
        1,
        "exactly one of 64 racing customers gets seats A1 and A2"
    );

    let statuses = app.seat_statuses(id(&event)).await;
    assert_eq!(
        (statuses["A1"].as_str(), statuses["A2"].as_str()),
        ("held", "held")
    );
    assert_eq!(
        statuses
            .values()
            .filter(|status| *status != "available")
            .count(),
        2
    );
    let figures = app.event(id(&event)).await;
    assert_eq!(figures["phases"][0]["sold"], 2);
    assert_eq!(figures["available_seats"], 18);

    let winner = accounts
        .iter()
        .find(|account| json!(account.id) == won[0]["customer_id"])
        .expect("the winner");
    app.pay(&winner.token, &won[0]).await;
    let statuses = app.seat_statuses(id(&event)).await;
    assert_eq!(
        (statuses["A1"].as_str(), statuses["A2"].as_str()),
        ("sold", "sold")
    );
    let dashboard = app.dashboard().await;
    assert_eq!(dashboard["tickets_sold"], 2);
    assert_eq!(dashboard["total_revenue"], 200_000);
    assert_eq!(dashboard["pending_bookings"], 0);
}

pub async fn racing_across_two_instances_one_wins(factory: AppFactory) {
    let first = factory.app().await;
    let second = first.second_instance().await;
    let event = first.event_on_sale("Dua Server", 100_000, 20).await;
    let event_id = id(&event);
    let seats = first.seat_ids(event_id, &["B3", "B4"]).await;
    let accounts = customers(&first, 32).await;

    let replies = all_at_once(accounts.len(), |index| {
        // Alternate between the two processes, as a load balancer would.
        let app = if index % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (token, seats) = (accounts[index].token.clone(), seats.clone());
        async move { app.book_ids(&token, event_id, &seats).await }
    })
    .await;
    assert_eq!(
        winners(replies, 201).len(),
        1,
        "exactly one booking across both instances"
    );
    for app in [&first, &second] {
        let statuses = app.seat_statuses(id(&event)).await;
        assert_eq!(
            statuses.values().filter(|status| *status == "held").count(),
            2
        );
    }
}

pub async fn phase_quota_holds_under_concurrent_bookings(factory: AppFactory) {
    let app = factory.app().await;
    let mut body = app.event_body("Kuota Terbatas");
    body["capacity"] = json!(30);
    body["phases"] = json!([app.phase("Early Bird", 50_000, 5)]);
    let event = app.create_event(&body).await;
    let event_id = id(&event);
    let seats: Vec<i64> = app.seats(event_id).await.iter().map(id).collect();
    let accounts = customers(&app, 20).await;

    let replies = all_at_once(accounts.len(), |index| {
        let (app, token, seat) = (app.clone(), accounts[index].token.clone(), seats[index]);
        async move { app.book_ids(&token, event_id, &[seat]).await }
    })
    .await;
    assert_eq!(
        winners(replies, 201).len(),
        5,
        "the Early Bird quota of 5 is never exceeded"
    );
    let figures = app.event(id(&event)).await;
    assert_eq!(figures["phases"][0]["sold"], 5);
    assert_eq!(figures["phases"][0]["remaining"], 0);
    assert_eq!(figures["available_seats"], 25);
    assert_eq!(figures["current_phase"], Value::Null);
}

pub async fn ticket_limit_holds_under_concurrent_bookings(factory: AppFactory) {
    let app = factory.app().await;
    let event = app
        .event_on_sale("Satu Orang Banyak Tab", 100_000, 20)
        .await;
    let event_id = id(&event);
    let seats: Vec<i64> = app.seats(event_id).await.iter().map(id).collect();
    let (customer, token) = app.customer("Sari Dewi").await;

    let replies = all_at_once(12, |index| {
        let (app, token, seat) = (app.clone(), token.clone(), seats[index]);
        async move { app.book_ids(&token, event_id, &[seat]).await }
    })
    .await;
    assert_eq!(
        winners(replies, 201).len(),
        3,
        "MAX_TICKETS_PER_USER (3) is never exceeded"
    );
    let history = app
        .get(&format!("/api/users/{customer}/bookings"), Some(&token))
        .await;
    assert_eq!(history.total_count(), 3);
    assert_eq!(app.event(id(&event)).await["phases"][0]["sold"], 3);
}

pub async fn simultaneous_check_ins_let_one_in(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let event = app.event_on_sale("Pintu Ramai", 100_000, 20).await;
    let (_, token) = app.customer("Sari Dewi").await;
    let paid = app.paid_booking(&token, id(&event), &["A1", "A2"]).await;
    let path = format!("/api/bookings/{}/checkin", code(&paid));

    let replies = all_at_once(30, |_| {
        let (app, admin, path) = (app.clone(), admin.clone(), path.clone());
        async move { app.post(&path, Some(&admin), &json!({})).await }
    })
    .await;
    let mut refusals = Vec::new();
    let mut admitted = Vec::new();
    for reply in replies {
        if reply.code() == 200 {
            admitted.push(reply.body);
        } else {
            refusals.push(reply.expect_error(409));
        }
    }
    assert_eq!(
        admitted.len(),
        1,
        "exactly one of 30 simultaneous scans lets the guest in"
    );
    for refusal in &refusals {
        assert!(
            refusal["message"]
                .as_str()
                .is_some_and(|message| message.starts_with("Ticket already used at")),
            "{refusal}"
        );
        assert_eq!(
            refusal["details"]["checked_in_at"],
            admitted[0]["checked_in_at"]
        );
    }
    assert_eq!(app.dashboard().await["checked_in"], 2);
    assert_eq!(
        app.booking(&code(&paid)).await["checked_in_at"],
        admitted[0]["checked_in_at"]
    );
}

pub async fn seat_map_bookings_and_dashboard_agree_after_a_rush(factory: AppFactory) {
    let app = factory.app().await;
    let event = app.event_on_sale("Malam Ramai", 100_000, 30).await;
    let event_id = id(&event);
    let seats: Vec<i64> = app.seats(event_id).await.iter().map(id).collect();
    let accounts = customers(&app, 24).await;

    // Overlapping wishes: customer i wants seats i and i+1 (of the first 20), so neighbours collide.
    let replies = all_at_once(accounts.len(), |index| {
        let wanted = vec![seats[index % 20], seats[(index + 1) % 20]];
        let (app, token) = (app.clone(), accounts[index].token.clone());
        async move { app.book_ids(&token, event_id, &wanted).await }
    })
    .await;
    let placed = winners(replies, 201);
    assert!(!placed.is_empty());

    // Then, all at once: some pay, some cancel, some pay and cancel in a race, some do nothing.
    let token_of: BTreeMap<i64, String> = accounts
        .iter()
        .map(|account| (account.id, account.token.clone()))
        .collect();
    let actions: Vec<(String, String, &str, Value)> = placed
        .iter()
        .enumerate()
        .flat_map(|(index, booking)| {
            let owner = token_of[&booking["customer_id"].as_i64().expect("a customer id")].clone();
            let pay = json!({ "amount": booking["total_price"], "method": PAYMENT_METHOD });
            let code = code(booking);
            match index % 4 {
                0 => vec![(owner, code, "pay", pay)],
                1 => vec![(owner, code, "cancel", json!({}))],
                2 => vec![
                    (owner.clone(), code.clone(), "pay", pay),
                    (owner, code, "cancel", json!({})),
                ],
                _ => vec![],
            }
        })
        .collect();
    let replies = all_at_once(actions.len(), |index| {
        let (token, code, action, body) = actions[index].clone();
        let app = app.clone();
        async move {
            app.post(
                &format!("/api/bookings/{code}/{action}"),
                Some(&token),
                &body,
            )
            .await
        }
    })
    .await;
    for reply in replies {
        assert!(
            matches!(reply.code(), 200 | 409),
            "{} {}",
            reply.code(),
            reply.body
        );
    }

    let mut bookings = Vec::new();
    for booking in &placed {
        bookings.push(app.booking(&code(booking)).await);
    }
    let live: Vec<&Value> = bookings
        .iter()
        .filter(|booking| matches!(booking["status"].as_str(), Some("pending" | "confirmed")))
        .collect();
    let mut claimed = BTreeSet::new();
    for booking in &live {
        for seat in booking["seats"].as_array().expect("seats") {
            assert!(
                claimed.insert(id(seat)),
                "seat {seat} is in two live bookings"
            );
        }
    }
    let seats_with = |status: &str| -> BTreeSet<i64> {
        bookings
            .iter()
            .filter(|booking| booking["status"] == status)
            .flat_map(|booking| {
                booking["seats"]
                    .as_array()
                    .expect("seats")
                    .iter()
                    .map(id)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let map = app.seats(id(&event)).await;
    let on_map = |status: &str| -> BTreeSet<i64> {
        map.iter()
            .filter(|seat| seat["status"] == status)
            .map(id)
            .collect()
    };
    assert_eq!(
        on_map("sold"),
        seats_with("confirmed"),
        "sold seats are the seats of confirmed bookings"
    );
    assert_eq!(
        on_map("held"),
        seats_with("pending"),
        "held seats are the seats of pending bookings"
    );

    let confirmed: Vec<&Value> = bookings
        .iter()
        .filter(|booking| booking["status"] == "confirmed")
        .collect();
    let tickets: i64 = confirmed
        .iter()
        .map(|booking| booking["quantity"].as_i64().expect("a quantity"))
        .sum();
    let revenue: i64 = confirmed
        .iter()
        .map(|booking| booking["total_price"].as_i64().expect("a price"))
        .sum();
    let pending = bookings
        .iter()
        .filter(|booking| booking["status"] == "pending")
        .count();
    let dashboard = app.dashboard().await;
    assert_eq!(
        dashboard["tickets_sold"], tickets,
        "dashboard tickets = tickets of confirmed bookings"
    );
    assert_eq!(on_map("sold").len() as i64, tickets);
    assert_eq!(dashboard["total_revenue"], revenue);
    assert_eq!(dashboard["pending_bookings"], pending);
    let figures = app.event(id(&event)).await;
    assert_eq!(figures["tickets_sold"], tickets);
    assert_eq!(
        figures["phases"][0]["sold"],
        claimed.len(),
        "quota counts pending and confirmed tickets"
    );
    assert_eq!(figures["available_seats"], 30 - claimed.len() as i64);
}

pub async fn simultaneous_payments_record_one(factory: AppFactory) {
    let app = factory.app().await;
    let event = app.event_on_sale("Bayar Berkali-kali", 100_000, 20).await;
    let (_, token) = app.customer("Sari Dewi").await;
    let booking = app.book(&token, id(&event), &["A1", "A2"]).await;
    let path = format!("/api/bookings/{}/pay", code(&booking));

    // A nervous customer pressing "pay" twenty times at once.
    let replies = all_at_once(20, |_| {
        let (app, token, path) = (app.clone(), token.clone(), path.clone());
        async move {
            let payment = json!({ "amount": 200_000, "method": PAYMENT_METHOD });
            app.post(&path, Some(&token), &payment).await
        }
    })
    .await;
    assert_eq!(winners(replies, 200).len(), 1, "a payment is recorded once");
    let dashboard = app.dashboard().await;
    assert_eq!(dashboard["total_revenue"], 200_000);
    assert_eq!(dashboard["tickets_sold"], 2);
    assert_eq!(app.booking(&code(&booking)).await["status"], "confirmed");
}

pub async fn check_in_and_cancel_race_leaves_one_outcome(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let event = app.event_on_sale("Batal atau Masuk", 100_000, 20).await;
    let (_, token) = app.customer("Sari Dewi").await;
    let paid = app.paid_booking(&token, id(&event), &["A1"]).await;
    let code = code(&paid);

    let replies = all_at_once(2, |index| {
        let app = app.clone();
        let (action, who) = if index == 0 {
            ("checkin", admin.clone())
        } else {
            ("cancel", token.clone())
        };
        let path = format!("/api/bookings/{code}/{action}");
        async move { app.post(&path, Some(&who), &json!({})).await }
    })
    .await;
    let won = winners(replies, 200);
    assert_eq!(
        won.len(),
        1,
        "a guest is either let in or refunded, never both"
    );
    let booking = app.booking(&code).await;
    let dashboard = app.dashboard().await;
    if booking["status"] == "confirmed" {
        assert_eq!(booking["check_in_status"], "checked in");
        assert_eq!(dashboard["total_revenue"], 100_000);
        assert_eq!(dashboard["checked_in"], 1);
    } else {
        assert_eq!(booking["status"], "cancelled");
        assert_eq!(booking["checked_in_at"], Value::Null);
        assert_eq!(dashboard["total_revenue"], 0);
        assert_eq!(dashboard["checked_in"], 0);
    }
}

pub async fn instances_share_accounts_tokens_and_seats(factory: AppFactory) {
    let first = factory.app().await;
    let second = first.second_instance().await;
    let sari = first.account("Sari Dewi").await;
    let login = second.login(&sari.email, &sari.password).await.expect(200);
    let second_token = login["token"].as_str().expect("a token").to_string();

    let event = second.event_on_sale("Dua Pintu", 100_000, 20).await;
    let booking = first.book(&sari.token, id(&event), &["A1"]).await;
    assert_eq!(second.seat_statuses(id(&event)).await["A1"], "held");
    second.pay(&second_token, &booking).await;
    assert_eq!(first.seat_statuses(id(&event)).await["A1"], "sold");
    assert_eq!(first.dashboard().await["tickets_sold"], 1);

    // A password changed through one instance revokes the tokens on the other.
    let change = json!({ "old_password": sari.password, "new_password": "a-new-password" });
    second
        .post(
            &format!("/api/users/{}/password", sari.id),
            Some(&second_token),
            &change,
        )
        .await
        .expect(200);
    first
        .get(&format!("/api/users/{}", sari.id), Some(&sari.token))
        .await
        .expect_error(401);
    first.login(&sari.email, "a-new-password").await.expect(200);
}

pub async fn simultaneous_sign_ups_with_one_email_make_one_account(factory: AppFactory) {
    let app = factory.app().await;
    let replies = all_at_once(16, |index| {
        let app = app.clone();
        async move {
            // The same address in different cases, and one NIK, from sixteen browsers at once.
            let email = if index % 2 == 0 { "rebutan@example.com" } else { "REBUTAN@example.com" };
            let body = json!({ "name": format!("Perebut {index}"), "email": email, "password": "customer-pass-1" });
            app.post("/api/users", None, &body).await
        }
    })
    .await;
    assert_eq!(
        winners(replies, 201).len(),
        1,
        "one account per email address"
    );

    let replies = all_at_once(16, |index| {
        let app = app.clone();
        async move {
            let body = json!({
                "name": format!("Pemilik NIK {index}"),
                "email": format!("nik.{index}@example.com"),
                "password": "customer-pass-1",
                "nik": "3171234567890001",
            });
            app.post("/api/users", None, &body).await
        }
    })
    .await;
    assert_eq!(winners(replies, 201).len(), 1, "one account per NIK");
    let admin = app.admin_token().await;
    assert_eq!(app.get("/api/users", Some(&admin)).await.total_count(), 3);
}

/// One request of a race: who sends it, as what, and where.
#[derive(Clone)]
struct Call {
    token: String,
    method: Method,
    path: String,
    body: Value,
}

fn call(token: &str, method: Method, path: String, body: Value) -> Call {
    Call {
        token: token.to_string(),
        method,
        path,
        body,
    }
}

/// Two requests at once; returns both replies in order.
async fn race(app: &TestApp, first: Call, second: Call) -> (Reply, Reply) {
    let calls = [first, second];
    let mut replies = all_at_once(2, |index| {
        let (app, call) = (app.clone(), calls[index].clone());
        async move {
            app.request(call.method, &call.path, Some(&call.token), Some(&call.body))
                .await
        }
    })
    .await;
    let second = replies.pop().expect("two replies");
    let first = replies.pop().expect("two replies");
    (first, second)
}

pub async fn shrinking_capacity_and_booking_the_last_row_race_cleanly(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let event = app.event_on_sale("Gedung Menyusut", 100_000, 20).await;
    let event_id = id(&event);
    let seat = app.seat_ids(event_id, &["B5"]).await[0];
    let (_, token) = app.customer("Sari Dewi").await;

    let (booked, shrunk) = race(
        &app,
        call(
            &token,
            Method::POST,
            "/api/bookings".into(),
            json!({ "event_id": event_id, "seat_ids": [seat] }),
        ),
        call(
            &admin,
            Method::PUT,
            format!("/api/events/{event_id}"),
            json!({ "capacity": 10 }),
        ),
    )
    .await;
    let statuses = app.seat_statuses(event_id).await;
    match (booked.code(), shrunk.code()) {
        (201, _) => {
            shrunk.expect_error(409);
            assert_eq!(statuses.len(), 20);
            assert_eq!(statuses["B5"], "held");
        }
        (_, 200) => {
            booked.expect_error(400);
            assert_eq!(
                statuses.len(),
                10,
                "the booking must not keep a removed seat"
            );
        }
        (book, shrink) => panic!(
            "booking {book} and shrink {shrink}: one of them must win: {:?} {:?}",
            booked.body, shrunk.body
        ),
    }
}

pub async fn cancelling_an_event_while_a_customer_pays_leaves_nothing_paid(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let event = app.event_on_sale("Batal Mendadak", 100_000, 20).await;
    let event_id = id(&event);
    let (_, token) = app.customer("Sari Dewi").await;
    let booking = app.book(&token, event_id, &["A1"]).await;
    let code = code(&booking);

    let (paid, cancelled) = race(
        &app,
        call(
            &token,
            Method::POST,
            format!("/api/bookings/{code}/pay"),
            json!({ "amount": 100_000, "method": PAYMENT_METHOD }),
        ),
        call(
            &admin,
            Method::PUT,
            format!("/api/events/{event_id}"),
            json!({ "status": "cancelled" }),
        ),
    )
    .await;
    cancelled.expect(200);
    if paid.code() != 200 {
        paid.expect_error(409);
    }
    let booking = app.booking(&code).await;
    assert_eq!(
        booking["status"], "cancelled",
        "a cancelled show keeps no paid booking: {booking}"
    );
    let dashboard = app.dashboard().await;
    assert_eq!(
        dashboard["total_revenue"], 0,
        "whatever the order, the payment was refunded"
    );
    assert_eq!(dashboard["tickets_sold"], 0);
}

pub async fn deleting_an_event_while_a_customer_books_it_race_cleanly(factory: AppFactory) {
    let app = factory.app().await;
    let admin = app.admin_token().await;
    let event = app.event_on_sale("Hapus atau Pesan", 100_000, 20).await;
    let event_id = id(&event);
    let seat = app.seat_ids(event_id, &["A1"]).await[0];
    let (customer, token) = app.customer("Sari Dewi").await;

    let (booked, deleted) = race(
        &app,
        call(
            &token,
            Method::POST,
            "/api/bookings".into(),
            json!({ "event_id": event_id, "seat_ids": [seat] }),
        ),
        call(
            &admin,
            Method::DELETE,
            format!("/api/events/{event_id}"),
            Value::Null,
        ),
    )
    .await;
    let history = app
        .get(&format!("/api/users/{customer}/bookings"), Some(&token))
        .await;
    match (booked.code(), deleted.code()) {
        (201, _) => {
            deleted.expect_error(409);
            app.event(event_id).await;
            assert_eq!(history.total_count(), 1);
        }
        (_, 204) => {
            booked.expect_error(404);
            app.get(&format!("/api/events/{event_id}"), None)
                .await
                .expect_error(404);
            assert_eq!(history.total_count(), 0, "no booking may outlive its event");
        }
        (book, delete) => panic!(
            "booking {book} and delete {delete}: one of them must win: {:?} {:?}",
            booked.body, deleted.body
        ),
    }
}
