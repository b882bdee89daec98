//! Relay benchmarks against the real relay binary (`setlink-relay`, built next to this
//! one). Run in release:
//!
//! ```text
//! cargo run --release -p setlink-tests --bin relay-bench                 # all, full size
//! cargo run --release -p setlink-tests --bin relay-bench -- --quick      # small, seconds
//! cargo run --release -p setlink-tests --bin relay-bench -- --only fanout --devices 500
//! ```
//!
//! Scenarios (ENGINEERING.md's relay bars):
//! - `connect`: N devices over M documents, time until all are connected and in sync
//!   (bar 10 s for 1,000 over 10,000); memory per connected device and per loaded
//!   document (relay RSS deltas), and that idle eviction gives the memory back.
//! - `fanout`: one device's change to every subscriber with N connected, p50/p99 (bar
//!   p99 50 ms), from the writer's change until each subscriber has applied it.
//!   `--share-replicas K` lets K subscribers share one document replica (each still has
//!   its own socket, engine and sync state; see `setlink_tests::fanout`).
//! - `writeamp`: bytes the relay writes to storage per byte of Automerge change (bar 3x).
//! - `reconnect`: a device with 200 documents back after a day offline, 3 changed:
//!   time and bytes on the wire (bars 300 ms, 20 KB).
//! - `rules`: relay CPU per change with the write rules on and off (bar +25%), two relays
//!   side by side, `--changes` in `--rounds` alternating blocks.
//!
//! Prints one line per figure, `name value unit`, for BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ROOT};
use setlink_core::model::run::{self, NewRun, RunEvent, RunKind};
use setlink_core::model::EventContext;
use setlink_core::{Author, DocKind, DocumentId, Role};
use setlink_tests::bench::{
    acked, cpu_secs, cpu_split, figure, relay_bin, rss, seed_through, small_doc, UNTHROTTLED,
};
use setlink_tests::fanout::{Arrivals, Subscriber};
use setlink_tests::http::{metric, metrics, redeem, Creds};
use setlink_tests::{Peer, PeerDocs, Relay};

struct Args {
    devices: usize,
    docs: usize,
    rounds: usize,
    changes: usize,
    reconnect_docs: usize,
    /// Fan-out subscribers sharing one document replica (see `setlink_tests::fanout`).
    share_replicas: usize,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        devices: 1000,
        docs: 10_000,
        rounds: 30,
        changes: 300,
        reconnect_docs: 200,
        share_replicas: 1,
        only: None,
    };
    let mut argv: Vec<String> = std::env::args().collect();
    if !argv.is_empty() {
        argv.remove(0); // the program
    }
    let mut i = 0;
    let num = |i: usize| -> usize {
        argv.get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{} needs a number", argv[i]))
    };
    while i < argv.len() {
        match argv[i].as_str() {
            "--quick" => {
                a.devices = 100;
                a.docs = 1000;
                a.rounds = 10;
                a.changes = 100;
            }
            "--devices" => {
                a.devices = num(i);
                i += 1;
            }
            "--docs" => {
                a.docs = num(i);
                i += 1;
            }
            "--rounds" => {
                a.rounds = num(i);
                i += 1;
            }
            "--changes" => {
                a.changes = num(i);
                i += 1;
            }
            "--share-replicas" => {
                a.share_replicas = num(i);
                i += 1;
            }
            "--only" => {
                a.only = argv.get(i + 1).cloned();
                i += 1;
            }
            other => panic!("unknown argument {other} (see the doc comment for usage)"),
        }
        i += 1;
    }
    a
}

fn start(dir: &std::path::Path, extra: &[&str]) -> Relay {
    let mut flags = UNTHROTTLED.to_vec();
    flags.extend_from_slice(extra);
    Relay::start(&relay_bin(), dir, &flags)
}

/// `n` tokens for one member of `role`, issued with the relay's own CLI.
async fn tokens(relay: &Relay, role: &str, n: usize) -> Vec<Creds> {
    setlink_tests::bench::tokens(relay.addr, relay.code(role), role, n, |args| {
        relay.cli(args)
    })
    .await
}

/// Bytes a process caused to be written to storage (page cache writeback included).
fn io_written(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("write_bytes:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Stores `n` small documents through the relay; returns their ids and heads.
async fn seed(relay: &Relay, n: usize) -> Vec<(DocumentId, Vec<ChangeHash>)> {
    let seeders = 10.min(n.max(1));
    let creds = tokens(relay, "pa", seeders).await;
    let tokens: Vec<String> = creds.into_iter().map(|c| c.token).collect();
    seed_through(&relay.ws_url(), &tokens, n).await
}

async fn bench_connect(a: &Args) {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(dir.path(), &["--idle-evict-secs", "2"]);
    let creds = tokens(&relay, "pa", a.devices).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Measured on a fresh relay, before any document was loaded, so allocator reuse of
    // freed document memory cannot hide the connections' cost.
    let rss0 = rss(relay.pid());
    let t0 = Instant::now();
    let url = relay.ws_url();
    let mut connects = Vec::new();
    for c in &creds {
        let url = url.clone();
        let token = c.token.clone();
        connects.push(tokio::spawn(async move {
            let p = Peer::connect(&url, &token, PeerDocs::new("dev"))
                .await
                .unwrap();
            p.wait(60, "handshake", |_, s| s.connected).await;
            p
        }));
    }
    let mut devices = Vec::new();
    for c in connects {
        devices.push(c.await.unwrap());
    }
    let connected = t0.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss1 = rss(relay.pid());
    let t = Instant::now();
    let docs = seed(&relay, a.docs).await;
    figure("connect.seed_documents_s", t.elapsed().as_secs_f64(), "s");

    // Every device syncs its share of the documents.
    let per = a.docs / a.devices.max(1);
    let t1 = Instant::now();
    let devices: Vec<Arc<Peer>> = devices.into_iter().map(Arc::new).collect();
    let mut waits = Vec::new();
    for (i, p) in devices.iter().enumerate() {
        let mine: Vec<(DocumentId, Vec<ChangeHash>)> = docs
            .get(i * per..(i + 1) * per)
            .unwrap_or_default()
            .to_vec();
        for (id, _) in &mine {
            p.open(*id);
        }
        let p = p.clone();
        waits.push(tokio::spawn(async move {
            for (id, h) in mine {
                p.wait_heads(id, &h, 60).await;
            }
        }));
    }
    for w in waits {
        w.await.unwrap();
    }
    let synced = t1.elapsed();
    // The pause for the memory reading above is not part of the run.
    let total = connected + synced;
    let rss2 = rss(relay.pid());
    let m = metrics(relay.addr).await;
    let loaded = metric(&m, "setlink_documents_loaded");
    figure("connect.devices", a.devices as f64, "");
    figure("connect.documents", (per * a.devices) as f64, "");
    figure("connect.all_connected_s", connected.as_secs_f64(), "s");
    figure(
        "connect.all_in_sync_after_connect_s",
        synced.as_secs_f64(),
        "s",
    );
    figure(
        "connect.connected_and_in_sync_total_s",
        total.as_secs_f64(),
        "s",
    );
    figure(
        "memory.per_connected_device_kib",
        (rss1.saturating_sub(rss0)) as f64 / a.devices as f64 / 1024.0,
        "KiB",
    );
    figure(
        "memory.per_loaded_document_kib",
        (rss2.saturating_sub(rss1)) as f64 / loaded.max(1) as f64 / 1024.0,
        "KiB",
    );
    figure(
        "memory.relay_rss_in_sync_mib",
        rss2 as f64 / 1048576.0,
        "MiB",
    );
    drop(devices);
    let t = Instant::now();
    loop {
        let m = metrics(relay.addr).await;
        if metric(&m, "setlink_documents_loaded") == 0 || t.elapsed() > Duration::from_secs(20) {
            figure(
                "memory.documents_loaded_after_idle",
                metric(&m, "setlink_documents_loaded") as f64,
                "",
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The relay hands freed pages back right after evicting; the metric can be read
    // between the two.
    tokio::time::sleep(Duration::from_millis(300)).await;
    figure(
        "memory.relay_rss_after_eviction_mib",
        rss(relay.pid()) as f64 / 1048576.0,
        "MiB",
    );
}

async fn bench_fanout(a: &Args) {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(dir.path(), &[]);
    let docs = seed(&relay, 1).await;
    let (hot, _) = docs[0].clone();
    let creds = tokens(&relay, "pa", a.devices + 1).await;
    let url = relay.ws_url();
    let arrivals = Arc::new(Arrivals::default());
    let group = a.share_replicas.max(1);
    let mut replica = Arc::new(std::sync::Mutex::new(Automerge::new()));
    let mut subscribers = Vec::new();
    for (i, c) in creds[1..].iter().enumerate() {
        if i % group == 0 {
            replica = Arc::new(std::sync::Mutex::new(Automerge::new()));
        }
        let full = format!("{url}?token={}", c.token);
        let s = Subscriber::connect(
            &full,
            &format!("sub-{i}"),
            hot,
            replica.clone(),
            arrivals.clone(),
        )
        .await
        .unwrap();
        subscribers.push(s);
    }
    let n = subscribers.len();
    let ready = arrivals
        .wait_ready(n, tokio::time::Instant::now() + Duration::from_secs(60))
        .await;
    assert_eq!(ready, n, "every subscriber synced the hot document");
    let writer = Peer::connect(&url, &creds[0].token, PeerDocs::new("writer"))
        .await
        .unwrap();
    writer.open(hot);
    writer
        .wait(60, "hot doc", move |d, _| {
            d.docs.get(&hot).is_some_and(|x| !x.get_heads().is_empty())
        })
        .await;
    // Let the initial exchanges settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut samples: Vec<f64> = Vec::with_capacity(a.rounds * n);
    let relay_cpu0 = cpu_split(relay.pid());
    let own_cpu0 = cpu_secs(std::process::id());
    for r in 0..a.rounds {
        let sent = Instant::now();
        writer.change(hot, |d| {
            let mut tx = d.transaction();
            tx.put(ROOT, "round", r as i64).unwrap();
            tx.commit();
        });
        let hash = writer.heads(hot)[0];
        let times = arrivals
            .wait_for(
                hash,
                n,
                tokio::time::Instant::now() + Duration::from_secs(30),
            )
            .await;
        assert_eq!(times.len(), n, "round {r}: every subscriber got the change");
        samples.extend(
            times
                .iter()
                .map(|t| t.duration_since(sent).as_secs_f64() * 1000.0),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let relay_cpu1 = cpu_split(relay.pid());
    let own_cpu = cpu_secs(std::process::id()) - own_cpu0;
    samples.sort_by(|x, y| x.total_cmp(y));
    let per_change = |secs: f64| secs * 1000.0 / a.rounds as f64;
    let (user, system) = (relay_cpu1.0 - relay_cpu0.0, relay_cpu1.1 - relay_cpu0.1);
    figure(
        "fanout.relay_cpu_ms_per_change",
        per_change(user + system),
        "ms",
    );
    figure("fanout.relay_user_ms_per_change", per_change(user), "ms");
    figure(
        "fanout.relay_system_ms_per_change",
        per_change(system),
        "ms",
    );
    figure(
        "fanout.devices_cpu_ms_per_change",
        own_cpu * 1000.0 / a.rounds as f64,
        "ms",
    );
    let pct = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    figure("fanout.subscribers", n as f64, "");
    figure("fanout.subscribers_per_replica", group as f64, "");
    figure("fanout.p50_ms", pct(0.50), "ms");
    figure("fanout.p99_ms", pct(0.99), "ms");
    figure("fanout.max_ms", pct(1.0), "ms");
}

async fn bench_writeamp(a: &Args) {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(dir.path(), &[]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "bench").await;
    let p = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("writer"))
        .await
        .unwrap();
    let by = Author {
        member_id: coord.member_id.clone(),
        device_id: "bench".into(),
        role: Role::Coordinator,
    };
    let board = DocumentId::random();
    let mut doc = Automerge::new();
    run::init_board(&mut doc, &by, setlink_server::auth::now_ms()).unwrap();
    p.insert(board, doc);
    acked(&p, board, p.heads(board)).await;
    let m0 = metrics(relay.addr).await;
    let io0 = io_written(relay.pid());
    let mut change_bytes = 0u64;
    let mut runs: Vec<String> = Vec::new();
    let mut at = setlink_server::auth::now_ms();
    for i in 0..a.changes {
        at += 1000;
        let bytes = p.change(board, |d| {
            if i % 3 == 0 || runs.is_empty() {
                let id = run::create_run(
                    d,
                    &by,
                    at,
                    NewRun::new(RunKind::Pickup, format!("run {i}"), "Camera"),
                )
                .unwrap();
                runs.push(id);
            } else {
                let id = runs[i % runs.len()].clone();
                let ev = if i % 3 == 1 {
                    run::assign(d, &by, at, &id, "pa-1", EventContext::none()).map(|_| ())
                } else {
                    run::record_status(d, &by, at, &id, RunEvent::Cancel, EventContext::none())
                        .map(|_| ())
                };
                if ev.is_err() {
                    run::add_comment(d, &by, at, &id, "still waiting").unwrap();
                }
            }
            d.get_last_local_change()
                .map(|c| c.raw_bytes().len())
                .unwrap_or(0)
        });
        change_bytes += bytes as u64;
        // One status change at a time, each acknowledged, as a phone does it.
        acked(&p, board, p.heads(board)).await;
    }
    let m1 = metrics(relay.addr).await;
    let io1 = io_written(relay.pid());
    let stored = |m: &str| {
        metric(m, "setlink_storage_document_bytes_written_total")
            + metric(m, "setlink_storage_sync_state_bytes_written_total")
    };
    let logical = stored(&m1) - stored(&m0);
    figure("writeamp.changes", a.changes as f64, "");
    figure("writeamp.change_bytes", change_bytes as f64, "B");
    figure("writeamp.storage_payload_bytes", logical as f64, "B");
    figure(
        "writeamp.ratio",
        logical as f64 / change_bytes.max(1) as f64,
        "x",
    );
    figure(
        "writeamp.disk_bytes_per_change_byte",
        (io1.saturating_sub(io0)) as f64 / change_bytes.max(1) as f64,
        "x",
    );
}

/// Relay CPU per change with the write rules on and off, same run: two relays on the demo
/// production (one started with `--unsafe-skip-write-rules`), a coordinator's device on
/// each making the same status changes, comments and new runs on the demo board, each
/// acknowledged before the next (as a phone does). Alternates between the relays in rounds
/// so machine noise lands on both.
async fn bench_rules(a: &Args) {
    struct Side {
        _dir: tempfile::TempDir,
        relay: Relay,
        peer: Peer,
        by: Author,
        board: DocumentId,
        runs: Vec<String>,
        cpu: f64,
        changes: usize,
    }
    async fn side(extra: &[&str]) -> Side {
        let dir = tempfile::tempdir().unwrap();
        let relay = start(dir.path(), extra);
        let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "bench").await;
        let prod: DocumentId = coord.production_doc_id.parse().unwrap();
        let peer = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("writer"))
            .await
            .unwrap();
        peer.open(prod);
        peer.wait(30, "production", |d, _| {
            d.docs.get(&prod).is_some_and(|x| {
                setlink_server::production_doc::read_index(x).is_ok_and(|i| i.len() >= 5)
            })
        })
        .await;
        let board = peer
            .read(prod, |d| {
                setlink_server::production_doc::read_index(d)
                    .unwrap()
                    .into_iter()
                    .find_map(|(id, k)| matches!(k, DocKind::Board { .. }).then_some(id))
            })
            .flatten()
            .unwrap();
        peer.open(board);
        peer.wait(30, "board", |d, _| {
            d.docs
                .get(&board)
                .is_some_and(|x| !x.get_heads().is_empty())
        })
        .await;
        let by = Author {
            member_id: coord.member_id.clone(),
            device_id: "bench".into(),
            role: Role::Coordinator,
        };
        Side {
            _dir: dir,
            relay,
            peer,
            by,
            board,
            runs: Vec::new(),
            cpu: 0.0,
            changes: 0,
        }
    }
    let mut on = side(&[]).await;
    let mut off = side(&["--unsafe-skip-write-rules"]).await;
    let rounds = a.rounds.max(1);
    let per_round = (a.changes / rounds).max(1);
    let mut at = setlink_server::auth::now_ms();
    for _ in 0..rounds {
        for s in [&mut on, &mut off] {
            let cpu0 = cpu_secs(s.relay.pid());
            for i in 0..per_round {
                at += 1000;
                let (by, board) = (s.by.clone(), s.board);
                let runs = &mut s.runs;
                s.peer.change(board, |d| {
                    if i % 4 == 0 || runs.is_empty() {
                        let id = run::create_run(
                            d,
                            &by,
                            at,
                            NewRun::new(RunKind::Pickup, format!("run {i}"), "Camera"),
                        )
                        .unwrap();
                        runs.push(id);
                    } else {
                        let id = runs[i % runs.len()].clone();
                        let ev = match i % 4 {
                            1 => run::assign(d, &by, at, &id, "pa-1", EventContext::none()),
                            2 => run::record_status(
                                d,
                                &by,
                                at,
                                &id,
                                RunEvent::Accept,
                                EventContext::none(),
                            ),
                            _ => run::record_status(
                                d,
                                &by,
                                at,
                                &id,
                                RunEvent::PickUp,
                                EventContext::none(),
                            ),
                        };
                        if ev.is_err() {
                            run::add_comment(d, &by, at, &id, "still waiting").unwrap();
                        }
                    }
                });
                acked(&s.peer, board, s.peer.heads(board)).await;
            }
            s.cpu += cpu_secs(s.relay.pid()) - cpu0;
            s.changes += per_round;
        }
    }
    let refused = metric(
        &metrics(on.relay.addr).await,
        "setlink_refusals_total{reason=\"write_rules\"}",
    );
    assert_eq!(refused, 0, "the rules refused a valid change");
    let us = |s: &Side| s.cpu * 1e6 / s.changes.max(1) as f64;
    figure("rules.changes_each", on.changes as f64, "");
    figure("rules.relay_cpu_per_change_on", us(&on), "us");
    figure("rules.relay_cpu_per_change_off", us(&off), "us");
    figure("rules.on_over_off", us(&on) / us(&off).max(1e-9), "x");
}

async fn bench_reconnect(a: &Args) {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(dir.path(), &[]);
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "phone").await;
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "office").await;
    let mut docs = PeerDocs::new("phone");
    docs.quiet = true;
    let p = Peer::connect(&relay.ws_url(), &pa.token, docs)
        .await
        .unwrap();
    p.wait(30, "handshake", |_, s| s.connected).await;
    let ids: Vec<DocumentId> = (0..a.reconnect_docs)
        .map(|_| DocumentId::random())
        .collect();
    for (i, id) in ids.iter().enumerate() {
        p.insert(*id, small_doc(i));
    }
    for id in &ids {
        acked(&p, *id, p.heads(*id)).await;
    }
    let mut offline = p.disconnect().await;
    // A day passes: the office changes 3 documents.
    let c = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("office"))
        .await
        .unwrap();
    let mut want = Vec::new();
    for id in &ids[..3] {
        c.open(*id);
        let id = *id;
        c.wait(30, "doc", move |d, _| {
            d.docs.get(&id).is_some_and(|x| !x.get_heads().is_empty())
        })
        .await;
        c.change(id, |d| {
            let mut tx = d.transaction();
            tx.put(ROOT, "status", "delivered").unwrap();
            tx.commit();
        });
        acked(&c, id, c.heads(id)).await;
        want.push((id, c.heads(id)));
    }
    drop(c);
    offline.quiet = true;
    let t = Instant::now();
    let p = Peer::connect(&relay.ws_url(), &pa.token, offline)
        .await
        .unwrap();
    for (id, h) in &want {
        p.wait_heads(*id, h, 30).await;
    }
    let took = t.elapsed();
    let (rx, tx) = p.seen(|s| (s.bytes_received, s.bytes_sent));
    figure("reconnect.documents", a.reconnect_docs as f64, "");
    figure("reconnect.changed", 3.0, "");
    figure("reconnect.time_ms", took.as_secs_f64() * 1000.0, "ms");
    figure("reconnect.wire_kib", (rx + tx) as f64 / 1024.0, "KiB");
}

/// The same client workload against any automerge-repo server at `url`: the seed devices
/// store `docs` documents, then the devices connect at once and each syncs its share.
/// Returns (seconds to seed, seconds until all connected and in sync).
async fn workload(url: &str, seed_tokens: &[String], tokens: &[String], docs: usize) -> (f64, f64) {
    let t = Instant::now();
    let all = seed_through(url, seed_tokens, docs).await;
    let seeded = t.elapsed().as_secs_f64();
    let per = docs / tokens.len().max(1);
    let t = Instant::now();
    let mut waits = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        let url = url.to_owned();
        let tok = tok.clone();
        let mine: Vec<(DocumentId, Vec<ChangeHash>)> =
            all.get(i * per..(i + 1) * per).unwrap_or_default().to_vec();
        waits.push(tokio::spawn(async move {
            let p = Peer::connect(&url, &tok, PeerDocs::new("dev"))
                .await
                .unwrap();
            for (id, _) in &mine {
                p.open(*id);
            }
            for (id, h) in mine {
                p.wait_heads(id, &h, 120).await;
            }
            p
        }));
    }
    let mut peers = Vec::new();
    for w in waits {
        peers.push(w.await.unwrap());
    }
    (seeded, t.elapsed().as_secs_f64())
}

/// Side by side on the same client workload: the reference JavaScript automerge-repo
/// 2.5 sync server (tests/js/server.mjs, nodefs storage) and this relay.
async fn bench_js(a: &Args) {
    setlink_tests::js::npm_install();
    let dir = tempfile::tempdir().unwrap();
    let js_data = dir.path().join("js-data");
    std::fs::create_dir_all(&js_data).expect("js data dir");
    let mut node = tokio::process::Command::new("node")
        .arg("server.mjs")
        .arg("--dir")
        .arg(&js_data)
        .current_dir(setlink_tests::js::js_dir())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node server.mjs");
    let stdout = node.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout);
    let mut first = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut first)
        .await
        .expect("server.mjs port line");
    let port = serde_json::from_str::<serde_json::Value>(&first).expect("port JSON")["port"]
        .as_u64()
        .expect("port");
    let js_url = format!("ws://127.0.0.1:{port}/");
    // server.mjs prints its port once listening, but its repo's network adapter starts
    // handling sockets a moment later; connections before that are reset.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let anon: Vec<String> = (0..a.devices).map(|_| String::new()).collect();
    let (js_seed, js_sync) = workload(&js_url, &anon[..10.min(a.devices)], &anon, a.docs).await;
    let _ = node.kill().await;
    drop(lines);

    let relay = start(&dir.path().join("relay"), &[]);
    let seeders: Vec<String> = tokens(&relay, "pa", 10)
        .await
        .into_iter()
        .map(|c| c.token)
        .collect();
    let devs: Vec<String> = tokens(&relay, "pa", a.devices)
        .await
        .into_iter()
        .map(|c| c.token)
        .collect();
    let (sl_seed, sl_sync) = workload(&relay.ws_url(), &seeders, &devs, a.docs).await;
    figure("js.devices", a.devices as f64, "");
    figure("js.documents", a.docs as f64, "");
    figure("js.reference_seed_s", js_seed, "s");
    figure("js.reference_connect_and_sync_s", js_sync, "s");
    figure("js.setlink_seed_s", sl_seed, "s");
    figure("js.setlink_connect_and_sync_s", sl_sync, "s");
    figure("js.convergence_speedup", js_sync / sl_sync.max(1e-9), "x");
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let want = |s: &str| {
            a.only
                .as_deref()
                .is_none_or(|o| o.split(',').any(|x| x == s))
        };
        if want("reconnect") {
            bench_reconnect(&a).await;
        }
        if want("writeamp") {
            bench_writeamp(&a).await;
        }
        if want("fanout") {
            bench_fanout(&a).await;
        }
        if want("connect") {
            bench_connect(&a).await;
        }
        if want("rules") {
            bench_rules(&a).await;
        }
        // Not in the default set: it needs Node and the npm packages.
        if a.only
            .as_deref()
            .is_some_and(|o| o.split(',').any(|x| x == "js"))
        {
            bench_js(&a).await;
        }
    });
}
