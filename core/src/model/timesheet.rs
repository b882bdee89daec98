//! A member's timesheets: one document per member, a day each, submitted by the member
//! (offline if need be, from any of their devices) and approved or returned by a
//! coordinator.
//!
//! Layout (every container made once, by [`init_timesheets`], when the relay creates the
//! document beside the member's own; nothing after that ever creates an object):
//! - `owner`: the member id (like a member document's), set once
//! - `submissions`: map submission id (a UUID) -> the submission as one JSON string
//!   `{ day, call, meal_start?, meal_end?, wrap, notes?, submitted_at, submitted_by }`,
//!   times as ms since 1970 (so a wrap after midnight is simply later than the call, with
//!   no date arithmetic)
//! - `reviews`: map review id (a UUID) -> the review as one JSON string
//!   `{ day, submission_id, decision: approved | returned, note?, at, by }`, the note
//!   required when returned
//!
//! Why this shape: an earlier layout kept `days/<day>/{submissions, reviews}`, the day's
//! map and lists made by the first submission of that day. When one member submitted the
//! same day first on two devices offline (phone and tablet), both made `days/<day>`;
//! Automerge keeps one of two concurrently created objects at a key, so the other device's
//! submission vanished, and the write rules refused that device's change on the relay for
//! good. Here a new entry is only ever a new key (a fresh UUID) in a map that already
//! exists on every replica, so concurrent submissions and reviews from anywhere all
//! survive a merge, whatever its order.
//!
//! Why one JSON string per entry (as status events are, in [`super::status`]) rather than a
//! map of fields: an entry is never edited, so it needs no Automerge structure of its own;
//! one string is one op, written and merged whole, so no merge can mix the fields of two
//! writes, and the write rules check a new entry by reading one value instead of policing
//! every field edit under it.
//!
//! Status of a day, derived from the entries naming it; a pure function of the set of
//! entries, so the same on every replica whatever order they merged in:
//! - the day's submissions in order of (`submitted_at`, id); the current one is the last
//! - only reviews naming the current submission count; the deciding one is the last of
//!   them by (`at`, id)
//!
//! So a member re-submitting while a coordinator approves the older submission leaves the
//! new one waiting, on every device, instead of approving times nobody looked at. The times
//! are device clocks: so that a submission (or review) made after seeing another also
//! sorts after it even on a device whose clock is behind, [`submit`] and [`review`] date a
//! new entry at least 1 ms after the entry it supersedes.
//!
//! An entry that cannot be read (not a JSON string, a field missing or of the wrong type,
//! a day that is not a date) is skipped by the readers; [`list`] reports it and still
//! lists every day. The write rules refuse such entries, so only a damaged or forged
//! document has one.
//!
//! Roles: the owner submits (any role, their own document only); coordinators review.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ScalarValueRef, ValueRef, ROOT};
use serde::Serialize;
use serde_json::{Map as JsonMap, Value as Json};

use super::util::{self, check_day, check_len, check_time, get_map, get_text, MAX_LONG};
use super::{require_role, transact, DomainError, Listing, Unreadable, COORDINATOR};
use crate::access::Author;
use crate::ids::new_record_id;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
/// The longest working day a timesheet may claim, call to wrap.
pub const MAX_DAY_MS: i64 = 24 * HOUR_MS;

/// The root map of submissions, by id.
pub const SUBMISSIONS: &str = "submissions";
/// The root map of reviews, by id.
pub const REVIEWS: &str = "reviews";

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

/// One submission as stored (its id is its key in `submissions`, its day is stored with
/// it). Never edited: a correction is a new submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    pub id: String,
    pub call: i64,
    pub meal_start: Option<i64>,
    pub meal_end: Option<i64>,
    pub wrap: i64,
    pub notes: Option<String>,
    pub submitted_at: i64,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    Approved,
    /// Sent back to the member with a note saying what to fix.
    Returned,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Returned => "returned",
        }
    }

    /// The stored spelling back (`approved`, `returned`).
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "approved" => Some(Decision::Approved),
            "returned" => Some(Decision::Returned),
            _ => None,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Decision::Approved => "approve",
            Decision::Returned => "return",
        }
    }
}

/// One review as stored (its id is its key in `reviews`, its day is stored with it).
/// Never edited: changing one's mind is a new review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    pub id: String,
    pub submission_id: String,
    pub decision: Decision,
    pub note: Option<String>,
    pub at: i64,
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
    /// The submission the status is about: the last one by (`submitted_at`, id).
    pub current: Option<Submission>,
    /// The review that decided the status (of the current submission), if any.
    pub decided_by: Option<Review>,
    /// Every submission of the day, by (`submitted_at`, id).
    pub submissions: Vec<Submission>,
    /// Every review of the day (of any of its submissions), by (`at`, id).
    pub reviews: Vec<Review>,
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

fn entries_map<R: ReadDoc>(doc: &R, key: &str) -> Result<ObjId, DomainError> {
    get_map(doc, &ROOT, key).ok_or(DomainError::NotInitialised("a member's timesheets"))
}

// ---------------------------------------------------------------------------------------
// Entries as stored: one JSON string each.

#[derive(Serialize)]
struct StoredSubmission<'a> {
    day: &'a str,
    call: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    meal_start: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meal_end: Option<i64>,
    wrap: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<&'a str>,
    submitted_at: i64,
    submitted_by: &'a str,
}

#[derive(Serialize)]
struct StoredReview<'a> {
    day: &'a str,
    submission_id: &'a str,
    decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    at: i64,
    by: &'a str,
}

fn to_json(value: &impl Serialize) -> Result<String, DomainError> {
    serde_json::to_string(value).map_err(|e| DomainError::Corrupt(e.to_string()))
}

/// The string a submission is stored as (its id is its key, not part of it).
fn encode_submission(day: &str, s: &Submission) -> Result<String, DomainError> {
    to_json(&StoredSubmission {
        day,
        call: s.call,
        meal_start: s.meal_start,
        meal_end: s.meal_end,
        wrap: s.wrap,
        notes: s.notes.as_deref(),
        submitted_at: s.submitted_at,
        submitted_by: &s.submitted_by,
    })
}

/// The string a review is stored as (its id is its key, not part of it).
fn encode_review(day: &str, r: &Review) -> Result<String, DomainError> {
    to_json(&StoredReview {
        day,
        submission_id: &r.submission_id,
        decision: r.decision.as_str(),
        note: r.note.as_deref(),
        at: r.at,
        by: &r.by,
    })
}

/// An entry's fields, each read naming the field when it is missing or of the wrong type.
struct Fields(JsonMap<String, Json>);

impl Fields {
    fn of(value: &ValueRef<'_>) -> Result<Self, DomainError> {
        let ValueRef::Scalar(ScalarValueRef::Str(s)) = value else {
            return Err(DomainError::Corrupt(
                "the entry is not a JSON string".into(),
            ));
        };
        match serde_json::from_str::<Json>(s) {
            Ok(Json::Object(m)) => Ok(Fields(m)),
            Ok(_) => Err(DomainError::Corrupt(
                "the entry is not a JSON object".into(),
            )),
            Err(e) => Err(DomainError::Corrupt(format!("the entry is not JSON: {e}"))),
        }
    }

    fn bad(field: &str, want: &str) -> DomainError {
        DomainError::Corrupt(format!("field `{field}`: expected {want}"))
    }

    fn opt_int(&self, field: &str) -> Result<Option<i64>, DomainError> {
        match self.0.get(field) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| Self::bad(field, "an integer")),
        }
    }

    fn int(&self, field: &str) -> Result<i64, DomainError> {
        self.opt_int(field)?
            .ok_or_else(|| Self::bad(field, "an integer"))
    }

    fn opt_text(&self, field: &str) -> Result<Option<String>, DomainError> {
        match self.0.get(field) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Self::bad(field, "text")),
        }
    }

    fn text(&self, field: &str) -> Result<String, DomainError> {
        self.opt_text(field)?
            .ok_or_else(|| Self::bad(field, "text"))
    }

    /// The day the entry is about: a date, since entries are grouped and listed by it.
    fn day(&self) -> Result<String, DomainError> {
        let day = self.text("day")?;
        check_day("day", &day).map_err(|e| DomainError::Corrupt(format!("field `day`: {e}")))?;
        Ok(day)
    }
}

/// Reads the submission stored under `id` as `value`: its day and the submission. The
/// error names the field at fault. (The write rules read every new one with this.)
pub(crate) fn parse_submission(
    id: &str,
    value: &ValueRef<'_>,
) -> Result<(String, Submission), DomainError> {
    let f = Fields::of(value)?;
    Ok((
        f.day()?,
        Submission {
            id: id.to_owned(),
            call: f.int("call")?,
            meal_start: f.opt_int("meal_start")?,
            meal_end: f.opt_int("meal_end")?,
            wrap: f.int("wrap")?,
            notes: f.opt_text("notes")?,
            submitted_at: f.int("submitted_at")?,
            submitted_by: f.text("submitted_by")?,
        },
    ))
}

/// Reads the review stored under `id` as `value`: its day and the review. The error names
/// the field at fault. (The write rules read every new one with this.)
pub(crate) fn parse_review(
    id: &str,
    value: &ValueRef<'_>,
) -> Result<(String, Review), DomainError> {
    let f = Fields::of(value)?;
    let decision = f.text("decision")?;
    Ok((
        f.day()?,
        Review {
            id: id.to_owned(),
            submission_id: f.text("submission_id")?,
            decision: Decision::parse(&decision).ok_or_else(|| {
                DomainError::Corrupt(format!(
                    "field `decision`: `{decision}` is neither approved nor returned"
                ))
            })?,
            note: f.opt_text("note")?,
            at: f.int("at")?,
            by: f.text("by")?,
        },
    ))
}

/// Every readable entry of the document, by day, and the entries that could not be read.
#[derive(Default)]
struct Entries {
    days: BTreeMap<String, (Vec<Submission>, Vec<Review>)>,
    unreadable: Vec<Unreadable>,
}

fn read_entries<R: ReadDoc>(doc: &R, only_day: Option<&str>) -> Result<Entries, DomainError> {
    let submissions = entries_map(doc, SUBMISSIONS)?;
    let reviews = entries_map(doc, REVIEWS)?;
    let mut out = Entries::default();
    let wanted = |day: &str| only_day.is_none_or(|d| d == day);
    for item in doc.map_range(&submissions, ..) {
        match parse_submission(&item.key, &item.value) {
            Ok((day, s)) if wanted(&day) => out.days.entry(day).or_default().0.push(s),
            Ok(_) => {}
            Err(e) => out.unreadable.push(Unreadable {
                id: item.key.to_string(),
                what: "timesheet submission",
                why: util::why(&e),
            }),
        }
    }
    for item in doc.map_range(&reviews, ..) {
        match parse_review(&item.key, &item.value) {
            Ok((day, r)) if wanted(&day) => out.days.entry(day).or_default().1.push(r),
            Ok(_) => {}
            Err(e) => out.unreadable.push(Unreadable {
                id: item.key.to_string(),
                what: "timesheet review",
                why: util::why(&e),
            }),
        }
    }
    Ok(out)
}

/// The status of a day from its submissions and reviews (see the module docs): sorts
/// both, so the result does not depend on the order they were read or merged in.
fn derive(day: &str, mut submissions: Vec<Submission>, mut reviews: Vec<Review>) -> DayTimesheet {
    submissions.sort_by(|a, b| (a.submitted_at, &a.id).cmp(&(b.submitted_at, &b.id)));
    reviews.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    let current = submissions.last().cloned();
    let decided_by = current.as_ref().and_then(|c| {
        reviews
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
        submissions,
        reviews,
    }
}

// ---------------------------------------------------------------------------------------
// Operations and readers.

/// Claims the document for `by` and creates its `submissions` and `reviews` maps: the
/// only containers it ever has (see the module docs). Idempotent for its owner (commits
/// nothing the second time). Roles: any, for their own timesheets only (the relay creates
/// each member's as them, beside their member document, before any device has it).
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
            tx.put_object(ROOT, SUBMISSIONS, ObjType::Map)?;
            tx.put_object(ROOT, REVIEWS, ObjType::Map)?;
            Ok(())
        }),
    }
}

/// Submits `day`'s timesheet (a first submission or a correction): one new key in
/// `submissions`. Returns the submission id. Refused once the current submission is
/// approved: an approved day is what payroll gets, so changing it goes through a
/// coordinator returning it. Dated `at_ms`, or 1 ms after the day's current submission if
/// this device's clock is behind it, so a correction always becomes current.
/// Roles: the owner.
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
    let submissions = entries_map(doc, SUBMISSIONS)?;
    let mut submitted_at = at_ms;
    if let Some(d) = read_day(doc, day)? {
        if d.status == TimesheetStatus::Approved {
            return Err(DomainError::InvalidTransition {
                what: "timesheet",
                from: d.status.to_string(),
                event: "submit".into(),
                hint: "ask a coordinator to return it first",
            });
        }
        if let Some(c) = &d.current {
            submitted_at = submitted_at.max(c.submitted_at.saturating_add(1));
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
        submitted_at,
        submitted_by: by.member_id.clone(),
    };
    // What the write rules will check, so the relay never refuses what this wrote.
    validate_submission(day, &submission)?;
    let json = encode_submission(day, &submission)?;
    transact(doc, by, at_ms, |tx| {
        tx.put(&submissions, id.as_str(), json)?;
        Ok(())
    })?;
    Ok(id)
}

/// Approves or returns `day`'s current submission (`submission_id` says which one the
/// coordinator looked at, so a newer one that arrived meanwhile is not decided unseen):
/// one new key in `reviews`. Approve: a submitted timesheet. Return (with a note saying
/// what to fix): a submitted or an approved one. Dated `at_ms`, or 1 ms after the review
/// it overrides if this device's clock is behind it. Returns the review id.
/// Roles: coordinator.
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
    let reviews = entries_map(doc, REVIEWS)?;
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
    let reviewed_at = match &d.decided_by {
        Some(r) => at_ms.max(r.at.saturating_add(1)),
        None => at_ms,
    };
    let id = new_record_id();
    let review = Review {
        id: id.clone(),
        submission_id: submission_id.to_owned(),
        decision,
        note: note.map(str::to_owned),
        at: reviewed_at,
        by: by.member_id.clone(),
    };
    validate_review(&review)?;
    let json = encode_review(day, &review)?;
    transact(doc, by, at_ms, |tx| {
        tx.put(&reviews, id.as_str(), json)?;
        Ok(())
    })?;
    Ok(id)
}

/// One day, or `None` when nothing was submitted for it. Entries that cannot be read are
/// skipped ([`list`] reports them). Errs for a day that is not a date, or when the document
/// is not initialised timesheets.
pub fn read_day(doc: &Automerge, day: &str) -> Result<Option<DayTimesheet>, DomainError> {
    check_day("timesheet day", day)?;
    let mut entries = read_entries(doc, Some(day))?;
    Ok(entries
        .days
        .remove(day)
        .map(|(submissions, reviews)| derive(day, submissions, reviews)))
}

/// Every day with an entry, oldest first, and the entries that could not be read (by
/// their id, as a `timesheet submission` or `timesheet review`), each with why; an
/// unreadable entry never hides a day. Errs only when the document is not initialised
/// timesheets.
pub fn list(doc: &Automerge) -> Result<Listing<DayTimesheet>, DomainError> {
    let entries = read_entries(doc, None)?;
    // `YYYY-MM-DD` sorts by date.
    Ok(Listing {
        items: entries
            .days
            .into_iter()
            .map(|(day, (submissions, reviews))| derive(&day, submissions, reviews))
            .collect(),
        unreadable: entries.unreadable,
    })
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
