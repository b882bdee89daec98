//! Faults against the real relay binary: SIGKILL under load, and a proxy that keeps
//! cutting connections.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use automerge::{ChangeHash, ReadDoc};
use setlink_core::model::run::{self, RunEvent, RunEventKind, RunStatus};
use setlink_core::model::EventContext;
use setlink_core::{Author, DocKind, DocumentId, Role};
use setlink_server::production_doc::read_index;
use setlink_tests::board::author;
use setlink_tests::http::{redeem, Creds};
use setlink_tests::peer::{same_heads, Device};
use setlink_tests::proxy::LossyProxy;
use setlink_tests::{within, Peer, PeerDocs, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

async fn board_and_prod(relay: &Relay, c: &Creds) -> (DocumentId, DocumentId) {
    let prod: DocumentId = c.production_doc_id.parse().unwrap();
    let p = Peer::connect(&relay.ws_url(), &c.token, PeerDocs::new("index"))
        .await
        .unwrap();
    p.open(prod);
    p.wait(10, "production doc", |d, _| {
        d.docs
            .get(&prod)
            .is_some_and(|x| read_index(x).is_ok_and(|i| i.len() >= 5))
    })
    .await;
    let board = p
        .read(prod, |d| {
            read_index(d)
                .unwrap()
                .into_iter()
                .find_map(|(id, k)| matches!(k, DocKind::Board { .. }).then_some(id))
        })
        .flatten()
        .unwrap();
    (prod, board)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_the_relay_answered_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(BIN, dir.path(), &[]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c").await;
    let (_, board) = board_and_prod(&relay, &coord).await;
    let mut writers = Vec::new();
    for (i, role) in ["coordinator", "office", "pa", "coordinator"]
        .iter()
        .enumerate()
    {
        let c = redeem(relay.addr, relay.code(role), "w", &format!("w{i}")).await;
        let p = Peer::connect(&relay.ws_url(), &c.token, PeerDocs::new(&format!("w{i}")))
            .await
            .unwrap();
        p.open(board);
        writers.push((c, p));
    }
    for (_, p) in &writers {
        p.wait(10, "board", |d, _| {
            d.docs
                .get(&board)
                .is_some_and(|x| !x.get_heads().is_empty())
        })
        .await;
    }
    // Load: every writer comments on a run every few ms while the relay is killed.
    let first_run = writers[0]
        .1
        .read(board, |d| {
            run::list_runs(d).unwrap().items[0].record.id.clone()
        })
        .unwrap();
    let authors: Vec<Author> = writers
        .iter()
        .enumerate()
        .map(|(i, (c, _))| Author {
            member_id: c.member_id.clone(),
            device_id: format!("w{i}"),
            role: c.role.parse().unwrap(),
        })
        .collect();
    let comments_on = {
        let first_run = first_run.clone();
        move |d: &automerge::Automerge| {
            run::read_run(d, &first_run)
                .map(|r| r.record.comments.len() as u64)
                .unwrap_or(0)
        }
    };
    let baseline = writers[0].1.read(board, &comments_on).unwrap();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_millis(1500) {
        for (i, (_, p)) in writers.iter().enumerate() {
            p.change(board, |d| {
                run::add_comment(
                    d,
                    &authors[i],
                    setlink_server::auth::now_ms(),
                    &first_run,
                    &format!("w{i}-{n}"),
                )
                .unwrap();
            });
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    relay.kill();
    let acked: Vec<Vec<ChangeHash>> = writers.iter().map(|(_, p)| p.acknowledged(board)).collect();
    assert!(
        acked.iter().all(|h| !h.is_empty()),
        "relay acknowledged nothing"
    );
    let mut offline = Vec::new();
    for (c, p) in writers {
        offline.push((c, p.disconnect().await));
    }

    relay.restart();
    // Before any writer reconnects: the restarted relay has every acknowledged change.
    let reader = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("reader"))
        .await
        .unwrap();
    reader.open(board);
    let all: Vec<ChangeHash> = acked.iter().flatten().copied().collect();
    let want = all.clone();
    reader
        .wait(
            10,
            "every acknowledged change after restart",
            move |d, _| {
                d.docs
                    .get(&board)
                    .is_some_and(|x| want.iter().all(|h| x.get_change_by_hash(h).is_some()))
            },
        )
        .await;

    // Writers come back with what the relay had not answered for; all converge.
    let mut back = Vec::new();
    for (c, docs) in offline {
        back.push(
            Peer::connect(&relay.ws_url(), &c.token, docs)
                .await
                .unwrap(),
        );
    }
    let converge = async {
        let mut last_log = Instant::now();
        loop {
            let r = reader.heads(board);
            if last_log.elapsed() > Duration::from_secs(2) {
                last_log = Instant::now();
                eprintln!(
                    "still converging: reader has {:?} comments of {}; writer errors: {:?}",
                    reader.read(board, &comments_on),
                    baseline + 4 * n,
                    back.iter()
                        .map(|p| p.seen(|s| s.errors.len()))
                        .collect::<Vec<_>>()
                );
            }
            if back.iter().all(|p| same_heads(&p.heads(board), &r)) {
                // 4 writers x n rounds of one comment each, none lost or duplicated.
                if reader.read(board, &comments_on) == Some(baseline + 4 * n) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    within(20, "all devices to converge after the restart", converge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_behind_a_lossy_proxy_converge_without_losing_or_duplicating_events() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &["--ping-secs", "1"]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c").await;
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "p").await;
    let office = redeem(relay.addr, relay.code("office"), "Olive", "o").await;
    let (_, board) = board_and_prod(&relay, &coord).await;
    let proxy = LossyProxy::start(relay.addr, 150, 450).await;
    let url = format!("ws://{}/sync", proxy.addr);

    let mut devices: Vec<Device> = [(&coord, "coord"), (&pa, "pa"), (&office, "office")]
        .iter()
        .map(|(c, n)| {
            let mut docs = PeerDocs::new(n);
            docs.docs.insert(board, automerge::Automerge::new());
            Device::new(&url, &c.token, docs)
        })
        .collect();
    let casey = author(&coord, Role::Coordinator, "coord");
    let pat = author(&pa, Role::Pa, "pa");
    let olive = author(&office, Role::Office, "office");

    // Everyone first gets the board (through the flapping proxy).
    let first = async {
        loop {
            for d in devices.iter_mut() {
                d.tick().await;
            }
            if devices.iter().all(|d| {
                d.read(board, |x| {
                    run::list_runs(x).is_ok_and(|r| r.items.len() == 4)
                }) == Some(true)
            }) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    within(30, "every device to get the board", first).await;

    // The coordinator creates runs for the PA; the PA works them; the office comments.
    let mut now = setlink_server::auth::now_ms();
    let mut tick = || {
        now += 1;
        now
    };
    let mut created: Vec<String> = Vec::new();
    let mut progress: HashMap<String, usize> = HashMap::new();
    let script = [RunEvent::Accept, RunEvent::PickUp, RunEvent::Deliver];
    let started = Instant::now();
    let mut step = 0u64;
    while started.elapsed() < Duration::from_secs(4) {
        for d in devices.iter_mut() {
            d.tick().await;
        }
        if created.len() < 8 && step.is_multiple_of(3) {
            let id = devices[0].change(board, |d| {
                let id = run::create_run(
                    d,
                    &casey,
                    tick(),
                    run::NewRun::new(run::RunKind::Pickup, format!("run {step}"), "Camera"),
                )
                .unwrap();
                run::assign(d, &casey, tick(), &id, &pa.member_id, EventContext::none()).unwrap();
                id
            });
            created.push(id);
        }
        // The PA moves every run it has seen one step further.
        let seen: Vec<String> = created
            .iter()
            .filter(|id| devices[1].read(board, |d| run::read_run(d, id).is_ok()) == Some(true))
            .cloned()
            .collect();
        for id in seen {
            let k = progress.entry(id.clone()).or_default();
            if *k < script.len() {
                let ev = script[*k].clone();
                devices[1].change(board, |d| {
                    run::record_status(d, &pat, tick(), &id, ev, EventContext::none()).unwrap()
                });
                *k += 1;
            }
        }
        if let Some(id) = created.first() {
            if devices[2].read(board, |d| run::read_run(d, id).is_ok()) == Some(true) {
                let text = format!("office note {step}");
                devices[2].change(board, |d| {
                    run::add_comment(d, &olive, tick(), id, &text).unwrap()
                });
            }
        }
        step += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(
        proxy.cut_count() >= 5,
        "the proxy must have cut connections ({})",
        proxy.cut_count()
    );
    proxy.heal();
    // Finish the script on the PA, then let everything settle.
    let settle = async {
        let mut last_log = Instant::now();
        loop {
            if last_log.elapsed() > Duration::from_secs(5) {
                last_log = Instant::now();
                for (i, d) in devices.iter().enumerate() {
                    eprintln!(
                        "device {i}: heads {:?} reconnects {} online {:?} errors {:?} runs {:?}",
                        d.heads(board),
                        d.reconnects,
                        d.peer()
                            .map(|p| p.seen(|s| (s.connected, s.closed.clone()))),
                        d.peer().map(|p| p.seen(|s| s.errors.clone())),
                        d.read(board, |x| run::list_runs(x).map(|r| r.items.len()).ok()),
                    );
                }
                eprintln!("progress {:?}", progress.values().collect::<Vec<_>>());
            }
            for d in devices.iter_mut() {
                d.tick().await;
            }
            let pending: Vec<String> = created
                .iter()
                .filter(|id| progress.get(*id).copied().unwrap_or(0) < script.len())
                .cloned()
                .collect();
            for id in pending {
                if devices[1].read(board, |d| run::read_run(d, &id).is_ok()) == Some(true) {
                    let k = progress.entry(id.clone()).or_default();
                    let ev = script[*k].clone();
                    devices[1].change(board, |d| {
                        run::record_status(d, &pat, tick(), &id, ev, EventContext::none()).unwrap()
                    });
                    *k += 1;
                }
            }
            let h = devices[0].heads(board);
            let done =
                progress.len() == created.len() && progress.values().all(|k| *k == script.len());
            if done && devices.iter().all(|d| same_heads(&d.heads(board), &h)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    };
    within(60, "devices to converge after the proxy heals", settle).await;
    let reconnects: u64 = devices.iter().map(|d| d.reconnects).sum();
    assert!(
        reconnects > 6,
        "devices should have reconnected repeatedly ({reconnects})"
    );

    // Every event exactly once, identical on every device and on a fresh one.
    let fresh = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("fresh"))
        .await
        .unwrap();
    fresh.open(board);
    fresh.wait_heads(board, &devices[0].heads(board), 10).await;
    for id in &created {
        let want = |d: &automerge::Automerge| {
            let r = run::read_run(d, id).unwrap();
            let kinds: Vec<RunEventKind> = r.events.iter().map(|e| e.kind).collect();
            (r.status, kinds, r.record.comments.len())
        };
        let reference = fresh.read(board, want).unwrap();
        assert_eq!(reference.0, RunStatus::Delivered, "run {id}");
        assert_eq!(
            reference.1,
            vec![
                RunEventKind::Created,
                RunEventKind::Assigned,
                RunEventKind::Accepted,
                RunEventKind::PickedUp,
                RunEventKind::Delivered
            ],
            "run {id}: every event exactly once"
        );
        for d in &devices {
            assert_eq!(d.read(board, want).unwrap(), reference);
        }
    }
    let comments = fresh
        .read(board, |d| {
            run::read_run(d, &created[0]).unwrap().record.comments.len()
        })
        .unwrap();
    assert!(comments > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_documents_are_evicted_and_sigterm_drains_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(BIN, dir.path(), &["--idle-evict-secs", "1"]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c").await;
    let (prod, board) = board_and_prod(&relay, &coord).await;
    let p = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("p"))
        .await
        .unwrap();
    p.open(board);
    p.wait(10, "board", |d, _| {
        d.docs
            .get(&board)
            .is_some_and(|x| !x.get_heads().is_empty())
    })
    .await;
    let loaded = |m: &str| setlink_tests::http::metric(m, "setlink_documents_loaded");
    let m = setlink_tests::http::metrics(relay.addr).await;
    assert!(loaded(&m) >= 1);
    // Subscribed documents stay loaded however long they are idle.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let m = setlink_tests::http::metrics(relay.addr).await;
    assert!(loaded(&m) >= 1, "a subscribed document was evicted");
    let casey = Author {
        member_id: coord.member_id.clone(),
        device_id: "c".into(),
        role: Role::Coordinator,
    };
    p.change(board, |d| {
        let first = run::list_runs(d).unwrap().items[0].record.id.clone();
        run::add_comment(
            d,
            &casey,
            setlink_server::auth::now_ms(),
            &first,
            "before sigterm",
        )
        .unwrap();
    });
    let heads = p.heads(board);
    p.wait(10, "relay ack", move |d, _| {
        d.states
            .get(&board)
            .and_then(|s| s.their_heads.clone())
            .is_some_and(|t| same_heads(&t, &heads))
    })
    .await;
    let _docs = p.disconnect().await;
    // Without subscribers, everything is dropped from memory within a few seconds.
    let evicted = async {
        loop {
            let m = setlink_tests::http::metrics(relay.addr).await;
            if loaded(&m) == 0 {
                assert!(setlink_tests::http::metric(&m, "setlink_documents_evicted_total") >= 2);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    within(10, "idle documents to be evicted", evicted).await;

    // SIGTERM: connections get a going-away close, the relay exits 0, data is all there.
    let q = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("q"))
        .await
        .unwrap();
    q.open(prod);
    q.wait(10, "prod", |d, _| {
        d.docs.get(&prod).is_some_and(|x| !x.get_heads().is_empty())
    })
    .await;
    assert!(relay.terminate(), "relay did not exit cleanly on SIGTERM");
    q.wait(5, "close on shutdown", |_, s| s.closed.is_some())
        .await;
    assert_eq!(q.seen(|s| s.close_frame.as_ref().map(|c| c.0)), Some(1001));
    relay.restart();
    let r = Peer::connect(&relay.ws_url(), &coord.token, PeerDocs::new("r"))
        .await
        .unwrap();
    r.open(board);
    r.wait(10, "the change made before SIGTERM", |d, _| {
        d.docs.get(&board).is_some_and(|x| {
            run::list_runs(x).is_ok_and(|l| {
                l.items
                    .iter()
                    .any(|r| r.record.comments.iter().any(|c| c.text == "before sigterm"))
            })
        })
    })
    .await;
}
