//! The listener: accepts TCP connections and speaks HTTP/1.1 to the app (and HTTP/2 over
//! cleartext, when the operator turns it on), with the limits that keep a slow or greedy client
//! from holding the server:
//!
//! - a request's headers must arrive within `header_read_timeout` (an idle keep-alive
//!   connection is closed after the same time);
//! - one client address holds at most `max_connections_per_address` connections at once (past
//!   it a new connection gets 429 and is closed); trusted proxies, which carry many clients, are
//!   exempt;
//! - HTTP/2 over cleartext (h2c) is off unless enabled, and an HTTP/2 connection carries at most
//!   `http2_max_concurrent_streams` requests at once, and is closed after `http2_idle_timeout`
//!   with nothing sent either way.
//!
//! Bodies are read by the app's middleware (see `middleware::BodyReader`), with a deadline and a
//! minimum rate, before a request takes one of the in-flight places.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, IntoEndpoint, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::connection_io::{IdleTimeout, Replayed};
use super::error::{ApiFailure, ErrorReason};
use super::protocol_errors::ProtocolErrorBodies;

/// How the listener treats connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// A request's headers (or, on an idle keep-alive connection, the next request's) must
    /// arrive within this time; otherwise the connection is closed.
    pub header_read_timeout: Duration,
    /// Speak HTTP/2 to clients that open with its preface (prior knowledge, no TLS).
    pub http2_cleartext: bool,
    /// Requests one HTTP/2 connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// How long an HTTP/2 connection may carry nothing either way before it is closed.
    pub http2_idle_timeout: Duration,
    /// Connections one client address may hold at once; 0 means no limit.
    pub max_connections_per_address: usize,
    /// Addresses exempt from the per-address bound: the proxies in front of WarTawa, through
    /// which many clients arrive.
    pub trusted_proxies: Vec<IpAddr>,
    /// How long requests in flight may take to finish after the shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            header_read_timeout: Duration::from_secs(10),
            http2_cleartext: false,
            http2_max_concurrent_streams: 32,
            http2_idle_timeout: Duration::from_secs(60),
            max_connections_per_address: 256,
            trusted_proxies: Vec::new(),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// The first bytes an HTTP/2 client with prior knowledge sends.
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Binds the listening socket: a host that does not resolve or a port in use fails here,
/// before anything is served.
pub async fn bind(address: &str) -> io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Resolves when the listener should stop accepting. Once `signal` resolves the process drains:
/// `readiness` says it is not ready (`/ready` answers 503) while it keeps serving for `drain`,
/// long enough for a load balancer's health checks to take it out of rotation; `hurry` (a
/// second signal) ends the wait early. Pass this as `serve`'s `shutdown`: requests in flight
/// then finish.
pub async fn drain_then_stop(
    signal: impl Future<Output = ()>,
    readiness: &application::health::Readiness,
    drain: Duration,
    hurry: impl Future<Output = ()>,
) {
    signal.await;
    readiness.begin_drain();
    tracing::info!(
        drain_seconds = drain.as_secs(),
        "draining: /ready answers 503; requests are still served until the drain ends"
    );
    tokio::select! {
        _ = tokio::time::sleep(drain) => {}
        _ = hurry => tracing::info!("stopping at once: a second signal"),
    }
    tracing::info!("no longer accepting connections; finishing the requests in flight");
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// for up to the grace period.
pub async fn serve<E>(
    listener: TcpListener,
    app: E,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let app: Arc<BoxEndpoint<'static>> = Arc::new(app.into_endpoint().map_to_response().boxed());
    let settings = Arc::new(settings);
    let connections = ConnectionsPerAddress::new(settings.max_connections_per_address);
    let graceful = GracefulShutdown::new();
    let local_addr = listener.local_addr()?;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it was accepted:
                // keep serving the others, without spinning.
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let exempt = settings.trusted_proxies.contains(&peer.ip());
        let Some(held) = connections.open(peer.ip(), exempt) else {
            tokio::spawn(refuse_connection(stream, peer));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            stream,
            local: local_addr,
            peer,
            app: app.clone(),
            settings: settings.clone(),
        };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _held = held;
            connection.serve(watcher).await;
        });
    }
    drop(listener);
    if tokio::time::timeout(settings.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_seconds = settings.shutdown_grace.as_secs(),
            "requests still running when the shutdown grace ended were dropped"
        );
    }
    Ok(())
}

/// One accepted connection and what serving it needs.
struct Connection {
    stream: TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
    app: Arc<BoxEndpoint<'static>>,
    settings: Arc<ServerSettings>,
}

enum Protocol {
    Http1,
    Http2,
}

impl Connection {
    async fn serve(self, watcher: Watcher) {
        let Connection {
            stream,
            local,
            peer,
            app,
            settings,
        } = self;
        let mut stream = stream;
        let (protocol, read_already) = if settings.http2_cleartext {
            match opening(&mut stream, settings.header_read_timeout).await {
                Some(opening) => opening,
                None => return,
            }
        } else {
            (Protocol::Http1, Vec::new())
        };
        let stream = Replayed::new(read_already, stream);
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let app = app.clone();
            async move {
                let request = Request::from((
                    request,
                    LocalAddr(Addr::SocketAddr(local)),
                    RemoteAddr(Addr::SocketAddr(peer)),
                    Scheme::HTTP,
                ));
                let response: hyper::Response<_> = app.get_response(request).await.into();
                Ok::<_, Infallible>(response)
            }
        });
        let outcome = match protocol {
            Protocol::Http1 => {
                let io = TokioIo::new(ProtocolErrorBodies::new(stream));
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(settings.header_read_timeout)
                    .serve_connection(io, service);
                watcher.watch(connection).await
            }
            Protocol::Http2 => {
                // HTTP/2 has no header timeout between requests: a connection that carries
                // nothing either way for a while is closed instead.
                let io = TokioIo::new(IdleTimeout::new(stream, settings.http2_idle_timeout));
                let connection = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .max_concurrent_streams(settings.http2_max_concurrent_streams)
                    .serve_connection(io, service);
                watcher.watch(connection).await
            }
        };
        if let Err(error) = outcome {
            tracing::debug!(%error, %peer, "connection ended with an error");
        }
    }
}

/// Which protocol a connection opens with, from its first bytes: HTTP/2 when they are the
/// HTTP/2 preface, HTTP/1.1 as soon as they cannot be; with the bytes read to tell. `None` when
/// the client sends nothing telling within the header timeout (the connection is then dropped).
async fn opening(stream: &mut TcpStream, within: Duration) -> Option<(Protocol, Vec<u8>)> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::with_capacity(HTTP2_PREFACE.len());
    let mut chunk = [0u8; HTTP2_PREFACE.len()];
    loop {
        let wanted = HTTP2_PREFACE.len() - seen.len();
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk[..wanted]))
            .await
            .ok()?
            .ok()?;
        if read == 0 {
            return None;
        }
        seen.extend_from_slice(&chunk[..read]);
        if seen[..] != HTTP2_PREFACE[..seen.len()] {
            return Some((Protocol::Http1, seen));
        }
        if seen.len() == HTTP2_PREFACE.len() {
            return Some((Protocol::Http2, seen));
        }
    }
}

/// Answers a connection over the per-address bound with 429 and closes it. The answer is
/// written without reading the request, and given up on if the client does not take it.
async fn refuse_connection(mut stream: TcpStream, peer: SocketAddr) {
    tracing::warn!(%peer, "too many connections from one address; refused");
    // Refused before any request is read, so in the default language of refusals: English.
    let mut failure = ApiFailure::of(
        poem::http::StatusCode::TOO_MANY_REQUESTS,
        ErrorReason::TooManyConnections,
    );
    failure.retry_after = Some(1);
    let body = serde_json::to_string(&poem_openapi::types::ToJSON::to_json(&failure.body))
        .unwrap_or_default();
    let security_headers: String = super::middleware::SECURITY_HEADERS
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let response = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json; charset=utf-8\r\n\
         retry-after: 1\r\nconnection: close\r\n{security_headers}content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Counts the open connections of each client address.
#[derive(Clone)]
struct ConnectionsPerAddress {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection; uncounted when dropped.
struct HeldConnection {
    address: Option<IpAddr>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ConnectionsPerAddress {
    fn new(max: usize) -> Self {
        ConnectionsPerAddress {
            max,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Counts a new connection from `address`, or `None` when that address is at the bound.
    fn open(&self, address: IpAddr, exempt: bool) -> Option<HeldConnection> {
        if self.max == 0 || exempt {
            return Some(HeldConnection {
                address: None,
                open: self.open.clone(),
            });
        }
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(HeldConnection {
            address: Some(address),
            open: self.open.clone(),
        })
    }
}

impl Drop for HeldConnection {
    fn drop(&mut self) {
        let Some(address) = self.address else {
            return;
        };
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn connections_are_bounded_per_address_and_freed_when_closed() {
        let connections = ConnectionsPerAddress::new(2);
        let first = connections.open(ip("203.0.113.9"), false).unwrap();
        let _second = connections.open(ip("203.0.113.9"), false).unwrap();
        assert!(connections.open(ip("203.0.113.9"), false).is_none());
        assert!(
            connections.open(ip("198.51.100.7"), false).is_some(),
            "another address has its own bound"
        );
        assert!(
            connections.open(ip("203.0.113.9"), true).is_some(),
            "a trusted proxy is not bounded"
        );
        drop(first);
        assert!(connections.open(ip("203.0.113.9"), false).is_some());
    }

    #[test]
    fn zero_means_no_bound() {
        let connections = ConnectionsPerAddress::new(0);
        let held: Vec<_> = (0..1000)
            .map(|_| connections.open(ip("203.0.113.9"), false))
            .collect();
        assert!(held.iter().all(Option::is_some));
    }
}
