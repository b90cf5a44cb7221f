//! The transactions that are not ballots or decryption shares
//! (PROTOCOL.md §4): a station's check-in of a voter (the poll book), the
//! credential authority's revocation and replacement of a voter's
//! credential, and an appliance's closing record (the head of its
//! confirmation-code chain, its counts, the end of its fallback chain).
//! Their rules that need no chain are here; those that do are in
//! `validate::InBlock`.

use serde::{Deserialize, Serialize};

use super::bytes::{Hash32, PublicKey};
use super::canonical::check_safe_integer;
use super::crypto::is_weak_key;
use super::error::LedgerError;
use super::genesis::Election;
use super::merkle::verify_inclusion;
use super::roll::roll_leaf;
use super::validate::MAX_FUTURE_DRIFT_MS;

/// A poll-book record: station `origin` checked in the voter of one roll
/// entry at `checked_in_at_ms`. The entry is opened (its voter commitment
/// and station) and proved to be in the roll's root; no name is on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    /// The entry's salted commitment to the voter (`roll::RollVoter`).
    pub voter: Hash32,
    /// The station the roll assigns this voter to, where it does.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::tx::present_only"
    )]
    pub station: Option<PublicKey>,
    /// The entry's position in the roll and its inclusion proof.
    pub index: u64,
    pub path: Vec<Hash32>,
    pub checked_in_at_ms: u64,
    pub origin: PublicKey,
}

impl CheckInTx {
    /// The roll entry this record opens.
    pub fn leaf(&self) -> Result<Hash32, LedgerError> {
        roll_leaf(self.election_id, &self.voter, self.station.as_ref())
    }
}

/// The credential authority revokes a voter's credential (a lost card)
/// and names the one that replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialReplacementTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub revoked: PublicKey,
    pub replacement: PublicKey,
    pub issued_at_ms: u64,
    /// The credential authority of the genesis, which signs.
    pub origin: PublicKey,
}

/// How far an appliance's confirmation codes went: how many it had issued
/// (for every election) and the last one (32 zero bytes if none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeChainHead {
    pub count: u64,
    pub head: Hash32,
}

/// The last block of an appliance's fallback chain when it closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackEnd {
    pub last_seq: u64,
    pub last_hash: Hash32,
}

/// An appliance's record at an election's close (ElectionGuard's device
/// chaining): the head of its confirmation-code chain, the ballots it
/// accepted and the voters it checked in for this election, and where its
/// fallback chain ended. Once it is on the chain, the appliance can add no
/// ballot to this election but the fallback ballots it sealed before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCloseTx {
    pub chain_id: Hash32,
    pub election_id: u64,
    pub codes: CodeChainHead,
    /// Ballots of this election this appliance accepted (gave a code for).
    pub ballots: u64,
    /// Voters of this election this appliance checked in.
    pub check_ins: u64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::tx::present_only"
    )]
    pub fallback: Option<FallbackEnd>,
    pub closed_at_ms: u64,
    pub origin: PublicKey,
}

#[derive(Serialize)]
struct CodeInput<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    prev_code: &'a Hash32,
    ballot_hash: &'a Hash32,
}

/// The confirmation code an appliance gives for a ballot after the code
/// `prev` (32 zero bytes before its first): `H({"type":
/// "confirmation_code", prev_code, ballot_hash})`. An appliance's codes
/// form a chain whose head its closing record signs (PROTOCOL.md §4d).
pub fn next_code(prev: &Hash32, ballot_hash: &Hash32) -> Hash32 {
    super::canonical::hash_of(&CodeInput {
        kind: "confirmation_code",
        prev_code: prev,
        ballot_hash,
    })
    .expect("code input encodes")
}

/// Rules 18p-18r: a check-in opens an entry of the election's roll, at
/// the station the entry names (if any), while the election is open.
pub(super) fn check_check_in(
    election: &Election,
    c: &CheckInTx,
    at_ms: u64,
) -> Result<(), LedgerError> {
    check_safe_integer("index", c.index)?;
    check_safe_integer("checked_in_at_ms", c.checked_in_at_ms)?;
    let Some(roll) = election.roll() else {
        return Err(LedgerError::NotOnRoll(format!(
            "election {} has no roll (open registration)",
            c.election_id
        )));
    };
    if !verify_inclusion(&c.leaf()?, c.index, roll.size, &c.path, &roll.root) {
        return Err(LedgerError::NotOnRoll(format!(
            "entry {} is not proved to be in the roll of election {}",
            c.index, c.election_id
        )));
    }
    if let Some(station) = &c.station
        && station != &c.origin
    {
        return Err(LedgerError::WrongStation {
            assigned: *station,
            found: c.origin,
        });
    }
    let open = election.is_open_at(c.checked_in_at_ms);
    made_in_time(
        open,
        c.election_id,
        "checked_in_at_ms",
        c.checked_in_at_ms,
        at_ms,
    )
}

/// Rule 18s: a replacement names a usable new key, before the close.
pub(super) fn check_replacement(
    election: &Election,
    r: &CredentialReplacementTx,
    at_ms: u64,
) -> Result<(), LedgerError> {
    check_safe_integer("issued_at_ms", r.issued_at_ms)?;
    if election.open_registration() {
        return Err(LedgerError::UnknownCredential(format!(
            "election {} has open registration: there is no credential to revoke",
            r.election_id
        )));
    }
    if is_weak_key(&r.replacement) {
        return Err(LedgerError::Key(format!(
            "replacement credential {} is a weak key",
            r.replacement
        )));
    }
    if r.replacement == r.revoked {
        return Err(LedgerError::DuplicateCredential(r.replacement));
    }
    let open = r.issued_at_ms < election.closes_at;
    made_in_time(open, r.election_id, "issued_at_ms", r.issued_at_ms, at_ms)
}

/// Rule 18t: a closing record is made at or after the close.
pub(super) fn check_device_close(
    election: &Election,
    d: &DeviceCloseTx,
    at_ms: u64,
) -> Result<(), LedgerError> {
    for (field, v) in [
        ("codes.count", d.codes.count),
        ("ballots", d.ballots),
        ("check_ins", d.check_ins),
        ("closed_at_ms", d.closed_at_ms),
    ] {
        check_safe_integer(field, v)?;
    }
    if let Some(f) = &d.fallback {
        check_safe_integer("fallback.last_seq", f.last_seq)?;
    }
    if d.closed_at_ms < election.closes_at {
        return Err(LedgerError::BadDeviceClose(format!(
            "closed at {} before election {} closes at {}",
            d.closed_at_ms, d.election_id, election.closes_at
        )));
    }
    not_after(d.closed_at_ms, at_ms, "closed_at_ms")
}

/// A record made while its election took it (`open`), and not after the
/// block that holds it: `field` names the time it was made, `made_ms`.
pub(super) fn made_in_time(
    open: bool,
    election_id: u64,
    field: &str,
    made_ms: u64,
    at_ms: u64,
) -> Result<(), LedgerError> {
    if !open {
        return Err(LedgerError::ElectionNotOpen {
            election_id,
            at_ms: made_ms,
        });
    }
    not_after(made_ms, at_ms, field)
}

/// A record cannot be made after the block that holds it (with the clock
/// drift allowance).
fn not_after(made_ms: u64, at_ms: u64, field: &str) -> Result<(), LedgerError> {
    if made_ms > at_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
        return Err(LedgerError::BadTx(format!(
            "{field} {made_ms} is after the block time {at_ms}"
        )));
    }
    Ok(())
}

/// Test fixtures, for this crate's tests and, with the `fixtures`
/// feature, for the appliance's.
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures {
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::genesis::Genesis;
    use crate::ledger::genesis::fixtures::{card, roll_leaves, voter_station};
    use crate::ledger::tx::{SignedTx, Transaction};

    /// Fixture voter `v` of election 1 checked in at time `at` by the
    /// appliance with test key `origin_seed`.
    pub fn check_in(g: &Genesis, origin_seed: u8, v: u8, at: u64) -> SignedTx {
        let voter = Hash32([v; 32]);
        let station = voter_station(v);
        let leaf = crate::ledger::roll::roll_leaf(1, &voter, station.as_ref()).unwrap();
        let leaves = roll_leaves();
        let index = leaves.iter().position(|l| l == &leaf).unwrap() as u64;
        let tx = CheckInTx {
            chain_id: g.chain_id().unwrap(),
            election_id: 1,
            voter,
            station,
            index,
            path: crate::ledger::merkle::merkle_path(&leaves, index).unwrap(),
            checked_in_at_ms: at,
            origin: key(origin_seed).public(),
        };
        SignedTx::sign(Transaction::CheckIn(tx), &key(origin_seed)).unwrap()
    }

    /// The credential authority (test key 201) revokes voter `v`'s
    /// credential and replaces it with the card `new_card`'s.
    pub fn replacement(g: &Genesis, v: u8, new_card: u8, at: u64) -> SignedTx {
        let tx = CredentialReplacementTx {
            chain_id: g.chain_id().unwrap(),
            election_id: 1,
            revoked: card(v).key(1).public(),
            replacement: card(new_card).key(1).public(),
            issued_at_ms: at,
            origin: key(201).public(),
        };
        SignedTx::sign(Transaction::CredentialReplacement(tx), &key(201)).unwrap()
    }

    /// The appliance with test key `origin_seed` closes election 1.
    pub fn device_close(
        g: &Genesis,
        origin_seed: u8,
        at: u64,
        fallback: Option<FallbackEnd>,
    ) -> SignedTx {
        let tx = DeviceCloseTx {
            chain_id: g.chain_id().unwrap(),
            election_id: 1,
            codes: CodeChainHead {
                count: 0,
                head: Hash32::ZERO,
            },
            ballots: 0,
            check_ins: 0,
            fallback,
            closed_at_ms: at,
            origin: key(origin_seed).public(),
        };
        SignedTx::sign(Transaction::DeviceClose(tx), &key(origin_seed)).unwrap()
    }
}
