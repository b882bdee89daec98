//! The relay as a child process.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The day test relays treat as today (`serve --today`), unless a test passes its own
/// `--today`: the demo's board and call sheet are for this day, and the dashboard opens
/// on it, whatever the date, the time zone or midnight.
pub const DEMO_DAY: &str = "2030-06-14";

/// The bearer token test relays require on `/metrics` (`SETLINK_METRICS_TOKEN`).
pub const METRICS_TOKEN: &str = "test-metrics-token";

pub struct Relay {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// `SETLINK_DEMO_CODE_<ROLE>` lines, keyed by lower-case role.
    pub demo_codes: HashMap<String, String>,
    /// The day the relay seeded the demo for (its `SETLINK_DEMO_DAY` line).
    pub day: String,
    /// Serving TLS (started with `--tls-cert`): its URLs are `https://` and `wss://`.
    pub tls: bool,
    bin: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    log_filter: String,
    /// Started with `--demo` (and so waits for the demo's codes at start).
    demo: bool,
}

impl Relay {
    /// Starts `bin serve --demo --today DEMO_DAY` on 127.0.0.1:0 in `data_dir`, plus
    /// `extra` flags (which may name another `--today`).
    pub fn start(bin: &str, data_dir: &Path, extra: &[&str]) -> Relay {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
        Self::start_logging(bin, data_dir, extra, &filter)
    }

    /// Like [`Relay::start`], logging with this `RUST_LOG` filter (see [`Relay::log`]).
    pub fn start_logging(bin: &str, data_dir: &Path, extra: &[&str], filter: &str) -> Relay {
        let mut args: Vec<String> = Vec::new();
        if !extra
            .iter()
            .any(|a| *a == "--today" || a.starts_with("--today="))
        {
            args.extend(["--today".to_owned(), DEMO_DAY.to_owned()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(
            PathBuf::from(bin),
            data_dir.to_owned(),
            args,
            "127.0.0.1:0".into(),
            filter.to_owned(),
            true,
        )
    }

    /// Starts `bin serve` with exactly `args` (no `--demo`, no `--today`): a relay joining
    /// a database another relay already seeded.
    pub fn start_plain(bin: &str, data_dir: &Path, args: &[&str]) -> Relay {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
        Self::spawn(
            PathBuf::from(bin),
            data_dir.to_owned(),
            args.iter().map(|s| s.to_string()).collect(),
            "127.0.0.1:0".into(),
            filter,
            false,
        )
    }

    fn spawn(
        bin: PathBuf,
        data_dir: PathBuf,
        args: Vec<String>,
        listen: String,
        log_filter: String,
        demo: bool,
    ) -> Relay {
        let log = data_dir.join(format!("relay-{}.log", std::process::id()));
        std::fs::create_dir_all(&data_dir).expect("create data dir");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open relay log");
        let mut child = Command::new(&bin)
            .arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(demo.then_some("--demo"))
            .args(&args)
            .env("SETLINK_METRICS_TOKEN", METRICS_TOKEN)
            .env("RUST_LOG", &log_filter)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start relay {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("relay stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Keep draining so the relay never blocks on a full pipe.
                    continue;
                }
            }
        });
        let mut addr = None;
        let mut day = None;
        let mut codes = HashMap::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    panic!("relay exited early with {status}:\n{log}");
                }
                continue;
            };
            if let Some(a) = line.strip_prefix("SETLINK_LISTENING=") {
                addr = Some(
                    a.parse::<SocketAddr>()
                        .expect("relay printed a bad address"),
                );
            }
            if let Some(d) = line.strip_prefix("SETLINK_DEMO_DAY=") {
                day = Some(d.to_owned());
            }
            if let Some(rest) = line.strip_prefix("SETLINK_DEMO_CODE_") {
                if let Some((role, code)) = rest.split_once('=') {
                    codes.insert(role.to_lowercase(), code.to_owned());
                }
            }
            if addr.is_some() && (!demo || (day.is_some() && codes.len() == 4)) {
                break;
            }
        }
        let addr = addr.expect("relay did not report its address within 60 s");
        let day = match day {
            Some(d) => d,
            None if !demo => String::new(),
            None => panic!("relay did not report its demo day within 60 s"),
        };
        let tls = args
            .iter()
            .any(|a| a == "--tls-cert" || a.starts_with("--tls-cert="));
        Relay {
            child: Some(child),
            addr,
            data_dir,
            demo_codes: codes,
            day,
            tls,
            bin,
            args,
            log,
            log_filter,
            demo,
        }
    }

    pub fn code(&self, role: &str) -> &str {
        self.demo_codes
            .get(role)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no demo code for {role}"))
    }

    /// `ws://` or, serving TLS, `wss://` to its `/sync`.
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/sync", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The relay process's peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for a clean exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        // SAFETY: plain syscall on the pid of a child we own and have not reaped yet.
        unsafe {
            libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            if std::time::Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the relay again on the same data dir and the same port.
    pub fn restart(&mut self) {
        self.kill();
        let mut last = None;
        // The old socket may linger briefly; retry the same port.
        for _ in 0..50 {
            let r = std::panic::catch_unwind(|| {
                Relay::spawn(
                    self.bin.clone(),
                    self.data_dir.clone(),
                    self.args.clone(),
                    self.addr.to_string(),
                    self.log_filter.clone(),
                    self.demo,
                )
            });
            match r {
                Ok(new) => {
                    let mut new = new;
                    self.child = new.child.take();
                    self.demo_codes = std::mem::take(&mut new.demo_codes);
                    self.day = std::mem::take(&mut new.day);
                    return;
                }
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        std::panic::resume_unwind(last.expect("restart failed"));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Creates another production (`setlink production create`); its coordinator's code.
    pub fn create_production(&self, title: &str, coordinator: &str) -> String {
        let (ok, out, err) = self.cli(&[
            "production",
            "create",
            "--title",
            title,
            "--coordinator-name",
            coordinator,
        ]);
        assert!(ok, "production create: {err}");
        out.lines()
            .find_map(|l| l.strip_prefix("coordinator code:"))
            .map(str::trim)
            .expect("a coordinator code")
            .to_owned()
    }

    /// Runs another `setlink` subcommand against the same data dir.
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(&self.bin)
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .output()
            .expect("run setlink cli");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let mut err = std::io::stderr();
            let _ = writeln!(
                err,
                "---- relay log ({}) ----\n{}",
                self.log.display(),
                self.log()
            );
        }
    }
}
