//! `evote-bench growth`: how long committing a block takes as the chain
//! grows. A node's commit cost is not fixed: the chain's unique indexes on
//! transaction hash and nullifier take random keys, and once they outgrow
//! the page cache every ballot dirties a page of each. A short load run
//! never sees that; an election of millions of ballots does.
//!
//! Blocks of ballots are appended through the appliance's own store
//! (`Store::append_block`, the code a node commits with) to a database in a
//! temporary directory. Every ballot is one real encrypted ballot under a
//! fresh random nullifier, signed again: the store checks no proof (a node
//! checks before it commits), so the rows, their indexes and the running
//! tally are what a real chain of that size holds, at a fraction of the
//! cost of making millions of ballots.

use std::time::Instant;

use evote_appliance::{DB_FILE, NODE_PAGE_CACHE_MIB, OsRandom, Store};
use evote_core::ledger::crypto::key_from_seed;
use evote_core::ledger::{BallotTx, Block, Hash32, SignedTx, Transaction};
use rand_core::RngCore;
use serde_json::{Value, json};

use super::bound::{Setup, make, setup};

pub struct GrowthArgs {
    /// Ballots on chain at the end.
    pub votes: u64,
    /// Ballots per block.
    pub block: u32,
    /// Ballots between two samples.
    pub every: u64,
}

/// One sample: the mean and the longest commit time of the blocks since
/// the last one (the longest shows the commits that ran a checkpoint).
pub struct Sample {
    pub votes_on_chain: u64,
    pub ms_per_block: f64,
    pub max_ms: f64,
}

impl Sample {
    pub fn to_json(&self, block: u32) -> Value {
        json!({
            "votes_on_chain": self.votes_on_chain,
            "ms_per_block": self.ms_per_block,
            "max_ms": self.max_ms,
            "us_per_vote": self.ms_per_block * 1000.0 / f64::from(block),
        })
    }
}

/// Appends blocks until `votes` ballots are on chain, calling `report`
/// with a sample every `every` ballots; returns every sample as JSON.
pub fn run(args: &GrowthArgs, mut report: impl FnMut(&Sample)) -> Result<Value, String> {
    if args.block == 0 || args.every < u64::from(args.block) {
        return Err("--block must be at least 1 and --every at least --block".into());
    }
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let s = setup();
    let mut store = Store::open(&dir.path().join(DB_FILE)).map_err(|e| e.to_string())?;
    store.init_genesis(&s.genesis).map_err(|e| e.to_string())?;
    store
        .set_page_cache_mib(NODE_PAGE_CACHE_MIB)
        .map_err(|e| e.to_string())?;
    let mut maker = BlockMaker::new(&s);
    let mut samples = Vec::new();
    let (mut on_chain, mut window_s, mut window_max, mut window_blocks) = (0u64, 0f64, 0f64, 0u32);
    while on_chain < args.votes {
        let head = store.head().map_err(|e| e.to_string())?;
        let block = maker.next(head.height + 1, head.hash, args.block)?;
        let t = Instant::now();
        store
            .append_block(&block, 3_000)
            .map_err(|e| e.to_string())?;
        let took = t.elapsed().as_secs_f64();
        window_s += took;
        window_max = window_max.max(took);
        window_blocks += 1;
        on_chain += u64::from(args.block);
        if on_chain % args.every < u64::from(args.block) || on_chain >= args.votes {
            let sample = Sample {
                votes_on_chain: on_chain,
                ms_per_block: window_s * 1000.0 / f64::from(window_blocks),
                max_ms: window_max * 1000.0,
            };
            report(&sample);
            samples.push(sample.to_json(args.block));
            (window_s, window_max, window_blocks) = (0.0, 0.0, 0);
        }
    }
    Ok(json!({
        "block": args.block,
        "page_cache_mib": NODE_PAGE_CACHE_MIB,
        "samples": samples,
    }))
}

/// Blocks of copies of one encrypted ballot, each under its own nullifier.
struct BlockMaker<'a> {
    setup: &'a Setup,
    template: BallotTx,
    rng: OsRandom,
}

impl<'a> BlockMaker<'a> {
    fn new(setup: &'a Setup) -> Self {
        let Transaction::Ballot(template) = make(setup, 0).tx else {
            unreachable!("make builds ballot transactions")
        };
        Self {
            setup,
            template,
            rng: OsRandom::default(),
        }
    }

    fn next(&mut self, height: u64, prev: Hash32, ballots: u32) -> Result<Block, String> {
        let (key, t) = (&self.setup.key, &self.template);
        let txs = (0..ballots)
            .map(|_| {
                let mut seed = [0u8; 32];
                self.rng.fill_bytes(&mut seed);
                let tx = BallotTx::new(
                    t.chain_id,
                    t.election_id,
                    &key_from_seed(&seed),
                    t.ballot.clone(),
                    t.submitted_at_ms,
                    key.public(),
                )
                .map_err(|e| e.to_string())?;
                SignedTx::sign(Transaction::Ballot(tx), key).map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut block = Block::propose(t.chain_id, height, 0, prev, 2_000 + height, txs, key)
            .map_err(|e| e.to_string())?;
        block.seals = vec![block.seal(key).map_err(|e| e.to_string())?];
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_each_window_and_refuses_an_empty_block() {
        let args = GrowthArgs {
            votes: 50,
            block: 10,
            every: 20,
        };
        let mut seen = Vec::new();
        let r = run(&args, |s| seen.push(s.votes_on_chain)).unwrap();
        assert_eq!(seen, vec![20, 40, 50]);
        assert_eq!(r["samples"].as_array().unwrap().len(), 3);
        let first = &r["samples"][0];
        assert!(first["ms_per_block"].as_f64().unwrap() > 0.0);
        assert!(first["max_ms"].as_f64().unwrap() >= first["ms_per_block"].as_f64().unwrap());
        let bad = GrowthArgs {
            votes: 10,
            block: 0,
            every: 10,
        };
        assert!(run(&bad, |_| ()).is_err());
    }
}
