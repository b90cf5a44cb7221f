//! Fallback chains (PROTOCOL.md §7a): each appliance's offline chain is
//! hash-linked, signed by that appliance, anchored on the main chain,
//! holds valid ballots of its own once each, and matches its closing
//! record; and each sealed ballot ended on the main chain (its copy) or
//! was rejected as a double vote (the conflicting transaction named), as
//! the source says.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::transaction::{TxInfo, check_tx};
use super::{ChainState, Finding, HeightRecord, SigCache};
use crate::checks::CheckId;
use crate::checks::tally::Comparison;
use crate::protocol::ChainRules;
use crate::protocol::canon;
use crate::protocol::{
    BallotTx, FallbackHeader, FallbackRef, Hash32, MAX_SAFE_INTEGER, PublicKey, Signature,
    SignedTx, Transaction, hash_of, merkle_path, merkle_root, verify_digest,
};
use crate::sources::{FallbackBallotState, FallbackData};

/// Ballots per fallback block at most (§7a).
pub const MAX_FALLBACK_BLOCK_TXS: usize = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FallbackBlockWire {
    header: FallbackHeader,
    block_hash: Hash32,
    signature: Signature,
    transactions: Vec<Box<RawValue>>,
}

/// The closing record (§7a).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackClose {
    #[serde(rename = "type")]
    pub kind: String,
    pub chain_id: Hash32,
    pub origin: PublicKey,
    pub ballot_count: u64,
    pub last_seq: u64,
    pub last_hash: Hash32,
    pub closed_at_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedClose {
    close: FallbackClose,
    signature: Signature,
}

/// Where a sealed ballot ended on the main chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Its copy is committed.
    Confirmed,
    /// Another ballot of the voter was committed: that transaction.
    Rejected(Hash32),
    /// Neither yet.
    Pending,
}

/// A sealed ballot, as the chain check leaves it for reconciliation.
struct Sealed {
    seq: u64,
    tx: Hash32,
    copy: Hash32,
    election_id: u64,
    nullifier: Hash32,
}

/// The fallback chains a source holds, by appliance: the (election,
/// nullifier) of each block's sealed ballots, by block hash, and whether
/// the chain is closed.
type Held = BTreeMap<PublicKey, (BTreeMap<Hash32, Vec<(u64, Hash32)>>, bool)>;

/// What the fallback checks need from the main chain.
pub struct MainChain<'a> {
    pub rules: &'a ChainRules,
    pub state: &'a ChainState,
    pub records: &'a [HeightRecord],
    /// The source's own appliance, when known (a node's id).
    pub own: Option<PublicKey>,
}

/// The results of `fallback.chain` and `fallback.reconciled` for one source.
#[derive(Debug, Default)]
pub struct FallbackOutcome {
    pub chain: Comparison,
    pub reconciled: Comparison,
}

fn fail(
    check: CheckId,
    code: &'static str,
    expected: String,
    found: String,
    message: String,
) -> Finding {
    Finding::new(check, code, expected, found, message)
}

/// Checks every fallback chain a source holds.
pub fn check_chains(
    main: &MainChain<'_>,
    chains: &[FallbackData],
    cache: &SigCache,
) -> FallbackOutcome {
    let mut out = FallbackOutcome::default();
    let mut held: Held = BTreeMap::new();
    for data in chains {
        let (sealed, closed) = check_chain(main, data, cache, &mut out.chain);
        let mut blocks: BTreeMap<Hash32, Vec<(u64, Hash32)>> = BTreeMap::new();
        for (block, s) in &sealed {
            blocks
                .entry(*block)
                .or_default()
                .push((s.election_id, s.nullifier));
        }
        held.insert(data.origin, (blocks, closed));
        reconcile(main, data, &sealed, &mut out.reconciled);
    }
    check_copies(main, &held, &mut out.reconciled);
    out
}

/// The name of a fallback chain's appliance, for messages.
fn chain_name(main: &MainChain<'_>, origin: &PublicKey) -> String {
    format!("the fallback chain of {}", main.rules.describe(origin))
}

/// Links, signatures, anchors, ballots and the closing record of one
/// chain. Returns its sealed ballots (with their block's hash) and
/// whether it is closed.
fn check_chain(
    main: &MainChain<'_>,
    data: &FallbackData,
    cache: &SigCache,
    out: &mut Comparison,
) -> (Vec<(Hash32, Sealed)>, bool) {
    let rules = main.rules;
    let origin = data.origin;
    let name = chain_name(main, &origin);
    out.compared += 1;
    if !rules.is_origin(&origin) {
        out.findings.push(fail(
            CheckId::FallbackChain,
            "unknown_origin",
            "a validator or station of the genesis".into(),
            rules.describe(&origin),
            format!("{name} belongs to an appliance that is not in the genesis"),
        ));
    }
    let mut walk = Walk {
        main,
        origin,
        cache,
        tip: Some((0, Hash32([0; 32]))),
        sealed: Vec::new(),
        in_block: Vec::new(),
        nullifiers: BTreeMap::new(),
        learned: Vec::new(),
        ballots: Some(0),
    };
    for (k, text) in data.blocks.iter().enumerate() {
        match serde_json::from_str::<FallbackBlockWire>(text) {
            Ok(b) => walk.block(&b, &name, out),
            Err(e) => {
                walk.ballots = None;
                walk.tip = None;
                out.findings.push(fail(
                    CheckId::FallbackChain,
                    "schema",
                    "a fallback block as PROTOCOL.md §7a describes it".into(),
                    e.to_string(),
                    format!("{name}: block {} of the chain does not parse", k + 1),
                ));
            }
        }
    }
    let closed = data.close.is_some();
    if let Some(text) = &data.close {
        check_close(main, &origin, text, walk.tip, walk.ballots, out);
    }
    (walk.sealed, closed)
}

/// One fallback chain, walked block by block.
struct Walk<'m, 'a> {
    main: &'m MainChain<'a>,
    origin: PublicKey,
    cache: &'m SigCache,
    /// (seq, hash) of the last block read; `None` once a block is unreadable.
    tip: Option<(u64, Hash32)>,
    sealed: Vec<(Hash32, Sealed)>,
    /// The current block's sealed ballots (position, ballot, hash), made
    /// into copies once the block's transaction hashes are all known.
    in_block: Vec<(usize, BallotTx, Hash32)>,
    /// (election, nullifier) → (seq, transaction) where it was sealed.
    nullifiers: BTreeMap<(u64, Hash32), (u64, Hash32)>,
    learned: Vec<[u8; 32]>,
    /// The ballots sealed so far; unknown once a block is unreadable.
    ballots: Option<u64>,
}

/// The findings about one block, each message prefixed with where.
struct At<'o> {
    out: &'o mut Comparison,
    at: String,
}

impl At<'_> {
    fn push(&mut self, code: &'static str, expected: String, found: String, what: &str) {
        let message = format!("{}: {what}", self.at);
        self.out
            .findings
            .push(fail(CheckId::FallbackChain, code, expected, found, message));
    }
}

impl Walk<'_, '_> {
    fn block(&mut self, b: &FallbackBlockWire, name: &str, out: &mut Comparison) {
        let h = &b.header;
        let mut at = At {
            out,
            at: format!("{name}, block seq {}", h.seq),
        };
        self.header(b, &mut at);
        let hashes: Vec<Option<Hash32>> = b
            .transactions
            .iter()
            .enumerate()
            .map(|(pos, raw)| self.ballot(b, pos, raw.get(), &mut at))
            .collect();
        let in_block = std::mem::take(&mut self.in_block);
        if let Some(hs) = hashes.into_iter().collect::<Option<Vec<_>>>() {
            for (pos, bt, tx) in in_block {
                self.sealed.push((b.block_hash, seal(&bt, tx, b, &hs, pos)));
            }
            let root = merkle_root(&hs);
            if root != h.tx_root {
                at.push(
                    "wrong_hash",
                    root.to_hex(),
                    h.tx_root.to_hex(),
                    "tx_root is not the Merkle root of the block's ballots: a ballot was changed, added or removed",
                );
            }
        }
        self.tip = Some((h.seq, b.block_hash));
        self.ballots = self.ballots.map(|n| n + b.transactions.len() as u64);
    }

    /// The block's header: its kind, chain, origin and integers, its place
    /// in the chain, its hash, signature, anchor and ballot count.
    fn header(&self, b: &FallbackBlockWire, at: &mut At<'_>) {
        let (rules, origin, h) = (self.main.rules, &self.origin, &b.header);
        if h.chain_id != rules.chain_id {
            at.push(
                "wrong_chain",
                rules.chain_id.to_hex(),
                h.chain_id.to_hex(),
                "the block names another chain",
            );
        }
        if h.origin != *origin {
            at.push(
                "wrong_origin",
                rules.describe(origin),
                rules.describe(&h.origin),
                "the block is another appliance's",
            );
        }
        let ints = [h.seq, h.anchor_height, h.timestamp_ms, h.tx_count];
        if ints.iter().any(|&v| v > MAX_SAFE_INTEGER) {
            at.push(
                "integer_too_large",
                "integers at most 2^53 - 1".into(),
                format!("{ints:?}"),
                "the header has no exact canonical form",
            );
        }
        self.link(h, at);
        match hash_of(h) {
            Ok(computed) if computed != b.block_hash => at.push(
                "wrong_hash",
                computed.to_hex(),
                b.block_hash.to_hex(),
                "block_hash is not the hash of the header: the header or the hash was changed",
            ),
            _ => {}
        }
        if !verify_digest(origin, &b.block_hash, &b.signature) {
            at.push(
                "bad_signature",
                format!(
                    "a signature by {} over {}",
                    rules.describe(origin),
                    b.block_hash
                ),
                b.signature.to_hex(),
                "the appliance's signature over the block does not verify",
            );
        }
        check_anchor(self.main, h, &mut |code, expected, found, what| {
            at.push(code, expected, found, what)
        });
        let n = b.transactions.len();
        if h.tx_count != n as u64 || n > MAX_FALLBACK_BLOCK_TXS {
            at.push(
                "tx_count_mismatch",
                format!(
                    "{} ballots (tx_count), at most {MAX_FALLBACK_BLOCK_TXS}",
                    h.tx_count
                ),
                format!("{n} ballots"),
                "the block holds another number of ballots than its header says",
            );
        }
    }

    /// The block follows the one before: numbered next, linked by hash
    /// (the first to its anchor).
    fn link(&self, h: &FallbackHeader, at: &mut At<'_>) {
        let Some((seq, hash)) = self.tip else {
            return;
        };
        if h.seq != seq + 1 {
            at.push(
                "wrong_seq",
                (seq + 1).to_string(),
                h.seq.to_string(),
                "the blocks are not numbered 1, 2, 3, ...: a block is missing or repeated",
            );
        }
        let (want, what) = if seq == 0 {
            (
                h.anchor_hash,
                "the first block's prev_hash is not its anchor_hash",
            )
        } else {
            (
                hash,
                "prev_hash is not the hash of the block before: the chain is broken here",
            )
        };
        if h.prev_hash != want {
            at.push("wrong_prev_hash", want.to_hex(), h.prev_hash.to_hex(), what);
        }
    }

    /// Sealed ballot `pos` of the block: a valid ballot of this appliance,
    /// without a fallback reference, the voter's only one in the chain.
    /// Returns its hash, for the block's tx_root.
    fn ballot(
        &mut self,
        b: &FallbackBlockWire,
        pos: usize,
        text: &str,
        at: &mut At<'_>,
    ) -> Option<Hash32> {
        let (rules, origin, h) = (self.main.rules, self.origin, &b.header);
        let checked = check_tx(
            rules,
            text,
            Some(h.timestamp_ms),
            self.cache,
            &mut self.learned,
        );
        let where_ = format!("sealed ballot {pos}");
        if let Some(f) = checked.finding {
            at.push(
                f.code,
                f.expected,
                f.found,
                &format!("{where_}: {}", f.message),
            );
            return checked.hash;
        }
        let Ok(stx) = serde_json::from_str::<SignedTx>(text) else {
            return checked.hash;
        };
        let Transaction::Ballot(bt) = &stx.tx else {
            at.push(
                "bad_tx",
                "ballots only".into(),
                "a decryption share".into(),
                &format!("{where_}: a fallback block holds something other than a ballot"),
            );
            return checked.hash;
        };
        if bt.origin != origin {
            at.push(
                "wrong_origin",
                rules.describe(&origin),
                rules.describe(&bt.origin),
                &format!("{where_}: a ballot of another appliance"),
            );
            return checked.hash;
        }
        if bt.fallback.is_some() {
            at.push(
                "bad_tx",
                "no fallback reference".into(),
                "a fallback reference".into(),
                &format!("{where_}: a sealed ballot carries a fallback reference"),
            );
            return checked.hash;
        }
        let key = (bt.election_id, bt.nullifier);
        let tx = checked.hash.unwrap_or(Hash32([0; 32]));
        if let Some((s, first)) = self.nullifiers.get(&key) {
            at.push(
                "duplicate_nullifier",
                format!("nullifier {} once in the chain", bt.nullifier),
                format!("already sealed in block seq {s} (transaction {first})"),
                &format!("{where_}: a second ballot of the same voter in one fallback chain"),
            );
            return checked.hash;
        }
        self.nullifiers.insert(key, (h.seq, tx));
        if let TxInfo::Ballot(_) = checked.info {
            self.in_block.push((pos, bt.clone(), tx));
        }
        checked.hash
    }
}

/// The copy of a sealed ballot that goes to the main chain: the same
/// transaction with the fallback reference (the block's signed header and
/// the ballot's inclusion proof among the block's `hashes`, §7a). Its
/// signature is not part of `tx_hash`, so the auditor knows the copy's
/// hash without it.
fn seal(bt: &BallotTx, tx: Hash32, b: &FallbackBlockWire, hashes: &[Hash32], pos: usize) -> Sealed {
    let mut copy = bt.clone();
    copy.fallback = Some(FallbackRef {
        header: b.header.clone(),
        signature: b.signature,
        index: pos as u64,
        path: merkle_path(hashes, pos),
    });
    Sealed {
        seq: b.header.seq,
        tx,
        copy: canon::tx_hash(&copy).unwrap_or(Hash32([0; 32])),
        election_id: bt.election_id,
        nullifier: bt.nullifier,
    }
}

/// The block names a main-chain block as its anchor: it must be there.
fn check_anchor(
    main: &MainChain<'_>,
    h: &FallbackHeader,
    push: &mut impl FnMut(&'static str, String, String, &str),
) {
    let on_chain = match h.anchor_height {
        0 => Some(main.rules.chain_id),
        a => main.records.get(a as usize - 1).map(|r| r.hash),
    };
    match on_chain {
        Some(x) if x != h.anchor_hash => push(
            "wrong_anchor",
            format!("{x} (the main chain's block at height {})", h.anchor_height),
            h.anchor_hash.to_hex(),
            "the block is anchored on a block that is not on the main chain",
        ),
        // An anchor above the audited head: the main chain read here is
        // shorter than the one the appliance knew; nothing to compare.
        _ => {}
    }
}

fn check_close(
    main: &MainChain<'_>,
    origin: &PublicKey,
    text: &str,
    tip: Option<(u64, Hash32)>,
    ballots: Option<u64>,
    out: &mut Comparison,
) {
    let c = CheckId::FallbackChain;
    let name = chain_name(main, origin);
    let sc: SignedClose = match serde_json::from_str(text) {
        Ok(s) => s,
        Err(e) => {
            out.findings.push(fail(
                c,
                "schema",
                "a closing record as PROTOCOL.md §7a describes it".into(),
                e.to_string(),
                format!("{name}: the closing record does not parse"),
            ));
            return;
        }
    };
    let r = &sc.close;
    let mut push = |code: &'static str, expected: String, found: String, what: &str| {
        out.findings.push(fail(
            c,
            code,
            expected,
            found,
            format!("{name}: the closing record {what}"),
        ));
    };
    if r.kind != "fallback_close" || r.chain_id != main.rules.chain_id || &r.origin != origin {
        push(
            "wrong_chain",
            format!(
                "type fallback_close of chain {} by {origin}",
                main.rules.chain_id
            ),
            format!("type {:?} of chain {} by {}", r.kind, r.chain_id, r.origin),
            "belongs to another chain or appliance",
        );
    }
    let signed = hash_of(r).is_ok_and(|d| verify_digest(origin, &d, &sc.signature));
    if !signed {
        push(
            "bad_signature",
            format!("a signature by {}", main.rules.describe(origin)),
            sc.signature.to_hex(),
            "is not signed by the chain's appliance",
        );
    }
    if let Some((seq, hash)) = tip
        && (r.last_seq != seq || r.last_hash != hash)
    {
        push(
            "close_mismatch",
            format!("the chain's last block: seq {seq}, {hash}"),
            format!("seq {}, {}", r.last_seq, r.last_hash),
            "does not name the chain's last block: a block was added or removed after the close",
        );
    }
    if let Some(ballots) = ballots
        && r.ballot_count != ballots
    {
        push(
            "close_mismatch",
            format!("{ballots} ballots (the chain holds them)"),
            format!("{} ballots", r.ballot_count),
            "counts another number of ballots: a ballot was removed or added after the close",
        );
    }
}

/// Where each sealed ballot ended, against what the source says of it.
fn reconcile(
    main: &MainChain<'_>,
    data: &FallbackData,
    sealed: &[(Hash32, Sealed)],
    out: &mut Comparison,
) {
    let name = chain_name(main, &data.origin);
    let said: BTreeMap<Hash32, &FallbackBallotState> =
        data.ballots.iter().map(|b| (b.sealed_tx_hash, b)).collect();
    let mut pending = 0u64;
    let mut lagging = 0u64;
    for (_, s) in sealed {
        out.compared += 1;
        match reconcile_ballot(main, &name, said.get(&s.tx).copied(), s, out) {
            Some(Judged::Pending) => pending += 1,
            Some(Judged::Lagging) => lagging += 1,
            _ => {}
        }
    }
    rows_of_no_sealed_ballot(&name, data, sealed, out);
    if pending > 0 {
        out.skipped.push(format!(
            "{name}: {pending} sealed ballot(s) not yet on the main chain (reconciliation still running)"
        ));
    }
    if lagging > 0 {
        out.skipped.push(format!(
            "{name}: {lagging} sealed ballot(s) settled on the main chain but still marked waiting or submitted"
        ));
    }
}

/// One sealed ballot of chain `name` against the source's `row` for it:
/// what is wrong goes to `out`; how the row was judged (`None` when there
/// is no row).
fn reconcile_ballot(
    main: &MainChain<'_>,
    name: &str,
    row: Option<&FallbackBallotState>,
    s: &Sealed,
    out: &mut Comparison,
) -> Option<Judged> {
    let c = CheckId::FallbackReconciled;
    let fate = match main.state.nullifier_use(s.election_id, &s.nullifier) {
        Some(u) if u.tx == s.copy => Fate::Confirmed,
        Some(u) => Fate::Rejected(u.tx),
        None => Fate::Pending,
    };
    let at = format!("{name}, block seq {}, sealed ballot {}", s.seq, s.tx);
    let Some(row) = row else {
        out.findings.push(
            fail(
                c,
                "untracked",
                "a reconciliation row for every sealed ballot".into(),
                "none".into(),
                format!(
                    "{at}: the source does not track this ballot: it may never reach the main chain"
                ),
            )
            .tx(s.tx),
        );
        return None;
    };
    if row.main_tx_hash != s.copy {
        out.findings.push(
            fail(
                c,
                "wrong_copy",
                format!(
                    "{} (the hash of the ballot with its fallback reference)",
                    s.copy
                ),
                row.main_tx_hash.to_hex(),
                format!("{at}: the source tracks another transaction as this ballot's copy"),
            )
            .tx(s.tx),
        );
    }
    let judged = judge(fate, row, s.copy);
    if let Judged::Wrong { expected, found } = &judged {
        out.findings.push(
            fail(
                c,
                "wrong_state",
                expected.clone(),
                found.clone(),
                format!(
                    "{at}: what the source says of the ballot is not what the main chain holds"
                ),
            )
            .tx(s.tx),
        );
    }
    Some(judged)
}

/// The source's rows for ballots its fallback chain does not hold.
fn rows_of_no_sealed_ballot(
    name: &str,
    data: &FallbackData,
    sealed: &[(Hash32, Sealed)],
    out: &mut Comparison,
) {
    let known: BTreeSet<Hash32> = sealed.iter().map(|(_, s)| s.tx).collect();
    for row in data
        .ballots
        .iter()
        .filter(|b| !known.contains(&b.sealed_tx_hash))
    {
        out.findings.push(
            fail(
                CheckId::FallbackReconciled,
                "untracked",
                "rows only for ballots of the fallback chain".into(),
                format!("a row for {} (seq {})", row.sealed_tx_hash, row.seq),
                format!("{name}: the source tracks a ballot its fallback chain does not hold"),
            )
            .tx(row.sealed_tx_hash),
        );
    }
}

/// What the source says of a sealed ballot, against its fate on the main
/// chain.
enum Judged {
    Agrees,
    /// Neither says it is settled yet.
    Pending,
    /// Settled on the main chain, still marked waiting or submitted.
    Lagging,
    Wrong {
        expected: String,
        found: String,
    },
}

fn judge(fate: Fate, row: &FallbackBallotState, copy: Hash32) -> Judged {
    let state = row.state.as_str();
    match (fate, state) {
        (Fate::Confirmed, "confirmed") => Judged::Agrees,
        (Fate::Rejected(x), "rejected") if row.conflicting_tx == Some(x) => Judged::Agrees,
        (Fate::Rejected(x), "rejected") => Judged::Wrong {
            expected: format!(
                "rejected, conflicting with {x} (the voter's ballot on the main chain)"
            ),
            found: format!(
                "rejected, conflicting with {}",
                row.conflicting_tx
                    .map_or_else(|| "nothing named".into(), |h| h.to_hex())
            ),
        },
        (Fate::Pending, "waiting" | "submitted") => Judged::Pending,
        (Fate::Confirmed | Fate::Rejected(_), "waiting" | "submitted") => Judged::Lagging,
        (fate, _) => Judged::Wrong {
            expected: match fate {
                Fate::Confirmed => format!("confirmed: its copy {copy} is on the main chain"),
                Fate::Rejected(x) => format!("rejected, conflicting with {x}"),
                Fate::Pending => "waiting or submitted: neither its copy nor another ballot of the voter is on the main chain".into(),
            },
            found: format!("{state:?}"),
        },
    }
}

/// Every main-chain copy whose fallback chain the source holds names a
/// block of it that sealed that voter's ballot.
fn check_copies(main: &MainChain<'_>, held: &Held, out: &mut Comparison) {
    for copy in &main.state.copies {
        let origin = *copy.fallback.origin();
        let block_hash = copy.fallback.block_hash().unwrap_or(Hash32([0; 32]));
        let Some((blocks, closed)) = held.get(&origin) else {
            continue;
        };
        let found = blocks
            .get(&block_hash)
            .map(|v| v.contains(&(copy.election_id, copy.nullifier)));
        let complete = *closed || main.own == Some(origin);
        let problem = match found {
            Some(true) => continue,
            Some(false) => "that block did not seal this voter's ballot",
            None if complete => "the appliance's fallback chain has no such block",
            None => {
                out.skipped.push(format!(
                    "the main-chain ballot {} names block {} of {}, which this source's (open, imported) copy of that chain does not hold yet",
                    copy.at.tx,
                    block_hash.short(),
                    chain_name(main, &origin)
                ));
                continue;
            }
        };
        out.findings.push(
            fail(
                CheckId::FallbackReconciled,
                "unknown_fallback_block",
                format!(
                    "block {} of {} holding the sealed ballot of nullifier {}",
                    block_hash,
                    chain_name(main, &origin),
                    copy.nullifier.short()
                ),
                problem.into(),
                "a ballot on the main chain claims to come from a fallback chain that never sealed it".into(),
            )
            .at(copy.at.height)
            .tx(copy.at.tx),
        );
    }
}

#[cfg(test)]
mod tests;
