//! The embedded in-memory store: the default when no database is configured, and the fast
//! store for tests.
//!
//! It keeps every guarantee the PostgreSQL store keeps. All state sits behind one
//! `std::sync::Mutex`, taken by each call for the whole of its decision and never held across an
//! await (no call awaits anything), so every command is atomic and calls are serialised. The
//! decisions themselves come from the domain; this module only builds snapshots for it and writes
//! back what it decided, keeping derived figures (who holds which seat, phase sales, tickets per
//! customer, dashboard totals) up to date incrementally so that hot paths stay cheap.
//!
//! Lapsed holds are expired lazily at the start of every call that reads or decides as of a
//! `now`, using an index ordered by expiry, so a call touches only the holds that have lapsed.

mod audit;
mod bookings;
mod events;
mod idempotency;
mod rate_counter;

pub use rate_counter::InProcessRateCounter;
mod notifications;
mod state;
mod users;

#[cfg(test)]
mod tests;

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

use application::ports::{CodeGenerator, StoreError};
use domain::Timestamp;

use crate::seat_signals::{SeatMapSignal, SignalBus};
use state::State;

/// The embedded store; implements the user, event and booking repositories, the audit log and
/// the idempotency keys.
pub struct MemoryStore {
    state: Mutex<State>,
    codes: Arc<dyn CodeGenerator>,
    keys: idempotency::Keys,
    seat_signals: SignalBus,
}

impl MemoryStore {
    pub fn new(codes: Arc<dyn CodeGenerator>) -> MemoryStore {
        MemoryStore {
            state: Mutex::new(State::default()),
            codes,
            keys: idempotency::Keys::default(),
            seat_signals: SignalBus::default(),
        }
    }

    /// Where this store says which seat maps moved.
    pub fn seat_signals(&self) -> SignalBus {
        self.seat_signals.clone()
    }

    /// The state, locked for one command.
    fn locked(&self) -> Result<Locked<'_>, StoreError> {
        // A panic under the lock may have left the state half-written; refuse rather than guess.
        let state = self.state.lock().map_err(|_| {
            StoreError::Unexpected(
                "the memory store is unusable after a command panicked while holding it".into(),
            )
        })?;
        Ok(Locked {
            state,
            seat_signals: &self.seat_signals,
        })
    }

    /// The state, locked for one command that reads or decides as of `now`, with every hold
    /// that has lapsed by then already expired.
    fn locked_at(&self, now: Timestamp) -> Result<Locked<'_>, StoreError> {
        let mut state = self.locked()?;
        state.expire_lapsed(now);
        Ok(state)
    }
}

/// The state locked for one command. When the command lets go, the seat maps it moved are told,
/// still under the lock, so that signals go out in the order of the versions they announce.
struct Locked<'a> {
    state: MutexGuard<'a, State>,
    seat_signals: &'a SignalBus,
}

impl Deref for Locked<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.state
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.state
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let mut moved = std::mem::take(&mut self.state.moved_seat_maps);
        moved.sort_unstable();
        moved.dedup();
        for event in moved {
            self.seat_signals.send(SeatMapSignal::Moved(event));
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}
