//! A webhook receiver on loopback for the tests: a real HTTP/1.1 server that records every
//! request it gets and answers each with the next status it was told to (200 once they run out).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
    /// The status it was answered.
    pub answered: u16,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    statuses: VecDeque<u16>,
}

pub struct WebhookReceiver {
    address: SocketAddr,
    log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// A receiver listening on a free loopback port, answering the first requests with
    /// `statuses` in turn, then 200.
    pub async fn start(statuses: &[u16]) -> WebhookReceiver {
        WebhookReceiver::start_at("127.0.0.1:0".parse().expect("an address"), statuses).await
    }

    /// A receiver listening at `address` (a port reserved earlier, say), as [`Self::start`].
    pub async fn start_at(address: SocketAddr, statuses: &[u16]) -> WebhookReceiver {
        let listener = TcpListener::bind(address)
            .await
            .expect("a free loopback port");
        let address = listener.local_addr().expect("a bound address");
        let log = Arc::new(Mutex::new(Log {
            received: Vec::new(),
            statuses: statuses.iter().copied().collect(),
        }));
        let shared = log.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        WebhookReceiver { address, log, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .received
            .clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(stream: TcpStream, log: Arc<Mutex<Log>>) {
    let mut stream = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        match stream.read_line(&mut request_line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|value| value.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let answered = {
            let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let answered = log.statuses.pop_front().unwrap_or(200);
            log.received.push(Received {
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                answered,
            });
            answered
        };
        let reply = format!("HTTP/1.1 {answered} Answered\r\ncontent-length: 0\r\n\r\n");
        if stream.get_mut().write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
