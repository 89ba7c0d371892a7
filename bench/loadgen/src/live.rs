//! The live seat map from the client side, for `onsale --listeners N` and
//! `onsale --pick-from-stream`: raw HTTP/1.1 connections to `GET /api/events/{id}/seats/stream`,
//! each keeping the map it was told (the `snapshot`, then every `seats` change applied in order)
//! and the instant each seat change arrived, so that the sale can set it beside the instant the
//! buyer's answer arrived. Each stream checks that the versions chain (`since` = the version it
//! holds); after the sale its map must equal `GET …/seats`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::api::{parse_seat_map, Api, SeatRef};
use crate::stats::Endpoint;

/// Statuses as one byte per seat.
pub const AVAILABLE: u8 = 0;
pub const HELD: u8 = 1;
pub const SOLD: u8 = 2;
pub const OTHER: u8 = 3;

pub fn status_code(status: &str) -> u8 {
    match status {
        "available" => AVAILABLE,
        "held" => HELD,
        "sold" => SOLD,
        _ => OTHER,
    }
}

pub fn status_name(code: u8) -> &'static str {
    match code {
        AVAILABLE => "available",
        HELD => "held",
        SOLD => "sold",
        _ => "other",
    }
}

/// The slot of a seat change: (seat index, held) or (seat index, sold).
fn slot(index: usize, status: u8) -> Option<usize> {
    match status {
        HELD => Some(index * 2),
        SOLD => Some(index * 2 + 1),
        _ => None,
    }
}

/// The event's seats, in the order of its map, and each id's place.
pub struct SeatIndex {
    pub ids: Vec<i64>,
    places: HashMap<i64, usize>,
}

impl SeatIndex {
    pub fn new(ids: Vec<i64>) -> SeatIndex {
        let places = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        SeatIndex { ids, places }
    }

    pub fn place(&self, id: i64) -> Option<usize> {
        self.places.get(&id).copied()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// A map's statuses by place (`OTHER` for a seat the map does not name).
    pub fn statuses(&self, seats: &[SeatRef<'_>]) -> Vec<u8> {
        let mut out = vec![OTHER; self.len()];
        for seat in seats {
            if let Some(place) = self.place(seat.id) {
                out[place] = status_code(seat.status);
            }
        }
        out
    }
}

/// The instant each buyer's answer arrived, per seat change: the booking's 201 (held) and the
/// payment's 200 (sold); microseconds after `epoch`, plus one (0: no answer).
pub struct Answers {
    pub index: Arc<SeatIndex>,
    pub epoch: Instant,
    slots: Vec<AtomicU64>,
}

impl Answers {
    pub fn new(index: Arc<SeatIndex>, epoch: Instant) -> Answers {
        let slots = (0..index.len() * 2).map(|_| AtomicU64::new(0)).collect();
        Answers {
            index,
            epoch,
            slots,
        }
    }

    pub fn mark(&self, seats: &[i64], status: u8, at: Instant) {
        let micros = at.saturating_duration_since(self.epoch).as_micros() as u64 + 1;
        for seat in seats {
            if let Some(slot) = self
                .index
                .place(*seat)
                .and_then(|place| slot(place, status))
            {
                // The first answer counts (a seat is booked and paid once in a sale).
                let _ = self.slots[slot].compare_exchange(
                    0,
                    micros,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

/// The map a stream holds.
pub struct LiveMap {
    pub version: u64,
    pub statuses: Vec<u8>,
}

/// What one stream saw.
#[derive(Default)]
pub struct Record {
    /// Per slot (see [`slot`]): microseconds after the epoch, plus one, when the change arrived
    /// in a `seats` event (0: never).
    received: Vec<u32>,
    pub seat_events: u64,
    pub seat_changes: u64,
    /// A seat told again the status it had, or a change told twice.
    pub repeats: u64,
    /// Seats told `available` again (no expiry or cancellation happens in a sale).
    pub freed: u64,
    /// Snapshots after the first (a stream that fell behind its backlog, or seats reshaped).
    pub resnapshots: u64,
    /// Seat changes learnt from a later snapshot instead of a `seats` event.
    pub via_snapshot: u64,
    pub chain_breaks: u64,
    pub heartbeats: u64,
    pub unknown_seats: u64,
    /// The first few things that went wrong, in words.
    pub problems: Vec<String>,
    /// Bytes of the body (after de-chunking).
    pub body_bytes: u64,
}

impl Record {
    fn problem(&mut self, text: String) {
        if self.problems.len() < 3 {
            self.problems.push(text);
        }
    }
}

/// Where the server listens: `host:port` of a plain-http base URL.
pub fn authority(base_url: &str) -> Result<String, String> {
    let rest = base_url
        .strip_prefix("http://")
        .ok_or_else(|| format!("the live streams speak plain http only, not {base_url}"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    Ok(if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    })
}

/// An open stream: its map (shared with a buyer that picks from it), a signal for each change,
/// and the task reading it.
pub struct Listener {
    pub map: Arc<Mutex<LiveMap>>,
    pub changed: Arc<Notify>,
    task: JoinHandle<Record>,
}

impl Listener {
    /// Ends the stream (after `stop` was sent) and returns what it saw.
    pub async fn finish(self) -> Record {
        self.task.await.unwrap_or_else(|error| {
            let mut record = Record::default();
            record.problem(format!("the listener task failed: {error}"));
            record
        })
    }
}

/// The body's transfer coding, decoded as it arrives.
enum Body {
    /// Reading a chunk-size line.
    Size(Vec<u8>),
    Data(usize),
    /// The CRLF after a chunk's data: bytes left.
    DataEnd(u8),
    Done,
    /// No chunking: everything until the connection closes.
    Identity,
}

impl Body {
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        while !input.is_empty() {
            match self {
                Body::Identity => {
                    out.extend_from_slice(input);
                    return Ok(());
                }
                Body::Done => return Ok(()),
                Body::Size(line) => {
                    let byte = input[0];
                    input = &input[1..];
                    if byte != b'\n' {
                        line.push(byte);
                        if line.len() > 64 {
                            return Err("a chunk-size line over 64 bytes".to_string());
                        }
                        continue;
                    }
                    let text = String::from_utf8_lossy(line);
                    let hex = text.split([';', '\r']).next().unwrap_or("").trim();
                    let size = usize::from_str_radix(hex, 16)
                        .map_err(|_| format!("a bad chunk size {text:?}"))?;
                    *self = if size == 0 {
                        Body::Done
                    } else {
                        Body::Data(size)
                    };
                }
                Body::Data(left) => {
                    let take = (*left).min(input.len());
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    *left -= take;
                    if *left == 0 {
                        *self = Body::DataEnd(2);
                    }
                }
                Body::DataEnd(left) => {
                    input = &input[1..];
                    *left -= 1;
                    if *left == 0 {
                        *self = Body::Size(Vec::new());
                    }
                }
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct ChangeData {
    version: u64,
    since: u64,
    seats: Vec<ChangedSeat>,
}

#[derive(Deserialize)]
struct ChangedSeat {
    id: i64,
    status: String,
}

/// One connection being read: the decoder, the event being assembled, the map and the record.
struct Conn {
    stream: TcpStream,
    body: Body,
    /// Decoded body not yet split into lines; `scanned` bytes of it hold no newline.
    text: Vec<u8>,
    scanned: usize,
    event: String,
    id: Option<String>,
    data: Vec<u8>,
    has_snapshot: bool,
    map: Arc<Mutex<LiveMap>>,
    changed: Arc<Notify>,
    index: Arc<SeatIndex>,
    epoch: Instant,
    record: Record,
    buffer: Vec<u8>,
}

/// What a refused stream answered.
enum OpenFailure {
    /// The documented 503: try again shortly.
    Shed,
    Failed(String),
}

impl Conn {
    async fn connect(
        authority: &str,
        event_id: i64,
        index: Arc<SeatIndex>,
        epoch: Instant,
    ) -> Result<Conn, OpenFailure> {
        let failed =
            |what: &str, error: std::io::Error| OpenFailure::Failed(format!("{what}: {error}"));
        let mut stream = TcpStream::connect(authority)
            .await
            .map_err(|error| failed("connect", error))?;
        stream
            .set_nodelay(true)
            .map_err(|error| failed("nodelay", error))?;
        let request = format!(
            "GET /api/events/{event_id}/seats/stream HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\nUser-Agent: wartawa-loadgen\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|error| failed("send", error))?;
        // The head, then whatever of the body came with it.
        let mut head = Vec::with_capacity(1024);
        let mut buffer = vec![0u8; 8192];
        let end = loop {
            let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buffer))
                .await
                .map_err(|_| OpenFailure::Failed("no answer head within 30 s".to_string()))?
                .map_err(|error| failed("read", error))?;
            if read == 0 {
                return Err(OpenFailure::Failed(
                    "the connection closed before the answer head".to_string(),
                ));
            }
            head.extend_from_slice(&buffer[..read]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if head.len() > 64 * 1024 {
                return Err(OpenFailure::Failed(
                    "an answer head over 64 KiB".to_string(),
                ));
            }
        };
        let head_text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
        let status: u16 = head_text
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        if status == 503 && head_text.contains("retry-after") {
            return Err(OpenFailure::Shed);
        }
        if status != 200 {
            return Err(OpenFailure::Failed(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&head[end..head.len().min(end + 200)])
            )));
        }
        let chunked = head_text
            .lines()
            .any(|line| line.starts_with("transfer-encoding:") && line.contains("chunked"));
        let mut conn = Conn {
            stream,
            body: if chunked {
                Body::Size(Vec::new())
            } else {
                Body::Identity
            },
            text: Vec::with_capacity(4096),
            scanned: 0,
            event: String::new(),
            id: None,
            data: Vec::new(),
            has_snapshot: false,
            map: Arc::new(Mutex::new(LiveMap {
                version: 0,
                statuses: Vec::new(),
            })),
            changed: Arc::new(Notify::new()),
            record: Record {
                received: vec![0; index.len() * 2],
                ..Record::default()
            },
            index,
            epoch,
            buffer,
        };
        let rest = head[end..].to_vec();
        conn.take(&rest, Instant::now())
            .map_err(OpenFailure::Failed)?;
        Ok(conn)
    }

    /// Reads until the first snapshot has been applied.
    async fn until_snapshot(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.has_snapshot {
            let read = tokio::time::timeout_at(deadline.into(), self.stream.read(&mut self.buffer))
                .await
                .map_err(|_| "no snapshot within 60 s".to_string())?
                .map_err(|error| format!("read: {error}"))?;
            if read == 0 {
                return Err("the stream closed before its snapshot".to_string());
            }
            let buffer = std::mem::take(&mut self.buffer);
            let outcome = self.take(&buffer[..read], Instant::now());
            self.buffer = buffer;
            outcome?;
        }
        Ok(())
    }

    /// Reads and applies every event until told to stop (or the stream ends).
    async fn run(mut self, mut stop: watch::Receiver<bool>) -> Record {
        loop {
            let read = tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => break,
                read = self.stream.read(&mut self.buffer) => read,
            };
            match read {
                Ok(0) => {
                    self.record
                        .problem("the server ended the stream during the sale".to_string());
                    break;
                }
                Ok(read) => {
                    let buffer = std::mem::take(&mut self.buffer);
                    let outcome = self.take(&buffer[..read], Instant::now());
                    self.buffer = buffer;
                    if let Err(error) = outcome {
                        self.record.problem(error);
                        break;
                    }
                }
                Err(error) => {
                    self.record.problem(format!("read: {error}"));
                    break;
                }
            }
        }
        self.record
    }

    /// Bytes off the socket, all arrived at `at`.
    fn take(&mut self, bytes: &[u8], at: Instant) -> Result<(), String> {
        let before = self.text.len();
        self.body.feed(bytes, &mut self.text)?;
        self.record.body_bytes += (self.text.len() - before) as u64;
        let mut start = 0;
        let mut from = self.scanned;
        while let Some(offset) = self.text[from..].iter().position(|b| *b == b'\n') {
            let end = from + offset;
            let mut line = &self.text[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = line.to_vec();
            self.line(&line, at)?;
            start = end + 1;
            from = start;
        }
        self.text.drain(..start);
        self.scanned = self.text.len();
        if matches!(self.body, Body::Done) {
            return Err("the server ended the stream (last chunk)".to_string());
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8], at: Instant) -> Result<(), String> {
        if line.is_empty() {
            return self.dispatch(at);
        }
        if line[0] == b':' {
            self.record.heartbeats += 1;
            return Ok(());
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"id" => self.id = Some(String::from_utf8_lossy(value).into_owned()),
            b"data" => {
                if !self.data.is_empty() {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, at: Instant) -> Result<(), String> {
        let event = std::mem::take(&mut self.event);
        let id = self.id.take();
        let data = std::mem::take(&mut self.data);
        if data.is_empty() && event.is_empty() {
            return Ok(());
        }
        let version = match event.as_str() {
            "snapshot" => self.snapshot(&data)?,
            "seats" => self.seats(&data, at)?,
            other => {
                self.record
                    .problem(format!("an event of unknown kind {other:?}"));
                return Ok(());
            }
        };
        if id.as_deref().and_then(|id| id.trim().parse::<u64>().ok()) != Some(version) {
            self.record.problem(format!(
                "a {event} event of version {version} had the id {id:?}"
            ));
            self.record.chain_breaks += 1;
        }
        self.changed.notify_one();
        Ok(())
    }

    fn snapshot(&mut self, data: &[u8]) -> Result<u64, String> {
        let (version, seats) = parse_snapshot(data)?;
        let statuses = self.index.statuses(&seats);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if self.has_snapshot {
            self.record.resnapshots += 1;
            if version < map.version {
                self.record.chain_breaks += 1;
                self.record.problem(format!(
                    "a snapshot of version {version} after version {}",
                    map.version
                ));
            }
            self.record.via_snapshot += map
                .statuses
                .iter()
                .zip(&statuses)
                .filter(|(a, b)| a != b)
                .count() as u64;
        }
        map.version = version;
        map.statuses = statuses;
        self.has_snapshot = true;
        Ok(version)
    }

    fn seats(&mut self, data: &[u8], at: Instant) -> Result<u64, String> {
        let change: ChangeData = serde_json::from_slice(data).map_err(|error| {
            format!(
                "an unreadable seats event ({error}): {}",
                String::from_utf8_lossy(&data[..data.len().min(200)])
            )
        })?;
        let micros = at.saturating_duration_since(self.epoch).as_micros() as u64 + 1;
        let micros = u32::try_from(micros).unwrap_or(u32::MAX);
        self.record.seat_events += 1;
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if !self.has_snapshot {
            self.record.chain_breaks += 1;
            self.record
                .problem("a seats event before any snapshot".to_string());
        } else if change.since != map.version {
            self.record.chain_breaks += 1;
            self.record.problem(format!(
                "a seats event since version {} while the map was at version {} (to {})",
                change.since, map.version, change.version
            ));
        }
        for seat in &change.seats {
            let Some(place) = self.index.place(seat.id) else {
                self.record.unknown_seats += 1;
                continue;
            };
            let status = status_code(&seat.status);
            self.record.seat_changes += 1;
            if map.statuses[place] == status {
                self.record.repeats += 1;
            }
            if status == AVAILABLE {
                self.record.freed += 1;
            }
            if let Some(slot) = slot(place, status) {
                if self.record.received[slot] == 0 {
                    self.record.received[slot] = micros;
                } else {
                    self.record.repeats += 1;
                }
            }
            map.statuses[place] = status;
        }
        map.version = change.version;
        Ok(change.version)
    }
}

/// `{"version":V,"seats":[…]}`: the version, and the seats read as the buyers read a map.
fn parse_snapshot(data: &[u8]) -> Result<(u64, Vec<SeatRef<'_>>), String> {
    let text = std::str::from_utf8(data).map_err(|_| "a snapshot not in UTF-8".to_string())?;
    let fast = (|| {
        let rest = text.trim_start().strip_prefix("{\"version\":")?;
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let version: u64 = rest[..digits].parse().ok()?;
        let seats_at = text.find("\"seats\":")? + "\"seats\":".len();
        let end = text.rfind('}')?;
        let seats = parse_seat_map(&text.as_bytes()[seats_at..end]).ok()?;
        Some((version, seats))
    })();
    if let Some(parsed) = fast {
        return Ok(parsed);
    }
    #[derive(Deserialize)]
    struct Snapshot<'a> {
        version: u64,
        #[serde(borrow)]
        seats: Vec<SeatRef<'a>>,
    }
    let snapshot: Snapshot = serde_json::from_slice(data).map_err(|error| {
        format!(
            "an unreadable snapshot ({error}): {}",
            String::from_utf8_lossy(&data[..data.len().min(200)])
        )
    })?;
    Ok((snapshot.version, snapshot.seats))
}

/// Opens `count` streams of the event, `concurrency` at a time, each returned once it has its
/// snapshot; a stream refused with the documented 503 is tried again after 50 ms.
pub async fn open_many(
    base_url: &str,
    event_id: i64,
    count: usize,
    concurrency: usize,
    index: Arc<SeatIndex>,
    epoch: Instant,
    stop: &watch::Sender<bool>,
) -> Result<Vec<Listener>, String> {
    let authority = Arc::new(authority(base_url)?);
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let shed = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (authority, gate, index, shed) =
                (authority.clone(), gate.clone(), index.clone(), shed.clone());
            let stop = stop.subscribe();
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
                let mut tries = 0;
                let mut conn = loop {
                    tries += 1;
                    match Conn::connect(&authority, event_id, index.clone(), epoch).await {
                        Ok(conn) => break conn,
                        Err(OpenFailure::Shed) if tries < 600 => {
                            shed.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(OpenFailure::Shed) => return Err("shed 600 times in a row".to_string()),
                        Err(OpenFailure::Failed(error)) => return Err(error),
                    }
                };
                conn.until_snapshot().await?;
                let (map, changed) = (conn.map.clone(), conn.changed.clone());
                let task = tokio::spawn(conn.run(stop));
                Ok::<_, String>(Listener { map, changed, task })
            })
        })
        .collect();
    let mut listeners = Vec::with_capacity(count);
    let mut failures = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(listener)) => listeners.push(listener),
            Ok(Err(error)) => failures.push(error),
            Err(error) => failures.push(format!("an opening task failed: {error}")),
        }
    }
    let shed = shed.load(Ordering::Relaxed);
    if shed > 0 {
        println!("  ({shed} stream openings shed with 503 and tried again)");
    }
    if !failures.is_empty() {
        stop.send_replace(true);
        for listener in listeners {
            listener.finish().await;
        }
        return Err(format!(
            "{} of {count} streams could not be opened, e.g. {}",
            failures.len(),
            failures[0]
        ));
    }
    Ok(listeners)
}

/// The event's map as `GET …/seats` gives it now, by place.
pub async fn current_statuses(
    api: &Api,
    event_id: i64,
    index: &SeatIndex,
) -> Result<Vec<u8>, String> {
    let reply = api
        .get(&format!("/api/events/{event_id}/seats"), None)
        .await;
    if !reply.ok() {
        return Err(format!("seat map: {}", reply.describe()));
    }
    let seats = parse_seat_map(&reply.body)?;
    Ok(index.statuses(&seats))
}

/// Waits until every stream's map equals `expected` (or `patience` runs out); returns the
/// streams still behind.
pub async fn wait_caught_up(listeners: &[Listener], expected: &[u8], patience: Duration) -> usize {
    let deadline = Instant::now() + patience;
    loop {
        let behind = listeners
            .iter()
            .filter(|listener| {
                listener
                    .map
                    .lock()
                    .map(|map| map.statuses != expected)
                    .unwrap_or(true)
            })
            .count();
        if behind == 0 || Instant::now() >= deadline {
            return behind;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A server's resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Everything the streams of one sale saw, set beside the buyers' answers.
#[derive(Default)]
pub struct Delivery {
    /// Answer → arrival, over every stream and every seat change both know of.
    pub latency: Endpoint,
    /// Arrivals before the answer (counted as 0).
    pub early: u64,
    /// How much before the answer those arrived.
    pub early_by: Endpoint,
    /// Seat changes the buyers were told of, times the streams.
    pub expected: u64,
    /// … of which a stream got in a `seats` event.
    pub delivered: u64,
    /// Holds a stream never saw as such because the seat was already sold when the server read
    /// the map (the hold and the payment fell between two of its reads).
    pub held_coalesced: u64,
    /// Changes a stream saw that no buyer was told of.
    pub unanswered: u64,
    pub streams: u64,
    pub seat_events: u64,
    pub seat_changes: u64,
    pub repeats: u64,
    pub freed: u64,
    pub resnapshots: u64,
    pub via_snapshot: u64,
    pub chain_breaks: u64,
    pub heartbeats: u64,
    pub unknown_seats: u64,
    pub body_bytes: u64,
    pub problems: Vec<String>,
    pub streams_with_problems: u64,
}

impl Delivery {
    pub fn add(&mut self, record: &Record, answers: &Answers) {
        self.streams += 1;
        for (slot, answer) in answers.slots.iter().enumerate() {
            let answer = answer.load(Ordering::Relaxed);
            let arrived = u64::from(record.received[slot]);
            match (answer, arrived) {
                (0, 0) => {}
                (0, _) => self.unanswered += 1,
                (_, 0) => {
                    self.expected += 1;
                    // A hold not seen, whose sale was.
                    if slot % 2 == 0 && record.received[slot + 1] != 0 {
                        self.held_coalesced += 1;
                    }
                }
                (answer, arrived) => {
                    self.expected += 1;
                    self.delivered += 1;
                    if arrived < answer {
                        self.early += 1;
                        self.early_by
                            .record_latency(Duration::from_micros(answer - arrived));
                    }
                    self.latency
                        .record_latency(Duration::from_micros(arrived.saturating_sub(answer)));
                }
            }
        }
        self.seat_events += record.seat_events;
        self.seat_changes += record.seat_changes;
        self.repeats += record.repeats;
        self.freed += record.freed;
        self.resnapshots += record.resnapshots;
        self.via_snapshot += record.via_snapshot;
        self.chain_breaks += record.chain_breaks;
        self.heartbeats += record.heartbeats;
        self.unknown_seats += record.unknown_seats;
        self.body_bytes += record.body_bytes;
        if !record.problems.is_empty() {
            self.streams_with_problems += 1;
            for problem in &record.problems {
                if self.problems.len() < 5 {
                    self.problems.push(problem.clone());
                }
            }
        }
    }

    pub fn merge(&mut self, other: &Delivery) {
        self.latency.merge(&other.latency);
        self.early += other.early;
        self.early_by.merge(&other.early_by);
        self.expected += other.expected;
        self.delivered += other.delivered;
        self.held_coalesced += other.held_coalesced;
        self.unanswered += other.unanswered;
        self.streams += other.streams;
        self.seat_events += other.seat_events;
        self.seat_changes += other.seat_changes;
        self.repeats += other.repeats;
        self.freed += other.freed;
        self.resnapshots += other.resnapshots;
        self.via_snapshot += other.via_snapshot;
        self.chain_breaks += other.chain_breaks;
        self.heartbeats += other.heartbeats;
        self.unknown_seats += other.unknown_seats;
        self.body_bytes += other.body_bytes;
        self.streams_with_problems += other.streams_with_problems;
        for problem in &other.problems {
            if self.problems.len() < 5 {
                self.problems.push(problem.clone());
            }
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use crate::stats::round3;
        serde_json::json!({
            "streams": self.streams,
            "latency_p50_ms": round3(self.latency.ms(0.50)),
            "latency_p99_ms": round3(self.latency.ms(0.99)),
            "latency_max_ms": round3(self.latency.max_ms()),
            "latency_count": self.latency.count(),
            "early_counted_as_0": self.early,
            "early_by_p50_ms": round3(self.early_by.ms(0.50)),
            "early_by_max_ms": round3(self.early_by.max_ms()),
            "expected": self.expected,
            "delivered": self.delivered,
            "held_coalesced": self.held_coalesced,
            "unanswered": self.unanswered,
            "seat_events": self.seat_events,
            "seat_changes": self.seat_changes,
            "repeats": self.repeats,
            "freed": self.freed,
            "resnapshots": self.resnapshots,
            "via_snapshot": self.via_snapshot,
            "chain_breaks": self.chain_breaks,
            "heartbeats": self.heartbeats,
            "unknown_seats": self.unknown_seats,
            "body_bytes": self.body_bytes,
            "streams_with_problems": self.streams_with_problems,
            "problems": self.problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_decoded_across_reads() {
        let wire = b"5\r\nhello\r\n7;x=1\r\n, world\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut body = Body::Size(Vec::new());
            let mut out = Vec::new();
            body.feed(&wire[..split], &mut out).unwrap();
            body.feed(&wire[split..], &mut out).unwrap();
            assert_eq!(out, b"hello, world", "split at {split}");
            assert!(matches!(body, Body::Done));
        }
    }

    #[test]
    fn a_snapshot_is_read_fast_or_in_full() {
        let data = br#"{"version":42,"seats":[{"id":7,"label":"A1","row":"A","number":1,"status":"held","is_booked":true}]}"#;
        let (version, seats) = parse_snapshot(data).unwrap();
        assert_eq!(
            (version, seats.len(), seats[0].id, seats[0].status),
            (42, 1, 7, "held")
        );
        let odd = br#"{"seats":[{"id":7,"status":"sold","is_booked":true}],"version":9}"#;
        let (version, seats) = parse_snapshot(odd).unwrap();
        assert_eq!((version, seats[0].status), (9, "sold"));
    }

    #[test]
    fn the_base_url_gives_the_authority() {
        assert_eq!(
            authority("http://127.0.0.1:18547").unwrap(),
            "127.0.0.1:18547"
        );
        assert_eq!(authority("http://localhost/").unwrap(), "localhost:80");
        assert!(authority("https://x").is_err());
    }
}
