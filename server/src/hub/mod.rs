//! The sync hub: loaded documents, who is subscribed to each, and the automerge-repo
//! message handling for every connection. Built like core's `sync::engine`: each loaded
//! document is a sans-IO actor (inputs in, effects out) under a thin async shell.
//!
//! # Modules, one job each
//! - `mod.rs` (this file): the [`Hub`] facade the rest of the server calls, and the
//!   per-connection flows (a frame in: handshake, sync, ephemeral, push on connect).
//!
//! Every frame the hub sends comes from core's `sync::engine`: a connection's own
//! `engine::Connection` for answers inside its task, and the `engine::Addressee` each
//! subscriber holds for what a document's actor sends it from elsewhere (a fan-out).
//! - [`doc_actor`]: one loaded document's owner: the document, its pending batch, its
//!   subscribers and their sync states. Pure: no tokio, no storage, no sockets.
//! - [`shell`]: runs the actors' effects: sends, storage awaits (commit, compaction, the
//!   cross-relay catch-up), loading documents; feeds completions back as inputs.
//! - [`admission`]: the write-rules checkpoint, the one place a message is judged.
//! - [`registry`]: open connections by id, member and token.
//! - [`push`]: push-on-connect watchers.
//! - [`chunks`]: Automerge's chunk header, validation and cost.
//! - [`compaction`]: the compaction policy and chunk bookkeeping.
//!
//! # Locks, and why no lock is held across an await
//! A loaded document is a `DocCell`: its actor under a std mutex, touched only inside
//! synchronous sections (an input, then its sends, which are non-blocking queue pushes so
//! frames to one connection keep the order the actor made them in). Every storage await
//! runs with the mutex released; its completion is fed back as a new input. A writer that
//! must wait (a commit is running) waits on the cell's `settled` notification, not on a
//! lock. So a slow disk never blocks readers of the document, and the tokio runtime never
//! parks a task holding the document. The `docs` map, the registry and the watchers are
//! std mutexes over maps, never held across an await; lock order is docs map → actor →
//! registry, and no code holds two actors at once.
//!
//! Invariants (see ARCHITECTURE.md, and the tests named there):
//! - Each loaded document owns its subscriber set; fan-out walks one document's
//!   subscribers, never all connections.
//! - Durable before visible: a change is appended to storage (and the append has
//!   returned) before any peer, including its sender, is sent a sync message that
//!   reflects it. Changes are applied in memory first and committed in batches per
//!   document; while a batch is pending no sync message for that document is generated,
//!   and the batch's commit ends with one fan-out to every subscriber.
//! - Permission, cost and chunk validity are checked per message ([`admission`]) before
//!   anything is applied; the write rules apply it or refuse it whole.
//! - Documents with no subscribers for `idle_evict` are dropped from memory.

mod admission;
mod chunks;
mod compaction;
pub(crate) mod doc_actor;
mod push;
mod registry;
mod shell;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automerge::sync;
use automerge::{Automerge, ChangeHash};
use setlink_core::rules::cost::CostLimits;
use setlink_core::sync::engine::{
    self, Addressee, ConnectionConfig, EngineError, Ephemeral, Event, Side,
};
use setlink_core::sync::wire;
use setlink_core::{DocKind, DocumentId};
use tokio::sync::watch;

use self::admission::{Denial, Foreign};
use self::doc_actor::{DocActor, Relayed, Subscriber};
use self::push::{Watcher, Watchers};
use self::registry::Registry;
use crate::auth::Principal;
use crate::ephemeral;
use crate::metrics::{Metrics, Refusal};
pub use crate::outbound::Outbound;
use crate::outbound::{self, OutboundRx, OutboundTx};
use crate::storage::{DocInfo, Presence, Storage, StorageError};

pub type ConnId = u64;

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
    /// An email of the production's outbox was sent, retried or given up on (`mail`).
    Mail { production_id: String },
}

/// One loaded document: its actor, and the notification writers wait on while a commit
/// runs. See the module docs for why the actor sits under a std mutex.
pub(crate) struct DocCell {
    actor: Mutex<DocActor>,
    settled: tokio::sync::Notify,
    /// A task is waiting for storage to work again (see `Hub::spawn_storage_watch`).
    storage_watch: std::sync::atomic::AtomicBool,
}

/// A document's place in the map: loaded once, by whichever task asks first (the others
/// wait for that load instead of loading it again).
type Slot = Arc<tokio::sync::OnceCell<Arc<DocCell>>>;

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
    docs: Mutex<HashMap<DocumentId, Slot>>,
    registry: Registry,
    watchers: Watchers,
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
    /// Frames for the peer from outside its engine, once it joined.
    to: Option<Addressee>,
    storage_id: Option<String>,
    /// The peer acknowledges our messages with changes by silence (`setlinkImpliedAcks`).
    implied_acks: bool,
    docs: HashSet<DocumentId>,
    watching: Vec<DocumentId>,
}

impl Connection {
    /// The queue towards this connection's socket.
    pub fn outbound(&self) -> OutboundTx {
        self.tx.clone()
    }

    /// Queues an automerge-repo `error` message to this peer, which ends the protocol
    /// session: the caller closes the connection after it.
    pub fn send_error(&mut self, hub: &Hub, message: String) {
        self.engine.fail(message);
        hub.flush_engine(self);
    }
}

/// What the socket task should do after a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close(CloseReason),
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these cannot leave a map half-updated (every critical
    // section is a single insert/remove), and an actor's inputs leave it consistent at
    // every step that can panic (automerge's own calls), so a poisoned lock is usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What one attempt at handling a sync message came to (see [`Hub::on_sync`]).
enum SyncStep {
    Done,
    Denied(Denial),
    /// A commit is running and the message carries changes: wait for it.
    Wait(sync::Message),
    /// The document was evicted meanwhile: look it up again.
    Reopen(sync::Message),
    /// Not subscribed yet: load the persisted sync state first (outside the lock).
    NeedState(sync::Message),
    /// The write rules need the registry's answer about these documents.
    Resolve(Vec<DocumentId>, sync::Message),
}

/// What one attempt at the relay's own change came to (see [`Hub::change`]).
enum Local<T> {
    Wait,
    Reopen,
    Ran(Result<(T, bool), String>),
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
            registry: Registry::default(),
            watchers: Watchers::default(),
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

    /// Tells watchers an outbox email of the production changed state.
    pub fn mail_changed(&self, production_id: String) {
        // Nobody listening is fine: no dashboard may be open.
        let _ = self.events.send(HubEvent::Mail { production_id });
    }

    pub fn loaded_documents(&self) -> usize {
        lock(&self.docs).len()
    }

    pub fn connection_count(&self) -> usize {
        self.registry.count()
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
        self.registry.insert(
            id,
            &principal.member_id,
            &principal.token_hash,
            tx.clone(),
            kill,
        );
        self.metrics.connections_open.inc();
        Metrics::inc(&self.metrics.connections_total);
        let mut cfg = ConnectionConfig::new(
            self.peer_id.clone(),
            Side::Acceptor,
            wire::PeerMetadata {
                storage_id: Some(self.storage_id.clone()),
                is_ephemeral: Some(false),
                pushes_changes: Some(true),
                implied_acks: Some(true),
            },
            format!("{}-{id}", self.peer_id),
        );
        cfg.max_frame_bytes = self.config.max_frame_bytes;
        (
            Connection {
                id,
                principal: Arc::new(principal),
                engine: engine::Connection::new(cfg),
                tx,
                to: None,
                storage_id: None,
                implied_acks: false,
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
        // First: a watcher promoted from now on is dropped (see `Hub::still_connected`).
        self.registry.remove(conn.id);
        for doc_id in &conn.watching {
            self.watchers.unwatch(*doc_id, conn.id);
        }
        let now = Instant::now();
        let mut states = Vec::new();
        for doc_id in conn.docs.iter().chain(conn.watching.iter()) {
            let Some(cell) = self.loaded(*doc_id) else {
                continue;
            };
            let state = lock(&cell.actor).unsubscribe(conn.id, now);
            if let Some((sid, state)) = state {
                states.push((*doc_id, sid, state));
            }
        }
        if !states.is_empty() {
            if let Err(e) = self.storage.save_sync_states(states).await {
                tracing::warn!(error = %e, "could not save sync states on disconnect");
            }
        }
        self.metrics.connections_open.dec();
    }

    /// Ends every connection of a member at once (revocation). Returns how many.
    pub fn kick_member(&self, member_id: &str, reason: &str) -> usize {
        self.registry.kick_member(
            member_id,
            CloseReason {
                code: close::UNAUTHORIZED,
                reason: reason.to_owned(),
            },
        )
    }

    /// Ends the connections using one token.
    pub fn kick_token(&self, token_hash: &str, reason: &str) -> usize {
        self.registry.kick_token(
            token_hash,
            CloseReason {
                code: close::UNAUTHORIZED,
                reason: reason.to_owned(),
            },
        )
    }

    /// Asks every connection to close (graceful shutdown).
    pub fn close_all(&self, reason: &str) {
        self.registry.close_all(CloseReason {
            code: close::GOING_AWAY,
            reason: reason.to_owned(),
        });
    }

    /// How many connections `member_id` holds open now.
    pub fn member_connections(&self, member_id: &str) -> usize {
        self.registry.member_connections(member_id)
    }

    /// Member ids with at least one open connection (tests, dashboard presence).
    pub fn connected_members(&self) -> Vec<String> {
        self.registry.members()
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

    async fn drain_engine(&self, conn: &mut Connection) -> Flow {
        while let Some(ev) = conn.engine.poll_event() {
            match ev {
                Event::Connected { metadata, .. } => {
                    conn.storage_id = if metadata.is_ephemeral == Some(true) {
                        None
                    } else {
                        metadata.storage_id.clone()
                    };
                    conn.implied_acks = metadata.implied_acks == Some(true);
                    conn.to = conn.engine.addressee().ok();
                    // The `peer` answer must leave before anything pushed below.
                    self.flush_engine(conn);
                    if let (Some(true), Some(to)) = (metadata.pushes_changes, conn.to.clone()) {
                        self.push_changed(conn, &to).await;
                    }
                }
                Event::Sync {
                    document_id,
                    message,
                    request,
                } => {
                    let Some(to) = conn.to.clone() else {
                        continue;
                    };
                    self.on_sync(conn, &to, document_id, message, request).await;
                }
                Event::Ephemeral(e) => {
                    let Some(to) = conn.to.clone() else {
                        continue;
                    };
                    self.on_ephemeral(conn, &to, e).await;
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

    /// A sync message from a connection: admission, subscription, the write rules, then
    /// the actor (which answers, or forms a batch whose commit answers everyone).
    async fn on_sync(
        &self,
        conn: &mut Connection,
        to: &Addressee,
        doc_id: DocumentId,
        msg: sync::Message,
        is_request: bool,
    ) {
        let p = conn.principal.clone();
        let cell = match self.open(doc_id, Some(&p), !is_request).await {
            Ok(Some(c)) => c,
            Ok(None) => return self.unavailable_to(conn, doc_id),
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
        let (id, sid) = (conn.id, conn.storage_id.clone());
        let mut msg = Some(msg);
        let mut state: Option<Option<sync::State>> = None;
        let mut foreign = Foreign::new();
        loop {
            let notified = cell.settled.notified();
            tokio::pin!(notified);
            // Registered before the check, so a commit settling in between still wakes us.
            notified.as_mut().enable();
            let Some(m) = msg.take() else { return };
            let implied = conn.implied_acks;
            let (step, deferred) = self.with_actor(doc_id, &cell, Some(conn), |a| {
                if a.is_evicted() {
                    return SyncStep::Reopen(m);
                }
                if let Err(d) = admission::admit(&p, a.info(), doc_id, &m, &self.config.cost) {
                    return SyncStep::Denied(d);
                }
                // Changes wait while a commit runs: applying them then would put undurable
                // changes in memory while the commit's fan-out reads it.
                if carries_changes && a.is_committing() {
                    return SyncStep::Wait(m);
                }
                if !a.is_subscribed(id) {
                    match (&sid, state.take()) {
                        (Some(_), None) => return SyncStep::NeedState(m),
                        (_, loaded) => a.subscribe(
                            id,
                            Subscriber::new(
                                to.clone(),
                                sid.clone(),
                                loaded.flatten().unwrap_or_default(),
                                p.clone(),
                            )
                            .with_implied_acks(implied),
                        ),
                    }
                }
                let kind = a.info().kind.clone();
                let retry =
                    (self.config.write_rules && kind == DocKind::Production).then(|| m.clone());
                let unresolved = a.receive(id, m, |doc, st, m| {
                    admission::apply(self.config.write_rules, &p, &kind, &foreign, doc, st, m)
                });
                match (unresolved.is_empty(), retry) {
                    (false, Some(m)) => SyncStep::Resolve(unresolved, m),
                    _ => SyncStep::Done,
                }
            });
            match step {
                SyncStep::Done => {
                    conn.docs.insert(doc_id);
                    self.run_deferred(doc_id, &cell, deferred).await;
                    return;
                }
                SyncStep::Denied(d) => return self.denied(conn, doc_id, d),
                SyncStep::Wait(m) => {
                    msg = Some(m);
                    notified.await;
                }
                SyncStep::Reopen(m) => {
                    return Box::pin(self.on_sync(conn, to, doc_id, m, is_request)).await;
                }
                SyncStep::NeedState(m) => {
                    msg = Some(m);
                    let sid = sid.clone().unwrap_or_default();
                    state = Some(self.load_state(doc_id, &sid, true).await);
                }
                SyncStep::Resolve(ids, m) => {
                    conn.docs.insert(doc_id);
                    msg = Some(m);
                    for d in ids {
                        let is_foreign = match self.storage.document_info(d).await {
                            Ok(info) => info.is_some_and(|i| i.production_id != p.production_id),
                            // Unknown is not foreign, but a registry we cannot read is a
                            // refusal.
                            Err(_) => true,
                        };
                        foreign.insert(d, is_foreign);
                    }
                }
            }
        }
    }

    /// Push on connect (setlink extension, see `sync::engine`): sends a sync message for
    /// every document that changed here since this peer's storage last synced it, and
    /// watches the others so a later change reaches the peer too.
    async fn push_changed(&self, conn: &mut Connection, to: &Addressee) {
        let Some(sid) = conn.storage_id.clone() else {
            return;
        };
        // Before the read: a commit between it and a watch below is noted (see `push`).
        let listing = self.watchers.begin_listing(conn.id);
        let docs = match self.storage.synced_documents(sid.clone()).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list documents to push");
                return;
            }
        };
        let mut pushed = 0;
        for (doc_id, changed) in docs {
            if changed {
                pushed += usize::from(self.push_one(conn, to, &sid, doc_id).await);
                continue;
            }
            let w = Watcher {
                to: to.clone(),
                storage_id: sid.clone(),
                principal: conn.principal.clone(),
                implied_acks: conn.implied_acks,
            };
            self.watchers.watch(doc_id, conn.id, w);
            conn.watching.push(doc_id);
        }
        for doc_id in listing.finish() {
            if conn.watching.contains(&doc_id) && !conn.docs.contains(&doc_id) {
                self.watchers.unwatch(doc_id, conn.id);
                pushed += usize::from(self.push_one(conn, to, &sid, doc_id).await);
            }
        }
        tracing::debug!(
            conn = conn.id,
            pushed,
            watching = conn.watching.len(),
            "push on connect"
        );
    }

    /// Subscribes the connection to a document it may read and sends what it lacks.
    async fn push_one(
        &self,
        conn: &mut Connection,
        to: &Addressee,
        sid: &str,
        doc_id: DocumentId,
    ) -> bool {
        let p = conn.principal.clone();
        let Ok(Some(cell)) = self.open(doc_id, Some(&p), false).await else {
            return false;
        };
        let state = self.load_state(doc_id, sid, true).await;
        let id = conn.id;
        let implied = conn.implied_acks;
        let (ok, deferred) = self.with_actor(doc_id, &cell, Some(conn), |a| {
            if a.is_evicted() || !a.may_read(&p) {
                return false;
            }
            if !a.is_subscribed(id) {
                let sub = Subscriber::new(
                    to.clone(),
                    Some(sid.to_owned()),
                    state.unwrap_or_default(),
                    p.clone(),
                )
                .with_implied_acks(implied);
                a.subscribe(id, sub);
            }
            a.sync_one(id);
            true
        });
        self.run_deferred(doc_id, &cell, deferred).await;
        if ok {
            conn.docs.insert(doc_id);
        }
        ok
    }

    async fn on_ephemeral(&self, conn: &mut Connection, to: &Addressee, e: Ephemeral) {
        let doc_id = e.document_id;
        let p = conn.principal.clone();
        // A document this peer's storage synced in an earlier session and that has not
        // changed since is only watched (push on connect), so a second session on the same
        // device database may talk about it before syncing it: its first ephemeral message
        // loads it and subscribes the connection, after the read check a sync makes.
        let watched = conn.watching.contains(&doc_id) && !conn.docs.contains(&doc_id);
        let cell = if watched {
            match self.open(doc_id, Some(&p), false).await {
                Ok(Some(c)) => Some(c),
                _ => None,
            }
        } else {
            self.loaded(doc_id)
        };
        let Some(cell) = cell else {
            return self.unavailable_to(conn, doc_id);
        };
        let state = match (&conn.storage_id, watched) {
            (Some(sid), true) => self.load_state(doc_id, sid, true).await,
            _ => None,
        };
        let (id, sid) = (conn.id, conn.storage_id.clone());
        let rate = &self.ephemeral_rate;
        let data = e.data.clone();
        let origin = (e.sender_id.clone(), e.session_id.clone(), e.count);
        let implied = conn.implied_acks;
        let ((relayed, subscribed, production), deferred) =
            self.with_actor(doc_id, &cell, Some(conn), |a| {
                if a.is_evicted() {
                    return (Relayed::NotSubscribed, false, String::new());
                }
                let mut subscribed = false;
                if watched && a.may_read(&p) {
                    let sub =
                        Subscriber::new(to.clone(), sid, state.unwrap_or_default(), p.clone())
                            .with_implied_acks(implied);
                    a.subscribe(id, sub);
                    subscribed = true;
                }
                let production = a.info().production_id.clone();
                let relayed = a.ephemeral(id, e, || rate.allow(&p.member_id));
                (relayed, subscribed, production)
            });
        if subscribed {
            self.watchers.unwatch(doc_id, conn.id);
            conn.docs.insert(doc_id);
        }
        match relayed {
            Relayed::NotSubscribed => self.unavailable_to(conn, doc_id),
            Relayed::Duplicate => Metrics::inc(&self.metrics.ephemeral_duplicates),
            Relayed::OverRate => Metrics::inc(&self.metrics.ephemeral_over_rate),
            Relayed::To(n) => {
                let _ = self.events.send(HubEvent::Ephemeral {
                    production_id: production.clone(),
                    doc_id,
                    member_id: p.member_id.clone(),
                    data: data.clone(),
                });
                Metrics::add(&self.metrics.ephemeral_relayed, n as u64);
                // Subscribers on other relays sharing the database hear it too. Presence
                // is best effort: sent in the background, a failure only logged.
                let (sender_id, session_id, count) = origin;
                let presence = Presence {
                    doc: doc_id,
                    production_id: production,
                    member_id: p.member_id.clone(),
                    sender_id,
                    session_id,
                    count,
                    data,
                };
                let storage = self.storage.clone();
                tokio::spawn(async move {
                    if let Err(e) = storage.share_presence(presence).await {
                        tracing::debug!(error = %e, "cannot pass presence to other relays");
                    }
                });
            }
        }
        self.run_deferred(doc_id, &cell, deferred).await;
    }

    /// Another relay relayed `p` (a peer's ephemeral message): this relay's subscribers of
    /// the document and its dashboards hear it too, once, whether or not the document is
    /// loaded here (a dashboard watches a production, not a loaded document).
    pub async fn foreign_presence(&self, p: Presence) {
        let e = Ephemeral {
            document_id: p.doc,
            sender_id: p.sender_id,
            session_id: p.session_id,
            count: p.count,
            data: p.data.clone(),
        };
        if let Some(cell) = self.loaded(p.doc) {
            let (n, deferred) = self.with_actor(p.doc, &cell, None, |a| a.foreign_ephemeral(e));
            self.run_deferred(p.doc, &cell, deferred).await;
            match n {
                Some(n) => Metrics::add(&self.metrics.ephemeral_relayed, n as u64),
                None => return Metrics::inc(&self.metrics.ephemeral_duplicates),
            }
        }
        let _ = self.events.send(HubEvent::Ephemeral {
            production_id: p.production_id,
            doc_id: p.doc,
            member_id: p.member_id,
            data: p.data,
        });
    }

    /// Makes a change on the relay's own behalf (adding a member at redeem time, seeding),
    /// durably, then fans it out like a peer's change.
    pub async fn change<T>(
        &self,
        doc_id: DocumentId,
        f: impl FnOnce(&mut Automerge) -> Result<T, String>,
    ) -> Result<T, HubError> {
        let mut f = Some(f);
        loop {
            let Some(cell) = self.open(doc_id, None, false).await? else {
                return Err(HubError::Unavailable(doc_id));
            };
            loop {
                let notified = cell.settled.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                // Nothing pending, so this change is committed alone (or with writers who
                // join it before its commit starts).
                let (ran, _) = self.with_actor(doc_id, &cell, None, |a| {
                    if a.is_evicted() {
                        return Local::Reopen;
                    }
                    if !a.is_idle() {
                        return Local::Wait;
                    }
                    match f.take() {
                        Some(f) => Local::Ran(a.change(f)),
                        None => Local::Reopen,
                    }
                });
                match ran {
                    Local::Wait => notified.await,
                    Local::Reopen => break,
                    Local::Ran(Err(e)) => return Err(HubError::Rejected(e)),
                    Local::Ran(Ok((out, changed))) => {
                        if changed {
                            self.commit(doc_id, cell.clone()).await?;
                        }
                        return Ok(out);
                    }
                }
            }
            if f.is_none() {
                return Err(HubError::Unavailable(doc_id));
            }
        }
    }

    /// Reads a document (loading it if needed) without subscribing.
    pub async fn read<T>(
        &self,
        doc_id: DocumentId,
        f: impl FnOnce(&Automerge) -> T,
    ) -> Result<T, HubError> {
        loop {
            let Some(cell) = self.open(doc_id, None, false).await? else {
                return Err(HubError::Unavailable(doc_id));
            };
            let a = lock(&cell.actor);
            if !a.is_evicted() {
                return Ok(f(a.doc()));
            }
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
        docs.retain(|_, slot| match slot.get() {
            // Still loading.
            None => true,
            Some(cell) => !lock(&cell.actor).evict_if_idle(now, self.config.idle_evict),
        });
        let n = before - docs.len();
        Metrics::add(&self.metrics.docs_evicted_total, n as u64);
        n
    }

    /// Persists every subscriber's sync state and waits for storage to be flushed.
    pub async fn flush(&self) -> Result<(), StorageError> {
        let cells: Vec<(DocumentId, Arc<DocCell>)> = lock(&self.docs)
            .iter()
            .filter_map(|(k, v)| Some((*k, v.get()?.clone())))
            .collect();
        let mut states = Vec::new();
        for (id, cell) in cells {
            // Pending batches commit first: what peers were answered for is then on disk.
            loop {
                let notified = cell.settled.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let got = {
                    let a = lock(&cell.actor);
                    a.is_idle().then(|| a.sync_states())
                };
                match got {
                    Some(s) => {
                        states.extend(s.into_iter().map(|(sid, st)| (id, sid, st)));
                        break;
                    }
                    None => notified.await,
                }
            }
        }
        if !states.is_empty() {
            self.storage.save_sync_states(states).await?;
        }
        self.storage.flush().await
    }

    /// Another relay sharing this relay's database appended to `doc`, whose heads are now
    /// `heads`. If `doc` is loaded here and lacks some of them, loads the chunks it has not
    /// seen and fans them out to this relay's subscribers exactly as after a local commit
    /// (they are durable already: nothing is appended). If it is not loaded, connections
    /// watching it (push on connect) are woken: the document is loaded and they hear what
    /// changed. Otherwise nothing: the next load reads storage. Empty `heads` (the
    /// notification had no room for them) load whatever the document lacks.
    pub async fn foreign_append(&self, doc: DocumentId, heads: Vec<ChangeHash>) {
        let heads = (!heads.is_empty()).then_some(heads.as_slice());
        self.catch_up_doc(doc, heads).await;
    }

    /// Catches every loaded document up with what other relays appended (after their
    /// notifications may have been missed), as [`Hub::foreign_append`] does for one.
    pub async fn catch_up(&self) {
        let ids: Vec<DocumentId> = lock(&self.docs)
            .iter()
            .filter(|(_, s)| s.get().is_some())
            .map(|(k, _)| *k)
            .collect();
        for id in ids {
            self.catch_up_doc(id, None).await;
        }
    }
}

/// WebSocket close reasons must fit in a control frame (123 bytes).
pub fn truncate_reason(s: &str) -> String {
    let end = (0..=s.len().min(120))
        .rev()
        .find(|&i| s.is_char_boundary(i));
    s[..end.unwrap_or(0)].to_owned()
}
