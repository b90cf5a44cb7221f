//! Merkle trees of the RFC 6962 shape (PROTOCOL.md §5): the transaction
//! root of a block, the root of a voter roll, and inclusion proofs in
//! both (a check-in proves its roll entry, a fallback copy proves its
//! sealed ballot). Leaves are SHA-256(0x00 || x), inner nodes
//! SHA-256(0x01 || left || right), split at the largest power of two
//! below n; the empty tree is SHA-256 of nothing.

use super::bytes::Hash32;
use super::canonical::sha256;

/// The longest inclusion proof accepted: a tree of 2^64 leaves needs 64.
pub const MAX_PATH_LEN: usize = 64;

pub fn leaf_hash(x: &Hash32) -> Hash32 {
    let mut buf = [0u8; 33];
    buf[1..].copy_from_slice(x.as_bytes());
    sha256(&buf)
}

pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left.as_bytes());
    buf[33..].copy_from_slice(right.as_bytes());
    sha256(&buf)
}

/// The largest power of two strictly below `n` (n >= 2).
fn split(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// Merkle root over `leaves` (transaction hashes, roll entries).
pub fn merkle_root(leaves: &[Hash32]) -> Hash32 {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaf_hash(&leaves[0]),
        n => {
            let k = split(n as u64) as usize;
            node_hash(&merkle_root(&leaves[..k]), &merkle_root(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` (RFC 6962 §2.1.1 PATH): the
/// sibling hashes from the leaf up. `None` if `index` is out of range.
pub fn merkle_path(leaves: &[Hash32], index: u64) -> Option<Vec<Hash32>> {
    let levels = MerkleLevels::new(leaves);
    levels.path(index)
}

/// The level above `below`: a node over each two of it, left to right; an
/// odd last one has no parent at this level.
pub fn parent_level(below: &[Hash32]) -> Vec<Hash32> {
    below
        .chunks_exact(2)
        .map(|p| node_hash(&p[0], &p[1]))
        .collect()
}

/// The full aligned subtrees of a tree, level by level: level 0 holds the
/// leaf hashes, level j the root of every aligned run of 2^j leaves. Every
/// node of an RFC 6962 tree is one of these or is computed from them on
/// the right edge, so a path needs nothing else (and a store can keep the
/// levels instead of the leaves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleLevels {
    size: u64,
    levels: Vec<Vec<Hash32>>,
}

impl MerkleLevels {
    pub fn new(leaves: &[Hash32]) -> Self {
        let mut levels = vec![leaves.iter().map(leaf_hash).collect::<Vec<_>>()];
        while levels.last().is_some_and(|l| l.len() >= 2) {
            let next = parent_level(levels.last().expect("a level"));
            levels.push(next);
        }
        Self {
            size: leaves.len() as u64,
            levels,
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Level `j` (empty beyond the top).
    pub fn level(&self, j: usize) -> &[Hash32] {
        self.levels.get(j).map_or(&[], Vec::as_slice)
    }

    pub fn root(&self) -> Hash32 {
        subtree_root(0, self.size, &|j, i| self.levels[j][i as usize])
    }

    pub fn path(&self, index: u64) -> Option<Vec<Hash32>> {
        path_from_levels(self.size, index, &|j, i| self.levels[j][i as usize])
    }
}

/// The root of leaves `[a, b)`, from a source of full aligned subtree
/// roots `node(level, i)` (the root of leaves `[i 2^level, (i+1) 2^level)`).
pub fn subtree_root(a: u64, b: u64, node: &dyn Fn(usize, u64) -> Hash32) -> Hash32 {
    let n = b - a;
    if n == 0 {
        return sha256(&[]);
    }
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as usize;
        return node(level, a >> level);
    }
    let k = split(n);
    node_hash(&subtree_root(a, a + k, node), &subtree_root(a + k, b, node))
}

/// The inclusion proof of leaf `index` in a tree of `size` leaves, from
/// its full aligned subtrees (see [`subtree_root`]).
pub fn path_from_levels(
    size: u64,
    index: u64,
    node: &dyn Fn(usize, u64) -> Hash32,
) -> Option<Vec<Hash32>> {
    if index >= size {
        return None;
    }
    let (mut a, mut b) = (0, size);
    let mut path = Vec::new();
    while b - a > 1 {
        let k = split(b - a);
        if index < a + k {
            path.push(subtree_root(a + k, b, node));
            b = a + k;
        } else {
            path.push(subtree_root(a, a + k, node));
            a += k;
        }
    }
    path.reverse();
    Some(path)
}

/// Whether `path` proves leaf `x` at `index` in a tree of `size` leaves
/// with root `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(x: &Hash32, index: u64, size: u64, path: &[Hash32], root: &Hash32) -> bool {
    if index >= size || path.len() > MAX_PATH_LEN {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf_hash(x);
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &r == root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> Hash32 {
        Hash32([b; 32])
    }

    // The size is bound by the root it comes with (a genesis' roll, a
    // signed fallback header): a proof is checked against both together.
    #[test]
    fn every_leaf_of_every_small_tree_proves_and_nothing_else_does() {
        for n in 1..=33u8 {
            let leaves: Vec<Hash32> = (0..n).map(h).collect();
            let root = merkle_root(&leaves);
            let levels = MerkleLevels::new(&leaves);
            assert_eq!(levels.root(), root, "n = {n}");
            for i in 0..u64::from(n) {
                let path = merkle_path(&leaves, i).unwrap();
                let leaf = &leaves[i as usize];
                let proves = |index: u64, path: &[Hash32]| {
                    verify_inclusion(leaf, index, n.into(), path, &root)
                };
                assert!(proves(i, &path));
                // another leaf, index, size or root does not verify
                let other = h(200);
                assert!(!verify_inclusion(&other, i, n.into(), &path, &root));
                if n > 1 {
                    assert!(!proves((i + 1) % u64::from(n), &path));
                    assert!(!proves(i, &path[..path.len() - 1]));
                }
                let mut long = path.clone();
                long.push(h(1));
                assert!(!proves(i, &long));
            }
            assert!(merkle_path(&leaves, n.into()).is_none());
        }
    }
}
