-- evote appliance schema, version 2: fallback chains.
-- This appliance's own fallback chain and the chains it imported from
-- other appliances' exports, block by block; never deleted.

CREATE TABLE fallback_blocks (
    origin       BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    block_hash   BLOB NOT NULL UNIQUE,
    body         TEXT NOT NULL,
    stored_at_ms INTEGER NOT NULL,
    PRIMARY KEY (origin, seq)
) STRICT;

-- Closing records, one per closed chain.
CREATE TABLE fallback_closes (
    origin BLOB PRIMARY KEY,
    record TEXT NOT NULL
) STRICT;

-- Every sealed ballot and its reconciliation copy (the same ballot with
-- the fallback reference, signed by its origin), tracked until the copy is
-- confirmed on the main chain or rejected as a double vote.
CREATE TABLE fallback_ballots (
    main_tx_hash   BLOB PRIMARY KEY,
    sealed_tx_hash BLOB NOT NULL UNIQUE,
    origin         BLOB NOT NULL,
    seq            INTEGER NOT NULL,
    election_id    INTEGER NOT NULL,
    nullifier      BLOB NOT NULL,
    main_body      TEXT NOT NULL,
    state          TEXT NOT NULL
                   CHECK (state IN ('waiting', 'submitted', 'confirmed', 'rejected')),
    conflicting_tx BLOB,
    updated_at_ms  INTEGER NOT NULL,
    FOREIGN KEY (origin, seq) REFERENCES fallback_blocks (origin, seq)
) STRICT;

CREATE UNIQUE INDEX fallback_ballots_one_per_voter
    ON fallback_ballots (origin, election_id, nullifier);
CREATE INDEX fallback_ballots_by_state ON fallback_ballots (state);
