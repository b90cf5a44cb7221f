//! The command line: `evote-audit verify` and `evote-audit tally`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::audit::{AuditOptions, run_audit};
use crate::report::{Report, TallyReport, Verdict, render_tally};
use crate::{EXIT_CANNOT_RUN, EXIT_DISCREPANCY, EXIT_VERIFIED};

const EXIT_HELP: &str = "\
Exit status:
  0  everything verified: every check passed or does not apply, on every source
  1  a discrepancy was found (at least one check FAILed); this wins over 2
  2  the audit could not run, or not on every source: bad usage, an unreadable
     --genesis or --baseline file, an unreachable node, an unreadable database
     (the other sources are still audited and reported)";

/// The observers' auditor of evote election ledgers.
///
/// It fetches the chain from every node (or reads appliances' SQLite files),
/// re-checks every hash, signature, quorum certificate, ballot and
/// nullifier by the rules of schema/PROTOCOL.md, compares the nodes with
/// each other and recomputes the results. Every check is reported by a
/// stable id with PASS, FAIL or SKIP, and every failure with the source,
/// height, transaction and what was expected versus found.
#[derive(Debug, Parser)]
#[command(name = "evote-audit", version, after_help = EXIT_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify every source's chain, their agreement, and their reported results.
    #[command(after_help = EXIT_HELP)]
    Verify(VerifyArgs),
    /// Recompute the election results from a verified chain.
    #[command(after_help = EXIT_HELP)]
    Tally(TallyArgs),
}

#[derive(Debug, Args)]
struct SourceArgs {
    /// Running appliances to audit, by base URL of their public door,
    /// comma-separated (http://host:port or https://host:port,...). May be
    /// repeated.
    #[arg(long, value_delimiter = ',', value_name = "URL,...")]
    nodes: Vec<String>,
    /// An appliance database file (evote.sqlite3 from its data directory) to
    /// read directly. May be repeated. The file is opened read-only and never
    /// written to.
    #[arg(long = "db", value_name = "FILE")]
    dbs: Vec<PathBuf>,
    /// The genesis file every source must hold (e.g. the election
    /// authority's published genesis.json).
    #[arg(long, value_name = "FILE")]
    genesis: Option<PathBuf>,
    /// Seconds allowed for each HTTP request to a node.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,
    /// Largest HTTP response accepted from a node, in MiB.
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    max_response_mib: u64,
    /// Verification threads (0: one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
    /// The auditor's clock in milliseconds since 1970, for the "timestamp
    /// not in the future" rule (default: the system clock).
    #[arg(long, value_name = "MS")]
    now_ms: Option<u64>,
    /// No progress bar (it is drawn on stderr only when that is a terminal).
    #[arg(long)]
    no_progress: bool,
    /// Certificates to trust for https nodes: a PEM file of CA
    /// certificates, or of a node's own self-signed certificate (default:
    /// the public web's roots).
    #[arg(long, value_name = "FILE", env = "EVOTE_CA_FILE")]
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    sources: SourceArgs,
    /// A previous `verify --json` report: every chain head it recorded must
    /// still be on the chains (nothing disappeared between audits).
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Print the report as one JSON document (format evote-audit/report/1).
    #[arg(long)]
    json: bool,
    /// Failures listed per check in the report (all are counted).
    #[arg(long, default_value_t = 50, value_name = "N")]
    max_failures: usize,
}

#[derive(Debug, Args)]
struct TallyArgs {
    #[command(flatten)]
    sources: SourceArgs,
    /// Only this election.
    #[arg(long, value_name = "ID")]
    election: Option<u64>,
    /// Print the results as one JSON document (format evote-audit/tally/1).
    #[arg(long)]
    json: bool,
}

fn options(s: &SourceArgs, command: &str) -> AuditOptions {
    AuditOptions {
        nodes: s.nodes.clone(),
        dbs: s.dbs.clone(),
        genesis: s.genesis.clone(),
        now_ms: s.now_ms,
        timeout: Duration::from_secs(s.timeout.max(1)),
        max_response_bytes: s.max_response_mib.max(1).saturating_mul(1024 * 1024),
        threads: s.threads,
        progress: !s.no_progress,
        command: command.into(),
        ca_file: s.ca_file.clone(),
        ..AuditOptions::default()
    }
}

fn out(text: &str) {
    // A closed pipe (`| head`) is not an error worth a panic.
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// Runs the command line; returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match cli.command {
        Command::Verify(v) => {
            let mut opts = options(&v.sources, "verify");
            opts.baseline = v.baseline;
            opts.max_failures = v.max_failures;
            match run_audit(&opts) {
                Ok(report) => {
                    if v.json {
                        match serde_json::to_string_pretty(&report) {
                            Ok(s) => out(&format!("{s}\n")),
                            Err(e) => {
                                eprintln!("evote-audit: cannot encode the report: {e}");
                                return EXIT_CANNOT_RUN;
                            }
                        }
                    } else {
                        out(&report.render_text());
                    }
                    report.exit_code
                }
                Err(e) => {
                    eprintln!("evote-audit: {e}");
                    EXIT_CANNOT_RUN
                }
            }
        }
        Command::Tally(t) => {
            let opts = options(&t.sources, "tally");
            match run_audit(&opts) {
                Ok(report) => tally(&report, t.election, t.json),
                Err(e) => {
                    eprintln!("evote-audit: {e}");
                    EXIT_CANNOT_RUN
                }
            }
        }
    }
}

/// The tallies to show: one per distinct chain head on the reference
/// chain (one when the sources agree), longest first.
fn chosen_tallies(report: &Report, election: Option<u64>) -> Vec<TallyReport> {
    let on_ref: Vec<&str> = report
        .sources
        .iter()
        .filter(|s| s.on_reference_chain)
        .map(|s| s.name.as_str())
        .collect();
    let mut ts: Vec<TallyReport> = report
        .distinct_tallies()
        .into_iter()
        .filter(|t| on_ref.contains(&t.source.as_str()))
        .cloned()
        .collect();
    ts.sort_by_key(|t| std::cmp::Reverse(t.height));
    // Drop tallies of lagging sources whose chain is a prefix of a longer one.
    let prefix_of_longer: Vec<String> = report
        .sources
        .iter()
        .filter(|s| s.diverges_at.is_none() && s.lag.is_some_and(|l| l > 0))
        .map(|s| s.name.clone())
        .collect();
    if ts.len() > 1 {
        ts.retain(|t| !prefix_of_longer.contains(&t.source));
    }
    if let Some(e) = election {
        for t in &mut ts {
            t.elections.retain(|x| x.election_id == e);
        }
    }
    ts
}

fn tally(report: &Report, election: Option<u64>, json_out: bool) -> i32 {
    let ts = chosen_tallies(report, election);
    if let Some(e) = election
        && ts.iter().all(|t| t.elections.is_empty())
        && !ts.is_empty()
    {
        eprintln!("evote-audit: election {e} is not in the genesis");
        return EXIT_CANNOT_RUN;
    }
    let failing: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| c.id)
        .collect();
    if json_out {
        let doc = json!({
            "format": "evote-audit/tally/1",
            "tool": report.tool,
            "outcome": report.outcome,
            "exit_code": report.exit_code,
            "summary": report.summary,
            "reference": report.reference,
            "failing_checks": failing,
            "tallies": ts,
        });
        match serde_json::to_string_pretty(&doc) {
            Ok(s) => out(&format!("{s}\n")),
            Err(e) => {
                eprintln!("evote-audit: cannot encode the results: {e}");
                return EXIT_CANNOT_RUN;
            }
        }
        return report.exit_code;
    }
    let mut text = String::new();
    if ts.is_empty() {
        text.push_str("No chain could be read: no results.\n");
    }
    if ts.len() > 1 {
        text.push_str("WARNING: the sources hold different chains; results per chain:\n");
    }
    for t in &ts {
        text.push_str(&format!(
            "Results recomputed from the chain of {} at height {}{}\n",
            t.source,
            t.height,
            t.head_hash
                .map(|h| format!(" (head {h})"))
                .unwrap_or_default()
        ));
        text.push_str(&render_tally(t));
    }
    match report.exit_code {
        EXIT_VERIFIED => text.push_str(&format!("\nThe chain verified. {}\n", report.summary)),
        EXIT_DISCREPANCY => text.push_str(&format!(
            "\nWARNING: the chain did not verify; these counts are what it records, not a certified result.\n{}\nRun `evote-audit verify` with the same sources for the details.\n",
            report.summary
        )),
        _ => text.push_str(&format!("\n{}\n", report.summary)),
    }
    out(&text);
    report.exit_code
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
