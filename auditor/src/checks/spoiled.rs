//! Spoiled ballots (PROTOCOL.md §4e): rule 18u (a record is well formed)
//! and the opening anyone can check, which validators do not: a record
//! whose randomness does not open its ciphertexts to the choice the voter
//! confirmed is its appliance's signed statement that its booth encrypted
//! something else, and the finding names that station.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::Identity;
use serde::Serialize;

use crate::protocol::elgamal::Ciphertext;
use crate::protocol::{ChainRules, Election, Hash32, PublicKey, SpoiledBallotTx, hash_of};

use super::transaction::after_block;
use super::{CheckId, Finding};

#[derive(Serialize)]
struct TrackingInput<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    chain_id: &'a Hash32,
    election_id: u64,
    origin: &'a PublicKey,
    ciphertexts: &'a [Ciphertext],
}

fn tracking_input(s: &SpoiledBallotTx) -> TrackingInput<'_> {
    TrackingInput {
        kind: "tracking_code",
        chain_id: &s.chain_id,
        election_id: s.election_id,
        origin: &s.origin,
        ciphertexts: &s.ciphertexts,
    }
}

/// §4e: `H({"type": "tracking_code", chain_id, election_id, origin,
/// ciphertexts})`.
pub(crate) fn tracking_code(s: &SpoiledBallotTx) -> Option<Hash32> {
    hash_of(&tracking_input(s)).ok()
}

/// The canonical form whose hash is the tracking code.
#[cfg(test)]
pub(super) fn tracking_input_bytes(s: &SpoiledBallotTx) -> Vec<u8> {
    crate::protocol::canonical_bytes(&tracking_input(s)).expect("encodes")
}

/// Rule 18u, then the opening: the first finding, if any.
pub(crate) fn check_spoiled(
    rules: &ChainRules,
    election: &Election,
    s: &SpoiledBallotTx,
    t: Option<u64>,
) -> Option<Finding> {
    if let Some(f) = well_formed(election, s, t) {
        return Some(f);
    }
    let key = rules.election_key(s.election_id)?.as_ref().ok()?;
    let opened = open(key.public_key.point(), s);
    let stated = election.candidates.iter().position(|c| c.id == s.choice);
    if opened.is_some() && opened == stated {
        return None;
    }
    let found = match opened {
        Some(i) => format!("a vote for candidate {}", election.candidates[i].id),
        None => "no vote for a single candidate (the randomness is not the ciphertexts')".into(),
    };
    Some(
        Finding::new(
            CheckId::TxSpoiledOpens,
            "spoiled_ballot_mismatch",
            format!("a vote for candidate {}, the voter's confirmed choice", s.choice),
            found,
            format!(
                "the booth of {} encrypted something else than what the voter confirmed (spoiled ballot {})",
                rules.describe(&s.origin),
                s.tracking_code
            ),
        )
        .rule(26, 0),
    )
}

/// The index of the one candidate every ciphertext opens to under `h`
/// with its randomness, or `None` when one does not open to 0 or 1 or
/// they do not hold exactly one 1.
fn open(h: &RistrettoPoint, s: &SpoiledBallotTx) -> Option<usize> {
    let mut one = None;
    for (i, (ct, r)) in s.ciphertexts.iter().zip(&s.randomness).enumerate() {
        if *ct.a.point() != RISTRETTO_BASEPOINT_POINT * r.0 {
            return None;
        }
        let m = ct.b.point() - h * r.0;
        if m == RISTRETTO_BASEPOINT_POINT && one.is_none() {
            one = Some(i);
        } else if m != RistrettoPoint::identity() {
            return None;
        }
    }
    one
}

/// Rule 18u, in the order PROTOCOL.md writes it (the integers are
/// [`super::transaction`]'s, with every transaction's).
fn well_formed(election: &Election, s: &SpoiledBallotTx, t: Option<u64>) -> Option<Finding> {
    let f = |check, code, expected: String, found: String, message: &str| {
        Some(Finding::new(check, code, expected, found, message).rule(18, 20))
    };
    let computed = tracking_code(s)?;
    if computed != s.tracking_code {
        return f(
            CheckId::TxSpoiledBallot,
            "wrong_hash",
            computed.to_hex(),
            s.tracking_code.to_hex(),
            "the spoiled ballot's tracking code is not its ciphertexts'",
        )
        .map(|x| x.detail("tracking_code"));
    }
    if s.spoiled_at_ms < election.opens_at || s.spoiled_at_ms >= election.closes_at {
        return f(
            CheckId::TxTiming,
            "election_not_open",
            format!(
                "{} <= spoiled_at_ms < {}",
                election.opens_at, election.closes_at
            ),
            format!("spoiled_at_ms {}", s.spoiled_at_ms),
            "a ballot spoiled while the election was not open",
        );
    }
    if let Some(x) = after_block("spoiled_at_ms", s.spoiled_at_ms, t, 20) {
        return Some(x);
    }
    let n = election.candidates.len();
    if s.ciphertexts.len() != n || s.randomness.len() != n {
        return f(
            CheckId::TxSpoiledBallot,
            "bad_spoiled_ballot",
            format!("{n} ciphertexts and {n} randomness values"),
            format!("{} and {}", s.ciphertexts.len(), s.randomness.len()),
            "a spoiled ballot without one ciphertext and one randomness value per candidate",
        );
    }
    if !election.candidates.iter().any(|c| c.id == s.choice) {
        return f(
            CheckId::TxSpoiledBallot,
            "bad_spoiled_ballot",
            "a candidate id of the election".into(),
            s.choice.to_string(),
            "a spoiled ballot whose stated choice is not a candidate of its election",
        );
    }
    None
}
