-- evote appliance schema: spoiled ballots (PROTOCOL.md §4e), the ballots
-- voters checked at a booth instead of casting. Each is also in
-- `transactions` (kind 'spoiled_ballot'); this table finds them by their
-- tracking code, newest first, for the bulletin board and a voter's phone.
-- What each opens to is computed when it is read, never stored: the board
-- re-does the check every time it shows one.
CREATE TABLE spoiled_ballots (
    tx_hash       BLOB PRIMARY KEY,
    tracking_code BLOB NOT NULL,
    election_id   INTEGER NOT NULL,
    origin        BLOB NOT NULL,
    block_height  INTEGER NOT NULL REFERENCES blocks(height)
) STRICT, WITHOUT ROWID;
CREATE INDEX spoiled_ballots_by_code ON spoiled_ballots (tracking_code);
CREATE INDEX spoiled_ballots_by_height ON spoiled_ballots (block_height);
