//! Gear and walkies on the phone: the production's gear document
//! (`setlink_core::model::gear`), its inventory and each item's sign-out log, as
//! `SetlinkStore` methods. Every call works offline; two PAs signing the same walkie out
//! offline end, once synced, with the same holder on both phones and the other sign-out
//! listed in `conflicts`.

use setlink_core::model::gear as core;
use setlink_core::model::status::LoggedEvent;
use setlink_core::DocKind;

use crate::error::SetlinkError;
use crate::runs::StatusConflict;
use crate::store::SetlinkStore;
use crate::types::{unreadable, Role, UnreadableRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum GearCategory {
    Walkie,
    Camera,
    Grip,
    Electric,
    Sound,
    Props,
    Wardrobe,
    Vehicle,
    Other,
}
mirror_enum!(
    GearCategory,
    core::GearCategory,
    [Walkie, Camera, Grip, Electric, Sound, Props, Wardrobe, Vehicle, Other]
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Battery {
    Full,
    Half,
    Low,
    Dead,
}
mirror_enum!(Battery, core::Battery, [Full, Half, Low, Dead]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum GearEventKind {
    Created,
    SignedOut,
    Returned,
    ReturnedToOwner,
    Lost,
    Found,
    Damaged,
    Repaired,
}
mirror_enum!(
    GearEventKind,
    core::GearEventKind,
    [
        Created,
        SignedOut,
        Returned,
        ReturnedToOwner,
        Lost,
        Found,
        Damaged,
        Repaired
    ]
);

/// One entry of an item's sign-out log.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GearEventEntry {
    pub id: String,
    pub kind: GearEventKind,
    pub at_ms: i64,
    pub member: String,
    pub role: Option<Role>,
    pub note: Option<String>,
    /// Who it was signed out to.
    pub assignee: Option<String>,
    /// What the damage is.
    pub reason: Option<String>,
}

impl From<LoggedEvent<core::GearEventKind>> for GearEventEntry {
    fn from(e: LoggedEvent<core::GearEventKind>) -> Self {
        GearEventEntry {
            id: e.id,
            kind: e.kind.into(),
            at_ms: e.at_ms,
            member: e.member,
            role: e.role.map(Into::into),
            note: e.note,
            assignee: e.assignee,
            reason: e.reason,
        }
    }
}

/// An inventory item as the app shows it: its fields and what its log says now.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GearItem {
    pub id: String,
    pub name: String,
    pub category: GearCategory,
    pub label: Option<String>,
    /// The rental house or lender; `None` for the production's own.
    pub owner: Option<String>,
    /// `YYYY-MM-DD` the item must go back to its owner.
    pub due_back: Option<String>,
    pub condition: Option<String>,
    pub channel: Option<i64>,
    pub battery: Option<Battery>,
    /// Who has it now (a member id, or a name for someone outside setlink).
    pub holder: Option<String>,
    pub out_since_ms: Option<i64>,
    pub lost: bool,
    pub damaged: bool,
    pub damage: Option<String>,
    /// Back with its rental house or lender.
    pub with_owner: bool,
    pub events: Vec<GearEventEntry>,
    /// Concurrent events that lost (a second sign-out of the same walkie), kept visible.
    pub conflicts: Vec<StatusConflict>,
}

impl From<core::GearItem> for GearItem {
    fn from(i: core::GearItem) -> Self {
        let r = i.record;
        GearItem {
            id: r.id,
            name: r.name,
            category: r.category.into(),
            label: r.label,
            owner: r.owner,
            due_back: r.due_back,
            condition: r.condition,
            channel: r.channel,
            battery: r.battery.map(Into::into),
            holder: i.holder,
            out_since_ms: i.out_since,
            lost: i.lost,
            damaged: i.damaged,
            damage: i.damage,
            with_owner: i.with_owner,
            events: i.events.into_iter().map(Into::into).collect(),
            conflicts: i.conflicts.into_iter().map(Into::into).collect(),
        }
    }
}

/// The items a reader could read, and the ones it left out (with why).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GearList {
    pub items: Vec<GearItem>,
    pub unreadable: Vec<UnreadableRecord>,
}

/// A new inventory item.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GearItemInput {
    pub name: String,
    pub category: GearCategory,
    #[uniffi(default = None)]
    pub label: Option<String>,
    #[uniffi(default = None)]
    pub owner: Option<String>,
    #[uniffi(default = None)]
    pub due_back: Option<String>,
    #[uniffi(default = None)]
    pub condition: Option<String>,
    #[uniffi(default = None)]
    pub channel: Option<i64>,
    #[uniffi(default = None)]
    pub battery: Option<Battery>,
}

impl From<GearItemInput> for core::NewGearItem {
    fn from(i: GearItemInput) -> Self {
        core::NewGearItem {
            name: i.name,
            category: i.category.into(),
            label: i.label,
            owner: i.owner,
            due_back: i.due_back,
            condition: i.condition,
            channel: i.channel,
            battery: i.battery.map(Into::into),
        }
    }
}

/// What is still out at wrap, counted ("3 walkies", "1 C-stand"), and that as one line.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GearWrapCheck {
    pub still_out: Vec<GearCount>,
    /// "3 walkies, 1 C-stand", or that everything is back.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GearCount {
    pub what: String,
    pub count: u32,
}

impl SetlinkStore {
    /// The production's gear document: made by the relay with the production, so it is
    /// here once the phone has synced the production's index.
    fn gear_doc(&self) -> Result<String, SetlinkError> {
        self.find_doc(&DocKind::Gear)?
            .map(|id| id.to_string())
            .ok_or_else(|| SetlinkError::NotFound {
                what: "gear and walkies document".into(),
                id: "(not synced yet: connect once, or ask the office to open the gear page)"
                    .into(),
            })
    }

    fn gear_items(&self) -> Result<setlink_core::model::Listing<core::GearItem>, SetlinkError> {
        self.read(&self.gear_doc()?, core::list_items)
    }

    fn gear_list(
        &self,
        keep: impl Fn(&[core::GearItem]) -> Vec<&core::GearItem>,
    ) -> Result<GearList, SetlinkError> {
        let listing = self.gear_items()?;
        let items = keep(&listing.items)
            .into_iter()
            .cloned()
            .map(Into::into)
            .collect();
        Ok(GearList {
            items,
            unreadable: unreadable(listing.unreadable),
        })
    }

    fn gear_event(
        &self,
        op: impl FnOnce(
            &mut automerge::Automerge,
            &setlink_core::Author,
            i64,
        ) -> Result<String, setlink_core::model::DomainError>,
    ) -> Result<String, SetlinkError> {
        self.apply(&self.gear_doc()?, op)
    }
}

#[uniffi::export]
impl SetlinkStore {
    /// Every inventory item, with who has it, and the items that could not be read.
    pub fn list_gear(&self) -> Result<GearList, SetlinkError> {
        self.gear_list(|items| items.iter().collect())
    }

    /// What this device's member has signed out to them now.
    pub fn my_gear(&self) -> Result<GearList, SetlinkError> {
        let me = self.member_id()?;
        self.gear_list(|items| core::held_by(items, &me))
    }

    /// Borrowed or rented items due back to their owner before `today` (`YYYY-MM-DD`, the
    /// production's today) and not back with them yet.
    pub fn overdue_gear(&self, today: String) -> Result<GearList, SetlinkError> {
        crate::runs::check_day(&today)?;
        self.gear_list(|items| core::overdue(items, &today))
    }

    /// What is still signed out, for the wrap check.
    pub fn gear_wrap_check(&self) -> Result<GearWrapCheck, SetlinkError> {
        let listing = self.gear_items()?;
        let summary = core::still_out_summary(&listing.items);
        Ok(GearWrapCheck {
            summary: core::format_still_out(&summary),
            still_out: summary
                .into_iter()
                .map(|(what, count)| GearCount {
                    what,
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                })
                .collect(),
        })
    }

    /// Adds an item to the inventory. Coordinator or office. Returns its id.
    pub fn add_gear_item(&self, item: GearItemInput) -> Result<String, SetlinkError> {
        let item = item.into();
        self.apply(&self.gear_doc()?, |doc, by, at| {
            core::add_item(doc, by, at, item)
        })
    }

    /// Sets an item's condition notes and, for a walkie, its channel and battery (`None`
    /// clears). Anyone who handles gear.
    pub fn set_gear_condition(
        &self,
        item_id: String,
        condition: Option<String>,
        channel: Option<i64>,
        battery: Option<Battery>,
    ) -> Result<(), SetlinkError> {
        let edit = core::GearEdit {
            condition: Some(condition),
            channel: Some(channel),
            battery: Some(battery.map(Into::into)),
            ..Default::default()
        };
        self.apply(&self.gear_doc()?, |doc, by, at| {
            core::edit_item(doc, by, at, &item_id, edit)
        })
    }

    /// Signs an item out to `to` (a member id, or the name of someone outside setlink).
    /// Returns the event id.
    pub fn sign_out_gear(
        &self,
        item_id: String,
        to: String,
        note: Option<String>,
    ) -> Result<String, SetlinkError> {
        self.gear_event(|doc, by, at| core::sign_out(doc, by, at, &item_id, &to, note.as_deref()))
    }

    /// Records that a signed-out item came back. Returns the event id.
    pub fn return_gear(
        &self,
        item_id: String,
        note: Option<String>,
    ) -> Result<String, SetlinkError> {
        self.gear_event(|doc, by, at| core::return_item(doc, by, at, &item_id, note.as_deref()))
    }

    /// Records that a borrowed or rented item went back to its owner. Returns the event id.
    pub fn gear_returned_to_owner(
        &self,
        item_id: String,
        note: Option<String>,
    ) -> Result<String, SetlinkError> {
        self.gear_event(|doc, by, at| {
            core::returned_to_owner(doc, by, at, &item_id, note.as_deref())
        })
    }

    /// Reports an item missing. Returns the event id.
    pub fn report_gear_lost(
        &self,
        item_id: String,
        note: Option<String>,
    ) -> Result<String, SetlinkError> {
        self.gear_event(|doc, by, at| core::report_lost(doc, by, at, &item_id, note.as_deref()))
    }

    /// Reports damage (`damage` says what). Returns the event id.
    pub fn report_gear_damaged(
        &self,
        item_id: String,
        damage: String,
        note: Option<String>,
    ) -> Result<String, SetlinkError> {
        self.gear_event(|doc, by, at| {
            core::report_damaged(doc, by, at, &item_id, &damage, note.as_deref())
        })
    }
}
