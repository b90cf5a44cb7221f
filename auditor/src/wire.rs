//! The objects of `schema/PROTOCOL.md` as the auditor reads them: strict
//! lowercase `0x` hex, closed objects (`deny_unknown_fields`), and the
//! SHA-256 over the RFC 8785 (JCS) canonical form that every object is known
//! by (PROTOCOL.md §1).
//!
//! These types are written from the protocol text, not shared with the
//! appliance: the auditor must catch an appliance that drifted from it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

pub use crate::elgamal::{DecryptionShare, ElectionTrustees, EncryptedBallot};

/// The largest integer a hashed or signed object may hold (2^53 - 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// How far ahead of the checker's clock a block timestamp may be (§5).
pub const MAX_FUTURE_DRIFT_MS: u64 = 15_000;
/// How long after the close a ballot without a fallback reference may
/// still enter a block (§6 rule 18j).
pub const LATE_BALLOT_GRACE_MS: u64 = 600_000;

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
            pub const LEN: usize = $len;

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn to_hex(&self) -> String {
                format!("0x{}", hex::encode(self.0))
            }

            /// The first 8 hex digits, for tables.
            pub fn short(&self) -> String {
                format!("0x{}…", hex::encode(&self.0[..4]))
            }

            pub fn parse(s: &str) -> Result<Self, HexError> {
                decode_fixed::<$len>(s).map(Self)
            }

            /// From raw bytes of exactly the right length.
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

/// Ed25519 verification of `sig` by `key` over the 32-byte digest, as
/// ring 0.17 does it (§2: S below the group order, cofactorless equation).
pub fn verify_digest(key: &PublicKey, digest: &Hash32, sig: &Signature) -> bool {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key.as_bytes())
        .verify(digest.as_bytes(), sig.as_bytes())
        .is_ok()
}

// ---------------------------------------------------------------- genesis

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub protocol: String,
    pub chain_name: String,
    pub created_at_ms: u64,
    pub authority: PublicKey,
    pub validators: Vec<ValidatorInfo>,
    pub stations: Vec<StationInfo>,
    pub elections: Vec<Election>,
    pub params: Params,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorInfo {
    pub public_key: PublicKey,
    pub name: String,
    pub p2p_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationInfo {
    pub public_key: PublicKey,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Election {
    pub id: u64,
    pub name: String,
    pub candidates: Vec<Candidate>,
    pub opens_at: u64,
    pub closes_at: u64,
    /// The key ceremony's public record (§3, E.4).
    pub trustees: ElectionTrustees,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub block_period_ms: u64,
    pub empty_block_period_ms: u64,
    pub round_timeout_ms: u64,
    pub max_block_txs: u64,
    pub fallback_after_ms: u64,
}

// ---------------------------------------------------------------- blocks

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    pub chain_id: Hash32,
    pub height: u64,
    pub round: u64,
    pub prev_hash: Hash32,
    pub timestamp_ms: u64,
    pub proposer: PublicKey,
    pub tx_root: Hash32,
    pub tx_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSeal {
    pub validator: PublicKey,
    pub signature: Signature,
}

/// The kinds of statement a validator signs about a block (§2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    Proposal,
    Prepare,
    Commit,
}

/// `{type, chain_id, height, round, block_hash}`: what a proposer or a
/// committing validator signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vote {
    #[serde(rename = "type")]
    pub kind: VoteKind,
    pub chain_id: Hash32,
    pub height: u64,
    pub round: u64,
    pub block_hash: Hash32,
}

impl Vote {
    /// The statement about a block, with the header's chain, height and
    /// round and the block's (claimed) hash.
    pub fn about(kind: VoteKind, header: &BlockHeader, block_hash: Hash32) -> Self {
        Self {
            kind,
            chain_id: header.chain_id,
            height: header.height,
            round: header.round,
            block_hash,
        }
    }
}

/// A whole block as served on the wire, for callers that hold one (the
/// test vectors). The audit itself reads blocks part by part
/// ([`crate::rules::RawBlock`]) so that one malformed part is reported
/// precisely instead of losing the block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireBlockParts {
    pub header: Box<serde_json::value::RawValue>,
    pub block_hash: Box<serde_json::value::RawValue>,
    pub proposer_signature: Box<serde_json::value::RawValue>,
    pub transactions: Vec<Box<serde_json::value::RawValue>>,
    pub seals: Box<serde_json::value::RawValue>,
}

// ---------------------------------------------------------------- transactions

/// A ballot is always encrypted (§4, E.3).
pub type Ballot = EncryptedBallot;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackRef {
    pub origin: PublicKey,
    pub block_hash: Hash32,
}

/// The signed body of a ballot transaction (§4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub nullifier: Hash32,
    pub ballot: Ballot,
    pub ballot_hash: Hash32,
    pub submitted_at_ms: u64,
    pub origin: PublicKey,
    /// Present only for a ballot first recorded offline; `null` is refused.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_only"
    )]
    pub fallback: Option<FallbackRef>,
}

/// A trustee's decryption share carried onto the chain (§4, E.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptionShareTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub tally_height: u64,
    pub ballot_count: u64,
    pub share: DecryptionShare,
    pub submitted_at_ms: u64,
    pub origin: PublicKey,
}

/// The hashed and signed body of a transaction; `type` names its kind and
/// any other type is refused.
// Nearly every transaction is a ballot; boxing it would only move it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Transaction {
    Ballot(BallotTx),
    DecryptionShare(DecryptionShareTx),
}

impl Transaction {
    pub fn chain_id(&self) -> &Hash32 {
        match self {
            Transaction::Ballot(b) => &b.chain_id,
            Transaction::DecryptionShare(d) => &d.chain_id,
        }
    }

    pub fn origin(&self) -> &PublicKey {
        match self {
            Transaction::Ballot(b) => &b.origin,
            Transaction::DecryptionShare(d) => &d.origin,
        }
    }

    pub fn election_id(&self) -> u64 {
        match self {
            Transaction::Ballot(b) => b.election_id,
            Transaction::DecryptionShare(d) => d.election_id,
        }
    }

    pub fn as_ballot(&self) -> Option<&BallotTx> {
        match self {
            Transaction::Ballot(b) => Some(b),
            Transaction::DecryptionShare(_) => None,
        }
    }
}

/// An optional member that, when present, may not be `null`.
fn present_only<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTx {
    pub tx: Transaction,
    pub signature: Signature,
}

/// The RFC 6962-shaped Merkle root over transaction hashes (§5).
pub fn merkle_root(leaves: &[Hash32]) -> Hash32 {
    match leaves.len() {
        0 => sha256(&[]),
        1 => {
            let mut buf = [0u8; 33];
            buf[1..].copy_from_slice(leaves[0].as_bytes());
            sha256(&buf)
        }
        n => {
            // the largest power of two strictly below n
            let m = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let mut buf = [0u8; 65];
            buf[0] = 1;
            buf[1..33].copy_from_slice(merkle_root(&leaves[..m]).as_bytes());
            buf[33..].copy_from_slice(merkle_root(&leaves[m..]).as_bytes());
            sha256(&buf)
        }
    }
}

/// Q = ceil(2n/3) (§3).
pub fn quorum(n: usize) -> usize {
    (2 * n).div_ceil(3)
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

    #[test]
    fn merkle_split_is_largest_power_below() {
        let h = |b| Hash32([b; 32]);
        let leaf = |x: Hash32| {
            let mut v = vec![0u8];
            v.extend_from_slice(&x.0);
            sha256(&v)
        };
        let node = |l: Hash32, r: Hash32| {
            let mut v = vec![1u8];
            v.extend_from_slice(&l.0);
            v.extend_from_slice(&r.0);
            sha256(&v)
        };
        assert_eq!(merkle_root(&[]), sha256(b""));
        assert_eq!(merkle_root(&[h(1)]), leaf(h(1)));
        assert_eq!(
            merkle_root(&[h(1), h(2), h(3)]),
            node(node(leaf(h(1)), leaf(h(2))), leaf(h(3)))
        );
        let four = node(node(leaf(h(1)), leaf(h(2))), node(leaf(h(3)), leaf(h(4))));
        assert_eq!(
            merkle_root(&[h(1), h(2), h(3), h(4), h(5)]),
            node(four, leaf(h(5)))
        );
        assert_eq!(merkle_root(&[h(1), h(2), h(3), h(4)]), four);
    }

    #[test]
    fn unknown_types_and_null_fallbacks_are_refused() {
        let z = format!("0x{}", "00".repeat(32));
        let share = format!(
            r#"{{"type":"decryption_share","chain_id":"{z}","election_id":1,"tally_height":2,"ballot_count":0,"share":{{"trustee_index":1,"shares":[]}},"submitted_at_ms":1,"origin":"{z}""#
        );
        assert!(serde_json::from_str::<Transaction>(&format!("{share}}}")).is_ok());
        assert!(serde_json::from_str::<Transaction>(&format!("{share},\"extra\":1}}")).is_err());
        let mint = format!("{share}}}").replace("decryption_share", "mint");
        assert!(serde_json::from_str::<Transaction>(&mint).is_err());
        let ballot = format!(
            r#"{{"type":"ballot","chain_id":"{z}","election_id":1,"nullifier":"{z}","ballot":{{"selections":[],"sum_proof":{{"u":"{z}","v":"{z}","z":"{z}"}}}},"ballot_hash":"{z}","submitted_at_ms":1,"origin":"{z}""#
        );
        assert!(serde_json::from_str::<Transaction>(&format!("{ballot}}}")).is_ok());
        assert!(
            serde_json::from_str::<Transaction>(&format!("{ballot},\"fallback\":null}}")).is_err()
        );
    }

    #[test]
    fn quorum_table() {
        let q: Vec<usize> = (1..=7).map(quorum).collect();
        assert_eq!(q, vec![1, 2, 2, 3, 4, 4, 5]);
    }
}
