//! The rules every document of records with their own event log shares: the gear list's
//! `items` and a day's background `people`.
//!
//! - The root holds only the records' map, created once and never replaced or deleted.
//! - A record is never deleted or replaced, and its write-once fields never change.
//! - A record's `events` map is never replaced; events are never deleted or rewritten, and
//!   each is one JSON string (read and checked by [`check_new_events`]).
//! - A record whose fields changed, or a new one, still reads as the model defines it, has
//!   its key as its `id`, and when new names its writer as `created_by`.
//!
//! What differs between documents (the words of the refusals, which fields are written
//! once, what else a document notes about an edit) is a [`RecordMap`] and a callback.

use std::collections::BTreeMap;

use automerge::{Automerge, ObjId, ROOT};
use autosurgeon::{hydrate_prop, Hydrate};

use super::board::RecordTouch;
use super::walk::{Edit, Op, Touched};
use super::{Refusal, Rule, RuleContext};
use crate::model::status::{self, EventKind};
use crate::model::util::get_map;
use crate::model::DomainError;

/// A document of records keyed by id under one root map, and the words its refusals use.
pub(super) struct RecordMap {
    /// The root key holding the records, the document's only one: `items`, `people`.
    pub(super) container: &'static str,
    /// The document: "the gear document".
    pub(super) document: &'static str,
    /// Whose the records' map is: "the gear list" (`items` map).
    pub(super) owner: &'static str,
    /// The records: "gear items".
    pub(super) plural: &'static str,
    /// One record: "a gear item".
    pub(super) one: &'static str,
    /// A record's possessive pronoun, as in "its key in `items`": "its", "their".
    pub(super) pronoun: &'static str,
    /// Why a record is never deleted.
    pub(super) never_deleted: &'static str,
    /// Why a record is never replaced.
    pub(super) never_replaced: &'static str,
    /// Fields an existing record never changes.
    pub(super) write_once: &'static [&'static str],
    /// What a write-once field does: "never changes".
    pub(super) fixed: &'static str,
    /// The refusal of a deleted or rewritten event, naming the events in the document's
    /// words: "sign-outs, returns and reports are never deleted or rewritten".
    pub(super) never_rewritten: &'static str,
    /// One event: "a gear event".
    pub(super) event: &'static str,
}

/// What the incoming changes did to one record.
#[derive(Default)]
pub(super) struct Touch<T> {
    pub(super) log: RecordTouch,
    /// A field other than the event log changed.
    pub(super) fields: bool,
    /// What the document noted about the other fields changed (see [`touched_records`]).
    pub(super) other: T,
}

/// The records the edits touched, by id, after refusing what no record document allows.
/// `other_field` sees every edit to a field other than the event log and the write-once
/// ones, with the record's note and the field's name.
pub(super) fn touched_records<T: Default>(
    touched: &Touched<'_>,
    map: &RecordMap,
    mut other_field: impl FnMut(&mut T, &Edit, &str),
) -> Result<BTreeMap<String, Touch<T>>, Refusal> {
    let mut records: BTreeMap<String, Touch<T>> = BTreeMap::new();
    for e in &touched.edits {
        if e.key(0) != Some(map.container) {
            return Err(shape(
                e,
                format!("{}'s root holds only `{}`", map.document, map.container),
            ));
        }
        if e.path.len() == 1 {
            if e.op == Op::Delete || touched.existed_before(&ROOT, map.container) {
                return Err(Refusal::new(
                    Rule::Containers,
                    map.container,
                    format!(
                        "{}'s `{}` map is created once and never replaced",
                        map.owner, map.container
                    ),
                ));
            }
            continue;
        }
        let Some(id) = e.key(1) else {
            return Err(shape(e, format!("{} are keyed by id", map.plural)));
        };
        let record = records.entry(id.to_owned()).or_default();
        if e.path.len() == 2 {
            if e.op == Op::Delete {
                return Err(Refusal::new(
                    Rule::NeverDeleted,
                    e.path_string(),
                    map.never_deleted,
                ));
            }
            if !e.in_new_object && touched.existed_before(&e.obj, id) {
                return Err(Refusal::new(
                    Rule::NeverDeleted,
                    e.path_string(),
                    map.never_replaced,
                ));
            }
            record.log.is_new = true;
            continue;
        }
        let field = e.key(2).unwrap_or_default();
        let existing = !e.in_new_object;
        if e.path.len() == 3 && existing && field == "events" {
            return Err(Refusal::new(
                Rule::AppendOnly,
                e.path_string(),
                format!("{}'s `events` are never replaced or deleted", map.one),
            ));
        }
        if existing && map.write_once.contains(&field) {
            return Err(Refusal::new(
                Rule::AppendOnly,
                e.path_string(),
                format!("{}'s `{field}` {}", map.one, map.fixed),
            ));
        }
        match field {
            "events" if e.path.len() == 4 => {
                let key = new_event(e, touched, map.never_rewritten)?;
                record.log.new_events.insert(key.to_owned());
            }
            "events" if e.path.len() > 4 => {
                return Err(shape(e, format!("{} is one JSON string", map.event)));
            }
            f => {
                record.fields = true;
                other_field(&mut record.other, e, f);
            }
        }
    }
    Ok(records)
}

/// The key of the event an edit at `<container>/<id>/events/<key>` adds, refusing
/// (`never_rewritten`) one that deletes an event or puts over one that was already there.
pub(super) fn new_event<'e>(
    e: &'e Edit,
    touched: &Touched<'_>,
    never_rewritten: &str,
) -> Result<&'e str, Refusal> {
    let key = e.key(3).unwrap_or_default();
    if e.op == Op::Delete
        || (!e.in_new_object && e.op == Op::Put && touched.existed_before(&e.obj, key))
    {
        return Err(Refusal::new(
            Rule::AppendOnly,
            e.path_string(),
            never_rewritten,
        ));
    }
    Ok(key)
}

/// The records' map at the root, which touched records need.
pub(super) fn container(doc: &Automerge, map: &RecordMap) -> Result<ObjId, Refusal> {
    get_map(doc, &ROOT, map.container).ok_or_else(|| {
        Refusal::new(
            Rule::Containers,
            map.container,
            format!("{} has no `{}` map", map.document, map.container),
        )
    })
}

/// Record `id`'s own map; `path` is its path for refusals.
pub(super) fn record_obj(
    doc: &Automerge,
    records: &ObjId,
    id: &str,
    path: &str,
    map: &RecordMap,
) -> Result<ObjId, Refusal> {
    get_map(doc, records, id)
        .ok_or_else(|| Refusal::new(Rule::Shape, path, format!("{} is a map", map.one)))
}

/// A record as the model reads it, so the rules can hold it to the model's bounds.
pub(super) trait Record: Hydrate {
    fn id(&self) -> &str;
    fn created_by(&self) -> &str;
    fn validate(&self) -> Result<(), DomainError>;
}

/// Record `id` read whole, unchecked.
pub(super) fn read<R: Record>(
    doc: &Automerge,
    records: &ObjId,
    id: &str,
    path: &str,
) -> Result<R, Refusal> {
    hydrate_prop(doc, records, id)
        .map_err(|e| Refusal::new(Rule::Shape, path, DomainError::from(e).to_string()))
}

/// Record `id` read whole and held to the model: its `id` is its key, it validates, and a
/// new one names the writer (when the relay knows the writer) as `created_by`. For a record
/// whose fields changed or that is new.
pub(super) fn read_checked<R: Record>(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    records: &ObjId,
    id: &str,
    path: &str,
    map: &RecordMap,
    is_new: bool,
) -> Result<R, Refusal> {
    let r: R = read(doc, records, id, path)?;
    if r.id() != id {
        return Err(Refusal::new(
            Rule::Shape,
            format!("{path}/id"),
            format!(
                "{}'s `id` is {} key in `{}`",
                map.one, map.pronoun, map.container
            ),
        ));
    }
    r.validate()
        .map_err(|e| Refusal::new(Rule::Shape, path, e.to_string()))?;
    if let Some(w) = ctx
        .writer
        .filter(|w| is_new && r.created_by() != w.member_id)
    {
        return Err(Refusal::new(
            Rule::Authorship,
            path,
            format!(
                "the created_by names {}, but it was written by {}",
                r.created_by(),
                w.member_id
            ),
        ));
    }
    Ok(r)
}

/// The record's event log, read when there are new events to check (or the record is new
/// and must start with one); `None` when there is nothing to check.
pub(super) fn log_to_check<K: EventKind, T>(
    doc: &Automerge,
    obj: &ObjId,
    path: &str,
    map: &RecordMap,
    touch: &Touch<T>,
) -> Result<Option<status::Derived<K>>, Refusal> {
    if touch.log.new_events.is_empty() && !touch.log.is_new {
        return Ok(None);
    }
    let events = get_map(doc, obj, "events").ok_or_else(|| {
        Refusal::new(
            Rule::Shape,
            format!("{path}/events"),
            format!("{}'s event log is a map", map.one),
        )
    })?;
    Ok(Some(status::read_log::<K, _>(doc, &events)))
}

fn shape(e: &Edit, detail: impl Into<String>) -> Refusal {
    Refusal::new(Rule::Shape, e.path_string(), detail)
}
