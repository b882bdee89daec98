//! Rules for a day's background document (see [`crate::model::background`]).
//!
//! - The root holds only `people`, created once and never replaced or deleted.
//! - A person is never deleted or replaced, and every field but `wardrobe` is written once,
//!   with the person: the roster is what the day's paperwork is drawn from.
//! - A new person names its writer as `created_by` and starts with one `created` event.
//! - Events are append-only; each new one names its writer and their role and is a step
//!   allowed from the state derived from the events its author saw (`prev`), so nobody can
//!   check someone in in another PA's name, or release someone never checked in.
//! - Every person whose fields changed still reads as the model defines it, within bounds.

use std::collections::BTreeMap;

use automerge::{Automerge, ObjId, ROOT};
use autosurgeon::hydrate_prop;

use super::board::{check_new_events, RecordTouch};
use super::walk::{Edit, Op, Touched};
use super::{Refusal, Rule, RuleContext};
use crate::model::background::{self, BackgroundEventKind, BackgroundRecord};
use crate::model::status;
use crate::model::util::get_map;
use crate::model::DomainError;

/// Fields written once, with the person.
const IMMUTABLE: [&str; 6] = [
    "id",
    "name",
    "group_id",
    "group",
    "created_at",
    "created_by",
];

const ROOT_ONLY: &str = "a background document's root holds only `people`";

/// What the incoming changes did to one person.
#[derive(Default)]
struct PersonTouch {
    log: RecordTouch,
    /// A field other than the event log changed.
    fields: bool,
}

pub(super) fn check(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    let mut people: BTreeMap<String, PersonTouch> = BTreeMap::new();
    for e in &touched.edits {
        let Some(top) = e.key(0) else {
            return Err(shape(e, ROOT_ONLY));
        };
        if top != "people" {
            return Err(shape(e, ROOT_ONLY));
        }
        if e.path.len() == 1 {
            if e.op == Op::Delete || touched.existed_before(&ROOT, top) {
                return Err(Refusal::new(
                    Rule::Containers,
                    top,
                    "the day's `people` map is created once and never replaced",
                ));
            }
            continue;
        }
        let Some(id) = e.key(1) else {
            return Err(shape(e, "people are keyed by id"));
        };
        let person = people.entry(id.to_owned()).or_default();
        if e.path.len() == 2 {
            if e.op == Op::Delete {
                return Err(Refusal::new(
                    Rule::NeverDeleted,
                    e.path_string(),
                    "a person at holding is never deleted: the day's paperwork counts them",
                ));
            }
            if !e.in_new_object && touched.existed_before(&e.obj, id) {
                return Err(Refusal::new(
                    Rule::NeverDeleted,
                    e.path_string(),
                    "a person at holding is never replaced; record what happened as an event",
                ));
            }
            person.log.is_new = true;
            continue;
        }
        let field = e.key(2).unwrap_or_default();
        let existing = !e.in_new_object;
        if e.path.len() == 3 && existing && field == "events" {
            return Err(Refusal::new(
                Rule::AppendOnly,
                e.path_string(),
                "a person's `events` are never replaced or deleted",
            ));
        }
        if existing && IMMUTABLE.contains(&field) {
            return Err(Refusal::new(
                Rule::AppendOnly,
                e.path_string(),
                format!("a person's `{field}` never changes once they are added"),
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
                        "check-ins, vouchers and releases are never deleted or rewritten",
                    ));
                }
                person.log.new_events.insert(key.to_owned());
            }
            "events" if e.path.len() > 4 => {
                return Err(shape(e, "an event is one JSON string"));
            }
            _ => person.fields = true,
        }
    }
    if people.is_empty() {
        return Ok(());
    }
    let people_obj = get_map(doc, &ROOT, "people").ok_or_else(|| {
        Refusal::new(
            Rule::Containers,
            "people",
            "the background document has no `people` map",
        )
    })?;
    for (id, touch) in &people {
        check_person(ctx, doc, &people_obj, id, touch)?;
    }
    Ok(())
}

fn shape(e: &Edit, detail: &str) -> Refusal {
    Refusal::new(Rule::Shape, e.path_string(), detail)
}

fn check_person(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    people: &ObjId,
    id: &str,
    touch: &PersonTouch,
) -> Result<(), Refusal> {
    let path = format!("people/{id}");
    let obj = get_map(doc, people, id)
        .ok_or_else(|| Refusal::new(Rule::Shape, path.clone(), "a person is a map"))?;
    let shape_err = |e: DomainError| Refusal::new(Rule::Shape, path.clone(), e.to_string());
    if touch.fields || touch.log.is_new {
        let r: BackgroundRecord = hydrate_prop(doc, people, id).map_err(|e| shape_err(e.into()))?;
        if r.id != id {
            return Err(Refusal::new(
                Rule::Shape,
                format!("{path}/id"),
                "a person's `id` is their key in `people`",
            ));
        }
        background::validate_record(&r).map_err(shape_err)?;
        if let Some(w) = ctx
            .writer
            .filter(|w| touch.log.is_new && r.created_by != w.member_id)
        {
            return Err(Refusal::new(
                Rule::Authorship,
                path,
                format!(
                    "the created_by names {}, but it was written by {}",
                    r.created_by, w.member_id
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
            "a person's event log is a map",
        )
    })?;
    let log = status::read_log::<BackgroundEventKind, _>(doc, &events);
    check_new_events(ctx, &path, &log, &touch.log, |seen_events, ev, role| {
        let seen = status::derive(seen_events).state;
        background::check_logged_event(&seen, ev, role)
    })
}
