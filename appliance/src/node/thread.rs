//! The appliance's node thread: it sleeps until a request comes or the
//! driver's next wake-up, gathers what else waits into a batch, and steps
//! the driver.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::store::NodeStore;
use super::{Driver, MAX_BATCH, Network, Request};
use crate::clock::Clock;

pub(super) fn run<S: NodeStore, N: Network, C: Clock>(
    mut driver: Driver<S, N, C>,
    rx: Receiver<Request>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        let sleep = driver.next_wake().saturating_sub(driver.now_ms());
        let mut batch = Vec::new();
        match rx.recv_timeout(Duration::from_millis(sleep)) {
            Ok(r) => batch.push(r),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        gather(&driver, &rx, &mut batch);
        driver.step(batch);
        #[cfg(debug_assertions)]
        super::fault::node_thread_at(driver.status_cell().read().expect("status").height);
    }
}

/// Adds what else waits to `batch`, waiting as long as the driver wants a
/// batch of submissions to linger ([`Driver::linger`]).
fn gather<S: NodeStore, N: Network, C: Clock>(
    driver: &Driver<S, N, C>,
    rx: &Receiver<Request>,
    batch: &mut Vec<Request>,
) {
    let mut until: Option<Instant> = None;
    while batch.len() < MAX_BATCH {
        if until.is_none() {
            until = driver.linger(batch).map(|d| Instant::now() + d);
        }
        let next = match until.map(|u| u.saturating_duration_since(Instant::now())) {
            Some(wait) if !wait.is_zero() => rx.recv_timeout(wait).ok(),
            _ => rx.try_recv().ok(),
        };
        match next {
            Some(r) => batch.push(r),
            None => break,
        }
    }
}
