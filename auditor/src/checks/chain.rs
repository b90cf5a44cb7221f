//! What PROTOCOL.md §7 carries from block to block, and the rules that
//! need it: the parent (rules 3-5), repeated transactions (19), credentials
//! and nullifiers (20), decryption shares against the tally (21), check-ins
//! (22), credential replacements (23), closing records (24), the auditor's
//! own ciphertext check, and each election's encrypted running tally (E.5).
//!
//! [`ChainState::apply`] runs in block order on one thread, after the
//! stateless rules of [`super::block`] and [`super::transaction`] ran on many.

use std::collections::{BTreeMap, HashMap, HashSet};

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::Identity;

use super::Finding;
use super::block::CheckedBlock;
use super::transaction::{BallotInfo, CheckInInfo, TxCheck, TxInfo, bad_share};
use crate::checks::CheckId;
use crate::protocol::ChainRules;
use crate::protocol::elgamal::{
    Ciphertext, DecryptionShare, add_into, to_ciphertexts, verify_decryption_share,
};
use crate::protocol::{
    CredentialReplacementTx, DecryptionShareTx, DeviceCloseTx, FallbackRef, Hash32,
    MAX_SAFE_INTEGER, PublicKey,
};

/// The block a chain continues from (§6 input "parent").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub height: u64,
    /// Unknown after a block whose hash could not be read.
    pub hash: Option<Hash32>,
    pub timestamp_ms: Option<u64>,
}

/// What the auditor keeps of each block for comparing sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeightRecord {
    /// The block hash the source links with (all zero if unreadable).
    pub hash: Hash32,
    pub round: u64,
    pub valid_sealers: u64,
    /// The validator whose proposal signature verified on this block.
    pub proposer: Option<u8>,
}

/// Where a nullifier or a share was first used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstUse {
    pub height: u64,
    pub position: u32,
    pub tx: Hash32,
}

/// A decryption share that passed every rule, as the chain holds it.
#[derive(Debug, Clone)]
pub struct ShareOnChain {
    pub share: DecryptionShare,
    pub at: FirstUse,
}

/// A main-chain ballot that names the fallback block it was first sealed
/// in (§7a copy); kept so the fallback checks can look the block up.
#[derive(Debug, Clone)]
pub struct CopyOnChain {
    pub fallback: FallbackRef,
    pub election_id: u64,
    pub nullifier: Hash32,
    pub at: FirstUse,
}

pub type Totals = Vec<(RistrettoPoint, RistrettoPoint)>;

/// One appliance's part of an election on the chain: the voters it
/// checked in, the ballots it accepted online, and those it sealed in its
/// fallback chain (their copies on the main chain).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StationCounts {
    pub check_ins: u64,
    pub ballots: u64,
    pub fallback_ballots: u64,
}

/// An election's encrypted tally as the chain builds it (§7, E.5): the
/// per-candidate sums of its ballots' ciphertexts.
#[derive(Debug, Clone)]
pub struct ElectionTally {
    pub closes_at: u64,
    /// After the last block applied.
    pub running: Totals,
    pub ballots: u64,
    /// After the first block stamped at or after the close, and after every
    /// later block that changed it: (ballots, totals). Decryption shares
    /// can only be of these (rule 21), so no earlier tally is kept.
    snapshots: BTreeMap<u64, (u64, Totals)>,
    first_closed: Option<u64>,
}

/// Where a ciphertext's `A` was first seen: (height, position, the first
/// 8 bytes of its `B`). Kept small: one entry per selection of the chain.
type CtUse = (u64, u32, [u8; 8]);

/// The state §7 carries from block to block.
#[derive(Debug, Clone)]
pub struct ChainState {
    pub parent: Parent,
    nullifiers: HashMap<(u64, Hash32), FirstUse>,
    /// The first 16 bytes of each selection's `A` (unique on an honest
    /// chain: `A = rG` with fresh random `r`).
    ciphertexts: HashMap<[u8; 16], CtUse>,
    pub tallies: BTreeMap<u64, ElectionTally>,
    /// Valid decryption shares, by (election, tally height).
    pub shares: BTreeMap<(u64, u64), Vec<ShareOnChain>>,
    pub copies: Vec<CopyOnChain>,
    /// Credentials a replacement named (true) or revoked (false is never
    /// stored: see `revoked`), by (election, credential).
    replacements: HashSet<(u64, PublicKey)>,
    revoked: HashMap<(u64, PublicKey), FirstUse>,
    /// Roll entries checked in, by (election, leaf), and by whom.
    pub check_ins: HashMap<(u64, Hash32), (PublicKey, FirstUse)>,
    /// Closing records, by (election, appliance).
    pub closes: HashMap<(u64, PublicKey), (DeviceCloseTx, FirstUse)>,
    /// What each appliance did in each election, as the chain shows it:
    /// the poll book's counts (`station.poll_book`).
    pub stations: BTreeMap<(u64, PublicKey), StationCounts>,
    /// Block h's timestamp at index h - 1 (`None` if its header is unreadable).
    timestamps: Vec<Option<u64>>,
    genesis_time: u64,
    pub blocks: u64,
    pub transactions: u64,
    pub ballots: u64,
}

/// What one block adds to the state once all its findings are known.
#[derive(Default)]
struct Pending<'a> {
    txs: HashSet<Hash32>,
    nullifiers: HashMap<(u64, Hash32), usize>,
    shares: BTreeMap<(u64, u64, u32), usize>,
    new_shares: Vec<(usize, &'a DecryptionShareTx)>,
    ciphertexts: HashMap<[u8; 16], (usize, [u8; 8])>,
    adds: Vec<(u64, &'a Totals)>,
    copies: Vec<(usize, &'a BallotInfo)>,
    check_ins: HashMap<(u64, Hash32), (usize, PublicKey)>,
    replacements: HashSet<(u64, PublicKey)>,
    revoked: HashMap<(u64, PublicKey), usize>,
    closes: HashMap<(u64, PublicKey), (usize, &'a DeviceCloseTx)>,
    /// Each ballot's (election, appliance, whether a fallback copy).
    cast: Vec<(u64, PublicKey, bool)>,
}

fn tx_at(txs: &[TxCheck], pos: usize) -> Hash32 {
    txs[pos].hash.unwrap_or(Hash32([0; 32]))
}

impl ChainState {
    /// The state before block 1: the parent is the genesis (§5).
    pub fn new(rules: &ChainRules) -> Self {
        let tallies = rules
            .genesis
            .elections
            .iter()
            .map(|e| {
                let n = e.candidates.len();
                let zero = (RistrettoPoint::identity(), RistrettoPoint::identity());
                let t = ElectionTally {
                    closes_at: e.closes_at,
                    running: vec![zero; n],
                    ballots: 0,
                    snapshots: BTreeMap::new(),
                    first_closed: None,
                };
                (e.id, t)
            })
            .collect();
        Self {
            parent: Parent {
                height: 0,
                hash: Some(rules.chain_id),
                timestamp_ms: Some(rules.genesis.created_at_ms),
            },
            nullifiers: HashMap::new(),
            ciphertexts: HashMap::new(),
            tallies,
            shares: BTreeMap::new(),
            copies: Vec::new(),
            replacements: HashSet::new(),
            revoked: HashMap::new(),
            check_ins: HashMap::new(),
            closes: HashMap::new(),
            stations: BTreeMap::new(),
            timestamps: Vec::new(),
            genesis_time: rules.genesis.created_at_ms,
            blocks: 0,
            transactions: 0,
            ballots: 0,
        }
    }

    /// Starts from another parent (the test vectors' invalid blocks).
    #[cfg(test)]
    pub fn set_parent(&mut self, parent: Parent) {
        self.parent = parent;
    }

    /// The transaction that used `(election_id, nullifier)`, if any.
    pub fn nullifier_use(&self, election_id: u64, nullifier: &Hash32) -> Option<FirstUse> {
        self.nullifiers.get(&(election_id, *nullifier)).copied()
    }

    /// The timestamp of block `height` (the genesis' for 0).
    pub fn block_time(&self, height: u64) -> Option<u64> {
        if height == 0 {
            return Some(self.genesis_time);
        }
        self.timestamps.get(height as usize - 1).copied().flatten()
    }

    /// An election's tally after block `height`: (ballots, totals). Known
    /// for the last block applied and for blocks stamped at or after the
    /// close.
    pub fn tally_at(&self, election_id: u64, height: u64) -> Option<(u64, Vec<Ciphertext>)> {
        let t = self.tallies.get(&election_id)?;
        if height == self.parent.height {
            return Some((t.ballots, to_ciphertexts(&t.running)));
        }
        if height > self.parent.height || height < t.first_closed? {
            return None;
        }
        t.snapshots
            .range(..=height)
            .next_back()
            .map(|(_, (n, v))| (*n, to_ciphertexts(v)))
    }

    /// Rule 21 for a share that passed 18a-18m, in block `height` stamped `ts`.
    fn check_share(
        &self,
        rules: &ChainRules,
        d: &DecryptionShareTx,
        (height, ts): (u64, Option<u64>),
        in_block: &BTreeMap<(u64, u64, u32), usize>,
    ) -> Option<Finding> {
        if let Some(f) = self.repeated_share(d, in_block) {
            return Some(f);
        }
        let closes = rules.election(d.election_id)?.closes_at;
        if let Some(f) = self.share_timing(d, (height, ts), closes) {
            return Some(f);
        }
        self.share_of_tally(rules, d)
    }

    /// A trustee gives one share per tally: not twice in this block, nor
    /// again after one on the chain.
    fn repeated_share(
        &self,
        d: &DecryptionShareTx,
        in_block: &BTreeMap<(u64, u64, u32), usize>,
    ) -> Option<Finding> {
        let (e, th, j) = (d.election_id, d.tally_height, d.share.trustee_index);
        let twice =
            format!("trustee {j} gave a second share of election {e}'s tally at height {th}");
        if let Some(p) = in_block.get(&(e, th, j)) {
            return bad_share(
                (21, 0),
                "one share per trustee and tally".into(),
                format!(
                    "trustee {j}'s share of this tally is already at position {p} of this block"
                ),
                twice,
            );
        }
        let earlier = self
            .shares
            .get(&(e, th))
            .and_then(|v| v.iter().find(|s| s.share.trustee_index == j))?;
        bad_share(
            (21, 0),
            "one share per trustee and tally".into(),
            format!(
                "trustee {j}'s share of this tally is already on the chain: transaction {} at height {} position {}",
                earlier.at.tx, earlier.at.height, earlier.at.position
            ),
            twice,
        )
    }

    /// A share comes after the close, in a block above the tally it is
    /// of, and that tally is after the close too.
    fn share_timing(
        &self,
        d: &DecryptionShareTx,
        (height, ts): (u64, Option<u64>),
        closes: u64,
    ) -> Option<Finding> {
        let (e, th) = (d.election_id, d.tally_height);
        if let Some(ts) = ts
            && ts < closes
        {
            return bad_share(
                (21, 0),
                format!("a block stamped at or after the close ({closes})"),
                format!("block time {ts}"),
                format!("a decryption share of election {e} before it closed"),
            );
        }
        if th >= height {
            return bad_share(
                (21, 0),
                format!("tally_height below the block's height {height}"),
                format!("tally_height {th}"),
                "the share is of a tally that does not exist yet".into(),
            );
        }
        let Some(stamp) = self.block_time(th) else {
            return bad_share(
                (21, 0),
                format!("a readable committed block at height {th}"),
                "none".into(),
                format!("the share is of the tally at height {th}, which the chain does not hold"),
            );
        };
        if stamp < closes {
            return bad_share(
                (21, 0),
                format!("the tally after a block stamped at or after the close ({closes})"),
                format!("block {th} is stamped {stamp}"),
                format!(
                    "the share decrypts election {e}'s tally at height {th}, from before the close: a partial tally must never be decrypted"
                ),
            );
        }
        None
    }

    /// The share names its tally's ballot count and decrypts that tally
    /// under its trustee's public share (E.5).
    fn share_of_tally(&self, rules: &ChainRules, d: &DecryptionShareTx) -> Option<Finding> {
        let (e, th, j) = (d.election_id, d.tally_height, d.share.trustee_index);
        let Some((count, totals)) = self.tally_at(e, th) else {
            return bad_share(
                (21, 0),
                format!("election {e}'s tally at height {th}"),
                "it cannot be recomputed (the block timestamps are out of order)".into(),
                "the share's tally cannot be recomputed".into(),
            );
        };
        if count != d.ballot_count {
            return bad_share(
                (21, 0),
                format!("ballot_count {count} (the ballots of election {e} in blocks 1 to {th})"),
                format!("ballot_count {}", d.ballot_count),
                format!("the share names the wrong ballot count for the tally at height {th}"),
            );
        }
        let Some(Ok(key)) = rules.election_key(e) else {
            return bad_share(
                (21, 0),
                format!("a share under election {e}'s key"),
                "no valid election key (see genesis.trustees)".into(),
                "the share cannot be checked".into(),
            );
        };
        let err = verify_decryption_share(&rules.chain_id.0, key, &totals, &d.share).err()?;
        bad_share(
            (21, 0),
            format!(
                "partial decryptions of the tally at height {th} whose proofs verify against trustee {j}'s public share"
            ),
            format!("{}: {err}", err.code()),
            format!(
                "trustee {j}'s decryption share does not verify ({}): it is not of this tally, or not by this trustee",
                err.code()
            ),
        )
    }

    /// Rules 3-5: the block follows its parent.
    fn check_link(&self, h: &crate::protocol::BlockHeader, findings: &mut Vec<Finding>) {
        let expected = self.parent.height + 1;
        if h.height != expected {
            findings.push(
                Finding::new(
                    CheckId::BlockHeight,
                    "wrong_height",
                    expected.to_string(),
                    h.height.to_string(),
                    "the block does not follow its parent's height",
                )
                .rule(3, 0),
            );
        }
        if let Some(p) = self.parent.hash
            && h.prev_hash != p
        {
            findings.push(
                Finding::new(
                    CheckId::BlockPrevHash,
                    "wrong_prev_hash",
                    p.to_hex(),
                    h.prev_hash.to_hex(),
                    format!(
                        "prev_hash is not the hash of block {}: the chain is broken here",
                        self.parent.height
                    ),
                )
                .rule(4, 0),
            );
        }
        if let Some(pt) = self.parent.timestamp_ms
            && h.timestamp_ms < pt
        {
            findings.push(
                Finding::new(
                    CheckId::BlockTimestamp,
                    "timestamp_backwards",
                    format!("at least {pt} (the parent's timestamp)"),
                    h.timestamp_ms.to_string(),
                    "the block is stamped before its parent",
                )
                .rule(5, 0),
            );
        }
    }

    /// Rule 20 for one ballot; records its nullifier for the block.
    fn check_nullifier(
        &self,
        info: &BallotInfo,
        pos: usize,
        p: &mut Pending<'_>,
    ) -> Option<Finding> {
        let key = (info.election_id, info.nullifier);
        let (election, nullifier) = key;
        let found = if let Some(q) = p.nullifiers.get(&key) {
            format!("already used at position {q} of this block")
        } else if let Some(first) = self.nullifiers.get(&key) {
            format!(
                "already used by transaction {} at height {} position {}",
                first.tx, first.height, first.position
            )
        } else {
            p.nullifiers.insert(key, pos);
            return None;
        };
        Some(
            Finding::new(
                CheckId::TxNullifierUnique,
                "duplicate_nullifier",
                format!("nullifier {nullifier} used once in election {election}"),
                found,
                "a second ballot of the same voter in the same election",
            )
            .rule(20, 0),
        )
    }

    /// Whether a replacement record named the credential (on the chain or
    /// earlier in this block), and the record that revoked it, if any.
    fn credential(&self, key: &(u64, PublicKey), p: &Pending<'_>) -> (bool, Option<String>) {
        let named = self.replacements.contains(key) || p.replacements.contains(key);
        let revoked = match (p.revoked.get(key), self.revoked.get(key)) {
            (Some(q), _) => Some(format!("revoked at position {q} of this block")),
            (None, Some(r)) => Some(format!(
                "revoked by transaction {} at height {} position {}",
                r.tx, r.height, r.position
            )),
            (None, None) => None,
        };
        (named, revoked)
    }

    /// Rule 20's credential and closing-record parts for one ballot (the
    /// nullifier is [`Self::check_nullifier`]'s).
    fn check_credential(
        &self,
        rules: &ChainRules,
        info: &BallotInfo,
        p: &Pending<'_>,
    ) -> Option<Finding> {
        let cred = PublicKey(info.nullifier.0);
        let e = info.election_id;
        let bad = |check, code, expected: String, found: String, message: &str| {
            Some(Finding::new(check, code, expected, found, message).rule(20, 0))
        };
        if !info.open_registration {
            let (named, revoked) = self.credential(&(e, cred), p);
            if !(info.listed || named) {
                return bad(
                    CheckId::TxCredential,
                    "unknown_credential",
                    format!(
                        "a credential of election {e}: listed in the genesis or named by a replacement"
                    ),
                    format!("{cred}, on no list"),
                    "a ballot signed by a credential nobody issued: an invented voter",
                );
            }
            if let Some(r) = revoked {
                return bad(
                    CheckId::TxCredential,
                    "revoked_credential",
                    format!("a credential of election {e} that is not revoked"),
                    format!("{cred}, {r}"),
                    "a ballot signed by a lost card's revoked credential",
                );
            }
        }
        let end = p
            .closes
            .get(&(e, info.origin))
            .map(|(_, d)| d.fallback)
            .or_else(|| self.closes.get(&(e, info.origin)).map(|(d, _)| d.fallback));
        let end = end?;
        let who = rules.describe(&info.origin);
        let found = match (&info.fallback, end) {
            (None, _) => "a ballot without a fallback reference".to_string(),
            (Some(_), None) => {
                "a fallback ballot, but its closing record names no fallback chain".into()
            }
            (Some(f), Some(last)) => {
                let seq = f.header.seq;
                let same = f.block_hash() == Some(last.last_hash);
                if seq < last.last_seq || (seq == last.last_seq && same) {
                    return None;
                }
                format!(
                    "a ballot from fallback block {seq}; the closing record ends the chain at block {} ({})",
                    last.last_seq, last.last_hash
                )
            }
        };
        bad(
            CheckId::TxDeviceClose,
            "device_closed",
            format!(
                "no ballot of election {e} from {who} after its closing record, but the fallback ballots it had sealed"
            ),
            found,
            "a ballot added by an appliance after it closed the election (backdated)",
        )
    }

    /// Rule 22: a roll entry is checked in once.
    fn check_check_in(&self, c: &CheckInInfo, pos: usize, p: &mut Pending<'_>) -> Option<Finding> {
        let key = (c.election_id, c.leaf);
        let found = if let Some((q, _)) = p.check_ins.get(&key) {
            format!("already checked in at position {q} of this block")
        } else if let Some((by, first)) = self.check_ins.get(&key) {
            format!(
                "already checked in by {by} in transaction {} at height {} position {}",
                first.tx, first.height, first.position
            )
        } else {
            p.check_ins.insert(key, (pos, c.origin));
            return None;
        };
        Some(
            Finding::new(
                CheckId::TxCheckIn,
                "duplicate_check_in",
                format!(
                    "roll entry {} of election {} checked in once",
                    c.leaf, c.election_id
                ),
                found,
                "a voter checked in twice: the poll book counts one voter twice",
            )
            .rule(22, 0),
        )
    }

    /// Rule 23: the revoked credential is listed or named, not revoked yet
    /// and has not voted; the replacement is new.
    fn check_replacement(
        &self,
        rules: &ChainRules,
        r: &CredentialReplacementTx,
        pos: usize,
        p: &mut Pending<'_>,
    ) -> Option<Finding> {
        let e = r.election_id;
        let listed = |k: &PublicKey| rules.election(e).is_some_and(|el| el.lists(k));
        let f = |check, code, expected: String, found: String, message: &str| {
            Some(Finding::new(check, code, expected, found, message).rule(23, 0))
        };
        let (named, revoked) = self.credential(&(e, r.revoked), p);
        if !(listed(&r.revoked) || named) {
            return f(
                CheckId::TxCredential,
                "unknown_credential",
                format!("a credential of election {e} to revoke"),
                format!("{}, on no list", r.revoked),
                "a replacement of a credential nobody issued",
            );
        }
        if let Some(how) = revoked {
            return f(
                CheckId::TxCredential,
                "revoked_credential",
                "a credential not yet revoked".into(),
                format!("{}, {how}", r.revoked),
                "a credential revoked twice",
            );
        }
        let used = Hash32(r.revoked.0);
        let vote = p
            .nullifiers
            .get(&(e, used))
            .map(|q| format!("its ballot is at position {q} of this block"))
            .or_else(|| {
                self.nullifiers
                    .get(&(e, used))
                    .map(|u| format!("its ballot is transaction {} at height {}", u.tx, u.height))
            });
        if let Some(vote) = vote {
            return f(
                CheckId::TxCredentialReplacement,
                "credential_used",
                "a credential that has not voted".into(),
                format!("{}: {vote}", r.revoked),
                "a credential revoked after it voted: its replacement would vote a second time",
            );
        }
        let (named_new, revoked_new) = self.credential(&(e, r.replacement), p);
        if listed(&r.replacement) || named_new || revoked_new.is_some() {
            return f(
                CheckId::TxCredentialReplacement,
                "duplicate_credential",
                "a replacement credential that is on no list yet".into(),
                r.replacement.to_hex(),
                "the replacement is already a voter's credential: one voter would hold two",
            );
        }
        p.revoked.insert((e, r.revoked), pos);
        p.replacements.insert((e, r.replacement));
        None
    }

    /// Rule 24: one closing record per appliance and election.
    fn check_close<'a>(
        &self,
        d: &'a DeviceCloseTx,
        pos: usize,
        p: &mut Pending<'a>,
    ) -> Option<Finding> {
        let key = (d.election_id, d.origin);
        let found = if let Some((q, _)) = p.closes.get(&key) {
            format!("already closed at position {q} of this block")
        } else if let Some((_, first)) = self.closes.get(&key) {
            format!(
                "already closed by transaction {} at height {}",
                first.tx, first.height
            )
        } else {
            p.closes.insert(key, (pos, d));
            return None;
        };
        Some(
            Finding::new(
                CheckId::TxDeviceClose,
                "duplicate_device_close",
                format!(
                    "one closing record of election {} by {}",
                    d.election_id, d.origin
                ),
                found,
                "an appliance closed an election twice",
            )
            .rule(24, 0),
        )
    }

    /// The auditor's own check beyond §6: every ciphertext on the chain is
    /// fresh (E.3 "Randomness"). A repeated `A` is a copied ballot or
    /// reused randomness, which shows how two votes differ; `A = O` is
    /// `r = 0`, which shows the vote itself. Spoiled ballots' ciphertexts
    /// count too: their randomness is public, so a cast one shows its vote.
    fn check_ciphertexts(
        &self,
        a_keys: &[([u8; 16], [u8; 8])],
        pos: usize,
        height: u64,
        txs: &[TxCheck],
        p: &mut Pending<'_>,
    ) -> Option<Finding> {
        let mut out = None;
        for (i, (ka, kb)) in a_keys.iter().enumerate() {
            let seen = match self.ciphertexts.get(ka) {
                Some(&(h, q, b)) => Some((h, q as usize, b, None)),
                None => p
                    .ciphertexts
                    .get(ka)
                    .map(|&(q, b)| (height, q, b, Some(tx_at(txs, q)))),
            };
            if seen.is_none() {
                p.ciphertexts.insert(*ka, (pos, *kb));
            }
            if out.is_some() {
                continue;
            }
            if *ka == [0; 16] {
                out = Some(
                    Finding::new(
                        CheckId::TxCiphertextUnique,
                        "zero_randomness",
                        "A = rG with secret random r",
                        format!("selection {i}: A is the identity (r = 0)"),
                        format!("selection {i} is not hidden: with r = 0, B = mG shows the vote"),
                    )
                    .rule(25, i),
                );
            } else if let Some((h, q, b, tx)) = seen {
                let what = if b == *kb {
                    "the same ciphertext"
                } else {
                    "a ciphertext with the same randomness (A)"
                };
                let tx = tx.map(|t| format!("transaction {t} ")).unwrap_or_default();
                out = Some(
                    Finding::new(
                        CheckId::TxCiphertextUnique,
                        "duplicate_ciphertext",
                        "every ciphertext once on the chain, each with fresh randomness",
                        format!("selection {i} repeats {what} as {tx}at height {h} position {q}"),
                        "a ciphertext appears twice on the chain: a copied ballot, reused randomness (which reveals how the two votes differ), or a spoiled ballot's ciphertext cast (its randomness is public, so its vote is)",
                    )
                    .rule(25, i),
                );
            }
        }
        out
    }

    /// Rules 3-5 and 19-21 and the ciphertext check, then makes the block
    /// the parent of the next and adds its ballots to the tallies. Returns
    /// every finding of the block in §6 order, and its record.
    pub fn apply(
        &mut self,
        rules: &ChainRules,
        block: CheckedBlock,
    ) -> (Vec<Finding>, HeightRecord) {
        let expected_height = self.parent.height + 1;
        let mut findings = block.header.findings.clone();
        if let Some(e) = &block.unreadable {
            findings.push(
                Finding::new(
                    CheckId::BlockSchema,
                    "schema",
                    "a block as block.schema.json describes it",
                    e.clone(),
                    "the block cannot be read",
                )
                .rule(2, 0),
            );
        }
        let h = block.header.header.as_ref();
        let height = h
            .map(|h| h.height)
            .filter(|&v| v <= MAX_SAFE_INTEGER)
            .unwrap_or(expected_height);
        let ts = h.map(|h| h.timestamp_ms);
        if let Some(h) = h {
            self.check_link(h, &mut findings);
        }
        let mut p = Pending::default();
        for (pos, tx) in block.txs.iter().enumerate() {
            if let Some(f) = self.check_tx(rules, &block.txs, pos, (height, ts), &mut p) {
                findings.push(f.in_tx(pos, tx.hash));
            }
        }
        self.commit(&block, height, ts, p);
        for f in &mut findings {
            f.height = Some(height);
        }
        findings.sort_by_key(|f| f.order());
        let record = HeightRecord {
            hash: block.header.claimed_hash.unwrap_or(Hash32([0; 32])),
            round: h.map_or(0, |h| h.round),
            valid_sealers: block.header.valid_sealers,
            proposer: block.header.signed_by_proposer.map(|i| i as u8),
        };
        self.parent = Parent {
            height,
            hash: block.header.claimed_hash,
            timestamp_ms: ts,
        };
        self.blocks += 1;
        self.transactions += block.txs.len() as u64;
        (findings, record)
    }

    /// Rule 19 and the chain rules of the transaction at `pos`: its first
    /// finding, the stateless one before any other.
    fn check_tx<'b>(
        &self,
        rules: &ChainRules,
        txs: &'b [TxCheck],
        pos: usize,
        (height, ts): (u64, Option<u64>),
        p: &mut Pending<'b>,
    ) -> Option<Finding> {
        let tx = &txs[pos];
        let mut f = tx.finding.clone();
        // Rule 19.
        let dup_tx = tx.hash.is_some_and(|hh| !p.txs.insert(hh));
        if f.is_none() && dup_tx {
            f = Some(
                Finding::new(
                    CheckId::TxUnique,
                    "duplicate_tx",
                    "each transaction once per block",
                    format!("a second copy at position {pos}"),
                    "the same transaction appears twice in the block",
                )
                .rule(19, 0),
            );
        }
        match &tx.info {
            TxInfo::Unreadable => {}
            TxInfo::Spoiled(keys) => {
                // Its randomness is public: a ballot cast with one of its
                // ciphertexts shows its vote.
                let ct = self.check_ciphertexts(keys, pos, height, txs, p);
                f = f.or(ct);
            }
            TxInfo::Ballot(info) => {
                // A ballot that broke a stateless rule still holds its
                // voter's nullifier and its ciphertexts on this chain.
                if f.is_none() {
                    f = self.check_credential(rules, info, p);
                }
                let dup = self.check_nullifier(info, pos, p);
                let ct = self.check_ciphertexts(&info.a_keys, pos, height, txs, p);
                f = f.or(dup).or(ct);
                if let Some(cts) = &info.cts {
                    p.adds.push((info.election_id, cts));
                }
                let station = info.fallback.as_ref().map_or(info.origin, |f| *f.origin());
                p.cast
                    .push((info.election_id, station, info.fallback.is_some()));
                if info.fallback.is_some() {
                    p.copies.push((pos, info));
                }
            }
            TxInfo::CheckIn(c) => {
                if f.is_none() {
                    f = self.check_check_in(c, pos, p);
                }
            }
            TxInfo::Replacement(r) => {
                if f.is_none() {
                    f = self.check_replacement(rules, r, pos, p);
                }
            }
            TxInfo::Close(d) => {
                if f.is_none() {
                    f = self.check_close(d, pos, p);
                }
            }
            TxInfo::Share(d) => {
                if f.is_none() {
                    f = self.check_share(rules, d, (height, ts), &p.shares);
                    if f.is_none() {
                        p.shares
                            .insert((d.election_id, d.tally_height, d.share.trustee_index), pos);
                        p.new_shares.push((pos, d));
                    }
                }
            }
        }
        f
    }

    /// What a block used counts from the next block on.
    fn commit(&mut self, block: &CheckedBlock, height: u64, ts: Option<u64>, p: Pending<'_>) {
        let at = |pos: usize| FirstUse {
            height,
            position: pos as u32,
            tx: tx_at(&block.txs, pos),
        };
        for (key, pos) in p.nullifiers {
            self.nullifiers.entry(key).or_insert(at(pos));
        }
        for (ka, (pos, kb)) in p.ciphertexts {
            self.ciphertexts
                .entry(ka)
                .or_insert((height, pos as u32, kb));
        }
        for (pos, d) in p.new_shares {
            self.shares
                .entry((d.election_id, d.tally_height))
                .or_default()
                .push(ShareOnChain {
                    share: d.share.clone(),
                    at: at(pos),
                });
        }
        for (key, (pos, origin)) in p.check_ins {
            if let std::collections::hash_map::Entry::Vacant(v) = self.check_ins.entry(key) {
                v.insert((origin, at(pos)));
                self.stations.entry((key.0, origin)).or_default().check_ins += 1;
            }
        }
        for (election, station, fallback) in p.cast {
            let c = self.stations.entry((election, station)).or_default();
            if fallback {
                c.fallback_ballots += 1;
            } else {
                c.ballots += 1;
            }
        }
        self.replacements.extend(p.replacements);
        for (key, pos) in p.revoked {
            self.revoked.entry(key).or_insert(at(pos));
        }
        for (key, (pos, d)) in p.closes {
            self.closes.entry(key).or_insert((d.clone(), at(pos)));
        }
        for (pos, info) in p.copies {
            if let Some(fallback) = &info.fallback {
                self.copies.push(CopyOnChain {
                    fallback: fallback.clone(),
                    election_id: info.election_id,
                    nullifier: info.nullifier,
                    at: at(pos),
                });
            }
        }
        let mut changed: Vec<u64> = Vec::new();
        for (election, cts) in p.adds {
            if let Some(t) = self.tallies.get_mut(&election) {
                add_into(&mut t.running, cts);
                t.ballots += 1;
                self.ballots += 1;
                if !changed.contains(&election) {
                    changed.push(election);
                }
            }
        }
        for (id, t) in self.tallies.iter_mut() {
            if ts.is_some_and(|ts| ts >= t.closes_at)
                && (t.first_closed.is_none() || changed.contains(id))
            {
                t.first_closed.get_or_insert(height);
                t.snapshots.insert(height, (t.ballots, t.running.clone()));
            }
        }
        // Heights run on even past a broken block, so that each block's
        // timestamp stays at its index.
        let idx = height.saturating_sub(1) as usize;
        if idx <= self.timestamps.len() {
            self.timestamps.truncate(idx);
            self.timestamps.push(ts);
        } else if idx - self.timestamps.len() < 1_000_000 {
            self.timestamps.resize(idx, None);
            self.timestamps.push(ts);
        }
    }
}

#[cfg(test)]
mod tests;
