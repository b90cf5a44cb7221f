//! Transactions this node has already verified (signature and ballot
//! proofs), so that a ballot checked when it entered the mempool is not
//! checked again when its block is proposed or validated, nor when a peer
//! gossips it again; one first checked in a proposal (its gossip still on
//! the way) is not checked again when the gossip comes. Keyed by the
//! transaction hash together with its signature; bounded, oldest first
//! out. Shared by the node thread and the HTTP handlers, hence the lock
//! (held for a set look-up, never for a check).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;

use crate::ledger::{Hash32, Signature, sha256};

/// How many verified transactions are remembered.
pub const MAX_VERIFIED: usize = 200_000;

#[derive(Default)]
pub struct VerifiedCache(Mutex<Remembered>);

#[derive(Default)]
struct Remembered {
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
    pub fn insert(&self, tx_hash: &Hash32, signature: &Signature) {
        let k = key(tx_hash, signature);
        let mut r = self.0.lock().expect("verified cache");
        if r.set.insert(k) {
            r.order.push_back(k);
            if r.order.len() > MAX_VERIFIED
                && let Some(old) = r.order.pop_front()
            {
                r.set.remove(&old);
            }
        }
    }

    pub fn contains(&self, tx_hash: &Hash32, signature: &Signature) -> bool {
        let k = key(tx_hash, signature);
        self.0.lock().expect("verified cache").set.contains(&k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_pair_not_the_hash_alone() {
        let c = VerifiedCache::default();
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
