//! Call sheets: draft editing, offsets that follow general call, publishing and colours,
//! call times per person, and acknowledgements in the member's own document.

mod domain_support;

use automerge::Automerge;
use domain_support::*;
use setlink_core::access::Role;
use setlink_core::model::callsheet::{self, *};
use setlink_core::model::member::{self, AckLevel, Availability, AvailabilityStatus};
use setlink_core::model::production::WalkieChannel;
use setlink_core::model::DomainError;

const DAY: &str = "2026-11-24";

fn full_sheet() -> CallSheet {
    let mut s = CallSheet::for_day(DAY, "Night Shift");
    s.header.day_number = Some(2);
    s.header.total_days = Some(30);
    s.header.call_sheet_number = Some(2);
    s.header.director = Some("R. Lee".into());
    s.header.producers = vec!["M. Chen".into()];
    s.header.upm = Some("Ana".into());
    s.header.ads = vec!["1st AD: Jo".into(), "2nd AD: Sam".into()];
    s.header.production_office_phone = Some("555-0100".into());
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
        address: "3400 W Olive Ave".into(),
        parking: Some("Lot B".into()),
        basecamp: Some("Lot B".into()),
        notes: None,
    }];
    s.nearest_hospital = Some(Hospital {
        name: "Providence St. Joseph".into(),
        address: "501 S Buena Vista St".into(),
        phone: "555-0199".into(),
    });
    s.scenes = vec![Scene {
        id: "s1".into(),
        number: "42A".into(),
        int_ext: IntExt::Int,
        set: "Diner".into(),
        day_night: DayNight::Night,
        description: "Mia waits".into(),
        cast_numbers: vec!["1".into(), "3".into()],
        pages_eighths: 12,
        location: Some("Stage 4".into()),
    }];
    s.cast = vec![CastCall {
        id: "c1".into(),
        number: "1".into(),
        character: "Mia".into(),
        actor: "A. Actor".into(),
        status: Some("W".into()),
        pickup: Some(6 * 60),
        hair_makeup: Some(6 * 60 + 30),
        on_set: Some(8 * 60),
        notes: None,
    }];
    s.background = vec![Background {
        id: "b1".into(),
        count: 12,
        description: "Diner patrons".into(),
        report_time: Some(7 * 60),
        report_place: Some("Holding".into()),
        notes: None,
    }];
    s.department_notes = vec![DepartmentNote {
        department: "Props".into(),
        note: "Coffee cups x 20".into(),
    }];
    s.advance_schedule = vec![AdvanceDay {
        date: "2026-11-25".into(),
        summary: "EXT. Street".into(),
        scenes: vec!["43".into()],
    }];
    s.walkie_channels = vec![WalkieChannel {
        channel: 1,
        name: "Production".into(),
    }];
    s.safety_notes = vec!["Wet floors on stage 4".into()];
    s
}

fn draft() -> Automerge {
    let mut d = Automerge::new();
    callsheet::init_draft(&mut d, &coord(), T0, DAY, full_sheet()).unwrap();
    d
}

fn published() -> Automerge {
    let mut p = Automerge::new();
    callsheet::init_published(&mut p, &coord(), T0, DAY).unwrap();
    p
}

#[test]
fn a_draft_holds_every_section() {
    let d = draft();
    assert_eq!(callsheet::read_draft(&d).unwrap().value, full_sheet());
}

#[test]
fn crew_offsets_move_with_general_call_and_fixed_times_do_not() {
    let mut d = draft();
    let grip = callsheet::add_crew_call(
        &mut d,
        &coord(),
        T0,
        CrewCallInput::department("Grip", CallSpec::Offset(-30)),
    )
    .unwrap();
    let cam = callsheet::add_crew_call(
        &mut d,
        &coord(),
        T0,
        CrewCallInput::department("Camera", CallSpec::At(6 * 60 + 15)),
    )
    .unwrap();
    let at = |d: &Automerge, id: &str| {
        let s = callsheet::read_draft(d).unwrap().value;
        let row = s.crew_calls.iter().find(|c| c.id == id).unwrap().clone();
        s.resolve(&row.call)
    };
    assert_eq!(at(&d, &grip), Some(6 * 60 + 30));
    callsheet::set_general_call(&mut d, &coord(), T0, 8 * 60).unwrap();
    assert_eq!(at(&d, &grip), Some(7 * 60 + 30));
    assert_eq!(at(&d, &cam), Some(6 * 60 + 15));
    assert_eq!(callsheet::format_minutes(25 * 60 + 5), "25:05");

    // Editing and removing rows.
    callsheet::edit_crew_call(
        &mut d,
        &coord(),
        T0,
        &grip,
        CrewCallInput::department("Grip", CallSpec::Offset(15)),
    )
    .unwrap();
    assert_eq!(at(&d, &grip), Some(8 * 60 + 15));
    callsheet::remove_crew_call(&mut d, &coord(), T0, &cam).unwrap();
    assert_eq!(callsheet::read_draft(&d).unwrap().value.crew_calls.len(), 1);
}

#[test]
fn concurrent_general_call_move_and_new_offset_row_both_survive() {
    let mut a = draft();
    let mut b = a.fork();
    callsheet::set_general_call(&mut a, &coord(), T0, 9 * 60).unwrap();
    let row = callsheet::add_crew_call(
        &mut b,
        &author("coord2", Role::Coordinator),
        T0,
        CrewCallInput::department("Electric", CallSpec::Offset(-60)),
    )
    .unwrap();
    sync_pair(&mut a, &mut b);
    let s = callsheet::read_draft(&a).unwrap().value;
    assert_eq!(s, callsheet::read_draft(&b).unwrap().value);
    let r = s.crew_calls.iter().find(|c| c.id == row).unwrap();
    assert_eq!(s.resolve(&r.call), Some(8 * 60));
}

#[test]
fn draft_rules() {
    let mut d = draft();
    let e = refused(&mut d, |d| {
        callsheet::set_general_call(d, &office(), T0, 60)
    });
    assert!(
        matches!(
            e,
            DomainError::Forbidden {
                role: Role::Office,
                ..
            }
        ),
        "{e}"
    );
    let e = refused(&mut d, |d| {
        callsheet::set_general_call(d, &coord(), T0, 49 * 60)
    });
    assert!(
        matches!(
            e,
            DomainError::OutOfRange {
                field: "general call",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(&mut d, |d| {
        callsheet::add_crew_call(
            d,
            &coord(),
            T0,
            CrewCallInput::department("Grip", CallSpec::Offset(13 * 60)),
        )
    });
    assert!(
        matches!(
            e,
            DomainError::OutOfRange {
                field: "crew call offset",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(&mut d, |d| {
        callsheet::add_crew_call(
            d,
            &coord(),
            T0,
            CrewCallInput::department(" ", CallSpec::At(60)),
        )
    });
    assert!(matches!(e, DomainError::InvalidValue { .. }), "{e}");
    let e = refused(&mut d, |d| {
        callsheet::edit_crew_call(
            d,
            &coord(),
            T0,
            "nope",
            CrewCallInput::department("Grip", CallSpec::At(60)),
        )
    });
    assert!(
        matches!(e, DomainError::UnknownCallSheetEntry { .. }),
        "{e}"
    );
    let e = refused(&mut d, |d| {
        callsheet::remove_crew_call(d, &coord(), T0, "nope")
    });
    assert!(
        matches!(e, DomainError::UnknownCallSheetEntry { .. }),
        "{e}"
    );
    let mut mine = CrewCallInput::department("Grip", CallSpec::At(60));
    mine.member_id = Some("pa1".into());
    callsheet::add_crew_call(&mut d, &coord(), T0, mine.clone()).unwrap();
    let e = refused(&mut d, |d| callsheet::add_crew_call(d, &coord(), T0, mine));
    assert!(matches!(e, DomainError::AlreadyExists(_)), "{e}");

    type Mutation = fn(&mut CallSheet);
    let cases: Vec<(Mutation, &str)> = vec![
        (|s| s.header.date = "2026-11-25".into(), "call sheet date"),
        (|s| s.header.day_number = Some(31), "day number"),
        (|s| s.times.estimated_wrap = Some(6 * 60), "estimated wrap"),
        (|s| s.weather.rain_chance_percent = Some(120), "rain chance"),
        (|s| s.weather.low = Some(80), "low temperature"),
        (|s| s.weather.high = Some(200), "high temperature"),
        (|s| s.scenes[0].pages_eighths = -1, "scene pages"),
        (|s| s.cast.push(s.cast[0].clone()), "cast ids"),
        (|s| s.background[0].count = 0, "background count"),
        (
            |s| s.nearest_hospital.as_mut().unwrap().phone = String::new(),
            "hospital phone",
        ),
        (
            |s| s.advance_schedule[0].date = "tomorrow".into(),
            "advance schedule day",
        ),
        (|s| s.walkie_channels[0].channel = 0, "walkie channel"),
        (|s| s.cast[0].on_set = Some(-5), "on set call"),
    ];
    for (mutate, field) in cases {
        let e = refused(&mut d, |d| {
            callsheet::update_draft(d, &coord(), T0, |s| {
                mutate(s);
                Ok(())
            })
        });
        match e {
            DomainError::InvalidValue { field: f, .. }
            | DomainError::OutOfRange { field: f, .. } => assert_eq!(f, field),
            other => panic!("{field}: {other}"),
        }
    }
    let e = refused(&mut d, |d| {
        callsheet::init_draft(d, &coord(), T0, DAY, full_sheet())
    });
    assert!(matches!(e, DomainError::AlreadyExists(_)), "{e}");
    let mut empty = Automerge::new();
    let e = refused(&mut empty, |d| {
        callsheet::set_general_call(d, &coord(), T0, 60)
    });
    assert!(matches!(e, DomainError::NotInitialised(_)), "{e}");
    let e = refused(&mut empty, |d| {
        callsheet::init_draft(d, &coord(), T0, "2026-11-25", full_sheet())
    });
    assert!(matches!(e, DomainError::InvalidValue { .. }), "{e}");
}

#[test]
fn publishing_numbers_revisions_and_wraps_colours_after_cherry() {
    let d = draft();
    let mut p = published();
    assert_eq!(
        callsheet::latest_revision(&p),
        Err(DomainError::NotPublished)
    );
    let mut colours = Vec::new();
    for n in 1..=11 {
        let r = callsheet::publish(&d, &mut p, &coord(), T0 + n, &format!("change {n}")).unwrap();
        assert_eq!(r.number, n);
        colours.push(r.colour);
    }
    use Colour::*;
    assert_eq!(
        colours,
        vec![White, Blue, Pink, Yellow, Green, Goldenrod, Buff, Salmon, Cherry, White, Blue]
    );
    let latest = callsheet::latest_revision(&p).unwrap();
    assert_eq!(
        (
            latest.number,
            latest.colour,
            latest.published_by.as_str(),
            latest.published_at
        ),
        (11, Blue, "coord", T0 + 11)
    );
    assert_eq!(callsheet::read_revisions(&p).unwrap().items.len(), 11);
}

#[test]
fn a_published_revision_is_frozen_while_the_draft_moves_on() {
    let mut d = draft();
    let mut p = published();
    callsheet::publish(&d, &mut p, &coord(), T0, "").unwrap();
    callsheet::set_general_call(&mut d, &coord(), T0, 9 * 60).unwrap();
    assert_eq!(
        callsheet::latest_revision(&p)
            .unwrap()
            .sheet
            .times
            .general_call,
        Some(7 * 60)
    );
    let r2 =
        callsheet::publish(&d, &mut p, &coord(), T0 + 1, "General call moved to 09:00").unwrap();
    assert_eq!((r2.number, r2.colour), (2, Colour::Blue));
    assert_eq!(
        callsheet::latest_revision(&p)
            .unwrap()
            .sheet
            .times
            .general_call,
        Some(9 * 60)
    );
    assert_eq!(
        callsheet::read_revisions(&p).unwrap().items[0]
            .sheet
            .times
            .general_call,
        Some(7 * 60)
    );
}

#[test]
fn publish_rules() {
    let d = draft();
    let mut p = published();
    let e = refused(&mut p, |p| callsheet::publish(&d, p, &office(), T0, ""));
    assert!(
        matches!(
            e,
            DomainError::Forbidden {
                role: Role::Office,
                ..
            }
        ),
        "{e}"
    );
    callsheet::publish(&d, &mut p, &coord(), T0, "").unwrap();
    let e = refused(&mut p, |p| callsheet::publish(&d, p, &coord(), T0, "  "));
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
    let mut other_day = Automerge::new();
    callsheet::init_published(&mut other_day, &coord(), T0, "2026-11-25").unwrap();
    let e = refused(&mut other_day, |p| {
        callsheet::publish(&d, p, &coord(), T0, "x")
    });
    assert!(
        matches!(
            e,
            DomainError::InvalidValue {
                field: "call sheet day",
                ..
            }
        ),
        "{e}"
    );
    let mut uninit = Automerge::new();
    let e = refused(&mut uninit, |p| {
        callsheet::publish(&d, p, &coord(), T0, "x")
    });
    assert!(matches!(e, DomainError::NotInitialised(_)), "{e}");
    let e = refused(&mut p, |p| callsheet::init_published(p, &coord(), T0, DAY));
    assert!(matches!(e, DomainError::AlreadyExists(_)), "{e}");
}

#[test]
fn each_person_gets_their_own_call_time_from_the_latest_revision() {
    let mut d = draft();
    let mut p = published();
    callsheet::add_crew_call(
        &mut d,
        &coord(),
        T0,
        CrewCallInput::department("Grip", CallSpec::Offset(-30)),
    )
    .unwrap();
    let mut mine = CrewCallInput::department("Grip", CallSpec::At(5 * 60));
    mine.member_id = Some("pa1".into());
    callsheet::add_crew_call(&mut d, &coord(), T0, mine).unwrap();
    callsheet::publish(&d, &mut p, &coord(), T0, "").unwrap();

    let t = callsheet::call_time_for(&p, "pa1", Some("Grip")).unwrap();
    assert_eq!(
        (t.minutes, t.source, t.revision, t.colour),
        (5 * 60, CallSource::Personal, 1, Colour::White)
    );
    let t = callsheet::call_time_for(&p, "grip2", Some("grip")).unwrap();
    assert_eq!((t.minutes, t.source), (6 * 60 + 30, CallSource::Department));
    let t = callsheet::call_time_for(&p, "someone", Some("Wardrobe")).unwrap();
    assert_eq!((t.minutes, t.source), (7 * 60, CallSource::General));

    callsheet::set_general_call(&mut d, &coord(), T0, 8 * 60).unwrap();
    callsheet::publish(&d, &mut p, &coord(), T0 + 1, "General call 08:00").unwrap();
    let t = callsheet::call_time_for(&p, "grip2", Some("Grip")).unwrap();
    assert_eq!(
        (t.minutes, t.revision, t.colour),
        (7 * 60 + 30, 2, Colour::Blue)
    );
    assert_eq!(
        callsheet::call_time_for(&published(), "x", None),
        Err(DomainError::NotPublished)
    );
}

#[test]
fn acknowledgements_are_written_only_by_their_owner_and_keep_first_times() {
    let mut m = Automerge::new();
    member::init_member_doc(&mut m, &pa1(), T0).unwrap();
    let heads = m.get_heads();
    member::init_member_doc(&mut m, &pa1(), T0 + 5).unwrap();
    assert_eq!(
        m.get_heads(),
        heads,
        "a second init by the owner changes nothing"
    );
    let e = refused(&mut m, |m| member::init_member_doc(m, &coord(), T0));
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let e = refused(&mut m, |m| {
        member::acknowledge(m, &coord(), T0, DAY, 1, AckLevel::Received)
    });
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let e = refused(&mut m, |m| {
        member::acknowledge(m, &pa1(), T0, "24/11/2026", 1, AckLevel::Received)
    });
    assert!(matches!(e, DomainError::InvalidValue { .. }), "{e}");
    let e = refused(&mut m, |m| {
        member::acknowledge(m, &pa1(), T0, DAY, 0, AckLevel::Received)
    });
    assert!(matches!(e, DomainError::OutOfRange { .. }), "{e}");
    let e = refused(&mut Automerge::new(), |m| {
        member::acknowledge(m, &pa1(), T0, DAY, 1, AckLevel::Received)
    });
    assert!(matches!(e, DomainError::NotInitialised(_)), "{e}");

    member::acknowledge(&mut m, &pa1(), T0 + 10, DAY, 2, AckLevel::Received).unwrap();
    member::acknowledge(&mut m, &pa1(), T0 + 20, DAY, 2, AckLevel::Confirmed).unwrap();
    member::acknowledge(&mut m, &pa1(), T0 + 30, DAY, 2, AckLevel::Received).unwrap();
    let a = member::ack_for(&m, DAY, 2).unwrap();
    assert_eq!(
        (a.received_at, a.opened_at, a.confirmed_at),
        (Some(T0 + 10), Some(T0 + 20), Some(T0 + 20))
    );
    assert_eq!(member::ack_for(&m, DAY, 1), None);

    member::set_availability(
        &mut m,
        &pa1(),
        T0,
        "2026-11-26",
        Availability {
            status: AvailabilityStatus::Tentative,
            note: Some("dentist am".into()),
        },
    )
    .unwrap();
    member::set_availability(
        &mut m,
        &pa1(),
        T0,
        "2026-11-27",
        Availability {
            status: AvailabilityStatus::Unavailable,
            note: None,
        },
    )
    .unwrap();
    let av = member::read_availability(&m).unwrap();
    assert_eq!(av.len(), 2);
    assert_eq!(av["2026-11-26"].note.as_deref(), Some("dentist am"));
    assert_eq!(av["2026-11-27"].status, AvailabilityStatus::Unavailable);
    let e = refused(&mut m, |m| {
        member::set_availability(
            m,
            &pa2(),
            T0,
            "2026-11-26",
            Availability {
                status: AvailabilityStatus::Available,
                note: None,
            },
        )
    });
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
}

#[test]
fn the_coordinator_sees_who_has_not_got_the_latest_revision() {
    let d = draft();
    let mut p = published();
    callsheet::publish(&d, &mut p, &coord(), T0, "").unwrap();
    let rev = callsheet::publish(&d, &mut p, &coord(), T0 + 1, "Blue pages").unwrap();
    let mut docs = Vec::new();
    for who in [pa1(), pa2(), crew()] {
        let mut m = Automerge::new();
        member::init_member_doc(&mut m, &who, T0).unwrap();
        docs.push((who.member_id.clone(), m));
    }
    member::acknowledge(
        &mut docs[0].1,
        &pa1(),
        T0 + 5,
        DAY,
        rev.number,
        AckLevel::Opened,
    )
    .unwrap();
    member::acknowledge(&mut docs[2].1, &crew(), T0 + 5, DAY, 1, AckLevel::Confirmed).unwrap();
    let view = || docs.iter().map(|(id, d)| (id.as_str(), d));
    assert_eq!(
        member::who_has_not(DAY, rev.number, AckLevel::Received, view()),
        vec!["crew1", "pa2"]
    );
    assert_eq!(
        member::who_has_not(DAY, rev.number, AckLevel::Confirmed, view()),
        vec!["crew1", "pa1", "pa2"]
    );
}

/// Revision numbers and call times are read from documents other peers wrote; values no
/// domain op would accept must give an error or `None`, never an overflow panic.
#[test]
fn extreme_numbers_from_a_synced_document_do_not_overflow() {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ReadDoc, Value, ROOT};

    let d = draft();
    let mut p = published();
    callsheet::publish(&d, &mut p, &coord(), T0, "").unwrap();
    // A buggy or hostile coordinator client writes the largest possible number.
    let (_, list) = p.get(ROOT, "revisions").unwrap().unwrap();
    let (v, rev) = p.get(&list, 0).unwrap().unwrap();
    assert!(matches!(v, Value::Object(ObjType::Map)));
    let mut tx = p.transaction();
    tx.put(&rev, "number", i64::MAX).unwrap();
    tx.commit();
    assert_eq!(callsheet::latest_revision(&p).unwrap().number, i64::MAX);

    let e = refused(&mut p, |p| callsheet::publish(&d, p, &coord(), T0, "next"));
    assert!(matches!(e, DomainError::Corrupt(_)), "{e}");
    assert_eq!(callsheet::read_revisions(&p).unwrap().items.len(), 1);

    for n in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX] {
        let expected = Colour::ORDER[(n as i128 - 1).rem_euclid(9) as usize];
        assert_eq!(Colour::for_revision(n), expected, "revision {n}");
    }

    let mut sheet = full_sheet();
    sheet.times.general_call = Some(i64::MAX);
    assert_eq!(sheet.resolve(&CallSpec::Offset(1)), None);
    sheet.times.general_call = Some(i64::MIN);
    assert_eq!(sheet.resolve(&CallSpec::Offset(-1)), None);
    assert_eq!(sheet.resolve(&CallSpec::Offset(0)), Some(i64::MIN));
}

#[test]
fn an_availability_status_from_a_newer_client_is_skipped_not_fatal() {
    use automerge::{transaction::Transactable, ROOT};
    let mut m = Automerge::new();
    member::init_member_doc(&mut m, &pa1(), T0).unwrap();
    member::set_availability(
        &mut m,
        &pa1(),
        T0,
        "2026-11-26",
        Availability {
            status: AvailabilityStatus::Tentative,
            note: None,
        },
    )
    .unwrap();
    // The flat key layout a newer client would write with a status this build does not know.
    let mut tx = m.transaction();
    tx.put(ROOT, "availability/2026-11-27", "on_hold_second_unit")
        .unwrap();
    tx.put(ROOT, "availability_note/2026-11-27", "maybe")
        .unwrap();
    tx.commit();

    let av = member::read_availability(&m).unwrap();
    assert_eq!(av.keys().collect::<Vec<_>>(), vec!["2026-11-26"]);
    assert_eq!(av["2026-11-26"].status, AvailabilityStatus::Tentative);
}
