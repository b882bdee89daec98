//! Timesheets: submitting offline and reviewing on another replica, concurrent re-submission
//! and approval, the return-and-fix loop, validation, and the write rules against a client
//! that misbehaves.

mod domain_support;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, PatchLog, ReadDoc, ROOT};
use autosurgeon::reconcile_insert;
use domain_support::*;
use setlink_core::access::{DocKind, Role};
use setlink_core::model::timesheet::{
    self, Decision, Review, Submission, TimesheetEntry, TimesheetStatus,
};
use setlink_core::model::DomainError;
use setlink_core::rules::{self, Refusal, Rule, RuleContext, Writer};

const DAY: &str = "2026-11-24";
const HOUR: i64 = 3_600_000;
/// 2026-11-24 00:00 UTC: the call times below are hours after it.
const DAY0: i64 = T0 - 8 * HOUR;

fn entry(call_h: i64, meal_h: Option<(i64, i64)>, wrap_h: i64) -> TimesheetEntry {
    TimesheetEntry {
        call: DAY0 + call_h * HOUR,
        meal_start: meal_h.map(|(s, _)| DAY0 + s * HOUR),
        meal_end: meal_h.map(|(_, e)| DAY0 + e * HOUR),
        wrap: DAY0 + wrap_h * HOUR,
        notes: None,
    }
}

/// Pat the PA's timesheets, created (as the relay does) for them.
fn sheets() -> Automerge {
    let mut doc = Automerge::new();
    timesheet::init_timesheets(&mut doc, &pa1(), T0).unwrap();
    doc
}

fn status(doc: &Automerge) -> TimesheetStatus {
    timesheet::read_day(doc, DAY)
        .unwrap()
        .map(|d| d.status)
        .unwrap_or_default()
}

#[test]
fn submitted_offline_approved_on_another_replica_and_merged() {
    let mut phone = sheets();
    let mut office = phone.fork();
    // On the phone, with no signal at wrap.
    let e = entry(7, Some((13, 14)), 20);
    let sub = timesheet::submit(&mut phone, &pa1(), T0 + 13 * HOUR, DAY, e.clone()).unwrap();
    assert_eq!(status(&phone), TimesheetStatus::Submitted);
    assert_eq!(timesheet::read_day(&office, DAY).unwrap(), None);
    // Signal again: the coordinator's copy gets it and approves it.
    office.merge(&mut phone).unwrap();
    let day = timesheet::read_day(&office, DAY).unwrap().unwrap();
    let current = day.current.clone().unwrap();
    assert_eq!((current.id.as_str(), current.entry()), (sub.as_str(), e));
    assert_eq!(current.submitted_by, "pa1");
    assert_eq!(timesheet::worked_minutes(&current.entry()), 12 * 60);
    let rev = timesheet::review(
        &mut office,
        &coord(),
        T0 + 14 * HOUR,
        DAY,
        &sub,
        Decision::Approved,
        None,
    )
    .unwrap();
    sync_pair(&mut phone, &mut office);
    for doc in [&phone, &office] {
        let d = timesheet::read_day(doc, DAY).unwrap().unwrap();
        assert_eq!(d.status, TimesheetStatus::Approved);
        let by = d.decided_by.unwrap();
        assert_eq!((by.id.as_str(), by.by.as_str()), (rev.as_str(), "coord"));
    }
    // Approved is final for the member: a correction needs the coordinator to return it.
    let err = refused(&mut phone, |d| {
        timesheet::submit(d, &pa1(), T0 + 15 * HOUR, DAY, entry(7, None, 21))
    });
    assert!(
        matches!(err, DomainError::InvalidTransition { .. }),
        "{err}"
    );
}

#[test]
fn a_resubmission_concurrent_with_an_approval_stays_waiting() {
    let mut phone = sheets();
    let old = timesheet::submit(&mut phone, &pa1(), T0, DAY, entry(7, None, 19)).unwrap();
    let mut office = phone.fork();
    // The coordinator approves the first while the PA, offline, corrects the wrap.
    timesheet::review(
        &mut office,
        &coord(),
        T0 + HOUR,
        DAY,
        &old,
        Decision::Approved,
        None,
    )
    .unwrap();
    let new = timesheet::submit(&mut phone, &pa1(), T0 + HOUR, DAY, entry(7, None, 21)).unwrap();
    assert_eq!(status(&office), TimesheetStatus::Approved);
    // Merged in either order: the new submission is current and waits for a review.
    let mut a = phone.fork();
    a.merge(&mut office).unwrap();
    let mut b = office.fork();
    b.merge(&mut phone).unwrap();
    for doc in [&a, &b] {
        let d = timesheet::read_day(doc, DAY).unwrap().unwrap();
        assert_eq!(d.status, TimesheetStatus::Submitted);
        assert_eq!(d.current.unwrap().id, new);
        assert_eq!(d.submissions.len(), 2);
        assert_eq!(d.reviews.len(), 1, "the approval of the old one is kept");
        assert_eq!(d.decided_by, None);
    }
    // Deciding the old one again is refused; the new one is reviewed normally.
    let err = refused(&mut b, |d| {
        timesheet::review(
            d,
            &coord(),
            T0 + 2 * HOUR,
            DAY,
            &old,
            Decision::Approved,
            None,
        )
    });
    assert!(
        err.to_string().contains("latest submission"),
        "the coordinator is told to look at the new one: {err}"
    );
    timesheet::review(
        &mut b,
        &coord(),
        T0 + 2 * HOUR,
        DAY,
        &new,
        Decision::Approved,
        None,
    )
    .unwrap();
    assert_eq!(status(&b), TimesheetStatus::Approved);
}

#[test]
fn returned_with_a_note_then_resubmitted_then_approved() {
    let mut phone = sheets();
    let first = timesheet::submit(&mut phone, &pa1(), T0, DAY, entry(7, None, 20)).unwrap();
    let mut office = phone.fork();
    timesheet::review(
        &mut office,
        &coord(),
        T0 + HOUR,
        DAY,
        &first,
        Decision::Returned,
        Some("You took lunch 13:00-13:30, add it"),
    )
    .unwrap();
    phone.merge(&mut office).unwrap();
    assert_eq!(
        status(&phone),
        TimesheetStatus::Returned {
            note: "You took lunch 13:00-13:30, add it".into()
        }
    );
    let mut fixed = entry(7, None, 20);
    fixed.meal_start = Some(DAY0 + 13 * HOUR);
    fixed.meal_end = Some(DAY0 + 13 * HOUR + HOUR / 2);
    fixed.notes = Some("added lunch".into());
    let second = timesheet::submit(&mut phone, &pa1(), T0 + 2 * HOUR, DAY, fixed.clone()).unwrap();
    assert_eq!(status(&phone), TimesheetStatus::Submitted);
    office.merge(&mut phone).unwrap();
    timesheet::review(
        &mut office,
        &coord(),
        T0 + 3 * HOUR,
        DAY,
        &second,
        Decision::Approved,
        Some("thanks"),
    )
    .unwrap();
    let listing = timesheet::list(&office).unwrap();
    assert!(listing.is_complete());
    let [d] = listing.items.as_slice() else {
        panic!("one day: {listing:?}")
    };
    assert_eq!(
        (d.day.as_str(), &d.status),
        (DAY, &TimesheetStatus::Approved)
    );
    assert_eq!(d.current.as_ref().unwrap().entry(), fixed);
    assert_eq!(timesheet::worked_minutes(&fixed), 12 * 60 + 30);
    let decisions: Vec<Decision> = d.reviews.iter().map(|r| r.decision).collect();
    assert_eq!(decisions, vec![Decision::Returned, Decision::Approved]);
    // A coordinator may still return an approved day (a mistake found later).
    timesheet::review(
        &mut office,
        &coord(),
        T0 + 4 * HOUR,
        DAY,
        &second,
        Decision::Returned,
        Some("wrong day"),
    )
    .unwrap();
    assert!(matches!(status(&office), TimesheetStatus::Returned { .. }));
}

#[test]
fn a_wrap_after_midnight_is_just_later() {
    let mut doc = sheets();
    // Call 16:00, meal 22:00-22:30, wrap 03:00 the next morning.
    let mut night = entry(16, None, 27);
    night.meal_start = Some(DAY0 + 22 * HOUR);
    night.meal_end = Some(DAY0 + 22 * HOUR + HOUR / 2);
    timesheet::submit(&mut doc, &pa1(), T0, DAY, night.clone()).unwrap();
    assert_eq!(timesheet::worked_minutes(&night), 10 * 60 + 30);
}

#[test]
fn bad_times_and_wrong_people_are_refused_and_change_nothing() {
    let mut doc = sheets();
    let bad = |call, meal: Option<(i64, i64)>, wrap| TimesheetEntry {
        call,
        meal_start: meal.map(|m| m.0),
        meal_end: meal.map(|m| m.1),
        wrap,
        notes: None,
    };
    let h = |n: i64| DAY0 + n * HOUR;
    let cases: Vec<(TimesheetEntry, &str)> = vec![
        (bad(h(19), None, h(7)), "wrap"),
        (bad(h(7), None, h(7)), "wrap"),
        (bad(h(7), None, h(32)), "wrap"),
        (bad(h(7), Some((h(6), h(8))), h(19)), "meal start"),
        (bad(h(7), Some((h(13), h(12))), h(19)), "meal end"),
        (bad(h(7), Some((h(18), h(20))), h(19)), "meal end"),
        (bad(h(7 + 72), None, h(19 + 72)), "call"),
        (bad(0, None, h(19)), "call"),
        (
            TimesheetEntry {
                meal_start: Some(h(12)),
                ..bad(h(7), None, h(19))
            },
            "meal",
        ),
        (
            TimesheetEntry {
                notes: Some("\u{7}".into()),
                ..bad(h(7), None, h(19))
            },
            "timesheet notes",
        ),
    ];
    for (e, field) in cases {
        let err = refused(&mut doc, |d| {
            timesheet::submit(d, &pa1(), T0, DAY, e.clone())
        });
        let named = match &err {
            DomainError::OutOfRange { field, .. } | DomainError::InvalidValue { field, .. } => {
                *field
            }
            _ => "",
        };
        assert_eq!(named, field, "{e:?}: {err}");
    }
    refused(&mut doc, |d| {
        timesheet::submit(d, &pa1(), T0, "2026-11-31", entry(7, None, 19))
    });
    // A coordinator does not submit someone else's timesheet; a PA does not review.
    let err = refused(&mut doc, |d| {
        timesheet::submit(d, &coord(), T0, DAY, entry(7, None, 19))
    });
    assert!(matches!(err, DomainError::Forbidden { .. }), "{err}");
    // Nothing submitted yet: nothing to review.
    let err = refused(&mut doc, |d| {
        timesheet::review(d, &coord(), T0, DAY, "x", Decision::Approved, None)
    });
    assert!(
        matches!(err, DomainError::InvalidTransition { .. }),
        "{err}"
    );
    let sub = timesheet::submit(&mut doc, &pa1(), T0, DAY, entry(7, None, 19)).unwrap();
    let err = refused(&mut doc, |d| {
        timesheet::review(d, &pa1(), T0, DAY, &sub, Decision::Approved, None)
    });
    assert!(matches!(err, DomainError::Forbidden { .. }), "{err}");
    for note in [None, Some("  ")] {
        let err = refused(&mut doc, |d| {
            timesheet::review(d, &coord(), T0, DAY, &sub, Decision::Returned, note)
        });
        assert!(
            matches!(
                err,
                DomainError::InvalidValue {
                    field: "review note",
                    ..
                }
            ),
            "{err}"
        );
    }
    let err = refused(&mut doc, |d| {
        timesheet::review(d, &coord(), T0, DAY, "nope", Decision::Approved, None)
    });
    assert!(err.to_string().contains("nope"), "{err}");
    timesheet::review(&mut doc, &coord(), T0, DAY, &sub, Decision::Approved, None).unwrap();
    let err = refused(&mut doc, |d| {
        timesheet::review(d, &coord(), T0, DAY, &sub, Decision::Approved, None)
    });
    assert!(
        matches!(err, DomainError::InvalidTransition { .. }),
        "{err}"
    );
    // Another member cannot claim these timesheets; the owner claiming again is a no-op.
    refused(&mut doc, |d| timesheet::init_timesheets(d, &pa2(), T0));
    let heads = doc.get_heads();
    timesheet::init_timesheets(&mut doc, &pa1(), T0).unwrap();
    assert_eq!(doc.get_heads(), heads);
    let blank = Automerge::new();
    assert_eq!(
        timesheet::list(&blank),
        Err(DomainError::NotInitialised("a member's timesheets"))
    );
}

#[test]
fn an_unreadable_day_is_skipped_with_why() {
    let mut doc = sheets();
    timesheet::submit(&mut doc, &pa1(), T0, DAY, entry(7, None, 19)).unwrap();
    let days = obj(&doc, &ROOT, "days");
    let mut tx = doc.transaction();
    let other = tx
        .put_object(&days, "2026-11-25", automerge::ObjType::Map)
        .unwrap();
    tx.put(&other, "submissions", "not a list").unwrap();
    tx.commit();
    let listing = timesheet::list(&doc).unwrap();
    assert_eq!(listing.items.len(), 1);
    let [u] = listing.unreadable.as_slice() else {
        panic!("one unreadable day: {listing:?}")
    };
    assert_eq!((u.id.as_str(), u.what), ("2026-11-25", "timesheet day"));
    assert!(u.why.contains("submissions"), "{}", u.why);
}

// ---------------------------------------------------------------------------------------
// The write rules, as the relay applies them to a client that does not use the model.

fn obj(doc: &Automerge, parent: &ObjId, key: &str) -> ObjId {
    doc.get(parent, key).unwrap().unwrap().1
}

fn list_of(doc: &Automerge, list: &str) -> ObjId {
    let days = obj(doc, &ROOT, "days");
    let day = obj(doc, &days, DAY);
    obj(doc, &day, list)
}

/// Applies `edit` to a copy of Pat's `doc` and checks it as the relay would for `writer`
/// (or as a device would, with no writer known).
fn check_as(
    doc: &Automerge,
    writer: Option<(&str, Role)>,
    edit: impl FnOnce(&mut Automerge),
) -> Result<(), Refusal> {
    let mut theirs = doc.fork();
    edit(&mut theirs);
    let mut relay = doc.fork();
    let before = relay.get_heads();
    let mut log = PatchLog::active();
    relay
        .apply_changes_log_patches(theirs.get_changes(&before), &mut log)
        .unwrap();
    let patches = relay.make_patches(&mut log);
    let added = relay.get_changes(&before);
    let w = writer.map(|(m, role)| Writer {
        member_id: m.into(),
        role,
    });
    let none = |_: &str| false;
    let kind = DocKind::Timesheets {
        member_id: "pa1".into(),
    };
    let ctx = RuleContext {
        kind: &kind,
        writer: w.as_ref(),
        foreign_document: &none,
    };
    rules::check(&ctx, &relay, &before, &patches, &added)
}

fn submitted() -> (Automerge, String) {
    let mut doc = sheets();
    let id = timesheet::submit(&mut doc, &pa1(), T0, DAY, entry(7, None, 19)).unwrap();
    (doc, id)
}

fn raw_review(by: &str, submission: &str) -> Review {
    Review {
        id: "r1".into(),
        submission_id: submission.into(),
        decision: Decision::Approved,
        note: None,
        at: T0,
        by: by.into(),
    }
}

fn append_raw<T: autosurgeon::Reconcile>(doc: &mut Automerge, list: &str, value: &T) {
    let l = list_of(doc, list);
    let mut tx = doc.transaction();
    let len = tx.length(&l);
    reconcile_insert(&mut tx, l, len, value).unwrap();
    tx.commit();
}

#[test]
fn the_rules_take_what_the_model_writes() {
    let empty = Automerge::new();
    assert_eq!(
        check_as(&empty, None, |d| {
            timesheet::init_timesheets(d, &pa1(), T0).unwrap();
        }),
        Ok(())
    );
    let doc = sheets();
    let submit = |d: &mut Automerge| {
        timesheet::submit(d, &pa1(), T0, DAY, entry(7, Some((12, 13)), 19)).unwrap();
    };
    assert_eq!(check_as(&doc, Some(("pa1", Role::Pa)), submit), Ok(()));
    assert_eq!(check_as(&doc, None, submit), Ok(()));
    let (doc, sub) = submitted();
    let approve = |d: &mut Automerge| {
        timesheet::review(d, &coord(), T0, DAY, &sub, Decision::Approved, None).unwrap();
    };
    assert_eq!(
        check_as(&doc, Some(("coord", Role::Coordinator)), approve),
        Ok(())
    );
    assert_eq!(check_as(&doc, None, approve), Ok(()));
}

#[test]
fn a_pa_approving_their_own_timesheet_is_refused() {
    let (doc, sub) = submitted();
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        append_raw(d, "reviews", &raw_review("pa1", &sub))
    });
    assert_eq!(r.unwrap_err().rule, Rule::Transition);
}

#[test]
fn a_review_names_its_coordinator_and_a_submission_of_the_day() {
    let (doc, sub) = submitted();
    let r = check_as(&doc, Some(("coord", Role::Coordinator)), |d| {
        append_raw(d, "reviews", &raw_review("coord2", &sub))
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
    let r = check_as(&doc, Some(("coord", Role::Coordinator)), |d| {
        append_raw(d, "reviews", &raw_review("coord", "made-up"))
    });
    let refusal = r.unwrap_err();
    assert_eq!(refusal.rule, Rule::Shape);
    assert!(refusal.detail.contains("made-up"), "{refusal}");
    let returned_silently = Review {
        decision: Decision::Returned,
        ..raw_review("coord", &sub)
    };
    let r = check_as(&doc, Some(("coord", Role::Coordinator)), |d| {
        append_raw(d, "reviews", &returned_silently)
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
}

#[test]
fn editing_an_old_submission_is_refused() {
    let (doc, _) = submitted();
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        let subs = list_of(d, "submissions");
        let first = d.get(&subs, 0).unwrap().unwrap().1;
        let mut tx = d.transaction();
        tx.put(&first, "wrap", DAY0 + 23 * HOUR).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        let subs = list_of(d, "submissions");
        let mut tx = d.transaction();
        tx.delete(&subs, 0).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
}

#[test]
fn a_coordinator_submitting_for_someone_else_is_refused() {
    let (doc, _) = submitted();
    let forged = Submission {
        id: "s2".into(),
        call: DAY0 + 7 * HOUR,
        meal_start: None,
        meal_end: None,
        wrap: DAY0 + 9 * HOUR,
        notes: None,
        submitted_at: T0,
        submitted_by: "pa1".into(),
    };
    let r = check_as(&doc, Some(("coord", Role::Coordinator)), |d| {
        append_raw(d, "submissions", &forged)
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
    // Naming someone else as the author is refused even where the writer is unknown.
    let other = Submission {
        submitted_by: "coord".into(),
        ..forged.clone()
    };
    let r = check_as(&doc, None, |d| append_raw(d, "submissions", &other));
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
    // And a submission the model would not take is refused by shape.
    let backwards = Submission {
        wrap: DAY0 + 5 * HOUR,
        ..forged
    };
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        append_raw(d, "submissions", &backwards)
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
}

#[test]
fn deleting_a_review_or_replacing_the_owner_is_refused() {
    let (mut doc, sub) = submitted();
    timesheet::review(&mut doc, &coord(), T0, DAY, &sub, Decision::Approved, None).unwrap();
    let r = check_as(&doc, Some(("coord", Role::Coordinator)), |d| {
        let reviews = list_of(d, "reviews");
        let mut tx = d.transaction();
        tx.delete(&reviews, 0).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        let mut tx = d.transaction();
        tx.put(ROOT, "owner", "pa2").unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Containers);
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        let days = obj(d, &ROOT, "days");
        let mut tx = d.transaction();
        tx.delete(&days, DAY).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        let mut tx = d.transaction();
        tx.put(ROOT, "hours", 40).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
    // A document claimed for someone other than the member the index names.
    let r = check_as(&Automerge::new(), None, |d| {
        timesheet::init_timesheets(d, &pa2(), T0).unwrap();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
}

#[test]
fn only_the_owner_starts_a_day() {
    let doc = sheets();
    let r = check_as(&doc, Some(("coord", Role::Coordinator)), |d| {
        let days = obj(d, &ROOT, "days");
        let mut tx = d.transaction();
        let day = tx.put_object(&days, DAY, automerge::ObjType::Map).unwrap();
        tx.put_object(&day, "submissions", automerge::ObjType::List)
            .unwrap();
        tx.put_object(&day, "reviews", automerge::ObjType::List)
            .unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
}
