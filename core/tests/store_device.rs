//! The durable store and the Device facade: reopening, compaction, migrations, refusing
//! bad files, permissions, observers and the sync hooks.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ScalarValue, Value, ROOT};
use setlink_core::device::ObserverId;
use setlink_core::store::{APPLICATION_ID, SCHEMA_VERSION};
use setlink_core::DomainError;
use setlink_core::{
    Author, ChangeOrigin, Clock, Device, DeviceError, DocKind, DocumentId, DocumentObserver, Role,
    Store, StoreError,
};

fn author(role: Role) -> Author {
    Author {
        member_id: "m-1".into(),
        device_id: "d-1".into(),
        role,
    }
}

fn board() -> DocKind {
    DocKind::Board {
        day: "2026-11-24".into(),
    }
}

/// Puts `key = value` in the document root, as one commit.
fn put(
    key: String,
    value: i64,
) -> impl FnOnce(&mut Automerge, &Author, i64) -> Result<(), DomainError> {
    move |doc, _, _| {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, value)?;
        tx.commit();
        Ok(())
    }
}

fn get_int(doc: &Automerge, key: &str) -> Option<i64> {
    match doc.get(ROOT, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Int(i) => Some(*i),
            _ => None,
        },
        _ => None,
    }
}

fn device_at(path: &Path, role: Role) -> Device {
    let mut d = Device::open(path).unwrap();
    d.set_identity(author(role)).unwrap();
    d
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(DocumentId, ChangeOrigin)>>);
impl DocumentObserver for Recorder {
    fn changed(&self, doc_id: &DocumentId, origin: ChangeOrigin) {
        self.0.lock().unwrap().push((*doc_id, origin));
    }
}
impl Recorder {
    fn events(&self) -> Vec<(DocumentId, ChangeOrigin)> {
        self.0.lock().unwrap().clone()
    }
}

#[test]
fn reopening_restores_documents_kinds_identity_metadata_and_sync_states() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let (prod, day, heads, state, storage_id) = {
        let mut d = device_at(&path, Role::Coordinator);
        let prod = d.create_document(DocKind::Production).unwrap();
        let day = d.create_document(board()).unwrap();
        for i in 0..20 {
            d.apply(&prod, put(format!("k{i}"), i)).unwrap();
        }
        d.apply(&day, put("runs".into(), 5000)).unwrap();
        d.set_metadata("relay_url", "ws://127.0.0.1:1/").unwrap();
        let mut state = sync::State::new();
        state.shared_heads = d.read(&prod, |doc| doc.get_heads()).unwrap();
        d.save_sync_state(&prod, "relay-storage", state.clone())
            .unwrap();
        let heads = d.read(&prod, |doc| doc.get_heads()).unwrap();
        (prod, day, heads, state, d.storage_id().to_owned())
    };
    let mut d = Device::open(&path).unwrap();
    assert_eq!(d.identity(), Some(&author(Role::Coordinator)));
    assert_eq!(d.storage_id(), storage_id);
    let mut ids = d.document_ids();
    ids.sort();
    let mut want = vec![prod, day];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(d.kind_of(&prod), Some(&DocKind::Production));
    assert_eq!(d.kind_of(&day), Some(&board()));
    assert_eq!(d.read(&prod, |doc| doc.get_heads()).unwrap(), heads);
    for i in 0..20 {
        assert_eq!(
            d.read(&prod, |doc| get_int(doc, &format!("k{i}"))).unwrap(),
            Some(i)
        );
    }
    assert_eq!(
        d.read(&day, |doc| get_int(doc, "runs")).unwrap(),
        Some(5000)
    );
    assert_eq!(
        d.metadata("relay_url").unwrap().as_deref(),
        Some("ws://127.0.0.1:1/")
    );
    let restored = d.sync_state(&prod, "relay-storage").unwrap().unwrap();
    assert_eq!(restored.shared_heads, state.shared_heads);
    assert!(d.sync_state(&prod, "other-peer").unwrap().is_none());
    // Application metadata cannot clobber the device's own keys.
    d.set_metadata("identity", "not json").unwrap();
    d.delete_metadata("relay_url").unwrap();
    assert_eq!(d.metadata("relay_url").unwrap(), None);
    drop(d);
    let d = Device::open(&path).unwrap();
    assert_eq!(d.identity(), Some(&author(Role::Coordinator)));
    assert_eq!(d.metadata("identity").unwrap().as_deref(), Some("not json"));
}

#[test]
fn an_unreadable_stored_identity_opens_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    drop(device_at(&path, Role::Pa));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let n = conn
            .execute(
                "UPDATE meta SET value = '{broken' WHERE key = 'identity'",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let mut d = Device::open(&path).unwrap();
    assert_eq!(d.identity(), None);
    d.set_identity(author(Role::Pa)).unwrap();
    drop(d);
    assert_eq!(
        Device::open(&path).unwrap().identity(),
        Some(&author(Role::Pa))
    );
}

#[test]
fn each_opened_device_writes_under_a_fresh_actor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let (doc_id, first_actor) = {
        let mut d = device_at(&path, Role::Pa);
        let id = d.create_document(board()).unwrap();
        d.apply(&id, put("a".into(), 1)).unwrap();
        (id, d.actor_id().clone())
    };
    let mut d = Device::open(&path).unwrap();
    assert_ne!(d.actor_id(), &first_actor);
    d.apply(&doc_id, put("b".into(), 2)).unwrap();
    let actors = d
        .read(&doc_id, |doc| {
            doc.get_changes(&[])
                .iter()
                .map(|c| c.actor_id().clone())
                .collect::<Vec<_>>()
        })
        .unwrap();
    assert_eq!(actors, vec![first_actor, d.actor_id().clone()]);
}

#[test]
fn appends_are_incremental_and_compaction_keeps_them_below_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let id;
    let mut compacted_once = false;
    {
        let mut d = device_at(&path, Role::Coordinator);
        id = d.create_document(DocKind::Production).unwrap();
        for i in 0..600 {
            let before = d.store().bytes_written();
            d.apply(&id, put(format!("key-{i}"), i)).unwrap();
            let written = d.store().bytes_written() - before;
            let change_len = d
                .read(&id, |doc| {
                    doc.get_last_local_change()
                        .map(|c| c.raw_bytes().len())
                        .unwrap_or(0)
                })
                .unwrap() as u64;
            // Either exactly the change's bytes were appended, or the document was
            // compacted into a snapshot in that same commit; never anything in between.
            if written != change_len {
                compacted_once = true;
                assert!(
                    written > change_len,
                    "append {i} wrote {written} < {change_len}"
                );
            }
        }
    }
    assert!(compacted_once, "600 appends never compacted");
    let mut store = Store::open(&path).unwrap();
    let stats = store.stats(&id).unwrap();
    assert!(stats.snapshot_bytes > 0);
    assert!(
        stats.incremental_bytes <= stats.snapshot_bytes.max(8 * 1024),
        "{stats:?}"
    );
    let doc = store.load_document(&id).unwrap();
    for i in 0..600 {
        assert_eq!(get_int(&doc, &format!("key-{i}")), Some(i));
    }
    assert_eq!(doc.get_changes(&[]).len(), 600);
    // An explicit compaction leaves only the snapshot and the same content.
    let heads = doc.get_heads();
    store.compact(&id, &doc).unwrap();
    let stats = store.stats(&id).unwrap();
    assert_eq!((stats.incremental_bytes, stats.incremental_count), (0, 0));
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.stats(&id).unwrap().incremental_count, 0);
    assert_eq!(store.load_document(&id).unwrap().get_heads(), heads);
}

#[test]
fn a_new_or_empty_sqlite_file_is_migrated_from_version_0_to_current() {
    let dir = tempfile::tempdir().unwrap();
    // A file SQLite created but nobody wrote a schema into: version 0.
    let path = dir.path().join("empty.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 0);
        conn.execute_batch("VACUUM").unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    store.check_integrity().unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(app, APPLICATION_ID);
    // And a path with no file at all.
    let store = Store::open(dir.path().join("new.db")).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn random_bytes_are_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    let junk: Vec<u8> = (0..64 * 1024).map(|_| rand::random::<u8>()).collect();
    std::fs::write(&path, &junk).unwrap();
    match Device::open(&path) {
        Err(DeviceError::Store(StoreError::NotADatabase { path: p })) => assert_eq!(p, path),
        other => panic!("expected NotADatabase, got {other:?}"),
    }
    assert!(
        std::fs::read(&path).unwrap() == junk,
        "the file was modified"
    );
    // A directory, or a path under a missing directory, is an error too.
    for bad in [
        dir.path().to_path_buf(),
        dir.path().join("missing/device.db"),
    ] {
        match Device::open(&bad) {
            Err(DeviceError::Store(e)) => {
                assert!(e.to_string().contains(&*bad.to_string_lossy()), "{e}")
            }
            other => panic!("expected a store error for {bad:?}, got {other:?}"),
        }
    }
}

#[test]
fn another_applications_sqlite_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE contacts (name TEXT, phone TEXT);
             INSERT INTO contacts VALUES ('Ann', '555');",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    match Store::open(&path) {
        Err(StoreError::Foreign { tables, .. }) => assert_eq!(tables, 1),
        other => panic!("expected Foreign, got {other:?}"),
    }
    assert!(
        std::fs::read(&path).unwrap() == before,
        "the file was modified"
    );
    // Another application that set its own application_id, with no tables.
    let path2 = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path2).unwrap();
        conn.pragma_update(None, "application_id", 0x1234_5678)
            .unwrap();
    }
    match Store::open(&path2) {
        Err(StoreError::Foreign { application_id, .. }) => {
            assert_eq!(application_id, 0x1234_5678)
        }
        other => panic!("expected Foreign, got {other:?}"),
    }
}

#[test]
fn a_store_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    match Device::open(&path) {
        Err(DeviceError::Store(StoreError::TooNew {
            found, supported, ..
        })) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn a_damaged_store_gives_a_typed_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let id = {
        let mut d = device_at(&path, Role::Coordinator);
        let id = d.create_document(DocKind::Production).unwrap();
        for i in 0..300 {
            d.apply(&id, put(format!("a-rather-long-key-to-fill-pages-{i}"), i))
                .unwrap();
        }
        id
    };
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 3 * 4096, "store too small: {}", bytes.len());
    // Scribble over everything after the first page (the header stays valid).
    for b in bytes.iter_mut().skip(4096) {
        *b = rand::random();
    }
    std::fs::write(&path, &bytes).unwrap();
    let outcome = Device::open(&path).and_then(|mut d| d.read(&id, |doc| doc.get_heads()));
    match outcome {
        Err(DeviceError::Store(
            StoreError::Corrupt { .. } | StoreError::CorruptDocument { .. },
        )) => {}
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

#[test]
fn a_corrupt_change_row_names_its_document_and_spares_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let (bad, good) = {
        let mut d = device_at(&path, Role::Coordinator);
        let bad = d.create_document(DocKind::Production).unwrap();
        let good = d.create_document(board()).unwrap();
        d.apply(&bad, put("x".into(), 1)).unwrap();
        d.apply(&bad, put("y".into(), 2)).unwrap();
        d.apply(&good, put("z".into(), 3)).unwrap();
        (bad, good)
    };
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let n = conn
            .execute(
                "UPDATE changes SET data = x'856f4a83deadbeef' WHERE doc_id = ?1 AND seq = 2",
                [bad.as_bytes().as_slice()],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let mut d = Device::open(&path).unwrap();
    match d.read(&bad, |doc| doc.get_heads()) {
        Err(err @ DeviceError::Store(StoreError::CorruptDocument { id, .. })) => {
            assert_eq!(id, bad);
            assert!(err.to_string().contains(&bad.to_string()), "{err}");
        }
        other => panic!("expected CorruptDocument, got {other:?}"),
    }
    assert_eq!(d.read(&good, |doc| get_int(doc, "z")).unwrap(), Some(3));
}

#[test]
fn a_second_opener_of_the_same_file_is_told_it_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let _first = Device::open(&path).unwrap();
    match Device::open(&path) {
        Err(DeviceError::Store(StoreError::Locked { .. })) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn a_role_that_may_not_write_changes_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let mut d = device_at(&path, Role::Coordinator);
    let day = d.create_document(board()).unwrap();
    let draft = d
        .create_document(DocKind::CallSheetDraft {
            day: "2026-11-24".into(),
        })
        .unwrap();
    d.apply(&day, put("seed".into(), 1)).unwrap();
    let rec = Arc::new(Recorder::default());
    d.add_observer(rec.clone());
    for (role, doc) in [(Role::Crew, day), (Role::Pa, draft), (Role::Office, draft)] {
        d.set_identity(author(role)).unwrap();
        let heads = d.read(&doc, |doc| doc.get_heads()).unwrap();
        let written = d.store().bytes_written();
        let mut ran = false;
        let result = d.apply(&doc, |doc: &mut Automerge, _: &Author, _| {
            ran = true;
            put("forbidden".into(), 9)(doc, &author(role), 0)
        });
        match result {
            Err(DeviceError::Forbidden {
                doc_id, role: r, ..
            }) => {
                assert_eq!((doc_id, r), (doc, role))
            }
            other => panic!("expected Forbidden, got {other:?}"),
        }
        assert!(!ran, "the operation ran for a {role}");
        assert_eq!(d.read(&doc, |doc| doc.get_heads()).unwrap(), heads);
        assert_eq!(d.store().bytes_written(), written);
    }
    assert!(rec.events().is_empty());
    drop(d);
    let mut d = Device::open(&path).unwrap();
    assert_eq!(d.read(&day, |doc| get_int(doc, "forbidden")).unwrap(), None);
    assert_eq!(d.read(&draft, |doc| doc.get_heads()).unwrap(), vec![]);
}

#[test]
fn a_failing_operation_changes_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let mut d = device_at(&path, Role::Pa);
    let day = d.create_document(board()).unwrap();
    d.apply(&day, put("a".into(), 1)).unwrap();
    let rec = Arc::new(Recorder::default());
    d.add_observer(rec.clone());
    let heads = d.read(&day, |doc| doc.get_heads()).unwrap();
    let written = d.store().bytes_written();
    // Fails before committing: the transaction is rolled back.
    let r = d.apply(&day, |doc: &mut Automerge, _: &Author, _| {
        let mut tx = doc.transaction();
        tx.put(ROOT, "b", 2)?;
        tx.delete(ROOT, "no-such-key")?;
        tx.get(ROOT, "b")?;
        Err::<(), _>(DomainError::UnknownRun("r-7".into()))
    });
    assert!(
        matches!(r, Err(DeviceError::Domain(DomainError::UnknownRun(_)))),
        "{r:?}"
    );
    // Commits, then fails (against the domain contract): the device must still not keep it.
    let r = d.apply(&day, |doc: &mut Automerge, _: &Author, _| {
        put("c".into(), 3)(doc, &author(Role::Pa), 0)?;
        Err::<(), _>(DomainError::UnknownRun("r-8".into()))
    });
    assert!(r.is_err());
    assert_eq!(d.read(&day, |doc| doc.get_heads()).unwrap(), heads);
    assert_eq!(d.read(&day, |doc| get_int(doc, "c")).unwrap(), None);
    assert_eq!(d.store().bytes_written(), written);
    assert!(rec.events().is_empty());
    // An unknown document is its own error.
    let stranger = DocumentId::random();
    assert!(matches!(
        d.apply(&stranger, put("x".into(), 1)),
        Err(DeviceError::UnknownDocument(id)) if id == stranger
    ));
}

#[test]
fn without_an_identity_nothing_can_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Device::open(dir.path().join("device.db")).unwrap();
    let id = d.create_document(board()).unwrap();
    assert!(matches!(
        d.apply(&id, put("x".into(), 1)),
        Err(DeviceError::NoIdentity)
    ));
}

struct FixedClock(AtomicI64);
impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[test]
fn operations_get_the_injected_clock_and_the_identity_and_observers_hear_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let clock = Arc::new(FixedClock(AtomicI64::new(1_764_000_000_123)));
    let mut d = Device::open_with_clock(&path, clock.clone()).unwrap();
    d.set_identity(author(Role::Office)).unwrap();
    let id = d.create_document(board()).unwrap();
    let rec = Arc::new(Recorder::default());
    let obs: ObserverId = d.add_observer(rec.clone());
    let seen = d
        .apply(&id, |doc: &mut Automerge, by: &Author, at: i64| {
            put("t".into(), at)(doc, by, at)?;
            Ok::<_, DomainError>((by.clone(), at))
        })
        .unwrap();
    assert_eq!(seen, (author(Role::Office), 1_764_000_000_123));
    assert_eq!(rec.events(), vec![(id, ChangeOrigin::Local)]);
    clock.0.store(5, Ordering::SeqCst);
    assert_eq!(d.now_ms(), 5);
    assert!(d.remove_observer(obs));
    d.apply(&id, put("u".into(), 1)).unwrap();
    assert_eq!(rec.events().len(), 1);
    // An operation that changes nothing stores nothing and tells nobody.
    let written = d.store().bytes_written();
    d.add_observer(rec.clone());
    d.apply(&id, |_: &mut Automerge, _: &Author, _| {
        Ok::<_, DomainError>(())
    })
    .unwrap();
    assert_eq!(d.store().bytes_written(), written);
    assert_eq!(rec.events().len(), 1);
}

#[test]
fn importing_documents_records_kinds_and_refuses_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let mut d = Device::open(&path).unwrap();
    let a = DocumentId::random();
    let b = DocumentId::random();
    assert!(d.import_document(a, board()).unwrap());
    assert!(!d.import_document(a, board()).unwrap());
    match d.import_document(a, DocKind::Production) {
        Err(DeviceError::KindConflict {
            existing,
            requested,
            ..
        }) => assert_eq!((existing, requested), (board(), DocKind::Production)),
        other => panic!("expected KindConflict, got {other:?}"),
    }
    assert!(d.import_document(b, DocKind::Shared).unwrap());
    assert!(!d
        .import_document(
            b,
            DocKind::CallSheetPublished {
                day: "2026-11-25".into()
            }
        )
        .unwrap());
    drop(d);
    let d = Device::open(&path).unwrap();
    assert_eq!(d.kind_of(&a), Some(&board()));
    assert_eq!(
        d.kind_of(&b),
        Some(&DocKind::CallSheetPublished {
            day: "2026-11-25".into()
        })
    );
}

/// Runs the sync protocol between two devices until neither has anything to say.
/// Returns the bytes exchanged.
fn sync_pair(a: &mut Device, a_peer: &str, b: &mut Device, b_peer: &str, id: &DocumentId) -> usize {
    let mut bytes = 0;
    for _ in 0..20 {
        let mut quiet = true;
        if let Some(m) = a.generate_sync_message(id, b_peer).unwrap() {
            let enc = m.encode();
            bytes += enc.len();
            b.receive_sync_message(id, a_peer, sync::Message::decode(&enc).unwrap())
                .unwrap();
            quiet = false;
        }
        if let Some(m) = b.generate_sync_message(id, a_peer).unwrap() {
            let enc = m.encode();
            bytes += enc.len();
            a.receive_sync_message(id, b_peer, sync::Message::decode(&enc).unwrap())
                .unwrap();
            quiet = false;
        }
        if quiet {
            return bytes;
        }
    }
    panic!("sync did not settle");
}

#[test]
fn sync_messages_are_applied_persisted_and_resume_from_persisted_states() {
    let dir = tempfile::tempdir().unwrap();
    let pa_path = dir.path().join("pa.db");
    let relay_path = dir.path().join("relay.db");
    let mut pa = device_at(&pa_path, Role::Pa);
    let mut relay = device_at(&relay_path, Role::Coordinator);
    assert_ne!(pa.storage_id(), relay.storage_id());
    let id = pa.create_document(DocKind::Shared).unwrap();
    relay.import_document(id, DocKind::Shared).unwrap();
    for i in 0..200 {
        pa.apply(&id, |doc: &mut Automerge, _: &Author, _| {
            let mut tx = doc.transaction();
            tx.put(ROOT, format!("run-{i}"), i)?;
            // Incompressible notes, so the history outweighs the sync protocol's overhead.
            let note: String = (0..100).map(|_| rand::random_range('a'..='z')).collect();
            tx.put(ROOT, format!("note-{i}"), note)?;
            tx.commit();
            Ok::<_, DomainError>(())
        })
        .unwrap();
    }
    assert_eq!(pa.unconfirmed_changes(&id, "relay").unwrap(), 200);
    let rec = Arc::new(Recorder::default());
    relay.add_observer(rec.clone());
    let first = sync_pair(&mut pa, "pa", &mut relay, "relay", &id);
    assert!(rec
        .events()
        .iter()
        .all(|e| *e == (id, ChangeOrigin::Remote)));
    assert!(!rec.events().is_empty());
    assert_eq!(pa.unconfirmed_changes(&id, "relay").unwrap(), 0);
    pa.apply(&id, put("late".into(), 1)).unwrap();
    assert_eq!(pa.unconfirmed_changes(&id, "relay").unwrap(), 1);
    let heads = pa.read(&id, |doc| doc.get_heads()).unwrap();
    drop(pa);
    drop(relay);

    // Both restart: the received changes are on disk, and the persisted shared heads make
    // the reconnect cost what changed, not the whole history.
    let mut pa = Device::open(&pa_path).unwrap();
    let mut relay = Device::open(&relay_path).unwrap();
    assert_eq!(
        relay.read(&id, |d| get_int(d, "run-199")).unwrap(),
        Some(199)
    );
    assert_eq!(pa.unconfirmed_changes(&id, "relay").unwrap(), 1);
    let again = sync_pair(&mut pa, "pa", &mut relay, "relay", &id);
    assert!(
        again * 10 < first,
        "reconnect exchanged {again} bytes, first sync {first}"
    );
    assert_eq!(relay.read(&id, |doc| doc.get_heads()).unwrap(), heads);
    assert_eq!(pa.unconfirmed_changes(&id, "relay").unwrap(), 0);
    // A disconnect keeps the persisted state.
    pa.peer_disconnected("relay");
    assert_eq!(
        pa.sync_state(&id, "relay").unwrap().unwrap().shared_heads,
        heads
    );
}

#[test]
fn an_invalid_sync_message_changes_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = device_at(&dir.path().join("d.db"), Role::Pa);
    let id = d.create_document(board()).unwrap();
    d.apply(&id, put("a".into(), 1)).unwrap();
    let heads = d.read(&id, |doc| doc.get_heads()).unwrap();
    let written = d.store().bytes_written();
    let mut other = Automerge::new();
    let msg = other
        .generate_sync_message(&mut sync::State::new())
        .unwrap();
    let bad = sync::Message {
        changes: vec![vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 5]].into(),
        ..msg
    };
    match d.receive_sync_message(&id, "peer", bad) {
        Err(DeviceError::BadSyncMessage { doc_id, .. }) => assert_eq!(doc_id, id),
        other => panic!("expected BadSyncMessage, got {other:?}"),
    }
    assert_eq!(d.read(&id, |doc| doc.get_heads()).unwrap(), heads);
    assert_eq!(d.store().bytes_written(), written);
    assert!(d.sync_state(&id, "peer").unwrap().is_none());
    // And unknown documents are refused before anything happens.
    let _ = other.transaction().commit();
    let msg = other
        .generate_sync_message(&mut sync::State::new())
        .unwrap();
    let stranger = DocumentId::random();
    assert!(matches!(
        d.receive_sync_message(&stranger, "peer", msg),
        Err(DeviceError::UnknownDocument(s)) if s == stranger
    ));
}

#[test]
fn publishing_writes_the_published_sheet_from_the_draft_and_checks_both_documents() {
    use setlink_core::model::callsheet::{self, CallSheet};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let day = "2026-11-24";
    let mut d = device_at(&path, Role::Coordinator);
    let draft = d
        .create_document(DocKind::CallSheetDraft { day: day.into() })
        .unwrap();
    let published = d
        .create_document(DocKind::CallSheetPublished { day: day.into() })
        .unwrap();
    d.apply(&draft, |doc, by, at| {
        callsheet::init_draft(doc, by, at, day, CallSheet::for_day(day, "Night Shift"))
    })
    .unwrap();
    d.apply(&published, |doc, by, at| {
        callsheet::init_published(doc, by, at, day)
    })
    .unwrap();
    let rev = d
        .apply_with(&published, &draft, |p, dr, by, at| {
            callsheet::publish(dr, p, by, at, "")
        })
        .unwrap();
    assert_eq!(rev.number, 1);
    assert!(matches!(
        d.apply_with(&draft, &draft, |_, _, _, _| Ok(())),
        Err(DeviceError::SameDocument(id)) if id == draft
    ));
    // The office reads drafts but may not publish; crew may not even read the draft.
    d.set_identity(author(Role::Office)).unwrap();
    assert!(matches!(
        d.apply_with(&published, &draft, |p, dr, by, at| {
            callsheet::publish(dr, p, by, at, "again").map(|_| ())
        }),
        Err(DeviceError::Forbidden {
            role: Role::Office,
            ..
        })
    ));
    d.set_identity(author(Role::Crew)).unwrap();
    let own = d
        .create_document(DocKind::Member {
            member_id: "m-1".into(),
        })
        .unwrap();
    assert!(matches!(
        d.apply_with(&own, &draft, |_, _, _, _| Ok(())),
        Err(DeviceError::MayNotRead { role: Role::Crew, doc_id, .. }) if doc_id == draft
    ));
    drop(d);
    let mut d = Device::open(&path).unwrap();
    let latest = d
        .read(&published, callsheet::latest_revision)
        .unwrap()
        .unwrap();
    assert_eq!((latest.number, latest.id), (1, rev.id));
    // The draft is still there and readable after being lent to the operation.
    assert!(d.read(&draft, callsheet::read_draft).unwrap().is_ok());
}

#[test]
fn load_all_loads_every_document_and_names_a_corrupt_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let mut ids = Vec::new();
    {
        let mut d = device_at(&path, Role::Coordinator);
        for i in 0..12 {
            let id = d
                .create_document(DocKind::Board {
                    day: format!("2026-11-{:02}", i + 1),
                })
                .unwrap();
            d.apply(&id, put("n".into(), i)).unwrap();
            ids.push(id);
        }
    }
    let mut d = Device::open(&path).unwrap();
    d.load_all().unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(d.read(id, |doc| get_int(doc, "n")).unwrap(), Some(i as i64));
    }
    drop(d);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE changes SET data = x'856f4a830000000001' WHERE doc_id = ?1",
            [ids[5].as_bytes().as_slice()],
        )
        .unwrap();
    }
    let mut d = Device::open(&path).unwrap();
    match d.load_all() {
        Err(DeviceError::Store(StoreError::CorruptDocument { id, .. })) => assert_eq!(id, ids[5]),
        other => panic!("expected CorruptDocument, got {other:?}"),
    }
    assert_eq!(d.read(&ids[4], |doc| get_int(doc, "n")).unwrap(), Some(4));
}

#[test]
fn a_device_can_move_to_another_thread() {
    // The FFI layer and the sync client hold the Device behind a Mutex on other threads.
    fn assert_send<T: Send>() {}
    assert_send::<Device>();
    assert_send::<Store>();
    let dir = tempfile::tempdir().unwrap();
    let mut d = device_at(&dir.path().join("d.db"), Role::Pa);
    let id = d.create_document(board()).unwrap();
    let handle = std::thread::spawn(move || {
        d.apply(&id, put("x".into(), 1)).unwrap();
        d.read(&id, |doc| get_int(doc, "x")).unwrap()
    });
    assert_eq!(handle.join().unwrap(), Some(1));
}

#[test]
fn several_changes_arriving_in_one_sync_message_are_accepted() {
    // automerge packs every change a peer lacks into one concatenated chunk; a PA coming
    // back from a basement with several edits sends exactly that.
    let dir = tempfile::tempdir().unwrap();
    let mut pa = device_at(&dir.path().join("pa.db"), Role::Pa);
    let mut relay = device_at(&dir.path().join("relay.db"), Role::Coordinator);
    let id = pa.create_document(DocKind::Shared).unwrap();
    relay.import_document(id, DocKind::Shared).unwrap();
    // Enough shared history that three new changes are sent as changes, not as the
    // whole document (automerge sends a full save past a third of the history).
    for i in 0..20 {
        pa.apply(&id, put(format!("before-{i}"), i)).unwrap();
    }
    sync_pair(&mut pa, "pa", &mut relay, "relay", &id);
    for i in 0..3 {
        pa.apply(&id, put(format!("offline-{i}"), i)).unwrap();
    }
    sync_pair(&mut pa, "pa", &mut relay, "relay", &id);
    assert_eq!(
        relay.read(&id, |d| get_int(d, "offline-2")).unwrap(),
        Some(2)
    );
    assert_eq!(
        relay.read(&id, |d| d.get_heads()).unwrap(),
        pa.read(&id, |d| d.get_heads()).unwrap()
    );
}

/// PRODUCT.md: received means "their device synced it". A device that syncs a published
/// call sheet records "received" for its latest revision in its member's own document by
/// itself, once per revision; when the member's document arrives after the sheet, it is
/// recorded then. A member document not yet synced (no owner) is never claimed for it.
#[test]
fn syncing_a_published_sheet_records_received_once_per_revision() {
    use setlink_core::model::callsheet::{self, CallSheet};
    use setlink_core::model::member::{self, AckLevel};
    let dir = tempfile::tempdir().unwrap();
    let day = "2026-11-24";
    let crew_device = |name: &str| {
        let mut d = Device::open(dir.path().join(format!("{name}.db"))).unwrap();
        d.set_identity(Author {
            member_id: "m-crew".into(),
            device_id: name.into(),
            role: Role::Crew,
        })
        .unwrap();
        d
    };
    let mut coord = device_at(&dir.path().join("coord.db"), Role::Coordinator);
    let draft = coord
        .create_document(DocKind::CallSheetDraft { day: day.into() })
        .unwrap();
    let published = coord
        .create_document(DocKind::CallSheetPublished { day: day.into() })
        .unwrap();
    coord
        .apply(&draft, |doc, by, at| {
            callsheet::init_draft(doc, by, at, day, CallSheet::for_day(day, "Night Shift"))
        })
        .unwrap();
    coord
        .apply(&published, |doc, by, at| {
            callsheet::init_published(doc, by, at, day)
        })
        .unwrap();
    let publish = |coord: &mut Device, summary: &'static str| {
        coord
            .apply_with(&published, &draft, move |p, dr, by, at| {
                callsheet::publish(dr, p, by, at, summary)
            })
            .unwrap()
    };
    assert_eq!(publish(&mut coord, "").number, 1);
    let kind = DocKind::CallSheetPublished { day: day.into() };
    let member_kind = DocKind::Member {
        member_id: "m-crew".into(),
    };
    let acks = |dev: &mut Device, mine: &DocumentId| {
        dev.read(mine, |d| {
            (
                member::ack_for(d, day, 1),
                member::ack_for(d, day, 2),
                d.get_changes(&[]).len(),
            )
        })
        .unwrap()
    };

    // The member's document as the relay makes it: owned, nothing acknowledged.
    let mut phone = crew_device("phone");
    let mine = phone.create_document(member_kind.clone()).unwrap();
    phone.apply(&mine, member::init_member_doc).unwrap();

    // A second device of the member syncs the sheet before it has the member document:
    // nothing is recorded, the empty document is not claimed.
    let mut tablet = crew_device("tablet");
    tablet.import_document(published, kind.clone()).unwrap();
    tablet.import_document(mine, member_kind.clone()).unwrap();
    sync_pair(&mut coord, "coord", &mut tablet, "tablet", &published);
    assert_eq!(acks(&mut tablet, &mine), (None, None, 0));
    // The member document arrives: revision 1 is recorded as received then.
    sync_pair(&mut phone, "phone", &mut tablet, "tablet", &mine);
    let (first, second, changes) = acks(&mut tablet, &mine);
    let first = first.expect("received recorded for revision 1");
    assert!(first.has(AckLevel::Received) && !first.has(AckLevel::Opened));
    assert_eq!((second, changes), (None, 2));

    // The phone learns of it, then syncs the sheet: already received, nothing written.
    sync_pair(&mut phone, "phone", &mut tablet, "tablet", &mine);
    phone.import_document(published, kind.clone()).unwrap();
    sync_pair(&mut coord, "coord", &mut phone, "phone", &published);
    assert_eq!(acks(&mut phone, &mine), (Some(first.clone()), None, 2));

    // Revision 2 reaches the phone: received once, for it alone; revision 1 keeps its time.
    assert_eq!(publish(&mut coord, "Moved to stage 4").number, 2);
    sync_pair(&mut coord, "coord", &mut phone, "phone", &published);
    let (again, second, changes) = acks(&mut phone, &mine);
    assert_eq!(again, Some(first));
    assert!(second.is_some_and(|a| a.has(AckLevel::Received)));
    assert_eq!(changes, 3, "one change for revision 2's receipt");
    // Syncing again brings nothing new and records nothing more.
    sync_pair(&mut coord, "coord", &mut phone, "phone", &published);
    assert_eq!(acks(&mut phone, &mine).2, 3);

    // It is stored: a reopened device reads it.
    drop(phone);
    let mut phone = crew_device("phone");
    assert!(acks(&mut phone, &mine).1.is_some());

    // Without a member document to write to (a coordinator's device here), syncing a
    // sheet records nothing and fails nothing.
    let mut other = device_at(&dir.path().join("other.db"), Role::Coordinator);
    other.import_document(published, kind).unwrap();
    sync_pair(&mut coord, "coord", &mut other, "other", &published);
    assert_eq!(other.document_ids().len(), 1);
}
