use std::sync::atomic::{AtomicU64, Ordering};

use automerge::transaction::Transactable;
use automerge::{AutomergeError, ReadDoc, ROOT};
use setlink_core::client::{RefusalEvent, RefusalObserver as _};

use super::*;
use crate::observers::{ObserverError, RefusalObserver};

const RELAY_URL: &str = "ws://relay.test/sync";
/// The storage id the phone keeps its sync states with the relay under.
const RELAY: &str = "relay-storage-id";
const PHONE: &str = "phone-storage-id";

/// A database path in a fresh directory, removed on drop.
struct Tmp(std::path::PathBuf);

impl Tmp {
    fn new(name: &str) -> Tmp {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "setlink-ffi-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Tmp(dir)
    }

    fn db(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn put(store: &SetlinkStore, doc: &DocumentId, key: &str, value: i64) {
    store
        .with(|d| {
            Ok(d.apply(doc, |doc, _, _| {
                doc.transact::<_, _, AutomergeError>(|tx| tx.put(ROOT, key, value))
                    .map_err(|f| f.error)?;
                Ok(())
            })?)
        })
        .expect("local change");
}

fn get(store: &SetlinkStore, doc: &DocumentId, key: &str) -> Option<i64> {
    store
        .with(|d| {
            Ok(d.read(doc, |doc| {
                doc.get(ROOT, key)
                    .ok()
                    .flatten()
                    .and_then(|(v, _)| v.as_i64())
            })?)
        })
        .expect("read")
}

fn heads(store: &SetlinkStore, doc: &DocumentId) -> Vec<automerge::ChangeHash> {
    store
        .with(|d| Ok(d.read(doc, |doc| doc.get_heads())?))
        .expect("heads")
}

/// Exchanges sync messages between the phone and a stand-in relay until both are done.
fn sync_with(store: &SetlinkStore, relay: &mut Device, doc: &DocumentId) {
    for _ in 0..20 {
        let up = store
            .with(|d| Ok(d.generate_sync_message(doc, RELAY)?))
            .expect("phone message");
        let down = relay
            .generate_sync_message(doc, PHONE)
            .expect("relay message");
        if up.is_none() && down.is_none() {
            return;
        }
        if let Some(m) = up {
            relay
                .receive_sync_message(doc, PHONE, m)
                .expect("relay applies");
        }
        if let Some(m) = down {
            store
                .with(|d| Ok(d.receive_sync_message(doc, RELAY, m)?))
                .expect("phone applies");
        }
    }
    panic!("still syncing after 20 rounds");
}

#[derive(Default)]
struct Heard(Mutex<Vec<Refusal>>);

impl RefusalObserver for Heard {
    fn refused(&self, refusal: Refusal) -> Result<(), ObserverError> {
        self.0.lock().expect("heard").push(refusal);
        Ok(())
    }
}

struct Throws;

impl RefusalObserver for Throws {
    fn refused(&self, _: Refusal) -> Result<(), ObserverError> {
        Err(ObserverError::Failed {
            reason: "on purpose".into(),
        })
    }
}

#[test]
fn relay_urls_from_what_people_type() {
    let ok = |input: &str, allow: bool| {
        let (sync, api) = relay_urls(input, allow).unwrap_or_else(|e| panic!("{input}: {e}"));
        (sync, api.to_string())
    };
    assert_eq!(
        ok("https://relay.example.org", false),
        (
            "wss://relay.example.org/sync".into(),
            "https://relay.example.org/".into()
        )
    );
    assert_eq!(
        ok(" wss://relay.example.org:8443/sync/ ", false),
        (
            "wss://relay.example.org:8443/sync".into(),
            "https://relay.example.org:8443/".into()
        )
    );
    assert_eq!(
        ok("http://127.0.0.1:7878", false),
        (
            "ws://127.0.0.1:7878/sync".into(),
            "http://127.0.0.1:7878/".into()
        )
    );
    assert_eq!(
        ok("https://example.org/setlink/sync?x=1", false).0,
        "wss://example.org/setlink/sync"
    );
    assert_eq!(
        ok("http://192.168.1.20:7878", true).0,
        "ws://192.168.1.20:7878/sync"
    );
    for (bad, allow) in [
        ("http://192.168.1.20:7878", false),
        ("ws://relay.example.org/sync", false),
        ("ftp://relay.example.org", true),
        ("relay.example.org", true),
        ("", true),
    ] {
        match relay_urls(bad, allow) {
            Err(SetlinkError::InvalidInput { field, .. }) => assert_eq!(field, "relay_url"),
            other => panic!("{bad}: expected InvalidInput, got {other:?}"),
        }
    }
}

#[test]
fn drop_unconfirmed_changes_returns_to_what_the_relay_confirmed() {
    let tmp = Tmp::new("drop");
    let store = SetlinkStore::open(tmp.db("phone.db")).expect("open");
    store
        .set_identity("m-coord".into(), crate::types::Role::Coordinator)
        .expect("identity");
    let doc = store
        .with(|d| Ok(d.create_document(DocKind::Shared)?))
        .expect("document");
    put(&store, &doc, "stops", 1);

    // Never synced with a relay: nothing to return to.
    match store.drop_unconfirmed_changes(doc.to_string()) {
        Err(SetlinkError::NotPossible { reason }) => assert!(reason.contains("relay")),
        other => panic!("expected NotPossible, got {other:?}"),
    }
    assert_eq!(get(&store, &doc, "stops"), Some(1));

    let mut relay = Device::open(tmp.db("relay.db")).expect("relay");
    relay
        .import_document(doc, DocKind::Shared)
        .expect("relay doc");
    sync_with(&store, &mut relay, &doc);
    let confirmed = heads(&store, &doc);
    // What core's SyncClient records when it connects, and start_sync the URL.
    store
        .with(|d| {
            d.set_metadata(META_RELAY_URL, RELAY_URL)?;
            d.set_metadata(&relay_peer_meta_key(RELAY_URL), RELAY)?;
            Ok(())
        })
        .expect("metadata");

    // Nothing unconfirmed: nothing dropped, nothing changed.
    assert!(store
        .drop_unconfirmed_changes(doc.to_string())
        .expect("drop")
        .is_empty());
    assert_eq!(heads(&store, &doc), confirmed);

    // Two local changes the relay never confirmed (say it refused the first).
    put(&store, &doc, "stops", 2);
    put(&store, &doc, "items", 7);
    let unconfirmed = heads(&store, &doc);
    assert_ne!(unconfirmed, confirmed);

    let heard = Arc::new(Heard::default());
    store.add_refusal_observer(heard.clone());
    store.add_refusal_observer(Arc::new(Throws));
    let forwarder = RefusalForwarder {
        latest: store.sync.status.clone(),
        events: store.notifier.sender(),
    };
    forwarder.refused(&RefusalEvent {
        document_id: doc,
        ours: true,
        rule: "transition".into(),
        path: "runs/r1/events/e1".into(),
        message: "not allowed".into(),
    });
    assert!(store.flush_observers(5_000));
    let expected = Refusal {
        doc_id: doc.to_string(),
        ours: true,
        rule: "transition".into(),
        path: "runs/r1/events/e1".into(),
        message: "not allowed".into(),
    };
    assert_eq!(*heard.0.lock().expect("heard"), vec![expected.clone()]);
    assert_eq!(
        store.observer_failures(),
        1,
        "the throwing observer is counted"
    );
    assert_eq!(store.sync_status().last_refusal, Some(expected));

    let dropped = store
        .drop_unconfirmed_changes(doc.to_string())
        .expect("drop");
    assert_eq!(dropped.len(), 2);
    assert!(dropped
        .iter()
        .all(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())));
    assert!(dropped.contains(&unconfirmed[0].to_string()));
    assert_eq!(heads(&store, &doc), confirmed);
    assert_eq!(get(&store, &doc, "stops"), Some(1));
    assert_eq!(get(&store, &doc, "items"), None);
    assert_eq!(
        store.sync_status().last_refusal,
        None,
        "the refusal is settled"
    );

    // Durable: a reopened store has the confirmed state, and keeps working with the
    // relay (the next change syncs on top of what both share).
    store.close_store();
    let store = SetlinkStore::open(tmp.db("phone.db")).expect("reopen");
    assert_eq!(heads(&store, &doc), confirmed);
    put(&store, &doc, "stops", 3);
    sync_with(&store, &mut relay, &doc);
    assert_eq!(
        relay
            .read(&doc, |d| d
                .get(ROOT, "stops")
                .ok()
                .flatten()
                .and_then(|(v, _)| v.as_i64()))
            .expect("relay read"),
        Some(3)
    );
    assert!(store
        .drop_unconfirmed_changes(doc.to_string())
        .expect("drop")
        .is_empty());

    match store.drop_unconfirmed_changes("not a document".into()) {
        Err(SetlinkError::InvalidId { .. }) => {}
        other => panic!("expected InvalidId, got {other:?}"),
    }
    let unknown = DocumentId::random().to_string();
    match store.drop_unconfirmed_changes(unknown) {
        Err(SetlinkError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    store.close_store();
    assert!(matches!(
        store.drop_unconfirmed_changes(doc.to_string()),
        Err(SetlinkError::StoreClosed)
    ));
}
