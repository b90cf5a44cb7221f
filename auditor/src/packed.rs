//! Packed ballot transactions, as an appliance database (schema version 4
//! and later) stores committed ballots: read from schema/STORAGE.md, not
//! from the appliance's code. [`to_json`] gives back the transaction's
//! JSON, which the audit then checks like any other; [`pack`] writes the
//! layout for the auditor's synthetic databases.

use crate::canon;
use crate::elgamal::{Ciphertext, EncryptedBallot, Point, Sc, Selection, SumProof, ZeroOneProof};
use crate::wire::{BallotTx, FallbackRef, Hash32, PublicKey, Signature, SignedTx, Transaction};

/// The format byte of a packed ballot transaction.
const BALLOT_V1: u8 = 1;

/// What a packed body leaves to its row (`nullifier`, `origin`) and to
/// its database (the chain id).
pub struct Row<'a> {
    pub chain_id: Hash32,
    pub nullifier: Option<&'a [u8]>,
    pub origin: &'a [u8],
}

/// The signed transaction a packed body holds, as JSON text; why not.
pub fn to_json(bytes: &[u8], row: &Row<'_>) -> Result<String, String> {
    let stx = unpack(bytes, row)?;
    serde_json::to_string(&stx).map_err(|e| e.to_string())
}

fn fixed<const N: usize>(what: &str, b: Option<&[u8]>) -> Result<[u8; N], String> {
    b.and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or_else(|| format!("the row's {what} is not {N} bytes"))
}

fn unpack(bytes: &[u8], row: &Row<'_>) -> Result<SignedTx, String> {
    let mut r = Cursor { bytes, at: 0 };
    let format = r.take::<1>()?[0];
    if format != BALLOT_V1 {
        return Err(format!("packed body of unknown format {format}"));
    }
    let election_id = u64::from_be_bytes(r.take()?);
    let submitted_at_ms = u64::from_be_bytes(r.take()?);
    let fallback = match r.take::<1>()?[0] {
        0 => None,
        1 => Some(FallbackRef {
            origin: PublicKey(r.take()?),
            block_hash: Hash32(r.take()?),
        }),
        f => return Err(format!("packed body with unknown flags {f}")),
    };
    let n = u16::from_be_bytes(r.take()?);
    let mut selections = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let ciphertext = Ciphertext {
            a: r.point()?,
            b: r.point()?,
        };
        let (u0, v0, u1, v1) = (r.point()?, r.point()?, r.point()?, r.point()?);
        let proof = ZeroOneProof {
            u0,
            v0,
            u1,
            v1,
            c0: r.scalar()?,
            z0: r.scalar()?,
            z1: r.scalar()?,
        };
        selections.push(Selection { ciphertext, proof });
    }
    let sum_proof = SumProof {
        u: r.point()?,
        v: r.point()?,
        z: r.scalar()?,
    };
    let signature = Signature(r.take()?);
    if r.at != bytes.len() {
        return Err(format!(
            "{} bytes after the packed body",
            bytes.len() - r.at
        ));
    }
    let ballot = EncryptedBallot {
        selections,
        sum_proof,
    };
    let tx = BallotTx {
        chain_id: row.chain_id,
        election_id,
        nullifier: Hash32(fixed("nullifier", row.nullifier)?),
        ballot_hash: canon::ballot_hash(&ballot),
        ballot,
        submitted_at_ms,
        origin: PublicKey(fixed("origin", Some(row.origin))?),
        fallback,
    };
    Ok(SignedTx {
        tx: Transaction::Ballot(tx),
        signature,
    })
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let b = self
            .bytes
            .get(self.at..self.at + N)
            .ok_or("packed body cut short")?;
        self.at += N;
        Ok(b.try_into().expect("N bytes"))
    }

    fn point(&mut self) -> Result<Point, String> {
        Point::from_bytes(self.take()?)
    }

    fn scalar(&mut self) -> Result<Sc, String> {
        Sc::from_bytes(self.take()?)
    }
}

/// The packed body of a ballot transaction (for synthetic databases), or
/// `None` for anything an appliance stores as JSON.
pub fn pack(stx: &SignedTx) -> Option<Vec<u8>> {
    let Transaction::Ballot(b) = &stx.tx else {
        return None;
    };
    let n = u16::try_from(b.ballot.selections.len()).ok()?;
    let mut out = vec![BALLOT_V1];
    out.extend_from_slice(&b.election_id.to_be_bytes());
    out.extend_from_slice(&b.submitted_at_ms.to_be_bytes());
    match &b.fallback {
        Some(f) => {
            out.push(1);
            out.extend_from_slice(f.origin.as_bytes());
            out.extend_from_slice(f.block_hash.as_bytes());
        }
        None => out.push(0),
    }
    out.extend_from_slice(&n.to_be_bytes());
    for s in &b.ballot.selections {
        let p = &s.proof;
        for pt in [&s.ciphertext.a, &s.ciphertext.b, &p.u0, &p.v0, &p.u1, &p.v1] {
            out.extend_from_slice(pt.as_bytes());
        }
        for x in [&p.c0, &p.z0, &p.z1] {
            out.extend_from_slice(x.0.as_bytes());
        }
    }
    let sp = &b.ballot.sum_proof;
    out.extend_from_slice(sp.u.as_bytes());
    out.extend_from_slice(sp.v.as_bytes());
    out.extend_from_slice(sp.z.0.as_bytes());
    out.extend_from_slice(stx.signature.as_bytes());
    Some(out)
}
