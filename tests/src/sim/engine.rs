//! The event loop: one thread, virtual time, every choice drawn from one
//! seeded PRNG, so that a seed replays the same run exactly.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::fmt;
use std::sync::Arc;

use evote_core::consensus::{
    Action, Core, Journal, Message, MessageType, adaptive_base_timeout, round_timeout,
};
use evote_core::ledger::validate::check_committed_block;
use evote_core::ledger::{
    Block, BlockHeader, Hash32, Params, PublicKey, Signature, SignedTx, verify,
};

use super::net::{Latency, Links, NOTICE_MS, RoundTrips, UNMEASURED_RTT_MS, Wire, retry_wait};
use super::node::{Entry, Node, View, short};
use super::rng::Rng;
use super::world::{START_MS, World};

/// What a run does; [`Config::standard`] is what the test suite runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Length of the safety phase (virtual ms), drawn per seed in this range.
    pub safety_ms: (u64, u64),
    /// Highest message drop rate a fault may set.
    pub max_drop: f64,
    /// Highest message duplication rate a fault may set.
    pub max_dup: f64,
    /// Probability of a crash before each action a node carries out.
    pub action_crash_p: f64,
    /// Time between fault decisions (virtual ms), drawn in this range.
    pub fault_every_ms: (u64, u64),
    /// Whether one validator (n >= 4 only) may lose its disk.
    pub wipes: bool,
    /// A deliberately broken driver that restarts its validators without
    /// their journals (and exempts them from the equivocation checks), to
    /// show that the safety checks catch what the amnesia leads to.
    pub forget_journal_on_restart: bool,
    /// Every link's delays (and stalls).
    pub latency: Latency,
    /// The chance, in the safety phase, that a message takes 200-3,000 ms
    /// whatever its link (a fault).
    pub long_delay_p: f64,
    /// Print every event.
    pub verbose: bool,
}

impl Config {
    pub fn standard() -> Self {
        Self {
            safety_ms: (8_000, 16_000),
            max_drop: 0.2,
            max_dup: 0.1,
            action_crash_p: 0.003,
            fault_every_ms: (200, 1_500),
            wipes: true,
            forget_journal_on_restart: false,
            latency: Latency::LAN,
            long_delay_p: 0.03,
            verbose: false,
        }
    }

    /// No faults at all, only the links' delays (and stalls, if `latency`
    /// has them): how the consensus copes with a wide-area network.
    pub fn wan(latency: Latency) -> Self {
        Self {
            max_drop: 0.0,
            max_dup: 0.0,
            action_crash_p: 0.0,
            fault_every_ms: (1 << 40, 1 << 40),
            wipes: false,
            latency,
            long_delay_p: 0.0,
            ..Self::standard()
        }
    }
}

/// The liveness bound, from the design, for the state the last fault left:
///
/// - The highest round any validator is in, r*, has a timer of at most
///   `round_timeout(base, r*)` (capped at [`MAX_ROUND_TIMEOUT_MS`], 60 s),
///   `base` the highest base timeout a validator chose or may choose on
///   these links (the adaptive rule, `adaptive_base_timeout`). With
///   everyone connected, the validators behind meet in one round within a
///   second or two (the peer layer delivers every ROUND-CHANGE, retrying a
///   failed call within 2 s, and sends the current ones again to a
///   validator that restarted; f+1 of them for
///   higher rounds make a validator jump). That round can still fail once,
///   if its proposer is the one validator already in a higher round (n = 4
///   jumps only on f+1 = 2); it times out within `round_timeout(r*)` and the
///   next round has another proposer, one that is in it. One wasted round,
///   counted twice for margin.
/// - A ballot that only one validator holds (its gossip was lost) waits for
///   that validator's turn to propose at round 0, and proposers with empty
///   mempools propose only at the heartbeat: up to n heartbeats.
/// - The backlog: a block of at most `max_block_txs` ballots per block
///   period plus four of the links' longest one-way delays, plus one
///   second of room.
/// - [`LIVENESS_SLACK_MS`] for syncing and ticks.
///
/// With r* at the cap this is 2 min plus the rest.
///
/// [`MAX_ROUND_TIMEOUT_MS`]: evote_core::consensus::MAX_ROUND_TIMEOUT_MS
pub fn liveness_bound(
    params: &Params,
    n: usize,
    (base_ms, longest_one_way_ms): (u64, u64),
    highest_round: u64,
    backlog: usize,
) -> u64 {
    let blocks = backlog.div_ceil(params.max_block_txs as usize) as u64;
    let per_block = params.block_period_ms + 4 * longest_one_way_ms + 1_000;
    2 * round_timeout(base_ms, highest_round)
        + n as u64 * params.empty_block_period_ms
        + blocks * per_block
        + LIVENESS_SLACK_MS
}

/// See [`liveness_bound`].
pub const LIVENESS_SLACK_MS: u64 = 5_000;

/// A run that takes more events than this is stuck in a loop.
const MAX_EVENTS: u64 = 20_000_000;

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub seed: u64,
    pub n: usize,
    pub safety_ms: u64,
    /// From the start of the liveness phase to convergence.
    pub liveness_ms: u64,
    /// The highest round a validator was in when the liveness phase began.
    pub liveness_round: u64,
    /// This run's [`liveness_bound`].
    pub liveness_bound_ms: u64,
    /// Accepted votes not yet committed anywhere when the liveness phase began.
    pub liveness_backlog: usize,
    pub height: u64,
    pub max_round: u64,
    pub round_changes: u64,
    pub crashes: u64,
    pub crashes_between_actions: u64,
    pub wipes: u64,
    pub partitions: u64,
    pub votes_submitted: u64,
    pub votes_accepted: u64,
    pub double_votes_accepted: u64,
    pub messages_sent: u64,
    pub messages_dropped: u64,
    pub blocks_synced: u64,
    /// Stalls that began on any link during the run.
    pub stalls: u64,
    pub events: u64,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    pub n: usize,
    /// Virtual time since the start of the run.
    pub at_ms: u64,
    pub message: String,
    /// The command that replays the run, event by event.
    pub replay: String,
}

/// The command that replays `seed` for `n` validators under `cfg`.
pub fn replay_command(seed: u64, n: usize, cfg: &Config) -> String {
    let standard = Config::standard();
    let safety = if cfg.safety_ms == standard.safety_ms {
        String::new()
    } else {
        format!(
            "EVOTE_SIM_SAFETY_S={}-{} ",
            cfg.safety_ms.0 / 1000,
            cfg.safety_ms.1 / 1000
        )
    };
    let l = cfg.latency;
    let wan = match (l == Latency::LAN, l.stall_every_ms) {
        (true, _) => String::new(),
        (false, None) => format!("EVOTE_SIM_WAN={},{} ", l.one_way_ms, l.jitter_ms),
        (false, Some((lo, hi))) => {
            format!("EVOTE_SIM_WAN={},{},{lo}-{hi} ", l.one_way_ms, l.jitter_ms)
        }
    };
    format!(
        "{safety}{wan}EVOTE_SIM_SEED={seed} EVOTE_SIM_N={n} cargo test -p evote-tests --test simulator -- --nocapture --exact replay"
    )
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulation failed: seed {} n={} at t={} ms: {}\n  replay: {}",
            self.seed, self.n, self.at_ms, self.message, self.replay
        )
    }
}

/// Runs one seed to the end; the first violated property is the error.
pub fn run(world: &World, cfg: &Config, seed: u64) -> Result<Outcome, Failure> {
    let mut sim = Sim::new(world, cfg, seed);
    match sim.run() {
        Ok(()) => Ok(sim.out),
        Err(message) => {
            if cfg.verbose {
                println!("FAILURE: {message}");
            }
            Err(Failure {
                seed,
                n: world.n,
                at_ms: sim.now - START_MS,
                message,
                replay: replay_command(seed, world.n, cfg),
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Safety,
    Liveness,
}

enum Event {
    Tick(usize),
    /// A consensus message arrives; `incarnation` is its sender's when it
    /// was sent (a sender that crashed since no longer tries it again).
    Deliver {
        from: usize,
        to: usize,
        msg: Arc<Message>,
        incarnation: u64,
        attempt: u32,
    },
    /// The sender's peer layer sends a message again: the last call failed,
    /// or the peer may have lost it.
    Resend {
        from: usize,
        to: usize,
        msg: Arc<Message>,
        incarnation: u64,
        attempt: u32,
    },
    DeliverTx {
        from: usize,
        to: usize,
        vote: usize,
    },
    SyncProbe(usize),
    SyncReply {
        from: usize,
        to: usize,
        blocks: Vec<Block>,
    },
    Restart {
        node: usize,
        incarnation: u64,
    },
    Fault,
    Votes,
    LivenessStart,
    Check,
}

struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A vote of the run.
struct VoteRec {
    stx: Arc<SignedTx>,
    hash: Hash32,
    nullifier: (u64, Hash32),
    accepted: bool,
    /// Gossip copies of it on the wire.
    in_flight: u32,
    /// It sat in the mempool of a validator that lost its disk.
    touched_by_wipe: bool,
}

/// What a validator said for one (type, height, round); a second, different
/// statement is equivocation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Said {
    Block(Hash32),
    RoundChange(Option<u64>, Option<Hash32>),
}

struct Sim<'w> {
    world: &'w World,
    cfg: &'w Config,
    seed: u64,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: Vec<Node>,
    /// links[from][to]: whether a message from `from` reaches `to`.
    links: Vec<Vec<bool>>,
    drop_rate: f64,
    dup_rate: f64,
    /// Every link's delays and stalls.
    paths: Links,
    /// What each validator's peer layer holds.
    wire: Wire,
    /// Each validator's last round trips to each other one.
    round_trips: RoundTrips,
    /// A heal before this time leaves the partition in place.
    partition_until: u64,
    phase: Phase,
    safety_end: u64,
    liveness_deadline: u64,
    /// The node that may lose its disk (n >= 4 only).
    wipe_node: Option<usize>,
    votes: Vec<VoteRec>,
    /// The next fresh voter of the world's pool.
    next_voter: usize,
    required: Vec<(u64, Hash32)>,
    /// The first block committed at each height (index height-1), by whom.
    canonical: Vec<(Hash32, usize, BlockHeader)>,
    said: BTreeMap<(usize, MessageType, u64, u64), Said>,
    verified_seals: BTreeSet<(Hash32, PublicKey, Signature)>,
    done: bool,
    out: Outcome,
}

impl<'w> Sim<'w> {
    fn new(world: &'w World, cfg: &'w Config, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let n = world.n;
        let nodes = world
            .keys
            .iter()
            .map(|k| Node::new(k.clone(), rng.range(0, 300)))
            .collect();
        let safety_ms = rng.range(cfg.safety_ms.0, cfg.safety_ms.1);
        let wipe_node = (cfg.wipes && n >= 4).then(|| rng.index(n));
        Self {
            world,
            cfg,
            seed,
            rng,
            now: START_MS,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            links: vec![vec![true; n]; n],
            drop_rate: 0.0,
            dup_rate: 0.0,
            paths: Links::new(cfg.latency, n, seed, START_MS),
            wire: Wire::new(n),
            round_trips: RoundTrips::new(n),
            partition_until: 0,
            phase: Phase::Safety,
            safety_end: START_MS + safety_ms,
            liveness_deadline: u64::MAX,
            wipe_node,
            votes: Vec::new(),
            next_voter: 0,
            required: Vec::new(),
            canonical: Vec::new(),
            said: BTreeMap::new(),
            verified_seals: BTreeSet::new(),
            done: false,
            out: Outcome {
                seed,
                n,
                safety_ms,
                ..Outcome::default()
            },
        }
    }

    fn n(&self) -> usize {
        self.world.n
    }

    fn trace(&self, f: impl FnOnce() -> String) {
        if self.cfg.verbose {
            println!("[{:>7}] {}", self.now - START_MS, f());
        }
    }

    fn schedule(&mut self, after_ms: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at: self.now + after_ms,
            seq: self.seq,
            event,
        }));
    }

    /// A node's own clock.
    fn clock(&self, i: usize) -> u64 {
        self.now + self.nodes[i].skew_ms
    }

    fn run(&mut self) -> Result<(), String> {
        self.trace(|| {
            format!(
                "seed {} n={} safety phase {} ms, wipe node {:?}, skews {:?}",
                self.seed,
                self.n(),
                self.out.safety_ms,
                self.wipe_node,
                self.nodes.iter().map(|x| x.skew_ms).collect::<Vec<_>>()
            )
        });
        for i in 0..self.n() {
            self.restart(i)?;
            let t = self.rng.range(1, 20);
            self.schedule(t, Event::Tick(i));
            let t = self.rng.range(100, 500);
            self.schedule(t, Event::SyncProbe(i));
        }
        let t = self
            .rng
            .range(self.cfg.fault_every_ms.0, self.cfg.fault_every_ms.1);
        self.schedule(t, Event::Fault);
        self.schedule(1, Event::Votes);
        self.schedule(self.safety_end - self.now, Event::LivenessStart);
        while let Some(Reverse(s)) = self.queue.pop() {
            self.now = s.at;
            self.out.events += 1;
            if self.out.events > MAX_EVENTS {
                return Err(format!("more than {MAX_EVENTS} events: runaway"));
            }
            self.dispatch(s.event)?;
            if self.done {
                break;
            }
        }
        self.final_checks()
    }

    fn dispatch(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Tick(i) => {
                let t = self.rng.range(10, 40);
                self.schedule(t, Event::Tick(i));
                let pending = self.nodes[i].mempool.len() as u64;
                let out = self.with_core(i, |c, _, now| c.tick(now, pending));
                self.apply(i, out)
            }
            Event::Deliver {
                from,
                to,
                msg,
                incarnation,
                attempt,
            } => {
                if !self.nodes[to].is_up() || !self.links[from][to] {
                    // The call fails: the sender tries again.
                    self.out.messages_dropped += 1;
                    let retry = Event::Resend {
                        from,
                        to,
                        msg,
                        incarnation,
                        attempt: attempt + 1,
                    };
                    self.schedule(retry_wait(attempt), retry);
                    return Ok(());
                }
                self.trace(|| format!("n{to} <- n{from} {}", describe(&msg)));
                let out = self.with_core(to, |c, v, now| c.handle((*msg).clone(), now, v));
                self.apply(to, out)
            }
            Event::Resend {
                from,
                to,
                msg,
                incarnation,
                attempt,
            } => {
                let sender = &self.nodes[from];
                if sender.is_up()
                    && sender.incarnation == incarnation
                    && self.wire.wanted(from, &msg)
                {
                    self.send_msg(from, to, msg, attempt);
                }
                Ok(())
            }
            Event::DeliverTx { from, to, vote } => {
                self.votes[vote].in_flight -= 1;
                if !self.nodes[to].is_up() || !self.links[from][to] {
                    self.out.messages_dropped += 1;
                    return Ok(());
                }
                self.admit(to, vote);
                Ok(())
            }
            Event::SyncProbe(i) => {
                let t = self.rng.range(200, 600);
                self.schedule(t, Event::SyncProbe(i));
                self.measure_round_trips(i);
                self.sync_probe(i);
                Ok(())
            }
            Event::SyncReply { from, to, blocks } => self.sync_reply(from, to, blocks),
            Event::Restart { node, incarnation } => {
                if self.nodes[node].incarnation == incarnation {
                    self.restart(node)?;
                }
                Ok(())
            }
            Event::Fault => {
                if self.phase == Phase::Safety {
                    let t = self
                        .rng
                        .range(self.cfg.fault_every_ms.0, self.cfg.fault_every_ms.1);
                    self.schedule(t, Event::Fault);
                    self.fault()?;
                }
                Ok(())
            }
            Event::Votes => {
                if self.phase == Phase::Safety {
                    let t = self.rng.range(50, 700);
                    self.schedule(t, Event::Votes);
                    // Now and then a rush that fills more than one block.
                    let burst = if self.rng.chance(0.03) {
                        self.rng.range(5, 70)
                    } else {
                        1
                    };
                    for _ in 0..burst {
                        self.submit_vote();
                    }
                }
                Ok(())
            }
            Event::LivenessStart => self.start_liveness(),
            Event::Check => self.check_liveness(),
        }
    }

    /// Runs `f` on node `i`'s core with its chain view and clock; nothing
    /// if the node is down.
    fn with_core(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut Core, &View<'_>, u64) -> Vec<Action>,
    ) -> Vec<Action> {
        let now = self.clock(i);
        let world = self.world;
        let node = &mut self.nodes[i];
        let Some(core) = node.core.as_mut() else {
            return Vec::new();
        };
        let view = View {
            world,
            chain: &node.chain,
        };
        f(core, &view, now)
    }

    /// Carries out the actions in order, as the appliance's driver does:
    /// what an action yields runs before the rest of the list. During the
    /// safety phase the node may crash before any of them.
    fn apply(&mut self, i: usize, actions: Vec<Action>) -> Result<(), String> {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            if !self.nodes[i].is_up() {
                return Ok(());
            }
            if self.phase == Phase::Safety && self.rng.chance(self.cfg.action_crash_p) {
                self.out.crashes_between_actions += 1;
                let what = action_name(&action);
                self.crash(i, &format!("before {what}"));
                return Ok(());
            }
            let follow = self.apply_one(i, action)?;
            for a in follow.into_iter().rev() {
                queue.push_front(a);
            }
        }
        Ok(())
    }

    fn apply_one(&mut self, i: usize, action: Action) -> Result<Vec<Action>, String> {
        match action {
            Action::Persist(j) => {
                self.nodes[i].journal = Some(*j);
                Ok(Vec::new())
            }
            Action::Broadcast(m) => {
                self.broadcast(i, *m)?;
                Ok(Vec::new())
            }
            Action::RequestProposal { height, round } => {
                let node = &self.nodes[i];
                let max = self.world.genesis.params.max_block_txs as usize;
                let txs = node.mempool.select(&node.chain, max);
                self.trace(|| format!("n{i} proposes h={height} r={round} with {} txs", txs.len()));
                Ok(self.with_core(i, |c, _, now| c.propose(height, round, txs, now)))
            }
            Action::Commit(block) => {
                let b = *block;
                self.trace(|| {
                    format!(
                        "n{i} COMMIT h={} r={} {} txs={} seals={}",
                        b.header.height,
                        b.header.round,
                        short(&b.block_hash),
                        b.transactions.len(),
                        b.seals.len()
                    )
                });
                let head = self.append(i, b, None)?;
                Ok(self.with_core(i, |c, v, now| c.on_new_head(head, now, v)))
            }
            Action::RoundChanged(s) => {
                self.out.round_changes += 1;
                self.out.max_round = self.out.max_round.max(s.to_round);
                self.trace(|| {
                    format!(
                        "n{i} round h={} {} -> {} ({}) seen {:?}",
                        s.height,
                        s.from_round,
                        s.to_round,
                        s.reason.as_str(),
                        s.validator_rounds.iter().map(|x| x.1).collect::<Vec<_>>()
                    )
                });
                Ok(Vec::new())
            }
            Action::Equivocation(e) => {
                let sender = *e.first.sender();
                let who = self.world.keys.iter().position(|k| k.public() == sender);
                self.trace(|| format!("n{i} saw equivocation by {who:?}"));
                match who {
                    Some(w) if self.nodes[w].wiped => Ok(Vec::new()),
                    _ => Err(format!(
                        "n{i} reports an equivocation by validator {who:?}, which never lost its disk: {} vs {}",
                        describe(&e.first),
                        describe(&e.second)
                    )),
                }
            }
        }
    }

    /// Every broadcast must be durable first, and no validator that kept its
    /// disk may contradict itself.
    fn broadcast(&mut self, i: usize, msg: Message) -> Result<(), String> {
        self.trace(|| format!("n{i} -> all {}", describe(&msg)));
        let persisted = self.nodes[i]
            .journal
            .as_ref()
            .is_some_and(|j| j.sent.contains(&msg));
        if !persisted {
            return Err(format!(
                "n{i} broadcast {} before it was in its persisted journal",
                describe(&msg)
            ));
        }
        if !self.nodes[i].wiped {
            let key = (i, msg.kind(), msg.height(), msg.round());
            let said = said(&msg);
            match self.said.get(&key) {
                Some(before) if before != &said => {
                    return Err(format!(
                        "n{i} equivocated: {} after saying {before:?} for that type, height and round",
                        describe(&msg)
                    ));
                }
                Some(_) => {}
                None => {
                    self.said.insert(key, said);
                }
            }
        }
        let msg = Arc::new(msg);
        self.wire.note(i, &msg);
        for to in 0..self.n() {
            if to != i {
                self.send_msg(i, to, msg.clone(), 0);
            }
        }
        Ok(())
    }

    /// Sends a consensus message as the peer layer does: a call that fails
    /// (a cut link, a lost request) is made again after a wait, until the
    /// message arrives or is of no use any more (its sender moved to a
    /// higher height, or crashed).
    fn send_msg(&mut self, from: usize, to: usize, msg: Arc<Message>, attempt: u32) {
        let incarnation = self.nodes[from].incarnation;
        self.out.messages_sent += 1;
        if !self.links[from][to] || self.rng.chance(self.drop_rate) {
            self.out.messages_dropped += 1;
            let retry = Event::Resend {
                from,
                to,
                msg,
                incarnation,
                attempt: attempt + 1,
            };
            self.schedule(retry_wait(attempt), retry);
            return;
        }
        let copies = if self.rng.chance(self.dup_rate) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = self.delay(from, to);
            let ev = Event::Deliver {
                from,
                to,
                msg: msg.clone(),
                incarnation,
                attempt,
            };
            self.schedule(delay, ev);
        }
    }

    /// The peer layers of the other validators that are up send `to` their
    /// current messages again, once they notice (a status poll later).
    fn resend_current(&mut self, to: usize, pick: impl Fn(&Wire, usize) -> Vec<Arc<Message>>) {
        for from in 0..self.n() {
            if from == to || !self.nodes[from].is_up() {
                continue;
            }
            let incarnation = self.nodes[from].incarnation;
            for msg in pick(&self.wire, from) {
                let t = self.rng.range(NOTICE_MS.0, NOTICE_MS.1);
                let ev = Event::Resend {
                    from,
                    to,
                    msg,
                    incarnation,
                    attempt: 0,
                };
                self.schedule(t, ev);
            }
        }
    }

    /// Puts a message on the wire: cut links and the drop rate lose it, the
    /// duplication rate sends it twice, random delays reorder.
    fn send(&mut self, from: usize, to: usize, mut make: impl FnMut(&mut Self) -> Event) {
        self.out.messages_sent += 1;
        if !self.links[from][to] || self.rng.chance(self.drop_rate) {
            self.out.messages_dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.dup_rate) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = self.delay(from, to);
            let ev = make(self);
            self.schedule(delay, ev);
        }
    }

    /// A message's time on the link: the link's delay, or now and then in
    /// the safety phase a long one (a fault).
    fn delay(&mut self, from: usize, to: usize) -> u64 {
        if self.phase == Phase::Safety && self.rng.chance(self.cfg.long_delay_p) {
            self.rng.range(200, 3_000)
        } else {
            self.paths.delay(&mut self.rng, from, to, self.now)
        }
    }

    /// Stores a block on node `i` (decided by its core, or synced from
    /// peer `from`) and checks the safety properties on it. Returns the new head.
    fn append(
        &mut self,
        i: usize,
        b: Block,
        from: Option<usize>,
    ) -> Result<evote_core::ledger::Parent, String> {
        let h = b.header.height;
        let source = match from {
            None => "its own consensus".to_string(),
            Some(p) => format!("sync from n{p}"),
        };
        if let Err(e) = self.check_seals(&b) {
            return Err(format!(
                "n{i} committed block {} at height {h} via {source} without Q valid distinct seals: {e}",
                short(&b.block_hash)
            ));
        }
        let idx = (h - 1) as usize;
        match self.canonical.get(idx) {
            Some((hash, who, first)) if hash != &b.block_hash => {
                return Err(format!(
                    "FORK at height {h}: n{who} committed {} (round {}) but n{i} committed {} (round {}) via {source}{}",
                    short(hash),
                    first.round,
                    short(&b.block_hash),
                    b.header.round,
                    fork_kind(first, &b.header)
                ));
            }
            Some(_) => {}
            None if idx == self.canonical.len() => {
                self.canonical.push((b.block_hash, i, b.header.clone()))
            }
            None => {
                return Err(format!(
                    "n{i} committed height {h} before any node committed height {}",
                    self.canonical.len() + 1
                ));
            }
        }
        let world = self.world;
        let node = &mut self.nodes[i];
        node.chain
            .append(world, b)
            .map_err(|e| format!("n{i} via {source}: {e}"))?;
        node.mempool.purge(&node.chain);
        Ok(node.chain.head(world))
    }

    /// `check_seals`, remembering the seals it verified: the nodes of a run
    /// commit the same blocks with overlapping seals, and verifying a
    /// signature is the costliest thing a debug build does.
    fn check_seals(&mut self, b: &Block) -> Result<(), String> {
        let vote = b.commit_vote();
        let mut seen = BTreeSet::new();
        for s in &b.seals {
            if !self.world.genesis.is_validator(&s.validator) {
                return Err(format!("seal from non-validator {}", s.validator));
            }
            if !seen.insert(s.validator) {
                return Err(format!("two seals from {}", s.validator));
            }
            let key = (b.block_hash, s.validator, s.signature);
            if !self.verified_seals.contains(&key) {
                if !verify(&s.validator, &vote, &s.signature).unwrap_or(false) {
                    return Err(format!("bad seal from {}", s.validator));
                }
                self.verified_seals.insert(key);
            }
        }
        if seen.len() < self.world.quorum() {
            return Err(format!(
                "{} seals, {} needed",
                seen.len(),
                self.world.quorum()
            ));
        }
        Ok(())
    }

    /// Node `i` polls the others that answer, as the peer layer does, and
    /// its core learns the median of each one's last round trips.
    fn measure_round_trips(&mut self, i: usize) {
        if !self.nodes[i].is_up() {
            return;
        }
        for k in 0..self.n() {
            let answers = k != i && self.nodes[k].is_up() && self.links[i][k] && self.links[k][i];
            if !answers {
                continue;
            }
            let rtt = self.delay(i, k) + self.delay(k, i);
            let median = self.round_trips.sample(i, k, rtt);
            let peer = self.world.keys[k].public();
            if let Some(core) = self.nodes[i].core.as_mut() {
                core.note_round_trip(&peer, median);
            }
        }
    }

    fn sync_probe(&mut self, i: usize) {
        if !self.nodes[i].is_up() || !self.rng.chance(0.7) {
            return;
        }
        let mine = self.nodes[i].chain.height();
        let peers: Vec<usize> = (0..self.n())
            .filter(|&j| {
                j != i
                    && self.nodes[j].is_up()
                    && self.links[i][j]
                    && self.links[j][i]
                    && self.nodes[j].chain.height() > mine
            })
            .collect();
        if peers.is_empty() {
            return;
        }
        let j = peers[self.rng.index(peers.len())];
        let theirs = &self.nodes[j].chain.blocks;
        let end = theirs.len().min(mine as usize + 64);
        let blocks = theirs[mine as usize..end].to_vec();
        self.trace(|| {
            format!(
                "n{i} fetches {} blocks from n{j} above {mine}",
                blocks.len()
            )
        });
        // Request and reply: two trips over the same lossy link.
        self.out.messages_sent += 1;
        if self.rng.chance(self.drop_rate) || self.rng.chance(self.drop_rate) {
            self.out.messages_dropped += 1;
            return;
        }
        let delay = self.delay(i, j) + self.delay(j, i);
        self.schedule(
            delay,
            Event::SyncReply {
                from: j,
                to: i,
                blocks,
            },
        );
    }

    /// Verifies each fetched block (header, seals, contents) against this
    /// node's own head before storing it, then tells the core once.
    fn sync_reply(&mut self, from: usize, to: usize, blocks: Vec<Block>) -> Result<(), String> {
        if !self.nodes[to].is_up() || !self.links[from][to] {
            self.out.messages_dropped += 1;
            return Ok(());
        }
        let before = self.nodes[to].chain.height();
        let mut head = None;
        for b in blocks {
            let node = &self.nodes[to];
            let mine = node.chain.height();
            let h = b.header.height;
            if h <= mine {
                let have = &node.chain.blocks[(h - 1) as usize];
                if have.block_hash != b.block_hash {
                    return Err(format!(
                        "FORK at height {h}: n{to} holds {} but n{from} serves {}",
                        short(&have.block_hash),
                        short(&b.block_hash)
                    ));
                }
                continue;
            }
            if h != mine + 1 {
                break;
            }
            let parent = node.chain.head(self.world);
            let now = self.clock(to);
            if let Err(e) = check_committed_block(
                &self.world.genesis,
                &self.world.chain_id,
                &parent,
                &b,
                &super::node::View {
                    world: self.world,
                    chain: &node.chain,
                },
                now,
            ) {
                return Err(format!(
                    "n{to} refused block {} at height {h} served by n{from} (honest): {e}",
                    short(&b.block_hash)
                ));
            }
            head = Some(self.append(to, b, Some(from))?);
            self.out.blocks_synced += 1;
        }
        if let Some(head) = head {
            self.trace(|| format!("n{to} synced to height {}", head.height));
            let now = head.height;
            self.resend_current(to, |w, k| w.after_catch_up(k, before, now));
            let out = self.with_core(to, |c, v, now| c.on_new_head(head, now, v));
            self.apply(to, out)?;
        }
        Ok(())
    }

    fn crash(&mut self, i: usize, why: &str) {
        let node = &mut self.nodes[i];
        node.core = None;
        node.incarnation += 1;
        let incarnation = node.incarnation;
        self.wire.forget(i);
        self.out.crashes += 1;
        self.trace(|| format!("n{i} CRASH {why}"));
        if self.phase == Phase::Safety {
            let t = if self.rng.chance(0.85) {
                self.rng.range(100, 3_000)
            } else {
                self.rng.range(3_000, 15_000)
            };
            self.schedule(
                t,
                Event::Restart {
                    node: i,
                    incarnation,
                },
            );
        }
    }

    /// Starts a node from what it kept: its chain's head and its journal.
    fn restart(&mut self, i: usize) -> Result<(), String> {
        if self.nodes[i].is_up() {
            return Ok(());
        }
        let now = self.clock(i);
        let forget = self.cfg.forget_journal_on_restart;
        let node = &mut self.nodes[i];
        let head = node.chain.head(self.world);
        let journal = if forget {
            // Amnesia: what it said before no longer binds it, so only the
            // safety checks (forks, double commits) can catch what follows.
            node.wiped = true;
            None
        } else {
            node.journal.as_ref().map(stored_and_read).transpose()?
        };
        let kept = journal.as_ref().map(|j| (j.height, j.round));
        let core = Core::new(
            self.world.genesis.clone(),
            node.key.clone(),
            head,
            now,
            journal,
        )
        .map_err(|e| format!("n{i} cannot restart: {e}"))?;
        self.trace(|| {
            format!(
                "n{i} START at height {} round {} (journal kept for {kept:?})",
                core.height(),
                core.round(),
            )
        });
        // Its peer layer starts afresh: no round trip measured yet.
        self.round_trips.forget(i);
        let mut core = core;
        for k in self
            .world
            .keys
            .iter()
            .filter(|k| k.public() != self.world.keys[i].public())
        {
            core.note_round_trip(&k.public(), UNMEASURED_RTT_MS);
        }
        self.nodes[i].core = Some(core);
        // The others' peer layers see another start time in its status.
        self.resend_current(i, Wire::current);
        Ok(())
    }

    fn wipe(&mut self, i: usize) {
        if self.nodes[i].is_up() {
            self.crash(i, "and loses its disk");
        } else {
            self.trace(|| format!("n{i} loses its disk while down"));
        }
        self.out.wipes += 1;
        let votes: Vec<usize> = self.nodes[i]
            .mempool
            .entries
            .iter()
            .map(|e| e.vote)
            .collect();
        for v in votes {
            self.votes[v].touched_by_wipe = true;
        }
        let node = &mut self.nodes[i];
        node.chain = Default::default();
        node.journal = None;
        node.mempool = Default::default();
        node.wiped = true;
    }

    fn fault(&mut self) -> Result<(), String> {
        let n = self.n();
        let roll = self.rng.below(100);
        match roll {
            0..20 => {
                let up: Vec<usize> = (0..n).filter(|&i| self.nodes[i].is_up()).collect();
                if !up.is_empty() {
                    let i = up[self.rng.index(up.len())];
                    self.crash(i, "(fault)");
                }
            }
            20..30 => {
                let down: Vec<usize> = (0..n).filter(|&i| !self.nodes[i].is_up()).collect();
                if !down.is_empty() {
                    let i = down[self.rng.index(down.len())];
                    self.restart(i)?;
                }
            }
            30..45 => self.partition(),
            45..65 if self.now >= self.partition_until => {
                self.links = vec![vec![true; n]; n];
                self.trace(|| "network healed".into());
            }
            65..75 => {
                self.drop_rate = self.rng.unit() * self.cfg.max_drop;
                self.dup_rate = self.rng.unit() * self.cfg.max_dup;
                self.trace(|| {
                    format!(
                        "drop rate {:.3}, duplicate rate {:.3}",
                        self.drop_rate, self.dup_rate
                    )
                });
            }
            75..78 => {
                if let Some(w) = self.wipe_node {
                    self.wipe(w);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A partition of some shape: groups, one node cut off, or random
    /// (possibly one-way) link failures.
    fn partition(&mut self) {
        let n = self.n();
        self.out.partitions += 1;
        // Most partitions last until the next heal; some hold for long
        // enough that round timers double several times.
        let hold = if self.rng.chance(0.2) {
            self.rng.range(5_000, 30_000)
        } else {
            0
        };
        self.partition_until = self.now + hold;
        match self.rng.below(3) {
            0 => {
                let groups = self.rng.range(2, 3);
                let label: Vec<u64> = (0..n).map(|_| self.rng.below(groups)).collect();
                for a in 0..n {
                    for b in 0..n {
                        self.links[a][b] = label[a] == label[b];
                    }
                }
                self.trace(|| format!("partition into groups {label:?}"));
            }
            1 => {
                let x = self.rng.index(n);
                for a in 0..n {
                    for b in 0..n {
                        self.links[a][b] = a == b || (a != x && b != x);
                    }
                }
                self.trace(|| format!("n{x} cut off"));
            }
            _ => {
                for a in 0..n {
                    for b in 0..n {
                        self.links[a][b] = a == b || !self.rng.chance(0.35);
                    }
                }
                self.trace(|| format!("random link failures {:?}", self.links));
            }
        }
    }

    /// A voter casts a ballot at a random validator that is up; now and
    /// then a voter who already voted tries again (a double vote).
    fn submit_vote(&mut self) {
        let up: Vec<usize> = (0..self.n()).filter(|&i| self.nodes[i].is_up()).collect();
        let fresh = self.next_voter < self.world.ballots.len();
        if up.is_empty() {
            return; // the voter is told no appliance is reachable
        }
        self.out.votes_submitted += 1;
        let i = up[self.rng.index(up.len())];
        let double = self.next_voter > 0 && (!fresh || self.rng.chance(0.05));
        let pool = if double {
            let k = self.rng.index(self.next_voter);
            &self.world.twins[k]
        } else {
            self.next_voter += 1;
            &self.world.ballots[self.next_voter - 1]
        };
        let idx = self.votes.len();
        self.votes.push(VoteRec {
            stx: pool.stx.clone(),
            hash: pool.hash,
            nullifier: pool.nullifier,
            accepted: false,
            in_flight: 0,
            touched_by_wipe: false,
        });
        if self.admit(i, idx) {
            self.votes[idx].accepted = true;
            self.out.votes_accepted += 1;
            if double {
                self.out.double_votes_accepted += 1;
            }
            self.trace(|| format!("vote {idx} accepted by n{i} (double: {double})"));
            for to in 0..self.n() {
                if to != i {
                    self.send(i, to, |s| {
                        s.votes[idx].in_flight += 1;
                        Event::DeliverTx {
                            from: i,
                            to,
                            vote: idx,
                        }
                    });
                }
            }
        }
    }

    fn admit(&mut self, i: usize, vote: usize) -> bool {
        let v = &self.votes[vote];
        let entry = Entry {
            vote,
            hash: v.hash,
            nullifier: v.nullifier,
            stx: v.stx.clone(),
        };
        let node = &mut self.nodes[i];
        node.mempool.admit(&node.chain, entry)
    }

    /// The last fault: the network heals and stops losing messages, every
    /// validator is (re)started, no new votes come in.
    fn start_liveness(&mut self) -> Result<(), String> {
        self.phase = Phase::Liveness;
        let n = self.n();
        self.links = vec![vec![true; n]; n];
        self.drop_rate = 0.0;
        self.dup_rate = 0.0;
        self.trace(|| "LIVENESS PHASE: network healed, no drops, all validators up".into());
        for i in 0..n {
            self.restart(i)?;
        }
        let mut required = Vec::new();
        for v in &self.votes {
            if !v.accepted {
                continue;
            }
            let somewhere = v.in_flight > 0
                || self.nodes.iter().any(|x| {
                    x.chain.has_tx(&v.hash) || x.mempool.entries.iter().any(|e| e.hash == v.hash)
                });
            // A vote only a wiped validator ever held is lost with its disk.
            if somewhere || !v.touched_by_wipe {
                required.push(v.nullifier);
            }
        }
        required.sort();
        required.dedup();
        self.required = required;
        let highest = self
            .nodes
            .iter()
            .filter_map(|x| x.core.as_ref().map(Core::round))
            .max()
            .unwrap_or(0);
        let backlog = self
            .required
            .iter()
            .filter(|null| !self.nodes.iter().any(|x| x.chain.has_nullifier(null)))
            .count();
        let timing = self.liveness_timing();
        let bound = liveness_bound(
            &self.world.genesis.params,
            self.n(),
            timing,
            highest,
            backlog,
        );
        self.out.liveness_round = highest;
        self.out.liveness_backlog = backlog;
        self.out.liveness_bound_ms = bound;
        self.liveness_deadline = self.now + bound;
        self.trace(|| {
            format!("highest round {highest}, backlog {backlog}: liveness bound {bound} ms")
        });
        self.schedule(100, Event::Check);
        Ok(())
    }

    /// The highest base round timeout a validator chose, or may choose on
    /// these links (four round trips of the longest delay), and the
    /// longest one-way delay.
    fn liveness_timing(&self) -> (u64, u64) {
        let l = self.paths.latency();
        let longest = l.one_way_ms + l.jitter_ms;
        let params = &self.world.genesis.params;
        let may = adaptive_base_timeout(params.round_timeout_ms, Some(2 * longest), None);
        let chose = (self.nodes.iter())
            .filter_map(|x| x.core.as_ref().map(Core::base_timeout))
            .max()
            .unwrap_or(0);
        (may.max(chose), longest)
    }

    fn converged(&self) -> bool {
        let first = &self.nodes[0].chain;
        let head = first.blocks.last().map(|b| b.block_hash);
        self.nodes.iter().all(|x| {
            x.is_up()
                && x.chain.height() == first.height()
                && x.chain.blocks.last().map(|b| b.block_hash) == head
        }) && self
            .required
            .iter()
            .all(|null| self.nodes.iter().all(|x| x.chain.has_nullifier(null)))
    }

    fn check_liveness(&mut self) -> Result<(), String> {
        if self.converged() {
            self.out.liveness_ms = self.now - self.safety_end;
            self.out.height = self.nodes[0].chain.height();
            self.trace(|| {
                format!(
                    "CONVERGED at height {} after {} ms of liveness phase",
                    self.out.height, self.out.liveness_ms
                )
            });
            self.done = true;
            self.out.stalls = self.paths.stalls_before(self.now);
            return Ok(());
        }
        if self.now >= self.liveness_deadline {
            let mut report = format!(
                "LIVENESS: not converged {} ms after the last fault (highest round then {}, backlog {}; {} accepted votes required):",
                self.out.liveness_bound_ms,
                self.out.liveness_round,
                self.out.liveness_backlog,
                self.required.len()
            );
            for (i, x) in self.nodes.iter().enumerate() {
                let missing = self
                    .required
                    .iter()
                    .filter(|null| !x.chain.has_nullifier(null))
                    .count();
                let status = x.core.as_ref().map(|c| c.status());
                report.push_str(&format!(
                    "\n  n{i}: height {} head {} core {:?} mempool {} missing votes {missing}",
                    x.chain.height(),
                    x.chain
                        .blocks
                        .last()
                        .map_or("genesis".into(), |b| short(&b.block_hash)),
                    status.map(|s| (s.height, s.round, s.locked_round)),
                    x.mempool.len(),
                ));
            }
            return Err(report);
        }
        self.schedule(100, Event::Check);
        Ok(())
    }

    fn final_checks(&self) -> Result<(), String> {
        if !self.done {
            return Err("the event queue ran dry before convergence".into());
        }
        for (i, x) in self.nodes.iter().enumerate() {
            for (k, b) in x.chain.blocks.iter().enumerate() {
                if b.block_hash != self.canonical[k].0 {
                    return Err(format!("FORK at height {}: n{i} differs", k + 1));
                }
            }
        }
        Ok(())
    }
}

/// Says when two blocks at one height differ only in the round and
/// proposer of their headers: the same block, re-proposed in a later round,
/// under another hash.
fn fork_kind(x: &BlockHeader, y: &BlockHeader) -> &'static str {
    let same_contents = x.prev_hash == y.prev_hash
        && x.timestamp_ms == y.timestamp_ms
        && x.tx_root == y.tx_root
        && x.tx_count == y.tx_count;
    if same_contents && (x.round, x.proposer) != (y.round, y.proposer) {
        ": the same block re-proposed in a later round, whose header's new round and \
         proposer gave it another block hash (both commits hold Q seals; the chains \
         now diverge, since the next block can name only one of them as its parent)"
    } else {
        ""
    }
}

fn said(msg: &Message) -> Said {
    match msg {
        Message::Proposal(p) => Said::Block(p.block.block_hash),
        Message::Prepare(v) | Message::Commit(v) => Said::Block(v.vote.block_hash),
        Message::RoundChange(rc) => Said::RoundChange(
            rc.signed.statement.prepared_round,
            rc.signed.statement.prepared_block_hash,
        ),
    }
}

fn action_name(a: &Action) -> String {
    match a {
        Action::Persist(j) => format!("Persist(h={} r={})", j.height, j.round),
        Action::Broadcast(m) => format!("Broadcast({})", describe(m)),
        Action::RequestProposal { height, round } => {
            format!("RequestProposal(h={height} r={round})")
        }
        Action::Commit(b) => format!("Commit(h={})", b.header.height),
        Action::RoundChanged(_) => "RoundChanged".into(),
        Action::Equivocation(_) => "Equivocation".into(),
    }
}

/// A one-line description of a consensus message.
pub fn describe(m: &Message) -> String {
    match m {
        Message::Proposal(p) => format!(
            "PROPOSAL h={} r={} {} txs={}{}",
            p.block.header.height,
            p.block.header.round,
            short(&p.block.block_hash),
            p.block.transactions.len(),
            if p.justification.is_some() {
                " justified"
            } else {
                ""
            }
        ),
        Message::Prepare(v) => format!(
            "PREPARE h={} r={} {}",
            v.vote.height,
            v.vote.round,
            short(&v.vote.block_hash)
        ),
        Message::Commit(v) => format!(
            "COMMIT h={} r={} {}",
            v.vote.height,
            v.vote.round,
            short(&v.vote.block_hash)
        ),
        Message::RoundChange(rc) => {
            let s = &rc.signed.statement;
            match (s.prepared_round, s.prepared_block_hash) {
                (Some(pr), Some(h)) => format!(
                    "ROUND-CHANGE h={} r={} prepared r={pr} {}",
                    s.height,
                    s.round,
                    short(&h)
                ),
                _ => format!("ROUND-CHANGE h={} r={}", s.height, s.round),
            }
        }
    }
}

/// A journal as the appliance stores it and reads it back: blocks apart,
/// by reference (`store/consensus.rs`).
fn stored_and_read(j: &Journal) -> Result<Journal, String> {
    let blocks: Vec<_> = j.blocks().into_iter().cloned().collect();
    let back = j
        .record()
        .resolve(|r| blocks.iter().find(|b| r.names(b)).cloned())
        .map_err(|r| format!("the stored journal lost block {r}"))?;
    if &back != j {
        return Err("the stored journal reads back different".into());
    }
    Ok(back)
}
