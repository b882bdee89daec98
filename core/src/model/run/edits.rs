//! Editing a run's details: its fields, stops, items, food orders, money, receipts,
//! mileage, proof of delivery and comments (each an op on one list element or field).

use super::*;

/// Edits a run's fields. Roles: coordinator, office, PA.
pub fn edit_run(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    edit: RunEdit,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "edit a run")?;
    if let Some(t) = &edit.title {
        check_required("run title", t)?;
    }
    if let Some(r) = &edit.requested_by {
        check_required("requested by", r)?;
    }
    if let Some(d) = &edit.department {
        validate_optional_department(d)?;
    }
    if let Some(n) = edit.needed_by {
        validate_needed_by(n)?;
    }
    let run = run_obj(doc, run_id)?;
    transact(doc, by, at_ms, |tx| {
        if let Some(k) = edit.kind {
            reconcile_prop(tx, &run, "kind", k)?;
        }
        if let Some(t) = &edit.title {
            reconcile_prop(tx, &run, "title", t)?;
        }
        if let Some(r) = &edit.requested_by {
            reconcile_prop(tx, &run, "requested_by", r)?;
        }
        if let Some(d) = &edit.department {
            reconcile_prop(tx, &run, "department", d)?;
        }
        if let Some(p) = edit.priority {
            reconcile_prop(tx, &run, "priority", p)?;
        }
        if let Some(n) = edit.needed_by {
            reconcile_prop(tx, &run, "needed_by", n)?;
        }
        if let Some(v) = edit.vehicle {
            reconcile_prop(tx, &run, "vehicle", v)?;
        }
        Ok(())
    })
}

/// A list of a run's sub-records (stops, items, ...), with what to say when an id is unknown.
#[derive(Clone, Copy)]
enum RunList {
    Stops,
    Items,
    FoodOrders,
    Receipts,
}

impl RunList {
    fn key(self) -> &'static str {
        match self {
            RunList::Stops => "stops",
            RunList::Items => "items",
            RunList::FoodOrders => "food_orders",
            RunList::Receipts => "receipts",
        }
    }
    fn unknown(self, run: &str, id: &str) -> DomainError {
        let (run, id) = (run.to_owned(), id.to_owned());
        match self {
            RunList::Stops => DomainError::UnknownStop { run, stop: id },
            RunList::Items | RunList::FoodOrders => DomainError::UnknownItem { run, item: id },
            RunList::Receipts => DomainError::UnknownReceipt { run, receipt: id },
        }
    }
}

fn run_list<R: ReadDoc>(doc: &R, run_id: &str, sub: RunList) -> Result<ObjId, DomainError> {
    let run = run_obj(doc, run_id)?;
    util::require_list(doc, &run, sub.key(), "a run")
}

fn push_sub<T: Reconcile>(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    sub: RunList,
    value: &T,
) -> Result<(), DomainError> {
    let list = run_list(doc, run_id, sub)?;
    transact(doc, by, at_ms, |tx| {
        let len = tx.length(&list);
        reconcile_insert(tx, list.clone(), len, value)?;
        Ok(())
    })
}

fn find_sub<R: ReadDoc>(
    doc: &R,
    run_id: &str,
    sub: RunList,
    id: &str,
) -> Result<(ObjId, usize, ObjId), DomainError> {
    let list = run_list(doc, run_id, sub)?;
    let (idx, obj) = find_by_id(doc, &list, id).ok_or_else(|| sub.unknown(run_id, id))?;
    Ok((list, idx, obj))
}

fn put_sub<T: Reconcile>(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    sub: RunList,
    id: &str,
    value: &T,
) -> Result<(), DomainError> {
    let (list, idx, _) = find_sub(doc, run_id, sub, id)?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &list, idx, value)?;
        Ok(())
    })
}

fn remove_sub(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    sub: RunList,
    id: &str,
) -> Result<(), DomainError> {
    let (list, idx, _) = find_sub(doc, run_id, sub, id)?;
    transact(doc, by, at_ms, |tx| {
        tx.delete(&list, idx)?;
        Ok(())
    })
}

/// Adds a stop at the end of the route. Roles: coordinator, office, PA. Returns the stop id.
pub fn add_stop(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    stop: StopInput,
) -> Result<String, DomainError> {
    require_role(by, RUN_WRITERS, "add a stop")?;
    validate_stop(&stop)?;
    let id = new_record_id();
    push_sub(
        doc,
        by,
        at_ms,
        run_id,
        RunList::Stops,
        &stop_from(id.clone(), stop),
    )?;
    Ok(id)
}

/// Replaces a stop's details. Roles: coordinator, office, PA.
pub fn edit_stop(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    stop_id: &str,
    stop: StopInput,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "edit a stop")?;
    validate_stop(&stop)?;
    put_sub(
        doc,
        by,
        at_ms,
        run_id,
        RunList::Stops,
        stop_id,
        &stop_from(stop_id.to_owned(), stop),
    )
}

/// Roles: coordinator, office, PA.
pub fn remove_stop(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    stop_id: &str,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "remove a stop")?;
    remove_sub(doc, by, at_ms, run_id, RunList::Stops, stop_id)
}

/// Adds an item to get or deliver. Roles: coordinator, office, PA. Returns the item id.
pub fn add_item(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    item: ItemInput,
) -> Result<String, DomainError> {
    require_role(by, RUN_WRITERS, "add an item")?;
    validate_item(&item)?;
    let id = new_record_id();
    let value = Item {
        id: id.clone(),
        description: item.description,
        quantity: item.quantity,
        checked: false,
    };
    push_sub(doc, by, at_ms, run_id, RunList::Items, &value)?;
    Ok(id)
}

/// Changes an item's description and quantity, keeping its check mark. Roles: coordinator, office, PA.
pub fn edit_item(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    item_id: &str,
    item: ItemInput,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "edit an item")?;
    validate_item(&item)?;
    let (_, _, obj) = find_sub(doc, run_id, RunList::Items, item_id)?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &obj, "description", &item.description)?;
        reconcile_prop(tx, &obj, "quantity", item.quantity)?;
        Ok(())
    })
}

/// Checks an item off (or un-checks it). Roles: coordinator, office, PA.
pub fn set_item_checked(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    item_id: &str,
    checked: bool,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "check off an item")?;
    let (_, _, obj) = find_sub(doc, run_id, RunList::Items, item_id)?;
    transact(doc, by, at_ms, |tx| {
        tx.put(&obj, "checked", checked)?;
        Ok(())
    })
}

/// Roles: coordinator, office, PA.
pub fn remove_item(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    item_id: &str,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "remove an item")?;
    remove_sub(doc, by, at_ms, run_id, RunList::Items, item_id)
}

/// Adds one person's food order. Roles: coordinator, office, PA. Returns its id.
pub fn add_food_order(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    order: FoodOrderInput,
) -> Result<String, DomainError> {
    require_role(by, RUN_WRITERS, "add a food order")?;
    validate_food(&order)?;
    let id = new_record_id();
    push_sub(
        doc,
        by,
        at_ms,
        run_id,
        RunList::FoodOrders,
        &food_from(id.clone(), order),
    )?;
    Ok(id)
}

/// Roles: coordinator, office, PA.
pub fn edit_food_order(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    order_id: &str,
    order: FoodOrderInput,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "edit a food order")?;
    validate_food(&order)?;
    put_sub(
        doc,
        by,
        at_ms,
        run_id,
        RunList::FoodOrders,
        order_id,
        &food_from(order_id.to_owned(), order),
    )
}

/// Roles: coordinator, office, PA.
pub fn remove_food_order(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    order_id: &str,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "remove a food order")?;
    remove_sub(doc, by, at_ms, run_id, RunList::FoodOrders, order_id)
}

/// Logs a receipt. Roles: coordinator, office, PA. Returns the receipt id.
pub fn add_receipt(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    receipt: ReceiptInput,
) -> Result<String, DomainError> {
    require_role(by, RUN_WRITERS, "log a receipt")?;
    validate_receipt(&receipt)?;
    let id = new_record_id();
    let value = receipt_from(id.clone(), receipt, by, at_ms);
    push_sub(doc, by, at_ms, run_id, RunList::Receipts, &value)?;
    Ok(id)
}

fn receipt_from(id: String, r: ReceiptInput, by: &Author, at_ms: i64) -> Receipt {
    Receipt {
        id,
        vendor: r.vendor,
        total_cents: r.total_cents,
        tax_cents: r.tax_cents,
        account_code: r.account_code,
        photo_ref: r.photo_ref,
        added_by: by.member_id.clone(),
        added_at: at_ms,
    }
}

/// Sets petty cash: envelope, amount advanced, cash returned. Roles: coordinator, office, PA.
pub fn set_money(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    edit: MoneyEdit,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "record petty cash")?;
    if let Some(Some(e)) = &edit.envelope {
        check_required("petty-cash envelope", e)?;
    }
    if let Some(a) = edit.advanced_cents {
        check_cents("amount advanced", a)?;
    }
    if let Some(Some(c)) = edit.cash_returned_cents {
        check_cents("cash returned", c)?;
    }
    let run = run_obj(doc, run_id)?;
    let money = util::require_map(doc, &run, "money", "a run")?;
    let current: Money = autosurgeon::hydrate_prop(doc, &run, "money")?;
    let advanced = edit.advanced_cents.unwrap_or(current.advanced_cents);
    let returned = edit
        .cash_returned_cents
        .unwrap_or(current.cash_returned_cents);
    if let Some(r) = returned {
        if r > advanced {
            return Err(DomainError::OutOfRange {
                field: "cash returned",
                reason: format!("{r} cents returned is more than the {advanced} cents advanced"),
            });
        }
    }
    transact(doc, by, at_ms, |tx| {
        if let Some(e) = &edit.envelope {
            reconcile_prop(tx, &money, "envelope", e)?;
        }
        if let Some(a) = edit.advanced_cents {
            reconcile_prop(tx, &money, "advanced_cents", a)?;
        }
        if let Some(c) = edit.cash_returned_cents {
            reconcile_prop(tx, &money, "cash_returned_cents", c)?;
        }
        Ok(())
    })
}

/// Sets the mileage in tenths (`None` clears it). Roles: coordinator, office, PA.
pub fn set_mileage(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    tenths: Option<i64>,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "record mileage")?;
    if let Some(t) = tenths {
        if !(0..=MAX_MILEAGE_TENTHS).contains(&t) {
            return Err(DomainError::OutOfRange {
                field: "mileage",
                reason: format!("{t} tenths is not between 0 and {MAX_MILEAGE_TENTHS}"),
            });
        }
    }
    let run = run_obj(doc, run_id)?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &run, "mileage_tenths", tenths)?;
        Ok(())
    })
}

/// Records who received the delivery. Roles: coordinator, office, PA.
pub fn set_proof_of_delivery(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    proof: ProofInput,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "record proof of delivery")?;
    check_required("received by", &proof.received_by)?;
    check_opt("proof of delivery note", &proof.note, MAX_LONG)?;
    check_opt("proof of delivery photo", &proof.photo_ref, MAX_SHORT)?;
    let run = run_obj(doc, run_id)?;
    let value = ProofOfDelivery {
        received_by: proof.received_by,
        note: proof.note,
        photo_ref: proof.photo_ref,
        recorded_by: by.member_id.clone(),
        recorded_at: at_ms,
    };
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &run, "proof_of_delivery", Some(&value))?;
        Ok(())
    })
}

/// Adds a comment. Roles: coordinator, office, PA. Returns the comment id.
pub fn add_comment(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    text: &str,
) -> Result<String, DomainError> {
    require_role(by, RUN_WRITERS, "comment on a run")?;
    check_len("comment", text, MAX_LONG)?;
    if text.trim().is_empty() {
        return Err(DomainError::InvalidValue {
            field: "comment",
            reason: "must not be empty".into(),
        });
    }
    let run = run_obj(doc, run_id)?;
    let list = util::require_list(doc, &run, "comments", "a run")?;
    let id = new_record_id();
    let value = Comment {
        id: id.clone(),
        author: by.member_id.clone(),
        at: at_ms,
        text: text.to_owned(),
    };
    transact(doc, by, at_ms, |tx| {
        let len = tx.length(&list);
        reconcile_insert(tx, list.clone(), len, &value)?;
        Ok(())
    })?;
    Ok(id)
}
