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
    TxDecryptionShare,
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
}

pub struct CheckInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub scope: Scope,
    /// PROTOCOL.md rules and the error codes (`LedgerError::code()`) covered.
    pub covers: &'static str,
}

impl CheckId {
    pub const ALL: [CheckId; 36] = [
        CheckId::GenesisValid,
        CheckId::GenesisTrustees,
        CheckId::GenesisSame,
        CheckId::SourceConsistent,
        CheckId::SourceIntegrity,
        CheckId::BlockSchema,
        CheckId::BlockChainId,
        CheckId::BlockHeight,
        CheckId::BlockPrevHash,
        CheckId::BlockTimestamp,
        CheckId::BlockHash,
        CheckId::BlockProposer,
        CheckId::BlockProposerSignature,
        CheckId::BlockTxCount,
        CheckId::BlockTxRoot,
        CheckId::BlockSeals,
        CheckId::TxSchema,
        CheckId::TxChainId,
        CheckId::TxBallotHash,
        CheckId::TxOrigin,
        CheckId::TxSignature,
        CheckId::TxElection,
        CheckId::TxTiming,
        CheckId::TxBallotProofs,
        CheckId::TxDecryptionShare,
        CheckId::TxUnique,
        CheckId::TxNullifierUnique,
        CheckId::TxCiphertextUnique,
        CheckId::ChainAgreement,
        CheckId::NoEquivocation,
        CheckId::TallyEncryptedTotals,
        CheckId::TallyDecryption,
        CheckId::TallyMatches,
        CheckId::BaselineAppendOnly,
        CheckId::FallbackChain,
        CheckId::FallbackReconciled,
    ];

    pub fn info(self) -> CheckInfo {
        use CheckId::*;
        use Scope::*;
        let (id, name, scope, covers) = match self {
            GenesisValid => (
                "genesis.valid",
                "the genesis parses and follows the rules of PROTOCOL.md §3",
                Source,
                "§3; invalid_genesis",
            ),
            GenesisTrustees => (
                "genesis.trustees",
                "each election's key is recomputed from its trustees' round-1 messages, whose proofs of knowledge verify",
                Source,
                "§3, E.4; unknown_trustee, duplicate_trustee, missing_trustee, wrong_length, bad_knowledge_proof, identity_public_key, bad_params",
            ),
            GenesisSame => (
                "genesis.same",
                "every source holds the same genesis (and it is the --genesis file when given)",
                CrossSource,
                "§3 chain_id = H(genesis)",
            ),
            SourceConsistent => (
                "source.consistent",
                "what a source says about itself (chain id, height, head) matches what it serves",
                Source,
                "/p2p/status, meta.chain_id",
            ),
            SourceIntegrity => (
                "source.integrity",
                "a database file passes SQLite's quick_check",
                Source,
                "PRAGMA quick_check",
            ),
            BlockSchema => (
                "block.schema",
                "every block parses: closed objects, lowercase 0x hex, integers at most 2^53-1",
                Block,
                "§1, §5, rule 2; integer_too_large, schema",
            ),
            BlockChainId => (
                "block.chain_id",
                "every header names this chain",
                Block,
                "rule 1; wrong_chain",
            ),
            BlockHeight => (
                "block.height",
                "heights run 1, 2, 3, ... without a gap or repeat",
                Block,
                "rule 3; wrong_height",
            ),
            BlockPrevHash => (
                "block.prev_hash",
                "each block links to the hash of the block before it",
                Block,
                "rule 4; wrong_prev_hash",
            ),
            BlockTimestamp => (
                "block.timestamp",
                "timestamps never go backwards and are at most 15 s ahead of the auditor's clock",
                Block,
                "rules 5-6; timestamp_backwards, timestamp_in_future",
            ),
            BlockHash => (
                "block.hash",
                "block_hash is the SHA-256 of the header (without round and proposer), canonical form",
                Block,
                "rule 7; wrong_hash (block)",
            ),
            BlockProposer => (
                "block.proposer",
                "the proposer is the validator whose turn it is at (height, round)",
                Block,
                "rules 8-9; unknown_proposer, wrong_proposer",
            ),
            BlockProposerSignature => (
                "block.proposer_signature",
                "the proposer's signature over the proposal statement verifies",
                Block,
                "rule 10; bad_signature (proposal)",
            ),
            BlockTxCount => (
                "block.tx_count",
                "tx_count is the number of transactions, within params.max_block_txs",
                Block,
                "rules 11-12; tx_count_mismatch, too_many_txs",
            ),
            BlockTxRoot => (
                "block.tx_root",
                "tx_root is the Merkle root of the block's transaction hashes",
                Block,
                "rule 13; wrong_hash (tx_root)",
            ),
            BlockSeals => (
                "block.seals",
                "at least Q distinct valid commit seals from validators; none foreign, repeated or bad",
                Block,
                "rules 14-17; seal_from_non_validator, duplicate_seal, bad_seal, too_few_seals",
            ),
            TxSchema => (
                "tx.schema",
                "every transaction parses (a ballot or a decryption share) within the protocol's limits",
                Transaction,
                "§4, E.1, rules 18c, 18f, 18l; schema, integer_too_large",
            ),
            TxChainId => (
                "tx.chain_id",
                "every transaction names this chain",
                Transaction,
                "rule 18a; wrong_chain",
            ),
            TxBallotHash => (
                "tx.ballot_hash",
                "ballot_hash is the hash of the ballot",
                Transaction,
                "rule 18g; wrong_hash (ballot)",
            ),
            TxOrigin => (
                "tx.origin",
                "every transaction was signed by an appliance named in the genesis",
                Transaction,
                "rule 18b; unknown_origin",
            ),
            TxSignature => (
                "tx.signature",
                "the origin appliance's signature over the transaction verifies",
                Transaction,
                "rule 18d; bad_signature (transaction)",
            ),
            TxElection => (
                "tx.election",
                "the election exists in the genesis",
                Transaction,
                "rule 18e; unknown_election",
            ),
            TxTiming => (
                "tx.timing",
                "the election was open when the ballot was accepted, and the block came in time",
                Transaction,
                "rules 18h-18j; election_not_open, bad_tx",
            ),
            TxBallotProofs => (
                "tx.ballot_proofs",
                "every ballot's 0/1 and sum proofs verify under the election key, bound to its chain, election, nullifier and origin",
                Transaction,
                "rule 18k, E.3; bad_ballot",
            ),
            TxDecryptionShare => (
                "tx.decryption_share",
                "every decryption share names a trustee, comes after the close, is of a post-close tally with its ballot count, once per trustee, and its proofs verify",
                Transaction,
                "rules 18m, 21, E.5; bad_decryption_share",
            ),
            TxUnique => (
                "tx.unique",
                "no transaction appears twice in a block",
                Transaction,
                "rule 19; duplicate_tx",
            ),
            TxNullifierUnique => (
                "tx.nullifier_unique",
                "each voter's nullifier is used once per election on the whole chain",
                Transaction,
                "rule 20; duplicate_nullifier",
            ),
            TxCiphertextUnique => (
                "tx.ciphertext_unique",
                "no ciphertext (nor its randomness) appears twice on the chain, and none is in the clear",
                Transaction,
                "E.3 fresh randomness (auditor's own); duplicate_ciphertext, zero_randomness",
            ),
            ChainAgreement => (
                "chain.agreement",
                "every chain is a prefix of the longest: no two sources differ at any height",
                CrossSource,
                "§5 committed blocks are final",
            ),
            NoEquivocation => (
                "consensus.no_equivocation",
                "no validator signed two different blocks or seals at one height",
                CrossSource,
                "qbft.md safety",
            ),
            TallyEncryptedTotals => (
                "tally.encrypted_totals",
                "the encrypted totals a source states equal the homomorphic sums of its chain's ballots",
                Source,
                "§7, E.3 aggregate; GET /api/tally/{id}, election_tallies",
            ),
            TallyDecryption => (
                "tally.decryption",
                "k valid decryption shares of a tally combine into counts that add up to its ballots",
                Source,
                "E.5 combining; too_few_shares, tally_out_of_range, count_mismatch",
            ),
            TallyMatches => (
                "tally.matches",
                "the results a source reports equal what its chain's shares decrypt to (pending while fewer than k)",
                Source,
                "/api/votes/results; decryption_shares, election_tallies",
            ),
            BaselineAppendOnly => (
                "baseline.append_only",
                "every head recorded in the --baseline report is still on the chains",
                CrossSource,
                "§5 committed blocks are final",
            ),
            FallbackChain => (
                "fallback.chain",
                "each fallback chain is linked, signed by its appliance, anchored on the main chain, holds valid ballots once each, and matches its closing record",
                Source,
                "§7a; GET /p2p/fallback, fallback_blocks, fallback_closes",
            ),
            FallbackReconciled => (
                "fallback.reconciled",
                "each sealed ballot's copy is on the main chain, or another ballot of that voter is (named); what the source says of each agrees",
                Source,
                "§7a reconciliation; fallback_ballots",
            ),
        };
        CheckInfo {
            id,
            name,
            scope,
            covers,
        }
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
        ("unknown_proposer" | "wrong_proposer", ..) => BlockProposer,
        ("bad_signature", Some("proposal"), _) => BlockProposerSignature,
        ("bad_signature", Some("transaction"), _) => TxSignature,
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
