//! The deterministic generator of the test vectors in `schema/vectors/`.
//!
//! Shared by `examples/make_vectors.rs`, which writes the files, and
//! `tests/vectors.rs`, which checks that the committed files are exactly
//! what this code makes. It uses only the public API of
//! `evote_appliance::ledger`, fixed key seeds and fixed timestamps, so every
//! run produces the same bytes (Ed25519 signing is deterministic).
//!
//! It does not run the validity checks: every invalid vector names the
//! rule it was built to break, and the test checks that the ledger agrees.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use evote_appliance::ledger::canonical::{MAX_SAFE_INTEGER, canonical_bytes, hash_of, sha256};
use evote_appliance::ledger::crypto::pkcs8_from_seed;
use evote_appliance::ledger::genesis::PROTOCOL;
use evote_appliance::ledger::nullifier::{normalize_identity, nullifier};
use evote_appliance::ledger::tx::{LATE_BALLOT_GRACE_MS, MAX_ENCRYPTED_VOTE_LEN};
use evote_appliance::ledger::validate::MAX_FUTURE_DRIFT_MS;
use evote_appliance::ledger::{
    Ballot, BallotTx, Block, Candidate, Election, FallbackRef, Genesis, Hash32, NodeKey, Params,
    PublicKey, SignedTx, StationInfo, Transaction, ValidatorInfo, Vote, VoteKind, merkle_root,
    quorum,
};
use serde::Serialize;

/// Where the files go, relative to the workspace root.
pub const VECTORS_DIR: &str = "schema/vectors";

/// The command that rewrites the files, run from the workspace root.
pub const REGENERATE: &str =
    "cargo run -p evote-appliance --example make_vectors -- schema/vectors";

/// 2026-01-01T00:00:00Z in milliseconds.
const DAY0: u64 = 1_767_225_600_000;
const HOUR: u64 = 3_600_000;
const CREATED_AT: u64 = DAY0 + 6 * HOUR;
const OPENS_AT: u64 = DAY0 + 7 * HOUR;
const CLOSES_AT: u64 = DAY0 + 20 * HOUR;
const ELECTION: u64 = 1;
const CANDIDATES: [u64; 3] = [101, 102, 103];
const NULLIFIER_SECRET: &[u8; 32] = b"evote-test-nullifier-secret-0001";

const VALIDATOR_SEEDS: [u8; 3] = [0x01, 0x02, 0x03];
const STATION_SEED: u8 = 0x64;
const AUTHORITY_SEED: u8 = 0xc8;
const OUTSIDER_SEED: u8 = 0x32;

/// Every generated file, by path relative to `schema/vectors/`.
pub fn generate() -> BTreeMap<String, String> {
    let w = World::new();
    let chain = w.chain();
    let invalid = w.invalid_vectors(&chain);

    let mut files = BTreeMap::new();
    files.insert("genesis.json".to_string(), to_json(&w.genesis));
    files.insert("keys.json".to_string(), to_json(&w.keys_file()));
    files.insert(
        "chain.json".to_string(),
        to_json(&ChainFile {
            description: "Blocks 1 to 4 of the chain of genesis.json, each committed with seals. \
                          Check them in order: the parent of block 1 is height 0 (hash = chain_id, \
                          timestamp_ms = genesis.created_at_ms), the parent of block h is block h-1. \
                          now_ms is the checker's clock for the timestamp_in_future rule; it is \
                          exactly MAX_FUTURE_DRIFT_MS before the last block's timestamp, the \
                          latest clock reading that still accepts it."
                .into(),
            genesis: "genesis.json".into(),
            now_ms: chain.now_ms,
            blocks: chain.blocks.clone(),
        }),
    );
    files.insert("expected.json".to_string(), to_json(&w.expected(&chain)));
    for v in &invalid {
        files.insert(format!("invalid/{}.json", v.name), to_json(&v.file));
    }
    files.insert("README.md".to_string(), readme(&invalid));
    files
}

fn to_json<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("vectors serialize");
    s.push('\n');
    s
}

fn key(seed: u8) -> NodeKey {
    NodeKey::from_pkcs8(&pkcs8_from_seed(&[seed; 32])).expect("a seed makes a valid key")
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// The block a new block is checked against, as the vectors write it.
#[derive(Debug, Clone, Copy, Serialize)]
struct ParentRef {
    height: u64,
    hash: Hash32,
    timestamp_ms: u64,
}

impl ParentRef {
    fn of(b: &Block) -> Self {
        Self {
            height: b.header.height,
            hash: b.block_hash,
            timestamp_ms: b.header.timestamp_ms,
        }
    }
}

struct World {
    validators: [NodeKey; 3],
    station: NodeKey,
    authority: NodeKey,
    outsider: NodeKey,
    genesis: Genesis,
    chain_id: Hash32,
}

struct Chain {
    blocks: Vec<Block>,
    now_ms: u64,
}

impl World {
    fn new() -> Self {
        let validators = VALIDATOR_SEEDS.map(key);
        let station = key(STATION_SEED);
        let authority = key(AUTHORITY_SEED);
        let outsider = key(OUTSIDER_SEED);
        let genesis = Genesis {
            protocol: PROTOCOL.into(),
            chain_name: "evote test vectors".into(),
            created_at_ms: CREATED_AT,
            authority: authority.public(),
            validators: validators
                .iter()
                .enumerate()
                .map(|(i, k)| ValidatorInfo {
                    public_key: k.public(),
                    name: format!("validator-{}", i + 1),
                    p2p_url: format!("http://validator-{}.evote.test:8001", i + 1),
                })
                .collect(),
            stations: vec![StationInfo {
                public_key: station.public(),
                name: "station-1".into(),
            }],
            elections: vec![Election {
                id: ELECTION,
                name: "Mayor of Testville".into(),
                candidates: CANDIDATES
                    .iter()
                    .zip(["Ada Quill", "Bo Ferris", "Cy Marlow"])
                    .map(|(&id, name)| Candidate {
                        id,
                        name: name.into(),
                    })
                    .collect(),
                opens_at: OPENS_AT,
                closes_at: CLOSES_AT,
            }],
            params: Params {
                block_period_ms: 1_000,
                empty_block_period_ms: 60_000,
                round_timeout_ms: 2_000,
                max_block_txs: 8,
                fallback_after_ms: 10_000,
            },
        };
        let chain_id = genesis.chain_id().expect("genesis hashes");
        Self {
            validators,
            station,
            authority,
            outsider,
            genesis,
            chain_id,
        }
    }

    fn genesis_parent(&self) -> ParentRef {
        ParentRef {
            height: 0,
            hash: self.chain_id,
            timestamp_ms: self.genesis.created_at_ms,
        }
    }

    /// The validator whose turn it is at (height, round).
    fn proposer_key(&self, height: u64, round: u64) -> &NodeKey {
        let idx = self
            .genesis
            .validator_index(self.genesis.proposer(height, round))
            .expect("the proposer is a validator");
        &self.validators[idx]
    }

    /// A ballot of `voter` for `candidate`, accepted and signed by `origin`.
    fn ballot(&self, origin: &NodeKey, voter: &str, candidate_id: u64, at_ms: u64) -> SignedTx {
        self.ballot_in(origin, self.chain_id, ELECTION, voter, candidate_id, at_ms)
    }

    fn ballot_in(
        &self,
        origin: &NodeKey,
        chain_id: Hash32,
        election_id: u64,
        voter: &str,
        candidate_id: u64,
        at_ms: u64,
    ) -> SignedTx {
        let ballot = Ballot {
            candidate_id,
            encrypted_vote: BASE64.encode(format!("opaque vote of {voter}")),
        };
        let nf = nullifier(NULLIFIER_SECRET, election_id, voter).expect("secret is long enough");
        let tx = BallotTx::new(chain_id, election_id, nf, ballot, at_ms, origin.public())
            .expect("ballot hashes");
        SignedTx::sign(Transaction::Ballot(tx), origin).expect("origin signs")
    }

    /// Re-signs a transaction after a change, as its origin would.
    fn resign_tx(&self, stx: &mut SignedTx, origin: &NodeKey) {
        stx.signature = origin.sign_digest(&stx.hash().expect("tx hashes"));
    }

    /// A proposed block with seals from `sealers`.
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        parent: &ParentRef,
        height: u64,
        round: u64,
        timestamp_ms: u64,
        txs: Vec<SignedTx>,
        proposer: &NodeKey,
        sealers: &[&NodeKey],
    ) -> Block {
        let mut b = Block::propose(
            self.chain_id,
            height,
            round,
            parent.hash,
            timestamp_ms,
            txs,
            proposer,
        )
        .expect("block proposes");
        b.seals = sealers.iter().map(|k| b.seal(k).expect("seals")).collect();
        b
    }

    /// The next block on `parent`, in round 0, by the right proposer, sealed by `sealers`.
    fn next(
        &self,
        parent: &ParentRef,
        timestamp_ms: u64,
        txs: Vec<SignedTx>,
        sealers: &[&NodeKey],
    ) -> Block {
        let h = parent.height + 1;
        self.block(
            parent,
            h,
            0,
            timestamp_ms,
            txs,
            self.proposer_key(h, 0),
            sealers,
        )
    }

    /// Signs the block's current `block_hash` again: proposer signature and seals.
    fn sign_hash(&self, b: &mut Block, proposer: &NodeKey, sealers: &[&NodeKey]) {
        let vote = Vote::for_header(VoteKind::Proposal, &b.header, b.block_hash);
        b.proposer_signature = proposer.sign(&vote).expect("proposer signs");
        b.seals = sealers.iter().map(|k| b.seal(k).expect("seals")).collect();
    }

    /// After a change to the header: the block hash and every signature
    /// made anew, as a dishonest proposer and dishonest validators could.
    fn rehash(&self, b: &mut Block, proposer: &NodeKey, sealers: &[&NodeKey]) {
        b.block_hash = b.header.hash().expect("header hashes");
        self.sign_hash(b, proposer, sealers);
    }

    fn chain(&self) -> Chain {
        let [v1, v2, v3] = &self.validators;
        let s = &self.station;
        let g = self.genesis_parent();

        // Block 1: at the very opening of the election (inclusive bound),
        // one ballot, sealed by all three validators.
        let b1 = self.next(
            &g,
            OPENS_AT,
            vec![self.ballot(s, "voter-01@example.org", CANDIDATES[0], OPENS_AT)],
            &[v1, v2, v3],
        );
        // Block 2: five ballots from every kind of origin (a tree of five
        // leaves splits 4 + 1); seals not in validator order.
        let t2 = OPENS_AT + 1_000;
        let b2 = self.next(
            &ParentRef::of(&b1),
            t2,
            vec![
                self.ballot(v1, "voter-02@example.org", CANDIDATES[1], t2 - 900),
                self.ballot(v2, "voter-03@example.org", CANDIDATES[2], t2 - 700),
                self.ballot(v3, "voter-04@example.org", CANDIDATES[0], t2 - 500),
                self.ballot(s, "voter-05@example.org", CANDIDATES[1], t2 - 300),
                self.ballot(s, "voter-06@example.org", CANDIDATES[1], t2 - 100),
            ],
            &[v3, v1],
        );
        // Block 3: an empty heartbeat block.
        let t3 = t2 + self.genesis.params.empty_block_period_ms;
        let b3 = self.next(&ParentRef::of(&b2), t3, vec![], &[v1, v2]);
        // Block 4: committed in round 1 (so proposed by validators[(4+1) mod 3]),
        // with the same timestamp as its parent (allowed), and a ballot that
        // was first recorded in a fallback chain.
        let t4 = t3;
        let mut fallback = self.ballot(s, "voter-07@example.org", CANDIDATES[2], t3 - 30_000);
        let Transaction::Ballot(fb) = &mut fallback.tx;
        fb.fallback = Some(FallbackRef {
            origin: s.public(),
            block_hash: sha256(b"station-1 fallback block 1"),
        });
        self.resign_tx(&mut fallback, s);
        let b4 = self.block(
            &ParentRef::of(&b3),
            4,
            1,
            t4,
            vec![
                self.ballot(v2, "voter-08@example.org", CANDIDATES[0], t4 - 200),
                fallback,
            ],
            self.proposer_key(4, 1),
            &[v2, v3],
        );
        Chain {
            now_ms: t4 - MAX_FUTURE_DRIFT_MS,
            blocks: vec![b1, b2, b3, b4],
        }
    }

    fn keys_file(&self) -> KeysFile {
        let entry = |role: &'static str, name: &str, seed: u8, k: &NodeKey| KeyEntry {
            role,
            name: name.into(),
            seed: hex(&[seed; 32]),
            pkcs8: hex(&pkcs8_from_seed(&[seed; 32])),
            public_key: k.public(),
        };
        let mut keys: Vec<KeyEntry> = self
            .validators
            .iter()
            .zip(VALIDATOR_SEEDS)
            .enumerate()
            .map(|(i, (k, seed))| entry("validator", &format!("validator-{}", i + 1), seed, k))
            .collect();
        keys.push(entry("station", "station-1", STATION_SEED, &self.station));
        keys.push(entry(
            "authority",
            "authority",
            AUTHORITY_SEED,
            &self.authority,
        ));
        keys.push(entry(
            "outsider",
            "outsider (not in the genesis)",
            OUTSIDER_SEED,
            &self.outsider,
        ));
        KeysFile {
            warning: "TEST KEYS ONLY. These seeds are public: never use them, or anything \
                      derived from them, for a real election."
                .into(),
            format: "seed: the 32-byte Ed25519 private key seed of RFC 8032. pkcs8: the key \
                     file the appliance reads (PKCS#8 v1, RFC 8410), which is the fixed prefix \
                     0x302e020100300506032b657004220420 followed by the seed."
                .into(),
            keys,
            nullifier_secret: hex(NULLIFIER_SECRET),
        }
    }

    fn expected(&self, chain: &Chain) -> Expected {
        let b1 = &chain.blocks[0];
        let b4 = &chain.blocks[3];
        let tx1 = &b1.transactions[0].tx;
        let Transaction::Ballot(bt1) = tx1;
        let fallback_tx = &b4.transactions[1].tx;

        let mut canonical = vec![canon("genesis (sha256 = chain_id)", &self.genesis)];
        let hashed = serde_json::json!({
            "chain_id": b1.header.chain_id,
            "height": b1.header.height,
            "prev_hash": b1.header.prev_hash,
            "timestamp_ms": b1.header.timestamp_ms,
            "tx_root": b1.header.tx_root,
            "tx_count": b1.header.tx_count,
        });
        canonical.push(canon(
            "block 1 header without round and proposer (sha256 = block_hash)",
            &hashed,
        ));
        canonical.push(canon(
            "block 1 proposal statement (sha256 = the digest the proposer signs)",
            &Vote::for_header(VoteKind::Proposal, &b1.header, b1.block_hash),
        ));
        canonical.push(canon(
            "block 1 prepare statement (sha256 = the digest a preparing validator signs)",
            &Vote::for_header(VoteKind::Prepare, &b1.header, b1.block_hash),
        ));
        canonical.push(canon(
            "block 1 commit statement (sha256 = the digest each commit seal signs)",
            &b1.commit_vote(),
        ));
        canonical.push(canon(
            "block 1 transaction 0 (sha256 = tx_hash, the digest the origin signs)",
            tx1,
        ));
        canonical.push(canon(
            "block 1 transaction 0 ballot (sha256 = ballot_hash)",
            &bt1.ballot,
        ));
        canonical.push(canon(
            "block 4 transaction 1, with a fallback reference (sha256 = tx_hash)",
            fallback_tx,
        ));

        let blocks = chain
            .blocks
            .iter()
            .map(|b| ExpectedBlock {
                height: b.header.height,
                round: b.header.round,
                proposer: b.header.proposer,
                prev_hash: b.header.prev_hash,
                block_hash: b.block_hash,
                tx_count: b.header.tx_count,
                tx_root: b.header.tx_root,
                tx_hashes: b
                    .transactions
                    .iter()
                    .map(|t| t.hash().expect("tx hashes"))
                    .collect(),
            })
            .collect();

        let merkle = (0..=7u8)
            .map(|n| {
                let leaves: Vec<Hash32> = (1..=n).map(|i| Hash32([i; 32])).collect();
                MerkleExample {
                    root: merkle_root(&leaves),
                    leaves,
                }
            })
            .collect();

        let quorum_table = (1..=7).map(|n| QuorumExample { n, q: quorum(n) }).collect();
        let proposers = [(1, 0), (1, 1), (2, 0), (3, 0), (4, 1), (5, 0), (5, 2)]
            .into_iter()
            .map(|(height, round)| ProposerExample {
                height,
                round,
                proposer: *self.genesis.proposer(height, round),
            })
            .collect();

        let nullifiers = [
            (ELECTION, "voter-01@example.org"),
            (ELECTION, "  Voter-01@Example.ORG\t"),
            (2, "voter-01@example.org"),
            (ELECTION, "voter-02@example.org"),
        ]
        .into_iter()
        .map(|(election_id, identity)| {
            let normalized = normalize_identity(identity);
            let input = NullifierInput {
                kind: "nullifier",
                election_id,
                identity: &normalized,
            };
            NullifierExample {
                election_id,
                identity: identity.into(),
                normalized_identity: normalized.clone(),
                hmac_message: String::from_utf8(canonical_bytes(&input).expect("encodes"))
                    .expect("JCS is UTF-8"),
                nullifier: nullifier(NULLIFIER_SECRET, election_id, identity)
                    .expect("secret is long enough"),
            }
        })
        .collect();

        Expected {
            description: "Values an independent implementation must reproduce from genesis.json \
                          and chain.json. Every hash is SHA-256 over the RFC 8785 (JCS) form shown \
                          in `canonical`."
                .into(),
            chain_id: self.chain_id,
            genesis_parent: self.genesis_parent(),
            validator_count: self.genesis.validator_count(),
            quorum: self.genesis.quorum(),
            max_future_drift_ms: MAX_FUTURE_DRIFT_MS,
            blocks,
            canonical,
            merkle,
            quorum_table,
            proposers,
            nullifiers: NullifierSection {
                secret: hex(NULLIFIER_SECRET),
                rule: "nullifier = HMAC-SHA256(secret, hmac_message), hmac_message = JCS of \
                       {type: \"nullifier\", election_id, identity: normalized_identity}"
                    .into(),
                examples: nullifiers,
            },
        }
    }

    fn invalid_vectors(&self, chain: &Chain) -> Vec<InvalidVector> {
        let [v1, v2, v3] = &self.validators;
        let s = &self.station;
        let out = &self.outsider;
        let tip = ParentRef::of(chain.blocks.last().expect("a chain"));
        let h = tip.height + 1;
        let t = tip.timestamp_ms + 1_000;
        let now = tip.timestamp_ms + 2_000;
        let p = self.proposer_key(h, 0);
        let q: &[&NodeKey] = &[v1, v2];
        let two = || {
            vec![
                self.ballot(v1, "voter-20@example.org", CANDIDATES[0], t - 500),
                self.ballot(s, "voter-21@example.org", CANDIDATES[2], t - 300),
            ]
        };
        let base = |txs: Vec<SignedTx>, sealers: &[&NodeKey]| self.next(&tip, t, txs, sealers);
        let mk = |name: &'static str, description: &str, block: Block, code: &'static str| {
            InvalidVector::new(name, description, tip, now, block, code)
        };
        let mut v = Vec::new();

        // Header rules.
        let mut b = base(two(), q);
        b.header.chain_id = sha256(b"another chain");
        self.rehash(&mut b, p, q);
        v.push(mk(
            "wrong_chain_header",
            "The header names another chain_id; the block hash, the proposer signature and the \
             seals are made over it.",
            b,
            "wrong_chain",
        ));

        let mut b = base(two(), q);
        let big_round = MAX_SAFE_INTEGER + 1;
        let p_big = self.proposer_key(h, big_round);
        b.header.round = big_round;
        b.header.proposer = p_big.public();
        self.rehash(&mut b, p_big, q);
        v.push(mk(
            "integer_too_large",
            "The header's round is 2^53, one above the largest integer JCS carries exactly; the \
             proposer is the right one for that round and everything is signed.",
            b,
            "integer_too_large",
        ));

        let b = self.block(&tip, h + 1, 0, t, two(), self.proposer_key(h + 1, 0), q);
        v.push(mk(
            "wrong_height",
            "The height skips one (parent height + 2); prev_hash is the parent's hash and the \
             proposer is the right one for that height.",
            b,
            "wrong_height",
        ));

        let mut b = base(two(), q);
        b.header.prev_hash = chain.blocks[chain.blocks.len() - 2].block_hash;
        self.rehash(&mut b, p, q);
        v.push(mk(
            "wrong_prev_hash",
            "prev_hash is the hash of the grandparent (a fork attempt); everything is signed.",
            b,
            "wrong_prev_hash",
        ));

        let b = self.next(&tip, tip.timestamp_ms - 1, two(), q);
        v.push(mk(
            "timestamp_backwards",
            "The timestamp is 1 ms before the parent's (equal would be allowed).",
            b,
            "timestamp_backwards",
        ));

        let b = self.next(&tip, now + MAX_FUTURE_DRIFT_MS + 1, two(), q);
        v.push(mk(
            "timestamp_in_future",
            "The timestamp is now_ms + MAX_FUTURE_DRIFT_MS + 1 (1 ms less would be allowed).",
            b,
            "timestamp_in_future",
        ));

        let mut b = base(two(), q);
        b.block_hash = sha256(b"not the hash of this header");
        self.sign_hash(&mut b, p, q);
        v.push(
            mk(
                "wrong_block_hash",
                "block_hash is not SHA-256 of the header's JCS form; the proposer signature and \
                 the seals are made over that wrong hash.",
                b,
                "wrong_hash",
            )
            .detail("block"),
        );

        let b = self.block(&tip, h, 0, t, two(), out, q);
        v.push(mk(
            "unknown_proposer",
            "Proposed and signed by the outsider key, which is not a validator; sealed by a \
             quorum.",
            b,
            "unknown_proposer",
        ));

        let b = self.block(&tip, h, 0, t, two(), self.proposer_key(h, 1), q);
        v.push(mk(
            "wrong_proposer",
            "Proposed in round 0 by the validator whose turn is round 1 (proposer(h, r) = \
             validators[(h + r) mod n]); signed and sealed.",
            b,
            "wrong_proposer",
        ));

        let mut b = base(two(), q);
        let vote = Vote::for_header(VoteKind::Proposal, &b.header, b.block_hash);
        let other = if p.public() == v1.public() { v2 } else { v1 };
        b.proposer_signature = other.sign(&vote).expect("signs");
        v.push(
            mk(
                "bad_proposer_signature",
                "The right proposer in the header, but the proposal signature is another \
                 validator's signature over the same statement.",
                b,
                "bad_signature",
            )
            .detail("proposal"),
        );

        let mut b = base(two(), q);
        b.header.tx_count = 3;
        self.rehash(&mut b, p, q);
        v.push(mk(
            "tx_count_mismatch",
            "The header says tx_count 3 but the block holds 2 transactions (tx_root is theirs); \
             everything is signed.",
            b,
            "tx_count_mismatch",
        ));

        let txs: Vec<SignedTx> = (30..39)
            .map(|i| {
                self.ballot(
                    v1,
                    &format!("voter-{i}@example.org"),
                    CANDIDATES[1],
                    t - 500,
                )
            })
            .collect();
        v.push(mk(
            "too_many_txs",
            "9 valid ballots, one more than the genesis' params.max_block_txs (8).",
            base(txs, q),
            "too_many_txs",
        ));

        let mut b = base(two(), q);
        let mut reversed = b.transactions.clone();
        reversed.reverse();
        b.header.tx_root = tx_root_of(&reversed);
        self.rehash(&mut b, p, q);
        v.push(
            mk(
                "tx_root_mismatch",
                "tx_root is the root of the same transactions in the other order; everything is \
                 signed.",
                b,
                "wrong_hash",
            )
            .detail("tx_root"),
        );

        // Seal rules.
        v.push(mk(
            "too_few_seals",
            "One valid commit seal; the quorum of 3 validators is 2.",
            base(two(), &[v2]),
            "too_few_seals",
        ));

        v.push(mk(
            "duplicate_seal",
            "Seals from validator-1, validator-2 and validator-2 again: two distinct ones would \
             be a quorum, but a repeated seal is refused.",
            base(two(), &[v1, v2, v2]),
            "duplicate_seal",
        ));

        v.push(mk(
            "seal_from_non_validator",
            "A quorum of valid seals plus a commit seal from station-1, which is in the genesis \
             but is not a validator.",
            base(two(), &[v1, v2, s]),
            "seal_from_non_validator",
        ));

        let mut b = base(two(), q);
        let other = self.next(&tip, t + 1, two(), &[]);
        b.seals.push(other.seal(v3).expect("seals"));
        v.push(mk(
            "seal_over_other_block",
            "A quorum of valid seals plus validator-3's commit seal over another block of the \
             same height and round.",
            b,
            "bad_seal",
        ));

        let mut b = base(two(), q);
        let prepare = Vote::for_header(VoteKind::Prepare, &b.header, b.block_hash);
        let mut seal = b.seal(v3).expect("seals");
        seal.signature = v3.sign(&prepare).expect("signs");
        b.seals.push(seal);
        v.push(mk(
            "prepare_signature_as_seal",
            "A quorum of valid seals plus validator-3's signature over the prepare statement \
             (type \"prepare\") offered as a commit seal.",
            b,
            "bad_seal",
        ));

        // Transaction rules.
        let mut b = base(two(), q);
        let Transaction::Ballot(bt) = &mut b.transactions[1].tx;
        bt.ballot.candidate_id = CANDIDATES[1];
        bt.ballot_hash = hash_of(&bt.ballot).expect("hashes");
        b.header.tx_root = tx_root_of(&b.transactions);
        self.rehash(&mut b, p, q);
        v.push(
            mk(
                "changed_ballot",
                "Transaction 1's candidate was changed after its origin signed it; ballot_hash, \
                 tx_root, block hash, proposer signature and seals were all made anew. Only \
                 the origin's signature catches it.",
                b,
                "bad_signature",
            )
            .detail("transaction"),
        );

        let mut b = base(two(), q);
        let Transaction::Ballot(bt) = &mut b.transactions[1].tx;
        bt.ballot.candidate_id = CANDIDATES[1];
        b.header.tx_root = tx_root_of(&b.transactions);
        self.rehash(&mut b, p, q);
        v.push(
            mk(
                "ballot_hash_mismatch",
                "Transaction 1's candidate was changed and its ballot_hash left as it was; \
                 tx_root and every block signature were made anew.",
                b,
                "wrong_hash",
            )
            .detail("ballot"),
        );

        let mut txs = two();
        txs.push(self.ballot_in(
            v2,
            sha256(b"another chain"),
            ELECTION,
            "voter-22@example.org",
            CANDIDATES[0],
            t - 100,
        ));
        v.push(mk(
            "wrong_chain_tx",
            "Transaction 2 names another chain_id (and is signed by its origin over it).",
            base(txs, q),
            "wrong_chain",
        ));

        let mut txs = two();
        let mut big = self.ballot(v2, "voter-23@example.org", CANDIDATES[0], t - 100);
        let Transaction::Ballot(bt) = &mut big.tx;
        bt.ballot.encrypted_vote = BASE64.encode(vec![0u8; (MAX_ENCRYPTED_VOTE_LEN / 4 + 1) * 3]);
        bt.ballot_hash = hash_of(&bt.ballot).expect("hashes");
        self.resign_tx(&mut big, v2);
        txs.push(big);
        v.push(mk(
            "oversized_ballot",
            "Transaction 2's encrypted_vote is 4100 bytes, above the 4096-byte limit; it is \
             otherwise valid and signed.",
            base(txs, q),
            "bad_tx",
        ));

        let mut txs = two();
        txs.push(self.ballot(out, "voter-24@example.org", CANDIDATES[0], t - 100));
        v.push(mk(
            "unknown_origin",
            "Transaction 2 is accepted and signed by the outsider key, which is neither a \
             validator nor a station.",
            base(txs, q),
            "unknown_origin",
        ));

        let mut txs = two();
        txs.push(self.ballot_in(
            v2,
            self.chain_id,
            2,
            "voter-25@example.org",
            CANDIDATES[0],
            t - 100,
        ));
        v.push(mk(
            "unknown_election",
            "Transaction 2 votes in election 2, which the genesis does not hold.",
            base(txs, q),
            "unknown_election",
        ));

        let mut txs = two();
        txs.push(self.ballot(v2, "voter-26@example.org", 104, t - 100));
        v.push(mk(
            "unknown_candidate",
            "Transaction 2 votes for candidate 104, which election 1 does not have.",
            base(txs, q),
            "unknown_candidate",
        ));

        let txs = vec![self.ballot(s, "voter-27@example.org", CANDIDATES[0], CLOSES_AT - 1)];
        v.push(
            mk(
                "election_closed",
                "A ballot accepted 1 ms before the election closed, in a block whose timestamp \
                 is closes_at + LATE_BALLOT_GRACE_MS: the ballot was accepted inside \
                 [opens_at, closes_at), but a ballot without a fallback reference must be in a \
                 block before the grace period after the close ends.",
                self.next(&tip, CLOSES_AT + LATE_BALLOT_GRACE_MS, txs, q),
                "election_not_open",
            )
            .at(tip, CLOSES_AT + LATE_BALLOT_GRACE_MS + 1_000),
        );

        let g = self.genesis_parent();
        let txs = vec![self.ballot(s, "voter-28@example.org", CANDIDATES[0], OPENS_AT - 1)];
        v.push(
            mk(
                "election_not_yet_open",
                "Block 1 on the genesis, 1 ms before the election opens, with one ballot. Its \
                 parent is height 0: hash = chain_id, timestamp_ms = genesis.created_at_ms.",
                self.next(&g, OPENS_AT - 1, txs, q),
                "election_not_open",
            )
            .at(g, OPENS_AT),
        );

        let twice = self.ballot(v1, "voter-29@example.org", CANDIDATES[0], t - 500);
        v.push(mk(
            "duplicate_tx",
            "The same signed transaction twice.",
            base(vec![twice.clone(), twice], q),
            "duplicate_tx",
        ));

        let txs = vec![
            self.ballot(v1, "voter-20@example.org", CANDIDATES[0], t - 500),
            self.ballot(s, "voter-20@example.org", CANDIDATES[1], t - 300),
        ];
        v.push(mk(
            "duplicate_nullifier_in_block",
            "Two different ballots of the same voter in the same election (same nullifier), \
             accepted by two appliances, in one block.",
            base(txs, q),
            "duplicate_nullifier",
        ));

        let mut txs = two();
        txs.push(self.ballot(v2, "voter-01@example.org", CANDIDATES[1], t - 100));
        v.push(
            mk(
                "duplicate_nullifier_across_blocks",
                "Transaction 2 is a second ballot of the voter whose ballot is in block 1 (same \
                 nullifier), accepted by another appliance. prior_blocks holds the committed \
                 blocks 1 to 4: the nullifiers used there are taken.",
                base(txs, q),
                "duplicate_nullifier",
            )
            .prior(chain.blocks.clone()),
        );

        v.sort_by(|a, b| a.name.cmp(b.name));
        v
    }
}

fn tx_root_of(txs: &[SignedTx]) -> Hash32 {
    let hashes: Vec<Hash32> = txs.iter().map(|t| t.hash().expect("tx hashes")).collect();
    merkle_root(&hashes)
}

fn canon<T: Serialize>(what: &str, value: &T) -> CanonicalExample {
    let bytes = canonical_bytes(value).expect("value encodes");
    CanonicalExample {
        what: what.into(),
        sha256: sha256(&bytes),
        canonical: String::from_utf8(bytes).expect("JCS is UTF-8"),
    }
}

struct InvalidVector {
    name: &'static str,
    file: InvalidFile,
}

impl InvalidVector {
    fn new(
        name: &'static str,
        description: &str,
        parent: ParentRef,
        now_ms: u64,
        block: Block,
        code: &'static str,
    ) -> Self {
        Self {
            name,
            file: InvalidFile {
                description: description.into(),
                now_ms,
                parent,
                prior_blocks: None,
                block,
                schema_valid: !matches!(code, "integer_too_large" | "bad_tx"),
                expected_error: code,
                expected_detail: None,
            },
        }
    }

    fn detail(mut self, what: &'static str) -> Self {
        self.file.expected_detail = Some(what);
        self
    }

    fn prior(mut self, blocks: Vec<Block>) -> Self {
        self.file.prior_blocks = Some(blocks);
        self
    }

    fn at(mut self, parent: ParentRef, now_ms: u64) -> Self {
        self.file.parent = parent;
        self.file.now_ms = now_ms;
        self
    }
}

// The files, field by field in the order they are written.

#[derive(Serialize)]
struct ChainFile {
    description: String,
    genesis: String,
    now_ms: u64,
    blocks: Vec<Block>,
}

#[derive(Serialize)]
struct InvalidFile {
    description: String,
    now_ms: u64,
    parent: ParentRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    prior_blocks: Option<Vec<Block>>,
    block: Block,
    schema_valid: bool,
    expected_error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_detail: Option<&'static str>,
}

#[derive(Serialize)]
struct KeysFile {
    warning: String,
    format: String,
    keys: Vec<KeyEntry>,
    nullifier_secret: String,
}

#[derive(Serialize)]
struct KeyEntry {
    role: &'static str,
    name: String,
    seed: String,
    pkcs8: String,
    public_key: PublicKey,
}

#[derive(Serialize)]
struct Expected {
    description: String,
    chain_id: Hash32,
    genesis_parent: ParentRef,
    validator_count: usize,
    quorum: usize,
    max_future_drift_ms: u64,
    blocks: Vec<ExpectedBlock>,
    canonical: Vec<CanonicalExample>,
    merkle: Vec<MerkleExample>,
    quorum_table: Vec<QuorumExample>,
    proposers: Vec<ProposerExample>,
    nullifiers: NullifierSection,
}

#[derive(Serialize)]
struct ExpectedBlock {
    height: u64,
    round: u64,
    proposer: PublicKey,
    prev_hash: Hash32,
    block_hash: Hash32,
    tx_count: u64,
    tx_root: Hash32,
    tx_hashes: Vec<Hash32>,
}

#[derive(Serialize)]
struct CanonicalExample {
    what: String,
    canonical: String,
    sha256: Hash32,
}

#[derive(Serialize)]
struct MerkleExample {
    leaves: Vec<Hash32>,
    root: Hash32,
}

#[derive(Serialize)]
struct QuorumExample {
    n: usize,
    q: usize,
}

#[derive(Serialize)]
struct ProposerExample {
    height: u64,
    round: u64,
    proposer: PublicKey,
}

#[derive(Serialize)]
struct NullifierSection {
    secret: String,
    rule: String,
    examples: Vec<NullifierExample>,
}

#[derive(Serialize)]
struct NullifierExample {
    election_id: u64,
    identity: String,
    normalized_identity: String,
    hmac_message: String,
    nullifier: Hash32,
}

/// The message the nullifier HMAC covers (the same fields as the ledger's).
#[derive(Serialize)]
struct NullifierInput<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    election_id: u64,
    identity: &'a str,
}

fn readme(invalid: &[InvalidVector]) -> String {
    let mut rows = String::new();
    for v in invalid {
        let code = match v.file.expected_detail {
            Some(d) => format!("`{}` ({d})", v.file.expected_error),
            None => format!("`{}`", v.file.expected_error),
        };
        let schema = if v.file.schema_valid {
            ""
        } else {
            " Schema-invalid."
        };
        rows.push_str(&format!(
            "| `invalid/{}.json` | {code} | {}{schema} |\n",
            v.name,
            v.file.description.replace('|', "\\|")
        ));
    }
    README_TEMPLATE
        .replace("{COMMAND}", REGENERATE)
        .replace("{ROWS}", &rows)
}

const README_TEMPLATE: &str = r#"# Test vectors

Generated files: do not edit them by hand. They are made by
`appliance/examples/make_vectors.rs` (logic in `appliance/examples/vectors_gen/mod.rs`)
from the public API of `evote_appliance::ledger`, with fixed key seeds and fixed
timestamps, so every run gives the same bytes. From the workspace root:

```
{COMMAND}
```

`cargo test -p evote-appliance --test vectors` fails if these files differ from what
the generator makes, if a valid vector does not match the JSON schemas in `schema/`, or
if the ledger does not accept every valid block and refuse every invalid one with exactly
its `expected_error`. The auditor (`evote-audit`) must pass the same files, from the rules
in `schema/PROTOCOL.md` alone.

## Files

| file | holds |
| --- | --- |
| `genesis.json` | The genesis: 3 validators, 1 station, election 1 with candidates 101, 102, 103, open from 2026-01-01T07:00Z (inclusive) to 20:00Z (exclusive), `max_block_txs` 8. Its hash is the chain id. |
| `chain.json` | Blocks 1 to 4, committed: block 1 at the election's opening instant with 1 ballot and 3 seals; block 2 with 5 ballots from every kind of origin; block 3 empty; block 4 committed in round 1, with its parent's timestamp and a ballot carrying a fallback reference. `now_ms` is the checker's clock. |
| `expected.json` | What an implementation must compute: `chain_id`, the parent of block 1, each block's hash, `tx_root` and transaction hashes, canonical (JCS) forms with their SHA-256 (genesis, header, proposal, prepare and commit statements, transaction, ballot), Merkle roots for 0 to 7 leaves, the quorum for n = 1..7, proposers for some (height, round), and nullifiers with their HMAC input. |
| `keys.json` | **Test-only** key seeds, PKCS#8 documents and public keys of every key used (validators, station, authority, and an outsider that is not in the genesis), and the test nullifier secret. Never use them for a real election. |
| `invalid/*.json` | One block per broken rule, below. |

## Invalid vectors

Each file is an object:

- `description`: what is wrong.
- `now_ms`: the checker's clock (for `timestamp_in_future`).
- `parent`: `{height, hash, timestamp_ms}` of the block it builds on. Unless noted, that is
  block 4 of `chain.json`; height 0 means the genesis (hash = chain id, timestamp =
  `created_at_ms`).
- `prior_blocks` (only where it matters): the committed blocks before this one, whose
  nullifiers are taken. Where it is absent no nullifier it holds is used yet.
- `block`: the block, as served on the wire.
- `schema_valid`: whether `block` matches `block.schema.json` (false only where the broken
  rule is one the schema also states).
- `expected_error`: the code of the first rule it breaks (`LedgerError::code()`; the table
  in PROTOCOL.md).
- `expected_detail` (for `wrong_hash` and `bad_signature`): which hash (`block`, `tx_root`,
  `ballot`) or which signature (`proposal`, `transaction`) is wrong.

Everything that a dishonest proposer or dishonest validators could sign again is signed
again, so each block breaks one rule only (an unknown proposer is necessarily also not the
expected one), and the expected code does not depend on the order in which a checker
applies the rules. Two blocks are refused by the schema as well: `schema_valid` says which.

| file | expected_error | what is wrong |
| --- | --- | --- |
{ROWS}"#;
