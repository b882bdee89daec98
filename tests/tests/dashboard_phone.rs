//! The coordinator dashboard on a phone-sized screen, in Debian's chromium
//! (tests/browser/phone.mjs): every page fits 390 px without sideways scrolling, the board
//! stacks its columns, the acknowledgements show every member's "On revision"; and a task's
//! notes and checklist worked from the dashboard reach a Rust device, while a device's tick
//! reaches the board live.

use automerge::Automerge;
use setlink_core::model::task::{self, Task};
use setlink_core::{Author, DocKind, DocumentId, Role};
use setlink_tests::board::find_doc;
use setlink_tests::dashboard::{readme_screenshots, setup_browser, Script};
use setlink_tests::http::redeem;
use setlink_tests::{within, Peer, PeerDocs, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn task_of(d: &Automerge, id: &str) -> Option<Task> {
    task::read_task(d, id).ok()
}

/// A phone connected with `token`, holding the production document and the demo day's
/// board; returns it and the board's id.
async fn device(relay: &Relay, token: &str, prod: &str, name: &str) -> (Peer, DocumentId) {
    device_with(relay, token, prod, PeerDocs::new(name)).await
}

async fn device_with(relay: &Relay, token: &str, prod: &str, docs: PeerDocs) -> (Peer, DocumentId) {
    let peer = Peer::connect(&relay.ws_url(), token, docs)
        .await
        .expect("the phone connects");
    let prod: DocumentId = prod.parse().expect("production doc id");
    peer.open(prod);
    let kind = DocKind::Board {
        day: relay.day.clone(),
    };
    let k = kind.clone();
    peer.wait(10, "the production index", move |d, _| {
        d.docs.get(&prod).is_some_and(|p| find_doc(p, &k).is_some())
    })
    .await;
    let board = peer
        .read(prod, |p| find_doc(p, &kind))
        .flatten()
        .expect("the demo day's board");
    peer.open(board);
    peer.wait(10, "the board", move |d, _| {
        d.docs.get(&board).is_some_and(|b| {
            setlink_core::model::run::list_runs(b).is_ok_and(|r| !r.items.is_empty())
        })
    })
    .await;
    (peer, board)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_on_a_phone_and_a_tasks_notes_and_checklist() {
    setup_browser();

    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let day = relay.day.clone();
    let coord = redeem(
        relay.addr,
        relay.code("coordinator"),
        "Casey",
        "casey-phone",
    )
    .await;

    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    let (casey, board) = device(&relay, &coord.token, &coord.production_doc_id, "casey").await;
    let pat_docs = PeerDocs::new("pat");
    let pat_peer_id = pat_docs.peer_id.clone();
    let (pat, _) = device_with(&relay, &pa.token, &pa.production_doc_id, pat_docs).await;

    let base = format!("http://{}", relay.addr);
    let mut env = vec![
        ("DASH_BASE", base.as_ref()),
        ("DASH_CODE", relay.code("coordinator").as_ref()),
        ("DASH_DAY", day.as_ref()),
    ];
    // SETLINK_PHONE_SCREENSHOTS=<dir> keeps a screenshot of every page the script checks.
    let shots = std::env::var_os("SETLINK_PHONE_SCREENSHOTS");
    if let Some(dir) = &shots {
        env.push(("DASH_PHONE_SHOTS", dir.as_os_str()));
    }
    let readme = readme_screenshots();
    if let Some(dir) = &readme {
        env.push(("DASH_README_SHOTS", dir.as_os_str()));
    }
    let mut script = Script::start("phone.mjs", &env);
    script.step("signed_in").await;
    // The PA's phone says where it is going, at some length: the board's presence shows it
    // on the phone too.
    let eta = (setlink_server::auth::now_ms() + 12 * 60_000).to_string();
    let data = setlink_core::client::encode_presence(&[
        (
            "status",
            "en route to set via the long way round, the bridge is closed",
        ),
        ("eta_ms", eta.as_str()),
    ]);
    pat.send_raw(tokio_tungstenite::tungstenite::Message::Binary(
        setlink_core::sync::wire::encode(&setlink_core::sync::wire::Message::Ephemeral {
            sender_id: pat_peer_id,
            target_id: "relay".into(),
            count: 1,
            session_id: "pat-session".into(),
            document_id: board,
            data,
        })
        .into(),
    ));
    script
        .cmd(serde_json::json!({"cmd": "presence_sent", "member": pa.member_id}))
        .await;
    let stacked = script.step("board_stacked").await;
    assert_eq!(stacked["columns"].as_array().map(Vec::len), Some(7));
    let acks = script.step("acks_cards").await;
    assert!(acks["members"].as_u64().unwrap_or(0) >= 1, "{acks}");

    // What the dashboard did to the task reaches the phone: the ticked item, the notes.
    let edited = script.step("task_edited").await;
    let field = |name: &str| {
        edited[name]
            .as_str()
            .unwrap_or_else(|| panic!("`{name}` in {edited}"))
            .to_owned()
    };
    let (task_id, notes, ticked, other) = (
        field("task"),
        field("notes"),
        field("ticked"),
        field("other"),
    );
    {
        let (task_id, notes, ticked) = (task_id.clone(), notes.clone(), ticked.clone());
        casey
            .wait(
                10,
                "the dashboard's notes and tick on the phone",
                move |d, _| {
                    d.docs
                        .get(&board)
                        .and_then(|b| task_of(b, &task_id))
                        .is_some_and(|t| {
                            t.record.notes.as_deref() == Some(notes.as_str())
                                && t.record.checklist.len() == 2
                                && t.record
                                    .checklist
                                    .iter()
                                    .all(|c| c.done == (c.id == ticked))
                        })
                },
            )
            .await;
    }

    // The phone ticks the other item; the board in the browser follows without a reload.
    let by = Author {
        member_id: coord.member_id.clone(),
        device_id: "casey-phone".into(),
        role: Role::Coordinator,
    };
    casey
        .change(board, |d| {
            task::set_checklist_done(
                d,
                &by,
                setlink_server::auth::now_ms(),
                &task_id,
                &other,
                true,
            )
        })
        .expect("the phone ticks the other item");
    script
        .cmd(serde_json::json!({"cmd": "device_ticked"}))
        .await;
    script.step("live_count").await;
    script.step("done").await;
    let status = within(30, "the browser script to exit", script.child.wait())
        .await
        .unwrap();
    assert!(status.success());
}
