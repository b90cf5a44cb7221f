//! The officials' eligibility tools (PROTOCOL.md §3a): the election
//! authority's voter roll (`election roll`) and the credential authority's
//! voting cards (`credentials issue`, `credentials replace`).
//!
//! The roll file names every voter: it is installed on the stations (the
//! appliance's `rolls` config key) and never published; the genesis holds
//! only its commitment. The credential authority issues one credential per
//! roll entry: the voter's card carries its secret code, the genesis the
//! shuffled (sorted) list of public credentials, so that nothing public
//! links a credential to a voter.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::{Deserialize, Serialize};

use super::files::write_new;
use crate::app::AppError;
use crate::clock::now_ms;
use crate::keyfile;
use crate::ledger::credential::{CODE_SECRET_LEN, CredentialCode, CredentialList};
use crate::ledger::genesis::RollCommitment;
use crate::ledger::records::CredentialReplacementTx;
use crate::ledger::roll::{CheckedRoll, RollEntry, RollFile};
use crate::ledger::{Hash32, NodeKey, PublicKey, SignedTx, Transaction};

#[derive(Debug, Subcommand)]
pub enum ElectionCommand {
    /// The election authority's voter roll, from a CSV file (header row
    /// `id,name` and optionally `station` and `district`): writes the
    /// signed roll file (names: install it on the stations, never publish
    /// it) and prints the commitment the genesis holds.
    Roll {
        /// The election's id.
        #[arg(long)]
        election: u64,
        /// The voters: one row each, `id` unique.
        #[arg(long)]
        csv: PathBuf,
        /// The election authority's key (`keygen`).
        #[arg(long)]
        authority_key: PathBuf,
        /// A station a row names in its `station` column, as NAME=PUBKEY;
        /// repeat for each.
        #[arg(long = "station", value_name = "NAME=PUBKEY")]
        stations: Vec<String>,
        /// The roll file to write (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Issue one credential per entry of a roll: the signed list of public
    /// credentials for the genesis (`genesis --credentials`), a printable
    /// card per voter, and the credential authority's private record of
    /// which public credential went to which voter (for replacing a lost
    /// card; never published).
    Issue {
        /// The election authority's roll file.
        #[arg(long)]
        roll: PathBuf,
        /// The credential authority's key (`keygen`).
        #[arg(long)]
        key: PathBuf,
        /// A directory to create for what this writes: `credentials.json`
        /// (public), `issued.json` (private), and the cards.
        #[arg(long)]
        out_dir: PathBuf,
        /// `svg`: one printable card per voter (`cards/ID.svg`, with a QR
        /// code); `csv`: one file `cards.csv` (id, name, code) for a print
        /// shop's mail merge.
        #[arg(long, default_value = "svg")]
        cards: CardFormat,
        /// The election's name, printed on the cards.
        #[arg(long, default_value = "")]
        title: String,
    },
    /// Replace a voter's lost card: a new credential and card, and the
    /// record revoking the old one, signed by the credential authority.
    Replace {
        /// The `issued.json` that `credentials issue` wrote (updated).
        #[arg(long)]
        issued: PathBuf,
        /// The voter's id on the roll.
        #[arg(long)]
        voter: String,
        /// The credential authority's key.
        #[arg(long)]
        key: PathBuf,
        /// The chain's genesis.
        #[arg(long)]
        genesis: PathBuf,
        /// Where to write the new card (an SVG file, never overwritten).
        #[arg(long)]
        card: PathBuf,
        /// Where to write the signed replacement record (JSON).
        #[arg(long)]
        out: PathBuf,
        /// An appliance's public base URL to submit the record to
        /// (JSON-RPC `eth_sendTransaction`).
        #[arg(long)]
        submit: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CardFormat {
    Svg,
    Csv,
}

pub fn run_election(cmd: ElectionCommand) -> Result<(), AppError> {
    match cmd {
        ElectionCommand::Roll {
            election,
            csv,
            authority_key,
            stations,
            out,
        } => {
            let key = keyfile::read_node_key(&authority_key)?;
            let stations = parse_stations(&stations)?;
            let text = read(&csv)?;
            let rows = read_roll_csv(&text, &stations)
                .map_err(|m| AppError::Setup(format!("{}: {m}", csv.display())))?;
            let n = rows.len();
            let roll = build_roll(election, rows, &key)?;
            write_new(
                &out,
                &serde_json::to_string(&roll.file).expect("roll encodes"),
            )?;
            let st = &roll.file.statement;
            println!(
                "roll of election {election}: {n} voters, written to {}",
                out.display()
            );
            println!(
                "commitment: {}",
                serde_json::json!({"size": st.size, "root": st.root})
            );
            println!(
                "next: the credential authority runs `evote-appliance credentials issue --roll {}`; \
                 the stations get the roll file (config key rolls); never publish it",
                out.display()
            );
            Ok(())
        }
    }
}

pub fn run_credentials(cmd: CredentialsCommand) -> Result<(), AppError> {
    match cmd {
        CredentialsCommand::Issue {
            roll,
            key,
            out_dir,
            cards,
            title,
        } => issue_command(&roll, &key, &out_dir, cards, &title),
        CredentialsCommand::Replace {
            issued,
            voter,
            key,
            genesis,
            card,
            out,
            submit,
        } => replace_command(&issued, &voter, &key, &genesis, &card, &out, submit),
    }
}

fn read(path: &Path) -> Result<String, AppError> {
    std::fs::read_to_string(path).map_err(|source| AppError::Io {
        context: format!("reading {}", path.display()),
        source,
    })
}

fn parse_stations(args: &[String]) -> Result<BTreeMap<String, PublicKey>, AppError> {
    args.iter()
        .map(|a| {
            let (name, key) = a
                .split_once('=')
                .ok_or_else(|| AppError::Setup(format!("--station {a:?}: expected NAME=PUBKEY")))?;
            let key = PublicKey::parse(key)
                .map_err(|e| AppError::Setup(format!("--station {a:?}: {e}")))?;
            Ok((name.trim().to_string(), key))
        })
        .collect()
}

/// One row of the authority's CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollRow {
    pub id: String,
    pub name: String,
    pub district: Option<String>,
    pub station: Option<PublicKey>,
}

/// The rows of a roll CSV (RFC 4180: quoted fields, `""` for a quote, CRLF
/// or LF). The header names the columns: `id` and `name`, optionally
/// `station` (a name of `stations`) and `district`; an empty cell is none.
pub fn read_roll_csv(
    text: &str,
    stations: &BTreeMap<String, PublicKey>,
) -> Result<Vec<RollRow>, String> {
    let mut records = parse_csv(text)?.into_iter();
    let header = records.next().ok_or("the file is empty")?;
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(id), Some(name)) = (col("id"), col("name")) else {
        return Err("the header row must name the columns id and name".into());
    };
    let (station, district) = (col("station"), col("district"));
    let mut out = Vec::new();
    for (i, r) in records.enumerate() {
        let line = i + 2;
        if r.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |c: Option<usize>| {
            c.and_then(|c| r.get(c))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let vid = cell(Some(id)).ok_or(format!("row {line}: no id"))?;
        let vname = cell(Some(name)).ok_or(format!("row {line}: no name"))?;
        let at = match cell(station) {
            None => None,
            Some(s) => Some(*stations.get(&s).ok_or(format!(
                "row {line}: station {s:?} is not one of the --station NAME=PUBKEY given"
            ))?),
        };
        out.push(RollRow {
            id: vid,
            name: vname,
            district: cell(district),
            station: at,
        });
    }
    Ok(out)
}

fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Builds and signs an election's roll: each row gets a fresh random salt.
pub fn build_roll(
    election_id: u64,
    rows: Vec<RollRow>,
    authority: &NodeKey,
) -> Result<CheckedRoll, AppError> {
    let entries = rows
        .into_iter()
        .map(|r| RollEntry {
            id: r.id,
            name: r.name,
            district: r.district,
            station: r.station,
            salt: Hash32(crate::auth::random_bytes::<32>()),
        })
        .collect();
    RollFile::build(election_id, entries, authority)
        .map_err(|e| AppError::Setup(format!("the roll: {e}")))
}

/// Credentials issued for a roll: each entry's code (in roll order) and the
/// signed list of public credentials for the genesis.
pub struct Issued {
    pub codes: Vec<CredentialCode>,
    pub public: Vec<PublicKey>,
    pub list: CredentialList,
}

/// Issues `roll`'s credentials with fresh random codes: a key derivation
/// per voter, spread over the machine's cores.
pub fn issue(
    election_id: u64,
    roll: RollCommitment,
    authority: &NodeKey,
) -> Result<Issued, AppError> {
    let n = usize::try_from(roll.size).map_err(|_| AppError::Setup("roll too large".into()))?;
    let mut secrets = vec![0u8; n * CODE_SECRET_LEN];
    for chunk in secrets.chunks_mut(1 << 16) {
        use ring::rand::SecureRandom;
        ring::rand::SystemRandom::new()
            .fill(chunk)
            .map_err(|_| AppError::Setup("the OS random generator failed".into()))?;
    }
    let codes: Vec<CredentialCode> = secrets
        .chunks_exact(CODE_SECRET_LEN)
        .map(|s| CredentialCode::from_secret(s.try_into().expect("chunk length")))
        .collect();
    secrets.iter_mut().for_each(|b| *b = 0);
    let public = public_credentials(election_id, &codes);
    let list = CredentialList::sign(election_id, roll, public.clone(), authority)
        .map_err(|e| AppError::Setup(format!("signing the credential list: {e}")))?;
    Ok(Issued {
        codes,
        public,
        list,
    })
}

/// Each code's public credential for the election, in the codes' order.
pub fn public_credentials(election_id: u64, codes: &[CredentialCode]) -> Vec<PublicKey> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = codes.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = codes
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|c| c.key(election_id).public())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("a key derivation thread"))
            .collect()
    })
}

/// The credential authority's private record: which public credential each
/// voter's card holds (never the code), to revoke a lost card.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedFile {
    pub election_id: u64,
    pub roll: RollCommitment,
    /// Voter id → their current public credential.
    pub voters: BTreeMap<String, PublicKey>,
    /// Credentials revoked so far.
    #[serde(default)]
    pub revoked: Vec<PublicKey>,
}

fn issue_command(
    roll_path: &Path,
    key: &Path,
    out_dir: &Path,
    cards: CardFormat,
    title: &str,
) -> Result<(), AppError> {
    let key = keyfile::read_node_key(key)?;
    let roll: RollFile = serde_json::from_str(&read(roll_path)?)
        .map_err(|e| AppError::Setup(format!("{}: not a roll file: {e}", roll_path.display())))?;
    let st = roll.statement.clone();
    let commitment = RollCommitment {
        size: st.size,
        root: st.root,
    };
    if roll.entries.len() as u64 != st.size {
        return Err(AppError::Setup(format!(
            "{}: {} entries, the signed statement says {}",
            roll_path.display(),
            roll.entries.len(),
            st.size
        )));
    }
    std::fs::create_dir(out_dir).map_err(|source| AppError::Io {
        context: format!("creating {} (it must not exist yet)", out_dir.display()),
        source,
    })?;
    let started = std::time::Instant::now();
    let issued = issue(st.election_id, commitment, &key)?;
    write_new(
        &out_dir.join("credentials.json"),
        &serde_json::to_string(&issued.list).expect("list encodes"),
    )?;
    let record = IssuedFile {
        election_id: st.election_id,
        roll: commitment,
        voters: roll
            .entries
            .iter()
            .zip(&issued.public)
            .map(|(e, p)| (e.id.clone(), *p))
            .collect(),
        revoked: Vec::new(),
    };
    write_private(&out_dir.join("issued.json"), &record)?;
    match cards {
        CardFormat::Csv => {
            let path = out_dir.join("cards.csv");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|source| AppError::Io {
                    context: format!("creating {}", path.display()),
                    source,
                })?;
            let mut w = std::io::BufWriter::new(f);
            let mut line = |s: String| {
                w.write_all(s.as_bytes()).map_err(|source| AppError::Io {
                    context: format!("writing {}", path.display()),
                    source,
                })
            };
            line("id,name,code\n".into())?;
            for (e, c) in roll.entries.iter().zip(&issued.codes) {
                line(format!(
                    "{},{},{}\n",
                    csv_cell(&e.id),
                    csv_cell(&e.name),
                    c.to_text()
                ))?;
            }
        }
        CardFormat::Svg => {
            let dir = out_dir.join("cards");
            std::fs::create_dir(&dir).map_err(|source| AppError::Io {
                context: format!("creating {}", dir.display()),
                source,
            })?;
            for (e, c) in roll.entries.iter().zip(&issued.codes) {
                let svg = card_svg(title, st.election_id, &e.id, &e.name, c);
                write_new(&dir.join(format!("{}.svg", file_safe(&e.id))), &svg)?;
            }
        }
    }
    println!(
        "issued {} credentials for election {} in {:.1} s",
        issued.codes.len(),
        st.election_id,
        started.elapsed().as_secs_f64()
    );
    println!(
        "public: {}/credentials.json (for the genesis: genesis --credentials); private: \
         {0}/issued.json (keep it to replace lost cards) and the cards (print, hand out, delete)",
        out_dir.display()
    );
    Ok(())
}

fn write_private<T: Serialize>(path: &Path, v: &T) -> Result<(), AppError> {
    let text = serde_json::to_string_pretty(v).expect("record encodes");
    keyfile::write_secret(path, text.as_bytes())?;
    Ok(())
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn file_safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A voting card (85.6 x 54 mm, a bank card's size): the election, the
/// voter (so that it reaches them), the code to type and its QR code.
pub fn card_svg(
    title: &str,
    election_id: u64,
    id: &str,
    name: &str,
    code: &CredentialCode,
) -> String {
    let text = code.to_text();
    let qr = qrcode::QrCode::new(text.as_bytes())
        .map(|q| {
            q.render::<qrcode::render::svg::Color>()
                .quiet_zone(false)
                .build()
        })
        .unwrap_or_default();
    let inner = qr.split_once("<svg").map_or(String::new(), |(_, rest)| {
        format!("<svg x=\"58\" y=\"14\" width=\"24\" height=\"24\"{rest}")
    });
    let title = if title.is_empty() {
        format!("Election {election_id}")
    } else {
        title.to_string()
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"85.6mm\" height=\"54mm\" viewBox=\"0 0 85.6 54\">\n\
         <rect x=\"0.5\" y=\"0.5\" width=\"84.6\" height=\"53\" rx=\"3\" fill=\"#fff\" stroke=\"#000\" stroke-width=\"0.3\"/>\n\
         <text x=\"4\" y=\"8\" font-family=\"sans-serif\" font-size=\"4\" font-weight=\"bold\">{}</text>\n\
         <text x=\"4\" y=\"14\" font-family=\"sans-serif\" font-size=\"3\">Voting card</text>\n\
         <text x=\"4\" y=\"21\" font-family=\"sans-serif\" font-size=\"3\">{}</text>\n\
         <text x=\"4\" y=\"26\" font-family=\"sans-serif\" font-size=\"2.5\">Voter {}</text>\n\
         <text x=\"4\" y=\"46\" font-family=\"monospace\" font-size=\"4.2\" font-weight=\"bold\">{}</text>\n\
         <text x=\"4\" y=\"51\" font-family=\"sans-serif\" font-size=\"2\">Show this card at the booth or type its code. Keep it secret: it is your vote.</text>\n\
         {inner}\n</svg>\n",
        xml(&title),
        xml(name),
        xml(id),
        xml(&text),
    )
}

fn replace_command(
    issued_path: &Path,
    voter: &str,
    key: &Path,
    genesis_path: &Path,
    card: &Path,
    out: &Path,
    submit: Option<String>,
) -> Result<(), AppError> {
    let key = keyfile::read_node_key(key)?;
    let genesis = crate::app::load_genesis(genesis_path)?;
    let chain_id = genesis
        .chain_id()
        .map_err(|e| AppError::Setup(e.to_string()))?;
    if genesis.credential_authority != key.public() {
        return Err(AppError::Setup(format!(
            "{}: this key is not the genesis's credential authority",
            key.public()
        )));
    }
    let mut record: IssuedFile = serde_json::from_str(&read(issued_path)?).map_err(|e| {
        AppError::Setup(format!(
            "{}: not an issued.json: {e}",
            issued_path.display()
        ))
    })?;
    let revoked = *record.voters.get(voter).ok_or_else(|| {
        AppError::Setup(format!(
            "voter {voter:?} is not in {}",
            issued_path.display()
        ))
    })?;
    let code = CredentialCode::from_secret(crate::auth::random_bytes::<CODE_SECRET_LEN>());
    let replacement = code.key(record.election_id).public();
    let tx = CredentialReplacementTx {
        chain_id,
        election_id: record.election_id,
        revoked,
        replacement,
        issued_at_ms: now_ms(),
        origin: key.public(),
    };
    let stx = SignedTx::sign(Transaction::CredentialReplacement(tx), &key)
        .map_err(|e| AppError::Setup(e.to_string()))?;
    crate::ledger::check_tx(&genesis, &chain_id, &stx, now_ms())
        .map_err(|e| AppError::Setup(format!("the replacement is refused ({}): {e}", e.code())))?;
    let title = genesis
        .election(record.election_id)
        .map_or(String::new(), |e| e.name.clone());
    write_new(
        card,
        &card_svg(
            &title,
            record.election_id,
            voter,
            "(replacement card)",
            &code,
        ),
    )?;
    write_new(
        out,
        &serde_json::to_string_pretty(&stx).expect("record encodes"),
    )?;
    record.voters.insert(voter.to_string(), replacement);
    record.revoked.push(revoked);
    let text = serde_json::to_string_pretty(&record).expect("record encodes");
    std::fs::write(issued_path, text).map_err(|source| AppError::Io {
        context: format!("writing {}", issued_path.display()),
        source,
    })?;
    println!(
        "voter {voter}: credential {revoked} revoked, {replacement} issued; card {}, record {}",
        card.display(),
        out.display()
    );
    if let Some(url) = submit {
        let tx = crate::net::client::send_transaction(&url, &stx).map_err(AppError::Setup)?;
        println!("submitted to {url} as transaction {tx}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::crypto::test_keys::key;

    #[test]
    fn a_roll_csv_reads_quotes_stations_and_districts() {
        let stations = BTreeMap::from([("North".to_string(), key(100).public())]);
        let text = "\u{feff}ID,Name,Station,District\r\n\
                    V1,\"Doe, Jane\",North,\r\n\
                    V2,\"Said \"\"Sam\"\" Smith\",,East\n\n";
        let rows = read_roll_csv(text, &stations).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "Doe, Jane");
        assert_eq!(rows[0].station, Some(key(100).public()));
        assert_eq!(rows[0].district, None);
        assert_eq!(rows[1].name, "Said \"Sam\" Smith");
        assert_eq!(rows[1].district.as_deref(), Some("East"));
        assert!(read_roll_csv("id,name\nV1,A,South\n", &stations).is_ok());
        assert!(read_roll_csv("id,name,station\nV1,A,South\n", &stations).is_err());
        assert!(read_roll_csv("name\nA\n", &stations).is_err());
        assert!(read_roll_csv("id,name\n\"V1,A\n", &stations).is_err());
    }

    #[test]
    fn issued_credentials_are_the_cards_keys_and_sign_the_genesis_list() {
        let rows = (0..50)
            .map(|i| RollRow {
                id: format!("V{i}"),
                name: format!("Voter {i}"),
                district: None,
                station: None,
            })
            .collect();
        let roll = build_roll(3, rows, &key(200)).unwrap();
        let st = &roll.file.statement;
        let c = RollCommitment {
            size: st.size,
            root: st.root,
        };
        let issued = issue(3, c, &key(201)).unwrap();
        assert_eq!(issued.codes.len(), 50);
        for (code, public) in issued.codes.iter().zip(&issued.public) {
            let typed = CredentialCode::parse(&code.to_text()).unwrap();
            assert_eq!(&typed.key(3).public(), public);
        }
        let e = issued.list.eligibility(&key(201).public()).unwrap();
        let crate::ledger::Eligibility::Roll {
            roll: r,
            credentials,
        } = e
        else {
            panic!("a roll")
        };
        assert_eq!(r, c);
        assert!(credentials.windows(2).all(|w| w[0] < w[1]));
        assert!(issued.list.eligibility(&key(200).public()).is_err());
        let svg = card_svg("Test", 3, "V1", "A <b>", &issued.codes[0]);
        assert!(svg.contains(&issued.codes[0].to_text()) && svg.contains("A &lt;b&gt;"));
        assert!(svg.matches("<svg").count() == 2, "{svg}");
    }
}
