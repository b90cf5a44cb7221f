//! The throughput ceiling set by ballot cryptography on this machine:
//! every ballot is made once (by the accepting appliance) and checked by
//! every validator, so bound = cores / (make time + validators × check time),
//! measured here with the same code the appliance runs.

use std::time::Instant;

use evote_appliance::auth::OsRandom;
use evote_appliance::ledger::crypto::pkcs8_from_seed;
use evote_appliance::ledger::elgamal::{BallotContext, encrypt_ballot};
use evote_appliance::ledger::genesis::PROTOCOL;
use evote_appliance::ledger::tally::local_ceremony;
use evote_appliance::ledger::{
    BallotTx, Candidate, Election, Genesis, Hash32, NodeKey, Params, SignedTx, Transaction,
    ValidatorInfo, check_tx,
};
use serde_json::{Value, json};

/// Ballots made and checked for the measurement.
const SAMPLES: u32 = 100;
/// Rounds of SAMPLES ballots made and checked; the fastest counts.
const ROUNDS: u32 = 4;

pub struct Bound {
    pub per_s: f64,
    pub details: Value,
}

/// A one-validator genesis with a 3-candidate election (2-of-3 trustees)
/// and the validator's key, which also accepts ballots.
pub fn setup() -> (Genesis, NodeKey) {
    let key = NodeKey::from_pkcs8(&pkcs8_from_seed(&[7; 32])).expect("key");
    let authority = NodeKey::from_pkcs8(&pkcs8_from_seed(&[8; 32])).expect("key");
    let g = Genesis {
        protocol: PROTOCOL.into(),
        chain_name: "bound".into(),
        created_at_ms: 0,
        authority: authority.public(),
        validators: vec![ValidatorInfo {
            public_key: key.public(),
            name: "v".into(),
            p2p_url: "http://127.0.0.1:1".into(),
        }],
        stations: vec![],
        elections: vec![Election {
            id: 1,
            name: "e".into(),
            candidates: (1..=3)
                .map(|id| Candidate {
                    id,
                    name: format!("c{id}"),
                })
                .collect(),
            opens_at: 0,
            closes_at: 1 << 50,
            trustees: local_ceremony(1, 3, 2, &mut OsRandom::default())
                .expect("ceremony")
                .0,
        }],
        params: Params::default(),
    };
    (g, key)
}

/// What an appliance does to accept a vote: encrypt it with its proofs,
/// build the transaction and sign it.
pub fn make(g: &Genesis, key: &NodeKey, i: u32) -> SignedTx {
    let mut n = [0u8; 32];
    n[..4].copy_from_slice(&i.to_le_bytes());
    let chain_id = g.chain_id().expect("id");
    let ctx = BallotContext {
        chain_id,
        election_id: 1,
        nullifier: Hash32(n),
        origin: key.public(),
    };
    let pk = g.elections[0].public_key().expect("key").public_key;
    let ballot =
        encrypt_ballot(&ctx, &pk, (i % 3) as usize, 3, &mut OsRandom::default()).expect("encrypt");
    let tx = BallotTx::new(chain_id, 1, Hash32(n), ballot, 1_000, key.public()).expect("ballot");
    SignedTx::sign(Transaction::Ballot(tx), key).expect("sign")
}

pub fn bound_per_s(validators: usize) -> Bound {
    let (g, key) = setup();
    let id = g.chain_id().expect("id");
    // The fastest of a few rounds: a ceiling, not an average over whatever
    // else the shared machine was doing.
    let (mut make_s, mut check_s) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let txs: Vec<SignedTx> = (0..SAMPLES).map(|i| make(&g, &key, i)).collect();
        make_s = make_s.min(t.elapsed().as_secs_f64() / f64::from(SAMPLES));
        let t = Instant::now();
        for tx in &txs {
            check_tx(&g, &id, tx, 2_000).expect("valid");
        }
        check_s = check_s.min(t.elapsed().as_secs_f64() / f64::from(SAMPLES));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let per_s = cores / (make_s + validators as f64 * check_s);
    Bound {
        per_s,
        details: json!({
            "cores": cores,
            "make_ballot_us": make_s * 1e6,
            "check_ballot_us": check_s * 1e6,
            "validators": validators,
        }),
    }
}
