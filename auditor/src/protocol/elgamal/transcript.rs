//! E.2: Fiat-Shamir transcripts and the challenges they give.

use super::*;

/// A Fiat-Shamir transcript (E.2): fields `u32be(len) || bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript(Vec<u8>);

impl Transcript {
    pub fn new(tag: &str) -> Transcript {
        let mut t = Transcript(Vec::with_capacity(480));
        t.field(tag.as_bytes());
        t
    }

    pub fn field(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }

    pub fn int(&mut self, v: u64) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub fn pt(&mut self, enc: &[u8; 32]) -> &mut Self {
        self.field(enc)
    }

    #[cfg(test)]
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// SHA-512 of the transcript as a little-endian integer, modulo ℓ.
    pub fn challenge(&self) -> Scalar {
        let d: [u8; 64] = Sha512::digest(&self.0).into();
        Scalar::from_bytes_mod_order_wide(&d)
    }
}

/// What a ballot's proofs are bound to (E.2, E.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BallotContext {
    pub chain_id: [u8; 32],
    pub election_id: u64,
    pub nullifier: [u8; 32],
    pub origin: [u8; 32],
}

impl BallotContext {
    fn write(&self, t: &mut Transcript) {
        t.field(&self.chain_id)
            .int(self.election_id)
            .field(&self.nullifier)
            .field(&self.origin);
    }
}

/// `T01(i)` (E.2).
pub fn t01(
    ctx: &BallotContext,
    n: usize,
    i: usize,
    h: &[u8; 32],
    ct: &Ciphertext,
    c: [&[u8; 32]; 4],
) -> Transcript {
    let mut t = Transcript::new(TAG_ZERO_ONE);
    ctx.write(&mut t);
    t.int(n as u64)
        .int(i as u64)
        .pt(h)
        .pt(ct.a.as_bytes())
        .pt(ct.b.as_bytes());
    for p in c {
        t.pt(p);
    }
    t
}

/// `Tsum` (E.2).
pub fn tsum<'a>(
    ctx: &BallotContext,
    h: &[u8; 32],
    cts: impl ExactSizeIterator<Item = &'a Ciphertext>,
    u: &[u8; 32],
    v: &[u8; 32],
) -> Transcript {
    let mut t = Transcript::new(TAG_SUM);
    ctx.write(&mut t);
    t.int(cts.len() as u64).pt(h);
    for ct in cts {
        t.pt(ct.a.as_bytes()).pt(ct.b.as_bytes());
    }
    t.pt(u).pt(v);
    t
}

/// `Tpok(i)` (E.2).
pub fn tpok(
    election_id: u64,
    trustees: u32,
    threshold: u32,
    index: u32,
    commitments: &[Point],
    u: &[u8; 32],
) -> Transcript {
    let mut t = Transcript::new(TAG_POK);
    t.int(election_id)
        .int(u64::from(trustees))
        .int(u64::from(threshold))
        .int(u64::from(index));
    for c in commitments {
        t.pt(c.as_bytes());
    }
    t.pt(u);
    t
}

/// `Tdec(j, i)` (E.2).
#[allow(clippy::too_many_arguments)]
pub fn tdec(
    chain_id: &[u8; 32],
    election_id: u64,
    h: &[u8; 32],
    j: u32,
    i: usize,
    ct: &Ciphertext,
    p_j: &[u8; 32],
    d: &[u8; 32],
    u: &[u8; 32],
    v: &[u8; 32],
) -> Transcript {
    let mut t = Transcript::new(TAG_DECRYPTION);
    t.field(chain_id)
        .int(election_id)
        .pt(h)
        .int(u64::from(j))
        .int(i as u64)
        .pt(ct.a.as_bytes())
        .pt(ct.b.as_bytes())
        .pt(p_j)
        .pt(d)
        .pt(u)
        .pt(v);
    t
}
