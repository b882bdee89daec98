//! Records and enums of the surface, mirroring core's types. Conversions live here so
//! core never sees a uniffi type.

use setlink_core::access::{Author, DocKind};
use setlink_core::device::ChangeOrigin as CoreOrigin;
use setlink_core::Role as CoreRole;

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    Coordinator,
    Office,
    Pa,
    Crew,
}

impl From<CoreRole> for Role {
    fn from(r: CoreRole) -> Self {
        match r {
            CoreRole::Coordinator => Role::Coordinator,
            CoreRole::Office => Role::Office,
            CoreRole::Pa => Role::Pa,
            CoreRole::Crew => Role::Crew,
        }
    }
}

impl From<Role> for CoreRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Coordinator => CoreRole::Coordinator,
            Role::Office => CoreRole::Office,
            Role::Pa => CoreRole::Pa,
            Role::Crew => CoreRole::Crew,
        }
    }
}

/// What a document holds (see ARCHITECTURE.md's document partition).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum DocumentKind {
    Production,
    Board { day: String },
    CallSheetDraft { day: String },
    CallSheetPublished { day: String },
    Member { member_id: String },
    Gear,
    Background { day: String },
    Timesheets { member_id: String },
    ProductionReport { day: String },
    Shared,
}

impl From<DocKind> for DocumentKind {
    fn from(k: DocKind) -> Self {
        match k {
            DocKind::Production => DocumentKind::Production,
            DocKind::Board { day } => DocumentKind::Board { day },
            DocKind::CallSheetDraft { day } => DocumentKind::CallSheetDraft { day },
            DocKind::CallSheetPublished { day } => DocumentKind::CallSheetPublished { day },
            DocKind::Member { member_id } => DocumentKind::Member { member_id },
            DocKind::Gear => DocumentKind::Gear,
            DocKind::Background { day } => DocumentKind::Background { day },
            DocKind::Timesheets { member_id } => DocumentKind::Timesheets { member_id },
            DocKind::ProductionReport { day } => DocumentKind::ProductionReport { day },
            DocKind::Shared => DocumentKind::Shared,
        }
    }
}

impl From<DocumentKind> for DocKind {
    fn from(k: DocumentKind) -> Self {
        match k {
            DocumentKind::Production => DocKind::Production,
            DocumentKind::Board { day } => DocKind::Board { day },
            DocumentKind::CallSheetDraft { day } => DocKind::CallSheetDraft { day },
            DocumentKind::CallSheetPublished { day } => DocKind::CallSheetPublished { day },
            DocumentKind::Member { member_id } => DocKind::Member { member_id },
            DocumentKind::Gear => DocKind::Gear,
            DocumentKind::Background { day } => DocKind::Background { day },
            DocumentKind::Timesheets { member_id } => DocKind::Timesheets { member_id },
            DocumentKind::ProductionReport { day } => DocKind::ProductionReport { day },
            DocumentKind::Shared => DocKind::Shared,
        }
    }
}

pub(crate) fn kind_name(k: &DocKind) -> &'static str {
    match k {
        DocKind::Production => "production",
        DocKind::Board { .. } => "board",
        DocKind::CallSheetDraft { .. } => "call sheet draft",
        DocKind::CallSheetPublished { .. } => "published call sheet",
        DocKind::Member { .. } => "member",
        DocKind::Gear => "gear and walkies",
        DocKind::Background { .. } => "background",
        DocKind::Timesheets { .. } => "timesheets",
        DocKind::ProductionReport { .. } => "production report",
        DocKind::Shared => "shared",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChangeOrigin {
    /// Made on this device.
    Local,
    /// Arrived from a peer (the relay or another phone).
    Remote,
}

impl From<CoreOrigin> for ChangeOrigin {
    fn from(o: CoreOrigin) -> Self {
        match o {
            CoreOrigin::Local => ChangeOrigin::Local,
            CoreOrigin::Remote => ChangeOrigin::Remote,
        }
    }
}

/// Who uses this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Identity {
    pub member_id: String,
    pub device_id: String,
    pub role: Role,
}

impl From<Author> for Identity {
    fn from(a: Author) -> Self {
        Identity {
            member_id: a.member_id,
            device_id: a.device_id,
            role: a.role.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DocumentInfo {
    pub id: String,
    pub kind: DocumentKind,
}

/// A record a reader left out because it could not read it (written by a newer or broken
/// client); everything else was read. Readers that list records return these beside them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UnreadableRecord {
    /// Its id (run, task, member, row or revision id), or where it sits (`scenes[2]`).
    pub id: String,
    /// What it is: `run`, `task`, `member`, `scene`, `call sheet revision`,
    /// `acknowledgement`, ...
    pub what: String,
    /// Why, naming the field at fault when one is.
    pub reason: String,
}

impl From<setlink_core::model::Unreadable> for UnreadableRecord {
    fn from(u: setlink_core::model::Unreadable) -> Self {
        UnreadableRecord {
            id: u.id,
            what: u.what.to_owned(),
            reason: u.why,
        }
    }
}

pub(crate) fn unreadable(list: Vec<setlink_core::model::Unreadable>) -> Vec<UnreadableRecord> {
    list.into_iter().map(Into::into).collect()
}
