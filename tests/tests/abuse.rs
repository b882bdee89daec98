//! A misbehaving client cannot exhaust the relay: each attack against the real relay
//! binary is refused or cut off, the relay's memory stays under a stated bound, and the
//! other clients are still served.

use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{Automerge, ScalarValue, ROOT};
use setlink_core::DocumentId;
use setlink_tests::demo::{connected, synced};
use setlink_tests::http::{metric, metrics, redeem};
use setlink_tests::peer::refused_connection;
use setlink_tests::{within, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

/// What no single client may push the relay's peak memory past (BENCHMARKS.md).
const RELAY_MEMORY_BOUND_MIB: u64 = 256;

/// A client that subscribes and then never reads is dropped once more than the queue's
/// bytes wait for it (2 MiB here, 8 MiB by default), its queue released; a reader that
/// keeps up gets every change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_is_dropped_and_the_relay_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &["--max-queued-bytes", "2097152"]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c1").await;
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "p1").await;
    let office = redeem(relay.addr, relay.code("office"), "Olive", "o1").await;

    // A shared document (any automerge-repo client may create one) that grows by 1 MB of
    // incompressible bytes per change.
    let writer = connected(&relay, &coord.token, "writer").await;
    let doc_id = DocumentId::random();
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "title", "photos").unwrap();
    tx.commit();
    writer.insert(doc_id, doc);
    let first = writer.heads(doc_id);
    writer.wait_heads(doc_id, &first, 10).await;
    let stalled = connected(&relay, &pa.token, "stalled").await;
    synced(&stalled, doc_id).await;
    let healthy = connected(&relay, &office.token, "healthy").await;
    synced(&healthy, doc_id).await;
    stalled.stall();

    for i in 0..16 {
        let blob: Vec<u8> = (0..1_000_000).map(|_| rand::random::<u8>()).collect();
        writer.change(doc_id, |d| {
            let mut tx = d.transaction();
            tx.put(ROOT, format!("photo-{i}"), ScalarValue::Bytes(blob))
                .unwrap();
            tx.commit();
        });
        // At a phone's pace, so the writer itself stays under the rate limits.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = writer.heads(doc_id);
    healthy.wait_heads(doc_id, &last, 60).await;

    let dropped = async {
        loop {
            let m = metrics(relay.addr).await;
            if metric(&m, "setlink_refusals_total{reason=\"slow_consumer\"}") >= 1
                && metric(&m, "setlink_connections_open") == 2
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    within(30, "the stalled reader to be dropped", dropped).await;
    assert!(healthy.is_connected() && writer.is_connected());
    let peak_mib = relay.peak_rss_kib() / 1024;
    eprintln!("stalled reader: relay peak RSS {peak_mib} MiB");
    assert!(
        peak_mib < RELAY_MEMORY_BOUND_MIB,
        "relay peaked at {peak_mib} MiB"
    );
}

/// One member cannot hold more connections than the cap; a connection over it gets a
/// readable refusal, and freeing one makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_hold_more_connections_than_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &["--max-member-connections", "3"]);
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "p1").await;
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c1").await;
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(connected(&relay, &pa.token, &format!("pa-{i}")).await);
    }
    let url = format!("{}?token={}", relay.ws_url(), pa.token);
    let (error, code, _) = refused_connection(&url).await;
    assert_eq!(code, 1008);
    assert!(error.contains("too many connections"), "{error}");
    let m = metrics(relay.addr).await;
    assert!(
        metric(
            &m,
            "setlink_refusals_total{reason=\"too_many_connections\"}"
        ) >= 1
    );

    // Others are served, and a freed slot can be used again.
    let c = connected(&relay, &coord.token, "coord").await;
    assert!(c.is_connected());
    drop(held.pop());
    let again = async {
        loop {
            if metric(&metrics(relay.addr).await, "setlink_connections_open") == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    within(10, "the dropped connection to end", again).await;
    let p = connected(&relay, &pa.token, "pa-again").await;
    assert!(p.is_connected());
}

/// Opens a TCP connection to the relay from `local` (any 127.x address works on Linux's
/// loopback, so an attacker's address differs from the test's own requests).
async fn tcp_from(local: &str, relay: std::net::SocketAddr) -> tokio::net::TcpStream {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(format!("{local}:0").parse().unwrap()).unwrap();
    s.connect(relay).await.unwrap()
}

/// Whether the relay closed `sock` within `secs` (reads end, or the socket is reset).
async fn closed_by_relay(sock: &mut tokio::net::TcpStream, secs: u64) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let read_to_end = async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), read_to_end)
        .await
        .is_ok()
}

/// Slow loris and sockets that never speak: closed once the header timeout passes, while
/// `/healthz` and a syncing client are served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_and_silent_sockets_are_closed_and_others_served() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &["--header-timeout-secs", "2"]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c1").await;
    let mut silent = Vec::new();
    let mut loris = Vec::new();
    for _ in 0..100 {
        silent.push(tcp_from("127.0.0.2", relay.addr).await);
        let mut s = tcp_from("127.0.0.2", relay.addr).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n")
            .await
            .unwrap();
        loris.push(s);
    }
    // A header byte every half second keeps no one alive past the timeout.
    let drip = async {
        for _ in 0..4 {
            for s in &mut loris {
                let _ = s.write_all(b"X").await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let served = async {
        let (st, _) = setlink_tests::http::request(relay.addr, "GET", "/healthz", None, None).await;
        assert_eq!(st, 200);
        let c = connected(&relay, &coord.token, "still-served").await;
        assert!(c.is_connected());
    };
    tokio::join!(drip, served);
    for (what, socks) in [("silent", &mut silent), ("slow loris", &mut loris)] {
        for s in socks.iter_mut() {
            assert!(
                closed_by_relay(s, 10).await,
                "a {what} socket was kept open"
            );
        }
    }
    let peak_mib = relay.peak_rss_kib() / 1024;
    eprintln!("slow loris + silent sockets: relay peak RSS {peak_mib} MiB");
    assert!(peak_mib < RELAY_MEMORY_BOUND_MIB);
}

/// One address cannot hold more than its share of connections: the one over the cap is
/// closed at once, and other addresses are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_connections_than_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(
        BIN,
        dir.path(),
        &[
            "--max-connections-per-ip",
            "20",
            "--header-timeout-secs",
            "60",
        ],
    );
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(tcp_from("127.0.0.3", relay.addr).await);
    }
    let mut over = tcp_from("127.0.0.3", relay.addr).await;
    assert!(
        closed_by_relay(&mut over, 5).await,
        "the 21st connection was kept"
    );
    let (st, _) = setlink_tests::http::request(relay.addr, "GET", "/healthz", None, None).await;
    assert_eq!(st, 200, "another address is served");
    let m = metrics(relay.addr).await;
    assert!(
        metric(
            &m,
            "setlink_refusals_total{reason=\"too_many_connections\"}"
        ) >= 1
    );
    // The held ones are still open (they are within the cap and the header timeout).
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = tcp_from("127.0.0.3", relay.addr).await;
    assert!(
        !closed_by_relay(&mut again, 1).await,
        "a freed slot is usable again"
    );
}
