//! The voter roll as the chain knows it (PROTOCOL.md §3a): the genesis
//! commits to each election's roll by its size and a Merkle root over
//! entries that reveal no names. An entry is the hash of a salted
//! commitment to the voter (their id, name and district, known only to
//! whoever holds the roll file) and, where the roll says so, the station
//! they vote at. A check-in record opens one entry (commitment, station)
//! and proves it is in the root.

use serde::Serialize;

use super::bytes::{Hash32, PublicKey};
use super::canonical::hash_of;
use super::error::LedgerError;

#[derive(Serialize)]
struct VoterCommitment<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    election_id: u64,
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    district: Option<&'a str>,
    salt: &'a Hash32,
}

/// A voter of the roll, as the roll file holds them.
#[derive(Debug, Clone, Copy)]
pub struct RollVoter<'a> {
    pub election_id: u64,
    pub id: &'a str,
    pub name: &'a str,
    pub district: Option<&'a str>,
    /// 32 random bytes, so that the commitment cannot be found by trying
    /// names and ids.
    pub salt: &'a Hash32,
}

impl RollVoter<'_> {
    /// `H({"type": "roll_voter", election_id, id, name, district?, salt})`.
    pub fn commitment(&self) -> Result<Hash32, LedgerError> {
        hash_of(&VoterCommitment {
            kind: "roll_voter",
            election_id: self.election_id,
            id: self.id,
            name: self.name,
            district: self.district,
            salt: self.salt,
        })
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    election_id: u64,
    voter: &'a Hash32,
    #[serde(skip_serializing_if = "Option::is_none")]
    station: Option<&'a PublicKey>,
}

/// A roll entry, the leaf of the roll's Merkle tree:
/// `H({"type": "roll_entry", election_id, voter, station?})`.
pub fn roll_leaf(
    election_id: u64,
    voter: &Hash32,
    station: Option<&PublicKey>,
) -> Result<Hash32, LedgerError> {
    hash_of(&Entry {
        kind: "roll_entry",
        election_id,
        voter,
        station,
    })
}
