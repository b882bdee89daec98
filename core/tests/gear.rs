//! Gear and walkies: the domain ops and their refusals, the wrap readers, the write rules
//! against an outside client that misbehaves, and a property test: replicas signing the
//! same items out and in concurrently, merged in any order, derive one holder and one set
//! of conflicts, and keep every event.

mod domain_support;
mod support;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ReadDoc, ROOT};
use domain_support::*;
use proptest::prelude::*;
use setlink_core::access::{Author, DocKind, Role};
use setlink_core::model::gear::{
    self, Battery, GearCategory, GearEdit, GearItem, NewGearItem, INVENTORY_FIELDS,
};
use setlink_core::model::run::{self, RunKind};
use setlink_core::model::DomainError;
use setlink_core::rules::{Refusal, Rule};
use support::{check_kind_as, forge_event, obj};

fn gear_doc() -> Automerge {
    let mut doc = Automerge::new();
    gear::init_gear(&mut doc, &office(), T0).unwrap();
    doc
}

fn walkie(n: i64) -> NewGearItem {
    let mut w = NewGearItem::new(format!("Walkie {n}"), GearCategory::Walkie);
    w.label = Some(format!("SN-{n:04}"));
    w.channel = Some(1);
    w.battery = Some(Battery::Full);
    w
}

fn rented(name: &str, owner: &str, due: &str) -> NewGearItem {
    let mut i = NewGearItem::new(name, GearCategory::Grip);
    i.owner = Some(owner.into());
    i.due_back = Some(due.into());
    i
}

fn item(doc: &Automerge, id: &str) -> GearItem {
    gear::read_item(doc, id).unwrap()
}

// ---------------------------------------------------------------------------------------
// Domain

#[test]
fn the_gear_list_is_created_once_by_the_office_or_a_coordinator() {
    let mut doc = Automerge::new();
    let e = refused(&mut doc, |d| gear::init_gear(d, &pa1(), T0));
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    gear::init_gear(&mut doc, &coord(), T0).unwrap();
    let e = refused(&mut doc, |d| gear::init_gear(d, &office(), T0));
    assert!(matches!(e, DomainError::AlreadyExists(_)), "{e}");
    assert!(gear::list_items(&doc).unwrap().items.is_empty());
    assert_eq!(
        gear::list_items(&Automerge::new()).unwrap_err(),
        DomainError::NotInitialised("the gear list")
    );
}

#[test]
fn inventory_is_the_offices_and_condition_anyones() {
    let mut doc = gear_doc();
    let e = refused(&mut doc, |d| gear::add_item(d, &pa1(), T0, walkie(1)));
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    let id = gear::add_item(&mut doc, &office(), T0, walkie(1)).unwrap();
    // A PA updates what they see in hand...
    let battery = GearEdit {
        battery: Some(Some(Battery::Low)),
        channel: Some(Some(4)),
        condition: Some(Some("antenna bent".into())),
        ..GearEdit::default()
    };
    gear::edit_item(&mut doc, &pa1(), T0 + 1, &id, battery).unwrap();
    let r = item(&doc, &id).record;
    assert_eq!(
        (r.battery, r.channel, r.condition.as_deref()),
        (Some(Battery::Low), Some(4), Some("antenna bent"))
    );
    // ...but not what the item is or whose.
    let owner = GearEdit {
        owner: Some(Some("Rentals R Us".into())),
        ..GearEdit::default()
    };
    let e = refused(&mut doc, |d| {
        gear::edit_item(d, &pa1(), T0 + 2, &id, owner.clone())
    });
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    gear::edit_item(&mut doc, &coord(), T0 + 2, &id, owner).unwrap();
    // An edit that changes nothing commits nothing.
    let heads = doc.get_heads();
    let same = GearEdit {
        name: Some("Walkie 1".into()),
        ..GearEdit::default()
    };
    gear::edit_item(&mut doc, &coord(), T0 + 3, &id, same).unwrap();
    assert_eq!(doc.get_heads(), heads);
}

#[test]
fn bad_fields_are_refused_naming_the_field() {
    let mut doc = gear_doc();
    let cases: Vec<(NewGearItem, &str)> = vec![
        (NewGearItem::new("  ", GearCategory::Other), "gear name"),
        (rented("C-stand", "Grip House", "2026-02-30"), "due back"),
        (rented("C-stand", " ", "2026-11-30"), "gear owner"),
        (
            {
                let mut w = walkie(1);
                w.channel = Some(1000);
                w
            },
            "walkie channel",
        ),
        (
            {
                let mut w = walkie(1);
                w.condition = Some("bell\u{7}".into());
                w
            },
            "condition",
        ),
    ];
    for (new, field) in cases {
        let e = refused(&mut doc, |d| gear::add_item(d, &office(), T0, new.clone()));
        assert!(e.to_string().starts_with(field), "{field}: {e}");
    }
    let e = refused(&mut doc, |d| {
        gear::sign_out(d, &pa1(), T0, "no-such-item", "cam", None)
    });
    assert_eq!(e, DomainError::UnknownGearItem("no-such-item".into()));
}

#[test]
fn a_walkie_goes_out_comes_back_and_its_history_stays() {
    let mut doc = gear_doc();
    let id = gear::add_item(&mut doc, &office(), T0, walkie(1)).unwrap();
    gear::sign_out(&mut doc, &pa1(), T0 + 10, &id, "cam-op", Some("ch 1")).unwrap();
    let w = item(&doc, &id);
    assert_eq!(w.holder.as_deref(), Some("cam-op"));
    assert_eq!(w.out_since, Some(T0 + 10));
    assert!(w.is_out());
    // Out already: a second sign-out is refused until it comes back.
    let e = refused(&mut doc, |d| {
        gear::sign_out(d, &pa2(), T0 + 11, &id, "grip", None)
    });
    assert!(e.to_string().contains("record its return first"), "{e}");
    gear::return_item(&mut doc, &pa2(), T0 + 20, &id, None).unwrap();
    let w = item(&doc, &id);
    assert_eq!((w.holder, w.out_since), (None, None));
    let kinds: Vec<&str> = w
        .events
        .iter()
        .map(|e| setlink_core::model::status::EventKind::as_str(e.kind))
        .collect();
    assert_eq!(kinds, ["created", "signed_out", "returned"]);
    // Nothing to return now.
    let e = refused(&mut doc, |d| {
        gear::return_item(d, &pa1(), T0 + 21, &id, None)
    });
    assert!(e.to_string().contains("not signed out"), "{e}");
    // Crew never writes gear.
    let e = refused(&mut doc, |d| {
        gear::sign_out(d, &crew(), T0 + 22, &id, "crew1", None)
    });
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
}

#[test]
fn lost_damaged_found_repaired_and_back_to_the_owner() {
    let mut doc = gear_doc();
    let w = gear::add_item(&mut doc, &office(), T0, walkie(2)).unwrap();
    gear::sign_out(&mut doc, &pa1(), T0 + 1, &w, "boom-op", None).unwrap();
    gear::report_lost(&mut doc, &pa1(), T0 + 2, &w, Some("left at location 2")).unwrap();
    let lost = item(&doc, &w);
    assert!(lost.lost && !lost.is_out());
    assert_eq!(lost.holder.as_deref(), Some("boom-op"), "who had it last");
    let e = refused(&mut doc, |d| {
        gear::sign_out(d, &pa1(), T0 + 3, &w, "x", None)
    });
    assert!(e.to_string().contains("mark it found first"), "{e}");
    let e = refused(&mut doc, |d| gear::mark_found(d, &pa1(), T0 + 3, &w, None));
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    gear::mark_found(&mut doc, &office(), T0 + 4, &w, None).unwrap();
    let found = item(&doc, &w);
    assert!(!found.lost && found.holder.is_none());

    let e = refused(&mut doc, |d| {
        gear::report_damaged(d, &pa2(), T0 + 5, &w, " ", None)
    });
    assert!(e.to_string().starts_with("damage"), "{e}");
    gear::report_damaged(&mut doc, &pa2(), T0 + 5, &w, "cracked case", None).unwrap();
    let d = item(&doc, &w);
    assert!(d.damaged);
    assert_eq!(d.damage.as_deref(), Some("cracked case"));
    let e = refused(&mut doc, |d| {
        gear::mark_repaired(d, &pa2(), T0 + 6, &w, None)
    });
    assert!(matches!(e, DomainError::Forbidden { .. }), "{e}");
    gear::mark_repaired(&mut doc, &coord(), T0 + 6, &w, None).unwrap();
    assert!(!item(&doc, &w).damaged);

    // The production's own walkie has no owner to go back to.
    let e = refused(&mut doc, |d| {
        gear::returned_to_owner(d, &pa1(), T0 + 7, &w, None)
    });
    assert!(e.to_string().contains("production's own"), "{e}");
    let stand = gear::add_item(
        &mut doc,
        &office(),
        T0,
        rented("C-stand", "Grip House", "2026-11-20"),
    )
    .unwrap();
    gear::sign_out(&mut doc, &pa1(), T0 + 8, &stand, "pa1", None).unwrap();
    gear::returned_to_owner(&mut doc, &pa1(), T0 + 9, &stand, Some("handed to Sam")).unwrap();
    let back = item(&doc, &stand);
    assert!(back.with_owner && back.holder.is_none());
    let e = refused(&mut doc, |d| {
        gear::sign_out(d, &pa1(), T0 + 10, &stand, "x", None)
    });
    assert!(e.to_string().contains("went back to its owner"), "{e}");
}

#[test]
fn two_offline_sign_outs_of_one_walkie_resolve_the_same_everywhere_with_a_conflict() {
    let mut office_doc = gear_doc();
    let id = gear::add_item(&mut office_doc, &office(), T0, walkie(7)).unwrap();
    let mut a = office_doc.fork();
    let mut b = office_doc.fork();
    gear::sign_out(&mut a, &pa1(), T0 + 100, &id, "gaffer", None).unwrap();
    gear::sign_out(&mut b, &pa2(), T0 + 50, &id, "key-grip", None).unwrap();
    sync_pair(&mut a, &mut b);
    let (ia, ib) = (item(&a, &id), item(&b, &id));
    assert_eq!(ia, ib);
    // The later sign-out wins; the other is kept and shown.
    assert_eq!(ia.holder.as_deref(), Some("gaffer"));
    assert_eq!(ia.conflicts.len(), 1);
    let loser = &ia.conflicts[0];
    assert_eq!(loser.event_kind, "signed_out");
    assert!(!loser.resolved);
    assert_eq!(ia.events.len(), 3);
    // Recording the return (seeing both) resolves it, and it stays visible.
    gear::return_item(&mut a, &office(), T0 + 200, &id, None).unwrap();
    let after = item(&a, &id);
    assert!(after.holder.is_none());
    assert!(after.conflicts.iter().all(|c| c.resolved));
    assert_eq!(after.conflicts.len(), 1);
}

#[test]
fn wrap_readers_say_who_has_what_what_is_overdue_and_what_is_still_out() {
    let mut doc = gear_doc();
    let w: Vec<String> = (1..=4)
        .map(|n| gear::add_item(&mut doc, &office(), T0, walkie(n)).unwrap())
        .collect();
    let stand = gear::add_item(
        &mut doc,
        &office(),
        T0,
        rented("C-stand", "Grip House", "2026-11-20"),
    )
    .unwrap();
    let lens = gear::add_item(
        &mut doc,
        &office(),
        T0,
        rented("Zeiss 50mm", "Camera Co", "2026-11-25"),
    )
    .unwrap();
    let lost_cable = gear::add_item(
        &mut doc,
        &office(),
        T0,
        rented("Cable", "Camera Co", "2026-11-01"),
    )
    .unwrap();
    for (i, id) in w.iter().take(3).enumerate() {
        gear::sign_out(&mut doc, &pa1(), T0 + i as i64, id, "pa1", None).unwrap();
    }
    gear::sign_out(&mut doc, &pa1(), T0 + 5, &stand, "grip1", None).unwrap();
    gear::report_lost(&mut doc, &pa1(), T0 + 6, &lost_cable, None).unwrap();
    let items = gear::list_items(&doc).unwrap().items;
    assert_eq!(
        items[0].record.category,
        GearCategory::Walkie,
        "walkies first"
    );

    assert_eq!(gear::held_by(&items, "pa1").len(), 3);
    assert_eq!(gear::held_by(&items, "grip1")[0].id(), stand);
    let out = gear::still_out_summary(&items);
    assert_eq!(
        out,
        vec![("walkie".to_owned(), 3), ("C-stand".to_owned(), 1)]
    );
    assert_eq!(gear::format_still_out(&out), "3 walkies, 1 C-stand");
    assert_eq!(gear::format_still_out(&[]), "nothing");
    assert_eq!(
        gear::format_still_out(&[("walkie".into(), 1), ("Apple box".into(), 2)]),
        "1 walkie, 2 × Apple box"
    );

    // Overdue compares with the day it is given, not the wall clock.
    let ids = |v: Vec<&GearItem>| {
        let mut v: Vec<String> = v.into_iter().map(|i| i.id().to_owned()).collect();
        v.sort();
        v
    };
    let mut want = vec![stand.clone(), lost_cable.clone()];
    want.sort();
    assert_eq!(ids(gear::overdue(&items, "2026-11-24")), want);
    assert_eq!(
        ids(gear::overdue(&items, "2026-11-20")),
        vec![lost_cable.clone()]
    );
    assert_eq!(ids(gear::overdue(&items, "2026-11-26")).len(), 3);
    assert!(ids(gear::overdue(&items, "2026-11-26")).contains(&lens));

    // The return run: the lost cable cannot go back; the C-stand goes to Grip House.
    let name_of = |m: &str| format!("name of {m}");
    let input = gear::return_run_input(&items, "2026-11-24", "Office", name_of).unwrap();
    assert_eq!(input.kind, RunKind::Return);
    assert_eq!(input.title, "Return borrowed gear to Grip House");
    assert_eq!(input.stops.len(), 1);
    assert_eq!(input.stops[0].label, "Grip House");
    assert!(input.stops[0]
        .notes
        .as_deref()
        .is_some_and(|n| n.contains("C-stand") && n.contains("with name of grip1")));
    assert_eq!(input.items.len(), 1);
    let mut board = board();
    let run_id = run::create_run(&mut board, &office(), T0, input).unwrap();
    assert_eq!(
        run::read_run(&board, &run_id).unwrap().record.items.len(),
        1
    );
    let both = gear::return_run_input(&items, "2026-11-26", "Office", name_of).unwrap();
    assert_eq!(both.title, "Return borrowed gear to 2 owners");
    assert!(gear::return_run_input(&items, "2026-11-01", "Office", name_of).is_none());

    // Everything back: the wrap check is clean.
    for id in w.iter().take(3).chain([&stand]) {
        gear::return_item(&mut doc, &office(), T0 + 50, id, None).unwrap();
    }
    let items = gear::list_items(&doc).unwrap().items;
    assert!(gear::still_out(&items).is_empty());
    assert_eq!(
        gear::format_still_out(&gear::still_out_summary(&items)),
        "nothing"
    );
}

#[test]
fn an_unreadable_item_is_left_out_and_reported() {
    let mut doc = gear_doc();
    let good = gear::add_item(&mut doc, &office(), T0, walkie(1)).unwrap();
    let items = doc.get(ROOT, "items").unwrap().unwrap().1;
    let mut tx = doc.transaction();
    let bad = tx.put_object(&items, "bad", ObjType::Map).unwrap();
    tx.put(&bad, "id", "bad").unwrap();
    tx.put(&bad, "name", 42).unwrap();
    tx.commit();
    let l = gear::list_items(&doc).unwrap();
    assert_eq!(l.items.len(), 1);
    assert_eq!(l.items[0].id(), good);
    assert_eq!(l.unreadable.len(), 1);
    assert_eq!(l.unreadable[0].id, "bad");
    assert!(l.unreadable[0].why.contains("name"), "{}", l.unreadable[0]);
}

// ---------------------------------------------------------------------------------------
// Write rules: an outside client that misbehaves

/// Applies `edit` to a copy of `doc` and checks the result as the relay would for `writer`.
fn check_as(
    doc: &Automerge,
    writer: (&str, Role),
    edit: impl FnOnce(&mut Automerge),
) -> Result<(), Refusal> {
    check_kind_as(doc, &DocKind::Gear, writer, edit)
}

/// Puts a raw event (JSON) in `item`'s log after its current heads, in a commit with no
/// setlink metadata: what a hand-written client sends.
fn forge(doc: &mut Automerge, item_id: &str, json: serde_json::Value) {
    let log = item(doc, item_id).events;
    let events = obj(doc, &["items", item_id, "events"]);
    forge_event(doc, &events, &log, T0 + 5, json);
}

fn with_walkie() -> (Automerge, String) {
    let mut doc = gear_doc();
    let id = gear::add_item(&mut doc, &office(), T0, walkie(1)).unwrap();
    (doc, id)
}

#[test]
fn what_the_ops_write_passes_the_rules() {
    let (doc, id) = with_walkie();
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        gear::sign_out(d, &pa1(), T0 + 1, &id, "cam", None).unwrap();
        gear::edit_item(
            d,
            &pa1(),
            T0 + 2,
            &id,
            GearEdit {
                battery: Some(Some(Battery::Half)),
                ..GearEdit::default()
            },
        )
        .unwrap();
        gear::report_damaged(d, &pa1(), T0 + 3, &id, "scratched", None).unwrap();
        gear::return_item(d, &pa1(), T0 + 4, &id, None).unwrap();
    });
    assert_eq!(r, Ok(()));
    let r = check_as(&doc, ("office", Role::Office), |d| {
        gear::add_item(
            d,
            &office(),
            T0 + 1,
            rented("Dolly", "Grip House", "2026-12-01"),
        )
        .unwrap();
        gear::edit_item(
            d,
            &office(),
            T0 + 2,
            &id,
            GearEdit {
                name: Some("Walkie One".into()),
                ..GearEdit::default()
            },
        )
        .unwrap();
    });
    assert_eq!(r, Ok(()));
    // A fresh document, created by init_gear, passes too.
    let empty = Automerge::new();
    let r = check_as(&empty, ("office", Role::Office), |d| {
        gear::init_gear(d, &office(), T0).unwrap()
    });
    assert_eq!(r, Ok(()));
}

#[test]
fn deleting_or_rewriting_an_event_is_refused() {
    let (mut doc, id) = with_walkie();
    gear::sign_out(&mut doc, &pa1(), T0 + 1, &id, "cam", None).unwrap();
    let first = item(&doc, &id).events[1].id.clone();
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let events = obj(d, &["items", &id, "events"]);
        d.transact::<_, _, automerge::AutomergeError>(|tx| tx.delete(&events, first.as_str()))
            .unwrap();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let events = obj(d, &["items", &id, "events"]);
        d.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(&events, first.as_str(), "{}"))
            .unwrap();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
    // Replacing the whole log is refused too.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let item = obj(d, &["items", &id]);
        d.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put_object(&item, "events", ObjType::Map)
        })
        .unwrap();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
}

#[test]
fn items_and_the_list_are_never_deleted_or_replaced() {
    let (doc, id) = with_walkie();
    let r = check_as(&doc, ("coord", Role::Coordinator), |d| {
        let items = obj(d, &["items"]);
        d.transact::<_, _, automerge::AutomergeError>(|tx| tx.delete(&items, id.as_str()))
            .unwrap();
    });
    assert_eq!(r.unwrap_err().rule, Rule::NeverDeleted);
    let r = check_as(&doc, ("coord", Role::Coordinator), |d| {
        d.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put_object(ROOT, "items", ObjType::Map)
        })
        .unwrap();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Containers);
    let r = check_as(&doc, ("coord", Role::Coordinator), |d| {
        d.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "notes", "hi"))
            .unwrap();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
    let r = check_as(&doc, ("coord", Role::Coordinator), |d| {
        let it = obj(d, &["items", &id]);
        d.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(&it, "created_by", "coord"))
            .unwrap();
    });
    assert_eq!(r.unwrap_err().rule, Rule::AppendOnly);
}

#[test]
fn a_forged_signer_is_refused() {
    let (doc, id) = with_walkie();
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "signed_out", "assignee": "cam", "member": "pa2", "role": "pa"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
    // A PA claiming the office's role.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "signed_out", "assignee": "cam", "member": "pa1", "role": "office"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
    // The same event in the PA's own name is fine.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "signed_out", "assignee": "cam", "member": "pa1", "role": "pa"}),
        )
    });
    assert_eq!(r, Ok(()));
    // Commit metadata naming someone else is refused before the events are looked at.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        gear::sign_out(d, &pa2(), T0 + 1, &id, "cam", None).unwrap();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Authorship);
}

#[test]
fn transitions_are_checked_against_what_the_writer_saw() {
    let (mut doc, id) = with_walkie();
    gear::report_lost(&mut doc, &pa1(), T0 + 1, &id, None).unwrap();
    // Signing out a lost walkie.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "signed_out", "assignee": "cam", "member": "pa1", "role": "pa"}),
        )
    });
    let e = r.unwrap_err();
    assert_eq!(e.rule, Rule::Transition);
    assert!(e.detail.contains("found"), "{e}");
    // A PA marking it found.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id,
            serde_json::json!({"kind": "found", "member": "pa1", "role": "pa"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Transition);
    // A sign-out naming no one, and a second `created`.
    let (fresh, id2) = with_walkie();
    let r = check_as(&fresh, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id2,
            serde_json::json!({"kind": "signed_out", "member": "pa1", "role": "pa"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Transition);
    let r = check_as(&fresh, ("office", Role::Office), |d| {
        forge(
            d,
            &id2,
            serde_json::json!({"kind": "created", "member": "office", "role": "office"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Transition);
    // An event kind this version does not know.
    let r = check_as(&fresh, ("pa1", Role::Pa), |d| {
        forge(
            d,
            &id2,
            serde_json::json!({"kind": "stolen", "member": "pa1", "role": "pa"}),
        )
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
}

#[test]
fn a_pa_may_not_add_inventory_or_change_whose_it_is() {
    let (doc, id) = with_walkie();
    // A raw client adding an item in its own name, as a PA.
    let r = check_as(&doc, ("pa1", Role::Pa), |d| {
        let items = obj(d, &["items"]);
        d.transact::<_, _, automerge::AutomergeError>(|tx| {
            let it = tx.put_object(&items, "new-one", ObjType::Map)?;
            tx.put(&it, "id", "new-one")?;
            tx.put(&it, "name", "Walkie 9")?;
            tx.put(&it, "category", "walkie")?;
            tx.put(&it, "created_at", T0 + 1)?;
            tx.put(&it, "created_by", "pa1")?;
            let ev = tx.put_object(&it, "events", ObjType::Map)?;
            let created = serde_json::json!({"kind": "created", "prev": [], "at": T0 + 1,
                "member": "pa1", "device": "x", "role": "pa"});
            tx.put(&ev, "e1", created.to_string())?;
            Ok(())
        })
        .unwrap();
    });
    let e = r.unwrap_err();
    assert_eq!(e.rule, Rule::Transition, "{e}");
    assert!(e.detail.contains("add gear"), "{e}");
    for field in INVENTORY_FIELDS {
        let r = check_as(&doc, ("pa1", Role::Pa), |d| {
            let it = obj(d, &["items", &id]);
            let value = if field == "category" {
                "camera"
            } else if field == "due_back" {
                "2026-12-01"
            } else {
                "Someone"
            };
            d.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(&it, field, value))
                .unwrap();
        });
        assert_eq!(r.unwrap_err().rule, Rule::Transition, "{field}");
    }
    // A bad value is refused by shape, whoever writes it.
    let r = check_as(&doc, ("coord", Role::Coordinator), |d| {
        let it = obj(d, &["items", &id]);
        d.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(&it, "battery", "empty"))
            .unwrap();
    });
    assert_eq!(r.unwrap_err().rule, Rule::Shape);
}

// ---------------------------------------------------------------------------------------
// Property: concurrent sign-outs converge

const ITEMS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    SignOut {
        replica: usize,
        item: usize,
        to: usize,
        who: usize,
        dt: i64,
    },
    Return {
        replica: usize,
        item: usize,
        who: usize,
        dt: i64,
    },
    Report {
        replica: usize,
        item: usize,
        kind: u8,
        who: usize,
        dt: i64,
    },
    Merge {
        from: usize,
        to: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let r = 0usize..5;
    prop_oneof![
        4 => (r.clone(), 0..ITEMS, 0usize..3, 0usize..4, 0i64..60_000)
            .prop_map(|(replica, item, to, who, dt)| Op::SignOut { replica, item, to, who, dt }),
        3 => (r.clone(), 0..ITEMS, 0usize..4, 0i64..60_000)
            .prop_map(|(replica, item, who, dt)| Op::Return { replica, item, who, dt }),
        2 => (r.clone(), 0..ITEMS, 0u8..5, 0usize..4, 0i64..60_000)
            .prop_map(|(replica, item, kind, who, dt)| Op::Report { replica, item, kind, who, dt }),
        3 => (r.clone(), r).prop_map(|(from, to)| Op::Merge { from, to }),
    ]
}

fn who(i: usize) -> Author {
    [coord(), office(), pa1(), pa2()][i % 4].clone()
}

fn attempt<T>(
    doc: &mut Automerge,
    f: impl FnOnce(&mut Automerge) -> Result<T, DomainError>,
) -> Option<T> {
    let before = doc.get_heads();
    match f(doc) {
        Ok(v) => Some(v),
        Err(e) => {
            assert_eq!(doc.get_heads(), before, "refused op changed the doc: {e}");
            None
        }
    }
}

fn view(doc: &Automerge) -> String {
    format!("{:?}", gear::list_items(doc).unwrap())
}

fn event_ids(doc: &Automerge) -> Vec<String> {
    let mut ids: Vec<String> = gear::list_items(doc)
        .unwrap()
        .items
        .into_iter()
        .flat_map(|i| i.events.into_iter().map(|e| e.id))
        .collect();
    ids.sort();
    ids
}

fn merge_into(replicas: &mut [Automerge], from: usize, to: usize) {
    if from == to {
        return;
    }
    let mut src = replicas[from].clone();
    replicas[to].merge(&mut src).unwrap();
}

fn converge(n: usize, ops: Vec<Op>, final_order: Vec<usize>) {
    let mut base = gear_doc();
    let mut ids = Vec::new();
    for i in 0..ITEMS {
        let new = if i == 0 {
            walkie(1)
        } else {
            rented(&format!("Item {i}"), "Rental House", "2026-11-30")
        };
        ids.push(gear::add_item(&mut base, &office(), T0, new).unwrap());
    }
    let mut expected = event_ids(&base);
    let mut replicas: Vec<Automerge> = (0..n).map(|_| base.fork()).collect();
    for (clock, op) in (T0 + 1..).zip(ops) {
        match op {
            Op::SignOut {
                replica,
                item,
                to,
                who: w,
                dt,
            } => {
                let to = ["cam", "grip", "sound"][to];
                let doc = &mut replicas[replica % n];
                expected.extend(attempt(doc, |d| {
                    gear::sign_out(d, &who(w), clock + dt, &ids[item], to, None)
                }));
            }
            Op::Return {
                replica,
                item,
                who: w,
                dt,
            } => {
                let doc = &mut replicas[replica % n];
                expected.extend(attempt(doc, |d| {
                    gear::return_item(d, &who(w), clock + dt, &ids[item], None)
                }));
            }
            Op::Report {
                replica,
                item,
                kind,
                who: w,
                dt,
            } => {
                let doc = &mut replicas[replica % n];
                let (by, at, id) = (who(w), clock + dt, ids[item].clone());
                expected.extend(attempt(doc, |d| match kind {
                    0 => gear::report_lost(d, &by, at, &id, None),
                    1 => gear::mark_found(d, &by, at, &id, None),
                    2 => gear::report_damaged(d, &by, at, &id, "dented", None),
                    3 => gear::mark_repaired(d, &by, at, &id, None),
                    _ => gear::returned_to_owner(d, &by, at, &id, None),
                }));
            }
            Op::Merge { from, to } => merge_into(&mut replicas, from % n, to % n),
        }
    }
    let order: Vec<usize> = final_order.into_iter().filter(|&i| i < n).collect();
    for w in order.windows(2) {
        merge_into(&mut replicas, w[0], w[1]);
    }
    let last = order[order.len() - 1];
    for &i in order.iter().rev() {
        merge_into(&mut replicas, last, i);
    }
    expected.sort();
    let reference = view(&replicas[0]);
    for (i, r) in replicas.iter().enumerate() {
        assert_eq!(view(r), reference, "replica {i} derived a different state");
        assert_eq!(
            event_ids(r),
            expected,
            "replica {i}: events lost or duplicated"
        );
        let reloaded = Automerge::load(&r.save()).unwrap();
        assert_eq!(view(&reloaded), reference);
    }
    for i in gear::list_items(&replicas[0]).unwrap().items {
        // Every conflict points at events in the log, and a holder came from a sign-out.
        for c in &i.conflicts {
            assert!(i.events.iter().any(|e| e.id == c.event_id));
            assert!(i.events.iter().any(|e| e.id == c.lost_to));
        }
        if let Some(h) = &i.holder {
            assert!(["cam", "grip", "sound"].contains(&h.as_str()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn replicas_signing_gear_out_and_in_converge_keeping_every_event(
        n in 2usize..=5,
        ops in prop::collection::vec(op(), 1..50),
        order in Just((0..5usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        converge(n, ops, order);
    }
}
