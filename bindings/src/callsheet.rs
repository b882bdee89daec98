//! Call sheets: the coordinators' draft, published revisions, each member's own call
//! time on the latest revision, and acknowledgements (received, opened, confirmed).

use setlink_core::model::callsheet as core;
use setlink_core::model::member;
use setlink_core::DocKind;

use crate::error::SetlinkError;
use crate::production::WalkieChannel;
use crate::runs::check_day;
use crate::store::SetlinkStore;
use crate::types::{unreadable, UnreadableRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Colour {
    White,
    Blue,
    Pink,
    Yellow,
    Green,
    Goldenrod,
    Buff,
    Salmon,
    Cherry,
}
mirror_enum!(
    Colour,
    core::Colour,
    [White, Blue, Pink, Yellow, Green, Goldenrod, Buff, Salmon, Cherry]
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TempUnit {
    Fahrenheit,
    Celsius,
}
mirror_enum!(TempUnit, core::TempUnit, [Fahrenheit, Celsius]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum IntExt {
    Int,
    Ext,
    IntExt,
}
mirror_enum!(IntExt, core::IntExt, [Int, Ext, IntExt]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DayNight {
    Day,
    Night,
    Dawn,
    Dusk,
}
mirror_enum!(DayNight, core::DayNight, [Day, Night, Dawn, Dusk]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CallSource {
    Personal,
    Department,
    General,
}
mirror_enum!(
    CallSource,
    core::CallSource,
    [Personal, Department, General]
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AckLevel {
    Received,
    Opened,
    Confirmed,
}
mirror_enum!(AckLevel, member::AckLevel, [Received, Opened, Confirmed]);

/// A crew call: a time (minutes after midnight of the shoot day) or an offset from
/// general call (moving general call moves every offset row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CallSpec {
    At { minutes: i64 },
    Offset { minutes: i64 },
}

impl From<core::CallSpec> for CallSpec {
    fn from(c: core::CallSpec) -> Self {
        match c {
            core::CallSpec::At(m) => CallSpec::At { minutes: m },
            core::CallSpec::Offset(m) => CallSpec::Offset { minutes: m },
        }
    }
}

impl From<CallSpec> for core::CallSpec {
    fn from(c: CallSpec) -> Self {
        match c {
            CallSpec::At { minutes } => core::CallSpec::At(minutes),
            CallSpec::Offset { minutes } => core::CallSpec::Offset(minutes),
        }
    }
}

/// Copies between a core record and its mirror, field by field (same names), both ways.
macro_rules! mirror_record {
    ($ours:ident, $theirs:path, { $($f:ident),* $(,)? } $(, conv { $($c:ident),* })? $(, list { $($l:ident),* })?) => {
        impl From<$theirs> for $ours {
            fn from(x: $theirs) -> Self {
                $ours {
                    $($f: x.$f,)*
                    $($($c: x.$c.into(),)*)?
                    $($($l: x.$l.into_iter().map(Into::into).collect(),)*)?
                }
            }
        }
        impl From<$ours> for $theirs {
            fn from(x: $ours) -> Self {
                #[allow(clippy::needless_update)]
                $theirs {
                    $($f: x.$f,)*
                    $($($c: x.$c.into(),)*)?
                    $($($l: x.$l.into_iter().map(Into::into).collect(),)*)?
                }
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Header {
    pub production_title: String,
    pub date: String,
    pub day_number: Option<i64>,
    pub total_days: Option<i64>,
    pub call_sheet_number: Option<i64>,
    pub director: Option<String>,
    pub producers: Vec<String>,
    pub upm: Option<String>,
    pub ads: Vec<String>,
    pub production_office_phone: Option<String>,
}
mirror_record!(Header, core::Header, {
    production_title, date, day_number, total_days, call_sheet_number, director, producers,
    upm, ads, production_office_phone
});

/// Times are minutes after midnight of the shoot day (may pass 24:00).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Meal {
    pub label: String,
    pub at: i64,
}
mirror_record!(Meal, core::Meal, { label, at });

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Times {
    pub general_call: Option<i64>,
    pub shooting_call: Option<i64>,
    pub meals: Vec<Meal>,
    pub estimated_wrap: Option<i64>,
}
mirror_record!(Times, core::Times, { general_call, shooting_call, estimated_wrap }, list { meals });

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Weather {
    pub high: Option<i64>,
    pub low: Option<i64>,
    pub unit: TempUnit,
    pub conditions: Option<String>,
    pub rain_chance_percent: Option<i64>,
    pub sunrise: Option<i64>,
    pub sunset: Option<i64>,
    pub weather_cover_set: Option<String>,
}
mirror_record!(Weather, core::Weather, {
    high, low, conditions, rain_chance_percent, sunrise, sunset, weather_cover_set
}, conv { unit });

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SheetLocation {
    pub id: String,
    pub name: String,
    pub address: String,
    pub parking: Option<String>,
    pub basecamp: Option<String>,
    pub notes: Option<String>,
}
mirror_record!(SheetLocation, core::SheetLocation, { id, name, address, parking, basecamp, notes });

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Hospital {
    pub name: String,
    pub address: String,
    pub phone: String,
}
mirror_record!(Hospital, core::Hospital, { name, address, phone });

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Scene {
    pub id: String,
    pub number: String,
    pub int_ext: IntExt,
    pub set: String,
    pub day_night: DayNight,
    pub description: String,
    pub cast_numbers: Vec<String>,
    pub pages_eighths: i64,
    pub location: Option<String>,
}
mirror_record!(Scene, core::Scene, {
    id, number, set, description, cast_numbers, pages_eighths, location
}, conv { int_ext, day_night });

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CastCall {
    pub id: String,
    pub number: String,
    pub character: String,
    pub actor: String,
    pub status: Option<String>,
    pub pickup: Option<i64>,
    pub hair_makeup: Option<i64>,
    pub on_set: Option<i64>,
    pub notes: Option<String>,
}
mirror_record!(CastCall, core::CastCall, {
    id, number, character, actor, status, pickup, hair_makeup, on_set, notes
});

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Background {
    pub id: String,
    pub count: i64,
    pub description: String,
    pub report_time: Option<i64>,
    pub report_place: Option<String>,
    pub notes: Option<String>,
}
mirror_record!(Background, core::Background, {
    id, count, description, report_time, report_place, notes
});

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CrewCall {
    pub id: String,
    pub department: String,
    pub position: Option<String>,
    pub name: Option<String>,
    pub member_id: Option<String>,
    pub call: CallSpec,
}
mirror_record!(CrewCall, core::CrewCall, { id, department, position, name, member_id }, conv { call });

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DepartmentNote {
    pub department: String,
    pub note: String,
}
mirror_record!(DepartmentNote, core::DepartmentNote, { department, note });

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AdvanceDay {
    pub date: String,
    pub summary: String,
    pub scenes: Vec<String>,
}
mirror_record!(AdvanceDay, core::AdvanceDay, { date, summary, scenes });

/// Every section of a call sheet.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CallSheet {
    pub header: Header,
    pub times: Times,
    pub weather: Weather,
    pub locations: Vec<SheetLocation>,
    pub nearest_hospital: Option<Hospital>,
    pub scenes: Vec<Scene>,
    pub cast: Vec<CastCall>,
    pub background: Vec<Background>,
    pub crew_calls: Vec<CrewCall>,
    pub department_notes: Vec<DepartmentNote>,
    pub advance_schedule: Vec<AdvanceDay>,
    pub walkie_channels: Vec<WalkieChannel>,
    pub safety_notes: Vec<String>,
}

impl From<core::CallSheet> for CallSheet {
    fn from(s: core::CallSheet) -> Self {
        fn v<A, B: From<A>>(x: Vec<A>) -> Vec<B> {
            x.into_iter().map(Into::into).collect()
        }
        CallSheet {
            header: s.header.into(),
            times: s.times.into(),
            weather: s.weather.into(),
            locations: v(s.locations),
            nearest_hospital: s.nearest_hospital.map(Into::into),
            scenes: v(s.scenes),
            cast: v(s.cast),
            background: v(s.background),
            crew_calls: v(s.crew_calls),
            department_notes: v(s.department_notes),
            advance_schedule: v(s.advance_schedule),
            walkie_channels: v(s.walkie_channels),
            safety_notes: s.safety_notes,
        }
    }
}

impl From<CallSheet> for core::CallSheet {
    fn from(s: CallSheet) -> Self {
        fn v<A, B: From<A>>(x: Vec<A>) -> Vec<B> {
            x.into_iter().map(Into::into).collect()
        }
        core::CallSheet {
            header: s.header.into(),
            times: s.times.into(),
            weather: s.weather.into(),
            locations: v(s.locations),
            nearest_hospital: s.nearest_hospital.map(Into::into),
            scenes: v(s.scenes),
            cast: v(s.cast),
            background: v(s.background),
            crew_calls: v(s.crew_calls),
            department_notes: v(s.department_notes),
            advance_schedule: v(s.advance_schedule),
            walkie_channels: v(s.walkie_channels),
            safety_notes: s.safety_notes,
        }
    }
}

/// A day's draft as far as it could be read: rows and sections that could not be read are
/// left out of `sheet` and listed in `unreadable`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DraftSheet {
    pub sheet: CallSheet,
    pub unreadable: Vec<UnreadableRecord>,
}

/// A day's published revisions that could be read, oldest first, and what was left out:
/// revisions that could not be read at all, and rows or sections of readable ones (their
/// reason names the revision).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RevisionList {
    pub revisions: Vec<Revision>,
    pub unreadable: Vec<UnreadableRecord>,
}

/// One published revision, frozen.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Revision {
    pub id: String,
    pub number: i64,
    pub colour: Colour,
    pub published_at_ms: i64,
    pub published_by: String,
    pub summary: String,
    pub sheet: CallSheet,
}

impl From<core::Revision> for Revision {
    fn from(r: core::Revision) -> Self {
        Revision {
            id: r.id,
            number: r.number,
            colour: r.colour.into(),
            published_at_ms: r.published_at,
            published_by: r.published_by,
            summary: r.summary,
            sheet: r.sheet.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CrewCallInput {
    pub department: String,
    #[uniffi(default = None)]
    pub position: Option<String>,
    #[uniffi(default = None)]
    pub name: Option<String>,
    #[uniffi(default = None)]
    pub member_id: Option<String>,
    pub call: CallSpec,
}

impl From<CrewCallInput> for core::CrewCallInput {
    fn from(c: CrewCallInput) -> Self {
        core::CrewCallInput {
            department: c.department,
            position: c.position,
            name: c.name,
            member_id: c.member_id,
            call: c.call.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Acknowledgement {
    pub day: String,
    pub revision: i64,
    pub received_at_ms: Option<i64>,
    pub opened_at_ms: Option<i64>,
    pub confirmed_at_ms: Option<i64>,
}

/// This member's acknowledgements, and the entries of their document that could not be
/// read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AcknowledgementList {
    pub acknowledgements: Vec<Acknowledgement>,
    pub unreadable: Vec<UnreadableRecord>,
}

impl From<member::Ack> for Acknowledgement {
    fn from(a: member::Ack) -> Self {
        Acknowledgement {
            day: a.day,
            revision: a.revision,
            received_at_ms: a.received_at,
            opened_at_ms: a.opened_at,
            confirmed_at_ms: a.confirmed_at,
        }
    }
}

/// What a member's phone shows for a day: the latest published revision with their own
/// call time, and how far they acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MyCallSheet {
    pub day: String,
    pub revision: Revision,
    /// Minutes after midnight of the shoot day.
    pub call_minutes: i64,
    /// `HH:MM`.
    pub call_time: String,
    pub call_source: CallSource,
    pub acknowledgement: Option<Acknowledgement>,
    /// Rows of this revision that could not be read (left out of `revision`), and
    /// revisions that could not be read at all (one may be newer than `revision`).
    pub unreadable: Vec<UnreadableRecord>,
}

impl SetlinkStore {
    fn doc_for(&self, kind: DocKind) -> Result<String, SetlinkError> {
        let id = self
            .find_doc(&kind)?
            .ok_or_else(|| SetlinkError::NotFound {
                what: match kind {
                    DocKind::CallSheetDraft { .. } => "call sheet draft".into(),
                    DocKind::CallSheetPublished { .. } => "published call sheet".into(),
                    _ => "document".into(),
                },
                id: match &kind {
                    DocKind::CallSheetDraft { day } | DocKind::CallSheetPublished { day } => {
                        day.clone()
                    }
                    _ => String::new(),
                },
            })?;
        // Listed in the index but not yet on the device: record it so it syncs.
        self.with(|d| {
            d.import_document(id, kind)?;
            Ok(())
        })?;
        Ok(id.to_string())
    }

    fn my_member_doc(&self) -> Result<String, SetlinkError> {
        let me = self.member_id()?;
        self.doc_for(DocKind::Member { member_id: me })
    }

    fn my_department(&self) -> Option<String> {
        let me = self.member_id().ok()?;
        let prod = self.production_doc().ok()?.to_string();
        self.read(&prod, |doc| {
            setlink_core::model::production::read_member(doc, &me)
        })
        .ok()
        .and_then(|m| m.info.department)
    }
}

#[uniffi::export]
impl SetlinkStore {
    /// Creates the day's draft and published call sheet documents (coordinator); returns
    /// the draft's id.
    pub fn create_call_sheet(&self, day: String, sheet: CallSheet) -> Result<String, SetlinkError> {
        check_day(&day)?;
        let (draft, published) = self.with(|d| {
            let me = d.identity().ok_or(SetlinkError::NoIdentity)?;
            if !me.role.may_publish() {
                return Err(SetlinkError::Forbidden {
                    role: me.role.to_string(),
                    action: "create a call sheet (ask a coordinator)".into(),
                });
            }
            let draft = d.create_document(DocKind::CallSheetDraft { day: day.clone() })?;
            let published = d.create_document(DocKind::CallSheetPublished { day: day.clone() })?;
            Ok((draft, published))
        })?;
        let sheet: core::CallSheet = sheet.into();
        let d2 = day.clone();
        self.apply(&draft.to_string(), |doc, by, at| {
            core::init_draft(doc, by, at, &d2, sheet)
        })?;
        let d3 = day.clone();
        self.apply(&published.to_string(), |doc, by, at| {
            core::init_published(doc, by, at, &d3)
        })?;
        self.register(&draft, &DocKind::CallSheetDraft { day: day.clone() })?;
        self.register(&published, &DocKind::CallSheetPublished { day })?;
        Ok(draft.to_string())
    }

    /// The day's draft (coordinators and the office), as far as it can be read: rows this
    /// version cannot read are left out and listed in `unreadable`.
    pub fn call_sheet_draft(&self, day: String) -> Result<DraftSheet, SetlinkError> {
        let id = self.doc_for(DocKind::CallSheetDraft { day })?;
        let read = self.read(&id, core::read_draft)?;
        Ok(DraftSheet {
            sheet: read.value.into(),
            unreadable: unreadable(read.unreadable),
        })
    }

    /// Replaces the draft's content (coordinator). Rows keep their ids, so concurrent
    /// edits of different rows merge. Rows of the draft that could not be read (see
    /// `call_sheet_draft`) are removed.
    pub fn update_call_sheet_draft(
        &self,
        day: String,
        sheet: CallSheet,
    ) -> Result<(), SetlinkError> {
        let id = self.doc_for(DocKind::CallSheetDraft { day })?;
        let sheet: core::CallSheet = sheet.into();
        self.apply(&id, |doc, by, at| core::replace_draft(doc, by, at, sheet))
    }

    /// Moves general call (minutes after midnight); offset crew calls move with it.
    pub fn set_general_call(&self, day: String, minutes: i64) -> Result<(), SetlinkError> {
        let id = self.doc_for(DocKind::CallSheetDraft { day })?;
        self.apply(&id, |doc, by, at| {
            core::set_general_call(doc, by, at, minutes)
        })
    }

    pub fn add_crew_call(&self, day: String, row: CrewCallInput) -> Result<String, SetlinkError> {
        let id = self.doc_for(DocKind::CallSheetDraft { day })?;
        self.apply(&id, |doc, by, at| {
            core::add_crew_call(doc, by, at, row.into())
        })
    }

    pub fn edit_crew_call(
        &self,
        day: String,
        crew_call_id: String,
        row: CrewCallInput,
    ) -> Result<(), SetlinkError> {
        let id = self.doc_for(DocKind::CallSheetDraft { day })?;
        self.apply(&id, |doc, by, at| {
            core::edit_crew_call(doc, by, at, &crew_call_id, row.into())
        })
    }

    pub fn remove_crew_call(&self, day: String, crew_call_id: String) -> Result<(), SetlinkError> {
        let id = self.doc_for(DocKind::CallSheetDraft { day })?;
        self.apply(&id, |doc, by, at| {
            core::remove_crew_call(doc, by, at, &crew_call_id)
        })
    }

    /// Freezes the draft as the next revision (next number, next colour). Coordinator.
    pub fn publish_call_sheet(
        &self,
        day: String,
        summary: String,
    ) -> Result<Revision, SetlinkError> {
        let draft_id = self.doc_for(DocKind::CallSheetDraft { day: day.clone() })?;
        let published_id = self.doc_for(DocKind::CallSheetPublished { day })?;
        let draft = crate::store::parse_doc_id(&draft_id)?;
        let draft_doc = self.with(|d| Ok(d.read(&draft, |doc| doc.clone())?))?;
        Ok(self
            .apply(&published_id, |doc, by, at| {
                core::publish(&draft_doc, doc, by, at, &summary)
            })?
            .into())
    }

    /// Every published revision of the day that can be read, oldest first, and what was
    /// left out (`unreadable`).
    pub fn call_sheet_revisions(&self, day: String) -> Result<RevisionList, SetlinkError> {
        let id = self.doc_for(DocKind::CallSheetPublished { day })?;
        let l = self.read(&id, core::read_revisions)?;
        Ok(RevisionList {
            revisions: l.items.into_iter().map(Into::into).collect(),
            unreadable: unreadable(l.unreadable),
        })
    }

    /// The latest published revision with this member's own call time, or `null` when
    /// nothing is published (or synced) yet for the day.
    pub fn my_call_sheet(&self, day: String) -> Result<Option<MyCallSheet>, SetlinkError> {
        check_day(&day)?;
        let me = self.member_id()?;
        let Some(id) = self.find_doc(&DocKind::CallSheetPublished { day: day.clone() })? else {
            return Ok(None);
        };
        let id = id.to_string();
        let dept = self.my_department();
        let found = self.read(&id, |doc| {
            let rev = match core::latest_revision_partial(doc) {
                Ok(r) => r,
                Err(setlink_core::DomainError::NotPublished)
                | Err(setlink_core::DomainError::NotInitialised(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            let call = core::call_time_on(&rev.value, &me, dept.as_deref())?;
            Ok(Some((rev, call)))
        });
        let (rev, call) = match found {
            Ok(Some(x)) => x,
            Ok(None) => return Ok(None),
            // The document is listed but has not synced to this device yet.
            Err(SetlinkError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let ack = self
            .my_member_doc()
            .ok()
            .and_then(|m| {
                self.read(&m, |doc| Ok(member::ack_for(doc, &day, rev.value.number)))
                    .ok()
            })
            .flatten();
        Ok(Some(MyCallSheet {
            day,
            call_minutes: call.minutes,
            call_time: core::format_minutes(call.minutes),
            call_source: call.source.into(),
            revision: rev.value.into(),
            acknowledgement: ack.map(Into::into),
            unreadable: unreadable(rev.unreadable),
        }))
    }

    /// Records this member's acknowledgement of a revision in their own document
    /// (reaching a level records the lower ones too).
    pub fn acknowledge_call_sheet(
        &self,
        day: String,
        revision: i64,
        level: AckLevel,
    ) -> Result<(), SetlinkError> {
        let doc = self.my_member_doc()?;
        // A member document the relay created has no owner yet; claim it first.
        self.apply(&doc, member::init_member_doc)?;
        self.apply(&doc, |d, by, at| {
            member::acknowledge(d, by, at, &day, revision, level.into())
        })
    }

    /// This member's acknowledgements, and the entries that could not be read.
    pub fn my_acknowledgements(&self) -> Result<AcknowledgementList, SetlinkError> {
        let doc = self.my_member_doc()?;
        let l = self.read(&doc, |d| Ok(member::read_acks(d)))?;
        Ok(AcknowledgementList {
            acknowledgements: l.items.into_iter().map(Into::into).collect(),
            unreadable: unreadable(l.unreadable),
        })
    }

    /// For coordinators: members (ids) whose documents on this device do not show
    /// `level` for the revision.
    pub fn who_has_not(
        &self,
        day: String,
        revision: i64,
        level: AckLevel,
    ) -> Result<Vec<String>, SetlinkError> {
        // A member whose record cannot be read still has an id and a document to check.
        let members = self.members()?;
        let ids = (members.members.into_iter().map(|m| m.id))
            .chain(members.unreadable.into_iter().map(|u| u.id));
        let mut missing = Vec::new();
        for id in ids {
            let kind = DocKind::Member {
                member_id: id.clone(),
            };
            let has = match self.find_doc(&kind)? {
                Some(doc) => self
                    .read(&doc.to_string(), |d| {
                        Ok(member::ack_for(d, &day, revision).is_some_and(|a| a.has(level.into())))
                    })
                    .unwrap_or(false),
                None => false,
            };
            if !has {
                missing.push(id);
            }
        }
        missing.sort();
        Ok(missing)
    }
}
