//! The fallback chain: ballots an appliance recorded while it could not
//! reach a quorum (or, on an offline station, all day). Each appliance has
//! one chain of its own: blocks signed by it, numbered from 1, hash-linked,
//! the first linked to the last committed main block it knew. A closing
//! record seals the chain (ballot count, last hash), so a ballot deleted
//! afterwards is detectable.
//!
//! A ballot sealed here is handed to the main chain later as a copy that
//! carries a fallback reference (origin, fallback block hash), signed by
//! the same appliance at sealing time, so that any appliance can submit it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::block::{check_tx_root, tx_hashes, tx_root};
use super::bytes::{Hash32, PublicKey, Signature};
use super::canonical::hash_of;
use super::crypto::{NodeKey, verify};
use super::error::LedgerError;
use super::genesis::Genesis;
use super::tx::{FallbackRef, SignedTx, Transaction, check_tx};

/// Ballots per fallback block.
pub const MAX_FALLBACK_BLOCK_TXS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackBlockType {
    FallbackBlock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackCloseType {
    FallbackClose,
}

/// The signed header of a fallback block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackHeader {
    #[serde(rename = "type")]
    pub kind: FallbackBlockType,
    pub chain_id: Hash32,
    pub origin: PublicKey,
    /// 1 for the first block of this appliance's fallback chain.
    pub seq: u64,
    /// The previous fallback block's hash; for seq 1, the anchor's hash.
    pub prev_hash: Hash32,
    /// The last committed main block this appliance knew when sealing.
    pub anchor_height: u64,
    pub anchor_hash: Hash32,
    pub timestamp_ms: u64,
    pub tx_root: Hash32,
    pub tx_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackBlock {
    pub header: FallbackHeader,
    pub block_hash: Hash32,
    /// The origin's signature over the header hash.
    pub signature: Signature,
    pub transactions: Vec<SignedTx>,
}

/// The closing record: the chain ends at `last_hash` with `ballot_count` ballots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackClose {
    #[serde(rename = "type")]
    pub kind: FallbackCloseType,
    pub chain_id: Hash32,
    pub origin: PublicKey,
    pub ballot_count: u64,
    pub last_seq: u64,
    pub last_hash: Hash32,
    pub closed_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedClose {
    pub close: FallbackClose,
    pub signature: Signature,
}

/// Where the chain stands before the next block: the previous block's seq
/// and hash (seq 0 and the anchor hash for an empty chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackTip {
    pub seq: u64,
    pub hash: Hash32,
}

impl FallbackBlock {
    /// Seals ballots (signed by `key`, without fallback references) into
    /// the next block of `key`'s fallback chain.
    pub fn seal(
        chain_id: Hash32,
        tip: FallbackTip,
        anchor: (u64, Hash32),
        timestamp_ms: u64,
        transactions: Vec<SignedTx>,
        key: &NodeKey,
    ) -> Result<Self, LedgerError> {
        let header = FallbackHeader {
            kind: FallbackBlockType::FallbackBlock,
            chain_id,
            origin: key.public(),
            seq: tip.seq + 1,
            prev_hash: tip.hash,
            anchor_height: anchor.0,
            anchor_hash: anchor.1,
            timestamp_ms,
            tx_root: tx_root(&transactions)?,
            tx_count: transactions.len() as u64,
        };
        let block_hash = hash_of(&header)?;
        Ok(Self {
            signature: key.sign_digest(&block_hash),
            header,
            block_hash,
            transactions,
        })
    }
}

impl SignedClose {
    pub fn sign(close: FallbackClose, key: &NodeKey) -> Result<Self, LedgerError> {
        Ok(Self {
            signature: key.sign(&close)?,
            close,
        })
    }
}

/// The copies of every ballot of a sealed block that go to the main chain:
/// each the same ballot with the fallback reference (the block's signed
/// header and the ballot's inclusion proof), signed again by its origin.
pub fn reconciliation_txs(
    block: &FallbackBlock,
    key: &NodeKey,
) -> Result<Vec<SignedTx>, LedgerError> {
    let hashes = tx_hashes(&block.transactions)?;
    let levels = super::merkle::MerkleLevels::new(&hashes);
    block
        .transactions
        .iter()
        .enumerate()
        .map(|(i, stx)| {
            let Some(b) = stx.tx.as_ballot() else {
                return Err(bad("only ballots are sealed in a fallback chain"));
            };
            let mut b = b.clone();
            b.fallback = Some(FallbackRef {
                header: block.header.clone(),
                signature: block.signature,
                index: i as u64,
                path: levels.path(i as u64).expect("the index is in the block"),
            });
            SignedTx::sign(Transaction::Ballot(b), key)
        })
        .collect()
}

/// Whether `main` is the reconciliation copy of `sealed` from the block
/// with hash `block_hash`.
pub fn is_reconciliation_of(sealed: &SignedTx, main: &SignedTx, block_hash: &Hash32) -> bool {
    let (Some(a), Some(b)) = (sealed.tx.as_ballot(), main.tx.as_ballot()) else {
        return false;
    };
    let Some(r) = &b.fallback else {
        return false;
    };
    r.block_hash().is_ok_and(|h| &h == block_hash)
        && r.origin() == &a.origin
        && &b.sealed() == a
        && a.fallback.is_none()
}

fn bad(m: impl Into<String>) -> LedgerError {
    LedgerError::BadTx(format!("fallback chain: {}", m.into()))
}

/// Checks one fallback block on top of `tip`: type, chain, origin, seq,
/// link, hash, signature, tx count and root, and every ballot (signed by
/// the origin, no fallback reference, valid at the block's time).
pub fn check_fallback_block(
    genesis: &Genesis,
    chain_id: &Hash32,
    origin: &PublicKey,
    tip: &FallbackTip,
    block: &FallbackBlock,
) -> Result<(), LedgerError> {
    let h = &block.header;
    LedgerError::same_chain(chain_id, &h.chain_id)?;
    if &h.origin != origin || !genesis.is_origin(origin) {
        return Err(LedgerError::UnknownOrigin(h.origin));
    }
    if h.seq != tip.seq + 1 {
        return Err(LedgerError::WrongHeight {
            expected: tip.seq + 1,
            found: h.seq,
        });
    }
    if tip.seq > 0 && h.prev_hash != tip.hash {
        return Err(LedgerError::WrongPrevHash {
            expected: tip.hash,
            found: h.prev_hash,
        });
    }
    if tip.seq == 0 && h.prev_hash != h.anchor_hash {
        return Err(LedgerError::WrongPrevHash {
            expected: h.anchor_hash,
            found: h.prev_hash,
        });
    }
    let computed = hash_of(h)?;
    if computed != block.block_hash {
        return Err(LedgerError::WrongHash {
            what: "fallback block",
            expected: computed,
            found: block.block_hash,
        });
    }
    if !super::crypto::verify_digest(origin, &block.block_hash, &block.signature) {
        return Err(LedgerError::BadSignature {
            what: "fallback block",
        });
    }
    check_fallback_txs(genesis, chain_id, origin, block)
}

fn check_fallback_txs(
    genesis: &Genesis,
    chain_id: &Hash32,
    origin: &PublicKey,
    block: &FallbackBlock,
) -> Result<(), LedgerError> {
    let h = &block.header;
    let n = block.transactions.len();
    if h.tx_count != n as u64 || n > MAX_FALLBACK_BLOCK_TXS {
        return Err(LedgerError::TxCountMismatch {
            header: h.tx_count,
            found: n as u64,
        });
    }
    let mut hashes = Vec::with_capacity(n);
    for stx in &block.transactions {
        if stx.tx.origin() != origin {
            return Err(bad("a ballot of another appliance"));
        }
        match stx.tx.as_ballot() {
            None => return Err(bad("a fallback block holds something other than a ballot")),
            Some(b) if b.fallback.is_some() => {
                return Err(bad("a sealed ballot carries a fallback reference"));
            }
            Some(_) => {}
        }
        hashes.push(check_tx(genesis, chain_id, stx, h.timestamp_ms)?);
    }
    check_tx_root("fallback tx_root", &hashes, h.tx_root)
}

/// Checks a whole fallback chain of `origin` (blocks in order) and its
/// closing record, if any: links, signatures, ballots, no nullifier twice,
/// and that the record names the chain's real end and ballot count.
pub fn check_fallback_chain(
    genesis: &Genesis,
    chain_id: &Hash32,
    origin: &PublicKey,
    blocks: &[FallbackBlock],
    close: Option<&SignedClose>,
) -> Result<u64, LedgerError> {
    let mut tip = FallbackTip {
        seq: 0,
        hash: Hash32::ZERO,
    };
    let mut seen = BTreeSet::new();
    let mut ballots = 0u64;
    for b in blocks {
        check_fallback_block(genesis, chain_id, origin, &tip, b)?;
        for stx in &b.transactions {
            if let Some(n) = stx.tx.nullifier()
                && !seen.insert(n)
            {
                return Err(LedgerError::DuplicateNullifier {
                    election_id: n.0,
                    nullifier: n.1,
                });
            }
        }
        ballots += b.transactions.len() as u64;
        tip = FallbackTip {
            seq: b.header.seq,
            hash: b.block_hash,
        };
    }
    if let Some(c) = close {
        check_close(chain_id, origin, c, &tip, ballots)?;
    }
    Ok(ballots)
}

fn check_close(
    chain_id: &Hash32,
    origin: &PublicKey,
    c: &SignedClose,
    tip: &FallbackTip,
    ballots: u64,
) -> Result<(), LedgerError> {
    let r = &c.close;
    if &r.chain_id != chain_id || &r.origin != origin {
        return Err(bad(
            "the closing record belongs to another chain or appliance",
        ));
    }
    if !verify(origin, r, &c.signature)? {
        return Err(LedgerError::BadSignature {
            what: "fallback closing record",
        });
    }
    if r.last_seq != tip.seq || r.last_hash != tip.hash {
        return Err(bad(format!(
            "the closing record ends at block {} ({}), the chain at {} ({})",
            r.last_seq, r.last_hash, tip.seq, tip.hash
        )));
    }
    if r.ballot_count != ballots {
        return Err(bad(format!(
            "the closing record counts {} ballots, the chain holds {ballots}",
            r.ballot_count
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackExportType {
    FallbackExport,
}

/// What the origin signs over an export: which chain, how far, how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSummary {
    #[serde(rename = "type")]
    pub kind: FallbackExportType,
    pub chain_id: Hash32,
    pub origin: PublicKey,
    pub block_count: u64,
    pub ballot_count: u64,
    pub last_hash: Hash32,
    pub closed: bool,
    pub exported_at_ms: u64,
}

/// A fallback chain as an election official carries it on a USB stick:
/// the blocks, the reconciliation copy of every ballot (same order as in
/// its block), the closing record, and the origin's signature over a
/// summary of it all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackExport {
    pub summary: ExportSummary,
    pub signature: Signature,
    pub blocks: Vec<FallbackBlock>,
    pub copies: Vec<Vec<SignedTx>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<SignedClose>,
    /// The origin's check-ins and closing records still waiting for the
    /// main chain (an offline station's poll book and `device_close`), each
    /// signed by the origin; the importer submits them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<SignedTx>,
}

impl FallbackExport {
    pub fn sign(
        chain_id: Hash32,
        blocks: Vec<FallbackBlock>,
        copies: Vec<Vec<SignedTx>>,
        close: Option<SignedClose>,
        exported_at_ms: u64,
        key: &NodeKey,
    ) -> Result<Self, LedgerError> {
        let summary = ExportSummary {
            kind: FallbackExportType::FallbackExport,
            chain_id,
            origin: key.public(),
            block_count: blocks.len() as u64,
            ballot_count: blocks.iter().map(|b| b.transactions.len() as u64).sum(),
            last_hash: blocks.last().map_or(Hash32::ZERO, |b| b.block_hash),
            closed: close.is_some(),
            exported_at_ms,
        };
        Ok(Self {
            signature: key.sign(&summary)?,
            summary,
            blocks,
            copies,
            close,
            records: Vec::new(),
        })
    }

    /// Adds the origin's waiting check-ins and closing records.
    pub fn with_records(mut self, records: Vec<SignedTx>) -> Self {
        self.records = records;
        self
    }

    /// Checks everything an importing appliance relies on; returns the
    /// number of ballots.
    pub fn verify(&self, genesis: &Genesis, chain_id: &Hash32) -> Result<u64, LedgerError> {
        let s = &self.summary;
        LedgerError::same_chain(chain_id, &s.chain_id)?;
        if !genesis.is_origin(&s.origin) {
            return Err(LedgerError::UnknownOrigin(s.origin));
        }
        if !verify(&s.origin, s, &self.signature)? {
            return Err(LedgerError::BadSignature {
                what: "fallback export",
            });
        }
        let ballots = check_fallback_chain(
            genesis,
            chain_id,
            &s.origin,
            &self.blocks,
            self.close.as_ref(),
        )?;
        let last = self.blocks.last().map_or(Hash32::ZERO, |b| b.block_hash);
        if s.block_count != self.blocks.len() as u64
            || s.ballot_count != ballots
            || s.last_hash != last
            || s.closed != self.close.is_some()
        {
            return Err(bad(
                "the export's signed summary does not describe its contents",
            ));
        }
        self.check_copies(genesis, chain_id)?;
        self.check_records(genesis, chain_id)?;
        Ok(ballots)
    }

    /// Each record is a check-in or closing record of the origin, valid on
    /// its own at the time it was made (§6 rules 18a-18t).
    fn check_records(&self, genesis: &Genesis, chain_id: &Hash32) -> Result<(), LedgerError> {
        for r in &self.records {
            if !matches!(r.tx, Transaction::CheckIn(_) | Transaction::DeviceClose(_)) {
                return Err(bad(format!(
                    "the export carries a {} record; only check-ins and closing records travel \
                     beside the fallback chain",
                    r.tx.kind()
                )));
            }
            if r.tx.origin() != &self.summary.origin {
                return Err(bad("the export carries another appliance's record"));
            }
            check_tx(genesis, chain_id, r, r.tx.made_at_ms())?;
        }
        Ok(())
    }

    fn check_copies(&self, genesis: &Genesis, chain_id: &Hash32) -> Result<(), LedgerError> {
        if self.copies.len() != self.blocks.len() {
            return Err(bad("the export lacks the copies of some blocks"));
        }
        for (block, copies) in self.blocks.iter().zip(&self.copies) {
            if copies.len() != block.transactions.len() {
                return Err(bad(format!(
                    "block {} lacks copies of some ballots",
                    block.header.seq
                )));
            }
            for (sealed, copy) in block.transactions.iter().zip(copies) {
                if !is_reconciliation_of(sealed, copy, &block.block_hash) {
                    return Err(bad(format!(
                        "a copy in block {} is not its sealed ballot",
                        block.header.seq
                    )));
                }
                check_tx(genesis, chain_id, copy, block.header.timestamp_ms)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::genesis::fixtures::genesis;
    use crate::ledger::tx::fixtures::ballot;

    fn chain(g: &Genesis, origin: u8, blocks: &[&[u8]]) -> Vec<FallbackBlock> {
        let id = g.chain_id().unwrap();
        let k = key(origin);
        let anchor = (0, id);
        let mut tip = FallbackTip { seq: 0, hash: id };
        let mut out = Vec::new();
        for voters in blocks {
            let txs = voters.iter().map(|v| ballot(g, origin, *v, 1)).collect();
            let b = FallbackBlock::seal(id, tip, anchor, 6_000, txs, &k).unwrap();
            tip = FallbackTip {
                seq: b.header.seq,
                hash: b.block_hash,
            };
            out.push(b);
        }
        out
    }

    fn close_for(g: &Genesis, origin: u8, blocks: &[FallbackBlock], count: u64) -> SignedClose {
        let last = blocks.last().unwrap();
        SignedClose::sign(
            FallbackClose {
                kind: FallbackCloseType::FallbackClose,
                chain_id: g.chain_id().unwrap(),
                origin: key(origin).public(),
                ballot_count: count,
                last_seq: last.header.seq,
                last_hash: last.block_hash,
                closed_at_ms: 7_000,
            },
            &key(origin),
        )
        .unwrap()
    }

    #[test]
    fn a_sealed_chain_and_its_close_verify() {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        let blocks = chain(&g, 100, &[&[1, 2], &[3]]);
        let close = close_for(&g, 100, &blocks, 3);
        let origin = key(100).public();
        assert_eq!(
            check_fallback_chain(&g, &id, &origin, &blocks, Some(&close)).unwrap(),
            3
        );
    }

    #[test]
    fn every_tampering_is_caught() {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        let origin = key(100).public();
        let blocks = chain(&g, 100, &[&[1, 2], &[3], &[4]]);
        let close = close_for(&g, 100, &blocks, 4);
        let check = |b: &[FallbackBlock], c: Option<&SignedClose>| {
            check_fallback_chain(&g, &id, &origin, b, c)
        };
        // a ballot removed from a block
        let mut t = blocks.clone();
        t[0].transactions.pop();
        assert!(check(&t, Some(&close)).is_err());
        // a whole block removed from the middle
        let t = vec![blocks[0].clone(), blocks[2].clone()];
        assert!(check(&t, None).is_err());
        // the last block removed: only the closing record tells
        let t = blocks[..2].to_vec();
        assert!(check(&t, None).is_ok());
        assert!(check(&t, Some(&close)).is_err());
        // a ballot changed
        let mut t = blocks.clone();
        t[1].transactions[0] = ballot(&g, 100, 3, 2);
        assert!(check(&t, None).is_err());
        // a block signed by someone else
        let mut t = blocks.clone();
        t[1].signature = key(1).sign_digest(&t[1].block_hash);
        assert!(check(&t, None).is_err());
        // a forged closing record
        let mut c = close.clone();
        c.close.ballot_count = 3;
        assert!(check(&blocks, Some(&c)).is_err());
        // the same voter twice
        let twice = chain(&g, 100, &[&[1], &[1]]);
        assert_eq!(
            check(&twice, None).unwrap_err().code(),
            "duplicate_nullifier"
        );
        // another appliance's chain presented as this one's
        let other = chain(&g, 1, &[&[1]]);
        assert!(check(&other, None).is_err());
    }

    fn export(
        g: &Genesis,
        blocks: Vec<FallbackBlock>,
        close: Option<SignedClose>,
    ) -> FallbackExport {
        let k = key(100);
        let copies = blocks
            .iter()
            .map(|b| reconciliation_txs(b, &k).unwrap())
            .collect();
        FallbackExport::sign(g.chain_id().unwrap(), blocks, copies, close, 8_000, &k).unwrap()
    }

    #[test]
    fn an_export_verifies_and_a_removed_ballot_is_caught() {
        let g = genesis(3);
        let id = g.chain_id().unwrap();
        let blocks = chain(&g, 100, &[&[1, 2], &[3]]);
        let close = close_for(&g, 100, &blocks, 3);
        let e = export(&g, blocks.clone(), Some(close.clone()));
        assert_eq!(e.verify(&g, &id).unwrap(), 3);
        let text = serde_json::to_string(&e).unwrap();
        let back: FallbackExport = serde_json::from_str(&text).unwrap();
        assert_eq!(back.verify(&g, &id).unwrap(), 3);

        // a ballot and its copy removed
        let mut t = e.clone();
        t.blocks[0].transactions.remove(1);
        t.copies[0].remove(1);
        assert!(t.verify(&g, &id).is_err());
        // only the copy removed
        let mut t = e.clone();
        t.copies[1].clear();
        assert!(t.verify(&g, &id).is_err());
        // the last block removed and the summary re-signed by someone else
        let mut t = export(&g, blocks[..1].to_vec(), Some(close));
        t.signature = key(1).sign(&t.summary).unwrap();
        assert!(t.verify(&g, &id).is_err());
        // a copy pointing at another block
        let mut t = e;
        t.copies[0][0] = reconciliation_txs(&t.blocks[1], &key(100)).unwrap()[0].clone();
        assert!(t.verify(&g, &id).is_err());
    }

    #[test]
    fn reconciliation_copies_carry_the_reference_and_match_their_original() {
        let g = genesis(3);
        let blocks = chain(&g, 100, &[&[1]]);
        let sealed = &blocks[0].transactions[0];
        let main = reconciliation_txs(&blocks[0], &key(100)).unwrap().remove(0);
        assert_ne!(main.hash().unwrap(), sealed.hash().unwrap());
        assert!(is_reconciliation_of(sealed, &main, &blocks[0].block_hash));
        assert!(!is_reconciliation_of(sealed, &main, &Hash32([1; 32])));
        let other = ballot(&g, 100, 2, 1);
        assert!(!is_reconciliation_of(&other, &main, &blocks[0].block_hash));
        let id = g.chain_id().unwrap();
        // valid on the main chain long after the election closed
        let late = g.elections[0].closes_at + 86_400_000;
        assert!(check_tx(&g, &id, &main, late).is_ok());
    }
}
