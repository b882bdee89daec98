//! Several relays on one PostgreSQL behind a real load balancer, as a production company
//! would run them: a throw-away PostgreSQL cluster (Debian's `postgresql` binaries) on a
//! loopback port, N relay processes started with `--database postgres://…`, and Debian's
//! `haproxy` in front of them, health-checking each relay's `/healthz`.
//!
//! Everything is a real process, stopped when its handle is dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// The directory holding `initdb`, `postgres` and `pg_ctl`: Debian puts them under
/// `/usr/lib/postgresql/<major>/bin`, outside `PATH`.
fn postgres_bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("postgres").exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("no PostgreSQL server under /usr/lib/postgresql: run scripts/install-deps.sh")
    })
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A command that runs `program` as the `postgres` system user when we are root
/// (PostgreSQL refuses to run as root); `setpriv` execs it in place, so the child's pid is
/// the server's own and signals reach it.
fn as_postgres_user(program: &Path) -> Command {
    if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A throw-away PostgreSQL server on a loopback port, its data in a temporary directory.
pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    child: Option<Child>,
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = postgres_bin_dir();
        let dir = tempfile::tempdir().expect("postgres temp dir");
        if running_as_root() {
            let out = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .output()
                .expect("chown the postgres dir");
            assert!(out.status.success(), "chown: {out:?}");
        }
        let data = dir.path().join("data");
        let out = as_postgres_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "setlink", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = Postgres {
            port: free_port(),
            dir,
            bin,
            child: None,
        };
        pg.start_server();
        pg
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn start_server(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("postgres log");
        let mut child = as_postgres_user(&self.bin.join("postgres"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=300",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start postgres");
        wait_for_port(self.port, "postgres", &mut child, &self.log_path());
        // Accepting TCP is not yet accepting queries: wait until a query answers.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new(self.bin.join("psql"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "setlink",
                    "-d",
                    "postgres",
                    "-c",
                    "select 1",
                ])
                .arg("-p")
                .arg(self.port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "postgres never answered a query");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    /// A new, empty database and its URL.
    pub fn create_database(&self, name: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-U", "setlink", "-d", "postgres", "-c"])
            .arg(format!("CREATE DATABASE \"{name}\""))
            .arg("-p")
            .arg(self.port.to_string())
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "CREATE DATABASE: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://setlink@127.0.0.1:{}/{db}", self.port)
    }

    /// A fast shutdown (SIGINT: open transactions roll back, connections are cut), then
    /// waits for the server to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain syscall on the pid of a child we own and have not reaped.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGINT);
            }
            let _ = c.wait();
        }
    }

    /// Starts a stopped server again on the same port and data.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "postgres is already running");
        self.start_server();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGQUIT: immediate shutdown, nothing to keep.
            // SAFETY: as in `stop`.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGQUIT);
            }
            let _ = c.wait();
        }
    }
}

/// The address haproxy connects to the relays from, the one they trust for PROXY protocol
/// headers (`--proxy-protocol-from`). Tests connecting to a relay directly come from
/// 127.0.0.1, so they are never mistaken for the balancer.
pub const BALANCER_SOURCE: &str = "127.0.0.2";

/// Debian's haproxy in front of the relays, configured with the README's own
/// configuration (its `haproxy` block): round robin, WebSockets tunnelled, each relay
/// health-checked on `/healthz` every 300 ms so a dead one leaves the rotation at once,
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

/// `n` relays on one PostgreSQL database behind haproxy. The first relay seeds the demo
/// production (`--demo`); the others join the same database as a deployment would.
pub struct Cluster {
    pub relays: Vec<Relay>,
    pub lb: Haproxy,
    pub database_url: String,
    /// Declared last: dropped after the relays and the load balancer.
    pub postgres: Postgres,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    pub fn start(bin: &str, n: usize, extra: &[&str]) -> Cluster {
        let postgres = Postgres::start();
        let database_url = postgres.create_database("setlink");
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
