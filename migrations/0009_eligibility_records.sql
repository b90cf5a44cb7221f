-- evote appliance schema, version 9 (protocol evote/3): what the chain's
-- eligibility records say, for the rules that need the chain
-- (PROTOCOL.md §6, rules 20-24): credentials revoked or introduced by the
-- credential authority's replacement records, the roll entries checked in
-- (the poll book as committed), and each appliance's closing record of
-- each election.
-- The heights of the blocks whose records introduced a credential as a
-- replacement and revoked it (NULL: no such record).
CREATE TABLE credential_records (
    election_id        INTEGER NOT NULL,
    credential         BLOB NOT NULL,
    replacement_height INTEGER,
    revoked_height     INTEGER,
    PRIMARY KEY (election_id, credential)
) STRICT, WITHOUT ROWID;
CREATE TABLE committed_check_ins (
    election_id  INTEGER NOT NULL,
    leaf         BLOB NOT NULL,
    origin       BLOB NOT NULL,
    block_height INTEGER NOT NULL REFERENCES blocks(height),
    PRIMARY KEY (election_id, leaf)
) STRICT, WITHOUT ROWID;
CREATE TABLE device_closes (
    election_id   INTEGER NOT NULL,
    origin        BLOB NOT NULL,
    fallback_seq  INTEGER,
    fallback_hash BLOB,
    block_height  INTEGER NOT NULL REFERENCES blocks(height),
    PRIMARY KEY (election_id, origin)
) STRICT, WITHOUT ROWID;
-- A voter's ballot is no longer linked to the voter (PROTOCOL.md §4: the
-- nullifier is their credential): nothing here may say who cast a ballot.
DROP TABLE voter_ballots;
-- Each confirmation code keeps the ballot hash it chains (PROTOCOL.md §4d),
-- so that the appliance can serve its chain of codes for anyone to check
-- against its signed closing record (NULL for codes issued before).
ALTER TABLE confirmation_codes ADD COLUMN ballot_hash BLOB;
