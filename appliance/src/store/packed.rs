//! Committed ballot transactions as the `transactions` table stores them:
//! packed bytes instead of JSON text (schema/STORAGE.md). The hex of a
//! ballot's 30 points and scalars doubles their size in JSON and the member
//! names repeat: a 3-candidate ballot transaction is about 2,870 bytes of
//! JSON and 1,044 packed. What the row's own columns hold (nullifier,
//! origin) and the database's chain id are left out, and `ballot_hash` is
//! computed again when reading. Anything else (decryption shares, the other
//! records, a ballot with a fallback reference or with an integer beyond
//! 2^53) stays JSON text.

use super::{Result, StoreError};
use crate::ledger::canonical::MAX_SAFE_INTEGER;
use crate::ledger::elgamal::{
    Ciphertext, EncryptedBallot, Point, PublicScalar, Selection, SumProof, ZeroOneProof,
};
use crate::ledger::tx::ballot_hash;
use crate::ledger::{BallotTx, Hash32, PublicKey, Signature, SignedTx, Transaction};

/// The first byte of a packed ballot transaction (format 2, protocol
/// evote/3: with the credential's signature, without a fallback reference).
pub const BALLOT_V2: u8 = 2;
/// Bytes of one packed selection: six points and three scalars.
const SELECTION_LEN: usize = 9 * 32;

/// The packed form of a ballot transaction, or `None` for anything that
/// stays JSON.
pub fn pack(stx: &SignedTx) -> Option<Vec<u8>> {
    let Transaction::Ballot(b) = &stx.tx else {
        return None;
    };
    if b.election_id > MAX_SAFE_INTEGER
        || b.submitted_at_ms > MAX_SAFE_INTEGER
        || b.fallback.is_some()
        || b.ballot.selections.len() > usize::from(u16::MAX)
    {
        return None;
    }
    let n = b.ballot.selections.len();
    let mut out = Vec::with_capacity(19 + n * SELECTION_LEN + 96 + 64 + 64);
    out.push(BALLOT_V2);
    out.extend_from_slice(&b.election_id.to_be_bytes());
    out.extend_from_slice(&b.submitted_at_ms.to_be_bytes());
    out.extend_from_slice(&(n as u16).to_be_bytes());
    for s in &b.ballot.selections {
        let (ct, p) = (&s.ciphertext, &s.proof);
        for point in [&ct.a, &ct.b, &p.u0, &p.v0, &p.u1, &p.v1] {
            out.extend_from_slice(point.as_bytes());
        }
        for x in [&p.c0, &p.z0, &p.z1] {
            out.extend_from_slice(x.0.as_bytes());
        }
    }
    let sp = &b.ballot.sum_proof;
    out.extend_from_slice(sp.u.as_bytes());
    out.extend_from_slice(sp.v.as_bytes());
    out.extend_from_slice(sp.z.0.as_bytes());
    out.extend_from_slice(b.credential_signature.as_bytes());
    out.extend_from_slice(stx.signature.as_bytes());
    Some(out)
}

/// What a packed body leaves to its row and its database.
pub struct RowFields {
    pub chain_id: Hash32,
    pub nullifier: Hash32,
    pub origin: PublicKey,
}

/// Reads packed bytes back into the transaction they were made from.
pub fn unpack(bytes: &[u8], row: &RowFields) -> Result<SignedTx> {
    let mut r = Reader { bytes, at: 0 };
    if r.take::<1>()? != [BALLOT_V2] {
        return Err(corrupt(
            "a packed body of another format (format 1 was written by protocol evote/2)",
        ));
    }
    let election_id = u64::from_be_bytes(r.take()?);
    let submitted_at_ms = u64::from_be_bytes(r.take()?);
    let n = usize::from(u16::from_be_bytes(r.take()?));
    let mut selections = Vec::with_capacity(n);
    for _ in 0..n {
        let [a, b, u0, v0, u1, v1] = [(); 6].map(|_| r.point());
        let [c0, z0, z1] = [(); 3].map(|_| r.scalar());
        selections.push(Selection {
            ciphertext: Ciphertext { a: a?, b: b? },
            proof: ZeroOneProof {
                u0: u0?,
                v0: v0?,
                u1: u1?,
                v1: v1?,
                c0: c0?,
                z0: z0?,
                z1: z1?,
            },
        });
    }
    let sum_proof = SumProof {
        u: r.point()?,
        v: r.point()?,
        z: r.scalar()?,
    };
    let credential_signature = Signature(r.take()?);
    let signature = Signature(r.take()?);
    if r.at != bytes.len() {
        return Err(corrupt("a packed body with trailing bytes"));
    }
    let ballot = EncryptedBallot {
        selections,
        sum_proof,
    };
    let tx = BallotTx {
        chain_id: row.chain_id,
        election_id,
        nullifier: row.nullifier,
        ballot_hash: ballot_hash(&ballot),
        ballot,
        credential_signature,
        submitted_at_ms,
        origin: row.origin,
        fallback: None,
    };
    Ok(SignedTx {
        tx: Transaction::Ballot(tx),
        signature,
    })
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("transactions.body: {what}"))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let end = self.at + N;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| corrupt("a packed body cut short"))?;
        self.at = end;
        Ok(slice.try_into().expect("N bytes"))
    }

    /// Decoded when a check uses it, as a point received in JSON is.
    fn point(&mut self) -> Result<Point> {
        self.take().map(Point::received)
    }

    fn scalar(&mut self) -> Result<PublicScalar> {
        let bytes = self.take::<32>()?;
        PublicScalar::from_canonical(bytes).ok_or_else(|| corrupt("a non-canonical scalar"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::genesis::fixtures::genesis;
    use crate::ledger::tx::fixtures::ballot;

    fn row_of(stx: &SignedTx) -> RowFields {
        let Transaction::Ballot(b) = &stx.tx else {
            unreachable!("a ballot")
        };
        RowFields {
            chain_id: b.chain_id,
            nullifier: b.nullifier,
            origin: b.origin,
        }
    }

    #[test]
    fn a_ballot_transaction_comes_back_as_it_went_in() {
        let g = genesis(3);
        let stx = ballot(&g, 1, 7, 2);
        let packed = pack(&stx).unwrap();
        assert_eq!(
            packed.len(),
            1 + 8 + 8 + 2 + 3 * SELECTION_LEN + 96 + 64 + 64
        );
        let json = serde_json::to_string(&stx).unwrap().len();
        assert!(
            packed.len() * 2 < json,
            "{} packed, {json} as JSON",
            packed.len()
        );
        let back = unpack(&packed, &row_of(&stx)).unwrap();
        assert_eq!(back, stx);
        assert_eq!(back.hash().unwrap(), stx.hash().unwrap());
    }

    #[test]
    fn damaged_bytes_are_refused_not_misread() {
        let g = genesis(3);
        let stx = ballot(&g, 1, 7, 2);
        let packed = pack(&stx).unwrap();
        let row = row_of(&stx);
        for bad in [
            packed[..packed.len() - 1].to_vec(),
            [packed.clone(), vec![0]].concat(),
            // format 1 (evote/2) and an unknown format
            [vec![1], packed[1..].to_vec()].concat(),
            [vec![3], packed[1..].to_vec()].concat(),
            {
                // The first selection's c0 set to the group order ℓ.
                let mut p = packed.clone();
                let c0 = 19 + 6 * 32;
                p[c0..c0 + 32].copy_from_slice(&[
                    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde,
                    0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
                ]);
                p
            },
        ] {
            assert!(matches!(unpack(&bad, &row), Err(StoreError::Corrupt(_))));
        }
        // A changed byte inside a point reads back, but as another ballot:
        // its hash no longer matches the block's transaction root.
        let mut p = packed;
        p[30] ^= 1;
        let changed = unpack(&p, &row).unwrap();
        assert_ne!(changed.hash().unwrap(), stx.hash().unwrap());
    }
}
