//! Consensus messages and their verification. Every message is a signed
//! statement `{type, chain_id, height, round, ...}`; blocks and
//! certificates travel beside the statements they justify.

use serde::{Deserialize, Serialize};

use crate::ledger::canonical::MAX_SAFE_INTEGER;
use crate::ledger::canonical_ballot::Writer;
use crate::ledger::{
    Block, Genesis, Hash32, LedgerError, PublicKey, Signature, Vote, VoteKind, hash_of,
    verify_digest,
};

/// A PREPARE or a COMMIT: a validator's signature over a [`Vote`]. A
/// COMMIT's signature is the block's commit seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedVote {
    pub vote: Vote,
    pub sender: PublicKey,
    pub signature: Signature,
}

/// What a ROUND-CHANGE signs. The prepared fields come together or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundChangeStatement {
    #[serde(rename = "type")]
    pub kind: RoundChangeType,
    pub chain_id: Hash32,
    pub height: u64,
    pub round: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepared_round: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepared_block_hash: Option<Hash32>,
}

impl RoundChangeStatement {
    /// The hash of the canonical form: what the signature covers. Written
    /// directly, as a vote's ([`Vote::digest`]); the generic path for
    /// integers JCS cannot carry exactly.
    pub fn digest(&self) -> Result<Hash32, LedgerError> {
        let prepared = self.prepared_round.unwrap_or(0);
        if self.height > MAX_SAFE_INTEGER
            || self.round > MAX_SAFE_INTEGER
            || prepared > MAX_SAFE_INTEGER
        {
            return hash_of(self);
        }
        let RoundChangeType::RoundChange = self.kind;
        let mut w = Writer::with_capacity(256);
        w.hex("{\"chain_id\":", self.chain_id.as_bytes());
        w.int(",\"height\":", self.height);
        if let Some(hash) = &self.prepared_block_hash {
            w.hex(",\"prepared_block_hash\":", hash.as_bytes());
        }
        if let Some(round) = self.prepared_round {
            w.int(",\"prepared_round\":", round);
        }
        w.int(",\"round\":", self.round);
        w.raw(",\"type\":\"round_change\"}");
        Ok(w.hash())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundChangeType {
    RoundChange,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRoundChange {
    pub statement: RoundChangeStatement,
    pub sender: PublicKey,
    pub signature: Signature,
}

/// A ROUND-CHANGE with the prepared block and its certificate (Q PREPAREs),
/// so that the next proposer can re-propose the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundChange {
    pub signed: SignedRoundChange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepared_block: Option<Block>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prepared_certificate: Vec<SignedVote>,
}

/// Why a proposal for round r > 0 may be made: Q ROUND-CHANGEs for (h, r)
/// and, if any of them was prepared, the certificate of the highest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Justification {
    pub round_changes: Vec<SignedRoundChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prepared_certificate: Vec<SignedVote>,
}

/// A PROPOSAL: the block (signed by its proposer) for (height, round) of
/// its header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    pub block: Block,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<Justification>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    Proposal(Proposal),
    Prepare(SignedVote),
    Commit(SignedVote),
    RoundChange(RoundChange),
}

/// The type of a message, for counting one per validator per (type, h, r).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessageType {
    Proposal,
    Prepare,
    Commit,
    RoundChange,
}

impl Message {
    pub fn kind(&self) -> MessageType {
        match self {
            Message::Proposal(_) => MessageType::Proposal,
            Message::Prepare(_) => MessageType::Prepare,
            Message::Commit(_) => MessageType::Commit,
            Message::RoundChange(_) => MessageType::RoundChange,
        }
    }

    pub fn chain_id(&self) -> &Hash32 {
        match self {
            Message::Proposal(p) => &p.block.header.chain_id,
            Message::Prepare(v) | Message::Commit(v) => &v.vote.chain_id,
            Message::RoundChange(rc) => &rc.signed.statement.chain_id,
        }
    }

    pub fn height(&self) -> u64 {
        match self {
            Message::Proposal(p) => p.block.header.height,
            Message::Prepare(v) | Message::Commit(v) => v.vote.height,
            Message::RoundChange(rc) => rc.signed.statement.height,
        }
    }

    pub fn round(&self) -> u64 {
        match self {
            Message::Proposal(p) => p.block.header.round,
            Message::Prepare(v) | Message::Commit(v) => v.vote.round,
            Message::RoundChange(rc) => rc.signed.statement.round,
        }
    }

    pub fn sender(&self) -> &PublicKey {
        match self {
            Message::Proposal(p) => &p.block.header.proposer,
            Message::Prepare(v) | Message::Commit(v) => &v.sender,
            Message::RoundChange(rc) => &rc.signed.sender,
        }
    }

    /// Checks the sender's own signature on the message (not what it carries).
    pub fn verify_signature(&self) -> Result<bool, LedgerError> {
        match self {
            Message::Proposal(p) => {
                let h = &p.block.header;
                if h.hash()? != p.block.block_hash {
                    return Ok(false);
                }
                let vote = Vote::for_header(VoteKind::Proposal, h, p.block.block_hash);
                Ok(verify_digest(
                    &h.proposer,
                    &vote.digest()?,
                    &p.block.proposer_signature,
                ))
            }
            Message::Prepare(v) => Ok(v.vote.kind == VoteKind::Prepare && v.verify()?),
            Message::Commit(v) => Ok(v.vote.kind == VoteKind::Commit && v.verify()?),
            Message::RoundChange(rc) => rc.signed.verify(),
        }
    }
}

impl SignedVote {
    pub fn verify(&self) -> Result<bool, LedgerError> {
        Ok(verify_digest(
            &self.sender,
            &self.vote.digest()?,
            &self.signature,
        ))
    }
}

impl SignedRoundChange {
    pub fn verify(&self) -> Result<bool, LedgerError> {
        let s = &self.statement;
        let consistent = match (s.prepared_round, s.prepared_block_hash) {
            (Some(pr), Some(_)) => pr < s.round,
            (None, None) => true,
            _ => false,
        };
        Ok(consistent && verify_digest(&self.sender, &s.digest()?, &self.signature))
    }
}

/// Checks that `cert` holds PREPAREs for (height, round, block_hash) from
/// at least Q distinct validators, each validly signed.
pub fn check_certificate(
    genesis: &Genesis,
    chain_id: &Hash32,
    height: u64,
    round: u64,
    block_hash: &Hash32,
    cert: &[SignedVote],
) -> Result<bool, LedgerError> {
    if cert.len() > genesis.validator_count() {
        return Ok(false);
    }
    let mut senders: Vec<&PublicKey> = Vec::with_capacity(cert.len());
    for p in cert {
        let v = &p.vote;
        let matches = v.kind == VoteKind::Prepare
            && &v.chain_id == chain_id
            && v.height == height
            && v.round == round
            && &v.block_hash == block_hash;
        if !matches || !genesis.is_validator(&p.sender) || senders.contains(&&p.sender) {
            return Ok(false);
        }
        if !p.verify()? {
            return Ok(false);
        }
        senders.push(&p.sender);
    }
    Ok(senders.len() >= genesis.quorum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_changes_hash_as_the_generic_canonical_form() {
        let big = MAX_SAFE_INTEGER;
        let prepared = [
            (None, None),
            (Some(0), Some(Hash32([7; 32]))),
            (Some(big), Some(Hash32([8; 32]))),
            (Some(big + 1), Some(Hash32([9; 32]))),
            // Inconsistent ones are refused, but still hashed alike.
            (Some(2), None),
            (None, Some(Hash32([1; 32]))),
        ];
        for (height, round) in [(1, 0), (12, 3), (big, big), (big + 1, 2), (4, u64::MAX)] {
            for (prepared_round, prepared_block_hash) in prepared {
                let s = RoundChangeStatement {
                    kind: RoundChangeType::RoundChange,
                    chain_id: Hash32([5; 32]),
                    height,
                    round,
                    prepared_round,
                    prepared_block_hash,
                };
                assert_eq!(s.digest().unwrap(), hash_of(&s).unwrap(), "{s:?}");
            }
        }
    }
}
