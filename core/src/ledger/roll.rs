//! The voter roll as the chain knows it (PROTOCOL.md §3a): the genesis
//! commits to each election's roll by its size and a Merkle root over
//! entries that reveal no names. An entry is the hash of a salted
//! commitment to the voter (their id, name and district, known only to
//! whoever holds the roll file) and, where the roll says so, the station
//! they vote at. A check-in record opens one entry (commitment, station)
//! and proves it is in the root.

use serde::{Deserialize, Serialize};

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

/// One voter of a roll file: what the election authority knows of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollEntry {
    /// The authority's id for the voter (a poll worker looks them up by it).
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// The station the voter must vote at, if the roll assigns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<PublicKey>,
    pub salt: Hash32,
}

impl RollEntry {
    /// The entry's salted voter commitment.
    pub fn voter(&self, election_id: u64) -> Result<Hash32, LedgerError> {
        RollVoter {
            election_id,
            id: &self.id,
            name: &self.name,
            district: self.district.as_deref(),
            salt: &self.salt,
        }
        .commitment()
    }

    /// The entry's leaf in the roll's Merkle tree.
    pub fn leaf(&self, election_id: u64) -> Result<Hash32, LedgerError> {
        roll_leaf(
            election_id,
            &self.voter(election_id)?,
            self.station.as_ref(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollStatementType {
    VoterRoll,
}

/// What the election authority signs over a roll: the commitment the
/// genesis holds. Its entries are bound through the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollStatement {
    #[serde(rename = "type")]
    pub kind: RollStatementType,
    pub election_id: u64,
    pub size: u64,
    pub root: Hash32,
}

/// A roll file, as the authority writes it and the stations install it
/// (never published): the signed commitment and the entries in roll order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollFile {
    pub statement: RollStatement,
    pub signature: super::bytes::Signature,
    pub entries: Vec<RollEntry>,
}

/// A roll file checked against itself (its leaves, order and root).
#[derive(Debug, Clone)]
pub struct CheckedRoll {
    pub file: RollFile,
    /// The entries' leaves, in roll order.
    pub leaves: Vec<Hash32>,
    /// The entries' voter commitments, in roll order.
    pub voters: Vec<Hash32>,
}

impl RollFile {
    /// Builds and signs the roll of `entries` (any order; ids unique).
    pub fn build(
        election_id: u64,
        entries: Vec<RollEntry>,
        authority: &super::crypto::NodeKey,
    ) -> Result<CheckedRoll, LedgerError> {
        let mut keyed = entries
            .into_iter()
            .map(|e| {
                let voter = e.voter(election_id)?;
                let leaf = roll_leaf(election_id, &voter, e.station.as_ref())?;
                Ok((leaf, voter, e))
            })
            .collect::<Result<Vec<_>, LedgerError>>()?;
        keyed.sort_by_key(|a| a.0);
        let leaves: Vec<Hash32> = keyed.iter().map(|k| k.0).collect();
        let voters: Vec<Hash32> = keyed.iter().map(|k| k.1).collect();
        let entries: Vec<RollEntry> = keyed.into_iter().map(|k| k.2).collect();
        check_ids(&entries)?;
        let statement = RollStatement {
            kind: RollStatementType::VoterRoll,
            election_id,
            size: leaves.len() as u64,
            root: super::merkle::merkle_root(&leaves),
        };
        let signature = authority.sign(&statement)?;
        Ok(CheckedRoll {
            file: RollFile {
                statement,
                signature,
                entries,
            },
            leaves,
            voters,
        })
    }

    /// Checks the file: the authority's signature, every entry's leaf, the
    /// roll order, unique ids, the size and root; and that they are what
    /// `genesis` commits to for the election.
    pub fn check(self, genesis: &super::genesis::Genesis) -> Result<CheckedRoll, LedgerError> {
        let bad = |m: String| Err(LedgerError::NotOnRoll(m));
        let st = &self.statement;
        if !super::crypto::verify(&genesis.authority, st, &self.signature)? {
            return Err(LedgerError::BadSignature { what: "roll" });
        }
        let Some(election) = genesis.election(st.election_id) else {
            return Err(LedgerError::UnknownElection(st.election_id));
        };
        let Some(committed) = election.roll() else {
            return bad(format!("election {} has no roll", st.election_id));
        };
        if committed.size != st.size || committed.root != st.root {
            return bad(format!(
                "the roll file commits to {} voters under {}, the genesis to {} under {}",
                st.size, st.root, committed.size, committed.root
            ));
        }
        let mut voters = Vec::with_capacity(self.entries.len());
        let mut leaves = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let voter = e.voter(st.election_id)?;
            leaves.push(roll_leaf(st.election_id, &voter, e.station.as_ref())?);
            voters.push(voter);
        }
        if leaves.windows(2).any(|w| w[0] >= w[1]) {
            return bad("the roll's entries are not in ascending order of their leaves".into());
        }
        check_ids(&self.entries)?;
        if leaves.len() as u64 != st.size || super::merkle::merkle_root(&leaves) != st.root {
            return bad("the roll's entries do not make its signed root".into());
        }
        Ok(CheckedRoll {
            file: self,
            leaves,
            voters,
        })
    }
}

fn check_ids(entries: &[RollEntry]) -> Result<(), LedgerError> {
    let mut ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    match ids.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(LedgerError::NotOnRoll(format!(
            "voter id {:?} is on the roll twice",
            w[0]
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::genesis::fixtures::genesis;
    use crate::ledger::genesis::{Eligibility, RollCommitment};

    fn entry(i: u8, station: Option<PublicKey>) -> RollEntry {
        RollEntry {
            id: format!("V{i}"),
            name: format!("Voter {i}"),
            district: i.is_multiple_of(2).then(|| "North".to_string()),
            station,
            salt: Hash32([i; 32]),
        }
    }

    #[test]
    fn a_built_roll_checks_against_the_genesis_that_commits_to_it() {
        let entries: Vec<RollEntry> = (0..9).map(|i| entry(i, None)).collect();
        let built = RollFile::build(1, entries, &key(200)).unwrap();
        let mut g = genesis(3);
        let st = built.file.statement.clone();
        g.elections[0].eligibility = Eligibility::Roll {
            roll: RollCommitment {
                size: st.size,
                root: st.root,
            },
            credentials: Vec::new(),
        };
        let checked = built.file.clone().check(&g).unwrap();
        assert_eq!(checked.leaves, built.leaves);
        // a changed name, a swapped order, another signer, another genesis
        let mut f = built.file.clone();
        f.entries[3].name.push('x');
        assert_eq!(f.check(&g).unwrap_err().code(), "not_on_roll");
        let mut f = built.file.clone();
        f.entries.swap(0, 1);
        assert!(f.check(&g).is_err());
        let mut f = built.file.clone();
        f.signature = key(1).sign(&f.statement).unwrap();
        assert_eq!(f.check(&g).unwrap_err().code(), "bad_signature");
        assert!(built.file.check(&genesis(3)).is_err());
        // an id twice
        let twice = vec![entry(1, None), entry(1, None)];
        assert!(RollFile::build(1, twice, &key(200)).is_err());
    }
}
