//! The accept loop. Each TCP connection (behind a trusted load balancer: the client its
//! PROXY protocol header names, see `proxy_header`) is admitted under a per-address and a
//! total cap,
//! gets its TLS handshake (when the relay serves TLS) in its own task, and is then served
//! as HTTP/1.1 with WebSocket upgrades and a header timeout: a client that opens sockets
//! and sends nothing, or headers one byte at a time (slow loris), is closed when the
//! timeout passes, and no address can hold more than its share of file descriptors.
//! axum's own `serve` has neither a header timeout nor caps, hence this loop.
//!
//! Upgraded WebSockets are not hyper's any more: their silence is handled by the ping
//! deadline in `http.rs`, and shutdown closes them through the hub.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::metrics::{Metrics, Refusal};
use crate::proxy_header;
use crate::tls::TlsAcceptor;

/// The most a connection buffers ahead of its handler (headers included: 8 KiB is the
/// least hyper takes).
const MAX_READ_BUFFER: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct ListenLimits {
    /// How long a connection may take to send a request's headers (its first one, or the
    /// next on a kept-alive connection).
    pub header_timeout: Duration,
    /// Connections one IP address may hold open (an office or a set's router puts many
    /// phones behind one address).
    pub per_ip: usize,
    /// Connections open at once in all; past it new ones are closed at once, so the relay
    /// keeps descriptors for its database and for `/healthz`.
    pub total: usize,
    /// Load balancers whose connections start with a PROXY protocol header naming the
    /// client (`--proxy-protocol-from`); the caps above then count clients, not them.
    pub proxy_protocol_from: Arc<[IpAddr]>,
}

/// Descriptors kept back from connections: the database, its WAL, the lock file, logs,
/// and headroom for `/healthz` and the CLI's own work while the relay is full.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Raises the soft open-file limit to the hard one (the usual 1,024 soft limit is far
/// below what a relay serving a crew needs) and returns how many connections fit under
/// it with [`RESERVED_DESCRIPTORS`] kept back.
pub fn connection_budget() -> usize {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                if lim.rlim_cur < lim.rlim_max {
                    let raised = libc::rlimit {
                        rlim_cur: lim.rlim_max,
                        rlim_max: lim.rlim_max,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                        lim = raised;
                    }
                }
                let soft: u64 = lim.rlim_cur;
                return soft.saturating_sub(RESERVED_DESCRIPTORS).max(64) as usize;
            }
        }
    }
    4096
}

/// Open connections by address.
struct Admission {
    limits: ListenLimits,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection's place under the caps, shared by every request it carries
/// (as a request extension) and kept by the WebSocket it may upgrade to: the place is
/// given back when the last holder drops it.
#[derive(Clone)]
pub struct ConnectionSlot {
    _held: Arc<Permit>,
}

/// One admitted connection; gives its place back when dropped.
struct Permit {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, &'static str> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = open.values().sum();
        if total >= self.limits.total {
            return Err("the relay's connection limit");
        }
        let n = open.entry(ip).or_default();
        if *n >= self.limits.per_ip {
            return Err("the per-address connection limit");
        }
        *n += 1;
        Ok(Permit {
            admission: self.clone(),
            ip,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, waits up to
/// five seconds for requests in flight, and returns.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: ListenLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let admission = Arc::new(Admission {
        limits,
        open: Mutex::default(),
    });
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Sync messages are small and latency-bound: without TCP_NODELAY a frame written
        // while the previous one is unacknowledged waits for the peer's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let app = app.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        // A direct client is admitted here, in accept order, so the connection over the cap
        // is the one refused; a proxied one only once its header names the client.
        let proxied = admission.limits.proxy_protocol_from.contains(&peer.ip());
        let direct_slot = if proxied {
            None
        } else {
            let Some(slot) = admit(&admission, &metrics, peer) else {
                continue;
            };
            Some(slot)
        };
        let admission = admission.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let header_timeout = admission.limits.header_timeout;
            let mut tcp = tcp;
            let (peer, slot) = match direct_slot {
                Some(slot) => (peer, slot),
                None => {
                    let Some(client) = proxied_client(&mut tcp, peer, header_timeout).await else {
                        return;
                    };
                    let Some(slot) = admit(&admission, &metrics, client) else {
                        return;
                    };
                    (client, slot)
                }
            };
            let connection = Connection {
                app,
                peer,
                slot,
                header_timeout,
                watcher,
            };
            match tls {
                Some(tls) => match tls.handshake(tcp).await {
                    Ok(stream) => connection.serve(stream).await,
                    Err(e) => tracing::debug!(%peer, error = %e, "no TLS connection"),
                },
                // hyper's header timeout starts at the first byte: a socket that never
                // sends one is closed here.
                None => match tokio::time::timeout(header_timeout, tcp.peek(&mut [0u8; 1])).await {
                    Ok(Ok(n)) if n > 0 => connection.serve(tcp).await,
                    _ => tracing::debug!(%peer, "closed: nothing sent within the header timeout"),
                },
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("requests still in flight after 5 s; stopping anyway");
    }
}

/// The client a load balancer's PROXY protocol header names; `None` (logged) when the
/// header is bad or does not come within `timeout`.
async fn proxied_client(
    tcp: &mut tokio::net::TcpStream,
    peer: SocketAddr,
    timeout: Duration,
) -> Option<SocketAddr> {
    match tokio::time::timeout(timeout, proxy_header::read(tcp, peer)).await {
        Ok(Ok(client)) => Some(client),
        Ok(Err(e)) => {
            tracing::warn!(%peer, error = %e, "closed: bad PROXY protocol header");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "closed: no PROXY protocol header in time");
            None
        }
    }
}

/// Takes a place under the caps for `peer`, or counts the refusal.
fn admit(
    admission: &Arc<Admission>,
    metrics: &Metrics,
    peer: SocketAddr,
) -> Option<ConnectionSlot> {
    match admission.admit(peer.ip()) {
        Ok(p) => Some(ConnectionSlot { _held: Arc::new(p) }),
        Err(which) => {
            metrics.refuse(Refusal::TooManyConnections);
            tracing::debug!(%peer, "connection refused: over {which}");
            None
        }
    }
}

struct Connection {
    app: Router,
    peer: SocketAddr,
    slot: ConnectionSlot,
    header_timeout: Duration,
    watcher: hyper_util::server::graceful::Watcher,
}

impl Connection {
    async fn serve<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let slot = self.slot;
        // Handlers read the peer's address as `ConnectInfo` (the sign-in rate limits), and
        // `/sync` keeps the connection's slot for the WebSocket's lifetime.
        let service = self.app.map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(slot.clone());
                req
            },
        );
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            // hyper grows a connection's read buffer to ~400 KiB while a large body (a photo's
            // part) streams in; capped, hundreds of phones uploading at once cost the relay
            // 64 KiB each rather than 400 (BENCHMARKS.md, photos).
            .max_buf_size(MAX_READ_BUFFER);
        let builder = builder.http1_only();
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
        if let Err(e) = self.watcher.watch(conn.into_owned()).await {
            tracing::debug!(%peer, error = %e, "connection ended");
        }
    }
}
