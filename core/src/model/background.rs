//! One shoot day's background at holding (`DocKind::Background { day }`): the people who
//! came in, each checked in, their voucher signed and released.
//!
//! Document layout: root map `people` (created once by [`init_background`]): person id ->
//! `{id, name, group_id, group, wardrobe?, created_at, created_by, events}`. `group_id` is
//! the call sheet's background row the person was booked under and `group` its description,
//! copied when the person is added so the roster still reads after the sheet changes.
//! `wardrobe` is the one field that changes (a note a PA rewrites); the rest never does.
//!
//! What happens to a person is an append-only event log (`events`, see [`super::status`]):
//! `created → checked_in → voucher_signed → released`, one step at a time. The lifecycle is
//! a line on purpose: the derived state is the state after the winning head, so two steps
//! taken concurrently from the same state (a voucher and a release) would drop one of them
//! from the state. With a line, the only concurrent events are the same step twice (two PAs
//! at holding checking the same person in), where the loser says nothing the winner does
//! not, and is still kept in the log as a conflict. Who did a step and when are the event's
//! own `member` and `at`, so neither can be lost or forged (the write rules hold the
//! member to the writer).
//!
//! Roles: the people who run holding (coordinator, office, PA) do everything here; only a
//! coordinator or the office creates the day's document, as with the board.

use std::collections::HashMap;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ROOT};
use autosurgeon::{reconcile_prop, Hydrate, Reconcile};

use super::callsheet;
use super::log_memo;
use super::status::{self, Conflict, EventKind, LoggedEvent, NewEvent};
use super::util::{self, check_opt, check_required, check_time, get_map, MAX_LONG};
use super::{require_role, transact, DomainError, Listing, Unreadable, PLANNERS, RUN_WRITERS};
use crate::access::{Author, Role};
use crate::ids::new_record_id;

/// A person's stored fields (everything but the event log).
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct BackgroundRecord {
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub name: String,
    /// The call sheet's background row id.
    #[autosurgeon(hydrate = "util::text")]
    pub group_id: String,
    /// The row's description when the person was added.
    #[autosurgeon(hydrate = "util::text")]
    pub group: String,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub wardrobe: Option<String>,
    pub created_at: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub created_by: String,
}

/// Where a person is in their day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BackgroundStatus {
    /// On the roster, not checked in yet.
    #[default]
    NotIn,
    CheckedIn,
    VoucherSigned,
    Released,
}

impl BackgroundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BackgroundStatus::NotIn => "not checked in",
            BackgroundStatus::CheckedIn => "checked in",
            BackgroundStatus::VoucherSigned => "voucher signed",
            BackgroundStatus::Released => "released",
        }
    }
}

impl std::fmt::Display for BackgroundStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackgroundEventKind {
    Created,
    CheckedIn,
    VoucherSigned,
    Released,
}

/// When a step happened and which member recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub at_ms: i64,
    pub member: String,
}

/// A person's state after a prefix of their log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackgroundState {
    pub status: BackgroundStatus,
    pub checked_in: Option<Stamp>,
    pub voucher_signed: Option<Stamp>,
    pub released: Option<Stamp>,
}

impl EventKind for BackgroundEventKind {
    type State = BackgroundState;

    fn as_str(self) -> &'static str {
        match self {
            BackgroundEventKind::Created => "created",
            BackgroundEventKind::CheckedIn => "checked_in",
            BackgroundEventKind::VoucherSigned => "voucher_signed",
            BackgroundEventKind::Released => "released",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        use BackgroundEventKind::*;
        [Created, CheckedIn, VoucherSigned, Released]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    fn is_world(self) -> bool {
        self != BackgroundEventKind::Created
    }

    fn rank(self) -> u8 {
        self as u8
    }

    fn apply(state: &BackgroundState, e: &LoggedEvent<Self>) -> BackgroundState {
        let stamp = Some(Stamp {
            at_ms: e.at_ms,
            member: e.member.clone(),
        });
        let mut s = state.clone();
        match e.kind {
            BackgroundEventKind::Created => return BackgroundState::default(),
            BackgroundEventKind::CheckedIn => {
                s.status = BackgroundStatus::CheckedIn;
                s.checked_in = stamp;
            }
            BackgroundEventKind::VoucherSigned => {
                s.status = BackgroundStatus::VoucherSigned;
                s.voucher_signed = stamp;
            }
            BackgroundEventKind::Released => {
                s.status = BackgroundStatus::Released;
                s.released = stamp;
            }
        }
        s
    }
}

impl BackgroundEventKind {
    /// The status each step is taken from: the lifecycle is a line (see the module doc).
    fn taken_from(self) -> Option<BackgroundStatus> {
        match self {
            BackgroundEventKind::Created => None,
            BackgroundEventKind::CheckedIn => Some(BackgroundStatus::NotIn),
            BackgroundEventKind::VoucherSigned => Some(BackgroundStatus::CheckedIn),
            BackgroundEventKind::Released => Some(BackgroundStatus::VoucherSigned),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            BackgroundEventKind::Created => "add",
            BackgroundEventKind::CheckedIn => "check in",
            BackgroundEventKind::VoucherSigned => "sign the voucher of",
            BackgroundEventKind::Released => "release",
        }
    }
}

/// One person with what their log derives.
#[derive(Clone, Debug, PartialEq)]
pub struct BackgroundPerson {
    pub record: BackgroundRecord,
    pub status: BackgroundStatus,
    pub checked_in_at: Option<i64>,
    /// The member who checked them in.
    pub checked_in_by: Option<String>,
    pub voucher_signed_at: Option<i64>,
    pub voucher_signed_by: Option<String>,
    pub released_at: Option<i64>,
    pub released_by: Option<String>,
    pub events: Vec<LoggedEvent<BackgroundEventKind>>,
    /// The same step recorded twice at once (two PAs checking one person in): kept, shown.
    pub conflicts: Vec<Conflict>,
    /// Log entries this version could not read.
    pub ignored_events: Vec<String>,
}

impl BackgroundPerson {
    /// Checked in at some point (those since released included): who came to work.
    pub fn has_checked_in(&self) -> bool {
        self.status != BackgroundStatus::NotIn
    }
}

/// A person to add, under one of the call sheet's background rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBackgroundPerson {
    pub name: String,
    pub group_id: String,
    pub group: String,
    pub wardrobe: Option<String>,
}

impl NewBackgroundPerson {
    /// A person booked under `row` of the call sheet, its description copied as the group.
    pub fn for_row(name: impl Into<String>, row: &callsheet::Background) -> Self {
        NewBackgroundPerson {
            name: name.into(),
            group_id: row.id.clone(),
            group: row.description.clone(),
            wardrobe: None,
        }
    }
}

/// One call sheet group's numbers: expected from the sheet, and how many came and left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupTally {
    pub group_id: String,
    pub description: String,
    /// The sheet's count; 0 for a group no longer on the sheet.
    pub expected: i64,
    /// People who checked in, those since released included.
    pub checked_in: u32,
    pub released: u32,
}

/// Creates the day's `people` map. Done once, on the device (or relay) that creates the
/// document, before it is shared (see ARCHITECTURE.md, "Containers are created once").
/// Roles: coordinator, office.
pub fn init_background(doc: &mut Automerge, by: &Author, at_ms: i64) -> Result<(), DomainError> {
    require_role(by, PLANNERS, "create a day's background")?;
    if get_map(doc, &ROOT, "people").is_some() {
        return Err(DomainError::AlreadyExists("the day's background".into()));
    }
    transact(doc, by, at_ms, |tx| {
        tx.put_object(ROOT, "people", ObjType::Map)?;
        Ok(())
    })
}

fn people_map<R: ReadDoc>(doc: &R) -> Result<ObjId, DomainError> {
    get_map(doc, &ROOT, "people").ok_or(DomainError::NotInitialised("a day's background"))
}

fn person_obj<R: ReadDoc>(doc: &R, person_id: &str) -> Result<ObjId, DomainError> {
    let people = people_map(doc)?;
    get_map(doc, &people, person_id)
        .ok_or_else(|| DomainError::UnknownBackgroundPerson(person_id.to_owned()))
}

/// Whether a stored person is one the operations could have written.
pub fn validate_record(r: &BackgroundRecord) -> Result<(), DomainError> {
    check_required("person id", &r.id)?;
    check_required("name", &r.name)?;
    check_required("group id", &r.group_id)?;
    check_required("group", &r.group)?;
    check_opt("wardrobe", &r.wardrobe, MAX_LONG)?;
    check_time("created at", r.created_at)?;
    check_required("created by", &r.created_by)
}

/// Adds a person to the day under a call sheet group (status: not checked in). Roles:
/// coordinator, office, PA. Returns the person's id.
pub fn add_person(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    new: NewBackgroundPerson,
) -> Result<String, DomainError> {
    require_role(by, RUN_WRITERS, "add background")?;
    let id = new_record_id();
    let record = BackgroundRecord {
        id: id.clone(),
        name: new.name.trim().to_owned(),
        group_id: new.group_id,
        group: new.group,
        wardrobe: new.wardrobe.filter(|w| !w.trim().is_empty()),
        created_at: at_ms,
        created_by: by.member_id.clone(),
    };
    validate_record(&record)?;
    let people = people_map(doc)?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &people, id.as_str(), &record)?;
        let person = person_obj(tx, &id)?;
        let events = tx.put_object(&person, "events", ObjType::Map)?;
        status::append(
            tx,
            &events,
            &[],
            by,
            at_ms,
            plain_event(BackgroundEventKind::Created),
        )?;
        Ok(id.clone())
    })
}

fn plain_event(kind: BackgroundEventKind) -> NewEvent<'static, BackgroundEventKind> {
    NewEvent {
        kind,
        note: None,
        location: None,
        reason: None,
        assignee: None,
    }
}

/// Sets (or with `None` or blank, clears) a person's wardrobe notes. Roles: coordinator,
/// office, PA.
pub fn set_wardrobe(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    person_id: &str,
    wardrobe: Option<&str>,
) -> Result<(), DomainError> {
    require_role(by, RUN_WRITERS, "note background wardrobe")?;
    let wardrobe = wardrobe.filter(|w| !w.trim().is_empty());
    if let Some(w) = wardrobe {
        util::check_len("wardrobe", w, MAX_LONG)?;
    }
    let person = person_obj(doc, person_id)?;
    let current: Option<String> = util::hydrate_at(doc, &person, "wardrobe")?;
    if current.as_deref() == wardrobe {
        return Ok(());
    }
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, &person, "wardrobe", wardrobe)?;
        Ok(())
    })
}

/// Records that a person arrived at holding; the event's time and member are when and by
/// whom. Only from not checked in. Roles: coordinator, office, PA. Returns the event id.
pub fn check_in(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    person_id: &str,
) -> Result<String, DomainError> {
    record(doc, by, at_ms, person_id, BackgroundEventKind::CheckedIn)
}

/// Records that a checked-in person's voucher is signed. Roles: coordinator, office, PA.
pub fn sign_voucher(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    person_id: &str,
) -> Result<String, DomainError> {
    record(
        doc,
        by,
        at_ms,
        person_id,
        BackgroundEventKind::VoucherSigned,
    )
}

/// Records that a person whose voucher is signed went home. Roles: coordinator, office, PA.
pub fn release(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    person_id: &str,
) -> Result<String, DomainError> {
    record(doc, by, at_ms, person_id, BackgroundEventKind::Released)
}

fn record(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    person_id: &str,
    kind: BackgroundEventKind,
) -> Result<String, DomainError> {
    let person = person_obj(doc, person_id)?;
    let events = util::require_map(doc, &person, "events", "a background person")?;
    let tip = log_memo::tip::<BackgroundEventKind, _>(doc, &events);
    check_step(&tip.state, kind, by.role)?;
    let id = transact(doc, by, at_ms, |tx| {
        status::append(tx, &events, &tip.heads, by, at_ms, plain_event(kind))
    })?;
    log_memo::appended::<BackgroundEventKind, _>(doc, &events, &id);
    Ok(id)
}

/// Whether an event already in a person's log was allowed from the state its author saw:
/// the rules of [`check_in`], [`sign_voucher`] and [`release`], applied by the write rules
/// to every event a peer sends.
pub fn check_logged_event(
    seen: &BackgroundState,
    event: &LoggedEvent<BackgroundEventKind>,
    role: Role,
) -> Result<(), DomainError> {
    check_step(seen, event.kind, role)
}

fn check_step(
    seen: &BackgroundState,
    kind: BackgroundEventKind,
    role: Role,
) -> Result<(), DomainError> {
    let by_role = Author {
        member_id: String::new(),
        device_id: String::new(),
        role,
    };
    require_role(&by_role, RUN_WRITERS, "record background at holding")?;
    let Some(from) = kind.taken_from() else {
        return Err(DomainError::InvalidTransition {
            what: "background person",
            from: seen.status.to_string(),
            event: kind.verb().into(),
            hint: "a person is added once, with their first event",
        });
    };
    if seen.status != from {
        return Err(DomainError::InvalidTransition {
            what: "background person",
            from: seen.status.to_string(),
            event: kind.verb().into(),
            hint: match (kind, seen.status) {
                (BackgroundEventKind::CheckedIn, _) => "they are already checked in",
                (_, BackgroundStatus::NotIn) => "check them in first",
                (BackgroundEventKind::Released, BackgroundStatus::CheckedIn) => {
                    "sign their voucher first"
                }
                (_, BackgroundStatus::Released) => "they have gone home",
                _ => "it is already recorded",
            },
        });
    }
    Ok(())
}

/// One person with their derived state. A person that cannot be read is a
/// [`DomainError::Corrupt`] naming the field at fault.
pub fn read_person(doc: &Automerge, person_id: &str) -> Result<BackgroundPerson, DomainError> {
    let people = people_map(doc)?;
    read_person_in(doc, &people, person_id)
}

fn read_person_in(
    doc: &Automerge,
    people: &ObjId,
    person_id: &str,
) -> Result<BackgroundPerson, DomainError> {
    let person = match doc.get(people, person_id)? {
        Some((automerge::Value::Object(ObjType::Map), person)) => person,
        Some(_) => {
            return Err(DomainError::Corrupt(format!(
                "person `{person_id}` is not a map"
            )))
        }
        None => return Err(DomainError::UnknownBackgroundPerson(person_id.to_owned())),
    };
    let record: BackgroundRecord = util::hydrate_at(doc, people, person_id)?;
    let events = util::require_map(doc, &person, "events", "a background person")?;
    let d = status::read_log::<BackgroundEventKind, _>(doc, &events);
    let s = d.state;
    let (checked_in_at, checked_in_by) = split(s.checked_in);
    let (voucher_signed_at, voucher_signed_by) = split(s.voucher_signed);
    let (released_at, released_by) = split(s.released);
    Ok(BackgroundPerson {
        record,
        status: s.status,
        checked_in_at,
        checked_in_by,
        voucher_signed_at,
        voucher_signed_by,
        released_at,
        released_by,
        events: d.events,
        conflicts: d.conflicts,
        ignored_events: d.ignored,
    })
}

fn split(stamp: Option<Stamp>) -> (Option<i64>, Option<String>) {
    match stamp {
        Some(s) => (Some(s.at_ms), Some(s.member)),
        None => (None, None),
    }
}

/// Every person of the day in the order they were added (then by id), and the people that
/// could not be read, each with why. Errs only when the document has no `people` map.
pub fn list_people(doc: &Automerge) -> Result<Listing<BackgroundPerson>, DomainError> {
    let people = people_map(doc)?;
    let mut out = Listing::default();
    for id in doc.keys(&people) {
        match read_person_in(doc, &people, &id) {
            Ok(p) => out.items.push(p),
            Err(e) => out.unreadable.push(Unreadable {
                why: util::why(&e),
                id,
                what: "background person",
            }),
        }
    }
    out.items.sort_by(|a, b| {
        (a.record.created_at, &a.record.id).cmp(&(b.record.created_at, &b.record.id))
    });
    Ok(out)
}

/// Counts per group: one tally per call sheet row, in the sheet's order, then one per group
/// people were added under that the sheet no longer has (their copied label, expected 0),
/// by label then id. Several rows with one id (a sheet that did not validate) count their
/// people once, under the first.
pub fn tally(people: &[BackgroundPerson], rows: &[callsheet::Background]) -> Vec<GroupTally> {
    let mut out: Vec<GroupTally> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for row in rows {
        if at.contains_key(&row.id) {
            continue;
        }
        at.insert(row.id.clone(), out.len());
        out.push(GroupTally {
            group_id: row.id.clone(),
            description: row.description.clone(),
            expected: row.count,
            checked_in: 0,
            released: 0,
        });
    }
    let on_sheet = out.len();
    for p in people {
        let i = *at.entry(p.record.group_id.clone()).or_insert_with(|| {
            out.push(GroupTally {
                group_id: p.record.group_id.clone(),
                description: p.record.group.clone(),
                expected: 0,
                checked_in: 0,
                released: 0,
            });
            out.len() - 1
        });
        // `i` came from `at`, which only holds positions pushed into `out`.
        if let Some(t) = out.get_mut(i) {
            if p.has_checked_in() {
                t.checked_in = t.checked_in.saturating_add(1);
            }
            if p.status == BackgroundStatus::Released {
                t.released = t.released.saturating_add(1);
            }
        }
    }
    if let Some(off_sheet) = out.get_mut(on_sheet..) {
        off_sheet.sort_by(|a, b| (&a.description, &a.group_id).cmp(&(&b.description, &b.group_id)));
    }
    out
}
