//! A real JavaScript automerge-repo 2.5.x client (`tests/js/peer.mjs`) and a Rust device
//! creating, finding and editing documents through the relay binary with tokens, both
//! ways, plus presence and access control.

use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ROOT};
use setlink_core::client::{decode_presence, encode_presence};
use setlink_core::{DocKind, DocumentId};
use setlink_server::production_doc::read_index;
use setlink_tests::http::{redeem, Creds};
use setlink_tests::js::{run_peer, spawn_peer};
use setlink_tests::{Peer, PeerDocs, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

/// A string at the root, whether a scalar (Rust) or a text object (JS strings).
fn text(d: &Automerge, key: &str) -> Option<String> {
    match d.get(ROOT, key).ok().flatten()? {
        (automerge::Value::Object(automerge::ObjType::Text), id) => d.text(&id).ok(),
        (v, _) => v.into_string().ok(),
    }
}

async fn rust_peer(relay: &Relay, c: &Creds, name: &str) -> Peer {
    let p = Peer::connect(&relay.ws_url(), &c.token, PeerDocs::new(name))
        .await
        .unwrap();
    p.wait(10, "handshake", |_, s| s.connected).await;
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_and_rust_create_find_and_edit_each_others_documents() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let url = relay.ws_url();
    let js_pa = redeem(relay.addr, relay.code("pa"), "Pat", "js-phone").await;
    let coord = redeem(
        relay.addr,
        relay.code("coordinator"),
        "Casey",
        "rust-laptop",
    )
    .await;

    // JS creates a document (a plain automerge-repo create), the relay keeps it.
    let created = run_peer(&url, &js_pa.token, &["--create", r#"{"title":"from js"}"#]).await;
    let step = created.step("create");
    assert_eq!(step["verified"], true);
    let id: DocumentId = step["documentId"].as_str().unwrap().parse().unwrap();

    // The Rust device finds it and edits it.
    let rust = rust_peer(&relay, &coord, "rust").await;
    rust.open(id);
    rust.wait(10, "the JS document", |d, _| {
        d.docs.get(&id).and_then(|x| text(x, "title")).as_deref() == Some("from js")
    })
    .await;
    rust.change(id, |d| {
        let mut tx = d.transaction();
        tx.put(ROOT, "reply", "from rust").unwrap();
        tx.commit();
    });

    // JS finds it again, sees the Rust edit, and edits back.
    let back = run_peer(
        &url,
        &js_pa.token,
        &[
            "--find",
            &id.to_string(),
            "--wait-for",
            "reply=from rust",
            "--edit",
            "js2=yes",
        ],
    )
    .await;
    assert_eq!(back.step("wait-for")["ok"], true);
    rust.wait(10, "the JS edit", |d, _| {
        d.docs.get(&id).and_then(|x| text(x, "js2")).as_deref() == Some("yes")
    })
    .await;

    // The other way round: the Rust device creates, JS finds and edits.
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "run-1", "assigned").unwrap();
    tx.commit();
    let rid = DocumentId::random();
    rust.insert(rid, doc);
    let h = rust.heads(rid);
    rust.wait(10, "relay to confirm", move |d, _| {
        d.states
            .get(&rid)
            .and_then(|s| s.their_heads.clone())
            .is_some_and(|t| setlink_tests::peer::same_heads(&t, &h))
    })
    .await;
    let js = run_peer(
        &url,
        &js_pa.token,
        &[
            "--find",
            &rid.url(),
            "--wait-for",
            "run-1=assigned",
            "--edit",
            "run-1=picked_up",
        ],
    )
    .await;
    assert_eq!(js.step("find")["state"], "ready");
    rust.wait(10, "the JS status change", |d, _| {
        d.docs.get(&rid).and_then(|x| text(x, "run-1")).as_deref() == Some("picked_up")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_clients_get_the_seeded_board_presence_flows_and_roles_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let url = relay.ws_url();
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "js").await;
    let crew = redeem(relay.addr, relay.code("crew"), "Cam", "js-crew").await;
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "rust").await;
    let prod: DocumentId = coord.production_doc_id.parse().unwrap();
    let rust = rust_peer(&relay, &coord, "rust").await;
    rust.open(prod);
    rust.wait(10, "production doc", |d, _| {
        d.docs
            .get(&prod)
            .is_some_and(|x| read_index(x).is_ok_and(|i| i.len() >= 5))
    })
    .await;
    let board = rust
        .read(prod, |d| {
            read_index(d)
                .unwrap()
                .into_iter()
                .find_map(|(id, k)| matches!(k, DocKind::Board { .. }).then_some(id))
        })
        .flatten()
        .unwrap();

    // A JS PA reads the board the demo seeded.
    let js = run_peer(&url, &pa.token, &["--find", &board.to_string()]).await;
    let found = js.step("find");
    assert_eq!(found["state"], "ready");
    assert_eq!(found["doc"]["runs"].as_object().map(|m| m.len()), Some(4));

    // Crew may not read boards: the JS client is told the document is unavailable.
    let js = run_peer(&url, &crew.token, &["--find", &board.to_string()]).await;
    assert_eq!(js.step("find")["state"], "unavailable");
    // But crew reads the production doc.
    let js = run_peer(&url, &crew.token, &["--find", &prod.to_string()]).await;
    assert_eq!(js.step("find")["state"], "ready");

    // Presence: JS listens while the Rust device broadcasts an ETA ...
    rust.open(board);
    rust.wait(10, "board", |d, _| {
        d.docs
            .get(&board)
            .is_some_and(|x| !x.get_heads().is_empty())
    })
    .await;
    let listener = spawn_peer(
        &url,
        &pa.token,
        &["--find", &board.to_string(), "--listen", "4000"],
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < deadline {
        rust.broadcast(
            board,
            encode_presence(&[("eta", "5 min"), ("run", "coffee")]),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let heard = listener.await.unwrap();
    assert!(heard.ok, "{}", heard.stderr);
    let msgs = heard.steps("ephemeral");
    assert!(!msgs.is_empty(), "JS heard no presence: {:?}", heard.lines);
    assert_eq!(msgs[0]["message"]["eta"], "5 min");

    // ... and the Rust device hears a JS broadcast.
    run_peer(
        &url,
        &pa.token,
        &[
            "--find",
            &board.to_string(),
            "--broadcast",
            r#"{"eta":"2 min"}"#,
        ],
    )
    .await;
    rust.wait(10, "JS presence", |_, s| {
        s.ephemeral.iter().any(|(d, _, data)| {
            *d == board
                && decode_presence(data)
                    .is_some_and(|f| f.contains(&("eta".to_owned(), "2 min".to_owned())))
        })
    })
    .await;

    // No token: the JS client cannot connect at all.
    let nobody = spawn_peer(&url, "", &["--find", &prod.to_string()])
        .await
        .unwrap();
    assert!(
        !nobody.ok,
        "a client without a token got through: {:?}",
        nobody.lines
    );
}

/// A stock JavaScript automerge-repo 2.5 client with a revoked token (and one with a token
/// the relay never issued) survives: the relay's reason reaches its log, the process keeps
/// running, and it redials at its own 5 s pace, not in a loop. A 401 on the upgrade used to
/// throw out of the Node adapter and kill the host process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_js_client_with_a_refused_connection_survives_and_reads_why() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let url = relay.ws_url();
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "js-phone").await;
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c").await;
    let (st, _) = setlink_tests::http::request(
        relay.addr,
        "POST",
        &format!("/api/members/{}/revoke", pa.member_id),
        Some(&coord.token),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let refused = |m: &str| {
        setlink_tests::http::metric(m, "setlink_refusals_total{reason=\"unauthenticated\"}")
    };
    let before = refused(&setlink_tests::http::metrics(relay.addr).await);
    let revoked = spawn_peer(&url, &pa.token, &["--stay", "6000"]);
    let unknown = spawn_peer(&url, "slk_never_issued", &["--stay", "6000"]);
    for (what, run) in [("revoked", revoked), ("unknown", unknown)] {
        let run = run.await.unwrap();
        assert!(run.ok, "{what}: the JS client died: {}", run.stderr);
        assert_eq!(run.step("stay")["alive"], true);
        assert!(
            run.stderr.contains("sign in again"),
            "{what}: the relay's reason is not in the client's log: {}",
            run.stderr
        );
    }
    // Two clients, 6 s each, redialing every 5 s: a handful of refusals, not a loop.
    let after = refused(&setlink_tests::http::metrics(relay.addr).await);
    eprintln!(
        "refused tokens: {} connections from two stock JS clients in 6 s",
        after - before
    );
    assert!(
        (2..=6).contains(&(after - before)),
        "{} refused connections",
        after - before
    );
    // And the relay serves everyone else.
    let c = rust_peer(&relay, &coord, "still-served").await;
    assert!(c.is_connected());
}

/// Presence with stock clients that re-broadcast what they hear: one ETA from a Rust
/// device reaches each of two JavaScript clients exactly once, the relay relays it once
/// per peer and drops the copies the clients send back, and it never returns to its sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_presence_message_is_relayed_once_per_peer_and_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let url = relay.ws_url();
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "js-1").await;
    let office = redeem(relay.addr, relay.code("office"), "Olive", "js-2").await;
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "rust").await;
    let prod: DocumentId = coord.production_doc_id.parse().unwrap();
    let rust = rust_peer(&relay, &coord, "rust").await;
    let board = setlink_tests::demo::demo_board(&rust, prod).await;
    setlink_tests::demo::synced(&rust, board).await;

    let listen = |token: String| {
        spawn_peer(
            &url,
            &token,
            &["--find", &board.to_string(), "--listen", "5000"],
        )
    };
    let (a, b) = (listen(pa.token.clone()), listen(office.token.clone()));
    // Both listeners are subscribed once the relay counts three peers on the board.
    let subscribed = async {
        loop {
            let m = setlink_tests::http::metrics(relay.addr).await;
            if setlink_tests::http::metric(&m, "setlink_connections_open") >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    setlink_tests::within(20, "both JS clients connected", subscribed).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let metric = |m: &str, name: &str| setlink_tests::http::metric(m, name);
    let before = setlink_tests::http::metrics(relay.addr).await;
    rust.broadcast(board, encode_presence(&[("eta", "7 min")]));

    for (who, run) in [("PA", a), ("office", b)] {
        let run = run.await.unwrap();
        assert!(run.ok, "{who}: {}", run.stderr);
        let heard: Vec<_> = run
            .steps("ephemeral")
            .into_iter()
            .filter(|m| m["message"]["eta"] == "7 min")
            .collect();
        assert_eq!(heard.len(), 1, "{who} heard {heard:?}");
    }
    let after = setlink_tests::http::metrics(relay.addr).await;
    let relayed = metric(&after, "setlink_ephemeral_relayed_total")
        - metric(&before, "setlink_ephemeral_relayed_total");
    let copies = metric(&after, "setlink_ephemeral_duplicates_total")
        - metric(&before, "setlink_ephemeral_duplicates_total");
    assert_eq!(relayed, 2, "one message, two peers");
    assert!(
        copies >= 1,
        "the stock clients sent it back ({copies} copies dropped)"
    );
    assert!(
        rust.seen(|s| s.ephemeral.is_empty()),
        "the sender heard its own message back"
    );
}
