//! Fixed-size byte strings written as lowercase `0x` hex on the wire.
//!
//! Parsing is strict (lowercase only, exact length) so that every value has
//! exactly one textual form: two encodings of one hash would give two
//! canonical JSON documents and two different signatures.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// Decodes `0x` + exactly `2 * N` lowercase hex digits.
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

/// Calls `f` with `0x` + the lowercase hex of `bytes` (at most 64), written
/// on the stack: serializing a ballot writes dozens of these.
pub fn with_hex<R>(bytes: &[u8], f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 2 + 2 * 64];
    let len = 2 + 2 * bytes.len();
    assert!(bytes.len() <= 64, "with_hex takes at most 64 bytes");
    buf[..2].copy_from_slice(b"0x");
    hex::encode_to_slice(bytes, &mut buf[2..len]).expect("the buffer fits");
    f(std::str::from_utf8(&buf[..len]).expect("hex is ASCII"))
}

macro_rules! hex_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn to_hex(&self) -> String {
                format!("0x{}", hex::encode(self.0))
            }

            pub fn parse(s: &str) -> Result<Self, HexError> {
                decode_fixed::<$len>(s).map(Self)
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

        impl std::str::FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                with_hex(&self.0, |h| s.serialize_str(h))
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
    /// A SHA-256 digest: block hashes, transaction hashes, the chain id, nullifiers.
    Hash32,
    32
);
hex_bytes!(
    /// An Ed25519 public key; it is also the node's id.
    PublicKey,
    32
);
hex_bytes!(
    /// An Ed25519 signature.
    Signature,
    64
);

impl Hash32 {
    pub const ZERO: Hash32 = Hash32([0u8; 32]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_lowercase_hex() {
        let h = Hash32([0xab; 32]);
        let s = h.to_hex();
        assert_eq!(s.len(), 66);
        assert_eq!(Hash32::parse(&s).unwrap(), h);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Hash32>(&json).unwrap(), h);
    }

    #[test]
    fn refuses_every_other_spelling() {
        let good = format!("0x{}", "ab".repeat(32));
        assert_eq!(
            Hash32::parse(&good.replace("0x", "")),
            Err(HexError::MissingPrefix)
        );
        assert_eq!(
            Hash32::parse(&good.to_uppercase().replace("0X", "0x")),
            Err(HexError::BadDigit)
        );
        assert!(matches!(
            Hash32::parse(&good[..64]),
            Err(HexError::WrongLength { .. })
        ));
        assert_eq!(
            Hash32::parse(&format!("0x{}", "zz".repeat(32))),
            Err(HexError::BadDigit)
        );
        assert!(serde_json::from_str::<Hash32>("12").is_err());
    }
}
