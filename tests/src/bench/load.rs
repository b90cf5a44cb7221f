//! `evote-bench load`: votes through the public API at a steady pace (or as
//! fast as `--concurrency` allows), measured after a warm-up.
//!
//! Each vote is what it is at a polling station with a roll: the poll
//! worker checks the voter in at the operator door (the appliance signs a
//! poll-book record and hands it to the chain, and the answer is a booth
//! pass), then the voter casts a ballot with that pass and their card. The
//! check-in happens inside the measured window, just before its ballot,
//! rather than all before the window: in an election the records and the
//! ballots reach the chain together, one of each per voter, so a vote's
//! cost is both, and checking voters in ahead would leave out half of the
//! chain's work per vote (and, sized for the fastest run, check in far
//! more voters than vote). The report's `cpu_us_per_vote.includes` and
//! `check_ins` say so beside the figures.
//!
//! With `--check-ins-ahead` (and `--rate`) the voters are checked in before
//! the load and their records committed before it starts, so that the
//! window measures ballots alone: the cost of a ballot signed with a
//! credential, comparable with builds before the roll, whose load cast
//! ballots only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::stats::{cpu_seconds, db_bytes, peak_rss_mb, percentile, table_bytes};
use crate::cluster::{Cluster, Timing, Voters, agent};

/// How long acknowledged votes may take to confirm after the load stops.
const DRAIN: Duration = Duration::from_secs(30);
/// Roll voters per vote the run could cast at its rate or its bound. The
/// bound is a ceiling no run reaches (runs confirm 40-50% of it); the
/// margin is for a machine quieter during the run than while the bound was
/// measured, or an open loop catching up.
const ROLL_MARGIN: f64 = 1.2;
/// What a vote's CPU figure covers (`cpu_us_per_vote.includes`).
const PER_VOTE: &str = "one check-in (a poll-book record on the chain) and one ballot per vote: \
                        the CPU of the window divided by the ballots submitted in it";
/// The same with `--check-ins-ahead`.
const PER_BALLOT: &str = "one ballot per vote, its voter checked in and the record committed \
                          before the window: the CPU of the window divided by the ballots \
                          submitted in it";
/// How long the check-ins made before the load may take to commit.
const AHEAD_COMMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct LoadArgs {
    pub validators: usize,
    pub stations: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub concurrency: usize,
    /// Votes per second to aim at; `None` for as fast as possible.
    pub rate: Option<f64>,
    /// Existing nodes to target instead of a fresh testnet.
    pub nodes: Vec<NodeTarget>,
    pub block_period_ms: u64,
    /// Voters on the fresh testnet's roll; by default as many as the run
    /// could use (one per vote).
    pub voters: Option<usize>,
    /// With `nodes`: their testnet's voters file (`voters.json`), whose
    /// voters the load checks in and votes with (each once).
    pub voters_file: Option<std::path::PathBuf>,
    /// Also fetch the bulletin board's pages from the first node and report
    /// their latencies (`board` in the report).
    pub board: bool,
    /// Check every vote's voter in before the load (needs `rate`) and
    /// measure ballots alone.
    pub check_ins_ahead: bool,
}

/// A node to load: its public door, and its operator door and admin token
/// (to check voters in).
#[derive(Debug, Clone)]
pub struct NodeTarget {
    pub url: String,
    pub admin_url: String,
    pub admin_token: String,
}

/// A node under load and the roll voters who vote there: (roll id, card)
/// each, taken one per vote.
struct Target {
    node: NodeTarget,
    voters: Mutex<Vec<(String, String)>>,
    /// With check-ins ahead: (booth pass, card) of voters checked in.
    passes: Mutex<Vec<(String, String)>>,
}

/// A transaction a node answered for: a ballot, or a check-in's poll-book
/// record.
struct Ack {
    /// When it was sent, since the start of the load.
    submitted: Duration,
    latency: Duration,
    tx: String,
    code: Option<String>,
}

#[derive(Default)]
struct Shared {
    /// Ballots.
    acks: Mutex<Vec<Ack>>,
    /// Check-ins (their poll-book records).
    check_ins: Mutex<Vec<Ack>>,
    errors: Mutex<BTreeMap<String, u64>>,
    seen: Mutex<BTreeMap<String, Duration>>,
}

impl Shared {
    fn error(&self, kind: String) {
        *self.errors.lock().unwrap().entry(kind).or_default() += 1;
    }
}

/// Runs the load and returns the report as one JSON object.
pub fn run(a: &LoadArgs) -> Result<Value, String> {
    // The ceiling is measured first, on the machine before the testnet
    // loads it (afterwards the nodes may still be working off a backlog).
    eprintln!("measuring the bound");
    let bound = super::bound::bound_per_s(a.validators.max(1));
    let total = a.duration + a.warmup;
    // One roll voter per vote: as many as the run could cast at its rate,
    // or else at its bound.
    let wanted = a.voters.unwrap_or_else(|| {
        let rate = a.rate.unwrap_or(bound.per_s);
        (rate * total.as_secs_f64() * ROLL_MARGIN) as usize + 1_000
    });
    let mut cluster = own_testnet(a, wanted)?;
    let nodes: Vec<NodeTarget> = match &cluster {
        Some(c) => (0..c.nodes.len())
            .map(|i| NodeTarget {
                url: c.url(i).to_string(),
                admin_url: c.nodes[i].admin_url.clone(),
                admin_token: c.admin_token(i),
            })
            .collect(),
        None => a.nodes.clone(),
    };
    if nodes.is_empty() {
        return Err("no nodes to load".into());
    }
    let roll = match (&cluster, &a.voters_file) {
        (Some(c), _) => c.roll_voters(),
        (None, Some(file)) => read_voters(file)?,
        (None, None) => {
            return Err("--nodes needs --voters-file (their testnet's voters.json)".into());
        }
    };
    let targets = share_roll(&nodes, roll);
    let ahead = match (a.check_ins_ahead, a.rate) {
        (false, _) => None,
        (true, Some(rate)) => Some(check_in_ahead(a, &targets, rate)?),
        (true, None) => return Err("--check-ins-ahead needs --rate".into()),
    };
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let watch_url = nodes[0].url.clone();
    let issued = AtomicU64::new(0);
    eprintln!("loading for {:?} (+{:?} warm-up)", a.duration, a.warmup);
    let pids: Vec<u32> = cluster
        .as_ref()
        .map(|c| (0..c.nodes.len()).filter_map(|i| c.pid(i)).collect())
        .unwrap_or_default();
    let board_stop = AtomicBool::new(false);
    let (cpu, board) = std::thread::scope(|s| {
        let watcher = s.spawn(|| watch_commits(&watch_url, start, &shared, &stop));
        let board = a.board.then(|| {
            let (url, shared, board_stop) = (&watch_url, &shared, &board_stop);
            s.spawn(move || {
                let recent = || {
                    let acks = shared.acks.lock().unwrap();
                    acks.iter().rev().take(50).find_map(|x| x.code.clone())
                };
                super::board::probe(url, start, (a.warmup, total), board_stop, recent)
            })
        });
        let workers: Vec<_> = (0..a.concurrency)
            .map(|w| {
                let (targets, shared, issued) = (&targets, &shared, &issued);
                s.spawn(move || worker(w, targets, shared, start, a, issued))
            })
            .collect();
        let cpu = cpu_in_window(&pids, start, a.warmup, total);
        for w in workers {
            let _ = w.join();
        }
        board_stop.store(true, Ordering::SeqCst);
        let board = board.and_then(|b| b.join().ok());
        drain(&shared, start, DRAIN);
        stop.store(true, Ordering::SeqCst);
        let _ = watcher.join();
        (cpu, board)
    });
    let mut out = report(a, &shared, cluster.as_ref(), &nodes, bound);
    if let Some(c) = cluster.as_mut() {
        keep_if_failed_or_asked(c, &out);
    }
    if let Some(b) = board {
        out["board"] = b;
    }
    if let Some(ahead) = ahead {
        out["check_ins"] = ahead;
    }
    let votes = out["accepted_per_s"].as_f64().unwrap_or(0.0) * a.duration.as_secs_f64();
    if let Some((nodes_s, load_s)) = cpu.filter(|_| votes > 0.0) {
        out["cpu_us_per_vote"] = json!({
            "nodes": (nodes_s / votes * 1e6).round(),
            "load_generator": (load_s / votes * 1e6).round(),
            "includes": if a.check_ins_ahead { PER_BALLOT } else { PER_VOTE },
        });
    }
    Ok(out)
}

/// Keeps the testnet (the nodes' databases and logs) for a look when the
/// run saw errors, or when `EVOTE_BENCH_KEEP` is set: what a node logged
/// before it failed a request is otherwise deleted with it.
fn keep_if_failed_or_asked(c: &mut Cluster, out: &Value) {
    let failed = out["errors"].as_object().is_some_and(|e| !e.is_empty());
    if failed || super::keep_asked() {
        c.keep();
    }
}

/// CPU seconds the nodes (`pids`) and this process used between the end of
/// the warm-up and the end of the load; `None` without nodes of our own.
fn cpu_in_window(
    pids: &[u32],
    start: Instant,
    warmup: Duration,
    total: Duration,
) -> Option<(f64, f64)> {
    if pids.is_empty() {
        return None;
    }
    let sample = || {
        let nodes: Option<f64> = pids.iter().map(|p| cpu_seconds(*p)).sum();
        Some((nodes?, cpu_seconds(std::process::id())?))
    };
    std::thread::sleep(warmup.saturating_sub(start.elapsed()));
    let before = sample()?;
    std::thread::sleep(total.saturating_sub(start.elapsed()));
    let after = sample()?;
    Some((after.0 - before.0, after.1 - before.1))
}

fn own_testnet(a: &LoadArgs, voters: usize) -> Result<Option<Cluster>, String> {
    if !a.nodes.is_empty() {
        return Ok(None);
    }
    eprintln!("writing a testnet whose roll has {voters} voters");
    let t = Timing {
        block_period_ms: a.block_period_ms,
        round_timeout_ms: 1_000,
        empty_block_period_ms: 10_000,
        fallback_after_ms: 30_000,
    };
    let nodes = a.validators + a.stations;
    let roll = Voters::Roll(Some(voters.div_ceil(nodes.max(1)) * nodes.max(1)));
    let c = Cluster::create_with(a.validators, a.stations, t, None, roll);
    c.start_all();
    Ok(Some(c))
}

/// A testnet's voters file: (roll id, card) each.
fn read_voters(path: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(v["voters"]
        .as_array()
        .ok_or(format!("{}: no voters", path.display()))?
        .iter()
        .filter_map(|v| {
            Some((
                v["id"].as_str()?.to_string(),
                v["card"].as_str()?.to_string(),
            ))
        })
        .collect())
}

/// Shares the roll's voters out over the nodes, an equal part each (the
/// testnet's roll assigns nobody to a station).
fn share_roll(nodes: &[NodeTarget], roll: Vec<(String, String)>) -> Vec<Target> {
    let per_node = roll.len() / nodes.len();
    let mut roll = roll.into_iter();
    nodes
        .iter()
        .map(|node| Target {
            node: node.clone(),
            voters: Mutex::new(roll.by_ref().take(per_node).collect()),
            passes: Mutex::new(Vec::new()),
        })
        .collect()
}

/// One voter after another at node `w mod nodes`, each checked in (unless
/// `ahead`: then one of the voters checked in before the load) and then
/// casting a ballot, until the load's time is up (or, with `rate`,
/// its share of the votes is issued).
fn worker(
    w: usize,
    targets: &[Target],
    shared: &Shared,
    start: Instant,
    a: &LoadArgs,
    issued: &AtomicU64,
) {
    let (total, rate, ahead) = (a.duration + a.warmup, a.rate, a.check_ins_ahead);
    let agent = agent();
    let target = &targets[w % targets.len()];
    while start.elapsed() < total {
        if let Some(rate) = rate {
            let k = issued.fetch_add(1, Ordering::SeqCst);
            let due = Duration::from_secs_f64(k as f64 / rate);
            if due >= total {
                return;
            }
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if ahead {
            let Some((pass, card)) = target.passes.lock().unwrap().pop() else {
                shared.error("checked_in_voters_exhausted".into());
                return;
            };
            cast(&agent, &target.node.url, &pass, &card, start, shared);
            continue;
        }
        let Some((id, card)) = target.voters.lock().unwrap().pop() else {
            shared.error("voters_exhausted".into());
            return;
        };
        if let Some(pass) = check_in(&agent, &target.node, &id, start, shared) {
            cast(&agent, &target.node.url, &pass, &card, start, shared);
        }
    }
}

/// Checks in, before the load, one voter per vote the run will cast at
/// `rate` (and a tenth more, for an open loop catching up), and waits
/// until their records are committed; the voters' passes wait in
/// `targets`. Returns the `check_ins` part of the report.
fn check_in_ahead(a: &LoadArgs, targets: &[Target], rate: f64) -> Result<Value, String> {
    let votes = (rate * (a.duration + a.warmup).as_secs_f64() * 1.1).ceil() as usize;
    let per_target = votes.div_ceil(targets.len());
    eprintln!("checking {votes} voters in before the load");
    let shared = Shared::default();
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let watcher = s.spawn(|| watch_commits(&targets[0].node.url, start, &shared, &stop));
        let workers: Vec<_> = (0..a.concurrency)
            .map(|w| {
                let (target, shared) = (&targets[w % targets.len()], &shared);
                s.spawn(move || check_in_share(target, per_target, shared, start))
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        drain(&shared, start, AHEAD_COMMIT);
        stop.store(true, Ordering::SeqCst);
        let _ = watcher.join();
    });
    let mut records = Kind::of(
        &shared.check_ins.lock().unwrap(),
        &shared.seen.lock().unwrap(),
        (Duration::ZERO, Duration::MAX),
    );
    if records.lost > 0 || records.confirmed < votes {
        return Err(format!(
            "checked {} voters in ahead, {} committed within {AHEAD_COMMIT:?} (errors: {:?})",
            records.in_window,
            records.confirmed,
            shared.errors.lock().unwrap()
        ));
    }
    Ok(json!({
        "ahead": true,
        "acknowledged": records.in_window,
        "confirmed": records.confirmed,
        "took_s": start.elapsed().as_secs_f64(),
        "ack_p50_ms": percentile(&mut records.ack_ms, 50.0),
        "ack_p99_ms": percentile(&mut records.ack_ms, 99.0),
    }))
}

/// One of the workers checking voters in ahead at `target` until it holds
/// `wanted` passes.
fn check_in_share(target: &Target, wanted: usize, shared: &Shared, start: Instant) {
    let agent = agent();
    while target.passes.lock().unwrap().len() < wanted {
        let Some((id, card)) = target.voters.lock().unwrap().pop() else {
            shared.error("voters_exhausted".into());
            return;
        };
        if let Some(pass) = check_in(&agent, &target.node, &id, start, shared) {
            target.passes.lock().unwrap().push((pass, card));
        }
    }
}

/// The poll worker's step: checks roll voter `id` in at the node's
/// operator door (the node signs the poll-book record and hands it to the
/// chain) and returns the voter's booth pass.
fn check_in(
    agent: &ureq::Agent,
    node: &NodeTarget,
    id: &str,
    start: Instant,
    shared: &Shared,
) -> Option<String> {
    let submitted = start.elapsed();
    let sent = Instant::now();
    let r = agent
        .post(format!("{}/api/admin/voters/check-in", node.admin_url))
        .header("authorization", format!("Bearer {}", node.admin_token))
        .send_json(json!({"election_id": 1, "voter_id": id}));
    let latency = sent.elapsed();
    let v = answer(r, "check_in", shared)?;
    let (Some(pass), Some(tx)) = (v["booth_pass"].as_str(), v["check_in"].as_str()) else {
        shared.error("check_in: bad_answer".into());
        return None;
    };
    shared.check_ins.lock().unwrap().push(Ack {
        submitted,
        latency,
        tx: tx.to_string(),
        code: None,
    });
    Some(pass.to_string())
}

/// The voter's step: a ballot cast at the node's public door with the
/// booth pass and the voter's card.
fn cast(agent: &ureq::Agent, url: &str, pass: &str, card: &str, start: Instant, shared: &Shared) {
    let submitted = start.elapsed();
    let sent = Instant::now();
    let candidate = 1 + (submitted.as_nanos() % 3) as u64;
    let r = agent
        .post(format!("{url}/api/votes/submit"))
        .header("authorization", format!("Bearer {pass}"))
        .send_json(json!({"election_id": 1, "candidate_id": candidate, "credential": card}));
    let latency = sent.elapsed();
    let Some(v) = answer(r, "ballot", shared) else {
        return;
    };
    match v["transaction_id"].as_str() {
        Some(tx) => shared.acks.lock().unwrap().push(Ack {
            submitted,
            latency,
            tx: tx.to_string(),
            code: v["confirmation_code"].as_str().map(String::from),
        }),
        None => shared.error("ballot: bad_answer".into()),
    }
    if v["status"] == "fallback" {
        shared.error("fallback".into());
    }
}

/// A 200 answer's JSON body; anything else counted as an error of `step`
/// (`http_409 already_checked_in`, a transport error).
fn answer(
    r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    step: &str,
    shared: &Shared,
) -> Option<Value> {
    match r {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
            if status == 200 {
                return Some(v);
            }
            let code = v["error"]["code"].as_str();
            let kind = match code {
                Some(c) => format!("{step}: http_{status} {c}"),
                None => format!("{step}: http_{status}"),
            };
            shared.error(kind);
        }
        Err(e) => shared.error(format!("{step}: transport: {}", short(&e.to_string()))),
    }
    None
}

fn short(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Notes when each transaction was first seen committed on the node at `url`.
fn watch_commits(url: &str, start: Instant, shared: &Shared, stop: &AtomicBool) {
    super::watch::follow_commits(url, stop, |hashes| {
        let now = start.elapsed();
        let mut seen = shared.seen.lock().unwrap();
        for h in hashes {
            seen.entry(h.clone()).or_insert(now);
        }
    });
}

/// Waits until every acknowledged ballot and check-in is seen committed,
/// or `limit`.
fn drain(shared: &Shared, start: Instant, limit: Duration) {
    let until = start.elapsed() + limit;
    while start.elapsed() < until {
        let acks = shared.acks.lock().unwrap();
        let check_ins = shared.check_ins.lock().unwrap();
        let seen = shared.seen.lock().unwrap();
        if acks
            .iter()
            .chain(check_ins.iter())
            .all(|a| seen.contains_key(&a.tx))
        {
            return;
        }
        drop((acks, check_ins, seen));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What became of one kind of transaction (ballots or check-ins): sent in
/// the window, their answer and confirmation times, how many were
/// committed in the window, and how many of all were never seen
/// committed.
struct Kind {
    in_window: usize,
    ack_ms: Vec<f64>,
    confirm_ms: Vec<f64>,
    confirmed: usize,
    confirmed_in_window: usize,
    lost: usize,
}

impl Kind {
    fn of(
        acks: &[Ack],
        seen: &BTreeMap<String, Duration>,
        (from, to): (Duration, Duration),
    ) -> Kind {
        let inside = |t: Duration| t >= from && t < to;
        let in_window: Vec<&Ack> = acks.iter().filter(|x| inside(x.submitted)).collect();
        let committed: Vec<Duration> = acks
            .iter()
            .filter_map(|x| seen.get(&x.tx).copied())
            .collect();
        Kind {
            in_window: in_window.len(),
            ack_ms: in_window.iter().map(|x| ms(x.latency)).collect(),
            confirm_ms: in_window
                .iter()
                .filter_map(|x| seen.get(&x.tx).map(|t| ms(t.saturating_sub(x.submitted))))
                .collect(),
            confirmed: committed.len(),
            confirmed_in_window: committed.iter().filter(|t| inside(**t)).count(),
            lost: acks.len() - committed.len(),
        }
    }
}

fn report(
    a: &LoadArgs,
    shared: &Shared,
    cluster: Option<&Cluster>,
    nodes: &[NodeTarget],
    bound: super::bound::Bound,
) -> Value {
    let window = (a.warmup, a.warmup + a.duration);
    let secs = a.duration.as_secs_f64();
    let acks = shared.acks.lock().unwrap();
    let check_ins = shared.check_ins.lock().unwrap();
    let seen = shared.seen.lock().unwrap();
    let mut ballots = Kind::of(&acks, &seen, window);
    let mut records = Kind::of(&check_ins, &seen, window);
    let mut errors = shared.errors.lock().unwrap().clone();
    for (kind, lost) in [
        ("acknowledged_not_confirmed", ballots.lost),
        ("check_in_not_confirmed", records.lost),
    ] {
        if lost > 0 {
            errors.insert(kind.into(), lost as u64);
        }
    }
    let mut out = json!({
        "validators": a.validators,
        "stations": a.stations,
        "nodes": nodes.len(),
        "duration_s": secs,
        "warmup_s": a.warmup.as_secs_f64(),
        "concurrency": a.concurrency,
        "target_rate": a.rate,
        "votes_acknowledged": acks.len(),
        "votes_confirmed": ballots.confirmed,
        "accepted_per_s": ballots.in_window as f64 / secs,
        "confirmed_per_s": ballots.confirmed_in_window as f64 / secs,
        "ack_p50_ms": percentile(&mut ballots.ack_ms, 50.0),
        "ack_p99_ms": percentile(&mut ballots.ack_ms, 99.0),
        "confirm_p50_ms": percentile(&mut ballots.confirm_ms, 50.0),
        "confirm_p99_ms": percentile(&mut ballots.confirm_ms, 99.0),
        "check_ins": {
            "acknowledged": check_ins.len(),
            "confirmed": records.confirmed,
            "sent_in_window": records.in_window,
            "confirmed_in_window": records.confirmed_in_window,
            "ack_p50_ms": percentile(&mut records.ack_ms, 50.0),
            "ack_p99_ms": percentile(&mut records.ack_ms, 99.0),
            "confirm_p50_ms": percentile(&mut records.confirm_ms, 50.0),
            "confirm_p99_ms": percentile(&mut records.confirm_ms, 99.0),
        },
        "errors": errors,
        "bound_per_s": bound.per_s,
        "bound": bound.details,
    });
    disk_and_memory(&mut out, cluster, ballots.confirmed.max(1) as f64);
    out
}

/// The disk figures (the largest of the nodes') per vote on chain (a vote:
/// its ballot and its check-in record) and the peak RSS; null for nodes
/// not our own.
fn disk_and_memory(out: &mut Value, cluster: Option<&Cluster>, votes: f64) {
    let Some(c) = cluster else {
        for k in [
            "bytes_per_vote",
            "file_bytes_per_vote",
            "registry_bytes",
            "bytes_per_vote_by_table",
            "rss_mb_max",
        ] {
            out[k] = Value::Null;
        }
        return;
    };
    let (bytes_per_vote, file_bytes_per_vote, registry_bytes) = (0..c.nodes.len())
        .map(|i| disk_use(&c.home(i).join("data"), votes))
        .fold((0.0f64, 0.0f64, 0.0f64), |m, d| {
            (m.0.max(d.0), m.1.max(d.1), m.2.max(d.2))
        });
    let rss = (0..c.nodes.len())
        .filter_map(|i| c.pid(i).and_then(peak_rss_mb))
        .fold(0.0, f64::max);
    let by_table = table_bytes(&c.home(0).join("data")).map(|t| {
        t.into_iter()
            .map(|(name, bytes)| (name, json!((bytes as f64 / votes).round())))
            .collect::<serde_json::Map<_, _>>()
    });
    out["bytes_per_vote"] = finite(bytes_per_vote);
    out["file_bytes_per_vote"] = finite(file_bytes_per_vote);
    out["registry_bytes"] = finite(registry_bytes);
    out["bytes_per_vote_by_table"] = json!(by_table);
    out["rss_mb_max"] = finite(rss);
}

/// Tables installed before election day, sized by the roll rather than by
/// the votes: the voter registry (e-mail voters and sessions) and the
/// roll with its Merkle tree.
const REGISTRY_TABLES: [&str; 5] = ["voters", "sessions", "rolls", "roll_entries", "roll_nodes"];

/// A node's disk use: bytes per vote on chain of everything but the
/// registry (`REGISTRY_TABLES`), the whole files (with the registry and the
/// write-ahead log) per vote, and the registry's bytes.
fn disk_use(data_dir: &std::path::Path, votes: f64) -> (f64, f64, f64) {
    let file = db_bytes(data_dir) as f64 / votes;
    let Some(tables) = table_bytes(data_dir) else {
        return (f64::NAN, file, f64::NAN);
    };
    let registry: u64 = REGISTRY_TABLES.iter().filter_map(|t| tables.get(*t)).sum();
    let total: u64 = tables.values().sum();
    ((total - registry) as f64 / votes, file, registry as f64)
}

fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}
