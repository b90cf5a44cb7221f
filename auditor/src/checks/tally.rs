//! The tally as the chain proves it (PROTOCOL.md §7, E.5): the encrypted
//! totals recomputed from the ballots, the trustees' valid decryption
//! shares combined into counts, and the comparison of both with what a
//! source states (`GET /api/tally/{id}`, `GET /api/votes/results`, or the
//! rows an appliance derives in its database).

use crate::checks::CheckId;
use crate::checks::{ChainState, Finding, FirstUse};
use crate::protocol::ChainRules;
use crate::protocol::elgamal::{Ciphertext, CryptoError, combine};
use crate::protocol::{Election, Hash32};
use crate::report::percentage;
use crate::sources::{ElectionResults, ReportedResults, StatedTotals};

/// One tally of an election that at least k trustees decrypted on the chain.
#[derive(Debug, Clone)]
pub struct TallyOutcome {
    pub tally_height: u64,
    pub ballot_count: u64,
    /// (trustee index, where its share is), in chain order.
    pub shares: Vec<(u32, FirstUse)>,
    /// The counts per candidate in genesis order, or why the shares do not
    /// combine (E.5 steps 6-8).
    pub result: Result<Vec<u64>, CryptoError>,
}

/// What the chain says of one election's result.
#[derive(Debug, Clone)]
pub struct ElectionDecryption {
    pub election_id: u64,
    /// Ballots of the election on the chain (its head).
    pub ballots: u64,
    /// Every tally with at least k valid shares, by height.
    pub tallies: Vec<TallyOutcome>,
    /// Why no tally is decrypted yet, when none is.
    pub pending: Option<String>,
}

impl ElectionDecryption {
    /// The result an appliance reports: the newest tally with k shares.
    pub fn result(&self) -> Option<&TallyOutcome> {
        self.tallies.last()
    }
}

/// Combines, for each election, the valid shares of every tally that k
/// trustees decrypted (the shares passed rule 21 as the chain was read).
pub fn decrypt_all(rules: &ChainRules, state: &ChainState) -> Vec<ElectionDecryption> {
    rules
        .genesis
        .elections
        .iter()
        .map(|e| decrypt_election(rules, state, e))
        .collect()
}

fn decrypt_election(rules: &ChainRules, state: &ChainState, e: &Election) -> ElectionDecryption {
    let k = e.trustees.threshold as usize;
    let ballots = state.tallies.get(&e.id).map_or(0, |t| t.ballots);
    let mut tallies = Vec::new();
    let mut most: Option<(u64, usize)> = None;
    for ((_, th), shares) in state.shares.range((e.id, 0)..=(e.id, u64::MAX)) {
        if most.is_none_or(|(_, n)| shares.len() >= n) {
            most = Some((*th, shares.len()));
        }
        if shares.len() < k {
            continue;
        }
        let (count, totals) = state
            .tally_at(e.id, *th)
            .unwrap_or_else(|| (0, vec![Ciphertext::zero(); e.candidates.len()]));
        let parts: Vec<_> = shares.iter().map(|s| s.share.clone()).collect();
        let result = match rules.election_key(e.id) {
            Some(Ok(key)) => combine(&rules.chain_id.0, key, &totals, &parts, count),
            Some(Err(err)) => Err(err.clone()),
            None => Err(CryptoError::BadParams("the election has no key".into())),
        };
        tallies.push(TallyOutcome {
            tally_height: *th,
            ballot_count: count,
            shares: shares
                .iter()
                .map(|s| (s.share.trustee_index, s.at))
                .collect(),
            result,
        });
    }
    let pending = tallies.is_empty().then(|| {
        let shares = match most {
            None => "no decryption share is on the chain yet".to_string(),
            Some((th, n)) => format!(
                "{n} of the {k} decryption shares needed are on the chain (tally at height {th})"
            ),
        };
        let time = state.block_time(state.parent.height).unwrap_or(0);
        if time < e.closes_at {
            format!(
                "tally pending: election {} is still open on this chain (closes at {}, the last block is stamped {time}); {shares}",
                e.id, e.closes_at
            )
        } else {
            format!(
                "tally pending: election {} has closed; {shares}",
                e.id
            )
        }
    });
    ElectionDecryption {
        election_id: e.id,
        ballots,
        tallies,
        pending,
    }
}

/// What a comparison found: failures, and what could not be compared.
#[derive(Debug, Default)]
pub struct Comparison {
    pub findings: Vec<Finding>,
    /// Items compared (elections, stated totals).
    pub compared: u64,
    /// Why something was not compared, one line each.
    pub skipped: Vec<String>,
}

fn mismatch(check: CheckId, expected: String, found: String, message: String) -> Finding {
    Finding::new(check, "results_mismatch", expected, found, message)
}

/// `tally.matches`: a source's reported results against the chain.
pub fn compare_results(
    rules: &ChainRules,
    decryptions: &[ElectionDecryption],
    reported: &ReportedResults,
    height: u64,
) -> Comparison {
    let mut out = Comparison::default();
    for (e, d) in rules.genesis.elections.iter().zip(decryptions) {
        let Some(r) = reported.elections.get(&e.id) else {
            continue;
        };
        let before = out.findings.len();
        compare_election(e, d, r, &mut out);
        for f in &mut out.findings[before..] {
            f.height = Some(height);
        }
    }
    out
}

fn compare_election(
    e: &Election,
    d: &ElectionDecryption,
    r: &ElectionResults,
    out: &mut Comparison,
) {
    let m = CheckId::TallyMatches;
    let id = e.id;
    if r.total != d.ballots {
        out.findings.push(mismatch(
            m,
            format!("{} ballot(s), as its chain holds", d.ballots),
            format!("total_votes {} reported", r.total),
            format!("election {id}: the reported total differs from the ballots on the chain"),
        ));
    }
    for c in r
        .counts
        .keys()
        .filter(|c| !e.candidates.iter().any(|x| x.id == **c))
    {
        out.findings.push(mismatch(
            m,
            "only candidates of the genesis".into(),
            format!("a row for candidate {c}"),
            format!("election {id}: the results list a candidate the genesis does not hold"),
        ));
    }
    let reports_counts =
        r.status.as_deref() == Some("decrypted") || r.counts.values().any(|(n, _)| n.is_some());
    match d.result() {
        None => {
            if reports_counts {
                out.findings.push(mismatch(
                    m,
                    "no counts: fewer than k valid decryption shares are on the chain".into(),
                    format!("status {:?} with counts", r.status.as_deref().unwrap_or("-")),
                    format!("election {id}: the source reports counts its chain cannot produce"),
                ));
            } else {
                let why = d.pending.clone().unwrap_or_default();
                out.skipped.push(format!(
                    "election {id}: {why}; counts not compared (total_votes {} compared)",
                    r.total
                ));
                return;
            }
        }
        Some(t) => match &t.result {
            Err(err) => out.skipped.push(format!(
                "election {id}: the chain's shares of the tally at height {} do not combine ({}), see tally.decryption",
                t.tally_height,
                err.code()
            )),
            Ok(counts) => compare_counts(e, t, counts, r, out),
        },
    }
    out.compared += 1;
}

fn compare_counts(
    e: &Election,
    t: &TallyOutcome,
    counts: &[u64],
    r: &ElectionResults,
    out: &mut Comparison,
) {
    let m = CheckId::TallyMatches;
    let id = e.id;
    if r.status.as_deref() != Some("decrypted") {
        out.findings.push(mismatch(
            m,
            format!(
                "status \"decrypted\": {} valid shares of the tally at height {} are on the chain",
                t.shares.len(),
                t.tally_height
            ),
            format!("status {:?}", r.status.as_deref().unwrap_or("absent")),
            format!(
                "election {id}: the source does not report the decrypted counts its chain holds"
            ),
        ));
        return;
    }
    if let Some(why) = &r.failure {
        out.findings.push(mismatch(
            m,
            format!("the counts of the tally at height {}", t.tally_height),
            why.clone(),
            format!("election {id}: an appliance serving this source could not report its results"),
        ));
        return;
    }
    if let Some(th) = r.tally_height
        && th != t.tally_height
    {
        out.findings.push(mismatch(
            m,
            format!(
                "the tally at height {} (the newest that k trustees decrypted)",
                t.tally_height
            ),
            format!("the tally at height {th}"),
            format!(
                "election {id}: the source reports another tally than its chain's shares decrypt"
            ),
        ));
    }
    if let Some(n) = r.ballots_in_tally
        && n != t.ballot_count
    {
        out.findings.push(mismatch(
            m,
            format!(
                "{} ballot(s) in the tally at height {}",
                t.ballot_count, t.tally_height
            ),
            format!("ballots_in_tally {n}"),
            format!("election {id}: the reported tally holds another number of ballots"),
        ));
    }
    candidate_counts(e, t, counts, r, out);
    named_shares(id, t, r, out);
}

/// Each candidate's reported count and percentage against the decrypted
/// count.
fn candidate_counts(
    e: &Election,
    t: &TallyOutcome,
    counts: &[u64],
    r: &ElectionResults,
    out: &mut Comparison,
) {
    let (m, id) = (CheckId::TallyMatches, e.id);
    for (c, &want) in e.candidates.iter().zip(counts) {
        let who = format!("election {id} candidate {} ({})", c.id, c.name);
        match r.counts.get(&c.id) {
            None => out.findings.push(mismatch(
                m,
                format!("{want} vote(s), as the chain's shares decrypt"),
                "the candidate is missing from the results".into(),
                who,
            )),
            Some((n, _)) if *n != Some(want) => out.findings.push(mismatch(
                m,
                format!("{want} vote(s), as the chain's shares decrypt"),
                match n {
                    Some(n) => format!("{n} vote(s) reported"),
                    None => "no count reported".into(),
                },
                format!("{who}: the reported count differs from the decrypted tally"),
            )),
            Some((_, Some(p))) => {
                let pct = percentage(want, t.ballot_count);
                if (p - pct).abs() > 0.005 {
                    out.findings.push(mismatch(
                        m,
                        format!("{pct:.2} %"),
                        format!("{p} %"),
                        format!("{who}: the reported percentage is wrong"),
                    ));
                }
            }
            Some(_) => {}
        }
    }
}

/// The shares the source names are the ones on its chain.
fn named_shares(id: u64, t: &TallyOutcome, r: &ElectionResults, out: &mut Comparison) {
    let m = CheckId::TallyMatches;
    let ours: Vec<(u32, Hash32)> = t.shares.iter().map(|(j, at)| (*j, at.tx)).collect();
    let theirs: Vec<(u32, Option<Hash32>)> = r.shares.clone();
    let named = |j: u32, tx: &Option<Hash32>| {
        ours.iter()
            .any(|(k, h)| *k == j && tx.is_none_or(|x| x == *h))
    };
    if !theirs.is_empty()
        && (theirs.len() != ours.len() || !theirs.iter().all(|(j, tx)| named(*j, tx)))
    {
        out.findings.push(mismatch(
            m,
            format!(
                "the shares of trustees {:?} (transactions {})",
                ours.iter().map(|s| s.0).collect::<Vec<_>>(),
                ours.iter()
                    .map(|s| s.1.short())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "shares of trustees {:?}",
                theirs.iter().map(|s| s.0).collect::<Vec<_>>()
            ),
            format!("election {id}: the source names other decryption shares than its chain holds"),
        ));
    }
}

/// `tally.decryption`: every tally with k valid shares combines.
pub fn decryption_findings(decryptions: &[ElectionDecryption]) -> Comparison {
    let mut out = Comparison::default();
    for d in decryptions {
        for t in &d.tallies {
            out.compared += 1;
            if let Err(err) = &t.result {
                let trustees: Vec<u32> = t.shares.iter().map(|s| s.0).collect();
                out.findings.push(
                    Finding::new(
                        CheckId::TallyDecryption,
                        err.code(),
                        format!(
                            "counts in 0..={} adding up to the {} ballot(s) of the tally",
                            t.ballot_count, t.ballot_count
                        ),
                        format!("{}: {err}", err.code()),
                        format!(
                            "election {}: the valid shares of trustees {trustees:?} of the tally at height {} do not decrypt to a count per candidate: a ballot counted there is not a vote for exactly one candidate",
                            d.election_id, t.tally_height
                        ),
                    )
                    .at(t.tally_height),
                );
            }
        }
        if d.tallies.is_empty() {
            out.skipped
                .push(d.pending.clone().unwrap_or_else(|| "tally pending".into()));
        }
    }
    out
}

fn same_totals(a: &[Ciphertext], b: &[Ciphertext]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// `tally.encrypted_totals`: encrypted totals a source states against the
/// homomorphic sums of its chain's ballots.
pub fn compare_totals(state: &ChainState, stated: &[StatedTotals]) -> Comparison {
    let mut out = Comparison::default();
    for st in stated {
        let e = st.election_id;
        let ours = if st.at_head {
            state.tally_at(e, state.parent.height)
        } else {
            state.tally_at(e, st.height)
        };
        let Some((count, totals)) = ours else {
            out.skipped.push(if st.height > state.parent.height {
                format!(
                    "election {e}: {} is beyond the {} blocks audited",
                    st.what, state.parent.height
                )
            } else {
                format!(
                    "election {e}: {} is from before the close and below the audited head; the auditor keeps only the head's tally and those after the close",
                    st.what
                )
            });
            continue;
        };
        out.compared += 1;
        let t = CheckId::TallyEncryptedTotals;
        if count != st.ballot_count {
            out.findings.push(
                Finding::new(
                    t,
                    "totals_mismatch",
                    format!("{count} ballot(s), as the chain holds"),
                    format!("{} ballot(s)", st.ballot_count),
                    format!("election {e}: {} counts another number of ballots", st.what),
                )
                .at(st.height),
            );
        }
        if !same_totals(&totals, &st.aggregate) {
            let first = totals
                .iter()
                .zip(&st.aggregate)
                .position(|(x, y)| x != y)
                .unwrap_or(totals.len().min(st.aggregate.len()));
            out.findings.push(
                Finding::new(
                    t,
                    "totals_mismatch",
                    format!(
                        "{} per-candidate sums of the chain's ciphertexts{}",
                        totals.len(),
                        totals
                            .get(first)
                            .map(|c| format!("; candidate {first}: A = {}", c.a.to_hex()))
                            .unwrap_or_default()
                    ),
                    format!(
                        "{} sums{}",
                        st.aggregate.len(),
                        st.aggregate
                            .get(first)
                            .map(|c| format!("; candidate {first}: A = {}", c.a.to_hex()))
                            .unwrap_or_default()
                    ),
                    format!(
                        "election {e}: {} are not the homomorphic sums of the ballots on the chain",
                        st.what
                    ),
                )
                .at(st.height),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests;
