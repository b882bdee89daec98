//! Observers as foreign traits, called from one notifier thread per store.
//!
//! Core calls its observers synchronously while the device is locked. Calling foreign
//! code there would let an observer that reads the store deadlock, and a slow one stall
//! every writer, so the core observer only queues an event; the notifier thread delivers
//! it. A foreign observer that throws (or a panic) is counted and logged, never
//! propagated: the host keeps running and the other observers still hear the event.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};

use setlink_core::device::{ChangeOrigin as CoreOrigin, DocumentObserver as CoreObserver};
use setlink_core::DocumentId;

use crate::types::{ChangeOrigin, DocumentKind};
use crate::SyncStatus;

/// What an observer may throw. Any other exception a foreign observer throws arrives
/// as `Unexpected` (uniffi converts it), so both are handled the same way.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ObserverError {
    #[error("observer failed: {reason}")]
    Failed { reason: String },
    #[error("observer threw: {reason}")]
    Unexpected { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ObserverError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ObserverError::Unexpected { reason: e.reason }
    }
}

/// Hears about every document change on the store, after it is durable.
#[uniffi::export(with_foreign)]
pub trait DocumentObserver: Send + Sync {
    fn document_changed(
        &self,
        doc_id: String,
        kind: Option<DocumentKind>,
        origin: ChangeOrigin,
    ) -> Result<(), ObserverError>;
}

/// Hears every change of the relay sync status.
#[uniffi::export(with_foreign)]
pub trait SyncStatusObserver: Send + Sync {
    fn sync_status_changed(&self, status: SyncStatus) -> Result<(), ObserverError>;
}

/// Looks a document's kind up for the observers.
pub(crate) type KindLookup = Box<dyn Fn(&DocumentId) -> Option<DocumentKind> + Send>;

/// Hears live presence from other members (a PA's ETA on a run): never stored, only
/// delivered while connected.
#[uniffi::export(with_foreign)]
pub trait PresenceObserver: Send + Sync {
    fn presence(&self, presence: crate::sync::Presence) -> Result<(), ObserverError>;
}

/// Hears every change the write rules refused while syncing with the relay: ours (the
/// relay refused a change this device made: say so, and `drop_unconfirmed_changes` returns
/// the document to the relay's state) or theirs (this device refused changes the relay
/// sent; nothing of them was stored).
#[uniffi::export(with_foreign)]
pub trait RefusalObserver: Send + Sync {
    fn refused(&self, refusal: crate::sync::Refusal) -> Result<(), ObserverError>;
}

pub(crate) enum Event {
    Doc {
        doc_id: DocumentId,
        origin: ChangeOrigin,
    },
    Status(SyncStatus),
    Presence(crate::sync::Presence),
    Refusal(crate::sync::Refusal),
    /// Delivered after everything queued before it; used by `flush`.
    Barrier(std::sync::mpsc::SyncSender<()>),
}

/// Queues events for the notifier thread, each stamped with its place in the order they
/// happened, so an observer hears only what happened after it was added (an event still
/// queued when it registers is not its business).
#[derive(Clone)]
pub(crate) struct EventSender {
    tx: Sender<(u64, Event)>,
    seq: Arc<AtomicU64>,
}

impl EventSender {
    pub(crate) fn send(&self, event: Event) -> Result<(), ()> {
        let n = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        self.tx.send((n, event)).map_err(|_| ())
    }
}

/// An observer and the last event sequence number queued before it was added.
struct Entry<T: ?Sized> {
    since: u64,
    observer: Arc<T>,
}

impl<T: ?Sized> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Entry {
            since: self.since,
            observer: self.observer.clone(),
        }
    }
}

#[derive(Default)]
struct Registry {
    docs: BTreeMap<u64, Entry<dyn DocumentObserver>>,
    status: BTreeMap<u64, Entry<dyn SyncStatusObserver>>,
    presence: BTreeMap<u64, Entry<dyn PresenceObserver>>,
    refusals: BTreeMap<u64, Entry<dyn RefusalObserver>>,
}

pub(crate) struct Notifier {
    tx: Mutex<Option<EventSender>>,
    seq: Arc<AtomicU64>,
    registry: Arc<Mutex<Registry>>,
    next_id: AtomicU64,
    failures: Arc<AtomicU64>,
}

impl Notifier {
    /// `kind_of` looks a document's kind up for the observers; it runs on the notifier
    /// thread, outside any core callback, so it may lock the device.
    pub(crate) fn start(kind_of: KindLookup) -> Notifier {
        let (tx, rx) = channel::<(u64, Event)>();
        let seq = Arc::new(AtomicU64::new(0));
        let registry: Arc<Mutex<Registry>> = Arc::default();
        let failures = Arc::new(AtomicU64::new(0));
        let (reg, fails) = (registry.clone(), failures.clone());
        let spawned = std::thread::Builder::new()
            .name("setlink-observers".into())
            .spawn(move || {
                // Ends when every sender is gone (the store closed or dropped).
                while let Ok((n, event)) = rx.recv() {
                    deliver(&reg, &fails, &*kind_of, n, event);
                }
            });
        let tx = match spawned {
            Ok(_) => Some(EventSender {
                tx,
                seq: seq.clone(),
            }),
            Err(e) => {
                tracing::error!("cannot start the observer thread: {e}; observers stay silent");
                None
            }
        };
        Notifier {
            tx: Mutex::new(tx),
            seq,
            registry,
            next_id: AtomicU64::new(1),
            failures,
        }
    }

    pub(crate) fn sender(&self) -> Option<EventSender> {
        self.tx.lock().ok().and_then(|g| g.clone())
    }

    pub(crate) fn send(&self, event: Event) {
        if let Some(tx) = self.sender() {
            let _ = tx.send(event);
        }
    }

    /// Stops the thread once it has delivered what is queued.
    pub(crate) fn shutdown(&self) {
        if let Ok(mut g) = self.tx.lock() {
            g.take();
        }
    }

    pub(crate) fn add_doc(&self, o: Arc<dyn DocumentObserver>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = self.registry.lock() {
            r.docs.insert(id, self.entry(o));
        }
        id
    }

    pub(crate) fn add_status(&self, o: Arc<dyn SyncStatusObserver>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = self.registry.lock() {
            r.status.insert(id, self.entry(o));
        }
        id
    }

    pub(crate) fn add_presence(&self, o: Arc<dyn PresenceObserver>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = self.registry.lock() {
            r.presence.insert(id, self.entry(o));
        }
        id
    }

    pub(crate) fn add_refusal(&self, o: Arc<dyn RefusalObserver>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = self.registry.lock() {
            r.refusals.insert(id, self.entry(o));
        }
        id
    }

    fn entry<T: ?Sized>(&self, observer: Arc<T>) -> Entry<T> {
        Entry {
            since: self.seq.load(Ordering::SeqCst),
            observer,
        }
    }

    pub(crate) fn remove(&self, id: u64) -> bool {
        match self.registry.lock() {
            Ok(mut r) => {
                r.docs.remove(&id).is_some()
                    | r.status.remove(&id).is_some()
                    | r.presence.remove(&id).is_some()
                    | r.refusals.remove(&id).is_some()
            }
            Err(_) => false,
        }
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Waits until every event queued before this call has been delivered.
    pub(crate) fn flush(&self, timeout: std::time::Duration) -> bool {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        match self.sender() {
            Some(s) if s.send(Event::Barrier(tx)).is_ok() => rx.recv_timeout(timeout).is_ok(),
            _ => true,
        }
    }
}

fn deliver(
    reg: &Mutex<Registry>,
    failures: &AtomicU64,
    kind_of: &dyn Fn(&DocumentId) -> Option<DocumentKind>,
    seq: u64,
    event: Event,
) {
    // Snapshot the observers so one can (un)register others from inside a callback; only
    // those added before this event happened hear it.
    fn current<T: ?Sized>(m: &BTreeMap<u64, Entry<T>>, seq: u64) -> Vec<Arc<T>> {
        m.values()
            .filter(|e| e.since < seq)
            .map(|e| e.observer.clone())
            .collect()
    }
    let (docs, status, presence, refusals) = match reg.lock() {
        Ok(r) => (
            current(&r.docs, seq),
            current(&r.status, seq),
            current(&r.presence, seq),
            current(&r.refusals, seq),
        ),
        Err(_) => return,
    };
    let report = |what: &str, outcome: std::thread::Result<Result<(), ObserverError>>| {
        let failure = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "observer panicked".to_owned(),
        };
        failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("{what} observer failed, ignored: {failure}");
    };
    match event {
        Event::Doc { doc_id, origin } => {
            if docs.is_empty() {
                return;
            }
            let kind = kind_of(&doc_id);
            let doc_id = doc_id.to_string();
            for o in docs {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    o.document_changed(doc_id.clone(), kind.clone(), origin)
                }));
                report("document", r);
            }
        }
        Event::Status(s) => {
            for o in status {
                let r = catch_unwind(AssertUnwindSafe(|| o.sync_status_changed(s.clone())));
                report("sync status", r);
            }
        }
        Event::Presence(p) => {
            for o in presence {
                let r = catch_unwind(AssertUnwindSafe(|| o.presence(p.clone())));
                report("presence", r);
            }
        }
        Event::Refusal(refusal) => {
            for o in refusals {
                let r = catch_unwind(AssertUnwindSafe(|| o.refused(refusal.clone())));
                report("refusal", r);
            }
        }
        Event::Barrier(done) => {
            let _ = done.send(());
        }
    }
}

/// The core-side observer: queues the event for the notifier thread and returns.
pub(crate) struct Forwarder(pub(crate) EventSender);

impl CoreObserver for Forwarder {
    fn changed(&self, doc_id: &DocumentId, origin: CoreOrigin) {
        let _ = self.0.send(Event::Doc {
            doc_id: *doc_id,
            origin: origin.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(AtomicU64);

    impl DocumentObserver for Count {
        fn document_changed(
            &self,
            _: String,
            _: Option<DocumentKind>,
            _: ChangeOrigin,
        ) -> Result<(), ObserverError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn an_observer_hears_only_what_happened_after_it_was_added() {
        let notifier = Notifier::start(Box::new(|_| None));
        let tx = notifier.sender().unwrap();
        let doc = DocumentId::random();
        let change = || Event::Doc {
            doc_id: doc,
            origin: ChangeOrigin::Local,
        };
        // Queued before the observer exists, delivered after it is added.
        tx.send(change()).unwrap();
        let count = Arc::new(Count(AtomicU64::new(0)));
        notifier.add_doc(count.clone());
        tx.send(change()).unwrap();
        assert!(notifier.flush(std::time::Duration::from_secs(5)));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }
}
