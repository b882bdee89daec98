//! Benchmarks of several relays on one PostgreSQL (ENGINEERING.md's scale-out bars), each
//! against real processes: a throw-away PostgreSQL server, three relay binaries, haproxy.
//! Run in release:
//!
//! ```sh
//! cargo build --release -p setlink-tests --bins
//! ./target/release/cluster-bench                          # all, full size
//! ./target/release/cluster-bench --quick                  # small, seconds
//! ./target/release/cluster-bench --only xfanout --devices 500
//! ```
//!
//! Scenarios:
//! - `xfanout`: a writer on relay A, N subscribers spread round robin over relays A, B
//!   and C; p50/p99 from the writer's change until each subscriber applied it, for the
//!   subscribers on B and C (cross-relay: PostgreSQL commit, NOTIFY, load, fan-out) and
//!   on A (bar: p99 ≤ 100 ms with 1,000 devices over three relays). `--share-replicas K`
//!   as in relay-bench.
//! - `xconnect`: N devices over M documents through haproxy, time until all are
//!   connected and in sync (bar 10 s for 1,000 over 10,000).
//! - `pgchange`: one relay on PostgreSQL and one on SQLite side by side, a device on each
//!   making the same changes, each acknowledged before the next, in alternating blocks:
//!   median time to acknowledge and relay CPU per change.
//!
//! Prints one line per figure, `name value unit`, for BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use setlink_core::DocumentId;
use setlink_tests::bench::{
    acked, cpu_secs, figure, quantile, relay_bin, seed_through, small_doc, tokens, UNTHROTTLED,
};
use setlink_tests::cluster::Cluster;
use setlink_tests::fanout::{Arrivals, Subscriber};
use setlink_tests::{Peer, PeerDocs, Relay};

struct Args {
    devices: usize,
    docs: usize,
    rounds: usize,
    changes: usize,
    share_replicas: usize,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        devices: 1000,
        docs: 10_000,
        rounds: 30,
        changes: 600,
        share_replicas: 50,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |what: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match flag.as_str() {
            "--quick" => {
                a.devices = 60;
                a.docs = 300;
                a.rounds = 5;
                a.changes = 60;
            }
            "--devices" => a.devices = num("--devices"),
            "--docs" => a.docs = num("--docs"),
            "--rounds" => a.rounds = num("--rounds"),
            "--changes" => a.changes = num("--changes"),
            "--share-replicas" => a.share_replicas = num("--share-replicas"),
            "--only" => a.only = it.next(),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn cluster() -> Cluster {
    Cluster::start(&relay_bin(), 3, &UNTHROTTLED)
}

async fn cluster_tokens(c: &Cluster, n: usize) -> Vec<String> {
    let bin = relay_bin();
    tokens(c.relays[0].addr, c.code("pa"), "pa", n, |args| {
        c.cli(&bin, args)
    })
    .await
    .into_iter()
    .map(|c| c.token)
    .collect()
}

async fn bench_xfanout(a: &Args) {
    let c = cluster();
    let toks = cluster_tokens(&c, a.devices + 10).await;
    let (hot, _) = seed_through(&c.relays[0].ws_url(), &toks[..1], 1).await[0].clone();
    // Subscribers on A, the writer's relay, and on B and C, which hear of the change
    // through PostgreSQL.
    let same = Arc::new(Arrivals::default());
    let cross = Arc::new(Arrivals::default());
    let group = a.share_replicas.max(1);
    let mut replica = Arc::new(std::sync::Mutex::new(Automerge::new()));
    let mut subscribers = Vec::new();
    let (mut n_same, mut n_cross) = (0, 0);
    for (i, tok) in toks[1..=a.devices].iter().enumerate() {
        if i % group == 0 {
            replica = Arc::new(std::sync::Mutex::new(Automerge::new()));
        }
        let on = i % 3;
        let arrivals = if on == 0 {
            n_same += 1;
            same.clone()
        } else {
            n_cross += 1;
            cross.clone()
        };
        let full = format!("{}?token={tok}", c.relays[on].ws_url());
        let s = Subscriber::connect(&full, &format!("sub-{i}"), hot, replica.clone(), arrivals)
            .await
            .unwrap();
        subscribers.push(s);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    assert_eq!(same.wait_ready(n_same, deadline).await, n_same);
    assert_eq!(cross.wait_ready(n_cross, deadline).await, n_cross);
    let writer = Peer::connect(&c.relays[0].ws_url(), &toks[0], PeerDocs::new("writer"))
        .await
        .unwrap();
    writer.open(hot);
    writer
        .wait(60, "hot doc", move |d, _| {
            d.docs.get(&hot).is_some_and(|x| !x.get_heads().is_empty())
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu0: Vec<f64> = c.relays.iter().map(|r| cpu_secs(r.pid())).collect();
    let (mut same_ms, mut cross_ms) = (Vec::new(), Vec::new());
    for r in 0..a.rounds {
        let sent = Instant::now();
        writer.change(hot, |d| {
            let mut tx = d.transaction();
            tx.put(ROOT, "round", r as i64).unwrap();
            tx.commit();
        });
        let hash = writer.heads(hot)[0];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        for (arrivals, n, out) in [
            (&same, n_same, &mut same_ms),
            (&cross, n_cross, &mut cross_ms),
        ] {
            let times = arrivals.wait_for(hash, n, deadline).await;
            assert_eq!(times.len(), n, "round {r}: every subscriber got the change");
            out.extend(
                times
                    .iter()
                    .map(|t| t.duration_since(sent).as_secs_f64() * 1000.0),
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let per_change: Vec<f64> = c
        .relays
        .iter()
        .zip(&cpu0)
        .map(|(r, c0)| (cpu_secs(r.pid()) - c0) * 1000.0 / a.rounds as f64)
        .collect();
    same_ms.sort_by(f64::total_cmp);
    cross_ms.sort_by(f64::total_cmp);
    figure("xfanout.subscribers", a.devices as f64, "");
    figure("xfanout.subscribers_per_replica", group as f64, "");
    figure("xfanout.cross_relay_p50_ms", quantile(&cross_ms, 0.5), "ms");
    figure(
        "xfanout.cross_relay_p99_ms",
        quantile(&cross_ms, 0.99),
        "ms",
    );
    figure("xfanout.same_relay_p50_ms", quantile(&same_ms, 0.5), "ms");
    figure("xfanout.same_relay_p99_ms", quantile(&same_ms, 0.99), "ms");
    let mut all: Vec<f64> = same_ms.iter().chain(&cross_ms).copied().collect();
    all.sort_by(f64::total_cmp);
    figure("xfanout.all_p99_ms", quantile(&all, 0.99), "ms");
    for (i, ms) in per_change.iter().enumerate() {
        figure(&format!("xfanout.relay{i}_cpu_ms_per_change"), *ms, "ms");
    }
    drop(subscribers);
}

async fn bench_xconnect(a: &Args) {
    let c = cluster();
    let toks = cluster_tokens(&c, a.devices + 10).await;
    let url = c.lb.ws_url();
    let t = Instant::now();
    let docs = seed_through(&url, &toks[a.devices..], a.docs).await;
    figure("xconnect.seed_documents_s", t.elapsed().as_secs_f64(), "s");
    let t0 = Instant::now();
    let mut connects = Vec::new();
    for tok in &toks[..a.devices] {
        let url = url.clone();
        let tok = tok.clone();
        connects.push(tokio::spawn(async move {
            let p = Peer::connect(&url, &tok, PeerDocs::new("dev"))
                .await
                .unwrap();
            p.wait(60, "handshake", |_, s| s.connected).await;
            Arc::new(p)
        }));
    }
    let mut devices = Vec::new();
    for c in connects {
        devices.push(c.await.unwrap());
    }
    let connected = t0.elapsed();
    let per = a.docs / a.devices.max(1);
    let mut waits = Vec::new();
    for (i, p) in devices.iter().enumerate() {
        let mine = docs
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
    figure("xconnect.devices", a.devices as f64, "");
    figure("xconnect.documents", (per * a.devices) as f64, "");
    figure("xconnect.all_connected_s", connected.as_secs_f64(), "s");
    figure(
        "xconnect.connected_and_in_sync_total_s",
        t0.elapsed().as_secs_f64(),
        "s",
    );
}

/// One relay and a device on it making changes to one document, each acknowledged.
struct Side {
    relay: Relay,
    peer: Peer,
    doc: DocumentId,
    cpu: f64,
    ack_ms: Vec<f64>,
}

impl Side {
    async fn new(relay: Relay, token: &str) -> Side {
        let peer = Peer::connect(&relay.ws_url(), token, PeerDocs::new("writer"))
            .await
            .unwrap();
        peer.wait(30, "handshake", |_, s| s.connected).await;
        let doc = DocumentId::random();
        let d = small_doc(0);
        let h = d.get_heads();
        peer.insert(doc, d);
        acked(&peer, doc, h).await;
        Side {
            relay,
            peer,
            doc,
            cpu: 0.0,
            ack_ms: Vec::new(),
        }
    }

    async fn block(&mut self, n: usize, from: usize) {
        let cpu0 = cpu_secs(self.relay.pid());
        for i in from..from + n {
            let t = Instant::now();
            self.peer.change(self.doc, |d| {
                let mut tx = d.transaction();
                tx.put(ROOT, "n", i as i64).unwrap();
                tx.put(ROOT, "note", format!("change {i}")).unwrap();
                tx.commit();
            });
            acked(&self.peer, self.doc, self.peer.heads(self.doc)).await;
            self.ack_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        self.cpu += cpu_secs(self.relay.pid()) - cpu0;
    }
}

async fn bench_pgchange(a: &Args) {
    let c = cluster();
    let pg_relay = c.relays[0].addr;
    let bin = relay_bin();
    let pg_token = tokens(pg_relay, c.code("pa"), "pa", 1, |args| c.cli(&bin, args)).await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Relay::start(&bin, dir.path(), &UNTHROTTLED);
    let sq_token = tokens(sqlite.addr, sqlite.code("pa"), "pa", 1, |args| {
        sqlite.cli(args)
    })
    .await;
    // The cluster's first relay is the PostgreSQL side; its siblings stay idle.
    let mut cluster = c;
    let pg = cluster.relays.remove(0);
    let mut pg_side = Side::new(pg, &pg_token[0].token).await;
    let mut sq_side = Side::new(sqlite, &sq_token[0].token).await;
    let rounds = a.rounds.max(1);
    let per = (a.changes / rounds).max(1);
    for r in 0..rounds {
        pg_side.block(per, r * per).await;
        sq_side.block(per, r * per).await;
    }
    for (name, s) in [("postgres", &mut pg_side), ("sqlite", &mut sq_side)] {
        s.ack_ms.sort_by(f64::total_cmp);
        figure(
            &format!("pgchange.{name}_ack_p50_ms"),
            quantile(&s.ack_ms, 0.5),
            "ms",
        );
        figure(
            &format!("pgchange.{name}_ack_p99_ms"),
            quantile(&s.ack_ms, 0.99),
            "ms",
        );
        figure(
            &format!("pgchange.{name}_relay_cpu_us_per_change"),
            s.cpu * 1e6 / s.ack_ms.len().max(1) as f64,
            "us",
        );
    }
    figure(
        "pgchange.postgres_over_sqlite_ack_p50",
        quantile(&pg_side.ack_ms, 0.5) / quantile(&sq_side.ack_ms, 0.5),
        "x",
    );
    drop(cluster);
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
        if want("pgchange") {
            bench_pgchange(&a).await;
        }
        if want("xfanout") {
            bench_xfanout(&a).await;
        }
        if want("xconnect") {
            bench_xconnect(&a).await;
        }
    });
}
