//! The auditor's cryptography against schema/vectors/crypto/ (PROTOCOL.md
//! E.1-E.6): it recomputes the election key from the ceremony's round-1
//! messages, accepts every valid ballot, rebuilds every transcript byte for
//! byte, decrypts the tally to its counts, and refuses every invalid ballot,
//! ceremony and share set with exactly its expected error, from the
//! protocol text alone (this crate does not use the appliance's code).

use std::path::PathBuf;

use super::{
    BallotContext, Ciphertext, DecryptionShare, ElectionKey, ElectionTrustees, EncryptedBallot,
    Point, Sc, combine, lagrange_at_zero, t01, tdec, tpok, tsum, verify_ballot,
};
use crate::protocol::Hash32;
use serde_json::Value;

fn read(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schema/vectors/crypto")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn b32(v: &Value) -> [u8; 32] {
    Hash32::parse(v.as_str().unwrap()).unwrap().0
}

fn pt(v: &Value) -> Point {
    Point::parse(v.as_str().unwrap()).unwrap()
}

fn context(v: &Value) -> BallotContext {
    BallotContext {
        chain_id: b32(&v["chain_id"]),
        election_id: v["election_id"].as_u64().unwrap(),
        nullifier: b32(&v["nullifier"]),
        origin: b32(&v["origin"]),
    }
}

fn key() -> ElectionKey {
    let c = read("ceremony.json");
    let trustees = ElectionTrustees {
        trustees: c["params"]["trustees"].as_u64().unwrap() as u32,
        threshold: c["params"]["threshold"].as_u64().unwrap() as u32,
        round1: serde_json::from_value(c["round1"].clone()).unwrap(),
    };
    ElectionKey::from_round1(1, &trustees).unwrap()
}

#[test]
fn the_election_key_is_recomputed_from_round_1() {
    let c = read("ceremony.json");
    let k = key();
    let want = &c["election_public_key"];
    assert_eq!(k.public_key, pt(&want["public_key"]));
    let shares: Vec<Point> = want["trustee_shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| pt(&s["public_share"]))
        .collect();
    assert_eq!(k.public_shares, shares);
    // Each trustee's key file holds the public share anyone computes.
    for t in c["trustee_keys"].as_array().unwrap() {
        let j = t["index"].as_u64().unwrap() as u32;
        assert_eq!(k.public_share(j).unwrap(), &pt(&t["public_share"]));
    }
}

#[test]
fn every_valid_ballot_verifies_and_every_transcript_is_rebuilt() {
    let k = key();
    let b = read("ballots.json");
    assert_eq!(pt(&b["public_key"]), k.public_key);
    let n = b["candidates"].as_u64().unwrap() as usize;
    let ballots: Vec<(BallotContext, EncryptedBallot)> = b["ballots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let ctx = context(&v["context"]);
            let ballot: EncryptedBallot = serde_json::from_value(v["ballot"].clone()).unwrap();
            verify_ballot(&ctx, &k, &ballot, n).unwrap_or_else(|e| panic!("{}: {e}", v["context"]));
            (ctx, ballot)
        })
        .collect();
    assert_eq!(ballots.len(), 6);

    let t = read("transcripts.json");
    let tally = read("tally.json");
    let ceremony = read("ceremony.json");
    let h = k.public_key.as_bytes();
    for ex in t["examples"].as_array().unwrap() {
        let cm: Vec<[u8; 32]> = ex["commitments"]
            .as_array()
            .unwrap()
            .iter()
            .map(b32)
            .collect();
        let (ctx, ballot) = &ballots[0];
        let built = match ex["name"].as_str().unwrap() {
            "zero_one" => t01(
                ctx,
                n,
                0,
                h,
                &ballot.selections[0].ciphertext,
                [&cm[0], &cm[1], &cm[2], &cm[3]],
            ),
            "sum" => tsum(
                ctx,
                h,
                ballot.selections.iter().map(|s| &s.ciphertext),
                &cm[0],
                &cm[1],
            ),
            "knowledge" => {
                let m = &ceremony["round1"][0];
                let commitments: Vec<Point> =
                    serde_json::from_value(m["commitments"].clone()).unwrap();
                tpok(1, 3, 2, 1, &commitments, &cm[0])
            }
            "decryption" => {
                let agg: Vec<Ciphertext> =
                    serde_json::from_value(tally["aggregate"].clone()).unwrap();
                let d = pt(&tally["decryption_shares"][0]["shares"][0]["d"]);
                tdec(
                    &b32(&tally["context"]["chain_id"]),
                    1,
                    h,
                    1,
                    0,
                    &agg[0],
                    k.public_share(1).unwrap().as_bytes(),
                    d.as_bytes(),
                    &cm[0],
                    &cm[1],
                )
            }
            other => panic!("unknown example {other}"),
        };
        let hex = format!("0x{}", hex::encode(built.bytes()));
        assert_eq!(hex, ex["transcript"].as_str().unwrap(), "{}", ex["name"]);
        let c = Sc(built.challenge()).to_hex();
        assert_eq!(c, ex["challenge"].as_str().unwrap(), "{}", ex["name"]);
    }
}

#[test]
fn the_tally_decrypts_to_its_counts() {
    let k = key();
    let t = read("tally.json");
    let chain_id = b32(&t["context"]["chain_id"]);
    let agg: Vec<Ciphertext> = serde_json::from_value(t["aggregate"].clone()).unwrap();
    // The aggregate is the sum of the ballots' ciphertexts.
    let b = read("ballots.json");
    for (i, total) in agg.iter().enumerate() {
        let (mut a, mut bb) = (
            Point::identity().point().to_owned(),
            Point::identity().point().to_owned(),
        );
        for v in b["ballots"].as_array().unwrap() {
            let ballot: EncryptedBallot = serde_json::from_value(v["ballot"].clone()).unwrap();
            a += ballot.selections[i].ciphertext.a.point();
            bb += ballot.selections[i].ciphertext.b.point();
        }
        assert_eq!(Point::from_point(a), total.a);
        assert_eq!(Point::from_point(bb), total.b);
    }
    let shares: Vec<DecryptionShare> =
        serde_json::from_value(t["decryption_shares"].clone()).unwrap();
    let idx: Vec<u32> = shares.iter().map(|s| s.trustee_index).collect();
    let lambdas = lagrange_at_zero(&idx);
    for (l, want) in lambdas
        .iter()
        .zip(t["lagrange_coefficients"].as_array().unwrap())
    {
        assert_eq!(Sc(*l).to_hex(), want["coefficient"].as_str().unwrap());
    }
    let n = t["ballot_count"].as_u64().unwrap();
    let counts = combine(&chain_id, &k, &agg, &shares, n).unwrap();
    let want: Vec<u64> = t["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert_eq!(counts, want);
}

#[test]
fn every_invalid_ballot_is_refused_with_its_error() {
    let k = key();
    let v = read("invalid_ballots.json");
    let n = v["candidates"].as_u64().unwrap() as usize;
    let vectors = v["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 20);
    for x in vectors {
        let name = x["name"].as_str().unwrap();
        let want = x["expected_error"].as_str().unwrap();
        let got = match serde_json::from_value::<EncryptedBallot>(x["ballot"].clone()) {
            Err(_) => "encoding".to_string(),
            Ok(ballot) => {
                let err = verify_ballot(&context(&x["context"]), &k, &ballot, n).expect_err(name);
                if let Some(i) = x["expected_index"].as_u64() {
                    assert_eq!(
                        err,
                        super::CryptoError::BadZeroOneProof(i as usize),
                        "{name}"
                    );
                }
                err.code().to_string()
            }
        };
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn every_invalid_share_set_and_ceremony_is_refused_with_its_error() {
    let k = key();
    let t = read("tally.json");
    let chain_id = b32(&t["context"]["chain_id"]);
    let agg: Vec<Ciphertext> = serde_json::from_value(t["aggregate"].clone()).unwrap();
    for x in read("invalid_tally.json")["vectors"].as_array().unwrap() {
        let name = x["name"].as_str().unwrap();
        let want = x["expected_error"].as_str().unwrap();
        let got =
            match serde_json::from_value::<Vec<DecryptionShare>>(x["decryption_shares"].clone()) {
                Err(_) => "encoding".to_string(),
                Ok(shares) => {
                    let n = x["ballot_count"].as_u64().unwrap();
                    combine(&chain_id, &k, &agg, &shares, n)
                        .expect_err(name)
                        .code()
                        .to_string()
                }
            };
        assert_eq!(got, want, "{name}");
    }
    // Round-1 messages are public and in the genesis: the auditor checks
    // them. A round-2 share travels only between trustees; checking one is
    // the trustee's job (`evote-appliance trustee keygen`), not an audit's.
    let c = read("invalid_ceremony.json");
    let mut checked = 0;
    for x in c["vectors"].as_array().unwrap() {
        if !x["share"].is_null() {
            continue;
        }
        let name = x["name"].as_str().unwrap();
        let trustees = ElectionTrustees {
            trustees: c["params"]["trustees"].as_u64().unwrap() as u32,
            threshold: c["params"]["threshold"].as_u64().unwrap() as u32,
            round1: serde_json::from_value(x["round1"].clone()).unwrap(),
        };
        let err = ElectionKey::from_round1(1, &trustees).expect_err(name);
        assert_eq!(err.code(), x["expected_error"].as_str().unwrap(), "{name}");
        checked += 1;
    }
    assert!(checked >= 5, "{checked}");
}
