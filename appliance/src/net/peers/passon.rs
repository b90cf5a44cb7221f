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
//!
//! Ballots too: a validator passes what it takes first from a peer's
//! gossip on to the proposers of the height under way and of the next
//! ([`gossip_targets`]), so that a ballot reaches the proposer that will
//! put it in a block by every validator, not only by its own node's link,
//! which may be stalled for seconds before its sender notices (its request
//! is overdue only after about a block). Two proposers, because a ballot
//! that comes as a height's proposal goes out is the next one's. The
//! copies cost each link between validators about half a ballot a vote,
//! and a proposer takes one it holds already as a known transaction (its
//! signature is not checked again).

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::consensus::{Message, MessageType};
use crate::ledger::{Genesis, PublicKey};

/// Where a validator passes on the transactions of a peer's gossip.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GossipTargets {
    /// Asked for by the request (`relay_to`, or `relay` for everyone):
    /// every transaction of it that holds.
    pub asked: Vec<PublicKey>,
    /// The proposers to come, but those above: what this node took first.
    pub proposers: Vec<PublicKey>,
}

/// Where node `me`, at `round` of the height after `committed`, passes on
/// a gossip request from `sender` that asks for `relay_to`, or for
/// everyone: never back to its sender or to itself, and to the proposers
/// only if `me` is a validator.
pub fn gossip_targets(
    genesis: &Genesis,
    (committed, round): (u64, u64),
    me: &PublicKey,
    sender: Option<&PublicKey>,
    (relay_to, everyone): (Option<PublicKey>, bool),
) -> GossipTargets {
    let elsewhere = |k: &PublicKey| k != me && Some(k) != sender;
    let mut asked: Vec<PublicKey> = match (relay_to, everyone) {
        (Some(to), _) => vec![to],
        (None, true) => genesis.validators.iter().map(|v| v.public_key).collect(),
        (None, false) => Vec::new(),
    };
    asked.retain(elsewhere);
    let mut proposers = Vec::new();
    if genesis.is_validator(me) {
        proposers = vec![
            *genesis.proposer(committed + 1, round),
            *genesis.proposer(committed + 2, 0),
        ];
        proposers.dedup();
        proposers.retain(|k| elsewhere(k) && !asked.contains(k));
    }
    GossipTargets { asked, proposers }
}

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
    use crate::ledger::genesis::fixtures::genesis;
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
    fn gossip_goes_to_the_next_two_proposers_or_where_asked_never_back() {
        let g = genesis(4);
        let v = |i: usize| g.validators[i].public_key;
        // Height 6 at round 0 is validator 2's (6 mod 4), height 7 validator 3's.
        let t = gossip_targets(&g, (5, 0), &v(0), Some(&v(1)), (None, false));
        assert_eq!(
            t,
            GossipTargets {
                asked: vec![],
                proposers: vec![v(2), v(3)]
            }
        );
        // At round 1, height 6 is validator 3's: and height 7's too.
        let t = gossip_targets(&g, (5, 1), &v(0), Some(&v(1)), (None, false));
        assert_eq!(t.proposers, vec![v(3)]);
        // Neither to itself nor back to its sender.
        let t = gossip_targets(&g, (5, 0), &v(2), Some(&v(3)), (None, false));
        assert_eq!(t.proposers, Vec::<PublicKey>::new());
        // Asked for one: all of it there, and to the other proposer what
        // it took first.
        let t = gossip_targets(&g, (5, 0), &v(0), Some(&v(1)), (Some(v(2)), false));
        assert_eq!(
            t,
            GossipTargets {
                asked: vec![v(2)],
                proposers: vec![v(3)]
            }
        );
        // Asked for everyone: every validator but itself and the sender.
        let t = gossip_targets(&g, (5, 0), &v(0), Some(&v(1)), (None, true));
        assert_eq!(
            t,
            GossipTargets {
                asked: vec![v(2), v(3)],
                proposers: vec![]
            }
        );
        // A station passes nothing on of itself.
        let station = key(99).public();
        let t = gossip_targets(&g, (5, 0), &station, Some(&v(1)), (None, false));
        assert_eq!(t, GossipTargets::default());
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
