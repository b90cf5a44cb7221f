//! The appliance's TOML configuration (`run --config FILE`); command-line
//! flags override it. Relative paths are taken from the config file's
//! directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ledger::Genesis;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Every key of `appliance.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database lives.
    pub data_dir: PathBuf,
    /// Address of the public door (voters, observers, JSON-RPC).
    pub listen: SocketAddr,
    /// Address of the peer door (the peer protocol between appliances; a
    /// validator's genesis `p2p_url` points here). Default: the public
    /// door's address, port + 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_listen: Option<SocketAddr>,
    /// Address of the operator door (admin API, metrics). Default: the
    /// loopback address, the public door's port + 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_listen: Option<SocketAddr>,
    /// This appliance's Ed25519 key (PKCS#8, mode 0600).
    pub key: PathBuf,
    /// The chain's genesis file.
    pub genesis: PathBuf,
    /// The election-wide nullifier secret (hex, mode 0600).
    pub nullifier_secret_file: PathBuf,
    /// The admin token (mode 0600).
    pub admin_token_file: PathBuf,
    /// Peers' base URLs.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Validators reached at another address than their genesis p2p URL
    /// (a relay, a VPN address, a polling station behind NAT): validator
    /// name → base URL. The genesis is fixed at the key ceremony; where a
    /// validator is reachable from this appliance may not be.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub validator_urls: BTreeMap<String, String>,
    /// A bootnode's base URL, for discovery.
    #[serde(default)]
    pub bootnode: Option<String>,
    /// The URL other appliances reach this one's peer door at (default:
    /// from `peer_listen`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// The URL voters and observers reach the public door at, as peers
    /// report it (default: from `listen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    /// Log filter, e.g. "info" or "evote_appliance=debug".
    #[serde(default)]
    pub log: Option<String>,
    /// Never use the network: record every ballot in the fallback (device)
    /// chain, for jurisdictions that forbid networked polling equipment.
    #[serde(default)]
    pub offline: bool,
    /// Run SQLite's full `integrity_check` at start (default: the quick one).
    #[serde(default)]
    pub full_integrity_check: bool,
}

/// Flags of `run` that override the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub peer_listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub key: Option<PathBuf>,
    pub genesis: Option<PathBuf>,
    pub bootnode: Option<String>,
    /// Added to the configured peers.
    pub peers: Vec<String>,
    pub offline: bool,
    pub full_integrity_check: bool,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut cfg: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        Ok(cfg)
    }

    fn resolve_paths(&mut self, base: &Path) {
        for p in [
            &mut self.data_dir,
            &mut self.key,
            &mut self.genesis,
            &mut self.nullifier_secret_file,
            &mut self.admin_token_file,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    pub fn apply(&mut self, o: Overrides) {
        if let Some(v) = o.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = o.listen {
            self.listen = v;
        }
        if let Some(v) = o.peer_listen {
            self.peer_listen = Some(v);
        }
        if let Some(v) = o.admin_listen {
            self.admin_listen = Some(v);
        }
        if let Some(v) = o.key {
            self.key = v;
        }
        if let Some(v) = o.genesis {
            self.genesis = v;
        }
        if let Some(v) = o.bootnode {
            self.bootnode = Some(v);
        }
        self.peers.extend(o.peers);
        self.offline |= o.offline;
        self.full_integrity_check |= o.full_integrity_check;
    }

    /// Every name of `validator_urls` must be a validator of `genesis` and
    /// every URL an http(s) base URL: a misspelt name would otherwise leave
    /// the validator at an address this appliance cannot reach, silently.
    pub fn check_validator_urls(&self, genesis: &Genesis) -> Result<(), ConfigError> {
        for (name, url) in &self.validator_urls {
            if !genesis.validators.iter().any(|v| &v.name == name) {
                return Err(ConfigError::Invalid(format!(
                    "validator_urls names {name:?}, which is not a validator of the genesis"
                )));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "validator_urls.{name} = {url:?} is not an http:// or https:// URL"
                )));
            }
        }
        Ok(())
    }

    /// Where the peer door listens.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_listen
            .unwrap_or_else(|| next_port(self.listen, self.listen.ip(), 1))
    }

    /// Where the operator door listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_listen
            .unwrap_or_else(|| next_port(self.listen, std::net::Ipv4Addr::LOCALHOST.into(), 2))
    }

    /// The base URL peers reach this appliance's peer door at.
    pub fn peer_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.peer_addr()))
    }

    /// The base URL of the public door.
    pub fn rpc_url(&self) -> String {
        self.rpc_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(crate::store::DB_FILE)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serializes")
    }
}

/// `base`'s port + `by` on `ip` (port 0, "any free port", stays 0).
fn next_port(base: SocketAddr, ip: std::net::IpAddr, by: u16) -> SocketAddr {
    let port = match base.port() {
        0 => 0,
        p => p.saturating_add(by),
    };
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
data_dir = "data"
listen = "127.0.0.1:8001"
key = "node.key"
genesis = "/etc/evote/genesis.json"
nullifier_secret_file = "nullifier.secret"
admin_token_file = "admin.token"
peers = ["http://127.0.0.1:8002"]
"#;

    #[test]
    fn loads_resolves_relative_paths_and_applies_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("appliance.toml");
        std::fs::write(&p, SAMPLE).unwrap();
        let mut c = Config::load(&p).unwrap();
        assert_eq!(c.data_dir, dir.path().join("data"));
        assert_eq!(c.genesis, PathBuf::from("/etc/evote/genesis.json"));
        c.apply(Overrides {
            listen: Some("127.0.0.1:9000".parse().unwrap()),
            ..Overrides::default()
        });
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.peer_addr(), "127.0.0.1:9001".parse().unwrap());
        assert_eq!(c.admin_addr(), "127.0.0.1:9002".parse().unwrap());
        assert_eq!(c.peer_url(), "http://127.0.0.1:9001");
        c.apply(Overrides {
            listen: Some("0.0.0.0:8001".parse().unwrap()),
            peer_listen: Some("10.0.0.1:7001".parse().unwrap()),
            ..Overrides::default()
        });
        assert_eq!(c.peer_addr(), "10.0.0.1:7001".parse().unwrap());
        assert_eq!(
            c.admin_addr(),
            "127.0.0.1:8003".parse().unwrap(),
            "the operator door stays on loopback"
        );
        let again: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("appliance.toml");
        std::fs::write(&p, format!("{SAMPLE}\nlisten_port = 3\n")).unwrap();
        assert!(matches!(Config::load(&p), Err(ConfigError::Parse { .. })));
        std::fs::write(&p, SAMPLE.replace("127.0.0.1:8001", "nowhere")).unwrap();
        assert!(matches!(Config::load(&p), Err(ConfigError::Parse { .. })));
        assert!(matches!(
            Config::load(&dir.path().join("missing.toml")),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn validator_urls_must_name_validators_of_the_genesis() {
        let g = crate::ledger::genesis::fixtures::genesis(3);
        let name = g.validators[1].name.clone();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("appliance.toml");
        let with = |table: &str| {
            std::fs::write(&p, format!("{SAMPLE}\n[validator_urls]\n{table}\n")).unwrap();
            Config::load(&p).unwrap()
        };
        let c = with(&format!("{name:?} = \"http://10.0.0.2:8001\""));
        c.check_validator_urls(&g).unwrap();
        assert_eq!(c.validator_urls[&name], "http://10.0.0.2:8001");
        let again: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(again, c);

        let err = with("nobody = \"http://10.0.0.2:8001\"")
            .check_validator_urls(&g)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("\"nobody\", which is not a validator"),
            "{err}"
        );
        let err = with(&format!("{name:?} = \"10.0.0.2:8001\""))
            .check_validator_urls(&g)
            .unwrap_err();
        assert!(
            err.to_string().contains("not an http:// or https:// URL"),
            "{err}"
        );
    }
}
