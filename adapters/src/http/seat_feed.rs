//! The live seat map: every open stream of an event hears each change of its seat map, in
//! version order, without gaps or repeats.
//!
//! One watcher per event with listeners, per process, keeps the event's map as of its latest
//! version. It wakes when the store says the map moved (`seat_signals`: the memory store under
//! its lock, PostgreSQL through `LISTEN`/`NOTIFY` from whichever process moved it), and every
//! `expiry_check` in any case, so that holds that lapse with nobody booking are expired and told
//! too. It reads the map, compares it with the one it held, and sends what changed, rendered
//! once, to every stream of the event. A change is computed from the map itself, so a missed
//! signal delays a change but never loses one; changes are kept a while, so that a client that
//! reconnects with `Last-Event-ID` gets what it missed.
//!
//! Cost is bounded: one listener connection per process, one read per change per process,
//! streams capped (`max_streams`), each stream's backlog capped (`backlog`): a stream that falls
//! further behind is sent a fresh snapshot instead.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use tokio::sync::{broadcast, watch, Notify, OwnedSemaphorePermit, Semaphore};

use application::events::{EventService, GetEventError};
use application::views::{SeatMap, SeatView};
use domain::event::EventId;
use domain::seat::SeatStatus;

use super::seat_map_cache::SeatMapCache;
use crate::seat_signals::{SeatMapSignal, SeatMapSignals};

/// How the live seat map is bounded.
#[derive(Debug, Clone)]
pub struct SeatFeedSettings {
    /// Streams open at once in this process; past it, a new one is refused (503).
    pub max_streams: usize,
    /// Changes a stream may fall behind by before it is sent a fresh snapshot instead.
    pub backlog: usize,
    /// Changes kept per event for clients that reconnect with `Last-Event-ID`.
    pub history: usize,
    /// How often a watched map is checked even when no signal came: lapsed holds expire then.
    pub expiry_check: Duration,
    /// The least time between two reads of a watched map: changes within it go out together.
    pub batch: Duration,
    /// How often an idle stream sends a comment, so that proxies keep it open.
    pub heartbeat: Duration,
}

impl Default for SeatFeedSettings {
    fn default() -> Self {
        SeatFeedSettings {
            max_streams: 10_000,
            backlog: 64,
            history: 256,
            expiry_check: Duration::from_secs(1),
            batch: Duration::from_millis(25),
            heartbeat: Duration::from_secs(15),
        }
    }
}

/// Why a stream could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// As many streams are open as the process allows.
    Full,
    /// The process is shutting down.
    Closing,
    Event(GetEventError),
}

impl From<GetEventError> for OpenError {
    fn from(error: GetEventError) -> Self {
        OpenError::Event(error)
    }
}

/// The live seat maps of one process.
pub struct SeatFeed {
    events: EventService,
    signals: Arc<dyn SeatMapSignals>,
    settings: SeatFeedSettings,
    watched: Mutex<HashMap<EventId, Arc<WatchedMap>>>,
    streams: Arc<Semaphore>,
    renderer: SeatMapCache,
    dispatching: AtomicBool,
    closing: watch::Sender<bool>,
}

/// One event's map as its watcher last read it, and the changes that led there.
struct WatchedMap {
    event: EventId,
    state: Mutex<MapState>,
    updates: broadcast::Sender<Update>,
    wake: Notify,
}

struct MapState {
    version: u64,
    seats: Vec<SeatView>,
    /// The snapshot of this version, rendered when a stream first asks for it.
    snapshot: Option<Bytes>,
    /// The latest changes, oldest first, each continuing the one before.
    history: VecDeque<Arc<Change>>,
}

/// What a watcher tells the streams of its event.
#[derive(Clone)]
enum Update {
    Changed(Arc<Change>),
    /// The seats themselves changed (added or removed): read a fresh snapshot.
    Reshaped,
    /// The event is gone: end the stream.
    Gone,
}

/// The seats whose status changed between two versions, rendered once for every stream.
struct Change {
    since: u64,
    version: u64,
    frame: Bytes,
}

/// One message of a stream, as the Server-Sent Event it is sent as: rendered once, shared by
/// every stream that sends it.
pub enum Message {
    /// `event: snapshot`, the whole map: `{"version":…,"seats":[…]}` with seats as
    /// `GET …/seats` gives them.
    Snapshot { version: u64, frame: Bytes },
    /// `event: seats`, what changed:
    /// `{"version":…,"since":…,"seats":[{"id","label","status","is_booked"}…]}`.
    Seats { version: u64, frame: Bytes },
}

impl Message {
    /// The bytes of the event: its kind, its version as the id, its data on one line.
    pub fn into_frame(self) -> Bytes {
        match self {
            Message::Snapshot { frame, .. } | Message::Seats { frame, .. } => frame,
        }
    }

    fn version(&self) -> u64 {
        match self {
            Message::Snapshot { version, .. } | Message::Seats { version, .. } => *version,
        }
    }
}

/// An event of kind `kind` and id `version` whose data is `json` (one line: JSON rendered here
/// holds no line break).
fn frame(kind: &str, version: u64, json: &[u8]) -> Bytes {
    let head = format!("id: {version}\nevent: {kind}\ndata: ");
    let mut frame = Vec::with_capacity(head.len() + json.len() + 2);
    frame.extend_from_slice(head.as_bytes());
    frame.extend_from_slice(json);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}

impl SeatFeed {
    pub fn new(
        events: EventService,
        signals: Arc<dyn SeatMapSignals>,
        settings: SeatFeedSettings,
    ) -> Self {
        SeatFeed {
            events,
            signals,
            streams: Arc::new(Semaphore::new(settings.max_streams)),
            settings,
            watched: Mutex::new(HashMap::new()),
            renderer: SeatMapCache::default(),
            dispatching: AtomicBool::new(false),
            closing: watch::channel(false).0,
        }
    }

    pub fn heartbeat(&self) -> Duration {
        self.settings.heartbeat
    }

    /// Ends every stream and refuses new ones: the process is shutting down.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Opens a stream of the event's map: a snapshot first, or, for a client that has seen
    /// `last_seen`, the changes since then when they are still known; then every change.
    pub async fn open(
        self: &Arc<Self>,
        event: EventId,
        last_seen: Option<u64>,
    ) -> Result<impl Stream<Item = Message> + Send + 'static, OpenError> {
        if *self.closing.borrow() {
            return Err(OpenError::Closing);
        }
        let permit = self
            .streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| OpenError::Full)?;
        self.start_dispatching();
        let (watched, updates) = self.watch(event).await?;
        let first = {
            let mut state = lock(&watched.state);
            match last_seen.and_then(|seen| changes_since(&state, seen)) {
                Some(changes) => changes,
                None => vec![self.snapshot(&mut state, event)],
            }
        };
        let sent_up_to = match first.last() {
            Some(message) => message.version(),
            None => last_seen.unwrap_or_default(),
        };
        let stream = StreamState {
            feed: Arc::downgrade(self),
            watched,
            updates,
            pending: first.into(),
            sent_up_to,
            closing: self.closing.subscribe(),
            _permit: permit,
        };
        Ok(stream::unfold(stream, StreamState::next))
    }

    /// The event's watched map, watching it first if nobody does yet, and its updates from now
    /// on. Subscribed under the lock its watcher takes to stop when nobody listens, so that a
    /// new stream never holds a map nobody watches.
    async fn watch(
        self: &Arc<Self>,
        event: EventId,
    ) -> Result<(Arc<WatchedMap>, broadcast::Receiver<Update>), GetEventError> {
        if let Some(watched) = lock(&self.watched).get(&event) {
            return Ok((watched.clone(), watched.updates.subscribe()));
        }
        let map = self.events.seats(event).await?;
        let mut all = lock(&self.watched);
        if let Some(watched) = all.get(&event) {
            return Ok((watched.clone(), watched.updates.subscribe()));
        }
        let watched = Arc::new(WatchedMap {
            event,
            state: Mutex::new(MapState {
                version: map.version,
                seats: map.seats,
                snapshot: None,
                history: VecDeque::new(),
            }),
            updates: broadcast::channel(self.settings.backlog.max(1)).0,
            wake: Notify::new(),
        });
        let updates = watched.updates.subscribe();
        all.insert(event, watched.clone());
        // A change signalled while the map was read, before the watcher was listed, would be
        // missed: look once more.
        watched.wake.notify_one();
        tokio::spawn(keep_watching(Arc::downgrade(self), watched.clone()));
        Ok((watched, updates))
    }

    /// Routes the store's signals to the watchers of the maps they name, from the first stream on.
    fn start_dispatching(self: &Arc<Self>) {
        if self.dispatching.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut signals = self.signals.subscribe();
        let feed = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let signal = signals.recv().await;
                let Some(feed) = feed.upgrade() else { return };
                let watched = lock(&feed.watched);
                match signal {
                    Ok(SeatMapSignal::Moved(event)) => {
                        if let Some(map) = watched.get(&event) {
                            map.wake.notify_one();
                        }
                    }
                    // Whatever was missed, each watcher finds by reading its map.
                    Ok(SeatMapSignal::Missed) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        for map in watched.values() {
                            map.wake.notify_one();
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    fn snapshot(&self, state: &mut MapState, event: EventId) -> Message {
        let frame = state
            .snapshot
            .get_or_insert_with(|| {
                let seats = self.renderer.render(event, &state.seats);
                let mut json = Vec::with_capacity(seats.len() + 32);
                json.extend_from_slice(
                    format!("{{\"version\":{},\"seats\":", state.version).as_bytes(),
                );
                json.extend_from_slice(&seats);
                json.push(b'}');
                frame("snapshot", state.version, &json)
            })
            .clone();
        Message::Snapshot {
            version: state.version,
            frame,
        }
    }

    /// Reads the event's map; when its version moved, tells the streams what changed. Unless a
    /// signal said it moved, the version alone is read first (which also expires lapsed holds).
    async fn refresh(&self, watched: &WatchedMap, signalled: bool) -> Result<(), GetEventError> {
        if !signalled {
            let version = self.events.seat_map_version(watched.event).await?;
            if version == lock(&watched.state).version {
                return Ok(());
            }
        }
        let SeatMap { version, seats } = self.events.seats(watched.event).await?;
        let mut state = lock(&watched.state);
        if version <= state.version {
            return Ok(());
        }
        let update = match changed_seats(&state.seats, &seats) {
            Some(changed) => {
                let change = Arc::new(Change::new(state.version, version, &changed));
                state.history.push_back(change.clone());
                while state.history.len() > self.settings.history {
                    state.history.pop_front();
                }
                Update::Changed(change)
            }
            None => {
                state.history.clear();
                Update::Reshaped
            }
        };
        state.version = version;
        state.seats = seats;
        state.snapshot = None;
        // Sent under the state's lock: a stream that reads the state sees every later update.
        let _ = watched.updates.send(update);
        Ok(())
    }
}

/// A watcher: refreshes the map when woken or every `expiry_check`, until its last stream is
/// gone (or the event is).
async fn keep_watching(feed: Weak<SeatFeed>, watched: Arc<WatchedMap>) {
    let Some((expiry_check, batch)) = feed
        .upgrade()
        .map(|feed| (feed.settings.expiry_check, feed.settings.batch))
    else {
        return;
    };
    let mut last_read = tokio::time::Instant::now() - batch;
    loop {
        let signalled = tokio::select! {
            _ = watched.wake.notified() => true,
            _ = tokio::time::sleep(expiry_check) => false,
        };
        // Changes that come close together go out together: the map is read at most once a
        // `batch`, so a fast sale sends each stream a few larger events, not one per booking.
        tokio::time::sleep_until(last_read + batch).await;
        last_read = tokio::time::Instant::now();
        let Some(feed) = feed.upgrade() else { return };
        {
            let mut all = lock(&feed.watched);
            if watched.updates.receiver_count() == 0 {
                all.remove(&watched.event);
                return;
            }
        }
        match feed.refresh(&watched, signalled).await {
            Ok(()) => {}
            Err(GetEventError::NotFound(_)) => {
                lock(&feed.watched).remove(&watched.event);
                let _ = watched.updates.send(Update::Gone);
                return;
            }
            Err(GetEventError::Store(error)) => {
                tracing::warn!(%error, event = watched.event.0, "could not read a watched seat map");
            }
        }
    }
}

/// The changes a client that has seen `seen` missed, when they are all still known.
fn changes_since(state: &MapState, seen: u64) -> Option<Vec<Message>> {
    if seen == state.version {
        return Some(Vec::new());
    }
    let start = state
        .history
        .iter()
        .position(|change| change.since == seen)?;
    Some(
        state
            .history
            .iter()
            .skip(start)
            .map(|change| change.message())
            .collect(),
    )
}

/// The seats whose status differs, in seat order; `None` when the seats themselves differ.
fn changed_seats<'a>(before: &[SeatView], after: &'a [SeatView]) -> Option<Vec<&'a SeatView>> {
    if before.len() != after.len() {
        return None;
    }
    let mut changed = Vec::new();
    for (old, new) in before.iter().zip(after) {
        if old.seat.id != new.seat.id {
            return None;
        }
        if old.status != new.status {
            changed.push(new);
        }
    }
    Some(changed)
}

impl Change {
    fn new(since: u64, version: u64, seats: &[&SeatView]) -> Change {
        let mut json = format!("{{\"version\":{version},\"since\":{since},\"seats\":[");
        for (index, view) in seats.iter().enumerate() {
            if index > 0 {
                json.push(',');
            }
            // Labels and status names are letters and digits: nothing to escape.
            json.push_str(&format!(
                "{{\"id\":{},\"label\":\"{}\",\"status\":\"{}\",\"is_booked\":{}}}",
                view.seat.id.0,
                view.seat.label(),
                view.status.as_str(),
                view.status != SeatStatus::Available
            ));
        }
        json.push_str("]}");
        Change {
            since,
            version,
            frame: frame("seats", version, json.as_bytes()),
        }
    }

    fn message(&self) -> Message {
        Message::Seats {
            version: self.version,
            frame: self.frame.clone(),
        }
    }
}

/// One client's stream: what is left to send, and where it is in the map's versions.
struct StreamState {
    feed: Weak<SeatFeed>,
    watched: Arc<WatchedMap>,
    updates: broadcast::Receiver<Update>,
    pending: VecDeque<Message>,
    sent_up_to: u64,
    closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

impl StreamState {
    async fn next(mut self) -> Option<(Message, StreamState)> {
        loop {
            if let Some(message) = self.pending.pop_front() {
                return Some((message, self));
            }
            let update = tokio::select! {
                update = self.updates.recv() => update,
                _ = self.closing.wait_for(|closing| *closing) => return None,
            };
            match update {
                Ok(Update::Changed(change)) if change.version <= self.sent_up_to => {}
                Ok(Update::Changed(change)) if change.since == self.sent_up_to => {
                    self.sent_up_to = change.version;
                    self.pending.push_back(change.message());
                }
                // A gap (or a stream that fell behind the backlog): start again from the map.
                Ok(Update::Changed(_) | Update::Reshaped)
                | Err(broadcast::error::RecvError::Lagged(_)) => {
                    let feed = self.feed.upgrade()?;
                    let snapshot =
                        feed.snapshot(&mut lock(&self.watched.state), self.watched.event);
                    self.sent_up_to = snapshot.version();
                    self.pending.push_back(snapshot);
                }
                Ok(Update::Gone) | Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics under these locks; a poisoned one still holds consistent data.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::seat::{Seat, SeatId, SeatPosition};

    fn seat(id: i64, status: SeatStatus) -> SeatView {
        SeatView {
            seat: Seat {
                id: SeatId(id),
                position: SeatPosition {
                    row_index: 0,
                    number: id as u32,
                },
            },
            status,
        }
    }

    #[test]
    fn only_seats_whose_status_moved_are_sent() {
        let before = vec![seat(1, SeatStatus::Available), seat(2, SeatStatus::Held)];
        let after = vec![seat(1, SeatStatus::Held), seat(2, SeatStatus::Held)];
        let changed = changed_seats(&before, &after).unwrap();
        let change = Change::new(3, 4, &changed);
        assert_eq!(
            std::str::from_utf8(&change.frame).unwrap(),
            "id: 4\nevent: seats\ndata: {\"version\":4,\"since\":3,\"seats\":[{\"id\":1,\"label\":\"A1\",\"status\":\"held\",\"is_booked\":true}]}\n\n"
        );
    }

    #[test]
    fn seats_added_or_removed_need_a_snapshot() {
        let before = vec![seat(1, SeatStatus::Available)];
        let after = vec![
            seat(1, SeatStatus::Available),
            seat(2, SeatStatus::Available),
        ];
        assert!(changed_seats(&before, &after).is_none());
        assert!(changed_seats(&after, &before).is_none());
    }

    #[test]
    fn a_client_resumes_from_what_it_saw_while_it_is_still_known() {
        let mut state = MapState {
            version: 7,
            seats: Vec::new(),
            snapshot: None,
            history: VecDeque::new(),
        };
        for (since, version) in [(3, 5), (5, 6), (6, 7)] {
            state
                .history
                .push_back(Arc::new(Change::new(since, version, &[])));
        }
        let versions = |messages: Vec<Message>| -> Vec<u64> {
            messages.iter().map(Message::version).collect()
        };
        assert_eq!(versions(changes_since(&state, 5).unwrap()), vec![6, 7]);
        assert_eq!(versions(changes_since(&state, 3).unwrap()), vec![5, 6, 7]);
        assert_eq!(
            versions(changes_since(&state, 7).unwrap()),
            Vec::<u64>::new()
        );
        assert!(
            changes_since(&state, 2).is_none(),
            "forgotten: a snapshot instead"
        );
        assert!(
            changes_since(&state, 4).is_none(),
            "not a version this map had"
        );
    }
}
