//! [`DeviceLink`]: a [`Device`] synced with one remote peer over any byte transport. No IO:
//! the WebSocket client ([`super::ws`]) drives it, and so can an app's phone-to-phone link
//! (Bluetooth, Wi-Fi Direct) through the bindings: frames in, frames out.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use thiserror::Error;

use crate::device::{Device, DeviceError};
use crate::ids::DocumentId;
use crate::sync::engine::{
    ConnState, Connection, ConnectionConfig, EngineError, Event, PeerDocStatus, Side,
};
use crate::sync::wire::{PeerId, PeerMetadata};

/// Device metadata key holding this device's automerge-repo storage id, so peers key the
/// sync states they keep for us the same way across restarts.
const META_STORAGE_ID: &str = "sync.storage_id";

/// First wait before asking again for a document the peer did not have; doubles per try.
pub const UNAVAILABLE_RETRY_BASE_MS: i64 = 1_000;
/// Longest wait between two asks for the same unavailable document.
pub const UNAVAILABLE_RETRY_MAX_MS: i64 = 60_000;
/// Asks per unavailable document and link (after the first) before giving up until the
/// index changes or the link reconnects: ~6 minutes of trying, then the peer is spared.
pub const UNAVAILABLE_RETRY_LIMIT: u32 = 10;

/// How long acknowledgements the relay takes as given (implied acknowledgements, see
/// [`crate::sync::engine`]) are held before they are confirmed: one frame per document
/// per this long at most, instead of one per change; a link lost meanwhile costs those
/// documents one more push on reconnect.
pub const ACK_HOLD_MS: i64 = 2_000;

/// Re-asking for a document the peer said it did not have.
#[derive(Debug, Clone, Copy, Default)]
struct Retry {
    /// Asks made so far after the first.
    attempts: u32,
    /// When to ask next; `None` until the next [`DeviceLink::tick`] schedules it (frames
    /// arrive without a time).
    due_at_ms: Option<i64>,
}

#[derive(Debug, Error)]
pub enum LinkError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Device(#[from] DeviceError),
}

/// What happened on a link that the app may want to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    Connected {
        peer_id: PeerId,
    },
    /// Changes from the peer were applied and stored (device observers heard `Remote`).
    DocumentChanged(DocumentId),
    /// The peer does not have the document (or may not give it to us).
    DocumentUnavailable(DocumentId),
    /// Live data about a document from some peer (presence: a PA's ETA on a run).
    Presence {
        document_id: DocumentId,
        sender_id: PeerId,
        data: Vec<u8>,
    },
    Closed {
        reason: String,
    },
    /// The write rules refused a change. `ours` is true when the peer (the relay) refused a
    /// change this device sent: the app should show it and may drop the refused local
    /// changes ([`crate::Device::drop_unconfirmed_changes`]). False when this device refused
    /// changes the peer sent: nothing of them was stored.
    Refused {
        document_id: DocumentId,
        ours: bool,
        rule: String,
        path: String,
        message: String,
    },
}

/// Where the documents of a link stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkProgress {
    /// Changes on this device the peer has not confirmed having.
    pub pending_local_changes: u64,
    /// Connected, nothing queued to send, and the peer's heads equal ours for every
    /// document it has.
    pub in_sync: bool,
}

/// The device's automerge-repo storage id (created on first use and kept in the store).
pub fn device_storage_id(device: &mut Device) -> Result<String, DeviceError> {
    if let Some(id) = device.metadata(META_STORAGE_ID)? {
        return Ok(id);
    }
    let id = crate::ids::new_record_id();
    device.set_metadata(META_STORAGE_ID, &id)?;
    Ok(id)
}

/// A device's side of one link. See the module docs.
#[derive(Debug)]
pub struct DeviceLink {
    conn: Connection,
    scope: BTreeSet<DocumentId>,
    /// Documents the peer said it does not have, with when to ask again: a document another
    /// device created moments ago may reach the relay after we asked for it.
    unavailable: HashMap<DocumentId, Retry>,
    /// Documents left unsent at connect under the push-on-connect rule: unchanged here
    /// since the last sync with this peer, so only the peer may have news about them.
    quiet: HashSet<DocumentId>,
    push_on_connect: bool,
    events: VecDeque<LinkEvent>,
    /// Since when the engine has held acknowledgements (see [`ACK_HOLD_MS`]).
    acks_held_since_ms: Option<i64>,
}

impl DeviceLink {
    /// A link on which this device speaks first (`Side::Initiator`, the device dialing the
    /// relay) or answers (`Side::Acceptor`, the other end of a phone-to-phone link).
    /// `ephemeral_session_id` must be fresh per link (a random string).
    pub fn new(
        device: &mut Device,
        side: Side,
        ephemeral_session_id: impl Into<String>,
    ) -> Result<DeviceLink, LinkError> {
        Self::with_push_on_connect(device, side, ephemeral_session_id, true)
    }

    /// Like [`Self::new`]; `push_on_connect` says whether this link advertises (and
    /// follows) the push-on-connect rule (see [`crate::sync::engine`]). When both ends
    /// do, a reconnect only touches the documents that changed on either side.
    pub fn with_push_on_connect(
        device: &mut Device,
        side: Side,
        ephemeral_session_id: impl Into<String>,
        push_on_connect: bool,
    ) -> Result<DeviceLink, LinkError> {
        let storage_id = device_storage_id(device)?;
        // Peer ids ride in every frame twice; a short random one keeps small syncs small.
        let peer_id = format!(
            "sl-{}",
            bs58::encode(rand::random::<[u8; 12]>()).into_string()
        );
        let cfg = ConnectionConfig::new(
            peer_id,
            side,
            PeerMetadata {
                storage_id: Some(storage_id),
                is_ephemeral: Some(false),
                pushes_changes: push_on_connect.then_some(true),
                // The dialing end only: the relay takes silence as acknowledgement, a
                // phone answering another phone does not.
                implied_acks: (side == Side::Initiator).then_some(true),
            },
            ephemeral_session_id,
        );
        Ok(DeviceLink {
            conn: Connection::new(cfg),
            scope: BTreeSet::new(),
            unavailable: HashMap::new(),
            quiet: HashSet::new(),
            push_on_connect,
            events: VecDeque::new(),
            acks_held_since_ms: None,
        })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_connected()
    }

    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// The key this device keeps sync states with the peer under: the peer's storage id,
    /// or its peer id when it has no storage.
    pub fn peer_key(&self) -> Option<String> {
        let remote = self.conn.remote()?;
        Some(match remote.storage_id() {
            Some(s) => s.clone(),
            None => format!("peer:{}", remote.peer_id),
        })
    }

    /// The documents synced on this link.
    pub fn scope(&self) -> impl Iterator<Item = &DocumentId> {
        self.scope.iter()
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.conn.poll_transmit()
    }

    pub fn has_transmit(&self) -> bool {
        self.conn.has_transmit()
    }

    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// Adds documents to the link's scope and starts syncing them if connected. Only
    /// documents in scope are given to the peer: the scope is what this member may see.
    pub fn sync_documents(
        &mut self,
        device: &mut Device,
        docs: impl IntoIterator<Item = DocumentId>,
    ) -> Result<(), LinkError> {
        for doc in docs {
            if self.scope.insert(doc) {
                self.unavailable.remove(&doc);
                if self.conn.is_connected() {
                    self.send_for(device, doc)?;
                }
            }
        }
        Ok(())
    }

    /// Removes a document from the scope (no more sync for it on this link).
    pub fn stop_syncing(&mut self, doc: &DocumentId) {
        self.scope.remove(doc);
    }

    /// Call after a local change to a document: sends it if it is in scope.
    pub fn local_change(&mut self, device: &mut Device, doc: DocumentId) -> Result<(), LinkError> {
        if self.scope.contains(&doc) && self.conn.is_connected() {
            self.quiet.remove(&doc);
            self.send_for(device, doc)?;
        }
        Ok(())
    }

    /// Sends live data about a document (presence) to the peer.
    pub fn send_presence(&mut self, doc: DocumentId, data: Vec<u8>) -> Result<(), LinkError> {
        self.conn.send_ephemeral(doc, data)?;
        Ok(())
    }

    /// Whether the document's heads are still the shared heads persisted with this peer.
    fn unchanged_since_last_sync(
        &self,
        device: &mut Device,
        doc: &DocumentId,
    ) -> Result<bool, LinkError> {
        let Some(peer) = self.peer_key() else {
            return Ok(false);
        };
        if device.kind_of(doc).is_none() {
            return Ok(false);
        }
        let Some(state) = device.sync_state(doc, &peer)? else {
            return Ok(false);
        };
        let heads = device.read(doc, |d| d.get_heads())?;
        Ok(!heads.is_empty() && heads == state.shared_heads)
    }

    fn send_for(&mut self, device: &mut Device, doc: DocumentId) -> Result<(), LinkError> {
        let Some(peer) = self.peer_key() else {
            return Ok(());
        };
        if let Some(msg) = device.generate_sync_message(&doc, &peer)? {
            self.conn.send_sync(doc, msg)?;
        }
        Ok(())
    }

    /// Feeds one frame from the peer. Sync messages are applied to the device (stored
    /// before this returns) and answered. A protocol error or a message that does not
    /// apply closes the link with an `error` to the peer: flush [`Self::poll_transmit`],
    /// then drop the transport.
    pub fn handle_frame(&mut self, device: &mut Device, frame: &[u8]) -> Result<(), LinkError> {
        let result = self.conn.handle_frame(frame);
        let drained = self.drain(device);
        result?;
        drained
    }

    fn drain(&mut self, device: &mut Device) -> Result<(), LinkError> {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                Event::Connected { peer_id, metadata } => {
                    self.events.push_back(LinkEvent::Connected { peer_id });
                    let quiet = self.push_on_connect && metadata.pushes_changes == Some(true);
                    self.quiet.clear();
                    let docs: Vec<DocumentId> = self.scope.iter().copied().collect();
                    for doc in docs {
                        if quiet && self.unchanged_since_last_sync(device, &doc)? {
                            self.quiet.insert(doc);
                        } else {
                            self.send_for(device, doc)?;
                        }
                    }
                }
                Event::Sync {
                    document_id,
                    message,
                    ..
                } => {
                    let known = device.kind_of(&document_id).is_some();
                    if !known || !self.scope.contains(&document_id) {
                        self.conn.send_doc_unavailable(document_id)?;
                        continue;
                    }
                    let Some(peer) = self.peer_key() else {
                        continue;
                    };
                    self.quiet.remove(&document_id);
                    match device.receive_sync_message(&document_id, &peer, message) {
                        Ok(changed) => {
                            if changed {
                                self.events
                                    .push_back(LinkEvent::DocumentChanged(document_id));
                            }
                            self.unavailable.remove(&document_id);
                            self.send_for(device, document_id)?;
                        }
                        Err(DeviceError::Refused { doc_id, refusal }) => {
                            // Stay connected: the document and the sync state are as they
                            // were, and every other document keeps syncing.
                            self.events.push_back(LinkEvent::Refused {
                                document_id: doc_id,
                                ours: false,
                                rule: refusal.rule.as_str().to_owned(),
                                path: refusal.path,
                                message: refusal.detail,
                            });
                            self.send_for(device, document_id)?;
                        }
                        Err(e @ DeviceError::BadSyncMessage { .. }) => {
                            self.conn.fail(e.to_string());
                            return Err(e.into());
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Event::DocUnavailable { document_id } => {
                    self.unavailable.entry(document_id).or_default().due_at_ms = None;
                    self.events
                        .push_back(LinkEvent::DocumentUnavailable(document_id));
                }
                Event::Ephemeral(e) => match crate::rules::notice::decode(&e.data) {
                    Some(n) => self.events.push_back(LinkEvent::Refused {
                        document_id: e.document_id,
                        ours: true,
                        rule: n.rule,
                        path: n.path,
                        message: n.message,
                    }),
                    None => self.events.push_back(LinkEvent::Presence {
                        document_id: e.document_id,
                        sender_id: e.sender_id,
                        data: e.data,
                    }),
                },
                Event::Closed { reason } => {
                    if let Some(peer) = self.peer_key() {
                        device.peer_disconnected(&peer);
                    }
                    self.events.push_back(LinkEvent::Closed { reason });
                }
                Event::RemoteSubscriptionChange { .. } | Event::RemoteHeadsChanged { .. } => {}
            }
        }
        Ok(())
    }

    /// Passes time: confirms held acknowledgements after [`ACK_HOLD_MS`], and asks again
    /// for the in-scope documents the peer said it did not have,
    /// each after a backoff (from [`UNAVAILABLE_RETRY_BASE_MS`], doubling, capped at
    /// [`UNAVAILABLE_RETRY_MAX_MS`]) and at most [`UNAVAILABLE_RETRY_LIMIT`] times. Call
    /// it after handling frames and at [`Self::next_retry_at`].
    pub fn tick(&mut self, device: &mut Device, now_ms: i64) -> Result<(), LinkError> {
        self.unavailable.retain(|doc, _| self.scope.contains(doc));
        if !self.conn.is_connected() {
            return Ok(());
        }
        self.acks_held_since_ms = match self.acks_held_since_ms {
            _ if !self.conn.holds_acks() => None,
            None => Some(now_ms),
            Some(since) if now_ms.saturating_sub(since) >= ACK_HOLD_MS => {
                self.conn.release_acks();
                None
            }
            held => held,
        };
        let mut due = Vec::new();
        for (doc, retry) in &mut self.unavailable {
            match retry.due_at_ms {
                None if retry.attempts < UNAVAILABLE_RETRY_LIMIT => {
                    let backoff = UNAVAILABLE_RETRY_BASE_MS
                        .saturating_mul(1 << retry.attempts.min(16))
                        .min(UNAVAILABLE_RETRY_MAX_MS);
                    retry.due_at_ms = Some(now_ms.saturating_add(backoff));
                }
                Some(at) if at <= now_ms => due.push(*doc),
                _ => {}
            }
        }
        due.sort();
        let Some(peer) = self.peer_key() else {
            return Ok(());
        };
        for doc in due {
            if let Some(retry) = self.unavailable.get_mut(&doc) {
                retry.attempts += 1;
                // Stays unavailable (and out of `in_sync`) until the peer answers; with
                // no due time, the answer or the next tick schedules the next ask.
                retry.due_at_ms = None;
            }
            if device.kind_of(&doc).is_none() {
                continue;
            }
            // Our last message is still "in flight" for automerge, which would then stay
            // silent: start this document's live state over (persisted heads stay).
            device.forget_live_sync_state(&doc, &peer);
            self.send_for(device, doc)?;
        }
        Ok(())
    }

    /// When [`Self::tick`] next has something to do, if anything is scheduled. A document
    /// that turned unavailable since the last tick is scheduled by the next tick, so call
    /// it after handling frames too.
    pub fn next_retry_at(&self) -> Option<i64> {
        let confirm = self
            .acks_held_since_ms
            .map(|since| since.saturating_add(ACK_HOLD_MS));
        self.unavailable
            .iter()
            .filter(|(doc, _)| self.scope.contains(doc))
            .filter_map(|(_, r)| r.due_at_ms)
            .chain(confirm)
            .min()
    }

    /// Asks again soon (fresh backoff) for every unavailable document in scope: call when
    /// the index changed, as the document may just have been created.
    pub fn retry_unavailable(&mut self) {
        for retry in self.unavailable.values_mut() {
            *retry = Retry::default();
        }
    }

    /// Marks the link closed (the transport went away) and forgets live sync states;
    /// the persisted ones stay for the next link.
    pub fn close(&mut self, device: &mut Device) {
        self.conn.close();
        let _ = self.drain(device);
    }

    /// Pending changes and whether everything in scope is in sync with the peer. With no
    /// peer yet, counts against `last_peer_key` (the peer of an earlier link) if given.
    pub fn progress(
        &self,
        device: &mut Device,
        last_peer_key: Option<&str>,
    ) -> Result<LinkProgress, LinkError> {
        let key = self.peer_key().or_else(|| last_peer_key.map(str::to_owned));
        let pending_local_changes =
            pending_local_changes(device, self.scope.iter(), key.as_deref())?;
        let mut in_sync =
            key.is_some() && self.conn.state() == ConnState::Connected && !self.conn.has_transmit();
        if let (true, Some(key)) = (in_sync, key.as_deref()) {
            for doc in &self.scope {
                if device.kind_of(doc).is_none()
                    || self.unavailable.contains_key(doc)
                    || self.conn.peer_doc_status(doc) == PeerDocStatus::Unavailable
                {
                    continue;
                }
                let heads = device.read(doc, |d| d.get_heads())?;
                let state = device.sync_state(doc, key)?;
                let theirs = match state {
                    Some(s) if s.their_heads.is_none() && self.quiet.contains(doc) => {
                        Some(s.shared_heads)
                    }
                    Some(s) => s.their_heads,
                    None => None,
                };
                if theirs.as_ref() != Some(&heads) {
                    in_sync = false;
                    break;
                }
            }
        }
        Ok(LinkProgress {
            pending_local_changes,
            in_sync,
        })
    }
}

/// Changes of `docs` that the peer known as `peer_key` has not confirmed having (all of
/// them when there is no peer yet). Documents not on the device count nothing.
pub fn pending_local_changes<'a>(
    device: &mut Device,
    docs: impl IntoIterator<Item = &'a DocumentId>,
    peer_key: Option<&str>,
) -> Result<u64, DeviceError> {
    let mut n = 0u64;
    for doc in docs {
        if device.kind_of(doc).is_none() {
            continue;
        }
        let pending = match peer_key {
            Some(key) => device.unconfirmed_changes(doc, key)?,
            None => device.read(doc, |d| d.get_changes(&[]).len())?,
        };
        n += pending as u64;
    }
    Ok(n)
}
