//! Shared by the auditor's black-box tests: synthetic chains, a minimal
//! HTTP server that plays an appliance's peer protocol, and the binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use evote_audit::synth::{SynthBlock, SynthChain, SynthSpec, write_chain_db};
use serde_json::{Value, json};

pub fn bin() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("evote-audit").expect("the evote-audit binary")
}

/// A small valid chain: 3 validators, 1 station, `votes` ballots, 4 per block.
pub fn chain(votes: usize) -> (SynthChain, Vec<SynthBlock>) {
    let spec = SynthSpec {
        votes,
        block_txs: 4,
        created_at_ms: 1_767_247_200_000,
        ..SynthSpec::default()
    };
    let c = SynthChain::new(&spec);
    let blocks = c.blocks(votes, 4, 2);
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

/// What a fake appliance serves.
#[derive(Clone)]
pub struct NodeData {
    pub node_id: String,
    pub genesis: String,
    pub chain_id: String,
    pub blocks: Vec<Value>,
    /// election id → results answer; computed from the blocks when absent.
    pub results: Option<Value>,
}

impl NodeData {
    pub fn new(c: &SynthChain, blocks: &[SynthBlock], node: usize) -> NodeData {
        NodeData {
            node_id: c.validators[node].public.to_hex(),
            genesis: serde_json::to_string(&c.genesis).unwrap(),
            chain_id: c.chain_id.to_hex(),
            blocks: blocks.iter().map(|b| b.to_wire()).collect(),
            results: None,
        }
    }

    /// The results an honest appliance reports for these blocks.
    pub fn honest_results(&self) -> Value {
        let mut counts = [0u64; 4];
        for b in &self.blocks {
            for t in b["transactions"].as_array().unwrap() {
                counts[t["tx"]["ballot"]["candidate_id"].as_u64().unwrap() as usize] += 1;
            }
        }
        let total: u64 = counts.iter().sum();
        let rows: Vec<Value> = (1..=3)
            .map(|c| {
                let pct = if total == 0 {
                    0.0
                } else {
                    (counts[c] as f64 * 10_000.0 / total as f64).round() / 100.0
                };
                json!({"candidate_id": c, "name": format!("Candidate {c}"),
                       "vote_count": counts[c], "percentage": pct})
            })
            .collect();
        json!({"election_id": 1, "election_name": "Synthetic election", "results": rows,
               "total_votes": total,
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
