//! A run's lifecycle: assigning, unassigning and status events, and the transition and
//! role rules the write rules apply again to every event a peer sends.

use super::*;

fn transition_error(from: RunStatus, event: &str, hint: &'static str) -> DomainError {
    DomainError::InvalidTransition {
        what: "run",
        from: from.to_string(),
        event: event.to_owned(),
        hint,
    }
}

/// Assigns (or reassigns) a run to a PA. Roles: coordinator, office. Allowed unless the run
/// is delivered, reconciled or cancelled. Returns the event id.
pub fn assign(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    assignee: &str,
    ctx: EventContext,
) -> Result<String, DomainError> {
    check_required("assignee", assignee)?;
    append_assignment(doc, by, at_ms, run_id, Some(assignee), ctx)
}

/// Takes a run off its PA: an `assigned` event with no assignee, after which the run is
/// requested again, for anyone to be assigned or to claim (the log keeps who had it).
/// Roles: coordinator, office. Allowed while a PA has it (assigned, accepted, en route,
/// picked up, or failed with them); not once it is cancelled, delivered or reconciled.
/// Returns the event id.
pub fn unassign(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    ctx: EventContext,
) -> Result<String, DomainError> {
    append_assignment(doc, by, at_ms, run_id, None, ctx)
}

fn append_assignment(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    assignee: Option<&str>,
    ctx: EventContext,
) -> Result<String, DomainError> {
    let action = if assignee.is_some() {
        "assign a run"
    } else {
        "unassign a run"
    };
    require_role(by, PLANNERS, action)?;
    ctx.validate()?;
    let run = run_obj(doc, run_id)?;
    let events = events_obj(doc, &run)?;
    let d = log_memo::tip::<RunEventKind, _>(doc, &events);
    use RunStatus::*;
    match (d.state.status, assignee) {
        (s @ (Assigned | Accepted | EnRoute | PickedUp), Some(a))
            if d.state.assignee.as_deref() == Some(a) =>
        {
            return Err(transition_error(
                s,
                "assign",
                "it is already assigned to that PA",
            ))
        }
        _ => check_assignment(&d.state, assignee)?,
    }
    let id = transact(doc, by, at_ms, |tx| {
        let mut ev = new_event(RunEventKind::Assigned, &ctx);
        ev.assignee = assignee;
        status::append(tx, &events, &d.heads, by, at_ms, ev)
    })?;
    log_memo::appended::<RunEventKind, _>(doc, &events, &id);
    Ok(id)
}

/// Whether an `assigned` event (with `assignee`, or none: an unassignment) may follow the
/// state `seen`; the role is checked by the caller.
fn check_assignment(seen: &RunState, assignee: Option<&str>) -> Result<(), DomainError> {
    use RunStatus::*;
    let event = if assignee.is_some() {
        "assign"
    } else {
        "unassign"
    };
    match seen.status {
        Cancelled => Err(transition_error(Cancelled, event, "reopen it first")),
        s @ (Delivered | Reconciled) => Err(transition_error(
            s,
            event,
            "it is done; create a new run instead",
        )),
        s if assignee.is_none() && seen.assignee.is_none() => {
            Err(transition_error(s, event, "it is not assigned to anyone"))
        }
        _ => match assignee {
            Some(a) => check_required("assignee", a),
            None => Ok(()),
        },
    }
}

/// Records a status change. Returns the event id. Rules (status before -> event):
/// - accept: requested (a claim), assigned or failed. A PA may accept only a run that is
///   unassigned or assigned to them.
/// - en route: assigned or accepted. Picked up: assigned, accepted or en route.
/// - delivered: picked up; for kinds that do not need a pickup
///   (see [`RunKind::needs_pickup`]) also assigned, accepted or en route.
/// - failed (reason required): assigned, accepted, en route or picked up.
/// - cancel: anything not yet delivered; reopen: cancelled or failed; reconcile: delivered.
///
/// Roles: accept, en route, picked up, delivered and failed: coordinator, office, or the
/// assigned PA. Cancel, reopen and reconcile: coordinator, office.
pub fn record_status(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    run_id: &str,
    event: RunEvent,
    ctx: EventContext,
) -> Result<String, DomainError> {
    let kind = event.kind();
    check_event_role(by, &event)?;
    ctx.validate()?;
    let run = run_obj(doc, run_id)?;
    let events = events_obj(doc, &run)?;
    let d = log_memo::tip::<RunEventKind, _>(doc, &events);
    let run_kind = read_run_kind(doc, &run)?;
    check_run_transition(run_kind, &d.state, &event, by)?;
    let reason = match &event {
        RunEvent::Fail { reason } => Some(reason.as_str()),
        _ => None,
    };
    let id = transact(doc, by, at_ms, |tx: &mut Transaction<'_>| {
        let mut ev = new_event(kind, &ctx);
        ev.reason = reason;
        status::append(tx, &events, &d.heads, by, at_ms, ev)
    })?;
    log_memo::appended::<RunEventKind, _>(doc, &events, &id);
    Ok(id)
}

/// Whether an event already in a run's log was allowed, given the state its author saw
/// (the run derived from the events in its `prev`): the rules of [`assign`] and
/// [`record_status`], applied to what was written instead of to what is about to be.
/// The write rules run this on every event a peer sends, so a modified app cannot record
/// what the app would have refused.
pub fn check_logged_event(
    run_kind: RunKind,
    seen: &RunState,
    event: &LoggedEvent<RunEventKind>,
    role: Role,
) -> Result<(), DomainError> {
    let by = Author {
        member_id: event.member.clone(),
        device_id: event.device.clone(),
        role,
    };
    let status_event = match event.kind {
        RunEventKind::Created => {
            return Err(transition_error(
                seen.status,
                "create",
                "a run is created once, with its first event",
            ))
        }
        RunEventKind::Assigned => {
            let action = if event.assignee.is_some() {
                "assign a run"
            } else {
                "unassign a run"
            };
            require_role(&by, PLANNERS, action)?;
            return check_assignment(seen, event.assignee.as_deref());
        }
        RunEventKind::Accepted => RunEvent::Accept,
        RunEventKind::EnRoute => RunEvent::EnRoute,
        RunEventKind::PickedUp => RunEvent::PickUp,
        RunEventKind::Delivered => RunEvent::Deliver,
        RunEventKind::Failed => RunEvent::Fail {
            reason: event.reason.clone().unwrap_or_default(),
        },
        RunEventKind::Cancelled => RunEvent::Cancel,
        RunEventKind::Reopened => RunEvent::Reopen,
        RunEventKind::Reconciled => RunEvent::Reconcile,
    };
    check_event_role(&by, &status_event)?;
    check_run_transition(run_kind, seen, &status_event, &by)
}

fn check_event_role(by: &Author, event: &RunEvent) -> Result<(), DomainError> {
    match event.kind() {
        RunEventKind::Cancelled => require_role(by, PLANNERS, "cancel a run")?,
        RunEventKind::Reopened => require_role(by, PLANNERS, "reopen a run")?,
        RunEventKind::Reconciled => require_role(by, PLANNERS, "reconcile a run")?,
        _ => require_role(by, RUN_WRITERS, "update a run's status")?,
    }
    if let RunEvent::Fail { reason } = event {
        check_required("failure reason", reason)?;
    }
    Ok(())
}

fn check_run_transition(
    run_kind: RunKind,
    state: &RunState,
    event: &RunEvent,
    by: &Author,
) -> Result<(), DomainError> {
    use RunStatus::*;
    let from = state.status;
    let name = event.kind().as_str().replace('_', " ");
    let bad = |hint| Err(transition_error(from, &name, hint));
    let pa_not_assignee =
        by.role == Role::Pa && state.assignee.as_deref().is_some_and(|a| a != by.member_id);
    let forbid_other_pa = || {
        Err(DomainError::Forbidden {
            role: Role::Pa,
            action: "update a run assigned to another PA",
            allowed: "coordinator or the office to reassign it",
        })
    };
    match event {
        RunEvent::Accept => match from {
            Requested | Assigned | Failed => {
                if pa_not_assignee {
                    return forbid_other_pa();
                }
                Ok(())
            }
            Cancelled => bad("reopen it first"),
            _ => bad("it has already been accepted"),
        },
        RunEvent::EnRoute | RunEvent::PickUp | RunEvent::Deliver | RunEvent::Fail { .. } => {
            let allowed: &[RunStatus] = match event {
                RunEvent::EnRoute => &[Assigned, Accepted],
                RunEvent::PickUp => &[Assigned, Accepted, EnRoute],
                RunEvent::Deliver if run_kind.needs_pickup() => &[PickedUp],
                RunEvent::Deliver => &[Assigned, Accepted, EnRoute, PickedUp],
                _ => &[Assigned, Accepted, EnRoute, PickedUp],
            };
            if !allowed.contains(&from) {
                return bad(match from {
                    Requested => "assign or accept it first",
                    Cancelled => "reopen it first",
                    Failed => "reassign or accept it again first",
                    Delivered | Reconciled => "it is already done",
                    _ if matches!(event, RunEvent::Deliver) => "mark it picked up first",
                    _ => "that would move it backwards",
                });
            }
            if by.role == Role::Pa && state.assignee.as_deref() != Some(by.member_id.as_str()) {
                return forbid_other_pa();
            }
            Ok(())
        }
        RunEvent::Cancel => match from {
            Delivered | Reconciled => bad("it is already done"),
            Cancelled => bad("it is already cancelled"),
            _ => Ok(()),
        },
        RunEvent::Reopen => match from {
            Cancelled | Failed => Ok(()),
            _ => bad("only cancelled or failed runs can be reopened"),
        },
        RunEvent::Reconcile => match from {
            Delivered => Ok(()),
            _ => bad("only delivered runs can be reconciled"),
        },
    }
}
