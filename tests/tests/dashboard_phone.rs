//! The coordinator dashboard on a phone-sized screen, in Debian's chromium
//! (tests/browser/phone.mjs): every page fits 390 px without sideways scrolling, the board
//! stacks its columns, the acknowledgements show every member's "On revision"; and a task's
//! notes and checklist worked from the dashboard reach a Rust device, while a device's tick
//! reaches the board live.

use automerge::Automerge;
use setlink_core::model::task::{self, Task};
use setlink_core::{Author, DocKind, DocumentId, Role};
use setlink_server::production_doc::read_index;
use setlink_tests::dashboard::{setup_browser, Script};
use setlink_tests::http::redeem;
use setlink_tests::{within, Peer, PeerDocs, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn find_doc(prod: &Automerge, kind: &DocKind) -> Option<DocumentId> {
    read_index(prod)
        .ok()?
        .into_iter()
        .find_map(|(id, k)| (&k == kind).then_some(id))
}

fn task_of(d: &Automerge, id: &str) -> Option<Task> {
    task::read_task(d, id).ok()
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

    // The coordinator's phone, holding the production document and the demo day's board.
    let casey = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("casey"))
        .await
        .expect("the coordinator's phone connects");
    let prod: DocumentId = coord.production_doc_id.parse().expect("production doc id");
    casey.open(prod);
    let kind = DocKind::Board { day: day.clone() };
    let k = kind.clone();
    casey
        .wait(10, "the production index", move |d, _| {
            d.docs.get(&prod).is_some_and(|p| find_doc(p, &k).is_some())
        })
        .await;
    let board = casey
        .read(prod, |p| find_doc(p, &kind))
        .flatten()
        .expect("the demo day's board");
    casey.open(board);
    casey
        .wait(10, "the board", move |d, _| d.docs.contains_key(&board))
        .await;

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
    let mut script = Script::start("phone.mjs", &env);
    script.step("signed_in").await;
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
