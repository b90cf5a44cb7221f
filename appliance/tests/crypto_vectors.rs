//! The test vectors in `schema/vectors/crypto/` are what the generator
//! makes, and the library accepts every valid vector and refuses every
//! invalid one with exactly its expected error.

#[path = "../examples/crypto_vectors_gen/mod.rs"]
mod crypto_vectors_gen;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crypto_vectors_gen::{
    BallotsFile, CeremonyFile, InvalidBallotsFile, InvalidCeremonyFile, InvalidTallyFile,
    TallyFile, TranscriptsFile,
};
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::scalar::Scalar;
use evote_core::ledger::elgamal::decrypt::lagrange_at_zero;
use evote_core::ledger::elgamal::transcript::challenge_of;
use evote_core::ledger::elgamal::{
    CryptoError, DecryptionShare, ElectionPublicKey, EncryptedBallot, SecretShare, TrusteeRound1,
    aggregate, combine_decryption_shares, from_value, round2, verify_ballot, verify_ballots,
    verify_decryption_share, verify_share,
};
use serde::de::DeserializeOwned;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the appliance crate sits in the workspace")
        .join(crypto_vectors_gen::VECTORS_DIR)
}

fn read<T: DeserializeOwned>(name: &str) -> T {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} does not parse: {e}"))
}

#[test]
fn committed_vectors_are_what_the_generator_makes() {
    let generated = crypto_vectors_gen::generate();
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir())
        .expect("schema/vectors/crypto exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let wanted: BTreeSet<String> = generated.keys().cloned().collect();
    assert_eq!(
        on_disk,
        wanted,
        "schema/vectors/crypto holds other files than the generator makes; run `{}`",
        crypto_vectors_gen::REGENERATE
    );
    for (name, content) in &generated {
        let committed = std::fs::read_to_string(dir().join(name)).expect("readable");
        assert!(
            &committed == content,
            "schema/vectors/crypto/{name} differs from what the generator makes; run `{}` and \
             review the diff",
            crypto_vectors_gen::REGENERATE
        );
    }
    assert_eq!(crypto_vectors_gen::generate(), generated, "deterministic");
}

#[test]
fn the_ceremony_verifies_and_gives_its_public_data() {
    let c: CeremonyFile = read("ceremony.json");
    let public = ElectionPublicKey::from_round1(&c.params, &c.round1).expect("round 1 verifies");
    assert_eq!(public, c.election_public_key);
    assert_eq!(c.shares.len(), 9);
    for share in &c.shares {
        let dealer = &c.round1[share.dealer as usize - 1];
        verify_share(&c.params, dealer, share).expect("share matches its commitments");
    }
    for key in &c.trustee_keys {
        let mine: Vec<SecretShare> = c
            .shares
            .iter()
            .filter(|s| s.recipient == key.index)
            .cloned()
            .collect();
        assert_eq!(
            &round2(&c.params, key.index, &c.round1, &mine).unwrap(),
            key
        );
        assert_eq!(
            key.secret_share.expose() * RISTRETTO_BASEPOINT_TABLE,
            public.public_share(key.index).unwrap().decode().unwrap()
        );
    }
}

#[test]
fn valid_ballots_verify_in_their_context_only() {
    let b: BallotsFile = read("ballots.json");
    let c: CeremonyFile = read("ceremony.json");
    assert_eq!(b.public_key, c.election_public_key.public_key);
    for e in &b.ballots {
        verify_ballot(&e.context, &b.public_key, &e.ballot, b.candidates).unwrap();
    }
    let items: Vec<_> = b.ballots.iter().map(|e| (e.context, &e.ballot)).collect();
    assert!(
        verify_ballots(&items, &b.public_key, b.candidates)
            .iter()
            .all(Result::is_ok)
    );
    // Each voter's ballot in the next voter's context fails.
    let shifted: Vec<_> = b
        .ballots
        .iter()
        .zip(b.ballots.iter().cycle().skip(1))
        .map(|(e, next)| (next.context, &e.ballot))
        .collect();
    assert!(
        verify_ballots(&shifted, &b.public_key, b.candidates)
            .iter()
            .all(Result::is_err)
    );
}

#[test]
fn invalid_ballots_fail_with_their_expected_error() {
    let f: InvalidBallotsFile = read("invalid_ballots.json");
    assert!(!f.vectors.is_empty());
    for v in &f.vectors {
        let got = from_value::<EncryptedBallot>("ballot", &v.ballot)
            .and_then(|b| verify_ballot(&v.context, &f.public_key, &b, f.candidates));
        let err = got.expect_err(&v.name);
        assert_eq!(err.code(), v.expected_error, "{}: {err}", v.name);
        if let Some(i) = v.expected_index {
            assert_eq!(err, CryptoError::BadZeroOneProof { index: i }, "{}", v.name);
        }
    }
}

#[test]
fn the_tally_decrypts_to_the_counts() {
    let b: BallotsFile = read("ballots.json");
    let t: TallyFile = read("tally.json");
    let agg = aggregate(b.ballots.iter().map(|e| &e.ballot), t.candidates).unwrap();
    assert_eq!(agg, t.aggregate);
    assert_eq!(t.ballot_count, b.ballots.len() as u64);
    for s in &t.decryption_shares {
        verify_decryption_share(&t.context, &t.election_public_key, &agg, s).unwrap();
    }
    let indices: Vec<u32> = t
        .decryption_shares
        .iter()
        .map(|s| s.trustee_index)
        .collect();
    let lambdas = lagrange_at_zero(&indices);
    for (l, e) in lambdas.iter().zip(&t.lagrange_coefficients) {
        assert_eq!(*l, e.coefficient.0);
    }
    for (m, &count) in t.decrypted.iter().zip(&t.counts) {
        assert_eq!(
            m.decode().unwrap(),
            &Scalar::from(count) * RISTRETTO_BASEPOINT_TABLE
        );
    }
    let counts = combine_decryption_shares(
        &t.context,
        &t.election_public_key,
        &agg,
        &t.decryption_shares,
        t.ballot_count,
    )
    .unwrap();
    assert_eq!(counts, t.counts);
    let mut expected = vec![0u64; t.candidates];
    for e in &b.ballots {
        expected[e.candidate_index] += 1;
    }
    assert_eq!(counts, expected);
}

#[test]
fn invalid_decryption_shares_fail_with_their_expected_error() {
    let t: TallyFile = read("tally.json");
    let f: InvalidTallyFile = read("invalid_tally.json");
    assert!(!f.vectors.is_empty());
    for v in &f.vectors {
        let got = from_value::<Vec<DecryptionShare>>("decryption shares", &v.decryption_shares)
            .and_then(|shares| {
                combine_decryption_shares(
                    &t.context,
                    &t.election_public_key,
                    &t.aggregate,
                    &shares,
                    v.ballot_count,
                )
            });
        let err = got.expect_err(&v.name);
        assert_eq!(err.code(), v.expected_error, "{}: {err}", v.name);
    }
}

#[test]
fn invalid_ceremony_messages_fail_with_their_expected_error() {
    let f: InvalidCeremonyFile = read("invalid_ceremony.json");
    assert!(!f.vectors.is_empty());
    for v in &f.vectors {
        let got = from_value::<Vec<TrusteeRound1>>("round 1", &v.round1).and_then(|msgs| match &v
            .share
        {
            Some(share) => {
                let share: SecretShare = from_value("share", share)?;
                let dealer = msgs
                    .iter()
                    .find(|m| m.index == share.dealer)
                    .expect("the dealer's message is there");
                verify_share(&f.params, dealer, &share)
            }
            None => ElectionPublicKey::from_round1(&f.params, &msgs).map(|_| ()),
        });
        let err = got.expect_err(&v.name);
        assert_eq!(err.code(), v.expected_error, "{}: {err}", v.name);
    }
}

#[test]
fn transcripts_hash_to_the_proofs_challenges() {
    let f: TranscriptsFile = read("transcripts.json");
    let b: BallotsFile = read("ballots.json");
    let c: CeremonyFile = read("ceremony.json");
    let t: TallyFile = read("tally.json");
    let first = &b.ballots[0].ballot;
    for e in &f.examples {
        let bytes = hex::decode(e.transcript.strip_prefix("0x").expect("0x")).expect("hex");
        assert_eq!(challenge_of(&bytes), e.challenge.0, "{}", e.name);
        // Proofs in commitment form carry their commitments; the others
        // carry their challenge.
        let p0 = &first.selections[0].proof;
        match e.name.as_str() {
            "zero_one" => assert_eq!(e.commitments, [p0.u0, p0.v0, p0.u1, p0.v1]),
            "sum" => assert_eq!(e.commitments, [first.sum_proof.u, first.sum_proof.v]),
            "knowledge" => assert_eq!(c.round1[0].pok.c.0, e.challenge.0),
            "decryption" => assert_eq!(t.decryption_shares[0].shares[0].proof.c.0, e.challenge.0),
            other => panic!("unknown example {other}"),
        }
        // Every commitment appears, in order, at the end of the transcript.
        let tail: Vec<u8> = e
            .commitments
            .iter()
            .flat_map(|p| {
                let mut f = 32u32.to_be_bytes().to_vec();
                f.extend_from_slice(p.as_bytes());
                f
            })
            .collect();
        assert!(bytes.ends_with(&tail), "{}", e.name);
    }
}
