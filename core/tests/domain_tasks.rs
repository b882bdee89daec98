//! Tasks: fields, checklist, the status rules and concurrent status changes.

mod domain_support;

use domain_support::*;
use setlink_core::access::Role;
use setlink_core::model::run::{self, NewRun, RunKind};
use setlink_core::model::task::{self, *};
use setlink_core::model::{DomainError, EventContext, Priority};

fn new_task(doc: &mut automerge::Automerge) -> String {
    let mut t = NewTask::new("Print sides for tomorrow", TaskCategory::Paperwork);
    t.checklist = vec!["Get script PDF".into(), "Print 60 copies".into()];
    t.due = Some(T0 + 7_200_000);
    t.priority = Priority::Urgent;
    t.notes = Some("double-sided".into());
    task::create_task(doc, &office(), T0, t).unwrap()
}

fn go(
    doc: &mut automerge::Automerge,
    by: &setlink_core::Author,
    id: &str,
    ev: TaskEvent,
) -> Result<String, DomainError> {
    task::record_task_status(doc, by, T0 + 100, id, ev, EventContext::none())
}

#[test]
fn a_task_holds_its_fields_and_starts_open() {
    let mut doc = board();
    let id = new_task(&mut doc);
    let t = task::read_task(&doc, &id).unwrap();
    assert_eq!(t.status, TaskStatus::Open);
    assert_eq!(t.record.title, "Print sides for tomorrow");
    assert_eq!(t.record.category, TaskCategory::Paperwork);
    assert_eq!(t.record.checklist.len(), 2);
    assert_eq!(t.record.due, Some(T0 + 7_200_000));
    assert_eq!(t.record.priority, Priority::Urgent);
    assert_eq!(t.record.notes.as_deref(), Some("double-sided"));
    assert_eq!((t.record.assignee, t.record.assigned_by), (None, None));
    assert_eq!(t.events.len(), 1);
}

#[test]
fn the_lifecycle_open_in_progress_blocked_done_signed_off() {
    let mut doc = board();
    let id = new_task(&mut doc);
    task::assign_task(&mut doc, &office(), T0, &id, Some("pa1")).unwrap();
    let rec = task::read_task(&doc, &id).unwrap().record;
    assert_eq!(
        (rec.assignee.as_deref(), rec.assigned_by.as_deref()),
        (Some("pa1"), Some("office"))
    );
    go(&mut doc, &pa1(), &id, TaskEvent::Start).unwrap();
    assert_eq!(
        task::task_state(&doc, &id).unwrap().status,
        TaskStatus::InProgress
    );
    go(
        &mut doc,
        &pa1(),
        &id,
        TaskEvent::Block {
            reason: "printer jammed".into(),
        },
    )
    .unwrap();
    let s = task::task_state(&doc, &id).unwrap();
    assert_eq!(
        (s.status, s.blocked_reason.as_deref()),
        (TaskStatus::Blocked, Some("printer jammed"))
    );
    let e = refused(&mut doc, |d| go(d, &pa1(), &id, TaskEvent::Done));
    assert!(e.to_string().contains("unblocked"), "{e}");
    go(&mut doc, &pa1(), &id, TaskEvent::Start).unwrap();
    go(&mut doc, &pa1(), &id, TaskEvent::Done).unwrap();
    let e = refused(&mut doc, |d| go(d, &pa1(), &id, TaskEvent::SignOff));
    assert!(
        matches!(e, DomainError::Forbidden { role: Role::Pa, .. }),
        "{e}"
    );
    go(&mut doc, &coord(), &id, TaskEvent::SignOff).unwrap();
    assert_eq!(
        task::task_state(&doc, &id).unwrap().status,
        TaskStatus::SignedOff
    );
    for ev in [
        TaskEvent::Start,
        TaskEvent::Done,
        TaskEvent::Cancel,
        TaskEvent::Reopen,
        TaskEvent::SignOff,
    ] {
        // Nothing is offered for a signed-off task, and the refusal reads as English.
        assert!(!ev.allowed_from().contains(&TaskStatus::SignedOff));
        let verb = ev.verb();
        let e = refused(&mut doc, |d| go(d, &coord(), &id, ev));
        assert!(
            matches!(e, DomainError::InvalidTransition { what: "task", .. }),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with(&format!("cannot {verb} a task that is signed off")),
            "{e}"
        );
    }
}

#[test]
fn cancel_and_reopen() {
    let mut doc = board();
    let id = new_task(&mut doc);
    go(&mut doc, &office(), &id, TaskEvent::Cancel).unwrap();
    let e = refused(&mut doc, |d| go(d, &office(), &id, TaskEvent::Start));
    assert!(e.to_string().contains("reopen"), "{e}");
    go(&mut doc, &office(), &id, TaskEvent::Reopen).unwrap();
    assert_eq!(
        task::task_state(&doc, &id).unwrap().status,
        TaskStatus::Open
    );
    go(&mut doc, &office(), &id, TaskEvent::Done).unwrap();
    go(&mut doc, &office(), &id, TaskEvent::Reopen).unwrap();
    assert_eq!(
        task::task_state(&doc, &id).unwrap().status,
        TaskStatus::Open
    );
    let e = refused(&mut doc, |d| go(d, &office(), &id, TaskEvent::Reopen));
    assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");
}

#[test]
fn task_rules_refuse_bad_input_and_roles_without_changing_anything() {
    let mut doc = board();
    let id = new_task(&mut doc);
    let e = refused(&mut doc, |d| {
        task::create_task(d, &crew(), T0, NewTask::new("x", TaskCategory::Other))
    });
    assert!(
        matches!(
            e,
            DomainError::Forbidden {
                role: Role::Crew,
                ..
            }
        ),
        "{e}"
    );
    let mut assigned = NewTask::new("x", TaskCategory::Other);
    assigned.assignee = Some("pa2".into());
    let e = refused(&mut doc, |d| task::create_task(d, &pa1(), T0, assigned));
    assert!(
        matches!(e, DomainError::Forbidden { role: Role::Pa, .. }),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        task::create_task(d, &office(), T0, NewTask::new("", TaskCategory::Other))
    });
    assert!(
        matches!(
            e,
            DomainError::InvalidValue {
                field: "task title",
                ..
            }
        ),
        "{e}"
    );
    let mut linked = NewTask::new("x", TaskCategory::Other);
    linked.linked_run = Some("no-such-run".into());
    let e = refused(&mut doc, |d| task::create_task(d, &office(), T0, linked));
    assert_eq!(e, DomainError::UnknownRun("no-such-run".into()));
    let e = refused(&mut doc, |d| {
        task::edit_task(
            d,
            &office(),
            T0,
            &id,
            TaskEdit {
                due: Some(Some(3)),
                ..Default::default()
            },
        )
    });
    assert!(
        matches!(
            e,
            DomainError::OutOfRange {
                field: "due time",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(&mut doc, |d| go(d, &office(), "nope", TaskEvent::Start));
    assert_eq!(e, DomainError::UnknownTask("nope".into()));
    let e = refused(&mut doc, |d| {
        go(d, &office(), &id, TaskEvent::Block { reason: "".into() })
    });
    assert!(
        matches!(
            e,
            DomainError::InvalidValue {
                field: "blocked reason",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        task::assign_task(d, &pa1(), T0, &id, Some("pa1"))
    });
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let e = refused(&mut doc, |d| {
        task::set_checklist_done(d, &pa1(), T0, &id, "nope", true)
    });
    assert!(
        matches!(e, DomainError::UnknownChecklistEntry { .. }),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        task::add_checklist_entry(d, &pa1(), T0, &id, "   ")
    });
    assert!(matches!(e, DomainError::InvalidValue { .. }), "{e}");
    task::assign_task(&mut doc, &office(), T0, &id, Some("pa2")).unwrap();
    let e = refused(&mut doc, |d| go(d, &pa1(), &id, TaskEvent::Start));
    assert!(
        matches!(e, DomainError::Forbidden { role: Role::Pa, .. }),
        "{e}"
    );
}

#[test]
fn edits_checklist_and_linked_run() {
    let mut doc = board();
    let id = new_task(&mut doc);
    let run_id = run::create_run(
        &mut doc,
        &office(),
        T0,
        NewRun::new(RunKind::PaperworkDelivery, "Sides to set", "2nd AD"),
    )
    .unwrap();
    task::edit_task(
        &mut doc,
        &pa1(),
        T0,
        &id,
        TaskEdit {
            title: Some("Print and deliver sides".into()),
            category: Some(TaskCategory::Paperwork),
            linked_run: Some(Some(run_id.clone())),
            notes: Some(None),
            due: Some(None),
            priority: Some(Priority::Normal),
        },
    )
    .unwrap();
    let first = task::read_task(&doc, &id).unwrap().record.checklist[0]
        .id
        .clone();
    task::set_checklist_done(&mut doc, &pa1(), T0, &id, &first, true).unwrap();
    let extra = task::add_checklist_entry(&mut doc, &pa1(), T0, &id, "Staple").unwrap();
    let second = task::read_task(&doc, &id).unwrap().record.checklist[1]
        .id
        .clone();
    task::remove_checklist_entry(&mut doc, &pa1(), T0, &id, &second).unwrap();
    let t = task::read_task(&doc, &id).unwrap().record;
    assert_eq!(t.title, "Print and deliver sides");
    assert_eq!(t.linked_run, Some(run_id));
    assert_eq!((t.notes, t.due, t.priority), (None, None, Priority::Normal));
    let entries: Vec<_> = t.checklist.iter().map(|c| (c.id.clone(), c.done)).collect();
    assert_eq!(entries, vec![(first, true), (extra, false)]);
    assert_eq!(task::list_tasks(&doc).unwrap().items.len(), 1);
}

#[test]
fn concurrent_done_beats_cancel_on_every_replica() {
    let mut base = board();
    let id = new_task(&mut base);
    let mut a = base.fork();
    let mut b = base.fork();
    go(&mut a, &pa1(), &id, TaskEvent::Done).unwrap();
    go(&mut b, &coord(), &id, TaskEvent::Cancel).unwrap();
    sync_pair(&mut a, &mut b);
    let (ta, tb) = (
        task::read_task(&a, &id).unwrap(),
        task::read_task(&b, &id).unwrap(),
    );
    assert_eq!(ta, tb);
    assert_eq!(ta.status, TaskStatus::Done);
    assert_eq!(ta.conflicts.len(), 1);
    assert_eq!(ta.conflicts[0].event_kind, "cancelled");
}
