//! The canonical form (RFC 8785) of a ballot and of a ballot transaction,
//! written directly. Every member is a fixed ASCII key, a `0x` hex string
//! or a safe integer, so the canonical form is the members in sorted
//! order without escapes. The generic path (`serde_json_canonicalizer`,
//! which buffers and sorts every object) cost 30 µs per transaction, and a
//! loaded node hashes each ballot several times; this one gives the same
//! bytes (tested against it) in a fraction of that. [`Writer`] also writes
//! the small statements validators sign and check by the thousand (votes,
//! block headers, round changes: `block.rs`, `consensus/messages.rs`).

use super::bytes::{Hash32, with_hex};
use super::canonical::{MAX_SAFE_INTEGER, sha256};
use super::elgamal::{EncryptedBallot, Point, PublicScalar};
use super::fallback::FallbackBlockType;
use super::tx::{BallotTx, FallbackRef};

/// JSON bytes of a ballot with 3 candidates are about 2,400.
const PER_SELECTION: usize = 720;

/// Canonical JSON written member by member: the caller writes the keys
/// in sorted order, and only hex strings, plain ASCII strings and safe
/// integers as values.
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    pub(crate) fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    /// `key` is the member's name with the punctuation before and after it.
    pub(crate) fn hex(&mut self, key: &str, bytes: &[u8]) {
        self.raw(key);
        self.0.push(b'"');
        with_hex(bytes, |h| self.0.extend_from_slice(h.as_bytes()));
        self.0.push(b'"');
    }

    fn point(&mut self, key: &str, p: &Point) {
        self.hex(key, p.as_bytes());
    }

    fn scalar(&mut self, key: &str, s: &PublicScalar) {
        self.hex(key, s.0.as_bytes());
    }

    /// An integer at most [`MAX_SAFE_INTEGER`] (the caller checks: JCS
    /// writes larger ones otherwise).
    pub(crate) fn int(&mut self, key: &str, v: u64) {
        debug_assert!(v <= MAX_SAFE_INTEGER);
        self.raw(key);
        self.raw(&v.to_string());
    }

    /// SHA-256 of what was written.
    pub(crate) fn hash(&self) -> Hash32 {
        sha256(&self.0)
    }

    fn ballot(&mut self, b: &EncryptedBallot) {
        self.raw("{\"selections\":[");
        for (i, s) in b.selections.iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            let (ct, p) = (&s.ciphertext, &s.proof);
            self.point("{\"ciphertext\":{\"a\":", &ct.a);
            self.point(",\"b\":", &ct.b);
            self.scalar("},\"proof\":{\"c0\":", &p.c0);
            self.point(",\"u0\":", &p.u0);
            self.point(",\"u1\":", &p.u1);
            self.point(",\"v0\":", &p.v0);
            self.point(",\"v1\":", &p.v1);
            self.scalar(",\"z0\":", &p.z0);
            self.scalar(",\"z1\":", &p.z1);
            self.raw("}}");
        }
        let sp = &b.sum_proof;
        self.point("],\"sum_proof\":{\"u\":", &sp.u);
        self.point(",\"v\":", &sp.v);
        self.scalar(",\"z\":", &sp.z);
        self.raw("}}");
    }
}

impl Writer {
    /// A fallback reference (`None` when an integer is beyond 2^53).
    fn fallback(&mut self, f: &FallbackRef) -> Option<()> {
        let h = &f.header;
        let ints = [h.anchor_height, h.seq, h.timestamp_ms, h.tx_count, f.index];
        if ints.iter().any(|&v| v > MAX_SAFE_INTEGER) {
            return None;
        }
        let FallbackBlockType::FallbackBlock = h.kind;
        self.hex("{\"header\":{\"anchor_hash\":", h.anchor_hash.as_bytes());
        self.int(",\"anchor_height\":", h.anchor_height);
        self.hex(",\"chain_id\":", h.chain_id.as_bytes());
        self.hex(",\"origin\":", h.origin.as_bytes());
        self.hex(",\"prev_hash\":", h.prev_hash.as_bytes());
        self.int(",\"seq\":", h.seq);
        self.int(",\"timestamp_ms\":", h.timestamp_ms);
        self.int(",\"tx_count\":", h.tx_count);
        self.hex(",\"tx_root\":", h.tx_root.as_bytes());
        self.int(",\"type\":\"fallback_block\"},\"index\":", f.index);
        self.raw(",\"path\":[");
        for (i, node) in f.path.iter().enumerate() {
            self.hex(if i > 0 { "," } else { "" }, node.as_bytes());
        }
        self.hex("],\"signature\":", f.signature.as_bytes());
        self.raw("}");
        Some(())
    }
}

/// The canonical bytes of a ballot.
pub fn ballot_bytes(b: &EncryptedBallot) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64 + PER_SELECTION * b.selections.len()));
    w.ballot(b);
    w.0
}

/// The canonical bytes of a ballot transaction (its `type` included), or
/// `None` when an integer is beyond 2^53 (the generic path says what JCS
/// does with it; the ledger refuses such transactions anyway).
pub fn ballot_tx_bytes(t: &BallotTx) -> Option<Vec<u8>> {
    if t.election_id > MAX_SAFE_INTEGER || t.submitted_at_ms > MAX_SAFE_INTEGER {
        return None;
    }
    let mut w = Writer(Vec::with_capacity(
        512 + PER_SELECTION * t.ballot.selections.len(),
    ));
    w.raw("{\"ballot\":");
    w.ballot(&t.ballot);
    w.hex(",\"ballot_hash\":", t.ballot_hash.as_bytes());
    w.hex(",\"chain_id\":", t.chain_id.as_bytes());
    w.hex(
        ",\"credential_signature\":",
        t.credential_signature.as_bytes(),
    );
    w.int(",\"election_id\":", t.election_id);
    if let Some(f) = &t.fallback {
        w.raw(",\"fallback\":");
        w.fallback(f)?;
    }
    w.hex(",\"nullifier\":", t.nullifier.as_bytes());
    w.hex(",\"origin\":", t.origin.as_bytes());
    w.int(",\"submitted_at_ms\":", t.submitted_at_ms);
    w.raw(",\"type\":\"ballot\"}");
    Some(w.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::canonical::canonical_bytes;
    use crate::ledger::fallback::FallbackHeader;
    use crate::ledger::genesis::fixtures::genesis;
    use crate::ledger::tx::fixtures::ballot;
    use crate::ledger::{PublicKey, Signature, Transaction};

    #[test]
    fn gives_the_bytes_of_the_generic_canonical_form() {
        let g = genesis(3);
        for (voter, candidate) in [(1, 1), (2, 2), (3, 3)] {
            let stx = ballot(&g, 1, voter, candidate);
            let Transaction::Ballot(mut b) = stx.tx else {
                unreachable!("a ballot fixture")
            };
            assert_eq!(ballot_bytes(&b.ballot), canonical_bytes(&b.ballot).unwrap());
            let generic = |b: &BallotTx| canonical_bytes(&Transaction::Ballot(b.clone())).unwrap();
            assert_eq!(ballot_tx_bytes(&b).unwrap(), generic(&b));
            b.election_id = MAX_SAFE_INTEGER;
            b.submitted_at_ms = 0;
            assert_eq!(ballot_tx_bytes(&b).unwrap(), generic(&b));
            b.ballot.selections.truncate(1);
            assert_eq!(ballot_tx_bytes(&b).unwrap(), generic(&b));
            b.ballot.selections.clear();
            assert_eq!(ballot_tx_bytes(&b).unwrap(), generic(&b));
            b.submitted_at_ms = MAX_SAFE_INTEGER + 1;
            assert_eq!(ballot_tx_bytes(&b), None);
        }
    }

    #[test]
    fn writes_a_fallback_reference_as_the_generic_canonical_form() {
        let g = genesis(3);
        let Transaction::Ballot(mut b) = ballot(&g, 1, 1, 2).tx else {
            unreachable!("a ballot fixture")
        };
        let h = |n: u8| Hash32([n; 32]);
        let mut f = FallbackRef {
            header: FallbackHeader {
                kind: FallbackBlockType::FallbackBlock,
                chain_id: h(1),
                origin: PublicKey([2; 32]),
                seq: 3,
                prev_hash: h(4),
                anchor_height: 5,
                anchor_hash: h(6),
                timestamp_ms: 1_700_000_000_000,
                tx_root: h(7),
                tx_count: 9,
            },
            signature: Signature([8; 64]),
            index: 2,
            path: vec![],
        };
        let generic = |b: &BallotTx| canonical_bytes(&Transaction::Ballot(b.clone())).unwrap();
        for path in [vec![], vec![h(10)], vec![h(11), h(12), h(13)]] {
            f.path = path;
            b.fallback = Some(f.clone());
            assert_eq!(ballot_tx_bytes(&b).unwrap(), generic(&b));
        }
        f.header.seq = MAX_SAFE_INTEGER;
        f.index = MAX_SAFE_INTEGER;
        b.fallback = Some(f.clone());
        assert_eq!(ballot_tx_bytes(&b).unwrap(), generic(&b));
        f.header.tx_count = MAX_SAFE_INTEGER + 1;
        b.fallback = Some(f);
        assert_eq!(ballot_tx_bytes(&b), None);
    }
}
