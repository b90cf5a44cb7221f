//! The event loop: one thread, virtual time, every choice drawn from one
//! seeded PRNG, so that a seed replays the same run exactly. Each
//! validator is the appliance's own driver (`evote_appliance::driver::Driver`)
//! stepped as its node thread would step it: when a request arrives or
//! when the driver asked to wake.

use std::cell::Cell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use evote_appliance::driver::{MAX_BATCH, Request, Source, Submission, SubmitOutcome};
use evote_appliance::driver::{MempoolInsert, ReconcileState};
use evote_core::consensus::{Core, Message, MessageType, adaptive_base_timeout, round_timeout};
use evote_core::ledger::{
    Block, BlockHeader, Hash32, Params, PublicKey, Signature, SignedTx, verify_digest,
};

use super::io::Outgoing;
use super::net::{Latency, Links, NOTICE_MS, RoundTrips, Wire, retry_wait};
use super::node::{Asked, Node, short};
use super::rng::Rng;
use super::store::Disk;
use super::world::{START_MS, World};

/// What a run does; [`Config::standard`] is what the test suite sweeps,
/// [`Config::idle`] and [`Config::slow`] check the fallback decision.
#[derive(Debug, Clone)]
pub struct Config {
    /// Length of the first phase (virtual ms), drawn per seed in this range.
    pub safety_ms: (u64, u64),
    /// Time between fault decisions (virtual ms), drawn in this range;
    /// `None`: a network without faults.
    pub fault_every_ms: Option<(u64, u64)>,
    /// Highest message drop rate a fault may set.
    pub max_drop: f64,
    /// Highest message duplication rate a fault may set.
    pub max_dup: f64,
    /// Chance that a node's power fails before each effect of a step (a
    /// store write or a message sent): a crash between two actions.
    pub action_crash_p: f64,
    /// Whether one validator (n >= 4 only) may lose its disk.
    pub wipes: bool,
    /// Time between voters (virtual ms), drawn in this range.
    pub vote_every_ms: (u64, u64),
    /// Chance that voters come in a rush that fills more than one block.
    pub rush_p: f64,
    /// Every link's delays (and stalls).
    pub latency: Latency,
    /// In the first phase, chance of a long delay (0.2-3 s) instead (a fault).
    pub long_delay_p: f64,
    /// Fail the run if any node enters fallback mode.
    pub never_fallback: bool,
    /// A deliberately broken node that restarts its validators without
    /// their journals (and exempts them from the equivocation checks), to
    /// show that the safety checks catch what the amnesia leads to.
    pub forget_journal_on_restart: bool,
    /// Print every event.
    pub verbose: bool,
}

impl Config {
    /// Crashes (also between two effects of one step), restarts, disk
    /// loss, partitions (some held long), lost, duplicated and late
    /// messages, clock skew, double votes.
    pub fn standard() -> Self {
        Self {
            safety_ms: (8_000, 16_000),
            fault_every_ms: Some((200, 1_500)),
            max_drop: 0.2,
            max_dup: 0.1,
            action_crash_p: 0.003,
            wipes: true,
            vote_every_ms: (50, 700),
            rush_p: 0.03,
            latency: Latency::LAN,
            long_delay_p: 0.03,
            never_fallback: false,
            forget_journal_on_restart: false,
            verbose: false,
        }
    }

    /// A healthy network with every validator up, where voters come
    /// seconds to a minute apart (blocks are far apart too: run it on
    /// [`World::calm`]): no node may enter fallback mode.
    pub fn idle() -> Self {
        Self {
            safety_ms: (60_000, 120_000),
            fault_every_ms: None,
            action_crash_p: 0.0,
            wipes: false,
            vote_every_ms: (2_000, 60_000),
            rush_p: 0.0,
            long_delay_p: 0.0,
            never_fallback: true,
            ..Self::standard()
        }
    }

    /// A healthy but slow network: every message takes 250-500 ms one
    /// way (round trips of about 750 ms, longer than the round timer of
    /// [`World::calm`]), and every link stalls for 2-5 s after 5-20 s of
    /// quiet, so that blocks are now and then further apart than the
    /// genesis' `fallback_after_ms`; votes stream in. No node may enter
    /// fallback mode, let alone flap in and out.
    pub fn slow() -> Self {
        Self {
            safety_ms: (15_000, 25_000),
            fault_every_ms: None,
            action_crash_p: 0.0,
            wipes: false,
            latency: Latency::wan(375, 125).with_stalls((5_000, 20_000)),
            long_delay_p: 0.0,
            never_fallback: true,
            ..Self::standard()
        }
    }

    /// No faults at all, only the links' delays (and stalls, if `latency`
    /// has them): how the consensus copes with a wide-area network. Nothing
    /// is lost on such links, so no node may enter fallback mode: a slow
    /// network is not a broken one.
    pub fn wan(latency: Latency) -> Self {
        Self {
            fault_every_ms: None,
            action_crash_p: 0.0,
            wipes: false,
            latency,
            long_delay_p: 0.0,
            never_fallback: true,
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
///   validator that restarted; f+1 of them for higher rounds make a
///   validator jump). That round can still fail once, if its proposer is
///   the one validator already in a higher round (n = 4 jumps only on f+1
///   = 2); it times out within `round_timeout(r*)` and the next round has
///   another proposer, one that is in it. One wasted round, counted twice
///   for margin.
/// - A ballot that only one validator holds (its gossip was lost) waits for
///   that validator's turn to propose at round 0, and proposers with empty
///   mempools propose only at the heartbeat: up to n heartbeats.
/// - The backlog: a block of at most `max_block_txs` ballots per block
///   period plus four of the links' longest one-way delays, plus one
///   second of room.
/// - [`LIVENESS_SLACK_MS`] for syncing, status polls and reconciling
///   fallback ballots.
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
/// How often a node polls each peer's status (net/peers.rs STATUS_POLL).
const STATUS_POLL_MS: u64 = 1_000;
/// A call to a peer that cannot be reached fails after this long
/// (net/peers.rs CONNECT_TIMEOUT).
const CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Steps in a row a driver may ask for at once, by a deadline already
/// passed, before the simulator calls it a spin.
const MAX_STEPS_AT_ONCE: u32 = 10;
/// Blocks per sync answer (net/peers.rs SYNC_PAGE).
const SYNC_PAGE: u64 = 64;

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
    /// Votes acknowledged as sealed in a fallback chain.
    pub votes_sealed: u64,
    /// Times a node entered fallback mode.
    pub fallback_entries: u64,
    pub messages_sent: u64,
    pub messages_dropped: u64,
    pub blocks_synced: u64,
    /// Stalls that began on any link during the run.
    pub stalls: u64,
    pub steps: u64,
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

/// Which of the suite's configurations a run used, for its replay command.
pub fn replay_command(seed: u64, n: usize, cfg: &Config, scenario: &str) -> String {
    let standard = Config::standard();
    let safety = if scenario != "standard" || cfg.safety_ms == standard.safety_ms {
        String::new()
    } else {
        format!(
            "EVOTE_SIM_SAFETY_S={}-{} ",
            cfg.safety_ms.0 / 1000,
            cfg.safety_ms.1 / 1000
        )
    };
    let which = if scenario == "standard" {
        String::new()
    } else {
        format!("EVOTE_SIM_SCENARIO={scenario} ")
    };
    let l = cfg.latency;
    let wan = match (
        scenario != "standard" || l == Latency::LAN,
        l.stall_every_ms,
    ) {
        (true, _) => String::new(),
        (false, None) => format!("EVOTE_SIM_WAN={},{} ", l.one_way_ms, l.jitter_ms),
        (false, Some((lo, hi))) => {
            format!("EVOTE_SIM_WAN={},{},{lo}-{hi} ", l.one_way_ms, l.jitter_ms)
        }
    };
    format!(
        "{safety}{which}{wan}EVOTE_SIM_SEED={seed} EVOTE_SIM_N={n} cargo test -p evote-tests --test simulator -- --nocapture --exact replay"
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
pub fn run(world: &World, cfg: &Config, seed: u64, scenario: &str) -> Result<Outcome, Failure> {
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
                at_ms: sim.now() - START_MS,
                message,
                replay: replay_command(seed, world.n, cfg, scenario),
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Safety,
    Liveness,
}

/// A consensus message on its way from one peer layer to another.
struct Call {
    from: usize,
    to: usize,
    msg: Arc<Message>,
    /// The sender's incarnation when it sent it (a sender that crashed
    /// since no longer tries it again).
    incarnation: u64,
    /// How many calls with it failed before this one.
    attempt: u32,
}

enum Event {
    /// The driver asked to be stepped now.
    Wake {
        node: usize,
        incarnation: u64,
    },
    /// A consensus message arrives.
    Deliver(Call),
    /// The sender's peer layer sends a message again: the last call failed,
    /// or the peer may have lost it.
    Resend(Call),
    /// Gossiped transactions arrive.
    Arrive {
        from: usize,
        to: usize,
        txs: Arc<Vec<SignedTx>>,
    },
    /// `from` polls `to`'s status (every [`STATUS_POLL_MS`]).
    Poll {
        from: usize,
        to: usize,
    },
    /// The poll reaches `to`.
    PollArrives {
        from: usize,
        to: usize,
        sent: u64,
    },
    /// Its answer reaches `from`: `to`'s height, or a failure.
    PollAnswer {
        from: usize,
        to: usize,
        sent: u64,
        height: Option<u64>,
    },
    /// A block fetch reaches peer `to`.
    SyncArrives {
        from: usize,
        to: usize,
        height: u64,
    },
    /// Its answer (blocks, or a failure) reaches `from`.
    SyncAnswer {
        from: usize,
        to: usize,
        blocks: Option<Vec<Block>>,
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

/// How a node acknowledged a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    /// Durable in its mempool.
    Mempool,
    /// Durable in its fallback chain.
    Sealed,
}

/// A vote of the run.
struct VoteRec {
    stx: Arc<SignedTx>,
    hash: Hash32,
    nullifier: (u64, Hash32),
    voter: i64,
    /// The voter had cast a ballot before (a double vote).
    voter_voted_before: bool,
    /// Which node acknowledged it, and how.
    ack: Option<(usize, Ack)>,
    /// The node that acknowledged it lost its disk later.
    lost_with_disk: bool,
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
    clock: Rc<Cell<u64>>,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: Vec<Node<'w>>,
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
    /// The ballots cast so far, as the verified caches know them.
    cast: Vec<(Hash32, Signature)>,
    /// The next fresh voter of the world's pool.
    next_voter: usize,
    required: Vec<(u64, Hash32)>,
    /// The first block committed at each height (index height-1), by whom.
    canonical: Vec<(Hash32, usize, BlockHeader)>,
    said: BTreeMap<(usize, MessageType, u64, u64), Said>,
    verified_seals: BTreeSet<(Hash32, PublicKey, Signature)>,
    /// Per node: round changes and equivocation reports its core had
    /// counted after its last step (its core starts from zero at restart).
    seen_rounds: Vec<u64>,
    seen_evidence: Vec<usize>,
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
            .map(|k| Node::new(world, k.clone(), rng.range(0, 300)))
            .collect();
        let safety_ms = rng.range(cfg.safety_ms.0, cfg.safety_ms.1);
        let wipe_node = (cfg.wipes && n >= 4).then(|| rng.index(n));
        Self {
            world,
            cfg,
            seed,
            rng,
            clock: Rc::new(Cell::new(START_MS)),
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
            cast: Vec::new(),
            next_voter: 0,
            required: Vec::new(),
            canonical: Vec::new(),
            said: BTreeMap::new(),
            verified_seals: BTreeSet::new(),
            seen_rounds: vec![0; n],
            seen_evidence: vec![0; n],
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

    fn now(&self) -> u64 {
        self.clock.get()
    }

    fn trace(&self, f: impl FnOnce() -> String) {
        if self.cfg.verbose {
            println!("[{:>7}] {}", self.now() - START_MS, f());
        }
    }

    fn schedule(&mut self, after_ms: u64, event: Event) {
        self.schedule_at(self.now() + after_ms, event);
    }

    fn schedule_at(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            event,
        }));
    }

    fn run(&mut self) -> Result<(), String> {
        self.trace(|| {
            format!(
                "seed {} n={} first phase {} ms, wipe node {:?}, skews {:?}",
                self.seed,
                self.n(),
                self.out.safety_ms,
                self.wipe_node,
                self.nodes.iter().map(|x| x.skew_ms).collect::<Vec<_>>()
            )
        });
        for i in 0..self.n() {
            self.restart(i)?;
            for j in 0..self.n() {
                if j != i {
                    let t = self.rng.range(0, STATUS_POLL_MS);
                    self.schedule(t, Event::Poll { from: i, to: j });
                }
            }
        }
        if let Some((lo, hi)) = self.cfg.fault_every_ms {
            let t = self.rng.range(lo, hi);
            self.schedule(t, Event::Fault);
        }
        self.schedule(1, Event::Votes);
        self.schedule_at(self.safety_end, Event::LivenessStart);
        while let Some(Reverse(s)) = self.queue.pop() {
            self.clock.set(s.at);
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
            Event::Wake { node, incarnation } => {
                let x = &self.nodes[node];
                if x.incarnation == incarnation && x.wake_at == Some(self.now()) {
                    self.nodes[node].wake_at = None;
                    self.wake(node)?;
                }
                Ok(())
            }
            Event::Deliver(call) => {
                let (from, to) = (call.from, call.to);
                if !self.nodes[to].is_up() || !self.links[from][to] {
                    // The call fails: the sender tries again.
                    self.retry_later(call);
                    return Ok(());
                }
                self.trace(|| format!("n{to} <- n{from} {}", describe(&call.msg)));
                let req = Request::Consensus(Box::new((*call.msg).clone()));
                self.nodes[to].inbox.push_back(req);
                self.wake_now(to)
            }
            Event::Resend(call) => {
                let sender = &self.nodes[call.from];
                if sender.is_up()
                    && sender.incarnation == call.incarnation
                    && self.wire.wanted(call.from, &call.msg)
                {
                    self.send_msg(call.from, call.to, call.msg, call.attempt);
                }
                Ok(())
            }
            Event::Arrive { from, to, txs } => {
                if !self.nodes[to].is_up() || !self.links[from][to] {
                    self.out.messages_dropped += 1;
                    return Ok(());
                }
                // The peer's handler checked them (the pool's are known
                // good) and hands each to the node.
                for stx in txs.iter() {
                    let (reply, _) = tokio::sync::oneshot::channel();
                    self.nodes[to].inbox.push_back(Request::Submit(Submission {
                        stx: Box::new(stx.clone()),
                        tx_hash: self.world.tx_hash(stx),
                        source: Source::Peer,
                        reply,
                    }));
                }
                self.wake_now(to)
            }
            Event::Poll { from, to } => {
                self.schedule(STATUS_POLL_MS, Event::Poll { from, to });
                self.poll(from, to);
                Ok(())
            }
            Event::PollArrives { from, to, sent } => {
                let answer = self.nodes[to].is_up().then(|| self.nodes[to].height());
                let ok = answer.is_some() && self.reaches(to, from);
                let delay = self.delay(to, from);
                let (after, height) = if ok {
                    (delay, answer)
                } else if answer.is_none() {
                    (delay, None) // refused at once: nothing listens
                } else {
                    (CONNECT_TIMEOUT_MS, None)
                };
                self.schedule(
                    after,
                    Event::PollAnswer {
                        from,
                        to,
                        sent,
                        height,
                    },
                );
                Ok(())
            }
            Event::PollAnswer {
                from,
                to,
                sent,
                height,
            } => {
                let now = self.now();
                if let Some(d) = self.nodes[from].driver.as_mut() {
                    let view = &mut d.network_mut().peers[to];
                    match height {
                        Some(h) => {
                            view.height = Some(h);
                            view.reachable = true;
                            let median = self.round_trips.sample(from, to, now - sent);
                            view.round_trip_ms = Some(median);
                        }
                        None => view.reachable = false,
                    }
                }
                Ok(())
            }
            Event::SyncArrives { from, to, height } => {
                let blocks = (self.nodes[to].is_up() && self.reaches(to, from)).then(|| {
                    let d = self.nodes[to].disk.lock().expect("disk");
                    let all = d.blocks();
                    let start = (height.saturating_sub(1) as usize).min(all.len());
                    let end = (start + SYNC_PAGE as usize).min(all.len());
                    all[start..end].to_vec()
                });
                let after = if blocks.is_some() {
                    self.delay(to, from)
                } else {
                    CONNECT_TIMEOUT_MS
                };
                self.schedule(after, Event::SyncAnswer { from, to, blocks });
                Ok(())
            }
            Event::SyncAnswer { from, to, blocks } => {
                let Some(d) = self.nodes[from].driver.as_mut() else {
                    return Ok(());
                };
                d.network_mut().syncing = false;
                match blocks {
                    Some(b) if !b.is_empty() => {
                        self.trace(|| format!("n{from} fetched {} blocks from n{to}", b.len()));
                        self.out.blocks_synced += b.len() as u64;
                        self.nodes[from].inbox.push_back(Request::Synced(b));
                        self.wake_now(from)
                    }
                    _ => Ok(()),
                }
            }
            Event::Restart { node, incarnation } => {
                if self.nodes[node].incarnation == incarnation {
                    self.restart(node)?;
                }
                Ok(())
            }
            Event::Fault => {
                if self.phase == Phase::Safety
                    && let Some((lo, hi)) = self.cfg.fault_every_ms
                {
                    let t = self.rng.range(lo, hi);
                    self.schedule(t, Event::Fault);
                    self.fault()?;
                }
                Ok(())
            }
            Event::Votes => {
                if self.phase == Phase::Safety {
                    let (lo, hi) = self.cfg.vote_every_ms;
                    let t = self.rng.range(lo, hi);
                    self.schedule(t, Event::Votes);
                    // Now and then a rush that fills more than one block.
                    let rush = if self.rng.chance(self.cfg.rush_p) {
                        self.rng.range(5, 70)
                    } else {
                        1
                    };
                    for _ in 0..rush {
                        self.submit_vote()?;
                    }
                }
                Ok(())
            }
            Event::LivenessStart => self.start_liveness(),
            Event::Check => self.check_liveness(),
        }
    }

    /// Whether a message from `a` reaches `b` now.
    fn reaches(&mut self, a: usize, b: usize) -> bool {
        self.links[a][b] && !self.rng.chance(self.drop_rate)
    }

    /// A status poll, as net/peers.rs makes once a second: an answer
    /// marks the peer reachable with its height and the round trip; a
    /// peer that cannot be reached is marked unreachable.
    fn poll(&mut self, from: usize, to: usize) {
        if !self.nodes[from].is_up() {
            return;
        }
        let sent = self.now();
        if self.reaches(from, to) {
            let delay = self.delay(from, to);
            self.schedule(delay, Event::PollArrives { from, to, sent });
        } else {
            self.schedule(
                CONNECT_TIMEOUT_MS,
                Event::PollAnswer {
                    from,
                    to,
                    sent,
                    height: None,
                },
            );
        }
    }

    /// Schedules node `i`'s wake-up at `at` unless one comes sooner.
    fn wake_at(&mut self, i: usize, at: u64) {
        let x = &self.nodes[i];
        if !x.is_up() || x.wake_at.is_some_and(|w| w <= at) {
            return;
        }
        self.nodes[i].wake_at = Some(at);
        let incarnation = self.nodes[i].incarnation;
        self.schedule_at(
            at,
            Event::Wake {
                node: i,
                incarnation,
            },
        );
    }

    fn wake_now(&mut self, i: usize) -> Result<(), String> {
        self.wake_at(i, self.now());
        Ok(())
    }

    /// What the node thread does when it wakes: gather a batch (lingering
    /// for more submissions when the driver asks), step the driver, and
    /// sleep until the driver's next wake-up.
    fn wake(&mut self, i: usize) -> Result<(), String> {
        let node = &mut self.nodes[i];
        let Some(driver) = node.driver.as_ref() else {
            return Ok(());
        };
        let take = node.inbox.len().min(MAX_BATCH);
        let batch: Vec<Request> = node.inbox.drain(..take).collect();
        if !node.lingering
            && let Some(linger) = driver.linger(&batch)
        {
            for r in batch.into_iter().rev() {
                self.nodes[i].inbox.push_front(r);
            }
            self.nodes[i].lingering = true;
            let at = self.now() + linger.as_millis() as u64;
            self.wake_at(i, at);
            return Ok(());
        }
        self.nodes[i].lingering = false;
        self.step(i, batch)
    }

    fn step(&mut self, i: usize, batch: Vec<Request>) -> Result<(), String> {
        let cut_p = match self.phase {
            Phase::Safety => self.cfg.action_crash_p,
            Phase::Liveness => 0.0,
        };
        let power_seed = self.rng.next_u64();
        self.nodes[i]
            .disk
            .lock()
            .expect("disk")
            .power_on(cut_p, power_seed);
        let synced = batch.iter().any(|r| matches!(r, Request::Synced(_)));
        let before = self.nodes[i].height();
        let driver = self.nodes[i].driver.as_mut().expect("stepped while up");
        driver.step(batch);
        self.out.steps += 1;
        let outbox = std::mem::take(&mut driver.network_mut().outbox);
        let next = driver.next_wake();
        let now = driver.now_ms();
        self.after_step(i, outbox)?;
        let after = self.nodes[i].height();
        if synced && after > before {
            self.resend_current(i, |w, k| w.after_catch_up(k, before, after));
        }
        let powered = self.nodes[i].disk.lock().expect("disk").power.is_on();
        if !powered {
            self.out.crashes_between_actions += 1;
            self.crash(i, "(power cut between two effects of a step)");
            return Ok(());
        }
        // A deadline already passed asks for another step at once (the
        // core re-sends on its next tick what it sent first); one that
        // stays passed step after step would spin the node thread.
        if next <= now {
            self.nodes[i].steps_at_once += 1;
            if self.nodes[i].steps_at_once > MAX_STEPS_AT_ONCE {
                return Err(format!(
                    "n{i}'s driver asked {MAX_STEPS_AT_ONCE} times in a row to wake at once \
                     (at {next}, its clock at {now}): its thread would spin"
                ));
            }
        } else {
            self.nodes[i].steps_at_once = 0;
        }
        let skew = self.nodes[i].skew_ms;
        self.wake_at(i, next.max(now) - skew);
        if !self.nodes[i].inbox.is_empty() {
            self.wake_now(i)?;
        }
        Ok(())
    }

    /// What a step left: messages to carry, answers to voters, blocks
    /// committed, rules broken, the fallback state.
    fn after_step(&mut self, i: usize, outbox: Vec<Outgoing>) -> Result<(), String> {
        let violations = std::mem::take(&mut self.nodes[i].disk.lock().expect("disk").violations);
        if let Some(v) = violations.first() {
            return Err(format!("n{i}: {v}"));
        }
        for o in outbox {
            match o {
                Outgoing::Message(m) => self.broadcast(i, m)?,
                Outgoing::Txs(txs) => {
                    for to in 0..self.n() {
                        if to != i {
                            self.send_txs(i, to, txs.clone());
                        }
                    }
                }
                Outgoing::Sync { peer, from } => {
                    self.trace(|| format!("n{i} fetches blocks from n{peer} from {from}"));
                    if self.reaches(i, peer) {
                        let delay = self.delay(i, peer);
                        let e = Event::SyncArrives {
                            from: i,
                            to: peer,
                            height: from,
                        };
                        self.schedule(delay, e);
                    } else {
                        let e = Event::SyncAnswer {
                            from: i,
                            to: peer,
                            blocks: None,
                        };
                        self.schedule(CONNECT_TIMEOUT_MS, e);
                    }
                }
            }
        }
        let appended = self.nodes[i].disk.lock().expect("disk").take_appended();
        for b in appended {
            self.check_committed(i, b)?;
        }
        self.collect_answers(i);
        self.observe(i)
    }

    /// Round changes, equivocation reports and the fallback state after a
    /// step.
    fn observe(&mut self, i: usize) -> Result<(), String> {
        let driver = self.nodes[i].driver.as_ref().expect("up");
        let fallback = driver
            .status_cell()
            .read()
            .expect("status")
            .fallback
            .clone();
        if let Some(core) = driver.core() {
            let m = core.metrics();
            self.out.round_changes += m.round_changes - self.seen_rounds[i];
            self.seen_rounds[i] = m.round_changes;
            self.out.max_round = self.out.max_round.max(core.round());
            let evidence = core.evidence();
            for e in &evidence[self.seen_evidence[i]..] {
                let sender = *e.first.sender();
                let who = self.world.keys.iter().position(|k| k.public() == sender);
                match who {
                    Some(w) if self.nodes[w].wiped => {}
                    _ => {
                        return Err(format!(
                            "n{i} reports an equivocation by validator {who:?}, which never lost its disk: {} vs {}",
                            describe(&e.first),
                            describe(&e.second)
                        ));
                    }
                }
            }
            self.seen_evidence[i] = evidence.len();
        }
        let was = self.nodes[i].in_fallback;
        self.nodes[i].in_fallback = fallback.is_some();
        if let (false, Some(why)) = (was, &fallback) {
            self.nodes[i].fallback_entries += 1;
            self.out.fallback_entries += 1;
            self.trace(|| format!("n{i} ENTERS FALLBACK: {why}"));
            if self.cfg.never_fallback {
                return Err(format!("n{i} entered fallback mode: {why}"));
            }
        } else if was && fallback.is_none() {
            self.trace(|| format!("n{i} leaves fallback"));
        }
        Ok(())
    }

    /// The node's answers to voters: an answer is an acknowledgement only
    /// if what it acknowledges is on the node's disk (a power cut in the
    /// step may have kept the write from happening; nobody heard it then).
    fn collect_answers(&mut self, i: usize) {
        let asked = std::mem::take(&mut self.nodes[i].asked);
        for mut a in asked {
            let outcome = match a.answer.try_recv() {
                Ok(Ok(o)) => o,
                Ok(Err(_)) | Err(tokio::sync::oneshot::error::TryRecvError::Closed) => continue,
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                    self.nodes[i].asked.push(a);
                    continue;
                }
            };
            let ack = match outcome {
                SubmitOutcome::Confirmed { .. }
                | SubmitOutcome::Mempool(MempoolInsert::Inserted) => Ack::Mempool,
                SubmitOutcome::Fallback { .. } => Ack::Sealed,
                _ => continue,
            };
            let v = &self.votes[a.vote];
            let d = self.nodes[i].disk.lock().expect("disk");
            let durable = match ack {
                Ack::Mempool => d.in_mempool(&v.hash) || d.has_tx(&v.hash),
                Ack::Sealed => d.sealed(&v.hash).is_some(),
            };
            drop(d);
            if !durable {
                continue;
            }
            let double = self.votes[a.vote].voter_voted_before;
            self.votes[a.vote].ack = Some((i, ack));
            self.out.votes_accepted += 1;
            if ack == Ack::Sealed {
                self.out.votes_sealed += 1;
            }
            if double {
                self.out.double_votes_accepted += 1;
            }
            self.trace(|| format!("vote {} acknowledged by n{i}: {ack:?}", a.vote));
        }
    }

    /// Every broadcast must be durable first (the node's network checks
    /// that), and no validator that kept its disk may contradict itself.
    fn broadcast(&mut self, i: usize, msg: Arc<Message>) -> Result<(), String> {
        self.trace(|| format!("n{i} -> all {}", describe(&msg)));
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
        self.wire.note(i, &msg);
        for to in 0..self.n() {
            if to != i {
                self.send_msg(i, to, msg.clone(), 0);
            }
        }
        Ok(())
    }

    /// A message that did not get through (a cut link, a node down) is
    /// sent again after the sender's wait.
    fn retry_later(&mut self, call: Call) {
        self.out.messages_dropped += 1;
        let wait = retry_wait(call.attempt);
        let retry = Call {
            attempt: call.attempt + 1,
            ..call
        };
        self.schedule(wait, Event::Resend(retry));
    }

    /// Sends a consensus message as the peer layer does: a call that fails
    /// (a cut link, a lost request) is made again after a wait, until the
    /// message arrives or is of no use any more (its sender moved to a
    /// higher height, or crashed).
    fn send_msg(&mut self, from: usize, to: usize, msg: Arc<Message>, attempt: u32) {
        let incarnation = self.nodes[from].incarnation;
        self.out.messages_sent += 1;
        let call = |msg| Call {
            from,
            to,
            msg,
            incarnation,
            attempt,
        };
        if !self.reaches(from, to) {
            self.retry_later(call(msg));
            return;
        }
        let copies = if self.rng.chance(self.dup_rate) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = self.delay(from, to);
            self.schedule(delay, Event::Deliver(call(msg.clone())));
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
                let ev = Call {
                    from,
                    to,
                    msg,
                    incarnation,
                    attempt: 0,
                };
                self.schedule(t, Event::Resend(ev));
            }
        }
    }

    /// Gossips transactions: cut links and the drop rate lose them (their
    /// sender gossips them again when they go stale), the duplication rate
    /// sends them twice, random delays reorder.
    fn send_txs(&mut self, from: usize, to: usize, txs: Arc<Vec<SignedTx>>) {
        self.out.messages_sent += 1;
        if !self.reaches(from, to) {
            self.out.messages_dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.dup_rate) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = self.delay(from, to);
            let txs = txs.clone();
            self.schedule(delay, Event::Arrive { from, to, txs });
        }
    }

    /// A message's time on the link: the link's delay, or now and then in
    /// the first phase a long one (a fault).
    fn delay(&mut self, from: usize, to: usize) -> u64 {
        if self.phase == Phase::Safety && self.rng.chance(self.cfg.long_delay_p) {
            self.rng.range(200, 3_000)
        } else {
            let now = self.now();
            self.paths.delay(&mut self.rng, from, to, now)
        }
    }

    /// Checks a block node `i` stored (decided by its core, or synced):
    /// Q valid distinct seals, and the same block every other node stored
    /// at that height.
    fn check_committed(&mut self, i: usize, b: Block) -> Result<(), String> {
        let h = b.header.height;
        self.trace(|| {
            format!(
                "n{i} COMMIT h={h} r={} {} txs={} seals={}",
                b.header.round,
                short(&b.block_hash),
                b.transactions.len(),
                b.seals.len()
            )
        });
        if let Err(e) = self.check_seals(&b) {
            return Err(format!(
                "n{i} stored block {} at height {h} without Q valid distinct seals: {e}",
                short(&b.block_hash)
            ));
        }
        let idx = (h - 1) as usize;
        match self.canonical.get(idx) {
            Some((hash, who, first)) if hash != &b.block_hash => Err(format!(
                "FORK at height {h}: n{who} committed {} (round {}) but n{i} committed {} (round {}){}",
                short(hash),
                first.round,
                short(&b.block_hash),
                b.header.round,
                fork_kind(first, &b.header)
            )),
            Some(_) => Ok(()),
            None if idx == self.canonical.len() => {
                self.canonical.push((b.block_hash, i, b.header.clone()));
                Ok(())
            }
            None => Err(format!(
                "n{i} committed height {h} before any node committed height {}",
                self.canonical.len() + 1
            )),
        }
    }

    /// `check_seals`, remembering the seals it verified: the nodes of a run
    /// commit the same blocks with overlapping seals, and verifying a
    /// signature is the costliest thing a debug build does.
    fn check_seals(&mut self, b: &Block) -> Result<(), String> {
        let digest = b.commit_vote().digest().map_err(|e| e.to_string())?;
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
                if !verify_digest(&s.validator, &digest, &s.signature) {
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

    fn crash(&mut self, i: usize, why: &str) {
        self.nodes[i].stop();
        self.wire.forget(i);
        let incarnation = self.nodes[i].incarnation;
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

    /// Starts a node's driver from what its disk kept.
    fn restart(&mut self, i: usize) -> Result<(), String> {
        if self.nodes[i].is_up() {
            return Ok(());
        }
        if self.cfg.forget_journal_on_restart {
            // Amnesia: what it said before no longer binds it, so only the
            // safety checks (forks, double commits) can catch what follows.
            self.nodes[i].wiped = true;
            self.nodes[i].disk.lock().expect("disk").forget_journal();
        }
        let now = self.clock.clone();
        let world = self.world;
        self.nodes[i]
            .start(world, now, self.cast.iter())
            .map_err(|e| format!("n{i} {e}"))?;
        self.seen_rounds[i] = 0;
        self.seen_evidence[i] = 0;
        self.trace(|| {
            let core = self.nodes[i].driver.as_ref().and_then(|d| d.core());
            format!(
                "n{i} START at height {} round {:?}",
                self.nodes[i].height(),
                core.map(|c| c.round())
            )
        });
        let t = self.rng.range(1, 20);
        self.wake_at(i, self.now() + t);
        // Its peer layer starts afresh: no round trip measured yet.
        self.round_trips.forget(i);
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
        for v in &mut self.votes {
            if v.ack.is_some_and(|(node, _)| node == i) {
                v.lost_with_disk = true;
            }
        }
        self.nodes[i].disk = Disk::cell(self.world);
        self.nodes[i].wiped = true;
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
            45..65 if self.now() >= self.partition_until => {
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
        self.partition_until = self.now() + hold;
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

    /// A voter casts a ballot at a random validator that is up (its voter
    /// API hands it to the node); now and then a voter who already voted
    /// tries again (a double vote), here or elsewhere.
    fn submit_vote(&mut self) -> Result<(), String> {
        let up: Vec<usize> = (0..self.n()).filter(|&i| self.nodes[i].is_up()).collect();
        let fresh = self.next_voter < self.world.ballots.len();
        if up.is_empty() {
            return Ok(()); // the voter is told no appliance is reachable
        }
        self.out.votes_submitted += 1;
        let i = up[self.rng.index(up.len())];
        let double = self.next_voter > 0 && (!fresh || self.rng.chance(0.05));
        let (voter, pool) = if double {
            let k = self.rng.index(self.next_voter);
            (k, &self.world.twins[k])
        } else {
            self.next_voter += 1;
            let k = self.next_voter - 1;
            (k, &self.world.ballots[k])
        };
        let vote = self.votes.len();
        self.votes.push(VoteRec {
            stx: pool.stx.clone(),
            hash: pool.hash,
            nullifier: pool.nullifier,
            voter: voter as i64 + 1,
            voter_voted_before: double,
            ack: None,
            lost_with_disk: false,
        });
        // Checked when the pool was made: every node knows it for checked,
        // as if it had checked it at its door or in the gossip.
        self.cast.push((pool.hash, pool.stx.signature));
        for x in self.nodes.iter().filter_map(|x| x.driver.as_ref()) {
            x.verified_cache().insert(&pool.hash, &pool.stx.signature);
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let v = &self.votes[vote];
        let sub = Submission {
            stx: Box::new((*v.stx).clone()),
            tx_hash: v.hash,
            source: Source::Voter(v.voter),
            reply,
        };
        self.trace(|| format!("vote {vote} (voter {voter}, double: {double}) cast at n{i}"));
        self.nodes[i].inbox.push_back(Request::Submit(sub));
        self.nodes[i].asked.push(Asked { vote, answer });
        self.wake_now(i)
    }

    /// The last fault: the network heals and stops losing messages, every
    /// validator restarts from what it kept, no new votes come in.
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
            if v.ack.is_none() {
                continue;
            }
            // A vote only a wiped validator ever held is lost with its disk.
            let somewhere = self.nodes.iter().any(|x| {
                let d = x.disk.lock().expect("disk");
                d.counted(&v.nullifier).is_some() || d.holds_nullifier(&v.nullifier)
            }) || self.in_flight(&v.nullifier);
            if somewhere || !v.lost_with_disk {
                required.push(v.nullifier);
            }
        }
        required.sort();
        required.dedup();
        self.required = required;
        let highest = (self.nodes.iter())
            .filter_map(|x| x.driver.as_ref()?.core().map(|c| c.round()))
            .max()
            .unwrap_or(0);
        let backlog = (self.required.iter())
            .filter(|null| {
                !self
                    .nodes
                    .iter()
                    .any(|x| x.disk.lock().expect("disk").counted(null).is_some())
            })
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
        self.liveness_deadline = self.now() + bound;
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
            .filter_map(|x| x.driver.as_ref()?.core().map(Core::base_timeout))
            .max()
            .unwrap_or(0);
        (may.max(chose), longest)
    }

    /// Whether a gossiped ballot with this nullifier is on the wire.
    fn in_flight(&self, nullifier: &(u64, Hash32)) -> bool {
        self.queue.iter().any(|Reverse(s)| match &s.event {
            Event::Arrive { txs, .. } => txs.iter().any(|t| t.tx.nullifier() == Some(*nullifier)),
            _ => false,
        })
    }

    fn converged(&self) -> bool {
        let (height, head) = (self.nodes[0].height(), self.nodes[0].head_hash());
        self.nodes.iter().all(|x| {
            let d = x.disk.lock().expect("disk");
            x.is_up()
                && d.height() == height
                && d.head_hash() == head
                && d.open_fallback() == 0
                && self.required.iter().all(|null| d.counted(null).is_some())
        })
    }

    fn check_liveness(&mut self) -> Result<(), String> {
        if self.converged() {
            self.out.liveness_ms = self.now() - self.safety_end;
            self.out.height = self.nodes[0].height();
            self.trace(|| {
                format!(
                    "CONVERGED at height {} after {} ms of liveness phase",
                    self.out.height, self.out.liveness_ms
                )
            });
            self.done = true;
            self.out.stalls = self.paths.stalls_before(self.now());
            return Ok(());
        }
        if self.now() >= self.liveness_deadline {
            let mut report = format!(
                "LIVENESS: not converged {} ms after the last fault (highest round then {}, backlog {}; {} accepted votes required):",
                self.out.liveness_bound_ms,
                self.out.liveness_round,
                self.out.liveness_backlog,
                self.required.len()
            );
            for (i, x) in self.nodes.iter().enumerate() {
                let d = x.disk.lock().expect("disk");
                let missing = (self.required.iter())
                    .filter(|null| d.counted(null).is_none())
                    .count();
                let core = x
                    .driver
                    .as_ref()
                    .and_then(|dr| dr.core())
                    .map(|c| c.status());
                let status = x.status();
                report.push_str(&format!(
                    "\n  n{i}: height {} head {} core {:?} mempool {} missing votes {missing} open fallback ballots {} fallback {:?}",
                    d.height(),
                    d.head_hash().map_or("genesis".into(), |h| short(&h)),
                    core.map(|s| (s.height, s.round, s.locked_round)),
                    d.mempool_size(),
                    d.open_fallback(),
                    status.and_then(|s| s.fallback).map(|f| f.to_string()),
                ));
            }
            return Err(report);
        }
        self.schedule(100, Event::Check);
        Ok(())
    }

    /// After convergence: one chain everywhere, and every acknowledged
    /// vote committed exactly once, or rejected as a double vote naming the
    /// ballot that was counted, by the node that acknowledged it.
    fn final_checks(&self) -> Result<(), String> {
        if !self.done {
            return Err("the event queue ran dry before convergence".into());
        }
        for (i, x) in self.nodes.iter().enumerate() {
            let d = x.disk.lock().expect("disk");
            for (k, b) in d.blocks().iter().enumerate() {
                if b.block_hash != self.canonical[k].0 {
                    return Err(format!("FORK at height {}: n{i} differs", k + 1));
                }
            }
        }
        for (k, v) in self.votes.iter().enumerate() {
            let Some((i, ack)) = v.ack else { continue };
            if v.lost_with_disk {
                continue;
            }
            let d = self.nodes[i].disk.lock().expect("disk");
            let counted = d.counted(&v.nullifier);
            let settled = match ack {
                Ack::Mempool => {
                    counted == Some(v.hash)
                        || (counted.is_some() && d.rejection(&v.hash) == Some(counted))
                }
                Ack::Sealed => d.sealed(&v.hash).is_some_and(|b| match b.state {
                    ReconcileState::Confirmed => counted == Some(b.main_tx_hash),
                    ReconcileState::Rejected => {
                        counted.is_some()
                            && counted != Some(b.main_tx_hash)
                            && b.conflicting_tx == counted
                    }
                    _ => false,
                }),
            };
            if !settled {
                return Err(format!(
                    "vote {k} ({}), acknowledged by n{i} ({ack:?}), is neither committed nor \
                     rejected naming the ballot counted ({:?}); n{i} records {:?} / {:?}",
                    short(&v.hash),
                    counted.map(|h| short(&h)),
                    d.rejection(&v.hash),
                    d.sealed(&v.hash)
                        .map(|b| (b.state, b.conflicting_tx.map(|h| short(&h)))),
                ));
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
