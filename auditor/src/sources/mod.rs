//! Where chains come from: a running appliance over HTTP (`--nodes`) or an
//! appliance's SQLite file (`--db`). Both are read block by block, in
//! windows, so memory stays bounded however long the chain is.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::checks::RawBlock;
use crate::protocol::elgamal::Ciphertext;
use crate::protocol::{ChainRules, Hash32, PublicKey};
use http::HttpError;

mod db;
pub mod http;
mod node;

use db::DbSource;
pub use http::Http;
use node::NodeSource;
pub use node::normalize_url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Node,
    Db,
}

/// Why a source could not be read (the audit of that source stops; the
/// others go on; the exit status is 2 unless a discrepancy was found).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    #[error("{path} is not an evote appliance database: {reason}")]
    NotAppliance { path: String, reason: String },
    #[error("reading {path}: {reason}")]
    Sql { path: String, reason: String },
}

/// What a source says about itself when it is opened.
#[derive(Debug, Clone)]
pub struct Opened {
    pub kind: SourceKind,
    pub node_id: Option<PublicKey>,
    pub role: Option<String>,
    /// The chain id the source states (status `genesis_hash`, or the
    /// database's `meta.chain_id`).
    pub stated_chain_id: Option<Result<Hash32, String>>,
    /// The height and head hash a node's status reports.
    pub stated_height: Option<u64>,
    pub stated_head: Option<Hash32>,
    pub stated_chain_length: Option<u64>,
    pub genesis_text: String,
    /// The highest block the source holds (a node's status height; a
    /// database's highest row), for the progress bar and as the target.
    pub height_hint: u64,
    pub notes: Vec<String>,
    /// A database's `PRAGMA quick_check` outcome.
    pub integrity: Option<Result<(), String>>,
}

/// Results as a source reports them, for the elections it was asked about.
#[derive(Debug, Clone, Default)]
pub struct ReportedResults {
    /// election_id → its answer.
    pub elections: BTreeMap<u64, ElectionResults>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ElectionResults {
    /// candidate_id → (votes, percentage); `None` while the tally is pending.
    pub counts: BTreeMap<u64, (Option<u64>, Option<f64>)>,
    /// `total_votes`: the ballots of the election on the source's chain.
    pub total: u64,
    /// `tally.status`: `pending` or `decrypted`.
    pub status: Option<String>,
    pub tally_height: Option<u64>,
    pub ballots_in_tally: Option<u64>,
    /// The shares the counts come from: (trustee, transaction).
    pub shares: Vec<(u32, Option<Hash32>)>,
    /// The chain height the results refer to, when the source says.
    pub at_height: Option<u64>,
    /// What the node itself says of its chain (`verification.chain_valid`).
    pub node_says_valid: Option<bool>,
    /// A database only: why an appliance serving it could not decrypt.
    pub failure: Option<String>,
}

/// Encrypted totals as a source states them (`GET /api/tally/{id}`, or a
/// database's `election_tallies` rows).
#[derive(Debug, Clone)]
pub struct StatedTotals {
    pub election_id: u64,
    /// The block after which they are the tally.
    pub height: u64,
    pub ballot_count: u64,
    pub aggregate: Vec<Ciphertext>,
    /// Where they come from, for messages.
    pub what: String,
    /// Whether they claim to be the tally at the source's head (the
    /// latest stored running tally).
    pub at_head: bool,
}

/// One fallback chain as a source serves it.
#[derive(Debug, Clone)]
pub struct FallbackData {
    pub origin: PublicKey,
    /// Each block's JSON text, in `seq` order as served.
    pub blocks: Vec<String>,
    /// What the source says of each sealed ballot.
    pub ballots: Vec<FallbackBallotState>,
    /// The closing record's JSON text.
    pub close: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FallbackBallotState {
    pub seq: u64,
    pub sealed_tx_hash: Hash32,
    pub main_tx_hash: Hash32,
    pub state: String,
    #[serde(default)]
    pub conflicting_tx: Option<Hash32>,
}

/// The fallback chains a source holds.
#[derive(Debug, Clone)]
pub enum Fallbacks {
    /// The source has no fallback chains (the endpoint or the tables are absent).
    Absent(String),
    Chains(Vec<FallbackData>),
}

/// One confirmation code as its appliance serves it (PROTOCOL.md §4d, §9).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ServedCode {
    pub seq: u64,
    pub code: Hash32,
    /// `None` for a code issued before the appliance kept it.
    #[serde(default)]
    pub ballot_hash: Option<Hash32>,
}

/// A source's own chain of confirmation codes.
pub enum Codes {
    /// The source serves none (the endpoint or the table is absent).
    Absent(String),
    /// The codes in issue order, and the appliance that issued them when
    /// the source says (a node) or its chain shows (a file).
    Chain {
        origin: Option<PublicKey>,
        codes: Vec<ServedCode>,
    },
}

pub enum Source {
    Node(NodeSource),
    Db(DbSource),
}

impl Source {
    pub fn open_node(url: &str, http: &Http) -> Result<(Source, Opened), SourceError> {
        NodeSource::open(url, http).map(|(s, o)| (Source::Node(s), o))
    }

    pub fn open_db(path: &Path) -> Result<(Source, Opened), SourceError> {
        DbSource::open(path).map(|(s, o)| (Source::Db(s), o))
    }

    /// The next blocks of the chain, at most up to height `up_to`; empty at
    /// the end.
    pub fn next_window(&mut self, up_to: Option<u64>) -> Result<Vec<RawBlock>, SourceError> {
        match self {
            Source::Node(n) => n.next_window(up_to),
            Source::Db(d) => d.next_window(up_to),
        }
    }

    pub fn results(&mut self, rules: &ChainRules) -> Result<ReportedResults, SourceError> {
        match self {
            Source::Node(n) => n.results(rules),
            Source::Db(d) => d.results(rules),
        }
    }

    /// The encrypted totals the source states (`None`: it states none).
    pub fn totals(&mut self, rules: &ChainRules) -> Result<Option<Vec<StatedTotals>>, SourceError> {
        match self {
            Source::Node(n) => n.totals(rules),
            Source::Db(d) => d.totals(rules),
        }
    }

    pub fn fallbacks(&mut self) -> Result<Fallbacks, SourceError> {
        match self {
            Source::Node(n) => n.fallbacks(),
            Source::Db(d) => d.fallbacks(),
        }
    }

    pub fn codes(&mut self) -> Result<Codes, SourceError> {
        match self {
            Source::Node(n) => n.codes(),
            Source::Db(d) => d.codes(),
        }
    }
}
