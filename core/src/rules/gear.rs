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

use std::collections::BTreeMap;

use automerge::{Automerge, ObjId, ROOT};
use autosurgeon::hydrate_prop;

use super::board::{check_new_events, RecordTouch};
use super::walk::{Edit, Op, Touched};
use super::{Refusal, Rule, RuleContext};
use crate::access::Role;
use crate::model::gear::{self, GearEventKind, GearRecord, INVENTORY_FIELDS};
use crate::model::status;
use crate::model::util::get_map;
use crate::model::DomainError;

/// Fields an item never changes after it is added.
const IMMUTABLE: [&str; 3] = ["id", "created_at", "created_by"];

const ROOT_ONLY: &str = "the gear document's root holds only `items`";

/// What the incoming changes did to one item.
#[derive(Default)]
struct ItemTouch {
    log: RecordTouch,
    /// A field other than the event log changed.
    fields: bool,
    /// The first inventory field (see [`INVENTORY_FIELDS`]) an existing item had changed.
    inventory: Option<String>,
}

pub(super) fn check(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    let mut items: BTreeMap<String, ItemTouch> = BTreeMap::new();
    for e in &touched.edits {
        if e.key(0) != Some("items") {
            return Err(shape(e, ROOT_ONLY));
        }
        if e.path.len() == 1 {
            if e.op == Op::Delete || touched.existed_before(&ROOT, "items") {
                return Err(Refusal::new(
                    Rule::Containers,
                    "items",
                    "the gear list's `items` map is created once and never replaced",
                ));
            }
            continue;
        }
        let Some(id) = e.key(1) else {
            return Err(shape(e, "gear items are keyed by id"));
        };
        let item = items.entry(id.to_owned()).or_default();
        if e.path.len() == 2 {
            if e.op == Op::Delete {
                return Err(Refusal::new(
                    Rule::NeverDeleted,
                    e.path_string(),
                    "a gear item is never deleted; record that it went back to its owner or was lost",
                ));
            }
            if !e.in_new_object && touched.existed_before(&e.obj, id) {
                return Err(Refusal::new(
                    Rule::NeverDeleted,
                    e.path_string(),
                    "a gear item is never replaced; edit its fields instead",
                ));
            }
            item.log.is_new = true;
            continue;
        }
        let field = e.key(2).unwrap_or_default();
        let existing = !e.in_new_object;
        if e.path.len() == 3 && existing && field == "events" {
            return Err(Refusal::new(
                Rule::AppendOnly,
                e.path_string(),
                "a gear item's `events` are never replaced or deleted",
            ));
        }
        if existing && IMMUTABLE.contains(&field) {
            return Err(Refusal::new(
                Rule::AppendOnly,
                e.path_string(),
                format!("a gear item's `{field}` never changes"),
            ));
        }
        match field {
            "events" if e.path.len() == 4 => {
                let key = e.key(3).unwrap_or_default();
                if e.op == Op::Delete
                    || (existing && e.op == Op::Put && touched.existed_before(&e.obj, key))
                {
                    return Err(Refusal::new(
                        Rule::AppendOnly,
                        e.path_string(),
                        "sign-outs, returns and reports are never deleted or rewritten",
                    ));
                }
                item.log.new_events.insert(key.to_owned());
            }
            "events" if e.path.len() > 4 => {
                return Err(shape(e, "a gear event is one JSON string"));
            }
            f => {
                item.fields = true;
                if existing && INVENTORY_FIELDS.contains(&f) && item.inventory.is_none() {
                    item.inventory = Some(e.path_string());
                }
            }
        }
    }
    if items.is_empty() {
        return Ok(());
    }
    let items_obj = get_map(doc, &ROOT, "items").ok_or_else(|| {
        Refusal::new(
            Rule::Containers,
            "items",
            "the gear document has no `items` map",
        )
    })?;
    for (id, touch) in &items {
        check_item(ctx, doc, &items_obj, id, touch)?;
    }
    Ok(())
}

fn shape(e: &Edit, detail: &str) -> Refusal {
    Refusal::new(Rule::Shape, e.path_string(), detail)
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
    let obj = get_map(doc, items, id)
        .ok_or_else(|| Refusal::new(Rule::Shape, path.clone(), "a gear item is a map"))?;
    let shape_err = |e: DomainError| Refusal::new(Rule::Shape, path.clone(), e.to_string());
    let record: GearRecord = hydrate_prop(doc, items, id).map_err(|e| shape_err(e.into()))?;
    if touch.fields || touch.log.is_new {
        if record.id != id {
            return Err(Refusal::new(
                Rule::Shape,
                format!("{path}/id"),
                "a gear item's `id` is its key in `items`",
            ));
        }
        gear::validate_record(&record).map_err(shape_err)?;
    }
    if let Some(w) = ctx.writer {
        if touch.log.is_new && record.created_by != w.member_id {
            return Err(Refusal::new(
                Rule::Authorship,
                path,
                format!(
                    "the created_by names {}, but it was written by {}",
                    record.created_by, w.member_id
                ),
            ));
        }
        if let (Some(field), false) = (&touch.inventory, is_planner(w.role)) {
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
    if touch.log.new_events.is_empty() && !touch.log.is_new {
        return Ok(());
    }
    let events = get_map(doc, &obj, "events").ok_or_else(|| {
        Refusal::new(
            Rule::Shape,
            format!("{path}/events"),
            "a gear item's event log is a map",
        )
    })?;
    let log = status::read_log::<GearEventKind, _>(doc, &events);
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
