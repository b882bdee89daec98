//! The embedded SQLite backend (WAL, `synchronous=FULL`).
//!
//! One thread owns the connection. Jobs queue up while a transaction commits, and the
//! thread runs everything that is waiting in ONE transaction (each job in its own
//! savepoint, so one failure does not undo the others) and answers every job only
//! after the COMMIT returned: many concurrent writers share one fsync (group commit),
//! and an answered write is a durable write.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::BoxFuture;
use rusqlite::{params, Connection, OptionalExtension};
use setlink_core::{DocKind, DocumentId, Role};
use tokio::sync::{mpsc, oneshot};

use automerge::ChangeHash;

use super::{
    heads_to_bytes, kind_from_json, kind_to_json, Chunk, DashSession, DocInfo, Invite, Member,
    Production, RedeemRefusal, Redeemed, Redemption, RegisterOutcome, Revocation, Storage,
    StorageError, StorageResult, StorageStats, TokenRecord,
};

type Completion = Box<dyn FnOnce(StorageResult<()>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// Jobs folded into one transaction at most; bounds the latency of the first job in a batch.
const MAX_BATCH: usize = 1024;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS productions (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    production_doc BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    id TEXT PRIMARY KEY,
    production_id TEXT NOT NULL REFERENCES productions(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS members_by_production ON members(production_id);
CREATE TABLE IF NOT EXISTS invites (
    code_hash TEXT PRIMARY KEY,
    production_id TEXT NOT NULL REFERENCES productions(id),
    role TEXT NOT NULL,
    member_id TEXT REFERENCES members(id),
    created_by TEXT,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    max_uses INTEGER,
    uses INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    device_id TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS tokens_by_member ON tokens(member_id);
CREATE TABLE IF NOT EXISTS revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id TEXT,
    token_hash TEXT,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id BLOB PRIMARY KEY,
    production_id TEXT NOT NULL REFERENCES productions(id),
    kind TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS doc_heads (
    doc_id BLOB PRIMARY KEY,
    heads BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS doc_chunks (
    doc_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    snapshot INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_states (
    doc_id BLOB NOT NULL,
    peer TEXT NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (doc_id, peer)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sync_states_by_peer ON sync_states(peer);
"#;

/// Accounts, version 2: dashboard sessions (stored, so they survive a restart; expiring;
/// refused once their member is revoked) and each member's reusable dashboard sign-in key.
/// Secrets are stored as sha256 only, like tokens and invite codes.
const ACCOUNTS_V2: &str = r#"
CREATE TABLE dashboard_sessions (
    secret_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    device_id TEXT NOT NULL,
    token_hash TEXT,
    csrf TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX dashboard_sessions_by_member ON dashboard_sessions(member_id);
CREATE TABLE signin_keys (
    member_id TEXT PRIMARY KEY REFERENCES members(id),
    key_hash TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL
);
"#;

/// Versioned migrations: entry `i` takes the schema from version `i` to `i + 1`
/// (`PRAGMA user_version`). Version 1 is the schema from before versioning; its
/// statements are `IF NOT EXISTS`, so a database made then (at version 0) passes through
/// it unchanged. Append new entries; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[SCHEMA, ACCOUNTS_V2];

fn migrate(conn: &mut Connection) -> StorageResult<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StorageError::Database(format!(
            "the database's schema is version {version}, newer than this relay knows ({known}); run a newer setlink"
        )));
    }
    for sql in MIGRATIONS.iter().skip(version.max(0) as usize) {
        tx.execute_batch(sql)?;
    }
    if version < known {
        tx.pragma_update(None, "user_version", known)?;
    }
    tx.commit()?;
    Ok(())
}

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

fn role_from_sql(s: String) -> StorageResult<Role> {
    s.parse::<Role>().map_err(StorageError::Corrupt)
}

fn doc_id_from_sql(b: Vec<u8>) -> StorageResult<DocumentId> {
    let arr: [u8; 16] = b
        .try_into()
        .map_err(|_| StorageError::Corrupt("document id is not 16 bytes".into()))?;
    Ok(DocumentId::from_bytes(arr))
}

fn member_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Member, String)> {
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

fn finish_member((mut m, role): (Member, String)) -> StorageResult<Member> {
    m.role = role_from_sql(role)?;
    Ok(m)
}

const MEMBER_COLS: &str = "id, production_id, name, role, created_at_ms, revoked_at_ms";

fn get_member(conn: &Connection, id: &str) -> StorageResult<Option<Member>> {
    let row = conn
        .query_row(
            &format!("SELECT {MEMBER_COLS} FROM members WHERE id = ?1"),
            params![id],
            member_from_row,
        )
        .optional()?;
    row.map(finish_member).transpose()
}

impl Storage for SqliteStorage {
    fn load_chunks(&self, doc: DocumentId) -> BoxFuture<'_, StorageResult<Vec<Chunk>>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, snapshot, data FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![doc.as_bytes().as_slice()], |r| {
                Ok(Chunk {
                    seq: r.get(0)?,
                    snapshot: r.get::<_, i64>(1)? != 0,
                    data: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn append_chunk(
        &self,
        doc: DocumentId,
        data: Vec<u8>,
        heads: Vec<ChangeHash>,
    ) -> BoxFuture<'_, StorageResult<i64>> {
        let counters = self.counters.clone();
        self.call(move |conn| {
            let id = doc.as_bytes().as_slice();
            let next: i64 = conn.query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM doc_chunks WHERE doc_id = ?1",
                params![id],
                |r| r.get(0),
            )?;
            conn.prepare_cached(
                "INSERT INTO doc_chunks (doc_id, seq, snapshot, data) VALUES (?1, ?2, 0, ?3)",
            )?
            .execute(params![id, next, data])?;
            conn.prepare_cached(
                "INSERT INTO doc_heads (doc_id, heads) VALUES (?1, ?2)
                 ON CONFLICT (doc_id) DO UPDATE SET heads = excluded.heads",
            )?
            .execute(params![id, heads_to_bytes(&heads)])?;
            counters
                .doc_bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            Ok(next)
        })
    }

    fn compact(
        &self,
        doc: DocumentId,
        snapshot: Vec<u8>,
        replaces: Vec<i64>,
    ) -> BoxFuture<'_, StorageResult<i64>> {
        let counters = self.counters.clone();
        self.call(move |conn| {
            let id = doc.as_bytes().as_slice();
            let next: i64 = conn.query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM doc_chunks WHERE doc_id = ?1",
                params![id],
                |r| r.get(0),
            )?;
            {
                let mut del =
                    conn.prepare_cached("DELETE FROM doc_chunks WHERE doc_id = ?1 AND seq = ?2")?;
                for seq in &replaces {
                    del.execute(params![id, seq])?;
                }
            }
            conn.prepare_cached(
                "INSERT INTO doc_chunks (doc_id, seq, snapshot, data) VALUES (?1, ?2, 1, ?3)",
            )?
            .execute(params![id, next, snapshot])?;
            counters
                .doc_bytes
                .fetch_add(snapshot.len() as u64, Ordering::Relaxed);
            Ok(next)
        })
    }

    fn load_sync_state(
        &self,
        doc: DocumentId,
        peer_storage_id: String,
    ) -> BoxFuture<'_, StorageResult<Option<Vec<u8>>>> {
        self.call(move |conn| {
            Ok(conn
                .prepare_cached("SELECT state FROM sync_states WHERE doc_id = ?1 AND peer = ?2")?
                .query_row(params![doc.as_bytes().as_slice(), peer_storage_id], |r| {
                    r.get(0)
                })
                .optional()?)
        })
    }

    fn ensure_sync_state(
        &self,
        doc: DocumentId,
        peer_storage_id: String,
        state: Vec<u8>,
    ) -> BoxFuture<'_, StorageResult<()>> {
        let counters = self.counters.clone();
        self.call(move |conn| {
            let n = conn
                .prepare_cached(
                    "INSERT INTO sync_states (doc_id, peer, state) VALUES (?1, ?2, ?3)
                     ON CONFLICT (doc_id, peer) DO NOTHING",
                )?
                .execute(params![doc.as_bytes().as_slice(), peer_storage_id, state])?;
            if n > 0 {
                counters
                    .sync_bytes
                    .fetch_add(state.len() as u64, Ordering::Relaxed);
            }
            Ok(())
        })
    }

    fn synced_documents(
        &self,
        peer_storage_id: String,
    ) -> BoxFuture<'_, StorageResult<Vec<(DocumentId, bool)>>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT s.doc_id, s.state, h.heads FROM sync_states s
                 JOIN doc_heads h ON h.doc_id = s.doc_id WHERE s.peer = ?1",
            )?;
            let rows = stmt
                .query_map(params![peer_storage_id], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::new();
            for (doc, state, heads) in rows {
                let shared = automerge::sync::State::decode(&state)
                    .map(|s| heads_to_bytes(&s.shared_heads))
                    .unwrap_or_default();
                out.push((doc_id_from_sql(doc)?, shared != heads));
            }
            Ok(out)
        })
    }

    fn save_sync_states(
        &self,
        states: Vec<(DocumentId, String, Vec<u8>)>,
    ) -> BoxFuture<'_, StorageResult<()>> {
        let counters = self.counters.clone();
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO sync_states (doc_id, peer, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (doc_id, peer) DO UPDATE SET state = excluded.state",
            )?;
            for (doc, peer, state) in &states {
                stmt.execute(params![doc.as_bytes().as_slice(), peer, state])?;
                counters
                    .sync_bytes
                    .fetch_add(state.len() as u64, Ordering::Relaxed);
            }
            Ok(())
        })
    }

    fn document_info(&self, doc: DocumentId) -> BoxFuture<'_, StorageResult<Option<DocInfo>>> {
        self.call(move |conn| {
            let row: Option<(String, String)> = conn
                .prepare_cached("SELECT production_id, kind FROM documents WHERE id = ?1")?
                .query_row(params![doc.as_bytes().as_slice()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            row.map(|(production_id, kind)| {
                Ok(DocInfo {
                    production_id,
                    kind: kind_from_json(&kind)?,
                })
            })
            .transpose()
        })
    }

    fn register_documents(
        &self,
        production_id: String,
        docs: Vec<(DocumentId, DocKind)>,
    ) -> BoxFuture<'_, StorageResult<RegisterOutcome>> {
        self.call(move |conn| {
            let mut out = RegisterOutcome::default();
            let mut get =
                conn.prepare_cached("SELECT production_id, kind FROM documents WHERE id = ?1")?;
            let mut put = conn.prepare_cached(
                "INSERT INTO documents (id, production_id, kind) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET kind = excluded.kind",
            )?;
            for (doc, kind) in docs {
                let id = doc.as_bytes().as_slice();
                let existing: Option<(String, String)> = get
                    .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let json = kind_to_json(&kind);
                match existing {
                    Some((p, _)) if p != production_id => out.refused.push(doc),
                    Some((_, k)) if k == json => {}
                    _ => {
                        put.execute(params![id, production_id, json])?;
                        out.changed.push((doc, kind));
                    }
                }
            }
            Ok(out)
        })
    }

    fn create_production(&self, p: Production) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO productions (id, title, production_doc, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![p.id, p.title, p.production_doc.as_bytes().as_slice(), p.created_at_ms],
            )?;
            Ok(())
        })
    }

    fn production(&self, id: String) -> BoxFuture<'_, StorageResult<Option<Production>>> {
        self.call(move |conn| {
            let row: Option<(String, String, Vec<u8>, i64)> = conn
                .query_row(
                    "SELECT id, title, production_doc, created_at_ms FROM productions WHERE id = ?1",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            row.map(|(id, title, doc, created_at_ms)| {
                Ok(Production {
                    id,
                    title,
                    production_doc: doc_id_from_sql(doc)?,
                    created_at_ms,
                })
            })
            .transpose()
        })
    }

    fn productions(&self) -> BoxFuture<'_, StorageResult<Vec<Production>>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, title, production_doc, created_at_ms FROM productions ORDER BY created_at_ms",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, title, doc, created_at_ms)| {
                    Ok(Production {
                        id,
                        title,
                        production_doc: doc_id_from_sql(doc)?,
                        created_at_ms,
                    })
                })
                .collect()
        })
    }

    fn create_member(&self, m: Member) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO members (id, production_id, name, role, created_at_ms, revoked_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    m.id,
                    m.production_id,
                    m.name,
                    m.role.as_str(),
                    m.created_at_ms,
                    m.revoked_at_ms
                ],
            )?;
            Ok(())
        })
    }

    fn member(&self, id: String) -> BoxFuture<'_, StorageResult<Option<Member>>> {
        self.call(move |conn| get_member(conn, &id))
    }

    fn members(&self, production_id: String) -> BoxFuture<'_, StorageResult<Vec<Member>>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {MEMBER_COLS} FROM members WHERE production_id = ?1 ORDER BY created_at_ms, id"
            ))?;
            let rows = stmt
                .query_map(params![production_id], member_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(finish_member).collect()
        })
    }

    fn revoke_member(&self, id: String, now_ms: i64) -> BoxFuture<'_, StorageResult<bool>> {
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE members SET revoked_at_ms = COALESCE(revoked_at_ms, ?2) WHERE id = ?1",
                params![id, now_ms],
            )?;
            if n == 0 {
                return Ok(false);
            }
            conn.execute(
                "UPDATE tokens SET revoked_at_ms = COALESCE(revoked_at_ms, ?2) WHERE member_id = ?1",
                params![id, now_ms],
            )?;
            conn.execute(
                "INSERT INTO revocations (member_id, token_hash, at_ms) VALUES (?1, NULL, ?2)",
                params![id, now_ms],
            )?;
            // The sign-in key goes with the member. Their dashboard sessions stay until
            // used or expired, so the next request can say "revoked" rather than "signed
            // out"; every request checks the member, so none of them works any more.
            conn.execute("DELETE FROM signin_keys WHERE member_id = ?1", params![id])?;
            Ok(true)
        })
    }

    fn revocations_since(&self, seq: i64) -> BoxFuture<'_, StorageResult<Vec<Revocation>>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, member_id, token_hash FROM revocations WHERE seq > ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![seq], |r| {
                Ok(Revocation {
                    seq: r.get(0)?,
                    member_id: r.get(1)?,
                    token_hash: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn create_invite(&self, i: Invite) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO invites (code_hash, production_id, role, member_id, created_by, created_at_ms,
                                      expires_at_ms, max_uses, uses)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    i.code_hash,
                    i.production_id,
                    i.role.as_str(),
                    i.member_id,
                    i.created_by,
                    i.created_at_ms,
                    i.expires_at_ms,
                    i.max_uses,
                    i.uses
                ],
            )?;
            Ok(())
        })
    }

    fn redeem_invite(
        &self,
        r: Redemption,
    ) -> BoxFuture<'_, StorageResult<Result<Redeemed, RedeemRefusal>>> {
        self.call(move |conn| {
            type InviteRow = (String, String, Option<String>, i64, Option<i64>, i64);
            let invite: Option<InviteRow> = conn
                .query_row(
                    "SELECT production_id, role, member_id, expires_at_ms, max_uses, uses
                     FROM invites WHERE code_hash = ?1",
                    params![r.code_hash],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                            row.get(5)?,
                        ))
                    },
                )
                .optional()?;
            let Some((production_id, role, bound, expires, max_uses, uses)) = invite else {
                return Ok(Err(RedeemRefusal::Unknown));
            };
            if expires <= r.now_ms {
                return Ok(Err(RedeemRefusal::Expired));
            }
            if max_uses.is_some_and(|m| uses >= m) {
                return Ok(Err(RedeemRefusal::UsedUp));
            }
            let role = role_from_sql(role)?;
            let (member, created_member) = match bound {
                Some(member_id) => match get_member(conn, &member_id)? {
                    Some(m) if m.revoked_at_ms.is_none() => (m, false),
                    _ => return Ok(Err(RedeemRefusal::MemberRevoked)),
                },
                None => {
                    let m = Member {
                        id: r.new_member_id.clone(),
                        production_id,
                        name: r.name.clone(),
                        role,
                        created_at_ms: r.now_ms,
                        revoked_at_ms: None,
                    };
                    conn.execute(
                        "INSERT INTO members (id, production_id, name, role, created_at_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            m.id,
                            m.production_id,
                            m.name,
                            m.role.as_str(),
                            m.created_at_ms
                        ],
                    )?;
                    (m, true)
                }
            };
            conn.execute(
                "UPDATE invites SET uses = uses + 1 WHERE code_hash = ?1",
                params![r.code_hash],
            )?;
            conn.execute(
                "INSERT INTO tokens (token_hash, member_id, device_id, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    r.token_hash,
                    member.id,
                    r.device_id,
                    r.now_ms,
                    r.token_expires_at_ms
                ],
            )?;
            Ok(Ok(Redeemed {
                member,
                created_member,
            }))
        })
    }

    fn token(&self, token_hash: String) -> BoxFuture<'_, StorageResult<Option<TokenRecord>>> {
        self.call(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT token_hash, member_id, device_id, created_at_ms, expires_at_ms, revoked_at_ms
                     FROM tokens WHERE token_hash = ?1",
                )?
                .query_row(params![token_hash], |r| {
                    Ok(TokenRecord {
                        token_hash: r.get(0)?,
                        member_id: r.get(1)?,
                        device_id: r.get(2)?,
                        created_at_ms: r.get(3)?,
                        expires_at_ms: r.get(4)?,
                        revoked_at_ms: r.get(5)?,
                    })
                })
                .optional()?)
        })
    }

    fn create_token(&self, t: TokenRecord) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO tokens (token_hash, member_id, device_id, created_at_ms, expires_at_ms, revoked_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    t.token_hash,
                    t.member_id,
                    t.device_id,
                    t.created_at_ms,
                    t.expires_at_ms,
                    t.revoked_at_ms
                ],
            )?;
            Ok(())
        })
    }

    fn invite(&self, code_hash: String) -> BoxFuture<'_, StorageResult<Option<Invite>>> {
        self.call(move |conn| {
            type Row = (
                String,
                String,
                Option<String>,
                Option<String>,
                i64,
                i64,
                Option<i64>,
                i64,
            );
            let row: Option<Row> = conn
                .query_row(
                    "SELECT production_id, role, member_id, created_by, created_at_ms, expires_at_ms,
                            max_uses, uses
                     FROM invites WHERE code_hash = ?1",
                    params![code_hash],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(production_id, role, member_id, created_by, created_at_ms, expires_at_ms, max_uses, uses)| {
                Ok(Invite {
                    code_hash: code_hash.clone(),
                    production_id,
                    role: role_from_sql(role)?,
                    member_id,
                    created_by,
                    created_at_ms,
                    expires_at_ms,
                    max_uses,
                    uses,
                })
            })
            .transpose()
        })
    }

    fn create_session(&self, s: DashSession) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM dashboard_sessions WHERE expires_at_ms <= ?1",
                params![s.created_at_ms],
            )?;
            conn.execute(
                "INSERT INTO dashboard_sessions (secret_hash, member_id, device_id, token_hash, csrf,
                                                 created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    s.secret_hash,
                    s.member_id,
                    s.device_id,
                    s.token_hash,
                    s.csrf,
                    s.created_at_ms,
                    s.expires_at_ms
                ],
            )?;
            Ok(())
        })
    }

    fn session(&self, secret_hash: String) -> BoxFuture<'_, StorageResult<Option<DashSession>>> {
        self.call(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT secret_hash, member_id, device_id, token_hash, csrf, created_at_ms, expires_at_ms
                     FROM dashboard_sessions WHERE secret_hash = ?1",
                )?
                .query_row(params![secret_hash], |r| {
                    Ok(DashSession {
                        secret_hash: r.get(0)?,
                        member_id: r.get(1)?,
                        device_id: r.get(2)?,
                        token_hash: r.get(3)?,
                        csrf: r.get(4)?,
                        created_at_ms: r.get(5)?,
                        expires_at_ms: r.get(6)?,
                    })
                })
                .optional()?)
        })
    }

    fn delete_session(&self, secret_hash: String) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM dashboard_sessions WHERE secret_hash = ?1",
                params![secret_hash],
            )?;
            Ok(())
        })
    }

    fn set_signin_key(
        &self,
        member_id: String,
        key_hash: String,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO signin_keys (member_id, key_hash, created_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (member_id) DO UPDATE SET key_hash = excluded.key_hash,
                                                       created_at_ms = excluded.created_at_ms",
                params![member_id, key_hash, now_ms],
            )?;
            Ok(())
        })
    }

    fn signin_key_member(&self, key_hash: String) -> BoxFuture<'_, StorageResult<Option<String>>> {
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT member_id FROM signin_keys WHERE key_hash = ?1",
                    params![key_hash],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn signin_key_created(&self, member_id: String) -> BoxFuture<'_, StorageResult<Option<i64>>> {
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT created_at_ms FROM signin_keys WHERE member_id = ?1",
                    params![member_id],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn relay_storage_id(&self) -> BoxFuture<'_, StorageResult<String>> {
        self.call(|conn| {
            let fresh = uuid::Uuid::new_v4().to_string();
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('storage_id', ?1) ON CONFLICT (key) DO NOTHING",
                params![fresh],
            )?;
            Ok(conn.query_row(
                "SELECT value FROM meta WHERE key = 'storage_id'",
                [],
                |r| r.get(0),
            )?)
        })
    }

    fn stats(&self) -> StorageStats {
        StorageStats {
            doc_bytes_written: self.counters.doc_bytes.load(Ordering::Relaxed),
            sync_state_bytes_written: self.counters.sync_bytes.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
        }
    }

    fn health(&self) -> BoxFuture<'_, Result<(), String>> {
        // A small write through the writer connection, in its transaction and commit: a
        // full disk or a failing device fails it, and its success clears an earlier fault.
        let probe = self.call(|conn| {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('health_probe', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![crate::auth::now_ms().to_string()],
            )?;
            Ok(())
        });
        let counters = self.counters.clone();
        Box::pin(async move {
            let probed = probe.await;
            counters.health()?;
            probed.map_err(|e| e.to_string())
        })
    }

    fn flush(&self) -> BoxFuture<'_, StorageResult<()>> {
        // Jobs run in order, so once this no-op has committed everything before it has too.
        self.call(|_conn| Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        1_700_000_000_000
    }

    async fn with_production(s: &SqliteStorage) -> Production {
        let p = Production {
            id: "p1".into(),
            title: "Night Shift".into(),
            production_doc: DocumentId::random(),
            created_at_ms: now(),
        };
        s.create_production(p.clone()).await.unwrap();
        p
    }

    #[tokio::test]
    async fn chunks_append_and_compact_keeps_unknown_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        let d = DocumentId::random();
        let a = s.append_chunk(d, vec![1, 2, 3], vec![]).await.unwrap();
        let b = s.append_chunk(d, vec![4], vec![]).await.unwrap();
        let c = s.append_chunk(d, vec![5], vec![]).await.unwrap();
        assert_eq!((a, b, c), (1, 2, 3));
        // A compaction that only knew chunks a and b leaves c in place.
        s.compact(d, vec![9, 9], vec![a, b]).await.unwrap();
        let chunks = s.load_chunks(d).await.unwrap();
        let got: Vec<(bool, Vec<u8>)> = chunks.into_iter().map(|c| (c.snapshot, c.data)).collect();
        assert_eq!(got, vec![(false, vec![5]), (true, vec![9, 9])]);
        assert_eq!(s.stats().doc_bytes_written, 3 + 1 + 1 + 2);
        assert!(s
            .load_chunks(DocumentId::random())
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn registry_never_moves_a_document_between_productions() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        with_production(&s).await;
        s.create_production(Production {
            id: "p2".into(),
            title: "Other".into(),
            production_doc: DocumentId::random(),
            created_at_ms: now(),
        })
        .await
        .unwrap();
        let d = DocumentId::random();
        let board = DocKind::Board {
            day: "2026-11-24".into(),
        };
        let out = s
            .register_documents("p1".into(), vec![(d, board.clone())])
            .await
            .unwrap();
        assert_eq!(out.changed, vec![(d, board.clone())]);
        let again = s
            .register_documents("p1".into(), vec![(d, board.clone())])
            .await
            .unwrap();
        assert!(again.changed.is_empty());
        let other = s
            .register_documents("p2".into(), vec![(d, DocKind::Shared)])
            .await
            .unwrap();
        assert_eq!(other.refused, vec![d]);
        let info = s.document_info(d).await.unwrap().unwrap();
        assert_eq!(info.production_id, "p1");
        assert_eq!(info.kind, board);
    }

    #[tokio::test]
    async fn invites_redeem_once_then_refuse_and_revocation_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        let p = with_production(&s).await;
        s.create_invite(Invite {
            code_hash: "h1".into(),
            production_id: p.id.clone(),
            role: Role::Pa,
            member_id: None,
            created_by: None,
            created_at_ms: now(),
            expires_at_ms: now() + 1000,
            max_uses: Some(1),
            uses: 0,
        })
        .await
        .unwrap();
        let red = |code: &str, t: &str, at: i64| Redemption {
            code_hash: code.into(),
            now_ms: at,
            new_member_id: format!("m-{t}"),
            name: "Pat".into(),
            token_hash: t.into(),
            device_id: "dev".into(),
            token_expires_at_ms: at + 10_000,
        };
        let ok = s
            .redeem_invite(red("h1", "t1", now()))
            .await
            .unwrap()
            .unwrap();
        assert!(ok.created_member);
        assert_eq!(ok.member.role, Role::Pa);
        assert_eq!(
            s.redeem_invite(red("h1", "t2", now()))
                .await
                .unwrap()
                .unwrap_err(),
            RedeemRefusal::UsedUp
        );
        assert_eq!(
            s.redeem_invite(red("nope", "t3", now()))
                .await
                .unwrap()
                .unwrap_err(),
            RedeemRefusal::Unknown
        );
        assert!(s.token("t2".into()).await.unwrap().is_none());
        let t = s.token("t1".into()).await.unwrap().unwrap();
        assert_eq!(t.member_id, ok.member.id);
        assert!(s.revoke_member(ok.member.id.clone(), now()).await.unwrap());
        assert!(!s.revoke_member("ghost".into(), now()).await.unwrap());
        let t = s.token("t1".into()).await.unwrap().unwrap();
        assert!(t.revoked_at_ms.is_some());
        let revs = s.revocations_since(0).await.unwrap();
        assert_eq!(revs.len(), 1);
        assert_eq!(revs[0].member_id.as_deref(), Some(ok.member.id.as_str()));
        assert!(s.revocations_since(revs[0].seq).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failing_job_does_not_undo_its_batch_neighbours() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        let p = with_production(&s).await;
        // Duplicate production id fails; the append queued alongside it must still commit.
        let d = DocumentId::random();
        let (dup, app) = tokio::join!(
            s.create_production(p.clone()),
            s.append_chunk(d, vec![7], vec![])
        );
        assert!(dup.is_err());
        assert_eq!(app.unwrap(), 1);
        drop(s);
        let s = SqliteStorage::open(dir.path()).unwrap();
        assert_eq!(s.load_chunks(d).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn health_reports_a_failing_commit_until_a_write_succeeds_again() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full");
        let s = SqliteStorage::open_with(
            dir.path(),
            SqliteOptions {
                fault_file: Some(full.clone()),
            },
        )
        .unwrap();
        with_production(&s).await;
        s.health().await.unwrap();
        std::fs::write(&full, b"").unwrap();
        let d = DocumentId::random();
        let err = s.append_chunk(d, vec![1], vec![]).await.unwrap_err();
        assert!(matches!(err, StorageError::Fault(_)), "{err}");
        // Reads still work, as on a full disk; health says why writes do not.
        assert!(s.load_chunks(d).await.unwrap().is_empty());
        let why = s.health().await.unwrap_err();
        assert!(why.contains("disk is full"), "{why}");
        std::fs::remove_file(&full).unwrap();
        s.health().await.unwrap();
        assert_eq!(s.append_chunk(d, vec![1], vec![]).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_database_from_before_versioning_gains_the_new_tables_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(dir.path().join("setlink.db")).unwrap();
            c.execute_batch(SCHEMA).unwrap();
            c.execute(
                "INSERT INTO productions (id, title, production_doc, created_at_ms) VALUES ('p1', 'Old', zeroblob(16), 1)",
                [],
            )
            .unwrap();
        }
        let s = SqliteStorage::open(dir.path()).unwrap();
        assert_eq!(s.productions().await.unwrap().len(), 1);
        let version: i64 = s
            .call(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        drop(s);
        // Opening again runs nothing twice.
        SqliteStorage::open(dir.path()).unwrap();
    }

    #[tokio::test]
    async fn sessions_and_signin_keys_end_with_their_member() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        let p = with_production(&s).await;
        let m = Member {
            id: "m1".into(),
            production_id: p.id.clone(),
            name: "Casey".into(),
            role: Role::Coordinator,
            created_at_ms: now(),
            revoked_at_ms: None,
        };
        s.create_member(m.clone()).await.unwrap();
        let session = |hash: &str, expires: i64| DashSession {
            secret_hash: hash.into(),
            member_id: m.id.clone(),
            device_id: "dashboard-x".into(),
            token_hash: None,
            csrf: "c".into(),
            created_at_ms: now(),
            expires_at_ms: expires,
        };
        s.create_session(session("old", now() - 1)).await.unwrap();
        s.create_session(session("s1", now() + 1000)).await.unwrap();
        // Expired sessions are forgotten when the next one opens.
        assert!(s.session("old".into()).await.unwrap().is_none());
        assert_eq!(
            s.session("s1".into()).await.unwrap(),
            Some(session("s1", now() + 1000))
        );
        s.set_signin_key(m.id.clone(), "k1".into(), now())
            .await
            .unwrap();
        s.set_signin_key(m.id.clone(), "k2".into(), now())
            .await
            .unwrap();
        assert!(s.signin_key_member("k1".into()).await.unwrap().is_none());
        assert_eq!(
            s.signin_key_member("k2".into()).await.unwrap().as_deref(),
            Some("m1")
        );
        assert!(s.revoke_member(m.id.clone(), now()).await.unwrap());
        // The session row stays (the dashboard refuses it for the revoked member and
        // says so); the key is gone.
        assert!(s
            .member(m.id.clone())
            .await
            .unwrap()
            .unwrap()
            .revoked_at_ms
            .is_some());
        assert!(s.signin_key_member("k2".into()).await.unwrap().is_none());
        assert!(s.signin_key_created(m.id.clone()).await.unwrap().is_none());
    }
}
