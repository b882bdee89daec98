//! The durable local store: one SQLite file per device.
//!
//! Every call that changes data commits its own transaction before it returns, and the
//! connection runs in WAL mode with `synchronous=FULL`, so a returned call survives a
//! killed process or a power cut.
//!
//! A document is kept as at most one snapshot (`Automerge::save`) plus the raw bytes of
//! the changes made since, appended in order. Appending a change never rewrites the
//! document; when the appended bytes outgrow the snapshot, the document is compacted
//! into a new snapshot inside the same transaction as the append that tipped it over.
//!
//! The file carries our `application_id` and a schema version in `user_version`; older
//! files are migrated forward in order, newer or foreign files are refused with a typed
//! error instead of being touched.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use automerge::{Automerge, LoadOptions, OnPartialLoad, VerificationMode};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use thiserror::Error;

use crate::access::DocKind;
use crate::ids::DocumentId;

mod attachments;
pub use attachments::{AttachmentOrigin, StoredAttachment};

/// `PRAGMA application_id` of a setlink store ("SLNK"), so we never mistake another
/// application's SQLite file for ours, nor write into it.
pub const APPLICATION_ID: i32 = 0x534C_4E4B;

/// Schema migrations, in order. Migration `i` takes the file from version `i` to `i + 1`;
/// the current version is their count. Never edit a released migration, append one.
const MIGRATIONS: &[&str] = &[
    // 1: documents, their snapshots and appended changes, and device metadata.
    "CREATE TABLE documents (
        id BLOB PRIMARY KEY NOT NULL,
        kind TEXT NOT NULL,
        created_ms INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE snapshots (
        doc_id BLOB PRIMARY KEY NOT NULL REFERENCES documents(id),
        data BLOB NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE changes (
        doc_id BLOB NOT NULL REFERENCES documents(id),
        seq INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (doc_id, seq)
     ) WITHOUT ROWID;
     CREATE TABLE meta (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
     ) WITHOUT ROWID;",
    // 2: automerge sync states per (document, peer storage id), so a reconnect to a
    // known peer only exchanges what changed since.
    "CREATE TABLE sync_states (
        doc_id BLOB NOT NULL REFERENCES documents(id),
        peer TEXT NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (doc_id, peer)
     ) WITHOUT ROWID;",
    // 3: attachments (photos of receipts and proofs, PDFs) by sha256: taken on this device
    // (origin 0, kept until uploaded and after) or downloaded (origin 1, a cache evicted
    // least recently used first). A rowid table: uploads go in the order photos were taken.
    "CREATE TABLE attachments (
        hash TEXT PRIMARY KEY NOT NULL,
        mime TEXT NOT NULL,
        size INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        origin INTEGER NOT NULL,
        uploaded INTEGER NOT NULL DEFAULT 0,
        last_used_ms INTEGER NOT NULL
     );
     CREATE INDEX attachments_by_origin ON attachments (origin, uploaded, last_used_ms);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Appended changes smaller than this never trigger a compaction, so a small document is
/// not re-saved on every edit while its snapshot is still tiny.
const MIN_COMPACTION_BYTES: u64 = 8 * 1024;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the store at `{path}`: {source}")]
    CannotOpen {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("`{path}` is not a setlink store (not an SQLite database); move it aside or choose another path")]
    NotADatabase { path: PathBuf },
    #[error("`{path}` is another application's SQLite database (application_id {application_id:#x}, {tables} tables), not a setlink store; refusing to touch it")]
    Foreign {
        path: PathBuf,
        application_id: i32,
        tables: i64,
    },
    #[error("`{path}` has schema version {found}, newer than the {supported} this build of setlink understands; update the app")]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("the store at `{path}` is corrupt ({detail}); restore it from a backup or move it aside and sync again")]
    Corrupt { path: PathBuf, detail: String },
    #[error("the store at `{path}` is in use by another process")]
    Locked { path: PathBuf },
    #[error("document {id} is corrupt in the store ({detail})")]
    CorruptDocument { id: DocumentId, detail: String },
    #[error("document {0} is not in the store")]
    UnknownDocument(DocumentId),
    #[error("document {0} is already in the store")]
    DocumentExists(DocumentId),
    #[error("store error at `{path}`: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// A document's row in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDocument {
    pub id: DocumentId,
    pub kind: DocKind,
    pub created_ms: i64,
}

/// How a document is laid out on disk; compaction keeps `incremental_bytes` at or below
/// `max(snapshot_bytes, 8 KiB)` after every append.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DocumentStats {
    pub snapshot_bytes: u64,
    pub incremental_bytes: u64,
    pub incremental_count: u64,
}

/// What one append wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Whether the document was compacted into a fresh snapshot in this transaction.
    pub compacted: bool,
    /// Blob bytes written: the change bytes, plus the snapshot if compacted, plus the sync state.
    pub bytes_written: u64,
}

/// Per-document bookkeeping kept in memory, because summing blob lengths on every append
/// would cost a scan of the document's rows. Valid because the connection holds the file
/// exclusively (`locking_mode=EXCLUSIVE`): nobody else can append behind our back.
#[derive(Clone, Copy, Debug, Default)]
struct Tail {
    next_seq: i64,
    stats: DocumentStats,
}

/// A document's snapshot and appended changes, concatenated in order.
#[derive(Clone, Debug)]
pub struct StoredBytes {
    pub id: DocumentId,
    pub bytes: Vec<u8>,
    pub has_snapshot: bool,
}

impl StoredBytes {
    /// Decodes the document; bytes that do not load are `CorruptDocument` naming the id.
    pub fn decode(&self) -> Result<Automerge, StoreError> {
        // One load over snapshot + changes is much faster than a load followed by one
        // `load_incremental` per row, and `OnPartialLoad::Error` turns a damaged row into an
        // error rather than a silently shorter document.
        Automerge::load_with_options(
            &self.bytes,
            LoadOptions::new()
                .on_partial_load(OnPartialLoad::Error)
                .verification_mode(VerificationMode::Check),
        )
        .map_err(|err| StoreError::CorruptDocument {
            id: self.id,
            detail: format!(
                "{} does not load: {err}",
                if self.has_snapshot {
                    "its snapshot and changes"
                } else {
                    "its changes"
                }
            ),
        })
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    tails: HashMap<DocumentId, Tail>,
    bytes_written: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if absent) the store at `path`, migrating an older schema forward.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_migrating_to(path.as_ref(), SCHEMA_VERSION)
    }

    fn open_migrating_to(path: &Path, target: u32) -> Result<Store, StoreError> {
        let path = path.to_path_buf();
        let conn = Connection::open(&path).map_err(|source| StoreError::CannotOpen {
            path: path.clone(),
            source,
        })?;
        let mut store = Store {
            conn,
            path,
            tails: HashMap::new(),
            bytes_written: 0,
        };
        store.configure()?;
        store.migrate(target)?;
        Ok(store)
    }

    /// Checks what the file is before changing anything in it (switching to WAL rewrites
    /// the header), then configures the connection and migrates.
    fn configure(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e = |err| classify(&path, err);
        self.conn
            .busy_timeout(Duration::from_millis(500))
            .map_err(e)?;
        // Exclusive locking: one Device owns its file; a second opener gets `Locked` at
        // once instead of racing our in-memory bookkeeping. It also lets WAL work without
        // the shared-memory index file.
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "locking_mode", "EXCLUSIVE", |r| r.get(0))
            .map_err(e)?;
        if !mode.eq_ignore_ascii_case("exclusive") {
            return Err(StoreError::Corrupt {
                path,
                detail: format!("could not take the file exclusively (locking_mode {mode})"),
            });
        }
        // Reading the header first: random bytes fail here with SQLITE_NOTADB.
        let app_id: i32 = self
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(e)?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(e)?;
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(e)?;
        let fresh = app_id == 0 && version == 0 && tables == 0;
        if !fresh && app_id != APPLICATION_ID {
            return Err(StoreError::Foreign {
                path,
                application_id: app_id,
                tables,
            });
        }
        if version > i64::from(SCHEMA_VERSION) {
            return Err(StoreError::TooNew {
                path,
                found: u32::try_from(version).unwrap_or(u32::MAX),
                supported: SCHEMA_VERSION,
            });
        }
        if version < 0 {
            return Err(StoreError::Corrupt {
                path,
                detail: format!("negative schema version {version}"),
            });
        }
        let journal: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(e)?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt {
                path,
                detail: format!("could not switch to WAL (journal_mode {journal})"),
            });
        }
        // FULL: the WAL is fsynced at every commit, so a returned call survives power loss.
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(e)?;
        self.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(e)?;
        Ok(())
    }

    fn migrate(&mut self, target: u32) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e = |err| classify(&path, err);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        // Read again inside the write transaction: the authoritative value.
        let version: u32 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(e)?;
        if version < target {
            for sql in MIGRATIONS
                .iter()
                .take(target as usize)
                .skip(version as usize)
            {
                tx.execute_batch(sql).map_err(e)?;
            }
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(e)?;
            tx.pragma_update(None, "user_version", target).map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let v: u32 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|err| classify(&self.path, err))?;
        Ok(v)
    }

    /// Total blob bytes this Store has written since it was opened (changes, snapshots,
    /// sync states), for measuring write amplification.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// SQLite's full `integrity_check`; `Ok(())` when the file is sound.
    pub fn check_integrity(&self) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|err| classify(&self.path, err))?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|err| classify(&self.path, err))?;
        if rows.len() == 1 && rows.first().is_some_and(|r| r == "ok") {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: rows.join("; "),
            })
        }
    }

    fn sql_err(&self, err: rusqlite::Error) -> StoreError {
        classify(&self.path, err)
    }

    /// Every document in the store, in no particular order.
    pub fn documents(&self) -> Result<Vec<StoredDocument>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, kind, created_ms FROM documents")
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.sql_err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, created_ms) = row.map_err(|e| self.sql_err(e))?;
            let id = decode_id(&self.path, &id)?;
            let kind = decode_kind(id, &kind)?;
            out.push(StoredDocument {
                id,
                kind,
                created_ms,
            });
        }
        Ok(out)
    }

    /// The recorded kind of a document, `None` if the store does not hold it.
    pub fn kind(&self, id: &DocumentId) -> Result<Option<DocKind>, StoreError> {
        let kind: Option<String> = self
            .conn
            .prepare_cached("SELECT kind FROM documents WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row(params![id.as_bytes().as_slice()], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.sql_err(e))?;
        kind.map(|k| decode_kind(*id, &k)).transpose()
    }

    /// Records a new, empty document. Fails with `DocumentExists` if the id is taken.
    pub fn insert_document(
        &mut self,
        id: &DocumentId,
        kind: &DocKind,
        created_ms: i64,
    ) -> Result<(), StoreError> {
        let kind_json = encode_kind(kind);
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO documents (id, kind, created_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![id.as_bytes().as_slice(), kind_json, created_ms]))
            .map_err(|e| self.sql_err(e))?;
        if inserted == 0 {
            return Err(StoreError::DocumentExists(*id));
        }
        self.tails.insert(
            *id,
            Tail {
                next_seq: 1,
                stats: DocumentStats::default(),
            },
        );
        Ok(())
    }

    /// Changes the recorded kind of a document (a `Shared` placeholder learning its real kind
    /// from the production index).
    pub fn set_kind(&mut self, id: &DocumentId, kind: &DocKind) -> Result<(), StoreError> {
        let n = self
            .conn
            .prepare_cached("UPDATE documents SET kind = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id.as_bytes().as_slice(), encode_kind(kind)]))
            .map_err(|e| self.sql_err(e))?;
        if n == 0 {
            return Err(StoreError::UnknownDocument(*id));
        }
        Ok(())
    }

    fn tail(&mut self, id: &DocumentId) -> Result<Tail, StoreError> {
        if let Some(t) = self.tails.get(id) {
            return Ok(*t);
        }
        let key = id.as_bytes().as_slice();
        let exists: bool = self
            .conn
            .prepare_cached("SELECT 1 FROM documents WHERE id = ?1")
            .and_then(|mut s| s.exists(params![key]))
            .map_err(|e| self.sql_err(e))?;
        if !exists {
            return Err(StoreError::UnknownDocument(*id));
        }
        let (max_seq, inc_bytes, inc_count): (i64, i64, i64) = self
            .conn
            .prepare_cached(
                "SELECT COALESCE(MAX(seq), 0), COALESCE(SUM(length(data)), 0), COUNT(*)
                 FROM changes WHERE doc_id = ?1",
            )
            .and_then(|mut s| s.query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
            .map_err(|e| self.sql_err(e))?;
        let snap_bytes: i64 = self
            .conn
            .prepare_cached("SELECT length(data) FROM snapshots WHERE doc_id = ?1")
            .and_then(|mut s| s.query_row(params![key], |r| r.get(0)).optional())
            .map_err(|e| self.sql_err(e))?
            .unwrap_or(0);
        let t = Tail {
            next_seq: max_seq.saturating_add(1),
            stats: DocumentStats {
                snapshot_bytes: u64::try_from(snap_bytes).unwrap_or(0),
                incremental_bytes: u64::try_from(inc_bytes).unwrap_or(0),
                incremental_count: u64::try_from(inc_count).unwrap_or(0),
            },
        };
        self.tails.insert(*id, t);
        Ok(t)
    }

    /// How the document is laid out on disk.
    pub fn stats(&mut self, id: &DocumentId) -> Result<DocumentStats, StoreError> {
        Ok(self.tail(id)?.stats)
    }

    /// Loads a document: its snapshot followed by its appended changes, in order. An unknown
    /// id is `UnknownDocument`; bytes that do not load are `CorruptDocument` naming the id.
    pub fn load_document(&self, id: &DocumentId) -> Result<Automerge, StoreError> {
        self.document_bytes(id)?.decode()
    }

    /// A document's stored bytes, read but not yet decoded, so that decoding (the expensive
    /// part of opening) can run on other threads than the one holding the connection.
    pub fn document_bytes(&self, id: &DocumentId) -> Result<StoredBytes, StoreError> {
        let key = id.as_bytes().as_slice();
        let mut bytes: Vec<u8> = self
            .conn
            .prepare_cached("SELECT data FROM snapshots WHERE doc_id = ?1")
            .and_then(|mut s| s.query_row(params![key], |r| r.get(0)).optional())
            .map_err(|e| self.sql_err(e))?
            .unwrap_or_default();
        let has_snapshot = !bytes.is_empty();
        {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT data FROM changes WHERE doc_id = ?1 ORDER BY seq")
                .map_err(|e| classify(&self.path, e))?;
            let mut rows = stmt
                .query(params![key])
                .map_err(|e| classify(&self.path, e))?;
            while let Some(row) = rows.next().map_err(|e| classify(&self.path, e))? {
                let data = row
                    .get_ref(0)
                    .and_then(|v| v.as_blob().map_err(Into::into))
                    .map_err(|e| classify(&self.path, e))?;
                bytes.extend_from_slice(data);
            }
        }
        // Nothing stored is either an empty document or no document: only then ask which.
        if bytes.is_empty() && self.kind(id)?.is_none() {
            return Err(StoreError::UnknownDocument(*id));
        }
        Ok(StoredBytes {
            id: *id,
            bytes,
            has_snapshot,
        })
    }

    /// Appends `changes` (raw Automerge change bytes, as `Automerge::save_after` returns)
    /// to the document and, in the same transaction, the sync state for `sync_state.0` if
    /// given. `doc` must be the document with these changes applied: it is saved as the new
    /// snapshot when the appended bytes outgrow the current one. Returns after the commit.
    pub fn append(
        &mut self,
        id: &DocumentId,
        changes: &[u8],
        doc: &Automerge,
        sync_state: Option<(&str, &[u8])>,
    ) -> Result<AppendOutcome, StoreError> {
        let tail = self.tail(id)?;
        let key = id.as_bytes().as_slice();
        let len = changes.len() as u64;
        let grown = tail.stats.incremental_bytes + len;
        let compacts = grown > tail.stats.snapshot_bytes.max(MIN_COMPACTION_BYTES);
        if sync_state.is_none() && !changes.is_empty() && !compacts {
            // The common case, a local change: one statement, so SQLite's own implicit
            // transaction is the whole write (atomic, and durable on return in WAL with
            // synchronous=FULL); BEGIN and COMMIT around it would only add two statements
            // to the hottest write on the phone.
            self.conn
                .prepare_cached("INSERT INTO changes (doc_id, seq, data) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| s.execute(params![key, tail.next_seq, changes]))
                .map_err(|err| classify(&self.path, err))?;
            let mut next = tail;
            next.next_seq = tail.next_seq.saturating_add(1);
            next.stats.incremental_bytes = grown;
            next.stats.incremental_count += 1;
            self.tails.insert(*id, next);
            self.bytes_written += len;
            return Ok(AppendOutcome {
                compacted: false,
                bytes_written: len,
            });
        }
        let path = self.path.clone();
        let e = |err| classify(&path, err);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let mut next = tail;
        let mut outcome = AppendOutcome::default();
        if !changes.is_empty() {
            let len = changes.len() as u64;
            let grown = tail.stats.incremental_bytes + len;
            if grown > tail.stats.snapshot_bytes.max(MIN_COMPACTION_BYTES) {
                let snapshot = doc.save();
                tx.prepare_cached("DELETE FROM changes WHERE doc_id = ?1")
                    .and_then(|mut s| s.execute(params![key]))
                    .map_err(e)?;
                tx.prepare_cached(
                    "INSERT INTO snapshots (doc_id, data) VALUES (?1, ?2)
                     ON CONFLICT (doc_id) DO UPDATE SET data = excluded.data",
                )
                .and_then(|mut s| s.execute(params![key, snapshot]))
                .map_err(e)?;
                next.stats = DocumentStats {
                    snapshot_bytes: snapshot.len() as u64,
                    incremental_bytes: 0,
                    incremental_count: 0,
                };
                outcome.compacted = true;
                outcome.bytes_written += snapshot.len() as u64;
            } else {
                tx.prepare_cached("INSERT INTO changes (doc_id, seq, data) VALUES (?1, ?2, ?3)")
                    .and_then(|mut s| s.execute(params![key, tail.next_seq, changes]))
                    .map_err(e)?;
                next.next_seq = tail.next_seq.saturating_add(1);
                next.stats.incremental_bytes = grown;
                next.stats.incremental_count += 1;
                outcome.bytes_written += len;
            }
        }
        if let Some((peer, state)) = sync_state {
            write_sync_state(&tx, key, peer, state).map_err(e)?;
            outcome.bytes_written += state.len() as u64;
        }
        tx.commit().map_err(e)?;
        // Only after the commit: a failed transaction leaves the bookkeeping as it was.
        self.tails.insert(*id, next);
        self.bytes_written += outcome.bytes_written;
        Ok(outcome)
    }

    /// Rewrites the document as one snapshot of `doc` and drops its appended changes.
    pub fn compact(&mut self, id: &DocumentId, doc: &Automerge) -> Result<(), StoreError> {
        let tail = self.tail(id)?;
        let key = id.as_bytes().as_slice();
        let snapshot = doc.save();
        let path = self.path.clone();
        let e = |err| classify(&path, err);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        tx.execute("DELETE FROM changes WHERE doc_id = ?1", params![key])
            .map_err(e)?;
        tx.execute(
            "INSERT INTO snapshots (doc_id, data) VALUES (?1, ?2)
             ON CONFLICT (doc_id) DO UPDATE SET data = excluded.data",
            params![key, snapshot],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        self.tails.insert(
            *id,
            Tail {
                next_seq: tail.next_seq,
                stats: DocumentStats {
                    snapshot_bytes: snapshot.len() as u64,
                    incremental_bytes: 0,
                    incremental_count: 0,
                },
            },
        );
        self.bytes_written += snapshot.len() as u64;
        Ok(())
    }

    /// The persisted sync state bytes (`automerge::sync::State::encode`) for a peer.
    pub fn sync_state(&self, id: &DocumentId, peer: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .prepare_cached("SELECT state FROM sync_states WHERE doc_id = ?1 AND peer = ?2")
            .and_then(|mut s| {
                s.query_row(params![id.as_bytes().as_slice(), peer], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.sql_err(e))
    }

    /// Persists a sync state on its own (durably, like every write).
    pub fn save_sync_state(
        &mut self,
        id: &DocumentId,
        peer: &str,
        state: &[u8],
    ) -> Result<(), StoreError> {
        self.tail(id)?;
        write_sync_state(&self.conn, id.as_bytes().as_slice(), peer, state)
            .map_err(|e| classify(&self.path, e))?;
        self.bytes_written += state.len() as u64;
        Ok(())
    }

    /// A device metadata value (identity, relay URL, token, ...).
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .and_then(|mut s| s.query_row(params![key], |r| r.get(0)).optional())
            .map_err(|e| self.sql_err(e))
    }

    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut s| s.execute(params![key, value]))
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    pub fn delete_meta(&mut self, key: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM meta WHERE key = ?1")
            .and_then(|mut s| s.execute(params![key]))
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }
}

fn write_sync_state(
    conn: &Connection,
    key: &[u8],
    peer: &str,
    state: &[u8],
) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(
        "INSERT INTO sync_states (doc_id, peer, state) VALUES (?1, ?2, ?3)
         ON CONFLICT (doc_id, peer) DO UPDATE SET state = excluded.state",
    )?
    .execute(params![key, peer, state])?;
    Ok(())
}

fn encode_kind(kind: &DocKind) -> String {
    // DocKind is a plain tagged enum of strings; serialising it cannot fail.
    serde_json::to_string(kind).unwrap_or_else(|_| String::from("{}"))
}

fn decode_kind(id: DocumentId, json: &str) -> Result<DocKind, StoreError> {
    serde_json::from_str(json).map_err(|err| StoreError::CorruptDocument {
        id,
        detail: format!("its recorded kind `{json}` is not a document kind: {err}"),
    })
}

fn decode_id(path: &Path, raw: &[u8]) -> Result<DocumentId, StoreError> {
    let bytes: [u8; 16] = raw.try_into().map_err(|_| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("a document id of {} bytes instead of 16", raw.len()),
    })?;
    Ok(DocumentId::from_bytes(bytes))
}

/// Turns SQLite's result codes into the errors a user can act on.
fn classify(path: &Path, err: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotADatabase { path },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path,
            detail: err.to_string(),
        },
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            StoreError::Locked { path }
        }
        _ => StoreError::Sqlite { path, source: err },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::ROOT;

    fn put(doc: &mut Automerge, key: &str, value: i64) -> Vec<u8> {
        let before = doc.get_heads();
        let mut tx = doc.transaction();
        tx.put(ROOT, key, value).unwrap();
        tx.commit();
        doc.save_after(&before)
    }

    #[test]
    fn a_version_1_file_migrates_to_the_current_schema_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let id = DocumentId::random();
        let mut doc = Automerge::new();
        {
            let mut v1 = Store::open_migrating_to(&path, 1).unwrap();
            assert_eq!(v1.schema_version().unwrap(), 1);
            v1.insert_document(&id, &DocKind::Production, 7).unwrap();
            let bytes = put(&mut doc, "title", 1);
            v1.append(&id, &bytes, &doc, None).unwrap();
            // The v1 schema has no sync states yet.
            assert!(v1.sync_state(&id, "peer").is_err());
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(
            store.load_document(&id).unwrap().get_heads(),
            doc.get_heads()
        );
        // Version 3's attachments table is there.
        assert!(store.pending_uploads().unwrap().is_empty());
        store.save_sync_state(&id, "peer", b"state").unwrap();
        assert_eq!(
            store.sync_state(&id, "peer").unwrap().as_deref(),
            Some(&b"state"[..])
        );
    }
}
