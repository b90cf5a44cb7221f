//! What the node thread publishes for the HTTP handlers: a snapshot of its
//! state and counters.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ledger::Hash32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Validator,
    Station,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Validator => "validator",
            Role::Station => "station",
        }
    }
}

/// Why a node is in fallback mode: its ballots go to its own fallback
/// chain instead of the mempool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackReason {
    /// Started with `--offline`.
    Offline,
    /// Fewer than a quorum of validators answer (this node counts itself
    /// when it is one).
    Unreachable {
        reachable: usize,
        validators: usize,
        quorum: usize,
    },
    /// A quorum answers, yet ballots waiting since `since_ms` saw no block
    /// commit for `after_ms`; it ends with the next commit.
    Stalled { since_ms: u64, after_ms: u64 },
}

impl std::fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Offline => f.write_str("offline by configuration"),
            Self::Unreachable {
                reachable,
                validators,
                quorum,
            } => write!(
                f,
                "{reachable} of {validators} validators reachable, {quorum} needed"
            ),
            Self::Stalled { after_ms, .. } => write!(
                f,
                "ballots waited {} s without a block committing, though a quorum answers",
                after_ms / 1000
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    pub role: Role,
    pub height: u64,
    pub head_hash: Hash32,
    pub head_timestamp_ms: u64,
    /// The highest height that Q validators are known to hold.
    pub finalized_height: u64,
    pub round: u64,
    pub mempool: u64,
    pub last_commit_ms: u64,
    /// Why the node is in fallback mode, when it is.
    pub fallback: Option<FallbackReason>,
    /// This database's fallback ballots by state.
    pub fallback_counts: crate::store::FallbackCounts,
}

/// Counters for /metrics, written by the node thread and the handlers.
#[derive(Debug, Default)]
pub struct Counters {
    pub votes_accepted: AtomicU64,
    pub votes_committed: AtomicU64,
    pub blocks_committed: AtomicU64,
    pub txs_rejected: AtomicU64,
    pub round_changes: AtomicU64,
    pub equivocations: AtomicU64,
    pub submit_busy: AtomicU64,
    /// Transactions of peers' gossip refused by their checks.
    pub gossip_refused: AtomicU64,
    /// Times the node entered fallback mode.
    pub fallback_entries: AtomicU64,
    pub fallback_sealed: AtomicU64,
    pub fallback_confirmed: AtomicU64,
    pub fallback_conflicts: AtomicU64,
    pub commit_latency: Histogram,
    /// Consensus messages dropped, by reason.
    pub dropped: RwLock<BTreeMap<&'static str, u64>>,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Bucket bounds of the commit latency histogram, in milliseconds.
pub const LATENCY_BUCKETS_MS: [u64; 10] = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

/// A Prometheus-style cumulative histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len()],
    count: AtomicU64,
    sum_ms: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, ms: u64) {
        for (b, bound) in self.buckets.iter().zip(LATENCY_BUCKETS_MS) {
            if ms <= bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// (upper bound, cumulative count) per bucket, then count and sum.
    pub fn snapshot(&self) -> (Vec<(u64, u64)>, u64, u64) {
        let buckets = LATENCY_BUCKETS_MS
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect();
        (
            buckets,
            self.count.load(Ordering::Relaxed),
            self.sum_ms.load(Ordering::Relaxed),
        )
    }
}
