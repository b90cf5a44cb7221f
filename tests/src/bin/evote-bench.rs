//! `evote-bench`: load generator, chaos soak and wide-area runs for evote testnets.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use evote_tests::bench::load::{LoadArgs, NodeTarget, run};

#[derive(Parser)]
#[command(
    name = "evote-bench",
    version,
    about = "Load and fault tools for evote testnets (loopback only)"
)]
struct Cli {
    /// Certificates to trust for https doors (--nodes https://...): a PEM
    /// file of CA certificates or of a node's own (default: the public
    /// web's roots).
    #[arg(long, global = true, value_name = "FILE", env = "EVOTE_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

// `evote-bench load`'s options (a plain comment: the variant's doc is the help).
#[derive(clap::Args)]
struct LoadCli {
    #[arg(long, default_value_t = 3)]
    validators: usize,
    #[arg(long, default_value_t = 0)]
    stations: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Concurrent voters submitting.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Votes per second to aim at (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Existing nodes as URL=ADMIN_TOKEN@ADMIN_URL (the public door, the admin token,
    /// the operator door), comma-separated (default: a fresh testnet).
    #[arg(long, value_delimiter = ',')]
    nodes: Vec<String>,
    #[arg(long, default_value_t = 250)]
    block_period_ms: u64,
    /// Voters on the fresh testnet's roll, one per vote (default: as many
    /// as the run could cast at --rate, or at the bound).
    #[arg(long)]
    voters: Option<usize>,
    /// With --nodes: their testnet's voters file (its voters.json), the
    /// cards to vote with.
    #[arg(long)]
    voters_file: Option<std::path::PathBuf>,
    /// Also fetch the bulletin board's pages from the first node during
    /// the run and report their latencies (p50, p99, max per page).
    #[arg(long)]
    board: bool,
    /// Check each vote's voter in before the load (needs --rate) and
    /// measure ballots alone.
    #[arg(long)]
    check_ins_ahead: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

impl LoadCli {
    /// The run's arguments; an error for a malformed `--nodes`.
    fn args(&self) -> Result<LoadArgs, String> {
        Ok(LoadArgs {
            validators: self.validators,
            stations: self.stations,
            duration: Duration::from_secs(self.duration),
            warmup: Duration::from_secs(self.warmup),
            concurrency: self.concurrency.max(1),
            rate: self.rate,
            nodes: parse_nodes(&self.nodes)?,
            block_period_ms: self.block_period_ms,
            voters: self.voters,
            voters_file: self.voters_file.clone(),
            board: self.board,
            check_ins_ahead: self.check_ins_ahead,
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// A 3-validator, 2-station testnet under steady votes while nodes are
    /// killed, frozen and cut off at random; checks nothing is lost or duplicated.
    Chaos {
        /// Seconds of faults (then the network settles).
        #[arg(long, default_value_t = 300)]
        duration: u64,
        /// Votes per second.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// Seed of the fault schedule (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
        /// Print one JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// The election authority's roll of --voters voters and the credential
    /// authority's credentials for them (the genesis list), as `election
    /// roll` and `credentials issue` make them: the time each takes.
    Credentials {
        #[arg(long, default_value_t = 1_000_000)]
        voters: usize,
    },
    /// Commit blocks of ballots to a fresh database with the appliance's
    /// store until the chain holds --votes ballots; print the commit time
    /// as the chain grows.
    Growth {
        #[arg(long, default_value_t = 1_000_000)]
        votes: u64,
        /// Ballots per block.
        #[arg(long, default_value_t = 1_000)]
        block: u32,
        /// Ballots between two printed samples.
        #[arg(long, default_value_t = 100_000)]
        every: u64,
        /// Print one JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Start a local testnet (or target --nodes), vote through the public API, report figures.
    Load(LoadCli),
    /// One validator, a voter's submit latency idle and while each flood of
    /// issue 21 runs (slowloris, abandoned chain checks, a login flood,
    /// stalled unauthenticated uploads to the peer door): one row per phase.
    Flood {
        /// Measured seconds per phase.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Voters submitting at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// 4 validators and a station over wide-area links (delay and jitter,
    /// stalls, dropped connections, capped uplinks, through a proxy on
    /// each link): a steady stream of votes per scenario, one table row each.
    Wan {
        /// Scenarios to run (default: all): none, 40ms, 150ms, 150ms-stalls,
        /// 150ms-resets, 300ms-one, 300ms, 1mbit, 10mbit.
        #[arg(long, value_delimiter = ',')]
        scenario: Vec<String>,
        /// Seconds of votes per scenario.
        #[arg(long, default_value_t = 75)]
        duration: u64,
        /// Votes per second, spread over the five nodes.
        #[arg(long, default_value_t = 25.0)]
        rate: f64,
        /// Seconds acknowledged votes may take to confirm after the stream.
        #[arg(long, default_value_t = 60)]
        settle: u64,
        /// Seeds the links' jitter, stalls and resets.
        #[arg(long, default_value_t = 18)]
        seed: u64,
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn credentials(voters: usize) -> ExitCode {
    match evote_tests::bench::credentials::run(voters.max(1)) {
        Ok(t) => {
            println!(
                "roll of {} voters (salted entries, Merkle tree, signature): {:.2} s",
                t.voters,
                t.roll.as_secs_f64()
            );
            println!(
                "{} credentials issued and the genesis list built (codes, key derivations, sorted, signed): {:.2} s",
                t.voters,
                t.credentials.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flood(duration: u64, concurrency: usize, json: bool) -> ExitCode {
    let args = evote_tests::bench::flood::FloodArgs {
        duration: Duration::from_secs(duration.max(1)),
        concurrency: concurrency.max(1),
    };
    let rows = match evote_tests::bench::flood::run(&args) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{}", serde_json::Value::Array(rows));
        return ExitCode::SUCCESS;
    }
    println!(
        "| phase | votes | errors | submit p50 ms | submit p99 ms | max ms | p99 / idle p99 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let f = |k: &str| r[k].as_f64().map_or("-".into(), |v| format!("{v:.1}"));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r["phase"].as_str().unwrap_or("?"),
            r["votes"],
            r["errors"],
            f("p50_ms"),
            f("p99_ms"),
            f("max_ms"),
            f("p99_vs_idle"),
        );
    }
    ExitCode::SUCCESS
}

fn wan(keys: &[String], args: evote_tests::bench::wan::WanArgs, json: bool) -> ExitCode {
    use evote_tests::bench::wan::{SCENARIOS, run_scenario, scenario};
    let chosen: Vec<_> = if keys.is_empty() {
        SCENARIOS.to_vec()
    } else {
        let mut out = Vec::new();
        for k in keys {
            match scenario(k) {
                Some(s) => out.push(s),
                None => {
                    eprintln!("error: no scenario {k:?}");
                    return ExitCode::from(2);
                }
            }
        }
        out
    };
    if !json {
        println!(
            "| scenario | acknowledged | confirmed | unconfirmed | confirm p50 / p99 s | longest gap between commits s | round changes (highest round) | fallback entries | bytes/vote on the busiest link (ballot bytes) |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
    }
    let mut rows = Vec::new();
    let mut failed = false;
    for sc in &chosen {
        eprintln!(
            "== wan: {} for {:?} at {} votes/s",
            sc.label, args.duration, args.rate
        );
        // A scenario that cannot run does not stop the others.
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_scenario(&args, sc)));
        let ran = ran.unwrap_or_else(|p| {
            let what = p.downcast_ref::<String>().cloned();
            let what = what.or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(what.unwrap_or_else(|| "the scenario panicked".into()))
        });
        let r = ran.unwrap_or_else(|e| {
            eprintln!("error: {e}");
            failed = true;
            serde_json::json!({"scenario": sc.key, "label": sc.label, "error": e})
        });
        if !json {
            print_wan_row(&r);
        }
        rows.push(r);
    }
    if json {
        println!("{}", serde_json::Value::Array(rows));
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_wan_row(r: &serde_json::Value) {
    let f = |k: &str| {
        let v = &r[k];
        v.as_f64()
            .map_or_else(|| "—".to_string(), |x| format!("{x}"))
    };
    println!(
        "| {} | {} | {} | {} | {} / {} | {} | {} ({}) | {} | {} ({}) |",
        r["label"].as_str().unwrap_or("?"),
        f("acknowledged"),
        f("confirmed"),
        f("unconfirmed"),
        f("confirm_p50_s"),
        f("confirm_p99_s"),
        f("longest_commit_gap_s"),
        f("round_changes"),
        f("highest_round"),
        f("fallback_entries"),
        f("busiest_link_bytes_per_vote"),
        f("ballot_bytes"),
    );
    let errors = &r["errors"];
    if errors.as_object().is_some_and(|e| !e.is_empty()) {
        eprintln!("   errors: {errors}");
    }
}

fn chaos(duration: u64, rate: f64, seed: Option<u64>, json: bool) -> ExitCode {
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let args = evote_tests::bench::chaos::ChaosArgs {
        duration: Duration::from_secs(duration),
        rate,
        every: (2, 4),
        seed,
    };
    match evote_tests::bench::chaos::run(&args) {
        Ok(r) => {
            if json {
                println!("{r}");
            } else {
                for k in [
                    "acknowledged",
                    "confirmed",
                    "lost",
                    "duplicated",
                    "counted",
                    "kills",
                    "partitions",
                    "freezes",
                    "nodes_agree",
                    "errors",
                    "audit_exit_code",
                    "audit",
                ] {
                    println!("{k:<14} {}", r[k]);
                }
                println!("seed           {seed}");
            }
            if r["ok"] == true {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn growth(votes: u64, block: u32, every: u64, json: bool) -> ExitCode {
    let args = evote_tests::bench::growth::GrowthArgs {
        votes,
        block,
        every,
    };
    let progress = |s: &evote_tests::bench::growth::Sample| {
        if !json {
            println!(
                "{:>12} ballots on chain: {:8.1} ms per block of {block}, longest {:.1}",
                s.votes_on_chain, s.ms_per_block, s.max_ms
            );
        }
    };
    match evote_tests::bench::growth::run(&args, progress) {
        Ok(r) => {
            if json {
                println!("{r}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = evote_appliance::tls::trust(cli.ca_file.as_deref()) {
        eprintln!("error: --ca-file {e}");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Chaos {
            duration,
            rate,
            seed,
            json,
        } => chaos(duration, rate, seed, json),
        Command::Flood {
            duration,
            concurrency,
            json,
        } => flood(duration, concurrency, json),
        Command::Wan {
            scenario,
            duration,
            rate,
            settle,
            seed,
            json,
        } => {
            let args = evote_tests::bench::wan::WanArgs {
                duration: Duration::from_secs(duration),
                rate,
                settle: Duration::from_secs(settle),
                seed,
            };
            wan(&scenario, args, json)
        }
        Command::Credentials { voters } => credentials(voters),
        Command::Growth {
            votes,
            block,
            every,
            json,
        } => growth(votes, block, every, json),
        Command::Load(load) => {
            let args = match load.args() {
                Ok(args) => args,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            match run(&args) {
                Ok(report) if load.json => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Ok(report) => {
                    print_table(&report);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `URL=TOKEN@ADMIN_URL` specs; only loopback URLs are accepted.
fn parse_nodes(specs: &[String]) -> Result<Vec<NodeTarget>, String> {
    specs
        .iter()
        .map(|s| {
            let bad = || format!("--nodes {s:?}: expected URL=ADMIN_TOKEN@ADMIN_URL");
            let (url, rest) = s.split_once('=').ok_or_else(bad)?;
            let (token, admin_url) = rest.split_once('@').ok_or_else(bad)?;
            for u in [url, admin_url] {
                let host = u
                    .strip_prefix("http://")
                    .or_else(|| u.strip_prefix("https://"))
                    .ok_or_else(|| format!("{u}: not an http:// or https:// URL"))?;
                if !(host.starts_with("127.")
                    || host.starts_with("localhost")
                    || host.starts_with("[::1]"))
                {
                    return Err(format!(
                        "{u}: evote-bench sends traffic only to loopback addresses"
                    ));
                }
            }
            Ok(NodeTarget {
                url: url.trim_end_matches('/').to_string(),
                admin_url: admin_url.trim_end_matches('/').to_string(),
                admin_token: token.to_string(),
            })
        })
        .collect()
}

fn print_table(r: &serde_json::Value) {
    let rows = [
        ("votes accepted/s", "accepted_per_s"),
        ("votes confirmed/s (sustained)", "confirmed_per_s"),
        ("submit→ack p50 (ms)", "ack_p50_ms"),
        ("submit→ack p99 (ms)", "ack_p99_ms"),
        ("submit→confirmed p50 (ms)", "confirm_p50_ms"),
        ("submit→confirmed p99 (ms)", "confirm_p99_ms"),
        ("bytes on disk per vote", "bytes_per_vote"),
        ("peak RSS per node (MB)", "rss_mb_max"),
        ("ceiling from ballot crypto (votes/s)", "bound_per_s"),
        ("votes acknowledged", "votes_acknowledged"),
        ("votes confirmed", "votes_confirmed"),
    ];
    for (label, key) in rows {
        let v = &r[key];
        let text = v
            .as_f64()
            .map_or_else(|| v.to_string(), |x| format!("{x:.1}"));
        println!("{label:<40} {text}");
    }
    let cpu = &r["cpu_us_per_vote"];
    if !cpu.is_null() {
        let (nodes, load) = (&cpu["nodes"], &cpu["load_generator"]);
        println!(
            "{:<40} {nodes} nodes, {load} load generator",
            "CPU µs per vote"
        );
    }
    let board = &r["board"];
    if !board.is_null() {
        println!(
            "{:<40} {} requests, p50 {:.1} ms, p99 {:.1} ms",
            "board pages (all)",
            board["requests"],
            board["p50_ms"].as_f64().unwrap_or(f64::NAN),
            board["p99_ms"].as_f64().unwrap_or(f64::NAN)
        );
        for (page, v) in board["pages"].as_object().into_iter().flatten() {
            println!(
                "{:<40} p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                format!("  board {page}"),
                v["p50_ms"].as_f64().unwrap_or(f64::NAN),
                v["p99_ms"].as_f64().unwrap_or(f64::NAN),
                v["max_ms"].as_f64().unwrap_or(f64::NAN)
            );
        }
        if board["failures"].as_object().is_some_and(|f| !f.is_empty()) {
            println!("{:<40} {}", "  board failures", board["failures"]);
        }
    }
    println!("{:<40} {}", "errors", r["errors"]);
}
