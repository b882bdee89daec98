//! A member's own document: acknowledgements of published call sheets and availability.
//! Only the member writes it (any role); coordinators and the office read it to see who has
//! not got the latest revision.
//!
//! Layout: flat scalar keys in the root map, so that two devices of the same member writing
//! at once never create competing container objects (one of which Automerge would hide):
//! - `owner`: the member id
//! - `ack/<day>/<revision>/<received|opened|confirmed>`: ms since 1970 when it first happened
//! - `availability/<day>`: `available` | `unavailable` | `tentative`, and
//!   `availability_note/<day>`: free text

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ROOT};

use super::util::{check_day, check_len, get_i64, get_text, MAX_LONG};
use super::{transact, DomainError, Listing, Unreadable};
use crate::access::Author;

/// How far a member got with a revision, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AckLevel {
    /// Their device synced it.
    Received,
    /// They opened it.
    Opened,
    /// They confirmed their call.
    Confirmed,
}

impl AckLevel {
    pub const ALL: [AckLevel; 3] = [AckLevel::Received, AckLevel::Opened, AckLevel::Confirmed];

    pub fn as_str(self) -> &'static str {
        match self {
            AckLevel::Received => "received",
            AckLevel::Opened => "opened",
            AckLevel::Confirmed => "confirmed",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    pub day: String,
    pub revision: i64,
    pub received_at: Option<i64>,
    pub opened_at: Option<i64>,
    pub confirmed_at: Option<i64>,
}

impl Ack {
    pub fn has(&self, level: AckLevel) -> bool {
        match level {
            AckLevel::Received => self.received_at.is_some(),
            AckLevel::Opened => self.opened_at.is_some(),
            AckLevel::Confirmed => self.confirmed_at.is_some(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AvailabilityStatus {
    Available,
    Unavailable,
    Tentative,
}

impl AvailabilityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AvailabilityStatus::Available => "available",
            AvailabilityStatus::Unavailable => "unavailable",
            AvailabilityStatus::Tentative => "tentative",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Available, Self::Unavailable, Self::Tentative]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Availability {
    pub status: AvailabilityStatus,
    pub note: Option<String>,
}

fn ack_key(day: &str, revision: i64, level: AckLevel) -> String {
    format!("ack/{day}/{revision}/{}", level.as_str())
}

pub fn owner(doc: &Automerge) -> Option<String> {
    get_text(doc, &ROOT, "owner")
}

fn require_owner(doc: &Automerge, by: &Author, action: &'static str) -> Result<(), DomainError> {
    match owner(doc) {
        None => Err(DomainError::NotInitialised("a member document")),
        Some(o) if o == by.member_id => Ok(()),
        Some(_) => Err(DomainError::Forbidden {
            role: by.role,
            action,
            allowed: "the member whose document this is",
        }),
    }
}

/// Claims the document for `by`. Idempotent for its owner (commits nothing the second
/// time). Roles: any, for their own document only.
pub fn init_member_doc(doc: &mut Automerge, by: &Author, at_ms: i64) -> Result<(), DomainError> {
    match owner(doc) {
        Some(o) if o == by.member_id => Ok(()),
        Some(_) => Err(DomainError::Forbidden {
            role: by.role,
            action: "take over another member's document",
            allowed: "the member whose document this is",
        }),
        None => transact(doc, by, at_ms, |tx| {
            tx.put(ROOT, "owner", by.member_id.as_str())?;
            Ok(())
        }),
    }
}

/// Records that the member reached `level` for revision `revision` of `day`'s call sheet.
/// Reaching a level also records the lower ones not yet recorded; a level already recorded
/// keeps its first time (and nothing is committed). Roles: the owner, whatever their role.
pub fn acknowledge(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    day: &str,
    revision: i64,
    level: AckLevel,
) -> Result<(), DomainError> {
    require_owner(doc, by, "acknowledge for another member")?;
    check_day("call sheet day", day)?;
    if !(1..=10_000).contains(&revision) {
        return Err(DomainError::OutOfRange {
            field: "revision",
            reason: format!("{revision} is not a revision number"),
        });
    }
    let missing: Vec<String> = AckLevel::ALL
        .into_iter()
        .filter(|l| *l <= level)
        .map(|l| ack_key(day, revision, l))
        .filter(|k| get_i64(doc, &ROOT, k).is_none())
        .collect();
    transact(doc, by, at_ms, |tx| {
        for k in &missing {
            tx.put(ROOT, k.as_str(), at_ms)?;
        }
        Ok(())
    })
}

/// Sets the member's availability for a day. Roles: the owner.
pub fn set_availability(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    day: &str,
    availability: Availability,
) -> Result<(), DomainError> {
    require_owner(doc, by, "set another member's availability")?;
    check_day("day", day)?;
    if let Some(n) = &availability.note {
        check_len("availability note", n, MAX_LONG)?;
    }
    transact(doc, by, at_ms, |tx| {
        tx.put(
            ROOT,
            format!("availability/{day}"),
            availability.status.as_str(),
        )?;
        match &availability.note {
            Some(n) => tx.put(ROOT, format!("availability_note/{day}"), n.as_str())?,
            None => {
                if tx.get(ROOT, format!("availability_note/{day}"))?.is_some() {
                    tx.delete(ROOT, format!("availability_note/{day}"))?;
                }
            }
        }
        Ok(())
    })
}

/// Every acknowledgement, by day then revision, and the `ack/…` keys that could not be read
/// (by key: a malformed key, a level this version does not know, a value that is not a
/// time), each with why.
pub fn read_acks(doc: &Automerge) -> Listing<Ack> {
    let mut acks: BTreeMap<(String, i64), Ack> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for item in doc.map_range(ROOT, "ack/".to_owned().."ack0".to_owned()) {
        let key = item.key.as_ref();
        let mut skip = |why: String| {
            unreadable.push(Unreadable {
                id: key.to_owned(),
                what: "acknowledgement",
                why,
            })
        };
        let parts: Vec<&str> = key.split('/').collect();
        let [_, day, rev, level] = parts.as_slice() else {
            skip("the key is not ack/<day>/<revision>/<level>".into());
            continue;
        };
        let Ok(rev) = rev.parse::<i64>() else {
            skip(format!("`{rev}` is not a revision number"));
            continue;
        };
        let Some(at) = get_i64(doc, &ROOT, key) else {
            skip("the value is not a time in ms".into());
            continue;
        };
        if !AckLevel::ALL.iter().any(|l| l.as_str() == *level) {
            skip(format!("`{level}` is not a level this version knows"));
            continue;
        }
        let ack = acks.entry((day.to_string(), rev)).or_insert_with(|| Ack {
            day: day.to_string(),
            revision: rev,
            ..Default::default()
        });
        match *level {
            "received" => ack.received_at = Some(at),
            "opened" => ack.opened_at = Some(at),
            _ => ack.confirmed_at = Some(at),
        }
    }
    Listing {
        items: acks.into_values().collect(),
        unreadable,
    }
}

pub fn ack_for(doc: &Automerge, day: &str, revision: i64) -> Option<Ack> {
    read_acks(doc)
        .items
        .into_iter()
        .find(|a| a.day == day && a.revision == revision)
}

/// Availability per day.
pub fn read_availability(doc: &Automerge) -> Result<BTreeMap<String, Availability>, DomainError> {
    let mut out = BTreeMap::new();
    for item in doc.map_range(ROOT, "availability/".to_owned().."availability0".to_owned()) {
        let Some(day) = item.key.strip_prefix("availability/") else {
            continue;
        };
        let raw = get_text(doc, &ROOT, &item.key).unwrap_or_default();
        // A status a newer client knows and this one does not is left out rather than failing
        // the whole read, as `read_acks` does with unknown levels.
        let Some(status) = AvailabilityStatus::parse(&raw) else {
            tracing::debug!(day, status = %raw, "ignoring an unknown availability status");
            continue;
        };
        let note = get_text(doc, &ROOT, &format!("availability_note/{day}"));
        out.insert(day.to_owned(), Availability { status, note });
    }
    Ok(out)
}

/// For the coordinator: which of `members` (id, member doc) have not reached `level` for
/// the given revision. Sorted by member id.
pub fn who_has_not<'a>(
    day: &str,
    revision: i64,
    level: AckLevel,
    members: impl IntoIterator<Item = (&'a str, &'a Automerge)>,
) -> Vec<String> {
    let mut out: Vec<String> = members
        .into_iter()
        .filter(|(_, doc)| !ack_for(doc, day, revision).is_some_and(|a| a.has(level)))
        .map(|(id, _)| id.to_owned())
        .collect();
    out.sort();
    out
}
