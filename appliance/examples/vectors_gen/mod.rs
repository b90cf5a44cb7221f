//! The deterministic generator of the test vectors in `schema/vectors/`
//! (except `crypto/`, which `crypto_vectors_gen` makes).
//!
//! Shared by `examples/make_vectors.rs`, which writes the files, and
//! `tests/vectors.rs`, which checks that the committed files are exactly
//! what this code makes. It uses only the public API of
//! `evote_core::ledger`, fixed key seeds, fixed timestamps and ChaCha20
//! generators with fixed seeds, so every run produces the same bytes
//! (Ed25519 signing is deterministic; every ballot and decryption share
//! draws its randomness from a generator seeded with a label of its own, so
//! changing one vector leaves the bytes of the others alone).
//!
//! It does not run the validity checks: every invalid vector names the
//! rule it was built to break, and the test checks that the ledger agrees.

mod invalid;

use std::collections::BTreeMap;

use curve25519_dalek::scalar::Scalar;
use evote_core::ledger::canonical::{canonical_bytes, sha256};
use evote_core::ledger::crypto::pkcs8_from_seed;
use evote_core::ledger::elgamal::ballot::{prove_sum, prove_zero_one};
use evote_core::ledger::elgamal::{
    BallotContext, Ciphertext, DecryptionShare, ElectionPublicKey, EncryptedBallot, EncryptionKey,
    Point, Selection, TallyContext, TrusteeKey, combine_decryption_shares, decryption_share,
    encrypt_ballot,
};
use evote_core::ledger::genesis::PROTOCOL;
use evote_core::ledger::nullifier::{normalize_identity, nullifier};
use evote_core::ledger::tally::{TallyState, local_ceremony};
use evote_core::ledger::tx::LATE_BALLOT_GRACE_MS;
use evote_core::ledger::validate::MAX_FUTURE_DRIFT_MS;
use evote_core::ledger::{
    BallotTx, Block, Candidate, DecryptionShareTx, Election, FallbackRef, Genesis, Hash32, NodeKey,
    Params, PublicKey, SignedTx, StationInfo, Transaction, ValidatorInfo, Vote, VoteKind,
    merkle_root, quorum,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Serialize;
use subtle::Choice;

use invalid::InvalidVector;

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

/// Election 1's trustees: `THRESHOLD` of `TRUSTEES` decrypt.
pub const TRUSTEES: u32 = 3;
pub const THRESHOLD: u32 = 2;
/// The seed of election 1's key ceremony: the seed `crypto_vectors_gen`
/// uses, so the trustees of `genesis.json` are those of
/// `crypto/ceremony.json` (same round-1 messages, same election key).
pub const CEREMONY_SEED: u64 = 0xe1ec_0001;
/// Another ceremony for the same election, whose trustees are not the
/// genesis' (for the "share from a non-trustee" vectors).
const OTHER_CEREMONY_SEED: u64 = 0xe1ec_0101;
/// The trustees whose shares block 6 carries (as in `crypto/tally.json`).
pub const DECRYPTING: [u32; 2] = [1, 3];
/// The block whose tally block 6 decrypts: the first one stamped at or
/// after the close.
pub const TALLY_HEIGHT: u64 = 5;

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
            description: "Blocks 1 to 6 of the chain of genesis.json, each committed with seals: \
                          encrypted ballots while election 1 is open (blocks 1 to 4), a last \
                          ballot in the first block stamped after the close (block 5, whose tally \
                          is final), and the decryption shares of trustees 1 and 3 of that tally \
                          (block 6). Check them in order: the parent of block 1 is height 0 (hash \
                          = chain_id, timestamp_ms = genesis.created_at_ms), the parent of block h \
                          is block h-1. now_ms is the checker's clock for the timestamp_in_future \
                          rule; it is exactly MAX_FUTURE_DRIFT_MS before the last block's \
                          timestamp, the latest clock reading that still accepts it."
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

/// A generator of its own for each labelled use of randomness.
fn rng_for(label: &str) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(sha256(label.as_bytes()).0)
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
    /// Election 1's trustees, in index order.
    trustee_keys: Vec<TrusteeKey>,
    /// What anyone computes from the genesis' round-1 messages.
    election_key: ElectionPublicKey,
    genesis: Genesis,
    chain_id: Hash32,
}

struct Chain {
    blocks: Vec<Block>,
    /// `tallies[h]`: election 1's tally after block `h` (`tallies[0]` empty).
    tallies: Vec<TallyState>,
    now_ms: u64,
}

impl Chain {
    /// Blocks 1 to `height`: the committed chain below block `height + 1`.
    fn up_to(&self, height: u64) -> Vec<Block> {
        self.blocks[..height as usize].to_vec()
    }

    fn parent(&self, height: u64) -> ParentRef {
        ParentRef::of(&self.blocks[height as usize - 1])
    }
}

impl World {
    fn new() -> Self {
        let validators = VALIDATOR_SEEDS.map(key);
        let station = key(STATION_SEED);
        let authority = key(AUTHORITY_SEED);
        let outsider = key(OUTSIDER_SEED);
        let (trustees, trustee_keys) = local_ceremony(
            ELECTION,
            TRUSTEES,
            THRESHOLD,
            &mut ChaCha20Rng::seed_from_u64(CEREMONY_SEED),
        )
        .expect("the ceremony runs");
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
                trustees,
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
        let election_key = genesis.elections[0]
            .public_key()
            .expect("the ceremony's messages verify");
        Self {
            validators,
            station,
            authority,
            outsider,
            trustee_keys,
            election_key,
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

    fn election(&self) -> &Election {
        &self.genesis.elections[0]
    }

    /// The validator whose turn it is at (height, round).
    fn proposer_key(&self, height: u64, round: u64) -> &NodeKey {
        let idx = self
            .genesis
            .validator_index(self.genesis.proposer(height, round))
            .expect("the proposer is a validator");
        &self.validators[idx]
    }

    fn trustee(&self, index: u32) -> &TrusteeKey {
        &self.trustee_keys[index as usize - 1]
    }

    // -----------------------------------------------------------------
    // Ballots.

    /// What the proofs of `voter`'s ballot, accepted by `origin`, are bound to.
    fn context(
        &self,
        chain_id: Hash32,
        election_id: u64,
        voter: &str,
        origin: &NodeKey,
    ) -> BallotContext {
        BallotContext {
            chain_id,
            election_id,
            nullifier: nullifier(NULLIFIER_SECRET, election_id, voter)
                .expect("secret is long enough"),
            origin: origin.public(),
        }
    }

    /// A ballot for `candidate_id` (an id of election 1), encrypted under
    /// `key` with its proofs bound to `ctx`.
    fn encrypt_under(
        &self,
        key: &Point,
        ctx: &BallotContext,
        candidate_id: u64,
    ) -> EncryptedBallot {
        let e = self.election();
        let index = e
            .candidate_index(candidate_id)
            .expect("a candidate of election 1");
        let mut rng = rng_for(&format!(
            "ballot {} {} {} {} {} {}",
            ctx.chain_id, ctx.election_id, ctx.nullifier, ctx.origin, candidate_id, key
        ));
        let key = EncryptionKey::new(key).expect("not the identity");
        encrypt_ballot(ctx, &key, index, e.candidates.len(), &mut rng).expect("ballot encrypts")
    }

    fn encrypt(&self, ctx: &BallotContext, candidate_id: u64) -> EncryptedBallot {
        self.encrypt_under(&self.election_key.public_key, ctx, candidate_id)
    }

    /// A ballot whose selections encrypt `plaintexts` (not a valid vote
    /// unless they are 0 or 1 and add up to 1), each with the proof an
    /// honest prover makes for "encrypts 1" when the plaintext is not 0,
    /// and the sum proof an honest prover makes for "adds up to 1".
    fn forge(&self, ctx: &BallotContext, plaintexts: &[u64]) -> EncryptedBallot {
        let pk = &EncryptionKey::new(&self.election_key.public_key).expect("not the identity");
        let n = plaintexts.len();
        let mut rng = rng_for(&format!(
            "forged ballot {} {} {} {} {plaintexts:?}",
            ctx.chain_id, ctx.election_id, ctx.nullifier, ctx.origin
        ));
        let mut r_sum = Scalar::ZERO;
        let mut selections = Vec::with_capacity(n);
        for (i, &m) in plaintexts.iter().enumerate() {
            let r = Scalar::random(&mut rng);
            let ciphertext = Ciphertext::encrypt(pk, &Scalar::from(m), &r);
            let is_one = Choice::from(u8::from(m != 0));
            let proof = prove_zero_one(ctx, n, i, pk, &ciphertext, is_one, &r, &mut rng);
            r_sum += r;
            selections.push(Selection { ciphertext, proof });
        }
        let cts: Vec<&Ciphertext> = selections.iter().map(|s| &s.ciphertext).collect();
        let sum_proof = prove_sum(ctx, pk, &cts, &r_sum, &mut rng);
        EncryptedBallot {
            selections,
            sum_proof,
        }
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
        let ctx = self.context(chain_id, election_id, voter, origin);
        let ballot = self.encrypt(&ctx, candidate_id);
        self.ballot_tx(origin, &ctx, ballot, at_ms)
    }

    /// The ballot transaction with the chain, election and nullifier of
    /// `ctx`, carrying `ballot` as it is, signed by `origin`.
    fn ballot_tx(
        &self,
        origin: &NodeKey,
        ctx: &BallotContext,
        ballot: EncryptedBallot,
        at_ms: u64,
    ) -> SignedTx {
        let tx = BallotTx::new(
            ctx.chain_id,
            ctx.election_id,
            ctx.nullifier,
            ballot,
            at_ms,
            origin.public(),
        )
        .expect("ballot hashes");
        SignedTx::sign(Transaction::Ballot(tx), origin).expect("origin signs")
    }

    /// Re-signs a transaction after a change, as its origin would.
    fn resign_tx(&self, stx: &mut SignedTx, origin: &NodeKey) {
        stx.signature = origin.sign_digest(&stx.hash().expect("tx hashes"));
    }

    // -----------------------------------------------------------------
    // Decryption shares.

    /// Trustee `key.index`'s decryption share of `tally`, its proofs bound
    /// to `chain_id`.
    fn share_of(&self, key: &TrusteeKey, tally: &TallyState, chain_id: Hash32) -> DecryptionShare {
        let ctx = TallyContext {
            chain_id,
            election_id: tally.election_id,
        };
        let mut rng = rng_for(&format!(
            "decryption share {chain_id} {} {} {} {}",
            tally.election_id, tally.height, key.index, key.public_share
        ));
        decryption_share(&ctx, key, &tally.aggregate, &mut rng).expect("share")
    }

    /// A decryption share transaction for the tally after block
    /// `tally_height` holding `ballot_count` ballots, carried and signed by
    /// `carrier`.
    fn share_tx(
        &self,
        carrier: &NodeKey,
        tally_height: u64,
        ballot_count: u64,
        share: DecryptionShare,
        at_ms: u64,
    ) -> SignedTx {
        let tx = DecryptionShareTx {
            chain_id: self.chain_id,
            election_id: ELECTION,
            tally_height,
            ballot_count,
            share,
            submitted_at_ms: at_ms,
            origin: carrier.public(),
        };
        SignedTx::sign(Transaction::DecryptionShare(tx), carrier).expect("carrier signs")
    }

    /// Trustee `index`'s share of `tally`, as it goes on the chain.
    fn trustee_share_tx(
        &self,
        carrier: &NodeKey,
        index: u32,
        tally: &TallyState,
        at_ms: u64,
    ) -> SignedTx {
        let share = self.share_of(self.trustee(index), tally, self.chain_id);
        self.share_tx(carrier, tally.height, tally.ballot_count, share, at_ms)
    }

    // -----------------------------------------------------------------
    // Blocks.

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

    /// After a change to a transaction: tx_root, block hash and every block
    /// signature made anew.
    fn reroot(&self, b: &mut Block, proposer: &NodeKey, sealers: &[&NodeKey]) {
        b.header.tx_root = tx_root_of(&b.transactions);
        self.rehash(b, proposer, sealers);
    }

    /// Election 1's tally after each block: `[0]` before block 1, then one
    /// per block. Every ballot of the election counts, fallback copies too.
    fn tallies(&self, blocks: &[Block]) -> Vec<TallyState> {
        let mut t = TallyState::empty(ELECTION, CANDIDATES.len());
        let mut out = vec![t.clone()];
        for b in blocks {
            for stx in &b.transactions {
                if let Some(bt) = stx.tx.as_ballot()
                    && bt.election_id == ELECTION
                {
                    t.add([&bt.ballot]).expect("a valid ballot");
                }
            }
            t.height = b.header.height;
            out.push(t.clone());
        }
        out
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
        let Transaction::Ballot(fb) = &mut fallback.tx else {
            unreachable!("a ballot")
        };
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
        // Block 5: the first block stamped after the close (2 s after it,
        // inside the late-ballot grace period), with a ballot accepted in
        // the election's last millisecond. Its tally is final.
        let t5 = CLOSES_AT + 2_000;
        let b5 = self.next(
            &ParentRef::of(&b4),
            t5,
            vec![self.ballot(v3, "voter-09@example.org", CANDIDATES[1], CLOSES_AT - 1)],
            &[v1, v3],
        );
        // Block 6: trustees 1 and 3 (the threshold is 2) decrypt the tally
        // after block 5; their shares are carried by validator-1 and station-1.
        let blocks = [b1, b2, b3, b4, b5];
        let tallies = self.tallies(&blocks);
        let final_tally = &tallies[TALLY_HEIGHT as usize];
        let t6 = CLOSES_AT + 60_000;
        let b6 = self.next(
            &ParentRef::of(&blocks[4]),
            t6,
            vec![
                self.trustee_share_tx(v1, DECRYPTING[0], final_tally, t6 - 400),
                self.trustee_share_tx(s, DECRYPTING[1], final_tally, t6 - 200),
            ],
            &[v2, v3],
        );
        let mut blocks = blocks.to_vec();
        blocks.push(b6);
        let tallies = self.tallies(&blocks);
        Chain {
            now_ms: t6 - MAX_FUTURE_DRIFT_MS,
            blocks,
            tallies,
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
            warning: "TEST KEYS ONLY. These seeds and secret shares are public: never use them, \
                      or anything derived from them, for a real election."
                .into(),
            format: "seed: the 32-byte Ed25519 private key seed of RFC 8032. pkcs8: the key \
                     file the appliance reads (PKCS#8 v1, RFC 8410), which is the fixed prefix \
                     0x302e020100300506032b657004220420 followed by the seed. trustees: the key \
                     file each trustee of election 1 keeps after the ceremony (PROTOCOL.md E.4), \
                     the same as crypto/ceremony.json's trustee_keys."
                .into(),
            keys,
            nullifier_secret: hex(NULLIFIER_SECRET),
            trustees: self.trustee_keys.clone(),
        }
    }

    fn expected(&self, chain: &Chain) -> Expected {
        let b1 = &chain.blocks[0];
        let b4 = &chain.blocks[3];
        let b6 = &chain.blocks[5];
        let tx1 = &b1.transactions[0].tx;
        let bt1 = tx1.as_ballot().expect("a ballot");
        let fallback_tx = &b4.transactions[1].tx;
        let share_tx = &b6.transactions[0].tx;

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
        canonical.push(canon(
            "block 6 transaction 0, a decryption share (sha256 = tx_hash)",
            share_tx,
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
                ballot_count: chain.tallies[b.header.height as usize].ballot_count,
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
        let proposers = [
            (1, 0),
            (1, 1),
            (2, 0),
            (3, 0),
            (4, 1),
            (5, 0),
            (5, 2),
            (6, 0),
        ]
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
                          in `canonical`; election_keys and tally follow PROTOCOL.md appendix E."
                .into(),
            chain_id: self.chain_id,
            genesis_parent: self.genesis_parent(),
            validator_count: self.genesis.validator_count(),
            quorum: self.genesis.quorum(),
            max_future_drift_ms: MAX_FUTURE_DRIFT_MS,
            late_ballot_grace_ms: LATE_BALLOT_GRACE_MS,
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
            election_keys: vec![self.election_key.clone()],
            tally: self.expected_tally(chain),
        }
    }

    fn expected_tally(&self, chain: &Chain) -> ExpectedTally {
        let tally = &chain.tallies[TALLY_HEIGHT as usize];
        let shares: Vec<DecryptionShare> = chain.blocks[5]
            .transactions
            .iter()
            .map(|t| t.tx.as_share().expect("a share").share.clone())
            .collect();
        let ctx = TallyContext {
            chain_id: self.chain_id,
            election_id: ELECTION,
        };
        let counts = combine_decryption_shares(
            &ctx,
            &self.election_key,
            &tally.aggregate,
            &shares,
            tally.ballot_count,
        )
        .expect("the shares combine");
        let below = combine_decryption_shares(
            &ctx,
            &self.election_key,
            &tally.aggregate,
            &shares[..1],
            tally.ballot_count,
        )
        .expect_err("one share is below the threshold");
        ExpectedTally {
            description: "Election 1's tally after block tally_height: aggregate is the \
                          per-candidate sum of the ciphertexts of every ballot of the election in \
                          blocks 1 to tally_height (E.3), ballot_count how many there are. Block \
                          shares_height carries the decryption shares of trustees; combined (E.5) \
                          they give counts, in candidate order. Trustee 1's share alone is below \
                          the threshold: combining it fails with below_threshold_error."
                .into(),
            election_id: ELECTION,
            tally_height: tally.height,
            ballot_count: tally.ballot_count,
            aggregate: tally.aggregate.clone(),
            shares_height: chain.blocks[5].header.height,
            trustees: shares.iter().map(|s| s.trustee_index).collect(),
            counts: CANDIDATES
                .iter()
                .zip(counts)
                .map(|(&candidate_id, count)| CountEntry {
                    candidate_id,
                    count,
                })
                .collect(),
            below_threshold_error: below.code(),
        }
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

// The files, field by field in the order they are written.

#[derive(Serialize)]
struct ChainFile {
    description: String,
    genesis: String,
    now_ms: u64,
    blocks: Vec<Block>,
}

#[derive(Serialize)]
struct KeysFile {
    warning: String,
    format: String,
    keys: Vec<KeyEntry>,
    nullifier_secret: String,
    trustees: Vec<TrusteeKey>,
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
    late_ballot_grace_ms: u64,
    blocks: Vec<ExpectedBlock>,
    canonical: Vec<CanonicalExample>,
    merkle: Vec<MerkleExample>,
    quorum_table: Vec<QuorumExample>,
    proposers: Vec<ProposerExample>,
    nullifiers: NullifierSection,
    election_keys: Vec<ElectionPublicKey>,
    tally: ExpectedTally,
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
    /// Ballots of election 1 in blocks 1 to this one.
    ballot_count: u64,
}

#[derive(Serialize)]
struct ExpectedTally {
    description: String,
    election_id: u64,
    tally_height: u64,
    ballot_count: u64,
    aggregate: Vec<Ciphertext>,
    shares_height: u64,
    trustees: Vec<u32>,
    counts: Vec<CountEntry>,
    below_threshold_error: &'static str,
}

#[derive(Serialize)]
struct CountEntry {
    candidate_id: u64,
    count: u64,
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
        let mut code = format!("`{}`", v.file.expected_error);
        if let Some(d) = v.file.expected_detail {
            code.push_str(&format!(" ({d})"));
        }
        let crypto = match v.file.expected_crypto_error {
            Some(c) => format!("`{c}`"),
            None => String::new(),
        };
        let schema = if v.file.schema_valid {
            ""
        } else {
            " Schema-invalid."
        };
        rows.push_str(&format!(
            "| `invalid/{}.json` | {code} | {crypto} | {}{schema} |\n",
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
`appliance/examples/make_vectors.rs` (logic in `appliance/examples/vectors_gen/`)
from the public API of `evote_core::ledger`, with fixed key seeds, fixed
timestamps and seeded ChaCha20 generators for the encryption and proof randomness,
so every run gives the same bytes. From the workspace root:

```
{COMMAND}
```

`cargo test -p evote-appliance --test vectors` fails if these files differ from what
the generator makes, if a valid vector does not match the JSON schemas in `schema/`, or
if the ledger does not accept every valid block and refuse every invalid one with exactly
its `expected_error`. The auditor (`evote-audit`) must pass the same files, from the rules
in `schema/PROTOCOL.md` alone. `crypto/` holds the vectors of the cryptography on its own
(PROTOCOL.md appendix E), made by a generator of its own (see `crypto/README.md`); the
trustees of `genesis.json` are those of `crypto/ceremony.json`.

## Files

| file | holds |
| --- | --- |
| `genesis.json` | The genesis: 3 validators, 1 station, election 1 with candidates 101, 102, 103, open from 2026-01-01T07:00Z (inclusive) to 20:00Z (exclusive), with 3 trustees of whom 2 decrypt (their round-1 messages, E.4), `max_block_txs` 8. Its hash is the chain id. |
| `chain.json` | Blocks 1 to 6, committed: block 1 at the election's opening instant with 1 encrypted ballot and 3 seals; block 2 with 5 ballots from every kind of origin; block 3 empty; block 4 committed in round 1, with its parent's timestamp and a ballot carrying a fallback reference; block 5, the first stamped after the close, with a ballot accepted in the election's last millisecond; block 6 with the decryption shares of trustees 1 and 3 of the tally after block 5. `now_ms` is the checker's clock. |
| `expected.json` | What an implementation must compute: `chain_id`, the parent of block 1, each block's hash, `tx_root`, transaction hashes and running ballot count, canonical (JCS) forms with their SHA-256 (genesis, header, proposal, prepare and commit statements, a ballot transaction, its ballot, a fallback copy, a decryption share transaction), Merkle roots for 0 to 7 leaves, the quorum for n = 1..7, proposers for some (height, round), nullifiers with their HMAC input, election 1's key and trustees' public shares (computed from the genesis' round-1 messages), and the tally: the encrypted aggregate after block 5, the counts its decryption shares give, and the error of combining fewer shares than the threshold. |
| `keys.json` | **Test-only** key seeds, PKCS#8 documents and public keys of every key used (validators, station, authority, and an outsider that is not in the genesis), the test nullifier secret, and the trustees' key files. Never use them for a real election. |
| `invalid/*.json` | One block per broken rule, below. |

## Invalid vectors

Each file is an object:

- `description`: what is wrong.
- `now_ms`: the checker's clock (for `timestamp_in_future`).
- `parent`: `{height, hash, timestamp_ms}` of the block it builds on. Unless noted, that is
  block 4 of `chain.json`; height 0 means the genesis (hash = chain id, timestamp =
  `created_at_ms`).
- `prior_blocks` (where it matters): the committed blocks 1 to `parent.height` of the chain
  the block builds on (a prefix of `chain.json`'s), to be checked first: their nullifiers
  are taken, their ballots make the tallies a decryption share is checked against, and their
  decryption shares are recorded. Where it is absent no nullifier it holds is used yet.
- `block`: the block, as served on the wire.
- `schema_valid`: whether `block` matches `block.schema.json` (false only where the broken
  rule is one the schema also states).
- `expected_error`: the code of the first rule it breaks (`LedgerError::code()`; the table
  in PROTOCOL.md §6).
- `expected_detail` (for `wrong_hash` and `bad_signature`): which hash (`block`, `tx_root`,
  `ballot`) or which signature (`proposal`, `transaction`) is wrong.
- `expected_crypto_error` (where a transaction of the block fails the checks of PROTOCOL.md
  E.3 or E.5 taken alone): the E.6 code (`CryptoError::code()`) of the first transaction,
  in block order, that fails them: a ballot verified under election 1's key in the context
  of its transaction, a decryption share verified against the tally after its
  `tally_height` (skipped when there is no such block below). Absent: every ballot and
  share of the block passes them, so the block is refused by another rule.

Everything that a dishonest proposer, dishonest validators or a dishonest origin could
sign again is signed again, so each block breaks one rule only (an unknown proposer is
necessarily also not the expected one), and the expected code does not depend on the
order in which a checker applies the rules. One block is refused by the schema as well:
`schema_valid` says which.

| file | expected_error | expected_crypto_error | what is wrong |
| --- | --- | --- | --- |
{ROWS}"#;
