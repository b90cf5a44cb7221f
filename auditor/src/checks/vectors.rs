//! The auditor against the shared test vectors in schema/vectors/: it must
//! reproduce every expected value, accept chain.json, and refuse every
//! invalid block with exactly the code its file names, from the rules of
//! PROTOCOL.md alone (this crate does not use the appliance's code).

use std::path::PathBuf;

use super::block::check_block;
use super::chain::Parent;
use super::ids::check_for_code;
use super::tally::decrypt_all;
use super::{ChainState, RawBlock, SigCache};
use crate::protocol::canon;
use crate::protocol::elgamal::{Ciphertext, DecryptionShare, combine};
use crate::protocol::{
    BlockHeader, Hash32, PublicKey, SignedTx, Vote, VoteKind, canonical_bytes, hash_of,
    merkle_root, quorum, sha256,
};
use crate::protocol::{ChainRules, genesis_problems, parse_genesis};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema/vectors")
}

fn read(name: &str) -> Value {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rules() -> ChainRules {
    let text = std::fs::read_to_string(dir().join("genesis.json")).unwrap();
    let g = parse_genesis(&text).unwrap();
    assert!(
        genesis_problems(&g).is_empty(),
        "{:?}",
        genesis_problems(&g)
    );
    ChainRules::new(g).unwrap()
}

fn h(v: &Value) -> Hash32 {
    Hash32::parse(v.as_str().unwrap()).unwrap()
}

fn raw(block: &Value) -> RawBlock {
    RawBlock::from_wire(&serde_json::to_string(block).unwrap())
}

fn parent(v: &Value) -> Parent {
    Parent {
        height: v["height"].as_u64().unwrap(),
        hash: Some(h(&v["hash"])),
        timestamp_ms: Some(v["timestamp_ms"].as_u64().unwrap()),
    }
}

#[test]
fn expected_values_are_reproduced() {
    let r = rules();
    let e = read("expected.json");
    assert_eq!(r.chain_id, h(&e["chain_id"]));
    assert_eq!(r.quorum as u64, e["quorum"].as_u64().unwrap());
    assert_eq!(
        r.validator_count() as u64,
        e["validator_count"].as_u64().unwrap()
    );
    assert_eq!(
        e["max_future_drift_ms"].as_u64().unwrap(),
        crate::protocol::MAX_FUTURE_DRIFT_MS
    );
    let gp = &e["genesis_parent"];
    assert_eq!(h(&gp["hash"]), r.chain_id);
    assert_eq!(
        gp["timestamp_ms"].as_u64().unwrap(),
        r.genesis.created_at_ms
    );
    // Each election's key, recomputed from its trustees' round-1 messages.
    for k in e["election_keys"].as_array().unwrap() {
        let id = k["election_id"].as_u64().unwrap();
        let Some(Ok(key)) = r.election_key(id) else {
            panic!("election {id} has no valid key");
        };
        assert_eq!(key.public_key.to_hex(), k["public_key"].as_str().unwrap());
        for s in k["trustee_shares"].as_array().unwrap() {
            let j = s["index"].as_u64().unwrap() as u32;
            assert_eq!(
                key.public_share(j).unwrap().to_hex(),
                s["public_share"].as_str().unwrap()
            );
        }
    }
    for q in e["quorum_table"].as_array().unwrap() {
        assert_eq!(
            quorum(q["n"].as_u64().unwrap() as usize) as u64,
            q["q"].as_u64().unwrap()
        );
    }
    for p in e["proposers"].as_array().unwrap() {
        let idx = r.proposer_index(p["height"].as_u64().unwrap(), p["round"].as_u64().unwrap());
        assert_eq!(
            r.validator_key(idx).to_hex(),
            p["proposer"].as_str().unwrap(),
            "{p}"
        );
    }
    for m in e["merkle"].as_array().unwrap() {
        let leaves: Vec<Hash32> = m["leaves"].as_array().unwrap().iter().map(h).collect();
        assert_eq!(
            merkle_root(&leaves),
            h(&m["root"]),
            "{} leaves",
            leaves.len()
        );
    }
}

/// Canonical forms: each one is its own JCS form and hashes as stated;
/// the ones the auditor builds itself come out byte for byte.
#[test]
fn expected_canonical_forms_are_reproduced() {
    let r = rules();
    let e = read("expected.json");
    let chain = read("chain.json");
    let blocks = chain["blocks"].as_array().unwrap();
    let mut built = 0;
    for c in e["canonical"].as_array().unwrap() {
        let what = c["what"].as_str().unwrap();
        let text = c["canonical"].as_str().unwrap();
        assert_eq!(sha256(text.as_bytes()), h(&c["sha256"]), "{what}");
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(canonical_bytes(&v).unwrap(), text.as_bytes(), "{what}");
        let mine: Option<Vec<u8>> = if what.starts_with("genesis") {
            Some(canonical_bytes(&r.genesis).unwrap())
        } else if let Some(rest) = what.strip_prefix("block ") {
            block_form(what, rest, text, blocks)
        } else {
            None
        };
        if let Some(m) = mine {
            assert_eq!(String::from_utf8(m).unwrap(), text, "{what}");
            built += 1;
        }
    }
    assert!(built >= 7, "only {built} canonical forms were rebuilt");
}

/// The auditor's own build of the canonical form `what` ("block K ...",
/// `rest` after "block ") whose text is `text`, if it builds that form.
fn block_form(what: &str, rest: &str, text: &str, blocks: &[Value]) -> Option<Vec<u8>> {
    let k: usize = rest.split(' ').next().unwrap().parse().unwrap();
    let b = &blocks[k - 1];
    let header: BlockHeader = serde_json::from_value(b["header"].clone()).unwrap();
    let bh = h(&b["block_hash"]);
    let kind = |s: &str| {
        if rest.contains(&format!("{s} statement")) {
            Some(())
        } else {
            None
        }
    };
    if rest.contains(" header") {
        // PROTOCOL.md §5: the hash covers the header without round and proposer.
        Some(canon::header_bytes(&header).unwrap())
    } else if kind("proposal").is_some() {
        let v = Vote::about(VoteKind::Proposal, &header, bh);
        assert_eq!(canon::vote_bytes(&v).unwrap(), text.as_bytes());
        Some(canonical_bytes(&v).unwrap())
    } else if kind("prepare").is_some() {
        Some(canonical_bytes(&Vote::about(VoteKind::Prepare, &header, bh)).unwrap())
    } else if kind("commit").is_some() {
        let v = Vote::about(VoteKind::Commit, &header, bh);
        assert_eq!(canon::vote_bytes(&v).unwrap(), text.as_bytes());
        Some(canonical_bytes(&v).unwrap())
    } else {
        let t = rest.split("transaction ").nth(1)?;
        Some(tx_form(what, rest, t, text, b))
    }
}

/// The auditor's own build of the canonical form `what` (text `text`) of
/// block `b`'s transaction (`t` after "transaction ").
fn tx_form(what: &str, rest: &str, t: &str, text: &str, b: &Value) -> Vec<u8> {
    let ti: usize = t
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let stx: SignedTx = serde_json::from_value(b["transactions"][ti].clone()).unwrap();
    if rest.contains("credential statement") {
        // §4a: what the voter's credential signs.
        let b = stx.tx.as_ballot().expect("a ballot transaction");
        let statement = serde_json::json!({
            "type": "ballot_credential",
            "chain_id": b.chain_id,
            "election_id": b.election_id,
            "ballot_hash": b.ballot_hash,
        });
        let d = sha256(&canonical_bytes(&statement).unwrap());
        assert!(crate::protocol::verify_digest(
            &PublicKey(b.nullifier.0),
            &d,
            &b.credential_signature
        ));
        canonical_bytes(&statement).unwrap()
    } else if rest.contains("tracking code") {
        // §4e: what a spoiled ballot's tracking code is the hash of.
        let crate::protocol::Transaction::SpoiledBallot(sp) = &stx.tx else {
            panic!("{what}: not a spoiled ballot");
        };
        super::spoiled::tracking_input_bytes(sp)
    } else if rest.contains(" ballot (") {
        let ballot = &stx.tx.as_ballot().expect("a ballot transaction").ballot;
        assert_eq!(canon::ballot_bytes(ballot), text.as_bytes());
        canonical_bytes(ballot).unwrap()
    } else {
        if let Some(b) = stx.tx.as_ballot().filter(|b| b.fallback.is_none()) {
            assert_eq!(canon::tx_bytes(b).unwrap(), text.as_bytes());
        }
        canonical_bytes(&stx.tx).unwrap()
    }
}

/// Per block: hash, root, transaction hashes.
#[test]
fn expected_block_hashes_and_roots_are_reproduced() {
    let e = read("expected.json");
    let chain = read("chain.json");
    let blocks = chain["blocks"].as_array().unwrap();
    for (b, x) in blocks.iter().zip(e["blocks"].as_array().unwrap()) {
        let header: BlockHeader = serde_json::from_value(b["header"].clone()).unwrap();
        assert_eq!(canon::header_hash(&header).unwrap(), h(&x["block_hash"]));
        let hashes: Vec<Hash32> = b["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let stx: SignedTx = serde_json::from_value(t.clone()).unwrap();
                assert_eq!(
                    canon::any_tx_hash(&stx.tx).unwrap(),
                    hash_of(&stx.tx).unwrap()
                );
                hash_of(&stx.tx).unwrap()
            })
            .collect();
        let want: Vec<Hash32> = x["tx_hashes"].as_array().unwrap().iter().map(h).collect();
        assert_eq!(hashes, want);
        assert_eq!(merkle_root(&hashes), h(&x["tx_root"]));
        assert_eq!(
            PublicKey::parse(x["proposer"].as_str().unwrap()).unwrap(),
            header.proposer
        );
    }
}

#[test]
fn the_valid_chain_passes_every_rule() {
    let r = rules();
    let chain = read("chain.json");
    let now = chain["now_ms"].as_u64().unwrap();
    let mut state = ChainState::new(&r);
    let cache = SigCache::new(0);
    for b in chain["blocks"].as_array().unwrap() {
        let (findings, record) = check_block(&r, &mut state, &raw(b), now, &cache);
        assert!(
            findings.is_empty(),
            "block {}: {findings:#?}",
            b["header"]["height"]
        );
        assert_eq!(
            record.valid_sealers.count_ones() as usize,
            b["seals"].as_array().unwrap().len()
        );
    }
    let blocks = chain["blocks"].as_array().unwrap();
    assert_eq!(state.blocks, blocks.len() as u64);

    // The encrypted tally, recomputed from the chain, and its decryption
    // by the trustees whose shares the chain holds.
    let want = &read("expected.json")["tally"];
    let e = want["election_id"].as_u64().unwrap();
    let th = want["tally_height"].as_u64().unwrap();
    let (count, totals) = state.tally_at(e, th).expect("the tally after the close");
    assert_eq!(count, want["ballot_count"].as_u64().unwrap());
    let agg: Vec<Ciphertext> = serde_json::from_value(want["aggregate"].clone()).unwrap();
    assert_eq!(totals, agg);
    let d = decrypt_all(&r, &state);
    let t = d
        .iter()
        .find(|x| x.election_id == e)
        .and_then(|x| x.result())
        .expect("decrypted");
    assert_eq!(t.tally_height, th);
    let trustees: Vec<u64> = t.shares.iter().map(|s| u64::from(s.0)).collect();
    let want_trustees: Vec<u64> = want["trustees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(trustees, want_trustees);
    assert!(
        t.shares
            .iter()
            .all(|s| s.1.height == want["shares_height"].as_u64().unwrap())
    );
    let counts: Vec<u64> = want["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .collect();
    assert_eq!(t.result.as_ref().unwrap(), &counts);
    // One share alone is below the threshold.
    let key = match r.election_key(e) {
        Some(Ok(k)) => k.clone(),
        _ => panic!("election {e} has a key"),
    };
    let one: Vec<DecryptionShare> = state.shares[&(e, th)][..1]
        .iter()
        .map(|s| s.share.clone())
        .collect();
    let err = combine(&r.chain_id.0, &key, &agg, &one, count).unwrap_err();
    assert_eq!(err.code(), want["below_threshold_error"].as_str().unwrap());

    // One millisecond later on the clock the last block is still fine; the
    // chain does not depend on the checker's clock being early.
    let mut state = ChainState::new(&r);
    for b in chain["blocks"].as_array().unwrap() {
        let (findings, _) = check_block(&r, &mut state, &raw(b), now + 1, &cache);
        assert!(findings.is_empty());
    }
}

#[test]
fn every_invalid_vector_is_refused_with_its_code() {
    let r = rules();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir().join("invalid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "found {} invalid vectors", files.len());
    let cache = SigCache::new(0);
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let now = v["now_ms"].as_u64().unwrap();
        let mut state = ChainState::new(&r);
        if let Some(prior) = v["prior_blocks"].as_array() {
            for b in prior {
                let (f, _) = check_block(&r, &mut state, &raw(b), now, &cache);
                assert!(f.is_empty(), "{name}: a prior block fails: {f:#?}");
            }
        }
        state.set_parent(parent(&v["parent"]));
        let (findings, _) = check_block(&r, &mut state, &raw(&v["block"]), now, &cache);
        let code = v["expected_error"].as_str().unwrap();
        let detail = v["expected_detail"].as_str();
        assert_eq!(
            findings.len(),
            1,
            "{name}: expected exactly {code} {detail:?}, found {findings:#?}"
        );
        let f = &findings[0];
        assert_eq!(f.code, code, "{name}: {f:#?}");
        assert_eq!(f.detail, detail, "{name}: {f:#?}");
        // The finding is reported under the check that owns the code.
        let in_tx = f.position.is_some();
        let want = check_for_code(code, detail, in_tx);
        if code != "bad_tx" {
            assert_eq!(Some(f.check), want.map(|c| c.id()), "{name}");
        }
        assert!(!f.message.is_empty() && !f.expected.is_empty() && !f.found.is_empty());
        if in_tx {
            assert!(
                f.tx.is_some(),
                "{name}: a transaction finding names the transaction"
            );
        }
    }
}

/// PROTOCOL.md §2: each Ed25519 vector verifies exactly when it says so.
#[test]
fn ed25519_vectors_verify_as_they_say() {
    let v = read("ed25519.json");
    let vectors = v["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 10);
    for x in vectors {
        let key = PublicKey::parse(x["public_key"].as_str().unwrap()).unwrap();
        let sig = crate::protocol::Signature::parse(x["signature"].as_str().unwrap()).unwrap();
        assert_eq!(
            crate::protocol::verify_digest(&key, &h(&x["message"]), &sig),
            x["valid"].as_bool().unwrap(),
            "{}",
            x["description"]
        );
    }
}

/// §4a and §3a: a card's code makes its credential; the roll's entries make
/// the genesis' roll root, and each example's path proves its entry.
#[test]
fn credentials_and_roll_are_reproduced() {
    use ring::signature::KeyPair;
    use sha2::{Digest, Sha256};
    let e = read("expected.json");
    for c in e["credentials"].as_array().unwrap() {
        let secret = hex::decode(&c["secret"].as_str().unwrap()[2..]).unwrap();
        let mut d = Sha256::new();
        for f in [
            b"evote/v1/credential".as_slice(),
            &c["election_id"].as_u64().unwrap().to_be_bytes(),
            &secret,
        ] {
            d.update((f.len() as u32).to_be_bytes());
            d.update(f);
        }
        let seed: [u8; 32] = d.finalize().into();
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        assert_eq!(
            format!("0x{}", hex::encode(pair.public_key().as_ref())),
            c["public_key"].as_str().unwrap()
        );
    }
    let r = rules();
    let roll = r.election(1).unwrap().roll().unwrap();
    let keys = read("keys.json");
    let leaves: Vec<Hash32> = keys["roll"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| h(&x["leaf"]))
        .collect();
    assert_eq!(leaves.len() as u64, roll.size);
    assert_eq!(merkle_root(&leaves), roll.root);
    for x in e["roll"]["examples"].as_array().unwrap() {
        let leaf = h(&x["leaf"]["sha256"]);
        let path: Vec<Hash32> = x["path"].as_array().unwrap().iter().map(h).collect();
        let index = x["index"].as_u64().unwrap();
        assert!(crate::protocol::verify_inclusion(
            &leaf, index, roll.size, &path, &roll.root
        ));
        assert_eq!(crate::protocol::merkle_path(&leaves, index as usize), path);
    }
}

/// §4e: chain.json's spoiled ballot opens to its stated choice; the same
/// record stating another choice (what a booth that encrypted something
/// else signs), or carrying randomness that is not its ciphertexts', is
/// reported under `tx.spoiled_opens` naming the station.
#[test]
fn a_spoiled_ballot_that_does_not_open_to_its_choice_names_the_station() {
    use crate::protocol::{SpoiledBallotTx, Transaction};
    let r = rules();
    let chain = read("chain.json");
    let stx: SignedTx =
        serde_json::from_value(chain["blocks"][0]["transactions"][2].clone()).unwrap();
    let Transaction::SpoiledBallot(honest) = stx.tx else {
        panic!("block 1 transaction 2 is a spoiled ballot");
    };
    let e = r.election(honest.election_id).unwrap();
    let t = Some(honest.spoiled_at_ms);
    assert_eq!(super::spoiled::check_spoiled(&r, e, &honest, t), None);
    let other = e
        .candidates
        .iter()
        .find(|c| c.id != honest.choice)
        .unwrap()
        .id;
    let lied = SpoiledBallotTx {
        choice: other,
        ..honest.clone()
    };
    let f = super::spoiled::check_spoiled(&r, e, &lied, t).expect("a finding");
    assert_eq!(
        (f.check, f.code),
        ("tx.spoiled_opens", "spoiled_ballot_mismatch")
    );
    assert!(f.message.contains("station-1"), "{}", f.message);
    assert!(f.found.contains(&honest.choice.to_string()), "{}", f.found);
    let mut swapped = honest.clone();
    swapped.randomness.swap(0, 1);
    let f = super::spoiled::check_spoiled(&r, e, &swapped, t).expect("a finding");
    assert_eq!(f.code, "spoiled_ballot_mismatch");
    assert!(f.found.contains("no vote"), "{}", f.found);
}
