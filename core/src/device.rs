//! The device: its store, its documents, who is using it, and who wants to hear about changes.
//!
//! Every call that changes a document returns only after the change is committed to the
//! store; observers hear about it after that, so whatever they show is already durable.
//!
//! Each opened `Device` writes under a fresh Automerge actor id. Reusing an actor after a
//! crash could repeat a sequence number the crashed process had already handed to a peer
//! without persisting it; a fresh actor makes that impossible.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge, AutomergeError, ChangeHash, LoadOptions, OnPartialLoad};
use thiserror::Error;

use crate::access::{Author, DocKind, Role};
use crate::ids::DocumentId;
use crate::model::{callsheet, member, DomainError};
use crate::rules::{self, ReceiveError, RuleContext};
use crate::store::{DocumentStats, Store, StoreError, StoredBytes};

mod attachments;
pub use attachments::{AttachmentObserver, DEFAULT_ATTACHMENT_CACHE_BUDGET};

/// Metadata key of the device identity (an `Author` as JSON).
const META_IDENTITY: &str = "identity";
/// Metadata key of this store's automerge-repo storage id.
const META_STORAGE_ID: &str = "storage_id";

/// Milliseconds since the Unix epoch. Injectable so tests and simulations control time;
/// the domain and sync layers have no clock of their own.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// Where a change came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeOrigin {
    /// Made on this device through `Device::apply`.
    Local,
    /// Received from a peer through `Device::receive_sync_message`.
    Remote,
}

/// Hears about document changes once they are durable. Called synchronously from the
/// `Device` call that made the change, so it must not call back into the `Device`
/// (queue the work instead).
pub trait DocumentObserver: Send + Sync {
    fn changed(&self, doc_id: &DocumentId, origin: ChangeOrigin);
}

/// Handle returned by `Device::add_observer`, to remove the observer again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObserverId(u64);

#[derive(Debug, Error)]
pub enum DeviceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("this device has no identity yet: call set_identity first")]
    NoIdentity,
    #[error("document {0} is not on this device")]
    UnknownDocument(DocumentId),
    #[error("a {role} may not write document {doc_id} ({kind:?})")]
    Forbidden {
        doc_id: DocumentId,
        kind: DocKind,
        role: Role,
    },
    #[error("a {role} may not read document {doc_id} ({kind:?})")]
    MayNotRead {
        doc_id: DocumentId,
        kind: DocKind,
        role: Role,
    },
    #[error("document {0} cannot be both the source and the target of an operation")]
    SameDocument(DocumentId),
    #[error("document {doc_id} is already on this device as {existing:?}, not {requested:?}")]
    KindConflict {
        doc_id: DocumentId,
        existing: DocKind,
        requested: DocKind,
    },
    #[error("the identity could not be stored: {0}")]
    BadIdentity(String),
    #[error("the sync state of document {doc_id} for peer `{peer}` is unreadable: {detail}")]
    BadSyncState {
        doc_id: DocumentId,
        peer: String,
        detail: String,
    },
    #[error("sync message for document {doc_id} rejected: {detail}")]
    BadSyncMessage { doc_id: DocumentId, detail: String },
    #[error("changes to document {doc_id} refused by the write rules: {refusal}")]
    Refused {
        doc_id: DocumentId,
        refusal: crate::rules::Refusal,
    },
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Attachment(#[from] crate::attachment::AttachmentError),
}

pub struct Device {
    store: Store,
    storage_id: String,
    actor: ActorId,
    clock: Arc<dyn Clock>,
    identity: Option<Author>,
    kinds: HashMap<DocumentId, DocKind>,
    docs: HashMap<DocumentId, Automerge>,
    /// In-memory sync states by peer then document. The persisted form keeps only the
    /// shared heads (what automerge-repo persists too); the rest is per-connection.
    sync_states: HashMap<String, HashMap<DocumentId, sync::State>>,
    /// The shared heads last persisted per (peer, document), to skip writing unchanged states.
    persisted_shared: HashMap<String, HashMap<DocumentId, Vec<ChangeHash>>>,
    observers: Vec<(ObserverId, Arc<dyn DocumentObserver>)>,
    next_observer: u64,
    /// The attachment cache budget and who hears about uploads (`device/attachments.rs`).
    attachments: attachments::AttachmentState,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("store", &self.store)
            .field("actor", &self.actor)
            .field("identity", &self.identity)
            .field("documents", &self.kinds.len())
            .field("loaded", &self.docs.len())
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Opens (creating if absent) the device store at `path`, with the system clock.
    pub fn open(path: impl AsRef<Path>) -> Result<Device, DeviceError> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    pub fn open_with_clock(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Device, DeviceError> {
        let mut store = Store::open(path)?;
        let kinds = store
            .documents()?
            .into_iter()
            .map(|d| (d.id, d.kind))
            .collect();
        // An unreadable identity must not lock the user out of their data: open without one,
        // so the app asks who is using the device again.
        let identity = match store.meta(META_IDENTITY)? {
            Some(json) => match serde_json::from_str(&json) {
                Ok(author) => Some(author),
                Err(e) => {
                    tracing::warn!(error = %e, "stored device identity is unreadable; ignoring it");
                    None
                }
            },
            None => None,
        };
        // automerge-repo peers announce a storage id so others can persist sync states
        // against it; ours lives as long as this file.
        let storage_id = match store.meta(META_STORAGE_ID)? {
            Some(id) => id,
            None => {
                let id = crate::ids::new_record_id();
                store.set_meta(META_STORAGE_ID, &id)?;
                id
            }
        };
        Ok(Device {
            store,
            storage_id,
            actor: ActorId::random(),
            clock,
            identity,
            kinds,
            docs: HashMap::new(),
            sync_states: HashMap::new(),
            persisted_shared: HashMap::new(),
            observers: Vec::new(),
            next_observer: 0,
            attachments: attachments::AttachmentState::default(),
        })
    }

    /// This store's automerge-repo storage id (a UUID, stable for the life of the file), for
    /// the `join`/`peer` handshake.
    pub fn storage_id(&self) -> &str {
        &self.storage_id
    }

    /// The Automerge actor this opened device writes under.
    pub fn actor_id(&self) -> &ActorId {
        &self.actor
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn identity(&self) -> Option<&Author> {
        self.identity.as_ref()
    }

    /// Sets who is using this device; persisted, so it survives a restart.
    pub fn set_identity(&mut self, author: Author) -> Result<(), DeviceError> {
        let json =
            serde_json::to_string(&author).map_err(|e| DeviceError::BadIdentity(e.to_string()))?;
        self.store.set_meta(META_IDENTITY, &json)?;
        self.identity = Some(author);
        Ok(())
    }

    /// An application metadata value (relay URL, token, last synced at, ...). Application
    /// keys live in their own namespace, apart from the device's own (identity, storage id).
    pub fn metadata(&self, key: &str) -> Result<Option<String>, DeviceError> {
        Ok(self.store.meta(&app_key(key))?)
    }

    pub fn set_metadata(&mut self, key: &str, value: &str) -> Result<(), DeviceError> {
        Ok(self.store.set_meta(&app_key(key), value)?)
    }

    pub fn delete_metadata(&mut self, key: &str) -> Result<(), DeviceError> {
        Ok(self.store.delete_meta(&app_key(key))?)
    }

    pub fn add_observer(&mut self, observer: Arc<dyn DocumentObserver>) -> ObserverId {
        let id = ObserverId(self.next_observer);
        self.next_observer += 1;
        self.observers.push((id, observer));
        id
    }

    /// Returns whether the observer (of documents or of attachments) was registered.
    pub fn remove_observer(&mut self, id: ObserverId) -> bool {
        let before = self.observers.len();
        self.observers.retain(|(o, _)| *o != id);
        self.observers.len() != before || self.remove_attachment_observer(id)
    }

    fn notify(&self, doc_id: &DocumentId, origin: ChangeOrigin) {
        for (_, o) in &self.observers {
            o.changed(doc_id, origin);
        }
    }

    /// Every document on this device.
    pub fn document_ids(&self) -> Vec<DocumentId> {
        self.kinds.keys().copied().collect()
    }

    pub fn kind_of(&self, doc_id: &DocumentId) -> Option<&DocKind> {
        self.kinds.get(doc_id)
    }

    /// Creates an empty document of `kind`, recorded durably. Creating needs no write
    /// permission: an empty document holds nothing; every write to it is checked.
    pub fn create_document(&mut self, kind: DocKind) -> Result<DocumentId, DeviceError> {
        let id = DocumentId::random();
        self.store
            .insert_document(&id, &kind, self.clock.now_ms())?;
        self.kinds.insert(id, kind);
        self.docs
            .insert(id, Automerge::new().with_actor(self.actor.clone()));
        self.notify(&id, ChangeOrigin::Local);
        Ok(id)
    }

    /// Records a document learned from elsewhere (the production index, an invite) so it
    /// can be synced. Returns `true` if it was new. A `Shared` document may learn its real
    /// kind; any other change of kind is a `KindConflict`.
    pub fn import_document(
        &mut self,
        doc_id: DocumentId,
        kind: DocKind,
    ) -> Result<bool, DeviceError> {
        match self.kinds.get(&doc_id) {
            None => {
                self.store
                    .insert_document(&doc_id, &kind, self.clock.now_ms())?;
                self.kinds.insert(doc_id, kind);
                Ok(true)
            }
            Some(existing) if *existing == kind => Ok(false),
            Some(DocKind::Shared) => {
                self.store.set_kind(&doc_id, &kind)?;
                self.kinds.insert(doc_id, kind);
                Ok(false)
            }
            Some(existing) => Err(DeviceError::KindConflict {
                doc_id,
                existing: existing.clone(),
                requested: kind,
            }),
        }
    }

    fn loaded(&mut self, doc_id: &DocumentId) -> Result<&mut Automerge, DeviceError> {
        if !self.kinds.contains_key(doc_id) {
            return Err(DeviceError::UnknownDocument(*doc_id));
        }
        if !self.docs.contains_key(doc_id) {
            let mut doc = self.store.load_document(doc_id)?;
            doc.set_actor(self.actor.clone());
            self.docs.insert(*doc_id, doc);
        }
        self.docs
            .get_mut(doc_id)
            .ok_or(DeviceError::UnknownDocument(*doc_id))
    }

    /// How a document is laid out in the store (snapshot and appended bytes).
    pub fn storage_stats(&mut self, doc_id: &DocumentId) -> Result<DocumentStats, DeviceError> {
        if !self.kinds.contains_key(doc_id) {
            return Err(DeviceError::UnknownDocument(*doc_id));
        }
        Ok(self.store.stats(doc_id)?)
    }

    /// Loads every document not yet in memory, decoding them on all cores (reading stays on
    /// this thread, which owns the connection). The first error is returned; documents
    /// that did load stay loaded.
    pub fn load_all(&mut self) -> Result<(), DeviceError> {
        let mut pending = Vec::new();
        for id in self.kinds.keys() {
            if !self.docs.contains_key(id) {
                pending.push(self.store.document_bytes(id)?);
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8)
            .min(pending.len());
        // Biggest first, dealt round-robin, so threads finish at about the same time.
        pending.sort_by_key(|b| std::cmp::Reverse(b.bytes.len()));
        let mut shares: Vec<Vec<StoredBytes>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, b) in pending.into_iter().enumerate() {
            if let Some(share) = shares.get_mut(i % threads) {
                share.push(b);
            }
        }
        let decoded: Vec<Result<(DocumentId, Automerge), StoreError>> = std::thread::scope(|s| {
            let handles: Vec<_> = shares
                .into_iter()
                .map(|share| {
                    s.spawn(move || {
                        share
                            .into_iter()
                            .map(|b| b.decode().map(|doc| (b.id, doc)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![Err(StoreError::Corrupt {
                            path: self.store.path().to_path_buf(),
                            detail: "a document decoder thread panicked".into(),
                        })]
                    })
                })
                .collect()
        });
        let mut first_err = None;
        for r in decoded {
            match r {
                Ok((id, mut doc)) => {
                    doc.set_actor(self.actor.clone());
                    self.docs.insert(id, doc);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Makes sure a document is in memory (documents load lazily on first use).
    pub fn load(&mut self, doc_id: &DocumentId) -> Result<(), DeviceError> {
        self.loaded(doc_id).map(|_| ())
    }

    /// Runs a domain operation on a document as this device's identity, at the device
    /// clock's time. Refused with `Forbidden` if the identity's role may not write the
    /// document. If the operation fails nothing is changed or stored. On success the new
    /// change is committed to the store before this returns, then observers are told.
    pub fn apply<T>(
        &mut self,
        doc_id: &DocumentId,
        op: impl FnOnce(&mut Automerge, &Author, i64) -> Result<T, DomainError>,
    ) -> Result<T, DeviceError> {
        let author = self.identity.clone().ok_or(DeviceError::NoIdentity)?;
        let kind = self
            .kinds
            .get(doc_id)
            .ok_or(DeviceError::UnknownDocument(*doc_id))?;
        if !kind.may_write(author.role, &author.member_id) {
            return Err(DeviceError::Forbidden {
                doc_id: *doc_id,
                kind: kind.clone(),
                role: author.role,
            });
        }
        let now = self.clock.now_ms();
        let doc = self.loaded(doc_id)?;
        let before = doc.get_heads();
        let value = match op(doc, &author, now) {
            Ok(v) => v,
            Err(err) => {
                if doc.get_heads() != before {
                    // The operation committed and then failed, against the domain
                    // contract; forget the in-memory copy so it reloads as stored.
                    self.docs.remove(doc_id);
                }
                return Err(err.into());
            }
        };
        let changes = doc.save_after(&before);
        if changes.is_empty() {
            return Ok(value);
        }
        let result = match self.docs.get(doc_id) {
            Some(doc) => self.store.append(doc_id, &changes, doc, None),
            None => return Err(DeviceError::UnknownDocument(*doc_id)),
        };
        if let Err(err) = result {
            // Memory must not run ahead of disk: reload from the store on next use.
            self.docs.remove(doc_id);
            return Err(err.into());
        }
        self.notify(doc_id, ChangeOrigin::Local);
        Ok(value)
    }

    /// Like [`Device::apply`], for operations that write one document from another's
    /// content (publishing a call sheet writes the published document from the draft).
    /// The identity must be allowed to write `doc_id` and read `source_id`.
    pub fn apply_with<T>(
        &mut self,
        doc_id: &DocumentId,
        source_id: &DocumentId,
        op: impl FnOnce(&mut Automerge, &Automerge, &Author, i64) -> Result<T, DomainError>,
    ) -> Result<T, DeviceError> {
        let author = self.identity.clone().ok_or(DeviceError::NoIdentity)?;
        if doc_id == source_id {
            return Err(DeviceError::SameDocument(*doc_id));
        }
        let source_kind = self
            .kinds
            .get(source_id)
            .ok_or(DeviceError::UnknownDocument(*source_id))?;
        if !source_kind.may_read(author.role, &author.member_id) {
            return Err(DeviceError::MayNotRead {
                doc_id: *source_id,
                kind: source_kind.clone(),
                role: author.role,
            });
        }
        self.load(source_id)?;
        // Out of the map for the duration, so both documents can be borrowed at once.
        let source = self
            .docs
            .remove(source_id)
            .ok_or(DeviceError::UnknownDocument(*source_id))?;
        let result = self.apply(doc_id, |doc, by, at| op(doc, &source, by, at));
        self.docs.insert(*source_id, source);
        result
    }

    /// Reads a document. Not checked against the identity's role: a device only holds
    /// documents its member may read, which the relay enforces.
    pub fn read<T>(
        &mut self,
        doc_id: &DocumentId,
        f: impl FnOnce(&Automerge) -> T,
    ) -> Result<T, DeviceError> {
        let doc = self.loaded(doc_id)?;
        Ok(f(doc))
    }

    fn decode_persisted(
        &self,
        doc_id: &DocumentId,
        peer: &str,
    ) -> Result<Option<sync::State>, DeviceError> {
        match self.store.sync_state(doc_id, peer)? {
            None => Ok(None),
            Some(bytes) => {
                sync::State::decode(&bytes)
                    .map(Some)
                    .map_err(|e| DeviceError::BadSyncState {
                        doc_id: *doc_id,
                        peer: peer.to_owned(),
                        detail: e.to_string(),
                    })
            }
        }
    }

    /// The sync state with a peer: the live one of this session if any, else the one
    /// persisted from an earlier session, else `None`.
    pub fn sync_state(
        &self,
        doc_id: &DocumentId,
        peer_storage_id: &str,
    ) -> Result<Option<sync::State>, DeviceError> {
        if !self.kinds.contains_key(doc_id) {
            return Err(DeviceError::UnknownDocument(*doc_id));
        }
        if let Some(s) = self
            .sync_states
            .get(peer_storage_id)
            .and_then(|m| m.get(doc_id))
        {
            return Ok(Some(s.clone()));
        }
        self.decode_persisted(doc_id, peer_storage_id)
    }

    /// Persists a sync state and makes it the live one for this session.
    pub fn save_sync_state(
        &mut self,
        doc_id: &DocumentId,
        peer_storage_id: &str,
        state: sync::State,
    ) -> Result<(), DeviceError> {
        if !self.kinds.contains_key(doc_id) {
            return Err(DeviceError::UnknownDocument(*doc_id));
        }
        self.store
            .save_sync_state(doc_id, peer_storage_id, &state.encode())?;
        self.persisted_shared
            .entry(peer_storage_id.to_owned())
            .or_default()
            .insert(*doc_id, state.shared_heads.clone());
        self.sync_states
            .entry(peer_storage_id.to_owned())
            .or_default()
            .insert(*doc_id, state);
        Ok(())
    }

    /// Takes the live sync state out of the map (starting it from the persisted one).
    fn take_sync_state(
        &mut self,
        doc_id: &DocumentId,
        peer: &str,
    ) -> Result<sync::State, DeviceError> {
        if let Some(s) = self
            .sync_states
            .get_mut(peer)
            .and_then(|m| m.remove(doc_id))
        {
            return Ok(s);
        }
        let persisted = self.decode_persisted(doc_id, peer)?;
        if let Some(s) = &persisted {
            self.persisted_shared
                .entry(peer.to_owned())
                .or_default()
                .insert(*doc_id, s.shared_heads.clone());
        }
        Ok(persisted.unwrap_or_default())
    }

    fn put_sync_state(&mut self, doc_id: &DocumentId, peer: &str, state: sync::State) {
        self.sync_states
            .entry(peer.to_owned())
            .or_default()
            .insert(*doc_id, state);
    }

    /// The next sync message to send a peer about a document, if there is anything to say.
    pub fn generate_sync_message(
        &mut self,
        doc_id: &DocumentId,
        peer_storage_id: &str,
    ) -> Result<Option<sync::Message>, DeviceError> {
        self.load(doc_id)?;
        let mut state = self.take_sync_state(doc_id, peer_storage_id)?;
        let msg = self
            .docs
            .get(doc_id)
            .and_then(|doc| doc.generate_sync_message(&mut state));
        self.put_sync_state(doc_id, peer_storage_id, state);
        Ok(msg)
    }

    /// Applies a sync message from a peer. The changes it added and the updated sync state
    /// are committed in one transaction before this returns; observers then hear `Remote`.
    /// Returns whether the document changed. A message that does not apply is
    /// `BadSyncMessage` and leaves the document and the sync state as they were.
    pub fn receive_sync_message(
        &mut self,
        doc_id: &DocumentId,
        peer_storage_id: &str,
        msg: sync::Message,
    ) -> Result<bool, DeviceError> {
        self.load(doc_id)?;
        let limits = rules::cost::CostLimits::default();
        if let Some(e) = msg
            .changes
            .iter()
            .find_map(|c| rules::cost::check_chunks_cost(c, &limits).err())
        {
            return Err(DeviceError::BadSyncMessage {
                doc_id: *doc_id,
                detail: e.to_string(),
            });
        }
        if let Err(detail) = validate_chunks(&msg) {
            return Err(DeviceError::BadSyncMessage {
                doc_id: *doc_id,
                detail,
            });
        }
        let state_before = self.take_sync_state(doc_id, peer_storage_id)?;
        let mut state = state_before.clone();
        let kind = self.kinds.get(doc_id).cloned().unwrap_or(DocKind::Shared);
        let doc = self.loaded(doc_id)?;
        let heads_before = doc.get_heads();
        // The same write rules as the relay, so a modified phone cannot push history the
        // relay would refuse to another phone either. A device does not know who wrote
        // each change, so it checks everything but the writer's identity.
        let no_registry = |_: &str| false;
        let ctx = RuleContext {
            kind: &kind,
            writer: None,
            foreign_document: &no_registry,
        };
        if let Err(e) = rules::receive_checked(&ctx, doc, &mut state, msg) {
            if doc.get_heads() != heads_before {
                self.docs.remove(doc_id);
            }
            self.put_sync_state(doc_id, peer_storage_id, state_before);
            return Err(match e {
                ReceiveError::Refused(refusal) => DeviceError::Refused {
                    doc_id: *doc_id,
                    refusal,
                },
                ReceiveError::Invalid(source) => DeviceError::BadSyncMessage {
                    doc_id: *doc_id,
                    detail: source.to_string(),
                },
            });
        }
        let changes = doc.save_after(&heads_before);
        let persisted = self
            .persisted_shared
            .get(peer_storage_id)
            .and_then(|m| m.get(doc_id));
        let state_changed = persisted != Some(&state.shared_heads);
        if changes.is_empty() && !state_changed {
            self.put_sync_state(doc_id, peer_storage_id, state);
            return Ok(false);
        }
        let encoded = state.encode();
        let sync_write = state_changed.then_some((peer_storage_id, encoded.as_slice()));
        let result = match self.docs.get(doc_id) {
            Some(doc) => self.store.append(doc_id, &changes, doc, sync_write),
            None => return Err(DeviceError::UnknownDocument(*doc_id)),
        };
        if let Err(err) = result {
            self.docs.remove(doc_id);
            self.put_sync_state(doc_id, peer_storage_id, state_before);
            return Err(err.into());
        }
        if state_changed {
            self.persisted_shared
                .entry(peer_storage_id.to_owned())
                .or_default()
                .insert(*doc_id, state.shared_heads.clone());
        }
        self.put_sync_state(doc_id, peer_storage_id, state);
        let changed = !changes.is_empty();
        if changed {
            self.notify(doc_id, ChangeOrigin::Remote);
            self.record_received_after_sync(doc_id);
        }
        Ok(changed)
    }

    /// PRODUCT.md: a member has *received* a call sheet revision when their device synced
    /// it. So when a sync brings changes into a published call sheet, this device records
    /// "received" for its latest revision in its member's own document, durably, like any
    /// other local change (the sync client sends it on). Once per revision:
    /// [`member::acknowledge`] keeps the first time and commits nothing when it is already
    /// there (from this device or another of the member's). Nothing is recorded without an
    /// identity, before the member's document has synced (it is recorded when it does),
    /// or for a revision that cannot be read; a failure to record is logged and never
    /// fails the sync that brought the sheet.
    fn record_received_after_sync(&mut self, doc_id: &DocumentId) {
        let Some(me) = self.identity.as_ref().map(|a| a.member_id.clone()) else {
            return;
        };
        match self.kinds.get(doc_id) {
            Some(DocKind::CallSheetPublished { .. }) => self.record_received(doc_id),
            // The member's own document arrived (after the sheets, on a first sync): the
            // sheets already in memory may now be recorded.
            Some(DocKind::Member { member_id }) if *member_id == me => {
                let sheets: Vec<DocumentId> = self
                    .kinds
                    .iter()
                    .filter(|(id, k)| {
                        matches!(k, DocKind::CallSheetPublished { .. })
                            && self.docs.contains_key(id)
                    })
                    .map(|(id, _)| *id)
                    .collect();
                for id in sheets {
                    self.record_received(&id);
                }
            }
            _ => {}
        }
    }

    fn record_received(&mut self, doc_id: &DocumentId) {
        let Some(DocKind::CallSheetPublished { day }) = self.kinds.get(doc_id).cloned() else {
            return;
        };
        let Some(me) = self.identity.clone() else {
            return;
        };
        let mine = DocKind::Member {
            member_id: me.member_id.clone(),
        };
        let Some(member_doc) = self
            .kinds
            .iter()
            .find_map(|(id, k)| (*k == mine).then_some(*id))
        else {
            return;
        };
        let Ok(revision) = self
            .loaded(doc_id)
            .map(|d| callsheet::latest_revision(d).map(|r| r.number))
        else {
            return;
        };
        let Ok(revision) = revision else {
            return;
        };
        // Only on the member's document as synced (its owner set, by the relay when it made
        // the member): claiming one not yet synced would race the relay's own claim, and
        // the relay refuses a second owner. The document's arrival calls this again.
        let needed = match self.loaded(&member_doc) {
            Ok(d) => {
                member::owner(d).as_deref() == Some(me.member_id.as_str())
                    && !member::ack_for(d, &day, revision)
                        .is_some_and(|a| a.has(member::AckLevel::Received))
            }
            Err(_) => false,
        };
        if !needed {
            return;
        }
        let recorded = self.apply(&member_doc, |d, by, at| {
            member::acknowledge(d, by, at, &day, revision, member::AckLevel::Received)
        });
        if let Err(e) = recorded {
            tracing::warn!(%doc_id, %day, revision, error = %e, "could not record the call sheet as received");
        }
    }

    /// Drops every change of a document that `peer_storage_id` has not confirmed having
    /// (for the relay: what it refused, and whatever was made on top of it) and returns the
    /// document to the state both last shared. Returns the dropped changes' hashes, newest
    /// history included. The store is rewritten as one snapshot before this returns; the
    /// device takes a fresh Automerge actor, so no later change reuses a sequence number
    /// a dropped one had (another phone may have seen it).
    pub fn drop_unconfirmed_changes(
        &mut self,
        doc_id: &DocumentId,
        peer_storage_id: &str,
    ) -> Result<Vec<ChangeHash>, DeviceError> {
        let shared = self
            .sync_state(doc_id, peer_storage_id)?
            .map(|s| s.shared_heads)
            .unwrap_or_default();
        let doc = self.loaded(doc_id)?;
        let dropped: Vec<ChangeHash> = doc.get_changes(&shared).iter().map(|c| c.hash()).collect();
        if dropped.is_empty() {
            return Ok(dropped);
        }
        let kept = doc
            .fork_at(&shared)
            .map_err(|e| DeviceError::BadSyncMessage {
                doc_id: *doc_id,
                detail: e.to_string(),
            })?;
        self.store.compact(doc_id, &kept)?;
        self.actor = ActorId::random();
        for d in self.docs.values_mut() {
            d.set_actor(self.actor.clone());
        }
        self.docs
            .insert(*doc_id, kept.with_actor(self.actor.clone()));
        for states in self.sync_states.values_mut() {
            states.remove(doc_id);
        }
        self.notify(doc_id, ChangeOrigin::Local);
        Ok(dropped)
    }

    /// Forgets the live sync states of a peer (its connection ended). The persisted shared
    /// heads stay, so the next connection starts from what both sides already had.
    pub fn peer_disconnected(&mut self, peer_storage_id: &str) {
        self.sync_states.remove(peer_storage_id);
    }

    /// Forgets the live sync state of one document with a peer, so the next message starts
    /// over from the persisted shared heads (used to ask again after an unanswered or
    /// refused message, which automerge would otherwise not repeat).
    pub fn forget_live_sync_state(&mut self, doc_id: &DocumentId, peer_storage_id: &str) {
        if let Some(states) = self.sync_states.get_mut(peer_storage_id) {
            states.remove(doc_id);
        }
    }

    /// How many changes of a document the peer has not confirmed having: the changes not
    /// covered by the shared heads of our sync state with it (all of them if we never
    /// synced with it).
    pub fn unconfirmed_changes(
        &mut self,
        doc_id: &DocumentId,
        peer_storage_id: &str,
    ) -> Result<usize, DeviceError> {
        let shared = self
            .sync_state(doc_id, peer_storage_id)?
            .map(|s| s.shared_heads)
            .unwrap_or_default();
        let doc = self.loaded(doc_id)?;
        if doc.get_heads() == shared {
            return Ok(0);
        }
        Ok(doc.get_changes(&shared).len())
    }
}

fn app_key(key: &str) -> String {
    format!("app:{key}")
}

/// Checks every chunk of a sync message before it reaches the document: automerge's
/// incremental load only logs a warning for chunks it cannot parse and carries on, which
/// would make a damaged message look like an empty one.
fn validate_chunks(msg: &sync::Message) -> Result<(), String> {
    // automerge 0.12 panics on some crafted chunks; a peer's bytes get an error instead.
    std::panic::catch_unwind(|| validate_chunks_unguarded(msg))
        .unwrap_or_else(|_| Err("automerge could not parse a chunk".into()))
}

fn validate_chunks_unguarded(msg: &sync::Message) -> Result<(), String> {
    // Every chunk kind a sync message carries (a whole document, a bundle, or one or more
    // change chunks concatenated — automerge packs all the changes a peer lacks into one
    // entry) is a valid input to a strict load. Changes may depend on history only the
    // receiving document has, so missing dependencies are expected, not an error.
    for (i, chunk) in msg.changes.iter().enumerate() {
        match Automerge::load_with_options(
            chunk,
            LoadOptions::new().on_partial_load(OnPartialLoad::Error),
        ) {
            Ok(_) | Err(AutomergeError::MissingDeps) => {}
            Err(e) => return Err(format!("chunk {i} does not load: {e}")),
        }
    }
    Ok(())
}
