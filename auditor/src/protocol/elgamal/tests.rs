use super::prove::{Encryptor, ceremony};
use super::*;

fn ctx(voter: u8) -> BallotContext {
    BallotContext {
        chain_id: [1; 32],
        election_id: 1,
        nullifier: [voter; 32],
        origin: [2; 32],
    }
}

#[test]
fn a_batch_holds_exactly_when_every_ballot_verifies() {
    let (trustees, _) = ceremony(1, 3, 2, b"batch test");
    let key = ElectionKey::from_round1(1, &trustees).unwrap();
    let enc = Encryptor::new(key.public_key);
    let ballots: Vec<(BallotContext, EncryptedBallot)> = (0..20u8)
        .map(|v| (ctx(v), enc.ballot(&ctx(v), usize::from(v) % 3, 3, &[v])))
        .collect();
    fn items(b: &[(BallotContext, EncryptedBallot)]) -> Vec<(BallotContext, &EncryptedBallot)> {
        b.iter().map(|(c, b)| (*c, b)).collect()
    }
    assert!(ballots_hold_together(&items(&ballots), &key, 3));
    assert!(!ballots_hold_together(&items(&ballots), &key, 4));

    // Responses off by +d and -d in two ballots: with equal weights the
    // errors would cancel; the hashed weights differ, so they do not.
    let mut spoiled = ballots.clone();
    let d = Scalar::from(5u64);
    spoiled[4].1.sum_proof.z = Sc(spoiled[4].1.sum_proof.z.0 + d);
    spoiled[9].1.sum_proof.z = Sc(spoiled[9].1.sum_proof.z.0 - d);
    assert!(!ballots_hold_together(&items(&spoiled), &key, 3));
    for (i, (c, b)) in spoiled.iter().enumerate() {
        let alone = verify_ballot(c, &key, b, 3);
        assert_eq!(alone.is_ok(), i != 4 && i != 9, "ballot {i}");
    }
    // One ballot checked in another voter's context.
    let mut moved = items(&ballots);
    moved[7].0 = ctx(200);
    assert!(!ballots_hold_together(&moved, &key, 3));
    assert_eq!(
        verify_ballot(&moved[7].0, &key, moved[7].1, 3),
        Err(CryptoError::BadZeroOneProof(0))
    );
}
