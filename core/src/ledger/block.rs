//! Blocks, their headers, the transaction Merkle root and the signed
//! proposal and commit statements that make a block final.

use serde::{Deserialize, Serialize};

use super::bytes::{Hash32, PublicKey, Signature};
#[cfg(test)]
use super::canonical::sha256;
use super::canonical::{MAX_SAFE_INTEGER, hash_of};
use super::canonical_ballot::Writer;
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

impl VoteKind {
    /// The name the wire and the canonical form give the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            VoteKind::Proposal => "proposal",
            VoteKind::Prepare => "prepare",
            VoteKind::Commit => "commit",
        }
    }
}

impl Vote {
    /// The hash of the canonical form: what the signature covers. Written
    /// directly (validators hash a vote for every message they sign or
    /// check); the same bytes as [`hash_of`], which it falls back to for
    /// integers JCS cannot carry exactly.
    pub fn digest(&self) -> Result<Hash32, LedgerError> {
        if self.height > MAX_SAFE_INTEGER || self.round > MAX_SAFE_INTEGER {
            return hash_of(self);
        }
        let mut w = Writer::with_capacity(VOTE_BYTES);
        w.hex("{\"block_hash\":", self.block_hash.as_bytes());
        w.hex(",\"chain_id\":", self.chain_id.as_bytes());
        w.int(",\"height\":", self.height);
        w.int(",\"round\":", self.round);
        w.raw(",\"type\":\"");
        w.raw(self.kind.as_str());
        w.raw("\"}");
        Ok(w.hash())
    }

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

/// Canonical bytes of a vote or a hashed header: two hashes, a few
/// integers, the keys.
const VOTE_BYTES: usize = 256;

impl BlockHeader {
    /// The block hash: the hash of [`HashedHeader`]'s canonical form,
    /// written directly (every proposal and block a validator meets is
    /// hashed); the generic path for integers JCS cannot carry exactly.
    pub fn hash(&self) -> Result<Hash32, LedgerError> {
        let (height, time, count) = (self.height, self.timestamp_ms, self.tx_count);
        if height <= MAX_SAFE_INTEGER && time <= MAX_SAFE_INTEGER && count <= MAX_SAFE_INTEGER {
            let mut w = Writer::with_capacity(VOTE_BYTES);
            w.hex("{\"chain_id\":", self.chain_id.as_bytes());
            w.int(",\"height\":", height);
            w.hex(",\"prev_hash\":", self.prev_hash.as_bytes());
            w.int(",\"timestamp_ms\":", time);
            w.int(",\"tx_count\":", count);
            w.hex(",\"tx_root\":", self.tx_root.as_bytes());
            w.raw("}");
            return Ok(w.hash());
        }
        self.hash_generic()
    }

    fn hash_generic(&self) -> Result<Hash32, LedgerError> {
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
        let header = BlockHeader {
            chain_id,
            height,
            round,
            prev_hash,
            timestamp_ms,
            proposer: key.public(),
            tx_root: tx_root(&transactions)?,
            tx_count: transactions.len() as u64,
        };
        let block_hash = header.hash()?;
        let proposal = Vote::for_header(VoteKind::Proposal, &header, block_hash);
        let proposer_signature = key.sign_digest(&proposal.digest()?);
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
            signature: key.sign_digest(&self.commit_vote().digest()?),
        })
    }
}

pub use super::merkle::merkle_root;

/// The hashes of `txs` in order: the leaves of a block's `tx_root`.
pub fn tx_hashes(txs: &[SignedTx]) -> Result<Vec<Hash32>, LedgerError> {
    txs.iter().map(SignedTx::hash).collect()
}

/// The `tx_root` of a block (or fallback block) holding `txs`.
pub fn tx_root(txs: &[SignedTx]) -> Result<Hash32, LedgerError> {
    Ok(merkle_root(&tx_hashes(txs)?))
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
    fn votes_and_headers_hash_as_the_generic_canonical_form() {
        let big = MAX_SAFE_INTEGER;
        for (height, round) in [(0, 0), (1, 7), (big, big), (big + 1, 0), (3, u64::MAX)] {
            for kind in [VoteKind::Proposal, VoteKind::Prepare, VoteKind::Commit] {
                let v = Vote {
                    kind,
                    chain_id: h(9),
                    height,
                    round,
                    block_hash: h(0xab),
                };
                assert_eq!(v.digest().unwrap(), hash_of(&v).unwrap(), "{v:?}");
            }
            for (time, count) in [(0, 0), (1_700_000_000_000, 12), (big, big), (big + 1, 1)] {
                let header = BlockHeader {
                    chain_id: h(1),
                    height,
                    round,
                    prev_hash: h(2),
                    timestamp_ms: time,
                    proposer: PublicKey([3; 32]),
                    tx_root: h(4),
                    tx_count: count,
                };
                assert_eq!(header.hash().unwrap(), header.hash_generic().unwrap());
            }
        }
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
