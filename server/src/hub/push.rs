//! Push on connect (setlink extension, see `setlink_core::sync::engine`): a connection
//! whose peer synced a document before, and which has not changed since, only *watches*
//! it; no document is loaded for it. When the document next changes (a local commit, the
//! relay's own change, or another relay's append) its watchers are taken from here, their
//! persisted sync states loaded by the shell, and the actor makes them subscribers before
//! its fan-out, so the change reaches them. A std mutex over two maps, never held across
//! an await.
//!
//! A connection lists what to push (a storage read) before it watches what is unchanged,
//! so a commit between the two would take no watcher of it and never reach it. While a
//! connection lists, every document that changes is noted for it
//! ([`Watchers::begin_listing`]); it pushes those when it is done.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use setlink_core::sync::engine::Addressee;
use setlink_core::DocumentId;

use super::{lock, ConnId};
use crate::auth::Principal;

/// A connection watching a document it synced in an earlier session.
#[derive(Clone)]
pub(crate) struct Watcher {
    pub(crate) to: Addressee,
    pub(crate) storage_id: String,
    pub(crate) principal: Arc<Principal>,
    /// See `Subscriber::implied_acks`.
    pub(crate) implied_acks: bool,
}

#[derive(Default)]
pub(crate) struct Watchers {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_doc: HashMap<DocumentId, HashMap<ConnId, Watcher>>,
    /// Connections between their storage read and their last watch: the documents whose
    /// watchers were taken meanwhile.
    listing: HashMap<ConnId, HashSet<DocumentId>>,
}

impl Inner {
    fn note_for_listings(&mut self, doc: DocumentId) {
        for missed in self.listing.values_mut() {
            missed.insert(doc);
        }
    }
}

impl Watchers {
    pub(crate) fn watch(&self, doc: DocumentId, conn: ConnId, w: Watcher) {
        lock(&self.inner)
            .by_doc
            .entry(doc)
            .or_default()
            .insert(conn, w);
    }

    pub(crate) fn unwatch(&self, doc: DocumentId, conn: ConnId) {
        let mut inner = lock(&self.inner);
        if let Some(set) = inner.by_doc.get_mut(&doc) {
            set.remove(&conn);
            if set.is_empty() {
                inner.by_doc.remove(&doc);
            }
        }
    }

    /// Takes every watcher of `doc`: it changed (and is durable).
    pub(crate) fn take(&self, doc: DocumentId) -> Vec<(ConnId, Watcher)> {
        let mut inner = lock(&self.inner);
        inner.note_for_listings(doc);
        inner
            .by_doc
            .remove(&doc)
            .map(|m| m.into_iter().collect())
            .unwrap_or_default()
    }

    /// `doc` changed durably elsewhere (another relay): notes it for the connections
    /// listing, and answers whether it has watchers to [`take`](Self::take) (loading it
    /// for nobody would be wasted).
    pub(crate) fn changed(&self, doc: DocumentId) -> bool {
        let mut inner = lock(&self.inner);
        inner.note_for_listings(doc);
        inner.by_doc.contains_key(&doc)
    }

    /// Call before reading what to push to `conn`; [`Listing::finish`] after its last
    /// watch. Dropped unfinished (the connection went away), it forgets the connection.
    pub(crate) fn begin_listing(&self, conn: ConnId) -> Listing<'_> {
        lock(&self.inner).listing.insert(conn, HashSet::new());
        Listing {
            watchers: self,
            conn,
        }
    }
}

/// A connection listing what to push (see [`Watchers::begin_listing`]).
pub(crate) struct Listing<'a> {
    watchers: &'a Watchers,
    conn: ConnId,
}

impl Listing<'_> {
    /// The documents that changed while the connection listed: any it only watches may
    /// have changed before its watch, so it pushes them.
    pub(crate) fn finish(self) -> HashSet<DocumentId> {
        let missed = lock(&self.watchers.inner).listing.remove(&self.conn);
        missed.unwrap_or_default()
    }
}

impl Drop for Listing<'_> {
    fn drop(&mut self) {
        lock(&self.watchers.inner).listing.remove(&self.conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use setlink_core::Role;

    fn phone() -> Watcher {
        Watcher {
            to: Addressee::new("relay", "phone"),
            storage_id: "phone-storage".into(),
            principal: Arc::new(Principal {
                member_id: "member-phone".into(),
                production_id: "p1".into(),
                name: "Pat".into(),
                role: Role::Pa,
                device_id: "phone".into(),
                token_hash: "token-phone".into(),
                token_expires_at_ms: i64::MAX,
            }),
            implied_acks: false,
        }
    }

    #[test]
    fn a_change_between_a_connections_read_and_its_watch_is_noted_for_it() {
        let w = Watchers::default();
        let [changed, foreign, quiet] = [(); 3].map(|()| DocumentId::random());
        let listing = w.begin_listing(1);
        // The connection has read all three as unchanged. A commit here to one, and
        // another relay's append to another, land before its watch and find no watcher.
        assert!(w.take(changed).is_empty());
        assert!(!w.changed(foreign));
        for doc in [changed, foreign, quiet] {
            w.watch(doc, 1, phone());
        }
        assert_eq!(listing.finish(), HashSet::from([changed, foreign]));
        // Listing done: a change elsewhere loads a document only for its watchers.
        assert!(!w.changed(DocumentId::random()));
        assert!(w.changed(quiet));
        assert_eq!(w.take(quiet).len(), 1);
    }

    #[test]
    fn a_connection_gone_while_listing_is_forgotten() {
        let w = Watchers::default();
        drop(w.begin_listing(1));
        let doc = DocumentId::random();
        assert!(!w.changed(doc));
        assert!(w.take(doc).is_empty());
        assert!(lock(&w.inner).listing.is_empty());
    }
}
