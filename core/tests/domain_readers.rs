//! Readers degrade, never fail whole (PRODUCT.md promise 6): text a JavaScript automerge
//! client writes as Text objects reads back, and a record that cannot be read is skipped
//! and reported (with the field at fault) while everything else on the board, sheet or
//! member list shows.

mod domain_support;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ROOT};
use domain_support::*;
use setlink_core::model::callsheet::{self, CallSheet, Scene};
use setlink_core::model::member::{self, AckLevel};
use setlink_core::model::production::{self, MemberInfo, ProductionInfo};
use setlink_core::model::run::{self, NewRun, RunEvent, RunKind, StopInput};
use setlink_core::model::task::{self, NewTask, TaskCategory};
use setlink_core::model::{DomainError, EventContext, Priority};
use setlink_core::{DocumentId, Role};

const DAY: &str = "2026-11-24";

fn obj(doc: &Automerge, parent: &ObjId, key: &str) -> ObjId {
    doc.get(parent, key).unwrap().unwrap().1
}

/// Replaces `parent[key]` by a Text object holding `text`, the way automerge JS stores
/// `parent[key] = text`.
fn put_text(doc: &mut Automerge, parent: &ObjId, key: &str, text: &str) {
    let mut tx = doc.transaction();
    let t = tx.put_object(parent, key, ObjType::Text).unwrap();
    tx.splice_text(&t, 0, 0, text).unwrap();
    tx.commit();
}

fn put<V: Into<automerge::ScalarValue>>(doc: &mut Automerge, parent: &ObjId, key: &str, v: V) {
    let mut tx = doc.transaction();
    tx.put(parent, key, v).unwrap();
    tx.commit();
}

fn run_obj(doc: &Automerge, id: &str) -> ObjId {
    let runs = obj(doc, &ROOT, "runs");
    obj(doc, &runs, id)
}

fn new_run(doc: &mut Automerge, title: &str, needed_by: Option<i64>) -> String {
    let mut n = NewRun::new(RunKind::Pickup, title, "AD");
    n.needed_by = needed_by;
    n.stops.push(StopInput {
        label: "Panavision".into(),
        ..Default::default()
    });
    run::create_run(doc, &office(), T0, n).unwrap()
}

#[test]
fn runs_written_as_text_by_a_javascript_client_read_back() {
    let mut doc = board();
    let id = new_run(&mut doc, "scalar title", None);
    let r = run_obj(&doc, &id);
    put_text(&mut doc, &r, "title", "Pick up lenses");
    put_text(&mut doc, &r, "priority", "urgent");
    put_text(&mut doc, &r, "department", "Camera");
    let stops = obj(&doc, &r, "stops");
    let stop = doc.get(&stops, 0).unwrap().unwrap().1;
    put_text(&mut doc, &stop, "label", "Panavision Woodland Hills");
    put_text(&mut doc, &stop, "notes", "ask for Dee");
    let stop_id = run::read_run(&doc, &id).unwrap().record.stops[0].id.clone();
    put_text(&mut doc, &stop, "id", &stop_id);
    // A JavaScript client leaves out optional fields it has no value for.
    {
        let mut tx = doc.transaction();
        tx.delete(&stop, "address").unwrap();
        tx.commit();
    }

    let run = run::read_run(&doc, &id).unwrap();
    assert_eq!(run.record.title, "Pick up lenses");
    assert_eq!(run.record.priority, Priority::Urgent);
    assert_eq!(run.record.department.as_deref(), Some("Camera"));
    assert_eq!(run.record.stops[0].label, "Panavision Woodland Hills");
    assert_eq!(run.record.stops[0].notes.as_deref(), Some("ask for Dee"));
    assert_eq!(run.record.stops[0].address, None);
    let listed = run::list_runs(&doc).unwrap();
    assert!(listed.is_complete(), "{:?}", listed.unreadable);
    assert_eq!(listed.items, vec![run]);

    // Editing a stop found by its Text id works, and writes scalar strings.
    run::edit_stop(
        &mut doc,
        &office(),
        T0 + 1,
        &id,
        &stop_id,
        StopInput {
            label: "Panavision WH".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let (value, _) = doc.get(&stop, "label").unwrap().unwrap();
    assert_eq!(value.as_str(), Some("Panavision WH"));
    // Status changes read the run's kind, Text or not.
    put_text(&mut doc, &r, "kind", "drop_off");
    run::assign(&mut doc, &coord(), T0 + 2, &id, "pa1", EventContext::none()).unwrap();
    run::record_status(
        &mut doc,
        &pa1(),
        T0 + 3,
        &id,
        RunEvent::Deliver,
        EventContext::none(),
    )
    .unwrap();
    assert_eq!(
        run::read_run(&doc, &id).unwrap().record.kind,
        RunKind::DropOff
    );
}

#[test]
fn a_board_with_an_unreadable_run_lists_the_others_and_reports_it() {
    let mut doc = board();
    let good = new_run(&mut doc, "good", Some(T0 + 10));
    let text = new_run(&mut doc, "scalar", Some(T0 + 20));
    let bad = new_run(&mut doc, "bad", Some(T0 + 30));
    let r = run_obj(&doc, &text);
    put_text(&mut doc, &r, "title", "Text-titled");
    let r = run_obj(&doc, &bad);
    put(&mut doc, &r, "priority", 42);

    let listed = run::list_runs(&doc).unwrap();
    let titles: Vec<&str> = listed
        .items
        .iter()
        .map(|r| r.record.title.as_str())
        .collect();
    assert_eq!(titles, vec!["good", "Text-titled"]);
    assert_eq!(listed.unreadable.len(), 1, "{:?}", listed.unreadable);
    let u = &listed.unreadable[0];
    assert_eq!((u.id.as_str(), u.what), (bad.as_str(), "run"));
    assert!(u.why.contains("`priority`"), "{}", u.why);
    assert!(!listed.is_complete());

    // One run read on its own still fails, naming the field.
    let e = run::read_run(&doc, &bad).unwrap_err();
    assert!(matches!(e, DomainError::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("`priority`"), "{e}");
    assert_eq!(run::read_run(&doc, &good).unwrap().record.title, "good");

    // A run entry that is not even a map, and a nested field at fault.
    let runs = obj(&doc, &ROOT, "runs");
    put(&mut doc, &runs, "junk", "a string");
    let r = run_obj(&doc, &good);
    let stops = obj(&doc, &r, "stops");
    let stop = doc.get(&stops, 0).unwrap().unwrap().1;
    put(&mut doc, &stop, "label", true);
    let listed = run::list_runs(&doc).unwrap();
    assert_eq!(listed.items.len(), 1);
    let why: Vec<(&str, &str)> = listed
        .unreadable
        .iter()
        .map(|u| (u.id.as_str(), u.why.as_str()))
        .collect();
    assert!(
        why.iter()
            .any(|(id, w)| *id == good && w.contains("`stops[0].label`")),
        "{why:?}"
    );
    assert!(
        why.iter()
            .any(|(id, w)| *id == "junk" && w.contains("not a map")),
        "{why:?}"
    );
}

#[test]
fn a_pas_list_and_the_late_list_report_unreadable_runs_that_may_belong_there() {
    let mut doc = board();
    let mine = new_run(&mut doc, "mine", Some(T0));
    let mine_bad = new_run(&mut doc, "mine, bad", Some(T0));
    let theirs_bad = new_run(&mut doc, "theirs, bad", Some(T0));
    let done_bad = new_run(&mut doc, "done, bad", Some(T0));
    for id in [&mine, &mine_bad, &done_bad] {
        run::assign(&mut doc, &coord(), T0, id, "pa1", EventContext::none()).unwrap();
    }
    run::assign(
        &mut doc,
        &coord(),
        T0,
        &theirs_bad,
        "pa2",
        EventContext::none(),
    )
    .unwrap();
    run::record_status(
        &mut doc,
        &coord(),
        T0,
        &done_bad,
        RunEvent::Cancel,
        EventContext::none(),
    )
    .unwrap();
    for id in [&mine_bad, &theirs_bad, &done_bad] {
        let r = run_obj(&doc, id);
        put(&mut doc, &r, "needed_by", "soon");
    }

    let l = run::runs_for(&doc, "pa1").unwrap();
    assert_eq!(
        l.items.iter().map(|r| r.id()).collect::<Vec<_>>(),
        vec![mine.as_str()]
    );
    assert_eq!(
        l.unreadable
            .iter()
            .map(|u| u.id.as_str())
            .collect::<Vec<_>>(),
        vec![mine_bad.as_str()]
    );
    assert!(
        l.unreadable[0].why.contains("`needed_by`"),
        "{:?}",
        l.unreadable
    );

    let late = run::late_runs(&doc, T0 + 1).unwrap();
    assert_eq!(late.items.len(), 1);
    let mut reported: Vec<&str> = late.unreadable.iter().map(|u| u.id.as_str()).collect();
    reported.sort();
    let mut open_bad = vec![mine_bad.as_str(), theirs_bad.as_str()];
    open_bad.sort();
    assert_eq!(reported, open_bad);
}

#[test]
fn a_board_with_an_unreadable_task_lists_the_others() {
    let mut doc = board();
    let good = task::create_task(
        &mut doc,
        &office(),
        T0,
        NewTask::new("good", TaskCategory::Phones),
    )
    .unwrap();
    let text = task::create_task(
        &mut doc,
        &office(),
        T0,
        NewTask::new("x", TaskCategory::Filing),
    )
    .unwrap();
    let bad = task::create_task(
        &mut doc,
        &office(),
        T0,
        NewTask::new("bad", TaskCategory::Other),
    )
    .unwrap();
    let tasks = obj(&doc, &ROOT, "tasks");
    let t = obj(&doc, &tasks, &text);
    put_text(&mut doc, &t, "title", "Order walkie batteries");
    put_text(&mut doc, &t, "category", "supply_run");
    let t = obj(&doc, &tasks, &bad);
    put(&mut doc, &t, "category", "teleportation");

    let l = task::list_tasks(&doc).unwrap();
    let mut titles: Vec<&str> = l.items.iter().map(|t| t.record.title.as_str()).collect();
    titles.sort();
    assert_eq!(titles, vec!["Order walkie batteries", "good"]);
    assert_eq!(l.unreadable.len(), 1);
    assert_eq!(
        (l.unreadable[0].id.as_str(), l.unreadable[0].what),
        (bad.as_str(), "task")
    );
    assert!(
        l.unreadable[0].why.contains("`category`"),
        "{:?}",
        l.unreadable
    );
    assert!(task::read_task(&doc, &bad).is_err());
    assert_eq!(task::read_task(&doc, &good).unwrap().record.title, "good");
}

fn sheet() -> CallSheet {
    let mut s = CallSheet::for_day(DAY, "Night Shift");
    s.times.general_call = Some(7 * 60);
    s.header.director = Some("R. Lee".into());
    for (id, number) in [("s1", "1"), ("s2", "2")] {
        s.scenes.push(Scene {
            id: id.into(),
            number: number.into(),
            set: "Diner".into(),
            ..Default::default()
        });
    }
    s
}

fn draft() -> Automerge {
    let mut d = Automerge::new();
    callsheet::init_draft(&mut d, &coord(), T0, DAY, sheet()).unwrap();
    d
}

fn sheet_obj(d: &Automerge) -> ObjId {
    obj(d, &ROOT, "sheet")
}

fn scene_obj(d: &Automerge, sheet: &ObjId, i: usize) -> ObjId {
    let scenes = obj(d, sheet, "scenes");
    d.get(&scenes, i).unwrap().unwrap().1
}

#[test]
fn call_sheet_fields_written_as_text_read_back() {
    let mut d = draft();
    let s = sheet_obj(&d);
    let header = obj(&d, &s, "header");
    put_text(&mut d, &header, "production_title", "Night Shift (JS)");
    put_text(&mut d, &header, "director", "R. Lee (JS)");
    let scene = scene_obj(&d, &s, 0);
    put_text(&mut d, &scene, "set", "Diner (JS)");
    put_text(&mut d, &scene, "int_ext", "EXT");
    {
        let mut tx = d.transaction();
        let list = tx.put_object(&header, "producers", ObjType::List).unwrap();
        let t = tx.insert_object(&list, 0, ObjType::Text).unwrap();
        tx.splice_text(&t, 0, 0, "M. Chen").unwrap();
        tx.commit();
    }
    let read = callsheet::read_draft(&d).unwrap();
    assert!(read.is_complete(), "{:?}", read.unreadable);
    let v = read.value;
    assert_eq!(v.header.production_title, "Night Shift (JS)");
    assert_eq!(v.header.director.as_deref(), Some("R. Lee (JS)"));
    assert_eq!(v.header.producers, vec!["M. Chen".to_string()]);
    assert_eq!(v.scenes[0].set, "Diner (JS)");
    assert_eq!(v.scenes[0].int_ext, callsheet::IntExt::Ext);
    assert_eq!(callsheet::read_draft_strict(&d).unwrap(), v);

    // The draft publishes, and the revision reads back the same.
    let mut p = Automerge::new();
    callsheet::init_published(&mut p, &coord(), T0, DAY).unwrap();
    callsheet::publish(&d, &mut p, &coord(), T0, "").unwrap();
    let revs = callsheet::read_revisions(&p).unwrap();
    assert!(revs.is_complete());
    assert_eq!(revs.items[0].sheet, v);
}

#[test]
fn a_draft_with_an_unreadable_row_shows_the_rest_and_refuses_to_publish_it() {
    let mut d = draft();
    let s = sheet_obj(&d);
    let scene = scene_obj(&d, &s, 1);
    put(&mut d, &scene, "pages_eighths", "lots");
    let weather = obj(&d, &s, "weather");
    put(&mut d, &weather, "high", "hot");

    let read = callsheet::read_draft(&d).unwrap();
    assert_eq!(
        read.value
            .scenes
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        vec!["s1"]
    );
    assert_eq!(read.value.header.director.as_deref(), Some("R. Lee"));
    assert_eq!(read.value.times.general_call, Some(7 * 60));
    let what: Vec<(&str, &str)> = read
        .unreadable
        .iter()
        .map(|u| (u.what, u.id.as_str()))
        .collect();
    assert_eq!(
        what,
        vec![("call sheet section", "weather"), ("scene", "s2")]
    );
    assert!(
        read.unreadable[1].why.contains("`pages_eighths`"),
        "{:?}",
        read.unreadable
    );

    // Edits and publishing need the exact sheet: refused, naming the field.
    let e = refused(&mut d, |d| {
        callsheet::set_general_call(d, &coord(), T0, 8 * 60)
    });
    assert!(matches!(e, DomainError::Corrupt(_)) && e.to_string().contains("`weather.high`"));
    let mut p = Automerge::new();
    callsheet::init_published(&mut p, &coord(), T0, DAY).unwrap();
    let e = refused(&mut p, |p| callsheet::publish(&d, p, &coord(), T0, ""));
    assert!(matches!(e, DomainError::Corrupt(_)), "{e}");

    // Replacing the whole sheet (what an editor showing every row saves) works.
    let mut fixed = read.value.clone();
    fixed.weather.high = Some(70);
    callsheet::replace_draft(&mut d, &coord(), T0 + 1, fixed.clone()).unwrap();
    let read = callsheet::read_draft(&d).unwrap();
    assert!(read.is_complete(), "{:?}", read.unreadable);
    assert_eq!(read.value, fixed);
    callsheet::publish(&d, &mut p, &coord(), T0 + 2, "").unwrap();
}

#[test]
fn published_revisions_skip_what_cannot_be_read_and_say_so() {
    let d = draft();
    let mut p = Automerge::new();
    callsheet::init_published(&mut p, &coord(), T0, DAY).unwrap();
    for (i, summary) in ["", "pages", "cast"].into_iter().enumerate() {
        callsheet::publish(&d, &mut p, &coord(), T0 + i as i64, summary).unwrap();
    }
    let revisions = obj(&p, &ROOT, "revisions");
    let by_number = |p: &Automerge, n: i64| {
        (0..p.length(&revisions))
            .map(|i| p.get(&revisions, i).unwrap().unwrap().1)
            .find(|r| p.get(r, "number").unwrap().unwrap().0.as_i64() == Some(n))
            .unwrap()
    };
    // Revision 2: one bad scene row. Revision 3: its colour is not a colour.
    let r2 = by_number(&p, 2);
    let s2 = obj(&p, &r2, "sheet");
    let scene = scene_obj(&p, &s2, 0);
    put(&mut p, &scene, "number", 7);
    let r3 = by_number(&p, 3);
    put(&mut p, &r3, "colour", "Plaid");

    let l = callsheet::read_revisions(&p).unwrap();
    assert_eq!(
        l.items.iter().map(|r| r.number).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(l.items[1].sheet.scenes.len(), 1);
    assert_eq!(l.unreadable.len(), 2, "{:?}", l.unreadable);
    let scene_u = l.unreadable.iter().find(|u| u.what == "scene").unwrap();
    assert_eq!(scene_u.id, "s1");
    assert!(
        scene_u.why.starts_with("revision 2 (Blue): ") && scene_u.why.contains("`number`"),
        "{}",
        scene_u.why
    );
    let rev_u = l
        .unreadable
        .iter()
        .find(|u| u.what == "call sheet revision")
        .unwrap();
    assert!(rev_u.why.contains("`colour`"), "{}", rev_u.why);
    // The latest readable revision is what phones show.
    assert_eq!(callsheet::latest_revision(&p).unwrap().number, 2);
    // The next revision still counts the unreadable one.
    let next = callsheet::publish(&d, &mut p, &coord(), T0 + 10, "again").unwrap();
    assert_eq!(next.number, 4);
}

#[test]
fn acknowledgements_this_version_cannot_read_are_reported() {
    let mut m = Automerge::new();
    member::init_member_doc(&mut m, &pa1(), T0).unwrap();
    member::acknowledge(&mut m, &pa1(), T0, DAY, 1, AckLevel::Opened).unwrap();
    put(&mut m, &ROOT, &format!("ack/{DAY}/1/teleported"), T0);
    put(&mut m, &ROOT, &format!("ack/{DAY}/two/received"), T0);
    put(&mut m, &ROOT, &format!("ack/{DAY}/2/received"), "yesterday");
    put(&mut m, &ROOT, "ack/oops", T0);
    let l = member::read_acks(&m);
    assert_eq!(l.items.len(), 1);
    assert!(l.items[0].has(AckLevel::Opened) && !l.items[0].has(AckLevel::Confirmed));
    let mut ids: Vec<&str> = l.unreadable.iter().map(|u| u.id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![
            format!("ack/{DAY}/1/teleported").as_str(),
            format!("ack/{DAY}/2/received").as_str(),
            format!("ack/{DAY}/two/received").as_str(),
            "ack/oops",
        ]
    );
    assert!(l.unreadable.iter().all(|u| u.what == "acknowledgement"));
    // An owner written as Text by a JavaScript client is still the owner.
    let mut js = Automerge::new();
    put_text(&mut js, &ROOT, "owner", "pa1");
    member::acknowledge(&mut js, &pa1(), T0, DAY, 1, AckLevel::Received).unwrap();
}

#[test]
fn a_member_that_cannot_be_read_does_not_hide_the_others() {
    let id = DocumentId::random();
    let mut doc = Automerge::new();
    let info = ProductionInfo {
        title: "Night Shift".into(),
        company: "Owl Pictures".into(),
        timezone: "America/Los_Angeles".into(),
        ..Default::default()
    };
    production::init_production(
        &mut doc,
        &coord(),
        T0,
        &id,
        info,
        MemberInfo::new("Casey", Role::Coordinator),
    )
    .unwrap();
    production::add_member(
        &mut doc,
        &coord(),
        T0,
        "pa1",
        MemberInfo::new("Pat", Role::Pa),
    )
    .unwrap();
    production::add_member(
        &mut doc,
        &coord(),
        T0,
        "pa2",
        MemberInfo::new("Sam", Role::Pa),
    )
    .unwrap();
    let members = obj(&doc, &ROOT, "members");
    let pa1 = obj(&doc, &members, "pa1");
    put_text(&mut doc, &pa1, "name", "Pat (JS)");
    put_text(&mut doc, &pa1, "role", "pa");
    let pa2 = obj(&doc, &members, "pa2");
    put(&mut doc, &pa2, "role", "stunt double");
    let production_obj = obj(&doc, &ROOT, "production");
    put_text(&mut doc, &production_obj, "title", "Night Shift (JS)");

    let l = production::read_members(&doc).unwrap();
    assert_eq!(
        l.items
            .iter()
            .map(|m| m.info.name.as_str())
            .collect::<Vec<_>>(),
        vec!["Casey", "Pat (JS)"]
    );
    assert_eq!(l.unreadable.len(), 1);
    assert_eq!(
        (l.unreadable[0].id.as_str(), l.unreadable[0].what),
        ("pa2", "member")
    );
    assert!(l.unreadable[0].why.contains("`role`"), "{:?}", l.unreadable);
    let p = production::read_production(&doc).unwrap();
    assert_eq!(p.info.title, "Night Shift (JS)");
    assert_eq!(p.members.len(), 2);
    assert_eq!(p.unreadable, l.unreadable);
    assert!(production::read_member(&doc, "pa2").is_err());
}
