//! Rules for the production's gear document (see [`crate::model::gear`]).
//!
//! - The root holds only `items`, created once and never replaced or deleted.
//! - An item is never deleted or replaced (what happened to it is an event: returned to
//!   its owner, lost), and its `id`, `created_at`, `created_by` never change.
//! - A new item names its writer as `created_by`, is added by a coordinator or the office,
//!   and starts with one `created` event.
//! - What an item is and whose it is (name, category, label, owner, due back) is changed
//!   only by a coordinator or the office; condition, channel and battery by anyone who may
//!   write the document.
//! - Events are append-only; each new one names its writer and their role and is allowed
//!   from the state derived from the events its author saw (`prev`): no signing out a
//!   walkie that is lost or already out, no return of what nobody has, no "found" from a
//!   PA.
//! - Every item whose fields changed still reads as the model defines it, within bounds.

use automerge::{Automerge, ObjId};

use super::board::check_new_events;
use super::records::{self, Record, RecordMap, Touch};
use super::walk::Touched;
use super::{Refusal, Rule, RuleContext};
use crate::access::Role;
use crate::model::gear::{self, GearEventKind, GearRecord, INVENTORY_FIELDS};
use crate::model::status;
use crate::model::DomainError;

const ITEMS: RecordMap = RecordMap {
    container: "items",
    document: "the gear document",
    owner: "the gear list",
    plural: "gear items",
    one: "a gear item",
    pronoun: "its",
    never_deleted:
        "a gear item is never deleted; record that it went back to its owner or was lost",
    never_replaced: "a gear item is never replaced; edit its fields instead",
    write_once: &["id", "created_at", "created_by"],
    fixed: "never changes",
    never_rewritten: "sign-outs, returns and reports are never deleted or rewritten",
    event: "a gear event",
};

impl Record for GearRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn created_by(&self) -> &str {
        &self.created_by
    }
    fn validate(&self) -> Result<(), DomainError> {
        gear::validate_record(self)
    }
}

/// What the incoming changes did to one item: besides the walk every record document
/// shares, the first inventory field (see [`INVENTORY_FIELDS`]) an existing item had
/// changed.
type ItemTouch = Touch<Option<String>>;

pub(super) fn check(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    let items = records::touched_records(
        touched,
        &ITEMS,
        |inventory: &mut Option<String>, e, field| {
            if !e.in_new_object && INVENTORY_FIELDS.contains(&field) && inventory.is_none() {
                *inventory = Some(e.path_string());
            }
        },
    )?;
    if items.is_empty() {
        return Ok(());
    }
    let items_obj = records::container(doc, &ITEMS)?;
    for (id, touch) in &items {
        check_item(ctx, doc, &items_obj, id, touch)?;
    }
    Ok(())
}

fn is_planner(role: Role) -> bool {
    matches!(role, Role::Coordinator | Role::Office)
}

fn check_item(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    items: &ObjId,
    id: &str,
    touch: &ItemTouch,
) -> Result<(), Refusal> {
    let path = format!("items/{id}");
    let obj = records::record_obj(doc, items, id, &path, &ITEMS)?;
    // The event rules need the item even when only its events changed.
    let record: GearRecord = if touch.fields || touch.log.is_new {
        records::read_checked(ctx, doc, items, id, &path, &ITEMS, touch.log.is_new)?
    } else {
        records::read(doc, items, id, &path)?
    };
    if let (Some(w), Some(field)) = (ctx.writer, &touch.other) {
        if !is_planner(w.role) {
            return Err(Refusal::new(
                Rule::Transition,
                field.clone(),
                format!(
                    "a {} may not change what a gear item is or whose it is; ask a coordinator or the office",
                    w.role
                ),
            ));
        }
    }
    let Some(log) = records::log_to_check::<GearEventKind, _>(doc, &obj, &path, &ITEMS, touch)?
    else {
        return Ok(());
    };
    if touch.log.is_new {
        // Who may add inventory: the `created` event's role, which `check_new_events`
        // holds to the writer's when the relay knows the writer.
        let creator = log
            .events
            .iter()
            .find(|e| e.kind == GearEventKind::Created)
            .and_then(|e| e.role);
        if let Some(role) = creator.filter(|r| !is_planner(*r)) {
            return Err(Refusal::new(
                Rule::Transition,
                format!("{path}/events"),
                format!(
                    "a {role} may not add gear to the inventory; ask a coordinator or the office"
                ),
            ));
        }
    }
    check_new_events(ctx, &path, &log, &touch.log, |seen_events, ev, role| {
        let seen = status::derive(seen_events).state;
        gear::check_logged_gear_event(&record, &seen, ev, role)
    })
}
