//! Synthetic chains written as appliance databases (the tables of
//! `migrations/0001_initial.sql`), signed with keys of their own, for the
//! auditor's tests and its verify-rate benchmark. Nothing here is used by
//! an audit.

use std::path::Path;

use ring::signature::{Ed25519KeyPair, KeyPair};
use rusqlite::{Connection, params};

use crate::wire::{
    Ballot, BallotTx, BlockHeader, Candidate, CommitSeal, Election, Genesis, Hash32, Params,
    PublicKey, Signature, SignedTx, StationInfo, TxKind, ValidatorInfo, Vote, VoteKind, hash_of,
    merkle_root, sha256,
};

/// The appliance's first schema migration.
pub const SCHEMA_SQL: &str = include_str!("../../migrations/0001_initial.sql");

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub validators: usize,
    pub stations: usize,
    pub votes: usize,
    /// Ballots per block (at most the genesis' max_block_txs, 2000).
    pub block_txs: usize,
    /// Genesis time; blocks follow one second apart.
    pub created_at_ms: u64,
    /// Threads used for signing.
    pub threads: usize,
}

impl Default for SynthSpec {
    fn default() -> Self {
        Self {
            validators: 3,
            stations: 1,
            votes: 100,
            block_txs: 10,
            created_at_ms: 1_767_247_200_000,
            threads: 1,
        }
    }
}

/// A test key from a seed byte.
pub struct SynthKey {
    pair: Ed25519KeyPair,
    pub public: PublicKey,
}

impl SynthKey {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("a 32-byte seed is a key");
        let public = PublicKey::from_slice(pair.public_key().as_ref()).expect("32-byte key");
        Self { pair, public }
    }

    /// `sign(key, x) = Ed25519(H(x))` (PROTOCOL.md §2).
    pub fn sign_digest(&self, d: &Hash32) -> Signature {
        Signature::from_slice(self.pair.sign(d.as_bytes()).as_ref()).expect("64-byte signature")
    }

    pub fn sign<T: serde::Serialize>(&self, x: &T) -> Signature {
        self.sign_digest(&hash_of(x).expect("synthetic objects encode"))
    }
}

/// The generated chain's keys and genesis.
pub struct SynthChain {
    pub genesis: Genesis,
    pub chain_id: Hash32,
    pub validators: Vec<SynthKey>,
    pub stations: Vec<SynthKey>,
    /// A key that is in no genesis.
    pub outsider: SynthKey,
}

impl SynthChain {
    pub fn new(spec: &SynthSpec) -> Self {
        let validators: Vec<SynthKey> = (0..spec.validators)
            .map(|i| SynthKey::from_seed([i as u8 + 1; 32]))
            .collect();
        let stations: Vec<SynthKey> = (0..spec.stations)
            .map(|i| SynthKey::from_seed([i as u8 + 101; 32]))
            .collect();
        let authority = SynthKey::from_seed([200; 32]);
        let outsider = SynthKey::from_seed([250; 32]);
        let t0 = spec.created_at_ms;
        let genesis = Genesis {
            protocol: "evote/1".into(),
            chain_name: "evote-audit synthetic chain".into(),
            created_at_ms: t0,
            authority: authority.public,
            validators: validators
                .iter()
                .enumerate()
                .map(|(i, k)| ValidatorInfo {
                    public_key: k.public,
                    name: format!("validator-{}", i + 1),
                    p2p_url: format!("http://validator-{}.synthetic.invalid:8001", i + 1),
                })
                .collect(),
            stations: stations
                .iter()
                .enumerate()
                .map(|(i, k)| StationInfo {
                    public_key: k.public,
                    name: format!("station-{}", i + 1),
                })
                .collect(),
            elections: vec![Election {
                id: 1,
                name: "Synthetic election".into(),
                candidates: (1..=3)
                    .map(|id| Candidate {
                        id,
                        name: format!("Candidate {id}"),
                    })
                    .collect(),
                opens_at: t0,
                closes_at: t0 + 30 * 86_400_000,
            }],
            params: Params {
                block_period_ms: 1_000,
                empty_block_period_ms: 60_000,
                round_timeout_ms: 2_000,
                max_block_txs: 2_000,
                fallback_after_ms: 10_000,
            },
        };
        let chain_id = hash_of(&genesis).expect("the genesis encodes");
        Self {
            genesis,
            chain_id,
            validators,
            stations,
            outsider,
        }
    }

    /// Ballot `i`: a distinct voter, candidate 1 + i mod 3, accepted by the
    /// origins in turn, `submitted_at_ms` just before its block.
    pub fn ballot(&self, i: usize, submitted_at_ms: u64) -> SignedTx {
        let origins: Vec<&SynthKey> = self.stations.iter().chain(&self.validators).collect();
        let origin = origins[i % origins.len()];
        let ballot = Ballot {
            candidate_id: 1 + (i % 3) as u64,
            encrypted_vote: format!("c3ludGhldGljIGJhbGxvdCA{i:08}"),
        };
        let tx = BallotTx {
            kind: TxKind::Ballot,
            chain_id: self.chain_id,
            election_id: 1,
            nullifier: sha256(format!("synthetic voter {i}").as_bytes()),
            ballot_hash: hash_of(&ballot).expect("a ballot encodes"),
            ballot,
            submitted_at_ms,
            origin: origin.public,
            fallback: None,
        };
        let signature = origin.sign(&tx);
        SignedTx { tx, signature }
    }

    /// A committed block on `parent` (height, hash): proposed by the
    /// validator whose turn it is in round 0 and sealed by all validators.
    pub fn block(
        &self,
        height: u64,
        prev_hash: Hash32,
        timestamp_ms: u64,
        txs: Vec<SignedTx>,
    ) -> SynthBlock {
        let hashes: Vec<Hash32> = txs
            .iter()
            .map(|t| hash_of(&t.tx).expect("a transaction encodes"))
            .collect();
        let n = self.validators.len() as u64;
        let proposer = &self.validators[(height % n) as usize];
        let header = BlockHeader {
            chain_id: self.chain_id,
            height,
            round: 0,
            prev_hash,
            timestamp_ms,
            proposer: proposer.public,
            tx_root: merkle_root(&hashes),
            tx_count: txs.len() as u64,
        };
        let block_hash = crate::canon::header_hash(&header).expect("a header encodes");
        let proposer_signature =
            proposer.sign(&Vote::about(VoteKind::Proposal, &header, block_hash));
        let commit = Vote::about(VoteKind::Commit, &header, block_hash);
        let seals = self
            .validators
            .iter()
            .map(|k| CommitSeal {
                validator: k.public,
                signature: k.sign(&commit),
            })
            .collect();
        SynthBlock {
            header,
            block_hash,
            proposer_signature,
            seals,
            txs,
            tx_hashes: hashes,
        }
    }
}

pub struct SynthBlock {
    pub header: BlockHeader,
    pub block_hash: Hash32,
    pub proposer_signature: Signature,
    pub seals: Vec<CommitSeal>,
    pub txs: Vec<SignedTx>,
    pub tx_hashes: Vec<Hash32>,
}

impl SynthBlock {
    /// The block's wire form (block.schema.json).
    pub fn to_wire(&self) -> serde_json::Value {
        serde_json::json!({
            "header": self.header,
            "block_hash": self.block_hash,
            "proposer_signature": self.proposer_signature,
            "transactions": self.txs,
            "seals": self.seals,
        })
    }
}

/// What [`write_db`] made.
#[derive(Debug, Clone)]
pub struct SynthSummary {
    pub blocks: u64,
    pub votes: u64,
    pub chain_id: Hash32,
    pub genesis_json: String,
}

fn sql(e: rusqlite::Error) -> String {
    e.to_string()
}

/// Writes a new appliance database at `path` holding a valid chain of
/// `spec.votes` ballots in blocks of `spec.block_txs`.
pub fn write_db(path: &Path, spec: &SynthSpec) -> Result<SynthSummary, String> {
    let chain = SynthChain::new(spec);
    let blocks = chain.blocks(spec.votes, spec.block_txs, spec.threads);
    write_chain_db(path, &chain, &blocks)
}

impl SynthChain {
    /// A valid chain of `votes` ballots in blocks of `per_block`, signed on
    /// `threads` threads. Block h is stamped `created_at_ms + h` seconds.
    pub fn blocks(&self, votes: usize, per_block: usize, threads: usize) -> Vec<SynthBlock> {
        let per_block = per_block.clamp(1, 2_000);
        let t0 = self.genesis.created_at_ms;
        let threads = threads.max(1);
        let ts_of = |i: usize| t0 + ((i / per_block) as u64 + 1) * 1_000 - 500;
        let ballots: Vec<SignedTx> = std::thread::scope(|s| {
            let chunk = votes.div_ceil(threads).max(1);
            let handles: Vec<_> = (0..threads)
                .map(|k| {
                    s.spawn(move || {
                        let lo = (k * chunk).min(votes);
                        let hi = ((k + 1) * chunk).min(votes);
                        (lo..hi)
                            .map(|i| self.ballot(i, ts_of(i)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("a signing thread"))
                .collect()
        });
        let mut out = Vec::new();
        let mut prev = self.chain_id;
        let mut it = ballots.into_iter().peekable();
        while it.peek().is_some() {
            let height = out.len() as u64 + 1;
            let txs: Vec<SignedTx> = it.by_ref().take(per_block).collect();
            let b = self.block(height, prev, t0 + height * 1_000, txs);
            prev = b.block_hash;
            out.push(b);
        }
        out
    }
}

/// Writes `blocks` of `chain` as a new appliance database at `path`.
pub fn write_chain_db(
    path: &Path,
    chain: &SynthChain,
    blocks: &[SynthBlock],
) -> Result<SynthSummary, String> {
    let mut conn = Connection::open(path).map_err(sql)?;
    conn.execute_batch(SCHEMA_SQL).map_err(sql)?;
    conn.pragma_update(None, "user_version", 1).map_err(sql)?;
    let genesis_json = serde_json::to_string_pretty(&chain.genesis).map_err(|e| e.to_string())?;
    let tx = conn.transaction().map_err(sql)?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('genesis', ?1), ('chain_id', ?2)",
        params![
            serde_json::to_string(&chain.genesis).map_err(|e| e.to_string())?,
            chain.chain_id.to_hex()
        ],
    )
    .map_err(sql)?;
    for e in &chain.genesis.elections {
        tx.execute(
            "INSERT INTO elections (id, name, opens_at, closes_at) VALUES (?1, ?2, ?3, ?4)",
            params![e.id as i64, e.name, e.opens_at as i64, e.closes_at as i64],
        )
        .map_err(sql)?;
        for c in &e.candidates {
            tx.execute(
                "INSERT INTO candidates (election_id, id, name) VALUES (?1, ?2, ?3)",
                params![e.id as i64, c.id as i64, c.name],
            )
            .map_err(sql)?;
        }
    }
    let mut votes = 0u64;
    {
        let mut ins_block = tx
            .prepare(
                "INSERT INTO blocks (height, block_hash, prev_hash, round, timestamp_ms, proposer, \
                 tx_count, header, proposer_signature, seals, committed_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(sql)?;
        let mut ins_tx = tx
            .prepare(
                "INSERT INTO transactions (tx_hash, block_height, position, kind, election_id, \
                 nullifier, candidate_id, origin, body) VALUES (?1, ?2, ?3, 'ballot', ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(sql)?;
        for b in blocks {
            let h = &b.header;
            ins_block
                .execute(params![
                    h.height as i64,
                    b.block_hash.as_bytes(),
                    h.prev_hash.as_bytes(),
                    h.round as i64,
                    h.timestamp_ms as i64,
                    h.proposer.as_bytes(),
                    b.txs.len() as i64,
                    serde_json::to_string(h).map_err(|e| e.to_string())?,
                    b.proposer_signature.to_hex(),
                    serde_json::to_string(&b.seals).map_err(|e| e.to_string())?,
                    h.timestamp_ms as i64 + 100,
                ])
                .map_err(sql)?;
            for (pos, (stx, th)) in b.txs.iter().zip(&b.tx_hashes).enumerate() {
                ins_tx
                    .execute(params![
                        th.as_bytes(),
                        h.height as i64,
                        pos as i64,
                        stx.tx.election_id as i64,
                        stx.tx.nullifier.as_bytes(),
                        stx.tx.ballot.candidate_id as i64,
                        stx.tx.origin.as_bytes(),
                        serde_json::to_string(stx).map_err(|e| e.to_string())?,
                    ])
                    .map_err(sql)?;
                votes += 1;
            }
        }
    }
    tx.commit().map_err(sql)?;
    Ok(SynthSummary {
        blocks: blocks.len() as u64,
        votes,
        chain_id: chain.chain_id,
        genesis_json,
    })
}
