//! The `attachments` table: photos and PDFs by sha256, taken here or downloaded.
//!
//! Every write is one statement or one explicit transaction, committed before the call
//! returns (WAL, `synchronous=FULL`), like the rest of the store. The checks on the bytes
//! (type, size, hash) are the caller's: see [`crate::attachment`] and `Device`.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{classify, Store, StoreError};
use crate::attachment::{AttachmentRef, AttachmentType};

/// Where an attachment on the device came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttachmentOrigin {
    /// Taken on this device: kept for good, uploaded when its document is in sync.
    Local,
    /// Downloaded from the relay: a cache entry, evicted least recently used first.
    Downloaded,
}

impl AttachmentOrigin {
    fn code(self) -> i64 {
        match self {
            AttachmentOrigin::Local => 0,
            AttachmentOrigin::Downloaded => 1,
        }
    }
}

/// An attachment's row, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAttachment {
    pub attachment: AttachmentRef,
    pub origin: AttachmentOrigin,
    /// The relay has it all (always true of a downloaded one).
    pub uploaded: bool,
    /// Device clock, ms since the epoch: when it was stored or last read.
    pub last_used_ms: i64,
}

impl Store {
    /// Stores an attachment unless its hash is already here (a phone never stores the
    /// same photo twice). Storing as `Local` what is here as `Downloaded` makes it `Local`,
    /// so the cache never evicts a photo this device uses as its own; it stays uploaded.
    /// `Downloaded` rows are stored as uploaded. Returns whether the bytes were written.
    pub fn insert_attachment(
        &mut self,
        attachment: &AttachmentRef,
        bytes: &[u8],
        origin: AttachmentOrigin,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let size = i64::try_from(attachment.size).unwrap_or(i64::MAX);
        let uploaded = origin == AttachmentOrigin::Downloaded;
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO attachments
                 (hash, mime, size, bytes, origin, uploaded, last_used_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    attachment.hash,
                    attachment.kind.mime(),
                    size,
                    bytes,
                    origin.code(),
                    uploaded,
                    now_ms
                ])
            })
            .map_err(|e| self.sql_err(e))?;
        if inserted == 0 && origin == AttachmentOrigin::Local {
            self.conn
                .prepare_cached(
                    "UPDATE attachments SET origin = 0, last_used_ms = ?2
                     WHERE hash = ?1 AND origin <> 0",
                )
                .and_then(|mut s| s.execute(params![attachment.hash, now_ms]))
                .map_err(|e| self.sql_err(e))?;
        }
        if inserted > 0 {
            self.bytes_written += bytes.len() as u64;
        }
        Ok(inserted > 0)
    }

    /// An attachment's row, `None` if it is not here.
    pub fn attachment(&self, hash: &str) -> Result<Option<StoredAttachment>, StoreError> {
        let row: Option<(String, String, i64, i64, bool, i64)> = self
            .conn
            .prepare_cached(
                "SELECT hash, mime, size, origin, uploaded, last_used_ms
                 FROM attachments WHERE hash = ?1",
            )
            .and_then(|mut s| {
                s.query_row(params![hash], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .optional()
            })
            .map_err(|e| self.sql_err(e))?;
        row.map(|(hash, mime, size, origin, uploaded, last_used_ms)| {
            Ok(StoredAttachment {
                attachment: self.decode_ref(hash, &mime, size)?,
                origin: self.decode_origin(origin)?,
                uploaded,
                last_used_ms,
            })
        })
        .transpose()
    }

    /// An attachment's bytes, `None` if it is not here. Reading it marks it used at
    /// `now_ms` (the cache keeps what was read last).
    pub fn attachment_bytes(
        &mut self,
        hash: &str,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT bytes FROM attachments WHERE hash = ?1")
            .and_then(|mut s| s.query_row(params![hash], |r| r.get(0)).optional())
            .map_err(|e| self.sql_err(e))?;
        if bytes.is_some() {
            self.conn
                .prepare_cached("UPDATE attachments SET last_used_ms = ?2 WHERE hash = ?1")
                .and_then(|mut s| s.execute(params![hash, now_ms]))
                .map_err(|e| self.sql_err(e))?;
        }
        Ok(bytes)
    }

    /// Attachments taken here that the relay does not have yet, oldest first.
    pub fn pending_uploads(&self) -> Result<Vec<AttachmentRef>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT hash, mime, size FROM attachments
                 WHERE origin = 0 AND uploaded = 0 ORDER BY rowid",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows: Vec<(String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql_err(e))?;
        drop(stmt);
        rows.into_iter()
            .map(|(hash, mime, size)| self.decode_ref(hash, &mime, size))
            .collect()
    }

    /// The bytes of [`Self::pending_uploads`], summed.
    pub fn bytes_pending_upload(&self) -> Result<u64, StoreError> {
        let total: i64 = self
            .conn
            .prepare_cached(
                "SELECT COALESCE(SUM(size), 0) FROM attachments WHERE origin = 0 AND uploaded = 0",
            )
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(|e| self.sql_err(e))?;
        Ok(u64::try_from(total).unwrap_or(0))
    }

    /// Records that the relay has the whole attachment. Returns whether it is here.
    pub fn mark_attachment_uploaded(&mut self, hash: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("UPDATE attachments SET uploaded = 1 WHERE hash = ?1")
            .and_then(|mut s| s.execute(params![hash]))
            .map_err(|e| self.sql_err(e))?;
        Ok(n > 0)
    }

    /// Deletes downloaded attachments, least recently used first, until those left add up
    /// to at most `budget` bytes. Attachments taken here are never deleted. Returns the
    /// hashes deleted. One transaction.
    pub fn evict_downloaded(&mut self, budget: u64) -> Result<Vec<String>, StoreError> {
        let path = self.path.clone();
        let e = |err| classify(&path, err);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        let rows: Vec<(String, i64)> = tx
            .prepare_cached(
                "SELECT hash, size FROM attachments WHERE origin = 1
                 ORDER BY last_used_ms DESC, rowid DESC",
            )
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .and_then(|rows| rows.collect())
            })
            .map_err(e)?;
        let mut kept = 0u64;
        let mut evicted = Vec::new();
        for (hash, size) in rows {
            let size = u64::try_from(size).unwrap_or(0);
            if kept.saturating_add(size) <= budget {
                kept += size;
            } else {
                // Keep counting: a smaller, older entry may still fit.
                evicted.push(hash);
            }
        }
        for hash in &evicted {
            tx.prepare_cached("DELETE FROM attachments WHERE hash = ?1 AND origin = 1")
                .and_then(|mut s| s.execute(params![hash]))
                .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(evicted)
    }

    fn decode_ref(&self, hash: String, mime: &str, size: i64) -> Result<AttachmentRef, StoreError> {
        let kind = AttachmentType::from_mime(mime).ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!("attachment {hash} has the unknown type `{mime}`"),
        })?;
        Ok(AttachmentRef {
            hash,
            kind,
            size: u64::try_from(size).unwrap_or(0),
        })
    }

    fn decode_origin(&self, code: i64) -> Result<AttachmentOrigin, StoreError> {
        match code {
            0 => Ok(AttachmentOrigin::Local),
            1 => Ok(AttachmentOrigin::Downloaded),
            other => Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!("an attachment of unknown origin {other}"),
            }),
        }
    }
}
