//! [`DocStore`] on SQLite: chunks, heads, sync states, the document registry.

use std::sync::atomic::Ordering;

use automerge::ChangeHash;
use futures_util::future::BoxFuture;
use rusqlite::{params, OptionalExtension};
use setlink_core::{DocKind, DocumentId};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{doc_id_from_sql, SqliteStorage};
use crate::storage::{
    heads_to_bytes, kind_from_json, kind_to_json, Chunk, DocInfo, DocStore, RegisterOutcome,
    StorageResult, StorageStats, StoreEvent,
};

impl DocStore for SqliteStorage {
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

    /// None: the data directory is locked, so no other relay shares this database.
    fn events(&self) -> Option<UnboundedReceiver<StoreEvent>> {
        None
    }
}
