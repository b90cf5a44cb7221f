//! The invalid vectors: one block per broken rule, each labelled with the
//! error the ledger must give.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::scalar::Scalar;
use evote_core::ledger::canonical::{MAX_SAFE_INTEGER, sha256};
use evote_core::ledger::elgamal::{BallotContext, EncryptedBallot, Point, PublicScalar};
use evote_core::ledger::tally::local_ceremony;
use evote_core::ledger::tx::LATE_BALLOT_GRACE_MS;
use evote_core::ledger::validate::MAX_FUTURE_DRIFT_MS;
use evote_core::ledger::{Block, NodeKey, SignedTx, Transaction, Vote, VoteKind};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Serialize;

use super::{
    CANDIDATES, CLOSES_AT, Chain, DECRYPTING, ELECTION, OPENS_AT, OTHER_CEREMONY_SEED, ParentRef,
    TALLY_HEIGHT, THRESHOLD, TRUSTEES, World, tx_root_of,
};

pub(super) struct InvalidVector {
    pub name: &'static str,
    pub file: InvalidFile,
}

impl InvalidVector {
    pub(super) fn new(
        name: &'static str,
        description: &str,
        parent: ParentRef,
        now_ms: u64,
        block: Block,
        code: &'static str,
    ) -> Self {
        Self {
            name,
            file: InvalidFile {
                description: description.into(),
                now_ms,
                parent,
                prior_blocks: None,
                block,
                schema_valid: code != "integer_too_large",
                expected_error: code,
                expected_detail: None,
                expected_crypto_error: None,
            },
        }
    }

    pub(super) fn detail(mut self, what: &'static str) -> Self {
        self.file.expected_detail = Some(what);
        self
    }

    fn crypto(mut self, code: &'static str) -> Self {
        self.file.expected_crypto_error = Some(code);
        self
    }

    pub(super) fn prior(mut self, blocks: Vec<Block>) -> Self {
        self.file.prior_blocks = Some(blocks);
        self
    }

    fn at(mut self, parent: ParentRef, now_ms: u64) -> Self {
        self.file.parent = parent;
        self.file.now_ms = now_ms;
        self
    }
}

#[derive(Serialize)]
pub(super) struct InvalidFile {
    pub description: String,
    pub now_ms: u64,
    pub parent: ParentRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prior_blocks: Option<Vec<Block>>,
    pub block: Block,
    pub schema_valid: bool,
    pub expected_error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_detail: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_crypto_error: Option<&'static str>,
}

/// Where most invalid vectors stand: a block on block 4 (the election
/// open) at `t`, sealed by validators 1 and 2, holding a valid ballot of
/// validator 1 before the transaction under test; the checker's clock
/// reads `now`.
pub(super) struct OnBlock4<'a> {
    world: &'a World,
    chain: &'a Chain,
    pub tip: ParentRef,
    pub t: u64,
    pub now: u64,
    good: SignedTx,
}

impl World {
    /// The good ballot is `voter`'s.
    pub(super) fn on_block_4<'a>(&'a self, chain: &'a Chain, voter: &str) -> OnBlock4<'a> {
        let tip = chain.parent(4);
        let t = tip.timestamp_ms + 1_000;
        OnBlock4 {
            world: self,
            chain,
            tip,
            t,
            now: tip.timestamp_ms + 2_000,
            good: self.ballot(&self.validators[0], voter, CANDIDATES[0], t - 500),
        }
    }
}

impl OnBlock4<'_> {
    /// The block: the good ballot, then `tx`.
    pub(super) fn with(&self, tx: SignedTx) -> Block {
        let [v1, v2, _] = &self.world.validators;
        let txs = vec![self.good.clone(), tx];
        self.world.next(&self.tip, self.t, txs, &[v1, v2])
    }

    /// The vector of `block`, with blocks 1 to 4 as the chain below it.
    pub(super) fn vector(
        &self,
        name: &'static str,
        description: &str,
        block: Block,
        code: &'static str,
    ) -> InvalidVector {
        InvalidVector::new(name, description, self.tip, self.now, block, code)
            .prior(self.chain.up_to(4))
    }
}

fn ballot_mut(stx: &mut SignedTx) -> &mut evote_core::ledger::BallotTx {
    match &mut stx.tx {
        Transaction::Ballot(b) => b,
        _ => unreachable!("a ballot"),
    }
}

fn share_mut(stx: &mut SignedTx) -> &mut evote_core::ledger::DecryptionShareTx {
    match &mut stx.tx {
        Transaction::DecryptionShare(d) => d,
        _ => unreachable!("a decryption share"),
    }
}

fn plus_one(s: &PublicScalar) -> PublicScalar {
    PublicScalar(s.0 + Scalar::ONE)
}

impl World {
    pub(super) fn invalid_vectors(&self, chain: &Chain) -> Vec<InvalidVector> {
        let mut v = self.block_rule_vectors(chain);
        v.extend(self.ballot_vectors(chain));
        v.extend(self.share_vectors(chain));
        v.extend(self.eligibility_vectors(chain));
        v.extend(self.spoiled_vectors(chain));
        v.sort_by(|a, b| a.name.cmp(b.name));
        v
    }

    /// Header, seal and transaction rules, on block 4 (the election open).
    fn block_rule_vectors(&self, chain: &Chain) -> Vec<InvalidVector> {
        let [v1, v2, v3] = &self.validators;
        let s = &self.station;
        let out = &self.outsider;
        let tip = chain.parent(4);
        let h = tip.height + 1;
        let t = tip.timestamp_ms + 1_000;
        let now = tip.timestamp_ms + 2_000;
        let p = self.proposer_key(h, 0);
        let q: &[&NodeKey] = &[v1, v2];
        let two = || {
            vec![
                self.ballot(v1, "voter-20", CANDIDATES[0], t - 500),
                self.ballot(s, "voter-21", CANDIDATES[2], t - 300),
            ]
        };
        let base = |txs: Vec<SignedTx>, sealers: &[&NodeKey]| self.next(&tip, t, txs, sealers);
        let mk = |name: &'static str, description: &str, block: Block, code: &'static str| {
            InvalidVector::new(name, description, tip, now, block, code)
        };
        let mut v = Vec::new();

        // Header rules.
        let mut b = base(two(), q);
        b.header.chain_id = sha256(b"another chain");
        self.rehash(&mut b, p, q);
        v.push(mk(
            "wrong_chain_header",
            "The header names another chain_id; the block hash, the proposer signature and the \
             seals are made over it.",
            b,
            "wrong_chain",
        ));

        let mut b = base(two(), q);
        let big_round = MAX_SAFE_INTEGER + 1;
        let p_big = self.proposer_key(h, big_round);
        b.header.round = big_round;
        b.header.proposer = p_big.public();
        self.rehash(&mut b, p_big, q);
        v.push(mk(
            "integer_too_large",
            "The header's round is 2^53, one above the largest integer JCS carries exactly; the \
             proposer is the right one for that round and everything is signed.",
            b,
            "integer_too_large",
        ));

        let b = self.block(&tip, h + 1, 0, t, two(), self.proposer_key(h + 1, 0), q);
        v.push(mk(
            "wrong_height",
            "The height skips one (parent height + 2); prev_hash is the parent's hash and the \
             proposer is the right one for that height.",
            b,
            "wrong_height",
        ));

        let mut b = base(two(), q);
        b.header.prev_hash = chain.parent(3).hash;
        self.rehash(&mut b, p, q);
        v.push(mk(
            "wrong_prev_hash",
            "prev_hash is the hash of the grandparent (a fork attempt); everything is signed.",
            b,
            "wrong_prev_hash",
        ));

        let b = self.next(&tip, tip.timestamp_ms - 1, two(), q);
        v.push(mk(
            "timestamp_backwards",
            "The timestamp is 1 ms before the parent's (equal would be allowed).",
            b,
            "timestamp_backwards",
        ));

        let b = self.next(&tip, now + MAX_FUTURE_DRIFT_MS + 1, two(), q);
        v.push(mk(
            "timestamp_in_future",
            "The timestamp is now_ms + MAX_FUTURE_DRIFT_MS + 1 (1 ms less would be allowed).",
            b,
            "timestamp_in_future",
        ));

        let mut b = base(two(), q);
        b.block_hash = sha256(b"not the hash of this header");
        self.sign_hash(&mut b, p, q);
        v.push(
            mk(
                "wrong_block_hash",
                "block_hash is not SHA-256 of the header's JCS form; the proposer signature and \
                 the seals are made over that wrong hash.",
                b,
                "wrong_hash",
            )
            .detail("block"),
        );

        let b = self.block(&tip, h, 0, t, two(), out, q);
        v.push(mk(
            "unknown_proposer",
            "Proposed and signed by the outsider key, which is not a validator; sealed by a \
             quorum.",
            b,
            "unknown_proposer",
        ));

        let b = self.block(&tip, h, 0, t, two(), self.proposer_key(h, 1), q);
        v.push(mk(
            "wrong_proposer",
            "Proposed in round 0 by the validator whose turn is round 1 (proposer(h, r) = \
             validators[(h + r) mod n]); signed and sealed.",
            b,
            "wrong_proposer",
        ));

        let mut b = base(two(), q);
        let vote = Vote::for_header(VoteKind::Proposal, &b.header, b.block_hash);
        let other = if p.public() == v1.public() { v2 } else { v1 };
        b.proposer_signature = other.sign(&vote).expect("signs");
        v.push(
            mk(
                "bad_proposer_signature",
                "The right proposer in the header, but the proposal signature is another \
                 validator's signature over the same statement.",
                b,
                "bad_signature",
            )
            .detail("proposal"),
        );

        let mut b = base(two(), q);
        b.header.tx_count = 3;
        self.rehash(&mut b, p, q);
        v.push(mk(
            "tx_count_mismatch",
            "The header says tx_count 3 but the block holds 2 transactions (tx_root is theirs); \
             everything is signed.",
            b,
            "tx_count_mismatch",
        ));

        let txs: Vec<SignedTx> = (30..39)
            .map(|i| self.ballot(v1, &format!("voter-{i}"), CANDIDATES[1], t - 500))
            .collect();
        v.push(mk(
            "too_many_txs",
            "9 valid ballots, one more than the genesis' params.max_block_txs (8).",
            base(txs, q),
            "too_many_txs",
        ));

        let mut b = base(two(), q);
        let mut reversed = b.transactions.clone();
        reversed.reverse();
        b.header.tx_root = tx_root_of(&reversed);
        self.rehash(&mut b, p, q);
        v.push(
            mk(
                "tx_root_mismatch",
                "tx_root is the root of the same transactions in the other order; everything is \
                 signed.",
                b,
                "wrong_hash",
            )
            .detail("tx_root"),
        );

        // Seal rules.
        v.push(mk(
            "too_few_seals",
            "One valid commit seal; the quorum of 3 validators is 2.",
            base(two(), &[v2]),
            "too_few_seals",
        ));

        v.push(mk(
            "duplicate_seal",
            "Seals from validator-1, validator-2 and validator-2 again: two distinct ones would \
             be a quorum, but a repeated seal is refused.",
            base(two(), &[v1, v2, v2]),
            "duplicate_seal",
        ));

        v.push(mk(
            "seal_from_non_validator",
            "A quorum of valid seals plus a commit seal from station-1, which is in the genesis \
             but is not a validator.",
            base(two(), &[v1, v2, s]),
            "seal_from_non_validator",
        ));

        let mut b = base(two(), q);
        let other = self.next(&tip, t + 1, two(), &[]);
        b.seals.push(other.seal(v3).expect("seals"));
        v.push(mk(
            "seal_over_other_block",
            "A quorum of valid seals plus validator-3's commit seal over another block of the \
             same height and round.",
            b,
            "bad_seal",
        ));

        let mut b = base(two(), q);
        let prepare = Vote::for_header(VoteKind::Prepare, &b.header, b.block_hash);
        let mut seal = b.seal(v3).expect("seals");
        seal.signature = v3.sign(&prepare).expect("signs");
        b.seals.push(seal);
        v.push(mk(
            "prepare_signature_as_seal",
            "A quorum of valid seals plus validator-3's signature over the prepare statement \
             (type \"prepare\") offered as a commit seal.",
            b,
            "bad_seal",
        ));

        // Transaction rules. A ballot for another candidate in transaction
        // 1's own context: its proofs hold, only the signature or the hash
        // can tell it is not the ballot the origin accepted.
        let substitute = || {
            let ctx = self.context(self.chain_id, ELECTION, "voter-21", s);
            self.encrypt(&ctx, CANDIDATES[0])
        };
        let mut b = base(two(), q);
        let signed_by_origin = b.transactions[1].signature;
        ballot_mut(&mut b.transactions[1]).ballot = substitute();
        // The voter's credential signs the new ballot (their device could);
        // the origin's signature is the one it made for the old one.
        self.resign_ballot(&mut b.transactions[1], s);
        b.transactions[1].signature = signed_by_origin;
        self.reroot(&mut b, p, q);
        v.push(
            mk(
                "changed_ballot",
                "Transaction 1's encrypted ballot was replaced, after its origin signed it, by a \
                 well-formed ballot for another candidate in the same context (so its proofs \
                 hold); ballot_hash, the credential's signature, tx_root, block hash, proposer \
                 signature and seals were all made anew. Only the origin's signature catches it.",
                b,
                "bad_signature",
            )
            .detail("transaction"),
        );

        let mut b = base(two(), q);
        ballot_mut(&mut b.transactions[1]).ballot = substitute();
        self.resign_tx(&mut b.transactions[1], s);
        self.reroot(&mut b, p, q);
        v.push(
            mk(
                "ballot_hash_mismatch",
                "Transaction 1's encrypted ballot was replaced by a well-formed ballot for \
                 another candidate in the same context and its ballot_hash left as it was; the \
                 origin signed the transaction so changed, and tx_root and every block \
                 signature were made anew.",
                b,
                "wrong_hash",
            )
            .detail("ballot"),
        );

        let mut txs = two();
        txs.push(self.ballot_in(
            v2,
            sha256(b"another chain"),
            ELECTION,
            "voter-22",
            CANDIDATES[0],
            t - 100,
        ));
        v.push(mk(
            "wrong_chain_tx",
            "Transaction 2 names another chain_id (its proofs are bound to that chain, and it \
             is signed by its origin over it).",
            base(txs, q),
            "wrong_chain",
        ));

        let mut txs = two();
        txs.push(self.ballot(v2, "voter-23", CANDIDATES[0], t - 100));
        let bt = ballot_mut(&mut txs[2]);
        bt.submitted_at_ms = t + MAX_FUTURE_DRIFT_MS + 1;
        self.resign_tx(&mut txs[2], v2);
        v.push(mk(
            "ballot_from_the_future",
            "Transaction 2 says it was accepted at the block's timestamp + MAX_FUTURE_DRIFT_MS + \
             1 ms (1 ms less would be allowed), while the election is open; otherwise valid and \
             signed (its proofs do not cover submitted_at_ms).",
            base(txs, q),
            "bad_tx",
        ));

        let mut txs = two();
        txs.push(self.ballot(out, "voter-24", CANDIDATES[0], t - 100));
        v.push(mk(
            "unknown_origin",
            "Transaction 2 is accepted and signed by the outsider key, which is neither a \
             validator nor a station (its proofs are bound to that origin).",
            base(txs, q),
            "unknown_origin",
        ));

        let mut txs = two();
        txs.push(self.ballot_in(v2, self.chain_id, 2, "voter-25", CANDIDATES[0], t - 100));
        v.push(mk(
            "unknown_election",
            "Transaction 2 votes in election 2, which the genesis does not hold (encrypted \
             under election 1's key, with its proofs bound to election 2).",
            base(txs, q),
            "unknown_election",
        ));

        let txs = vec![self.ballot(s, "voter-27", CANDIDATES[0], CLOSES_AT - 1)];
        v.push(
            mk(
                "election_closed",
                "A ballot accepted 1 ms before the election closed, in a block whose timestamp \
                 is closes_at + LATE_BALLOT_GRACE_MS: the ballot was accepted inside \
                 [opens_at, closes_at), but a ballot without a fallback reference must be in a \
                 block before the grace period after the close ends.",
                self.next(&tip, CLOSES_AT + LATE_BALLOT_GRACE_MS, txs, q),
                "election_not_open",
            )
            .at(tip, CLOSES_AT + LATE_BALLOT_GRACE_MS + 1_000),
        );

        let g = self.genesis_parent();
        let txs = vec![self.ballot(s, "voter-28", CANDIDATES[0], OPENS_AT - 1)];
        v.push(
            mk(
                "election_not_yet_open",
                "Block 1 on the genesis, 1 ms before the election opens, with one ballot. Its \
                 parent is height 0: hash = chain_id, timestamp_ms = genesis.created_at_ms.",
                self.next(&g, OPENS_AT - 1, txs, q),
                "election_not_open",
            )
            .at(g, OPENS_AT),
        );

        let twice = self.ballot(v1, "voter-29", CANDIDATES[0], t - 500);
        v.push(mk(
            "duplicate_tx",
            "The same signed transaction twice.",
            base(vec![twice.clone(), twice], q),
            "duplicate_tx",
        ));

        let txs = vec![
            self.ballot(v1, "voter-20", CANDIDATES[0], t - 500),
            self.ballot(s, "voter-20", CANDIDATES[1], t - 300),
        ];
        v.push(mk(
            "duplicate_nullifier_in_block",
            "Two different ballots of the same voter in the same election (same nullifier), \
             accepted by two appliances, in one block.",
            base(txs, q),
            "duplicate_nullifier",
        ));

        let mut txs = two();
        txs.push(self.ballot(v2, "voter-01", CANDIDATES[1], t - 100));
        v.push(
            mk(
                "duplicate_nullifier_across_blocks",
                "Transaction 2 is a second ballot of the voter whose ballot is in block 1 (same \
                 nullifier), accepted by another appliance. prior_blocks holds the committed \
                 blocks 1 to 4: the nullifiers used there are taken.",
                base(txs, q),
                "duplicate_nullifier",
            )
            .prior(chain.up_to(4)),
        );
        v
    }

    /// Ballots whose proofs fail (rule 18k, `bad_ballot`), on block 4.
    fn ballot_vectors(&self, chain: &Chain) -> Vec<InvalidVector> {
        let s = &self.station;
        let on4 = self.on_block_4(chain, "voter-20");
        let t = on4.t;
        let ctx_of =
            |voter: &str, origin: &NodeKey| self.context(self.chain_id, ELECTION, voter, origin);
        // A block with the good ballot and then a bad one: `ballot` in a
        // transaction of `ctx`, accepted by station-1.
        let mk = |name: &'static str,
                  description: &str,
                  ctx: &BallotContext,
                  ballot: EncryptedBallot,
                  crypto: &'static str| {
            let block = on4.with(self.ballot_tx(s, ctx, ballot, t - 300));
            InvalidVector::new(name, description, on4.tip, on4.now, block, "bad_ballot")
                .crypto(crypto)
        };
        let mut v = Vec::new();

        let ctx = ctx_of("voter-40", s);
        let mut ballot = self.encrypt(&ctx, CANDIDATES[1]);
        ballot.selections[1].proof.z0 = plus_one(&ballot.selections[1].proof.z0);
        v.push(mk(
            "ballot_bad_zero_one_proof",
            "Transaction 1's ballot has the 0/1 proof of candidate index 1 changed (z0 + 1); \
             ballot_hash is its hash and the origin signed it.",
            &ctx,
            ballot,
            "bad_zero_one_proof",
        ));

        let ctx = ctx_of("voter-41", s);
        let ballot = self.forge(&ctx, &[2, 0, 0]);
        v.push(mk(
            "ballot_encrypts_two",
            "Transaction 1's ballot encrypts 2 for candidate index 0 and 0 for the others, with \
             the proofs an honest prover would make for 1, 0, 0 (the sum proof too fails).",
            &ctx,
            ballot,
            "bad_zero_one_proof",
        ));

        let ctx = ctx_of("voter-42", s);
        let ballot = self.forge(&ctx, &[1, 1, 0]);
        v.push(mk(
            "ballot_two_ones",
            "Transaction 1's ballot encrypts 1 for candidate indices 0 and 1: each 0/1 proof \
             holds, the proof that they add up to 1 cannot.",
            &ctx,
            ballot,
            "bad_sum_proof",
        ));

        let ctx = ctx_of("voter-43", s);
        let mut ballot = self.forge(&ctx, &[0, 0, 0]);
        let donor = self.encrypt(&ctx_of("voter-44", s), CANDIDATES[2]);
        ballot.sum_proof = donor.sum_proof;
        v.push(mk(
            "ballot_copied_sum_proof",
            "Transaction 1's ballot encrypts 0 for every candidate (a blank vote), with valid \
             0/1 proofs and the sum proof copied from another voter's valid ballot.",
            &ctx,
            ballot,
            "bad_sum_proof",
        ));

        let ctx = ctx_of("voter-45", s);
        let ballot = self.encrypt(&ctx_of("voter-46", s), CANDIDATES[1]);
        v.push(mk(
            "ballot_bound_to_other_nullifier",
            "Transaction 1 carries, under voter-45's nullifier, the whole valid ballot of \
             voter-46 accepted by the same appliance (a copied ballot): its proofs are bound to \
             the other nullifier.",
            &ctx,
            ballot,
            "bad_zero_one_proof",
        ));

        let ctx = ctx_of("voter-47", s);
        let ballot = self.encrypt(&ctx_of("voter-47", &self.validators[1]), CANDIDATES[1]);
        v.push(mk(
            "ballot_bound_to_other_origin",
            "Transaction 1 is accepted and signed by station-1, but its ballot's proofs are \
             bound to validator-2 as the origin (the same voter's ballot taken from another \
             appliance).",
            &ctx,
            ballot,
            "bad_zero_one_proof",
        ));

        let ctx = ctx_of("voter-48", s);
        let mut other = ctx;
        other.election_id = 2;
        let ballot = self.encrypt(&other, CANDIDATES[1]);
        v.push(mk(
            "ballot_bound_to_other_election",
            "Transaction 1 votes in election 1 with a ballot whose proofs are bound to election \
             2 (same chain, nullifier and origin).",
            &ctx,
            ballot,
            "bad_zero_one_proof",
        ));

        let ctx = ctx_of("voter-49", s);
        let mut other = ctx;
        other.chain_id = sha256(b"another chain");
        let ballot = self.encrypt(&other, CANDIDATES[1]);
        v.push(mk(
            "ballot_bound_to_other_chain",
            "Transaction 1 is on this chain but its ballot's proofs are bound to another \
             chain_id (same election, nullifier and origin).",
            &ctx,
            ballot,
            "bad_zero_one_proof",
        ));

        let ctx = ctx_of("voter-50", s);
        let mut ballot = self.encrypt(&ctx, CANDIDATES[0]);
        ballot.selections.pop();
        v.push(mk(
            "ballot_missing_selection",
            "Transaction 1's ballot has 2 selections for election 1's 3 candidates (the last \
             one removed).",
            &ctx,
            ballot,
            "wrong_length",
        ));

        let ctx = ctx_of("voter-51", s);
        let (_, others) = self.other_ceremony(TRUSTEES);
        let ballot = self.encrypt_under(&others[0].public_key, &ctx, CANDIDATES[1]);
        v.push(mk(
            "ballot_under_other_key",
            "Transaction 1's ballot is well formed, in its own context, but encrypted and proved \
             under the key of another ceremony, not election 1's.",
            &ctx,
            ballot,
            "bad_zero_one_proof",
        ));
        v
    }

    /// Another key ceremony for election 1 (threshold 2), whose trustees
    /// are not the genesis'.
    fn other_ceremony(
        &self,
        trustees: u32,
    ) -> (
        evote_core::ledger::ElectionTrustees,
        Vec<evote_core::ledger::elgamal::TrusteeKey>,
    ) {
        local_ceremony(
            ELECTION,
            trustees,
            THRESHOLD,
            &mut ChaCha20Rng::seed_from_u64(OTHER_CEREMONY_SEED + u64::from(trustees)),
        )
        .expect("the ceremony runs")
    }

    /// Decryption shares that must not enter a block (rules 18m and 21,
    /// `bad_decryption_share`). Each builds on the committed chain of
    /// `chain.json` given as prior_blocks.
    fn share_vectors(&self, chain: &Chain) -> Vec<InvalidVector> {
        let [v1, v2, v3] = &self.validators;
        let s = &self.station;
        let q: &[&NodeKey] = &[v1, v2, v3];
        let final_tally = &chain.tallies[TALLY_HEIGHT as usize];
        let partial_tally = &chain.tallies[4];
        let mk = |name: &'static str, description: &str, on: u64, block: Block| {
            let parent = chain.parent(on);
            InvalidVector::new(
                name,
                description,
                parent,
                block.header.timestamp_ms + 1_000,
                block,
                "bad_decryption_share",
            )
            .prior(chain.up_to(on))
        };
        // The next block on block `on` (5 or 6), a minute after its parent.
        let next_on = |height: u64, txs: Vec<SignedTx>| {
            let parent = chain.parent(height);
            self.next(&parent, parent.timestamp_ms + 60_000, txs, q)
        };
        let t5 = chain.parent(5).timestamp_ms + 60_000;
        let t6 = chain.parent(6).timestamp_ms + 60_000;
        let mut v = Vec::new();

        let mut tx = self.trustee_share_tx(v2, 2, final_tally, t6 - 100);
        let d = share_mut(&mut tx);
        d.share.shares[0].proof.z = plus_one(&d.share.shares[0].proof.z);
        self.resign_tx(&mut tx, v2);
        v.push(
            mk(
                "share_bad_proof",
                "Block 7 carries trustee 2's share of the tally after block 5 (which blocks 6's \
                 two shares already decrypt; a third share is allowed), with the response of its \
                 proof for candidate index 0 changed (z + 1); signed by its carrier.",
                6,
                next_on(6, vec![tx]),
            )
            .crypto("bad_decryption_share"),
        );

        let mut tx = self.trustee_share_tx(v2, 2, final_tally, t6 - 100);
        let d = share_mut(&mut tx);
        let wrong = d.share.shares[1].d.decode().unwrap() + RISTRETTO_BASEPOINT_POINT;
        d.share.shares[1].d = Point::from_point(wrong);
        self.resign_tx(&mut tx, v2);
        v.push(
            mk(
                "share_wrong_partial_decryption",
                "Block 7 carries trustee 2's share of the tally after block 5 with the partial \
                 decryption of candidate index 1 off by G (D + G, which would shift that \
                 candidate's count by one), its proof unchanged.",
                6,
                next_on(6, vec![tx]),
            )
            .crypto("bad_decryption_share"),
        );

        let mut tx = self.trustee_share_tx(v1, 1, final_tally, t5 - 100);
        share_mut(&mut tx).share.trustee_index = 2;
        self.resign_tx(&mut tx, v1);
        v.push(
            mk(
                "share_claims_other_trustee",
                "Block 6 carries trustee 1's valid share of the tally after block 5 relabelled as \
                 trustee 2's: its proofs do not hold against trustee 2's public share.",
                5,
                next_on(5, vec![tx]),
            )
            .crypto("bad_decryption_share"),
        );

        let (_, others) = self.other_ceremony(TRUSTEES);
        let share = self.share_of(&others[1], final_tally, self.chain_id);
        let tx = self.share_tx(v1, TALLY_HEIGHT, final_tally.ballot_count, share, t5 - 100);
        v.push(
            mk(
                "share_from_non_trustee",
                "Block 6 carries a share of the tally after block 5 as trustee 2's, made with the \
                 key of trustee 2 of another ceremony for the same election (someone who is not \
                 a trustee of the genesis): its proofs hold against that key, not against \
                 trustee 2's public share.",
                5,
                next_on(5, vec![tx]),
            )
            .crypto("bad_decryption_share"),
        );

        let (_, four) = self.other_ceremony(4);
        let share = self.share_of(&four[3], final_tally, self.chain_id);
        let tx = self.share_tx(v1, TALLY_HEIGHT, final_tally.ballot_count, share, t5 - 100);
        v.push(
            mk(
                "share_unknown_trustee",
                "Block 6 carries a share of the tally after block 5 by trustee 4 (of a 4-trustee \
                 ceremony); election 1 has 3 trustees.",
                5,
                next_on(5, vec![tx]),
            )
            .crypto("unknown_trustee"),
        );

        let mut tx = self.trustee_share_tx(v1, 2, final_tally, t5 - 100);
        share_mut(&mut tx).share.shares.pop();
        self.resign_tx(&mut tx, v1);
        v.push(
            mk(
                "share_missing_partial_decryption",
                "Block 6 carries trustee 2's share of the tally after block 5 with 2 partial \
                 decryptions for election 1's 3 candidates (the last one removed).",
                5,
                next_on(5, vec![tx]),
            )
            .crypto("wrong_length"),
        );

        let tip = chain.parent(4);
        let t = tip.timestamp_ms + 1_000;
        let tx = self.trustee_share_tx(v1, 1, partial_tally, t - 100);
        v.push(mk(
            "share_before_close",
            "Block 5 on block 4, while the election is open, carries trustee 1's share of the \
             tally after block 4 (8 ballots), with valid proofs: a tally is never decrypted \
             before the close.",
            4,
            self.next(&tip, t, vec![tx], q),
        ));

        let tx = self.trustee_share_tx(v1, 1, partial_tally, t5 - 100);
        v.push(mk(
            "share_of_partial_tally",
            "Block 6, after the close, carries trustee 1's share of the tally after block 4 (8 \
             ballots), with valid proofs; block 4 is stamped before the close, so its tally is \
             partial.",
            5,
            next_on(5, vec![tx]),
        ));

        let mut tx = self.trustee_share_tx(v1, 1, final_tally, t5 - 100);
        share_mut(&mut tx).ballot_count = final_tally.ballot_count - 1;
        self.resign_tx(&mut tx, v1);
        v.push(mk(
            "share_wrong_ballot_count",
            "Block 6 carries trustee 1's valid share of the tally after block 5, which holds \
             10 ballots, but its ballot_count says 9.",
            5,
            next_on(5, vec![tx]),
        ));

        let mut tx = self.trustee_share_tx(v1, 1, final_tally, t5 - 100);
        share_mut(&mut tx).tally_height = TALLY_HEIGHT + 1;
        self.resign_tx(&mut tx, v1);
        v.push(mk(
            "share_tally_not_below",
            "Block 6 carries trustee 1's share of the tally after block 5 but names tally_height \
             6, the block's own height: only a tally of a block below can be decrypted.",
            5,
            next_on(5, vec![tx]),
        ));

        let tx = self.trustee_share_tx(v2, DECRYPTING[0], final_tally, t6 - 100);
        v.push(mk(
            "share_duplicate_on_chain",
            "Block 7 carries trustee 1's valid share of the tally after block 5 again, carried by \
             validator-2 this time (another transaction), while block 6 holds it already.",
            6,
            next_on(6, vec![tx]),
        ));

        let txs = vec![
            self.trustee_share_tx(v1, 2, final_tally, t5 - 200),
            self.trustee_share_tx(s, 2, final_tally, t5 - 100),
        ];
        v.push(mk(
            "share_duplicate_in_block",
            "Block 6 carries trustee 2's valid share of the tally after block 5 twice, carried by \
             validator-1 and by station-1 (two transactions).",
            5,
            next_on(5, txs),
        ));

        let share = self.share_of(self.trustee(2), final_tally, sha256(b"another chain"));
        let tx = self.share_tx(v1, TALLY_HEIGHT, final_tally.ballot_count, share, t5 - 100);
        v.push(
            mk(
                "share_bound_to_other_chain",
                "Block 6 carries trustee 2's share of the tally after block 5 whose proofs are \
                 bound to another chain_id.",
                5,
                next_on(5, vec![tx]),
            )
            .crypto("bad_decryption_share"),
        );
        v
    }
}

impl World {
    /// Who may vote and what appliances may add (rules 18j-18l, 18p-18t,
    /// 20, 22-24): credentials, replacements, check-ins, fallback proofs,
    /// closing records. Most build on block 4 with blocks 1 to 4 as
    /// prior_blocks; those about station-1's closing record on block 5.
    fn eligibility_vectors(&self, chain: &Chain) -> Vec<InvalidVector> {
        use evote_core::ledger::credential::sign_ballot;
        use evote_core::ledger::fallback::{FallbackBlock, FallbackTip, reconciliation_txs};
        use evote_core::ledger::{BallotTx, Hash32, Transaction};

        let [v1, v2, _] = &self.validators;
        let q: &[&NodeKey] = &[v1, v2];
        let s = &self.station;
        let on4 = self.on_block_4(chain, "voter-20");
        let (tip, t) = (on4.tip, on4.t);
        let mut v = Vec::new();

        // Credentials.
        v.push(on4.vector(
            "ballot_invented_credential",
            "Transaction 1 is signed by station-1 and by a credential of its own making \
             (voter-99's card, on no list): the credential is not in the genesis' list nor \
             named by a replacement.",
            on4.with(self.ballot(s, "voter-99", CANDIDATES[1], t - 300)),
            "unknown_credential",
        ));

        let ctx = self.context(self.chain_id, ELECTION, "voter-30", s);
        let ballot = self.encrypt(&ctx, CANDIDATES[1]);
        let bh = evote_core::ledger::tx::ballot_hash(&ballot);
        let forged = sign_ballot(s, &self.chain_id, ELECTION, &bh).expect("signs");
        let tx = BallotTx::with_credential_signature(
            self.chain_id,
            ELECTION,
            ctx.nullifier,
            ballot,
            forged,
            t - 300,
            s.public(),
        );
        let tx = SignedTx::sign(Transaction::Ballot(tx), s).expect("signs");
        v.push(
            on4.vector(
                "ballot_without_the_voters_card",
                "Transaction 1 votes with voter-30's listed credential (voter-30 stayed home), \
                 its proofs bound to it, but station-1 has not read voter-30's card: it signed \
                 the credential statement with its own key.",
                on4.with(tx),
                "bad_signature",
            )
            .detail("credential"),
        );

        v.push(on4.vector(
            "ballot_revoked_credential",
            "Transaction 1 is a ballot signed by voter-10's lost card, whose credential the \
             credential authority revoked and replaced in block 2.",
            on4.with(self.ballot(s, "voter-10", CANDIDATES[1], t - 300)),
            "revoked_credential",
        ));

        let ca = &self.credential_authority;
        v.push(on4.vector(
            "replacement_of_used_credential",
            "Transaction 1 revokes voter-01's credential, which already cast its ballot in \
             block 1, and names a new one: a second ballot would follow.",
            on4.with(self.replacement(ca, "voter-01", "voter-98", t - 300)),
            "credential_used",
        ));
        v.push(on4.vector(
            "replacement_not_by_the_credential_authority",
            "Transaction 1 revokes voter-31's credential and names voter-98's, signed by the \
             election authority instead of the credential authority.",
            on4.with(self.replacement(&self.authority, "voter-31", "voter-98", t - 300)),
            "unknown_origin",
        ));
        v.push(on4.vector(
            "replacement_by_a_listed_credential",
            "Transaction 1 revokes voter-32's credential and names voter-33's, which the \
             genesis already lists: one voter would hold two credentials.",
            on4.with(self.replacement(ca, "voter-32", "voter-33", t - 300)),
            "duplicate_credential",
        ));
        v.push(
            on4.vector(
                "replacement_after_close",
                "Transaction 0 revokes voter-34's credential and names voter-98's, issued at the \
                 election's close (closes_at, exclusive): too late.",
                self.next(
                    &tip,
                    CLOSES_AT + 1_000,
                    vec![self.replacement(ca, "voter-34", "voter-98", CLOSES_AT)],
                    q,
                ),
                "election_not_open",
            )
            .at(tip, CLOSES_AT + 2_000),
        );

        // Check-ins.
        let mut ghost = self.check_in(v1, "voter-35", t - 300);
        if let Transaction::CheckIn(c) = &mut ghost.tx {
            c.voter = sha256(b"a voter of nobody's roll");
        }
        self.resign_tx(&mut ghost, v1);
        v.push(on4.vector(
            "check_in_not_on_roll",
            "Transaction 1 checks in a voter whose commitment is on no roll, with voter-35's \
             index and inclusion path: the path does not lead to the genesis' roll root.",
            on4.with(ghost),
            "not_on_roll",
        ));
        v.push(on4.vector(
            "check_in_at_another_station",
            "Transaction 1 checks voter-52 in at validator-1, but the roll assigns voter-52 \
             to station-1.",
            on4.with(self.check_in(v1, "voter-52", t - 300)),
            "wrong_station",
        ));
        v.push(on4.vector(
            "check_in_twice",
            "Transaction 1 checks voter-02 in again, at validator-2; block 4 holds voter-02's \
             check-in.",
            on4.with(self.check_in(v2, "voter-02", t - 300)),
            "duplicate_check_in",
        ));

        // Fallback proofs.
        let fb_tip = FallbackTip {
            seq: 1,
            hash: chain.fallback_block.block_hash,
        };
        let anchor = (tip.height, tip.hash);
        let sealed = vec![
            self.ballot(s, "voter-36", CANDIDATES[0], t - 900),
            self.ballot(s, "voter-37", CANDIDATES[1], t - 800),
        ];
        let fb =
            FallbackBlock::seal(self.chain_id, fb_tip, anchor, t - 700, sealed, s).expect("seals");
        let copies = reconciliation_txs(&fb, s).expect("copies");
        let mut copy = copies[0].clone();
        let other_path = copies[1].tx.as_ballot().expect("a ballot").fallback.clone();
        if let Some(f) = &mut ballot_mut(&mut copy).fallback {
            f.path = other_path.expect("a copy").path;
        }
        self.resign_tx(&mut copy, s);
        v.push(on4.vector(
            "fallback_copy_with_another_path",
            "Transaction 1 is station-1's copy of voter-36's ballot from its fallback block 2, \
             carrying the inclusion path of the other ballot of that block: the path does not \
             lead from the sealed ballot to the block's tx_root.",
            on4.with(copy),
            "bad_fallback_proof",
        ));

        let late = CLOSES_AT + LATE_BALLOT_GRACE_MS;
        let sealed = vec![self.ballot(s, "voter-38", CANDIDATES[0], CLOSES_AT - 1)];
        let fb =
            FallbackBlock::seal(self.chain_id, fb_tip, anchor, late, sealed, s).expect("seals");
        let copy = reconciliation_txs(&fb, s).expect("copies").remove(0);
        let day_later = CLOSES_AT + 86_400_000;
        v.push(
            on4.vector(
                "fallback_block_sealed_after_grace",
                "A day after the close, transaction 0 is station-1's copy of a ballot accepted \
                 1 ms before the close, from a fallback block sealed at closes_at + \
                 LATE_BALLOT_GRACE_MS: only a fallback block sealed before that time exempts \
                 its ballots from the grace period.",
                self.next(&tip, day_later, vec![copy], q),
                "election_not_open",
            )
            .at(tip, day_later + 1_000),
        );

        // Closing records: station-1 closed election 1 in block 5, its
        // fallback chain ending at block 1.
        let tip5 = chain.parent(5);
        let t6 = CLOSES_AT + 3_000;
        let mk5 =
            |name: &'static str, description: &str, txs: Vec<SignedTx>, code: &'static str| {
                let block = self.next(&tip5, t6, txs, q);
                InvalidVector::new(name, description, tip5, t6 + 1_000, block, code)
                    .prior(chain.up_to(5))
            };
        v.push(mk5(
            "ballot_after_device_close",
            "Block 6, inside the grace period, carries a ballot station-1 says it accepted \
             1 ms before the close, without a fallback reference, after station-1's closing \
             record (block 5).",
            vec![self.ballot(s, "voter-39", CANDIDATES[0], CLOSES_AT - 1)],
            "device_closed",
        ));
        let fb_tip = FallbackTip {
            seq: 1,
            hash: chain.fallback_block.block_hash,
        };
        let sealed = vec![self.ballot(s, "voter-39", CANDIDATES[0], CLOSES_AT - 10)];
        let fb = FallbackBlock::seal(self.chain_id, fb_tip, anchor, CLOSES_AT - 5, sealed, s)
            .expect("seals");
        let copy = reconciliation_txs(&fb, s).expect("copies").remove(0);
        v.push(mk5(
            "fallback_copy_after_device_close",
            "Block 6 carries the copy of a ballot from station-1's fallback block 2, stamped \
             5 ms before the close, but station-1's closing record (block 5) ends its fallback \
             chain at block 1: a fallback block made afterwards and backdated.",
            vec![copy],
            "device_closed",
        ));
        let closed = chain.blocks[4].transactions[5].clone();
        let Transaction::DeviceClose(d) = &closed.tx else {
            unreachable!("block 5's closing record")
        };
        let mut again = d.clone();
        again.closed_at_ms += 500;
        let again = SignedTx::sign(Transaction::DeviceClose(again), s).expect("signs");
        v.push(mk5(
            "device_close_twice",
            "Block 6 carries a second closing record of station-1 for election 1; block 5 \
             holds its first.",
            vec![again],
            "duplicate_device_close",
        ));
        let mut early = d.clone();
        early.origin = v1.public();
        early.closed_at_ms = CLOSES_AT - 1;
        early.fallback = None;
        early.codes.head = Hash32::ZERO;
        early.codes.count = 0;
        let early = SignedTx::sign(Transaction::DeviceClose(early), v1).expect("signs");
        v.push(mk5(
            "device_close_before_the_close",
            "Block 6 carries validator-1's closing record of election 1 made 1 ms before the \
             election closes.",
            vec![early],
            "bad_device_close",
        ));
        v
    }
}
