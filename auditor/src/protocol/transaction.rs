//! PROTOCOL.md §4, transactions: ballots (signed by the voter's credential
//! and the appliance that accepted them), decryption shares, check-ins,
//! credential replacements (signed by the credential authority), closing
//! records and spoiled ballots (§4e).

use serde::{Deserialize, Deserializer, Serialize};

use super::elgamal::{Ciphertext, DecryptionShare, EncryptedBallot, Sc};
use super::encoding::{Hash32, PublicKey, Signature};

/// How long after the close a ballot without a fallback reference may
/// still enter a block (§6 rule 18j).
pub const LATE_BALLOT_GRACE_MS: u64 = 600_000;

/// A ballot is always encrypted (§4, E.3).
pub type Ballot = EncryptedBallot;

/// A fallback block's header (§7a).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackHeader {
    #[serde(rename = "type")]
    pub kind: FallbackBlockType,
    pub chain_id: Hash32,
    pub origin: PublicKey,
    pub seq: u64,
    pub prev_hash: Hash32,
    pub anchor_height: u64,
    pub anchor_hash: Hash32,
    pub timestamp_ms: u64,
    pub tx_root: Hash32,
    pub tx_count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackBlockType {
    FallbackBlock,
}

/// What a ballot's copy carries to prove the fallback block that sealed it
/// (§4, §7a): the block's signed header and the sealed ballot's inclusion
/// proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackRef {
    pub header: FallbackHeader,
    pub signature: Signature,
    pub index: u64,
    pub path: Vec<Hash32>,
}

impl FallbackRef {
    pub fn origin(&self) -> &PublicKey {
        &self.header.origin
    }

    /// The fallback block's hash, H(header).
    pub fn block_hash(&self) -> Option<Hash32> {
        super::encoding::hash_of(&self.header).ok()
    }
}

/// The signed body of a ballot transaction (§4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    /// The voter's public credential (§4a).
    pub nullifier: Hash32,
    pub ballot: Ballot,
    pub ballot_hash: Hash32,
    pub credential_signature: Signature,
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

/// A station's poll-book record (§4b).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub voter: Hash32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_only"
    )]
    pub station: Option<PublicKey>,
    pub index: u64,
    pub path: Vec<Hash32>,
    pub checked_in_at_ms: u64,
    pub origin: PublicKey,
}

/// The credential authority revokes a credential and names its
/// replacement (§4c).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialReplacementTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub revoked: PublicKey,
    pub replacement: PublicKey,
    pub issued_at_ms: u64,
    pub origin: PublicKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeChainHead {
    pub count: u64,
    pub head: Hash32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackEnd {
    pub last_seq: u64,
    pub last_hash: Hash32,
}

/// An appliance's closing record of an election (§4d).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCloseTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub codes: CodeChainHead,
    pub ballots: u64,
    pub check_ins: u64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_only"
    )]
    pub fallback: Option<FallbackEnd>,
    pub closed_at_ms: u64,
    pub origin: PublicKey,
}

/// A ballot the voter checked at the booth instead of casting it, opened
/// (§4e): never counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoiledBallotTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub ciphertexts: Vec<Ciphertext>,
    pub tracking_code: Hash32,
    /// The candidate id the voter confirmed.
    pub choice: u64,
    pub randomness: Vec<Sc>,
    pub spoiled_at_ms: u64,
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
    CheckIn(CheckInTx),
    CredentialReplacement(CredentialReplacementTx),
    DeviceClose(DeviceCloseTx),
    SpoiledBallot(SpoiledBallotTx),
}

impl Transaction {
    pub fn chain_id(&self) -> &Hash32 {
        match self {
            Transaction::Ballot(b) => &b.chain_id,
            Transaction::DecryptionShare(d) => &d.chain_id,
            Transaction::CheckIn(c) => &c.chain_id,
            Transaction::CredentialReplacement(r) => &r.chain_id,
            Transaction::DeviceClose(d) => &d.chain_id,
            Transaction::SpoiledBallot(s) => &s.chain_id,
        }
    }

    /// The signer: the appliance, or the credential authority.
    pub fn origin(&self) -> &PublicKey {
        match self {
            Transaction::Ballot(b) => &b.origin,
            Transaction::DecryptionShare(d) => &d.origin,
            Transaction::CheckIn(c) => &c.origin,
            Transaction::CredentialReplacement(r) => &r.origin,
            Transaction::DeviceClose(d) => &d.origin,
            Transaction::SpoiledBallot(s) => &s.origin,
        }
    }

    pub fn election_id(&self) -> u64 {
        match self {
            Transaction::Ballot(b) => b.election_id,
            Transaction::DecryptionShare(d) => d.election_id,
            Transaction::CheckIn(c) => c.election_id,
            Transaction::CredentialReplacement(r) => r.election_id,
            Transaction::DeviceClose(d) => d.election_id,
            Transaction::SpoiledBallot(s) => s.election_id,
        }
    }

    #[cfg(any(test, feature = "test-support"))]
    pub fn as_ballot(&self) -> Option<&BallotTx> {
        match self {
            Transaction::Ballot(b) => Some(b),
            _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let s = format!("0x{}", "00".repeat(64));
        let ballot = format!(
            r#"{{"type":"ballot","chain_id":"{z}","election_id":1,"nullifier":"{z}","ballot":{{"selections":[],"sum_proof":{{"u":"{z}","v":"{z}","z":"{z}"}}}},"ballot_hash":"{z}","credential_signature":"{s}","submitted_at_ms":1,"origin":"{z}""#
        );
        assert!(serde_json::from_str::<Transaction>(&format!("{ballot}}}")).is_ok());
        assert!(
            serde_json::from_str::<Transaction>(&format!("{ballot},\"fallback\":null}}")).is_err()
        );
    }
}
