//! The rules of PROTOCOL.md §6 and §7, applied to one block at a time.
//!
//! A block is checked in two steps. [`check_header`] and [`check_tx`] need
//! only the genesis and the block itself (hashes, signatures, ballot
//! proofs, limits), so the engine runs them on many threads;
//! [`ChainState::apply`] (in [`crate::state`]) then adds what needs the
//! chain so far (height, link, timestamp order, repeated transactions,
//! nullifiers and ciphertexts, decryption shares against the tally) in
//! block order, and adds each ballot to its election's encrypted tally.
//!
//! Unlike the reference implementation, which stops at the first broken
//! rule, the auditor reports every broken rule of a block, except where a
//! rule cannot be judged once an earlier one failed (an unknown proposer
//! has no turn to check; a transaction that failed one of 18a-18m is not
//! also reported under 19-21). For a block that breaks one rule, the one
//! finding is exactly the code PROTOCOL.md names.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use curve25519_dalek::ristretto::RistrettoPoint;
use serde::Serialize;

use crate::canon;
use crate::checks::CheckId;
use crate::elgamal::{BallotContext, EncryptedBallot, ballots_hold_together, verify_ballot};
use crate::genesis::ChainRules;
pub use crate::state::{ChainState, FirstUse, HeightRecord, Parent, ShareOnChain};
use crate::wire::{
    BallotTx, BlockHeader, CommitSeal, DecryptionShareTx, Election, FallbackRef, Hash32,
    LATE_BALLOT_GRACE_MS, MAX_FUTURE_DRIFT_MS, MAX_SAFE_INTEGER, PublicKey, Signature, SignedTx,
    Transaction, Vote, VoteKind, WireBlockParts, merkle_root, sha256, verify_digest,
};

/// One broken rule: where, what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    /// The PROTOCOL.md error code (`LedgerError::code()`), or an
    /// auditor-specific one for checks beyond §6.
    pub code: &'static str,
    /// For `wrong_hash` and `bad_signature`: which hash or signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// The transaction's position in its block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx: Option<Hash32>,
    pub expected: String,
    pub found: String,
    pub message: String,
    #[serde(skip)]
    order: (usize, u16, usize),
}

impl Finding {
    pub fn new(
        check: CheckId,
        code: &'static str,
        expected: impl Into<String>,
        found: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            check: check.id(),
            code,
            detail: None,
            height: None,
            position: None,
            tx: None,
            expected: expected.into(),
            found: found.into(),
            message: message.into(),
            order: (0, 0, 0),
        }
    }

    pub fn detail(mut self, d: &'static str) -> Self {
        self.detail = Some(d);
        self
    }

    pub fn at(mut self, height: u64) -> Self {
        self.height = Some(height);
        self
    }

    /// The transaction the finding is about, outside a block's list.
    pub fn tx(mut self, tx: Hash32) -> Self {
        self.tx = Some(tx);
        self
    }

    /// The PROTOCOL.md rule (and its item) this finding breaks, which
    /// orders a block's findings as §6 applies its rules.
    pub(crate) fn rule(mut self, rule: u16, sub: usize) -> Self {
        self.order.1 = rule;
        self.order.2 = sub;
        self
    }

    /// The transaction at `position` (and its hash, when it has one).
    pub(crate) fn in_tx(mut self, position: usize, tx: Option<Hash32>) -> Self {
        self.position = Some(position);
        self.tx = tx;
        self.order.0 = position + 1;
        self
    }

    pub(crate) fn order(&self) -> (usize, u16, usize) {
        self.order
    }

    pub fn check_id(&self) -> Option<CheckId> {
        CheckId::from_id(self.check)
    }
}

/// A block as a source holds it, part by part, before any parsing: the
/// header, seals and transactions as JSON text, the hash and signature as
/// the source gives them.
#[derive(Debug, Clone)]
pub struct RawBlock {
    pub parts: Result<RawParts, String>,
}

#[derive(Debug, Clone)]
pub struct RawParts {
    pub header: String,
    pub block_hash: Result<Hash32, String>,
    pub proposer_signature: Result<Signature, String>,
    pub seals: String,
    pub transactions: Vec<String>,
}

impl RawBlock {
    /// A block in its wire form (`block.schema.json`).
    pub fn from_wire(text: &str) -> RawBlock {
        let parts = serde_json::from_str::<WireBlockParts>(text)
            .map_err(|e| format!("the block does not parse: {e}"))
            .map(|p| RawParts {
                header: p.header.get().to_owned(),
                block_hash: serde_json::from_str(p.block_hash.get())
                    .map_err(|e| format!("block_hash: {e}")),
                proposer_signature: serde_json::from_str(p.proposer_signature.get())
                    .map_err(|e| format!("proposer_signature: {e}")),
                seals: p.seals.get().to_owned(),
                transactions: p.transactions.iter().map(|t| t.get().to_owned()).collect(),
            });
        RawBlock { parts }
    }

    pub fn tx_count(&self) -> usize {
        self.parts.as_ref().map_or(0, |p| p.transactions.len())
    }
}

/// Signatures and ballot proofs already verified, so that a block served
/// by several sources is verified once. Only valid ones are remembered,
/// keyed by SHA-256(key || digest || signature) and SHA-256("ballot-proof"
/// || tx_hash); the set stops growing at `cap`.
#[derive(Debug)]
pub struct SigCache {
    set: HashSet<[u8; 32]>,
    cap: usize,
}

/// Signatures remembered at most, by default (about 80 MB).
pub const DEFAULT_SIG_CACHE: usize = 2_000_000;

impl SigCache {
    pub fn new(cap: usize) -> Self {
        Self {
            set: HashSet::new(),
            cap,
        }
    }

    fn key(pk: &PublicKey, digest: &Hash32, sig: &Signature) -> [u8; 32] {
        let mut buf = [0u8; 128];
        buf[..32].copy_from_slice(pk.as_bytes());
        buf[32..64].copy_from_slice(digest.as_bytes());
        buf[64..].copy_from_slice(sig.as_bytes());
        sha256(&buf).0
    }

    /// Whether `sig` by `pk` over `digest` verifies; a newly verified one
    /// is added to `learned` for [`SigCache::remember`].
    pub fn verify(
        &self,
        pk: &PublicKey,
        digest: &Hash32,
        sig: &Signature,
        learned: &mut Vec<[u8; 32]>,
    ) -> bool {
        if self.cap == 0 {
            return verify_digest(pk, digest, sig);
        }
        let k = Self::key(pk, digest, sig);
        if self.set.contains(&k) {
            return true;
        }
        let ok = verify_digest(pk, digest, sig);
        if ok {
            learned.push(k);
        }
        ok
    }

    /// The key under which a transaction whose ballot proofs verified is
    /// remembered: `tx_hash` covers the ballot and everything its proofs
    /// are bound to (chain, election, nullifier, origin).
    pub fn proofs_key(tx_hash: &Hash32) -> [u8; 32] {
        let mut buf = [0u8; 44];
        buf[..12].copy_from_slice(b"ballot-proof");
        buf[12..].copy_from_slice(tx_hash.as_bytes());
        sha256(&buf).0
    }

    /// Whether this transaction's ballot proofs were already verified.
    pub fn known_proofs(&self, tx_hash: &Hash32) -> bool {
        self.cap > 0 && self.set.contains(&Self::proofs_key(tx_hash))
    }

    pub fn remember(&mut self, learned: impl IntoIterator<Item = [u8; 32]>) {
        for k in learned {
            if self.set.len() >= self.cap {
                return;
            }
            self.set.insert(k);
        }
    }
}

/// What the header step found.
#[derive(Debug, Clone)]
pub struct HeaderCheck {
    pub header: Option<BlockHeader>,
    pub claimed_hash: Option<Hash32>,
    pub findings: Vec<Finding>,
    /// Bit i: validator i has a valid commit seal on this block.
    pub valid_sealers: u64,
    /// The header's proposer, when it is a validator whose signature verified.
    pub signed_by_proposer: Option<usize>,
    /// Whether every header integer is at most 2^53 - 1 (the block hash and
    /// the statements over it can be computed exactly).
    pub encodable: bool,
}

/// Parses a header strictly.
pub fn parse_header(parts: &RawParts) -> Result<BlockHeader, String> {
    serde_json::from_str(&parts.header).map_err(|e| format!("the header does not parse: {e}"))
}

/// Rules 1, 2, 6, 7, 8-10 and 14-17: everything about a block that needs
/// neither its parent nor its transactions.
pub fn check_header(
    rules: &ChainRules,
    parts: &RawParts,
    header: &Result<BlockHeader, String>,
    now_ms: u64,
    cache: &SigCache,
    learned: &mut Vec<[u8; 32]>,
) -> HeaderCheck {
    let mut out = HeaderCheck {
        header: None,
        claimed_hash: parts.block_hash.as_ref().ok().copied(),
        findings: Vec::new(),
        valid_sealers: 0,
        signed_by_proposer: None,
        encodable: false,
    };
    let schema = |what: &str, e: &str| {
        Finding::new(
            CheckId::BlockSchema,
            "schema",
            format!("{what} as block.schema.json describes it"),
            e.to_string(),
            format!("{what} is malformed"),
        )
        .rule(2, 0)
    };
    let h = match header {
        Ok(h) => h.clone(),
        Err(e) => {
            out.findings.push(schema("the header", e));
            return out;
        }
    };
    if let Err(e) = &parts.block_hash {
        out.findings.push(schema("block_hash", e));
    }
    if let Err(e) = &parts.proposer_signature {
        out.findings.push(schema("proposer_signature", e));
    }
    // Rule 1.
    if h.chain_id != rules.chain_id {
        out.findings.push(
            Finding::new(
                CheckId::BlockChainId,
                "wrong_chain",
                rules.chain_id.to_hex(),
                h.chain_id.to_hex(),
                "the header names another chain",
            )
            .rule(1, 0),
        );
    }
    // Rule 2.
    let mut hashable = true; // height, timestamp_ms, tx_count: in the block hash
    let mut signable = true; // height, round: in the signed statements
    for (field, v) in [
        ("height", h.height),
        ("round", h.round),
        ("timestamp_ms", h.timestamp_ms),
        ("tx_count", h.tx_count),
    ] {
        if v > MAX_SAFE_INTEGER {
            if field != "round" {
                hashable = false;
            }
            if field == "height" || field == "round" {
                signable = false;
            }
            out.findings.push(
                Finding::new(
                    CheckId::BlockSchema,
                    "integer_too_large",
                    format!("{field} at most 2^53 - 1 = {MAX_SAFE_INTEGER}"),
                    v.to_string(),
                    format!("header {field} is too large for the canonical form"),
                )
                .rule(2, 1),
            );
        }
    }
    out.encodable = hashable && signable;
    // Rule 6.
    if h.timestamp_ms > now_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
        out.findings.push(
            Finding::new(
                CheckId::BlockTimestamp,
                "timestamp_in_future",
                format!(
                    "at most {} (the auditor's clock + {MAX_FUTURE_DRIFT_MS} ms)",
                    now_ms.saturating_add(MAX_FUTURE_DRIFT_MS)
                ),
                h.timestamp_ms.to_string(),
                format!(
                    "the block is stamped {} ms ahead of the auditor's clock",
                    h.timestamp_ms - now_ms
                ),
            )
            .rule(6, 0),
        );
    }
    // Rule 7 (the hash leaves out round and proposer, PROTOCOL.md §5).
    let computed = if hashable {
        canon::header_hash(&h).ok()
    } else {
        None
    };
    if let (Some(claimed), Some(computed)) = (out.claimed_hash, computed)
        && claimed != computed
    {
        out.findings.push(
            Finding::new(
                CheckId::BlockHash,
                "wrong_hash",
                computed.to_hex(),
                claimed.to_hex(),
                "block_hash is not the hash of the header: the header was changed, or the hash",
            )
            .detail("block")
            .rule(7, 0),
        );
    }
    let Some(claimed) = out.claimed_hash.or(computed) else {
        out.header = Some(h);
        return out;
    };
    if !signable {
        // The signed statements hold height and round, which have no exact
        // canonical form: rules 10 and 16-17 cannot be judged.
        if rules.validator_index(&h.proposer).is_none() {
            out.findings.push(
                Finding::new(
                    CheckId::BlockProposer,
                    "unknown_proposer",
                    "a validator of the genesis",
                    rules.describe(&h.proposer),
                    "the block was proposed by a key that is not a validator",
                )
                .rule(8, 0),
            );
        }
        out.header = Some(h);
        return out;
    }
    // Rules 8-10.
    match rules.validator_index(&h.proposer) {
        None => out.findings.push(
            Finding::new(
                CheckId::BlockProposer,
                "unknown_proposer",
                "a validator of the genesis",
                rules.describe(&h.proposer),
                "the block was proposed by a key that is not a validator",
            )
            .rule(8, 0),
        ),
        Some(idx) => {
            let turn = rules.proposer_index(h.height, h.round);
            if turn != idx {
                out.findings.push(
                    Finding::new(
                        CheckId::BlockProposer,
                        "wrong_proposer",
                        format!(
                            "{} (proposer of height {} round {})",
                            rules.describe(rules.validator_key(turn)),
                            h.height,
                            h.round
                        ),
                        rules.describe(&h.proposer),
                        "the block was proposed by a validator whose turn it was not",
                    )
                    .rule(9, 0),
                );
            }
            if let Ok(sig) = &parts.proposer_signature {
                let statement = Vote::about(VoteKind::Proposal, &h, claimed);
                match canon::vote_hash(&statement) {
                    Ok(d) if cache.verify(&h.proposer, &d, sig, learned) => {
                        out.signed_by_proposer = Some(idx);
                    }
                    _ => out.findings.push(
                        Finding::new(
                            CheckId::BlockProposerSignature,
                            "bad_signature",
                            format!(
                                "a signature by {} over the proposal statement of {}",
                                rules.describe(&h.proposer),
                                claimed
                            ),
                            sig.to_hex(),
                            "the proposer signature does not verify under the proposer's key",
                        )
                        .detail("proposal")
                        .rule(10, 0),
                    ),
                }
            }
        }
    }
    // Rules 14-17.
    match serde_json::from_str::<Vec<CommitSeal>>(&parts.seals) {
        Err(e) => out
            .findings
            .push(schema("the seals", &e.to_string()).rule(14, 0)),
        Ok(seals) => {
            let statement = Vote::about(VoteKind::Commit, &h, claimed);
            let digest = canon::vote_hash(&statement).ok();
            let mut seen: u64 = 0;
            for (i, s) in seals.iter().enumerate() {
                let Some(idx) = rules.validator_index(&s.validator) else {
                    out.findings.push(
                        Finding::new(
                            CheckId::BlockSeals,
                            "seal_from_non_validator",
                            "commit seals from validators only",
                            rules.describe(&s.validator),
                            format!("seal {i} is from a key that is not a validator"),
                        )
                        .rule(14, i),
                    );
                    continue;
                };
                let bit = 1u64 << idx;
                if seen & bit != 0 {
                    out.findings.push(
                        Finding::new(
                            CheckId::BlockSeals,
                            "duplicate_seal",
                            "one seal per validator",
                            format!("a second seal from {}", rules.describe(&s.validator)),
                            format!("seal {i} repeats a validator that sealed earlier in the list"),
                        )
                        .rule(15, i),
                    );
                    continue;
                }
                seen |= bit;
                let ok = digest
                    .as_ref()
                    .is_some_and(|d| cache.verify(&s.validator, d, &s.signature, learned));
                if ok {
                    out.valid_sealers |= bit;
                } else {
                    out.findings.push(
                        Finding::new(
                            CheckId::BlockSeals,
                            "bad_seal",
                            format!(
                                "a signature by {} over the commit statement of {}",
                                rules.describe(&s.validator),
                                claimed
                            ),
                            s.signature.to_hex(),
                            format!(
                                "seal {i} does not verify: it signs another block or another kind of statement"
                            ),
                        )
                        .rule(16, i),
                    );
                }
            }
            let have = out.valid_sealers.count_ones() as usize;
            if have < rules.quorum {
                out.findings.push(
                    Finding::new(
                        CheckId::BlockSeals,
                        "too_few_seals",
                        format!(
                            "at least Q = {} distinct valid seals ({} validators)",
                            rules.quorum,
                            rules.validator_count()
                        ),
                        format!("{have} of {} seals", seals.len()),
                        "the block is not committed: it lacks a quorum of commit seals",
                    )
                    .rule(17, 0),
                );
            }
        }
    }
    out.header = Some(h);
    out
}

/// What one ballot is, as far as the chain state needs it.
#[derive(Debug, Clone)]
pub struct BallotInfo {
    pub election_id: u64,
    pub nullifier: Hash32,
    /// The ciphertexts, decoded, when they can be added to the election's
    /// tally (the election exists and there is one per candidate). Every
    /// ballot a block holds counts, valid or not: the tally a share is of
    /// is "every ballot of the election in blocks 1..=tally_height" (rule
    /// 21), and a broken ballot is reported where it is.
    pub cts: Option<Vec<(RistrettoPoint, RistrettoPoint)>>,
    /// Per selection: the first 16 bytes of `A`'s encoding and the first 8
    /// of `B`'s (for `tx.ciphertext_unique`).
    pub a_keys: Vec<([u8; 16], [u8; 8])>,
    /// The fallback block a ballot recorded offline names (§7a).
    pub fallback: Option<FallbackRef>,
}

impl BallotInfo {
    fn of(rules: &ChainRules, b: &BallotTx) -> BallotInfo {
        let sels = &b.ballot.selections;
        let fits = rules
            .election(b.election_id)
            .is_some_and(|e| e.candidates.len() == sels.len());
        BallotInfo {
            election_id: b.election_id,
            nullifier: b.nullifier,
            cts: fits.then(|| {
                sels.iter()
                    .map(|s| (*s.ciphertext.a.point(), *s.ciphertext.b.point()))
                    .collect()
            }),
            a_keys: sels
                .iter()
                .map(|s| {
                    let (a, b) = (s.ciphertext.a.as_bytes(), s.ciphertext.b.as_bytes());
                    let mut ka = [0u8; 16];
                    ka.copy_from_slice(&a[..16]);
                    let mut kb = [0u8; 8];
                    kb.copy_from_slice(&b[..8]);
                    (ka, kb)
                })
                .collect(),
            fallback: b.fallback.clone(),
        }
    }
}

/// What one transaction is, as far as the chain state needs it.
#[derive(Debug, Clone, Default)]
pub enum TxInfo {
    /// It did not parse.
    #[default]
    Unreadable,
    Ballot(Box<BallotInfo>),
    Share(Box<DecryptionShareTx>),
}

/// One transaction after its stateless checks.
#[derive(Debug, Clone, Default)]
pub struct TxCheck {
    pub hash: Option<Hash32>,
    pub info: TxInfo,
    /// The first of rules 18a-18m it breaks.
    pub finding: Option<Finding>,
}

/// Rules 18a-18m for one transaction at block time `t` (`None` when the
/// block's header did not parse: the timing rules are not judged).
pub fn check_tx(
    rules: &ChainRules,
    text: &str,
    t: Option<u64>,
    cache: &SigCache,
    learned: &mut Vec<[u8; 32]>,
) -> TxCheck {
    match serde_json::from_str(text) {
        Ok(stx) => check_signed_tx(rules, stx, t, cache, learned),
        Err(e) => unparsed(&e),
    }
}

/// The check of a transaction that does not parse.
fn unparsed(e: &serde_json::Error) -> TxCheck {
    TxCheck {
        finding: Some(
            Finding::new(
                CheckId::TxSchema,
                "schema",
                "a signed transaction as transaction.schema.json describes it",
                e.to_string(),
                "the transaction does not parse",
            )
            .rule(18, 0),
        ),
        ..TxCheck::default()
    }
}

/// A ballot whose proofs are to be verified in a batch, with its key in
/// the cache of verified proofs.
type ToVerify<'a> = (BallotContext, &'a EncryptedBallot, [u8; 32]);

/// [`check_tx`] on several transactions of one block, with the same
/// findings. The proofs of their ballots are first verified together, one
/// batch per election (PROTOCOL.md E.3, batch verification); a ballot of a
/// batch that fails is verified again on its own, proof by proof.
pub fn check_txs<S: AsRef<str>>(
    rules: &ChainRules,
    texts: &[S],
    t: Option<u64>,
    cache: &SigCache,
    learned: &mut Vec<[u8; 32]>,
) -> Vec<TxCheck> {
    let parsed: Vec<Result<SignedTx, serde_json::Error>> = texts
        .iter()
        .map(|text| serde_json::from_str(text.as_ref()))
        .collect();
    let proven = batch_proofs(rules, &parsed, cache);
    parsed
        .into_iter()
        .map(|p| match p {
            Ok(stx) => check_signed_tx_with(rules, stx, t, cache, &proven, learned),
            Err(e) => unparsed(&e),
        })
        .collect()
}

/// The proof keys ([`SigCache::proofs_key`]) of the ballots among `parsed`
/// whose proofs hold, verified in one batch per election; ballots already
/// known to the cache, or of the wrong shape, are left to the checks.
fn batch_proofs(
    rules: &ChainRules,
    parsed: &[Result<SignedTx, serde_json::Error>],
    cache: &SigCache,
) -> BTreeSet<[u8; 32]> {
    let mut by_election: BTreeMap<u64, Vec<ToVerify<'_>>> = BTreeMap::new();
    for stx in parsed.iter().flatten() {
        let Transaction::Ballot(b) = &stx.tx else {
            continue;
        };
        let Some(election) = rules.election(b.election_id) else {
            continue;
        };
        let Ok(hash) = canon::any_tx_hash(&stx.tx) else {
            continue;
        };
        if b.ballot.selections.len() != election.candidates.len() || cache.known_proofs(&hash) {
            continue;
        }
        let ctx = BallotContext {
            chain_id: b.chain_id.0,
            election_id: b.election_id,
            nullifier: b.nullifier.0,
            origin: b.origin.0,
        };
        let key = SigCache::proofs_key(&hash);
        by_election
            .entry(b.election_id)
            .or_default()
            .push((ctx, &b.ballot, key));
    }
    let mut proven = BTreeSet::new();
    for (eid, ballots) in by_election {
        let (Some(Ok(key)), Some(election)) = (rules.election_key(eid), rules.election(eid)) else {
            continue;
        };
        let items: Vec<(BallotContext, &EncryptedBallot)> =
            ballots.iter().map(|(c, b, _)| (*c, *b)).collect();
        if ballots_hold_together(&items, key, election.candidates.len()) {
            proven.extend(ballots.iter().map(|(_, _, k)| *k));
        }
    }
    proven
}

/// [`check_tx`] for a transaction already parsed.
pub fn check_signed_tx(
    rules: &ChainRules,
    stx: SignedTx,
    t: Option<u64>,
    cache: &SigCache,
    learned: &mut Vec<[u8; 32]>,
) -> TxCheck {
    check_signed_tx_with(rules, stx, t, cache, &BTreeSet::new(), learned)
}

/// [`check_signed_tx`]; the ballot proofs whose keys are in `proven` were
/// verified already (in a batch).
fn check_signed_tx_with(
    rules: &ChainRules,
    stx: SignedTx,
    t: Option<u64>,
    cache: &SigCache,
    proven: &BTreeSet<[u8; 32]>,
    learned: &mut Vec<[u8; 32]>,
) -> TxCheck {
    let mut out = TxCheck::default();
    let big = match &stx.tx {
        Transaction::Ballot(b) => {
            out.info = TxInfo::Ballot(Box::new(BallotInfo::of(rules, b)));
            [
                ("election_id", b.election_id, 3),
                ("submitted_at_ms", b.submitted_at_ms, 6),
            ]
            .into_iter()
            .find(|(_, v, _)| *v > MAX_SAFE_INTEGER)
        }
        Transaction::DecryptionShare(d) => [
            ("election_id", d.election_id, 3),
            ("tally_height", d.tally_height, 12),
            ("ballot_count", d.ballot_count, 12),
            ("submitted_at_ms", d.submitted_at_ms, 12),
        ]
        .into_iter()
        .find(|(_, v, _)| *v > MAX_SAFE_INTEGER),
    };
    if big.is_none() {
        out.hash = canon::any_tx_hash(&stx.tx).ok();
    }
    let fail = |f: Finding| Some(f);
    let tx = &stx.tx;
    // 18a
    if tx.chain_id() != &rules.chain_id {
        out.finding = fail(
            Finding::new(
                CheckId::TxChainId,
                "wrong_chain",
                rules.chain_id.to_hex(),
                tx.chain_id().to_hex(),
                "the transaction names another chain",
            )
            .rule(18, 1),
        );
        return out;
    }
    // 18b
    if !rules.is_origin(tx.origin()) {
        out.finding = fail(
            Finding::new(
                CheckId::TxOrigin,
                "unknown_origin",
                "a validator or station of the genesis",
                format!("{} (not in the genesis)", tx.origin()),
                "the transaction was signed by an appliance that is not in the genesis",
            )
            .rule(18, 2),
        );
        return out;
    }
    // 18c, 18f, 18l: without an exact canonical form there is no tx_hash.
    if let Some((field, v, sub)) = big {
        out.finding = fail(
            Finding::new(
                CheckId::TxSchema,
                "integer_too_large",
                format!("{field} at most 2^53 - 1"),
                v.to_string(),
                format!("{field} is too large for the canonical form"),
            )
            .rule(18, sub),
        );
        return out;
    }
    let Some(tx_hash) = out.hash else {
        out.finding = fail(
            Finding::new(
                CheckId::TxSchema,
                "encoding",
                "a transaction with a canonical form",
                "none",
                "the transaction cannot be canonicalised",
            )
            .rule(18, 3),
        );
        return out;
    };
    // 18d
    if !cache.verify(tx.origin(), &tx_hash, &stx.signature, learned) {
        out.finding = fail(
            Finding::new(
                CheckId::TxSignature,
                "bad_signature",
                format!(
                    "a signature by the origin {} over tx_hash {tx_hash}",
                    rules.describe(tx.origin())
                ),
                stx.signature.to_hex(),
                "the origin's signature does not verify: the transaction was changed after it was signed",
            )
            .detail("transaction")
            .rule(18, 4),
        );
        return out;
    }
    // 18e
    let Some(election) = rules.election(tx.election_id()) else {
        out.finding = fail(
            Finding::new(
                CheckId::TxElection,
                "unknown_election",
                "an election of the genesis",
                format!("election {}", tx.election_id()),
                "the transaction is for an election the genesis does not hold",
            )
            .rule(18, 5),
        );
        return out;
    };
    match stx.tx {
        Transaction::Ballot(b) => {
            let proofs = Proofs { cache, proven };
            out.finding = check_ballot(rules, election, &b, &tx_hash, t, proofs, learned);
        }
        Transaction::DecryptionShare(d) => {
            // 18m
            let n = election.trustees.trustees;
            let j = d.share.trustee_index;
            let bad = |expected: String, found: String, message: &str| {
                Some(
                    Finding::new(
                        CheckId::TxDecryptionShare,
                        "bad_decryption_share",
                        expected,
                        found,
                        message,
                    )
                    .rule(18, 13),
                )
            };
            if j == 0 || j > n {
                out.finding = bad(
                    format!("a trustee index of 1 to {n}"),
                    format!("trustee {j}"),
                    "the share names a trustee the election does not have",
                );
            } else if d.share.shares.len() != election.candidates.len() {
                out.finding = bad(
                    format!(
                        "{} partial decryptions (one per candidate)",
                        election.candidates.len()
                    ),
                    format!("{}", d.share.shares.len()),
                    "the share does not decrypt every candidate's total",
                );
            }
            out.info = TxInfo::Share(Box::new(d));
        }
    }
    out
}

/// Rules 18g-18k for a ballot whose signature verified.
/// Where a ballot's proofs may already be known to hold: the cache of an
/// earlier source, or a batch of this block.
#[derive(Clone, Copy)]
struct Proofs<'a> {
    cache: &'a SigCache,
    proven: &'a BTreeSet<[u8; 32]>,
}

impl Proofs<'_> {
    fn known(&self, tx_hash: &Hash32) -> bool {
        self.cache.known_proofs(tx_hash) || self.proven.contains(&SigCache::proofs_key(tx_hash))
    }
}

fn check_ballot(
    rules: &ChainRules,
    election: &Election,
    b: &BallotTx,
    tx_hash: &Hash32,
    t: Option<u64>,
    proofs: Proofs<'_>,
    learned: &mut Vec<[u8; 32]>,
) -> Option<Finding> {
    // 18g
    let computed = canon::ballot_hash(&b.ballot);
    if computed != b.ballot_hash {
        return Some(
            Finding::new(
                CheckId::TxBallotHash,
                "wrong_hash",
                computed.to_hex(),
                b.ballot_hash.to_hex(),
                "ballot_hash is not the hash of the ballot: the ballot was changed",
            )
            .detail("ballot")
            .rule(18, 7),
        );
    }
    if let Some(t) = t {
        // 18h
        let s = b.submitted_at_ms;
        if !(election.opens_at <= s && s < election.closes_at) {
            return Some(
                Finding::new(
                    CheckId::TxTiming,
                    "election_not_open",
                    format!(
                        "submitted_at_ms in [{}, {}) (opens_at, closes_at)",
                        election.opens_at, election.closes_at
                    ),
                    format!("submitted_at_ms {s}"),
                    format!(
                        "the ballot was accepted while election {} was not open",
                        election.id
                    ),
                )
                .rule(18, 8),
            );
        }
        // 18i
        if s > t.saturating_add(MAX_FUTURE_DRIFT_MS) {
            return Some(
                Finding::new(
                    CheckId::TxTiming,
                    "bad_tx",
                    format!(
                        "submitted_at_ms at most {} (block time + {MAX_FUTURE_DRIFT_MS} ms)",
                        t.saturating_add(MAX_FUTURE_DRIFT_MS)
                    ),
                    format!("submitted_at_ms {s}"),
                    "the ballot claims to have been accepted after the block that holds it",
                )
                .rule(18, 9),
            );
        }
        // 18j
        let deadline = election.closes_at.saturating_add(LATE_BALLOT_GRACE_MS);
        if b.fallback.is_none() && t >= deadline {
            return Some(
                Finding::new(
                    CheckId::TxTiming,
                    "election_not_open",
                    format!(
                        "a block before {deadline} (closes_at + {LATE_BALLOT_GRACE_MS} ms grace)"
                    ),
                    format!("block time {t}"),
                    "the ballot reached a block after the grace period that follows the close, without a fallback reference",
                )
                .rule(18, 10),
            );
        }
    }
    // 18k
    let bad = |expected: String, found: String, message: String| {
        Some(
            Finding::new(
                CheckId::TxBallotProofs,
                "bad_ballot",
                expected,
                found,
                message,
            )
            .rule(18, 11),
        )
    };
    let key = match rules.election_key(election.id) {
        Some(Ok(k)) => k,
        other => {
            let why = match other {
                Some(Err(e)) => format!("{}: {e}", e.code()),
                _ => "no key".to_string(),
            };
            return bad(
                format!("proofs under election {}'s key", election.id),
                format!("no valid election key ({why})"),
                format!(
                    "the ballot cannot be checked: election {}'s key ceremony record in the genesis does not verify (see genesis.trustees)",
                    election.id
                ),
            );
        }
    };
    if proofs.cache.known_proofs(tx_hash) {
        return None;
    }
    if proofs.known(tx_hash) {
        learned.push(SigCache::proofs_key(tx_hash));
        return None;
    }
    let ctx = BallotContext {
        chain_id: b.chain_id.0,
        election_id: b.election_id,
        nullifier: b.nullifier.0,
        origin: b.origin.0,
    };
    match verify_ballot(&ctx, key, &b.ballot, election.candidates.len()) {
        Ok(()) => {
            learned.push(SigCache::proofs_key(tx_hash));
            None
        }
        Err(e) => bad(
            format!(
                "an encrypted ballot for {} candidates whose proofs verify under election {}'s key, bound to (chain, election {}, nullifier {}, origin {})",
                election.candidates.len(),
                election.id,
                b.election_id,
                b.nullifier.short(),
                b.origin.short()
            ),
            format!("{}: {e}", e.code()),
            format!(
                "the ballot's proofs do not verify ({}): it is not a well-formed vote for one candidate, or it was made for another voter, appliance, election or chain",
                e.code()
            ),
        ),
    }
}

/// A block after its stateless checks.
#[derive(Debug, Clone)]
pub struct CheckedBlock {
    pub header: HeaderCheck,
    /// Why the block could not be read at all.
    pub unreadable: Option<String>,
    pub txs: Vec<TxCheck>,
}

/// Rules 11-13 and the assembly of a block's stateless findings.
pub fn finish_block(rules: &ChainRules, header: HeaderCheck, txs: Vec<TxCheck>) -> CheckedBlock {
    let mut header = header;
    if let Some(h) = header.header.clone() {
        let found = txs.len() as u64;
        if h.tx_count != found {
            header.findings.push(
                Finding::new(
                    CheckId::BlockTxCount,
                    "tx_count_mismatch",
                    format!("{} transactions (the header's tx_count)", h.tx_count),
                    format!("{found} transactions"),
                    "the block holds a different number of transactions than its header says",
                )
                .rule(11, 0),
            );
        }
        if found > rules.genesis.params.max_block_txs {
            header.findings.push(
                Finding::new(
                    CheckId::BlockTxCount,
                    "too_many_txs",
                    format!(
                        "at most {} transactions (params.max_block_txs)",
                        rules.genesis.params.max_block_txs
                    ),
                    format!("{found} transactions"),
                    "the block holds more transactions than the genesis allows",
                )
                .rule(12, 0),
            );
        }
        let hashes: Option<Vec<Hash32>> = txs.iter().map(|t| t.hash).collect();
        match hashes {
            Some(hs) => {
                let root = merkle_root(&hs);
                if root != h.tx_root {
                    header.findings.push(
                        Finding::new(
                            CheckId::BlockTxRoot,
                            "wrong_hash",
                            root.to_hex(),
                            h.tx_root.to_hex(),
                            "tx_root is not the Merkle root of the block's transactions: a transaction was changed, added, removed or reordered",
                        )
                        .detail("tx_root")
                        .rule(13, 0),
                    );
                }
            }
            None => {
                // A transaction without a hash is already reported under
                // tx.schema; the root cannot be recomputed.
            }
        }
    }
    CheckedBlock {
        header,
        unreadable: None,
        txs,
    }
}

/// Checks one block on one thread: the stateless rules, then the chain
/// state's. Used by the test vectors and by small audits.
pub fn check_block(
    rules: &ChainRules,
    state: &mut ChainState,
    raw: &RawBlock,
    now_ms: u64,
    cache: &SigCache,
) -> (Vec<Finding>, HeightRecord) {
    let mut learned = Vec::new();
    let checked = match &raw.parts {
        Err(e) => unreadable(e.clone()),
        Ok(parts) => {
            let header = parse_header(parts);
            let t = header.as_ref().ok().map(|h| h.timestamp_ms);
            let hc = check_header(rules, parts, &header, now_ms, cache, &mut learned);
            let txs = check_txs(rules, &parts.transactions, t, cache, &mut learned);
            finish_block(rules, hc, txs)
        }
    };
    state.apply(rules, checked)
}

/// A block that could not be read at all.
pub fn unreadable(reason: String) -> CheckedBlock {
    CheckedBlock {
        header: HeaderCheck {
            header: None,
            claimed_hash: None,
            findings: Vec::new(),
            valid_sealers: 0,
            signed_by_proposer: None,
            encodable: false,
        },
        unreadable: Some(reason),
        txs: Vec::new(),
    }
}
