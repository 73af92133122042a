//! A clock tests set and advance.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ports::clock::Clock;

/// A clock that stands still, or moves by `step` each time it is read (so that work that reads
/// it takes time); clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
    step: Duration,
}

impl ManualClock {
    /// A clock at `now` that moves only when advanced.
    pub fn at(now: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(now)),
            step: Duration::ZERO,
        }
    }

    /// This clock, moving by `step` after each reading.
    pub fn stepping(self, step: Duration) -> Self {
        ManualClock { step, ..self }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let now = *self.now.lock().unwrap_or_else(PoisonError::into_inner);
        self.advance(self.step);
        now
    }
}
