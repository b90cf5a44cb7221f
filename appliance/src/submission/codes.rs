//! Confirmation codes are chained per appliance, so issuing one is a write
//! transaction, and a durable one costs an fsync. Ballots accepted at the
//! same time get their codes in one transaction (a group commit): one task
//! takes every request waiting, writes them together on a connection of its
//! own, and answers each. A vote's answer still waits for its code to be
//! durable. This writer serves the ballots sealed in the fallback chain and
//! those already known; a voter's new ballot for the mempool gets its code
//! from the node thread, in the transaction that inserts it.

use tokio::sync::{mpsc, oneshot};

use super::WorkError;
use crate::clock::now_ms;
use crate::ledger::Hash32;
use crate::store::{Store, ToConfirm};

/// Codes written in one transaction at most.
pub const MAX_CODES_PER_COMMIT: usize = 1_000;
/// Requests that may wait for the writer before others are refused.
pub const MAX_WAITING_CODES: usize = 10_000;

type CodeRequest = (ToConfirm, oneshot::Sender<Result<Hash32, String>>);

pub struct CodeIssuer {
    requests: mpsc::Sender<CodeRequest>,
}

impl CodeIssuer {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Store) -> Self {
        let (requests, rx) = mpsc::channel(MAX_WAITING_CODES);
        tokio::spawn(write_codes(store, rx));
        Self { requests }
    }

    /// The next code, once it is durable.
    pub async fn issue(&self, item: ToConfirm) -> Result<Hash32, WorkError> {
        let what = "issuing a confirmation code";
        let (reply, answer) = oneshot::channel();
        self.requests
            .try_send((item, reply))
            .map_err(|_| WorkError::Busy("the node is busy issuing confirmation codes"))?;
        answer
            .await
            .map_err(|e| WorkError::internal(what, e))?
            .map_err(|e| WorkError::internal(what, e))
    }
}

async fn write_codes(store: Store, mut rx: mpsc::Receiver<CodeRequest>) {
    let mut store = Some(store);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_CODES_PER_COMMIT {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let (items, replies): (Vec<ToConfirm>, Vec<_>) = batch.into_iter().unzip();
        let Some(mut s) = store.take() else { return };
        let written = tokio::task::spawn_blocking(move || {
            let codes = s.issue_codes(&items, now_ms());
            (s, codes)
        })
        .await;
        let codes = match written {
            Ok((s, codes)) => {
                store = Some(s);
                codes.map_err(|e| e.to_string())
            }
            Err(e) => {
                // The connection went with the failed thread: every later
                // request is answered with this error.
                tracing::error!("the confirmation-code writer failed: {e}");
                Err(e.to_string())
            }
        };
        match codes {
            Ok(codes) => {
                for (reply, code) in replies.into_iter().zip(codes) {
                    let _ = reply.send(Ok(code));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_ballots_get_distinct_chained_codes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evote.sqlite3");
        let issuer = std::sync::Arc::new(CodeIssuer::start(Store::open(&path).unwrap()));
        let tasks: Vec<_> = (0..200u8)
            .map(|i| {
                let issuer = issuer.clone();
                tokio::spawn(async move {
                    let item = ToConfirm {
                        tx_hash: Hash32([i; 32]),
                        ballot_hash: Hash32([i.wrapping_add(1); 32]),
                        election_id: 1,
                    };
                    issuer.issue(item).await.unwrap()
                })
            })
            .collect();
        let mut codes = std::collections::BTreeSet::new();
        for t in tasks {
            assert!(codes.insert(t.await.unwrap()), "a code was issued twice");
        }
        // Every code is on disk, for its own ballot.
        let store = Store::open(&path).unwrap();
        for code in &codes {
            assert!(store.code_ballot(code).unwrap().is_some());
        }
    }
}
