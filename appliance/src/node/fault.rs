//! Fault injection for the attack tests, in debug builds only (compiled
//! out of release builds): `EVOTE_FAULT_NODE_PANIC_AT_HEIGHT=N` makes the
//! node thread panic once its head reaches height N, so that a test can
//! check that a dead node thread ends the process instead of leaving it
//! answering 503 for ever.

use std::sync::OnceLock;

/// The variable the tests set.
pub const NODE_PANIC_AT_HEIGHT: &str = "EVOTE_FAULT_NODE_PANIC_AT_HEIGHT";

/// Panics if the injected fault is due at `height`.
pub fn node_thread_at(height: u64) {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var(NODE_PANIC_AT_HEIGHT).ok()?.parse().ok());
    if at.is_some_and(|at| height >= at) {
        panic!("injected fault: the node thread panics at height {height}");
    }
}
