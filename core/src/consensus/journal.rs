//! What a validator must remember across a crash so that it never sends a
//! message that conflicts with one it may already have sent.

use serde::{Deserialize, Serialize};

use super::messages::{
    Justification, Message, Proposal, RoundChange, SignedRoundChange, SignedVote,
};
use crate::ledger::{Block, Hash32};

/// A prepared (locked) block: Q PREPAREs were seen for it at `round`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    pub round: u64,
    pub block: Block,
    pub certificate: Vec<SignedVote>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub height: u64,
    pub round: u64,
    pub locked: Option<Locked>,
    /// Every message this validator sent in `round`.
    pub sent: Vec<Message>,
}

/// A block as a stored journal names it. The block hash leaves out the
/// round and the proposer (a block re-proposed in a later round keeps its
/// hash), so the round is part of the name: the block locked in round 1
/// and its re-proposal in round 2 are different blocks to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRef {
    pub hash: Hash32,
    pub round: u64,
}

impl BlockRef {
    pub fn of(block: &Block) -> Self {
        Self {
            hash: block.block_hash,
            round: block.header.round,
        }
    }

    /// Whether `block` is the block this names.
    pub fn names(&self, block: &Block) -> bool {
        *self == Self::of(block)
    }
}

impl std::fmt::Display for BlockRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (round {})", self.hash, self.round)
    }
}

/// A journal as it is stored: every block by reference. The journal is
/// written again for every message sent, and a proposer's block appeared
/// in each write of a height (a 250-ballot block is 0.7 MB of JSON); the
/// blocks are stored once each beside it instead ([`Journal::blocks`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalRecord {
    pub height: u64,
    pub round: u64,
    pub locked: Option<LockedRecord>,
    pub sent: Vec<SentRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRecord {
    pub round: u64,
    pub block: BlockRef,
    pub certificate: Vec<SignedVote>,
}

/// A sent message, its block (if it carries one) by reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SentRecord {
    Proposal {
        block: BlockRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        justification: Option<Justification>,
    },
    Prepare {
        vote: SignedVote,
    },
    Commit {
        vote: SignedVote,
    },
    RoundChange {
        signed: SignedRoundChange,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prepared_block: Option<BlockRef>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        prepared_certificate: Vec<SignedVote>,
    },
}

impl Journal {
    /// Every block the journal holds, each once.
    pub fn blocks(&self) -> Vec<&Block> {
        let locked = self.locked.iter().map(|l| &l.block);
        let sent = self.sent.iter().filter_map(|m| match m {
            Message::Proposal(p) => Some(&p.block),
            Message::RoundChange(rc) => rc.prepared_block.as_ref(),
            Message::Prepare(_) | Message::Commit(_) => None,
        });
        let mut out: Vec<&Block> = Vec::new();
        for b in locked.chain(sent) {
            if !out.iter().any(|o| BlockRef::of(o) == BlockRef::of(b)) {
                out.push(b);
            }
        }
        out
    }

    /// The stored form: blocks by reference.
    pub fn record(&self) -> JournalRecord {
        let sent = self
            .sent
            .iter()
            .map(|m| match m {
                Message::Proposal(p) => SentRecord::Proposal {
                    block: BlockRef::of(&p.block),
                    justification: p.justification.clone(),
                },
                Message::Prepare(v) => SentRecord::Prepare { vote: v.clone() },
                Message::Commit(v) => SentRecord::Commit { vote: v.clone() },
                Message::RoundChange(rc) => SentRecord::RoundChange {
                    signed: rc.signed.clone(),
                    prepared_block: rc.prepared_block.as_ref().map(BlockRef::of),
                    prepared_certificate: rc.prepared_certificate.clone(),
                },
            })
            .collect();
        JournalRecord {
            height: self.height,
            round: self.round,
            locked: self.locked.as_ref().map(|l| LockedRecord {
                round: l.round,
                block: BlockRef::of(&l.block),
                certificate: l.certificate.clone(),
            }),
            sent,
        }
    }
}

impl JournalRecord {
    /// The blocks it refers to, each once.
    pub fn blocks(&self) -> Vec<BlockRef> {
        let locked = self.locked.iter().map(|l| l.block);
        let sent = self.sent.iter().filter_map(|m| match m {
            SentRecord::Proposal { block, .. } => Some(*block),
            SentRecord::RoundChange { prepared_block, .. } => *prepared_block,
            SentRecord::Prepare { .. } | SentRecord::Commit { .. } => None,
        });
        let mut out: Vec<BlockRef> = Vec::new();
        for r in locked.chain(sent) {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// The journal again, with `block` finding each block it names; the
    /// first block it cannot find is the error.
    pub fn resolve(self, block: impl Fn(&BlockRef) -> Option<Block>) -> Result<Journal, BlockRef> {
        let find = |r: &BlockRef| block(r).filter(|b| r.names(b)).ok_or(*r);
        let locked = match self.locked {
            Some(l) => Some(Locked {
                round: l.round,
                block: find(&l.block)?,
                certificate: l.certificate,
            }),
            None => None,
        };
        let mut sent = Vec::with_capacity(self.sent.len());
        for m in self.sent {
            sent.push(match m {
                SentRecord::Proposal {
                    block,
                    justification,
                } => Message::Proposal(Proposal {
                    block: find(&block)?,
                    justification,
                }),
                SentRecord::Prepare { vote } => Message::Prepare(vote),
                SentRecord::Commit { vote } => Message::Commit(vote),
                SentRecord::RoundChange {
                    signed,
                    prepared_block,
                    prepared_certificate,
                } => Message::RoundChange(RoundChange {
                    signed,
                    prepared_block: prepared_block.as_ref().map(&find).transpose()?,
                    prepared_certificate,
                }),
            });
        }
        Ok(Journal {
            height: self.height,
            round: self.round,
            locked,
            sent,
        })
    }
}
