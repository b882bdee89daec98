//! Photos of receipts and proofs of delivery (and PDFs): stored on the device by content
//! (sha256), referenced from a run by `PhotoRef.reference`, uploaded by the running sync
//! once the document that references them is in sync, downloaded on demand.
//!
//! The type is sniffed from the bytes (JPEG, PNG, HEIC, PDF; at most 20 MiB); refused
//! bytes are `PhotoEmpty`, `PhotoTooLarge` or `PhotoUnsupported`, and nothing is stored.

use setlink_core::attachment::{is_hash, AttachmentError, AttachmentRef};
use setlink_core::client::TransferError;

use crate::error::SetlinkError;
use crate::store::SetlinkStore;
use crate::sync::runtime;

/// A photo stored on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PhotoRef {
    /// `sha256:<hex>;<mime>`: what to put in `ReceiptInput.photo_ref` or a proof of
    /// delivery's `photo_ref`, and to pass to `photo` / `fetch_photo`.
    pub reference: String,
    /// sha256 of the bytes, 64 lowercase hex digits.
    pub hash: String,
    /// `image/jpeg`, `image/png`, `image/heic` or `application/pdf`.
    pub mime_type: String,
    pub size_bytes: u64,
}

impl From<AttachmentRef> for PhotoRef {
    fn from(a: AttachmentRef) -> Self {
        PhotoRef {
            reference: a.to_reference(),
            mime_type: a.kind.mime().to_owned(),
            size_bytes: a.size,
            hash: a.hash,
        }
    }
}

/// The hash in a photo reference (`sha256:<hex>;<mime>`) or a bare hash.
fn photo_hash(reference_or_hash: &str) -> Result<String, SetlinkError> {
    let value = reference_or_hash.trim();
    if is_hash(value) {
        return Ok(value.to_owned());
    }
    AttachmentRef::parse_reference(value)
        .map(|(hash, _)| hash)
        .ok_or_else(|| {
            AttachmentError::InvalidReference {
                value: reference_or_hash.to_owned(),
            }
            .into()
        })
}

#[uniffi::export(async_runtime = "tokio")]
impl SetlinkStore {
    /// Stores a photo taken on this device (offline is fine) and returns its reference
    /// for a receipt or proof of delivery. Durable when it returns; the same photo twice
    /// is stored once. Uploaded by the running sync after the run that references it.
    pub fn add_photo(&self, bytes: Vec<u8>) -> Result<PhotoRef, SetlinkError> {
        self.with(|d| Ok(d.add_attachment(&bytes)?.into()))
    }

    /// [`Self::add_photo`] with a file's bytes (the type comes from the content, not the
    /// name).
    pub fn add_photo_file(&self, path: String) -> Result<PhotoRef, SetlinkError> {
        if path.trim().is_empty() {
            return Err(SetlinkError::invalid("path", "is empty"));
        }
        self.with(|d| Ok(d.add_attachment_file(&path)?.into()))
    }

    /// A photo's bytes if they are on this device (taken here or downloaded before);
    /// `None` otherwise (see `fetch_photo`). Takes a reference or a bare hash.
    pub fn photo(&self, reference: String) -> Result<Option<Vec<u8>>, SetlinkError> {
        let hash = photo_hash(&reference)?;
        self.with(|d| Ok(d.attachment_bytes(&hash)?))
    }

    /// What this device holds of a photo, `None` when it is not here.
    pub fn photo_info(&self, reference: String) -> Result<Option<PhotoRef>, SetlinkError> {
        let hash = photo_hash(&reference)?;
        self.with(|d| Ok(d.attachment_info(&hash)?.map(|s| s.attachment.into())))
    }

    /// A photo's bytes: from this device when it has them, else downloaded from the relay
    /// through `document_id` (the board whose receipt or proof references it) by the
    /// running sync, checked and kept in the photo cache. Errors: `NotPossible` when
    /// syncing is not started; `Forbidden` when this member may not see it;
    /// `NotFound` when the relay does not have it (yet); `Unreachable` offline.
    pub async fn fetch_photo(
        &self,
        reference: String,
        document_id: String,
    ) -> Result<Vec<u8>, SetlinkError> {
        let hash = photo_hash(&reference)?;
        let doc = crate::store::parse_doc_id(&document_id)?;
        if let Some(bytes) = self.with(|d| Ok(d.attachment_bytes(&hash)?))? {
            return Ok(bytes);
        }
        let client = self
            .sync
            .attachments()
            .ok_or_else(|| SetlinkError::NotPossible {
                reason: "this photo is not on the device, and downloading it needs the relay: \
                     call start_sync (or resume_sync) first"
                    .into(),
            })?;
        let role =
            self.with(|d| Ok(d.identity().map(|a| a.role.to_string()).unwrap_or_default()))?;
        let fetched = runtime()?
            .spawn(async move { client.fetch(&hash, doc).await })
            .await
            .map_err(SetlinkError::internal)?;
        fetched.map_err(|e| match e {
            TransferError::Connect(c) => c.into(),
            TransferError::SignInRequired => SetlinkError::Relay {
                status: 401,
                detail: "the relay refused this device's token; sign in again".into(),
            },
            TransferError::Forbidden { hash, doc, detail } => SetlinkError::Forbidden {
                role,
                action: format!("see photo {hash} of document {doc} ({detail})"),
            },
            TransferError::NotOnRelay { hash, .. } => SetlinkError::NotFound {
                what: "photo on the relay (not uploaded yet?)".into(),
                id: hash,
            },
            TransferError::Relay { status, detail } => SetlinkError::Relay { status, detail },
            TransferError::Device(d) => d.into(),
        })
    }

    /// How many bytes of downloaded photos this device keeps (100 MiB unless set); the
    /// least recently used go first, at once if over. Photos taken here are never evicted.
    pub fn set_photo_cache_budget(&self, bytes: u64) -> Result<(), SetlinkError> {
        self.with(|d| {
            d.set_attachment_cache_budget(bytes)?;
            Ok(())
        })
    }

    pub fn photo_cache_budget(&self) -> Result<u64, SetlinkError> {
        self.with(|d| Ok(d.attachment_cache_budget()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00,
    ];

    fn store() -> (tempfile::TempDir, std::sync::Arc<SetlinkStore>) {
        let dir = tempfile::tempdir().unwrap();
        let s = SetlinkStore::open(dir.path().join("s.db").display().to_string()).unwrap();
        (dir, s)
    }

    #[test]
    fn a_photo_is_stored_referenced_and_read_back() {
        let (_dir, s) = store();
        let p = s.add_photo(JPEG.to_vec()).unwrap();
        assert_eq!(p.mime_type, "image/jpeg");
        assert_eq!(p.size_bytes, JPEG.len() as u64);
        assert_eq!(p.reference, format!("sha256:{};image/jpeg", p.hash));
        assert_eq!(s.photo(p.reference.clone()).unwrap(), Some(JPEG.to_vec()));
        assert_eq!(s.photo(p.hash.clone()).unwrap(), Some(JPEG.to_vec()));
        assert_eq!(s.photo_info(p.hash.clone()).unwrap(), Some(p.clone()));
        assert_eq!(s.sync_status().attachment_bytes_pending, JPEG.len() as u64);
        assert!(matches!(
            s.photo("IMG_1.jpg".into()),
            Err(SetlinkError::InvalidInput { .. })
        ));
        s.set_photo_cache_budget(10).unwrap();
        assert_eq!(s.photo_cache_budget().unwrap(), 10);
    }

    #[test]
    fn bad_photos_are_refused_with_fields_and_nothing_is_stored() {
        let (dir, s) = store();
        assert!(matches!(
            s.add_photo(Vec::new()),
            Err(SetlinkError::PhotoEmpty)
        ));
        match s.add_photo(b"not a photo".to_vec()) {
            Err(SetlinkError::PhotoUnsupported { detected }) => assert_eq!(detected, "text"),
            other => panic!("{other:?}"),
        }
        let mut big = JPEG.to_vec();
        big.resize(20 * 1024 * 1024 + 1, 0);
        match s.add_photo(big) {
            Err(SetlinkError::PhotoTooLarge {
                size_bytes,
                max_bytes,
            }) => assert_eq!(
                (size_bytes, max_bytes),
                (20 * 1024 * 1024 + 1, 20 * 1024 * 1024)
            ),
            other => panic!("{other:?}"),
        }
        let missing = dir.path().join("missing.jpg").display().to_string();
        assert!(matches!(
            s.add_photo_file(missing),
            Err(SetlinkError::InvalidInput { .. })
        ));
        assert_eq!(s.sync_status().attachment_bytes_pending, 0);
    }

    #[test]
    fn fetching_a_photo_not_here_needs_a_running_sync() {
        let (_dir, s) = store();
        let doc = setlink_core::DocumentId::random().to_string();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let err = rt
            .block_on(s.fetch_photo("ab".repeat(32), doc.clone()))
            .unwrap_err();
        assert!(matches!(err, SetlinkError::NotPossible { .. }), "{err:?}");
        assert!(err.to_string().contains("start_sync"), "{err}");
        // What is on the device needs no relay.
        let p = s.add_photo(JPEG.to_vec()).unwrap();
        assert_eq!(rt.block_on(s.fetch_photo(p.reference, doc)).unwrap(), JPEG);
    }
}
