//! Consensus messages and their verification. Every message is a signed
//! statement `{type, chain_id, height, round, ...}`; blocks and
//! certificates travel beside the statements they justify.

use serde::{Deserialize, Serialize};

use crate::ledger::{
    Block, Genesis, Hash32, LedgerError, PublicKey, Signature, Vote, VoteKind, verify,
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
                verify(&h.proposer, &vote, &p.block.proposer_signature)
            }
            Message::Prepare(v) => Ok(v.vote.kind == VoteKind::Prepare && v.verify()?),
            Message::Commit(v) => Ok(v.vote.kind == VoteKind::Commit && v.verify()?),
            Message::RoundChange(rc) => rc.signed.verify(),
        }
    }
}

impl SignedVote {
    pub fn verify(&self) -> Result<bool, LedgerError> {
        verify(&self.sender, &self.vote, &self.signature)
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
        Ok(consistent && verify(&self.sender, s, &self.signature)?)
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
