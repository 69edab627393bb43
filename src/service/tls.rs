//! HTTPS (`--tls-cert`, `--tls-key`): the certificate chain and private key, read from
//! PEM files into a rustls server configuration, and read again on SIGHUP (a renewed
//! certificate takes effect for new connections without a restart; a broken pair keeps
//! the one in use). The handshake itself runs in the connection, not in the accept
//! loop, so a client that never finishes it holds up no one else.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;

use crate::error::Error;

/// The certificate and key files and the acceptor made from them.
pub(crate) struct Tls {
    cert: PathBuf,
    key: PathBuf,
    acceptor: ArcSwap<TlsAcceptor>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish()
    }
}

impl Tls {
    /// Reads the pair; a missing file, a file without a certificate or key, or a key
    /// that does not fit the certificate stops the service from starting.
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<Tls, Error> {
        Ok(Tls {
            acceptor: ArcSwap::from_pointee(acceptor(cert, key)?),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })
    }

    /// Reads the pair again; on error the pair in use stays.
    pub(crate) fn reload(&self) -> Result<(), Error> {
        let acceptor = acceptor(&self.cert, &self.key)?;
        self.acceptor.store(Arc::new(acceptor));
        Ok(())
    }

    /// The acceptor for a new connection.
    pub(crate) fn acceptor(&self) -> Arc<TlsAcceptor> {
        self.acceptor.load_full()
    }

    pub(crate) fn cert_path(&self) -> &Path {
        &self.cert
    }
}

fn invalid(path: &Path, message: String) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, message),
    }
}

fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, Error> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| {
            invalid(
                cert,
                format!("cannot read the certificate chain (PEM): {e}"),
            )
        })?;
    if chain.is_empty() {
        return Err(invalid(
            cert,
            "no certificate in the file; --tls-cert takes a PEM file with `BEGIN CERTIFICATE` blocks".into(),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        invalid(
            key,
            format!("cannot read the private key (PEM, `BEGIN PRIVATE KEY` or `BEGIN EC/RSA PRIVATE KEY`): {e}"),
        )
    })?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(cert, format!("cannot set up TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| invalid(key, format!("the key does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
