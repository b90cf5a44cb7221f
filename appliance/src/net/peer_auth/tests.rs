use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName};

use super::*;
use crate::ledger::Parent;
use crate::ledger::crypto::test_keys::key;
use crate::ledger::genesis::fixtures::genesis;
use crate::ledger::validate::fixtures::committed_block;

const NOW: u64 = 1_700_000_000_000;

fn headers(pairs: Vec<(&'static str, String)>) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(HeaderName::from_static(k), v.parse().unwrap());
    }
    h
}

fn signed(node: u8, method: &str, url: &str, body: &[u8]) -> HeaderMap {
    let g = genesis(3);
    let signer = Signer::new(Arc::new(key(node)), g.chain_id().unwrap());
    headers(signer.headers(method, url, body))
}

fn check(
    h: &HeaderMap,
    method: &str,
    path: &str,
    replay: &ReplayGuard,
) -> Result<Claimed, ApiError> {
    let g = genesis(3);
    check_headers(
        &g,
        &g.chain_id().unwrap(),
        replay,
        method,
        path,
        h,
        now_ms(),
    )
}

#[test]
fn a_signed_request_is_heard_once_and_only_as_signed() {
    let replay = ReplayGuard::default();
    let url = "http://10.0.0.1:8002/p2p/blocks?from=1&limit=64";
    let h = signed(2, "GET", url, b"");
    let c = check(&h, "GET", "/p2p/blocks?from=1&limit=64", &replay).unwrap();
    assert_eq!(c.node, key(2).public());
    assert_eq!(c.body_sha256, sha256(b""));
    let again = check(&h, "GET", "/p2p/blocks?from=1&limit=64", &replay).unwrap_err();
    assert!(again.message.contains("replayed"), "{again:?}");
    // Another path, method or chain than the one signed.
    let h = signed(2, "GET", url, b"");
    for (m, p) in [
        ("GET", "/p2p/blocks?from=2&limit=64"),
        ("POST", "/p2p/blocks?from=1&limit=64"),
    ] {
        let e = check(&h, m, p, &replay).unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED, "{m} {p}");
    }
    // A station of the genesis may sign; a stranger may not.
    assert!(
        check(
            &signed(100, "GET", url, b""),
            "GET",
            "/p2p/blocks?from=1&limit=64",
            &replay
        )
        .is_ok()
    );
    let e = check(
        &signed(77, "GET", url, b""),
        "GET",
        "/p2p/blocks?from=1&limit=64",
        &replay,
    )
    .unwrap_err();
    assert!(e.message.contains("not an appliance"), "{e:?}");
}

#[test]
fn malformed_stale_or_missing_headers_are_refused() {
    let replay = ReplayGuard::default();
    let e = check(&HeaderMap::new(), "GET", "/p2p/status", &replay).unwrap_err();
    assert_eq!(
        (e.status, e.code),
        (StatusCode::UNAUTHORIZED, "peer_unauthenticated")
    );
    let mut h = signed(1, "GET", "/p2p/status", b"");
    h.insert(
        H_TIME,
        (now_ms() - 2 * MAX_CLOCK_SKEW_MS)
            .to_string()
            .parse()
            .unwrap(),
    );
    let e = check(&h, "GET", "/p2p/status", &replay).unwrap_err();
    assert!(e.message.contains("time"), "{e:?}");
    for name in [H_NODE, H_NONCE, H_BODY, H_SIGNATURE, H_TIME] {
        let mut h = signed(1, "GET", "/p2p/status", b"");
        h.insert(HeaderName::from_static(name), "zz".parse().unwrap());
        assert!(check(&h, "GET", "/p2p/status", &replay).is_err(), "{name}");
    }
}

#[test]
fn the_replay_guard_forgets_old_nonces_and_refuses_when_full() {
    let r = ReplayGuard::default();
    let k = key(1).public();
    assert_eq!(r.admit(&k, "a", NOW, NOW), Fresh::Yes);
    assert_eq!(r.admit(&k, "a", NOW, NOW + 1), Fresh::Replayed);
    assert_eq!(
        r.admit(&key(2).public(), "a", NOW, NOW),
        Fresh::Yes,
        "per peer"
    );
    // Past the window the nonce is forgotten (and its time is refused
    // anyway by the clock check).
    assert_eq!(
        r.admit(&k, "a", NOW, NOW + 3 * MAX_CLOCK_SKEW_MS),
        Fresh::Yes
    );
    let full = ReplayGuard::default();
    for i in 0..MAX_NONCES_PER_PEER {
        assert_eq!(full.admit(&k, &i.to_string(), NOW, NOW), Fresh::Yes);
    }
    assert_eq!(full.admit(&k, "one more", NOW, NOW), Fresh::Full);
}

#[test]
fn a_status_is_believed_only_as_signed_and_a_head_only_with_its_seals() {
    let g = genesis(3);
    let chain_id = g.chain_id().unwrap();
    let parent = Parent {
        height: 0,
        hash: chain_id,
        timestamp_ms: g.created_at_ms,
    };
    let block = committed_block(&g, &parent, vec![]);
    let proof = HeadProof {
        header: block.header.clone(),
        seals: block.seals.clone(),
    };
    let me = key(1).public();
    let fields = StatusFields {
        chain_id: &chain_id,
        node_id: &me,
        height: 1,
        best_hash: &block.block_hash,
        round: 0,
        role: "validator",
        started_at_ms: NOW - 60_000,
        rpc_url: Some("https://validator-1.example.org:8001"),
        time_ms: NOW,
    };
    let sig = fields.sign(&key(1));
    fields.verify(&sig, NOW + 1_000).unwrap();
    // Every field is covered: a start time or a public door changed on the
    // way (a restart hidden, voters' lookups sent elsewhere) is refused.
    let restarted = StatusFields {
        started_at_ms: NOW,
        ..fields
    };
    assert!(restarted.verify(&sig, NOW).is_err(), "started_at_ms");
    let elsewhere = StatusFields {
        rpc_url: Some("https://attacker.example.org"),
        ..fields
    };
    assert!(elsewhere.verify(&sig, NOW).is_err(), "rpc_url");
    let dropped = StatusFields {
        rpc_url: None,
        ..fields
    };
    assert!(dropped.verify(&sig, NOW).is_err(), "rpc_url removed");
    assert!(
        fields.verify(&sig, NOW + 2 * MAX_CLOCK_SKEW_MS).is_err(),
        "stale"
    );
    assert!(
        fields.verify(&fields.sign(&key(2)), NOW).is_err(),
        "another key"
    );
    check_head(&g, &chain_id, 1, &block.block_hash, &proof).unwrap();
    // The height 10^9 attack: a header claiming it, with no seals, or seals
    // of another block.
    let mut high = proof.clone();
    high.header.height = 1_000_000_000;
    let high_hash = high.header.hash().unwrap();
    assert!(check_head(&g, &chain_id, 1_000_000_000, &high_hash, &high).is_err());
    high.seals.clear();
    assert!(check_head(&g, &chain_id, 1_000_000_000, &high_hash, &high).is_err());
    assert!(
        check_head(&g, &chain_id, 2, &block.block_hash, &proof).is_err(),
        "height"
    );
    let mut few = proof.clone();
    few.seals.truncate(1);
    assert!(
        check_head(&g, &chain_id, 1, &block.block_hash, &few).is_err(),
        "Q seals"
    );
}
