//! Round trips, the threshold tally, and every way a ballot, a ceremony
//! message or a decryption share must be refused.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::scalar::Scalar;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use subtle::Choice;

use super::ballot::{prove_sum, prove_zero_one};
use super::verify::{verify_sum, verify_zero_one};
use super::*;
use crate::ledger::bytes::{Hash32, PublicKey};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn ctx(voter: u8) -> BallotContext {
    BallotContext {
        chain_id: Hash32([0xc1; 32]),
        election_id: 7,
        nullifier: Hash32([voter; 32]),
        origin: PublicKey([0x0a; 32]),
    }
}

fn tally_ctx() -> TallyContext {
    TallyContext {
        chain_id: Hash32([0xc1; 32]),
        election_id: 7,
    }
}

/// A full ceremony: the public data and every trustee's key.
fn ceremony(
    trustees: u32,
    threshold: u32,
    rng: &mut ChaCha20Rng,
) -> (ElectionPublicKey, Vec<TrusteeRound1>, Vec<TrusteeKey>) {
    let params = CeremonyParams::new(7, trustees, threshold).unwrap();
    let mut msgs = Vec::new();
    let mut all_shares = Vec::new();
    for i in 1..=trustees {
        let (msg, shares) = round1(&params, i, rng).unwrap();
        msgs.push(msg);
        all_shares.push(shares);
    }
    let public = ElectionPublicKey::from_round1(&params, &msgs).unwrap();
    let keys = (1..=trustees)
        .map(|j| {
            let mine: Vec<SecretShare> = all_shares
                .iter()
                .map(|from_i| from_i[j as usize - 1].clone())
                .collect();
            round2(&params, j, &msgs, &mine).unwrap()
        })
        .collect::<Vec<_>>();
    for k in &keys {
        assert_eq!(k.public_key, public.public_key);
        assert_eq!(*public.public_share(k.index).unwrap(), k.public_share);
    }
    (public, msgs, keys)
}

/// A single-trustee key (k = n = 1) for ballot tests.
fn key(seed: u64) -> (Point, TrusteeKey) {
    let (public, _, mut keys) = ceremony(1, 1, &mut rng(seed));
    (public.public_key, keys.remove(0))
}

/// The election key with its table, for making ballots.
fn enc(pk: &Point) -> EncryptionKey {
    EncryptionKey::new(pk).unwrap()
}

fn g(x: u64) -> Scalar {
    Scalar::from(x)
}

#[test]
fn encrypt_and_verify_round_trip() {
    let (pk, _) = key(1);
    let mut r = rng(2);
    for n in [1usize, 2, 5, 10] {
        for choice in [0, n / 2, n - 1] {
            let b = encrypt_ballot(&ctx(1), &enc(&pk), choice, n, &mut r).unwrap();
            assert_eq!(b.selections.len(), n);
            verify_ballot(&ctx(1), &pk, &b, n).unwrap();
            let json = serde_json::to_string(&b).unwrap();
            let back: EncryptedBallot = from_json("ballot", &json).unwrap();
            assert_eq!(back, b);
            verify_ballot(&ctx(1), &pk, &back, n).unwrap();
        }
    }
}

#[test]
fn encrypt_refuses_bad_arguments() {
    let (pk, _) = key(1);
    let mut r = rng(3);
    assert_eq!(
        encrypt_ballot(&ctx(1), &enc(&pk), 3, 3, &mut r),
        Err(CryptoError::CandidateOutOfRange {
            index: 3,
            candidates: 3
        })
    );
    assert!(matches!(
        encrypt_ballot(&ctx(1), &enc(&pk), 0, 0, &mut r),
        Err(CryptoError::BadCandidateCount { .. })
    ));
    assert!(matches!(
        encrypt_ballot(&ctx(1), &enc(&pk), 0, 257, &mut r),
        Err(CryptoError::BadCandidateCount { .. })
    ));
    assert_eq!(
        EncryptionKey::new(&Point::identity()).unwrap_err(),
        CryptoError::IdentityPublicKey
    );
    let b = encrypt_ballot(&ctx(1), &enc(&pk), 0, 2, &mut r).unwrap();
    assert_eq!(
        verify_ballot(&ctx(1), &Point::identity(), &b, 2),
        Err(CryptoError::IdentityPublicKey)
    );
}

#[test]
fn same_vote_encrypts_differently_each_time() {
    let (pk, _) = key(1);
    let mut r = rng(4);
    let a = encrypt_ballot(&ctx(1), &enc(&pk), 1, 3, &mut r).unwrap();
    let b = encrypt_ballot(&ctx(1), &enc(&pk), 1, 3, &mut r).unwrap();
    assert_ne!(a.selections[1].ciphertext, b.selections[1].ciphertext);
}

/// Tallies `votes` (candidate index per ballot) with the given subsets of
/// trustees and checks every subset gives the same counts.
fn tally_with(trustees: u32, threshold: u32, subsets: &[&[u32]], seed: u64) {
    let mut r = rng(seed);
    let (public, _, keys) = ceremony(trustees, threshold, &mut r);
    let pk = public.public_key;
    let n = 4;
    let votes: Vec<usize> = (0..37).map(|i| (i * 7 + i / 3) % n).collect();
    let mut expected = vec![0u64; n];
    let ballots: Vec<EncryptedBallot> = votes
        .iter()
        .enumerate()
        .map(|(v, &c)| {
            expected[c] += 1;
            let b = encrypt_ballot(&ctx(v as u8), &enc(&pk), c, n, &mut r).unwrap();
            verify_ballot(&ctx(v as u8), &pk, &b, n).unwrap();
            b
        })
        .collect();
    let agg = aggregate(&ballots, n).unwrap();
    let shares: Vec<DecryptionShare> = keys
        .iter()
        .map(|k| decryption_share(&tally_ctx(), k, &agg, &mut r).unwrap())
        .collect();
    for s in &shares {
        verify_decryption_share(&tally_ctx(), &public, &agg, s).unwrap();
    }
    for subset in subsets {
        let chosen: Vec<DecryptionShare> = subset
            .iter()
            .map(|&j| shares[j as usize - 1].clone())
            .collect();
        let counts =
            combine_decryption_shares(&tally_ctx(), &public, &agg, &chosen, ballots.len() as u64)
                .unwrap_or_else(|e| panic!("subset {subset:?}: {e}"));
        assert_eq!(counts, expected, "subset {subset:?}");
    }
}

#[test]
fn threshold_tally_1_of_1() {
    tally_with(1, 1, &[&[1]], 10);
}

#[test]
fn threshold_tally_2_of_3_with_every_pair_and_all_three() {
    tally_with(3, 2, &[&[1, 2], &[1, 3], &[2, 3], &[3, 1], &[1, 2, 3]], 11);
}

#[test]
fn threshold_tally_3_of_5_with_several_subsets() {
    tally_with(
        5,
        3,
        &[
            &[1, 2, 3],
            &[3, 4, 5],
            &[1, 3, 5],
            &[5, 2, 4],
            &[1, 2, 3, 4, 5],
        ],
        12,
    );
}

#[test]
fn empty_aggregate_decrypts_to_zero() {
    let mut r = rng(13);
    let (public, _, keys) = ceremony(3, 2, &mut r);
    let agg = aggregate(std::iter::empty(), 3).unwrap();
    assert_eq!(agg, vec![Ciphertext::zero(); 3]);
    let shares: Vec<_> = keys[..2]
        .iter()
        .map(|k| decryption_share(&tally_ctx(), k, &agg, &mut r).unwrap())
        .collect();
    assert_eq!(
        combine_decryption_shares(&tally_ctx(), &public, &agg, &shares, 0).unwrap(),
        vec![0, 0, 0]
    );
}

#[test]
fn homomorphic_addition_adds_plaintexts() {
    let (pk, key) = key(14);
    let a = Ciphertext::encrypt(&enc(&pk), &g(5), &g(11));
    let b = Ciphertext::encrypt(&enc(&pk), &g(8), &g(22));
    let sum = a.add(&b);
    let sum = sum.unwrap();
    assert_eq!(sum, Ciphertext::encrypt(&enc(&pk), &g(13), &g(33)));
    // Full-key decryption (k = n = 1): B - sA = 13 G.
    let m = sum.b.decode().unwrap() - sum.a.decode().unwrap() * key.secret_share.expose();
    assert_eq!(m, &g(13) * RISTRETTO_BASEPOINT_TABLE);
}

// ---------------------------------------------------------------------
// Invalid ballots.

/// A "ballot" whose plaintexts are `ms` (any scalars), with 0/1 proofs
/// made by the honest prover claiming `claims` and a sum proof made by the
/// honest prover with the summed randomness.
fn forged_ballot(
    c: &BallotContext,
    pk: &Point,
    ms: &[Scalar],
    claims: &[bool],
    r: &mut ChaCha20Rng,
) -> EncryptedBallot {
    let n = ms.len();
    let key = enc(pk);
    let rs: Vec<Scalar> = (0..n).map(|_| random_scalar(r)).collect();
    let cts: Vec<Ciphertext> = ms
        .iter()
        .zip(&rs)
        .map(|(m, ri)| Ciphertext::encrypt(&key, m, ri))
        .collect();
    let selections = (0..n)
        .map(|i| Selection {
            ciphertext: cts[i],
            proof: prove_zero_one(
                c,
                n,
                i,
                &key,
                &cts[i],
                Choice::from(claims[i] as u8),
                &rs[i],
                r,
            ),
        })
        .collect();
    let refs: Vec<&Ciphertext> = cts.iter().collect();
    let r_sum: Scalar = rs.iter().sum();
    EncryptedBallot {
        selections,
        sum_proof: prove_sum(c, &key, &refs, &r_sum, r),
    }
}

#[test]
fn a_ciphertext_of_two_fails_its_zero_one_proof() {
    let (pk, _) = key(20);
    let mut r = rng(21);
    let c = ctx(1);
    // 2 for candidate 0 and -1 for candidate 1: the sum is 1, so the sum
    // proof verifies; only the 0/1 proof stops it.
    let minus_one = -Scalar::ONE;
    for claim in [false, true] {
        let b = forged_ballot(&c, &pk, &[g(2), minus_one], &[claim, false], &mut r);
        let cts: Vec<&Ciphertext> = b.ciphertexts().collect();
        assert!(verify_sum(&c, &pk, &cts, &b.sum_proof));
        assert_eq!(
            verify_ballot(&c, &pk, &b, 2),
            Err(CryptoError::BadZeroOneProof { index: 0 })
        );
    }
    // Simulating both branches (no witness at all) fails too: the
    // challenges are fixed before the hash is known.
    let ct = Ciphertext::encrypt(&enc(&pk), &g(2), &g(99));
    let point =
        |r: &mut ChaCha20Rng| Point::from_point(&random_scalar(r) * RISTRETTO_BASEPOINT_TABLE);
    for _ in 0..8 {
        let proof = ZeroOneProof {
            u0: point(&mut r),
            v0: point(&mut r),
            u1: point(&mut r),
            v1: point(&mut r),
            c0: random_scalar(&mut r).into(),
            z0: random_scalar(&mut r).into(),
            z1: random_scalar(&mut r).into(),
        };
        assert!(!verify_zero_one(&c, 2, 0, &pk, &ct, &proof));
    }
    // Two ballot-shaped attempts with the real randomness and the 1-branch
    // or the 0-branch as the "real" one.
    for claim in [Choice::from(0), Choice::from(1)] {
        let proof = prove_zero_one(&c, 2, 0, &enc(&pk), &ct, claim, &g(99), &mut r);
        assert!(!verify_zero_one(&c, 2, 0, &pk, &ct, &proof));
    }
}

#[test]
fn a_ballot_with_two_ones_fails_its_sum_proof() {
    let (pk, _) = key(22);
    let mut r = rng(23);
    let c = ctx(1);
    let b = forged_ballot(&c, &pk, &[g(1), g(1), g(0)], &[true, true, false], &mut r);
    assert_eq!(verify_ballot(&c, &pk, &b, 3), Err(CryptoError::BadSumProof));
    let none = forged_ballot(&c, &pk, &[g(0), g(0), g(0)], &[false, false, false], &mut r);
    assert_eq!(
        verify_ballot(&c, &pk, &none, 3),
        Err(CryptoError::BadSumProof)
    );
}

#[test]
fn proofs_copied_from_another_ballot_fail() {
    let (pk, _) = key(24);
    let mut r = rng(25);
    let c = ctx(1);
    let x = encrypt_ballot(&c, &enc(&pk), 0, 3, &mut r).unwrap();
    let y = encrypt_ballot(&c, &enc(&pk), 0, 3, &mut r).unwrap();

    let mut b = x.clone();
    b.selections[1].proof = y.selections[1].proof;
    assert_eq!(
        verify_ballot(&c, &pk, &b, 3),
        Err(CryptoError::BadZeroOneProof { index: 1 })
    );

    let mut b = x.clone();
    b.sum_proof = y.sum_proof;
    assert_eq!(verify_ballot(&c, &pk, &b, 3), Err(CryptoError::BadSumProof));

    // A whole selection (ciphertext and its valid proof) from another
    // ballot of the same context: its 0/1 proof holds, the sum proof binds
    // every ciphertext of the ballot.
    let mut b = x.clone();
    b.selections[2] = y.selections[2];
    assert_eq!(verify_ballot(&c, &pk, &b, 3), Err(CryptoError::BadSumProof));

    // Selections swapped between candidates: each proof names its index.
    let mut b = x.clone();
    b.selections.swap(1, 2);
    assert_eq!(
        verify_ballot(&c, &pk, &b, 3),
        Err(CryptoError::BadZeroOneProof { index: 1 })
    );
}

#[test]
fn a_ballot_verifies_only_in_its_own_context() {
    let (pk, _) = key(26);
    let (other_pk, _) = key(27);
    let mut r = rng(28);
    let c = ctx(1);
    let b = encrypt_ballot(&c, &enc(&pk), 1, 3, &mut r).unwrap();
    verify_ballot(&c, &pk, &b, 3).unwrap();
    let mut others = Vec::new();
    let mut o = c;
    o.chain_id = Hash32([0xc2; 32]);
    others.push(("chain", o));
    let mut o = c;
    o.election_id = 8;
    others.push(("election", o));
    let mut o = c;
    o.nullifier = Hash32([2; 32]);
    others.push(("nullifier", o));
    let mut o = c;
    o.origin = PublicKey([0x0b; 32]);
    others.push(("origin", o));
    for (what, o) in others {
        assert_eq!(
            verify_ballot(&o, &pk, &b, 3),
            Err(CryptoError::BadZeroOneProof { index: 0 }),
            "{what}"
        );
        // The sum proof alone is bound too.
        let cts: Vec<&Ciphertext> = b.ciphertexts().collect();
        assert!(!verify_sum(&o, &pk, &cts, &b.sum_proof), "{what}");
    }
    assert_eq!(
        verify_ballot(&c, &other_pk, &b, 3),
        Err(CryptoError::BadZeroOneProof { index: 0 })
    );
}

#[test]
fn wrong_lengths_are_refused() {
    let (pk, _) = key(29);
    let mut r = rng(30);
    let c = ctx(1);
    let b = encrypt_ballot(&c, &enc(&pk), 1, 3, &mut r).unwrap();
    assert_eq!(
        verify_ballot(&c, &pk, &b, 4),
        Err(CryptoError::WrongLength {
            what: "ballot selections",
            expected: 4,
            found: 3
        })
    );
    let mut short = b.clone();
    short.selections.pop();
    assert!(matches!(
        verify_ballot(&c, &pk, &short, 3),
        Err(CryptoError::WrongLength { .. })
    ));
    assert!(matches!(
        verify_ballot(&c, &pk, &b, 0),
        Err(CryptoError::BadCandidateCount { .. })
    ));
    assert!(matches!(
        aggregate([&b], 4),
        Err(CryptoError::WrongLength { .. })
    ));
}

#[test]
fn bad_encodings_are_refused() {
    let (pk, _) = key(31);
    let mut r = rng(32);
    let b = encrypt_ballot(&ctx(1), &enc(&pk), 0, 2, &mut r).unwrap();
    let good = serde_json::to_value(&b).unwrap();
    let parse = |v: &serde_json::Value| from_value::<EncryptedBallot>("ballot", v);
    // Points are decoded when used: a bad one passes parsing and fails the
    // ballot's check with the same code.
    let check = |v: &serde_json::Value| {
        let b = parse(v).expect("parses");
        verify_ballot(&ctx(1), &pk, &b, 2)
    };
    assert_eq!(parse(&good).unwrap(), b);

    // Scalar ℓ (non-canonical: the canonical form of the same residue is 0).
    let ell = "0xedd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
    let mut v = good.clone();
    v["selections"][0]["proof"]["z1"] = ell.into();
    assert_eq!(parse(&v).unwrap_err().code(), "encoding");
    // A scalar with the top bit set.
    let mut v = good.clone();
    v["sum_proof"]["z"] = format!("0x{}", "ff".repeat(32)).into();
    assert_eq!(parse(&v).unwrap_err().code(), "encoding");
    // Not a point (s = 1), and a non-canonical field element (s = p).
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut v = good.clone();
    v["selections"][1]["ciphertext"]["a"] = format!("0x{}", hex::encode(one)).into();
    assert_eq!(check(&v).unwrap_err().code(), "encoding");
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut v = good.clone();
    v["selections"][1]["ciphertext"]["b"] = format!("0x{}", hex::encode(p)).into();
    assert_eq!(check(&v).unwrap_err().code(), "encoding");
    // A negative field element: the encoding of -s for a valid s.
    let a = *b.selections[0].ciphertext.a.as_bytes();
    let neg = field_negate(&a);
    let mut v = good.clone();
    v["selections"][0]["ciphertext"]["a"] = format!("0x{}", hex::encode(neg)).into();
    assert_eq!(check(&v).unwrap_err().code(), "encoding");
    // A bad commitment, and a bad point in a batch of good ballots.
    let mut v = good.clone();
    v["selections"][0]["proof"]["v1"] = format!("0x{}", hex::encode(one)).into();
    assert_eq!(check(&v).unwrap_err().code(), "encoding");
    let bad = parse(&v).unwrap();
    let out = verify_ballots(&[(ctx(1), &b), (ctx(1), &bad), (ctx(1), &b)], &pk, 2);
    assert_eq!(out[1].as_ref().unwrap_err().code(), "encoding");
    assert!(out[0].is_ok() && out[2].is_ok());
    // Uppercase hex, missing prefix, short, unknown member.
    let mut v = good.clone();
    let upper = b.selections[0].ciphertext.b.to_hex().to_uppercase();
    v["selections"][0]["ciphertext"]["b"] = upper.replacen("0X", "0x", 1).into();
    assert_eq!(parse(&v).unwrap_err().code(), "encoding");
    let mut v = good.clone();
    v["sum_proof"]["z"] = b.sum_proof.z.to_hex()[2..].to_string().into();
    assert_eq!(parse(&v).unwrap_err().code(), "encoding");
    let mut v = good.clone();
    v["sum_proof"]["z"] = b.sum_proof.z.to_hex()[..64].to_string().into();
    assert_eq!(parse(&v).unwrap_err().code(), "encoding");
    let mut v = good.clone();
    v["extra"] = 1.into();
    assert_eq!(parse(&v).unwrap_err().code(), "encoding");
}

/// `p - x` for a field element `x < p` (little-endian), p = 2^255 - 19.
fn field_negate(x: &[u8; 32]) -> [u8; 32] {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in 0..32 {
        let d = i16::from(p[i]) - i16::from(x[i]) - borrow;
        out[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    out
}

#[test]
fn verify_ballots_reports_each_ballot() {
    let (pk, _) = key(33);
    let mut r = rng(34);
    let good = encrypt_ballot(&ctx(1), &enc(&pk), 0, 2, &mut r).unwrap();
    let other = encrypt_ballot(&ctx(2), &enc(&pk), 1, 2, &mut r).unwrap();
    let items = [(ctx(1), &good), (ctx(1), &other), (ctx(2), &other)];
    let out = verify_ballots(&items, &pk, 2);
    assert_eq!(
        out,
        vec![
            Ok(()),
            Err(CryptoError::BadZeroOneProof { index: 0 }),
            Ok(())
        ]
    );
}

#[test]
fn a_batch_gives_each_ballot_the_result_it_gets_alone() {
    let (pk, _) = key(35);
    let key = enc(&pk);
    let mut r = rng(36);
    let ballots: Vec<(BallotContext, EncryptedBallot)> = (0..40u8)
        .map(|v| {
            (
                ctx(v),
                encrypt_ballot(&ctx(v), &key, usize::from(v) % 3, 3, &mut r).unwrap(),
            )
        })
        .collect();
    let items: Vec<(BallotContext, &EncryptedBallot)> =
        ballots.iter().map(|(c, b)| (*c, b)).collect();
    assert!(verify_ballots(&items, &pk, 3).iter().all(Result::is_ok));

    // Spoil a few in different ways, at different places in the batch.
    let mut spoiled = ballots.clone();
    spoiled[3].1.selections[2].proof.z1 = (spoiled[3].1.selections[2].proof.z1.0 + g(1)).into();
    spoiled[17].1.sum_proof.v = spoiled[18].1.sum_proof.v;
    spoiled[29].1.selections.pop();
    spoiled[39].0 = ctx(200);
    let items: Vec<(BallotContext, &EncryptedBallot)> =
        spoiled.iter().map(|(c, b)| (*c, b)).collect();
    let out = verify_ballots(&items, &pk, 3);
    for (i, (c, b)) in spoiled.iter().enumerate() {
        assert_eq!(out[i], verify_ballot(c, &pk, b, 3), "ballot {i}");
    }
    assert_eq!(out[3], Err(CryptoError::BadZeroOneProof { index: 2 }));
    assert_eq!(out[17], Err(CryptoError::BadSumProof));
    assert!(matches!(out[29], Err(CryptoError::WrongLength { .. })));
    assert_eq!(out[39], Err(CryptoError::BadZeroOneProof { index: 0 }));
    assert_eq!(out.iter().filter(|x| x.is_err()).count(), 4);
}

#[test]
fn errors_that_cancel_out_do_not_pass_a_batch() {
    // Two ballots whose sum-proof responses are off by +d and -d: with the
    // same weight on every equation their errors would cancel in the sum.
    // The weights differ (they hash every response), so both are caught.
    let (pk, _) = key(37);
    let key = enc(&pk);
    let mut r = rng(38);
    let mut a = encrypt_ballot(&ctx(1), &key, 0, 2, &mut r).unwrap();
    let mut b = encrypt_ballot(&ctx(2), &key, 1, 2, &mut r).unwrap();
    let d = g(7);
    a.sum_proof.z = (a.sum_proof.z.0 + d).into();
    b.sum_proof.z = (b.sum_proof.z.0 - d).into();
    let out = verify_ballots(&[(ctx(1), &a), (ctx(2), &b)], &pk, 2);
    assert_eq!(out, vec![Err(CryptoError::BadSumProof); 2]);
}

// ---------------------------------------------------------------------
// Key ceremony.

#[test]
fn ceremony_refuses_bad_messages_and_shares() {
    let mut r = rng(40);
    let params = CeremonyParams::new(7, 3, 2).unwrap();
    let (m1, s1) = round1(&params, 1, &mut r).unwrap();
    let (m2, s2) = round1(&params, 2, &mut r).unwrap();
    let (m3, s3) = round1(&params, 3, &mut r).unwrap();
    let msgs = vec![m1.clone(), m2.clone(), m3.clone()];
    let for_2 = || vec![s1[1].clone(), s2[1].clone(), s3[1].clone()];
    round2(&params, 2, &msgs, &for_2()).unwrap();

    // Parameters.
    assert!(CeremonyParams::new(7, 3, 4).is_err());
    assert!(CeremonyParams::new(7, 0, 0).is_err());
    assert!(CeremonyParams::new(7, MAX_TRUSTEES + 1, 1).is_err());
    assert_eq!(
        round1(&params, 4, &mut r).unwrap_err(),
        CryptoError::UnknownTrustee {
            index: 4,
            trustees: 3
        }
    );

    // A share that does not match the dealer's commitments.
    let mut bad = for_2();
    bad[2].value = SecretScalar::new(bad[2].value.expose() + Scalar::ONE);
    assert_eq!(
        round2(&params, 2, &msgs, &bad).unwrap_err(),
        CryptoError::BadShare {
            dealer: 3,
            recipient: 2
        }
    );
    // Another recipient's share.
    assert_eq!(
        verify_share(
            &params,
            &m1,
            &SecretShare {
                dealer: 1,
                recipient: 2,
                value: s1[2].value.clone()
            }
        ),
        Err(CryptoError::BadShare {
            dealer: 1,
            recipient: 2
        })
    );
    // A duplicate or missing share.
    let mut dup = for_2();
    dup[2] = dup[1].clone();
    assert_eq!(
        round2(&params, 2, &msgs, &dup).unwrap_err(),
        CryptoError::DuplicateTrustee { index: 2 }
    );
    assert_eq!(
        round2(&params, 2, &msgs, &for_2()[..2]).unwrap_err(),
        CryptoError::MissingTrustee { index: 3 }
    );

    // A proof of knowledge for another election or shape, or copied from
    // another dealer.
    let other = CeremonyParams::new(8, 3, 2).unwrap();
    assert_eq!(
        verify_round1(&other, &m1),
        Err(CryptoError::BadKnowledgeProof { index: 1 })
    );
    let mut stolen = m2.clone();
    stolen.pok = m1.pok;
    assert_eq!(
        verify_round1(&params, &stolen),
        Err(CryptoError::BadKnowledgeProof { index: 2 })
    );
    // Rogue key: dealer 3 publishes C_3,0 = X - C_1,0 - C_2,0 for a key X
    // of its choice; it cannot prove knowledge of its discrete log.
    let x = &g(12345) * RISTRETTO_BASEPOINT_TABLE;
    let mut rogue = m3.clone();
    rogue.commitments[0] = Point::from_point(
        x - m1.commitments[0].decode().unwrap() - m2.commitments[0].decode().unwrap(),
    );
    assert_eq!(
        ElectionPublicKey::from_round1(&params, &[m1.clone(), m2.clone(), rogue]),
        Err(CryptoError::BadKnowledgeProof { index: 3 })
    );
    // Wrong number of commitments.
    let mut long = m1.clone();
    long.commitments.push(m1.commitments[0]);
    assert!(matches!(
        verify_round1(&params, &long),
        Err(CryptoError::WrongLength { .. })
    ));
    // Missing and duplicate dealers.
    assert_eq!(
        ElectionPublicKey::from_round1(&params, &msgs[..2]),
        Err(CryptoError::MissingTrustee { index: 3 })
    );
    assert_eq!(
        ElectionPublicKey::from_round1(&params, &[m1.clone(), m1.clone(), m3.clone()]),
        Err(CryptoError::DuplicateTrustee { index: 1 })
    );
    // Order does not matter.
    assert_eq!(
        ElectionPublicKey::from_round1(&params, &[m3, m1, m2]).unwrap(),
        ElectionPublicKey::from_round1(&params, &msgs).unwrap()
    );
}

#[test]
fn secrets_are_not_printed() {
    let mut r = rng(41);
    let (_, _, keys) = ceremony(2, 2, &mut r);
    let secret_hex = keys[0].secret_share.to_hex();
    let dbg = format!("{:?}", keys[0]);
    assert!(!dbg.contains(&secret_hex[2..]), "{dbg}");
    let params = CeremonyParams::new(7, 2, 2).unwrap();
    let (_, shares) = round1(&params, 1, &mut r).unwrap();
    let dbg = format!("{:?}", shares[0]);
    assert!(!dbg.contains(&shares[0].value.to_hex()[2..]), "{dbg}");
    // The key file round-trips; a damaged one is refused.
    let json = serde_json::to_string(&keys[0]).unwrap();
    let back: TrusteeKey = from_json("trustee key", &json).unwrap();
    assert_eq!(back, keys[0]);
    back.check().unwrap();
    let mut damaged = back.clone();
    damaged.secret_share = SecretScalar::new(Scalar::ONE);
    assert!(matches!(damaged.check(), Err(CryptoError::BadParams(_))));
    let agg = vec![Ciphertext::zero()];
    assert!(decryption_share(&tally_ctx(), &damaged, &agg, &mut r).is_err());
}

// ---------------------------------------------------------------------
// Decryption shares.

struct Tally {
    public: ElectionPublicKey,
    agg: Vec<Ciphertext>,
    shares: Vec<DecryptionShare>,
    count: u64,
}

fn small_tally(seed: u64) -> Tally {
    let mut r = rng(seed);
    let (public, _, keys) = ceremony(3, 2, &mut r);
    let pk = public.public_key;
    let ballots: Vec<EncryptedBallot> = [0, 1, 1, 2, 1]
        .iter()
        .enumerate()
        .map(|(v, &c)| encrypt_ballot(&ctx(v as u8), &enc(&pk), c, 3, &mut r).unwrap())
        .collect();
    let agg = aggregate(&ballots, 3).unwrap();
    let shares = keys
        .iter()
        .map(|k| decryption_share(&tally_ctx(), k, &agg, &mut r).unwrap())
        .collect();
    Tally {
        public,
        agg,
        shares,
        count: ballots.len() as u64,
    }
}

#[test]
fn a_wrong_decryption_share_fails_its_proof() {
    let t = small_tally(50);
    let tc = tally_ctx();
    let combine = |shares: &[DecryptionShare]| {
        combine_decryption_shares(&tc, &t.public, &t.agg, shares, t.count)
    };
    assert_eq!(
        combine(&t.shares[..2]).unwrap(),
        vec![1, 3, 1],
        "the honest tally"
    );

    // D changed (a trustee lying about its partial decryption).
    let mut bad = t.shares[1].clone();
    bad.shares[2].d = Point::from_point(
        bad.shares[2].d.decode().unwrap() + t.public.public_key.decode().unwrap(),
    );
    assert_eq!(
        verify_decryption_share(&tc, &t.public, &t.agg, &bad),
        Err(CryptoError::BadDecryptionShare {
            trustee: 2,
            candidate: 2
        })
    );
    assert_eq!(
        combine(&[t.shares[0].clone(), bad]),
        Err(CryptoError::BadDecryptionShare {
            trustee: 2,
            candidate: 2
        })
    );

    // Trustee 3's share presented as trustee 2's.
    let mut relabelled = t.shares[2].clone();
    relabelled.trustee_index = 2;
    assert_eq!(
        verify_decryption_share(&tc, &t.public, &t.agg, &relabelled),
        Err(CryptoError::BadDecryptionShare {
            trustee: 2,
            candidate: 0
        })
    );

    // A share made for another chain or election.
    let mut other = tc;
    other.chain_id = Hash32([0xc2; 32]);
    assert!(matches!(
        verify_decryption_share(&other, &t.public, &t.agg, &t.shares[0]),
        Err(CryptoError::BadDecryptionShare { .. })
    ));
    let mut other = tc;
    other.election_id = 8;
    assert!(matches!(
        verify_decryption_share(&other, &t.public, &t.agg, &t.shares[0]),
        Err(CryptoError::BadParams(_))
    ));

    // A share of another aggregate (one more ballot).
    let mut agg2 = t.agg.clone();
    agg2[0] = agg2[0]
        .add(&Ciphertext::encrypt(
            &enc(&t.public.public_key),
            &Scalar::ONE,
            &g(5),
        ))
        .unwrap();
    assert!(matches!(
        verify_decryption_share(&tc, &t.public, &agg2, &t.shares[0]),
        Err(CryptoError::BadDecryptionShare {
            trustee: 1,
            candidate: 0
        })
    ));

    // Wrong number of partial decryptions; unknown trustee.
    let mut short = t.shares[0].clone();
    short.shares.pop();
    assert!(matches!(
        verify_decryption_share(&tc, &t.public, &t.agg, &short),
        Err(CryptoError::WrongLength { .. })
    ));
    let mut stranger = t.shares[0].clone();
    stranger.trustee_index = 4;
    assert_eq!(
        combine(&[t.shares[0].clone(), stranger]),
        Err(CryptoError::UnknownTrustee {
            index: 4,
            trustees: 3
        })
    );
}

#[test]
fn combine_refuses_too_few_and_duplicate_shares() {
    let t = small_tally(51);
    let tc = tally_ctx();
    let combine = |shares: &[DecryptionShare]| {
        combine_decryption_shares(&tc, &t.public, &t.agg, shares, t.count)
    };
    assert_eq!(
        combine(&t.shares[..1]),
        Err(CryptoError::TooFewShares { have: 1, need: 2 })
    );
    assert_eq!(
        combine(&[]),
        Err(CryptoError::TooFewShares { have: 0, need: 2 })
    );
    assert_eq!(
        combine(&[t.shares[0].clone(), t.shares[0].clone()]),
        Err(CryptoError::DuplicateTrustee { index: 1 })
    );
    // A bound below the true count, and a wrong ballot count.
    assert_eq!(
        combine_decryption_shares(&tc, &t.public, &t.agg, &t.shares[..2], 2),
        Err(CryptoError::TallyOutOfRange {
            candidate: 1,
            bound: 2
        })
    );
    assert_eq!(
        combine_decryption_shares(&tc, &t.public, &t.agg, &t.shares[..2], 6),
        Err(CryptoError::CountMismatch { sum: 5, ballots: 6 })
    );
    assert!(matches!(
        combine_decryption_shares(&tc, &t.public, &t.agg, &t.shares[..2], MAX_TALLY + 1),
        Err(CryptoError::BoundTooLarge { .. })
    ));
}

#[test]
fn lagrange_coefficients_interpolate_at_zero() {
    // f(x) = 3 + 5x + 7x^2; any 3 points give f(0) = 3.
    let f = |x: u64| g(3) + g(5) * g(x) + g(7) * g(x * x);
    for xs in [[1u32, 2, 3], [2, 4, 5], [5, 1, 3]] {
        let l = decrypt::lagrange_at_zero(&xs);
        let at0: Scalar = xs.iter().zip(&l).map(|(&x, li)| f(u64::from(x)) * li).sum();
        assert_eq!(at0, g(3));
    }
    assert_eq!(decrypt::lagrange_at_zero(&[4]), vec![Scalar::ONE]);
}

#[test]
fn a_checked_ballots_ciphertext_points_wait_in_the_bounded_memo_until_the_tally_takes_them() {
    let (pk, _) = key(3);
    let mut r = rng(4);
    let b = encrypt_ballot(&ctx(9), &enc(&pk), 1, 3, &mut r).unwrap();
    // As parsed from the wire: bytes only, nothing decoded.
    let b: EncryptedBallot = from_json("ballot", &serde_json::to_string(&b).unwrap()).unwrap();
    let a0 = *b.selections[0].ciphertext.a.as_bytes();
    assert!(!memo::remembered(&a0));
    verify_ballot(&ctx(9), &pk, &b, 3).unwrap();
    for s in &b.selections {
        assert!(memo::remembered(s.ciphertext.a.as_bytes()));
        assert!(memo::remembered(s.ciphertext.b.as_bytes()));
    }
    let mut tally = crate::ledger::TallyState::empty(7, 3);
    tally.add([&b]).unwrap();
    assert!(!memo::remembered(&a0), "taken by the tally");
    // Taken or decoded, the sum is the same.
    assert_eq!(tally.aggregate, aggregate([&b], 3).unwrap());
    let mut again = crate::ledger::TallyState::empty(7, 3);
    again.add([&b]).unwrap();
    assert_eq!(again.aggregate, tally.aggregate);

    // Bounded: the oldest go first. (In this test, not one of its own: the
    // memo is shared, and the first half must not see this one's eviction.)
    use curve25519_dalek::ristretto::RistrettoPoint;
    let p = RistrettoPoint::default();
    let many: Vec<([u8; 32], RistrettoPoint)> = (0..memo::MAX_REMEMBERED_POINTS as u32 + 10)
        .map(|i| {
            let mut k = [0xee; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            (k, p)
        })
        .collect();
    memo::remember(&many);
    assert!(!memo::remembered(&many[0].0), "the oldest went first");
    assert!(memo::remembered(&many.last().unwrap().0));
}
