//! Status derived from an append-only event log, the same on every replica.
//!
//! Each run and task keeps its status events in a map keyed by event id (so a merge can
//! neither drop nor duplicate one: keys are UUIDs and events are never edited). Every event
//! stores `prev`, the ids of the log's heads its author saw when appending, which makes the
//! log a small DAG mirroring what each person knew.
//!
//! Derivation, a pure function of the set of events (hence independent of merge order):
//! 1. Order the events topologically (Kahn, ties by time then id) so each event comes after
//!    everything it saw. Events on a `prev` cycle (only possible in a forged document) are
//!    reported but ignored.
//! 2. The state after an event is the lifecycle's `apply` of that event to the state after
//!    the *winning* event among its `prev` (the state its author was looking at).
//! 3. The current state is the state after the winning head (heads: events nobody has seen
//!    as `prev` yet).
//!
//! "Winning" among concurrent events: what happened in the world beats what was planned
//! (so a concurrent delivered beats cancelled), then the higher lifecycle rank, then the
//! later device time, then the larger event id. The other heads are reported as unresolved
//! conflicts; heads that lost when someone later appended an event that saw them all are
//! reported as resolved conflicts. Nothing is ever removed from the log.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;

use automerge::transaction::{Transactable, Transaction};
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value};

use super::util::{get_f64, get_i64, get_str, get_str_list};
use super::{DomainError, Location};
use crate::access::Role;

/// A kind of status event, with the facts the derivation needs about it.
pub trait EventKind: Copy + Eq + Debug + 'static {
    /// What a record looks like after a prefix of its log.
    type State: Clone + Default + PartialEq + Debug;

    fn as_str(self) -> &'static str;
    fn parse(s: &str) -> Option<Self>;
    /// True for events that record something that happened in the world (picked up,
    /// delivered, ...) rather than an intention (assigned, cancelled, ...).
    fn is_world(self) -> bool;
    /// Position in the lifecycle: further along wins among concurrent events of the same class.
    fn rank(self) -> u8;
    /// The state after `event`, given the state its author saw.
    fn apply(state: &Self::State, event: &LoggedEvent<Self>) -> Self::State;
}

/// One status event as stored in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent<K> {
    pub id: String,
    pub kind: K,
    /// Ids of the log heads the author saw.
    pub prev: Vec<String>,
    pub at_ms: i64,
    pub member: String,
    pub device: String,
    pub role: Option<Role>,
    pub note: Option<String>,
    pub location: Option<Location>,
    /// Why a run failed or a task is blocked.
    pub reason: Option<String>,
    /// Who a run was assigned to.
    pub assignee: Option<String>,
}

impl<K: EventKind> LoggedEvent<K> {
    fn sort_key(&self) -> (bool, u8, i64, &str) {
        (
            self.kind.is_world(),
            self.kind.rank(),
            self.at_ms,
            self.id.as_str(),
        )
    }

    /// True if `self` wins over the concurrent `other`.
    pub fn beats(&self, other: &Self) -> bool {
        self.sort_key() > other.sort_key()
    }
}

/// A concurrent event that lost: still in the log, shown to the coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub event_id: String,
    pub event_kind: String,
    pub lost_to: String,
    /// True once someone appended an event after seeing both sides.
    pub resolved: bool,
}

/// Everything derived from one record's event log.
#[derive(Clone, Debug, PartialEq)]
pub struct Derived<K: EventKind> {
    pub state: K::State,
    /// The event the current state comes from.
    pub winner: Option<String>,
    /// Current heads, sorted; what a new event's `prev` will be.
    pub heads: Vec<String>,
    pub conflicts: Vec<Conflict>,
    /// The whole log in causal order (ties by time, then id).
    pub events: Vec<LoggedEvent<K>>,
    /// Ids of events on a `prev` cycle, ignored by the derivation.
    pub ignored: Vec<String>,
}

/// Derives state, heads and conflicts from a record's events. Pure and order-independent.
pub fn derive<K: EventKind>(events: Vec<LoggedEvent<K>>) -> Derived<K> {
    let by_id: HashMap<&str, usize> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.as_str(), i))
        .collect();
    // Only prevs that name a present event matter; with causal delivery they all do.
    let prevs: Vec<Vec<usize>> = events
        .iter()
        .map(|e| {
            let set: BTreeSet<usize> = e
                .prev
                .iter()
                .filter_map(|p| by_id.get(p.as_str()).copied())
                .collect();
            set.into_iter().collect()
        })
        .collect();

    // Kahn's algorithm, taking ready events by (time, id) so the order is canonical.
    let mut missing: Vec<usize> = prevs.iter().map(Vec::len).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); events.len()];
    for (i, ps) in prevs.iter().enumerate() {
        for &p in ps {
            if let Some(c) = children.get_mut(p) {
                c.push(i);
            }
        }
    }
    let key = |i: usize| (events[i].at_ms, events[i].id.clone(), i);
    let mut ready: BTreeSet<(i64, String, usize)> = (0..events.len())
        .filter(|&i| missing[i] == 0)
        .map(key)
        .collect();
    let mut order = Vec::with_capacity(events.len());
    while let Some(next) = ready.pop_first() {
        let i = next.2;
        order.push(i);
        for &c in &children[i] {
            missing[c] -= 1;
            if missing[c] == 0 {
                ready.insert(key(c));
            }
        }
    }
    let placed: HashSet<usize> = order.iter().copied().collect();
    let mut ignored: Vec<String> = (0..events.len())
        .filter(|i| !placed.contains(i))
        .map(|i| events[i].id.clone())
        .collect();
    ignored.sort();

    let winner_of = |set: &[usize]| -> Option<usize> {
        set.iter()
            .copied()
            .reduce(|a, b| if events[b].beats(&events[a]) { b } else { a })
    };

    let mut states: Vec<Option<K::State>> = vec![None; events.len()];
    let mut conflicts: BTreeMap<String, Conflict> = BTreeMap::new();
    for &i in &order {
        let ps = &prevs[i];
        let base = match winner_of(ps) {
            Some(w) => {
                for &p in ps.iter().filter(|&&p| p != w) {
                    conflicts
                        .entry(events[p].id.clone())
                        .or_insert_with(|| Conflict {
                            event_id: events[p].id.clone(),
                            event_kind: events[p].kind.as_str().to_owned(),
                            lost_to: events[w].id.clone(),
                            resolved: true,
                        });
                }
                states[w].clone().unwrap_or_default()
            }
            None => K::State::default(),
        };
        states[i] = Some(K::apply(&base, &events[i]));
    }

    let mut seen_as_prev = vec![false; events.len()];
    for &i in &order {
        for &p in &prevs[i] {
            seen_as_prev[p] = true;
        }
    }
    let head_idx: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| !seen_as_prev[i])
        .collect();
    let winner = winner_of(&head_idx);
    let state = winner.and_then(|w| states[w].clone()).unwrap_or_default();
    if let Some(w) = winner {
        for &h in head_idx.iter().filter(|&&h| h != w) {
            // An unresolved conflict replaces nothing: a head was never anyone's prev.
            conflicts.insert(
                events[h].id.clone(),
                Conflict {
                    event_id: events[h].id.clone(),
                    event_kind: events[h].kind.as_str().to_owned(),
                    lost_to: events[w].id.clone(),
                    resolved: false,
                },
            );
        }
    }
    let mut heads: Vec<String> = head_idx.iter().map(|&i| events[i].id.clone()).collect();
    heads.sort();
    let winner = winner.map(|w| events[w].id.clone());

    let mut slots: Vec<Option<LoggedEvent<K>>> = events.into_iter().map(Some).collect();
    let ordered: Vec<LoggedEvent<K>> = order.iter().filter_map(|&i| slots[i].take()).collect();

    Derived {
        state,
        winner,
        heads,
        conflicts: conflicts.into_values().collect(),
        events: ordered,
        ignored,
    }
}

/// A new event before it is stored: the op fills these, [`append`] adds id, prev and author.
pub(crate) struct NewEvent<'a, K> {
    pub kind: K,
    pub note: Option<&'a str>,
    pub location: Option<&'a Location>,
    pub reason: Option<&'a str>,
    pub assignee: Option<&'a str>,
}

/// Appends one event to the log map `events` with `prev` = the given heads. Writes only the
/// new event's keys: a status change costs a handful of Automerge ops, not a document rewrite.
pub(crate) fn append<K: EventKind>(
    tx: &mut Transaction<'_>,
    events: &ObjId,
    heads: &[String],
    by: &crate::access::Author,
    at_ms: i64,
    ev: NewEvent<'_, K>,
) -> Result<String, DomainError> {
    let id = crate::ids::new_record_id();
    let obj = tx.put_object(events, id.as_str(), ObjType::Map)?;
    tx.put(&obj, "kind", ev.kind.as_str())?;
    let prev = tx.put_object(&obj, "prev", ObjType::List)?;
    for (i, h) in heads.iter().enumerate() {
        tx.insert(&prev, i, h.as_str())?;
    }
    tx.put(&obj, "at", at_ms)?;
    tx.put(&obj, "member", by.member_id.as_str())?;
    tx.put(&obj, "device", by.device_id.as_str())?;
    tx.put(&obj, "role", by.role.as_str())?;
    if let Some(n) = ev.note {
        tx.put(&obj, "note", n)?;
    }
    if let Some(r) = ev.reason {
        tx.put(&obj, "reason", r)?;
    }
    if let Some(a) = ev.assignee {
        tx.put(&obj, "assignee", a)?;
    }
    if let Some(l) = ev.location {
        let lo = tx.put_object(&obj, "location", ObjType::Map)?;
        if let (Some(lat), Some(lon)) = (l.lat, l.lon) {
            tx.put(&lo, "lat", ScalarValue::F64(lat))?;
            tx.put(&lo, "lon", ScalarValue::F64(lon))?;
        }
        if let Some(label) = &l.label {
            tx.put(&lo, "label", label.as_str())?;
        }
    }
    Ok(id)
}

/// Reads every event of the log map `events`. An event whose kind or shape is unknown makes
/// the record unreadable (a newer app wrote it, or the document is damaged).
pub(crate) fn read_events<K: EventKind, R: ReadDoc>(
    doc: &R,
    events: &ObjId,
) -> Result<Vec<LoggedEvent<K>>, DomainError> {
    let ids: Vec<(String, ObjId)> = doc
        .map_range(events, ..)
        .filter_map(|item| match item.value {
            automerge::ValueRef::Object(ObjType::Map) => {
                let id = item.id();
                Some((item.key.into_owned(), id))
            }
            _ => None,
        })
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for (id, obj) in ids {
        let kind_str = get_str(doc, &obj, "kind")
            .ok_or_else(|| DomainError::Corrupt(format!("status event `{id}` has no kind")))?;
        let kind = K::parse(&kind_str).ok_or_else(|| {
            DomainError::Corrupt(format!("status event `{id}` has unknown kind `{kind_str}`"))
        })?;
        let at_ms = get_i64(doc, &obj, "at")
            .ok_or_else(|| DomainError::Corrupt(format!("status event `{id}` has no time")))?;
        let location = match doc.get(&obj, "location") {
            Ok(Some((Value::Object(ObjType::Map), lo))) => Some(Location {
                lat: get_f64(doc, &lo, "lat"),
                lon: get_f64(doc, &lo, "lon"),
                label: get_str(doc, &lo, "label"),
            }),
            _ => None,
        };
        out.push(LoggedEvent {
            prev: get_str_list(doc, &obj, "prev"),
            kind,
            at_ms,
            member: get_str(doc, &obj, "member").unwrap_or_default(),
            device: get_str(doc, &obj, "device").unwrap_or_default(),
            role: get_str(doc, &obj, "role").and_then(|r| r.parse().ok()),
            note: get_str(doc, &obj, "note"),
            location,
            reason: get_str(doc, &obj, "reason"),
            assignee: get_str(doc, &obj, "assignee"),
            id,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum K {
        Plan,
        Do,
        Finish,
    }
    impl EventKind for K {
        type State = Vec<&'static str>;
        fn as_str(self) -> &'static str {
            match self {
                K::Plan => "plan",
                K::Do => "do",
                K::Finish => "finish",
            }
        }
        fn parse(s: &str) -> Option<Self> {
            [K::Plan, K::Do, K::Finish]
                .into_iter()
                .find(|k| k.as_str() == s)
        }
        fn is_world(self) -> bool {
            self != K::Plan
        }
        fn rank(self) -> u8 {
            self as u8
        }
        fn apply(state: &Self::State, e: &LoggedEvent<Self>) -> Self::State {
            let mut s = state.clone();
            s.push(e.kind.as_str());
            s
        }
    }

    fn ev(id: &str, kind: K, prev: &[&str], at: i64) -> LoggedEvent<K> {
        LoggedEvent {
            id: id.into(),
            kind,
            prev: prev.iter().map(|s| s.to_string()).collect(),
            at_ms: at,
            member: "m".into(),
            device: "d".into(),
            role: None,
            note: None,
            location: None,
            reason: None,
            assignee: None,
        }
    }

    #[test]
    fn world_beats_plan_even_when_plan_is_later() {
        let d = derive(vec![
            ev("a", K::Plan, &[], 1),
            ev("b", K::Do, &["a"], 2),
            ev("c", K::Plan, &["a"], 9),
        ]);
        assert_eq!(d.winner.as_deref(), Some("b"));
        assert_eq!(d.state, vec!["plan", "do"]);
        assert_eq!(d.heads, vec!["b", "c"]);
        assert_eq!(
            d.conflicts,
            vec![Conflict {
                event_id: "c".into(),
                event_kind: "plan".into(),
                lost_to: "b".into(),
                resolved: false
            }]
        );
    }

    #[test]
    fn an_event_that_saw_both_heads_resolves_the_conflict_but_keeps_it_visible() {
        let d = derive(vec![
            ev("a", K::Plan, &[], 1),
            ev("b", K::Do, &["a"], 2),
            ev("c", K::Plan, &["a"], 3),
            ev("e", K::Finish, &["c", "b"], 4),
        ]);
        assert_eq!(d.heads, vec!["e"]);
        assert_eq!(d.state, vec!["plan", "do", "finish"]);
        assert_eq!(d.conflicts.len(), 1);
        assert!(d.conflicts[0].resolved && d.conflicts[0].event_id == "c");
    }

    #[test]
    fn derivation_ignores_input_order_and_cycles() {
        let mut evs = vec![
            ev("a", K::Plan, &[], 1),
            ev("b", K::Do, &["a"], 2),
            ev("c", K::Do, &["a"], 2),
            ev("x", K::Finish, &["y"], 5),
            ev("y", K::Finish, &["x"], 5),
        ];
        let first = derive(evs.clone());
        evs.reverse();
        let second = derive(evs);
        assert_eq!(first, second);
        assert_eq!(first.ignored, vec!["x", "y"]);
        // Equal kind and time: the larger id wins.
        assert_eq!(first.winner.as_deref(), Some("c"));
    }

    #[test]
    fn empty_log_derives_the_default_state() {
        let d = derive::<K>(vec![]);
        assert!(d.state.is_empty() && d.winner.is_none() && d.heads.is_empty());
    }
}
