//! Consensus messages passed on. A validator passes every consensus
//! message it takes on to the other validators, the first time it sees
//! it, whoever brought it: so a message reaches every validator by every
//! path of links that carry, however many hops, with no wait for anyone to
//! notice a stalled link. A wide-area link stalls now and then (it holds
//! what it carries for seconds without failing it), and when several
//! stall at once the only path left may be two or three hops long; the
//! relay of `relay.rs` (a sender's copy through one other validator, once
//! the sender has seen the link stall) takes a hop more only, and only
//! after its wait. Each node passes a message on once, so a message costs
//! each link at most one copy more from each validator: n - 1 copies
//! reach a validator instead of one. Votes and round changes are a few
//! hundred bytes, and a proposal goes by the names of its transactions;
//! the large ones are not passed on (`p2p::pass_along`).

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::consensus::{Message, MessageType};
use crate::ledger::PublicKey;

/// The most messages remembered as passed on: every validator's four
/// kinds over the rounds of two heights, many times over. Past it nothing
/// more is passed on until the node commits a block.
pub const MAX_REMEMBERED: usize = 4096;

/// A message as remembered: one per validator, kind, height and round (a
/// second one for the same is an equivocation, which the first already
/// shows to every validator).
type Key = (u64, u64, MessageType, PublicKey);

/// The messages passed on, for the heights that can still commit.
#[derive(Debug, Default)]
pub struct Seen {
    keys: Mutex<BTreeSet<Key>>,
}

impl Seen {
    /// Whether `msg` is to be passed on: it is for the height under way or
    /// the next one (this node's head is at `committed`), and it is the
    /// first time this node sees it. Older ones are decided; ones further
    /// ahead are not taken by anyone yet.
    pub fn first_time(&self, msg: &Message, committed: u64) -> bool {
        let h = msg.height();
        if h <= committed || h > committed.saturating_add(2) {
            return false;
        }
        let mut keys = self.keys.lock().expect("passed on");
        // Keys sort by height first: drop the decided heights.
        let live = keys.split_off(&(committed + 1, 0, MessageType::Proposal, PublicKey([0; 32])));
        *keys = live;
        if keys.len() >= MAX_REMEMBERED {
            return false;
        }
        keys.insert((h, msg.round(), msg.kind(), *msg.sender()))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::consensus::SignedVote;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::{Hash32, Signature, Vote, VoteKind};

    /// A PREPARE of validator key `sender`, its signature not made.
    pub fn prepare(height: u64, round: u64, sender: u8) -> Message {
        let vote = Vote {
            kind: VoteKind::Prepare,
            chain_id: Hash32([1; 32]),
            height,
            round,
            block_hash: Hash32([7; 32]),
        };
        Message::Prepare(SignedVote {
            vote,
            sender: key(sender).public(),
            signature: Signature([0; 64]),
        })
    }

    #[test]
    fn a_message_is_passed_on_once_for_the_height_under_way_or_the_next() {
        let seen = Seen::default();
        assert!(seen.first_time(&prepare(5, 0, 1), 4));
        assert!(!seen.first_time(&prepare(5, 0, 1), 4));
        // Another sender, round or height is another message.
        assert!(seen.first_time(&prepare(5, 0, 2), 4));
        assert!(seen.first_time(&prepare(5, 1, 1), 4));
        assert!(seen.first_time(&prepare(6, 0, 1), 4));
        // Decided, or not yet taken by anyone.
        assert!(!seen.first_time(&prepare(4, 0, 3), 4));
        assert!(!seen.first_time(&prepare(7, 0, 3), 4));
    }

    #[test]
    fn decided_heights_are_forgotten_and_memory_is_bounded() {
        let seen = Seen::default();
        assert!(seen.first_time(&prepare(5, 0, 1), 4));
        assert!(seen.first_time(&prepare(6, 0, 1), 5));
        assert_eq!(seen.keys.lock().unwrap().len(), 1);
        // Rounds without end from one validator fill it up, then nothing
        // more is passed on until a block commits.
        let mut passed = 0;
        for round in 0..(MAX_REMEMBERED as u64 + 10) {
            passed += usize::from(seen.first_time(&prepare(7, round, 2), 6));
        }
        assert_eq!(passed, MAX_REMEMBERED);
        assert!(!seen.first_time(&prepare(7, 0, 3), 6));
        assert!(seen.first_time(&prepare(8, 0, 3), 7));
    }
}
