//! The appliance's TOML configuration (`run --config FILE`); command-line
//! flags override it. Relative paths are taken from the config file's
//! directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
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
    /// A bootnode's base URL, for discovery.
    #[serde(default)]
    pub bootnode: Option<String>,
    /// The URL other appliances reach this one at (default: from `listen`).
    #[serde(default)]
    pub public_url: Option<String>,
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

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(crate::store::DB_FILE)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serializes")
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
}
