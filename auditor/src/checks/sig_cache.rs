//! Signatures and ballot proofs verified once, for every source.

use std::collections::HashSet;

use crate::protocol::{Hash32, PublicKey, Signature, sha256, verify_digest};

/// Signatures and ballot proofs already verified, so that a block served
/// by several sources is verified once. Only valid ones are remembered,
/// keyed by SHA-256(key || digest || signature) and SHA-256("ballot-proof"
/// || tx_hash); the set stops growing at `cap`.
#[derive(Debug)]
pub struct SigCache {
    set: HashSet<[u8; 32]>,
    cap: usize,
}

/// Signatures remembered at most, by default (about 80 MB).
pub const DEFAULT_SIG_CACHE: usize = 2_000_000;

impl SigCache {
    pub fn new(cap: usize) -> Self {
        Self {
            set: HashSet::new(),
            cap,
        }
    }

    fn key(pk: &PublicKey, digest: &Hash32, sig: &Signature) -> [u8; 32] {
        let mut buf = [0u8; 128];
        buf[..32].copy_from_slice(pk.as_bytes());
        buf[32..64].copy_from_slice(digest.as_bytes());
        buf[64..].copy_from_slice(sig.as_bytes());
        sha256(&buf).0
    }

    /// Whether `sig` by `pk` over `digest` verifies; a newly verified one
    /// is added to `learned` for [`SigCache::remember`].
    pub fn verify(
        &self,
        pk: &PublicKey,
        digest: &Hash32,
        sig: &Signature,
        learned: &mut Vec<[u8; 32]>,
    ) -> bool {
        if self.cap == 0 {
            return verify_digest(pk, digest, sig);
        }
        let k = Self::key(pk, digest, sig);
        if self.set.contains(&k) {
            return true;
        }
        let ok = verify_digest(pk, digest, sig);
        if ok {
            learned.push(k);
        }
        ok
    }

    /// The key under which a transaction whose ballot proofs verified is
    /// remembered: `tx_hash` covers the ballot and everything its proofs
    /// are bound to (chain, election, nullifier, origin).
    pub fn proofs_key(tx_hash: &Hash32) -> [u8; 32] {
        let mut buf = [0u8; 44];
        buf[..12].copy_from_slice(b"ballot-proof");
        buf[12..].copy_from_slice(tx_hash.as_bytes());
        sha256(&buf).0
    }

    /// Whether this transaction's ballot proofs were already verified.
    pub fn known_proofs(&self, tx_hash: &Hash32) -> bool {
        self.cap > 0 && self.set.contains(&Self::proofs_key(tx_hash))
    }

    pub fn remember(&mut self, learned: impl IntoIterator<Item = [u8; 32]>) {
        for k in learned {
            if self.set.len() >= self.cap {
                return;
            }
            self.set.insert(k);
        }
    }
}
