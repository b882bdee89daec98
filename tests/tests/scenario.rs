//! PRODUCT.md's scenario against the real relay binary: a PA goes offline, marks two runs
//! picked up and one delivered with a receipt, while the coordinator reassigns a fourth
//! run; when the PA reconnects both sides converge within seconds and nothing is lost.

use std::time::{Duration, Instant};

use automerge::Automerge;
use setlink_core::model::callsheet::{self, Colour};
use setlink_core::model::member::{self, AckLevel};
use setlink_core::model::run::{self, ReceiptInput, RunEvent, RunStatus};
use setlink_core::model::EventContext;
use setlink_core::{Author, DocKind, DocumentId, Role};
use setlink_server::production_doc::read_index;
use setlink_tests::demo::assert_underground_outcome;
use setlink_tests::http::{self, redeem};
use setlink_tests::peer::same_heads;
use setlink_tests::{Peer, PeerDocs, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn author(member: &str, role: Role, device: &str) -> Author {
    Author {
        member_id: member.into(),
        device_id: device.into(),
        role,
    }
}

fn doc_of(index_doc: &Automerge, want: fn(&DocKind) -> bool) -> DocumentId {
    read_index(index_doc)
        .expect("index")
        .into_iter()
        .find_map(|(id, k)| want(&k).then_some(id))
        .expect("demo production lists the document")
}

fn now_ms() -> i64 {
    setlink_server::auth::now_ms()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pa_offline_while_coordinator_edits_then_both_converge() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let coord = redeem(
        relay.addr,
        relay.code("coordinator"),
        "Casey",
        "casey-laptop",
    )
    .await;
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    assert_eq!(coord.role, "coordinator");
    assert_eq!(pa.role, "pa");
    let prod: DocumentId = coord.production_doc_id.parse().unwrap();

    // A second PA, invited by the coordinator over HTTP.
    let (status, inv) = http::request(
        relay.addr,
        "POST",
        "/api/invites",
        Some(&coord.token),
        Some(&serde_json::json!({"role": "pa"})),
    )
    .await;
    assert_eq!(status, 200, "{inv}");
    let riley = redeem(
        relay.addr,
        inv["code"].as_str().unwrap(),
        "Riley",
        "riley-phone",
    )
    .await;
    assert_eq!(riley.role, "pa");

    let c = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("coord"))
        .await
        .unwrap();
    let p = Peer::connect(&relay.ws_url(), &pa.token, PeerDocs::new("pa"))
        .await
        .unwrap();
    for peer in [&c, &p] {
        peer.open(prod);
        peer.wait(10, "production doc", |d, _| {
            d.docs
                .get(&prod)
                .is_some_and(|doc| read_index(doc).is_ok_and(|i| i.len() >= 5))
        })
        .await;
    }
    let board = c
        .read(prod, |d| doc_of(d, |k| matches!(k, DocKind::Board { .. })))
        .unwrap();
    let draft = c
        .read(prod, |d| {
            doc_of(d, |k| matches!(k, DocKind::CallSheetDraft { .. }))
        })
        .unwrap();
    let published = c
        .read(prod, |d| {
            doc_of(d, |k| matches!(k, DocKind::CallSheetPublished { .. }))
        })
        .unwrap();
    let pa_doc: DocumentId = pa.member_doc_id.clone().unwrap().parse().unwrap();
    for (peer, doc) in [
        (&c, draft),
        (&c, published),
        (&p, published),
        (&p, pa_doc),
        (&c, pa_doc),
    ] {
        peer.open(doc);
        peer.wait(10, "call sheet and member docs", move |d, _| {
            d.docs.get(&doc).is_some_and(|x| !x.get_heads().is_empty())
        })
        .await;
    }
    let latest = |d: &Automerge| {
        callsheet::read_revisions(d)
            .ok()
            .and_then(|r| r.items.into_iter().max_by_key(|r| r.number))
            .map(|r| (r.number, r.colour, r.sheet.times.general_call))
    };
    assert_eq!(p.read(published, latest).flatten().map(|r| r.0), Some(1));
    for peer in [&c, &p] {
        peer.open(board);
        peer.wait(10, "board with four runs", |d, _| {
            d.docs
                .get(&board)
                .is_some_and(|doc| run::list_runs(doc).is_ok_and(|r| r.items.len() == 4))
        })
        .await;
    }
    let runs = p.read(board, |d| run::list_runs(d).unwrap()).unwrap();
    assert!(runs.is_complete(), "{:?}", runs.unreadable);
    let mut ids: Vec<(String, String)> = runs
        .items
        .iter()
        .map(|r| (r.record.title.clone(), r.id().to_owned()))
        .collect();
    ids.sort();
    let id_of = |title: &str| {
        ids.iter()
            .find(|(t, _)| t == title)
            .map(|(_, id)| id.clone())
            .unwrap()
    };
    let coffee = id_of("Coffee for camera dept");
    let batteries = id_of("Pick up walkie batteries");
    let tape = id_of("Gaffer tape and sharpies");

    let casey = author(&coord.member_id, Role::Coordinator, "casey-laptop");
    let pat = author(&pa.member_id, Role::Pa, "pat-phone");
    // Before going underground the PA also holds the fourth run.
    c.change(board, |d| {
        run::assign(
            d,
            &casey,
            now_ms(),
            &tape,
            &pa.member_id,
            EventContext::none(),
        )
        .unwrap()
    });
    let h = c.heads(board);
    p.wait_heads(board, &h, 10).await;

    // --- the PA goes underground ---
    let mut offline = p.disconnect().await;
    {
        let d = offline.docs.get_mut(&board).unwrap();
        run::record_status(
            d,
            &pat,
            now_ms(),
            &coffee,
            RunEvent::PickUp,
            EventContext::none(),
        )
        .unwrap();
        run::record_status(
            d,
            &pat,
            now_ms(),
            &batteries,
            RunEvent::PickUp,
            EventContext::none(),
        )
        .unwrap();
        run::add_receipt(
            d,
            &pat,
            now_ms(),
            &coffee,
            ReceiptInput {
                vendor: "Blue Bottle".into(),
                total_cents: 4250,
                tax_cents: 350,
                account_code: Some("2100".into()),
                photo_ref: None,
            },
        )
        .unwrap();
        run::record_status(
            d,
            &pat,
            now_ms(),
            &coffee,
            RunEvent::Deliver,
            EventContext::note("left with the 2nd AC"),
        )
        .unwrap();
    }
    // --- meanwhile in the office ---
    c.change(board, |d| {
        run::assign(
            d,
            &casey,
            now_ms(),
            &tape,
            &riley.member_id,
            EventContext::note("Pat is underground"),
        )
        .unwrap()
    });
    c.change(draft, |d| {
        callsheet::set_general_call(d, &casey, now_ms(), 6 * 60 + 30).unwrap()
    });
    let draft_doc = c.read(draft, |d| d.clone()).unwrap();
    let rev = c.change(published, |d| {
        callsheet::publish(
            &draft_doc,
            d,
            &casey,
            now_ms(),
            "General call moved to 06:30",
        )
        .unwrap()
    });
    assert_eq!((rev.number, rev.colour), (2, Colour::Blue));

    // --- signal returns ---
    let back = Instant::now();
    let p = Peer::connect(&relay.ws_url(), &pa.token, offline)
        .await
        .unwrap();
    let both_converged = async {
        loop {
            let a = c.heads(board);
            let b = p.heads(board);
            if same_heads(&a, &b)
                && p.read(board, |d| {
                    run::run_state(d, &tape).ok().and_then(|s| s.assignee)
                }) == Some(Some(riley.member_id.clone()))
                && c.read(board, |d| run::run_state(d, &coffee).ok().map(|s| s.status))
                    == Some(Some(RunStatus::Delivered))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    setlink_tests::within(10, "both sides to converge", both_converged).await;
    // The PA's phone shows revision 2 (Blue) with the new call, and records receiving it.
    p.wait(10, "revision 2 on the PA's phone", move |d, _| {
        d.docs.get(&published).and_then(latest) == Some((2, Colour::Blue, Some(390)))
    })
    .await;
    let day = p
        .read(published, |d| {
            callsheet::read_revisions(d).unwrap().items[0]
                .sheet
                .header
                .date
                .clone()
        })
        .unwrap();
    let d2 = day.clone();
    p.change(pa_doc, |d| {
        member::acknowledge(d, &pat, now_ms(), &d2, 2, AckLevel::Received).unwrap()
    });
    c.wait(
        10,
        "the PA's acknowledgement at the coordinator",
        move |d, _| {
            d.docs
                .get(&pa_doc)
                .and_then(|x| member::ack_for(x, &day, 2))
                .is_some_and(|a| a.has(AckLevel::Received))
        },
    )
    .await;
    let took = back.elapsed();
    assert!(took < Duration::from_secs(5), "converging took {took:?}");

    // Nothing lost on either side, and each side derives the same state.
    for peer in [&c, &p] {
        let runs = [coffee.as_str(), batteries.as_str(), tape.as_str()];
        assert_underground_outcome(peer, board, runs, &riley.member_id);
    }
    // The relay stored it too: a fresh device of the coordinator gets the same heads.
    let fresh = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("coord2"))
        .await
        .unwrap();
    fresh.open(board);
    fresh.wait_heads(board, &c.heads(board), 10).await;
}
