//! Spoiled ballots (PROTOCOL.md §4e): the one in `chain.json` and the
//! invalid vectors of rule 18u.

use evote_core::ledger::elgamal::{Ciphertext, PublicScalar, encrypt_ballot_opened};
use evote_core::ledger::{NodeKey, SignedTx, SpoiledBallotTx, Transaction, tracking_code};

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
        let (index, n) = self.candidate_index(encrypted);
        let mut rng = rng_for(&format!(
            "spoiled {} {} {encrypted} {at_ms}",
            ctx.nullifier, ctx.origin
        ));
        let key = self.election_encryption_key();
        let (ballot, r) =
            encrypt_ballot_opened(&ctx, &key, index, n, &mut rng).expect("ballot encrypts");
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
        let s = &self.station;
        let on4 = self.on_block_4(chain, "voter-21");
        let t = on4.t;
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
            on4.vector(
                "spoiled_wrong_tracking_code",
                "Transaction 1, station-1's spoiled ballot, carries the tracking code of another \
                 spoiled ballot; signed by station-1.",
                on4.with(changed(&|x| x.tracking_code = other_code)),
                "wrong_hash",
            )
            .detail("tracking_code"),
            on4.vector(
                "spoiled_missing_randomness",
                "Transaction 1, station-1's spoiled ballot, has 2 randomness values for election \
                 1's 3 candidates (the last one removed).",
                on4.with(changed(&|x| {
                    x.randomness.pop();
                })),
                "bad_spoiled_ballot",
            ),
            on4.vector(
                "spoiled_unknown_choice",
                "Transaction 1, station-1's spoiled ballot, states candidate 104 as the voter's \
                 choice; election 1's candidates are 101, 102 and 103.",
                on4.with(changed(&|x| x.choice = 104)),
                "bad_spoiled_ballot",
            ),
            on4.vector(
                "spoiled_after_close",
                "Transaction 1, station-1's spoiled ballot, says it was spoiled at the election's \
                 close (closes_at, exclusive); its tracking code and signature are its own.",
                on4.with(changed(&|x| x.spoiled_at_ms = CLOSES_AT)),
                "election_not_open",
            ),
        ]
    }
}
