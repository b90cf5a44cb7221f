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
    /// The election authority's signed roll files (`evote-appliance
    /// election roll`) this appliance checks voters in against, one per
    /// election with a roll; each is checked against the genesis and
    /// installed at start. They hold names: never publish them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rolls: Vec<PathBuf>,
    /// Serve a door with plain HTTP on an address beyond loopback. Without
    /// it, a public or operator door that listens beyond loopback without
    /// TLS is refused at start: passwords, session tokens and the admin
    /// token would cross the network in clear text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_plain_http: bool,
    /// Certificates this appliance trusts when it calls another appliance's
    /// public door over https (a PEM file of CA or server certificates;
    /// default: the public web's roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// Open connections the public door takes from one client address
    /// (default [`crate::net::server::PUBLIC_CONNECTIONS_PER_CLIENT`]; at
    /// most the door's whole cap). Kiosks behind one NAT address, or a
    /// proxy in front of many, share one address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections_per_client: Option<usize>,
    /// TLS at the public door (table `[tls]`): reloaded on SIGHUP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// TLS at the operator door (table `[admin_tls]`): reloaded on SIGHUP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_tls: Option<TlsFiles>,
}

/// A door's TLS certificate: a PEM file holding the certificate chain
/// (the door's certificate first, then any intermediates) and a PEM file
/// holding its private key (PKCS#8, PKCS#1 or SEC1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
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
    pub tls: Option<TlsFiles>,
    pub admin_tls: Option<TlsFiles>,
    pub tls_ca_file: Option<PathBuf>,
    pub allow_plain_http: bool,
}

impl Config {
    /// A configuration with the files every appliance needs and every
    /// optional key at its default.
    pub fn new(
        data_dir: PathBuf,
        listen: SocketAddr,
        key: PathBuf,
        genesis: PathBuf,
        nullifier_secret_file: PathBuf,
        admin_token_file: PathBuf,
    ) -> Self {
        Config {
            data_dir,
            listen,
            peer_listen: None,
            admin_listen: None,
            key,
            genesis,
            nullifier_secret_file,
            admin_token_file,
            peers: Vec::new(),
            validator_urls: BTreeMap::new(),
            bootnode: None,
            public_url: None,
            rpc_url: None,
            log: None,
            offline: false,
            full_integrity_check: false,
            rolls: Vec::new(),
            allow_plain_http: false,
            tls_ca_file: None,
            max_connections_per_client: None,
            tls: None,
            admin_tls: None,
        }
    }

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
        ]
        .into_iter()
        .chain(self.rolls.iter_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        let tls_paths = [&mut self.tls, &mut self.admin_tls]
            .into_iter()
            .flatten()
            .flat_map(|t| [&mut t.cert_file, &mut t.key_file]);
        for p in tls_paths.chain(self.tls_ca_file.as_mut()) {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    pub fn apply(&mut self, o: Overrides) {
        overrides(&mut self.data_dir, o.data_dir);
        overrides(&mut self.listen, o.listen);
        overrides(&mut self.peer_listen, o.peer_listen.map(Some));
        overrides(&mut self.admin_listen, o.admin_listen.map(Some));
        overrides(&mut self.key, o.key);
        overrides(&mut self.genesis, o.genesis);
        overrides(&mut self.bootnode, o.bootnode.map(Some));
        self.peers.extend(o.peers);
        self.offline |= o.offline;
        self.full_integrity_check |= o.full_integrity_check;
        overrides(&mut self.tls, o.tls.map(Some));
        overrides(&mut self.admin_tls, o.admin_tls.map(Some));
        overrides(&mut self.tls_ca_file, o.tls_ca_file.map(Some));
        self.allow_plain_http |= o.allow_plain_http;
    }

    /// A public or operator door beyond loopback speaks TLS, unless
    /// `allow_plain_http` says plain HTTP there is meant. (The peer door
    /// carries nothing secret: every request on it is signed.)
    pub fn check_doors(&self) -> Result<(), ConfigError> {
        if self.allow_plain_http {
            return Ok(());
        }
        let doors = [
            ("public", "listen", self.listen, &self.tls, "[tls]"),
            (
                "operator",
                "admin_listen",
                self.admin_addr(),
                &self.admin_tls,
                "[admin_tls]",
            ),
        ];
        for (door, key, addr, tls, table) in doors {
            if tls.is_none() && !addr.ip().is_loopback() {
                return Err(ConfigError::Invalid(format!(
                    "the {door} door listens on {addr} ({key}), beyond loopback, without TLS: \
                     configure a certificate ({table} cert_file and key_file), or set \
                     allow_plain_http = true to serve plain HTTP there on purpose"
                )));
            }
        }
        Ok(())
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

    /// The base URL of the public door (https when it has a certificate).
    pub fn rpc_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        self.rpc_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.listen))
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

/// A command-line flag given replaces what the file says.
fn overrides<T>(field: &mut T, flag: Option<T>) {
    if let Some(v) = flag {
        *field = v;
    }
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

    #[test]
    fn a_door_beyond_loopback_needs_a_certificate_or_allow_plain_http() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("appliance.toml");
        let load = |extra: &str| {
            std::fs::write(&p, format!("{SAMPLE}{extra}")).unwrap();
            Config::load(&p).unwrap()
        };
        // Loopback: plain HTTP is fine.
        load("").check_doors().unwrap();
        // The public door on the LAN without a certificate is refused.
        let lan = SAMPLE.replace("127.0.0.1:8001", "10.0.0.1:8001");
        std::fs::write(&p, &lan).unwrap();
        let c = Config::load(&p).unwrap();
        let err = c.check_doors().unwrap_err().to_string();
        assert!(
            err.contains("public door") && err.contains("[tls]"),
            "{err}"
        );
        // With dotted keys (as the Debian conffile writes them), relative
        // paths taken from the file's directory.
        let tls = "tls.cert_file = \"tls/cert.pem\"\ntls.key_file = \"tls/key.pem\"\n";
        std::fs::write(&p, format!("{lan}{tls}")).unwrap();
        let c = Config::load(&p).unwrap();
        c.check_doors().unwrap();
        let files = c.tls.clone().unwrap();
        assert_eq!(files.cert_file, dir.path().join("tls/cert.pem"));
        assert_eq!(files.key_file, dir.path().join("tls/key.pem"));
        assert!(c.rpc_url().starts_with("https://10.0.0.1:8001"));
        let again: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(again, c);
        // An operator door on the LAN needs its own.
        std::fs::write(&p, format!("{lan}{tls}admin_listen = \"10.0.0.1:8003\"\n")).unwrap();
        let err = Config::load(&p)
            .unwrap()
            .check_doors()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("operator door") && err.contains("[admin_tls]"),
            "{err}"
        );
        // Unless plain HTTP is asked for.
        std::fs::write(&p, format!("{lan}allow_plain_http = true\n")).unwrap();
        Config::load(&p).unwrap().check_doors().unwrap();
    }

    /// The Debian conffile loads as installed, and with every key it
    /// documents (commented out) set: each is a real key of this version.
    #[test]
    fn the_debian_conffile_and_every_key_it_documents_load() {
        let conffile = include_str!("../../packaging/appliance/appliance.toml");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("appliance.toml");
        std::fs::write(&p, conffile).unwrap();
        let c = Config::load(&p).unwrap();
        c.check_doors().unwrap();
        let uncommented: String = conffile
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest)
                    if rest.starts_with(|ch: char| ch.is_ascii_lowercase())
                        && rest.contains(" = ") =>
                {
                    rest
                }
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&p, &uncommented).unwrap();
        let all = Config::load(&p).unwrap();
        assert_eq!(
            all.tls.unwrap().cert_file,
            PathBuf::from("/etc/evote/tls/cert.pem")
        );
        assert!(all.admin_tls.is_some() && all.tls_ca_file.is_some());
        assert_eq!(all.max_connections_per_client, Some(1024));
    }
}
