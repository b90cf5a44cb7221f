-- evote appliance schema, version 6: the consensus journal keeps its blocks
-- apart. A validator rewrites its journal before every message it sends,
-- and the journal held the block of the height in each write (a proposer's
-- block up to four times); at 250 ballots a block is 0.7 MB of JSON. Now a
-- block is written once, here, in the same SQL transaction as the journal
-- that first refers to it, and the journal names it by hash and round (a
-- block re-proposed in a later round keeps its hash, not its round or
-- proposer signature). Blocks of lower heights are removed as the journal
-- moves on. A journal written by an older binary (blocks inside) still
-- reads.
CREATE TABLE consensus_blocks (
    block_hash BLOB NOT NULL,
    round      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (block_hash, round)
) STRICT;
