//! The committed chain: genesis, blocks, their transactions, look-ups and
//! the tally.

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{
    Result, Store, StoreError, count, from_json, hash_from_blob, optional_value, packed, to_i64,
    to_json, to_u64,
};
use std::collections::BTreeMap;

use crate::ledger::elgamal::EncryptedBallot;
use crate::ledger::tally::TallyState;
use crate::ledger::tx::DecryptionShareTx;
use crate::ledger::{
    BallotTx, Block, BlockHeader, ChainLookup, CommitSeal, CredentialOnChain, DeviceEnd,
    FallbackEnd, Genesis, Hash32, LedgerError, Parent, PublicKey, Signature, SignedTx, Transaction,
};

/// The last committed block (height 0 and the chain id before any block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub height: u64,
    pub hash: Hash32,
    pub timestamp_ms: u64,
}

impl Head {
    pub fn as_parent(&self) -> Parent {
        Parent {
            height: self.height,
            hash: self.hash,
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// Where a committed transaction sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    pub height: u64,
    pub position: u64,
    pub block_hash: Hash32,
    pub timestamp_ms: u64,
}

impl Store {
    /// Records the genesis in a new database, or checks that an existing
    /// database belongs to the same chain.
    pub fn init_genesis(&mut self, genesis: &Genesis) -> Result<Hash32> {
        let given = genesis.chain_id()?;
        if let Some(stored) = self.chain_id()? {
            if stored != given {
                return Err(StoreError::GenesisMismatch { stored, given });
            }
            return Ok(stored);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('genesis', ?1), ('chain_id', ?2)",
            params![to_json(genesis)?, given.to_hex()],
        )?;
        for e in &genesis.elections {
            tx.execute(
                "INSERT INTO elections (id, name, opens_at, closes_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    to_i64(e.id),
                    e.name,
                    to_i64(e.opens_at),
                    to_i64(e.closes_at)
                ],
            )?;
            for c in &e.candidates {
                tx.execute(
                    "INSERT INTO candidates (election_id, id, name) VALUES (?1, ?2, ?3)",
                    params![to_i64(e.id), to_i64(c.id), c.name],
                )?;
            }
        }
        tx.commit()?;
        Ok(given)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        optional_value(&self.conn, "SELECT value FROM meta WHERE key = ?1", [key])
    }

    pub fn chain_id(&self) -> Result<Option<Hash32>> {
        self.meta("chain_id")?
            .map(|s| Hash32::parse(&s).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    pub fn genesis(&self) -> Result<Genesis> {
        from_json(&self.meta("genesis")?.ok_or(StoreError::NoGenesis)?)
    }

    pub fn head(&self) -> Result<Head> {
        let row = self
            .conn
            .query_row(
                "SELECT height, block_hash, timestamp_ms FROM blocks ORDER BY height DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()?;
        match row {
            Some((h, hash, ts)) => Ok(Head {
                height: to_u64(h)?,
                hash: hash_from_blob(hash)?,
                timestamp_ms: to_u64(ts)?,
            }),
            None => {
                let g = self.genesis()?;
                Ok(Head {
                    height: 0,
                    hash: self.chain_id()?.ok_or(StoreError::NoGenesis)?,
                    timestamp_ms: g.created_at_ms,
                })
            }
        }
    }

    /// Stores a committed block and its transactions and removes them from
    /// the mempool, all in one SQL transaction. The caller has validated the
    /// block; this only refuses a block that does not extend the head.
    pub fn append_block(&mut self, block: &Block, committed_at_ms: u64) -> Result<()> {
        self.mempool_size.set(None);
        let head = self.head()?;
        if block.header.height != head.height + 1 || block.header.prev_hash != head.hash {
            return Err(StoreError::NotNextBlock {
                height: block.header.height,
                head: head.height,
            });
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let h = &block.header;
        tx.execute(
            "INSERT INTO blocks (height, block_hash, prev_hash, round, timestamp_ms, proposer, \
             tx_count, header, proposer_signature, seals, committed_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                to_i64(h.height),
                block.block_hash.as_bytes(),
                h.prev_hash.as_bytes(),
                to_i64(h.round),
                to_i64(h.timestamp_ms),
                h.proposer.as_bytes(),
                to_i64(h.tx_count),
                to_json(h)?,
                block.proposer_signature.to_hex(),
                to_json(&block.seals)?,
                to_i64(committed_at_ms),
            ],
        )?;
        insert_block_txs(&tx, block, committed_at_ms)?;
        tx.commit()?;
        Ok(())
    }

    pub fn block(&self, height: u64) -> Result<Option<Block>> {
        let row = self
            .conn
            .query_row(
                "SELECT header, block_hash, proposer_signature, seals FROM blocks WHERE height = ?1",
                [to_i64(height)],
                BlockRow::read,
            )
            .optional()?;
        row.map(|r| self.assemble(r)).transpose()
    }

    pub fn block_by_hash(&self, hash: &Hash32) -> Result<Option<Block>> {
        let row = self
            .conn
            .query_row(
                "SELECT header, block_hash, proposer_signature, seals FROM blocks WHERE block_hash = ?1",
                [hash.as_bytes()],
                BlockRow::read,
            )
            .optional()?;
        row.map(|r| self.assemble(r)).transpose()
    }

    /// Up to `limit` blocks from height `from` on, in order.
    pub fn blocks_range(&self, from: u64, limit: u64) -> Result<Vec<Block>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT header, block_hash, proposer_signature, seals FROM blocks \
             WHERE height >= ?1 ORDER BY height LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![to_i64(from), to_i64(limit)], BlockRow::read)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter().map(|r| self.assemble(r)).collect()
    }

    fn assemble(&self, row: BlockRow) -> Result<Block> {
        let header: BlockHeader = from_json(&row.header)?;
        let block_hash = hash_from_blob(row.hash)?;
        let proposer_signature =
            Signature::parse(&row.signature).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let seals: Vec<CommitSeal> = from_json(&row.seals)?;
        let transactions = self.block_transactions(header.height)?;
        Ok(Block {
            header,
            block_hash,
            proposer_signature,
            transactions,
            seals,
        })
    }

    fn block_transactions(&self, height: u64) -> Result<Vec<SignedTx>> {
        let chain_id = self.chain_id()?.ok_or(StoreError::NoGenesis)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT body, nullifier, origin FROM transactions WHERE block_height = ?1 \
             ORDER BY position",
        )?;
        let mut rows = stmt.query([to_i64(height)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(read_body(r, &chain_id)?);
        }
        Ok(out)
    }

    /// A committed transaction and where it is.
    /// The committed copy of a ballot that was sealed offline as `sealed`.
    pub fn copy_of_sealed(&self, sealed: &Hash32) -> Result<Option<Hash32>> {
        let h: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT tx_hash FROM sealed_ids WHERE sealed_tx_hash = ?1")?
            .query_row([sealed.as_bytes()], |r| r.get(0))
            .optional()?;
        h.map(hash_from_blob).transpose()
    }

    pub fn committed_tx(&self, hash: &Hash32) -> Result<Option<(SignedTx, TxLocation)>> {
        let row = self
            .conn
            .query_row(
                "SELECT t.body, t.nullifier, t.origin, t.block_height, t.position, \
                 b.block_hash, b.timestamp_ms \
                 FROM transactions t JOIN blocks b ON b.height = t.block_height \
                 WHERE t.tx_hash = ?1",
                [hash.as_bytes()],
                |r| {
                    Ok((
                        StoredBody::read(r)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Vec<u8>>(5)?,
                        r.get::<_, i64>(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((body, height, pos, bhash, ts)) = row else {
            return Ok(None);
        };
        let chain_id = self.chain_id()?.ok_or(StoreError::NoGenesis)?;
        let loc = TxLocation {
            height: to_u64(height)?,
            position: to_u64(pos)?,
            block_hash: hash_from_blob(bhash)?,
            timestamp_ms: to_u64(ts)?,
        };
        Ok(Some((body.into_tx(&chain_id)?, loc)))
    }

    /// The committed transaction that used this nullifier, if any.
    pub fn nullifier_tx(&self, election_id: u64, nullifier: &Hash32) -> Result<Option<Hash32>> {
        let v: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT tx_hash FROM transactions WHERE election_id = ?1 AND nullifier = ?2",
            )?
            .query_row(params![to_i64(election_id), nullifier.as_bytes()], |r| {
                r.get(0)
            })
            .optional()?;
        v.map(hash_from_blob).transpose()
    }

    /// An election's encrypted tally as it stood after block `height`
    /// (`None`: no ballot of it committed by then).
    pub fn tally_at(&self, election_id: u64, height: u64) -> Result<Option<TallyState>> {
        latest_tally(&self.conn, election_id, height)
    }

    /// The trustees' shares of an election's tally at `tally_height`, as
    /// (transaction hash, block height, share transaction).
    pub fn decryption_shares(
        &self,
        election_id: u64,
        tally_height: u64,
    ) -> Result<Vec<(Hash32, u64, DecryptionShareTx)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT tx_hash, block_height, share FROM decryption_shares \
             WHERE election_id = ?1 AND tally_height = ?2 ORDER BY trustee_index",
        )?;
        let rows = stmt
            .query_map(params![to_i64(election_id), to_i64(tally_height)], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(h, b, body)| Ok((hash_from_blob(h)?, to_u64(b)?, from_json(&body)?)))
            .collect()
    }

    /// The tally heights of an election that have shares, with how many,
    /// newest first.
    pub fn shared_tallies(&self, election_id: u64) -> Result<Vec<(u64, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT tally_height, COUNT(*) FROM decryption_shares WHERE election_id = ?1 \
             GROUP BY tally_height ORDER BY tally_height DESC",
        )?;
        let rows = stmt
            .query_map([to_i64(election_id)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(h, n)| Ok((to_u64(h)?, to_u64(n)?)))
            .collect()
    }

    /// The lowest height at or below `head` whose block is stamped at or
    /// after `time_ms`, if any. Block timestamps never decrease along the
    /// chain (PROTOCOL.md's header rules), so a binary search finds it in
    /// a few lookups however long the chain.
    pub fn first_block_stamped_from(&self, time_ms: u64, head: u64) -> Result<Option<u64>> {
        let stamp = |h: u64| -> Result<u64> {
            self.block_timestamp(h)?
                .ok_or_else(|| StoreError::Corrupt(format!("no block {h} below the head {head}")))
        };
        if stamp(head)? < time_ms {
            return Ok(None);
        }
        let (mut lo, mut hi) = (0, head);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if stamp(mid)? >= time_ms {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(Some(lo))
    }

    /// The timestamp of block `height` (the genesis' for 0).
    pub fn block_timestamp(&self, height: u64) -> Result<Option<u64>> {
        if height == 0 {
            return Ok(Some(self.genesis()?.created_at_ms));
        }
        let v: Option<i64> = self
            .conn
            .query_row(
                "SELECT timestamp_ms FROM blocks WHERE height = ?1",
                [to_i64(height)],
                |r| r.get(0),
            )
            .optional()?;
        v.map(to_u64).transpose()
    }

    /// Committed ballots of an election: the transactions with a nullifier
    /// (only ballots have one), counted from the nullifier index alone.
    pub fn ballot_count(&self, election_id: u64) -> Result<u64> {
        count(
            &self.conn,
            "SELECT COUNT(nullifier) FROM transactions WHERE election_id = ?1",
            [to_i64(election_id)],
        )
    }

    /// Records why a transaction will never commit.
    pub fn mark_rejected(
        &mut self,
        tx_hash: &Hash32,
        err: &LedgerError,
        conflicting: Option<&Hash32>,
        now_ms: u64,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO rejected_txs (tx_hash, code, reason, conflicting_tx, rejected_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                tx_hash.as_bytes(),
                err.code(),
                err.to_string(),
                conflicting.map(|h| h.0.to_vec()),
                to_i64(now_ms)
            ],
        )?;
        Ok(())
    }

    /// (code, reason) of a rejected transaction.
    pub fn rejection(&self, tx_hash: &Hash32) -> Result<Option<(String, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT code, reason FROM rejected_txs WHERE tx_hash = ?1",
                [tx_hash.as_bytes()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}

impl ChainLookup for Store {
    fn is_used(
        &self,
        election_id: u64,
        nullifier: &Hash32,
    ) -> std::result::Result<bool, LedgerError> {
        self.nullifier_tx(election_id, nullifier)
            .map(|t| t.is_some())
            .map_err(lookup)
    }

    fn credential_on_chain(
        &self,
        election_id: u64,
        credential: &PublicKey,
    ) -> std::result::Result<CredentialOnChain, LedgerError> {
        self.credential_below(election_id, credential, u64::MAX)
            .map_err(lookup)
    }

    fn is_checked_in(
        &self,
        election_id: u64,
        leaf: &Hash32,
    ) -> std::result::Result<bool, LedgerError> {
        self.checked_in_below(election_id, leaf, u64::MAX)
            .map_err(lookup)
    }

    fn device_end(
        &self,
        election_id: u64,
        origin: &PublicKey,
    ) -> std::result::Result<Option<DeviceEnd>, LedgerError> {
        self.device_end_below(election_id, origin, u64::MAX)
            .map_err(lookup)
    }

    fn tally_at(
        &self,
        election_id: u64,
        height: u64,
    ) -> std::result::Result<Option<(u64, TallyState)>, LedgerError> {
        tally_with_time(self, election_id, height).map_err(lookup)
    }

    fn share_recorded(
        &self,
        election_id: u64,
        tally_height: u64,
        trustee: u32,
    ) -> std::result::Result<bool, LedgerError> {
        self.conn
            .prepare_cached(
                "SELECT 1 FROM decryption_shares \
                 WHERE election_id = ?1 AND tally_height = ?2 AND trustee_index = ?3",
            )
            .and_then(|mut s| s.exists(params![to_i64(election_id), to_i64(tally_height), trustee]))
            .map_err(|e| lookup(e.into()))
    }
}

impl Store {
    /// Whether a share of this tally by this trustee is in a block below `height`.
    pub fn share_recorded_below(
        &self,
        election_id: u64,
        tally_height: u64,
        trustee: u32,
        height: u64,
    ) -> std::result::Result<bool, LedgerError> {
        self.conn
            .prepare_cached(
                "SELECT 1 FROM decryption_shares WHERE election_id = ?1 AND tally_height = ?2 \
                 AND trustee_index = ?3 AND block_height < ?4",
            )
            .and_then(|mut s| {
                s.exists(params![
                    to_i64(election_id),
                    to_i64(tally_height),
                    trustee,
                    to_i64(height)
                ])
            })
            .map_err(|e| lookup(e.into()))
    }
}

impl Store {
    /// What replacement records in blocks below `height` say of a credential.
    pub fn credential_below(
        &self,
        election_id: u64,
        credential: &PublicKey,
        height: u64,
    ) -> Result<CredentialOnChain> {
        let row: Option<(Option<i64>, Option<i64>)> = self
            .conn
            .prepare_cached(
                "SELECT replacement_height, revoked_height FROM credential_records \
                 WHERE election_id = ?1 AND credential = ?2",
            )?
            .query_row(params![to_i64(election_id), credential.as_bytes()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let below = |h: Option<i64>| h.is_some_and(|h| h < below_height(height));
        Ok(
            row.map_or_else(CredentialOnChain::default, |(replaced, revoked)| {
                CredentialOnChain {
                    replacement: below(replaced),
                    revoked: below(revoked),
                }
            }),
        )
    }

    /// Whether a block below `height` checked this roll entry in.
    pub fn checked_in_below(&self, election_id: u64, leaf: &Hash32, height: u64) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM committed_check_ins \
                 WHERE election_id = ?1 AND leaf = ?2 AND block_height < ?3",
            )?
            .exists(params![
                to_i64(election_id),
                leaf.as_bytes(),
                below_height(height)
            ])?)
    }

    /// The appliance's closing record of the election in a block below `height`.
    pub fn device_end_below(
        &self,
        election_id: u64,
        origin: &PublicKey,
        height: u64,
    ) -> Result<Option<DeviceEnd>> {
        let row: Option<(Option<i64>, Option<Vec<u8>>)> = self
            .conn
            .prepare_cached(
                "SELECT fallback_seq, fallback_hash FROM device_closes \
                 WHERE election_id = ?1 AND origin = ?2 AND block_height < ?3",
            )?
            .query_row(
                params![to_i64(election_id), origin.as_bytes(), below_height(height)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(seq, hash)| {
            let fallback = match (seq, hash) {
                (Some(seq), Some(hash)) => Some(FallbackEnd {
                    last_seq: to_u64(seq)?,
                    last_hash: hash_from_blob(hash)?,
                }),
                _ => None,
            };
            Ok(DeviceEnd { fallback })
        })
        .transpose()
    }
}

/// A height bound for SQL: `u64::MAX` (the whole chain) as the largest i64.
fn below_height(height: u64) -> i64 {
    i64::try_from(height).unwrap_or(i64::MAX)
}

/// Records what a committed eligibility record changes (PROTOCOL.md §6,
/// rules 22-24), for the rules that need the chain.
fn record_eligibility(tx: &rusqlite::Transaction<'_>, t: &Transaction, height: u64) -> Result<()> {
    let h = to_i64(height);
    match t {
        Transaction::CheckIn(c) => {
            tx.prepare_cached(
                "INSERT INTO committed_check_ins (election_id, leaf, origin, block_height) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                to_i64(c.election_id),
                c.leaf()?.as_bytes(),
                c.origin.as_bytes(),
                h
            ])?;
        }
        Transaction::CredentialReplacement(r) => {
            let e = to_i64(r.election_id);
            tx.prepare_cached(
                "INSERT INTO credential_records (election_id, credential, revoked_height) \
                 VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET revoked_height = ?3",
            )?
            .execute(params![e, r.revoked.as_bytes(), h])?;
            tx.prepare_cached(
                "INSERT INTO credential_records (election_id, credential, replacement_height) \
                 VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET replacement_height = ?3",
            )?
            .execute(params![e, r.replacement.as_bytes(), h])?;
        }
        Transaction::DeviceClose(d) => {
            tx.prepare_cached(
                "INSERT INTO device_closes \
                 (election_id, origin, fallback_seq, fallback_hash, block_height) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                to_i64(d.election_id),
                d.origin.as_bytes(),
                d.fallback.map(|f| to_i64(f.last_seq)),
                d.fallback.map(|f| f.last_hash.0.to_vec()),
                h
            ])?;
        }
        Transaction::Ballot(_)
        | Transaction::DecryptionShare(_)
        | Transaction::SpoiledBallot(_) => {}
    }
    Ok(())
}

/// A storage failure, as block validation reports it.
pub fn lookup(e: StoreError) -> LedgerError {
    LedgerError::Lookup(e.to_string())
}

/// Block `height`'s time and the election's tally after it (an empty tally
/// when no ballot was committed by then).
pub(crate) fn tally_with_time(
    store: &Store,
    election_id: u64,
    height: u64,
) -> Result<Option<(u64, TallyState)>> {
    let Some(time) = store.block_timestamp(height)? else {
        return Ok(None);
    };
    let tally = match store.tally_at(election_id, height)? {
        Some(t) => t,
        None => {
            let g = store.genesis()?;
            let n = g.election(election_id).map_or(0, |e| e.candidates.len());
            TallyState::empty(election_id, n)
        }
    };
    Ok(Some((time, tally)))
}

/// The newest tally row of an election at or below `height`.
fn latest_tally(
    conn: &rusqlite::Connection,
    election_id: u64,
    height: u64,
) -> Result<Option<TallyState>> {
    let v: Option<String> = conn
        .prepare_cached(
            "SELECT state FROM election_tallies WHERE election_id = ?1 AND height <= ?2 \
             ORDER BY height DESC LIMIT 1",
        )?
        .query_row(params![to_i64(election_id), to_i64(height)], |r| r.get(0))
        .optional()?;
    v.map(|t| from_json(&t)).transpose()
}

/// The id a copy of a fallback ballot had in its fallback chain: the hash of
/// the same transaction without `fallback` (PROTOCOL.md §7a). None for a
/// ballot that was never sealed offline.
pub fn sealed_id(b: &BallotTx) -> Result<Option<Hash32>> {
    if b.fallback.is_none() {
        return Ok(None);
    }
    let mut sealed = b.clone();
    sealed.fallback = None;
    Ok(Some(Transaction::Ballot(sealed).hash()?))
}

/// Stores a block's transactions, drops them (and their nullifier twins)
/// from the mempool, records decryption shares and moves each election's
/// running tally to this block.
fn insert_block_txs(tx: &rusqlite::Transaction<'_>, block: &Block, now_ms: u64) -> Result<()> {
    let height = block.header.height;
    let mut insert = tx.prepare_cached(
        "INSERT INTO transactions (tx_hash, block_height, position, kind, election_id, \
         nullifier, origin, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut reject_twins = tx.prepare_cached(
        "INSERT OR IGNORE INTO rejected_txs \
         (tx_hash, code, reason, conflicting_tx, rejected_at_ms) \
         SELECT tx_hash, 'duplicate_nullifier', \
         'another ballot with this nullifier was committed first', ?1, ?4 \
         FROM mempool WHERE election_id = ?2 AND nullifier = ?3 AND tx_hash != ?1",
    )?;
    let mut unpool = tx.prepare_cached(
        "DELETE FROM mempool WHERE tx_hash = ?1 OR (election_id = ?2 AND nullifier = ?3)",
    )?;
    // Per election, the ballots of the block, added to its tally at the end.
    let mut ballots: BTreeMap<u64, Vec<&EncryptedBallot>> = BTreeMap::new();
    for (pos, stx) in block.transactions.iter().enumerate() {
        let hash = stx.hash()?;
        let t = &stx.tx;
        let eid = to_i64(t.election_id());
        let null = t.nullifier().map(|(_, n)| n.0.to_vec());
        insert.execute(params![
            hash.as_bytes(),
            to_i64(height),
            pos as i64,
            t.kind(),
            eid,
            null,
            t.origin().as_bytes(),
            stored_body(stx)?,
        ])?;
        reject_twins.execute(params![hash.as_bytes(), eid, null, to_i64(now_ms)])?;
        unpool.execute(params![hash.as_bytes(), eid, null])?;
        match t {
            Transaction::Ballot(b) => {
                if let Some(sealed) = sealed_id(b)? {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO sealed_ids (sealed_tx_hash, tx_hash) VALUES (?1, ?2)",
                    )?
                    .execute(params![sealed.as_bytes(), hash.as_bytes()])?;
                }
                ballots.entry(b.election_id).or_default().push(&b.ballot)
            }
            Transaction::CheckIn(_)
            | Transaction::CredentialReplacement(_)
            | Transaction::DeviceClose(_) => record_eligibility(tx, t, height)?,
            Transaction::SpoiledBallot(sp) => super::spoiled::record(tx, sp, &hash, height)?,
            Transaction::DecryptionShare(d) => {
                tx.execute(
                    "INSERT INTO decryption_shares (election_id, tally_height, trustee_index, \
                     block_height, tx_hash, share) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        eid,
                        to_i64(d.tally_height),
                        d.share.trustee_index,
                        to_i64(height),
                        hash.as_bytes(),
                        to_json(d)?
                    ],
                )?;
            }
        }
    }
    for (eid, ballots) in ballots {
        let candidates = ballots[0].selections.len();
        let mut state =
            latest_tally(tx, eid, height)?.unwrap_or_else(|| TallyState::empty(eid, candidates));
        state.add(ballots).map_err(|e| {
            StoreError::Corrupt(format!("a committed ballot of election {eid}: {e}"))
        })?;
        state.height = height;
        tx.execute(
            "INSERT INTO election_tallies (election_id, height, ballot_count, state) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                to_i64(eid),
                to_i64(height),
                to_i64(state.ballot_count),
                to_json(&state)?
            ],
        )?;
    }
    Ok(())
}

struct BlockRow {
    header: String,
    hash: Vec<u8>,
    signature: String,
    seals: String,
}

impl BlockRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            header: r.get(0)?,
            hash: r.get(1)?,
            signature: r.get(2)?,
            seals: r.get(3)?,
        })
    }
}

/// How a transaction is stored (committed or in the mempool): packed if it
/// is a ballot (`packed.rs`), JSON text otherwise.
pub(super) fn stored_body(stx: &SignedTx) -> Result<rusqlite::types::Value> {
    Ok(match packed::pack(stx) {
        Some(bytes) => rusqlite::types::Value::Blob(bytes),
        None => rusqlite::types::Value::Text(to_json(stx)?),
    })
}

/// The columns `body, nullifier, origin` of a `transactions` or `mempool`
/// row.
enum StoredBody {
    Json(String),
    Packed(Vec<u8>, Option<Vec<u8>>, Vec<u8>),
}

impl StoredBody {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(match r.get_ref(0)? {
            rusqlite::types::ValueRef::Blob(b) => {
                StoredBody::Packed(b.to_vec(), r.get(1)?, r.get(2)?)
            }
            _ => StoredBody::Json(r.get(0)?),
        })
    }

    fn into_tx(self, chain_id: &Hash32) -> Result<SignedTx> {
        match self {
            StoredBody::Json(text) => from_json(&text),
            StoredBody::Packed(bytes, nullifier, origin) => {
                let nullifier = nullifier.ok_or_else(|| {
                    StoreError::Corrupt("a packed ballot without a nullifier".into())
                })?;
                let row = packed::RowFields {
                    chain_id: *chain_id,
                    nullifier: hash_from_blob(nullifier)?,
                    origin: crate::ledger::PublicKey(hash_from_blob(origin)?.0),
                };
                packed::unpack(&bytes, &row)
            }
        }
    }
}

/// A transaction from the columns `body, nullifier, origin` of `r`.
pub(super) fn read_body(r: &Row<'_>, chain_id: &Hash32) -> Result<SignedTx> {
    StoredBody::read(r)?.into_tx(chain_id)
}

/// A block as the bulletin board lists it, without its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSummary {
    pub height: u64,
    pub block_hash: Hash32,
    pub timestamp_ms: u64,
    pub proposer: crate::ledger::PublicKey,
    pub tx_count: u64,
    pub seals: u64,
}

impl Store {
    /// Up to `limit` blocks at or below `to_height`, the newest first.
    pub fn block_summaries(&self, to_height: u64, limit: u64) -> Result<Vec<BlockSummary>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT height, block_hash, timestamp_ms, proposer, tx_count, json_array_length(seals) \
             FROM blocks WHERE height <= ?1 AND height >= 1 ORDER BY height DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![to_i64(to_height), to_i64(limit)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(h, hash, ts, proposer, n, seals)| {
                let proposer: [u8; 32] = proposer
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("a proposer key is not 32 bytes".into()))?;
                Ok(BlockSummary {
                    height: to_u64(h)?,
                    block_hash: hash_from_blob(hash)?,
                    timestamp_ms: to_u64(ts)?,
                    proposer: crate::ledger::PublicKey(proposer),
                    tx_count: to_u64(n)?,
                    seals: to_u64(seals)?,
                })
            })
            .collect()
    }

    /// The poll book of blocks `after+1 ..= upto`: by appliance (its
    /// public key), the ballots it accepted and the voters it checked in.
    pub fn pollbook_by_origin(&self, after: u64, upto: u64) -> Result<Vec<(Vec<u8>, PollCount)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT origin, SUM(kind = 'ballot'), SUM(kind = 'check_in') FROM transactions \
             WHERE block_height > ?1 AND block_height <= ?2 AND kind IN ('ballot', 'check_in') \
             GROUP BY origin",
        )?;
        let rows = stmt
            .query_map(params![to_i64(after), to_i64(upto)], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(o, ballots, check_ins)| {
                let count = PollCount {
                    ballots: to_u64(ballots)?,
                    check_ins: to_u64(check_ins)?,
                };
                Ok((o, count))
            })
            .collect()
    }
}

/// One appliance's line of the poll book: ballots it accepted, voters it
/// checked in (committed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollCount {
    pub ballots: u64,
    pub check_ins: u64,
}
