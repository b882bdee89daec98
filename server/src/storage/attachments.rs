//! The attachment store: photos and PDFs (receipts, proof of delivery) a production's
//! devices upload, each stored once per production under its sha256, with the documents
//! that reference it and, for images, a thumbnail.
//!
//! An upload arrives in parts (`append_part`, each durable before the device hears of
//! it), so a connection that drops resumes where the relay's answer says. The bytes are
//! checked whole (hash, type) by the caller before `finish_upload` moves them from parts
//! to the attachment in one transaction.

use futures_util::future::BoxFuture;
use setlink_core::DocumentId;

use super::{StorageError, StorageResult};

/// How far an upload has come.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadState {
    /// Bytes the store holds, from the start: the next part's offset.
    pub received: u64,
    /// The attachment's whole size, once a part or the attachment says it.
    pub size: Option<u64>,
    /// Its type, as the upload's first part named it (`None` once stored whole).
    pub mime: Option<String>,
    /// The whole attachment is stored.
    pub complete: bool,
}

/// One part of an upload: bytes `[offset, offset + bytes.len())` of an attachment of
/// `size` bytes and type `mime`.
#[derive(Debug, Clone)]
pub struct NewPart {
    pub production_id: String,
    pub hash: String,
    pub offset: u64,
    pub size: u64,
    pub mime: String,
    pub bytes: Vec<u8>,
    pub now_ms: i64,
}

/// What became of a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOutcome {
    /// Stored; the upload now holds `received` bytes.
    Stored { received: u64 },
    /// The part does not start where the upload stands: nothing stored.
    WrongOffset { received: u64 },
    /// The part names another size or type than the upload's first part: nothing stored.
    Inconsistent { size: u64, mime: String },
    /// The attachment is already stored whole: nothing to add.
    Complete { size: u64 },
}

/// A stored attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentMeta {
    pub mime: String,
    pub size: u64,
    pub has_thumb: bool,
    pub created_at_ms: i64,
}

/// An attachment and the documents it was uploaded for (the orphan collector's input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRefs {
    pub production_id: String,
    pub hash: String,
    pub docs: Vec<DocumentId>,
}

pub trait AttachmentStore: Send + Sync + 'static {
    fn upload_state(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<UploadState>>;
    /// Appends a part if it starts where the upload stands, in one transaction.
    fn append_part(&self, part: NewPart) -> BoxFuture<'_, StorageResult<PartOutcome>>;
    /// Every byte of an unfinished upload, in order.
    fn upload_bytes(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<Vec<u8>>>;
    /// Stores the attachment (kept as it is if already stored) and drops its parts, in one
    /// transaction.
    fn finish_upload(
        &self,
        production_id: String,
        hash: String,
        mime: String,
        bytes: Vec<u8>,
        thumb: Option<Vec<u8>>,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>>;
    /// Drops an upload's parts (its bytes did not match its hash).
    fn discard_upload(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<()>>;
    fn attachment(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<Option<AttachmentMeta>>>;
    /// Bytes `[start, start + len)` of a stored attachment (fewer at its end).
    fn attachment_range(
        &self,
        production_id: String,
        hash: String,
        start: u64,
        len: u64,
    ) -> BoxFuture<'_, StorageResult<Option<Vec<u8>>>>;
    fn attachment_thumb(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<Option<Vec<u8>>>>;
    /// Records that `doc` referenced the attachment when it was uploaded (once).
    fn add_attachment_ref(
        &self,
        production_id: String,
        hash: String,
        doc: DocumentId,
    ) -> BoxFuture<'_, StorageResult<()>>;
    fn attachment_refs(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<Vec<DocumentId>>>;
    fn remove_attachment_ref(
        &self,
        production_id: String,
        hash: String,
        doc: DocumentId,
    ) -> BoxFuture<'_, StorageResult<()>>;
    /// Drops unfinished uploads whose last part was written before `before_ms`; returns
    /// how many uploads went.
    fn expire_uploads(&self, before_ms: i64) -> BoxFuture<'_, StorageResult<usize>>;
    /// Attachments stored before `before_ms`, with the documents they were uploaded for.
    fn attachments_before(
        &self,
        before_ms: i64,
    ) -> BoxFuture<'_, StorageResult<Vec<AttachmentRefs>>>;
    fn delete_attachment(
        &self,
        production_id: String,
        hash: String,
    ) -> BoxFuture<'_, StorageResult<()>>;
}

/// A size or offset read from the database (stored signed in both backends).
pub(super) fn to_u64(v: i64, what: &str) -> StorageResult<u64> {
    u64::try_from(v).map_err(|_| StorageError::Corrupt(format!("negative {what}: {v}")))
}

/// A size or offset to store (both backends store signed 64-bit integers).
pub(super) fn to_i64(v: u64) -> StorageResult<i64> {
    i64::try_from(v).map_err(|_| StorageError::Database(format!("{v} is out of range")))
}

/// Rows of (production, hash, a document it was uploaded for, if any), ordered by
/// production and hash, as one entry per attachment.
pub(super) fn group_refs(
    rows: impl IntoIterator<Item = (String, String, Option<DocumentId>)>,
) -> Vec<AttachmentRefs> {
    let mut out: Vec<AttachmentRefs> = Vec::new();
    for (production_id, hash, doc) in rows {
        match out.last_mut() {
            Some(last) if last.production_id == production_id && last.hash == hash => {
                last.docs.extend(doc)
            }
            _ => out.push(AttachmentRefs {
                production_id,
                hash,
                docs: doc.into_iter().collect(),
            }),
        }
    }
    out
}
