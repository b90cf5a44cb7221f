//! `evote-bench load`: votes through the public API at a steady pace (or as
//! fast as `--concurrency` allows), measured after a warm-up.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::stats::{cpu_seconds, db_bytes, peak_rss_mb, percentile, table_bytes};
use crate::cluster::{Cluster, Timing, Voters, agent};

/// Voters checked in per request.
const CHECK_IN_BATCH: usize = 1_000;
/// How long acknowledged votes may take to confirm after the load stops.
const DRAIN: Duration = Duration::from_secs(30);

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
    /// Voters to check in; by default enough for the run.
    pub voters: Option<usize>,
    /// With `nodes`: their testnet's voters file (`voters.json`), whose
    /// cards the load votes with.
    pub voters_file: Option<std::path::PathBuf>,
    /// Also fetch the bulletin board's pages from the first node and report
    /// their latencies (`board` in the report).
    pub board: bool,
}

/// A node to load: its public door, and its operator door and admin token
/// (to check voters in).
#[derive(Debug, Clone)]
pub struct NodeTarget {
    pub url: String,
    pub admin_url: String,
    pub admin_token: String,
}

/// A node under load: the booth passes of the voters checked in there,
/// each with the voter's card.
struct Target {
    url: String,
    tokens: Mutex<Vec<(String, String)>>,
}

struct Ack {
    submitted: Duration,
    latency: Duration,
    tx: String,
    code: Option<String>,
}

#[derive(Default)]
struct Shared {
    acks: Mutex<Vec<Ack>>,
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
    let wanted = a.voters.unwrap_or_else(|| {
        let rate = a.rate.unwrap_or(3_000.0);
        (rate * total.as_secs_f64() * 1.2) as usize + 1_000
    });
    eprintln!("writing a testnet whose roll has {wanted} voters");
    let cluster = own_testnet(a, wanted)?;
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
    eprintln!("checking in {wanted} voters on {} nodes", nodes.len());
    let targets = check_in(&nodes, &roll, wanted)?;
    // The check-ins are transactions too: committed before the load, so
    // that the window measures votes alone.
    settle(&nodes)?;
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
                s.spawn(move || worker(w, targets, shared, start, total, a.rate, issued))
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
    if let Some(b) = board {
        out["board"] = b;
    }
    let votes = out["accepted_per_s"].as_f64().unwrap_or(0.0) * a.duration.as_secs_f64();
    if let Some((nodes_s, load_s)) = cpu.filter(|_| votes > 0.0) {
        out["cpu_us_per_vote"] = json!({
            "nodes": (nodes_s / votes * 1e6).round(),
            "load_generator": (load_s / votes * 1e6).round(),
        });
    }
    Ok(out)
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

/// Checks in `wanted` of the roll's voters spread over the nodes, 1000 a
/// request.
fn check_in(
    nodes: &[NodeTarget],
    roll: &[(String, String)],
    wanted: usize,
) -> Result<Vec<Target>, String> {
    let agent = agent();
    let per_node = wanted.div_ceil(nodes.len());
    if per_node * nodes.len() > roll.len() {
        return Err(format!(
            "the roll has {} voters, the run wants {}",
            roll.len(),
            per_node * nodes.len()
        ));
    }
    let mut out = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let (url, admin) = (&node.url, &node.admin_token);
        let mine = &roll[n * per_node..(n + 1) * per_node];
        let mut tokens = Vec::with_capacity(per_node);
        for batch in mine.chunks(CHECK_IN_BATCH) {
            let ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
            let mut r = agent
                .post(format!("{}/api/admin/voters/check-in", node.admin_url))
                .header("authorization", format!("Bearer {admin}"))
                .send_json(json!({"election_id": 1, "voter_ids": ids}))
                .map_err(|e| format!("check-in at {url}: {e}"))?;
            let v: Value = r
                .body_mut()
                .read_json()
                .map_err(|e| format!("check-in at {url}: {e}"))?;
            let results = v["results"]
                .as_array()
                .ok_or(format!("check-in at {url}: {v}"))?;
            for ((_, card), r) in batch.iter().zip(results) {
                let pass = r["booth_pass"]
                    .as_str()
                    .ok_or(format!("check-in at {url}: {r}"))?;
                tokens.push((pass.to_string(), card.clone()));
            }
        }
        out.push(Target {
            url: url.clone(),
            tokens: Mutex::new(tokens),
        });
    }
    Ok(out)
}

/// Waits until every node's mempool is empty (at most 10 minutes).
fn settle(nodes: &[NodeTarget]) -> Result<(), String> {
    let agent = agent();
    let until = Instant::now() + Duration::from_secs(600);
    for node in nodes {
        loop {
            let pending = agent
                .get(format!("{}/health", node.url))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .and_then(|v| v["mempool"].as_u64());
            if pending == Some(0) {
                break;
            }
            if Instant::now() > until {
                return Err(format!("{}: the check-ins never committed", node.url));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    Ok(())
}

fn worker(
    w: usize,
    targets: &[Target],
    shared: &Shared,
    start: Instant,
    total: Duration,
    rate: Option<f64>,
    issued: &AtomicU64,
) {
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
        let Some((token, card)) = target.tokens.lock().unwrap().pop() else {
            shared.error("voters_exhausted".into());
            return;
        };
        let submitted = start.elapsed();
        let sent = Instant::now();
        let candidate = 1 + (submitted.as_nanos() % 3) as u64;
        let r = agent
            .post(format!("{}/api/votes/submit", target.url))
            .header("authorization", format!("Bearer {token}"))
            .send_json(json!({"election_id": 1, "candidate_id": candidate, "credential": card}));
        let latency = sent.elapsed();
        match r {
            Ok(mut resp) if resp.status() == 200 => {
                let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
                match v["transaction_id"].as_str() {
                    Some(tx) => shared.acks.lock().unwrap().push(Ack {
                        submitted,
                        latency,
                        tx: tx.to_string(),
                        code: v["confirmation_code"].as_str().map(String::from),
                    }),
                    None => shared.error("bad_answer".into()),
                }
                if v["status"] == "fallback" {
                    shared.error("fallback".into());
                }
            }
            Ok(resp) => shared.error(format!("http_{}", resp.status().as_u16())),
            Err(e) => shared.error(format!("transport: {}", short(&e.to_string()))),
        }
    }
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

/// Waits until every acknowledged vote is seen committed, or `limit`.
fn drain(shared: &Shared, start: Instant, limit: Duration) {
    let until = start.elapsed() + limit;
    while start.elapsed() < until {
        let acks = shared.acks.lock().unwrap();
        let seen = shared.seen.lock().unwrap();
        if acks.iter().all(|a| seen.contains_key(&a.tx)) {
            return;
        }
        drop((acks, seen));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(
    a: &LoadArgs,
    shared: &Shared,
    cluster: Option<&Cluster>,
    nodes: &[NodeTarget],
    bound: super::bound::Bound,
) -> Value {
    let (from, to) = (a.warmup, a.warmup + a.duration);
    let secs = a.duration.as_secs_f64();
    let acks = shared.acks.lock().unwrap();
    let seen = shared.seen.lock().unwrap();
    let in_window: Vec<&Ack> = acks
        .iter()
        .filter(|x| x.submitted >= from && x.submitted < to)
        .collect();
    let mut ack_ms: Vec<f64> = in_window.iter().map(|x| ms(x.latency)).collect();
    let mut confirm_ms: Vec<f64> = in_window
        .iter()
        .filter_map(|x| seen.get(&x.tx).map(|t| ms(t.saturating_sub(x.submitted))))
        .collect();
    let confirmed_in_window = seen.values().filter(|t| **t >= from && **t < to).count();
    let lost = acks.iter().filter(|x| !seen.contains_key(&x.tx)).count();
    let mut errors = shared.errors.lock().unwrap().clone();
    if lost > 0 {
        errors.insert("acknowledged_not_confirmed".into(), lost as u64);
    }
    let votes_on_chain = seen.len().max(1) as f64;
    let (disk, rss) = match cluster {
        Some(c) => (
            (0..c.nodes.len())
                .map(|i| disk_use(&c.home(i).join("data"), votes_on_chain))
                .fold((0.0f64, 0.0f64, 0.0f64), |m, d| {
                    (m.0.max(d.0), m.1.max(d.1), m.2.max(d.2))
                }),
            (0..c.nodes.len())
                .filter_map(|i| c.pid(i).and_then(peak_rss_mb))
                .fold(0.0, f64::max),
        ),
        None => ((f64::NAN, f64::NAN, f64::NAN), f64::NAN),
    };
    let (bytes_per_vote, file_bytes_per_vote, registry_bytes) = disk;
    let by_table = cluster
        .and_then(|c| table_bytes(&c.home(0).join("data")))
        .map(|t| {
            t.into_iter()
                .map(|(name, bytes)| (name, json!((bytes as f64 / votes_on_chain).round())))
                .collect::<serde_json::Map<_, _>>()
        });
    json!({
        "validators": a.validators,
        "stations": a.stations,
        "nodes": nodes.len(),
        "duration_s": secs,
        "warmup_s": a.warmup.as_secs_f64(),
        "concurrency": a.concurrency,
        "target_rate": a.rate,
        "votes_acknowledged": acks.len(),
        "votes_confirmed": seen.len(),
        "accepted_per_s": in_window.len() as f64 / secs,
        "confirmed_per_s": confirmed_in_window as f64 / secs,
        "ack_p50_ms": percentile(&mut ack_ms, 50.0),
        "ack_p99_ms": percentile(&mut ack_ms, 99.0),
        "confirm_p50_ms": percentile(&mut confirm_ms, 50.0),
        "confirm_p99_ms": percentile(&mut confirm_ms, 99.0),
        "bytes_per_vote": finite(bytes_per_vote),
        "file_bytes_per_vote": finite(file_bytes_per_vote),
        "registry_bytes": finite(registry_bytes),
        "bytes_per_vote_by_table": by_table,
        "rss_mb_max": finite(rss),
        "errors": errors,
        "bound_per_s": bound.per_s,
        "bound": bound.details,
    })
}

/// A node's disk use: bytes per vote on chain of everything but the voter
/// registry (voters and sessions are checked in before election day, as
/// many as the run might need), the whole files (with the registry and the
/// write-ahead log) per vote, and the registry's bytes.
fn disk_use(data_dir: &std::path::Path, votes: f64) -> (f64, f64, f64) {
    let file = db_bytes(data_dir) as f64 / votes;
    let Some(tables) = table_bytes(data_dir) else {
        return (f64::NAN, file, f64::NAN);
    };
    let registry: u64 = ["voters", "sessions"]
        .iter()
        .filter_map(|t| tables.get(*t))
        .sum();
    let total: u64 = tables.values().sum();
    ((total - registry) as f64 / votes, file, registry as f64)
}

fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}
