//! Spoiled ballots (PROTOCOL.md §4e) found by their tracking code: what the
//! bulletin board lists and a voter's phone looks up. They are committed
//! transactions like any other; this index only finds them.

use rusqlite::params;

use super::{Result, to_i64};
use crate::ledger::{Hash32, SpoiledBallotTx};

/// Indexes a spoiled ballot of a block being committed.
pub(super) fn record(
    tx: &rusqlite::Transaction<'_>,
    s: &SpoiledBallotTx,
    tx_hash: &Hash32,
    height: u64,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO spoiled_ballots (tx_hash, tracking_code, election_id, origin, block_height) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        tx_hash.as_bytes(),
        s.tracking_code.as_bytes(),
        to_i64(s.election_id),
        s.origin.as_bytes(),
        to_i64(height)
    ])?;
    Ok(())
}
