//! The production document: details, members, and the document index the relay reads.

mod domain_support;

use automerge::{transaction::Transactable, Automerge, ReadDoc, ROOT};
use domain_support::*;
use setlink_core::access::{DocKind, Role};
use setlink_core::model::callsheet;
use setlink_core::model::production::{self, *};
use setlink_core::model::DomainError;
use setlink_core::DocumentId;

fn info() -> ProductionInfo {
    ProductionInfo {
        title: "Night Shift".into(),
        company: "Lantern Films".into(),
        timezone: "America/Los_Angeles".into(),
        shoot_days: vec![
            "2026-11-23".into(),
            "2026-11-24".into(),
            "2026-11-25".into(),
        ],
        departments: vec!["Camera".into(), "Grip".into(), "Production".into()],
        key_contacts: vec![KeyContact {
            name: "Ana".into(),
            title: "UPM".into(),
            phone: Some("555-0101".into()),
            email: None,
        }],
        walkie_channels: vec![
            WalkieChannel {
                channel: 1,
                name: "Production".into(),
            },
            WalkieChannel {
                channel: 2,
                name: "Open".into(),
            },
        ],
        locations: vec![LocationEntry {
            id: "loc-stage-4".into(),
            ..production::new_location("Stage 4", "3400 W Olive Ave")
        }],
        nearest_hospital: None,
    }
}

fn production_doc() -> (Automerge, DocumentId) {
    let mut doc = Automerge::new();
    let id = DocumentId::random();
    let mut me = MemberInfo::new("Casey Coordinator", Role::Coordinator);
    me.email = Some("casey@example.com".into());
    production::init_production(&mut doc, &coord(), T0, &id, info(), me).unwrap();
    (doc, id)
}

#[test]
fn a_new_production_makes_its_creator_coordinator_and_indexes_itself() {
    let (doc, id) = production_doc();
    let p = production::read_production(&doc).unwrap();
    assert_eq!(p.info, info());
    assert_eq!(p.info.day_of("2026-11-24"), Some((2, 3)));
    assert_eq!(p.info.day_of("2026-12-24"), None);
    assert_eq!(p.members.len(), 1);
    assert_eq!(
        (p.members[0].id.as_str(), p.members[0].info.role),
        ("coord", Role::Coordinator)
    );
    assert_eq!(
        production::read_index(&doc).unwrap(),
        vec![(id, DocKind::Production)]
    );
}

#[test]
fn the_relay_contract_layout_is_plain_maps_and_strings() {
    let (mut doc, _) = production_doc();
    production::add_member(
        &mut doc,
        &coord(),
        T0,
        "pa1",
        MemberInfo::new("Pat", Role::Pa),
    )
    .unwrap();
    let board = DocumentId::random();
    production::register_document(
        &mut doc,
        &coord(),
        T0,
        &board,
        &DocKind::Board {
            day: "2026-11-24".into(),
        },
    )
    .unwrap();
    let docs = match doc.get(ROOT, "documents").unwrap() {
        Some((automerge::Value::Object(automerge::ObjType::Map), o)) => o,
        other => panic!("documents is {other:?}"),
    };
    let entry = match doc.get(&docs, board.to_string()).unwrap() {
        Some((_, o)) => o,
        None => panic!("board not indexed"),
    };
    let s = |o: &automerge::ObjId, k: &str| {
        doc.get(o, k)
            .unwrap()
            .and_then(|(v, _)| v.into_string().ok())
    };
    assert_eq!(s(&entry, "kind").as_deref(), Some("board"));
    assert_eq!(s(&entry, "day").as_deref(), Some("2026-11-24"));
    let members = doc.get(ROOT, "members").unwrap().unwrap().1;
    let pa = doc.get(&members, "pa1").unwrap().unwrap().1;
    assert_eq!(s(&pa, "role").as_deref(), Some("pa"));
    assert_eq!(s(&pa, "name").as_deref(), Some("Pat"));
}

#[test]
fn registering_documents_of_every_kind() {
    let (mut doc, pid) = production_doc();
    production::add_member(
        &mut doc,
        &coord(),
        T0,
        "crew1",
        MemberInfo::new("Chris", Role::Crew),
    )
    .unwrap();
    let day = || "2026-11-24".to_string();
    let kinds = [
        DocKind::Board { day: day() },
        DocKind::CallSheetDraft { day: day() },
        DocKind::CallSheetPublished { day: day() },
        DocKind::Member {
            member_id: "crew1".into(),
        },
    ];
    let mut want = vec![(pid, DocKind::Production)];
    for k in kinds {
        let id = DocumentId::random();
        production::register_document(&mut doc, &coord(), T0, &id, &k).unwrap();
        assert_eq!(production::find_document(&doc, &k).unwrap(), Some(id));
        want.push((id, k));
    }
    want.sort_by_key(|(id, _)| id.to_string());
    assert_eq!(production::read_index(&doc).unwrap(), want);
}

#[test]
fn index_and_member_rules() {
    let (mut doc, pid) = production_doc();
    let id = DocumentId::random();
    let e = refused(&mut doc, |d| {
        production::register_document(
            d,
            &office(),
            T0,
            &id,
            &DocKind::Board {
                day: "2026-11-24".into(),
            },
        )
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
    let e = refused(&mut doc, |d| {
        production::register_document(
            d,
            &coord(),
            T0,
            &id,
            &DocKind::Board {
                day: "2026-13-01".into(),
            },
        )
    });
    assert!(
        matches!(e, DomainError::InvalidValue { field: "day", .. }),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        production::register_document(
            d,
            &coord(),
            T0,
            &id,
            &DocKind::Member {
                member_id: "ghost".into(),
            },
        )
    });
    assert_eq!(e, DomainError::UnknownMember("ghost".into()));
    let e = refused(&mut doc, |d| {
        production::register_document(
            d,
            &coord(),
            T0,
            &pid,
            &DocKind::Board {
                day: "2026-11-24".into(),
            },
        )
    });
    assert!(matches!(e, DomainError::AlreadyExists(_)), "{e}");
    let e = refused(&mut doc, |d| {
        production::register_document(d, &coord(), T0, &id, &DocKind::Shared)
    });
    assert!(matches!(e, DomainError::InvalidValue { .. }), "{e}");
    production::register_document(
        &mut doc,
        &coord(),
        T0,
        &id,
        &DocKind::Board {
            day: "2026-11-24".into(),
        },
    )
    .unwrap();
    let e = refused(&mut doc, |d| {
        production::register_document(
            d,
            &coord(),
            T0,
            &DocumentId::random(),
            &DocKind::Board {
                day: "2026-11-24".into(),
            },
        )
    });
    assert!(matches!(e, DomainError::AlreadyExists(_)), "{e}");

    let e = refused(&mut doc, |d| {
        production::add_member(d, &pa1(), T0, "x", MemberInfo::new("X", Role::Crew))
    });
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let e = refused(&mut doc, |d| {
        production::add_member(
            d,
            &coord(),
            T0,
            "coord",
            MemberInfo::new("Again", Role::Crew),
        )
    });
    assert!(matches!(e, DomainError::AlreadyExists(_)), "{e}");
    let mut bad = MemberInfo::new("Bad Email", Role::Crew);
    bad.email = Some("not-an-email".into());
    let e = refused(&mut doc, |d| {
        production::add_member(d, &coord(), T0, "x", bad)
    });
    assert!(
        matches!(e, DomainError::InvalidValue { field: "email", .. }),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        production::update_member(d, &coord(), T0, "ghost", MemberInfo::new("G", Role::Crew))
    });
    assert_eq!(e, DomainError::UnknownMember("ghost".into()));
    // The last coordinator stays.
    let e = refused(&mut doc, |d| {
        production::update_member(
            d,
            &coord(),
            T0,
            "coord",
            MemberInfo::new("Casey", Role::Office),
        )
    });
    assert!(e.to_string().contains("last coordinator"), "{e}");
    let e = refused(&mut doc, |d| {
        production::remove_member(d, &coord(), T0, "coord")
    });
    assert!(e.to_string().contains("last coordinator"), "{e}");
    production::add_member(
        &mut doc,
        &coord(),
        T0,
        "coord2",
        MemberInfo::new("Dana", Role::Coordinator),
    )
    .unwrap();
    production::update_member(
        &mut doc,
        &coord(),
        T0,
        "coord",
        MemberInfo::new("Casey", Role::Office),
    )
    .unwrap();
    assert_eq!(
        production::read_member(&doc, "coord").unwrap().info.role,
        Role::Office
    );
    production::remove_member(&mut doc, &coord(), T0, "coord").unwrap();
    assert!(matches!(
        production::read_member(&doc, "coord"),
        Err(DomainError::UnknownMember(_))
    ));
}

#[test]
fn production_details_are_validated_and_updated_by_coordinators_only() {
    let (mut doc, _) = production_doc();
    let mut changed = info();
    changed.title = "Night Shift (S2)".into();
    changed.walkie_channels.push(WalkieChannel {
        channel: 5,
        name: "Camera".into(),
    });
    changed.locations[0].basecamp = Some("Lot 4 by the mill".into());
    changed.nearest_hospital = Some(callsheet::Hospital {
        name: "St. Mary's".into(),
        address: "450 Stanyan St".into(),
        phone: "555-0199".into(),
    });
    let e = refused(&mut doc, |d| {
        production::update_production(d, &office(), T0, changed.clone())
    });
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    production::update_production(&mut doc, &coord(), T0, changed.clone()).unwrap();
    assert_eq!(production::read_production(&doc).unwrap().info, changed);

    type Mutation = fn(&mut ProductionInfo);
    let cases: Vec<(Mutation, &str)> = vec![
        (|i| i.title = " ".into(), "production title"),
        (|i| i.timezone = "Pacific Time".into(), "timezone"),
        // Shaped like a zone name, but no such zone in the tz database.
        (|i| i.timezone = "Mars/Olympus".into(), "timezone"),
        (|i| i.timezone = "America/Los_Angles".into(), "timezone"),
        (|i| i.shoot_days.reverse(), "shoot days"),
        (|i| i.shoot_days.push("2026-02-30".into()), "shoot day"),
        (|i| i.walkie_channels[0].channel = 100, "walkie channel"),
        (|i| i.walkie_channels[1].channel = 1, "walkie channels"),
        (|i| i.departments.push("Camera".into()), "departments"),
        (
            |i| i.locations[0].address = String::new(),
            "location address",
        ),
        (
            |i| i.locations[0].basecamp = Some("x".repeat(6_000)),
            "basecamp",
        ),
        (
            |i| {
                i.nearest_hospital = Some(callsheet::Hospital {
                    name: "General".into(),
                    address: " ".into(),
                    phone: "555".into(),
                })
            },
            "hospital address",
        ),
    ];
    for (mutate, field) in cases {
        let mut bad = changed.clone();
        mutate(&mut bad);
        let e = refused(&mut doc, |d| {
            production::update_production(d, &coord(), T0, bad)
        });
        match e {
            DomainError::InvalidValue { field: f, .. }
            | DomainError::OutOfRange { field: f, .. } => assert_eq!(f, field),
            other => panic!("{field}: {other}"),
        }
    }
    let mut fresh = Automerge::new();
    let e = refused(&mut fresh, |d| {
        production::init_production(
            d,
            &office(),
            T0,
            &DocumentId::random(),
            info(),
            MemberInfo::new("O", Role::Coordinator),
        )
    });
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let e = refused(&mut fresh, |d| {
        production::init_production(
            d,
            &coord(),
            T0,
            &DocumentId::random(),
            info(),
            MemberInfo::new("O", Role::Pa),
        )
    });
    assert!(matches!(e, DomainError::InvalidValue { .. }), "{e}");
    let e = refused(&mut doc, |d| {
        production::init_production(
            d,
            &coord(),
            T0,
            &DocumentId::random(),
            info(),
            MemberInfo::new("O", Role::Coordinator),
        )
    });
    assert!(matches!(e, DomainError::AlreadyExists(_)), "{e}");
    assert!(matches!(
        production::read_index(&fresh),
        Err(DomainError::NotInitialised(_))
    ));
}

#[test]
fn malformed_index_entries_are_skipped_and_reported_not_fatal() {
    let (mut doc, prod) = production_doc();
    let board = DocumentId::random();
    production::register_document(
        &mut doc,
        &coord(),
        T0,
        &board,
        &DocKind::Board {
            day: "2026-11-24".into(),
        },
    )
    .unwrap();
    // What a buggy or newer client could write next to the good entries.
    let docs = doc.get(ROOT, "documents").unwrap().unwrap().1;
    let (unknown_kind, no_day) = (DocumentId::random(), DocumentId::random());
    let mut tx = doc.transaction();
    let e = tx
        .put_object(&docs, "not-a-doc-id", automerge::ObjType::Map)
        .unwrap();
    tx.put(&e, "kind", "board").unwrap();
    let e = tx
        .put_object(&docs, unknown_kind.to_string(), automerge::ObjType::Map)
        .unwrap();
    tx.put(&e, "kind", "spaceship").unwrap();
    let e = tx
        .put_object(&docs, no_day.to_string(), automerge::ObjType::Map)
        .unwrap();
    tx.put(&e, "kind", "call_sheet_draft").unwrap();
    tx.put(&docs, DocumentId::random().to_string(), "just a string")
        .unwrap();
    tx.commit();

    let mut want = vec![
        (prod, DocKind::Production),
        (
            board,
            DocKind::Board {
                day: "2026-11-24".into(),
            },
        ),
    ];
    want.sort_by_key(|(id, _)| id.to_string());
    assert_eq!(production::read_index(&doc).unwrap(), want);
    assert_eq!(
        production::find_document(
            &doc,
            &DocKind::Board {
                day: "2026-11-24".into()
            }
        )
        .unwrap(),
        Some(board)
    );

    let report = production::read_index_report(&doc).unwrap();
    assert_eq!(report.documents, want);
    assert_eq!(report.ignored.len(), 4, "{:?}", report.ignored);
    let reason = |key: &str| {
        report
            .ignored
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    assert!(reason("not-a-doc-id").contains("not a document id"));
    assert!(reason(&unknown_kind.to_string()).contains("spaceship"));
    assert!(reason(&no_day.to_string()).contains("`day`"));

    // A coordinator can still register documents in a production with a damaged entry.
    production::register_document(
        &mut doc,
        &coord(),
        T0,
        &DocumentId::random(),
        &DocKind::CallSheetDraft {
            day: "2026-11-24".into(),
        },
    )
    .unwrap();
}

#[test]
fn a_damaged_member_is_reported_not_a_panic() {
    let (mut doc, _) = production_doc();
    let members = doc.get(ROOT, "members").unwrap().unwrap().1;
    let mut tx = doc.transaction();
    let m = tx.get(&members, "coord").unwrap().unwrap().1;
    tx.put(&m, "role", "director").unwrap();
    tx.commit();
    let listed = production::read_members(&doc).unwrap();
    assert!(listed.items.iter().all(|m| m.id != "coord"));
    assert_eq!(listed.unreadable.len(), 1);
    assert_eq!(listed.unreadable[0].id, "coord");
    assert!(
        listed.unreadable[0].why.contains("`role`"),
        "{}",
        listed.unreadable[0].why
    );
    assert!(matches!(
        production::read_member(&doc, "coord"),
        Err(DomainError::Corrupt(_))
    ));
}

#[test]
fn zones_come_from_the_bundled_tz_database() {
    for known in [
        "UTC",
        "America/Los_Angeles",
        "Pacific/Kiritimati",
        "Pacific/Pago_Pago",
    ] {
        production::time_zone(known).unwrap_or_else(|e| panic!("{known}: {e}"));
    }
    for unknown in [
        "Mars/Olympus",
        "",
        " ",
        "../../etc/passwd",
        &"A/".repeat(500),
    ] {
        let e = production::time_zone(unknown).unwrap_err().to_string();
        assert!(e.contains("not a known IANA time zone"), "{unknown}: {e}");
    }
    // The offset is the database's, not the machine's.
    let kiritimati = production::time_zone("Pacific/Kiritimati").unwrap();
    let offset = kiritimati
        .to_offset(jiff::Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_hours(24 * 20_000));
    assert_eq!(offset.seconds(), 14 * 3600);
}
