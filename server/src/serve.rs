//! `setlink serve`: binds, runs the HTTP/WebSocket server (plain, or TLS with
//! `--tls-cert`/`--tls-key`: see [`crate::tls`]) and the hub's background work, and on
//! SIGTERM/SIGINT closes every connection and flushes storage before exiting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::http::{self, AppState, Settings};
use crate::hub::{Hub, HubConfig};
use crate::metrics::Metrics;
use crate::storage::files::{self, DataDirLock, Integrity};
use crate::storage::{
    DocStore, PostgresOptions, PostgresStorage, SqliteOptions, SqliteStorage, Storage,
};

#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// A `postgres://` URL: storage in that PostgreSQL database (shared with other
    /// relays) instead of SQLite in `data_dir`, which is then neither locked nor used.
    pub database: Option<String>,
    pub demo: bool,
    /// Written with the bound address once listening (tests bind port 0).
    pub addr_file: Option<PathBuf>,
    pub settings: Settings,
    pub hub: HubConfig,
    /// How long the integrity check at start may take (zero skips it).
    pub integrity_budget: Duration,
    pub storage: SqliteOptions,
    /// Serve TLS with this certificate chain and key (PEM files, re-read when they change).
    pub tls: Option<TlsPaths>,
    /// Header timeout and connection caps (see `listen.rs`).
    pub listen_limits: crate::listen::ListenLimits,
}

#[derive(Clone, Debug)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open storage in {dir}: {err}")]
    Storage { dir: String, err: String },
    #[error("cannot open the PostgreSQL database: {0}")]
    Postgres(String),
    #[error("{0}")]
    Damaged(String),
    #[error(transparent)]
    Locked(#[from] files::LockError),
    #[error("cannot listen on {addr}: {err} (is another relay running? pick another --listen)")]
    Bind {
        addr: SocketAddr,
        err: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// Opens storage and the hub (also used by tests and benches that embed the relay).
pub async fn open_hub(
    data_dir: &std::path::Path,
    config: HubConfig,
) -> Result<Arc<Hub>, ServeError> {
    open_hub_with(data_dir, config, SqliteOptions::default()).await
}

async fn open_hub_with(
    data_dir: &std::path::Path,
    config: HubConfig,
    options: SqliteOptions,
) -> Result<Arc<Hub>, ServeError> {
    let storage = SqliteStorage::open_with(data_dir, options).map_err(|e| match e {
        // A file too damaged to even open (its header or schema pages).
        crate::storage::StorageError::Damaged(why) => {
            ServeError::Damaged(files::damaged_message(data_dir, &why))
        }
        e => ServeError::Storage {
            dir: data_dir.display().to_string(),
            err: e.to_string(),
        },
    })?;
    let storage: Arc<dyn Storage> = Arc::new(storage);
    Hub::new(storage, Arc::new(Metrics::default()), config)
        .await
        .map_err(|e| ServeError::Storage {
            dir: data_dir.display().to_string(),
            err: e.to_string(),
        })
}

/// Opens the hub on a PostgreSQL database (several relays may share it).
pub async fn open_hub_postgres(
    url: &str,
    config: HubConfig,
    options: PostgresOptions,
) -> Result<Arc<Hub>, ServeError> {
    let storage = PostgresStorage::connect(url, options)
        .await
        .map_err(|e| ServeError::Postgres(e.to_string()))?;
    // Taken before any document loads, so no other relay's append is missed between.
    let events = storage.events();
    let storage: Arc<dyn Storage> = Arc::new(storage);
    let hub = Hub::new(storage, Arc::new(Metrics::default()), config)
        .await
        .map_err(|e| ServeError::Postgres(e.to_string()))?;
    if let Some(events) = events {
        tokio::spawn(crate::other_relays::follow(hub.clone(), events));
    }
    Ok(hub)
}

/// The integrity check at start: a damaged database is refused, with how to restore.
fn check_database(data_dir: &std::path::Path, budget: Duration) -> Result<(), ServeError> {
    if budget.is_zero() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    match files::check_integrity(&files::db_path(data_dir), budget) {
        Integrity::Ok => {
            tracing::info!(
                took_ms = started.elapsed().as_millis() as u64,
                "database integrity check passed"
            );
            Ok(())
        }
        Integrity::Missing => Ok(()),
        Integrity::Unfinished { budget } => {
            tracing::warn!(
                budget_secs = budget.as_secs_f64(),
                "the database integrity check did not finish within its budget and found nothing wrong in what it read; raise --integrity-check-secs to check it all"
            );
            Ok(())
        }
        Integrity::Damaged(why) => Err(ServeError::Damaged(files::damaged_message(data_dir, &why))),
        Integrity::Failed(why) => Err(ServeError::Storage {
            dir: data_dir.display().to_string(),
            err: format!("cannot check the database's integrity: {why}"),
        }),
    }
}

pub async fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    // First the lock (nothing else may write here while we check and serve), then the
    // check, then storage.
    // On PostgreSQL there is no data directory to lock: several relays share the
    // database by design, and PostgreSQL checks its own pages.
    let (mut lock, hub) = match &opts.database {
        Some(url) => {
            let hub = open_hub_postgres(url, opts.hub.clone(), PostgresOptions::default()).await?;
            (None, hub)
        }
        None => {
            let lock = DataDirLock::acquire(
                &opts.data_dir,
                &files::holder_line(&format!("relay starting on {}", opts.listen)),
            )?;
            check_database(&opts.data_dir, opts.integrity_budget)?;
            let hub = open_hub_with(&opts.data_dir, opts.hub.clone(), opts.storage.clone()).await?;
            (Some(lock), hub)
        }
    };
    let certs = match &opts.tls {
        Some(t) => Some(crate::tls::CertFiles::load(&t.cert, &t.key).map_err(ServeError::Other)?),
        None => None,
    };
    let settings = Arc::new(opts.settings.clone());
    let demo = if opts.demo {
        Some(
            crate::demo::seed(
                &hub,
                &settings,
                &settings.today.day_in(&crate::demo::zone()),
            )
            .await
            .map_err(|e| ServeError::Other(format!("seeding the demo production: {e}")))?,
        )
    } else {
        None
    };
    let listener = bind(opts.listen).map_err(|err| ServeError::Bind {
        addr: opts.listen,
        err,
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Other(e.to_string()))?;
    if let Some(lock) = lock.as_mut() {
        if let Err(e) = lock.describe(&files::holder_line(&format!("relay listening on {addr}"))) {
            tracing::warn!(error = %e, lock = %lock.path().display(), "cannot name this relay in the lock file");
        }
    }
    let limits = settings.sign_in_limits.clone();
    let (collect_today, grace) = (settings.today.clone(), settings.attachments.grace);
    let mailer = settings
        .mail
        .clone()
        .map(|mail| crate::mail::spawn(hub.clone(), mail));
    let state = AppState {
        hub: hub.clone(),
        settings,
    };
    let app = http::router(state, crate::dashboard::router());

    let background = spawn_background(hub.clone(), limits);
    let collector = crate::attachments::collect::spawn(hub.clone(), collect_today, grace);
    match &opts.database {
        Some(_) => tracing::info!(%addr, storage = "PostgreSQL", "setlink relay listening"),
        None => {
            tracing::info!(%addr, data_dir = %opts.data_dir.display(), "setlink relay listening")
        }
    }
    // Machine-readable first line for scripts and tests, then the human part.
    println!("SETLINK_LISTENING={addr}");
    if certs.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "serving plain HTTP off loopback: tokens travel unencrypted unless a TLS proxy is in front (or use --tls-cert and --tls-key)");
    }
    let (http, ws) = if certs.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    println!("setlink relay listening on {http}://{addr}  (WebSocket: {ws}://{addr}/sync)");
    if let Some(d) = &demo {
        let text = d.describe(addr);
        // The demo's hints name the plain schemes.
        let text = if certs.is_some() {
            text.replace(&format!("http://{addr}"), &format!("https://{addr}"))
                .replace(&format!("ws://{addr}"), &format!("wss://{addr}"))
        } else {
            text
        };
        println!("{text}");
    }
    if let Some(path) = &opts.addr_file {
        std::fs::write(path, addr.to_string())
            .map_err(|e| ServeError::Other(format!("writing {}: {e}", path.display())))?;
    }

    let h = hub.clone();
    let shutdown = async move {
        shutdown_signal().await;
        tracing::info!("shutting down: closing connections");
        h.close_all("relay shutting down; reconnect shortly");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while h.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let tls = match certs {
        Some(certs) => Some(crate::tls::TlsAcceptor::new(certs).map_err(ServeError::Other)?),
        None => None,
    };
    crate::listen::serve(
        listener,
        tls,
        app,
        opts.listen_limits,
        hub.metrics.clone(),
        shutdown,
    )
    .await;
    background.abort();
    collector.abort();
    // An email being sent now keeps its lease and is sent again after a restart.
    if let Some(mailer) = mailer {
        mailer.abort();
    }
    hub.flush()
        .await
        .map_err(|e| ServeError::Other(format!("flushing storage: {e}")))?;
    tracing::info!("storage flushed; bye");
    drop(lock);
    Ok(())
}

/// Idle-document eviction, forgetting idle sign-in rate-limit keys, and the revocation watch (revocations made by the CLI in
/// another process reach connected devices within half a second).
fn spawn_background(
    hub: Arc<Hub>,
    limits: Arc<crate::limits::SignInLimits>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut forget = tokio::time::interval(Duration::from_secs(60));
        let evict_every = (hub.config().idle_evict / 4).max(Duration::from_millis(250));
        let mut evict = tokio::time::interval(evict_every);
        let mut revocations = tokio::time::interval(Duration::from_millis(500));
        let mut cursor = match hub.storage().revocations_since(0).await {
            Ok(all) => all.last().map(|r| r.seq).unwrap_or(0),
            Err(e) => {
                tracing::error!(error = %e, "cannot read revocations");
                0
            }
        };
        loop {
            tokio::select! {
                _ = forget.tick() => limits.forget_idle(),
                _ = evict.tick() => {
                    let n = hub.evict_idle();
                    if n > 0 {
                        tracing::debug!(evicted = n, loaded = hub.loaded_documents(), "evicted idle documents");
                        release_freed_memory();
                    }
                }
                _ = revocations.tick() => {
                    match hub.storage().revocations_since(cursor).await {
                        Ok(list) => for r in list {
                            cursor = cursor.max(r.seq);
                            if let Some(m) = &r.member_id {
                                hub.kick_member(m, "your access to this production was revoked");
                            }
                            if let Some(t) = &r.token_hash {
                                hub.kick_token(t, "this token was revoked");
                            }
                        },
                        Err(e) => tracing::warn!(error = %e, "cannot poll revocations"),
                    }
                }
            }
        }
    })
}

/// glibc keeps freed heap pages; hand them back after evictions so the process's memory
/// follows the loaded documents down, not only up.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the OS; it touches no live memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Binds with a deep accept queue: a crew coming back into signal together connects in
/// a burst, and a connection the kernel drops from a full queue (tokio's default backlog
/// is 128) retries its SYN only after a second.
fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
