//! The QBFT state machine of one validator.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::journal::{Journal, Locked};
use super::messages::{
    Justification, Message, MessageType, Proposal, RoundChange, RoundChangeStatement,
    RoundChangeType, SignedRoundChange, SignedVote, check_certificate,
};
use super::round::{RoundState, Slot, slot_for};
use super::{
    Action, Equivocation, HEIGHTS_TIMED, MAX_EVIDENCE, MAX_FUTURE_HEIGHTS, MAX_FUTURE_MESSAGES,
    MAX_FUTURE_ROUNDS, RoundChangeReason, RoundSummary, adaptive_base_timeout, round_timeout,
};
use crate::ledger::validate::check_header;
use crate::ledger::{
    Block, Genesis, Hash32, LedgerError, NodeKey, Parent, PublicKey, SignedTx, Vote, VoteKind,
};

/// What the core needs to know about the chain beyond the parent header:
/// whether a block's transactions are valid on top of it.
pub trait ChainView {
    /// `tx_hashes` are the block's transactions' hashes, checked against
    /// its header's root ([`check_header`] computed them).
    fn check_contents(&self, block: &Block, tx_hashes: &[Hash32]) -> Result<(), LedgerError>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    pub accepted: u64,
    pub dropped: BTreeMap<&'static str, u64>,
    pub equivocations: u64,
    pub round_changes: u64,
    pub commits: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub height: u64,
    pub round: u64,
    pub locked_round: Option<u64>,
    pub proposer: PublicKey,
}

pub struct Core {
    genesis: Arc<Genesis>,
    chain_id: Hash32,
    key: Arc<NodeKey>,
    quorum: usize,
    /// f + 1, the number of validators of which at least one is honest.
    weak_quorum: usize,
    height: u64,
    parent: Parent,
    round: u64,
    /// When the current round times out; `None` while round 0 waits for
    /// something to propose.
    deadline: Option<u64>,
    /// Set once the height is decided; nothing more happens until the new head.
    decided: bool,
    rounds: BTreeMap<u64, RoundState>,
    locked: Option<Locked>,
    /// What this validator sent at the current height and round.
    sent: Vec<Message>,
    /// Sent before a restart (from the journal) and not yet broadcast
    /// again: nobody knows which peers got them.
    unsent_since_restart: bool,
    requested: Option<u64>,
    future: Vec<Message>,
    seen_rounds: BTreeMap<PublicKey, u64>,
    evidence: Vec<Equivocation>,
    metrics: Metrics,
    /// The round trip to each other validator, as the network measured it.
    round_trips: BTreeMap<PublicKey, u64>,
    /// When round 0 of this height started here (its timer), if it did.
    round_zero_started_ms: Option<u64>,
    /// How long the last heights decided in round 0 took from that start.
    height_times: VecDeque<u64>,
    /// The most transactions this validator's next fresh proposal holds
    /// ([`Core::proposal_limit`]).
    tx_limit: u64,
}

type Out = Vec<Action>;

impl Core {
    /// A validator's core at the height above `head`, resuming from the
    /// journal when it belongs to that height. `chain_id` is the genesis'
    /// hash ([`Genesis::chain_id`]), which the caller has already computed:
    /// a genesis with its roll is large, and a node that restarts often
    /// (the simulator's) should not hash it again each time.
    pub fn new(
        genesis: Arc<Genesis>,
        chain_id: Hash32,
        key: Arc<NodeKey>,
        head: Parent,
        now_ms: u64,
        journal: Option<Journal>,
    ) -> Result<Self, LedgerError> {
        if !genesis.is_validator(&key.public()) {
            return Err(LedgerError::Key(
                "this node's key is not a validator".into(),
            ));
        }
        let n = genesis.validator_count();
        let tx_limit = genesis.params.max_block_txs;
        let mut core = Self {
            chain_id,
            quorum: genesis.quorum(),
            weak_quorum: (n - 1) / 3 + 1,
            genesis,
            key,
            height: head.height + 1,
            parent: head,
            round: 0,
            deadline: None,
            decided: false,
            rounds: BTreeMap::new(),
            locked: None,
            sent: Vec::new(),
            unsent_since_restart: false,
            requested: None,
            future: Vec::new(),
            seen_rounds: BTreeMap::new(),
            evidence: Vec::new(),
            metrics: Metrics::default(),
            round_trips: BTreeMap::new(),
            round_zero_started_ms: None,
            height_times: VecDeque::with_capacity(HEIGHTS_TIMED),
            tx_limit,
        };
        if let Some(j) = journal.filter(|j| j.height == core.height) {
            core.restore(j, now_ms);
        }
        Ok(core)
    }

    fn restore(&mut self, j: Journal, now_ms: u64) {
        self.round = j.round;
        if let Some(l) = &j.locked {
            let p = Proposal {
                block: l.block.clone(),
                justification: None,
            };
            self.round_mut(l.round).proposal = Some(p);
        }
        self.locked = j.locked;
        for m in &j.sent {
            self.record_own(m);
        }
        self.sent = j.sent;
        self.unsent_since_restart = !self.sent.is_empty();
        if self.round > 0 || !self.sent.is_empty() {
            self.start_timer(now_ms);
        }
    }

    pub fn height(&self) -> u64 {
        self.height
    }

    pub fn round(&self) -> u64 {
        self.round
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn evidence(&self) -> &[Equivocation] {
        &self.evidence
    }

    pub fn status(&self) -> Status {
        Status {
            height: self.height,
            round: self.round,
            locked_round: self.locked.as_ref().map(|l| l.round),
            proposer: *self.genesis.proposer(self.height, self.round),
        }
    }

    /// When the driver must call [`Core::tick`] next, at the latest, with
    /// `pending_txs` waiting: the round's timeout, the start of round 0
    /// (the block period after the parent's timestamp with transactions
    /// waiting, the heartbeat without), or at once after a restart (its journal's
    /// messages go out again). `None` once the height is decided: only the
    /// new head moves it on.
    pub fn next_deadline(&self, pending_txs: u64) -> Option<u64> {
        if self.decided {
            return None;
        }
        let p = &self.genesis.params;
        let round_zero = (self.round == 0 && self.deadline.is_none()).then(|| {
            let period = if pending_txs > 0 {
                p.block_period_ms
            } else {
                p.empty_block_period_ms
            };
            self.parent.timestamp_ms + period
        });
        // After a restart the first tick broadcasts the journal's messages
        // (the parent's time is past: at once).
        let restarted = self
            .unsent_since_restart
            .then_some(self.parent.timestamp_ms);
        [self.deadline, round_zero, restarted]
            .into_iter()
            .flatten()
            .min()
    }

    /// The validators that sent a quorum of COMMITs at the current height
    /// for a block this core never got (its proposal went missing on the
    /// way): the block is decided without it, and those validators hold
    /// it. The driver fetches it committed instead of waiting.
    pub fn decided_without_me(&self) -> Option<Vec<PublicKey>> {
        if self.decided {
            return None;
        }
        self.rounds.values().find_map(|rs| {
            let mut by_hash: BTreeMap<&Hash32, Vec<PublicKey>> = BTreeMap::new();
            for c in rs.commits.values() {
                by_hash
                    .entry(&c.vote.block_hash)
                    .or_default()
                    .push(c.sender);
            }
            let held = rs.proposal_hash();
            by_hash
                .into_iter()
                .find(|(hash, senders)| {
                    senders.len() >= self.quorum && held.as_ref() != Some(*hash)
                })
                .map(|(_, senders)| senders)
        })
    }

    fn timeout(&self) -> u64 {
        round_timeout(self.base_timeout(), self.round)
    }

    /// A round trip to `validator` as the network measures it (an input of
    /// the round timeout; a validator's own measurement, never sent).
    pub fn note_round_trip(&mut self, validator: &PublicKey, rtt_ms: u64) {
        if validator != &self.me() && self.genesis.is_validator(validator) {
            self.round_trips.insert(*validator, rtt_ms);
        }
    }

    /// Round 0's timeout now ([`adaptive_base_timeout`]): from the round
    /// trip to the validator that completes this node's quorum (the
    /// (Q-1)-th nearest other validator) and the median time of the last
    /// heights decided in round 0.
    pub fn base_timeout(&self) -> u64 {
        let mut rtts: Vec<u64> = self.round_trips.values().copied().collect();
        rtts.sort_unstable();
        let quorum_rtt = self
            .quorum
            .checked_sub(2)
            .and_then(|k| rtts.get(k).copied());
        let mut times: Vec<u64> = self.height_times.iter().copied().collect();
        times.sort_unstable();
        let recent = times.get(times.len() / 2).copied();
        adaptive_base_timeout(self.genesis.params.round_timeout_ms, quorum_rtt, recent)
    }

    /// Sets the round's timer, noting when round 0's started.
    fn start_timer(&mut self, now_ms: u64) {
        if self.round == 0 && self.round_zero_started_ms.is_none() {
            self.round_zero_started_ms = Some(now_ms);
        }
        self.deadline = Some(now_ms + self.timeout());
    }

    fn me(&self) -> PublicKey {
        self.key.public()
    }

    fn is_proposer(&self, round: u64) -> bool {
        self.genesis.proposer(self.height, round) == &self.me()
    }

    fn round_mut(&mut self, round: u64) -> &mut RoundState {
        self.rounds.entry(round).or_default()
    }

    fn sent_kind(&self, kind: MessageType) -> bool {
        self.sent.iter().any(|m| m.kind() == kind)
    }

    fn drop_msg(&mut self, reason: &'static str) {
        *self.metrics.dropped.entry(reason).or_default() += 1;
    }

    /// Round 0 starts (its timer runs, its proposer proposes) once there is
    /// something to propose and the block period has passed since the
    /// parent's timestamp, or the heartbeat is due. Counted from the
    /// parent's time, not from this node's commit of it: blocks follow each
    /// other every block period however long their commits take to reach
    /// everyone (a wide-area network's three message delays), not every
    /// block period plus those.
    fn proposal_due(&self, now_ms: u64, pending_txs: u64) -> bool {
        let p = &self.genesis.params;
        let since = now_ms.saturating_sub(self.parent.timestamp_ms);
        (pending_txs > 0 && since >= p.block_period_ms) || since >= p.empty_block_period_ms
    }

    /// Time passes: start round 0, propose, expire the round. Nothing is
    /// sent again on a timer: the network delivers each message until the
    /// peer acknowledges it, and sends the current ones again to a peer that
    /// may have lost them. Only after a restart does the core broadcast
    /// again what its journal says it sent, once, at its first tick.
    pub fn tick(&mut self, now_ms: u64, pending_txs: u64) -> Out {
        let mut out = Vec::new();
        if self.decided {
            return out;
        }
        if std::mem::take(&mut self.unsent_since_restart) {
            out.extend(
                self.sent
                    .iter()
                    .map(|m| Action::Broadcast(Box::new(m.clone()))),
            );
        }
        if self.round == 0 && self.proposal_due(now_ms, pending_txs) {
            if self.deadline.is_none() {
                self.start_timer(now_ms);
            }
            if self.is_proposer(0) && !self.sent_kind(MessageType::Proposal) {
                self.request_proposal(0, &mut out);
            }
        }
        if self.deadline.is_some_and(|d| now_ms >= d) {
            self.advance_round(self.round + 1, RoundChangeReason::Timeout, now_ms, &mut out);
        }
        out
    }

    fn request_proposal(&mut self, round: u64, out: &mut Out) {
        if self.requested != Some(round) {
            self.requested = Some(round);
            out.push(Action::RequestProposal {
                height: self.height,
                round,
            });
        }
    }

    /// The most transactions a fresh proposal of this validator holds now
    /// (ARCHITECTURE.md, "Blocks that fit the link"): the genesis'
    /// `max_block_txs`, halved with every round change, doubled again (up
    /// to `max_block_txs`) with every height reached without one. A round
    /// most often fails because its proposal did not reach a quorum in
    /// time: on a thin uplink a block of a backlog takes longer to send to
    /// every validator than the round lasts, and the next proposer's block
    /// of the same backlog would fail the same way. Round r waits 2^r times
    /// longer for a block at most 2^-r as large, so some round's fresh
    /// block fits what the link carries; and the heights after it grow the
    /// blocks back one doubling at a time rather than sending the whole
    /// backlog again at once. A block
    /// prepared in an earlier round is proposed again whole (qbft.md).
    pub fn proposal_limit(&self) -> u64 {
        self.tx_limit
    }

    /// The driver answers [`Action::RequestProposal`] with valid
    /// transactions, at most [`Core::proposal_limit`] of them (more are
    /// left out, the oldest kept).
    pub fn propose(&mut self, height: u64, round: u64, mut txs: Vec<SignedTx>, now_ms: u64) -> Out {
        let mut out = Vec::new();
        let stale = height != self.height || round != self.round || self.decided;
        if stale || self.sent_kind(MessageType::Proposal) || !self.is_proposer(round) {
            return out;
        }
        let justification = if round > 0 {
            match self.fresh_justification(round) {
                Some(j) => Some(j),
                None => return out,
            }
        } else {
            None
        };
        txs.truncate(usize::try_from(self.tx_limit).unwrap_or(usize::MAX));
        let timestamp = now_ms.max(self.parent.timestamp_ms);
        let block = Block::propose(
            self.chain_id,
            height,
            round,
            self.parent.hash,
            timestamp,
            txs,
            &self.key,
        )
        .expect("own proposal encodes");
        self.send_proposal(
            Proposal {
                block,
                justification,
            },
            now_ms,
            &mut out,
        );
        out
    }

    fn send_proposal(&mut self, p: Proposal, now_ms: u64, out: &mut Out) {
        self.send(Message::Proposal(p.clone()), out);
        self.accept_proposal(p, now_ms, out);
    }

    /// The justification for a fresh block at `round`: Q ROUND-CHANGEs, none prepared.
    fn fresh_justification(&self, round: u64) -> Option<Justification> {
        let rcs = &self.rounds.get(&round)?.round_changes;
        let prepared = rcs.values().any(|rc| rc.prepared_block.is_some());
        (rcs.len() >= self.quorum && !prepared).then(|| Justification {
            round_changes: rcs.values().map(|rc| rc.signed.clone()).collect(),
            prepared_certificate: Vec::new(),
        })
    }

    /// The chain moved to `head` (the block this core decided, now stored,
    /// or blocks synced from a peer): start the next height and replay the
    /// messages buffered for it.
    pub fn on_new_head(&mut self, head: Parent, now_ms: u64, chain: &dyn ChainView) -> Out {
        let mut out = Vec::new();
        if head.height < self.height {
            return out;
        }
        if self.decided
            && self.round == 0
            && let Some(started) = self.round_zero_started_ms
        {
            if self.height_times.len() == HEIGHTS_TIMED {
                self.height_times.pop_front();
            }
            self.height_times.push_back(now_ms.saturating_sub(started));
        }
        if self.round == 0 {
            let most = self.genesis.params.max_block_txs;
            self.tx_limit = self.tx_limit.saturating_mul(2).min(most);
        }
        self.round_zero_started_ms = None;
        self.height = head.height + 1;
        self.parent = head;
        self.round = 0;
        self.deadline = None;
        self.decided = false;
        self.rounds.clear();
        self.locked = None;
        self.sent.clear();
        self.unsent_since_restart = false;
        self.requested = None;
        self.seen_rounds.clear();
        let buffered = std::mem::take(&mut self.future);
        for m in buffered {
            if m.height() >= self.height {
                out.extend(self.handle(m, now_ms, chain));
            }
        }
        out
    }

    /// A consensus message from the network.
    pub fn handle(&mut self, msg: Message, now_ms: u64, chain: &dyn ChainView) -> Out {
        let mut out = Vec::new();
        if let Err(reason) = self.admit(&msg) {
            self.drop_msg(reason);
            return out;
        }
        if msg.height() > self.height {
            if self.future.len() >= MAX_FUTURE_MESSAGES {
                self.drop_msg("future_buffer_full");
            } else {
                self.future.push(msg);
            }
            return out;
        }
        let sender = *msg.sender();
        let round = msg.round();
        let seen = self.seen_rounds.entry(sender).or_insert(round);
        *seen = (*seen).max(round);
        match msg {
            Message::Proposal(p) => self.on_proposal(p, now_ms, chain, &mut out),
            Message::Prepare(v) => self.on_vote(MessageType::Prepare, v, &mut out),
            Message::Commit(v) => self.on_vote(MessageType::Commit, v, &mut out),
            Message::RoundChange(rc) => self.on_round_change(rc, now_ms, &mut out),
        }
        out
    }

    /// The checks every message passes before it is looked at.
    fn admit(&self, msg: &Message) -> Result<(), &'static str> {
        if msg.chain_id() != &self.chain_id {
            return Err("wrong_chain");
        }
        if !self.genesis.is_validator(msg.sender()) {
            return Err("not_a_validator");
        }
        let h = msg.height();
        if h < self.height || (h == self.height && self.decided) {
            return Err("old_height");
        }
        if h > self.height + MAX_FUTURE_HEIGHTS {
            return Err("too_far_ahead");
        }
        if h == self.height && msg.round() > self.round + MAX_FUTURE_ROUNDS {
            return Err("too_far_ahead");
        }
        match msg.verify_signature() {
            Ok(true) => Ok(()),
            _ => Err("bad_signature"),
        }
    }

    fn on_proposal(&mut self, p: Proposal, now_ms: u64, chain: &dyn ChainView, out: &mut Out) {
        let round = p.block.header.round;
        if self.genesis.proposer(self.height, round) != &p.block.header.proposer {
            return self.drop_msg("wrong_proposer");
        }
        let existing = self.rounds.get(&round).and_then(|r| r.proposal.as_ref());
        match slot_for(existing.map(|e| &e.block.block_hash), &p.block.block_hash) {
            Slot::New => {}
            Slot::Duplicate => return self.drop_msg("duplicate"),
            Slot::Conflict => {
                let first = Message::Proposal(existing.cloned().expect("conflict has a first"));
                return self.record_equivocation(first, Message::Proposal(p), out);
            }
        }
        let valid = check_header(
            &self.genesis,
            &self.chain_id,
            &self.parent,
            &p.block,
            now_ms,
        )
        .and_then(|hashes| chain.check_contents(&p.block, &hashes));
        if valid.is_err() {
            return self.drop_msg("invalid_block");
        }
        if !self.justified(&p) {
            return self.drop_msg("invalid_justification");
        }
        self.metrics.accepted += 1;
        if round > self.round {
            self.round_mut(round).proposal = Some(p);
            self.advance_round(round, RoundChangeReason::Proposal, now_ms, out);
        } else {
            self.accept_proposal(p, now_ms, out);
        }
    }

    /// Stores a valid proposal; in the current round, PREPAREs it.
    fn accept_proposal(&mut self, p: Proposal, now_ms: u64, out: &mut Out) {
        let round = p.block.header.round;
        let hash = p.block.block_hash;
        self.round_mut(round).proposal = Some(p);
        if round == self.round {
            if self.deadline.is_none() {
                self.start_timer(now_ms);
            }
            self.prepare_current(hash, out);
        }
        self.try_progress(round, out);
    }

    fn prepare_current(&mut self, hash: Hash32, out: &mut Out) {
        if !self.sent_kind(MessageType::Prepare) {
            let vote = self.vote(VoteKind::Prepare, self.round, hash);
            self.send(Message::Prepare(vote), out);
        }
    }

    fn vote(&self, kind: VoteKind, round: u64, block_hash: Hash32) -> SignedVote {
        let vote = Vote {
            kind,
            chain_id: self.chain_id,
            height: self.height,
            round,
            block_hash,
        };
        let signature = self.key.sign_digest(&vote.digest().expect("vote encodes"));
        SignedVote {
            vote,
            sender: self.me(),
            signature,
        }
    }

    /// Round 0 needs no justification. Round r > 0 needs Q ROUND-CHANGEs for
    /// (h, r); if any was prepared, the block must be the one prepared in
    /// the highest round, proven by its certificate.
    fn justified(&self, p: &Proposal) -> bool {
        let h = &p.block.header;
        let Some(j) = &p.justification else {
            return h.round == 0;
        };
        if h.round == 0 || j.round_changes.len() > self.genesis.validator_count() {
            return false;
        }
        let mut senders: Vec<&PublicKey> = Vec::new();
        for rc in &j.round_changes {
            let s = &rc.statement;
            let ok = s.chain_id == self.chain_id
                && s.height == self.height
                && s.round == h.round
                && self.genesis.is_validator(&rc.sender)
                && !senders.contains(&&rc.sender)
                && rc.verify().unwrap_or(false);
            if !ok {
                return false;
            }
            senders.push(&rc.sender);
        }
        if senders.len() < self.quorum {
            return false;
        }
        let highest = j
            .round_changes
            .iter()
            .filter_map(|rc| {
                Some((
                    rc.statement.prepared_round?,
                    rc.statement.prepared_block_hash?,
                ))
            })
            .max_by_key(|(r, _)| *r);
        match highest {
            None => j.prepared_certificate.is_empty(),
            Some((pr, hash)) => {
                self.same_block_as_prepared(&p.block, &hash)
                    && self.certifies(pr, &hash, &j.prepared_certificate)
            }
        }
    }

    /// Whether `block`, re-proposed at a later round, is the block that was
    /// prepared with hash `hash`: a block's hash leaves out its round and
    /// proposer, so the re-proposal must carry the very same hash.
    fn same_block_as_prepared(&self, block: &Block, hash: &Hash32) -> bool {
        &block.block_hash == hash && block.header.hash().is_ok_and(|h| &h == hash)
    }

    fn on_vote(&mut self, kind: MessageType, v: SignedVote, out: &mut Out) {
        let round = v.vote.round;
        let rs = self.round_mut(round);
        let map = if kind == MessageType::Prepare {
            &mut rs.prepares
        } else {
            &mut rs.commits
        };
        match slot_for(map.get(&v.sender), &v) {
            Slot::New => {
                map.insert(v.sender, v);
                self.metrics.accepted += 1;
                self.try_progress(round, out);
            }
            Slot::Duplicate => self.drop_msg("duplicate"),
            Slot::Conflict => {
                let first = map[&v.sender].clone();
                let wrap = |x| match kind {
                    MessageType::Prepare => Message::Prepare(x),
                    _ => Message::Commit(x),
                };
                self.record_equivocation(wrap(first), wrap(v), out);
            }
        }
    }

    fn on_round_change(&mut self, rc: RoundChange, now_ms: u64, out: &mut Out) {
        let round = rc.signed.statement.round;
        if round == 0 || !self.round_change_carries_proof(&rc) {
            return self.drop_msg("invalid_round_change");
        }
        let sender = rc.signed.sender;
        let rs = self.round_mut(round);
        match slot_for(rs.round_changes.get(&sender).map(|x| &x.signed), &rc.signed) {
            Slot::New => {
                rs.round_changes.insert(sender, rc);
                self.metrics.accepted += 1;
            }
            Slot::Duplicate => return self.drop_msg("duplicate"),
            Slot::Conflict => {
                let first = Message::RoundChange(rs.round_changes[&sender].clone());
                return self.record_equivocation(first, Message::RoundChange(rc), out);
            }
        }
        if round > self.round
            && let Some(target) = self.jump_target()
        {
            self.advance_round(target, RoundChangeReason::Jump, now_ms, out);
        }
        self.maybe_propose_justified(now_ms, out);
    }

    /// A prepared ROUND-CHANGE must carry its block and Q PREPAREs for it.
    /// Whether `certificate` is a quorum's prepares of `hash` in `round`
    /// at this height.
    fn certifies(&self, round: u64, hash: &Hash32, certificate: &[SignedVote]) -> bool {
        let (g, chain) = (&self.genesis, &self.chain_id);
        check_certificate(g, chain, self.height, round, hash, certificate).unwrap_or(false)
    }

    fn round_change_carries_proof(&self, rc: &RoundChange) -> bool {
        let s = &rc.signed.statement;
        match (s.prepared_round, s.prepared_block_hash, &rc.prepared_block) {
            (None, None, None) => rc.prepared_certificate.is_empty(),
            (Some(pr), Some(hash), Some(block)) => {
                block.header.height == self.height
                    && block.header.round == pr
                    && block
                        .header
                        .hash()
                        .is_ok_and(|h| h == hash && block.block_hash == hash)
                    && self.certifies(pr, &hash, &rc.prepared_certificate)
            }
            _ => false,
        }
    }

    /// With f+1 validators in rounds above ours, the smallest round that
    /// f+1 of them have reached.
    fn jump_target(&self) -> Option<u64> {
        let mut highest: BTreeMap<PublicKey, u64> = BTreeMap::new();
        for (&round, rs) in self.rounds.range(self.round + 1..) {
            for sender in rs.round_changes.keys() {
                highest.insert(*sender, round);
            }
        }
        let mut rounds: Vec<u64> = highest.into_values().collect();
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        rounds.get(self.weak_quorum - 1).copied()
    }

    /// At round r > 0 with Q ROUND-CHANGEs, the proposer re-proposes the
    /// highest prepared block, or asks for a fresh one if none was prepared.
    fn maybe_propose_justified(&mut self, now_ms: u64, out: &mut Out) {
        let round = self.round;
        if round == 0 || !self.is_proposer(round) || self.sent_kind(MessageType::Proposal) {
            return;
        }
        let Some(rs) = self.rounds.get(&round) else {
            return;
        };
        if rs.round_changes.len() < self.quorum {
            return;
        }
        let highest = rs
            .round_changes
            .values()
            .filter(|rc| rc.prepared_block.is_some())
            .max_by_key(|rc| rc.signed.statement.prepared_round);
        let Some(highest) = highest else {
            return self.request_proposal(round, out);
        };
        let old = highest
            .prepared_block
            .as_ref()
            .expect("filtered on prepared_block");
        let block = Block::propose(
            self.chain_id,
            self.height,
            round,
            old.header.prev_hash,
            old.header.timestamp_ms,
            old.transactions.clone(),
            &self.key,
        )
        .expect("re-proposal encodes");
        let justification = Justification {
            round_changes: rs
                .round_changes
                .values()
                .map(|rc| rc.signed.clone())
                .collect(),
            prepared_certificate: highest.prepared_certificate.clone(),
        };
        self.send_proposal(
            Proposal {
                block,
                justification: Some(justification),
            },
            now_ms,
            out,
        );
    }

    /// Moves to a higher round: a new timer, a ROUND-CHANGE (unless a
    /// justified proposal brought us here), and whatever that round holds.
    fn advance_round(&mut self, to: u64, reason: RoundChangeReason, now_ms: u64, out: &mut Out) {
        assert!(to > self.round, "rounds only move forward");
        out.push(Action::RoundChanged(RoundSummary {
            height: self.height,
            from_round: self.round,
            to_round: to,
            reason,
            validator_rounds: self
                .genesis
                .validators
                .iter()
                .map(|v| (v.public_key, self.seen_rounds.get(&v.public_key).copied()))
                .collect(),
        }));
        self.metrics.round_changes += 1;
        self.tx_limit = (self.tx_limit / 2).max(1);
        self.round = to;
        self.start_timer(now_ms);
        self.sent.clear();
        self.unsent_since_restart = false;
        self.requested = None;
        if reason != RoundChangeReason::Proposal {
            let rc = self.round_change(to);
            self.send(Message::RoundChange(rc), out);
        }
        if let Some(hash) = self.rounds.get(&to).and_then(RoundState::proposal_hash) {
            self.prepare_current(hash, out);
            self.try_progress(to, out);
        }
        self.maybe_propose_justified(now_ms, out);
    }

    fn round_change(&self, round: u64) -> RoundChange {
        let statement = RoundChangeStatement {
            kind: RoundChangeType::RoundChange,
            chain_id: self.chain_id,
            height: self.height,
            round,
            prepared_round: self.locked.as_ref().map(|l| l.round),
            prepared_block_hash: self.locked.as_ref().map(|l| l.block.block_hash),
        };
        let signature = self
            .key
            .sign_digest(&statement.digest().expect("round change encodes"));
        RoundChange {
            signed: SignedRoundChange {
                statement,
                sender: self.me(),
                signature,
            },
            prepared_block: self.locked.as_ref().map(|l| l.block.clone()),
            prepared_certificate: self
                .locked
                .as_ref()
                .map(|l| l.certificate.clone())
                .unwrap_or_default(),
        }
    }

    /// Q PREPAREs in the current round lock the block and send a COMMIT;
    /// Q COMMITs in any round of this height decide it.
    fn try_progress(&mut self, round: u64, out: &mut Out) {
        let Some(rs) = self.rounds.get(&round) else {
            return;
        };
        let Some(hash) = rs.proposal_hash() else {
            return;
        };
        if round == self.round
            && self.sent_kind(MessageType::Prepare)
            && !self.sent_kind(MessageType::Commit)
        {
            let cert: Vec<SignedVote> = RoundState::votes_for(&rs.prepares, &hash)
                .cloned()
                .collect();
            if cert.len() >= self.quorum {
                let block = rs.proposal.as_ref().expect("has proposal").block.clone();
                self.locked = Some(Locked {
                    round,
                    block,
                    certificate: cert,
                });
                let commit = self.vote(VoteKind::Commit, round, hash);
                self.send(Message::Commit(commit), out);
            }
        }
        self.try_decide(round, hash, out);
    }

    fn try_decide(&mut self, round: u64, hash: Hash32, out: &mut Out) {
        let rs = &self.rounds[&round];
        let order = |k: &PublicKey| self.genesis.validator_index(k);
        let mut seals: Vec<_> = RoundState::votes_for(&rs.commits, &hash)
            .map(|c| crate::ledger::CommitSeal {
                validator: c.sender,
                signature: c.signature,
            })
            .collect();
        if seals.len() < self.quorum {
            return;
        }
        seals.sort_by_key(|s| order(&s.validator));
        let mut block = rs.proposal.as_ref().expect("has proposal").block.clone();
        block.seals = seals;
        self.decided = true;
        self.deadline = None;
        self.metrics.commits += 1;
        out.push(Action::Commit(Box::new(block)));
    }

    /// Persists the journal, then broadcasts, then counts the message as
    /// received from ourselves.
    fn send(&mut self, msg: Message, out: &mut Out) {
        self.sent.push(msg.clone());
        out.push(Action::Persist(Box::new(Journal {
            height: self.height,
            round: self.round,
            locked: self.locked.clone(),
            sent: self.sent.clone(),
        })));
        out.push(Action::Broadcast(Box::new(msg.clone())));
        self.record_own(&msg);
    }

    fn record_own(&mut self, msg: &Message) {
        let me = self.me();
        let rs = self.round_mut(msg.round());
        match msg {
            Message::Proposal(p) => rs.proposal = Some(p.clone()),
            Message::Prepare(v) => {
                rs.prepares.insert(me, v.clone());
            }
            Message::Commit(v) => {
                rs.commits.insert(me, v.clone());
            }
            Message::RoundChange(rc) => {
                rs.round_changes.insert(me, rc.clone());
            }
        }
    }

    fn record_equivocation(&mut self, first: Message, second: Message, out: &mut Out) {
        self.metrics.equivocations += 1;
        let e = Equivocation { first, second };
        if self.evidence.len() < MAX_EVIDENCE {
            self.evidence.push(e.clone());
        }
        out.push(Action::Equivocation(Box::new(e)));
    }
}
