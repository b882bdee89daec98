//! `SetlinkStore`: one device store, safe to call from any number of threads.
//!
//! The core `Device` is single-threaded (`&mut self`); here it sits behind a mutex, so
//! calls from many threads serialise, each one complete and durable before the next.
//! `close()` drops the device (releasing the SQLite file); every call after that is
//! `SetlinkError::StoreClosed`, never a crash.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use automerge::Automerge;
use setlink_core::access::Author;
use setlink_core::device::Device;
use setlink_core::model::DomainError;
use setlink_core::DocumentId;

use crate::error::SetlinkError;
use crate::observers::{DocumentObserver, Event, Forwarder, Notifier, SyncStatusObserver};
use crate::types::{DocumentInfo, DocumentKind, Identity, Role};

/// Device metadata key of this installation's device id (recorded in every change).
pub(crate) const META_DEVICE_ID: &str = "ffi.device_id";

/// The open device, shared with the sync client (which takes `Arc<Mutex<Device>>`).
pub(crate) type DeviceHandle = Arc<Mutex<Device>>;
/// `None` once the store is closed.
pub(crate) type Slot = Arc<RwLock<Option<DeviceHandle>>>;

pub(crate) fn lock(device: &DeviceHandle) -> Result<MutexGuard<'_, Device>, SetlinkError> {
    device.lock().map_err(|_| {
        SetlinkError::internal(
            "an earlier call panicked while holding the store; close and reopen it",
        )
    })
}

pub(crate) fn handle(slot: &Slot) -> Result<DeviceHandle, SetlinkError> {
    slot.read()
        .map_err(|_| SetlinkError::internal("store slot poisoned"))?
        .clone()
        .ok_or(SetlinkError::StoreClosed)
}

pub(crate) fn parse_doc_id(value: &str) -> Result<DocumentId, SetlinkError> {
    DocumentId::parse(value).map_err(|e| SetlinkError::InvalidId {
        what: "document id".into(),
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

#[derive(uniffi::Object)]
pub struct SetlinkStore {
    pub(crate) slot: Slot,
    pub(crate) notifier: Notifier,
    path: String,
    pub(crate) sync: crate::sync::SyncSlot,
    pub(crate) links: crate::peer::Links,
}

impl SetlinkStore {
    /// Runs `f` on the open device, holding the lock for its duration.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Device) -> Result<T, SetlinkError>,
    ) -> Result<T, SetlinkError> {
        let device = handle(&self.slot)?;
        let mut guard = lock(&device)?;
        f(&mut guard)
    }

    /// Runs a domain operation on a document through `Device::apply` (permission check,
    /// device clock, durable append, observers).
    pub(crate) fn apply<T>(
        &self,
        doc_id: &str,
        op: impl FnOnce(&mut Automerge, &Author, i64) -> Result<T, DomainError>,
    ) -> Result<T, SetlinkError> {
        let id = parse_doc_id(doc_id)?;
        self.with(|d| Ok(d.apply(&id, op)?))
    }

    /// Reads a document with a domain reader.
    pub(crate) fn read<T>(
        &self,
        doc_id: &str,
        f: impl FnOnce(&Automerge) -> Result<T, DomainError>,
    ) -> Result<T, SetlinkError> {
        let id = parse_doc_id(doc_id)?;
        self.with(|d| Ok(d.read(&id, f)??))
    }

    pub(crate) fn member_id(&self) -> Result<String, SetlinkError> {
        self.with(|d| {
            d.identity()
                .map(|a| a.member_id.clone())
                .ok_or(SetlinkError::NoIdentity)
        })
    }
}

#[uniffi::export]
impl SetlinkStore {
    /// Opens (creating if absent) the store file at `path`.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<SetlinkStore>, SetlinkError> {
        if path.trim().is_empty() {
            return Err(SetlinkError::invalid("path", "the store path is empty"));
        }
        let mut device = Device::open(&path)?;
        if device.metadata(META_DEVICE_ID)?.is_none() {
            device.set_metadata(META_DEVICE_ID, &setlink_core::ids::new_record_id())?;
        }
        let slot: Slot = Arc::new(RwLock::new(None));
        let weak = Arc::downgrade(&slot);
        let notifier = Notifier::start(Box::new(move |id| {
            let device = handle(&weak.upgrade()?).ok()?;
            let guard = device.lock().ok()?;
            guard.kind_of(id).cloned().map(DocumentKind::from)
        }));
        if let Some(tx) = notifier.sender() {
            device.add_observer(Arc::new(Forwarder(tx)));
        }
        if let Ok(mut s) = slot.write() {
            *s = Some(Arc::new(Mutex::new(device)));
        }
        Ok(Arc::new(SetlinkStore {
            slot,
            notifier,
            path,
            sync: crate::sync::SyncSlot::default(),
            links: crate::peer::Links::default(),
        }))
    }

    /// The path this store was opened at.
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// Stops syncing, lets observers hear what is queued and closes the file. Idempotent.
    /// (Named so, not `close`, because Kotlin's `AutoCloseable.close()` frees the handle.)
    pub fn close_store(&self) {
        self.sync.stop_blocking();
        self.links.close_all(&self.slot);
        // The device (and its SQLite file) goes when the last call in flight lets go.
        if let Ok(mut s) = self.slot.write() {
            s.take();
        }
        self.notifier.shutdown();
    }

    pub fn is_open(&self) -> bool {
        self.slot.read().map(|g| g.is_some()).unwrap_or(false)
    }

    /// Sets who uses this device (persisted). The device id is this installation's own.
    pub fn set_identity(&self, member_id: String, role: Role) -> Result<Identity, SetlinkError> {
        if member_id.trim().is_empty() {
            return Err(SetlinkError::invalid("member_id", "is empty"));
        }
        self.with(|d| {
            let device_id = d
                .metadata(META_DEVICE_ID)?
                .ok_or_else(|| SetlinkError::internal("device id missing"))?;
            let author = Author {
                member_id,
                device_id,
                role: role.into(),
            };
            d.set_identity(author.clone())?;
            Ok(author.into())
        })
    }

    pub fn identity(&self) -> Result<Option<Identity>, SetlinkError> {
        self.with(|d| Ok(d.identity().cloned().map(Identity::from)))
    }

    /// Every document on this device.
    pub fn documents(&self) -> Result<Vec<DocumentInfo>, SetlinkError> {
        self.with(|d| {
            let mut docs: Vec<DocumentInfo> = d
                .document_ids()
                .into_iter()
                .filter_map(|id| {
                    d.kind_of(&id).map(|k| DocumentInfo {
                        id: id.to_string(),
                        kind: k.clone().into(),
                    })
                })
                .collect();
            docs.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(docs)
        })
    }

    pub fn document_kind(&self, doc_id: String) -> Result<DocumentKind, SetlinkError> {
        let id = parse_doc_id(&doc_id)?;
        self.with(|d| {
            d.kind_of(&id)
                .cloned()
                .map(DocumentKind::from)
                .ok_or(SetlinkError::NotFound {
                    what: "document".into(),
                    id: doc_id,
                })
        })
    }

    /// Registers an observer of document changes; returns its id for `remove_observer`.
    pub fn add_document_observer(&self, observer: Arc<dyn DocumentObserver>) -> u64 {
        self.notifier.add_doc(observer)
    }

    pub fn add_sync_status_observer(&self, observer: Arc<dyn SyncStatusObserver>) -> u64 {
        let id = self.notifier.add_status(observer);
        // The newcomer hears the current status at once, like everyone did when it changed.
        self.notifier.send(Event::Status(self.sync.status()));
        id
    }

    pub fn remove_observer(&self, observer_id: u64) -> bool {
        self.notifier.remove(observer_id)
    }

    /// How many times an observer threw or panicked (each was ignored).
    pub fn observer_failures(&self) -> u64 {
        self.notifier.failures()
    }

    /// Waits (at most `timeout_ms`) until observers have heard every change made so far.
    pub fn flush_observers(&self, timeout_ms: u64) -> bool {
        self.notifier.flush(Duration::from_millis(timeout_ms))
    }
}

impl Drop for SetlinkStore {
    fn drop(&mut self) {
        self.close_store();
    }
}

/// Normalises a document id or `automerge:` URL to its bare base58check form.
#[uniffi::export]
pub fn parse_document_id(value: String) -> Result<String, SetlinkError> {
    parse_doc_id(&value).map(|id| id.to_string())
}

/// Sends the library's logs to stderr, filtered like `RUST_LOG` (e.g. `info`,
/// `setlink_core=debug`). Call once; later calls return false and change nothing.
#[uniffi::export]
pub fn enable_logging(filter: String) -> Result<bool, SetlinkError> {
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| SetlinkError::invalid("filter", e))?;
    Ok(tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .is_ok())
}
