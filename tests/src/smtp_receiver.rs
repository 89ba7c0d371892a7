//! An SMTP server on loopback for the tests: it speaks enough of the protocol (EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT) for a real client to hand it messages, keeps every message it
//! accepted, and refuses the first ones with a temporary error when told to.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A message as the server accepted it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message itself, headers and body, as sent (dot-stuffing undone).
    pub data: String,
}

impl Mail {
    /// The first value of a header (unfolded), by name, ignoring case.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(found) = value.as_mut() {
                // Unfolding removes the line break and keeps the white space after it.
                if line.starts_with([' ', '\t']) {
                    found.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((field, rest)) = line.split_once(':') {
                if field.eq_ignore_ascii_case(name) {
                    value = Some(rest.trim().to_string());
                }
            }
        }
        value
    }
}

#[derive(Default)]
struct Log {
    accepted: Vec<Mail>,
    /// Messages still to refuse (451) at the end of DATA.
    to_refuse: usize,
    refused: usize,
}

pub struct SmtpReceiver {
    address: SocketAddr,
    log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpReceiver {
    /// A server on a free loopback port that refuses the first `refusing` messages.
    pub async fn start(refusing: usize) -> SmtpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let address = listener.local_addr().expect("a bound address");
        let log = Arc::new(Mutex::new(Log {
            to_refuse: refusing,
            ..Log::default()
        }));
        let shared = log.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(converse(stream, shared.clone()));
            }
        });
        SmtpReceiver { address, log, task }
    }

    /// `SMTP_URL` for a plain local relay.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    pub fn accepted(&self) -> Vec<Mail> {
        self.lock().accepted.clone()
    }

    pub fn refused(&self) -> usize {
        self.lock().refused
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn converse(stream: TcpStream, log: Arc<Mutex<Log>>) {
    let mut stream = BufReader::new(stream);
    macro_rules! reply {
        ($text:expr) => {
            if stream.get_mut().write_all($text.as_bytes()).await.is_err() {
                return;
            }
        };
    }
    reply!("220 wartawa-test ESMTP\r\n");
    let (mut from, mut to) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        match stream.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => reply!("250-wartawa-test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"),
            "HELO" => reply!("250 wartawa-test\r\n"),
            "MAIL" => {
                from = command[4..].trim().to_string();
                to.clear();
                reply!("250 OK\r\n");
            }
            "RCPT" => {
                to.push(command[4..].trim().to_string());
                reply!("250 OK\r\n");
            }
            "DATA" => {
                reply!("354 End data with <CR><LF>.<CR><LF>\r\n");
                let mut data = String::new();
                loop {
                    let mut line = String::new();
                    match stream.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let refuse = {
                    let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    if log.to_refuse > 0 {
                        log.to_refuse -= 1;
                        log.refused += 1;
                        true
                    } else {
                        log.accepted.push(Mail {
                            from: from.clone(),
                            to: to.clone(),
                            data,
                        });
                        false
                    }
                };
                if refuse {
                    reply!("451 Try again later\r\n");
                } else {
                    reply!("250 Queued\r\n");
                }
            }
            "RSET" | "NOOP" => reply!("250 OK\r\n"),
            "QUIT" => {
                reply!("221 Bye\r\n");
                return;
            }
            _ => reply!("502 Command not implemented\r\n"),
        }
    }
}
