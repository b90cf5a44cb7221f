//! The tally checks against what a source reports.

use super::*;
use crate::report::percentage;
use crate::sources::{ElectionResults, ReportedResults, StatedTotals};
use crate::synth::{SynthBlock, SynthChain, T0, short_election};

const NOW: u64 = T0 + 86_400_000;

/// 12 ballots (4 per candidate), then the close and, when `trustees` is
/// not empty, their decryption shares.
fn chain(trustees: &[u32]) -> (SynthChain, Vec<SynthBlock>) {
    let (c, mut blocks) = short_election();
    if !trustees.is_empty() {
        let t = c.tally_blocks(&blocks, trustees);
        blocks.extend(t);
    }
    (c, blocks)
}

fn honest(counts: Option<&[u64]>, ballots: u64) -> ReportedResults {
    let mut r = ElectionResults {
        total: 12,
        status: Some(
            if counts.is_some() {
                "decrypted"
            } else {
                "pending"
            }
            .into(),
        ),
        ..ElectionResults::default()
    };
    for c in 1..=3u64 {
        let n = counts.map(|v| v[c as usize - 1]);
        r.counts.insert(c, (n, n.map(|n| percentage(n, ballots))));
    }
    if counts.is_some() {
        r.tally_height = Some(4);
        r.ballots_in_tally = Some(ballots);
    }
    let mut out = ReportedResults::default();
    out.elections.insert(1, r);
    out
}

#[test]
fn decrypted_results_are_compared_count_by_count() {
    let (c, blocks) = chain(&[2, 3]);
    let (rules, state, f, _) = c.audit(&blocks, NOW);
    assert!(f.is_empty(), "{f:#?}");
    let d = decrypt_all(&rules, &state);
    let ok = compare_results(&rules, &d, &honest(Some(&[4, 4, 4]), 12), 5);
    assert!(ok.findings.is_empty(), "{:#?}", ok.findings);
    assert_eq!(ok.compared, 1);

    // A node that moved a vote from candidate 3 to candidate 2.
    let wrong = compare_results(&rules, &d, &honest(Some(&[4, 5, 3]), 12), 5);
    let msgs: Vec<&str> = wrong.findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(wrong.findings.len(), 2, "{msgs:#?}");
    assert!(msgs[0].contains("candidate 2") && msgs[1].contains("candidate 3"));
    assert!(
        wrong
            .findings
            .iter()
            .all(|f| f.check == "tally.matches" && f.height == Some(5))
    );
    assert_eq!(
        wrong.findings[0].expected,
        "4 vote(s), as the chain's shares decrypt"
    );

    // A node that says pending although k shares are on its chain.
    let pending = compare_results(&rules, &d, &honest(None, 12), 5);
    assert_eq!(pending.findings.len(), 1);
    assert!(
        pending.findings[0]
            .message
            .contains("does not report the decrypted counts")
    );

    // Another total.
    let mut r = honest(Some(&[4, 4, 4]), 12);
    r.elections.get_mut(&1).unwrap().total = 11;
    let off = compare_results(&rules, &d, &r, 5);
    assert_eq!(off.findings.len(), 1);
    assert!(off.findings[0].message.contains("total"));
}

#[test]
fn pending_results_skip_the_counts_with_the_reason() {
    let (c, blocks) = chain(&[]);
    let (rules, state, _, _) = c.audit(&blocks, NOW);
    let d = decrypt_all(&rules, &state);
    let cmp = compare_results(&rules, &d, &honest(None, 12), 3);
    assert!(cmp.findings.is_empty());
    assert_eq!(cmp.compared, 0);
    assert!(
        cmp.skipped[0].contains("tally pending"),
        "{:?}",
        cmp.skipped
    );
    assert!(cmp.skipped[0].contains("total_votes 12 compared"));
    // Counts without shares on the chain are a discrepancy.
    let made_up = compare_results(&rules, &d, &honest(Some(&[4, 4, 4]), 12), 3);
    assert_eq!(made_up.findings.len(), 1, "{:#?}", made_up.findings);
    let dec = decryption_findings(&d);
    assert_eq!(dec.compared, 0);
    assert!(
        dec.skipped[0].contains("no decryption share"),
        "{:?}",
        dec.skipped
    );
    // One share of two: still pending, and said so.
    let (c, blocks) = chain(&[1]);
    let (rules, state, _, _) = c.audit(&blocks, NOW);
    let d = decrypt_all(&rules, &state);
    assert!(d[0].pending.as_ref().unwrap().contains("1 of the 2"));
}

#[test]
fn stated_totals_must_be_the_sums_of_the_chains_ballots() {
    let (c, blocks) = chain(&[1, 2]);
    let (_, state, _, _) = c.audit(&blocks, NOW);
    let (count, agg) = SynthChain::aggregate(&blocks);
    let stated =
        |height: u64, ballot_count: u64, aggregate: Vec<crate::protocol::elgamal::Ciphertext>| {
            StatedTotals {
                election_id: 1,
                height,
                ballot_count,
                aggregate,
                what: "GET /api/tally/1".into(),
                at_head: false,
            }
        };
    let ok = compare_totals(&state, &[stated(4, count, agg.clone())]);
    assert!(ok.findings.is_empty(), "{:#?}", ok.findings);
    assert_eq!(ok.compared, 1);
    // Candidate 1's total swapped with candidate 2's.
    let mut swapped = agg.clone();
    swapped.swap(0, 1);
    let bad = compare_totals(&state, &[stated(4, count, swapped)]);
    assert_eq!(bad.findings.len(), 1);
    assert_eq!(bad.findings[0].code, "totals_mismatch");
    assert!(bad.findings[0].expected.contains("candidate 0"));
    let fewer = compare_totals(&state, &[stated(4, count - 1, agg.clone())]);
    assert_eq!(fewer.findings.len(), 1);
    // Before the close and below the head: not kept, so not compared.
    let old = compare_totals(&state, &[stated(2, 8, agg)]);
    assert_eq!((old.compared, old.findings.len()), (0, 0));
    assert!(old.skipped[0].contains("before the close"));
}
