//! Storage you can trust, against the real relay binary: the data directory's lock, the
//! integrity check at start, and an online backup restored after the database was damaged.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use automerge::{ChangeHash, ReadDoc};
use setlink_core::model::run;
use setlink_core::{Author, DocumentId, Role};
use setlink_tests::demo::{connected, demo_board};
use setlink_tests::http::{redeem, request_raw, Creds};
use setlink_tests::relay::DEMO_DAY;
use setlink_tests::{Peer, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

/// Runs `setlink serve` on `dir` expecting it to refuse to start: its exit status must be
/// a failure within 60 s; returns what it printed on stderr.
fn serve_refused(dir: &Path) -> String {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--today",
            DEMO_DAY,
            "--demo",
        ])
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the relay");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!status.success(), "the relay started: {err}");
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the relay did not refuse to start within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn health(relay: &Relay) -> (u16, String) {
    let (status, body) = request_raw(relay.addr, "GET", "/healthz", None, None).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn sorted(mut h: Vec<ChangeHash>) -> Vec<ChangeHash> {
    h.sort();
    h
}

/// A comment by `c` on the demo board's first run, acknowledged by the relay (which
/// reports only heads it has stored).
async fn comment(p: &Peer, c: &Creds, board: DocumentId, text: &str) -> Vec<ChangeHash> {
    let by = Author {
        member_id: c.member_id.clone(),
        device_id: "desk".into(),
        role: Role::Coordinator,
    };
    p.change(board, |d| {
        let run_id = run::list_runs(d).unwrap().items[0].record.id.clone();
        run::add_comment(d, &by, 1_900_000_000_000, &run_id, text).unwrap();
    });
    let heads = sorted(p.heads(board));
    let want = heads.clone();
    p.wait(15, "the relay's acknowledgement", move |d, _| {
        d.states
            .get(&board)
            .and_then(|s| s.their_heads.clone())
            .is_some_and(|h| sorted(h) == want)
    })
    .await;
    heads
}

/// The board as a fresh device of `c` gets it from the relay: in sync, its heads the
/// relay's.
async fn relay_board(relay: &Relay, c: &Creds, board: DocumentId) -> Peer {
    let p = connected(relay, &c.token, "reader").await;
    p.open(board);
    p.wait(15, "the board in sync with the relay", |d, _| {
        let (Some(doc), Some(their)) = (
            d.docs.get(&board),
            d.states.get(&board).and_then(|s| s.their_heads.clone()),
        ) else {
            return false;
        };
        !their.is_empty() && sorted(doc.get_heads()) == sorted(their)
    })
    .await;
    p
}

fn has_all(p: &Peer, board: DocumentId, heads: &[ChangeHash]) -> bool {
    p.read(board, |d| {
        heads.iter().all(|h| d.get_change_by_hash(h).is_some())
    })
    .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_relay_and_a_restore_are_refused_while_a_relay_holds_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let err = serve_refused(dir.path());
    assert!(
        err.contains("in use by another setlink process")
            && err.contains(&relay.addr.to_string())
            && err.contains(&format!("pid {}", relay.pid())),
        "the refusal names the first relay: {err}"
    );
    // A backup is made while the relay runs; restoring it is refused, naming the relay.
    let backup = dir.path().join("backup.db");
    let (ok, out, err) = relay.cli(&["backup", "--to", backup.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let (ok, _, err) = relay.cli(&["restore", "--from", backup.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains(&relay.addr.to_string()) && err.contains("nothing was changed"),
        "{err}"
    );
    // The first relay still serves everyone.
    assert_eq!(health(&relay).await.0, 200);
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "phone").await;
    let p = connected(&relay, &pa.token, "phone").await;
    assert!(p.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_is_refused_at_start_and_an_online_backup_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut relay = Relay::start(BIN, &data, &[]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "desk").await;
    let desk = connected(&relay, &coord.token, "desk").await;
    let board = demo_board(&desk, coord.production_doc_id.parse().unwrap()).await;
    desk.open(board);
    desk.wait(10, "the board", |d, _| {
        d.docs
            .get(&board)
            .is_some_and(|x| run::list_runs(x).is_ok_and(|l| !l.items.is_empty()))
    })
    .await;
    let before = comment(&desk, &coord, board, "Before the backup").await;

    // Online: the relay keeps running and serving.
    let backup = dir.path().join("nightly.db");
    let (ok, out, err) = relay.cli(&["backup", "--to", backup.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("integrity checked"), "{out}");
    let (ok, _, err) = relay.cli(&["backup", "--to", backup.to_str().unwrap()]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let after = comment(&desk, &coord, board, "After the backup").await;
    assert_eq!(health(&relay).await.0, 200);
    drop(desk);
    relay.kill();

    // Pages in the middle of the file overwritten, as a failing disk leaves them.
    let db = data.join("setlink.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .unwrap();
    let mut bytes = std::fs::read(&db).unwrap();
    let mid = bytes.len() / 2;
    let end = (mid + 16 * 1024).min(bytes.len());
    for b in &mut bytes[mid..end] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let err = serve_refused(&data);
    assert!(
        err.contains("is damaged") && err.contains("setlink restore --from <backup file>"),
        "the refusal says how to restore: {err}"
    );

    let (ok, out, err) = relay.cli(&["restore", "--from", backup.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("kept in"), "the damaged file is kept: {out}");
    relay.restart();
    assert_eq!(health(&relay).await.0, 200);
    // The coordinator's token was issued before the backup, so it still works; the
    // board has what was written before the backup and not what came after.
    let reader = relay_board(&relay, &coord, board).await;
    assert!(has_all(&reader, board, &before));
    assert!(!has_all(&reader, board, &after));
}
