//! Runs' details: the range of every field, stops, items, food orders, receipts, money,
//! mileage, proof of delivery and comments, and what a status event carries.

mod domain_support;

use domain_support::runs::*;
use domain_support::*;
use setlink_core::access::Role;
use setlink_core::model::run::{self, *};
use setlink_core::model::{DomainError, EventContext, Location, Priority};

#[test]
fn values_out_of_range_are_refused() {
    let mut doc = board();
    let id = drop_off_run(&mut doc);
    let e = refused(&mut doc, |d| {
        run::create_run(d, &coord(), T0, NewRun::new(RunKind::Other, "   ", "y"))
    });
    assert!(
        matches!(
            e,
            DomainError::InvalidValue {
                field: "run title",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        run::create_run(
            d,
            &coord(),
            T0,
            NewRun::new(RunKind::Other, "x".repeat(201), "y"),
        )
    });
    assert!(
        matches!(
            e,
            DomainError::OutOfRange {
                field: "run title",
                ..
            }
        ),
        "{e}"
    );
    let mut bad = NewRun::new(RunKind::Other, "x", "y");
    bad.items.push(ItemInput {
        description: "tape".into(),
        quantity: 0,
    });
    let e = refused(&mut doc, |d| run::create_run(d, &coord(), T0, bad));
    assert!(
        matches!(
            e,
            DomainError::OutOfRange {
                field: "item quantity",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        run::add_item(
            d,
            &pa1(),
            T0,
            &id,
            ItemInput {
                description: "tape".into(),
                quantity: 1_000_000,
            },
        )
    });
    assert!(matches!(e, DomainError::OutOfRange { .. }), "{e}");
    let e = refused(&mut doc, |d| {
        run::edit_run(
            d,
            &pa1(),
            T0,
            &id,
            RunEdit {
                needed_by: Some(Some(-5)),
                ..Default::default()
            },
        )
    });
    assert!(
        matches!(
            e,
            DomainError::OutOfRange {
                field: "needed-by time",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        run::record_status(d, &coord(), -1, &id, RunEvent::Cancel, EventContext::none())
    });
    assert!(
        matches!(e, DomainError::OutOfRange { field: "time", .. }),
        "{e}"
    );
    let receipt = |total, tax| ReceiptInput {
        vendor: "Home Depot".into(),
        total_cents: total,
        tax_cents: tax,
        ..Default::default()
    };
    for (total, tax) in [
        (-100, 0),
        (0, 0),
        (1000, 1001),
        (1000, -1),
        (1_000_000_000, 0),
    ] {
        let e = refused(&mut doc, |d| {
            run::add_receipt(d, &pa1(), T0, &id, receipt(total, tax))
        });
        assert!(
            matches!(e, DomainError::OutOfRange { .. }),
            "{total} {tax}: {e}"
        );
    }
    let e = refused(&mut doc, |d| {
        run::set_money(
            d,
            &pa1(),
            T0,
            &id,
            MoneyEdit {
                advanced_cents: Some(-1),
                ..Default::default()
            },
        )
    });
    assert!(
        matches!(
            e,
            DomainError::OutOfRange {
                field: "amount advanced",
                ..
            }
        ),
        "{e}"
    );
    run::set_money(
        &mut doc,
        &pa1(),
        T0,
        &id,
        MoneyEdit {
            advanced_cents: Some(10_000),
            ..Default::default()
        },
    )
    .unwrap();
    let e = refused(&mut doc, |d| {
        run::set_money(
            d,
            &pa1(),
            T0,
            &id,
            MoneyEdit {
                cash_returned_cents: Some(Some(10_001)),
                ..Default::default()
            },
        )
    });
    assert!(
        matches!(
            e,
            DomainError::OutOfRange {
                field: "cash returned",
                ..
            }
        ),
        "{e}"
    );
    for m in [-1, 100_001] {
        let e = refused(&mut doc, |d| run::set_mileage(d, &pa1(), T0, &id, Some(m)));
        assert!(
            matches!(
                e,
                DomainError::OutOfRange {
                    field: "mileage",
                    ..
                }
            ),
            "{e}"
        );
    }
    let e = refused(&mut doc, |d| run::add_comment(d, &pa1(), T0, &id, " "));
    assert!(matches!(e, DomainError::InvalidValue { .. }), "{e}");
    let e = refused(&mut doc, |d| {
        run::set_proof_of_delivery(d, &pa1(), T0, &id, ProofInput::default())
    });
    assert!(
        matches!(
            e,
            DomainError::InvalidValue {
                field: "received by",
                ..
            }
        ),
        "{e}"
    );
    let bad_loc = EventContext {
        note: None,
        location: Some(Location {
            lat: Some(91.0),
            lon: Some(0.0),
            label: None,
        }),
    };
    let e = refused(&mut doc, |d| {
        run::record_status(d, &coord(), T0, &id, RunEvent::Cancel, bad_loc)
    });
    assert!(
        matches!(
            e,
            DomainError::OutOfRange {
                field: "latitude",
                ..
            }
        ),
        "{e}"
    );
    let half = EventContext {
        note: None,
        location: Some(Location {
            lat: Some(1.0),
            lon: None,
            label: None,
        }),
    };
    let e = refused(&mut doc, |d| {
        run::record_status(d, &coord(), T0, &id, RunEvent::Cancel, half)
    });
    assert!(
        matches!(
            e,
            DomainError::InvalidValue {
                field: "location",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(&mut doc, |d| {
        run::add_stop(
            d,
            &pa1(),
            T0,
            &id,
            StopInput {
                label: "a\u{0}b".into(),
                ..Default::default()
            },
        )
    });
    assert!(matches!(e, DomainError::InvalidValue { .. }), "{e}");
}

#[test]
fn stops_items_food_receipts_money_mileage_proof_and_comments() {
    let mut doc = board();
    let id = run::create_run(
        &mut doc,
        &office(),
        T0,
        NewRun::new(RunKind::FoodOrder, "Lunch for camera", "1st AC"),
    )
    .unwrap();
    let s1 = run::add_stop(
        &mut doc,
        &pa1(),
        T0,
        &id,
        StopInput {
            label: "Sweetgreen".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let s2 = run::add_stop(
        &mut doc,
        &pa1(),
        T0,
        &id,
        StopInput {
            label: "Stage 4".into(),
            ..Default::default()
        },
    )
    .unwrap();
    run::edit_stop(
        &mut doc,
        &pa1(),
        T0,
        &id,
        &s1,
        StopInput {
            label: "Sweetgreen Burbank".into(),
            contact_phone: Some("555-0100".into()),
            ..Default::default()
        },
    )
    .unwrap();
    run::remove_stop(&mut doc, &pa1(), T0, &id, &s2).unwrap();
    let i1 = run::add_item(
        &mut doc,
        &pa1(),
        T0,
        &id,
        ItemInput {
            description: "Napkins".into(),
            quantity: 50,
        },
    )
    .unwrap();
    run::set_item_checked(&mut doc, &pa1(), T0, &id, &i1, true).unwrap();
    run::edit_item(
        &mut doc,
        &pa1(),
        T0,
        &id,
        &i1,
        ItemInput {
            description: "Napkins (big)".into(),
            quantity: 60,
        },
    )
    .unwrap();
    let i2 = run::add_item(
        &mut doc,
        &pa1(),
        T0,
        &id,
        ItemInput {
            description: "Forks".into(),
            quantity: 10,
        },
    )
    .unwrap();
    run::remove_item(&mut doc, &pa1(), T0, &id, &i2).unwrap();
    let f1 = run::add_food_order(
        &mut doc,
        &pa1(),
        T0,
        &id,
        FoodOrderInput {
            person: "Sam".into(),
            order: "Harvest bowl".into(),
            dietary_notes: Some("no nuts".into()),
        },
    )
    .unwrap();
    run::edit_food_order(
        &mut doc,
        &pa1(),
        T0,
        &id,
        &f1,
        FoodOrderInput {
            person: "Sam".into(),
            order: "Kale caesar".into(),
            dietary_notes: None,
        },
    )
    .unwrap();
    run::add_receipt(
        &mut doc,
        &pa1(),
        T0 + 7,
        &id,
        ReceiptInput {
            vendor: "Sweetgreen".into(),
            total_cents: 4_520,
            tax_cents: 420,
            account_code: Some("2150".into()),
            photo_ref: Some("blob:1".into()),
        },
    )
    .unwrap();
    run::set_money(
        &mut doc,
        &office(),
        T0,
        &id,
        MoneyEdit {
            envelope: Some(Some("PC-7".into())),
            advanced_cents: Some(10_000),
            cash_returned_cents: None,
        },
    )
    .unwrap();
    run::set_money(
        &mut doc,
        &pa1(),
        T0,
        &id,
        MoneyEdit {
            cash_returned_cents: Some(Some(5_380)),
            ..Default::default()
        },
    )
    .unwrap();
    run::set_mileage(&mut doc, &pa1(), T0, &id, Some(123)).unwrap();
    run::set_proof_of_delivery(
        &mut doc,
        &pa1(),
        T0 + 9,
        &id,
        ProofInput {
            received_by: "Jo (1st AC)".into(),
            note: Some("left at camera cart".into()),
            photo_ref: None,
        },
    )
    .unwrap();
    run::add_comment(&mut doc, &coord(), T0 + 10, &id, "thanks!").unwrap();
    run::edit_run(
        &mut doc,
        &coord(),
        T0,
        &id,
        RunEdit {
            title: Some("Lunch for camera + grip".into()),
            priority: Some(Priority::Urgent),
            vehicle: Some(Some(Vehicle::Personal)),
            department: Some(None),
            ..Default::default()
        },
    )
    .unwrap();

    let r = run::read_run(&doc, &id).unwrap().record;
    assert_eq!(r.title, "Lunch for camera + grip");
    assert_eq!(r.priority, Priority::Urgent);
    assert_eq!(r.vehicle, Some(Vehicle::Personal));
    assert_eq!(r.stops.len(), 1);
    assert_eq!(r.stops[0].label, "Sweetgreen Burbank");
    assert_eq!(r.stops[0].contact_phone.as_deref(), Some("555-0100"));
    assert_eq!(
        r.items,
        vec![Item {
            id: i1,
            description: "Napkins (big)".into(),
            quantity: 60,
            checked: true
        }]
    );
    assert_eq!(r.food_orders[0].order, "Kale caesar");
    assert_eq!(r.food_orders[0].dietary_notes, None);
    assert_eq!(r.receipts.len(), 1);
    assert_eq!(
        (
            r.receipts[0].total_cents,
            r.receipts[0].added_by.as_str(),
            r.receipts[0].added_at
        ),
        (4_520, "pa1", T0 + 7)
    );
    assert_eq!(
        r.money,
        Money {
            envelope: Some("PC-7".into()),
            advanced_cents: 10_000,
            cash_returned_cents: Some(5_380)
        }
    );
    assert_eq!(r.mileage_tenths, Some(123));
    let pod = r.proof_of_delivery.unwrap();
    assert_eq!(
        (
            pod.received_by.as_str(),
            pod.recorded_by.as_str(),
            pod.recorded_at
        ),
        ("Jo (1st AC)", "pa1", T0 + 9)
    );
    assert_eq!(r.comments.len(), 1);
    assert_eq!(
        (r.comments[0].author.as_str(), r.comments[0].text.as_str()),
        ("coord", "thanks!")
    );
}

#[test]
fn status_events_carry_member_device_time_note_and_location() {
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
    let ctx = EventContext {
        note: Some("parked at loading dock".into()),
        location: Some(Location {
            lat: Some(34.15),
            lon: Some(-118.33),
            label: Some("Stage 4".into()),
        }),
    };
    run::record_status(
        &mut doc,
        &pa1(),
        T0 + 42,
        &id,
        RunEvent::EnRoute,
        ctx.clone(),
    )
    .unwrap();
    let r = run::read_run(&doc, &id).unwrap();
    let e = r.events.last().unwrap();
    assert_eq!(
        (e.member.as_str(), e.device.as_str(), e.at_ms, e.role),
        ("pa1", "pa1-phone", T0 + 42, Some(Role::Pa))
    );
    assert_eq!(e.note, ctx.note);
    assert_eq!(e.location, ctx.location);
}
