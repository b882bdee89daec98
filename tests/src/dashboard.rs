//! The dashboard as a browser sees it: an HTTP client that keeps the session cookie and
//! posts forms with the CSRF token and a same-origin `Origin`, and a driver for the
//! playwright scripts under `tests/browser` (one JSON line a step each way).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::within;

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    /// Content-Security-Policy and X-Frame-Options.
    pub framing: (Option<String>, Option<String>),
    pub body: String,
    /// The body as sent (an image).
    pub bytes: Vec<u8>,
}

pub fn form_encode(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
    headers: &[(&str, &str)],
) -> Resp {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(c) = cookie {
        req = req.header("cookie", format!("setlink_session={c}"));
    }
    if form.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = form.map(form_encode).unwrap_or_default();
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (location, set_cookie) = (h("location"), h("set-cookie"));
    let framing = (h("content-security-policy"), h("x-frame-options"));
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        location,
        set_cookie,
        framing,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        bytes: bytes.to_vec(),
    }
}

/// A dashboard session as a browser holds it.
pub struct Session {
    pub addr: SocketAddr,
    pub cookie: String,
    pub csrf: String,
}

pub async fn sign_in(addr: SocketAddr, code: &str) -> Result<Session, Resp> {
    let origin = format!("http://{addr}");
    let r = send(
        addr,
        "POST",
        "/dashboard/signin",
        None,
        Some(&[("code", code), ("name", "Tester")]),
        &[("origin", &origin)],
    )
    .await;
    if r.status != 303 {
        return Err(r);
    }
    let set = r.set_cookie.expect("a session cookie");
    assert!(
        set.contains("HttpOnly")
            && set.contains("SameSite=Strict")
            && set.contains("Path=/dashboard"),
        "cookie flags: {set}"
    );
    let cookie = set
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("setlink_session="))
        .expect("cookie value")
        .to_owned();
    let board = send(addr, "GET", "/dashboard/board", Some(&cookie), None, &[]).await;
    assert_eq!(board.status, 200, "{}", board.body);
    Ok(Session {
        addr,
        csrf: csrf_of(&board.body),
        cookie,
    })
}

pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("CSRF value")
        .to_owned()
}

impl Session {
    pub async fn get(&self, path: &str) -> Resp {
        send(self.addr, "GET", path, Some(&self.cookie), None, &[]).await
    }

    /// A same-origin form post with the session's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let mut all = vec![("_csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        let origin = format!("http://{}", self.addr);
        send(
            self.addr,
            "POST",
            path,
            Some(&self.cookie),
            Some(&all),
            &[("origin", &origin), ("sec-fetch-site", "same-origin")],
        )
        .await
    }
}

pub fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

pub struct Script {
    pub child: tokio::process::Child,
    pub stdin: tokio::process::ChildStdin,
    pub lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Script {
    pub async fn step(&mut self, want: &str) -> serde_json::Value {
        let line = within(
            60,
            &format!("browser step `{want}`"),
            self.lines.next_line(),
        )
        .await
        .expect("read the script's output")
        .unwrap_or_else(|| panic!("the browser script ended before `{want}`"));
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("bad line from the browser script ({e}): {line}"));
        assert_eq!(v["step"], want, "browser script: {v}");
        v
    }

    pub async fn cmd(&mut self, v: serde_json::Value) {
        self.stdin
            .write_all(format!("{v}\n").as_bytes())
            .await
            .expect("write to the browser script");
        self.stdin.flush().await.expect("flush");
    }
}

/// Where the browser tests put the README's screenshots: `docs/screenshots` when
/// `SETLINK_UPDATE_SCREENSHOTS` is set, else nowhere (a plain test run leaves the tree clean).
pub fn readme_screenshots() -> Option<PathBuf> {
    std::env::var_os("SETLINK_UPDATE_SCREENSHOTS")
        .map(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots"))
}

/// Installs chromium, poppler-utils and playwright-core if missing (tests/browser/setup.sh).
pub fn setup_browser() {
    let setup = std::process::Command::new("sh")
        .arg(browser_dir().join("setup.sh"))
        .status()
        .expect("run tests/browser/setup.sh");
    assert!(
        setup.success(),
        "tests/browser/setup.sh failed (chromium, poppler-utils, playwright-core)"
    );
}

impl Script {
    /// Starts `tests/browser/<name>` under node with `env`, its stdin and stdout piped.
    pub fn start(name: &str, env: &[(&str, &std::ffi::OsStr)]) -> Script {
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(browser_dir().join(name));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node");
        Script {
            stdin: child.stdin.take().expect("stdin"),
            lines: BufReader::new(child.stdout.take().expect("stdout")).lines(),
            child,
        }
    }
}
