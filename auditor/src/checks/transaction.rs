//! PROTOCOL.md §6 rule 18, for one transaction at a time: 18a-18f for
//! every transaction, 18g-18m for a ballot (its proofs verified in batches,
//! E.3), 18n-18o for a decryption share, 18p-18r for a check-in, 18s for a
//! credential replacement, 18t for a closing record, 18u for a spoiled
//! ballot (and whether it opens to its choice, [`super::spoiled`]). What needs the chain
//! so far (rules 19-24) is [`super::chain`]'s.

use std::collections::{BTreeMap, BTreeSet};

use curve25519_dalek::ristretto::RistrettoPoint;

use crate::protocol::canon;
use crate::protocol::elgamal::{
    BallotContext, EncryptedBallot, ballots_hold_together, verify_ballot,
};
use crate::protocol::{
    BallotTx, ChainRules, CheckInTx, CredentialReplacementTx, DecryptionShareTx, DeviceCloseTx,
    Election, FallbackRef, Hash32, LATE_BALLOT_GRACE_MS, MAX_FUTURE_DRIFT_MS, MAX_SAFE_INTEGER,
    PublicKey, SignedTx, Transaction, hash_of, is_weak_key, verify_inclusion,
};

use super::{CheckId, Finding, SigCache};

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
    /// The appliance that accepted it.
    pub origin: PublicKey,
    /// The election lets anyone register: no credential is listed.
    pub open_registration: bool,
    /// The genesis lists the ballot's credential (the nullifier).
    pub listed: bool,
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
            a_keys: ciphertext_keys(sels.iter().map(|s| &s.ciphertext)),
            fallback: b.fallback.clone(),
            origin: b.origin,
            open_registration: rules
                .election(b.election_id)
                .is_some_and(|e| e.roll().is_none()),
            listed: rules
                .election(b.election_id)
                .is_some_and(|e| e.lists(&PublicKey(b.nullifier.0))),
        }
    }
}

/// Per ciphertext: the first 16 bytes of `A`'s encoding and the first 8
/// of `B`'s (for `tx.ciphertext_unique`).
pub(crate) fn ciphertext_keys<'a>(
    cts: impl Iterator<Item = &'a crate::protocol::elgamal::Ciphertext>,
) -> Vec<([u8; 16], [u8; 8])> {
    cts.map(|c| {
        let (a, b) = (c.a.as_bytes(), c.b.as_bytes());
        let mut ka = [0u8; 16];
        ka.copy_from_slice(&a[..16]);
        let mut kb = [0u8; 8];
        kb.copy_from_slice(&b[..8]);
        (ka, kb)
    })
    .collect()
}

/// What a check-in is, as far as the chain state needs it: the roll entry
/// it opens, and who checked the voter in.
#[derive(Debug, Clone)]
pub struct CheckInInfo {
    pub election_id: u64,
    pub leaf: Hash32,
    pub origin: PublicKey,
}

/// What one transaction is, as far as the chain state needs it.
#[derive(Debug, Clone, Default)]
pub enum TxInfo {
    /// It did not parse.
    #[default]
    Unreadable,
    Ballot(Box<BallotInfo>),
    Share(Box<DecryptionShareTx>),
    CheckIn(Box<CheckInInfo>),
    Replacement(Box<CredentialReplacementTx>),
    Close(Box<DeviceCloseTx>),
    /// A spoiled ballot: it never counts (§4e), but its ciphertexts, whose
    /// randomness it publishes, must never be cast ([`ciphertext_keys`]).
    Spoiled(Vec<([u8; 16], [u8; 8])>),
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
    if let Transaction::Ballot(b) = &stx.tx {
        out.info = TxInfo::Ballot(Box::new(BallotInfo::of(rules, b)));
    }
    let big = too_large(&stx.tx);
    if big.is_none() {
        out.hash = canon::any_tx_hash(&stx.tx).ok();
    }
    let (tx_hash, election) = match envelope(rules, &stx, big, out.hash, cache, learned) {
        Ok(checked) => checked,
        Err(f) => {
            out.finding = Some(*f);
            return out;
        }
    };
    match stx.tx {
        Transaction::Ballot(b) => {
            let proofs = Proofs { cache, proven };
            out.finding = check_ballot(rules, election, &b, &tx_hash, t, proofs, learned);
        }
        Transaction::DecryptionShare(d) => {
            out.finding = share_shape(election, &d);
            out.info = TxInfo::Share(Box::new(d));
        }
        Transaction::CheckIn(c) => {
            out.finding = check_check_in(election, &c, t);
            if let Ok(leaf) = check_in_leaf(&c) {
                out.info = TxInfo::CheckIn(Box::new(CheckInInfo {
                    election_id: c.election_id,
                    leaf,
                    origin: c.origin,
                }));
            }
        }
        Transaction::CredentialReplacement(r) => {
            out.finding = check_replacement(election, &r, t);
            out.info = TxInfo::Replacement(Box::new(r));
        }
        Transaction::DeviceClose(d) => {
            out.finding = check_device_close(election, &d, t);
            out.info = TxInfo::Close(Box::new(d));
        }
        Transaction::SpoiledBallot(sp) => {
            out.finding = super::spoiled::check_spoiled(rules, election, &sp, t);
            out.info = TxInfo::Spoiled(ciphertext_keys(sp.ciphertexts.iter()));
        }
    }
    out
}

/// The first integer of the transaction too large for the canonical form
/// (rules 18c, 18f, 18n, 18p, 18s, 18t): its field, its value, its rule's
/// item.
fn too_large(tx: &Transaction) -> Option<(&'static str, u64, usize)> {
    match tx {
        Transaction::Ballot(b) => [
            ("election_id", b.election_id, 3),
            ("submitted_at_ms", b.submitted_at_ms, 6),
        ]
        .into_iter()
        .find(|(_, v, _)| *v > MAX_SAFE_INTEGER),
        Transaction::DecryptionShare(d) => [
            ("election_id", d.election_id, 3),
            ("tally_height", d.tally_height, 12),
            ("ballot_count", d.ballot_count, 12),
            ("submitted_at_ms", d.submitted_at_ms, 12),
        ]
        .into_iter()
        .find(|(_, v, _)| *v > MAX_SAFE_INTEGER),
        Transaction::CheckIn(c) => [
            ("election_id", c.election_id, 3),
            ("index", c.index, 15),
            ("checked_in_at_ms", c.checked_in_at_ms, 15),
        ]
        .into_iter()
        .find(|(_, v, _)| *v > MAX_SAFE_INTEGER),
        Transaction::CredentialReplacement(r) => [
            ("election_id", r.election_id, 3),
            ("issued_at_ms", r.issued_at_ms, 18),
        ]
        .into_iter()
        .find(|(_, v, _)| *v > MAX_SAFE_INTEGER),
        Transaction::DeviceClose(d) => [
            ("election_id", d.election_id, 3),
            ("codes.count", d.codes.count, 19),
            ("ballots", d.ballots, 19),
            ("check_ins", d.check_ins, 19),
            ("closed_at_ms", d.closed_at_ms, 19),
            (
                "fallback.last_seq",
                d.fallback.map_or(0, |f| f.last_seq),
                19,
            ),
        ]
        .into_iter()
        .find(|(_, v, _)| *v > MAX_SAFE_INTEGER),
        Transaction::SpoiledBallot(sp) => [
            ("election_id", sp.election_id, 3),
            ("choice", sp.choice, 20),
            ("spoiled_at_ms", sp.spoiled_at_ms, 20),
        ]
        .into_iter()
        .find(|(_, v, _)| *v > MAX_SAFE_INTEGER),
    }
}

/// Rules 18a and 18b: the transaction names this chain and comes from
/// an appliance of the genesis (a credential replacement, from the
/// credential authority).
fn chain_and_origin(rules: &ChainRules, tx: &Transaction) -> Result<(), Box<Finding>> {
    // 18a
    if tx.chain_id() != &rules.chain_id {
        return Err(Box::new(
            Finding::new(
                CheckId::TxChainId,
                "wrong_chain",
                rules.chain_id.to_hex(),
                tx.chain_id().to_hex(),
                "the transaction names another chain",
            )
            .rule(18, 1),
        ));
    }
    // 18b
    let replacement = matches!(tx, Transaction::CredentialReplacement(_));
    if replacement && tx.origin() != &rules.genesis.credential_authority {
        return Err(Box::new(
            Finding::new(
                CheckId::TxOrigin,
                "unknown_origin",
                format!(
                    "the credential authority {}",
                    rules.genesis.credential_authority
                ),
                rules.describe(tx.origin()),
                "a credential replacement not signed by the credential authority",
            )
            .rule(18, 2),
        ));
    }
    if !replacement && !rules.is_origin(tx.origin()) {
        return Err(Box::new(
            Finding::new(
                CheckId::TxOrigin,
                "unknown_origin",
                "a validator or station of the genesis",
                format!("{} (not in the genesis)", tx.origin()),
                "the transaction was signed by an appliance that is not in the genesis",
            )
            .rule(18, 2),
        ));
    }
    Ok(())
}

/// Rules 18a-18e, which every transaction follows: its chain, its origin,
/// its canonical form, its signature and its election. Gives the
/// transaction's hash and election, or the first rule it breaks.
fn envelope<'r>(
    rules: &'r ChainRules,
    stx: &SignedTx,
    big: Option<(&'static str, u64, usize)>,
    hash: Option<Hash32>,
    cache: &SigCache,
    learned: &mut Vec<[u8; 32]>,
) -> Result<(Hash32, &'r Election), Box<Finding>> {
    let tx = &stx.tx;
    chain_and_origin(rules, tx)?;
    // 18c, 18f, 18n, 18p, 18s, 18t: without an exact canonical form there
    // is no tx_hash.
    if let Some((field, v, sub)) = big {
        return Err(Box::new(
            Finding::new(
                CheckId::TxSchema,
                "integer_too_large",
                format!("{field} at most 2^53 - 1"),
                v.to_string(),
                format!("{field} is too large for the canonical form"),
            )
            .rule(18, sub),
        ));
    }
    let Some(tx_hash) = hash else {
        return Err(Box::new(
            Finding::new(
                CheckId::TxSchema,
                "encoding",
                "a transaction with a canonical form",
                "none",
                "the transaction cannot be canonicalised",
            )
            .rule(18, 3),
        ));
    };
    // 18d
    if !cache.verify(tx.origin(), &tx_hash, &stx.signature, learned) {
        return Err(Box::new(
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
        ));
    }
    // 18e
    let Some(election) = rules.election(tx.election_id()) else {
        return Err(Box::new(
            Finding::new(
                CheckId::TxElection,
                "unknown_election",
                "an election of the genesis",
                format!("election {}", tx.election_id()),
                "the transaction is for an election the genesis does not hold",
            )
            .rule(18, 5),
        ));
    };
    Ok((tx_hash, election))
}

/// A decryption share that breaks `rule` (18m or 21) and its item.
pub(super) fn bad_share(
    (rule, sub): (u16, usize),
    expected: String,
    found: String,
    message: String,
) -> Option<Finding> {
    Some(
        Finding::new(
            CheckId::TxDecryptionShare,
            "bad_decryption_share",
            expected,
            found,
            message,
        )
        .rule(rule, sub),
    )
}

/// Rule 18m: a share names one of the election's trustees and decrypts
/// every candidate's total.
fn share_shape(election: &Election, d: &DecryptionShareTx) -> Option<Finding> {
    let n = election.trustees.trustees;
    let j = d.share.trustee_index;
    if j == 0 || j > n {
        bad_share(
            (18, 13),
            format!("a trustee index of 1 to {n}"),
            format!("trustee {j}"),
            "the share names a trustee the election does not have".into(),
        )
    } else if d.share.shares.len() != election.candidates.len() {
        bad_share(
            (18, 13),
            format!(
                "{} partial decryptions (one per candidate)",
                election.candidates.len()
            ),
            format!("{}", d.share.shares.len()),
            "the share does not decrypt every candidate's total".into(),
        )
    } else {
        None
    }
}

/// The roll entry a check-in opens (§3a): H({type: "roll_entry",
/// election_id, voter, station?}).
pub fn check_in_leaf(c: &CheckInTx) -> Result<Hash32, crate::protocol::EncodingError> {
    let mut entry = serde_json::json!({
        "type": "roll_entry",
        "election_id": c.election_id,
        "voter": c.voter,
    });
    if let Some(s) = &c.station {
        entry["station"] = serde_json::json!(s);
    }
    hash_of(&entry)
}

/// "Made after the block that holds it" (with the drift allowance).
pub(super) fn after_block(field: &str, made: u64, t: Option<u64>, rule: usize) -> Option<Finding> {
    let t = t?;
    (made > t.saturating_add(MAX_FUTURE_DRIFT_MS)).then(|| {
        Finding::new(
            CheckId::TxTiming,
            "bad_tx",
            format!(
                "{field} at most {} (block time + {MAX_FUTURE_DRIFT_MS} ms)",
                t.saturating_add(MAX_FUTURE_DRIFT_MS)
            ),
            format!("{field} {made}"),
            "the record claims to have been made after the block that holds it",
        )
        .rule(18, rule)
    })
}

/// Rules 18p-18r: the check-in opens an entry of the election's roll, at
/// the station the entry names, while the election is open.
fn check_check_in(election: &Election, c: &CheckInTx, t: Option<u64>) -> Option<Finding> {
    let f = |code: &'static str, expected: String, found: String, message: String| {
        let check = if code == "election_not_open" {
            CheckId::TxTiming
        } else {
            CheckId::TxCheckIn
        };
        Some(Finding::new(check, code, expected, found, message).rule(18, 16))
    };
    let Some(roll) = election.roll() else {
        return f(
            "not_on_roll",
            format!(
                "an election with a roll (election {} has open registration)",
                election.id
            ),
            "a check-in".into(),
            "a check-in for an election without a roll".into(),
        );
    };
    let proved = check_in_leaf(c)
        .is_ok_and(|leaf| verify_inclusion(&leaf, c.index, roll.size, &c.path, &roll.root));
    if !proved {
        return f(
            "not_on_roll",
            format!(
                "an entry of election {}'s roll (root {}, {} voters) with its inclusion proof",
                election.id, roll.root, roll.size
            ),
            format!("entry {} whose path leads elsewhere", c.index),
            "a check-in of a voter who is not on the roll (a ghost)".into(),
        );
    }
    if let Some(st) = &c.station
        && st != &c.origin
    {
        return f(
            "wrong_station",
            format!("a check-in at {st}, the voter's station on the roll"),
            format!("a check-in at {}", c.origin),
            "the voter was checked in at a station the roll does not assign them to".into(),
        );
    }
    let at = c.checked_in_at_ms;
    if !(election.opens_at <= at && at < election.closes_at) {
        return f(
            "election_not_open",
            format!(
                "checked_in_at_ms in [{}, {})",
                election.opens_at, election.closes_at
            ),
            format!("checked_in_at_ms {at}"),
            "a check-in while the election was not open".into(),
        );
    }
    after_block("checked_in_at_ms", at, t, 16)
}

/// Rule 18s: a replacement names a usable new key, before the close.
fn check_replacement(
    election: &Election,
    r: &CredentialReplacementTx,
    t: Option<u64>,
) -> Option<Finding> {
    let f = |code: &'static str, expected: String, found: String, message: String| {
        let check = match code {
            "election_not_open" => CheckId::TxTiming,
            "unknown_credential" => CheckId::TxCredential,
            _ => CheckId::TxCredentialReplacement,
        };
        Some(Finding::new(check, code, expected, found, message).rule(18, 18))
    };
    if election.roll().is_none() {
        return f(
            "unknown_credential",
            "an election with a credential list".into(),
            format!("election {} has open registration", election.id),
            "a credential replacement in an election without credentials".into(),
        );
    }
    if is_weak_key(&r.replacement) {
        return f(
            "key",
            "a replacement credential that is not a weak key (§2)".into(),
            r.replacement.to_hex(),
            "the replacement credential is a weak key: anyone could sign for it".into(),
        );
    }
    if r.replacement == r.revoked {
        return f(
            "duplicate_credential",
            "a replacement other than the revoked credential".into(),
            r.replacement.to_hex(),
            "the replacement is the credential it revokes".into(),
        );
    }
    if r.issued_at_ms >= election.closes_at {
        return f(
            "election_not_open",
            format!("issued_at_ms below closes_at {}", election.closes_at),
            format!("issued_at_ms {}", r.issued_at_ms),
            "a credential replaced after the election closed".into(),
        );
    }
    after_block("issued_at_ms", r.issued_at_ms, t, 18)
}

/// Rule 18t: a closing record is made at or after the close.
fn check_device_close(election: &Election, d: &DeviceCloseTx, t: Option<u64>) -> Option<Finding> {
    if d.closed_at_ms < election.closes_at {
        return Some(
            Finding::new(
                CheckId::TxDeviceClose,
                "bad_device_close",
                format!("closed_at_ms at or after closes_at {}", election.closes_at),
                format!("closed_at_ms {}", d.closed_at_ms),
                "an appliance's closing record made before the election closed",
            )
            .rule(18, 19),
        );
    }
    after_block("closed_at_ms", d.closed_at_ms, t, 19)
}

/// Why a copy's fallback reference does not prove its sealed ballot (18k):
/// the header is this chain's and the origin's, signed by it, its tree
/// holds the ballot without the reference at `index`, and it was sealed no
/// earlier than the ballot was accepted.
fn fallback_proof_problem(
    rules: &ChainRules,
    b: &BallotTx,
    f: &FallbackRef,
    cache: &SigCache,
    learned: &mut Vec<[u8; 32]>,
) -> Option<String> {
    let h = &f.header;
    if [h.seq, h.anchor_height, h.timestamp_ms, h.tx_count, f.index]
        .iter()
        .any(|&v| v > MAX_SAFE_INTEGER)
    {
        return Some("an integer above 2^53 - 1 in the reference".into());
    }
    if h.chain_id != rules.chain_id {
        return Some(format!("a fallback block of chain {}", h.chain_id));
    }
    if h.origin != b.origin {
        return Some(format!(
            "a fallback block of {}, a ballot of {}",
            rules.describe(&h.origin),
            rules.describe(&b.origin)
        ));
    }
    let Some(block_hash) = f.block_hash() else {
        return Some("a header without a canonical form".into());
    };
    if !cache.verify(&h.origin, &block_hash, &f.signature, learned) {
        return Some(format!("block {block_hash} not signed by its origin"));
    }
    let mut sealed = b.clone();
    sealed.fallback = None;
    let proved = canon::tx_hash(&sealed)
        .is_ok_and(|x| verify_inclusion(&x, f.index, h.tx_count, &f.path, &h.tx_root));
    if !proved {
        return Some(format!(
            "a path that does not lead from the sealed ballot at index {} to block {block_hash}'s tx_root",
            f.index
        ));
    }
    if b.submitted_at_ms > h.timestamp_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
        return Some(format!(
            "accepted at {}, after its fallback block was sealed at {}",
            b.submitted_at_ms, h.timestamp_ms
        ));
    }
    None
}

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

/// Rules 18g-18m for a ballot whose signature verified.
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
    if let Some(t) = t
        && let Some(f) = timing(election, b, t)
    {
        return Some(f);
    }
    if let Some(f) = credential(b, proofs.cache, learned) {
        return Some(f);
    }
    // 18k
    if let Some(f) = &b.fallback
        && let Some(problem) = fallback_proof_problem(rules, b, f, proofs.cache, learned)
    {
        return Some(
            Finding::new(
                CheckId::TxFallbackProof,
                "bad_fallback_proof",
                "the signed header of the origin's fallback block and the sealed ballot's inclusion proof",
                problem,
                "the ballot's fallback reference proves no fallback block that sealed it",
            )
            .rule(18, 11),
        );
    }
    if let Some(t) = t
        && let Some(f) = grace(election, b, t)
    {
        return Some(f);
    }
    ballot_proofs(rules, election, b, tx_hash, proofs, learned)
}

/// Rule 18j: the voter's credential (the nullifier) signed the ballot.
fn credential(b: &BallotTx, cache: &SigCache, learned: &mut Vec<[u8; 32]>) -> Option<Finding> {
    let cred = PublicKey(b.nullifier.0);
    let statement = serde_json::json!({
        "type": "ballot_credential",
        "chain_id": b.chain_id,
        "election_id": b.election_id,
        "ballot_hash": b.ballot_hash,
    });
    let signed = hash_of(&statement)
        .is_ok_and(|d| cache.verify(&cred, &d, &b.credential_signature, learned));
    (!signed).then(|| {
        Finding::new(
            CheckId::TxCredential,
            "bad_signature",
            format!("a signature by the credential {cred} (the nullifier) over the ballot"),
            b.credential_signature.to_hex(),
            "the voter's credential did not sign this ballot: whoever accepted it did not hold the voter's card",
        )
        .detail("credential")
        .rule(18, 10)
    })
}

/// Rule 18l: the ballot was recorded (in a block, or in the fallback block
/// its reference proves) within the grace period after the close.
fn grace(election: &Election, b: &BallotTx, t: u64) -> Option<Finding> {
    let recorded = b.fallback.as_ref().map_or(t, |f| f.header.timestamp_ms);
    let deadline = election.closes_at.saturating_add(LATE_BALLOT_GRACE_MS);
    let what = if b.fallback.is_some() {
        "fallback block sealed"
    } else {
        "block time"
    };
    (recorded >= deadline).then(|| {
        Finding::new(
            CheckId::TxTiming,
            "election_not_open",
            format!("recorded before {deadline} (closes_at + {LATE_BALLOT_GRACE_MS} ms grace)"),
            format!("{what} {recorded}"),
            "the ballot was recorded (in a block, or a proven fallback block) after the grace period that follows the close",
        )
        .rule(18, 12)
    })
}

/// Rules 18h-18i for a ballot in a block stamped `t`: accepted while its
/// election was open, not after the block.
fn timing(election: &Election, b: &BallotTx, t: u64) -> Option<Finding> {
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
    None
}

/// Rule 18m: the ballot's proofs verify under the election's key, bound
/// to the chain, election, nullifier and origin.
fn ballot_proofs(
    rules: &ChainRules,
    election: &Election,
    b: &BallotTx,
    tx_hash: &Hash32,
    proofs: Proofs<'_>,
    learned: &mut Vec<[u8; 32]>,
) -> Option<Finding> {
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
            .rule(18, 13),
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
