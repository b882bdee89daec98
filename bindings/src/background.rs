//! Background at holding on the phone: a shoot day's background document
//! (`setlink_core::model::background`) as `SetlinkStore` methods. The groups the day
//! expects are the latest published call sheet's background rows; people are added by name
//! as they arrive, checked in, their vouchers signed and released, all offline.

use setlink_core::model::background as core;
use setlink_core::model::callsheet;
use setlink_core::DocKind;

use crate::error::SetlinkError;
use crate::runs::{check_day, StatusConflict};
use crate::store::SetlinkStore;
use crate::types::{unreadable, UnreadableRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum BackgroundStatus {
    NotIn,
    CheckedIn,
    VoucherSigned,
    Released,
}
mirror_enum!(
    BackgroundStatus,
    core::BackgroundStatus,
    [NotIn, CheckedIn, VoucherSigned, Released]
);

/// One background performer as the app shows them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BackgroundPerson {
    pub id: String,
    pub name: String,
    /// The call sheet's background row they belong to, and its description.
    pub group_id: String,
    pub group: String,
    pub wardrobe: Option<String>,
    pub status: BackgroundStatus,
    pub checked_in_at_ms: Option<i64>,
    pub checked_in_by: Option<String>,
    pub voucher_signed_at_ms: Option<i64>,
    pub released_at_ms: Option<i64>,
    pub conflicts: Vec<StatusConflict>,
}

impl From<core::BackgroundPerson> for BackgroundPerson {
    fn from(p: core::BackgroundPerson) -> Self {
        BackgroundPerson {
            id: p.record.id,
            name: p.record.name,
            group_id: p.record.group_id,
            group: p.record.group,
            wardrobe: p.record.wardrobe,
            status: p.status.into(),
            checked_in_at_ms: p.checked_in_at,
            checked_in_by: p.checked_in_by,
            voucher_signed_at_ms: p.voucher_signed_at,
            released_at_ms: p.released_at,
            conflicts: p.conflicts.into_iter().map(Into::into).collect(),
        }
    }
}

/// A call sheet background row with how many are in and released.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BackgroundCount {
    pub group_id: String,
    pub description: String,
    /// The call sheet's count (0 for a group no longer on the sheet).
    pub expected: i64,
    pub checked_in: u32,
    pub released: u32,
}

/// A day at holding: the people, the counts against the sheet, and what could not be read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BackgroundDay {
    pub people: Vec<BackgroundPerson>,
    pub counts: Vec<BackgroundCount>,
    pub unreadable: Vec<UnreadableRecord>,
}

impl SetlinkStore {
    /// The day's background document: the relay makes it when the day's call sheet is
    /// published.
    fn background_doc(&self, day: &str) -> Result<String, SetlinkError> {
        check_day(day)?;
        self.find_doc(&DocKind::Background {
            day: day.to_owned(),
        })?
        .map(|id| id.to_string())
        .ok_or_else(|| SetlinkError::NotFound {
            what: "background list".into(),
            id: format!("{day} (not synced yet, or no call sheet published for the day)"),
        })
    }

    /// The latest published revision's background rows, or none when nothing is published
    /// (or synced) for the day yet.
    fn sheet_background_rows(&self, day: &str) -> Vec<callsheet::Background> {
        let Ok(Some(id)) = self.find_doc(&DocKind::CallSheetPublished {
            day: day.to_owned(),
        }) else {
            return Vec::new();
        };
        self.read(&id.to_string(), |doc| {
            Ok(callsheet::latest_revision_partial(doc).map(|r| r.value.sheet.background))
        })
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
    }
}

#[uniffi::export]
impl SetlinkStore {
    /// Everyone on the day's background list, and the counts against the call sheet.
    pub fn background_day(&self, day: String) -> Result<BackgroundDay, SetlinkError> {
        let doc = self.background_doc(&day)?;
        let listing = self.read(&doc, core::list_people)?;
        let rows = self.sheet_background_rows(&day);
        let counts = core::tally(&listing.items, &rows)
            .into_iter()
            .map(|t| BackgroundCount {
                group_id: t.group_id,
                description: t.description,
                expected: t.expected,
                checked_in: t.checked_in,
                released: t.released,
            })
            .collect();
        Ok(BackgroundDay {
            people: listing.items.into_iter().map(Into::into).collect(),
            counts,
            unreadable: unreadable(listing.unreadable),
        })
    }

    /// Adds someone to the day's list under a call sheet background row (`group_id`, as in
    /// [`BackgroundCount`]). Returns their id.
    pub fn add_background_person(
        &self,
        day: String,
        name: String,
        group_id: String,
        wardrobe: Option<String>,
    ) -> Result<String, SetlinkError> {
        let doc = self.background_doc(&day)?;
        let group = self
            .sheet_background_rows(&day)
            .into_iter()
            .find(|r| r.id == group_id)
            .map(|r| r.description)
            .ok_or_else(|| SetlinkError::NotFound {
                what: "background row on the published call sheet".into(),
                id: group_id.clone(),
            })?;
        let new = core::NewBackgroundPerson {
            name,
            group_id,
            group,
            wardrobe,
        };
        self.apply(&doc, |d, by, at| core::add_person(d, by, at, new))
    }

    /// Checks someone in at holding (now, by this member). Returns the event id.
    pub fn check_in_background(
        &self,
        day: String,
        person_id: String,
    ) -> Result<String, SetlinkError> {
        let doc = self.background_doc(&day)?;
        self.apply(&doc, |d, by, at| core::check_in(d, by, at, &person_id))
    }

    /// Records that someone's voucher was signed. Returns the event id.
    pub fn sign_background_voucher(
        &self,
        day: String,
        person_id: String,
    ) -> Result<String, SetlinkError> {
        let doc = self.background_doc(&day)?;
        self.apply(&doc, |d, by, at| core::sign_voucher(d, by, at, &person_id))
    }

    /// Releases someone for the day. Returns the event id.
    pub fn release_background(
        &self,
        day: String,
        person_id: String,
    ) -> Result<String, SetlinkError> {
        let doc = self.background_doc(&day)?;
        self.apply(&doc, |d, by, at| core::release(d, by, at, &person_id))
    }

    /// Sets someone's wardrobe notes (`None` clears them).
    pub fn set_background_wardrobe(
        &self,
        day: String,
        person_id: String,
        wardrobe: Option<String>,
    ) -> Result<(), SetlinkError> {
        let doc = self.background_doc(&day)?;
        self.apply(&doc, |d, by, at| {
            core::set_wardrobe(d, by, at, &person_id, wardrobe.as_deref())
        })
    }
}
