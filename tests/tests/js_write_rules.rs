//! The relay's write rules against the stock JavaScript automerge-repo 2.5.x client
//! (`tests/js/rules_peer.mjs`): a plain JS edit the model allows is stored and reads back
//! through the model; an edit the rules refuse reaches the JS app as one `setlink/refused`
//! ephemeral notice, is neither stored nor forwarded, is not resent over and over, and the
//! client stays connected and keeps receiving live changes.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash, ObjType, ReadDoc, Value as AmValue, ROOT};
use serde_json::Value;
use setlink_core::model::run::{self, RunEdit};
use setlink_core::{Author, DocumentId, Role};
use setlink_tests::demo::{connected, demo_board};
use setlink_tests::http::{metric, metrics, redeem, Creds};
use setlink_tests::js::{js_dir, npm_install};
use setlink_tests::{Peer, Relay};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");
const WRITE_RULES: &str = "setlink_refusals_total{reason=\"write_rules\"}";
const CONNECTIONS: &str = "setlink_connections_total";

struct Setup {
    relay: Relay,
    coord: Creds,
    pa: Creds,
    board: DocumentId,
    /// The coordinator's live device, synced with the board.
    desk: Peer,
    /// Run ids on the board, in `list_runs` order.
    runs: Vec<String>,
}

/// The demo relay, a PA and a coordinator, and the demo day's board (through the index).
async fn setup(dir: &tempfile::TempDir) -> Setup {
    setup_with(dir, &[]).await
}

/// `setup` with extra `serve` flags.
async fn setup_with(dir: &tempfile::TempDir, extra: &[&str]) -> Setup {
    let relay = Relay::start(BIN, dir.path(), extra);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "desk").await;
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "js-phone").await;
    let prod: DocumentId = coord.production_doc_id.parse().unwrap();
    let desk = connected(&relay, &coord.token, "desk").await;
    let board = demo_board(&desk, prod).await;
    desk.open(board);
    desk.wait(10, "the demo board", |d, _| {
        d.docs
            .get(&board)
            .is_some_and(|x| run::list_runs(x).is_ok_and(|l| l.items.len() >= 2))
    })
    .await;
    let runs = desk
        .read(board, |d| {
            let l = run::list_runs(d).expect("the demo board reads");
            assert!(l.is_complete(), "unreadable demo runs: {:?}", l.unreadable);
            l.items.iter().map(|r| r.id().to_owned()).collect()
        })
        .unwrap();
    Setup {
        relay,
        coord,
        pa,
        board,
        desk,
        runs,
    }
}

/// A run's title, whether stored as Text (JavaScript) or as a string scalar (Rust).
fn title_of(d: &Automerge, run_id: &str) -> Option<String> {
    let (_, runs) = d.get(ROOT, "runs").ok().flatten()?;
    let (_, r) = d.get(&runs, run_id).ok().flatten()?;
    match d.get(&r, "title").ok().flatten()? {
        (AmValue::Object(ObjType::Text), t) => d.text(&t).ok(),
        (v, _) => v.into_string().ok(),
    }
}

fn hashes(v: &Value) -> Vec<ChangeHash> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a heads array: {v}"))
        .iter()
        .map(|h| h.as_str().unwrap().parse().expect("a hex change hash"))
        .collect()
}

/// A fresh coordinator device that syncs the board until `ready` holds on it: what any
/// reader gets from the relay now.
async fn fresh_reader(s: &Setup, what: &str, ready: impl Fn(&Automerge) -> bool) -> Peer {
    let p = connected(&s.relay, &s.coord.token, "reader").await;
    p.open(s.board);
    let board = s.board;
    p.wait(15, what, move |d, _| d.docs.get(&board).is_some_and(&ready))
        .await;
    p
}

async fn scrape(s: &Setup) -> (u64, u64, u64) {
    let m = metrics(s.relay.addr).await;
    (
        metric(&m, WRITE_RULES),
        metric(&m, CONNECTIONS),
        metric(&m, "setlink_messages_received_total"),
    )
}

/// `rules_peer.mjs`, its JSON lines read as they come.
struct JsPeer {
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<Value>,
    seen: Vec<Value>,
    stderr: Arc<Mutex<String>>,
}

impl JsPeer {
    fn spawn(s: &Setup, token: &str, args: &[&str]) -> JsPeer {
        npm_install();
        let board = s.board.to_string();
        let mut child = tokio::process::Command::new("node")
            .arg("rules_peer.mjs")
            .args(["--url", &s.relay.ws_url(), "--token", token])
            .args(["--board", &board, "--timeout", "15000"])
            .args(args)
            .current_dir(js_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let (tx, lines) = mpsc::unbounded_channel();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(l)) = stdout.next_line().await {
                let v = serde_json::from_str(&l).unwrap_or(Value::String(l));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        tokio::spawn(async move {
            let mut buf = String::new();
            let _ = err.read_to_string(&mut buf).await;
            sink.lock().unwrap().push_str(&buf);
        });
        JsPeer {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    fn context(&self) -> String {
        format!(
            "lines so far: {:?}\nstderr: {}",
            self.seen,
            self.stderr.lock().unwrap()
        )
    }

    /// The next line of `step`, within `secs`; fails on an `error` line or an early exit.
    async fn next(&mut self, step: &str, secs: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(l)) => l,
                Ok(None) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    panic!("rules_peer.mjs exited before `{step}`; {}", self.context())
                }
                Err(_) => panic!(
                    "no `{step}` from rules_peer.mjs within {secs}s; {}",
                    self.context()
                ),
            };
            self.seen.push(line.clone());
            if line["step"] == "error" {
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!("rules_peer.mjs failed: {line}; {}", self.context());
            }
            if line["step"] == step {
                return line;
            }
        }
    }

    /// Waits for the exit, requires success, and returns every line it printed.
    async fn finish(mut self) -> Vec<Value> {
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("rules_peer.mjs exits after its summary")
            .expect("wait for node");
        while let Some(l) = self.lines.recv().await {
            self.seen.push(l);
        }
        assert!(
            status.success(),
            "rules_peer.mjs: {status}; {}",
            self.context()
        );
        self.seen
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_title_assignment_is_accepted_stored_and_reads_back_through_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&dir).await;
    let run_id = s.runs[0].clone();
    let before = scrape(&s).await;

    // Plain assignment of a JS string: automerge 3 stores it as Text.
    let edit = format!("{run_id}=New title");
    let mut js = JsPeer::spawn(&s, &s.pa.token, &["--title", &edit, "--expect", "accepted"]);
    let found = js.next("find", 30).await;
    assert_ne!(found["runs"][&run_id]["title"], "New title");
    let confirmed = js.next("confirmed", 20).await;
    let summary = js.next("summary", 20).await;
    let lines = js.finish().await;
    assert_eq!(summary["notices"], 0, "{lines:?}");
    assert!(summary["syncSentWithChanges"].as_u64().unwrap() >= 1);
    let js_heads = hashes(&confirmed["heads"]);

    // A fresh reader gets the JS change from the relay, and the model reads it.
    let want = run_id.clone();
    let reader = fresh_reader(&s, "the JS title", move |d| {
        title_of(d, &want).as_deref() == Some("New title")
    })
    .await;
    reader
        .read(s.board, |d| {
            for h in &js_heads {
                assert!(d.get_change_by_hash(h).is_some(), "the relay lacks {h}");
            }
            let (_, runs) = d.get(ROOT, "runs").unwrap().unwrap();
            let (_, r) = d.get(&runs, &run_id).unwrap().unwrap();
            assert!(
                matches!(
                    d.get(&r, "title").unwrap(),
                    Some((AmValue::Object(ObjType::Text), _))
                ),
                "the JS client stored the title as Text"
            );
            let read = run::read_run(d, &run_id).expect("read_run reads a Text title");
            assert_eq!(read.record.title, "New title");
            let all = run::list_runs(d).unwrap();
            assert!(all.is_complete(), "unreadable: {:?}", all.unreadable);
            assert_eq!(all.items.len(), s.runs.len());
        })
        .unwrap();

    let after = scrape(&s).await;
    assert_eq!(after.0, before.0, "the write rules refused nothing");
}

/// What the relay and the JS client did around one refused deletion of a status event.
struct Refused {
    /// Every line rules_peer.mjs printed, the first notice among them.
    lines: Vec<Value>,
    notice: Value,
    summary: Value,
    /// From the first notice to the client's summary.
    window: Duration,
    /// Write-rule refusals in all, and after the first notice had arrived.
    refusals: u64,
    later_refusals: u64,
    /// Connections the relay accepted from the JS client's start to its summary.
    connections: u64,
    /// Frames the relay received (from everyone) during the window.
    frames_received: u64,
}

impl Refused {
    fn notices(&self) -> usize {
        self.lines.iter().filter(|l| l["step"] == "notice").count()
    }

    fn figures(&self) -> String {
        format!(
            "over {:.1} s after the refusal: notices received {}, write-rule refusals {} ({} \
             after the first notice, {:.2}/min), sync frames the client sent for the board {} \
             ({} with changes), frames the relay received {}, client connections {} (relay \
             counted {}), disconnections {}",
            self.window.as_secs_f64(),
            self.notices(),
            self.refusals,
            self.later_refusals,
            self.later_refusals as f64 * 60.0 / self.window.as_secs_f64(),
            self.summary["syncSent"],
            self.summary["syncSentWithChanges"],
            self.frames_received,
            self.summary["connections"],
            self.connections,
            self.summary["disconnections"],
        )
    }
}

/// A JS PA deletes a status event of the board's first run and stays connected for
/// `stay_ms` from the edit; once the refusal notice has arrived, the coordinator retitles
/// the second run and the JS client must see that live. Afterwards a fresh reader must
/// still have the event and not the JS change.
async fn refused_deletion(stay_ms: u64) -> Refused {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&dir).await;
    let (target, other) = (s.runs[0].clone(), s.runs[1].clone());
    let (refused0, conns0, _) = scrape(&s).await;

    let title = "Walkie batteries: two boxes".to_owned();
    let watch = format!("{other}={title}");
    let stay = stay_ms.to_string();
    let mut js = JsPeer::spawn(
        &s,
        &s.pa.token,
        &[
            "--delete-event",
            &target,
            "--expect",
            "refused",
            "--watch-title",
            &watch,
            "--stay",
            &stay,
        ],
    );
    js.next("find", 30).await;
    let changed = js.next("changed", 15).await;
    let event_id = changed["eventId"].as_str().unwrap().to_owned();
    let refused_change = hashes(&changed["heads"]);
    let notice = js.next("notice", 15).await;
    let noticed_at = Instant::now();
    let (refused1, _, frames1) = scrape(&s).await;
    println!("refusal notice: {notice}");
    assert_eq!(notice["type"], "setlink/refused");
    assert_eq!(notice["rule"], "append-only", "{notice}");
    assert_eq!(notice["documentId"], s.board.to_string());
    assert_eq!(
        notice["path"],
        format!("runs/{target}/events/{event_id}"),
        "{notice}"
    );

    // Meanwhile the coordinator edits another run; the JS client sees it live.
    let by = Author {
        member_id: s.coord.member_id.clone(),
        device_id: "desk".into(),
        role: Role::Coordinator,
    };
    s.desk.change(s.board, |d| {
        let edit = RunEdit {
            title: Some(title.clone()),
            ..RunEdit::default()
        };
        run::edit_run(d, &by, 1_900_000_000_000, &other, edit).expect("the coordinator edits")
    });
    js.next("live", 15).await;

    let summary = js.next("summary", stay_ms / 1000 + 20).await;
    let window = noticed_at.elapsed();
    let (refused2, conns2, frames2) = scrape(&s).await;
    let lines = js.finish().await;
    assert_eq!(summary["runs"][&other]["title"], title.as_str());

    // Nothing of it was stored: a fresh reader has the event and not the JS change.
    let want = (other.clone(), title.clone());
    let reader = fresh_reader(&s, "the coordinator's edit", move |d| {
        title_of(d, &want.0).as_deref() == Some(want.1.as_str())
    })
    .await;
    reader
        .read(s.board, |d| {
            for h in &refused_change {
                assert!(d.get_change_by_hash(h).is_none(), "the relay stored {h}");
            }
            let r = run::read_run(d, &target).unwrap();
            assert!(
                r.events.iter().any(|e| e.id == event_id),
                "event {event_id} is gone: {:?}",
                r.events
            );
        })
        .unwrap();
    Refused {
        lines,
        notice,
        summary,
        window,
        refusals: refused2 - refused0,
        later_refusals: refused2 - refused1,
        connections: conns2 - conns0,
        frames_received: frames2 - frames1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_deleted_status_event_is_refused_with_a_notice_and_the_client_still_reads_live() {
    let r = refused_deletion(3000).await;
    println!("{}", r.figures());
    assert_eq!(
        r.lines.iter().find(|l| l["step"] == "notice"),
        Some(&r.notice)
    );
    assert!(r.refusals >= 1, "{}", r.figures());
}

/// Over ~20 s after a refusal, while the document keeps changing, the client neither
/// resends the refused change nor reconnects, and it hears exactly one notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_refusal_the_js_client_and_the_relay_stay_quiet_while_the_document_changes() {
    let r = refused_deletion(22_000).await;
    let figures = r.figures();
    println!("{figures}");
    let sync_sent = r.summary["syncSent"].as_u64().unwrap();
    let with_changes = r.summary["syncSentWithChanges"].as_u64().unwrap();
    // A handful of sync rounds (the refusal, the coordinator's edit), not a loop.
    assert!(
        sync_sent <= 20,
        "the client and the relay kept exchanging sync messages; {figures}"
    );
    assert_eq!(
        r.summary["connections"], 1,
        "the JS client reconnected; {figures}"
    );
    assert_eq!(
        r.summary["disconnections"], 0,
        "the JS client was disconnected; {figures}"
    );
    assert_eq!(
        r.connections, 1,
        "the relay saw more connections; {figures}"
    );
    assert_eq!(r.notices(), 1, "exactly one refusal notice; {figures}");
    assert_eq!(r.summary["notices"], 1, "{figures}");
    assert!(
        (1..=3).contains(&r.refusals),
        "the relay refused the change {} times; {figures}",
        r.refusals
    );
    assert!(
        (1..=3).contains(&with_changes),
        "the client resent its change; {figures}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_number_for_a_priority_is_refused_as_shape_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(&dir).await;
    let target = s.runs[0].clone();
    let priority_before = s
        .desk
        .read(s.board, |d| {
            run::read_run(d, &target).unwrap().record.priority
        })
        .unwrap();
    let (refused0, conns0, _) = scrape(&s).await;

    let edit = format!("{target}=42");
    let mut js = JsPeer::spawn(
        &s,
        &s.pa.token,
        &["--priority", &edit, "--expect", "refused", "--stay", "3000"],
    );
    js.next("find", 30).await;
    let changed = js.next("changed", 15).await;
    let refused_change = hashes(&changed["heads"]);
    let notice = js.next("notice", 15).await;
    println!("refusal notice: {notice}");
    assert_eq!(notice["type"], "setlink/refused");
    assert_eq!(notice["rule"], "shape", "{notice}");
    assert_eq!(notice["documentId"], s.board.to_string());
    assert!(
        notice["path"]
            .as_str()
            .is_some_and(|p| p.starts_with(&format!("runs/{target}"))),
        "{notice}"
    );
    let summary = js.next("summary", 15).await;
    let (refused1, conns1, _) = scrape(&s).await;
    let lines = js.finish().await;
    assert_eq!(lines.iter().filter(|l| l["step"] == "notice").count(), 1);
    assert_eq!(summary["connections"], 1);
    assert_eq!(summary["disconnections"], 0);
    assert_eq!(conns1 - conns0, 1);
    assert!((1..=3).contains(&(refused1 - refused0)));

    let want = s.desk.heads(s.board);
    let reader = fresh_reader(&s, "the board at the desk's heads", move |d| {
        setlink_tests::peer::same_heads(&d.get_heads(), &want)
    })
    .await;
    reader
        .read(s.board, |d| {
            for h in &refused_change {
                assert!(d.get_change_by_hash(h).is_none(), "the relay stored {h}");
            }
            let r = run::read_run(d, &target).unwrap();
            assert_eq!(r.record.priority, priority_before);
        })
        .unwrap();
}

/// `/healthz`: its status and body.
async fn health(s: &Setup) -> (u16, String) {
    let (status, body) =
        setlink_tests::http::request_raw(s.relay.addr, "GET", "/healthz", None, None).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A change the relay cannot store (every commit that writes fails, as on a full disk,
/// while the relay's fault file exists) reaches the stock JS client as one `storage`
/// notice; over the next 10 s the client neither resends it nor reconnects, `/healthz`
/// says why, reads keep being served, and once the disk takes writes again everyone's
/// changes are stored. (Before: one `handle.change` became 8,351 frames in 10 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_full_disk_refuses_reaches_the_js_client_once_and_nothing_loops() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("disk-full");
    let s = setup_with(&dir, &["--unsafe-fault-file", full.to_str().unwrap()]).await;
    let (target, other) = (s.runs[0].clone(), s.runs[1].clone());
    assert_eq!(health(&s).await.0, 200);
    let (_, conns0, _) = scrape(&s).await;

    std::fs::write(&full, b"").unwrap();
    let edit = format!("{target}=Written to a full disk");
    let mut js = JsPeer::spawn(
        &s,
        &s.pa.token,
        &["--title", &edit, "--expect", "refused", "--stay", "10000"],
    );
    js.next("find", 30).await;
    let (_, _, frames0) = scrape(&s).await;
    let changed = js.next("changed", 15).await;
    let lost = hashes(&changed["heads"]);
    let notice = js.next("notice", 15).await;
    println!("refusal notice: {notice}");
    assert_eq!(notice["rule"], "storage", "{notice}");
    assert_eq!(notice["documentId"], s.board.to_string());
    assert!(
        notice["message"]
            .as_str()
            .is_some_and(|m| m.contains("could not store the change") && m.contains("disk is full")),
        "{notice}"
    );
    let (status, body) = health(&s).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("disk is full"), "{body}");
    // Reads are still served while writes fail.
    fresh_reader(&s, "the board while the disk is full", |d| {
        run::list_runs(d).is_ok_and(|l| l.items.len() >= 2)
    })
    .await;

    let summary = js.next("summary", 40).await;
    let (_, conns1, frames1) = scrape(&s).await;
    let lines = js.finish().await;
    let figures = format!(
        "over 10 s from one refused change: sync frames the JS client sent for the board {} \
         ({} with changes), frames the relay received {}, notices {}, client connections {} \
         (relay counted {} with the fresh reader), disconnections {}",
        summary["syncSent"],
        summary["syncSentWithChanges"],
        frames1 - frames0,
        summary["notices"],
        summary["connections"],
        conns1 - conns0,
        summary["disconnections"],
    );
    println!("{figures}");
    assert_eq!(
        lines.iter().filter(|l| l["step"] == "notice").count(),
        1,
        "{figures}"
    );
    assert_eq!(
        summary["syncSentWithChanges"], 1,
        "the client resent its change; {figures}"
    );
    assert!(summary["syncSent"].as_u64().unwrap() <= 3, "{figures}");
    assert_eq!(
        summary["connections"], 1,
        "the JS client reconnected; {figures}"
    );
    assert_eq!(summary["disconnections"], 0, "{figures}");
    // The JS client's one connection and the fresh reader's.
    assert_eq!(conns1 - conns0, 2, "{figures}");

    // The disk takes writes again: health recovers, a change is stored and reaches a
    // fresh reader; the refused change was never stored.
    std::fs::remove_file(&full).unwrap();
    assert_eq!(health(&s).await.0, 200);
    let title = "Gaffer tape: six rolls".to_owned();
    let by = Author {
        member_id: s.coord.member_id.clone(),
        device_id: "desk".into(),
        role: Role::Coordinator,
    };
    s.desk.change(s.board, |d| {
        let edit = RunEdit {
            title: Some(title.clone()),
            ..RunEdit::default()
        };
        run::edit_run(d, &by, 1_900_000_000_000, &other, edit).expect("the coordinator edits")
    });
    let want = (other.clone(), title.clone());
    let reader = fresh_reader(
        &s,
        "the coordinator's edit after the disk freed",
        move |d| title_of(d, &want.0).as_deref() == Some(want.1.as_str()),
    )
    .await;
    reader
        .read(s.board, |d| {
            for h in &lost {
                assert!(d.get_change_by_hash(h).is_none(), "the relay stored {h}");
            }
        })
        .unwrap();
}
