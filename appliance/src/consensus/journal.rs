//! What a validator must remember across a crash so that it never sends a
//! message that conflicts with one it may already have sent.

use serde::{Deserialize, Serialize};

use super::messages::{Message, SignedVote};
use crate::ledger::Block;

/// A prepared (locked) block: Q PREPAREs were seen for it at `round`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    pub round: u64,
    pub block: Block,
    pub certificate: Vec<SignedVote>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub height: u64,
    pub round: u64,
    pub locked: Option<Locked>,
    /// Every message this validator sent in `round`.
    pub sent: Vec<Message>,
}
