//! The sans-IO engine: handshake, request/sync semantics, convergence, ephemeral
//! dedup, protocol violations.

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ROOT};
use setlink_core::sync::engine::{
    ConnState, Connection, ConnectionConfig, EngineError, Event, PeerDocStatus, Side,
};
use setlink_core::sync::wire::{self, Message, PeerMetadata};
use setlink_core::DocumentId;

fn md(storage: &str) -> PeerMetadata {
    PeerMetadata {
        storage_id: Some(storage.into()),
        is_ephemeral: Some(false),
        pushes_changes: None,
        implied_acks: None,
    }
}

fn pair() -> (Connection, Connection) {
    let mut a = Connection::new(ConnectionConfig::new(
        "phone",
        Side::Initiator,
        md("phone-store"),
        "s-a",
    ));
    let mut b = Connection::new(ConnectionConfig::new(
        "relay",
        Side::Acceptor,
        md("relay-store"),
        "s-b",
    ));
    shuttle(&mut a, &mut b);
    assert!(
        matches!(a.poll_event(), Some(Event::Connected { ref peer_id, .. }) if peer_id == "relay")
    );
    assert!(
        matches!(b.poll_event(), Some(Event::Connected { ref peer_id, .. }) if peer_id == "phone")
    );
    (a, b)
}

/// Moves queued frames both ways until both are quiet; returns bytes moved.
fn shuttle(a: &mut Connection, b: &mut Connection) -> usize {
    let mut bytes = 0;
    loop {
        let mut moved = false;
        while let Some(f) = a.poll_transmit() {
            bytes += f.len();
            moved = true;
            let _ = b.handle_frame(&f);
        }
        while let Some(f) = b.poll_transmit() {
            bytes += f.len();
            moved = true;
            let _ = a.handle_frame(&f);
        }
        if !moved {
            return bytes;
        }
    }
}

/// One side's documents and sync states with its single peer.
struct Side1 {
    docs: std::collections::HashMap<DocumentId, Automerge>,
    states: std::collections::HashMap<DocumentId, sync::State>,
}

impl Side1 {
    fn new() -> Self {
        Side1 {
            docs: Default::default(),
            states: Default::default(),
        }
    }
    /// Handles the connection's events; unknown docs are created on `sync`, refused on `request`.
    fn react(&mut self, c: &mut Connection) -> Vec<Event> {
        let mut other = Vec::new();
        while let Some(ev) = c.poll_event() {
            match ev {
                Event::Sync {
                    document_id,
                    message,
                    request,
                } => {
                    if request && !self.docs.contains_key(&document_id) {
                        c.send_doc_unavailable(document_id).expect("send");
                        continue;
                    }
                    let doc = self.docs.entry(document_id).or_default();
                    let st = self.states.entry(document_id).or_default();
                    c.receive_with(document_id, doc, st, message)
                        .expect("apply");
                }
                e => other.push(e),
            }
        }
        other
    }
    fn start(&mut self, c: &mut Connection, id: DocumentId) {
        let doc = self.docs.entry(id).or_default();
        let st = self.states.entry(id).or_default();
        c.sync_with(id, doc, st).expect("sync");
    }
}

fn run(
    a: &mut Connection,
    sa: &mut Side1,
    b: &mut Connection,
    sb: &mut Side1,
) -> (usize, Vec<Event>, Vec<Event>) {
    let mut bytes = 0;
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        let moved = shuttle(a, b);
        bytes += moved;
        ea.extend(sa.react(a));
        eb.extend(sb.react(b));
        if moved == 0 && !a.has_transmit() && !b.has_transmit() {
            break;
        }
    }
    (bytes, ea, eb)
}

fn doc_with(key: &str, value: &str) -> Automerge {
    let mut d = Automerge::new();
    let mut tx = d.transaction();
    tx.put(ROOT, key, value).expect("put");
    tx.commit();
    d
}

fn set(d: &mut Automerge, key: &str, value: &str) {
    let mut tx = d.transaction();
    tx.put(ROOT, key, value).expect("put");
    tx.commit();
}

fn get(d: &Automerge, key: &str) -> Option<String> {
    d.get(ROOT, key).expect("get").map(|(v, _)| v.to_string())
}

#[test]
fn handshake_exchanges_ids_metadata_and_version() {
    let (a, b) = pair();
    assert_eq!(
        a.remote().expect("remote").storage_id().map(String::as_str),
        Some("relay-store")
    );
    assert_eq!(
        b.remote().expect("remote").storage_id().map(String::as_str),
        Some("phone-store")
    );
    assert_eq!(
        (a.state(), b.state()),
        (ConnState::Connected, ConnState::Connected)
    );
}

#[test]
fn ephemeral_peers_have_no_storage_key() {
    let mut a = Connection::new(ConnectionConfig::new(
        "browser",
        Side::Initiator,
        PeerMetadata {
            storage_id: Some("x".into()),
            is_ephemeral: Some(true),
            pushes_changes: None,
            implied_acks: None,
        },
        "s",
    ));
    let mut b = Connection::new(ConnectionConfig::new(
        "relay",
        Side::Acceptor,
        md("r"),
        "s2",
    ));
    shuttle(&mut a, &mut b);
    assert_eq!(b.remote().expect("remote").storage_id(), None);
}

#[test]
fn unsupported_protocol_version_is_refused_with_the_js_error() {
    let mut b = Connection::new(ConnectionConfig::new("relay", Side::Acceptor, md("r"), "s"));
    let join = wire::encode(&Message::Join {
        sender_id: "old".into(),
        peer_metadata: None,
        supported_protocol_versions: Some(vec!["0".into()]),
    });
    let err = b.handle_frame(&join).expect_err("refused");
    assert!(matches!(err, EngineError::UnsupportedProtocol { .. }));
    assert!(b.is_closed());
    match wire::decode(&b.poll_transmit().expect("error frame")) {
        Ok(Message::Error {
            message, target_id, ..
        }) => {
            assert!(
                message.starts_with("unsupported protocol version"),
                "{message}"
            );
            assert_eq!(target_id, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(b.poll_transmit().is_none());
}

#[test]
fn a_join_without_versions_means_version_1() {
    let mut b = Connection::new(ConnectionConfig::new("relay", Side::Acceptor, md("r"), "s"));
    let join = wire::encode(&Message::Join {
        sender_id: "x".into(),
        peer_metadata: None,
        supported_protocol_versions: None,
    });
    b.handle_frame(&join).expect("accepted");
    assert!(matches!(
        wire::decode(&b.poll_transmit().expect("peer")),
        Ok(Message::Peer { ref selected_protocol_version, ref target_id, .. }) if selected_protocol_version == "1" && target_id == "x"
    ));
}

#[test]
fn messages_before_the_handshake_are_a_violation() {
    let mut b = Connection::new(ConnectionConfig::new("relay", Side::Acceptor, md("r"), "s"));
    let sync = wire::encode(&Message::Sync {
        sender_id: "x".into(),
        target_id: "relay".into(),
        document_id: DocumentId::random(),
        data: Automerge::new()
            .generate_sync_message(&mut sync::State::new())
            .expect("msg")
            .encode(),
    });
    assert_eq!(
        b.handle_frame(&sync),
        Err(EngineError::HandshakeExpected {
            expected: "join",
            got: "sync"
        })
    );
    assert!(b.is_closed());
    assert_eq!(b.handle_frame(&sync), Err(EngineError::Closed));
}

#[test]
fn two_peers_converge_on_concurrent_edits_and_a_new_document() {
    let (mut a, mut b) = pair();
    let (mut sa, mut sb) = (Side1::new(), Side1::new());
    let shared = DocumentId::random();
    sa.docs.insert(shared, doc_with("title", "day 1"));
    let mut fork = sa.docs[&shared].fork();
    set(&mut fork, "relay", "yes");
    sb.docs.insert(shared, fork);
    set(sa.docs.get_mut(&shared).expect("doc"), "phone", "yes");
    // A document only the phone has: the relay learns of it through `sync`.
    let fresh = DocumentId::random();
    sa.docs.insert(fresh, doc_with("runs", "3"));

    sa.start(&mut a, shared);
    sa.start(&mut a, fresh);
    sb.start(&mut b, shared);
    run(&mut a, &mut sa, &mut b, &mut sb);

    for id in [shared, fresh] {
        assert_eq!(sa.docs[&id].get_heads(), sb.docs[&id].get_heads());
    }
    assert_eq!(get(&sb.docs[&shared], "phone").as_deref(), Some("\"yes\""));
    assert_eq!(get(&sa.docs[&shared], "relay").as_deref(), Some("\"yes\""));
    assert_eq!(get(&sb.docs[&fresh], "runs").as_deref(), Some("\"3\""));
    assert_eq!(b.peer_doc_status(&fresh), PeerDocStatus::Has);
}

#[test]
fn a_peer_without_the_document_requests_it_and_hears_doc_unavailable() {
    let (mut a, mut b) = pair();
    let missing = DocumentId::random();
    // An empty doc's first message goes out as `request`.
    a.sync_with(missing, &Automerge::new(), &mut sync::State::new())
        .expect("sync");
    let frame = a.poll_transmit().expect("frame");
    assert!(matches!(wire::decode(&frame), Ok(Message::Request { .. })));
    b.handle_frame(&frame).expect("handled");
    match b.poll_event() {
        Some(Event::Sync {
            document_id,
            request: true,
            message,
        }) => {
            assert_eq!(document_id, missing);
            assert!(message.heads.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(b.peer_doc_status(&missing), PeerDocStatus::Wants);
    b.send_doc_unavailable(missing).expect("send");
    shuttle(&mut a, &mut b);
    assert_eq!(
        a.poll_event(),
        Some(Event::DocUnavailable {
            document_id: missing
        })
    );
    assert_eq!(a.peer_doc_status(&missing), PeerDocStatus::Unavailable);
}

#[test]
fn a_peer_with_the_document_sends_sync_not_request() {
    let (mut a, _b) = pair();
    a.sync_with(
        DocumentId::random(),
        &doc_with("k", "v"),
        &mut sync::State::new(),
    )
    .expect("sync");
    assert!(matches!(
        wire::decode(&a.poll_transmit().expect("frame")),
        Ok(Message::Sync { .. })
    ));
}

#[test]
fn a_relay_sees_changes_before_they_are_applied_and_can_refuse_them() {
    let (mut a, mut b) = pair();
    let id = DocumentId::random();
    let base = doc_with("status", "requested");
    let mut relay_doc = base.fork();
    let mut phone_doc = base.fork();
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    // Bring both to the same heads first.
    loop {
        a.sync_with(id, &phone_doc, &mut sa).expect("sync");
        let moved = a.has_transmit();
        shuttle(&mut a, &mut b);
        while let Some(Event::Sync { message, .. }) = b.poll_event() {
            b.receive_with(id, &mut relay_doc, &mut sb, message)
                .expect("apply");
        }
        shuttle(&mut a, &mut b);
        while let Some(Event::Sync { message, .. }) = a.poll_event() {
            a.receive_with(id, &mut phone_doc, &mut sa, message)
                .expect("apply");
        }
        if !moved && !a.has_transmit() && !b.has_transmit() {
            break;
        }
    }
    set(&mut phone_doc, "status", "cancelled");
    a.sync_with(id, &phone_doc, &mut sa).expect("sync");
    shuttle(&mut a, &mut b);
    let mut saw_changes = false;
    while let Some(ev) = b.poll_event() {
        if let Event::Sync { message, .. } = ev {
            if !message.changes.is_empty() {
                saw_changes = true;
                b.fail("crew may not write the board");
            }
        }
    }
    assert!(saw_changes);
    assert_eq!(get(&relay_doc, "status").as_deref(), Some("\"requested\""));
    assert!(b.is_closed());
    shuttle(&mut a, &mut b);
    assert!(a.is_closed());
    assert!(
        matches!(a.poll_event(), Some(Event::Closed { reason }) if reason.contains("crew may not write"))
    );
}

#[test]
fn garbage_sync_data_closes_with_a_clear_error() {
    let (mut a, mut b) = pair();
    let frame = wire::encode(&Message::Sync {
        sender_id: "phone".into(),
        target_id: "relay".into(),
        document_id: DocumentId::random(),
        data: vec![0x42, 0xff, 0xff],
    });
    assert!(matches!(
        b.handle_frame(&frame),
        Err(EngineError::BadSyncMessage { .. })
    ));
    shuttle(&mut a, &mut b);
    assert!(
        matches!(a.poll_event(), Some(Event::Closed { reason }) if reason.contains("invalid automerge sync message"))
    );
}

#[test]
fn malformed_frames_close_unknown_types_are_skipped() {
    let (mut a, mut b) = pair();
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(2)
        .expect("w")
        .str("type")
        .expect("w")
        .str("future-thing")
        .expect("w")
        .str("senderId")
        .expect("w")
        .str("p")
        .expect("w");
    b.handle_frame(&e.into_writer()).expect("skipped");
    assert_eq!(b.skipped_frames(), 1);
    assert!(b.is_connected());
    assert!(matches!(
        b.handle_frame(b"\xff\x00garbage"),
        Err(EngineError::Wire(_))
    ));
    assert!(b.is_closed());
    shuttle(&mut a, &mut b);
    assert!(a.is_closed());
}

#[test]
fn ephemeral_messages_are_deduplicated_and_forwarded_with_their_origin() {
    let (mut a, mut b) = pair();
    let id = DocumentId::random();
    a.send_ephemeral(id, b"eta 10:45".to_vec()).expect("send");
    let frame = a.poll_transmit().expect("frame");
    b.handle_frame(&frame).expect("in");
    b.handle_frame(&frame).expect("dup in");
    let first = match b.poll_event() {
        Some(Event::Ephemeral(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (first.sender_id.as_str(), first.count, first.data.as_slice()),
        ("phone", 1, &b"eta 10:45"[..])
    );
    assert_eq!(b.poll_event(), None, "the duplicate is dropped");

    // The relay forwards to a third peer; origin, session and count survive.
    let mut c = Connection::new(ConnectionConfig::new(
        "office",
        Side::Initiator,
        md("o"),
        "s-c",
    ));
    let mut b2 = Connection::new(ConnectionConfig::new(
        "relay",
        Side::Acceptor,
        md("r"),
        "s-b2",
    ));
    shuttle(&mut c, &mut b2);
    c.poll_event();
    b2.forward_ephemeral(&first).expect("forward");
    shuttle(&mut c, &mut b2);
    assert_eq!(c.poll_event(), Some(Event::Ephemeral(first.clone())));
    // Never echoed to its creator.
    b.forward_ephemeral(&first).expect("forward");
    assert!(!b.has_transmit());
}

#[test]
fn operations_before_connecting_fail_cleanly() {
    let mut a = Connection::new(ConnectionConfig::new(
        "phone",
        Side::Initiator,
        md("p"),
        "s",
    ));
    let id = DocumentId::random();
    assert_eq!(a.send_doc_unavailable(id), Err(EngineError::Closed));
    assert_eq!(a.send_ephemeral(id, vec![1]), Err(EngineError::Closed));
    assert!(matches!(
        a.poll_transmit().map(|f| wire::decode(&f)),
        Some(Ok(Message::Join { .. }))
    ));
}

/// A persisted sync state (what the device and the relay keep per (document, peer
/// storage id)) makes a reconnect cost what changed, not the whole history.
#[test]
fn a_persisted_sync_state_makes_reconnects_cheap() {
    let id = DocumentId::random();
    let mut phone = Automerge::new();
    for i in 0..1000 {
        let mut tx = phone.transaction();
        tx.put(ROOT, format!("run-{i}"), DocumentId::random().to_string())
            .expect("put");
        tx.commit();
    }
    let reconnect = |phone: &Automerge, relay: &mut Automerge, sp: sync::State, sr: sync::State| {
        let (mut a, mut b) = pair();
        let mut sa = Side1::new();
        let mut sb = Side1::new();
        sa.docs.insert(id, phone.clone());
        sa.states.insert(id, sp);
        sb.docs.insert(id, relay.clone());
        sb.states.insert(id, sr);
        sa.start(&mut a, id);
        sb.start(&mut b, id);
        let (bytes, _, _) = run(&mut a, &mut sa, &mut b, &mut sb);
        assert_eq!(sa.docs[&id].get_heads(), sb.docs[&id].get_heads());
        *relay = sb.docs.remove(&id).expect("doc");
        (
            bytes,
            sa.states.remove(&id).expect("s"),
            sb.states.remove(&id).expect("s"),
        )
    };
    let mut relay = Automerge::new();
    let (first, sp, sr) = reconnect(&phone, &mut relay, sync::State::new(), sync::State::new());
    set(&mut phone, "status", "delivered");
    let persist = |s: &sync::State| sync::State::decode(&s.encode()).expect("decode");
    let (again, _, _) = reconnect(&phone, &mut relay.clone(), persist(&sp), persist(&sr));
    let (fresh, _, _) = reconnect(&phone, &mut relay, sync::State::new(), sync::State::new());
    eprintln!("sync bytes: first {first}, reconnect with persisted state {again}, reconnect with fresh state {fresh}");
    assert!(
        again * 4 < first,
        "reconnect {again} B vs first sync {first} B"
    );
    assert!(again < fresh, "persisted {again} B vs fresh {fresh} B");
    assert!(again < 2_000, "{again}");
}

/// A string value without its quotes.
fn text(d: &Automerge, key: &str) -> Option<String> {
    get(d, key).map(|v| v.trim_matches('"').to_owned())
}

/// A phone and a relay, each advertising `setlinkImpliedAcks` as given, connected.
fn implied_pair(phone: Option<bool>, relay: Option<bool>) -> (Connection, Connection) {
    let with = |storage: &str, implied| PeerMetadata {
        implied_acks: implied,
        ..md(storage)
    };
    let mut a = Connection::new(ConnectionConfig::new(
        "phone",
        Side::Initiator,
        with("phone-store", phone),
        "s-a",
    ));
    let mut b = Connection::new(ConnectionConfig::new(
        "relay",
        Side::Acceptor,
        with("relay-store", relay),
        "s-b",
    ));
    shuttle(&mut a, &mut b);
    assert!(a.is_connected() && b.is_connected());
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    (a, b)
}

/// [`implied_pair`], with one document the relay had and the phone synced.
fn synced_pair(
    phone: Option<bool>,
    relay: Option<bool>,
) -> (Connection, Connection, Side1, Side1, DocumentId) {
    let (mut p, mut r) = implied_pair(phone, relay);
    let id = DocumentId::random();
    let (mut sp, mut sr) = (Side1::new(), Side1::new());
    sr.docs.insert(id, doc_with("k", "v1"));
    sp.start(&mut p, id);
    run(&mut p, &mut sp, &mut r, &mut sr);
    assert_eq!(text(&sp.docs[&id], "k").as_deref(), Some("v1"));
    (p, r, sp, sr, id)
}

/// The relay changes `key` and sends its message; the phone applies it. Returns the
/// frames the relay sent.
fn relay_change(
    relay: &mut Connection,
    sr: &mut Side1,
    phone: &mut Connection,
    sp: &mut Side1,
    id: DocumentId,
    value: &str,
) -> usize {
    set(sr.docs.get_mut(&id).unwrap(), "k", value);
    sr.start(relay, id);
    let mut frames = 0;
    while let Some(f) = relay.poll_transmit() {
        frames += 1;
        phone.handle_frame(&f).unwrap();
    }
    sp.react(phone);
    assert_eq!(text(&sp.docs[&id], "k").as_deref(), Some(value));
    frames
}

#[test]
fn a_bare_acknowledgement_of_changes_is_held_when_both_ends_imply_acks() {
    let (mut phone, mut relay, mut sp, mut sr, id) = synced_pair(Some(true), Some(true));
    for v in ["v2", "v3", "v4"] {
        assert_eq!(
            relay_change(&mut relay, &mut sr, &mut phone, &mut sp, id, v),
            1
        );
        assert!(
            !phone.has_transmit(),
            "the phone acknowledges {v} by silence"
        );
        assert!(phone.holds_acks());
    }
    // The link goes quiet: one confirmation for the document, the latest.
    assert_eq!(phone.release_acks(), 1);
    assert!(!phone.holds_acks());
    let confirm = phone.poll_transmit().expect("the held acknowledgement");
    assert!(phone.poll_transmit().is_none());
    relay.handle_frame(&confirm).unwrap();
    sr.react(&mut relay);
    assert!(!relay.has_transmit(), "automerge needs no answer to it");
    assert_eq!(sr.states[&id].shared_heads, sr.docs[&id].get_heads());
    // Anything else the phone says about the document replaces a held acknowledgement:
    // its own change carries its heads.
    relay_change(&mut relay, &mut sr, &mut phone, &mut sp, id, "v5");
    assert!(phone.holds_acks());
    set(sp.docs.get_mut(&id).unwrap(), "mine", "yes");
    sp.start(&mut phone, id);
    assert!(!phone.holds_acks());
    assert!(phone.has_transmit());
    run(&mut phone, &mut sp, &mut relay, &mut sr);
    assert_eq!(text(&sr.docs[&id], "mine").as_deref(), Some("yes"));
}

#[test]
fn acknowledgements_go_out_as_always_unless_both_ends_imply_them() {
    for (p, r) in [(Some(true), None), (None, Some(true)), (None, None)] {
        let (mut phone, mut relay, mut sp, mut sr, id) = synced_pair(p, r);
        relay_change(&mut relay, &mut sr, &mut phone, &mut sp, id, "v2");
        assert!(!phone.holds_acks(), "phone {p:?}, relay {r:?}");
        assert!(
            phone.has_transmit(),
            "phone {p:?}, relay {r:?}: acknowledged"
        );
    }
}

#[test]
fn a_reply_that_says_more_than_an_acknowledgement_is_never_held() {
    let (mut phone, mut relay, mut sp, mut sr, id) = synced_pair(Some(true), Some(true));
    // The phone changed the document while the relay's change was on its way: its reply
    // names heads the relay lacks, so it goes out.
    set(sp.docs.get_mut(&id).unwrap(), "offline", "edit");
    relay_change(&mut relay, &mut sr, &mut phone, &mut sp, id, "v2");
    assert!(!phone.holds_acks());
    assert!(phone.has_transmit());
    run(&mut phone, &mut sp, &mut relay, &mut sr);
    assert_eq!(text(&sr.docs[&id], "offline").as_deref(), Some("edit"));
}
