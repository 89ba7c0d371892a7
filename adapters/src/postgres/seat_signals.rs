//! The database's `seat_maps` notifications (sent by a trigger in the transaction that moves a
//! map), relayed to this process's listeners over one connection: one listener per process,
//! however many clients watch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::broadcast;

use domain::event::EventId;

use crate::seat_signals::{SeatMapSignal, SeatMapSignals, SignalBus};

/// The channel the trigger `seat_map_moved` notifies, with the event's id as the payload.
const CHANNEL: &str = "seat_maps";

/// How long to wait before connecting again after the listener's connection failed.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Relays the database's seat-map notifications; the connection is opened when the first
/// listener subscribes, and opened again whenever it drops (its listeners are then told that
/// signals may have been missed).
pub struct PostgresSeatSignals {
    pool: PgPool,
    bus: SignalBus,
    relaying: AtomicBool,
}

impl PostgresSeatSignals {
    pub fn new(pool: PgPool) -> Self {
        PostgresSeatSignals {
            pool,
            bus: SignalBus::default(),
            relaying: AtomicBool::new(false),
        }
    }
}

impl SeatMapSignals for PostgresSeatSignals {
    fn subscribe(&self) -> broadcast::Receiver<SeatMapSignal> {
        let receiver = self.bus.subscribe();
        if !self.relaying.swap(true, Ordering::AcqRel) {
            tokio::spawn(relay(self.pool.clone(), self.bus.clone()));
        }
        receiver
    }
}

async fn relay(pool: PgPool, bus: SignalBus) {
    loop {
        match listen(&pool, &bus).await {
            Ok(()) => return,
            // Once listening again, `listen` tells the listeners that signals were missed.
            Err(error) => {
                tracing::warn!(%error, "the seat-map listener lost the database; connecting again");
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        }
    }
}

/// Relays notifications until the pool closes (`Ok`) or the connection fails for good (`Err`).
async fn listen(pool: &PgPool, bus: &SignalBus) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    // Whatever moved while no connection listened is unknown.
    bus.send(SeatMapSignal::Missed);
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match notification.payload().parse::<i64>() {
                Ok(id) => bus.send(SeatMapSignal::Moved(EventId(id))),
                Err(_) => tracing::warn!(
                    payload = notification.payload(),
                    "a seat-map notification that names no event"
                ),
            },
            // The connection dropped and was opened again: notifications may have been lost.
            Ok(None) => bus.send(SeatMapSignal::Missed),
            Err(sqlx::Error::PoolClosed) => return Ok(()),
            Err(error) => return Err(error),
        }
    }
}
