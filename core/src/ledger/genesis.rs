//! The genesis: who validates, which appliances may originate ballots,
//! which elections exist, and the chain's timing parameters. Its hash is the
//! chain id.

use serde::{Deserialize, Serialize};

use super::bytes::{Hash32, PublicKey};
use super::canonical::{check_safe_integer, hash_of};
use super::crypto::is_weak_key;
use super::error::LedgerError;
use super::tally::ElectionTrustees;

pub const PROTOCOL: &str = "evote/3";
pub const MAX_VALIDATORS: usize = 64;
pub const MAX_STATIONS: usize = 4096;
pub const MAX_ELECTIONS: usize = 256;
pub const MAX_CANDIDATES: usize = 256;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_URL_LEN: usize = 2048;
/// Voters on one election's roll, and so public credentials in its list.
pub const MAX_ROLL_SIZE: u64 = 1 << 22;
/// Upper bound on `max_block_txs`, so a block always fits the p2p body limit.
pub const MAX_BLOCK_TXS_LIMIT: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub protocol: String,
    pub chain_name: String,
    pub created_at_ms: u64,
    /// The election authority's key: it signs the voter roll (and election
    /// management, later).
    pub authority: PublicKey,
    /// The credential authority's key: it signs the credential lists and
    /// every revocation and replacement of a voter's credential.
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
    /// Milliseconds since the Unix epoch; ballots are accepted from
    /// `opens_at` (inclusive) until `closes_at` (exclusive).
    pub opens_at: u64,
    pub closes_at: u64,
    /// Who can decrypt the tally, and the election key's public record.
    pub trustees: ElectionTrustees,
    /// Who may vote.
    pub eligibility: Eligibility,
}

/// Who may vote in an election (PROTOCOL.md §3a).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Eligibility {
    /// Anyone may register (the `dev` demo): the accepting appliance makes
    /// each registered voter's credential. Nothing on the chain proves that
    /// a voter exists. (A struct variant, so that an unknown member is
    /// refused as elsewhere.)
    Open {},
    /// The authority's roll and the credential authority's list of public
    /// credentials, one per roll entry, in ascending byte order (so that
    /// no position says anything about a voter).
    Roll {
        roll: RollCommitment,
        credentials: Vec<PublicKey>,
    },
}

/// The commitment to a voter roll: its number of entries and the Merkle
/// root over them (`ledger::roll`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollCommitment {
    pub size: u64,
    pub root: Hash32,
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

impl Default for Params {
    fn default() -> Self {
        Self {
            block_period_ms: 1_000,
            empty_block_period_ms: 60_000,
            round_timeout_ms: 2_000,
            max_block_txs: 2_000,
            fallback_after_ms: 10_000,
        }
    }
}

impl Election {
    pub fn is_open_at(&self, at_ms: u64) -> bool {
        self.opens_at <= at_ms && at_ms < self.closes_at
    }

    pub fn candidate(&self, id: u64) -> Option<&Candidate> {
        self.candidates.iter().find(|c| c.id == id)
    }

    /// A candidate's position in the ballot (genesis order).
    pub fn candidate_index(&self, id: u64) -> Option<usize> {
        self.candidates.iter().position(|c| c.id == id)
    }

    /// Whether anyone may register to vote (no roll, no credential list).
    pub fn open_registration(&self) -> bool {
        self.eligibility == Eligibility::Open {}
    }

    /// The roll's commitment; `None` with open registration.
    pub fn roll(&self) -> Option<&RollCommitment> {
        match &self.eligibility {
            Eligibility::Open {} => None,
            Eligibility::Roll { roll, .. } => Some(roll),
        }
    }

    /// Whether the genesis lists this public credential (a binary search:
    /// the list is sorted).
    pub fn lists_credential(&self, credential: &PublicKey) -> bool {
        match &self.eligibility {
            Eligibility::Open {} => false,
            Eligibility::Roll { credentials, .. } => credentials.binary_search(credential).is_ok(),
        }
    }

    /// The key ballots of this election are encrypted under, with every
    /// trustee's public share, computed from the ceremony's record.
    pub fn public_key(&self) -> Result<super::elgamal::ElectionPublicKey, LedgerError> {
        self.trustees.public_key(self.id)
    }
}

impl Genesis {
    /// The chain id: the hash of the genesis' canonical form.
    pub fn chain_id(&self) -> Result<Hash32, LedgerError> {
        hash_of(self)
    }

    /// Parses and checks a genesis document.
    pub fn from_json(text: &str) -> Result<Self, LedgerError> {
        let g: Genesis =
            serde_json::from_str(text).map_err(|e| LedgerError::InvalidGenesis(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    pub fn validator_count(&self) -> usize {
        self.validators.len()
    }

    /// Q = ceil(2n/3).
    pub fn quorum(&self) -> usize {
        quorum(self.validators.len())
    }

    pub fn validator_index(&self, key: &PublicKey) -> Option<usize> {
        self.validators.iter().position(|v| &v.public_key == key)
    }

    pub fn is_validator(&self, key: &PublicKey) -> bool {
        self.validator_index(key).is_some()
    }

    pub fn is_station(&self, key: &PublicKey) -> bool {
        self.stations.iter().any(|s| &s.public_key == key)
    }

    /// Validators and stations may originate ballots; nobody else.
    pub fn is_origin(&self, key: &PublicKey) -> bool {
        self.is_validator(key) || self.is_station(key)
    }

    /// proposer(h, r) = validators[(h + r) mod n].
    pub fn proposer(&self, height: u64, round: u64) -> &PublicKey {
        let n = self.validators.len() as u64;
        let idx = (height % n + round % n) % n;
        &self.validators[idx as usize].public_key
    }

    pub fn election(&self, id: u64) -> Option<&Election> {
        self.elections.iter().find(|e| e.id == id)
    }

    pub fn validate(&self) -> Result<(), LedgerError> {
        let bad = |m: String| Err(LedgerError::InvalidGenesis(m));
        if self.protocol != PROTOCOL {
            return bad(format!("protocol must be {PROTOCOL:?}"));
        }
        check_name("chain_name", &self.chain_name)?;
        check_safe_integer("created_at_ms", self.created_at_ms)?;
        if self.validators.is_empty() || self.validators.len() > MAX_VALIDATORS {
            return bad(format!("needs 1 to {MAX_VALIDATORS} validators"));
        }
        if self.stations.len() > MAX_STATIONS {
            return bad(format!("at most {MAX_STATIONS} stations"));
        }
        let mut keys: Vec<&PublicKey> = Vec::new();
        for v in &self.validators {
            check_name("validator name", &v.name)?;
            let scheme_ok = v.p2p_url.starts_with("http://") || v.p2p_url.starts_with("https://");
            if v.p2p_url.len() > MAX_URL_LEN || !scheme_ok {
                return bad(format!("validator {} has a bad p2p_url", v.name));
            }
            keys.push(&v.public_key);
        }
        for s in &self.stations {
            check_name("station name", &s.name)?;
            keys.push(&s.public_key);
        }
        keys.push(&self.authority);
        keys.push(&self.credential_authority);
        if let Some(k) = keys.iter().find(|k| is_weak_key(k)) {
            return bad(format!("{k} is a weak key (PROTOCOL.md §2)"));
        }
        keys.sort();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return bad(
                "a public key appears twice among the authorities, validators and stations".into(),
            );
        }
        if self.elections.len() > MAX_ELECTIONS {
            return bad(format!("at most {MAX_ELECTIONS} elections"));
        }
        let mut ids: Vec<u64> = self.elections.iter().map(|e| e.id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return bad("an election id appears twice".into());
        }
        self.elections.iter().try_for_each(validate_election)?;
        validate_params(&self.params)
    }
}

/// Q = ceil(2n/3).
pub fn quorum(n: usize) -> usize {
    (2 * n).div_ceil(3)
}

fn check_name(field: &str, name: &str) -> Result<(), LedgerError> {
    if name.trim().is_empty() || name.len() > MAX_NAME_LEN {
        return Err(LedgerError::InvalidGenesis(format!(
            "{field} must be 1 to {MAX_NAME_LEN} bytes"
        )));
    }
    Ok(())
}

fn validate_election(e: &Election) -> Result<(), LedgerError> {
    let bad = |m: String| Err(LedgerError::InvalidGenesis(m));
    check_safe_integer("election id", e.id)?;
    check_safe_integer("opens_at", e.opens_at)?;
    check_safe_integer("closes_at", e.closes_at)?;
    check_name("election name", &e.name)?;
    if e.opens_at >= e.closes_at {
        return bad(format!("election {} closes before it opens", e.id));
    }
    if e.candidates.is_empty() || e.candidates.len() > MAX_CANDIDATES {
        return bad(format!(
            "election {} needs 1 to {MAX_CANDIDATES} candidates",
            e.id
        ));
    }
    let mut ids: Vec<u64> = e.candidates.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return bad(format!("election {} has a candidate id twice", e.id));
    }
    for c in &e.candidates {
        check_safe_integer("candidate id", c.id)?;
        check_name("candidate name", &c.name)?;
    }
    validate_eligibility(e)?;
    e.trustees
        .public_key(e.id)
        .map(|_| ())
        .map_err(|err| LedgerError::InvalidGenesis(format!("election {} trustees: {err}", e.id)))
}

fn validate_eligibility(e: &Election) -> Result<(), LedgerError> {
    let bad = |m: String| {
        Err(LedgerError::InvalidGenesis(format!(
            "election {}: {m}",
            e.id
        )))
    };
    let Eligibility::Roll { roll, credentials } = &e.eligibility else {
        return Ok(());
    };
    check_safe_integer("roll size", roll.size)?;
    if roll.size > MAX_ROLL_SIZE {
        return bad(format!("a roll holds at most {MAX_ROLL_SIZE} voters"));
    }
    if credentials.len() as u64 != roll.size {
        return bad(format!(
            "{} public credentials for a roll of {} voters: one per voter",
            credentials.len(),
            roll.size
        ));
    }
    if credentials.windows(2).any(|w| w[0] >= w[1]) {
        return bad("the public credentials are not in strictly ascending order".into());
    }
    if let Some(k) = credentials.iter().find(|k| is_weak_key(k)) {
        return bad(format!("credential {k} is a weak key (PROTOCOL.md §2)"));
    }
    Ok(())
}

fn validate_params(p: &Params) -> Result<(), LedgerError> {
    let bad = |m: &str| Err(LedgerError::InvalidGenesis(m.to_string()));
    for (name, v) in [
        ("block_period_ms", p.block_period_ms),
        ("empty_block_period_ms", p.empty_block_period_ms),
        ("round_timeout_ms", p.round_timeout_ms),
        ("max_block_txs", p.max_block_txs),
        ("fallback_after_ms", p.fallback_after_ms),
    ] {
        if v == 0 {
            return bad(&format!("params.{name} must be positive"));
        }
        check_safe_integer("params", v)?;
    }
    if p.max_block_txs > MAX_BLOCK_TXS_LIMIT {
        return bad("params.max_block_txs is above 10000");
    }
    if p.empty_block_period_ms < p.block_period_ms {
        return bad("params.empty_block_period_ms must be at least block_period_ms");
    }
    Ok(())
}

/// Test fixtures, for this crate's tests and, with the `fixtures`
/// feature, for the appliance's.
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures {
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::elgamal::TrusteeKey;
    use rand_core::SeedableRng;

    /// Election 1's trustees (2 of 3) and their keys, from a fixed seed.
    pub fn trustees() -> (ElectionTrustees, Vec<TrusteeKey>) {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        crate::ledger::tally::local_ceremony(1, 3, 2, &mut rng).expect("ceremony")
    }

    /// Voters of the fixture roll of election 1 (their card's secret is
    /// `[v; 10]` for voter v).
    pub const FIXTURE_VOTERS: u8 = 40;

    /// The card of fixture voter `v`.
    pub fn card(v: u8) -> crate::ledger::credential::CredentialCode {
        crate::ledger::credential::CredentialCode::from_secret([v; 10])
    }

    /// Station of fixture voter `v`: voters 30 and up are on the roll of
    /// station 100 (key 100); the others may check in anywhere.
    pub fn voter_station(v: u8) -> Option<PublicKey> {
        (v >= 30).then(|| key(100).public())
    }

    /// The roll leaves of election 1's fixture voters, in roll order.
    pub fn roll_leaves() -> Vec<Hash32> {
        let mut leaves: Vec<Hash32> = (0..FIXTURE_VOTERS)
            .map(|v| {
                let voter = Hash32([v; 32]);
                crate::ledger::roll::roll_leaf(1, &voter, voter_station(v).as_ref()).unwrap()
            })
            .collect();
        leaves.sort();
        leaves
    }

    /// Election 1's roll of [`FIXTURE_VOTERS`] voters (voter commitment
    /// `[v; 32]`) and their credentials.
    pub fn roll_eligibility() -> Eligibility {
        let mut credentials: Vec<PublicKey> = (0..FIXTURE_VOTERS)
            .map(|v| card(v).key(1).public())
            .collect();
        credentials.sort();
        Eligibility::Roll {
            roll: RollCommitment {
                size: FIXTURE_VOTERS.into(),
                root: crate::ledger::merkle::merkle_root(&roll_leaves()),
            },
            credentials,
        }
    }

    /// A genesis with `n` validators (keys 1..=n), one station (key 100)
    /// and election 1 with candidates 1..=3, open from 1000 to 10^12, its
    /// roll of [`FIXTURE_VOTERS`] voters with their credentials.
    pub fn genesis(n: u8) -> Genesis {
        Genesis {
            protocol: PROTOCOL.into(),
            chain_name: "test".into(),
            created_at_ms: 1_000,
            authority: key(200).public(),
            credential_authority: key(201).public(),
            validators: (1..=n)
                .map(|i| ValidatorInfo {
                    public_key: key(i).public(),
                    name: format!("v{i}"),
                    p2p_url: format!("http://127.0.0.1:{}", 9000 + u16::from(i)),
                })
                .collect(),
            stations: vec![StationInfo {
                public_key: key(100).public(),
                name: "s1".into(),
            }],
            elections: vec![Election {
                id: 1,
                name: "Mayor".into(),
                candidates: (1..=3)
                    .map(|i| Candidate {
                        id: i,
                        name: format!("Candidate {i}"),
                    })
                    .collect(),
                opens_at: 1_000,
                closes_at: 1_000_000_000_000,
                trustees: trustees().0,
                eligibility: roll_eligibility(),
            }],
            params: Params::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::genesis;
    use super::*;

    #[test]
    fn quorum_is_ceil_two_thirds() {
        assert_eq!([1, 2, 3, 4, 5, 6, 7].map(quorum), [1, 2, 2, 3, 4, 4, 5]);
    }

    #[test]
    fn proposer_rotates_with_height_and_round() {
        let g = genesis(3);
        assert_eq!(g.proposer(1, 0), &g.validators[1].public_key);
        assert_eq!(g.proposer(1, 1), &g.validators[2].public_key);
        assert_eq!(g.proposer(2, 2), &g.validators[1].public_key);
        assert_eq!(
            g.proposer(u64::MAX, u64::MAX),
            g.proposer(u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn valid_genesis_round_trips_and_hashes_stably() {
        let g = genesis(4);
        g.validate().unwrap();
        let text = serde_json::to_string_pretty(&g).unwrap();
        let back = Genesis::from_json(&text).unwrap();
        assert_eq!(back.chain_id().unwrap(), g.chain_id().unwrap());
    }

    #[test]
    fn refuses_bad_genesis() {
        let mut g = genesis(3);
        g.validators.clear();
        assert!(g.validate().is_err());

        let mut g = genesis(3);
        g.stations[0].public_key = g.validators[0].public_key;
        assert!(g.validate().is_err());

        let mut g = genesis(3);
        g.elections[0].closes_at = g.elections[0].opens_at;
        assert!(g.validate().is_err());

        let mut g = genesis(3);
        g.elections[0].candidates[1].id = 1;
        assert!(g.validate().is_err());

        let mut g = genesis(3);
        g.params.round_timeout_ms = 0;
        assert!(g.validate().is_err());

        let mut g = genesis(3);
        g.authority = g.validators[0].public_key;
        assert!(g.validate().is_err());

        let mut g = genesis(3);
        g.validators[0].p2p_url = "httpx://a".into();
        assert!(g.validate().is_err());

        let mut g = genesis(3);
        g.protocol = "other".into();
        assert!(g.validate().is_err());

        let mut g = genesis(3);
        g.credential_authority = g.authority;
        assert!(g.validate().is_err());

        let mut g = genesis(3);
        g.stations[0].public_key = PublicKey([0; 32]); // small order
        assert!(g.validate().is_err());

        let with_credentials = |f: &dyn Fn(&mut Vec<PublicKey>, &mut RollCommitment)| {
            let mut g = genesis(3);
            let Eligibility::Roll { roll, credentials } = &mut g.elections[0].eligibility else {
                unreachable!("the fixture has a roll")
            };
            f(credentials, roll);
            g.validate()
        };
        assert!(with_credentials(&|_, _| {}).is_ok());
        assert!(with_credentials(&|c, _| c.swap(0, 1)).is_err());
        assert!(with_credentials(&|c, _| c[1] = c[0]).is_err());
        assert!(
            with_credentials(&|c, _| {
                c.pop();
            })
            .is_err()
        );
        assert!(
            with_credentials(&|c, r| {
                c.pop();
                r.size -= 1;
            })
            .is_ok()
        );
        assert!(
            with_credentials(&|c, r| {
                c.clear();
                c.push(PublicKey([0; 32]));
                r.size = 1;
            })
            .is_err()
        );

        let text = serde_json::to_string(&genesis(3)).unwrap();
        let extra = text.replacen('{', r#"{"surprise":1,"#, 1);
        assert!(Genesis::from_json(&extra).is_err());
        let mut g = genesis(3);
        g.elections[0].eligibility = Eligibility::Open {};
        let open = serde_json::to_string(&g).unwrap();
        assert!(open.contains(r#""eligibility":{"mode":"open"}"#));
        assert!(Genesis::from_json(&open).is_ok());
        let odd = open.replace(r#"{"mode":"open"}"#, r#"{"mode":"open","credentials":[]}"#);
        assert!(Genesis::from_json(&odd).is_err());
        assert!(Genesis::from_json("{").is_err());
    }
}
