//! Memoised derivations of the status logs this thread writes to, so a status change
//! neither reads nor re-derives the run's whole history (ENGINEERING.md's device bar: a
//! status change within 2x a bare durable insert): the memo holds the log's derivation,
//! a write extends it by the one event it appended ([`appended`]), and the next write
//! checks it still is the document's log by the number of entries and its heads alone.
//!
//! Why a per-thread memo rather than state kept with the document: model operations take
//! a plain `&mut Automerge` (the device, the relay's dashboard, the bindings and the tests
//! all call them), and a derivation is a pure function of the log's entries.
//!
//! Why the quick check is exact: logs are append-only (an entry is never removed or
//! rewritten; the domain never does it and the write rules refuse it from any peer), and
//! an event's Automerge change causally follows the events it names as `prev`. So a log
//! that holds the memo's heads, with the same values, holds every event they descend from,
//! which is every event of the memo when it ignored none; with the same number of entries
//! it holds nothing else. Two forks of one document share a log's object id but differ in
//! their heads or their count: they miss, and the memo is then checked entry by entry
//! (key and raw JSON), re-parsing only what it has not seen.
//!
//! Only writes put a log in the memo ([`tip`]); reads use an entry that is there
//! ([`derived`]) and otherwise derive as before, so listing thousands of runs neither
//! pays for nor evicts the memo.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;

use automerge::{ObjId, ReadDoc, ScalarValueRef};

use super::status::{derive, parse_event, Derived, EventKind, LoggedEvent};

/// Logs memoised per thread; past this the memo starts afresh (a device writes to a
/// handful of runs at a time; a relay thread checks many, each cheap to re-derive).
const MAX_LOGS: usize = 256;

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(HashMap::new());
}

/// One log as last read: its entries in key order and what they derive.
struct Entry<K: EventKind> {
    items: Vec<Item<K>>,
    derived: Derived<K>,
}

/// One log entry as read.
struct Item<K> {
    key: String,
    /// The stored JSON, compared byte for byte with the document's on the next read.
    raw: String,
    /// `None`: not an event this version reads (listed as ignored).
    event: Option<LoggedEvent<K>>,
}

/// The current state and heads of a log: all a write needs to check and append an event.
pub(crate) struct Tip<K: EventKind> {
    pub state: K::State,
    pub heads: Vec<String>,
}

/// The log's tip, through the memo (entering the log into it).
pub(crate) fn tip<K: EventKind, R: ReadDoc>(doc: &R, events: &ObjId) -> Tip<K> {
    let key = (events.clone(), TypeId::of::<K>());
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        let old = take::<K>(&mut memo, &key);
        let entry = refresh(doc, events, old);
        let tip = Tip {
            state: entry.derived.state.clone(),
            heads: entry.derived.heads.clone(),
        };
        keep(&mut memo, key, entry);
        tip
    })
}

/// The log's whole derivation through the memo, when the log is in it; `None` otherwise
/// (the caller derives afresh).
pub(crate) fn derived<K: EventKind, R: ReadDoc>(doc: &R, events: &ObjId) -> Option<Derived<K>> {
    let key = (events.clone(), TypeId::of::<K>());
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        let old = take::<K>(&mut memo, &key)?;
        let entry = refresh(doc, events, Some(old));
        let derived = entry.derived.clone();
        keep(&mut memo, key, entry);
        Some(derived)
    })
}

type Memo = HashMap<(ObjId, TypeId), Box<dyn Any>>;

fn take<K: EventKind>(memo: &mut Memo, key: &(ObjId, TypeId)) -> Option<Entry<K>> {
    memo.remove(key)
        .and_then(|entry| entry.downcast::<Entry<K>>().ok())
        .map(|b| *b)
}

fn keep<K: EventKind>(memo: &mut Memo, key: (ObjId, TypeId), entry: Entry<K>) {
    if memo.len() >= MAX_LOGS {
        memo.clear();
    }
    memo.insert(key, Box::new(entry));
}

/// How the log differs from the memoised entry.
struct Change {
    /// An entry's value changed or an entry disappeared: never by our own ops, and the
    /// write rules refuse it from peers, but a forged document may do it.
    rewritten: bool,
    /// Positions in the new items of entries the memo had not seen.
    added: Vec<usize>,
}

/// Reads the log's entries, reusing the parse of every entry the memo holds unchanged.
fn read_items<K: EventKind, R: ReadDoc>(
    doc: &R,
    events: &ObjId,
    old: Option<Vec<Item<K>>>,
) -> (Vec<Item<K>>, Change) {
    let mut old = old.unwrap_or_default().into_iter().peekable();
    let mut items = Vec::new();
    let mut change = Change {
        rewritten: false,
        added: Vec::new(),
    };
    for item in doc.map_range(events, ..) {
        let key = item.key.as_ref();
        let raw = match &item.value {
            automerge::ValueRef::Scalar(ScalarValueRef::Str(s)) => s.as_ref(),
            _ => "",
        };
        // Both sides are in key order: skip memoised keys the document no longer has.
        while old.next_if(|o| o.key.as_str() < key).is_some() {
            change.rewritten = true;
        }
        let read = || Item {
            key: key.to_owned(),
            raw: raw.to_owned(),
            event: parse_event(key, &item.value),
        };
        match old.next_if(|o| o.key == key) {
            Some(same) if same.raw == raw => items.push(same),
            Some(_) => {
                change.rewritten = true;
                items.push(read());
            }
            None => {
                change.added.push(items.len());
                items.push(read());
            }
        }
    }
    if old.next().is_some() {
        change.rewritten = true;
    }
    (items, change)
}

fn refresh<K: EventKind, R: ReadDoc>(doc: &R, events: &ObjId, old: Option<Entry<K>>) -> Entry<K> {
    let Some(Entry {
        items: old_items,
        derived: old_derived,
    }) = old
    else {
        let (items, _) = read_items(doc, events, None);
        let derived = fresh(items.iter());
        return Entry { items, derived };
    };
    if unchanged(doc, events, &old_items, &old_derived) {
        return Entry {
            items: old_items,
            derived: old_derived,
        };
    }
    let (items, change) = read_items(doc, events, Some(old_items));
    let derived = if change.rewritten {
        fresh(items.iter())
    } else {
        match change.added.as_slice() {
            [] => old_derived,
            [one] => match items.get(*one).and_then(|i| i.event.as_ref()) {
                Some(e) if extends(&old_derived, e) => extend(old_derived, e.clone()),
                _ => fresh(items.iter()),
            },
            _ => fresh(items.iter()),
        }
    };
    Entry { items, derived }
}

/// Whether the document's log still is the memo's, from its length and heads alone (see
/// the module's doc for why that is exact).
fn unchanged<K: EventKind, R: ReadDoc>(
    doc: &R,
    events: &ObjId,
    items: &[Item<K>],
    derived: &Derived<K>,
) -> bool {
    derived.ignored.is_empty()
        && doc.length(events) == items.len()
        && derived.heads.iter().all(|head| {
            let memoised = items
                .binary_search_by(|i| i.key.as_str().cmp(head))
                .ok()
                .and_then(|at| items.get(at));
            memoised.is_some_and(|i| holds(doc, events, head, &i.raw))
        })
}

/// Whether the log holds exactly `raw` under `key`.
fn holds<R: ReadDoc>(doc: &R, events: &ObjId, key: &str, raw: &str) -> bool {
    match doc.get(events, key) {
        Ok(Some((automerge::Value::Scalar(v), _))) => {
            matches!(v.as_ref(), automerge::ScalarValue::Str(s) if s.as_str() == raw)
        }
        _ => false,
    }
}

/// The JSON stored under `key` in the log, if it is a string.
fn raw_at<R: ReadDoc>(doc: &R, events: &ObjId, key: &str) -> Option<String> {
    match doc.get(events, key) {
        Ok(Some((automerge::Value::Scalar(v), _))) => match v.as_ref() {
            automerge::ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Records that this thread's write just appended event `id` to the log it read through
/// [`tip`]: the memo's derivation is extended by that event, so the next write on the
/// log passes the quick check. Anything unexpected (the log grew by more, the event does
/// not sit on all heads) drops the entry instead; the next read derives afresh.
pub(crate) fn appended<K: EventKind, R: ReadDoc>(doc: &R, events: &ObjId, id: &str) {
    let key = (events.clone(), TypeId::of::<K>());
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        let Some(Entry { mut items, derived }) = take::<K>(&mut memo, &key) else {
            return;
        };
        if doc.length(events) != items.len() + 1 {
            return;
        }
        let Err(at) = items.binary_search_by(|i| i.key.as_str().cmp(id)) else {
            return;
        };
        let Some(raw) = raw_at(doc, events, id) else {
            return;
        };
        let Some(event) = parse_event::<K>(id, &automerge::ValueRef::from(raw.as_str())) else {
            return;
        };
        if !extends(&derived, &event) {
            return;
        }
        let derived = extend(derived, event.clone());
        items.insert(
            at,
            Item {
                key: id.to_owned(),
                raw,
                event: Some(event),
            },
        );
        keep(&mut memo, key, Entry { items, derived });
    });
}

/// The derivation of entries (unreadable ones listed as ignored), as `status::read_log`.
fn fresh<'a, K: EventKind + 'a>(items: impl IntoIterator<Item = &'a Item<K>>) -> Derived<K> {
    let mut events = Vec::new();
    let mut unreadable = Vec::new();
    for item in items {
        match &item.event {
            Some(e) => events.push(e.clone()),
            None => unreadable.push(item.key.clone()),
        }
    }
    let mut d = derive(events);
    d.ignored.extend(unreadable);
    d.ignored.sort();
    d
}

/// Whether `e`, new in the log, is an event appended on top of exactly what `d` derived:
/// it saw every head, and nothing already in the log names it. Then every other event is
/// its ancestor and the full derivation places it last, on the winning head's state.
fn extends<K: EventKind>(d: &Derived<K>, e: &LoggedEvent<K>) -> bool {
    let mut prev = e.prev.clone();
    prev.sort();
    prev.dedup();
    d.ignored.is_empty() && prev == d.heads && !d.events.iter().any(|x| x.prev.contains(&e.id))
}

/// `d` with `e` appended on top of all its heads: the new state is `e` applied to the
/// current state, `e` is the only head, and every head that lost is now a resolved
/// conflict (someone appended after seeing them all), exactly as `derive` reports it.
fn extend<K: EventKind>(mut d: Derived<K>, e: LoggedEvent<K>) -> Derived<K> {
    d.state = K::apply(&d.state, &e);
    for c in &mut d.conflicts {
        c.resolved = true;
    }
    d.winner = Some(e.id.clone());
    d.heads = vec![e.id.clone()];
    d.events.push(e);
    d
}

#[cfg(test)]
pub(crate) fn clear() {
    MEMO.with(|m| m.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Author, Role};
    use crate::model::run::{self, NewRun, RunEvent, RunKind, RunStatus};
    use crate::model::EventContext;
    use automerge::Automerge;

    fn by(role: Role, member: &str) -> Author {
        Author {
            member_id: member.into(),
            device_id: format!("{member}-device"),
            role,
        }
    }

    fn fresh_read(doc: &Automerge, id: &str) -> run::Run {
        clear();
        run::read_run(doc, id).expect("run")
    }

    #[test]
    fn forks_sharing_a_log_never_read_each_others_memo() {
        let t0 = 1_795_507_200_000;
        let coord = by(Role::Coordinator, "coord");
        let pa = by(Role::Pa, "pa1");
        let mut a = Automerge::new();
        run::init_board(&mut a, &coord, t0).unwrap();
        let id = run::create_run(
            &mut a,
            &coord,
            t0,
            NewRun::new(RunKind::Pickup, "Tape", "AD"),
        )
        .unwrap();
        run::assign(&mut a, &coord, t0 + 1, &id, "pa1", EventContext::none()).unwrap();
        let mut b = a.fork();
        // Same log object, different events: each write goes through the memo.
        run::record_status(
            &mut a,
            &pa,
            t0 + 2,
            &id,
            RunEvent::Accept,
            EventContext::none(),
        )
        .unwrap();
        run::record_status(
            &mut b,
            &coord,
            t0 + 3,
            &id,
            RunEvent::Cancel,
            EventContext::none(),
        )
        .unwrap();
        run::record_status(
            &mut a,
            &pa,
            t0 + 4,
            &id,
            RunEvent::EnRoute,
            EventContext::none(),
        )
        .unwrap();
        let (ra, rb) = (
            run::read_run(&a, &id).unwrap(),
            run::read_run(&b, &id).unwrap(),
        );
        assert_eq!(ra.status, RunStatus::EnRoute);
        assert_eq!(rb.status, RunStatus::Cancelled);
        assert_eq!(ra, fresh_read(&a, &id));
        assert_eq!(rb, fresh_read(&b, &id));

        // Merged: a concurrent pair, then an event on top of both resolves the conflict.
        a.merge(&mut b).unwrap();
        let merged = run::read_run(&a, &id).unwrap();
        assert_eq!(merged, fresh_read(&a, &id));
        assert_eq!(merged.conflicts.iter().filter(|c| !c.resolved).count(), 1);
        run::record_status(
            &mut a,
            &pa,
            t0 + 5,
            &id,
            RunEvent::PickUp,
            EventContext::none(),
        )
        .unwrap();
        let memoised = run::read_run(&a, &id).unwrap();
        assert_eq!(memoised.status, RunStatus::PickedUp);
        assert!(memoised.conflicts.iter().all(|c| c.resolved));
        assert_eq!(memoised, fresh_read(&a, &id));
    }

    #[test]
    fn a_tap_extends_the_memo_by_its_own_event_only() {
        let t0 = 1_795_507_200_000;
        let coord = by(Role::Coordinator, "coord");
        let mut doc = Automerge::new();
        run::init_board(&mut doc, &coord, t0).unwrap();
        let id =
            run::create_run(&mut doc, &coord, t0, NewRun::new(RunKind::Other, "x", "AD")).unwrap();
        clear();
        for (i, e) in [RunEvent::Accept, RunEvent::EnRoute, RunEvent::Deliver]
            .into_iter()
            .enumerate()
        {
            run::record_status(
                &mut doc,
                &coord,
                t0 + 1 + i as i64,
                &id,
                e,
                EventContext::none(),
            )
            .unwrap();
            let memoised = run::read_run(&doc, &id).unwrap();
            assert_eq!(memoised, fresh_read(&doc, &id), "after event {i}");
        }
        assert_eq!(
            run::read_run(&doc, &id).unwrap().status,
            RunStatus::Delivered
        );
    }
}
