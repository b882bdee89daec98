//! A throw-away PostgreSQL cluster for tests: the storage tests', and other crates' with
//! the `test-cluster` feature (`setlink-tests` runs several relays on it).
//!
//! Uses Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`, installed by
//! `scripts/install-deps.sh`; `SETLINK_PG_BIN` overrides the directory). `initdb` into
//! a tempdir, then `postgres` on a free port on 127.0.0.1 (socket in the tempdir, fsync
//! on), trust authentication for the `postgres` user. As root (initdb refuses root),
//! every PostgreSQL program runs as the `postgres` system user via `runuser` and the
//! tempdir is chowned to it.
//!
//! [`TestCluster::shared`] gives the one cluster of the test process and
//! [`TestCluster::start`] one of your own (stopped on drop); `fresh_database` makes a
//! database for one test (`CREATE DATABASE`, a URL back), and `restart` restarts the server
//! under its clients (`pg_ctl restart`: their connections drop).
//!
//! A watchdog shell process stops the cluster and deletes its directory when the test
//! process exits (statics are never dropped), so no `postgres` outlives the tests.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub struct TestCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

static SHARED: OnceLock<TestCluster> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

fn io_err(what: impl Into<String>) -> std::io::Error {
    std::io::Error::other(what.into())
}

/// The directory holding initdb, pg_ctl and postgres.
fn find_bin() -> std::io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SETLINK_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            io_err(format!(
                "no PostgreSQL in /usr/lib/postgresql ({e}); run scripts/install-deps.sh"
            ))
        })?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        io_err("no initdb under /usr/lib/postgresql/*/bin; run scripts/install-deps.sh")
    })
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl TestCluster {
    /// Initialises and starts a new cluster; it is stopped and deleted on drop.
    pub fn start() -> std::io::Result<TestCluster> {
        let bin = find_bin()?;
        let dir = tempfile::Builder::new().prefix("setlink-pg-").tempdir()?;
        let as_postgres = is_root();
        if as_postgres {
            let st = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path())
                .status()?;
            if !st.success() {
                return Err(io_err("chown of the cluster's tempdir to postgres failed"));
            }
        }
        let cluster = TestCluster {
            dir,
            bin,
            port: free_port()?,
            as_postgres,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        cluster.pg_ctl(&["start"])?;
        cluster.watchdog();
        Ok(cluster)
    }

    /// One cluster for the whole test process, started on first use.
    pub fn shared() -> &'static TestCluster {
        SHARED.get_or_init(|| TestCluster::start().expect("start a test PostgreSQL cluster"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates an empty database with a name unique in this process and returns its URL.
    pub fn fresh_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        self.create_database(&name)
            .unwrap_or_else(|e| panic!("create database {name}: {e}"))
    }

    /// `CREATE DATABASE name`; returns its URL.
    pub fn create_database(&self, name: &str) -> std::io::Result<String> {
        self.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ],
        )?;
        Ok(self.url(name))
    }

    /// `pg_ctl restart`: every connection drops, the data stays.
    pub fn restart(&self) -> std::io::Result<()> {
        self.pg_ctl(&["restart", "-m", "fast"])
    }

    /// Stops the server (it can be started again with [`TestCluster::start_again`]).
    pub fn stop(&self) -> std::io::Result<()> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        )
    }

    pub fn start_again(&self) -> std::io::Result<()> {
        self.pg_ctl(&["start"])
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self, action: &[&str]) -> std::io::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            self.dir.path().display()
        );
        let data = self.data().to_string_lossy().into_owned();
        let log = self.dir.path().join("postgres.log");
        let log = log.to_string_lossy().into_owned();
        let mut args = vec!["-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options];
        args.extend_from_slice(action);
        self.run("pg_ctl", &args).map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            io_err(format!("{e}\n--- postgres.log ---\n{tail}"))
        })
    }

    /// Runs one of PostgreSQL's programs (as `postgres` when we are root).
    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<()> {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.arg("-u").arg("postgres").arg("--").arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io_err(format!(
                "{program} {args:?} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// Stops the cluster once this process is gone, however it ends.
    fn watchdog(&self) {
        let stop = shell_quote(&self.stop_command());
        let dir = shell_quote(&[self.dir.path().to_string_lossy().into_owned()]);
        let script = format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            std::process::id()
        );
        let _ = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    fn stop_command(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.as_postgres {
            v.extend(["runuser", "-u", "postgres", "--"].map(String::from));
        }
        v.push(self.bin.join("pg_ctl").to_string_lossy().into_owned());
        v.extend(["-D".to_string(), self.data().to_string_lossy().into_owned()]);
        v.extend(["-m", "immediate", "stop"].map(String::from));
        v
    }
}

fn shell_quote(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}
