//! `evote-appliance dev`: one command that creates whatever is missing in a
//! data directory (keys, secrets, a one-validator genesis with a demo
//! election, a config) and runs the appliance on it. Running it again on
//! the same directory resumes the same chain.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::files::write;
use crate::app::AppError;
use crate::auth::random_bytes;
use crate::clock::now_ms;
use crate::config::Config;
use crate::keyfile;
use crate::ledger::genesis::PROTOCOL;
use crate::ledger::{Eligibility, Genesis, Params, ValidatorInfo};

/// How long the demo election stays open.
pub const DEMO_ELECTION_DAYS: u64 = 30;

pub fn prepare(
    data_dir: &Path,
    listen: SocketAddr,
    peer_listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
) -> Result<Config, AppError> {
    std::fs::create_dir_all(data_dir).map_err(|source| AppError::Io {
        context: format!("creating {}", data_dir.display()),
        source,
    })?;
    let p = |name: &str| data_dir.join(name);
    let key = ensure_key(&p("node.key"))?;
    let authority = ensure_key(&p("authority.key"))?;
    // The demo election has open registration: its credential authority
    // issues nothing, but the genesis names one, as every genesis does.
    let credential_authority = ensure_key(&p("credential-authority.key"))?;
    ensure_secret(&p("nullifier.secret"))?;
    ensure_secret(&p("admin.token"))?;
    let mut cfg = Config::new(
        data_dir.to_path_buf(),
        listen,
        p("node.key"),
        p("genesis.json"),
        p("nullifier.secret"),
        p("admin.token"),
    );
    cfg.peer_listen = peer_listen;
    cfg.admin_listen = admin_listen;
    cfg.peer_listen = Some(cfg.peer_addr());
    cfg.admin_listen = Some(cfg.admin_addr());
    let genesis_path = p("genesis.json");
    if !genesis_path.exists() {
        // The demo election's one trustee is this data directory.
        let (trustees, keys) =
            crate::ledger::tally::local_ceremony(1, 1, 1, &mut crate::auth::OsRandom::default())
                .map_err(|e| AppError::Setup(e.to_string()))?;
        super::trustee::write_trustee_key(&p("trustee-1.key"), &keys[0])?;
        let g = demo_genesis(
            key,
            (authority, credential_authority),
            &cfg.peer_url(),
            trustees,
        );
        write(
            &genesis_path,
            &serde_json::to_string_pretty(&g).expect("genesis encodes"),
        )?;
    }
    let toml_path = p("appliance.toml");
    if !toml_path.exists() {
        write(&toml_path, &cfg.to_toml())?;
    }
    Ok(cfg)
}

fn ensure_key(path: &Path) -> Result<crate::ledger::PublicKey, AppError> {
    let k = if path.exists() {
        keyfile::read_node_key(path)?
    } else {
        keyfile::generate_node_key(path)?
    };
    Ok(k.public())
}

fn ensure_secret(path: &Path) -> Result<(), AppError> {
    if !path.exists() {
        keyfile::write_secret(path, hex::encode(random_bytes::<32>()).as_bytes())?;
    }
    Ok(())
}

/// The demo chain: this node as its only validator, one election with
/// open registration (anyone may register and vote: a demo, not an
/// election; PROTOCOL.md §3a).
fn demo_genesis(
    key: crate::ledger::PublicKey,
    (authority, credential_authority): (crate::ledger::PublicKey, crate::ledger::PublicKey),
    peer_url: &str,
    trustees: crate::ledger::ElectionTrustees,
) -> Genesis {
    let now = now_ms() / 1000 * 1000;
    Genesis {
        protocol: PROTOCOL.into(),
        chain_name: "evote-dev".into(),
        created_at_ms: now,
        authority,
        credential_authority,
        validators: vec![ValidatorInfo {
            public_key: key,
            name: "dev-validator".into(),
            p2p_url: peer_url.to_string(),
        }],
        stations: Vec::new(),
        elections: vec![super::demo_election(
            "Demo election",
            now,
            now + DEMO_ELECTION_DAYS * 86_400_000,
            trustees,
            Eligibility::Open {},
        )],
        params: Params::default(),
    }
}

/// What `dev` prints before it starts serving.
pub fn banner(cfg: &Config) -> String {
    let url = format!("http://{}", cfg.listen);
    let admin = format!("http://{}", cfg.admin_addr());
    let peer = cfg.peer_url();
    let dir: PathBuf = cfg.data_dir.clone();
    format!(
        "evote-appliance dev\n\
         \x20 data:      {dir}\n\
         \x20 public door:   {url}   voter API: {url}/api/...   health: {url}/health   JSON-RPC: {url}/rpc\n\
         \x20 peer door:     {peer}/p2p/...\n\
         \x20 operator door: {admin}/api/admin/...   metrics: {admin}/metrics\n\
         \x20 admin token: {dir}/admin.token\n\n\
         Try it:\n\
         \x20 curl -s {url}/api/elections\n\
         \x20 curl -s -X POST {url}/api/auth/register -H 'content-type: application/json' \\\n\
         \x20      -d '{{\"email\":\"ada@example.org\",\"password\":\"correct horse\",\"name\":\"Ada\"}}'\n\
         \x20 TOKEN=$(curl -s -X POST {url}/api/auth/login -H 'content-type: application/json' \\\n\
         \x20      -d '{{\"email\":\"ada@example.org\",\"password\":\"correct horse\"}}' | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')\n\
         \x20 curl -s -X POST {url}/api/votes/submit -H \"authorization: Bearer $TOKEN\" \\\n\
         \x20      -H 'content-type: application/json' -d '{{\"election_id\":1,\"candidate_id\":2}}'\n\
         \x20 curl -s '{url}/api/votes/results?election_id=1'\n",
        dir = dir.display()
    )
}
