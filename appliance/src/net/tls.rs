//! TLS: the certificate a door presents (rustls on ring, no OpenSSL),
//! reloaded on SIGHUP, and the certificates this process trusts when it
//! calls another appliance's door over https.
//!
//! A door's [`DoorCert`] is the rustls certificate resolver of every
//! handshake at that door: a reload swaps the certificate and key it hands
//! out, so the listener stays open, connections already open keep the
//! session they made, and new ones get the new certificate. A reload that
//! cannot read the files, parse them, or match the key to the certificate
//! changes nothing: the door keeps the certificate it had.

use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{cert} and {key}: {message}")]
    Pair {
        cert: String,
        key: String,
        message: String,
    },
}

fn file_error(path: &Path, message: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file, in order; an error if it holds none.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// A certificate chain and its key, read and checked: the key file must
/// be readable by its owner only (like every key file of the appliance),
/// the key one rustls signs with, and the one the first certificate names.
pub fn load(files: &TlsFiles) -> Result<Arc<CertifiedKey>, TlsError> {
    let certs = read_certificates(&files.cert_file)?;
    let pem =
        zeroize::Zeroizing::new(crate::keyfile::read_secret(&files.key_file).map_err(|e| {
            TlsError::File {
                path: files.key_file.display().to_string(),
                message: e.to_string(),
            }
        })?);
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| file_error(&files.key_file, format!("no private key: {e}")))?;
    let pair = CertifiedKey::from_der(certs, key, &provider()).map_err(|e| TlsError::Pair {
        cert: files.cert_file.display().to_string(),
        key: files.key_file.display().to_string(),
        message: format!("not a certificate and its key: {e}"),
    })?;
    Ok(Arc::new(pair))
}

/// The certificate a door presents, replaceable while it serves.
#[derive(Debug)]
pub struct DoorCert {
    door: &'static str,
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl DoorCert {
    /// Reads the door's certificate and key; an error stops the start.
    pub fn load(door: &'static str, files: &TlsFiles) -> Result<Arc<Self>, TlsError> {
        Ok(Arc::new(Self {
            door,
            files: files.clone(),
            current: RwLock::new(load(files)?),
        }))
    }

    /// Reads the files again. On success new handshakes use the new
    /// certificate; on an error the old one stays and the error is logged.
    pub fn reload(&self) -> Result<(), TlsError> {
        match load(&self.files) {
            Ok(pair) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = pair;
                tracing::info!(
                    door = self.door,
                    cert = %self.files.cert_file.display(),
                    "TLS certificate reloaded"
                );
                Ok(())
            }
            Err(e) => {
                tracing::error!(
                    door = self.door,
                    "TLS certificate not reloaded, the door keeps its certificate: {e}"
                );
                Err(e)
            }
        }
    }

    /// The rustls configuration of the door's handshakes: TLS 1.2 and 1.3,
    /// HTTP/1.1, this certificate.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(cfg)
    }
}

impl ResolvesServerCert for DoorCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// What this process trusts when it calls a door over https: the
/// certificates of `ca_file` (CA certificates, or a server's own
/// self-signed one), or without it the public web's roots.
pub fn client_config(ca_file: Option<&Path>) -> Result<ureq::tls::TlsConfig, TlsError> {
    let roots = match ca_file {
        None => ureq::tls::RootCerts::WebPki,
        Some(path) => {
            let certs = read_certificates(path)?;
            ureq::tls::RootCerts::new_with_certs(
                &certs
                    .iter()
                    .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                    .collect::<Vec<_>>(),
            )
        }
    };
    Ok(ureq::tls::TlsConfig::builder().root_certs(roots).build())
}

static TRUST: OnceLock<ureq::tls::TlsConfig> = OnceLock::new();

/// Sets, once per process and before any call, what its https calls trust
/// (`tls_ca_file`, the command line's `--ca-file`). Later calls change
/// nothing.
pub fn trust(ca_file: Option<&Path>) -> Result<(), TlsError> {
    let cfg = client_config(ca_file)?;
    let _ = TRUST.set(cfg);
    Ok(())
}

/// The TLS settings of this process's https calls ([`trust`]; the public
/// web's roots when nothing was set).
pub fn trusted() -> ureq::tls::TlsConfig {
    TRUST.get().cloned().unwrap_or_default()
}
