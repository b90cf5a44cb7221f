//! The audit report: what was audited, every check's verdict per source,
//! every failure with where it is and what was expected versus found, and
//! the recomputed results. Printed for people (tables) or as one JSON
//! document (`--json`, format `evote-audit/report/1`, described in the
//! README); a previous JSON report is the `--baseline` of the next audit.
//! The tables are drawn in `text.rs`.

use serde::{Deserialize, Serialize};

use crate::checks::Finding;
use crate::checks::Scope;
use crate::protocol::{Hash32, PublicKey};
use crate::sources::SourceKind;

mod text;

pub use text::render_tally;

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
    /// Per election and station: voters checked in, ballots cast there
    /// and from its fallback chain, what its closing record signs.
    pub stations: Vec<crate::checks::stations::StationRow>,
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
