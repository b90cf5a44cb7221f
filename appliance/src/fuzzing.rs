//! Fuzzing harnesses. Each takes arbitrary bytes, runs on them what the
//! appliance runs when such bytes arrive, and returns nothing; none may
//! panic (ARCHITECTURE.md invariant 5: input errors are `Result`s). The
//! cargo-fuzz targets in `fuzz/` call them, and so does
//! `tests/fuzz_regressions.rs`, which replays the corpora in `cargo test`.
//!
//! What they check against is fixed and built once: the genesis of
//! `schema/vectors` (3 validators, 1 station, one election whose 3
//! trustees decrypt 2 of 3), its keys from their fixed seeds, and the
//! committed blocks 1 to 6 of `chain.json`, replayed as PROTOCOL.md §7 says.
//! The clock is fixed too. A JSON body is parsed with `serde_json` into the
//! handler's own type, which is what the server's JSON extractor does (this
//! module does not name the HTTP crates: only `net` knows HTTP).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::json;

use crate::config::{Config, Overrides};
use crate::consensus::{ChainView, Core, Message};
use crate::ledger::credential::CredentialCode;
use crate::ledger::crypto::pkcs8_from_seed;
use crate::ledger::elgamal::{BallotContext, EncryptionKey, encrypt_ballot};
use crate::ledger::memchain::MemChain;
use crate::ledger::validate::{check_block_txs_hashed, check_committed_block, retain_valid_seals};
use crate::ledger::{
    BallotTx, Block, Genesis, Hash32, LedgerError, NodeKey, PublicKey, SignedTx, Transaction, Vote,
    VoteKind, check_tx, hash_of, tx_root,
};
use crate::net::ApiError;
use crate::net::api::{self, LoginBody, RegisterBody, SubmitBody};
use crate::net::peers::compact::rebuild;
use crate::net::peers::{BlocksPage, GossipBatch, MAX_GOSSIP_BATCH, MessageBatch, peer_urls};
use crate::net::rpc::{self, Call, ChainInfo, Lookup};
use crate::store::TxLocation;

/// A harness: bytes in, nothing out, no panic.
pub type Harness = fn(&[u8]);

/// Every harness, by the name of its fuzz target.
pub const TARGETS: [(&str, Harness); 7] = [
    ("rpc", rpc),
    ("doors", doors),
    ("api", api),
    ("p2p", p2p),
    ("ledger", ledger),
    ("genesis", genesis),
    ("config", config),
];

/// The harnesses' fixed clock (ms since 1970), while the election is open.
pub fn fixed_now_ms() -> u64 {
    fixture().voting_ms
}

/// What a door parses before a handler runs: the first line is a query
/// string, parsed into every route's query type (integers bounded by
/// `QueryInt`), the rest a peer request's headers, checked as the peer door
/// checks them against the fixed genesis.
pub fn doors(data: &[u8]) {
    use crate::net::error::parse_query;
    let f = fixture();
    let text = String::from_utf8_lossy(data);
    let (query, headers) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = parse_query::<crate::net::api::ChainQuery>(query);
    let _ = parse_query::<crate::net::api::StatusQuery>(query);
    let _ = parse_query::<crate::net::p2p::BlocksQuery>(query);
    let _ = parse_query::<crate::net::p2p::FallbackQuery>(query);
    let _ = parse_query::<crate::net::tally::ElectionQuery>(query);
    let path = format!("/p2p/blocks?{query}");
    let _ = crate::net::peer_auth::check_header_lines(
        &f.genesis,
        &f.chain_id,
        "GET",
        &path,
        headers,
        f.voting_ms,
    );
}

/// `POST /rpc`: the envelope parser, `check_tx` for each
/// `eth_sendTransaction` (what `submit_signed` runs before the node), and
/// the answers, read from the fixed chain.
pub fn rpc(data: &[u8]) {
    let f = fixture();
    let env = match rpc::parse_envelope(data) {
        Ok(env) => env,
        Err(reply) => {
            let _ = reply.to_json();
            return;
        }
    };
    let sent: Vec<_> = env
        .entries
        .iter()
        .map(|e| match &e.call {
            Ok(Call::Send(stx)) => Some(
                check_tx(&f.genesis, &f.chain_id, stx, f.now_ms)
                    .map(|h| json!(h))
                    .map_err(|e| {
                        rpc::from_api_error(&ApiError::bad_request(e.code(), e.to_string()))
                    }),
            ),
            _ => None,
        })
        .collect();
    let info = ChainInfo {
        chain_id: f.chain_id,
        genesis_time_ms: f.genesis.created_at_ms,
        height: f.blocks.len() as u64,
        finalized_height: f.blocks.len() as u64,
    };
    let _ = rpc::respond(&env, &info, f, &sent);
}

/// The voter API's bodies: the same bytes as a registration, a login and a
/// vote, each through the handler's checks up to the store (a vote: the
/// election, encryption or the client's ballot, signing, `check_tx`).
pub fn api(data: &[u8]) {
    if let Ok(b) = serde_json::from_slice::<RegisterBody>(data) {
        let _ = api::check_email(&b.email).and_then(|_| api::check_password(&b.password));
        let _ = b.name.unwrap_or_default().trim().len() > api::MAX_NAME_LEN;
    }
    if let Ok(b) = serde_json::from_slice::<LoginBody>(data) {
        let _ = (b.email.trim().to_lowercase(), b.password);
    }
    if let Ok(b) = serde_json::from_slice::<SubmitBody>(data) {
        vote(fixture(), b);
    }
}

/// `POST /api/votes/submit` for the voter of block 1's ballot, at the
/// station that accepted it, while the election is open.
fn vote(f: &Fixture, body: SubmitBody) -> Option<Hash32> {
    let election = f.genesis.election(body.election_id)?;
    let now = f.voting_ms;
    if !election.is_open_at(now) {
        return None;
    }
    let key = f.keys.last()?;
    let credential = f.voter_card.key(election.id);
    let null = Hash32(credential.public().0);
    let ctx = BallotContext {
        chain_id: f.chain_id,
        election_id: election.id,
        nullifier: null,
        origin: key.public(),
    };
    let ballot = match (body.candidate_id, body.ballot) {
        (Some(candidate), None) => {
            let index = election.candidate_index(candidate)?;
            let key = f.encryption_keys.get(&election.id)?;
            let mut rng = crate::auth::OsRandom::default();
            encrypt_ballot(&ctx, key, index, election.candidates.len(), &mut rng).ok()?
        }
        (None, Some(ballot)) => ballot,
        _ => return None,
    };
    let tx = BallotTx::new(
        f.chain_id,
        election.id,
        &credential,
        ballot,
        now,
        key.public(),
    )
    .ok()?;
    let stx = SignedTx::sign(Transaction::Ballot(tx), key).ok()?;
    check_tx(&f.genesis, &f.chain_id, &stx, now).ok()
}

/// The peer protocol: the same bytes as a consensus message (the handler's
/// checks, then a validator's core at height 5 handles it), a batch of
/// them with proposals by their transactions' names, a gossip batch
/// (`check_tx` each) and a page of synced blocks (kept seals, then full
/// committed-block validation, block after block on top of block 4).
pub fn p2p(data: &[u8]) {
    let f = fixture();
    let head = &f.states[HEAD];
    if let Ok(msg) = serde_json::from_slice::<Message>(data) {
        consensus_message(f, msg);
    }
    // A batch: its proposals rebuilt (the fixed chain's transactions stand
    // for the mempool), then every message to the core.
    if let Ok(batch) = serde_json::from_slice::<MessageBatch>(data) {
        let named: usize = batch.proposals.iter().map(|p| p.transactions.len()).sum();
        if named <= f.genesis.params.max_block_txs as usize {
            for p in batch.proposals {
                let held = |hashes: &[Hash32]| {
                    let all = f.blocks.iter().flat_map(|b| &b.transactions);
                    let known: Vec<&SignedTx> = all.collect();
                    hashes
                        .iter()
                        .map(|h| {
                            known
                                .iter()
                                .find(|t| t.hash().ok() == Some(*h))
                                .map(|t| (*t).clone())
                        })
                        .collect()
                };
                if let Ok(p) = rebuild(p, held) {
                    consensus_message(f, Message::Proposal(p));
                }
            }
            for msg in batch.messages {
                consensus_message(f, msg);
            }
        }
    }
    if let Ok(batch) = serde_json::from_slice::<GossipBatch>(data)
        && batch.transactions.len() <= MAX_GOSSIP_BATCH
    {
        for stx in &batch.transactions {
            if let Err(e) = check_tx(&f.genesis, &f.chain_id, stx, f.now_ms) {
                let _ = (stx.hash().ok(), e.code(), e.to_string());
            }
        }
    }
    if let Ok(page) = serde_json::from_slice::<BlocksPage>(data) {
        let mut chain = head.clone();
        for mut block in page.blocks {
            if block.header.height <= chain.parent().height {
                continue;
            }
            retain_valid_seals(&f.genesis, &mut block);
            let checked = check_committed_block(
                &f.genesis,
                &f.chain_id,
                &chain.parent(),
                &block,
                &chain,
                f.now_ms,
            );
            if checked.is_err() {
                break;
            }
            chain.add(&block);
        }
    }
}

/// The handler's checks on a consensus message, then a validator's core
/// at height 5 handles it.
fn consensus_message(f: &Fixture, msg: Message) {
    let head = &f.states[HEAD];
    if msg.chain_id() == &f.chain_id
        && f.genesis.is_validator(msg.sender())
        && let Ok(mut core) = Core::new(
            f.genesis.clone(),
            f.chain_id,
            f.keys[1].clone(),
            head.parent(),
            f.now_ms,
            None,
        )
    {
        let _ = core.handle(msg, f.now_ms, &Contents(f, head));
    }
}

/// Block and transaction validation: a block is checked as committed on
/// top of the fixed chain's block below it (or its head), a transaction
/// with `check_tx`. Each is checked as it came and, when that differs,
/// signed again with every key the fixture holds (with its ballot hashes,
/// tx root and block hash made anew): a dishonest validator or origin can
/// sign anything, so signatures must not hide the rules behind them
/// (timing, proofs, nullifiers, decryption shares) from the fuzzer.
pub fn ledger(data: &[u8]) {
    let f = fixture();
    if let Ok(block) = serde_json::from_slice::<Block>(data) {
        f.check_block(&block);
        let again = f.sign_block(block.clone());
        if again != block {
            f.check_block(&again);
        }
    } else if let Ok(stx) = serde_json::from_slice::<SignedTx>(data) {
        let _ = check_tx(&f.genesis, &f.chain_id, &stx, f.now_ms);
        let again = f.sign_tx(stx.clone());
        if again != stx {
            let _ = check_tx(&f.genesis, &f.chain_id, &again, f.now_ms);
        }
    }
}

/// A genesis file: parsing and validation, then what `run` derives from it.
pub fn genesis(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(g) = Genesis::from_json(text) else {
        return;
    };
    let _ = g.chain_id();
    for e in &g.elections {
        let _ = e.public_key();
    }
    if let Some(me) = g.validators.first().map(|v| v.public_key) {
        let _ = (
            g.is_origin(&me),
            peer_urls(&g, &me, &Default::default(), &[]),
        );
    }
    let _ = (g.quorum(), g.proposer(u64::MAX, u64::MAX));
}

/// `run --config FILE`: `Config::load` on the bytes written to a temporary
/// file, then what `run` does with the result before any IO.
pub fn config(data: &[u8]) {
    static FILES: AtomicU64 = AtomicU64::new(0);
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let name = format!("evote-fuzz-config-{}-{n}.toml", std::process::id());
    let path = std::env::temp_dir().join(name);
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let loaded = Config::load(&path);
    let _ = std::fs::remove_file(&path);
    let Ok(mut cfg) = loaded else {
        return;
    };
    cfg.apply(Overrides::default());
    let _ = cfg.db_path();
    let _ = tracing_subscriber::EnvFilter::new(cfg.log.as_deref().unwrap_or("info"));
    let g = &fixture().genesis;
    if cfg.check_validator_urls(g).is_ok() {
        let _ = peer_urls(
            g,
            &g.validators[0].public_key,
            &cfg.validator_urls,
            &cfg.peers,
        );
    }
}

// ---------------------------------------------------------------------------
// The fixed inputs
// ---------------------------------------------------------------------------

const GENESIS: &str = include_str!("../../schema/vectors/genesis.json");
const CHAIN: &str = include_str!("../../schema/vectors/chain.json");
/// Key seeds of `keys.json`: validators 1 to 3, then station 1.
const KEY_SEEDS: [u8; 4] = [0x01, 0x02, 0x03, 0x64];
const KEYS: &str = include_str!("../../schema/vectors/keys.json");
/// The voter of block 1's ballot, which station 1 accepted.
const VOTER: &str = "voter-01";
/// The head that consensus messages and synced blocks build on.
const HEAD: usize = 4;

struct Fixture {
    genesis: Arc<Genesis>,
    chain_id: Hash32,
    encryption_keys: BTreeMap<u64, EncryptionKey>,
    keys: Vec<Arc<NodeKey>>,
    blocks: Vec<Block>,
    /// `states[h]`: the chain after block `h`.
    states: Vec<MemChain>,
    /// The vectors' checker clock, after the election closed.
    now_ms: u64,
    /// While the election is open: block 2's time.
    voting_ms: u64,
    /// The voting card of [`VOTER`] (`keys.json`).
    voter_card: CredentialCode,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let genesis = Genesis::from_json(GENESIS).expect("the genesis vector is valid");
        let chain: serde_json::Value = serde_json::from_str(CHAIN).expect("chain vector");
        let blocks: Vec<Block> =
            serde_json::from_value(chain["blocks"].clone()).expect("chain vector blocks");
        let chain_id = genesis.chain_id().expect("genesis hashes");
        let mut states = vec![MemChain::new(&genesis, chain_id)];
        for b in &blocks {
            let mut next = states.last().expect("genesis state").clone();
            next.add(b);
            states.push(next);
        }
        let keys = KEY_SEEDS
            .iter()
            .map(|s| NodeKey::from_pkcs8(&pkcs8_from_seed(&[*s; 32])).map(Arc::new))
            .collect::<Result<_, _>>()
            .expect("seed keys");
        Fixture {
            encryption_keys: genesis
                .elections
                .iter()
                .map(|e| {
                    let key = e.public_key().expect("election key").public_key;
                    (e.id, EncryptionKey::new(&key).expect("a key"))
                })
                .collect(),
            genesis: Arc::new(genesis),
            chain_id,
            keys,
            now_ms: chain["now_ms"].as_u64().expect("now_ms"),
            voting_ms: blocks[1].header.timestamp_ms,
            blocks,
            states,
            voter_card: test_card(VOTER),
        }
    })
}

/// A test voter's card, as `keys.json` gives it.
fn test_card(voter: &str) -> CredentialCode {
    let keys: serde_json::Value = serde_json::from_str(KEYS).expect("keys vector");
    let code = keys["cards"]
        .as_array()
        .and_then(|cards| cards.iter().find(|c| c["voter"] == voter))
        .and_then(|c| c["code"].as_str())
        .expect("the voter's card in keys.json");
    CredentialCode::parse(code).expect("a test card's code")
}

impl Fixture {
    fn key(&self, public: &PublicKey) -> Option<&NodeKey> {
        self.keys
            .iter()
            .find(|k| &k.public() == public)
            .map(|k| &**k)
    }

    /// Checks a block as committed on the block below it (or the head), an
    /// hour after the vectors' clock so that later blocks are not refused
    /// as from the future.
    fn check_block(&self, block: &Block) {
        let below = block.header.height.saturating_sub(1);
        let state = &self.states[below.min(self.blocks.len() as u64) as usize];
        let _ = check_committed_block(
            &self.genesis,
            &self.chain_id,
            &state.parent(),
            block,
            state,
            self.now_ms + 3_600_000,
        );
    }

    /// The ballot hash made anew and the origin's signature, if its key is here.
    fn sign_tx(&self, mut stx: SignedTx) -> SignedTx {
        if let Transaction::Ballot(b) = &mut stx.tx
            && let Ok(h) = hash_of(&b.ballot)
        {
            b.ballot_hash = h;
        }
        if let Some(k) = self.key(stx.tx.origin())
            && let Ok(h) = stx.tx.hash()
        {
            stx.signature = k.sign_digest(&h);
        }
        stx
    }

    /// Transactions, tx root, block hash, proposal and seals made anew.
    fn sign_block(&self, mut b: Block) -> Block {
        b.transactions = b
            .transactions
            .into_iter()
            .map(|t| self.sign_tx(t))
            .collect();
        if let Ok(root) = tx_root(&b.transactions) {
            b.header.tx_root = root;
        }
        if let Ok(h) = b.header.hash() {
            b.block_hash = h;
        }
        let proposal = Vote::for_header(VoteKind::Proposal, &b.header, b.block_hash);
        if let Some(Ok(sig)) = self.key(&b.header.proposer).map(|k| k.sign(&proposal)) {
            b.proposer_signature = sig;
        }
        let commit = b.commit_vote();
        for seal in &mut b.seals {
            if let Some(Ok(sig)) = self.key(&seal.validator).map(|k| k.sign(&commit)) {
                seal.signature = sig;
            }
        }
        b
    }
}

/// The consensus core's view of a proposal's contents, as the driver's.
struct Contents<'a>(&'a Fixture, &'a MemChain);

impl ChainView for Contents<'_> {
    fn check_contents(&self, block: &Block, tx_hashes: &[Hash32]) -> Result<(), LedgerError> {
        let (g, id) = (&self.0.genesis, &self.0.chain_id);
        check_block_txs_hashed(g, id, block, tx_hashes, self.1).map(|_| ())
    }
}

/// The fixed chain as JSON-RPC reads it; nothing is pending.
impl rpc::ChainView for Fixture {
    fn block(&self, height: u64) -> Lookup<Block> {
        let i = height.checked_sub(1).and_then(|i| usize::try_from(i).ok());
        Ok(i.and_then(|i| self.blocks.get(i)).cloned())
    }

    fn block_by_hash(&self, hash: &Hash32) -> Lookup<Block> {
        Ok(self.blocks.iter().find(|b| &b.block_hash == hash).cloned())
    }

    fn committed_tx(&self, hash: &Hash32) -> Lookup<(SignedTx, TxLocation)> {
        for b in &self.blocks {
            for (i, stx) in b.transactions.iter().enumerate() {
                if stx.hash().ok().as_ref() == Some(hash) {
                    let at = TxLocation {
                        height: b.header.height,
                        position: i as u64,
                        block_hash: b.block_hash,
                        timestamp_ms: b.header.timestamp_ms,
                    };
                    return Ok(Some((stx.clone(), at)));
                }
            }
        }
        Ok(None)
    }

    fn pending_tx(&self, _: &Hash32) -> Lookup<SignedTx> {
        Ok(None)
    }
}
