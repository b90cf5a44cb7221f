//! Fallback mode: when this appliance cannot reach a quorum of
//! validators, or a quorum answers yet ballots wait without a block for
//! much longer than the network's round trips explain, ballots cast here
//! are sealed into its fallback chain, durably, before the voter is
//! answered. When the network is back, every sealed ballot's copy goes to
//! the main chain and is tracked until it is confirmed or rejected as a
//! double vote, across restarts.

use std::collections::BTreeSet;

use super::{Driver, fatal};
use crate::clock::Clock;
use crate::ledger::fallback::{
    FallbackBlock, FallbackTip, MAX_FALLBACK_BLOCK_TXS, reconciliation_txs,
};
use crate::ledger::{Hash32, SignedTx, check_tx};
use crate::node::status::{Counters, FallbackReason, Role};
use crate::node::store::NodeStore;
use crate::node::{
    FALLBACK_STARTUP_GRACE_MS, MAX_RECONCILE, Network, RECONCILE_INTERVAL_MS, STALL_ROUND_TRIPS,
    Submission, SubmitOutcome,
};
use crate::store::{Durability, MempoolEntry, MempoolInsert, ReconcileState};

pub(in crate::node) struct FallbackMode {
    /// Started with `--offline`: always in fallback.
    offline: bool,
    /// Why fallback mode is on, when it is.
    pub active: Option<FallbackReason>,
    started_ms: u64,
    last_reconcile_ms: u64,
    /// Since when transactions have waited in the mempool without a block
    /// committing (the later of the first wait and the last commit).
    waiting_since: Option<u64>,
}

impl FallbackMode {
    pub fn new(offline: bool, now_ms: u64) -> Self {
        Self {
            offline,
            active: offline.then_some(FallbackReason::Offline),
            started_ms: now_ms,
            last_reconcile_ms: 0,
            waiting_since: None,
        }
    }

    /// A block committed: what still waits starts waiting now.
    pub fn committed(&mut self, now_ms: u64, pending: u64) {
        self.waiting_since = (pending > 0).then_some(now_ms);
    }

    fn note_pending(&mut self, now_ms: u64, pending: u64) {
        if pending == 0 {
            self.waiting_since = None;
        } else if self.waiting_since.is_none() {
            self.waiting_since = Some(now_ms);
        }
    }
}

impl<S: NodeStore, N: Network, C: Clock> Driver<S, N, C> {
    /// Decides whether the node is in fallback mode now; logs when it
    /// enters and when it leaves, not while it stays.
    pub(super) fn evaluate_fallback(&mut self, now: u64) {
        self.fallback.note_pending(now, self.pending);
        let reason = self.fallback_reason(now);
        match (&self.fallback.active, &reason) {
            (None, Some(why)) => {
                Counters::add(&self.counters.fallback_entries, 1);
                tracing::warn!("entering fallback mode: {why}");
            }
            (Some(was), None) => {
                tracing::info!("leaving fallback mode ({was}): a quorum answers and blocks commit");
            }
            _ => {}
        }
        self.fallback.active = reason;
    }

    /// Rests on the validators' answers, never on idle time: fewer than Q
    /// of them reachable, or a quorum reachable while ballots have waited
    /// for a block far longer than the quorum's round trips explain.
    fn fallback_reason(&self, now: u64) -> Option<FallbackReason> {
        if self.fallback.offline {
            return Some(FallbackReason::Offline);
        }
        let quorum = self.genesis.quorum();
        let reachable = self.reachable_validators().len();
        let judged = now >= self.fallback.started_ms + FALLBACK_STARTUP_GRACE_MS;
        if judged && reachable < quorum {
            return Some(FallbackReason::Unreachable {
                reachable,
                validators: self.genesis.validator_count(),
                quorum,
            });
        }
        let since = self.fallback.waiting_since?;
        if let Some(FallbackReason::Stalled { since_ms, .. }) = &self.fallback.active
            && *since_ms == since
        {
            // A stall ends with a commit, not with a longer estimate.
            return self.fallback.active.clone();
        }
        let after_ms = self.stall_limit_ms();
        (now >= since + after_ms).then_some(FallbackReason::Stalled {
            since_ms: since,
            after_ms,
        })
    }

    /// When waiting ballots would make a stall, if nothing commits.
    pub(super) fn stall_deadline(&self) -> Option<u64> {
        let since = self.fallback.waiting_since?;
        self.fallback
            .active
            .is_none()
            .then(|| since + self.stall_limit_ms())
    }

    /// The validators that answer, this node included when it is one.
    fn reachable_validators(&self) -> Vec<crate::ledger::PublicKey> {
        let me = self.key.public();
        let mut reachable: Vec<_> = self
            .network
            .reachable_validators()
            .into_iter()
            .filter(|v| *v != me && self.genesis.is_validator(v))
            .collect();
        if self.role == Role::Validator {
            reachable.push(me);
        }
        reachable
    }

    /// How long ballots may wait for a block with a quorum answering:
    /// [`STALL_ROUND_TRIPS`] round trips to the farthest validator of the
    /// nearest quorum of those that answer, and at least the genesis'
    /// `fallback_after_ms`.
    fn stall_limit_ms(&self) -> u64 {
        let me = self.key.public();
        let mut trips: Vec<u64> = self
            .reachable_validators()
            .iter()
            .map(|v| {
                if *v == me {
                    0
                } else {
                    self.network.round_trip_ms(v)
                }
            })
            .collect();
        trips.sort_unstable();
        let quorum_trip = trips
            .get(self.genesis.quorum() - 1)
            .or(trips.last())
            .copied()
            .unwrap_or(0);
        let scaled = STALL_ROUND_TRIPS.saturating_mul(quorum_trip);
        self.genesis.params.fallback_after_ms.max(scaled)
    }

    /// Seals a batch of ballots cast here into the fallback chain and
    /// answers each voter once the block is durable.
    pub(super) fn seal_submissions(&mut self, submits: Vec<Submission>) {
        if submits.is_empty() {
            return;
        }
        let me = self.key.public();
        let closed = self
            .store
            .fallback_closed(&me)
            .unwrap_or_else(|e| fatal("reading the fallback closing record", e));
        if closed {
            for sub in submits {
                sub.answer(Ok(SubmitOutcome::Closed));
            }
            return;
        }
        let mut admitted: Vec<Submission> = Vec::new();
        let mut seen = BTreeSet::new();
        for sub in submits {
            match self.fallback_refusal(&sub.stx, &mut seen) {
                Some(outcome) => sub.answer(Ok(outcome)),
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
        if !seen.insert((eid, n)) {
            return Some(SubmitOutcome::FallbackDuplicate(Hash32::ZERO));
        }
        None
    }

    fn seal_block(&mut self, subs: Vec<Submission>) {
        let now = self.now_ms();
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
        let txs: Vec<SignedTx> = subs.iter().map(|s| (*s.stx).clone()).collect();
        let sealed = FallbackBlock::seal(
            self.chain_id,
            tip,
            (head.height, head.hash),
            now,
            txs,
            &self.key,
        )
        .and_then(|b| {
            let copies = reconciliation_txs(&b, &self.key)?;
            Ok((b, copies))
        });
        let result = sealed.map_err(|e| e.to_string()).and_then(|(b, copies)| {
            self.store
                .seal_fallback(&b, &copies, now)
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
                for sub in subs {
                    sub.answer(Ok(SubmitOutcome::Fallback {
                        block_hash: block.block_hash,
                    }));
                }
            }
            Err(e) => {
                tracing::error!("sealing a fallback block failed: {e}");
                for sub in subs {
                    sub.answer(Err(e.clone()));
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
            .fallback_counts()
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
                .is_committed(&b.main_tx_hash)
                .unwrap_or_else(|e| fatal("transaction look-up", e));
            let (eid, n) = b.main_tx.tx.nullifier().expect("ballots have nullifiers");
            let winner = self
                .store
                .nullifier_tx(eid, &n)
                .unwrap_or_else(|e| fatal("nullifier look-up", e));
            match (committed, winner) {
                (true, _) => self.settle(&b.main_tx_hash, ReconcileState::Confirmed, None, now),
                (false, Some(other)) => {
                    self.settle(&b.main_tx_hash, ReconcileState::Rejected, Some(&other), now)
                }
                (false, None) => resubmit.push((b.main_tx_hash, b.main_tx, b.state)),
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
            let entry = MempoolEntry {
                stx: &stx,
                tx_hash: &hash,
                voter: None,
            };
            let outcome = self
                .store
                .mempool_insert_batch(&[entry], now, Durability::Now)
                .unwrap_or_else(|e| fatal("submitting a fallback ballot", e))[0]
                .outcome;
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
            self.network.gossip(&fresh);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::clock::Clock;
    use crate::consensus::Message;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::genesis::fixtures::genesis;
    use crate::ledger::tx::fixtures::ballot;
    use crate::ledger::{Genesis, PublicKey, SignedTx};
    use crate::node::status::{Counters, FallbackReason};
    use crate::node::{
        Driver, DriverSetup, FALLBACK_STARTUP_GRACE_MS, Network, PeerHead, Request, Source,
        Submission,
    };
    use crate::store::Store;

    /// Validators that answer, with one round trip for all; nothing sent
    /// arrives anywhere (no block ever commits).
    struct Answering {
        reachable: Arc<AtomicUsize>,
        others: Vec<PublicKey>,
        rtt_ms: u64,
    }

    impl Network for Answering {
        fn broadcast(&mut self, _: &Message) {}
        fn gossip(&mut self, _: &[SignedTx]) {}
        fn peer_heads(&self) -> Vec<PeerHead> {
            Vec::new()
        }
        fn request_sync(&mut self, _: u64) -> bool {
            false
        }
        fn fetch_decided(&mut self, _: u64, _: &[PublicKey]) {}
        fn reachable_validators(&self) -> Vec<PublicKey> {
            self.others[..self.reachable.load(Ordering::SeqCst)].to_vec()
        }
        fn round_trip_ms(&self, _: &PublicKey) -> u64 {
            self.rtt_ms
        }
    }

    struct Manual(Rc<Cell<u64>>);

    impl Clock for Manual {
        fn now_ms(&self) -> u64 {
            self.0.get()
        }
    }

    struct Rig {
        g: Arc<Genesis>,
        driver: Driver<Store, Answering, Manual>,
        now: Rc<Cell<u64>>,
        reachable: Arc<AtomicUsize>,
        counters: Arc<Counters>,
    }

    const START_MS: u64 = 1_000_000;

    /// Validator 1 of 3 (a quorum is 2), with the other two answering.
    fn rig(rtt_ms: u64) -> Rig {
        let g = Arc::new(genesis(3));
        let mut store = Store::open_in_memory().unwrap();
        store.init_genesis(&g).unwrap();
        let now = Rc::new(Cell::new(START_MS));
        let reachable = Arc::new(AtomicUsize::new(2));
        let net = Answering {
            reachable: reachable.clone(),
            others: vec![key(2).public(), key(3).public()],
            rtt_ms,
        };
        let setup = DriverSetup {
            chain_id: g.chain_id().unwrap(),
            genesis: g.clone(),
            key: Arc::new(key(1)),
            offline: false,
        };
        let counters = Arc::new(Counters::default());
        let driver = Driver::new(setup, store, net, Manual(now.clone()), counters.clone()).unwrap();
        Rig {
            g,
            driver,
            now,
            reachable,
            counters,
        }
    }

    impl Rig {
        /// Moves the clock to `at_ms` after the start and steps there.
        fn step_at(&mut self, at_ms: u64, batch: Vec<Request>) -> Option<FallbackReason> {
            self.now.set(START_MS + at_ms);
            self.driver.step(batch);
            self.driver.status_cell().read().unwrap().fallback.clone()
        }

        fn ballot(&self, voter: u8) -> Request {
            let stx = ballot(&self.g, 1, voter, 1);
            let (reply, _) = tokio::sync::oneshot::channel();
            Request::Submit(Submission {
                tx_hash: stx.hash().unwrap(),
                stx: Box::new(stx),
                source: Source::Rpc,
                reply,
            })
        }

        fn entries(&self) -> u64 {
            Counters::get(&self.counters.fallback_entries)
        }
    }

    #[test]
    fn an_idle_network_stays_out_and_a_stall_counts_from_the_first_wait() {
        let mut r = rig(50);
        let after = r.g.params.fallback_after_ms;
        // Minutes without a ballot or a block: idle, not stalled.
        for minute in 1..=5 {
            assert_eq!(r.step_at(minute * 60_000, Vec::new()), None);
        }
        // The first ballot after them is not late yet.
        let first = 300_000;
        assert_eq!(r.step_at(first, vec![r.ballot(1)]), None);
        assert_eq!(r.step_at(first + after - 1, Vec::new()), None);
        // Nothing commits (no peer hears this node): a stall, entered once.
        let stalled = r.step_at(first + after, Vec::new());
        assert!(
            matches!(stalled, Some(FallbackReason::Stalled { since_ms, .. }) if since_ms == START_MS + first),
            "{stalled:?}"
        );
        for s in 1..=5 {
            assert!(r.step_at(first + after + s * 1_000, Vec::new()).is_some());
        }
        assert_eq!(r.entries(), 1, "entered once, however long it lasts");
    }

    #[test]
    fn the_time_a_stall_takes_grows_with_the_quorum_round_trip() {
        // 40 round trips of 1 s: 40 s, not the genesis' 10 s.
        let mut r = rig(1_000);
        assert_eq!(r.step_at(1_000, vec![r.ballot(1)]), None);
        assert_eq!(r.step_at(1_000 + 39_999, Vec::new()), None);
        assert!(r.step_at(1_000 + 40_000, Vec::new()).is_some());
    }

    #[test]
    fn fewer_than_a_quorum_reachable_is_fallback_until_a_quorum_answers() {
        let mut r = rig(50);
        r.reachable.store(0, Ordering::SeqCst);
        // Not judged before the peers were polled.
        assert_eq!(r.step_at(FALLBACK_STARTUP_GRACE_MS - 1, Vec::new()), None);
        let cut = r.step_at(FALLBACK_STARTUP_GRACE_MS, Vec::new());
        assert_eq!(
            cut,
            Some(FallbackReason::Unreachable {
                reachable: 1,
                validators: 3,
                quorum: 2
            })
        );
        assert_eq!(
            r.step_at(FALLBACK_STARTUP_GRACE_MS + 1_000, Vec::new()),
            cut
        );
        r.reachable.store(1, Ordering::SeqCst);
        assert_eq!(
            r.step_at(FALLBACK_STARTUP_GRACE_MS + 2_000, Vec::new()),
            None
        );
        r.reachable.store(0, Ordering::SeqCst);
        assert!(
            r.step_at(FALLBACK_STARTUP_GRACE_MS + 3_000, Vec::new())
                .is_some()
        );
        assert_eq!(r.entries(), 2, "one entry per time the quorum went");
    }
}
