//! Push on connect (setlink extension, see `setlink_core::sync::engine`): a connection
//! whose peer synced a document before, and which has not changed since, only *watches*
//! it; no document is loaded for it. When the document next changes (a local commit, the
//! relay's own change, or another relay's append) its watchers are taken from here, their
//! persisted sync states loaded by the shell, and the actor makes them subscribers before
//! its fan-out, so the change reaches them. A std mutex over a map, never held across an
//! await.

use std::collections::HashMap;
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
}

#[derive(Default)]
pub(crate) struct Watchers {
    by_doc: Mutex<HashMap<DocumentId, HashMap<ConnId, Watcher>>>,
}

impl Watchers {
    pub(crate) fn watch(&self, doc: DocumentId, conn: ConnId, w: Watcher) {
        lock(&self.by_doc).entry(doc).or_default().insert(conn, w);
    }

    pub(crate) fn unwatch(&self, doc: DocumentId, conn: ConnId) {
        let mut m = lock(&self.by_doc);
        if let Some(set) = m.get_mut(&doc) {
            set.remove(&conn);
            if set.is_empty() {
                m.remove(&doc);
            }
        }
    }

    /// Takes every watcher of `doc`: it changed.
    pub(crate) fn take(&self, doc: DocumentId) -> Vec<(ConnId, Watcher)> {
        lock(&self.by_doc)
            .remove(&doc)
            .map(|m| m.into_iter().collect())
            .unwrap_or_default()
    }

    pub(crate) fn has(&self, doc: DocumentId) -> bool {
        lock(&self.by_doc).contains_key(&doc)
    }
}
