//! Runs the real JavaScript automerge-repo 2.5.x peer (`tests/js/peer.mjs`, installed
//! from npm on first use) against a relay.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// `npm install` in tests/js once per process (idempotent, offline when cached).
pub fn npm_install() {
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

/// Output of one peer.mjs run: its JSON lines and whether it exited successfully.
pub struct JsRun {
    pub ok: bool,
    pub lines: Vec<Value>,
    pub stderr: String,
}

impl JsRun {
    pub fn step(&self, name: &str) -> &Value {
        self.lines
            .iter()
            .find(|l| l["step"] == name)
            .unwrap_or_else(|| panic!("no `{name}` step in {:?}\n{}", self.lines, self.stderr))
    }

    pub fn steps(&self, name: &str) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["step"] == name).collect()
    }
}

/// Spawns peer.mjs; await the handle for its result.
pub fn spawn_peer(url: &str, token: &str, args: &[&str]) -> tokio::task::JoinHandle<JsRun> {
    npm_install();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg("peer.mjs")
        .args(["--url", url, "--token", token, "--timeout", "15000"])
        .args(args)
        .current_dir(js_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    tokio::spawn(async move {
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("node finished within 60 s")
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        JsRun {
            ok: out.status.success(),
            lines: stdout
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
            stderr: format!(
                "stdout: {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    })
}

/// Runs peer.mjs to completion and requires success.
pub async fn run_peer(url: &str, token: &str, args: &[&str]) -> JsRun {
    let r = spawn_peer(url, token, args).await.expect("peer task");
    assert!(
        r.ok,
        "peer.mjs {args:?} failed: {:?}\n{}",
        r.lines, r.stderr
    );
    r
}
