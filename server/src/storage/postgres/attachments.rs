//! [`AttachmentStore`] on PostgreSQL. A part is appended under a transaction-scoped
//! advisory lock on its upload, so two relays receiving parts of one upload at once
//! (a device that reconnected through the load balancer) take turns.

use futures_util::future::BoxFuture;
use setlink_core::DocumentId;
use tokio_postgres::GenericClient;

use super::{doc_id_from_sql, pg_err, PostgresStorage};
use crate::storage::attachments::{group_refs, to_i64, to_u64};
use crate::storage::{
    AttachmentMeta, AttachmentRefs, AttachmentStore, NewPart, PartOutcome, StorageResult,
    UploadState,
};

async fn stored_size<C: GenericClient>(
    c: &C,
    production_id: &str,
    hash: &str,
) -> StorageResult<Option<u64>> {
    let row = c
        .query_opt(
            "SELECT size FROM attachments WHERE production_id = $1 AND hash = $2",
            &[&production_id, &hash],
        )
        .await
        .map_err(pg_err)?;
    row.map(|r| to_u64(r.get(0), "attachment size")).transpose()
}

async fn parts_state<C: GenericClient>(
    c: &C,
    production_id: &str,
    hash: &str,
) -> StorageResult<(u64, Option<(u64, String)>)> {
    let r = c
        .query_one(
            "SELECT COALESCE(SUM(LENGTH(bytes)), 0)::BIGINT,
                    (SELECT size FROM attachment_parts WHERE production_id = $1 AND hash = $2
                     ORDER BY part_offset LIMIT 1),
                    (SELECT mime FROM attachment_parts WHERE production_id = $1 AND hash = $2
                     ORDER BY part_offset LIMIT 1)
             FROM attachment_parts WHERE production_id = $1 AND hash = $2",
            &[&production_id, &hash],
        )
        .await
        .map_err(pg_err)?;
    let size: Option<i64> = r.get(1);
    let mime: Option<String> = r.get(2);
    let first = match size.zip(mime) {
        Some((s, m)) => Some((to_u64(s, "upload size")?, m)),
        None => None,
    };
    Ok((to_u64(r.get(0), "upload length")?, first))
}

impl AttachmentStore for PostgresStorage {
    fn upload_state(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<UploadState>> {
        self.call(move |client| async move {
            if let Some(size) = stored_size(&**client, &production_id, &hash).await? {
                return Ok(UploadState {
                    received: size,
                    size: Some(size),
                    mime: None,
                    complete: true,
                });
            }
            let (received, first) = parts_state(&**client, &production_id, &hash).await?;
            let (size, mime) = first.unzip();
            Ok(UploadState {
                received,
                size,
                mime,
                complete: false,
            })
        })
    }

    fn append_part(&self, part: NewPart) -> BoxFuture<'_, StorageResult<PartOutcome>> {
        self.call(move |mut client| async move {
            let tx = client.transaction().await.map_err(pg_err)?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))",
                &[&part.production_id, &part.hash],
            )
            .await
            .map_err(pg_err)?;
            if let Some(size) = stored_size(&*tx, &part.production_id, &part.hash).await? {
                return Ok(PartOutcome::Complete { size });
            }
            let (received, first) = parts_state(&*tx, &part.production_id, &part.hash).await?;
            if let Some((size, mime)) = first {
                if size != part.size || mime != part.mime {
                    return Ok(PartOutcome::Inconsistent { size, mime });
                }
            }
            if part.offset != received {
                return Ok(PartOutcome::WrongOffset { received });
            }
            tx.execute(
                "INSERT INTO attachment_parts
                   (production_id, hash, part_offset, size, mime, bytes, written_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &part.production_id,
                    &part.hash,
                    &to_i64(part.offset)?,
                    &to_i64(part.size)?,
                    &part.mime,
                    &part.bytes,
                    &part.now_ms,
                ],
            )
            .await
            .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            self.committed();
            Ok(PartOutcome::Stored {
                received: received + part.bytes.len() as u64,
            })
        })
    }

    fn upload_bytes(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<Vec<u8>>> {
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT bytes FROM attachment_parts WHERE production_id = $1 AND hash = $2
                     ORDER BY part_offset",
                    &[&production_id, &hash],
                )
                .await
                .map_err(pg_err)?;
            let mut out = Vec::new();
            for r in rows {
                out.extend_from_slice(r.get::<_, &[u8]>(0));
            }
            Ok(out)
        })
    }

    fn finish_upload(
        &self,
        production_id: String,
        hash: String,
        mime: String,
        bytes: Vec<u8>,
        thumb: Option<Vec<u8>>,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |mut client| async move {
            let tx = client.transaction().await.map_err(pg_err)?;
            tx.execute(
                "INSERT INTO attachments (production_id, hash, mime, size, bytes, thumb, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (production_id, hash) DO NOTHING",
                &[&production_id, &hash, &mime, &(bytes.len() as i64), &bytes, &thumb, &now_ms],
            )
            .await
            .map_err(pg_err)?;
            tx.execute(
                "DELETE FROM attachment_parts WHERE production_id = $1 AND hash = $2",
                &[&production_id, &hash],
            )
            .await
            .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn discard_upload(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            client
                .execute(
                    "DELETE FROM attachment_parts WHERE production_id = $1 AND hash = $2",
                    &[&production_id, &hash],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn attachment(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<Option<AttachmentMeta>>> {
        self.call(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT mime, size, thumb IS NOT NULL, created_at_ms FROM attachments
                     WHERE production_id = $1 AND hash = $2",
                    &[&production_id, &hash],
                )
                .await
                .map_err(pg_err)?;
            row.map(|r| {
                Ok(AttachmentMeta {
                    mime: r.get(0),
                    size: to_u64(r.get(1), "attachment size")?,
                    has_thumb: r.get(2),
                    created_at_ms: r.get(3),
                })
            })
            .transpose()
        })
    }

    fn attachment_range(
        &self,
        production_id: String,
        hash: String,
        start: u64,
        len: u64,
    ) -> BoxFuture<'_, StorageResult<Option<Vec<u8>>>> {
        self.call(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT substring(bytes FROM $3::BIGINT::INT FOR $4::BIGINT::INT) FROM attachments
                     WHERE production_id = $1 AND hash = $2",
                    &[&production_id, &hash, &(to_i64(start)? + 1), &to_i64(len)?],
                )
                .await
                .map_err(pg_err)?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })
    }

    fn attachment_thumb(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<Option<Vec<u8>>>> {
        self.call(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT thumb FROM attachments WHERE production_id = $1 AND hash = $2",
                    &[&production_id, &hash],
                )
                .await
                .map_err(pg_err)?;
            Ok(row.and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
        })
    }

    fn add_attachment_ref(
        &self,
        production_id: String,
        hash: String,
        doc: DocumentId,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO attachment_refs (production_id, hash, doc_id) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&production_id, &hash, &doc.as_bytes().as_slice()],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn attachment_refs(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<Vec<DocumentId>>> {
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT doc_id FROM attachment_refs WHERE production_id = $1 AND hash = $2",
                    &[&production_id, &hash],
                )
                .await
                .map_err(pg_err)?;
            rows.into_iter()
                .map(|r| doc_id_from_sql(r.get(0)))
                .collect()
        })
    }

    fn remove_attachment_ref(
        &self,
        production_id: String,
        hash: String,
        doc: DocumentId,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            client
                .execute(
                    "DELETE FROM attachment_refs WHERE production_id = $1 AND hash = $2 AND doc_id = $3",
                    &[&production_id, &hash, &doc.as_bytes().as_slice()],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn expire_uploads(&self, before_ms: i64) -> BoxFuture<'_, StorageResult<usize>> {
        self.call(move |client| async move {
            let rows = client
                .query(
                    "DELETE FROM attachment_parts p USING (
                         SELECT production_id, hash FROM attachment_parts
                         GROUP BY production_id, hash HAVING MAX(written_at_ms) < $1
                     ) s
                     WHERE p.production_id = s.production_id AND p.hash = s.hash
                     RETURNING p.production_id, p.hash",
                    &[&before_ms],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            let mut uploads: Vec<(String, String)> =
                rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            uploads.sort();
            uploads.dedup();
            Ok(uploads.len())
        })
    }

    fn attachments_before(
        &self,
        before_ms: i64,
    ) -> BoxFuture<'_, StorageResult<Vec<AttachmentRefs>>> {
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT a.production_id, a.hash, r.doc_id FROM attachments a
                     LEFT JOIN attachment_refs r
                       ON r.production_id = a.production_id AND r.hash = a.hash
                     WHERE a.created_at_ms < $1
                     ORDER BY a.production_id, a.hash",
                    &[&before_ms],
                )
                .await
                .map_err(pg_err)?;
            let rows = rows
                .iter()
                .map(|r| {
                    let doc = r
                        .get::<_, Option<Vec<u8>>>(2)
                        .map(doc_id_from_sql)
                        .transpose()?;
                    Ok((r.get(0), r.get(1), doc))
                })
                .collect::<StorageResult<Vec<_>>>()?;
            Ok(group_refs(rows))
        })
    }

    fn delete_attachment(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |mut client| async move {
            let tx = client.transaction().await.map_err(pg_err)?;
            for sql in [
                "DELETE FROM attachments WHERE production_id = $1 AND hash = $2",
                "DELETE FROM attachment_refs WHERE production_id = $1 AND hash = $2",
            ] {
                tx.execute(sql, &[&production_id, &hash])
                    .await
                    .map_err(pg_err)?;
            }
            tx.commit().await.map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }
}
