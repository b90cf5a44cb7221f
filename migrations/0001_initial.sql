-- evote appliance schema, version 1.
-- Hashes and keys are stored as 32-byte BLOBs; signed objects as their JSON text.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE elections (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,
    opens_at  INTEGER NOT NULL,
    closes_at INTEGER NOT NULL
) STRICT;

CREATE TABLE candidates (
    election_id INTEGER NOT NULL REFERENCES elections(id),
    id          INTEGER NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (election_id, id)
) STRICT;

CREATE TABLE blocks (
    height             INTEGER PRIMARY KEY,
    block_hash         BLOB NOT NULL UNIQUE,
    prev_hash          BLOB NOT NULL,
    round              INTEGER NOT NULL,
    timestamp_ms       INTEGER NOT NULL,
    proposer           BLOB NOT NULL,
    tx_count           INTEGER NOT NULL,
    header             TEXT NOT NULL,
    proposer_signature TEXT NOT NULL,
    seals              TEXT NOT NULL,
    committed_at_ms    INTEGER NOT NULL
) STRICT;

CREATE TABLE transactions (
    tx_hash      BLOB PRIMARY KEY,
    block_height INTEGER NOT NULL REFERENCES blocks(height),
    position     INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    election_id  INTEGER,
    nullifier    BLOB,
    candidate_id INTEGER,
    origin       BLOB NOT NULL,
    body         TEXT NOT NULL,
    UNIQUE (block_height, position),
    UNIQUE (election_id, nullifier)
) STRICT;

CREATE INDEX transactions_by_election ON transactions (election_id, candidate_id);

CREATE TABLE mempool (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_hash        BLOB NOT NULL UNIQUE,
    election_id    INTEGER NOT NULL,
    nullifier      BLOB NOT NULL,
    body           TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    UNIQUE (election_id, nullifier)
) STRICT;

CREATE TABLE rejected_txs (
    tx_hash        BLOB PRIMARY KEY,
    code           TEXT NOT NULL,
    reason         TEXT NOT NULL,
    conflicting_tx BLOB,
    rejected_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE voters (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash BLOB NOT NULL,
    salt          BLOB NOT NULL,
    iterations    INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    token_hash    BLOB PRIMARY KEY,
    voter_id      INTEGER NOT NULL REFERENCES voters(id),
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);

-- A voter's ballot as accepted by this appliance, for their status look-ups.
CREATE TABLE voter_ballots (
    voter_id        INTEGER NOT NULL REFERENCES voters(id),
    election_id     INTEGER NOT NULL,
    tx_hash         BLOB NOT NULL,
    submitted_at_ms INTEGER NOT NULL,
    PRIMARY KEY (voter_id, election_id)
) STRICT;

CREATE TABLE peers (
    url          TEXT PRIMARY KEY,
    node_id      BLOB,
    chain_length INTEGER,
    best_hash    BLOB,
    last_seen_ms INTEGER
) STRICT;

-- The consensus core's durable state: what this validator has voted for.
CREATE TABLE consensus_state (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    height INTEGER NOT NULL,
    round  INTEGER NOT NULL,
    state  TEXT NOT NULL
) STRICT;
