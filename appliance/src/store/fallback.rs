//! Fallback chains (this appliance's own and imported ones) and the
//! reconciliation of their ballots with the main chain.

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{Result, Store, StoreError, count, from_json, hash_from_blob, to_i64, to_json, to_u64};
use crate::ledger::fallback::{FallbackBlock, FallbackTip, SignedClose};
use crate::ledger::{Hash32, PublicKey, SignedTx};

/// Where a sealed ballot stands with the main chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileState {
    /// Sealed; its copy not yet handed to the main chain.
    Waiting,
    /// Its copy is in the mempool.
    Submitted,
    Confirmed,
    /// Another ballot of the same voter was committed first.
    Rejected,
}

impl ReconcileState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Submitted => "submitted",
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "waiting" => Self::Waiting,
            "submitted" => Self::Submitted,
            "confirmed" => Self::Confirmed,
            "rejected" => Self::Rejected,
            other => return Err(StoreError::Corrupt(format!("fallback state {other:?}"))),
        })
    }
}

/// A sealed ballot and its reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackBallot {
    pub main_tx_hash: Hash32,
    pub sealed_tx_hash: Hash32,
    pub origin: PublicKey,
    pub seq: u64,
    pub main_tx: SignedTx,
    pub state: ReconcileState,
    pub conflicting_tx: Option<Hash32>,
}

/// Counts of sealed ballots by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FallbackCounts {
    pub waiting: u64,
    pub submitted: u64,
    pub confirmed: u64,
    pub rejected: u64,
}

impl FallbackCounts {
    pub fn total(&self) -> u64 {
        self.waiting + self.submitted + self.confirmed + self.rejected
    }

    /// Ballots not yet final on the main chain.
    pub fn open(&self) -> u64 {
        self.waiting + self.submitted
    }
}

const BALLOT_COLUMNS: &str =
    "main_tx_hash, sealed_tx_hash, origin, seq, main_body, state, conflicting_tx";

type BallotRow = (
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    i64,
    String,
    String,
    Option<Vec<u8>>,
);

fn read_ballot(r: &Row<'_>) -> rusqlite::Result<BallotRow> {
    r.try_into()
}

fn ballot_from(row: BallotRow) -> Result<FallbackBallot> {
    let (main, sealed, origin, seq, body, state, conflicting) = row;
    Ok(FallbackBallot {
        main_tx_hash: hash_from_blob(main)?,
        sealed_tx_hash: hash_from_blob(sealed)?,
        origin: PublicKey(hash_from_blob(origin)?.0),
        seq: to_u64(seq)?,
        main_tx: from_json(&body)?,
        state: ReconcileState::parse(&state)?,
        conflicting_tx: conflicting.map(hash_from_blob).transpose()?,
    })
}

/// The last block of `origin`'s fallback chain, read on `conn` (or inside
/// a transaction).
fn tip_of(conn: &rusqlite::Connection, origin: &PublicKey) -> Result<Option<FallbackTip>> {
    let row: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, block_hash FROM fallback_blocks WHERE origin = ?1 \
             ORDER BY seq DESC LIMIT 1",
            [origin.as_bytes()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(seq, h)| {
        Ok(FallbackTip {
            seq: to_u64(seq)?,
            hash: hash_from_blob(h)?,
        })
    })
    .transpose()
}

impl Store {
    /// The last block of `origin`'s fallback chain.
    pub fn fallback_tip(&self, origin: &PublicKey) -> Result<Option<FallbackTip>> {
        tip_of(&self.conn, origin)
    }

    /// The ballot `origin` already sealed for this voter, if any.
    pub fn fallback_nullifier(
        &self,
        origin: &PublicKey,
        election_id: u64,
        nullifier: &Hash32,
    ) -> Result<Option<Hash32>> {
        let v: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT sealed_tx_hash FROM fallback_ballots \
                 WHERE origin = ?1 AND election_id = ?2 AND nullifier = ?3",
            )?
            .query_row(
                params![origin.as_bytes(), to_i64(election_id), nullifier.as_bytes()],
                |r| r.get(0),
            )
            .optional()?;
        v.map(hash_from_blob).transpose()
    }

    /// Stores a sealed block of this appliance's chain with the
    /// reconciliation copies of its ballots (same order); one SQL
    /// transaction.
    pub fn seal_fallback(
        &mut self,
        block: &FallbackBlock,
        copies: &[SignedTx],
        now_ms: u64,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let closed: bool = tx
            .prepare_cached("SELECT 1 FROM fallback_closes WHERE origin = ?1")?
            .exists([block.header.origin.as_bytes()])?;
        if closed {
            return Err(StoreError::FallbackClosed);
        }
        insert_block(&tx, block, now_ms)?;
        for (sealed, copy) in block.transactions.iter().zip(copies) {
            insert_ballot(&tx, block, sealed, copy, now_ms)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores an imported, already verified fallback chain (blocks in
    /// order, their copies, the closing record). Blocks already held are
    /// skipped, so importing the same export twice changes nothing.
    /// Returns how many ballots were new.
    pub fn import_fallback(
        &mut self,
        blocks: &[FallbackBlock],
        copies: &[Vec<SignedTx>],
        close: Option<&SignedClose>,
        now_ms: u64,
    ) -> Result<u64> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut added = 0;
        for (block, copies) in blocks.iter().zip(copies) {
            let held: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT block_hash FROM fallback_blocks WHERE origin = ?1 AND seq = ?2",
                    params![block.header.origin.as_bytes(), to_i64(block.header.seq)],
                    |r| r.get(0),
                )
                .optional()?;
            match held.map(hash_from_blob).transpose()? {
                Some(h) if h == block.block_hash => continue,
                Some(_) => {
                    return Err(StoreError::Corrupt(format!(
                        "a different block {} of this appliance's fallback chain is already held",
                        block.header.seq
                    )));
                }
                None => {}
            }
            insert_block(&tx, block, now_ms)?;
            for (sealed, copy) in block.transactions.iter().zip(copies) {
                insert_ballot(&tx, block, sealed, copy, now_ms)?;
                added += 1;
            }
        }
        if let Some(c) = close {
            tx.execute(
                "INSERT OR REPLACE INTO fallback_closes (origin, record) VALUES (?1, ?2)",
                params![c.close.origin.as_bytes(), to_json(c)?],
            )?;
        }
        tx.commit()?;
        Ok(added)
    }

    /// Closes `origin`'s fallback chain: `sign` gets the chain's tip and
    /// ballot count, read in the same write transaction that stores the
    /// record, so no block can be sealed in between.
    pub fn close_fallback(
        &mut self,
        origin: &PublicKey,
        sign: impl FnOnce(
            Option<FallbackTip>,
            u64,
        ) -> std::result::Result<SignedClose, crate::ledger::LedgerError>,
    ) -> Result<SignedClose> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let closed: bool = tx
            .prepare("SELECT 1 FROM fallback_closes WHERE origin = ?1")?
            .exists([origin.as_bytes()])?;
        if closed {
            return Err(StoreError::FallbackClosed);
        }
        let tip = tip_of(&tx, origin)?;
        let ballots = count(
            &tx,
            "SELECT COUNT(*) FROM fallback_ballots WHERE origin = ?1",
            [origin.as_bytes()],
        )?;
        let record = sign(tip, ballots)?;
        tx.execute(
            "INSERT INTO fallback_closes (origin, record) VALUES (?1, ?2)",
            params![origin.as_bytes(), to_json(&record)?],
        )?;
        tx.commit()?;
        Ok(record)
    }

    pub fn fallback_close(&self, origin: &PublicKey) -> Result<Option<SignedClose>> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT record FROM fallback_closes WHERE origin = ?1",
                [origin.as_bytes()],
                |r| r.get(0),
            )
            .optional()?;
        v.map(|t| from_json(&t)).transpose()
    }

    /// Up to `limit` blocks of `origin`'s chain from `from_seq` on.
    pub fn fallback_blocks(
        &self,
        origin: &PublicKey,
        from_seq: u64,
        limit: u64,
    ) -> Result<Vec<FallbackBlock>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT body FROM fallback_blocks WHERE origin = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(
                params![origin.as_bytes(), to_i64(from_seq), to_i64(limit)],
                |r| r.get::<_, String>(0),
            )?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    /// The appliances whose fallback chains this database holds.
    pub fn fallback_origins(&self) -> Result<Vec<PublicKey>> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT origin FROM fallback_blocks ORDER BY origin")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|b| hash_from_blob(b).map(|h| PublicKey(h.0)))
            .collect()
    }

    /// Up to `limit` ballots still to reconcile, oldest first.
    pub fn fallback_open(&self, limit: u64) -> Result<Vec<FallbackBallot>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {BALLOT_COLUMNS} FROM fallback_ballots \
             WHERE state IN ('waiting', 'submitted') ORDER BY origin, seq LIMIT ?1"
        ))?;
        let rows = stmt
            .query_map([to_i64(limit)], read_ballot)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter().map(ballot_from).collect()
    }

    /// Every sealed ballot of `origin`'s chain with its state, in chain order.
    pub fn fallback_ballots(
        &self,
        origin: &PublicKey,
        from_seq: u64,
        limit: u64,
    ) -> Result<Vec<FallbackBallot>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {BALLOT_COLUMNS} FROM fallback_ballots WHERE origin = ?1 AND seq >= ?2 \
             ORDER BY seq, rowid LIMIT ?3"
        ))?;
        let rows = stmt
            .query_map(
                params![origin.as_bytes(), to_i64(from_seq), to_i64(limit)],
                read_ballot,
            )?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter().map(ballot_from).collect()
    }

    /// A sealed ballot, by the hash of the sealed or of the main-chain copy.
    pub fn fallback_ballot(&self, hash: &Hash32) -> Result<Option<FallbackBallot>> {
        let row = self
            .conn
            .prepare_cached(&format!(
                "SELECT {BALLOT_COLUMNS} FROM fallback_ballots \
                 WHERE sealed_tx_hash = ?1 OR main_tx_hash = ?1"
            ))?
            .query_row([hash.as_bytes()], read_ballot)
            .optional()?;
        row.map(ballot_from).transpose()
    }

    pub fn set_fallback_state(
        &mut self,
        main_tx_hash: &Hash32,
        state: ReconcileState,
        conflicting: Option<&Hash32>,
        now_ms: u64,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE fallback_ballots SET state = ?2, conflicting_tx = ?3, updated_at_ms = ?4 \
             WHERE main_tx_hash = ?1",
            params![
                main_tx_hash.as_bytes(),
                state.as_str(),
                conflicting.map(|h| h.0.to_vec()),
                to_i64(now_ms)
            ],
        )?;
        Ok(())
    }

    /// Ballot counts by state, for one origin or for all.
    pub fn fallback_counts(&self, origin: Option<&PublicKey>) -> Result<FallbackCounts> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT state, COUNT(*) FROM fallback_ballots \
             WHERE ?1 IS NULL OR origin = ?1 GROUP BY state",
        )?;
        let rows = stmt
            .query_map([origin.map(|o| o.0.to_vec())], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut c = FallbackCounts::default();
        for (state, n) in rows {
            let n = to_u64(n)?;
            match ReconcileState::parse(&state)? {
                ReconcileState::Waiting => c.waiting = n,
                ReconcileState::Submitted => c.submitted = n,
                ReconcileState::Confirmed => c.confirmed = n,
                ReconcileState::Rejected => c.rejected = n,
            }
        }
        Ok(c)
    }
}

fn insert_block(tx: &rusqlite::Transaction<'_>, block: &FallbackBlock, now_ms: u64) -> Result<()> {
    tx.execute(
        "INSERT INTO fallback_blocks (origin, seq, block_hash, body, stored_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            block.header.origin.as_bytes(),
            to_i64(block.header.seq),
            block.block_hash.as_bytes(),
            to_json(block)?,
            to_i64(now_ms)
        ],
    )?;
    Ok(())
}

fn insert_ballot(
    tx: &rusqlite::Transaction<'_>,
    block: &FallbackBlock,
    sealed: &SignedTx,
    copy: &SignedTx,
    now_ms: u64,
) -> Result<()> {
    let (eid, nullifier) = sealed
        .tx
        .nullifier()
        .ok_or_else(|| StoreError::Corrupt("a fallback transaction without a nullifier".into()))?;
    tx.execute(
        "INSERT INTO fallback_ballots (main_tx_hash, sealed_tx_hash, origin, seq, election_id, \
         nullifier, main_body, state, updated_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'waiting', ?8)",
        params![
            copy.hash()?.as_bytes(),
            sealed.hash()?.as_bytes(),
            block.header.origin.as_bytes(),
            to_i64(block.header.seq),
            to_i64(eid),
            nullifier.as_bytes(),
            to_json(copy)?,
            to_i64(now_ms)
        ],
    )?;
    Ok(())
}
