//! An item's sign-out log: the event kinds, the state they derive, the ops that append
//! them, and the transition and role rules the write rules apply again to every event a
//! peer sends.

use automerge::Automerge;

use super::{events_obj, item_obj, GearRecord};
use crate::access::{Author, Role};
use crate::model::log_memo;
use crate::model::status::{self, EventKind, LoggedEvent, NewEvent};
use crate::model::util::{self, check_len, check_required, MAX_LONG};
use crate::model::{require_role, transact, DomainError, PLANNERS, RUN_WRITERS};

/// Kinds of events in an item's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GearEventKind {
    Created,
    /// Handed to someone: the event's `assignee`.
    SignedOut,
    /// Back in the office's or the truck's hands.
    Returned,
    /// Gone back to the rental house or lender.
    ReturnedToOwner,
    Lost,
    Found,
    /// What is wrong with it is the event's `reason`.
    Damaged,
    Repaired,
}

/// What an item's log says about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GearState {
    /// Who it is signed out to; kept while it is lost, as who had it last.
    pub holder: Option<String>,
    pub out_since: Option<i64>,
    pub lost: bool,
    pub damaged: bool,
    pub damage: Option<String>,
    pub with_owner: bool,
}

impl GearState {
    /// Where the item stands, for messages ("cannot sign out a gear item that is lost").
    pub fn describe(&self) -> String {
        if self.with_owner {
            "back with its owner".into()
        } else if self.lost {
            "lost".into()
        } else if let Some(h) = &self.holder {
            format!("signed out to {h}")
        } else {
            "in".into()
        }
    }
}

impl EventKind for GearEventKind {
    type State = GearState;

    fn as_str(self) -> &'static str {
        match self {
            GearEventKind::Created => "created",
            GearEventKind::SignedOut => "signed_out",
            GearEventKind::Returned => "returned",
            GearEventKind::ReturnedToOwner => "returned_to_owner",
            GearEventKind::Lost => "lost",
            GearEventKind::Found => "found",
            GearEventKind::Damaged => "damaged",
            GearEventKind::Repaired => "repaired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        use GearEventKind::*;
        [
            Created,
            SignedOut,
            Returned,
            ReturnedToOwner,
            Lost,
            Found,
            Damaged,
            Repaired,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Every event but `created` records a hand-over or a finding about the object itself.
    fn is_world(self) -> bool {
        self != GearEventKind::Created
    }

    /// Among concurrent events, the one that says most surely where the item is wins: an
    /// item back with its owner or found beats one recorded returned, which beats a lost
    /// report (someone has it in hand), which beats a damage note or a sign-out. Two
    /// concurrent sign-outs of one walkie fall to the later device time, then the larger
    /// event id, as in [`status::derive`].
    fn rank(self) -> u8 {
        use GearEventKind::*;
        match self {
            Created => 0,
            SignedOut => 1,
            Damaged | Repaired => 2,
            Lost => 3,
            Returned => 4,
            Found => 5,
            ReturnedToOwner => 6,
        }
    }

    fn apply(state: &GearState, e: &LoggedEvent<Self>) -> GearState {
        let mut s = state.clone();
        match e.kind {
            GearEventKind::Created => return GearState::default(),
            GearEventKind::SignedOut => {
                s.holder = e.assignee.clone();
                s.out_since = Some(e.at_ms);
            }
            GearEventKind::Returned => {
                s.holder = None;
                s.out_since = None;
            }
            GearEventKind::ReturnedToOwner => {
                s.holder = None;
                s.out_since = None;
                s.with_owner = true;
            }
            GearEventKind::Lost => s.lost = true,
            GearEventKind::Found => {
                // A found item comes back to the office, not to whoever lost it.
                s.lost = false;
                s.holder = None;
                s.out_since = None;
            }
            GearEventKind::Damaged => {
                s.damaged = true;
                s.damage = e.reason.clone();
            }
            GearEventKind::Repaired => {
                s.damaged = false;
                s.damage = None;
            }
        }
        s
    }
}

/// What a person records about an item.
#[derive(Clone, Debug, PartialEq, Eq)]
enum GearAction {
    SignOut { to: String },
    Return,
    ReturnToOwner,
    ReportLost,
    Found,
    ReportDamaged { damage: String },
    Repaired,
}

impl GearAction {
    fn kind(&self) -> GearEventKind {
        match self {
            GearAction::SignOut { .. } => GearEventKind::SignedOut,
            GearAction::Return => GearEventKind::Returned,
            GearAction::ReturnToOwner => GearEventKind::ReturnedToOwner,
            GearAction::ReportLost => GearEventKind::Lost,
            GearAction::Found => GearEventKind::Found,
            GearAction::ReportDamaged { .. } => GearEventKind::Damaged,
            GearAction::Repaired => GearEventKind::Repaired,
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            GearAction::SignOut { .. } => "sign out",
            GearAction::Return => "return",
            GearAction::ReturnToOwner => "send back to its owner",
            GearAction::ReportLost => "report lost",
            GearAction::Found => "mark found",
            GearAction::ReportDamaged { .. } => "report damaged",
            GearAction::Repaired => "mark repaired",
        }
    }
}

pub(super) fn new_event(kind: GearEventKind, note: Option<&str>) -> NewEvent<'_, GearEventKind> {
    NewEvent {
        kind,
        note,
        location: None,
        reason: None,
        assignee: None,
    }
}

/// Signs an item out to someone (a member id, or a name for someone outside setlink, such
/// as a day player). Roles: coordinator, office, PA. Only an item that is in: not signed
/// out, lost or back with its owner. Returns the event id.
pub fn sign_out(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    item_id: &str,
    to_member: &str,
    note: Option<&str>,
) -> Result<String, DomainError> {
    let to = to_member.to_owned();
    record(doc, by, at_ms, item_id, GearAction::SignOut { to }, note)
}

/// Records that a signed-out item came back. Roles: coordinator, office, PA (see the
/// module doc for why any PA may). Returns the event id.
pub fn return_item(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    item_id: &str,
    note: Option<&str>,
) -> Result<String, DomainError> {
    record(doc, by, at_ms, item_id, GearAction::Return, note)
}

/// Records that a borrowed or rented item went back to its owner (what a return run
/// does). Roles: coordinator, office, PA. Not for the production's own items, lost ones or
/// ones already back. Returns the event id.
pub fn returned_to_owner(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    item_id: &str,
    note: Option<&str>,
) -> Result<String, DomainError> {
    record(doc, by, at_ms, item_id, GearAction::ReturnToOwner, note)
}

/// Reports an item missing. Roles: coordinator, office, PA. Returns the event id.
pub fn report_lost(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    item_id: &str,
    note: Option<&str>,
) -> Result<String, DomainError> {
    record(doc, by, at_ms, item_id, GearAction::ReportLost, note)
}

/// Reports damage (`damage` says what, required). Roles: coordinator, office, PA. Not on
/// an item that is lost or back with its owner. Returns the event id.
pub fn report_damaged(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    item_id: &str,
    damage: &str,
    note: Option<&str>,
) -> Result<String, DomainError> {
    let damage = damage.to_owned();
    let action = GearAction::ReportDamaged { damage };
    record(doc, by, at_ms, item_id, action, note)
}

/// Marks a lost item found: it is back in the office, with no one. Roles: coordinator,
/// office. Returns the event id.
pub fn mark_found(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    item_id: &str,
    note: Option<&str>,
) -> Result<String, DomainError> {
    record(doc, by, at_ms, item_id, GearAction::Found, note)
}

/// Marks a damaged item repaired. Roles: coordinator, office. Returns the event id.
pub fn mark_repaired(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    item_id: &str,
    note: Option<&str>,
) -> Result<String, DomainError> {
    record(doc, by, at_ms, item_id, GearAction::Repaired, note)
}

fn record(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    item_id: &str,
    action: GearAction,
    note: Option<&str>,
) -> Result<String, DomainError> {
    check_action_role(by, &action)?;
    if let Some(n) = note {
        check_len("note", n, MAX_LONG)?;
    }
    let item = item_obj(doc, item_id)?;
    let events = events_obj(doc, &item)?;
    let owner: Option<String> = util::opt_text(doc, &item, "owner".into())
        .ok()
        .flatten()
        .filter(|o: &String| !o.trim().is_empty());
    let d = log_memo::tip::<GearEventKind, _>(doc, &events);
    check_transition(&d.state, &action, owner.is_some())?;
    let id = transact(doc, by, at_ms, |tx| {
        let mut ev = new_event(action.kind(), note);
        match &action {
            GearAction::SignOut { to } => ev.assignee = Some(to.as_str()),
            GearAction::ReportDamaged { damage } => ev.reason = Some(damage.as_str()),
            _ => {}
        }
        status::append(tx, &events, &d.heads, by, at_ms, ev)
    })?;
    log_memo::appended::<GearEventKind, _>(doc, &events, &id);
    Ok(id)
}

/// Whether an event already in an item's log was allowed, given the state its author saw
/// (derived from the events in its `prev`) and the item's record: the rules of the ops
/// above, applied by the write rules to every event a peer sends.
pub fn check_logged_gear_event(
    record: &GearRecord,
    seen: &GearState,
    event: &LoggedEvent<GearEventKind>,
    role: Role,
) -> Result<(), DomainError> {
    let by = Author {
        member_id: event.member.clone(),
        device_id: event.device.clone(),
        role,
    };
    let action = match event.kind {
        GearEventKind::Created => {
            return Err(DomainError::InvalidTransition {
                what: "gear item",
                from: seen.describe(),
                event: "create".into(),
                hint: "an item is created once, with its first event",
            })
        }
        GearEventKind::SignedOut => GearAction::SignOut {
            to: event.assignee.clone().unwrap_or_default(),
        },
        GearEventKind::Returned => GearAction::Return,
        GearEventKind::ReturnedToOwner => GearAction::ReturnToOwner,
        GearEventKind::Lost => GearAction::ReportLost,
        GearEventKind::Found => GearAction::Found,
        GearEventKind::Damaged => GearAction::ReportDamaged {
            damage: event.reason.clone().unwrap_or_default(),
        },
        GearEventKind::Repaired => GearAction::Repaired,
    };
    check_action_role(&by, &action)?;
    if let Some(n) = &event.note {
        check_len("note", n, MAX_LONG)?;
    }
    let has_owner = record
        .owner
        .as_deref()
        .is_some_and(|o| !o.trim().is_empty());
    check_transition(seen, &action, has_owner)
}

fn check_action_role(by: &Author, action: &GearAction) -> Result<(), DomainError> {
    match action {
        GearAction::Found => require_role(by, PLANNERS, "mark gear found")?,
        GearAction::Repaired => require_role(by, PLANNERS, "mark gear repaired")?,
        _ => require_role(by, RUN_WRITERS, "sign gear out or in")?,
    }
    match action {
        GearAction::SignOut { to } => check_required("signed out to", to),
        GearAction::ReportDamaged { damage } => check_required("damage", damage),
        _ => Ok(()),
    }
}

fn check_transition(
    seen: &GearState,
    action: &GearAction,
    has_owner: bool,
) -> Result<(), DomainError> {
    let bad = |hint: &'static str| {
        Err(DomainError::InvalidTransition {
            what: "gear item",
            from: seen.describe(),
            event: action.verb().to_owned(),
            hint,
        })
    };
    let gone = seen.with_owner || seen.lost;
    let gone_hint = if seen.with_owner {
        "it went back to its owner; add it again if it is rented again"
    } else {
        "mark it found first"
    };
    match action {
        GearAction::SignOut { .. } => {
            if gone {
                return bad(gone_hint);
            }
            if seen.holder.is_some() {
                return bad("record its return first");
            }
            Ok(())
        }
        GearAction::Return => {
            if gone {
                return bad(gone_hint);
            }
            if seen.holder.is_none() {
                return bad("it is not signed out");
            }
            Ok(())
        }
        GearAction::ReturnToOwner => {
            if !has_owner {
                return bad("it is the production's own; give it an owner first");
            }
            if gone {
                return bad(if seen.with_owner {
                    "it is already back with its owner"
                } else {
                    "settle a lost item with its owner, or mark it found first"
                });
            }
            Ok(())
        }
        GearAction::ReportLost | GearAction::ReportDamaged { .. } => {
            if gone {
                return bad(if seen.lost {
                    "it is already reported lost"
                } else {
                    gone_hint
                });
            }
            Ok(())
        }
        GearAction::Found => {
            if !seen.lost {
                return bad("it is not reported lost");
            }
            Ok(())
        }
        GearAction::Repaired => {
            if !seen.damaged {
                return bad("it is not reported damaged");
            }
            if seen.with_owner {
                return bad(gone_hint);
            }
            Ok(())
        }
    }
}
