//! Runs: every operation, every rule, and the concurrent delivered-vs-cancelled case.

mod domain_support;

use automerge::Automerge;
use domain_support::runs::*;
use domain_support::*;
use setlink_core::access::Role;
use setlink_core::model::run::{self, *};
use setlink_core::model::{DomainError, EventContext, Priority};

#[test]
fn a_created_run_holds_every_field_and_starts_requested() {
    let mut doc = board();
    let id = pickup_run(&mut doc);
    let r = run::read_run(&doc, &id).unwrap();
    assert_eq!(r.status, RunStatus::Requested);
    assert_eq!(r.assigned_pa, None);
    assert_eq!(r.record.title, "Pick up lenses from Panavision");
    assert_eq!(r.record.kind, RunKind::Pickup);
    assert_eq!(r.record.priority, Priority::Urgent);
    assert_eq!(r.record.department.as_deref(), Some("Camera"));
    assert_eq!(r.record.needed_by, Some(T0 + 3_600_000));
    assert_eq!(r.record.vehicle, Some(Vehicle::Production));
    assert_eq!(r.record.stops.len(), 1);
    assert_eq!(r.record.items[0].quantity, 1);
    assert!(!r.record.items[0].checked);
    assert_eq!(r.record.created_by, "office");
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.events[0].kind, RunEventKind::Created);
    assert_eq!(r.events[0].member, "office");
    assert_eq!(r.events[0].device, "office-phone");
    assert!(r.conflicts.is_empty());
}

#[test]
fn every_op_makes_exactly_one_commit_carrying_author_and_time() {
    let mut doc = board();
    let before = doc.get_changes(&[]).len();
    let id = pickup_run(&mut doc);
    assert_eq!(doc.get_changes(&[]).len(), before + 1);
    run::assign(
        &mut doc,
        &coord(),
        T0 + 5_000,
        &id,
        "pa1",
        EventContext::none(),
    )
    .unwrap();
    let changes = doc.get_changes(&[]);
    assert_eq!(changes.len(), before + 2);
    let last = changes.last().unwrap();
    let msg: serde_json::Value = serde_json::from_str(last.message().unwrap()).unwrap();
    assert_eq!(msg["member"], "coord");
    assert_eq!(msg["device"], "coord-phone");
    assert_eq!(msg["role"], "coordinator");
    assert_eq!(last.timestamp(), (T0 + 5_000) / 1000);
}

#[test]
fn the_full_chain_from_requested_to_reconciled() {
    let mut doc = board();
    let id = pickup_run(&mut doc);
    run::assign(
        &mut doc,
        &coord(),
        T0 + 10,
        &id,
        "pa1",
        EventContext::none(),
    )
    .unwrap();
    assert_eq!(
        run::run_state(&doc, &id).unwrap().status,
        RunStatus::Assigned
    );
    for (ev, want) in [
        (RunEvent::Accept, RunStatus::Accepted),
        (RunEvent::EnRoute, RunStatus::EnRoute),
        (RunEvent::PickUp, RunStatus::PickedUp),
        (RunEvent::Deliver, RunStatus::Delivered),
    ] {
        go(&mut doc, &pa1(), &id, ev).unwrap();
        assert_eq!(run::run_state(&doc, &id).unwrap().status, want);
    }
    go(&mut doc, &office(), &id, RunEvent::Reconcile).unwrap();
    let r = run::read_run(&doc, &id).unwrap();
    assert_eq!(r.status, RunStatus::Reconciled);
    assert_eq!(r.assigned_pa.as_deref(), Some("pa1"));
    let kinds: Vec<_> = r.events.iter().map(|e| e.kind).collect();
    use RunEventKind::*;
    assert_eq!(
        kinds,
        vec![Created, Assigned, Accepted, EnRoute, PickedUp, Delivered, Reconciled]
    );
    // Each event saw exactly the previous one.
    for w in r.events.windows(2) {
        assert_eq!(w[1].prev, vec![w[0].id.clone()]);
    }
}

#[test]
fn a_pa_claims_an_unassigned_run_by_accepting_it() {
    let mut doc = board();
    let id = drop_off_run(&mut doc);
    go(&mut doc, &pa2(), &id, RunEvent::Accept).unwrap();
    let s = run::run_state(&doc, &id).unwrap();
    assert_eq!(
        (s.status, s.assignee.as_deref()),
        (RunStatus::Accepted, Some("pa2"))
    );
    // Another PA cannot take it over or move it.
    let e = refused(&mut doc, |d| go(d, &pa1(), &id, RunEvent::EnRoute));
    assert!(
        matches!(e, DomainError::Forbidden { role: Role::Pa, .. }),
        "{e}"
    );
    let e = refused(&mut doc, |d| go(d, &pa1(), &id, RunEvent::Accept));
    assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");
}

#[test]
fn a_pa_may_not_accept_a_run_assigned_to_someone_else() {
    let mut doc = board();
    let id = drop_off_run(&mut doc);
    run::assign(
        &mut doc,
        &coord(),
        T0 + 10,
        &id,
        "pa1",
        EventContext::none(),
    )
    .unwrap();
    let e = refused(&mut doc, |d| go(d, &pa2(), &id, RunEvent::Accept));
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
}

#[test]
fn pickup_kinds_must_be_picked_up_before_delivery_but_drop_offs_need_not() {
    let mut doc = board();
    let p = pickup_run(&mut doc);
    run::assign(&mut doc, &coord(), T0 + 10, &p, "pa1", EventContext::none()).unwrap();
    go(&mut doc, &pa1(), &p, RunEvent::EnRoute).unwrap();
    let e = refused(&mut doc, |d| go(d, &pa1(), &p, RunEvent::Deliver));
    assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");
    assert!(e.to_string().contains("picked up first"), "{e}");

    let d = drop_off_run(&mut doc);
    run::assign(&mut doc, &coord(), T0 + 10, &d, "pa1", EventContext::none()).unwrap();
    go(&mut doc, &pa1(), &d, RunEvent::EnRoute).unwrap();
    go(&mut doc, &pa1(), &d, RunEvent::Deliver).unwrap();
    assert_eq!(
        run::run_state(&doc, &d).unwrap().status,
        RunStatus::Delivered
    );
}

#[test]
fn forbidden_transitions_are_refused_and_change_nothing() {
    let mut doc = board();
    let id = drop_off_run(&mut doc);
    // From requested: nothing can move forward without an owner.
    for ev in [
        RunEvent::EnRoute,
        RunEvent::PickUp,
        RunEvent::Deliver,
        RunEvent::Fail { reason: "x".into() },
    ] {
        let e = refused(&mut doc, |d| go(d, &coord(), &id, ev));
        assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");
    }
    let e = refused(&mut doc, |d| go(d, &coord(), &id, RunEvent::Reconcile));
    assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");
    let e = refused(&mut doc, |d| go(d, &coord(), &id, RunEvent::Reopen));
    assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");

    run::assign(
        &mut doc,
        &coord(),
        T0 + 10,
        &id,
        "pa1",
        EventContext::none(),
    )
    .unwrap();
    go(&mut doc, &pa1(), &id, RunEvent::PickUp).unwrap();
    // Backwards is refused.
    let e = refused(&mut doc, |d| go(d, &pa1(), &id, RunEvent::EnRoute));
    assert!(e.to_string().contains("backwards"), "{e}");
    go(&mut doc, &pa1(), &id, RunEvent::Deliver).unwrap();
    // Done runs cannot be cancelled, reassigned, failed or delivered again.
    for ev in [
        RunEvent::Cancel,
        RunEvent::Deliver,
        RunEvent::Fail {
            reason: "late".into(),
        },
        RunEvent::Accept,
    ] {
        let e = refused(&mut doc, |d| go(d, &coord(), &id, ev));
        assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");
    }
    let e = refused(&mut doc, |d| {
        run::assign(d, &coord(), T0, &id, "pa2", EventContext::none())
    });
    assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");
}

#[test]
fn cancelled_is_terminal_until_reopened_which_returns_to_assigned_or_requested() {
    let mut doc = board();
    let a = drop_off_run(&mut doc);
    run::assign(&mut doc, &coord(), T0 + 10, &a, "pa1", EventContext::none()).unwrap();
    go(&mut doc, &coord(), &a, RunEvent::Cancel).unwrap();
    assert_eq!(
        run::run_state(&doc, &a).unwrap().status,
        RunStatus::Cancelled
    );
    for ev in [
        RunEvent::Accept,
        RunEvent::EnRoute,
        RunEvent::Cancel,
        RunEvent::Deliver,
    ] {
        let e = refused(&mut doc, |d| go(d, &coord(), &a, ev));
        assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");
    }
    let e = refused(&mut doc, |d| {
        run::assign(d, &coord(), T0, &a, "pa2", EventContext::none())
    });
    assert!(e.to_string().contains("reopen"), "{e}");
    go(&mut doc, &coord(), &a, RunEvent::Reopen).unwrap();
    let s = run::run_state(&doc, &a).unwrap();
    assert_eq!(
        (s.status, s.assignee.as_deref()),
        (RunStatus::Assigned, Some("pa1"))
    );

    let b = drop_off_run(&mut doc);
    go(&mut doc, &office(), &b, RunEvent::Cancel).unwrap();
    go(&mut doc, &office(), &b, RunEvent::Reopen).unwrap();
    assert_eq!(
        run::run_state(&doc, &b).unwrap().status,
        RunStatus::Requested
    );
}

#[test]
fn a_failed_run_keeps_its_reason_and_can_be_reassigned() {
    let mut doc = board();
    let id = drop_off_run(&mut doc);
    run::assign(
        &mut doc,
        &coord(),
        T0 + 10,
        &id,
        "pa1",
        EventContext::none(),
    )
    .unwrap();
    let e = refused(&mut doc, |d| {
        go(
            d,
            &pa1(),
            &id,
            RunEvent::Fail {
                reason: "  ".into(),
            },
        )
    });
    assert!(
        matches!(
            e,
            DomainError::InvalidValue {
                field: "failure reason",
                ..
            }
        ),
        "{e}"
    );
    go(
        &mut doc,
        &pa1(),
        &id,
        RunEvent::Fail {
            reason: "Store closed".into(),
        },
    )
    .unwrap();
    let s = run::run_state(&doc, &id).unwrap();
    assert_eq!(
        (s.status, s.failure_reason.as_deref()),
        (RunStatus::Failed, Some("Store closed"))
    );
    run::assign(
        &mut doc,
        &office(),
        T0 + 20,
        &id,
        "pa2",
        EventContext::note("try the other branch"),
    )
    .unwrap();
    let r = run::read_run(&doc, &id).unwrap();
    assert_eq!(
        (r.status, r.assigned_pa.as_deref(), r.failure_reason),
        (RunStatus::Assigned, Some("pa2"), None)
    );
    assert_eq!(
        r.events.last().unwrap().note.as_deref(),
        Some("try the other branch")
    );
}

#[test]
fn a_run_taken_off_its_pa_is_requested_again_and_stays_off_through_cancel_and_reopen() {
    let mut doc = board();
    let id = drop_off_run(&mut doc);
    // Nothing to take off yet.
    let e = refused(&mut doc, |d| {
        run::unassign(d, &coord(), T0 + 5, &id, EventContext::none())
    });
    assert!(e.to_string().contains("not assigned"), "{e}");

    run::assign(
        &mut doc,
        &coord(),
        T0 + 10,
        &id,
        "pa1",
        EventContext::none(),
    )
    .unwrap();
    go(&mut doc, &pa1(), &id, RunEvent::Accept).unwrap();
    // A PA may not take a run off anyone, not even off themselves.
    for pa in [pa1(), pa2()] {
        let e = refused(&mut doc, |d| {
            run::unassign(d, &pa, T0 + 20, &id, EventContext::none())
        });
        assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    }
    run::unassign(
        &mut doc,
        &office(),
        T0 + 30,
        &id,
        EventContext::note("Pat is stuck on set"),
    )
    .unwrap();
    let r = run::read_run(&doc, &id).unwrap();
    assert_eq!(
        (r.status, r.assigned_pa.as_deref()),
        (RunStatus::Requested, None)
    );
    let last = r.events.last().unwrap();
    assert_eq!(
        (last.kind, last.assignee.as_deref(), last.member.as_str()),
        (RunEventKind::Assigned, None, "office")
    );
    assert!(run::runs_for(&doc, "pa1").unwrap().items.is_empty());
    // The former assignee can no longer move it forward, only claim it again.
    let e = refused(&mut doc, |d| go(d, &pa1(), &id, RunEvent::EnRoute));
    assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");

    // Cancel and reopen no longer put it back on the PA.
    go(&mut doc, &coord(), &id, RunEvent::Cancel).unwrap();
    let e = refused(&mut doc, |d| {
        run::unassign(d, &coord(), T0 + 40, &id, EventContext::none())
    });
    assert!(e.to_string().contains("reopen"), "{e}");
    go(&mut doc, &coord(), &id, RunEvent::Reopen).unwrap();
    let s = run::run_state(&doc, &id).unwrap();
    assert_eq!((s.status, s.assignee), (RunStatus::Requested, None));

    // From failed, and mid-run, too; never once it is delivered.
    run::assign(
        &mut doc,
        &coord(),
        T0 + 50,
        &id,
        "pa2",
        EventContext::none(),
    )
    .unwrap();
    go(
        &mut doc,
        &pa2(),
        &id,
        RunEvent::Fail {
            reason: "Closed".into(),
        },
    )
    .unwrap();
    run::unassign(&mut doc, &coord(), T0 + 60, &id, EventContext::none()).unwrap();
    let s = run::run_state(&doc, &id).unwrap();
    assert_eq!(
        (s.status, s.assignee, s.failure_reason),
        (RunStatus::Requested, None, None)
    );
    go(&mut doc, &pa1(), &id, RunEvent::Accept).unwrap();
    go(&mut doc, &pa1(), &id, RunEvent::Deliver).unwrap();
    let e = refused(&mut doc, |d| {
        run::unassign(d, &coord(), T0 + 70, &id, EventContext::none())
    });
    assert!(e.to_string().contains("done"), "{e}");
}

#[test]
fn logs_without_an_unassignment_derive_as_before() {
    use setlink_core::model::status::{derive, LoggedEvent};
    let ev = |id: &str, kind, prev: &[&str], assignee: Option<&str>| LoggedEvent {
        id: id.into(),
        kind,
        prev: prev.iter().map(|p| p.to_string()).collect(),
        at_ms: T0,
        member: "coord".into(),
        device: "coord-phone".into(),
        role: Some(Role::Coordinator),
        note: None,
        location: None,
        reason: None,
        assignee: assignee.map(str::to_owned),
    };
    use RunEventKind::*;
    // Written by the version before unassigning existed: assign, cancel, reopen.
    let old = vec![
        ev("a", Created, &[], None),
        ev("b", Assigned, &["a"], Some("pa1")),
        ev("c", Cancelled, &["b"], None),
        ev("d", Reopened, &["c"], None),
    ];
    let s = derive(old.clone()).state;
    assert_eq!(
        (s.status, s.assignee.as_deref()),
        (RunStatus::Assigned, Some("pa1"))
    );
    let s = derive(old[..2].to_vec()).state;
    assert_eq!(
        (s.status, s.assignee.as_deref()),
        (RunStatus::Assigned, Some("pa1"))
    );
    // The same log with an unassignment before the cancel reopens to requested.
    let mut new = old.clone();
    new.insert(2, ev("b2", Assigned, &["b"], None));
    new[3].prev = vec!["b2".into()];
    let s = derive(new).state;
    assert_eq!((s.status, s.assignee), (RunStatus::Requested, None));
}

#[test]
fn roles_are_enforced_per_operation() {
    let mut doc = board();
    let id = drop_off_run(&mut doc);
    let e = refused(&mut doc, |d| {
        run::create_run(d, &crew(), T0, NewRun::new(RunKind::Other, "x", "y"))
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
    let e = refused(&mut doc, |d| {
        run::assign(d, &pa1(), T0, &id, "pa1", EventContext::none())
    });
    assert!(
        matches!(e, DomainError::Forbidden { role: Role::Pa, .. }),
        "{e}"
    );
    for ev in [RunEvent::Cancel, RunEvent::Reopen, RunEvent::Reconcile] {
        let e = refused(&mut doc, |d| go(d, &pa1(), &id, ev));
        assert!(
            matches!(e, DomainError::Forbidden { role: Role::Pa, .. }),
            "{e}"
        );
    }
    let e = refused(&mut doc, |d| run::add_comment(d, &crew(), T0, &id, "hi"));
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let e = refused(&mut doc, |d| {
        run::edit_run(d, &crew(), T0, &id, RunEdit::default())
    });
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
}

#[test]
fn unknown_ids_and_uninitialised_boards_are_typed_errors() {
    let mut doc = board();
    let id = drop_off_run(&mut doc);
    let e = refused(&mut doc, |d| go(d, &coord(), "nope", RunEvent::Cancel));
    assert_eq!(e, DomainError::UnknownRun("nope".into()));
    let e = refused(&mut doc, |d| {
        run::edit_stop(
            d,
            &pa1(),
            T0,
            &id,
            "s",
            StopInput {
                label: "x".into(),
                ..Default::default()
            },
        )
    });
    assert!(matches!(e, DomainError::UnknownStop { .. }), "{e}");
    let e = refused(&mut doc, |d| {
        run::set_item_checked(d, &pa1(), T0, &id, "i", true)
    });
    assert!(matches!(e, DomainError::UnknownItem { .. }), "{e}");
    let e = refused(&mut doc, |d| {
        run::remove_food_order(d, &pa1(), T0, &id, "f")
    });
    assert!(matches!(e, DomainError::UnknownItem { .. }), "{e}");
    assert!(matches!(
        run::read_run(&doc, "nope"),
        Err(DomainError::UnknownRun(_))
    ));

    let mut empty = Automerge::new();
    let e = refused(&mut empty, |d| {
        run::create_run(d, &coord(), T0, NewRun::new(RunKind::Other, "x", "y"))
    });
    assert!(matches!(e, DomainError::NotInitialised(_)), "{e}");
    let e = refused(&mut doc, |d| run::init_board(d, &coord(), T0));
    assert!(matches!(e, DomainError::AlreadyExists(_)), "{e}");
    let e = refused(&mut empty, |d| run::init_board(d, &pa1(), T0));
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
}

/// PRODUCT.md: a concurrent "delivered" wins over "cancelled"; the cancel stays visible.
#[test]
fn concurrent_delivered_and_cancelled_resolve_to_delivered_in_both_merge_orders() {
    let mut base = board();
    let id = drop_off_run(&mut base);
    run::assign(
        &mut base,
        &coord(),
        T0 + 10,
        &id,
        "pa1",
        EventContext::none(),
    )
    .unwrap();
    run::record_status(
        &mut base,
        &pa1(),
        T0 + 20,
        &id,
        RunEvent::PickUp,
        EventContext::none(),
    )
    .unwrap();

    let mut phone = base.fork();
    let mut office_doc = base.fork();
    let delivered = run::record_status(
        &mut phone,
        &pa1(),
        T0 + 30,
        &id,
        RunEvent::Deliver,
        EventContext::none(),
    )
    .unwrap();
    // The coordinator cancels later by the clock, without having seen the delivery.
    let cancelled = run::record_status(
        &mut office_doc,
        &coord(),
        T0 + 99,
        &id,
        RunEvent::Cancel,
        EventContext::none(),
    )
    .unwrap();

    let mut a = phone.fork();
    a.merge(&mut office_doc.clone()).unwrap();
    let mut b = office_doc.fork();
    b.merge(&mut phone.clone()).unwrap();
    for doc in [&a, &b] {
        let r = run::read_run(doc, &id).unwrap();
        assert_eq!(r.status, RunStatus::Delivered);
        assert_eq!(r.conflicts.len(), 1);
        let c = &r.conflicts[0];
        assert_eq!(
            (
                c.event_id.as_str(),
                c.event_kind.as_str(),
                c.lost_to.as_str(),
                c.resolved
            ),
            (cancelled.as_str(), "cancelled", delivered.as_str(), false)
        );
        let ids: Vec<_> = r.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.iter().filter(|i| **i == delivered).count(), 1);
        assert_eq!(ids.iter().filter(|i| **i == cancelled).count(), 1);
    }
    assert_eq!(
        run::read_run(&a, &id).unwrap(),
        run::read_run(&b, &id).unwrap()
    );

    // The office reconciles after seeing both: the conflict stays listed, now resolved.
    run::record_status(
        &mut a,
        &office(),
        T0 + 200,
        &id,
        RunEvent::Reconcile,
        EventContext::none(),
    )
    .unwrap();
    let r = run::read_run(&a, &id).unwrap();
    assert_eq!(r.status, RunStatus::Reconciled);
    assert_eq!(r.conflicts.len(), 1);
    assert!(r.conflicts[0].resolved);
    assert_eq!(r.events.last().unwrap().prev.len(), 2);
}

#[test]
fn concurrent_reassignments_pick_the_same_pa_everywhere_and_show_the_other() {
    let mut base = board();
    let id = drop_off_run(&mut base);
    let mut x = base.fork();
    let mut y = base.fork();
    run::assign(&mut x, &coord(), T0 + 10, &id, "pa1", EventContext::none()).unwrap();
    run::assign(&mut y, &office(), T0 + 11, &id, "pa2", EventContext::none()).unwrap();
    sync_pair(&mut x, &mut y);
    let (rx, ry) = (
        run::read_run(&x, &id).unwrap(),
        run::read_run(&y, &id).unwrap(),
    );
    assert_eq!(rx, ry);
    // Same class and rank: the later one wins.
    assert_eq!(rx.assigned_pa.as_deref(), Some("pa2"));
    assert_eq!(rx.conflicts.len(), 1);
}

#[test]
fn list_runs_orders_by_needed_by() {
    let mut doc = board();
    let mut late = NewRun::new(RunKind::Other, "late", "x");
    late.needed_by = Some(T0 + 50);
    let mut early = NewRun::new(RunKind::Other, "early", "x");
    early.needed_by = Some(T0 + 10);
    run::create_run(
        &mut doc,
        &coord(),
        T0,
        NewRun::new(RunKind::Other, "whenever", "x"),
    )
    .unwrap();
    run::create_run(&mut doc, &coord(), T0, late).unwrap();
    run::create_run(&mut doc, &coord(), T0, early).unwrap();
    let titles: Vec<_> = run::list_runs(&doc)
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.record.title)
        .collect();
    assert_eq!(titles, vec!["early", "late", "whenever"]);
}

#[test]
fn unreadable_log_entries_are_set_aside_without_hiding_the_run() {
    use automerge::transaction::Transactable;
    use automerge::ReadDoc;
    for bad in [
        r#"{"kind":"teleported","prev":[],"at":1,"member":"m","device":"d","role":"pa"}"#,
        "not json",
        "",
    ] {
        let mut doc = board();
        let id = drop_off_run(&mut doc);
        let runs = doc.get(automerge::ROOT, "runs").unwrap().unwrap().1;
        let run_obj = doc.get(&runs, id.as_str()).unwrap().unwrap().1;
        let events = doc.get(&run_obj, "events").unwrap().unwrap().1;
        let mut tx = doc.transaction();
        tx.put(&events, "forged", bad).unwrap();
        tx.commit();
        let r = run::read_run(&doc, &id).unwrap();
        assert_eq!(
            (r.status, r.ignored_events.clone(), r.events.len()),
            (RunStatus::Requested, vec!["forged".to_string()], 1)
        );
        go(&mut doc, &coord(), &id, RunEvent::Cancel).unwrap();
        let r = run::read_run(&doc, &id).unwrap();
        assert_eq!(
            (r.status, r.events.len(), r.ignored_events.len()),
            (RunStatus::Cancelled, 2, 1)
        );
        // The forged entry was a head nobody could read: new events do not list it as seen.
        assert_eq!(r.events[1].prev, vec![r.events[0].id.clone()]);
    }
    // A run whose fields are the wrong type does not hydrate.
    let mut doc = board();
    let id = drop_off_run(&mut doc);
    let runs = doc.get(automerge::ROOT, "runs").unwrap().unwrap().1;
    let run_obj = doc.get(&runs, id.as_str()).unwrap().unwrap().1;
    let mut tx = doc.transaction();
    tx.put(&run_obj, "kind", "hovercraft").unwrap();
    tx.commit();
    let e = run::read_run(&doc, &id).unwrap_err();
    assert!(
        matches!(e, DomainError::Corrupt(_)) && e.to_string().contains("newer version"),
        "{e}"
    );
    let e = refused(&mut doc, |d| go(d, &coord(), &id, RunEvent::Cancel));
    assert!(matches!(e, DomainError::Corrupt(_)), "{e}");
}

#[test]
fn a_pa_sees_their_open_runs_and_the_coordinator_sees_late_ones() {
    let mut doc = board();
    let mut ids = Vec::new();
    for (i, due) in [(0, T0 + 10), (1, T0 + 1_000), (2, T0 + 20)] {
        let mut n = NewRun::new(RunKind::DropOff, format!("run {i}"), "AD");
        n.needed_by = Some(due);
        ids.push(run::create_run(&mut doc, &office(), T0, n).unwrap());
    }
    run::assign(&mut doc, &coord(), T0, &ids[0], "pa1", EventContext::none()).unwrap();
    run::assign(&mut doc, &coord(), T0, &ids[1], "pa1", EventContext::none()).unwrap();
    run::assign(&mut doc, &coord(), T0, &ids[2], "pa2", EventContext::none()).unwrap();
    go(&mut doc, &pa2(), &ids[2], RunEvent::Deliver).unwrap();
    let mine: Vec<_> = run::runs_for(&doc, "pa1")
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.record.id)
        .collect();
    assert_eq!(mine, vec![ids[0].clone(), ids[1].clone()]);
    assert!(run::runs_for(&doc, "pa2").unwrap().items.is_empty());
    let late: Vec<_> = run::late_runs(&doc, T0 + 500)
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.record.id)
        .collect();
    assert_eq!(late, vec![ids[0].clone()]);
}
