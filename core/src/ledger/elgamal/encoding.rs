//! Wire forms of group elements and scalars.
//!
//! Both are written as `0x` + 64 lowercase hex digits (32 bytes), parsed
//! with the same strict rules as `ledger::bytes`, and then decoded
//! strictly: a point must be the canonical Ristretto255 encoding of a group
//! element, a scalar the canonical little-endian encoding of an integer
//! below the group order ℓ. Anything else is refused when parsing, so every
//! value has exactly one textual form and hashing the received JSON and
//! hashing the parsed value give the same digest.

use std::fmt;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize;

use crate::ledger::bytes::{HexError, decode_fixed, with_hex};

/// Why a point or scalar was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    #[error(transparent)]
    Hex(#[from] HexError),
    #[error("not the canonical encoding of a Ristretto255 group element")]
    InvalidPoint,
    #[error("not a canonical scalar (must be little-endian and below the group order)")]
    NonCanonicalScalar,
}

/// A Ristretto255 group element as it travels: its canonical 32-byte
/// encoding, and the element itself when this process computed it.
///
/// A point that arrives (parsed from JSON) is decoded when it is first
/// used ([`Point::decode`]), not when it is parsed: decoding costs an
/// inverse square root, and a block or a consensus message carries
/// thousands of points of ballots this node verified when they came, or
/// never needs. An encoding that decodes to no point is refused where it
/// is used, with [`EncodingError::InvalidPoint`].
#[derive(Clone, Copy)]
pub struct Point {
    bytes: [u8; 32],
    decoded: Option<RistrettoPoint>,
}

impl Point {
    pub const LEN: usize = 32;

    /// Compresses `point` (one field inversion).
    pub fn from_point(point: RistrettoPoint) -> Self {
        Self {
            bytes: point.compress().to_bytes(),
            decoded: Some(point),
        }
    }

    /// The points `2·h` for each `h` of `halves`, compressed together:
    /// Ristretto255 encodes doubled points in a batch with one field
    /// inversion, where compressing each point costs an inverse square root.
    pub fn doubles_of(halves: &[RistrettoPoint]) -> Vec<Self> {
        RistrettoPoint::double_and_compress_batch(halves)
            .into_iter()
            .zip(halves)
            .map(|(enc, h)| Self {
                bytes: enc.to_bytes(),
                decoded: Some(h + h),
            })
            .collect()
    }

    /// The identity element (encoded as 32 zero bytes).
    pub fn identity() -> Self {
        Self {
            bytes: [0u8; 32],
            decoded: Some(RistrettoPoint::identity()),
        }
    }

    /// Decodes a canonical encoding now; refuses invalid and non-canonical
    /// ones.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, EncodingError> {
        let point = decompress(&bytes)?;
        Ok(Self {
            bytes,
            decoded: Some(point),
        })
    }

    /// An encoding as received, decoded when used.
    pub fn received(bytes: [u8; 32]) -> Self {
        Self {
            bytes,
            decoded: None,
        }
    }

    /// Parses and decodes now (keys on the command line, in files).
    pub fn parse(s: &str) -> Result<Self, EncodingError> {
        Self::from_bytes(decode_fixed::<32>(s)?)
    }

    /// The group element; refuses an encoding that is not the canonical
    /// encoding of one.
    pub fn decode(&self) -> Result<RistrettoPoint, EncodingError> {
        match self.decoded {
            Some(p) => Ok(p),
            None => decompress(&self.bytes),
        }
    }

    /// This point with its element decoded, so that later uses are free.
    pub fn decoded(&self) -> Result<Self, EncodingError> {
        Ok(Self {
            bytes: self.bytes,
            decoded: Some(self.decode()?),
        })
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    pub fn is_identity(&self) -> bool {
        self.bytes == [0u8; 32]
    }

    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.bytes))
    }
}

/// `Display` and `Debug` both print the wire form: these values are public.
macro_rules! shown_as_hex {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}

fn decompress(bytes: &[u8; 32]) -> Result<RistrettoPoint, EncodingError> {
    CompressedRistretto(*bytes)
        .decompress()
        .ok_or(EncodingError::InvalidPoint)
}

impl From<RistrettoPoint> for Point {
    fn from(p: RistrettoPoint) -> Self {
        Self::from_point(p)
    }
}

// The encoding is canonical, so equal bytes and equal points coincide.
impl PartialEq for Point {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for Point {}

impl PartialOrd for Point {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Point {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

shown_as_hex!(Point);

impl std::str::FromStr for Point {
    type Err = EncodingError;
    fn from_str(s: &str) -> Result<Self, EncodingError> {
        Self::parse(s)
    }
}

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        with_hex(&self.bytes, |h| s.serialize_str(h))
    }
}

/// The hex is checked when parsing; the element when it is used.
impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let bytes = decode_fixed::<32>(&s).map_err(serde::de::Error::custom)?;
        Ok(Self::received(bytes))
    }
}

fn decode_scalar(s: &str) -> Result<Scalar, EncodingError> {
    let mut bytes = decode_fixed::<32>(s)?;
    let scalar = Option::<Scalar>::from(Scalar::from_canonical_bytes(bytes));
    bytes.zeroize();
    scalar.ok_or(EncodingError::NonCanonicalScalar)
}

fn scalar_hex(scalar: &Scalar) -> String {
    format!("0x{}", hex::encode(scalar.as_bytes()))
}

/// A public scalar (a challenge or a response of a proof): `0x` + 64 hex
/// digits, the canonical little-endian encoding of an integer below ℓ.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicScalar(pub Scalar);

impl PublicScalar {
    pub fn parse(s: &str) -> Result<Self, EncodingError> {
        decode_scalar(s).map(Self)
    }

    /// The scalar of a canonical little-endian encoding (below ℓ).
    pub fn from_canonical(bytes: [u8; 32]) -> Option<Self> {
        Option::<Scalar>::from(Scalar::from_canonical_bytes(bytes)).map(Self)
    }

    pub fn scalar(&self) -> &Scalar {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        scalar_hex(&self.0)
    }
}

impl From<Scalar> for PublicScalar {
    fn from(s: Scalar) -> Self {
        Self(s)
    }
}

shown_as_hex!(PublicScalar);

impl Serialize for PublicScalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        with_hex(self.0.as_bytes(), |h| s.serialize_str(h))
    }
}

impl<'de> Deserialize<'de> for PublicScalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A secret scalar (a polynomial coefficient, a share, a key share). Same
/// wire form as [`PublicScalar`], but zeroized on drop, never `Copy`, and
/// its `Debug` prints nothing of the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretScalar(Scalar);

impl SecretScalar {
    pub fn new(s: Scalar) -> Self {
        Self(s)
    }

    pub fn parse(s: &str) -> Result<Self, EncodingError> {
        decode_scalar(s).map(Self)
    }

    /// The value; keep the borrow short and do not copy it out.
    pub fn expose(&self) -> &Scalar {
        &self.0
    }

    /// The wire form. The returned string holds the secret: callers write it
    /// to its file and drop it.
    pub fn to_hex(&self) -> String {
        scalar_hex(&self.0)
    }
}

impl Drop for SecretScalar {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Zeroize for SecretScalar {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretScalar(<redacted>)")
    }
}

impl Serialize for SecretScalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = self.to_hex();
        let out = s.serialize_str(&text);
        text.zeroize();
        out
    }
}

impl<'de> Deserialize<'de> for SecretScalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut s = String::deserialize(d)?;
        let out = Self::parse(&s).map_err(serde::de::Error::custom);
        s.zeroize();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;

    /// ℓ, little-endian.
    const ELL: &str = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

    #[test]
    fn points_round_trip_and_refuse_non_canonical_encodings() {
        let g = Point::from_point(RISTRETTO_BASEPOINT_POINT);
        assert_eq!(
            g.to_hex(),
            "0xe2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76"
        );
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<Point>(&json).unwrap(), g);
        assert!(Point::parse(&format!("0x{}", "00".repeat(32))).is_ok());
        // s = 1 is "non-negative" but not a valid point; s = p + 1 is non-canonical.
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(Point::from_bytes(one), Err(EncodingError::InvalidPoint));
        let mut p_plus_0 = [0xffu8; 32];
        p_plus_0[0] = 0xed;
        p_plus_0[31] = 0x7f;
        assert_eq!(
            Point::from_bytes(p_plus_0),
            Err(EncodingError::InvalidPoint)
        );
        // Uppercase, short, unprefixed.
        let upper = g.to_hex().to_uppercase().replacen("0X", "0x", 1);
        assert!(Point::parse(&upper).is_err());
        assert!(Point::parse(&g.to_hex()[..64]).is_err());
        assert!(Point::parse(&g.to_hex()[2..]).is_err());
    }

    #[test]
    fn scalars_refuse_values_at_or_above_the_order() {
        // ℓ itself is refused; ℓ - 1 is the largest scalar.
        let l_hex = format!("0x{ELL}");
        assert_eq!(
            PublicScalar::parse(&l_hex),
            Err(EncodingError::NonCanonicalScalar)
        );
        let mut below: [u8; 32] = hex::decode(ELL).unwrap().try_into().unwrap();
        below[0] -= 1;
        assert!(PublicScalar::parse(&format!("0x{}", hex::encode(below))).is_ok());
        assert_eq!(
            SecretScalar::parse(&format!("0x{}", "ff".repeat(32))),
            Err(EncodingError::NonCanonicalScalar)
        );
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let s = SecretScalar::new(Scalar::from(42u64));
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("2a"), "{dbg}");
        assert_eq!(dbg, "SecretScalar(<redacted>)");
    }
}
