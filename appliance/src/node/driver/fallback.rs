//! Fallback mode: when this appliance cannot reach a quorum, or no block
//! has committed for `fallback_after_ms` while ballots wait, ballots cast
//! here are sealed into its fallback chain, durably, before the voter is
//! answered. When commits resume, every sealed ballot's copy goes to the
//! main chain and is tracked until it is confirmed or rejected as a double
//! vote, across restarts.

use std::collections::BTreeSet;

use super::{Driver, fatal};
use crate::ledger::fallback::{
    FallbackBlock, FallbackTip, MAX_FALLBACK_BLOCK_TXS, reconciliation_tx,
};
use crate::ledger::{Hash32, SignedTx, check_tx};
use crate::node::status::{Counters, Role};
use crate::node::{
    FALLBACK_STARTUP_GRACE_MS, MAX_RECONCILE, RECONCILE_INTERVAL_MS, Source, Submission,
    SubmitOutcome,
};
use crate::store::{MempoolInsert, ReconcileState};

pub(in crate::node) struct FallbackMode {
    /// Started with `--offline`: always in fallback.
    offline: bool,
    /// Why fallback mode is on, when it is.
    pub active: Option<String>,
    started_ms: u64,
    last_reconcile_ms: u64,
}

impl FallbackMode {
    pub fn new(offline: bool, now_ms: u64) -> Self {
        Self {
            offline,
            active: offline.then(|| "offline by configuration".to_string()),
            started_ms: now_ms,
            last_reconcile_ms: 0,
        }
    }
}

impl Driver {
    /// Decides whether the node is in fallback mode now, and logs changes.
    pub(super) fn evaluate_fallback(&mut self, now: u64) {
        let reason = self.fallback_reason(now);
        if reason != self.fallback.active {
            match &reason {
                Some(why) => tracing::warn!("entering fallback mode: {why}"),
                None => tracing::info!("leaving fallback mode: commits have resumed"),
            }
            self.fallback.active = reason;
        }
    }

    fn fallback_reason(&self, now: u64) -> Option<String> {
        if self.fallback.offline {
            return Some("offline by configuration".into());
        }
        let q = self.genesis.quorum();
        let n = self.genesis.validator_count();
        let mut reachable = usize::from(self.role == Role::Validator);
        reachable += self
            .network
            .peer_heads()
            .iter()
            .filter(|p| p.reachable && self.genesis.is_validator(&p.node_id))
            .count();
        let judged = now >= self.fallback.started_ms + FALLBACK_STARTUP_GRACE_MS;
        if judged && reachable < q {
            return Some(format!(
                "{reachable} of {n} validators reachable, {q} needed"
            ));
        }
        let stalled = now.saturating_sub(self.last_commit_ms);
        let limit = self.genesis.params.fallback_after_ms;
        if self.pending > 0 && stalled > limit {
            return Some(format!(
                "no block committed for {} s while {} ballots wait",
                stalled / 1000,
                self.pending
            ));
        }
        None
    }

    /// Seals a batch of ballots cast here into the fallback chain and
    /// answers each voter once the block is durable.
    pub(super) fn seal_submissions(&mut self, submits: Vec<Submission>) {
        if submits.is_empty() {
            return;
        }
        let me = self.key.public();
        match self.store.fallback_close(&me) {
            Ok(Some(_)) => {
                for (_, _, _, reply) in submits {
                    let _ = reply.send(Ok(SubmitOutcome::Closed));
                }
                return;
            }
            Ok(None) => {}
            Err(e) => fatal("reading the fallback closing record", e),
        }
        let mut admitted: Vec<Submission> = Vec::new();
        let mut seen = BTreeSet::new();
        for sub in submits {
            match self.fallback_refusal(&sub.0, sub.2, &mut seen) {
                Some(outcome) => {
                    let _ = sub.3.send(Ok(outcome));
                }
                None => admitted.push(sub),
            }
        }
        while !admitted.is_empty() {
            let rest = admitted.split_off(admitted.len().min(MAX_FALLBACK_BLOCK_TXS));
            let chunk = std::mem::replace(&mut admitted, rest);
            self.seal_block(chunk);
        }
    }

    /// Why a ballot may not be sealed: the voter already has one on the
    /// chain, in the mempool, in this fallback chain or in this batch.
    fn fallback_refusal(
        &self,
        stx: &SignedTx,
        source: Source,
        seen: &mut BTreeSet<(u64, Hash32)>,
    ) -> Option<SubmitOutcome> {
        let (eid, n) = stx.tx.nullifier()?;
        let me = self.key.public();
        let store = &self.store;
        let committed = store
            .nullifier_tx(eid, &n)
            .unwrap_or_else(|e| fatal("nullifier look-up", e));
        if let Some(h) = committed {
            return Some(SubmitOutcome::Mempool(MempoolInsert::NullifierCommitted(h)));
        }
        let sealed = store
            .fallback_nullifier(&me, eid, &n)
            .unwrap_or_else(|e| fatal("fallback look-up", e));
        if let Some(h) = sealed {
            return Some(SubmitOutcome::FallbackDuplicate(h));
        }
        if let Source::Voter(voter) = source {
            let prior = store
                .voter_ballot(voter, eid)
                .unwrap_or_else(|e| fatal("voter look-up", e));
            if let Some(h) = prior {
                return Some(SubmitOutcome::Mempool(MempoolInsert::VoterAlreadyVoted(h)));
            }
        }
        if !seen.insert((eid, n)) {
            return Some(SubmitOutcome::FallbackDuplicate(Hash32::ZERO));
        }
        None
    }

    fn seal_block(&mut self, subs: Vec<Submission>) {
        let now = crate::clock::now_ms();
        let me = self.key.public();
        let head = self
            .store
            .head()
            .unwrap_or_else(|e| fatal("reading the head", e));
        let tip = self
            .store
            .fallback_tip(&me)
            .unwrap_or_else(|e| fatal("reading the fallback chain", e))
            .unwrap_or(FallbackTip {
                seq: 0,
                hash: head.hash,
            });
        let txs: Vec<SignedTx> = subs.iter().map(|s| (*s.0).clone()).collect();
        let voters: Vec<Option<i64>> = subs
            .iter()
            .map(|s| match s.2 {
                Source::Voter(id) => Some(id),
                _ => None,
            })
            .collect();
        let sealed = FallbackBlock::seal(
            self.chain_id,
            tip,
            (head.height, head.hash),
            now,
            txs,
            &self.key,
        )
        .and_then(|b| {
            let copies = b
                .transactions
                .iter()
                .map(|t| reconciliation_tx(t, b.block_hash, &self.key))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((b, copies))
        });
        let result = sealed.map_err(|e| e.to_string()).and_then(|(b, copies)| {
            self.store
                .seal_fallback(&b, &copies, &voters, now)
                .map(|()| b)
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(block) => {
                Counters::add(&self.counters.fallback_sealed, subs.len() as u64);
                tracing::info!(
                    seq = block.header.seq,
                    ballots = subs.len(),
                    "sealed a fallback block"
                );
                for (_, _, _, reply) in subs {
                    let _ = reply.send(Ok(SubmitOutcome::Fallback {
                        block_hash: block.block_hash,
                    }));
                }
            }
            Err(e) => {
                tracing::error!("sealing a fallback block failed: {e}");
                for (_, _, _, reply) in subs {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Hands sealed ballots to the main chain and follows each to its end,
    /// while the node is not in fallback mode.
    pub(super) fn reconcile(&mut self, now: u64) {
        if now < self.fallback.last_reconcile_ms + RECONCILE_INTERVAL_MS {
            return;
        }
        self.fallback.last_reconcile_ms = now;
        let counts = self
            .store
            .fallback_counts(None)
            .unwrap_or_else(|e| fatal("counting fallback ballots", e));
        self.status.write().expect("status").fallback_counts = counts;
        if self.fallback.active.is_some() || counts.open() == 0 {
            return;
        }
        let open = self
            .store
            .fallback_open(MAX_RECONCILE)
            .unwrap_or_else(|e| fatal("reading fallback ballots", e));
        let mut resubmit = Vec::new();
        for b in open {
            let committed = self
                .store
                .committed_tx(&b.main_tx_hash)
                .unwrap_or_else(|e| fatal("transaction look-up", e));
            let (eid, n) = b.main_tx.tx.nullifier().expect("ballots have nullifiers");
            let winner = self
                .store
                .nullifier_tx(eid, &n)
                .unwrap_or_else(|e| fatal("nullifier look-up", e));
            match (committed, winner) {
                (Some(_), _) => self.settle(&b.main_tx_hash, ReconcileState::Confirmed, None, now),
                (None, Some(other)) => {
                    self.settle(&b.main_tx_hash, ReconcileState::Rejected, Some(&other), now)
                }
                (None, None) => resubmit.push((b.main_tx_hash, b.main_tx, b.state)),
            }
        }
        self.resubmit(resubmit, now);
    }

    fn settle(&mut self, main: &Hash32, state: ReconcileState, other: Option<&Hash32>, now: u64) {
        self.store
            .set_fallback_state(main, state, other, now)
            .unwrap_or_else(|e| fatal("recording a reconciled ballot", e));
        match (state, other) {
            (ReconcileState::Rejected, Some(o)) => {
                Counters::add(&self.counters.fallback_conflicts, 1);
                tracing::warn!(tx = %main, conflicting = %o, "fallback ballot rejected: the voter's other ballot was committed first");
            }
            _ => Counters::add(&self.counters.fallback_confirmed, 1),
        }
    }

    /// Puts sealed ballots' copies into the mempool (again, if lost) and
    /// passes them on to the validators.
    fn resubmit(&mut self, items: Vec<(Hash32, SignedTx, ReconcileState)>, now: u64) {
        let mut fresh = Vec::new();
        for (hash, stx, state) in items {
            let in_pool = self
                .store
                .mempool_contains(&hash)
                .unwrap_or_else(|e| fatal("mempool look-up", e));
            if in_pool {
                continue;
            }
            if let Err(e) = check_tx(&self.genesis, &self.chain_id, &stx, now) {
                tracing::warn!(tx = %hash, "a fallback ballot cannot go to the main chain: {e}");
                continue;
            }
            let outcome = self
                .store
                .mempool_insert(&stx, &hash, None, now)
                .unwrap_or_else(|e| fatal("submitting a fallback ballot", e));
            if matches!(outcome, MempoolInsert::Inserted) {
                self.pending += 1;
                fresh.push(stx);
            }
            if state == ReconcileState::Waiting {
                self.store
                    .set_fallback_state(&hash, ReconcileState::Submitted, None, now)
                    .unwrap_or_else(|e| fatal("recording a submitted ballot", e));
            }
        }
        if !fresh.is_empty() {
            tracing::info!(
                ballots = fresh.len(),
                "handed fallback ballots to the main chain"
            );
            let relay = self.role == Role::Station;
            self.network.gossip(&fresh, relay);
        }
    }
}
