//! The report as people read it: the sources, a table of the checks, what
//! does not hold, what was not checked, and the recomputed results.

use std::fmt::Write as _;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

use super::{CheckReport, Report, TallyReport, Verdict, rfc3339};
use crate::protocol::Hash32;
use crate::sources::SourceKind;

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

impl Report {
    /// The report as text: tables for people, ending with the outcome.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        self.heading(&mut out);
        self.sources_table(&mut out);
        self.checks_table(&mut out);
        self.failures(&mut out);
        self.not_checked(&mut out);
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

    fn heading(&self, out: &mut String) {
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
    }

    fn sources_table(&self, out: &mut String) {
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
    }

    fn checks_table(&self, out: &mut String) {
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
    }

    /// "What does not hold": every failure listed, where it is, what was
    /// expected and what was found.
    fn failures(&self, out: &mut String) {
        let failing: Vec<&CheckReport> = self
            .checks
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .collect();
        if failing.is_empty() {
            return;
        }
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

    /// "Not checked": each skipped check, or each source a check skipped,
    /// with why.
    fn not_checked(&self, out: &mut String) {
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
        stations_table(&mut out, t, e.election_id);
    }
    out
}

/// The election's poll books: per station, voters checked in, ballots
/// cast there and from its fallback chain (`station.poll_book`).
fn stations_table(out: &mut String, t: &TallyReport, election_id: u64) {
    let rows: Vec<_> = t
        .stations
        .iter()
        .filter(|r| r.election_id == election_id)
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "  per station:");
    let mut tab = table();
    tab.set_header(vec![
        "station",
        "checked in",
        "cast there",
        "from fallback",
        "closing record (ballots/check-ins)",
        "poll book",
    ]);
    for r in rows {
        let name = r.name.clone().unwrap_or_else(|| r.station.to_string());
        tab.add_row(vec![
            Cell::new(name),
            Cell::new(if r.roll {
                r.checked_in.to_string()
            } else {
                "- (open registration)".into()
            }),
            Cell::new(r.cast_there),
            Cell::new(r.from_fallback),
            Cell::new(
                r.closing_record
                    .map_or_else(|| "-".into(), |(b, c)| format!("{b}/{c}")),
            ),
            Cell::new(&r.verdict),
        ]);
    }
    for line in tab.to_string().lines() {
        let _ = writeln!(out, "  {line}");
    }
}
