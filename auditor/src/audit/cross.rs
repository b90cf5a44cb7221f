//! The checks across sources: `chain.agreement` and
//! `consensus.no_equivocation` compare the sources' chains with each other,
//! `baseline.append_only` compares them with a previous report.

use super::{Audited, Board};
use crate::checks::{CheckId, Finding, HeightRecord};
use crate::protocol::{ChainRules, Hash32};
use crate::report::Baseline;

/// chain.agreement and consensus.no_equivocation.
pub(super) fn cross_source(sources: &mut [Audited], reference: Option<Hash32>, board: &mut Board) {
    let eligible: Vec<usize> = (0..sources.len())
        .filter(|&i| {
            sources[i].state.is_some() && reference.is_some() && sources[i].chain_id() == reference
        })
        .collect();
    for (i, a) in sources.iter().enumerate() {
        if a.state.is_some() && !eligible.contains(&i) {
            let why = "the source is on another chain (see genesis.same)";
            board.skip(CheckId::ChainAgreement, i, why);
            board.skip(CheckId::NoEquivocation, i, why);
        }
    }
    if eligible.len() < 2 {
        let why = "fewer than two sources on the reference chain: nothing to compare";
        board.skip_all(CheckId::ChainAgreement, why);
        board.skip_all(CheckId::NoEquivocation, why);
        return;
    }
    agreement(sources, &eligible, board);
    equivocation(sources, &eligible, board);
}

/// The first height at which two chains hold different blocks.
fn first_diff(a: &[HeightRecord], b: &[HeightRecord]) -> Option<u64> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x.hash != y.hash)
        .map(|p| p as u64 + 1)
}

/// chain.agreement: each eligible source against the longest chain of the
/// group most sources are compatible with.
fn agreement(sources: &mut [Audited], eligible: &[usize], board: &mut Board) {
    // The reference: the chain most sources are compatible with (one is a
    // prefix of the other), then the longer; the longest compatible chain
    // is what the others are compared with.
    let compatible =
        |i: usize, j: usize| first_diff(&sources[i].records, &sources[j].records).is_none();
    let anchor = eligible
        .iter()
        .copied()
        .max_by_key(|&i| {
            let support = eligible.iter().filter(|&&j| compatible(i, j)).count();
            (support, sources[i].records.len(), std::cmp::Reverse(i))
        })
        .expect("at least two eligible sources");
    let longest = eligible
        .iter()
        .copied()
        .filter(|&j| compatible(anchor, j))
        .max_by_key(|&j| (sources[j].records.len(), std::cmp::Reverse(j)))
        .expect("the anchor is compatible with itself");
    let max_len = sources[longest].records.len();
    let lname = sources[longest].name.clone();
    let support = eligible.iter().filter(|&&j| compatible(longest, j)).count();
    let outcomes: Vec<(usize, Option<u64>)> = eligible
        .iter()
        .map(|&i| {
            (
                i,
                first_diff(&sources[i].records, &sources[longest].records),
            )
        })
        .collect();
    for (i, diff) in outcomes {
        board.checked(CheckId::ChainAgreement, i, 1);
        let len = sources[i].records.len();
        sources[i].lag = Some(max_len.saturating_sub(len) as u64);
        match diff {
            None => {
                let lag = max_len.saturating_sub(len);
                if lag > 0 {
                    board.note(
                        CheckId::ChainAgreement,
                        i,
                        format!("a prefix of {lname}'s chain, {lag} block(s) behind"),
                    );
                }
            }
            Some(h) => {
                sources[i].diverges_at = Some(h);
                let mine = sources[i].records[h as usize - 1].hash;
                let theirs = sources[longest].records[h as usize - 1].hash;
                let name = sources[i].name.clone();
                let finding = Finding::new(
                    CheckId::ChainAgreement,
                    "fork",
                    format!("{theirs} (the block {lname} holds)"),
                    format!("{mine} (the block {name} holds)"),
                    format!(
                        "{name} and {lname} differ first at height {h}: their chains fork there ({name} is at height {len}, {lname} at height {max_len}; {support} of {} sources hold {lname}'s chain)",
                        eligible.len()
                    ),
                )
                .at(h);
                board.fail(i, finding);
            }
        }
    }
}

/// One block some sources hold at a height, and which sources hold it.
struct Held {
    block: HeightRecord,
    holders: Vec<usize>,
}

/// consensus.no_equivocation: at each height where sources hold different
/// blocks, a validator whose valid seal (or proposal in the same round) is
/// on two of them signed both.
fn equivocation(sources: &[Audited], eligible: &[usize], board: &mut Board) {
    let names: Vec<String> = sources.iter().map(|a| a.name.clone()).collect();
    let rules = sources[eligible[0]]
        .rules
        .clone()
        .expect("eligible sources have rules");
    for &i in eligible {
        board.checked(CheckId::NoEquivocation, i, 1);
    }
    let top = eligible
        .iter()
        .map(|&i| sources[i].records.len())
        .max()
        .unwrap_or(0);
    for h in 0..top {
        let blocks = blocks_at(sources, eligible, h);
        let height = h as u64 + 1;
        for x in 0..blocks.len() {
            for y in x + 1..blocks.len() {
                let pair = Pair {
                    a: &blocks[x],
                    b: &blocks[y],
                    height,
                    names: &names,
                };
                for f in pair.findings(&rules) {
                    pair.report(f, board);
                }
            }
        }
    }
}

/// The different blocks the eligible sources hold at index `h` (height
/// h + 1), their valid seals and proposers merged; empty where they agree.
fn blocks_at(sources: &[Audited], eligible: &[usize], h: usize) -> Vec<Held> {
    let here: Vec<(usize, HeightRecord)> = eligible
        .iter()
        .filter_map(|&i| sources[i].records.get(h).map(|r| (i, *r)))
        .collect();
    if here.iter().all(|(_, r)| r.hash == here[0].1.hash) {
        return Vec::new();
    }
    let mut blocks: Vec<Held> = Vec::new();
    for (i, r) in here {
        match blocks.iter_mut().find(|b| b.block.hash == r.hash) {
            Some(b) => {
                b.block.valid_sealers |= r.valid_sealers;
                if b.block.proposer.is_none() {
                    b.block.proposer = r.proposer;
                }
                b.holders.push(i);
            }
            None => blocks.push(Held {
                block: r,
                holders: vec![i],
            }),
        }
    }
    blocks
}

/// Two different blocks at one height.
struct Pair<'a> {
    a: &'a Held,
    b: &'a Held,
    height: u64,
    names: &'a [String],
}

impl Pair<'_> {
    fn held(&self, h: &Held) -> String {
        h.holders
            .iter()
            .map(|&i| self.names[i].clone())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every validator with a valid seal on both, and a proposer that
    /// proposed both in one round.
    fn findings(&self, rules: &ChainRules) -> Vec<Finding> {
        let (a, b, height) = (&self.a.block, &self.b.block, self.height);
        let (ha, hb) = (self.held(self.a), self.held(self.b));
        let mut out = Vec::new();
        let common = a.valid_sealers & b.valid_sealers;
        for v in 0..rules.validator_count().min(64) {
            if common & (1 << v) == 0 {
                continue;
            }
            out.push(
                Finding::new(
                    CheckId::NoEquivocation,
                    "equivocation",
                    "one committed block per height: a validator seals only one",
                    format!(
                        "valid commit seals by {} on {} (held by {}) and on {} (held by {})",
                        rules.describe(rules.validator_key(v)),
                        a.hash,
                        ha,
                        b.hash,
                        hb
                    ),
                    format!(
                        "validator {} signed commit seals for two different blocks at height {height}",
                        rules.validator_name(v)
                    ),
                )
                .at(height),
            );
        }
        if let (Some(pa), Some(pb)) = (a.proposer, b.proposer)
            && pa == pb
            && a.round == b.round
        {
            let v = pa as usize;
            out.push(
                Finding::new(
                    CheckId::NoEquivocation,
                    "equivocation",
                    "one proposal per height and round",
                    format!(
                        "proposals by {} of {} (held by {}) and {} (held by {}) in round {}",
                        rules.describe(rules.validator_key(v)),
                        a.hash,
                        ha,
                        b.hash,
                        hb,
                        a.round
                    ),
                    format!(
                        "validator {} proposed two different blocks at height {height}, round {}",
                        rules.validator_name(v),
                        a.round
                    ),
                )
                .at(height),
            );
        }
        out
    }

    /// A finding is listed once, under the first source involved; every
    /// other source involved fails the check too.
    fn report(&self, f: Finding, board: &mut Board) {
        let involved: Vec<usize> = self
            .a
            .holders
            .iter()
            .chain(&self.b.holders)
            .copied()
            .collect();
        for &i in &involved[1..] {
            board.also_failed(CheckId::NoEquivocation, i);
        }
        board.fail(involved[0], f);
    }
}

/// baseline.append_only: the heads a previous report saw are still there.
pub(super) fn check_baseline(
    sources: &[Audited],
    reference: Option<Hash32>,
    baseline: &Baseline,
    board: &mut Board,
) {
    let heads: Vec<_> = baseline
        .sources
        .iter()
        .filter(|b| b.height > 0 && b.head_hash.is_some())
        .filter(|b| b.chain_id.is_some() && b.chain_id == reference)
        .collect();
    if heads.is_empty() {
        board.skip_all(
            CheckId::BaselineAppendOnly,
            "the baseline report records no head on the reference chain",
        );
        return;
    }
    for (i, a) in sources.iter().enumerate() {
        if a.state.is_none() {
            continue;
        }
        if a.chain_id() != reference {
            board.skip(
                CheckId::BaselineAppendOnly,
                i,
                "the source is on another chain (see genesis.same)",
            );
            continue;
        }
        for b in &heads {
            let want = b.head_hash.expect("filtered");
            board.checked(CheckId::BaselineAppendOnly, i, 1);
            let same_source = match (a.opened.as_ref().and_then(|o| o.node_id), b.node_id) {
                (Some(x), Some(y)) => x == y,
                _ => a.location == b.location,
            };
            match a.records.get(b.height as usize - 1) {
                Some(r) if r.hash == want => {}
                Some(r) => board.fail(
                    i,
                    Finding::new(
                        CheckId::BaselineAppendOnly,
                        "history_changed",
                        format!("{want} (the head of {} in the baseline)", b.name),
                        r.hash.to_hex(),
                        format!(
                            "the block at height {} is not the one the baseline recorded: the chain was rewritten",
                            b.height
                        ),
                    )
                    .at(b.height),
                ),
                None if same_source && a.error.is_none() => board.fail(
                    i,
                    Finding::new(
                        CheckId::BaselineAppendOnly,
                        "history_lost",
                        format!("height {} or more (as in the baseline)", b.height),
                        format!("height {}", a.records.len()),
                        "the source's chain is shorter than when the baseline was taken: blocks disappeared",
                    )
                    .at(b.height),
                ),
                None => {}
            }
        }
    }
}
