//! Property: 3–5 replicas (forked documents) doing random operations and merging in random
//! orders end, after a full merge, with identical derived state, and every status event
//! anyone appended is present exactly once.

mod domain_support;

use std::collections::BTreeMap;

use automerge::Automerge;
use domain_support::*;
use proptest::prelude::*;
use setlink_core::access::Author;
use setlink_core::model::run::{self, NewRun, ReceiptInput, RunEdit, RunEvent, RunKind, StopInput};
use setlink_core::model::task::{self, NewTask, TaskCategory, TaskEvent};
use setlink_core::model::{DomainError, EventContext};

const RUNS: usize = 3;
const TASKS: usize = 2;

#[derive(Clone, Debug)]
enum Op {
    RunStatus {
        replica: usize,
        run: usize,
        event: u8,
        who: usize,
        dt: i64,
    },
    Assign {
        replica: usize,
        run: usize,
        pa: usize,
        who: usize,
        dt: i64,
    },
    TaskStatus {
        replica: usize,
        task: usize,
        event: u8,
        who: usize,
        dt: i64,
    },
    Receipt {
        replica: usize,
        run: usize,
        cents: i64,
    },
    Retitle {
        replica: usize,
        run: usize,
        n: u8,
    },
    AddStop {
        replica: usize,
        run: usize,
    },
    CreateRun {
        replica: usize,
    },
    Merge {
        from: usize,
        to: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let r = 0usize..5;
    prop_oneof![
        4 => (r.clone(), 0..RUNS, 0u8..8, 0usize..4, 0i64..60_000).prop_map(|(replica, run, event, who, dt)| Op::RunStatus { replica, run, event, who, dt }),
        2 => (r.clone(), 0..RUNS, 0usize..2, 0usize..2, 0i64..60_000).prop_map(|(replica, run, pa, who, dt)| Op::Assign { replica, run, pa, who, dt }),
        2 => (r.clone(), 0..TASKS, 0u8..6, 0usize..4, 0i64..60_000).prop_map(|(replica, task, event, who, dt)| Op::TaskStatus { replica, task, event, who, dt }),
        1 => (r.clone(), 0..RUNS, -100i64..10_000).prop_map(|(replica, run, cents)| Op::Receipt { replica, run, cents }),
        1 => (r.clone(), 0..RUNS, 0u8..4).prop_map(|(replica, run, n)| Op::Retitle { replica, run, n }),
        1 => (r.clone(), 0..RUNS).prop_map(|(replica, run)| Op::AddStop { replica, run }),
        1 => r.clone().prop_map(|replica| Op::CreateRun { replica }),
        3 => (r.clone(), r).prop_map(|(from, to)| Op::Merge { from, to }),
    ]
}

fn who(i: usize) -> Author {
    [coord(), office(), pa1(), pa2()][i % 4].clone()
}

fn run_event(e: u8) -> RunEvent {
    match e {
        0 => RunEvent::Accept,
        1 => RunEvent::EnRoute,
        2 => RunEvent::PickUp,
        3 => RunEvent::Deliver,
        4 => RunEvent::Fail {
            reason: "closed".into(),
        },
        5 => RunEvent::Cancel,
        6 => RunEvent::Reopen,
        _ => RunEvent::Reconcile,
    }
}

fn task_event(e: u8) -> TaskEvent {
    match e {
        0 => TaskEvent::Start,
        1 => TaskEvent::Block {
            reason: "waiting".into(),
        },
        2 => TaskEvent::Done,
        3 => TaskEvent::SignOff,
        4 => TaskEvent::Cancel,
        _ => TaskEvent::Reopen,
    }
}

/// Runs an op; a refusal must leave the document exactly as it was.
fn attempt<T>(
    doc: &mut Automerge,
    f: impl FnOnce(&mut Automerge) -> Result<T, DomainError>,
) -> Option<T> {
    let before = doc.get_heads();
    match f(doc) {
        Ok(v) => Some(v),
        Err(e) => {
            assert_eq!(doc.get_heads(), before, "refused op changed the doc: {e}");
            None
        }
    }
}

/// Everything the app derives from a board, in a comparable form.
fn derived_view(doc: &Automerge) -> String {
    let runs = run::list_runs(doc).unwrap();
    let tasks = task::list_tasks(doc).unwrap();
    format!("{runs:?}\n{tasks:?}")
}

/// [`derived_view`] on a new thread, whose log memo is empty.
fn derived_on_a_fresh_thread(doc: &Automerge) -> String {
    std::thread::scope(|s| s.spawn(|| derived_view(doc)).join().unwrap())
}

fn all_event_ids(doc: &Automerge) -> Vec<String> {
    let mut ids: Vec<String> = run::list_runs(doc)
        .unwrap()
        .items
        .into_iter()
        .flat_map(|r| r.events.into_iter().map(|e| e.id))
        .collect();
    ids.extend(
        task::list_tasks(doc)
            .unwrap()
            .items
            .into_iter()
            .flat_map(|t| t.events.into_iter().map(|e| e.id)),
    );
    ids.sort();
    ids
}

fn merge_into(replicas: &mut [Automerge], from: usize, to: usize) {
    if from == to {
        return;
    }
    let (src, dst) = if from < to {
        let (a, b) = replicas.split_at_mut(to);
        (&mut a[from], &mut b[0])
    } else {
        let (a, b) = replicas.split_at_mut(from);
        (&mut b[0], &mut a[to])
    };
    dst.merge(src).unwrap();
}

fn check(n: usize, ops: Vec<Op>, final_order: Vec<usize>) {
    let mut base = board();
    let mut run_ids = Vec::new();
    for i in 0..RUNS {
        let kind = [RunKind::Pickup, RunKind::DropOff, RunKind::FoodOrder][i % 3];
        run_ids.push(
            run::create_run(
                &mut base,
                &office(),
                T0,
                NewRun::new(kind, format!("run {i}"), "AD"),
            )
            .unwrap(),
        );
    }
    let mut task_ids = Vec::new();
    for i in 0..TASKS {
        task_ids.push(
            task::create_task(
                &mut base,
                &office(),
                T0,
                NewTask::new(format!("task {i}"), TaskCategory::Other),
            )
            .unwrap(),
        );
    }
    let mut expected: Vec<String> = all_event_ids(&base);
    let mut replicas: Vec<Automerge> = (0..n).map(|_| base.fork()).collect();

    for (clock, op) in (T0 + 1..).zip(ops) {
        match op {
            Op::RunStatus {
                replica,
                run,
                event,
                who: w,
                dt,
            } => {
                let doc = &mut replicas[replica % n];
                if let Some(id) = attempt(doc, |d| {
                    run::record_status(
                        d,
                        &who(w),
                        clock + dt,
                        &run_ids[run],
                        run_event(event),
                        EventContext::none(),
                    )
                }) {
                    expected.push(id);
                }
            }
            Op::Assign {
                replica,
                run,
                pa,
                who: w,
                dt,
            } => {
                let doc = &mut replicas[replica % n];
                let pa = ["pa1", "pa2"][pa];
                if let Some(id) = attempt(doc, |d| {
                    run::assign(
                        d,
                        &who(w),
                        clock + dt,
                        &run_ids[run],
                        pa,
                        EventContext::none(),
                    )
                }) {
                    expected.push(id);
                }
            }
            Op::TaskStatus {
                replica,
                task,
                event,
                who: w,
                dt,
            } => {
                let doc = &mut replicas[replica % n];
                if let Some(id) = attempt(doc, |d| {
                    task::record_task_status(
                        d,
                        &who(w),
                        clock + dt,
                        &task_ids[task],
                        task_event(event),
                        EventContext::none(),
                    )
                }) {
                    expected.push(id);
                }
            }
            Op::Receipt {
                replica,
                run,
                cents,
            } => {
                let doc = &mut replicas[replica % n];
                let r = ReceiptInput {
                    vendor: "Shop".into(),
                    total_cents: cents,
                    tax_cents: 0,
                    ..Default::default()
                };
                attempt(doc, |d| {
                    run::add_receipt(d, &pa1(), clock, &run_ids[run], r)
                });
            }
            Op::Retitle { replica, run, n: k } => {
                let doc = &mut replicas[replica % n];
                let edit = RunEdit {
                    title: Some(format!("title {k}")),
                    ..Default::default()
                };
                attempt(doc, |d| {
                    run::edit_run(d, &office(), clock, &run_ids[run], edit)
                });
            }
            Op::AddStop { replica, run } => {
                let doc = &mut replicas[replica % n];
                attempt(doc, |d| {
                    run::add_stop(
                        d,
                        &pa2(),
                        clock,
                        &run_ids[run],
                        StopInput {
                            label: format!("stop {clock}"),
                            ..Default::default()
                        },
                    )
                });
            }
            Op::CreateRun { replica } => {
                let doc = &mut replicas[replica % n];
                if let Some(id) = attempt(doc, |d| {
                    run::create_run(
                        d,
                        &pa1(),
                        clock,
                        NewRun::new(RunKind::Other, "extra", "set"),
                    )
                }) {
                    expected.extend(
                        run::read_run(doc, &id)
                            .unwrap()
                            .events
                            .into_iter()
                            .map(|e| e.id),
                    );
                }
            }
            Op::Merge { from, to } => {
                let (from, to) = (from % n, to % n);
                merge_into(&mut replicas, from, to);
            }
        }
        // Reads on this thread go through the log memo its writes filled, shared by
        // replicas that fork one document: they must derive what a fresh thread does.
        for (i, r) in replicas.iter().enumerate() {
            assert_eq!(
                derived_view(r),
                derived_on_a_fresh_thread(r),
                "replica {i}: a memoised read differs from a fresh derivation"
            );
        }
    }

    // Full merge in a random order: a chain through the replicas, then back out from its end.
    let order: Vec<usize> = final_order.into_iter().filter(|&i| i < n).collect();
    for w in order.windows(2) {
        merge_into(&mut replicas, w[0], w[1]);
    }
    let last = order[order.len() - 1];
    for &i in order.iter().rev() {
        merge_into(&mut replicas, last, i);
    }

    expected.sort();
    let reference = derived_view(&replicas[0]);
    for (i, r) in replicas.iter().enumerate() {
        assert_eq!(
            derived_view(r),
            reference,
            "replica {i} derived a different state"
        );
        assert_eq!(
            all_event_ids(r),
            expected,
            "replica {i}: events lost or duplicated"
        );
        // A reload from bytes derives the same (nothing depends on in-memory history).
        let reloaded = Automerge::load(&r.save()).unwrap();
        assert_eq!(derived_view(&reloaded), reference);
    }
    // Conflicts only ever point at events in the log.
    for r in run::list_runs(&replicas[0]).unwrap().items {
        for c in &r.conflicts {
            assert!(
                r.events.iter().any(|e| e.id == c.event_id)
                    && r.events.iter().any(|e| e.id == c.lost_to)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn replicas_converge_to_one_derived_state_keeping_every_event(
        n in 3usize..=5,
        ops in prop::collection::vec(op(), 1..60),
        order in Just((0..5usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        check(n, ops, order);
    }
}

/// The PRODUCT.md scenario: a PA offline marks two runs picked up and one delivered with a
/// receipt while the office reassigns a fourth; after syncing both see all of it.
#[test]
fn the_underground_pa_scenario() {
    let mut office_doc = board();
    let ids: Vec<String> = (0..4)
        .map(|i| {
            let id = run::create_run(
                &mut office_doc,
                &office(),
                T0,
                NewRun::new(RunKind::DropOff, format!("run {i}"), "AD"),
            )
            .unwrap();
            run::assign(
                &mut office_doc,
                &coord(),
                T0 + 1,
                &id,
                "pa1",
                EventContext::none(),
            )
            .unwrap();
            id
        })
        .collect();
    let mut phone = office_doc.fork();
    run::record_status(
        &mut phone,
        &pa1(),
        T0 + 10,
        &ids[0],
        RunEvent::PickUp,
        EventContext::none(),
    )
    .unwrap();
    run::record_status(
        &mut phone,
        &pa1(),
        T0 + 11,
        &ids[1],
        RunEvent::PickUp,
        EventContext::none(),
    )
    .unwrap();
    run::record_status(
        &mut phone,
        &pa1(),
        T0 + 12,
        &ids[2],
        RunEvent::Deliver,
        EventContext::none(),
    )
    .unwrap();
    run::add_receipt(
        &mut phone,
        &pa1(),
        T0 + 13,
        &ids[2],
        ReceiptInput {
            vendor: "Staples".into(),
            total_cents: 2_599,
            tax_cents: 199,
            ..Default::default()
        },
    )
    .unwrap();
    run::assign(
        &mut office_doc,
        &coord(),
        T0 + 14,
        &ids[3],
        "pa2",
        EventContext::none(),
    )
    .unwrap();
    sync_pair(&mut phone, &mut office_doc);
    let mut statuses = BTreeMap::new();
    for doc in [&phone, &office_doc] {
        let view: Vec<_> = ids
            .iter()
            .map(|id| run::read_run(doc, id).unwrap())
            .collect();
        statuses.insert(format!("{view:?}"), ());
        assert_eq!(view[0].status, run::RunStatus::PickedUp);
        assert_eq!(view[1].status, run::RunStatus::PickedUp);
        assert_eq!(view[2].status, run::RunStatus::Delivered);
        assert_eq!(view[2].record.receipts[0].total_cents, 2_599);
        assert_eq!(
            (view[3].status, view[3].assigned_pa.as_deref()),
            (run::RunStatus::Assigned, Some("pa2"))
        );
        assert!(view.iter().all(|r| r.conflicts.is_empty()));
    }
    assert_eq!(statuses.len(), 1, "both sides see the same");
}
