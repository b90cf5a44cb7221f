-- evote appliance schema, version 7: ballots in the mempool are stored
-- packed, as committed ballots are (schema/STORAGE.md, format 1): about
-- 1,044 bytes for 3 candidates instead of about 2,870 of JSON. Every
-- validator writes every ballot to its mempool and reads it back to
-- propose it; the JSON was most of those writes. The packed body leaves
-- out what the row holds, so the row gains the origin. Rows written before
-- keep their JSON text (origin NULL); readers accept both.
CREATE TABLE mempool_v7 (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_hash        BLOB NOT NULL UNIQUE,
    election_id    INTEGER,
    nullifier      BLOB,
    origin         BLOB,
    body           ANY NOT NULL CHECK (typeof(body) IN ('text', 'blob')),
    received_at_ms INTEGER NOT NULL,
    UNIQUE (election_id, nullifier)
) STRICT;
INSERT INTO mempool_v7 (seq, tx_hash, election_id, nullifier, origin, body, received_at_ms)
    SELECT seq, tx_hash, election_id, nullifier, NULL, body, received_at_ms FROM mempool;
DROP TABLE mempool;
ALTER TABLE mempool_v7 RENAME TO mempool;
