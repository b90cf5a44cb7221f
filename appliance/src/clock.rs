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

/// In debug builds only (the end-to-end tests'), this process's wall
/// clock runs this many milliseconds ahead when the variable is set: a
/// test lets an election's window pass without waiting for it. Release
/// builds do not read it.
pub const TEST_CLOCK_AHEAD: &str = "EVOTE_TEST_CLOCK_AHEAD_MS";

/// Milliseconds since the Unix epoch, by the wall clock.
pub fn now_ms() -> u64 {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    wall + test_clock_ahead_ms()
}

#[cfg(debug_assertions)]
fn test_clock_ahead_ms() -> u64 {
    static AHEAD: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *AHEAD.get_or_init(|| {
        let set = std::env::var(TEST_CLOCK_AHEAD).ok();
        set.and_then(|v| v.parse().ok()).unwrap_or(0)
    })
}

#[cfg(not(debug_assertions))]
fn test_clock_ahead_ms() -> u64 {
    0
}
