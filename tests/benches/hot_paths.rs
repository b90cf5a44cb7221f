//! Criterion micro-benchmarks of the hot paths of a vote, with the same
//! code the appliance runs:
//!
//!     cargo bench -p evote-tests --bench hot_paths
//!
//! The auditor's verify rate has its own bench (`-p evote-audit`). Ballots
//! are verified alone (as the appliance that accepts one checks it) and in
//! batches of 100 (as validators check gossiped ballots and blocks,
//! PROTOCOL.md E.3).

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use evote_appliance::{DB_FILE, OsRandom, Store};
use evote_core::ledger::crypto::{forget_verified, verify_digest};
use evote_core::ledger::elgamal::{
    BallotContext, EncryptedBallot, EncryptionKey, TallyContext, aggregate, decryption_share,
    encrypt_ballot, verify_ballot, verify_ballots, verify_decryption_share,
};
use evote_core::ledger::tally::local_ceremony;
use evote_core::ledger::validate::check_block_txs;
use evote_core::ledger::{
    Block, ChainLookup, CredentialOnChain, DeviceEnd, Genesis, Hash32, LedgerError, NodeKey,
    PublicKey, SignedTx,
};
use evote_tests::bench::bound::{make, setup};

/// Ballots in the block benchmarks (the figure).
const BLOCK_BALLOTS: u32 = 1_000;

/// A chain that has seen no nullifier and no record yet.
struct Fresh;

impl ChainLookup for Fresh {
    fn is_used(&self, _: u64, _: &Hash32) -> Result<bool, LedgerError> {
        Ok(false)
    }

    fn credential_on_chain(&self, _: u64, _: &PublicKey) -> Result<CredentialOnChain, LedgerError> {
        Ok(CredentialOnChain::default())
    }

    fn is_checked_in(&self, _: u64, _: &Hash32) -> Result<bool, LedgerError> {
        Ok(false)
    }

    fn device_end(&self, _: u64, _: &PublicKey) -> Result<Option<DeviceEnd>, LedgerError> {
        Ok(None)
    }
}

fn block_of(g: &Genesis, key: &NodeKey, txs: Vec<SignedTx>) -> Block {
    let id = g.chain_id().expect("chain id");
    let mut b = Block::propose(id, 1, 0, id, 2_000, txs, key).expect("propose");
    b.seals = vec![b.seal(key).expect("seal")];
    b
}

fn one_ballot(c: &mut Criterion) {
    let s = setup();
    let key = &s.key;
    let tx = make(&s, 1);
    let digest = tx.tx.hash().expect("hash");
    let mut group = c.benchmark_group("ballot");
    group.bench_function("canonical_json_and_sha256", |b| {
        b.iter(|| tx.tx.hash().expect("canonical JSON"))
    });
    // A gossiped ballot as a peer gets it: JSON in, points decoded, proofs
    // and signature checked.
    let text = serde_json::to_string(&tx).expect("JSON");
    let id = s.genesis.chain_id().expect("chain id");
    group.bench_function("parse_and_check_from_json", |b| {
        b.iter(|| {
            forget_verified();
            let stx: SignedTx = serde_json::from_str(&text).expect("parses");
            evote_core::ledger::check_tx(&s.genesis, &id, &stx, 2_000).expect("valid")
        })
    });
    group.bench_function("ed25519_sign", |b| b.iter(|| key.sign_digest(&digest)));
    group.bench_function("ed25519_verify", |b| {
        b.iter(|| {
            forget_verified();
            assert!(verify_digest(&key.public(), &digest, &tx.signature))
        })
    });
    group.bench_function("encrypt_prove_sign", |b| b.iter(|| make(&s, 2)));
    group.finish();
}

fn block_of_ballots(c: &mut Criterion) {
    let s = setup();
    let g = &s.genesis;
    let id = g.chain_id().expect("chain id");
    let txs: Vec<SignedTx> = (0..BLOCK_BALLOTS).map(|i| make(&s, i)).collect();
    let block = block_of(g, &s.key, txs);
    let mut group = c.benchmark_group("block_of_1000_ballots");
    group.throughput(Throughput::Elements(u64::from(BLOCK_BALLOTS)));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("validate", |b| {
        b.iter(|| {
            forget_verified();
            check_block_txs(g, &id, &block, &Fresh).expect("valid block")
        })
    });
    group.bench_function("commit_to_sqlite", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                let mut store = Store::open(&dir.path().join(DB_FILE)).expect("store");
                store.init_genesis(g).expect("genesis");
                (dir, store)
            },
            |(dir, mut store)| {
                store.append_block(&block, 3_000).expect("commit");
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Ballot cryptography for 2, 5 and 10 candidates, and a trustee's
/// decryption share of a 3-candidate tally (2 of 3 trustees).
fn ballot_crypto(c: &mut Criterion) {
    let mut rng = OsRandom::default();
    let (trustees, keys) = local_ceremony(1, 3, 2, &mut rng).expect("ceremony");
    let public = trustees.public_key(1).expect("election key");
    let pk = public.public_key;
    let key = EncryptionKey::new(&pk).expect("a key");
    let ctx_of = |voter: u32| {
        let mut nullifier = [2u8; 32];
        nullifier[..4].copy_from_slice(&voter.to_le_bytes());
        BallotContext {
            chain_id: Hash32([1; 32]),
            election_id: 1,
            nullifier: Hash32(nullifier),
            origin: setup().key.public(),
        }
    };
    let ctx = ctx_of(0);
    let mut group = c.benchmark_group("ballot_crypto");
    for n in [2usize, 3, 5, 10] {
        let ballot = encrypt_ballot(&ctx, &key, 1, n, &mut rng).expect("encrypt");
        group.bench_function(format!("encrypt_and_prove/{n}_candidates"), |b| {
            b.iter(|| encrypt_ballot(&ctx, &key, 1, n, &mut OsRandom::default()).expect("encrypt"))
        });
        group.bench_function(format!("verify/{n}_candidates"), |b| {
            b.iter(|| verify_ballot(&ctx, &pk, &ballot, n).expect("valid"))
        });
        let batch: Vec<(BallotContext, EncryptedBallot)> = (0..100)
            .map(|v| {
                let c = ctx_of(v);
                let b = encrypt_ballot(&c, &key, v as usize % n, n, &mut rng).expect("encrypt");
                (c, b)
            })
            .collect();
        let items: Vec<(BallotContext, &EncryptedBallot)> =
            batch.iter().map(|(c, b)| (*c, b)).collect();
        group.throughput(Throughput::Elements(100));
        group.bench_function(format!("verify_100_in_a_batch/{n}_candidates"), |b| {
            b.iter(|| assert!(verify_ballots(&items, &pk, n).iter().all(Result::is_ok)))
        });
        let many: Vec<EncryptedBallot> = vec![ballot.clone(); 100];
        group.throughput(Throughput::Elements(100));
        group.bench_function(format!("aggregate_100/{n}_candidates"), |b| {
            b.iter(|| aggregate(&many, n).expect("aggregate"))
        });
        group.throughput(Throughput::Elements(1));
    }
    let tally_ctx = TallyContext {
        chain_id: ctx.chain_id,
        election_id: 1,
    };
    let ballots: Vec<EncryptedBallot> = (0..10)
        .map(|i| encrypt_ballot(&ctx, &key, i % 3, 3, &mut rng).expect("encrypt"))
        .collect();
    let totals = aggregate(&ballots, 3).expect("aggregate");
    let share = decryption_share(&tally_ctx, &keys[0], &totals, &mut rng).expect("share");
    group.bench_function("decryption_share_create/3_candidates", |b| {
        b.iter(|| {
            decryption_share(&tally_ctx, &keys[0], &totals, &mut OsRandom::default())
                .expect("share")
        })
    });
    group.bench_function("decryption_share_verify/3_candidates", |b| {
        b.iter(|| verify_decryption_share(&tally_ctx, &public, &totals, &share).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, one_ballot, ballot_crypto, block_of_ballots);
criterion_main!(benches);
