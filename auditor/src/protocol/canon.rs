//! A direct RFC 8785 (JCS) writer for the closed objects the auditor hashes
//! millions of times (transactions, ballots, headers, statements). Their
//! members are fixed, so they are written in sorted order without building
//! a generic JSON value; the result is byte for byte what
//! `serde_json_canonicalizer` gives (tested below and against the vectors).
//!
//! Only integers up to 2^53 - 1 can be written: a larger one has no exact
//! JCS form, and the rules refuse it before hashing (`integer_too_large`).

use sha2::{Digest, Sha256};

use crate::protocol::{
    Ballot, BallotTx, BlockHeader, EncodingError, Hash32, MAX_SAFE_INTEGER, Vote, VoteKind,
};

struct W(Vec<u8>);

impl W {
    fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
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
        self.hex(h);
    }

    fn hex(&mut self, h: &[u8]) {
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

fn ballot_into(w: &mut W, b: &Ballot) {
    // Members in sorted order: selections (ciphertext {a, b}, proof {c0,
    // u0, u1, v0, v1, z0, z1}), sum_proof {u, v, z}. Points and scalars have
    // one spelling each (E.1), so writing them from their bytes gives the
    // received text.
    w.raw("{\"selections\":[");
    for (i, s) in b.selections.iter().enumerate() {
        if i > 0 {
            w.raw(",");
        }
        w.raw("{\"ciphertext\":{\"a\":");
        w.hex32(s.ciphertext.a.as_bytes());
        w.raw(",\"b\":");
        w.hex32(s.ciphertext.b.as_bytes());
        let p = &s.proof;
        w.raw("},\"proof\":{\"c0\":");
        w.hex32(p.c0.0.as_bytes());
        for (name, point) in [("u0", &p.u0), ("u1", &p.u1), ("v0", &p.v0), ("v1", &p.v1)] {
            w.raw(",\"");
            w.raw(name);
            w.raw("\":");
            w.hex32(point.as_bytes());
        }
        w.raw(",\"z0\":");
        w.hex32(p.z0.0.as_bytes());
        w.raw(",\"z1\":");
        w.hex32(p.z1.0.as_bytes());
        w.raw("}}");
    }
    w.raw("],\"sum_proof\":{\"u\":");
    w.hex32(b.sum_proof.u.as_bytes());
    w.raw(",\"v\":");
    w.hex32(b.sum_proof.v.as_bytes());
    w.raw(",\"z\":");
    w.hex32(b.sum_proof.z.0.as_bytes());
    w.raw("}}");
}

fn ballot_len(b: &Ballot) -> usize {
    64 + 720 * b.selections.len() + 260
}

/// The JCS form of a ballot.
#[cfg(test)]
pub fn ballot_bytes(b: &Ballot) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(ballot_len(b)));
    ballot_into(&mut w, b);
    w.0
}

/// `ballot_hash = H(ballot)`.
pub fn ballot_hash(b: &Ballot) -> Hash32 {
    let mut w = W(Vec::with_capacity(ballot_len(b)));
    ballot_into(&mut w, b);
    w.digest()
}

/// A ballot transaction without a fallback reference (a copy, rare, goes
/// through the generic canonicaliser).
fn tx_into(w: &mut W, t: &BallotTx) -> Result<(), EncodingError> {
    // Members in sorted order: ballot, ballot_hash, chain_id,
    // credential_signature, election_id, nullifier, origin,
    // submitted_at_ms, type.
    w.raw("{\"ballot\":");
    ballot_into(w, &t.ballot);
    w.raw(",\"ballot_hash\":");
    w.hex32(&t.ballot_hash.0);
    w.raw(",\"chain_id\":");
    w.hex32(&t.chain_id.0);
    w.raw(",\"credential_signature\":");
    w.hex(&t.credential_signature.0);
    w.raw(",\"election_id\":");
    w.uint(t.election_id)?;
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
#[cfg(test)]
pub fn tx_bytes(t: &BallotTx) -> Result<Vec<u8>, EncodingError> {
    let mut w = W(Vec::with_capacity(ballot_len(&t.ballot) + 512));
    tx_into(&mut w, t)?;
    Ok(w.0)
}

/// `tx_hash = H(tx)` of a ballot transaction.
pub fn tx_hash(t: &BallotTx) -> Result<Hash32, EncodingError> {
    if t.fallback.is_some() {
        return crate::protocol::hash_of(&crate::protocol::Transaction::Ballot(t.clone()));
    }
    let mut w = W(Vec::with_capacity(ballot_len(&t.ballot) + 512));
    tx_into(&mut w, t)?;
    Ok(w.digest())
}

/// `tx_hash = H(tx)` of any transaction (a ballot by the direct writer,
/// anything else by the generic canonicaliser).
pub fn any_tx_hash(t: &crate::protocol::Transaction) -> Result<Hash32, EncodingError> {
    match t {
        crate::protocol::Transaction::Ballot(b) => tx_hash(b),
        other => crate::protocol::hash_of(other),
    }
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
#[cfg(test)]
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
#[cfg(test)]
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
    use crate::protocol::elgamal::{BallotContext, ElectionKey, prove};
    use crate::protocol::{PublicKey, Signature, Transaction, canonical_bytes};

    fn tx(n: u64) -> BallotTx {
        let (trustees, _) = prove::ceremony(1, 1, 1, b"canon");
        let key = ElectionKey::from_round1(1, &trustees).unwrap();
        let ctx = BallotContext {
            chain_id: [1; 32],
            election_id: n,
            nullifier: [0xab; 32],
            origin: [0xfe; 32],
        };
        let ballot = prove::Encryptor::new(key.public_key).ballot(&ctx, 1, 3, b"seed");
        BallotTx {
            chain_id: Hash32([1; 32]),
            election_id: n,
            nullifier: Hash32([0xab; 32]),
            ballot,
            ballot_hash: Hash32([3; 32]),
            credential_signature: Signature([0x5a; 64]),
            submitted_at_ms: MAX_SAFE_INTEGER - n,
            origin: PublicKey([0xfe; 32]),
            fallback: None,
        }
    }

    #[test]
    fn same_bytes_as_the_generic_canonicalizer() {
        for n in [0, 1, 1_000_003] {
            let t = tx(n);
            let generic = canonical_bytes(&Transaction::Ballot(t.clone())).unwrap();
            assert_eq!(tx_bytes(&t).unwrap(), generic);
            assert_eq!(ballot_bytes(&t.ballot), canonical_bytes(&t.ballot).unwrap());
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
        let mut t = tx(1);
        t.election_id = MAX_SAFE_INTEGER + 1;
        assert!(tx_hash(&t).is_err());
    }
}
