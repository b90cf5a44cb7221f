//! `station.poll_book`: each polling station's poll book against its
//! ballots (PROTOCOL.md §4b, §4d). A station checks a voter in (a signed
//! record on the chain) before the booth takes their card, so in an
//! election with a roll no station can have counted more ballots, online
//! and from its fallback chain together, than it checked voters in; and
//! the counts its own closing record signs cannot be below what the chain
//! holds of it (a ballot or check-in added behind its back). The chain may
//! hold less than a closing record says: a voter checked in or a card used
//! at two stations cut off from each other is kept once when they meet.

use serde::Serialize;

use super::chain::{ChainState, StationCounts};
use super::tally::Comparison;
use super::{CheckId, Finding};
use crate::protocol::{ChainRules, PublicKey};

/// One row of the per-station table.
#[derive(Debug, Clone, Serialize)]
pub struct StationRow {
    pub election_id: u64,
    pub station: PublicKey,
    /// Its name in the genesis.
    pub name: Option<String>,
    pub checked_in: u64,
    pub cast_there: u64,
    pub from_fallback: u64,
    /// What its closing record signs: (ballots, check-ins).
    pub closing_record: Option<(u64, u64)>,
    /// Whether the election has a roll (the poll book is checked).
    pub roll: bool,
    /// `ok`, or what is wrong, in words.
    pub verdict: String,
}

/// Every appliance that did anything in an election on the chain (or
/// closed it), election by election.
pub fn station_rows(rules: &ChainRules, state: &ChainState) -> Vec<StationRow> {
    let mut keys: Vec<(u64, PublicKey)> = state.stations.keys().copied().collect();
    keys.extend(state.closes.keys().copied());
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(election_id, station)| {
            let counts = state
                .stations
                .get(&(election_id, station))
                .copied()
                .unwrap_or_default();
            let close = state
                .closes
                .get(&(election_id, station))
                .map(|(d, _)| (d.ballots, d.check_ins));
            let roll = rules
                .election(election_id)
                .is_some_and(|e| e.roll().is_some());
            let problems = problems(&counts, close, roll);
            StationRow {
                election_id,
                station,
                name: rules.name_of(&station).map(str::to_string),
                checked_in: counts.check_ins,
                cast_there: counts.ballots,
                from_fallback: counts.fallback_ballots,
                closing_record: close,
                roll,
                verdict: if problems.is_empty() {
                    "ok".into()
                } else {
                    problems
                        .iter()
                        .map(|p| p.1.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                },
            }
        })
        .collect()
}

/// What is wrong with one station's counts: (error code, words).
fn problems(
    c: &StationCounts,
    close: Option<(u64, u64)>,
    roll: bool,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let ballots = c.ballots + c.fallback_ballots;
    if roll && ballots > c.check_ins {
        out.push((
            "too_many_ballots",
            format!(
                "FAIL: {ballots} ballot(s) counted and {} voter(s) checked in",
                c.check_ins
            ),
        ));
    }
    if let Some((closed_ballots, closed_check_ins)) = close {
        if ballots > closed_ballots {
            out.push((
                "close_mismatch",
                format!(
                    "FAIL: {ballots} ballot(s) on the chain, its closing record signs {closed_ballots}"
                ),
            ));
        }
        if c.check_ins > closed_check_ins {
            out.push((
                "close_mismatch",
                format!(
                    "FAIL: {} check-in(s) on the chain, its closing record signs {closed_check_ins}",
                    c.check_ins
                ),
            ));
        }
    }
    out
}

/// `station.poll_book` over a chain: one item per (election, station).
pub fn poll_book(rules: &ChainRules, state: &ChainState) -> Comparison {
    let mut out = Comparison::default();
    for row in station_rows(rules, state) {
        out.compared += 1;
        let counts = StationCounts {
            check_ins: row.checked_in,
            ballots: row.cast_there,
            fallback_ballots: row.from_fallback,
        };
        let who = rules.describe(&row.station);
        for (code, words) in problems(&counts, row.closing_record, row.roll) {
            let expected = if code == "too_many_ballots" {
                "at most one ballot per voter the station checked in".to_string()
            } else {
                "no more on the chain than the station's closing record signs".to_string()
            };
            out.findings.push(Finding::new(
                CheckId::StationPollBook,
                code,
                expected,
                words.trim_start_matches("FAIL: ").to_string(),
                format!("election {}, station {who}: {words}", row.election_id),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(check_ins: u64, ballots: u64, fallback_ballots: u64) -> StationCounts {
        StationCounts {
            check_ins,
            ballots,
            fallback_ballots,
        }
    }

    #[test]
    fn more_ballots_than_check_ins_fails_only_with_a_roll() {
        assert!(problems(&counts(3, 2, 1), None, true).is_empty());
        let p = problems(&counts(3, 2, 2), None, true);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "too_many_ballots");
        assert!(p[0].1.contains("4 ballot(s) counted and 3"), "{}", p[0].1);
        assert!(problems(&counts(0, 5, 0), None, false).is_empty());
    }

    #[test]
    fn the_chain_may_hold_less_than_a_closing_record_signs_never_more() {
        assert!(problems(&counts(3, 2, 0), Some((3, 4)), true).is_empty());
        let p = problems(&counts(3, 3, 0), Some((2, 3)), true);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "close_mismatch");
        let p = problems(&counts(4, 1, 0), Some((1, 3)), true);
        assert_eq!(p.len(), 1);
        assert!(p[0].1.contains("4 check-in(s)"), "{}", p[0].1);
    }
}
