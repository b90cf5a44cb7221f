//! A station's follower: it asks a validator for the blocks above its own
//! head with `GET /p2p/blocks?from=&wait_ms=`, which answers as soon as the
//! next block is committed there, and hands them to the node (which
//! verifies each before storing it). A station so learns of a block one
//! message delay after its commit, not at its next status poll plus a
//! fetch: its voters see "confirmed" that much sooner.
//!
//! [`FOLLOWERS`] follow at once, each asking another validator: a
//! wide-area link stalls now and then, holding the answer for seconds
//! without failing the request, and a block then comes by another. Three,
//! because two of a station's links stall together now and then too. The
//! cost is more copies of each block on the station's downlink, usually
//! the wider way of its link (a block the node already holds is skipped).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{Call, CallError, PeerClient};
use super::{BlocksPage, MAX_SYNC_BODY, PeerTable, SYNC_PAGE, SYNC_TIMEOUT};
use crate::node::{NodeInbox, Request};

/// How long a follower's request waits at the validator for a block.
pub const FOLLOW_WAIT_MS: u64 = 5_000;
/// Requests following the chain at once, each to another validator (with
/// fewer validators, as many as there are).
pub const FOLLOWERS: usize = 3;
/// After a failed request, the follower waits this long before the next.
const FOLLOW_BACKOFF: Duration = Duration::from_secs(1);

/// Where the follower is: the next height it asks for (0 until the node
/// said where its head is), and when it last fetched something.
#[derive(Debug, Default)]
pub(super) struct Cursor {
    next: AtomicU64,
    progressed: Mutex<Option<Instant>>,
}

impl Cursor {
    /// The node is at `height` and behind its peers: fetch from above it,
    /// unless the follower is already ahead and moving (the node has not
    /// stored what it was handed yet; asking again would fetch it twice).
    pub fn node_at(&self, height: u64) {
        let moving = self
            .progressed
            .lock()
            .expect("cursor")
            .is_some_and(|t| t.elapsed() < FOLLOW_BACKOFF * 2);
        let next = self.next.load(Ordering::SeqCst);
        let ahead = next > height + 1 && next <= height + 1 + 2 * SYNC_PAGE;
        if !(moving && ahead) {
            self.next.store(height + 1, Ordering::SeqCst);
        }
    }

    /// Blocks up to `last` were fetched (by this follower or another: the
    /// cursor never moves back for a slower one's answer).
    fn fetched(&self, last: u64) {
        self.next.fetch_max(last + 1, Ordering::SeqCst);
        *self.progressed.lock().expect("cursor") = Some(Instant::now());
    }
}

pub(super) struct Follower {
    pub client: PeerClient,
    pub table: Arc<PeerTable>,
    pub inbox: NodeInbox,
    pub cursor: Arc<Cursor>,
    pub stop: Arc<AtomicBool>,
    /// Whose turn it is to be asked, shared by the followers.
    pub turn: Arc<AtomicUsize>,
    /// The validators the followers are asking now.
    pub asking: Arc<Mutex<BTreeSet<String>>>,
}

impl Follower {
    pub fn run(self) {
        while !self.stop.load(Ordering::SeqCst) {
            let from = self.cursor.next.load(Ordering::SeqCst);
            if from == 0 {
                std::thread::sleep(FOLLOW_BACKOFF / 10);
                continue;
            }
            let Some(url) = self.validator() else {
                std::thread::sleep(FOLLOW_BACKOFF);
                continue;
            };
            let followed = self.follow(&url, from);
            self.asking.lock().expect("asking").remove(&url);
            if let Err(e) = followed {
                tracing::debug!(peer = %url, "following the chain failed: {e}");
                self.table.record_failure(&url, &e);
                std::thread::sleep(FOLLOW_BACKOFF);
            }
        }
    }

    /// The next of the reachable validators at (or a block below) the
    /// highest head that no other follower is asking, in turn (every block
    /// crosses one validator's uplink to the station, and taking turns
    /// spreads them over all); marked as asked.
    fn validator(&self) -> Option<String> {
        let peers: Vec<_> = (self.table.snapshot().into_iter())
            .filter(|p| p.validator && p.reachable)
            .collect();
        let top = peers.iter().filter_map(|p| p.height).max()?;
        let mut asking = self.asking.lock().expect("asking");
        let current: Vec<String> = (peers.into_iter())
            .filter(|p| p.height.is_some_and(|h| h + 1 >= top) && !asking.contains(&p.url))
            .map(|p| p.url)
            .collect();
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let url = current.get(turn % current.len().max(1)).cloned()?;
        asking.insert(url.clone());
        Some(url)
    }

    fn follow(&self, url: &str, from: u64) -> Result<(), CallError> {
        let call =
            format!("{url}/p2p/blocks?from={from}&limit={SYNC_PAGE}&wait_ms={FOLLOW_WAIT_MS}");
        let timeout = SYNC_TIMEOUT + Duration::from_millis(FOLLOW_WAIT_MS);
        let body = self.client.call(&call, Call::Get, MAX_SYNC_BODY, timeout)?;
        let page: BlocksPage =
            serde_json::from_slice(&body).map_err(|e| CallError::BadAnswer(e.to_string()))?;
        let Some(last) = page.blocks.last().map(|b| b.header.height) else {
            return Ok(());
        };
        if last < from {
            return Err(CallError::BadAnswer(
                "blocks below the height asked for".into(),
            ));
        }
        self.cursor.fetched(last);
        if self.inbox.try_send(Request::Synced(page.blocks)).is_err() {
            tracing::debug!("node busy; followed blocks dropped, will fetch again");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::genesis::fixtures::genesis;

    #[test]
    fn the_followers_ask_different_validators() {
        let g = genesis(3);
        let table = Arc::new(PeerTable::default());
        for (i, url) in ["http://v2", "http://v3"].into_iter().enumerate() {
            let mut p =
                super::super::PeerState::new(url.into(), Some(g.validators[i + 1].public_key), &g);
            (p.reachable, p.height) = (true, Some(5));
            table.insert(p);
        }
        let (turn, asking) = (Arc::<AtomicUsize>::default(), Arc::default());
        let follower = || Follower {
            client: PeerClient::new(Arc::new(key(1)), g.chain_id().unwrap()),
            table: table.clone(),
            inbox: NodeInbox::for_tests(1).0,
            cursor: Default::default(),
            stop: Default::default(),
            turn: turn.clone(),
            asking: Arc::clone(&asking),
        };
        let (a, b) = (follower(), follower());
        let first = a.validator().unwrap();
        let second = b.validator().unwrap();
        assert_ne!(first, second);
        // Both validators are asked: nobody is left for a third request.
        assert_eq!(a.validator(), None);
        asking.lock().unwrap().remove(&first);
        assert_eq!(a.validator(), Some(first));
    }

    #[test]
    fn the_node_moves_the_cursor_unless_the_follower_is_ahead_and_moving() {
        let c = Cursor::default();
        c.node_at(4);
        assert_eq!(c.next.load(Ordering::SeqCst), 5);
        c.fetched(9);
        // The node has not stored 5..=9 yet: the follower keeps its place.
        c.node_at(4);
        assert_eq!(c.next.load(Ordering::SeqCst), 10);
        // A follower that stopped moving is put back where the node is.
        *c.progressed.lock().unwrap() = Some(Instant::now() - FOLLOW_BACKOFF * 3);
        c.node_at(4);
        assert_eq!(c.next.load(Ordering::SeqCst), 5);
    }
}
