//! TLS on the relay's own listener (`serve --tls-cert FILE --tls-key FILE`): rustls with
//! the `ring` provider, HTTP/1.1 (WebSocket upgrades included).
//!
//! Renewal without a restart: before each handshake the listener `stat`s both files
//! (cheap next to a handshake) and, when either changed, reads them again. A new pair is
//! used only once it parses and the key matches the certificate; until then (a renewal
//! tool that has written the certificate but not yet the key) the previous pair keeps
//! serving, and the failure is logged once per change. Connections already open keep the
//! certificate they were made with.
//!
//! Handshakes run in each connection's own task (`listen.rs`), each bounded by
//! [`HANDSHAKE_TIMEOUT`], so a client that opens a socket and says nothing never holds up
//! anyone else's accept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// How long a client has to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What identifies a file's version: changes when it is rewritten or replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(
    Option<(SystemTime, u64, u64)>,
    Option<(SystemTime, u64, u64)>,
);

fn file_stamp(path: &Path) -> Option<(SystemTime, u64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}

struct Current {
    key: Arc<CertifiedKey>,
    /// The files' versions when `key` was read.
    loaded: Stamp,
    /// The versions that last failed to load (logged once, not on every handshake).
    failed: Option<Stamp>,
}

/// The relay's certificate and key, read from PEM files and re-read when they change.
pub struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
}

impl std::fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFiles")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish()
    }
}

impl CertFiles {
    /// Reads the certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or
    /// SEC1 PEM). Errors name the file and what is wrong with it.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertFiles>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded = Stamp(file_stamp(cert), file_stamp(key));
        let certified = read_pair(cert, key, &provider)?;
        Ok(Arc::new(CertFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: Mutex::new(Current {
                key: Arc::new(certified),
                loaded,
                failed: None,
            }),
        }))
    }

    /// Re-reads the files if they changed since they were last read.
    pub fn refresh(&self) {
        let now = Stamp(file_stamp(&self.cert), file_stamp(&self.key));
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.loaded == now || cur.failed.as_ref() == Some(&now) {
            return;
        }
        match read_pair(&self.cert, &self.key, &self.provider) {
            Ok(k) => {
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                cur.key = Arc::new(k);
                cur.loaded = now;
                cur.failed = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the changed TLS certificate or key cannot be used yet; still serving the previous one");
                cur.failed = Some(now);
            }
        }
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .key
            .clone()
    }

    /// The rustls server configuration: this certificate, HTTP/1.1.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for CertFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn read_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{} holds no `-----BEGIN CERTIFICATE-----` block (--tls-cert wants the PEM certificate chain)",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "cannot read the TLS private key {}: {e} (--tls-key wants a PEM private key)",
            key.display()
        )
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e| {
        format!(
            "the TLS key {} does not go with the certificate {}: {e}",
            key.display(),
            cert.display()
        )
    })
}

/// Makes TLS streams of accepted TCP connections (see `listen.rs`, which runs each
/// handshake in the connection's own task).
#[derive(Clone)]
pub struct TlsAcceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    certs: Arc<CertFiles>,
}

impl TlsAcceptor {
    pub fn new(certs: Arc<CertFiles>) -> Result<TlsAcceptor, String> {
        Ok(TlsAcceptor {
            acceptor: tokio_rustls::TlsAcceptor::from(certs.server_config()?),
            certs,
        })
    }

    /// The handshake, with the current certificate (re-read first if its files changed),
    /// bounded by [`HANDSHAKE_TIMEOUT`].
    pub async fn handshake(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, String> {
        self.certs.refresh();
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => Ok(tls),
            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
            Err(_) => Err("TLS handshake timed out".into()),
        }
    }
}
