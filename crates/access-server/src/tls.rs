//! HTTPS without a reverse proxy: rustls (with the ring provider, already in the tree through
//! reqwest), the certificate chain and private key from PEM files, re-read on SIGHUP so a
//! renewed certificate (e.g. by certbot's deploy hook) is served without a restart. A reload
//! that fails keeps the certificate being served and says why in the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {path}: {source}")]
    Cert {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("TLS certificate {0}: no certificate in the file")]
    NoCert(PathBuf),
    #[error("TLS private key {path}: {source}")]
    Key {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("TLS certificate and key do not make a server configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The acceptor being served, replaced whole by [`Tls::reload`].
pub struct Tls {
    cfg: TlsConfig,
    acceptor: RwLock<TlsAcceptor>,
}

impl Tls {
    /// Reads the PEM files named by `cfg`.
    ///
    /// # Errors
    /// [`TlsError`] when a file is unreadable, holds no certificate or key, or the key does not
    /// fit the certificate.
    pub fn load(cfg: &TlsConfig) -> Result<Arc<Self>, TlsError> {
        let acceptor = acceptor(&cfg.cert, &cfg.key)?;
        Ok(Arc::new(Self {
            cfg: cfg.clone(),
            acceptor: RwLock::new(acceptor),
        }))
    }

    /// Re-reads the files; on error the current certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = acceptor(&self.cfg.cert, &self.cfg.key)?;
        *self.acceptor.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The `Strict-Transport-Security` value, or None when `hsts_max_age_s` is 0.
    pub fn hsts(&self) -> Option<String> {
        (self.cfg.hsts_max_age_s > 0).then(|| format!("max-age={}", self.cfg.hsts_max_age_s))
    }
}

fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert {
            path: cert.to_path_buf(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert(cert.to_path_buf()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_path_buf(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    // HTTP/1.1 only, as the accept loop serves (its header timeout covers a silent client).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
