//! Device benchmarks (ENGINEERING.md bars):
//! (a) a run status change including its durable commit, against a bare durable SQLite
//!     insert of the same bytes into a file beside the device's (same directory and
//!     disk, same process; not the same file, which the device holds exclusively while
//!     it is open, as an app keeps it) (bar: at most 2x);
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
use setlink_core::model::callsheet::{
    self, Background, CallSheet, CallSpec, CastCall, CrewCall, DayNight, DepartmentNote, Hospital,
    IntExt, Meal, Scene, SheetLocation, TempUnit, Times, Weather,
};
use setlink_core::model::production::{self, MemberInfo, ProductionInfo, WalkieChannel};
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
        if i.is_multiple_of(3) {
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

/// A connection configured like the store's (WAL, synchronous=FULL), to a file beside
/// the device's.
fn bare_connection(device_path: &Path) -> Connection {
    let conn = Connection::open(device_path.with_file_name("bare.db")).expect("open");
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

/// `SETLINK_BENCH=status,amplification,open` picks groups (all by default); criterion's own
/// filter cannot skip the fixtures, which take longer than the measurements.
fn selected(group: &str) -> bool {
    std::env::var("SETLINK_BENCH").map_or(true, |v| v.split(',').any(|g| g.trim() == group))
}

fn status_change(c: &mut Criterion) {
    if !selected("status") {
        return;
    }
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

    let insert_bare = |bare: &mut Vec<Duration>| {
        let conn = bare_connection(&fx.path);
        let mut stmt = conn
            .prepare("INSERT INTO bench_bare (data) VALUES (?1)")
            .expect("prepare");
        for _ in 0..10 {
            let t = Instant::now();
            stmt.execute(params![fx.sample_change.as_slice()])
                .expect("insert");
            bare.push(t.elapsed());
        }
    };

    // The store's part alone, in blocks alternating with the bare insert: the same bytes
    // appended to a document of their own (empty, so the store never compacts a big
    // snapshot), to split the ratio into storage and domain work.
    let (mut store_bare, mut store_only) = (Vec::new(), Vec::new());
    {
        let mut store = Store::open(&fx.path).expect("store");
        let scratch = DocumentId::random();
        store
            .insert_document(&scratch, &DocKind::Shared, T0)
            .expect("scratch document");
        let empty = Automerge::new();
        for _ in 0..10 {
            for _ in 0..10 {
                let t = Instant::now();
                store
                    .append(&scratch, &fx.sample_change, &empty, None)
                    .expect("append");
                store_only.push(t.elapsed());
            }
            insert_bare(&mut store_bare);
        }
    }
    eprintln!(
        "status_change: the store's append alone (same bytes, no document work) median {:?} against the bare insert's {:?} in the same blocks",
        median(store_only),
        median(store_bare)
    );

    // The same comparison as medians of alternating blocks, so slow phases of a noisy
    // machine hit both sides alike; printed as the ratio the bar is about. The device
    // stays open across blocks, as an app keeps it open between taps.
    let mut bare = Vec::new();
    let mut device = Vec::new();
    let mut driver = open_driver(&fx);
    for block in 0..20 {
        let (b0, d0) = (bare.len(), device.len());
        insert_bare(&mut bare);
        for _ in 0..10 {
            let t = Instant::now();
            driver.step();
            device.push(t.elapsed());
        }
        if block % 5 == 4 {
            eprintln!(
                "status_change block {block}: bare median {:?}, status change median {:?}",
                median(bare[b0..].to_vec()),
                median(device[d0..].to_vec())
            );
        }
    }
    // The first taps after the device opens the board: a freshly loaded document's first
    // inserts cost more (Automerge splits the large column slabs a load leaves).
    drop(driver);
    let mut first = Vec::new();
    for _ in 0..5 {
        let mut fresh = open_driver(&fx);
        for _ in 0..4 {
            let t = Instant::now();
            fresh.step();
            first.push(t.elapsed());
        }
    }
    eprintln!(
        "status_change: the first taps after opening the device median {:?}",
        median(first)
    );
    // The part that is not the commit: the domain operation and extracting its bytes,
    // on an in-memory copy of the board.
    let mut driver = open_driver(&fx);
    let mut doc = driver.device.read(&fx.board, |d| d.fork()).expect("read");
    let mut cpu = Vec::new();
    for i in 0..200 {
        let (run_id, step) = &mut driver.runs[i % fx.runs.len()];
        let event = cycle_event(*step);
        *step += 1;
        let t = Instant::now();
        let before = doc.get_heads();
        run::record_status(&mut doc, &office(), T0, run_id, event, EventContext::none())
            .expect("status");
        black_box(doc.save_after(&before));
        cpu.push(t.elapsed());
    }
    eprintln!(
        "status_change: the domain operation alone (no store) median {:?}",
        median(cpu)
    );
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
    if !selected("amplification") {
        return;
    }
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
    drop(driver);

    // The floor SQLite itself sets: the same number of bare durable inserts of one change's
    // bytes (each commit writes at least one 4 KiB WAL frame, later checkpointed).
    let conn = bare_connection(&fx.path);
    let mut stmt = conn
        .prepare("INSERT INTO bench_bare (data) VALUES (?1)")
        .expect("prepare");
    let before = process_write_bytes();
    for _ in 0..N {
        stmt.execute(params![fx.sample_change.as_slice()])
            .expect("insert");
    }
    if let Some(p) = process_write_bytes().zip(before).map(|(a, b)| a - b) {
        println!(
            "write_amplification: bare durable insert of {} bytes: SQLite wrote {:.0} bytes per insert = {:.1}x",
            fx.sample_change.len(),
            p as f64 / N as f64,
            p as f64 / N as f64 / fx.sample_change.len() as f64
        );
    }
}

struct ProductionFixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    documents: usize,
    runs: usize,
    call_sheets: usize,
}

fn coordinator() -> Author {
    Author {
        member_id: "coord-1".into(),
        device_id: "coord-laptop".into(),
        role: Role::Coordinator,
    }
}

/// `YYYY-MM-DD` of the `n`th shoot day from 2026-09-01 (Sep, Oct, Nov, Dec are enough).
fn shoot_day(n: usize) -> String {
    let mut day = n + 1;
    for (month, len) in [(9, 30), (10, 31), (11, 30), (12, 31)] {
        if day <= len {
            return format!("2026-{month:02}-{day:02}");
        }
        day -= len;
    }
    panic!("shoot day {n} is past December")
}

/// A full call sheet: 8 scenes, 10 cast, 30 crew calls and every other section.
fn sheet(day: &str, n: usize, total: usize) -> CallSheet {
    let mut s = CallSheet::for_day(day, "Night Shift");
    s.header.day_number = Some(n as i64 + 1);
    s.header.total_days = Some(total as i64);
    s.header.call_sheet_number = Some(n as i64 + 1);
    s.header.director = Some("R. Lee".into());
    s.header.producers = vec!["M. Chen".into(), "D. Okafor".into()];
    s.header.upm = Some("Ana Ruiz".into());
    s.header.ads = vec!["1st AD: Jo".into(), "2nd AD: Sam".into()];
    s.header.production_office_phone = Some("+1 818 555 0100".into());
    s.times = Times {
        general_call: Some(7 * 60),
        shooting_call: Some(8 * 60),
        meals: vec![Meal {
            label: "Lunch".into(),
            at: 13 * 60,
        }],
        estimated_wrap: Some(19 * 60),
    };
    s.weather = Weather {
        high: Some(72),
        low: Some(55),
        unit: TempUnit::Fahrenheit,
        conditions: Some("Sunny".into()),
        rain_chance_percent: Some(10),
        sunrise: Some(6 * 60 + 35),
        sunset: Some(16 * 60 + 45),
        weather_cover_set: Some("INT. DINER".into()),
    };
    s.locations = vec![SheetLocation {
        id: "l1".into(),
        name: "Stage 4".into(),
        address: "3400 W Olive Ave, Burbank".into(),
        parking: Some("Lot B".into()),
        basecamp: Some("Lot B".into()),
        notes: Some("Enter via gate 3".into()),
    }];
    s.nearest_hospital = Some(Hospital {
        name: "Providence St. Joseph".into(),
        address: "501 S Buena Vista St".into(),
        phone: "+1 818 555 0199".into(),
    });
    s.scenes = (0..8usize)
        .map(|i| Scene {
            id: format!("s{i}"),
            number: format!("{}", 40 + i),
            int_ext: if i.is_multiple_of(2) {
                IntExt::Int
            } else {
                IntExt::Ext
            },
            set: "Diner".into(),
            day_night: DayNight::Night,
            description: format!("Scene {i}: Mia waits for the call that never comes"),
            cast_numbers: vec!["1".into(), "3".into()],
            pages_eighths: 10 + i as i64,
            location: Some("Stage 4".into()),
        })
        .collect();
    s.cast = (0..10)
        .map(|i| CastCall {
            id: format!("c{i}"),
            number: format!("{}", i + 1),
            character: format!("Character {i}"),
            actor: format!("Actor {i}"),
            status: Some("W".into()),
            pickup: Some(6 * 60),
            hair_makeup: Some(6 * 60 + 30),
            on_set: Some(8 * 60),
            notes: None,
        })
        .collect();
    s.background = vec![Background {
        id: "b1".into(),
        count: 12,
        description: "Diner patrons".into(),
        report_time: Some(7 * 60),
        report_place: Some("Holding".into()),
        notes: None,
    }];
    s.crew_calls = (0..30usize)
        .map(|i| CrewCall {
            id: format!("cc{i}"),
            department: ["Camera", "Grip", "Electric", "Props", "Art"][i % 5].into(),
            position: Some(format!("Position {i}")),
            name: Some(format!("Crew member {i}")),
            member_id: None,
            call: if i.is_multiple_of(3) {
                CallSpec::At(6 * 60 + 30)
            } else {
                CallSpec::Offset(-15 * (i as i64 % 4))
            },
        })
        .collect();
    s.department_notes = vec![DepartmentNote {
        department: "Props".into(),
        note: "Coffee cups x 20".into(),
    }];
    s.walkie_channels = vec![WalkieChannel {
        channel: 1,
        name: "Production".into(),
    }];
    s.safety_notes = vec!["Wet floors on stage 4".into()];
    s
}

/// One shoot day: its board (with its share of the runs), call sheet draft and published
/// sheet. Returns each document with the number of runs in it.
fn build_day(
    coord: &Author,
    day: usize,
    days: usize,
    total_runs: usize,
) -> Vec<(DocKind, Automerge, usize)> {
    let date = shoot_day(day);
    let mut at = T0 + day as i64 * 86_400_000;
    let n = total_runs / days + usize::from(day < total_runs % days);
    let (board, _) = board_doc(n, &mut at);
    let mut draft = Automerge::new();
    callsheet::init_draft(&mut draft, coord, at, &date, sheet(&date, day, days)).expect("draft");
    for edit in 0..4 {
        at += 60_000;
        callsheet::set_general_call(&mut draft, coord, at, 7 * 60 + 15 * edit).expect("edit draft");
    }
    let mut published = Automerge::new();
    callsheet::init_published(&mut published, coord, at, &date).expect("published");
    callsheet::publish(&draft, &mut published, coord, at, "").expect("publish 1");
    at += 60_000;
    callsheet::set_general_call(&mut draft, coord, at, 8 * 60).expect("edit draft");
    callsheet::publish(
        &draft,
        &mut published,
        coord,
        at,
        "General call moves to 8:00",
    )
    .expect("publish 2");
    vec![
        (DocKind::Board { day: date.clone() }, board, n),
        (DocKind::CallSheetDraft { day: date.clone() }, draft, 0),
        (DocKind::CallSheetPublished { day: date }, published, 0),
    ]
}

/// A production as a coordinator's device holds it after 90 shoot days: the production
/// document (members, index), 90 boards with 5,000 runs between them, and 90 call sheets
/// (draft with a few edits, published document with two revisions).
fn production_fixture() -> ProductionFixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("production.db");
    let mut store = Store::open(&path).expect("store");
    let started = Instant::now();
    let coord = coordinator();
    let at = T0 + 100 * 86_400_000;
    let days = 90;
    let total_runs = 5000;
    let production_id = DocumentId::random();
    let mut production = Automerge::new();
    let info = ProductionInfo {
        title: "Night Shift".into(),
        company: "Lantern Pictures".into(),
        timezone: "America/Los_Angeles".into(),
        shoot_days: (0..days).map(shoot_day).collect(),
        departments: vec!["Camera".into(), "Grip".into(), "Props".into()],
        ..Default::default()
    };
    production::init_production(
        &mut production,
        &coord,
        at,
        &production_id,
        info,
        MemberInfo::new("Casey Coordinator", Role::Coordinator),
    )
    .expect("production");
    for m in 0..60 {
        let role = [Role::Office, Role::Pa, Role::Crew][m % 3];
        production::add_member(
            &mut production,
            &coord,
            at,
            &format!("member-{m}"),
            MemberInfo::new(format!("Member {m}"), role),
        )
        .expect("member");
    }
    // Days are independent documents: build them on every core.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let built: Vec<Vec<(DocKind, Automerge, usize)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let coord = coord.clone();
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for day in (t..days).step_by(threads) {
                        out.extend(build_day(&coord, day, days, total_runs));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("builder"))
            .collect()
    });
    let mut runs = 0;
    let mut documents = Vec::new();
    for (kind, doc, n) in built.into_iter().flatten() {
        runs += n;
        documents.push((kind, doc));
    }
    for (kind, doc) in &documents {
        let id = put_snapshot(&mut store, kind.clone(), doc);
        production::register_document(&mut production, &coord, at, &id, kind).expect("register");
    }
    store
        .insert_document(&production_id, &DocKind::Production, T0)
        .expect("insert production");
    store
        .compact(&production_id, &production)
        .expect("production");
    eprintln!(
        "production fixture: {} documents, {runs} runs, {days} call sheets, built in {:?}",
        documents.len() + 1,
        started.elapsed()
    );
    ProductionFixture {
        _dir: dir,
        path,
        documents: documents.len() + 1,
        runs,
        call_sheets: days,
    }
}

/// Where opening spends its time: bytes and single-threaded decode time per document kind.
fn open_breakdown(path: &Path) {
    let store = Store::open(path).expect("store");
    let mut per_kind: std::collections::BTreeMap<&str, (usize, usize, Duration)> =
        Default::default();
    let read_started = Instant::now();
    let mut all = Vec::new();
    for d in store.documents().expect("documents") {
        let bytes = store.document_bytes(&d.id).expect("bytes");
        all.push((d.kind, bytes));
    }
    let read = read_started.elapsed();
    for (kind, bytes) in &all {
        let name = match kind {
            DocKind::Production => "production",
            DocKind::Board { .. } => "board",
            DocKind::CallSheetDraft { .. } => "call_sheet_draft",
            DocKind::CallSheetPublished { .. } => "call_sheet_published",
            DocKind::Member { .. } => "member",
            DocKind::Gear => "gear",
            DocKind::Background { .. } => "background",
            DocKind::Timesheets { .. } => "timesheets",
            DocKind::ProductionReport { .. } => "production_report",
            DocKind::Shared => "shared",
        };
        let t = Instant::now();
        black_box(bytes.decode().expect("decode"));
        let e = per_kind.entry(name).or_default();
        e.0 += 1;
        e.1 += bytes.bytes.len();
        e.2 += t.elapsed();
    }
    eprintln!("open breakdown: reading all rows from SQLite {read:?}");
    // The store decodes with head verification on (every change re-hashed); this is what
    // that check costs.
    let t = Instant::now();
    for (_, bytes) in &all {
        black_box(
            Automerge::load_with_options(
                &bytes.bytes,
                automerge::LoadOptions::new()
                    .verification_mode(automerge::VerificationMode::DontCheck),
            )
            .expect("decode"),
        );
    }
    eprintln!(
        "open breakdown: decoding everything without head verification would take {:?} (single thread)",
        t.elapsed()
    );
    for (kind, (n, bytes, t)) in per_kind {
        eprintln!(
            "open breakdown: {n} {kind} documents, {} KiB stored, decode {t:?} in total ({:?} each)",
            bytes / 1024,
            t / n as u32
        );
    }
}

/// CPU time (user + system) this process has used, from /proc/self/stat, in clock ticks
/// of 10 ms (USER_HZ is 100 on Linux).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn open_production(c: &mut Criterion) {
    if !selected("open") {
        return;
    }
    let fx = production_fixture();
    open_breakdown(&fx.path);
    // CPU time of open + load everything, which contention on a shared machine inflates
    // far less than wall-clock time.
    let rounds = 5;
    let (cpu0, wall0) = (process_cpu(), Instant::now());
    for _ in 0..rounds {
        let mut device = Device::open(&fx.path).expect("open");
        device.load_all().expect("load");
        drop(black_box(device));
    }
    let wall = wall0.elapsed() / rounds;
    if let Some(cpu) = process_cpu().zip(cpu0).map(|(a, b)| (a - b) / rounds) {
        eprintln!(
            "open_production: open + load all {} documents: wall {wall:?}, CPU {cpu:?} (all threads) per open",
            fx.documents
        );
    }
    let mut group = c.benchmark_group("open_production");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    group.bench_function(
        format!(
            "open_and_load_{}_documents_{}_runs_{}_call_sheets",
            fx.documents, fx.runs, fx.call_sheets
        ),
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
    // What a phone needs on screen at start: the production document and today's and
    // tomorrow's boards and call sheets; older days load when opened.
    let today = shoot_day(45);
    let tomorrow = shoot_day(46);
    group.bench_function("open_for_today_and_tomorrow", |b| {
        b.iter_batched(
            || (),
            |()| {
                let mut device = Device::open(&fx.path).expect("open");
                let wanted: Vec<DocumentId> = device
                    .document_ids()
                    .into_iter()
                    .filter(|id| match device.kind_of(id) {
                        Some(DocKind::Production) => true,
                        Some(
                            DocKind::Board { day }
                            | DocKind::CallSheetDraft { day }
                            | DocKind::CallSheetPublished { day },
                        ) => *day == today || *day == tomorrow,
                        _ => false,
                    })
                    .collect();
                for id in &wanted {
                    device.load(id).expect("load");
                }
                black_box(device)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, status_change, write_amplification, open_production);
criterion_main!(benches);
