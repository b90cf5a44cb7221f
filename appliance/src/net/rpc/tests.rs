use axum::http::{StatusCode, header};
use serde_json::{Value, json};

use super::envelope::{
    INVALID_PARAMS, INVALID_REQUEST, Id, MAX_BATCH_REQUESTS, METHOD_NOT_FOUND, PARSE_ERROR,
};
use super::eth::{
    EMPTY_UNCLES_HASH, eth_chain_id, hex_bytes, parse_quantity, quantity, signature_rs,
};
use super::methods::{BlockTag, CLIENT_VERSION, parse_block_tag, respond_capped};
use super::*;
use crate::ledger::address_of;
use crate::ledger::crypto::pkcs8_from_seed;
use crate::ledger::{Ballot, BallotTx, NodeKey, Transaction, sha256};

const CHAIN: Hash32 = Hash32([0xc1; 32]);
const GENESIS_MS: u64 = 1_700_000_000_000;
const BLOCK1_MS: u64 = 1_700_000_123_456;

fn key(seed: u8) -> NodeKey {
    NodeKey::from_pkcs8(&pkcs8_from_seed(&[seed; 32])).unwrap()
}

fn ballot(origin: &NodeKey, voter: u8) -> SignedTx {
    use rand_core::SeedableRng;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(voter));
    let (trustees, _) = crate::ledger::tally::local_ceremony(1, 1, 1, &mut rng).unwrap();
    let pk = trustees.public_key(1).unwrap().public_key;
    let credential = crate::ledger::crypto::key_from_seed(&[voter; 32]);
    let ctx = crate::ledger::elgamal::BallotContext {
        chain_id: CHAIN,
        election_id: 1,
        nullifier: Hash32(credential.public().0),
        origin: origin.public(),
    };
    let key = crate::ledger::elgamal::EncryptionKey::new(&pk).unwrap();
    let b: Ballot = crate::ledger::elgamal::encrypt_ballot(&ctx, &key, 1, 3, &mut rng).unwrap();
    let tx = BallotTx::new(CHAIN, 1, &credential, b, 5_000, origin.public()).unwrap();
    SignedTx::sign(Transaction::Ballot(tx), origin).unwrap()
}

/// A chain of two blocks (two ballots in block 1) and one waiting ballot.
#[derive(Default)]
struct Fake {
    blocks: Vec<Block>,
    pending: Vec<SignedTx>,
    broken: bool,
}

impl Fake {
    fn chain() -> Self {
        let (proposer, station) = (key(1), key(2));
        let txs = vec![ballot(&station, 1), ballot(&station, 2)];
        let b1 = Block::propose(CHAIN, 1, 0, CHAIN, BLOCK1_MS, txs, &proposer).unwrap();
        let b2 = Block::propose(
            CHAIN,
            2,
            0,
            b1.block_hash,
            BLOCK1_MS + 1_000,
            vec![],
            &proposer,
        )
        .unwrap();
        Self {
            blocks: vec![b1, b2],
            pending: vec![ballot(&station, 3)],
            broken: false,
        }
    }

    fn ok(&self) -> Result<(), RpcError> {
        if self.broken {
            return Err(RpcError::internal("reading the chain", "disk on fire"));
        }
        Ok(())
    }
}

impl ChainView for Fake {
    fn block(&self, height: u64) -> Lookup<Block> {
        self.ok()?;
        Ok(self.blocks.iter().find(|b| b.height() == height).cloned())
    }

    fn block_by_hash(&self, hash: &Hash32) -> Lookup<Block> {
        self.ok()?;
        Ok(self.blocks.iter().find(|b| &b.block_hash == hash).cloned())
    }

    fn committed_tx(&self, hash: &Hash32) -> Lookup<(SignedTx, TxLocation)> {
        self.ok()?;
        for b in &self.blocks {
            for (stx, position) in b.transactions.iter().zip(0u64..) {
                if &stx.hash().unwrap() == hash {
                    let at = TxLocation {
                        height: b.height(),
                        position,
                        block_hash: b.block_hash,
                        timestamp_ms: b.header.timestamp_ms,
                    };
                    return Ok(Some((stx.clone(), at)));
                }
            }
        }
        Ok(None)
    }

    fn pending_tx(&self, hash: &Hash32) -> Lookup<SignedTx> {
        self.ok()?;
        Ok(self
            .pending
            .iter()
            .find(|s| &s.hash().unwrap() == hash)
            .cloned())
    }
}

fn info() -> ChainInfo {
    ChainInfo {
        chain_id: CHAIN,
        genesis_time_ms: GENESIS_MS,
        height: 2,
        finalized_height: 1,
    }
}

/// The whole pure pipeline, with `send` standing in for the node.
fn run_with(body: &str, view: &Fake, send: &dyn Fn(&SignedTx) -> Outcome) -> Option<String> {
    let env = match parse_envelope(body.as_bytes()) {
        Ok(env) => env,
        Err(reply) => return Some(reply.to_json()),
    };
    let sent: Vec<Option<Outcome>> = env
        .entries
        .iter()
        .map(|e| match &e.call {
            Ok(Call::Send(stx)) => Some(send(stx)),
            _ => None,
        })
        .collect();
    respond(&env, &info(), view, &sent)
}

fn accept(stx: &SignedTx) -> Outcome {
    Ok(json!(stx.hash().unwrap()))
}

fn raw_reply(body: &str) -> Option<String> {
    run_with(body, &Fake::chain(), &accept)
}

fn reply(body: &str) -> Value {
    let text = raw_reply(body).expect("an answer");
    serde_json::from_str(&text).expect("the answer is JSON")
}

fn call(method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let r = reply(&body.to_string());
    assert_eq!(r["jsonrpc"], "2.0");
    assert_eq!(r["id"], 1);
    r
}

fn result(method: &str, params: Value) -> Value {
    let r = call(method, params);
    assert!(r.get("error").is_none(), "{method}: {r}");
    r["result"].clone()
}

fn error_code(r: &Value) -> i64 {
    assert!(r.get("result").is_none(), "{r}");
    r["error"]["code"].as_i64().expect("an error code")
}

fn is_quantity(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.strip_prefix("0x").is_some_and(|d| {
            !d.is_empty()
                && (d == "0" || !d.starts_with('0'))
                && d.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    })
}

fn is_data(v: &Value, len: usize) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 2 + 2 * len && s.starts_with("0x") && hex::decode(&s[2..]).is_ok()
    })
}

// --- protocol -------------------------------------------------------

#[test]
fn malformed_json_is_a_parse_error_with_null_id() {
    for body in [
        &b"{\"jsonrpc\": \"2.0\", \"method\""[..],
        b"",
        b"\xff\xfe",
        b"[1,]",
    ] {
        let env = parse_envelope(body).unwrap_err();
        assert_eq!(env.id, Id::null());
        assert_eq!(env.outcome.as_ref().unwrap_err().code, PARSE_ERROR);
        let v: Value = serde_json::from_str(&env.to_json()).unwrap();
        assert_eq!(v["jsonrpc"], "2.0");
        assert!(v["id"].is_null() && v.get("id").is_some());
    }
}

#[test]
fn invalid_requests_are_answered_with_the_id_when_it_was_valid() {
    let cases = [
        (r#"1"#, Value::Null),
        (r#""eth_chainId""#, Value::Null),
        (r#"{"id": 5, "method": "eth_chainId"}"#, json!(5)),
        (
            r#"{"jsonrpc": "1.0", "id": "a", "method": "eth_chainId"}"#,
            json!("a"),
        ),
        (
            r#"{"jsonrpc": 2.0, "id": 5, "method": "eth_chainId"}"#,
            json!(5),
        ),
        (r#"{"jsonrpc": "2.0", "id": 6, "method": 1}"#, json!(6)),
        (r#"{"jsonrpc": "2.0", "id": 7}"#, json!(7)),
        (
            r#"{"jsonrpc": "2.0", "id": 8, "method": "eth_chainId", "params": "x"}"#,
            json!(8),
        ),
        (
            r#"{"jsonrpc": "2.0", "id": 9, "method": "eth_chainId", "params": null}"#,
            json!(9),
        ),
        (
            r#"{"jsonrpc": "2.0", "id": {"a": 1}, "method": "eth_chainId"}"#,
            Value::Null,
        ),
        (
            r#"{"jsonrpc": "2.0", "id": [1], "method": "eth_chainId"}"#,
            Value::Null,
        ),
        (
            r#"{"jsonrpc": "2.0", "id": true, "method": "eth_chainId"}"#,
            Value::Null,
        ),
        // invalid and without an id: still answered, with id null
        (
            r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#,
            Value::Null,
        ),
    ];
    for (body, id) in cases {
        let r = reply(body);
        assert_eq!(error_code(&r), INVALID_REQUEST, "{body}");
        assert_eq!(r["id"], id, "{body}");
        assert_eq!(r["jsonrpc"], "2.0");
    }
}

#[test]
fn ids_are_echoed_exactly() {
    let cases = [
        r#""abc""#,
        r#""a\"b\u00e9""#,
        "0",
        "-3",
        "7",
        "null",
        "1.10",
        "1e2",
        "-0.0",
        "123456789012345678901234567890",
        "18446744073709551616",
        "0.30000000000000000000001",
    ];
    for id in cases {
        let body = format!(r#"{{"jsonrpc":"2.0","method":"eth_chainId","id": {id} }}"#);
        let text = raw_reply(&body).unwrap();
        let expected_id = if id.starts_with('"') {
            serde_json::to_string(&serde_json::from_str::<Value>(id).unwrap()).unwrap()
        } else {
            id.to_string()
        };
        assert!(
            text.starts_with(&format!(
                r#"{{"jsonrpc":"2.0","id":{expected_id},"result":"#
            )),
            "{id}: {text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["id"], serde_json::from_str::<Value>(id).unwrap());
    }
}

#[test]
fn ids_in_batches_and_with_odd_layout_are_exact_too() {
    let body = "[ {\"id\" :1.50,\"jsonrpc\":\"2.0\",\"method\":\"eth_chainId\",\
                \"params\":[]} ,\n{\"jsonrpc\":\"2.0\",\"params\":{},\"method\":\"net_version\",\
                \"id\":{\"x\":1},\"id\":2.000} ,{\"jsonrpc\":\"2.0\",\"method\":\"x\",\
                \"\\u0069d\":3.0}]";
    let text = raw_reply(body).unwrap();
    assert!(text.contains(r#""id":1.50,"#), "{text}");
    // duplicate member names: the last wins, as in serde_json
    assert!(text.contains(r#""id":2.000,"#), "{text}");
    // an escaped member name is still "id"
    assert!(text.contains(r#""id":3.0,"#), "{text}");
}

#[test]
fn notifications_get_no_answer() {
    for body in [
        r#"{"jsonrpc":"2.0","method":"eth_chainId"}"#,
        r#"{"jsonrpc":"2.0","method":"no_such_method","params":[1]}"#,
        r#"{"jsonrpc":"2.0","method":"eth_getBlockByNumber","params":["bogus"]}"#,
        r#"[{"jsonrpc":"2.0","method":"eth_chainId"},{"jsonrpc":"2.0","method":"net_version"}]"#,
    ] {
        assert_eq!(raw_reply(body), None, "{body}");
    }
    // a notification is still carried out
    let stx = ballot(&key(2), 40);
    let body = json!({"jsonrpc": "2.0", "method": "eth_sendTransaction", "params": [stx]});
    let sent = std::cell::Cell::new(0);
    let count = |s: &SignedTx| {
        sent.set(sent.get() + 1);
        accept(s)
    };
    assert_eq!(run_with(&body.to_string(), &Fake::chain(), &count), None);
    assert_eq!(sent.get(), 1);
}

#[test]
fn an_empty_batch_is_one_invalid_request_error() {
    let r = reply("[]");
    assert!(r.is_object());
    assert_eq!(error_code(&r), INVALID_REQUEST);
    assert!(r["id"].is_null());
    let r = reply(" [ \n ] ");
    assert_eq!(error_code(&r), INVALID_REQUEST);
}

#[test]
fn a_mixed_batch_answers_each_request_but_notifications() {
    let body = r#"[
        {"jsonrpc":"2.0","method":"eth_blockNumber","id":"a"},
        {"jsonrpc":"2.0","method":"eth_chainId"},
        1,
        {"jsonrpc":"2.0","method":"nope","id":"b"},
        {"jsonrpc":"2.0","method":"eth_getBlockByNumber","params":[true],"id":"c"},
        {"foo":"boo"},
        {"jsonrpc":"2.0","method":"web3_clientVersion","id":null}
    ]"#;
    let r = reply(body);
    let answers = r.as_array().expect("an array");
    assert_eq!(answers.len(), 6);
    let by_id = |id: Value| answers.iter().filter(move |a| a["id"] == id);
    assert_eq!(by_id(json!("a")).next().unwrap()["result"], "0x2");
    assert_eq!(
        error_code(by_id(json!("b")).next().unwrap()),
        METHOD_NOT_FOUND
    );
    assert_eq!(
        error_code(by_id(json!("c")).next().unwrap()),
        INVALID_PARAMS
    );
    let nulls: Vec<_> = by_id(Value::Null).collect();
    assert_eq!(nulls.len(), 3);
    assert_eq!(nulls.iter().filter(|a| a.get("error").is_some()).count(), 2);
    assert!(nulls.iter().any(|a| a["result"] == CLIENT_VERSION));
    assert!(answers.iter().all(|a| a["jsonrpc"] == "2.0"));
}

#[test]
fn batches_are_capped() {
    let one = r#"{"jsonrpc":"2.0","method":"eth_chainId","id":1}"#;
    let batch = |n: usize| format!("[{}]", vec![one; n].join(","));
    let r = reply(&batch(MAX_BATCH_REQUESTS));
    assert_eq!(r.as_array().unwrap().len(), MAX_BATCH_REQUESTS);
    let r = reply(&batch(MAX_BATCH_REQUESTS + 1));
    assert!(r.is_object());
    assert_eq!(error_code(&r), INVALID_REQUEST);
    assert!(r["id"].is_null());
}

#[test]
fn unknown_methods_are_method_not_found() {
    for m in ["eth_getBalance", "rpc.discover", "ETH_CHAINID", ""] {
        assert_eq!(error_code(&call(m, json!([]))), METHOD_NOT_FOUND, "{m}");
    }
}

#[test]
fn bad_params_are_invalid_params() {
    let h = Hash32([1; 32]).to_hex();
    let cases = [
        ("eth_chainId", json!([1])),
        ("eth_blockNumber", json!({"a": 1})),
        ("eth_getBlockByNumber", json!([])),
        ("eth_getBlockByNumber", json!(["bogus", false])),
        ("eth_getBlockByNumber", json!([1, false])),
        ("eth_getBlockByNumber", json!(["0x", false])),
        ("eth_getBlockByNumber", json!(["0x1", "yes"])),
        ("eth_getBlockByNumber", json!(["0x1", false, 3])),
        ("eth_getBlockByHash", json!(["0x12", false])),
        ("eth_getBlockByHash", json!([null])),
        ("eth_getTransactionByHash", json!([42])),
        ("eth_getTransactionReceipt", json!([])),
        ("eth_getTransactionReceipt", json!([h, h])),
        ("eth_sendTransaction", json!([])),
        ("eth_sendTransaction", json!([{"from": h, "data": "0x"}])),
        ("eth_sendTransaction", json!(["0xf86c"])),
    ];
    for (m, p) in cases {
        assert_eq!(error_code(&call(m, p.clone())), INVALID_PARAMS, "{m} {p}");
    }
}

#[test]
fn hex_quantities_have_no_leading_zeros() {
    assert_eq!(quantity(0), "0x0");
    assert_eq!(quantity(1), "0x1");
    assert_eq!(quantity(255), "0xff");
    assert_eq!(quantity(4096), "0x1000");
    assert_eq!(quantity(u64::MAX), "0xffffffffffffffff");
    assert_eq!(parse_quantity("0x0"), Some(0));
    assert_eq!(parse_quantity("0x1a"), Some(26));
    assert_eq!(parse_quantity("0x1A"), Some(26));
    assert_eq!(parse_quantity("0x001"), Some(1));
    assert_eq!(parse_quantity("0xffffffffffffffff"), Some(u64::MAX));
    for bad in [
        "",
        "0x",
        "1a",
        "0X1",
        "0x+1",
        "0x-1",
        "0xg",
        " 0x1",
        "0x10000000000000000",
    ] {
        assert_eq!(parse_quantity(bad), None, "{bad:?}");
    }
}

#[test]
fn block_tags_parse_and_resolve() {
    let i = info();
    let cases = [
        ("latest", BlockTag::Latest, 2),
        ("pending", BlockTag::Latest, 2),
        ("earliest", BlockTag::Earliest, 0),
        ("finalized", BlockTag::Finalized, 1),
        ("safe", BlockTag::Finalized, 1),
        ("0x0", BlockTag::Number(0), 0),
        ("0x10", BlockTag::Number(16), 16),
    ];
    for (s, tag, height) in cases {
        assert_eq!(parse_block_tag(s), Some(tag), "{s}");
        assert_eq!(tag.height(&i), height, "{s}");
    }
    for bad in ["Latest", "", "16", "0x", "newest"] {
        assert_eq!(parse_block_tag(bad), None, "{bad}");
    }
}

#[test]
fn chain_id_and_versions() {
    // 0xc1c1c1c1c1c1: the first six bytes of the chain id
    assert_eq!(eth_chain_id(&CHAIN), 0xc1c1_c1c1_c1c1);
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&[0xff, 0, 0, 0, 0, 1, 0xaa, 0xbb]);
    assert_eq!(eth_chain_id(&Hash32(id)), 0xff00_0000_0001);
    assert!(eth_chain_id(&Hash32([0xff; 32])) < 1 << 53);
    assert_eq!(result("eth_chainId", json!([])), "0xc1c1c1c1c1c1");
    assert_eq!(
        result("net_version", json!([])),
        0xc1c1_c1c1_c1c1u64.to_string()
    );
    assert_eq!(result("eth_blockNumber", json!([])), "0x2");
    let v = result("web3_clientVersion", json!([]));
    assert_eq!(v, format!("evote-appliance/{}", env!("CARGO_PKG_VERSION")));
    // absent params and {} mean none
    let r = reply(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#);
    assert_eq!(r["result"], "0xc1c1c1c1c1c1");
    let r = reply(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":{}}"#);
    assert_eq!(r["result"], "0xc1c1c1c1c1c1");
}

// --- Ethereum shapes ------------------------------------------------

fn assert_block_shape(b: &Value) {
    for f in [
        "number",
        "size",
        "gasLimit",
        "gasUsed",
        "timestamp",
        "difficulty",
    ] {
        assert!(is_quantity(&b[f]), "{f}: {}", b[f]);
    }
    assert!(is_quantity(&b["totalDifficulty"]));
    for f in [
        "hash",
        "parentHash",
        "sha3Uncles",
        "transactionsRoot",
        "stateRoot",
    ] {
        assert!(is_data(&b[f], 32), "{f}");
    }
    assert!(is_data(&b["receiptsRoot"], 32) && is_data(&b["mixHash"], 32));
    assert!(is_data(&b["miner"], 20));
    assert!(is_data(&b["logsBloom"], 256));
    assert_eq!(b["nonce"], "0x0000000000000000");
    assert_eq!(b["sha3Uncles"], EMPTY_UNCLES_HASH);
    assert_eq!(b["extraData"], "0x");
    assert_eq!(b["uncles"], json!([]));
    assert!(b["transactions"].is_array());
}

fn assert_tx_shape(t: &Value, chain: &Value) {
    assert!(is_data(&t["hash"], 32));
    assert!(is_data(&t["from"], 20));
    assert!(t["to"].is_null() && t.get("to").is_some());
    for f in ["nonce", "value", "gas", "gasPrice", "v", "type"] {
        assert_eq!(t[f], "0x0", "{f}");
    }
    assert!(is_data(&t["r"], 32) && is_data(&t["s"], 32));
    assert_eq!(&t["chainId"], chain);
    let input = hex::decode(&t["input"].as_str().unwrap()[2..]).unwrap();
    // the input is the canonical transaction: its SHA-256 is the hash
    assert_eq!(json!(sha256(&input)), t["hash"]);
}

/// The fake chain's block 1, and `eth_getBlockByNumber`'s answer for it
/// (with whole transactions when `full`), its shape checked.
fn block_1(full: bool) -> (Block, Value) {
    let b1 = Fake::chain().blocks.swap_remove(0);
    let b = result("eth_getBlockByNumber", json!(["0x1", full]));
    assert_block_shape(&b);
    (b1, b)
}

#[test]
fn a_block_reads_as_an_ethereum_block() {
    let (b1, b) = block_1(false);
    assert_eq!(b["number"], "0x1");
    assert_eq!(b["hash"], json!(b1.block_hash));
    assert_eq!(b["parentHash"], json!(CHAIN));
    assert_eq!(b["transactionsRoot"], json!(b1.header.tx_root));
    let size = serde_json::to_vec(&b1).unwrap().len() as u64;
    assert_eq!(b["size"], quantity(size), "the block's JSON length");
    assert_eq!(b["miner"], hex_bytes(&address_of(&key(1).public())));
    assert_eq!(b["timestamp"], quantity(BLOCK1_MS / 1000));
    let hashes: Vec<Value> = b1
        .transactions
        .iter()
        .map(|t| json!(t.hash().unwrap()))
        .collect();
    assert_eq!(b["transactions"], json!(hashes));
    // the same block by hash, and by tag
    let by_hash = result("eth_getBlockByHash", json!([b1.block_hash, false]));
    assert_eq!(by_hash, b);
    assert_eq!(result("eth_getBlockByNumber", json!(["finalized"])), b);
    let latest = result("eth_getBlockByNumber", json!(["latest", false]));
    assert_eq!(latest["number"], "0x2");
    assert_eq!(latest["parentHash"], json!(b1.block_hash));
    assert_eq!(latest["transactions"], json!([]));
}

#[test]
fn a_full_block_carries_ethereum_transactions() {
    let (b1, b) = block_1(true);
    let txs = b["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 2);
    let chain = result("eth_chainId", json!([]));
    for (i, t) in txs.iter().enumerate() {
        assert_tx_shape(t, &chain);
        assert_eq!(t["hash"], json!(b1.transactions[i].hash().unwrap()));
        assert_eq!(t["blockHash"], json!(b1.block_hash));
        assert_eq!(t["blockNumber"], "0x1");
        assert_eq!(t["transactionIndex"], quantity(i as u64));
        assert_eq!(t["from"], hex_bytes(&address_of(&key(2).public())));
    }
}

#[test]
fn the_genesis_is_block_zero_and_missing_blocks_are_null() {
    let g = result("eth_getBlockByNumber", json!(["earliest", false]));
    assert_block_shape(&g);
    assert_eq!(g["number"], "0x0");
    assert_eq!(g["hash"], json!(CHAIN));
    assert_eq!(g["timestamp"], quantity(GENESIS_MS / 1000));
    assert_eq!(result("eth_getBlockByHash", json!([CHAIN, true])), g);
    assert_eq!(result("eth_getBlockByNumber", json!(["0x0"])), g);
    assert!(result("eth_getBlockByNumber", json!(["0x3", false])).is_null());
    assert!(result("eth_getBlockByHash", json!([Hash32([9; 32]), false])).is_null());
}

#[test]
fn transactions_and_receipts() {
    let fake = Fake::chain();
    let b1 = &fake.blocks[0];
    let stx = &b1.transactions[1];
    let h = stx.hash().unwrap();
    let chain = result("eth_chainId", json!([]));

    let t = result("eth_getTransactionByHash", json!([h]));
    assert_tx_shape(&t, &chain);
    assert_eq!(t["blockHash"], json!(b1.block_hash));
    assert_eq!(t["blockNumber"], "0x1");
    assert_eq!(t["transactionIndex"], "0x1");

    let r = result("eth_getTransactionReceipt", json!([h]));
    assert_eq!(r["transactionHash"], json!(h));
    assert_eq!(r["transactionIndex"], "0x1");
    assert_eq!(r["blockHash"], json!(b1.block_hash));
    assert_eq!(r["blockNumber"], "0x1");
    assert_eq!(r["from"], hex_bytes(&address_of(&key(2).public())));
    assert!(r["to"].is_null() && r["contractAddress"].is_null());
    for f in ["cumulativeGasUsed", "gasUsed", "effectiveGasPrice", "type"] {
        assert_eq!(r[f], "0x0", "{f}");
    }
    assert_eq!(r["status"], "0x1");
    assert_eq!(r["logs"], json!([]));
    assert!(is_data(&r["logsBloom"], 256));
    // uppercase hex is read too
    let upper = format!("0x{}", h.to_hex()[2..].to_uppercase());
    assert_eq!(result("eth_getTransactionReceipt", json!([upper])), r);

    // waiting: no block fields, no receipt
    let p = fake.pending[0].hash().unwrap();
    let t = result("eth_getTransactionByHash", json!([p]));
    assert_tx_shape(&t, &chain);
    for f in ["blockHash", "blockNumber", "transactionIndex"] {
        assert!(t[f].is_null() && t.get(f).is_some(), "{f}");
    }
    assert!(result("eth_getTransactionReceipt", json!([p])).is_null());
    // unknown
    let unknown = Hash32([3; 32]);
    assert!(result("eth_getTransactionByHash", json!([unknown])).is_null());
    assert!(result("eth_getTransactionReceipt", json!([unknown])).is_null());
}

#[test]
fn r_and_s_rebuild_the_signature_and_s_is_canonical_for_ethers() {
    for voter in 0..32 {
        let stx = ballot(&key(2), voter);
        let (r, s) = signature_rs(&stx.signature);
        let r = hex::decode(&r[2..]).unwrap();
        let mut s = hex::decode(&s[2..]).unwrap();
        // ethers refuses an s whose top bit is set
        assert!(s[0] < 0x80, "{}", hex::encode(&s));
        s.reverse();
        assert_eq!([r, s].concat(), stx.signature.as_bytes().to_vec());
    }
}

// --- eth_sendTransaction and failures --------------------------------

#[test]
fn send_transaction_takes_a_signed_transaction_and_returns_its_hash() {
    let stx = ballot(&key(2), 50);
    let env = parse_envelope(
        json!({"jsonrpc": "2.0", "id": 3, "method": "eth_sendTransaction", "params": [stx]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(env.entries[0].call, Ok(Call::Send(Box::new(stx.clone()))));
    assert!(!env.needs_store());
    let r = result("eth_sendTransaction", json!([stx]));
    assert_eq!(r, json!(stx.hash().unwrap()));
}

#[test]
fn refusals_of_the_api_map_to_server_errors() {
    let cases = [
        (
            ApiError::conflict("already_voted", "this voter has already voted"),
            TX_REFUSED,
        ),
        (ApiError::bad_request("bad_signature", "bad"), TX_REFUSED),
        (ApiError::busy("the mempool is full"), BUSY),
        (
            ApiError::internal("recording the vote", "io"),
            INTERNAL_ERROR,
        ),
    ];
    let stx = ballot(&key(2), 51);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": [stx]});
    for (api, code) in cases {
        let e = from_api_error(&api);
        assert_eq!(e.code, code);
        assert_eq!(e.message, api.message);
        assert_eq!(e.data, Some(json!({"code": api.code})));
        let refuse = |_: &SignedTx| Err(from_api_error(&api));
        let text = run_with(&body.to_string(), &Fake::chain(), &refuse).unwrap();
        let r: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error_code(&r), code);
        assert_eq!(r["error"]["data"]["code"], api.code);
        assert_eq!(r["id"], 1);
    }
}

#[test]
fn store_failures_are_internal_errors_and_spare_other_answers() {
    let broken = Fake {
        broken: true,
        ..Fake::default()
    };
    let body = r#"[
        {"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x1",false]},
        {"jsonrpc":"2.0","id":2,"method":"eth_chainId"}
    ]"#;
    let text = run_with(body, &broken, &accept).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    let answers = r.as_array().unwrap();
    let first = answers.iter().find(|a| a["id"] == 1).unwrap();
    assert_eq!(error_code(first), INTERNAL_ERROR);
    assert!(!first["error"]["message"].as_str().unwrap().contains("fire"));
    let second = answers.iter().find(|a| a["id"] == 2).unwrap();
    assert_eq!(second["result"], "0xc1c1c1c1c1c1");
    // the view for "no store" fails every look-up the same way
    let env = parse_envelope(body.as_bytes()).unwrap();
    assert!(env.needs_store());
    let text = respond(&env, &info(), &Unavailable, &[None, None]).unwrap();
    assert!(text.contains(&INTERNAL_ERROR.to_string()));
}

#[test]
fn a_batch_reply_is_capped_in_bytes() {
    let one = r#"{"jsonrpc":"2.0","method":"eth_getBlockByNumber","params":["0x1",true],"id":1}"#;
    let body = format!("[{one},{one},{one}]");
    let env = parse_envelope(body.as_bytes()).unwrap();
    let sent = [None, None, None];
    let full = respond(&env, &info(), &Fake::chain(), &sent).unwrap();
    let single = (full.len() - 4) / 3;
    // room for two answers: the third is refused
    let text = respond_capped(&env, &info(), &Fake::chain(), &sent, 2 * single + 10).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    let answers = r.as_array().unwrap();
    assert_eq!(answers.len(), 3);
    assert!(answers[0]["result"].is_object() && answers[1]["result"].is_object());
    assert_eq!(error_code(&answers[2]), BUSY);
    assert_eq!(answers[2]["id"], 1);
    // the first answer always goes out
    let text = respond_capped(&env, &info(), &Fake::chain(), &sent, 1).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    assert!(r[0]["result"].is_object());
    assert_eq!(error_code(&r[1]), BUSY);
}

#[test]
fn http_status_is_200_json_or_204_empty() {
    let r = http_reply(Some("{}".into()));
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    let r = http_reply(None);
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[test]
fn exact_ids_are_found_past_nested_ids_and_odd_elements() {
    // An "id" inside another member is not the request's; strings holding
    // JSON punctuation and other elements before it do not shift it.
    let body = r#"[1, "a,]", {"b":[2]},
        {"jsonrpc":"2.0","method":"eth_chainId","a":{"id":1},"s":"\"id\":5","id":22.0} ]"#;
    let r = raw_reply(body).unwrap();
    assert!(r.contains(r#"{"jsonrpc":"2.0","id":22.0,"result":"#), "{r}");
    let env = parse_envelope(body.as_bytes()).unwrap();
    let ids: Vec<_> = env.entries.iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        ids[..3],
        [Some(Id::null()), Some(Id::null()), Some(Id::null())]
    );
    // a number id in a lone request, after white space
    let r = raw_reply(" \n {\"jsonrpc\":\"2.0\",\"method\":\"eth_chainId\",\"id\":1E+2}").unwrap();
    assert!(r.starts_with(r#"{"jsonrpc":"2.0","id":1E+2,"#), "{r}");
}
