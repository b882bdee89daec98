//! Several relays on one PostgreSQL behind a real load balancer, as a production company
//! would run them: a throw-away PostgreSQL cluster (Debian's `postgresql` binaries, the
//! storage tests' harness) on a loopback port, N relay processes started with
//! `--database postgres://…`, and Debian's `haproxy` in front of them, health-checking
//! each relay's `/healthz`.
//!
//! Everything is a real process, stopped when its handle is dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use setlink_server::storage::postgres::test_cluster::TestCluster;

use crate::Relay;

/// A free loopback port (bound, then released: the caller binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{what} did not listen on port {port} within 30 s:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The address haproxy connects to the relays from, the one they trust for PROXY protocol
/// headers (`--proxy-protocol-from`). Tests connecting to a relay directly come from
/// 127.0.0.1, so they are never mistaken for the balancer.
pub const BALANCER_SOURCE: &str = "127.0.0.2";

/// Debian's haproxy in front of the relays, configured with the README's own
/// configuration (its `haproxy` block): round robin, WebSockets tunnelled, each relay
/// health-checked on `/healthz` every 300 ms so a dead one leaves the rotation within a
/// second (a slow answer, up to 2 s, keeps a busy one in it),
/// and told the client's address with a PROXY protocol v2 header. Only the addresses
/// differ: it listens on a loopback port, without TLS, and reaches the relays from
/// [`BALANCER_SOURCE`].
pub struct Haproxy {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// The README's haproxy configuration, as a reader would copy it.
pub fn readme_haproxy_config() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("read README.md");
    let (_, rest) = readme
        .split_once("```haproxy\n")
        .expect("README.md has a ```haproxy block");
    let (block, _) = rest.split_once("```").expect("the haproxy block ends");
    block.to_owned()
}

impl Haproxy {
    pub fn start(backends: &[SocketAddr]) -> Haproxy {
        let dir = tempfile::tempdir().expect("haproxy temp dir");
        let port = free_port();
        let mut config = String::from("global\n    maxconn 4000\n\n");
        for line in readme_haproxy_config().lines() {
            let t = line.trim_start();
            if t.starts_with("bind ") {
                config.push_str(&format!("    bind 127.0.0.1:{port}\n"));
            } else if t.starts_with("server ") {
                // The README's relays are replaced by these, appended to the backend
                // section, which the README ends with.
            } else {
                config.push_str(line);
                config.push('\n');
                if t.starts_with("backend ") {
                    config.push_str(&format!("    source {BALANCER_SOURCE}\n"));
                }
            }
        }
        for (i, a) in backends.iter().enumerate() {
            config.push_str(&format!("    server relay{i} {a}\n"));
        }
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, config).expect("write haproxy.cfg");
        let log_path = dir.path().join("haproxy.log");
        let log = std::fs::File::create(&log_path).expect("haproxy log");
        let mut child = Command::new("haproxy")
            .arg("-f")
            .arg(&cfg)
            .arg("-db")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start haproxy (Debian package `haproxy`: run scripts/install-deps.sh)");
        wait_for_port(port, "haproxy", &mut child, &log_path);
        Haproxy {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
            child: Some(child),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/sync", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `n` relays on one PostgreSQL database (a throw-away server of their own, the storage
/// tests' [`TestCluster`]) behind haproxy. The first relay seeds the demo
/// production (`--demo`); the others join the same database as a deployment would.
pub struct Cluster {
    pub relays: Vec<Relay>,
    pub lb: Haproxy,
    pub database_url: String,
    /// Declared last: dropped after the relays and the load balancer.
    pub postgres: TestCluster,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    pub fn start(bin: &str, n: usize, extra: &[&str]) -> Cluster {
        let postgres = TestCluster::start().expect("start a PostgreSQL server");
        let database_url = postgres
            .create_database("setlink")
            .expect("create the relays' database");
        let mut dirs = Vec::new();
        let mut relays = Vec::new();
        for i in 0..n {
            let dir = tempfile::tempdir().expect("relay dir");
            let mut args = vec![
                "--database",
                database_url.as_str(),
                "--proxy-protocol-from",
                BALANCER_SOURCE,
            ];
            args.extend_from_slice(extra);
            let relay = if i == 0 {
                Relay::start(bin, dir.path(), &args)
            } else {
                args.extend_from_slice(&["--today", crate::relay::DEMO_DAY]);
                Relay::start_plain(bin, dir.path(), &args)
            };
            relays.push(relay);
            dirs.push(dir);
        }
        let lb = Haproxy::start(&relays.iter().map(|r| r.addr).collect::<Vec<_>>());
        Cluster {
            relays,
            lb,
            database_url,
            postgres,
            _dirs: dirs,
        }
    }

    /// The demo's invite code for `role` (printed by the relay that seeded it).
    pub fn code(&self, role: &str) -> &str {
        self.relays[0].code(role)
    }

    /// Runs a `setlink` admin subcommand against the cluster's database.
    pub fn cli(&self, bin: &str, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(bin)
            .args(args)
            .arg("--database")
            .arg(&self.database_url)
            .output()
            .expect("run setlink cli");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}
