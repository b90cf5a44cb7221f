//! The catalogue of checks. Every check has a stable id (used in the
//! report, the JSON output and by scripts), a one-line name, and the
//! PROTOCOL.md rules and error codes it covers.

use serde::Serialize;

/// What a check is about: one source's chain, or several sources together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Source,
    Block,
    Transaction,
    CrossSource,
}

/// Every check the auditor runs, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum CheckId {
    GenesisValid,
    GenesisTrustees,
    GenesisSame,
    SourceConsistent,
    SourceIntegrity,
    BlockSchema,
    BlockChainId,
    BlockHeight,
    BlockPrevHash,
    BlockTimestamp,
    BlockHash,
    BlockProposer,
    BlockProposerSignature,
    BlockTxCount,
    BlockTxRoot,
    BlockSeals,
    TxSchema,
    TxChainId,
    TxBallotHash,
    TxOrigin,
    TxSignature,
    TxElection,
    TxTiming,
    TxBallotProofs,
    TxCredential,
    TxFallbackProof,
    TxDecryptionShare,
    TxCheckIn,
    TxCredentialReplacement,
    TxDeviceClose,
    TxSpoiledBallot,
    TxSpoiledOpens,
    TxUnique,
    TxNullifierUnique,
    TxCiphertextUnique,
    ChainAgreement,
    NoEquivocation,
    TallyEncryptedTotals,
    TallyDecryption,
    TallyMatches,
    BaselineAppendOnly,
    FallbackChain,
    FallbackReconciled,
    StationPollBook,
    StationCodes,
}

pub struct CheckInfo {
    check: CheckId,
    pub id: &'static str,
    pub name: &'static str,
    pub scope: Scope,
    /// PROTOCOL.md rules and the error codes (`LedgerError::code()`) covered.
    pub covers: &'static str,
}

/// Every check's id, name, scope and what it covers, in the order of
/// [`CheckId`] (which is report order).
const CATALOGUE: [CheckInfo; 45] = {
    use CheckId::*;
    use Scope::*;
    [
        CheckInfo {
            check: GenesisValid,
            id: "genesis.valid",
            name: "the genesis parses and follows the rules of PROTOCOL.md §3",
            scope: Source,
            covers: "§3; invalid_genesis",
        },
        CheckInfo {
            check: GenesisTrustees,
            id: "genesis.trustees",
            name: "each election's key is recomputed from its trustees' round-1 messages, whose proofs of knowledge verify",
            scope: Source,
            covers: "§3, E.4; unknown_trustee, duplicate_trustee, missing_trustee, wrong_length, bad_knowledge_proof, identity_public_key, bad_params",
        },
        CheckInfo {
            check: GenesisSame,
            id: "genesis.same",
            name: "every source holds the same genesis (and it is the --genesis file when given)",
            scope: CrossSource,
            covers: "§3 chain_id = H(genesis)",
        },
        CheckInfo {
            check: SourceConsistent,
            id: "source.consistent",
            name: "what a source says about itself (chain id, height, head) matches what it serves",
            scope: Source,
            covers: "/p2p/status, meta.chain_id",
        },
        CheckInfo {
            check: SourceIntegrity,
            id: "source.integrity",
            name: "a database file passes SQLite's quick_check",
            scope: Source,
            covers: "PRAGMA quick_check",
        },
        CheckInfo {
            check: BlockSchema,
            id: "block.schema",
            name: "every block parses: closed objects, lowercase 0x hex, integers at most 2^53-1",
            scope: Block,
            covers: "§1, §5, rule 2; integer_too_large, schema",
        },
        CheckInfo {
            check: BlockChainId,
            id: "block.chain_id",
            name: "every header names this chain",
            scope: Block,
            covers: "rule 1; wrong_chain",
        },
        CheckInfo {
            check: BlockHeight,
            id: "block.height",
            name: "heights run 1, 2, 3, ... without a gap or repeat",
            scope: Block,
            covers: "rule 3; wrong_height",
        },
        CheckInfo {
            check: BlockPrevHash,
            id: "block.prev_hash",
            name: "each block links to the hash of the block before it",
            scope: Block,
            covers: "rule 4; wrong_prev_hash",
        },
        CheckInfo {
            check: BlockTimestamp,
            id: "block.timestamp",
            name: "timestamps never go backwards and are at most 15 s ahead of the auditor's clock",
            scope: Block,
            covers: "rules 5-6; timestamp_backwards, timestamp_in_future",
        },
        CheckInfo {
            check: BlockHash,
            id: "block.hash",
            name: "block_hash is the SHA-256 of the header (without round and proposer), canonical form",
            scope: Block,
            covers: "rule 7; wrong_hash (block)",
        },
        CheckInfo {
            check: BlockProposer,
            id: "block.proposer",
            name: "the proposer is the validator whose turn it is at (height, round)",
            scope: Block,
            covers: "rules 8-9; unknown_proposer, wrong_proposer",
        },
        CheckInfo {
            check: BlockProposerSignature,
            id: "block.proposer_signature",
            name: "the proposer's signature over the proposal statement verifies",
            scope: Block,
            covers: "rule 10; bad_signature (proposal)",
        },
        CheckInfo {
            check: BlockTxCount,
            id: "block.tx_count",
            name: "tx_count is the number of transactions, within params.max_block_txs",
            scope: Block,
            covers: "rules 11-12; tx_count_mismatch, too_many_txs",
        },
        CheckInfo {
            check: BlockTxRoot,
            id: "block.tx_root",
            name: "tx_root is the Merkle root of the block's transaction hashes",
            scope: Block,
            covers: "rule 13; wrong_hash (tx_root)",
        },
        CheckInfo {
            check: BlockSeals,
            id: "block.seals",
            name: "at least Q distinct valid commit seals from validators; none foreign, repeated or bad",
            scope: Block,
            covers: "rules 14-17; seal_from_non_validator, duplicate_seal, bad_seal, too_few_seals",
        },
        CheckInfo {
            check: TxSchema,
            id: "tx.schema",
            name: "every transaction parses (a ballot, decryption share, check-in, credential replacement or closing record) within the protocol's limits",
            scope: Transaction,
            covers: "§4, E.1, rules 18c, 18f, 18n, 18p, 18s, 18t; schema, integer_too_large",
        },
        CheckInfo {
            check: TxChainId,
            id: "tx.chain_id",
            name: "every transaction names this chain",
            scope: Transaction,
            covers: "rule 18a; wrong_chain",
        },
        CheckInfo {
            check: TxBallotHash,
            id: "tx.ballot_hash",
            name: "ballot_hash is the hash of the ballot",
            scope: Transaction,
            covers: "rule 18g; wrong_hash (ballot)",
        },
        CheckInfo {
            check: TxOrigin,
            id: "tx.origin",
            name: "every transaction was signed by an appliance named in the genesis (a credential replacement by the credential authority)",
            scope: Transaction,
            covers: "rule 18b; unknown_origin",
        },
        CheckInfo {
            check: TxSignature,
            id: "tx.signature",
            name: "the origin appliance's signature over the transaction verifies",
            scope: Transaction,
            covers: "rule 18d; bad_signature (transaction)",
        },
        CheckInfo {
            check: TxElection,
            id: "tx.election",
            name: "the election exists in the genesis",
            scope: Transaction,
            covers: "rule 18e; unknown_election",
        },
        CheckInfo {
            check: TxTiming,
            id: "tx.timing",
            name: "the election was open when each ballot was accepted and each voter checked in, credentials were replaced before the close, and ballots were recorded (in a block or a proven fallback block) within the grace period",
            scope: Transaction,
            covers: "rules 18h, 18i, 18l, 18r-18t; election_not_open, bad_tx",
        },
        CheckInfo {
            check: TxBallotProofs,
            id: "tx.ballot_proofs",
            name: "every ballot's 0/1 and sum proofs verify under the election key, bound to its chain, election, nullifier and origin",
            scope: Transaction,
            covers: "rule 18m, E.3; bad_ballot",
        },
        CheckInfo {
            check: TxCredential,
            id: "tx.credential",
            name: "every ballot is signed by its voter's credential (the nullifier), which the genesis lists or a replacement names and which is not revoked",
            scope: Transaction,
            covers: "rules 18j, 20, 23; bad_signature (credential), unknown_credential, revoked_credential",
        },
        CheckInfo {
            check: TxFallbackProof,
            id: "tx.fallback_proof",
            name: "every ballot that names a fallback block proves it: the block's header signed by the ballot's appliance, and the sealed ballot's inclusion proof",
            scope: Transaction,
            covers: "rule 18k, §7a; bad_fallback_proof",
        },
        CheckInfo {
            check: TxDecryptionShare,
            id: "tx.decryption_share",
            name: "every decryption share names a trustee, comes after the close, is of a post-close tally with its ballot count, once per trustee, and its proofs verify",
            scope: Transaction,
            covers: "rules 18o, 21, E.5; bad_decryption_share",
        },
        CheckInfo {
            check: TxCheckIn,
            id: "tx.check_in",
            name: "every check-in opens an entry of the election's roll (its inclusion proof leads to the genesis' root), at the station the roll names, once per entry",
            scope: Transaction,
            covers: "rules 18p, 18q, 22; not_on_roll, wrong_station, duplicate_check_in",
        },
        CheckInfo {
            check: TxCredentialReplacement,
            id: "tx.credential_replacement",
            name: "every credential replacement revokes a credential that has not voted and names a new, usable one",
            scope: Transaction,
            covers: "rules 18s, 23; credential_used, duplicate_credential, key",
        },
        CheckInfo {
            check: TxDeviceClose,
            id: "tx.device_close",
            name: "each appliance closes an election once, after the close, and adds nothing to it afterwards but the fallback ballots it had sealed",
            scope: Transaction,
            covers: "rules 18t, 20, 24; bad_device_close, duplicate_device_close, device_closed",
        },
        CheckInfo {
            check: TxSpoiledBallot,
            id: "tx.spoiled_ballot",
            name: "each spoiled ballot is well formed: its tracking code is its ciphertexts', one ciphertext and one randomness per candidate, a stated candidate of the election",
            scope: Transaction,
            covers: "rule 18u; bad_spoiled_ballot, wrong_hash (tracking_code)",
        },
        CheckInfo {
            check: TxSpoiledOpens,
            id: "tx.spoiled_opens",
            name: "each spoiled ballot's randomness opens its ciphertexts to the choice the voter confirmed (a FAIL names the station whose booth encrypted something else)",
            scope: Transaction,
            covers: "§4e opening (checked by anyone, not a validator's rule); spoiled_ballot_mismatch",
        },
        CheckInfo {
            check: TxUnique,
            id: "tx.unique",
            name: "no transaction appears twice in a block",
            scope: Transaction,
            covers: "rule 19; duplicate_tx",
        },
        CheckInfo {
            check: TxNullifierUnique,
            id: "tx.nullifier_unique",
            name: "each voter's credential (the nullifier) is used once per election on the whole chain",
            scope: Transaction,
            covers: "rule 20; duplicate_nullifier",
        },
        CheckInfo {
            check: TxCiphertextUnique,
            id: "tx.ciphertext_unique",
            name: "no ciphertext (nor its randomness) appears twice on the chain, spoiled ballots' included, and none is in the clear",
            scope: Transaction,
            covers: "E.3 fresh randomness (auditor's own); duplicate_ciphertext, zero_randomness",
        },
        CheckInfo {
            check: ChainAgreement,
            id: "chain.agreement",
            name: "every chain is a prefix of the longest: no two sources differ at any height",
            scope: CrossSource,
            covers: "§5 committed blocks are final",
        },
        CheckInfo {
            check: NoEquivocation,
            id: "consensus.no_equivocation",
            name: "no validator signed two different blocks or seals at one height",
            scope: CrossSource,
            covers: "qbft.md safety",
        },
        CheckInfo {
            check: TallyEncryptedTotals,
            id: "tally.encrypted_totals",
            name: "the encrypted totals a source states equal the homomorphic sums of its chain's ballots",
            scope: Source,
            covers: "§7, E.3 aggregate; GET /api/tally/{id}, election_tallies",
        },
        CheckInfo {
            check: TallyDecryption,
            id: "tally.decryption",
            name: "k valid decryption shares of a tally combine into counts that add up to its ballots",
            scope: Source,
            covers: "E.5 combining; too_few_shares, tally_out_of_range, count_mismatch",
        },
        CheckInfo {
            check: TallyMatches,
            id: "tally.matches",
            name: "the results a source reports equal what its chain's shares decrypt to (pending while fewer than k)",
            scope: Source,
            covers: "/api/votes/results; decryption_shares, election_tallies",
        },
        CheckInfo {
            check: BaselineAppendOnly,
            id: "baseline.append_only",
            name: "every head recorded in the --baseline report is still on the chains",
            scope: CrossSource,
            covers: "§5 committed blocks are final",
        },
        CheckInfo {
            check: FallbackChain,
            id: "fallback.chain",
            name: "each fallback chain is linked, signed by its appliance, anchored on the main chain, holds valid ballots once each, and matches its closing record",
            scope: Source,
            covers: "§7a; GET /p2p/fallback, fallback_blocks, fallback_closes",
        },
        CheckInfo {
            check: FallbackReconciled,
            id: "fallback.reconciled",
            name: "each sealed ballot's copy is on the main chain, or another ballot of that voter is (named); what the source says of each agrees",
            scope: Source,
            covers: "§7a reconciliation; fallback_ballots",
        },
        CheckInfo {
            check: StationPollBook,
            id: "station.poll_book",
            name: "in each election with a roll, no appliance counted more ballots (online and from its fallback chain) than it checked voters in, and each closing record's counts are what the chain holds of its appliance",
            scope: Source,
            covers: "§4b, §4d; too_many_ballots, close_mismatch",
        },
        CheckInfo {
            check: StationCodes,
            id: "station.codes",
            name: "each appliance's confirmation codes, as it serves them, follow each other from the first and lead to the head each of its closing records signs",
            scope: Source,
            covers: "§4d, §9 GET /p2p/codes; code_chain_broken",
        },
    ]
};

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [CheckId; CATALOGUE.len()] = {
        let mut all = [CheckId::GenesisValid; CATALOGUE.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = CATALOGUE[i].check;
            i += 1;
        }
        all
    };

    pub fn info(self) -> &'static CheckInfo {
        &CATALOGUE[self as usize]
    }

    pub fn id(self) -> &'static str {
        self.info().id
    }

    pub fn from_id(id: &str) -> Option<CheckId> {
        Self::ALL.into_iter().find(|c| c.id() == id)
    }
}

/// The check that reports a PROTOCOL.md error code, for a block-level or a
/// transaction-level failure (`wrong_chain`, `integer_too_large`, `bad_tx`
/// and `wrong_hash`/`bad_signature` exist at both levels; `detail` and
/// `in_tx` tell them apart).
#[cfg(test)]
pub fn check_for_code(code: &str, detail: Option<&str>, in_tx: bool) -> Option<CheckId> {
    use CheckId::*;
    Some(match (code, detail, in_tx) {
        ("schema", _, false) | ("integer_too_large", _, false) => BlockSchema,
        ("schema", _, true) | ("integer_too_large", _, true) => TxSchema,
        ("wrong_chain", _, false) => BlockChainId,
        ("wrong_chain", _, true) => TxChainId,
        ("wrong_height", ..) => BlockHeight,
        ("wrong_prev_hash", ..) => BlockPrevHash,
        ("timestamp_backwards" | "timestamp_in_future", ..) => BlockTimestamp,
        ("wrong_hash", Some("block"), _) => BlockHash,
        ("wrong_hash", Some("tx_root"), _) => BlockTxRoot,
        ("wrong_hash", Some("ballot"), _) => TxBallotHash,
        ("wrong_hash", Some("tracking_code"), _) => TxSpoiledBallot,
        ("bad_spoiled_ballot", ..) => TxSpoiledBallot,
        ("unknown_proposer" | "wrong_proposer", ..) => BlockProposer,
        ("bad_signature", Some("proposal"), _) => BlockProposerSignature,
        ("bad_signature", Some("transaction"), _) => TxSignature,
        ("bad_signature", Some("credential"), _) => TxCredential,
        ("unknown_credential" | "revoked_credential", ..) => TxCredential,
        ("credential_used" | "duplicate_credential" | "key", ..) => TxCredentialReplacement,
        ("bad_fallback_proof", ..) => TxFallbackProof,
        ("not_on_roll" | "wrong_station" | "duplicate_check_in", ..) => TxCheckIn,
        ("bad_device_close" | "duplicate_device_close" | "device_closed", ..) => TxDeviceClose,
        ("tx_count_mismatch" | "too_many_txs", ..) => BlockTxCount,
        ("seal_from_non_validator" | "duplicate_seal" | "bad_seal" | "too_few_seals", ..) => {
            BlockSeals
        }
        ("bad_tx", _, true) => TxTiming,
        ("unknown_origin", ..) => TxOrigin,
        ("unknown_election", ..) => TxElection,
        ("election_not_open", ..) => TxTiming,
        ("bad_ballot", ..) => TxBallotProofs,
        ("bad_decryption_share", ..) => TxDecryptionShare,
        ("duplicate_tx", ..) => TxUnique,
        ("duplicate_nullifier", ..) => TxNullifierUnique,
        ("duplicate_ciphertext" | "zero_randomness", ..) => TxCiphertextUnique,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_in_the_order_of_the_ids() {
        for (k, c) in CheckId::ALL.into_iter().enumerate() {
            assert_eq!(c as usize, k);
            assert_eq!(c.info().check, c);
        }
    }

    #[test]
    fn ids_are_unique_and_round_trip() {
        let mut ids: Vec<&str> = CheckId::ALL.iter().map(|c| c.id()).collect();
        for c in CheckId::ALL {
            assert_eq!(CheckId::from_id(c.id()), Some(c));
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CheckId::ALL.len());
    }
}
