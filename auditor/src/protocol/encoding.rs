//! PROTOCOL.md §1 and §2: strict lowercase `0x` hex, the byte strings it
//! carries (hashes, keys, signatures), the SHA-256 over the RFC 8785 (JCS)
//! canonical form that every object is known by, and Ed25519 verification.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The largest integer a hashed or signed object may hold (2^53 - 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a hex string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("expected a 0x-prefixed hex string")]
    MissingPrefix,
    #[error("expected {expected} hex digits, found {found}")]
    WrongLength { expected: usize, found: usize },
    #[error("hex digits must be lowercase 0-9a-f")]
    BadDigit,
}

/// Decodes `0x` + exactly `2 * N` lowercase hex digits (§1 "Bytes").
pub fn decode_fixed<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let digits = s.strip_prefix("0x").ok_or(HexError::MissingPrefix)?;
    if digits.len() != 2 * N {
        return Err(HexError::WrongLength {
            expected: 2 * N,
            found: digits.len(),
        });
    }
    if !digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(HexError::BadDigit);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).map_err(|_| HexError::BadDigit)?;
    Ok(out)
}

macro_rules! hex_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn to_hex(self) -> String {
                format!("0x{}", hex::encode(self.0))
            }

            /// The first 8 hex digits, for tables.
            #[allow(dead_code)] // not every byte string is shown short
            pub fn short(&self) -> String {
                format!("0x{}…", hex::encode(&self.0[..4]))
            }

            pub fn parse(s: &str) -> Result<Self, HexError> {
                decode_fixed::<$len>(s).map(Self)
            }

            /// From raw bytes of exactly the right length.
            #[allow(dead_code)] // not every byte string is read from a column
            pub fn from_slice(b: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(b).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_bytes!(
    /// A SHA-256 digest (block and transaction hashes, the chain id) or a nullifier.
    Hash32,
    32
);
hex_bytes!(
    /// An Ed25519 public key, which is also an appliance's id.
    PublicKey,
    32
);
hex_bytes!(
    /// An Ed25519 signature.
    Signature,
    64
);

/// Could not compute the canonical form of an object.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot canonicalise: {0}")]
pub struct EncodingError(pub String);

/// SHA-256 of raw bytes.
pub fn sha256(data: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(data).into())
}

/// The RFC 8785 canonical form of `value`.
pub fn canonical_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodingError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| EncodingError(e.to_string()))
}

/// `H(x) = SHA-256(JCS(x))`.
pub fn hash_of<T: Serialize>(value: &T) -> Result<Hash32, EncodingError> {
    Ok(sha256(&canonical_bytes(value)?))
}

/// Whether a public key is weak (§2): its y (the low 255 bits, little
/// endian) is not below p = 2^255 - 19, or it decodes to a point of order
/// dividing 8.
pub fn is_weak_key(key: &PublicKey) -> bool {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    let b = key.as_bytes();
    let mut y = *b;
    y[31] &= 0x7f;
    // p = 2^255 - 19: bytes ed ff .. ff 7f, little-endian.
    let y_not_canonical = y[0] >= 0xed && y[1..31].iter().all(|&x| x == 0xff) && y[31] == 0x7f;
    y_not_canonical
        || CompressedEdwardsY(*b)
            .decompress()
            .is_some_and(|p| p.is_small_order())
}

/// Ed25519 verification of `sig` by `key` over the 32-byte digest (§2):
/// the key is not weak, it decodes, S is below the group order, and
/// [S]B - [k]A encodes to R (the cofactorless equation, as ring 0.17 checks).
pub fn verify_digest(key: &PublicKey, digest: &Hash32, sig: &Signature) -> bool {
    !is_weak_key(key)
        && ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key.as_bytes())
            .verify(digest.as_bytes(), sig.as_bytes())
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_strict() {
        let good = format!("0x{}", "ab".repeat(32));
        assert!(Hash32::parse(&good).is_ok());
        assert_eq!(
            Hash32::parse(&good[2..]).unwrap_err(),
            HexError::MissingPrefix
        );
        assert_eq!(
            Hash32::parse(&good.to_uppercase().replacen("0X", "0x", 1)).unwrap_err(),
            HexError::BadDigit
        );
        assert!(matches!(
            Hash32::parse(&good[..64]),
            Err(HexError::WrongLength { .. })
        ));
    }
}
