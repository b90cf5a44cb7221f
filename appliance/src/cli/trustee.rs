//! `evote-appliance trustee`: the trustees' key ceremony (dealer-free, by
//! exchanging files) and the decryption of the tally.
//!
//! Ceremony for an election with n trustees of whom k decrypt:
//! 1. every trustee i runs `keygen`, which writes `round1-i.json` (public)
//!    and `share-i-to-j.json` for every j (secret: hand each to trustee j
//!    in person, e.g. on a USB stick; i keeps its own);
//! 2. every trustee j gathers all `round1-*.json` and the shares addressed
//!    to them and runs `combine`, which checks everything and writes j's
//!    key (mode 0600);
//! 3. the election authority runs `public` on the round-1 files and puts
//!    its output in the election file as `"trustees"`.
//!
//! After the election closes, k trustees each run `decrypt` against an
//! appliance, which checks the share and puts it on the chain.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use crate::app::AppError;
use crate::keyfile;
use crate::ledger::ElectionTrustees;
use crate::ledger::elgamal::{
    CeremonyParams, SecretShare, TallyContext, TrusteeKey, TrusteeRound1, decryption_share, round1,
    round2,
};

#[derive(Debug, Subcommand)]
pub enum TrusteeCommand {
    /// Ceremony round 1, run by trustee INDEX on their own machine.
    Keygen {
        #[command(flatten)]
        ceremony: Ceremony,
        /// This trustee's number, 1 to --trustees.
        #[arg(long)]
        index: u32,
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Ceremony round 2: check what every trustee sent and make this trustee's key.
    Combine {
        #[command(flatten)]
        ceremony: Ceremony,
        #[arg(long)]
        index: u32,
        /// Where the round-1 files and the shares addressed to this trustee are.
        #[arg(long)]
        dir: PathBuf,
        /// The key file to write (mode 0600; never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the election's "trustees" record (for the election file) from the round-1 files.
    Public {
        #[command(flatten)]
        ceremony: Ceremony,
        #[arg(long)]
        dir: PathBuf,
    },
    /// Decrypt the closed election's tally with this trustee's key and post the share to a node.
    Decrypt {
        /// This trustee's key file.
        #[arg(long)]
        share: PathBuf,
        /// An appliance's base URL (its public door, http:// or https://).
        #[arg(long)]
        node: String,
        #[arg(long)]
        election: u64,
        /// Certificates to trust for an https node (a PEM file of CA
        /// certificates or the node's own; default: the public web's roots).
        #[arg(long, value_name = "FILE", env = "EVOTE_CA_FILE")]
        ca_file: Option<PathBuf>,
    },
}

/// The ceremony's parameters, the same for every trustee.
#[derive(Debug, Args)]
pub struct Ceremony {
    #[arg(long)]
    election: u64,
    #[arg(long)]
    trustees: u32,
    /// How many trustees must take part to decrypt.
    #[arg(long)]
    threshold: u32,
}

impl Ceremony {
    fn params(&self) -> Result<CeremonyParams, AppError> {
        CeremonyParams::new(self.election, self.trustees, self.threshold).map_err(setup)
    }
}

pub fn run(cmd: TrusteeCommand) -> Result<(), AppError> {
    match cmd {
        TrusteeCommand::Keygen {
            ceremony,
            index,
            out_dir,
        } => keygen(&ceremony.params()?, index, &out_dir),
        TrusteeCommand::Combine {
            ceremony,
            index,
            dir,
            out,
        } => combine(&ceremony.params()?, index, &dir, &out),
        TrusteeCommand::Public { ceremony, dir } => {
            let p = ceremony.params()?;
            let Ceremony {
                election,
                trustees,
                threshold,
            } = ceremony;
            let record = ElectionTrustees::new(trustees, threshold, read_round1(&p, &dir)?);
            record
                .public_key(election)
                .map_err(|e| AppError::Setup(e.to_string()))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&record).expect("record encodes")
            );
            Ok(())
        }
        TrusteeCommand::Decrypt {
            share,
            node,
            election,
            ca_file,
        } => {
            crate::net::tls::trust(ca_file.as_deref())?;
            decrypt(&share, &node, election)
        }
    }
}

fn setup(e: impl std::fmt::Display) -> AppError {
    AppError::Setup(e.to_string())
}

fn keygen(p: &CeremonyParams, index: u32, dir: &Path) -> Result<(), AppError> {
    std::fs::create_dir_all(dir).map_err(setup)?;
    let (msg, shares) = round1(p, index, &mut crate::auth::OsRandom::default()).map_err(setup)?;
    super::files::write_new(
        &dir.join(format!("round1-{index}.json")),
        &serde_json::to_string_pretty(&msg).expect("encodes"),
    )?;
    for share in &shares {
        let text = Zeroizing::new(serde_json::to_string(share).expect("encodes"));
        let path = dir.join(format!("share-{index}-to-{}.json", share.recipient));
        keyfile::write_secret(&path, text.as_bytes())?;
    }
    println!(
        "trustee {index}: wrote round1-{index}.json (publish it) and one share file per trustee; \
         hand share-{index}-to-J.json to trustee J only"
    );
    Ok(())
}

fn read_round1(p: &CeremonyParams, dir: &Path) -> Result<Vec<TrusteeRound1>, AppError> {
    (1..=p.trustees)
        .map(|i| {
            let path = dir.join(format!("round1-{i}.json"));
            let text = std::fs::read_to_string(&path)
                .map_err(|e| setup(format!("{}: {e}", path.display())))?;
            serde_json::from_str(&text).map_err(|e| setup(format!("{}: {e}", path.display())))
        })
        .collect()
}

fn combine(p: &CeremonyParams, index: u32, dir: &Path, out: &Path) -> Result<(), AppError> {
    let msgs = read_round1(p, dir)?;
    let shares = (1..=p.trustees)
        .map(|i| {
            let path = dir.join(format!("share-{i}-to-{index}.json"));
            let text = Zeroizing::new(keyfile::read_secret(&path)?);
            serde_json::from_slice::<SecretShare>(&text)
                .map_err(|e| setup(format!("{}: {e}", path.display())))
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let key = round2(p, index, &msgs, &shares)
        .map_err(|e| setup(format!("the ceremony must be run again: {e}")))?;
    write_trustee_key(out, &key)?;
    println!(
        "trustee {index}: key written to {}; election key {}",
        out.display(),
        key.public_key
    );
    Ok(())
}

/// Writes a trustee's key file (mode 0600; never overwritten).
pub fn write_trustee_key(path: &Path, key: &TrusteeKey) -> Result<(), AppError> {
    let text = Zeroizing::new(serde_json::to_string(key).expect("key encodes"));
    Ok(keyfile::write_secret(path, text.as_bytes())?)
}

pub fn read_trustee_key(path: &Path) -> Result<TrusteeKey, AppError> {
    let raw = Zeroizing::new(keyfile::read_secret(path)?);
    let key: TrusteeKey = serde_json::from_slice(&raw)
        .map_err(|e| setup(format!("{}: not a trustee key: {e}", path.display())))?;
    key.check()
        .map_err(|e| setup(format!("{}: {e}", path.display())))?;
    Ok(key)
}

fn decrypt(share: &Path, node: &str, election: u64) -> Result<(), AppError> {
    let key = read_trustee_key(share)?;
    if key.election_id != election {
        return Err(setup(format!(
            "this key is for election {}, not {election}",
            key.election_id
        )));
    }
    let node = node.trim_end_matches('/');
    let tally = crate::net::client::fetch_tally(node, election).map_err(setup)?;
    if !tally.closed {
        return Err(setup(format!(
            "election {election} has not closed yet: nothing may be decrypted"
        )));
    }
    let status = crate::net::client::fetch_status(node).map_err(setup)?;
    let ctx = TallyContext {
        chain_id: status,
        election_id: election,
    };
    let share = decryption_share(
        &ctx,
        &key,
        &tally.aggregate,
        &mut crate::auth::OsRandom::default(),
    )
    .map_err(setup)?;
    let tx = crate::net::client::post_share(
        node,
        election,
        tally.tally_height,
        tally.ballot_count,
        &share,
    )
    .map_err(setup)?;
    println!(
        "trustee {}: share of the tally at block {} ({} ballots) posted as transaction {tx}",
        key.index, tally.tally_height, tally.ballot_count
    );
    Ok(())
}
