//! Shared by the auditor's black-box tests: synthetic chains, a minimal
//! HTTP server that plays an appliance's peer protocol, and the binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use evote_audit::synth::Transaction;
use evote_audit::synth::{SynthBlock, SynthChain, SynthFallback, SynthSpec, write_chain_db};
use serde_json::{Value, json};

pub fn bin() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("evote-audit").expect("the evote-audit binary")
}

/// A small valid chain: 3 validators, 1 station, `votes` ballots, 4 per
/// block; the election is open for 30 days, so its tally is pending.
pub fn chain(votes: usize) -> (SynthChain, Vec<SynthBlock>) {
    chain_with(votes, 30 * 86_400_000)
}

fn chain_with(votes: usize, election_ms: u64) -> (SynthChain, Vec<SynthBlock>) {
    chain_from(votes, 1_767_247_200_000, election_ms)
}

/// Like [`chain`], made at `created_at_ms`: block h is stamped
/// `created_at_ms + h s - 0.5 s`.
pub fn chain_from(
    votes: usize,
    created_at_ms: u64,
    election_ms: u64,
) -> (SynthChain, Vec<SynthBlock>) {
    let spec = SynthSpec {
        votes,
        block_txs: 4,
        created_at_ms,
        election_ms,
        ..SynthSpec::default()
    };
    let c = SynthChain::new(&spec);
    let blocks = c.blocks(votes, 4, 2);
    (c, blocks)
}

/// Like [`chain`], for an election that closed a minute after the
/// genesis: then a block stamped at the close and a block with the
/// decryption shares of trustees 1 and 2 (of 3; 2 are needed).
pub fn tallied(votes: usize) -> (SynthChain, Vec<SynthBlock>) {
    let (c, mut blocks) = chain_with(votes, 60_000);
    let t = c.tally_blocks(&blocks, &[1, 2]);
    blocks.extend(t);
    (c, blocks)
}

pub fn write_db(dir: &Path, name: &str, c: &SynthChain, blocks: &[SynthBlock]) -> PathBuf {
    let path = dir.join(name);
    write_chain_db(&path, c, blocks).expect("write a synthetic database");
    path
}

pub type Handler = dyn Fn(&str) -> (u16, Vec<u8>) + Send + Sync;

/// A one-thread-per-connection HTTP/1.1 server on 127.0.0.1.
pub struct FakeNode {
    pub url: String,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl FakeNode {
    pub fn serve(handler: Arc<Handler>) -> FakeNode {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let h = handler.clone();
                std::thread::spawn(move || answer(conn, &*h));
            }
        });
        FakeNode {
            url: format!("http://127.0.0.1:{port}"),
            stop,
            port,
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer(mut conn: TcpStream, handler: &Handler) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => return,
            Ok(_) if h == "\r\n" || h == "\n" => break,
            Ok(_) => {}
        }
    }
    let (code, body) = handler(&path);
    let head = format!(
        "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
    let _ = conn.flush();
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
}

fn query(path: &str, key: &str) -> Option<u64> {
    let q = path.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
}

/// A decrypted tally: (tally height, ballots, shares (trustee, tx)).
type Decrypted = (u64, u64, Vec<(u32, String)>);

/// What a fake appliance serves.
#[derive(Clone)]
pub struct NodeData {
    pub node_id: String,
    pub genesis: String,
    pub chain_id: String,
    pub blocks: Vec<Value>,
    /// election id → results answer; computed from the blocks when absent.
    pub results: Option<Value>,
    /// `GET /api/tally/1`.
    pub tally: Value,
    /// `GET /p2p/fallback`; HTTP 404 when absent.
    pub fallback: Option<Value>,
    decrypted: Option<Decrypted>,
    ballots: u64,
}

impl NodeData {
    pub fn new(c: &SynthChain, blocks: &[SynthBlock], node: usize) -> NodeData {
        let mut ballots = 0;
        let mut shares = Vec::new();
        let mut tally_at = None;
        for b in blocks {
            for (t, h) in b.txs.iter().zip(&b.tx_hashes) {
                match &t.tx {
                    Transaction::Ballot(_) => ballots += 1,
                    Transaction::DecryptionShare(d) => {
                        shares.push((d.share.trustee_index, h.to_hex()));
                        tally_at = Some((d.tally_height, d.ballot_count));
                    }
                    _ => {}
                }
            }
        }
        let k = c.genesis.elections[0].trustees.threshold as usize;
        let decrypted = tally_at
            .filter(|_| shares.len() >= k)
            .map(|(th, n)| (th, n, shares));
        let (count, aggregate) = SynthChain::aggregate(blocks);
        let height = decrypted.as_ref().map_or(blocks.len() as u64, |d| d.0);
        NodeData {
            node_id: c.validators[node].public.to_hex(),
            genesis: serde_json::to_string(&c.genesis).unwrap(),
            chain_id: c.chain_id.to_hex(),
            blocks: blocks.iter().map(|b| b.to_wire()).collect(),
            results: None,
            tally: json!({"election_id": 1, "tally_height": height, "ballot_count": count,
                          "aggregate": aggregate, "trustees": 3, "threshold": 2,
                          "closes_at": c.closes_at(), "closed": decrypted.is_some()}),
            fallback: None,
            decrypted,
            ballots,
        }
    }

    /// The results an honest appliance reports for these blocks: synthetic
    /// ballot i is for candidate i mod 3 (0-based), so the counts of a
    /// decrypted tally of n ballots are known without decrypting.
    pub fn honest_results(&self) -> Value {
        let rows: Vec<Value> = (1..=3u64)
            .map(|c| {
                let n = self
                    .decrypted
                    .as_ref()
                    .map(|(_, n, _)| (0..*n).filter(|i| i % 3 == c - 1).count() as u64);
                let pct = n.map(|v| {
                    let total = self.decrypted.as_ref().map_or(0, |d| d.1);
                    if total == 0 {
                        0.0
                    } else {
                        (v as f64 * 10_000.0 / total as f64).round() / 100.0
                    }
                });
                json!({"candidate_id": c, "name": format!("Candidate {c}"),
                       "vote_count": n, "percentage": pct})
            })
            .collect();
        let tally = match &self.decrypted {
            Some((th, n, shares)) => json!({
                "status": "decrypted", "tally_height": th, "ballots_in_tally": n,
                "shares": shares.iter().map(|(j, h)| json!({"trustee_index": j, "transaction_id": h})).collect::<Vec<_>>(),
            }),
            None => json!({"status": "pending", "message": "ballots are encrypted"}),
        };
        json!({"election_id": 1, "election_name": "Synthetic election", "results": rows,
               "total_votes": self.ballots, "tally": tally,
               "verification": {"chain_valid": true, "head_height": self.blocks.len()}})
    }

    pub fn handler(self) -> Arc<Handler> {
        Arc::new(move |path: &str| {
            let route = path.split('?').next().unwrap_or("");
            let ok = |v: Value| (200, serde_json::to_vec(&v).unwrap());
            match route {
                "/p2p/status" => {
                    let height = self.blocks.len();
                    let best = self.blocks.last().map_or(self.chain_id.clone(), |b| {
                        b["block_hash"].as_str().unwrap().into()
                    });
                    ok(
                        json!({"node_id": self.node_id, "genesis_hash": self.chain_id,
                              "chain_length": height + 1, "best_hash": best,
                              "height": height, "role": "validator", "round": 0}),
                    )
                }
                "/p2p/genesis" => (200, self.genesis.clone().into_bytes()),
                "/p2p/blocks" => {
                    let from = query(path, "from").unwrap_or(1).max(1) as usize;
                    let limit = query(path, "limit").unwrap_or(64).clamp(1, 64) as usize;
                    let page: Vec<Value> = self
                        .blocks
                        .iter()
                        .skip(from - 1)
                        .take(limit)
                        .cloned()
                        .collect();
                    ok(json!({"blocks": page}))
                }
                "/api/votes/results" => ok(self
                    .results
                    .clone()
                    .unwrap_or_else(|| self.honest_results())),
                "/api/tally/1" => ok(self.tally.clone()),
                "/p2p/fallback" if self.fallback.is_some() => {
                    ok(self.fallback.clone().unwrap_or_default())
                }
                _ => (
                    404,
                    br#"{"error":{"code":"not_found","message":"no such route"}}"#.to_vec(),
                ),
            }
        })
    }
}

/// The JSON report of a run.
pub fn json_report(out: &[u8]) -> Value {
    serde_json::from_slice(out)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(out)))
}

pub fn verdict(report: &Value, id: &str) -> String {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))["verdict"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn failures(report: &Value, id: &str) -> Vec<Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()["failures"]
        .as_array()
        .unwrap()
        .clone()
}

/// A chain of 12 ballots in 3 blocks whose station-1 was cut off after
/// block 1: it sealed voters 100-102 into its fallback chain (2 blocks,
/// closed), whose copies are in main block 4.
pub fn with_fallback() -> (SynthChain, Vec<SynthBlock>, SynthFallback) {
    let (c, mut blocks) = chain(12);
    let t0 = c.genesis.created_at_ms;
    let station = &c.stations[0];
    let sealed = c.sealed_offline(station, t0 + 1_500);
    let fb = c.fallback_chain(station, (1, blocks[0].block_hash), sealed, 2, t0 + 2_000);
    let b4 = c.block(4, blocks[2].block_hash, t0 + 4_000, fb.copies.clone());
    blocks.push(b4);
    (c, blocks, fb)
}
