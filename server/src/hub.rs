//! The sync hub: loaded documents, who is subscribed to each, and the automerge-repo
//! message handling for every connection.
//!
//! Invariants (see ARCHITECTURE.md):
//! - Each loaded document owns its subscriber set, so the document → subscribers index
//!   is the document itself; fan-out walks one document's subscribers, never all
//!   connections.
//! - A change is appended to storage (and the append has returned) before any peer,
//!   including its sender, is sent a sync message that reflects it: whatever the relay
//!   has answered for is durable. Changes are applied in memory first and committed in
//!   batches per document ([`Batch`]); while a batch is pending no sync message for that
//!   document is generated, and the batch's commit ends with one fan-out to every
//!   subscriber. So concurrent writers of one document share one durable commit, and a
//!   burst of changes costs each subscriber one message, not one per change.
//! - Permission is checked per message against the document's registered production and
//!   kind; a message carrying changes its sender may not write is refused whole, before
//!   anything is applied.
//! - Documents with no subscribers for `idle_evict` are dropped from memory.
//! - Locks: the `docs` / `conns` maps are std mutexes never held across an await; a
//!   document's own lock is a tokio mutex, released while its batch commits (writers
//!   wait for the commit to finish before applying more, so appends stay ordered); no
//!   code holds two document locks at once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};
use std::num::NonZeroU32;

use crate::ephemeral;
pub use crate::outbound::Outbound;
use crate::outbound::{self, OutboundRx, OutboundTx};
use setlink_core::rules::cost::{check_chunks_cost, CostError, CostLimits};
use setlink_core::rules::{self, notice, ReceiveError, RuleContext, Writer};
use setlink_core::sync::engine::{self, ConnectionConfig, EngineError, Ephemeral, Event, Side};
use setlink_core::sync::wire::{self, Message};
use setlink_core::{DocKind, DocumentId};
use tokio::sync::{mpsc, watch};

use crate::auth::Principal;
use crate::metrics::{Metrics, Refusal};
use crate::storage::{DocInfo, Storage, StorageError};

pub type ConnId = u64;

/// Incrementals below this are never compacted: small documents load fast enough as
/// a handful of chunks, and compacting them on every change would multiply writes.
const COMPACT_MIN_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Drop a document from memory after this long without subscribers.
    pub idle_evict: Duration,
    /// Largest frame accepted from a peer.
    pub max_frame_bytes: usize,
    /// Frames queued towards one peer before it counts as too slow and is disconnected.
    pub outbound_queue: usize,
    /// Bytes queued towards one peer before it counts as too slow (see [`outbound`]).
    pub outbound_bytes: usize,
    /// Connections one member may hold open at once (phones, laptops, tabs).
    pub max_member_connections: usize,
    /// Check every incoming change against core's write rules (`setlink_core::rules`).
    /// Only the relay benchmark turns this off, to measure what the rules cost.
    pub write_rules: bool,
    /// Largest decompressed size and operation count of one incoming chunk.
    pub cost: CostLimits,
    /// Ephemeral messages one member may send per second (all connections), and the
    /// burst above it; more are dropped.
    pub ephemeral_per_sec: NonZeroU32,
    pub ephemeral_burst: NonZeroU32,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            idle_evict: Duration::from_secs(60),
            max_frame_bytes: 16 * 1024 * 1024,
            outbound_queue: 4096,
            outbound_bytes: 8 * 1024 * 1024,
            max_member_connections: 16,
            write_rules: true,
            cost: CostLimits::default(),
            ephemeral_per_sec: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
            ephemeral_burst: NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// Why the hub wants a connection closed, with a WebSocket close code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: String,
}

/// WebSocket close codes the relay uses.
pub mod close {
    pub const POLICY: u16 = 1008;
    /// The token is unknown, expired or revoked: sign in again. An application code (the
    /// 4000 range is for applications) so a client can tell it from a rate limit, which is
    /// also a policy close, without reading the reason text; the reason says the same.
    pub const UNAUTHORIZED: u16 = 4401;
    pub const TOO_BIG: u16 = 1009;
    pub const PROTOCOL: u16 = 1002;
    pub const GOING_AWAY: u16 = 1001;
    pub const INTERNAL: u16 = 1011;
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("document {0} is not available")]
    Unavailable(DocumentId),
    #[error("document {doc} is corrupt in storage: {why}")]
    Corrupt { doc: DocumentId, why: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Rejected(String),
}

/// What the hub tells in-process watchers (the dashboard's live views): a document
/// changed (after the change is stored), or a peer sent ephemeral data about one.
#[derive(Clone, Debug)]
pub enum HubEvent {
    Changed {
        production_id: String,
        doc_id: DocumentId,
        kind: DocKind,
    },
    Ephemeral {
        production_id: String,
        doc_id: DocumentId,
        member_id: String,
        data: Vec<u8>,
    },
}

struct Subscriber {
    peer_id: String,
    storage_id: Option<String>,
    state: sync::State,
    tx: OutboundTx,
    principal: Arc<Principal>,
    /// The peer sent a message that was not answered at once (a batch was pending). When
    /// its heads already equal ours, automerge records that it knows our heads and would
    /// then stay silent; but the peer has not heard them, and waits for an answer.
    owed_answer: bool,
    /// The heads this peer named in a message the write rules refused. It keeps that
    /// change (a stock client cannot drop it), so those heads name a change we will never
    /// have, and each side would answer the other's empty message forever: the relay asks
    /// for the change, the client will not send it twice. So while the peer still names
    /// one of these heads, it hears from us only when we have something new, never in
    /// answer to a message without changes. Any other head (its app dropped the refused
    /// change, or wrote something new) makes it an ordinary peer again: the new heads may
    /// be ones we lack, and only our answer lets it send them.
    refused: Vec<ChangeHash>,
}

/// A connection whose peer synced a document before and will hear about it again only if
/// it changes (push on connect): promoted to a subscriber on the document's next change.
#[derive(Clone)]
struct Watcher {
    peer_id: String,
    storage_id: String,
    tx: OutboundTx,
    principal: Arc<Principal>,
}

/// Who wrote into a pending batch, so each can be told if its commit fails.
struct BatchWriter {
    conn: ConnId,
    peer_id: String,
    tx: OutboundTx,
}

/// Changes applied in memory but not yet durable.
enum Batch {
    /// Memory holds exactly what is stored (`durable_heads`).
    Idle,
    /// Writers are applying changes; a commit task will take them all.
    Forming(Vec<BatchWriter>),
    /// The commit is running with the document unlocked. Writers with changes wait for
    /// [`LoadedDoc::settled`]; messages without changes are received but not answered
    /// (the commit's fan-out answers every subscriber).
    Committing,
}

struct LoadedDoc {
    doc: Automerge,
    /// Heads of what storage holds; `save_after` these is what the next commit writes.
    durable_heads: Vec<ChangeHash>,
    batch: Batch,
    /// Fires when a commit finishes (successfully or not).
    settled: Arc<tokio::sync::Notify>,
    info: DocInfo,
    subs: HashMap<ConnId, Subscriber>,
    /// Ephemeral messages about this document already relayed (see [`ephemeral`]).
    relayed: ephemeral::Relayed,
    chunk_seqs: Vec<i64>,
    snapshot_bytes: usize,
    incremental_bytes: usize,
    idle_since: Instant,
}

enum SlotState {
    Unloaded,
    Loaded(Box<LoadedDoc>),
    /// Removed from the map; whoever still holds the slot must look the document up again.
    Evicted,
}

struct DocSlot {
    state: tokio::sync::Mutex<SlotState>,
}

struct ConnEntry {
    token_hash: String,
    kill: watch::Sender<Option<CloseReason>>,
}

pub struct Hub {
    /// Commits run as their own tasks, so a writer never waits for its batch's fsync.
    me: std::sync::Weak<Hub>,
    /// The ephemeral session and count of notices the hub sends outside a connection's
    /// engine (a commit that failed): receivers drop counts they have seen per session.
    notice_session: String,
    notice_count: AtomicU64,
    storage: Arc<dyn Storage>,
    pub metrics: Arc<Metrics>,
    config: HubConfig,
    peer_id: String,
    storage_id: String,
    docs: Mutex<HashMap<DocumentId, Arc<DocSlot>>>,
    conns: Mutex<HashMap<ConnId, ConnEntry>>,
    by_member: Mutex<HashMap<String, HashSet<ConnId>>>,
    /// Document -> connections watching it (see [`Watcher`]); no document is loaded for it.
    watchers: Mutex<HashMap<DocumentId, HashMap<ConnId, Watcher>>>,
    next_conn: AtomicU64,
    events: tokio::sync::broadcast::Sender<HubEvent>,
    ephemeral_rate: ephemeral::MemberRate,
}

/// One connection's protocol state, owned by its socket task.
pub struct Connection {
    pub id: ConnId,
    pub principal: Arc<Principal>,
    engine: engine::Connection,
    tx: OutboundTx,
    peer_id: Option<String>,
    storage_id: Option<String>,
    docs: HashSet<DocumentId>,
    watching: Vec<DocumentId>,
}

impl Connection {
    /// The queue towards this connection's socket.
    pub fn outbound(&self) -> OutboundTx {
        self.tx.clone()
    }

    /// Queues an automerge-repo `error` message to this peer.
    pub fn send_error(&self, hub: &Hub, message: String) {
        hub.error_to(self, message);
    }
}

/// What the socket task should do after a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close(CloseReason),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these maps cannot leave it half-updated (every
    // critical section is a single insert/remove), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Opened {
    Doc(Arc<DocSlot>),
    Unavailable,
}

impl Hub {
    pub async fn new(
        storage: Arc<dyn Storage>,
        metrics: Arc<Metrics>,
        config: HubConfig,
    ) -> Result<Arc<Hub>, StorageError> {
        let storage_id = storage.relay_storage_id().await?;
        Ok(Arc::new_cyclic(|me| Hub {
            me: me.clone(),
            peer_id: format!("setlink-relay-{}", &storage_id[..8.min(storage_id.len())]),
            storage_id,
            storage,
            metrics,
            docs: Mutex::new(HashMap::new()),
            conns: Mutex::new(HashMap::new()),
            by_member: Mutex::new(HashMap::new()),
            watchers: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            events: tokio::sync::broadcast::channel(1024).0,
            ephemeral_rate: ephemeral::MemberRate::new(
                config.ephemeral_per_sec,
                config.ephemeral_burst,
            ),
            config,
            notice_session: uuid::Uuid::new_v4().simple().to_string(),
            notice_count: AtomicU64::new(0),
        }))
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// Hears every stored change and every relayed ephemeral message, in process.
    pub fn watch(&self) -> tokio::sync::broadcast::Receiver<HubEvent> {
        self.events.subscribe()
    }

    pub fn loaded_documents(&self) -> usize {
        lock(&self.docs).len()
    }

    pub fn connection_count(&self) -> usize {
        lock(&self.conns).len()
    }

    /// Registers a new connection for `principal`. The receiver yields frames to send; the
    /// watch fires when the hub wants the connection closed (revocation, slow consumer).
    pub fn connect(
        &self,
        principal: Principal,
    ) -> (Connection, OutboundRx, watch::Receiver<Option<CloseReason>>) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = outbound::channel(self.config.outbound_queue, self.config.outbound_bytes);
        let (kill, kill_rx) = watch::channel(None);
        lock(&self.conns).insert(
            id,
            ConnEntry {
                token_hash: principal.token_hash.clone(),
                kill,
            },
        );
        lock(&self.by_member)
            .entry(principal.member_id.clone())
            .or_default()
            .insert(id);
        self.metrics.connections_open.inc();
        Metrics::inc(&self.metrics.connections_total);
        (
            Connection {
                id,
                principal: Arc::new(principal),
                engine: engine::Connection::new({
                    let mut cfg = ConnectionConfig::new(
                        self.peer_id.clone(),
                        Side::Acceptor,
                        wire::PeerMetadata {
                            storage_id: Some(self.storage_id.clone()),
                            is_ephemeral: Some(false),
                            pushes_changes: Some(true),
                        },
                        format!("{}-{id}", self.peer_id),
                    );
                    cfg.max_frame_bytes = self.config.max_frame_bytes;
                    cfg
                }),
                tx,
                peer_id: None,
                storage_id: None,
                docs: HashSet::new(),
                watching: Vec::new(),
            },
            rx,
            kill_rx,
        )
    }

    /// Unsubscribes the connection everywhere and persists the sync states of its
    /// durable peer, so its next connection starts where this one left off.
    pub async fn disconnect(&self, conn: Connection) {
        {
            let mut w = lock(&self.watchers);
            for doc_id in &conn.watching {
                if let Some(set) = w.get_mut(doc_id) {
                    set.remove(&conn.id);
                    if set.is_empty() {
                        w.remove(doc_id);
                    }
                }
            }
        }
        let mut states = Vec::new();
        for doc_id in conn.docs.iter().chain(conn.watching.iter()) {
            let slot = lock(&self.docs).get(doc_id).cloned();
            let Some(slot) = slot else { continue };
            let mut st = slot.state.lock().await;
            if let SlotState::Loaded(d) = &mut *st {
                if let Some(sub) = d.subs.remove(&conn.id) {
                    if let Some(sid) = sub.storage_id {
                        states.push((*doc_id, sid, sub.state.encode()));
                    }
                }
                if d.subs.is_empty() {
                    d.idle_since = Instant::now();
                }
            }
        }
        if !states.is_empty() {
            if let Err(e) = self.storage.save_sync_states(states).await {
                tracing::warn!(error = %e, "could not save sync states on disconnect");
            }
        }
        lock(&self.conns).remove(&conn.id);
        let mut by_member = lock(&self.by_member);
        if let Some(set) = by_member.get_mut(&conn.principal.member_id) {
            set.remove(&conn.id);
            if set.is_empty() {
                by_member.remove(&conn.principal.member_id);
            }
        }
        self.metrics.connections_open.dec();
    }

    fn kill(&self, conn: ConnId, why: CloseReason) {
        if let Some(c) = lock(&self.conns).get(&conn) {
            let _ = c.kill.send(Some(why));
        }
    }

    /// Ends every connection of a member at once (revocation). Returns how many.
    pub fn kick_member(&self, member_id: &str, reason: &str) -> usize {
        let ids: Vec<ConnId> = lock(&self.by_member)
            .get(member_id)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for id in &ids {
            self.kill(
                *id,
                CloseReason {
                    code: close::UNAUTHORIZED,
                    reason: reason.to_owned(),
                },
            );
        }
        ids.len()
    }

    /// Ends the connections using one token.
    pub fn kick_token(&self, token_hash: &str, reason: &str) -> usize {
        let conns = lock(&self.conns);
        let mut n = 0;
        for c in conns.values().filter(|c| c.token_hash == token_hash) {
            let _ = c.kill.send(Some(CloseReason {
                code: close::UNAUTHORIZED,
                reason: reason.to_owned(),
            }));
            n += 1;
        }
        n
    }

    /// Asks every connection to close (graceful shutdown).
    pub fn close_all(&self, reason: &str) {
        for c in lock(&self.conns).values() {
            let _ = c.kill.send(Some(CloseReason {
                code: close::GOING_AWAY,
                reason: reason.to_owned(),
            }));
        }
    }

    /// How many connections `member_id` holds open now.
    pub fn member_connections(&self, member_id: &str) -> usize {
        lock(&self.by_member).get(member_id).map_or(0, HashSet::len)
    }

    /// Member ids with at least one open connection (tests, dashboard presence).
    pub fn connected_members(&self) -> Vec<String> {
        lock(&self.by_member).keys().cloned().collect()
    }

    fn send(&self, tx: &OutboundTx, conn: ConnId, msg: &Message) {
        let frame = wire::encode(msg);
        let len = frame.len() as u64;
        match tx.try_send(Outbound::Frame(frame)) {
            Ok(()) => {
                Metrics::inc(&self.metrics.messages_out);
                Metrics::add(&self.metrics.bytes_out, len);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                // The protocol resynchronises from sync states, so dropping a slow peer and
                // letting it reconnect is safe; buffering without bound is not.
                self.metrics.refuse(Refusal::SlowConsumer);
                self.kill(
                    conn,
                    CloseReason {
                        code: close::POLICY,
                        reason: "too slow: outbound queue full; reconnect to resync".into(),
                    },
                );
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn error_to(&self, conn: &Connection, message: String) {
        let msg = Message::Error {
            sender_id: Some(self.peer_id.clone()),
            message,
            target_id: conn.peer_id.clone(),
        };
        self.send(&conn.tx, conn.id, &msg);
    }

    /// Tells a writer of a batch whose commit failed that its change was not stored, as a
    /// refusal notice (rule `storage`) like the write rules' own.
    fn storage_refusal_to(&self, w: &BatchWriter, doc: DocumentId, e: &StorageError) {
        let data = notice::encode(&notice::Notice {
            document_id: doc.to_string(),
            rule: "storage".to_owned(),
            path: String::new(),
            message: format!(
                "the relay could not store the change ({e}); it was not accepted. It stays on your device and is sent again when you reconnect"
            ),
        });
        let count = self.notice_count.fetch_add(1, Ordering::Relaxed) + 1;
        let msg = Message::Ephemeral {
            sender_id: self.peer_id.clone(),
            target_id: w.peer_id.clone(),
            count,
            session_id: self.notice_session.clone(),
            document_id: doc,
            data,
        };
        self.send(&w.tx, w.conn, &msg);
    }

    /// Tells a writer that its change to `doc` was refused, with the rule that refused it,
    /// as a [`notice`] in an `ephemeral` message: the connection and the rest of its
    /// documents carry on, and no stock client closes, reconnects or resends over it.
    fn refuse_to(
        &self,
        conn: &mut Connection,
        doc: DocumentId,
        rule: &str,
        path: &str,
        message: String,
    ) {
        let data = notice::encode(&notice::Notice {
            document_id: doc.to_string(),
            rule: rule.to_owned(),
            path: path.to_owned(),
            message,
        });
        if conn.engine.send_ephemeral(doc, data).is_ok() {
            self.flush_engine(conn);
        }
    }

    /// Applies a writer's sync message under the write rules. A production document's new
    /// index entries are also checked against the registry, which only storage can answer:
    /// the rules record which ids they asked about, and an entry naming another
    /// production's document undoes the whole message.
    async fn receive_under_rules(
        &self,
        p: &Principal,
        kind: &DocKind,
        doc: &mut Automerge,
        state: &mut sync::State,
        msg: sync::Message,
    ) -> Result<(), ReceiveError> {
        let writer = Writer {
            member_id: p.member_id.clone(),
            role: p.role,
        };
        let before = doc.get_heads();
        let state_before = state.clone();
        // In a block: nothing borrowed here may live across the awaits below.
        let asked = {
            let asked: std::cell::RefCell<Vec<String>> = Default::default();
            let record = |id: &str| {
                asked.borrow_mut().push(id.to_owned());
                false
            };
            let ctx = RuleContext {
                kind,
                writer: Some(&writer),
                foreign_document: &record,
            };
            rules::receive_checked(&ctx, doc, state, msg)?;
            asked.into_inner()
        };
        for id in &asked {
            let foreign = match id.parse::<DocumentId>() {
                Ok(d) => match self.storage.document_info(d).await {
                    Ok(info) => info.is_some_and(|i| i.production_id != p.production_id),
                    // Unknown is not foreign, but a registry we cannot read is a refusal.
                    Err(_) => true,
                },
                Err(_) => false,
            };
            if foreign {
                rules::rollback(doc, &before);
                *state = state_before;
                return Err(ReceiveError::Refused(rules::Refusal {
                    rule: rules::Rule::Index,
                    path: format!("documents/{id}"),
                    detail: "the index may only name this production's own documents".into(),
                }));
            }
        }
        Ok(())
    }

    fn unavailable_to(&self, conn: &Connection, peer: &str, doc: DocumentId) {
        self.metrics.refuse(Refusal::Unavailable);
        let msg = Message::DocUnavailable {
            sender_id: self.peer_id.clone(),
            target_id: peer.to_owned(),
            document_id: doc,
        };
        self.send(&conn.tx, conn.id, &msg);
    }

    /// Handles one frame from a connection.
    pub async fn handle_frame(&self, conn: &mut Connection, frame: &[u8]) -> Flow {
        Metrics::inc(&self.metrics.messages_in);
        Metrics::add(&self.metrics.bytes_in, frame.len() as u64);
        // core's sans-IO engine does the protocol: handshake, decoding, ephemeral dedup,
        // errors for violations. The hub acts on what it reports.
        let fed = conn.engine.handle_frame(frame);
        let flow = self.drain_engine(conn).await;
        self.flush_engine(conn);
        match fed {
            Ok(()) => flow,
            // The peer sent `error`: it closes after it, and so do we.
            Err(EngineError::PeerError(m)) => Flow::Close(CloseReason {
                code: 1000,
                reason: truncate_reason(&format!("peer reported: {m}")),
            }),
            Err(e) => {
                let (why, code) = match &e {
                    EngineError::Wire(wire::WireError::TooLarge { .. }) => {
                        (Refusal::Oversized, close::TOO_BIG)
                    }
                    EngineError::BadSyncMessage { .. } => {
                        (Refusal::InvalidAutomerge, close::PROTOCOL)
                    }
                    _ => (Refusal::Malformed, close::PROTOCOL),
                };
                self.metrics.refuse(why);
                tracing::info!(conn = conn.id, error = %e, "protocol violation");
                Flow::Close(CloseReason {
                    code,
                    reason: truncate_reason(&e.to_string()),
                })
            }
        }
    }

    /// Sends what the engine queued (its `peer` answer, its `error` frames).
    fn flush_engine(&self, conn: &mut Connection) {
        while let Some(frame) = conn.engine.poll_transmit() {
            let len = frame.len() as u64;
            match conn.tx.try_send(Outbound::Frame(frame)) {
                Ok(()) => {
                    Metrics::inc(&self.metrics.messages_out);
                    Metrics::add(&self.metrics.bytes_out, len);
                }
                Err(_) => {
                    self.metrics.refuse(Refusal::SlowConsumer);
                    self.kill(
                        conn.id,
                        CloseReason {
                            code: close::POLICY,
                            reason: "too slow: outbound queue full; reconnect to resync".into(),
                        },
                    );
                    break;
                }
            }
        }
    }

    async fn drain_engine(&self, conn: &mut Connection) -> Flow {
        while let Some(ev) = conn.engine.poll_event() {
            match ev {
                Event::Connected { peer_id, metadata } => {
                    conn.storage_id = if metadata.is_ephemeral == Some(true) {
                        None
                    } else {
                        metadata.storage_id.clone()
                    };
                    conn.peer_id = Some(peer_id.clone());
                    // The `peer` answer must leave before anything pushed below.
                    self.flush_engine(conn);
                    if metadata.pushes_changes == Some(true) {
                        self.push_changed(conn, &peer_id).await;
                    }
                }
                Event::Sync {
                    document_id,
                    message,
                    request,
                } => {
                    let Some(peer) = conn.peer_id.clone() else {
                        continue;
                    };
                    self.on_sync(conn, &peer, document_id, message, request)
                        .await;
                }
                Event::Ephemeral(e) => {
                    let Some(peer) = conn.peer_id.clone() else {
                        continue;
                    };
                    self.on_ephemeral(conn, &peer, e).await;
                }
                Event::Closed { reason } => {
                    return Flow::Close(CloseReason {
                        code: 1000,
                        reason: truncate_reason(&reason),
                    })
                }
                // Peers tell us they lack a document, or which storage ids they follow; the
                // relay answers only what is asked of it, so neither needs a reply.
                Event::DocUnavailable { .. }
                | Event::RemoteSubscriptionChange { .. }
                | Event::RemoteHeadsChanged { .. } => {}
            }
        }
        Flow::Continue
    }

    /// Finds (or loads) a document for `who`. Unknown documents become `Shared` documents
    /// of the member's production when `create` is set and the member may write runs.
    async fn open(
        &self,
        doc_id: DocumentId,
        who: Option<&Principal>,
        create: bool,
    ) -> Result<Opened, HubError> {
        loop {
            let slot = lock(&self.docs)
                .entry(doc_id)
                .or_insert_with(|| {
                    Arc::new(DocSlot {
                        state: tokio::sync::Mutex::new(SlotState::Unloaded),
                    })
                })
                .clone();
            let mut st = slot.state.lock().await;
            match &*st {
                SlotState::Loaded(_) => return Ok(Opened::Doc(slot.clone())),
                SlotState::Evicted => continue,
                SlotState::Unloaded => {}
            }
            let mut info = self.storage.document_info(doc_id).await?;
            if info.is_none() {
                if let Some(p) = who.filter(|p| create && p.role.may_write_runs()) {
                    let out = self
                        .storage
                        .register_documents(
                            p.production_id.clone(),
                            vec![(doc_id, DocKind::Shared)],
                        )
                        .await?;
                    if out.refused.is_empty() {
                        tracing::info!(doc = %doc_id, member = %p.member_id, "created shared document");
                        info = Some(DocInfo {
                            production_id: p.production_id.clone(),
                            kind: DocKind::Shared,
                        });
                    } else {
                        info = self.storage.document_info(doc_id).await?;
                    }
                }
            }
            let Some(info) = info else {
                *st = SlotState::Evicted;
                self.forget_slot(doc_id, &slot);
                return Ok(Opened::Unavailable);
            };
            if who.is_some_and(|p| p.production_id != info.production_id) {
                // Another production's document: behave exactly as if it did not exist.
                *st = SlotState::Evicted;
                self.forget_slot(doc_id, &slot);
                return Ok(Opened::Unavailable);
            }
            let chunks = self.storage.load_chunks(doc_id).await?;
            let mut doc = Automerge::new();
            let mut snapshot_bytes = 0;
            let mut incremental_bytes = 0;
            let mut seqs = Vec::with_capacity(chunks.len());
            for c in &chunks {
                doc.load_incremental(&c.data)
                    .map_err(|e| HubError::Corrupt {
                        doc: doc_id,
                        why: e.to_string(),
                    })?;
                if c.snapshot {
                    snapshot_bytes += c.data.len();
                } else {
                    incremental_bytes += c.data.len();
                }
                seqs.push(c.seq);
            }
            Metrics::inc(&self.metrics.docs_loaded_total);
            *st = SlotState::Loaded(Box::new(LoadedDoc {
                durable_heads: doc.get_heads(),
                doc,
                batch: Batch::Idle,
                settled: Arc::new(tokio::sync::Notify::new()),
                info,
                subs: HashMap::new(),
                relayed: ephemeral::Relayed::default(),
                chunk_seqs: seqs,
                snapshot_bytes,
                incremental_bytes,
                idle_since: Instant::now(),
            }));
            return Ok(Opened::Doc(slot.clone()));
        }
    }

    fn forget_slot(&self, doc_id: DocumentId, slot: &Arc<DocSlot>) {
        let mut docs = lock(&self.docs);
        if docs.get(&doc_id).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            docs.remove(&doc_id);
        }
    }

    async fn on_sync(
        &self,
        conn: &mut Connection,
        peer: &str,
        doc_id: DocumentId,
        msg: sync::Message,
        is_request: bool,
    ) {
        let p = conn.principal.clone();
        let slot = match self.open(doc_id, Some(&p), !is_request).await {
            Ok(Opened::Doc(s)) => s,
            Ok(Opened::Unavailable) => return self.unavailable_to(conn, peer, doc_id),
            Err(e) => {
                tracing::error!(doc = %doc_id, error = %e, "cannot open document");
                self.error_to(
                    conn,
                    format!("document {doc_id}: the relay could not load it ({e})"),
                );
                return;
            }
        };
        let carries_changes = !msg.changes.is_empty();
        // Changes wait while a commit runs: applying them then would put undurable changes
        // in memory while the commit's fan-out reads it.
        let mut st = if carries_changes {
            lock_unless(&slot, |b| matches!(b, Batch::Committing)).await
        } else {
            slot.state.lock().await
        };
        let SlotState::Loaded(d) = &mut *st else {
            // Evicted between open and lock: the peer's next message finds it again.
            drop(st);
            return Box::pin(self.on_sync(conn, peer, doc_id, msg, is_request)).await;
        };
        let kind = d.info.kind.clone();
        // Checked on every message, not just at load: a loaded document may belong to
        // another production than this member's.
        if d.info.production_id != p.production_id || !kind.may_read(p.role, &p.member_id) {
            return self.unavailable_to(conn, peer, doc_id);
        }
        if carries_changes && !kind.may_write(p.role, &p.member_id) {
            self.metrics.refuse(Refusal::ForbiddenWrite);
            tracing::info!(doc = %doc_id, member = %p.member_id, role = %p.role, "refused write");
            drop(st);
            self.refuse_to(
                conn,
                doc_id,
                "forbidden",
                "",
                format!(
                    "a {} may not write a {} document; the change was refused and not stored",
                    p.role,
                    kind_label(&kind)
                ),
            );
            return;
        }
        // Before anything inflates or parses the changes: that alone is what a
        // decompression bomb attacks.
        if let Err(e @ (CostError::TooLarge { .. } | CostError::TooManyOps { .. })) =
            message_cost(&msg, &self.config.cost)
        {
            self.metrics.refuse(Refusal::TooCostly);
            tracing::info!(doc = %doc_id, member = %p.member_id, error = %e, "refused costly change");
            drop(st);
            self.refuse_to(
                conn,
                doc_id,
                "cost",
                "",
                format!("{e}; the change was refused and not stored"),
            );
            return;
        }
        if let Err(why) = check_chunks(&msg) {
            self.metrics.refuse(Refusal::InvalidAutomerge);
            drop(st);
            self.error_to(
                conn,
                format!("document {doc_id}: invalid Automerge data ({why}); nothing was stored"),
            );
            return;
        }
        self.subscribe(conn, peer, doc_id, d).await;
        let before = d.doc.get_heads();
        let named_heads = msg.heads.clone();
        let received = {
            let LoadedDoc { doc, subs, .. } = &mut **d;
            match subs.get_mut(&conn.id) {
                Some(sub) if self.config.write_rules => {
                    self.receive_under_rules(&p, &kind, doc, &mut sub.state, msg)
                        .await
                }
                Some(sub) => doc
                    .receive_sync_message(&mut sub.state, msg)
                    .map_err(ReceiveError::Invalid),
                None => Ok(()),
            }
        };
        if let Err(ReceiveError::Refused(r)) = &received {
            // Nothing of it is in memory any more (the document and this peer's sync state
            // are as they were), so the answer below tells the writer our heads without it,
            // and automerge will not send the same change again on this connection.
            self.metrics.refuse(Refusal::WriteRules);
            tracing::info!(doc = %doc_id, member = %p.member_id, rule = %r.rule, path = %r.path, "write rules refused a change");
            let LoadedDoc { doc, subs, .. } = &mut **d;
            if let Some(sub) = subs.get_mut(&conn.id) {
                // Only the heads we lack: the peer may also name heads we share.
                sub.refused = named_heads
                    .into_iter()
                    .filter(|h| automerge::ReadDoc::get_change_by_hash(&*doc, h).is_none())
                    .collect();
            }
            self.refuse_to(
                conn,
                doc_id,
                r.rule.as_str(),
                &r.path,
                format!("{}; the change was refused and not stored", r.detail),
            );
        }
        if let Err(ReceiveError::Invalid(e)) = received {
            self.metrics.refuse(Refusal::InvalidAutomerge);
            if d.doc.get_heads() != before {
                // Drops this message's partial apply, and any pending batch with it: those
                // writers' peers resync from fresh states and send their changes again.
                if let Err(e) = self.reload(doc_id, d).await {
                    tracing::error!(doc = %doc_id, error = %e, "reload after bad message failed");
                }
            }
            drop(st);
            self.error_to(
                conn,
                format!("document {doc_id}: invalid Automerge data ({e}); nothing was stored"),
            );
            return;
        }
        let changed = d.doc.get_heads() != before;
        let refused_peer = {
            match d.subs.get_mut(&conn.id) {
                Some(sub) if !sub.refused.is_empty() && received.is_ok() => {
                    let still = sub
                        .state
                        .their_heads
                        .as_ref()
                        .is_some_and(|heads| heads.iter().any(|h| sub.refused.contains(h)));
                    if !still {
                        sub.refused.clear();
                    }
                    still
                }
                _ => false,
            }
        };
        if refused_peer && !changed && received.is_ok() {
            // See `Subscriber::refused`: stay quiet; the next change here reaches it.
            return;
        }
        if changed || !matches!(d.batch, Batch::Idle) {
            // Only the batch's commit may answer this peer; see `Subscriber::owed_answer`.
            if let Some(sub) = d.subs.get_mut(&conn.id) {
                sub.owed_answer = true;
            }
        }
        if !changed {
            // Nothing new: answer the sender alone (fan_out stays silent while a batch is
            // pending; its commit answers everyone).
            self.fan_out(doc_id, d, Audience::Sender(conn.id));
            return;
        }
        let writer = BatchWriter {
            conn: conn.id,
            peer_id: peer.to_owned(),
            tx: conn.tx.clone(),
        };
        match &mut d.batch {
            Batch::Forming(writers) => writers.push(writer),
            Batch::Idle => {
                d.batch = Batch::Forming(vec![writer]);
                drop(st);
                // The commit runs on its own task: writers that are already queued on the
                // document's lock apply their changes before it, and share its commit.
                self.spawn_commit(doc_id, slot);
            }
            // Writers with changes wait for a running commit, so this is not reached; if it
            // were, the commit that is running schedules another for what it did not take.
            Batch::Committing => {}
        }
    }

    fn spawn_commit(&self, doc_id: DocumentId, slot: Arc<DocSlot>) {
        if let Some(hub) = self.me.upgrade() {
            // Boxed: `commit` may spawn another commit, and a future cannot contain itself.
            let commit: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
                Box::pin(async move { hub.commit(doc_id, slot).await });
            tokio::spawn(commit);
        }
    }

    /// Makes a document's pending batch durable, then answers every subscriber with one
    /// sync message. On a storage failure the document is rebuilt from storage and every
    /// writer in the batch is told its change was not accepted.
    async fn commit(&self, doc_id: DocumentId, slot: Arc<DocSlot>) {
        let mut st = slot.state.lock().await;
        let SlotState::Loaded(d) = &mut *st else {
            return;
        };
        let writers = match std::mem::replace(&mut d.batch, Batch::Committing) {
            Batch::Forming(w) => w,
            other => {
                d.batch = other;
                return;
            }
        };
        let heads = d.doc.get_heads();
        let stored = if heads == d.durable_heads {
            // A bad message's reload already dropped the batch.
            Ok(None)
        } else {
            let bytes = d.doc.save_after(&d.durable_heads);
            drop(st);
            let len = bytes.len();
            let out = self
                .storage
                .append_chunk(doc_id, bytes, heads.clone())
                .await;
            st = slot.state.lock().await;
            out.map(|seq| Some((seq, len)))
        };
        // A document with a pending batch is never evicted (see `evict_idle`).
        let SlotState::Loaded(d) = &mut *st else {
            return;
        };
        d.batch = Batch::Idle;
        let index = match stored {
            Ok(None) => {
                // A bad message's reload dropped the batch and reset every sync state:
                // restart the sync with everyone, so the batch's writers send their
                // changes again rather than wait for an answer that will not come.
                if !writers.is_empty() {
                    self.fan_out(doc_id, d, Audience::Everyone { changed: false });
                }
                None
            }
            Ok(Some((seq, len))) => {
                self.note_stored(d, heads, seq, len);
                self.promote_watchers(doc_id, d).await;
                self.fan_out(doc_id, d, Audience::Everyone { changed: true });
                self.maybe_compact(doc_id, d).await;
                (d.info.kind == DocKind::Production)
                    .then(|| (d.info.production_id.clone(), read_index(&d.doc)))
            }
            Err(e) => {
                tracing::error!(doc = %doc_id, error = %e, "cannot store changes");
                // The batch's changes: its writers keep them and go on naming them.
                let lost: Vec<ChangeHash> = d
                    .doc
                    .get_changes(&d.durable_heads)
                    .iter()
                    .map(|c| c.hash())
                    .collect();
                if let Err(e) = self.reload(doc_id, d).await {
                    tracing::error!(doc = %doc_id, error = %e, "reload after failed store failed");
                }
                // Like a write the rules refused (see `Subscriber::refused`): each writer is
                // told once, and is not asked for the change again while it names it. A
                // sync message now would make a stock client send the change straight
                // back, into the same full disk, for ever. It is sent again when the
                // writer reconnects or when this document next changes.
                let mut writer_conns = HashSet::new();
                for w in writers {
                    if let Some(sub) = d.subs.get_mut(&w.conn) {
                        sub.refused = lost.clone();
                        sub.owed_answer = false;
                    }
                    if writer_conns.insert(w.conn) {
                        self.storage_refusal_to(&w, doc_id, &e);
                    }
                }
                // Everyone else restarts the sync from the reloaded state (a round of heads).
                let others: Vec<ConnId> = d
                    .subs
                    .keys()
                    .copied()
                    .filter(|c| !writer_conns.contains(c))
                    .collect();
                for c in others {
                    self.fan_out(doc_id, d, Audience::Sender(c));
                }
                None
            }
        };
        if d.doc.get_heads() != d.durable_heads {
            d.batch = Batch::Forming(Vec::new());
            self.spawn_commit(doc_id, slot.clone());
        }
        d.settled.notify_waiters();
        drop(st);
        if let Some((production, index)) = index {
            self.apply_index(doc_id, production, index).await;
        }
    }

    /// Adds the connection to the document's subscribers, with the sync state persisted
    /// for its peer's storage. A first subscription is recorded durably before any reply,
    /// so push-on-connect knows about every document the peer may consider synced.
    async fn subscribe(
        &self,
        conn: &mut Connection,
        peer: &str,
        doc_id: DocumentId,
        d: &mut LoadedDoc,
    ) {
        let std::collections::hash_map::Entry::Vacant(slot) = d.subs.entry(conn.id) else {
            return;
        };
        let mut state = None;
        if let Some(sid) = &conn.storage_id {
            match self.storage.load_sync_state(doc_id, sid.clone()).await {
                Ok(Some(bytes)) => match sync::State::decode(&bytes) {
                    Ok(s) => state = Some(s),
                    Err(e) => {
                        tracing::warn!(doc = %doc_id, error = %e, "discarding bad sync state")
                    }
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(doc = %doc_id, error = %e, "cannot load sync state"),
            }
            if state.is_none() {
                let fresh = sync::State::new().encode();
                if let Err(e) = self
                    .storage
                    .ensure_sync_state(doc_id, sid.clone(), fresh)
                    .await
                {
                    tracing::warn!(doc = %doc_id, error = %e, "cannot record sync state");
                }
            }
        }
        slot.insert(Subscriber {
            peer_id: peer.to_owned(),
            storage_id: conn.storage_id.clone(),
            state: state.unwrap_or_default(),
            tx: conn.tx.clone(),
            principal: conn.principal.clone(),
            owed_answer: false,
            refused: Vec::new(),
        });
        conn.docs.insert(doc_id);
    }

    /// Push on connect (setlink extension, see `sync::engine`): sends a sync message for
    /// every document that changed here since this peer's storage last synced it, and
    /// watches the others so a later change reaches the peer too.
    async fn push_changed(&self, conn: &mut Connection, peer: &str) {
        let Some(sid) = conn.storage_id.clone() else {
            return;
        };
        let docs = match self.storage.synced_documents(sid.clone()).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list documents to push");
                return;
            }
        };
        let p = conn.principal.clone();
        let mut pushed = 0;
        for (doc_id, changed) in docs {
            if !changed {
                let w = Watcher {
                    peer_id: peer.to_owned(),
                    storage_id: sid.clone(),
                    tx: conn.tx.clone(),
                    principal: p.clone(),
                };
                lock(&self.watchers)
                    .entry(doc_id)
                    .or_default()
                    .insert(conn.id, w);
                conn.watching.push(doc_id);
                continue;
            }
            let Ok(Opened::Doc(slot)) = self.open(doc_id, Some(&p), false).await else {
                continue;
            };
            let mut st = slot.state.lock().await;
            let SlotState::Loaded(d) = &mut *st else {
                continue;
            };
            if d.info.production_id != p.production_id
                || !d.info.kind.may_read(p.role, &p.member_id)
            {
                continue;
            }
            self.subscribe(conn, peer, doc_id, d).await;
            self.fan_out(doc_id, d, Audience::Sender(conn.id));
            pushed += 1;
        }
        tracing::debug!(
            conn = conn.id,
            pushed,
            watching = conn.watching.len(),
            "push on connect"
        );
    }

    /// Turns the document's watchers into subscribers (it just changed), so the fan-out
    /// that follows reaches them.
    async fn promote_watchers(&self, doc_id: DocumentId, d: &mut LoadedDoc) {
        let watchers = lock(&self.watchers).remove(&doc_id);
        let Some(watchers) = watchers else { return };
        for (id, w) in watchers {
            if d.subs.contains_key(&id)
                || d.info.production_id != w.principal.production_id
                || !d
                    .info
                    .kind
                    .may_read(w.principal.role, &w.principal.member_id)
            {
                continue;
            }
            let state = match self
                .storage
                .load_sync_state(doc_id, w.storage_id.clone())
                .await
            {
                Ok(Some(b)) => sync::State::decode(&b).unwrap_or_default(),
                _ => sync::State::new(),
            };
            d.subs.insert(
                id,
                Subscriber {
                    peer_id: w.peer_id,
                    storage_id: Some(w.storage_id),
                    state,
                    tx: w.tx,
                    principal: w.principal,
                    owed_answer: false,
                    refused: Vec::new(),
                },
            );
        }
    }

    /// Durably appends what memory holds beyond `durable_heads`, holding the document's
    /// lock throughout (the relay's own changes; peers' changes go through [`Hub::commit`]).
    async fn persist(&self, doc_id: DocumentId, d: &mut LoadedDoc) -> Result<(), StorageError> {
        let heads = d.doc.get_heads();
        let bytes = d.doc.save_after(&d.durable_heads);
        let len = bytes.len();
        let seq = self
            .storage
            .append_chunk(doc_id, bytes, heads.clone())
            .await?;
        self.note_stored(d, heads, seq, len);
        Ok(())
    }

    fn note_stored(&self, d: &mut LoadedDoc, heads: Vec<ChangeHash>, seq: i64, len: usize) {
        d.durable_heads = heads;
        d.chunk_seqs.push(seq);
        d.incremental_bytes += len;
        Metrics::inc(&self.metrics.changes_stored);
        Metrics::add(&self.metrics.change_bytes_stored, len as u64);
    }

    /// Replaces the chunks with one snapshot once the incrementals outgrow the last one.
    /// Called with nothing pending, so the snapshot holds only durable changes.
    async fn maybe_compact(&self, doc_id: DocumentId, d: &mut LoadedDoc) {
        if d.incremental_bytes <= d.snapshot_bytes.max(COMPACT_MIN_BYTES) {
            return;
        }
        let snapshot = d.doc.save();
        let slen = snapshot.len();
        match self
            .storage
            .compact(doc_id, snapshot, d.chunk_seqs.clone())
            .await
        {
            Ok(seq) => {
                d.chunk_seqs = vec![seq];
                d.snapshot_bytes = slen;
                d.incremental_bytes = 0;
                Metrics::inc(&self.metrics.compactions);
            }
            // The incrementals are already durable; compaction can wait for the next change.
            Err(e) => tracing::warn!(doc = %doc_id, error = %e, "compaction failed"),
        }
    }

    /// Rebuilds a document from storage, dropping anything in memory that is not stored,
    /// and restarts every subscriber's sync from scratch.
    async fn reload(&self, doc_id: DocumentId, d: &mut LoadedDoc) -> Result<(), HubError> {
        let chunks = self.storage.load_chunks(doc_id).await?;
        let mut doc = Automerge::new();
        for c in &chunks {
            doc.load_incremental(&c.data)
                .map_err(|e| HubError::Corrupt {
                    doc: doc_id,
                    why: e.to_string(),
                })?;
        }
        d.durable_heads = doc.get_heads();
        d.doc = doc;
        d.chunk_seqs = chunks.iter().map(|c| c.seq).collect();
        for sub in d.subs.values_mut() {
            sub.state = sync::State::new();
        }
        Ok(())
    }

    /// Sends each subscriber in `audience` what it is missing, and drops subscribers the
    /// document's kind no longer lets read it.
    fn fan_out(&self, doc_id: DocumentId, d: &mut LoadedDoc, audience: Audience) {
        let LoadedDoc {
            doc,
            subs,
            info,
            batch,
            ..
        } = d;
        // Memory holds undurable changes while a batch is pending: say nothing now, the
        // batch's commit answers every subscriber.
        let silent = !matches!(batch, Batch::Idle);
        if audience == (Audience::Everyone { changed: true }) {
            // Nobody listening is fine: no dashboard may be open.
            let _ = self.events.send(HubEvent::Changed {
                production_id: info.production_id.clone(),
                doc_id,
                kind: info.kind.clone(),
            });
        }
        let mut lost = Vec::new();
        // generate_sync_message is a function of (document, sync state): subscribers in
        // the same state (after a change, nearly all of them) get the same message and end
        // in the same state, so compute it once per distinct state, not once per subscriber.
        let mut memo: Option<(sync::State, sync::State, Option<Vec<u8>>)> = None;
        // Answering one sender is an O(1) lookup, not a walk over every subscriber for
        // each acknowledgement.
        let targets: Vec<ConnId> = match audience {
            Audience::Sender(s) => vec![s],
            Audience::Everyone { .. } | Audience::Nobody => subs.keys().copied().collect(),
        };
        for id in &targets {
            let Some(sub) = subs.get_mut(id) else {
                continue;
            };
            if !info
                .kind
                .may_read(sub.principal.role, &sub.principal.member_id)
            {
                // The index re-kinded the document out of this member's reach.
                lost.push(*id);
                continue;
            }
            if silent || audience == Audience::Nobody {
                continue;
            }
            if std::mem::take(&mut sub.owed_answer) {
                // Forget what automerge assumed the peer knows, so it tells our heads.
                sub.state.last_sent_heads.clear();
            }
            let data = match &memo {
                Some((before, after, data)) if *before == sub.state => {
                    sub.state = after.clone();
                    data.clone()
                }
                _ => {
                    let before = sub.state.clone();
                    let data = doc
                        .generate_sync_message(&mut sub.state)
                        .map(|m| m.encode());
                    memo = Some((before, sub.state.clone(), data.clone()));
                    data
                }
            };
            if let Some(data) = data {
                let msg = Message::Sync {
                    sender_id: self.peer_id.clone(),
                    target_id: sub.peer_id.clone(),
                    document_id: doc_id,
                    data,
                };
                self.send(&sub.tx, *id, &msg);
            }
        }
        for id in lost {
            if let Some(sub) = subs.remove(&id) {
                self.metrics.refuse(Refusal::Unavailable);
                let msg = Message::DocUnavailable {
                    sender_id: self.peer_id.clone(),
                    target_id: sub.peer_id.clone(),
                    document_id: doc_id,
                };
                self.send(&sub.tx, id, &msg);
            }
        }
    }

    async fn on_ephemeral(&self, conn: &mut Connection, peer: &str, e: Ephemeral) {
        let doc_id = e.document_id;
        // A document this peer's storage synced in an earlier session and that has not
        // changed since is only watched (push on connect), so a second session on the same
        // device database may talk about it before syncing it: its first ephemeral message
        // loads it and subscribes the connection, after the read check a sync makes.
        let watched = conn.watching.contains(&doc_id) && !conn.docs.contains(&doc_id);
        let slot = if watched {
            let p = conn.principal.clone();
            match self.open(doc_id, Some(&p), false).await {
                Ok(Opened::Doc(s)) => Some(s),
                _ => None,
            }
        } else {
            lock(&self.docs).get(&doc_id).cloned()
        };
        let mut st = match &slot {
            Some(s) => Some(s.state.lock().await),
            None => None,
        };
        let Some(SlotState::Loaded(d)) = st.as_deref_mut() else {
            return self.unavailable_to(conn, peer, doc_id);
        };
        if watched
            && d.info.production_id == conn.principal.production_id
            && d.info
                .kind
                .may_read(conn.principal.role, &conn.principal.member_id)
        {
            self.subscribe(conn, peer, doc_id, d).await;
            if let Some(w) = lock(&self.watchers).get_mut(&doc_id) {
                w.remove(&conn.id);
            }
        }
        if !d.subs.contains_key(&conn.id) {
            // Only peers that synced the document (and so passed its read check) may
            // talk about it; anything else learns nothing, not even that it exists.
            drop(st);
            return self.unavailable_to(conn, peer, doc_id);
        }
        // A copy another client re-broadcast, or one more than its member may send.
        if !d.relayed.first_time(&e.sender_id, &e.session_id, e.count) {
            Metrics::inc(&self.metrics.ephemeral_duplicates);
            return;
        }
        if !self.ephemeral_rate.allow(&conn.principal.member_id) {
            Metrics::inc(&self.metrics.ephemeral_over_rate);
            return;
        }
        let _ = self.events.send(HubEvent::Ephemeral {
            production_id: d.info.production_id.clone(),
            doc_id,
            member_id: conn.principal.member_id.clone(),
            data: e.data.clone(),
        });
        for (id, sub) in &d.subs {
            // Not back to where it came from, nor to its creator's own connection when it
            // came through someone else.
            if *id == conn.id || sub.peer_id == e.sender_id {
                continue;
            }
            // Sender, session and count stay the creator's, so every receiver
            // deduplicates the message the same way.
            let msg = Message::Ephemeral {
                sender_id: e.sender_id.clone(),
                target_id: sub.peer_id.clone(),
                count: e.count,
                session_id: e.session_id.clone(),
                document_id: doc_id,
                data: e.data.clone(),
            };
            self.send(&sub.tx, *id, &msg);
            Metrics::inc(&self.metrics.ephemeral_relayed);
        }
    }

    /// Registers what a production doc's index lists and updates loaded documents' kinds.
    async fn apply_index(
        &self,
        production_doc: DocumentId,
        production: String,
        index: Result<Vec<(DocumentId, DocKind)>, String>,
    ) {
        let entries = match index {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(doc = %production_doc, error = %e, "production doc index unreadable");
                return;
            }
        };
        // The production doc itself stays a production doc whatever its index says.
        let entries: Vec<_> = entries
            .into_iter()
            .filter(|(id, _)| *id != production_doc)
            .collect();
        match self.storage.register_documents(production, entries).await {
            Ok(out) => {
                for refused in &out.refused {
                    tracing::warn!(doc = %refused, production_doc = %production_doc, "index lists another production's document; ignored");
                }
                for (id, kind) in out.changed {
                    let slot = lock(&self.docs).get(&id).cloned();
                    if let Some(slot) = slot {
                        let mut st = slot.state.lock().await;
                        if let SlotState::Loaded(d) = &mut *st {
                            d.info.kind = kind;
                            // Drops subscribers the new kind excludes.
                            self.fan_out(id, d, Audience::Nobody);
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot register indexed documents"),
        }
    }

    /// Makes a change on the relay's own behalf (adding a member at redeem time, seeding),
    /// durably, then fans it out like a peer's change.
    pub async fn change<T>(
        &self,
        doc_id: DocumentId,
        f: impl FnOnce(&mut Automerge) -> Result<T, String>,
    ) -> Result<T, HubError> {
        let slot = match self.open(doc_id, None, false).await? {
            Opened::Doc(s) => s,
            Opened::Unavailable => return Err(HubError::Unavailable(doc_id)),
        };
        // Nothing pending, so this change is stored alone and memory stays what is stored.
        let mut st = lock_unless(&slot, |b| !matches!(b, Batch::Idle)).await;
        let SlotState::Loaded(d) = &mut *st else {
            return Err(HubError::Unavailable(doc_id));
        };
        let before = d.doc.get_heads();
        let out = f(&mut d.doc).map_err(HubError::Rejected)?;
        if d.doc.get_heads() != before {
            if let Err(e) = self.persist(doc_id, d).await {
                let _ = self.reload(doc_id, d).await;
                return Err(e.into());
            }
            self.promote_watchers(doc_id, d).await;
            self.fan_out(doc_id, d, Audience::Everyone { changed: true });
            self.maybe_compact(doc_id, d).await;
        }
        let index = (d.info.kind == DocKind::Production)
            .then(|| (d.info.production_id.clone(), read_index(&d.doc)));
        drop(st);
        if let Some((production, index)) = index {
            self.apply_index(doc_id, production, index).await;
        }
        Ok(out)
    }

    /// Reads a document (loading it if needed) without subscribing.
    pub async fn read<T>(
        &self,
        doc_id: DocumentId,
        f: impl FnOnce(&Automerge) -> T,
    ) -> Result<T, HubError> {
        let slot = match self.open(doc_id, None, false).await? {
            Opened::Doc(s) => s,
            Opened::Unavailable => return Err(HubError::Unavailable(doc_id)),
        };
        let st = slot.state.lock().await;
        match &*st {
            SlotState::Loaded(d) => Ok(f(&d.doc)),
            _ => Err(HubError::Unavailable(doc_id)),
        }
    }

    /// Stores a brand-new document the relay made (a member's own doc at redeem time).
    pub async fn create_document(
        &self,
        doc_id: DocumentId,
        info: DocInfo,
        doc: &Automerge,
    ) -> Result<(), HubError> {
        let out = self
            .storage
            .register_documents(info.production_id.clone(), vec![(doc_id, info.kind)])
            .await?;
        if !out.refused.is_empty() {
            return Err(HubError::Rejected(format!(
                "document {doc_id} already belongs to another production"
            )));
        }
        self.storage
            .append_chunk(doc_id, doc.save(), doc.get_heads())
            .await?;
        Ok(())
    }

    /// Drops documents nobody has subscribed to for `idle_evict`. Returns how many.
    pub fn evict_idle(&self) -> usize {
        self.ephemeral_rate.forget_idle();
        let now = Instant::now();
        let mut docs = lock(&self.docs);
        let before = docs.len();
        docs.retain(|_, slot| {
            let Ok(mut st) = slot.state.try_lock() else {
                return true;
            };
            match &*st {
                SlotState::Loaded(d)
                    if d.subs.is_empty()
                        && matches!(d.batch, Batch::Idle)
                        && now.duration_since(d.idle_since) >= self.config.idle_evict =>
                {
                    *st = SlotState::Evicted;
                    false
                }
                _ => true,
            }
        });
        let n = before - docs.len();
        Metrics::add(&self.metrics.docs_evicted_total, n as u64);
        n
    }

    /// Persists every subscriber's sync state and waits for storage to be flushed.
    pub async fn flush(&self) -> Result<(), StorageError> {
        let slots: Vec<(DocumentId, Arc<DocSlot>)> = lock(&self.docs)
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let mut states = Vec::new();
        for (id, slot) in slots {
            // Pending batches commit first: what peers were answered for is then on disk.
            let st = lock_unless(&slot, |b| !matches!(b, Batch::Idle)).await;
            if let SlotState::Loaded(d) = &*st {
                for sub in d.subs.values() {
                    if let Some(sid) = &sub.storage_id {
                        states.push((id, sid.clone(), sub.state.encode()));
                    }
                }
            }
        }
        if !states.is_empty() {
            self.storage.save_sync_states(states).await?;
        }
        self.storage.flush().await
    }
}

/// Locks a document once its batch is not in a state `busy` refuses (waiting for commits
/// to settle). Evicted or unloaded slots are returned as they are.
async fn lock_unless(
    slot: &DocSlot,
    busy: impl Fn(&Batch) -> bool,
) -> tokio::sync::MutexGuard<'_, SlotState> {
    loop {
        let st = slot.state.lock().await;
        let settled = match &*st {
            SlotState::Loaded(d) if busy(&d.batch) => d.settled.clone(),
            _ => return st,
        };
        let notified = settled.notified();
        tokio::pin!(notified);
        // Registered before the lock is released, so a commit finishing in between still
        // wakes us.
        notified.as_mut().enable();
        drop(st);
        notified.await;
    }
}

fn read_index(doc: &Automerge) -> Result<Vec<(DocumentId, DocKind)>, String> {
    crate::production_doc::read_index(doc)
}

/// Validates every chunk of a sync message before any of it is applied: automerge skips
/// unparseable chunks with only a log line, and a peer must hear that its data was bad.
/// An entry of `changes` may hold several chunks back to back.
fn check_chunks(msg: &sync::Message) -> Result<(), String> {
    // automerge 0.12 panics on some crafted chunks (found by fuzzing the cost guard); a
    // peer's bytes must get an error, never take down the task that reads them.
    std::panic::catch_unwind(|| check_chunks_unguarded(msg))
        .unwrap_or_else(|_| Err("automerge could not parse a chunk".into()))
}

fn check_chunks_unguarded(msg: &sync::Message) -> Result<(), String> {
    for (i, entry) in msg.changes.iter().enumerate() {
        let mut rest = entry;
        if rest.is_empty() {
            return Err(format!("entry {i} is empty"));
        }
        while !rest.is_empty() {
            let len =
                chunk_len(rest).ok_or_else(|| format!("entry {i}: truncated chunk header"))?;
            let (chunk, tail) = rest.split_at_checked(len).ok_or_else(|| {
                format!(
                    "entry {i}: chunk claims {len} bytes, only {} left",
                    rest.len()
                )
            })?;
            match chunk.get(8) {
                Some(1) | Some(2) => {
                    automerge::Change::try_from(chunk)
                        .map_err(|e| format!("entry {i}: change does not parse: {e}"))?;
                }
                Some(0) | Some(3) => {
                    Automerge::load(chunk)
                        .map_err(|e| format!("entry {i}: document chunk does not load: {e}"))?;
                }
                Some(t) => return Err(format!("entry {i}: unknown chunk type {t}")),
                None => return Err(format!("entry {i}: truncated chunk")),
            }
            rest = tail;
        }
    }
    Ok(())
}

/// Checks the cost of every entry of a sync message, and of all of them together: the
/// limits bound what one message may make the relay inflate and apply.
fn message_cost(msg: &sync::Message, limits: &CostLimits) -> Result<(), CostError> {
    let mut left = *limits;
    for entry in msg.changes.iter() {
        let cost = check_chunks_cost(entry, &left)?;
        left.max_decompressed_bytes -= cost.decompressed_bytes.min(left.max_decompressed_bytes);
        left.max_ops -= cost.ops.min(left.max_ops);
    }
    Ok(())
}

/// Total length of the chunk at the start of `b`: magic (4), checksum (4), type (1), a
/// LEB128 body length, then the body.
fn chunk_len(b: &[u8]) -> Option<usize> {
    if b.get(..4)? != [0x85, 0x6f, 0x4a, 0x83] {
        return None;
    }
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut pos = 9;
    loop {
        let byte = *b.get(pos)?;
        pos += 1;
        len |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    usize::try_from(len).ok()?.checked_add(pos)
}

fn kind_label(kind: &DocKind) -> &'static str {
    match kind {
        DocKind::Production => "production",
        DocKind::Board { .. } => "board (runs and tasks)",
        DocKind::CallSheetDraft { .. } => "call sheet draft",
        DocKind::CallSheetPublished { .. } => "published call sheet",
        DocKind::Member { .. } => "another member's",
        DocKind::Shared => "shared",
    }
}

/// Who [`Hub::fan_out`] generates sync messages for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Audience {
    /// Every subscriber; `changed` also tells in-process watchers the document changed.
    Everyone { changed: bool },
    /// The connection whose message is being answered.
    Sender(ConnId),
    /// Nobody: only drop subscribers who may no longer read the document.
    Nobody,
}

/// WebSocket close reasons must fit in a control frame (123 bytes).
pub fn truncate_reason(s: &str) -> String {
    if s.len() <= 120 {
        return s.to_owned();
    }
    let mut end = 120;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{AccountsStore, DocStore, Production, SqliteStorage};
    use automerge::transaction::Transactable;
    use automerge::ReadDoc;
    use setlink_core::Role;

    fn message_with(changes: Vec<Vec<u8>>) -> sync::Message {
        sync::Message {
            heads: vec![],
            need: vec![],
            have: vec![],
            changes: sync::ChunkList::from(changes),
            flags: None,
            version: sync::MessageVersion::V1,
        }
    }

    fn two_changes() -> (Vec<u8>, Vec<u8>, Automerge) {
        let mut doc = Automerge::new();
        let mut out = Vec::new();
        for i in 0..2 {
            let mut tx = doc.transaction();
            tx.put(automerge::ROOT, "k", i).unwrap();
            tx.commit();
            out.push(doc.get_last_local_change().unwrap().raw_bytes().to_vec());
        }
        (out[0].clone(), out[1].clone(), doc)
    }

    /// A device on core's engine, wired straight to a hub connection.
    struct Device {
        engine: engine::Connection,
        conn: Connection,
        rx: OutboundRx,
        doc: Automerge,
        state: sync::State,
        errors: Vec<String>,
        /// Frames handed to the hub.
        sent: usize,
    }

    impl Device {
        async fn connect(hub: &Hub, name: &str) -> Device {
            let (conn, rx, _kill) = hub.connect(Principal {
                member_id: format!("member-{name}"),
                production_id: "p1".into(),
                name: name.into(),
                role: Role::Coordinator,
                device_id: name.into(),
                token_hash: format!("token-{name}"),
                token_expires_at_ms: i64::MAX,
            });
            let engine = engine::Connection::new(ConnectionConfig::new(
                name.to_owned(),
                Side::Initiator,
                wire::PeerMetadata {
                    storage_id: Some(format!("{name}-storage")),
                    is_ephemeral: Some(false),
                    pushes_changes: None,
                },
                format!("{name}-session"),
            ));
            let mut d = Device {
                engine,
                conn,
                rx,
                doc: Automerge::new(),
                state: sync::State::new(),
                errors: Vec::new(),
                sent: 0,
            };
            d.send(hub).await;
            d.receive(hub).await;
            assert!(d.engine.is_connected());
            d
        }

        /// Hands what the device queued to the hub.
        async fn send(&mut self, hub: &Hub) {
            while let Some(f) = self.engine.poll_transmit() {
                self.sent += 1;
                assert_eq!(hub.handle_frame(&mut self.conn, &f).await, Flow::Continue);
            }
        }

        /// Exchanges messages with the hub until it has nothing more to say (commits run
        /// on their own tasks, so this waits a moment for each answer).
        async fn settle(&mut self, hub: &Hub) {
            while let Ok(Some(out)) =
                tokio::time::timeout(Duration::from_millis(500), self.rx.recv()).await
            {
                self.apply(hub, out).await;
            }
        }

        /// Takes one frame from the hub and applies it.
        async fn receive(&mut self, hub: &Hub) {
            let out = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                .await
                .expect("the hub answers")
                .expect("connection open");
            self.apply(hub, out).await;
        }

        async fn apply(&mut self, hub: &Hub, out: Outbound) {
            let Outbound::Frame(f) = out else {
                panic!("unexpected {out:?}")
            };
            if let Err(e) = self.engine.handle_frame(&f) {
                self.errors.push(e.to_string());
            }
            while let Some(ev) = self.engine.poll_event() {
                match ev {
                    Event::Sync {
                        document_id,
                        message,
                        ..
                    } => {
                        self.engine
                            .receive_with(document_id, &mut self.doc, &mut self.state, message)
                            .unwrap();
                    }
                    Event::Ephemeral(e) => {
                        if let Some(n) = notice::decode(&e.data) {
                            self.errors
                                .push(format!("refused ({}): {}", n.rule, n.message));
                        }
                    }
                    _ => {}
                }
            }
            self.send(hub).await;
        }

        async fn put(&mut self, hub: &Hub, doc_id: DocumentId, value: &str) {
            let mut tx = self.doc.transaction();
            tx.put(automerge::ROOT, "k", value).unwrap();
            tx.commit();
            self.engine
                .sync_with(doc_id, &self.doc, &mut self.state)
                .unwrap();
            self.send(hub).await;
        }
    }

    fn value(doc: &Automerge) -> Option<String> {
        doc.get(automerge::ROOT, "k")
            .unwrap()
            .and_then(|(v, _)| v.into_string().ok())
    }

    /// A relay on a fresh SQLite store, with production `p1` and one shared document.
    async fn hub_with_shared_doc() -> (tempfile::TempDir, Arc<SqliteStorage>, Arc<Hub>, DocumentId)
    {
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(SqliteStorage::open(dir.path()).unwrap());
        storage
            .create_production(Production {
                id: "p1".into(),
                title: "Test".into(),
                production_doc: DocumentId::random(),
                created_at_ms: 0,
            })
            .await
            .unwrap();
        let doc_id = DocumentId::random();
        storage
            .register_documents("p1".into(), vec![(doc_id, DocKind::Shared)])
            .await
            .unwrap();
        let hub = Hub::new(
            storage.clone(),
            Arc::new(Metrics::default()),
            HubConfig::default(),
        )
        .await
        .unwrap();
        (dir, storage, hub, doc_id)
    }

    #[tokio::test]
    async fn a_failed_commit_is_refused_to_its_writer_and_leaves_nothing_behind() {
        let (_dir, storage, hub, doc_id) = hub_with_shared_doc().await;

        let mut a = Device::connect(&hub, "a").await;
        a.put(&hub, doc_id, "stored").await;
        a.settle(&hub).await;
        assert_eq!(storage.load_chunks(doc_id).await.unwrap().len(), 1);

        storage
            .execute_for_test(
                "CREATE TEMP TRIGGER fail_appends BEFORE INSERT ON doc_chunks
                 BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
            )
            .await
            .unwrap();
        let sent_before = a.sent;
        a.put(&hub, doc_id, "lost").await;
        a.settle(&hub).await;
        assert_eq!(
            a.errors
                .iter()
                .filter(|e| e.contains("refused (storage)")
                    && e.contains("could not store the change")
                    && e.contains("disk full"))
                .count(),
            1,
            "the writer is told once: {:?}",
            a.errors
        );
        // ... and not asked for the change again: one sync message carried it, and the
        // exchange ended there (a stock client would otherwise resend it for ever).
        assert_eq!(a.sent - sent_before, 1);
        assert_eq!(storage.load_chunks(doc_id).await.unwrap().len(), 1);
        // Memory was rebuilt from storage: nobody will be answered with the lost change.
        let relay_value = hub.read(doc_id, value).await.unwrap();
        assert_eq!(relay_value.as_deref(), Some("stored"));

        storage
            .execute_for_test("DROP TRIGGER fail_appends;")
            .await
            .unwrap();
        // The relay keeps serving: another device gets what was stored.
        let mut b = Device::connect(&hub, "b").await;
        // An empty document goes out as a `request`.
        b.engine.sync_with(doc_id, &b.doc, &mut b.state).unwrap();
        b.send(&hub).await;
        b.settle(&hub).await;
        assert_eq!(value(&b.doc).as_deref(), Some("stored"));
        assert!(b.errors.is_empty(), "{:?}", b.errors);
    }

    #[tokio::test]
    async fn a_writer_hears_the_relay_heads_even_when_it_caught_up_before_the_commit() {
        let (_dir, _storage, hub, doc_id) = hub_with_shared_doc().await;
        let mut a = Device::connect(&hub, "a").await;
        a.put(&hub, doc_id, "first").await;
        a.settle(&hub).await;
        // A change, then at once a second message whose heads already equal what the
        // relay holds in memory (on phones: the device caught up on other changes in
        // between). The relay answers neither until the batch is durable.
        a.put(&hub, doc_id, "second").await;
        a.state.last_sent_heads.clear();
        a.engine.sync_with(doc_id, &a.doc, &mut a.state).unwrap();
        a.send(&hub).await;
        a.settle(&hub).await;
        // What a device's "in sync" rests on: it has heard the relay hold its heads.
        assert_eq!(a.state.their_heads, Some(a.doc.get_heads()));
        assert_eq!(
            hub.read(doc_id, |d| d.get_heads()).await.unwrap(),
            a.doc.get_heads()
        );
    }

    #[tokio::test]
    async fn concurrent_writers_share_commits_and_all_converge() {
        let (_dir, storage, hub, doc_id) = hub_with_shared_doc().await;
        let mut devices = Vec::new();
        for name in ["a", "b", "c"] {
            let mut d = Device::connect(&hub, name).await;
            d.engine.sync_with(doc_id, &d.doc, &mut d.state).unwrap();
            d.send(&hub).await;
            d.settle(&hub).await;
            devices.push(d);
        }
        let chunks_before = storage.load_chunks(doc_id).await.unwrap().len();
        // Every device edits five times before reading anything back.
        for round in 0..5 {
            for (i, d) in devices.iter_mut().enumerate() {
                let mut tx = d.doc.transaction();
                tx.put(automerge::ROOT, format!("d{i}-{round}"), round as i64)
                    .unwrap();
                tx.commit();
                d.engine.sync_with(doc_id, &d.doc, &mut d.state).unwrap();
                d.send(&hub).await;
            }
        }
        for _ in 0..3 {
            for d in devices.iter_mut() {
                d.settle(&hub).await;
            }
        }
        let relay_heads = hub.read(doc_id, |d| d.get_heads()).await.unwrap();
        for d in &devices {
            assert_eq!(d.doc.get_heads(), relay_heads);
            assert_eq!(d.doc.keys(automerge::ROOT).count(), 15);
            assert!(d.errors.is_empty(), "{:?}", d.errors);
        }
        let stored = storage.load_chunks(doc_id).await.unwrap();
        let mut reloaded = Automerge::new();
        for c in &stored {
            reloaded.load_incremental(&c.data).unwrap();
        }
        assert_eq!(
            reloaded.get_heads(),
            relay_heads,
            "everything answered is stored"
        );
        let commits = stored.len() - chunks_before;
        assert!(
            commits < 15,
            "15 changes from 3 writers took {commits} commits; writers should share them"
        );
    }

    #[test]
    fn chunk_validation_accepts_changes_documents_and_concatenations() {
        let (a, b, doc) = two_changes();
        assert!(check_chunks(&message_with(vec![a.clone(), b.clone()])).is_ok());
        let mut both = a.clone();
        both.extend_from_slice(&b);
        assert!(check_chunks(&message_with(vec![both])).is_ok());
        assert!(check_chunks(&message_with(vec![doc.save()])).is_ok());
        assert!(check_chunks(&message_with(vec![])).is_ok());
    }

    #[test]
    fn chunk_validation_rejects_garbage_truncation_and_bit_flips() {
        let (a, _, _) = two_changes();
        for bad in [
            vec![],
            b"not automerge at all".to_vec(),
            a[..a.len() - 3].to_vec(),
            {
                let mut x = a.clone();
                let n = x.len();
                x[n - 1] ^= 0xff;
                x
            },
            {
                let mut x = a.clone();
                x.extend_from_slice(&[0x85, 0x6f]);
                x
            },
        ] {
            assert!(
                check_chunks(&message_with(vec![bad.clone()])).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn chunk_len_reads_the_header_and_refuses_nonsense() {
        let (a, _, _) = two_changes();
        assert_eq!(chunk_len(&a), Some(a.len()));
        assert_eq!(chunk_len(&a[..5]), None);
        assert_eq!(chunk_len(b"xxxxxxxxxxxx"), None);
        let mut huge = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1];
        huge.extend_from_slice(&[0xff; 12]);
        assert_eq!(chunk_len(&huge), None);
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        let long = "é".repeat(200);
        let r = truncate_reason(&long);
        assert!(r.len() <= 120 && long.starts_with(&r));
        assert_eq!(truncate_reason("short"), "short");
    }
}
