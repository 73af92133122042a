//! Where time comes from: the system clock when deployed, a controlled one in tests.

use chrono::{DateTime, Utc};

/// Where time comes from (the system clock when deployed; a controlled one in tests).
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
