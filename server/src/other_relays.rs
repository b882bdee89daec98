//! What other relays on the same database did, fed into this relay's hub: the thin shell
//! between the store's [`StoreEvent`]s (PostgreSQL `NOTIFY`, see
//! `storage/postgres/listen.rs`) and [`Hub::foreign_append`] / [`Hub::catch_up`].
//!
//! Notifications arrive in bursts (a busy board changes on several relays at once), so
//! each wake-up drains everything queued, merges what concerns one document (one storage
//! load per document, whatever the number of notifications) and catches the documents up
//! side by side. A `Resync` — the listener lost its connection and may have missed
//! notifications — catches up every loaded document instead. Presence (ephemeral
//! messages another relay relayed) goes to [`Hub::foreign_presence`] as it comes.

use std::collections::HashMap;
use std::sync::Arc;

use automerge::ChangeHash;
use futures_util::future::join_all;
use setlink_core::DocumentId;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::hub::Hub;
use crate::storage::{Presence, StoreEvent};

/// What one drained batch of events asks of the hub.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Every loaded document must catch up (notifications may have been missed).
    pub resync: bool,
    /// Documents another relay appended to, with every head announced for each: the
    /// document must have all of them. `None` when a notification had no room for its
    /// heads: the document reloads what it lacks from storage whatever its heads.
    pub appended: HashMap<DocumentId, Option<Vec<ChangeHash>>>,
    /// Presence other relays relayed, in the order they did (each is delivered; none is
    /// merged away).
    pub presence: Vec<Presence>,
}

impl Batch {
    pub fn add(&mut self, event: StoreEvent) {
        match event {
            StoreEvent::Resync => self.resync = true,
            StoreEvent::Presence(p) => self.presence.push(p),
            StoreEvent::Appended { doc, heads } if heads.is_empty() => {
                self.appended.insert(doc, None);
            }
            StoreEvent::Appended { doc, heads } => {
                let entry = self.appended.entry(doc).or_insert_with(|| Some(Vec::new()));
                if let Some(known) = entry {
                    for h in heads {
                        if !known.contains(&h) {
                            known.push(h);
                        }
                    }
                }
            }
        }
    }
}

/// Runs until the store's event channel closes (the store was dropped).
pub async fn follow(hub: Arc<Hub>, mut events: UnboundedReceiver<StoreEvent>) {
    while let Some(first) = events.recv().await {
        let mut batch = Batch::default();
        batch.add(first);
        while let Ok(more) = events.try_recv() {
            batch.add(more);
        }
        for p in std::mem::take(&mut batch.presence) {
            hub.foreign_presence(p).await;
        }
        apply(&hub, batch).await;
    }
}

async fn apply(hub: &Hub, batch: Batch) {
    if batch.resync {
        hub.catch_up().await;
    }
    // An empty list of heads asks `foreign_append` to reload whatever the document lacks.
    join_all(
        batch
            .appended
            .into_iter()
            .map(|(doc, heads)| hub.foreign_append(doc, heads.unwrap_or_default())),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(b: u8) -> ChangeHash {
        ChangeHash([b; 32])
    }

    #[test]
    fn a_batch_merges_each_documents_heads_and_keeps_a_reload_a_reload() {
        let (a, b) = (DocumentId::random(), DocumentId::random());
        let mut batch = Batch::default();
        for event in [
            StoreEvent::Appended {
                doc: a,
                heads: vec![hash(1)],
            },
            StoreEvent::Appended {
                doc: a,
                heads: vec![hash(2), hash(1)],
            },
            StoreEvent::Appended {
                doc: b,
                heads: vec![hash(3)],
            },
            StoreEvent::Appended {
                doc: b,
                heads: vec![],
            },
            StoreEvent::Appended {
                doc: b,
                heads: vec![hash(4)],
            },
        ] {
            batch.add(event);
        }
        assert!(!batch.resync);
        assert_eq!(batch.appended[&a], Some(vec![hash(1), hash(2)]));
        assert_eq!(
            batch.appended[&b], None,
            "a reload is not narrowed by later heads"
        );
        batch.add(StoreEvent::Resync);
        assert!(batch.resync);
    }
}
