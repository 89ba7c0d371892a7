//! The throttles' windows in this process's memory: the memory store's, and every process's own
//! when there is no shared store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use application::ports::{RateCounter, StoreError, WindowCount};

/// Keys kept before the ended windows are swept out, so that a flood of new keys (addresses,
/// accounts) cannot grow memory without bound.
const MAX_KEYS: usize = 200_000;

struct Window {
    started: Instant,
    length: Duration,
    count: u32,
}

impl Window {
    fn is_open(&self, now: Instant) -> bool {
        now.duration_since(self.started) < self.length
    }

    fn count(&self, now: Instant) -> WindowCount {
        WindowCount {
            count: self.count,
            ends_in: self.length.saturating_sub(now.duration_since(self.started)),
        }
    }
}

/// Fixed windows per key, in memory.
#[derive(Default)]
pub struct InProcessRateCounter {
    windows: Mutex<HashMap<String, Window>>,
}

impl InProcessRateCounter {
    pub fn new() -> Self {
        InProcessRateCounter::default()
    }
}

#[async_trait]
impl RateCounter for InProcessRateCounter {
    async fn hit(&self, key: &str, window: Duration) -> Result<WindowCount, StoreError> {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .map_err(|_| StoreError::Unexpected("the rate windows' lock is poisoned".into()))?;
        if windows.len() >= MAX_KEYS && !windows.contains_key(key) {
            windows.retain(|_, window| window.is_open(now));
        }
        let entry = windows.entry(key.to_string()).or_insert(Window {
            started: now,
            length: window,
            count: 0,
        });
        if !entry.is_open(now) {
            *entry = Window {
                started: now,
                length: window,
                count: 0,
            };
        }
        entry.count = entry.count.saturating_add(1);
        Ok(entry.count(now))
    }

    async fn peek(&self, key: &str, _window: Duration) -> Result<WindowCount, StoreError> {
        let now = Instant::now();
        let windows = self
            .windows
            .lock()
            .map_err(|_| StoreError::Unexpected("the rate windows' lock is poisoned".into()))?;
        Ok(windows
            .get(key)
            .filter(|window| window.is_open(now))
            .map_or(WindowCount::NONE, |window| window.count(now)))
    }

    async fn forget_ended(&self, _older_than: Duration) -> Result<u64, StoreError> {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .map_err(|_| StoreError::Unexpected("the rate windows' lock is poisoned".into()))?;
        let before = windows.len();
        windows.retain(|_, window| window.is_open(now));
        Ok((before - windows.len()) as u64)
    }
}
