//! Background at holding: the domain (check-in, voucher, release, wardrobe, the tally against
//! the call sheet's rows, concurrent check-ins on two phones) and the write rules against a
//! client that writes the document by hand.

mod domain_support;
mod support;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ROOT};
use domain_support::*;
use setlink_core::access::{DocKind, Role};
use setlink_core::model::background::{self, *};
use setlink_core::model::callsheet::Background as SheetRow;
use setlink_core::model::DomainError;
use setlink_core::rules::{Refusal, Rule};
use support::{check_kind_as, forge_event, obj};

fn row(id: &str, count: i64, description: &str) -> SheetRow {
    SheetRow {
        id: id.into(),
        count,
        description: description.into(),
        ..Default::default()
    }
}

fn day() -> Automerge {
    let mut doc = Automerge::new();
    background::init_background(&mut doc, &coord(), T0).unwrap();
    doc
}

fn add(doc: &mut Automerge, name: &str, group: &SheetRow) -> String {
    background::add_person(doc, &pa1(), T0, NewBackgroundPerson::for_row(name, group)).unwrap()
}

fn person(doc: &Automerge, id: &str) -> BackgroundPerson {
    background::read_person(doc, id).unwrap()
}

#[test]
fn a_person_is_checked_in_signs_their_voucher_and_is_released() {
    let peds = row("r1", 20, "Pedestrians");
    let mut doc = day();
    let id = background::add_person(
        &mut doc,
        &pa1(),
        T0,
        NewBackgroundPerson {
            wardrobe: Some("own coat, no logos".into()),
            ..NewBackgroundPerson::for_row("  Ana Ruiz ", &peds)
        },
    )
    .unwrap();
    let p = person(&doc, &id);
    assert_eq!(p.status, BackgroundStatus::NotIn);
    assert_eq!(p.record.name, "Ana Ruiz");
    assert_eq!(
        (p.record.group_id.as_str(), p.record.group.as_str()),
        ("r1", "Pedestrians")
    );
    assert_eq!(p.record.wardrobe.as_deref(), Some("own coat, no logos"));
    assert_eq!(p.record.created_by, "pa1");
    assert!(!p.has_checked_in());

    background::check_in(&mut doc, &pa2(), T0 + 60_000, &id).unwrap();
    background::sign_voucher(&mut doc, &office(), T0 + 9_000_000, &id).unwrap();
    background::release(&mut doc, &pa1(), T0 + 9_060_000, &id).unwrap();
    let p = person(&doc, &id);
    assert_eq!(p.status, BackgroundStatus::Released);
    assert_eq!(
        (p.checked_in_at, p.checked_in_by.as_deref()),
        (Some(T0 + 60_000), Some("pa2"))
    );
    assert_eq!(
        (p.voucher_signed_at, p.voucher_signed_by.as_deref()),
        (Some(T0 + 9_000_000), Some("office"))
    );
    assert_eq!(
        (p.released_at, p.released_by.as_deref()),
        (Some(T0 + 9_060_000), Some("pa1"))
    );
    assert_eq!(p.events.len(), 4);
    assert!(p.has_checked_in() && p.conflicts.is_empty());
}

#[test]
fn steps_are_taken_in_order_and_once() {
    let mut doc = day();
    let id = add(&mut doc, "Bo Chen", &row("r1", 5, "Diners"));
    let e = refused(&mut doc, |d| background::sign_voucher(d, &pa1(), T0, &id));
    assert!(e.to_string().contains("check them in first"), "{e}");
    let e = refused(&mut doc, |d| background::release(d, &pa1(), T0, &id));
    assert!(matches!(e, DomainError::InvalidTransition { .. }), "{e}");
    background::check_in(&mut doc, &pa1(), T0 + 1, &id).unwrap();
    let e = refused(&mut doc, |d| background::check_in(d, &pa2(), T0 + 2, &id));
    assert!(e.to_string().contains("already checked in"), "{e}");
    let e = refused(&mut doc, |d| background::release(d, &pa1(), T0 + 2, &id));
    assert!(e.to_string().contains("sign their voucher first"), "{e}");
    background::sign_voucher(&mut doc, &pa1(), T0 + 3, &id).unwrap();
    refused(&mut doc, |d| {
        background::sign_voucher(d, &pa1(), T0 + 4, &id)
    });
    background::release(&mut doc, &pa1(), T0 + 5, &id).unwrap();
    let e = refused(&mut doc, |d| background::release(d, &pa1(), T0 + 6, &id));
    assert!(e.to_string().contains("gone home"), "{e}");
}

#[test]
fn roles_bad_input_and_unknown_people_change_nothing() {
    let peds = row("r1", 20, "Pedestrians");
    let mut doc = day();
    let e = refused(&mut doc, |d| {
        background::add_person(d, &crew(), T0, NewBackgroundPerson::for_row("X", &peds))
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
        background::add_person(d, &pa1(), T0, NewBackgroundPerson::for_row(" ", &peds))
    });
    assert!(
        matches!(e, DomainError::InvalidValue { field: "name", .. }),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        background::add_person(
            d,
            &pa1(),
            T0,
            NewBackgroundPerson::for_row("A", &row("", 1, "x")),
        )
    });
    assert!(
        matches!(
            e,
            DomainError::InvalidValue {
                field: "group id",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        let long = NewBackgroundPerson::for_row("é".repeat(201), &peds);
        background::add_person(d, &pa1(), T0, long)
    });
    assert!(
        matches!(e, DomainError::OutOfRange { field: "name", .. }),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        background::add_person(d, &pa1(), 5, NewBackgroundPerson::for_row("A", &peds))
    });
    assert!(matches!(e, DomainError::OutOfRange { .. }), "{e}");
    let e = refused(&mut doc, |d| background::check_in(d, &pa1(), T0, "nobody"));
    assert_eq!(e, DomainError::UnknownBackgroundPerson("nobody".into()));
    let id = add(&mut doc, "Cy", &peds);
    let e = refused(&mut doc, |d| background::check_in(d, &crew(), T0, &id));
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let e = refused(&mut doc, |d| {
        background::set_wardrobe(d, &pa1(), T0, &id, Some("bell\u{7}"))
    });
    assert!(
        matches!(
            e,
            DomainError::InvalidValue {
                field: "wardrobe",
                ..
            }
        ),
        "{e}"
    );
    // Only coordinators and the office create the day's document, once.
    let e = refused(&mut Automerge::new(), |d| {
        background::init_background(d, &pa1(), T0)
    });
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let e = refused(&mut doc, |d| background::init_background(d, &office(), T0));
    assert!(matches!(e, DomainError::AlreadyExists(_)), "{e}");
    let e = refused(&mut Automerge::new(), |d| {
        background::add_person(d, &pa1(), T0, NewBackgroundPerson::for_row("A", &peds))
    });
    assert!(matches!(e, DomainError::NotInitialised(_)), "{e}");
    assert!(matches!(
        background::list_people(&Automerge::new()),
        Err(DomainError::NotInitialised(_))
    ));
}

#[test]
fn wardrobe_notes_are_set_rewritten_and_cleared() {
    let mut doc = day();
    let id = add(&mut doc, "Di", &row("r1", 2, "Shoppers"));
    background::set_wardrobe(&mut doc, &pa1(), T0 + 1, &id, Some("blue scrubs")).unwrap();
    assert_eq!(
        person(&doc, &id).record.wardrobe.as_deref(),
        Some("blue scrubs")
    );
    let heads = doc.get_heads();
    background::set_wardrobe(&mut doc, &pa2(), T0 + 2, &id, Some("blue scrubs")).unwrap();
    assert_eq!(
        doc.get_heads(),
        heads,
        "the same notes again commit nothing"
    );
    background::set_wardrobe(&mut doc, &pa2(), T0 + 3, &id, Some("  ")).unwrap();
    assert_eq!(person(&doc, &id).record.wardrobe, None);
}

#[test]
fn two_pas_checking_in_on_two_phones_lose_nothing_in_either_merge_order() {
    let peds = row("r1", 20, "Pedestrians");
    let mut base = day();
    let ana = add(&mut base, "Ana", &peds);
    let bo = add(&mut base, "Bo", &peds);
    let cy = add(&mut base, "Cy", &peds);
    let mut a = base.fork();
    let mut b = base.fork();
    // Offline at holding: each PA checks in a different person, and both check in Cy.
    background::check_in(&mut a, &pa1(), T0 + 10, &ana).unwrap();
    background::check_in(&mut a, &pa1(), T0 + 20, &cy).unwrap();
    background::check_in(&mut b, &pa2(), T0 + 15, &bo).unwrap();
    background::check_in(&mut b, &pa2(), T0 + 25, &cy).unwrap();
    // A person added on one phone while the other checks someone in.
    let di = add(&mut b, "Di", &peds);
    let mut ab = a.fork();
    ab.merge(&mut b.fork()).unwrap();
    let mut ba = b.fork();
    ba.merge(&mut a.fork()).unwrap();
    let one = background::list_people(&ab).unwrap();
    let two = background::list_people(&ba).unwrap();
    assert_eq!(one, two, "the same roster whatever the merge order");
    assert!(one.is_complete());
    let by_id = |id: &str| {
        one.items
            .iter()
            .find(|p| p.record.id == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id(&ana).checked_in_by.as_deref(), Some("pa1"));
    assert_eq!(by_id(&bo).checked_in_by.as_deref(), Some("pa2"));
    assert_eq!(by_id(&di).status, BackgroundStatus::NotIn);
    // Cy's two check-ins are both kept: the later one wins, the other is a conflict.
    let c = by_id(&cy);
    assert_eq!(c.status, BackgroundStatus::CheckedIn);
    assert_eq!(
        (c.checked_in_at, c.checked_in_by.as_deref()),
        (Some(T0 + 25), Some("pa2"))
    );
    assert_eq!(c.events.len(), 3);
    assert_eq!(c.conflicts.len(), 1);
    assert_eq!(c.conflicts[0].event_kind, "checked_in");
    assert!(!c.conflicts[0].resolved);
    let t = background::tally(&one.items, &[peds]);
    assert_eq!((t[0].checked_in, t[0].released), (3, 0));
    // The next step from the merged state sees both check-ins and resolves the conflict.
    background::sign_voucher(&mut ab, &pa1(), T0 + 30, &cy).unwrap();
    let c = person(&ab, &cy);
    assert_eq!(c.status, BackgroundStatus::VoucherSigned);
    assert!(c.conflicts[0].resolved);
}

#[test]
fn the_tally_counts_each_sheet_row_and_people_whose_row_is_gone() {
    let peds = row("r1", 20, "Pedestrians");
    let diners = row("r2", 6, "Diners");
    let cops = row("r3", 2, "Uniformed police");
    let mut doc = day();
    let mut peds_ids = Vec::new();
    for n in 0..5 {
        peds_ids.push(add(&mut doc, &format!("Ped {n}"), &peds));
    }
    let diner = add(&mut doc, "Diner", &diners);
    // A group the sheet has since dropped: still counted under its copied label.
    let gone = add(&mut doc, "Dancer", &row("r9", 4, "Dancers"));
    for id in &peds_ids[..4] {
        background::check_in(&mut doc, &pa1(), T0 + 1, id).unwrap();
    }
    for id in &peds_ids[..3] {
        background::sign_voucher(&mut doc, &pa1(), T0 + 2, id).unwrap();
    }
    for id in &peds_ids[..2] {
        background::release(&mut doc, &pa1(), T0 + 3, id).unwrap();
    }
    background::check_in(&mut doc, &pa2(), T0 + 1, &gone).unwrap();
    let people = background::list_people(&doc).unwrap().items;
    assert_eq!(people.len(), 7);
    assert_eq!(person(&doc, &diner).status, BackgroundStatus::NotIn);
    // The sheet's rows in its order (the diners' row renamed: the sheet's words win).
    let renamed = SheetRow {
        description: "Diners at counter".into(),
        ..diners.clone()
    };
    let t = background::tally(&people, &[cops.clone(), peds.clone(), renamed]);
    let got: Vec<(&str, &str, i64, u32, u32)> = t
        .iter()
        .map(|g| {
            (
                g.group_id.as_str(),
                g.description.as_str(),
                g.expected,
                g.checked_in,
                g.released,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("r3", "Uniformed police", 2, 0, 0),
            ("r1", "Pedestrians", 20, 4, 2),
            ("r2", "Diners at counter", 6, 0, 0),
            ("r9", "Dancers", 0, 1, 0),
        ]
    );
    // No sheet: every group from the people themselves.
    let t = background::tally(&people, &[]);
    assert_eq!(t.len(), 3);
    assert!(t.iter().all(|g| g.expected == 0));
    // A sheet that repeats a row id counts its people once.
    let t = background::tally(&people, &[peds.clone(), peds]);
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].checked_in, 4);
}

#[test]
fn a_damaged_person_is_listed_as_unreadable_beside_the_rest() {
    let mut doc = day();
    let ok = add(&mut doc, "Ana", &row("r1", 1, "Peds"));
    let bad = add(&mut doc, "Bo", &row("r1", 1, "Peds"));
    let people = doc.get(ROOT, "people").unwrap().unwrap().1;
    let obj = doc.get(&people, &bad).unwrap().unwrap().1;
    let mut tx = doc.transaction();
    tx.put(&obj, "created_at", "yesterday").unwrap();
    tx.put(&people, "junk", 7).unwrap();
    tx.commit();
    let list = background::list_people(&doc).unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].record.id, ok);
    let mut why: Vec<(String, String)> = list
        .unreadable
        .iter()
        .map(|u| (u.id.clone(), u.why.clone()))
        .collect();
    why.sort();
    assert_eq!(why.len(), 2);
    assert!(
        why.iter()
            .any(|(id, w)| id == &bad && w.contains("created_at")),
        "{why:?}"
    );
    assert!(why.iter().any(|(id, _)| id == "junk"), "{why:?}");
}

// ---------------------------------------------------------------------------------------
// The write rules, against a client that writes the document by hand.

/// Applies `edit` to a copy of `doc` and checks the result as the relay would for `writer`.
fn check_as(
    doc: &Automerge,
    writer: (&str, Role),
    edit: impl FnOnce(&mut Automerge),
) -> Result<(), Refusal> {
    let kind = DocKind::Background {
        day: "2026-11-24".into(),
    };
    check_kind_as(doc, &kind, writer, edit)
}

fn person_obj(doc: &Automerge, id: &str) -> ObjId {
    obj(doc, &["people", id])
}

fn events_obj(doc: &Automerge, id: &str) -> ObjId {
    obj(doc, &["people", id, "events"])
}

/// Writes an event by hand, after the person's current heads, as a stock client could.
fn forge(doc: &mut Automerge, id: &str, json: serde_json::Value) {
    let log = person(doc, id).events;
    let events = events_obj(doc, id);
    forge_event(doc, &events, &log, T0 + 5, json);
}

fn one_in() -> (Automerge, String) {
    let mut doc = day();
    let id = add(&mut doc, "Ana", &row("r1", 3, "Peds"));
    background::check_in(&mut doc, &pa1(), T0 + 1, &id).unwrap();
    (doc, id)
}

#[test]
fn what_the_operations_write_is_accepted_from_their_writer() {
    let (doc, id) = one_in();
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        add(d, "Bo", &row("r1", 3, "Peds"));
    });
    assert_eq!(r, Ok(()));
    // The same change sent by someone else claims another member.
    let r = check_as(&doc, ("pa2", Role::Pa), |d| {
        add(d, "Bo", &row("r1", 3, "Peds"));
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
    let r = check_as(&doc, ("pa2", Role::Pa), |d| {
        background::sign_voucher(d, &pa2(), T0 + 2, &id).unwrap();
        background::release(d, &pa2(), T0 + 3, &id).unwrap();
    });
    assert_eq!(r, Ok(()));
    let r = check_as(&doc, ("office", Role::Office), |d| {
        background::set_wardrobe(d, &office(), T0 + 2, &id, Some("hat")).unwrap();
    });
    assert_eq!(r, Ok(()));
    let r = check_as(&Automerge::new(), ("coord", Role::Coordinator), |d| {
        background::init_background(d, &coord(), T0).unwrap();
    });
    assert_eq!(r, Ok(()));
}

#[test]
fn deleting_or_rewriting_a_check_in_is_refused() {
    let (doc, id) = one_in();
    let checked_in = person(&doc, &id).events[1].id.clone();
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let events = events_obj(d, &id);
        let mut tx = d.transaction();
        tx.delete(&events, checked_in.as_str()).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let events = events_obj(d, &id);
        let mut tx = d.transaction();
        tx.put(&events, checked_in.as_str(), "{}").unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    // Nor the log as a whole, nor the person.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let p = person_obj(d, &id);
        let mut tx = d.transaction();
        tx.put_object(&p, "events", ObjType::Map).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let people = d.get(ROOT, "people").unwrap().unwrap().1;
        let mut tx = d.transaction();
        tx.delete(&people, id.as_str()).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::NeverDeleted);
    let r = check_as(&doc, ("coord", Role::Coordinator), |d| {
        let mut tx = d.transaction();
        tx.put_object(ROOT, "people", ObjType::Map).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Containers);
}

#[test]
fn a_check_in_in_someone_elses_name_is_refused() {
    let mut doc = day();
    let id = add(&mut doc, "Bo", &row("r1", 3, "Peds"));
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "checked_in", "member": "pa2", "role": "pa"}),
        )
    });
    let e = r.unwrap_err();
    assert_eq!(e.rule, Rule::Authorship);
    assert!(e.detail.contains("pa2"), "{e}");
    // Nor with a role the writer does not have.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "checked_in", "member": "pa1", "role": "coordinator"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
    // In their own name it is a check-in.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "checked_in", "member": "pa1", "role": "pa"}),
        )
    });
    assert_eq!(r, Ok(()));
}

#[test]
fn steps_out_of_order_and_unknown_events_are_refused() {
    let mut doc = day();
    let id = add(&mut doc, "Bo", &row("r1", 3, "Peds"));
    for kind in ["voucher_signed", "released", "created"] {
        let r = check_as(&doc, ("pa1", Role::Pa), |d| {
            forge(
                d,
                &id,
                serde_json::json!({"kind": kind, "member": "pa1", "role": "pa"}),
            )
        });
        assert_eq!(r.unwrap_err().rule, Rule::Transition, "{kind}");
    }
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "teleported", "member": "pa1", "role": "pa"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
    // Crew is kept out by the role table; the rules refuse a crew step too (a device checks
    // what it receives without knowing the writer).
    let r = check_as(&doc, ("crew1", Role::Crew), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "checked_in", "member": "crew1", "role": "crew"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Transition);
}

#[test]
fn fields_never_change_but_wardrobe_and_must_read() {
    let (doc, id) = one_in();
    for (field, value) in [
        ("name", "Someone else"),
        ("group_id", "r2"),
        ("group", "Cops"),
        ("created_by", "pa2"),
    ] {
        let r = check_as(&doc, ("pa1", Role::Pa), |d| {
            let p = person_obj(d, &id);
            let mut tx = d.transaction();
            tx.put(&p, field, value).unwrap();
            tx.commit();
        });
        assert_eq!(r.unwrap_err().rule, Rule::AppendOnly, "{field}");
    }
    // Wardrobe as a JavaScript client writes it (Text) is fine; as a number it is not.
    let r = check_as(&doc, ("pa2", Role::Pa), |d| {
        let p = person_obj(d, &id);
        let mut tx = d.transaction();
        let t = tx.put_object(&p, "wardrobe", ObjType::Text).unwrap();
        tx.splice_text(&t, 0, 0, "red scarf").unwrap();
        tx.commit();
    });
    assert_eq!(r, Ok(()));
    let r = check_as(&doc, ("pa2", Role::Pa), |d| {
        let p = person_obj(d, &id);
        let mut tx = d.transaction();
        tx.put(&p, "wardrobe", 42).unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
    // Only `people` at the root.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let mut tx = d.transaction();
        tx.put(ROOT, "notes", "x").unwrap();
        tx.commit();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
}

#[test]
fn a_person_added_by_hand_must_name_its_writer_and_start_with_created() {
    let doc = day();
    let write = |created_by: &str, with_created: bool| {
        let created_by = created_by.to_owned();
        move |d: &mut Automerge| {
            let people = d.get(ROOT, "people").unwrap().unwrap().1;
            let mut tx = d.transaction();
            let p = tx.put_object(&people, "p1", ObjType::Map).unwrap();
            tx.put(&p, "id", "p1").unwrap();
            tx.put(&p, "name", "Eve").unwrap();
            tx.put(&p, "group_id", "r1").unwrap();
            tx.put(&p, "group", "Peds").unwrap();
            tx.put(&p, "created_at", T0).unwrap();
            tx.put(&p, "created_by", created_by.as_str()).unwrap();
            let ev = tx.put_object(&p, "events", ObjType::Map).unwrap();
            if with_created {
                let json = serde_json::json!({"kind": "created", "prev": [], "at": T0,
                    "member": "pa1", "device": "x", "role": "pa"});
                tx.put(&ev, "e1", json.to_string()).unwrap();
            }
            tx.commit();
        }
    };
    assert_eq!(
        check_as(&doc, ("pa1", Role::Pa), write("pa1", true)),
        Ok(())
    );
    let e = check_as(&doc, ("pa1", Role::Pa), write("pa2", true)).unwrap_err();
    assert_eq!(e.rule, Rule::Authorship);
    let e = check_as(&doc, ("pa1", Role::Pa), write("pa1", false)).unwrap_err();
    assert_eq!(e.rule, Rule::Transition);
    // A blank name does not read as a person.
    let e = check_as(&doc, ("pa1", Role::Pa), |d| {
        write("pa1", true)(d);
        let p = person_obj(d, "p1");
        let mut tx = d.transaction();
        tx.put(&p, "name", " ").unwrap();
        tx.commit();
    })
    .unwrap_err();
    assert_eq!(e.rule, Rule::Shape);
    assert!(e.detail.contains("name"), "{e}");
}
