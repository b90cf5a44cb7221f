//! Blocks, their headers, the transaction Merkle root and the signed
//! proposal and commit statements that make a block final.

use serde::{Deserialize, Serialize};

use super::bytes::{Hash32, PublicKey, Signature};
use super::canonical::hash_of;
#[cfg(test)]
use super::canonical::sha256;
use super::crypto::NodeKey;
use super::error::LedgerError;
use super::tx::SignedTx;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    pub chain_id: Hash32,
    pub height: u64,
    pub round: u64,
    pub prev_hash: Hash32,
    pub timestamp_ms: u64,
    pub proposer: PublicKey,
    pub tx_root: Hash32,
    pub tx_count: u64,
}

/// A validator's signature over a [`Vote`] of kind `commit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSeal {
    pub validator: PublicKey,
    pub signature: Signature,
}

/// A block as stored and served. `block_hash` is the hash of `header`;
/// the seals are not part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    pub header: BlockHeader,
    pub block_hash: Hash32,
    pub proposer_signature: Signature,
    pub transactions: Vec<SignedTx>,
    pub seals: Vec<CommitSeal>,
}

/// The kinds of statement a validator signs about a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    Proposal,
    Prepare,
    Commit,
}

/// What a proposer, a preparing or a committing validator signs:
/// `{type, chain_id, height, round, block_hash}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    #[serde(rename = "type")]
    pub kind: VoteKind,
    pub chain_id: Hash32,
    pub height: u64,
    pub round: u64,
    pub block_hash: Hash32,
}

impl Vote {
    pub fn for_header(kind: VoteKind, header: &BlockHeader, block_hash: Hash32) -> Self {
        Self {
            kind,
            chain_id: header.chain_id,
            height: header.height,
            round: header.round,
            block_hash,
        }
    }
}

/// What a block's hash covers: everything in the header but `round` and
/// `proposer`. A block prepared in one round and re-proposed in a later one
/// (QBFT's locking rule) keeps its hash, so validators that commit it in
/// different rounds commit the same block. Round and proposer are still
/// bound to the block by the proposer's signature and the commit seals,
/// which sign `{type, chain_id, height, round, block_hash}`.
#[derive(Serialize)]
struct HashedHeader<'a> {
    chain_id: &'a Hash32,
    height: u64,
    prev_hash: &'a Hash32,
    timestamp_ms: u64,
    tx_root: &'a Hash32,
    tx_count: u64,
}

impl BlockHeader {
    pub fn hash(&self) -> Result<Hash32, LedgerError> {
        hash_of(&HashedHeader {
            chain_id: &self.chain_id,
            height: self.height,
            prev_hash: &self.prev_hash,
            timestamp_ms: self.timestamp_ms,
            tx_root: &self.tx_root,
            tx_count: self.tx_count,
        })
    }
}

impl Block {
    /// Assembles and signs a proposal: header, hash, proposer signature.
    pub fn propose(
        chain_id: Hash32,
        height: u64,
        round: u64,
        prev_hash: Hash32,
        timestamp_ms: u64,
        transactions: Vec<SignedTx>,
        key: &NodeKey,
    ) -> Result<Self, LedgerError> {
        let hashes = tx_hashes(&transactions)?;
        let header = BlockHeader {
            chain_id,
            height,
            round,
            prev_hash,
            timestamp_ms,
            proposer: key.public(),
            tx_root: merkle_root(&hashes),
            tx_count: transactions.len() as u64,
        };
        let block_hash = header.hash()?;
        let proposer_signature =
            key.sign(&Vote::for_header(VoteKind::Proposal, &header, block_hash))?;
        Ok(Self {
            header,
            block_hash,
            proposer_signature,
            transactions,
            seals: Vec::new(),
        })
    }

    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// The commit statement the seals sign.
    pub fn commit_vote(&self) -> Vote {
        Vote::for_header(VoteKind::Commit, &self.header, self.block_hash)
    }

    /// This validator's commit seal for the block.
    pub fn seal(&self, key: &NodeKey) -> Result<CommitSeal, LedgerError> {
        Ok(CommitSeal {
            validator: key.public(),
            signature: key.sign(&self.commit_vote())?,
        })
    }
}

pub use super::merkle::merkle_root;

/// The hashes of `txs` in order: the leaves of a block's `tx_root`.
pub fn tx_hashes(txs: &[SignedTx]) -> Result<Vec<Hash32>, LedgerError> {
    txs.iter().map(SignedTx::hash).collect()
}

/// A header's `tx_root` (`what` names it in the error) against the
/// Merkle root of `hashes`.
pub(crate) fn check_tx_root(
    what: &'static str,
    hashes: &[Hash32],
    found: Hash32,
) -> Result<(), LedgerError> {
    let expected = merkle_root(hashes);
    if expected != found {
        return Err(LedgerError::WrongHash {
            what,
            expected,
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> Hash32 {
        Hash32([b; 32])
    }

    fn node(l: Hash32, r: Hash32) -> Hash32 {
        let mut buf = vec![1u8];
        buf.extend_from_slice(l.as_bytes());
        buf.extend_from_slice(r.as_bytes());
        sha256(&buf)
    }

    fn leaf(x: Hash32) -> Hash32 {
        let mut buf = vec![0u8];
        buf.extend_from_slice(x.as_bytes());
        sha256(&buf)
    }

    #[test]
    fn merkle_root_follows_rfc6962_shape() {
        assert_eq!(merkle_root(&[]), sha256(b""));
        assert_eq!(merkle_root(&[h(1)]), leaf(h(1)));
        assert_eq!(merkle_root(&[h(1), h(2)]), node(leaf(h(1)), leaf(h(2))));
        // n = 3 splits 2 + 1
        assert_eq!(
            merkle_root(&[h(1), h(2), h(3)]),
            node(node(leaf(h(1)), leaf(h(2))), leaf(h(3)))
        );
        // n = 5 splits 4 + 1
        let four = node(node(leaf(h(1)), leaf(h(2))), node(leaf(h(3)), leaf(h(4))));
        assert_eq!(
            merkle_root(&[h(1), h(2), h(3), h(4), h(5)]),
            node(four, leaf(h(5)))
        );
        // order matters
        assert_ne!(merkle_root(&[h(1), h(2)]), merkle_root(&[h(2), h(1)]));
    }

    #[test]
    fn a_block_keeps_its_hash_when_re_proposed_in_another_round() {
        let h = BlockHeader {
            chain_id: Hash32([1; 32]),
            height: 5,
            round: 0,
            prev_hash: Hash32([2; 32]),
            timestamp_ms: 9,
            proposer: PublicKey([3; 32]),
            tx_root: Hash32([4; 32]),
            tx_count: 0,
        };
        let mut later = h.clone();
        later.round = 2;
        later.proposer = PublicKey([5; 32]);
        assert_eq!(h.hash().unwrap(), later.hash().unwrap());
        let mut other = h.clone();
        other.timestamp_ms = 10;
        assert_ne!(h.hash().unwrap(), other.hash().unwrap());
    }

    #[test]
    fn vote_wire_form_names_its_type() {
        let v = Vote {
            kind: VoteKind::Commit,
            chain_id: h(0),
            height: 1,
            round: 0,
            block_hash: h(1),
        };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["type"], "commit");
    }
}
