-- evote appliance schema, version 8: the id a ballot had in a fallback
-- chain, for every copy committed on the main chain (PROTOCOL.md §7a, "the
-- sealed id"). A voter given that id while their appliance was offline can
-- look it up at any node, not only at the appliance that sealed it: every
-- node fills this table as it commits the copies, whoever sealed them.
CREATE TABLE sealed_ids (
    sealed_tx_hash BLOB PRIMARY KEY,
    tx_hash        BLOB NOT NULL
) STRICT, WITHOUT ROWID;
