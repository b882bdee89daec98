//! Roles, document kinds and who may read or write what.
//!
//! This table is the single source of the permission rules in PRODUCT.md. The device
//! checks it before making a change (so a user gets a typed error at once) and the
//! relay checks it again on every document read and write (so a modified app cannot
//! bypass it).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A member's role in a production.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Coordinator,
    Office,
    Pa,
    Crew,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Coordinator, Role::Office, Role::Pa, Role::Crew];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Office => "office",
            Role::Pa => "pa",
            Role::Crew => "crew",
        }
    }

    /// Runs and tasks: coordinator, office and PA write; crew has no access.
    pub fn may_write_runs(self) -> bool {
        matches!(self, Role::Coordinator | Role::Office | Role::Pa)
    }
    /// Call sheet drafts: coordinators write; office reads drafts.
    pub fn may_write_call_sheets(self) -> bool {
        self == Role::Coordinator
    }
    pub fn may_read_drafts(self) -> bool {
        matches!(self, Role::Coordinator | Role::Office)
    }
    /// Only coordinators publish a revision.
    pub fn may_publish(self) -> bool {
        self == Role::Coordinator
    }
    /// Production details and members.
    pub fn may_write_production(self) -> bool {
        self == Role::Coordinator
    }
    /// Gear and walkies, and background at holding: the people who run them (coordinator,
    /// office, PA). What each may record there is in the write rules.
    pub fn may_handle_gear_and_background(self) -> bool {
        self.may_write_runs()
    }
    /// Approving or returning a timesheet, and writing or publishing the production report.
    pub fn may_review_wrap_paperwork(self) -> bool {
        self == Role::Coordinator
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "coordinator" => Ok(Role::Coordinator),
            "office" => Ok(Role::Office),
            "pa" => Ok(Role::Pa),
            "crew" => Ok(Role::Crew),
            other => Err(format!(
                "unknown role `{other}` (expected coordinator, office, pa or crew)"
            )),
        }
    }
}

/// What a document holds. The production doc's index maps every other document id to one of these.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DocKind {
    /// Title, days, directory, walkie channels and the index of the other documents.
    Production,
    /// One shoot day's runs and tasks. `day` is an ISO date, `YYYY-MM-DD`.
    Board { day: String },
    /// The coordinators' working copy of a day's call sheet.
    CallSheetDraft { day: String },
    /// Frozen published revisions of a day's call sheet, readable by everyone.
    CallSheetPublished { day: String },
    /// One member's own acknowledgements and availability, written only by them.
    Member { member_id: String },
    /// The production's gear and walkies: the inventory and each item's sign-out log.
    Gear,
    /// One shoot day's background: the roster from the call sheet and check-ins at holding.
    Background { day: String },
    /// One member's timesheets, a day each: submitted by them, approved or returned by a
    /// coordinator.
    Timesheets { member_id: String },
    /// One shoot day's daily production report: the draft and its frozen published revisions.
    ProductionReport { day: String },
    /// A document an outside automerge-repo client created that is not in the index:
    /// shared among the members who may write runs.
    Shared,
}

impl DocKind {
    pub fn may_read(&self, role: Role, member_id: &str) -> bool {
        match self {
            DocKind::Production | DocKind::CallSheetPublished { .. } => true,
            DocKind::Board { .. } | DocKind::Shared => role.may_write_runs(),
            DocKind::CallSheetDraft { .. } => role.may_read_drafts(),
            // Coordinators and the office see acknowledgements; members see their own.
            DocKind::Member { member_id: owner } | DocKind::Timesheets { member_id: owner } => {
                owner == member_id || matches!(role, Role::Coordinator | Role::Office)
            }
            DocKind::Gear | DocKind::Background { .. } => role.may_handle_gear_and_background(),
            DocKind::ProductionReport { .. } => matches!(role, Role::Coordinator | Role::Office),
        }
    }

    pub fn may_write(&self, role: Role, member_id: &str) -> bool {
        match self {
            DocKind::Production => role.may_write_production(),
            DocKind::Board { .. } | DocKind::Shared => role.may_write_runs(),
            DocKind::CallSheetDraft { .. } => role.may_write_call_sheets(),
            DocKind::CallSheetPublished { .. } => role.may_publish(),
            DocKind::Member { member_id: owner } => owner == member_id,
            // The rules keep a coordinator to reviews and the owner to their submissions.
            DocKind::Timesheets { member_id: owner } => {
                owner == member_id || role.may_review_wrap_paperwork()
            }
            DocKind::Gear | DocKind::Background { .. } => role.may_handle_gear_and_background(),
            DocKind::ProductionReport { .. } => role.may_review_wrap_paperwork(),
        }
    }
}

/// Who is making a change: recorded on every status event and in each Automerge
/// commit's message, next to the device clock's time, so history shows who did what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub member_id: String,
    pub device_id: String,
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> String {
        "2026-11-24".into()
    }

    #[test]
    fn the_product_role_table_holds() {
        use Role::*;
        let board = DocKind::Board { day: day() };
        let draft = DocKind::CallSheetDraft { day: day() };
        let published = DocKind::CallSheetPublished { day: day() };
        // runs & tasks
        for r in [Coordinator, Office, Pa] {
            assert!(board.may_write(r, "m") && board.may_read(r, "m"));
        }
        assert!(!board.may_read(Crew, "m") && !board.may_write(Crew, "m"));
        // call sheets
        assert!(draft.may_write(Coordinator, "m") && published.may_write(Coordinator, "m"));
        assert!(draft.may_read(Office, "m") && !draft.may_write(Office, "m"));
        assert!(!published.may_write(Office, "m"));
        for r in [Pa, Crew] {
            assert!(!draft.may_read(r, "m"));
            assert!(published.may_read(r, "m") && !published.may_write(r, "m"));
        }
        // production & members
        assert!(DocKind::Production.may_write(Coordinator, "m"));
        for r in [Office, Pa, Crew] {
            assert!(DocKind::Production.may_read(r, "m") && !DocKind::Production.may_write(r, "m"));
        }
        // own acknowledgements
        let mine = DocKind::Member {
            member_id: "m".into(),
        };
        for r in Role::ALL {
            assert!(mine.may_write(r, "m"));
            assert!(!mine.may_write(r, "other"));
        }
        assert!(mine.may_read(Coordinator, "other") && !mine.may_read(Crew, "other"));
        // gear, walkies and background: the people who run them
        for kind in [DocKind::Gear, DocKind::Background { day: day() }] {
            for r in [Coordinator, Office, Pa] {
                assert!(kind.may_read(r, "m") && kind.may_write(r, "m"));
            }
            assert!(!kind.may_read(Crew, "m") && !kind.may_write(Crew, "m"));
        }
        // timesheets: the member and coordinators write, the office reads
        let sheets = DocKind::Timesheets {
            member_id: "m".into(),
        };
        for r in Role::ALL {
            assert!(sheets.may_write(r, "m") && sheets.may_read(r, "m"));
        }
        assert!(sheets.may_write(Coordinator, "other"));
        assert!(sheets.may_read(Office, "other") && !sheets.may_write(Office, "other"));
        assert!(!sheets.may_read(Pa, "other") && !sheets.may_read(Crew, "other"));
        // the production report: coordinators write and publish, the office reads
        let report = DocKind::ProductionReport { day: day() };
        assert!(report.may_write(Coordinator, "m"));
        assert!(report.may_read(Office, "m") && !report.may_write(Office, "m"));
        for r in [Pa, Crew] {
            assert!(!report.may_read(r, "m") && !report.may_write(r, "m"));
        }
    }

    #[test]
    fn roles_parse_case_insensitively_and_reject_unknowns() {
        assert_eq!("PA".parse::<Role>().unwrap(), Role::Pa);
        assert!("director"
            .parse::<Role>()
            .unwrap_err()
            .contains("unknown role"));
    }
}
