//! A station's follower: it asks a validator for the blocks above its own
//! head with `GET /p2p/blocks?from=&wait_ms=`, which answers as soon as the
//! next block is committed there, and hands them to the node (which
//! verifies each before storing it). A station so learns of a block one
//! message delay after its commit, not at its next status poll plus a
//! fetch: its voters see "confirmed" that much sooner.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{Call, CallError, PeerClient};
use super::{BlocksPage, MAX_SYNC_BODY, PeerTable, SYNC_PAGE, SYNC_TIMEOUT};
use crate::node::{NodeInbox, Request};

/// How long a follower's request waits at the validator for a block.
pub const FOLLOW_WAIT_MS: u64 = 5_000;
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

    fn fetched(&self, last: u64) {
        self.next.store(last + 1, Ordering::SeqCst);
        *self.progressed.lock().expect("cursor") = Some(Instant::now());
    }
}

pub(super) struct Follower {
    pub client: PeerClient,
    pub table: Arc<PeerTable>,
    pub inbox: NodeInbox,
    pub cursor: Arc<Cursor>,
    pub stop: Arc<AtomicBool>,
    /// Whose turn it is to be asked.
    pub turn: AtomicUsize,
}

impl Follower {
    pub fn run(self) {
        while !self.stop.load(Ordering::SeqCst) {
            let from = self.cursor.next.load(Ordering::SeqCst);
            let Some(url) = self.validator() else {
                std::thread::sleep(FOLLOW_BACKOFF);
                continue;
            };
            if from == 0 {
                std::thread::sleep(FOLLOW_BACKOFF / 10);
                continue;
            }
            if let Err(e) = self.follow(&url, from) {
                tracing::debug!(peer = %url, "following the chain failed: {e}");
                self.table.record_failure(&url, &e);
                std::thread::sleep(FOLLOW_BACKOFF);
            }
        }
    }

    /// The next of the reachable validators at (or a block below) the
    /// highest head, in turn: every block crosses one validator's uplink to
    /// the station, and taking turns spreads them over all.
    fn validator(&self) -> Option<String> {
        let peers: Vec<_> = (self.table.snapshot().into_iter())
            .filter(|p| p.validator && p.reachable)
            .collect();
        let top = peers.iter().filter_map(|p| p.height).max()?;
        let current: Vec<String> = (peers.into_iter())
            .filter(|p| p.height.is_some_and(|h| h + 1 >= top))
            .map(|p| p.url)
            .collect();
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        current.get(turn % current.len().max(1)).cloned()
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
