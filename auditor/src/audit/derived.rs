//! The checks of what a source derives from its chain once the chain is
//! read: the results it reports, the encrypted totals it states, the
//! decryption of the tally, and its fallback chains.

use std::time::Duration;

use super::source::Chain;
use super::{Audited, Board};
use crate::checks::CheckId;
use crate::checks::fallback::{MainChain, check_chains};
use crate::checks::tally::{
    Comparison, compare_results, compare_totals, decrypt_all, decryption_findings,
};
use crate::sources::{Codes, Fallbacks, Opened, ReportedResults, SourceError, SourceKind};

/// Puts a comparison on the board: its failures, then PASS (with a note
/// on what was left out), or SKIP with the reasons when nothing could be
/// compared.
fn record(board: &mut Board, i: usize, check: CheckId, c: Comparison, nothing: &str) {
    let why = c.skipped.join("; ");
    let failed = !c.findings.is_empty();
    for f in c.findings {
        board.fail(i, f);
    }
    if c.compared > 0 || failed {
        board.checked(check, i, c.compared);
        if !why.is_empty() {
            board.note(check, i, why);
        }
    } else if why.is_empty() {
        board.skip(check, i, nothing);
    } else {
        board.skip(check, i, why);
    }
}

fn stop(a: &mut Audited, what: &str, e: &SourceError) -> String {
    a.error.get_or_insert(format!("{what}: {e}"));
    a.status = "incomplete";
    format!("{what}: {e}")
}

/// `tally.matches`, `tally.encrypted_totals` and `tally.decryption`.
pub(super) fn tally_checks(
    a: &mut Audited,
    opened: &Opened,
    chain: &mut Chain<'_>,
    board: &mut Board,
    complete: bool,
) {
    let (i, rules) = (chain.i, chain.rules);
    let ids = [
        CheckId::TallyMatches,
        CheckId::TallyEncryptedTotals,
        CheckId::TallyDecryption,
    ];
    if !complete {
        for c in ids {
            board.skip(c, i, "the chain could not be read to its end");
        }
        return;
    }
    match results(a, opened, chain, board) {
        Ok(c) => record(board, i, CheckId::TallyMatches, c, "no election to compare"),
        Err(why) => board.skip(CheckId::TallyMatches, i, why),
    }
    match totals(a, opened, chain, board) {
        Ok(c) => record(
            board,
            i,
            CheckId::TallyEncryptedTotals,
            c,
            "no encrypted totals to compare",
        ),
        Err(why) => board.skip(CheckId::TallyEncryptedTotals, i, why),
    }
    let d = decrypt_all(rules, &chain.state);
    record(
        board,
        i,
        CheckId::TallyDecryption,
        decryption_findings(&d),
        "no election",
    );
    a.decryptions = d;
}

/// The reported results against the chain. A node may have committed
/// blocks since its status was read, or answer between committing a block
/// and updating its count: the chain is followed to the height the
/// results refer to, and a difference is confirmed by asking again.
fn results(
    a: &mut Audited,
    opened: &Opened,
    chain: &mut Chain<'_>,
    board: &mut Board,
) -> Result<Comparison, String> {
    let rules = chain.rules;
    let mut last: Option<ReportedResults> = None;
    for _attempt in 0..4 {
        let reported = chain
            .source
            .results(rules)
            .map_err(|e| stop(a, "reading its results", &e))?;
        let audited = chain.height();
        let heights = reported.elections.values().filter_map(|e| e.at_height);
        if let Some(at) = heights.clone().max()
            && at > audited
        {
            chain
                .advance(board, Some(at))
                .map_err(|e| stop(a, &format!("reading its chain to height {at}"), &e))?;
            continue;
        }
        if let Some(at) = heights.min()
            && at < audited
        {
            return Err(format!(
                "the node's results refer to height {at}, below the {audited} blocks it served"
            ));
        }
        let d = decrypt_all(rules, &chain.state);
        let found = compare_results(rules, &d, &reported, audited);
        let settled = found.findings.is_empty()
            || opened.kind == SourceKind::Db
            || last
                .as_ref()
                .is_some_and(|l| l.elections == reported.elections);
        if settled {
            return Ok(found);
        }
        last = Some(reported);
        std::thread::sleep(Duration::from_millis(300));
    }
    Err("the node's chain kept growing while its results were read".into())
}

/// The encrypted totals the source states against the chain's.
fn totals(
    a: &mut Audited,
    opened: &Opened,
    chain: &mut Chain<'_>,
    board: &mut Board,
) -> Result<Comparison, String> {
    let stated = chain
        .source
        .totals(chain.rules)
        .map_err(|e| stop(a, "reading its encrypted totals", &e))?;
    let Some(stated) = stated else {
        return Err(match opened.kind {
            SourceKind::Node => "the node does not serve GET /api/tally/{id} (HTTP 404)".into(),
            SourceKind::Db => "the database has no election_tallies table".into(),
        });
    };
    // A node's tally is at its head when asked, which may be past the
    // blocks audited so far.
    if let Some(top) = stated.iter().map(|s| s.height).max()
        && top > chain.height()
        && opened.kind == SourceKind::Node
    {
        chain
            .advance(board, Some(top))
            .map_err(|e| stop(a, &format!("reading its chain to height {top}"), &e))?;
    }
    Ok(compare_totals(&chain.state, &stated))
}

/// `station.poll_book`: each station's ballots against its check-ins and
/// its closing record, once the whole chain is read.
pub(super) fn station_checks(chain: &Chain<'_>, board: &mut Board, complete: bool) {
    let (i, check) = (chain.i, CheckId::StationPollBook);
    if !complete {
        board.skip(check, i, "the chain could not be read to its end");
        return;
    }
    let c = crate::checks::stations::poll_book(chain.rules, &chain.state);
    record(
        board,
        i,
        check,
        c,
        "no station checked a voter in or accepted a ballot",
    );
}

/// `station.codes`: the source's own confirmation codes against the heads
/// its closing records sign.
pub(super) fn code_checks(
    a: &mut Audited,
    chain: &mut Chain<'_>,
    board: &mut Board,
    complete: bool,
) {
    let (i, check) = (chain.i, CheckId::StationCodes);
    if !complete {
        board.skip(check, i, "the chain could not be read to its end");
        return;
    }
    let (origin, codes) = match chain.source.codes() {
        Ok(Codes::Absent(why)) => return board.skip(check, i, why),
        Ok(Codes::Chain { origin, codes }) => (origin, codes),
        Err(e) => {
            let why = stop(a, "reading its confirmation codes", &e);
            return board.skip(check, i, why);
        }
    };
    let Some(origin) = origin else {
        return board.skip(
            check,
            i,
            "the source issued no confirmation code on this chain",
        );
    };
    let c = crate::checks::codes::check_codes(chain.rules, &chain.state, &origin, &codes);
    record(board, i, check, c, "the source issued no confirmation code");
}

/// `fallback.chain` and `fallback.reconciled`.
pub(super) fn fallback_checks(
    a: &mut Audited,
    opened: &Opened,
    chain: &mut Chain<'_>,
    board: &mut Board,
    complete: bool,
) {
    let i = chain.i;
    let both = [CheckId::FallbackChain, CheckId::FallbackReconciled];
    let chains = match chain.source.fallbacks() {
        Ok(Fallbacks::Absent(why)) => {
            for c in both {
                board.skip(c, i, why.clone());
            }
            return;
        }
        Ok(Fallbacks::Chains(c)) => c,
        Err(e) => {
            let why = stop(a, "reading its fallback chains", &e);
            for c in both {
                board.skip(c, i, why.clone());
            }
            return;
        }
    };
    if !complete {
        for c in both {
            board.skip(
                c,
                i,
                "the main chain could not be read to its end, so fallback ballots cannot be traced on it",
            );
        }
        return;
    }
    let main = MainChain {
        rules: chain.rules,
        state: &chain.state,
        records: &chain.records,
        own: opened.node_id,
    };
    let out = check_chains(&main, &chains, chain.cache);
    record(
        board,
        i,
        CheckId::FallbackChain,
        out.chain,
        "no fallback chain",
    );
    record(
        board,
        i,
        CheckId::FallbackReconciled,
        out.reconciled,
        "no sealed ballot",
    );
}
