//! Timesheets: submitting offline and reviewing on another replica, concurrent re-submission
//! and approval, the same day submitted offline on two of the member's devices, the
//! return-and-fix loop, validation, and the write rules against a client that misbehaves.

mod domain_support;
mod support;

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ReadDoc, ROOT};
use domain_support::*;
use serde_json::json;
use setlink_core::access::{DocKind, Role};
use setlink_core::model::timesheet::{self, Decision, TimesheetEntry, TimesheetStatus};
use setlink_core::model::DomainError;
use setlink_core::rules::{self, ReceiveError, Refusal, Rule, RuleContext, Writer};

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

// ---------------------------------------------------------------------------------------
// The same member on two devices, offline: phone and tablet.

fn pat_on(device: &str) -> setlink_core::access::Author {
    setlink_core::access::Author {
        member_id: "pa1".into(),
        device_id: device.into(),
        role: Role::Pa,
    }
}

#[test]
fn the_same_day_submitted_offline_on_two_devices_keeps_both_and_agrees_on_the_current() {
    // Once at different times (the later one is current), once at the same millisecond
    // (the larger id is current): the same on every replica either way.
    for tablet_later_by in [5 * 60_000, 0] {
        // Pat's phone and tablet: replicas of the timesheets as the relay made them, each
        // with its own actor.
        let base = sheets();
        let (mut phone, mut tablet) = (base.fork(), base.fork());
        let on_phone = timesheet::submit(
            &mut phone,
            &pat_on("pa1-phone"),
            T0 + 12 * HOUR,
            DAY,
            entry(7, None, 19),
        )
        .unwrap();
        let on_tablet = timesheet::submit(
            &mut tablet,
            &pat_on("pa1-tablet"),
            T0 + 12 * HOUR + tablet_later_by,
            DAY,
            entry(7, Some((13, 14)), 20),
        )
        .unwrap();
        let want_current = if tablet_later_by > 0 {
            on_tablet.clone()
        } else {
            on_phone.clone().max(on_tablet.clone())
        };

        // Each device's changes, checked as the relay checks them, in either order: the
        // second device's is not refused for the first one's.
        for order in [[&phone, &tablet], [&tablet, &phone]] {
            let mut relay = base.fork();
            for device in order {
                let mut copy = device.fork();
                sync_checked(&mut relay, &mut copy, Some(("pa1", Role::Pa)))
                    .expect("the relay takes each device's submission");
            }
            let d = timesheet::read_day(&relay, DAY).unwrap().unwrap();
            assert_eq!(d.submissions.len(), 2, "{d:?}");
            assert_eq!(d.current.unwrap().id, want_current);
        }
        // (The relay does check: the same changes from someone else's connection are not
        // Pat's to send.)
        let refusal = sync_checked(
            &mut base.fork(),
            &mut phone.fork(),
            Some(("coord", Role::Coordinator)),
        )
        .unwrap_err();
        assert_eq!(refusal.rule, Rule::Authorship, "{refusal}");
        // And as each device checks what it receives from the other.
        let (mut p, mut t) = (phone.fork(), tablet.fork());
        sync_checked(&mut p, &mut t, None).expect("the devices take each other's");

        // Merged both ways: both submissions, the same current one, the same day.
        let mut a = phone.fork();
        a.merge(&mut tablet).unwrap();
        let mut b = tablet.fork();
        b.merge(&mut phone).unwrap();
        let days: Vec<_> = [&a, &b, &p, &t]
            .into_iter()
            .map(|doc| timesheet::read_day(doc, DAY).unwrap().unwrap())
            .collect();
        for d in &days {
            let mut ids: Vec<&str> = d.submissions.iter().map(|s| s.id.as_str()).collect();
            ids.sort_unstable();
            let mut want = vec![on_phone.as_str(), on_tablet.as_str()];
            want.sort_unstable();
            assert_eq!(ids, want, "both submissions survive: {d:?}");
            assert_eq!(d.current.as_ref().unwrap().id, want_current);
            assert_eq!(d.status, TimesheetStatus::Submitted);
            assert_eq!(d, &days[0], "every replica derives the same day");
        }
        assert!(timesheet::list(&a).unwrap().is_complete());

        // The coordinator reviews the current one; the day is decided everywhere.
        let mut office = a.fork();
        timesheet::review(
            &mut office,
            &coord(),
            T0 + 14 * HOUR,
            DAY,
            &want_current,
            Decision::Approved,
            None,
        )
        .unwrap();
        sync_checked(&mut b, &mut office, Some(("coord", Role::Coordinator)))
            .expect("the relay takes the review");
        assert_eq!(status(&b), TimesheetStatus::Approved);
    }
}

#[test]
fn a_review_of_the_older_submission_while_another_device_resubmits_stays_submitted() {
    let mut base = sheets();
    let old =
        timesheet::submit(&mut base, &pa1(), T0 + 12 * HOUR, DAY, entry(7, None, 19)).unwrap();
    let (mut office, mut tablet) = (base.fork(), base.fork());
    timesheet::review(
        &mut office,
        &coord(),
        T0 + 13 * HOUR,
        DAY,
        &old,
        Decision::Approved,
        None,
    )
    .unwrap();
    // The tablet's clock is ten minutes behind the phone that submitted first: its
    // correction is still the current one, here and after any merge.
    let new = timesheet::submit(
        &mut tablet,
        &pat_on("pa1-tablet"),
        T0 + 12 * HOUR - 10 * 60_000,
        DAY,
        entry(7, None, 21),
    )
    .unwrap();
    assert_eq!(
        timesheet::read_day(&tablet, DAY)
            .unwrap()
            .unwrap()
            .current
            .unwrap()
            .id,
        new
    );
    // Through the relay, in either order, both accepted.
    for first_office in [true, false] {
        let mut relay = base.fork();
        let (mut o, mut t) = (office.fork(), tablet.fork());
        let mut send = |from: &mut Automerge, who| sync_checked(&mut relay, from, Some(who));
        if first_office {
            send(&mut o, ("coord", Role::Coordinator)).unwrap();
            send(&mut t, ("pa1", Role::Pa)).unwrap();
        } else {
            send(&mut t, ("pa1", Role::Pa)).unwrap();
            send(&mut o, ("coord", Role::Coordinator)).unwrap();
        }
        let d = timesheet::read_day(&relay, DAY).unwrap().unwrap();
        assert_eq!(d.status, TimesheetStatus::Submitted, "{d:?}");
    }
    let mut a = office.fork();
    a.merge(&mut tablet).unwrap();
    let mut b = tablet.fork();
    b.merge(&mut office).unwrap();
    for doc in [&a, &b] {
        let d = timesheet::read_day(doc, DAY).unwrap().unwrap();
        assert_eq!(d.status, TimesheetStatus::Submitted);
        assert_eq!(d.current.as_ref().unwrap().id, new);
        assert_eq!(d.decided_by, None);
        assert_eq!(d.reviews.len(), 1, "the approval of the old one is kept");
        assert_eq!(d.submissions.len(), 2);
    }
}

#[test]
fn a_return_from_a_coordinator_whose_clock_is_behind_still_decides() {
    let mut doc = sheets();
    let sub = timesheet::submit(&mut doc, &pa1(), T0, DAY, entry(7, None, 19)).unwrap();
    timesheet::review(
        &mut doc,
        &coord(),
        T0 + 2 * HOUR,
        DAY,
        &sub,
        Decision::Approved,
        None,
    )
    .unwrap();
    // Another coordinator's laptop, an hour behind, returns it.
    timesheet::review(
        &mut doc,
        &author("coord2", Role::Coordinator),
        T0 + HOUR,
        DAY,
        &sub,
        Decision::Returned,
        Some("wrong day"),
    )
    .unwrap();
    assert_eq!(
        status(&doc),
        TimesheetStatus::Returned {
            note: "wrong day".into()
        }
    );
}

#[test]
fn an_unreadable_entry_is_left_out_with_why_and_hides_no_day() {
    let mut doc = sheets();
    timesheet::submit(&mut doc, &pa1(), T0, DAY, entry(7, None, 19)).unwrap();
    let next = "2026-11-25";
    timesheet::submit(&mut doc, &pa1(), T0, next, entry(31, None, 43)).unwrap();
    let mut broken = raw_submission("pa1");
    broken["wrap"] = json!("late");
    put_raw(&mut doc, "submissions", "s-broken", &broken.to_string());
    put_raw(&mut doc, "reviews", "r-broken", "not json");
    let listing = timesheet::list(&doc).unwrap();
    let days: Vec<&str> = listing.items.iter().map(|d| d.day.as_str()).collect();
    assert_eq!(days, vec![DAY, next], "both days still listed");
    assert!(listing.items.iter().all(|d| d.submissions.len() == 1));
    let mut skipped: Vec<(&str, &str)> = listing
        .unreadable
        .iter()
        .map(|u| (u.id.as_str(), u.what))
        .collect();
    skipped.sort_unstable();
    assert_eq!(
        skipped,
        vec![
            ("r-broken", "timesheet review"),
            ("s-broken", "timesheet submission")
        ]
    );
    let sub = listing
        .unreadable
        .iter()
        .find(|u| u.id == "s-broken")
        .unwrap();
    assert!(sub.why.contains("wrap"), "{}", sub.why);
    assert_eq!(status(&doc), TimesheetStatus::Submitted);
}

// ---------------------------------------------------------------------------------------
// The write rules, as the relay applies them to a client that does not use the model.

fn obj(doc: &Automerge, parent: &ObjId, key: &str) -> ObjId {
    doc.get(parent, key).unwrap().unwrap().1
}

fn ctx_for<'a>(
    kind: &'a DocKind,
    writer: Option<&'a Writer>,
    none: &'a dyn Fn(&str) -> bool,
) -> RuleContext<'a> {
    RuleContext {
        kind,
        writer,
        foreign_document: none,
    }
}

/// Pat's timesheets kind.
fn pat_kind() -> DocKind {
    DocKind::Timesheets {
        member_id: "pa1".into(),
    }
}

/// Syncs `device` with `relay` over the sync protocol, each side applying what it receives
/// through `rules::receive_checked`: the relay as for `writer` (as it does for the
/// connection's token), the device with no writer known (as a device does).
fn sync_checked(
    relay: &mut Automerge,
    device: &mut Automerge,
    writer: Option<(&str, Role)>,
) -> Result<(), Refusal> {
    let w = writer.map(|(m, role)| Writer {
        member_id: m.into(),
        role,
    });
    let none = |_: &str| false;
    let kind = pat_kind();
    let at_relay = ctx_for(&kind, w.as_ref(), &none);
    let at_device = ctx_for(&kind, None, &none);
    let (mut rs, mut ds) = (sync::State::new(), sync::State::new());
    let refused = |e: ReceiveError| match e {
        ReceiveError::Refused(r) => r,
        ReceiveError::Invalid(e) => panic!("bad sync message: {e}"),
    };
    for _ in 0..20 {
        let to_relay = device.generate_sync_message(&mut ds);
        let to_device = relay.generate_sync_message(&mut rs);
        if to_relay.is_none() && to_device.is_none() {
            return Ok(());
        }
        if let Some(m) = to_relay {
            rules::receive_checked(&at_relay, relay, &mut rs, m).map_err(refused)?;
        }
        if let Some(m) = to_device {
            rules::receive_checked(&at_device, device, &mut ds, m).map_err(refused)?;
        }
    }
    panic!("sync did not settle");
}

/// Applies `edit` to a copy of Pat's `doc` and checks it as the relay would for `writer`
/// (or as a device would, with no writer known).
fn check_as(
    doc: &Automerge,
    writer: Option<(&str, Role)>,
    edit: impl FnOnce(&mut Automerge),
) -> Result<(), Refusal> {
    support::check_kind(doc, &pat_kind(), writer, edit)
}

fn submitted() -> (Automerge, String) {
    let mut doc = sheets();
    let id = timesheet::submit(&mut doc, &pa1(), T0, DAY, entry(7, None, 19)).unwrap();
    (doc, id)
}

/// A review as a raw client writes it: the JSON the model stores, by hand.
fn raw_review(by: &str, submission: &str) -> serde_json::Value {
    json!({
        "day": DAY,
        "submission_id": submission,
        "decision": "approved",
        "at": T0,
        "by": by,
    })
}

/// A submission as a raw client writes it: call 07:00, wrap 09:00.
fn raw_submission(by: &str) -> serde_json::Value {
    json!({
        "day": DAY,
        "call": DAY0 + 7 * HOUR,
        "wrap": DAY0 + 9 * HOUR,
        "submitted_at": T0,
        "submitted_by": by,
    })
}

/// Puts `value` at `map/key` as a raw client would: no model, no checks.
fn put_raw(doc: &mut Automerge, map: &str, key: &str, value: &str) {
    let m = obj(doc, &ROOT, map);
    let mut tx = doc.transaction();
    tx.put(&m, key, value).unwrap();
    tx.commit();
}

fn first_key(doc: &Automerge, map: &str) -> String {
    let m = obj(doc, &ROOT, map);
    doc.keys(&m).next().unwrap()
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
    // A raw client writing exactly what the model writes is taken too.
    let r = check_as(&doc, Some(("coord", Role::Coordinator)), |d| {
        put_raw(d, "reviews", "r1", &raw_review("coord", &sub).to_string())
    });
    assert_eq!(r, Ok(()));
}

#[test]
fn a_pa_approving_their_own_timesheet_is_refused() {
    let (doc, sub) = submitted();
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        put_raw(d, "reviews", "r1", &raw_review("pa1", &sub).to_string())
    });
    assert_eq!(r.unwrap_err().rule, Rule::Transition);
}

#[test]
fn a_review_names_its_coordinator_and_a_submission_of_the_day() {
    let (doc, sub) = submitted();
    let as_coord = |v: serde_json::Value| {
        check_as(&doc, Some(("coord", Role::Coordinator)), |d| {
            put_raw(d, "reviews", "r1", &v.to_string())
        })
    };
    assert_eq!(
        as_coord(raw_review("coord2", &sub)).unwrap_err().rule,
        Rule::Authorship
    );
    let refusal = as_coord(raw_review("coord", "made-up")).unwrap_err();
    assert_eq!(refusal.rule, Rule::Shape);
    assert!(refusal.detail.contains("made-up"), "{refusal}");
    // A submission of another day is not one of this day's.
    let mut other_day = raw_review("coord", &sub);
    other_day["day"] = json!("2026-11-25");
    let refusal = as_coord(other_day).unwrap_err();
    assert_eq!(refusal.rule, Rule::Shape);
    assert!(refusal.detail.contains(&sub), "{refusal}");
    let mut returned_silently = raw_review("coord", &sub);
    returned_silently["decision"] = json!("returned");
    assert_eq!(as_coord(returned_silently).unwrap_err().rule, Rule::Shape);
    let mut unknown = raw_review("coord", &sub);
    unknown["decision"] = json!("maybe");
    let refusal = as_coord(unknown).unwrap_err();
    assert_eq!(refusal.rule, Rule::Shape);
    assert!(refusal.detail.contains("decision"), "{refusal}");
}

#[test]
fn editing_an_old_submission_is_refused() {
    let (doc, _) = submitted();
    // Rewriting it in place (more hours), or deleting it.
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        let id = first_key(d, "submissions");
        let mut later = raw_submission("pa1");
        later["wrap"] = json!(DAY0 + 23 * HOUR);
        put_raw(d, "submissions", &id, &later.to_string());
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        let id = first_key(d, "submissions");
        let subs = obj(d, &ROOT, "submissions");
        let mut tx = d.transaction();
        tx.delete(&subs, id.as_str()).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
}

#[test]
fn a_coordinator_submitting_for_someone_else_is_refused() {
    let (doc, _) = submitted();
    let forged = raw_submission("pa1");
    let r = check_as(&doc, Some(("coord", Role::Coordinator)), |d| {
        put_raw(d, "submissions", "s2", &forged.to_string())
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
    // Naming someone else as the author is refused even where the writer is unknown.
    let other = raw_submission("coord");
    let r = check_as(&doc, None, |d| {
        put_raw(d, "submissions", "s2", &other.to_string())
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
    // And a submission the model would not take is refused by shape.
    let mut backwards = forged.clone();
    backwards["wrap"] = json!(DAY0 + 5 * HOUR);
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        put_raw(d, "submissions", "s2", &backwards.to_string())
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
    let mut no_day = forged;
    no_day.as_object_mut().unwrap().remove("day");
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        put_raw(d, "submissions", "s2", &no_day.to_string())
    });
    let refusal = r.unwrap_err();
    assert_eq!(refusal.rule, Rule::Shape);
    assert!(refusal.detail.contains("day"), "{refusal}");
}

#[test]
fn deleting_a_review_or_replacing_the_owner_is_refused() {
    let (mut doc, sub) = submitted();
    timesheet::review(&mut doc, &coord(), T0, DAY, &sub, Decision::Approved, None).unwrap();
    let r = check_as(&doc, Some(("coord", Role::Coordinator)), |d| {
        let id = first_key(d, "reviews");
        let reviews = obj(d, &ROOT, "reviews");
        let mut tx = d.transaction();
        tx.delete(&reviews, id.as_str()).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        let mut tx = d.transaction();
        tx.put(ROOT, "owner", "pa2").unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Containers);
    for map in ["submissions", "reviews"] {
        // Emptied by replacing the map, or deleted outright.
        let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
            let mut tx = d.transaction();
            tx.put_object(ROOT, map, automerge::ObjType::Map).unwrap();
            tx.commit();
        });
        assert_eq!(r.unwrap_err().rule, Rule::Containers, "{map}");
        let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
            let mut tx = d.transaction();
            tx.delete(ROOT, map).unwrap();
            tx.commit();
        });
        assert_eq!(r.unwrap_err().rule, Rule::Containers, "{map}");
    }
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
fn no_container_is_created_after_the_document() {
    let doc = sheets();
    // The old per-day layout: a day's map made by whoever submits first.
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        let mut tx = d.transaction();
        let days = tx
            .put_object(ROOT, "days", automerge::ObjType::Map)
            .unwrap();
        tx.put_object(&days, DAY, automerge::ObjType::Map).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
    // An entry written as a map of fields instead of one JSON string.
    let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
        let subs = obj(d, &ROOT, "submissions");
        let mut tx = d.transaction();
        let s = tx.put_object(&subs, "s1", automerge::ObjType::Map).unwrap();
        tx.put(&s, "day", DAY).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
    // Nor a number, or text that is not JSON.
    for value in [
        automerge::ScalarValue::Int(7),
        automerge::ScalarValue::Str("call at 7".into()),
    ] {
        let r = check_as(&doc, Some(("pa1", Role::Pa)), |d| {
            let subs = obj(d, &ROOT, "submissions");
            let mut tx = d.transaction();
            tx.put(&subs, "s1", value).unwrap();
            tx.commit();
        });
        assert_eq!(r.unwrap_err().rule, Rule::Shape);
    }
}
