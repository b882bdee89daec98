//! A sans-IO automerge-repo 2.x protocol engine: one [`Connection`] per link to one remote
//! peer (a WebSocket to the relay, a socket accepted by the relay, a Bluetooth link
//! between two phones). Bytes go in through [`Connection::handle_frame`]; frames to send
//! come out of [`Connection::poll_transmit`] and things the owner must act on come out of
//! [`Connection::poll_event`]. No sockets, no clocks, no tasks: whoever owns the
//! connection moves the bytes, and owns the time (handshake timeouts, keepalive pings,
//! reconnect backoff are the transport's business).
//!
//! # What the engine does not own
//! Documents and their sync states belong to the caller (the device's store, the relay's
//! document cache), because they outlive connections and are persisted with them. The
//! engine hands the caller each received sync message *decoded but not applied*
//! ([`Event::Sync`]), so a relay can refuse a write (`message.changes` non-empty from a
//! member who may only read) before anything touches the document. The caller then
//! either applies it with its own state bookkeeping and passes the reply to
//! [`Connection::send_sync`], or lends the engine a document and a sync state for the
//! call with [`Connection::receive_with`] / [`Connection::sync_with`].
//!
//! # The protocol as automerge-repo 2.5 speaks it
//! - Handshake: the initiator sends `join` (its peer id, metadata with its storage id,
//!   supported versions `["1"]`); the acceptor answers `peer` with the selected version
//!   "1", or `error` "unsupported protocol version" and closes. A `join` without versions
//!   means "1". Until the handshake completes nothing else is accepted.
//! - Per document, per remote peer, the two sides exchange automerge sync messages until
//!   neither has anything to send. A peer that has nothing of a document (no heads) and
//!   does not know whether the other has it sends `request` instead of `sync`; the answer
//!   is either sync messages or `doc-unavailable`
//!   ([`Connection::send_doc_unavailable`]).
//! - `ephemeral` messages carry application data that is never stored (presence); each
//!   sender numbers them per session, and a receiver drops any whose `count` is not
//!   above the last one seen from that (sender, session).
//! - `error` ends the connection: the sender closes after it. Any malformed frame or
//!   protocol violation makes this engine queue an `error` naming the problem and close
//!   ([`EngineError`]); frames of unknown `type` are skipped, as automerge-repo does.
//!
//! # Push on connect (setlink extension)
//! Plain automerge-repo costs every document a round trip on every reconnect, even the
//! ones nobody touched: some 350 bytes each, so a phone with 200 documents pays ~70 KB to
//! learn that 3 changed. A peer that puts `setlinkPushesChanges: true` in its
//! `peerMetadata` (JS peers ignore the key) promises this rule: on connect it sends a sync
//! message for every document whose heads differ from the shared heads it persisted with
//! the other peer's storage id (and for every document it has no persisted state for,
//! when it wants that document synced). When both ends advertise it, each may skip the
//! documents that are unchanged on its side since their last sync: the other end pushes
//! whatever changed there. `client::DeviceLink` follows the rule; a relay that
//! advertises it must too. Both ends must persist sync states durably for this to hold.
//!
//! # Implied acknowledgements (setlink extension)
//! After applying a sync message that carried changes, a peer answers with a message that
//! only says "I now have exactly your heads": on a relay fanning one change out to 1,000
//! phones, half the frames and ~40% of the relay's CPU. A peer that puts
//! `setlinkImpliedAcks: true` in its `peerMetadata` either holds such answers (a device)
//! or takes their absence as the answer (the relay): when both ends advertise it, the
//! receiver of a message with changes holds a reply that has no changes, needs nothing and
//! names exactly that message's heads ([`Connection::holds_acks`]); any other message
//! about the document replaces it (it carries our heads anyway), and the owner sends the
//! held ones when the link goes quiet ([`Connection::release_acks`]). The sender, on
//! sending a message with changes, moves its sync state as that reply would have, but
//! persists only shared heads the peer confirmed by a message it actually sent: a message
//! lost with the connection is then pushed again on reconnect. A reply that is not that
//! bare answer (the peer lacked a dependency, or changed the document meanwhile) is sent
//! as always and corrects the sender's state. Peers that do not advertise it (stock JS
//! clients) acknowledge as always.
//!
//! # Driving it
//! ```
//! use setlink_core::sync::engine::{Connection, ConnectionConfig, Event, Side};
//! use setlink_core::sync::wire::PeerMetadata;
//!
//! let cfg = |id: &str, side| ConnectionConfig::new(id, side, PeerMetadata::default(), "session");
//! let mut phone = Connection::new(cfg("phone", Side::Initiator));
//! let mut relay = Connection::new(cfg("relay", Side::Acceptor));
//! while let Some(f) = phone.poll_transmit() { relay.handle_frame(&f).unwrap(); }
//! while let Some(f) = relay.poll_transmit() { phone.handle_frame(&f).unwrap(); }
//! assert!(phone.is_connected() && relay.is_connected());
//! assert!(matches!(phone.poll_event(), Some(Event::Connected { .. })));
//! ```

use std::collections::{HashMap, VecDeque};

use automerge::sync::{self, SyncDoc};
use automerge::Automerge;
use thiserror::Error;

use super::wire::{
    self, Message, PeerId, PeerMetadata, RemoteHeads, SessionId, StorageId, WireError, PROTOCOL_V1,
};
use crate::ids::DocumentId;

/// Which end of the link this is: the initiator speaks first (`join`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Initiator,
    Acceptor,
}

#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub local_peer_id: PeerId,
    pub side: Side,
    pub local_metadata: PeerMetadata,
    /// Names this connection's outgoing ephemeral messages. Use a fresh random value per
    /// connection: receivers drop counts they have already seen for a session.
    pub ephemeral_session_id: SessionId,
    pub max_frame_bytes: usize,
}

impl ConnectionConfig {
    pub fn new(
        local_peer_id: impl Into<PeerId>,
        side: Side,
        local_metadata: PeerMetadata,
        ephemeral_session_id: impl Into<SessionId>,
    ) -> Self {
        ConnectionConfig {
            local_peer_id: local_peer_id.into(),
            side,
            local_metadata,
            ephemeral_session_id: ephemeral_session_id.into(),
            max_frame_bytes: wire::DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Initiator: `join` sent, waiting for `peer`.
    AwaitingPeer,
    /// Acceptor: waiting for `join`.
    AwaitingJoin,
    Connected,
    /// After an `error` either way or [`Connection::close`]: flush the queued frames, then
    /// drop the transport.
    Closed,
}

/// The remote end, as its handshake described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePeer {
    pub peer_id: PeerId,
    pub metadata: PeerMetadata,
}

impl RemotePeer {
    /// The key to persist sync states with this peer under: its storage id, unless it has
    /// none or keeps nothing (then there is no point persisting).
    pub fn storage_id(&self) -> Option<&StorageId> {
        if self.metadata.is_ephemeral == Some(true) {
            return None;
        }
        self.metadata.storage_id.as_ref()
    }
}

/// An ephemeral message that passed deduplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ephemeral {
    pub document_id: DocumentId,
    /// The peer that created it (not necessarily the one it came through).
    pub sender_id: PeerId,
    pub session_id: SessionId,
    pub count: u64,
    pub data: Vec<u8>,
}

/// What the remote peer is known to have of a document (automerge-repo's peer document
/// status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerDocStatus {
    #[default]
    Unknown,
    /// It sent heads: it has the document.
    Has,
    /// It sent `request`: it lacks the document and asked for it.
    Wants,
    /// It answered `doc-unavailable`.
    Unavailable,
}

/// Something the owner of the connection must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The handshake completed.
    Connected {
        peer_id: PeerId,
        metadata: PeerMetadata,
    },
    /// A sync (or `request`) message for a document, decoded and NOT applied. Apply it
    /// ([`Connection::receive_with`], or your own store followed by
    /// [`Connection::send_sync`] with the reply), or refuse it
    /// ([`Connection::send_doc_unavailable`] when the document is not there for this
    /// peer, [`Connection::fail`] for a forbidden write).
    Sync {
        document_id: DocumentId,
        message: sync::Message,
        /// `true` for `request`: the peer lacks the document and asks for it.
        request: bool,
    },
    /// The peer does not have the document (answer to our `request`).
    DocUnavailable { document_id: DocumentId },
    /// Presence or other live data; forward it to other peers with
    /// [`Connection::forward_ephemeral`].
    Ephemeral(Ephemeral),
    RemoteSubscriptionChange {
        add: Vec<StorageId>,
        remove: Vec<StorageId>,
    },
    RemoteHeadsChanged {
        document_id: DocumentId,
        new_heads: Vec<(StorageId, RemoteHeads)>,
    },
    /// The connection ended: the peer sent `error` or `leave`, or we failed it.
    Closed { reason: String },
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EngineError {
    #[error("invalid frame: {0}")]
    Wire(#[from] WireError),
    #[error("unsupported protocol version (offered {offered:?}, this peer speaks \"1\")")]
    UnsupportedProtocol { offered: Vec<String> },
    #[error("expected `{expected}` to open the connection, got `{got}`")]
    HandshakeExpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("document {document_id}: invalid automerge sync message: {detail}")]
    BadSyncMessage {
        document_id: DocumentId,
        detail: String,
    },
    #[error("peer reported an error: {0}")]
    PeerError(String),
    #[error("the connection is closed")]
    Closed,
    #[error("document {document_id}: {detail}")]
    Apply {
        document_id: DocumentId,
        detail: String,
    },
}

/// Sources of ephemeral messages remembered for deduplication, at most; beyond it the
/// table is cleared, so a peer inventing session ids cannot grow memory without bound.
const MAX_EPHEMERAL_SOURCES: usize = 4096;

/// One link to one remote peer. See the module docs.
#[derive(Debug)]
pub struct Connection {
    cfg: ConnectionConfig,
    state: ConnState,
    remote: Option<RemotePeer>,
    docs: HashMap<DocumentId, PeerDocStatus>,
    ephemeral_seen: HashMap<(PeerId, SessionId), u64>,
    ephemeral_count: u64,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    /// Frames of unknown `type`, skipped.
    skipped_frames: u64,
    /// Per document, the heads of the last sync message received from the peer when it
    /// carried changes: a reply saying only "I have exactly these" may be held (implied
    /// acknowledgements, see the module docs).
    unacked: HashMap<DocumentId, Vec<automerge::ChangeHash>>,
    /// Acknowledgements held back, one per document (a later message replaces it).
    held: HashMap<DocumentId, Vec<u8>>,
}

/// What [`Connection::receive_with`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The document's heads moved (it gained changes).
    pub changed: bool,
    /// A reply was queued.
    pub replied: bool,
}

/// Frames for one connected peer, made away from its [`Connection`]. A relay's connection
/// task owns each `Connection`, while a document's fan-out reaches every subscriber from
/// wherever the change landed: it holds one `Addressee` per subscriber
/// ([`Connection::addressee`]), so those frames still come from this engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressee {
    local: PeerId,
    remote: PeerId,
}

impl Addressee {
    pub fn new(local: impl Into<PeerId>, remote: impl Into<PeerId>) -> Self {
        Addressee {
            local: local.into(),
            remote: remote.into(),
        }
    }

    pub fn remote_id(&self) -> &str {
        &self.remote
    }

    /// One sync message every peer of ours may be sent ([`Self::sync`]): encoded once,
    /// however many subscribers share it.
    pub fn shared_sync(&self, document_id: &DocumentId, data: &[u8]) -> wire::SyncForMany {
        wire::SyncForMany::new(&self.local, document_id, data)
    }

    /// `shared` (from any addressee of the same local peer) for this peer.
    pub fn sync(&self, shared: &wire::SyncForMany) -> Vec<u8> {
        shared.to(&self.remote)
    }

    pub fn doc_unavailable(&self, document_id: DocumentId) -> Vec<u8> {
        wire::encode(&Message::DocUnavailable {
            sender_id: self.local.clone(),
            target_id: self.remote.clone(),
            document_id,
        })
    }

    /// Passes on another peer's ephemeral message, keeping its sender, session and count
    /// (so every receiver deduplicates it the same way); `None` to the peer that created it.
    pub fn forward_ephemeral(&self, e: &Ephemeral) -> Option<Vec<u8>> {
        (self.remote != e.sender_id).then(|| {
            wire::encode(&Message::Ephemeral {
                sender_id: e.sender_id.clone(),
                target_id: self.remote.clone(),
                count: e.count,
                session_id: e.session_id.clone(),
                document_id: e.document_id,
                data: e.data.clone(),
            })
        })
    }

    /// Our own ephemeral message, numbered `count` in `session_id` (the caller's session,
    /// whose counts only increase).
    pub fn ephemeral(
        &self,
        session_id: &str,
        count: u64,
        document_id: DocumentId,
        data: Vec<u8>,
    ) -> Vec<u8> {
        wire::encode(&Message::Ephemeral {
            sender_id: self.local.clone(),
            target_id: self.remote.clone(),
            count,
            session_id: session_id.to_owned(),
            document_id,
            data,
        })
    }

    /// An `error`; the peer's connection should close after it.
    pub fn error(&self, message: String) -> Vec<u8> {
        wire::encode(&Message::Error {
            sender_id: Some(self.local.clone()),
            message,
            target_id: Some(self.remote.clone()),
        })
    }
}

impl Connection {
    pub fn new(cfg: ConnectionConfig) -> Self {
        let state = match cfg.side {
            Side::Initiator => ConnState::AwaitingPeer,
            Side::Acceptor => ConnState::AwaitingJoin,
        };
        let mut c = Connection {
            cfg,
            state,
            remote: None,
            docs: HashMap::new(),
            ephemeral_seen: HashMap::new(),
            ephemeral_count: 0,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            skipped_frames: 0,
            unacked: HashMap::new(),
            held: HashMap::new(),
        };
        if c.cfg.side == Side::Initiator {
            let join = Message::Join {
                sender_id: c.cfg.local_peer_id.clone(),
                peer_metadata: Some(c.cfg.local_metadata.clone()),
                supported_protocol_versions: Some(vec![PROTOCOL_V1.to_owned()]),
            };
            c.queue(&join);
        }
        c
    }

    pub fn state(&self) -> ConnState {
        self.state
    }

    pub fn is_connected(&self) -> bool {
        self.state == ConnState::Connected
    }

    pub fn is_closed(&self) -> bool {
        self.state == ConnState::Closed
    }

    pub fn local_peer_id(&self) -> &str {
        &self.cfg.local_peer_id
    }

    /// The remote peer, once its `join` / `peer` arrived.
    pub fn remote(&self) -> Option<&RemotePeer> {
        self.remote.as_ref()
    }

    /// What the remote peer is known to have of `doc`.
    pub fn peer_doc_status(&self, doc: &DocumentId) -> PeerDocStatus {
        self.docs.get(doc).copied().unwrap_or_default()
    }

    /// Documents exchanged on this connection so far.
    pub fn documents(&self) -> impl Iterator<Item = (&DocumentId, PeerDocStatus)> {
        self.docs.iter().map(|(d, s)| (d, *s))
    }

    /// Frames of unknown type skipped so far.
    pub fn skipped_frames(&self) -> u64 {
        self.skipped_frames
    }

    /// The next frame to send, oldest first.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn has_transmit(&self) -> bool {
        !self.transmit.is_empty()
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn queue(&mut self, m: &Message) {
        self.transmit.push_back(wire::encode(m));
    }

    fn remote_id(&self) -> Result<PeerId, EngineError> {
        match (&self.state, &self.remote) {
            (ConnState::Connected, Some(r)) => Ok(r.peer_id.clone()),
            _ => Err(EngineError::Closed),
        }
    }

    /// Sends `error` with `message` and closes: what to do when a peer breaks the rules
    /// (a forbidden write, a rate limit). Flush [`Self::poll_transmit`] before dropping the
    /// transport.
    pub fn fail(&mut self, message: impl Into<String>) {
        if self.state == ConnState::Closed {
            return;
        }
        let message = message.into();
        let err = Message::Error {
            sender_id: Some(self.cfg.local_peer_id.clone()),
            message: message.clone(),
            target_id: self.remote.as_ref().map(|r| r.peer_id.clone()),
        };
        self.queue(&err);
        self.state = ConnState::Closed;
        self.events.push_back(Event::Closed { reason: message });
    }

    /// Marks the connection closed without telling the peer (the transport went away).
    pub fn close(&mut self) {
        if self.state != ConnState::Closed {
            self.state = ConnState::Closed;
            self.events.push_back(Event::Closed {
                reason: "closed locally".to_owned(),
            });
        }
    }

    /// Feeds one received binary frame. A protocol violation queues an `error` frame for
    /// the peer, closes the connection and is returned; the caller should flush
    /// [`Self::poll_transmit`] and drop the transport.
    pub fn handle_frame(&mut self, frame: &[u8]) -> Result<(), EngineError> {
        if self.state == ConnState::Closed {
            return Err(EngineError::Closed);
        }
        let msg = match wire::decode_with_limit(frame, self.cfg.max_frame_bytes) {
            Ok(m) => m,
            Err(e) if e.is_unknown_type() => {
                self.skipped_frames += 1;
                return Ok(());
            }
            Err(e) => return Err(self.violation(EngineError::Wire(e))),
        };
        match self.handle_message(msg) {
            Ok(()) => Ok(()),
            Err(EngineError::PeerError(m)) => {
                // The peer closes after `error`; nothing to answer.
                self.state = ConnState::Closed;
                self.events.push_back(Event::Closed {
                    reason: format!("peer error: {m}"),
                });
                Err(EngineError::PeerError(m))
            }
            Err(e) => Err(self.violation(e)),
        }
    }

    fn violation(&mut self, e: EngineError) -> EngineError {
        self.fail(e.to_string());
        e
    }

    fn handle_message(&mut self, msg: Message) -> Result<(), EngineError> {
        match (self.state, msg) {
            (_, Message::Error { message, .. }) => Err(EngineError::PeerError(message)),
            (ConnState::AwaitingJoin | ConnState::Connected, m @ Message::Join { .. })
                if self.cfg.side == Side::Acceptor =>
            {
                self.accept_join(m)
            }
            (
                ConnState::AwaitingPeer,
                Message::Peer {
                    sender_id,
                    peer_metadata,
                    selected_protocol_version,
                    ..
                },
            ) => {
                if selected_protocol_version != PROTOCOL_V1 {
                    return Err(EngineError::UnsupportedProtocol {
                        offered: vec![selected_protocol_version],
                    });
                }
                self.connected(sender_id, peer_metadata.unwrap_or_default());
                Ok(())
            }
            (ConnState::AwaitingJoin, m) => Err(EngineError::HandshakeExpected {
                expected: "join",
                got: m.type_name(),
            }),
            (ConnState::AwaitingPeer, m) => Err(EngineError::HandshakeExpected {
                expected: "peer",
                got: m.type_name(),
            }),
            (ConnState::Closed, _) => Err(EngineError::Closed),
            (ConnState::Connected, m) => self.handle_connected(m),
        }
    }

    fn accept_join(&mut self, m: Message) -> Result<(), EngineError> {
        let Message::Join {
            sender_id,
            peer_metadata,
            supported_protocol_versions,
        } = m
        else {
            return Ok(());
        };
        if let Some(v) = &supported_protocol_versions {
            if !v.iter().any(|v| v == PROTOCOL_V1) {
                return Err(EngineError::UnsupportedProtocol { offered: v.clone() });
            }
        }
        let peer = Message::Peer {
            sender_id: self.cfg.local_peer_id.clone(),
            peer_metadata: Some(self.cfg.local_metadata.clone()),
            selected_protocol_version: PROTOCOL_V1.to_owned(),
            target_id: sender_id.clone(),
        };
        self.queue(&peer);
        // A repeated join (the JS client re-sends it when its socket reopens) restarts the
        // session: what we knew about the peer's documents may be stale.
        if self.state == ConnState::Connected {
            self.docs.clear();
        }
        self.connected(sender_id, peer_metadata.unwrap_or_default());
        Ok(())
    }

    fn connected(&mut self, peer_id: PeerId, metadata: PeerMetadata) {
        self.state = ConnState::Connected;
        self.remote = Some(RemotePeer {
            peer_id: peer_id.clone(),
            metadata: metadata.clone(),
        });
        self.events
            .push_back(Event::Connected { peer_id, metadata });
    }

    fn handle_connected(&mut self, m: Message) -> Result<(), EngineError> {
        match m {
            Message::Sync {
                document_id, data, ..
            } => self.sync_in(document_id, &data, false),
            Message::Request {
                document_id, data, ..
            } => self.sync_in(document_id, &data, true),
            Message::DocUnavailable { document_id, .. } => {
                self.docs.insert(document_id, PeerDocStatus::Unavailable);
                self.events.push_back(Event::DocUnavailable { document_id });
                Ok(())
            }
            Message::Ephemeral {
                sender_id,
                count,
                session_id,
                document_id,
                data,
                ..
            } => {
                // Our own messages echoed back by a relay are not news.
                if sender_id == self.cfg.local_peer_id {
                    return Ok(());
                }
                let key = (sender_id, session_id);
                if self
                    .ephemeral_seen
                    .get(&key)
                    .is_some_and(|&last| count <= last)
                {
                    return Ok(());
                }
                if self.ephemeral_seen.len() >= MAX_EPHEMERAL_SOURCES
                    && !self.ephemeral_seen.contains_key(&key)
                {
                    self.ephemeral_seen.clear();
                }
                self.ephemeral_seen.insert(key.clone(), count);
                let (sender_id, session_id) = key;
                self.events.push_back(Event::Ephemeral(Ephemeral {
                    document_id,
                    sender_id,
                    session_id,
                    count,
                    data,
                }));
                Ok(())
            }
            Message::RemoteSubscriptionChange { add, remove, .. } => {
                self.events.push_back(Event::RemoteSubscriptionChange {
                    add: add.unwrap_or_default(),
                    remove: remove.unwrap_or_default(),
                });
                Ok(())
            }
            Message::RemoteHeadsChanged {
                document_id,
                new_heads,
                ..
            } => {
                self.events.push_back(Event::RemoteHeadsChanged {
                    document_id,
                    new_heads,
                });
                Ok(())
            }
            Message::Leave { .. } => {
                self.state = ConnState::Closed;
                self.events.push_back(Event::Closed {
                    reason: "peer left".to_owned(),
                });
                Ok(())
            }
            // A second `peer` is harmless; `join` on an initiator is a confused peer.
            Message::Peer { .. } => Ok(()),
            m @ Message::Join { .. } => Err(EngineError::HandshakeExpected {
                expected: "peer",
                got: m.type_name(),
            }),
            Message::Error { message, .. } => Err(EngineError::PeerError(message)),
        }
    }

    fn sync_in(
        &mut self,
        document_id: DocumentId,
        data: &[u8],
        request: bool,
    ) -> Result<(), EngineError> {
        let message = sync::Message::decode(data).map_err(|e| EngineError::BadSyncMessage {
            document_id,
            detail: e.to_string(),
        })?;
        let status = if !message.heads.is_empty() {
            PeerDocStatus::Has
        } else if request {
            PeerDocStatus::Wants
        } else {
            self.peer_doc_status(&document_id)
        };
        self.docs.insert(document_id, status);
        if message.changes.is_empty() {
            self.unacked.remove(&document_id);
        } else {
            self.unacked.insert(document_id, message.heads.clone());
        }
        self.events.push_back(Event::Sync {
            document_id,
            message,
            request,
        });
        Ok(())
    }

    /// Queues an automerge sync message for `doc` (generated by the caller against its sync
    /// state with this peer). It goes out as `request` when we have nothing of the
    /// document (no heads) and the peer has not shown it has it, else as `sync`.
    pub fn send_sync(
        &mut self,
        document_id: DocumentId,
        message: sync::Message,
    ) -> Result<(), EngineError> {
        let target_id = self.remote_id()?;
        let status = self.peer_doc_status(&document_id);
        let request = message.heads.is_empty()
            && matches!(status, PeerDocStatus::Unknown | PeerDocStatus::Unavailable);
        let implied = self.implies_acks()
            && message.changes.is_empty()
            && message.need.is_empty()
            && self.unacked.get(&document_id) == Some(&message.heads);
        let data = message.encode();
        let sender_id = self.cfg.local_peer_id.clone();
        let m = if request {
            Message::Request {
                sender_id,
                target_id,
                document_id,
                data,
            }
        } else {
            Message::Sync {
                sender_id,
                target_id,
                document_id,
                data,
            }
        };
        self.docs.entry(document_id).or_default();
        if implied {
            self.held.insert(document_id, wire::encode(&m));
        } else {
            // Anything else we say about the document tells the peer our heads too.
            self.held.remove(&document_id);
            self.queue(&m);
        }
        Ok(())
    }

    /// Both ends advertised `setlinkImpliedAcks`: a bare acknowledgement of a message
    /// that carried changes is held, not sent (see the module docs).
    fn implies_acks(&self) -> bool {
        self.cfg.local_metadata.implied_acks == Some(true)
            && self
                .remote
                .as_ref()
                .is_some_and(|r| r.metadata.implied_acks == Some(true))
    }

    /// Whether acknowledgements are held (see the module docs on implied
    /// acknowledgements): the owner calls [`Self::release_acks`] once the link is quiet.
    pub fn holds_acks(&self) -> bool {
        !self.held.is_empty()
    }

    /// Queues every held acknowledgement, confirming to the peer what it already took as
    /// acknowledged; returns how many. Call it when the link has been quiet for a while
    /// and before closing it on purpose.
    pub fn release_acks(&mut self) -> usize {
        let n = self.held.len();
        self.transmit
            .extend(self.held.drain().map(|(_, frame)| frame));
        n
    }

    /// Tells the peer we do not have `doc` (or it may not have it).
    pub fn send_doc_unavailable(&mut self, document_id: DocumentId) -> Result<(), EngineError> {
        let frame = self.addressee()?.doc_unavailable(document_id);
        self.transmit.push_back(frame);
        Ok(())
    }

    /// Sends our own ephemeral data about `doc` (numbered in this connection's session).
    pub fn send_ephemeral(
        &mut self,
        document_id: DocumentId,
        data: Vec<u8>,
    ) -> Result<(), EngineError> {
        let target_id = self.remote_id()?;
        self.ephemeral_count += 1;
        self.queue(&Message::Ephemeral {
            sender_id: self.cfg.local_peer_id.clone(),
            target_id,
            count: self.ephemeral_count,
            session_id: self.cfg.ephemeral_session_id.clone(),
            document_id,
            data,
        });
        Ok(())
    }

    /// Passes on an ephemeral message received from another peer, keeping its sender,
    /// session and count (so every receiver deduplicates it the same way). Not sent back
    /// to the peer that created it.
    pub fn forward_ephemeral(&mut self, e: &Ephemeral) -> Result<(), EngineError> {
        if let Some(frame) = self.addressee()?.forward_ephemeral(e) {
            self.transmit.push_back(frame);
        }
        Ok(())
    }

    /// Frames for this peer from outside this connection (see [`Addressee`]); once the
    /// handshake is done.
    pub fn addressee(&self) -> Result<Addressee, EngineError> {
        Ok(Addressee {
            local: self.cfg.local_peer_id.clone(),
            remote: self.remote_id()?,
        })
    }

    /// Generates the next sync message for `doc` from `state` (this peer's sync state,
    /// owned by the caller) and queues it. Returns whether anything was queued. Call it
    /// to start syncing a document and after every local change.
    pub fn sync_with(
        &mut self,
        document_id: DocumentId,
        doc: &Automerge,
        state: &mut sync::State,
    ) -> Result<bool, EngineError> {
        self.remote_id()?;
        match doc.generate_sync_message(state) {
            Some(m) => {
                self.send_sync(document_id, m)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Applies a received sync message (from [`Event::Sync`]) to `doc` with `state`, then
    /// queues the reply. On error the document may hold part of the message's changes
    /// only if automerge applied some; the caller decides whether to reload it.
    pub fn receive_with(
        &mut self,
        document_id: DocumentId,
        doc: &mut Automerge,
        state: &mut sync::State,
        message: sync::Message,
    ) -> Result<Applied, EngineError> {
        self.remote_id()?;
        let before = doc.get_heads();
        doc.receive_sync_message(state, message)
            .map_err(|e| EngineError::Apply {
                document_id,
                detail: e.to_string(),
            })?;
        let changed = doc.get_heads() != before;
        let replied = self.sync_with(document_id, doc, state)?;
        Ok(Applied { changed, replied })
    }
}
