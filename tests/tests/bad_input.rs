//! ENGINEERING.md's reliability list against the real relay binary: every bad input gets
//! a clear error, nothing is stored, and the relay keeps serving everyone else.

use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ROOT};
use futures_util::{SinkExt, StreamExt};
use setlink_core::sync::wire::{self, Message};
use setlink_core::{DocKind, DocumentId};
use setlink_server::production_doc::read_index;
use setlink_tests::http::{self, metric, metrics, redeem, Creds};
use setlink_tests::{within, Peer, PeerDocs, Relay};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn stored_bytes(m: &str) -> u64 {
    metric(m, "setlink_storage_document_bytes_written_total")
}

async fn connected(relay: &Relay, c: &Creds, name: &str) -> Peer {
    let p = Peer::connect(&relay.ws_url(), &c.token, PeerDocs::new(name))
        .await
        .unwrap_or_else(|e| panic!("connect {name}: {e:?}"));
    p.wait(10, "handshake", |_, s| s.connected).await;
    p
}

/// A healthy peer makes a change (a comment on the board's first run, as the app would
/// write it) and another healthy peer receives it.
async fn relay_still_serves(relay: &Relay, a: &Creds, b: &Creds, doc: DocumentId) {
    let pa = connected(relay, a, "healthy-a").await;
    let pb = connected(relay, b, "healthy-b").await;
    pa.open(doc);
    pb.open(doc);
    pa.wait(10, "doc", |d, _| {
        d.docs.get(&doc).is_some_and(|x| {
            setlink_core::model::run::list_runs(x).is_ok_and(|l| !l.items.is_empty())
        })
    })
    .await;
    let stamp = rand::random::<u64>().to_string();
    let author = setlink_core::Author {
        member_id: a.member_id.clone(),
        device_id: "healthy".into(),
        role: a.role.parse().expect("a role"),
    };
    pa.change(doc, |d| {
        let runs = setlink_core::model::run::list_runs(d).unwrap();
        let first = runs.items[0].record.id.clone();
        setlink_core::model::run::add_comment(
            d,
            &author,
            setlink_server::auth::now_ms(),
            &first,
            &stamp,
        )
        .unwrap();
    });
    pb.wait(10, "healthy change to fan out", |d, _| {
        d.docs.get(&doc).is_some_and(|x| {
            setlink_core::model::run::list_runs(x).is_ok_and(|l| {
                l.items
                    .iter()
                    .any(|r| r.record.comments.iter().any(|c| c.text == stamp))
            })
        })
    })
    .await;
}

/// Waits until the relay serves `doc` at `heads` to a fresh device of `c`.
async fn relay_has(relay: &Relay, c: &Creds, doc: DocumentId, heads: &[automerge::ChangeHash]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let p = connected(relay, c, "probe").await;
        p.open(doc);
        let want = heads.to_vec();
        let got = tokio::time::timeout(
            Duration::from_secs(1),
            p.wait(1, "probe", move |d, st| {
                st.unavailable.contains(&doc)
                    || d.docs
                        .get(&doc)
                        .is_some_and(|x| setlink_tests::peer::same_heads(&x.get_heads(), &want))
            }),
        )
        .await;
        if got.is_ok() && !p.seen(|st| st.unavailable.contains(&doc)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "relay never had {doc} at {heads:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Setup {
    relay: Relay,
    coord: Creds,
    pa: Creds,
    crew: Creds,
    prod: DocumentId,
    board: DocumentId,
}

async fn setup(extra: &[&str]) -> (tempfile::TempDir, Setup) {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), extra);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c1").await;
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "p1").await;
    let crew = redeem(relay.addr, relay.code("crew"), "Cam", "k1").await;
    let prod: DocumentId = coord.production_doc_id.parse().unwrap();
    let c = connected(&relay, &coord, "setup").await;
    c.open(prod);
    c.wait(10, "production doc", |d, _| {
        d.docs
            .get(&prod)
            .is_some_and(|x| read_index(x).is_ok_and(|i| i.len() >= 5))
    })
    .await;
    let board = c
        .read(prod, |d| {
            read_index(d)
                .unwrap()
                .into_iter()
                .find_map(|(id, k)| matches!(k, DocKind::Board { .. }).then_some(id))
        })
        .flatten()
        .unwrap();
    drop(c);
    (
        dir,
        Setup {
            relay,
            coord,
            pa,
            crew,
            prod,
            board,
        },
    )
}

fn sync_frame(peer_id: &str, doc: DocumentId, data: Vec<u8>) -> Vec<u8> {
    wire::encode(&Message::Sync {
        sender_id: peer_id.into(),
        target_id: "relay".into(),
        document_id: doc,
        data,
    })
}

async fn expect_error_and_close(p: &Peer, needle: &str, code: u16) {
    p.wait(10, "an error and a close frame", |_, s| {
        s.close_frame.is_some()
    })
    .await;
    let (errors, close) = p.seen(|s| (s.errors.clone(), s.close_frame.clone()));
    assert!(
        errors.iter().any(|e| e.contains(needle)),
        "expected an error containing {needle:?}, got {errors:?}"
    );
    assert_eq!(close.map(|c| c.0), Some(code), "close frame");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_garbage_and_invalid_automerge_are_refused_and_nothing_is_stored() {
    let (_dir, s) = setup(&["--max-frame-bytes", "65536"]).await;
    let before = stored_bytes(&metrics(s.relay.addr).await);

    // Not CBOR at all.
    let p = connected(&s.relay, &s.pa, "garbage").await;
    p.send_raw(WsMessage::Binary(vec![0xff, 0x00, 0x13, 0x37].into()));
    expect_error_and_close(&p, "invalid frame", 1002).await;

    // Valid CBOR, but not a message: an array, then a map without a type.
    let p = connected(&s.relay, &s.pa, "cbor-array").await;
    p.send_raw(WsMessage::Binary(vec![0x83, 0x01, 0x02, 0x03].into()));
    expect_error_and_close(&p, "invalid frame", 1002).await;
    let p = connected(&s.relay, &s.pa, "cbor-map").await;
    p.send_raw(WsMessage::Binary(vec![0xa1, 0x61, 0x61, 0x01].into()));
    expect_error_and_close(&p, "invalid frame", 1002).await;

    // A text frame.
    let p = connected(&s.relay, &s.pa, "text").await;
    p.send_raw(WsMessage::Text("{\"type\":\"sync\"}".into()));
    expect_error_and_close(&p, "binary CBOR", 1002).await;

    // Oversized: just over the limit gets a readable error, far over it a 1009 close.
    let p = connected(&s.relay, &s.pa, "big").await;
    p.send_raw(WsMessage::Binary(vec![0u8; 70_000].into()));
    expect_error_and_close(&p, "exceeds the limit of 65536 bytes", 1009).await;
    let p = connected(&s.relay, &s.pa, "huge").await;
    p.send_raw(WsMessage::Binary(vec![0u8; 1_000_000].into()));
    p.wait(10, "close", |_, st| st.closed.is_some()).await;
    assert!(p.seen(|st| st.close_frame.as_ref().is_none_or(|c| c.0 == 1009)));

    // `data` that is not an Automerge sync message.
    let p = connected(&s.relay, &s.pa, "bad-sync").await;
    p.send_raw(WsMessage::Binary(
        sync_frame("bad-sync", s.board, b"definitely not automerge".to_vec()).into(),
    ));
    p.wait(10, "error", |_, st| {
        st.errors
            .iter()
            .any(|e| e.contains("invalid automerge sync message"))
    })
    .await;

    // A well-formed sync message whose change bytes are garbage.
    let p = connected(&s.relay, &s.pa, "bad-change").await;
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "x", 1).unwrap();
    tx.commit();
    let mut change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    let n = change.len();
    for b in &mut change[n / 2..] {
        *b ^= 0x5a;
    }
    let msg = automerge::sync::Message {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: automerge::sync::ChunkList::from(vec![change]),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    p.send_raw(WsMessage::Binary(
        sync_frame("bad-change", s.board, msg.encode()).into(),
    ));
    p.wait(10, "error", |_, st| {
        st.errors
            .iter()
            .any(|e| e.contains("Automerge") && e.contains("nothing was stored"))
    })
    .await;

    let after = stored_bytes(&metrics(s.relay.addr).await);
    assert_eq!(before, after, "bad input must store nothing");
    relay_still_serves(&s.relay, &s.coord, &s.pa, s.board).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_rate_limits_and_auth_failures_get_clear_errors() {
    let (_dir, s) = setup(&["--rate-per-sec", "20", "--rate-burst", "40"]).await;

    // A frame before `join`.
    let url = format!("{}?token={}", s.relay.ws_url(), s.pa.token);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    ws.send(WsMessage::Binary(
        sync_frame("early", s.board, vec![]).into(),
    ))
    .await
    .unwrap();
    let mut saw_error = false;
    let mut close_code = None;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        match m {
            WsMessage::Binary(b) => {
                if let Ok(Message::Error { message, .. }) = wire::decode(&b) {
                    saw_error = message.contains("expected `join`");
                }
            }
            WsMessage::Close(f) => {
                close_code = f.map(|f| u16::from(f.code));
                break;
            }
            _ => {}
        }
    }
    assert!(
        saw_error && close_code == Some(1002),
        "{saw_error} {close_code:?}"
    );

    // Missing, unknown and malformed tokens: the upgrade succeeds (a stock Node client
    // throws a failed upgrade as an uncaught exception), then one readable `error` and a
    // close with 4401, which tells our clients to stop and ask to sign in again.
    for bad in ["", "slk_nope", "garbage token"] {
        let url = format!("{}?token={}", s.relay.ws_url(), bad.replace(' ', "%20"));
        let (error, code, reason) = setlink_tests::peer::refused_connection(&url).await;
        assert!(
            error.contains("token") && error.contains("sign in again"),
            "{error}"
        );
        assert_eq!(code, 4401, "{reason}");
        assert!(
            error.starts_with(&reason),
            "{reason:?} is not the start of {error:?}"
        );
    }

    // Flooding: more than the burst in a moment.
    let p = connected(&s.relay, &s.pa, "flood").await;
    for _ in 0..200 {
        p.send_raw(WsMessage::Binary(
            wire::encode(&Message::RemoteSubscriptionChange {
                sender_id: "flood".into(),
                target_id: "relay".into(),
                add: Some(vec![]),
                remove: None,
            })
            .into(),
        ));
    }
    expect_error_and_close(&p, "rate limit exceeded", 1008).await;
    let m = metrics(s.relay.addr).await;
    assert!(metric(&m, "setlink_refusals_total{reason=\"rate_limited\"}") >= 1);
    assert!(metric(&m, "setlink_refusals_total{reason=\"unauthenticated\"}") >= 3);

    // A bad redeem is a clear 403, and a malformed one a 400.
    let (st, v) = http::request(
        s.relay.addr,
        "POST",
        "/api/redeem",
        None,
        Some(&serde_json::json!({"code": "ZZZZ-ZZZZ-ZZZZ", "name": "x", "device_id": "y"})),
    )
    .await;
    assert_eq!(st, 403);
    assert!(v["error"].as_str().unwrap().contains("unknown invite code"));
    let (st, _) = http::request_raw(
        s.relay.addr,
        "POST",
        "/api/redeem",
        None,
        Some(b"{".to_vec()),
    )
    .await;
    assert_eq!(st, 400);
    // Only coordinators create invites.
    let (st, v) = http::request(
        s.relay.addr,
        "POST",
        "/api/invites",
        Some(&s.pa.token),
        Some(&serde_json::json!({"role": "coordinator"})),
    )
    .await;
    assert_eq!(st, 403, "{v}");

    relay_still_serves(&s.relay, &s.coord, &s.pa, s.board).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_foreign_documents_are_unavailable_and_crew_cannot_write_call_sheets() {
    let (_dir, s) = setup(&[]).await;

    // Unknown document asked for: unavailable.
    let crew = connected(&s.relay, &s.crew, "crew").await;
    let unknown = DocumentId::random();
    crew.open(unknown);
    crew.wait(10, "doc-unavailable", |_, st| {
        st.unavailable.contains(&unknown)
    })
    .await;
    // Crew may not read boards at all.
    crew.open(s.board);
    crew.wait(10, "doc-unavailable for board", |_, st| {
        st.unavailable.contains(&s.board)
    })
    .await;
    assert!(
        crew.heads(s.board).is_empty(),
        "crew must not get board data"
    );

    // Crew creating a document: refused (only members who write runs may).
    let mut created = Automerge::new();
    let mut tx = created.transaction();
    tx.put(ROOT, "by", "crew").unwrap();
    tx.commit();
    let crew_doc = DocumentId::random();
    crew.insert(crew_doc, created);
    crew.wait(10, "doc-unavailable for crew-created doc", |_, st| {
        st.unavailable.contains(&crew_doc)
    })
    .await;

    // A PA creating a document (what a plain automerge-repo client does): accepted.
    let pa = connected(&s.relay, &s.pa, "pa").await;
    let mut shared = Automerge::new();
    let mut tx = shared.transaction();
    tx.put(ROOT, "note", "from a PA").unwrap();
    tx.commit();
    let shared_id = DocumentId::random();
    let heads = shared.get_heads();
    pa.insert(shared_id, shared);
    relay_has(&s.relay, &s.pa, shared_id, &heads).await;
    let other_pa = connected(&s.relay, &s.coord, "coord-reader").await;
    other_pa.open(shared_id);
    other_pa.wait_heads(shared_id, &heads, 10).await;

    // Another production: its coordinator asks for this production's documents.
    let code = s.relay.create_production("Other Show", "Olga");
    let olga = redeem(s.relay.addr, &code, "Olga", "o1").await;
    let foreign = connected(&s.relay, &olga, "olga").await;
    for doc in [s.prod, s.board, shared_id] {
        foreign.open(doc);
        foreign
            .wait(
                10,
                "doc-unavailable for another production's doc",
                move |_, st| st.unavailable.contains(&doc),
            )
            .await;
        assert!(
            foreign.heads(doc).is_empty(),
            "leaked another production's data"
        );
    }
    // Listing another production's document in one's own index does not capture it.
    let olga_prod: DocumentId = olga.production_doc_id.parse().unwrap();
    foreign.open(olga_prod);
    foreign
        .wait(10, "own production doc", |d, _| {
            d.docs
                .get(&olga_prod)
                .is_some_and(|x| !x.get_heads().is_empty())
        })
        .await;
    // Days the demo seeded nothing for, whatever day the relay calls today.
    let next_day = setlink_server::today::next_day(&s.relay.day).expect("the relay's day");
    let day_after = setlink_server::today::next_day(&next_day).expect("a day");
    let olga_author = setlink_core::Author {
        member_id: olga.member_id.clone(),
        device_id: "olga".into(),
        role: setlink_core::Role::Coordinator,
    };
    foreign.change(olga_prod, |d| {
        setlink_core::model::production::register_document(
            d,
            &olga_author,
            setlink_server::auth::now_ms(),
            &s.board,
            &DocKind::Board {
                day: day_after.clone(),
            },
        )
        .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = connected(&s.relay, &olga, "olga-again").await;
    again.open(s.board);
    again
        .wait(10, "still unavailable", |_, st| {
            st.unavailable.contains(&s.board)
        })
        .await;

    // A published call sheet: the coordinator creates it and lists it in the index.
    let coord = connected(&s.relay, &s.coord, "coord").await;
    coord.open(s.prod);
    coord
        .wait(10, "prod", |d, _| {
            d.docs
                .get(&s.prod)
                .is_some_and(|x| !x.get_heads().is_empty())
        })
        .await;
    let casey = setlink_core::Author {
        member_id: s.coord.member_id.clone(),
        device_id: "c1".into(),
        role: setlink_core::Role::Coordinator,
    };
    let sheet_id = DocumentId::random();
    let mut sheet = Automerge::new();
    setlink_core::model::callsheet::init_published(
        &mut sheet,
        &casey,
        setlink_server::auth::now_ms(),
        &next_day,
    )
    .unwrap();
    coord.insert(sheet_id, sheet);
    coord.change(s.prod, |d| {
        setlink_core::model::production::register_document(
            d,
            &casey,
            setlink_server::auth::now_ms(),
            &sheet_id,
            &DocKind::CallSheetPublished {
                day: next_day.clone(),
            },
        )
        .unwrap()
    });
    let sheet_heads = coord.heads(sheet_id);
    relay_has(&s.relay, &s.coord, s.prod, &coord.heads(s.prod)).await;
    let crew2 = connected(&s.relay, &s.crew, "crew2").await;
    crew2.open(sheet_id);
    crew2.wait_heads(sheet_id, &sheet_heads, 10).await;
    let before = stored_bytes(&metrics(s.relay.addr).await);
    crew2.change(sheet_id, |d| {
        let mut tx = d.transaction();
        tx.put(ROOT, "colour", "Pink").unwrap();
        tx.commit();
    });
    // Refused with one notice, not an `error`: the connection stays up.
    crew2
        .wait(10, "write refused", |_, st| {
            st.ephemeral.iter().any(|(_, _, data)| {
                setlink_core::rules::notice::decode(data).is_some_and(|n| {
                    n.rule == "forbidden"
                        && n.message
                            .contains("crew may not write a published call sheet")
                })
            })
        })
        .await;
    assert!(crew2.is_connected() && crew2.seen(|st| st.errors.is_empty()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = stored_bytes(&metrics(s.relay.addr).await);
    assert_eq!(before, after, "refused write must not be stored");
    let fresh = connected(&s.relay, &s.coord, "coord-fresh").await;
    fresh.open(sheet_id);
    fresh.wait_heads(sheet_id, &sheet_heads, 10).await;
    let colour = fresh
        .read(sheet_id, |d| {
            d.get(ROOT, "colour")
                .unwrap()
                .and_then(|(v, _)| v.as_str().map(str::to_owned))
        })
        .flatten();
    assert_eq!(colour, None, "the crew member's edit must not be stored");
    let m = metrics(s.relay.addr).await;
    assert!(metric(&m, "setlink_refusals_total{reason=\"forbidden_write\"}") >= 1);

    relay_still_serves(&s.relay, &s.coord, &s.pa, s.board).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused_and_end_their_connections() {
    let (_dir, s) = setup(&["--token-ttl-secs", "3"]).await;
    // Tokens from this relay live 3 s: a connection is closed when its token expires ...
    let short = redeem(s.relay.addr, s.relay.code("office"), "Olive", "o1").await;
    let p = connected(&s.relay, &short, "short").await;
    within(
        10,
        "expiry close",
        p.wait(10, "close at expiry", |_, st| st.closed.is_some()),
    )
    .await;
    assert!(p.seen(|st| st.errors.iter().any(|e| e.contains("token expired"))));
    // ... and cannot connect again.
    p.wait(5, "the close frame", |_, st| st.close_frame.is_some())
        .await;
    assert_eq!(p.seen(|st| st.close_frame.clone()).map(|f| f.0), Some(4401));
    let url = format!("{}?token={}", s.relay.ws_url(), short.token);
    let (error, code, _) = setlink_tests::peer::refused_connection(&url).await;
    assert!(error.contains("expired"), "{error}");
    assert_eq!(code, 4401);
    let a = redeem(s.relay.addr, s.relay.code("coordinator"), "Casey", "c9").await;
    let b = redeem(s.relay.addr, s.relay.code("pa"), "Pat", "p9").await;
    relay_still_serves(&s.relay, &a, &b, s.board).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_members_are_cut_off_at_once_over_http_and_from_the_cli() {
    let (_dir, s) = setup(&[]).await;
    // Revocation over HTTP by the coordinator ends the PA's connection at once.
    let pa = redeem(s.relay.addr, s.relay.code("pa"), "Pat", "p2").await;
    let coord = redeem(s.relay.addr, s.relay.code("coordinator"), "Casey", "c2").await;
    let p = connected(&s.relay, &pa, "pa").await;
    p.open(s.board);
    let (st, v) = http::request(
        s.relay.addr,
        "POST",
        &format!("/api/members/{}/revoke", pa.member_id),
        Some(&coord.token),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["connections_closed"], 1);
    p.wait(2, "revoked connection to close", |_, st| {
        st.closed.is_some()
    })
    .await;
    assert!(p.seen(|st| st.errors.iter().any(|e| e.contains("revoked"))));
    p.wait(5, "the close frame", |_, st| st.close_frame.is_some())
        .await;
    assert_eq!(p.seen(|st| st.close_frame.clone()).map(|f| f.0), Some(4401));
    let url = format!("{}?token={}", s.relay.ws_url(), pa.token);
    let (error, code, _) = setlink_tests::peer::refused_connection(&url).await;
    assert!(error.contains("revoked"), "{error}");
    assert_eq!(code, 4401);
    // A revoked member's invite code no longer works either.
    let (st, _) = http::request(
        s.relay.addr,
        "POST",
        "/api/redeem",
        None,
        Some(&serde_json::json!({"code": s.relay.code("pa"), "name": "Pat", "device_id": "p3"})),
    )
    .await;
    assert_eq!(st, 403);

    // Revocation from the CLI (another process) reaches the running relay within a second.
    let crew = redeem(s.relay.addr, s.relay.code("crew"), "Cam", "k2").await;
    let k = connected(&s.relay, &crew, "crew").await;
    let (ok, _, err) = s.relay.cli(&["member", "revoke", &crew.member_id]);
    assert!(ok, "{err}");
    k.wait(3, "CLI revocation to close the connection", |_, st| {
        st.closed.is_some()
    })
    .await;

    let coord2 = redeem(s.relay.addr, s.relay.code("coordinator"), "Casey", "c3").await;
    relay_still_serves(&s.relay, &coord, &coord2, s.board).await;
}
