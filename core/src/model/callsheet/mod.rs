//! Call sheets: a draft document per shoot day that coordinators edit, and a published
//! document per day holding frozen revisions everyone can read.
//!
//! Draft layout: root `day` (`YYYY-MM-DD`) and `sheet` ([`CallSheet`], written with
//! autosurgeon so an edit only touches the fields that changed). Published layout: root
//! `day` and `revisions`, a list of [`Revision`]s, each a full frozen copy of the sheet.
//! Both containers are created once, by [`init_draft`] and [`init_published`], before the
//! documents are shared.
//!
//! Times of day are minutes after midnight of the shoot day (0..=2880, so a 25:30 wrap is
//! 1530). A crew call is either a time or an offset from general call; offsets are stored as
//! offsets and resolved when read, so moving general call moves every offset row.
//!
//! Roles: coordinators edit drafts and publish; the office reads drafts; everyone reads
//! published revisions.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ReadDoc, ROOT};
use autosurgeon::{reconcile_insert, reconcile_prop, Hydrate, Reconcile};

use super::production::{unique, validate_walkie, WalkieChannel};
use super::util::{
    self, check_day, check_len, check_opt, check_required, get_i64, get_list, get_map, get_text,
    MAX_LONG, MAX_SHORT,
};
use super::{require_role, transact, DomainError, Listing, Partial, Unreadable, COORDINATOR};
use crate::access::Author;
use crate::ids::new_record_id;

mod draft;
mod published;

pub use draft::{
    add_crew_call, edit_crew_call, init_draft, read_draft, read_draft_strict, remove_crew_call,
    replace_draft, set_general_call, update_draft, CrewCallInput,
};
pub use published::{
    call_time_for, call_time_on, init_published, latest_revision, latest_revision_partial, publish,
    publish_sheet, read_revision_parts, read_revisions, CallSource, CallTime, Colour, Revision,
};

/// Latest minute of a shoot day we accept: 48:00, for overnight shoots.
const MAX_MINUTE: i64 = 48 * 60;
/// Largest offset from general call: 12 hours either way.
const MAX_OFFSET: i64 = 12 * 60;

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Header {
    #[autosurgeon(hydrate = "util::text")]
    pub production_title: String,
    /// The shoot day, `YYYY-MM-DD`.
    #[autosurgeon(hydrate = "util::text")]
    pub date: String,
    pub day_number: Option<i64>,
    pub total_days: Option<i64>,
    pub call_sheet_number: Option<i64>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub director: Option<String>,
    #[autosurgeon(hydrate = "util::text_list")]
    pub producers: Vec<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub upm: Option<String>,
    #[autosurgeon(hydrate = "util::text_list")]
    pub ads: Vec<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub production_office_phone: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Meal {
    #[autosurgeon(hydrate = "util::text")]
    pub label: String,
    pub at: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Times {
    pub general_call: Option<i64>,
    pub shooting_call: Option<i64>,
    pub meals: Vec<Meal>,
    pub estimated_wrap: Option<i64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub enum TempUnit {
    #[default]
    #[autosurgeon(rename = "F")]
    Fahrenheit,
    #[autosurgeon(rename = "C")]
    Celsius,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Weather {
    pub high: Option<i64>,
    pub low: Option<i64>,
    #[autosurgeon(hydrate = "util::text")]
    pub unit: TempUnit,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub conditions: Option<String>,
    pub rain_chance_percent: Option<i64>,
    pub sunrise: Option<i64>,
    pub sunset: Option<i64>,
    /// The cover set if the weather turns.
    #[autosurgeon(hydrate = "util::opt_text")]
    pub weather_cover_set: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct SheetLocation {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub name: String,
    #[autosurgeon(hydrate = "util::text")]
    pub address: String,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub parking: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub basecamp: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub notes: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Hospital {
    #[autosurgeon(hydrate = "util::text")]
    pub name: String,
    #[autosurgeon(hydrate = "util::text")]
    pub address: String,
    #[autosurgeon(hydrate = "util::text")]
    pub phone: String,
}

impl Hospital {
    pub fn validate(&self) -> Result<(), DomainError> {
        check_required("hospital name", &self.name)?;
        check_required("hospital address", &self.address)?;
        check_required("hospital phone", &self.phone)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub enum IntExt {
    #[default]
    #[autosurgeon(rename = "INT")]
    Int,
    #[autosurgeon(rename = "EXT")]
    Ext,
    #[autosurgeon(rename = "INT/EXT")]
    IntExt,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub enum DayNight {
    #[default]
    #[autosurgeon(rename = "D")]
    Day,
    #[autosurgeon(rename = "N")]
    Night,
    #[autosurgeon(rename = "DAWN")]
    Dawn,
    #[autosurgeon(rename = "DUSK")]
    Dusk,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Scene {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    /// Scene number as scripted ("42", "42A").
    #[autosurgeon(hydrate = "util::text")]
    pub number: String,
    #[autosurgeon(hydrate = "util::text")]
    pub int_ext: IntExt,
    #[autosurgeon(hydrate = "util::text")]
    pub set: String,
    #[autosurgeon(hydrate = "util::text")]
    pub day_night: DayNight,
    #[autosurgeon(hydrate = "util::text")]
    pub description: String,
    #[autosurgeon(hydrate = "util::text_list")]
    pub cast_numbers: Vec<String>,
    /// Page count in eighths (1 4/8 pages = 12).
    pub pages_eighths: i64,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub location: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct CastCall {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub number: String,
    #[autosurgeon(hydrate = "util::text")]
    pub character: String,
    #[autosurgeon(hydrate = "util::text")]
    pub actor: String,
    /// Day-out-of-days status: SW, W, WF, SWF, H, ...
    #[autosurgeon(hydrate = "util::opt_text")]
    pub status: Option<String>,
    pub pickup: Option<i64>,
    pub hair_makeup: Option<i64>,
    pub on_set: Option<i64>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub notes: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Background {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    pub count: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub description: String,
    pub report_time: Option<i64>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub report_place: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub notes: Option<String>,
}

/// A crew call: a time, or minutes from general call (negative = before).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub enum CallSpec {
    #[autosurgeon(rename = "at")]
    At(i64),
    #[autosurgeon(rename = "offset")]
    Offset(i64),
}

#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct CrewCall {
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub department: String,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub position: Option<String>,
    #[autosurgeon(hydrate = "util::opt_text")]
    pub name: Option<String>,
    /// Set when the row is one member's own call.
    #[autosurgeon(hydrate = "util::opt_text")]
    pub member_id: Option<String>,
    pub call: CallSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct DepartmentNote {
    #[autosurgeon(hydrate = "util::text")]
    pub department: String,
    #[autosurgeon(hydrate = "util::text")]
    pub note: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct AdvanceDay {
    #[autosurgeon(hydrate = "util::text")]
    pub date: String,
    #[autosurgeon(hydrate = "util::text")]
    pub summary: String,
    #[autosurgeon(hydrate = "util::text_list")]
    pub scenes: Vec<String>,
}

/// Every section of a call sheet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
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
    #[autosurgeon(hydrate = "util::text_list")]
    pub safety_notes: Vec<String>,
}

fn check_minute(field: &'static str, m: Option<i64>) -> Result<(), DomainError> {
    match m {
        Some(m) if !(0..=MAX_MINUTE).contains(&m) => Err(DomainError::OutOfRange {
            field,
            reason: format!("{m} minutes is not a time between 00:00 and 48:00 of the shoot day"),
        }),
        _ => Ok(()),
    }
}

fn check_call(c: &CallSpec) -> Result<(), DomainError> {
    match *c {
        CallSpec::At(m) => check_minute("crew call time", Some(m)),
        CallSpec::Offset(o) if !(-MAX_OFFSET..=MAX_OFFSET).contains(&o) => {
            Err(DomainError::OutOfRange {
                field: "crew call offset",
                reason: format!("{o} minutes is more than 12 hours from general call"),
            })
        }
        CallSpec::Offset(_) => Ok(()),
    }
}

fn check_list(field: &'static str, items: &[String]) -> Result<(), DomainError> {
    items.iter().try_for_each(|s| check_required(field, s))
}

impl CallSheet {
    /// A blank sheet for a day.
    pub fn for_day(day: &str, production_title: &str) -> Self {
        CallSheet {
            header: Header {
                date: day.to_owned(),
                production_title: production_title.to_owned(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        let h = &self.header;
        check_required("production title", &h.production_title)?;
        check_day("call sheet date", &h.date)?;
        match (h.day_number, h.total_days) {
            (Some(x), Some(y)) if x < 1 || y < 1 || x > y => {
                return Err(DomainError::OutOfRange {
                    field: "day number",
                    reason: format!("day {x} of {y} is not possible"),
                })
            }
            (Some(x), None) if x < 1 => {
                return Err(DomainError::OutOfRange {
                    field: "day number",
                    reason: format!("{x} is not a day number"),
                })
            }
            _ => {}
        }
        if h.call_sheet_number.is_some_and(|n| n < 1) {
            return Err(DomainError::OutOfRange {
                field: "call sheet number",
                reason: "must be 1 or more".into(),
            });
        }
        check_opt("director", &h.director, MAX_SHORT)?;
        check_opt("UPM", &h.upm, MAX_SHORT)?;
        check_opt(
            "production office phone",
            &h.production_office_phone,
            MAX_SHORT,
        )?;
        check_list("producer", &h.producers)?;
        check_list("AD", &h.ads)?;

        let t = &self.times;
        check_minute("general call", t.general_call)?;
        check_minute("shooting call", t.shooting_call)?;
        check_minute("estimated wrap", t.estimated_wrap)?;
        for m in &t.meals {
            check_required("meal", &m.label)?;
            check_minute("meal time", Some(m.at))?;
        }
        if let (Some(g), Some(w)) = (t.general_call, t.estimated_wrap) {
            if w <= g {
                return Err(DomainError::OutOfRange {
                    field: "estimated wrap",
                    reason: "wrap must come after general call (write times after midnight as 24:00 and later)".into(),
                });
            }
        }

        let w = &self.weather;
        let (lo, hi) = match w.unit {
            TempUnit::Fahrenheit => (-80, 140),
            TempUnit::Celsius => (-60, 60),
        };
        for (field, v) in [("high temperature", w.high), ("low temperature", w.low)] {
            if let Some(v) = v {
                if !(lo..=hi).contains(&v) {
                    return Err(DomainError::OutOfRange {
                        field,
                        reason: format!("{v} is not between {lo} and {hi}"),
                    });
                }
            }
        }
        if let (Some(h), Some(l)) = (w.high, w.low) {
            if l > h {
                return Err(DomainError::OutOfRange {
                    field: "low temperature",
                    reason: format!("low {l} is above high {h}"),
                });
            }
        }
        if w.rain_chance_percent
            .is_some_and(|r| !(0..=100).contains(&r))
        {
            return Err(DomainError::OutOfRange {
                field: "rain chance",
                reason: "must be a percentage from 0 to 100".into(),
            });
        }
        check_minute("sunrise", w.sunrise)?;
        check_minute("sunset", w.sunset)?;
        check_opt("weather conditions", &w.conditions, MAX_SHORT)?;
        check_opt("weather cover set", &w.weather_cover_set, MAX_SHORT)?;

        for l in &self.locations {
            check_required("location name", &l.name)?;
            check_required("location address", &l.address)?;
            for (f, v) in [
                ("parking", &l.parking),
                ("basecamp", &l.basecamp),
                ("location notes", &l.notes),
            ] {
                check_opt(f, v, MAX_LONG)?;
            }
        }
        unique("location ids", self.locations.iter().map(|l| l.id.as_str()))?;
        if let Some(h) = &self.nearest_hospital {
            h.validate()?;
        }

        for s in &self.scenes {
            check_required("scene number", &s.number)?;
            check_required("scene set", &s.set)?;
            check_len("scene description", &s.description, MAX_LONG)?;
            check_list("cast number", &s.cast_numbers)?;
            if !(0..=800).contains(&s.pages_eighths) {
                return Err(DomainError::OutOfRange {
                    field: "scene pages",
                    reason: format!("{} eighths is not between 0 and 100 pages", s.pages_eighths),
                });
            }
            check_opt("scene location", &s.location, MAX_SHORT)?;
        }
        unique("scene ids", self.scenes.iter().map(|s| s.id.as_str()))?;

        for c in &self.cast {
            check_required("cast number", &c.number)?;
            check_required("character", &c.character)?;
            check_required("actor", &c.actor)?;
            check_opt("cast status", &c.status, MAX_SHORT)?;
            check_minute("cast pickup", c.pickup)?;
            check_minute("hair/makeup call", c.hair_makeup)?;
            check_minute("on set call", c.on_set)?;
            check_opt("cast notes", &c.notes, MAX_LONG)?;
        }
        unique("cast ids", self.cast.iter().map(|c| c.id.as_str()))?;
        unique("cast numbers", self.cast.iter().map(|c| c.number.as_str()))?;

        for b in &self.background {
            if !(1..=5_000).contains(&b.count) {
                return Err(DomainError::OutOfRange {
                    field: "background count",
                    reason: format!("{} is not between 1 and 5000", b.count),
                });
            }
            check_required("background description", &b.description)?;
            check_minute("background report time", b.report_time)?;
            check_opt("background report place", &b.report_place, MAX_SHORT)?;
            check_opt("background notes", &b.notes, MAX_LONG)?;
        }
        unique(
            "background ids",
            self.background.iter().map(|b| b.id.as_str()),
        )?;

        for c in &self.crew_calls {
            validate_crew_call(&c.department, &c.position, &c.name, &c.member_id, &c.call)?;
        }
        unique(
            "crew call ids",
            self.crew_calls.iter().map(|c| c.id.as_str()),
        )?;
        unique(
            "crew call members",
            self.crew_calls
                .iter()
                .filter_map(|c| c.member_id.as_deref()),
        )?;

        for n in &self.department_notes {
            check_required("department", &n.department)?;
            check_len("department note", &n.note, MAX_LONG)?;
        }
        for a in &self.advance_schedule {
            check_day("advance schedule day", &a.date)?;
            check_len("advance schedule", &a.summary, MAX_LONG)?;
            check_list("scene number", &a.scenes)?;
        }
        for w in &self.walkie_channels {
            validate_walkie(w)?;
        }
        unique(
            "walkie channels",
            self.walkie_channels.iter().map(|w| w.channel),
        )?;
        for s in &self.safety_notes {
            check_len("safety note", s, MAX_LONG)?;
        }
        Ok(())
    }

    /// The resolved time of a crew call row: its own time, or general call plus its offset
    /// (`None` while general call is not set). A sheet read from a synced document was
    /// written by another peer and may not have passed [`CallSheet::validate`], so a sum
    /// that overflows is `None` too rather than a panic.
    pub fn resolve(&self, call: &CallSpec) -> Option<i64> {
        match *call {
            CallSpec::At(m) => Some(m),
            CallSpec::Offset(o) => self.times.general_call.and_then(|g| g.checked_add(o)),
        }
    }
}

fn validate_crew_call(
    department: &str,
    position: &Option<String>,
    name: &Option<String>,
    member: &Option<String>,
    call: &CallSpec,
) -> Result<(), DomainError> {
    check_required("crew call department", department)?;
    check_opt("crew call position", position, MAX_SHORT)?;
    check_opt("crew call name", name, MAX_SHORT)?;
    if let Some(m) = member {
        check_required("crew call member", m)?;
    }
    check_call(call)
}

/// Formats minutes after midnight as `HH:MM` (past midnight reads 24:30, as on call sheets).
pub fn format_minutes(m: i64) -> String {
    format!("{:02}:{:02}", m.div_euclid(60), m.rem_euclid(60))
}
