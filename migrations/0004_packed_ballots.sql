-- evote appliance schema, version 4: ballot transactions stored packed.
-- A committed ballot transaction's body is stored as packed bytes (a BLOB,
-- laid out in schema/STORAGE.md) instead of JSON text: 1,044 bytes instead
-- of about 2,870 for a 3-candidate ballot. Bodies written before stay JSON
-- text, and decryption shares are always JSON text; readers accept both.
CREATE TABLE transactions_v4 (
    tx_hash      BLOB PRIMARY KEY,
    block_height INTEGER NOT NULL REFERENCES blocks(height),
    position     INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    election_id  INTEGER,
    nullifier    BLOB,
    origin       BLOB NOT NULL,
    body         ANY NOT NULL CHECK (typeof(body) IN ('text', 'blob')),
    UNIQUE (block_height, position),
    UNIQUE (election_id, nullifier)
) STRICT;
INSERT INTO transactions_v4
    SELECT tx_hash, block_height, position, kind, election_id, nullifier, origin, body
    FROM transactions;
DROP INDEX transactions_by_election;
DROP TABLE transactions;
ALTER TABLE transactions_v4 RENAME TO transactions;
CREATE INDEX transactions_by_election ON transactions (election_id, kind);
