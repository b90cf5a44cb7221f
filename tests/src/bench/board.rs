//! `evote-bench load --board`: the bulletin board's pages fetched from one
//! node while the load runs, each page's latency measured in the load's
//! measured window (the board must answer with p99 under 200 ms on a node
//! taking 500 votes/s).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::stats::percentile;
use crate::cluster::agent;

/// Pause between two rounds of page fetches (each round fetches each page
/// once): about 30 pages a second, a busy afternoon of observers.
const ROUND_PAUSE: Duration = Duration::from_millis(100);

/// The pages, by name, as paths (`{h}` a recent height, `{code}` a recent
/// confirmation code).
const PAGES: [(&str, &str); 4] = [
    ("index", "/board"),
    ("block", "/board/block/{h}"),
    ("track", "/board/track?code={code}"),
    ("results", "/board/results/1"),
];

/// Fetches the board's pages from `url` until `stop`, keeping the
/// latencies of the fetches that started inside `[from, to)` after `start`;
/// `recent_code` gives a confirmation code a voter just got (from any node).
pub fn probe(
    url: &str,
    start: Instant,
    (from, to): (Duration, Duration),
    stop: &AtomicBool,
    recent_code: impl Fn() -> Option<String>,
) -> Value {
    let agent = agent();
    let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    while !stop.load(Ordering::SeqCst) && start.elapsed() < to {
        let height = agent
            .get(format!("{url}/health"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
            .and_then(|v| v["height"].as_u64())
            .unwrap_or(1)
            .max(1);
        let code = recent_code().unwrap_or_else(|| format!("0x{}", "0".repeat(64)));
        for (name, path) in PAGES {
            let path = path
                .replace("{h}", &height.to_string())
                .replace("{code}", &code);
            let at = start.elapsed();
            let sent = Instant::now();
            let r = agent.get(format!("{url}{path}")).call();
            let took = sent.elapsed().as_secs_f64() * 1000.0;
            match r {
                Ok(mut resp) if resp.status() == 200 => {
                    let _ = resp.body_mut().read_to_string();
                    if at >= from && at < to {
                        times.entry(name).or_default().push(took);
                    }
                }
                Ok(resp) => {
                    *failures
                        .entry(format!("{name}: http {}", resp.status().as_u16()))
                        .or_default() += 1;
                }
                Err(e) => *failures.entry(format!("{name}: {e}")).or_default() += 1,
            }
        }
        std::thread::sleep(ROUND_PAUSE);
    }
    let mut all: Vec<f64> = times.values().flatten().copied().collect();
    let pages: serde_json::Map<String, Value> = times
        .into_iter()
        .map(|(name, mut v)| {
            let n = v.len();
            let max = v.iter().copied().fold(0.0, f64::max);
            (
                name.to_string(),
                json!({
                    "requests": n,
                    "p50_ms": percentile(&mut v, 50.0),
                    "p99_ms": percentile(&mut v, 99.0),
                    "max_ms": max,
                }),
            )
        })
        .collect();
    json!({
        "node": url,
        "requests": all.len(),
        "p50_ms": percentile(&mut all, 50.0),
        "p99_ms": percentile(&mut all, 99.0),
        "pages": pages,
        "failures": failures,
    })
}
