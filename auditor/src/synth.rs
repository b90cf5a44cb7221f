//! Synthetic chains written as appliance databases (the tables of
//! `migrations/0001` to `0003`), signed with keys of their own and holding
//! encrypted ballots, for the auditor's tests and its verify-rate
//! benchmark. Nothing here is used by an audit.
//!
//! Ballots are encrypted with fixed-base tables (the synthesizer knows
//! every exponent), about 0.3 ms each for 3 candidates, and the randomness
//! is derived from a seed, so the same spec always gives the same chain.

use std::path::Path;
use std::sync::Arc;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use ring::signature::{Ed25519KeyPair, KeyPair};
use rusqlite::{Connection, params};

use crate::protocol::elgamal::{
    BallotContext, Ciphertext, ElectionKey, add_into, prove, to_ciphertexts,
};
use crate::protocol::{
    BallotTx, BlockHeader, Candidate, DecryptionShareTx, Election, Eligibility, Genesis, Params,
    PublicKey, StationInfo, ValidatorInfo, Vote, VoteKind, hash_of, merkle_root, sha256,
};

/// What the black-box tests and the benchmarks use beside the synthetic
/// chains: the objects and the packing they tamper with, and the clock.
pub use crate::audit::now_ms;
pub use crate::protocol::packed::{Row, pack, to_json};
pub use crate::protocol::{CommitSeal, Hash32, Signature, SignedTx, Transaction};

/// A ballot's ciphertexts as points, to add to a tally.
fn points(bt: &BallotTx) -> Vec<(RistrettoPoint, RistrettoPoint)> {
    bt.ballot
        .selections
        .iter()
        .map(|s| (*s.ciphertext.a.point(), *s.ciphertext.b.point()))
        .collect()
}

/// When the short elections of the unit tests begin (2026-01-01 06:00 UTC).
#[cfg(test)]
pub const T0: u64 = 1_767_247_200_000;

/// 12 ballots in 3 blocks of an election that closes a minute after the
/// genesis at [`T0`] (3 candidates, trustees 2 of 3).
#[cfg(test)]
pub fn short_election() -> (SynthChain, Vec<SynthBlock>) {
    let spec = SynthSpec {
        votes: 12,
        block_txs: 4,
        created_at_ms: T0,
        election_ms: 60_000,
        ..SynthSpec::default()
    };
    let c = SynthChain::new(&spec);
    let blocks = c.blocks(12, 4, 1);
    (c, blocks)
}

/// The appliance's schema migrations, in order.
pub const SCHEMA_SQL: [&str; 7] = [
    include_str!("../../migrations/0001_initial.sql"),
    include_str!("../../migrations/0002_fallback.sql"),
    include_str!("../../migrations/0003_encrypted_tally.sql"),
    include_str!("../../migrations/0004_packed_ballots.sql"),
    include_str!("../../migrations/0005_smaller_rows.sql"),
    include_str!("../../migrations/0006_journal_blocks.sql"),
    include_str!("../../migrations/0007_packed_mempool.sql"),
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub validators: usize,
    pub stations: usize,
    pub votes: usize,
    /// Ballots per block (at most the genesis' max_block_txs, 2000).
    pub block_txs: usize,
    /// Genesis time; block h is stamped `h` seconds later.
    pub created_at_ms: u64,
    /// How long the election is open, from the genesis time.
    pub election_ms: u64,
    /// Trustees of the election's key, and how many decrypt.
    pub trustees: u32,
    pub threshold: u32,
    /// Threads used for encrypting and signing.
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
            election_ms: 30 * 86_400_000,
            trustees: 3,
            threshold: 2,
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

/// The generated chain's keys, genesis and election key.
pub struct SynthChain {
    pub genesis: Genesis,
    pub chain_id: Hash32,
    pub validators: Vec<SynthKey>,
    pub stations: Vec<SynthKey>,
    /// A key that is in no genesis.
    pub outsider: SynthKey,
    /// Election 1's key, and each trustee's secret share `s_j` (index j-1).
    pub key: Arc<ElectionKey>,
    pub trustee_secrets: Vec<Scalar>,
    encryptor: prove::Encryptor,
}

/// Election 1's candidates.
pub const CANDIDATES: usize = 3;

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
        let (trustees, trustee_secrets) = prove::ceremony(
            1,
            spec.trustees,
            spec.threshold,
            b"evote-audit synthetic ceremony",
        );
        let key = Arc::new(ElectionKey::from_round1(1, &trustees).expect("the ceremony verifies"));
        let genesis = Genesis {
            protocol: crate::protocol::PROTOCOL.into(),
            chain_name: "evote-audit synthetic chain".into(),
            created_at_ms: t0,
            authority: authority.public,
            credential_authority: SynthKey::from_seed([201; 32]).public,
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
                candidates: (1..=CANDIDATES as u64)
                    .map(|id| Candidate {
                        id,
                        name: format!("Candidate {id}"),
                    })
                    .collect(),
                opens_at: t0,
                closes_at: t0 + spec.election_ms,
                trustees,
                // Any credential may vote: the synthetic chains exercise the
                // block and ballot rules, not the roll.
                eligibility: Eligibility::Open {},
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
            encryptor: prove::Encryptor::new(key.public_key),
            key,
            trustee_secrets,
        }
    }

    pub fn closes_at(&self) -> u64 {
        self.genesis.elections[0].closes_at
    }

    /// The origins in turn: stations first, then validators.
    pub fn origin(&self, i: usize) -> &SynthKey {
        let n = self.stations.len() + self.validators.len();
        let k = i % n;
        if k < self.stations.len() {
            &self.stations[k]
        } else {
            &self.validators[k - self.stations.len()]
        }
    }

    /// Synthetic voter `i`'s credential.
    pub fn credential(i: usize) -> SynthKey {
        SynthKey::from_seed(sha256(format!("synthetic voter {i}").as_bytes()).0)
    }

    /// The nullifier of synthetic voter `i`: their public credential.
    pub fn nullifier(i: usize) -> Hash32 {
        Hash32(Self::credential(i).public.0)
    }

    /// The credential of the synthetic voter (below 4096) whose nullifier
    /// this is.
    fn credential_of(nullifier: &Hash32) -> Option<SynthKey> {
        (0..4096)
            .map(Self::credential)
            .find(|k| k.public.0 == nullifier.0)
    }

    /// The credential's signature over a ballot (PROTOCOL.md §4a).
    fn sign_ballot(credential: &SynthKey, b: &BallotTx) -> Signature {
        credential.sign(&serde_json::json!({
            "type": "ballot_credential",
            "chain_id": b.chain_id,
            "election_id": b.election_id,
            "ballot_hash": b.ballot_hash,
        }))
    }

    /// The ballots of voters 100, 101 and 102 (for candidates 1, 2 and 3)
    /// that `station` accepted offline at `at_ms`, to seal in a fallback
    /// chain.
    pub fn sealed_offline(&self, station: &SynthKey, at_ms: u64) -> Vec<SignedTx> {
        (0..3)
            .map(|k| {
                let seed = format!("fallback ballot {k}");
                self.ballot_for(station, 100 + k, k, at_ms, seed.as_bytes())
            })
            .collect()
    }

    /// An encrypted ballot for candidate `choice` (0-based) by synthetic
    /// voter `voter`, signed by their credential and accepted and signed by
    /// `origin`.
    pub fn ballot_for(
        &self,
        origin: &SynthKey,
        voter: usize,
        choice: usize,
        submitted_at_ms: u64,
        seed: &[u8],
    ) -> SignedTx {
        let credential = Self::credential(voter);
        let nullifier = Hash32(credential.public.0);
        let ctx = BallotContext {
            chain_id: self.chain_id.0,
            election_id: 1,
            nullifier: nullifier.0,
            origin: origin.public.0,
        };
        let ballot = self.encryptor.ballot(&ctx, choice, CANDIDATES, seed);
        let mut b = BallotTx {
            chain_id: self.chain_id,
            election_id: 1,
            nullifier,
            ballot_hash: crate::protocol::canon::ballot_hash(&ballot),
            ballot,
            credential_signature: Signature([0; 64]),
            submitted_at_ms,
            origin: origin.public,
            fallback: None,
        };
        b.credential_signature = Self::sign_ballot(&credential, &b);
        let tx = Transaction::Ballot(b);
        let signature = origin.sign(&tx);
        SignedTx { tx, signature }
    }

    /// Ballot `i`: a distinct voter, candidate `i mod 3`, accepted by the
    /// origins in turn.
    pub fn ballot(&self, i: usize, submitted_at_ms: u64) -> SignedTx {
        let seed = format!("synthetic ballot {i}");
        self.ballot_for(
            self.origin(i),
            i,
            i % CANDIDATES,
            submitted_at_ms,
            seed.as_bytes(),
        )
    }

    /// Trustee `j`'s decryption share of `aggregate` (`ballot_count`
    /// ballots, after block `tally_height`), carried by `carrier`.
    pub fn share_tx(
        &self,
        j: u32,
        tally_height: u64,
        ballot_count: u64,
        aggregate: &[Ciphertext],
        carrier: &SynthKey,
        submitted_at_ms: u64,
    ) -> SignedTx {
        let share = prove::decryption_share(
            &self.chain_id.0,
            &self.key,
            j,
            &self.trustee_secrets[j as usize - 1],
            aggregate,
            format!("share {j} {tally_height}").as_bytes(),
        );
        let tx = Transaction::DecryptionShare(DecryptionShareTx {
            chain_id: self.chain_id,
            election_id: 1,
            tally_height,
            ballot_count,
            share,
            submitted_at_ms,
            origin: carrier.public,
        });
        let signature = carrier.sign(&tx);
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
        let block_hash = crate::protocol::canon::header_hash(&header).expect("a header encodes");
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

    /// A valid chain of `votes` ballots in blocks of `per_block`, encrypted
    /// and signed on `threads` threads. Block h is stamped
    /// `created_at_ms + h` seconds.
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
                .flat_map(|h| h.join().expect("a synthesizing thread"))
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

    /// The encrypted totals of election 1 over `blocks`: (ballots, totals).
    pub fn aggregate(blocks: &[SynthBlock]) -> (u64, Vec<Ciphertext>) {
        let mut total = vec![(RistrettoPoint::identity(), RistrettoPoint::identity()); CANDIDATES];
        let mut n = 0;
        for b in blocks {
            for t in &b.txs {
                if let Transaction::Ballot(bt) = &t.tx {
                    add_into(&mut total, &points(bt));
                    n += 1;
                }
            }
        }
        (n, to_ciphertexts(&total))
    }

    /// What follows the ballots once the election has closed: an empty
    /// block stamped at the close, then a block holding the decryption
    /// shares of `trustees` of the tally after that empty block.
    pub fn tally_blocks(&self, chain: &[SynthBlock], trustees: &[u32]) -> Vec<SynthBlock> {
        let last = chain.last();
        let height = last.map_or(0, |b| b.header.height) + 1;
        let prev = last.map_or(self.chain_id, |b| b.block_hash);
        let t = last
            .map_or(0, |b| b.header.timestamp_ms)
            .max(self.closes_at());
        let closing = self.block(height, prev, t, Vec::new());
        let (count, agg) = Self::aggregate(chain);
        let shares = trustees
            .iter()
            .map(|&j| self.share_tx(j, height, count, &agg, &self.validators[0], t + 500))
            .collect();
        let with_shares = self.block(height + 1, closing.block_hash, t + 1_000, shares);
        vec![closing, with_shares]
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

/// An appliance's stored running tally (`election_tallies.state`).
#[derive(serde::Serialize)]
struct StoredTally<'a> {
    election_id: u64,
    height: u64,
    ballot_count: u64,
    aggregate: &'a [Ciphertext],
}

/// Writes `blocks` of `chain` as a new appliance database at `path`, with
/// the rows an appliance derives from them (running tallies, shares).
pub fn write_chain_db(
    path: &Path,
    chain: &SynthChain,
    blocks: &[SynthBlock],
) -> Result<SynthSummary, String> {
    let mut conn = Connection::open(path).map_err(sql)?;
    for m in SCHEMA_SQL {
        conn.execute_batch(m).map_err(sql)?;
    }
    conn.pragma_update(None, "user_version", SCHEMA_SQL.len() as i64)
        .map_err(sql)?;
    let genesis_json = serde_json::to_string_pretty(&chain.genesis).map_err(|e| e.to_string())?;
    let tx = conn.transaction().map_err(sql)?;
    write_genesis(&tx, chain)?;
    let votes = {
        let mut w = Writer::new(&tx)?;
        for b in blocks {
            w.block(b)?;
        }
        w.ballots
    };
    tx.commit().map_err(sql)?;
    Ok(SynthSummary {
        blocks: blocks.len() as u64,
        votes,
        chain_id: chain.chain_id,
        genesis_json,
    })
}

/// The genesis, its chain id, and its elections' rows.
fn write_genesis(tx: &Connection, chain: &SynthChain) -> Result<(), String> {
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
    Ok(())
}

/// Writes blocks as an appliance commits them: the block, its
/// transactions (ballots packed), the decryption shares, and election 1's
/// running tally after each block that changed it.
struct Writer<'c> {
    ins_block: rusqlite::Statement<'c>,
    ins_tx: rusqlite::Statement<'c>,
    ins_tally: rusqlite::Statement<'c>,
    ins_share: rusqlite::Statement<'c>,
    total: Vec<(RistrettoPoint, RistrettoPoint)>,
    ballots: u64,
}

impl<'c> Writer<'c> {
    fn new(tx: &'c Connection) -> Result<Self, String> {
        Ok(Self {
            ins_block: tx
                .prepare(
                    "INSERT INTO blocks (height, block_hash, prev_hash, round, timestamp_ms, proposer, \
                     tx_count, header, proposer_signature, seals, committed_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(sql)?,
            ins_tx: tx
                .prepare(
                    "INSERT INTO transactions (tx_hash, block_height, position, kind, election_id, \
                     nullifier, origin, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(sql)?,
            ins_tally: tx
                .prepare(
                    "INSERT INTO election_tallies (election_id, height, ballot_count, state) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sql)?,
            ins_share: tx
                .prepare(
                    "INSERT INTO decryption_shares (election_id, tally_height, trustee_index, \
                     block_height, tx_hash, share) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(sql)?,
            total: vec![(RistrettoPoint::identity(), RistrettoPoint::identity()); CANDIDATES],
            ballots: 0,
        })
    }

    fn block(&mut self, b: &SynthBlock) -> Result<(), String> {
        let h = &b.header;
        self.ins_block
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
        let mut changed = false;
        for (pos, (stx, th)) in b.txs.iter().zip(&b.tx_hashes).enumerate() {
            changed |= self.transaction(h.height, pos, stx, th)?;
        }
        if changed {
            let agg = to_ciphertexts(&self.total);
            let state = StoredTally {
                election_id: 1,
                height: h.height,
                ballot_count: self.ballots,
                aggregate: &agg,
            };
            self.ins_tally
                .execute(params![
                    1i64,
                    h.height as i64,
                    self.ballots as i64,
                    serde_json::to_string(&state).map_err(|e| e.to_string())?,
                ])
                .map_err(sql)?;
        }
        Ok(())
    }

    /// Writes transaction `pos` of block `height`; whether it was a ballot
    /// (which changes the running tally).
    fn transaction(
        &mut self,
        height: u64,
        pos: usize,
        stx: &SignedTx,
        th: &Hash32,
    ) -> Result<bool, String> {
        let (kind, nullifier) = match &stx.tx {
            Transaction::Ballot(bt) => ("ballot", Some(bt.nullifier.0.to_vec())),
            Transaction::DecryptionShare(_) => ("decryption_share", None),
            Transaction::CheckIn(_) => ("check_in", None),
            Transaction::CredentialReplacement(_) => ("credential_replacement", None),
            Transaction::DeviceClose(_) => ("device_close", None),
            Transaction::SpoiledBallot(_) => ("spoiled_ballot", None),
        };
        self.ins_tx
            .execute(params![
                th.as_bytes(),
                height as i64,
                pos as i64,
                kind,
                stx.tx.election_id() as i64,
                nullifier,
                stx.tx.origin().as_bytes(),
                // As an appliance stores them: ballots packed.
                match crate::protocol::packed::pack(stx) {
                    Some(b) => rusqlite::types::Value::Blob(b),
                    None => rusqlite::types::Value::Text(
                        serde_json::to_string(stx).map_err(|e| e.to_string())?,
                    ),
                },
            ])
            .map_err(sql)?;
        match &stx.tx {
            Transaction::Ballot(bt) => {
                add_into(&mut self.total, &points(bt));
                self.ballots += 1;
                Ok(true)
            }
            Transaction::DecryptionShare(d) => {
                self.ins_share
                    .execute(params![
                        d.election_id as i64,
                        d.tally_height as i64,
                        d.share.trustee_index,
                        height as i64,
                        th.as_bytes(),
                        serde_json::to_string(d).map_err(|e| e.to_string())?,
                    ])
                    .map_err(sql)?;
                Ok(false)
            }
            _ => Ok(false),
        }
    }
}

/// A synthetic fallback chain (PROTOCOL.md §7a) and what goes with it.
pub struct SynthFallback {
    pub origin: PublicKey,
    /// The blocks' wire form, in seq order.
    pub blocks: Vec<serde_json::Value>,
    /// Per block, its hash.
    pub block_hashes: Vec<Hash32>,
    /// The sealed ballots, in chain order, and their main-chain copies.
    pub sealed: Vec<SignedTx>,
    pub copies: Vec<SignedTx>,
    /// The signed closing record.
    pub close: serde_json::Value,
}

impl SynthFallback {
    /// What `GET /p2p/fallback` answers, with every copy in `state`
    /// (`confirmed`, `rejected`, `waiting`...) and no conflicting transaction.
    pub fn page(&self, state: &str) -> serde_json::Value {
        let seq_of = |k: usize| {
            let mut n = 0;
            for (s, b) in self.blocks.iter().enumerate() {
                n += b["transactions"].as_array().map_or(0, Vec::len);
                if k < n {
                    return s as u64 + 1;
                }
            }
            0
        };
        let ballots: Vec<serde_json::Value> = self
            .sealed
            .iter()
            .zip(&self.copies)
            .enumerate()
            .map(|(k, (s, c))| {
                serde_json::json!({
                    "seq": seq_of(k),
                    "sealed_tx_hash": hash_of(&s.tx).expect("encodes"),
                    "main_tx_hash": hash_of(&c.tx).expect("encodes"),
                    "state": state,
                    "conflicting_tx": null,
                })
            })
            .collect();
        serde_json::json!({
            "origin": self.origin,
            "origins": [self.origin],
            "blocks": self.blocks,
            "ballots": ballots,
            "close": self.close,
            "next_seq": null,
        })
    }
}

impl SynthChain {
    /// `ballots` (signed by `origin`, without fallback references) sealed
    /// into `origin`'s fallback chain, `per_block` to a block, anchored on
    /// main block `anchor` (height, hash), stamped from `t0` on; closed.
    pub fn fallback_chain(
        &self,
        origin: &SynthKey,
        anchor: (u64, Hash32),
        ballots: Vec<SignedTx>,
        per_block: usize,
        t0: u64,
    ) -> SynthFallback {
        use crate::checks::fallback::FallbackClose;
        use crate::protocol::{FallbackBlockType, FallbackHeader, merkle_path};
        let mut out = SynthFallback {
            origin: origin.public,
            blocks: Vec::new(),
            block_hashes: Vec::new(),
            sealed: Vec::new(),
            copies: Vec::new(),
            close: serde_json::Value::Null,
        };
        let mut prev = anchor.1;
        for (k, txs) in ballots.chunks(per_block.max(1)).enumerate() {
            let hashes: Vec<Hash32> = txs
                .iter()
                .map(|t| hash_of(&t.tx).expect("encodes"))
                .collect();
            let header = FallbackHeader {
                kind: FallbackBlockType::FallbackBlock,
                chain_id: self.chain_id,
                origin: origin.public,
                seq: k as u64 + 1,
                prev_hash: prev,
                anchor_height: anchor.0,
                anchor_hash: anchor.1,
                timestamp_ms: t0 + k as u64 * 1_000,
                tx_root: merkle_root(&hashes),
                tx_count: txs.len() as u64,
            };
            let block_hash = hash_of(&header).expect("encodes");
            let signature = origin.sign_digest(&block_hash);
            out.blocks.push(serde_json::json!({
                "header": header,
                "block_hash": block_hash,
                "signature": signature,
                "transactions": txs,
            }));
            for (i, t) in txs.iter().enumerate() {
                let mut copy = t.clone();
                if let Transaction::Ballot(b) = &mut copy.tx {
                    b.fallback = Some(crate::protocol::FallbackRef {
                        header: header.clone(),
                        signature,
                        index: i as u64,
                        path: merkle_path(&hashes, i),
                    });
                }
                copy.signature = origin.sign(&copy.tx);
                out.copies.push(copy);
                out.sealed.push(t.clone());
            }
            out.block_hashes.push(block_hash);
            prev = block_hash;
        }
        let close = FallbackClose {
            kind: "fallback_close".into(),
            chain_id: self.chain_id,
            origin: origin.public,
            ballot_count: out.sealed.len() as u64,
            last_seq: out.blocks.len() as u64,
            last_hash: prev,
            closed_at_ms: t0 + out.blocks.len() as u64 * 1_000,
        };
        out.close = serde_json::json!({"signature": origin.sign(&close), "close": close});
        out
    }
}

impl SynthChain {
    /// The key of a validator or station of this chain.
    pub fn key_of(&self, public: &PublicKey) -> Option<&SynthKey> {
        self.validators
            .iter()
            .chain(&self.stations)
            .chain(std::iter::once(&self.outsider))
            .find(|k| k.public == *public)
    }

    /// `stx` changed by `edit` and signed again by `key` (its ballot_hash
    /// recomputed), as an appliance holding `key` could do.
    pub fn resign(
        &self,
        stx: &SignedTx,
        key: &SynthKey,
        edit: impl FnOnce(&mut BallotTx),
    ) -> SignedTx {
        let mut tx = stx.tx.clone();
        if let Transaction::Ballot(b) = &mut tx {
            edit(b);
            b.ballot_hash = crate::protocol::canon::ballot_hash(&b.ballot);
            // The voter's device could sign whatever it was given.
            if let Some(k) = Self::credential_of(&b.nullifier) {
                b.credential_signature = Self::sign_ballot(&k, b);
            }
        }
        let signature = key.sign(&tx);
        SignedTx { tx, signature }
    }

    /// Runs the auditor's rules over `blocks` on one thread, at `now_ms`:
    /// the rules, the final state, every finding and each block's record.
    pub fn audit(
        &self,
        blocks: &[SynthBlock],
        now_ms: u64,
    ) -> (
        crate::protocol::ChainRules,
        crate::checks::chain::ChainState,
        Vec<crate::checks::Finding>,
        Vec<crate::checks::chain::HeightRecord>,
    ) {
        use crate::checks::block::check_block;
        use crate::checks::{RawBlock, SigCache};
        let rules =
            crate::protocol::ChainRules::new(self.genesis.clone()).expect("a valid genesis");
        let mut state = crate::checks::chain::ChainState::new(&rules);
        let cache = SigCache::new(0);
        let mut findings = Vec::new();
        let mut records = Vec::new();
        for b in blocks {
            let raw = RawBlock::from_wire(&b.to_wire().to_string());
            let (f, r) = check_block(&rules, &mut state, &raw, now_ms, &cache);
            findings.extend(f);
            records.push(r);
        }
        (rules, state, findings, records)
    }
}
