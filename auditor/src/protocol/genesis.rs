//! PROTOCOL.md §3, the genesis: its objects, its validity, the chain id,
//! and the look-ups the block and transaction rules need (validators,
//! origins, elections).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::elgamal::{CryptoError, ElectionKey, ElectionTrustees};
use super::encoding::{Hash32, MAX_SAFE_INTEGER, PublicKey, hash_of, is_weak_key};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub protocol: String,
    pub chain_name: String,
    pub created_at_ms: u64,
    pub authority: PublicKey,
    pub credential_authority: PublicKey,
    pub validators: Vec<ValidatorInfo>,
    pub stations: Vec<StationInfo>,
    pub elections: Vec<Election>,
    pub params: Params,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorInfo {
    pub public_key: PublicKey,
    pub name: String,
    pub p2p_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationInfo {
    pub public_key: PublicKey,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Election {
    pub id: u64,
    pub name: String,
    pub candidates: Vec<Candidate>,
    pub opens_at: u64,
    pub closes_at: u64,
    /// The key ceremony's public record (§3, E.4).
    pub trustees: ElectionTrustees,
    /// Who may vote (§3a).
    pub eligibility: Eligibility,
}

/// §3a: open registration, or the roll's commitment and the list of
/// public credentials (strictly ascending, one per roll entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Eligibility {
    Open {},
    Roll {
        roll: RollCommitment,
        credentials: Vec<PublicKey>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollCommitment {
    pub size: u64,
    pub root: Hash32,
}

impl Election {
    pub fn roll(&self) -> Option<&RollCommitment> {
        match &self.eligibility {
            Eligibility::Open {} => None,
            Eligibility::Roll { roll, .. } => Some(roll),
        }
    }

    /// Whether the genesis lists the credential (the list is sorted).
    pub fn lists(&self, credential: &PublicKey) -> bool {
        match &self.eligibility {
            Eligibility::Open {} => false,
            Eligibility::Roll { credentials, .. } => credentials.binary_search(credential).is_ok(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub block_period_ms: u64,
    pub empty_block_period_ms: u64,
    pub round_timeout_ms: u64,
    pub max_block_txs: u64,
    pub fallback_after_ms: u64,
}

/// Q = ceil(2n/3) (§3).
pub fn quorum(n: usize) -> usize {
    (2 * n).div_ceil(3)
}

pub const PROTOCOL: &str = "evote/3";
const MAX_ROLL_SIZE: u64 = 1 << 22;
const MAX_VALIDATORS: usize = 64;
const MAX_STATIONS: usize = 4096;
const MAX_ELECTIONS: usize = 256;
const MAX_CANDIDATES: usize = 256;
const MAX_NAME_LEN: usize = 200;
const MAX_URL_LEN: usize = 2048;
const MAX_BLOCK_TXS_LIMIT: u64 = 10_000;

/// Parses a genesis document strictly (closed objects, strict hex).
pub fn parse_genesis(text: &str) -> Result<Genesis, String> {
    serde_json::from_str(text).map_err(|e| format!("the genesis does not parse: {e}"))
}

/// Every rule of PROTOCOL.md §3 the genesis breaks (empty when valid).
pub fn genesis_problems(g: &Genesis) -> Vec<String> {
    let mut out = Vec::new();
    sizes(g, &mut out);
    members(g, &mut out);
    let mut ids: Vec<u64> = g.elections.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        out.push(format!("election id {} appears twice", w[0]));
    }
    for e in &g.elections {
        election_problems(e, &mut out);
    }
    params_problems(&g.params, &mut out);
    big(&mut out, "created_at_ms", g.created_at_ms);
    out
}

/// The protocol, the chain's name, and how many validators, stations and
/// elections it has.
fn sizes(g: &Genesis, out: &mut Vec<String>) {
    if g.protocol != PROTOCOL {
        out.push(format!(
            "protocol is {:?}, expected {PROTOCOL:?}",
            g.protocol
        ));
    }
    name_ok(out, "chain_name", &g.chain_name);
    if g.validators.is_empty() || g.validators.len() > MAX_VALIDATORS {
        out.push(format!(
            "{} validators; a genesis needs 1 to {MAX_VALIDATORS}",
            g.validators.len()
        ));
    }
    if g.stations.len() > MAX_STATIONS {
        out.push(format!(
            "{} stations; at most {MAX_STATIONS}",
            g.stations.len()
        ));
    }
    if g.elections.len() > MAX_ELECTIONS {
        out.push(format!(
            "{} elections; at most {MAX_ELECTIONS}",
            g.elections.len()
        ));
    }
}

/// Validators and stations: names, URLs, and keys used once (the
/// authority's by none of them).
fn members(g: &Genesis, out: &mut Vec<String>) {
    let mut keys: Vec<&PublicKey> = Vec::new();
    for v in &g.validators {
        name_ok(out, "a validator name", &v.name);
        let scheme = v.p2p_url.starts_with("http://") || v.p2p_url.starts_with("https://");
        if !scheme || v.p2p_url.len() > MAX_URL_LEN {
            out.push(format!(
                "validator {:?} has p2p_url {:?}: it must start with http:// or https:// and be at most {MAX_URL_LEN} bytes",
                v.name, v.p2p_url
            ));
        }
        keys.push(&v.public_key);
    }
    for s in &g.stations {
        name_ok(out, "a station name", &s.name);
        keys.push(&s.public_key);
    }
    if keys.contains(&&g.authority) {
        out.push("the authority key is also a validator or station key".into());
    }
    if keys.contains(&&g.credential_authority) || g.credential_authority == g.authority {
        out.push(
            "the credential authority's key is also the authority's, a validator's or a station's"
                .into(),
        );
    }
    for k in keys
        .iter()
        .copied()
        .chain([&g.authority, &g.credential_authority])
    {
        if is_weak_key(k) {
            out.push(format!("{k} is a weak key (§2)"));
        }
    }
    let mut sorted = keys.clone();
    sorted.sort();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        out.push(format!(
            "public key {} appears twice among validators and stations",
            w[0]
        ));
    }
}

fn election_problems(e: &Election, out: &mut Vec<String>) {
    name_ok(out, "an election name", &e.name);
    if e.candidates.is_empty() || e.candidates.len() > MAX_CANDIDATES {
        out.push(format!(
            "election {} has {} candidates; 1 to {MAX_CANDIDATES} are allowed",
            e.id,
            e.candidates.len()
        ));
    }
    let mut cids: Vec<u64> = e.candidates.iter().map(|c| c.id).collect();
    cids.sort_unstable();
    if let Some(w) = cids.windows(2).find(|w| w[0] == w[1]) {
        out.push(format!(
            "candidate id {} appears twice in election {}",
            w[0], e.id
        ));
    }
    for c in &e.candidates {
        name_ok(out, "a candidate name", &c.name);
    }
    if e.opens_at >= e.closes_at {
        out.push(format!(
            "election {} opens at {} but closes at {}: opens_at must be below closes_at",
            e.id, e.opens_at, e.closes_at
        ));
    }
    for (what, v) in [
        ("id", e.id),
        ("opens_at", e.opens_at),
        ("closes_at", e.closes_at),
    ] {
        big(out, &format!("election {what}"), v);
    }
    for c in &e.candidates {
        big(out, "candidate id", c.id);
    }
    eligibility_problems(out, e);
}

fn params_problems(p: &Params, out: &mut Vec<String>) {
    for (what, v) in [
        ("block_period_ms", p.block_period_ms),
        ("empty_block_period_ms", p.empty_block_period_ms),
        ("round_timeout_ms", p.round_timeout_ms),
        ("max_block_txs", p.max_block_txs),
        ("fallback_after_ms", p.fallback_after_ms),
    ] {
        if v < 1 {
            out.push(format!("params.{what} is 0; it must be at least 1"));
        }
        big(out, &format!("params.{what}"), v);
    }
    if p.max_block_txs > MAX_BLOCK_TXS_LIMIT {
        out.push(format!(
            "params.max_block_txs is {}; at most {MAX_BLOCK_TXS_LIMIT}",
            p.max_block_txs
        ));
    }
    if p.empty_block_period_ms < p.block_period_ms {
        out.push("params.empty_block_period_ms is below params.block_period_ms".into());
    }
}

/// Every election whose key ceremony record does not verify (§3, E.4),
/// with why: the round-1 messages are checked and the election key
/// recomputed from them.
pub fn trustee_problems(g: &Genesis) -> Vec<String> {
    g.elections
        .iter()
        .filter_map(|e| {
            ElectionKey::from_round1(e.id, &e.trustees)
                .err()
                .map(|err| format!("election {}: {}: {err}", e.id, err.code()))
        })
        .collect()
}

/// §3a: as many public credentials as roll entries, strictly ascending,
/// none weak.
fn eligibility_problems(out: &mut Vec<String>, e: &Election) {
    let Eligibility::Roll { roll, credentials } = &e.eligibility else {
        return;
    };
    if roll.size > MAX_ROLL_SIZE {
        out.push(format!(
            "election {}'s roll holds {} voters; at most {MAX_ROLL_SIZE}",
            e.id, roll.size
        ));
    }
    if credentials.len() as u64 != roll.size {
        out.push(format!(
            "election {} lists {} credentials for a roll of {}: one per voter",
            e.id,
            credentials.len(),
            roll.size
        ));
    }
    if let Some(w) = credentials.windows(2).find(|w| w[0] >= w[1]) {
        out.push(format!(
            "election {}'s credentials are not in strictly ascending order ({} then {})",
            e.id, w[0], w[1]
        ));
    }
    if let Some(k) = credentials.iter().find(|k| is_weak_key(k)) {
        out.push(format!(
            "election {}: credential {k} is a weak key (§2)",
            e.id
        ));
    }
}

fn name_ok(out: &mut Vec<String>, what: &str, name: &str) {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.trim().is_empty() {
        out.push(format!(
            "{what} ({name:?}) must be 1 to {MAX_NAME_LEN} UTF-8 bytes and not only whitespace"
        ));
    }
}

fn big(out: &mut Vec<String>, what: &str, v: u64) {
    if v > MAX_SAFE_INTEGER {
        out.push(format!("{what} is {v}, above 2^53 - 1"));
    }
}

/// What the rules need to know about a chain, computed once from its genesis.
#[derive(Debug, Clone)]
pub struct ChainRules {
    pub genesis: Genesis,
    pub chain_id: Hash32,
    pub quorum: usize,
    validator_index: HashMap<PublicKey, usize>,
    origin_names: HashMap<PublicKey, String>,
    elections: HashMap<u64, usize>,
    /// Each election's key, recomputed from its round-1 messages, or why
    /// it cannot be.
    keys: HashMap<u64, Result<Arc<ElectionKey>, CryptoError>>,
}

/// A genesis that cannot be used to check a chain.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct GenesisError(pub String);

impl ChainRules {
    /// Builds the rules of a genesis. An invalid genesis is refused (the
    /// problems are listed); one that cannot be hashed too.
    pub fn new(genesis: Genesis) -> Result<Self, GenesisError> {
        let mut problems = genesis_problems(&genesis);
        problems.extend(trustee_problems(&genesis));
        if !problems.is_empty() {
            return Err(GenesisError(problems.join("; ")));
        }
        Self::new_unchecked(genesis)
    }

    /// Builds the rules without §3's checks (for reporting on a chain whose
    /// genesis is already known to be invalid).
    pub fn new_unchecked(genesis: Genesis) -> Result<Self, GenesisError> {
        if genesis.validators.is_empty() {
            return Err(GenesisError("the genesis names no validator".into()));
        }
        let chain_id = hash_of(&genesis).map_err(|e| GenesisError(format!("genesis: {e}")))?;
        let validator_index = genesis
            .validators
            .iter()
            .enumerate()
            .map(|(i, v)| (v.public_key, i))
            .collect();
        let origin_names = genesis
            .validators
            .iter()
            .map(|v| (v.public_key, v.name.clone()))
            .chain(
                genesis
                    .stations
                    .iter()
                    .map(|s| (s.public_key, s.name.clone())),
            )
            .collect();
        let elections = genesis
            .elections
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id, i))
            .collect();
        let keys = genesis
            .elections
            .iter()
            .map(|e| {
                (
                    e.id,
                    ElectionKey::from_round1(e.id, &e.trustees).map(Arc::new),
                )
            })
            .collect();
        Ok(Self {
            keys,
            quorum: quorum(genesis.validators.len()),
            genesis,
            chain_id,
            validator_index,
            origin_names,
            elections,
        })
    }

    pub fn validator_count(&self) -> usize {
        self.genesis.validators.len()
    }

    pub fn validator_index(&self, key: &PublicKey) -> Option<usize> {
        self.validator_index.get(key).copied()
    }

    /// proposer(h, r) = validators[(h + r) mod n] (§3), without overflow.
    pub fn proposer_index(&self, height: u64, round: u64) -> usize {
        let n = self.genesis.validators.len() as u64;
        ((height % n + round % n) % n) as usize
    }

    pub fn validator_key(&self, index: usize) -> &PublicKey {
        &self.genesis.validators[index].public_key
    }

    pub fn validator_name(&self, index: usize) -> &str {
        &self.genesis.validators[index].name
    }

    /// Validators and stations may originate ballots.
    pub fn is_origin(&self, key: &PublicKey) -> bool {
        self.origin_names.contains_key(key)
    }

    /// The genesis name of a validator or station key.
    pub fn name_of(&self, key: &PublicKey) -> Option<&str> {
        self.origin_names.get(key).map(String::as_str)
    }

    /// A key with its genesis name, for messages.
    pub fn describe(&self, key: &PublicKey) -> String {
        match self.name_of(key) {
            Some(n) => format!("{key} ({n})"),
            None => format!("{key} (not in the genesis)"),
        }
    }

    pub fn election(&self, id: u64) -> Option<&Election> {
        self.elections.get(&id).map(|&i| &self.genesis.elections[i])
    }

    /// The election's key, recomputed from the genesis (E.4).
    pub fn election_key(&self, id: u64) -> Option<&Result<Arc<ElectionKey>, CryptoError>> {
        self.keys.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_table() {
        let q: Vec<usize> = (1..=7).map(quorum).collect();
        assert_eq!(q, vec![1, 2, 2, 3, 4, 4, 5]);
    }
}
