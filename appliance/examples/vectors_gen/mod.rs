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

mod ed25519;
mod invalid;
mod spoiled;

use std::collections::BTreeMap;

use curve25519_dalek::scalar::Scalar;
use evote_core::ledger::canonical::{canonical_bytes, hash_of, sha256};
use evote_core::ledger::credential::{CredentialCode, open_registration_key};
use evote_core::ledger::crypto::pkcs8_from_seed;
use evote_core::ledger::elgamal::ballot::{prove_sum, prove_zero_one};
use evote_core::ledger::elgamal::{
    BallotContext, Ciphertext, DecryptionShare, ElectionPublicKey, EncryptedBallot, EncryptionKey,
    Point, Selection, TallyContext, TrusteeKey, combine_decryption_shares, decryption_share,
    encrypt_ballot,
};
use evote_core::ledger::fallback::{FallbackBlock, FallbackTip, reconciliation_txs};
use evote_core::ledger::genesis::PROTOCOL;
use evote_core::ledger::merkle::MerkleLevels;
use evote_core::ledger::nullifier::{normalize_identity, nullifier};
use evote_core::ledger::records::next_code;
use evote_core::ledger::roll::{RollVoter, roll_leaf};
use evote_core::ledger::tally::{TallyState, local_ceremony};
use evote_core::ledger::tx::LATE_BALLOT_GRACE_MS;
use evote_core::ledger::validate::MAX_FUTURE_DRIFT_MS;
use evote_core::ledger::{
    BallotTx, Block, Candidate, CheckInTx, CodeChainHead, CredentialReplacementTx,
    DecryptionShareTx, DeviceCloseTx, Election, Eligibility, FallbackEnd, Genesis, Hash32, NodeKey,
    Params, PublicKey, RollCommitment, SignedTx, StationInfo, Transaction, ValidatorInfo, Vote,
    VoteKind, merkle_root, quorum, tx_root,
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
const CREDENTIAL_AUTHORITY_SEED: u8 = 0xc9;
const OUTSIDER_SEED: u8 = 0x32;

/// Voters on election 1's roll: `voter-01` to `voter-60`.
const ROLL_VOTERS: u8 = 60;
/// The voters the roll assigns to station-1 (the others vote anywhere).
const STATION_VOTERS: [u8; 6] = [1, 5, 6, 7, 52, 53];
/// The card that replaces voter-10's lost one (block 2).
const REPLACEMENT_CARD: &str = "voter-10-replacement";

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
    files.insert(
        "ed25519.json".to_string(),
        to_json(&ed25519::ed25519_file()),
    );
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
    credential_authority: NodeKey,
    outsider: NodeKey,
    /// Election 1's roll, in roll order (by leaf), and its tree.
    roll: Vec<RollEntry>,
    roll_levels: MerkleLevels,
    /// Election 1's trustees, in index order.
    trustee_keys: Vec<TrusteeKey>,
    /// What anyone computes from the genesis' round-1 messages.
    election_key: ElectionPublicKey,
    genesis: Genesis,
    chain_id: Hash32,
}

/// A voter of the roll file (names are invented).
#[derive(Debug, Clone, Serialize)]
struct RollEntry {
    label: String,
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    district: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    station: Option<PublicKey>,
    salt: Hash32,
    voter: Hash32,
    leaf: Hash32,
}

/// A test voter's card: the code's secret is the first 10 bytes of
/// SHA-256("evote test card " || label).
fn card(label: &str) -> CredentialCode {
    let h = sha256(format!("evote test card {label}").as_bytes());
    let mut secret = [0u8; 10];
    secret.copy_from_slice(&h.0[..10]);
    CredentialCode::from_secret(secret)
}

fn voter_label(n: u8) -> String {
    format!("voter-{n:02}")
}

struct Chain {
    /// Station-1's fallback block 1, whose ballot block 4 carries.
    fallback_block: FallbackBlock,
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
        let credential_authority = key(CREDENTIAL_AUTHORITY_SEED);
        let outsider = key(OUTSIDER_SEED);
        let roll = Self::make_roll(&station.public());
        let leaves: Vec<Hash32> = roll.iter().map(|e| e.leaf).collect();
        let roll_levels = MerkleLevels::new(&leaves);
        let mut credentials: Vec<PublicKey> = (1..=ROLL_VOTERS)
            .map(|n| card(&voter_label(n)).key(ELECTION).public())
            .collect();
        credentials.sort();
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
            credential_authority: credential_authority.public(),
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
                eligibility: Eligibility::Roll {
                    roll: RollCommitment {
                        size: roll_levels.size(),
                        root: roll_levels.root(),
                    },
                    credentials,
                },
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
            credential_authority,
            outsider,
            roll,
            roll_levels,
            trustee_keys,
            election_key,
            genesis,
            chain_id,
        }
    }

    /// Election 1's roll: voters 01 to 60 with invented names, ids and
    /// salts, some assigned to station-1, sorted by leaf.
    fn make_roll(station: &PublicKey) -> Vec<RollEntry> {
        let mut roll: Vec<RollEntry> = (1..=ROLL_VOTERS)
            .map(|n| {
                let label = voter_label(n);
                let id = format!("T-{:04}", 1000 + u32::from(n) * 7);
                let name = format!("Test Voter {n}");
                let district = (n % 3 == 0).then(|| format!("District {}", n % 5));
                let station = STATION_VOTERS.contains(&n).then_some(*station);
                let salt = sha256(format!("evote test roll salt {label}").as_bytes());
                let voter = RollVoter {
                    election_id: ELECTION,
                    id: &id,
                    name: &name,
                    district: district.as_deref(),
                    salt: &salt,
                }
                .commitment()
                .expect("commitment");
                let leaf = roll_leaf(ELECTION, &voter, station.as_ref()).expect("leaf");
                RollEntry {
                    label,
                    id,
                    name,
                    district,
                    station,
                    salt,
                    voter,
                    leaf,
                }
            })
            .collect();
        roll.sort_by_key(|e| e.leaf);
        roll
    }

    fn roll_entry(&self, label: &str) -> (u64, &RollEntry) {
        let i = self
            .roll
            .iter()
            .position(|e| e.label == label)
            .expect("a voter of the roll");
        (i as u64, &self.roll[i])
    }

    /// `label` checked in at `origin` at `at_ms`: the record as the station signs it.
    fn check_in(&self, origin: &NodeKey, label: &str, at_ms: u64) -> SignedTx {
        let (index, e) = self.roll_entry(label);
        let tx = CheckInTx {
            chain_id: self.chain_id,
            election_id: ELECTION,
            voter: e.voter,
            station: e.station,
            index,
            path: self.roll_levels.path(index).expect("in the roll"),
            checked_in_at_ms: at_ms,
            origin: origin.public(),
        };
        SignedTx::sign(Transaction::CheckIn(tx), origin).expect("origin signs")
    }

    /// The credential authority revokes `lost`'s credential and names
    /// `new`'s, signed by `signer` (the credential authority when honest).
    fn replacement(&self, signer: &NodeKey, lost: &str, new: &str, at_ms: u64) -> SignedTx {
        let tx = CredentialReplacementTx {
            chain_id: self.chain_id,
            election_id: ELECTION,
            revoked: card(lost).key(ELECTION).public(),
            replacement: card(new).key(ELECTION).public(),
            issued_at_ms: at_ms,
            origin: signer.public(),
        };
        SignedTx::sign(Transaction::CredentialReplacement(tx), signer).expect("signs")
    }

    /// `origin`'s closing record of election 1.
    fn device_close(
        &self,
        origin: &NodeKey,
        (codes, ballots, check_ins): (CodeChainHead, u64, u64),
        fallback: Option<FallbackEnd>,
        at_ms: u64,
    ) -> SignedTx {
        let tx = DeviceCloseTx {
            chain_id: self.chain_id,
            election_id: ELECTION,
            codes,
            ballots,
            check_ins,
            fallback,
            closed_at_ms: at_ms,
            origin: origin.public(),
        };
        SignedTx::sign(Transaction::DeviceClose(tx), origin).expect("origin signs")
    }

    /// The key of the card whose credential in `ctx.election_id` is
    /// `ctx.nullifier`: every test card is tried.
    fn credential_key(&self, ctx: &BallotContext) -> NodeKey {
        (1..=99u8)
            .map(voter_label)
            .chain([REPLACEMENT_CARD.to_string()])
            .map(|l| card(&l).key(ctx.election_id))
            .find(|k| k.public().0 == ctx.nullifier.0)
            .expect("the nullifier of a test card")
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
            nullifier: Hash32(card(voter).key(election_id).public().0),
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
        let (index, n) = self.candidate_index(candidate_id);
        let mut rng = rng_for(&format!(
            "ballot {} {} {} {} {} {}",
            ctx.chain_id, ctx.election_id, ctx.nullifier, ctx.origin, candidate_id, key
        ));
        let key = EncryptionKey::new(key).expect("not the identity");
        encrypt_ballot(ctx, &key, index, n, &mut rng).expect("ballot encrypts")
    }

    /// Election 1's index of `candidate_id`, and its number of candidates.
    fn candidate_index(&self, candidate_id: u64) -> (usize, usize) {
        let e = self.election();
        let index = e
            .candidate_index(candidate_id)
            .expect("a candidate of election 1");
        (index, e.candidates.len())
    }

    fn election_encryption_key(&self) -> EncryptionKey {
        EncryptionKey::new(&self.election_key.public_key).expect("not the identity")
    }

    fn encrypt(&self, ctx: &BallotContext, candidate_id: u64) -> EncryptedBallot {
        self.encrypt_under(&self.election_key.public_key, ctx, candidate_id)
    }

    /// A ballot whose selections encrypt `plaintexts` (not a valid vote
    /// unless they are 0 or 1 and add up to 1), each with the proof an
    /// honest prover makes for "encrypts 1" when the plaintext is not 0,
    /// and the sum proof an honest prover makes for "adds up to 1".
    fn forge(&self, ctx: &BallotContext, plaintexts: &[u64]) -> EncryptedBallot {
        let pk = &self.election_encryption_key();
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
    /// `ctx`, carrying `ballot` as it is, signed by the voter's credential
    /// (their card's) and by `origin`.
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
            &self.credential_key(ctx),
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

    /// After a change to a ballot: its hash and the credential's signature
    /// made anew (as the voter's device could), then the origin's.
    fn resign_ballot(&self, stx: &mut SignedTx, origin: &NodeKey) {
        if let Transaction::Ballot(b) = &mut stx.tx {
            b.ballot_hash = hash_of(&b.ballot).expect("ballot hashes");
            let ctx = b.context();
            b.credential_signature = evote_core::ledger::credential::sign_ballot(
                &self.credential_key(&ctx),
                &b.chain_id,
                b.election_id,
                &b.ballot_hash,
            )
            .expect("credential signs");
        }
        self.resign_tx(stx, origin);
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

        // Block 1: at the very opening of the election (inclusive bound):
        // voter-01, on station-1's roll, checked in and voting there, and
        // a ballot a voter checked at station-1's booth instead of casting
        // (spoiled, PROTOCOL.md §4e); sealed by all three validators.
        let b1 = self.next(
            &g,
            OPENS_AT,
            vec![
                self.check_in(s, "voter-01", OPENS_AT),
                self.ballot(s, "voter-01", CANDIDATES[0], OPENS_AT),
                self.spoiled(s, "voter-05", (CANDIDATES[2], CANDIDATES[2]), OPENS_AT),
            ],
            &[v1, v2, v3],
        );
        // Block 2: five ballots from every kind of origin and the credential
        // authority's replacement of voter-10's lost card (a tree of six
        // leaves splits 4 + 2); seals not in validator order.
        let t2 = OPENS_AT + 1_000;
        let b2 = self.next(
            &ParentRef::of(&b1),
            t2,
            vec![
                self.ballot(v1, "voter-02", CANDIDATES[1], t2 - 900),
                self.ballot(v2, "voter-03", CANDIDATES[2], t2 - 700),
                self.ballot(v3, "voter-04", CANDIDATES[0], t2 - 500),
                self.ballot(s, "voter-05", CANDIDATES[1], t2 - 300),
                self.ballot(s, "voter-06", CANDIDATES[1], t2 - 100),
                self.replacement(
                    &self.credential_authority,
                    "voter-10",
                    REPLACEMENT_CARD,
                    t2 - 50,
                ),
            ],
            &[v3, v1],
        );
        // Block 3: an empty heartbeat block.
        let t3 = t2 + self.genesis.params.empty_block_period_ms;
        let b3 = self.next(&ParentRef::of(&b2), t3, vec![], &[v1, v2]);
        // Meanwhile station-1, cut off from the validators, sealed
        // voter-07's ballot in its fallback block 1, anchored on block 2.
        let sealed = self.ballot(s, "voter-07", CANDIDATES[2], t3 - 30_000);
        let tip = FallbackTip {
            seq: 0,
            hash: b2.block_hash,
        };
        let anchor = (2, b2.block_hash);
        let fallback_block =
            FallbackBlock::seal(self.chain_id, tip, anchor, t3 - 29_500, vec![sealed], s)
                .expect("the fallback block seals");
        let copy = reconciliation_txs(&fallback_block, s)
            .expect("the copy signs")
            .remove(0);
        // Block 4: committed in round 1 (so proposed by validators[(4+1) mod 3]),
        // with the same timestamp as its parent (allowed): a ballot, the copy
        // of the sealed one (with its fallback block's header and its
        // inclusion proof), and the check-ins of voters 02 to 07 where they
        // voted.
        let t4 = t3;
        let b4 = self.block(
            &ParentRef::of(&b3),
            4,
            1,
            t4,
            vec![
                self.ballot(v2, "voter-08", CANDIDATES[0], t4 - 200),
                copy,
                self.check_in(v1, "voter-02", t2 - 950),
                self.check_in(v2, "voter-03", t2 - 750),
                self.check_in(v3, "voter-04", t2 - 550),
                self.check_in(s, "voter-05", t2 - 350),
                self.check_in(s, "voter-06", t2 - 150),
                self.check_in(s, "voter-07", t3 - 30_500),
            ],
            self.proposer_key(4, 1),
            &[v2, v3],
        );
        // Block 5: the first block stamped after the close (2 s after it,
        // inside the late-ballot grace period): voter-08's check-in, a
        // ballot of voter-10's replacement card, a ballot accepted in the
        // election's last millisecond, and station-1's closing record (its
        // code chain, 4 ballots, 4 check-ins, its fallback chain ending at
        // block 1). Its tally is final.
        let t5 = CLOSES_AT + 2_000;
        let station_ballots = [
            &b1.transactions[1],
            &b2.transactions[3],
            &b2.transactions[4],
        ];
        let mut hashes: Vec<Hash32> = station_ballots
            .iter()
            .map(|t| t.tx.as_ballot().expect("a ballot").ballot_hash)
            .collect();
        hashes.push(
            fallback_block.transactions[0]
                .tx
                .as_ballot()
                .expect("a ballot")
                .ballot_hash,
        );
        let head = hashes
            .iter()
            .fold(Hash32::ZERO, |prev, b| next_code(&prev, b));
        let codes = CodeChainHead {
            count: hashes.len() as u64,
            head,
        };
        let end = FallbackEnd {
            last_seq: fallback_block.header.seq,
            last_hash: fallback_block.block_hash,
        };
        let b5 = self.next(
            &ParentRef::of(&b4),
            t5,
            vec![
                self.check_in(v2, "voter-08", t4 - 300),
                self.check_in(v1, "voter-10", CLOSES_AT - 5_000),
                self.ballot(v1, REPLACEMENT_CARD, CANDIDATES[2], CLOSES_AT - 4_000),
                self.check_in(v3, "voter-09", CLOSES_AT - 2),
                self.ballot(v3, "voter-09", CANDIDATES[1], CLOSES_AT - 1),
                self.device_close(s, (codes, 4, 4), Some(end), CLOSES_AT + 1_000),
            ],
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
            fallback_block,
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
            "credential_authority",
            "credential authority",
            CREDENTIAL_AUTHORITY_SEED,
            &self.credential_authority,
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
                     the same as crypto/ceremony.json's trustee_keys. cards: each test voter's \
                     voting card (the code printed on it, PROTOCOL.md §4a) and its public \
                     credential in election 1; voter-60 and below are on the roll, \
                     voter-10-replacement replaces voter-10's card in block 2, voter-99 is on no \
                     list. roll: election 1's roll file entries (invented names), in roll order: \
                     voter is the salted commitment, leaf the roll entry (PROTOCOL.md §3a). \
                     nullifier_secret: the election-wide secret an appliance makes open \
                     registration credentials with."
                .into(),
            keys,
            nullifier_secret: hex(NULLIFIER_SECRET),
            cards: (1..=ROLL_VOTERS)
                .map(voter_label)
                .chain([REPLACEMENT_CARD.to_string(), "voter-99".to_string()])
                .map(|label| {
                    let c = card(&label);
                    CardEntry {
                        code: c.to_text(),
                        credential: c.key(ELECTION).public(),
                        voter: label,
                    }
                })
                .collect(),
            roll: self.roll.clone(),
            trustees: self.trustee_keys.clone(),
        }
    }

    fn expected(&self, chain: &Chain) -> Expected {
        let b1 = &chain.blocks[0];
        let b4 = &chain.blocks[3];
        let b6 = &chain.blocks[5];
        let check_in_tx = &b1.transactions[0].tx;
        let tx1 = &b1.transactions[1].tx;
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
            "block 1 transaction 0, a check-in (sha256 = tx_hash, the digest the origin signs)",
            check_in_tx,
        ));
        canonical.push(canon(
            "block 1 transaction 1, voter-01's ballot transaction (sha256 = tx_hash, the digest \
             the origin signs)",
            tx1,
        ));
        canonical.push(canon(
            "block 1 transaction 1 ballot (sha256 = ballot_hash)",
            &bt1.ballot,
        ));
        canonical.push(canon(
            "block 1 transaction 1 credential statement (sha256 = the digest voter-01's \
             credential signs: credential_signature)",
            &serde_json::json!({
                "type": "ballot_credential",
                "chain_id": bt1.chain_id,
                "election_id": bt1.election_id,
                "ballot_hash": bt1.ballot_hash,
            }),
        ));
        let spoiled = &b1.transactions[2].tx;
        canonical.push(canon(
            "block 1 transaction 2, a spoiled ballot record (sha256 = tx_hash)",
            spoiled,
        ));
        if let Transaction::SpoiledBallot(sp) = spoiled {
            canonical.push(canon(
                "block 1 transaction 2 tracking code input (sha256 = tracking_code, PROTOCOL.md §4e)",
                &serde_json::json!({
                    "type": "tracking_code",
                    "chain_id": sp.chain_id,
                    "election_id": sp.election_id,
                    "origin": sp.origin,
                    "ciphertexts": sp.ciphertexts,
                }),
            ));
        }
        canonical.push(canon(
            "block 2 transaction 5, a credential replacement (sha256 = tx_hash)",
            &chain.blocks[1].transactions[5].tx,
        ));
        canonical.push(canon(
            "station-1's fallback block 1 header (sha256 = its block_hash, which station-1 signs)",
            &chain.fallback_block.header,
        ));
        canonical.push(canon(
            "block 4 transaction 1, with a fallback reference (sha256 = tx_hash)",
            fallback_tx,
        ));
        canonical.push(canon(
            "block 5 transaction 5, station-1's closing record (sha256 = tx_hash)",
            &chain.blocks[4].transactions[5].tx,
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
                seed: nullifier(NULLIFIER_SECRET, election_id, identity)
                    .expect("secret is long enough"),
                credential: open_registration_key(NULLIFIER_SECRET, election_id, identity)
                    .expect("secret is long enough")
                    .public(),
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
            credentials: self.expected_credentials(),
            roll: self.expected_roll(),
            confirmation_codes: self.expected_codes(chain),
            open_registration_credentials: NullifierSection {
                secret: hex(NULLIFIER_SECRET),
                rule: "in an election with open registration (PROTOCOL.md §3a) the appliance \
                       makes a voter's credential from the Ed25519 seed \
                       HMAC-SHA256(secret, hmac_message), hmac_message = JCS of \
                       {type: \"nullifier\", election_id, identity: normalized_identity}; the \
                       public credential is the ballot's nullifier"
                    .into(),
                examples: nullifiers,
            },
            election_keys: vec![self.election_key.clone()],
            tally: self.expected_tally(chain),
        }
    }

    fn expected_credentials(&self) -> Vec<CredentialExample> {
        ["voter-01", "voter-02", REPLACEMENT_CARD]
            .iter()
            .flat_map(|label| {
                let c = card(label);
                [1, 2].map(|election_id| CredentialExample {
                    voter: (*label).into(),
                    code: c.to_text(),
                    secret: hex(c.secret()),
                    election_id,
                    seed: hex(&c.seed(election_id)),
                    public_key: c.key(election_id).public(),
                })
            })
            .collect()
    }

    fn expected_roll(&self) -> ExpectedRoll {
        let examples = ["voter-01", "voter-03"]
            .iter()
            .map(|label| {
                let (index, e) = self.roll_entry(label);
                let voter = serde_json::json!({
                    "type": "roll_voter",
                    "election_id": ELECTION,
                    "id": e.id,
                    "name": e.name,
                    "salt": e.salt,
                });
                let mut leaf = serde_json::json!({
                    "type": "roll_entry",
                    "election_id": ELECTION,
                    "voter": e.voter,
                });
                if let Some(st) = &e.station {
                    leaf["station"] = serde_json::json!(st);
                }
                RollExample {
                    voter: (*label).into(),
                    index,
                    voter_commitment: canon("the voter commitment (sha256 = voter)", &voter),
                    leaf: canon("the roll entry (sha256 = leaf)", &leaf),
                    path: self.roll_levels.path(index).expect("in the roll"),
                }
            })
            .collect();
        ExpectedRoll {
            description: "Election 1's roll commitment (genesis: roll.size, roll.root) is the \
                          Merkle root (PROTOCOL.md §5) over the leaves of keys.json's roll, in \
                          that order; a check-in proves its entry with the path (RFC 9162 \
                          inclusion proof, leaf index and tree size). Neither example voter has \
                          a district; voter-01 is on station-1's roll."
                .into(),
            size: self.roll_levels.size(),
            root: self.roll_levels.root(),
            examples,
        }
    }

    fn expected_codes(&self, chain: &Chain) -> ExpectedCodes {
        let station_ballots = [
            &chain.blocks[0].transactions[1],
            &chain.blocks[1].transactions[3],
            &chain.blocks[1].transactions[4],
            &chain.fallback_block.transactions[0],
        ];
        let mut prev = Hash32::ZERO;
        let codes = station_ballots
            .iter()
            .map(|t| {
                let ballot_hash = t.tx.as_ballot().expect("a ballot").ballot_hash;
                prev = next_code(&prev, &ballot_hash);
                CodeExample {
                    ballot_hash,
                    code: prev,
                }
            })
            .collect();
        ExpectedCodes {
            description: "Station-1's confirmation codes, in the order it issued them: \
                          code = H({type: \"confirmation_code\", prev_code, ballot_hash}), the \
                          first with prev_code 32 zero bytes. Its closing record (block 5) signs \
                          the last as codes.head, and their number as codes.count."
                .into(),
            origin: self.station.public(),
            codes,
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
    tx_root(txs).expect("tx hashes")
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
    cards: Vec<CardEntry>,
    roll: Vec<RollEntry>,
    trustees: Vec<TrusteeKey>,
}

#[derive(Serialize)]
struct CardEntry {
    voter: String,
    code: String,
    /// The public credential in election 1.
    credential: PublicKey,
}

#[derive(Serialize)]
struct CredentialExample {
    voter: String,
    code: String,
    secret: String,
    election_id: u64,
    seed: String,
    public_key: PublicKey,
}

#[derive(Serialize)]
struct ExpectedRoll {
    description: String,
    size: u64,
    root: Hash32,
    examples: Vec<RollExample>,
}

#[derive(Serialize)]
struct RollExample {
    voter: String,
    index: u64,
    voter_commitment: CanonicalExample,
    leaf: CanonicalExample,
    path: Vec<Hash32>,
}

#[derive(Serialize)]
struct ExpectedCodes {
    description: String,
    origin: PublicKey,
    codes: Vec<CodeExample>,
}

#[derive(Serialize)]
struct CodeExample {
    ballot_hash: Hash32,
    code: Hash32,
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
    credentials: Vec<CredentialExample>,
    roll: ExpectedRoll,
    confirmation_codes: ExpectedCodes,
    open_registration_credentials: NullifierSection,
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
    seed: Hash32,
    credential: PublicKey,
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
| `genesis.json` | The genesis: 3 validators, 1 station, the election and credential authorities, election 1 with candidates 101, 102, 103, open from 2026-01-01T07:00Z (inclusive) to 20:00Z (exclusive), with 3 trustees of whom 2 decrypt (their round-1 messages, E.4), a roll of 60 voters (`voter-01` to `voter-60`, six of them assigned to station-1) and their 60 public credentials, `max_block_txs` 8. Its hash is the chain id. |
| `chain.json` | Blocks 1 to 6, committed, with every kind of transaction: block 1 at the election's opening instant with voter-01's check-in and ballot at station-1, a ballot a voter checked at station-1's booth (spoiled, opening to its stated choice 103), and 3 seals; block 2 with 5 ballots from every kind of origin and the credential authority's replacement of voter-10's card; block 3 empty; block 4 committed in round 1, with its parent's timestamp, a ballot, the copy of a ballot station-1 sealed in its fallback block 1 (with the block's signed header and the inclusion proof), and six check-ins; block 5, the first stamped after the close, with a ballot of voter-10's new card, a ballot accepted in the election's last millisecond, their check-ins and station-1's closing record; block 6 with the decryption shares of trustees 1 and 3 of the tally after block 5. `now_ms` is the checker's clock. |
| `expected.json` | What an implementation must compute: `chain_id`, the parent of block 1, each block's hash, `tx_root`, transaction hashes and running ballot count, canonical (JCS) forms with their SHA-256 (genesis, header, proposal, prepare and commit statements, a check-in, a ballot transaction, its ballot and credential statement, a credential replacement, a fallback block's header and the copy that carries it, a closing record, a decryption share transaction, a spoiled ballot and its tracking code's input), Merkle roots for 0 to 7 leaves, the quorum for n = 1..7, proposers for some (height, round), cards' codes with their credentials (PROTOCOL.md §4a), the roll's root with two entries' commitments and inclusion paths, station-1's confirmation codes, open-registration credentials with their HMAC input, election 1's key and trustees' public shares (computed from the genesis' round-1 messages), and the tally: the encrypted aggregate after block 5, the counts its decryption shares give, and the error of combining fewer shares than the threshold. |
| `keys.json` | **Test-only** key seeds, PKCS#8 documents and public keys of every key used (validators, station, both authorities, and an outsider that is not in the genesis), the test voters' cards (code and public credential), the roll file's entries, the election-wide secret of open registration, and the trustees' key files. Never use them for a real election. |
| `ed25519.json` | Signatures at the edges where Ed25519 libraries differ (non-canonical `S` and `R`, weak keys, a small-order `R`, mixed-order keys, a key that is no point), each with whether PROTOCOL.md §2 accepts it. |
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
  `ballot`) or which signature (`proposal`, `transaction`, `credential`) is wrong.
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
