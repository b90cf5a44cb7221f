//! Confirmation codes: each ballot accepted here gets a code that hashes
//! its ballot together with the previous code issued here, so the codes
//! of one appliance form a chain (in the spirit of ElectionGuard's device
//! chaining): a ballot removed from the middle breaks every later code.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::{Result, Store, hash_from_blob, to_i64, to_u64};
use crate::ledger::{Hash32, hash_of};

#[derive(Serialize)]
struct CodeInput<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    prev_code: &'a Hash32,
    ballot_hash: &'a Hash32,
}

/// The code that follows `prev` for a ballot.
pub fn next_code(prev: &Hash32, ballot_hash: &Hash32) -> Hash32 {
    hash_of(&CodeInput {
        kind: "confirmation_code",
        prev_code: prev,
        ballot_hash,
    })
    .expect("code input encodes")
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
         (code, tx_hash, election_id, issued_at_ms) VALUES (?1, ?2, ?3, ?4)",
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
            to_i64(now_ms)
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
