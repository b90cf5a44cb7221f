//! PROTOCOL.md §6 for one block: rules 1, 2, 6-10 and 14-17 on its header
//! and seals ([`check_header`]), rules 11-13 once its transactions are
//! checked ([`finish_block`]); the block as a source holds it, before any
//! parsing ([`RawBlock`]).

use crate::protocol::canon;
use crate::protocol::{
    BlockHeader, ChainRules, CommitSeal, Hash32, MAX_FUTURE_DRIFT_MS, MAX_SAFE_INTEGER, Signature,
    Vote, VoteKind, WireBlockParts, merkle_root,
};

use super::transaction::TxCheck;
use super::{CheckId, Finding, SigCache};

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
    let h = match header {
        Ok(h) => h.clone(),
        Err(e) => {
            out.findings.push(malformed("the header", e));
            return out;
        }
    };
    if let Err(e) = &parts.block_hash {
        out.findings.push(malformed("block_hash", e));
    }
    if let Err(e) = &parts.proposer_signature {
        out.findings.push(malformed("proposer_signature", e));
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
    let (hashable, signable) = integers(&h, &mut out.findings);
    out.encodable = hashable && signable;
    out.findings.extend(future_timestamp(&h, now_ms));
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
    let claimed = out.claimed_hash.or(computed);
    match claimed {
        Some(claimed) if signable => {
            let signed = Signed {
                rules,
                header: &h,
                block_hash: claimed,
                cache,
            };
            signed.proposer(parts, &mut out, learned);
            signed.seals(parts, &mut out, learned);
        }
        // The signed statements hold height and round, which have no exact
        // canonical form: rules 10 and 16-17 cannot be judged.
        Some(_) if rules.validator_index(&h.proposer).is_none() => {
            out.findings.push(unknown_proposer(rules, &h));
        }
        _ => {}
    }
    out.header = Some(h);
    out
}

/// A part of the block that does not parse (rule 2).
fn malformed(what: &str, e: &str) -> Finding {
    Finding::new(
        CheckId::BlockSchema,
        "schema",
        format!("{what} as block.schema.json describes it"),
        e.to_string(),
        format!("{what} is malformed"),
    )
    .rule(2, 0)
}

/// Rule 2's integers: whether the block hash (height, timestamp_ms,
/// tx_count) and the signed statements (height, round) can be computed
/// exactly.
fn integers(h: &BlockHeader, findings: &mut Vec<Finding>) -> (bool, bool) {
    let mut hashable = true;
    let mut signable = true;
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
            findings.push(
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
    (hashable, signable)
}

/// Rule 6: not stamped too far ahead of the auditor's clock.
fn future_timestamp(h: &BlockHeader, now_ms: u64) -> Option<Finding> {
    let latest = now_ms.saturating_add(MAX_FUTURE_DRIFT_MS);
    (h.timestamp_ms > latest).then(|| {
        Finding::new(
            CheckId::BlockTimestamp,
            "timestamp_in_future",
            format!("at most {latest} (the auditor's clock + {MAX_FUTURE_DRIFT_MS} ms)"),
            h.timestamp_ms.to_string(),
            format!(
                "the block is stamped {} ms ahead of the auditor's clock",
                h.timestamp_ms - now_ms
            ),
        )
        .rule(6, 0)
    })
}

/// Rule 8.
fn unknown_proposer(rules: &ChainRules, h: &BlockHeader) -> Finding {
    Finding::new(
        CheckId::BlockProposer,
        "unknown_proposer",
        "a validator of the genesis",
        rules.describe(&h.proposer),
        "the block was proposed by a key that is not a validator",
    )
    .rule(8, 0)
}

/// A header whose statements can be signed: what rules 8-10 and 14-17
/// check against.
struct Signed<'a> {
    rules: &'a ChainRules,
    header: &'a BlockHeader,
    /// The hash the statements are about (the claimed one, or else the
    /// computed one).
    block_hash: Hash32,
    cache: &'a SigCache,
}

impl Signed<'_> {
    /// Rules 8-10: a validator proposed the block, in its turn, and signed
    /// the proposal statement.
    fn proposer(&self, parts: &RawParts, out: &mut HeaderCheck, learned: &mut Vec<[u8; 32]>) {
        let (rules, h) = (self.rules, self.header);
        let Some(idx) = rules.validator_index(&h.proposer) else {
            out.findings.push(unknown_proposer(rules, h));
            return;
        };
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
        let Ok(sig) = &parts.proposer_signature else {
            return;
        };
        let statement = Vote::about(VoteKind::Proposal, h, self.block_hash);
        match canon::vote_hash(&statement) {
            Ok(d) if self.cache.verify(&h.proposer, &d, sig, learned) => {
                out.signed_by_proposer = Some(idx);
            }
            _ => out.findings.push(
                Finding::new(
                    CheckId::BlockProposerSignature,
                    "bad_signature",
                    format!(
                        "a signature by {} over the proposal statement of {}",
                        rules.describe(&h.proposer),
                        self.block_hash
                    ),
                    sig.to_hex(),
                    "the proposer signature does not verify under the proposer's key",
                )
                .detail("proposal")
                .rule(10, 0),
            ),
        }
    }

    /// Rules 14-17: seals from validators, one each, each a valid
    /// signature of the commit statement, and a quorum of them.
    fn seals(&self, parts: &RawParts, out: &mut HeaderCheck, learned: &mut Vec<[u8; 32]>) {
        let seals = match serde_json::from_str::<Vec<CommitSeal>>(&parts.seals) {
            Ok(seals) => seals,
            Err(e) => {
                out.findings
                    .push(malformed("the seals", &e.to_string()).rule(14, 0));
                return;
            }
        };
        let statement = Vote::about(VoteKind::Commit, self.header, self.block_hash);
        let digest = canon::vote_hash(&statement).ok();
        let mut seen: u64 = 0;
        for (i, s) in seals.iter().enumerate() {
            if let Some(f) = self.seal(i, s, digest.as_ref(), &mut seen, out, learned) {
                out.findings.push(f);
            }
        }
        let have = out.valid_sealers.count_ones() as usize;
        if have < self.rules.quorum {
            out.findings.push(
                Finding::new(
                    CheckId::BlockSeals,
                    "too_few_seals",
                    format!(
                        "at least Q = {} distinct valid seals ({} validators)",
                        self.rules.quorum,
                        self.rules.validator_count()
                    ),
                    format!("{have} of {} seals", seals.len()),
                    "the block is not committed: it lacks a quorum of commit seals",
                )
                .rule(17, 0),
            );
        }
    }

    /// Seal `i`: its validator's bit goes into `seen` (a repeat or a
    /// non-validator adds none), and into the valid sealers when it
    /// verifies; otherwise why not.
    fn seal(
        &self,
        i: usize,
        s: &CommitSeal,
        digest: Option<&Hash32>,
        seen: &mut u64,
        out: &mut HeaderCheck,
        learned: &mut Vec<[u8; 32]>,
    ) -> Option<Finding> {
        let rules = self.rules;
        let Some(idx) = rules.validator_index(&s.validator) else {
            return Some(
                Finding::new(
                    CheckId::BlockSeals,
                    "seal_from_non_validator",
                    "commit seals from validators only",
                    rules.describe(&s.validator),
                    format!("seal {i} is from a key that is not a validator"),
                )
                .rule(14, i),
            );
        };
        let bit = 1u64 << idx;
        if *seen & bit != 0 {
            return Some(
                Finding::new(
                    CheckId::BlockSeals,
                    "duplicate_seal",
                    "one seal per validator",
                    format!("a second seal from {}", rules.describe(&s.validator)),
                    format!("seal {i} repeats a validator that sealed earlier in the list"),
                )
                .rule(15, i),
            );
        }
        *seen |= bit;
        if digest.is_some_and(|d| self.cache.verify(&s.validator, d, &s.signature, learned)) {
            out.valid_sealers |= bit;
            return None;
        }
        Some(
            Finding::new(
                CheckId::BlockSeals,
                "bad_seal",
                format!(
                    "a signature by {} over the commit statement of {}",
                    rules.describe(&s.validator),
                    self.block_hash
                ),
                s.signature.to_hex(),
                format!(
                    "seal {i} does not verify: it signs another block or another kind of statement"
                ),
            )
            .rule(16, i),
        )
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
/// state's (the test vectors and synthetic chains' tests).
#[cfg(any(test, feature = "test-support"))]
pub fn check_block(
    rules: &ChainRules,
    state: &mut super::ChainState,
    raw: &RawBlock,
    now_ms: u64,
    cache: &SigCache,
) -> (Vec<Finding>, super::HeightRecord) {
    let mut learned = Vec::new();
    let checked = match &raw.parts {
        Err(e) => unreadable(e.clone()),
        Ok(parts) => {
            let header = parse_header(parts);
            let t = header.as_ref().ok().map(|h| h.timestamp_ms);
            let hc = check_header(rules, parts, &header, now_ms, cache, &mut learned);
            let txs =
                super::transaction::check_txs(rules, &parts.transactions, t, cache, &mut learned);
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
