//! Status derived from an append-only event log, the same on every replica.
//!
//! Each run and task keeps its status events in a map keyed by event id (so a merge can
//! neither drop nor duplicate one: keys are UUIDs and events are never edited); each value
//! is the event as a JSON string (see [`append`] for why). Every event
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
use automerge::{ObjId, ReadDoc, ScalarValueRef};
use serde::{Deserialize, Serialize};

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
    /// Ids of log entries the derivation ignored: unreadable ones, and events on a `prev`
    /// cycle (only a forged document has one).
    pub ignored: Vec<String>,
}

/// Derives state, heads and conflicts from a record's events. Pure and order-independent.
pub fn derive<K: EventKind>(events: Vec<LoggedEvent<K>>) -> Derived<K> {
    // Every index below is a position in `events`, made from `0..events.len()` or
    // looked up in `by_id`; none comes from the document, so the indexing cannot fail.
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
    let mut unplaced_prevs: Vec<usize> = prevs.iter().map(Vec::len).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); events.len()];
    for (i, parents) in prevs.iter().enumerate() {
        for &p in parents {
            if let Some(c) = children.get_mut(p) {
                c.push(i);
            }
        }
    }
    let key = |i: usize| (events[i].at_ms, events[i].id.clone(), i);
    let mut ready: BTreeSet<(i64, String, usize)> = (0..events.len())
        .filter(|&i| unplaced_prevs[i] == 0)
        .map(key)
        .collect();
    let mut order = Vec::with_capacity(events.len());
    while let Some(next) = ready.pop_first() {
        let i = next.2;
        order.push(i);
        for &c in &children[i] {
            unplaced_prevs[c] -= 1;
            if unplaced_prevs[c] == 0 {
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
        let parents = &prevs[i];
        let base = match winner_of(parents) {
            Some(w) => {
                for &p in parents.iter().filter(|&&p| p != w) {
                    conflicts
                        .entry(events[p].id.clone())
                        .or_insert_with(|| Conflict {
                            event_id: events[p].id.clone(),
                            event_kind: events[p].kind.as_str().to_owned(),
                            lost_to: events[w].id.clone(),
                            resolved: true,
                        });
                }
                // `w` is a parent of `i`, so Kahn's order placed it, and its state, first.
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

/// How one event is stored: a JSON string under its id in the log map. An event is never
/// edited, so it needs no Automerge structure of its own, and one string is one Automerge
/// op where a map of fields would be a dozen: that keeps a status change cheap (measured
/// about 10x cheaper than a nested map in automerge 0.12).
#[derive(Serialize, Deserialize)]
struct StoredEvent {
    kind: String,
    prev: Vec<String>,
    at: i64,
    member: String,
    device: String,
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<StoredLocation>,
}

#[derive(Serialize, Deserialize)]
struct StoredLocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

/// Appends one event to the log map `events` with `prev` = the given heads: a single
/// Automerge op under a fresh UUID key, so concurrent appends never collide.
pub(crate) fn append<K: EventKind>(
    tx: &mut Transaction<'_>,
    events: &ObjId,
    heads: &[String],
    by: &crate::access::Author,
    at_ms: i64,
    ev: NewEvent<'_, K>,
) -> Result<String, DomainError> {
    let id = crate::ids::new_record_id();
    let stored = StoredEvent {
        kind: ev.kind.as_str().to_owned(),
        prev: heads.to_vec(),
        at: at_ms,
        member: by.member_id.clone(),
        device: by.device_id.clone(),
        role: by.role.as_str().to_owned(),
        note: ev.note.map(str::to_owned),
        reason: ev.reason.map(str::to_owned),
        assignee: ev.assignee.map(str::to_owned),
        location: ev.location.map(|l| StoredLocation {
            lat: l.lat,
            lon: l.lon,
            label: l.label.clone(),
        }),
    };
    let json = serde_json::to_string(&stored).map_err(|e| DomainError::Corrupt(e.to_string()))?;
    tx.put(events, id.as_str(), json)?;
    Ok(id)
}

/// Reads a record's log map and derives its state. Entries that are not events this version
/// understands (a newer app's kind, or bytes a broken client wrote) are listed in
/// `ignored` instead of failing the record: one bad entry must not hide a run from the board.
pub(crate) fn read_log<K: EventKind, R: ReadDoc>(doc: &R, events: &ObjId) -> Derived<K> {
    if let Some(d) = super::log_memo::derived(doc, events) {
        return d;
    }
    let mut out = Vec::new();
    let mut unreadable = Vec::new();
    for item in doc.map_range(events, ..) {
        let id = item.key.as_ref();
        match parse_event::<K>(id, &item.value) {
            Some(e) => out.push(e),
            None => unreadable.push(id.to_owned()),
        }
    }
    let mut d = derive(out);
    d.ignored.extend(unreadable);
    d.ignored.sort();
    d
}

pub(super) fn parse_event<K: EventKind>(
    id: &str,
    value: &automerge::ValueRef<'_>,
) -> Option<LoggedEvent<K>> {
    let json = match value {
        automerge::ValueRef::Scalar(ScalarValueRef::Str(s)) => s.as_ref(),
        _ => return None,
    };
    let e: StoredEvent = serde_json::from_str(json).ok()?;
    Some(LoggedEvent {
        id: id.to_owned(),
        kind: K::parse(&e.kind)?,
        prev: e.prev,
        at_ms: e.at,
        member: e.member,
        device: e.device,
        role: e.role.parse().ok(),
        note: e.note,
        location: e.location.map(|l| Location {
            lat: l.lat,
            lon: l.lon,
            label: l.label,
        }),
        reason: e.reason,
        assignee: e.assignee,
    })
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
