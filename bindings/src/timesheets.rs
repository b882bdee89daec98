//! Timesheets on the phone: the member's own timesheets document
//! (`setlink_core::model::timesheet`), a day each, submitted offline and approved or
//! returned by a coordinator (on the dashboard, or here on a coordinator's phone).

use setlink_core::model::timesheet as core;
use setlink_core::DocKind;

use crate::error::SetlinkError;
use crate::runs::check_day;
use crate::store::SetlinkStore;
use crate::types::{unreadable, UnreadableRecord};

/// What a member fills in for a day: instants in ms since 1970 (a wrap after midnight is
/// just later than the call).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TimesheetInput {
    pub call_ms: i64,
    #[uniffi(default = None)]
    pub meal_start_ms: Option<i64>,
    #[uniffi(default = None)]
    pub meal_end_ms: Option<i64>,
    pub wrap_ms: i64,
    #[uniffi(default = None)]
    pub notes: Option<String>,
}

impl From<TimesheetInput> for core::TimesheetEntry {
    fn from(t: TimesheetInput) -> Self {
        core::TimesheetEntry {
            call: t.call_ms,
            meal_start: t.meal_start_ms,
            meal_end: t.meal_end_ms,
            wrap: t.wrap_ms,
            notes: t.notes,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TimesheetStatus {
    NotSubmitted,
    /// Waiting for a coordinator.
    Submitted,
    Approved,
    /// Sent back: `review_note` says what to fix.
    Returned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TimesheetDecision {
    Approved,
    Returned,
}
mirror_enum!(TimesheetDecision, core::Decision, [Approved, Returned]);

/// A day's timesheet as the member (or a coordinator) sees it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Timesheet {
    pub day: String,
    pub status: TimesheetStatus,
    /// The submission the status is about (the latest).
    pub submission_id: Option<String>,
    pub entry: Option<TimesheetInput>,
    pub worked_minutes: Option<i64>,
    pub submitted_at_ms: Option<i64>,
    /// The coordinator's note on a return (or an approval).
    pub review_note: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at_ms: Option<i64>,
    /// How many times this day was submitted.
    pub submissions: u32,
}

impl From<core::DayTimesheet> for Timesheet {
    fn from(t: core::DayTimesheet) -> Self {
        let status = match &t.status {
            core::TimesheetStatus::NotSubmitted => TimesheetStatus::NotSubmitted,
            core::TimesheetStatus::Submitted => TimesheetStatus::Submitted,
            core::TimesheetStatus::Approved => TimesheetStatus::Approved,
            core::TimesheetStatus::Returned { .. } => TimesheetStatus::Returned,
        };
        let entry = t.current.as_ref().map(core::Submission::entry);
        Timesheet {
            day: t.day,
            status,
            submission_id: t.current.as_ref().map(|s| s.id.clone()),
            worked_minutes: entry.as_ref().map(core::worked_minutes),
            entry: entry.map(|e| TimesheetInput {
                call_ms: e.call,
                meal_start_ms: e.meal_start,
                meal_end_ms: e.meal_end,
                wrap_ms: e.wrap,
                notes: e.notes,
            }),
            submitted_at_ms: t.current.as_ref().map(|s| s.submitted_at),
            review_note: t.decided_by.as_ref().and_then(|r| r.note.clone()),
            reviewed_by: t.decided_by.as_ref().map(|r| r.by.clone()),
            reviewed_at_ms: t.decided_by.as_ref().map(|r| r.at),
            submissions: u32::try_from(t.submissions.len()).unwrap_or(u32::MAX),
        }
    }
}

/// Every day of a member's timesheets, and the days that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TimesheetList {
    pub days: Vec<Timesheet>,
    pub unreadable: Vec<UnreadableRecord>,
}

impl SetlinkStore {
    /// `member`'s timesheets document: the relay makes it with their member document.
    fn timesheets_doc(&self, member: &str) -> Result<String, SetlinkError> {
        self.find_doc(&DocKind::Timesheets {
            member_id: member.to_owned(),
        })?
        .map(|id| id.to_string())
        .ok_or_else(|| SetlinkError::NotFound {
            what: "timesheets document".into(),
            id: format!("{member} (not synced yet: connect once)"),
        })
    }
}

#[uniffi::export]
impl SetlinkStore {
    /// Submits this member's timesheet for `day` (again, to correct a returned one).
    /// Works offline. Returns the submission id.
    pub fn submit_timesheet(
        &self,
        day: String,
        timesheet: TimesheetInput,
    ) -> Result<String, SetlinkError> {
        check_day(&day)?;
        let doc = self.timesheets_doc(&self.member_id()?)?;
        let entry = timesheet.into();
        self.apply(&doc, |d, by, at| core::submit(d, by, at, &day, entry))
    }

    /// This member's timesheet for `day`: `NotSubmitted` when there is none yet.
    pub fn my_timesheet(&self, day: String) -> Result<Timesheet, SetlinkError> {
        self.timesheet_of(self.member_id()?, day)
    }

    /// A member's timesheet for `day` (their own, or any for coordinators and the office).
    pub fn timesheet_of(&self, member_id: String, day: String) -> Result<Timesheet, SetlinkError> {
        check_day(&day)?;
        let doc = self.timesheets_doc(&member_id)?;
        let found = self.read(&doc, |d| core::read_day(d, &day))?;
        Ok(found.map(Into::into).unwrap_or(Timesheet {
            day,
            status: TimesheetStatus::NotSubmitted,
            submission_id: None,
            entry: None,
            worked_minutes: None,
            submitted_at_ms: None,
            review_note: None,
            reviewed_by: None,
            reviewed_at_ms: None,
            submissions: 0,
        }))
    }

    /// Every day of this member's timesheets.
    pub fn my_timesheets(&self) -> Result<TimesheetList, SetlinkError> {
        let doc = self.timesheets_doc(&self.member_id()?)?;
        let l = self.read(&doc, core::list)?;
        Ok(TimesheetList {
            days: l.items.into_iter().map(Into::into).collect(),
            unreadable: unreadable(l.unreadable),
        })
    }

    /// Approves or returns (with a note saying what to fix) a member's current submission
    /// for `day`. Coordinators. Returns the review id.
    pub fn review_timesheet(
        &self,
        member_id: String,
        day: String,
        submission_id: String,
        decision: TimesheetDecision,
        note: Option<String>,
    ) -> Result<String, SetlinkError> {
        check_day(&day)?;
        let doc = self.timesheets_doc(&member_id)?;
        self.apply(&doc, |d, by, at| {
            core::review(
                d,
                by,
                at,
                &day,
                &submission_id,
                decision.into(),
                note.as_deref(),
            )
        })
    }
}
