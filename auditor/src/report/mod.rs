//! The audit report: what was audited, every check's verdict per source,
//! every failure with where it is and what was expected versus found, and
//! the recomputed results. Printed for people (tables) or as one JSON
//! document (`--json`, format `evote-audit/report/1`, described in the
//! README); a previous JSON report is the `--baseline` of the next audit.

use std::fmt::Write as _;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde::{Deserialize, Serialize};

use crate::checks::Finding;
use crate::checks::Scope;
use crate::protocol::{Hash32, PublicKey};
use crate::sources::SourceKind;

pub const REPORT_FORMAT: &str = "evote-audit/report/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    #[serde(rename = "SKIP")]
    Skip,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything that was checked holds, and every source was audited.
    Verified,
    /// At least one check failed.
    Discrepancies,
    /// Nothing failed, but a source could not be audited (fully).
    Incomplete,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub tool: String,
    pub command: String,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
    /// The auditor's clock for the "not in the future" rule.
    pub now_ms: u64,
    pub outcome: Outcome,
    pub exit_code: i32,
    /// The verdict in plain words.
    pub summary: String,
    pub reference: Reference,
    pub sources: Vec<SourceReport>,
    pub checks: Vec<CheckReport>,
    pub tallies: Vec<TallyReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    pub chain_id: Option<Hash32>,
    pub chain_name: Option<String>,
    /// Why this chain is the reference.
    pub basis: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceReport {
    pub name: String,
    pub kind: SourceKind,
    pub location: String,
    pub node_id: Option<PublicKey>,
    pub role: Option<String>,
    /// `audited`, `incomplete` (stopped part way), `unreachable` (a node)
    /// or `unreadable` (a file).
    pub status: String,
    pub error: Option<String>,
    pub chain_id: Option<Hash32>,
    pub chain_name: Option<String>,
    pub on_reference_chain: bool,
    /// The last height audited, and its block hash.
    pub height: u64,
    pub head_hash: Option<Hash32>,
    /// The height the source itself reported (a node's status).
    pub stated_height: Option<u64>,
    /// Blocks behind the longest chain on the reference chain.
    pub lag: Option<u64>,
    /// The first height where it differs from the longest chain.
    pub diverges_at: Option<u64>,
    pub blocks_checked: u64,
    pub transactions_checked: u64,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub id: &'static str,
    pub name: &'static str,
    pub scope: Scope,
    /// The PROTOCOL.md rules and error codes it covers.
    pub covers: &'static str,
    pub verdict: Verdict,
    /// Why it was skipped (or a note when it passed).
    pub reason: Option<String>,
    pub per_source: Vec<CheckCell>,
    pub failures_total: u64,
    pub failures: Vec<FailureReport>,
    /// Failures counted but not listed (beyond --max-failures).
    pub failures_omitted: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckCell {
    pub source: String,
    pub verdict: Verdict,
    /// Items checked (blocks, transactions, elections, heads...).
    pub checked: u64,
    pub failed: u64,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureReport {
    pub source: String,
    #[serde(flatten)]
    pub finding: Finding,
}

#[derive(Debug, Clone, Serialize)]
pub struct TallyReport {
    pub source: String,
    pub height: u64,
    pub head_hash: Option<Hash32>,
    pub elections: Vec<ElectionTally>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ElectionTally {
    pub election_id: u64,
    pub name: String,
    /// Ballots of the election on the chain.
    pub total: u64,
    /// `decrypted` (counts from k trustees' valid shares), `pending`
    /// (fewer than k shares) or `failed` (the shares do not combine).
    pub status: &'static str,
    /// Why the counts are not there, when they are not.
    pub reason: Option<String>,
    /// The tally the counts are of: after this block, this many ballots.
    pub tally_height: Option<u64>,
    pub ballots_in_tally: Option<u64>,
    /// The trustees whose shares were combined.
    pub trustees: Vec<u32>,
    pub candidates: Vec<CandidateTally>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CandidateTally {
    pub candidate_id: u64,
    pub name: String,
    /// `null` until the tally is decrypted.
    pub votes: Option<u64>,
    /// Share of the tally's ballots, in percent, rounded to 2 decimals as
    /// the appliance reports it.
    pub percentage: Option<f64>,
}

/// The appliance's percentage: `round(n * 10000 / total) / 100`.
pub fn percentage(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (n as f64 * 10_000.0 / total as f64).round() / 100.0
    }
}

/// What a `--baseline` report must hold: the heads it saw.
#[derive(Debug, Clone, Deserialize)]
pub struct Baseline {
    pub format: String,
    pub sources: Vec<BaselineSource>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BaselineSource {
    pub name: String,
    pub location: String,
    #[serde(default)]
    pub node_id: Option<PublicKey>,
    #[serde(default)]
    pub chain_id: Option<Hash32>,
    pub height: u64,
    #[serde(default)]
    pub head_hash: Option<Hash32>,
}

impl Baseline {
    pub fn parse(text: &str) -> Result<Baseline, String> {
        let b: Baseline = serde_json::from_str(text)
            .map_err(|e| format!("not an evote-audit --json report: {e}"))?;
        if b.format != REPORT_FORMAT {
            return Err(format!(
                "report format {:?}; this auditor reads {REPORT_FORMAT:?}",
                b.format
            ));
        }
        Ok(b)
    }
}

fn verdict_cell(v: Verdict, extra: Option<String>) -> Cell {
    let text = match extra {
        Some(x) => format!("{} {x}", v.as_str()),
        None => v.as_str().to_string(),
    };
    let c = Cell::new(text);
    match v {
        Verdict::Pass => c.fg(Color::Green),
        Verdict::Fail => c.fg(Color::Red),
        Verdict::Skip => c.fg(Color::Yellow),
    }
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

fn short(h: &Option<Hash32>) -> String {
    h.map_or_else(|| "-".into(), |h| h.short())
}

/// Millisecond Unix time as RFC 3339 UTC (no dependency on a date crate).
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil from days (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Report {
    /// The report for people: sources, checks per source, failures, skips,
    /// results, and the verdict in plain words.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {} of {} source(s), auditor clock {}",
            self.tool,
            self.command,
            self.sources.len(),
            rfc3339(self.now_ms)
        );
        match (&self.reference.chain_id, &self.reference.chain_name) {
            (Some(id), name) => {
                let _ = writeln!(
                    out,
                    "Reference chain {id}{} ({})",
                    name.as_ref().map(|n| format!(" {n:?}")).unwrap_or_default(),
                    self.reference.basis
                );
            }
            (None, _) => {
                let _ = writeln!(out, "No reference chain: {}", self.reference.basis);
            }
        }

        let _ = writeln!(out, "\nSources");
        let mut t = table();
        t.set_header(vec![
            "source", "kind", "location", "role", "height", "head", "lag", "blocks", "ballots",
            "status",
        ]);
        for s in &self.sources {
            let status = match &s.error {
                Some(e) => format!("{}: {e}", s.status),
                None => s.status.clone(),
            };
            let status_cell = if s.status == "audited" {
                Cell::new(status)
            } else {
                Cell::new(status).fg(Color::Yellow)
            };
            t.add_row(vec![
                Cell::new(&s.name),
                Cell::new(match s.kind {
                    SourceKind::Node => "node",
                    SourceKind::Db => "db",
                }),
                Cell::new(&s.location),
                Cell::new(s.role.as_deref().unwrap_or("-")),
                Cell::new(s.height),
                Cell::new(short(&s.head_hash)),
                Cell::new(match (s.lag, s.diverges_at) {
                    (_, Some(h)) => format!("forks at {h}"),
                    (Some(l), None) => l.to_string(),
                    (None, None) => "-".into(),
                }),
                Cell::new(s.blocks_checked),
                Cell::new(s.transactions_checked),
                status_cell,
            ]);
        }
        let _ = writeln!(out, "{t}");

        let _ = writeln!(out, "\nChecks");
        let mut t = table();
        let mut head = vec![Cell::new("check"), Cell::new("verdict")];
        head.extend(self.sources.iter().map(|s| Cell::new(&s.name)));
        head.push(Cell::new("what it checks"));
        t.set_header(head);
        for c in &self.checks {
            let mut row = vec![
                Cell::new(c.id),
                verdict_cell(
                    c.verdict,
                    (c.failures_total > 0).then(|| format!("({})", c.failures_total)),
                ),
            ];
            for cell in &c.per_source {
                row.push(verdict_cell(
                    cell.verdict,
                    (cell.failed > 0).then(|| cell.failed.to_string()),
                ));
            }
            row.push(Cell::new(c.name));
            t.add_row(row);
        }
        let _ = writeln!(out, "{t}");

        let failing: Vec<&CheckReport> = self
            .checks
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .collect();
        if !failing.is_empty() {
            let _ = writeln!(out, "\nWhat does not hold");
            for c in failing {
                let _ = writeln!(out, "  {} — {}", c.id, c.name);
                for f in &c.failures {
                    let mut place = f.source.clone();
                    if let Some(h) = f.finding.height {
                        let _ = write!(place, ", height {h}");
                    }
                    if let Some(p) = f.finding.position {
                        let _ = write!(place, ", transaction {p}");
                    }
                    if let Some(tx) = f.finding.tx {
                        let _ = write!(place, " ({tx})");
                    }
                    let code = match f.finding.detail {
                        Some(d) => format!("{} ({d})", f.finding.code),
                        None => f.finding.code.to_string(),
                    };
                    let _ = writeln!(out, "    FAIL {place}: {code}: {}", f.finding.message);
                    let _ = writeln!(out, "         expected: {}", f.finding.expected);
                    let _ = writeln!(out, "         found:    {}", f.finding.found);
                }
                if c.failures_omitted > 0 {
                    let _ = writeln!(
                        out,
                        "    ... and {} more (raise --max-failures, or see --json)",
                        c.failures_omitted
                    );
                }
            }
        }

        let mut skipped = Vec::new();
        for c in &self.checks {
            if c.verdict == Verdict::Skip {
                skipped.push(format!(
                    "  {}: {}",
                    c.id,
                    c.reason.as_deref().unwrap_or("not run")
                ));
            } else {
                for cell in &c.per_source {
                    if cell.verdict == Verdict::Skip {
                        skipped.push(format!(
                            "  {} on {}: {}",
                            c.id,
                            cell.source,
                            cell.reason.as_deref().unwrap_or("not run")
                        ));
                    }
                }
            }
        }
        if !skipped.is_empty() {
            let _ = writeln!(out, "\nNot checked");
            for s in skipped {
                let _ = writeln!(out, "{s}");
            }
        }

        for tally in self.distinct_tallies() {
            let _ = writeln!(
                out,
                "\nResults recomputed from the chain of {} at height {}",
                tally.source, tally.height
            );
            out.push_str(&render_tally(tally));
        }

        let _ = writeln!(out, "\n{} (exit status {})", self.summary, self.exit_code);
        out
    }

    /// One tally per distinct chain head (sources that agree share one).
    pub fn distinct_tallies(&self) -> Vec<&TallyReport> {
        let mut seen: Vec<(u64, Option<Hash32>)> = Vec::new();
        let mut out = Vec::new();
        for t in &self.tallies {
            let key = (t.height, t.head_hash);
            if !seen.contains(&key) {
                seen.push(key);
                out.push(t);
            }
        }
        out
    }
}

/// A results table per election.
pub fn render_tally(t: &TallyReport) -> String {
    let mut out = String::new();
    for e in &t.elections {
        let _ = writeln!(
            out,
            "  election {} {:?}: {} ballot(s) on the chain",
            e.election_id, e.name, e.total
        );
        match (e.status, e.tally_height, e.ballots_in_tally) {
            ("decrypted", Some(h), Some(n)) => {
                let _ = writeln!(
                    out,
                    "  decrypted: the tally after block {h} ({n} ballot(s)), from the shares of trustees {:?}",
                    e.trustees
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  {}: {}",
                    e.status,
                    e.reason.as_deref().unwrap_or("no counts")
                );
            }
        }
        let mut tab = table();
        tab.set_header(vec!["candidate", "name", "votes", "percent"]);
        for c in &e.candidates {
            tab.add_row(vec![
                Cell::new(c.candidate_id),
                Cell::new(&c.name),
                Cell::new(c.votes.map_or_else(|| "-".into(), |v| v.to_string())),
                Cell::new(
                    c.percentage
                        .map_or_else(|| "-".into(), |p| format!("{p:.2}")),
                ),
            ]);
        }
        for line in tab.to_string().lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_250_800_000), "2026-01-01T07:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn percentages_as_the_appliance_rounds_them() {
        assert_eq!(percentage(1, 3), 33.33);
        assert_eq!(percentage(2, 3), 66.67);
        assert_eq!(percentage(0, 0), 0.0);
    }
}
