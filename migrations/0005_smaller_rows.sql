-- evote appliance schema, version 5: fewer bytes per vote.
-- transactions_by_election (election_id, kind) took about 17 bytes per vote
-- and served one query, the count of an election's ballots, which the
-- unique (election_id, nullifier) index answers on its own: every ballot
-- has a nullifier and no other transaction does.
DROP INDEX transactions_by_election;
-- A confirmation code's predecessor is the code of the row before it (by
-- seq); storing it again took 33 bytes per ballot accepted here.
ALTER TABLE confirmation_codes DROP COLUMN prev_code;
