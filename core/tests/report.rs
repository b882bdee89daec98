//! The daily production report: drafting from a call sheet and the day's data, redrafting
//! under what the AD typed, publishing frozen numbered revisions, and the write rules as an
//! outside client meets them.

mod domain_support;
mod support;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ReadDoc, ROOT};
use domain_support::*;
use setlink_core::access::{DocKind, Role};
use setlink_core::model::callsheet::{Background, CallSheet, Meal, Scene, Times};
use setlink_core::model::report::{self, *};
use setlink_core::model::DomainError;
use setlink_core::rules::{Refusal, Rule};
use support::check_kind_as;

const DAY: &str = "2026-11-24";
/// Midnight starting DAY, UTC: the tests place minutes of the shoot day from it.
const MIDNIGHT: i64 = T0 - 8 * 3_600_000;

fn at(minutes: i64) -> i64 {
    MIDNIGHT + minutes * 60_000
}

/// Minutes of the shoot day to instants, as the relay does in the production's zone
/// (UTC here), refusing what is past 48:00.
fn day_of(m: i64) -> Option<i64> {
    (0..=2880).contains(&m).then(|| at(m))
}

fn scene(id: &str, number: &str, eighths: i64) -> Scene {
    Scene {
        id: id.into(),
        number: number.into(),
        set: format!("INT. SET {number}"),
        pages_eighths: eighths,
        ..Default::default()
    }
}

fn sheet() -> CallSheet {
    let mut s = CallSheet::for_day(DAY, "Night Shift");
    s.header.day_number = Some(3);
    s.header.total_days = Some(30);
    s.times = Times {
        general_call: Some(7 * 60),
        shooting_call: Some(8 * 60),
        meals: vec![Meal {
            label: "Lunch".into(),
            at: 13 * 60,
        }],
        estimated_wrap: Some(19 * 60),
    };
    s.scenes = vec![scene("s1", "42A", 12), scene("s2", "43", 5)];
    s.background = vec![Background {
        id: "b1".into(),
        count: 20,
        description: "Diner patrons".into(),
        ..Default::default()
    }];
    s
}

fn tally() -> Vec<BackgroundLine> {
    vec![BackgroundLine {
        description: "Diner patrons".into(),
        expected: 20,
        used: 18,
    }]
}

fn gear() -> Vec<(String, usize)> {
    vec![("Walkie".into(), 2), ("C-stand".into(), 1)]
}

fn drafted() -> ReportContent {
    draft_from(&sheet(), day_of, 7, 2, &tally(), &gear())
}

fn new_report() -> Automerge {
    let mut doc = Automerge::new();
    init_report(&mut doc, &coord(), T0, DAY).unwrap();
    doc
}

/// The AD's day: scenes marked, an incident and the real wrap typed.
fn typed(mut r: ReportContent) -> ReportContent {
    r.scenes[0].status = Shot::Shot;
    r.scenes[0].pages_shot_eighths = 12;
    r.scenes[1].status = Shot::PartShot;
    r.scenes[1].pages_shot_eighths = 3;
    r.incidents = "Grip twisted an ankle at 14:10; first aid on set, back at work.".into();
    r.notes = "Lost 40 minutes to rain.".into();
    r.times.camera_wrap = Some(at(19 * 60 + 40));
    r.times.last_out = Some(at(20 * 60 + 30));
    r
}

#[test]
fn a_draft_comes_from_the_call_sheet_and_the_days_data() {
    let r = drafted();
    assert_eq!(r.day, DAY);
    assert_eq!(r.production_title, "Night Shift");
    assert_eq!((r.day_number, r.total_days), (Some(3), Some(30)));
    assert_eq!(r.times.crew_call, Some(at(420)));
    assert_eq!(r.times.first_shot, Some(at(480)));
    assert_eq!(r.times.camera_wrap, Some(at(1140)));
    assert_eq!(r.times.last_out, None, "nobody has left yet");
    assert_eq!(
        r.times.meals,
        vec![ReportMeal {
            label: "Lunch".into(),
            at: at(780)
        }]
    );
    let numbers: Vec<(&str, Shot)> = r
        .scenes
        .iter()
        .map(|s| (s.number.as_str(), s.status))
        .collect();
    assert_eq!(numbers, [("42A", Shot::NotShot), ("43", Shot::NotShot)]);
    assert_eq!((r.scheduled_eighths(), r.shot_eighths()), (17, 0));
    assert_eq!(r.background, tally());
    assert_eq!((r.runs_completed, r.runs_not_completed), (7, 2));
    let gear: Vec<(&str, i64)> = r
        .gear_out
        .iter()
        .map(|g| (g.what.as_str(), g.count))
        .collect();
    assert_eq!(gear, [("Walkie", 2), ("C-stand", 1)]);
    assert!(r.incidents.is_empty() && r.notes.is_empty());
    assert_eq!(r.validate(), Ok(()));

    // Without a background tally, the sheet's background is expected and none used.
    let r = draft_from(&sheet(), day_of, 0, 0, &[], &[]);
    assert_eq!(
        r.background,
        [BackgroundLine {
            description: "Diner patrons".into(),
            expected: 20,
            used: 0
        }]
    );
    // A time the zone cannot place is left empty rather than guessed.
    let r = draft_from(&sheet(), |_| None, 0, 0, &[], &[]);
    assert_eq!(r.times, ReportTimes::default());
}

#[test]
fn a_redraft_keeps_what_the_ad_typed() {
    let previous = typed(drafted());
    // The sheet changed meanwhile: scene 43 was cut and 44 added; more runs are done.
    let mut sheet = sheet();
    sheet.scenes = vec![scene("s1", "42A", 12), scene("s3", "44", 8)];
    let fresh = draft_from(&sheet, day_of, 9, 0, &tally(), &[]);
    let r = redraft(&previous, fresh);
    assert_eq!(r.incidents, previous.incidents);
    assert_eq!(r.notes, previous.notes);
    assert_eq!(r.times.camera_wrap, Some(at(19 * 60 + 40)));
    assert_eq!(r.times.last_out, Some(at(20 * 60 + 30)));
    assert_eq!(r.times.crew_call, Some(at(420)));
    let marks: Vec<(&str, Shot, i64)> = r
        .scenes
        .iter()
        .map(|s| (s.number.as_str(), s.status, s.pages_shot_eighths))
        .collect();
    // 42A stays shot, 44 is new and not shot, 43 was part shot so it stays on the report.
    assert_eq!(
        marks,
        [
            ("42A", Shot::Shot, 12),
            ("44", Shot::NotShot, 0),
            ("43", Shot::PartShot, 3)
        ]
    );
    assert_eq!((r.runs_completed, r.runs_not_completed), (9, 0));
    assert!(r.gear_out.is_empty(), "counts are the fresh ones");
    assert_eq!(r.validate(), Ok(()));
}

#[test]
fn publishing_freezes_a_numbered_revision() {
    let mut doc = new_report();
    let blank = read_draft(&doc).unwrap();
    assert!(blank.is_complete());
    assert_eq!(blank.value, ReportContent::blank(DAY));
    assert_eq!(latest_revision(&doc).unwrap(), None);

    let first = typed(drafted());
    save_draft(&mut doc, &coord(), T0 + 1, first.clone()).unwrap();
    assert_eq!(read_draft_strict(&doc).unwrap(), first);
    assert_eq!(report::publish(&mut doc, &coord(), T0 + 2, "").unwrap(), 1);

    // The draft moves on; revision 1 does not.
    let mut second = first.clone();
    second
        .incidents
        .push_str(" Follow-up: cleared by the medic.");
    save_draft(&mut doc, &coord(), T0 + 3, second.clone()).unwrap();
    let revs = read_revisions(&doc).unwrap();
    assert!(revs.is_complete());
    assert_eq!(revs.items.len(), 1);
    let r1 = &revs.items[0];
    assert_eq!((r1.number, r1.published_at), (1, T0 + 2));
    assert_eq!(r1.published_by, "coord");
    assert_eq!(r1.report, first);

    // The second needs a summary, then is numbered 2.
    let e = refused(&mut doc, |d| report::publish(d, &coord(), T0 + 4, " "));
    assert!(
        matches!(
            e,
            DomainError::InvalidValue {
                field: "summary of changes",
                ..
            }
        ),
        "{e}"
    );
    let n = report::publish(&mut doc, &coord(), T0 + 4, "medic's note").unwrap();
    assert_eq!(n, 2);
    let latest = latest_revision(&doc).unwrap().unwrap();
    assert_eq!(
        (latest.number, latest.summary.as_str()),
        (2, "medic's note")
    );
    assert_eq!(latest.report, second);
    assert_eq!(read_revisions(&doc).unwrap().items[0].report, first);
}

#[test]
fn an_identical_revision_is_refused() {
    let mut doc = new_report();
    save_draft(&mut doc, &coord(), T0 + 1, drafted()).unwrap();
    report::publish(&mut doc, &coord(), T0 + 2, "").unwrap();
    let e = refused(&mut doc, |d| report::publish(d, &coord(), T0 + 3, "again"));
    assert!(e.to_string().contains("unchanged since revision 1"), "{e}");
    // Saving and publishing the same content at once is refused whole: nothing is saved.
    let e = refused(&mut doc, |d| {
        save_and_publish(d, &coord(), T0 + 3, drafted(), "again")
    });
    assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");
    // Changed content goes out in one commit, draft and revision together.
    let changed = typed(drafted());
    let heads = doc.get_heads();
    let n = save_and_publish(&mut doc, &coord(), T0 + 4, changed.clone(), "marked").unwrap();
    assert_eq!(n, 2);
    assert_eq!(doc.get_changes(&heads).len(), 1);
    assert_eq!(read_draft_strict(&doc).unwrap(), changed);
}

#[test]
fn only_coordinators_write_and_bad_reports_change_nothing() {
    let mut doc = new_report();
    let e = refused(&mut doc, |d| save_draft(d, &office(), T0, drafted()));
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let e = refused(&mut doc, |d| report::publish(d, &office(), T0, ""));
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let e = refused(&mut Automerge::new(), |d| init_report(d, &pa1(), T0, DAY));
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let e = refused(&mut doc, |d| init_report(d, &coord(), T0, DAY));
    assert!(matches!(e, DomainError::AlreadyExists(_)), "{e}");

    type Spoil = Box<dyn Fn(&mut ReportContent)>;
    let cases: Vec<(&str, Spoil)> = vec![
        ("report day", Box::new(|r| r.day = "2026-11-25".into())),
        (
            "pages shot",
            Box::new(|r| r.scenes[1].pages_shot_eighths = 9),
        ),
        ("pages shot", Box::new(|r| r.scenes[0].status = Shot::Shot)),
        (
            "camera wrap",
            Box::new(|r| r.times.camera_wrap = Some(at(60))),
        ),
        (
            "last person out",
            Box::new(|r| r.times.last_out = Some(at(1000))),
        ),
        ("meal", Box::new(|r| r.times.meals[0].label = " ".into())),
        ("scene ids", Box::new(|r| r.scenes[1].id = "s1".into())),
        ("day number", Box::new(|r| r.day_number = Some(31))),
        ("runs completed", Box::new(|r| r.runs_completed = -1)),
        (
            "gear still out count",
            Box::new(|r| r.gear_out[0].count = 0),
        ),
        ("incidents", Box::new(|r| r.incidents = "x".repeat(20_001))),
        ("notes", Box::new(|r| r.notes = "bell\u{7}".into())),
    ];
    for (field, spoil) in cases {
        let mut r = drafted();
        spoil(&mut r);
        let e = refused(&mut doc, |d| save_draft(d, &coord(), T0, r.clone()));
        let named = match &e {
            DomainError::InvalidValue { field: f, .. }
            | DomainError::OutOfRange { field: f, .. } => *f,
            _ => "",
        };
        assert_eq!(named, field, "{e}");
    }
    let e = refused(&mut Automerge::new(), |d| {
        save_draft(d, &coord(), T0, drafted())
    });
    assert!(matches!(e, DomainError::NotInitialised(_)), "{e}");
}

#[test]
fn a_row_that_cannot_be_read_is_left_out_and_named() {
    let mut doc = new_report();
    save_draft(&mut doc, &coord(), T0, typed(drafted())).unwrap();
    // A newer or faulty client writes a scene whose page count is text.
    let draft = doc.get(ROOT, "draft").unwrap().unwrap().1;
    let scenes = doc.get(&draft, "scenes").unwrap().unwrap().1;
    let row = doc.get(&scenes, 1).unwrap().unwrap().1;
    let mut tx = doc.transaction();
    tx.put(&row, "pages_eighths", "five").unwrap();
    tx.commit();
    let read = read_draft(&doc).unwrap();
    assert_eq!(read.value.scenes.len(), 1);
    assert_eq!(read.value.incidents, typed(drafted()).incidents);
    assert_eq!(read.unreadable.len(), 1);
    assert_eq!(read.unreadable[0].id, "s2");
    assert!(
        read.unreadable[0].why.contains("pages_eighths"),
        "{:?}",
        read.unreadable
    );
    // Publishing never drops what it cannot read.
    let e = refused(&mut doc, |d| report::publish(d, &coord(), T0 + 1, ""));
    assert!(matches!(e, DomainError::Corrupt(_)), "{e}");
}

// ---------------------------------------------------------------------------------------
// The write rules, as the relay applies them to what an outside client sends

/// Applies `edit` to a copy of `doc` and checks the result as the relay would for `writer`.
fn check_as(
    doc: &Automerge,
    writer: (&str, Role),
    edit: impl FnOnce(&mut Automerge),
) -> Result<(), Refusal> {
    check_kind_as(
        doc,
        &DocKind::ProductionReport { day: DAY.into() },
        writer,
        edit,
    )
}

const COORD: (&str, Role) = ("coord", Role::Coordinator);

fn published() -> Automerge {
    let mut doc = new_report();
    save_draft(&mut doc, &coord(), T0, typed(drafted())).unwrap();
    report::publish(&mut doc, &coord(), T0 + 1, "").unwrap();
    doc
}

fn revision_obj(doc: &Automerge, i: usize) -> automerge::ObjId {
    let list = doc.get(ROOT, "revisions").unwrap().unwrap().1;
    doc.get(&list, i).unwrap().unwrap().1
}

/// A raw write with no commit metadata, as any automerge client makes it.
fn raw(d: &mut Automerge, f: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) {
    let mut tx = d.transaction();
    f(&mut tx);
    tx.commit();
}

#[test]
fn what_the_ops_write_is_accepted() {
    let empty = Automerge::new();
    assert_eq!(
        check_as(&empty, COORD, |d| init_report(d, &coord(), T0, DAY)
            .unwrap()),
        Ok(())
    );
    let doc = new_report();
    assert_eq!(
        check_as(&doc, COORD, |d| save_draft(d, &coord(), T0, drafted())
            .unwrap()),
        Ok(())
    );
    let doc = published();
    let next = |d: &mut Automerge| {
        let mut r = typed(drafted());
        r.notes = "Second thoughts.".into();
        save_and_publish(d, &coord(), T0 + 5, r, "notes").unwrap();
    };
    assert_eq!(check_as(&doc, COORD, next), Ok(()));
    // A JavaScript client writes its notes as Text: accepted too.
    let text = check_as(&doc, COORD, |d| {
        let draft = d.get(ROOT, "draft").unwrap().unwrap().1;
        raw(d, |tx| {
            let t = tx.put_object(&draft, "notes", ObjType::Text).unwrap();
            tx.splice_text(&t, 0, 0, "typed in a browser").unwrap();
        });
    });
    assert_eq!(text, Ok(()));
}

#[test]
fn a_published_revision_is_never_rewritten_or_deleted() {
    let doc = published();
    let rewrite = check_as(&doc, COORD, |d| {
        let report = d.get(revision_obj(d, 0), "report").unwrap().unwrap().1;
        raw(d, |tx| {
            tx.put(&report, "incidents", "nothing happened").unwrap()
        });
    });
    assert_eq!(rewrite.unwrap_err().rule, Rule::PublishedRevision);
    let renumber = check_as(&doc, COORD, |d| {
        let rev = revision_obj(d, 0);
        raw(d, |tx| tx.put(&rev, "number", 7).unwrap());
    });
    assert_eq!(renumber.unwrap_err().rule, Rule::PublishedRevision);
    let delete = check_as(&doc, COORD, |d| {
        let list = d.get(ROOT, "revisions").unwrap().unwrap().1;
        raw(d, |tx| tx.delete(&list, 0).unwrap());
    });
    assert_eq!(delete.unwrap_err().rule, Rule::PublishedRevision);
    let replace = check_as(&doc, COORD, |d| {
        raw(d, |tx| {
            tx.put_object(ROOT, "revisions", ObjType::List).unwrap();
        })
    });
    assert_eq!(replace.unwrap_err().rule, Rule::Containers);
    let extra = check_as(&doc, COORD, |d| {
        raw(d, |tx| tx.put(ROOT, "approved", true).unwrap())
    });
    assert_eq!(extra.unwrap_err().rule, Rule::Shape);
}

/// A revision forged by copying the latest one with `number` and `by` changed.
fn forge_revision(
    d: &mut Automerge,
    number: i64,
    by: &str,
    spoil: impl FnOnce(&mut ReportContent),
) {
    let mut rev = latest_revision(d).unwrap().unwrap();
    rev.id = format!("forged-{number}");
    rev.number = number;
    rev.published_by = by.into();
    rev.report.notes = format!("forged {number}");
    spoil(&mut rev.report);
    let list = d.get(ROOT, "revisions").unwrap().unwrap().1;
    let mut tx = d.transaction();
    let len = tx.length(&list);
    autosurgeon::reconcile_insert(&mut tx, list, len, &rev).unwrap();
    tx.commit();
}

#[test]
fn a_new_revision_follows_the_last_names_its_writer_and_reads_as_a_report() {
    let doc = published();
    assert_eq!(
        check_as(&doc, COORD, |d| forge_revision(d, 2, "coord", |_| ())),
        Ok(())
    );
    let skip = check_as(&doc, COORD, |d| forge_revision(d, 5, "coord", |_| ()));
    assert_eq!(skip.unwrap_err().rule, Rule::PublishedRevision);
    let back = check_as(&doc, COORD, |d| forge_revision(d, 0, "coord", |_| ()));
    assert_eq!(back.unwrap_err().rule, Rule::PublishedRevision);
    let someone_else = check_as(&doc, COORD, |d| forge_revision(d, 2, "coord2", |_| ()));
    let e = someone_else.unwrap_err();
    assert_eq!(e.rule, Rule::Authorship);
    assert!(e.detail.contains("coord2"), "{e}");
    let bad = check_as(&doc, COORD, |d| {
        forge_revision(d, 2, "coord", |r| r.scenes[0].pages_shot_eighths = 99)
    });
    let e = bad.unwrap_err();
    assert_eq!((e.rule, e.path.as_str()), (Rule::Shape, "revisions/1"));
    let other_day = check_as(&doc, COORD, |d| {
        forge_revision(d, 2, "coord", |r| r.day = "2026-11-25".into())
    });
    assert_eq!(other_day.unwrap_err().rule, Rule::Shape);
}

#[test]
fn the_draft_always_reads_as_a_valid_report() {
    let doc = published();
    let draft = |d: &Automerge| d.get(ROOT, "draft").unwrap().unwrap().1;
    let over = check_as(&doc, COORD, |d| {
        let scenes = d.get(draft(d), "scenes").unwrap().unwrap().1;
        let row = d.get(&scenes, 1).unwrap().unwrap().1;
        raw(d, |tx| tx.put(&row, "pages_shot_eighths", 40).unwrap());
    });
    let e = over.unwrap_err();
    assert_eq!((e.rule, e.path.as_str()), (Rule::Shape, "draft"));
    assert!(e.detail.contains("pages shot"), "{e}");
    let wrong_type = check_as(&doc, COORD, |d| {
        let dr = draft(d);
        raw(d, |tx| tx.put(&dr, "runs_completed", "lots").unwrap());
    });
    assert_eq!(wrong_type.unwrap_err().rule, Rule::Shape);
    let moved = check_as(&doc, COORD, |d| {
        let dr = draft(d);
        raw(d, |tx| tx.put(&dr, "day", "2026-11-25").unwrap());
    });
    assert_eq!(moved.unwrap_err().rule, Rule::Shape);
    let replaced = check_as(&doc, COORD, |d| {
        raw(d, |tx| {
            tx.put_object(ROOT, "draft", ObjType::Map).unwrap();
        })
    });
    assert_eq!(replaced.unwrap_err().rule, Rule::Containers);
    let day = check_as(&doc, COORD, |d| {
        raw(d, |tx| tx.put(ROOT, "day", "2026-11-25").unwrap())
    });
    assert_eq!(day.unwrap_err().rule, Rule::Containers);
}
