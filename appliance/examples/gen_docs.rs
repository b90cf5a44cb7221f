//! Writes the man pages and shell completions of `evote-appliance`, asked of
//! its clap definition, so they always match the binary.
//!
//! ```text
//! cargo run -p evote-appliance --example gen_docs -- OUT_DIR [EPOCH]
//! ```
//!
//! Writes `OUT_DIR/man/evote-appliance.1` and one page per subcommand
//! (`evote-appliance-run.1`, …), and `OUT_DIR/completions/bash/evote-appliance`,
//! `OUT_DIR/completions/zsh/_evote-appliance` and
//! `OUT_DIR/completions/fish/evote-appliance.fish`, named as Debian installs
//! them. `packaging/build-debs` runs it. The pages carry the date EPOCH
//! (seconds since 1970; default: `$SOURCE_DATE_EPOCH`, else no date), so a
//! rebuild is byte for byte the same. It is an argument because setting
//! `SOURCE_DATE_EPOCH` for `cargo run` would rebuild every C dependency.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

const BIN: &str = "evote-appliance";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: gen_docs OUT_DIR [EPOCH]")?);
    let epoch = args
        .next()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok());
    let cmd = evote_appliance::cli::Cli::command();
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    write_man_pages(cmd.clone(), &man, &date(epoch.as_deref())?)?;
    for (shell, dir, file) in [
        (Shell::Bash, "bash", BIN.to_string()),
        (Shell::Zsh, "zsh", format!("_{BIN}")),
        (Shell::Fish, "fish", format!("{BIN}.fish")),
    ] {
        let dir = out.join("completions").join(dir);
        std::fs::create_dir_all(&dir)?;
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), BIN, &mut text);
        std::fs::write(dir.join(file), text)?;
    }
    Ok(())
}

/// One page for the command and one for every subcommand, recursively,
/// named `evote-appliance-SUB.1` and cross-referenced from the main page.
fn write_man_pages(
    cmd: clap::Command,
    dir: &Path,
    date: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    write_page(&cmd, dir, date)
}

fn write_page(
    cmd: &clap::Command,
    dir: &Path,
    date: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_page(sub, dir, date)?;
    }
    let version = env!("CARGO_PKG_VERSION");
    let man = clap_mangen::Man::new(cmd.clone())
        .manual("evote")
        .source(format!("evote {version}"))
        .date(date);
    man.generate_to(dir)?;
    Ok(())
}

/// Seconds since 1970 as YYYY-MM-DD; no epoch, no date.
fn date(epoch: Option<&str>) -> Result<String, Box<dyn std::error::Error>> {
    let Some(epoch) = epoch else {
        return Ok(String::new());
    };
    let secs: u64 = epoch
        .trim()
        .parse()
        .map_err(|e| format!("epoch {epoch:?}: {e}"))?;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    Ok(humantime::format_rfc3339(t).to_string()[..10].to_string())
}
