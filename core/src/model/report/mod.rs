//! The daily production report: one document per shoot day holding the AD's `draft` and
//! its published, frozen `revisions` (numbered 1, 2, …), like a call sheet's draft and
//! published documents but in one document, since the same coordinators write both.
//!
//! Layout: root `day` (`YYYY-MM-DD`), `draft` (a [`ReportContent`], written with
//! autosurgeon so a save touches only the fields that changed) and `revisions`, a list of
//! [`ReportRevision`]s, each a full frozen copy of the content. All three are created once,
//! by [`init_report`].
//!
//! Times are instants (ms since 1970), not minutes of the shoot day: the report records
//! when things happened, which a reader in any zone must see the same; the dashboard shows
//! and takes them in the production's zone. Page counts are in eighths, as on the call
//! sheet.
//!
//! [`draft_from`] drafts the report from what setlink already knows (the call sheet's
//! times and scenes, the board's runs, the background tally, the gear still out), and
//! [`redraft`] lays a fresh draft under what the AD already typed.
//!
//! Roles: coordinators write and publish; the office reads (see `access.rs`).

use autosurgeon::{Hydrate, Reconcile};

use super::callsheet::CallSheet;
use super::production::unique;
use super::util::{self, check_day, check_len, check_required, check_time, MAX_SHORT};
use super::DomainError;

mod doc;

pub use doc::{
    init_report, latest_revision, publish, read_draft, read_draft_strict, read_revisions,
    save_and_publish, save_draft, ReportRevision,
};

/// Longest incidents or notes text, in characters: a long day's account, well within one
/// printed page.
pub const MAX_REPORT_TEXT: usize = 20_000;
/// Most rows in one list (scenes, background lines, gear lines, meals) a report holds.
pub const MAX_ROWS: usize = 500;
/// Longest a shoot day runs from crew call to the last person out: 48 hours, as call
/// sheets allow times up to 48:00.
const MAX_DAY_MS: i64 = 48 * 3_600_000;
/// Largest count of runs, background or gear a report takes; anything above is a typo.
const MAX_COUNT: i64 = 100_000;

/// How much of a scheduled scene was shot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum Shot {
    #[autosurgeon(rename = "shot")]
    Shot,
    #[autosurgeon(rename = "part_shot")]
    PartShot,
    #[default]
    #[autosurgeon(rename = "not_shot")]
    NotShot,
}

impl Shot {
    pub const ALL: [Shot; 3] = [Shot::Shot, Shot::PartShot, Shot::NotShot];

    /// The stored name, also the dashboard form's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Shot::Shot => "shot",
            Shot::PartShot => "part_shot",
            Shot::NotShot => "not_shot",
        }
    }

    /// What the report prints.
    pub fn label(self) -> &'static str {
        match self {
            Shot::Shot => "Shot",
            Shot::PartShot => "Part shot",
            Shot::NotShot => "Not shot",
        }
    }

    pub fn parse(s: &str) -> Option<Shot> {
        Shot::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct ReportMeal {
    #[autosurgeon(hydrate = "util::text")]
    pub label: String,
    pub at: i64,
}

/// The day's times, each an instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct ReportTimes {
    pub crew_call: Option<i64>,
    pub first_shot: Option<i64>,
    pub meals: Vec<ReportMeal>,
    pub camera_wrap: Option<i64>,
    pub last_out: Option<i64>,
}

/// A scheduled scene and how much of it was shot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct ReportScene {
    /// The call sheet scene's id, so a redraft finds what the AD marked.
    #[key]
    #[autosurgeon(hydrate = "util::text")]
    pub id: String,
    #[autosurgeon(hydrate = "util::text")]
    pub number: String,
    #[autosurgeon(hydrate = "util::text")]
    pub set: String,
    pub pages_eighths: i64,
    #[autosurgeon(hydrate = "util::text")]
    pub status: Shot,
    /// Shot: all the pages; not shot: none; part shot: what the AD says.
    pub pages_shot_eighths: i64,
}

/// A background group: how many were expected and how many were used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct BackgroundLine {
    #[autosurgeon(hydrate = "util::text")]
    pub description: String,
    pub expected: i64,
    pub used: i64,
}

/// Gear not returned at wrap: what, and how many.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct GearOutLine {
    #[autosurgeon(hydrate = "util::text")]
    pub what: String,
    pub count: i64,
}

/// Everything a production report says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct ReportContent {
    /// The shoot day, `YYYY-MM-DD`: always the document's day.
    #[autosurgeon(hydrate = "util::text")]
    pub day: String,
    #[autosurgeon(hydrate = "util::text")]
    pub production_title: String,
    pub day_number: Option<i64>,
    pub total_days: Option<i64>,
    pub times: ReportTimes,
    pub scenes: Vec<ReportScene>,
    pub background: Vec<BackgroundLine>,
    pub runs_completed: i64,
    pub runs_not_completed: i64,
    pub gear_out: Vec<GearOutLine>,
    /// Accidents, injuries, damage, delays: typed by the AD.
    #[autosurgeon(hydrate = "util::text")]
    pub incidents: String,
    #[autosurgeon(hydrate = "util::text")]
    pub notes: String,
}

fn out_of_range(field: &'static str, reason: String) -> DomainError {
    DomainError::OutOfRange { field, reason }
}

fn check_count(field: &'static str, n: i64, min: i64) -> Result<(), DomainError> {
    if !(min..=MAX_COUNT).contains(&n) {
        return Err(out_of_range(
            field,
            format!("{n} is not between {min} and {MAX_COUNT}"),
        ));
    }
    Ok(())
}

fn check_rows(field: &'static str, n: usize) -> Result<(), DomainError> {
    if n > MAX_ROWS {
        return Err(out_of_range(
            field,
            format!("{n} lines is more than the {MAX_ROWS} a report holds"),
        ));
    }
    Ok(())
}

impl ReportContent {
    /// An empty report for `day`.
    pub fn blank(day: &str) -> Self {
        ReportContent {
            day: day.to_owned(),
            ..Default::default()
        }
    }

    /// Pages scheduled, in eighths (saturating: a synced report may hold anything).
    pub fn scheduled_eighths(&self) -> i64 {
        self.scenes
            .iter()
            .fold(0i64, |a, s| a.saturating_add(s.pages_eighths))
    }

    /// Pages shot, in eighths.
    pub fn shot_eighths(&self) -> i64 {
        self.scenes
            .iter()
            .fold(0i64, |a, s| a.saturating_add(s.pages_shot_eighths))
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        check_day("report day", &self.day)?;
        check_len("production title", &self.production_title, MAX_SHORT)?;
        match (self.day_number, self.total_days) {
            (Some(x), Some(y)) if x < 1 || y < 1 || x > y => {
                return Err(out_of_range(
                    "day number",
                    format!("day {x} of {y} is not possible"),
                ))
            }
            (Some(x), _) | (None, Some(x)) if x < 1 => {
                return Err(out_of_range(
                    "day number",
                    format!("{x} is not a day number"),
                ))
            }
            _ => {}
        }
        self.validate_times()?;

        check_rows("scenes", self.scenes.len())?;
        for s in &self.scenes {
            check_required("scene id", &s.id)?;
            check_required("scene number", &s.number)?;
            check_len("scene set", &s.set, MAX_SHORT)?;
            if !(0..=800).contains(&s.pages_eighths) {
                return Err(out_of_range(
                    "scene pages",
                    format!("{} eighths is not between 0 and 100 pages", s.pages_eighths),
                ));
            }
            let shot = s.pages_shot_eighths;
            let ok = match s.status {
                Shot::Shot => shot == s.pages_eighths,
                Shot::NotShot => shot == 0,
                Shot::PartShot => (0..=s.pages_eighths).contains(&shot),
            };
            if !ok {
                return Err(out_of_range(
                    "pages shot",
                    format!(
                        "scene {}: {shot} eighths shot does not fit `{}` of {} eighths",
                        s.number,
                        s.status.label(),
                        s.pages_eighths
                    ),
                ));
            }
        }
        unique("scene ids", self.scenes.iter().map(|s| s.id.as_str()))?;

        check_rows("background", self.background.len())?;
        for b in &self.background {
            check_required("background description", &b.description)?;
            check_count("background expected", b.expected, 0)?;
            check_count("background used", b.used, 0)?;
        }
        check_count("runs completed", self.runs_completed, 0)?;
        check_count("runs not completed", self.runs_not_completed, 0)?;
        check_rows("gear still out", self.gear_out.len())?;
        for g in &self.gear_out {
            check_required("gear still out", &g.what)?;
            check_count("gear still out count", g.count, 1)?;
        }
        check_len("incidents", &self.incidents, MAX_REPORT_TEXT)?;
        check_len("notes", &self.notes, MAX_REPORT_TEXT)
    }

    /// Each time is a sane instant, none before crew call or more than 48 hours after it,
    /// and the last person leaves after camera wrap.
    fn validate_times(&self) -> Result<(), DomainError> {
        let t = &self.times;
        check_rows("meals", t.meals.len())?;
        let mut all: Vec<(&'static str, i64)> = [
            ("crew call", t.crew_call),
            ("first shot", t.first_shot),
            ("camera wrap", t.camera_wrap),
            ("last person out", t.last_out),
        ]
        .into_iter()
        .filter_map(|(f, v)| v.map(|v| (f, v)))
        .collect();
        for m in &t.meals {
            check_required("meal", &m.label)?;
            all.push(("meal time", m.at));
        }
        for (field, v) in &all {
            check_time(field, *v)?;
        }
        if let Some(call) = t.crew_call {
            for (field, v) in all.iter().skip(1) {
                if *v < call || v - call > MAX_DAY_MS {
                    return Err(out_of_range(
                        field,
                        "must be after crew call and within 48 hours of it".into(),
                    ));
                }
            }
        }
        if let (Some(wrap), Some(out)) = (t.camera_wrap, t.last_out) {
            if out < wrap {
                return Err(out_of_range(
                    "last person out",
                    "must be at or after camera wrap".into(),
                ));
            }
        }
        Ok(())
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX).min(MAX_COUNT)
}

/// A report drafted from what setlink knows about the day: the call sheet's day number,
/// times (crew call from general call, first shot from shooting call, its meals, camera
/// wrap from estimated wrap) and scenes (all not shot yet), the board's runs (`runs_done`
/// completed, `runs_open` not), the background tally (the sheet's background rows, none
/// used, when there is no tally) and the gear still out (`(what, how many)`).
///
/// `day_of` turns a minute of the shoot day (call sheet times, up to 48:00) into an
/// instant in the production's zone; a time it cannot place is left empty. Pure: the
/// AD's own text and marks come back with [`redraft`].
pub fn draft_from(
    sheet: &CallSheet,
    day_of: impl Fn(i64) -> Option<i64>,
    runs_done: usize,
    runs_open: usize,
    background: &[BackgroundLine],
    gear_out: &[(String, usize)],
) -> ReportContent {
    let h = &sheet.header;
    let st = &sheet.times;
    let at = |m: Option<i64>| m.and_then(&day_of);
    let background = if background.is_empty() {
        sheet
            .background
            .iter()
            .map(|b| BackgroundLine {
                description: b.description.clone(),
                expected: b.count.clamp(0, MAX_COUNT),
                used: 0,
            })
            .collect()
    } else {
        background.to_vec()
    };
    ReportContent {
        day: h.date.clone(),
        production_title: h.production_title.clone(),
        day_number: h.day_number,
        total_days: h.total_days,
        times: ReportTimes {
            crew_call: at(st.general_call),
            first_shot: at(st.shooting_call),
            meals: st
                .meals
                .iter()
                .filter_map(|m| {
                    day_of(m.at).map(|at| ReportMeal {
                        label: m.label.clone(),
                        at,
                    })
                })
                .collect(),
            camera_wrap: at(st.estimated_wrap),
            last_out: None,
        },
        scenes: sheet
            .scenes
            .iter()
            .map(|s| ReportScene {
                id: s.id.clone(),
                number: s.number.clone(),
                set: s.set.clone(),
                pages_eighths: s.pages_eighths,
                status: Shot::NotShot,
                pages_shot_eighths: 0,
            })
            .collect(),
        background,
        runs_completed: count(runs_done),
        runs_not_completed: count(runs_open),
        gear_out: gear_out
            .iter()
            .map(|(what, n)| GearOutLine {
                what: what.clone(),
                count: count(*n),
            })
            .collect(),
        incidents: String::new(),
        notes: String::new(),
    }
}

/// `fresh` (from [`draft_from`]) under what the AD already put in `previous`: the
/// incidents and notes, every time already set (the AD types the real ones over the
/// sheet's plan), the meals when there are any, and each scene's mark (matched by the
/// call sheet scene id; a scene marked shot or part shot that is no longer on the sheet is
/// kept, since it was shot). Counts (runs, background, gear) are the fresh ones: they are
/// what the redraft is for.
pub fn redraft(previous: &ReportContent, fresh: ReportContent) -> ReportContent {
    let p = &previous.times;
    let mut out = fresh;
    let t = &mut out.times;
    t.crew_call = p.crew_call.or(t.crew_call);
    t.first_shot = p.first_shot.or(t.first_shot);
    t.camera_wrap = p.camera_wrap.or(t.camera_wrap);
    t.last_out = p.last_out.or(t.last_out);
    if !p.meals.is_empty() {
        t.meals = p.meals.clone();
    }
    for s in &mut out.scenes {
        if let Some(old) = previous.scenes.iter().find(|o| o.id == s.id) {
            s.status = old.status;
            s.pages_shot_eighths = match old.status {
                Shot::Shot => s.pages_eighths,
                Shot::NotShot => 0,
                Shot::PartShot => old.pages_shot_eighths.clamp(0, s.pages_eighths),
            };
        }
    }
    let gone: Vec<ReportScene> = previous
        .scenes
        .iter()
        .filter(|o| o.status != Shot::NotShot && !out.scenes.iter().any(|s| s.id == o.id))
        .cloned()
        .collect();
    out.scenes.extend(gone);
    out.incidents = previous.incidents.clone();
    out.notes = previous.notes.clone();
    out
}
