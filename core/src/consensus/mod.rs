//! QBFT-style consensus as a pure state machine (no IO, no clock, no OS
//! randomness): the driver feeds it ticks, messages and new heads with the
//! current time, and carries out the [`Action`]s it returns, in order.
//!
//! The rules are in ../shared/qbft.md and schema/PROTOCOL.md.

mod core;
mod journal;
mod messages;
mod round;

#[cfg(test)]
mod tests;

pub use self::core::{ChainView, Core, Metrics, Status};
pub use journal::{BlockRef, Journal, JournalRecord, Locked, LockedRecord, SentRecord};
pub use messages::{
    Justification, Message, MessageType, Proposal, RoundChange, RoundChangeStatement,
    RoundChangeType, SignedRoundChange, SignedVote, check_certificate,
};

use crate::ledger::{Block, PublicKey};

/// Round timers double each round up to this cap (Besu's uncapped doubling
/// left networks waiting for hours, besu#7642).
pub const MAX_ROUND_TIMEOUT_MS: u64 = 60_000;
/// Messages buffered for future heights (Besu: 1000).
pub const MAX_FUTURE_MESSAGES: usize = 1_000;
/// How many heights ahead a message may be buffered (Besu: 10).
pub const MAX_FUTURE_HEIGHTS: u64 = 10;
/// How many rounds ahead of the current one a message is kept.
pub const MAX_FUTURE_ROUNDS: u64 = 64;
/// Equivocation evidence kept in memory; past it, only counted.
pub const MAX_EVIDENCE: usize = 256;

/// What the driver must do, in order. A `Persist` always comes before the
/// `Broadcast` it protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Make the journal durable before going on.
    Persist(Box<Journal>),
    /// Send to every other validator.
    Broadcast(Box<Message>),
    /// This validator proposes at (height, round): call [`Core::propose`]
    /// with transactions from the mempool.
    RequestProposal { height: u64, round: u64 },
    /// The block is decided with these seals: store it, then call
    /// [`Core::on_new_head`].
    Commit(Box<Block>),
    /// A round change happened; for the log and the metrics.
    RoundChanged(RoundSummary),
    /// A validator signed two different messages of one type for one
    /// (height, round).
    Equivocation(Box<Equivocation>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundChangeReason {
    /// The round timer expired.
    Timeout,
    /// f+1 validators were already in higher rounds.
    Jump,
    /// A justified proposal for a higher round arrived.
    Proposal,
}

impl RoundChangeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Jump => "f+1 validators in higher rounds",
            Self::Proposal => "justified proposal for a higher round",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundSummary {
    pub height: u64,
    pub from_round: u64,
    pub to_round: u64,
    pub reason: RoundChangeReason,
    /// The highest round each validator was last seen in at this height.
    pub validator_rounds: Vec<(PublicKey, Option<u64>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    pub first: Message,
    pub second: Message,
}

/// The adaptive round timeout (ARCHITECTURE.md, "Round timeouts"): round
/// 0 may take this many round trips to the validator that completes this
/// node's quorum...
pub const TIMEOUT_ROUND_TRIPS: u64 = 4;
/// ...or this many times the median time the last heights took from the
/// start of round 0 to their decision there...
pub const TIMEOUT_HEIGHT_FACTOR: u64 = 2;
/// ...over this many heights...
pub const HEIGHTS_TIMED: usize = 8;
/// ...never less than the genesis' `round_timeout_ms`, and never more than
/// this (or the genesis' value, if that is larger).
pub const MAX_ADAPTIVE_TIMEOUT_MS: u64 = 10_000;

/// The base round timeout (round 0's; round r waits 2^r times as long):
/// `round_timeout_ms` raised to what the network needs,
/// max(TIMEOUT_ROUND_TRIPS × `quorum_rtt_ms`, TIMEOUT_HEIGHT_FACTOR ×
/// `recent_height_ms`), within [`round_timeout_ms`,
/// max(`round_timeout_ms`, [`MAX_ADAPTIVE_TIMEOUT_MS`])]. The bounds are
/// the same on every validator; the measurements are each validator's own.
pub fn adaptive_base_timeout(
    round_timeout_ms: u64,
    quorum_rtt_ms: Option<u64>,
    recent_height_ms: Option<u64>,
) -> u64 {
    let by_rtt = quorum_rtt_ms
        .unwrap_or(0)
        .saturating_mul(TIMEOUT_ROUND_TRIPS);
    let by_heights = recent_height_ms
        .unwrap_or(0)
        .saturating_mul(TIMEOUT_HEIGHT_FACTOR);
    let most = round_timeout_ms.max(MAX_ADAPTIVE_TIMEOUT_MS);
    by_rtt.max(by_heights).clamp(round_timeout_ms, most)
}

/// The largest base round timeout a validator may choose.
pub fn max_base_timeout(round_timeout_ms: u64) -> u64 {
    round_timeout_ms.max(MAX_ADAPTIVE_TIMEOUT_MS)
}

/// Round timeout for round `r`: base × 2^r, capped.
pub fn round_timeout(base_ms: u64, round: u64) -> u64 {
    let factor = 1u64.checked_shl(round.min(63) as u32).unwrap_or(u64::MAX);
    base_ms.saturating_mul(factor).min(MAX_ROUND_TIMEOUT_MS)
}
