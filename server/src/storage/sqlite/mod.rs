//! The embedded SQLite backend (WAL, `synchronous=FULL`).
//!
//! One thread owns the connection. Jobs queue up while a transaction commits, and the
//! thread runs everything that is waiting in ONE transaction (each job in its own
//! savepoint, so one failure does not undo the others) and answers every job only
//! after the COMMIT returned: many concurrent writers share one fsync (group commit),
//! and an answered write is a durable write.
//!
//! `mod.rs` the writer thread and its batches, `migrations.rs` the schema, `docs.rs` and
//! `accounts.rs` the two stores' statements.

mod accounts;
mod attachments;
mod docs;
mod migrations;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::BoxFuture;
use rusqlite::{params, Connection, OptionalExtension};
use setlink_core::{DocumentId, Role};
use tokio::sync::{mpsc, oneshot};

use super::{Member, StorageError, StorageResult};
use migrations::migrate;

type Completion = Box<dyn FnOnce(StorageResult<()>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// Jobs folded into one transaction at most; bounds the latency of the first job in a batch.
const MAX_BATCH: usize = 1024;

#[derive(Default)]
struct Counters {
    doc_bytes: AtomicU64,
    sync_bytes: AtomicU64,
    commits: AtomicU64,
    /// A write that failed (disk full, I/O error) since the last write that committed.
    fault: Mutex<Option<(Instant, String)>>,
    /// The first damaged page read; it does not heal.
    damaged: Mutex<Option<String>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Counters {
    fn record(&self, e: &StorageError) {
        match e {
            StorageError::Fault(what) => {
                tracing::error!(error = %what, "storage failure");
                *locked(&self.fault) = Some((Instant::now(), what.clone()));
            }
            StorageError::Damaged(what) => {
                tracing::error!(error = %what, "the database is damaged; restore it from a backup (setlink restore)");
                locked(&self.damaged).get_or_insert_with(|| what.clone());
            }
            _ => {}
        }
    }

    /// A transaction that wrote something committed: the disk takes writes again.
    fn wrote(&self) {
        *locked(&self.fault) = None;
    }

    fn health(&self) -> Result<(), String> {
        if let Some(what) = locked(&self.damaged).as_ref() {
            return Err(format!(
                "the database is damaged ({what}); restore it from a backup with `setlink restore`"
            ));
        }
        if let Some((at, what)) = locked(&self.fault).as_ref() {
            return Err(format!(
                "{what} ({} s ago; no write has succeeded since)",
                at.elapsed().as_secs()
            ));
        }
        Ok(())
    }
}

/// How to open the database beyond its directory.
#[derive(Clone, Debug, Default)]
pub struct SqliteOptions {
    /// Tests only: while this file exists, every commit that writes fails the way a full
    /// disk fails one (the transaction is rolled back and every job in it gets a storage
    /// failure).
    pub fault_file: Option<PathBuf>,
}

/// SQLite storage in `<data_dir>/setlink.db`.
#[derive(Clone)]
pub struct SqliteStorage {
    jobs: mpsc::UnboundedSender<Job>,
    counters: Arc<Counters>,
    path: PathBuf,
}

impl SqliteStorage {
    pub fn open(data_dir: &Path) -> StorageResult<Self> {
        Self::open_with(data_dir, SqliteOptions::default())
    }

    pub fn open_with(data_dir: &Path, options: SqliteOptions) -> StorageResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StorageError::Database(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join("setlink.db");
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a committed transaction survives power loss, not just a process crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        std::thread::Builder::new()
            .name("setlink-sqlite".into())
            .spawn(move || run(conn, rx, c, options))
            .map_err(|e| StorageError::Database(format!("cannot start storage thread: {e}")))?;
        Ok(SqliteStorage {
            jobs: tx,
            counters,
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs SQL on the writer connection (tests inject failures with temp triggers).
    #[cfg(test)]
    pub(crate) async fn execute_for_test(&self, sql: &'static str) -> StorageResult<()> {
        self.call(move |c| Ok(c.execute_batch(sql)?)).await
    }

    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StorageResult<T> + Send + 'static,
    ) -> BoxFuture<'_, StorageResult<T>> {
        let (tx, rx) = oneshot::channel::<StorageResult<T>>();
        let counters = self.counters.clone();
        let job: Job = Box::new(move |conn: &Connection| {
            let r = f(conn);
            if let Err(e) = &r {
                counters.record(e);
            }
            let ok = r.is_ok();
            let done: Completion = Box::new(move |commit: StorageResult<()>| {
                let _ = tx.send(commit.and(r));
            });
            (ok, done)
        });
        let sent = self.jobs.send(job);
        Box::pin(async move {
            sent.map_err(|_| StorageError::Stopped)?;
            rx.await.map_err(|_| StorageError::Stopped)?
        })
    }
}

fn run(
    conn: Connection,
    mut rx: mpsc::UnboundedReceiver<Job>,
    counters: Arc<Counters>,
    options: SqliteOptions,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut completions = Vec::with_capacity(batch.len());
        let changes_before = conn.total_changes();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the jobs drops their answer channels: every caller gets an error.
            counters.record(&StorageError::from(e));
            drop(batch);
            continue;
        }
        for job in batch {
            let sp = conn.execute_batch("SAVEPOINT job");
            let (ok, done) = job(&conn);
            if sp.is_ok() {
                let end = if ok {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                if let Err(e) = conn.execute_batch(end) {
                    tracing::error!(error = %e, "storage: savepoint");
                }
            }
            completions.push(done);
        }
        let wrote = conn.total_changes() != changes_before;
        // Like a full disk: transactions that only read still commit.
        let injected = wrote && options.fault_file.as_ref().is_some_and(|f| f.exists());
        let commit = if injected {
            Err(StorageError::Fault(
                "database or disk is full (injected: the fault file exists)".into(),
            ))
        } else {
            conn.execute_batch("COMMIT")
                .map_err(|e| match StorageError::from(e) {
                    // Whatever stops a COMMIT is a storage failure, not a refusal.
                    StorageError::Database(m) => StorageError::Fault(m),
                    other => other,
                })
                .inspect(|_| {
                    counters.commits.fetch_add(1, Ordering::Relaxed);
                })
        };
        match &commit {
            Ok(()) if wrote => counters.wrote(),
            Ok(()) => {}
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                counters.record(e);
            }
        }
        for done in completions {
            done(match &commit {
                Ok(()) => Ok(()),
                Err(e) => Err(e.clone_for_callers()),
            });
        }
    }
}

pub(super) fn role_from_sql(s: String) -> StorageResult<Role> {
    s.parse::<Role>().map_err(StorageError::Corrupt)
}

pub(super) fn doc_id_from_sql(b: Vec<u8>) -> StorageResult<DocumentId> {
    let arr: [u8; 16] = b
        .try_into()
        .map_err(|_| StorageError::Corrupt("document id is not 16 bytes".into()))?;
    Ok(DocumentId::from_bytes(arr))
}

pub(super) fn member_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Member, String)> {
    let role: String = row.get(3)?;
    Ok((
        Member {
            id: row.get(0)?,
            production_id: row.get(1)?,
            name: row.get(2)?,
            role: Role::Crew,
            created_at_ms: row.get(4)?,
            revoked_at_ms: row.get(5)?,
        },
        role,
    ))
}

pub(super) fn finish_member((mut m, role): (Member, String)) -> StorageResult<Member> {
    m.role = role_from_sql(role)?;
    Ok(m)
}

pub(super) const MEMBER_COLS: &str = "id, production_id, name, role, created_at_ms, revoked_at_ms";

pub(super) fn get_member(conn: &Connection, id: &str) -> StorageResult<Option<Member>> {
    let row = conn
        .query_row(
            &format!("SELECT {MEMBER_COLS} FROM members WHERE id = ?1"),
            params![id],
            member_from_row,
        )
        .optional()?;
    row.map(finish_member).transpose()
}

#[cfg(test)]
mod tests;
