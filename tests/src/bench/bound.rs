//! The throughput ceiling set by ballot cryptography on this machine:
//! every ballot is made once (by the accepting appliance) and checked by
//! every validator, so bound = cores / (make time + validators × check
//! time), measured here with the same code the appliance runs.

use std::time::Instant;

use evote_appliance::OsRandom;
use evote_core::ledger::credential::CredentialCode;
use evote_core::ledger::crypto::forget_verified;
use evote_core::ledger::crypto::pkcs8_from_seed;
use evote_core::ledger::elgamal::{BallotContext, EncryptionKey, encrypt_ballot};
use evote_core::ledger::genesis::PROTOCOL;
use evote_core::ledger::tally::local_ceremony;
use evote_core::ledger::tx::{ToCheck, check_txs};
use evote_core::ledger::{
    BallotTx, Candidate, Election, Eligibility, Genesis, Hash32, NodeKey, Params, SignedTx,
    Transaction, ValidatorInfo, check_tx,
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

/// A one-validator genesis with a 3-candidate election (2-of-3 trustees),
/// the validator's key (it also accepts ballots) and the election's key.
pub struct Setup {
    pub genesis: Genesis,
    pub key: NodeKey,
    pub election_key: EncryptionKey,
}

pub fn setup() -> Setup {
    let key = NodeKey::from_pkcs8(&pkcs8_from_seed(&[7; 32])).expect("key");
    let authority = NodeKey::from_pkcs8(&pkcs8_from_seed(&[8; 32])).expect("key");
    let g = Genesis {
        protocol: PROTOCOL.into(),
        chain_name: "bound".into(),
        created_at_ms: 0,
        authority: authority.public(),
        credential_authority: NodeKey::from_pkcs8(&pkcs8_from_seed(&[9; 32]))
            .expect("key")
            .public(),
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
            // Each ballot is signed by a credential of its own, as a
            // voter's card signs it: open registration lists none.
            eligibility: Eligibility::Open {},
        }],
        params: Params::default(),
    };
    let pk = g.elections[0].public_key().expect("key").public_key;
    Setup {
        election_key: EncryptionKey::new(&pk).expect("a key"),
        genesis: g,
        key,
    }
}

/// What an appliance does to accept a vote: make the voter's credential
/// from their card, encrypt the choice with its proofs, build the
/// transaction, sign it with the credential and with the appliance's key.
pub fn make(s: &Setup, i: u32) -> SignedTx {
    let (g, key) = (&s.genesis, &s.key);
    let mut secret = [0u8; 10];
    secret[..4].copy_from_slice(&i.to_le_bytes());
    let credential = CredentialCode::from_secret(secret).key(1);
    let chain_id = g.chain_id().expect("id");
    let ctx = BallotContext {
        chain_id,
        election_id: 1,
        nullifier: Hash32(credential.public().0),
        origin: key.public(),
    };
    let ballot = encrypt_ballot(
        &ctx,
        &s.election_key,
        (i % 3) as usize,
        3,
        &mut OsRandom::default(),
    )
    .expect("encrypt");
    let tx = BallotTx::new(chain_id, 1, &credential, ballot, 1_000, key.public()).expect("ballot");
    SignedTx::sign(Transaction::Ballot(tx), key).expect("sign")
}

/// The ceiling, from the fastest of [`ROUNDS`] rounds: a ceiling, not an
/// average over whatever else the shared machine was doing.
///
/// The appliance that accepts a ballot makes it and checks it on its own
/// (before answering the voter); every other validator checks it with the
/// ballots gossiped with it, in a batch. So bound = cores / (make +
/// check alone + (validators - 1) × check in a batch).
pub fn bound_per_s(validators: usize) -> Bound {
    let s = setup();
    let (g, id) = (&s.genesis, s.genesis.chain_id().expect("id"));
    let (mut make_s, mut alone_s, mut batch_s) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let txs: Vec<SignedTx> = (0..SAMPLES).map(|i| make(&s, i)).collect();
        make_s = make_s.min(t.elapsed().as_secs_f64() / f64::from(SAMPLES));
        // Each validator verifies a ballot's signatures in its own process:
        // what this one remembers from the check before must not count.
        forget_verified();
        let t = Instant::now();
        for tx in &txs {
            check_tx(g, &id, tx, 2_000).expect("valid");
        }
        alone_s = alone_s.min(t.elapsed().as_secs_f64() / f64::from(SAMPLES));
        forget_verified();
        let t = Instant::now();
        let checks: Vec<ToCheck<'_>> = txs
            .iter()
            .map(|stx| ToCheck {
                stx,
                hash: None,
                known: false,
            })
            .collect();
        assert!(check_txs(g, &id, &checks, 2_000).iter().all(Result::is_ok));
        batch_s = batch_s.min(t.elapsed().as_secs_f64() / f64::from(SAMPLES));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let others = validators.saturating_sub(1) as f64;
    let per_s = cores / (make_s + alone_s + others * batch_s);
    Bound {
        per_s,
        details: json!({
            "cores": cores,
            "make_ballot_us": make_s * 1e6,
            "check_ballot_us": alone_s * 1e6,
            "check_ballot_in_batch_us": batch_s * 1e6,
            "batch": SAMPLES,
            "validators": validators,
        }),
    }
}
