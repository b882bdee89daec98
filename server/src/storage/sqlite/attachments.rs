//! [`AttachmentStore`] on SQLite: parts, attachments and their references, each write one
//! savepoint of the writer's group-commit transaction.

use futures_util::future::BoxFuture;
use rusqlite::{params, Connection, OptionalExtension};
use setlink_core::DocumentId;

use super::{doc_id_from_sql, SqliteStorage};
use crate::storage::attachments::{group_refs, to_i64, to_u64};
use crate::storage::{
    AttachmentMeta, AttachmentRefs, AttachmentStore, NewPart, PartOutcome, StorageError,
    StorageResult, UploadState,
};

/// The stored attachment's size, if it is stored whole.
fn stored_size(conn: &Connection, production_id: &str, hash: &str) -> StorageResult<Option<u64>> {
    let size: Option<i64> = conn
        .prepare_cached("SELECT size FROM attachments WHERE production_id = ?1 AND hash = ?2")?
        .query_row(params![production_id, hash], |r| r.get(0))
        .optional()?;
    size.map(|s| to_u64(s, "attachment size")).transpose()
}

/// Bytes held by an unfinished upload, and the size and type its first part named.
fn parts_state(
    conn: &Connection,
    production_id: &str,
    hash: &str,
) -> StorageResult<(u64, Option<(u64, String)>)> {
    let (received, first): (i64, Option<(i64, String)>) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(LENGTH(bytes)), 0),
                    (SELECT size FROM attachment_parts WHERE production_id = ?1 AND hash = ?2
                     ORDER BY part_offset LIMIT 1),
                    (SELECT mime FROM attachment_parts WHERE production_id = ?1 AND hash = ?2
                     ORDER BY part_offset LIMIT 1)
             FROM attachment_parts WHERE production_id = ?1 AND hash = ?2",
        )?
        .query_row(params![production_id, hash], |r| {
            let size: Option<i64> = r.get(1)?;
            let mime: Option<String> = r.get(2)?;
            Ok((r.get(0)?, size.zip(mime)))
        })?;
    let first = match first {
        Some((s, m)) => Some((to_u64(s, "upload size")?, m)),
        None => None,
    };
    Ok((to_u64(received, "upload length")?, first))
}

impl AttachmentStore for SqliteStorage {
    fn upload_state(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<UploadState>> {
        self.call(move |conn| {
            if let Some(size) = stored_size(conn, &production_id, &hash)? {
                return Ok(UploadState {
                    received: size,
                    size: Some(size),
                    mime: None,
                    complete: true,
                });
            }
            let (received, first) = parts_state(conn, &production_id, &hash)?;
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
        self.call(move |conn| {
            if let Some(size) = stored_size(conn, &part.production_id, &part.hash)? {
                return Ok(PartOutcome::Complete { size });
            }
            let (received, first) = parts_state(conn, &part.production_id, &part.hash)?;
            if let Some((size, mime)) = first {
                if size != part.size || mime != part.mime {
                    return Ok(PartOutcome::Inconsistent { size, mime });
                }
            }
            if part.offset != received {
                return Ok(PartOutcome::WrongOffset { received });
            }
            conn.prepare_cached(
                "INSERT INTO attachment_parts
                   (production_id, hash, part_offset, size, mime, bytes, written_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                part.production_id,
                part.hash,
                to_i64(part.offset)?,
                to_i64(part.size)?,
                part.mime,
                part.bytes,
                part.now_ms
            ])?;
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
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT bytes FROM attachment_parts WHERE production_id = ?1 AND hash = ?2
                 ORDER BY part_offset",
            )?;
            let mut out = Vec::new();
            let mut rows = stmt.query(params![production_id, hash])?;
            while let Some(r) = rows.next()? {
                let part = r.get_ref(0)?.as_blob().map_err(|e| {
                    StorageError::Corrupt(format!("an upload part is not bytes: {e}"))
                })?;
                out.extend_from_slice(part);
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
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO attachments (production_id, hash, mime, size, bytes, thumb, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (production_id, hash) DO NOTHING",
                params![production_id, hash, mime, bytes.len() as i64, bytes, thumb, now_ms],
            )?;
            conn.execute(
                "DELETE FROM attachment_parts WHERE production_id = ?1 AND hash = ?2",
                params![production_id, hash],
            )?;
            Ok(())
        })
    }

    fn discard_upload(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM attachment_parts WHERE production_id = ?1 AND hash = ?2",
                params![production_id, hash],
            )?;
            Ok(())
        })
    }

    fn attachment(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<Option<AttachmentMeta>>> {
        self.call(move |conn| {
            let row: Option<(String, i64, bool, i64)> = conn
                .prepare_cached(
                    "SELECT mime, size, thumb IS NOT NULL, created_at_ms FROM attachments
                     WHERE production_id = ?1 AND hash = ?2",
                )?
                .query_row(params![production_id, hash], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            row.map(|(mime, size, has_thumb, created_at_ms)| {
                Ok(AttachmentMeta {
                    mime,
                    size: to_u64(size, "attachment size")?,
                    has_thumb,
                    created_at_ms,
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
        self.call(move |conn| {
            // substr on a BLOB counts bytes, from 1.
            Ok(conn
                .prepare_cached(
                    "SELECT substr(bytes, ?3, ?4) FROM attachments
                     WHERE production_id = ?1 AND hash = ?2",
                )?
                .query_row(
                    params![production_id, hash, to_i64(start)? + 1, to_i64(len)?],
                    |r| r.get::<_, Option<Vec<u8>>>(0),
                )
                .optional()?
                .map(Option::unwrap_or_default))
        })
    }

    fn attachment_thumb(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<Option<Vec<u8>>>> {
        self.call(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT thumb FROM attachments WHERE production_id = ?1 AND hash = ?2",
                )?
                .query_row(params![production_id, hash], |r| {
                    r.get::<_, Option<Vec<u8>>>(0)
                })
                .optional()?
                .flatten())
        })
    }

    fn add_attachment_ref(
        &self,
        production_id: String,
        hash: String,
        doc: DocumentId,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.prepare_cached(
                "INSERT INTO attachment_refs (production_id, hash, doc_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![production_id, hash, doc.as_bytes().as_slice()])?;
            Ok(())
        })
    }

    fn attachment_refs(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<Vec<DocumentId>>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT doc_id FROM attachment_refs WHERE production_id = ?1 AND hash = ?2",
            )?;
            let ids = stmt
                .query_map(params![production_id, hash], |r| r.get::<_, Vec<u8>>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            ids.into_iter().map(doc_id_from_sql).collect()
        })
    }

    fn remove_attachment_ref(
        &self,
        production_id: String,
        hash: String,
        doc: DocumentId,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM attachment_refs WHERE production_id = ?1 AND hash = ?2 AND doc_id = ?3",
                params![production_id, hash, doc.as_bytes().as_slice()],
            )?;
            Ok(())
        })
    }

    fn expire_uploads(&self, before_ms: i64) -> BoxFuture<'_, StorageResult<usize>> {
        self.call(move |conn| {
            // An upload goes whole when its newest part is older than the cut-off.
            let stale: Vec<(String, String)> = conn
                .prepare(
                    "SELECT production_id, hash FROM attachment_parts
                     GROUP BY production_id, hash HAVING MAX(written_at_ms) < ?1",
                )?
                .query_map(params![before_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            for (p, h) in &stale {
                conn.execute(
                    "DELETE FROM attachment_parts WHERE production_id = ?1 AND hash = ?2",
                    params![p, h],
                )?;
            }
            Ok(stale.len())
        })
    }

    fn attachments_before(
        &self,
        before_ms: i64,
    ) -> BoxFuture<'_, StorageResult<Vec<AttachmentRefs>>> {
        self.call(move |conn| {
            let rows: Vec<(String, String, Option<Vec<u8>>)> = conn
                .prepare(
                    "SELECT a.production_id, a.hash, r.doc_id FROM attachments a
                     LEFT JOIN attachment_refs r
                       ON r.production_id = a.production_id AND r.hash = a.hash
                     WHERE a.created_at_ms < ?1
                     ORDER BY a.production_id, a.hash",
                )?
                .query_map(params![before_ms], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            let rows = rows
                .into_iter()
                .map(|(p, h, doc)| Ok((p, h, doc.map(doc_id_from_sql).transpose()?)))
                .collect::<StorageResult<Vec<_>>>()?;
            Ok(group_refs(rows))
        })
    }

    fn delete_attachment(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM attachments WHERE production_id = ?1 AND hash = ?2",
                params![production_id, hash],
            )?;
            conn.execute(
                "DELETE FROM attachment_refs WHERE production_id = ?1 AND hash = ?2",
                params![production_id, hash],
            )?;
            Ok(())
        })
    }
}
