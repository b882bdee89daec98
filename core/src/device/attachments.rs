//! Attachments on the device: photos taken here (kept, uploaded when the document that
//! references them is in sync) and photos downloaded (a cache within a budget).
//!
//! Bytes are checked before anything is stored ([`AttachmentRef::for_bytes`]: not
//! empty, at most [`crate::attachment::MAX_ATTACHMENT_BYTES`], a JPEG, PNG, HEIC or PDF by
//! its content), so a refused attachment changes nothing. Stored attachments are durable
//! when the call returns, like documents.

use std::path::Path;
use std::sync::Arc;

use super::{Device, DeviceError, ObserverId};
use crate::access::DocKind;
use crate::attachment::{
    board_references, is_hash, AttachmentError, AttachmentRef, MAX_ATTACHMENT_BYTES,
};
use crate::ids::DocumentId;
use crate::store::{AttachmentOrigin, StoredAttachment};

/// How many bytes of downloaded attachments a device keeps unless told otherwise.
pub const DEFAULT_ATTACHMENT_CACHE_BUDGET: u64 = 100 * 1024 * 1024;

/// Hears when the bytes waiting for upload change (a photo taken, an upload finished).
/// Called synchronously under the device's lock: return quickly, never call back into
/// the `Device`.
pub trait AttachmentObserver: Send + Sync {
    fn pending_changed(&self, bytes_pending_upload: u64);
}

pub(super) struct AttachmentState {
    cache_budget: u64,
    observers: Vec<(ObserverId, Arc<dyn AttachmentObserver>)>,
}

impl Default for AttachmentState {
    fn default() -> Self {
        AttachmentState {
            cache_budget: DEFAULT_ATTACHMENT_CACHE_BUDGET,
            observers: Vec::new(),
        }
    }
}

fn check_hash(hash: &str) -> Result<(), DeviceError> {
    if is_hash(hash) {
        Ok(())
    } else {
        Err(AttachmentError::InvalidReference {
            value: hash.to_owned(),
        }
        .into())
    }
}

impl Device {
    /// Stores a photo (or PDF) taken on this device and returns its reference, for a
    /// receipt's or proof of delivery's `photo_ref` ([`AttachmentRef::to_reference`]).
    /// Refused with [`AttachmentError`] (empty, over 20 MiB, not a JPEG, PNG, HEIC or
    /// PDF) before anything is stored. The same bytes twice are stored once; bytes this
    /// device had only downloaded become its own (never evicted). Durable on return.
    pub fn add_attachment(&mut self, bytes: &[u8]) -> Result<AttachmentRef, DeviceError> {
        let attachment = AttachmentRef::for_bytes(bytes)?;
        let now = self.clock.now_ms();
        self.store
            .insert_attachment(&attachment, bytes, AttachmentOrigin::Local, now)?;
        self.notify_attachments();
        Ok(attachment)
    }

    /// [`Self::add_attachment`] with the bytes of a file (its name and extension are not
    /// looked at: the type comes from the content).
    pub fn add_attachment_file(
        &mut self,
        path: impl AsRef<Path>,
    ) -> Result<AttachmentRef, DeviceError> {
        let path = path.as_ref();
        let cannot_read = |e: std::io::Error| AttachmentError::CannotRead {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        // Refuse a huge file before reading it into memory.
        let size = std::fs::metadata(path).map_err(cannot_read)?.len();
        if size > MAX_ATTACHMENT_BYTES {
            return Err(AttachmentError::TooLarge {
                size,
                max: MAX_ATTACHMENT_BYTES,
            }
            .into());
        }
        let bytes = std::fs::read(path).map_err(cannot_read)?;
        self.add_attachment(&bytes)
    }

    /// An attachment's bytes if they are on this device (taken here or downloaded);
    /// reading marks it recently used, so the cache keeps it longer.
    pub fn attachment_bytes(&mut self, hash: &str) -> Result<Option<Vec<u8>>, DeviceError> {
        check_hash(hash)?;
        let now = self.clock.now_ms();
        Ok(self.store.attachment_bytes(hash, now)?)
    }

    /// What this device knows of an attachment (type, size, origin, uploaded), without
    /// its bytes; `None` when it is not here.
    pub fn attachment_info(&self, hash: &str) -> Result<Option<StoredAttachment>, DeviceError> {
        check_hash(hash)?;
        Ok(self.store.attachment(hash)?)
    }

    /// Attachments taken here the relay does not have yet, oldest first.
    pub fn pending_uploads(&self) -> Result<Vec<AttachmentRef>, DeviceError> {
        Ok(self.store.pending_uploads()?)
    }

    /// The bytes of [`Self::pending_uploads`], summed.
    pub fn bytes_pending_upload(&self) -> Result<u64, DeviceError> {
        Ok(self.store.bytes_pending_upload()?)
    }

    /// Records that the relay has all of an attachment. Returns whether it is on this
    /// device.
    pub fn mark_uploaded(&mut self, hash: &str) -> Result<bool, DeviceError> {
        check_hash(hash)?;
        let known = self.store.mark_attachment_uploaded(hash)?;
        if known {
            self.notify_attachments();
        }
        Ok(known)
    }

    /// Keeps bytes downloaded from the relay for `hash`, after checking they are what
    /// was asked for (their sha256 is `hash`) and an accepted type; then evicts the
    /// least recently used downloads over the cache budget (photos taken here are never
    /// evicted). Bytes that fail the checks are refused and nothing is stored.
    pub fn store_downloaded(
        &mut self,
        hash: &str,
        bytes: &[u8],
    ) -> Result<AttachmentRef, DeviceError> {
        check_hash(hash)?;
        let attachment = AttachmentRef::for_bytes(bytes)?;
        if attachment.hash != hash {
            return Err(AttachmentError::HashMismatch {
                expected: hash.to_owned(),
                actual: attachment.hash,
            }
            .into());
        }
        let now = self.clock.now_ms();
        self.store
            .insert_attachment(&attachment, bytes, AttachmentOrigin::Downloaded, now)?;
        let budget = self.attachments.cache_budget;
        let evicted = self.store.evict_downloaded(budget)?;
        if !evicted.is_empty() {
            tracing::debug!(
                count = evicted.len(),
                budget,
                "attachments evicted from the cache"
            );
        }
        Ok(attachment)
    }

    /// How many bytes of downloaded attachments this device keeps
    /// ([`DEFAULT_ATTACHMENT_CACHE_BUDGET`] unless set).
    pub fn attachment_cache_budget(&self) -> u64 {
        self.attachments.cache_budget
    }

    /// Sets the cache budget and evicts at once what is over it. Returns the hashes
    /// evicted.
    pub fn set_attachment_cache_budget(&mut self, bytes: u64) -> Result<Vec<String>, DeviceError> {
        self.attachments.cache_budget = bytes;
        Ok(self.store.evict_downloaded(bytes)?)
    }

    /// The board documents on this device whose receipts or proofs of delivery reference
    /// `hash`, sorted. Boards that cannot be loaded are skipped (and logged).
    pub fn documents_referencing(&mut self, hash: &str) -> Vec<DocumentId> {
        let mut boards: Vec<DocumentId> = self
            .kinds
            .iter()
            .filter(|(_, k)| matches!(k, DocKind::Board { .. }))
            .map(|(id, _)| *id)
            .collect();
        boards.sort();
        boards
            .into_iter()
            .filter(
                |id| match self.read(id, |doc| board_references(doc, hash)) {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::warn!(doc = %id, error = %e, "board not searched for attachments");
                        false
                    }
                },
            )
            .collect()
    }

    /// Registers an observer of the bytes pending upload; remove it with
    /// [`Device::remove_observer`].
    pub fn add_attachment_observer(&mut self, observer: Arc<dyn AttachmentObserver>) -> ObserverId {
        let id = ObserverId(self.next_observer);
        self.next_observer += 1;
        self.attachments.observers.push((id, observer));
        id
    }

    pub(super) fn remove_attachment_observer(&mut self, id: ObserverId) -> bool {
        let before = self.attachments.observers.len();
        self.attachments.observers.retain(|(o, _)| *o != id);
        self.attachments.observers.len() != before
    }

    fn notify_attachments(&self) {
        if self.attachments.observers.is_empty() {
            return;
        }
        match self.store.bytes_pending_upload() {
            Ok(pending) => {
                for (_, o) in &self.attachments.observers {
                    o.pending_changed(pending);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot count the attachments pending upload"),
        }
    }
}
