//! The relay as the authority over content: a raw automerge-repo client writes exactly what
//! a malicious or foreign client would, against the real relay binary. Every such write is
//! refused with one notice naming the document and the rule; nothing of it is stored or
//! forwarded; the connection stays up and keeps syncing.

use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ROOT};
use setlink_core::model::run::{self, RunStatus};
use setlink_core::rules::notice::{self, Notice};
use setlink_core::{DocKind, DocumentId};
use setlink_server::production_doc::read_index;
use setlink_tests::demo::{connected, demo_board, run_id, synced};
use setlink_tests::http::{metric, metrics, redeem, Creds};
use setlink_tests::{Peer, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

struct Setup {
    relay: Relay,
    coord: Creds,
    pa: Creds,
    prod: DocumentId,
    board: DocumentId,
}

async fn setup() -> (tempfile::TempDir, Setup) {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c1").await;
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "p1").await;
    let prod: DocumentId = coord.production_doc_id.parse().unwrap();
    let c = connected(&relay, &coord.token, "setup").await;
    let board = demo_board(&c, prod).await;
    (
        dir,
        Setup {
            relay,
            coord,
            pa,
            prod,
            board,
        },
    )
}

/// The refusal notices a peer has received.
fn notices(p: &Peer) -> Vec<Notice> {
    p.seen(|s| {
        s.ephemeral
            .iter()
            .filter_map(|(_, _, data)| notice::decode(data))
            .collect()
    })
}

async fn refused(p: &Peer, doc: DocumentId, rule: &str, before: usize) -> Notice {
    p.wait(10, &format!("a `{rule}` refusal"), |_, s| {
        s.ephemeral
            .iter()
            .filter_map(|(_, _, d)| notice::decode(d))
            .count()
            > before
    })
    .await;
    let n = notices(p).into_iter().nth(before).unwrap();
    assert_eq!(n.rule, rule, "{n:?}");
    assert_eq!(n.document_id, doc.to_string(), "{n:?}");
    assert!(n.message.contains("not stored"), "{n:?}");
    n
}

/// Appends a status event the way a foreign client would: a JSON string under a new key,
/// following the log's current heads.
fn forge_event(doc: &mut Automerge, run_id: &str, fields: serde_json::Value) -> String {
    let r = run::read_run(doc, run_id).unwrap();
    let prevs: std::collections::HashSet<&str> = r
        .events
        .iter()
        .flat_map(|e| e.prev.iter().map(String::as_str))
        .collect();
    let heads: Vec<&str> = r
        .events
        .iter()
        .map(|e| e.id.as_str())
        .filter(|id| !prevs.contains(id))
        .collect();
    let mut event = serde_json::json!({
        "prev": heads,
        "at": 1_900_000_000_000_i64,
        "device": "forged",
    });
    event
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    let id = format!("forged-{}", rand::random::<u64>());
    let runs = doc.get(ROOT, "runs").unwrap().unwrap().1;
    let run_obj = doc.get(&runs, run_id).unwrap().unwrap().1;
    let events = doc.get(&run_obj, "events").unwrap().unwrap().1;
    let mut tx = doc.transaction();
    tx.put(&events, id.as_str(), event.to_string()).unwrap();
    tx.commit();
    id
}

/// What a fresh coordinator device gets from the relay for `doc`.
async fn fresh_copy(s: &Setup, doc: DocumentId) -> Automerge {
    let p = connected(&s.relay, &s.coord.token, "fresh-reader").await;
    synced(&p, doc).await;
    // Let the whole history arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.read(doc, |d| d.clone()).unwrap()
}

fn status_of(doc: &Automerge, run_id: &str) -> RunStatus {
    run::read_run(doc, run_id).unwrap().status
}

#[tokio::test]
async fn every_forbidden_board_write_is_refused_and_the_connection_keeps_syncing() {
    let (_dir, s) = setup().await;
    let pa = connected(&s.relay, &s.pa.token, "pa").await;
    synced(&pa, s.board).await;
    let coffee = pa
        .read(s.board, |d| run_id(d, "Coffee for camera dept"))
        .unwrap();
    let batteries = pa
        .read(s.board, |d| run_id(d, "Pick up walkie batteries"))
        .unwrap();
    let sides = pa.read(s.board, |d| run_id(d, "Sides to set")).unwrap();
    let pa_id = s.pa.member_id.clone();
    let coord_id = s.coord.member_id.clone();
    let stored = |m: &str| metric(m, "setlink_storage_document_bytes_written_total");
    let stored_before = stored(&metrics(s.relay.addr).await);

    // Each attempt runs on a fresh connection from the board as the relay has it, so one
    // refused change never sits under the next.
    type Attempt = Box<dyn Fn(&mut Automerge)>;
    let attempts: Vec<(&str, &str, Attempt)> = vec![
        (
            "a status event naming the coordinator as its author",
            "authorship",
            Box::new({
                let (coffee, coord_id) = (coffee.clone(), coord_id.clone());
                move |d| {
                    forge_event(
                        d,
                        &coffee,
                        serde_json::json!({"kind": "cancelled", "member": coord_id, "role": "coordinator"}),
                    );
                }
            }),
        ),
        (
            "delivered on a pickup run that was only assigned",
            "transition",
            Box::new({
                let (batteries, pa_id) = (batteries.clone(), pa_id.clone());
                move |d| {
                    forge_event(
                        d,
                        &batteries,
                        serde_json::json!({"kind": "delivered", "member": pa_id, "role": "pa"}),
                    );
                }
            }),
        ),
        (
            "a PA cancelling a run",
            "transition",
            Box::new({
                let (coffee, pa_id) = (coffee.clone(), pa_id.clone());
                move |d| {
                    forge_event(
                        d,
                        &coffee,
                        serde_json::json!({"kind": "cancelled", "member": pa_id, "role": "pa"}),
                    );
                }
            }),
        ),
        (
            "a PA moving a run that is not assigned to them",
            "transition",
            Box::new({
                let (sides, pa_id) = (sides.clone(), pa_id.clone());
                move |d| {
                    forge_event(
                        d,
                        &sides,
                        serde_json::json!({"kind": "picked_up", "member": pa_id, "role": "pa"}),
                    );
                }
            }),
        ),
        (
            "deleting every status event of a run",
            "append-only",
            Box::new({
                let coffee = coffee.clone();
                move |d| {
                    let runs = d.get(ROOT, "runs").unwrap().unwrap().1;
                    let r = d.get(&runs, coffee.as_str()).unwrap().unwrap().1;
                    let events = d.get(&r, "events").unwrap().unwrap().1;
                    let keys: Vec<String> = d.keys(&events).collect();
                    let mut tx = d.transaction();
                    for k in keys {
                        tx.delete(&events, k.as_str()).unwrap();
                    }
                    tx.commit();
                }
            }),
        ),
        (
            "deleting a whole run",
            "never-deleted",
            Box::new({
                let coffee = coffee.clone();
                move |d| {
                    let runs = d.get(ROOT, "runs").unwrap().unwrap().1;
                    let mut tx = d.transaction();
                    tx.delete(&runs, coffee.as_str()).unwrap();
                    tx.commit();
                }
            }),
        ),
        (
            "priority = 42",
            "shape",
            Box::new({
                let sides = sides.clone();
                move |d| {
                    let runs = d.get(ROOT, "runs").unwrap().unwrap().1;
                    let r = d.get(&runs, sides.as_str()).unwrap().unwrap().1;
                    let mut tx = d.transaction();
                    tx.put(&r, "priority", 42).unwrap();
                    tx.commit();
                }
            }),
        ),
    ];
    for (i, (what, rule, attempt)) in attempts.iter().enumerate() {
        let p = connected(&s.relay, &s.pa.token, &format!("attacker-{i}")).await;
        synced(&p, s.board).await;
        p.wait_heads(s.board, &pa.heads(s.board), 10).await;
        p.change(s.board, |d| attempt(d));
        let n = refused(&p, s.board, rule, 0).await;
        eprintln!("{what}: {n:?}");
        // Still connected, and still syncing: a coordinator's change reaches it.
        assert!(p.is_connected(), "{what}: the connection must stay up");
        assert!(
            p.seen(|st| st.errors.is_empty()),
            "{what}: no error message"
        );
    }

    // Nothing of any of it was stored: the relay still serves the demo's history.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        stored_before,
        stored(&metrics(s.relay.addr).await),
        "a refused change must not be stored"
    );
    let fresh = fresh_copy(&s, s.board).await;
    assert_eq!(status_of(&fresh, &coffee), RunStatus::Assigned);
    assert_eq!(status_of(&fresh, &batteries), RunStatus::Assigned);
    assert_eq!(status_of(&fresh, &sides), RunStatus::Requested);
    let r = run::read_run(&fresh, &sides).unwrap();
    assert_eq!(r.record.priority, setlink_core::model::Priority::Urgent);

    // The PA's own, valid change on the original connection is accepted and stored.
    pa.change(s.board, |d| {
        run::record_status(
            d,
            &setlink_core::Author {
                member_id: pa_id.clone(),
                device_id: "p1".into(),
                role: setlink_core::Role::Pa,
            },
            1_900_000_000_000,
            &batteries,
            run::RunEvent::PickUp,
            setlink_core::model::EventContext::none(),
        )
        .unwrap();
    });
    let fresh_pa_heads = pa.heads(s.board);
    let reader = connected(&s.relay, &s.coord.token, "reader").await;
    synced(&reader, s.board).await;
    reader.wait_heads(s.board, &fresh_pa_heads, 10).await;
    let status = reader.read(s.board, |d| status_of(d, &batteries)).unwrap();
    assert_eq!(status, RunStatus::PickedUp);
    assert!(notices(&pa).is_empty(), "a valid change is not refused");
}

/// An app that drops its refused change and at once writes a valid one, on the same
/// connection, is heard: its first message after the drop names a head the relay lacks and
/// carries no change (a fresh sync state sends none until answered), and the relay must
/// answer it rather than treat it as the peer still holding the refused change.
#[tokio::test]
async fn a_writer_that_drops_its_refused_change_and_writes_again_is_heard() {
    let (_dir, s) = setup().await;
    let pa = connected(&s.relay, &s.pa.token, "pa").await;
    synced(&pa, s.board).await;
    let coffee = pa
        .read(s.board, |d| run_id(d, "Coffee for camera dept"))
        .unwrap();
    let confirmed = pa.read(s.board, |d| d.clone()).unwrap();
    pa.wait_heads(s.board, &confirmed.get_heads(), 10).await;
    pa.change(s.board, |d| {
        forge_event(
            d,
            &coffee,
            serde_json::json!({"kind": "cancelled", "member": s.coord.member_id, "role": "coordinator"}),
        )
    });
    refused(&pa, s.board, "authorship", 0).await;

    // Dropped, and the real pick-up written before anything is sent again.
    let mut kept = confirmed.fork();
    run::record_status(
        &mut kept,
        &setlink_core::Author {
            member_id: s.pa.member_id.clone(),
            device_id: "p1".into(),
            role: setlink_core::Role::Pa,
        },
        1_900_000_000_000,
        &coffee,
        run::RunEvent::PickUp,
        setlink_core::model::EventContext::none(),
    )
    .unwrap();
    let real = kept.get_heads();
    pa.replace(s.board, kept);

    let reader = connected(&s.relay, &s.coord.token, "reader").await;
    synced(&reader, s.board).await;
    reader.wait_heads(s.board, &real, 10).await;
    let status = reader.read(s.board, |d| status_of(d, &coffee)).unwrap();
    assert_eq!(status, RunStatus::PickedUp);
    assert_eq!(notices(&pa).len(), 1, "the real pick-up is not refused");
}

#[tokio::test]
async fn offline_delivered_concurrent_with_cancel_is_accepted_and_wins() {
    let (_dir, s) = setup().await;
    let pa = connected(&s.relay, &s.pa.token, "pa").await;
    synced(&pa, s.board).await;
    let batteries = pa
        .read(s.board, |d| run_id(d, "Pick up walkie batteries"))
        .unwrap();
    let pa_author = setlink_core::Author {
        member_id: s.pa.member_id.clone(),
        device_id: "p1".into(),
        role: setlink_core::Role::Pa,
    };
    // The PA's phone, offline: picked up then delivered, on its own copy.
    let mut offline = pa.read(s.board, |d| d.fork()).unwrap();
    drop(pa);
    for ev in [run::RunEvent::PickUp, run::RunEvent::Deliver] {
        run::record_status(
            &mut offline,
            &pa_author,
            1_900_000_000_000,
            &batteries,
            ev,
            setlink_core::model::EventContext::none(),
        )
        .unwrap();
    }
    // Meanwhile the coordinator cancels the run through the relay.
    let coord = connected(&s.relay, &s.coord.token, "coord").await;
    synced(&coord, s.board).await;
    coord.change(s.board, |d| {
        run::record_status(
            d,
            &setlink_core::Author {
                member_id: s.coord.member_id.clone(),
                device_id: "c1".into(),
                role: setlink_core::Role::Coordinator,
            },
            1_900_000_000_500,
            &batteries,
            run::RunEvent::Cancel,
            setlink_core::model::EventContext::none(),
        )
        .unwrap();
    });
    let coord_heads = coord.heads(s.board);
    // Back in range: the PA's phone syncs its two events, checked against what it saw.
    let back = connected(&s.relay, &s.pa.token, "pa-back").await;
    back.insert(s.board, offline);
    back.open(s.board);
    let _ = coord_heads;
    coord
        .wait(10, "the PA's delivered event", |d, _| {
            d.docs
                .get(&s.board)
                .is_some_and(|b| status_of(b, &batteries) == RunStatus::Delivered)
        })
        .await;
    assert!(notices(&back).is_empty(), "{:?}", notices(&back));
    let r = coord
        .read(s.board, |d| run::read_run(d, &batteries).unwrap())
        .unwrap();
    assert_eq!(r.status, RunStatus::Delivered);
    assert!(
        r.conflicts.iter().any(|c| c.event_kind == "cancelled"),
        "the losing cancel stays visible: {:?}",
        r.conflicts
    );
}

#[tokio::test]
async fn published_sheets_member_documents_and_the_index_are_guarded() {
    let (_dir, s) = setup().await;
    let coord = connected(&s.relay, &s.coord.token, "coord").await;
    synced(&coord, s.prod).await;
    let index = coord.read(s.prod, |d| read_index(d).unwrap()).unwrap();
    let published = index
        .iter()
        .find_map(|(id, k)| matches!(k, DocKind::CallSheetPublished { .. }).then_some(*id))
        .unwrap();
    let pa_member_doc = index
        .iter()
        .find_map(|(id, k)| {
            matches!(k, DocKind::Member { member_id } if *member_id == s.pa.member_id)
                .then_some(*id)
        })
        .unwrap();

    // Editing a published revision.
    synced(&coord, published).await;
    coord.change(published, |d| {
        let revs = d.get(ROOT, "revisions").unwrap().unwrap().1;
        let first = d.get(&revs, 0).unwrap().unwrap().1;
        let mut tx = d.transaction();
        tx.put(&first, "summary", "nothing changed, honest")
            .unwrap();
        tx.commit();
    });
    refused(&coord, published, "published-revision", 0).await;

    // Someone else's member document.
    synced(&coord, pa_member_doc).await;
    coord.change(pa_member_doc, |d| {
        let mut tx = d.transaction();
        tx.put(ROOT, "ack/2030-06-14/1/confirmed", 1_900_000_000_000_i64)
            .unwrap();
        tx.commit();
    });
    refused(&coord, pa_member_doc, "forbidden", 1).await;

    // Another production's document listed in this production's index: production B's
    // coordinator lists production A's board.
    let code = s.relay.create_production("Other Show", "Bea");
    let b_coord = redeem(s.relay.addr, &code, "Bea", "b1").await;
    let b_prod: DocumentId = b_coord.production_doc_id.parse().unwrap();
    let bp = connected(&s.relay, &b_coord.token, "b-coord").await;
    synced(&bp, b_prod).await;
    let board = s.board;
    let bea = setlink_core::Author {
        member_id: b_coord.member_id.clone(),
        device_id: "b1".into(),
        role: setlink_core::Role::Coordinator,
    };
    // Another day than B's own board, so the model itself has nothing to object to.
    bp.change(b_prod, |d| {
        setlink_core::model::production::register_document(
            d,
            &bea,
            1_900_000_000_000,
            &board,
            &DocKind::Board {
                day: "2031-01-01".into(),
            },
        )
        .unwrap()
    });
    refused(&bp, b_prod, "index", 0).await;
    // B's index does not list it at the relay.
    let fresh = connected(&s.relay, &b_coord.token, "b-fresh").await;
    synced(&fresh, b_prod).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listed = fresh
        .read(b_prod, |d| read_index(d).unwrap())
        .unwrap()
        .iter()
        .any(|(id, _)| *id == board);
    assert!(!listed, "production A's board must not be in B's index");
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_before_it_is_inflated() {
    let (_dir, s) = setup().await;
    let pa = connected(&s.relay, &s.pa.token, "pa").await;
    synced(&pa, s.board).await;
    let rss_before = s.relay.peak_rss_kib();
    // 64 MiB of one byte: Automerge's saved form deflates it to well under 1 MiB, one frame
    // far below the frame limit. Sent as a sync message carrying that document chunk.
    let bomb = {
        let mut d = Automerge::new();
        let big = "x".repeat(64 * 1024 * 1024);
        let mut tx = d.transaction();
        tx.put(ROOT, "bomb", big.as_str()).unwrap();
        tx.commit();
        d.save()
    };
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let msg = automerge::sync::Message {
        heads: Vec::new(),
        need: Vec::new(),
        have: Vec::new(),
        changes: vec![bomb].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    pa.send_raw(tokio_tungstenite::tungstenite::Message::Binary(
        setlink_core::sync::wire::encode(&setlink_core::sync::wire::Message::Sync {
            sender_id: "pa".into(),
            target_id: "relay".into(),
            document_id: s.board,
            data: msg.encode(),
        })
        .into(),
    ));
    refused(&pa, s.board, "cost", 0).await;
    let rss_after = s.relay.peak_rss_kib();
    eprintln!("relay peak RSS: {rss_before} KiB before, {rss_after} KiB after the bomb");
    assert!(
        rss_after < 256 * 1024,
        "the relay's peak memory must stay under 256 MiB (was {rss_after} KiB)"
    );
    assert!(pa.is_connected());
}
