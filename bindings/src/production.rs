//! The production document: details, members, and the index of days (boards and call
//! sheets). Phones read it; coordinators write it.

use setlink_core::model::production as core;
use setlink_core::{DocKind, DocumentId};

use crate::error::SetlinkError;
use crate::store::{parse_doc_id, SetlinkStore};
use crate::types::Role;

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyContact {
    pub name: String,
    pub title: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WalkieChannel {
    pub channel: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DirectoryLocation {
    pub id: String,
    pub name: String,
    pub address: String,
    pub parking: Option<String>,
    pub notes: Option<String>,
    #[uniffi(default = None)]
    pub basecamp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ProductionInfo {
    pub title: String,
    pub company: String,
    /// IANA zone name, e.g. `America/Los_Angeles`.
    pub timezone: String,
    /// Shoot days in order (`YYYY-MM-DD`).
    pub shoot_days: Vec<String>,
    pub departments: Vec<String>,
    pub key_contacts: Vec<KeyContact>,
    pub walkie_channels: Vec<WalkieChannel>,
    pub locations: Vec<DirectoryLocation>,
    /// The hospital every new call sheet names (the dashboard's settings page sets it).
    #[uniffi(default = None)]
    pub nearest_hospital: Option<crate::callsheet::Hospital>,
}

impl From<core::WalkieChannel> for WalkieChannel {
    fn from(w: core::WalkieChannel) -> Self {
        WalkieChannel {
            channel: w.channel,
            name: w.name,
        }
    }
}

impl From<WalkieChannel> for core::WalkieChannel {
    fn from(w: WalkieChannel) -> Self {
        core::WalkieChannel {
            channel: w.channel,
            name: w.name,
        }
    }
}

impl From<core::ProductionInfo> for ProductionInfo {
    fn from(p: core::ProductionInfo) -> Self {
        ProductionInfo {
            title: p.title,
            company: p.company,
            timezone: p.timezone,
            shoot_days: p.shoot_days,
            departments: p.departments,
            key_contacts: p
                .key_contacts
                .into_iter()
                .map(|k| KeyContact {
                    name: k.name,
                    title: k.title,
                    phone: k.phone,
                    email: k.email,
                })
                .collect(),
            walkie_channels: p.walkie_channels.into_iter().map(Into::into).collect(),
            locations: p
                .locations
                .into_iter()
                .map(|l| DirectoryLocation {
                    id: l.id,
                    name: l.name,
                    address: l.address,
                    parking: l.parking,
                    notes: l.notes,
                    basecamp: l.basecamp,
                })
                .collect(),
            nearest_hospital: p.nearest_hospital.map(Into::into),
        }
    }
}

impl From<ProductionInfo> for core::ProductionInfo {
    fn from(p: ProductionInfo) -> Self {
        core::ProductionInfo {
            title: p.title,
            company: p.company,
            timezone: p.timezone,
            shoot_days: p.shoot_days,
            departments: p.departments,
            key_contacts: p
                .key_contacts
                .into_iter()
                .map(|k| core::KeyContact {
                    name: k.name,
                    title: k.title,
                    phone: k.phone,
                    email: k.email,
                })
                .collect(),
            walkie_channels: p.walkie_channels.into_iter().map(Into::into).collect(),
            locations: p
                .locations
                .into_iter()
                .map(|l| core::LocationEntry {
                    // A new entry gets an id here, so apps need not mint record ids.
                    id: if l.id.trim().is_empty() {
                        setlink_core::ids::new_record_id()
                    } else {
                        l.id
                    },
                    name: l.name,
                    address: l.address,
                    parking: l.parking,
                    notes: l.notes,
                    basecamp: l.basecamp,
                })
                .collect(),
            nearest_hospital: p.nearest_hospital.map(Into::into),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MemberInfo {
    pub name: String,
    pub role: Role,
    #[uniffi(default = None)]
    pub department: Option<String>,
    #[uniffi(default = None)]
    pub phone: Option<String>,
    #[uniffi(default = None)]
    pub email: Option<String>,
}

impl From<core::MemberInfo> for MemberInfo {
    fn from(m: core::MemberInfo) -> Self {
        MemberInfo {
            name: m.name,
            role: m.role.into(),
            department: m.department,
            phone: m.phone,
            email: m.email,
        }
    }
}

impl From<MemberInfo> for core::MemberInfo {
    fn from(m: MemberInfo) -> Self {
        core::MemberInfo {
            name: m.name,
            role: m.role.into(),
            department: m.department,
            phone: m.phone,
            email: m.email,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Member {
    pub id: String,
    pub info: MemberInfo,
}

/// The members a reader could read, and the ones it left out (with why).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MemberList {
    pub members: Vec<Member>,
    pub unreadable: Vec<crate::types::UnreadableRecord>,
}

/// One shoot day's documents, as far as this member may see them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ProductionDay {
    pub day: String,
    pub board_id: Option<String>,
    pub call_sheet_draft_id: Option<String>,
    pub call_sheet_published_id: Option<String>,
}

impl SetlinkStore {
    /// The production document on this device (a device serves one production).
    pub(crate) fn production_doc(&self) -> Result<DocumentId, SetlinkError> {
        self.with(|d| {
            let mut prods: Vec<DocumentId> = d
                .document_ids()
                .into_iter()
                .filter(|id| d.kind_of(id) == Some(&DocKind::Production))
                .collect();
            prods.sort();
            prods.into_iter().next().ok_or(SetlinkError::NotFound {
                what: "production".into(),
                id: "(none on this device: redeem an invite or create one)".into(),
            })
        })
    }

    fn index(&self) -> Result<Vec<(DocumentId, DocKind)>, SetlinkError> {
        let prod = self.production_doc()?.to_string();
        self.read(&prod, core::read_index)
    }

    /// The document of `kind` in the production index, or on the device.
    pub(crate) fn find_doc(&self, kind: &DocKind) -> Result<Option<DocumentId>, SetlinkError> {
        let in_index = self
            .index()
            .ok()
            .and_then(|ix| ix.into_iter().find(|(_, k)| k == kind).map(|(id, _)| id));
        if in_index.is_some() {
            return Ok(in_index);
        }
        self.with(|d| {
            let mut ids: Vec<DocumentId> = d
                .document_ids()
                .into_iter()
                .filter(|id| d.kind_of(id) == Some(kind))
                .collect();
            ids.sort();
            Ok(ids.into_iter().next())
        })
    }

    /// Records a new document in the production index when this member may write it
    /// (coordinators); otherwise the document stays local until a coordinator indexes it.
    pub(crate) fn register(&self, id: &DocumentId, kind: &DocKind) -> Result<(), SetlinkError> {
        let Ok(prod) = self.production_doc() else {
            return Ok(());
        };
        let may = self.with(|d| {
            Ok(d.identity()
                .is_some_and(|a| DocKind::Production.may_write(a.role, &a.member_id)))
        })?;
        if may {
            let (id, kind) = (*id, kind.clone());
            self.apply(&prod.to_string(), |doc, by, at| {
                core::register_document(doc, by, at, &id, &kind)
            })?;
        }
        Ok(())
    }
}

#[uniffi::export]
impl SetlinkStore {
    /// Creates a production (this device's member becomes its first coordinator) and
    /// returns the production document's id.
    pub fn create_production(
        &self,
        info: ProductionInfo,
        creator: MemberInfo,
    ) -> Result<String, SetlinkError> {
        let id = self.with(|d| {
            let me = d.identity().ok_or(SetlinkError::NoIdentity)?;
            if me.role != setlink_core::Role::Coordinator {
                return Err(SetlinkError::Forbidden {
                    role: me.role.to_string(),
                    action: "create a production (ask a coordinator)".into(),
                });
            }
            Ok(d.create_document(DocKind::Production)?)
        })?;
        let (info, creator) = (info.into(), creator.into());
        self.apply(&id.to_string(), |doc, by, at| {
            core::init_production(doc, by, at, &id, info, creator)
        })?;
        Ok(id.to_string())
    }

    /// The production document's id on this device.
    pub fn production_id(&self) -> Result<String, SetlinkError> {
        Ok(self.production_doc()?.to_string())
    }

    pub fn production_info(&self) -> Result<ProductionInfo, SetlinkError> {
        let prod = self.production_doc()?.to_string();
        Ok(self.read(&prod, core::read_production)?.info.into())
    }

    pub fn update_production(&self, info: ProductionInfo) -> Result<(), SetlinkError> {
        let prod = self.production_doc()?.to_string();
        let info = info.into();
        self.apply(&prod, |doc, by, at| {
            core::update_production(doc, by, at, info)
        })
    }

    /// The production's members, and the ones that could not be read (with why).
    pub fn members(&self) -> Result<MemberList, SetlinkError> {
        let prod = self.production_doc()?.to_string();
        let l = self.read(&prod, core::read_members)?;
        Ok(MemberList {
            members: l
                .items
                .into_iter()
                .map(|m| Member {
                    id: m.id,
                    info: m.info.into(),
                })
                .collect(),
            unreadable: crate::types::unreadable(l.unreadable),
        })
    }

    pub fn add_member(&self, member_id: String, info: MemberInfo) -> Result<(), SetlinkError> {
        let prod = self.production_doc()?.to_string();
        let info = info.into();
        self.apply(&prod, |doc, by, at| {
            core::add_member(doc, by, at, &member_id, info)
        })
    }

    pub fn update_member(&self, member_id: String, info: MemberInfo) -> Result<(), SetlinkError> {
        let prod = self.production_doc()?.to_string();
        let info = info.into();
        self.apply(&prod, |doc, by, at| {
            core::update_member(doc, by, at, &member_id, info)
        })
    }

    pub fn remove_member(&self, member_id: String) -> Result<(), SetlinkError> {
        let prod = self.production_doc()?.to_string();
        self.apply(&prod, |doc, by, at| {
            core::remove_member(doc, by, at, &member_id)
        })
    }

    /// The shoot days in the production index with the documents this member may read,
    /// sorted by day.
    pub fn production_days(&self) -> Result<Vec<ProductionDay>, SetlinkError> {
        let (role, me) = self.with(|d| {
            let a = d.identity().ok_or(SetlinkError::NoIdentity)?;
            Ok((a.role, a.member_id.clone()))
        })?;
        let mut days: std::collections::BTreeMap<String, ProductionDay> = Default::default();
        for (id, kind) in self.index()? {
            if !kind.may_read(role, &me) {
                continue;
            }
            let (day, slot): (&str, fn(&mut ProductionDay) -> &mut Option<String>) = match &kind {
                DocKind::Board { day } => (day, |d| &mut d.board_id),
                DocKind::CallSheetDraft { day } => (day, |d| &mut d.call_sheet_draft_id),
                DocKind::CallSheetPublished { day } => (day, |d| &mut d.call_sheet_published_id),
                _ => continue,
            };
            let entry = days.entry(day.to_owned()).or_insert_with(|| ProductionDay {
                day: day.to_owned(),
                board_id: None,
                call_sheet_draft_id: None,
                call_sheet_published_id: None,
            });
            *slot(entry) = Some(id.to_string());
        }
        Ok(days.into_values().collect())
    }

    /// Records a document this device learned about elsewhere (a QR code, another
    /// phone) so it syncs. Returns whether it was new.
    pub fn import_document(
        &self,
        doc_id: String,
        kind: crate::types::DocumentKind,
    ) -> Result<bool, SetlinkError> {
        let id = parse_doc_id(&doc_id)?;
        self.with(|d| Ok(d.import_document(id, kind.into())?))
    }
}
