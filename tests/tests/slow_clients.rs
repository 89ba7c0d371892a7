//! Slow and greedy clients against the real listener: bodies and headers trickled in, many
//! HTTP/2 streams on one connection, many connections from one address. None of them may take
//! the API from anyone else.

use std::time::Duration;

use bytes::Bytes;
use poem::http;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use tests::http_harness::{code, id, AppFactory, TestApp, PAYMENT_METHOD};
use tests::live_server::{read_until_closed, trickle, LiveServer, SECOND_ADDRESS};

/// The head of a login whose body is announced but never finished.
fn unfinished_login() -> Vec<u8> {
    b"POST /api/users/login HTTP/1.1\r\nHost: wartawa\r\nContent-Type: application/json\r\n\
      Content-Length: 100\r\n\r\n{"
        .to_vec()
}

/// Sends a request and reads its answer as `(status, JSON body)`.
async fn json_of(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Browsing and a purchase, as people do them while the attack goes on; every answer must be
/// the one an unloaded server gives.
async fn browse_and_buy(server: &LiveServer, token: &str, event_id: i64, seat_id: i64) {
    let client = LiveServer::client();
    for _ in 0..10 {
        let (status, body) = json_of(client.get(server.url("/api/events"))).await;
        assert_eq!(status, 200, "browsing during the attack: {body}");
        let (status, body) =
            json_of(client.get(server.url(&format!("/api/events/{event_id}/seats")))).await;
        assert_eq!(status, 200, "the seat map during the attack: {body}");
    }
    let (status, booking) = json_of(
        client
            .post(server.url("/api/bookings"))
            .bearer_auth(token)
            .json(&json!({"event_id": event_id, "seat_ids": [seat_id]})),
    )
    .await;
    assert_eq!(status, 201, "booking during the attack: {booking}");
    let (status, payment) = json_of(
        client
            .post(server.url(&format!("/api/bookings/{}/pay", code(&booking))))
            .bearer_auth(token)
            .json(&json!({"amount": booking["total_price"], "method": PAYMENT_METHOD})),
    )
    .await;
    assert_eq!(status, 200, "paying during the attack: {payment}");
}

async fn app_on_sale(vars: &[(&str, &str)]) -> (TestApp, String, i64, i64) {
    let app = AppFactory::memory().app_with(vars).await;
    let event = app.event_on_sale("Malam Lawak", 100_000, 20).await;
    let event_id = id(&event);
    let (_, token) = app.customer("Sari Dewi").await;
    let seat = app.seat_ids(event_id, &["A1"]).await[0];
    (app, token, event_id, seat)
}

/// 64 connections with an unfinished login body, and one HTTP/2 connection with 64 streams
/// doing the same, while the bound on requests in flight is 4: the bodies hold no place, so
/// browsing and buying go on.
#[tokio::test]
async fn slow_bodies_and_http2_streams_hold_no_place_in_flight() {
    let (app, token, event_id, seat) = app_on_sale(&[
        ("MAX_IN_FLIGHT_REQUESTS", "4"),
        ("HTTP2_CLEARTEXT", "true"),
        ("HTTP2_MAX_CONCURRENT_STREAMS", "16"),
        // Long enough that every slow body is still arriving when the purchase is made.
        ("BODY_READ_TIMEOUT_SECS", "120"),
    ])
    .await;
    let server = LiveServer::start(&app).await;

    let mut slow_bodies = Vec::new();
    for _ in 0..64 {
        let mut stream = server.connect().await;
        stream.write_all(&unfinished_login()).await.expect("sent");
        slow_bodies.push(stream);
    }

    let h2_stream = TcpStream::connect(server.address).await.expect("connected");
    let (h2_client, h2_connection) = h2::client::handshake(h2_stream)
        .await
        .expect("the server speaks HTTP/2 when enabled");
    let connection = tokio::spawn(h2_connection);
    let mut open_streams = Vec::new();
    for _ in 0..64 {
        let h2_client = h2_client.clone();
        let authority = server.address.to_string();
        open_streams.push(tokio::spawn(async move {
            let request = http::Request::post(format!("http://{authority}/api/users/login"))
                .header("content-type", "application/json")
                .header("content-length", "100")
                .body(())
                .expect("a request");
            let mut h2_client = h2_client.ready().await.ok()?;
            let (response, mut body) = h2_client.send_request(request, false).ok()?;
            body.send_data(Bytes::from_static(b"{"), false).ok()?;
            // Held open: the rest of the body never comes.
            let answer = response.await;
            drop(body);
            Some(answer.map(|response| response.status().as_u16()))
        }));
    }

    browse_and_buy(&server, &token, event_id, seat).await;

    for stream in &mut slow_bodies {
        let mut probe = [0u8; 1];
        assert!(
            stream.try_read(&mut probe).is_err(),
            "a slow body was answered before the purchase ended, so the attack was not in place"
        );
    }
    // Streams past the per-connection bound are refused (REFUSED_STREAM, which a client may
    // retry); the others are still sending their bodies, and were never answered.
    let mut still_open = 0;
    for stream in open_streams {
        if stream.is_finished() {
            let outcome = stream.await.expect("the stream's task");
            let refused = matches!(&outcome, Some(Err(error)) if error.reason() == Some(h2::Reason::REFUSED_STREAM));
            assert!(refused, "an HTTP/2 stream was answered: {outcome:?}");
        } else {
            still_open += 1;
            stream.abort();
        }
    }
    assert_eq!(still_open, 16, "the streams one connection may hold");
    connection.abort();
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_off_with_408() {
    let app = AppFactory::memory()
        .app_with(&[
            ("BODY_READ_TIMEOUT_SECS", "1"),
            ("BODY_MIN_BYTES_PER_SECOND", "1024"),
        ])
        .await;
    let server = LiveServer::start(&app).await;
    let mut stream = server.connect().await;
    stream.write_all(&unfinished_login()).await.expect("sent");
    // One more byte a second is far below the minimum rate.
    let closed = trickle(&mut stream, b"\"email\": \"a", Duration::from_millis(400)).await;
    let reply = read_until_closed(&mut stream, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("no answer to a slow body (closed early: {closed})"));
    assert_eq!(reply.status, 408, "{reply:?}");
    assert_eq!(reply.body["status"], "error");
    assert_eq!(reply.body["code"], 408);
    assert_eq!(reply.header("connection"), Some("close"));
    server.stop().await;
}

#[tokio::test]
async fn headers_that_trickle_in_are_cut_off() {
    let app = AppFactory::memory()
        .app_with(&[("HEADER_READ_TIMEOUT_SECS", "1")])
        .await;
    let server = LiveServer::start(&app).await;
    let mut stream = server.connect().await;
    // Sixty bytes at one every 200 ms would take twelve seconds.
    let head = format!(
        "GET /api/events HTTP/1.1\r\nHost: wartawa\r\nX-Padding: {}",
        "x".repeat(20)
    );
    let closed = trickle(&mut stream, head.as_bytes(), Duration::from_millis(200)).await;
    assert!(closed, "the connection outlived the header timeout");
    server.stop().await;
}

#[tokio::test]
async fn connections_are_bounded_per_client_address() {
    let app = AppFactory::memory()
        .app_with(&[("MAX_CONNECTIONS_PER_ADDRESS", "4")])
        .await;
    let server = LiveServer::start(&app).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(server.connect().await);
    }
    // The fifth is answered with 429 at once and closed.
    let mut fifth = server.connect().await;
    let refused = read_until_closed(&mut fifth, Duration::from_secs(30))
        .await
        .expect("an answer to the fifth connection");
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.body["code"], 429);
    assert!(refused.header("retry-after").is_some());

    // Another address is not held back by this one.
    let (status, _) =
        json_of(LiveServer::client_from(SECOND_ADDRESS).get(server.url("/api/events"))).await;
    assert_eq!(status, 200);

    // A connection closed gives its place back.
    held.pop();
    let mut answered = None;
    for _ in 0..200 {
        let mut stream = server.connect().await;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: wartawa\r\nConnection: close\r\n\r\n")
            .await
            .expect("sent");
        let reply = read_until_closed(&mut stream, Duration::from_secs(30))
            .await
            .expect("an answer");
        if reply.status == 200 {
            answered = Some(reply);
            break;
        }
        // The server has not yet seen the close; a later connection will find the place.
        tokio::task::yield_now().await;
    }
    assert!(
        answered.is_some(),
        "the closed connection's place never came back"
    );
    server.stop().await;
}

#[tokio::test]
async fn http2_over_cleartext_is_off_unless_enabled_and_bounded_when_on() {
    let app = AppFactory::memory().app().await;
    let server = LiveServer::start(&app).await;
    let stream = TcpStream::connect(server.address).await.expect("connected");
    let refused = async {
        let (mut client, connection) = h2::client::handshake(stream).await.ok()?;
        tokio::spawn(connection);
        let request = http::Request::get(server.url("/health")).body(()).ok()?;
        let (response, _) = client.send_request(request, true).ok()?;
        response.await.ok()
    }
    .await;
    assert!(refused.is_none(), "HTTP/2 was spoken though not enabled");
    server.stop().await;

    let app = AppFactory::memory()
        .app_with(&[
            ("HTTP2_CLEARTEXT", "true"),
            ("HTTP2_MAX_CONCURRENT_STREAMS", "8"),
        ])
        .await;
    let server = LiveServer::start(&app).await;
    let stream = TcpStream::connect(server.address).await.expect("connected");
    let (client, connection) = h2::client::handshake(stream).await.expect("HTTP/2");
    tokio::spawn(connection);
    let request = http::Request::get(server.url("/health"))
        .body(())
        .expect("a request");
    let mut client = client.ready().await.expect("ready");
    let (response, _) = client.send_request(request, true).expect("sent");
    let response = response.await.expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(client.current_max_send_streams(), 8);
    server.stop().await;
}

#[tokio::test]
async fn http_level_errors_have_the_error_shape() {
    let app = AppFactory::memory().app().await;
    let server = LiveServer::start(&app).await;
    for request in [
        &b"GET /api/ev ents HTTP/1.1\r\nHost: wartawa\r\n\r\n"[..],
        b"GET /api/events\xff HTTP/1.1\r\nHost: wartawa\r\n\r\n",
        b"GET /api/events HTTP/1.1\r\nHost: wartawa\r\nBad Header: x\r\n\r\n",
    ] {
        let mut stream = server.connect().await;
        stream.write_all(request).await.expect("sent");
        let reply = read_until_closed(&mut stream, Duration::from_secs(30))
            .await
            .expect("an answer");
        assert_eq!(reply.status, 400, "{reply:?}");
        assert_eq!(reply.body["status"], "error", "{reply:?}");
        assert_eq!(reply.body["code"], 400, "{reply:?}");
        assert!(
            reply
                .header("content-type")
                .is_some_and(|value| value.starts_with("application/json")),
            "{reply:?}"
        );
    }
    server.stop().await;
}

/// An HTTP/2 connection that opens and then carries nothing is closed once it has been idle for
/// `HTTP2_IDLE_TIMEOUT_SECS`, as an idle HTTP/1.1 one is after the header timeout.
#[tokio::test]
async fn idle_http2_connections_are_closed() {
    let app = AppFactory::memory()
        .app_with(&[
            ("HTTP2_CLEARTEXT", "true"),
            ("HTTP2_IDLE_TIMEOUT_SECS", "1"),
        ])
        .await;
    let server = LiveServer::start(&app).await;
    let mut stream = server.connect().await;
    // The preface and an empty SETTINGS frame, then nothing.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("sent");
    let mut bytes = Vec::new();
    let closed = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut bytes),
    )
    .await;
    assert!(
        closed.is_ok(),
        "the idle HTTP/2 connection was still open after 30 s"
    );
    server.stop().await;
}
