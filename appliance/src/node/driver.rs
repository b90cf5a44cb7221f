//! The driver: the node's logic around the consensus core. It takes
//! requests in batches, writes submissions, runs the core and carries out
//! its actions in order, decides fallback mode and reconciles fallback
//! ballots (`fallback.rs`), and publishes status and counters. It is
//! generic over its store, network and clock and does not wait for
//! anything: whoever runs it calls [`Driver::step`] with what arrived, and
//! again by [`Driver::next_wake`] if nothing does (the appliance's node
//! thread, `thread.rs`, and the simulator, tests/src/sim).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

mod fallback;

use super::status::{Counters, NodeStatus, Role};
use super::store::NodeStore;
use super::verified::VerifiedCache;
use super::{
    IDLE_WAKE_MS, MAX_REGOSSIP, Network, REFETCH_DECIDED_MS, REGOSSIP_AFTER_MS, Request,
    SUBMIT_LINGER, Source, Submission, SubmitOutcome,
};
use crate::clock::Clock;
use crate::consensus::{Action, ChainView, Core};
use crate::ledger::validate::{check_block_txs_hashed, check_committed_block, retain_valid_seals};
use crate::ledger::{
    Block, ChainLookup, CredentialOnChain, DeviceEnd, Genesis, Hash32, InBlock, LedgerError,
    NodeKey, PublicKey, SignedTx,
};
use crate::store::{Durability, MempoolEntry, MempoolInsert, StoreError};

/// Who the node is.
pub struct DriverSetup {
    pub genesis: Arc<Genesis>,
    /// The genesis' hash ([`Genesis::chain_id`]), computed once by whoever
    /// loaded it (the simulator restarts drivers thousands of times).
    pub chain_id: Hash32,
    pub key: Arc<NodeKey>,
    /// Record every ballot in the fallback (device) chain, never in the mempool.
    pub offline: bool,
}

pub struct Driver<S, N, C> {
    genesis: Arc<Genesis>,
    chain_id: Hash32,
    key: Arc<NodeKey>,
    fallback: fallback::FallbackMode,
    store: S,
    core: Option<Core>,
    network: N,
    clock: C,
    verified: Arc<VerifiedCache>,
    role: Role,
    last_regossip_ms: u64,
    counters: Arc<Counters>,
    status: Arc<RwLock<NodeStatus>>,
    pending: u64,
    last_commit_ms: u64,
    last_step_ms: u64,
    /// The last batch carried more than one submission.
    busy: bool,
    /// Peers report a higher head: the core is not ticked (nor its
    /// deadline awaited) until the node has caught up.
    behind: bool,
    /// The height of a block decided without this node that it asked
    /// for, and when.
    fetching: Option<(u64, u64)>,
}

/// The store as the consensus core sees it.
struct StoreView<'a, S> {
    store: &'a S,
    genesis: &'a Genesis,
    chain_id: &'a Hash32,
    verified: &'a VerifiedCache,
}

impl<'a, S> StoreView<'a, S> {
    fn of(
        store: &'a S,
        genesis: &'a Genesis,
        chain_id: &'a Hash32,
        verified: &'a VerifiedCache,
    ) -> Self {
        Self {
            store,
            genesis,
            chain_id,
            verified,
        }
    }
}

impl<S: NodeStore> ChainView for StoreView<'_, S> {
    /// A proposal often carries ballots this node has not seen gossiped
    /// yet (the proposer's gossip waits behind its earlier batches; its
    /// proposal does not): once checked here, they are remembered, so the
    /// gossip that brings them later does not check them again.
    fn check_contents(&self, block: &Block, tx_hashes: &[Hash32]) -> Result<(), LedgerError> {
        let hashes = check_block_txs_hashed(self.genesis, self.chain_id, block, tx_hashes, self)?;
        for (hash, stx) in hashes.iter().zip(&block.transactions) {
            self.verified.insert(hash, &stx.signature);
        }
        Ok(())
    }
}

impl<S: NodeStore> ChainLookup for StoreView<'_, S> {
    fn is_used(&self, election_id: u64, nullifier: &Hash32) -> Result<bool, LedgerError> {
        self.store.is_used(election_id, nullifier)
    }

    fn credential_on_chain(
        &self,
        election_id: u64,
        credential: &PublicKey,
    ) -> Result<CredentialOnChain, LedgerError> {
        self.store.credential_on_chain(election_id, credential)
    }

    fn is_checked_in(&self, election_id: u64, leaf: &Hash32) -> Result<bool, LedgerError> {
        self.store.is_checked_in(election_id, leaf)
    }

    fn device_end(
        &self,
        election_id: u64,
        origin: &PublicKey,
    ) -> Result<Option<DeviceEnd>, LedgerError> {
        self.store.device_end(election_id, origin)
    }

    fn tally_at(
        &self,
        election_id: u64,
        height: u64,
    ) -> Result<Option<(u64, crate::ledger::TallyState)>, LedgerError> {
        self.store.tally_at(election_id, height)
    }

    fn share_recorded(
        &self,
        election_id: u64,
        tally_height: u64,
        trustee: u32,
    ) -> Result<bool, LedgerError> {
        self.store
            .share_recorded(election_id, tally_height, trustee)
    }

    fn verified(&self, tx_hash: &Hash32, signature: &crate::ledger::Signature) -> bool {
        self.verified.contains(tx_hash, signature)
    }
}

/// Storage failing under the node is not something it can vote through:
/// stop the process (systemd restarts it; the journal and chain are durable).
fn fatal(what: &str, e: StoreError) -> ! {
    tracing::error!("fatal storage error while {what}: {e}");
    std::process::exit(70);
}

/// A storage error that reached the ledger's rules as
/// [`LedgerError::Lookup`]: as fatal as any other.
fn fatal_lookup(what: &str, e: &str) -> ! {
    tracing::error!("fatal storage error while {what}: {e}");
    std::process::exit(70);
}

impl<S: NodeStore, N: Network, C: Clock> Driver<S, N, C> {
    pub fn new(
        setup: DriverSetup,
        store: S,
        network: N,
        clock: C,
        counters: Arc<Counters>,
    ) -> Result<Self, StoreError> {
        let chain_id = setup.chain_id;
        let head = store.head()?;
        let now = clock.now_ms();
        let is_validator = setup.genesis.is_validator(&setup.key.public());
        let core = if is_validator {
            let journal = store.load_consensus_state()?;
            Some(Core::new(
                setup.genesis.clone(),
                chain_id,
                setup.key.clone(),
                head.as_parent(),
                now,
                journal,
            )?)
        } else {
            None
        };
        let pending = store.mempool_len()?;
        let role = if is_validator {
            Role::Validator
        } else {
            Role::Station
        };
        let fallback = fallback::FallbackMode::new(setup.offline, now);
        let status = NodeStatus {
            role,
            height: head.height,
            head_hash: head.hash,
            head_timestamp_ms: head.timestamp_ms,
            finalized_height: 0,
            round: 0,
            mempool: pending,
            last_commit_ms: now,
            fallback: fallback.active.clone(),
            fallback_counts: store.fallback_counts()?,
        };
        let mut d = Self {
            genesis: setup.genesis,
            chain_id,
            key: setup.key,
            fallback,
            store,
            core,
            network,
            clock,
            verified: Default::default(),
            role,
            last_regossip_ms: now,
            counters,
            status: Arc::new(RwLock::new(status)),
            pending,
            last_commit_ms: now,
            last_step_ms: now,
            busy: false,
            behind: false,
            fetching: None,
        };
        d.publish_status();
        Ok(d)
    }

    pub fn status_cell(&self) -> Arc<RwLock<NodeStatus>> {
        self.status.clone()
    }

    pub fn verified_cache(&self) -> Arc<VerifiedCache> {
        self.verified.clone()
    }

    pub fn network_mut(&mut self) -> &mut N {
        &mut self.network
    }

    /// The consensus core, on a validator.
    pub fn core(&self) -> Option<&Core> {
        self.core.as_ref()
    }

    /// The time by this node's clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Handles a batch of requests (submissions first), then lets time
    /// pass (fallback, reconciliation, re-gossip, the core's timers,
    /// catching up with peers) and publishes the status.
    pub fn step(&mut self, batch: Vec<Request>) {
        self.process(batch);
        self.tick();
        self.publish_status();
        self.last_step_ms = self.now_ms();
    }

    /// When, by this node's clock, [`Driver::step`] must run again if no
    /// request comes first: the core's next deadline (unless the node is
    /// behind its peers and catching up), the next re-gossip, the moment
    /// waiting ballots would make a stall, and at most [`IDLE_WAKE_MS`]
    /// after the last step.
    pub fn next_wake(&self) -> u64 {
        let core = (self.core.as_ref())
            .filter(|_| !self.behind)
            .and_then(|c| c.next_deadline(self.pending));
        let regossip = (self.pending > 0).then_some(self.last_regossip_ms + REGOSSIP_AFTER_MS);
        let idle = self.last_step_ms + IDLE_WAKE_MS;
        [core, regossip, self.stall_deadline(), Some(idle)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(idle)
    }

    /// How long a batch should wait for more requests before it is
    /// handled. On a busy node (the last batch carried more than one
    /// submission) a batch holding submissions waits [`SUBMIT_LINGER`]:
    /// they share one write, and a write's cost (the index pages it
    /// rewrites, its fsync) hardly grows with the ballots in it. A quiet
    /// node answers at once.
    pub fn linger(&self, batch: &[Request]) -> Option<Duration> {
        let submits = batch.iter().any(|r| matches!(r, Request::Submit(_)));
        (self.busy && submits).then_some(SUBMIT_LINGER)
    }

    /// Submissions first: a voter's answer waits only for the mempool
    /// write, not behind the block commits of the same batch.
    fn process(&mut self, batch: Vec<Request>) {
        let mut submits = Vec::new();
        let mut others = Vec::new();
        for req in batch {
            match req {
                Request::Submit(sub) => submits.push(sub),
                Request::Wake => {}
                other => others.push(other),
            }
        }
        self.busy = submits.len() > 1;
        self.take_submissions(submits);
        for req in others {
            match req {
                Request::Consensus(msg) => {
                    let now = self.now_ms();
                    let view =
                        StoreView::of(&self.store, &self.genesis, &self.chain_id, &self.verified);
                    if let Some(core) = self.core.as_mut() {
                        let actions = core.handle(*msg, now, &view);
                        self.apply(actions);
                    }
                }
                Request::Synced(blocks) => self.apply_synced(blocks),
                Request::Submit(_) | Request::Wake => unreachable!("taken apart above"),
            }
        }
    }

    fn take_submissions(&mut self, submits: Vec<Submission>) {
        if submits.is_empty() {
            return;
        }
        if self.fallback.active.is_some() {
            // Ballots cast here go to the fallback chain; gossip from peers
            // and the other records (check-ins, closing records) still go
            // to the mempool.
            let (local, peer): (Vec<_>, Vec<_>) = submits
                .into_iter()
                .partition(|s| s.stx.tx.as_ballot().is_some() && !matches!(s.source, Source::Peer));
            self.seal_submissions(local);
            self.insert_submissions(peer);
        } else {
            self.insert_submissions(submits);
        }
    }

    fn insert_submissions(&mut self, submits: Vec<Submission>) {
        if submits.is_empty() {
            return;
        }
        let entries: Vec<MempoolEntry<'_>> = submits
            .iter()
            .map(|s| MempoolEntry {
                stx: &s.stx,
                tx_hash: &s.tx_hash,
                voter: match s.source {
                    Source::Voter(id) => Some(id),
                    _ => None,
                },
            })
            .collect();
        // Gossip alone needs no fsync: its senders hold it durably and send
        // it again (REGOSSIP_AFTER_MS) if this node loses it in a crash.
        let durability = if submits.iter().all(|s| matches!(s.source, Source::Peer)) {
            Durability::WithNextSync
        } else {
            Durability::Now
        };
        let now = self.now_ms();
        let result = self.store.mempool_insert_batch(&entries, now, durability);
        drop(entries);
        let outcomes = match result {
            Ok(o) => o,
            Err(e) => {
                tracing::error!("mempool insert failed: {e}");
                for sub in submits {
                    sub.answer(Err(e.to_string()));
                }
                return;
            }
        };
        let mut to_pass_on = Vec::new();
        for (sub, offered) in submits.into_iter().zip(outcomes) {
            let outcome = offered.outcome;
            if outcome == MempoolInsert::Inserted {
                // Every submission was checked in full before it was sent here.
                self.verified.insert(&sub.tx_hash, &sub.stx.signature);
                self.pending += 1;
                Counters::add(&self.counters.votes_accepted, 1);
                if self.passes_on(sub.source) {
                    to_pass_on.push((*sub.stx).clone());
                }
            }
            let answer = match offered.code {
                Some(code) => SubmitOutcome::Confirmed { code },
                None => SubmitOutcome::Mempool(outcome),
            };
            sub.answer(Ok(answer));
        }
        if !to_pass_on.is_empty() {
            self.network.gossip(&to_pass_on);
        }
    }

    /// A node gossips what its own voters cast; what a validator passes
    /// on of a peer's gossip, the peer protocol's handler passes on.
    fn passes_on(&self, source: Source) -> bool {
        matches!(source, Source::Voter(_) | Source::Rpc)
    }

    /// Verifies fetched blocks one by one on top of the head and stores
    /// each that holds; stops at the first that does not.
    fn apply_synced(&mut self, blocks: Vec<Block>) {
        let now = self.now_ms();
        let mut advanced = None;
        for mut block in blocks {
            let head = self
                .store
                .head()
                .unwrap_or_else(|e| fatal("reading the head", e));
            if block.header.height <= head.height {
                continue;
            }
            retain_valid_seals(&self.genesis, &mut block);
            let parent = head.as_parent();
            // Ballots this node checked before (as they came in, or in a
            // proposal) are not checked again.
            let view = StoreView::of(&self.store, &self.genesis, &self.chain_id, &self.verified);
            let check =
                check_committed_block(&self.genesis, &self.chain_id, &parent, &block, &view, now);
            if let Err(e) = check {
                tracing::warn!(height = block.header.height, "refused a synced block: {e}");
                break;
            }
            if let Err(e) = self.store.append_block(&block, now) {
                fatal("storing a synced block", e);
            }
            self.count_committed(&block, now);
            advanced = Some(block);
        }
        if let Some(block) = advanced {
            tracing::info!(height = block.header.height, "caught up from a peer");
            let actions = self.after_commit(&block, now);
            self.apply(actions);
        }
    }

    fn tick(&mut self) {
        let now = self.now_ms();
        self.evaluate_fallback(now);
        self.reconcile(now);
        self.regossip(now);
        self.fetch_decided(now);
        let own = self.status.read().expect("status").height;
        self.behind = self
            .network
            .peer_heads()
            .iter()
            .any(|p| p.reachable && p.height > own);
        if self.behind {
            // A node that is behind does not vote; it catches up first.
            self.network.request_sync(own);
            return;
        }
        if let Some(core) = self.core.as_mut() {
            // The round timeout follows the round trips the network measures.
            for v in &self.genesis.validators {
                core.note_round_trip(&v.public_key, self.network.round_trip_ms(&v.public_key));
            }
            let actions = core.tick(now, self.pending);
            self.apply(actions);
        }
    }

    /// A quorum decided the current height on a block whose proposal never
    /// came here (a stalled link held it): fetch it committed from them
    /// now, rather than wait for the link or for peers' status polls.
    fn fetch_decided(&mut self, now: u64) {
        let Some(core) = &self.core else { return };
        let Some(holders) = core.decided_without_me() else {
            return;
        };
        let height = core.height();
        let asked = self
            .fetching
            .is_some_and(|(h, at)| h == height && now < at + REFETCH_DECIDED_MS);
        if !asked {
            tracing::debug!(height, "a block was decided without this node; fetching it");
            self.fetching = Some((height, now));
            self.network.fetch_decided(height, &holders);
        }
    }

    /// Sends transactions that have waited too long to peers again, in case
    /// the first gossip was lost.
    fn regossip(&mut self, now: u64) {
        if now < self.last_regossip_ms + REGOSSIP_AFTER_MS || self.pending == 0 {
            return;
        }
        self.last_regossip_ms = now;
        let stale = self
            .store
            .mempool_older_than(now.saturating_sub(REGOSSIP_AFTER_MS), MAX_REGOSSIP)
            .unwrap_or_else(|e| fatal("reading the mempool", e));
        if !stale.is_empty() {
            self.network.gossip(&stale);
        }
    }

    /// Carries out the core's actions in order; the actions a step yields
    /// run before the rest of the list.
    fn apply(&mut self, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let follow = self.apply_one(action);
            for a in follow.into_iter().rev() {
                queue.push_front(a);
            }
        }
        self.export_core_metrics();
    }

    fn apply_one(&mut self, action: Action) -> Vec<Action> {
        let now = self.now_ms();
        match action {
            Action::Persist(j) => {
                if let Err(e) = self.store.save_consensus_state(&j) {
                    fatal("persisting the consensus journal", e);
                }
                Vec::new()
            }
            Action::Broadcast(m) => {
                tracing::debug!(kind = ?m.kind(), height = m.height(), round = m.round(), "consensus message out");
                self.network.broadcast(&m);
                Vec::new()
            }
            Action::RequestProposal { height, round } => {
                let limit = self.core.as_ref().map_or(0, Core::proposal_limit);
                let txs = self.select_txs(now, limit);
                match self.core.as_mut() {
                    Some(core) => core.propose(height, round, txs, now),
                    None => Vec::new(),
                }
            }
            Action::Commit(block) => self.commit(*block, now),
            Action::RoundChanged(s) => {
                let rounds: Vec<String> = s
                    .validator_rounds
                    .iter()
                    .map(|(k, r)| match r {
                        Some(r) => format!("{}…={r}", &k.to_hex()[..10]),
                        None => format!("{}…=?", &k.to_hex()[..10]),
                    })
                    .collect();
                tracing::info!(
                    height = s.height,
                    from = s.from_round,
                    to = s.to_round,
                    reason = s.reason.as_str(),
                    validators = rounds.join(" "),
                    "round change"
                );
                Vec::new()
            }
            Action::Equivocation(e) => {
                tracing::warn!(
                    validator = %e.first.sender(),
                    height = e.first.height(),
                    round = e.first.round(),
                    "equivocation: a validator signed two different messages"
                );
                Vec::new()
            }
        }
    }

    /// Up to `limit` valid transactions for a block at `now`, oldest first;
    /// invalid ones leave the mempool with the reason recorded.
    fn select_txs(&mut self, now: u64, limit: u64) -> Vec<SignedTx> {
        let at = now.max(self.status.read().expect("status").head_timestamp_ms);
        let candidates = match self.store.mempool_take(limit) {
            Ok(c) => c,
            Err(e) => fatal("reading the mempool", e),
        };
        let mut in_block = InBlock::default();
        let mut keep = Vec::with_capacity(candidates.len());
        for (hash, stx) in candidates {
            match self.admissible(&stx, &hash, at, &mut in_block) {
                Ok(()) => keep.push(stx),
                // The store failed to answer: nothing is known about the
                // ballot, which must not be rejected for it.
                Err(LedgerError::Lookup(e)) => fatal_lookup("checking a ballot to propose", &e),
                Err(err) => self.reject(&hash, &err, now),
            }
        }
        keep
    }

    /// `hash` is the mempool's: it was computed when the transaction came in.
    /// The rules are the block's (`check_block_txs`): its own, then those
    /// between it, the block so far and the chain.
    fn admissible(
        &self,
        stx: &SignedTx,
        hash: &Hash32,
        at: u64,
        in_block: &mut InBlock,
    ) -> Result<(), LedgerError> {
        let known = self.verified.contains(hash, &stx.signature);
        let h = Some(*hash);
        crate::ledger::tx::check_tx_hashed(&self.genesis, &self.chain_id, stx, h, at, known)?;
        let height = self.status.read().expect("status").height + 1;
        let (g, id) = (&self.genesis, &self.chain_id);
        in_block.admit(g, id, (height, at), stx, *hash, &self.store)
    }

    fn reject(&mut self, hash: &Hash32, err: &LedgerError, now: u64) {
        tracing::info!(tx = %hash, reason = %err, "transaction rejected");
        if let Err(e) = self.store.mempool_reject(hash, err, now) {
            fatal("recording a rejected transaction", e);
        }
        self.pending = self.pending.saturating_sub(1);
        Counters::add(&self.counters.txs_rejected, 1);
    }

    fn commit(&mut self, block: Block, now: u64) -> Vec<Action> {
        if let Err(e) = self.store.append_block(&block, now) {
            fatal("storing a decided block", e);
        }
        self.count_committed(&block, now);
        tracing::debug!(height = block.header.height, txs = block.transactions.len(), hash = %block.block_hash, "block committed");
        self.after_commit(&block, now)
    }

    fn count_committed(&self, block: &Block, now: u64) {
        let c = &self.counters;
        Counters::add(&c.blocks_committed, 1);
        Counters::add(&c.votes_committed, block.transactions.len() as u64);
        for stx in &block.transactions {
            if let Some(b) = stx.tx.as_ballot() {
                c.commit_latency
                    .observe(now.saturating_sub(b.submitted_at_ms));
            }
        }
    }

    /// The head moved to `block`: refresh what depends on it and let the
    /// core start the next height.
    fn after_commit(&mut self, block: &Block, now: u64) -> Vec<Action> {
        self.pending = self
            .store
            .mempool_len()
            .unwrap_or_else(|e| fatal("counting the mempool", e));
        self.last_commit_ms = now;
        self.fallback.committed(now, self.pending);
        let head = crate::ledger::Parent {
            height: block.header.height,
            hash: block.block_hash,
            timestamp_ms: block.header.timestamp_ms,
        };
        {
            let mut s = self.status.write().expect("status");
            s.height = head.height;
            s.head_hash = head.hash;
            s.head_timestamp_ms = head.timestamp_ms;
        }
        let view = StoreView::of(&self.store, &self.genesis, &self.chain_id, &self.verified);
        match self.core.as_mut() {
            Some(core) => core.on_new_head(head, now, &view),
            None => Vec::new(),
        }
    }

    fn export_core_metrics(&self) {
        if let Some(core) = &self.core {
            let m = core.metrics();
            let c = &self.counters;
            c.round_changes.store(m.round_changes, Ordering::Relaxed);
            c.equivocations.store(m.equivocations, Ordering::Relaxed);
            *c.dropped.write().expect("dropped") = m.dropped.clone();
        }
    }

    /// The head in the status is set where the head moves
    /// ([`Driver::after_commit`]); the rest is refreshed here.
    fn publish_status(&mut self) {
        let finalized = self.finalized_height(self.status.read().expect("status").height);
        let mut s = self.status.write().expect("status");
        s.round = self.core.as_ref().map_or(0, Core::round);
        s.mempool = self.pending;
        s.last_commit_ms = self.last_commit_ms;
        s.fallback = self.fallback.active.clone();
        s.finalized_height = finalized;
    }

    /// The highest height that at least Q validators hold, from this
    /// node's own head (if it validates) and its peers' last reports.
    fn finalized_height(&self, own: u64) -> u64 {
        let mut heads: Vec<u64> = Vec::new();
        if self.core.is_some() {
            heads.push(own);
        }
        for p in self.network.peer_heads() {
            if self.genesis.is_validator(&p.node_id) {
                heads.push(p.height.min(own));
            }
        }
        heads.sort_unstable_by(|a, b| b.cmp(a));
        heads.get(self.genesis.quorum() - 1).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::genesis::fixtures::genesis;
    use crate::ledger::tx::fixtures::ballot;
    use crate::ledger::validate::fixtures::committed_block;
    use crate::node::verified::VerifiedCache;

    fn check(
        store: &crate::store::Store,
        g: &Genesis,
        cache: &VerifiedCache,
        block: &Block,
    ) -> Result<(), LedgerError> {
        let view = StoreView {
            store,
            genesis: g,
            chain_id: &g.chain_id().unwrap(),
            verified: cache,
        };
        let hashes = crate::ledger::block::tx_hashes(&block.transactions)?;
        view.check_contents(block, &hashes)
    }

    #[test]
    fn a_checked_proposal_is_remembered_and_a_refused_one_is_not() {
        let g = genesis(3);
        let mut store = crate::store::Store::open_in_memory().unwrap();
        store.init_genesis(&g).unwrap();
        let parent = store.head().unwrap().as_parent();
        let txs = vec![ballot(&g, 1, 1, 1), ballot(&g, 1, 2, 2)];
        let cache = VerifiedCache::default();

        // The same voter twice: the block is refused, nothing is remembered.
        let twice = committed_block(&g, &parent, vec![txs[0].clone(), ballot(&g, 2, 1, 2)]);
        let refused = check(&store, &g, &cache, &twice).unwrap_err();
        assert!(
            matches!(refused, LedgerError::DuplicateNullifier { .. }),
            "{refused}"
        );
        for stx in &twice.transactions {
            assert!(!cache.contains(&stx.tx.hash().unwrap(), &stx.signature));
        }

        let block = committed_block(&g, &parent, txs);
        check(&store, &g, &cache, &block).unwrap();
        for stx in &block.transactions {
            assert!(cache.contains(&stx.tx.hash().unwrap(), &stx.signature));
        }
    }
}
