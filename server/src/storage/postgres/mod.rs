//! PostgreSQL storage, for several relays behind a load balancer on one database.
//!
//! Every call takes a connection from a deadpool pool (recycled connections are checked,
//! so after a PostgreSQL restart the pool hands out fresh ones) and is bounded by
//! [`PostgresOptions::call_timeout`]: a call fails, it never hangs. A returned `Ok` from
//! a write means its transaction committed. `append_chunk` sends `pg_notify` inside its
//! own transaction, so other relays hear of an append exactly when it is durable;
//! `listen.rs` turns those notifications into [`StoreEvent`]s.
//!
//! `mod.rs` the pool, errors and counters, `migrations.rs` the schema, `docs.rs` and
//! `accounts.rs` the two stores' statements, `listen.rs` the LISTEN connection.

mod accounts;
mod attachments;
mod docs;
mod listen;
mod migrations;

/// How many schema versions this relay knows (the contract tests check each ran once).
#[cfg(test)]
pub(crate) const MIGRATION_COUNT: usize = migrations::MIGRATIONS.len();
#[cfg(any(test, feature = "test-cluster"))]
pub mod test_cluster;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::{StorageError, StorageResult, StoreEvent};

/// The channel `append_chunk` notifies on and the listener listens to.
pub(crate) const CHANNEL: &str = "setlink_appends";
/// Presence (ephemeral messages) relayed between relays: `<writer> <Presence as JSON>`.
pub(crate) const PRESENCE_CHANNEL: &str = "setlink_presence";

/// How to connect beyond the URL.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// Connections in the pool.
    pub pool_size: usize,
    /// Longest a connection attempt may take (pool and listener).
    pub connect_timeout: Duration,
    /// Longest any one call may take, waiting for a connection included.
    pub call_timeout: Duration,
    /// Keep a LISTEN connection for [`crate::storage::DocStore::events`]. Off for
    /// one-shot admin commands, which never read events.
    pub listen: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(30),
            listen: true,
        }
    }
}

/// The listener's side of [`crate::storage::DocStore::events`].
pub(crate) enum EventSink {
    /// Nobody asked for events yet: notifications are dropped, not buffered.
    NotTaken,
    /// `events()` was called; `None` once its receiver is gone.
    Taken(Option<mpsc::UnboundedSender<StoreEvent>>),
    /// Opened without a listener.
    Off,
}

impl EventSink {
    /// Hands `event` to the receiver, if anyone holds one.
    pub(crate) fn send(&mut self, event: StoreEvent) {
        if let EventSink::Taken(Some(tx)) = self {
            if tx.send(event).is_err() {
                *self = EventSink::Taken(None);
            }
        }
    }
}

pub(crate) fn lock_sink(m: &Mutex<EventSink>) -> std::sync::MutexGuard<'_, EventSink> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct Counters {
    doc_bytes: AtomicU64,
    sync_bytes: AtomicU64,
    commits: AtomicU64,
}

/// Storage in a PostgreSQL database shared by every relay pointed at it.
#[derive(Clone)]
pub struct PostgresStorage {
    pool: Pool,
    counters: Arc<Counters>,
    /// Random per store instance; rides every NOTIFY so the listener can skip this
    /// instance's own appends.
    writer: Arc<str>,
    /// Where the listener sends events: empty until `events()` is first called (until
    /// then nothing buffers them), `Taken` afterwards.
    events: Arc<Mutex<EventSink>>,
    options: PostgresOptions,
    /// Ends the listener task when the last clone is dropped.
    _listener: Arc<listen::ListenerGuard>,
}

/// True when `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user:password@host:port/db`), applies pending
    /// migrations (once, however many relays start at once) and, with
    /// [`PostgresOptions::listen`], starts listening for other relays' appends before it
    /// returns. Fails with [`StorageError::Fault`] when the server cannot be reached.
    pub async fn connect(url: &str, options: PostgresOptions) -> StorageResult<Self> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StorageError::Database(format!("not a PostgreSQL connection URL ({e})"))
        })?;
        config.connect_timeout(options.connect_timeout);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("setlink");
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.call_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StorageError::Database(format!("PostgreSQL pool: {e}")))?;
        let mut client = get(&pool).await?;
        tokio::time::timeout(
            options.call_timeout.max(Duration::from_secs(60)),
            migrations::migrate(&mut client),
        )
        .await
        .map_err(|_| StorageError::Fault("PostgreSQL: migrating the schema timed out".into()))??;
        drop(client);
        let writer: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
        let events = Arc::new(Mutex::new(if options.listen {
            EventSink::NotTaken
        } else {
            EventSink::Off
        }));
        let listener = if options.listen {
            listen::start(
                config,
                writer.clone(),
                events.clone(),
                options.connect_timeout,
            )
            .await?
        } else {
            listen::ListenerGuard::none()
        };
        Ok(PostgresStorage {
            pool,
            counters: Arc::new(Counters::default()),
            writer,
            events,
            options,
            _listener: Arc::new(listener),
        })
    }

    /// This instance's writer id (what its NOTIFY payloads carry).
    pub fn writer_id(&self) -> &str {
        &self.writer
    }

    fn take_events(&self) -> Option<UnboundedReceiver<StoreEvent>> {
        let mut sink = lock_sink(&self.events);
        match *sink {
            EventSink::NotTaken => {
                let (tx, rx) = mpsc::unbounded_channel();
                *sink = EventSink::Taken(Some(tx));
                Some(rx)
            }
            EventSink::Taken(_) | EventSink::Off => None,
        }
    }

    /// Runs `f` with a pooled connection, bounded by the call timeout.
    fn call<'a, T, F, Fut>(&'a self, f: F) -> BoxFuture<'a, StorageResult<T>>
    where
        T: Send + 'a,
        F: FnOnce(Object) -> Fut + Send + 'a,
        Fut: Future<Output = StorageResult<T>> + Send + 'a,
    {
        let timeout = self.options.call_timeout;
        Box::pin(async move {
            let work = async {
                let client = get(&self.pool).await?;
                f(client).await
            };
            match tokio::time::timeout(timeout, work).await {
                Ok(r) => r,
                Err(_) => Err(StorageError::Fault(format!(
                    "PostgreSQL did not answer within {} s",
                    timeout.as_secs_f32()
                ))),
            }
        })
    }

    fn committed(&self) {
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
    }
}

async fn get(pool: &Pool) -> StorageResult<Object> {
    pool.get().await.map_err(|e| match e {
        PoolError::Backend(e) => pg_err(e),
        PoolError::Timeout(_) => StorageError::Fault(
            "PostgreSQL: no connection available in time (is the server up?)".into(),
        ),
        other => StorageError::Fault(format!("PostgreSQL connection pool: {other}")),
    })
}

/// Maps a driver error: refusals by the database stay `Database`/`Conflict`; a server
/// that is gone, refuses connections or is out of resources is a `Fault`.
pub(crate) fn pg_err(e: tokio_postgres::Error) -> StorageError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let class = &code.code()[..2];
        return if *code == SqlState::UNIQUE_VIOLATION {
            StorageError::Conflict(format!("PostgreSQL: {}", db.message()))
        } else if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
            StorageError::Damaged(format!("PostgreSQL: {}", db.message()))
        } else if matches!(class, "08" | "53" | "57" | "58" | "XX") {
            StorageError::Fault(format!("PostgreSQL: {}", db.message()))
        } else {
            StorageError::Database(format!("PostgreSQL: {}", db.message()))
        };
    }
    // The driver's message ("error connecting to server") hides the cause; name it. Only
    // a lost or refused connection is the server being gone: a parameter that does not
    // convert, say, is this relay's mistake and must not read as an outage.
    let cause = std::error::Error::source(&e);
    let io = cause.is_some_and(|c| c.downcast_ref::<std::io::Error>().is_some());
    match cause {
        Some(cause) if io || e.is_closed() => StorageError::Fault(format!(
            "PostgreSQL server unreachable or gone: {e}: {cause}"
        )),
        None if e.is_closed() => {
            StorageError::Fault(format!("PostgreSQL server unreachable or gone: {e}"))
        }
        Some(cause) => StorageError::Database(format!("PostgreSQL: {e}: {cause}")),
        None => StorageError::Database(format!("PostgreSQL: {e}")),
    }
}

pub(crate) fn doc_id_from_sql(b: Vec<u8>) -> StorageResult<setlink_core::DocumentId> {
    let arr: [u8; 16] = b
        .try_into()
        .map_err(|_| StorageError::Corrupt("document id is not 16 bytes".into()))?;
    Ok(setlink_core::DocumentId::from_bytes(arr))
}
