//! Spoiled ballots (PROTOCOL.md §4e) found by their tracking code: what the
//! bulletin board lists and a voter's phone looks up. They are committed
//! transactions like any other; this index only finds them.

use rusqlite::{Row, params};

use super::chain::{TxLocation, read_body};
use super::{Result, Store, StoreError, count, hash_from_blob, to_i64, to_u64};
use crate::ledger::{Hash32, SpoiledBallotTx, Transaction};

/// A committed spoiled ballot and where it is.
#[derive(Debug, Clone)]
pub struct SpoiledEntry {
    pub tx_hash: Hash32,
    pub record: SpoiledBallotTx,
    pub location: TxLocation,
}

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

const SELECT: &str = "SELECT t.body, t.nullifier, t.origin, t.block_height, t.position, \
     b.block_hash, b.timestamp_ms, s.tx_hash \
     FROM spoiled_ballots s JOIN transactions t ON t.tx_hash = s.tx_hash \
     JOIN blocks b ON b.height = t.block_height";

impl Store {
    /// The committed spoiled ballots with this tracking code (one, unless
    /// an appliance published the same ballot twice), oldest first.
    pub fn spoiled_by_code(&self, code: &Hash32) -> Result<Vec<SpoiledEntry>> {
        let sql =
            format!("{SELECT} WHERE s.tracking_code = ?1 ORDER BY t.block_height, t.position");
        self.spoiled_rows(&sql, params![code.as_bytes()])
    }

    /// Up to `limit` spoiled ballots in blocks at or below `to_height`, the
    /// newest first.
    pub fn spoiled_ballots(&self, to_height: u64, limit: u64) -> Result<Vec<SpoiledEntry>> {
        let sql = format!(
            "{SELECT} WHERE s.block_height <= ?1 \
             ORDER BY s.block_height DESC, t.position DESC LIMIT ?2"
        );
        self.spoiled_rows(&sql, params![to_i64(to_height), to_i64(limit)])
    }

    /// How many spoiled ballots the chain holds.
    pub fn spoiled_count(&self) -> Result<u64> {
        count(&self.conn, "SELECT COUNT(*) FROM spoiled_ballots", [])
    }

    fn spoiled_rows(&self, sql: &str, args: impl rusqlite::Params) -> Result<Vec<SpoiledEntry>> {
        let chain_id = self.chain_id()?.ok_or(StoreError::NoGenesis)?;
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt
            .query_map(args, |r| Ok(read_row(r, &chain_id)))?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }
}

fn read_row(r: &Row<'_>, chain_id: &Hash32) -> Result<SpoiledEntry> {
    let stx = read_body(r, chain_id)?;
    let Transaction::SpoiledBallot(record) = stx.tx else {
        return Err(StoreError::Corrupt(
            "a spoiled ballot's row holds another kind of transaction".into(),
        ));
    };
    let location = TxLocation {
        height: to_u64(r.get(3)?)?,
        position: to_u64(r.get(4)?)?,
        block_hash: hash_from_blob(r.get(5)?)?,
        timestamp_ms: to_u64(r.get(6)?)?,
    };
    Ok(SpoiledEntry {
        tx_hash: hash_from_blob(r.get(7)?)?,
        record,
        location,
    })
}
