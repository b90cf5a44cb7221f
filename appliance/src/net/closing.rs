//! Closing records (PROTOCOL.md §4d): when an election closes, every
//! appliance signs into the chain the head of its confirmation-code chain,
//! how many ballots of the election it accepted, how many voters it
//! checked in and where its fallback chain ended. A validator, a station
//! and an offline station alike: the offline station's record waits in
//! its mempool and travels in its export (`fallback export`).

use std::time::Duration;

use super::SharedState;
use crate::clock::now_ms;
use crate::ledger::records::{CodeChainHead, DeviceCloseTx, FallbackEnd};
use crate::ledger::{ChainLookup, Election, Genesis, Hash32, NodeKey, SignedTx, Transaction};
use crate::node::Source;
use crate::store::{Result, Store};

/// How long after an election's close an appliance waits before closing:
/// ballots made just before the close are still being signed and coded.
pub const CLOSE_AFTER_MS: u64 = 5_000;

/// How often the closing task looks for an election to close.
const CLOSE_POLL: Duration = Duration::from_secs(2);

/// Whether this appliance still has to close `election`: `Some(record)` to
/// submit now (made and signed here, not yet stored anywhere), `None` if it
/// closed it already (on the chain or waiting in its mempool), or must wait
/// (the election is open, its close is too recent, or ballots it accepted
/// still wait for a block: a ballot after its closing record would no
/// longer count).
pub fn closing_record(
    store: &Store,
    chain_id: Hash32,
    key: &NodeKey,
    election: &Election,
    now: u64,
) -> Result<Option<SignedTx>> {
    let me = key.public();
    if now < election.closes_at.saturating_add(CLOSE_AFTER_MS) {
        return Ok(None);
    }
    if store.device_end(election.id, &me)?.is_some() {
        return Ok(None);
    }
    let pending = store.mempool_records_of(&me)?;
    if pending
        .iter()
        .any(|stx| matches!(&stx.tx, Transaction::DeviceClose(d) if d.election_id == election.id))
    {
        return Ok(None);
    }
    if store.mempool_ballots_of(&me, election.id)? > 0 {
        return Ok(None);
    }
    let (count, head, ballots) = store.code_chain_head(election.id)?;
    let check_ins = store.poll_book_count(election.id)?;
    let fallback = store.fallback_tip(&me)?.map(|t| FallbackEnd {
        last_seq: t.seq,
        last_hash: t.hash,
    });
    let record = DeviceCloseTx {
        chain_id,
        election_id: election.id,
        codes: CodeChainHead { count, head },
        ballots,
        check_ins,
        fallback,
        closed_at_ms: now,
        origin: me,
    };
    Ok(Some(SignedTx::sign(Transaction::DeviceClose(record), key)?))
}

/// Makes and stores in the mempool this appliance's closing record of each
/// election closed by `now` (the offline station's export, which runs
/// whether or not the appliance does): how many it made.
pub fn close_closed_elections(
    store: &mut Store,
    genesis: &Genesis,
    chain_id: Hash32,
    key: &NodeKey,
    now: u64,
) -> Result<usize> {
    let mut made = 0;
    for election in &genesis.elections {
        if let Some(stx) = closing_record(store, chain_id, key, election, now)? {
            let hash = crate::ledger::check_tx(genesis, &chain_id, &stx, now)?;
            store.mempool_insert(&stx, &hash, None, now)?;
            made += 1;
        }
    }
    Ok(made)
}

/// Signs and submits this appliance's closing record of each election once
/// it closes, retrying until the record waits in the mempool or is on the
/// chain.
pub async fn close_elections(s: SharedState) {
    let mut tick = tokio::time::interval(CLOSE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut done = std::collections::BTreeSet::new();
    loop {
        tick.tick().await;
        let now = now_ms();
        for election in &s.genesis.elections {
            if done.contains(&election.id)
                || now < election.closes_at.saturating_add(CLOSE_AFTER_MS)
            {
                continue;
            }
            let (chain_id, key, e) = (s.chain_id, s.key.clone(), election.clone());
            let made = s
                .db("making the closing record", move |db| {
                    closing_record(db, chain_id, &key, &e, now)
                })
                .await;
            let stx = match made {
                Ok(Some(stx)) => stx,
                Ok(None) => {
                    let (key, id) = (s.key.public(), election.id);
                    let closed = s
                        .db("reading the closing record", move |db| {
                            Ok(db.device_end(id, &key)?.is_some())
                        })
                        .await;
                    if matches!(closed, Ok(true)) {
                        done.insert(election.id);
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!("election {}: {}", election.id, e.message);
                    continue;
                }
            };
            let hash = match crate::ledger::check_tx(&s.genesis, &s.chain_id, &stx, now) {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!("election {}: own closing record refused: {e}", election.id);
                    done.insert(election.id);
                    continue;
                }
            };
            match super::submit::accept_checked(&s, stx, hash, Source::Rpc).await {
                Ok(_) => tracing::info!(
                    "election {}: closing record {hash} submitted (confirmation codes, \
                     ballots, check-ins)",
                    election.id
                ),
                Err(e) => tracing::warn!(
                    "election {}: the closing record waits: {}",
                    election.id,
                    e.message
                ),
            }
        }
    }
}
