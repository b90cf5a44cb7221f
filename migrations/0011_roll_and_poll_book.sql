-- evote appliance schema, version 11: the voter rolls this appliance checks
-- voters in against (installed from the election authority's signed roll
-- files), its poll book (the check-in records it made) and the one-time
-- booth passes a check-in hands out. Personal data: none of it is in what
-- observers are given (`evote-appliance chain export`), and nothing here
-- names a ballot.
CREATE TABLE rolls (
    election_id    INTEGER PRIMARY KEY,
    size           INTEGER NOT NULL,
    root           BLOB NOT NULL,
    imported_at_ms INTEGER NOT NULL
) STRICT;
-- One row per voter, at their position in the roll (the leaves' order).
CREATE TABLE roll_entries (
    election_id INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    voter_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    district    TEXT,
    station     BLOB,
    voter       BLOB NOT NULL,
    PRIMARY KEY (election_id, position),
    UNIQUE (election_id, voter_id)
) STRICT;
-- The roll's Merkle tree by full aligned subtrees (core merkle::MerkleLevels),
-- 1024 hashes a row, so that an inclusion proof reads a few rows.
CREATE TABLE roll_nodes (
    election_id INTEGER NOT NULL,
    level       INTEGER NOT NULL,
    chunk       INTEGER NOT NULL,
    hashes      BLOB NOT NULL,
    PRIMARY KEY (election_id, level, chunk)
) STRICT, WITHOUT ROWID;
CREATE TABLE poll_book (
    election_id      INTEGER NOT NULL,
    position         INTEGER NOT NULL,
    checked_in_at_ms INTEGER NOT NULL,
    tx_hash          BLOB NOT NULL,
    body             TEXT NOT NULL,
    PRIMARY KEY (election_id, position)
) STRICT;
-- A pass lets one checked-in voter cast one ballot at the booth (with their
-- card); it says nothing of who, and is deleted when used.
CREATE TABLE booth_passes (
    token_hash    BLOB PRIMARY KEY,
    election_id   INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
