//! Packed ballot transactions, as an appliance database (schema version 8
//! and later, protocol evote/3: format 2) stores committed ballots: read
//! from schema/STORAGE.md, not from the appliance's code. [`to_json`] gives back the transaction's
//! JSON, which the audit then checks like any other; [`pack`] writes the
//! layout for the auditor's synthetic databases.

use sha2::{Digest, Sha256};

use crate::protocol::Hash32;
#[cfg(any(test, feature = "test-support"))]
use crate::protocol::{SignedTx, Transaction};

/// The format byte of a packed ballot transaction (format 2).
const BALLOT_V2: u8 = 2;

/// What a packed body leaves to its row (`nullifier`, `origin`) and to
/// its database (the chain id).
pub struct Row<'a> {
    pub chain_id: Hash32,
    pub nullifier: Option<&'a [u8]>,
    pub origin: &'a [u8],
}

/// The signed transaction a packed body holds, as JSON text (the ballot
/// and the transaction in canonical form), or why it cannot be read.
///
/// Written from the bytes without decoding a point: the audit parses the
/// text and decodes every point once, when it checks the ballot.
pub fn to_json(bytes: &[u8], row: &Row<'_>) -> Result<String, String> {
    let nullifier: [u8; 32] = fixed("nullifier", row.nullifier)?;
    let origin: [u8; 32] = fixed("origin", Some(row.origin))?;
    let mut r = Cursor { bytes, at: 0 };
    let format = r.take::<1>()?[0];
    if format != BALLOT_V2 {
        return Err(format!("packed body of unknown format {format}"));
    }
    let election_id = u64::from_be_bytes(r.take()?);
    let submitted_at_ms = u64::from_be_bytes(r.take()?);
    let n = u16::from_be_bytes(r.take()?);
    // The ballot in canonical form (members in sorted order).
    let mut ballot = Json(String::with_capacity(64 + 720 * usize::from(n)));
    ballot.raw("{\"selections\":[");
    for i in 0..n {
        if i > 0 {
            ballot.raw(",");
        }
        let [a, b, u0, v0, u1, v1, c0, z0, z1] = [(); 9].map(|_| r.take::<32>());
        ballot.hex("{\"ciphertext\":{\"a\":", &a?);
        ballot.hex(",\"b\":", &b?);
        ballot.hex("},\"proof\":{\"c0\":", &c0?);
        ballot.hex(",\"u0\":", &u0?);
        ballot.hex(",\"u1\":", &u1?);
        ballot.hex(",\"v0\":", &v0?);
        ballot.hex(",\"v1\":", &v1?);
        ballot.hex(",\"z0\":", &z0?);
        ballot.hex(",\"z1\":", &z1?);
        ballot.raw("}}");
    }
    ballot.hex("],\"sum_proof\":{\"u\":", &r.take::<32>()?);
    ballot.hex(",\"v\":", &r.take::<32>()?);
    ballot.hex(",\"z\":", &r.take::<32>()?);
    ballot.raw("}}");
    let credential_signature = r.take::<64>()?;
    let signature = r.take::<64>()?;
    if r.at != bytes.len() {
        return Err(format!(
            "{} bytes after the packed body",
            bytes.len() - r.at
        ));
    }
    let ballot_hash: [u8; 32] = Sha256::digest(ballot.0.as_bytes()).into();
    let mut out = Json(String::with_capacity(ballot.0.len() + 600));
    out.hex("{\"signature\":", &signature);
    out.raw(",\"tx\":{\"ballot\":");
    out.raw(&ballot.0);
    out.hex(",\"ballot_hash\":", &ballot_hash);
    out.hex(",\"chain_id\":", row.chain_id.as_bytes());
    out.hex(",\"credential_signature\":", &credential_signature);
    out.raw(&format!(",\"election_id\":{election_id}"));
    out.hex(",\"nullifier\":", &nullifier);
    out.hex(",\"origin\":", &origin);
    out.raw(&format!(
        ",\"submitted_at_ms\":{submitted_at_ms},\"type\":\"ballot\"}}}}"
    ));
    Ok(out.0)
}

struct Json(String);

impl Json {
    fn raw(&mut self, s: &str) {
        self.0.push_str(s);
    }

    /// `prefix` then the bytes as a `0x` hex string.
    fn hex(&mut self, prefix: &str, bytes: &[u8]) {
        self.0.push_str(prefix);
        self.0.push_str("\"0x");
        self.0.push_str(&hex::encode(bytes));
        self.0.push('"');
    }
}

fn fixed<const N: usize>(what: &str, b: Option<&[u8]>) -> Result<[u8; N], String> {
    b.and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or_else(|| format!("the row's {what} is not {N} bytes"))
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
}

/// The packed body of a ballot transaction (for synthetic databases), or
/// `None` for anything an appliance stores as JSON.
#[cfg(any(test, feature = "test-support"))]
pub fn pack(stx: &SignedTx) -> Option<Vec<u8>> {
    let Transaction::Ballot(b) = &stx.tx else {
        return None;
    };
    if b.fallback.is_some() {
        return None;
    }
    let n = u16::try_from(b.ballot.selections.len()).ok()?;
    let mut out = vec![BALLOT_V2];
    out.extend_from_slice(&b.election_id.to_be_bytes());
    out.extend_from_slice(&b.submitted_at_ms.to_be_bytes());
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
    out.extend_from_slice(b.credential_signature.as_bytes());
    out.extend_from_slice(stx.signature.as_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{SynthChain, SynthSpec};

    #[test]
    fn unpacks_to_the_transaction_that_was_packed() {
        let c = SynthChain::new(&SynthSpec::default());
        let blocks = c.blocks(6, 3, 1);
        let mut seen = 0;
        for stx in blocks.iter().flat_map(|b| &b.txs) {
            let Transaction::Ballot(b) = &stx.tx else {
                continue;
            };
            let packed = pack(stx).unwrap();
            let row = Row {
                chain_id: c.chain_id,
                nullifier: Some(b.nullifier.as_bytes()),
                origin: b.origin.as_bytes(),
            };
            let text = to_json(&packed, &row).unwrap();
            let back: SignedTx = serde_json::from_str(&text).unwrap();
            assert_eq!(back, *stx);
            assert!(to_json(&packed[..packed.len() - 1], &row).is_err());
            assert!(to_json(&[packed.clone(), vec![0]].concat(), &row).is_err());
            seen += 1;
        }
        assert_eq!(seen, 6);
    }
}
