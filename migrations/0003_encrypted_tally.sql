-- evote appliance schema, version 3: encrypted ballots and the tally.
-- Ballots are encrypted: no candidate is stored per transaction any more.
DROP INDEX transactions_by_election;
ALTER TABLE transactions DROP COLUMN candidate_id;
CREATE INDEX transactions_by_election ON transactions (election_id, kind);

-- Decryption shares have no nullifier: the mempool's columns become optional.
CREATE TABLE mempool_v3 (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_hash        BLOB NOT NULL UNIQUE,
    election_id    INTEGER,
    nullifier      BLOB,
    body           TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    UNIQUE (election_id, nullifier)
) STRICT;
INSERT INTO mempool_v3 SELECT seq, tx_hash, election_id, nullifier, body, received_at_ms FROM mempool;
DROP TABLE mempool;
ALTER TABLE mempool_v3 RENAME TO mempool;

-- Each election's encrypted running tally, after every block that changed it.
CREATE TABLE election_tallies (
    election_id  INTEGER NOT NULL,
    height       INTEGER NOT NULL REFERENCES blocks(height),
    ballot_count INTEGER NOT NULL,
    state        TEXT NOT NULL,
    PRIMARY KEY (election_id, height)
) STRICT;

-- Trustees' decryption shares on the chain, one per trustee per tally.
CREATE TABLE decryption_shares (
    election_id   INTEGER NOT NULL,
    tally_height  INTEGER NOT NULL,
    trustee_index INTEGER NOT NULL,
    block_height  INTEGER NOT NULL REFERENCES blocks(height),
    tx_hash       BLOB NOT NULL UNIQUE,
    share         TEXT NOT NULL,
    PRIMARY KEY (election_id, tally_height, trustee_index)
) STRICT;

-- This appliance's confirmation codes: each chains the previous one with
-- the ballot it confirms (ElectionGuard-style device chaining).
CREATE TABLE confirmation_codes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    code         BLOB NOT NULL UNIQUE,
    prev_code    BLOB NOT NULL,
    tx_hash      BLOB NOT NULL UNIQUE,
    election_id  INTEGER NOT NULL,
    issued_at_ms INTEGER NOT NULL
) STRICT;
