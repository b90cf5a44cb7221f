//! Transactions this node has already verified (signature and ballot
//! proofs), so that a ballot checked when it entered the mempool is not
//! checked again when its block is proposed or validated. Keyed by the
//! transaction hash together with its signature; bounded, oldest first out.

use std::collections::{BTreeSet, VecDeque};

use crate::ledger::{Hash32, Signature, sha256};

/// How many verified transactions are remembered.
pub const MAX_VERIFIED: usize = 200_000;

#[derive(Default)]
pub struct VerifiedCache {
    set: BTreeSet<Hash32>,
    order: VecDeque<Hash32>,
}

fn key(tx_hash: &Hash32, signature: &Signature) -> Hash32 {
    let mut buf = [0u8; 96];
    buf[..32].copy_from_slice(tx_hash.as_bytes());
    buf[32..].copy_from_slice(signature.as_bytes());
    sha256(&buf)
}

impl VerifiedCache {
    pub fn insert(&mut self, tx_hash: &Hash32, signature: &Signature) {
        let k = key(tx_hash, signature);
        if self.set.insert(k) {
            self.order.push_back(k);
            if self.order.len() > MAX_VERIFIED
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }

    pub fn contains(&self, tx_hash: &Hash32, signature: &Signature) -> bool {
        self.set.contains(&key(tx_hash, signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_pair_not_the_hash_alone() {
        let mut c = VerifiedCache::default();
        let (h, s) = (Hash32([1; 32]), Signature([2; 64]));
        c.insert(&h, &s);
        assert!(c.contains(&h, &s));
        assert!(
            !c.contains(&h, &Signature([3; 64])),
            "another signature is checked again"
        );
        assert!(!c.contains(&Hash32([4; 32]), &s));
    }
}
