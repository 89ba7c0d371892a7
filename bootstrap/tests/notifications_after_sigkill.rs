//! The outbox survives the process: a `wartawa serve` on PostgreSQL that is killed with SIGKILL
//! after a payment committed, before its webhook arrived, delivers it once started again, and
//! the buyer's e-mail arrives once.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::postgres_db::TestDatabase;
use tests::smtp_receiver::SmtpReceiver;
use tests::webhook_receiver::WebhookReceiver;

const ADMIN_EMAIL: &str = "admin@sigkill.example";
const ADMIN_PASSWORD: &str = "admin-password-for-the-test";

/// A free loopback port, released for whoever binds it next.
fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
}

fn serve(database_url: &str, address: SocketAddr, smtp_url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wartawa"))
        .arg("serve")
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env(
            "JWT_SECRET",
            "sigkill-test-jwt-secret-0123456789abcdef0123456789",
        )
        .env(
            "TICKET_SIGNING_KEY",
            "c2lna2lsbC10ZXN0LXRpY2tldC1rZXktMDEyMzQ1Njc=",
        )
        .env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("APP_HOST", "127.0.0.1")
        .env("APP_PORT", address.port().to_string())
        .env("BCRYPT_COST", "4")
        .env("WEBHOOK_ALLOW_PRIVATE", "1")
        .env("SMTP_URL", smtp_url)
        .env("MAIL_FROM", "WarTawa <tiket@sigkill.example>")
        .env("DRAIN_SECS", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wartawa starts")
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn up(address: SocketAddr) -> Api {
        let api = Api {
            client: reqwest::Client::new(),
            base: format!("http://{address}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while api
            .client
            .get(format!("{}/health", api.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        api
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "GET" => self.client.get(url),
            _ => self.client.post(url).json(&body),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = request.send().await.expect("an answer");
        let status = reply.status();
        let body: Value = reply.json().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    async fn token(&self, email: &str, password: &str) -> String {
        let login = json!({"email": email, "password": password});
        self.call("POST", "/api/users/login", None, login).await["token"]
            .as_str()
            .expect("a token")
            .to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_committed_before_a_sigkill_is_still_told_after_the_restart() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let address = free_address();
    let receiver_address = free_address();
    let smtp = SmtpReceiver::start(0).await;
    let mut server = serve(&database.url, address, &smtp.url());
    let api = Api::up(address).await;
    let admin = api.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Nothing listens at the receiver's address yet: the first attempt is refused.
    let endpoint = api
        .call(
            "POST",
            "/api/webhooks",
            Some(&admin),
            json!({"url": format!("http://{receiver_address}/hooks"), "event_types": ["booking.paid"]}),
        )
        .await;
    let secret = endpoint["secret"].as_str().expect("a secret").to_string();
    let now = chrono::Utc::now();
    let event = api
        .call(
            "POST",
            "/api/events",
            Some(&admin),
            json!({
                "name": "Tetap Terkirim",
                "date": (now + chrono::Duration::days(30)).to_rfc3339(),
                "venue": "Teater Kecil, Jakarta",
                "seats_per_row": 10,
                "phases": [{"name": "Regular", "price": 100_000, "quota": 10,
                            "start_date": (now - chrono::Duration::days(1)).to_rfc3339(),
                            "end_date": (now + chrono::Duration::days(29)).to_rfc3339()}],
            }),
        )
        .await;
    let signup = json!({"name": "Sari Dewi", "email": "sari@sigkill.example",
                        "password": "rahasia-sekali", "phone_number": "081234567890"});
    api.call("POST", "/api/users", None, signup).await;
    let buyer = api.token("sari@sigkill.example", "rahasia-sekali").await;
    let seats = api
        .call(
            "GET",
            &format!("/api/events/{}/seats", event["id"]),
            None,
            json!(null),
        )
        .await;
    let booking = api
        .call(
            "POST",
            "/api/bookings",
            Some(&buyer),
            json!({"event_id": event["id"], "seat_ids": [seats[0]["id"]], "quantity": 1}),
        )
        .await;
    let code = booking["booking_code"]
        .as_str()
        .expect("a code")
        .to_string();
    api.call(
        "POST",
        &format!("/api/bookings/{code}/pay"),
        Some(&buyer),
        json!({"amount": 100_000, "method": "BCA Virtual Account"}),
    )
    .await;

    // Once the delivery has failed its first attempt, the process dies without a word.
    let deliveries = format!("/api/webhooks/{}/deliveries", endpoint["id"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = api
            .call("GET", &deliveries, Some(&admin), json!(null))
            .await;
        if listed[0]["attempts"].as_i64().unwrap_or(0) >= 1 {
            assert_eq!(listed[0]["status"], "pending", "{listed}");
            break;
        }
        assert!(Instant::now() < deadline, "no attempt was made: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().expect("SIGKILL");
    server.wait().expect("the process ended");

    let receiver = WebhookReceiver::start_at(receiver_address, &[]).await;
    let mut restarted = serve(&database.url, address, &smtp.url());
    Api::up(address).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.received().is_empty() {
        assert!(Instant::now() < deadline, "the payment was never told");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A little longer: nothing arrives twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    restarted.kill().expect("stopped");
    let _ = restarted.wait();

    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let told: Value = serde_json::from_str(&received[0].body).expect("JSON");
    assert_eq!(told["type"], "booking.paid");
    assert_eq!(told["booking"]["booking_code"], code.as_str());
    assert!(received[0].headers["wartawa-signature"].starts_with("t="));
    assert!(!secret.is_empty());
    let mails = smtp.accepted();
    assert_eq!(mails.len(), 1, "the buyer is e-mailed once: {mails:?}");
    assert!(mails[0]
        .to
        .iter()
        .any(|to| to.contains("sari@sigkill.example")));
    assert!(mails[0]
        .header("Subject")
        .is_some_and(|subject| subject.contains(&code)));
}
