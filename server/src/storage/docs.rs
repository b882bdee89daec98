//! The document store: chunks, sync states, the document registry, and the feed of what
//! other relays sharing the store did.

use automerge::ChangeHash;
use futures_util::future::BoxFuture;
use setlink_core::{DocKind, DocumentId};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Chunk, DocInfo, RegisterOutcome, StorageResult, StorageStats};

/// Something another relay sharing this store did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreEvent {
    /// Another relay durably appended to `doc`; its heads are now `heads`. `heads` is
    /// empty when they did not fit in the notification: reload the document from storage.
    Appended {
        doc: DocumentId,
        heads: Vec<ChangeHash>,
    },
    /// Notifications may have been missed (the listener reconnected): every loaded
    /// document must catch up from storage.
    Resync,
    /// Another relay relayed a peer's ephemeral message (presence: a PA's ETA) about
    /// `presence.doc`, for this relay's subscribers and dashboards too.
    Presence(Presence),
}

/// An ephemeral message as relays pass it between them: never stored, only notified.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Presence {
    #[serde(with = "doc_string")]
    pub doc: DocumentId,
    pub production_id: String,
    /// The member whose device sent it (the dashboard shows them).
    pub member_id: String,
    /// automerge-repo's sender peer, session and count: receivers deduplicate on them.
    pub sender_id: String,
    pub session_id: String,
    pub count: u64,
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
}

mod doc_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use setlink_core::DocumentId;

    pub fn serialize<S: Serializer>(d: &DocumentId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(d)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DocumentId, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(|_| serde::de::Error::custom("not a document id"))
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

pub trait DocStore: Send + Sync + 'static {
    // --- documents -----------------------------------------------------------------
    /// Every stored chunk of a document, in order; empty when nothing is stored.
    fn load_chunks(&self, doc: DocumentId) -> BoxFuture<'_, StorageResult<Vec<Chunk>>>;
    /// Durably appends an incremental chunk and returns its sequence number. `heads` are
    /// the document's heads after it, kept so reconnects can tell which documents changed
    /// without loading them.
    fn append_chunk(
        &self,
        doc: DocumentId,
        data: Vec<u8>,
        heads: Vec<ChangeHash>,
    ) -> BoxFuture<'_, StorageResult<i64>>;
    /// Replaces exactly the chunks `replaces` with one snapshot, atomically. Chunks another
    /// writer appended meanwhile are left alone. Returns the snapshot's sequence number.
    fn compact(
        &self,
        doc: DocumentId,
        snapshot: Vec<u8>,
        replaces: Vec<i64>,
    ) -> BoxFuture<'_, StorageResult<i64>>;

    // --- sync states ---------------------------------------------------------------
    fn load_sync_state(
        &self,
        doc: DocumentId,
        peer_storage_id: String,
    ) -> BoxFuture<'_, StorageResult<Option<Vec<u8>>>>;
    /// Durably records that the relay syncs `doc` with this peer, unless a state is already
    /// stored. Push-on-connect relies on such a row existing for every document a peer may
    /// consider synced; a stale state only costs an extra push.
    fn ensure_sync_state(
        &self,
        doc: DocumentId,
        peer_storage_id: String,
        state: Vec<u8>,
    ) -> BoxFuture<'_, StorageResult<()>>;
    /// Every document synced with this peer, flagged `true` when its stored heads differ
    /// from the shared heads of the stored sync state (what the relay must push when the
    /// peer reconnects; the others it watches for later changes).
    fn synced_documents(
        &self,
        peer_storage_id: String,
    ) -> BoxFuture<'_, StorageResult<Vec<(DocumentId, bool)>>>;
    /// Sync states are an optimisation (losing one costs a longer sync, never data), so
    /// callers may batch them and need not wait for them before acknowledging changes.
    fn save_sync_states(
        &self,
        states: Vec<(DocumentId, String, Vec<u8>)>,
    ) -> BoxFuture<'_, StorageResult<()>>;

    // --- document registry ---------------------------------------------------------
    fn document_info(&self, doc: DocumentId) -> BoxFuture<'_, StorageResult<Option<DocInfo>>>;
    /// Registers documents for `production_id`. A document already registered to another
    /// production is refused and left unchanged.
    fn register_documents(
        &self,
        production_id: String,
        docs: Vec<(DocumentId, DocKind)>,
    ) -> BoxFuture<'_, StorageResult<RegisterOutcome>>;

    /// This relay's automerge-repo storage id, created on first use and then stable, so
    /// peers can persist their sync state with the relay across restarts.
    fn relay_storage_id(&self) -> BoxFuture<'_, StorageResult<String>>;

    fn stats(&self) -> StorageStats;
    /// `Ok` when storage commits a small write now, no write has failed (disk full, I/O
    /// error) since the last one that succeeded, and no damaged page was ever read;
    /// otherwise why not.
    fn health(&self) -> BoxFuture<'_, Result<(), String>>;
    /// Waits until everything queued so far is on disk (graceful shutdown).
    fn flush(&self) -> BoxFuture<'_, StorageResult<()>>;

    /// What other relays sharing this store append, for the hub to fan out to its own
    /// subscribers. `None` when no other relay can share the store (SQLite: one relay per
    /// data directory, the directory is locked). Callable once: the first call takes the
    /// receiver, later calls return `None`; events from before the first call are not
    /// kept, so take it before loading documents. Never reports this store instance's
    /// own appends.
    fn events(&self) -> Option<UnboundedReceiver<StoreEvent>>;

    /// Passes an ephemeral message this relay relayed on to the other relays sharing the
    /// store ([`StoreEvent::Presence`] there). Nothing to do where no other relay can
    /// share the store; a message too large for a notification is dropped, as presence
    /// may be (the next one replaces it).
    fn share_presence(&self, _presence: Presence) -> BoxFuture<'_, StorageResult<()>> {
        Box::pin(async { Ok(()) })
    }
}
