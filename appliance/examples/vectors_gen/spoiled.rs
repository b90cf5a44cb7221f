//! Spoiled ballots (PROTOCOL.md §4e): the one in `chain.json` and the
//! invalid vectors of rule 18u.

use evote_core::ledger::elgamal::{Ciphertext, EncryptionKey, PublicScalar, encrypt_ballot_opened};
use evote_core::ledger::{Block, NodeKey, SignedTx, SpoiledBallotTx, Transaction, tracking_code};

use super::invalid::InvalidVector;
use super::{CANDIDATES, CLOSES_AT, Chain, ELECTION, World, rng_for};

fn spoiled_mut(stx: &mut SignedTx) -> &mut SpoiledBallotTx {
    match &mut stx.tx {
        Transaction::SpoiledBallot(s) => s,
        _ => unreachable!("a spoiled ballot"),
    }
}

impl World {
    /// The record of a ballot `origin`'s booth encrypted for candidate
    /// `encrypted` (for `voter`, whose credential its proofs were bound
    /// to) and the voter checked, having confirmed `stated`: the same
    /// candidate for an honest booth.
    pub(super) fn spoiled(
        &self,
        origin: &NodeKey,
        voter: &str,
        (stated, encrypted): (u64, u64),
        at_ms: u64,
    ) -> SignedTx {
        let ctx = self.context(self.chain_id, ELECTION, voter, origin);
        let e = self.election();
        let index = e
            .candidate_index(encrypted)
            .expect("a candidate of election 1");
        let mut rng = rng_for(&format!(
            "spoiled {} {} {encrypted} {at_ms}",
            ctx.nullifier, ctx.origin
        ));
        let key = EncryptionKey::new(&self.election_key.public_key).expect("not the identity");
        let (ballot, r) = encrypt_ballot_opened(&ctx, &key, index, e.candidates.len(), &mut rng)
            .expect("ballot encrypts");
        let ciphertexts: Vec<Ciphertext> = ballot.ciphertexts().copied().collect();
        let tx = SpoiledBallotTx {
            chain_id: self.chain_id,
            election_id: ELECTION,
            tracking_code: tracking_code(
                &self.chain_id,
                ELECTION,
                &origin.public(),
                ciphertexts.iter(),
            ),
            ciphertexts,
            choice: stated,
            randomness: r.iter().map(|r| PublicScalar::from(*r.expose())).collect(),
            spoiled_at_ms: at_ms,
            origin: origin.public(),
        };
        SignedTx::sign(Transaction::SpoiledBallot(tx), origin).expect("origin signs")
    }

    /// Rule 18u broken, each in a block on block 4 (the election open)
    /// after a valid ballot.
    pub(super) fn spoiled_vectors(&self, chain: &Chain) -> Vec<InvalidVector> {
        let [v1, v2, _] = &self.validators;
        let s = &self.station;
        let tip = chain.parent(4);
        let t = tip.timestamp_ms + 1_000;
        let now = tip.timestamp_ms + 2_000;
        let q: &[&NodeKey] = &[v1, v2];
        let good = || self.ballot(v1, "voter-21", CANDIDATES[0], t - 500);
        let with = |tx: SignedTx| -> Block { self.next(&tip, t, vec![good(), tx], q) };
        let mk = |name: &'static str, description: &str, block: Block, code: &'static str| {
            InvalidVector::new(name, description, tip, now, block, code).prior(chain.up_to(4))
        };
        let honest = || self.spoiled(s, "voter-22", (CANDIDATES[1], CANDIDATES[1]), t - 300);
        let changed = |f: &dyn Fn(&mut SpoiledBallotTx)| {
            let mut stx = honest();
            f(spoiled_mut(&mut stx));
            self.resign_tx(&mut stx, s);
            stx
        };
        let other = self.spoiled(s, "voter-23", (CANDIDATES[0], CANDIDATES[0]), t - 200);
        let other_code = match &other.tx {
            Transaction::SpoiledBallot(o) => o.tracking_code,
            _ => unreachable!(),
        };
        vec![
            mk(
                "spoiled_wrong_tracking_code",
                "Transaction 1, station-1's spoiled ballot, carries the tracking code of another \
                 spoiled ballot; signed by station-1.",
                with(changed(&|x| x.tracking_code = other_code)),
                "wrong_hash",
            )
            .detail("tracking_code"),
            mk(
                "spoiled_missing_randomness",
                "Transaction 1, station-1's spoiled ballot, has 2 randomness values for election \
                 1's 3 candidates (the last one removed).",
                with(changed(&|x| {
                    x.randomness.pop();
                })),
                "bad_spoiled_ballot",
            ),
            mk(
                "spoiled_unknown_choice",
                "Transaction 1, station-1's spoiled ballot, states candidate 104 as the voter's \
                 choice; election 1's candidates are 101, 102 and 103.",
                with(changed(&|x| x.choice = 104)),
                "bad_spoiled_ballot",
            ),
            mk(
                "spoiled_after_close",
                "Transaction 1, station-1's spoiled ballot, says it was spoiled at the election's \
                 close (closes_at, exclusive); its tracking code and signature are its own.",
                with(changed(&|x| x.spoiled_at_ms = CLOSES_AT)),
                "election_not_open",
            ),
        ]
    }
}
