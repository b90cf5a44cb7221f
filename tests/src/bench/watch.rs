//! Following a node's committed blocks from outside, as cheaply as it can
//! be done: the load generator shares the machine with the nodes, so what
//! it spends is taken from them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::agent;

/// Blocks asked for in one JSON-RPC batch.
const WATCH_BATCH: u64 = 16;
/// How long the watcher waits before asking again when nothing is new.
const IDLE: Duration = Duration::from_millis(20);

/// One answer of a JSON-RPC batch of `eth_getBlockByNumber(n, false)`:
/// the block with its transactions' hashes, or null past the head.
#[derive(serde::Deserialize)]
struct RpcBlock {
    id: u64,
    result: Option<HashesOnly>,
}

#[derive(serde::Deserialize)]
struct HashesOnly {
    transactions: Vec<String>,
}

/// Reads the blocks of the node at `url` from height 1 on, through
/// JSON-RPC with their transactions' hashes only, and calls `on_block`
/// with each block's transaction hashes as soon as it is seen, in height
/// order, until `stop`.
pub fn follow_commits(url: &str, stop: &AtomicBool, mut on_block: impl FnMut(&[String])) {
    let agent = agent();
    let mut next = 1u64;
    while !stop.load(Ordering::SeqCst) {
        let batch: Vec<Value> = (next..next + WATCH_BATCH)
            .map(|h| {
                json!({"jsonrpc": "2.0", "id": h, "method": "eth_getBlockByNumber",
                       "params": [format!("0x{h:x}"), false]})
            })
            .collect();
        let mut answers: Vec<RpcBlock> = agent
            .post(format!("{url}/rpc"))
            .send_json(&batch)
            .ok()
            .and_then(|mut r| r.body_mut().with_config().limit(64 << 20).read_json().ok())
            .unwrap_or_default();
        // The first null is past the head.
        answers.sort_by_key(|a| a.id);
        let blocks: Vec<HashesOnly> = answers.into_iter().map_while(|a| a.result).collect();
        if blocks.is_empty() {
            std::thread::sleep(IDLE);
            continue;
        }
        for b in &blocks {
            on_block(&b.transactions);
        }
        next += blocks.len() as u64;
    }
}
