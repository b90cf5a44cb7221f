//! `evote-bench credentials`: what an election authority and a credential
//! authority spend making a roll of N voters and their credentials, as
//! their commands do (`election roll`, `credentials issue`): the roll's
//! salted entries, Merkle tree and signature; then one credential per
//! voter (a random code, its key derivation and public key, spread over
//! the cores), the sorted list for the genesis and its signature.

use std::time::{Duration, Instant};

use evote_appliance::cli::eligibility::{RollRow, build_roll, issue};
use evote_core::ledger::NodeKey;
use evote_core::ledger::crypto::pkcs8_from_seed;
use evote_core::ledger::genesis::RollCommitment;

/// The times of one run.
pub struct CredentialTimes {
    pub voters: usize,
    pub roll: Duration,
    pub credentials: Duration,
}

pub fn run(voters: usize) -> Result<CredentialTimes, String> {
    let key = |b: u8| NodeKey::from_pkcs8(&pkcs8_from_seed(&[b; 32])).map_err(|e| e.to_string());
    let (authority, credential_authority) = (key(1)?, key(2)?);
    let rows: Vec<RollRow> = (1..=voters)
        .map(|i| RollRow {
            id: format!("V{i:07}"),
            name: format!("Voter {i}"),
            district: None,
            station: None,
        })
        .collect();
    let started = Instant::now();
    let roll = build_roll(1, rows, &authority).map_err(|e| e.to_string())?;
    let roll_time = started.elapsed();
    let commitment = RollCommitment {
        size: roll.file.statement.size,
        root: roll.file.statement.root,
    };
    let started = Instant::now();
    let issued = issue(1, commitment, &credential_authority).map_err(|e| e.to_string())?;
    let credentials = started.elapsed();
    if issued.public.len() != voters {
        return Err(format!(
            "{} credentials for {voters} voters",
            issued.public.len()
        ));
    }
    Ok(CredentialTimes {
        voters,
        roll: roll_time,
        credentials,
    })
}
