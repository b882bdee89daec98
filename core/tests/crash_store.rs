//! A device process killed at any instant leaves a store that reopens consistent, with
//! every write whose call had returned.
//!
//! The test binary re-executes itself as the writer (`CRASH_CHILD_STORE` set): a PA's
//! phone streaming run status changes (create, accept, en route, picked up, delivered)
//! over three day boards and prints each write's id only after the call returned. The
//! parent SIGKILLs it at a random instant, reopens the store and checks every printed id.
//! Every third write is a change made by a peer and received through
//! `receive_sync_message`, printed once that call returned.
//! Runs with `harness = false` so the child is this same `main`, with nothing else in it.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ReadDoc, ROOT};
use setlink_core::model::run::{self, NewRun, RunEvent, RunKind};
use setlink_core::model::EventContext;
use setlink_core::{Author, Device, DocKind, DocumentId, Role};

const CHILD_ENV: &str = "CRASH_CHILD_STORE";
const ROUNDS: usize = 30;
const DOCS: usize = 3;

fn main() {
    match std::env::var_os(CHILD_ENV) {
        Some(path) => child(Path::new(&path)),
        None => parent(),
    }
}

fn author(role: Role) -> Author {
    Author {
        member_id: "pa-1".into(),
        device_id: "phone-1".into(),
        role,
    }
}

/// The office creates and initialises the day boards; then the device belongs to a PA.
fn set_up(path: &Path) -> Vec<DocumentId> {
    let mut device = Device::open(path).expect("open");
    device.set_identity(author(Role::Office)).expect("identity");
    let mut boards = Vec::new();
    for day in 0..DOCS {
        let id = device
            .create_document(DocKind::Board {
                day: format!("2026-11-{:02}", 20 + day),
            })
            .expect("create board");
        device.apply(&id, run::init_board).expect("init board");
        boards.push(id);
    }
    // A document another automerge-repo client edits; its changes arrive by sync.
    device
        .create_document(DocKind::Shared)
        .expect("create shared");
    device.set_identity(author(Role::Pa)).expect("identity");
    boards
}

/// Opens the store and writes until killed. Any error is printed and ends the child with
/// a failure status, which the parent reports.
fn child(path: &Path) {
    if let Err(e) = write_forever(path) {
        eprintln!("child failed: {e}");
        std::process::exit(2);
    }
}

/// Where a PA is with the current run on one board.
struct Lane {
    board: DocumentId,
    run: Option<String>,
    step: usize,
}

const STEPS: [RunEvent; 4] = [
    RunEvent::Accept,
    RunEvent::EnRoute,
    RunEvent::PickUp,
    RunEvent::Deliver,
];

/// A peer that edits the shared document in memory and syncs it to the device.
struct Peer {
    id: String,
    doc: Automerge,
    state: sync::State,
}

impl Peer {
    /// Makes one change, syncs until both sides are quiet, and returns the change's hash
    /// once the device has it (i.e. `receive_sync_message` returned after its commit).
    fn write(
        &mut self,
        device: &mut Device,
        shared: &DocumentId,
        key: &str,
    ) -> Result<ChangeHash, Box<dyn std::error::Error>> {
        let mut tx = self.doc.transaction();
        tx.put(ROOT, key, "from the office")?;
        let (hash, _) = tx.commit();
        let hash = hash.ok_or("the peer's change made no commit")?;
        for _ in 0..20 {
            let mut quiet = true;
            if let Some(m) = device.generate_sync_message(shared, &self.id)? {
                self.doc.receive_sync_message(&mut self.state, m)?;
                quiet = false;
            }
            if let Some(m) = self.doc.generate_sync_message(&mut self.state) {
                device.receive_sync_message(shared, &self.id, m)?;
                quiet = false;
            }
            if quiet {
                break;
            }
        }
        if device.read(shared, |d| d.get_change_by_hash(&hash).is_none())? {
            return Err("sync settled without the peer's change".into());
        }
        Ok(hash)
    }
}

fn write_forever(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut device = Device::open(path)?;
    let round = std::env::var("CRASH_ROUND").unwrap_or_default();
    let shared = device
        .document_ids()
        .into_iter()
        .find(|id| device.kind_of(id) == Some(&DocKind::Shared))
        .ok_or("no shared document")?;
    // A new peer each round, as after a restart of the other side.
    let mut peer = Peer {
        id: format!("peer-{round}"),
        doc: Automerge::new(),
        state: sync::State::new(),
    };
    let mut boards: Vec<DocumentId> = device
        .document_ids()
        .into_iter()
        .filter(|id| matches!(device.kind_of(id), Some(DocKind::Board { .. })))
        .collect();
    boards.sort();
    let mut lanes: Vec<Lane> = boards
        .into_iter()
        .map(|board| Lane {
            board,
            run: None,
            step: 0,
        })
        .collect();
    let stdout = std::io::stdout();
    for i in 0usize.. {
        if i % 3 == 1 {
            let hash = peer.write(&mut device, &shared, &format!("r{round}-w{i}"))?;
            let mut out = stdout.lock();
            out.write_all(format!("{shared} remote {hash}\n").as_bytes())?;
            out.flush()?;
            continue;
        }
        let lanes_len = lanes.len();
        let Some(lane) = lanes.get_mut(i % lanes_len) else {
            return Err("no boards".into());
        };
        // Each line: board, run, and the id of what was written (the run's creation, or
        // the status event's id).
        let line = match lane.run.clone() {
            None => {
                let new = NewRun::new(RunKind::Pickup, format!("pickup {i}"), "props");
                let run_id =
                    device.apply(&lane.board, |doc, by, at| run::create_run(doc, by, at, new))?;
                lane.run = Some(run_id.clone());
                lane.step = 0;
                format!("{} {run_id} created", lane.board)
            }
            Some(run_id) => {
                let event = STEPS[lane.step].clone();
                let event_id = device.apply(&lane.board, |doc, by, at| {
                    run::record_status(doc, by, at, &run_id, event, EventContext::none())
                })?;
                lane.step += 1;
                if lane.step == STEPS.len() {
                    lane.run = None;
                }
                format!("{} {run_id} {event_id}", lane.board)
            }
        };
        // Printed only after `apply` returned, i.e. after the commit.
        let mut out = stdout.lock();
        out.write_all(format!("{line}\n").as_bytes())?;
        out.flush()?;
    }
    Ok(())
}

fn parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("device.db");
    let exe = std::env::current_exe().expect("current exe");
    let started = Instant::now();
    set_up(&path);
    let mut acknowledged: Vec<Acked> = Vec::new();
    let mut remote: Vec<(DocumentId, ChangeHash)> = Vec::new();
    let mut killed_mid_stream = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .env(CHILD_ENV, &path)
            .env("CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let reader = std::thread::spawn(move || read_complete_lines(stdout));
        // Any instant: sometimes while the store is still opening, mostly mid-stream.
        std::thread::sleep(Duration::from_millis(rand::random_range(10..250)));
        if let Some(status) = child.try_wait().expect("try_wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("round {round}: the writer exited by itself ({status}): {err}");
        }
        child.kill().expect("SIGKILL the child");
        child.wait().expect("reap the child");
        let lines = reader.join().expect("reader thread");
        if !lines.is_empty() {
            killed_mid_stream += 1;
        }
        for line in lines {
            let mut parts = line.split(' ');
            let (Some(board), Some(run), Some(what), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                panic!("round {round}: unexpected line `{line}`");
            };
            let doc = board.parse().expect("document id");
            if run == "remote" {
                remote.push((doc, what.parse().expect("change hash")));
                continue;
            }
            acknowledged.push(Acked {
                board: doc,
                run: run.to_owned(),
                event: (what != "created").then(|| what.to_owned()),
            });
        }
        check_store(&path, &acknowledged, &remote, round);
    }
    assert!(
        killed_mid_stream >= ROUNDS / 2,
        "only {killed_mid_stream} of {ROUNDS} rounds were killed mid-stream"
    );
    println!(
        "crash_store: {ROUNDS} SIGKILLs ({killed_mid_stream} mid-stream), {} returned status writes and {} received remote changes all present, {:?}",
        acknowledged.len(),
        remote.len(),
        started.elapsed()
    );
}

/// Lines the child finished writing; a line cut by the kill has no newline and is dropped
/// (its call may or may not have returned, so nothing is claimed for it).
fn read_complete_lines(stdout: impl std::io::Read) -> Vec<String> {
    let mut reader = BufReader::new(stdout);
    let mut lines = Vec::new();
    loop {
        let mut buf = Vec::new();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return lines,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                    lines.push(String::from_utf8(buf).expect("utf-8 line"));
                }
            }
        }
    }
}

/// One write the child reported as returned.
struct Acked {
    board: DocumentId,
    run: String,
    /// `None` for the run's creation.
    event: Option<String>,
}

fn check_store(
    path: &PathBuf,
    acknowledged: &[Acked],
    remote: &[(DocumentId, ChangeHash)],
    round: usize,
) {
    let mut device = Device::open(path)
        .unwrap_or_else(|e| panic!("round {round}: the store does not reopen: {e}"));
    device
        .store()
        .check_integrity()
        .unwrap_or_else(|e| panic!("round {round}: {e}"));
    for id in device.document_ids() {
        device
            .load(&id)
            .unwrap_or_else(|e| panic!("round {round}: document {id} does not load: {e}"));
    }
    for (doc, hash) in remote {
        let present = device
            .read(doc, |d| d.get_change_by_hash(hash).is_some())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(
            present,
            "round {round}: remote change {hash} was received in the child but is missing"
        );
    }
    let mut logs: HashMap<(DocumentId, String), HashSet<String>> = HashMap::new();
    let boards = device
        .document_ids()
        .into_iter()
        .filter(|id| matches!(device.kind_of(id), Some(DocKind::Board { .. })))
        .collect::<Vec<_>>();
    for board in boards {
        let runs = device
            .read(&board, run::list_runs)
            .unwrap_or_else(|e| panic!("round {round}: {e}"))
            .unwrap_or_else(|e| panic!("round {round}: board {board} does not read: {e}"));
        assert!(
            runs.is_complete(),
            "round {round}: board {board} has unreadable runs: {:?}",
            runs.unreadable
        );
        for r in runs.items {
            let events = r.events.iter().map(|e| e.id.clone()).collect();
            logs.insert((board, r.record.id), events);
        }
    }
    for w in acknowledged {
        let Some(events) = logs.get(&(w.board, w.run.clone())) else {
            panic!(
                "round {round}: run {} was created in the child but is missing",
                w.run
            );
        };
        if let Some(event) = &w.event {
            assert!(
                events.contains(event),
                "round {round}: status event {event} of run {} returned in the child but is missing",
                w.run
            );
        }
    }
}
