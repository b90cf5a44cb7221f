//! Confirmation codes: each ballot accepted here gets a code that hashes
//! its ballot together with the previous code issued here, so the codes
//! of one appliance form a chain (in the spirit of ElectionGuard's device
//! chaining): a ballot removed from the middle breaks every later code.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Result, Store, count, hash_from_blob, to_i64, to_u64};
use crate::ledger::Hash32;
pub use crate::ledger::records::next_code;

/// A code as this appliance issued it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IssuedCode {
    pub seq: u64,
    pub code: Hash32,
    pub tx_hash: Hash32,
    /// `None` for a code issued before schema version 8.
    pub ballot_hash: Option<Hash32>,
    pub election_id: u64,
}

/// A ballot to confirm: its transaction, its ballot hash, its election.
pub struct ToConfirm {
    pub tx_hash: Hash32,
    pub ballot_hash: Hash32,
    pub election_id: u64,
}

impl Store {
    /// Issues the next codes of this appliance's chain, in order, in one
    /// SQL transaction.
    pub fn issue_codes(&mut self, items: &[ToConfirm], now_ms: u64) -> Result<Vec<Hash32>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = chain_codes(&tx, items, now_ms)?;
        tx.commit()?;
        Ok(out)
    }

    /// Codes `from_seq` on (at most `limit`), in issue order: this
    /// appliance's chain of codes, as `GET /p2p/codes` serves it.
    pub fn codes_page(&self, from_seq: u64, limit: u64) -> Result<Vec<IssuedCode>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, code, tx_hash, ballot_hash, election_id FROM confirmation_codes \
             WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![to_i64(from_seq), to_i64(limit)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, code, tx, ballot, election) = row?;
            out.push(IssuedCode {
                seq: to_u64(seq)?,
                code: hash_from_blob(code)?,
                tx_hash: hash_from_blob(tx)?,
                ballot_hash: ballot.map(hash_from_blob).transpose()?,
                election_id: to_u64(election)?,
            });
        }
        Ok(out)
    }

    /// How many codes this appliance issued, the last one, and how many for
    /// `election_id` (what its closing record signs, PROTOCOL.md §4d).
    pub fn code_chain_head(&self, election_id: u64) -> Result<(u64, Hash32, u64)> {
        let (issued, last): (i64, Option<Vec<u8>>) = self.conn.query_row(
            "SELECT COUNT(*), (SELECT code FROM confirmation_codes ORDER BY seq DESC LIMIT 1) \
             FROM confirmation_codes",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let of_election = count(
            &self.conn,
            "SELECT COUNT(*) FROM confirmation_codes WHERE election_id = ?1",
            [to_i64(election_id)],
        )?;
        let head = last
            .map(hash_from_blob)
            .transpose()?
            .unwrap_or(Hash32::ZERO);
        Ok((to_u64(issued)?, head, of_election))
    }

    /// The ballot a code confirms: (transaction hash, election, issued at).
    pub fn code_ballot(&self, code: &Hash32) -> Result<Option<(Hash32, u64, u64)>> {
        let row: Option<(Vec<u8>, i64, i64)> = self
            .conn
            .query_row(
                "SELECT tx_hash, election_id, issued_at_ms FROM confirmation_codes WHERE code = ?1",
                [code.as_bytes()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(h, e, t)| Ok((hash_from_blob(h)?, to_u64(e)?, to_u64(t)?)))
            .transpose()
    }
}

impl Store {
    /// The number of the code issued for a transaction: the n-th ballot
    /// this appliance accepted (the seeds' vote record `id`).
    pub fn code_seq(&self, tx_hash: &Hash32) -> Result<Option<u64>> {
        let seq: Option<i64> = self
            .conn
            .prepare_cached("SELECT seq FROM confirmation_codes WHERE tx_hash = ?1")?
            .query_row([tx_hash.as_bytes()], |r| r.get(0))
            .optional()?;
        seq.map(to_u64).transpose()
    }
}

/// Chains codes for `items` after the last one issued here, inside the
/// caller's write transaction. A ballot that already has a code keeps it,
/// and the chain goes on from the last code actually stored.
pub(super) fn chain_codes(
    tx: &Connection,
    items: &[ToConfirm],
    now_ms: u64,
) -> Result<Vec<Hash32>> {
    let last: Option<Vec<u8>> = tx
        .prepare_cached("SELECT code FROM confirmation_codes ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let mut prev = last
        .map(hash_from_blob)
        .transpose()?
        .unwrap_or(Hash32::ZERO);
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO confirmation_codes \
         (code, tx_hash, election_id, issued_at_ms, ballot_hash) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut existing =
        tx.prepare_cached("SELECT code FROM confirmation_codes WHERE tx_hash = ?1")?;
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let code = next_code(&prev, &it.ballot_hash);
        let written = insert.execute(params![
            code.as_bytes(),
            it.tx_hash.as_bytes(),
            to_i64(it.election_id),
            to_i64(now_ms),
            it.ballot_hash.as_bytes()
        ])?;
        if written == 1 {
            out.push(code);
            prev = code;
        } else {
            let had: Vec<u8> = existing.query_row([it.tx_hash.as_bytes()], |r| r.get(0))?;
            out.push(hash_from_blob(had)?);
        }
    }
    Ok(out)
}
