//! The board the audit fills in: per check, a cell per source (how much
//! was checked, what failed, why it was skipped) and the failures, turned
//! into the report's checks at the end.

use std::collections::BTreeMap;

use crate::checks::{CheckId, Finding, Scope};
use crate::report::{CheckCell, CheckReport, FailureReport, Verdict};

/// Per check: a cell per source, and the failures.
struct Acc {
    cells: Vec<Cell>,
    failures: Vec<FailureReport>,
    total: u64,
    reason: Option<String>,
}

#[derive(Default, Clone)]
struct Cell {
    checked: u64,
    failed: u64,
    skip: Option<String>,
    note: Option<String>,
}

pub(super) struct Board {
    checks: BTreeMap<CheckId, Acc>,
    names: Vec<String>,
    max_failures: usize,
}

impl Board {
    pub(super) fn new(names: Vec<String>, max_failures: usize) -> Self {
        let checks = CheckId::ALL
            .into_iter()
            .map(|c| {
                (
                    c,
                    Acc {
                        cells: vec![Cell::default(); names.len()],
                        failures: Vec::new(),
                        total: 0,
                        reason: None,
                    },
                )
            })
            .collect();
        Self {
            checks,
            names,
            max_failures,
        }
    }

    fn acc(&mut self, c: CheckId) -> &mut Acc {
        self.checks.get_mut(&c).expect("every check has an entry")
    }

    pub(super) fn checked(&mut self, c: CheckId, src: usize, n: u64) {
        self.acc(c).cells[src].checked += n;
    }

    pub(super) fn fail(&mut self, src: usize, f: Finding) {
        let label = self.names[src].clone();
        self.fail_labelled(Some(src), label, f);
    }

    fn fail_labelled(&mut self, src: Option<usize>, label: String, f: Finding) {
        let c = f.check_id().unwrap_or(CheckId::BlockSchema);
        let max = self.max_failures;
        let acc = self.acc(c);
        if let Some(s) = src {
            acc.cells[s].failed += 1;
            acc.cells[s].checked = acc.cells[s].checked.max(1);
        }
        acc.total += 1;
        if acc.failures.len() < max {
            acc.failures.push(FailureReport {
                source: label,
                finding: f,
            });
        }
    }

    /// Counts a failure of `c` on `src` whose finding is listed under
    /// another source (one finding that involves several).
    pub(super) fn also_failed(&mut self, c: CheckId, src: usize) {
        self.acc(c).cells[src].failed += 1;
    }

    pub(super) fn skip(&mut self, c: CheckId, src: usize, reason: impl Into<String>) {
        let cell = &mut self.acc(c).cells[src];
        if cell.skip.is_none() {
            cell.skip = Some(reason.into());
        }
    }

    pub(super) fn skip_all(&mut self, c: CheckId, reason: impl Into<String>) {
        let reason = reason.into();
        let acc = self.acc(c);
        for cell in &mut acc.cells {
            if cell.skip.is_none() && cell.failed == 0 {
                cell.skip = Some(reason.clone());
            }
        }
        acc.reason = Some(reason);
    }

    pub(super) fn note(&mut self, c: CheckId, src: usize, note: impl Into<String>) {
        self.acc(c).cells[src].note = Some(note.into());
    }

    pub(super) fn block_checks() -> impl Iterator<Item = CheckId> {
        CheckId::ALL
            .into_iter()
            .filter(|c| matches!(c.info().scope, Scope::Block))
    }

    pub(super) fn tx_checks() -> impl Iterator<Item = CheckId> {
        CheckId::ALL
            .into_iter()
            .filter(|c| matches!(c.info().scope, Scope::Transaction))
    }

    pub(super) fn into_reports(self) -> Vec<CheckReport> {
        let names = self.names;
        self.checks
            .into_iter()
            .map(|(c, acc)| {
                let info = c.info();
                let per_source: Vec<CheckCell> = acc
                    .cells
                    .iter()
                    .zip(&names)
                    .map(|(cell, name)| {
                        let verdict = if cell.failed > 0 {
                            Verdict::Fail
                        } else if cell.skip.is_some() {
                            Verdict::Skip
                        } else {
                            Verdict::Pass
                        };
                        CheckCell {
                            source: name.clone(),
                            verdict,
                            checked: cell.checked,
                            failed: cell.failed,
                            reason: cell.skip.clone().or_else(|| cell.note.clone()),
                        }
                    })
                    .collect();
                let verdict =
                    if acc.total > 0 || per_source.iter().any(|c| c.verdict == Verdict::Fail) {
                        Verdict::Fail
                    } else if per_source.iter().any(|c| c.verdict == Verdict::Pass) {
                        Verdict::Pass
                    } else {
                        Verdict::Skip
                    };
                let reason = match verdict {
                    Verdict::Skip => acc
                        .reason
                        .clone()
                        .or_else(|| per_source.iter().find_map(|c| c.reason.clone())),
                    _ => acc.reason.clone(),
                };
                let shown = acc.failures.len() as u64;
                CheckReport {
                    id: info.id,
                    name: info.name,
                    scope: info.scope,
                    covers: info.covers,
                    verdict,
                    reason,
                    per_source,
                    failures_total: acc.total,
                    failures: acc.failures,
                    failures_omitted: acc.total.saturating_sub(shown),
                }
            })
            .collect()
    }
}
