//! A relay behind a real haproxy that sends PROXY protocol v2 headers: the per-address
//! connection cap counts the phones behind the balancer, not the balancer; a connection
//! from the balancer's address without a header is refused; nobody else's header is read.

use std::net::{IpAddr, SocketAddr};

use setlink_tests::cluster::{Haproxy, BALANCER_SOURCE};
use setlink_tests::http::redeem;
use setlink_tests::Relay;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Error as WsError;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

async fn tcp_from(source: &str, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(source.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    s.connect(to).await.unwrap()
}

/// A WebSocket to `to`'s `/sync` opened from the loopback address `source`.
async fn sync_from(
    source: &str,
    to: SocketAddr,
    token: &str,
) -> Result<tokio_tungstenite::WebSocketStream<TcpStream>, WsError> {
    let tcp = tcp_from(source, to).await;
    let url = format!("ws://{to}/sync?token={token}");
    tokio_tungstenite::client_async(url, tcp)
        .await
        .map(|(ws, _)| ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_cap_counts_phones_behind_the_balancer() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(
        BIN,
        dir.path(),
        &[
            "--proxy-protocol-from",
            BALANCER_SOURCE,
            "--max-connections-per-ip",
            "2",
        ],
    );
    let lb = Haproxy::start(&[relay.addr]);
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat").await;

    // Two phones behind one office router (127.0.0.3) fill its share...
    let mut open = Vec::new();
    for i in 0..2 {
        let ws = sync_from("127.0.0.3", lb.addr, &pa.token).await;
        open.push(ws.unwrap_or_else(|e| panic!("phone {i} through the balancer: {e}")));
    }
    // ...a third from the same router is refused...
    let third = sync_from("127.0.0.3", lb.addr, &pa.token).await;
    assert!(
        third.is_err(),
        "a third connection from one address was let in"
    );
    // ...while a phone on another network (127.0.0.4) still gets in through the same
    // balancer: without the PROXY header all of them would be the balancer's one address.
    let other = sync_from("127.0.0.4", lb.addr, &pa.token).await;
    assert!(other.is_ok(), "another address was refused: {other:?}");
    drop(open);

    // The balancer's address must send a header: a plain request from it is closed unanswered.
    let mut raw = tcp_from(BALANCER_SOURCE, relay.addr).await;
    raw.write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer).await;
    assert!(
        answer.is_empty(),
        "answered without a PROXY header: {answer:?}"
    );
    assert!(relay.log().contains("PROXY protocol"), "{}", relay.log());

    // Anyone else's header is not read: it is just a bad HTTP request.
    let mut spoof = tcp_from("127.0.0.1", relay.addr).await;
    spoof
        .write_all(
            b"PROXY TCP4 203.0.113.9 127.0.0.1 5000 80\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = spoof.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
}
