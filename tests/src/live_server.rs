//! A [`TestApp`] served on a real loopback socket by WarTawa's own listener, for what only a
//! network peer can do: trickle bytes, hold connections, speak HTTP/2, come from another
//! address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use adapters::http::server::ServerSettings;
use bootstrap::wiring::{http_settings, server_settings};

use crate::http_harness::TestApp;

/// A loopback address other than 127.0.0.1, as a second client machine.
pub const SECOND_ADDRESS: &str = "127.0.0.2";

/// The app of a [`TestApp`] listening on 127.0.0.1 with a free port; stopped when dropped.
pub struct LiveServer {
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl LiveServer {
    /// Serves `app` as `wartawa serve` would with the app's configuration (but a grace of one
    /// second at shutdown, for connections a test left hanging).
    pub async fn start(app: &TestApp) -> LiveServer {
        let settings = ServerSettings {
            shutdown_grace: Duration::from_secs(1),
            ..server_settings(&app.config)
        };
        LiveServer::start_with(app, settings).await
    }

    /// Serves `app` with these listener settings.
    pub async fn start_with(app: &TestApp, settings: ServerSettings) -> LiveServer {
        let listener = adapters::http::server::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let address = listener.local_addr().expect("a bound address");
        let endpoint = adapters::http::app(app.services.clone(), &http_settings(&app.config));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            adapters::http::server::serve(listener, endpoint, settings, async {
                let _ = stopped.await;
            })
            .await
            .expect("the server runs");
        });
        LiveServer {
            address,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A client whose connections come from `source` (e.g. [`SECOND_ADDRESS`]).
    pub fn client_from(source: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(source.parse::<IpAddr>().expect("an IP address"))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client")
    }

    /// A plain client from 127.0.0.1.
    pub fn client() -> reqwest::Client {
        LiveServer::client_from("127.0.0.1")
    }

    /// A bare TCP connection from `source`.
    pub async fn connect_from(&self, source: &str) -> TcpStream {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket
            .bind(SocketAddr::new(source.parse().expect("an IP address"), 0))
            .expect("a loopback source address");
        socket.connect(self.address).await.expect("a connection")
    }

    pub async fn connect(&self) -> TcpStream {
        self.connect_from("127.0.0.1").await
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// An answer read off a bare connection.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub head: String,
    pub body: Value,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

/// Reads what the server sends until it closes the connection (or `within` passes): `None`
/// when it closed without answering.
pub async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<RawReply> {
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut bytes)).await;
    parse_reply(&bytes)
}

/// One HTTP/1.1 answer, from its first bytes.
pub fn parse_reply(bytes: &[u8]) -> Option<RawReply> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    Some(RawReply {
        status,
        head: head.to_string(),
        body,
    })
}

/// Writes `bytes` one at a time, `every` apart, until the server stops taking them: true when
/// the server closed the connection before all were written.
pub async fn trickle(stream: &mut TcpStream, bytes: &[u8], every: Duration) -> bool {
    for byte in bytes {
        if stream.write_all(&[*byte]).await.is_err() {
            return true;
        }
        // A closed connection shows on the next write, or as the end of what can be read.
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(every, stream.read(&mut probe)).await {
            return true;
        }
    }
    false
}
