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

/// Round timeout for round `r`: round_timeout_ms × 2^r, capped.
pub fn round_timeout(base_ms: u64, round: u64) -> u64 {
    let factor = 1u64.checked_shl(round.min(63) as u32).unwrap_or(u64::MAX);
    base_ms.saturating_mul(factor).min(MAX_ROUND_TIMEOUT_MS)
}
