//! The domain model: a production's runs, tasks, call sheets and acknowledgements as pure
//! functions over Automerge documents.
//!
//! Every operation has the shape
//! `fn op(doc: &mut Automerge, by: &Author, at_ms: i64, ...) -> Result<T, DomainError>`:
//! it checks the author's role and the rules first, then makes at most one Automerge commit
//! whose message is `{"member":..,"device":..,"role":..}` and whose time is `at_ms / 1000`.
//! When it returns `Err` the document is untouched (the transaction is rolled back), so a
//! caller can persist "whatever changes appeared" without special cases. An operation whose
//! values equal what is already there commits nothing. Readers take `&Automerge`.
//!
//! No IO and no clocks here: the device passes its clock in as `at_ms`, which is what makes
//! these functions testable on forked documents merged in any order.

pub mod background;
pub mod callsheet;
pub mod callsheet_carry;
pub mod callsheet_diff;
pub mod callsheet_text;
pub mod gear;
mod log_memo;
pub mod member;
pub mod production;
pub mod report;
pub mod run;
pub mod status;
pub mod task;
pub mod timesheet;

pub(crate) mod util;

use automerge::transaction::{CommitOptions, Transaction};
use automerge::Automerge;
use autosurgeon::{Hydrate, Reconcile};
use thiserror::Error;

use crate::access::{Author, Role};

/// Why a domain operation was refused, or why a document could not be read. Nothing was
/// changed when one of these is returned.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    #[error("there is no run `{0}` on this day's board; check the run id or sync the board first")]
    UnknownRun(String),
    #[error(
        "there is no task `{0}` on this day's board; check the task id or sync the board first"
    )]
    UnknownTask(String),
    #[error("there is no background person `{0}` in this day's background; check the id or sync the day first")]
    UnknownBackgroundPerson(String),
    #[error("run `{run}` has no stop `{stop}`; it may have been removed on another device")]
    UnknownStop { run: String, stop: String },
    #[error("run `{run}` has no item or food order `{item}`; it may have been removed on another device")]
    UnknownItem { run: String, item: String },
    #[error("run `{run}` has no receipt `{receipt}`; it may have been removed on another device")]
    UnknownReceipt { run: String, receipt: String },
    #[error("task `{task}` has no checklist entry `{entry}`; it may have been removed on another device")]
    UnknownChecklistEntry { task: String, entry: String },
    #[error("there is no member `{0}` in this production; add them to the production first")]
    UnknownMember(String),
    #[error("there is no gear item `{0}` in the gear list; check the item id or sync the gear list first")]
    UnknownGearItem(String),
    #[error("the call sheet has no {what} `{id}`; it may have been removed on another device")]
    UnknownCallSheetEntry { what: &'static str, id: String },
    #[error("a {role} may not {action}; ask a {allowed}")]
    Forbidden {
        role: Role,
        action: &'static str,
        allowed: &'static str,
    },
    #[error("cannot {event} a {what} that is {from}; {hint}")]
    InvalidTransition {
        what: &'static str,
        from: String,
        event: String,
        hint: &'static str,
    },
    #[error("{field} is out of range: {reason}")]
    OutOfRange { field: &'static str, reason: String },
    #[error("{field} is not valid: {reason}")]
    InvalidValue { field: &'static str, reason: String },
    #[error("{0} already exists in this document; open it instead of creating it again")]
    AlreadyExists(String),
    #[error(
        "this document has not been initialised as {0} yet; create it first or wait for it to sync"
    )]
    NotInitialised(&'static str),
    #[error("no call sheet revision has been published for this day yet")]
    NotPublished,
    #[error("the document does not have the expected shape ({0}); it may come from a newer version of setlink or be damaged")]
    Corrupt(String),
}

impl From<autosurgeon::HydrateError> for DomainError {
    fn from(e: autosurgeon::HydrateError) -> Self {
        DomainError::Corrupt(e.to_string())
    }
}

impl From<autosurgeon::ReconcileError> for DomainError {
    fn from(e: autosurgeon::ReconcileError) -> Self {
        DomainError::Corrupt(e.to_string())
    }
}

impl From<automerge::AutomergeError> for DomainError {
    fn from(e: automerge::AutomergeError) -> Self {
        DomainError::Corrupt(e.to_string())
    }
}

/// A record a reader skipped because it could not read it (PRODUCT.md promise 6: nothing a
/// client sends can make a view fail; what cannot be read is skipped and reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// The record's id (run, task, member, row or revision id), or where it sits when it
    /// has no readable id (`scenes[2]`).
    pub id: String,
    /// What kind of record: `"run"`, `"task"`, `"member"`, `"scene"`, ...
    pub what: &'static str,
    /// Why, naming the field at fault when one is (`field `priority`: unexpected int`).
    pub why: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.what, self.id, self.why)
    }
}

/// What a list reader returns: every record it could read, in the reader's order, and the
/// ones it skipped. A reader returning a `Listing` errs only when the document itself is
/// not what it reads (e.g. a board that has not been initialised).
#[derive(Clone, Debug, PartialEq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub unreadable: Vec<Unreadable>,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Listing {
            items: Vec::new(),
            unreadable: Vec::new(),
        }
    }
}

impl<T> Listing<T> {
    /// Whether every record was read.
    pub fn is_complete(&self) -> bool {
        self.unreadable.is_empty()
    }

    /// The same listing with each readable record converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Listing<U> {
        Listing {
            items: self.items.into_iter().map(f).collect(),
            unreadable: self.unreadable,
        }
    }
}

/// One record read as far as possible: `value` without the parts (rows, sections) that
/// could not be read, which are listed in `unreadable`.
#[derive(Clone, Debug, PartialEq)]
pub struct Partial<T> {
    pub value: T,
    pub unreadable: Vec<Unreadable>,
}

impl<T> Partial<T> {
    pub fn is_complete(&self) -> bool {
        self.unreadable.is_empty()
    }
}

/// Urgency of a run or task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum Priority {
    #[default]
    #[autosurgeon(rename = "normal")]
    Normal,
    #[autosurgeon(rename = "urgent")]
    Urgent,
}

/// Where something happened: a position from the phone and/or a human label ("stage 4 loading dock").
#[derive(Clone, Debug, Default, PartialEq, Reconcile, Hydrate)]
pub struct Location {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub label: Option<String>,
}

impl Location {
    pub fn validate(&self) -> Result<(), DomainError> {
        match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => {
                if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
                    return Err(DomainError::OutOfRange {
                        field: "latitude",
                        reason: format!("{lat} is not between -90 and 90"),
                    });
                }
                if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
                    return Err(DomainError::OutOfRange {
                        field: "longitude",
                        reason: format!("{lon} is not between -180 and 180"),
                    });
                }
            }
            (None, None) => {}
            _ => {
                return Err(DomainError::InvalidValue {
                    field: "location",
                    reason: "give both latitude and longitude, or neither".into(),
                })
            }
        }
        if self.lat.is_none() && self.label.as_deref().is_none_or(|l| l.trim().is_empty()) {
            return Err(DomainError::InvalidValue {
                field: "location",
                reason: "a location needs coordinates or a label".into(),
            });
        }
        if let Some(label) = &self.label {
            util::check_len("location label", label, util::MAX_SHORT)?;
        }
        Ok(())
    }
}

/// The note and place a person attaches to a status event (both optional).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventContext {
    pub note: Option<String>,
    pub location: Option<Location>,
}

impl EventContext {
    pub fn none() -> Self {
        Self::default()
    }
    pub fn note(note: impl Into<String>) -> Self {
        EventContext {
            note: Some(note.into()),
            location: None,
        }
    }
    fn validate(&self) -> Result<(), DomainError> {
        if let Some(n) = &self.note {
            util::check_len("note", n, util::MAX_LONG)?;
        }
        if let Some(l) = &self.location {
            l.validate()?;
        }
        Ok(())
    }
}

/// The commit options every domain operation uses: who (as JSON) and when (device clock).
pub fn commit_options(by: &Author, at_ms: i64) -> CommitOptions {
    let message = serde_json::json!({
        "member": by.member_id,
        "device": by.device_id,
        "role": by.role.as_str(),
    })
    .to_string();
    CommitOptions::default()
        .with_message(message)
        .with_time(at_ms.div_euclid(1000))
}

/// Runs `f` in one transaction committed with [`commit_options`], or rolled back if `f` fails.
pub(crate) fn transact<T>(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<T, DomainError>,
) -> Result<T, DomainError> {
    util::check_time("time", at_ms)?;
    if by.member_id.trim().is_empty() || by.device_id.trim().is_empty() {
        return Err(DomainError::InvalidValue {
            field: "author",
            reason: "the author needs a member id and a device id".into(),
        });
    }
    doc.transact_with(|_| commit_options(by, at_ms), f)
        .map(|s| s.result)
        .map_err(|f| f.error)
}

/// Refuses unless `by` has one of `allowed` roles.
pub(crate) fn require_role(
    by: &Author,
    allowed: &[Role],
    action: &'static str,
) -> Result<(), DomainError> {
    if allowed.contains(&by.role) {
        return Ok(());
    }
    let allowed = match allowed {
        [Role::Coordinator] => "coordinator",
        [Role::Coordinator, Role::Office] => "coordinator or the office",
        [Role::Coordinator, Role::Office, Role::Pa] => "coordinator, the office or a PA",
        _ => "member with the right role",
    };
    Err(DomainError::Forbidden {
        role: by.role,
        action,
        allowed,
    })
}

/// Roles that write runs and tasks (PRODUCT.md: coordinator, office, pa).
pub(crate) const RUN_WRITERS: &[Role] = &[Role::Coordinator, Role::Office, Role::Pa];
/// Roles that plan work: create tasks, cancel and reopen, reconcile money, sign off.
pub(crate) const PLANNERS: &[Role] = &[Role::Coordinator, Role::Office];
pub(crate) const COORDINATOR: &[Role] = &[Role::Coordinator];

#[cfg(test)]
mod tests {
    use super::*;

    fn author(role: Role) -> Author {
        Author {
            member_id: "m".into(),
            device_id: "d".into(),
            role,
        }
    }

    #[test]
    fn commit_options_carry_author_json_and_seconds() {
        let o = commit_options(&author(Role::Pa), 1_795_507_200_999);
        assert_eq!(o.time, Some(1_795_507_200));
        let msg: serde_json::Value =
            serde_json::from_str(o.message.as_deref().unwrap_or("")).unwrap();
        assert_eq!(
            msg,
            serde_json::json!({"member": "m", "device": "d", "role": "pa"})
        );
    }

    #[test]
    fn a_refused_transaction_commits_nothing() {
        let mut doc = Automerge::new();
        let r: Result<(), DomainError> =
            transact(&mut doc, &author(Role::Pa), 1_795_507_200_000, |tx| {
                use automerge::transaction::Transactable;
                tx.put(automerge::ROOT, "x", 1)?;
                Err(DomainError::NotPublished)
            });
        assert_eq!(r, Err(DomainError::NotPublished));
        assert!(doc.get_heads().is_empty());
        let blank = Author {
            member_id: " ".into(),
            ..author(Role::Pa)
        };
        let r = transact(&mut doc, &blank, 1_795_507_200_000, |_| Ok(()));
        assert!(matches!(
            r,
            Err(DomainError::InvalidValue {
                field: "author",
                ..
            })
        ));
    }

    #[test]
    fn forbidden_says_who_may() {
        let e = require_role(&author(Role::Crew), RUN_WRITERS, "create a run").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a crew may not create a run; ask a coordinator, the office or a PA"
        );
        assert!(require_role(&author(Role::Office), PLANNERS, "x").is_ok());
        let e =
            require_role(&author(Role::Office), COORDINATOR, "publish a call sheet").unwrap_err();
        assert!(e.to_string().ends_with("ask a coordinator"), "{e}");
    }

    #[test]
    fn locations_need_both_coordinates_or_a_label() {
        let ok = Location {
            lat: Some(34.0),
            lon: Some(-118.0),
            label: None,
        };
        assert!(ok.validate().is_ok());
        let label_only = Location {
            label: Some("Stage 4".into()),
            ..Default::default()
        };
        assert!(label_only.validate().is_ok());
        assert!(Location::default().validate().is_err());
        let nan = Location {
            lat: Some(f64::NAN),
            lon: Some(0.0),
            label: None,
        };
        assert!(matches!(
            nan.validate(),
            Err(DomainError::OutOfRange {
                field: "latitude",
                ..
            })
        ));
        let lon = Location {
            lat: Some(0.0),
            lon: Some(181.0),
            label: None,
        };
        assert!(matches!(
            lon.validate(),
            Err(DomainError::OutOfRange {
                field: "longitude",
                ..
            })
        ));
    }
}
