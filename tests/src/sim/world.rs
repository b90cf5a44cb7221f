//! What every run of one validator count shares: the keys, the genesis and
//! the ballots' shape. Built in code (the appliance's own fixtures are
//! `cfg(test)` and not visible from here).

use std::collections::BTreeMap;
use std::sync::Arc;

use evote_core::ledger::crypto::{key_from_seed, pkcs8_from_seed};
use evote_core::ledger::elgamal::{BallotContext, EncryptionKey, encrypt_ballot};
use evote_core::ledger::genesis::PROTOCOL;
use evote_core::ledger::tally::local_ceremony;
use evote_core::ledger::{
    BallotTx, Candidate, Election, Eligibility, Genesis, Hash32, NodeKey, Params, Parent,
    Signature, SignedTx, StationInfo, Transaction, ValidatorInfo,
};

use super::rng::Rng;

/// Virtual time at which every run starts (ms). Far after the genesis and
/// the opening of the election, far before its close.
pub const START_MS: u64 = 1_000_000;
/// The one election of the simulated chain.
pub const ELECTION_ID: u64 = 1;
/// Candidates 1..=CANDIDATES.
pub const CANDIDATES: u64 = 3;

/// Timers small enough that a run of a few seconds of virtual time sees
/// many blocks and round changes (the shipped defaults are 1 s, 60 s, 2 s).
pub const PARAMS: Params = Params {
    block_period_ms: 200,
    empty_block_period_ms: 2_000,
    round_timeout_ms: 500,
    max_block_txs: 50,
    fallback_after_ms: 10_000,
};

/// A network whose blocks are far apart when no ballot waits (the
/// heartbeat of an idle network, 30 s) and whose fallback threshold is
/// short (3 s, as the end-to-end tests' testnets have): a fallback rule
/// that counted idle time, or a slow network's round changes, would show.
pub const CALM: Params = Params {
    empty_block_period_ms: 30_000,
    fallback_after_ms: 3_000,
    ..PARAMS
};

/// How many distinct voters (nullifiers) a run may draw on. Each has a
/// ballot and a second, different ballot under the same nullifier (a
/// double-vote attempt). Signing is the costliest thing a debug build does,
/// so the ballots are signed once per validator count and shared by all
/// seeds; the seed decides which are submitted, when, where and how often.
pub const POOL: usize = 400;

/// A pre-signed ballot and what the simulator needs to know about it.
pub struct PoolBallot {
    pub stx: Arc<SignedTx>,
    pub hash: Hash32,
    pub nullifier: (u64, Hash32),
}

pub struct World {
    pub n: usize,
    pub genesis: Arc<Genesis>,
    pub chain_id: Hash32,
    /// Validator keys, in genesis order (seeds [1;32], [2;32], ...).
    pub keys: Vec<Arc<NodeKey>>,
    /// A polling station that also originates ballots (seed [100;32]).
    pub station: Arc<NodeKey>,
    /// The parent of height 1.
    pub genesis_head: Parent,
    /// `ballots[k]` is voter k's ballot, `twins[k]` a different ballot of
    /// the same voter.
    pub ballots: Vec<PoolBallot>,
    pub twins: Vec<PoolBallot>,
    /// Transaction hashes by signature, so that the simulator's own
    /// bookkeeping does not hash every transaction again.
    by_signature: BTreeMap<Signature, (bool, usize)>,
    /// The election's key with its table, for making the pool's ballots.
    encryption_key: EncryptionKey,
}

/// A ballot of the pool, `credential`'s.
fn pooled(stx: SignedTx, credential: &NodeKey) -> PoolBallot {
    let hash = stx.hash().expect("ballot hashes");
    PoolBallot {
        stx: Arc::new(stx),
        hash,
        nullifier: (ELECTION_ID, Hash32(credential.public().0)),
    }
}

impl World {
    /// Whether a transaction is one of the pool's, signature included:
    /// those were checked once when the pool was made, so the nodes skip
    /// their signature and proof checks (what the appliance's verified
    /// cache does), keeping a seed's run fast.
    pub fn is_pool_tx(&self, tx_hash: &Hash32, signature: &Signature) -> bool {
        self.by_signature.get(signature).is_some_and(|&(twin, k)| {
            let b = if twin {
                &self.twins[k]
            } else {
                &self.ballots[k]
            };
            &b.hash == tx_hash
        })
    }
}

fn key(seed: u8) -> Arc<NodeKey> {
    Arc::new(NodeKey::from_pkcs8(&pkcs8_from_seed(&[seed; 32])).expect("valid key from seed"))
}

impl World {
    pub fn new(n: usize) -> Self {
        Self::with_params(n, PARAMS)
    }

    /// A world on [`CALM`] timers.
    pub fn calm(n: usize) -> Self {
        Self::with_params(n, CALM)
    }

    pub fn with_params(n: usize, params: Params) -> Self {
        assert!((1..=50).contains(&n), "1 to 50 validators");
        let keys: Vec<Arc<NodeKey>> = (1..=n as u8).map(key).collect();
        let station = key(100);
        let genesis = Genesis {
            protocol: PROTOCOL.into(),
            chain_name: format!("sim-{n}"),
            created_at_ms: 1_000,
            authority: key(200).public(),
            credential_authority: key(201).public(),
            validators: keys
                .iter()
                .enumerate()
                .map(|(i, k)| ValidatorInfo {
                    public_key: k.public(),
                    name: format!("v{i}"),
                    p2p_url: format!("http://sim-{i}"),
                })
                .collect(),
            stations: vec![StationInfo {
                public_key: station.public(),
                name: "station".into(),
            }],
            elections: vec![Election {
                id: ELECTION_ID,
                name: "Simulated".into(),
                candidates: (1..=CANDIDATES)
                    .map(|id| Candidate {
                        id,
                        name: format!("Candidate {id}"),
                    })
                    .collect(),
                opens_at: 1_000,
                closes_at: 1_000_000_000_000,
                trustees: local_ceremony(ELECTION_ID, 1, 1, &mut Rng::new(n as u64))
                    .expect("ceremony")
                    .0,
                // Consensus is what is simulated: any credential may vote.
                eligibility: Eligibility::Open {},
            }],
            params,
        };
        genesis.validate().expect("simulator genesis is valid");
        let chain_id = genesis.chain_id().expect("genesis hashes");
        let genesis_head = Parent {
            height: 0,
            hash: chain_id,
            timestamp_ms: genesis.created_at_ms,
        };
        let election_key = genesis.elections[0].public_key().expect("election key");
        let mut w = Self {
            n,
            encryption_key: EncryptionKey::new(&election_key.public_key).expect("a key"),
            genesis: Arc::new(genesis),
            chain_id,
            keys,
            station,
            genesis_head,
            ballots: Vec::with_capacity(POOL),
            twins: Vec::with_capacity(POOL),
            by_signature: BTreeMap::new(),
        };
        // Accepted shortly before every run starts: valid in any block of it.
        let at = START_MS - 1_000;
        let origins: Vec<Arc<NodeKey>> = w.keys.iter().chain([&w.station]).cloned().collect();
        for k in 0..POOL {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&(k as u64).to_le_bytes());
            b[31] = 0x5e;
            // The voter's credential; its public key is the nullifier.
            let credential = key_from_seed(&b);
            let first = &origins[k % origins.len()];
            let second = &origins[(k + 1) % origins.len()];
            let candidate = 1 + k as u64 % CANDIDATES;
            let one = w.ballot(first, &credential, candidate, 2 * k as u64, at);
            let other = 1 + candidate % CANDIDATES;
            let two = w.ballot(second, &credential, other, 2 * k as u64 + 1, at);
            let (one, two) = (pooled(one, &credential), pooled(two, &credential));
            w.by_signature.insert(one.stx.signature, (false, k));
            w.by_signature.insert(two.stx.signature, (true, k));
            w.ballots.push(one);
            w.twins.push(two);
        }
        // The nodes take the pool's ballots for checked (their verified
        // caches): a sample is checked here in full.
        let check = |b: &PoolBallot| {
            evote_core::ledger::check_tx(&w.genesis, &w.chain_id, &b.stx, START_MS)
                .expect("pool ballots are valid")
        };
        for b in w.ballots.iter().chain(&w.twins).step_by(POOL / 8) {
            check(b);
        }
        w
    }

    /// The hash of a transaction (looked up for the pool's ballots).
    pub fn tx_hash(&self, stx: &SignedTx) -> Hash32 {
        let known = self.by_signature.get(&stx.signature).map(|&(twin, k)| {
            if twin {
                &self.twins[k]
            } else {
                &self.ballots[k]
            }
        });
        match known {
            Some(b) if *b.stx == *stx => b.hash,
            _ => stx.hash().expect("transaction hashes"),
        }
    }

    /// Q = ceil(2n/3).
    pub fn quorum(&self) -> usize {
        self.genesis.quorum()
    }

    /// A ballot for `candidate` with `nullifier`, accepted at `at_ms` and
    /// signed by `origin` (a validator or the station).
    pub fn ballot(
        &self,
        origin: &NodeKey,
        credential: &NodeKey,
        candidate: u64,
        tag: u64,
        at_ms: u64,
    ) -> SignedTx {
        let ctx = BallotContext {
            chain_id: self.chain_id,
            election_id: ELECTION_ID,
            nullifier: Hash32(credential.public().0),
            origin: origin.public(),
        };
        let e = self.genesis.election(ELECTION_ID).expect("election");
        let index = (candidate - 1) as usize;
        let ballot = encrypt_ballot(
            &ctx,
            &self.encryption_key,
            index,
            e.candidates.len(),
            &mut Rng::new(tag),
        )
        .expect("ballot encrypts");
        let tx = BallotTx::new(
            self.chain_id,
            ELECTION_ID,
            credential,
            ballot,
            at_ms,
            origin.public(),
        )
        .expect("ballot encodes");
        SignedTx::sign(Transaction::Ballot(tx), origin).expect("origin signs")
    }
}
