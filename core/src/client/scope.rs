//! Which documents a device syncs: [`SyncScope`]. No IO; used by the WebSocket client and
//! usable with a [`super::DeviceLink`] directly.

use std::sync::Mutex;

use crate::access::DocKind;
use crate::device::Device;
use crate::ids::DocumentId;
use crate::model::production::read_index;

/// Which documents to sync.
pub trait SyncScope: Send + Sync {
    /// The documents to sync now, put on the device (`Device::import_document`) if they
    /// are not yet. Called at every connect, when the device reports a document the link
    /// does not sync yet, and when an [`Self::is_index`] document changes. Called with the
    /// device lock held: must not lock it again.
    fn documents(&self, device: &mut Device) -> Vec<DocumentId>;

    /// Whether a change to `doc` can change the scope (the production doc's index).
    fn is_index(&self, _doc: &DocumentId) -> bool {
        false
    }
}

/// Every document on the device.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllDocuments;

impl SyncScope for AllDocuments {
    fn documents(&self, device: &mut Device) -> Vec<DocumentId> {
        device.document_ids()
    }
}

/// What a member's phone syncs: the production doc, then from its index every document
/// the device identity's role may read among: boards and call sheets of the chosen days
/// (today and tomorrow; the app moves them at midnight in the production's timezone),
/// member documents (the member's own; all of them for coordinators and the office, who
/// follow acknowledgements), and shared documents. Older days are opened on demand with
/// `SyncClient::open_document`.
#[derive(Debug)]
pub struct ProductionScope {
    production: DocumentId,
    days: Mutex<Vec<String>>,
}

impl ProductionScope {
    pub fn new(production: DocumentId, days: impl IntoIterator<Item = String>) -> Self {
        ProductionScope {
            production,
            days: Mutex::new(days.into_iter().collect()),
        }
    }

    /// Replaces the synced days (`YYYY-MM-DD`). Takes effect at the next scope
    /// evaluation (reconnect, or a change to the production doc).
    pub fn set_days(&self, days: impl IntoIterator<Item = String>) {
        *self.days.lock().unwrap_or_else(|e| e.into_inner()) = days.into_iter().collect();
    }

    fn wants(&self, kind: &DocKind, member_id: &str) -> bool {
        let days = self.days.lock().unwrap_or_else(|e| e.into_inner());
        match kind {
            DocKind::Production | DocKind::Shared | DocKind::Gear => true,
            // may_read already limits crew and PAs to their own.
            DocKind::Member { .. } | DocKind::Timesheets { .. } => !member_id.is_empty(),
            DocKind::Board { day }
            | DocKind::CallSheetDraft { day }
            | DocKind::CallSheetPublished { day }
            | DocKind::Background { day }
            | DocKind::ProductionReport { day } => days.iter().any(|d| d == day),
        }
    }
}

impl SyncScope for ProductionScope {
    fn documents(&self, device: &mut Device) -> Vec<DocumentId> {
        let mut out = vec![self.production];
        if device.kind_of(&self.production).is_none()
            && device
                .import_document(self.production, DocKind::Production)
                .is_err()
        {
            return out;
        }
        let Some(me) = device.identity().cloned() else {
            return out;
        };
        // An empty or not yet synced production doc has no index: sync just it for now.
        let index = match device.read(&self.production, read_index) {
            Ok(Ok(index)) => index,
            _ => return out,
        };
        for (id, kind) in index {
            if id == self.production
                || !kind.may_read(me.role, &me.member_id)
                || !self.wants(&kind, &me.member_id)
            {
                continue;
            }
            // A kind conflict means the device already knows the document otherwise;
            // it still syncs under the kind it has.
            let _ = device.import_document(id, kind);
            out.push(id);
        }
        out
    }

    fn is_index(&self, doc: &DocumentId) -> bool {
        *doc == self.production
    }
}
