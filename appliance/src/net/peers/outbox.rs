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

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::compact::TxRef;
use crate::consensus::Message;
use crate::ledger::Hash32;

/// The first wait before a failed call is made again; it doubles with each
/// failure up to [`MAX_RETRY_WAIT`].
pub const FIRST_RETRY_WAIT: Duration = Duration::from_millis(200);
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// A message as this node sends it to every peer: a proposal's
/// transactions are named once ([`TxRef`]), for all of them.
#[derive(Debug)]
pub struct Outgoing {
    pub msg: Message,
    pub refs: Vec<TxRef>,
}

/// A message waiting for a peer's acknowledgement.
#[derive(Debug, Clone)]
pub struct Entry {
    pub out: Arc<Outgoing>,
    /// Transactions of a proposal to send whole (the peer lacks them).
    pub carry: Vec<Hash32>,
    failures: u32,
    due: Instant,
}

impl Entry {
    fn new(out: Arc<Outgoing>) -> Self {
        Self {
            out,
            carry: Vec::new(),
            failures: 0,
            due: Instant::now(),
        }
    }
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Entry>,
    newest_height: u64,
    stopped: bool,
}

/// See the module documentation. Bounded: past `capacity` messages a new
/// one is refused (and counted by the caller).
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
    /// waits. False if the outbox is full.
    pub fn push(&self, out: Arc<Outgoing>) -> bool {
        let mut s = self.state.lock().expect("outbox");
        let h = out.msg.height();
        if h > s.newest_height {
            s.newest_height = h;
            s.waiting.retain(|e| e.out.msg.height() >= h);
        }
        if s.waiting.iter().any(|e| e.out.msg == out.msg) {
            return true;
        }
        if s.waiting.len() >= self.capacity {
            return false;
        }
        s.waiting.push_back(Entry::new(out));
        self.wake.notify_one();
        true
    }

    /// Waits until messages are due and takes up to `max` of them, oldest
    /// first, at most one proposal (a peer takes a request naming at most
    /// one block's transactions); `None` once stopped.
    pub fn take(&self, max: usize) -> Option<Vec<Entry>> {
        let mut s = self.state.lock().expect("outbox");
        loop {
            if s.stopped {
                return None;
            }
            let now = Instant::now();
            if s.waiting.iter().any(|e| e.due <= now) {
                let mut taken = Vec::new();
                let mut kept = VecDeque::with_capacity(s.waiting.len());
                let mut proposal = false;
                for e in s.waiting.drain(..) {
                    let is_proposal = matches!(e.out.msg, Message::Proposal(_));
                    if e.due <= now && taken.len() < max && !(proposal && is_proposal) {
                        proposal |= is_proposal;
                        taken.push(e);
                    } else {
                        kept.push_back(e);
                    }
                }
                s.waiting = kept;
                return Some(taken);
            }
            let next = s.waiting.iter().map(|e| e.due).min();
            s = match next {
                Some(due) => self.wake.wait_timeout(s, due - now).expect("outbox").0,
                None => self.wake.wait(s).expect("outbox"),
            };
        }
    }

    /// Puts back messages whose call failed, to go again after a backoff
    /// (those of a height this node has left are dropped).
    pub fn retry(&self, entries: Vec<Entry>) {
        let mut s = self.state.lock().expect("outbox");
        let now = Instant::now();
        for mut e in entries {
            if e.out.msg.height() < s.newest_height {
                continue;
            }
            let wait = FIRST_RETRY_WAIT.saturating_mul(1 << e.failures.min(4));
            e.failures += 1;
            e.due = now + wait.min(MAX_RETRY_WAIT);
            s.waiting.push_back(e);
        }
        self.wake.notify_one();
    }

    /// Puts back a proposal the peer could not rebuild, to go again at
    /// once carrying the transactions it lacks.
    pub fn carry(&self, mut e: Entry, missing: Vec<Hash32>) {
        let mut s = self.state.lock().expect("outbox");
        if e.out.msg.height() < s.newest_height {
            return;
        }
        e.carry.extend(missing);
        e.due = Instant::now();
        s.waiting.push_front(e);
        self.wake.notify_one();
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
    use crate::consensus::SignedVote;
    use crate::ledger::{Signature, Vote, VoteKind};

    fn prepare(height: u64, round: u64) -> Arc<Outgoing> {
        let vote = Vote {
            kind: VoteKind::Prepare,
            chain_id: Hash32([1; 32]),
            height,
            round,
            block_hash: Hash32([2; 32]),
        };
        Arc::new(Outgoing {
            msg: Message::Prepare(SignedVote {
                vote,
                sender: crate::ledger::crypto::test_keys::key(1).public(),
                signature: Signature([0; 64]),
            }),
            refs: Vec::new(),
        })
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
        assert!(o.push(prepare(1, 0)));
        assert!(o.push(prepare(1, 1)));
        // The same message again waits once.
        assert!(o.push(prepare(1, 1)));
        assert_eq!(o.len(), 2);
        let taken = o.take(10).unwrap();
        assert_eq!(heights(&taken), [(1, 0), (1, 1)]);
        assert_eq!(o.len(), 0);
        // The call failed: back, after a wait.
        o.retry(taken);
        assert_eq!(o.len(), 2);
        // A message for height 2: height 1's are of no use any more.
        assert!(o.push(prepare(2, 0)));
        let taken = o.take(10).unwrap();
        assert_eq!(heights(&taken), [(2, 0)]);
        o.retry(vec![Entry::new(prepare(1, 3))]);
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn a_full_outbox_refuses_and_a_stopped_one_wakes_its_senders() {
        let o = Arc::new(Outbox::new(2));
        assert!(o.push(prepare(1, 0)));
        assert!(o.push(prepare(1, 1)));
        assert!(!o.push(prepare(1, 2)));
        assert_eq!(o.take(1).unwrap().len(), 1);
        assert_eq!(o.take(1).unwrap().len(), 1);
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
            &crate::ledger::crypto::test_keys::key(1),
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
        o.push(proposal(0));
        o.push(prepare(1, 0));
        o.push(proposal(1));
        o.push(prepare(1, 1));
        assert_eq!(heights(&o.take(10).unwrap()), [(1, 0), (1, 0), (1, 1)]);
        assert_eq!(heights(&o.take(10).unwrap()), [(1, 1)]);
    }

    #[test]
    fn a_retried_message_waits_longer_each_time_and_carried_ones_go_at_once() {
        let o = Outbox::new(4);
        o.push(prepare(1, 0));
        let e = o.take(1).unwrap();
        let before = Instant::now();
        o.retry(e);
        let e = o.take(1).unwrap();
        assert!(before.elapsed() >= FIRST_RETRY_WAIT);
        o.carry(e[0].clone(), vec![Hash32([5; 32])]);
        let e = o.take(1).unwrap();
        assert_eq!(e[0].carry, vec![Hash32([5; 32])]);
    }
}
