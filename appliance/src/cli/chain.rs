//! `evote-appliance chain export`: the chain alone, for observers and
//! auditors (`evote-audit verify --db`). The appliance's database also
//! holds personal data (the voters' accounts and sessions, the roll and the
//! poll book); the export leaves all of it out.

use std::path::PathBuf;

use clap::Subcommand;

use crate::app::AppError;
use crate::config::Config;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Write the chain alone (blocks, transactions, fallback chains,
    /// confirmation codes) to a new SQLite file for observers: no voter,
    /// session, roll or poll-book row is in it. Runs beside a running
    /// appliance.
    Export {
        #[arg(long)]
        config: PathBuf,
        /// The file to write (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: ChainCommand) -> Result<(), AppError> {
    match cmd {
        ChainCommand::Export { config, out } => {
            let cfg = Config::load(&config)?;
            let store = Store::open(&cfg.db_path())?;
            let dropped = store.export_chain(&out)?;
            println!(
                "wrote the chain to {} (left out: {})",
                out.display(),
                dropped.join(", ")
            );
            println!("next: evote-audit verify --db {}", out.display());
            Ok(())
        }
    }
}
