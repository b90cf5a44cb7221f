//! PROTOCOL.md §5, blocks: the header, commit seals, the statements a
//! validator signs about a block, a block as the wire carries it, and the
//! Merkle root of its transactions.

use serde::{Deserialize, Serialize};

use super::encoding::{Hash32, PublicKey, Signature, sha256};

/// How far ahead of the checker's clock a block timestamp may be (§5).
pub const MAX_FUTURE_DRIFT_MS: u64 = 15_000;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSeal {
    pub validator: PublicKey,
    pub signature: Signature,
}

/// The kinds of statement a validator signs about a block (§2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    Proposal,
    // No block carries a prepare; the test vectors hold one's hash.
    #[cfg_attr(not(test), allow(dead_code))]
    Prepare,
    Commit,
}

/// `{type, chain_id, height, round, block_hash}`: what a proposer or a
/// committing validator signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vote {
    #[serde(rename = "type")]
    pub kind: VoteKind,
    pub chain_id: Hash32,
    pub height: u64,
    pub round: u64,
    pub block_hash: Hash32,
}

impl Vote {
    /// The statement about a block, with the header's chain, height and
    /// round and the block's (claimed) hash.
    pub fn about(kind: VoteKind, header: &BlockHeader, block_hash: Hash32) -> Self {
        Self {
            kind,
            chain_id: header.chain_id,
            height: header.height,
            round: header.round,
            block_hash,
        }
    }
}

/// A whole block as served on the wire, for callers that hold one (the
/// test vectors). The audit itself reads blocks part by part
/// ([`crate::checks::RawBlock`]) so that one malformed part is reported
/// precisely instead of losing the block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireBlockParts {
    pub header: Box<serde_json::value::RawValue>,
    pub block_hash: Box<serde_json::value::RawValue>,
    pub proposer_signature: Box<serde_json::value::RawValue>,
    pub transactions: Vec<Box<serde_json::value::RawValue>>,
    pub seals: Box<serde_json::value::RawValue>,
}

/// The RFC 6962-shaped Merkle root over transaction hashes (§5).
pub fn merkle_root(leaves: &[Hash32]) -> Hash32 {
    match leaves.len() {
        0 => sha256(&[]),
        1 => {
            let mut buf = [0u8; 33];
            buf[1..].copy_from_slice(leaves[0].as_bytes());
            sha256(&buf)
        }
        n => {
            // the largest power of two strictly below n
            let m = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let mut buf = [0u8; 65];
            buf[0] = 1;
            buf[1..33].copy_from_slice(merkle_root(&leaves[..m]).as_bytes());
            buf[33..].copy_from_slice(merkle_root(&leaves[m..]).as_bytes());
            sha256(&buf)
        }
    }
}

fn node(l: &Hash32, r: &Hash32) -> Hash32 {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(l.as_bytes());
    buf[33..].copy_from_slice(r.as_bytes());
    sha256(&buf)
}

/// The inclusion proof of leaf `m` (RFC 6962 §2.1.1 PATH(m, D[n])), from
/// the leaf's sibling up; empty for a tree of one leaf.
pub fn merkle_path(leaves: &[Hash32], m: usize) -> Vec<Hash32> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
    if m < k {
        let mut p = merkle_path(&leaves[..k], m);
        p.push(merkle_root(&leaves[k..]));
        p
    } else {
        let mut p = merkle_path(&leaves[k..], m - k);
        p.push(merkle_root(&leaves[..k]));
        p
    }
}

/// Whether `path` proves that `x` is leaf `index` of a tree of `size`
/// leaves with root `root` (RFC 9162 §2.1.3.2, the leaf being
/// SHA-256(0x00 || x)). Used for a check-in's roll entry (§4b) and a
/// fallback copy's sealed ballot (§7a).
pub fn verify_inclusion(x: &Hash32, index: u64, size: u64, path: &[Hash32], root: &Hash32) -> bool {
    if index >= size || path.len() > 64 {
        return false;
    }
    let mut leaf = [0u8; 33];
    leaf[1..].copy_from_slice(x.as_bytes());
    let mut r = sha256(&leaf);
    let (mut f, mut s) = (index, size - 1);
    for p in path {
        if s == 0 {
            return false;
        }
        if f % 2 == 1 || f == s {
            r = node(p, &r);
            while f % 2 == 0 && f != 0 {
                f /= 2;
                s /= 2;
            }
        } else {
            r = node(&r, p);
        }
        f /= 2;
        s /= 2;
    }
    s == 0 && &r == root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_proves_its_place() {
        let h = |b: u8| Hash32([b; 32]);
        for n in 1..=20u8 {
            let leaves: Vec<Hash32> = (0..n).map(h).collect();
            let root = merkle_root(&leaves);
            for m in 0..usize::from(n) {
                let path = merkle_path(&leaves, m);
                let (i, size) = (m as u64, u64::from(n));
                assert!(verify_inclusion(&leaves[m], i, size, &path, &root));
                assert!(!verify_inclusion(&h(99), i, size, &path, &root));
                if n > 1 {
                    let other = (i + 1) % size;
                    assert!(!verify_inclusion(&leaves[m], other, size, &path, &root));
                }
            }
        }
    }

    #[test]
    fn merkle_split_is_largest_power_below() {
        let h = |b| Hash32([b; 32]);
        let leaf = |x: Hash32| {
            let mut v = vec![0u8];
            v.extend_from_slice(&x.0);
            sha256(&v)
        };
        let node = |l: Hash32, r: Hash32| {
            let mut v = vec![1u8];
            v.extend_from_slice(&l.0);
            v.extend_from_slice(&r.0);
            sha256(&v)
        };
        assert_eq!(merkle_root(&[]), sha256(b""));
        assert_eq!(merkle_root(&[h(1)]), leaf(h(1)));
        assert_eq!(
            merkle_root(&[h(1), h(2), h(3)]),
            node(node(leaf(h(1)), leaf(h(2))), leaf(h(3)))
        );
        let four = node(node(leaf(h(1)), leaf(h(2))), node(leaf(h(3)), leaf(h(4))));
        assert_eq!(
            merkle_root(&[h(1), h(2), h(3), h(4), h(5)]),
            node(four, leaf(h(5)))
        );
        assert_eq!(merkle_root(&[h(1), h(2), h(3), h(4)]), four);
    }
}
