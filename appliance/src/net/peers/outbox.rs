//! A peer's consensus outbox. Every message this node broadcasts waits
//! here until the peer acknowledges it (answers 2xx: the message is in its
//! node's queue), and goes out again only for a reason: the call failed
//! (after a backoff), the peer lacked transactions of a proposal (at once,
//! carrying them), or the peer may have lost what it acknowledged (it
//! restarted, or it was too far behind to keep it and has caught up: the
//! poller puts this node's current messages back, [`Outbox::push`]). There
//! is no timer that sends anything again. A message for a lower height
//! than the newest this node sent is dropped unsent: the peer that lacks
//! that block fetches it committed instead.
//!
//! One reason more: a message the peer has not acknowledged within a bound
//! measured from its round trip shows the link stalled (it holds a request
//! for seconds without failing it): from then until the peer acknowledges
//! something again, each message of this node's own is
//! [`Outbox::overdue`] as soon as it is queued, and goes to the other
//! validators too, asking each to pass it on (`relay.rs`). A message
//! relayed for another node is never relayed again.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::compact::{TxRef, tx_refs};
use crate::consensus::Message;
use crate::ledger::{Hash32, PublicKey};

/// The first wait before a failed call is made again; it doubles with each
/// failure up to [`MAX_RETRY_WAIT`].
pub const FIRST_RETRY_WAIT: Duration = Duration::from_millis(200);
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);
/// The most transactions a relayed proposal carries whole (see
/// [`Entry::new`]): about 200 KB of ballots, a few seconds' worth of votes
/// at a polling station's rate.
pub const RELAY_CARRY_MAX_TXS: usize = 64;

/// A message as this node sends it to every peer: a proposal's
/// transactions are named once ([`TxRef`]), for all of them.
#[derive(Debug)]
pub struct Outgoing {
    pub msg: Message,
    pub refs: Vec<TxRef>,
}

impl Outgoing {
    pub fn of(msg: Message) -> Arc<Self> {
        let refs = match &msg {
            Message::Proposal(p) => tx_refs(&p.block),
            _ => Vec::new(),
        };
        Arc::new(Self { msg, refs })
    }
}

/// Why a message is in a peer's outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// This node's own message: relayed through the others if the peer is
    /// slow to take it.
    Own,
    /// Another node's message this node passes on, once, because the
    /// sender asked it to (`relay_to`): carries a small proposal whole.
    Relayed,
    /// Another node's message this node passes on, the first time it
    /// sees it (`passon.rs`): by names.
    PassedOn,
    /// Another copy of this node's own message for the validator named,
    /// which the peer is asked to pass on to it.
    Via(PublicKey),
}

/// A message waiting for a peer's acknowledgement.
#[derive(Debug, Clone)]
pub struct Entry {
    pub out: Arc<Outgoing>,
    /// Transactions of a proposal to send whole (the peer lacks them).
    pub carry: Vec<Hash32>,
    pub kind: Kind,
    id: u64,
    failures: u32,
    due: Instant,
    /// When it was first queued.
    since: Instant,
    /// A call carrying it is under way.
    in_flight: bool,
    /// Already sent through the other validators (or never to be).
    hedged: bool,
}

impl Entry {
    /// A relayed proposal of up to [`RELAY_CARRY_MAX_TXS`] transactions
    /// carries every one: it takes another path because the sender's link
    /// to its target is stalled, and the gossip of the proposer's own
    /// transactions most likely waits on that link too; the node relaying
    /// it may have committed the block already, and no longer hold them in
    /// its mempool by which to rebuild it. A larger one goes by names like
    /// any other (the peer asks for what it lacks): carried whole, a block
    /// of a backlog is megabytes, which a thin uplink takes longer to send
    /// than the round lasts, and its copies would queue behind the
    /// original on the same uplink.
    fn new(out: Arc<Outgoing>, kind: Kind, id: u64) -> Self {
        let now = Instant::now();
        let small = out.refs.len() <= RELAY_CARRY_MAX_TXS;
        let carry = match kind {
            Kind::Relayed | Kind::Via(_) if small => out.refs.iter().map(|r| r.tx_hash).collect(),
            Kind::Own | Kind::Relayed | Kind::PassedOn | Kind::Via(_) => Vec::new(),
        };
        Self {
            out,
            carry,
            hedged: kind != Kind::Own,
            kind,
            id,
            failures: 0,
            due: now,
            since: now,
            in_flight: false,
        }
    }

    /// Where the peer is asked to pass it on.
    pub fn relay_to(&self) -> Option<PublicKey> {
        match self.kind {
            Kind::Via(to) => Some(to),
            Kind::Own | Kind::Relayed | Kind::PassedOn => None,
        }
    }
}

#[derive(Default)]
struct State {
    /// Waiting to go, and under way (until acknowledged).
    waiting: VecDeque<Entry>,
    newest_height: u64,
    next_id: u64,
    stopped: bool,
    /// A message waited past its bound, and nothing was acknowledged since.
    stalled: bool,
}

impl State {
    fn find(&mut self, id: u64) -> Option<&mut Entry> {
        self.waiting.iter_mut().find(|e| e.id == id)
    }
}

/// See the module documentation. Bounded: past `capacity` messages (those
/// under way included) a new one is refused (and counted by the caller).
pub struct Outbox {
    state: Mutex<State>,
    wake: Condvar,
    capacity: usize,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::default(),
            wake: Condvar::new(),
            capacity,
        }
    }

    /// Queues `out` for the peer now, unless the same message already
    /// waits (or is under way) for the same reason. False if the outbox is
    /// full.
    pub fn push(&self, out: Arc<Outgoing>, kind: Kind) -> bool {
        let mut s = self.state.lock().expect("outbox");
        let h = out.msg.height();
        if h > s.newest_height {
            s.newest_height = h;
            s.waiting.retain(|e| e.out.msg.height() >= h);
        }
        let same = |e: &Entry| e.kind == kind && e.out.msg == out.msg;
        if s.waiting.iter().any(same) {
            return true;
        }
        if s.waiting.len() >= self.capacity {
            return false;
        }
        s.next_id += 1;
        let entry = Entry::new(out, kind, s.next_id);
        s.waiting.push_back(entry);
        self.wake.notify_one();
        true
    }

    /// Waits until messages are due and takes up to `max` of them, oldest
    /// first, at most one proposal (a peer takes a request naming at most
    /// one block's transactions), all to be passed on to the same node (or
    /// none); `None` once stopped. They stay in the outbox, under way,
    /// until [`Outbox::done`] or [`Outbox::retry`].
    pub fn take(&self, max: usize) -> Option<Vec<Entry>> {
        let mut s = self.state.lock().expect("outbox");
        loop {
            if s.stopped {
                return None;
            }
            let now = Instant::now();
            let ready = |e: &Entry| !e.in_flight && e.due <= now;
            if let Some(first) = s.waiting.iter().find(|e| ready(e)) {
                let via = first.relay_to();
                let mut taken = Vec::new();
                let mut proposal = false;
                for e in s.waiting.iter_mut() {
                    let is_proposal = matches!(e.out.msg, Message::Proposal(_));
                    if ready(e)
                        && e.relay_to() == via
                        && taken.len() < max
                        && !(proposal && is_proposal)
                    {
                        proposal |= is_proposal;
                        e.in_flight = true;
                        taken.push(e.clone());
                    }
                }
                return Some(taken);
            }
            let next = (s.waiting.iter())
                .filter(|e| !e.in_flight)
                .map(|e| e.due)
                .min();
            s = match next {
                Some(due) => self.wake.wait_timeout(s, due - now).expect("outbox").0,
                None => self.wake.wait(s).expect("outbox"),
            };
        }
    }

    /// The peer acknowledged these (or refused them for good): they leave,
    /// and the link carries again.
    pub fn done(&self, entries: &[Entry]) {
        let mut s = self.state.lock().expect("outbox");
        s.waiting.retain(|e| !entries.iter().any(|d| d.id == e.id));
        s.stalled &= entries.is_empty();
    }

    /// Messages whose call failed go again after a backoff (those of a
    /// height this node has left are gone already). A failed call ended:
    /// the link is not holding it, and its wait counts from now.
    pub fn retry(&self, entries: Vec<Entry>) {
        let mut s = self.state.lock().expect("outbox");
        let now = Instant::now();
        for e in entries {
            if let Some(w) = s.find(e.id) {
                let wait = FIRST_RETRY_WAIT.saturating_mul(1 << w.failures.min(4));
                w.failures += 1;
                w.due = now + wait.min(MAX_RETRY_WAIT);
                w.since = w.due;
                w.in_flight = false;
            }
        }
        self.wake.notify_one();
    }

    /// A proposal the peer could not rebuild goes again at once carrying
    /// the transactions it lacks. The peer answered: the link carries, and
    /// the proposal's wait counts from now.
    pub fn carry(&self, e: &Entry, missing: Vec<Hash32>) {
        let mut s = self.state.lock().expect("outbox");
        let now = Instant::now();
        if let Some(w) = s.find(e.id) {
            w.carry.extend(missing);
            w.due = now;
            w.since = now;
            w.in_flight = false;
        }
        s.stalled = false;
        self.wake.notify_one();
    }

    /// This node's own messages that are to go through the other
    /// validators too, each returned once: all those not acknowledged yet
    /// once one of them has waited past its `bound` since it was queued
    /// (the link is stalled), until the peer acknowledges one. Only this
    /// node's own messages tell: a copy sent to be passed on carries a
    /// whole block and may take longer, and a stall seen in it would send
    /// more such copies.
    pub fn overdue(&self, bound: impl Fn(&Outgoing) -> Duration) -> Vec<Arc<Outgoing>> {
        let mut s = self.state.lock().expect("outbox");
        let now = Instant::now();
        let late = |e: &Entry| e.kind == Kind::Own && e.since + bound(&e.out) <= now;
        if !s.stalled && s.waiting.iter().any(late) {
            s.stalled = true;
        }
        if !s.stalled {
            return Vec::new();
        }
        let mut late = Vec::new();
        for e in s.waiting.iter_mut().filter(|e| !e.hedged) {
            e.hedged = true;
            late.push(e.out.clone());
        }
        late
    }

    /// Whether the link looks stalled (see [`Outbox::overdue`]).
    pub fn stalled(&self) -> bool {
        self.state.lock().expect("outbox").stalled
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.state.lock().expect("outbox").waiting.len()
    }

    /// Wakes every sender and lets them stop.
    pub fn stop(&self) {
        self.state.lock().expect("outbox").stopped = true;
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::crypto::test_keys::key;

    fn prepare(height: u64, round: u64) -> Arc<Outgoing> {
        Outgoing::of(super::super::passon::tests::prepare(height, round, 1))
    }

    fn heights(entries: &[Entry]) -> Vec<(u64, u64)> {
        entries
            .iter()
            .map(|e| (e.out.msg.height(), e.out.msg.round()))
            .collect()
    }

    #[test]
    fn messages_wait_until_acknowledged_and_old_heights_are_dropped() {
        let o = Outbox::new(4);
        assert!(o.push(prepare(1, 0), Kind::Own));
        assert!(o.push(prepare(1, 1), Kind::Own));
        // The same message again waits once.
        assert!(o.push(prepare(1, 1), Kind::Own));
        assert_eq!(o.len(), 2);
        let taken = o.take(10).unwrap();
        assert_eq!(heights(&taken), [(1, 0), (1, 1)]);
        // Under way, not acknowledged: still there, and not taken again.
        assert_eq!(o.len(), 2);
        assert!(o.push(prepare(1, 1), Kind::Own));
        assert_eq!(o.len(), 2);
        // The call failed: back, after a wait.
        o.retry(taken);
        assert_eq!(o.len(), 2);
        // A message for height 2: height 1's are of no use any more.
        assert!(o.push(prepare(2, 0), Kind::Own));
        let taken = o.take(10).unwrap();
        assert_eq!(heights(&taken), [(2, 0)]);
        o.done(&taken);
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn a_full_outbox_refuses_and_a_stopped_one_wakes_its_senders() {
        let o = Arc::new(Outbox::new(2));
        assert!(o.push(prepare(1, 0), Kind::Own));
        assert!(o.push(prepare(1, 1), Kind::Own));
        assert!(!o.push(prepare(1, 2), Kind::Own));
        let first = o.take(1).unwrap();
        assert_eq!(first.len(), 1);
        // Under way, it still takes room until acknowledged.
        assert!(!o.push(prepare(1, 2), Kind::Own));
        o.done(&first);
        assert!(o.push(prepare(1, 2), Kind::Own));
        assert_eq!(o.take(1).unwrap().len(), 1);
        assert_eq!(o.take(1).unwrap().len(), 1);
        // Everything is under way: a sender waits.
        let o2 = o.clone();
        let waiter = std::thread::spawn(move || o2.take(1));
        o.stop();
        assert!(waiter.join().unwrap().is_none());
    }

    fn proposal(round: u64) -> Arc<Outgoing> {
        let g = crate::ledger::genesis::fixtures::genesis(3);
        let block = crate::ledger::Block::propose(
            g.chain_id().unwrap(),
            1,
            round,
            Hash32([0; 32]),
            5,
            Vec::new(),
            &key(1),
        )
        .unwrap();
        Arc::new(Outgoing {
            msg: Message::Proposal(crate::consensus::Proposal {
                block,
                justification: None,
            }),
            refs: Vec::new(),
        })
    }

    #[test]
    fn a_request_takes_one_proposal_at_most() {
        let o = Outbox::new(8);
        o.push(proposal(0), Kind::Own);
        o.push(prepare(1, 0), Kind::Own);
        o.push(proposal(1), Kind::Own);
        o.push(prepare(1, 1), Kind::Own);
        assert_eq!(heights(&o.take(10).unwrap()), [(1, 0), (1, 0), (1, 1)]);
        assert_eq!(heights(&o.take(10).unwrap()), [(1, 1)]);
    }

    #[test]
    fn a_retried_message_waits_longer_each_time_and_carried_ones_go_at_once() {
        let o = Outbox::new(4);
        o.push(prepare(1, 0), Kind::Own);
        let e = o.take(1).unwrap();
        let before = Instant::now();
        o.retry(e);
        let e = o.take(1).unwrap();
        assert!(before.elapsed() >= FIRST_RETRY_WAIT);
        o.carry(&e[0], vec![Hash32([5; 32])]);
        let e = o.take(1).unwrap();
        assert_eq!(e[0].carry, vec![Hash32([5; 32])]);
    }

    #[test]
    fn a_request_asks_its_peer_to_pass_on_to_one_node_or_none() {
        let (b, c) = (key(2).public(), key(3).public());
        let o = Outbox::new(8);
        o.push(prepare(1, 0), Kind::Via(b));
        o.push(prepare(1, 1), Kind::Own);
        o.push(prepare(1, 2), Kind::Via(b));
        o.push(prepare(1, 3), Kind::Via(c));
        // The same message for another reason is another entry.
        o.push(prepare(1, 1), Kind::Via(b));
        let first = o.take(10).unwrap();
        assert_eq!(heights(&first), [(1, 0), (1, 2), (1, 1)]);
        assert!(first.iter().all(|e| e.relay_to() == Some(b)));
        assert_eq!(heights(&o.take(10).unwrap()), [(1, 1)]);
        let last = o.take(10).unwrap();
        assert_eq!(last[0].relay_to(), Some(c));
    }

    #[test]
    fn once_a_message_waits_past_its_bound_every_own_one_is_overdue_until_an_ack() {
        let o = Outbox::new(8);
        let long = |_: &Outgoing| Duration::from_secs(60);
        o.push(prepare(1, 0), Kind::Own);
        o.push(prepare(1, 1), Kind::Relayed);
        o.push(prepare(1, 2), Kind::Via(key(2).public()));
        let first = o.take(1).unwrap();
        assert!(o.overdue(long).is_empty());
        assert!(!o.stalled());
        // Past the bound: the link is stalled. Neither a message relayed
        // for another node nor a copy sent to be passed on is overdue.
        let late = o.overdue(|_| Duration::ZERO);
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].msg, prepare(1, 0).msg);
        assert!(o.stalled());
        assert!(o.overdue(|_| Duration::ZERO).is_empty());
        // While it is, a new message is overdue at once, whatever its bound.
        o.push(prepare(1, 3), Kind::Own);
        assert_eq!(o.overdue(long).len(), 1);
        // An acknowledgement: the link carries again.
        o.done(&first);
        assert!(!o.stalled());
        o.push(prepare(1, 4), Kind::Own);
        assert!(o.overdue(long).is_empty());
    }
}
