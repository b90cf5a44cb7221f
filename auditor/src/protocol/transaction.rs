//! PROTOCOL.md §4, transactions: ballots and decryption shares, signed by
//! the appliance that accepted them.

use serde::{Deserialize, Deserializer, Serialize};

use super::elgamal::{DecryptionShare, EncryptedBallot};
use super::encoding::{Hash32, PublicKey, Signature};

/// How long after the close a ballot without a fallback reference may
/// still enter a block (§6 rule 18j).
pub const LATE_BALLOT_GRACE_MS: u64 = 600_000;

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

    #[cfg(any(test, feature = "test-support"))]
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
        let ballot = format!(
            r#"{{"type":"ballot","chain_id":"{z}","election_id":1,"nullifier":"{z}","ballot":{{"selections":[],"sum_proof":{{"u":"{z}","v":"{z}","z":"{z}"}}}},"ballot_hash":"{z}","submitted_at_ms":1,"origin":"{z}""#
        );
        assert!(serde_json::from_str::<Transaction>(&format!("{ballot}}}")).is_ok());
        assert!(
            serde_json::from_str::<Transaction>(&format!("{ballot},\"fallback\":null}}")).is_err()
        );
    }
}
