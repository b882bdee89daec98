//! Rules for a day's board: runs and tasks.
//!
//! - `runs` and `tasks` are created once and never replaced; runs and tasks are never
//!   deleted or replaced (cancel instead), and their `id`, `created_at`, `created_by` never
//!   change.
//! - Status events are append-only; each new one names its writer and their role and is a
//!   transition allowed from the state derived from the events its author saw (`prev`).
//! - Comments and receipts are append-only; each new one names its writer.
//! - Every run or task whose fields changed still reads as the model defines it, within
//!   its bounds. Text where we write plain strings is accepted (JavaScript writes Text).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use automerge::{Automerge, ObjId, ReadDoc, ROOT};
use autosurgeon::hydrate_prop;

use super::records::new_event;
use super::walk::{Edit, Op, Touched};
use super::{Refusal, Rule, RuleContext};
use crate::access::Role;
use crate::model::run::{self, Comment, Receipt, RunEventKind, RunRecord};
use crate::model::status::{self, EventKind, LoggedEvent};
use crate::model::task::{self, TaskEventKind, TaskRecord};
use crate::model::util::get_map;
use crate::model::DomainError;

/// Fields a record never changes after creation.
const IMMUTABLE: [&str; 3] = ["id", "created_at", "created_by"];

#[derive(Default)]
pub(super) struct RecordTouch {
    pub(super) is_new: bool,
    /// A field other than the status log changed.
    fields: bool,
    pub(super) new_events: BTreeSet<String>,
    /// Objects inserted into `comments` / `receipts`: each is read and checked on its own,
    /// so adding a comment costs the comment, not the whole run.
    new_comments: HashSet<ObjId>,
    new_receipts: HashSet<ObjId>,
    assignee: bool,
    proof: bool,
}

pub(super) fn check(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    let mut runs: BTreeMap<String, RecordTouch> = BTreeMap::new();
    let mut tasks: BTreeMap<String, RecordTouch> = BTreeMap::new();
    for e in &touched.edits {
        let Some(top) = e.key(0) else {
            return Err(shape(e, "a board's root holds only `runs` and `tasks`"));
        };
        if e.path.len() == 1 {
            if top != "runs" && top != "tasks" {
                return Err(shape(e, "a board's root holds only `runs` and `tasks`"));
            }
            if e.op == Op::Delete || touched.existed_before(&ROOT, top) {
                return Err(Refusal::new(
                    Rule::Containers,
                    top,
                    format!("the board's `{top}` map is created once and never replaced"),
                ));
            }
            continue;
        }
        let (records, what) = match top {
            "runs" => (&mut runs, "run"),
            "tasks" => (&mut tasks, "task"),
            _ => return Err(shape(e, "a board's root holds only `runs` and `tasks`")),
        };
        let Some(id) = e.key(1) else {
            return Err(shape(e, "runs and tasks are keyed by id"));
        };
        let rec = records.entry(id.to_owned()).or_default();
        if e.path.len() == 2 {
            // The record itself was added, replaced or deleted.
            if e.op == Op::Delete {
                return Err(Refusal::new(
                    Rule::NeverDeleted,
                    e.path_string(),
                    format!("a {what} is never deleted; cancel it instead"),
                ));
            }
            if !e.in_new_object && touched.existed_before(&e.obj, id) {
                return Err(Refusal::new(
                    Rule::NeverDeleted,
                    e.path_string(),
                    format!("a {what} is never replaced; edit its fields instead"),
                ));
            }
            rec.is_new = true;
            continue;
        }
        let field = e.key(2).unwrap_or_default();
        let existing = !e.in_new_object;
        if e.path.len() == 3 && existing && field_is_history(what, field) {
            return Err(Refusal::new(
                Rule::AppendOnly,
                e.path_string(),
                format!("a {what}'s `{field}` is never replaced or deleted"),
            ));
        }
        if e.path.len() == 3 && existing && IMMUTABLE.contains(&field) {
            return Err(Refusal::new(
                Rule::AppendOnly,
                e.path_string(),
                format!("a {what}'s `{field}` never changes"),
            ));
        }
        match field {
            "events" if e.path.len() == 4 => {
                let key = new_event(e, touched, "status events are never deleted or rewritten")?;
                rec.new_events.insert(key.to_owned());
            }
            "events" if e.path.len() > 4 => {
                return Err(shape(e, "a status event is one JSON string"));
            }
            "comments" | "receipts" if what == "run" && e.path.len() >= 4 => {
                let deeper_in_old = e.path.len() > 4 && existing;
                if e.op == Op::Delete || (e.path.len() == 4 && e.op == Op::Put) || deeper_in_old {
                    return Err(Refusal::new(
                        Rule::AppendOnly,
                        e.path_string(),
                        format!("{field} are never deleted or edited; add a new one"),
                    ));
                }
                if e.inserted_scalar || (e.op == Op::Edit && e.path.len() == 4) {
                    return Err(shape(e, "comments and receipts are maps"));
                }
                let set = if field == "comments" {
                    &mut rec.new_comments
                } else {
                    &mut rec.new_receipts
                };
                // An insert into the list itself; the new element's fields are set inside
                // the new object and read with it below.
                set.extend(e.inserted.iter().cloned());
            }
            "assignee" | "assigned_by" => {
                rec.assignee = true;
                rec.fields = true;
            }
            "proof_of_delivery" => {
                rec.proof = true;
                rec.fields = true;
            }
            _ => rec.fields = true,
        }
    }
    if !runs.is_empty() {
        let runs_obj = container(doc, "runs")?;
        for (id, touch) in &runs {
            check_run(ctx, doc, &runs_obj, id, touch)?;
        }
    }
    if !tasks.is_empty() {
        let tasks_obj = container(doc, "tasks")?;
        for (id, touch) in &tasks {
            check_task(ctx, doc, &tasks_obj, id, touch)?;
        }
    }
    Ok(())
}

fn field_is_history(what: &str, field: &str) -> bool {
    match what {
        "run" => matches!(field, "events" | "comments" | "receipts"),
        _ => field == "events",
    }
}

fn shape(e: &Edit, detail: &str) -> Refusal {
    Refusal::new(Rule::Shape, e.path_string(), detail)
}

fn container(doc: &Automerge, key: &str) -> Result<ObjId, Refusal> {
    get_map(doc, &ROOT, key).ok_or_else(|| {
        Refusal::new(
            Rule::Containers,
            key,
            format!("the board has no `{key}` map"),
        )
    })
}

fn record_obj(doc: &Automerge, parent: &ObjId, id: &str, what: &str) -> Result<ObjId, Refusal> {
    get_map(doc, parent, id).ok_or_else(|| {
        Refusal::new(
            Rule::Shape,
            format!("{what}s/{id}"),
            format!("a {what} is a map"),
        )
    })
}

fn check_run(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    runs: &ObjId,
    id: &str,
    touch: &RecordTouch,
) -> Result<(), Refusal> {
    let path = format!("runs/{id}");
    let obj = record_obj(doc, runs, id, "run")?;
    let shape_err = |e: DomainError| Refusal::new(Rule::Shape, path.clone(), e.to_string());
    let record: Option<RunRecord> = if touch.fields || touch.is_new {
        let r: RunRecord = hydrate_prop(doc, runs, id).map_err(|e| shape_err(e.into()))?;
        if r.id != id {
            return Err(Refusal::new(
                Rule::Shape,
                format!("{path}/id"),
                "a run's `id` is its key in `runs`",
            ));
        }
        run::validate_record(&r).map_err(shape_err)?;
        Some(r)
    } else {
        None
    };
    for c in new_elements::<Comment>(doc, &obj, "comments", &touch.new_comments, &path)? {
        run::validate_stored_comment(&c).map_err(shape_err)?;
        if let Some(w) = ctx.writer.filter(|w| c.author != w.member_id) {
            return Err(authorship(&path, "comment author", &c.author, &w.member_id));
        }
    }
    for rc in new_elements::<Receipt>(doc, &obj, "receipts", &touch.new_receipts, &path)? {
        run::validate_stored_receipt(&rc).map_err(shape_err)?;
        if let Some(w) = ctx.writer.filter(|w| rc.added_by != w.member_id) {
            return Err(authorship(
                &path,
                "receipt added_by",
                &rc.added_by,
                &w.member_id,
            ));
        }
    }
    if let (Some(w), Some(r)) = (ctx.writer, &record) {
        if touch.is_new && r.created_by != w.member_id {
            return Err(authorship(&path, "created_by", &r.created_by, &w.member_id));
        }
        if let (true, Some(p)) = (touch.proof, &r.proof_of_delivery) {
            if p.recorded_by != w.member_id {
                return Err(authorship(
                    &path,
                    "proof recorded_by",
                    &p.recorded_by,
                    &w.member_id,
                ));
            }
        }
    }
    if touch.new_events.is_empty() && !touch.is_new {
        return Ok(());
    }
    let events = get_map(doc, &obj, "events").ok_or_else(|| {
        Refusal::new(
            Rule::Shape,
            format!("{path}/events"),
            "a run's status log is a map",
        )
    })?;
    let kind = match &record {
        Some(r) => r.kind,
        None => hydrate_prop(doc, &obj, "kind")
            .map_err(|e: autosurgeon::HydrateError| shape_err(e.into()))?,
    };
    let log = status::read_log::<RunEventKind, _>(doc, &events);
    check_new_events(ctx, &path, &log, touch, |seen_events, ev, role| {
        let seen = status::derive(seen_events).state;
        run::check_logged_event(kind, &seen, ev, role)
    })
}

fn check_task(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    tasks: &ObjId,
    id: &str,
    touch: &RecordTouch,
) -> Result<(), Refusal> {
    let path = format!("tasks/{id}");
    let obj = record_obj(doc, tasks, id, "task")?;
    let shape_err = |e: DomainError| Refusal::new(Rule::Shape, path.clone(), e.to_string());
    let record: TaskRecord = hydrate_prop(doc, tasks, id).map_err(|e| shape_err(e.into()))?;
    if record.id != id {
        return Err(Refusal::new(
            Rule::Shape,
            format!("{path}/id"),
            "a task's `id` is its key in `tasks`",
        ));
    }
    if touch.fields || touch.is_new {
        task::validate_record(&record).map_err(shape_err)?;
    }
    if let Some(w) = ctx.writer {
        if touch.is_new && record.created_by != w.member_id {
            return Err(authorship(
                &path,
                "created_by",
                &record.created_by,
                &w.member_id,
            ));
        }
        let assigns = touch.assignee || (touch.is_new && record.assignee.is_some());
        if assigns && !matches!(w.role, Role::Coordinator | Role::Office) {
            return Err(Refusal::new(
                Rule::Transition,
                format!("{path}/assignee"),
                format!(
                    "a {} may not assign a task; ask a coordinator or the office",
                    w.role
                ),
            ));
        }
    }
    if touch.new_events.is_empty() && !touch.is_new {
        return Ok(());
    }
    let events = get_map(doc, &obj, "events").ok_or_else(|| {
        Refusal::new(
            Rule::Shape,
            format!("{path}/events"),
            "a task's status log is a map",
        )
    })?;
    let log = status::read_log::<TaskEventKind, _>(doc, &events);
    let assignee = record.assignee.as_deref();
    check_new_events(ctx, &path, &log, touch, |seen_events, ev, role| {
        let seen = status::derive(seen_events).state;
        task::check_logged_task_event(&seen, ev, role, assignee)
    })
}

/// The rules every status log shares: new events are readable, name their writer and role,
/// a new record starts with exactly one `created` event, and every other new event is
/// allowed from the state derived from the events its author saw.
pub(super) fn check_new_events<K: EventKind>(
    ctx: &RuleContext<'_>,
    path: &str,
    log: &status::Derived<K>,
    touch: &RecordTouch,
    allowed: impl Fn(Vec<LoggedEvent<K>>, &LoggedEvent<K>, Role) -> Result<(), DomainError>,
) -> Result<(), Refusal> {
    let by_id: HashMap<&str, &LoggedEvent<K>> =
        log.events.iter().map(|e| (e.id.as_str(), e)).collect();
    for id in &touch.new_events {
        let ev_path = format!("{path}/events/{id}");
        if log.ignored.contains(id) {
            return Err(Refusal::new(
                Rule::Shape,
                ev_path,
                "the status event cannot be read (not a known event, or on a `prev` cycle)",
            ));
        }
        let Some(ev) = by_id.get(id.as_str()) else {
            continue;
        };
        let Some(role) = ev.role else {
            return Err(Refusal::new(
                Rule::Shape,
                ev_path,
                "a status event names its role",
            ));
        };
        if let Some(w) = ctx.writer {
            if ev.member != w.member_id || role != w.role {
                return Err(Refusal::new(
                    Rule::Authorship,
                    ev_path,
                    format!(
                        "the event names {} ({role}), but it was written by {} ({})",
                        ev.member, w.member_id, w.role
                    ),
                ));
            }
        }
        if let Some(missing) = ev.prev.iter().find(|p| !by_id.contains_key(p.as_str())) {
            return Err(Refusal::new(
                Rule::Shape,
                ev_path,
                format!("the event follows `{missing}`, which is not in the log"),
            ));
        }
        let is_created = ev.kind.as_str() == "created";
        if is_created {
            let first = touch.is_new && ev.prev.is_empty();
            let only = log
                .events
                .iter()
                .filter(|e| e.kind.as_str() == "created")
                .count()
                == 1;
            if !(first && only) {
                return Err(Refusal::new(
                    Rule::Transition,
                    ev_path,
                    "`created` is the first event of a new record, and its only one",
                ));
            }
            continue;
        }
        let seen = ancestors(&by_id, &ev.prev);
        allowed(seen, ev, role)
            .map_err(|e| Refusal::new(Rule::Transition, ev_path, e.to_string()))?;
    }
    if touch.is_new && !log.events.iter().any(|e| e.kind.as_str() == "created") {
        return Err(Refusal::new(
            Rule::Transition,
            format!("{path}/events"),
            "a new record starts with a `created` event",
        ));
    }
    Ok(())
}

/// The events `prev` names and everything before them: what the author saw.
fn ancestors<K: EventKind>(
    by_id: &HashMap<&str, &LoggedEvent<K>>,
    prev: &[String],
) -> Vec<LoggedEvent<K>> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&str> = prev.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(e) = by_id.get(id) {
            out.push((*e).clone());
            stack.extend(e.prev.iter().map(String::as_str));
        }
    }
    out
}

/// The elements of `record`'s `list` that are among `new` (objects these changes
/// inserted), each read on its own.
fn new_elements<T: autosurgeon::Hydrate>(
    doc: &Automerge,
    record: &ObjId,
    list: &str,
    new: &HashSet<ObjId>,
    path: &str,
) -> Result<Vec<T>, Refusal> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let Some(list_obj) = crate::model::util::get_list(doc, record, list) else {
        return Err(Refusal::new(
            Rule::Shape,
            format!("{path}/{list}"),
            format!("`{list}` is a list"),
        ));
    };
    let indices: Vec<usize> = doc
        .list_range(&list_obj, ..)
        .filter(|item| new.contains(&item.id()))
        .map(|item| item.index)
        .collect();
    indices
        .into_iter()
        .map(|i| {
            hydrate_prop(doc, &list_obj, i).map_err(|e: autosurgeon::HydrateError| {
                Refusal::new(Rule::Shape, format!("{path}/{list}/{i}"), e.to_string())
            })
        })
        .collect()
}

fn authorship(path: &str, field: &str, named: &str, writer: &str) -> Refusal {
    Refusal::new(
        Rule::Authorship,
        path,
        format!("the {field} names {named}, but it was written by {writer}"),
    )
}
