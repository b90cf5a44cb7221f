//! A direct RFC 8785 (JCS) writer for the closed objects the auditor hashes
//! millions of times (transactions, ballots, headers, statements). Their
//! members are fixed, so they are written in sorted order without building
//! a generic JSON value; the result is byte for byte what
//! `serde_json_canonicalizer` gives (tested below and against the vectors).
//!
//! Only integers up to 2^53 - 1 can be written: a larger one has no exact
//! JCS form, and the rules refuse it before hashing (`integer_too_large`).

use sha2::{Digest, Sha256};

use crate::wire::{
    Ballot, BallotTx, BlockHeader, EncodingError, Hash32, MAX_SAFE_INTEGER, Vote, VoteKind,
};

struct W(Vec<u8>);

impl W {
    fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    /// A JSON string as RFC 8785 §3.2.2.2 writes it.
    fn string(&mut self, s: &str) {
        self.0.push(b'"');
        for &b in s.as_bytes() {
            match b {
                b'"' => self.0.extend_from_slice(b"\\\""),
                b'\\' => self.0.extend_from_slice(b"\\\\"),
                0x08 => self.0.extend_from_slice(b"\\b"),
                0x09 => self.0.extend_from_slice(b"\\t"),
                0x0a => self.0.extend_from_slice(b"\\n"),
                0x0c => self.0.extend_from_slice(b"\\f"),
                0x0d => self.0.extend_from_slice(b"\\r"),
                0x00..=0x1f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    self.0.extend_from_slice(b"\\u00");
                    self.0.push(HEX[(b >> 4) as usize]);
                    self.0.push(HEX[(b & 15) as usize]);
                }
                _ => self.0.push(b),
            }
        }
        self.0.push(b'"');
    }

    fn uint(&mut self, v: u64) -> Result<(), EncodingError> {
        if v > MAX_SAFE_INTEGER {
            return Err(EncodingError(format!(
                "{v} is above 2^53 - 1 and has no exact canonical form"
            )));
        }
        let mut buf = itoa_buf(v);
        self.0.append(&mut buf);
        Ok(())
    }

    fn hex32(&mut self, h: &[u8; 32]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.0.extend_from_slice(b"\"0x");
        for &b in h {
            self.0.push(HEX[(b >> 4) as usize]);
            self.0.push(HEX[(b & 15) as usize]);
        }
        self.0.push(b'"');
    }

    fn digest(self) -> Hash32 {
        Hash32(Sha256::digest(&self.0).into())
    }
}

fn itoa_buf(mut v: u64) -> Vec<u8> {
    if v == 0 {
        return vec![b'0'];
    }
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    while v > 0 {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    tmp[i..].to_vec()
}

fn ballot_into(w: &mut W, b: &Ballot) -> Result<(), EncodingError> {
    w.raw("{\"candidate_id\":");
    w.uint(b.candidate_id)?;
    w.raw(",\"encrypted_vote\":");
    w.string(&b.encrypted_vote);
    w.raw("}");
    Ok(())
}

/// The JCS form of a ballot.
pub fn ballot_bytes(b: &Ballot) -> Result<Vec<u8>, EncodingError> {
    let mut w = W(Vec::with_capacity(64 + b.encrypted_vote.len()));
    ballot_into(&mut w, b)?;
    Ok(w.0)
}

/// `ballot_hash = H(ballot)`.
pub fn ballot_hash(b: &Ballot) -> Result<Hash32, EncodingError> {
    let mut w = W(Vec::with_capacity(64 + b.encrypted_vote.len()));
    ballot_into(&mut w, b)?;
    Ok(w.digest())
}

fn tx_into(w: &mut W, t: &BallotTx) -> Result<(), EncodingError> {
    // Members in sorted order: ballot, ballot_hash, chain_id, election_id,
    // fallback, nullifier, origin, submitted_at_ms, type.
    w.raw("{\"ballot\":");
    ballot_into(w, &t.ballot)?;
    w.raw(",\"ballot_hash\":");
    w.hex32(&t.ballot_hash.0);
    w.raw(",\"chain_id\":");
    w.hex32(&t.chain_id.0);
    w.raw(",\"election_id\":");
    w.uint(t.election_id)?;
    if let Some(f) = &t.fallback {
        w.raw(",\"fallback\":{\"block_hash\":");
        w.hex32(&f.block_hash.0);
        w.raw(",\"origin\":");
        w.hex32(&f.origin.0);
        w.raw("}");
    }
    w.raw(",\"nullifier\":");
    w.hex32(&t.nullifier.0);
    w.raw(",\"origin\":");
    w.hex32(&t.origin.0);
    w.raw(",\"submitted_at_ms\":");
    w.uint(t.submitted_at_ms)?;
    w.raw(",\"type\":\"ballot\"}");
    Ok(())
}

/// The JCS form of a ballot transaction.
pub fn tx_bytes(t: &BallotTx) -> Result<Vec<u8>, EncodingError> {
    let mut w = W(Vec::with_capacity(512 + t.ballot.encrypted_vote.len()));
    tx_into(&mut w, t)?;
    Ok(w.0)
}

/// `tx_hash = H(tx)`.
pub fn tx_hash(t: &BallotTx) -> Result<Hash32, EncodingError> {
    let mut w = W(Vec::with_capacity(512 + t.ballot.encrypted_vote.len()));
    tx_into(&mut w, t)?;
    Ok(w.digest())
}

fn header_into(w: &mut W, h: &BlockHeader) -> Result<(), EncodingError> {
    // PROTOCOL.md §5: the block hash covers the header without `round` and
    // `proposer` (a block re-proposed in a later round keeps its hash).
    w.raw("{\"chain_id\":");
    w.hex32(&h.chain_id.0);
    w.raw(",\"height\":");
    w.uint(h.height)?;
    w.raw(",\"prev_hash\":");
    w.hex32(&h.prev_hash.0);
    w.raw(",\"timestamp_ms\":");
    w.uint(h.timestamp_ms)?;
    w.raw(",\"tx_count\":");
    w.uint(h.tx_count)?;
    w.raw(",\"tx_root\":");
    w.hex32(&h.tx_root.0);
    w.raw("}");
    Ok(())
}

/// The JCS form a block hash is taken over: the header without `round`
/// and `proposer`.
pub fn header_bytes(h: &BlockHeader) -> Result<Vec<u8>, EncodingError> {
    let mut w = W(Vec::with_capacity(400));
    header_into(&mut w, h)?;
    Ok(w.0)
}

/// `block_hash = H(header without round and proposer)`.
pub fn header_hash(h: &BlockHeader) -> Result<Hash32, EncodingError> {
    let mut w = W(Vec::with_capacity(400));
    header_into(&mut w, h)?;
    Ok(w.digest())
}

fn vote_into(w: &mut W, v: &Vote) -> Result<(), EncodingError> {
    w.raw("{\"block_hash\":");
    w.hex32(&v.block_hash.0);
    w.raw(",\"chain_id\":");
    w.hex32(&v.chain_id.0);
    w.raw(",\"height\":");
    w.uint(v.height)?;
    w.raw(",\"round\":");
    w.uint(v.round)?;
    w.raw(match v.kind {
        VoteKind::Proposal => ",\"type\":\"proposal\"}",
        VoteKind::Prepare => ",\"type\":\"prepare\"}",
        VoteKind::Commit => ",\"type\":\"commit\"}",
    });
    Ok(())
}

/// The JCS form of a block statement.
pub fn vote_bytes(v: &Vote) -> Result<Vec<u8>, EncodingError> {
    let mut w = W(Vec::with_capacity(256));
    vote_into(&mut w, v)?;
    Ok(w.0)
}

/// The digest a proposer or a committing validator signs.
pub fn vote_hash(v: &Vote) -> Result<Hash32, EncodingError> {
    let mut w = W(Vec::with_capacity(256));
    vote_into(&mut w, v)?;
    Ok(w.digest())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{FallbackRef, PublicKey, TxKind, canonical_bytes};

    fn tx(vote: &str, fallback: bool, n: u64) -> BallotTx {
        BallotTx {
            kind: TxKind::Ballot,
            chain_id: Hash32([1; 32]),
            election_id: n,
            nullifier: Hash32([0xab; 32]),
            ballot: Ballot {
                candidate_id: n.wrapping_mul(7) % MAX_SAFE_INTEGER,
                encrypted_vote: vote.into(),
            },
            ballot_hash: Hash32([3; 32]),
            submitted_at_ms: MAX_SAFE_INTEGER - n,
            origin: PublicKey([0xfe; 32]),
            fallback: fallback.then_some(FallbackRef {
                origin: PublicKey([9; 32]),
                block_hash: Hash32([8; 32]),
            }),
        }
    }

    #[test]
    fn same_bytes_as_the_generic_canonicalizer() {
        let strings = [
            "",
            "plain base64+/=",
            "quote \" backslash \\ slash /",
            "controls \u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f}",
            "unicode é € 😀 \u{2028}\u{2029} \u{fb33}",
        ];
        for (i, s) in strings.iter().enumerate() {
            for fb in [false, true] {
                let t = tx(s, fb, i as u64 * 1_000_003);
                assert_eq!(tx_bytes(&t).unwrap(), canonical_bytes(&t).unwrap(), "{s:?}");
                assert_eq!(
                    ballot_bytes(&t.ballot).unwrap(),
                    canonical_bytes(&t.ballot).unwrap()
                );
            }
        }
        let h = BlockHeader {
            chain_id: Hash32([1; 32]),
            height: 0,
            round: MAX_SAFE_INTEGER,
            prev_hash: Hash32([2; 32]),
            timestamp_ms: 1_767_250_800_000,
            proposer: PublicKey([3; 32]),
            tx_root: Hash32([4; 32]),
            tx_count: 10,
        };
        let mut hashed = serde_json::to_value(&h).unwrap();
        let obj = hashed.as_object_mut().unwrap();
        obj.remove("round");
        obj.remove("proposer");
        assert_eq!(header_bytes(&h).unwrap(), canonical_bytes(&hashed).unwrap());
        let mut later = h.clone();
        later.round = 3;
        later.proposer = PublicKey([9; 32]);
        assert_eq!(header_hash(&h).unwrap(), header_hash(&later).unwrap());
        for kind in [VoteKind::Proposal, VoteKind::Prepare, VoteKind::Commit] {
            let v = Vote::about(kind, &h, Hash32([5; 32]));
            assert_eq!(vote_bytes(&v).unwrap(), canonical_bytes(&v).unwrap());
        }
    }

    #[test]
    fn refuses_integers_without_an_exact_form() {
        let mut t = tx("x", false, 1);
        t.election_id = MAX_SAFE_INTEGER + 1;
        assert!(tx_hash(&t).is_err());
    }
}
