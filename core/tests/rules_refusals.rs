//! The write rules on documents with no relay around them: what each rule refuses, and
//! that what a stock JavaScript client naturally writes is accepted.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ReadDoc, ROOT};
use setlink_core::access::{Author, DocKind, Role};
use setlink_core::model::run::{self, NewRun, RunKind};
use setlink_core::model::EventContext;
use setlink_core::rules::{Refusal, Rule};
use support::{check_kind_as, forge_event, obj};

mod support;

const T0: i64 = 1_900_000_000_000;

fn coord() -> Author {
    Author {
        member_id: "coord".into(),
        device_id: "c".into(),
        role: Role::Coordinator,
    }
}

fn board() -> (Automerge, String) {
    let mut doc = Automerge::new();
    run::init_board(&mut doc, &coord(), T0).unwrap();
    let id = run::create_run(
        &mut doc,
        &coord(),
        T0,
        NewRun::new(RunKind::Pickup, "Batteries", "Sound"),
    )
    .unwrap();
    run::assign(&mut doc, &coord(), T0, &id, "pa1", EventContext::none()).unwrap();
    (doc, id)
}

/// Applies `edit` to a copy of `doc` and checks the result as the relay would for `writer`.
fn check_as(
    doc: &Automerge,
    writer: (&str, Role),
    edit: impl FnOnce(&mut Automerge),
) -> Result<(), Refusal> {
    let kind = DocKind::Board {
        day: "2030-06-14".into(),
    };
    check_kind_as(doc, &kind, writer, edit)
}

fn events_obj(doc: &Automerge, run: &str) -> automerge::ObjId {
    obj(doc, &["runs", run, "events"])
}

/// Puts a raw event (JSON) in `run`'s log after its current heads, as a stock client could.
fn forge(doc: &mut Automerge, run: &str, json: serde_json::Value) {
    let log = run::read_run(doc, run).unwrap().events;
    let events = events_obj(doc, run);
    forge_event(doc, &events, &log, T0 + 5, json);
}

#[test]
fn an_event_in_someone_elses_name_is_refused() {
    let (doc, id) = board();
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "accepted", "member": "coord", "role": "coordinator"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
    // The same event in the PA's own name is fine.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "accepted", "member": "pa1", "role": "pa"}),
        )
    });
    assert_eq!(r, Ok(()));
}

#[test]
fn transitions_are_checked_against_what_the_writer_saw() {
    let (doc, id) = board();
    // Delivered on a pickup that was only assigned.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "delivered", "member": "pa1", "role": "pa"}),
        )
    });
    let e = r.unwrap_err();
    assert_eq!(e.rule, Rule::Transition);
    assert!(e.detail.contains("picked up"), "{e}");
    // A PA may not cancel; another PA may not move pa1's run.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "cancelled", "member": "pa1", "role": "pa"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Transition);
    let r = check_as(&doc, ("pa2", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "en_route", "member": "pa2", "role": "pa"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Transition);
}

#[test]
fn an_unassignment_is_a_planners_and_needs_someone_to_take_off() {
    let (doc, id) = board();
    let unassign = |member: &str, role: &str| serde_json::json!({"kind": "assigned", "member": member, "role": role});
    // A PA may not take a run off anyone.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(d, &id, unassign("pa1", "pa"))
    });
    let e = r.unwrap_err();
    assert_eq!(e.rule, Rule::Transition);
    assert!(e.detail.contains("unassign"), "{e}");
    // The office may, as the op writes it.
    let ok = check_as(&doc, ("office1", Role::Office), |d| {
        run::unassign(
            d,
            &Author {
                member_id: "office1".into(),
                device_id: "o".into(),
                role: Role::Office,
            },
            T0 + 5,
            &id,
            EventContext::none(),
        )
        .unwrap();
    });
    assert_eq!(ok, Ok(()));
    // Not on a run nobody has, and an assignment names someone.
    let mut fresh = doc.fork();
    let other = run::create_run(
        &mut fresh,
        &coord(),
        T0,
        NewRun::new(RunKind::Other, "Signs", "Locations"),
    )
    .unwrap();
    let r = check_as(&fresh, ("coord", Role::Coordinator), |d| {
        forge(d, &other, unassign("coord", "coordinator"))
    });
    let e = r.unwrap_err();
    assert!(e.detail.contains("not assigned"), "{e}");
    let r = check_as(&fresh, ("coord", Role::Coordinator), |d| {
        forge(
            d,
            &other,
            serde_json::json!({"kind": "assigned", "member": "coord", "role": "coordinator", "assignee": " "}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Transition);
}

#[test]
fn history_is_append_only_and_runs_are_never_deleted() {
    let (doc, id) = board();
    let r = check_as(&doc, ("coord", Role::Coordinator), |d| {
        let events = events_obj(d, &id);
        let keys: Vec<String> = d.keys(&events).collect();
        let mut tx = d.transaction();
        tx.delete(&events, keys[0].as_str()).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    let r = check_as(&doc, ("coord", Role::Coordinator), |d| {
        let events = events_obj(d, &id);
        let keys: Vec<String> = d.keys(&events).collect();
        let mut tx = d.transaction();
        tx.put(&events, keys[0].as_str(), "{}").unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    let r = check_as(&doc, ("coord", Role::Coordinator), |d| {
        let runs = d.get(ROOT, "runs").unwrap().unwrap().1;
        let mut tx = d.transaction();
        tx.delete(&runs, id.as_str()).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::NeverDeleted);
}

#[test]
fn wrong_types_are_refused_and_javascript_text_is_accepted() {
    let (doc, id) = board();
    let run_obj = |d: &Automerge| {
        let runs = d.get(ROOT, "runs").unwrap().unwrap().1;
        d.get(&runs, id.as_str()).unwrap().unwrap().1
    };
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let o = run_obj(d);
        let mut tx = d.transaction();
        tx.put(&o, "priority", 42).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
    // `d.runs[id].title = "…"` in Automerge JS stores Text.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let o = run_obj(d);
        let mut tx = d.transaction();
        let t = tx.put_object(&o, "title", ObjType::Text).unwrap();
        tx.splice_text(&t, 0, 0, "Batteries, AA and 9V").unwrap();
        tx.commit();
    });
    assert_eq!(r, Ok(()));
}

#[test]
fn commit_metadata_naming_someone_else_is_refused() {
    let (doc, id) = board();
    // The coordinator's own op, sent by a PA's connection.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        run::add_comment(d, &coord(), T0 + 9, &id, "looks fine").unwrap();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
}

#[test]
fn a_comment_is_added_in_its_writers_name_and_never_edited() {
    let (doc, id) = board();
    let pa = Author {
        member_id: "pa1".into(),
        device_id: "p".into(),
        role: Role::Pa,
    };
    // The PA's own comment, written by the app: accepted.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        run::add_comment(d, &pa, T0 + 9, &id, "at the counter").unwrap();
    });
    assert_eq!(r, Ok(()));
    // A comment naming the coordinator, inserted the way a foreign client would (no
    // commit metadata): refused.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let runs = d.get(ROOT, "runs").unwrap().unwrap().1;
        let run_obj = d.get(&runs, id.as_str()).unwrap().unwrap().1;
        let comments = d.get(&run_obj, "comments").unwrap().unwrap().1;
        let mut tx = d.transaction();
        let c = tx.insert_object(&comments, 0, ObjType::Map).unwrap();
        tx.put(&c, "id", "c-forged").unwrap();
        tx.put(&c, "author", "coord").unwrap();
        tx.put(&c, "at", T0 + 9).unwrap();
        tx.put(&c, "text", "cancel this").unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
    // Editing an existing comment: refused.
    let mut with_comment = doc.fork();
    run::add_comment(&mut with_comment, &pa, T0 + 9, &id, "at the counter").unwrap();
    let r = check_as(&with_comment, ("pa1", Role::Pa), |d| {
        let runs = d.get(ROOT, "runs").unwrap().unwrap().1;
        let run_obj = d.get(&runs, id.as_str()).unwrap().unwrap().1;
        let comments = d.get(&run_obj, "comments").unwrap().unwrap().1;
        let first = d.get(&comments, 0).unwrap().unwrap().1;
        let mut tx = d.transaction();
        tx.put(&first, "text", "never mind").unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
}

#[test]
fn production_settings_hold_a_whole_hospital_and_locations_with_basecamp() {
    use setlink_core::model::callsheet::Hospital;
    use setlink_core::model::production::{self, MemberInfo, ProductionInfo};
    let mut doc = Automerge::new();
    let info = ProductionInfo {
        title: "Night Shift".into(),
        company: "Owl Pictures".into(),
        timezone: "UTC".into(),
        ..Default::default()
    };
    production::init_production(
        &mut doc,
        &coord(),
        T0,
        &setlink_core::DocumentId::random(),
        info.clone(),
        MemberInfo::new("Casey", Role::Coordinator),
    )
    .unwrap();
    let mut good = info.clone();
    good.nearest_hospital = Some(Hospital {
        name: "St. Mary's".into(),
        address: "450 Stanyan St".into(),
        phone: "555-0199".into(),
    });
    let mut loc = production::new_location("Harbor Warehouse", "12 Dock St");
    loc.basecamp = Some("Pier 3".into());
    good.locations.push(loc);
    let kind = DocKind::Production;
    check_kind_as(&doc, &kind, ("coord", Role::Coordinator), |d| {
        production::update_production(d, &coord(), T0, good.clone()).unwrap();
    })
    .expect("a coordinator sets the hospital and a basecamp");
    // A hospital without a phone, written raw as another client could.
    let e = check_kind_as(&doc, &kind, ("coord", Role::Coordinator), |d| {
        let p = d.get(ROOT, "production").unwrap().unwrap().1;
        let mut tx = d.transaction();
        let h = tx.put_object(&p, "nearest_hospital", ObjType::Map).unwrap();
        tx.put(&h, "name", "St. Mary's").unwrap();
        tx.put(&h, "address", "450 Stanyan St").unwrap();
        tx.put(&h, "phone", "").unwrap();
        tx.commit();
    })
    .unwrap_err();
    assert_eq!(e.rule, Rule::Shape, "{e:?}");
    assert!(e.detail.contains("hospital phone"), "{e:?}");
}
