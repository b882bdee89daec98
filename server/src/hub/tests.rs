use super::*;
use crate::storage::{AccountsStore, DocStore, Production, SqliteStorage};
use automerge::transaction::Transactable;
use automerge::ReadDoc;
use setlink_core::rules::notice;
use setlink_core::Role;

/// A device on core's engine, wired straight to a hub connection.
struct Device {
    engine: engine::Connection,
    conn: Connection,
    rx: OutboundRx,
    doc: Automerge,
    state: sync::State,
    errors: Vec<String>,
    /// Frames handed to the hub.
    sent: usize,
    /// Sync messages received that carried changes.
    with_changes: usize,
    /// Frames received from the hub.
    received: usize,
}

impl Device {
    async fn connect(hub: &Hub, name: &str) -> Device {
        Device::connect_with(hub, name, None).await
    }

    /// `pushes` advertises push on connect (`setlinkPushesChanges`).
    async fn connect_with(hub: &Hub, name: &str, pushes: Option<bool>) -> Device {
        Device::connect_meta(hub, name, pushes, None).await
    }

    /// `implied` advertises acknowledging by silence (`setlinkImpliedAcks`).
    async fn connect_meta(
        hub: &Hub,
        name: &str,
        pushes: Option<bool>,
        implied: Option<bool>,
    ) -> Device {
        let (conn, rx, _kill) = hub.connect(Principal {
            member_id: format!("member-{name}"),
            production_id: "p1".into(),
            name: name.into(),
            role: Role::Coordinator,
            device_id: name.into(),
            token_hash: format!("token-{name}"),
            token_expires_at_ms: i64::MAX,
        });
        let engine = engine::Connection::new(ConnectionConfig::new(
            name.to_owned(),
            Side::Initiator,
            wire::PeerMetadata {
                storage_id: Some(format!("{name}-storage")),
                is_ephemeral: Some(false),
                pushes_changes: pushes,
                implied_acks: implied,
            },
            format!("{name}-session"),
        ));
        let mut d = Device {
            engine,
            conn,
            rx,
            doc: Automerge::new(),
            state: sync::State::new(),
            errors: Vec::new(),
            sent: 0,
            with_changes: 0,
            received: 0,
        };
        d.send(hub).await;
        d.receive(hub).await;
        assert!(d.engine.is_connected());
        d
    }

    /// Hands what the device queued to the hub.
    async fn send(&mut self, hub: &Hub) {
        while let Some(f) = self.engine.poll_transmit() {
            self.sent += 1;
            assert_eq!(hub.handle_frame(&mut self.conn, &f).await, Flow::Continue);
        }
    }

    /// Exchanges messages with the hub until it has nothing more to say (commits run
    /// on their own tasks, so this waits a moment for each answer).
    async fn settle(&mut self, hub: &Hub) {
        while let Ok(Some(out)) =
            tokio::time::timeout(Duration::from_millis(500), self.rx.recv()).await
        {
            self.apply(hub, out).await;
        }
    }

    /// Takes one frame from the hub and applies it.
    async fn receive(&mut self, hub: &Hub) {
        let out = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("the hub answers")
            .expect("connection open");
        self.apply(hub, out).await;
    }

    async fn apply(&mut self, hub: &Hub, out: Outbound) {
        let Outbound::Frame(f) = out else {
            panic!("unexpected {out:?}")
        };
        self.received += 1;
        if let Err(e) = self.engine.handle_frame(&f) {
            self.errors.push(e.to_string());
        }
        while let Some(ev) = self.engine.poll_event() {
            match ev {
                Event::Sync {
                    document_id,
                    message,
                    ..
                } => {
                    self.with_changes += usize::from(!message.changes.is_empty());
                    self.engine
                        .receive_with(document_id, &mut self.doc, &mut self.state, message)
                        .unwrap();
                }
                Event::Ephemeral(e) => {
                    if let Some(n) = notice::decode(&e.data) {
                        self.errors
                            .push(format!("refused ({}): {}", n.rule, n.message));
                    }
                }
                _ => {}
            }
        }
        self.send(hub).await;
    }

    async fn put(&mut self, hub: &Hub, doc_id: DocumentId, value: &str) {
        let mut tx = self.doc.transaction();
        tx.put(automerge::ROOT, "k", value).unwrap();
        tx.commit();
        self.engine
            .sync_with(doc_id, &self.doc, &mut self.state)
            .unwrap();
        self.send(hub).await;
    }
}

fn value(doc: &Automerge) -> Option<String> {
    doc.get(automerge::ROOT, "k")
        .unwrap()
        .and_then(|(v, _)| v.into_string().ok())
}

/// A relay on a fresh SQLite store, with production `p1` and one shared document.
async fn hub_with_shared_doc() -> (tempfile::TempDir, Arc<SqliteStorage>, Arc<Hub>, DocumentId) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    storage
        .create_production(Production {
            id: "p1".into(),
            title: "Test".into(),
            production_doc: DocumentId::random(),
            created_at_ms: 0,
        })
        .await
        .unwrap();
    let doc_id = DocumentId::random();
    storage
        .register_documents("p1".into(), vec![(doc_id, DocKind::Shared)])
        .await
        .unwrap();
    let hub = Hub::new(
        storage.clone(),
        Arc::new(Metrics::default()),
        HubConfig::default(),
    )
    .await
    .unwrap();
    (dir, storage, hub, doc_id)
}

#[tokio::test]
async fn a_failed_commit_is_refused_to_its_writer_and_leaves_nothing_behind() {
    let (_dir, storage, hub, doc_id) = hub_with_shared_doc().await;

    let mut a = Device::connect(&hub, "a").await;
    a.put(&hub, doc_id, "stored").await;
    a.settle(&hub).await;
    assert_eq!(storage.load_chunks(doc_id).await.unwrap().len(), 1);

    storage
        .execute_for_test(
            "CREATE TEMP TRIGGER fail_appends BEFORE INSERT ON doc_chunks
             BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .await
        .unwrap();
    let sent_before = a.sent;
    a.put(&hub, doc_id, "lost").await;
    a.settle(&hub).await;
    assert_eq!(
        a.errors
            .iter()
            .filter(|e| e.contains("refused (storage)")
                && e.contains("could not store the change")
                && e.contains("disk full"))
            .count(),
        1,
        "the writer is told once: {:?}",
        a.errors
    );
    // ... and not asked for the change again: one sync message carried it, and the
    // exchange ended there (a stock client would otherwise resend it for ever).
    assert_eq!(a.sent - sent_before, 1);
    assert_eq!(storage.load_chunks(doc_id).await.unwrap().len(), 1);
    // Memory was rebuilt from storage: nobody will be answered with the lost change.
    let relay_value = hub.read(doc_id, value).await.unwrap();
    assert_eq!(relay_value.as_deref(), Some("stored"));

    storage
        .execute_for_test("DROP TRIGGER fail_appends;")
        .await
        .unwrap();
    // The relay keeps serving: another device gets what was stored.
    let mut b = Device::connect(&hub, "b").await;
    // An empty document goes out as a `request`.
    b.engine.sync_with(doc_id, &b.doc, &mut b.state).unwrap();
    b.send(&hub).await;
    b.settle(&hub).await;
    assert_eq!(value(&b.doc).as_deref(), Some("stored"));
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

#[tokio::test]
async fn a_writer_hears_the_relay_heads_even_when_it_caught_up_before_the_commit() {
    let (_dir, _storage, hub, doc_id) = hub_with_shared_doc().await;
    let mut a = Device::connect(&hub, "a").await;
    a.put(&hub, doc_id, "first").await;
    a.settle(&hub).await;
    // A change, then at once a second message whose heads already equal what the
    // relay holds in memory (on phones: the device caught up on other changes in
    // between). The relay answers neither until the batch is durable.
    a.put(&hub, doc_id, "second").await;
    a.state.last_sent_heads.clear();
    a.engine.sync_with(doc_id, &a.doc, &mut a.state).unwrap();
    a.send(&hub).await;
    a.settle(&hub).await;
    // What a device's "in sync" rests on: it has heard the relay hold its heads.
    assert_eq!(a.state.their_heads, Some(a.doc.get_heads()));
    assert_eq!(
        hub.read(doc_id, |d| d.get_heads()).await.unwrap(),
        a.doc.get_heads()
    );
}

#[tokio::test]
async fn concurrent_writers_share_commits_and_all_converge() {
    let (_dir, storage, hub, doc_id) = hub_with_shared_doc().await;
    let mut devices = Vec::new();
    for name in ["a", "b", "c"] {
        let mut d = Device::connect(&hub, name).await;
        d.engine.sync_with(doc_id, &d.doc, &mut d.state).unwrap();
        d.send(&hub).await;
        d.settle(&hub).await;
        devices.push(d);
    }
    let chunks_before = storage.load_chunks(doc_id).await.unwrap().len();
    // Every device edits five times before reading anything back.
    for round in 0..5 {
        for (i, d) in devices.iter_mut().enumerate() {
            let mut tx = d.doc.transaction();
            tx.put(automerge::ROOT, format!("d{i}-{round}"), round as i64)
                .unwrap();
            tx.commit();
            d.engine.sync_with(doc_id, &d.doc, &mut d.state).unwrap();
            d.send(&hub).await;
        }
    }
    for _ in 0..3 {
        for d in devices.iter_mut() {
            d.settle(&hub).await;
        }
    }
    let relay_heads = hub.read(doc_id, |d| d.get_heads()).await.unwrap();
    for d in &devices {
        assert_eq!(d.doc.get_heads(), relay_heads);
        assert_eq!(d.doc.keys(automerge::ROOT).count(), 15);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
    }
    let stored = storage.load_chunks(doc_id).await.unwrap();
    let mut reloaded = Automerge::new();
    for c in &stored {
        reloaded.load_incremental(&c.data).unwrap();
    }
    assert_eq!(
        reloaded.get_heads(),
        relay_heads,
        "everything answered is stored"
    );
    let commits = stored.len() - chunks_before;
    assert!(
        commits < 15,
        "15 changes from 3 writers took {commits} commits; writers should share them"
    );
}

#[test]
fn close_reasons_fit_a_control_frame() {
    let long = "é".repeat(200);
    let r = truncate_reason(&long);
    assert!(r.len() <= 120 && long.starts_with(&r));
    assert_eq!(truncate_reason("short"), "short");
}

/// Two relays on one database: hub `a` and hub `b` share `storage`.
async fn two_relays() -> (
    tempfile::TempDir,
    Arc<SqliteStorage>,
    Arc<Hub>,
    Arc<Hub>,
    DocumentId,
) {
    let (dir, storage, a, doc_id) = hub_with_shared_doc().await;
    let b = Hub::new(
        storage.clone(),
        Arc::new(Metrics::default()),
        HubConfig::default(),
    )
    .await
    .unwrap();
    (dir, storage, a, b, doc_id)
}

/// A device that synced `doc_id` through `hub`.
async fn synced(hub: &Hub, name: &str, doc_id: DocumentId) -> Device {
    let mut d = Device::connect(hub, name).await;
    d.engine.sync_with(doc_id, &d.doc, &mut d.state).unwrap();
    d.send(hub).await;
    d.settle(hub).await;
    d
}

/// Whether the hub sends the device anything within a moment.
async fn hears_anything(d: &mut Device) -> bool {
    tokio::time::timeout(Duration::from_millis(300), d.rx.recv())
        .await
        .is_ok()
}

#[tokio::test]
async fn a_subscriber_on_another_relay_hears_a_change_after_its_notification() {
    let (_dir, _storage, hub_a, hub_b, doc_id) = two_relays().await;
    let mut writer = synced(&hub_a, "w", doc_id).await;
    let mut reader = synced(&hub_b, "r", doc_id).await;
    writer.put(&hub_a, doc_id, "through relay a").await;
    writer.settle(&hub_a).await;
    assert!(!hears_anything(&mut reader).await, "b does not know yet");
    let heads = hub_a.read(doc_id, |d| d.get_heads()).await.unwrap();
    hub_b.foreign_append(doc_id, heads.clone()).await;
    reader.settle(&hub_b).await;
    assert_eq!(value(&reader.doc).as_deref(), Some("through relay a"));
    assert_eq!(reader.doc.get_heads(), heads);
    assert!(reader.errors.is_empty(), "{:?}", reader.errors);
}

#[tokio::test]
async fn catch_up_brings_every_loaded_document_up_to_date() {
    let (_dir, storage, hub_a, hub_b, doc_id) = two_relays().await;
    let second = DocumentId::random();
    storage
        .register_documents("p1".into(), vec![(second, DocKind::Shared)])
        .await
        .unwrap();
    let mut writer = synced(&hub_a, "w", doc_id).await;
    let mut reader = synced(&hub_b, "r", doc_id).await;
    let mut writer2 = synced(&hub_a, "w2", second).await;
    let mut reader2 = synced(&hub_b, "r2", second).await;
    writer.put(&hub_a, doc_id, "one").await;
    writer.settle(&hub_a).await;
    writer2.put(&hub_a, second, "two").await;
    writer2.settle(&hub_a).await;
    hub_b.catch_up().await;
    reader.settle(&hub_b).await;
    reader2.settle(&hub_b).await;
    assert_eq!(value(&reader.doc).as_deref(), Some("one"));
    assert_eq!(value(&reader2.doc).as_deref(), Some("two"));
    // A second catch-up finds nothing new and says nothing.
    hub_b.catch_up().await;
    assert!(!hears_anything(&mut reader).await);
    assert!(!hears_anything(&mut reader2).await);
}

#[tokio::test]
async fn a_foreign_append_for_heads_already_here_sends_nothing() {
    let (_dir, _storage, hub_a, hub_b, doc_id) = two_relays().await;
    let mut writer = synced(&hub_a, "w", doc_id).await;
    let mut reader = synced(&hub_b, "r", doc_id).await;
    writer.put(&hub_a, doc_id, "x").await;
    writer.settle(&hub_a).await;
    let heads = hub_a.read(doc_id, |d| d.get_heads()).await.unwrap();
    hub_b.foreign_append(doc_id, heads.clone()).await;
    reader.settle(&hub_b).await;
    // The notification arrives twice (or after b already caught up): nothing to send.
    hub_b.foreign_append(doc_id, heads).await;
    assert!(!hears_anything(&mut reader).await);
    // And hub a, which wrote it, sends its own subscriber nothing either.
    let heads = hub_a.read(doc_id, |d| d.get_heads()).await.unwrap();
    hub_a.foreign_append(doc_id, heads).await;
    assert!(!hears_anything(&mut writer).await);
}

#[tokio::test]
async fn a_foreign_append_wakes_push_on_connect_watchers_of_a_document_not_loaded_here() {
    let (_dir, storage, hub_a, doc_id) = hub_with_shared_doc().await;
    let hub_b = Hub::new(
        storage.clone(),
        Arc::new(Metrics::default()),
        HubConfig {
            idle_evict: Duration::ZERO,
            ..HubConfig::default()
        },
    )
    .await
    .unwrap();
    let mut writer = synced(&hub_a, "w", doc_id).await;
    writer.put(&hub_a, doc_id, "before").await;
    writer.settle(&hub_a).await;
    // A phone syncs the document through relay b, goes away, and b forgets the document.
    let mut phone = Device::connect_with(&hub_b, "phone", Some(true)).await;
    phone
        .engine
        .sync_with(doc_id, &phone.doc, &mut phone.state)
        .unwrap();
    phone.send(&hub_b).await;
    phone.settle(&hub_b).await;
    assert_eq!(value(&phone.doc).as_deref(), Some("before"));
    let Device {
        conn, doc, state, ..
    } = phone;
    hub_b.disconnect(conn).await;
    assert_eq!(hub_b.evict_idle(), 1);
    // Back on relay b with nothing changed: b only watches the document for it.
    let mut phone = Device::connect_with(&hub_b, "phone", Some(true)).await;
    phone.doc = doc;
    phone.state = state;
    assert!(!hears_anything(&mut phone).await);
    assert_eq!(hub_b.loaded_documents(), 0);
    // A change through relay a, and b's notification of it.
    writer.put(&hub_a, doc_id, "after").await;
    writer.settle(&hub_a).await;
    let heads = hub_a.read(doc_id, |d| d.get_heads()).await.unwrap();
    hub_b.foreign_append(doc_id, heads.clone()).await;
    phone.settle(&hub_b).await;
    assert_eq!(value(&phone.doc).as_deref(), Some("after"));
    assert_eq!(phone.doc.get_heads(), heads);
}

#[tokio::test]
async fn a_dashboard_on_another_relay_hears_of_a_change_to_a_document_not_loaded_there() {
    let (_dir, _storage, hub_a, hub_b, doc_id) = two_relays().await;
    let mut writer = synced(&hub_a, "w", doc_id).await;
    // Relay b has the document nowhere in memory; its dashboard watches the production.
    assert_eq!(hub_b.loaded_documents(), 0);
    let mut dashboard = hub_b.watch();
    writer.put(&hub_a, doc_id, "x").await;
    writer.settle(&hub_a).await;
    let heads = hub_a.read(doc_id, |d| d.get_heads()).await.unwrap();
    hub_b.foreign_append(doc_id, heads).await;
    match tokio::time::timeout(Duration::from_secs(5), dashboard.recv()).await {
        Ok(Ok(HubEvent::Changed {
            production_id,
            doc_id: changed,
            ..
        })) => {
            assert_eq!((production_id.as_str(), changed), ("p1", doc_id));
        }
        other => panic!("the dashboard heard {other:?}"),
    }
    assert_eq!(hub_b.loaded_documents(), 0, "nothing was loaded for it");
}

/// A writer that put "before" into `doc_id`, and a phone that acknowledges by silence
/// and pushes on connect, synced with it.
async fn writer_and_silent_phone(hub: &Hub, doc_id: DocumentId) -> (Device, Device) {
    let mut writer = synced(hub, "w", doc_id).await;
    writer.put(hub, doc_id, "before").await;
    writer.settle(hub).await;
    let mut phone = Device::connect_meta(hub, "phone", Some(true), Some(true)).await;
    phone
        .engine
        .sync_with(doc_id, &phone.doc, &mut phone.state)
        .unwrap();
    phone.send(hub).await;
    phone.settle(hub).await;
    assert_eq!(value(&phone.doc).as_deref(), Some("before"));
    (writer, phone)
}

/// The silent phone's connection drops; it connects again with what it stored (its
/// document and the shared heads of its sync state).
async fn reconnect(hub: &Hub, phone: Device) -> Device {
    let Device {
        conn, doc, state, ..
    } = phone;
    hub.disconnect(conn).await;
    let mut phone = Device::connect_meta(hub, "phone", Some(true), Some(true)).await;
    phone.doc = doc;
    phone.state = sync::State::decode(&state.encode()).unwrap();
    phone
}

#[tokio::test]
async fn a_phone_acknowledging_by_silence_gets_each_change_once_and_confirms_later() {
    let (_dir, _storage, hub, doc_id) = hub_with_shared_doc().await;
    let (mut writer, mut phone) = writer_and_silent_phone(&hub, doc_id).await;
    for round in 0..3 {
        let sent = phone.sent;
        writer.put(&hub, doc_id, &format!("round {round}")).await;
        writer.settle(&hub).await;
        phone.receive(&hub).await;
        assert_eq!(
            value(&phone.doc).as_deref(),
            Some(format!("round {round}").as_str())
        );
        assert_eq!(phone.sent, sent, "the phone acknowledged by silence");
        assert!(phone.engine.holds_acks());
        assert!(!hears_anything(&mut phone).await, "one frame per change");
    }
    // The link goes quiet: the phone confirms, which needs no answer.
    assert_eq!(phone.engine.release_acks(), 1);
    phone.send(&hub).await;
    assert!(!hears_anything(&mut phone).await);
    // Confirmed, so a reconnect with nothing new pushes nothing.
    let mut phone = reconnect(&hub, phone).await;
    assert!(!hears_anything(&mut phone).await);
    assert!(phone.errors.is_empty(), "{:?}", phone.errors);
}

#[tokio::test]
async fn a_change_lost_with_the_connection_before_it_was_confirmed_is_pushed_again() {
    let (_dir, _storage, hub, doc_id) = hub_with_shared_doc().await;
    let (mut writer, mut phone) = writer_and_silent_phone(&hub, doc_id).await;
    phone.engine.release_acks();
    phone.send(&hub).await;
    // The relay sends a change and takes silence as its acknowledgement; the connection
    // drops before the phone reads it.
    writer.put(&hub, doc_id, "lost").await;
    writer.settle(&hub).await;
    let lost = tokio::time::timeout(Duration::from_secs(5), phone.rx.recv())
        .await
        .expect("the relay sent the change")
        .expect("connection open");
    assert!(matches!(lost, Outbound::Frame(_)));
    // Back with what it stored: only confirmed heads were persisted, so the relay pushes.
    let mut phone = reconnect(&hub, phone).await;
    assert_eq!(value(&phone.doc).as_deref(), Some("before"));
    phone.settle(&hub).await;
    assert_eq!(value(&phone.doc).as_deref(), Some("lost"));
    assert!(phone.errors.is_empty(), "{:?}", phone.errors);
}

#[tokio::test]
async fn a_late_confirmation_does_not_bring_a_change_again() {
    let (_dir, _storage, hub, doc_id) = hub_with_shared_doc().await;
    let (mut writer, mut phone) = writer_and_silent_phone(&hub, doc_id).await;
    writer.put(&hub, doc_id, "one").await;
    writer.settle(&hub).await;
    phone.receive(&hub).await;
    // "two" is on its way while the phone confirms "one".
    writer.put(&hub, doc_id, "two").await;
    writer.settle(&hub).await;
    assert_eq!(phone.engine.release_acks(), 1);
    phone.send(&hub).await;
    let (before, frames) = (phone.with_changes, phone.received);
    phone.settle(&hub).await;
    assert_eq!(value(&phone.doc).as_deref(), Some("two"));
    assert_eq!(phone.with_changes - before, 1, "\"two\" arrived once");
    assert_eq!(
        phone.received - frames,
        1,
        "and nothing answered the confirmation"
    );
    assert!(
        phone.engine.holds_acks(),
        "the phone acknowledges \"two\" by silence"
    );
    assert!(phone.errors.is_empty(), "{:?}", phone.errors);
}
