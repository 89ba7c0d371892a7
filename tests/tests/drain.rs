//! Taking a process out of rotation: from the stop signal, `/ready` answers 503 while the
//! process keeps serving for the drain, a request in flight finishes with its answer, and then
//! the listener closes.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use adapters::http::server::{bind, drain_then_stop, serve, ServerSettings};
use bootstrap::wiring::{http_settings, server_settings};
use tests::http_harness::TestApp;
use tests::live_server::{read_until_closed, LiveServer};

const DRAIN: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_turns_503_at_the_signal_while_requests_in_flight_finish() {
    let app = TestApp::memory().await;
    let listener = bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("an address");
    let url = |path: &str| format!("http://{address}{path}");
    let endpoint = adapters::http::app(app.services.clone(), &http_settings(&app.config));
    let settings = ServerSettings {
        shutdown_grace: Duration::from_secs(10),
        ..server_settings(&app.config)
    };
    let services = app.services.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let signal = async {
            let _ = stopped.await;
        };
        let shutdown = drain_then_stop(signal, &services.readiness, DRAIN, std::future::pending());
        serve(listener, endpoint, settings, shutdown).await
    });
    let client = LiveServer::client();
    let status = |path: &'static str| {
        let request = client.get(url(path));
        async move {
            let response = request.send().await.expect("an answer");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body)
        }
    };
    assert_eq!(status("/ready").await.0, 200);

    // A login whose body is still on its way when the signal comes.
    let mut in_flight = tokio::net::TcpStream::connect(address)
        .await
        .expect("a connection");
    let body = br#"{"email":"nobody@example.com","password":"not-the-password"}"#;
    let head = format!(
        "POST /api/users/login HTTP/1.1\r\nHost: wartawa\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.expect("sent");
    in_flight.write_all(&body[..10]).await.expect("sent");

    stop.send(()).expect("the server is running");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ready, refusal) = status("/ready").await;
    assert_eq!(ready, 503, "not ready once draining: {refusal}");
    assert_eq!(refusal["error"], "shutting_down", "{refusal}");
    assert_eq!(status("/health").await.0, 200, "alive while draining");
    assert_eq!(
        status("/api/events").await.0,
        200,
        "requests are still served during the drain"
    );

    in_flight.write_all(&body[10..]).await.expect("sent");
    let reply = read_until_closed(&mut in_flight, Duration::from_secs(5))
        .await
        .expect("the request in flight is answered");
    assert_eq!(reply.status, 401, "{reply:?}");

    let stopped = tokio::time::timeout(DRAIN + Duration::from_secs(8), server)
        .await
        .expect("the server stops after the drain")
        .expect("the server task");
    stopped.expect("the server stops cleanly");
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "the listener is closed"
    );
}
