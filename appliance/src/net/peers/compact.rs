//! A proposal as it travels between validators: its block's header and
//! signature, and its transactions by hash and signature. A peer holds
//! almost all of them already (their gossip came first), rebuilds the
//! proposal from its mempool, and names the few it lacks; the sender sends
//! the proposal again carrying those whole. So a block costs a link about
//! one copy of its new ballots (their gossip), not two.

use serde::{Deserialize, Serialize};

use crate::consensus::{Justification, Proposal};
use crate::ledger::{Block, BlockHeader, Hash32, Signature, SignedTx};

/// A transaction of a proposal, named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxRef {
    pub tx_hash: Hash32,
    pub signature: Signature,
}

/// A PROPOSAL with its transactions named ([`TxRef`]), some carried whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactProposal {
    pub header: BlockHeader,
    pub block_hash: Hash32,
    pub proposer_signature: Signature,
    /// Every transaction of the block, in block order.
    pub transactions: Vec<TxRef>,
    /// The transactions the sender sends whole (the peer said it lacks them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carried: Vec<SignedTx>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<Justification>,
}

/// The names of a block's transactions (hashing each once, for every peer).
pub fn tx_refs(block: &Block) -> Vec<TxRef> {
    block
        .transactions
        .iter()
        .map(|stx| TxRef {
            tx_hash: stx.hash().expect("a proposed transaction hashes"),
            signature: stx.signature,
        })
        .collect()
}

/// `p` named by `refs` (its [`tx_refs`]), carrying the transactions whose
/// hashes are in `carry`.
pub fn compact(p: &Proposal, refs: &[TxRef], carry: &[Hash32]) -> CompactProposal {
    let carried = refs
        .iter()
        .zip(&p.block.transactions)
        .filter(|(r, _)| carry.contains(&r.tx_hash))
        .map(|(_, stx)| stx.clone())
        .collect();
    CompactProposal {
        header: p.block.header.clone(),
        block_hash: p.block.block_hash,
        proposer_signature: p.block.proposer_signature,
        transactions: refs.to_vec(),
        carried,
        justification: p.justification.clone(),
    }
}

/// Rebuilds the proposal: each transaction from those carried, else from
/// `held` (the mempool's copy by hash, in the order asked). The hashes of
/// the transactions neither has (with that signature) if any are missing.
pub fn rebuild(
    c: CompactProposal,
    held: impl FnOnce(&[Hash32]) -> Vec<Option<SignedTx>>,
) -> Result<Proposal, Vec<Hash32>> {
    let carried: Vec<(Hash32, SignedTx)> = c
        .carried
        .into_iter()
        .filter_map(|stx| Some((stx.hash().ok()?, stx)))
        .collect();
    let asked: Vec<Hash32> = c
        .transactions
        .iter()
        .filter(|r| !carried.iter().any(|(h, _)| h == &r.tx_hash))
        .map(|r| r.tx_hash)
        .collect();
    let mut from_pool = held(&asked).into_iter();
    let mut txs = Vec::with_capacity(c.transactions.len());
    let mut missing = Vec::new();
    for r in &c.transactions {
        let found = match carried.iter().find(|(h, _)| h == &r.tx_hash) {
            Some((_, stx)) => Some(stx.clone()),
            None => from_pool.next().flatten(),
        };
        match found.filter(|stx| stx.signature == r.signature) {
            Some(stx) => txs.push(stx),
            None => missing.push(r.tx_hash),
        }
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    Ok(Proposal {
        block: Block {
            header: c.header,
            block_hash: c.block_hash,
            proposer_signature: c.proposer_signature,
            transactions: txs,
            seals: Vec::new(),
        },
        justification: c.justification,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::crypto::test_keys::key;
    use crate::ledger::genesis::fixtures::genesis;
    use crate::ledger::tx::fixtures::ballot;

    fn proposal() -> Proposal {
        let g = genesis(3);
        let txs = (1..=4).map(|v| ballot(&g, 1, v, 1)).collect();
        let block = Block::propose(
            g.chain_id().unwrap(),
            1,
            0,
            Hash32([0; 32]),
            5,
            txs,
            &key(1),
        )
        .unwrap();
        Proposal {
            block,
            justification: None,
        }
    }

    fn pool(have: &[SignedTx]) -> impl FnOnce(&[Hash32]) -> Vec<Option<SignedTx>> + '_ {
        move |asked| {
            asked
                .iter()
                .map(|h| have.iter().find(|t| &t.hash().unwrap() == h).cloned())
                .collect()
        }
    }

    #[test]
    fn a_peer_holding_every_transaction_rebuilds_the_proposal_exactly() {
        let p = proposal();
        let refs = tx_refs(&p.block);
        let c = compact(&p, &refs, &[]);
        assert!(c.carried.is_empty());
        let back = rebuild(c, pool(&p.block.transactions)).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn a_peer_names_what_it_lacks_and_takes_it_carried() {
        let p = proposal();
        let refs = tx_refs(&p.block);
        let have = [
            p.block.transactions[0].clone(),
            p.block.transactions[2].clone(),
        ];
        let missing = rebuild(compact(&p, &refs, &[]), pool(&have)).unwrap_err();
        assert_eq!(missing, vec![refs[1].tx_hash, refs[3].tx_hash]);
        let again = compact(&p, &refs, &missing);
        assert_eq!(again.carried.len(), 2);
        assert_eq!(rebuild(again, pool(&have)).unwrap(), p);
    }

    #[test]
    fn a_held_copy_with_another_signature_counts_as_missing() {
        let p = proposal();
        let refs = tx_refs(&p.block);
        let mut other = p.block.transactions.clone();
        other[0].signature = Signature([9; 64]);
        let missing = rebuild(compact(&p, &refs, &[]), pool(&other)).unwrap_err();
        assert_eq!(missing, vec![refs[0].tx_hash]);
    }
}
