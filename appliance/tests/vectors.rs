//! The test vectors in `schema/vectors/` are what the generator makes, match
//! the JSON schemas, and the ledger accepts every valid block and refuses
//! every invalid one with exactly its expected error. The chain the vectors
//! build on is replayed the way PROTOCOL.md §7 says (used nullifiers, each
//! election's running encrypted tally, recorded decryption shares) and
//! handed to the ledger's own block check, `check_committed_block`.

#[path = "../examples/vectors_gen/mod.rs"]
mod vectors_gen;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use evote_core::ledger::canonical::MAX_SAFE_INTEGER;
use evote_core::ledger::elgamal::{
    Ciphertext, DecryptionShare, TallyContext, combine_decryption_shares, verify_ballot,
    verify_decryption_share,
};
use evote_core::ledger::memchain::MemChain;
use evote_core::ledger::validate::{MAX_FUTURE_DRIFT_MS, check_committed_block};
use evote_core::ledger::{
    Block, ChainLookup, Genesis, Hash32, LedgerError, Parent, PublicKey, SignedTx, Transaction,
    quorum,
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

/// The E.6 code of the first transaction of `block` whose ballot or
/// decryption share fails the checks of PROTOCOL.md E.3 / E.5 taken alone:
/// a ballot in its transaction's context under its election's key, a share
/// against the tally after its `tally_height` (skipped where the genesis has
/// no such election or the chain no such block).
fn crypto_failure(g: &Genesis, chain: &MemChain, block: &Block) -> Option<&'static str> {
    for stx in &block.transactions {
        let result = match &stx.tx {
            Transaction::Ballot(b) => {
                let Some(e) = g.election(b.election_id) else {
                    continue;
                };
                let key = e.public_key().expect("election key");
                verify_ballot(&b.context(), &key.public_key, &b.ballot, e.candidates.len())
            }
            Transaction::DecryptionShare(d) => {
                let Some(e) = g.election(d.election_id) else {
                    continue;
                };
                let Some((_, tally)) = chain
                    .tally_at(d.election_id, d.tally_height)
                    .expect("lookup")
                else {
                    continue;
                };
                let key = e.public_key().expect("election key");
                let ctx = TallyContext {
                    chain_id: d.chain_id,
                    election_id: d.election_id,
                };
                verify_decryption_share(&ctx, &key, &tally.aggregate, &d.share)
            }
            _ => continue,
        };
        if let Err(e) = result {
            return Some(e.code());
        }
    }
    None
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

/// Checks `blocks` in order from the genesis as a committed chain and
/// returns what a checker knows after them.
fn replay(g: &Genesis, id: &Hash32, blocks: &[Block], now: u64, what: &str) -> (MemChain, Parent) {
    let mut chain = MemChain::new(g, *id);
    for b in blocks {
        check_committed_block(g, id, &chain.parent(), b, &chain, now)
            .unwrap_or_else(|e| panic!("{what}: block {} refused: {e}", b.header.height));
        chain.add(b);
    }
    let parent = chain.parent();
    (chain, parent)
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
    let mut replayed = MemChain::new(&g, id);
    let exp_blocks = expected["blocks"].as_array().expect("blocks");
    assert_eq!(exp_blocks.len(), blocks.len());
    for (b, e) in blocks.iter().zip(exp_blocks) {
        let hashes = check_committed_block(&g, &id, &parent, b, &replayed, now)
            .unwrap_or_else(|err| panic!("block {} refused: {err}", b.header.height));
        assert_eq!(crypto_failure(&g, &replayed, b), None);
        assert_eq!(e["block_hash"], b.block_hash.to_hex());
        assert_eq!(e["tx_root"], b.header.tx_root.to_hex());
        assert_eq!(e["prev_hash"], parent.hash.to_hex());
        let want: Vec<Hash32> = from(&e["tx_hashes"]);
        assert_eq!(want, hashes);
        replayed.add(b);
        let (_, tally) = replayed
            .tally_at(1, b.header.height)
            .expect("lookup")
            .expect("a tally after every block");
        assert_eq!(e["ballot_count"], tally.ballot_count);
        parent = Parent {
            height: b.header.height,
            hash: b.block_hash,
            timestamp_ms: b.header.timestamp_ms,
        };
    }
    // now_ms sits exactly at the drift bound of the last block.
    let last = blocks.last().expect("a block");
    assert_eq!(last.header.timestamp_ms, now + MAX_FUTURE_DRIFT_MS);
    // Every kind of transaction is on the chain.
    let kinds: BTreeSet<&str> = blocks
        .iter()
        .flat_map(|b| b.transactions.iter().map(|t| t.tx.kind()))
        .collect();
    let all = [
        "ballot",
        "decryption_share",
        "check_in",
        "credential_replacement",
        "device_close",
        "spoiled_ballot",
    ];
    assert_eq!(kinds, BTreeSet::from(all));
}

/// The election key and the tally of expected.json follow from the genesis
/// and the chain: the key from the round-1 messages, the aggregate from the
/// ballots, the counts from combining block 6's shares; fewer shares than
/// the threshold do not decrypt.
#[test]
fn election_key_and_tally_follow_from_the_chain() {
    let (g, id) = genesis();
    let expected = vector("expected.json");
    let election = g.election(1).expect("election 1");
    let key = election.public_key().expect("the round-1 messages verify");
    assert_eq!(
        expected["election_keys"],
        Value::Array(vec![serde_json::to_value(&key).expect("json")])
    );

    let chain = vector("chain.json");
    let blocks: Vec<Block> = from(&chain["blocks"]);
    let now = chain["now_ms"].as_u64().expect("now_ms");
    let (replayed, _) = replay(&g, &id, &blocks, now, "chain.json");
    let t = &expected["tally"];
    let tally_height = t["tally_height"].as_u64().expect("tally_height");
    let (stamped, tally) = replayed
        .tally_at(1, tally_height)
        .expect("lookup")
        .expect("the tally block exists");
    assert!(stamped >= election.closes_at, "the tally is final");
    assert_eq!(t["ballot_count"], tally.ballot_count);
    let aggregate: Vec<Ciphertext> = from(&t["aggregate"]);
    assert_eq!(aggregate, tally.aggregate);

    let shares_height = t["shares_height"].as_u64().expect("shares_height");
    let shares: Vec<DecryptionShare> = blocks[shares_height as usize - 1]
        .transactions
        .iter()
        .map(|stx| {
            let d = stx.tx.as_share().expect("a decryption share");
            assert_eq!(d.tally_height, tally_height);
            assert_eq!(d.ballot_count, tally.ballot_count);
            d.share.clone()
        })
        .collect();
    let trustees: Vec<u32> = shares.iter().map(|s| s.trustee_index).collect();
    assert_eq!(
        t["trustees"],
        serde_json::to_value(&trustees).expect("json")
    );
    assert_eq!(shares.len(), election.trustees.threshold as usize);
    let ctx = TallyContext {
        chain_id: id,
        election_id: 1,
    };
    let counts =
        combine_decryption_shares(&ctx, &key, &tally.aggregate, &shares, tally.ballot_count)
            .expect("the shares combine");
    let want: Vec<(u64, u64)> = t["counts"]
        .as_array()
        .expect("counts")
        .iter()
        .map(|c| {
            (
                c["candidate_id"].as_u64().expect("id"),
                c["count"].as_u64().expect("count"),
            )
        })
        .collect();
    let got: Vec<(u64, u64)> = election
        .candidates
        .iter()
        .map(|c| c.id)
        .zip(counts)
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        got.iter().map(|(_, n)| n).sum::<u64>(),
        tally.ballot_count,
        "every ballot holds one vote"
    );
    let below = combine_decryption_shares(
        &ctx,
        &key,
        &tally.aggregate,
        &shares[..1],
        tally.ballot_count,
    )
    .expect_err("one share is below the threshold");
    assert_eq!(t["below_threshold_error"], below.code());
}

/// The trustees of genesis.json are those of crypto/ceremony.json, so the
/// two sets of vectors describe one election key.
#[test]
fn genesis_trustees_are_the_crypto_vectors_ceremony() {
    let (g, _) = genesis();
    let ceremony = vector("crypto/ceremony.json");
    let trustees = &g.election(1).expect("election 1").trustees;
    assert_eq!(
        serde_json::to_value(&trustees.round1).expect("json"),
        ceremony["round1"]
    );
    assert_eq!(
        u64::from(trustees.trustees),
        ceremony["params"]["trustees"].as_u64().expect("trustees")
    );
    assert_eq!(
        u64::from(trustees.threshold),
        ceremony["params"]["threshold"].as_u64().expect("threshold")
    );
    assert_eq!(
        vector("expected.json")["election_keys"][0],
        ceremony["election_public_key"]
    );
    assert_eq!(vector("keys.json")["trustees"], ceremony["trustee_keys"]);
}

#[test]
fn invalid_vectors_fail_with_their_expected_error() {
    let (g, id) = genesis();
    let files = invalid_files();
    assert!(files.len() >= 40, "only {} invalid vectors", files.len());
    let mut codes = BTreeSet::new();
    let mut crypto_codes = BTreeSet::new();
    for (name, v) in files {
        let block: Block = from(&v["block"]);
        let parent = parent_of(&v["parent"]);
        let now = v["now_ms"].as_u64().expect("now_ms");
        let chain = match v.get("prior_blocks") {
            Some(prior) => {
                let prior: Vec<Block> = from(prior);
                // The prior blocks are themselves a valid chain ending at the parent.
                let (chain, p) = replay(&g, &id, &prior, now, &format!("invalid/{name}"));
                assert_eq!(p, parent, "invalid/{name}: prior_blocks end at the parent");
                chain
            }
            None => MemChain::new(&g, id),
        };
        let err = match check_committed_block(&g, &id, &parent, &block, &chain, now) {
            Ok(_) => panic!("invalid/{name} was accepted"),
            Err(e) => e,
        };
        let want = v["expected_error"].as_str().expect("expected_error");
        assert_eq!(err.code(), want, "invalid/{name}: got {err}");
        match v.get("expected_detail") {
            Some(d) => assert_eq!(detail(&err), d.as_str(), "invalid/{name}: got {err}"),
            None => assert_eq!(detail(&err), None, "invalid/{name} needs expected_detail"),
        }
        let crypto = v
            .get("expected_crypto_error")
            .map(|c| c.as_str().expect("code"));
        assert_eq!(
            crypto_failure(&g, &chain, &block),
            crypto,
            "invalid/{name}: expected_crypto_error"
        );
        // A block refused for its proofs is refused for nothing else: with
        // the proofs' own rule failing, the ledger names that rule.
        if want == "bad_ballot" {
            assert!(crypto.is_some(), "invalid/{name} names the failing check");
        }
        codes.insert(want.to_string());
        crypto_codes.extend(crypto.map(str::to_string));
    }
    // Every rule a block can break has a vector. (`unknown_candidate` is
    // not one any more: a ballot names no candidate, it encrypts one.)
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
        "election_not_open",
        "bad_ballot",
        "bad_decryption_share",
        "bad_fallback_proof",
        "unknown_credential",
        "revoked_credential",
        "credential_used",
        "duplicate_credential",
        "not_on_roll",
        "wrong_station",
        "duplicate_check_in",
        "bad_device_close",
        "duplicate_device_close",
        "device_closed",
        "bad_spoiled_ballot",
    ];
    assert_eq!(codes, BTreeSet::from(all.map(String::from)));
    // Every way a ballot or a share can fail its proofs on its own.
    let crypto_all = [
        "bad_zero_one_proof",
        "bad_sum_proof",
        "wrong_length",
        "bad_decryption_share",
        "unknown_trustee",
    ];
    assert_eq!(crypto_codes, BTreeSet::from(crypto_all.map(String::from)));
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
        ("plaintext candidate in the ballot", |b| {
            b["transactions"][0]["tx"]["ballot"]["candidate_id"] = 101.into()
        }),
        ("missing sum proof", |b| {
            b["transactions"][0]["tx"]["ballot"]
                .as_object_mut()
                .expect("object")
                .remove("sum_proof");
        }),
        ("extra selection field", |b| {
            b["transactions"][0]["tx"]["ballot"]["selections"][0]["extra"] = 1.into()
        }),
        ("extra ciphertext field", |b| {
            b["transactions"][0]["tx"]["ballot"]["selections"][0]["ciphertext"]["extra"] = 1.into()
        }),
        ("extra 0/1 proof field", |b| {
            b["transactions"][0]["tx"]["ballot"]["selections"][0]["proof"]["extra"] = 1.into()
        }),
        ("missing 0/1 proof member", |b| {
            b["transactions"][0]["tx"]["ballot"]["selections"][0]["proof"]
                .as_object_mut()
                .expect("object")
                .remove("z1");
        }),
        ("extra sum proof field", |b| {
            b["transactions"][0]["tx"]["ballot"]["sum_proof"]["extra"] = 1.into()
        }),
        ("uppercase point", |b| {
            let ct = &mut b["transactions"][0]["tx"]["ballot"]["selections"][0]["ciphertext"];
            let p = ct["a"].as_str().expect("hex").to_uppercase();
            ct["a"] = p.replacen("0X", "0x", 1).into();
        }),
        ("short point", |b| {
            let ct = &mut b["transactions"][0]["tx"]["ballot"]["selections"][0]["ciphertext"];
            let p = ct["b"].as_str().expect("hex")[..64].to_string();
            ct["b"] = p.into();
        }),
        ("scalar above the group order", |b| {
            b["transactions"][0]["tx"]["ballot"]["sum_proof"]["z"] =
                format!("0x{}", "ff".repeat(32)).into()
        }),
    ];
    all_refused(&s.block, &block, block_edits, |b| {
        serde_json::from_value::<Block>(b).is_ok()
    });

    // The same for a block of decryption shares.
    let shares_block = chain["blocks"][5].clone();
    assert_eq!(
        shares_block["transactions"][0]["tx"]["type"],
        "decryption_share"
    );
    let share_edits: &[(&str, Edit)] = &[
        ("extra share tx field", |b| {
            b["transactions"][0]["tx"]["extra"] = 1.into()
        }),
        ("a ballot's field in a share tx", |b| {
            b["transactions"][0]["tx"]["nullifier"] = format!("0x{}", "00".repeat(32)).into()
        }),
        ("missing tally_height", |b| {
            b["transactions"][0]["tx"]
                .as_object_mut()
                .expect("object")
                .remove("tally_height");
        }),
        ("extra share field", |b| {
            b["transactions"][0]["tx"]["share"]["extra"] = 1.into()
        }),
        ("extra partial decryption field", |b| {
            b["transactions"][0]["tx"]["share"]["shares"][0]["extra"] = 1.into()
        }),
        ("extra decryption proof field", |b| {
            b["transactions"][0]["tx"]["share"]["shares"][0]["proof"]["extra"] = 1.into()
        }),
        ("trustee index as string", |b| {
            b["transactions"][0]["tx"]["share"]["trustee_index"] = "1".into()
        }),
        ("bad partial decryption hex", |b| {
            b["transactions"][0]["tx"]["share"]["shares"][0]["d"] = "0x12".into()
        }),
    ];
    assert!(s.block.is_valid(&shares_block));
    all_refused(&s.block, &shares_block, share_edits, |b| {
        serde_json::from_value::<Block>(b).is_ok()
    });

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
        ("missing trustees", |g| {
            g["elections"][0]
                .as_object_mut()
                .expect("object")
                .remove("trustees");
        }),
        ("extra trustees field", |g| {
            g["elections"][0]["trustees"]["extra"] = 1.into()
        }),
        ("a public key beside the round-1 messages", |g| {
            g["elections"][0]["trustees"]["public_key"] = g["authority"].clone()
        }),
        ("extra round-1 field", |g| {
            g["elections"][0]["trustees"]["round1"][0]["extra"] = 1.into()
        }),
        ("extra knowledge proof field", |g| {
            g["elections"][0]["trustees"]["round1"][0]["pok"]["extra"] = 1.into()
        }),
        ("bad commitment hex", |g| {
            g["elections"][0]["trustees"]["round1"][0]["commitments"][0] = "0x12".into()
        }),
    ];
    all_refused(&s.genesis, &genesis, genesis_edits, |g| {
        serde_json::from_value::<Genesis>(g).is_ok()
    });
    // Rules the ledger checks on single fields, the schema states too.
    let genesis_rules: &[(&str, Edit)] = &[
        ("other protocol", |g| g["protocol"] = "evote/1".into()),
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
        ("zero threshold", |g| {
            g["elections"][0]["trustees"]["threshold"] = 0.into()
        }),
        ("more than 64 trustees", |g| {
            g["elections"][0]["trustees"]["trustees"] = 65.into()
        }),
        ("no round-1 messages", |g| {
            g["elections"][0]["trustees"]["round1"] = Value::Array(vec![])
        }),
        ("trustee index 0", |g| {
            g["elections"][0]["trustees"]["round1"][0]["index"] = 0.into()
        }),
        ("no commitments", |g| {
            g["elections"][0]["trustees"]["round1"][0]["commitments"] = Value::Array(vec![])
        }),
    ];
    all_refused(&s.genesis, &genesis, genesis_rules, |g| {
        Genesis::from_json(&serde_json::to_string(&g).expect("json")).is_ok()
    });
}

/// A change to a valid document, named.
type Edit = fn(&mut Value);

/// Each edit of `good` is refused by `schema` and by the appliance's reader
/// (`reads` says whether it took the document).
fn all_refused(
    schema: &jsonschema::Validator,
    good: &Value,
    edits: &[(&str, Edit)],
    reads: impl Fn(Value) -> bool,
) {
    for (what, edit) in edits {
        let mut v = good.clone();
        edit(&mut v);
        assert!(!schema.is_valid(&v), "the schema accepts {what}");
        assert!(!reads(v), "the reader accepts {what}");
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
        let jcs = evote_core::ledger::canonical_bytes(&reparsed).expect("JCS");
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
    let (check_in, cid) = find("block 1 transaction 0, a check-in");
    let cstx = &b1["transactions"][0];
    assert_eq!(check_in, cstx["tx"]);
    assert!(ed(&cstx["tx"]["origin"], &cid, &cstx["signature"]));
    let (tx, td) = find("block 1 transaction 1, voter-01's ballot transaction");
    let stx = &b1["transactions"][1];
    assert_eq!(tx, stx["tx"]);
    assert!(ed(&stx["tx"]["origin"], &td, &stx["signature"]));
    let (ballot, bd) = find("block 1 transaction 1 ballot");
    assert_eq!(ballot, stx["tx"]["ballot"]);
    assert_eq!(stx["tx"]["ballot_hash"], bd.to_hex());
    // The voter's credential (the nullifier) signed the credential statement.
    let (statement, std) = find("block 1 transaction 1 credential statement");
    assert_eq!(statement["type"], "ballot_credential");
    assert_eq!(statement["ballot_hash"], stx["tx"]["ballot_hash"]);
    assert!(ed(
        &stx["tx"]["nullifier"],
        &std,
        &stx["tx"]["credential_signature"]
    ));
    // A fallback copy's header hashes to the block its origin signed.
    let (fheader, fhd) = find("station-1's fallback block 1 header");
    let (copy, _) = find("block 4 transaction 1, with a fallback reference");
    assert_eq!(copy["fallback"]["header"], fheader);
    assert!(ed(&fheader["origin"], &fhd, &copy["fallback"]["signature"]));
    let (share_tx, sd) = find("block 6 transaction 0");
    let sstx = &chain["blocks"][5]["transactions"][0];
    assert_eq!(share_tx["type"], "decryption_share");
    assert_eq!(share_tx, sstx["tx"]);
    assert!(ed(&sstx["tx"]["origin"], &sd, &sstx["signature"]));
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
                let text = evote_core::ledger::canonical_bytes(&t["tx"]).expect("JCS");
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
    let nf = &expected["open_registration_credentials"];
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
        let jcs = evote_core::ledger::canonical_bytes(&msg).expect("JCS");
        assert_eq!(
            e["hmac_message"],
            String::from_utf8(jcs.clone()).expect("utf8")
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
        let tag = ring::hmac::sign(&key, &jcs);
        assert_eq!(e["seed"], format!("0x{}", hex::encode(tag.as_ref())));
        let pair =
            ring::signature::Ed25519KeyPair::from_seed_unchecked(tag.as_ref()).expect("seed");
        use ring::signature::KeyPair;
        assert_eq!(
            e["credential"],
            format!("0x{}", hex::encode(pair.public_key().as_ref()))
        );
    }
    credentials_and_roll_follow_the_written_rules(&expected, &keys, &g);

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

/// The voting cards' codes make the credentials the genesis lists, by the
/// derivation of PROTOCOL.md §4a; the roll file's entries make the roll
/// root; the confirmation codes chain as §4d says.
fn credentials_and_roll_follow_the_written_rules(expected: &Value, keys: &Value, g: &Genesis) {
    use evote_core::ledger::Eligibility;
    let field = |h: &mut Sha256, b: &[u8]| {
        h.update((b.len() as u32).to_be_bytes());
        h.update(b);
    };
    for c in expected["credentials"].as_array().expect("credentials") {
        let secret = hex::decode(&c["secret"].as_str().expect("secret")[2..]).expect("hex");
        let e = c["election_id"].as_u64().expect("election");
        let mut h = Sha256::new();
        field(&mut h, b"evote/v1/credential");
        field(&mut h, &e.to_be_bytes());
        field(&mut h, &secret);
        let seed: [u8; 32] = h.finalize().into();
        assert_eq!(c["seed"], format!("0x{}", hex::encode(seed)));
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).expect("seed");
        use ring::signature::KeyPair;
        assert_eq!(
            c["public_key"],
            format!("0x{}", hex::encode(pair.public_key().as_ref()))
        );
        let code = evote_core::ledger::credential::CredentialCode::parse(
            c["code"].as_str().expect("code"),
        )
        .expect("a card's code");
        assert_eq!(hex::encode(code.secret()), hex::encode(&secret));
    }
    let Eligibility::Roll { roll, credentials } = &g.elections[0].eligibility else {
        panic!("election 1 has a roll");
    };
    let cards = keys["cards"].as_array().expect("cards");
    let listed: Vec<PublicKey> = cards
        .iter()
        .filter(|c| {
            let v = c["voter"].as_str().expect("voter");
            v.len() == 8 && v < "voter-61"
        })
        .map(|c| from(&c["credential"]))
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        &sorted, credentials,
        "the genesis lists the roll's cards, sorted"
    );
    let leaves: Vec<Hash32> = keys["roll"]
        .as_array()
        .expect("roll")
        .iter()
        .map(|e| from(&e["leaf"]))
        .collect();
    assert_eq!(leaves.len() as u64, roll.size);
    assert_eq!(merkle(&leaves), roll.root);
    let r = &expected["roll"];
    assert_eq!(r["root"], roll.root.to_hex());
    for ex in r["examples"].as_array().expect("examples") {
        for part in ["voter_commitment", "leaf"] {
            let c = &ex[part];
            let text = c["canonical"].as_str().expect("canonical");
            assert_eq!(sha(text.as_bytes()).to_hex(), c["sha256"]);
        }
        let leaf: Hash32 = from(&ex["leaf"]["sha256"]);
        let index = ex["index"].as_u64().expect("index");
        let path: Vec<Hash32> = from(&ex["path"]);
        assert_eq!(leaves[index as usize], leaf);
        assert!(evote_core::ledger::merkle::verify_inclusion(
            &leaf, index, roll.size, &path, &roll.root
        ));
    }
    let mut prev = Hash32::ZERO;
    for c in expected["confirmation_codes"]["codes"]
        .as_array()
        .expect("codes")
    {
        let msg = serde_json::json!({
            "type": "confirmation_code",
            "prev_code": prev,
            "ballot_hash": c["ballot_hash"],
        });
        prev = sha(&evote_core::ledger::canonical_bytes(&msg).expect("JCS"));
        assert_eq!(c["code"], prev.to_hex());
    }
}

/// Every Ed25519 vector verifies, or not, as it says, with the ledger's
/// verification (PROTOCOL.md §2).
#[test]
fn ed25519_vectors_follow_the_written_rule() {
    let file = vector("ed25519.json");
    let vectors = file["vectors"].as_array().expect("vectors");
    assert!(vectors.len() >= 10);
    for v in vectors {
        let key: PublicKey = from(&v["public_key"]);
        let message: Hash32 = from(&v["message"]);
        let sig = evote_core::ledger::Signature(
            hex::decode(&v["signature"].as_str().expect("sig")[2..])
                .expect("hex")
                .try_into()
                .expect("64 bytes"),
        );
        assert_eq!(
            evote_core::ledger::verify_digest(&key, &message, &sig),
            v["valid"].as_bool().expect("valid"),
            "{}",
            v["description"]
        );
    }
}
