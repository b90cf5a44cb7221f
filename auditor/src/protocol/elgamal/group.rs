//! E.1: points and scalars as the wire carries them (canonical encodings, decoded once when parsed).

use super::*;

/// A Ristretto255 point as the wire carries it (E.1): its canonical
/// 32-byte encoding, decoded once when parsed.
#[derive(Clone, Copy)]
pub struct Point {
    pub(super) enc: [u8; 32],
    pub(super) p: RistrettoPoint,
}

impl Point {
    /// Decodes a canonical encoding (RFC 9496 §4.3.1); the identity's
    /// encoding (32 zero bytes) is accepted.
    pub fn from_bytes(enc: [u8; 32]) -> Result<Point, String> {
        CompressedRistretto(enc)
            .decompress()
            .map(|p| Point { enc, p })
            .ok_or_else(|| "not the canonical encoding of a Ristretto255 point".to_string())
    }

    pub fn parse(s: &str) -> Result<Point, String> {
        let b = decode_fixed::<32>(s).map_err(|e| e.to_string())?;
        Self::from_bytes(b)
    }

    pub fn from_point(p: RistrettoPoint) -> Point {
        Point {
            enc: p.compress().to_bytes(),
            p,
        }
    }

    pub fn identity() -> Point {
        Point {
            enc: [0; 32],
            p: RistrettoPoint::identity(),
        }
    }

    pub fn is_identity(&self) -> bool {
        self.enc == [0; 32]
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.enc
    }

    pub fn point(&self) -> &RistrettoPoint {
        &self.p
    }

    pub fn to_hex(self) -> String {
        format!("0x{}", hex::encode(self.enc))
    }
}

impl PartialEq for Point {
    fn eq(&self, o: &Point) -> bool {
        self.enc == o.enc
    }
}
impl Eq for Point {}

impl fmt::Debug for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Point::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A scalar as the wire carries it (E.1): 32 bytes little-endian, below ℓ.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sc(pub Scalar);

impl Sc {
    pub fn parse(s: &str) -> Result<Sc, String> {
        let b = decode_fixed::<32>(s).map_err(|e| e.to_string())?;
        Option::<Scalar>::from(Scalar::from_canonical_bytes(b))
            .map(Sc)
            .ok_or_else(|| "a scalar at or above the group order is not canonical".to_string())
    }

    pub fn to_hex(self) -> String {
        format!("0x{}", hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for Sc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Sc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Sc::parse(&s).map_err(serde::de::Error::custom)
    }
}
