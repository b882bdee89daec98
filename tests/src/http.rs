//! A small HTTP/1.1 client over hyper for the relay's JSON API.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Sends a request and returns (status, body as JSON, or as a JSON string if not JSON).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let (status, bytes) = request_raw(
        addr,
        method,
        path,
        token,
        body.map(|b| b.to_string().into_bytes()),
    )
    .await;
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, v)
}

pub async fn request_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect relay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("build request");
    let resp = sender.send_request(req).await.expect("send request");
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes()
        .to_vec();
    (status, bytes)
}

/// Redeemed credentials.
#[derive(Clone, Debug)]
pub struct Creds {
    pub token: String,
    pub member_id: String,
    pub role: String,
    pub production_doc_id: String,
    pub member_doc_id: Option<String>,
}

pub async fn redeem(addr: SocketAddr, code: &str, name: &str, device: &str) -> Creds {
    let (status, v) = request(
        addr,
        "POST",
        "/api/redeem",
        None,
        Some(&serde_json::json!({"code": code, "name": name, "device_id": device})),
    )
    .await;
    creds(status, v)
}

/// [`redeem`] over HTTPS, trusting `ca_pem` (the relay serves TLS on `addr`'s IP).
pub async fn redeem_tls(
    addr: SocketAddr,
    ca_pem: &str,
    code: &str,
    name: &str,
    device: &str,
) -> Creds {
    let tls = setlink_core::client::connect::tls_config(Some(ca_pem)).expect("TLS config");
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect relay");
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(
            rustls::pki_types::ServerName::IpAddress(addr.ip().into()),
            tcp,
        )
        .await
        .expect("TLS handshake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let body = serde_json::json!({"code": code, "name": name, "device_id": device});
    let req = Request::post("/api/redeem")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("build request");
    let resp = sender.send_request(req).await.expect("send request");
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    creds(status, v)
}

fn creds(status: u16, v: Value) -> Creds {
    assert_eq!(status, 200, "redeem failed: {v}");
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    Creds {
        token: s("token"),
        member_id: s("member_id"),
        role: s("role"),
        production_doc_id: s("production_doc_id"),
        member_doc_id: v["member_doc_id"].as_str().map(str::to_owned),
    }
}

pub async fn metrics(addr: SocketAddr) -> String {
    let (status, body) = request_raw(
        addr,
        "GET",
        "/metrics",
        Some(crate::relay::METRICS_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200);
    String::from_utf8_lossy(&body).into_owned()
}

/// The value of one un-labelled or labelled sample in Prometheus text.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == name).then(|| v.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

/// A response with its headers, as [`request_from`] returns it.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body as sent (an attachment's bytes).
    pub bytes: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request from the local address `from` (any 127.x.y.z reaches a relay on
/// 127.0.0.1 on Linux, so tests can be several clients), with extra headers and a body.
pub async fn request_from(
    from: std::net::IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Raw {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(from, 0))
        .unwrap_or_else(|e| panic!("bind {from}: {e}"));
    let stream = socket.connect(addr).await.expect("connect relay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .expect("send request");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    Raw {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        bytes: bytes.to_vec(),
    }
}
