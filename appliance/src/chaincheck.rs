//! Re-verifies the stored chain block by block: links, hashes, proposer
//! signatures, commit seals and every transaction. It catches a database
//! edited behind the appliance's back.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::ledger::validate::check_committed_block;
use crate::ledger::{
    ChainLookup, CredentialOnChain, DeviceEnd, Genesis, Hash32, LedgerError, Parent, PublicKey,
};
use crate::store::{Store, StoreError, lookup};

/// Blocks read from the store at a time.
const PAGE: u64 = 200;
/// Errors reported before the check stops listing them.
const MAX_ERRORS: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub struct ChainCheck {
    pub valid: bool,
    pub blocks_checked: u64,
    pub transactions_checked: u64,
    pub head_height: u64,
    pub head_hash: Hash32,
    #[serde(skip)]
    pub head_timestamp_ms: u64,
    pub errors: Vec<String>,
}

/// A nullifier counts as used only if a block below `height` used it.
struct UsedBelow<'a> {
    store: &'a Store,
    height: u64,
}

impl ChainLookup for UsedBelow<'_> {
    fn credential_on_chain(
        &self,
        election_id: u64,
        credential: &PublicKey,
    ) -> Result<CredentialOnChain, LedgerError> {
        self.store
            .credential_below(election_id, credential, self.height)
            .map_err(lookup)
    }

    fn is_checked_in(&self, election_id: u64, leaf: &Hash32) -> Result<bool, LedgerError> {
        self.store
            .checked_in_below(election_id, leaf, self.height)
            .map_err(lookup)
    }

    fn device_end(
        &self,
        election_id: u64,
        origin: &PublicKey,
    ) -> Result<Option<DeviceEnd>, LedgerError> {
        self.store
            .device_end_below(election_id, origin, self.height)
            .map_err(lookup)
    }

    fn tally_at(
        &self,
        election_id: u64,
        height: u64,
    ) -> Result<Option<(u64, crate::ledger::TallyState)>, LedgerError> {
        ChainLookup::tally_at(self.store, election_id, height)
    }

    fn share_recorded(
        &self,
        election_id: u64,
        tally_height: u64,
        trustee: u32,
    ) -> Result<bool, LedgerError> {
        self.store
            .share_recorded_below(election_id, tally_height, trustee, self.height)
    }

    fn is_used(&self, election_id: u64, nullifier: &Hash32) -> Result<bool, LedgerError> {
        let Some(tx) = self
            .store
            .nullifier_tx(election_id, nullifier)
            .map_err(lookup)?
        else {
            return Ok(false);
        };
        let loc = self.store.committed_tx(&tx).map_err(lookup)?;
        Ok(loc.is_some_and(|(_, l)| l.height < self.height))
    }
}

impl ChainCheck {
    /// Nothing checked yet: the chain is its genesis.
    pub fn start(genesis: &Genesis) -> Result<Self, StoreError> {
        let chain_id = genesis.chain_id()?;
        Ok(Self {
            valid: true,
            blocks_checked: 0,
            transactions_checked: 0,
            head_height: 0,
            head_hash: chain_id,
            head_timestamp_ms: genesis.created_at_ms,
            errors: Vec::new(),
        })
    }
}

/// Checks the blocks above `check`'s head, moving it to the chain's head,
/// or as far as it got when `stop` is set (its caller went away): a chain
/// already checked is checked again only from where it stopped.
pub fn continue_check(
    store: &Store,
    genesis: &Genesis,
    check: &mut ChainCheck,
    now_ms: u64,
    stop: &AtomicBool,
) -> Result<(), StoreError> {
    let chain_id = genesis.chain_id()?;
    let mut parent = Parent {
        height: check.head_height,
        hash: check.head_hash,
        timestamp_ms: check.head_timestamp_ms,
    };
    loop {
        let blocks = store.blocks_range(parent.height + 1, PAGE)?;
        if blocks.is_empty() {
            break;
        }
        for b in blocks {
            if stop.load(Ordering::Relaxed) {
                check.head_height = parent.height;
                check.head_hash = parent.hash;
                check.head_timestamp_ms = parent.timestamp_ms;
                return Ok(());
            }
            let lookup = UsedBelow {
                store,
                height: b.header.height,
            };
            if let Err(e) = check_committed_block(genesis, &chain_id, &parent, &b, &lookup, now_ms)
            {
                check.valid = false;
                if check.errors.len() < MAX_ERRORS {
                    check.errors.push(format!("block {}: {e}", b.header.height));
                }
            }
            check.blocks_checked += 1;
            check.transactions_checked += b.transactions.len() as u64;
            parent = Parent {
                height: b.header.height,
                hash: b.block_hash,
                timestamp_ms: b.header.timestamp_ms,
            };
        }
    }
    check.head_height = parent.height;
    check.head_hash = parent.hash;
    check.head_timestamp_ms = parent.timestamp_ms;
    Ok(())
}
