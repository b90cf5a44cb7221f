//! Signatures this process has verified, so that a message met again is
//! not verified again: a consensus message or gossip batch that reaches a
//! validator by two routes (sent around a stalled link, and directly once
//! the link is back), a block's seals checked when its proposal arrives and
//! again when it is committed, and in the simulator, where every validator
//! lives in one process, each message once instead of once per validator.
//! A signature this process made ([`remember_signed`]) counts as verified
//! too: it is valid by construction, so a validator's own PREPAREs and
//! seals are not verified when they come back to it in certificates and
//! blocks, and the simulator (whose validators share the process) does not
//! verify the honest ones at all.
//!
//! Only successes are kept, under the whole (key, digest, signature)
//! triple, never a hash of it: a hit means this exact triple verified
//! before, so no input can be accepted that would not verify. A bounded
//! set with first-in-first-out eviction; a miss only costs the
//! verification it would have cost anyway.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;

use super::bytes::{Hash32, PublicKey, Signature};

/// Triples remembered (128 bytes each, twice: about 2 MiB).
pub const VERIFIED_ENTRIES: usize = 8_192;

type Triple = [u8; 128];

struct Verified {
    set: BTreeSet<Triple>,
    order: VecDeque<Triple>,
}

static VERIFIED: Mutex<Option<Verified>> = Mutex::new(None);

fn triple(key: &PublicKey, digest: &Hash32, sig: &Signature) -> Triple {
    let mut t = [0u8; 128];
    t[..32].copy_from_slice(key.as_bytes());
    t[32..64].copy_from_slice(digest.as_bytes());
    t[64..].copy_from_slice(sig.as_bytes());
    t
}

/// Whether `check` holds for this triple: remembered, or checked now (and
/// remembered if it holds).
pub fn verified_with(
    key: &PublicKey,
    digest: &Hash32,
    sig: &Signature,
    check: impl FnOnce() -> bool,
) -> bool {
    let t = triple(key, digest, sig);
    let seen = |v: &Option<Verified>| v.as_ref().is_some_and(|v| v.set.contains(&t));
    // A poisoned lock only means another thread panicked mid-insert: at
    // worst one triple then sits in the set but not in the eviction order
    // (it is never forgotten), and every entry still verified once.
    if seen(&VERIFIED.lock().unwrap_or_else(|e| e.into_inner())) {
        return true;
    }
    if !check() {
        return false;
    }
    remember(t);
    true
}

/// Remembers a signature made here with the key whose public half is
/// `key`: Ed25519 signing (ring's) gives a signature that verifies.
pub fn remember_signed(key: &PublicKey, digest: &Hash32, sig: &Signature) {
    remember(triple(key, digest, sig));
}

fn remember(t: Triple) {
    let mut guard = VERIFIED.lock().unwrap_or_else(|e| e.into_inner());
    let v = guard.get_or_insert_with(|| Verified {
        set: BTreeSet::new(),
        order: VecDeque::with_capacity(VERIFIED_ENTRIES),
    });
    if v.set.insert(t) {
        v.order.push_back(t);
        if v.order.len() > VERIFIED_ENTRIES
            && let Some(old) = v.order.pop_front()
        {
            v.set.remove(&old);
        }
    }
}

/// Forgets every triple: for benchmarks that verify the same signature
/// again and again and must measure the verification, not the memo, and
/// for measuring what one validator's process does, in a process that
/// plays several.
pub fn forget_verified() {
    *VERIFIED.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u8) -> (PublicKey, Hash32, Signature) {
        (PublicKey([n; 32]), Hash32([n; 32]), Signature([n; 64]))
    }

    #[test]
    fn remembers_successes_and_own_signatures_not_failures_and_forgets_the_oldest() {
        let (k, d, s) = t(201);
        assert!(!verified_with(&k, &d, &s, || false));
        assert!(verified_with(&k, &d, &s, || true));
        assert!(verified_with(&k, &d, &s, || panic!("checked again")));
        // Another signature over the same digest with the same key is a
        // different triple.
        let other = Signature([202; 64]);
        assert!(!verified_with(&k, &d, &other, || false));
        // A signature made here is known; the same bytes under another key,
        // or other bytes, are not.
        let signer = crate::ledger::crypto::test_keys::key(203);
        let made = signer.sign_digest(&d);
        assert!(verified_with(&signer.public(), &d, &made, || panic!(
            "checked again"
        )));
        assert!(!verified_with(&k, &d, &made, || false));
        let mut forged = made;
        forged.0[0] ^= 1;
        assert!(!verified_with(&signer.public(), &d, &forged, || false));
        // One test, not two: the set is the process's, shared by tests
        // running at once, and this part fills it.
        let first = (PublicKey([7; 32]), Hash32([0; 32]), Signature([9; 64]));
        assert!(verified_with(&first.0, &first.1, &first.2, || true));
        for i in 0..VERIFIED_ENTRIES as u32 {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_le_bytes());
            d[4] = 1;
            assert!(verified_with(
                &PublicKey([7; 32]),
                &Hash32(d),
                &first.2,
                || true
            ));
        }
        assert!(!verified_with(&first.0, &first.1, &first.2, || false));
    }
}
