//! [`DocStore`] on PostgreSQL: chunks (ordered by a bigserial seq), heads, sync states,
//! the document registry, and the append notifications.

use std::sync::atomic::Ordering;
use std::time::Duration;

use automerge::ChangeHash;
use futures_util::future::BoxFuture;
use setlink_core::{DocKind, DocumentId};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{doc_id_from_sql, listen, pg_err, PostgresStorage, CHANNEL};
use crate::storage::{
    heads_to_bytes, kind_from_json, kind_to_json, Chunk, DocInfo, DocStore, Presence,
    RegisterOutcome, StorageResult, StorageStats, StoreEvent,
};

impl DocStore for PostgresStorage {
    fn load_chunks(&self, doc: DocumentId) -> BoxFuture<'_, StorageResult<Vec<Chunk>>> {
        self.call(move |client| async move {
            let stmt = client
                .prepare_cached(
                    "SELECT seq, snapshot, data FROM doc_chunks WHERE doc_id = $1 ORDER BY seq",
                )
                .await
                .map_err(pg_err)?;
            let rows = client
                .query(&stmt, &[&doc.as_bytes().as_slice()])
                .await
                .map_err(pg_err)?;
            Ok(rows
                .into_iter()
                .map(|r| Chunk {
                    seq: r.get(0),
                    snapshot: r.get(1),
                    data: r.get(2),
                })
                .collect())
        })
    }

    fn append_chunk(
        &self,
        doc: DocumentId,
        data: Vec<u8>,
        heads: Vec<ChangeHash>,
    ) -> BoxFuture<'_, StorageResult<i64>> {
        self.call(move |mut client| async move {
            let id = doc.as_bytes().as_slice();
            let note = listen::payload(&self.writer, &doc, &heads);
            let tx = client.transaction().await.map_err(pg_err)?;
            let seq: i64 = tx
                .query_one(
                    "INSERT INTO doc_chunks (doc_id, snapshot, data) VALUES ($1, false, $2)
                     RETURNING seq",
                    &[&id, &data],
                )
                .await
                .map_err(pg_err)?
                .get(0);
            tx.execute(
                "INSERT INTO doc_heads (doc_id, heads) VALUES ($1, $2)
                 ON CONFLICT (doc_id) DO UPDATE SET heads = excluded.heads",
                &[&id, &heads_to_bytes(&heads)],
            )
            .await
            .map_err(pg_err)?;
            // Inside the transaction: PostgreSQL delivers it at COMMIT, never before.
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &note])
                .await
                .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            self.committed();
            self.counters
                .doc_bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            Ok(seq)
        })
    }

    fn compact(
        &self,
        doc: DocumentId,
        snapshot: Vec<u8>,
        replaces: Vec<i64>,
    ) -> BoxFuture<'_, StorageResult<i64>> {
        self.call(move |mut client| async move {
            let id = doc.as_bytes().as_slice();
            let tx = client.transaction().await.map_err(pg_err)?;
            tx.execute(
                "DELETE FROM doc_chunks WHERE doc_id = $1 AND seq = ANY($2)",
                &[&id, &replaces],
            )
            .await
            .map_err(pg_err)?;
            let seq: i64 = tx
                .query_one(
                    "INSERT INTO doc_chunks (doc_id, snapshot, data) VALUES ($1, true, $2)
                     RETURNING seq",
                    &[&id, &snapshot],
                )
                .await
                .map_err(pg_err)?
                .get(0);
            tx.commit().await.map_err(pg_err)?;
            self.committed();
            self.counters
                .doc_bytes
                .fetch_add(snapshot.len() as u64, Ordering::Relaxed);
            Ok(seq)
        })
    }

    fn load_sync_state(
        &self,
        doc: DocumentId,
        peer_storage_id: String,
    ) -> BoxFuture<'_, StorageResult<Option<Vec<u8>>>> {
        self.call(move |client| async move {
            let stmt = client
                .prepare_cached("SELECT state FROM sync_states WHERE doc_id = $1 AND peer = $2")
                .await
                .map_err(pg_err)?;
            let row = client
                .query_opt(&stmt, &[&doc.as_bytes().as_slice(), &peer_storage_id])
                .await
                .map_err(pg_err)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn ensure_sync_state(
        &self,
        doc: DocumentId,
        peer_storage_id: String,
        state: Vec<u8>,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            let n = client
                .execute(
                    "INSERT INTO sync_states (doc_id, peer, state) VALUES ($1, $2, $3)
                     ON CONFLICT (doc_id, peer) DO NOTHING",
                    &[&doc.as_bytes().as_slice(), &peer_storage_id, &state],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            if n > 0 {
                self.counters
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
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT s.doc_id, s.state, h.heads FROM sync_states s
                     JOIN doc_heads h ON h.doc_id = s.doc_id WHERE s.peer = $1",
                    &[&peer_storage_id],
                )
                .await
                .map_err(pg_err)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let state: Vec<u8> = r.get(1);
                let heads: Vec<u8> = r.get(2);
                let shared = automerge::sync::State::decode(&state)
                    .map(|s| heads_to_bytes(&s.shared_heads))
                    .unwrap_or_default();
                out.push((doc_id_from_sql(r.get(0))?, shared != heads));
            }
            Ok(out)
        })
    }

    fn save_sync_states(
        &self,
        states: Vec<(DocumentId, String, Vec<u8>)>,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            if states.is_empty() {
                return Ok(());
            }
            // One statement for the whole batch (one round trip, one commit). A batch may
            // name a (doc, peer) twice: the last state wins, as it would one by one.
            let mut latest: std::collections::HashMap<(DocumentId, &str), &[u8]> =
                std::collections::HashMap::with_capacity(states.len());
            for (doc, peer, state) in &states {
                latest.insert((*doc, peer.as_str()), state.as_slice());
            }
            let mut docs = Vec::with_capacity(latest.len());
            let mut peers = Vec::with_capacity(latest.len());
            let mut blobs = Vec::with_capacity(latest.len());
            for ((doc, peer), state) in latest {
                docs.push(doc.as_bytes().to_vec());
                peers.push(peer);
                blobs.push(state);
            }
            client
                .execute(
                    "INSERT INTO sync_states (doc_id, peer, state)
                     SELECT * FROM unnest($1::bytea[], $2::text[], $3::bytea[])
                     ON CONFLICT (doc_id, peer) DO UPDATE SET state = excluded.state",
                    &[&docs, &peers, &blobs],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            let bytes: usize = states.iter().map(|(_, _, s)| s.len()).sum();
            self.counters
                .sync_bytes
                .fetch_add(bytes as u64, Ordering::Relaxed);
            Ok(())
        })
    }

    fn document_info(&self, doc: DocumentId) -> BoxFuture<'_, StorageResult<Option<DocInfo>>> {
        self.call(move |client| async move {
            let stmt = client
                .prepare_cached("SELECT production_id, kind FROM documents WHERE id = $1")
                .await
                .map_err(pg_err)?;
            let row = client
                .query_opt(&stmt, &[&doc.as_bytes().as_slice()])
                .await
                .map_err(pg_err)?;
            row.map(|r| {
                let kind: String = r.get(1);
                Ok(DocInfo {
                    production_id: r.get(0),
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
        self.call(move |mut client| async move {
            let mut out = RegisterOutcome::default();
            let tx = client.transaction().await.map_err(pg_err)?;
            // Insert, or change the kind only when the row is this production's: another
            // relay registering the same document at once cannot move it.
            let put = tx
                .prepare(
                    "INSERT INTO documents (id, production_id, kind) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO UPDATE SET kind = excluded.kind
                     WHERE documents.production_id = excluded.production_id
                       AND documents.kind <> excluded.kind
                     RETURNING 1",
                )
                .await
                .map_err(pg_err)?;
            let owner = tx
                .prepare("SELECT production_id FROM documents WHERE id = $1")
                .await
                .map_err(pg_err)?;
            for (doc, kind) in docs {
                let id = doc.as_bytes().as_slice();
                let json = kind_to_json(&kind);
                if tx
                    .query_opt(&put, &[&id, &production_id, &json])
                    .await
                    .map_err(pg_err)?
                    .is_some()
                {
                    out.changed.push((doc, kind));
                    continue;
                }
                let p: String = tx.query_one(&owner, &[&id]).await.map_err(pg_err)?.get(0);
                if p != production_id {
                    out.refused.push(doc);
                }
            }
            tx.commit().await.map_err(pg_err)?;
            self.committed();
            Ok(out)
        })
    }

    fn relay_storage_id(&self) -> BoxFuture<'_, StorageResult<String>> {
        // Shared by every relay on this database: peers keep one sync state with "the
        // relay", whichever instance the load balancer picks.
        self.call(|client| async move {
            let fresh = uuid::Uuid::new_v4().to_string();
            client
                .execute(
                    "INSERT INTO meta (key, value) VALUES ('storage_id', $1)
                     ON CONFLICT (key) DO NOTHING",
                    &[&fresh],
                )
                .await
                .map_err(pg_err)?;
            Ok(client
                .query_one("SELECT value FROM meta WHERE key = 'storage_id'", &[])
                .await
                .map_err(pg_err)?
                .get(0))
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
        Box::pin(async move {
            let probe = async {
                let client = super::get(&self.pool).await?;
                client.simple_query("SELECT 1").await.map_err(pg_err)?;
                Ok::<_, crate::storage::StorageError>(())
            };
            match tokio::time::timeout(Duration::from_secs(3), probe).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("PostgreSQL did not answer SELECT 1 within 3 s".into()),
            }
        })
    }

    fn flush(&self) -> BoxFuture<'_, StorageResult<()>> {
        // Nothing is queued: every write that returned Ok has committed.
        Box::pin(async { Ok(()) })
    }

    /// The other relays' appends, heard over LISTEN; `None` after the first call and when
    /// the store was opened without [`super::PostgresOptions::listen`].
    fn events(&self) -> Option<UnboundedReceiver<StoreEvent>> {
        self.take_events()
    }

    fn share_presence(&self, presence: Presence) -> BoxFuture<'_, StorageResult<()>> {
        let Some(note) = listen::presence_payload(&self.writer, &presence) else {
            return Box::pin(async { Ok(()) });
        };
        self.call(move |client| async move {
            client
                .execute(
                    "SELECT pg_notify($1, $2)",
                    &[&super::PRESENCE_CHANNEL, &note],
                )
                .await
                .map_err(pg_err)?;
            Ok(())
        })
    }
}
