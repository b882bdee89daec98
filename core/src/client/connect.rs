//! Dialing the relay: which URLs a device may use, TLS, and what went wrong in words a
//! person can act on.
//!
//! - `wss://` (TLS) is the normal way. The relay's certificate must chain to Mozilla's
//!   root programme (compiled in, `webpki-roots`, so phones need no platform glue) or to a
//!   production's own CA given as PEM ([`ConnectOptions::trusted_ca_pem`]) for a
//!   self-hosted relay. rustls with the `ring` provider.
//! - `ws://` sends the bearer token in the clear, so it is accepted only for this machine
//!   (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`) unless
//!   [`ConnectOptions::allow_insecure_remote`] says otherwise.
//! - A certificate the device does not trust is a [`ConnectError::UntrustedCertificate`],
//!   which [`ConnectError::is_persistent`]: the client then waits its longest backoff
//!   between attempts instead of hammering a relay it will never accept.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite;
use url::{Host, Url};

/// How a device may reach its relay. The default trusts the public roots only and
/// refuses `ws://` to other machines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// A production's own CA certificate(s), PEM, trusted besides the public roots: for a
    /// relay that serves a certificate the production issued itself.
    pub trusted_ca_pem: Option<String>,
    /// Allow `ws://` (and `http://`) to a host other than this machine. The token then
    /// travels in the clear: only for a network you trust end to end.
    pub allow_insecure_remote: bool,
}

/// Why the client could not start or could not connect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("`{url}` is not a relay address: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "refusing {scheme}:// to {host}: the token would travel unencrypted; use {secure}:// \
         (or allow insecure remote connections, on a network you trust)"
    )]
    InsecureRemote {
        scheme: String,
        secure: String,
        host: String,
    },
    #[error("the production CA certificate cannot be used: {reason}")]
    InvalidCa { reason: String },
    #[error("the relay's certificate is not trusted ({host}): {reason}")]
    UntrustedCertificate { host: String, reason: String },
    #[error("TLS with {host} failed: {detail}")]
    Tls { host: String, detail: String },
    #[error("cannot reach the relay at {host}: {detail}")]
    Unreachable { host: String, detail: String },
    #[error("the relay answered HTTP {status} instead of accepting the connection{}", if .detail.is_empty() { String::new() } else { format!(": {}", .detail) })]
    Rejected { status: u16, detail: String },
    #[error("connecting to the relay timed out")]
    TimedOut,
}

impl ConnectError {
    /// True when trying again soon cannot help: the same certificate or setting gives the
    /// same answer until someone changes it (a captive portal or a relay's renewed
    /// certificate may, so the client still tries, at its longest backoff).
    pub fn is_persistent(&self) -> bool {
        matches!(
            self,
            ConnectError::UntrustedCertificate { .. }
                | ConnectError::Tls { .. }
                | ConnectError::InvalidUrl { .. }
                | ConnectError::InsecureRemote { .. }
                | ConnectError::InvalidCa { .. }
        )
    }

    /// Reads a TLS failure out of an error chain (rustls errors arrive wrapped in
    /// `io::Error`s and HTTP clients' errors): `None` when no TLS error is in it.
    pub fn from_tls_chain(host: &str, err: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = cur {
            if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                return Some(Self::from_rustls(host, tls));
            }
            // io::Error::source skips the error it wraps (often another io::Error, in
            // HTTP clients): go into that one instead.
            cur = match e.downcast_ref::<std::io::Error>() {
                Some(io) => io
                    .get_ref()
                    .map(|i| i as &(dyn std::error::Error + 'static)),
                None => e.source(),
            };
        }
        None
    }

    fn from_rustls(host: &str, err: &rustls::Error) -> Self {
        use rustls::CertificateError as C;
        let host = host.to_owned();
        let reason = match err {
            rustls::Error::InvalidCertificate(c) => match c {
                C::UnknownIssuer => "it is not signed by an authority this device trusts \
                                     (a self-hosted relay needs the production's CA certificate)"
                    .to_owned(),
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    format!("it is not valid for the name {host}")
                }
                C::Expired | C::ExpiredContext { .. } => "it has expired".to_owned(),
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    "it is not valid yet (is this device's clock right?)".to_owned()
                }
                C::Revoked => "it has been revoked".to_owned(),
                other => format!("{other:?}"),
            },
            other => {
                return ConnectError::Tls {
                    host,
                    detail: other.to_string(),
                }
            }
        };
        ConnectError::UntrustedCertificate { host, reason }
    }
}

/// Whether `host` is this machine: `localhost`, `*.localhost`, or a loopback address.
pub fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Host::Ipv4(a) => a.is_loopback(),
        Host::Ipv6(a) => a.is_loopback(),
    }
}

/// Parses a URL and applies the policy: `secure` and `plain` are the two schemes accepted
/// (`wss`/`ws` or `https`/`http`); the plain one only to this machine unless allowed.
pub fn check_url(
    input: &str,
    plain: &str,
    secure: &str,
    allow_insecure_remote: bool,
) -> Result<Url, ConnectError> {
    let bad = |reason: String| ConnectError::InvalidUrl {
        url: input.to_owned(),
        reason,
    };
    let url = Url::parse(input.trim()).map_err(|e| bad(e.to_string()))?;
    if url.scheme() != plain && url.scheme() != secure {
        return Err(bad(format!("the scheme must be {secure} or {plain}")));
    }
    let host = url.host().ok_or_else(|| bad("no host".to_owned()))?;
    if url.scheme() == plain && !allow_insecure_remote && !is_loopback(&host) {
        return Err(ConnectError::InsecureRemote {
            scheme: plain.to_owned(),
            secure: secure.to_owned(),
            host: host.to_string(),
        });
    }
    Ok(url)
}

/// The rustls client configuration devices use: Mozilla's roots plus the production's
/// CA when given, the `ring` provider, TLS 1.2 and 1.3.
pub fn tls_config(trusted_ca_pem: Option<&str>) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = trusted_ca_pem {
        let invalid = |reason: String| ConnectError::InvalidCa { reason };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(format!("not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(invalid(
                "no `-----BEGIN CERTIFICATE-----` block found".to_owned(),
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| invalid(format!("not a usable CA certificate: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Tls {
            host: String::new(),
            detail: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A byte stream to the relay, TLS or not.
pub trait RelayIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> RelayIo for T {}

/// A relay's sync endpoint, checked against the policy, with its TLS configuration.
#[derive(Clone)]
pub struct Endpoint {
    url: Url,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url.as_str())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Endpoint {
    /// `ws://` or `wss://` (see the module docs for the policy).
    pub fn new(url: &str, opts: &ConnectOptions) -> Result<Endpoint, ConnectError> {
        let url = check_url(url, "ws", "wss", opts.allow_insecure_remote)?;
        let tls = if url.scheme() == "wss" {
            Some(tls_config(opts.trusted_ca_pem.as_deref())?)
        } else {
            None
        };
        Ok(Endpoint { url, tls })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    fn host(&self) -> String {
        self.url.host_str().unwrap_or_default().to_owned()
    }

    /// TCP, then TLS for `wss://`, then the WebSocket handshake for `dial_url`.
    pub async fn connect(
        &self,
        dial_url: &str,
        config: tungstenite::protocol::WebSocketConfig,
    ) -> Result<tokio_tungstenite::WebSocketStream<Box<dyn RelayIo>>, ConnectError> {
        let host = self.host();
        let unreachable = |e: &dyn std::fmt::Display| ConnectError::Unreachable {
            host: host.clone(),
            detail: e.to_string(),
        };
        let port = self.url.port_or_known_default().unwrap_or(443);
        let tcp = match self.url.host() {
            Some(Host::Ipv4(a)) => tokio::net::TcpStream::connect((a, port)).await,
            Some(Host::Ipv6(a)) => tokio::net::TcpStream::connect((a, port)).await,
            Some(Host::Domain(d)) => tokio::net::TcpStream::connect((d, port)).await,
            None => return Err(unreachable(&"no host")),
        }
        .map_err(|e| unreachable(&e))?;
        // Small latency-bound frames: do not wait for delayed ACKs (Nagle).
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn RelayIo> = match &self.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let name = match self.url.host() {
                    Some(Host::Ipv4(a)) => ServerName::IpAddress(std::net::IpAddr::V4(a).into()),
                    Some(Host::Ipv6(a)) => ServerName::IpAddress(std::net::IpAddr::V6(a).into()),
                    _ => ServerName::try_from(host.clone()).map_err(|e| {
                        ConnectError::InvalidUrl {
                            url: self.url.to_string(),
                            reason: e.to_string(),
                        }
                    })?,
                };
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| {
                        ConnectError::from_tls_chain(&host, &e).unwrap_or_else(|| unreachable(&e))
                    })?;
                Box::new(stream)
            }
        };
        match tokio_tungstenite::client_async_with_config(dial_url, io, Some(config)).await {
            Ok((ws, _)) => Ok(ws),
            Err(tungstenite::Error::Http(resp)) => Err(ConnectError::Rejected {
                status: resp.status().as_u16(),
                detail: resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).chars().take(300).collect())
                    .unwrap_or_default(),
            }),
            Err(e) => {
                Err(ConnectError::from_tls_chain(&host, &e).unwrap_or_else(|| unreachable(&e)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_websocket_only_to_this_machine_unless_allowed() {
        for ok in [
            "ws://localhost:7878/sync",
            "ws://127.0.0.1:7878/sync",
            "ws://127.8.9.10/sync",
            "ws://[::1]:7878/sync",
            "ws://relay.localhost/sync",
            "wss://relay.example.org/sync",
        ] {
            assert!(check_url(ok, "ws", "wss", false).is_ok(), "{ok}");
        }
        for remote in [
            "ws://relay.example.org/sync",
            "ws://192.168.1.20:7878/sync",
            "ws://[2001:db8::1]/sync",
            "ws://localhost.example.org/sync",
        ] {
            let err = check_url(remote, "ws", "wss", false).expect_err(remote);
            assert!(
                matches!(err, ConnectError::InsecureRemote { .. }),
                "{remote}: {err}"
            );
            assert!(err.to_string().contains("use wss://"), "{err}");
            assert!(check_url(remote, "ws", "wss", true).is_ok(), "{remote}");
        }
        let err = check_url("http://relay.example.org", "http", "https", false).expect_err("http");
        assert!(err.to_string().contains("use https://"), "{err}");
        for bad in ["ftp://x/sync", "relay.example.org", "ws://", ""] {
            assert!(
                matches!(
                    check_url(bad, "ws", "wss", true),
                    Err(ConnectError::InvalidUrl { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_production_ca_must_be_a_certificate() {
        assert!(tls_config(None).is_ok());
        for bad in [
            "",
            "not pem at all",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let err = tls_config(Some(bad)).expect_err(bad);
            assert!(
                matches!(err, ConnectError::InvalidCa { .. }),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn certificate_failures_read_as_not_trusted() {
        let unknown = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let err = ConnectError::from_tls_chain("relay.example.org", &unknown).expect("tls");
        assert!(err.is_persistent());
        assert!(err.to_string().contains("not trusted"), "{err}");
        // As HTTP clients wrap it: an io::Error inside an io::Error.
        let wrapped = std::io::Error::other(unknown);
        let err = ConnectError::from_tls_chain("relay.example.org", &wrapped).expect("tls");
        assert!(err.to_string().contains("not trusted"), "{err}");
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(ConnectError::from_tls_chain("h", &plain), None);
        assert!(!ConnectError::Unreachable {
            host: "h".into(),
            detail: "refused".into()
        }
        .is_persistent());
    }
}
