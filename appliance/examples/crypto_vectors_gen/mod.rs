//! The deterministic generator of the encrypted-ballot and tally test
//! vectors in `schema/vectors/crypto/`.
//!
//! Shared by `examples/make_crypto_vectors.rs`, which writes the files, and
//! `tests/crypto_vectors.rs`, which checks that the committed files are
//! exactly what this code makes and that every vector verifies or fails as
//! labelled. All randomness comes from ChaCha20 generators with fixed
//! seeds, so every run produces the same bytes.
//!
//! It does not run the checks itself: every invalid vector names the check
//! it was built to break, and the test checks that the library agrees.

#![allow(dead_code)]

use std::collections::BTreeMap;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use evote_core::ledger::canonical::sha256;
use evote_core::ledger::crypto::pkcs8_from_seed;
use evote_core::ledger::elgamal::ballot::{
    prove_sum, prove_zero_one, sum_transcript, zero_one_transcript,
};
use evote_core::ledger::elgamal::decrypt::{
    decryption_commitments, decryption_transcript, lagrange_at_zero,
};
use evote_core::ledger::elgamal::dkg::{knowledge_commitment, knowledge_transcript};
use evote_core::ledger::elgamal::{
    BallotContext, CeremonyParams, Ciphertext, DecryptionShare, ElectionPublicKey, EncryptedBallot,
    EncryptionKey, Point, PublicScalar, SecretScalar, SecretShare, Selection, TallyContext,
    TrusteeKey, TrusteeRound1, aggregate, decryption_share, encrypt_ballot, round1, round2,
};
use evote_core::ledger::nullifier::nullifier;
use evote_core::ledger::{Hash32, NodeKey, PublicKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::Choice;

/// Where the files go, relative to the workspace root.
pub const VECTORS_DIR: &str = "schema/vectors/crypto";

/// The command that rewrites the files, run from the workspace root.
pub const REGENERATE: &str =
    "cargo run -p evote-appliance --example make_crypto_vectors -- schema/vectors/crypto";

pub const ELECTION: u64 = 1;
pub const TRUSTEES: u32 = 3;
pub const THRESHOLD: u32 = 2;
pub const CANDIDATES: usize = 3;
/// The trustees whose decryption shares `tally.json` combines.
pub const DECRYPTING: [u32; 2] = [1, 3];
/// Each valid ballot's candidate index, in `ballots.json` order.
pub const VOTES: [usize; 6] = [0, 1, 1, 2, 1, 2];

const NULLIFIER_SECRET: &[u8; 32] = b"evote-test-nullifier-secret-0001";
const VALIDATOR_SEED: u8 = 0x01;
const STATION_SEED: u8 = 0x64;

// One ChaCha20 stream per part, so that changing one part leaves the
// others' bytes alone.
const SEED_CEREMONY: u64 = 0xe1ec_0001;
const SEED_BALLOTS: u64 = 0xe1ec_0002;
const SEED_INVALID: u64 = 0xe1ec_0003;
const SEED_TALLY: u64 = 0xe1ec_0004;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn public_key(seed: u8) -> PublicKey {
    NodeKey::from_pkcs8(&pkcs8_from_seed(&[seed; 32]))
        .expect("a seed makes a valid key")
        .public()
}

/// The made-up chain id of the vectors: SHA-256 of an ASCII label.
pub fn chain_id() -> Hash32 {
    sha256(b"evote/v1 crypto test vectors: chain")
}

pub fn params() -> CeremonyParams {
    CeremonyParams::new(ELECTION, TRUSTEES, THRESHOLD).expect("valid parameters")
}

pub fn tally_context() -> TallyContext {
    TallyContext {
        chain_id: chain_id(),
        election_id: ELECTION,
    }
}

/// The context of voter `v` (1-based): odd voters vote at validator-1,
/// even ones at station-1.
pub fn context(v: usize) -> BallotContext {
    let origin = if v % 2 == 1 {
        VALIDATOR_SEED
    } else {
        STATION_SEED
    };
    BallotContext {
        chain_id: chain_id(),
        election_id: ELECTION,
        nullifier: nullifier(
            NULLIFIER_SECRET,
            ELECTION,
            &format!("voter-{v}@example.org"),
        )
        .expect("secret is long enough"),
        origin: public_key(origin),
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("vectors serialize");
    s.push('\n');
    s
}

fn value<T: Serialize>(x: &T) -> Value {
    serde_json::to_value(x).expect("vectors serialize")
}

/// The election key with its table, for making ballots.
fn enc(pk: &Point) -> EncryptionKey {
    EncryptionKey::new(pk).expect("not the identity")
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn random_scalar(r: &mut ChaCha20Rng) -> Scalar {
    Scalar::random(r)
}

// ---------------------------------------------------------------------
// File shapes.

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeremonyFile {
    pub description: String,
    pub params: CeremonyParams,
    pub round1: Vec<TrusteeRound1>,
    /// Every share f_i(j), dealer-major: (1,1), (1,2), ..., (n,n).
    pub shares: Vec<SecretShare>,
    pub trustee_keys: Vec<TrusteeKey>,
    pub election_public_key: ElectionPublicKey,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotEntry {
    pub context: BallotContext,
    /// The plaintext: test data only, never on a real chain.
    pub candidate_index: usize,
    pub ballot: EncryptedBallot,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotsFile {
    pub description: String,
    pub public_key: Point,
    pub candidates: usize,
    pub ballots: Vec<BallotEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidBallot {
    pub name: String,
    pub description: String,
    pub context: BallotContext,
    /// As received: may not even parse.
    pub ballot: Value,
    pub expected_error: String,
    /// For `bad_zero_one_proof`: the candidate index reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_index: Option<usize>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidBallotsFile {
    pub description: String,
    pub public_key: Point,
    pub candidates: usize,
    pub vectors: Vec<InvalidBallot>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LagrangeEntry {
    pub index: u32,
    pub coefficient: PublicScalar,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TallyFile {
    pub description: String,
    pub context: TallyContext,
    pub election_public_key: ElectionPublicKey,
    pub candidates: usize,
    pub ballot_count: u64,
    pub aggregate: Vec<Ciphertext>,
    pub decryption_shares: Vec<DecryptionShare>,
    pub lagrange_coefficients: Vec<LagrangeEntry>,
    /// M_i = B_i - Σ λ_j D_{j,i} = counts[i]·G.
    pub decrypted: Vec<Point>,
    pub counts: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidTally {
    pub name: String,
    pub description: String,
    /// As received: may not even parse.
    pub decryption_shares: Value,
    pub ballot_count: u64,
    pub expected_error: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidTallyFile {
    pub description: String,
    pub vectors: Vec<InvalidTally>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidCeremony {
    pub name: String,
    pub description: String,
    pub round1: Value,
    /// When set, the check is of this share against its dealer's round-1
    /// message; otherwise of the round-1 messages as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<Value>,
    pub expected_error: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidCeremonyFile {
    pub description: String,
    pub params: CeremonyParams,
    pub vectors: Vec<InvalidCeremony>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptExample {
    pub name: String,
    pub description: String,
    /// The recomputed commitments, in transcript order.
    pub commitments: Vec<Point>,
    /// The whole transcript.
    pub transcript: String,
    /// SHA-512(transcript) reduced modulo ℓ.
    pub challenge: PublicScalar,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptsFile {
    pub description: String,
    pub examples: Vec<TranscriptExample>,
}

// ---------------------------------------------------------------------
// Generation.

pub struct World {
    pub ceremony: CeremonyFile,
    pub ballots: BallotsFile,
    pub tally: TallyFile,
}

fn ceremony() -> CeremonyFile {
    let params = params();
    let mut r = rng(SEED_CEREMONY);
    let mut round1s = Vec::new();
    let mut by_dealer = Vec::new();
    for i in 1..=TRUSTEES {
        let (msg, shares) = round1(&params, i, &mut r).expect("round 1");
        round1s.push(msg);
        by_dealer.push(shares);
    }
    let trustee_keys = (1..=TRUSTEES)
        .map(|j| {
            let mine: Vec<SecretShare> = by_dealer
                .iter()
                .map(|s| s[j as usize - 1].clone())
                .collect();
            round2(&params, j, &round1s, &mine).expect("round 2")
        })
        .collect();
    let election_public_key =
        ElectionPublicKey::from_round1(&params, &round1s).expect("public data");
    CeremonyFile {
        description: format!(
            "A key ceremony for election {ELECTION}: {THRESHOLD} of {TRUSTEES} trustees can \
             decrypt. round1 holds each trustee's public message, shares every secret share \
             f_i(j) (each travels only from dealer i to recipient j in a real ceremony), \
             trustee_keys what each trustee keeps after round 2, and election_public_key what \
             anyone computes from round1 alone. TEST ONLY: never use these keys."
        ),
        params,
        round1: round1s,
        shares: by_dealer.into_iter().flatten().collect(),
        trustee_keys,
        election_public_key,
    }
}

fn ballots(pk: &Point) -> BallotsFile {
    let mut r = rng(SEED_BALLOTS);
    let ballots = VOTES
        .iter()
        .enumerate()
        .map(|(v, &choice)| {
            let context = context(v + 1);
            BallotEntry {
                context,
                candidate_index: choice,
                ballot: encrypt_ballot(&context, &enc(pk), choice, CANDIDATES, &mut r)
                    .expect("encrypts"),
            }
        })
        .collect();
    BallotsFile {
        description: format!(
            "Valid encrypted ballots of {} voters for an election with {CANDIDATES} candidates, \
             under public_key (the election key of ceremony.json). Each verifies in its own \
             context. candidate_index is the plaintext, given for testing only.",
            VOTES.len()
        ),
        public_key: *pk,
        candidates: CANDIDATES,
        ballots,
    }
}

/// A ballot-shaped object whose plaintexts are `ms`, with 0/1 proofs by
/// the honest prover claiming `claims` and a sum proof by the honest prover
/// with the summed randomness.
fn forged(
    c: &BallotContext,
    pk: &Point,
    ms: &[Scalar],
    claims: &[bool],
    r: &mut ChaCha20Rng,
) -> EncryptedBallot {
    let n = ms.len();
    let rs: Vec<Scalar> = (0..n).map(|_| random_scalar(r)).collect();
    let cts: Vec<Ciphertext> = ms
        .iter()
        .zip(&rs)
        .map(|(m, ri)| Ciphertext::encrypt(&enc(pk), m, ri))
        .collect();
    let selections = (0..n)
        .map(|i| Selection {
            ciphertext: cts[i],
            proof: prove_zero_one(
                c,
                n,
                i,
                &enc(pk),
                &cts[i],
                Choice::from(u8::from(claims[i])),
                &rs[i],
                r,
            ),
        })
        .collect();
    let refs: Vec<&Ciphertext> = cts.iter().collect();
    let r_sum: Scalar = rs.iter().sum();
    EncryptedBallot {
        selections,
        sum_proof: prove_sum(c, &enc(pk), &refs, &r_sum, r),
    }
}

fn invalid_ballots(pk: &Point) -> InvalidBallotsFile {
    let mut r = rng(SEED_INVALID);
    let ctx = context(101);
    let s = |x: u64| Scalar::from(x);
    let mut out = Vec::new();
    let mut push = |name: &str,
                    description: &str,
                    context: BallotContext,
                    ballot: Value,
                    expected_error: &str,
                    expected_index: Option<usize>| {
        out.push(InvalidBallot {
            name: name.into(),
            description: description.into(),
            context,
            ballot,
            expected_error: expected_error.into(),
            expected_index,
        });
    };

    let b = forged(
        &ctx,
        pk,
        &[s(2), -s(1), s(0)],
        &[true, false, false],
        &mut r,
    );
    push(
        "two_for_one_candidate",
        "Candidate 0's ciphertext encrypts 2 and candidate 1's encrypts -1 (so the sum is 1 \
         and the sum proof is valid); candidate 0's 0/1 proof was made by the honest prover \
         claiming 1 with the real randomness, and cannot verify.",
        ctx,
        value(&b),
        "bad_zero_one_proof",
        Some(0),
    );
    let b = forged(
        &ctx,
        pk,
        &[s(0), s(2), -s(1)],
        &[false, false, false],
        &mut r,
    );
    push(
        "two_claimed_as_zero",
        "Candidate 1's ciphertext encrypts 2 (candidate 2's -1, sum 1, valid sum proof); its \
         0/1 proof claims 0.",
        ctx,
        value(&b),
        "bad_zero_one_proof",
        Some(1),
    );
    let mut b = forged(
        &ctx,
        pk,
        &[s(2), -s(1), s(0)],
        &[true, false, false],
        &mut r,
    );
    b.selections[0].proof.c0 = random_scalar(&mut r).into();
    b.selections[0].proof.z0 = random_scalar(&mut r).into();
    b.selections[0].proof.z1 = random_scalar(&mut r).into();
    push(
        "two_with_random_proof",
        "Candidate 0 encrypts 2 (sum 1, valid sum proof); its 0/1 proof's c0, z0 and z1 are \
         random scalars.",
        ctx,
        value(&b),
        "bad_zero_one_proof",
        Some(0),
    );
    let b = forged(&ctx, pk, &[s(1), s(1), s(0)], &[true, true, false], &mut r);
    push(
        "two_ones",
        "Candidates 0 and 1 both encrypt 1: every 0/1 proof is valid, the sum proof (made with \
         the summed randomness) is not.",
        ctx,
        value(&b),
        "bad_sum_proof",
        None,
    );
    let b = forged(
        &ctx,
        pk,
        &[s(0), s(0), s(0)],
        &[false, false, false],
        &mut r,
    );
    push(
        "no_one",
        "Every ciphertext encrypts 0 (a blank ballot): the sum proof is not valid.",
        ctx,
        value(&b),
        "bad_sum_proof",
        None,
    );

    let x = encrypt_ballot(&ctx, &enc(pk), 0, CANDIDATES, &mut r).expect("encrypts");
    let y = encrypt_ballot(&ctx, &enc(pk), 0, CANDIDATES, &mut r).expect("encrypts");
    let mut b = x.clone();
    b.selections[1].proof = y.selections[1].proof;
    push(
        "copied_zero_one_proof",
        "A valid ballot whose candidate-1 proof is taken from another valid ballot of the same \
         context (other ciphertexts).",
        ctx,
        value(&b),
        "bad_zero_one_proof",
        Some(1),
    );
    let mut b = x.clone();
    b.sum_proof = y.sum_proof;
    push(
        "copied_sum_proof",
        "A valid ballot whose sum proof is taken from another valid ballot of the same context.",
        ctx,
        value(&b),
        "bad_sum_proof",
        None,
    );
    let mut b = x.clone();
    b.selections[2] = y.selections[2];
    push(
        "copied_selection",
        "A valid ballot whose candidate-2 ciphertext and 0/1 proof (valid together, same \
         context and index) come from another ballot: the sum proof binds every ciphertext.",
        ctx,
        value(&b),
        "bad_sum_proof",
        None,
    );
    let mut b = x.clone();
    b.selections.swap(1, 2);
    push(
        "swapped_selections",
        "A valid ballot with candidates 1 and 2 swapped: each 0/1 proof binds its candidate \
         index.",
        ctx,
        value(&b),
        "bad_zero_one_proof",
        Some(1),
    );

    let mut others = Vec::new();
    let mut o = ctx;
    o.chain_id = sha256(b"evote/v1 crypto test vectors: another chain");
    others.push(("other_chain", "chain_id", o));
    let mut o = ctx;
    o.election_id = ELECTION + 1;
    others.push(("other_election", "election_id", o));
    let mut o = ctx;
    o.nullifier = context(102).nullifier;
    others.push(("other_nullifier", "nullifier (another voter's)", o));
    let mut o = ctx;
    o.origin = context(102).origin;
    others.push(("other_origin", "origin (another appliance)", o));
    for (name, what, o) in others {
        let b = encrypt_ballot(&o, &enc(pk), 2, CANDIDATES, &mut r).expect("encrypts");
        push(
            name,
            &format!(
                "A valid ballot made for another {what}, presented in this context: the first \
                 proof checked already fails."
            ),
            ctx,
            value(&b),
            "bad_zero_one_proof",
            Some(0),
        );
    }

    let good = value(&encrypt_ballot(&ctx, &enc(pk), 1, CANDIDATES, &mut r).expect("encrypts"));
    push(
        "too_few_selections",
        "A valid ballot of the same context for an election of 2 candidates, checked against \
         3.",
        ctx,
        value(&encrypt_ballot(&ctx, &enc(pk), 1, 2, &mut r).expect("encrypts")),
        "wrong_length",
        None,
    );
    push(
        "too_many_selections",
        "A valid ballot of the same context for an election of 4 candidates, checked against \
         3.",
        ctx,
        value(&encrypt_ballot(&ctx, &enc(pk), 1, 4, &mut r).expect("encrypts")),
        "wrong_length",
        None,
    );

    let ell = "0xedd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
    let mut v = good.clone();
    v["selections"][0]["proof"]["z1"] = ell.into();
    push(
        "non_canonical_scalar",
        "Candidate 0's z1 is ℓ itself (the group order; canonical scalars are below it).",
        ctx,
        v,
        "encoding",
        None,
    );
    let mut v = good.clone();
    let z = v["sum_proof"]["z"].as_str().expect("hex").to_string();
    let z_plus_l = add_ell(&z);
    v["sum_proof"]["z"] = z_plus_l.into();
    push(
        "scalar_plus_order",
        "The sum proof's z plus ℓ: the same residue, but not the canonical encoding.",
        ctx,
        v,
        "encoding",
        None,
    );
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut v = good.clone();
    v["selections"][1]["ciphertext"]["a"] = hex(&one).into();
    push(
        "invalid_point",
        "Candidate 1's A is the 32-byte little-endian encoding of 1, which decodes to no \
         Ristretto255 element.",
        ctx,
        v,
        "encoding",
        None,
    );
    let mut v = good.clone();
    let a = *EncryptedBallot::deserialize(&good)
        .expect("parses")
        .selections[0]
        .ciphertext
        .a
        .as_bytes();
    v["selections"][0]["ciphertext"]["a"] = hex(&field_negate(&a)).into();
    push(
        "negative_point_encoding",
        "Candidate 0's A replaced by p - s, where s is its valid encoding: a field element with \
         the low bit set (\"negative\"), refused by Ristretto255 decoding.",
        ctx,
        v,
        "encoding",
        None,
    );
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut v = good.clone();
    v["selections"][2]["ciphertext"]["b"] = hex(&p).into();
    push(
        "non_canonical_point",
        "Candidate 2's B is p = 2^255 - 19 itself, a non-canonical field encoding (of 0).",
        ctx,
        v,
        "encoding",
        None,
    );
    let mut v = good.clone();
    let upper = v["selections"][0]["ciphertext"]["b"]
        .as_str()
        .expect("hex")
        .to_uppercase()
        .replacen("0X", "0x", 1);
    v["selections"][0]["ciphertext"]["b"] = upper.into();
    push(
        "uppercase_hex",
        "Candidate 0's B in uppercase hex.",
        ctx,
        v,
        "encoding",
        None,
    );
    let mut v = good.clone();
    let z = v["sum_proof"]["z"].as_str().expect("hex")[..64].to_string();
    v["sum_proof"]["z"] = z.into();
    push(
        "short_scalar",
        "The sum proof's z with 62 hex digits.",
        ctx,
        v,
        "encoding",
        None,
    );
    let mut v = good.clone();
    v["selections"][0]["proof"]["c1"] = v["selections"][0]["proof"]["c0"].clone();
    push(
        "unknown_member",
        "Candidate 0's proof has an extra member c1 (it is c - c0, never sent): objects are \
         closed.",
        ctx,
        v,
        "encoding",
        None,
    );
    let mut v = good;
    v["sum_proof"].as_object_mut().expect("object").remove("z");
    push(
        "missing_member",
        "The sum proof has no z.",
        ctx,
        v,
        "encoding",
        None,
    );

    InvalidBallotsFile {
        description: format!(
            "Ballots that must be refused, for an election with {CANDIDATES} candidates under \
             public_key. Parse `ballot` strictly (refusals are `encoding`), then verify it in \
             `context`; the first failing check gives `expected_error` (and, for a 0/1 proof, \
             `expected_index`)."
        ),
        public_key: *pk,
        candidates: CANDIDATES,
        vectors: out,
    }
}

/// `x + ℓ` for a canonical scalar `x` given in hex (little-endian); still
/// below 2^256 since x < ℓ < 2^253.
fn add_ell(x: &str) -> String {
    let ell = hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
        .expect("hex");
    let x = hex::decode(&x[2..]).expect("hex");
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(x[i]) + u16::from(ell[i]) + carry;
        out[i] = (s & 0xff) as u8;
        carry = s >> 8;
    }
    hex(&out)
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

fn tally(ceremony: &CeremonyFile, ballots: &BallotsFile) -> TallyFile {
    let mut r = rng(SEED_TALLY);
    let ctx = tally_context();
    let public = &ceremony.election_public_key;
    let agg = aggregate(ballots.ballots.iter().map(|b| &b.ballot), CANDIDATES).expect("aggregates");
    let shares: Vec<DecryptionShare> = DECRYPTING
        .iter()
        .map(|&j| {
            decryption_share(&ctx, &ceremony.trustee_keys[j as usize - 1], &agg, &mut r)
                .expect("decrypts")
        })
        .collect();
    let lambdas = lagrange_at_zero(&DECRYPTING);
    let decrypted: Vec<Point> = (0..CANDIDATES)
        .map(|i| {
            let scalars = std::iter::once(Scalar::ONE).chain(lambdas.iter().map(|l| -l));
            let points = std::iter::once(agg[i].b.decode().unwrap())
                .chain(shares.iter().map(|s| s.shares[i].d.decode().unwrap()));
            Point::from_point(RistrettoPoint::vartime_multiscalar_mul(scalars, points))
        })
        .collect();
    let mut counts = vec![0u64; CANDIDATES];
    for b in &ballots.ballots {
        counts[b.candidate_index] += 1;
    }
    for (m, &c) in decrypted.iter().zip(&counts) {
        assert_eq!(
            m.decode().unwrap(),
            &Scalar::from(c) * RISTRETTO_BASEPOINT_TABLE,
            "the generator's own tally"
        );
    }
    TallyFile {
        description: format!(
            "The tally of the {} ballots of ballots.json: the per-candidate aggregate, the \
             decryption shares of trustees {:?} (of ceremony.json), their Lagrange coefficients \
             at 0, the decrypted points M_i = counts[i]·G, and the counts.",
            ballots.ballots.len(),
            DECRYPTING
        ),
        context: ctx,
        election_public_key: public.clone(),
        candidates: CANDIDATES,
        ballot_count: ballots.ballots.len() as u64,
        aggregate: agg,
        decryption_shares: shares,
        lagrange_coefficients: DECRYPTING
            .iter()
            .zip(&lambdas)
            .map(|(&index, l)| LagrangeEntry {
                index,
                coefficient: (*l).into(),
            })
            .collect(),
        decrypted,
        counts,
    }
}

fn invalid_tally(ceremony: &CeremonyFile, t: &TallyFile) -> InvalidTallyFile {
    let mut r = rng(SEED_TALLY + 100);
    let ctx = tally_context();
    let [s1, s3] = [
        t.decryption_shares[0].clone(),
        t.decryption_shares[1].clone(),
    ];
    let s2 =
        decryption_share(&ctx, &ceremony.trustee_keys[1], &t.aggregate, &mut r).expect("decrypts");
    let n = t.ballot_count;
    let mut out = Vec::new();
    let mut push = |name: &str, description: &str, shares: Value, ballot_count: u64, err: &str| {
        out.push(InvalidTally {
            name: name.into(),
            description: description.into(),
            decryption_shares: shares,
            ballot_count,
            expected_error: err.into(),
        });
    };
    let mut wrong = s3.clone();
    wrong.shares[1].d = Point::from_point(
        wrong.shares[1].d.decode().unwrap()
            + ceremony.election_public_key.public_key.decode().unwrap(),
    );
    push(
        "wrong_partial_decryption",
        "Trustee 3's D for candidate 1 has H added to it (its proof left as it was).",
        value(&vec![s1.clone(), wrong]),
        n,
        "bad_decryption_share",
    );
    let mut relabelled = s3.clone();
    relabelled.trustee_index = 2;
    push(
        "relabelled_share",
        "Trustee 3's valid share presented as trustee 2's.",
        value(&vec![s1.clone(), relabelled]),
        n,
        "bad_decryption_share",
    );
    let mut other = s2.clone();
    other.shares[0] = s3.shares[0];
    push(
        "partial_decryption_of_another_trustee",
        "Trustee 2's share whose candidate-0 entry (D and proof) is trustee 3's.",
        value(&vec![s1.clone(), other]),
        n,
        "bad_decryption_share",
    );
    push(
        "too_few_shares",
        "One valid share; the threshold is 2.",
        value(&vec![s1.clone()]),
        n,
        "too_few_shares",
    );
    push(
        "duplicate_trustee",
        "Trustee 1's valid share twice.",
        value(&vec![s1.clone(), s1.clone()]),
        n,
        "duplicate_trustee",
    );
    let mut stranger = s3.clone();
    stranger.trustee_index = TRUSTEES + 1;
    push(
        "unknown_trustee",
        "A share naming trustee 4 of a 3-trustee ceremony.",
        value(&vec![s1.clone(), stranger]),
        n,
        "unknown_trustee",
    );
    let mut short = s3.clone();
    short.shares.pop();
    push(
        "too_few_partial_decryptions",
        "Trustee 3's share without its last candidate.",
        value(&vec![s1.clone(), short]),
        n,
        "wrong_length",
    );
    push(
        "wrong_ballot_count",
        "Valid shares, but a ballot count one above the number of aggregated ballots: the \
         counts add up to one less.",
        value(&vec![s1.clone(), s3.clone()]),
        n + 1,
        "count_mismatch",
    );
    push(
        "bound_below_a_count",
        "Valid shares, but a ballot count of 2: candidate 1 has 3 votes, outside 0..=2.",
        value(&vec![s1.clone(), s3.clone()]),
        2,
        "tally_out_of_range",
    );
    let mut bad_d = value(&vec![s1, s3]);
    let mut one = [0u8; 32];
    one[0] = 1;
    bad_d[1]["shares"][0]["d"] = hex(&one).into();
    push(
        "invalid_point",
        "Trustee 3's D for candidate 0 is not a group element encoding.",
        bad_d,
        n,
        "encoding",
    );
    InvalidTallyFile {
        description: "Decryption shares that must be refused when combined with the context, \
                      election_public_key and aggregate of tally.json. Parse \
                      `decryption_shares` strictly (refusals are `encoding`), then combine \
                      them with `ballot_count`; the first failing check gives \
                      `expected_error`."
            .into(),
        vectors: out,
    }
}

fn invalid_ceremony(c: &CeremonyFile) -> InvalidCeremonyFile {
    let params = c.params;
    let mut out = Vec::new();
    let mut push =
        |name: &str, description: &str, round1: Value, share: Option<Value>, err: &str| {
            out.push(InvalidCeremony {
                name: name.into(),
                description: description.into(),
                round1,
                share,
                expected_error: err.into(),
            });
        };
    let good = || c.round1.clone();

    // Share f_1(2) + 1.
    let bad = SecretShare {
        dealer: 1,
        recipient: 2,
        value: SecretScalar::new(c.shares[1].value.expose() + Scalar::ONE),
    };
    push(
        "bad_share",
        "Dealer 1's share for trustee 2, plus one: it does not match dealer 1's commitments.",
        value(&good()),
        Some(value(&bad)),
        "bad_share",
    );
    let swapped = SecretShare {
        dealer: 1,
        recipient: 2,
        value: c.shares[2].value.clone(),
    };
    push(
        "share_for_another_trustee",
        "Dealer 1's share for trustee 3, presented as its share for trustee 2.",
        value(&good()),
        Some(value(&swapped)),
        "bad_share",
    );
    let mut m = good();
    m[1].pok = m[0].pok;
    push(
        "copied_knowledge_proof",
        "Trustee 2's proof of knowledge is trustee 1's.",
        value(&m),
        None,
        "bad_knowledge_proof",
    );
    let mut m = good();
    let x = &Scalar::from(12345u64) * RISTRETTO_BASEPOINT_TABLE;
    m[2].commitments[0] = Point::from_point(
        x - m[0].commitments[0].decode().unwrap() - m[1].commitments[0].decode().unwrap(),
    );
    push(
        "rogue_key",
        "Trustee 3 publishes C_3,0 = X - C_1,0 - C_2,0 for X = 12345·G, so that the joint key \
         would be X; it cannot prove knowledge of C_3,0's discrete logarithm.",
        value(&m),
        None,
        "bad_knowledge_proof",
    );
    let mut m = good();
    let extra = m[0].commitments[0];
    m[0].commitments.push(extra);
    push(
        "too_many_commitments",
        "Trustee 1 publishes 3 commitments for a threshold of 2.",
        value(&m),
        None,
        "wrong_length",
    );
    let mut m = good();
    m.pop();
    push(
        "missing_dealer",
        "Trustee 3's round-1 message is missing.",
        value(&m),
        None,
        "missing_trustee",
    );
    let mut m = good();
    m[2] = m[0].clone();
    push(
        "duplicate_dealer",
        "Trustee 1's round-1 message twice, trustee 3's missing.",
        value(&m),
        None,
        "duplicate_trustee",
    );
    InvalidCeremonyFile {
        description: "Key-ceremony messages that must be refused, for params. With `share`: \
                      check that share against its dealer's message in `round1`. Without: \
                      compute the election public key from `round1` (every message verified). \
                      The first failing check gives `expected_error`."
            .into(),
        params,
        vectors: out,
    }
}

fn transcripts(c: &CeremonyFile, b: &BallotsFile, t: &TallyFile) -> TranscriptsFile {
    let pk = &b.public_key;
    let first = &b.ballots[0];
    let mut examples = Vec::new();

    let s0 = &first.ballot.selections[0];
    let cm = s0.proof.commitments();
    let tr = zero_one_transcript(&first.context, CANDIDATES, 0, pk, &s0.ciphertext, cm);
    examples.push(TranscriptExample {
        name: "zero_one".into(),
        description: "The 0/1 proof of candidate 0 of ballots.json's first ballot: commitments \
                      [U0, V0, U1, V1] (the proof's u0, v0, u1, v1); challenge = c0 + c1."
            .into(),
        commitments: cm.into_iter().copied().collect(),
        transcript: hex(tr.as_bytes()),
        challenge: tr.challenge().into(),
    });

    let cts: Vec<&Ciphertext> = first.ballot.ciphertexts().collect();
    let sp = &first.ballot.sum_proof;
    let tr = sum_transcript(&first.context, pk, cts.iter().copied(), [&sp.u, &sp.v]);
    examples.push(TranscriptExample {
        name: "sum".into(),
        description: "The sum proof of ballots.json's first ballot: commitments [U, V] (the \
                      proof's u, v); challenge = c."
            .into(),
        commitments: vec![sp.u, sp.v],
        transcript: hex(tr.as_bytes()),
        challenge: tr.challenge().into(),
    });

    let m1 = &c.round1[0];
    let u = knowledge_commitment(m1)
        .expect("decodes")
        .expect("has commitments");
    let tr = knowledge_transcript(&c.params, m1.index, &m1.commitments, &u);
    examples.push(TranscriptExample {
        name: "knowledge".into(),
        description: "Trustee 1's proof of knowledge in ceremony.json: commitment [U]; \
                      challenge = c."
            .into(),
        commitments: vec![u],
        transcript: hex(tr.as_bytes()),
        challenge: tr.challenge().into(),
    });

    let share = &t.decryption_shares[0];
    let p_j = t
        .election_public_key
        .public_share(share.trustee_index)
        .expect("a trustee");
    let pd = &share.shares[0];
    let cm = decryption_commitments(p_j, &t.aggregate[0], pd).expect("decodes");
    let tr = decryption_transcript(
        &t.context,
        &t.election_public_key.public_key,
        share.trustee_index,
        0,
        &t.aggregate[0],
        p_j,
        &pd.d,
        [&cm[0], &cm[1]],
    );
    examples.push(TranscriptExample {
        name: "decryption".into(),
        description: format!(
            "Trustee {}'s partial decryption of candidate 0 in tally.json: commitments [U, V]; \
             challenge = c.",
            share.trustee_index
        ),
        commitments: cm.to_vec(),
        transcript: hex(tr.as_bytes()),
        challenge: tr.challenge().into(),
    });

    TranscriptsFile {
        description: "Fiat-Shamir transcripts of one proof of each kind, with the commitments \
                      a verifier recomputes, for debugging an implementation byte by byte. \
                      Each challenge is SHA-512(transcript) read as a little-endian integer \
                      modulo ℓ, and equals the proof's challenge."
            .into(),
        examples,
    }
}

/// Every generated file, by path relative to `schema/vectors/crypto/`.
pub fn generate() -> BTreeMap<String, String> {
    let ceremony = ceremony();
    let ballots = ballots(&ceremony.election_public_key.public_key);
    let invalid = invalid_ballots(&ceremony.election_public_key.public_key);
    let tally = tally(&ceremony, &ballots);
    let invalid_tally = invalid_tally(&ceremony, &tally);
    let invalid_ceremony = invalid_ceremony(&ceremony);
    let transcripts = transcripts(&ceremony, &ballots, &tally);

    let mut files = BTreeMap::new();
    files.insert(
        "README.md".into(),
        readme(&invalid, &invalid_tally, &invalid_ceremony),
    );
    files.insert("ceremony.json".into(), to_json(&ceremony));
    files.insert("ballots.json".into(), to_json(&ballots));
    files.insert("invalid_ballots.json".into(), to_json(&invalid));
    files.insert("tally.json".into(), to_json(&tally));
    files.insert("invalid_tally.json".into(), to_json(&invalid_tally));
    files.insert("invalid_ceremony.json".into(), to_json(&invalid_ceremony));
    files.insert("transcripts.json".into(), to_json(&transcripts));
    files
}

fn rows<'a>(items: impl Iterator<Item = (&'a str, String, &'a str)>) -> String {
    let mut out = String::new();
    for (name, code, description) in items {
        out.push_str(&format!(
            "| `{name}` | {code} | {} |\n",
            description.replace('|', "\\|")
        ));
    }
    out
}

fn readme(b: &InvalidBallotsFile, t: &InvalidTallyFile, c: &InvalidCeremonyFile) -> String {
    let ballot_rows = rows(b.vectors.iter().map(|v| {
        let code = match v.expected_index {
            Some(i) => format!("`{}` (index {i})", v.expected_error),
            None => format!("`{}`", v.expected_error),
        };
        (v.name.as_str(), code, v.description.as_str())
    }));
    let tally_rows = rows(t.vectors.iter().map(|v| {
        (
            v.name.as_str(),
            format!("`{}`", v.expected_error),
            v.description.as_str(),
        )
    }));
    let ceremony_rows = rows(c.vectors.iter().map(|v| {
        (
            v.name.as_str(),
            format!("`{}`", v.expected_error),
            v.description.as_str(),
        )
    }));
    README_TEMPLATE
        .replace("{COMMAND}", REGENERATE)
        .replace("{BALLOT_ROWS}", &ballot_rows)
        .replace("{TALLY_ROWS}", &tally_rows)
        .replace("{CEREMONY_ROWS}", &ceremony_rows)
}

const README_TEMPLATE: &str = r#"# Encrypted-ballot and tally test vectors

Generated files: do not edit them by hand. They are made by
`appliance/examples/make_crypto_vectors.rs` (logic in
`appliance/examples/crypto_vectors_gen/mod.rs`) from the public API of
`evote_core::ledger::elgamal`, with ChaCha20 generators on fixed seeds, so every run
gives the same bytes. From the workspace root:

```
{COMMAND}
```

`cargo test -p evote-appliance --test crypto_vectors` fails if these files differ from
what the generator makes, or if the library does not accept every valid vector and refuse
every invalid one with exactly its `expected_error`. The auditor (`evote-audit`) must pass
the same files from the section "Encrypted ballots and the tally" of `schema/PROTOCOL.md`
alone. Only verification is reproducible: encryption and proving draw randomness, so an
implementation checks these proofs, it does not regenerate them.

The chain id is SHA-256 of the ASCII string `evote/v1 crypto test vectors: chain` (no
genesis belongs to it); election 1; 3 candidates; the origins are the public keys of
validator-1 and station-1 of `../keys.json`; nullifiers are those of
`voter-N@example.org` under the test nullifier secret of `../keys.json`.

**Test only.** `ceremony.json` publishes every secret share and trustee key, and
`ballots.json` every plaintext. Never use them for a real election.

## Files

| file | holds |
| --- | --- |
| `ceremony.json` | A 2-of-3 key ceremony for election 1: the three round-1 messages, all nine secret shares `f_i(j)`, each trustee's key after round 2, and the election public key (H and every P_j) that anyone computes from the round-1 messages. |
| `ballots.json` | Six valid ballots (votes 0, 1, 1, 2, 1, 2) under H, each with its context (voters 1 to 6; odd voters at validator-1, even at station-1). |
| `tally.json` | The per-candidate aggregate of those six ballots, decryption shares of trustees 1 and 3, their Lagrange coefficients at 0, the decrypted points `M_i = counts[i]·G`, and the counts 1, 3, 2. |
| `transcripts.json` | One Fiat–Shamir transcript of each kind (0/1, sum, proof of knowledge, partial decryption) with its recomputed commitments and challenge, byte for byte. |
| `invalid_ballots.json` | Ballots to refuse (below). Each has the context it is checked in. |
| `invalid_tally.json` | Decryption-share sets to refuse when combined with the aggregate of `tally.json` (below). |
| `invalid_ceremony.json` | Round-1 messages and shares to refuse (below). |

## Invalid ballots

Parse `ballot` strictly (an `encoding` refusal), then verify it in its `context` for 3
candidates; the checks run in the order PROTOCOL.md gives, and the first failure is
`expected_error`.

| name | expected_error | what is wrong |
| --- | --- | --- |
{BALLOT_ROWS}
## Invalid decryption shares

| name | expected_error | what is wrong |
| --- | --- | --- |
{TALLY_ROWS}
## Invalid ceremony messages

| name | expected_error | what is wrong |
| --- | --- | --- |
{CEREMONY_ROWS}"#;
