//! Fallback chains on synthetic chains: a sound one, a removed block, a
//! broken link, a foreign signature, a double vote named or misreported.

use serde_json::{Value, json};

use super::*;
use crate::protocol::hash_of;
use crate::sources::FallbackData;
use crate::synth::{SynthBlock, SynthChain, SynthFallback, SynthSpec};

const T0: u64 = 1_767_247_200_000;
const NOW: u64 = T0 + 86_400_000;

struct World {
    c: SynthChain,
    main: Vec<SynthBlock>,
    fb: SynthFallback,
}

/// Station-1 is cut off after block 1 and seals voters 100-102 in two
/// fallback blocks; their copies reach main block 4. With `double`, voter
/// 101 also voted at validator-1, in block 2: that copy never commits.
fn world(double: bool) -> World {
    let spec = SynthSpec {
        votes: 12,
        block_txs: 4,
        created_at_ms: T0,
        ..SynthSpec::default()
    };
    let c = SynthChain::new(&spec);
    let mut main = c.blocks(12, 4, 1);
    let station = &c.stations[0];
    let sealed = c.sealed_offline(station, T0 + 1_500);
    let anchor = main[0].block_hash;
    let fb = c.fallback_chain(station, (1, anchor), sealed, 2, T0 + 2_000);
    if double {
        let twin = c.ballot_for(&c.validators[0], 101, 0, T0 + 1_600, b"twin");
        main[1].txs.push(twin);
    }
    let copies: Vec<SignedTx> = fb
        .copies
        .iter()
        .enumerate()
        .filter(|(k, _)| !(double && *k == 1))
        .map(|(_, t)| t.clone())
        .collect();
    main.push(c.block(4, main[2].block_hash, T0 + 4_000, Vec::new()));
    main[3].txs = copies;
    // Block 1, the anchor, is not touched by these edits: re-made, it
    // keeps its hash, so the fallback chain stays anchored.
    let mut prev = c.chain_id;
    let main: Vec<SynthBlock> = main
        .iter()
        .map(|b| {
            let nb = c.block(b.header.height, prev, b.header.timestamp_ms, b.txs.clone());
            prev = nb.block_hash;
            nb
        })
        .collect();
    assert_eq!(main[0].block_hash, anchor);
    World { c, main, fb }
}

fn data(page: &Value) -> FallbackData {
    FallbackData {
        origin: PublicKey::parse(page["origin"].as_str().unwrap()).unwrap(),
        blocks: page["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.to_string())
            .collect(),
        ballots: serde_json::from_value(page["ballots"].clone()).unwrap(),
        close: Some(page["close"].to_string()),
    }
}

fn run(w: &World, page: &Value) -> FallbackOutcome {
    let (rules, state, f, records) = w.c.audit(&w.main, NOW);
    assert!(f.is_empty(), "the main chain: {f:#?}");
    let main = MainChain {
        rules: &rules,
        state: &state,
        records: &records,
        own: None,
    };
    check_chains(&main, &[data(page)], &SigCache::new(0))
}

fn codes(c: &Comparison) -> Vec<&'static str> {
    c.findings.iter().map(|f| f.code).collect()
}

#[test]
fn a_sound_fallback_chain_is_reconciled() {
    let w = world(false);
    let out = run(&w, &w.fb.page("confirmed"));
    assert!(out.chain.findings.is_empty(), "{:#?}", out.chain.findings);
    assert!(
        out.reconciled.findings.is_empty(),
        "{:#?}",
        out.reconciled.findings
    );
    assert_eq!((out.chain.compared, out.reconciled.compared), (1, 3));
    // Still marked waiting although settled: noted, not failed.
    let out = run(&w, &w.fb.page("waiting"));
    assert!(out.reconciled.findings.is_empty());
    assert!(out.reconciled.skipped[0].contains("still marked waiting"));
}

#[test]
fn a_removed_fallback_block_is_caught() {
    let w = world(false);
    let mut page = w.fb.page("confirmed");
    page["blocks"].as_array_mut().unwrap().remove(0);
    let out = run(&w, &page);
    assert_eq!(
        codes(&out.chain),
        vec!["wrong_seq", "wrong_prev_hash", "close_mismatch"],
        "{:#?}",
        out.chain.findings
    );
    // The source tracks ballots its chain no longer holds, and the main
    // chain's copies name a block the closed chain does not have.
    let r = codes(&out.reconciled);
    assert_eq!(r.iter().filter(|c| **c == "untracked").count(), 2, "{r:?}");
    assert_eq!(
        r.iter().filter(|c| **c == "unknown_fallback_block").count(),
        2,
        "{r:?}"
    );
}

#[test]
fn a_broken_link_or_a_foreign_signature_is_caught() {
    let w = world(false);
    let mut page = w.fb.page("confirmed");
    {
        // Block 2 re-linked to something else, re-hashed and re-signed by
        // its own appliance: only the link is wrong (and the close, which
        // named the old last block).
        let b = &mut page["blocks"][1];
        b["header"]["prev_hash"] = json!(Hash32([7; 32]));
        let header: FallbackHeader = serde_json::from_value(b["header"].clone()).unwrap();
        let h = hash_of(&header).unwrap();
        b["block_hash"] = json!(h);
        b["signature"] = json!(w.c.stations[0].sign_digest(&h));
    }
    let out = run(&w, &page);
    assert_eq!(
        codes(&out.chain),
        vec!["wrong_prev_hash", "close_mismatch"],
        "{:#?}",
        out.chain.findings
    );
    assert!(out.chain.findings[0].message.contains("block seq 2"));

    let mut page = w.fb.page("confirmed");
    let h = Hash32::parse(page["blocks"][0]["block_hash"].as_str().unwrap()).unwrap();
    page["blocks"][0]["signature"] = json!(w.c.validators[0].sign_digest(&h));
    let out = run(&w, &page);
    assert_eq!(codes(&out.chain), vec!["bad_signature"]);
}

#[test]
fn a_double_vote_is_rejected_with_the_conflicting_transaction_named() {
    let w = world(true);
    let twin = hash_of(&w.main[1].txs[4].tx).unwrap();
    let mut page = w.fb.page("confirmed");
    page["ballots"][1]["state"] = json!("rejected");
    page["ballots"][1]["conflicting_tx"] = json!(twin);
    let out = run(&w, &page);
    assert!(out.chain.findings.is_empty(), "{:#?}", out.chain.findings);
    assert!(
        out.reconciled.findings.is_empty(),
        "{:#?}",
        out.reconciled.findings
    );

    // Said to be confirmed, or rejected in favour of another transaction.
    let mut lie = page.clone();
    lie["ballots"][1]["state"] = json!("confirmed");
    let out = run(&w, &lie);
    assert_eq!(codes(&out.reconciled), vec!["wrong_state"]);
    assert!(out.reconciled.findings[0].expected.contains(&twin.to_hex()));
    let mut lie = page;
    lie["ballots"][1]["conflicting_tx"] = json!(Hash32([3; 32]));
    let out = run(&w, &lie);
    assert_eq!(codes(&out.reconciled), vec!["wrong_state"]);
}
