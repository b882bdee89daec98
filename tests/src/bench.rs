//! What the benchmark binaries share: reading a process's CPU and memory from `/proc`,
//! printing figures, issuing many device tokens, seeding documents and waiting for acks.

use std::net::SocketAddr;

use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ROOT};
use setlink_core::DocumentId;

use crate::http::{redeem, Creds};
use crate::peer::same_heads;
use crate::{Peer, PeerDocs};

/// The relay binary built next to the running benchmark binary.
pub fn relay_bin() -> String {
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe.with_file_name("setlink-relay");
    assert!(
        bin.exists(),
        "{} not found: build it with `cargo build --release -p setlink-tests --bins`",
        bin.display()
    );
    bin.display().to_string()
}

/// Relay flags that let thousands of simulated devices redeem codes and sync from one
/// address in seconds.
pub const UNTHROTTLED: [&str; 12] = [
    "--max-connections-per-ip",
    "1000000",
    "--max-member-connections",
    "1000000",
    "--rate-per-sec",
    "1000000",
    "--rate-burst",
    "1000000",
    "--sign-in-per-ip-per-min",
    "1000000",
    "--sign-in-per-code-per-min",
    "1000000",
];

/// Resident memory of a process, bytes.
pub fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// CPU time (user + system) a process has used, seconds.
pub fn cpu_secs(pid: u32) -> f64 {
    let (user, system) = cpu_split(pid);
    user + system
}

/// CPU time a process has used in user space and in the kernel on its behalf, seconds.
/// On loopback the kernel's share includes delivering what the process sends into the
/// receiving sockets, work a network card and another machine would do in production.
pub fn cpu_split(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`; utime and stime are the 14th and 15th overall.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

/// One figure, `name value unit`, the line BENCHMARKS.md quotes.
pub fn figure(name: &str, value: f64, unit: &str) {
    println!("{name} {value:.2} {unit}");
}

/// The `q` quantile of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// `n` tokens for one member of `role` (one per simulated device): the demo code redeemed
/// once at `addr`, then a many-use invite bound to that member made with `cli` (the
/// `setlink` command against the relay's storage), redeemed `n` times.
pub async fn tokens(
    addr: SocketAddr,
    demo_code: &str,
    role: &str,
    n: usize,
    cli: impl Fn(&[&str]) -> (bool, String, String),
) -> Vec<Creds> {
    let first = redeem(addr, demo_code, "bench", "bench-first").await;
    let (_, me) = crate::http::request(addr, "GET", "/api/me", Some(&first.token), None).await;
    let production = me["production_id"]
        .as_str()
        .expect("production id")
        .to_owned();
    let uses = (n + 10).to_string();
    let (ok, out, err) = cli(&[
        "invite",
        "create",
        "--production",
        &production,
        "--role",
        role,
        "--member",
        &first.member_id,
        "--uses",
        &uses,
    ]);
    assert!(ok, "invite create failed: {err}");
    let code = out.trim().to_owned();
    let mut out = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let futs = chunk.iter().map(|i| {
            let code = code.clone();
            async move { redeem(addr, &code, "bench", &format!("bench-{i}")).await }
        });
        out.extend(futures_util::future::join_all(futs).await);
    }
    out
}

pub fn small_doc(i: usize) -> Automerge {
    let mut d = Automerge::new();
    let mut tx = d.transaction();
    tx.put(ROOT, "n", i as i64).unwrap();
    tx.put(ROOT, "title", format!("document {i}")).unwrap();
    tx.commit();
    d
}

/// Waits until the relay acknowledged `heads` of `doc` to `p`.
pub async fn acked(p: &Peer, doc: DocumentId, heads: Vec<ChangeHash>) {
    p.wait(60, "relay ack", move |d, _| {
        d.states
            .get(&doc)
            .and_then(|s| s.their_heads.clone())
            .is_some_and(|t| same_heads(&t, &heads))
    })
    .await;
}

/// Stores `n` small documents through any automerge-repo server at `url`, one seeding
/// device per token, each waiting until the server acknowledged its documents.
pub async fn seed_through(
    url: &str,
    tokens: &[String],
    n: usize,
) -> Vec<(DocumentId, Vec<ChangeHash>)> {
    let seeders = tokens.len().max(1);
    let mut tasks = Vec::new();
    for (s, tok) in tokens.iter().enumerate() {
        let url = url.to_owned();
        let tok = tok.clone();
        let range: Vec<usize> = (0..n).filter(|i| i % seeders == s).collect();
        tasks.push(tokio::spawn(async move {
            let p = Peer::connect(&url, &tok, PeerDocs::new("seeder"))
                .await
                .unwrap();
            p.wait(30, "handshake", |_, s| s.connected).await;
            let mut out = Vec::new();
            for i in range {
                let id = DocumentId::random();
                let d = small_doc(i);
                let h = d.get_heads();
                p.insert(id, d);
                out.push((id, h));
            }
            for (id, h) in &out {
                acked(&p, *id, h.clone()).await;
            }
            out
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}
