//! Device-to-device sync over a link the app supplies (Bluetooth, Wi-Fi Direct, a
//! cable): frames in, frames out, one `PeerLink` per peer. The same automerge-repo
//! protocol and engine as the relay link, so two phones converge with no relay.
//!
//! The app moves bytes: whatever `poll_outgoing` returns goes to the peer, in order;
//! whatever arrives from the peer goes to `receive`, in order. One side is the
//! initiator (it speaks first), the other the acceptor.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use setlink_core::client::link::{DeviceLink, LinkEvent};
use setlink_core::device::{ChangeOrigin, Device, DocumentObserver as CoreObserver, ObserverId};
use setlink_core::sync::engine::Side;
use setlink_core::{DocKind, DocumentId};

use crate::error::SetlinkError;
use crate::store::{handle, lock, SetlinkStore, Slot};
use crate::sync::readable_documents;

/// What happened on a peer link.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PeerEvent {
    Connected {
        peer_id: String,
    },
    /// Changes from the peer were applied and stored.
    DocumentChanged {
        doc_id: String,
    },
    DocumentUnavailable {
        doc_id: String,
    },
    Presence {
        doc_id: String,
        sender_id: String,
        data: Vec<u8>,
    },
    Closed {
        reason: String,
    },
    /// The write rules refused a change. `ours`: the peer refused a change this device
    /// sent (show it; `drop_unconfirmed_changes` returns the document to the relay's
    /// state). Otherwise this device refused changes the peer sent: none was stored.
    /// `rule` is a stable name (`authorship`, `transition`, `append-only`, ...).
    Refused {
        doc_id: String,
        ours: bool,
        rule: String,
        path: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PeerProgress {
    pub connected: bool,
    /// Local changes the peer has not confirmed.
    pub pending_local_changes: u64,
    /// Connected, nothing left to send, and the peer has what we have.
    pub in_sync: bool,
}

/// Collects local document changes for the link; called under the device lock, so it
/// only records the id.
struct ChangeQueue(Mutex<Vec<DocumentId>>);

impl CoreObserver for ChangeQueue {
    fn changed(&self, doc_id: &DocumentId, origin: ChangeOrigin) {
        // Remote changes count too: what the relay brought should reach this peer.
        let _ = origin;
        if let Ok(mut q) = self.0.lock() {
            q.push(*doc_id);
        }
    }
}

struct LinkState {
    link: DeviceLink,
    events: Vec<PeerEvent>,
}

#[derive(uniffi::Object)]
pub struct PeerLink {
    slot: Slot,
    state: Mutex<Option<LinkState>>,
    queue: Arc<ChangeQueue>,
    observer: ObserverId,
    id: u64,
    registry: Weak<Mutex<BTreeMap<u64, Weak<PeerLink>>>>,
}

/// The links of one store, so `close_store` can close them.
#[derive(Default)]
pub(crate) struct Links {
    links: Arc<Mutex<BTreeMap<u64, Weak<PeerLink>>>>,
    next: AtomicU64,
}

impl Links {
    pub(crate) fn close_all(&self, _slot: &Slot) {
        let links: Vec<Arc<PeerLink>> = match self.links.lock() {
            Ok(l) => l.values().filter_map(Weak::upgrade).collect(),
            Err(_) => return,
        };
        for l in links {
            l.close_link();
        }
    }
}

/// Documents offered to a peer: what this member reads, minus call sheet drafts (a peer
/// link is not authenticated the way the relay is, and drafts are not for everyone).
fn offered(device: &mut Device) -> Vec<DocumentId> {
    readable_documents(device)
        .into_iter()
        .filter(|id| !matches!(device.kind_of(id), Some(DocKind::CallSheetDraft { .. })))
        .collect()
}

fn doc_event(id: DocumentId, f: impl FnOnce(String) -> PeerEvent) -> PeerEvent {
    f(id.to_string())
}

impl PeerLink {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Device, &mut LinkState) -> Result<T, SetlinkError>,
    ) -> Result<T, SetlinkError> {
        let device = handle(&self.slot)?;
        let mut d = lock(&device)?;
        let mut g = self
            .state
            .lock()
            .map_err(|_| SetlinkError::internal("peer link poisoned"))?;
        let st = g.as_mut().ok_or_else(|| SetlinkError::Sync {
            detail: "this peer link is closed; open a new one".into(),
        })?;
        f(&mut d, st)
    }

    fn collect(device: &mut Device, st: &mut LinkState) -> Result<(), SetlinkError> {
        let mut production_changed = false;
        while let Some(ev) = st.link.poll_event() {
            st.events.push(match ev {
                LinkEvent::Connected { peer_id } => PeerEvent::Connected { peer_id },
                LinkEvent::DocumentChanged(id) => {
                    production_changed |= device.kind_of(&id) == Some(&DocKind::Production);
                    doc_event(id, |doc_id| PeerEvent::DocumentChanged { doc_id })
                }
                LinkEvent::DocumentUnavailable(id) => {
                    doc_event(id, |doc_id| PeerEvent::DocumentUnavailable { doc_id })
                }
                LinkEvent::Presence {
                    document_id,
                    sender_id,
                    data,
                } => PeerEvent::Presence {
                    doc_id: document_id.to_string(),
                    sender_id,
                    data,
                },
                LinkEvent::Closed { reason } => PeerEvent::Closed { reason },
                LinkEvent::Refused {
                    document_id,
                    ours,
                    rule,
                    path,
                    message,
                } => PeerEvent::Refused {
                    doc_id: document_id.to_string(),
                    ours,
                    rule,
                    path,
                    message,
                },
            });
        }
        if production_changed {
            // The index may list new documents: offer them too.
            let docs = offered(device);
            st.link
                .sync_documents(device, docs)
                .map_err(|e| SetlinkError::Sync {
                    detail: e.to_string(),
                })?;
        }
        Ok(())
    }
}

#[uniffi::export]
impl PeerLink {
    /// Feeds a frame received from the peer. Changes it carries are stored before this
    /// returns. A frame that breaks the protocol closes the link (after `poll_outgoing`
    /// hands out the error for the peer) and is reported as `SetlinkError::Sync`.
    pub fn receive(&self, frame: Vec<u8>) -> Result<(), SetlinkError> {
        self.with(|d, st| {
            let r = st.link.handle_frame(d, &frame);
            Self::collect(d, st)?;
            r.map_err(|e| SetlinkError::Sync {
                detail: e.to_string(),
            })
        })
    }

    /// Frames to send to the peer, in order (including local changes made since the
    /// last call). Empty when there is nothing to say.
    pub fn poll_outgoing(&self) -> Result<Vec<Vec<u8>>, SetlinkError> {
        let changed: Vec<DocumentId> = self
            .queue
            .0
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default();
        self.with(|d, st| {
            let unique: HashSet<DocumentId> = changed.into_iter().collect();
            for doc in unique {
                let in_scope = st.link.scope().any(|s| *s == doc);
                let r = if in_scope {
                    st.link.local_change(d, doc)
                } else {
                    let docs = offered(d);
                    st.link.sync_documents(d, docs)
                };
                r.map_err(|e| SetlinkError::Sync {
                    detail: e.to_string(),
                })?;
            }
            // Apps poll for outgoing frames on their own cadence; that is our clock tick
            // for asking again for documents the other phone lacked a moment ago.
            let now = d.now_ms();
            st.link.tick(d, now).map_err(|e| SetlinkError::Sync {
                detail: e.to_string(),
            })?;
            let mut out = Vec::new();
            while let Some(f) = st.link.poll_transmit() {
                out.push(f);
            }
            Ok(out)
        })
    }

    /// Events since the last call.
    pub fn poll_events(&self) -> Result<Vec<PeerEvent>, SetlinkError> {
        self.with(|_, st| Ok(std::mem::take(&mut st.events)))
    }

    pub fn progress(&self) -> Result<PeerProgress, SetlinkError> {
        self.with(|d, st| {
            let p = st.link.progress(d, None).map_err(|e| SetlinkError::Sync {
                detail: e.to_string(),
            })?;
            Ok(PeerProgress {
                connected: st.link.is_connected(),
                pending_local_changes: p.pending_local_changes,
                in_sync: p.in_sync,
            })
        })
    }

    /// Sends live data about a document (presence) to the peer.
    pub fn send_presence(&self, doc_id: String, data: Vec<u8>) -> Result<(), SetlinkError> {
        let id = crate::store::parse_doc_id(&doc_id)?;
        self.with(|_, st| {
            st.link
                .send_presence(id, data)
                .map_err(|e| SetlinkError::Sync {
                    detail: e.to_string(),
                })
        })
    }

    /// The transport went away (or the app is done): forgets the live sync state; the
    /// persisted one makes the next link to this peer cheap. Idempotent.
    pub fn close_link(&self) {
        let st = self.state.lock().ok().and_then(|mut g| g.take());
        if let (Some(mut st), Ok(device)) = (st, handle(&self.slot)) {
            if let Ok(mut d) = device.lock() {
                st.link.close(&mut d);
                d.remove_observer(self.observer);
            }
        }
        if let Some(reg) = self.registry.upgrade() {
            if let Ok(mut r) = reg.lock() {
                r.remove(&self.id);
            }
        }
    }
}

#[uniffi::export]
impl SetlinkStore {
    /// Opens a link to another device. `initiator`: this side speaks first; the other
    /// side opens its link with `initiator = false`.
    pub fn open_peer_link(&self, initiator: bool) -> Result<Arc<PeerLink>, SetlinkError> {
        let device = handle(&self.slot)?;
        let mut d = lock(&device)?;
        d.identity().ok_or(SetlinkError::NoIdentity)?;
        let side = if initiator {
            Side::Initiator
        } else {
            Side::Acceptor
        };
        let mut link =
            DeviceLink::new(&mut d, side, setlink_core::ids::new_record_id()).map_err(|e| {
                SetlinkError::Sync {
                    detail: e.to_string(),
                }
            })?;
        let docs = offered(&mut d);
        link.sync_documents(&mut d, docs)
            .map_err(|e| SetlinkError::Sync {
                detail: e.to_string(),
            })?;
        let queue = Arc::new(ChangeQueue(Mutex::new(Vec::new())));
        let observer = d.add_observer(queue.clone());
        drop(d);
        let id = self.links.next.fetch_add(1, Ordering::Relaxed);
        let peer = Arc::new(PeerLink {
            slot: self.slot.clone(),
            state: Mutex::new(Some(LinkState {
                link,
                events: Vec::new(),
            })),
            queue,
            observer,
            id,
            registry: Arc::downgrade(&self.links.links),
        });
        if let Ok(mut r) = self.links.links.lock() {
            r.insert(id, Arc::downgrade(&peer));
        }
        Ok(peer)
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutomergeError, ReadDoc, ROOT};

    use super::*;
    use crate::types::Role;

    fn pump(a: &PeerLink, b: &PeerLink) {
        for _ in 0..100 {
            let ab = a.poll_outgoing().expect("a out");
            for f in &ab {
                b.receive(f.clone()).expect("b in");
            }
            let ba = b.poll_outgoing().expect("b out");
            for f in &ba {
                a.receive(f.clone()).expect("a in");
            }
            if ab.is_empty() && ba.is_empty() {
                return;
            }
        }
        panic!("links still talking after 100 rounds");
    }

    #[test]
    fn changes_the_rules_refuse_are_a_refused_event_and_are_not_stored() {
        let dir = std::env::temp_dir().join(format!("setlink-ffi-peer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let db = |f: &str| dir.join(f).display().to_string();
        let (a, b) = (
            SetlinkStore::open(db("a.db")).expect("a"),
            SetlinkStore::open(db("b.db")).expect("b"),
        );
        a.set_identity("m-a".into(), Role::Coordinator)
            .expect("a id");
        b.set_identity("m-b".into(), Role::Coordinator)
            .expect("b id");
        let kind = DocKind::Board {
            day: "2026-11-24".into(),
        };
        let board = a
            .with(|d| Ok(d.create_document(kind.clone())?))
            .expect("board");
        b.with(|d| Ok(d.import_document(board, kind)?))
            .expect("import");
        let (la, lb) = (
            a.open_peer_link(true).expect("link a"),
            b.open_peer_link(false).expect("link b"),
        );
        pump(&la, &lb);
        la.poll_events().expect("events");

        // A change no app would make: a board's root holds only `runs` and `tasks`.
        b.with(|d| {
            Ok(d.apply(&board, |doc, _, _| {
                doc.transact::<_, _, AutomergeError>(|tx| tx.put(ROOT, "junk", 1))
                    .map_err(|f| f.error)?;
                Ok(())
            })?)
        })
        .expect("b writes");
        pump(&la, &lb);

        let refused: Vec<PeerEvent> = la
            .poll_events()
            .expect("events")
            .into_iter()
            .filter(|e| matches!(e, PeerEvent::Refused { .. }))
            .collect();
        let Some(PeerEvent::Refused {
            doc_id,
            ours,
            rule,
            path,
            message,
        }) = refused.first()
        else {
            panic!("expected a Refused event, got {refused:?}");
        };
        assert_eq!(doc_id, &board.to_string());
        assert!(!ours, "a refused what b sent");
        assert_eq!(rule, "shape");
        assert_eq!(path, "junk");
        assert!(!message.is_empty());
        let junk = a
            .with(|d| Ok(d.read(&board, |doc| doc.get(ROOT, "junk").ok().flatten().is_some())?))
            .expect("read");
        assert!(!junk, "nothing of the refused change was stored");
        // The link stays up.
        assert!(la.progress().expect("progress").connected);

        la.close_link();
        lb.close_link();
        a.close_store();
        b.close_store();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
