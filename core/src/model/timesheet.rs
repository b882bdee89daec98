//! A member's timesheets: one document per member, a day each, submitted by the member
//! (offline if need be) and approved or returned by a coordinator.
//!
//! Layout:
//! - `owner`: the member id (like a member document's), set once
//! - `days`: map `YYYY-MM-DD` -> `{ submissions, reviews }`, both append-only lists of maps:
//!   - a submission `{ id, call, meal_start?, meal_end?, wrap, notes?, submitted_at,
//!     submitted_by }`, times as ms since 1970 (so a wrap after midnight is simply later
//!     than the call, with no date arithmetic)
//!   - a review `{ id, submission_id, decision: approved | returned, note?, at, by }`, the
//!     note required when returned
//!
//! Status of a day, derived and the same on every replica: the current submission is the
//! last one in the list (Automerge orders concurrent inserts the same way everywhere), and
//! a review counts only if it names the current submission, the last such review deciding.
//! So a member re-submitting while a coordinator approves the older submission leaves the
//! new one waiting, on every device, instead of approving times nobody looked at.
//!
//! Roles: the owner submits (any role, their own document only); coordinators review.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ROOT};
use autosurgeon::{reconcile_insert, Hydrate, Reconcile};

use super::util::{self, check_day, check_len, check_time, get_map, get_text, MAX_LONG};
use super::{require_role, transact, DomainError, Listing, Unreadable, COORDINATOR};
use crate::access::Author;
use crate::ids::new_record_id;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
/// The longest working day a timesheet may claim, call to wrap.
pub const MAX_DAY_MS: i64 = 24 * HOUR_MS;

/// What the member fills in for a day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimesheetEntry {
    /// Call time, ms since 1970.
    pub call: i64,
    /// The meal break, both or neither, inside call..wrap.
    pub meal_start: Option<i64>,
    pub meal_end: Option<i64>,
    /// Wrap time, ms since 1970: after the call, at most 24 hours later.
    pub wrap: i64,
    pub notes: Option<String>,
}

/// One submission as stored. Never edited: a correction is a new submission.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Submission {
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    pub call: i64,
    pub meal_start: Option<i64>,
    pub meal_end: Option<i64>,
    pub wrap: i64,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub notes: Option<String>,
    pub submitted_at: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub submitted_by: String,
}

impl Submission {
    /// The times and notes, as the member entered them.
    pub fn entry(&self) -> TimesheetEntry {
        TimesheetEntry {
            call: self.call,
            meal_start: self.meal_start,
            meal_end: self.meal_end,
            wrap: self.wrap,
            notes: self.notes.clone(),
        }
    }
}

/// A coordinator's decision on a submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum Decision {
    #[autosurgeon(rename = "approved")]
    Approved,
    /// Sent back to the member with a note saying what to fix.
    #[autosurgeon(rename = "returned")]
    Returned,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Returned => "returned",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Decision::Approved => "approve",
            Decision::Returned => "return",
        }
    }
}

/// One review as stored. Never edited: changing one's mind is a new review.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Review {
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub submission_id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub decision: Decision,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub note: Option<String>,
    pub at: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub by: String,
}

/// Where a day's timesheet stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TimesheetStatus {
    #[default]
    NotSubmitted,
    /// Waiting for a coordinator.
    Submitted,
    Approved,
    /// Sent back, with the coordinator's note.
    Returned {
        note: String,
    },
}

impl TimesheetStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            TimesheetStatus::NotSubmitted => "not submitted",
            TimesheetStatus::Submitted => "submitted",
            TimesheetStatus::Approved => "approved",
            TimesheetStatus::Returned { .. } => "returned",
        }
    }
}

impl std::fmt::Display for TimesheetStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One day of a member's timesheets, with its derived status and whole history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayTimesheet {
    pub day: String,
    pub status: TimesheetStatus,
    /// The submission the status is about: the last one.
    pub current: Option<Submission>,
    /// The review that decided the status (of the current submission), if any.
    pub decided_by: Option<Review>,
    pub submissions: Vec<Submission>,
    pub reviews: Vec<Review>,
}

/// How a day is stored; read whole, so a day either reads or is reported unreadable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
struct StoredDay {
    submissions: Vec<Submission>,
    reviews: Vec<Review>,
}

/// Minutes worked: wrap − call − the meal break. Saturating, so no input overflows.
pub fn worked_minutes(entry: &TimesheetEntry) -> i64 {
    let meal = match (entry.meal_start, entry.meal_end) {
        (Some(s), Some(e)) => e.saturating_sub(s),
        _ => 0,
    };
    entry
        .wrap
        .saturating_sub(entry.call)
        .saturating_sub(meal)
        .div_euclid(MINUTE_MS)
}

/// 00:00 UTC of `day` in ms (the day already checked).
fn day_start_utc_ms(day: &str) -> Result<i64, DomainError> {
    let bad = |e: jiff::Error| DomainError::InvalidValue {
        field: "timesheet day",
        reason: e.to_string(),
    };
    let date: jiff::civil::Date = day.parse().map_err(bad)?;
    let zoned = date.to_zoned(jiff::tz::TimeZone::UTC).map_err(bad)?;
    Ok(zoned.timestamp().as_millisecond())
}

/// Whether `entry` is a plausible day's work on `day`: every time within the clock's
/// bounds, the call on that day in some time zone (UTC−12 to UTC+14: the core does not know
/// the production's zone, the dashboard shows times in it), wrap after the call and at
/// most 24 hours later, the meal both ends or neither, inside call..wrap and not empty.
pub fn validate_entry(day: &str, entry: &TimesheetEntry) -> Result<(), DomainError> {
    check_day("timesheet day", day)?;
    check_time("call", entry.call)?;
    check_time("wrap", entry.wrap)?;
    let start = day_start_utc_ms(day)?;
    if entry.call < start - 14 * HOUR_MS || entry.call >= start + 36 * HOUR_MS {
        return Err(DomainError::OutOfRange {
            field: "call",
            reason: format!("the call is not on {day} in any time zone"),
        });
    }
    if entry.wrap <= entry.call {
        return Err(DomainError::OutOfRange {
            field: "wrap",
            reason: "wrap must be after the call".into(),
        });
    }
    if entry.wrap - entry.call > MAX_DAY_MS {
        return Err(DomainError::OutOfRange {
            field: "wrap",
            reason: "wrap is more than 24 hours after the call".into(),
        });
    }
    match (entry.meal_start, entry.meal_end) {
        (None, None) => {}
        (Some(s), Some(e)) => {
            if s < entry.call || s > entry.wrap {
                return Err(DomainError::OutOfRange {
                    field: "meal start",
                    reason: "the meal break starts between call and wrap".into(),
                });
            }
            if e <= s {
                return Err(DomainError::OutOfRange {
                    field: "meal end",
                    reason: "the meal break ends after it starts".into(),
                });
            }
            if e > entry.wrap {
                return Err(DomainError::OutOfRange {
                    field: "meal end",
                    reason: "the meal break ends by wrap".into(),
                });
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(DomainError::InvalidValue {
                field: "meal",
                reason: "give both the start and the end of the meal break, or neither".into(),
            })
        }
    }
    if let Some(n) = &entry.notes {
        check_len("timesheet notes", n, MAX_LONG)?;
    }
    Ok(())
}

/// Whether a stored submission is one [`submit`] could have written for `day` (the write
/// rules check every new one with it).
pub fn validate_submission(day: &str, s: &Submission) -> Result<(), DomainError> {
    util::check_required("submission id", &s.id)?;
    validate_entry(day, &s.entry())?;
    check_time("submitted at", s.submitted_at)?;
    util::check_required("submitted by", &s.submitted_by)
}

fn check_review_note(decision: Decision, note: Option<&str>) -> Result<(), DomainError> {
    match note {
        Some(n) => {
            if decision == Decision::Returned && n.trim().is_empty() {
                return Err(note_required());
            }
            check_len("review note", n, MAX_LONG)
        }
        None if decision == Decision::Returned => Err(note_required()),
        None => Ok(()),
    }
}

fn note_required() -> DomainError {
    DomainError::InvalidValue {
        field: "review note",
        reason: "say what to fix when returning a timesheet".into(),
    }
}

/// Whether a stored review is one [`review`] could have written (the write rules check
/// every new one with it).
pub fn validate_review(r: &Review) -> Result<(), DomainError> {
    util::check_required("review id", &r.id)?;
    util::check_required("submission id", &r.submission_id)?;
    check_review_note(r.decision, r.note.as_deref())?;
    check_time("reviewed at", r.at)?;
    util::check_required("reviewed by", &r.by)
}

/// The member whose timesheets these are.
pub fn owner(doc: &Automerge) -> Option<String> {
    get_text(doc, &ROOT, "owner")
}

fn days_map(doc: &Automerge) -> Result<ObjId, DomainError> {
    get_map(doc, &ROOT, "days").ok_or(DomainError::NotInitialised("a member's timesheets"))
}

/// Claims the document for `by` and creates its `days` map. Idempotent for its owner
/// (commits nothing the second time). Roles: any, for their own timesheets only (the relay
/// creates each member's as them, beside their member document).
pub fn init_timesheets(doc: &mut Automerge, by: &Author, at_ms: i64) -> Result<(), DomainError> {
    match owner(doc) {
        Some(o) if o == by.member_id => Ok(()),
        Some(_) => Err(DomainError::Forbidden {
            role: by.role,
            action: "take over another member's timesheets",
            allowed: "the member whose timesheets these are",
        }),
        None => transact(doc, by, at_ms, |tx| {
            tx.put(ROOT, "owner", by.member_id.as_str())?;
            tx.put_object(ROOT, "days", ObjType::Map)?;
            Ok(())
        }),
    }
}

/// Submits `day`'s timesheet (a first submission or a correction). Returns the submission
/// id. Refused once the current submission is approved: an approved day is what payroll
/// gets, so changing it goes through a coordinator returning it. Roles: the owner.
pub fn submit(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    day: &str,
    entry: TimesheetEntry,
) -> Result<String, DomainError> {
    match owner(doc) {
        None => return Err(DomainError::NotInitialised("a member's timesheets")),
        Some(o) if o != by.member_id => {
            return Err(DomainError::Forbidden {
                role: by.role,
                action: "submit another member's timesheet",
                allowed: "the member whose timesheet it is",
            })
        }
        Some(_) => {}
    }
    validate_entry(day, &entry)?;
    let days = days_map(doc)?;
    if let Some(d) = read_day(doc, day)? {
        if d.status == TimesheetStatus::Approved {
            return Err(DomainError::InvalidTransition {
                what: "timesheet",
                from: d.status.to_string(),
                event: "submit".into(),
                hint: "ask a coordinator to return it first",
            });
        }
    }
    let id = new_record_id();
    let submission = Submission {
        id: id.clone(),
        call: entry.call,
        meal_start: entry.meal_start,
        meal_end: entry.meal_end,
        wrap: entry.wrap,
        notes: entry.notes,
        submitted_at: at_ms,
        submitted_by: by.member_id.clone(),
    };
    transact(doc, by, at_ms, |tx| {
        let day_obj = match get_map(tx, &days, day) {
            Some(o) => o,
            None => {
                let o = tx.put_object(&days, day, ObjType::Map)?;
                tx.put_object(&o, "submissions", ObjType::List)?;
                tx.put_object(&o, "reviews", ObjType::List)?;
                o
            }
        };
        let list = util::require_list(tx, &day_obj, "submissions", "a timesheet day")?;
        let len = tx.length(&list);
        reconcile_insert(tx, list, len, &submission)?;
        Ok(())
    })?;
    Ok(id)
}

/// Approves or returns `day`'s current submission (`submission_id` says which one the
/// coordinator looked at, so a newer one that arrived meanwhile is not decided unseen).
/// Approve: a submitted timesheet. Return (with a note saying what to fix): a submitted or
/// an approved one. Returns the review id. Roles: coordinator.
pub fn review(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    day: &str,
    submission_id: &str,
    decision: Decision,
    note: Option<&str>,
) -> Result<String, DomainError> {
    require_role(by, COORDINATOR, "approve or return a timesheet")?;
    check_day("timesheet day", day)?;
    check_review_note(decision, note)?;
    if owner(doc).is_none() {
        return Err(DomainError::NotInitialised("a member's timesheets"));
    }
    let days = days_map(doc)?;
    let not_submitted = || DomainError::InvalidTransition {
        what: "timesheet",
        from: TimesheetStatus::NotSubmitted.to_string(),
        event: decision.verb().into(),
        hint: "wait for the member to submit it",
    };
    let d = read_day(doc, day)?.ok_or_else(not_submitted)?;
    let current = d.current.as_ref().ok_or_else(not_submitted)?;
    if current.id != submission_id {
        if !d.submissions.iter().any(|s| s.id == submission_id) {
            return Err(DomainError::InvalidValue {
                field: "submission id",
                reason: format!(
                    "there is no submission `{submission_id}` for {day}; it may not have synced yet"
                ),
            });
        }
        return Err(DomainError::InvalidTransition {
            what: "timesheet submission",
            from: "replaced by a newer submission".into(),
            event: decision.verb().into(),
            hint: "review the member's latest submission",
        });
    }
    let allowed = match decision {
        Decision::Approved => d.status == TimesheetStatus::Submitted,
        Decision::Returned => {
            matches!(
                d.status,
                TimesheetStatus::Submitted | TimesheetStatus::Approved
            )
        }
    };
    if !allowed {
        return Err(DomainError::InvalidTransition {
            what: "timesheet",
            from: d.status.to_string(),
            event: decision.verb().into(),
            hint: match d.status {
                TimesheetStatus::Approved => "it is approved already",
                _ => "wait for the member to re-submit it",
            },
        });
    }
    let id = new_record_id();
    let review = Review {
        id: id.clone(),
        submission_id: submission_id.to_owned(),
        decision,
        note: note.map(str::to_owned),
        at: at_ms,
        by: by.member_id.clone(),
    };
    transact(doc, by, at_ms, |tx| {
        let day_obj = util::require_map(tx, &days, day, "the timesheets")?;
        let list = util::require_list(tx, &day_obj, "reviews", "a timesheet day")?;
        let len = tx.length(&list);
        reconcile_insert(tx, list, len, &review)?;
        Ok(())
    })?;
    Ok(id)
}

/// The status of a day from its submissions and reviews (see the module docs).
fn derive(day: &str, stored: StoredDay) -> DayTimesheet {
    let current = stored.submissions.last().cloned();
    let decided_by = current.as_ref().and_then(|c| {
        stored
            .reviews
            .iter()
            .rev()
            .find(|r| r.submission_id == c.id)
            .cloned()
    });
    let status = match (&current, &decided_by) {
        (None, _) => TimesheetStatus::NotSubmitted,
        (Some(_), None) => TimesheetStatus::Submitted,
        (Some(_), Some(r)) => match r.decision {
            Decision::Approved => TimesheetStatus::Approved,
            Decision::Returned => TimesheetStatus::Returned {
                note: r.note.clone().unwrap_or_default(),
            },
        },
    };
    DayTimesheet {
        day: day.to_owned(),
        status,
        current,
        decided_by,
        submissions: stored.submissions,
        reviews: stored.reviews,
    }
}

/// One day, or `None` when nothing was submitted for it. A day that cannot be read is a
/// [`DomainError::Corrupt`] naming the field at fault.
pub fn read_day(doc: &Automerge, day: &str) -> Result<Option<DayTimesheet>, DomainError> {
    check_day("timesheet day", day)?;
    let days = days_map(doc)?;
    if doc.get(&days, day)?.is_none() {
        return Ok(None);
    }
    let stored: StoredDay = util::hydrate_at(doc, &days, day)?;
    Ok(Some(derive(day, stored)))
}

/// Every day, oldest first, and the days that could not be read (by day), each with why.
/// Errs only when the document is not initialised timesheets.
pub fn list(doc: &Automerge) -> Result<Listing<DayTimesheet>, DomainError> {
    let days = days_map(doc)?;
    let mut out = Listing::default();
    // Map keys come sorted, and `YYYY-MM-DD` sorts by date.
    for day in doc.keys(&days) {
        let read = check_day("timesheet day", &day)
            .and_then(|()| util::hydrate_at::<_, StoredDay>(doc, &days, day.as_str()));
        match read {
            Ok(stored) => out.items.push(derive(&day, stored)),
            Err(e) => out.unreadable.push(Unreadable {
                why: util::why(&e),
                id: day,
                what: "timesheet day",
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-24 00:00 UTC.
    const DAY0: i64 = 1_795_478_400_000;

    fn entry(call_h: i64, meal: Option<(i64, i64)>, wrap_h: i64) -> TimesheetEntry {
        TimesheetEntry {
            call: DAY0 + call_h * HOUR_MS,
            meal_start: meal.map(|(s, _)| DAY0 + s * MINUTE_MS),
            meal_end: meal.map(|(_, e)| DAY0 + e * MINUTE_MS),
            wrap: DAY0 + wrap_h * HOUR_MS,
            notes: None,
        }
    }

    #[test]
    fn worked_minutes_subtract_the_meal_and_cross_midnight() {
        assert_eq!(
            worked_minutes(&entry(7, Some((720, 750)), 19)),
            11 * 60 + 30
        );
        assert_eq!(worked_minutes(&entry(16, None, 26)), 10 * 60);
        let silly = TimesheetEntry {
            call: i64::MIN,
            meal_start: Some(i64::MAX),
            meal_end: Some(i64::MIN),
            wrap: i64::MAX,
            notes: None,
        };
        // No overflow, whatever a raw client stored: the span saturates.
        assert_eq!(worked_minutes(&silly), i64::MAX / MINUTE_MS);
    }

    #[test]
    fn entries_are_checked_against_the_day() {
        assert_eq!(day_start_utc_ms("2026-11-24").unwrap(), DAY0);
        assert!(validate_entry("2026-11-24", &entry(7, Some((720, 750)), 19)).is_ok());
        assert!(validate_entry("2026-11-24", &entry(16, None, 40)).is_ok());
        let far = entry(7 + 48, None, 19 + 48);
        assert!(matches!(
            validate_entry("2026-11-24", &far),
            Err(DomainError::OutOfRange { field: "call", .. })
        ));
        assert!(matches!(
            validate_entry("2026-11-24", &entry(7, None, 32)),
            Err(DomainError::OutOfRange { field: "wrap", .. })
        ));
    }
}
