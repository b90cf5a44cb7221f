//! The test vectors in `schema/vectors/` are what the generator makes, match
//! the JSON schemas, and the ledger accepts every valid block and refuses
//! every invalid one with exactly its expected error.

#[path = "../examples/vectors_gen/mod.rs"]
mod vectors_gen;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use evote_appliance::ledger::canonical::MAX_SAFE_INTEGER;
use evote_appliance::ledger::validate::{MAX_FUTURE_DRIFT_MS, check_committed_block};
use evote_appliance::ledger::{
    Block, Genesis, Hash32, LedgerError, NullifierLookup, Parent, PublicKey, SignedTx, quorum,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

const TX_SCHEMA_ID: &str = "https://example.invalid/evote/schema/transaction.schema.json";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the appliance crate sits in the workspace")
        .to_path_buf()
}

fn vectors_dir() -> PathBuf {
    workspace().join(vectors_gen::VECTORS_DIR)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn vector(rel: &str) -> Value {
    read_json(&vectors_dir().join(rel))
}

fn schema(name: &str) -> Value {
    read_json(&workspace().join("schema").join(name))
}

fn from<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).expect("vector deserializes")
}

/// Every file under `dir`, by path relative to it with `/` separators.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("under dir");
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.insert(parts.join("/"));
            }
        }
    }
    out
}

fn invalid_files() -> Vec<(String, Value)> {
    let dir = vectors_dir().join("invalid");
    files_under(&dir)
        .into_iter()
        .map(|name| {
            let v = read_json(&dir.join(&name));
            (name, v)
        })
        .collect()
}

struct Schemas {
    genesis: jsonschema::Validator,
    block: jsonschema::Validator,
    tx: jsonschema::Validator,
}

fn schemas() -> Schemas {
    let tx = schema("transaction.schema.json");
    let registry = jsonschema::Registry::new()
        .add(TX_SCHEMA_ID, tx.clone())
        .expect("schema id is a URI")
        .prepare()
        .expect("registry");
    let build = |s: &Value| {
        jsonschema::options()
            .offline()
            .with_registry(&registry)
            .build(s)
            .expect("schema compiles")
    };
    Schemas {
        genesis: build(&schema("genesis.schema.json")),
        block: build(&schema("block.schema.json")),
        tx: build(&tx),
    }
}

fn schema_errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn assert_schema_valid(v: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors = schema_errors(v, instance);
    assert!(
        errors.is_empty(),
        "{what} does not match its schema: {errors:#?}"
    );
}

/// Nullifiers taken by committed blocks.
#[derive(Default)]
struct Used(BTreeSet<(u64, Hash32)>);

impl Used {
    fn add_block(&mut self, b: &Block) {
        for t in &b.transactions {
            if let Some(n) = t.tx.nullifier() {
                self.0.insert(n);
            }
        }
    }
}

impl NullifierLookup for Used {
    fn is_used(&self, election_id: u64, nullifier: &Hash32) -> Result<bool, LedgerError> {
        Ok(self.0.contains(&(election_id, *nullifier)))
    }
}

fn genesis() -> (Genesis, Hash32) {
    let text = std::fs::read_to_string(vectors_dir().join("genesis.json")).expect("genesis");
    let g = Genesis::from_json(&text).expect("the genesis vector is valid");
    let id = g.chain_id().expect("hashes");
    (g, id)
}

fn parent_of(v: &Value) -> Parent {
    Parent {
        height: v["height"].as_u64().expect("height"),
        hash: from(&v["hash"]),
        timestamp_ms: v["timestamp_ms"].as_u64().expect("timestamp_ms"),
    }
}

/// The `what` of the error variants that carry one.
fn detail(e: &LedgerError) -> Option<&'static str> {
    match e {
        LedgerError::WrongHash { what, .. } | LedgerError::BadSignature { what } => Some(what),
        _ => None,
    }
}

#[test]
fn committed_vectors_are_what_the_generator_makes() {
    let generated = vectors_gen::generate();
    let dir = vectors_dir();
    // schema/vectors/crypto/ has a generator of its own (tests/crypto_vectors.rs).
    let on_disk: BTreeSet<String> = files_under(&dir)
        .into_iter()
        .filter(|f| !f.starts_with("crypto/"))
        .collect();
    let wanted: BTreeSet<String> = generated.keys().cloned().collect();
    assert_eq!(
        on_disk,
        wanted,
        "schema/vectors holds other files than the generator makes; run `{}`",
        vectors_gen::REGENERATE
    );
    for (rel, content) in &generated {
        let committed = std::fs::read_to_string(dir.join(rel)).expect("readable vector");
        assert!(
            &committed == content,
            "schema/vectors/{rel} differs from what the generator makes; run `{}` \
             and review the diff",
            vectors_gen::REGENERATE
        );
    }
    // Deterministic: a second run gives the same bytes.
    assert_eq!(vectors_gen::generate(), generated);
}

#[test]
fn schemas_are_valid_draft_2020_12() {
    for name in [
        "genesis.schema.json",
        "block.schema.json",
        "transaction.schema.json",
    ] {
        let s = schema(name);
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        if let Err(e) = jsonschema::meta::validate(&s) {
            panic!("{name} is not a valid JSON Schema: {e}");
        }
    }
    schemas();
}

#[test]
fn valid_vectors_match_the_schemas() {
    let s = schemas();
    assert_schema_valid(&s.genesis, &vector("genesis.json"), "genesis.json");
    let chain = vector("chain.json");
    let blocks = chain["blocks"].as_array().expect("blocks");
    assert!(!blocks.is_empty());
    for (i, b) in blocks.iter().enumerate() {
        assert_schema_valid(&s.block, b, &format!("chain.json block {i}"));
        for (j, t) in b["transactions"]
            .as_array()
            .expect("txs")
            .iter()
            .enumerate()
        {
            assert_schema_valid(&s.tx, t, &format!("chain.json block {i} tx {j}"));
        }
    }
    for (name, v) in invalid_files() {
        let errors = schema_errors(&s.block, &v["block"]);
        if v["schema_valid"].as_bool().expect("schema_valid") {
            assert!(errors.is_empty(), "invalid/{name}: {errors:#?}");
        } else {
            assert!(
                !errors.is_empty(),
                "invalid/{name} says the schema refuses it"
            );
        }
        if let Some(prior) = v.get("prior_blocks") {
            for b in prior.as_array().expect("prior_blocks") {
                assert_schema_valid(&s.block, b, &format!("invalid/{name} prior block"));
            }
        }
    }
}

#[test]
fn valid_chain_passes_the_ledger_and_matches_expected() {
    let (g, id) = genesis();
    let expected = vector("expected.json");
    assert_eq!(expected["chain_id"], id.to_hex());
    assert_eq!(expected["quorum"], g.quorum());

    let chain = vector("chain.json");
    let now = chain["now_ms"].as_u64().expect("now_ms");
    let blocks: Vec<Block> = from(&chain["blocks"]);
    let mut parent = parent_of(&expected["genesis_parent"]);
    assert_eq!(parent.hash, id, "block 1 builds on the chain id");
    assert_eq!(parent.timestamp_ms, g.created_at_ms);
    let mut used = Used::default();
    let exp_blocks = expected["blocks"].as_array().expect("blocks");
    assert_eq!(exp_blocks.len(), blocks.len());
    for (b, e) in blocks.iter().zip(exp_blocks) {
        let hashes = check_committed_block(&g, &id, &parent, b, &used, now)
            .unwrap_or_else(|err| panic!("block {} refused: {err}", b.header.height));
        assert_eq!(e["block_hash"], b.block_hash.to_hex());
        assert_eq!(e["tx_root"], b.header.tx_root.to_hex());
        assert_eq!(e["prev_hash"], parent.hash.to_hex());
        let want: Vec<Hash32> = from(&e["tx_hashes"]);
        assert_eq!(want, hashes);
        used.add_block(b);
        parent = Parent {
            height: b.header.height,
            hash: b.block_hash,
            timestamp_ms: b.header.timestamp_ms,
        };
    }
    // now_ms sits exactly at the drift bound of the last block.
    let last = blocks.last().expect("a block");
    assert_eq!(last.header.timestamp_ms, now + MAX_FUTURE_DRIFT_MS);
}

#[test]
fn invalid_vectors_fail_with_their_expected_error() {
    let (g, id) = genesis();
    let files = invalid_files();
    assert!(files.len() >= 20, "only {} invalid vectors", files.len());
    let mut codes = BTreeSet::new();
    for (name, v) in files {
        let block: Block = from(&v["block"]);
        let parent = parent_of(&v["parent"]);
        let now = v["now_ms"].as_u64().expect("now_ms");
        let mut used = Used::default();
        if let Some(prior) = v.get("prior_blocks") {
            let prior: Vec<Block> = from(prior);
            // The prior blocks are themselves a valid chain ending at the parent.
            let mut p = Parent {
                height: 0,
                hash: id,
                timestamp_ms: g.created_at_ms,
            };
            for b in &prior {
                check_committed_block(&g, &id, &p, b, &used, now)
                    .unwrap_or_else(|e| panic!("invalid/{name}: prior block refused: {e}"));
                used.add_block(b);
                p = Parent {
                    height: b.header.height,
                    hash: b.block_hash,
                    timestamp_ms: b.header.timestamp_ms,
                };
            }
            assert_eq!(p, parent, "invalid/{name}: prior_blocks end at the parent");
        }
        let err = match check_committed_block(&g, &id, &parent, &block, &used, now) {
            Ok(_) => panic!("invalid/{name} was accepted"),
            Err(e) => e,
        };
        let want = v["expected_error"].as_str().expect("expected_error");
        assert_eq!(err.code(), want, "invalid/{name}: got {err}");
        match v.get("expected_detail") {
            Some(d) => assert_eq!(detail(&err), d.as_str(), "invalid/{name}: got {err}"),
            None => assert_eq!(detail(&err), None, "invalid/{name} needs expected_detail"),
        }
        codes.insert(want.to_string());
    }
    // Every rule a block can break has a vector.
    let all = [
        "wrong_chain",
        "integer_too_large",
        "wrong_hash",
        "bad_signature",
        "wrong_prev_hash",
        "wrong_height",
        "unknown_proposer",
        "wrong_proposer",
        "too_few_seals",
        "duplicate_seal",
        "seal_from_non_validator",
        "bad_seal",
        "timestamp_backwards",
        "timestamp_in_future",
        "tx_count_mismatch",
        "too_many_txs",
        "bad_tx",
        "unknown_origin",
        "duplicate_nullifier",
        "duplicate_tx",
        "unknown_election",
        "unknown_candidate",
        "election_not_open",
    ];
    let all: BTreeSet<String> = all.iter().map(|s| s.to_string()).collect();
    assert_eq!(codes, all);
}

/// The schemas refuse what serde refuses, so the auditor's schema check and
/// the appliance's parser agree on the shape.
#[test]
fn schemas_refuse_what_serde_refuses() {
    let s = schemas();
    let chain = vector("chain.json");
    let block = chain["blocks"][1].clone();
    let stx = block["transactions"][0].clone();
    let genesis = vector("genesis.json");

    type Edit = fn(&mut Value);
    let block_edits: &[(&str, Edit)] = &[
        ("extra block field", |b| b["extra"] = 1.into()),
        ("extra header field", |b| b["header"]["extra"] = 1.into()),
        ("missing seals", |b| {
            b.as_object_mut().expect("object").remove("seals");
        }),
        ("uppercase hex", |b| {
            let h = b["block_hash"].as_str().expect("hex").to_uppercase();
            b["block_hash"] = h.replacen("0X", "0x", 1).into();
        }),
        ("hash without 0x", |b| {
            let h = b["block_hash"].as_str().expect("hex")[2..].to_string();
            b["block_hash"] = h.into();
        }),
        ("short signature", |b| {
            let sig = b["proposer_signature"].as_str().expect("hex")[..66].to_string();
            b["proposer_signature"] = sig.into();
        }),
        ("height as string", |b| b["header"]["height"] = "2".into()),
        ("negative round", |b| b["header"]["round"] = (-1).into()),
        ("extra seal field", |b| b["seals"][0]["extra"] = 1.into()),
        ("unknown tx type", |b| {
            b["transactions"][0]["tx"]["type"] = "mint".into()
        }),
        ("extra tx field", |b| {
            b["transactions"][0]["tx"]["extra"] = 1.into()
        }),
        ("extra ballot field", |b| {
            b["transactions"][0]["tx"]["ballot"]["extra"] = 1.into()
        }),
        ("missing nullifier", |b| {
            b["transactions"][0]["tx"]
                .as_object_mut()
                .expect("object")
                .remove("nullifier");
        }),
        ("extra signed-tx field", |b| {
            b["transactions"][0]["extra"] = 1.into()
        }),
    ];
    for (what, edit) in block_edits {
        let mut b = block.clone();
        edit(&mut b);
        assert!(!s.block.is_valid(&b), "block schema accepts {what}");
        assert!(
            serde_json::from_value::<Block>(b).is_err(),
            "serde accepts {what}"
        );
    }

    // Above 2^53-1: serde reads it, the schema and the ledger refuse it.
    let mut b = block.clone();
    b["header"]["timestamp_ms"] = (MAX_SAFE_INTEGER + 1).into();
    assert!(!s.block.is_valid(&b));

    // `fallback: null` is not a wire form the appliance writes; the schema
    // refuses it (serde reads it as absent, and the hash then covers a
    // different object than the one received).
    let mut t = stx.clone();
    t["tx"]["fallback"] = Value::Null;
    assert!(!s.tx.is_valid(&t));
    assert!(s.tx.is_valid(&stx));
    let _: SignedTx = from(&stx);

    let genesis_edits: &[(&str, Edit)] = &[
        ("extra field", |g| g["extra"] = 1.into()),
        ("extra validator field", |g| {
            g["validators"][0]["extra"] = 1.into()
        }),
        ("extra params field", |g| g["params"]["extra"] = 1.into()),
        ("missing stations", |g| {
            g.as_object_mut().expect("object").remove("stations");
        }),
        ("bad authority", |g| g["authority"] = "0x12".into()),
    ];
    for (what, edit) in genesis_edits {
        let mut g = genesis.clone();
        edit(&mut g);
        assert!(!s.genesis.is_valid(&g), "genesis schema accepts {what}");
        assert!(
            serde_json::from_value::<Genesis>(g).is_err(),
            "serde accepts {what}"
        );
    }
    // Rules the ledger checks on single fields, the schema states too.
    let genesis_rules: &[(&str, Edit)] = &[
        ("other protocol", |g| g["protocol"] = "evote/2".into()),
        ("no validators", |g| g["validators"] = Value::Array(vec![])),
        ("zero param", |g| g["params"]["round_timeout_ms"] = 0.into()),
        ("huge max_block_txs", |g| {
            g["params"]["max_block_txs"] = 10_001.into()
        }),
        ("empty name", |g| g["chain_name"] = "".into()),
        ("bad p2p_url", |g| {
            g["validators"][0]["p2p_url"] = "ftp://x".into()
        }),
        ("no candidates", |g| {
            g["elections"][0]["candidates"] = Value::Array(vec![])
        }),
    ];
    for (what, edit) in genesis_rules {
        let mut g = genesis.clone();
        edit(&mut g);
        assert!(!s.genesis.is_valid(&g), "genesis schema accepts {what}");
        let text = serde_json::to_string(&g).expect("json");
        assert!(Genesis::from_json(&text).is_err(), "ledger accepts {what}");
    }
}

fn sha(data: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(data).into())
}

/// RFC 6962 shape, written from PROTOCOL.md rather than taken from the ledger.
fn merkle(leaves: &[Hash32]) -> Hash32 {
    match leaves.len() {
        0 => sha(b""),
        1 => sha(&[&[0u8][..], leaves[0].as_bytes()].concat()),
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            let l = merkle(&leaves[..k]);
            let r = merkle(&leaves[k..]);
            sha(&[&[1u8][..], l.as_bytes(), r.as_bytes()].concat())
        }
    }
}

/// The written rules reproduce the expected values without the ledger's
/// own hashing code: canonical strings hash to the listed digests, the
/// signatures verify over those digests, Merkle roots, quorum, proposers
/// and nullifiers follow PROTOCOL.md.
#[test]
fn expected_values_follow_the_written_rules() {
    let expected = vector("expected.json");
    let keys = vector("keys.json");
    let (g, id) = genesis();

    let canonical = expected["canonical"].as_array().expect("canonical");
    let mut by_what = BTreeMap::new();
    for c in canonical {
        let text = c["canonical"].as_str().expect("canonical");
        let digest: Hash32 = from(&c["sha256"]);
        assert_eq!(sha(text.as_bytes()), digest, "{}", c["what"]);
        // The canonical text is the JCS form of itself.
        let reparsed: Value = serde_json::from_str(text).expect("JSON");
        let jcs = evote_appliance::ledger::canonical_bytes(&reparsed).expect("JCS");
        assert_eq!(jcs, text.as_bytes(), "{}", c["what"]);
        by_what.insert(
            c["what"].as_str().expect("what").to_string(),
            (reparsed, digest),
        );
    }
    let find = |prefix: &str| {
        by_what
            .iter()
            .find(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no canonical example {prefix}"))
    };
    assert_eq!(find("genesis").1, id);

    // Signatures verify over the 32-byte digest with plain Ed25519.
    let chain = vector("chain.json");
    let b1 = &chain["blocks"][0];
    let ed = |key: &Value, digest: &Hash32, sig: &Value| {
        let pk = hex::decode(&key.as_str().expect("key")[2..]).expect("hex");
        let sig = hex::decode(&sig.as_str().expect("sig")[2..]).expect("hex");
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, pk)
            .verify(digest.as_bytes(), &sig)
            .is_ok()
    };
    let (proposal, pd) = find("block 1 proposal");
    assert_eq!(proposal["type"], "proposal");
    assert_eq!(proposal["block_hash"], b1["block_hash"]);
    assert!(ed(
        &b1["header"]["proposer"],
        &pd,
        &b1["proposer_signature"]
    ));
    let (commit, cd) = find("block 1 commit");
    assert_eq!(commit["type"], "commit");
    for seal in b1["seals"].as_array().expect("seals") {
        assert!(ed(&seal["validator"], &cd, &seal["signature"]));
        assert!(!ed(&seal["validator"], &pd, &seal["signature"]));
    }
    let (tx, td) = find("block 1 transaction 0 (");
    let stx = &b1["transactions"][0];
    assert_eq!(tx, stx["tx"]);
    assert!(ed(&stx["tx"]["origin"], &td, &stx["signature"]));
    let (header, hd) = find("block 1 header without round and proposer");
    let mut full = b1["header"].clone();
    let full = full.as_object_mut().expect("header");
    full.remove("round");
    full.remove("proposer");
    assert_eq!(&header, &serde_json::Value::Object(full.clone()));
    assert_eq!(b1["block_hash"], hd.to_hex());

    for m in expected["merkle"].as_array().expect("merkle") {
        let leaves: Vec<Hash32> = from(&m["leaves"]);
        let root: Hash32 = from(&m["root"]);
        assert_eq!(merkle(&leaves), root, "{} leaves", leaves.len());
    }
    for b in chain["blocks"].as_array().expect("blocks") {
        let leaves: Vec<Hash32> = b["transactions"]
            .as_array()
            .expect("txs")
            .iter()
            .map(|t| {
                let text = evote_appliance::ledger::canonical_bytes(&t["tx"]).expect("JCS");
                sha(&text)
            })
            .collect();
        assert_eq!(merkle(&leaves).to_hex(), b["header"]["tx_root"]);
    }

    for row in expected["quorum_table"].as_array().expect("quorum_table") {
        let n = row["n"].as_u64().expect("n");
        let q = row["q"].as_u64().expect("q");
        assert_eq!(q, (2 * n).div_ceil(3));
        assert_eq!(q as usize, quorum(n as usize));
    }
    for row in expected["proposers"].as_array().expect("proposers") {
        let h = row["height"].as_u64().expect("height");
        let r = row["round"].as_u64().expect("round");
        let n = g.validators.len() as u64;
        let want = &g.validators[((h + r) % n) as usize].public_key;
        let got: PublicKey = from(&row["proposer"]);
        assert_eq!(&got, want);
    }

    let secret =
        hex::decode(&keys["nullifier_secret"].as_str().expect("secret")[2..]).expect("hex");
    let nf = &expected["nullifiers"];
    assert_eq!(nf["secret"], keys["nullifier_secret"]);
    for e in nf["examples"].as_array().expect("examples") {
        let identity = e["identity"].as_str().expect("identity");
        let normalized = identity.trim().to_lowercase();
        assert_eq!(e["normalized_identity"], normalized.as_str());
        let msg = serde_json::json!({
            "type": "nullifier",
            "election_id": e["election_id"],
            "identity": normalized,
        });
        let jcs = evote_appliance::ledger::canonical_bytes(&msg).expect("JCS");
        assert_eq!(
            e["hmac_message"],
            String::from_utf8(jcs.clone()).expect("utf8")
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
        let tag = ring::hmac::sign(&key, &jcs);
        assert_eq!(e["nullifier"], format!("0x{}", hex::encode(tag.as_ref())));
    }

    // The keys file describes the keys the vectors use.
    for k in keys["keys"].as_array().expect("keys") {
        let seed = hex::decode(&k["seed"].as_str().expect("seed")[2..]).expect("hex");
        let pkcs8 = hex::decode(&k["pkcs8"].as_str().expect("pkcs8")[2..]).expect("hex");
        assert_eq!(&pkcs8[16..], &seed[..]);
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).expect("seed");
        use ring::signature::KeyPair;
        assert_eq!(
            k["public_key"],
            format!("0x{}", hex::encode(pair.public_key().as_ref()))
        );
    }
}
