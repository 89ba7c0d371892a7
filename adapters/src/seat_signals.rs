//! How a process hears that a seat map moved, whichever process moved it: the memory store says
//! so under its lock, the PostgreSQL store relays the database's notifications, sent in the
//! transaction of the change (so that a rolled-back change says nothing). The live seat map
//! (`http::seat_feed`) listens; a signal says only which map moved, and the feed reads the map.

use std::sync::Arc;

use tokio::sync::broadcast;

use domain::event::EventId;

/// What a store tells its listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatMapSignal {
    /// The event's seat map has a new version, committed.
    Moved(EventId),
    /// Signals may have been lost (the store's listener reconnected): any map may have moved.
    Missed,
}

/// Where the signals of one process's store are heard.
pub trait SeatMapSignals: Send + Sync {
    /// Signals from now on. A receiver that falls behind by more than the bus holds is told
    /// `Lagged`, which means the same as [`SeatMapSignal::Missed`].
    fn subscribe(&self) -> broadcast::Receiver<SeatMapSignal>;
}

/// How many signals a slow listener may fall behind by before it must re-read every map.
const BUS_CAPACITY: usize = 1024;

/// The signals of one process, sent by whoever hears of a change.
#[derive(Debug, Clone)]
pub struct SignalBus {
    sender: broadcast::Sender<SeatMapSignal>,
}

impl Default for SignalBus {
    fn default() -> Self {
        SignalBus {
            sender: broadcast::channel(BUS_CAPACITY).0,
        }
    }
}

impl SignalBus {
    pub fn send(&self, signal: SeatMapSignal) {
        // No listener is not an error: nobody watches a map.
        let _ = self.sender.send(signal);
    }
}

impl SeatMapSignals for SignalBus {
    fn subscribe(&self) -> broadcast::Receiver<SeatMapSignal> {
        self.sender.subscribe()
    }
}

impl<S: SeatMapSignals + ?Sized> SeatMapSignals for Arc<S> {
    fn subscribe(&self) -> broadcast::Receiver<SeatMapSignal> {
        (**self).subscribe()
    }
}
