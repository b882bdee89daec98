//! A device process killed at any instant leaves a store that reopens consistent, with
//! every write whose call had returned.
//!
//! The test binary re-executes itself as the writer (`CRASH_CHILD_STORE` set): it streams
//! writes into a store and prints each write's id only after the call returned. The
//! parent SIGKILLs it at a random instant, reopens the store and checks every printed id.
//! Runs with `harness = false` so the child is this same `main`, with nothing else in it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ReadDoc, ROOT};
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

fn author() -> Author {
    Author {
        member_id: "pa-1".into(),
        device_id: "phone-1".into(),
        role: Role::Pa,
    }
}

/// Opens the store and writes until killed. Any error is printed and ends the child with
/// a failure status, which the parent reports.
fn child(path: &Path) {
    if let Err(e) = write_forever(path) {
        eprintln!("child failed: {e}");
        std::process::exit(2);
    }
}

fn write_forever(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut device = Device::open(path)?;
    if device.identity().is_none() {
        device.set_identity(author())?;
    }
    let mut docs = device.document_ids();
    docs.sort();
    while docs.len() < DOCS {
        docs.push(device.create_document(DocKind::Board {
            day: format!("2026-11-{:02}", 20 + docs.len()),
        })?);
    }
    let round = std::env::var("CRASH_ROUND").unwrap_or_default();
    let stdout = std::io::stdout();
    for i in 0u64.. {
        let doc = docs[(i as usize) % docs.len()];
        let id = format!("r{round}-w{i}");
        let key = id.clone();
        device.apply(&doc, move |d: &mut Automerge, _: &Author, at: i64| {
            let mut tx = d.transaction();
            // Enough bytes per write that documents compact every few dozen writes.
            tx.put(ROOT, key.as_str(), format!("{at}:{}", "x".repeat(200)))?;
            tx.commit();
            Ok::<_, AutomergeError>(())
        })?;
        // Printed only after `apply` returned, i.e. after the commit.
        let mut out = stdout.lock();
        out.write_all(format!("{doc} {id}\n").as_bytes())?;
        out.flush()?;
    }
    Ok(())
}

fn parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("device.db");
    let exe = std::env::current_exe().expect("current exe");
    let started = Instant::now();
    let mut acknowledged: Vec<(DocumentId, String)> = Vec::new();
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
        std::thread::sleep(Duration::from_millis(rand::random_range(5..120)));
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
            let (doc, id) = line.split_once(' ').expect("`<doc> <id>` line");
            acknowledged.push((doc.parse().expect("document id"), id.to_owned()));
        }
        check_store(&path, &acknowledged, round);
    }
    assert!(
        killed_mid_stream >= ROUNDS / 2,
        "only {killed_mid_stream} of {ROUNDS} rounds were killed mid-stream"
    );
    println!(
        "crash_store: {ROUNDS} SIGKILLs ({killed_mid_stream} mid-stream), {} acknowledged writes all present, {:?}",
        acknowledged.len(),
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

fn check_store(path: &PathBuf, acknowledged: &[(DocumentId, String)], round: usize) {
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
    for (doc, key) in acknowledged {
        let present = device
            .read(doc, |d| matches!(d.get(ROOT, key.as_str()), Ok(Some(_))))
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(
            present,
            "round {round}: write {key} returned in the child but is missing"
        );
    }
}
