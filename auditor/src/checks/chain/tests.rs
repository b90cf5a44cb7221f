//! The chain rules on synthetic chains: ballot proofs and their binding,
//! decryption shares (rule 21), ciphertext reuse, and the tally.

use curve25519_dalek::scalar::Scalar;

use crate::checks::Finding;
use crate::checks::tally::decrypt_all;
use crate::protocol::elgamal::Sc;
use crate::protocol::{SignedTx, Transaction};
use crate::synth::{SynthBlock, SynthChain, T0, short_election};

const NOW: u64 = T0 + 86_400_000;

/// The same blocks re-made from their transactions, so that every link,
/// root and seal is right again after an edit.
fn rechain(c: &SynthChain, blocks: &[SynthBlock]) -> Vec<SynthBlock> {
    let mut prev = c.chain_id;
    let mut out = Vec::new();
    for b in blocks {
        let nb = c.block(b.header.height, prev, b.header.timestamp_ms, b.txs.clone());
        prev = nb.block_hash;
        out.push(nb);
    }
    out
}

fn codes(f: &[Finding]) -> Vec<(&'static str, &'static str, Option<u64>, Option<usize>)> {
    f.iter()
        .map(|f| (f.check, f.code, f.height, f.position))
        .collect()
}

fn edited(c: &SynthChain, blocks: &mut [SynthBlock], h: usize, p: usize, stx: SignedTx) {
    blocks[h - 1].txs[p] = stx;
    let again = rechain(c, blocks);
    for (b, n) in blocks.iter_mut().zip(again) {
        *b = n;
    }
}

#[test]
fn a_sound_chain_passes_and_its_tally_decrypts() {
    let (c, mut blocks) = short_election();
    let tally = c.tally_blocks(&blocks, &[1, 3]);
    blocks.extend(tally);
    let (rules, state, findings, _) = c.audit(&blocks, NOW);
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(state.ballots, 12);
    let d = decrypt_all(&rules, &state);
    let t = d[0].result().expect("decrypted");
    assert_eq!(t.tally_height, 4);
    assert_eq!(t.ballot_count, 12);
    assert_eq!(t.result.as_ref().unwrap(), &vec![4, 4, 4]);
    assert_eq!(t.shares.iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 3]);
}

#[test]
fn a_forged_proof_is_refused() {
    let (c, mut blocks) = short_election();
    let stx = blocks[1].txs[2].clone();
    let key = c.key_of(stx.tx.origin()).unwrap();
    let forged = c.resign(&stx, key, |b| {
        let p = &mut b.ballot.selections[1].proof;
        p.c0 = Sc(p.c0.0 + Scalar::ONE);
    });
    edited(&c, &mut blocks, 2, 2, forged);
    let (_, _, f, _) = c.audit(&blocks, NOW);
    assert_eq!(
        codes(&f),
        vec![("tx.ballot_proofs", "bad_ballot", Some(2), Some(2))]
    );
    assert!(f[0].found.starts_with("bad_zero_one_proof"), "{f:#?}");

    // A sum proof for another ballot: the sum proof binds every ciphertext.
    let (c, mut blocks) = short_election();
    let other = blocks[0].txs[0].tx.as_ballot().unwrap().ballot.sum_proof;
    let stx = blocks[2].txs[1].clone();
    let key = c.key_of(stx.tx.origin()).unwrap();
    let forged = c.resign(&stx, key, |b| b.ballot.sum_proof = other);
    edited(&c, &mut blocks, 3, 1, forged);
    let (_, _, f, _) = c.audit(&blocks, NOW);
    assert_eq!(
        codes(&f),
        vec![("tx.ballot_proofs", "bad_ballot", Some(3), Some(1))]
    );
    assert!(f[0].found.starts_with("bad_sum_proof"), "{f:#?}");
}

#[test]
fn proofs_are_bound_to_the_origin_and_the_nullifier() {
    // A ballot moved to another appliance of the genesis, signed by it:
    // its proofs were made for the first one.
    let (c, mut blocks) = short_election();
    let stx = blocks[0].txs[1].clone();
    let other = if *stx.tx.origin() == c.validators[0].public {
        &c.validators[1]
    } else {
        &c.validators[0]
    };
    let moved = c.resign(&stx, other, |b| b.origin = other.public);
    edited(&c, &mut blocks, 1, 1, moved);
    let (_, _, f, _) = c.audit(&blocks, NOW);
    assert_eq!(
        codes(&f),
        vec![("tx.ballot_proofs", "bad_ballot", Some(1), Some(1))]
    );

    // Another voter's nullifier on the same ballot.
    let (c, mut blocks) = short_election();
    let stx = blocks[0].txs[1].clone();
    let key = c.key_of(stx.tx.origin()).unwrap();
    let renamed = c.resign(&stx, key, |b| b.nullifier = SynthChain::nullifier(999));
    edited(&c, &mut blocks, 1, 1, renamed);
    let (_, _, f, _) = c.audit(&blocks, NOW);
    assert_eq!(
        codes(&f),
        vec![("tx.ballot_proofs", "bad_ballot", Some(1), Some(1))]
    );
}

#[test]
fn a_second_ballot_of_a_voter_and_reused_randomness_are_caught() {
    // The same ballot again, accepted a second later: one voter, two ballots.
    let (c, mut blocks) = short_election();
    let stx = blocks[0].txs[0].clone();
    let key = c.key_of(stx.tx.origin()).unwrap();
    let again = c.resign(&stx, key, |b| b.submitted_at_ms += 1);
    blocks[2].txs.push(again);
    let blocks = rechain(&c, &blocks);
    let (_, _, f, _) = c.audit(&blocks, NOW);
    assert_eq!(
        codes(&f),
        vec![(
            "tx.nullifier_unique",
            "duplicate_nullifier",
            Some(3),
            Some(4)
        )]
    );
    assert!(f[0].found.contains("height 1 position 0"), "{f:#?}");

    // A new voter's ballot made with ballot 0's randomness: valid proofs,
    // but the same A, which tells how the two votes differ.
    let (c, mut blocks) = short_election();
    let ts = blocks[2].header.timestamp_ms - 10;
    let twin = c.ballot_for(c.origin(0), 1000, 2, ts, b"synthetic ballot 0");
    blocks[2].txs.push(twin);
    let blocks = rechain(&c, &blocks);
    let (_, _, f, _) = c.audit(&blocks, NOW);
    assert_eq!(
        codes(&f),
        vec![(
            "tx.ciphertext_unique",
            "duplicate_ciphertext",
            Some(3),
            Some(4)
        )]
    );
    assert!(f[0].found.contains("same randomness"), "{f:#?}");
}

/// A spoiled ballot publishes its randomness (PROTOCOL.md §4e): a ballot
/// cast later with one of its ciphertexts shows its vote, and is caught.
#[test]
fn a_ballot_cast_with_a_spoiled_ballots_ciphertexts_is_caught() {
    use crate::protocol::SpoiledBallotTx;
    let (c, mut blocks) = short_election();
    let cast = blocks[2].txs[0].clone();
    let Transaction::Ballot(b) = &cast.tx else {
        panic!("a ballot")
    };
    let mut sp = SpoiledBallotTx {
        chain_id: c.chain_id,
        election_id: 1,
        ciphertexts: b.ballot.selections.iter().map(|s| s.ciphertext).collect(),
        tracking_code: crate::protocol::Hash32([0; 32]),
        choice: 1,
        randomness: vec![Sc(Scalar::ONE); b.ballot.selections.len()],
        spoiled_at_ms: blocks[1].header.timestamp_ms - 5,
        origin: b.origin,
    };
    sp.tracking_code = crate::checks::spoiled::tracking_code(&sp).unwrap();
    let tx = Transaction::SpoiledBallot(sp);
    let signature = c.key_of(&b.origin).unwrap().sign(&tx);
    blocks[1].txs.push(SignedTx { tx, signature });
    let pos = blocks[1].txs.len() - 1;
    let blocks = rechain(&c, &blocks);
    let (_, _, f, _) = c.audit(&blocks, NOW);
    assert_eq!(
        codes(&f),
        vec![
            (
                "tx.spoiled_opens",
                "spoiled_ballot_mismatch",
                Some(2),
                Some(pos)
            ),
            (
                "tx.ciphertext_unique",
                "duplicate_ciphertext",
                Some(3),
                Some(0)
            ),
        ]
    );
    assert!(f[1].found.contains("the same ciphertext"), "{f:#?}");
}

/// The chain of [`short`], a block stamped at the close, then a block of
/// `txs` stamped a second later.
fn with_shares(c: &SynthChain, blocks: &mut Vec<SynthBlock>, txs: Vec<SignedTx>) {
    let last = blocks.last().unwrap();
    let closing = c.block(4, last.block_hash, c.closes_at(), Vec::new());
    let next = c.block(5, closing.block_hash, c.closes_at() + 1_000, txs);
    blocks.push(closing);
    blocks.push(next);
}

#[test]
fn decryption_shares_follow_rule_21() {
    let (c, mut blocks) = short_election();
    let (count, agg) = SynthChain::aggregate(&blocks);
    let carrier = &c.stations[0];
    let t = c.closes_at() + 500;
    let share = |j: u32, th: u64, n: u64| c.share_tx(j, th, n, &agg, carrier, t);
    let relabel = |mut s: SignedTx, j: u32| {
        if let Transaction::DecryptionShare(d) = &mut s.tx {
            d.share.trustee_index = j;
        }
        s.signature = carrier.sign(&s.tx);
        s
    };
    with_shares(
        &c,
        &mut blocks,
        vec![
            share(1, 4, count),
            // Trustee 4 of a 3-trustee election (rule 18m).
            relabel(share(3, 4, count), 4),
            // Trustee 3's share presented as trustee 2's.
            relabel(share(3, 4, count), 2),
            // A second share of trustee 1 (carried a millisecond later).
            c.share_tx(1, 4, count, &agg, carrier, t + 1),
            // The wrong ballot count.
            share(3, 4, count - 1),
            // A tally from before the close (block 3).
            share(3, 3, count),
            // A tally that does not exist yet.
            share(3, 5, count),
        ],
    );
    let (rules, state, f, _) = c.audit(&blocks, NOW);
    let at: Vec<(usize, &str)> = f.iter().map(|f| (f.position.unwrap(), f.check)).collect();
    assert_eq!(
        at,
        (1..=6)
            .map(|p| (p, "tx.decryption_share"))
            .collect::<Vec<_>>(),
        "{f:#?}"
    );
    assert!(f.iter().all(|f| f.code == "bad_decryption_share"));
    assert!(f[0].expected.contains("1 to 3"), "{:#?}", f[0]);
    assert!(
        f[1].found.starts_with("bad_decryption_share"),
        "{:#?}",
        f[1]
    );
    assert!(f[2].found.contains("position 0"), "{:#?}", f[2]);
    assert!(f[3].found.contains("ballot_count 11"), "{:#?}", f[3]);
    assert!(f[4].message.contains("before the close"), "{:#?}", f[4]);
    assert!(f[5].message.contains("does not exist yet"), "{:#?}", f[5]);
    // Only trustee 1's share counts: the tally is pending.
    let d = decrypt_all(&rules, &state);
    assert!(d[0].result().is_none());
    assert!(
        d[0].pending.as_ref().unwrap().contains("1 of the 2"),
        "{d:#?}"
    );
}

#[test]
fn a_share_before_the_close_is_refused() {
    let (c, mut blocks) = short_election();
    let (count, agg) = SynthChain::aggregate(&blocks);
    let last = blocks.last().unwrap();
    let t = last.header.timestamp_ms + 1_000;
    let early = c.share_tx(1, 3, count, &agg, &c.validators[0], t - 1);
    let b = c.block(4, last.block_hash, t, vec![early]);
    blocks.push(b);
    let (_, _, f, _) = c.audit(&blocks, NOW);
    assert_eq!(
        codes(&f),
        vec![(
            "tx.decryption_share",
            "bad_decryption_share",
            Some(4),
            Some(0)
        )]
    );
    assert!(f[0].message.contains("before it closed"), "{f:#?}");
}

#[test]
fn a_share_from_another_appliance_than_the_genesis_names_is_refused() {
    let (c, mut blocks) = short_election();
    let (count, agg) = SynthChain::aggregate(&blocks);
    let t = c.closes_at() + 500;
    let s = c.share_tx(1, 4, count, &agg, &c.outsider, t);
    with_shares(&c, &mut blocks, vec![s]);
    let (_, _, f, _) = c.audit(&blocks, NOW);
    assert_eq!(
        codes(&f),
        vec![("tx.origin", "unknown_origin", Some(5), Some(0))]
    );
}
