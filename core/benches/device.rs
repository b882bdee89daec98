//! Device benchmarks (ENGINEERING.md bars):
//! (a) a run status change including its durable commit, against a bare durable SQLite
//!     insert of the same bytes into the same file, same process (bar: at most 2x);
//! (b) opening a production of 5,000 runs and 90 call sheets (bar: 300 ms);
//! (c) bytes written to the store per status change (write amplification), printed.
//!
//! Run: `cargo bench -p setlink-core --bench device`

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use automerge::Automerge;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rusqlite::{params, Connection};
use setlink_core::model::run::{self, NewRun, RunEvent, RunKind, RunStatus, StopInput};
use setlink_core::model::EventContext;
use setlink_core::{Author, Device, DocKind, DocumentId, Role, Store};

const RUNS_PER_BOARD: usize = 60;
const T0: i64 = 1_795_507_200_000;

fn office() -> Author {
    Author {
        member_id: "office-1".into(),
        device_id: "office-laptop".into(),
        role: Role::Office,
    }
}

fn new_run(i: usize) -> NewRun {
    let mut r = NewRun::new(
        if i % 3 == 0 {
            RunKind::Pickup
        } else {
            RunKind::SupplyPurchase
        },
        format!("Run {i}: gaffer tape and batteries from the rental house"),
        "Camera department",
    );
    r.stops.push(StopInput {
        label: "Rental house".into(),
        address: Some(format!("{} Industrial Way, Burbank", 100 + i)),
        contact_name: Some("Front desk".into()),
        contact_phone: Some("+1 818 555 0100".into()),
        notes: None,
    });
    r
}

/// A day board with `runs` runs, each through a few status events, built in memory.
fn board_doc(runs: usize, at: &mut i64) -> (Automerge, Vec<String>) {
    let by = office();
    let mut doc = Automerge::new();
    run::init_board(&mut doc, &by, *at).expect("init board");
    let mut ids = Vec::with_capacity(runs);
    for i in 0..runs {
        *at += 1000;
        let id = run::create_run(&mut doc, &by, *at, new_run(i)).expect("create run");
        for event in [RunEvent::Accept, RunEvent::EnRoute, RunEvent::PickUp] {
            *at += 1000;
            run::record_status(&mut doc, &by, *at, &id, event, EventContext::none())
                .expect("status");
        }
        ids.push(id);
    }
    (doc, ids)
}

/// Writes an in-memory document into a store as one snapshot.
fn put_snapshot(store: &mut Store, kind: DocKind, doc: &Automerge) -> DocumentId {
    let id = DocumentId::random();
    store.insert_document(&id, &kind, T0).expect("insert");
    store.compact(&id, doc).expect("snapshot");
    id
}

/// The next status event that is valid for a run whose log is at `step`: accept, en route,
/// picked up, failed, then accept again, forever.
fn cycle_event(step: usize) -> RunEvent {
    match step % 4 {
        0 => RunEvent::Fail {
            reason: "store closed".into(),
        },
        1 => RunEvent::Accept,
        2 => RunEvent::EnRoute,
        _ => RunEvent::PickUp,
    }
}

struct StatusFixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    board: DocumentId,
    runs: Vec<String>,
    sample_change: Vec<u8>,
}

fn status_fixture() -> StatusFixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("device.db");
    let mut at = T0;
    let (doc, runs) = board_doc(RUNS_PER_BOARD, &mut at);
    let mut store = Store::open(&path).expect("store");
    let board = put_snapshot(
        &mut store,
        DocKind::Board {
            day: "2026-11-24".into(),
        },
        &doc,
    );
    drop(store);
    // One status change's bytes, as the bare insert's payload.
    let mut probe = doc.fork();
    let before = probe.get_heads();
    run::record_status(
        &mut probe,
        &office(),
        at + 1000,
        &runs[0],
        cycle_event(0),
        EventContext::none(),
    )
    .expect("probe");
    let sample_change = probe.save_after(&before);
    StatusFixture {
        _dir: dir,
        path,
        board,
        runs,
        sample_change,
    }
}

/// A connection configured like the store's (WAL, synchronous=FULL), to the same file.
fn bare_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open");
    let _: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous");
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS bench_bare (id INTEGER PRIMARY KEY, data BLOB NOT NULL)",
    )
    .expect("table");
    conn
}

/// Status changes cycled over the board's runs, each run moving through its own cycle.
struct Driver {
    device: Device,
    board: DocumentId,
    runs: Vec<(String, usize)>,
    n: usize,
}

impl Driver {
    fn step(&mut self) {
        let i = self.n % self.runs.len();
        let (run_id, step) = &mut self.runs[i];
        let event = cycle_event(*step);
        self.device
            .apply(&self.board, |doc, by, at| {
                run::record_status(doc, by, at, run_id, event, EventContext::none())
            })
            .expect("status change");
        *step += 1;
        self.n += 1;
    }
}

fn open_driver(fx: &StatusFixture) -> Driver {
    let mut device = Device::open(&fx.path).expect("device");
    device.set_identity(office()).expect("identity");
    // Where each run is in the cycle, from its derived status (earlier drivers moved them).
    let runs = fx
        .runs
        .iter()
        .map(|id| {
            let state = device
                .read(&fx.board, |doc| run::run_state(doc, id))
                .expect("read")
                .expect("run state");
            let step = match state.status {
                RunStatus::PickedUp => 0,
                RunStatus::Failed | RunStatus::Requested => 1,
                RunStatus::Accepted => 2,
                RunStatus::EnRoute => 3,
                other => panic!("run in unexpected status {other}"),
            };
            (id.clone(), step)
        })
        .collect();
    Driver {
        device,
        board: fx.board,
        runs,
        n: 0,
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn status_change(c: &mut Criterion) {
    let fx = status_fixture();
    let mut group = c.benchmark_group("status_change");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    {
        let conn = bare_connection(&fx.path);
        let mut stmt = conn
            .prepare("INSERT INTO bench_bare (data) VALUES (?1)")
            .expect("prepare");
        group.bench_function("bare_durable_sqlite_insert", |b| {
            b.iter(|| {
                stmt.execute(params![fx.sample_change.as_slice()])
                    .expect("insert")
            })
        });
    }
    {
        let mut driver = open_driver(&fx);
        group.bench_function("run_status_change_durable", |b| b.iter(|| driver.step()));
    }
    group.finish();

    // The same comparison as medians of alternating blocks, so slow phases of a noisy
    // machine hit both sides alike; printed as the ratio the bar is about.
    let mut bare = Vec::new();
    let mut device = Vec::new();
    for _ in 0..5 {
        {
            let conn = bare_connection(&fx.path);
            let mut stmt = conn
                .prepare("INSERT INTO bench_bare (data) VALUES (?1)")
                .expect("prepare");
            for _ in 0..40 {
                let t = Instant::now();
                stmt.execute(params![fx.sample_change.as_slice()])
                    .expect("insert");
                bare.push(t.elapsed());
            }
        }
        let mut driver = open_driver(&fx);
        for _ in 0..40 {
            let t = Instant::now();
            driver.step();
            device.push(t.elapsed());
        }
    }
    let (b, d) = (median(bare), median(device));
    println!(
        "status_change: bare durable insert median {b:?}, run status change + durable commit median {d:?}, ratio {:.2}x (bar 2x); payload {} bytes",
        d.as_secs_f64() / b.as_secs_f64(),
        fx.sample_change.len()
    );
}

/// Bytes this process handed to write(2) so far (`wchar` in /proc/self/io): what SQLite
/// really wrote, WAL frames and checkpoints included.
fn process_write_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
}

fn write_amplification(_c: &mut Criterion) {
    let fx = status_fixture();
    let mut driver = open_driver(&fx);
    const N: usize = 1000;
    let mut change_bytes = 0u64;
    let logical_before = driver.device.store().bytes_written();
    let physical_before = process_write_bytes();
    for _ in 0..N {
        driver.step();
        change_bytes += driver
            .device
            .read(&fx.board, |doc| {
                doc.get_last_local_change()
                    .map(|c| c.raw_bytes().len() as u64)
                    .unwrap_or(0)
            })
            .expect("read");
    }
    let logical = driver.device.store().bytes_written() - logical_before;
    let physical = process_write_bytes()
        .zip(physical_before)
        .map(|(a, b)| a - b);
    let stats = driver.device.storage_stats(&fx.board).expect("stats");
    println!(
        "write_amplification: {N} status changes, {:.0} change bytes each; store rows written {:.2}x the change bytes (appends + compaction snapshots); {}",
        change_bytes as f64 / N as f64,
        logical as f64 / change_bytes as f64,
        match physical {
            Some(p) => format!(
                "bytes SQLite wrote to disk (WAL + checkpoints) {:.0} per change = {:.1}x",
                p as f64 / N as f64,
                p as f64 / change_bytes as f64
            ),
            None => "process write counters unavailable".into(),
        }
    );
    println!("write_amplification: board layout after the run: {stats:?}");
}

struct ProductionFixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    documents: usize,
    runs: usize,
}

fn production_fixture() -> ProductionFixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("production.db");
    let mut store = Store::open(&path).expect("store");
    let started = Instant::now();
    let mut at = T0;
    let days = 90;
    let total_runs = 5000;
    let mut runs = 0;
    let mut documents = 0;
    for day in 0..days {
        let n = total_runs / days + usize::from(day < total_runs % days);
        let (doc, _) = board_doc(n, &mut at);
        put_snapshot(
            &mut store,
            DocKind::Board {
                day: format!("day-{day:02}"),
            },
            &doc,
        );
        runs += n;
        documents += 1;
    }
    eprintln!(
        "production fixture: {documents} documents, {runs} runs, built in {:?}",
        started.elapsed()
    );
    ProductionFixture {
        _dir: dir,
        path,
        documents,
        runs,
    }
}

fn open_production(c: &mut Criterion) {
    let fx = production_fixture();
    let mut group = c.benchmark_group("open_production");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    group.bench_function(
        format!("open_and_load_{}_documents_{}_runs", fx.documents, fx.runs),
        |b| {
            b.iter_batched(
                || (),
                |()| {
                    let mut device = Device::open(&fx.path).expect("open");
                    device.load_all().expect("load");
                    black_box(device)
                },
                BatchSize::PerIteration,
            )
        },
    );
    group.finish();
}

criterion_group!(benches, status_change, write_amplification, open_production);
criterion_main!(benches);
