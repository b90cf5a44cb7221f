//! The mempool: signed transactions waiting for a block, durable across
//! restarts, bounded, and unique by hash and by (election, nullifier).

use std::cell::Cell;

use rusqlite::{Connection, OptionalExtension, Params, TransactionBehavior, params};

use super::chain::{read_body, stored_body};
use super::codes::{ToConfirm, chain_codes};
use super::{Result, Store, StoreError, exists, hash_from_blob, optional_value, to_i64, to_u64};
use crate::ledger::{Hash32, PublicKey, SignedTx, Transaction};

/// The most transactions a mempool holds; past it submissions get HTTP 503.
pub const MAX_MEMPOOL_TXS: u64 = 200_000;

/// What happened to a transaction offered to the mempool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MempoolInsert {
    Inserted,
    /// The same transaction is already waiting.
    AlreadyPending,
    /// The same transaction is already on the chain.
    AlreadyCommitted,
    /// Another transaction with this nullifier is on the chain.
    NullifierCommitted(Hash32),
    /// Another transaction with this nullifier is waiting.
    NullifierPending(Hash32),
    Full,
}

/// What became of a transaction offered to the mempool, and for a voter's
/// ballot newly inserted, its confirmation code, issued in the same SQL
/// transaction (one fsync makes both durable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered {
    pub outcome: MempoolInsert,
    pub code: Option<Hash32>,
}

/// When a batch of the mempool is on disk for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Before the call returns (an fsync): whoever sent a transaction of
    /// the batch is told it is recorded.
    Now,
    /// With the next write that is made durable now. For transactions that
    /// another appliance already holds durably and will send again if this
    /// one loses them (gossip): a crash may lose them here, nothing else.
    WithNextSync,
}

/// A transaction offered to the mempool, with its hash and, for a ballot
/// cast through the voter API, the voter.
pub struct MempoolEntry<'a> {
    pub stx: &'a SignedTx,
    pub tx_hash: &'a Hash32,
    pub voter: Option<i64>,
}

impl Store {
    /// Adds one checked transaction to the mempool.
    pub fn mempool_insert(
        &mut self,
        stx: &SignedTx,
        tx_hash: &Hash32,
        voter: Option<i64>,
        now_ms: u64,
    ) -> Result<MempoolInsert> {
        let entry = MempoolEntry {
            stx,
            tx_hash,
            voter,
        };
        Ok(self.mempool_insert_batch(&[entry], now_ms, Durability::Now)?[0].outcome)
    }

    /// Adds checked transactions in one SQL transaction (one fsync for the
    /// batch, or none: `durability`); for a ballot a voter cast here, also
    /// chains its confirmation code (nothing records whose ballot it is).
    pub fn mempool_insert_batch(
        &mut self,
        entries: &[MempoolEntry<'_>],
        now_ms: u64,
        durability: Durability,
    ) -> Result<Vec<Offered>> {
        match durability {
            Durability::Now => self.insert_batch(entries, now_ms),
            Durability::WithNextSync => self.with_next_sync(|s| s.insert_batch(entries, now_ms)),
        }
    }

    fn insert_batch(&mut self, entries: &[MempoolEntry<'_>], now_ms: u64) -> Result<Vec<Offered>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut count = to_i64(mempool_size(&tx, &self.mempool_size)?);
        let mut outcomes = Vec::with_capacity(entries.len());
        let mut to_confirm = Vec::new();
        for e in entries {
            let r = insert_one(&tx, e, to_u64(count)?, now_ms)?;
            if r == MempoolInsert::Inserted {
                count += 1;
                if let (Some(_), Transaction::Ballot(b)) = (e.voter, &e.stx.tx) {
                    to_confirm.push((
                        outcomes.len(),
                        ToConfirm {
                            tx_hash: *e.tx_hash,
                            ballot_hash: b.ballot_hash,
                            election_id: b.election_id,
                        },
                    ));
                }
            }
            outcomes.push(Offered {
                outcome: r,
                code: None,
            });
        }
        let (at, items): (Vec<usize>, Vec<ToConfirm>) = to_confirm.into_iter().unzip();
        for (i, code) in at.into_iter().zip(chain_codes(&tx, &items, now_ms)?) {
            outcomes[i].code = Some(code);
        }
        tx.commit()?;
        let version = data_version(&self.conn)?;
        self.mempool_size.set(Some((version, to_u64(count)?)));
        Ok(outcomes)
    }

    /// Up to `limit` waiting transactions, oldest first.
    pub fn mempool_take(&self, limit: u64) -> Result<Vec<(Hash32, SignedTx)>> {
        let chain_id = self.chain_id()?.ok_or(StoreError::NoGenesis)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT body, nullifier, origin, tx_hash FROM mempool ORDER BY seq LIMIT ?1",
        )?;
        let mut rows = stmt.query([to_i64(limit)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push((hash_from_blob(r.get(3)?)?, read_body(r, &chain_id)?));
        }
        Ok(out)
    }

    /// Up to `limit` transactions received before `before_ms`, oldest first.
    pub fn mempool_older_than(&self, before_ms: u64, limit: u64) -> Result<Vec<SignedTx>> {
        let chain_id = self.chain_id()?.ok_or(StoreError::NoGenesis)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT body, nullifier, origin FROM mempool WHERE received_at_ms < ?1 \
             ORDER BY seq LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![to_i64(before_ms), to_i64(limit)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(read_body(r, &chain_id)?);
        }
        Ok(out)
    }

    /// The waiting transactions with these hashes, in the same order
    /// (`None` for one that is not waiting here).
    pub fn mempool_get(&self, hashes: &[Hash32]) -> Result<Vec<Option<SignedTx>>> {
        let chain_id = self.chain_id()?.ok_or(StoreError::NoGenesis)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body, nullifier, origin FROM mempool WHERE tx_hash = ?1")?;
        let mut out = Vec::with_capacity(hashes.len());
        for h in hashes {
            let mut rows = stmt.query([h.as_bytes()])?;
            out.push(match rows.next()? {
                Some(r) => Some(read_body(r, &chain_id)?),
                None => None,
            });
        }
        Ok(out)
    }

    pub fn mempool_len(&self) -> Result<u64> {
        mempool_size(&self.conn, &self.mempool_size)
    }

    pub fn mempool_contains(&self, tx_hash: &Hash32) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM mempool WHERE tx_hash = ?1")?
            .exists([tx_hash.as_bytes()])?)
    }

    /// The election of a pending transaction, if it is in the mempool.
    /// (`Some(None)` for a pending transaction without an election.)
    pub fn mempool_election(&self, tx_hash: &Hash32) -> Result<Option<Option<u64>>> {
        let e: Option<Option<i64>> = self
            .conn
            .prepare_cached("SELECT election_id FROM mempool WHERE tx_hash = ?1")?
            .query_row([tx_hash.as_bytes()], |r| r.get(0))
            .optional()?;
        e.map(|e| e.map(to_u64).transpose()).transpose()
    }

    /// How many ballots of `election_id` accepted by `origin` wait here.
    pub fn mempool_ballots_of(&self, origin: &PublicKey, election_id: u64) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM mempool WHERE origin = ?1 AND election_id = ?2 \
                 AND nullifier IS NOT NULL",
            )?
            .query_row(params![origin.as_bytes(), to_i64(election_id)], |r| {
                r.get(0)
            })?;
        to_u64(n)
    }

    /// The records (not ballots) signed by `origin` that wait here, oldest
    /// first: an offline station's check-ins and closing records.
    pub fn mempool_records_of(&self, origin: &PublicKey) -> Result<Vec<SignedTx>> {
        let chain_id = self.chain_id()?.ok_or(StoreError::NoGenesis)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT body, nullifier, origin FROM mempool WHERE origin = ?1 \
             AND nullifier IS NULL ORDER BY seq",
        )?;
        let mut rows = stmt.query([origin.as_bytes()])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(read_body(r, &chain_id)?);
        }
        Ok(out)
    }

    pub fn mempool_remove(&mut self, tx_hash: &Hash32) -> Result<()> {
        self.mempool_size.set(None);
        self.conn.execute(
            "DELETE FROM mempool WHERE tx_hash = ?1",
            [tx_hash.as_bytes()],
        )?;
        Ok(())
    }
}

/// The mempool's size. Counting the rows takes time that grows with the
/// mempool (200,000 rows when the network falls behind), and every batch of
/// submissions needs the size: it is counted once and then kept by this
/// connection's own inserts, and counted again after its removals or once
/// another connection has written (`PRAGMA data_version` moves).
fn mempool_size(conn: &Connection, kept: &Cell<Option<(i64, u64)>>) -> Result<u64> {
    let version = data_version(conn)?;
    if let Some((v, n)) = kept.get()
        && v == version
    {
        return Ok(n);
    }
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM mempool")?
        .query_row([], |r| r.get(0))?;
    let n = to_u64(n)?;
    kept.set(Some((version, n)));
    Ok(n)
}

fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?)
}

fn one_hash(conn: &Connection, sql: &str, p: impl Params) -> Result<Option<Hash32>> {
    optional_value(conn, sql, p)?
        .map(hash_from_blob)
        .transpose()
}

fn insert_one(
    tx: &Connection,
    e: &MempoolEntry<'_>,
    count: u64,
    now_ms: u64,
) -> Result<MempoolInsert> {
    let (stx, tx_hash) = (e.stx, e.tx_hash);
    let eid = to_i64(stx.tx.election_id());
    let hb = tx_hash.as_bytes().as_slice();
    if exists(tx, "SELECT 1 FROM transactions WHERE tx_hash = ?1", [hb])? {
        return Ok(MempoolInsert::AlreadyCommitted);
    }
    if exists(tx, "SELECT 1 FROM mempool WHERE tx_hash = ?1", [hb])? {
        return Ok(MempoolInsert::AlreadyPending);
    }
    let nullifier = stx.tx.nullifier().map(|(_, n)| n);
    if let Some(n) = &nullifier {
        let nb = n.as_bytes().as_slice();
        let sql = "SELECT tx_hash FROM transactions WHERE election_id = ?1 AND nullifier = ?2";
        if let Some(h) = one_hash(tx, sql, params![eid, nb])? {
            return Ok(MempoolInsert::NullifierCommitted(h));
        }
        let sql = "SELECT tx_hash FROM mempool WHERE election_id = ?1 AND nullifier = ?2";
        if let Some(h) = one_hash(tx, sql, params![eid, nb])? {
            return Ok(MempoolInsert::NullifierPending(h));
        }
    }
    if count >= MAX_MEMPOOL_TXS {
        return Ok(MempoolInsert::Full);
    }
    tx.prepare_cached(
        "INSERT INTO mempool (tx_hash, election_id, nullifier, origin, body, received_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        hb,
        eid,
        nullifier.map(|n| n.0.to_vec()),
        stx.tx.origin().as_bytes(),
        stored_body(stx)?,
        to_i64(now_ms)
    ])?;
    Ok(MempoolInsert::Inserted)
}
