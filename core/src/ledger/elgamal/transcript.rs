//! Fiat–Shamir transcripts.
//!
//! A transcript is a sequence of fields; each field is written as its
//! length in bytes (4 bytes, big-endian) followed by its bytes. The first
//! field is an ASCII protocol tag. Integers are 8-byte big-endian fields,
//! group elements their 32-byte canonical encoding, hashes and keys their
//! 32 bytes. The challenge is SHA-512 of the concatenation, read as a
//! 512-bit little-endian integer and reduced modulo the group order ℓ.
//!
//! Length-prefixing every field makes the encoding injective whatever the
//! field contents, so two different statements never share a transcript.

use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};

use super::encoding::Point;

/// Tag of the 0/1 (disjunctive Chaum–Pedersen) proof of one ciphertext.
pub const TAG_ZERO_ONE: &str = "evote/v1/ballot-01";
/// Tag of the proof that a ballot's ciphertexts sum to an encryption of 1.
pub const TAG_SUM: &str = "evote/v1/ballot-sum";
/// Tag of a trustee's partial-decryption (Chaum–Pedersen) proof.
pub const TAG_DECRYPTION: &str = "evote/v1/decryption-share";
/// Tag of a dealer's Schnorr proof of knowledge of its constant term.
pub const TAG_DKG_POK: &str = "evote/v1/dkg-pok";

/// A transcript being written. Kept as bytes (not streamed into the hash)
/// so the test vectors can publish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    bytes: Vec<u8>,
}

impl Transcript {
    /// A transcript whose first field is `tag`.
    pub fn new(tag: &str) -> Self {
        let mut t = Self {
            bytes: Vec::with_capacity(512),
        };
        t.field(tag.as_bytes());
        t
    }

    /// Appends one field: 4-byte big-endian length, then the bytes.
    pub fn field(&mut self, data: &[u8]) -> &mut Self {
        let len = u32::try_from(data.len()).expect("transcript fields are small");
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(data);
        self
    }

    /// An integer, as an 8-byte big-endian field.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    /// A group element, as its 32-byte canonical encoding.
    pub fn point(&mut self, p: &Point) -> &mut Self {
        self.field(p.as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-512 of the transcript, reduced modulo ℓ.
    pub fn challenge(&self) -> Scalar {
        challenge_of(&self.bytes)
    }
}

/// The challenge of a finished transcript's bytes.
pub fn challenge_of(bytes: &[u8]) -> Scalar {
    let digest: [u8; 64] = Sha512::digest(bytes).into();
    Scalar::from_bytes_mod_order_wide(&digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_length_prefixed() {
        let mut t = Transcript::new("ab");
        t.u64(1).field(b"");
        assert_eq!(
            t.as_bytes(),
            &[
                0, 0, 0, 2, b'a', b'b', 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0
            ]
        );
        // Moving a byte between fields changes the transcript.
        let mut a = Transcript::new("t");
        a.field(b"xy").field(b"z");
        let mut b = Transcript::new("t");
        b.field(b"x").field(b"yz");
        assert_ne!(a.challenge(), b.challenge());
    }
}
