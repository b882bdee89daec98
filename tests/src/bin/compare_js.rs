//! Side-by-side benchmark: setlink's relay (`setlink serve`, SQLite) against the
//! reference JavaScript automerge-repo 2.5.x sync server (tests/bench-js/server.mjs:
//! NodeWSServerAdapter + NodeFSStorageAdapter), the same client workload against each,
//! alternating, on fresh servers with fresh data directories every run.
//!
//!   compare_js --setlink target/release/setlink --js-server tests/bench-js/server.mjs
//!              [--node node] [--rounds 3] [--devices 50] [--docs 200] [--changes 20]
//!              [--follow 2] [--timeout-secs 120]
//!
//! scripts/bench-compare-js.sh builds everything and runs this.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use setlink_tests::compare::{self, Plan, RunReport, Workload};
use setlink_tests::{http, Relay};

struct Args {
    setlink: PathBuf,
    js_server: PathBuf,
    node: String,
    rounds: usize,
    /// Run one server only (profiling).
    only: Option<Server>,
    /// Where both servers keep their data directories (profiling: a tmpfs takes fsync
    /// out of the picture).
    tmp: Option<PathBuf>,
    workload: Workload,
}

fn usage() -> String {
    "usage: compare_js --setlink PATH --js-server PATH [--node node] [--rounds N] [--only setlink|js] [--tmp DIR] \
     [--devices N] [--docs N] [--changes N] [--follow N] [--timeout-secs N]"
        .into()
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args();
    it.next(); // the program
    let mut setlink = None;
    let mut js_server = None;
    let mut node = "node".to_string();
    let mut rounds = 3usize;
    let mut only = None;
    let mut tmp = None;
    let mut w = Workload::default();
    let num = |flag: &str, v: Option<String>| -> Result<usize, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        v.parse()
            .map_err(|_| format!("{flag}: `{v}` is not a whole number"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--setlink" => setlink = it.next().map(PathBuf::from),
            "--js-server" => js_server = it.next().map(PathBuf::from),
            "--node" => node = it.next().ok_or("--node needs a value")?,
            "--rounds" => rounds = num(&a, it.next())?,
            "--tmp" => tmp = it.next().map(PathBuf::from),
            "--only" => {
                only = match it.next().as_deref() {
                    Some("setlink") => Some(Server::Setlink),
                    Some("js") => Some(Server::Js),
                    other => return Err(format!("--only setlink|js, not {other:?}")),
                }
            }
            "--devices" => w.devices = num(&a, it.next())?,
            "--docs" => w.docs = num(&a, it.next())?,
            "--changes" => w.changes = num(&a, it.next())?,
            "--follow" => w.follow = num(&a, it.next())?,
            "--timeout-secs" => w.timeout = Duration::from_secs(num(&a, it.next())? as u64),
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument `{other}`\n{}", usage())),
        }
    }
    let setlink = setlink.ok_or_else(|| format!("--setlink is required\n{}", usage()))?;
    let js_server = js_server.ok_or_else(|| format!("--js-server is required\n{}", usage()))?;
    for p in [&setlink, &js_server] {
        if !p.is_file() {
            return Err(format!("{} does not exist", p.display()));
        }
    }
    if rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    Ok(Args {
        setlink,
        js_server,
        node,
        rounds,
        only,
        tmp,
        workload: w,
    })
}

/// The Node server as a child process; SIGTERM on drop so it flushes and removes its
/// temporary data directory.
struct JsServer {
    child: Child,
    port: u16,
}

impl JsServer {
    fn start(node: &str, script: &Path, data: &Path) -> Result<JsServer, String> {
        let script = script
            .canonicalize()
            .map_err(|e| format!("{}: {e}", script.display()))?;
        // node resolves the server's packages from its own directory.
        let dir = script.parent().unwrap_or(Path::new("."));
        let mut child = Command::new(node)
            .arg(&script)
            .arg("--dir")
            .arg(data)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {node} {}: {e}", script.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("no stdout from the node server")?;
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        let read = reader.read_line(&mut line);
        let port = match read {
            Ok(n) if n > 0 => serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v["port"].as_u64())
                .and_then(|p| u16::try_from(p).ok()),
            _ => None,
        };
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "node server did not report its port (got `{line}`)"
            ));
        };
        // Keep draining so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        Ok(JsServer { child, port })
    }

    fn stop(&mut self) {
        // SAFETY: a plain syscall on the pid of a child we own and have not reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for JsServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// CPU seconds (user + system) a process has used so far, from /proc (Linux only).
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may itself hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (tck > 0).then(|| (utime + stime) / tck as f64)
}

/// A run's figures plus the CPU the server and this process (the devices) spent on it.
struct Measured {
    report: RunReport,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
}

/// Runs the workload, measuring CPU of `server_pid` and of the devices around it.
fn measure(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    plan: &Plan,
    urls: &[String],
    server_pid: u32,
) -> Result<Measured, String> {
    let pid = server_pid.to_string();
    let s0 = cpu_secs(&pid);
    let c0 = cpu_secs("self");
    let report = rt
        .block_on(compare::run(plan, &args.workload, urls))
        .map_err(|e| e.to_string())?;
    let delta = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
    Ok(Measured {
        report,
        server_cpu: delta(s0, cpu_secs(&pid)),
        client_cpu: delta(c0, cpu_secs("self")),
    })
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Server {
    Setlink,
    Js,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Setlink => "setlink",
            Server::Js => "js automerge-repo",
        }
    }
}

fn temp_dir(args: &Args) -> Result<tempfile::TempDir, String> {
    match &args.tmp {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .map_err(|e| format!("temp dir: {e}"))
}

fn run_setlink(rt: &tokio::runtime::Runtime, args: &Args, plan: &Plan) -> Result<Measured, String> {
    let dir = temp_dir(args)?;
    let bin = args.setlink.to_string_lossy().into_owned();
    // Every simulated device redeems the same code from one address.
    let mut relay = Relay::start(
        &bin,
        dir.path(),
        &[
            "--sign-in-per-ip-per-min",
            "1000000",
            "--sign-in-per-code-per-min",
            "1000000",
        ],
    );
    let code = relay.code("pa").to_owned();
    let addr = relay.addr;
    // Each device is its own member with its own token, as a real crew would be.
    let tokens: Vec<String> = rt.block_on(async {
        let mut out = Vec::with_capacity(plan.devices.len());
        for d in &plan.devices {
            out.push(http::redeem(addr, &code, &d.name, &d.name).await.token);
        }
        out
    });
    let url = relay.ws_url();
    let urls: Vec<String> = tokens.iter().map(|t| format!("{url}?token={t}")).collect();
    let r = measure(rt, args, plan, &urls, relay.pid());
    // For profiling: the relay's own counters after the run (COMPARE_JS_METRICS=1).
    if std::env::var_os("COMPARE_JS_METRICS").is_some() {
        let text = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), http::metrics(addr))
                .await
                .unwrap_or_default()
        });
        for l in text.lines().filter(|l| l.starts_with("setlink_")) {
            eprintln!("    {l}");
        }
    }
    relay.terminate();
    r
}

fn run_js(rt: &tokio::runtime::Runtime, args: &Args, plan: &Plan) -> Result<Measured, String> {
    let dir = temp_dir(args)?;
    let mut server = JsServer::start(&args.node, &args.js_server, dir.path())?;
    let url = format!("ws://127.0.0.1:{}", server.port);
    let urls = vec![url; plan.devices.len()];
    let r = measure(rt, args, plan, &urls, server.child.id());
    server.stop();
    r
}

fn main() {
    // Device tasks that fail are reported per run; one line each is enough.
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let w = &args.workload;
    println!(
        "workload: {} devices, {} documents + 1 shared board, {} changes per device \
         (1 in 4 on the board), each device follows the board, its own documents and \
         those of the next {} devices; {} rounds, alternating order",
        w.devices, w.docs, w.changes, w.follow, args.rounds
    );
    let mut times: [(Server, Vec<Duration>); 2] = [(Server::Setlink, vec![]), (Server::Js, vec![])];
    let mut failed = false;
    for round in 0..args.rounds {
        let plan = match Plan::new(w) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
        let order = if round % 2 == 0 {
            [Server::Setlink, Server::Js]
        } else {
            [Server::Js, Server::Setlink]
        };
        for s in order {
            if args.only.is_some_and(|o| o != s) {
                continue;
            }
            let r = match s {
                Server::Setlink => run_setlink(&rt, &args, &plan),
                Server::Js => run_js(&rt, &args, &plan),
            };
            match r {
                Ok(m) => {
                    let r = &m.report;
                    let cpu = |c: Option<f64>| c.map_or("?".to_string(), |c| format!("{:.2} s", c));
                    println!(
                        "round {} {:<18} converged {:>8.1} ms  (all connected {:>7.1} ms, all edits made {:>7.1} ms)  \
                         {} changes, {} sync msgs / {} KB received by devices; CPU: server {}, devices {}",
                        round + 1,
                        s.name(),
                        r.converged.as_secs_f64() * 1e3,
                        r.connected.as_secs_f64() * 1e3,
                        r.edited.as_secs_f64() * 1e3,
                        r.changes,
                        r.syncs_received,
                        r.bytes_received / 1024,
                        cpu(m.server_cpu),
                        cpu(m.client_cpu),
                    );
                    if let Some((_, v)) = times.iter_mut().find(|(k, _)| *k == s) {
                        v.push(m.report.converged);
                    }
                }
                Err(e) => {
                    println!("round {} {:<18} FAILED: {e}", round + 1, s.name());
                    failed = true;
                }
            }
        }
    }
    println!(
        "\ntime to converge (median, min–max over {} rounds):",
        args.rounds
    );
    let mut medians = Vec::new();
    for (s, v) in &times {
        match compare::summarize(v) {
            Some((med, lo, hi)) => {
                println!(
                    "  {:<18} {:>8.1} ms   ({:.1}–{:.1} ms)",
                    s.name(),
                    med * 1e3,
                    lo * 1e3,
                    hi * 1e3
                );
                medians.push(med);
            }
            None => println!("  {:<18} no successful run", s.name()),
        }
    }
    if let [setlink, js] = medians[..] {
        let ratio = js / setlink;
        println!(
            "  ratio (js / setlink medians): {ratio:.1}x  — bar ≥ 10x: {}",
            if ratio >= 10.0 { "met" } else { "NOT met" }
        );
    }
    if failed {
        std::process::exit(1);
    }
}
