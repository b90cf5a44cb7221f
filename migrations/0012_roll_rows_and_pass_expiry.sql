-- evote appliance schema, version 12: the roll's Merkle tree in rows of 64
-- hashes (2 KiB, within a 16 KiB page) instead of 1024 (32 KiB, spilling
-- into overflow pages). An inclusion proof reads one row per level, and
-- SQLite reads a row whole: with 1024 hashes a check-in read about 600 KiB
-- (18 levels for 200,000 voters) to use 18 hashes. Booth passes get an
-- index on their expiry, which every pass taken sweeps.
CREATE TABLE roll_nodes_64 (
    election_id INTEGER NOT NULL,
    level       INTEGER NOT NULL,
    chunk       INTEGER NOT NULL,
    hashes      BLOB NOT NULL,
    PRIMARY KEY (election_id, level, chunk)
) STRICT, WITHOUT ROWID;
-- Each old row of up to 1024 hashes becomes up to 16 rows of 64 (2048
-- bytes each; the last one of a level may be shorter).
WITH RECURSIVE part(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM part WHERE n < 15)
INSERT INTO roll_nodes_64 (election_id, level, chunk, hashes)
SELECT election_id, level, chunk * 16 + n, substr(hashes, n * 2048 + 1, 2048)
FROM roll_nodes JOIN part ON n * 2048 < length(hashes);
DROP TABLE roll_nodes;
ALTER TABLE roll_nodes_64 RENAME TO roll_nodes;
CREATE INDEX booth_passes_by_expiry ON booth_passes (expires_at_ms);
