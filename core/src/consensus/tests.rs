//! Unit tests of the core over a tiny in-memory network with instant,
//! lossless delivery (the seeded simulator in tests/ covers faults).

use std::collections::VecDeque;
use std::sync::Arc;

use super::*;
use crate::ledger::crypto::test_keys::key;
use crate::ledger::genesis::fixtures::genesis;
use crate::ledger::tx::fixtures::ballot;
use crate::ledger::{Genesis, LedgerError, Parent, SignedTx, Vote, VoteKind};

struct AnyContents;
impl ChainView for AnyContents {
    fn check_contents(&self, _: &Block, _: &[crate::ledger::Hash32]) -> Result<(), LedgerError> {
        Ok(())
    }
}

struct Net {
    g: Arc<Genesis>,
    cores: Vec<Option<Core>>,
    committed: Vec<Vec<Block>>,
    journals: Vec<Option<Journal>>,
    inbox: VecDeque<(usize, Message)>,
    now: u64,
    pending: Vec<SignedTx>,
    sent_log: Vec<Vec<Message>>,
}

/// The head of an empty chain: the genesis.
fn genesis_head(g: &Genesis) -> Parent {
    Parent {
        height: 0,
        hash: g.chain_id().unwrap(),
        timestamp_ms: g.created_at_ms,
    }
}

/// Validator `i`'s core (key `i`), new at the genesis at 10 000 ms.
fn fresh_core(g: &Arc<Genesis>, i: u8) -> Core {
    let id = g.chain_id().unwrap();
    Core::new(
        g.clone(),
        id,
        Arc::new(key(i)),
        genesis_head(g),
        10_000,
        None,
    )
    .unwrap()
}

impl Net {
    /// Validator `i` as it starts again from `journal` on an empty chain.
    fn restarted(&self, i: usize, journal: &Journal) -> Core {
        let key = Arc::new(key(i as u8 + 1));
        let head = genesis_head(&self.g);
        let id = self.g.chain_id().unwrap();
        Core::new(
            self.g.clone(),
            id,
            key,
            head,
            self.now,
            Some(journal.clone()),
        )
        .unwrap()
    }

    fn new(n: u8) -> Self {
        Self::with_genesis(genesis(n))
    }

    /// Three validators with a ballot waiting, validators 1 and 2 down:
    /// validator 0 alone, short of a quorum.
    fn alone_of_three() -> Self {
        let mut net = Self::new(3);
        net.pending = vec![ballot(&net.g, 1, 1, 1)];
        net.cores[1] = None;
        net.cores[2] = None;
        net
    }

    fn with_genesis(g: Genesis) -> Self {
        let n = g.validators.len() as u8;
        let g = Arc::new(g);
        let cores = (1..=n).map(|i| Some(fresh_core(&g, i))).collect();
        Self {
            g,
            cores,
            committed: vec![Vec::new(); n as usize],
            journals: vec![None; n as usize],
            inbox: VecDeque::new(),
            now: 10_000,
            pending: vec![],
            sent_log: vec![Vec::new(); n as usize],
        }
    }

    fn apply(&mut self, i: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Persist(j) => self.journals[i] = Some(*j),
                Action::Broadcast(m) => {
                    self.sent_log[i].push((*m).clone());
                    for k in 0..self.cores.len() {
                        if k != i {
                            self.inbox.push_back((k, (*m).clone()));
                        }
                    }
                }
                Action::RequestProposal { height, round } => {
                    let txs = self.pending.clone();
                    let now = self.now;
                    let out = self.cores[i]
                        .as_mut()
                        .unwrap()
                        .propose(height, round, txs, now);
                    self.apply(i, out);
                }
                Action::Commit(b) => {
                    let head = Parent {
                        height: b.header.height,
                        hash: b.block_hash,
                        timestamp_ms: b.header.timestamp_ms,
                    };
                    self.committed[i].push(*b);
                    let now = self.now;
                    let out = self.cores[i]
                        .as_mut()
                        .unwrap()
                        .on_new_head(head, now, &AnyContents);
                    self.apply(i, out);
                }
                Action::RoundChanged(_) | Action::Equivocation(_) => {}
            }
        }
    }

    fn deliver_all(&mut self) {
        while let Some((k, m)) = self.inbox.pop_front() {
            let now = self.now;
            if let Some(c) = self.cores[k].as_mut() {
                let out = c.handle(m, now, &AnyContents);
                self.apply(k, out);
            }
        }
    }

    fn tick_all(&mut self, ms: u64) {
        self.now += ms;
        for i in 0..self.cores.len() {
            let now = self.now;
            let pending = self.pending.len() as u64;
            if let Some(c) = self.cores[i].as_mut() {
                let out = c.tick(now, pending);
                self.apply(i, out);
            }
        }
        self.deliver_all();
    }

    fn run_until(&mut self, node: usize, height: usize, max_ms: u64) {
        let stop = self.now + max_ms;
        while self.committed[node].len() < height && self.now < stop {
            self.tick_all(100);
        }
        assert!(
            self.committed[node].len() >= height,
            "node {node} reached height {height}"
        );
    }

    fn assert_agree(&self) {
        for a in &self.committed {
            for b in &self.committed {
                for (x, y) in a.iter().zip(b) {
                    assert_eq!(x.block_hash, y.block_hash);
                }
            }
        }
        for blocks in &self.committed {
            for b in blocks {
                crate::ledger::validate::check_seals(&self.g, b, &b.seals).unwrap();
            }
        }
    }
}

#[test]
fn timeout_doubles_and_is_capped() {
    assert_eq!(round_timeout(2_000, 0), 2_000);
    assert_eq!(round_timeout(2_000, 3), 16_000);
    assert_eq!(round_timeout(2_000, 10), MAX_ROUND_TIMEOUT_MS);
    assert_eq!(round_timeout(2_000, u64::MAX), MAX_ROUND_TIMEOUT_MS);
}

#[test]
fn single_validator_commits_when_the_mempool_is_not_empty_and_heartbeats_otherwise() {
    let mut net = Net::new(1);
    net.tick_all(500);
    assert!(
        net.committed[0].is_empty(),
        "nothing to propose, heartbeat not due"
    );
    net.pending = vec![ballot(&net.g, 1, 1, 1)];
    net.tick_all(600);
    assert_eq!(net.committed[0].len(), 1);
    assert_eq!(net.committed[0][0].transactions.len(), 1);
    net.pending.clear();
    net.tick_all(30_000);
    assert_eq!(
        net.committed[0].len(),
        1,
        "no empty block before the heartbeat"
    );
    net.run_until(0, 2, 40_000);
    assert!(net.committed[0][1].transactions.is_empty());
    net.assert_agree();
}

/// A driver that ticks only when a core's [`Core::next_deadline`] comes
/// (not on a short timer) still proposes, heartbeats, changes rounds past a
/// dead proposer and commits.
#[test]
fn ticking_only_at_the_next_deadline_is_enough() {
    let mut net = without_the_first_proposer_at_deadlines();
    net.assert_agree();
    assert!(net.committed[0].iter().any(|b| b.header.round > 0));
    // Nothing waits: the next deadline is the heartbeat.
    net.pending.clear();
    net.deliver_all();
    let core = net.cores[0].as_ref().unwrap();
    let heartbeat = net.now + net.g.params.empty_block_period_ms;
    assert!(core.next_deadline(0).unwrap() <= heartbeat);
}

fn without_the_first_proposer_at_deadlines() -> Net {
    let mut net = Net::new(3);
    net.cores[1] = None;
    net.pending = vec![ballot(&net.g, 1, 1, 1)];
    let mut ticks = 0;
    while net.committed[0].len() < 3 {
        let pending = net.pending.len() as u64;
        let next = (net.cores.iter().flatten())
            .filter_map(|c| c.next_deadline(pending))
            .min()
            .expect("an undecided core has a deadline");
        net.tick_all(next.saturating_sub(net.now));
        ticks += 1;
        assert!(ticks < 200, "no progress after {ticks} deadlines");
    }
    net
}

#[test]
fn three_validators_agree() {
    let mut net = Net::new(3);
    net.pending = vec![ballot(&net.g, 1, 1, 1)];
    for h in 1..=5 {
        net.run_until(0, h, 5_000);
    }
    net.deliver_all();
    net.assert_agree();
    assert_eq!(net.committed[1].len(), net.committed[0].len());
}

/// Three validators run to height 3 without height 1's round-0 proposer
/// (validators[1]): round changes happen on the way.
fn without_the_first_proposer() -> Net {
    let mut net = Net::new(3);
    net.cores[1] = None;
    net.pending = vec![ballot(&net.g, 1, 1, 1)];
    net.run_until(0, 3, 60_000);
    net
}

#[test]
fn three_validators_survive_a_dead_proposer() {
    let net = without_the_first_proposer();
    net.assert_agree();
    let rounds: Vec<u64> = net.committed[0].iter().map(|b| b.header.round).collect();
    assert!(
        rounds.iter().any(|&r| r > 0),
        "a round change happened: {rounds:?}"
    );
}

#[test]
fn every_kind_of_message_reads_back_from_its_json_and_strays_are_refused() {
    let net = without_the_first_proposer();
    let sent: Vec<&Message> = net.sent_log.iter().flatten().collect();
    let mut kinds = std::collections::BTreeSet::new();
    for m in &sent {
        kinds.insert(m.kind());
        let text = serde_json::to_string(m).unwrap();
        assert_eq!(
            &&serde_json::from_str::<Message>(&text).unwrap(),
            m,
            "{text}"
        );
        // Inside other JSON too (a journal holds a list of them).
        let list: Vec<Message> = serde_json::from_str(&format!("[{text},{text}]")).unwrap();
        assert_eq!(&&list[1], m);
        // A field no kind has, and a kind no message has.
        let stray = text.replacen('{', r#"{"extra":1,"#, 1);
        assert!(serde_json::from_str::<Message>(&stray).is_err(), "{stray}");
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["kind"] = serde_json::json!("decree");
        let e = serde_json::from_str::<Message>(&v.to_string()).unwrap_err();
        assert!(e.to_string().contains("unknown variant"), "{e}");
        v.as_object_mut().unwrap().remove("kind");
        let e = serde_json::from_str::<Message>(&v.to_string()).unwrap_err();
        assert!(e.to_string().contains("missing field `kind`"), "{e}");
    }
    assert_eq!(
        kinds.len(),
        4,
        "proposal, prepare, commit, round change: {kinds:?}"
    );
    assert!(serde_json::from_str::<Message>("[]").is_err());
    assert!(serde_json::from_str::<Message>(r#"{"kind":"prepare"}"#).is_err());
}

#[test]
fn four_validators_agree_and_with_one_down() {
    let mut net = Net::new(4);
    net.pending = vec![ballot(&net.g, 1, 1, 1)];
    net.run_until(0, 2, 10_000);
    net.cores[3] = None;
    net.run_until(0, 6, 120_000);
    net.assert_agree();
}

#[test]
fn a_validator_that_missed_the_proposal_knows_who_decided_without_it() {
    let mut net = Net::new(4);
    net.pending = vec![ballot(&net.g, 1, 1, 1)];
    // Height 1's proposer is the validator at index 1: its proposal to
    // the one at index 3 is held back; everything else arrives.
    net.now += 1_100;
    for i in 0..4 {
        let (now, pending) = (net.now, net.pending.len() as u64);
        let out = net.cores[i].as_mut().unwrap().tick(now, pending);
        net.apply(i, out);
    }
    let mut held_back = Vec::new();
    while let Some((k, m)) = net.inbox.pop_front() {
        if k == 3 && matches!(m, Message::Proposal(_)) {
            held_back.push(m);
            continue;
        }
        let now = net.now;
        if let Some(c) = net.cores[k].as_mut() {
            let out = c.handle(m, now, &AnyContents);
            net.apply(k, out);
        }
    }
    assert_eq!(net.committed[0].len(), 1);
    assert!(net.committed[3].is_empty());
    let holders = net.cores[3].as_ref().unwrap().decided_without_me().unwrap();
    assert!(holders.len() >= net.g.quorum(), "{holders:?}");
    assert!(!holders.contains(&key(4).public()));
    // The others hold it and know it: nothing is missing there.
    assert!(
        net.cores[0]
            .as_ref()
            .unwrap()
            .decided_without_me()
            .is_none()
    );
    // With the proposal, the validator decides it too.
    let now = net.now;
    let out = net.cores[3]
        .as_mut()
        .unwrap()
        .handle(held_back.remove(0), now, &AnyContents);
    net.apply(3, out);
    assert_eq!(net.committed[3].len(), 1);
    net.assert_agree();
}

#[test]
fn two_of_three_down_nothing_commits() {
    let mut net = Net::alone_of_three();
    for _ in 0..600 {
        net.tick_all(100);
    }
    assert!(net.committed[0].is_empty());
}

#[test]
fn messages_from_outsiders_other_chains_and_bad_signatures_are_dropped() {
    let mut net = Net::new(3);
    net.pending = vec![ballot(&net.g, 1, 1, 1)];
    net.tick_all(1_100); // proposals and votes flow
    let sample = net.sent_log[0]
        .iter()
        .find(|m| matches!(m, Message::Prepare(_)))
        .unwrap()
        .clone();
    let Message::Prepare(mut v) = sample else {
        unreachable!()
    };
    v.vote.height += 1; // still signed for the old height
    let c = net.cores[2].as_mut().unwrap();
    let before = c.metrics().dropped.clone();
    let now = net.now;
    c.handle(Message::Prepare(v.clone()), now, &AnyContents);
    let mut outsider = v.clone();
    outsider.sender = key(77).public();
    c.handle(Message::Prepare(outsider), now, &AnyContents);
    let mut other_chain = v.clone();
    other_chain.vote.chain_id = crate::ledger::Hash32([1; 32]);
    c.handle(Message::Prepare(other_chain), now, &AnyContents);
    let after = c.metrics().dropped.clone();
    let grew = |k: &str| after.get(k).copied().unwrap_or(0) > before.get(k).copied().unwrap_or(0);
    assert!(grew("not_a_validator"));
    assert!(grew("wrong_chain"));
    // The re-targeted prepare is either buffered for a future height after
    // its signature failed, or dropped as a bad signature: never counted.
    assert!(grew("bad_signature"));
}

#[test]
fn conflicting_votes_are_kept_as_evidence() {
    let g = Arc::new(genesis(4));
    let mut c = fresh_core(&g, 1);
    let mk = |b: u8| {
        let vote = Vote {
            kind: VoteKind::Prepare,
            chain_id: g.chain_id().unwrap(),
            height: 1,
            round: 0,
            block_hash: crate::ledger::Hash32([b; 32]),
        };
        SignedVote {
            signature: key(2).sign(&vote).unwrap(),
            vote,
            sender: key(2).public(),
        }
    };
    c.handle(Message::Prepare(mk(1)), 10_000, &AnyContents);
    c.handle(Message::Prepare(mk(1)), 10_000, &AnyContents);
    let out = c.handle(Message::Prepare(mk(2)), 10_000, &AnyContents);
    assert!(out.iter().any(|a| matches!(a, Action::Equivocation(_))));
    assert_eq!(c.metrics().equivocations, 1);
    assert_eq!(c.metrics().dropped.get("duplicate"), Some(&1));
    assert_eq!(c.evidence().len(), 1);
}

#[test]
fn every_broadcast_is_preceded_by_a_persist_that_contains_it() {
    let mut net = Net::new(3);
    net.pending = vec![ballot(&net.g, 1, 1, 1)];
    let g = net.g.clone();
    let mut c = fresh_core(&g, 2);
    let out = c.tick(11_500, 1);
    let mut last_persist: Option<Journal> = None;
    let mut all = out;
    all.extend(c.propose(1, 0, net.pending.clone(), 11_500));
    assert!(all.iter().any(|a| matches!(a, Action::Broadcast(_))));
    for a in all {
        match a {
            Action::Persist(j) => last_persist = Some(*j),
            Action::Broadcast(m) => {
                let j = last_persist.as_ref().expect("persist before broadcast");
                assert!(j.sent.contains(&m));
            }
            _ => {}
        }
    }
}

#[test]
fn a_restarted_validator_resumes_its_round_and_never_votes_differently() {
    let mut net = Net::alone_of_three();
    // Validator 0 times out into round 1 without a proposal: the
    // proposer of height 1 is down.
    net.tick_all(1_100);
    net.tick_all(2_100);
    let j = net.journals[0].clone().expect("journal written");
    assert!(j.round >= 1);
    let sent_before = j.sent.clone();
    // Restart from the journal.
    let c = net.restarted(0, &j);
    assert_eq!((c.height(), c.round()), (1, j.round));
    net.cores[0] = Some(c);
    // Its re-sends are the very messages it sent before.
    net.sent_log[0].clear();
    net.tick_all(1_000);
    for m in &net.sent_log[0] {
        if m.round() == j.round {
            assert!(sent_before.contains(m), "re-sent message is identical");
        }
    }
}

/// Nothing goes out again on a timer: a validator waiting in a round
/// sends its messages once (the network delivers them until they are
/// acknowledged), and after a restart broadcasts what its journal says it
/// sent once, at its first tick.
#[test]
fn messages_are_sent_once_and_again_only_after_a_restart() {
    let mut net = Net::alone_of_three();
    // Validator 0 proposes or prepares at most, and waits.
    while net.cores[0].as_ref().unwrap().round() == 0 {
        net.tick_all(10);
    }
    let round = net.cores[0].as_ref().unwrap().round();
    let count = |net: &Net, r: u64| net.sent_log[0].iter().filter(|m| m.round() == r).count();
    let sent = count(&net, round);
    assert!(sent >= 1, "it said something in round {round}");
    // Three seconds later (round 1 lasts twice the 2 s timeout), still in
    // the same round: nothing new.
    for _ in 0..30 {
        net.tick_all(100);
    }
    assert_eq!(net.cores[0].as_ref().unwrap().round(), round);
    assert_eq!(count(&net, round), sent, "sent again within the round");

    // A restart: the journal's messages go out once more, then no more.
    let j = net.journals[0].clone().expect("journal written");
    net.cores[0] = Some(net.restarted(0, &j));
    net.sent_log[0].clear();
    net.tick_all(10);
    let again: Vec<&Message> = net.sent_log[0]
        .iter()
        .filter(|m| m.round() == j.round)
        .collect();
    assert_eq!(again.len(), j.sent.len());
    assert!(again.iter().all(|m| j.sent.contains(m)));
    net.tick_all(10);
    let after = net.sent_log[0]
        .iter()
        .filter(|m| m.round() == j.round)
        .count();
    assert_eq!(after, j.sent.len(), "broadcast again after the first tick");
}

#[test]
fn the_round_timeout_follows_the_network_within_its_bounds() {
    assert_eq!(adaptive_base_timeout(2_000, None, None), 2_000);
    assert_eq!(adaptive_base_timeout(2_000, Some(300), None), 2_000);
    assert_eq!(adaptive_base_timeout(2_000, Some(700), None), 2_800);
    assert_eq!(adaptive_base_timeout(2_000, Some(700), Some(2_000)), 4_000);
    assert_eq!(
        adaptive_base_timeout(2_000, Some(60_000), None),
        MAX_ADAPTIVE_TIMEOUT_MS
    );
    // A genesis asking for more than the cap gets what it asks.
    assert_eq!(adaptive_base_timeout(30_000, Some(60_000), None), 30_000);

    // 4 validators, Q = 3: the second-nearest other validator completes
    // the quorum; its own entry and strangers are ignored.
    let mut net = Net::new(4);
    let keys: Vec<_> = net.g.validators.iter().map(|v| v.public_key).collect();
    let c = net.cores[0].as_mut().unwrap();
    assert_eq!(c.base_timeout(), 2_000);
    c.note_round_trip(&keys[1], 600);
    c.note_round_trip(&keys[2], 800);
    c.note_round_trip(&keys[3], 9_000);
    c.note_round_trip(&keys[0], 50_000);
    c.note_round_trip(&key(99).public(), 50_000);
    assert_eq!(c.base_timeout(), 3_200);
}

#[test]
fn the_round_timeout_follows_the_time_heights_take() {
    let mut net = Net::new(3);
    net.pending = vec![ballot(&net.g, 1, 1, 1)];
    // Every message takes 1.5 s: each height is decided 1.5 s after its
    // round 0 starts.
    let step = |net: &mut Net| {
        for i in 0..net.cores.len() {
            let (now, pending) = (net.now, net.pending.len() as u64);
            let out = net.cores[i].as_mut().unwrap().tick(now, pending);
            net.apply(i, out);
        }
        net.now += 1_500;
        net.deliver_all();
    };
    while net.committed[0].len() < 5 {
        step(&mut net);
    }
    net.assert_agree();
    assert!(net.committed[0].iter().all(|b| b.header.round == 0));
    assert_eq!(net.cores[0].as_ref().unwrap().base_timeout(), 3_000);
    // The block period (1 s) counts from the parent's timestamp: with
    // ballots waiting, the next block is proposed as soon as its parent is
    // committed (1.5 s after it was proposed), not a block period later.
    let times: Vec<u64> = net.committed[0]
        .iter()
        .map(|b| b.header.timestamp_ms)
        .collect();
    assert!(times.windows(2).all(|w| w[1] - w[0] == 1_500), "{times:?}");
}

/// A round that times out halves the next fresh proposal (its block of a
/// backlog most likely did not reach a quorum in time), and a height
/// decided in round 0 doubles it again, up to `max_block_txs`.
#[test]
fn blocks_shrink_with_each_round_change_and_grow_back_after() {
    let mut g = genesis(3);
    g.params.max_block_txs = 8;
    let mut net = Net::with_genesis(g);
    // Height 1's round-0 proposer is down: its round times out.
    net.cores[1] = None;
    net.pending = (1..=8).map(|v| ballot(&net.g, 1, v, 1)).collect();
    net.run_until(0, 3, 60_000);
    net.assert_agree();
    let blocks: Vec<(u64, usize)> = (net.committed[0].iter())
        .map(|b| (b.header.round, b.transactions.len()))
        .collect();
    let (round, txs) = blocks[0];
    assert!(round > 0, "height 1 changed rounds: {blocks:?}");
    assert!(txs <= 8 >> round, "{blocks:?}");
    // Height 2 is decided in round 0 by a proposer whose limit was halved
    // at height 1; height 3's proposer had it doubled again.
    assert_eq!(blocks[1].0, 0, "{blocks:?}");
    assert!(blocks[1].1 < 8, "{blocks:?}");
    assert!(blocks[2].1 > blocks[1].1, "{blocks:?}");
}
