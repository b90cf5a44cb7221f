//! `evote-bench`: the load generator, the chaos soak and the wide-area
//! runs. Each starts its own local testnet (or targets `--nodes`), sends
//! traffic only to loopback addresses it was given, and stops by itself.

pub mod board;
pub mod bound;
pub mod chaos;
pub mod credentials;
pub mod flood;
pub mod growth;
pub mod load;
pub mod stats;
pub mod wan;
pub mod watch;

/// Whether the run's testnet is to be kept for a look
/// (`EVOTE_BENCH_KEEP`, README), whatever its outcome.
pub fn keep_asked() -> bool {
    std::env::var_os("EVOTE_BENCH_KEEP").is_some()
}
