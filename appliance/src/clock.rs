//! Time for the drivers. The ledger and consensus cores never read a
//! clock: they receive the time as an argument. The node's driver reads it
//! through a [`Clock`], so that the simulator can run it on virtual time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as some clock tells them.
pub trait Clock {
    fn now_ms(&self) -> u64;
}

/// The machine's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now_ms(&self) -> u64 {
        now_ms()
    }
}

/// Milliseconds since the Unix epoch, by the wall clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
