//! The report of an audit: each source's line, each chain's tally, the
//! checks from the board, and the outcome in one sentence.

use super::{AuditOptions, Audited, Board, now_ms};
use crate::checks::ChainState;
use crate::checks::tally::ElectionDecryption;
use crate::protocol::{ChainRules, Hash32};
use crate::report::{
    CandidateTally, CheckReport, ElectionTally, Outcome, REPORT_FORMAT, Reference, Report,
    SourceReport, TallyReport, Verdict, percentage,
};

/// When the audit started, and the clock its rules used.
pub(super) struct Times {
    pub started: u64,
    pub now: u64,
}

/// The report of the audit of `sources`.
pub(super) fn report(
    opts: &AuditOptions,
    times: Times,
    sources: &[Audited],
    board: Board,
    reference: Reference,
) -> Report {
    let checks = board.into_reports();
    let any_fail = checks.iter().any(|c| c.verdict == Verdict::Fail);
    let any_error = sources.iter().any(|a| a.error.is_some());
    let (outcome, exit_code) = if any_fail {
        (Outcome::Discrepancies, 1)
    } else if any_error {
        (Outcome::Incomplete, 2)
    } else {
        (Outcome::Verified, 0)
    };
    let tallies = sources
        .iter()
        .filter_map(|a| match (&a.state, &a.rules) {
            (Some(state), Some(rules)) => Some(tally_report(
                &a.name,
                rules,
                state,
                a.head(),
                &a.decryptions,
            )),
            _ => None,
        })
        .collect();
    let source_reports = sources
        .iter()
        .map(|a| source_report(a, reference.chain_id))
        .collect();
    Report {
        format: REPORT_FORMAT,
        tool: format!("evote-audit {}", env!("CARGO_PKG_VERSION")),
        command: opts.command.clone(),
        started_at_ms: times.started,
        finished_at_ms: now_ms(),
        now_ms: times.now,
        outcome,
        exit_code,
        summary: summary(outcome, &checks, sources),
        reference,
        sources: source_reports,
        checks,
        tallies,
    }
}

fn source_report(a: &Audited, reference: Option<Hash32>) -> SourceReport {
    let o = a.opened.as_ref();
    SourceReport {
        name: a.name.clone(),
        kind: a.kind,
        location: a.location.clone(),
        node_id: o.and_then(|o| o.node_id),
        role: o.and_then(|o| o.role.clone()),
        status: a.status.to_string(),
        error: a.error.clone(),
        chain_id: a.chain_id(),
        chain_name: a.genesis.as_ref().map(|g| g.chain_name.clone()),
        on_reference_chain: reference.is_some() && a.chain_id() == reference,
        height: a.records.len() as u64,
        head_hash: if a.state.is_some() { a.head() } else { None },
        stated_height: o.and_then(|o| o.stated_height),
        lag: a.lag,
        diverges_at: a.diverges_at,
        blocks_checked: a.state.as_ref().map_or(0, |s| s.blocks),
        transactions_checked: a.state.as_ref().map_or(0, |s| s.transactions),
        notes: a.notes.clone(),
    }
}

/// The outcome in one sentence.
fn summary(outcome: Outcome, checks: &[CheckReport], sources: &[Audited]) -> String {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| format!("{} ({})", c.id, c.failures_total))
        .collect();
    let passed = checks.iter().filter(|c| c.verdict == Verdict::Pass).count();
    let skipped = checks.iter().filter(|c| c.verdict == Verdict::Skip).count();
    let ballots: u64 = sources
        .iter()
        .filter_map(|a| a.state.as_ref().map(|s| s.ballots))
        .max()
        .unwrap_or(0);
    let height = sources.iter().map(|a| a.records.len()).max().unwrap_or(0);
    let unread: Vec<&str> = sources
        .iter()
        .filter(|a| a.error.is_some())
        .map(|a| a.name.as_str())
        .collect();
    match outcome {
        Outcome::Verified => format!(
            "VERIFIED: every chain is sound{} ({} source(s), height {height}, {ballots} ballot(s); {passed} checks passed, {skipped} not applicable)",
            if sources.len() > 1 {
                " and the sources agree"
            } else {
                ""
            },
            sources.len()
        ),
        Outcome::Discrepancies => {
            let mut s = format!(
                "DISCREPANCIES FOUND: {} check(s) failed: {}",
                failed.len(),
                failed.join(", ")
            );
            if !unread.is_empty() {
                s.push_str(&format!("; not audited (fully): {}", unread.join(", ")));
            }
            s
        }
        Outcome::Incomplete => format!(
            "INCOMPLETE: nothing failed on what was audited, but {} could not be audited (fully)",
            unread.join(", ")
        ),
    }
}

fn tally_report(
    name: &str,
    rules: &ChainRules,
    state: &ChainState,
    head: Option<Hash32>,
    decryptions: &[ElectionDecryption],
) -> TallyReport {
    let elections = rules
        .genesis
        .elections
        .iter()
        .zip(decryptions)
        .map(|(e, d)| {
            let result = d.result();
            let counts = result.and_then(|t| t.result.as_ref().ok());
            let (status, reason) = match (result, counts) {
                (Some(_), Some(_)) => ("decrypted", None),
                (Some(t), None) => (
                    "failed",
                    t.result.as_ref().err().map(|err| {
                        format!(
                            "the shares of the tally at height {} do not combine: {}: {err}",
                            t.tally_height,
                            err.code()
                        )
                    }),
                ),
                (None, _) => ("pending", d.pending.clone()),
            };
            let in_tally = result.map(|t| t.ballot_count);
            let candidates = e
                .candidates
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    let votes = counts.and_then(|v| v.get(k).copied());
                    CandidateTally {
                        candidate_id: c.id,
                        name: c.name.clone(),
                        votes,
                        percentage: votes.map(|n| percentage(n, in_tally.unwrap_or(0))),
                    }
                })
                .collect();
            ElectionTally {
                election_id: e.id,
                name: e.name.clone(),
                total: d.ballots,
                status,
                reason,
                tally_height: result.map(|t| t.tally_height),
                ballots_in_tally: in_tally,
                trustees: result.map_or_else(Vec::new, |t| t.shares.iter().map(|s| s.0).collect()),
                candidates,
            }
        })
        .collect();
    TallyReport {
        source: name.to_string(),
        height: state.parent.height,
        head_hash: head,
        elections,
        stations: crate::checks::stations::station_rows(rules, state),
    }
}
