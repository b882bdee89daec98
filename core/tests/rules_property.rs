//! Property: whatever valid domain operations several replicas make offline, merged into
//! the relay's copy in any order, the write rules accept every one of them. The rules may
//! refuse only what the operations themselves would have refused.

use automerge::{Automerge, PatchLog};
use proptest::prelude::*;
use setlink_core::access::{Author, DocKind, Role};
use setlink_core::model::run::{self, NewRun, RunEvent, RunKind};
use setlink_core::model::task::{self, NewTask, TaskCategory, TaskEvent};
use setlink_core::model::EventContext;
use setlink_core::rules::{self, RuleContext, Writer};

const T0: i64 = 1_900_000_000_000;

fn author(member: &str, role: Role) -> Author {
    Author {
        member_id: member.into(),
        device_id: format!("{member}-phone"),
        role,
    }
}

fn writers() -> [Author; 4] {
    [
        author("coord", Role::Coordinator),
        author("office", Role::Office),
        author("pa1", Role::Pa),
        author("pa2", Role::Pa),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Status(usize, u8),
    Assign(usize, usize),
    Comment(usize),
    Receipt(usize),
    Title(usize),
    NewRun(u8),
    TaskStatus(usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..6usize, 0..8u8).prop_map(|(r, e)| Op::Status(r, e)),
        2 => (0..6usize, 2..4usize).prop_map(|(r, p)| Op::Assign(r, p)),
        1 => (0..6usize).prop_map(Op::Comment),
        1 => (0..6usize).prop_map(Op::Receipt),
        1 => (0..6usize).prop_map(Op::Title),
        1 => (0..7u8).prop_map(Op::NewRun),
        2 => (0..2usize, 0..6u8).prop_map(|(t, e)| Op::TaskStatus(t, e)),
    ]
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

/// A board with four runs (two assigned to pa1) and two tasks, as the office makes it.
fn seeded() -> (Automerge, Vec<String>, Vec<String>) {
    let coord = author("coord", Role::Coordinator);
    let mut doc = Automerge::new();
    run::init_board(&mut doc, &coord, T0).unwrap();
    let mut runs = Vec::new();
    for (i, kind) in [
        RunKind::Pickup,
        RunKind::DropOff,
        RunKind::FoodOrder,
        RunKind::Other,
    ]
    .into_iter()
    .enumerate()
    {
        let id =
            run::create_run(&mut doc, &coord, T0 + 1, NewRun::new(kind, "Run", "Office")).unwrap();
        if i < 2 {
            run::assign(&mut doc, &coord, T0 + 2, &id, "pa1", EventContext::none()).unwrap();
        }
        runs.push(id);
    }
    let tasks = (0..2)
        .map(|_| {
            task::create_task(
                &mut doc,
                &coord,
                T0 + 3,
                NewTask::new("Phones", TaskCategory::Phones),
            )
            .unwrap()
        })
        .collect();
    (doc, runs, tasks)
}

fn apply(
    doc: &mut Automerge,
    by: &Author,
    at: i64,
    runs: &mut Vec<String>,
    tasks: &[String],
    op: &Op,
) {
    let pick = |v: &[String], i: usize| v[i % v.len()].clone();
    let ctx = EventContext::none;
    // Errors are the operations refusing; the property is about what they accept.
    let _ = match op {
        Op::Status(r, e) => {
            run::record_status(doc, by, at, &pick(runs, *r), run_event(*e), ctx()).map(drop)
        }
        Op::Assign(r, p) => {
            run::assign(doc, by, at, &pick(runs, *r), &format!("pa{}", p - 1), ctx()).map(drop)
        }
        Op::Comment(r) => run::add_comment(doc, by, at, &pick(runs, *r), "on my way").map(drop),
        Op::Receipt(r) => run::add_receipt(
            doc,
            by,
            at,
            &pick(runs, *r),
            run::ReceiptInput {
                vendor: "Store".into(),
                total_cents: 1234,
                tax_cents: 100,
                ..Default::default()
            },
        )
        .map(drop),
        Op::Title(r) => run::edit_run(
            doc,
            by,
            at,
            &pick(runs, *r),
            run::RunEdit {
                title: Some(format!("Run at {at}")),
                ..Default::default()
            },
        )
        .map(drop),
        Op::NewRun(k) => run::create_run(
            doc,
            by,
            at,
            NewRun::new(RunKind::ALL[*k as usize % 7], "New", "Set"),
        )
        .map(|id| runs.push(id)),
        Op::TaskStatus(t, e) => {
            task::record_task_status(doc, by, at, &pick(tasks, *t), task_event(*e), ctx()).map(drop)
        }
    };
}

/// Merges `from`'s changes into `relay` under the rules, as the relay would for `writer`.
fn merge_checked(
    relay: &mut Automerge,
    from: &Automerge,
    writer: &Author,
) -> Result<(), rules::Refusal> {
    let before = relay.get_heads();
    let changes = from.get_changes(&before);
    let mut log = PatchLog::active();
    relay
        .apply_changes_log_patches(changes.clone(), &mut log)
        .unwrap();
    let patches = relay.make_patches(&mut log);
    let w = Writer {
        member_id: writer.member_id.clone(),
        role: writer.role,
    };
    let none = |_: &str| false;
    let ctx = RuleContext {
        kind: &DocKind::Board {
            day: "2030-06-14".into(),
        },
        writer: Some(&w),
        foreign_document: &none,
    };
    let added = relay.get_changes(&before);
    rules::check(&ctx, relay, &before, &patches, &added)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn valid_offline_work_merged_in_any_order_passes_the_rules(
        work in proptest::collection::vec(proptest::collection::vec(op(), 0..8), 4),
        order in Just([0usize, 1, 2, 3]).prop_shuffle(),
    ) {
        let (base, runs, tasks) = seeded();
        let ws = writers();
        let replicas: Vec<Automerge> = work
            .iter()
            .enumerate()
            .map(|(i, ops)| {
                let mut doc = base.fork();
                let mut runs = runs.clone();
                for (n, op) in ops.iter().enumerate() {
                    apply(&mut doc, &ws[i], T0 + 1_000 * (n as i64 + 1) + i as i64, &mut runs, &tasks, op);
                }
                doc
            })
            .collect();
        let mut relay = base.fork();
        for &i in &order {
            let r = merge_checked(&mut relay, &replicas[i], &ws[i]);
            prop_assert!(r.is_ok(), "{}'s valid work was refused: {:?}", ws[i].member_id, r);
        }
        // And a device receiving the merged result from the relay accepts it too.
        let none = |_: &str| false;
        let kind = DocKind::Board { day: "2030-06-14".into() };
        let ctx = RuleContext { kind: &kind, writer: None, foreign_document: &none };
        let mut device = base.fork();
        let before = device.get_heads();
        let mut log = PatchLog::active();
        device.apply_changes_log_patches(relay.get_changes(&before), &mut log).unwrap();
        let patches = device.make_patches(&mut log);
        let added = device.get_changes(&before);
        prop_assert!(rules::check(&ctx, &device, &before, &patches, &added).is_ok());
    }
}
