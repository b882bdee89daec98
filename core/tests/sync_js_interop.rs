//! The engine against the real JavaScript automerge-repo 2.5.x (tests/js/peer.mjs, from
//! npm): a JS repo creates, finds and edits documents through a relay built on our engine
//! (tests/common/mini_relay.rs), with a Rust device syncing the same documents through
//! the WebSocket client, and presence flowing both ways. Installs the npm packages
//! itself (`npm install --prefer-offline`, idempotent).

mod common {
    pub mod mini_relay;
}

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ReadDoc, ROOT};
use common::mini_relay::MiniRelay;
use serde_json::Value;
use setlink_core::client::{
    decode_presence, encode_presence, AllDocuments, ClientConfig, PresenceEvent, PresenceObserver,
    SyncClient,
};
use setlink_core::{Author, Device, DocKind, DocumentId, DomainError, Role};
use tempfile::TempDir;

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/js")
}

fn npm_install() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let out = std::process::Command::new("npm")
            .args(["install", "--prefer-offline", "--no-audit", "--no-fund"])
            .current_dir(js_dir())
            .output()
            .expect("npm must be installed (Node is part of the test environment)");
        assert!(
            out.status.success(),
            "npm install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Runs peer.mjs with `args`, returns its JSON lines; panics with its output on failure.
async fn node(url: &str, args: &[&str]) -> Vec<Value> {
    npm_install();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg("peer.mjs")
        .args(["--url", url, "--token", "js token", "--timeout", "15000"])
        .args(args)
        .current_dir(js_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("node finished within 60 s")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "peer.mjs {args:?} failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

fn step<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["step"] == name)
        .unwrap_or_else(|| panic!("no `{name}` step in {lines:?}"))
}

fn device(dir: &TempDir) -> Arc<Mutex<Device>> {
    let mut d = Device::open(dir.path().join("coord.db")).expect("open");
    d.set_identity(Author {
        member_id: "m-coord".into(),
        device_id: "d-coord".into(),
        role: Role::Coordinator,
    })
    .expect("identity");
    Arc::new(Mutex::new(d))
}

fn put(
    key: &'static str,
    value: &'static str,
) -> impl FnOnce(&mut Automerge, &Author, i64) -> Result<(), DomainError> {
    move |doc, _, _| {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, value)?;
        tx.commit();
        Ok(())
    }
}

/// Reads a string field whichever way it was written: JS automerge writes strings as
/// text objects, our Rust side as scalar strings.
fn get(doc: &Automerge, key: &str) -> Option<String> {
    match doc.get(ROOT, key).ok().flatten()? {
        (automerge::Value::Object(ObjType::Text), id) => doc.text(&id).ok(),
        (v, _) => v.into_string().ok(),
    }
}

async fn eventually(mut f: impl FnMut() -> bool, what: &str) {
    // 20 s: the machine running the suite is shared and often heavily loaded.
    for _ in 0..800 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_repo_creates_a_document_our_engine_stores_and_serves_back() {
    let relay = MiniRelay::start("127.0.0.1:0", Default::default()).await;
    let lines = node(
        &relay.url(),
        &["--create", r#"{"title":"Day 1","board":"runs"}"#],
    )
    .await;
    let created = step(&lines, "create");
    // peer.mjs fetched it back through a second, empty JS repo.
    assert_eq!(created["verified"], true);
    let id: DocumentId = created["documentId"]
        .as_str()
        .expect("id")
        .parse()
        .expect("doc id");
    let hub = relay.hub.lock().expect("hub");
    let doc = hub.docs.get(&id).expect("relay holds the JS document");
    assert_eq!(get(doc, "title").as_deref(), Some("Day 1"));
    assert!(
        hub.paths.iter().all(|p| p == "/sync?token=js%20token"),
        "{:?}",
        hub.paths
    );
    assert!(hub.errors.is_empty(), "{:?}", hub.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_repo_and_a_rust_device_edit_each_others_documents_and_share_presence() {
    let dir = TempDir::new().expect("tmp");
    let coord = device(&dir);
    let doc = {
        let mut d = coord.lock().expect("lock");
        let doc = d
            // A document of no setlink kind: what a JS app writes into it is its own
            // business (the write rules only bound its cost), which is what this test needs.
            .create_document(DocKind::Shared)
            .expect("create");
        d.apply(&doc, put("run-1", "requested")).expect("apply");
        doc
    };
    let relay = MiniRelay::start("127.0.0.1:0", Default::default()).await;
    let client = SyncClient::start(
        coord.clone(),
        ClientConfig::new(relay.url(), "rust"),
        Arc::new(AllDocuments),
    )
    .expect("start the sync client");
    assert!(
        client.wait_in_sync(Duration::from_secs(20)).await,
        "{:?}",
        client.status()
    );

    // JS finds the Rust device's document and edits it; the device gets the edit.
    let id = doc.to_string();
    let lines = node(&relay.url(), &["--find", &id, "--edit", "run-1=picked_up"]).await;
    assert_eq!(step(&lines, "find")["doc"]["run-1"], "requested");
    let read = |k: &'static str| {
        let coord = coord.clone();
        move || {
            coord
                .lock()
                .expect("lock")
                .read(&doc, |d| get(d, k))
                .expect("read")
        }
    };
    let run1 = read("run-1");
    eventually(
        || run1().as_deref() == Some("picked_up"),
        "the JS edit on the device",
    )
    .await;

    // A Rust edit made while a JS repo watches arrives there live.
    let url = relay.url();
    let id2 = id.clone();
    let watcher = tokio::spawn(async move {
        node(
            &url,
            &[
                "--find",
                &id2,
                "--wait-for",
                "run-2=assigned",
                "--listen",
                "1500",
            ],
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    coord
        .lock()
        .expect("lock")
        .apply(&doc, put("run-2", "assigned"))
        .expect("apply");
    // Presence from the device: JS decodes our CBOR map as an object.
    for _ in 0..10 {
        client.send_presence(
            doc,
            encode_presence(&[("eta", "10:45"), ("member", "m-coord")]),
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let lines = watcher.await.expect("watcher");
    assert_eq!(step(&lines, "wait-for")["doc"]["run-2"], "assigned");
    let eph = step(&lines, "ephemeral");
    assert_eq!(eph["message"]["eta"], "10:45");
    assert_eq!(eph["message"]["member"], "m-coord");

    // Presence from JS reaches the device.
    #[derive(Default)]
    struct Seen(Mutex<Vec<PresenceEvent>>);
    impl PresenceObserver for Seen {
        fn presence(&self, e: &PresenceEvent) {
            self.0.lock().expect("lock").push(e.clone());
        }
    }
    let seen = Arc::new(Seen::default());
    client.add_presence_observer(seen.clone());
    node(
        &relay.url(),
        &[
            "--find",
            &id,
            "--broadcast",
            r#"{"eta":"11:05","run":"r-7"}"#,
        ],
    )
    .await;
    eventually(
        || !seen.0.lock().expect("lock").is_empty(),
        "JS presence on the device",
    )
    .await;
    let p = seen.0.lock().expect("lock")[0].clone();
    let mut fields = decode_presence(&p.data).expect("a CBOR map");
    fields.sort();
    assert_eq!(
        fields,
        vec![("eta".into(), "11:05".into()), ("run".into(), "r-7".into())]
    );

    // A document nobody has: the JS repo hears doc-unavailable from our engine.
    let lines = node(&relay.url(), &["--find", &DocumentId::random().to_string()]).await;
    assert_eq!(step(&lines, "find")["state"], "unavailable");

    assert!(relay.hub.lock().expect("hub").errors.is_empty());
    client.stop().await;
}

/// The reference JS sync server (tests/js/server.mjs), killed when dropped.
struct JsServer {
    child: tokio::process::Child,
    url: String,
}

impl JsServer {
    async fn start() -> JsServer {
        use tokio::io::AsyncBufReadExt;
        npm_install();
        let mut child = tokio::process::Command::new("node")
            .arg("server.mjs")
            .current_dir(js_dir())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("server.mjs started within 30 s")
            .expect("read")
            .expect("a line");
        let v: Value = serde_json::from_str(&first).expect("JSON");
        let port = v["port"].as_u64().expect("port");
        JsServer {
            child,
            url: format!("ws://127.0.0.1:{port}/sync"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_devices_sync_through_the_reference_js_sync_server() {
    let server = JsServer::start().await;
    let dir = TempDir::new().expect("tmp");
    let coord = device(&dir);
    let pa = {
        let mut d = Device::open(dir.path().join("pa.db")).expect("open");
        d.set_identity(Author {
            member_id: "m-pa".into(),
            device_id: "d-pa".into(),
            role: Role::Pa,
        })
        .expect("identity");
        Arc::new(Mutex::new(d))
    };
    // Free-form content (see above): a document of no setlink kind.
    let board = DocKind::Shared;
    let doc = {
        let mut d = coord.lock().expect("lock");
        let doc = d.create_document(board.clone()).expect("create");
        d.apply(&doc, put("run-1", "requested")).expect("apply");
        doc
    };
    pa.lock()
        .expect("lock")
        .import_document(doc, board)
        .expect("import");
    let c1 = SyncClient::start(
        coord.clone(),
        ClientConfig::new(&server.url, "t"),
        Arc::new(AllDocuments),
    )
    .expect("start the sync client");
    assert!(
        c1.wait_in_sync(Duration::from_secs(20)).await,
        "coord: {:?}",
        c1.status()
    );
    let c2 = SyncClient::start(
        pa.clone(),
        ClientConfig::new(&server.url, "t"),
        Arc::new(AllDocuments),
    )
    .expect("start the sync client");
    let read = |dev: &Arc<Mutex<Device>>, k: &'static str| {
        dev.lock()
            .expect("lock")
            .read(&doc, |d| get(d, k))
            .expect("read")
    };
    eventually(
        || read(&pa, "run-1").as_deref() == Some("requested"),
        "the PA fetching from the JS server",
    )
    .await;
    pa.lock()
        .expect("lock")
        .apply(&doc, put("run-1", "delivered"))
        .expect("apply");
    eventually(
        || read(&coord, "run-1").as_deref() == Some("delivered"),
        "the coordinator getting the PA's edit live",
    )
    .await;
    assert!(
        c2.wait_in_sync(Duration::from_secs(20)).await,
        "pa: {:?}",
        c2.status()
    );
    c1.stop().await;
    c2.stop().await;
    drop(server.child);
}
