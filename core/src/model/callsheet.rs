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

// ---------------------------------------------------------------------------------------
// Draft

fn check_draft_day(doc: &Automerge) -> Result<String, DomainError> {
    get_text(doc, &ROOT, "day").ok_or(DomainError::NotInitialised("a call sheet draft"))
}

/// Creates the draft for `day` with `sheet` as its content. Roles: coordinator.
pub fn init_draft(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    day: &str,
    sheet: CallSheet,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "create a call sheet")?;
    check_day("day", day)?;
    if sheet.header.date != day {
        return Err(DomainError::InvalidValue {
            field: "call sheet date",
            reason: format!(
                "the sheet is dated {} but the draft is for {day}",
                sheet.header.date
            ),
        });
    }
    sheet.validate()?;
    if get_map(doc, &ROOT, "sheet").is_some() {
        return Err(DomainError::AlreadyExists("a call sheet draft".into()));
    }
    transact(doc, by, at_ms, |tx| {
        tx.put(ROOT, "day", day)?;
        reconcile_prop(tx, ROOT, "sheet", &sheet)?;
        Ok(())
    })
}

/// The draft's current content, read as far as possible: a row (scene, cast member, crew
/// call, ...) or a section (header, weather, ...) that cannot be read is left out (a section
/// reads as empty) and listed in `unreadable`. Errs only when the document is not an
/// initialised draft. Roles (enforced by the device and relay): coordinator, office.
pub fn read_draft(doc: &Automerge) -> Result<Partial<CallSheet>, DomainError> {
    check_draft_day(doc)?;
    let sheet = util::require_map(doc, &ROOT, "sheet", "a call sheet draft")?;
    let mut unreadable = Vec::new();
    let value = read_sheet_lenient(doc, &sheet, "", &mut unreadable);
    Ok(Partial { value, unreadable })
}

/// The draft's exact content, or [`DomainError::Corrupt`] naming the first field that cannot
/// be read. Edits and publishing use this: they must never drop what they cannot read.
pub fn read_draft_strict(doc: &Automerge) -> Result<CallSheet, DomainError> {
    check_draft_day(doc)?;
    util::hydrate_at(doc, &ROOT, "sheet")
}

/// Replaces the draft's content with `sheet` without reading the old content first, so it
/// also works on a draft with rows this version cannot read (those rows are removed). For
/// editors that show the whole sheet and save it whole. Roles: coordinator.
pub fn replace_draft(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    sheet: CallSheet,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "edit a call sheet")?;
    let day = check_draft_day(doc)?;
    if sheet.header.date != day {
        return Err(DomainError::InvalidValue {
            field: "call sheet date",
            reason: format!("this draft is for {day}; create another day's draft instead"),
        });
    }
    sheet.validate()?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, ROOT, "sheet", &sheet)?;
        Ok(())
    })
}

/// A string in a list, scalar or Text.
struct ListText(String);

impl Hydrate for ListText {
    fn hydrate_string(s: &str) -> Result<Self, autosurgeon::HydrateError> {
        Ok(ListText(s.to_owned()))
    }
    fn hydrate_text<D: autosurgeon::ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
    ) -> Result<Self, autosurgeon::HydrateError> {
        Ok(ListText(doc.text(obj)?))
    }
}

/// The row lists of one object, read with [`util::lenient_rows`].
struct Rows<'a> {
    doc: &'a Automerge,
    obj: &'a automerge::ObjId,
    context: &'a str,
}

impl Rows<'_> {
    fn read<T: Hydrate>(
        &self,
        key: &str,
        what: &'static str,
        unreadable: &mut Vec<Unreadable>,
    ) -> Vec<T> {
        util::lenient_rows(self.doc, self.obj, key, what, self.context, unreadable)
    }
}

/// Reads the sheet at `sheet` section by section and row by row, leaving out (and listing)
/// what cannot be read. `context` prefixes every reason (`revision 2 (Blue): `).
fn read_sheet_lenient(
    doc: &Automerge,
    sheet: &automerge::ObjId,
    context: &str,
    unreadable: &mut Vec<Unreadable>,
) -> CallSheet {
    fn part<T: Hydrate + Default>(
        doc: &Automerge,
        obj: &automerge::ObjId,
        key: &'static str,
        context: &str,
        unreadable: &mut Vec<Unreadable>,
    ) -> T {
        util::hydrate_at(doc, obj, key).unwrap_or_else(|e| {
            unreadable.push(Unreadable {
                id: key.to_owned(),
                what: "call sheet section",
                why: format!("{context}{}", util::why(&e)),
            });
            T::default()
        })
    }
    let rows = Rows {
        doc,
        obj: sheet,
        context,
    };
    let times = match get_map(doc, sheet, "times") {
        Some(t) => Times {
            general_call: part(doc, &t, "general_call", context, unreadable),
            shooting_call: part(doc, &t, "shooting_call", context, unreadable),
            meals: util::lenient_rows(doc, &t, "meals", "meal", context, unreadable),
            estimated_wrap: part(doc, &t, "estimated_wrap", context, unreadable),
        },
        None => part(doc, sheet, "times", context, unreadable),
    };
    CallSheet {
        header: part(doc, sheet, "header", context, unreadable),
        times,
        weather: part(doc, sheet, "weather", context, unreadable),
        locations: rows.read("locations", "location", unreadable),
        nearest_hospital: part(doc, sheet, "nearest_hospital", context, unreadable),
        scenes: rows.read("scenes", "scene", unreadable),
        cast: rows.read("cast", "cast member", unreadable),
        background: rows.read("background", "background row", unreadable),
        crew_calls: rows.read("crew_calls", "crew call", unreadable),
        department_notes: rows.read("department_notes", "department note", unreadable),
        advance_schedule: rows.read("advance_schedule", "advance schedule day", unreadable),
        walkie_channels: rows.read("walkie_channels", "walkie channel", unreadable),
        safety_notes: rows
            .read::<ListText>("safety_notes", "safety note", unreadable)
            .into_iter()
            .map(|t| t.0)
            .collect(),
    }
}

/// Edits the draft with `edit`, then checks the whole sheet and writes only what changed.
/// Any section can be edited this way. Roles: coordinator.
pub fn update_draft(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    edit: impl FnOnce(&mut CallSheet) -> Result<(), DomainError>,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "edit a call sheet")?;
    let day = check_draft_day(doc)?;
    let mut sheet = read_draft_strict(doc)?;
    edit(&mut sheet)?;
    if sheet.header.date != day {
        return Err(DomainError::InvalidValue {
            field: "call sheet date",
            reason: format!("this draft is for {day}; create another day's draft instead"),
        });
    }
    sheet.validate()?;
    transact(doc, by, at_ms, |tx| {
        reconcile_prop(tx, ROOT, "sheet", &sheet)?;
        Ok(())
    })
}

/// Moves general call; every crew call given as an offset moves with it. Roles: coordinator.
pub fn set_general_call(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    minutes: i64,
) -> Result<(), DomainError> {
    update_draft(doc, by, at_ms, |s| {
        check_minute("general call", Some(minutes))?;
        s.times.general_call = Some(minutes);
        Ok(())
    })
}

/// A crew call row to add or replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrewCallInput {
    pub department: String,
    pub position: Option<String>,
    pub name: Option<String>,
    pub member_id: Option<String>,
    pub call: CallSpec,
}

impl CrewCallInput {
    pub fn department(department: &str, call: CallSpec) -> Self {
        CrewCallInput {
            department: department.to_owned(),
            position: None,
            name: None,
            member_id: None,
            call,
        }
    }
}

/// Adds a crew call row. Roles: coordinator. Returns its id.
pub fn add_crew_call(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    row: CrewCallInput,
) -> Result<String, DomainError> {
    require_role(by, COORDINATOR, "edit a call sheet")?;
    validate_crew_call(
        &row.department,
        &row.position,
        &row.name,
        &row.member_id,
        &row.call,
    )?;
    let sheet = read_draft_strict(doc)?;
    if let Some(m) = &row.member_id {
        if sheet
            .crew_calls
            .iter()
            .any(|c| c.member_id.as_ref() == Some(m))
        {
            return Err(DomainError::AlreadyExists(format!(
                "a crew call for member `{m}`"
            )));
        }
    }
    let sheet_obj = util::require_map(doc, &ROOT, "sheet", "a call sheet draft")?;
    let list = get_list(doc, &sheet_obj, "crew_calls")
        .ok_or_else(|| DomainError::Corrupt("the call sheet has no crew calls list".into()))?;
    let id = new_record_id();
    let value = CrewCall {
        id: id.clone(),
        department: row.department,
        position: row.position,
        name: row.name,
        member_id: row.member_id,
        call: row.call,
    };
    // A direct insert, so two coordinators adding rows concurrently both keep theirs.
    transact(doc, by, at_ms, |tx| {
        let len = tx.length(&list);
        reconcile_insert(tx, list.clone(), len, &value)?;
        Ok(())
    })?;
    Ok(id)
}

/// Replaces a crew call row. Roles: coordinator.
pub fn edit_crew_call(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    id: &str,
    row: CrewCallInput,
) -> Result<(), DomainError> {
    update_draft(doc, by, at_ms, |s| {
        let c = s
            .crew_calls
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| DomainError::UnknownCallSheetEntry {
                what: "crew call",
                id: id.to_owned(),
            })?;
        c.department = row.department;
        c.position = row.position;
        c.name = row.name;
        c.member_id = row.member_id;
        c.call = row.call;
        Ok(())
    })
}

/// Removes a crew call row. Roles: coordinator.
pub fn remove_crew_call(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    id: &str,
) -> Result<(), DomainError> {
    update_draft(doc, by, at_ms, |s| {
        let before = s.crew_calls.len();
        s.crew_calls.retain(|c| c.id != id);
        if s.crew_calls.len() == before {
            return Err(DomainError::UnknownCallSheetEntry {
                what: "crew call",
                id: id.to_owned(),
            });
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------
// Published revisions

/// Revision colours in the industry order; revision n has colour `(n - 1) % 9`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Reconcile, Hydrate)]
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

impl Colour {
    pub const ORDER: [Colour; 9] = [
        Colour::White,
        Colour::Blue,
        Colour::Pink,
        Colour::Yellow,
        Colour::Green,
        Colour::Goldenrod,
        Colour::Buff,
        Colour::Salmon,
        Colour::Cherry,
    ];

    /// The colour of revision `number` (1 = White), wrapping after Cherry. Any `i64` is
    /// accepted because numbers come from synced documents; `number - 1` is never computed
    /// so `i64::MIN` cannot overflow.
    pub fn for_revision(number: i64) -> Colour {
        const N: i64 = Colour::ORDER.len() as i64;
        // rem_euclid is in 0..N, so (r + N - 1) % N is in 0..N and indexes ORDER.
        let i = (number.rem_euclid(N) + N - 1) % N;
        Self::ORDER[i as usize]
    }
}

/// One published revision, frozen.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Revision {
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    pub number: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub colour: Colour,
    pub published_at: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub published_by: String,
    #[autosurgeon(hydrate = "util::text")]
    pub summary: String,
    pub sheet: CallSheet,
}

/// Creates the published document for `day` (empty list of revisions). Roles: coordinator.
pub fn init_published(
    doc: &mut Automerge,
    by: &Author,
    at_ms: i64,
    day: &str,
) -> Result<(), DomainError> {
    require_role(by, COORDINATOR, "create a call sheet")?;
    check_day("day", day)?;
    if get_list(doc, &ROOT, "revisions").is_some() {
        return Err(DomainError::AlreadyExists("a published call sheet".into()));
    }
    transact(doc, by, at_ms, |tx| {
        tx.put(ROOT, "day", day)?;
        tx.put_object(ROOT, "revisions", ObjType::List)?;
        Ok(())
    })
}

/// Freezes the draft's current content as the next revision: number = highest so far + 1,
/// colour from [`Colour::for_revision`]. A summary of changes is required from revision 2 on.
/// Only the published document changes. Roles: coordinator.
pub fn publish(
    draft: &Automerge,
    published: &mut Automerge,
    by: &Author,
    at_ms: i64,
    summary: &str,
) -> Result<Revision, DomainError> {
    require_role(by, COORDINATOR, "publish a call sheet")?;
    let draft_day = check_draft_day(draft)?;
    let day = get_text(published, &ROOT, "day")
        .ok_or(DomainError::NotInitialised("a published call sheet"))?;
    if draft_day != day {
        return Err(DomainError::InvalidValue {
            field: "call sheet day",
            reason: format!("the draft is for {draft_day} but the published sheet is for {day}"),
        });
    }
    let sheet = read_draft_strict(draft)?;
    publish_sheet(published, by, at_ms, sheet, summary)
}

/// Freezes `sheet` as the next revision of the published document for its day, like
/// [`publish`] but from the sheet itself rather than a draft document: a dashboard that
/// saves and publishes one submitted form publishes exactly what was submitted, whatever
/// the draft document holds by the time the write runs. Roles: coordinator.
pub fn publish_sheet(
    published: &mut Automerge,
    by: &Author,
    at_ms: i64,
    sheet: CallSheet,
    summary: &str,
) -> Result<Revision, DomainError> {
    require_role(by, COORDINATOR, "publish a call sheet")?;
    let day = get_text(published, &ROOT, "day")
        .ok_or(DomainError::NotInitialised("a published call sheet"))?;
    if sheet.header.date != day {
        return Err(DomainError::InvalidValue {
            field: "call sheet day",
            reason: format!(
                "the sheet is dated {} but the published sheet is for {day}",
                sheet.header.date
            ),
        });
    }
    sheet.validate()?;
    check_len("summary of changes", summary, MAX_LONG)?;
    let list = get_list(published, &ROOT, "revisions")
        .ok_or(DomainError::NotInitialised("a published call sheet"))?;
    // Every stored number counts, also of revisions this version cannot otherwise read.
    let highest = (0..published.length(&list))
        .filter_map(|i| match published.get(&list, i) {
            Ok(Some((automerge::Value::Object(ObjType::Map), rev))) => {
                get_i64(published, &rev, "number")
            }
            _ => None,
        })
        .max()
        .unwrap_or(0);
    // A peer may have synced in any number; refuse rather than overflow or wrap.
    let number = highest.checked_add(1).ok_or_else(|| {
        DomainError::Corrupt(format!(
            "the highest published revision number is {highest}; no next number exists"
        ))
    })?;
    if number > 1 && summary.trim().is_empty() {
        return Err(DomainError::InvalidValue {
            field: "summary of changes",
            reason: "say what changed since the last revision".into(),
        });
    }
    let revision = Revision {
        id: new_record_id(),
        number,
        colour: Colour::for_revision(number),
        published_at: at_ms,
        published_by: by.member_id.clone(),
        summary: summary.to_owned(),
        sheet,
    };
    transact(published, by, at_ms, |tx| {
        let len = tx.length(&list);
        reconcile_insert(tx, list.clone(), len, &revision)?;
        Ok(())
    })?;
    Ok(revision)
}

/// A revision's own fields, read before its sheet.
#[derive(Hydrate)]
struct RevisionMeta {
    #[autosurgeon(hydrate = "util::text")]
    id: String,
    number: i64,
    #[autosurgeon(hydrate = "util::text")]
    colour: Colour,
    published_at: i64,
    #[autosurgeon(hydrate = "util::text")]
    published_by: String,
    #[autosurgeon(hydrate = "util::text")]
    summary: String,
}

/// All revisions, oldest first. Two coordinators publishing offline at once can both make
/// "revision n"; ordering by (number, time, id) still gives every replica the same latest.
///
/// Read as far as possible: a revision whose own fields (number, colour, ...) or whose
/// sheet cannot be read at all is left out; inside a readable revision a row or section that
/// cannot be read is left out. Both are listed in `unreadable`, the latter with the
/// revision named in the reason. Errs only when the document is not an initialised
/// published sheet.
pub fn read_revisions(doc: &Automerge) -> Result<Listing<Revision>, DomainError> {
    let parts = read_revision_parts(doc)?;
    let mut out = Listing {
        items: Vec::with_capacity(parts.items.len()),
        unreadable: parts.unreadable,
    };
    for rev in parts.items {
        out.items.push(rev.value);
        out.unreadable.extend(rev.unreadable);
    }
    Ok(out)
}

/// [`read_revisions`] keeping apart what was left out of each readable revision (in its
/// `unreadable`) and the revisions that could not be read at all (in the listing's).
pub fn read_revision_parts(doc: &Automerge) -> Result<Listing<Partial<Revision>>, DomainError> {
    let Some(list) = get_list(doc, &ROOT, "revisions") else {
        return Err(DomainError::NotInitialised("a published call sheet"));
    };
    let mut revisions = Vec::new();
    let mut unreadable = Vec::new();
    for i in 0..doc.length(&list) {
        let elem = match doc.get(&list, i) {
            Ok(Some((automerge::Value::Object(ObjType::Map), elem))) => Some(elem),
            _ => None,
        };
        let id = elem
            .as_ref()
            .and_then(|e| get_text(doc, e, "id"))
            .unwrap_or_else(|| format!("revisions[{i}]"));
        let meta: Result<RevisionMeta, DomainError> = util::hydrate_at(doc, &list, i);
        let sheet = elem.as_ref().and_then(|e| get_map(doc, e, "sheet"));
        match (meta, sheet) {
            (Ok(m), Some(sheet)) => {
                let context = format!("revision {} ({:?}): ", m.number, m.colour);
                let mut rows = Vec::new();
                let sheet = read_sheet_lenient(doc, &sheet, &context, &mut rows);
                let rev = Revision {
                    id: m.id,
                    number: m.number,
                    colour: m.colour,
                    published_at: m.published_at,
                    published_by: m.published_by,
                    summary: m.summary,
                    sheet,
                };
                revisions.push(Partial {
                    value: rev,
                    unreadable: rows,
                });
            }
            (Err(e), _) => unreadable.push(Unreadable {
                id,
                what: "call sheet revision",
                why: util::why(&e),
            }),
            (Ok(_), None) => unreadable.push(Unreadable {
                id,
                what: "call sheet revision",
                why: "it has no `sheet` map".into(),
            }),
        }
    }
    revisions.sort_by(|a, b| {
        let (a, b) = (&a.value, &b.value);
        (a.number, a.published_at, &a.id).cmp(&(b.number, b.published_at, &b.id))
    });
    Ok(Listing {
        items: revisions,
        unreadable,
    })
}

/// The latest readable revision (see [`read_revisions`] for what may have been left out).
pub fn latest_revision(doc: &Automerge) -> Result<Revision, DomainError> {
    Ok(latest_revision_partial(doc)?.value)
}

/// The latest readable revision, with the rows left out of it and the revisions that could
/// not be read at all (one of which may be newer): what a phone shows and warns about.
pub fn latest_revision_partial(doc: &Automerge) -> Result<Partial<Revision>, DomainError> {
    let Listing {
        items: mut revisions,
        mut unreadable,
    } = read_revision_parts(doc)?;
    let Some(Partial {
        value,
        unreadable: rows,
    }) = revisions.pop()
    else {
        return Err(match unreadable.first() {
            None => DomainError::NotPublished,
            Some(u) => DomainError::Corrupt(format!(
                "no published revision can be read ({} {}: {})",
                u.what, u.id, u.why
            )),
        });
    };
    unreadable.extend(rows);
    Ok(Partial { value, unreadable })
}

/// Where a person's call time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallSource {
    /// A row for this member.
    Personal,
    /// Their department's row.
    Department,
    /// No row applies: general crew call.
    General,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallTime {
    /// Minutes after midnight of the shoot day.
    pub minutes: i64,
    pub source: CallSource,
    pub revision: i64,
    pub colour: Colour,
}

/// A person's call time on the latest published revision: their own row, else their
/// department's row (one without a member), else general call.
pub fn call_time_for(
    doc: &Automerge,
    member_id: &str,
    department: Option<&str>,
) -> Result<CallTime, DomainError> {
    call_time_on(&latest_revision(doc)?, member_id, department)
}

/// [`call_time_for`] on a revision already read.
pub fn call_time_on(
    rev: &Revision,
    member_id: &str,
    department: Option<&str>,
) -> Result<CallTime, DomainError> {
    let sheet = &rev.sheet;
    let personal = sheet
        .crew_calls
        .iter()
        .find(|c| c.member_id.as_deref() == Some(member_id));
    let dept = department.and_then(|d| {
        sheet
            .crew_calls
            .iter()
            .find(|c| c.member_id.is_none() && c.department.eq_ignore_ascii_case(d))
    });
    let (minutes, source) = match (personal, dept) {
        (Some(c), _) => (sheet.resolve(&c.call), CallSource::Personal),
        (None, Some(c)) => (sheet.resolve(&c.call), CallSource::Department),
        (None, None) => (sheet.times.general_call, CallSource::General),
    };
    let minutes = minutes.ok_or_else(|| DomainError::InvalidValue {
        field: "general call",
        reason: "the published sheet has no general call, so offset calls have no time; publish a revision with one".into(),
    })?;
    Ok(CallTime {
        minutes,
        source,
        revision: rev.number,
        colour: rev.colour,
    })
}
