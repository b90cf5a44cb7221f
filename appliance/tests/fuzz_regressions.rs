//! The fuzz harnesses (`evote_appliance::fuzzing`) without the fuzzer: every
//! file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` is
//! replayed, then each corpus file is mutated byte by byte with a fixed
//! seed. A panic anywhere fails the test; see `fuzz/README.md`.
//!
//! `cargo test -p evote-appliance --test fuzz_regressions -- --ignored`
//! writes the seed corpus again from `schema/vectors`.

use std::path::{Path, PathBuf};

use evote_appliance::fuzzing::{Harness, TARGETS};
use evote_core::consensus::{
    Justification, Message, Proposal, RoundChange, RoundChangeStatement, RoundChangeType,
    SignedRoundChange, SignedVote,
};
use evote_core::ledger::crypto::pkcs8_from_seed;
use evote_core::ledger::{Block, NodeKey, SignedTx, Vote, VoteKind};
use serde_json::{Value, json};

/// Mutations of each corpus file per run.
const MUTATIONS: usize = 500;
/// ... but at most this many mutated inputs per target, spread over its
/// files, so that the whole test stays within a few seconds.
const MAX_MUTATED_PER_TARGET: usize = 4_000;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted by name.
fn files(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(dir) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut out: Vec<_> = dir
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable file");
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

fn harness(target: &str) -> Harness {
    TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .expect("a harness of that name")
}

/// Runs `f` on `input`; on a panic, fails naming the input's origin.
fn run(f: Harness, input: &[u8], what: &dyn Fn() -> String) {
    if std::panic::catch_unwind(|| f(input)).is_err() {
        panic!("{} panicked; input (hex): {}", what(), hex::encode(input));
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four byte-level edits, as libFuzzer's simplest mutators do.
fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    const INTERESTING: &[&[u8]] = &[
        b"0",
        b"-1",
        b"null",
        b"[]",
        b"{}",
        b"\"\"",
        b"9007199254740992",
        b"18446744073709551616",
        b"0x",
        b"\\u0000",
        b"1e999",
    ];
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 if at < out.len() => out[at] = rng.next() as u8,
            2 if at < out.len() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            3 => out.insert(at, rng.next() as u8),
            4 => {
                let word = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, word.iter().copied());
            }
            _ if !input.is_empty() => {
                let from = rng.below(input.len());
                let len = rng.below(32).min(input.len() - from);
                out.splice(at..at, input[from..from + len].iter().copied());
            }
            _ => out.push(b'}'),
        }
    }
    out
}

fn replay(target: &str) {
    let f = harness(target);
    let corpus = files("corpus", target);
    assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ is empty");
    for (path, bytes) in corpus.iter().chain(&files("regressions", target)) {
        run(f, bytes, &|| path.display().to_string());
    }
}

fn mutations(target: &str) {
    let f = harness(target);
    let corpus = files("corpus", target);
    let per_file = MUTATIONS.min(MAX_MUTATED_PER_TARGET / corpus.len().max(1));
    for (i, (path, bytes)) in corpus.iter().enumerate() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
        for n in 0..per_file {
            let input = mutate(bytes, &mut rng);
            run(f, &input, &|| format!("mutation {n} of {}", path.display()));
        }
    }
}

macro_rules! targets {
    ($($name:ident),*) => {
        mod replay {
            $(#[test] fn $name() { super::replay(stringify!($name)) })*
        }
        mod mutations {
            $(#[test] fn $name() { super::mutations(stringify!($name)) })*
        }
        #[test]
        fn every_harness_is_tested() {
            let tested = [$(stringify!($name)),*];
            let all: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
            assert_eq!(all, tested);
        }
    };
}

targets!(rpc, doors, api, p2p, ledger, genesis, config);

// ---------------------------------------------------------------------------
// The seed corpus
// ---------------------------------------------------------------------------

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/vectors")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector")).expect("JSON")
}

fn key(seed: u8) -> NodeKey {
    NodeKey::from_pkcs8(&pkcs8_from_seed(&[seed; 32])).expect("seed key")
}

fn signed_vote(kind: VoteKind, block: &Block, seed: u8) -> SignedVote {
    let k = key(seed);
    let vote = Vote::for_header(kind, &block.header, block.block_hash);
    SignedVote {
        signature: k.sign(&vote).expect("signs"),
        sender: k.public(),
        vote,
    }
}

fn round_change(block: &Block, round: u64, prepared: Option<u64>, seed: u8) -> SignedRoundChange {
    let k = key(seed);
    let statement = RoundChangeStatement {
        kind: RoundChangeType::RoundChange,
        chain_id: block.header.chain_id,
        height: block.header.height,
        round,
        prepared_round: prepared,
        prepared_block_hash: prepared.map(|_| block.block_hash),
    };
    SignedRoundChange {
        signature: k.sign(&statement).expect("signs"),
        sender: k.public(),
        statement,
    }
}

/// Consensus messages at height 5 (block 5 of the chain vector): its
/// proposal, PREPAREs and COMMITs, ROUND-CHANGEs with and without a
/// prepared block, and its re-proposal in round 1 with a justification.
fn consensus_seeds(block5: &Block) -> Vec<(String, Value)> {
    let mut b = block5.clone();
    b.seals.clear();
    let proposal = |block: Block, justification| {
        Message::Proposal(Proposal {
            block,
            justification,
        })
    };
    let cert: Vec<SignedVote> = [1, 3].map(|s| signed_vote(VoteKind::Prepare, &b, s)).into();
    let mut r1 = b.clone();
    r1.header.round = 1;
    r1.header.proposer = key(1).public();
    r1.proposer_signature = key(1)
        .sign(&Vote::for_header(
            VoteKind::Proposal,
            &r1.header,
            r1.block_hash,
        ))
        .expect("signs");
    let justification = Justification {
        round_changes: vec![
            round_change(&b, 1, Some(0), 1),
            round_change(&b, 1, None, 3),
        ],
        prepared_certificate: cert.clone(),
    };
    let msgs = [
        ("proposal", proposal(b.clone(), None)),
        (
            "prepare",
            Message::Prepare(signed_vote(VoteKind::Prepare, &b, 1)),
        ),
        (
            "commit",
            Message::Commit(signed_vote(VoteKind::Commit, &b, 3)),
        ),
        (
            "round_change",
            Message::RoundChange(RoundChange {
                signed: round_change(&b, 1, None, 3),
                prepared_block: None,
                prepared_certificate: Vec::new(),
            }),
        ),
        (
            "round_change_prepared",
            Message::RoundChange(RoundChange {
                signed: round_change(&b, 1, Some(0), 1),
                prepared_block: Some(b.clone()),
                prepared_certificate: cert,
            }),
        ),
        ("proposal_round1", proposal(r1, Some(justification))),
    ];
    msgs.into_iter()
        .map(|(n, m)| (n.to_string(), serde_json::to_value(m).expect("serializes")))
        .collect()
}

fn rpc_seeds(chain: &Value) -> Vec<(String, Value)> {
    let tx = &chain["blocks"][1]["transactions"][0];
    let share = &chain["blocks"][5]["transactions"][0];
    let block2 = &chain["blocks"][1]["block_hash"];
    let stx: SignedTx = serde_json::from_value(tx.clone()).expect("a signed transaction");
    let tx_hash = stx.hash().expect("hashes");
    let call = |id: Value, method: &str, params: Value| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let mut out = vec![
        ("block_number", call(json!(1), "eth_blockNumber", json!([]))),
        ("chain_id", call(json!("a"), "eth_chainId", json!({}))),
        (
            "net_version",
            json!({"jsonrpc": "2.0", "id": null, "method": "net_version"}),
        ),
        (
            "client_version",
            call(json!(7), "web3_clientVersion", json!([])),
        ),
        (
            "block_by_number",
            call(json!(2), "eth_getBlockByNumber", json!(["0x2", true])),
        ),
        (
            "block_latest",
            call(json!(3), "eth_getBlockByNumber", json!(["latest", false])),
        ),
        (
            "block_by_hash",
            call(json!(4), "eth_getBlockByHash", json!([block2, true])),
        ),
        (
            "tx_by_hash",
            call(json!(5), "eth_getTransactionByHash", json!([tx_hash])),
        ),
        (
            "receipt",
            call(json!(6), "eth_getTransactionReceipt", json!([tx_hash])),
        ),
        (
            "send_ballot",
            call(json!(8), "eth_sendTransaction", json!([tx])),
        ),
        (
            "send_share",
            call(json!(9), "eth_sendTransaction", json!([share])),
        ),
        ("unknown_method", call(json!(10), "eth_mining", json!([]))),
        (
            "bad_version",
            json!({"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}),
        ),
    ];
    let batch = json!([
        call(json!(1), "eth_chainId", json!([])),
        {"jsonrpc": "2.0", "method": "eth_blockNumber"},
        call(json!(2), "eth_getBlockByNumber", json!(["earliest"])),
        7,
    ]);
    out.push(("batch", batch));
    out.into_iter().map(|(n, v)| (n.to_string(), v)).collect()
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    std::fs::write(dir.join(name), bytes).expect("corpus file");
}

fn write_json(target: &str, name: &str, v: &Value) {
    write(target, &format!("{name}.json"), v.to_string().as_bytes());
}

/// Query strings and peer headers for the `doors` harness: signed by the
/// vectors' validator 1 for `GET /p2p/blocks?<query>` at the harnesses'
/// fixed time.
fn doors_seeds(genesis: &evote_core::ledger::Genesis, now_ms: u64) {
    let chain_id = genesis.chain_id().expect("genesis hashes");
    for (name, query) in [
        ("blocks", "from=1&limit=64"),
        ("huge_from", "from=18446744073709551615"),
        ("chain", "election_id=1&from=&limit=100"),
        ("fallback", "origin=0x00&from_seq=9007199254740992"),
    ] {
        let signer = evote_appliance::Signer::new(std::sync::Arc::new(key(1)), chain_id);
        let mut text = format!("{query}\n");
        for (h, v) in signer.headers_at("GET", &format!("/p2p/blocks?{query}"), b"", now_ms) {
            text.push_str(&format!("{h}: {v}\n"));
        }
        write("doors", name, text.as_bytes());
    }
}

#[test]
#[ignore = "writes fuzz/corpus from schema/vectors; run by hand"]
fn write_seed_corpus() {
    let dir = vectors();
    let chain = read_json(&dir.join("chain.json"));
    let blocks = chain["blocks"].as_array().expect("blocks");
    let genesis = std::fs::read_to_string(dir.join("genesis.json")).expect("genesis");

    for (name, v) in rpc_seeds(&chain) {
        write_json("rpc", &name, &v);
    }
    doors_seeds(
        &evote_core::ledger::Genesis::from_json(&genesis).expect("genesis vector"),
        evote_appliance::fuzzing::fixed_now_ms(),
    );
    for (name, body) in [
        ("parse_error", "{\"jsonrpc\": \"2.0\", "),
        ("empty_batch", "[]"),
        (
            "exact_id",
            "{\"jsonrpc\":\"2.0\",\"id\":1.10,\"method\":\"eth_chainId\"}",
        ),
    ] {
        write("rpc", &format!("{name}.json"), body.as_bytes());
    }

    let ballot = &blocks[0]["transactions"][0]["tx"]["ballot"];
    for (name, v) in [
        (
            "register",
            json!({"email": "Voter@Example.org", "password": "correct horse battery", "name": " Ada "}),
        ),
        (
            "register_full_name",
            json!({"email": "a@b.c", "password": "12345678", "full_name": "Bo"}),
        ),
        (
            "login",
            json!({"email": " voter@example.org ", "password": "correct horse battery"}),
        ),
        (
            "vote_candidate",
            json!({"election_id": 1, "candidate_id": 102}),
        ),
        (
            "vote_seed_client",
            json!({"election_id": 1, "candidate_id": 101, "encrypted_vote": "opaque"}),
        ),
        ("vote_ballot", json!({"election_id": 1, "ballot": ballot})),
        (
            "vote_both",
            json!({"election_id": 1, "candidate_id": 103, "ballot": ballot}),
        ),
    ] {
        write_json("api", name, &v);
    }

    let block5: Block = serde_json::from_value(blocks[4].clone()).expect("block 5");
    for (name, v) in consensus_seeds(&block5) {
        write_json("p2p", &name, &v);
    }
    // A batch as validators send it: block 5's proposal by its
    // transactions' names, and a vote.
    let refs: Vec<Value> = block5
        .transactions
        .iter()
        .map(|t| json!({"tx_hash": t.hash().expect("hashes"), "signature": t.signature}))
        .collect();
    let by_name = json!({"header": block5.header, "block_hash": block5.block_hash,
        "proposer_signature": block5.proposer_signature, "transactions": refs});
    let seeds = consensus_seeds(&block5);
    let vote = seeds
        .iter()
        .find(|(n, _)| n == "prepare")
        .map(|(_, v)| v.clone());
    write_json(
        "p2p",
        "batch_proposal_by_name",
        &json!({"proposals": [by_name], "messages": vote.into_iter().collect::<Vec<_>>()}),
    );
    let gossip = json!({"transactions": blocks[1]["transactions"], "relay": true});
    write_json("p2p", "gossip", &gossip);
    write_json(
        "p2p",
        "gossip_shares",
        &json!({"transactions": blocks[5]["transactions"]}),
    );
    write_json(
        "p2p",
        "blocks_5_6",
        &json!({"blocks": [blocks[4], blocks[5]]}),
    );
    write_json("p2p", "blocks_all", &json!({"blocks": blocks}));

    for (i, b) in blocks.iter().enumerate() {
        write_json("ledger", &format!("chain_block_{}", i + 1), b);
    }
    write_json("ledger", "tx_ballot", &blocks[1]["transactions"][2]);
    write_json(
        "ledger",
        "tx_fallback_ballot",
        &blocks[3]["transactions"][1],
    );
    write_json("ledger", "tx_share", &blocks[5]["transactions"][1]);
    let mut invalid: Vec<_> = std::fs::read_dir(dir.join("invalid"))
        .expect("invalid vectors")
        .map(|e| e.expect("entry").path())
        .collect();
    invalid.sort();
    for path in invalid {
        let name = path.file_stem().expect("name").to_string_lossy();
        write_json(
            "ledger",
            &format!("invalid_{name}"),
            &read_json(&path)["block"],
        );
    }

    write("genesis", "vectors.json", genesis.as_bytes());
    let mut g: Value = serde_json::from_str(&genesis).expect("genesis JSON");
    g["elections"] = json!([]);
    g["stations"] = json!([]);
    write_json("genesis", "no_elections", &g);
    g["validators"][1]["public_key"] = g["validators"][0]["public_key"].clone();
    write_json("genesis", "duplicate_key", &g);

    for (name, text) in [
        ("minimal", CONFIG_MINIMAL),
        ("full", CONFIG_FULL),
        (
            "bad_listen",
            &CONFIG_MINIMAL.replace("127.0.0.1:8001", "nowhere"),
        ),
    ] {
        write("config", &format!("{name}.toml"), text.as_bytes());
    }
}

const CONFIG_MINIMAL: &str = r#"data_dir = "/var/lib/evote"
listen = "127.0.0.1:8001"
key = "/var/lib/evote/node.key"
genesis = "/etc/evote/genesis.json"
nullifier_secret_file = "/etc/evote/nullifier.secret"
admin_token_file = "/var/lib/evote/admin.token"
"#;

const CONFIG_FULL: &str = r#"# every key
data_dir = "data"
listen = "[::1]:8001"
key = "node.key"
genesis = "genesis.json"
nullifier_secret_file = "nullifier.secret"
admin_token_file = "admin.token"
peers = ["http://10.0.0.2:8001/", "https://10.0.0.3:8001"]
bootnode = "http://10.0.0.10:8000"
public_url = "http://10.0.0.1:8001"
log = "info,evote_appliance=debug,[span{field=1}]=trace"
offline = false
full_integrity_check = true
"#;
