//! `station.codes`: a source's chain of confirmation codes against the
//! heads its closing records sign (PROTOCOL.md §4d). Each code is
//! `H({"type": "confirmation_code", "prev_code", "ballot_hash"})`, the first
//! with `prev_code` 32 zero bytes, numbered from 1; a closing record signs
//! how many codes its appliance had issued and the last. A code removed,
//! changed or put back out of order breaks the chain, and a chain
//! recomputed without it no longer reaches the signed head.

use serde::Serialize;

use super::chain::ChainState;
use super::tally::Comparison;
use super::{CheckId, Finding};
use crate::protocol::encoding::hash_of;
use crate::protocol::{ChainRules, Hash32, PublicKey};
use crate::sources::ServedCode;

#[derive(Serialize)]
struct CodeInput<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    prev_code: &'a Hash32,
    ballot_hash: &'a Hash32,
}

/// The code after `prev` for a ballot (§4d).
pub fn next_code(prev: &Hash32, ballot_hash: &Hash32) -> Hash32 {
    hash_of(&CodeInput {
        kind: "confirmation_code",
        prev_code: prev,
        ballot_hash,
    })
    .expect("a code's input encodes")
}

fn broken(origin: &str, expected: String, found: String, why: &str) -> Finding {
    Finding::new(
        CheckId::StationCodes,
        "code_chain_broken",
        expected,
        found,
        format!("the confirmation codes of {origin}: {why}"),
    )
}

/// Checks the codes `origin` serves: numbered 1, 2, ... each following
/// from the one before, and reaching the head each of its closing records
/// on the chain signs.
pub fn check_codes(
    rules: &ChainRules,
    state: &ChainState,
    origin: &PublicKey,
    codes: &[ServedCode],
) -> Comparison {
    let mut out = Comparison::default();
    let who = rules.describe(origin);
    // heads[n] is the head after n codes.
    let mut heads = vec![Hash32([0; 32])];
    for (i, c) in codes.iter().enumerate() {
        out.compared += 1;
        let want = i as u64 + 1;
        if c.seq != want {
            out.findings.push(broken(
                &who,
                format!("code number {want}"),
                format!("code number {}", c.seq),
                "a code is missing (the numbers skip)",
            ));
            return out;
        }
        let Some(ballot) = &c.ballot_hash else {
            out.skipped.push(format!(
                "code {want} of {who} was issued before codes kept their ballot's hash"
            ));
            return out;
        };
        let prev = heads[i];
        let expected = next_code(&prev, ballot);
        if c.code != expected {
            out.findings.push(broken(
                &who,
                format!("{expected}"),
                format!("{}", c.code),
                &format!("code {want} does not follow from the code before it and its ballot"),
            ));
            return out;
        }
        heads.push(expected);
    }
    let mut closes: Vec<_> = state
        .closes
        .iter()
        .filter(|((_, o), _)| o == origin)
        .map(|((e, _), (d, at))| (*e, d.codes.count, d.codes.head, at.tx))
        .collect();
    closes.sort_by_key(|c| c.0);
    for (election, count, head, tx) in closes {
        out.compared += 1;
        let found = usize::try_from(count).ok().and_then(|n| heads.get(n));
        match found {
            None => out.findings.push(
                broken(
                    &who,
                    format!("at least {count} codes (its closing record of election {election})"),
                    format!("{} codes", codes.len()),
                    "codes its closing record signs are missing",
                )
                .tx(tx),
            ),
            Some(h) if *h != head => out.findings.push(
                broken(
                    &who,
                    format!(
                        "{head} after {count} codes (its closing record of election {election})"
                    ),
                    format!("{h}"),
                    "the codes do not lead to the head its closing record signs",
                )
                .tx(tx),
            ),
            Some(_) => {}
        }
    }
    out
}
