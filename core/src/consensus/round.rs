//! The messages of one round of the current height, one per validator per
//! type.

use std::collections::BTreeMap;

use super::messages::{Proposal, RoundChange, SignedVote};
use crate::ledger::{Hash32, PublicKey};

#[derive(Debug, Default)]
pub(super) struct RoundState {
    /// The proposal accepted for this round (at most one).
    pub proposal: Option<Proposal>,
    pub prepares: BTreeMap<PublicKey, SignedVote>,
    pub commits: BTreeMap<PublicKey, SignedVote>,
    pub round_changes: BTreeMap<PublicKey, RoundChange>,
}

impl RoundState {
    pub fn proposal_hash(&self) -> Option<Hash32> {
        self.proposal.as_ref().map(|p| p.block.block_hash)
    }

    pub fn votes_for<'a>(
        votes: &'a BTreeMap<PublicKey, SignedVote>,
        hash: &'a Hash32,
    ) -> impl Iterator<Item = &'a SignedVote> + 'a {
        votes.values().filter(move |v| &v.vote.block_hash == hash)
    }
}

/// Where a new message went among those already held.
pub(super) enum Slot {
    New,
    Duplicate,
    Conflict,
}

pub(super) fn slot_for<T: PartialEq>(existing: Option<&T>, new: &T) -> Slot {
    match existing {
        None => Slot::New,
        Some(e) if e == new => Slot::Duplicate,
        Some(_) => Slot::Conflict,
    }
}
